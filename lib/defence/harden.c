/* harden.c - defender-made attacks for a guard build: every fit sample
 * attacked as the threat model's attacker would attack it, so that the
 * differentiators also learn the Student's answer on the clean source of
 * an attacked input (doc/validator.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack/attack.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "defence/builder.h"

/* The fit samples followed by `extra` zeroed ones. */
static dg_status fit_plus(const builder *b, uint32_t extra, dg_dataset **out)
{
    const dg_dataset *f = b->fit;
    DG_TRY(dg_dataset_alloc(f->count + extra, f->channels, f->height,
                            f->width, out));
    memcpy((*out)->pixels, f->pixels, (size_t)f->count * f->sample_size);
    memcpy((*out)->labels, f->labels, f->count * sizeof *f->labels);
    return DG_OK;
}

/* Progress of the two attack calls of harden() as one "harden" stage. */
typedef struct harden_progress {
    const dg_ensemble_opts *o;
    uint64_t before, total; /* steps of the earlier call, of both */
} harden_progress;

static int on_harden_progress(void *user, const char *stage, uint64_t done,
                              uint64_t total, double metric)
{
    (void)stage;
    (void)total;
    const harden_progress *p = user;
    return p->o->progress(p->o->progress_user, "harden", p->before + done,
                          p->total, metric);
}

/* Attacks every fit sample as the threat model's attacker would: the
 * Student's layers up to its cut are the public Teacher's, so mimicking a
 * sample of another class there is the attack.  Half the samples get the
 * L-infinity form, half the DSSIM form. */
dg_status dg_builder_harden(builder *b)
{
    const dg_ensemble_opts *o = b->o;
    const dg_dataset *f = b->fit;
    uint32_t n = f->count;
    size_t px = f->sample_size;
    /* Every sample needs a target of another class. */
    uint32_t other = 0;
    while (other < n && f->labels[other] == f->labels[0]) other++;
    if (other == n)
        return dg_fail(DG_E_INVALID_ARG, "hardening needs training samples "
                                         "of two classes or more");
    float *src = NULL, *dst = NULL, *adv = NULL;
    DG_TRY(dg_alloc_array((void **)&src, (size_t)n * px, sizeof *src, "sources"));
    dg_status s = dg_alloc_array((void **)&dst, (size_t)n * px, sizeof *dst,
                                 "targets");
    if (s == DG_OK)
        s = dg_alloc_array((void **)&adv, (size_t)n * px, sizeof *adv,
                           "adversarial");
    dg_rng rng;
    dg_rng_seed(&rng, o->seed ^ 0x68617264656eull);
    for (uint32_t i = 0; s == DG_OK && i < n; i++) {
        uint32_t j;
        do j = dg_rng_below(&rng, n);
        while (f->labels[j] == f->labels[i]);
        for (size_t k = 0; k < px; k++) {
            src[(size_t)i * px + k] = dg_dataset_sample(f, i)[k] / 255.0f;
            dst[(size_t)i * px + k] = dg_dataset_sample(f, j)[k] / 255.0f;
        }
    }
    uint32_t half = n / 2;
    harden_progress hp = {o, 0, (uint64_t)n * o->harden_iterations};
    dg_attack_opts linf = {.struct_size = sizeof linf};
    dg_attack_opts dssim = {.struct_size = sizeof dssim};
    dg_attack_preset(&linf, DG_ATTACK_PRESET_STRONG);
    linf.method = DG_ATTACK_MIMIC_LINF;
    linf.epsilon = o->harden_epsilon;
    linf.step = o->harden_epsilon / 10;
    dg_attack_preset(&dssim, DG_ATTACK_PRESET_STRONG);
    dssim.budget = o->harden_budget;
    dssim.lambda = DG_ATTACK_STRONG_LAMBDA_BUDGET / o->harden_budget;
    dg_attack_opts *both[2] = {&linf, &dssim};
    for (int k = 0; k < 2; k++) {
        both[k]->iterations = o->harden_iterations;
        both[k]->seed = o->seed;
        both[k]->progress = o->progress ? on_harden_progress : NULL;
        both[k]->progress_user = &hp;
    }
    dg_attack_io first = {.sources = src, .targets = dst, .adversarial = adv};
    dg_attack_io second = {.sources = src + half * px,
                           .targets = dst + half * px,
                           .adversarial = adv + half * px};
    if (s == DG_OK) s = dg_attack_launch(b->student, &linf, half, &first);
    hp.before = (uint64_t)half * o->harden_iterations;
    if (s == DG_OK)
        s = dg_attack_launch(b->student, &dssim, n - half, &second);
    if (s == DG_OK) s = fit_plus(b, n, &b->hardened);
    if (s == DG_OK) s = fit_plus(b, n, &b->hardened_sources);
    for (uint32_t i = 0; s == DG_OK && i < n; i++) {
        uint8_t *a = dg_dataset_sample(b->hardened, n + i);
        for (size_t k = 0; k < px; k++)
            a[k] = (uint8_t)lroundf(adv[(size_t)i * px + k] * 255.0f);
        b->hardened->labels[n + i] = f->labels[i];
        memcpy(dg_dataset_sample(b->hardened_sources, n + i),
               dg_dataset_sample(f, i), px);
        b->hardened_sources->labels[n + i] = f->labels[i];
    }
    if (s == DG_OK) {
        dg_dataset_count_classes(b->hardened);
        dg_dataset_count_classes(b->hardened_sources);
    }
    free(src);
    free(dst);
    free(adv);
    return s;
}
