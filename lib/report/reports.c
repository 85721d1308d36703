/* reports.c - the room's entries behind lib/api/report.c: which files an
 * evaluation's and a scenario's reports are, and their text forms. */
#include <stdlib.h>

#include "report/report.h"
#include "scenario/scenario.h"

/* ------------------------------------------------------------------------ */
/* An evaluation: DIR/eval.json, DIR/eval.md and the charts (dg eval)       */
/* ------------------------------------------------------------------------ */

static bool eval_json_text(const void *view, FILE *out)
{
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    eval_write_json(&w, view, NULL, NULL);
    json_end_object(&w);
    return !w.failed;
}

static bool eval_markdown_text(const void *view, FILE *out)
{
    fprintf(out, "# Defence evaluation\n\n");
    eval_write_markdown(out, view);
    return true;
}

static bool eval_table_text(const void *view, FILE *out)
{
    return eval_print_table(out, view);
}

dg_status report_eval_files(const dg_eval *e, const char *dir,
                            uint32_t parts)
{
    DG_TRY(report_folder(dir));
    eval_view v;
    dg_status st = eval_view_read(e, &v);
    if (st == DG_OK && (parts & DG_REPORT_JSON))
        st = report_save(dir, "eval.json", eval_json_text, &v);
    if (st == DG_OK && (parts & DG_REPORT_MARKDOWN))
        st = report_save(dir, "eval.md", eval_markdown_text, &v);
    if (st == DG_OK && (parts & DG_REPORT_CHARTS))
        st = eval_write_charts(&v, dir);
    eval_view_free(&v);
    return st;
}

static report_text_fn eval_text_fn(int32_t format)
{
    return format == DG_FORMAT_JSON       ? eval_json_text
           : format == DG_FORMAT_MARKDOWN ? eval_markdown_text
                                          : eval_table_text;
}

dg_status report_eval_text(const dg_eval *e, int32_t format, char **text,
                           size_t *len)
{
    eval_view v;
    dg_status st = eval_view_read(e, &v);
    if (st == DG_OK) st = report_text(eval_text_fn(format), &v, text, len);
    eval_view_free(&v);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The scenario: DIR/report.json, DIR/report.md, charts, examples (dg demo) */
/* ------------------------------------------------------------------------ */

dg_status report_scenario_files(const dg_scenario *s, uint32_t parts,
                                uint32_t examples)
{
    const char *dir = s->dir;
    scenario_report r;
    bool evals = parts & (DG_REPORT_JSON | DG_REPORT_MARKDOWN |
                          DG_REPORT_CHARTS);
    dg_status st = scenario_report_read(s, evals, &r);
    if (st == DG_OK && (parts & DG_REPORT_EXAMPLES))
        st = scenario_report_examples(&r, examples);
    if (st == DG_OK && (parts & DG_REPORT_CHARTS))
        st = eval_write_charts(&r.eval, dir);
    if (st == DG_OK && (parts & DG_REPORT_CHARTS))
        st = levels_write_charts(&r.levels);
    if (st == DG_OK && (parts & DG_REPORT_JSON))
        st = report_save(dir, "report.json", scenario_report_json, &r);
    if (st == DG_OK && (parts & DG_REPORT_MARKDOWN))
        st = report_save(dir, "report.md", scenario_report_markdown, &r);
    scenario_report_free(&r);
    return st;
}

dg_status report_scenario_text(const dg_scenario *s, int32_t format,
                               char **text, size_t *len)
{
    report_text_fn write = format == DG_FORMAT_JSON ? scenario_report_json
                           : format == DG_FORMAT_MARKDOWN
                               ? scenario_report_markdown
                               : scenario_report_table;
    scenario_report r;
    dg_status st = scenario_report_read(s, true, &r);
    if (st == DG_OK) st = report_text(write, &r, text, len);
    scenario_report_free(&r);
    return st;
}
