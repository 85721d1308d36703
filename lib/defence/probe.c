/* probe.c - a robust member's probe: a linear classifier of the class from
 * the member's first pooling layer, averaged down to at most 4x4, carried
 * by the member as a second head (a linear layer no other layer reads).
 *
 * Why: an attack that moves the member's deep answer to another class
 * mostly leaves the early features of an adversarially trained member on
 * the source class, and a linear reading of them says so.  The validator
 * multiplies the members' mean P(label) by the geometric mean of their
 * probes' P(label) (dg_guard_score), so an input must convince both; an
 * attacker who aims at the probes as well is no better off than against
 * the members alone (doc/EVALUATION.md). */
#include "defence/probe.h"

#include "train/train.h"

/* The probe reads at most PROBE_SIDE x PROBE_SIDE positions per channel. */
enum { PROBE_SIDE = 4 };

/* The first max pooling layer, -1 if none. */
static int32_t probe_source(const dg_model *m)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == DG_LAYER_MAXPOOL) return (int32_t)i;
    return -1;
}

/* Average pool, batch normalisation and linear (which flattens) to the
 * member's classes, from fresh weights, for inputs of `in`.  The
 * normalisation puts every channel on one scale, so that a few epochs of
 * Adam fit the linear layer about as well as a converged logistic
 * regression (validation split: NLL 0.157 against 0.150, 0.216 without
 * it). */
static dg_status probe_head(dg_shape in, uint32_t classes, uint64_t seed,
                            dg_model **out)
{
    uint32_t side = in.h > in.w ? in.h : in.w;
    uint32_t k = (side + PROBE_SIDE - 1) / PROBE_SIDE;
    dg_model *p;
    DG_TRY(dg_model_alloc(3, in, &p));
    p->layers[0].kind = DG_LAYER_AVGPOOL;
    p->layers[0].kernel = p->layers[0].stride = k;
    p->layers[0].ceil_mode = 1;
    p->layers[1].kind = DG_LAYER_BATCHNORM;
    p->layers[1].eps = 1e-5f;
    p->layers[2].kind = DG_LAYER_LINEAR;
    p->layers[2].units = classes;
    dg_status s = dg_model_finalize(p);
    if (s != DG_OK) {
        dg_model_destroy(p);
        return s;
    }
    dg_model_init_weights(p, 0, seed);
    *out = p;
    return DG_OK;
}

/* Fits the probe's linear layer on the member's frozen layers through
 * `source`, then grafts the head onto the member after that layer. */
static dg_status fit_and_graft(const dg_model *member, int32_t source,
                               const dg_model *head, const dg_dataset *fit,
                               const dg_probe_opts *o, dg_model **out)
{
    dg_model *classifier = NULL, *trained = NULL;
    dg_status s = dg_model_join(member, (uint32_t)source + 1, head,
                                &classifier);
    for (int32_t i = 0; s == DG_OK && i <= source; i++)
        classifier->layers[i].flags |= DG_LAYER_FLAG_FROZEN;
    if (s == DG_OK) {
        dg_train_opts t;
        dg_train_defaults(&t);
        t.epochs = o->epochs;
        t.batch_size = o->batch_size;
        t.learning_rate = o->learning_rate;
        t.weight_decay = o->weight_decay;
        t.schedule = DG_SCHEDULE_COSINE;
        t.seed = o->seed;
        s = dg_train_run(classifier, fit, &t, NULL);
    }
    if (s == DG_OK)
        s = dg_model_slice(classifier, (uint32_t)source + 1, &trained);
    if (s == DG_OK)
        s = dg_model_graft(member, (uint32_t)source + 1, trained, source, out);
    dg_model_destroy(trained);
    dg_model_destroy(classifier);
    return s;
}

dg_status dg_member_with_probe(const dg_model *member, const dg_dataset *fit,
                               const dg_probe_opts *o, dg_model **out)
{
    *out = NULL;
    int32_t source = probe_source(member);
    if (source < 0)
        return dg_fail(DG_E_UNSUPPORTED, "a probe reads a max pooling layer; "
                       "the member has none");
    int32_t logits = dg_model_logits_layer(member);
    uint32_t classes = (uint32_t)dg_shape_size(member->layers[logits].out);
    dg_model *head;
    DG_TRY(probe_head(member->layers[source].out, classes, o->seed, &head));
    dg_status s = fit_and_graft(member, source, head, fit, o, out);
    dg_model_destroy(head);
    return s;
}
