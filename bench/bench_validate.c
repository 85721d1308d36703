/* bench_validate.c - two-phase validation cost: dg_validate latency (p50,
 * p99) at batch 1 over the first 1000 inputs and time per input at batch 64
 * over 40 batches, each after one untimed pass.  Prints one JSON line.
 *
 *   bench_validate [FASHION_MNIST_DIR]
 *     builds its own Student (the default architecture transferred from an
 *     untrained Teacher, trained briefly on classes 5-9, so that its
 *     predictions, and with them the differentiators consulted, spread over
 *     the classes) and default guard, and also times the guard build;
 *     bench/validate.sh compares it with PyTorch.
 *   bench_validate --student MODEL --guard GUARD [--data SPEC]
 *                  [--classes A,B,..] [--inputs OUT.f32]
 *     times a given Student and guard on the data (default: Fashion-MNIST's
 *     test images of classes 5-9), writes the preprocessed inputs it timed
 *     to OUT.f32 and adds each batch-1 verdict to the JSON line, so that
 *     bench/ort_validate.sh can time ONNX Runtime on the same inputs and
 *     check it decides the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diffguard.h"

enum { SINGLE = 1000, BATCHES = 40, B = 64 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "bench_validate: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

static void *checked_malloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "bench_validate: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* What time_validator measured. */
typedef struct timing {
    double p50_ms, p99_ms, batch_ms_per_input;
    uint32_t single;     /* inputs timed at batch 1 */
    char *accepted;      /* their verdicts, '0' or '1', NUL-terminated */
} timing;

/* The Student's preprocessed inputs for every sample of ds, at most
 * SINGLE, or enough for BATCHES batches of B, whichever is more. */
/* Floats per input of the Student. */
static size_t sample_size(const dg_model *student)
{
    uint32_t c, h, w;
    check(dg_model_input_shape(student, &c, &h, &w), "the input shape");
    return (size_t)c * h * w;
}

static float *inputs_of(const dg_dataset *ds, const dg_model *student,
                        uint32_t *n_out)
{
    size_t sample = sample_size(student);
    uint32_t n;
    check(dg_dataset_count(ds, &n), "counting the data");
    uint32_t want = SINGLE > BATCHES * B ? SINGLE : BATCHES * B;
    if (n > want) n = want;
    if (n < B) {
        fprintf(stderr, "bench_validate: %u inputs; at least %d needed\n", n, B);
        exit(1);
    }
    uint32_t *idx = checked_malloc(sizeof *idx * n);
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    float *x = checked_malloc(sizeof *x * sample * n);
    check(dg_dataset_batch(ds, student, idx, n, x, sample * n, NULL),
          "reading the inputs");
    free(idx);
    *n_out = n;
    return x;
}

/* Inputs of `sample` floats each. */
static timing time_validator(dg_validator *v, const float *x, size_t sample,
                             uint32_t n)
{
    timing t = {0};
    t.single = n < SINGLE ? n : SINGLE;
    t.accepted = checked_malloc(t.single + 1);
    dg_verdict verdicts[B];
    for (int i = 0; i < B; i++) verdicts[i].struct_size = sizeof *verdicts;
    double *lat = checked_malloc(sizeof *lat * t.single);
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < t.single; i++) {
            double a = now();
            check(dg_validate(v, x + i * sample, sample, 1, verdicts),
                  "validate");
            lat[i] = now() - a;
            t.accepted[i] = verdicts[0].accepted ? '1' : '0';
        }
    t.accepted[t.single] = '\0';
    qsort(lat, t.single, sizeof *lat, cmp_double);
    t.p50_ms = lat[t.single / 2] * 1e3;
    t.p99_ms = lat[t.single * 99 / 100] * 1e3;
    free(lat);
    uint32_t batches = n / B < BATCHES ? n / B : BATCHES;
    double batch_s = 0;
    for (int pass = 0; pass < 2; pass++) {
        batch_s = 0;
        for (uint32_t k = 0; k < batches; k++) {
            double a = now();
            check(dg_validate(v, x + k * B * sample, B * sample, B, verdicts),
                  "validate");
            batch_s += now() - a;
        }
    }
    t.batch_ms_per_input = batch_s / (batches * B) * 1e3;
    return t;
}

static void print_timing(const timing *t)
{
    printf("{\"impl\": \"libdiffguard %s\", \"batch1_p50_ms\": %.4f, "
           "\"batch1_p99_ms\": %.4f, \"batch64_ms_per_image\": %.4f",
           dg_version_string(), t->p50_ms, t->p99_ms, t->batch_ms_per_input);
}

/* The first mode: a Student and guard of its own, and the build's time. */
static int run_own(const char *dir)
{
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    dg_dataset *all, *train;
    check(dg_dataset_load_idx(ip, lp, &all), "loading Fashion-MNIST");
    int32_t classes[5] = {5, 6, 7, 8, 9};
    check(dg_dataset_select(all, classes, 5, 200, &train), "selecting");
    dg_model *teacher, *student;
    check(dg_model_create(DG_ARCH_FMNIST_TEACHER, 1, 28, 28, 1, &teacher),
          "teacher");
    check(dg_model_transfer(teacher, -1, "fc5", 2, &student), "transfer");
    dg_train_opts to;
    dg_train_opts_init(&to, sizeof to);
    to.epochs = 1;
    check(dg_model_train(student, train, &to, NULL), "training the student");

    dg_guard_opts go;
    dg_guard_opts_init(&go, sizeof go);
    go.epochs = 1;
    go.robust_epochs = 1; /* else chosen from the data (about 50 here) */
    dg_guard *guard;
    double t0 = now();
    check(dg_guard_build(student, train, NULL, &go, &guard), "guard");
    double build_s = now() - t0;

    dg_validator *v;
    check(dg_validator_create(guard, NULL, &v), "validator");
    uint32_t n;
    float *x = inputs_of(train, student, &n);
    timing t = time_validator(v, x, sample_size(student), n);
    print_timing(&t);
    printf(", \"guard_build_s_1_epoch\": %.2f}\n", build_s);
    free(t.accepted);
    free(x);
    dg_validator_free(v);
    dg_guard_free(guard);
    dg_model_free(teacher);
    dg_model_free(student);
    dg_dataset_free(train);
    dg_dataset_free(all);
    return 0;
}

/* "5,6,7" into classes[]; returns their count, or exits on anything
 * else (a list it could only half read would silently mean other data). */
static uint32_t parse_classes(const char *text, int32_t *classes, uint32_t cap)
{
    uint32_t n = 0;
    for (const char *p = text;; p++) {
        char *end;
        long c = strtol(p, &end, 10);
        if (end == p || c < 0 || c > 65535 || n == cap ||
            (*end != ',' && *end != '\0')) {
            fprintf(stderr, "bench_validate: --classes \"%s\": give class "
                            "numbers separated by commas, such as 5,6,7\n",
                    text);
            exit(2);
        }
        classes[n++] = (int32_t)c;
        if (*end == '\0') return n;
        p = end;
    }
}

/* The second mode: a given Student and guard. */
static int run_given(const char *student_path, const char *guard_path,
                     const char *spec, const char *class_list,
                     const char *inputs_path)
{
    dg_model *student;
    check(dg_model_load_file(student_path, &student), student_path);
    dg_guard *guard;
    check(dg_guard_load_file(guard_path, student, &guard), guard_path);
    int32_t classes[64];
    dg_dataset_spec_opts so;
    dg_dataset_spec_opts_init(&so, sizeof so);
    so.classes = classes;
    so.n_classes = parse_classes(class_list, classes, 64);
    check(dg_model_input_shape(student, &so.channels, &so.height, &so.width),
          "the input shape");
    dg_dataset *ds;
    check(dg_dataset_open_spec(spec, &so, &ds), spec);
    dg_validator *v;
    check(dg_validator_create(guard, NULL, &v), "validator");
    uint32_t n;
    float *x = inputs_of(ds, student, &n);
    if (inputs_path) {
        FILE *f = fopen(inputs_path, "wb");
        if (!f || fwrite(x, sizeof *x * sample_size(student), n, f) != n ||
            fclose(f) != 0) {
            fprintf(stderr, "bench_validate: cannot write %s\n", inputs_path);
            return 1;
        }
    }
    timing t = time_validator(v, x, sample_size(student), n);
    print_timing(&t);
    printf(", \"accepted\": \"%s\"}\n", t.accepted);
    free(t.accepted);
    free(x);
    dg_validator_free(v);
    dg_dataset_free(ds);
    dg_guard_free(guard);
    dg_model_free(student);
    return 0;
}

int main(int argc, char **argv)
{
    const char *student = NULL, *guard = NULL, *inputs = NULL;
    const char *spec = "fmnist:test", *class_list = "5,6,7,8,9";
    if (argc <= 2) return run_own(argc > 1 ? argv[1]
                                           : "/usr/share/datasets/fashion-mnist");
    for (int i = 1; i + 1 < argc; i += 2) {
        const char **slot = !strcmp(argv[i], "--student")   ? &student
                            : !strcmp(argv[i], "--guard")   ? &guard
                            : !strcmp(argv[i], "--data")    ? &spec
                            : !strcmp(argv[i], "--classes") ? &class_list
                            : !strcmp(argv[i], "--inputs")  ? &inputs
                                                            : NULL;
        if (!slot) break;
        *slot = argv[i + 1];
    }
    if (!student || !guard || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_validate [FASHION_MNIST_DIR]\n"
                        "       bench_validate --student MODEL --guard GUARD "
                        "[--data SPEC] [--classes A,B,..] [--inputs OUT.f32]\n");
        return 2;
    }
    return run_given(student, guard, spec, class_list, inputs);
}
