/* eval.c - runs every input once through the guard's whole pool, then
 * derives each defence's decisions from the recorded member outputs, so
 * that all rows of the report judge exactly the same inputs. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "squeeze.h"
#include "train_common.h"

/* Inputs per validation call; charts draw at most MAX_CHART_SETS sets. */
enum { BATCH = 64, MAX_CHART_SETS = 6 };

/* ------------------------------------------------------------------------ */
/* Running the inputs                                                       */
/* ------------------------------------------------------------------------ */

/* What one batch of inputs needs while it is judged. */
typedef struct eval_batch {
    const eval_request *req;
    eval_result *r;
    size_t sample_len;
    float *input;            /* BATCH preprocessed inputs */
    const uint8_t **pixels;  /* BATCH borrowed 8-bit images */
    int32_t *labels;         /* BATCH copies of one class, for the pool */
    dg_verdict *verdicts;    /* BATCH */
    uint32_t *pool_votes;    /* BATCH x classes */
    float *squeeze;          /* BATCH */
    dg_validator *all;       /* M = V, the guard's own rule */
    squeezer squeezer;
} eval_batch;

/* What the clean data and the sets tell of each input: its true (or
 * source) class, the attacker's target and whether the attack met its
 * budget. */
static int describe_inputs(const eval_request *req, eval_result *r)
{
    eval_input *in = r->inputs;
    for (uint32_t i = 0; i < r->n_clean; i++) {
        dg_status st = dg_dataset_label(req->clean, i, &in[i].truth);
        if (st != DG_OK) return cli_fail(st, "reading the clean labels");
        if ((uint32_t)in[i].truth >= r->classes)
            return cli_error("clean sample %u has class %d, but the Student "
                             "has %u; select its classes with --classes",
                             i, in[i].truth, r->classes);
        in[i].target = -1;
    }
    for (uint32_t s = 0; s < r->n_sets; s++) {
        dg_attack_opts o = {.struct_size = sizeof o};
        dg_status st = dg_advset_settings(req->sets[s].set, &o);
        for (uint32_t k = r->set_first[s];
             st == DG_OK && k < r->set_first[s + 1]; k++) {
            dg_advset_item it = {.struct_size = sizeof it};
            st = dg_advset_item_get(req->sets[s].set, k - r->set_first[s],
                                    &it);
            in[k].truth = it.source_label;
            in[k].target = it.target_label;
            /* Mimicry always aims at a target image's class; the mode
             * says whether the attacker wanted that class or any other. */
            in[k].targeted = o.targeted && it.target_label >= 0;
            in[k].within_budget = it.within_budget != 0;
            if (st == DG_OK && (it.source_label < 0 ||
                                (uint32_t)it.source_label >= r->classes ||
                                it.target_label >= (int32_t)r->classes))
                return cli_error("set %s: attempt %u has classes %d -> %d, "
                                 "but the Student has %u",
                                 req->sets[s].name, k - r->set_first[s],
                                 it.source_label, it.target_label,
                                 r->classes);
        }
        if (st != DG_OK) return cli_fail(st, "reading set %s",
                                         req->sets[s].name);
    }
    return CLI_EXIT_OK;
}

/* Inputs first..first+n-1 (within one source) as model input and pixels. */
static int load_inputs(eval_batch *b, uint32_t first, uint32_t n)
{
    const eval_result *r = b->r;
    uint32_t idx[BATCH] = {0};
    dg_status st = DG_OK;
    if (first < r->n_clean) {
        for (uint32_t i = 0; i < n; i++) idx[i] = first + i;
        st = dg_dataset_batch(b->req->clean, b->req->student, idx, n,
                              b->input, n * b->sample_len, NULL);
        for (uint32_t i = 0; st == DG_OK && i < n; i++)
            st = dg_dataset_pixels(b->req->clean, idx[i], &b->pixels[i]);
        if (st != DG_OK) return cli_fail(st, "reading clean inputs");
        return CLI_EXIT_OK;
    }
    uint32_t s = 0;
    while (first >= r->set_first[s + 1]) s++;
    const dg_advset *set = b->req->sets[s].set;
    for (uint32_t i = 0; i < n; i++) idx[i] = first + i - r->set_first[s];
    st = dg_advset_batch(set, b->req->student, idx, n, b->input,
                         n * b->sample_len);
    for (uint32_t i = 0; st == DG_OK && i < n; i++)
        st = dg_advset_pixels(set, idx[i], &b->pixels[i]);
    if (st != DG_OK) return cli_fail(st, "reading set %s", b->req->sets[s].name);
    return CLI_EXIT_OK;
}

/* Phase 1 and every ranked member of the predicted class. */
static int judge_by_guard(eval_batch *b, uint32_t first, uint32_t n)
{
    eval_result *r = b->r;
    dg_status st = dg_validate(b->all, b->input, n * b->sample_len, n,
                               b->verdicts);
    if (st != DG_OK) return cli_fail(st, "validating");
    for (uint32_t i = 0; i < n; i++) {
        r->inputs[first + i].label = b->verdicts[i].label;
        for (uint32_t m = 0; m < r->variants; m++) {
            size_t at = (size_t)(first + i) * r->variants + m;
            r->member_label[at] = b->verdicts[i].member_label[m];
            r->member_score[at] = b->verdicts[i].member_score[m];
        }
    }
    return CLI_EXIT_OK;
}

/* The whole pool without phase 1: every member of every class votes for
 * its own argmax; the plurality wins. */
static int judge_by_pool(eval_batch *b, uint32_t first, uint32_t n)
{
    eval_result *r = b->r;
    memset(b->pool_votes, 0, (size_t)n * r->classes * sizeof *b->pool_votes);
    for (uint32_t c = 0; c < r->classes; c++) {
        for (uint32_t i = 0; i < n; i++) b->labels[i] = (int32_t)c;
        dg_status st = dg_validate_labeled(b->all, b->input,
                                           n * b->sample_len, n, b->labels,
                                           b->verdicts);
        if (st != DG_OK) return cli_fail(st, "running the pool");
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t m = 0; m < r->variants; m++)
                b->pool_votes[(size_t)i * r->classes +
                              (uint32_t)b->verdicts[i].member_label[m]]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *votes = b->pool_votes + (size_t)i * r->classes;
        uint32_t best = 0;
        for (uint32_t k = 1; k < r->classes; k++)
            if (votes[k] > votes[best]) best = k;
        eval_input *in = &r->inputs[first + i];
        in->pool_label = (int32_t)best;
        in->pool_share = (float)votes[best] / (r->classes * r->variants);
    }
    return CLI_EXIT_OK;
}

static int judge_all(eval_batch *b)
{
    eval_result *r = b->r;
    int rc = CLI_EXIT_OK;
    progress_start("evaluate", r->n_inputs);
    for (uint32_t first = 0; first < r->n_inputs && rc == CLI_EXIT_OK;) {
        /* A batch never crosses from one source into the next. */
        uint32_t end = r->n_clean;
        for (uint32_t s = 0; s < r->n_sets; s++)
            if (first >= r->set_first[s]) end = r->set_first[s + 1];
        uint32_t n = end - first < BATCH ? end - first : BATCH;
        rc = load_inputs(b, first, n);
        if (rc == CLI_EXIT_OK) rc = judge_by_guard(b, first, n);
        if (rc == CLI_EXIT_OK) rc = judge_by_pool(b, first, n);
        if (rc == CLI_EXIT_OK)
            rc = squeezer_score(&b->squeezer, b->pixels, n, b->squeeze);
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < n; i++)
            r->inputs[first + i].squeeze_score = b->squeeze[i];
        first += n;
        progress_update(first);
        if (train_interrupted()) rc = cli_error("interrupted");
    }
    progress_finish();
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Decisions                                                                */
/* ------------------------------------------------------------------------ */

/* The guard at M members and `rule`: its votes or mean score, as
 * dg_validate computes them. */
static void guard_tally(const eval_result *r, uint32_t i, uint32_t members,
                        uint32_t *votes, float *score)
{
    const int32_t *labels = r->member_label + (size_t)i * r->variants;
    const float *scores = r->member_score + (size_t)i * r->variants;
    double sum = 0;
    *votes = 0;
    for (uint32_t m = 0; m < members; m++) {
        *votes += labels[m] == r->inputs[i].label;
        sum += scores[m];
    }
    *score = (float)(sum / members);
}

static bool guard_accepts(const eval_result *r, uint32_t i, uint32_t members,
                          int32_t rule)
{
    uint32_t votes;
    float score;
    guard_tally(r, i, members, &votes, &score);
    size_t at = (size_t)r->inputs[i].label * r->variants + members - 1;
    return rule == DG_RULE_VOTES ? votes >= r->tau[at]
                                 : score >= r->theta[at];
}

/* How suspicious input i looks to a row's detector: higher is worse. */
static float suspicion(const eval_result *r, const eval_row *row, uint32_t i)
{
    const eval_input *in = &r->inputs[i];
    switch (row->kind) {
    case EVAL_GUARD: {
        uint32_t votes;
        float score;
        guard_tally(r, i, row->members, &votes, &score);
        return row->rule == DG_RULE_VOTES ? (float)(row->members - votes)
                                          : 1.0f - score;
    }
    case EVAL_POOL:
        return 1.0f - in->pool_share;
    case EVAL_SQUEEZE:
        return in->squeeze_score;
    case EVAL_NONE:
        break;
    }
    return 0;
}

/* Whether a row accepts input i, and with which label. */
static bool accepts(const eval_result *r, const eval_row *row, uint32_t i,
                    int32_t *label)
{
    const eval_input *in = &r->inputs[i];
    *label = row->kind == EVAL_POOL ? in->pool_label : in->label;
    switch (row->kind) {
    case EVAL_GUARD:
        return guard_accepts(r, i, row->members, row->rule);
    case EVAL_POOL:
    case EVAL_SQUEEZE:
        return !(suspicion(r, row, i) > row->threshold);
    case EVAL_NONE:
        break;
    }
    return true;
}

/* An attempt fools the undefended Student: within budget and classified
 * as the attacker wanted. */
static bool fools(const eval_input *in)
{
    if (!in->within_budget) return false;
    return in->targeted ? in->label == in->target : in->label != in->truth;
}

static void count_row(const eval_result *r, eval_row *row)
{
    defence_counts clean = {0};
    for (uint32_t i = 0; i < r->n_clean; i++) {
        int32_t label;
        bool ok = accepts(r, row, i, &label);
        clean.clean++;
        if (r->inputs[i].label != r->inputs[i].truth) continue;
        clean.clean_correct++;
        clean.clean_correct_rejected += !ok;
    }
    for (uint32_t s = 0; s < r->n_sets; s++) {
        defence_counts c = clean;
        for (uint32_t i = r->set_first[s]; i < r->set_first[s + 1]; i++) {
            const eval_input *in = &r->inputs[i];
            if (!fools(in)) continue;
            int32_t label;
            bool ok = accepts(r, row, i, &label);
            bool wanted = in->targeted ? label == in->target
                                       : label != in->truth;
            c.fooling++;
            c.fooling_stopped += !ok || !wanted;
        }
        row->counts[s] = c;
    }
}

/* Clean inputs the Student gets right, and a set's fooling attempts. */
static int collect_scores(const eval_result *r, const eval_row *row,
                          uint32_t s, float **neg, size_t *n_neg,
                          float **pos, size_t *n_pos)
{
    *neg = malloc(((size_t)r->n_clean + 1) * sizeof **neg);
    *pos = malloc(((size_t)r->n_inputs + 1) * sizeof **pos);
    if (!*neg || !*pos) return cli_error("out of memory");
    *n_neg = *n_pos = 0;
    for (uint32_t i = 0; i < r->n_clean; i++)
        if (r->inputs[i].label == r->inputs[i].truth)
            (*neg)[(*n_neg)++] = suspicion(r, row, i);
    for (uint32_t i = r->set_first[s]; i < r->set_first[s + 1]; i++)
        if (fools(&r->inputs[i])) (*pos)[(*n_pos)++] = suspicion(r, row, i);
    return CLI_EXIT_OK;
}

static int detection(const eval_result *r, eval_row *row)
{
    for (uint32_t s = 0; s < r->n_sets; s++) {
        row->auc[s] = row->tpr5[s] = row->tpr1[s] = NAN;
        if (row->kind == EVAL_NONE) continue;
        float *neg, *pos;
        size_t n_neg, n_pos;
        int rc = collect_scores(r, row, s, &neg, &n_neg, &pos, &n_pos);
        if (rc == CLI_EXIT_OK && n_neg && n_pos) {
            row->auc[s] = roc_auc(neg, n_neg, pos, n_pos);
            row->tpr5[s] = share_above(pos, n_pos,
                                       threshold_at_fpr(neg, n_neg, 0.05));
            row->tpr1[s] = share_above(pos, n_pos,
                                       threshold_at_fpr(neg, n_neg, 0.01));
        }
        free(neg);
        free(pos);
        if (rc != CLI_EXIT_OK) return rc;
    }
    return CLI_EXIT_OK;
}

/* A baseline's threshold: flags at most `fpr` of the clean inputs the
 * Student gets right. */
static int calibrate(const eval_result *r, eval_row *row, double fpr)
{
    float *neg, *pos;
    size_t n_neg, n_pos;
    int rc = collect_scores(r, row, 0, &neg, &n_neg, &pos, &n_pos);
    if (rc == CLI_EXIT_OK && n_neg == 0)
        rc = cli_error("no clean input is classified correctly");
    if (rc == CLI_EXIT_OK) row->threshold = threshold_at_fpr(neg, n_neg, fpr);
    free(neg);
    free(pos);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Setting up and timing                                                    */
/* ------------------------------------------------------------------------ */

static int read_guard(const eval_request *req, eval_result *r)
{
    dg_ensemble_info info = {.struct_size = sizeof info};
    dg_status st = dg_ensemble_get_info(req->guard, &info);
    if (st != DG_OK) return cli_fail(st, "reading the guard");
    r->classes = info.classes;
    r->variants = info.variants;
    r->members = info.members;
    r->rule = info.rule;
    r->tau = malloc((size_t)r->classes * r->variants * sizeof *r->tau);
    r->theta = malloc((size_t)r->classes * r->variants * sizeof *r->theta);
    if (!r->tau || !r->theta) return cli_error("out of memory");
    for (uint32_t c = 0; c < r->classes; c++)
        for (uint32_t m = 1; m <= r->variants; m++) {
            dg_calibration cal = {.struct_size = sizeof cal};
            st = dg_ensemble_calibration(req->guard, c, m, &cal);
            if (st != DG_OK) return cli_fail(st, "reading the calibration");
            r->tau[c * r->variants + m - 1] = cal.tau;
            r->theta[c * r->variants + m - 1] = cal.theta;
        }
    return CLI_EXIT_OK;
}

static int allocate(const eval_request *req, eval_result *r)
{
    dg_status st = dg_dataset_count(req->clean, &r->n_clean);
    if (st != DG_OK) return cli_fail(st, "reading the clean data");
    r->set_first = malloc((req->n_sets + 1) * sizeof *r->set_first);
    if (!r->set_first) return cli_error("out of memory");
    uint64_t total = r->n_clean;
    for (uint32_t s = 0; s < req->n_sets; s++) {
        uint32_t count;
        st = dg_advset_count(req->sets[s].set, &count);
        if (st != DG_OK) return cli_fail(st, "reading set %s",
                                         req->sets[s].name);
        r->set_first[s] = (uint32_t)total;
        total += count;
    }
    if (total > UINT32_MAX / 2) return cli_error("too many inputs");
    r->n_inputs = r->set_first[req->n_sets] = (uint32_t)total;
    r->inputs = calloc(total ? total : 1, sizeof *r->inputs);
    r->member_label = malloc((total + 1) * r->variants *
                             sizeof *r->member_label);
    r->member_score = malloc((total + 1) * r->variants *
                             sizeof *r->member_score);
    r->n_rows = 2 * r->variants + 4;
    r->rows = calloc(r->n_rows, sizeof *r->rows);
    if (!r->inputs || !r->member_label || !r->member_score || !r->rows)
        return cli_error("out of memory");
    for (uint32_t k = 0; k < r->n_rows; k++) {
        eval_row *row = &r->rows[k];
        row->counts = calloc(req->n_sets + 1, sizeof *row->counts);
        row->auc = calloc(req->n_sets + 1, sizeof *row->auc);
        row->tpr5 = calloc(req->n_sets + 1, sizeof *row->tpr5);
        row->tpr1 = calloc(req->n_sets + 1, sizeof *row->tpr1);
        if (!row->counts || !row->auc || !row->tpr5 || !row->tpr1)
            return cli_error("out of memory");
    }
    return CLI_EXIT_OK;
}

static int open_batch(const eval_request *req, eval_result *r, eval_batch *b)
{
    uint32_t c, h, w;
    dg_status st = dg_model_input_shape(req->student, &c, &h, &w);
    if (st != DG_OK) return cli_fail(st, "reading the Student");
    b->req = req;
    b->r = r;
    b->sample_len = (size_t)c * h * w;
    b->input = malloc(BATCH * b->sample_len * sizeof *b->input);
    b->pixels = malloc(BATCH * sizeof *b->pixels);
    b->labels = malloc(BATCH * sizeof *b->labels);
    b->verdicts = calloc(BATCH, sizeof *b->verdicts);
    b->pool_votes = malloc((size_t)BATCH * r->classes * sizeof *b->pool_votes);
    b->squeeze = malloc(BATCH * sizeof *b->squeeze);
    if (!b->input || !b->pixels || !b->labels || !b->verdicts ||
        !b->pool_votes || !b->squeeze)
        return cli_error("out of memory");
    for (uint32_t i = 0; i < BATCH; i++)
        b->verdicts[i].struct_size = sizeof b->verdicts[i];
    dg_validator_opts o;
    dg_validator_opts_init(&o, sizeof o);
    o.members = r->variants;
    o.max_batch = BATCH;
    st = dg_validator_create(req->guard, &o, &b->all);
    if (st != DG_OK) return cli_fail(st, "preparing the validator");
    return squeezer_init(&b->squeezer, req->student, req->squeeze_bits,
                         BATCH);
}

static void close_batch(eval_batch *b)
{
    dg_validator_free(b->all);
    squeezer_free(&b->squeezer);
    free(b->input);
    free(b->pixels);
    free(b->labels);
    free(b->verdicts);
    free(b->pool_votes);
    free(b->squeeze);
}

/* Times the guard as a host would run it (default M and rule) on the
 * clean inputs, and checks that dg_validate decides as this file does. */
static int time_guard(eval_batch *b)
{
    eval_result *r = b->r;
    dg_validator_opts o;
    dg_validator_opts_init(&o, sizeof o);
    o.max_batch = BATCH;
    dg_validator *v;
    dg_status st = dg_validator_create(b->req->guard, &o, &v);
    if (st != DG_OK) return cli_fail(st, "preparing the validator");
    int rc = CLI_EXIT_OK;
    double seconds = 0;
    for (uint32_t first = 0; first < r->n_clean && rc == CLI_EXIT_OK;
         first += BATCH) {
        uint32_t n = r->n_clean - first < BATCH ? r->n_clean - first : BATCH;
        rc = load_inputs(b, first, n);
        double start = monotonic_seconds();
        if (rc == CLI_EXIT_OK &&
            (st = dg_validate(v, b->input, n * b->sample_len, n,
                              b->verdicts)) != DG_OK)
            rc = cli_fail(st, "validating");
        seconds += monotonic_seconds() - start;
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < n; i++)
            if (!b->verdicts[i].accepted !=
                !guard_accepts(r, first + i, r->members, r->rule))
                rc = cli_error("internal error: clean input %u: dg_validate "
                               "and the evaluation disagree",
                               first + i);
    }
    dg_validator_free(v);
    r->latency_ms = r->n_clean ? 1e3 * seconds / r->n_clean : NAN;
    return rc;
}

static void name_row(eval_row *row, eval_kind kind, uint32_t members,
                     int32_t rule, uint32_t passes, const char *name)
{
    row->kind = kind;
    row->members = members;
    row->rule = rule;
    row->passes = passes;
    snprintf(row->name, sizeof row->name, "%s", name);
}

static int fill_rows(const eval_request *req, eval_result *r)
{
    uint32_t v = r->variants;
    for (uint32_t m = 1; m <= v; m++) {
        char name[48];
        snprintf(name, sizeof name, "guard M=%u votes", m);
        name_row(&r->rows[m - 1], EVAL_GUARD, m, DG_RULE_VOTES, 1 + m, name);
        snprintf(name, sizeof name, "guard M=%u score", m);
        name_row(&r->rows[v + m - 1], EVAL_GUARD, m, DG_RULE_SCORE, 1 + m,
                 name);
    }
    eval_row *none = &r->rows[2 * v], *pool = none + 1;
    eval_row *squeeze = none + 2, *matched = none + 3;
    name_row(none, EVAL_NONE, 0, 0, 1, "no defence");
    name_row(pool, EVAL_POOL, 0, 0, r->classes * v, "whole pool, no phase 1");
    char name[48];
    snprintf(name, sizeof name, "feature squeezing (%.0f%% FPR)",
             100 * req->baseline_fpr);
    name_row(squeeze, EVAL_SQUEEZE, 0, 0, 3, name);
    name_row(matched, EVAL_SQUEEZE, 0, 0, 3, "feature squeezing (guard's FRR)");
    for (uint32_t k = 0; k < 2 * v + 1; k++) count_row(r, &r->rows[k]);
    /* The pool and the matched squeezing reject as many clean inputs as
     * the guard at its defaults, so their defence rates compare. */
    double guard_frr = false_rejection_rate(
        &eval_guard_row(r, r->members, r->rule)->counts[0]);
    if (isnan(guard_frr)) guard_frr = req->baseline_fpr;
    int rc = calibrate(r, pool, guard_frr);
    if (rc == CLI_EXIT_OK) rc = calibrate(r, squeeze, req->baseline_fpr);
    if (rc == CLI_EXIT_OK) rc = calibrate(r, matched, guard_frr);
    for (uint32_t k = 2 * v + 1; rc == CLI_EXIT_OK && k < r->n_rows; k++)
        count_row(r, &r->rows[k]);
    for (uint32_t k = 0; rc == CLI_EXIT_OK && k < r->n_rows; k++)
        rc = detection(r, &r->rows[k]);
    return rc;
}

int eval_run(const eval_request *req, eval_result *r)
{
    memset(r, 0, sizeof *r);
    r->sets = req->sets;
    r->n_sets = req->n_sets;
    r->baseline_fpr = req->baseline_fpr;
    r->squeeze_bits = req->squeeze_bits;
    eval_batch b = {0};
    int rc = read_guard(req, r);
    if (rc == CLI_EXIT_OK) rc = allocate(req, r);
    if (rc == CLI_EXIT_OK) rc = describe_inputs(req, r);
    if (rc == CLI_EXIT_OK) rc = open_batch(req, r, &b);
    if (rc == CLI_EXIT_OK) rc = judge_all(&b);
    if (rc == CLI_EXIT_OK) rc = time_guard(&b);
    close_batch(&b);
    if (rc != CLI_EXIT_OK) return rc;
    uint32_t correct = 0;
    for (uint32_t i = 0; i < r->n_clean; i++)
        correct += r->inputs[i].label == r->inputs[i].truth;
    r->student_accuracy = r->n_clean ? (double)correct / r->n_clean : NAN;
    return fill_rows(req, r);
}

void eval_result_free(eval_result *r)
{
    for (uint32_t k = 0; r->rows && k < r->n_rows; k++) {
        free(r->rows[k].counts);
        free(r->rows[k].auc);
        free(r->rows[k].tpr5);
        free(r->rows[k].tpr1);
    }
    free(r->rows);
    free(r->set_first);
    free(r->inputs);
    free(r->member_label);
    free(r->member_score);
    free(r->tau);
    free(r->theta);
    memset(r, 0, sizeof *r);
}

const eval_row *eval_guard_row(const eval_result *r, uint32_t members,
                               int32_t rule)
{
    return &r->rows[(rule == DG_RULE_SCORE ? r->variants : 0) + members - 1];
}

const eval_row *eval_baseline_row(const eval_result *r, eval_kind kind,
                                  bool matched)
{
    const eval_row *base = &r->rows[2 * r->variants];
    switch (kind) {
    case EVAL_POOL:
        return base + 1;
    case EVAL_SQUEEZE:
        return base + (matched ? 3 : 2);
    case EVAL_NONE:
    case EVAL_GUARD:
        break;
    }
    return base;
}

/* ------------------------------------------------------------------------ */
/* Attack statistics                                                        */
/* ------------------------------------------------------------------------ */

typedef struct attack_stats {
    uint32_t attempts, within_budget, reached_target, left_source, fooling;
    bool targeted;
} attack_stats;

static attack_stats set_stats(const eval_result *r, uint32_t s)
{
    attack_stats a = {0};
    for (uint32_t i = r->set_first[s]; i < r->set_first[s + 1]; i++) {
        const eval_input *in = &r->inputs[i];
        a.attempts++;
        a.targeted = in->targeted;
        if (!in->within_budget) continue;
        a.within_budget++;
        a.reached_target += in->target >= 0 ? in->label == in->target
                                             : in->label != in->truth;
        a.left_source += in->label != in->truth;
        a.fooling += fools(in);
    }
    return a;
}

static double share(uint32_t part, uint32_t whole)
{
    return whole ? (double)part / whole : NAN;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

static void json_field(json_writer *w, const char *key, double value)
{
    json_key(w, key);
    json_number(w, value);
}

/* A row's numbers: clean costs, then per set. */
static void json_row(json_writer *w, const eval_result *r, const eval_row *row)
{
    json_field(w, "false_rejection_rate",
               false_rejection_rate(&row->counts[0]));
    json_field(w, "accuracy_loss", accuracy_loss(&row->counts[0]));
    json_key(w, "forward_passes");
    json_int(w, row->passes);
    if (row->kind == EVAL_POOL || row->kind == EVAL_SQUEEZE)
        json_field(w, "threshold", row->threshold);
    for (uint32_t s = 0; s < r->n_sets; s++) {
        json_key(w, r->sets[s].name);
        json_begin_object(w);
        json_field(w, "defence_rate", defence_rate(&row->counts[s]));
        json_key(w, "fooling");
        json_int(w, row->counts[s].fooling);
        json_key(w, "stopped");
        json_int(w, row->counts[s].fooling_stopped);
        json_field(w, "roc_auc", row->auc[s]);
        json_field(w, "tpr_at_5pct_fpr", row->tpr5[s]);
        json_field(w, "tpr_at_1pct_fpr", row->tpr1[s]);
        json_end_object(w);
    }
}

void eval_write_json(json_writer *w, const eval_result *r)
{
    json_key(w, "clean");
    json_begin_object(w);
    json_key(w, "samples");
    json_int(w, r->n_clean);
    json_field(w, "student_accuracy", r->student_accuracy);
    json_end_object(w);

    json_key(w, "attack");
    json_begin_object(w);
    for (uint32_t s = 0; s < r->n_sets; s++) {
        attack_stats a = set_stats(r, s);
        json_key(w, r->sets[s].name);
        json_begin_object(w);
        json_key(w, "mode");
        json_string(w, a.targeted ? "targeted" : "untargeted");
        json_key(w, "attempts");
        json_int(w, a.attempts);
        json_key(w, "within_budget");
        json_int(w, a.within_budget);
        json_field(w, "asr", share(a.reached_target, a.attempts));
        json_field(w, "not_source_rate", share(a.left_source, a.attempts));
        json_key(w, "fooling");
        json_int(w, a.fooling);
        json_end_object(w);
    }
    json_end_object(w);

    json_key(w, "defence");
    json_begin_object(w);
    json_key(w, "m");
    json_int(w, r->members);
    json_key(w, "rule");
    json_string(w, cli_rule_name(r->rule));
    json_key(w, "variants");
    json_int(w, r->variants);
    json_field(w, "latency_ms_per_input", r->latency_ms);
    json_row(w, r, eval_guard_row(r, r->members, r->rule));
    json_key(w, "by_members");
    json_begin_array(w);
    for (uint32_t k = 0; k < 2 * r->variants; k++) {
        json_begin_object(w);
        json_key(w, "m");
        json_int(w, r->rows[k].members);
        json_key(w, "rule");
        json_string(w, cli_rule_name(r->rows[k].rule));
        json_row(w, r, &r->rows[k]);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);

    json_key(w, "baselines");
    json_begin_object(w);
    json_key(w, "no_defence");
    json_begin_object(w);
    json_row(w, r, eval_baseline_row(r, EVAL_NONE, false));
    json_end_object(w);
    json_key(w, "pool");
    json_begin_object(w);
    json_row(w, r, eval_baseline_row(r, EVAL_POOL, false));
    json_end_object(w);
    json_key(w, "feature_squeezing");
    json_begin_object(w);
    json_key(w, "bits");
    json_int(w, r->squeeze_bits);
    json_field(w, "target_fpr", r->baseline_fpr);
    json_row(w, r, eval_baseline_row(r, EVAL_SQUEEZE, false));
    json_key(w, "at_guard_frr");
    json_begin_object(w);
    json_row(w, r, eval_baseline_row(r, EVAL_SQUEEZE, true));
    json_end_object(w);
    json_end_object(w);
    json_end_object(w);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

/* A fraction as a percentage with one decimal, or "-". */
static void percent(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", 100 * v);
}

/* The rows worth a reader's time: the guard at every M with the default
 * rule, the other rule at the default M, and the baselines. */
static bool shown(const eval_result *r, const eval_row *row)
{
    if (row->kind != EVAL_GUARD) return true;
    return row->rule == r->rule || row->members == r->members;
}

/* Fills one table row of `row`: name, passes, FRR, loss, per set the
 * defence rate and AUC. */
static void table_row(cli_table *t, const eval_result *r, const eval_row *row)
{
    char a[16], b[16];
    table_cell(t, "%s", row->name);
    table_cell(t, "%u", row->passes);
    percent(a, sizeof a, false_rejection_rate(&row->counts[0]));
    percent(b, sizeof b, accuracy_loss(&row->counts[0]));
    table_cell(t, "%s", a);
    table_cell(t, "%s", b);
    for (uint32_t s = 0; s < r->n_sets; s++) {
        percent(a, sizeof a, defence_rate(&row->counts[s]));
        table_cell(t, "%s", a);
        if (isnan(row->auc[s]))
            table_cell(t, "-");
        else
            table_cell(t, "%.3f", row->auc[s]);
    }
}

static int build_table(cli_table *t, const eval_result *r)
{
    const char *headers[TABLE_MAX_COLUMNS] = {"defence", "passes", "FRR",
                                              "acc. loss"};
    char names[TABLE_MAX_COLUMNS][64];
    char align[TABLE_MAX_COLUMNS + 1] = "lrrr";
    uint32_t columns = 4;
    for (uint32_t s = 0; s < r->n_sets && columns + 2 <= TABLE_MAX_COLUMNS;
         s++) {
        snprintf(names[columns], sizeof names[0], "%s: defence",
                 r->sets[s].name);
        snprintf(names[columns + 1], sizeof names[0], "%s: AUC",
                 r->sets[s].name);
        headers[columns] = names[columns];
        headers[columns + 1] = names[columns + 1];
        align[columns++] = 'r';
        align[columns++] = 'r';
    }
    if (columns < 4 + 2 * r->n_sets)
        return cli_error("too many sets for one table");
    align[columns] = 0;
    table_init(t, align, headers);
    for (uint32_t k = 0; k < r->n_rows; k++)
        if (shown(r, &r->rows[k])) table_row(t, r, &r->rows[k]);
    return CLI_EXIT_OK;
}

int eval_print_table(FILE *out, const eval_result *r)
{
    cli_table t;
    int rc = build_table(&t, r);
    if (rc != CLI_EXIT_OK) return rc;
    return table_print(&t, out, 2);
}

static void markdown_cells(FILE *out, const char *first, const char *rest,
                           uint32_t n)
{
    fprintf(out, "|%s", first);
    for (uint32_t k = 0; k < n; k++) fprintf(out, "|%s", rest);
    fprintf(out, "|\n");
}

void eval_write_markdown(FILE *out, const eval_result *r)
{
    char a[16], b[16], c[16];
    fprintf(out, "Clean inputs: %u, Student accuracy %.2f%%.  Guard: %u "
                 "classes x %u differentiators, default M = %u, rule %s; "
                 "%.3f ms per input at batch 64.\n\n",
            r->n_clean, 100 * r->student_accuracy, r->classes, r->variants,
            r->members, cli_rule_name(r->rule), r->latency_ms);
    fprintf(out, "| attack set | mode | attempts | within budget | ASR | "
                 "!= source | fooling |\n");
    markdown_cells(out, "---", "---:", 6);
    for (uint32_t s = 0; s < r->n_sets; s++) {
        attack_stats st = set_stats(r, s);
        percent(a, sizeof a, share(st.reached_target, st.attempts));
        percent(b, sizeof b, share(st.left_source, st.attempts));
        fprintf(out, "| %s | %s | %u | %u | %s | %s | %u |\n",
                r->sets[s].name, st.targeted ? "targeted" : "untargeted",
                st.attempts, st.within_budget, a, b, st.fooling);
    }
    fprintf(out, "\n| defence | passes | FRR | accuracy loss |");
    for (uint32_t s = 0; s < r->n_sets; s++)
        fprintf(out, " %s: defence rate | AUC | TPR@5%% |", r->sets[s].name);
    fprintf(out, "\n");
    markdown_cells(out, "---", "---:", 3 + 3 * r->n_sets);
    for (uint32_t k = 0; k < r->n_rows; k++) {
        const eval_row *row = &r->rows[k];
        if (!shown(r, row)) continue;
        percent(a, sizeof a, false_rejection_rate(&row->counts[0]));
        percent(b, sizeof b, accuracy_loss(&row->counts[0]));
        fprintf(out, "| %s | %u | %s | %s |", row->name, row->passes, a, b);
        for (uint32_t s = 0; s < r->n_sets; s++) {
            percent(a, sizeof a, defence_rate(&row->counts[s]));
            percent(c, sizeof c, row->tpr5[s]);
            if (isnan(row->auc[s]))
                fprintf(out, " %s | - | %s |", a, c);
            else
                fprintf(out, " %s | %.3f | %s |", a, row->auc[s], c);
        }
        fprintf(out, "\n");
    }
}

/* ------------------------------------------------------------------------ */
/* Charts                                                                   */
/* ------------------------------------------------------------------------ */

/* ys[m - 1]: `metric` of the guard at M = m under `rule` on set s. */
static void over_members(const eval_result *r, int32_t rule, uint32_t s,
                         double (*metric)(const defence_counts *), double *ys)
{
    for (uint32_t m = 1; m <= r->variants; m++)
        ys[m - 1] = metric(&eval_guard_row(r, m, rule)->counts[s]);
}

/* Defence rates per set (votes solid, score dashed) against M. */
static int chart_defence(const eval_result *r, const char *dir, double *x,
                         double *y)
{
    uint32_t v = r->variants, n = 0;
    double lowest = 1;
    chart_series series[2 * MAX_CHART_SETS];
    char names[2 * MAX_CHART_SETS][96];
    for (uint32_t s = 0; s < r->n_sets && s < MAX_CHART_SETS; s++)
        for (int rule = DG_RULE_VOTES; rule <= DG_RULE_SCORE; rule++, n++) {
            double *ys = y + (size_t)n * v;
            over_members(r, rule, s, defence_rate, ys);
            for (uint32_t m = 0; m < v; m++)
                if (ys[m] < lowest) lowest = ys[m];
            snprintf(names[n], sizeof names[n], "%s, %s", r->sets[s].name,
                     cli_rule_name(rule));
            series[n] = (chart_series){names[n], x, ys, v, true,
                                       rule == DG_RULE_SCORE};
        }
    chart_spec c = {
        .title = "Defence rate against the number of differentiators",
        .x_label = "differentiators consulted (M)",
        .y_label = "fooling attempts stopped",
        .x_min = 0.5, .x_max = v + 0.5, .x_tick = 1,
        /* From the 10% step below the lowest rate, so that differences
         * between high rates show. */
        .y_min = fmax(0, floor((lowest - 0.02) * 10) / 10), .y_max = 1.001,
        .percent_y = true,
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/defence-vs-members.png", dir);
    return chart_write_png(path, &c, series, n);
}

/* Clean false rejection and accuracy loss per rule against M. */
static int chart_cost(const eval_result *r, const char *dir, double *x,
                      double *y)
{
    uint32_t v = r->variants, n = 0;
    chart_series series[4];
    static const char *const names[4] = {
        "false rejection, votes", "accuracy loss, votes",
        "false rejection, score", "accuracy loss, score"};
    double top = 0.05;
    for (int rule = DG_RULE_VOTES; rule <= DG_RULE_SCORE; rule++)
        for (int loss = 0; loss < 2; loss++, n++) {
            double *ys = y + (size_t)n * v;
            over_members(r, rule, 0,
                         loss ? accuracy_loss : false_rejection_rate, ys);
            for (uint32_t m = 0; m < v; m++)
                if (ys[m] > top) top = ys[m];
            series[n] = (chart_series){names[n], x, ys, v, true,
                                       rule == DG_RULE_SCORE};
        }
    chart_spec c = {
        .title = "Cost on clean inputs against the number of differentiators",
        .x_label = "differentiators consulted (M)",
        .y_label = "share of clean inputs",
        .x_min = 0.5, .x_max = v + 0.5, .x_tick = 1,
        .y_min = 0, .y_max = ceil(top * 1.15 * 50) / 50, .percent_y = true,
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/cost-vs-members.png", dir);
    return chart_write_png(path, &c, series, n);
}

/* ROC curves on set s of the guard (default M, both rules), the pool and
 * feature squeezing. */
static int chart_roc(const eval_result *r, uint32_t s, const char *dir)
{
    const eval_row *rows[4] = {
        eval_guard_row(r, r->members, DG_RULE_SCORE),
        eval_guard_row(r, r->members, DG_RULE_VOTES),
        eval_baseline_row(r, EVAL_POOL, false),
        eval_baseline_row(r, EVAL_SQUEEZE, false),
    };
    char names[4][96];
    chart_series series[4];
    double *points[8] = {0};
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < 4 && rc == CLI_EXIT_OK; k++) {
        float *neg, *pos;
        size_t n_neg, n_pos;
        rc = collect_scores(r, rows[k], s, &neg, &n_neg, &pos, &n_pos);
        if (rc == CLI_EXIT_OK) {
            points[2 * k] = malloc((n_neg + n_pos + 2) * sizeof(double));
            points[2 * k + 1] = malloc((n_neg + n_pos + 2) * sizeof(double));
            if (!points[2 * k] || !points[2 * k + 1])
                rc = cli_error("out of memory");
        }
        if (rc == CLI_EXIT_OK) {
            double auc = roc_auc(neg, n_neg, pos, n_pos);
            size_t n = roc_curve(neg, n_neg, pos, n_pos, points[2 * k],
                                 points[2 * k + 1]);
            snprintf(names[k], sizeof names[k], "%s (AUC %.3f)", rows[k]->name,
                     auc);
            series[k] = (chart_series){names[k], points[2 * k],
                                       points[2 * k + 1], n, false, k == 1};
        }
        free(neg);
        free(pos);
    }
    char title[160], path[4096];
    snprintf(title, sizeof title, "ROC on %s: clean inputs against fooling "
                                  "attempts", r->sets[s].name);
    chart_spec c = {
        .title = title,
        .x_label = "clean inputs flagged (false positive rate)",
        .y_label = "fooling attempts flagged (true positive rate)",
        .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1.001,
        .percent_x = true, .percent_y = true, .diagonal = true,
        .width = 640, .height = 560,
    };
    snprintf(path, sizeof path, "%s/roc-%s.png", dir, r->sets[s].name);
    if (rc == CLI_EXIT_OK) rc = chart_write_png(path, &c, series, 4);
    for (int k = 0; k < 8; k++) free(points[k]);
    return rc;
}

int eval_write_charts(const eval_result *r, const char *dir)
{
    uint32_t v = r->variants;
    double *x = malloc(v * sizeof *x);
    double *y = malloc((size_t)2 * MAX_CHART_SETS * v * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return cli_error("out of memory");
    }
    for (uint32_t m = 1; m <= v; m++) x[m - 1] = m;
    int rc = chart_defence(r, dir, x, y);
    if (rc == CLI_EXIT_OK) rc = chart_cost(r, dir, x, y);
    for (uint32_t s = 0; rc == CLI_EXIT_OK && s < r->n_sets; s++)
        rc = chart_roc(r, s, dir);
    free(x);
    free(y);
    return rc;
}
