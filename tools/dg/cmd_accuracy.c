/* cmd_accuracy.c - `dg accuracy MODEL --data SPEC`: accuracy overall and
 * per class, and the confusion matrix.  `dg evaluate` is its former name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

/* Confusion columns per text table: one column is the row heading. */
enum { MATRIX_COLUMNS = TABLE_MAX_COLUMNS - 1 };

typedef struct accuracy_report {
    const char *model_path, *data_spec;
    const dg_model *model;
    evaluation result;
} accuracy_report;

static const char *class_name(const dg_model *m, uint32_t k)
{
    const char *name = "";
    dg_model_class_name(m, k, &name); /* k < the output size: cannot fail */
    return name;
}

/* Samples of true class k: its row of the confusion matrix. */
static uint32_t class_samples(const evaluation *e, uint32_t k)
{
    uint32_t sum = 0;
    for (uint32_t p = 0; p < e->n_classes; p++)
        sum += e->confusion[(size_t)k * e->n_classes + p];
    return sum;
}

static uint32_t class_correct(const evaluation *e, uint32_t k)
{
    return e->confusion[(size_t)k * e->n_classes + k];
}

static double class_accuracy(const evaluation *e, uint32_t k)
{
    uint32_t n = class_samples(e, k);
    return n ? (double)class_correct(e, k) / n : NAN;
}

static void print_json(const accuracy_report *r)
{
    const evaluation *e = &r->result;
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "model", r->model_path);
    json_put_string(&w, "data", r->data_spec);
    json_put_int(&w, "samples", e->total);
    json_put_int(&w, "correct", e->correct);
    json_put_number(&w, "accuracy", evaluation_accuracy(e));
    json_key(&w, "classes");
    json_begin_array(&w);
    for (uint32_t k = 0; k < e->n_classes; k++) {
        json_begin_object(&w);
        json_put_int(&w, "class", k);
        json_put_string(&w, "name", class_name(r->model, k));
        json_put_int(&w, "samples", class_samples(e, k));
        json_put_int(&w, "correct", class_correct(e, k));
        json_put_number(&w, "accuracy", class_accuracy(e, k));
        json_end_object(&w);
    }
    json_end_array(&w);
    json_key(&w, "confusion"); /* rows: true class; columns: predicted */
    json_begin_array(&w);
    for (uint32_t k = 0; k < e->n_classes; k++) {
        json_begin_array(&w);
        for (uint32_t p = 0; p < e->n_classes; p++)
            json_int(&w, e->confusion[(size_t)k * e->n_classes + p]);
        json_end_array(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
}

/* "3 Dress", or "3" for an unnamed class. */
static void class_heading(text_table *t, const dg_model *m, uint32_t k)
{
    const char *name = class_name(m, k);
    if (name[0])
        table_cell(t, "%u %s", k, name);
    else
        table_cell(t, "%u", k);
}

static int print_class_table(const accuracy_report *r)
{
    const evaluation *e = &r->result;
    text_table t;
    table_init(&t, "rlrrr",
               (const char *const[]){"class", "name", "samples", "correct",
                                     "accuracy"});
    for (uint32_t k = 0; k < e->n_classes; k++) {
        const char *name = class_name(r->model, k);
        table_cell(&t, "%u", k);
        table_cell(&t, "%s", name[0] ? name : "-");
        table_cell(&t, "%u", class_samples(e, k));
        table_cell(&t, "%u", class_correct(e, k));
        if (class_samples(e, k))
            table_cell(&t, "%.2f%%", 100 * class_accuracy(e, k));
        else
            table_cell(&t, "-");
    }
    return table_print(&t, stdout, 0);
}

/* The matrix in blocks of MATRIX_COLUMNS predicted classes, so any class
 * count fits the table printer. */
static int print_confusion(const accuracy_report *r)
{
    const evaluation *e = &r->result;
    int rc = CLI_EXIT_OK;
    fputs("\nconfusion matrix (rows: true class, columns: predicted)\n",
          stdout);
    for (uint32_t first = 0; first < e->n_classes && rc == CLI_EXIT_OK;
         first += MATRIX_COLUMNS) {
        uint32_t end = e->n_classes - first < MATRIX_COLUMNS
                           ? e->n_classes
                           : first + MATRIX_COLUMNS;
        text_table t;
        char align[TABLE_MAX_COLUMNS + 1] = "l";
        memset(align + 1, 'r', end - first);
        align[end - first + 1] = '\0';
        table_init(&t, align, NULL);
        table_cell(&t, "true \\ predicted");
        for (uint32_t p = first; p < end; p++) table_cell(&t, "%u", p);
        for (uint32_t k = 0; k < e->n_classes; k++) {
            class_heading(&t, r->model, k);
            for (uint32_t p = first; p < end; p++)
                table_cell(&t, "%u",
                           e->confusion[(size_t)k * e->n_classes + p]);
        }
        fputc('\n', stdout);
        rc = table_print(&t, stdout, 0);
    }
    return rc;
}

static int print_text(const accuracy_report *r)
{
    const evaluation *e = &r->result;
    text_table t;
    table_init(&t, "ll", NULL);
    table_cell(&t, "model");
    table_cell(&t, "%s", r->model_path);
    table_cell(&t, "data");
    table_cell(&t, "%s", r->data_spec);
    table_cell(&t, "accuracy");
    table_cell(&t, "%.2f%% (%u of %u)", 100 * evaluation_accuracy(e),
               e->correct, e->total);
    int rc = table_print(&t, stdout, 0);
    fputc('\n', stdout);
    if (rc == CLI_EXIT_OK) rc = print_class_table(r);
    if (rc == CLI_EXIT_OK) rc = print_confusion(r);
    return rc;
}

static int run_accuracy(const cli_args *args)
{
    accuracy_report r = {.model_path = args->positional[0]};
    dg_model *model = NULL;
    class_data data = {0};
    uint32_t shape[3];
    long per_class;
    int rc = required_value(args, "data", &r.data_spec);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "per-class", 0, 0, INT32_MAX, &per_class);
    if (rc == CLI_EXIT_OK) {
        dg_status st = dg_model_load_file(r.model_path, &model);
        if (st == DG_OK)
            st = dg_model_input_shape(model, &shape[0], &shape[1], &shape[2]);
        if (st != DG_OK) rc = cli_fail(st, "loading %s", r.model_path);
    }
    if (rc == CLI_EXIT_OK)
        rc = data_open(r.data_spec, shape, cli_value(args, "classes"), 0,
                       (uint32_t)per_class, &data);
    if (rc == CLI_EXIT_OK)
        rc = evaluate_model(model, data.samples, r.data_spec, &r.result);
    r.model = model;
    if (rc == CLI_EXIT_OK && cli_flag(args, "json"))
        print_json(&r);
    else if (rc == CLI_EXIT_OK)
        rc = print_text(&r);
    evaluation_free(&r.result);
    data_free(&data);
    dg_model_free(model);
    return rc;
}

static const cli_option accuracy_options[] = {
    {"data", 'd', "SPEC", "test data: " DATA_SPEC_FORMS},
    CLASSES_OPTION,
    {"per-class", 0, "N", "at most N samples per class (default all)"},
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_accuracy = {
    .name = "accuracy",
    .summary = "Measure a model's accuracy on a labelled data set",
    .synopsis = "MODEL",
    .description =
        "Prints the accuracy overall and per class, and the confusion "
        "matrix.  Labels must\nbe the model's class numbers: select and "
        "relabel with --classes (a model\ntrained with --classes 5-9 is "
        "measured with --classes 5-9).  Data specs as for\n'dg train'.",
    .options = accuracy_options,
    .min_args = 1,
    .max_args = 1,
    .run = run_accuracy,
};
