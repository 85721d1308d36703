/* accuracy_report.c - what dg accuracy prints of a model measured on
 * labelled data (dg_model_evaluate): the accuracy overall and per class,
 * and the confusion matrix. */
#include <math.h>
#include <string.h>

#include "nn/model.h"
#include "report/report.h"

/* Confusion columns per text table: one column is the row heading. */
enum { MATRIX_COLUMNS = TABLE_MAX_COLUMNS - 1 };

/* A confusion matrix and what names the model and the data. */
typedef struct evaluation {
    uint32_t n_classes;  /* the model's outputs */
    uint32_t correct, total;
    const uint32_t *confusion; /* [true * n_classes + predicted] */
} evaluation;

typedef struct accuracy_report {
    const char *model_path, *data_spec; /* NULL: not named */
    const dg_model *model;
    evaluation result;
} accuracy_report;

static const char *class_name(const dg_model *m, uint32_t k)
{
    return dg_model_class_label(m, k);
}

static double evaluation_accuracy(const evaluation *e)
{
    return e->total ? (double)e->correct / e->total : NAN;
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

static bool accuracy_json(const void *ctx, FILE *out)
{
    const accuracy_report *r = ctx;
    const evaluation *e = &r->result;
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    if (r->model_path) json_put_string(&w, "model", r->model_path);
    if (r->data_spec) json_put_string(&w, "data", r->data_spec);
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
    return !w.failed;
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

static bool class_table(FILE *out, const accuracy_report *r)
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
    return table_write(&t, out, 0);
}

/* The matrix in blocks of MATRIX_COLUMNS predicted classes, so any class
 * count fits the table printer. */
static bool confusion_tables(FILE *out, const accuracy_report *r)
{
    const evaluation *e = &r->result;
    bool ok = true;
    fputs("\nconfusion matrix (rows: true class, columns: predicted)\n",
          out);
    for (uint32_t first = 0; first < e->n_classes && ok;
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
        fputc('\n', out);
        ok = table_write(&t, out, 0);
    }
    return ok;
}

static bool accuracy_text(const void *ctx, FILE *out)
{
    const accuracy_report *r = ctx;
    const evaluation *e = &r->result;
    text_table t;
    table_init(&t, "ll", NULL);
    if (r->model_path) {
        table_cell(&t, "model");
        table_cell(&t, "%s", r->model_path);
    }
    if (r->data_spec) {
        table_cell(&t, "data");
        table_cell(&t, "%s", r->data_spec);
    }
    table_cell(&t, "accuracy");
    table_cell(&t, "%.2f%% (%u of %u)", 100 * evaluation_accuracy(e),
               e->correct, e->total);
    bool ok = table_write(&t, out, 0);
    fputc('\n', out);
    return ok && class_table(out, r) && confusion_tables(out, r);
}

dg_status report_accuracy_text(const dg_model *m, const uint32_t *confusion,
                               const char *model_name, const char *data_name,
                               int32_t format, char **text, size_t *len)
{
    accuracy_report r = {model_name, data_name, m, {.confusion = confusion}};
    evaluation *e = &r.result;
    e->n_classes = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    for (uint32_t k = 0; k < e->n_classes; k++) {
        e->correct += class_correct(e, k);
        e->total += class_samples(e, k);
    }
    return report_text(format == DG_FORMAT_JSON ? accuracy_json
                                                : accuracy_text,
                       &r, text, len);
}
