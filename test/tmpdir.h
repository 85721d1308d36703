/* tmpdir.h - a scratch folder for the tests that write files: made per
 * test, removed with everything in it afterwards (a failing test leaves it
 * for a look). */
#ifndef DG_TEST_TMPDIR_H
#define DG_TEST_TMPDIR_H

/* Needs _XOPEN_SOURCE 700 (nftw) before any system header. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static char tmp_dir[64];

/* /tmp/dg_test_NAMEXXXXXX. */
static inline void make_tmp_dir(const char *name)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/dg_test_%sXXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static inline int remove_tmp_entry(const char *path, const struct stat *st,
                                   int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void remove_tmp_dir(void)
{
    nftw(tmp_dir, remove_tmp_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmp_dir/name in a static buffer (one live at a time per slot, 0-3). */
static inline const char *tmp_path(int slot, const char *name)
{
    static char paths[4][256];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", tmp_dir, name);
    return paths[slot];
}

#endif
