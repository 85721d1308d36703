/* validator.c - two-phase validation.  Phase 1 runs the Student (or takes
 * the host's labels and runs only the shared prefix); phase 2 runs the
 * first M differentiators of each predicted class on the Student's prefix
 * output of the samples predicted as that class, and votes or scores.
 *
 * A differentiator model that several classes consult (robust members are
 * shared by the classes) is one unit: it runs once per batch on the
 * samples of all those classes, each scored for its own class.
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

/* A distinct member model and the (class, rank) slots that consult it. */
typedef struct unit {
    const dg_member *member;
    dg_exec *exec;
    uint32_t first_slot, n_slots; /* in slot_class / slot_rank */
} unit;

struct dg_validator {
    dg_ensemble *g;       /* a reference */
    uint32_t members, cap;
    int32_t rule;
    int32_t prefix_end;   /* last Student layer the tails read, -1: none */
    dg_exec *student;
    unit *units;
    uint32_t n_units;
    uint32_t *slot_class, *slot_rank; /* classes x members, grouped by unit */
    float *gather;        /* cap x the largest tail input */
    uint32_t *rows;       /* samples a unit runs on */
    uint32_t *row_rank;   /* and its rank in each sample's class */
    uint32_t *by_class;   /* the batch's samples, class by class */
    uint32_t *class_start; /* classes + 1 offsets into by_class */
    int32_t *labels;
};

void dg_validator_destroy(dg_validator *v)
{
    if (!v) return;
    for (uint32_t u = 0; v->units && u < v->n_units; u++)
        dg_exec_free(v->units[u].exec);
    free(v->units);
    free(v->slot_class);
    free(v->slot_rank);
    dg_exec_free(v->student);
    dg_free_aligned(v->gather);
    free(v->rows);
    free(v->row_rank);
    free(v->by_class);
    free(v->class_start);
    free(v->labels);
    dg_ensemble_unref(v->g);
    free(v);
}

/* Groups the classes x members slots by distinct member model, in order of
 * first appearance. */
static dg_status plan_units(dg_validator *v)
{
    dg_ensemble *g = v->g;
    size_t slots = (size_t)g->classes * v->members;
    uint32_t *unit_of;
    DG_TRY(dg_alloc_array((void **)&unit_of, slots, sizeof *unit_of, "units"));
    dg_status s = dg_alloc_array((void **)&v->units, slots, sizeof *v->units,
                                 "units");
    for (size_t k = 0; s == DG_OK && k < slots; k++) {
        const dg_member *m = &g->per_class[k / v->members].members[k % v->members];
        uint32_t u = 0;
        while (u < v->n_units && v->units[u].member->tail != m->tail) u++;
        if (u == v->n_units) v->units[v->n_units++].member = m;
        v->units[u].n_slots++;
        unit_of[k] = u;
    }
    if (s == DG_OK)
        s = dg_alloc_array((void **)&v->slot_class, slots,
                           sizeof *v->slot_class, "units");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&v->slot_rank, slots, sizeof *v->slot_rank,
                           "units");
    if (s == DG_OK) {
        uint32_t at = 0;
        for (uint32_t u = 0; u < v->n_units; u++) {
            v->units[u].first_slot = at;
            at += v->units[u].n_slots;
            v->units[u].n_slots = 0;
        }
        for (size_t k = 0; k < slots; k++) {
            unit *un = &v->units[unit_of[k]];
            uint32_t at_k = un->first_slot + un->n_slots++;
            v->slot_class[at_k] = (uint32_t)(k / v->members);
            v->slot_rank[at_k] = (uint32_t)(k % v->members);
        }
    }
    free(unit_of);
    return s;
}

static dg_status create_units(dg_validator *v)
{
    size_t largest = 0;
    v->prefix_end = -1;
    DG_TRY(plan_units(v));
    for (uint32_t u = 0; u < v->n_units; u++) {
        const dg_member *m = v->units[u].member;
        DG_TRY(dg_exec_create(m->tail, v->cap, 0, &v->units[u].exec));
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
    if (s == DG_OK) s = create_units(v);
    uint32_t **arrays[] = {&v->rows, &v->row_rank, &v->by_class};
    for (size_t k = 0; s == DG_OK && k < sizeof arrays / sizeof *arrays; k++)
        s = dg_alloc_array((void **)arrays[k], cap, sizeof(uint32_t),
                           "validator");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&v->class_start, g->classes + 1,
                           sizeof *v->class_start, "validator");
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

/* Runs unit u on the n gathered rows and records, at each row's rank, the
 * member's label and its P(class the row was labelled). */
static dg_status consult(dg_validator *v, const float *input, const unit *u,
                         uint32_t n, dg_verdict *verdicts)
{
    const dg_member *m = u->member;
    const float *src = input;
    if (m->first > 0) {
        src = dg_exec_output(v->student, m->first - 1);
        if (!src) return DG_E_STATE;
    }
    size_t size = dg_shape_size(m->tail->input);
    for (uint32_t k = 0; k < n; k++)
        memcpy(v->gather + k * size, src + (size_t)v->rows[k] * size,
               size * sizeof(float));
    DG_TRY(dg_exec_forward(u->exec, v->gather, bucket(n, v->cap)));
    /* Scores are softmax of the logits, also for a model ending in a
     * softmax layer. */
    const float *y = dg_exec_output(u->exec, dg_model_logits_layer(m->tail));
    if (!y) return DG_E_STATE;
    uint32_t k_out = v->g->classes;
    for (uint32_t k = 0; k < n; k++) {
        const float *row = y + (size_t)k * k_out;
        dg_verdict *out = &verdicts[v->rows[k]];
        uint32_t r = v->row_rank[k];
        out->member_label[r] = (int32_t)dg_argmax(row, k_out);
        out->member_score[r] = dg_softmax_at(row, k_out, (uint32_t)out->label);
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

/* Sorts the batch's samples by label (a counting sort): class c's are
 * by_class[class_start[c] .. class_start[c + 1] - 1]. */
static void group_by_class(dg_validator *v, uint32_t batch)
{
    uint32_t classes = v->g->classes, *start = v->class_start;
    memset(start, 0, (classes + 1) * sizeof *start);
    for (uint32_t i = 0; i < batch; i++) start[v->labels[i] + 1]++;
    for (uint32_t c = 0; c < classes; c++) start[c + 1] += start[c];
    /* Filling advances each class's start to the next class's. */
    for (uint32_t i = 0; i < batch; i++) v->by_class[start[v->labels[i]]++] = i;
    for (uint32_t c = classes; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
}

/* Phase 2 for every unit some sample needs, then the decisions. */
static dg_status phase2(dg_validator *v, const float *input, uint32_t batch,
                        dg_verdict *verdicts)
{
    for (uint32_t i = 0; i < batch; i++) {
        verdicts[i].label = v->labels[i];
        verdicts[i].rule = v->rule;
        verdicts[i].members = v->members;
    }
    group_by_class(v, batch);
    for (uint32_t u = 0; u < v->n_units; u++) {
        const unit *un = &v->units[u];
        uint32_t n = 0;
        for (uint32_t k = un->first_slot; k < un->first_slot + un->n_slots; k++) {
            uint32_t c = v->slot_class[k];
            for (uint32_t j = v->class_start[c]; j < v->class_start[c + 1]; j++) {
                v->rows[n] = v->by_class[j];
                v->row_rank[n++] = v->slot_rank[k];
            }
        }
        if (n > 0) DG_TRY(consult(v, input, un, n, verdicts));
    }
    for (uint32_t i = 0; i < batch; i++) decide(v, &verdicts[i]);
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
    /* Every argument is checked before the caller's verdicts change. */
    for (uint32_t i = 0; labels && i < batch; i++)
        if (labels[i] < 0 || (uint32_t)labels[i] >= v->g->classes)
            return dg_fail(DG_E_INVALID_ARG,
                           "label %d of sample %u is not a Student class",
                           labels[i], i);
    clear_verdicts(verdicts, batch);
    const dg_model *s = v->g->student;
    if (labels) {
        memcpy(v->labels, labels, batch * sizeof *labels);
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
