/* attempts.c - which images an attack run attacks: sources in a seeded
 * random order of the samples the Student classifies correctly, each
 * paired with a target class and, for mimicry, a target image of that
 * class that the Student also gets right. */
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "eval/classify.h"
#include "io/dataset.h"

/* Correctly classified samples, listed per class. */
typedef struct correct_pool {
    uint32_t *index; /* grouped by class */
    uint32_t *start; /* classes + 1: where each class begins */
    uint32_t *count; /* classes */
    uint32_t classes;
} correct_pool;

static void free_pool(correct_pool *pool)
{
    free(pool->index);
    free(pool->start);
    free(pool->count);
}

static dg_status build_pool(const dg_model *student, const dg_dataset *ds,
                            correct_pool *pool)
{
    int32_t *prediction;
    uint32_t n = ds->count;
    DG_TRY(dg_alloc_array((void **)&prediction, n ? n : 1, sizeof *prediction,
                          "attempts"));
    dg_status st = dg_classify(student, n, dg_fill_from_dataset, ds,
                               prediction);
    if (st == DG_OK)
        st = dg_alloc_array((void **)&pool->index, n ? n : 1,
                            sizeof *pool->index, "attempts");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&pool->start, pool->classes + 1,
                            sizeof *pool->start, "attempts");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&pool->count, pool->classes,
                            sizeof *pool->count, "attempts");
    for (int pass = 0; st == DG_OK && pass < 2; pass++) {
        /* First count each class, then place the samples. */
        for (uint32_t i = 0; i < n; i++) {
            int32_t label = ds->labels[i];
            if (label != prediction[i]) continue;
            if (pass == 0)
                pool->start[label + 1]++;
            else
                pool->index[pool->start[label] + pool->count[label]++] = i;
        }
        for (uint32_t k = 0; pass == 0 && k < pool->classes; k++)
            pool->start[k + 1] += pool->start[k];
    }
    free(prediction);
    return st;
}

/* The target class of attempt i: the given one, each class in turn, or a
 * random one other than the source's; -1 if there is none.  Only classes
 * with correctly classified samples qualify. */
static int32_t pick_target(const dg_attempt_opts *o, const correct_pool *pool,
                           uint32_t i, int32_t source, dg_rng *rng)
{
    if (o->targeted && o->target_class >= 0) return o->target_class;
    bool targeted = o->targeted != 0;
    uint32_t usable = 0;
    for (uint32_t k = 0; k < pool->classes; k++)
        usable += pool->count[k] > 0 && (targeted || (int32_t)k != source);
    if (usable == 0) return -1;
    uint32_t pick = targeted ? i % usable : dg_rng_below(rng, usable);
    for (uint32_t k = 0; k < pool->classes; k++)
        if (pool->count[k] > 0 && (targeted || (int32_t)k != source) &&
            pick-- == 0)
            return (int32_t)k;
    return -1;
}

static dg_status pick_attempts(const dg_dataset *ds, const dg_attempt_opts *o,
                               const correct_pool *pool, uint32_t count,
                               dg_attempts *out)
{
    uint32_t total = pool->start[pool->classes];
    uint32_t *order;
    DG_TRY(dg_alloc_array((void **)&order, total ? total : 1, sizeof *order,
                          "attempts"));
    memcpy(order, pool->index, total * sizeof *order);
    dg_rng rng;
    dg_rng_seed(&rng, o->seed);
    dg_rng_shuffle(&rng, order, total);
    /* An untargeted FGSM or PGD has no target: it leaves the source. */
    bool has_target = o->target_images || o->targeted;
    uint32_t made = 0;
    for (uint32_t k = 0; k < total && made < count; k++) {
        int32_t source = ds->labels[order[k]];
        int32_t target = pick_target(o, pool, made, source, &rng);
        if (target < 0 || source == target) continue; /* next source */
        out->source_index[made] = order[k];
        out->source_label[made] = source;
        out->target_label[made] = has_target ? target : -1;
        out->target_index[made] =
            o->target_images
                ? pool->index[pool->start[target] +
                              dg_rng_below(&rng, pool->count[target])]
                : UINT32_MAX;
        made++;
    }
    free(order);
    if (made < count)
        return dg_fail(DG_E_INVALID_ARG,
                       "only %u usable sources for %u attempts: the Student "
                       "classifies too few samples correctly", made, count);
    return DG_OK;
}

dg_status dg_attempts_pick(const dg_model *student, const dg_dataset *ds,
                           const dg_attempt_opts *o, uint32_t count,
                           dg_attempts *out)
{
    correct_pool pool = {.classes = (uint32_t)dg_shape_size(
                             student->layers[student->n_layers - 1].out)};
    if (o->target_class >= (int32_t)pool.classes)
        return dg_fail(DG_E_INVALID_ARG,
                       "target class %d: the Student has %u classes",
                       o->target_class, pool.classes);
    for (uint32_t i = 0; i < ds->count; i++)
        if ((uint32_t)ds->labels[i] >= pool.classes)
            return dg_fail(DG_E_INVALID_ARG,
                           "sample %u has class %d, but the Student has %u",
                           i, ds->labels[i], pool.classes);
    dg_status st = build_pool(student, ds, &pool);
    if (st == DG_OK && o->target_class >= 0 &&
        pool.count[o->target_class] == 0)
        st = dg_fail(DG_E_INVALID_ARG,
                     "target class %d: the Student classifies no sample of "
                     "it correctly", o->target_class);
    if (st == DG_OK) st = pick_attempts(ds, o, &pool, count, out);
    free_pool(&pool);
    return st;
}
