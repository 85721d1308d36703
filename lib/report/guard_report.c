/* guard_report.c - what dg guard info and dg guard build print of each
 * class of a guard: its differentiators and their calibration. */
#include <stdlib.h>

#include "report/report.h"

/* DG_PRUNE_* as dg guard build's --mode spells it; "?" for none (a
 * member not made by pruning). */
static const char *mode_name(int32_t mode)
{
    return mode == DG_PRUNE_MOST ? "most" : mode == DG_PRUNE_LEAST ? "least"
                                                                   : "?";
}

static const dg_member_info *member_at(const guard_view *s, uint32_t cls,
                                       uint32_t rank)
{
    return &s->members[cls * s->info.variants + rank];
}

static const dg_calibration *calibration_at(const guard_view *s,
                                            uint32_t cls, uint32_t M)
{
    return &s->calibration[cls * s->info.variants + M - 1];
}

static bool class_text(FILE *out, const guard_view *s, uint32_t cls)
{
    const char *name = s->class_names[cls];
    fputc('\n', out);
    text_printf(out, "class %u%s%s", cls, name[0] ? " " : "", name);
    fputc('\n', out);
    text_table t;
    table_init(&t, "rrrlrrrr",
               (const char *const[]){"rank", "prune layer", "ratio", "mode",
                                     "pruned", "tail layers", "agreement",
                                     "score"});
    for (uint32_t r = 0; r < s->info.variants; r++) {
        const dg_member_info *m = member_at(s, cls, r);
        table_cell(&t, "%u", r);
        table_cell(&t, "%d", m->prune_layer);
        table_cell(&t, "%.2f", (double)m->ratio);
        table_cell(&t, "%s", mode_name(m->mode));
        table_cell(&t, "%u", m->pruned_units);
        table_cell(&t, "%u", m->tail_layers);
        table_cell(&t, "%.2f%%", 100.0 * m->agreement);
        table_cell(&t, "%.4f", (double)m->score);
    }
    if (!table_write(&t, out, 2)) return false;
    table_init(&t, "rrrrrrl",
               (const char *const[]){"M", "tau", "theta", "FRR votes",
                                     "FRR score", "fresh +-", "samples"});
    for (uint32_t M = s->first_m; M <= s->last_m; M++) {
        const dg_calibration *c = calibration_at(s, cls, M);
        table_cell(&t, "%u", M);
        table_cell(&t, "%u", c->tau);
        table_cell(&t, "%.4f", (double)c->theta);
        table_cell(&t, "%.2f%%", 100.0 * c->frr_votes);
        table_cell(&t, "%.2f%%", 100.0 * c->frr_score);
        table_cell(&t, "%.2f%%", 100.0 * c->frr_spread);
        table_cell(&t, "%u%s", c->samples, c->pooled ? " (all classes)" : "");
    }
    fputc('\n', out);
    return table_write(&t, out, 2);
}

static void json_class(json_writer *w, const guard_view *s, uint32_t cls)
{
    json_begin_object(w);
    json_put_int(w, "class", cls);
    json_put_string(w, "name", s->class_names[cls]);
    json_key(w, "differentiators");
    json_begin_array(w);
    for (uint32_t r = 0; r < s->info.variants; r++) {
        const dg_member_info *m = member_at(s, cls, r);
        json_begin_object(w);
        json_put_int(w, "rank", r);
        json_put_int(w, "prune_layer", m->prune_layer);
        json_put_number(w, "ratio", m->ratio);
        json_put_string(w, "mode", mode_name(m->mode));
        json_put_int(w, "seed", (int64_t)m->seed);
        json_put_int(w, "pruned_units", m->pruned_units);
        json_put_int(w, "tail_layers", m->tail_layers);
        json_put_number(w, "agreement", m->agreement);
        json_put_number(w, "score", m->score);
        json_end_object(w);
    }
    json_end_array(w);
    json_key(w, "calibration");
    json_begin_array(w);
    for (uint32_t M = s->first_m; M <= s->last_m; M++) {
        const dg_calibration *c = calibration_at(s, cls, M);
        json_begin_object(w);
        json_put_int(w, "members", M);
        json_put_int(w, "tau", c->tau);
        json_put_number(w, "theta", c->theta);
        json_put_number(w, "frr_votes", c->frr_votes);
        json_put_number(w, "frr_score", c->frr_score);
        json_put_number(w, "frr_spread", c->frr_spread);
        json_put_int(w, "samples", c->samples);
        json_put_bool(w, "pooled", c->pooled);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

static bool guard_text(const void *ctx, FILE *out)
{
    const guard_view *s = ctx;
    bool ok = true;
    for (uint32_t c = 0; c < s->info.classes && ok; c++)
        ok = class_text(out, s, c);
    return ok;
}

static bool guard_json(const void *ctx, FILE *out)
{
    const guard_view *s = ctx;
    json_writer w;
    json_init(&w, out);
    json_begin_array(&w);
    for (uint32_t c = 0; c < s->info.classes; c++) json_class(&w, s, c);
    json_end_array(&w);
    return !w.failed;
}

dg_status report_guard_text(const guard_view *g, int32_t format,
                            char **text, size_t *len)
{
    return report_text(format == DG_FORMAT_JSON ? guard_json : guard_text, g,
                       text, len);
}
