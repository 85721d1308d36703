/* guard_file.c - the guard file (doc/guard-format.md): the Student's hash,
 * settings, every differentiator tail as an embedded model file, and the
 * calibrated thresholds, closed by a CRC-32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/file.h"
#include "defence/ensemble.h"
#include "io/model_format.h"

static const char magic[8] = "DGGUARD";
enum { GUARD_VERSION = 1 };

static void put_member(dg_writer *w, const dg_member *m)
{
    dg_put_u32(w, (uint32_t)m->first);
    dg_put_u32(w, (uint32_t)m->prune_layer);
    dg_put_f32(w, m->ratio);
    dg_put_u32(w, (uint32_t)m->mode);
    dg_put_u64(w, m->seed);
    dg_put_f32(w, m->agreement);
    dg_put_f32(w, m->score);
    dg_model_put_embedded(m->tail, w);
}

static void put_threshold(dg_writer *w, const dg_threshold *t)
{
    dg_put_u32(w, t->tau);
    dg_put_f32(w, t->theta);
    dg_put_f32(w, t->frr_votes);
    dg_put_f32(w, t->frr_score);
    dg_put_u32(w, t->samples);
    dg_put_u32(w, (uint32_t)t->pooled);
}

dg_status dg_guard_write(const dg_ensemble *g, dg_writer *w)
{
    dg_put_bytes(w, magic, sizeof magic);
    dg_put_u32(w, GUARD_VERSION);
    dg_put_u64(w, g->student_hash);
    dg_put_u32(w, g->classes);
    dg_put_u32(w, g->variants);
    dg_put_u32(w, g->members);
    dg_put_u32(w, (uint32_t)g->rule);
    dg_put_f32(w, g->target_frr);
    dg_put_u64(w, g->data_hash);
    dg_put_str(w, g->settings);
    for (uint32_t c = 0; c < g->classes; c++) {
        for (uint32_t r = 0; r < g->variants; r++)
            put_member(w, &g->per_class[c].members[r]);
        for (uint32_t m = 0; m < g->variants; m++)
            put_threshold(w, &g->per_class[c].thresholds[m]);
    }
    dg_put_u32(w, dg_crc32(w->data, w->len));
    return w->status;
}

/* A stored rate, probability or score must lie in [0, 1]: a NaN or an
 * infinity there would turn a comparison of the validator into "always"
 * or "never" (theta -inf accepts every input). */
static dg_status check_unit(float v, const char *where, const char *field)
{
    if (v >= 0 && v <= 1) return DG_OK;
    return dg_fail(DG_E_FORMAT, "%s: %s %g is not in [0, 1]", where, field,
                   (double)v);
}

/* Reads member `rank` of class c, and the hash of its stored tail bytes. */
static dg_status get_member(dg_reader *r, const dg_ensemble *g, uint32_t c,
                            uint32_t rank, dg_member *m, uint64_t *tail_hash)
{
    uint32_t first, prune, mode;
    DG_TRY(dg_get_u32(r, &first, "member first layer"));
    DG_TRY(dg_get_u32(r, &prune, "member prune layer"));
    DG_TRY(dg_get_f32(r, &m->ratio, "member ratio"));
    DG_TRY(dg_get_u32(r, &mode, "member mode"));
    DG_TRY(dg_get_u64(r, &m->seed, "member seed"));
    DG_TRY(dg_get_f32(r, &m->agreement, "member agreement"));
    DG_TRY(dg_get_f32(r, &m->score, "member score"));
    char what[64];
    snprintf(what, sizeof what, "class %u rank %u", c, rank);
    const dg_model *s = g->student;
    if (first >= s->n_layers)
        return dg_fail(DG_E_FORMAT, "%s: first layer %u of a %u-layer Student",
                       what, first, s->n_layers);
    if (prune >= s->n_layers)
        return dg_fail(DG_E_FORMAT, "%s: prune layer %u of a %u-layer Student",
                       what, prune, s->n_layers);
    if (mode != DG_PRUNE_MOST && mode != DG_PRUNE_LEAST)
        return dg_fail(DG_E_FORMAT, "%s: mode %u (1 most, 2 least)", what,
                       mode);
    /* Robust members prune nothing: ratio 0. */
    if (!(m->ratio >= 0 && m->ratio < 1))
        return dg_fail(DG_E_FORMAT, "%s: ratio %g is not in [0, 1)", what,
                       (double)m->ratio);
    DG_TRY(check_unit(m->agreement, what, "agreement"));
    DG_TRY(check_unit(m->score, what, "score"));
    m->first = (int32_t)first;
    m->prune_layer = (int32_t)prune;
    m->mode = (int32_t)mode;
    size_t start = r->pos;
    DG_TRY(dg_model_get_embedded(r, &m->tail, what));
    *tail_hash = dg_hash64(r->data + start, r->pos - start);
    /* The tail must read exactly what the Student's prefix produces and
     * output the Student's classes.  One that starts at the input is a
     * whole model and may have a structure of its own (robust members). */
    dg_shape want = first == 0 ? s->input : s->layers[first - 1].out;
    dg_shape have = m->tail->input;
    if (have.c != want.c || have.h != want.h || have.w != want.w ||
        (first > 0 && m->tail->n_layers != s->n_layers - first) ||
        prune < first ||
        dg_shape_size(dg_model_output_shape(m->tail)) != g->classes)
        return dg_fail(DG_E_MISMATCH,
                       "class %u rank %u: the differentiator does not fit the "
                       "Student after its layer %u",
                       c, rank, first);
    /* A whole member may be shorter than the Student; its prune layer
     * must still be one of its own. */
    if (prune - first >= m->tail->n_layers)
        return dg_fail(DG_E_FORMAT,
                       "%s: prune layer %u is past its %u-layer "
                       "differentiator",
                       what, prune, m->tail->n_layers);
    return DG_OK;
}

/* The thresholds of class c for M members.  The score is a mean
 * probability, so theta lies in [0, 1]; without calibration samples
 * nothing was rejected. */
static dg_status get_threshold(dg_reader *r, uint32_t c, uint32_t M,
                               dg_threshold *t)
{
    uint32_t pooled;
    DG_TRY(dg_get_u32(r, &t->tau, "tau"));
    DG_TRY(dg_get_f32(r, &t->theta, "theta"));
    DG_TRY(dg_get_f32(r, &t->frr_votes, "frr"));
    DG_TRY(dg_get_f32(r, &t->frr_score, "frr"));
    DG_TRY(dg_get_u32(r, &t->samples, "samples"));
    DG_TRY(dg_get_u32(r, &pooled, "pooled"));
    char what[64];
    snprintf(what, sizeof what, "class %u M=%u", c, M);
    if (t->tau < 1 || t->tau > M)
        return dg_fail(DG_E_FORMAT, "%s: tau %u for %u members", what, t->tau,
                       M);
    DG_TRY(check_unit(t->theta, what, "theta"));
    DG_TRY(check_unit(t->frr_votes, what, "false rejection of tau"));
    DG_TRY(check_unit(t->frr_score, what, "false rejection of theta"));
    if (t->samples == 0 && (t->frr_votes != 0 || t->frr_score != 0))
        return dg_fail(DG_E_FORMAT, "%s: false rejection %g and %g from 0 "
                                    "calibration samples",
                       what, (double)t->frr_votes, (double)t->frr_score);
    if (pooled > 1)
        return dg_fail(DG_E_FORMAT, "%s: pooled flag %u (0 or 1)", what,
                       pooled);
    t->pooled = (int32_t)pooled;
    return DG_OK;
}

/* Member i (class i / V, rank i % V) becomes a reference to the first
 * earlier member stored with the same tail bytes and first layer.  Robust
 * members are shared by the classes and stored once per class: loaded
 * back, they are one model again, so memory and the validator's work are
 * paid once per model. */
static void share_stored_twin(dg_ensemble *g, const uint64_t *tail_hash,
                              size_t i)
{
    uint32_t V = g->variants;
    dg_member *m = &g->per_class[i / V].members[i % V];
    for (size_t j = 0; j < i; j++) {
        const dg_member *o = &g->per_class[j / V].members[j % V];
        if (tail_hash[j] == tail_hash[i] && o->first == m->first) {
            dg_model *same = dg_model_ref(o->tail);
            dg_model_unref(m->tail);
            m->tail = same;
            return;
        }
    }
}

static dg_status parse_body(dg_reader *r, const dg_model *student,
                            dg_ensemble **out)
{
    char got[8];
    uint32_t version, classes, variants, members, rule;
    uint64_t hash, have_hash;
    DG_TRY(dg_get_bytes(r, got, 8, "magic"));
    if (memcmp(got, magic, 8) != 0)
        return dg_fail(DG_E_FORMAT, "not a libdiffguard guard file");
    DG_TRY(dg_get_u32(r, &version, "version"));
    if (version != GUARD_VERSION)
        return dg_fail(DG_E_UNSUPPORTED, "guard format %u (this library "
                                         "reads %d)",
                       version, GUARD_VERSION);
    DG_TRY(dg_get_u64(r, &hash, "student hash"));
    DG_TRY(dg_model_hash(student, &have_hash));
    if (hash != have_hash)
        return dg_fail(DG_E_MISMATCH,
                       "the guard was built for another Student (hash "
                       "%016llx, this one %016llx)",
                       (unsigned long long)hash, (unsigned long long)have_hash);
    DG_TRY(dg_get_u32(r, &classes, "classes"));
    DG_TRY(dg_get_u32(r, &variants, "variants"));
    DG_TRY(dg_get_u32(r, &members, "members"));
    DG_TRY(dg_get_u32(r, &rule, "rule"));
    size_t outputs = dg_shape_size(dg_model_output_shape(student));
    if (classes != outputs)
        return dg_fail(DG_E_FORMAT, "%u classes for a Student of %zu outputs",
                       classes, outputs);
    if (variants == 0 || variants > DG_MAX_MEMBERS)
        return dg_fail(DG_E_FORMAT, "%u differentiators per class (1 to %d)",
                       variants, DG_MAX_MEMBERS);
    if (members == 0 || members > variants)
        return dg_fail(DG_E_FORMAT, "default members %u (1 to %u)", members,
                       variants);
    if (rule != DG_RULE_VOTES && rule != DG_RULE_SCORE)
        return dg_fail(DG_E_FORMAT, "rule %u (1 votes, 2 score)", rule);
    dg_ensemble *g;
    DG_TRY(dg_ensemble_alloc(student, classes, variants, &g));
    g->student_hash = hash;
    g->members = members;
    g->rule = (int32_t)rule;
    dg_status s = dg_get_f32(r, &g->target_frr, "target frr");
    if (s == DG_OK && !(g->target_frr > 0 && g->target_frr < 1))
        s = dg_fail(DG_E_FORMAT, "target false rejection %g is not in (0, 1)",
                    (double)g->target_frr);
    if (s == DG_OK) s = dg_get_u64(r, &g->data_hash, "data hash");
    if (s == DG_OK) s = dg_get_str(r, g->settings, sizeof g->settings, "settings");
    uint64_t *tail_hash = NULL;
    if (s == DG_OK)
        s = dg_alloc_array((void **)&tail_hash, (size_t)classes * variants,
                           sizeof *tail_hash, "member hashes");
    for (uint32_t c = 0; c < classes && s == DG_OK; c++) {
        for (uint32_t k = 0; k < variants && s == DG_OK; k++) {
            size_t i = (size_t)c * variants + k;
            s = get_member(r, g, c, k, &g->per_class[c].members[k],
                           &tail_hash[i]);
            if (s == DG_OK) share_stored_twin(g, tail_hash, i);
        }
        for (uint32_t m = 0; m < variants && s == DG_OK; m++)
            s = get_threshold(r, c, m + 1, &g->per_class[c].thresholds[m]);
    }
    if (s == DG_OK && dg_reader_left(r) != 0)
        s = dg_fail(DG_E_FORMAT, "%zu unexpected bytes at the end",
                    dg_reader_left(r));
    free(tail_hash);
    if (s != DG_OK) {
        dg_ensemble_destroy(g);
        return s;
    }
    *out = g;
    return DG_OK;
}

dg_status dg_guard_parse(const uint8_t *data, size_t len,
                         const dg_model *student, dg_ensemble **out)
{
    *out = NULL;
    /* The magic first: a file of another kind should say so, not report a
     * checksum mismatch. */
    if (len < sizeof magic || memcmp(data, magic, sizeof magic) != 0)
        return dg_fail(DG_E_FORMAT, "not a libdiffguard guard file");
    if (len < 12)
        return dg_fail(DG_E_FORMAT, "a guard file of %zu bytes is truncated",
                       len);
    uint32_t stored = (uint32_t)data[len - 4] | (uint32_t)data[len - 3] << 8 |
                      (uint32_t)data[len - 2] << 16 |
                      (uint32_t)data[len - 1] << 24;
    uint32_t computed = dg_crc32(data, len - 4);
    if (stored != computed)
        return dg_fail(DG_E_FORMAT,
                       "guard checksum mismatch: stored %08x, computed %08x",
                       stored, computed);
    dg_reader r;
    dg_reader_init(&r, data, len - 4);
    return parse_body(&r, student, out);
}

static dg_status write_guard(const void *g, dg_writer *w)
{
    return dg_guard_write(g, w);
}

dg_status dg_guard_save_path(const dg_ensemble *g, const char *path)
{
    return dg_file_save(path, write_guard, g);
}

typedef struct guard_reading {
    const dg_model *student;
    dg_ensemble **out;
} guard_reading;

static dg_status parse_guard(void *ctx, const uint8_t *data, size_t len)
{
    guard_reading *r = ctx;
    return dg_guard_parse(data, len, r->student, r->out);
}

dg_status dg_guard_load_path(const char *path, const dg_model *student,
                             dg_ensemble **out)
{
    guard_reading r = {student, out};
    return dg_file_parse(path, (size_t)1 << 31, NULL, parse_guard, &r);
}
