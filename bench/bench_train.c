/* bench_train.c - training throughput of the default Teacher (images per
 * second at batch 64, Adam, cross-entropy) on Fashion-MNIST classes 0-4.
 * Prints one JSON line; bench/train.sh compares it with PyTorch. */
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

static int fail(const char *what, dg_status s)
{
    fprintf(stderr, "bench_train: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    uint32_t images = argc > 2 ? (uint32_t)atoi(argv[2]) : 6400;
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    dg_dataset *all, *five;
    dg_status s = dg_dataset_load_idx(ip, lp, &all);
    if (s) return fail("loading Fashion-MNIST", s);
    int32_t classes[5] = {0, 1, 2, 3, 4};
    s = dg_dataset_select(all, classes, 5, images / 5, &five);
    if (s) return fail("selecting classes", s);
    dg_model *m;
    s = dg_model_create(DG_ARCH_FMNIST_TEACHER, 1, 28, 28, 1, &m);
    if (s) return fail("creating the model", s);
    dg_train_opts o;
    dg_train_opts_init(&o, sizeof o);
    o.epochs = 1;
    o.batch_size = 64;
    /* Warm-up: primitive creation and first-touch of buffers. */
    dg_dataset *warm;
    s = dg_dataset_select(all, classes, 5, 64, &warm);
    if (!s) s = dg_model_train(m, warm, &o, NULL);
    if (s) return fail("warm-up", s);
    double t0 = now();
    s = dg_model_train(m, five, &o, NULL);
    double dt = now() - t0;
    if (s) return fail("training", s);
    uint32_t n;
    dg_dataset_count(five, &n);
    printf("{\"impl\": \"libdiffguard\", \"images\": %u, \"seconds\": %.3f, "
           "\"images_per_second\": %.1f}\n",
           n, dt, n / dt);
    dg_model_free(m);
    dg_dataset_free(all);
    dg_dataset_free(five);
    dg_dataset_free(warm);
    return 0;
}
