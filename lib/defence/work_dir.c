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
#include <time.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/file.h"
#include "defence/builder.h"
#include "io/model_format.h"

#define FINGERPRINT "settings.fingerprint"
/* What a crash while writing a file atomically may leave beside it. */
#define TEMPORARY ".tmpXXXXXX"

/* The settings a work directory's differentiators depend on, besides the
 * Student and the fit data. */
static void put_settings(dg_writer *w, const builder *b)
{
    const dg_ensemble_opts *o = b->o;
    dg_put_u32(w, o->n_prune_layers);
    for (uint32_t k = 0; k < o->n_prune_layers; k++)
        dg_put_u32(w, (uint32_t)b->layers[k]);
    dg_put_u32(w, o->n_ratios);
    dg_put_f32s(w, o->ratios, o->n_ratios);
    dg_put_u32(w, (uint32_t)o->prune_mode);
    dg_put_u32(w, (uint32_t)o->retrain_pruned);
    dg_put_u32(w, o->epochs);
    dg_put_u32(w, o->batch_size);
    dg_put_f32(w, o->learning_rate);
    dg_put_f32(w, o->distill_alpha);
    dg_put_f32(w, o->distill_temperature);
    dg_put_u64(w, o->seed);
    /* Only when not the original kind, so that work directories made
     * before member kinds existed still resume. */
    if (o->member_kind == DG_MEMBERS_ROBUST) {
        dg_put_u32(w, (uint32_t)o->member_kind);
        dg_put_f32(w, o->member_width);
        dg_put_f32(w, o->robust_epsilon);
        dg_put_u32(w, o->robust_epochs);
        if (o->robust_replays > 1) {
            dg_put_u32(w, 0); /* no step count is 0: replays follow */
            dg_put_u32(w, o->robust_replays);
        } else if (o->robust_steps > 1)
            dg_put_u32(w, o->robust_steps);
    }
    dg_put_u32(w, (uint32_t)(o->harden != 0));
    if (o->harden) {
        dg_put_f32(w, o->harden_epsilon);
        dg_put_f32(w, o->harden_budget);
        dg_put_u32(w, o->harden_iterations);
    }
}

static uint64_t hash_written(dg_writer *w)
{
    uint64_t h = w->status == DG_OK ? dg_hash64(w->data, w->len) : 0;
    dg_writer_release(w);
    return h;
}

static work_origin origin_of(const builder *b, uint64_t student_hash)
{
    work_origin id = {.student = student_hash, .data = dg_dataset_hash(b->fit)};
    dg_writer w;
    dg_writer_init(&w);
    put_settings(&w, b);
    id.settings = hash_written(&w);
    /* The bytes the fingerprint always hashed, so that existing work
     * directories keep their claim. */
    dg_writer_init(&w);
    dg_put_u64(&w, id.student);
    dg_put_u64(&w, id.data);
    put_settings(&w, b);
    id.whole = hash_written(&w);
    return id;
}

/* A work directory belongs to one set of settings: a marker file holds
 * their fingerprint, and a directory made for others is refused rather
 * than silently mixed. */
dg_status dg_work_dir_claim(builder *b, uint64_t student_hash, int create)
{
    const char *dir = b->o->work_dir;
    b->origin = origin_of(b, student_hash);
    if (create && mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0)
        return dg_fail(DG_E_IO, "cannot use %s as the work directory", dir);
    char path[4096], want[32];
    snprintf(path, sizeof path, "%s/%s", dir, FINGERPRINT);
    snprintf(want, sizeof want, "%016llx\n",
             (unsigned long long)b->origin.whole);
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
    if (!create)
        return dg_fail(DG_E_STATE,
                       "%s is not the work directory of a build (it has no "
                       "%s): run the shards first",
                       dir, FINGERPRINT);
    return dg_file_write_atomic(path, want, strlen(want));
}

static void member_path(char *path, size_t cap, const char *dir, uint32_t c,
                        uint32_t v)
{
    snprintf(path, cap, "%s/class%u-variant%u.dgm", dir, c, v);
}

/* A part is a differentiator behind a header naming its class, variant
 * and origin, so that a part copied or renamed over another, or made by
 * a build with other inputs (another shard's settings on a shared
 * folder), is refused instead of silently joined into a guard. */
static const char PART_MAGIC[4] = {'D', 'G', 'W', 'P'};
#define PART_VERSION 1u

typedef struct part {
    const builder *b;
    uint32_t c, v;
    dg_model **out;
} part;

static dg_status write_part(const void *ctx, dg_writer *w)
{
    const part *p = ctx;
    const work_origin *id = &p->b->origin;
    dg_put_bytes(w, PART_MAGIC, sizeof PART_MAGIC);
    dg_put_u32(w, PART_VERSION);
    dg_put_u32(w, p->c);
    dg_put_u32(w, p->v);
    dg_put_u64(w, id->student);
    dg_put_u64(w, id->data);
    dg_put_u64(w, id->settings);
    return dg_model_put_embedded(p->b->models[p->c * p->b->o->variants + p->v],
                                 w);
}

/* What of the part's origin differs from this build's, or NULL. */
static const char *origin_difference(const work_origin *want,
                                     const work_origin *have)
{
    if (have->student != want->student) return "for another Student";
    if (have->data != want->data) return "from other training data";
    if (have->settings != want->settings) return "with other settings";
    return NULL;
}

static dg_status parse_part(void *ctx, const uint8_t *data, size_t len)
{
    const part *p = ctx;
    dg_reader r;
    dg_reader_init(&r, data, len);
    char magic[4];
    uint32_t version, c, v;
    work_origin have = {0};
    DG_TRY(dg_get_bytes(&r, magic, sizeof magic, "part header"));
    if (memcmp(magic, PART_MAGIC, sizeof magic) != 0)
        return dg_fail(DG_E_MISMATCH,
                       "not a work-directory part (an older dg's or a "
                       "file put there by hand); remove it");
    DG_TRY(dg_get_u32(&r, &version, "part version"));
    if (version != PART_VERSION)
        return dg_fail(DG_E_UNSUPPORTED, "part version %u (this library "
                                         "reads %u)",
                       version, PART_VERSION);
    DG_TRY(dg_get_u32(&r, &c, "part class"));
    DG_TRY(dg_get_u32(&r, &v, "part variant"));
    DG_TRY(dg_get_u64(&r, &have.student, "part Student hash"));
    DG_TRY(dg_get_u64(&r, &have.data, "part data hash"));
    DG_TRY(dg_get_u64(&r, &have.settings, "part settings hash"));
    if (c != p->c || v != p->v)
        return dg_fail(DG_E_MISMATCH,
                       "holds class %u variant %u, not class %u variant "
                       "%u: a part copied or renamed over another is "
                       "refused; remove it and rebuild its shard",
                       c, v, p->c, p->v);
    const char *differs = origin_difference(&p->b->origin, &have);
    if (differs)
        return dg_fail(DG_E_MISMATCH,
                       "class %u variant %u was made %s than this build's; "
                       "remove it and rebuild its shard with the same "
                       "options",
                       c, v, differs);
    DG_TRY(dg_model_get_embedded(&r, p->out, "differentiator"));
    if (dg_reader_left(&r) != 0) {
        dg_model_unref(*p->out);
        *p->out = NULL;
        return dg_fail(DG_E_FORMAT, "%zu bytes after the differentiator",
                       dg_reader_left(&r));
    }
    return DG_OK;
}

dg_status dg_work_dir_load(builder *b, uint32_t c, uint32_t v)
{
    dg_model **out = &b->models[c * b->o->variants + v];
    *out = NULL;
    char path[4096];
    member_path(path, sizeof path, b->o->work_dir, c, v);
    struct stat st;
    if (stat(path, &st) != 0) return DG_OK;
    part p = {b, c, v, out};
    return dg_file_parse(path, DG_MODEL_FILE_MAX + 4096, NULL, parse_part, &p);
}

dg_status dg_work_dir_save(const builder *b, uint32_t c, uint32_t v)
{
    char path[4096];
    member_path(path, sizeof path, b->o->work_dir, c, v);
    part p = {b, c, v, NULL};
    return dg_file_save(path, write_part, &p);
}

/* A file name of the library's in a work directory: the fingerprint or
 * a part (class c, variant v), or the temporary file a crash while
 * writing one may leave beside it. */
typedef struct work_name {
    int part, temporary;
    unsigned c, v;
} work_name;

/* Whether name is one of the library's; fills *n if so. */
static int read_work_name(const char *name, work_name *n)
{
    char stem[256];
    const char *tmp = strstr(name, ".tmp");
    n->temporary = tmp && strlen(tmp) == strlen(TEMPORARY) &&
                   (size_t)(tmp - name) < sizeof stem;
    if (n->temporary) {
        memcpy(stem, name, (size_t)(tmp - name));
        stem[tmp - name] = '\0';
        name = stem;
    }
    int end = -1;
    sscanf(name, "class%u-variant%u.dgm%n", &n->c, &n->v, &end);
    n->part = end > 0 && name[end] == '\0';
    return n->part || strcmp(name, FINGERPRINT) == 0;
}

/* Removes the files of dir that `mine` selects; a missing dir is fine. */
/* Removes the work files of dir that `mine` picks; with stale_only, only
 * temporaries nobody is writing (dg_file_remove_if_stale). */
static dg_status remove_work_files(const char *dir,
                                   int (*mine)(const void *ctx,
                                               const work_name *n),
                                   const void *ctx, int stale_only)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT) return DG_OK;
    if (!d) return dg_fail(DG_E_IO, "cannot read the work directory %s", dir);
    dg_status s = DG_OK;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[8192];
        work_name n;
        if (!read_work_name(e->d_name, &n) || !mine(ctx, &n)) continue;
        if (stale_only) {
            dg_file_remove_if_stale(dirfd(d), e->d_name, now);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0 && s == DG_OK)
            s = dg_fail(DG_E_IO, "cannot remove %s", path);
    }
    closedir(d);
    return s;
}

/* Temporaries of the parts this build makes, and of the fingerprint when
 * it owns the whole folder: another shard on a shared folder may be
 * writing its own at this moment.  Even of those, only the ones no live
 * save holds: two processes may run the same shard. */
static int stale_temporary(const void *ctx, const work_name *n)
{
    const builder *b = ctx;
    if (!n->temporary) return 0;
    if (!n->part) return b->shards == 0;
    return n->c < b->classes && n->v < b->o->variants &&
           dg_builder_owns(b, (uint32_t)n->c * b->o->variants + n->v);
}

dg_status dg_work_dir_clean(const builder *b)
{
    return remove_work_files(b->o->work_dir, stale_temporary, b, 1);
}

static int any_work_file(const void *ctx, const work_name *n)
{
    (void)ctx;
    (void)n;
    return 1;
}

dg_status dg_work_dir_remove(const char *dir)
{
    DG_TRY(remove_work_files(dir, any_work_file, NULL, 0));
    rmdir(dir); /* kept if it holds files of someone else */
    return DG_OK;
}
