/* check_frozen.c - checks that a Student's frozen layers compute exactly
 * what the Teacher's layers of the same index compute, on every image of
 * an IDX set: the weights `dg transfer` copied stayed unchanged through
 * training.
 *
 * usage: check_frozen TEACHER STUDENT IMAGES LABELS
 * A layer fused with the next at inference (a convolution and its ReLU)
 * has no output of its own; the next layer's output covers it.  Exit 0
 * when at least one frozen layer was compared and each agrees; 1
 * otherwise, naming the first layer that differs. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "diffguard.h"

/* Rounding may differ if the backend picks other kernels; a training step
 * changes outputs by far more. */
static const double tolerance = 1e-5;

static int fail(const char *what, dg_status status)
{
    fprintf(stderr, "check_frozen: %s: %s: %s\n", what, dg_strerror(status),
            dg_last_error_detail());
    return 1;
}

/* Output of `layer` for the batch last run: n floats. */
static dg_status layer_output(dg_session *s, uint32_t layer,
                              const float **data, size_t *n)
{
    uint32_t batch, c, h, w;
    dg_status st = dg_session_output(s, (int32_t)layer, data, &batch, &c, &h,
                                     &w);
    *n = (size_t)batch * c * h * w;
    return st;
}

static bool agree(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= tolerance * (1 + fabs(a[i]))))
            return false;
    return true;
}

/* Runs both models on the batch and compares every frozen layer that has
 * an output.  Returns the number compared, or -1 after reporting a
 * difference or failure. */
static int compare(const dg_model *student, dg_session *ts, dg_session *ss,
                   const float *input, size_t len, uint32_t n)
{
    dg_status st = dg_session_run(ts, input, len, n);
    if (st == DG_OK) st = dg_session_run(ss, input, len, n);
    if (st != DG_OK) return fail("running the models", st), -1;
    uint32_t n_layers;
    dg_model_layer_count(student, &n_layers);
    int compared = 0;
    for (uint32_t i = 0; i < n_layers; i++) {
        dg_layer_info info = {.struct_size = sizeof info};
        dg_model_layer_info(student, i, &info);
        if (!(info.flags & DG_LAYER_FLAG_FROZEN)) continue;
        const float *a, *b;
        size_t na, nb;
        st = layer_output(ts, i, &a, &na);
        if (st == DG_E_STATE) continue; /* fused into the next layer */
        compared++;
        if (st == DG_OK) st = layer_output(ss, i, &b, &nb);
        if (st != DG_OK) return fail("reading a layer's output", st), -1;
        if (na != nb || !agree(a, b, na)) {
            fprintf(stderr, "check_frozen: frozen layer %u differs from the "
                            "teacher's\n", i);
            return -1;
        }
    }
    return compared;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fputs("usage: check_frozen TEACHER STUDENT IMAGES LABELS\n", stderr);
        return 2;
    }
    dg_model *teacher = NULL, *student = NULL;
    dg_dataset *ds = NULL;
    dg_session *ts = NULL, *ss = NULL;
    uint32_t n = 0, c, h, w;
    dg_status st = dg_model_load_file(argv[1], &teacher);
    if (st == DG_OK) st = dg_model_load_file(argv[2], &student);
    if (st == DG_OK) st = dg_dataset_load_idx(argv[3], argv[4], &ds);
    if (st == DG_OK) st = dg_dataset_count(ds, &n);
    if (st == DG_OK) st = dg_model_input_shape(student, &c, &h, &w);
    if (st == DG_OK) st = dg_session_create(teacher, n, &ts);
    if (st == DG_OK) st = dg_session_create(student, n, &ss);
    if (st != DG_OK) return fail("loading", st);

    size_t len = (size_t)n * c * h * w;
    float *input = malloc(len * sizeof *input);
    uint32_t *indices = malloc(n * sizeof *indices);
    if (!input || !indices) return fail("allocating", DG_E_NOMEM);
    for (uint32_t i = 0; i < n; i++) indices[i] = i;
    st = dg_dataset_batch(ds, student, indices, n, input, len, NULL);
    if (st != DG_OK) return fail("preparing the images", st);

    int compared = compare(student, ts, ss, input, len, n);
    if (compared == 0) fputs("check_frozen: no frozen layer to compare\n",
                             stderr);
    else if (compared > 0)
        printf("%d frozen layers agree on %u images\n", compared, n);

    free(input);
    free(indices);
    dg_session_free(ts);
    dg_session_free(ss);
    dg_dataset_free(ds);
    dg_model_free(teacher);
    dg_model_free(student);
    return compared > 0 ? 0 : 1;
}
