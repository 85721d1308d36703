/* run.c - runs every input once through the guard's whole pool and
 * feature squeezing, keeping what each defence needs to decide; rows.c
 * derives every row from those outputs, so that all rows judge exactly the
 * same inputs. */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attack/advset.h"
#include "core/alloc.h"
#include "defence/ensemble.h"
#include "eval/classify.h"
#include "eval/squeeze.h"
#include "io/dataset.h"
#include "io/image.h"

/* What one batch of inputs needs while it is judged. */
typedef struct eval_batch {
    const dg_ensemble *guard;
    const dg_dataset *clean;
    const dg_advset *const *sets;
    dg_eval *e;
    size_t sample_len;
    float *input;            /* BATCH preprocessed inputs */
    const uint8_t **pixels;  /* BATCH borrowed 8-bit images */
    int32_t *labels;         /* BATCH copies of one class, for the pool */
    dg_verdict *verdicts;    /* BATCH */
    uint32_t *pool_votes;    /* BATCH x classes */
    float *squeeze;          /* BATCH */
    dg_validator *all;       /* M = V, the guard's own rule */
    dg_squeezer squeezer;
} eval_batch;

enum { BATCH = DG_EVAL_BATCH };

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What the clean data and the sets tell of each input: its true (or
 * source) class, the attacker's target and whether the attack met its
 * budget. */
static dg_status describe_inputs(const eval_batch *b)
{
    dg_eval *e = b->e;
    dg_eval_sample *in = e->inputs;
    for (uint32_t i = 0; i < e->n_clean; i++) {
        in[i].truth = b->clean->labels[i];
        if ((uint32_t)in[i].truth >= e->classes)
            return dg_fail(DG_E_INVALID_ARG,
                           "clean sample %u has class %d, but the Student "
                           "has %u", i, in[i].truth, e->classes);
        in[i].target = -1;
    }
    for (uint32_t s = 0; s < e->n_sets; s++) {
        const dg_advset *set = b->sets[s];
        for (uint32_t k = e->set_first[s]; k < e->set_first[s + 1]; k++) {
            const dg_advset_item *it = &set->items[k - e->set_first[s]];
            in[k].truth = it->source_label;
            in[k].target = it->target_label;
            /* Mimicry always aims at a target image's class; the mode
             * says whether the attacker wanted that class or any other. */
            in[k].targeted = set->settings.targeted && it->target_label >= 0;
            in[k].within_budget = it->within_budget != 0;
            if (it->source_label < 0 ||
                (uint32_t)it->source_label >= e->classes ||
                it->target_label >= (int32_t)e->classes)
                return dg_fail(DG_E_INVALID_ARG,
                               "set %s: attempt %u has classes %d -> %d, "
                               "but the Student has %u",
                               e->set_names[s], k - e->set_first[s],
                               it->source_label, it->target_label,
                               e->classes);
        }
    }
    return DG_OK;
}

/* The 8-bit pixels of input i: a clean sample or a set's attempt. */
static const uint8_t *input_pixels(const eval_batch *b, uint32_t i)
{
    const dg_eval *e = b->e;
    if (i < e->n_clean) return dg_dataset_sample(b->clean, i);
    uint32_t s = 0;
    while (i >= e->set_first[s + 1]) s++;
    const dg_advset *set = b->sets[s];
    return set->data + (size_t)(i - e->set_first[s]) * set->pixels;
}

/* Inputs first..first+n-1 as model input and pixels. */
static void load_inputs(eval_batch *b, uint32_t first, uint32_t n)
{
    const dg_preprocess *pre = &b->guard->student->pre;
    for (uint32_t i = 0; i < n; i++) {
        b->pixels[i] = input_pixels(b, first + i);
        dg_u8_chw_to_input(pre, b->pixels[i], b->input + i * b->sample_len);
    }
}

/* dg_classify's view of every input, through m's own preprocessing. */
static void fill_from_inputs(const void *batch, const dg_model *m,
                             uint32_t first, uint32_t n, float *input)
{
    size_t sample = dg_shape_size(m->input);
    for (uint32_t i = 0; i < n; i++)
        dg_u8_chw_to_input(&m->pre, input_pixels(batch, first + i),
                           input + i * sample);
}

/* The patched Student's class for every input. */
static dg_status judge_by_patch(const eval_batch *b, const dg_model *patched)
{
    dg_eval *e = b->e;
    int32_t *labels;
    DG_TRY(dg_alloc_array((void **)&labels, e->n_inputs + 1, sizeof *labels,
                          "patched Student's classes"));
    dg_status st = dg_classify(patched, e->n_inputs, fill_from_inputs, b,
                               labels);
    for (uint32_t i = 0; st == DG_OK && i < e->n_inputs; i++)
        e->inputs[i].patch_label = labels[i];
    free(labels);
    return st;
}

/* Phase 1 and every ranked member of the predicted class, decided as
 * dg_validate decides at every M and rule. */
static dg_status judge_by_guard(eval_batch *b, uint32_t first, uint32_t n)
{
    dg_eval *e = b->e;
    uint32_t v = e->variants;
    DG_TRY(dg_validator_run(b->all, b->input, n, NULL, b->verdicts));
    for (uint32_t i = 0; i < n; i++) {
        const dg_verdict *vd = &b->verdicts[i];
        e->inputs[first + i].label = vd->label;
        for (uint32_t k = 0; k < 2 * v; k++) {
            uint32_t members = k % v + 1;
            int32_t rule = k < v ? DG_RULE_VOTES : DG_RULE_SCORE;
            dg_decision d = dg_guard_decide(b->guard, vd->label, members, rule,
                                            vd->member_label,
                                            vd->member_score);
            size_t at = (size_t)(first + i) * 2 * v + k;
            e->guard_accepted[at] = d.accepted;
            e->guard_suspicion[at] = rule == DG_RULE_VOTES
                                         ? (float)(members - d.votes)
                                         : 1.0f - d.score;
        }
    }
    return DG_OK;
}

/* The whole pool without phase 1: every member of every class votes for
 * its own argmax; the plurality wins. */
static dg_status judge_by_pool(eval_batch *b, uint32_t first, uint32_t n)
{
    dg_eval *e = b->e;
    memset(b->pool_votes, 0, (size_t)n * e->classes * sizeof *b->pool_votes);
    for (uint32_t c = 0; c < e->classes; c++) {
        for (uint32_t i = 0; i < n; i++) b->labels[i] = (int32_t)c;
        DG_TRY(dg_validator_run(b->all, b->input, n, b->labels, b->verdicts));
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t m = 0; m < e->variants; m++)
                b->pool_votes[(size_t)i * e->classes +
                              (uint32_t)b->verdicts[i].member_label[m]]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *votes = b->pool_votes + (size_t)i * e->classes;
        uint32_t best = 0;
        for (uint32_t k = 1; k < e->classes; k++)
            if (votes[k] > votes[best]) best = k;
        dg_eval_sample *in = &e->inputs[first + i];
        in->pool_label = (int32_t)best;
        in->pool_share = (float)votes[best] / (e->classes * e->variants);
    }
    return DG_OK;
}

static dg_status judge_all(eval_batch *b, const dg_eval_opts *o)
{
    dg_eval *e = b->e;
    for (uint32_t first = 0; first < e->n_inputs;) {
        /* A batch never crosses from one source into the next. */
        uint32_t end = e->n_clean;
        for (uint32_t s = 0; s < e->n_sets; s++)
            if (first >= e->set_first[s]) end = e->set_first[s + 1];
        uint32_t n = end - first < BATCH ? end - first : BATCH;
        load_inputs(b, first, n);
        DG_TRY(judge_by_guard(b, first, n));
        DG_TRY(judge_by_pool(b, first, n));
        DG_TRY(dg_squeezer_score(&b->squeezer, b->pixels, n, b->squeeze));
        for (uint32_t i = 0; i < n; i++)
            e->inputs[first + i].squeeze_score = b->squeeze[i];
        first += n;
        if (o->progress && o->progress(o->progress_user, "evaluate", first,
                                       e->n_inputs, NAN))
            return dg_fail(DG_E_CANCELLED, "evaluation stopped after %u of "
                           "%u inputs", first, e->n_inputs);
    }
    return DG_OK;
}

/* ------------------------------------------------------------------------ */
/* Setting up and timing                                                    */
/* ------------------------------------------------------------------------ */

static dg_status allocate(dg_eval *e, const eval_batch *b,
                          const char *const *names)
{
    e->n_clean = b->clean->count;
    DG_TRY(dg_alloc_array((void **)&e->set_first, e->n_sets + 1,
                          sizeof *e->set_first, "evaluation"));
    DG_TRY(dg_alloc_array((void **)&e->set_names, e->n_sets + 1,
                          sizeof *e->set_names, "evaluation"));
    DG_TRY(dg_alloc_array((void **)&e->set_descriptions, e->n_sets + 1,
                          sizeof *e->set_descriptions, "evaluation"));
    uint64_t total = e->n_clean;
    for (uint32_t s = 0; s < e->n_sets; s++) {
        e->set_names[s] = strdup(names[s]);
        e->set_descriptions[s] = strdup(b->sets[s]->description);
        if (!e->set_names[s] || !e->set_descriptions[s])
            return dg_fail(DG_E_NOMEM, "evaluation: copying a set name");
        e->set_first[s] = (uint32_t)total;
        total += b->sets[s]->count;
    }
    if (total > UINT32_MAX / 2)
        return dg_fail(DG_E_INVALID_ARG, "%llu inputs: too many",
                       (unsigned long long)total);
    e->n_inputs = e->set_first[e->n_sets] = (uint32_t)total;
    size_t decisions = (total + 1) * 2 * e->variants;
    DG_TRY(dg_alloc_array((void **)&e->inputs, total + 1, sizeof *e->inputs,
                          "evaluation"));
    DG_TRY(dg_alloc_array((void **)&e->guard_accepted, decisions,
                          sizeof *e->guard_accepted, "evaluation"));
    DG_TRY(dg_alloc_array((void **)&e->guard_suspicion, decisions,
                          sizeof *e->guard_suspicion, "evaluation"));
    e->n_rows = 2 * e->variants + 4 + e->patched;
    DG_TRY(dg_alloc_array((void **)&e->rows, e->n_rows, sizeof *e->rows,
                          "evaluation"));
    for (uint32_t k = 0; k < e->n_rows; k++) {
        dg_eval_line *row = &e->rows[k];
        size_t n = e->n_sets + 1;
        DG_TRY(dg_alloc_array((void **)&row->counts, n, sizeof *row->counts,
                              "evaluation"));
        DG_TRY(dg_alloc_array((void **)&row->auc, n, sizeof *row->auc,
                              "evaluation"));
        DG_TRY(dg_alloc_array((void **)&row->tpr5, n, sizeof *row->tpr5,
                              "evaluation"));
        DG_TRY(dg_alloc_array((void **)&row->tpr1, n, sizeof *row->tpr1,
                              "evaluation"));
    }
    return DG_OK;
}

static dg_status open_batch(eval_batch *b, const dg_eval_opts *o)
{
    dg_eval *e = b->e;
    b->sample_len = dg_shape_size(b->guard->student->input);
    DG_TRY(dg_alloc_array((void **)&b->input, BATCH * b->sample_len,
                          sizeof *b->input, "evaluation"));
    DG_TRY(dg_alloc_array((void **)&b->pixels, BATCH, sizeof *b->pixels,
                          "evaluation"));
    DG_TRY(dg_alloc_array((void **)&b->labels, BATCH, sizeof *b->labels,
                          "evaluation"));
    DG_TRY(dg_alloc_array((void **)&b->verdicts, BATCH, sizeof *b->verdicts,
                          "evaluation"));
    DG_TRY(dg_alloc_array((void **)&b->pool_votes,
                          (size_t)BATCH * e->classes, sizeof *b->pool_votes,
                          "evaluation"));
    DG_TRY(dg_alloc_array((void **)&b->squeeze, BATCH, sizeof *b->squeeze,
                          "evaluation"));
    for (uint32_t i = 0; i < BATCH; i++)
        b->verdicts[i].struct_size = sizeof b->verdicts[i];
    DG_TRY(dg_validator_make(b->guard, e->variants, e->rule, BATCH,
                             &b->all));
    return dg_squeezer_init(&b->squeezer, b->guard->student, o->squeeze_bits,
                            BATCH);
}

static void close_batch(eval_batch *b)
{
    dg_validator_destroy(b->all);
    dg_squeezer_free(&b->squeezer);
    free(b->input);
    free(b->pixels);
    free(b->labels);
    free(b->verdicts);
    free(b->pool_votes);
    free(b->squeeze);
}

/* Times the guard as a host would run it (default M and rule) on the
 * clean inputs, and checks that its validator decides as the one that
 * consulted every member did at the same M and rule. */
static dg_status time_guard(eval_batch *b)
{
    dg_eval *e = b->e;
    dg_validator *v;
    DG_TRY(dg_validator_make(b->guard, e->members, e->rule, BATCH, &v));
    uint32_t row = (e->rule == DG_RULE_SCORE ? e->variants : 0) +
                   e->members - 1;
    dg_status st = DG_OK;
    double seconds = 0;
    for (uint32_t first = 0; first < e->n_clean && st == DG_OK;
         first += BATCH) {
        uint32_t n = e->n_clean - first < BATCH ? e->n_clean - first : BATCH;
        load_inputs(b, first, n);
        double start = monotonic_seconds();
        st = dg_validator_run(v, b->input, n, NULL, b->verdicts);
        seconds += monotonic_seconds() - start;
        for (uint32_t i = 0; st == DG_OK && i < n; i++)
            if (!b->verdicts[i].accepted !=
                !e->guard_accepted[(size_t)(first + i) * 2 * e->variants +
                                   row])
                st = dg_fail(DG_E_INTERNAL,
                             "clean input %u: validators with %u and %u "
                             "members disagree at M = %u",
                             first + i, e->members, e->variants, e->members);
    }
    dg_validator_destroy(v);
    e->latency_ms = e->n_clean ? 1e3 * seconds / e->n_clean : NAN;
    return st;
}

static dg_status check_shapes(const eval_batch *b, const dg_model *patched)
{
    const dg_model *student = b->guard->student;
    const dg_shape *in = &student->input;
    if (patched &&
        (patched->input.c != in->c || patched->input.h != in->h ||
         patched->input.w != in->w ||
         dg_shape_size(dg_model_output_shape(patched)) !=
             dg_shape_size(dg_model_output_shape(student))))
        return dg_fail(DG_E_SHAPE, "the patched Student's input or classes "
                                   "differ from the Student's");
    if (b->clean->channels != in->c || b->clean->height != in->h ||
        b->clean->width != in->w)
        return dg_fail(DG_E_SHAPE, "clean samples are %ux%ux%u; the Student "
                       "takes %ux%ux%u", b->clean->channels,
                       b->clean->height, b->clean->width, in->c, in->h,
                       in->w);
    for (uint32_t s = 0; s < b->e->n_sets; s++) {
        const dg_shape *sh = &b->sets[s]->shape;
        if (sh->c != in->c || sh->h != in->h || sh->w != in->w)
            return dg_fail(DG_E_SHAPE, "set %u holds %ux%ux%u images; the "
                           "Student takes %ux%ux%u", s, sh->c, sh->h, sh->w,
                           in->c, in->h, in->w);
    }
    return DG_OK;
}

static dg_status evaluate(dg_eval *e, eval_batch *b, const char *const *names,
                          const dg_eval_opts *o)
{
    DG_TRY(check_shapes(b, o->patched_student));
    DG_TRY(allocate(e, b, names));
    DG_TRY(describe_inputs(b));
    DG_TRY(open_batch(b, o));
    DG_TRY(judge_all(b, o));
    if (o->patched_student) DG_TRY(judge_by_patch(b, o->patched_student));
    DG_TRY(time_guard(b));
    uint32_t correct = 0;
    for (uint32_t i = 0; i < e->n_clean; i++)
        correct += e->inputs[i].label == e->inputs[i].truth;
    e->student_accuracy = e->n_clean ? (double)correct / e->n_clean : NAN;
    return dg_eval_fill_rows(e);
}

void dg_eval_defaults(dg_eval_opts *o)
{
    *o = (dg_eval_opts){.struct_size = sizeof *o,
                        .squeeze_bits = DG_EVAL_SQUEEZE_DEFAULT_BITS,
                        .baseline_fpr = 0.05};
}

dg_status dg_eval_make(const dg_ensemble *guard, const dg_dataset *clean,
                       const dg_advset *const *sets,
                       const char *const *names, uint32_t n_sets,
                       const dg_eval_opts *o, dg_eval **out)
{
    *out = NULL;
    dg_eval *e;
    DG_TRY(dg_alloc_array((void **)&e, 1, sizeof *e, "evaluation"));
    e->n_sets = n_sets;
    e->classes = guard->classes;
    e->variants = guard->variants;
    e->members = guard->members;
    e->rule = guard->rule;
    e->baseline_fpr = o->baseline_fpr;
    e->squeeze_bits = o->squeeze_bits;
    e->patched = o->patched_student != NULL;
    eval_batch b = {.guard = guard, .clean = clean, .sets = sets, .e = e};
    dg_status st = evaluate(e, &b, names, o);
    close_batch(&b);
    if (st != DG_OK) {
        dg_eval_destroy(e);
        return st;
    }
    *out = e;
    return DG_OK;
}

void dg_eval_destroy(dg_eval *e)
{
    if (!e) return;
    for (uint32_t k = 0; e->rows && k < e->n_rows; k++) {
        free(e->rows[k].counts);
        free(e->rows[k].auc);
        free(e->rows[k].tpr5);
        free(e->rows[k].tpr1);
    }
    for (uint32_t s = 0; e->set_names && s < e->n_sets; s++)
        free(e->set_names[s]);
    for (uint32_t s = 0; e->set_descriptions && s < e->n_sets; s++)
        free(e->set_descriptions[s]);
    free(e->set_names);
    free(e->set_descriptions);
    free(e->rows);
    free(e->set_first);
    free(e->inputs);
    free(e->guard_accepted);
    free(e->guard_suspicion);
    free(e);
}
