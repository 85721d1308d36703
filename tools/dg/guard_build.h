/* guard_build.h - the progress of a guard build as dg guard build and
 * dg demo show it (implemented in cmd_guard.c). */
#ifndef DG_GUARD_BUILD_H
#define DG_GUARD_BUILD_H

#include "cli.h"

/* The bars of one build: hardening, then the differentiators, counting
 * this run's (a work directory's earlier ones are said once).  Zero it,
 * set work_dir (NULL: none) and merging, and pass it as the
 * dg_progress_fn's user. */
typedef struct build_progress {
    const char *work_dir;
    bool merging; /* every differentiator comes from the work directory */
    uint32_t reused; /* differentiators an earlier run left there */
    bool building;     /* the differentiators' first report was seen */
    const char *stage; /* of the bar on screen, or NULL */
} build_progress;
int build_progress_report(void *user, const char *stage, uint64_t done,
                          uint64_t total, double metric);
/* Reports a build stopped by Ctrl-C, and what keeps its work. */
int build_interrupted(const char *work_dir);

#endif
