/* train_common.h - what train, transfer, patch, accuracy and demo share:
 * the training option table, training with a progress bar that Ctrl-C
 * stops cleanly, saving, class names and evaluation of a model. */
#ifndef DG_TRAIN_COMMON_H
#define DG_TRAIN_COMMON_H

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* Training                                                                 */
/* ------------------------------------------------------------------------ */

/* A macro's value as a string, for help texts. */
#define TRAIN_TEXT_(x) #x
#define TRAIN_TEXT(x) TRAIN_TEXT_(x)

/* The options of dg_train_opts, shared by train, transfer and patch, with
 * the command's defaults (the library's recipes, DG_TRAIN_*): EPOCHS and
 * LR are numbers, SCHEDULE the name of the recipe's schedule. */
#define TRAIN_OPTIONS(EPOCHS, LR, SCHEDULE)                                 \
    {"epochs", 'e', "E", "passes over the training data (default "          \
                         TRAIN_TEXT(EPOCHS) ")"},                           \
    {"batch", 'b', "B", "samples per step (default 64)"},                   \
    {"lr", 0, "X", "learning rate (default " TRAIN_TEXT(LR) ")"},           \
    {"optimizer", 0, "NAME", "adam (weight decay decoupled) or sgd "        \
                             "(default adam)"},                             \
    {"momentum", 0, "X", "SGD momentum (default 0.9)"},                     \
    {"weight-decay", 0, "X", "weight decay (default 0)"},                   \
    {"schedule", 0, "NAME", "learning rate: constant, step or cosine "      \
                            "(default " SCHEDULE ")"},                      \
    {"step-epochs", 0, "N", "step schedule: epochs per decay (default 1)"}, \
    {"step-gamma", 0, "X", "step schedule: factor per decay (default "      \
                           "0.5)"},                                         \
    {"seed", 0, "S", "initial weights and shuffling (default 1)"},          \
    {"checkpoint", 0, "PATH", "written every epoch, resumed from, removed " \
                              "after success (default MODEL.ckpt; empty: "  \
                              "none)"}

/* The defaults TRAIN_OPTIONS names, for reading the options. */
typedef struct train_defaults {
    uint32_t epochs;
    double learning_rate;
    int32_t schedule; /* DG_SCHEDULE_* */
} train_defaults;

/* The progress bar of one training call: "ep 2/4 loss 0.321", counting
 * this run's steps; a resumed checkpoint is said first.  Zero it, set
 * epochs and checkpoint, and pass it as the dg_progress_fn's user. */
typedef struct train_progress {
    uint32_t epochs;
    const char *checkpoint; /* NULL: none */
    bool started;
    uint64_t first_step; /* steps a resumed checkpoint had already done */
    char label[32];      /* redrawn with the epoch and the running loss */
} train_progress;
int train_progress_report(void *user, const char *stage, uint64_t done,
                          uint64_t total, double loss);
/* Reports a training stopped by Ctrl-C, and what keeps its epochs. */
int train_interrupted(const char *checkpoint);

/* The default Teacher architecture with its last layer sized for
 * n_classes outputs.  Returns a malloc'ed string or NULL. */
char *default_arch(uint32_t n_classes);

/* Names the model's classes: the comma-separated `names_text` if given
 * (--class-names), else the data set's names when they fit.  Reports
 * failures. */
int name_classes(dg_model *m, const class_data *d, const char *names_text);

/* ------------------------------------------------------------------------ */
/* Evaluation                                                               */
/* ------------------------------------------------------------------------ */

typedef struct evaluation {
    uint32_t n_classes;  /* the model's outputs */
    uint32_t correct, total;
    uint32_t *confusion; /* [true * n_classes + predicted] */
} evaluation;

/* Classifies every sample of ds.  Reports failures, naming `what`. */
int evaluate_model(const dg_model *m, const dg_dataset *ds, const char *what,
                   evaluation *out);
void evaluation_free(evaluation *e);

/* ------------------------------------------------------------------------ */
/* dg train and dg transfer                                                 */
/* ------------------------------------------------------------------------ */

/* Options both commands share besides TRAIN_OPTIONS. */
#define TRAIN_COMMAND_OPTIONS                                               \
    {"data", 'd', "SPEC", "training data: " DATA_SPEC_FORMS},              \
    CLASSES_OPTION,                                                         \
    {"output", 'o', "MODEL", "the model file to write"},                    \
    {"per-class", 0, "N", "at most N training samples per class (default " \
                          "all)"},                                          \
    SKIP_PER_CLASS_OPTION,                                                  \
    {"test", 0, "SPEC", "evaluate on this data at the end (same --classes)"},\
    {"class-names", 0, "A,B,...", "name the classes (default: the data's "  \
                                  "names)"}

/* The settings of dg train and dg transfer, read before any long work. */
typedef struct train_command {
    dg_train_opts opts;     /* checkpoint_path points into `checkpoint` */
    const char *output;     /* --output */
    char checkpoint[4096];  /* --checkpoint or OUTPUT.ckpt */
} train_command;

/* Reads --output, --checkpoint and the TRAIN_OPTIONS. */
int train_command_read(const cli_args *args, const train_defaults *defaults,
                       train_command *tc);

/* Loads --data with folder images converted to `shape` and applies
 * --classes, --skip-per-class and --per-class. */
int train_command_data(const cli_args *args, const uint32_t shape[3],
                       class_data *out);

/* The rest of dg train and dg transfer once the model m is built: names
 * its classes, trains it on `data`, saves --output, evaluates --test and
 * prints the summary (--json). */
int train_command_finish(const cli_args *args, const train_command *tc,
                         dg_model *m, const class_data *data);

#endif
