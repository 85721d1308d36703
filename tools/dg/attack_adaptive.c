/* attack_adaptive.c - the extra models of `dg attack`'s adaptive attacks:
 * whole models named by --against-models, and a guard's differentiators
 * of the target classes made whole with the Student (--against-guard),
 * and how a run records them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack_run.h"

static bool is_adaptive(const attack_plan *p)
{
    return p->guard_path || p->model_list;
}

static int append(adaptive_models *a, dg_model *m, int32_t cls)
{
    dg_model **models = realloc(a->models, (a->n + 1) * sizeof *models);
    if (models) a->models = models;
    int32_t *classes = realloc(a->classes, (a->n + 1) * sizeof *classes);
    if (classes) a->classes = classes;
    if (!models || !classes) {
        dg_model_free(m);
        return cli_error("out of memory");
    }
    a->models[a->n] = m;
    a->classes[a->n++] = cls;
    return CLI_EXIT_OK;
}

/* Every model of the comma-separated list, joining every attempt. */
static int load_list(const char *list, adaptive_models *a)
{
    int rc = CLI_EXIT_OK;
    for (const char *at = list; rc == CLI_EXIT_OK && *at;) {
        size_t len = strcspn(at, ",");
        char path[4096];
        if (len == 0 || len >= sizeof path)
            return cli_usage_error("--against-models: bad entry in \"%s\"",
                                   list);
        memcpy(path, at, len);
        path[len] = '\0';
        dg_model *m;
        dg_status st = dg_model_load_file(path, &m);
        if (st != DG_OK) return cli_fail(st, "loading %s", path);
        rc = append(a, m, -1);
        at += len + (at[len] == ',');
    }
    return rc;
}

/* The first `members` differentiators of each target class. */
static int load_guard(const attack_plan *p, const int32_t *targets,
                      uint32_t n, adaptive_models *a)
{
    const char *student_path =
        p->guard_student_path ? p->guard_student_path : p->student_path;
    dg_model *student;
    dg_guard *guard = NULL;
    dg_status st = dg_model_load_file(student_path, &student);
    if (st != DG_OK) return cli_fail(st, "loading %s", student_path);
    st = dg_guard_load_file(p->guard_path, student, &guard);
    dg_model_free(student); /* the guard holds its own reference */
    if (st != DG_OK)
        return cli_fail(st, "loading the guard %s for %s", p->guard_path,
                        student_path);
    dg_guard_info info = {.struct_size = sizeof info};
    st = dg_guard_get_info(guard, &info);
    int rc = st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "reading the guard");
    uint32_t members = p->guard_members ? p->guard_members : info.members;
    if (rc == CLI_EXIT_OK && members > info.variants)
        rc = cli_usage_error("--guard-members %u: the guard has %u per class",
                             members, info.variants);
    for (uint32_t c = 0; rc == CLI_EXIT_OK && c < info.classes; c++) {
        bool wanted = false;
        for (uint32_t i = 0; !wanted && i < n; i++)
            wanted = targets[i] == (int32_t)c;
        for (uint32_t r = 0; wanted && rc == CLI_EXIT_OK && r < members;
             r++) {
            dg_model *m;
            st = dg_guard_member_model(guard, c, r, &m);
            rc = st == DG_OK ? append(a, m, (int32_t)c)
                             : cli_fail(st, "member %u of class %u", r, c);
        }
    }
    dg_guard_free(guard);
    return rc;
}

int adaptive_load(const attack_plan *p, const int32_t *targets, uint32_t n,
                  adaptive_models *out)
{
    int rc = CLI_EXIT_OK;
    if (p->model_list) rc = load_list(p->model_list, out);
    if (rc == CLI_EXIT_OK && p->guard_path)
        rc = load_guard(p, targets, n, out);
    if (rc == CLI_EXIT_OK && is_adaptive(p) && out->n == 0)
        rc = cli_error("the guard has no members for the attempts' target "
                       "classes");
    return rc;
}

void adaptive_apply(const adaptive_models *a, dg_attack_opts *o)
{
    o->adaptive_models = (const dg_model *const *)a->models;
    o->adaptive_model_classes = a->classes;
    o->n_adaptive_models = a->n;
}

void adaptive_free(adaptive_models *a)
{
    for (uint32_t k = 0; k < a->n; k++) dg_model_free(a->models[k]);
    free(a->models);
    free(a->classes);
    memset(a, 0, sizeof *a);
}

void adaptive_describe(const attack_plan *p, char *buf, size_t cap)
{
    const dg_attack_opts *o = &p->opts;
    if (!is_adaptive(p)) {
        snprintf(buf, cap, "%s", "");
        return;
    }
    char members[32] = "M";
    if (p->guard_members) snprintf(members, sizeof members, "%u",
                                   p->guard_members);
    snprintf(buf, cap,
             "; adaptive: guard %s (%s members, student %s), models %s, "
             "weight %g, draw %u, feature term %s",
             p->guard_path ? p->guard_path : "none", members,
             p->guard_student_path ? p->guard_student_path : p->student_path,
             p->model_list ? p->model_list : "none",
             (double)o->adaptive_weight, o->adaptive_draw,
             o->feature_weight > 0 ? "on" : "off");
}

void adaptive_json(json_writer *w, const attack_plan *p)
{
    if (!is_adaptive(p)) return;
    const dg_attack_opts *o = &p->opts;
    json_key(w, "adaptive");
    json_begin_object(w);
    if (p->guard_path) {
        json_put_string(w, "guard", p->guard_path);
        json_key(w, "guard_student");
        json_string(w, p->guard_student_path ? p->guard_student_path
                                             : p->student_path);
        json_key(w, "guard_members");
        json_int(w, p->guard_members); /* 0: the guard's M */
    }
    if (p->model_list) {
        json_put_string(w, "models", p->model_list);
    }
    json_put_number(w, "weight", o->adaptive_weight);
    json_put_int(w, "draw", o->adaptive_draw);
    json_put_bool(w, "feature_term", o->feature_weight > 0);
    json_end_object(w);
}
