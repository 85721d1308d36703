/* build.c - building a guard: check the options, prune and distil V
 * differentiators per Student class (hardened by harden.c, kept in the
 * work directory by work_dir.c), have rank.c score, rank and calibrate
 * them, and assemble the guard from their tails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "defence/builder.h"
#include "train/train.h"

static dg_status check_opts(const dg_ensemble_opts *o, int has_holdout)
{
    if (o->variants == 0 || o->variants > DG_MAX_MEMBERS ||
        o->members == 0 || o->members > o->variants)
        return dg_fail(DG_E_INVALID_ARG,
                       "%u variants and %u members (need 1 <= members <= "
                       "variants <= %d)",
                       o->variants, o->members, DG_MAX_MEMBERS);
    if (o->rule != DG_RULE_VOTES && o->rule != DG_RULE_SCORE)
        return dg_fail(DG_E_INVALID_ARG, "rule %d", o->rule);
    if (o->n_prune_layers == 0 || o->n_prune_layers > 4 || o->n_ratios == 0 ||
        o->n_ratios > 8)
        return dg_fail(DG_E_INVALID_ARG, "%u prune layers, %u ratios",
                       o->n_prune_layers, o->n_ratios);
    for (uint32_t k = 0; k < o->n_ratios; k++)
        if (!(o->ratios[k] > 0.0f && o->ratios[k] < 1.0f))
            return dg_fail(DG_E_INVALID_ARG, "ratio %g is not in (0, 1)",
                           (double)o->ratios[k]);
    if (!(o->target_frr > 0.0f && o->target_frr < 0.5f))
        return dg_fail(DG_E_INVALID_ARG, "target false rejection %g",
                       (double)o->target_frr);
    if (!has_holdout &&
        !(o->holdout_fraction > 0.0f && o->holdout_fraction < 1.0f))
        return dg_fail(DG_E_INVALID_ARG, "holdout fraction %g",
                       (double)o->holdout_fraction);
    if (o->prune_mode != DG_PRUNE_MOST && o->prune_mode != DG_PRUNE_LEAST)
        return dg_fail(DG_E_INVALID_ARG, "prune mode %d", o->prune_mode);
    if (o->harden &&
        (!(o->harden_epsilon > 0.0f && o->harden_epsilon <= 1.0f) ||
         !(o->harden_budget > 0.0f && o->harden_budget < 0.5f) ||
         o->harden_iterations == 0 || o->harden_iterations > 100000))
        return dg_fail(DG_E_INVALID_ARG,
                       "hardening epsilon %g, budget %g, %u iterations",
                       (double)o->harden_epsilon, (double)o->harden_budget,
                       o->harden_iterations);
    if (o->member_kind != DG_MEMBERS_PRUNED &&
        o->member_kind != DG_MEMBERS_ROBUST)
        return dg_fail(DG_E_INVALID_ARG, "member kind %d", o->member_kind);
    if (o->member_kind == DG_MEMBERS_ROBUST &&
        (!(o->member_width > 0.0f && o->member_width <= 4.0f) ||
         !(o->robust_epsilon >= 0.0f && o->robust_epsilon <= 1.0f) ||
         o->robust_epochs == 0 || o->robust_epochs > 100000 ||
         o->robust_steps < 1 || o->robust_steps > 100 ||
         o->robust_replays < 1 || o->robust_replays > 100))
        return dg_fail(DG_E_INVALID_ARG,
                       "robust members: width %g (need (0, 4]), epsilon %g "
                       "(need [0, 1]), %u epochs, %u steps and %u replays "
                       "(need 1 to 100)",
                       (double)o->member_width, (double)o->robust_epsilon,
                       o->robust_epochs, o->robust_steps, o->robust_replays);
    return DG_OK;
}

static int32_t last_conv(const dg_model *m)
{
    for (int32_t i = (int32_t)m->n_layers - 1; i >= 0; i--)
        if (m->layers[i].kind == DG_LAYER_CONV) return i;
    return -1;
}

static dg_status resolve_layers(builder *b)
{
    const dg_model *m = b->student;
    int32_t logits = dg_model_logits_layer(m);
    for (uint32_t k = 0; k < b->o->n_prune_layers; k++) {
        int32_t l = b->o->prune_layers[k];
        if (l == -1 && k == 0) l = last_conv(m);
        if (l < 0 || l >= logits ||
            (m->layers[l].kind != DG_LAYER_CONV &&
             m->layers[l].kind != DG_LAYER_LINEAR))
            return dg_fail(DG_E_INVALID_ARG,
                           "prune layer %d: need a convolution or linear "
                           "layer before the Student's output layer %d",
                           b->o->prune_layers[k], logits);
        b->layers[k] = l;
    }
    return DG_OK;
}

/* A data set of the samples idx[0..n-1] of ds. */
static dg_status take(const dg_dataset *ds, const uint32_t *idx, uint32_t n,
                      dg_dataset **out)
{
    DG_TRY(dg_dataset_alloc(n, ds->channels, ds->height, ds->width, out));
    for (uint32_t i = 0; i < n; i++) {
        memcpy(dg_dataset_sample(*out, i), dg_dataset_sample(ds, idx[i]),
               ds->sample_size);
        (*out)->labels[i] = ds->labels[idx[i]];
    }
    dg_dataset_count_classes(*out);
    return DG_OK;
}

/* Splits off a seeded, per-class share of the training data as held-out
 * data, so that every class keeps samples on both sides. */
static dg_status split(builder *b, const dg_dataset *train)
{
    uint32_t n = train->count, n_held = 0, n_fit = 0;
    uint32_t *held, *fit, *order;
    DG_TRY(dg_alloc_array((void **)&held, n, sizeof *held, "split"));
    dg_status s = dg_alloc_array((void **)&fit, n, sizeof *fit, "split");
    if (s == DG_OK) s = dg_alloc_array((void **)&order, n, sizeof *order, "split");
    if (s != DG_OK) {
        free(held);
        free(fit);
        return s;
    }
    dg_rng rng;
    dg_rng_seed(&rng, b->o->seed ^ 0x686f6c646f7574ull);
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    dg_rng_shuffle(&rng, order, n);
    for (int32_t c = 0; c < (int32_t)train->n_classes; c++) {
        uint32_t in_class = 0, taken = 0;
        for (uint32_t i = 0; i < n; i++) in_class += train->labels[i] == c;
        uint32_t want = (uint32_t)lroundf(b->o->holdout_fraction * in_class);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = order[k];
            if (train->labels[i] != c) continue;
            if (taken++ < want)
                held[n_held++] = i;
            else
                fit[n_fit++] = i;
        }
    }
    if (n_held == 0 || n_fit == 0)
        s = dg_fail(DG_E_INVALID_ARG,
                    "%u training samples are too few to hold some out", n);
    if (s == DG_OK) s = take(train, fit, n_fit, &b->own_fit);
    if (s == DG_OK) s = take(train, held, n_held, &b->own_held);
    free(held);
    free(fit);
    free(order);
    b->fit = b->own_fit;
    b->held = b->own_held;
    return s;
}

/* ---- differentiators --------------------------------------------------- */

static int robust(const builder *b)
{
    return b->o->member_kind == DG_MEMBERS_ROBUST;
}

/* Robust members are shared by the classes: their seed depends on the
 * variant alone. */
static void variant_plan(const builder *b, uint32_t c, uint32_t v,
                         int32_t *layer_index, float *ratio, uint64_t *seed)
{
    const dg_ensemble_opts *o = b->o;
    *layer_index = (int32_t)(v % o->n_prune_layers);
    *ratio = robust(b) ? 0.0f : o->ratios[(v / o->n_prune_layers) % o->n_ratios];
    *seed = o->seed * 1000003ull + (robust(b) ? 0 : c * 1009ull) + v;
}

/* Whether a member's training should give up: another member failed or
 * the caller stopped the build (b->stop). */
static int member_stopped(void *user, const char *stage, uint64_t done,
                          uint64_t total, double metric)
{
    (void)stage, (void)done, (void)total, (void)metric;
    return atomic_load((atomic_int *)user);
}

/* A member before its training: the model, its training options and the
 * data it distils on (with the Student's view of each sample, or NULL). */
typedef struct member_plan {
    dg_model *m;
    dg_train_opts t;
    const dg_dataset *data, *sources;
} member_plan;

/* Robust member v: the Student's structure at member_width from fresh
 * weights, trained on the fit data against its own fast adversarial
 * examples while distilling the Student's answers on the clean images.
 * Nothing of the public Teacher's weights survives in it, so an attack
 * tuned to the Teacher's features (or to a surrogate guard built from
 * them) has to move a model that was trained to resist such moves.
 *
 * Pruned member v of class c: the Student pruned for c, then the layers
 * after the pruned one (and it too if asked) fine-tuned with
 * cross-entropy plus distillation from the Student. */
static dg_status plan_member(builder *b, uint32_t c, uint32_t v,
                             member_plan *p)
{
    const dg_ensemble_opts *o = b->o;
    int32_t which;
    float ratio;
    uint64_t seed;
    variant_plan(b, c, v, &which, &ratio, &seed);
    dg_train_opts *t = &p->t;
    dg_train_defaults(t);
    t->epochs = o->epochs;
    t->batch_size = o->batch_size;
    t->learning_rate = o->learning_rate;
    t->seed = seed;
    t->distill_from = b->student;
    t->distill_alpha = o->distill_alpha;
    t->distill_temperature = o->distill_temperature;
    t->progress = member_stopped;
    t->progress_user = &b->stop;
    if (robust(b)) {
        t->epochs = o->robust_epochs;
        t->schedule = DG_SCHEDULE_COSINE;
        t->adversarial_epsilon = o->robust_epsilon;
        t->adversarial_steps = o->robust_steps;
        t->adversarial_replays = o->robust_replays;
        p->data = b->fit;
        p->sources = NULL;
        return dg_model_rescaled(b->student, o->member_width, seed, &p->m);
    }
    int32_t l = b->layers[which];
    DG_TRY(dg_pruner_make(b->pruners[which], c, ratio, o->prune_mode, &p->m));
    for (int32_t i = 0; i < (int32_t)p->m->n_layers; i++) {
        int trainable = i > l || (i == l && o->retrain_pruned);
        if (trainable)
            p->m->layers[i].flags &= ~DG_LAYER_FLAG_FROZEN;
        else
            p->m->layers[i].flags |= DG_LAYER_FLAG_FROZEN;
    }
    p->data = b->hardened ? b->hardened : b->fit;
    p->sources = b->hardened_sources;
    return DG_OK;
}

/* Makes model k (class k / V, variant k % V); a robust member of a class
 * after the first is the first class's, shared. */
static dg_status make_member(builder *b, uint32_t k)
{
    uint32_t V = b->o->variants, c = robust(b) ? 0 : k / V, v = k % V;
    if (robust(b) && k >= V) {
        b->models[k] = dg_model_ref(b->models[v]);
        return DG_OK;
    }
    member_plan p;
    DG_TRY(plan_member(b, c, v, &p));
    dg_status s = dg_train_run_cached(p.m, p.data, p.sources, &p.t,
                                      b->train_cache, NULL);
    if (s != DG_OK) {
        dg_model_destroy(p.m);
        return robust(b) ? dg_fail_context(s, "robust member %u", v)
                         : dg_fail_context(s, "differentiator %u of class %u",
                                           v, c);
    }
    b->models[k] = p.m;
    return DG_OK;
}

/* What every member's training computes alike (the pruned members' frozen
 * prefix, the Student's logits), run once before they train: with member
 * `first`'s structure and data. */
static dg_status make_train_cache(builder *b, uint32_t first)
{
    uint32_t V = b->o->variants;
    member_plan p;
    DG_TRY(plan_member(b, robust(b) ? 0 : first / V, first % V, &p));
    dg_status s = dg_train_cache_create(p.m, p.data, p.sources, &p.t,
                                        &b->train_cache);
    dg_model_unref(p.m);
    return s;
}

/* ---- assembly ----------------------------------------------------------- */

static void builder_free(builder *b)
{
    uint32_t n = b->classes * (b->o ? b->o->variants : 0);
    for (uint32_t k = 0; b->models && k < n; k++) dg_model_unref(b->models[k]);
    for (uint32_t c = 0; c < b->classes; c++) {
        if (b->clean) free(b->clean[c]);
        if (b->vote) free(b->vote[c]);
        if (b->prob) free(b->prob[c]);
    }
    for (int k = 0; k < 4; k++) dg_pruner_destroy(b->pruners[k]);
    free(b->models);
    free(b->clean);
    free(b->n_clean);
    free(b->vote);
    free(b->prob);
    free(b->held_pred);
    dg_dataset_destroy(b->own_fit);
    dg_dataset_destroy(b->own_held);
    dg_dataset_destroy(b->hardened);
    dg_dataset_destroy(b->hardened_sources);
    dg_train_cache_free(b->train_cache);
}

static dg_status builder_init(builder *b, const dg_model *student,
                              const dg_dataset *train,
                              const dg_dataset *holdout,
                              const dg_ensemble_opts *o)
{
    b->student = student;
    b->opts = *o;
    b->o = &b->opts;
    b->classes = (uint32_t)dg_shape_size(dg_model_output_shape(student));
    dg_guard_choose_defaults(&b->opts, train->count, holdout != NULL);
    DG_TRY(check_opts(b->o, holdout != NULL));
    DG_TRY(resolve_layers(b));
    if (holdout) {
        b->fit = train;
        b->held = holdout;
    } else {
        DG_TRY(split(b, train));
    }
    if (b->fit->n_classes > b->classes || b->held->n_classes > b->classes)
        return dg_fail(DG_E_SHAPE, "labels exceed the Student's %u classes",
                       b->classes);
    size_t cv = (size_t)b->classes * o->variants;
    DG_TRY(dg_alloc_array((void **)&b->models, cv, sizeof *b->models, "models"));
    DG_TRY(dg_alloc_array((void **)&b->clean, b->classes, sizeof *b->clean, "clean"));
    DG_TRY(dg_alloc_array((void **)&b->n_clean, b->classes, sizeof *b->n_clean,
                          "clean"));
    DG_TRY(dg_alloc_array((void **)&b->vote, b->classes, sizeof *b->vote, "votes"));
    DG_TRY(dg_alloc_array((void **)&b->prob, b->classes, sizeof *b->prob, "scores"));
    return dg_alloc_array((void **)&b->held_pred, b->held->count,
                          sizeof *b->held_pred, "predictions");
}

/* Reports the differentiators done; non-zero if the caller asks to stop. */
static int stopped(const dg_ensemble_opts *o, uint32_t done, uint32_t total)
{
    return o->progress &&
           o->progress(o->progress_user, "differentiators", done, total, NAN);
}

static dg_status build_stopped(void)
{
    return dg_fail(DG_E_CANCELLED, "guard build stopped; built "
                                   "differentiators are kept in the work "
                                   "directory");
}

int dg_builder_owns(const builder *b, uint32_t k)
{
    return b->shards == 0 || k % b->shards == b->shard;
}

/* The pruners measure the Student on the fit data: only needed when a
 * differentiator is left to make. */
static dg_status measure_pruners(builder *b)
{
    for (uint32_t k = 0; !robust(b) && k < b->o->n_prune_layers; k++) {
        int32_t measured = dg_measured_layer(b->student, b->layers[k]);
        DG_TRY(dg_pruner_new(b->student, measured, &b->pruners[k]));
        DG_TRY(dg_pruner_run(b->pruners[k], b->fit, NULL, NULL));
    }
    return DG_OK;
}

/* A merge's refusal: the jobs the work directory lacks, the first few by
 * name. */
static dg_status missing_parts(const builder *b, uint32_t total)
{
    uint32_t V = b->o->variants, missing = 0;
    char names[512] = "";
    size_t used = 0;
    for (uint32_t k = 0; k < total; k++) {
        if (b->models[k]) continue;
        if (missing++ < 8 && used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used,
                                     "%sclass %u variant %u",
                                     used ? ", " : "", k / V, k % V);
    }
    return dg_fail(DG_E_STATE,
                   "%s lacks %u of the %u differentiators (%s%s): run the "
                   "shards that build them, with the same options",
                   b->o->work_dir, missing, total, names,
                   missing > 8 ? ", ..." : "");
}

/* The members this process still makes, as the jobs of a worker pool. */
typedef struct member_jobs {
    builder *b;
    uint32_t *todo;        /* model indices */
    uint32_t base;         /* made before (the work directory's) */
    uint32_t done, owned;  /* reported so far, of owned (calling thread) */
    atomic_uint finished;  /* jobs finished (workers) */
} member_jobs;

static dg_status start_member_worker(void *user, void **state)
{
    (void)user, (void)state;
    dg_pool_single_threaded();
    return DG_OK;
}

static dg_status make_cache_job(void *user, void *state, uint32_t job)
{
    (void)state, (void)job;
    member_jobs *j = user;
    return make_train_cache(j->b, j->todo[0]);
}

static dg_status make_member_job(void *user, void *state, uint32_t job)
{
    (void)state;
    member_jobs *j = user;
    builder *b = j->b;
    uint32_t k = j->todo[job], V = b->o->variants;
    DG_TRY(make_member(b, k));
    if (b->o->work_dir) DG_TRY(dg_work_dir_save(b, k / V, k % V));
    atomic_fetch_add(&j->finished, 1);
    return DG_OK;
}

/* Reports each finished member; non-zero if the caller asks to stop. */
static int report_members(void *user)
{
    member_jobs *j = user;
    uint32_t now = j->base + atomic_load(&j->finished);
    if (now == j->done) return 0;
    j->done = now;
    return stopped(j->b->o, now, j->owned);
}

/* Makes the owned members not yet made, each on one thread and as many at
 * once as OpenMP would use threads (OMP_NUM_THREADS, else the cores): a
 * member's numbers then depend on nothing but the options, and small
 * members use the cores better than one member on all of them. */
static dg_status make_members(builder *b, uint32_t total, uint32_t done,
                              uint32_t owned)
{
    member_jobs j = {.b = b, .base = done, .done = done, .owned = owned};
    DG_TRY(dg_alloc_array((void **)&j.todo, total, sizeof *j.todo, "jobs"));
    uint32_t n = 0;
    for (uint32_t k = 0; k < total; k++)
        if (!b->models[k] && dg_builder_owns(b, k)) j.todo[n++] = k;
    dg_pool cache = {.n_jobs = n ? 1 : 0, .threads = 1,
                     .start = start_member_worker, .run = make_cache_job,
                     .user = &j, .stop = &b->stop};
    dg_pool members = {.n_jobs = n, .threads = dg_pool_openmp_threads(),
                       .start = start_member_worker, .run = make_member_job,
                       .report = report_members, .user = &j,
                       .stop = &b->stop};
    dg_status s = dg_pool_run(&cache);
    if (s == DG_OK) s = dg_pool_run(&members);
    /* The pool may end before it reported the last member. */
    if (s == DG_OK && report_members(&j)) s = DG_E_CANCELLED;
    free(j.todo);
    return s == DG_E_CANCELLED ? build_stopped() : s;
}

static dg_status build_members(builder *b, uint64_t student_hash)
{
    const dg_ensemble_opts *o = b->o;
    uint32_t V = o->variants, total = (robust(b) ? 1 : b->classes) * V;
    uint32_t done = 0, owned = 0;
    if (o->work_dir) DG_TRY(dg_work_dir_claim(b, student_hash, !b->merging));
    for (uint32_t k = 0; k < total; k++) {
        if (!dg_builder_owns(b, k)) continue;
        owned++;
        if (o->work_dir)
            DG_TRY(dg_work_dir_load(b, k / V, k % V));
        done += b->models[k] != NULL;
    }
    /* A merge too early must leave the temporaries of running shards. */
    if (b->merging && done < total) return missing_parts(b, total);
    if (o->work_dir) DG_TRY(dg_work_dir_clean(b));
    /* A build whose differentiators are all in the work directory skips
     * the measurements and the attacks. */
    if (done < owned) DG_TRY(measure_pruners(b));
    if (o->harden && !robust(b) && done < owned) DG_TRY(dg_builder_harden(b));
    /* With a work directory, the stage opens with the number reused from
     * it, so that a progress display can tell resumed work from new. */
    if (o->work_dir && stopped(o, done, owned)) return build_stopped();
    DG_TRY(make_members(b, total, done, owned));
    if (b->shards) return DG_OK; /* the merge assembles */
    for (uint32_t k = total; k < b->classes * V; k++) DG_TRY(make_member(b, k));
    return DG_OK;
}

/* Fills class c of g: members in rank order, as tails over the Student. */
static dg_status assemble_class(builder *b, dg_ensemble *g, uint32_t c,
                                const uint32_t *rank, const dg_member *scored)
{
    for (uint32_t r = 0; r < b->o->variants; r++) {
        uint32_t v = rank[r];
        dg_member *m = &g->per_class[c].members[r];
        *m = scored[v];
        DG_TRY(dg_model_slice(b->models[c * b->o->variants + v],
                              (uint32_t)m->first, &m->tail));
    }
    return DG_OK;
}

static dg_status assemble(builder *b, dg_ensemble *g)
{
    uint32_t V = b->o->variants;
    uint32_t **ranks;
    dg_member *scored;
    DG_TRY(dg_alloc_array((void **)&ranks, b->classes, sizeof *ranks, "ranks"));
    dg_status s = dg_alloc_array((void **)&scored, V, sizeof *scored, "members");
    for (uint32_t c = 0; c < b->classes && s == DG_OK; c++) {
        s = dg_alloc_array((void **)&ranks[c], V, sizeof **ranks, "ranks");
        if (s == DG_OK) s = dg_builder_score_class(b, c);
        for (uint32_t v = 0; v < V && s == DG_OK; v++) {
            int32_t which;
            dg_member *m = &scored[v];
            memset(m, 0, sizeof *m);
            variant_plan(b, c, v, &which, &m->ratio, &m->seed);
            /* A robust member reads the input: it is whole, pruned
             * nowhere (ratio 0).  A pruned one shares the Student's
             * layers up to where the tail can be cut off, its prune
             * layer or the start of the residual block around it. */
            m->prune_layer = robust(b) ? 0 : b->layers[which];
            m->first = (int32_t)dg_model_slice_start(b->student,
                                                     (uint32_t)m->prune_layer);
            m->mode = b->o->prune_mode;
            uint32_t agree = 0;
            for (uint32_t i = 0; i < b->n_clean[c]; i++)
                agree += b->vote[c][(size_t)i * V + v] == (int32_t)c;
            m->agreement = b->n_clean[c] ? (float)agree / b->n_clean[c] : 0;
            m->score = m->agreement;
        }
        if (s == DG_OK) {
            dg_builder_rank_class(b, scored, ranks[c]);
            s = assemble_class(b, g, c, ranks[c], scored);
        }
    }
    if (s == DG_OK) s = dg_builder_calibrate(b, g, ranks);
    for (uint32_t c = 0; c < b->classes; c++) free(ranks[c]);
    free(ranks);
    free(scored);
    return s;
}

static void describe(const builder *b, dg_ensemble *g)
{
    const dg_ensemble_opts *o = b->o;
    if (robust(b)) {
        snprintf(g->settings, sizeof g->settings,
                 "variants=%u members=%u rule=%s kind=robust width=%g "
                 "epsilon=%g steps=%u replays=%u epochs=%u batch=%u lr=%g "
                 "alpha=%g T=%g target_frr=%g seed=%llu",
                 o->variants, o->members,
                 o->rule == DG_RULE_VOTES ? "votes" : "score",
                 (double)o->member_width, (double)o->robust_epsilon,
                 o->robust_steps, o->robust_replays, o->robust_epochs,
                 o->batch_size, (double)o->learning_rate,
                 (double)o->distill_alpha, (double)o->distill_temperature,
                 (double)o->target_frr, (unsigned long long)o->seed);
        return;
    }
    int n = snprintf(g->settings, sizeof g->settings,
                     "variants=%u members=%u rule=%s mode=%s "
                     "retrain_pruned=%d epochs=%u batch=%u lr=%g alpha=%g "
                     "T=%g target_frr=%g seed=%llu prune_layers=",
                     o->variants, o->members,
                     o->rule == DG_RULE_VOTES ? "votes" : "score",
                     o->prune_mode == DG_PRUNE_MOST ? "most" : "least",
                     o->retrain_pruned, o->epochs, o->batch_size,
                     (double)o->learning_rate, (double)o->distill_alpha,
                     (double)o->distill_temperature, (double)o->target_frr,
                     (unsigned long long)o->seed);
    for (uint32_t k = 0; k < o->n_prune_layers && n > 0 &&
                         (size_t)n < sizeof g->settings;
         k++)
        n += snprintf(g->settings + n, sizeof g->settings - (size_t)n, "%s%d",
                      k ? "," : "", b->layers[k]);
    for (uint32_t k = 0; k < o->n_ratios && n > 0 &&
                         (size_t)n < sizeof g->settings;
         k++)
        n += snprintf(g->settings + n, sizeof g->settings - (size_t)n,
                      "%s%g", k ? "," : " ratios=", (double)o->ratios[k]);
    if (n > 0 && (size_t)n < sizeof g->settings && o->harden)
        snprintf(g->settings + n, sizeof g->settings - (size_t)n,
                 " harden=linf:%g,dssim:%g,iterations:%u",
                 (double)o->harden_epsilon, (double)o->harden_budget,
                 o->harden_iterations);
}

/* Builds (all jobs, or a shard's, or none when merging) and, unless a
 * shard, assembles the guard into *out. */
static dg_status make(builder *b, const dg_model *student,
                      const dg_dataset *train, const dg_dataset *holdout,
                      const dg_ensemble_opts *o, dg_ensemble **out)
{
    dg_ensemble *g = NULL;
    uint64_t hash = 0;
    dg_status s = builder_init(b, student, train, holdout, o);
    if (s == DG_OK) s = dg_model_hash(student, &hash);
    if (s == DG_OK) s = build_members(b, hash);
    if (s != DG_OK || b->shards) return s;
    s = dg_predict_all(student, b->held, b->held_pred, NULL, NULL);
    if (s == DG_OK) s = dg_ensemble_alloc(student, b->classes, o->variants, &g);
    if (s == DG_OK) s = assemble(b, g);
    if (s == DG_OK) {
        g->student_hash = hash;
        g->members = o->members;
        g->rule = o->rule;
        g->target_frr = o->target_frr;
        g->data_hash = dg_dataset_hash(b->fit);
        describe(b, g);
        /* The work directory stays: until the caller has stored the
         * guard, its differentiators are the only copy of the work
         * (dg_guard_work_dir_remove clears it afterwards). */
        *out = g;
    } else {
        dg_ensemble_destroy(g);
    }
    return s;
}

dg_status dg_ensemble_make(const dg_model *student, const dg_dataset *train,
                           const dg_dataset *holdout,
                           const dg_ensemble_opts *o, dg_ensemble **out)
{
    *out = NULL;
    builder b;
    memset(&b, 0, sizeof b);
    dg_status s = make(&b, student, train, holdout, o, out);
    builder_free(&b);
    return s;
}

static dg_status need_work_dir(const dg_ensemble_opts *o, const char *step)
{
    if (!o->work_dir || !o->work_dir[0])
        return dg_fail(DG_E_INVALID_ARG,
                       "a %s needs a work directory (work_dir), the one "
                       "the shards and the merge share",
                       step);
    return DG_OK;
}

dg_status dg_ensemble_make_shard(const dg_model *student,
                                 const dg_dataset *train,
                                 const dg_dataset *holdout,
                                 const dg_ensemble_opts *o, uint32_t shard,
                                 uint32_t shards)
{
    DG_TRY(need_work_dir(o, "sharded build"));
    if (shards == 0 || shard >= shards)
        return dg_fail(DG_E_INVALID_ARG, "shard %u of %u (need index < "
                                         "count)",
                       shard, shards);
    builder b;
    memset(&b, 0, sizeof b);
    b.shard = shard;
    b.shards = shards;
    dg_status s = make(&b, student, train, holdout, o, NULL);
    builder_free(&b);
    return s;
}

dg_status dg_ensemble_merge(const dg_model *student, const dg_dataset *train,
                            const dg_dataset *holdout,
                            const dg_ensemble_opts *o, dg_ensemble **out)
{
    *out = NULL;
    DG_TRY(need_work_dir(o, "merge"));
    builder b;
    memset(&b, 0, sizeof b);
    b.merging = 1;
    dg_status s = make(&b, student, train, holdout, o, out);
    builder_free(&b);
    return s;
}
