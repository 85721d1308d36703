/* eval_report.c - an evaluation as JSON, a terminal table and markdown
 * (dg eval, dg demo). */
#include <math.h>
#include <string.h>

#include "report/report.h"

static double share(uint32_t part, uint32_t whole)
{
    return whole ? (double)part / whole : NAN;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

static void json_field(json_writer *w, const char *key, double value)
{
    json_put_number(w, key, value);
}

/* A row's numbers: clean costs, then per set. */
static void json_row(json_writer *w, const eval_view *v, uint32_t k)
{
    const dg_eval_row *row = &v->rows[k];
    json_field(w, "false_rejection_rate", row->false_rejection_rate);
    json_field(w, "accuracy_loss", row->accuracy_loss);
    json_put_int(w, "forward_passes", row->passes);
    if (row->kind == DG_EVAL_POOL || row->kind == DG_EVAL_SQUEEZE)
        json_field(w, "threshold", row->threshold);
    for (uint32_t s = 0; s < v->info.sets; s++) {
        const dg_eval_outcome *o = eval_outcome(v, k, s);
        json_key(w, v->sets[s].name);
        json_begin_object(w);
        json_field(w, "defence_rate", o->defence_rate);
        json_put_int(w, "fooling", o->fooling);
        json_put_int(w, "stopped", o->stopped);
        json_field(w, "roc_auc", o->roc_auc);
        json_field(w, "tpr_at_5pct_fpr", o->tpr_at_5pct_fpr);
        json_field(w, "tpr_at_1pct_fpr", o->tpr_at_1pct_fpr);
        json_end_object(w);
    }
}

const char *report_rule_name(int32_t rule)
{
    return rule == DG_RULE_SCORE ? "score" : "votes";
}

void eval_write_json(json_writer *w, const eval_view *v,
                     void (*defence_extra)(json_writer *, const void *),
                     const void *ctx)
{
    json_key(w, "clean");
    json_begin_object(w);
    json_put_int(w, "samples", v->info.clean);
    json_field(w, "student_accuracy", v->info.student_accuracy);
    json_end_object(w);

    json_key(w, "attack");
    json_begin_object(w);
    for (uint32_t s = 0; s < v->info.sets; s++) {
        const dg_eval_set *a = &v->sets[s];
        json_key(w, a->name);
        json_begin_object(w);
        json_put_string(w, "mode", a->targeted ? "targeted" : "untargeted");
        json_put_int(w, "attempts", a->attempts);
        json_put_int(w, "within_budget", a->within_budget);
        json_field(w, "asr", share(a->reached_target, a->attempts));
        json_field(w, "not_source_rate", share(a->left_source, a->attempts));
        json_put_int(w, "fooling", a->fooling);
        json_put_string(w, "description", v->descriptions[s]);
        json_end_object(w);
    }
    json_end_object(w);

    json_key(w, "defence");
    json_begin_object(w);
    json_put_int(w, "m", v->info.members);
    json_put_string(w, "rule", report_rule_name(v->info.rule));
    json_put_int(w, "variants", v->info.variants);
    json_field(w, "latency_ms_per_input", v->info.latency_ms);
    json_row(w, v, eval_guard_row(v, v->info.members, v->info.rule));
    json_key(w, "by_members");
    json_begin_array(w);
    for (uint32_t k = 0; k < v->info.rows; k++) {
        if (v->rows[k].kind != DG_EVAL_GUARD) continue;
        json_begin_object(w);
        json_put_int(w, "m", v->rows[k].members);
        json_put_string(w, "rule", report_rule_name(v->rows[k].rule));
        json_row(w, v, k);
        json_end_object(w);
    }
    json_end_array(w);
    if (defence_extra) defence_extra(w, ctx);
    json_end_object(w);

    json_key(w, "baselines");
    json_begin_object(w);
    json_key(w, "no_defence");
    json_begin_object(w);
    json_row(w, v, eval_baseline_row(v, DG_EVAL_NO_DEFENCE, false));
    json_end_object(w);
    json_key(w, "pool");
    json_begin_object(w);
    json_row(w, v, eval_baseline_row(v, DG_EVAL_POOL, false));
    json_end_object(w);
    json_key(w, "feature_squeezing");
    json_begin_object(w);
    json_put_int(w, "bits", v->info.squeeze_bits);
    json_field(w, "target_fpr", v->info.baseline_fpr);
    json_row(w, v, eval_baseline_row(v, DG_EVAL_SQUEEZE, false));
    json_key(w, "at_guard_frr");
    json_begin_object(w);
    json_row(w, v, eval_baseline_row(v, DG_EVAL_SQUEEZE, true));
    json_end_object(w);
    json_end_object(w);
    uint32_t patch;
    if (eval_patch_row(v, &patch)) {
        json_key(w, "patched_student");
        json_begin_object(w);
        json_field(w, "clean_accuracy",
                   v->info.student_accuracy - v->rows[patch].accuracy_loss);
        json_row(w, v, patch);
        json_end_object(w);
    }
    json_end_object(w);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

void eval_percent(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", 100 * v);
}

/* The rows worth a reader's time: the guard at every M with the default
 * rule, the other rule at the default M, and the baselines. */
static bool shown(const eval_view *v, const dg_eval_row *row)
{
    if (row->kind != DG_EVAL_GUARD) return true;
    return row->rule == v->info.rule || row->members == v->info.members;
}

/* A terminal table holds 4 columns of its own and 2 per set. */
enum { SETS_PER_TABLE = (TABLE_MAX_COLUMNS - 4) / 2 };

/* Fills one table row of `row`: name, passes, FRR, loss, then for sets
 * first .. first + n - 1 the defence rate and AUC. */
static void table_row(text_table *t, const eval_view *v, uint32_t k,
                      uint32_t first, uint32_t n)
{
    const dg_eval_row *row = &v->rows[k];
    char a[16], b[16];
    table_cell(t, "%s", row->name);
    table_cell(t, "%u", row->passes);
    eval_percent(a, sizeof a, row->false_rejection_rate);
    eval_percent(b, sizeof b, row->accuracy_loss);
    table_cell(t, "%s", a);
    table_cell(t, "%s", b);
    for (uint32_t s = first; s < first + n; s++) {
        const dg_eval_outcome *o = eval_outcome(v, k, s);
        eval_percent(a, sizeof a, o->defence_rate);
        table_cell(t, "%s", a);
        if (isnan(o->roc_auc))
            table_cell(t, "-");
        else
            table_cell(t, "%.3f", o->roc_auc);
    }
}

/* The table of sets first .. first + n - 1, n <= SETS_PER_TABLE; the
 * table keeps `align` (TABLE_MAX_COLUMNS + 1 letters), which the caller
 * holds until it prints the table. */
static void build_table(text_table *t, const eval_view *v, uint32_t first,
                        uint32_t n, char *align)
{
    const char *headers[TABLE_MAX_COLUMNS] = {"defence", "passes", "FRR",
                                              "acc. loss"};
    char names[TABLE_MAX_COLUMNS][64];
    strcpy(align, "lrrr");
    uint32_t columns = 4;
    for (uint32_t s = first; s < first + n; s++) {
        snprintf(names[columns], sizeof names[0], "%s: defence",
                 v->sets[s].name);
        snprintf(names[columns + 1], sizeof names[0], "%s: AUC",
                 v->sets[s].name);
        headers[columns] = names[columns];
        headers[columns + 1] = names[columns + 1];
        align[columns++] = 'r';
        align[columns++] = 'r';
    }
    align[columns] = 0;
    table_init(t, align, headers);
    for (uint32_t k = 0; k < v->info.rows; k++)
        if (shown(v, &v->rows[k])) table_row(t, v, k, first, n);
}

bool eval_print_table(FILE *out, const eval_view *v)
{
    /* More sets than one terminal table holds: one table per group of
     * sets, each with the defences' own columns again. */
    uint32_t first = 0;
    bool ok = true;
    do {
        uint32_t n = v->info.sets - first;
        if (n > SETS_PER_TABLE) n = SETS_PER_TABLE;
        if (first > 0) fputc('\n', out);
        text_table t;
        char align[TABLE_MAX_COLUMNS + 1];
        build_table(&t, v, first, n, align);
        ok = table_write(&t, out, 2);
        first += n;
    } while (ok && first < v->info.sets);
    return ok;
}

static void markdown_cells(FILE *out, const char *first, const char *rest,
                           uint32_t n)
{
    fprintf(out, "|%s", first);
    for (uint32_t k = 0; k < n; k++) fprintf(out, "|%s", rest);
    fprintf(out, "|\n");
}

void eval_write_markdown(FILE *out, const eval_view *v)
{
    char a[16], b[16], c[16];
    fprintf(out, "Clean inputs: %u, Student accuracy %.2f%%.  Guard: %u "
                 "classes x %u differentiators, default M = %u, rule %s; "
                 "%.3f ms per input at batch 64.\n\n",
            v->info.clean, 100 * v->info.student_accuracy, v->info.classes,
            v->info.variants, v->info.members, report_rule_name(v->info.rule),
            v->info.latency_ms);
    fprintf(out, "| attack set | mode | attempts | within budget | ASR | "
                 "!= source | fooling |\n");
    markdown_cells(out, "---", "---:", 6);
    for (uint32_t s = 0; s < v->info.sets; s++) {
        const dg_eval_set *st = &v->sets[s];
        eval_percent(a, sizeof a, share(st->reached_target, st->attempts));
        eval_percent(b, sizeof b, share(st->left_source, st->attempts));
        fprintf(out, "| %s | %s | %u | %u | %s | %s | %u |\n", st->name,
                st->targeted ? "targeted" : "untargeted", st->attempts,
                st->within_budget, a, b, st->fooling);
    }
    fprintf(out, "\n| defence | passes | FRR | accuracy loss |");
    for (uint32_t s = 0; s < v->info.sets; s++)
        fprintf(out, " %s: defence rate | AUC | TPR@5%% |", v->sets[s].name);
    fprintf(out, "\n");
    markdown_cells(out, "---", "---:", 3 + 3 * v->info.sets);
    for (uint32_t k = 0; k < v->info.rows; k++) {
        const dg_eval_row *row = &v->rows[k];
        if (!shown(v, row)) continue;
        eval_percent(a, sizeof a, row->false_rejection_rate);
        eval_percent(b, sizeof b, row->accuracy_loss);
        fprintf(out, "| %s | %u | %s | %s |", row->name, row->passes, a, b);
        for (uint32_t s = 0; s < v->info.sets; s++) {
            const dg_eval_outcome *o = eval_outcome(v, k, s);
            eval_percent(a, sizeof a, o->defence_rate);
            eval_percent(c, sizeof c, o->tpr_at_5pct_fpr);
            if (isnan(o->roc_auc))
                fprintf(out, " %s | - | %s |", a, c);
            else
                fprintf(out, " %s | %.3f | %s |", a, o->roc_auc, c);
        }
        fprintf(out, "\n");
    }
}

