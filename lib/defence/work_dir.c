/* work_dir.c - the work directory of a guard build (doc/guard-format.md):
 * claimed for one set of settings by a fingerprint file, one model file
 * per finished differentiator so that an interrupted build resumes, and
 * removed (dg_guard_work_dir_remove) once the caller has stored the guard.
 * Only this file knows its names. */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/file.h"
#include "defence/builder.h"
#include "io/model_format.h"

#define FINGERPRINT "settings.fingerprint"
/* What a crash while writing a file atomically may leave beside it. */
#define TEMPORARY ".tmpXXXXXX"

/* The settings and inputs a work directory's differentiators depend on. */
static uint64_t work_fingerprint(const builder *b, uint64_t student_hash)
{
    const dg_ensemble_opts *o = b->o;
    dg_writer w;
    dg_writer_init(&w);
    dg_put_u64(&w, student_hash);
    dg_put_u64(&w, dg_dataset_hash(b->fit));
    dg_put_u32(&w, o->n_prune_layers);
    for (uint32_t k = 0; k < o->n_prune_layers; k++)
        dg_put_u32(&w, (uint32_t)b->layers[k]);
    dg_put_u32(&w, o->n_ratios);
    dg_put_f32s(&w, o->ratios, o->n_ratios);
    dg_put_u32(&w, (uint32_t)o->prune_mode);
    dg_put_u32(&w, (uint32_t)o->retrain_pruned);
    dg_put_u32(&w, o->epochs);
    dg_put_u32(&w, o->batch_size);
    dg_put_f32(&w, o->learning_rate);
    dg_put_f32(&w, o->distill_alpha);
    dg_put_f32(&w, o->distill_temperature);
    dg_put_u64(&w, o->seed);
    /* Only when not the original kind, so that work directories made
     * before member kinds existed still resume. */
    if (o->member_kind == DG_MEMBERS_ROBUST) {
        dg_put_u32(&w, (uint32_t)o->member_kind);
        dg_put_f32(&w, o->member_width);
        dg_put_f32(&w, o->robust_epsilon);
        dg_put_u32(&w, o->robust_epochs);
        if (o->robust_steps > 1) dg_put_u32(&w, o->robust_steps);
    }
    dg_put_u32(&w, (uint32_t)(o->harden != 0));
    if (o->harden) {
        dg_put_f32(&w, o->harden_epsilon);
        dg_put_f32(&w, o->harden_budget);
        dg_put_u32(&w, o->harden_iterations);
    }
    uint64_t h = w.status == DG_OK ? dg_hash64(w.data, w.len) : 0;
    dg_writer_release(&w);
    return h;
}

/* A work directory belongs to one set of settings: a marker file holds
 * their fingerprint, and a directory made for others is refused rather
 * than silently mixed. */
dg_status dg_work_dir_claim(const builder *b, uint64_t student_hash)
{
    const char *dir = b->o->work_dir;
    if (mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0)
        return dg_fail(DG_E_IO, "cannot use %s as the work directory", dir);
    char path[4096], want[32];
    snprintf(path, sizeof path, "%s/%s", dir, FINGERPRINT);
    snprintf(want, sizeof want, "%016llx\n",
             (unsigned long long)work_fingerprint(b, student_hash));
    uint8_t *have;
    size_t len;
    if (dg_file_read_all(path, 64, &have, &len) == DG_OK) {
        int same = len == strlen(want) && memcmp(have, want, len) == 0;
        free(have);
        if (!same)
            return dg_fail(DG_E_MISMATCH,
                           "%s holds differentiators built with other "
                           "settings, data or Student; remove it or choose "
                           "another work directory",
                           dir);
        return DG_OK;
    }
    return dg_file_write_atomic(path, want, strlen(want));
}

static void member_path(char *path, size_t cap, const char *dir, uint32_t c,
                        uint32_t v)
{
    snprintf(path, cap, "%s/class%u-variant%u.dgm", dir, c, v);
}

dg_status dg_work_dir_load(const char *dir, uint32_t c, uint32_t v,
                           dg_model **out)
{
    *out = NULL;
    char path[4096];
    member_path(path, sizeof path, dir, c, v);
    struct stat st;
    if (stat(path, &st) != 0) return DG_OK;
    return dg_model_load_path(path, out);
}

dg_status dg_work_dir_save(const char *dir, uint32_t c, uint32_t v,
                           const dg_model *m)
{
    char path[4096];
    member_path(path, sizeof path, dir, c, v);
    return dg_model_save_path(m, path);
}

/* Whether name is one of the files this library writes in a work
 * directory, or the temporary file a crash may leave beside one. */
static int is_work_file(const char *name)
{
    char stem[256];
    const char *tmp = strstr(name, ".tmp");
    if (tmp && strlen(tmp) == strlen(TEMPORARY) &&
        (size_t)(tmp - name) < sizeof stem) {
        memcpy(stem, name, (size_t)(tmp - name));
        stem[tmp - name] = '\0';
        name = stem;
    }
    unsigned c, v;
    int end = -1;
    sscanf(name, "class%u-variant%u.dgm%n", &c, &v, &end);
    return strcmp(name, FINGERPRINT) == 0 || (end > 0 && name[end] == '\0');
}

dg_status dg_work_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT) return DG_OK;
    if (!d) return dg_fail(DG_E_IO, "cannot read the work directory %s", dir);
    dg_status s = DG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[8192];
        if (!is_work_file(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0 && s == DG_OK)
            s = dg_fail(DG_E_IO, "cannot remove %s", path);
    }
    closedir(d);
    if (s == DG_OK) rmdir(dir); /* kept if it holds files of someone else */
    return s;
}
