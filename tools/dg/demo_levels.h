/* demo_levels.h - what dg demo shows of its attacks at every threat level
 * of spec section 7 (doc/EVALUATION.md, "Threat levels"), which the
 * library's scenario makes and evaluates (dg_scenario_*): (a) the Teacher
 * only, at every layer from the first pooling layer on, (b) a surrogate
 * Student and guard the attacker builds from their own images, (c) the
 * real guard's members; (a) at the cut, (b) and (c) at every budget of a
 * sweep.  Reported as JSON members of "defence", a markdown section, a
 * terminal table and charts. */
#ifndef DG_DEMO_LEVELS_H
#define DG_DEMO_LEVELS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "eval.h"

/* DIR/FILE into buf.  Reports a path too long. */
int demo_path(const char *dir, const char *file, char *buf, size_t size);

typedef struct demo_levels {
    const dg_scenario_info *info; /* the plan, the cut, the folder */
    dg_scenario_set *sets;        /* the level sets, in order */
    uint32_t n_sets;
    eval_view eval;               /* the guard on them */
} demo_levels;

/* Reads the level sets and their evaluation from the scenario, says what
 * the guard did on each (unless quiet), and writes the charts to the
 * folder.  Reports failures. */
int levels_read(demo_levels *l, const dg_scenario *s,
                const dg_scenario_info *info, bool quiet);

/* "layer_sweep" and "adaptive" members of the report's "defence" object;
 * ctx is the demo_levels. */
void levels_json(json_writer *w, const void *ctx);
/* The report's section on the levels. */
void levels_markdown(FILE *out, const demo_levels *l);
/* The terminal table.  Reports failures. */
int levels_print(FILE *out, const demo_levels *l);

void levels_free(demo_levels *l);

#endif
