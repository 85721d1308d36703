/* cmd_predict.c - `dg predict MODEL IMAGE...`: the most probable classes of
 * each image (dg_session_top_classes).  Images are decoded one by one and run in batches; an image
 * that cannot be decoded is reported and skipped. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

enum { DEFAULT_TOP = 3, DEFAULT_BATCH = 32, MAX_BATCH = 4096 };

typedef struct predictor {
    dg_model *model;
    dg_session *session;
    json_writer *json;    /* NULL for text output */
    size_t sample_len;    /* floats per preprocessed image */
    uint32_t n_classes;
    uint32_t top;
    uint32_t capacity;    /* images per batch */
    uint32_t batch_size;  /* images waiting in the batch */
    float *input;         /* capacity * sample_len */
    const char **files;   /* capacity: the file of each waiting image */
    image_reader images;
    uint32_t *ranked;     /* top: class indices, most probable first */
    double *probability;  /* top: theirs */
    uint32_t printed;     /* images reported so far */
} predictor;

static int open_model(predictor *p, const char *path)
{
    dg_status st = dg_model_load_file(path, &p->model);
    if (st == DG_OK) st = dg_model_output_size(p->model, &p->n_classes);
    uint32_t channels = 0, height = 0, width = 0;
    if (st == DG_OK)
        st = dg_model_input_shape(p->model, &channels, &height, &width);
    if (st != DG_OK) return cli_fail(st, "loading %s", path);
    p->sample_len = (size_t)channels * height * width;
    return CLI_EXIT_OK;
}

static int allocate(predictor *p, long capacity)
{
    p->capacity = (uint32_t)capacity;
    p->input = malloc(p->capacity * p->sample_len * sizeof *p->input);
    p->files = malloc(p->capacity * sizeof *p->files);
    p->probability = malloc(p->top * sizeof *p->probability);
    p->ranked = malloc(p->top * sizeof *p->ranked);
    if (!p->input || !p->files || !p->probability || !p->ranked)
        return cli_error("out of memory");
    dg_status st = dg_session_create(p->model, p->capacity, &p->session);
    if (st != DG_OK) return cli_fail(st, "preparing the model");
    return CLI_EXIT_OK;
}

static int report_image(predictor *p, const char *file)
{
    if (p->json) {
        json_begin_object(p->json);
        json_put_string(p->json, "file", file);
        json_key(p->json, "top");
        json_begin_array(p->json);
        for (uint32_t r = 0; r < p->top; r++) {
            uint32_t k = p->ranked[r];
            json_begin_object(p->json);
            json_put_int(p->json, "class", k);
            json_put_string(p->json, "name", cli_class_name(p->model, k));
            json_put_number(p->json, "probability", p->probability[r]);
            json_end_object(p->json);
        }
        json_end_array(p->json);
        json_end_object(p->json);
        return CLI_EXIT_OK;
    }
    printf("%s", p->printed ? "\n" : "");
    text_printf(stdout, "%s", file);
    printf("\n");
    text_table t;
    table_init(&t, "rrl", NULL);
    for (uint32_t r = 0; r < p->top; r++) {
        uint32_t k = p->ranked[r];
        const char *name = cli_class_name(p->model, k);
        table_cell(&t, "%.4f", p->probability[r]);
        table_cell(&t, "%u", k);
        table_cell(&t, "%s", name[0] ? name : "-");
    }
    return table_print(&t, stdout, 2);
}

/* Runs the waiting images and reports each. */
static int run_batch(predictor *p)
{
    if (p->batch_size == 0) return CLI_EXIT_OK;
    dg_status st = dg_session_run(p->session, p->input,
                                  p->batch_size * p->sample_len,
                                  p->batch_size);
    if (st != DG_OK) return cli_fail(st, "running the model");
    progress_clear();
    int rc = CLI_EXIT_OK;
    for (uint32_t i = 0; i < p->batch_size && rc == CLI_EXIT_OK; i++) {
        st = dg_session_top_classes(p->session, i, p->top, p->ranked,
                                    p->probability);
        rc = st == DG_OK ? report_image(p, p->files[i])
                         : cli_fail(st, "reading the classes");
        p->printed++;
    }
    fflush(stdout);
    p->batch_size = 0;
    return rc;
}

/* Decodes every image into the batch, running it whenever it fills. */
static int predict_all(predictor *p, char **files, int n_files)
{
    int rc = CLI_EXIT_OK;
    image_reader_init(&p->images, p->model);
    progress_start("predict", (uint64_t)n_files);
    for (int i = 0; i < n_files; i++) {
        float *slot = p->input + p->batch_size * p->sample_len;
        dg_status st = image_reader_load(&p->images, files[i], slot,
                                          p->sample_len);
        if (st != DG_OK) {
            rc = cli_fail(st, "decoding %s", files[i]);
        } else {
            p->files[p->batch_size++] = files[i];
            if (p->batch_size == p->capacity) {
                int batch_rc = run_batch(p);
                if (batch_rc != CLI_EXIT_OK) return batch_rc;
            }
        }
        progress_update((uint64_t)i + 1);
    }
    int batch_rc = run_batch(p);
    progress_finish();
    image_reader_warn(&p->images, (uint32_t)n_files);
    return batch_rc != CLI_EXIT_OK ? batch_rc : rc;
}

static int run_predict(const cli_args *args)
{
    predictor p = {0};
    json_writer json;
    char **files = args->positional + 1;
    int n_files = args->n_positional - 1;
    long batch, top;
    int rc = cli_long(args, "batch", DEFAULT_BATCH, 1, MAX_BATCH, &batch);
    if (rc == CLI_EXIT_OK) rc = open_model(&p, args->positional[0]);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "top",
                      p.n_classes < DEFAULT_TOP ? p.n_classes : DEFAULT_TOP,
                      1, p.n_classes, &top);
    if (rc == CLI_EXIT_OK) {
        p.top = (uint32_t)top;
        rc = allocate(&p, batch < n_files ? batch : n_files);
    }
    if (rc == CLI_EXIT_OK) {
        if (cli_flag(args, "json")) {
            p.json = &json;
            json_init(p.json, stdout);
            json_begin_array(p.json);
        }
        rc = predict_all(&p, files, n_files);
        if (p.json) json_end_array(p.json);
    }
    dg_session_free(p.session);
    dg_model_free(p.model);
    free(p.input);
    free(p.files);
    free(p.probability);
    free(p.ranked);
    return rc;
}

static const cli_option predict_options[] = {
    {"top", 'k', "K", "classes to show per image (default 3)"},
    {"batch", 'b', "N", "images per forward pass (default 32)"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_predict = {
    .name = "predict",
    .summary = "Classify PNG or JPEG images with a model",
    .synopsis = "MODEL IMAGE...",
    .description = "Prints the most probable classes of each image with "
                   "their probabilities.\nImages are preprocessed as the "
                   "model file says.  An image that cannot be\ndecoded is "
                   "reported and skipped, and the exit code is then 1.",
    .options = predict_options,
    .min_args = 2,
    .max_args = -1,
    .run = run_predict,
};
