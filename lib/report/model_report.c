/* model_report.c - what dg info prints of a model: its input and
 * preprocessing, each layer, its classes. */
#include <stdlib.h>

#include "core/alloc.h"
#include "nn/model.h"
#include "report/report.h"

/* Everything the report shows. */
typedef struct model_summary {
    const char *path; /* NULL: not named */
    uint32_t channels, height, width;
    dg_preprocess preprocess;
    uint32_t n_layers;
    dg_layer_info *layers;
    uint32_t n_classes;
    uint64_t total_params;
    const char **class_names; /* owned by the model */
} model_summary;

static dg_status gather(const dg_model *m, model_summary *s)
{
    s->channels = m->input.c;
    s->height = m->input.h;
    s->width = m->input.w;
    s->preprocess = m->pre;
    s->n_layers = m->n_layers;
    s->n_classes = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    DG_TRY(dg_alloc_array((void **)&s->layers, s->n_layers + 1,
                          sizeof *s->layers, "report"));
    DG_TRY(dg_alloc_array((void **)&s->class_names, s->n_classes + 1,
                          sizeof *s->class_names, "report"));
    for (uint32_t i = 0; i < s->n_layers; i++) {
        dg_layer_info_of(m, i, &s->layers[i]);
        s->total_params += s->layers[i].param_count;
    }
    for (uint32_t k = 0; k < s->n_classes; k++)
        s->class_names[k] = dg_model_class_label(m, k);
    return DG_OK;
}

/* "0.485 0.456 0.406" for the per-channel mean or std. */
static void format_channels(const float *values, uint32_t n, char *buf,
                            size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t c = 0; c < n && c < 3 && used < size; c++)
        used += (size_t)snprintf(buf + used, size - used, "%s%g",
                                 c ? " " : "", (double)values[c]);
}

static bool model_text(const void *ctx, FILE *out)
{
    const model_summary *s = ctx;
    const dg_preprocess *p = &s->preprocess;
    char mean[64], std[64];
    format_channels(p->mean, p->channels, mean, sizeof mean);
    format_channels(p->std, p->channels, std, sizeof std);

    text_table t;
    table_init(&t, "ll", NULL);
    if (s->path) {
        table_cell(&t, "model");
        table_cell(&t, "%s", s->path);
    }
    table_cell(&t, "input");
    table_cell(&t, "%ux%ux%u (channels x height x width)", s->channels,
               s->height, s->width);
    table_cell(&t, "preprocess");
    table_cell(&t, "%ux%ux%u, scale %g, mean %s, std %s", p->channels,
               p->height, p->width, (double)p->scale, mean, std);
    table_cell(&t, "parameters");
    table_cell(&t, "%llu", (unsigned long long)s->total_params);
    table_cell(&t, "layers");
    table_cell(&t, "%u", s->n_layers);
    table_cell(&t, "classes");
    table_cell(&t, "%u", s->n_classes);
    if (!table_write(&t, out, 0)) return false;

    table_init(&t, "rlrlrrrrlr",
               (const char *const[]){"layer", "kind", "input", "output",
                                     "kernel", "stride", "padding",
                                     "parameters", "frozen", "pruned"});
    for (uint32_t i = 0; i < s->n_layers; i++) {
        const dg_layer_info *l = &s->layers[i];
        table_cell(&t, "%u", i);
        table_cell(&t, "%s", dg_layer_kind_name(l->kind));
        if (l->input0 < 0)
            table_cell(&t, "input");
        else if (l->input1 < 0)
            table_cell(&t, "%d", l->input0);
        else
            table_cell(&t, "%d+%d", l->input0, l->input1);
        table_cell(&t, "%ux%ux%u", l->channels, l->height, l->width);
        if (l->kernel) {
            table_cell(&t, "%u", l->kernel);
            table_cell(&t, "%u", l->stride);
            table_cell(&t, "%u", l->padding);
        } else {
            table_cell(&t, "-");
            table_cell(&t, "-");
            table_cell(&t, "-");
        }
        table_cell(&t, "%llu", (unsigned long long)l->param_count);
        table_cell(&t, "%s", l->flags & DG_LAYER_FLAG_FROZEN ? "yes" : "no");
        table_cell(&t, "%u", l->pruned_units);
    }
    fputc('\n', out);
    if (!table_write(&t, out, 0)) return false;

    table_init(&t, "rl", (const char *const[]){"class", "name"});
    for (uint32_t k = 0; k < s->n_classes; k++) {
        table_cell(&t, "%u", k);
        table_cell(&t, "%s", s->class_names[k][0] ? s->class_names[k] : "-");
    }
    fputc('\n', out);
    return table_write(&t, out, 0);
}

static void json_shape(json_writer *w, uint32_t channels, uint32_t height,
                       uint32_t width)
{
    json_begin_object(w);
    json_put_int(w, "channels", channels);
    json_put_int(w, "height", height);
    json_put_int(w, "width", width);
    json_end_object(w);
}

static void json_channel_values(json_writer *w, const float *values,
                                uint32_t n)
{
    json_begin_array(w);
    for (uint32_t c = 0; c < n && c < 3; c++) json_number(w, values[c]);
    json_end_array(w);
}

static void json_layer(json_writer *w, uint32_t index, const dg_layer_info *l)
{
    json_begin_object(w);
    json_put_int(w, "index", index);
    json_put_string(w, "kind", dg_layer_kind_name(l->kind));
    json_key(w, "inputs"); /* -1 is the model input */
    json_begin_array(w);
    json_int(w, l->input0);
    if (l->input1 >= 0) json_int(w, l->input1);
    json_end_array(w);
    json_key(w, "output");
    json_shape(w, l->channels, l->height, l->width);
    json_put_int(w, "kernel", l->kernel);
    json_put_int(w, "stride", l->stride);
    json_put_int(w, "padding", l->padding);
    json_put_int(w, "parameters", (int64_t)l->param_count);
    json_put_bool(w, "frozen", l->flags & DG_LAYER_FLAG_FROZEN);
    json_put_int(w, "pruned_units", l->pruned_units);
    json_end_object(w);
}

static bool model_json(const void *ctx, FILE *out)
{
    const model_summary *s = ctx;
    const dg_preprocess *p = &s->preprocess;
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    if (s->path) json_put_string(&w, "file", s->path);
    json_key(&w, "input");
    json_shape(&w, s->channels, s->height, s->width);

    json_key(&w, "preprocess");
    json_begin_object(&w);
    json_put_int(&w, "channels", p->channels);
    json_put_int(&w, "height", p->height);
    json_put_int(&w, "width", p->width);
    json_put_number(&w, "scale", p->scale);
    json_key(&w, "mean");
    json_channel_values(&w, p->mean, p->channels);
    json_key(&w, "std");
    json_channel_values(&w, p->std, p->channels);
    json_end_object(&w);

    json_key(&w, "layers");
    json_begin_array(&w);
    for (uint32_t i = 0; i < s->n_layers; i++)
        json_layer(&w, i, &s->layers[i]);
    json_end_array(&w);

    json_key(&w, "classes");
    json_begin_array(&w);
    for (uint32_t k = 0; k < s->n_classes; k++)
        json_string(&w, s->class_names[k]);
    json_end_array(&w);

    json_put_int(&w, "total_parameters", (int64_t)s->total_params);
    json_end_object(&w);
    return !w.failed;
}

dg_status report_model_text(const dg_model *m, const char *name,
                            int32_t format, char **text, size_t *len)
{
    model_summary s = {.path = name};
    dg_status st = gather(m, &s);
    if (st == DG_OK)
        st = report_text(format == DG_FORMAT_JSON ? model_json : model_text,
                         &s, text, len);
    free(s.layers);
    free(s.class_names);
    return st;
}
