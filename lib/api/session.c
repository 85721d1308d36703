/* session.c - public inference sessions over the executor. */
#include <stdlib.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/vec.h"
#include "nn/exec.h"

struct dg_session {
    dg_model *model; /* a reference */
    dg_exec *exec;
};

dg_status dg_session_create(const dg_model *m, uint32_t max_batch,
                            dg_session **out)
{
    DG_CHECK_ARG(out);
    *out = NULL;
    DG_CHECK_ARG(m);
    if (max_batch == 0 || max_batch > 65536)
        return dg_fail(DG_E_INVALID_ARG, "max_batch %u (1 to 65536)",
                       max_batch);
    dg_session *s;
    DG_TRY(dg_alloc_array((void **)&s, 1, sizeof *s, "session"));
    /* Inference only reads the model; the executor API is shared with
     * training, hence the cast. */
    s->model = dg_model_retain((dg_model *)m);
    dg_status st = dg_exec_create(s->model, max_batch, 0, &s->exec);
    if (st != DG_OK) {
        dg_session_free(s);
        return st;
    }
    *out = s;
    return DG_OK;
}

dg_status dg_session_run(dg_session *s, const float *input, size_t input_len,
                         uint32_t batch)
{
    DG_CHECK_ARG(s && input);
    size_t need = (size_t)batch * dg_shape_size(s->model->input);
    if (batch == 0 || input_len != need)
        return dg_fail(DG_E_SHAPE,
                       "input has %zu floats; batch %u needs %zu", input_len,
                       batch, need);
    return dg_exec_forward(s->exec, input, batch);
}

dg_status dg_session_output(const dg_session *s, int32_t layer,
                            const float **data, uint32_t *batch,
                            uint32_t *channels, uint32_t *height,
                            uint32_t *width)
{
    DG_CHECK_ARG(s && data);
    *data = NULL;
    int32_t n = (int32_t)s->model->n_layers;
    if (layer == -1) layer = n - 1;
    if (layer < 0 || layer >= n)
        return dg_fail(DG_E_INVALID_ARG, "layer %d of %d", layer, n);
    if (dg_exec_batch(s->exec) == 0)
        return dg_fail(DG_E_STATE, "the session has not run yet");
    const float *out = dg_exec_output(s->exec, layer);
    if (!out) return DG_E_STATE; /* the executor explained why */
    const dg_layer *l = &s->model->layers[layer];
    *data = out;
    if (batch) *batch = dg_exec_batch(s->exec);
    if (channels) *channels = l->out.c;
    if (height) *height = l->out.h;
    if (width) *width = l->out.w;
    return DG_OK;
}

dg_status dg_session_top_classes(const dg_session *s, uint32_t index,
                                 uint32_t top, uint32_t *classes,
                                 double *probabilities)
{
    DG_CHECK_ARG(s && classes && probabilities);
    const dg_model *m = s->model;
    uint32_t k = (uint32_t)dg_shape_size(dg_model_output_shape(m));
    if (top == 0 || top > k)
        return dg_fail(DG_E_INVALID_ARG, "top %u of %u classes", top, k);
    uint32_t batch = dg_exec_batch(s->exec);
    if (batch == 0) return dg_fail(DG_E_STATE, "the session has not run yet");
    if (index >= batch)
        return dg_fail(DG_E_INVALID_ARG, "input %u of a batch of %u", index,
                       batch);
    const float *out = dg_exec_output(s->exec, (int32_t)m->n_layers - 1);
    if (!out) return DG_E_STATE; /* the executor explained why */
    bool softmax = m->layers[m->n_layers - 1].kind == DG_LAYER_SOFTMAX;
    dg_top_classes(out + (size_t)index * k, k, softmax, top, classes,
                   probabilities);
    return DG_OK;
}

void dg_session_free(dg_session *s)
{
    if (!s) return;
    dg_exec_free(s->exec);
    dg_model_free(s->model);
    free(s);
}
