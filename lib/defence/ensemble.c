/* ensemble.c - ensemble lifetime and content hashes. */
#include "defence/ensemble.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "io/dataset.h"
#include "io/model_format.h"

dg_status dg_ensemble_alloc(const dg_model *student, uint32_t classes,
                            uint32_t variants, dg_ensemble **out)
{
    *out = NULL;
    if (classes == 0 || variants == 0 || variants > DG_MAX_MEMBERS)
        return dg_fail(DG_E_INVALID_ARG,
                       "%u classes x %u variants (1 to %d variants)", classes,
                       variants, DG_MAX_MEMBERS);
    dg_ensemble *g;
    DG_TRY(dg_alloc_array((void **)&g, 1, sizeof *g, "ensemble"));
    atomic_init(&g->refs, 1);
    g->student = dg_model_ref((dg_model *)student);
    g->classes = classes;
    g->variants = variants;
    dg_status s = dg_alloc_array((void **)&g->per_class, classes,
                                 sizeof *g->per_class, "ensemble classes");
    for (uint32_t c = 0; s == DG_OK && c < classes; c++) {
        s = dg_alloc_array((void **)&g->per_class[c].members, variants,
                           sizeof(dg_member), "ensemble members");
        if (s == DG_OK)
            s = dg_alloc_array((void **)&g->per_class[c].thresholds, variants,
                               sizeof(dg_threshold), "thresholds");
    }
    if (s != DG_OK) {
        dg_ensemble_destroy(g);
        return s;
    }
    *out = g;
    return DG_OK;
}

void dg_ensemble_destroy(dg_ensemble *g)
{
    if (!g) return;
    for (uint32_t c = 0; g->per_class && c < g->classes; c++) {
        dg_class_guard *k = &g->per_class[c];
        for (uint32_t v = 0; k->members && v < g->variants; v++)
            dg_model_unref(k->members[v].tail);
        free(k->members);
        free(k->thresholds);
    }
    free(g->per_class);
    dg_model_unref(g->student);
    free(g);
}

dg_ensemble *dg_ensemble_ref(dg_ensemble *g)
{
    if (g) atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void dg_ensemble_unref(dg_ensemble *g)
{
    if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        dg_ensemble_destroy(g);
}

dg_status dg_model_hash(const dg_model *m, uint64_t *hash)
{
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = dg_model_write(m, &w);
    if (s == DG_OK) *hash = dg_hash64(w.data, w.len);
    dg_writer_release(&w);
    return s;
}

uint64_t dg_dataset_hash(const dg_dataset *ds)
{
    uint64_t a = dg_hash64(ds->pixels, (size_t)ds->count * ds->sample_size);
    uint64_t b = dg_hash64(ds->labels, (size_t)ds->count * sizeof *ds->labels);
    return a ^ (b * 0x9e3779b97f4a7c15ull);
}
