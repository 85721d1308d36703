/* test_threads.c - one guard shared by threads, each validating through
 * its own validator (dg_validate's contract: one thread at a time per
 * validator), at the same time as the others: every verdict must be the
 * one a single thread gets, bit for bit.  The guard and its Student are
 * the fuzz seeds (DG_FUZZ_DIR). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/file.h"
#include "core/rng.h"
#include "diffguard.h"
#include "suite.h"

enum {
    THREADS = 4,
    ROUNDS = 200,     /* passes over the inputs per thread */
    INPUTS = 32,
    BATCH = 4,
    PIXELS = 1 * 8 * 8 /* the Student's input */
};

static dg_model *student;
static dg_guard *guard;
static float inputs[INPUTS * PIXELS];
static dg_verdict serial[INPUTS], serial_labeled[INPUTS];
static int32_t labels[INPUTS];

static void require(dg_status s, const char *what)
{
    if (s == DG_OK) return;
    fprintf(stderr, "fixture: %s: %s: %s\n", what, dg_strerror(s),
            dg_last_error_detail());
    exit(1);
}

static void load_seed(const char *name, uint8_t **data, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", getenv("DG_FUZZ_DIR"), name);
    require(dg_file_read_all(path, (size_t)1 << 24, data, len), path);
}

/* Every input, batch by batch, through v: unlabelled, then with the
 * labels of the serial run. */
static dg_status validate_all(dg_validator *v, dg_verdict *out,
                              dg_verdict *out_labeled)
{
    for (uint32_t i = 0; i < INPUTS; i += BATCH) {
        for (uint32_t k = 0; k < BATCH; k++) {
            out[i + k] = (dg_verdict){.struct_size = sizeof(dg_verdict)};
            out_labeled[i + k] = out[i + k];
        }
        DG_TRY(dg_validate(v, inputs + i * PIXELS, BATCH * PIXELS, BATCH,
                           out + i));
        DG_TRY(dg_validate_labeled(v, inputs + i * PIXELS, BATCH * PIXELS,
                                   BATCH, labels + i, out_labeled + i));
    }
    return DG_OK;
}

static void setup(void)
{
    uint8_t *data;
    size_t len;
    load_seed("guard_student.dgm", &data, &len);
    require(dg_model_load_memory(data, len, &student), "student");
    free(data);
    load_seed("corpus/guard/pruned.dg", &data, &len);
    require(dg_guard_load_memory(data, len, student, &guard), "guard");
    free(data);
    dg_rng rng;
    dg_rng_seed(&rng, 11);
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        inputs[i] = (float)dg_rng_uniform(&rng);
    /* Labels that differ from the Student's answer now and then. */
    for (uint32_t i = 0; i < INPUTS; i++) labels[i] = (int32_t)(i % 3);
    dg_validator *v;
    require(dg_validator_create(guard, NULL, &v), "validator");
    require(validate_all(v, serial, serial_labeled), "serial validation");
    dg_validator_free(v);
}

static void teardown(void)
{
    dg_guard_free(guard);
    dg_model_free(student);
}

typedef struct worker {
    pthread_t thread;
    dg_status status;
    uint32_t mismatches;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    dg_validator *v;
    dg_verdict got[INPUTS], got_labeled[INPUTS];
    w->status = dg_validator_create(guard, NULL, &v);
    for (int r = 0; r < ROUNDS && w->status == DG_OK; r++) {
        w->status = validate_all(v, got, got_labeled);
        w->mismatches += memcmp(got, serial, sizeof got) != 0;
        w->mismatches += memcmp(got_labeled, serial_labeled,
                                sizeof got_labeled) != 0;
    }
    dg_validator_free(v);
    return NULL;
}

START_TEST(threads_validate_as_one_thread)
{
    /* Verdicts of both kinds, or equality would prove little. */
    uint32_t accepted = 0;
    for (uint32_t i = 0; i < INPUTS; i++)
        accepted += (uint32_t)(serial[i].accepted + serial_labeled[i].accepted);
    ck_assert_msg(accepted > 0 && accepted < 2 * INPUTS,
                  "%u of %d serial verdicts accept", accepted, 2 * INPUTS);
    worker w[THREADS] = {0};
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&w[t].thread, NULL, work, &w[t]), 0);
    for (int t = 0; t < THREADS; t++) {
        ck_assert_int_eq(pthread_join(w[t].thread, NULL), 0);
        ck_assert_msg(w[t].status == DG_OK, "thread %d: %s", t,
                      dg_strerror(w[t].status));
        ck_assert_msg(w[t].mismatches == 0,
                      "thread %d: %u of %d passes differ from serial", t,
                      w[t].mismatches, 2 * ROUNDS);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, threads_validate_as_one_thread);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_NOFORK);
}
