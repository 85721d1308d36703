/* cmd_info.c - `dg info MODEL`: what a model file holds. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

/* Everything the report shows, gathered before printing so that a failing
 * call never leaves half a report on stdout. */
typedef struct model_summary {
    const char *path;
    uint32_t channels, height, width;
    dg_preprocess preprocess;
    uint32_t n_layers;
    dg_layer_info *layers;
    uint32_t n_classes;
    const char **class_names; /* owned by the model */
    uint64_t total_params;
} model_summary;

/* Names of DG_LAYER_* values, as the architecture strings spell
 * them where they can. */
static const char *layer_kind_name(int32_t kind)
{
    static const char *const names[] = {
        [DG_LAYER_CONV] = "conv",
        [DG_LAYER_RELU] = "relu",
        [DG_LAYER_MAXPOOL] = "maxpool",
        [DG_LAYER_AVGPOOL] = "avgpool",
        [DG_LAYER_GLOBAL_AVGPOOL] = "global_avgpool",
        [DG_LAYER_FLATTEN] = "flatten",
        [DG_LAYER_LINEAR] = "linear",
        [DG_LAYER_BATCHNORM] = "batchnorm",
        [DG_LAYER_ADD] = "add",
        [DG_LAYER_SOFTMAX] = "softmax",
        [DG_LAYER_DROPOUT] = "dropout",
        [DG_LAYER_CLIP] = "clip",
        [DG_LAYER_SIGMOID] = "sigmoid",
        [DG_LAYER_HARDSIGMOID] = "hardsigmoid",
        [DG_LAYER_HARDSWISH] = "hardswish",
        [DG_LAYER_PAD] = "pad",
        [DG_LAYER_MUL] = "mul",
        [DG_LAYER_CONCAT] = "concat",
    };
    enum { N_NAMES = sizeof names / sizeof names[0] };
    if (kind <= 0 || kind >= N_NAMES || !names[kind]) return "unknown";
    return names[kind];
}

static int gather(const dg_model *model, model_summary *s)
{
    dg_status st = dg_model_input_shape(model, &s->channels, &s->height,
                                        &s->width);
    if (st == DG_OK) {
        s->preprocess.struct_size = sizeof s->preprocess;
        st = dg_model_preprocess(model, &s->preprocess);
    }
    if (st == DG_OK) st = dg_model_layer_count(model, &s->n_layers);
    if (st == DG_OK) st = dg_model_output_size(model, &s->n_classes);
    if (st != DG_OK) return cli_fail(st, "reading %s", s->path);

    s->layers = calloc(s->n_layers, sizeof *s->layers);
    s->class_names = calloc(s->n_classes, sizeof *s->class_names);
    if ((s->n_layers && !s->layers) || (s->n_classes && !s->class_names))
        return cli_error("out of memory");
    for (uint32_t i = 0; i < s->n_layers; i++) {
        s->layers[i].struct_size = sizeof s->layers[i];
        st = dg_model_layer_info(model, i, &s->layers[i]);
        if (st != DG_OK)
            return cli_fail(st, "reading layer %u of %s", i, s->path);
        s->total_params += s->layers[i].param_count;
    }
    for (uint32_t k = 0; k < s->n_classes; k++) {
        st = dg_model_class_name(model, k, &s->class_names[k]);
        if (st != DG_OK)
            return cli_fail(st, "reading class %u of %s", k, s->path);
    }
    return CLI_EXIT_OK;
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

static int print_text(const model_summary *s)
{
    const dg_preprocess *p = &s->preprocess;
    char mean[64], std[64];
    format_channels(p->mean, p->channels, mean, sizeof mean);
    format_channels(p->std, p->channels, std, sizeof std);

    text_table t;
    table_init(&t, "ll", NULL);
    table_cell(&t, "model");
    table_cell(&t, "%s", s->path);
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
    int rc = table_print(&t, stdout, 0);
    if (rc != CLI_EXIT_OK) return rc;

    table_init(&t, "rlrlrrrrlr",
               (const char *const[]){"layer", "kind", "input", "output",
                                     "kernel", "stride", "padding",
                                     "parameters", "frozen", "pruned"});
    for (uint32_t i = 0; i < s->n_layers; i++) {
        const dg_layer_info *l = &s->layers[i];
        table_cell(&t, "%u", i);
        table_cell(&t, "%s", layer_kind_name(l->kind));
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
    fputc('\n', stdout);
    rc = table_print(&t, stdout, 0);
    if (rc != CLI_EXIT_OK) return rc;

    table_init(&t, "rl", (const char *const[]){"class", "name"});
    for (uint32_t k = 0; k < s->n_classes; k++) {
        table_cell(&t, "%u", k);
        table_cell(&t, "%s", s->class_names[k][0] ? s->class_names[k] : "-");
    }
    fputc('\n', stdout);
    return table_print(&t, stdout, 0);
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
    json_put_string(w, "kind", layer_kind_name(l->kind));
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

static void print_json(const model_summary *s)
{
    const dg_preprocess *p = &s->preprocess;
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "file", s->path);
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
}

static int run_info(const cli_args *args)
{
    model_summary summary = {.path = args->positional[0]};
    dg_model *model = NULL;
    int rc = cli_load_model(summary.path, &model);
    if (rc != CLI_EXIT_OK) return rc;
    rc = gather(model, &summary);
    if (rc == CLI_EXIT_OK && cli_flag(args, "json"))
        print_json(&summary);
    else if (rc == CLI_EXIT_OK)
        rc = print_text(&summary);

    free(summary.layers);
    free(summary.class_names);
    dg_model_free(model);
    return rc;
}

static const cli_option info_options[] = {
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_info = {
    .name = "info",
    .summary = "Describe a model file: input, preprocessing, layers, classes",
    .synopsis = "MODEL",
    .description = "Layer inputs name the producing layer; \"input\" is the "
                   "model input.\nParameters count trainable values and "
                   "statistics; pruned counts masked units.",
    .options = info_options,
    .min_args = 1,
    .max_args = 1,
    .run = run_info,
};
