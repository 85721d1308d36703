/* bench_validate.c - two-phase validation cost: dg_validate latency (p50,
 * p99) at batch 1 and time per image at batch 64 for the Student plus M = 5
 * differentiators, and the time to build a guard.  The Student is the
 * default architecture transferred from an untrained Teacher and trained
 * briefly on Fashion-MNIST classes 5-9, so that its predictions, and with
 * them the differentiators consulted, spread over the classes.  Prints one
 * JSON line; bench/validate.sh compares it with PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "diffguard.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int check(dg_status s, const char *what)
{
    if (s == DG_OK) return 0;
    fprintf(stderr, "bench_validate: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
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
    dg_guard *guard;
    double t0 = now();
    check(dg_guard_build(student, train, NULL, &go, &guard), "guard");
    double build_s = now() - t0;

    dg_validator *v;
    check(dg_validator_create(guard, NULL, &v), "validator");
    enum { SINGLE = 1000, BATCHES = 40, B = 64 };
    uint32_t n;
    dg_dataset_count(train, &n);
    float *x = malloc(sizeof(float) * 784 * B);
    uint32_t idx[B];
    dg_verdict verdicts[B];
    for (int i = 0; i < B; i++) verdicts[i].struct_size = sizeof *verdicts;
    double *lat = malloc(sizeof(double) * SINGLE);
    for (int warm = 0; warm < 2; warm++)
        for (uint32_t i = 0; i < SINGLE; i++) {
            idx[0] = i % n;
            check(dg_dataset_batch(train, student, idx, 1, x, 784, NULL), "batch");
            double a = now();
            check(dg_validate(v, x, 784, 1, verdicts), "validate");
            lat[i] = now() - a;
        }
    qsort(lat, SINGLE, sizeof *lat, cmp_double);
    double batch_s = 0;
    for (int warm = 0; warm < 2; warm++) {
        batch_s = 0;
        for (uint32_t k = 0; k < BATCHES; k++) {
            for (int i = 0; i < B; i++) idx[i] = (k * B + (uint32_t)i) % n;
            check(dg_dataset_batch(train, student, idx, B, x, 784 * B, NULL),
                  "batch");
            double a = now();
            check(dg_validate(v, x, 784 * B, B, verdicts), "validate");
            batch_s += now() - a;
        }
    }
    printf("{\"impl\": \"libdiffguard\", \"batch1_p50_ms\": %.4f, "
           "\"batch1_p99_ms\": %.4f, \"batch64_ms_per_image\": %.4f, "
           "\"guard_build_s_1_epoch\": %.2f}\n",
           lat[SINGLE / 2] * 1e3, lat[SINGLE * 99 / 100] * 1e3,
           batch_s / (BATCHES * B) * 1e3, build_s);
    free(lat);
    free(x);
    dg_validator_free(v);
    dg_guard_free(guard);
    dg_model_free(teacher);
    dg_model_free(student);
    dg_dataset_free(train);
    dg_dataset_free(all);
    return 0;
}
