/* cmd_eval.c - `dg eval`: a guard and the baselines judged on the same
 * clean data and adversarial sets (dg_eval_run), printed as a table or
 * JSON, with a markdown report and charts (dg_eval_write_report). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

/* A set's name: a chart's file name and a table's column. */
typedef char set_name[64];

/* The sets, as many as the command line names. */
typedef struct eval_command {
    dg_model *student, *patched;
    dg_guard *guard;
    class_data clean;
    const dg_advset **sets;
    dg_advset **owned;
    set_name *names;
    const char **name_of;
    uint32_t n_sets;
} eval_command;

/* NAME=PATH, or PATH named by its file name without the extension. */
static int open_set(eval_command *e, const char *arg)
{
    uint32_t s = e->n_sets;
    const char *eq = strchr(arg, '=');
    const char *path = eq ? eq + 1 : arg;
    if (eq) {
        if (eq == arg || (size_t)(eq - arg) >= sizeof e->names[s])
            return cli_usage_error("bad set name in \"%s\"", arg);
        memcpy(e->names[s], arg, (size_t)(eq - arg));
        e->names[s][eq - arg] = 0;
    } else {
        const char *base = strrchr(path, '/');
        snprintf(e->names[s], sizeof e->names[s], "%s", base ? base + 1 : path);
        char *dot = strrchr(e->names[s], '.');
        if (dot && dot != e->names[s]) *dot = 0;
    }
    /* Names become file names of charts and cells of markdown tables;
     * a dot is allowed, as budgets in the demo's set names carry one. */
    for (const char *c = e->names[s]; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return cli_usage_error("the set name \"%s\" may only hold "
                                   "letters, digits, -, _ and .; name it "
                                   "NAME=PATH",
                                   e->names[s]);
    for (uint32_t k = 0; k < s; k++)
        if (strcmp(e->names[k], e->names[s]) == 0)
            return cli_usage_error("two sets are named \"%s\"; name them "
                                   "NAME=PATH", e->names[s]);
    dg_status st = dg_advset_load_file(path, &e->owned[s]);
    if (st != DG_OK) return cli_fail(st, "loading %s", path);
    e->sets[s] = e->owned[s];
    e->name_of[s] = e->names[s];
    e->n_sets++;
    return CLI_EXIT_OK;
}

static int open_inputs(eval_command *e, const cli_args *args)
{
    const char *student, *guard, *clean = cli_value(args, "data");
    if (!clean) clean = cli_value(args, "clean"); /* its former name */
    int rc = required_value(args, "student", &student);
    if (rc == CLI_EXIT_OK) rc = required_value(args, "guard", &guard);
    if (rc == CLI_EXIT_OK && !clean) rc = required_value(args, "data", &clean);
    if (rc != CLI_EXIT_OK) return rc;
    size_t n = (size_t)args->n_positional;
    e->sets = calloc(n, sizeof *e->sets);
    e->owned = calloc(n, sizeof *e->owned);
    e->names = calloc(n, sizeof *e->names);
    e->name_of = calloc(n, sizeof *e->name_of);
    if (!e->sets || !e->owned || !e->names || !e->name_of)
        return cli_error("out of memory");
    rc = cli_load_model(student, &e->student);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_guard_load_file(guard, e->student, &e->guard);
    if (st != DG_OK) return cli_fail(st, "loading the guard %s", guard);
    const char *patched = cli_value(args, "patched");
    if (patched && (rc = cli_load_model(patched, &e->patched)) != CLI_EXIT_OK)
        return rc;
    uint32_t shape[3];
    st = dg_model_input_shape(e->student, &shape[0], &shape[1], &shape[2]);
    if (st != DG_OK) return cli_fail(st, "reading %s", student);
    long per_class;
    rc = cli_long(args, "per-class", 0, 0, 1L << 30, &per_class);
    if (rc == CLI_EXIT_OK)
        rc = data_open(clean, shape, cli_value(args, "classes"), 0,
                       (uint32_t)per_class, &e->clean);
    for (int k = 0; rc == CLI_EXIT_OK && k < args->n_positional; k++)
        rc = open_set(e, args->positional[k]);
    return rc;
}

static void close_inputs(eval_command *e)
{
    for (uint32_t s = 0; s < e->n_sets; s++) dg_advset_free(e->owned[s]);
    free(e->sets);
    free(e->owned);
    free(e->names);
    free(e->name_of);
    data_free(&e->clean);
    dg_guard_free(e->guard);
    dg_model_free(e->student);
    dg_model_free(e->patched);
}

/* The evaluation, with a progress bar that Ctrl-C stops. */
static int evaluate(const eval_command *e, const dg_eval_opts *o,
                    dg_eval **out)
{
    dg_eval_opts opts = *o;
    bool started = false;
    opts.progress = progress_callback;
    opts.progress_user = &started;
    dg_status st = dg_eval_run(e->guard, e->clean.samples, e->sets,
                               e->name_of, e->n_sets, &opts, out);
    if (started) progress_finish();
    if (st == DG_E_CANCELLED) return cli_error("interrupted");
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "evaluating the guard");
}

static int run_eval(const cli_args *args)
{
    eval_command e = {0};
    dg_eval *result = NULL;
    double fpr;
    long bits;
    catch_interrupts();
    int rc = cli_long(args, "squeeze-bits", DG_EVAL_SQUEEZE_DEFAULT_BITS, 1,
                      7, &bits);
    if (rc == CLI_EXIT_OK)
        rc = cli_double(args, "baseline-fpr", 0.05, 0.0, 0.5, &fpr);
    if (rc == CLI_EXIT_OK) rc = open_inputs(&e, args);
    if (rc == CLI_EXIT_OK) {
        dg_eval_opts o;
        dg_eval_opts_init(&o, sizeof o);
        o.squeeze_bits = (uint32_t)bits;
        o.baseline_fpr = fpr;
        o.patched_student = e.patched;
        rc = evaluate(&e, &o, &result);
    }
    const char *report = cli_value(args, "report");
    if (rc == CLI_EXIT_OK && report) {
        dg_status st = dg_eval_write_report(result, report, NULL);
        if (st != DG_OK) rc = cli_fail(st, "writing the report to %s", report);
    }
    if (rc == CLI_EXIT_OK)
        rc = cli_print_report(&(cli_report){.eval = result},
                              cli_flag(args, "json") ? DG_FORMAT_JSON
                                                     : DG_FORMAT_TEXT);
    dg_eval_free(result);
    close_inputs(&e);
    return rc;
}

static const cli_option eval_options[] = {
    {"student", 's', "MODEL", "the Student the guard defends"},
    {"guard", 'g', "GUARD", "the guard to evaluate"},
    {"data", 'd', "SPEC", "clean test data: " DATA_SPEC_FORMS},
    {"clean", 0, "SPEC", "the former name of --data"},
    CLASSES_OPTION,
    {"per-class", 0, "N", "at most N clean samples per class (default all)"},
    {"squeeze-bits", 0, "B", "feature squeezing's bit depth (default "
                             TRAIN_TEXT(DG_EVAL_SQUEEZE_DEFAULT_BITS) ")"},
    {"baseline-fpr", 0, "F", "clean false positives feature squeezing is "
                             "calibrated to (default 0.05)"},
    {"patched", 0, "MODEL", "also judge by the Student patched with dg patch "
                            "(Wang et al.), a last row"},
    {"report", 'o', "DIR", "write DIR/eval.json, DIR/eval.md and charts"},
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_eval = {
    .name = "eval",
    .summary = "Measure a guard and the baselines against adversarial sets",
    .synopsis = "[NAME=]ADVSET...",
    .description =
        "Runs the clean data and every attempt of each adversarial set (from "
        "dg attack)\nthrough the Student, the guard at every M and rule, the "
        "whole pool of\ndifferentiators without phase 1, and feature "
        "squeezing, and reports for each:\nfalse rejection rate and accuracy "
        "loss on clean data, defence rate (share of\nthe attempts that fool "
        "the Student which are stopped) and ROC AUC.  The pool\nand one "
        "feature-squeezing row are calibrated on the clean data to the "
        "guard's\nfalse rejection rate, so their defence rates compare.  "
        "Any number of sets:\nthe table goes on in further tables of "
        "6 sets each, defence-vs-members.png\ndraws the first 6, and every "
        "set has its ROC chart.  With --patched, the patched\nStudent "
        "answers in the Student's place: an attempt is stopped when it does "
        "not\nanswer the attacker's class.  doc/EVALUATION.md defines every "
        "number.",
    .options = eval_options,
    .min_args = 1,
    .max_args = -1,
    .run = run_eval,
};
