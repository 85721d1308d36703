/* cmd_validate.c - `dg validate GUARD --student MODEL IMAGE...`: two-phase
 * validation of each image (doc/validator.md).  Images are decoded with
 * the Student's preprocessing and validated in batches, in order; the exit
 * code says whether every image was read and accepted. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

enum { DEFAULT_BATCH = 32, MAX_BATCH = 4096 };

typedef struct validation {
    dg_model *student;
    dg_guard *guard;
    dg_validator *validator;
    json_writer *json;     /* NULL for text output */
    size_t sample_len;     /* floats per preprocessed image */
    uint32_t n_classes;
    int32_t host_label;    /* --label, or -1: phase 1 runs the Student */
    uint32_t capacity;     /* images per batch */
    uint32_t pending;      /* images waiting in the batch */
    float *input;          /* capacity * sample_len */
    const char **files;    /* capacity: the file of each waiting image */
    image_reader images;
    int32_t *labels;       /* capacity copies of host_label */
    dg_verdict *verdicts;  /* capacity */
    uint32_t accepted, rejected, unreadable;
} validation;

/* --rule's choices; without it, 0: the guard's default. */
static const cli_named rules[] = {
    {"votes", DG_RULE_VOTES}, {"score", DG_RULE_SCORE}, {NULL, 0}};

static int open_guard(validation *v, const char *guard_path,
                      const char *student_path)
{
    dg_status st = dg_model_load_file(student_path, &v->student);
    uint32_t channels = 0, height = 0, width = 0;
    if (st == DG_OK)
        st = dg_model_input_shape(v->student, &channels, &height, &width);
    if (st == DG_OK) st = dg_model_output_size(v->student, &v->n_classes);
    if (st != DG_OK) return cli_fail(st, "loading %s", student_path);
    v->sample_len = (size_t)channels * height * width;
    st = dg_guard_load_file(guard_path, v->student, &v->guard);
    if (st != DG_OK)
        return cli_fail(st, "loading the guard for %s", student_path);
    return CLI_EXIT_OK;
}

/* The validator (--members, --rule) and the batch buffers. */
static int prepare(validation *v, const cli_args *args, uint32_t capacity)
{
    dg_guard_info info = {.struct_size = sizeof info};
    dg_status st = dg_guard_get_info(v->guard, &info);
    if (st != DG_OK) return cli_fail(st, "reading the guard");
    dg_validator_opts opts;
    dg_validator_opts_init(&opts, sizeof opts);
    long members, label;
    int rc = cli_long(args, "members", 0, 1, info.variants, &members);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "label", -1, 0, (long)v->n_classes - 1, &label);
    if (rc == CLI_EXIT_OK)
        rc = cli_choice(args, "rule", rules, NULL, &opts.rule);
    if (rc != CLI_EXIT_OK) return rc;
    opts.members = (uint32_t)members;
    opts.max_batch = capacity;
    v->host_label = (int32_t)label;
    v->capacity = capacity;
    v->input = malloc(capacity * v->sample_len * sizeof *v->input);
    v->files = malloc(capacity * sizeof *v->files);
    v->labels = malloc(capacity * sizeof *v->labels);
    v->verdicts = calloc(capacity, sizeof *v->verdicts);
    if (!v->input || !v->files || !v->labels || !v->verdicts)
        return cli_error("out of memory");
    for (uint32_t i = 0; i < capacity; i++) {
        v->labels[i] = v->host_label;
        v->verdicts[i].struct_size = sizeof v->verdicts[i];
    }
    st = dg_validator_create(v->guard, &opts, &v->validator);
    if (st != DG_OK) return cli_fail(st, "preparing the validator");
    return CLI_EXIT_OK;
}

/* What the library says of a verdict (dg_verdict_format_report): an
 * element of the JSON array, or text. */
static int report_verdict(const validation *v, const char *file,
                          const dg_verdict *d)
{
    const cli_report r = {.verdict = d, .model = v->student, .name = file};
    char *text;
    int rc = cli_format_report(&r, v->json ? DG_FORMAT_JSON : DG_FORMAT_TEXT,
                               &text);
    if (rc == CLI_EXIT_OK && v->json)
        json_raw(v->json, text);
    else if (rc == CLI_EXIT_OK)
        fputs(text, stdout);
    free(text);
    return rc;
}

/* Validates the waiting images and reports each. */
static int run_batch(validation *v)
{
    if (v->pending == 0) return CLI_EXIT_OK;
    size_t len = v->pending * v->sample_len;
    dg_status st =
        v->host_label < 0
            ? dg_validate(v->validator, v->input, len, v->pending,
                          v->verdicts)
            : dg_validate_labeled(v->validator, v->input, len, v->pending,
                                  v->labels, v->verdicts);
    if (st != DG_OK) return cli_fail(st, "validating");
    progress_clear();
    int rc = CLI_EXIT_OK;
    for (uint32_t i = 0; i < v->pending && rc == CLI_EXIT_OK; i++) {
        const dg_verdict *d = &v->verdicts[i];
        if (d->accepted)
            v->accepted++;
        else
            v->rejected++;
        rc = report_verdict(v, v->files[i], d);
    }
    fflush(stdout);
    v->pending = 0;
    return rc;
}

/* An image that could not be read: on stderr, and in the JSON output in
 * its place. */
static void report_unreadable(validation *v, const char *file,
                              dg_status st)
{
    v->unreadable++;
    if (v->json) {
        char error[1024];
        snprintf(error, sizeof error, "%s: %s", dg_strerror(st),
                 dg_last_error_detail());
        json_begin_object(v->json);
        json_put_string(v->json, "file", file);
        json_put_string(v->json, "verdict", "ERROR");
        json_put_string(v->json, "error", error);
        json_end_object(v->json);
    }
    cli_fail(st, "decoding %s", file);
}

/* Decodes every image into the batch, validating it whenever it fills or
 * an unreadable image must be reported in order. */
static int validate_all(validation *v, char **files, int n_files)
{
    image_reader_init(&v->images, v->student);
    progress_start("validate", (uint64_t)n_files);
    for (int i = 0; i < n_files; i++) {
        float *slot = v->input + v->pending * v->sample_len;
        dg_status st = image_reader_load(&v->images, files[i], slot,
                                          v->sample_len);
        int rc = CLI_EXIT_OK;
        if (st != DG_OK) {
            rc = run_batch(v);
            report_unreadable(v, files[i], st);
        } else {
            v->files[v->pending++] = files[i];
            if (v->pending == v->capacity) rc = run_batch(v);
        }
        if (rc != CLI_EXIT_OK) return rc;
        progress_update((uint64_t)i + 1);
    }
    int rc = run_batch(v);
    progress_finish();
    image_reader_warn(&v->images, (uint32_t)n_files);
    return rc;
}

static void free_validation(validation *v)
{
    dg_validator_free(v->validator);
    dg_guard_free(v->guard);
    dg_model_free(v->student);
    free(v->input);
    free(v->files);
    free(v->labels);
    free(v->verdicts);
}

static int run_validate(const cli_args *args)
{
    validation v = {0};
    json_writer json;
    const char *student;
    char **files = args->positional + 1;
    int n_files = args->n_positional - 1;
    long batch;
    int rc = required_value(args, "student", &student);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "batch", DEFAULT_BATCH, 1, MAX_BATCH, &batch);
    if (rc == CLI_EXIT_OK) rc = open_guard(&v, args->positional[0], student);
    if (rc == CLI_EXIT_OK)
        rc = prepare(&v, args, (uint32_t)(batch < n_files ? batch : n_files));
    if (rc == CLI_EXIT_OK) {
        if (cli_flag(args, "json")) {
            v.json = &json;
            json_init(v.json, stdout);
            json_begin_array(v.json);
        }
        rc = validate_all(&v, files, n_files);
        if (v.json) json_end_array(v.json);
    }
    if (rc == CLI_EXIT_OK && !v.json)
        printf("\n%d images: %u accepted, %u rejected, %u unreadable\n",
               n_files, v.accepted, v.rejected, v.unreadable);
    if (rc == CLI_EXIT_OK && (v.rejected || v.unreadable))
        rc = CLI_EXIT_FAILURE;
    free_validation(&v);
    return rc;
}

static const cli_option validate_options[] = {
    {"student", 's', "MODEL", "the Student the guard was built for"},
    {"members", 'm', "M", "differentiators to consult (default: the "
                          "guard's)"},
    {"rule", 0, "NAME", "votes or score (default: the guard's)"},
    {"label", 'l', "L", "phase 1 from the host: its Student's class for "
                        "every image (default: run the Student)"},
    {"batch", 'b', "N", "images per validation call (default 32)"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_validate = {
    .name = "validate",
    .summary = "Accept or reject images with a guard (two-phase validation)",
    .synopsis = "GUARD IMAGE...",
    .description =
        "Phase 1 takes the Student's class of each image (or --label); "
        "phase 2 asks the\nfirst M differentiators of that class and "
        "accepts if enough agree (votes) or\ntheir mean probability of the "
        "class is high enough (score), with the thresholds\ncalibrated in "
        "the guard.  Images are PNG or JPEG, preprocessed as the Student\n"
        "file says.  Exit status: 0 if every image was read and accepted, "
        "1 if any was\nrejected or could not be read (or on any other "
        "failure), 2 for usage errors.",
    .options = validate_options,
    .min_args = 2,
    .max_args = -1,
    .run = run_validate,
};
