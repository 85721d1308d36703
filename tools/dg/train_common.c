/* train_common.c - training options, training with progress and Ctrl-C,
 * saving, class names and evaluation of a model, shared by the train,
 * transfer, evaluate and demo commands. */
#include "train_common.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Training options                                                         */
/* ------------------------------------------------------------------------ */

static const cli_named optimizers[] = {
    {"adam", DG_OPTIMIZER_ADAM},
    {"sgd", DG_OPTIMIZER_SGD},
    {NULL, 0},
};

static const cli_named schedules[] = {
    {"constant", DG_SCHEDULE_CONSTANT},
    {"step", DG_SCHEDULE_STEP},
    {"cosine", DG_SCHEDULE_COSINE},
    {NULL, 0},
};

/* The numeric TRAIN_OPTIONS, each a field of dg_train_opts. */
#define TRAIN_FIELD(field, name, kind, min, max)                            \
    CLI_FIELD(dg_train_opts, field, name, kind, min, max)
static const cli_field number_options[] = {
    TRAIN_FIELD(epochs, "epochs", CLI_U32, 1, 100000),
    TRAIN_FIELD(batch_size, "batch", CLI_U32, 1, 65536),
    TRAIN_FIELD(step_epochs, "step-epochs", CLI_U32, 1, 100000),
    TRAIN_FIELD(seed, "seed", CLI_U64, 0, INT32_MAX),
    TRAIN_FIELD(learning_rate, "lr", CLI_F32, 1e-9, 10),
    TRAIN_FIELD(momentum, "momentum", CLI_F32, 0, 0.999),
    TRAIN_FIELD(weight_decay, "weight-decay", CLI_F32, 0, 1),
    TRAIN_FIELD(step_gamma, "step-gamma", CLI_F32, 1e-6, 1),
};

/* Fills o from the TRAIN_OPTIONS; the library's defaults stand for what
 * neither the command line nor `defaults` gives. */
static int read_train_options(const cli_args *args,
                              const train_defaults *defaults,
                              dg_train_opts *o)
{
    dg_status st = dg_train_opts_init(o, sizeof *o);
    if (st != DG_OK) return cli_fail(st, "preparing the training options");
    o->epochs = defaults->epochs;
    o->learning_rate = (float)defaults->learning_rate;
    int rc = cli_read_fields(args, number_options,
                             sizeof number_options / sizeof *number_options,
                             o);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "optimizer", optimizers, "adam",
                        &o->optimizer);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "schedule", schedules,
                        cli_name_of(schedules, defaults->schedule),
                        &o->schedule);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Training                                                                 */
/* ------------------------------------------------------------------------ */

int train_progress_report(void *user, const char *stage, uint64_t done,
                          uint64_t total, double loss)
{
    (void)stage;
    train_progress *p = user;
    uint64_t steps_per_epoch = total / p->epochs;
    uint64_t epoch = (done - 1) / steps_per_epoch + 1;
    if (!p->started) {
        p->started = true;
        p->first_step = done - 1;
        if (p->first_step > 0) {
            progress_clear();
            fprintf(stderr, "resuming from %s after epoch %" PRIu64 " of %u\n",
                    p->checkpoint, epoch - 1, p->epochs);
        }
        /* The bar counts this run's steps, so its rate and ETA hold. */
        progress_start(p->label, total - p->first_step);
    }
    snprintf(p->label, sizeof p->label, "ep %" PRIu64 "/%u loss %.3f", epoch,
             p->epochs, loss);
    progress_update(done - p->first_step);
    return cli_interrupted();
}

int train_interrupted(const char *checkpoint)
{
    if (!checkpoint) return cli_error("interrupted");
    return cli_error("interrupted; %s keeps every finished epoch: run the "
                     "same command again to resume",
                     checkpoint);
}

/* What a training call did. */
typedef struct train_outcome {
    dg_train_report report;
    uint32_t samples;  /* in the training set */
    double seconds;    /* spent by this run */
} train_outcome;

/* Trains m with a progress bar and writes it to path, removing the
 * checkpoint (dg_model_train_file).  Ctrl-C stops at the next step,
 * keeping the last epoch checkpoint so the same command resumes.  Reports
 * failures and interruption. */
static int train_run(dg_model *m, const dg_dataset *ds,
                     const dg_train_opts *o, const char *path,
                     train_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->report.struct_size = sizeof out->report;
    dg_status st = dg_dataset_count(ds, &out->samples);
    if (st != DG_OK) return cli_fail(st, "reading the training data");

    train_progress progress = {.epochs = o->epochs,
                               .checkpoint = o->checkpoint_path};
    dg_train_opts opts = *o;
    opts.progress = train_progress_report;
    opts.progress_user = &progress;
    catch_interrupts();
    double start = monotonic_seconds();
    st = cli_interrupted() ? DG_E_CANCELLED
                             : dg_model_train_file(m, ds, &opts, path,
                                                   &out->report);
    out->seconds = monotonic_seconds() - start;
    if (progress.started) progress_finish();
    if (st == DG_E_CANCELLED) return train_interrupted(o->checkpoint_path);
    if (st != DG_OK) return cli_fail(st, "training %s", path);
    return CLI_EXIT_OK;
}

/* Samples per second trained by this run. */
static double train_images_per_second(const train_outcome *t)
{
    double images = (double)t->report.epochs_run * t->samples;
    return t->seconds > 0 ? images / t->seconds : 0;
}

char *default_arch(uint32_t n_classes)
{
    const char *teacher = DG_ARCH_FMNIST_TEACHER;
    int kept = (int)(strrchr(teacher, ',') - teacher);
    size_t size = (size_t)kept + 16;
    char *arch = malloc(size);
    if (arch) snprintf(arch, size, "%.*s,fc%u", kept, teacher, n_classes);
    return arch;
}

/* Splits "a,b,c" into n_classes names and sets them. */
static int set_names_from_text(dg_model *m, const char *text,
                               uint32_t n_classes)
{
    char *copy = strdup(text);
    const char **names = calloc(n_classes + 1, sizeof *names);
    if (!copy || !names) {
        free(copy);
        free(names);
        return cli_error("out of memory");
    }
    uint32_t n = 0;
    for (char *p = copy, *next; p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = '\0';
        if (n <= n_classes) names[n] = p;
        n++;
    }
    int rc = CLI_EXIT_OK;
    if (n != n_classes) {
        rc = cli_usage_error("--class-names gives %u names for %u classes",
                             n, n_classes);
    } else {
        dg_status st = dg_model_set_class_names(m, names, n_classes);
        if (st != DG_OK) rc = cli_fail(st, "naming the classes");
    }
    free(copy);
    free(names);
    return rc;
}

int name_classes(dg_model *m, const class_data *d, const char *names_text)
{
    uint32_t n_outputs;
    dg_status st = dg_model_output_size(m, &n_outputs);
    if (st != DG_OK) return cli_fail(st, "reading the model");
    if (names_text) return set_names_from_text(m, names_text, n_outputs);
    if (d->n_classes != n_outputs) return CLI_EXIT_OK;
    const char **names = calloc(n_outputs, sizeof *names);
    if (!names) return cli_error("out of memory");
    for (uint32_t k = 0; st == DG_OK && k < n_outputs; k++)
        st = dg_dataset_class_name(d->samples, k, &names[k]);
    /* Data without names (IDX files) leaves the model's own. */
    if (st == DG_OK && names[0])
        st = dg_model_set_class_names(m, names, n_outputs);
    free(names);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "naming the classes");
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                               */
/* ------------------------------------------------------------------------ */

int evaluate_model(const dg_model *m, const dg_dataset *ds, const char *what,
                   evaluation *out)
{
    memset(out, 0, sizeof *out);
    dg_status st = dg_model_output_size(m, &out->n_classes);
    if (st != DG_OK) return cli_fail(st, "reading the model");
    size_t cells = (size_t)out->n_classes * out->n_classes;
    out->confusion = calloc(cells, sizeof *out->confusion);
    if (!out->confusion) return cli_error("out of memory");
    st = dg_model_evaluate(m, ds, out->confusion, cells, &out->correct,
                           &out->total);
    if (st != DG_OK) return cli_fail(st, "evaluating on %s", what);
    return CLI_EXIT_OK;
}

static double evaluation_accuracy(const evaluation *e)
{
    return e->total ? (double)e->correct / e->total : NAN;
}

void evaluation_free(evaluation *e)
{
    free(e->confusion);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------------ */
/* dg train and dg transfer                                                 */
/* ------------------------------------------------------------------------ */

int train_command_data(const cli_args *args, const uint32_t shape[3],
                       class_data *out)
{
    const char *spec;
    long per_class, skip;
    int rc = required_value(args, "data", &spec);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "per-class", 0, 0, INT32_MAX, &per_class);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "skip-per-class", 0, 0, INT32_MAX, &skip);
    if (rc == CLI_EXIT_OK)
        rc = data_open(spec, shape, cli_value(args, "classes"),
                       (uint32_t)skip, (uint32_t)per_class, out);
    return rc;
}

int train_command_read(const cli_args *args, const train_defaults *defaults,
                       train_command *tc)
{
    int rc = read_train_options(args, defaults, &tc->opts);
    if (rc == CLI_EXIT_OK) rc = required_value(args, "output", &tc->output);
    if (rc != CLI_EXIT_OK) return rc;
    const char *checkpoint = cli_value(args, "checkpoint");
    int len = checkpoint ? snprintf(tc->checkpoint, sizeof tc->checkpoint,
                                    "%s", checkpoint)
                         : snprintf(tc->checkpoint, sizeof tc->checkpoint,
                                    "%s.ckpt", tc->output);
    if (len < 0 || (size_t)len >= sizeof tc->checkpoint)
        return cli_usage_error("the checkpoint path is too long");
    tc->opts.checkpoint_path = tc->checkpoint[0] ? tc->checkpoint : NULL;
    return CLI_EXIT_OK;
}

/* --test, selected like the training data but without a per-class cap;
 * out->samples stays NULL without --test. */
static int load_test_data(const cli_args *args, const dg_model *m,
                          class_data *out)
{
    memset(out, 0, sizeof *out);
    const char *spec = cli_value(args, "test");
    if (!spec) return CLI_EXIT_OK;
    uint32_t shape[3];
    dg_status st = dg_model_input_shape(m, &shape[0], &shape[1], &shape[2]);
    if (st != DG_OK) return cli_fail(st, "reading the model");
    return data_open(spec, shape, cli_value(args, "classes"), 0, 0, out);
}

static void print_summary_json(const train_command *tc,
                               const class_data *data,
                               const train_outcome *t, const evaluation *test)
{
    bool trained = t->report.epochs_run > 0;
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "model", tc->output);
    json_put_int(&w, "samples", t->samples);
    json_put_int(&w, "classes", data->n_classes);
    json_put_int(&w, "epochs", tc->opts.epochs);
    json_put_int(&w, "resumed_epoch", t->report.resumed_epoch);
    json_put_int(&w, "epochs_run", t->report.epochs_run);
    json_put_number(&w, "final_loss", trained ? t->report.last_loss : NAN);
    json_put_number(&w, "train_accuracy",
                    trained ? t->report.last_accuracy : NAN);
    if (!isnan(t->report.last_patch_distance))
        json_put_number(&w, "patch_distance", t->report.last_patch_distance);
    json_put_number(&w, "seconds", t->seconds);
    json_put_number(&w, "images_per_second", train_images_per_second(t));
    if (test) {
        json_put_int(&w, "test_samples", test->total);
        json_put_int(&w, "test_correct", test->correct);
        json_put_number(&w, "test_accuracy", evaluation_accuracy(test));
    }
    json_end_object(&w);
}

static int print_summary_text(const train_command *tc,
                              const class_data *data,
                              const train_outcome *t, const evaluation *test)
{
    const dg_train_report *r = &t->report;
    text_table table;
    table_init(&table, "ll", NULL);
    table_cell(&table, "model");
    table_cell(&table, "%s", tc->output);
    table_cell(&table, "training data");
    table_cell(&table, "%u samples, %u classes", t->samples, data->n_classes);
    table_cell(&table, "epochs");
    if (r->resumed_epoch)
        table_cell(&table, "%u (resumed after %u)", tc->opts.epochs,
                   r->resumed_epoch);
    else
        table_cell(&table, "%u", tc->opts.epochs);
    if (r->epochs_run > 0) {
        table_cell(&table, "final loss");
        table_cell(&table, "%.4f", (double)r->last_loss);
        table_cell(&table, "train accuracy");
        table_cell(&table, "%.2f%%", 100.0 * r->last_accuracy);
    }
    if (r->epochs_run > 0 && !isnan(r->last_patch_distance)) {
        table_cell(&table, "layer-K distance from the Teacher");
        table_cell(&table, "%.2f (mean of the last epoch)",
                   (double)r->last_patch_distance);
    }
    table_cell(&table, "time");
    table_cell(&table, "%.1f s (%.0f images/s)", t->seconds,
               train_images_per_second(t));
    if (test) {
        table_cell(&table, "test accuracy");
        table_cell(&table, "%.2f%% (%u of %u)",
                   100.0 * evaluation_accuracy(test), test->correct,
                   test->total);
    }
    return table_print(&table, stdout, 0);
}

int train_command_finish(const cli_args *args, const train_command *tc,
                         dg_model *m, const class_data *data)
{
    /* Everything that can fail quickly goes before the long training. */
    class_data test_data = {0};
    evaluation test = {0};
    train_outcome outcome;
    const char *test_spec = cli_value(args, "test");
    int rc = name_classes(m, data, cli_value(args, "class-names"));
    if (rc == CLI_EXIT_OK) rc = load_test_data(args, m, &test_data);
    if (rc == CLI_EXIT_OK)
        rc = train_run(m, data->samples, &tc->opts, tc->output, &outcome);
    if (rc == CLI_EXIT_OK && test_spec)
        rc = evaluate_model(m, test_data.samples, test_spec, &test);
    const evaluation *tested = test_spec ? &test : NULL;
    if (rc == CLI_EXIT_OK && cli_flag(args, "json"))
        print_summary_json(tc, data, &outcome, tested);
    else if (rc == CLI_EXIT_OK)
        rc = print_summary_text(tc, data, &outcome, tested);
    evaluation_free(&test);
    data_free(&test_data);
    return rc;
}
