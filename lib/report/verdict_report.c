/* verdict_report.c - what dg validate prints of a verdict: accepted or
 * rejected, the class, the votes and score against the threshold, and
 * each consulted differentiator's class and score. */
#include "nn/model.h"
#include "report/report.h"

typedef struct verdict_report {
    const dg_verdict *verdict;
    const dg_model *student; /* NULL: no class names */
    const char *name;        /* NULL: not named */
} verdict_report;

/* The Student's name of class k; "" without a name or a Student. */
static const char *class_name(const verdict_report *v, int32_t k)
{
    if (!v->student || k < 0) return "";
    uint32_t n = (uint32_t)dg_shape_size(dg_model_output_shape(v->student));
    return (uint32_t)k < n ? dg_model_class_label(v->student, (uint32_t)k)
                           : "";
}

static bool verdict_json(const void *ctx, FILE *out)
{
    const verdict_report *v = ctx;
    const dg_verdict *d = v->verdict;
    json_writer writer, *w = &writer;
    json_init(w, out);
    json_begin_object(w);
    if (v->name) json_put_string(w, "file", v->name);
    json_put_string(w, "verdict", d->accepted ? "ACCEPT" : "REJECT");
    json_put_bool(w, "accepted", d->accepted);
    json_put_int(w, "label", d->label);
    json_put_string(w, "name", class_name(v, d->label));
    json_put_string(w, "rule", report_rule_name(d->rule));
    json_put_int(w, "members", d->members);
    json_put_int(w, "votes", d->votes);
    json_put_number(w, "score", d->score);
    json_key(w, "threshold"); /* tau for votes, theta for score */
    json_number(w, d->threshold);
    json_key(w, "differentiators");
    json_begin_array(w);
    for (uint32_t r = 0; r < d->members; r++) {
        json_begin_object(w);
        json_put_int(w, "rank", r);
        json_put_int(w, "label", d->member_label[r]);
        json_put_string(w, "name", class_name(v, d->member_label[r]));
        json_key(w, "score"); /* its probability of the phase-1 label */
        json_number(w, d->member_score[r]);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
    return !w->failed;
}

static bool verdict_text(const void *ctx, FILE *out)
{
    const verdict_report *v = ctx;
    const dg_verdict *d = v->verdict;
    const char *name = class_name(v, d->label);
    if (v->name) text_printf(out, "%s: ", v->name);
    text_printf(out, "%s class %d%s%s", d->accepted ? "ACCEPT" : "REJECT",
                d->label, name[0] ? " " : "", name);
    fprintf(out, "\n");
    fprintf(out, "  votes %u of %u, score %.4f; ", d->votes, d->members,
            (double)d->score);
    if (d->rule == DG_RULE_VOTES)
        fprintf(out, "rule votes: accept with %.0f or more votes\n",
                (double)d->threshold);
    else
        fprintf(out, "rule score: accept at %.4f or more\n",
                (double)d->threshold);
    text_table t;
    table_init(&t, "rrlr",
               (const char *const[]){"rank", "label", "name", "score"});
    for (uint32_t r = 0; r < d->members; r++) {
        const char *member_name = class_name(v, d->member_label[r]);
        table_cell(&t, "%u", r);
        table_cell(&t, "%d", d->member_label[r]);
        table_cell(&t, "%s", member_name[0] ? member_name : "-");
        table_cell(&t, "%.4f", (double)d->member_score[r]);
    }
    return table_write(&t, out, 2);
}

dg_status report_verdict_text(const dg_verdict *d, const dg_model *student,
                              const char *name, int32_t format, char **text,
                              size_t *len)
{
    const verdict_report v = {d, student, name};
    return report_text(format == DG_FORMAT_JSON ? verdict_json
                                                : verdict_text,
                       &v, text, len);
}
