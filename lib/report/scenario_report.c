/* scenario_report.c - the demonstration scenario's report as dg demo
 * writes it: its models and guards, the evaluation of the guard on the
 * attack stage's sets with its charts, the threat levels (levels.c) and
 * the example images of the sets this run made. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "report/report.h"
#include "scenario/scenario.h"

dg_status scenario_report_read(const dg_scenario *s, bool evals,
                               scenario_report *out)
{
    *out = (scenario_report){.scenario = s};
    scenario_report *r = out;
    scenario_info_of(s, &r->info);
    for (uint32_t k = 0; k < 4; k++) scenario_model_of(s, k, &r->models[k]);
    for (uint32_t k = 0; k < 2; k++) scenario_guard_of(s, k, &r->guards[k]);
    DG_TRY(dg_alloc_array((void **)&r->sets, r->info.sets + 1,
                          sizeof *r->sets, "report"));
    for (uint32_t k = 0; k < r->info.sets; k++)
        scenario_set_of(s, k, &r->sets[k]);
    r->seconds = s->seconds;
    if (!evals) return DG_OK;
    if (!s->evals[0] || !s->evals[1])
        return dg_fail(DG_E_STATE, "the eval stage has not run");
    DG_TRY(eval_view_read(s->evals[0], &r->eval));
    return levels_read(&r->levels, s, &r->info);
}

void scenario_report_free(scenario_report *r)
{
    eval_view_free(&r->eval);
    levels_free(&r->levels);
    free(r->sets);
    *r = (scenario_report){0};
}

dg_status scenario_report_examples(const scenario_report *r, uint32_t n)
{
    for (uint32_t k = 0; k < r->info.sets; k++) {
        const dg_scenario_set *s = &r->sets[k];
        if (!s->set || !s->target_index) continue;
        char file[64], dir[4096];
        snprintf(file, sizeof file, "examples-%s", s->name);
        DG_TRY(report_path(r->info.dir, file, dir, sizeof dir));
        DG_TRY(report_write_examples(s->set, r->info.test_data,
                                     s->target_index, dir, n));
    }
    return DG_OK;
}

static double test_accuracy(const dg_scenario_model *m)
{
    return m->test_total ? (double)m->test_correct / m->test_total : NAN;
}

static void json_plan(json_writer *w, const dg_scenario_model *m)
{
    json_begin_object(w);
    json_put_string(w, "architecture", m->architecture);
    json_put_string(w, "classes", m->classes);
    json_key(w, "per_class");
    if (m->per_class)
        json_int(w, m->per_class);
    else
        json_string(w, "all");
    if (m->skip_per_class)
        json_put_int(w, "skip_per_class", m->skip_per_class);
    json_put_int(w, "epochs", m->epochs);
    json_put_int(w, "batch", m->batch);
    json_put_string(w, "optimizer", m->optimizer);
    json_put_number(w, "learning_rate", m->learning_rate);
    json_put_string(w, "schedule", m->schedule);
    json_end_object(w);
}

static void json_model(json_writer *w, const dg_scenario_model *m)
{
    json_begin_object(w);
    json_put_number(w, "test_accuracy", test_accuracy(m));
    json_put_int(w, "test_correct", m->test_correct);
    json_put_int(w, "test_samples", m->test_total);
    json_put_number(w, "test_seconds", m->test_seconds);
    json_put_bool(w, "reused", m->reused);
    if (!m->reused) {
        bool trained = m->epochs_run > 0;
        double images = (double)m->epochs_run * m->train_samples;
        json_put_int(w, "train_samples", m->train_samples);
        json_put_int(w, "resumed_epoch", m->resumed_epoch);
        json_put_number(w, "final_loss", trained ? m->last_loss : NAN);
        json_put_number(w, "train_accuracy",
                        trained ? m->last_accuracy : NAN);
        json_put_number(w, "train_seconds", m->train_seconds);
        json_put_number(w, "images_per_second",
                        m->train_seconds > 0 ? images / m->train_seconds : 0);
    }
    json_key(w, "settings");
    json_plan(w, m);
    json_end_object(w);
}

static void json_guard(json_writer *w, const dg_scenario_guard *g)
{
    json_begin_object(w);
    json_put_bool(w, "reused", g->reused);
    json_put_number(w, "build_seconds", g->reused ? NAN : g->build_seconds);
    json_end_object(w);
}

bool scenario_report_json(const void *ctx, FILE *out)
{
    const scenario_report *d = ctx;
    static const char *const model_keys[4] = {
        "teacher", "student", "surrogate_student", "patched_student"};
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    json_put_string(&w, "scenario", d->info.name);
    json_put_string(&w, "mode", d->info.mode_name);
    json_put_int(&w, "seed", (int64_t)d->info.seed);
    for (uint32_t k = 0; k < 4; k++) {
        json_key(&w, model_keys[k]);
        json_model(&w, &d->models[k]);
    }
    json_key(&w, "guard");
    json_guard(&w, &d->guards[0]);
    json_key(&w, "surrogate_guard");
    json_guard(&w, &d->guards[1]);
    eval_write_json(&w, &d->eval, levels_json, &d->levels);
    json_put_number(&w, "seconds", d->seconds);
    json_end_object(&w);
    return true;
}

/* "500", or "all" when the plan takes every image of its classes. */
static void format_per_class(const dg_scenario_model *m, char *buf,
                             size_t size)
{
    if (m->per_class)
        snprintf(buf, size, "%u", m->per_class);
    else
        snprintf(buf, size, "all");
}

/* "123.4 s", or "reused" for a model an earlier run trained. */
static void format_training_time(const dg_scenario_model *m, char *buf,
                                 size_t size)
{
    if (m->reused)
        snprintf(buf, size, "reused");
    else
        snprintf(buf, size, "%.1f s", m->train_seconds);
}

static void md_model_row(FILE *out, const dg_scenario_model *m)
{
    char time_text[32], per_class[16];
    format_training_time(m, time_text, sizeof time_text);
    format_per_class(m, per_class, sizeof per_class);
    fprintf(out, "| %s | %s | %s | %u | %u | %s %g | %s | %s | %.2f%% "
                 "(%u of %u) |\n",
            m->name, m->classes, per_class, m->epochs, m->batch,
            m->optimizer, m->learning_rate, m->schedule, time_text,
            100 * test_accuracy(m), m->test_correct, m->test_total);
}

bool scenario_report_markdown(const void *ctx, FILE *out)
{
    const scenario_report *d = ctx;
    const dg_scenario_info *i = &d->info;
    const dg_scenario_model *surrogate = &d->models[2];
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "# dg demo: %s (%s)\n\n", i->name, i->mode_name);
    fprintf(out, "Fashion-MNIST: the Teacher learns classes %s, the Student "
                 "is made from it by\ntransfer learning and learns classes "
                 "%s.  Test accuracy is measured on the\nt10k split of "
                 "the same classes.\n\n",
            i->teacher_classes, i->student_classes);
    fprintf(out, "| model | classes | images per class | epochs | batch | "
                 "optimizer | schedule | training time | test accuracy |\n");
    fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
    for (uint32_t k = 0; k < 4; k++) md_model_row(out, &d->models[k]);
    fprintf(out, "\n- Teacher architecture: `%s`\n",
            d->models[0].architecture);
    fprintf(out, "- Student: %s\n", d->models[1].architecture);
    fprintf(out, "- surrogate-student: the level-b attacker's own Student, "
                 "made the same way from\n  images %u to %u of each class "
                 "(doc/EVALUATION.md, \"Threat levels\")\n",
            surrogate->skip_per_class,
            surrogate->skip_per_class + surrogate->per_class - 1);
    fprintf(out, "- Seed %llu; %s; total time %.1f s\n",
            (unsigned long long)i->seed, date, d->seconds);
    fprintf(out, "\n## Defence\n\nThe guard (%s), attacks on test images "
                 "of the Student's classes\n(%s/attack-*.dgadv, examples in "
                 "examples-*), and the baselines on the\nsame inputs "
                 "(doc/EVALUATION.md defines each number).\n\n",
            d->guards[0].reused ? "reused" : "built by this run", i->dir);
    eval_write_markdown(out, &d->eval);
    fprintf(out, "\n![defence rate](defence-vs-members.png)\n"
                 "![cost](cost-vs-members.png)\n");
    for (uint32_t k = 0; k < i->sets; k++)
        fprintf(out, "![ROC %s](roc-%s.png)\n", d->sets[k].name,
                d->sets[k].name);
    levels_markdown(out, &d->levels);
    return true;
}

bool scenario_report_table(const void *ctx, FILE *out)
{
    const scenario_report *d = ctx;
    text_table t;
    table_init(&t, "llrrll",
               (const char *const[]){"model", "classes", "epochs",
                                     "per class", "training",
                                     "test accuracy"});
    for (uint32_t k = 0; k < 4; k++) {
        const dg_scenario_model *m = &d->models[k];
        char time_text[32], per_class[16];
        format_training_time(m, time_text, sizeof time_text);
        format_per_class(m, per_class, sizeof per_class);
        table_cell(&t, "%s", m->name);
        table_cell(&t, "%s", m->classes);
        table_cell(&t, "%u", m->epochs);
        table_cell(&t, "%s", per_class);
        table_cell(&t, "%s", time_text);
        table_cell(&t, "%.2f%%", 100 * test_accuracy(m));
    }
    bool ok = table_write(&t, out, 0);
    if (ok) {
        fputc('\n', out);
        ok = eval_print_table(out, &d->eval);
    }
    return ok && levels_print(out, &d->levels);
}

