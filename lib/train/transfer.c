/* transfer.c - building a Student from a Teacher: layers 0..K copied and
 * frozen, then a new head. */
#include "train/train.h"

#include "nn/spec.h"

/* "Through the last hidden layer": everything before the final linear. */
static dg_status default_cut(const dg_model *t, int32_t *cut)
{
    for (int32_t i = (int32_t)t->n_layers - 1; i > 0; i--)
        if (t->layers[i].kind == DG_LAYER_LINEAR) {
            *cut = i - 1;
            return DG_OK;
        }
    return dg_fail(DG_E_INVALID_ARG,
                   "the teacher has no final linear layer after its first "
                   "layer; give the cut layer explicitly");
}

dg_status dg_transfer_build(const dg_model *teacher, int32_t cut_layer,
                            const char *head_spec, uint64_t seed,
                            dg_model **student)
{
    *student = NULL;
    if (cut_layer == -1) DG_TRY(default_cut(teacher, &cut_layer));
    if (cut_layer < 0 || cut_layer >= (int32_t)teacher->n_layers)
        return dg_fail(DG_E_INVALID_ARG, "cut layer %d of a %u-layer teacher",
                       cut_layer, teacher->n_layers);
    uint32_t kept = (uint32_t)cut_layer + 1;
    dg_model *head;
    DG_TRY(dg_spec_parse(head_spec, teacher->layers[cut_layer].out, &head));
    dg_model *m;
    dg_status s = dg_model_alloc(kept + head->n_layers, teacher->input, &m);
    if (s != DG_OK) {
        dg_model_destroy(head);
        return s;
    }
    m->pre = teacher->pre;
    for (uint32_t i = 0; i < kept && s == DG_OK; i++) {
        s = dg_layer_copy(&m->layers[i], &teacher->layers[i]);
        m->layers[i].flags |= DG_LAYER_FLAG_FROZEN;
    }
    for (uint32_t i = 0; i < head->n_layers && s == DG_OK; i++) {
        dg_layer *l = &m->layers[kept + i];
        s = dg_layer_copy(l, &head->layers[i]);
        /* Head inputs count from the head's start; -1 is the cut layer. */
        for (int k = 0; k < 2 && s == DG_OK; k++)
            if (l->input[k] >= -1 && (k == 0 || dg_layer_binary(l->kind)))
                l->input[k] += (int32_t)kept;
    }
    dg_model_destroy(head);
    if (s == DG_OK) s = dg_model_finalize(m);
    if (s != DG_OK) {
        dg_model_destroy(m);
        return s;
    }
    dg_model_init_weights(m, kept, seed);
    *student = m;
    return DG_OK;
}
