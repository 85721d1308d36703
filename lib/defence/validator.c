/* validator.c - two-phase validation.  Phase 1 runs the Student (or takes
 * the host's labels and runs only the shared prefix); phase 2 runs the
 * first M differentiators of each predicted class on the Student's prefix
 * output of the samples predicted as that class, and votes or scores.
 *
 * Everything is allocated at creation.  Sub-batches are padded to a power
 * of two so that each executor sees at most log2(max_batch) + 1 batch sizes,
 * all of which its plan cache keeps: after warm-up nothing is allocated. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/vec.h"
#include "defence/ensemble.h"
#include "nn/exec.h"

struct dg_validator {
    dg_ensemble *g;       /* a reference */
    uint32_t members, cap;
    int32_t rule;
    int32_t prefix_end;   /* last Student layer the tails read, -1: none */
    dg_exec *student;
    dg_exec **tails;      /* classes x members, by rank */
    float *gather;        /* cap x the largest tail input */
    uint32_t *rows;       /* samples of the class being validated */
    int32_t *labels;
};

void dg_validator_destroy(dg_validator *v)
{
    if (!v) return;
    for (uint32_t k = 0; v->tails && k < v->g->classes * v->members; k++)
        dg_exec_free(v->tails[k]);
    free(v->tails);
    dg_exec_free(v->student);
    dg_free_aligned(v->gather);
    free(v->rows);
    free(v->labels);
    dg_ensemble_unref(v->g);
    free(v);
}

static dg_status create_tails(dg_validator *v)
{
    dg_ensemble *g = v->g;
    size_t largest = 0;
    v->prefix_end = -1;
    DG_TRY(dg_alloc_array((void **)&v->tails, (size_t)g->classes * v->members,
                          sizeof *v->tails, "validator"));
    for (uint32_t c = 0; c < g->classes; c++)
        for (uint32_t r = 0; r < v->members; r++) {
            dg_member *m = &g->per_class[c].members[r];
            DG_TRY(dg_exec_create(m->tail, v->cap, 0,
                                  &v->tails[c * v->members + r]));
            size_t in = dg_shape_size(m->tail->input);
            if (in > largest) largest = in;
            if (m->first - 1 > v->prefix_end) v->prefix_end = m->first - 1;
        }
    return dg_alloc_aligned(&v->gather, v->cap * largest, "validator");
}

dg_status dg_validator_make(const dg_ensemble *g, uint32_t members,
                            int32_t rule, uint32_t cap, dg_validator **out)
{
    *out = NULL;
    dg_validator *v;
    DG_TRY(dg_alloc_array((void **)&v, 1, sizeof *v, "validator"));
    v->g = dg_ensemble_ref((dg_ensemble *)g);
    v->members = members;
    v->rule = rule;
    v->cap = cap;
    dg_status s = dg_exec_create(g->student, cap, 0, &v->student);
    if (s == DG_OK) s = create_tails(v);
    if (s == DG_OK) s = dg_alloc_array((void **)&v->rows, cap, sizeof *v->rows,
                                       "validator");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&v->labels, cap, sizeof *v->labels,
                           "validator");
    if (s != DG_OK) {
        dg_validator_destroy(v);
        return s;
    }
    *out = v;
    return DG_OK;
}

static uint32_t bucket(uint32_t n, uint32_t cap)
{
    uint32_t b = 1;
    while (b < n) b *= 2;
    return b < cap ? b : cap;
}

/* Runs member r of class c on the gathered rows and records its label and
 * P(c) per sample. */
static dg_status consult(dg_validator *v, const float *input, uint32_t c,
                         uint32_t r, uint32_t n, dg_verdict *verdicts)
{
    const dg_member *m = &v->g->per_class[c].members[r];
    const float *src = input;
    if (m->first > 0) {
        src = dg_exec_output(v->student, m->first - 1);
        if (!src) return DG_E_STATE;
    }
    size_t size = dg_shape_size(m->tail->input);
    for (uint32_t k = 0; k < n; k++)
        memcpy(v->gather + k * size, src + (size_t)v->rows[k] * size,
               size * sizeof(float));
    dg_exec *e = v->tails[c * v->members + r];
    DG_TRY(dg_exec_forward(e, v->gather, bucket(n, v->cap)));
    /* Scores are softmax of the logits, also for a model ending in a
     * softmax layer. */
    const float *y = dg_exec_output(e, dg_model_logits_layer(m->tail));
    if (!y) return DG_E_STATE;
    uint32_t k_out = v->g->classes;
    for (uint32_t k = 0; k < n; k++) {
        const float *row = y + (size_t)k * k_out;
        dg_verdict *out = &verdicts[v->rows[k]];
        out->member_label[r] = (int32_t)dg_argmax(row, k_out);
        out->member_score[r] = dg_softmax_at(row, k_out, c);
    }
    return DG_OK;
}

dg_decision dg_guard_decide(const dg_ensemble *g, int32_t label,
                            uint32_t members, int32_t rule,
                            const int32_t *member_label,
                            const float *member_score)
{
    const dg_threshold *t = &g->per_class[label].thresholds[members - 1];
    dg_decision d = {0};
    double sum = 0;
    for (uint32_t r = 0; r < members; r++) {
        d.votes += member_label[r] == label;
        sum += member_score[r];
    }
    d.score = (float)(sum / members);
    d.threshold = rule == DG_RULE_VOTES ? (float)t->tau : t->theta;
    d.accepted = rule == DG_RULE_VOTES ? d.votes >= t->tau
                                       : d.score >= t->theta;
    return d;
}

static void decide(const dg_validator *v, dg_verdict *out)
{
    dg_decision d = dg_guard_decide(v->g, out->label, v->members, v->rule,
                                    out->member_label, out->member_score);
    out->votes = d.votes;
    out->score = d.score;
    out->threshold = d.threshold;
    out->accepted = d.accepted;
}

/* Phase 2 for every class present, then the decisions. */
static dg_status phase2(dg_validator *v, const float *input, uint32_t batch,
                        dg_verdict *verdicts)
{
    for (uint32_t c = 0; c < v->g->classes; c++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < batch; i++)
            if (v->labels[i] == (int32_t)c) v->rows[n++] = i;
        for (uint32_t r = 0; n > 0 && r < v->members; r++)
            DG_TRY(consult(v, input, c, r, n, verdicts));
    }
    for (uint32_t i = 0; i < batch; i++) {
        dg_verdict *out = &verdicts[i];
        out->label = v->labels[i];
        out->rule = v->rule;
        out->members = v->members;
        decide(v, out);
    }
    return DG_OK;
}

static void clear_verdicts(dg_verdict *verdicts, uint32_t batch)
{
    for (uint32_t i = 0; i < batch; i++) {
        uint32_t size = verdicts[i].struct_size;
        memset(&verdicts[i], 0, sizeof verdicts[i]);
        verdicts[i].struct_size = size;
        for (uint32_t r = 0; r < DG_MAX_MEMBERS; r++)
            verdicts[i].member_label[r] = -1;
    }
}

dg_status dg_validator_check_input(const dg_validator *v, size_t input_len,
                                   uint32_t batch)
{
    size_t need = (size_t)batch * dg_shape_size(v->g->student->input);
    if (batch == 0 || batch > v->cap || input_len != need)
        return dg_fail(DG_E_SHAPE,
                       "input of %zu floats for batch %u: need %zu, and a "
                       "batch of 1 to %u",
                       input_len, batch, need, v->cap);
    return DG_OK;
}

dg_status dg_validator_run(dg_validator *v, const float *input,
                           uint32_t batch, const int32_t *labels,
                           dg_verdict *verdicts)
{
    clear_verdicts(verdicts, batch);
    const dg_model *s = v->g->student;
    if (labels) {
        for (uint32_t i = 0; i < batch; i++) {
            if (labels[i] < 0 || (uint32_t)labels[i] >= v->g->classes)
                return dg_fail(DG_E_INVALID_ARG,
                               "label %d of sample %u is not a Student class",
                               labels[i], i);
            v->labels[i] = labels[i];
        }
        if (v->prefix_end >= 0)
            DG_TRY(dg_exec_forward_to(v->student, input, batch, v->prefix_end));
        return phase2(v, input, batch, verdicts);
    }
    DG_TRY(dg_exec_forward(v->student, input, batch));
    int32_t last = (int32_t)s->n_layers - 1;
    const float *y = dg_exec_output(v->student, last);
    if (!y) return DG_E_STATE;
    uint32_t k = v->g->classes;
    for (uint32_t i = 0; i < batch; i++)
        v->labels[i] = (int32_t)dg_argmax(y + (size_t)i * k, k);
    return phase2(v, input, batch, verdicts);
}
