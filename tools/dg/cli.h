/* cli.h - what every dg command shares: the command and option tables,
 * argument parsing, the failure reporter and a progress bar, and the
 * streaming JSON writer and aligned text tables of the library's reports
 * (lib/report/text.h, whose json.c and table.c dg compiles in: they call
 * nothing of the library).  Commands use only this header and the public
 * diffguard.h. */
#ifndef DG_CLI_H
#define DG_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diffguard.h"
#include "text.h"

/* Exit codes: failures of the work itself, and mistakes on the command
 * line. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

/* ------------------------------------------------------------------------ */
/* Commands and options                                                     */
/* ------------------------------------------------------------------------ */

/* One option a command accepts; value == NULL makes it a flag. */
typedef struct cli_option {
    const char *name;  /* long name, without the leading "--" */
    char short_name;   /* 0 for none */
    const char *value; /* placeholder shown in usage, such as "K" */
    const char *help;  /* one line; state the default here */
} cli_option;

/* Options several commands share, so their wording stays the same. */
#define CLI_OPTION_JSON {"json", 0, NULL, "print the result as JSON on stdout"}
#define CLI_OPTION_QUIET {"quiet", 'q', NULL, "do not show progress"}
#define CLI_OPTIONS_END {NULL, 0, NULL, NULL}

/* Enough for any command; the parser aborts on a longer table. */
#define CLI_MAX_OPTIONS 48

typedef struct cli_args cli_args;

/* A command: the table in main.c lists one of these per command file. */
typedef struct cli_command {
    const char *name;
    const char *summary;       /* one line for `dg help` */
    const char *synopsis;      /* positional arguments: "MODEL IMAGE..." */
    const char *description;   /* more text for `--help`, or NULL */
    const cli_option *options; /* ends with CLI_OPTIONS_END */
    int min_args;              /* positional argument count */
    int max_args;              /* -1: no limit */
    int (*run)(const cli_args *args); /* returns a CLI_EXIT_* code */
} cli_command;

/* The parsed command line handed to a command. */
struct cli_args {
    const cli_command *command;
    const char *values[CLI_MAX_OPTIONS]; /* per option: last value given */
    bool present[CLI_MAX_OPTIONS];       /* per option: given at least once */
    char **positional;
    int n_positional;
};

/* Parses argv (argv[0] is the command name) and runs the command, or
 * prints its usage for --help.  Returns the exit code. */
int cli_run(const cli_command *cmd, int argc, char **argv);

/* Flushes stdout; a full disk or a closed pipe turns success `rc` into a
 * reported failure.  Returns the final exit code. */
int cli_check_output(int rc);

/* Prints the usage of one command (options from its table, plus --help). */
void cli_print_usage(const cli_command *cmd, FILE *out);

/* Option accessors; `name` must be in the command's table. */
bool cli_flag(const cli_args *args, const char *name);
const char *cli_value(const cli_args *args, const char *name);

/* Reads an integer or number option, or `fallback` when it is absent,
 * checking min <= value <= max.  Returns CLI_EXIT_OK, or reports a usage
 * error ("--top must be an integer from 1 to 10") and returns
 * CLI_EXIT_USAGE. */
int cli_long(const cli_args *args, const char *name, long fallback, long min,
             long max, long *out);
int cli_double(const cli_args *args, const char *name, double fallback,
               double min, double max, double *out);
/* Reads "a,b,c": 1 to capacity numbers, each passing `valid`, or reports
 * "--NAME must list 1 to CAPACITY EXPECTED".  *n stays 0 when the option
 * is absent. */
int cli_numbers(const cli_args *args, const char *name, const char *expected,
                bool (*valid)(double), double *values, uint32_t capacity,
                uint32_t *n);

/* A required option's value, or a usage error. */
int required_value(const cli_args *args, const char *name,
                   const char **out);

/* The name of a model's class k (< its outputs), or "" without names. */
const char *cli_class_name(const dg_model *m, uint32_t k);

/* Loads a model file, reporting "loading PATH" on failure. */
int cli_load_model(const char *path, dg_model **out);
/* cli_load_model of the required option `name`'s file. */
int cli_load_model_option(const cli_args *args, const char *name,
                          dg_model **out);

/* One spelling of an option's value and the DG_* value it stands for. */
typedef struct cli_named {
    const char *name;
    int32_t value;
} cli_named;

/* Reads an option whose value is one of the names of `table` (ended by a
 * NULL name): absent, *out gets the value of `fallback`, or stays as it is
 * if fallback is NULL.  Else "--NAME must be a, b or c, not ...". */
int cli_choice(const cli_args *args, const char *option,
               const cli_named *table, const char *fallback, int32_t *out);
/* The name of `value` in `table`, or "?". */
const char *cli_name_of(const cli_named *table, int32_t value);
/* A numeric option that sets a field of an options struct, whose value
 * stays the default: commands list theirs in tables. */
typedef enum cli_field_kind { CLI_U32, CLI_U64, CLI_F32 } cli_field_kind;
typedef struct cli_field {
    const char *name; /* the option */
    size_t offset;    /* of the field in the struct */
    cli_field_kind kind;
    double min, max;
} cli_field;

#define CLI_FIELD(type, field, name, kind, min, max)                        \
    {name, offsetof(type, field), kind, min, max}

/* Reads the options of fields[0..n-1] into the struct at `base`, with
 * cli_long's and cli_double's checks and messages. */
int cli_read_fields(const cli_args *args, const cli_field *fields, size_t n,
                    void *base);

/* ------------------------------------------------------------------------ */
/* Data (dg_dataset_open_spec)                                              */
/* ------------------------------------------------------------------------ */

#define DATA_SPEC_FORMS                                                     \
    "fmnist:train, fmnist:test, idx:IMAGES,LABELS or an image folder"

/* --classes, as train, transfer, evaluate, guard and eval take it. */
#define CLASSES_OPTION                                                      \
    {"classes", 'c', "LIST", "keep these classes, relabelled 0, 1, ... in " \
                             "order: 5,6,7 or 5-7 (default all)"}

/* --skip-per-class, as train, transfer and guard build take it. */
#define SKIP_PER_CLASS_OPTION                                               \
    {"skip-per-class", 0, "N", "pass over the first N samples of each "     \
                               "class of --data (default 0): with "         \
                               "--per-class 500, N 500 takes samples "      \
                               "500-999"}

/* A data set and its class count. */
typedef struct class_data {
    dg_dataset *samples;
    uint32_t n_classes;
} class_data;

/* Loads a data spec (DATA_SPEC_FORMS), an image folder converted to
 * channels x height x width = shape[0..2], keeping the classes listed in
 * `classes` ("5,6,7" or "5-9"; NULL: all), relabelled 0, 1, ... in that
 * order, and of each the first `skip` samples passed over, then at most
 * per_class (0: all).  Reports failures: a malformed spec or list as a
 * usage error. */
int data_open(const char *spec, const uint32_t shape[3], const char *classes,
              uint32_t skip, uint32_t per_class, class_data *out);
void data_free(class_data *d);

/* ------------------------------------------------------------------------ */
/* Image files                                                              */
/* ------------------------------------------------------------------------ */

/* Loads image files into a model's input, as dg_image_load_file does, and
 * counts the ones whose size or colour differs from the input: those are
 * converted and resized, which the user should hear about. */
typedef struct image_reader {
    const dg_model *model;
    dg_preprocess input;      /* the model's input shape */
    uint32_t converted;       /* images converted or resized so far */
    const char *first_file;   /* the first of them, and its header */
    dg_image_info first_info;
} image_reader;

void image_reader_init(image_reader *r, const dg_model *model);
/* Reads `path` into out (one input of the model). */
dg_status image_reader_load(image_reader *r, const char *path, float *out,
                            size_t out_len);
/* Warns on stderr, once, when any image was converted or resized. */
void image_reader_warn(const image_reader *r, uint32_t total);

/* ------------------------------------------------------------------------ */
/* Reporting failures (all on stderr, prefixed "dg COMMAND: ")              */
/* ------------------------------------------------------------------------ */

/* A library call failed: "<what>: <dg_strerror>: <dg_last_error_detail>".
 * Call it right after the failing call, before the detail is replaced.
 * Returns CLI_EXIT_FAILURE. */
int cli_fail(dg_status status, const char *what_fmt, ...) TEXT_PRINTF(2, 3);
/* Something worth knowing that does not stop the command. */
void cli_warning(const char *fmt, ...) TEXT_PRINTF(1, 2);
/* Something outside the library failed.  Returns CLI_EXIT_FAILURE. */
int cli_error(const char *fmt, ...) TEXT_PRINTF(1, 2);
/* The command line is wrong; adds a pointer to --help.  Returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) TEXT_PRINTF(1, 2);

/* ------------------------------------------------------------------------ */
/* Text tables and reports                                                  */
/* ------------------------------------------------------------------------ */

/* table_write, reporting a failure.  Returns a CLI_EXIT_* code. */
int table_print(text_table *t, FILE *out, size_t indent);
/* What a report the library formats is of. */
typedef struct cli_report {
    const dg_eval *eval;         /* dg_eval_format_report */
    const dg_scenario *scenario; /* dg_scenario_format_report */
    const dg_guard *guard;       /* dg_guard_format_report, with opts */
    const dg_report_opts *opts;
    const dg_verdict *verdict;   /* dg_verdict_format_report, with model */
    const dg_model *model;       /* dg_model_format_report ... */
    const char *name;            /* ... naming it so (its file) */
    /* With model: dg_model_format_accuracy of this confusion matrix, on
     * the data named data_name. */
    const uint32_t *confusion;
    size_t confusion_len;
    const char *data_name;
} cli_report;

/* The report in `format` (DG_FORMAT_*) into a malloc'd *text.  Reports
 * failures. */
int cli_format_report(const cli_report *r, int32_t format, char **text);
/* The same, printed on stdout. */
int cli_print_report(const cli_report *r, int32_t format);

/* ------------------------------------------------------------------------ */
/* Progress on stderr (progress.c)                                          */
/* ------------------------------------------------------------------------ */

/* On a terminal: one redrawn line with a bar, percentage, count, rate and
 * ETA, at most ten times a second.  Otherwise: a plain line every 10% or
 * 10 s.  Work finished within a second shows nothing.  One at a time. */
void progress_start(const char *label, uint64_t total);
void progress_update(uint64_t done);
void progress_finish(void);
/* Erases the bar before other output; the next update redraws it. */
void progress_clear(void);
/* --quiet turns progress off for the whole run. */
void progress_set_enabled(bool enabled);
/* A dg_progress_fn that draws the bar of the stage it reports; user points
 * to a bool, false until the bar starts.  Ctrl-C (after catch_interrupts)
 * stops the work. */
int progress_callback(void *user, const char *stage, uint64_t done,
                      uint64_t total, double metric);

/* Installs the SIGINT handler behind cli_interrupted(). */
void catch_interrupts(void);
/* Whether Ctrl-C was pressed, for work between library calls. */
bool cli_interrupted(void);

/* A monotonic clock for timings, in seconds. */
double monotonic_seconds(void);

#endif
