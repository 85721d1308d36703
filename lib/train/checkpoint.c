/* checkpoint.c - training checkpoints.
 *
 * Layout (little-endian): magic "DGCKPT\0\0", u32 version, u64 settings
 * fingerprint, u32 epochs done, u64 model length, the model file bytes
 * (doc/model-format.md), optimiser state, u32 CRC-32 of all before it. */
#include "train/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/bytes.h"
#include "core/file.h"
#include "io/model_format.h"
#include "nn/model.h"

static const char magic[8] = "DGCKPT\0";
enum { CHECKPOINT_VERSION = 1 };

/* Everything that changes what an epoch computes, so that a resumed run
 * continues the same training rather than silently mixing two.  The epoch
 * count is left out: extending a finished run is allowed. */
static uint64_t fingerprint(const dg_model *m, const dg_train_opts *o,
                            uint32_t n_samples)
{
    dg_writer w;
    dg_writer_init(&w);
    dg_put_u32(&w, o->batch_size);
    dg_put_u32(&w, (uint32_t)o->optimizer);
    dg_put_f32(&w, o->learning_rate);
    dg_put_f32(&w, o->momentum);
    dg_put_f32(&w, o->weight_decay);
    dg_put_u32(&w, (uint32_t)o->schedule);
    dg_put_u32(&w, o->step_epochs);
    dg_put_f32(&w, o->step_gamma);
    dg_put_u64(&w, o->seed);
    dg_put_u32(&w, o->distill_from != NULL);
    dg_put_f32(&w, o->distill_alpha);
    dg_put_f32(&w, o->distill_temperature);
    /* Only when on, so that checkpoints of plain training made before the
     * option existed still resume. */
    if (o->adversarial_epsilon > 0) dg_put_f32(&w, o->adversarial_epsilon);
    if (o->adversarial_epsilon > 0 && o->adversarial_replays > 1) {
        dg_put_u32(&w, 0); /* no step count is 0: replays follow */
        dg_put_u32(&w, o->adversarial_replays);
    } else if (o->adversarial_epsilon > 0 && o->adversarial_steps > 1)
        dg_put_u32(&w, o->adversarial_steps);
    if (o->patch_teacher) {
        dg_put_u32(&w, (uint32_t)o->patch_layer);
        dg_put_f32(&w, o->patch_cap);
        dg_put_f32(&w, o->patch_cap_step);
        dg_put_f32(&w, o->patch_cap_max);
        dg_put_f32(&w, o->patch_weight);
    }
    dg_put_u32(&w, n_samples);
    dg_put_u32(&w, m->n_layers);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_put_u32(&w, (uint32_t)m->layers[i].kind);
        dg_put_u32(&w, m->layers[i].flags);
        for (uint32_t p = 0; p < m->layers[i].n_params; p++)
            dg_put_u64(&w, m->layers[i].param_len[p]);
    }
    uint64_t h = w.status == DG_OK ? dg_hash64(w.data, w.len) : 0;
    dg_writer_release(&w);
    return h;
}

/* A checkpoint's contents, for saving and for resuming. */
typedef struct checkpoint {
    const char *path;
    dg_model *m;
    dg_optim *optim;
    const dg_train_opts *o;
    uint32_t n_samples, epochs_done;
} checkpoint;

static dg_status write_checkpoint(const void *obj, dg_writer *w)
{
    const checkpoint *c = obj;
    dg_put_bytes(w, magic, sizeof magic);
    dg_put_u32(w, CHECKPOINT_VERSION);
    dg_put_u64(w, fingerprint(c->m, c->o, c->n_samples));
    dg_put_u32(w, c->epochs_done);
    DG_TRY(dg_model_put_embedded(c->m, w));
    dg_optim_save(c->optim, w);
    dg_put_u32(w, dg_crc32(w->data, w->len));
    return w->status;
}

dg_status dg_checkpoint_save(const char *path, const dg_model *m,
                             const dg_optim *optim, uint32_t epochs_done,
                             const dg_train_opts *o, uint32_t n_samples)
{
    checkpoint c = {path, (dg_model *)m, (dg_optim *)optim, o, n_samples,
                    epochs_done};
    dg_status s = dg_file_save(path, write_checkpoint, &c);
    return s == DG_OK ? s : dg_fail_context(s, "checkpoint %s", path);
}

/* Copies the weights and masks of a loaded checkpoint model into m, whose
 * architecture must be the same. */
static dg_status adopt_weights(dg_model *m, const dg_model *from,
                               const char *path)
{
    if (from->n_layers != m->n_layers)
        return dg_fail(DG_E_MISMATCH, "%s holds %u layers, the model %u",
                       path, from->n_layers, m->n_layers);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *a = &m->layers[i];
        const dg_layer *b = &from->layers[i];
        if (a->kind != b->kind || a->n_params != b->n_params ||
            (a->mask == NULL) != (b->mask == NULL))
            return dg_fail(DG_E_MISMATCH, "%s: layer %u differs", path, i);
        for (uint32_t p = 0; p < a->n_params; p++)
            if (a->param_len[p] != b->param_len[p])
                return dg_fail(DG_E_MISMATCH, "%s: layer %u differs", path, i);
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *a = &m->layers[i];
        const dg_layer *b = &from->layers[i];
        for (uint32_t p = 0; p < a->n_params; p++)
            memcpy(a->param[p], b->param[p], a->param_len[p] * sizeof(float));
        if (a->mask) memcpy(a->mask, b->mask, a->out.c);
    }
    return DG_OK;
}

static dg_status read_checkpoint(void *ctx, const uint8_t *data, size_t len)
{
    checkpoint *c = ctx;
    dg_reader r;
    dg_reader_init(&r, data, len);
    char got_magic[8];
    uint32_t version, crc, done;
    uint64_t print;
    dg_status s = len < 12 ? dg_fail(DG_E_FORMAT, "too short") : DG_OK;
    if (s == DG_OK) {
        crc = (uint32_t)data[len - 4] | (uint32_t)data[len - 3] << 8 |
              (uint32_t)data[len - 2] << 16 | (uint32_t)data[len - 1] << 24;
        if (crc != dg_crc32(data, len - 4))
            s = dg_fail(DG_E_FORMAT, "checksum mismatch");
        r.len = len - 4;
    }
    if (s == DG_OK) s = dg_get_bytes(&r, got_magic, 8, "magic");
    if (s == DG_OK && memcmp(got_magic, magic, 8) != 0)
        s = dg_fail(DG_E_FORMAT, "not a libdiffguard checkpoint");
    if (s == DG_OK) s = dg_get_u32(&r, &version, "version");
    if (s == DG_OK && version != CHECKPOINT_VERSION)
        s = dg_fail(DG_E_UNSUPPORTED, "checkpoint version %u", version);
    if (s == DG_OK) s = dg_get_u64(&r, &print, "fingerprint");
    if (s == DG_OK && print != fingerprint(c->m, c->o, c->n_samples))
        s = dg_fail(DG_E_MISMATCH,
                    "it was made with other settings, data or architecture; "
                    "remove it or choose another checkpoint path");
    if (s == DG_OK) s = dg_get_u32(&r, &done, "epochs done");
    dg_model *saved = NULL;
    if (s == DG_OK) s = dg_model_get_embedded(&r, &saved, "the model");
    if (s == DG_OK) s = adopt_weights(c->m, saved, c->path);
    if (s == DG_OK) s = dg_optim_load(c->optim, &r);
    dg_model_unref(saved);
    if (s == DG_OK) c->epochs_done = done;
    return s;
}

dg_status dg_checkpoint_resume(const char *path, dg_model *m, dg_optim *optim,
                               const dg_train_opts *o, uint32_t n_samples,
                               uint32_t *epochs_done)
{
    *epochs_done = 0;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return DG_OK;
    checkpoint c = {path, m, optim, o, n_samples, 0};
    DG_TRY(dg_file_parse(path, (size_t)1 << 31, "resuming from",
                         read_checkpoint, &c));
    *epochs_done = c.epochs_done;
    return DG_OK;
}
