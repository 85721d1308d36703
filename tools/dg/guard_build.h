/* guard_build.h - building a guard file with a progress bar, as dg guard
 * build and dg demo do it (implemented in cmd_guard.c). */
#ifndef DG_GUARD_BUILD_H
#define DG_GUARD_BUILD_H

#include "cli.h"

/* Builds a guard with a progress bar and writes it to path.  Ctrl-C stops
 * after the differentiator in progress; o->work_dir (if set) keeps the
 * finished ones so the same call resumes, and is removed once the guard is
 * written (kept if writing fails).  *seconds gets the build time.  Reports failures. */
int guard_build_file(const dg_guard_opts *o, const dg_model *student,
                     const dg_dataset *train, const dg_dataset *holdout,
                     const char *path, dg_guard **out, double *seconds);

#endif
