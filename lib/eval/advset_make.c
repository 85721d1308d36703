/* advset_make.c - an attack run from loaded models and data to an
 * adversarial set (dg_advset_make): the attempts chosen among the images
 * the Student gets right, a shard's share of them, the adaptive models
 * (whole models, and a guard's differentiators of the target classes made
 * whole with its Student), the attack, and the Student's class of each
 * result.  It lives here, not in attack, because it chooses attempts and
 * reads guards, which the attack room below them cannot. */
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack/advset.h"
#include "attack/attack.h"
#include "core/alloc.h"
#include "defence/ensemble.h"
#include "eval/classify.h"
#include "io/dataset.h"

/* Everything one run holds; n attempts of `pixels` floats each. */
typedef struct attack_set_run {
    uint32_t n;
    size_t pixels;
    dg_attempts at;
    float *sources, *targets, *adversarial, *dssim, *distance;
    uint8_t *within;
    int32_t *student_label;
    dg_model **models;      /* the adaptive models, references */
    int32_t *model_classes; /* per model: its target class; -1: all */
    uint32_t n_models;
} attack_set_run;

static void run_free(attack_set_run *r)
{
    free(r->at.source_index);
    free(r->at.source_label);
    free(r->at.target_index);
    free(r->at.target_label);
    free(r->sources);
    free(r->targets);
    free(r->adversarial);
    free(r->dssim);
    free(r->distance);
    free(r->within);
    free(r->student_label);
    for (uint32_t k = 0; k < r->n_models; k++) dg_model_unref(r->models[k]);
    free(r->models);
    free(r->model_classes);
}

static dg_status run_alloc(attack_set_run *r, uint32_t count)
{
    size_t images;
    if (!dg_mul_ok(count, r->pixels, &images))
        return dg_fail(DG_E_NOMEM, "%u attempts of %zu pixels", count,
                       r->pixels);
    dg_status st = DG_OK;
    void **arrays[] = {(void **)&r->at.source_index,
                       (void **)&r->at.source_label,
                       (void **)&r->at.target_index,
                       (void **)&r->at.target_label,
                       (void **)&r->dssim,
                       (void **)&r->distance,
                       (void **)&r->student_label};
    for (size_t k = 0; st == DG_OK && k < sizeof arrays / sizeof *arrays; k++)
        st = dg_alloc_array(arrays[k], count, 4, "attempts");
    float **images_of[] = {&r->sources, &r->targets, &r->adversarial};
    for (size_t k = 0; st == DG_OK && k < 3; k++)
        st = dg_alloc_array((void **)images_of[k], images, sizeof(float),
                            "attack images");
    if (st == DG_OK)
        st = dg_alloc_array((void **)&r->within, count, 1, "attempts");
    return st;
}

/* Keeps the attempts of shard `shard` of `shards`: whole batches of the
 * run, a contiguous share of them, so that every batch is attacked as in
 * the unsharded run and the parts join in shard order; the attack keys
 * each attempt's random numbers by its place in the whole run. */
static dg_status keep_shard(attack_set_run *r, const dg_advset_opts *o,
                            dg_attack_opts *attack)
{
    uint64_t batch = attack->batch_size;
    uint64_t batches = (r->n + batch - 1) / batch;
    if (o->shards > batches)
        return dg_fail(DG_E_INVALID_ARG,
                       "shard %u/%u: %u attempts make %llu batches of %llu; "
                       "use at most %llu shards",
                       o->shard, o->shards, r->n,
                       (unsigned long long)batches, (unsigned long long)batch,
                       (unsigned long long)batches);
    uint64_t first = o->shard * batches / o->shards * batch;
    uint64_t end = (o->shard + 1) * batches / o->shards * batch;
    if (end > r->n) end = r->n;
    uint32_t n = (uint32_t)(end - first);
    memmove(r->at.source_index, r->at.source_index + first,
            n * sizeof *r->at.source_index);
    memmove(r->at.source_label, r->at.source_label + first,
            n * sizeof *r->at.source_label);
    memmove(r->at.target_index, r->at.target_index + first,
            n * sizeof *r->at.target_index);
    memmove(r->at.target_label, r->at.target_label + first,
            n * sizeof *r->at.target_label);
    r->n = n;
    attack->first_index = (uint32_t)first;
    return DG_OK;
}

/* The chosen sources and target images as pixels in [0,1]; no target
 * image reads as zeros. */
static dg_status gather_pixels(attack_set_run *r, const dg_dataset *data)
{
    dg_status st = dg_dataset_make_batch(data, NULL, r->at.source_index,
                                         r->n, r->sources,
                                         r->n * r->pixels, NULL);
    for (uint32_t i = 0; st == DG_OK && i < r->n; i++)
        if (r->at.target_index[i] != UINT32_MAX)
            st = dg_dataset_make_batch(data, NULL, &r->at.target_index[i],
                                       1, r->targets + i * r->pixels,
                                       r->pixels, NULL);
    return st;
}

static dg_status add_model(attack_set_run *r, dg_model *m, int32_t cls)
{
    uint32_t n = r->n_models + 1;
    dg_model **models = realloc(r->models, n * sizeof *models);
    if (models) r->models = models;
    int32_t *classes = realloc(r->model_classes, n * sizeof *classes);
    if (classes) r->model_classes = classes;
    if (!models || !classes) {
        dg_model_unref(m);
        return dg_fail(DG_E_NOMEM, "adaptive models");
    }
    r->models[r->n_models] = m;
    r->model_classes[r->n_models++] = cls;
    return DG_OK;
}

/* The whole models for every attempt, then the first `members`
 * differentiators of each target class, made whole. */
static dg_status gather_models(attack_set_run *r, const dg_advset_opts *o)
{
    dg_status st = DG_OK;
    for (uint32_t k = 0; st == DG_OK && k < o->n_models; k++)
        st = add_model(r, dg_model_ref((dg_model *)o->models[k]), -1);
    const dg_ensemble *g = o->guard;
    if (st != DG_OK || !g) return st;
    uint32_t members = o->guard_members ? o->guard_members : g->members;
    if (members > g->variants)
        return dg_fail(DG_E_INVALID_ARG,
                       "guard_members %u: the guard has %u per class",
                       members, g->variants);
    for (uint32_t c = 0; st == DG_OK && c < g->classes; c++) {
        bool wanted = false;
        for (uint32_t i = 0; !wanted && i < r->n; i++)
            wanted = r->at.target_label[i] == (int32_t)c;
        for (uint32_t rank = 0; wanted && st == DG_OK && rank < members;
             rank++) {
            const dg_member *m = &g->per_class[c].members[rank];
            dg_model *whole;
            st = dg_model_join(g->student, (uint32_t)m->first, m->tail,
                               &whole);
            if (st == DG_OK) st = add_model(r, whole, (int32_t)c);
        }
    }
    if (st == DG_OK && r->n_models == 0)
        return dg_fail(DG_E_INVALID_ARG, "the guard has no members for the "
                                         "attempts' target classes");
    return st;
}

/* The attack itself, then the Student's class of each result. */
static dg_status attack(attack_set_run *r, const dg_model *teacher,
                        const dg_model *student, dg_attack_opts o,
                        const dg_advset_opts *so)
{
    bool mimicry = dg_attack_is_mimicry(o.method);
    const int32_t *labels = NULL;
    if (!mimicry)
        labels = o.targeted ? r->at.target_label : r->at.source_label;
    o.adaptive_models = (const dg_model *const *)r->models;
    o.adaptive_model_classes = r->model_classes;
    o.n_adaptive_models = r->n_models;
    if (mimicry && (r->n_models || so->stop_on_success))
        labels = r->at.target_label;
    if (so->stop_on_success) {
        o.check_model = student;
        /* Mimicry always has a target class: stop when it is reached. */
        if (mimicry) o.targeted = 1;
    }
    dg_attack_io io = {r->sources,     mimicry ? r->targets : NULL,
                       labels,         r->adversarial,
                       r->dssim,       r->distance,
                       r->within};
    DG_TRY(dg_attack_launch(mimicry ? teacher : student, &o, r->n, &io));
    return dg_classify(student, r->n, dg_fill_from_unit_pixels,
                       r->adversarial, r->student_label);
}

/* The set's description: the caller's, and a shard's mark. */
static dg_status describe(const dg_advset_opts *o, uint32_t count,
                          char *buf, size_t size)
{
    const char *text = o->description ? o->description : "";
    int len = o->shards ? snprintf(buf, size, "%s" DG_ADVSET_SHARD_MARK,
                                   text, o->shard, o->shards, count)
                        : snprintf(buf, size, "%s", text);
    if (len < 0 || (size_t)len > DG_ADVSET_DESCRIPTION_MAX)
        return dg_fail(DG_E_INVALID_ARG,
                       "the set's description (%zu bytes)%s is longer than "
                       "%u bytes",
                       strlen(text), o->shards ? " with the shard mark" : "",
                       DG_ADVSET_DESCRIPTION_MAX);
    return DG_OK;
}

static dg_status record(const attack_set_run *r, const dg_attack_opts *o,
                        const dg_shape *shape, const char *description,
                        dg_advset **out)
{
    dg_advset *set;
    DG_TRY(dg_advset_new(o, *shape, description, &set));
    dg_status st = DG_OK;
    for (uint32_t i = 0; st == DG_OK && i < r->n; i++) {
        int32_t target = r->at.target_label[i], got = r->student_label[i];
        dg_advset_item it = {
            .struct_size = sizeof it,
            .source_index = r->at.source_index[i],
            .source_label = r->at.source_label[i],
            .target_label = target,
            .student_label = got,
            .dssim = r->dssim[i],
            .feature_distance = r->distance[i],
            .within_budget = r->within[i],
            .success = r->within[i] && (target >= 0
                                            ? got == target
                                            : got != r->at.source_label[i]),
        };
        st = dg_advset_append(set, &it, r->adversarial + i * r->pixels);
    }
    if (st != DG_OK) {
        dg_advset_destroy(set);
        return st;
    }
    *out = set;
    return DG_OK;
}

dg_status dg_eval_make_advset(const dg_model *teacher, const dg_model *student,
                              const dg_dataset *data,
                              const dg_attack_opts *attack_opts,
                              const dg_advset_opts *o, dg_advset **out,
                              uint32_t *target_index)
{
    const dg_shape *in = &student->input;
    if (teacher->input.c != in->c || teacher->input.h != in->h ||
        teacher->input.w != in->w)
        return dg_fail(DG_E_SHAPE, "the Teacher takes %ux%ux%u images, the "
                                   "Student %ux%ux%u",
                       teacher->input.c, teacher->input.h, teacher->input.w,
                       in->c, in->h, in->w);
    uint32_t classes = (uint32_t)dg_shape_size(dg_model_output_shape(student));
    if (data->n_classes > classes)
        return dg_fail(DG_E_INVALID_ARG, "the data has %u classes, the "
                                         "Student %u outputs",
                       data->n_classes, classes);
    if (o->target_class >= (int32_t)classes)
        return dg_fail(DG_E_INVALID_ARG, "target_class %d: the Student has "
                                         "%u classes",
                       o->target_class, classes);
    char description[DG_ADVSET_DESCRIPTION_MAX + 1];
    DG_TRY(describe(o, o->count, description, sizeof description));
    dg_attack_opts a = *attack_opts;
    dg_attempt_opts pick = {.struct_size = sizeof pick,
                            .targeted = a.targeted,
                            .target_class = o->target_class,
                            .target_images = dg_attack_is_mimicry(a.method),
                            .seed = a.seed};
    attack_set_run r = {.n = o->count, .pixels = dg_shape_size(*in)};
    dg_status st = run_alloc(&r, o->count);
    if (st == DG_OK)
        st = dg_attempts_pick(student, data, &pick, o->count, &r.at);
    if (st == DG_OK && o->shards) st = keep_shard(&r, o, &a);
    if (st == DG_OK) st = gather_pixels(&r, data);
    if (st == DG_OK) st = gather_models(&r, o);
    if (st == DG_OK) st = attack(&r, teacher, student, a, o);
    if (st == DG_OK) st = record(&r, &a, in, description, out);
    if (st == DG_OK && target_index)
        memcpy(target_index, r.at.target_index,
               r.n * sizeof *target_index);
    run_free(&r);
    return st;
}
