/* ensemble.h - the differentiator ensemble (a guard): per Student class,
 * ranked differentiators stored as tails over the Student's shared prefix,
 * and thresholds calibrated for every number of members M. */
#ifndef DG_DEFENCE_ENSEMBLE_H
#define DG_DEFENCE_ENSEMBLE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/bytes.h"
#include "diffguard.h"
#include "nn/model.h"

typedef struct dg_member {
    /* The differentiator's layers from `first` on, as a model whose input
     * is the Student's layer first-1 output: the layers before are the
     * Student's own, computed once per input. */
    dg_model *tail;
    int32_t first;
    int32_t prune_layer;
    float ratio;
    int32_t mode;
    uint64_t seed;
    float agreement, score;
} dg_member;

/* Thresholds for M members (index M-1). */
typedef struct dg_threshold {
    uint32_t tau;
    float theta, frr_votes, frr_score;
    uint32_t samples;
    int32_t pooled;
} dg_threshold;

typedef struct dg_class_guard {
    dg_member *members;        /* variants, best first */
    dg_threshold *thresholds;  /* variants entries */
} dg_class_guard;

struct dg_ensemble {
    atomic_uint refs;
    dg_model *student;         /* a reference */
    uint64_t student_hash;
    uint32_t classes, variants, members;
    int32_t rule;
    float target_frr;
    char settings[512];        /* provenance: how it was built */
    uint64_t data_hash;        /* of the training data */
    dg_class_guard *per_class; /* classes entries */
};

/* An empty ensemble of classes x variants holding a reference to student. */
dg_status dg_ensemble_alloc(const dg_model *student, uint32_t classes,
                            uint32_t variants, dg_ensemble **out);
void dg_ensemble_destroy(dg_ensemble *g);
/* Reference counting behind dg_ensemble_retain and dg_ensemble_free; both
 * accept NULL. */
dg_ensemble *dg_ensemble_ref(dg_ensemble *g);
void dg_ensemble_unref(dg_ensemble *g);

/* Content hash of a model (of its file bytes). */
dg_status dg_model_hash(const dg_model *m, uint64_t *hash);

/* Content hash of a data set's pixels and labels. */
uint64_t dg_dataset_hash(const dg_dataset *ds);

dg_status dg_ensemble_make(const dg_model *student, const dg_dataset *train,
                           const dg_dataset *holdout,
                           const dg_ensemble_opts *o, dg_ensemble **out);
/* work_dir.c: removes a build's files from dir, then dir unless it holds
 * other files; a missing dir is already removed.  DG_E_IO names the first
 * file that could not be removed. */
dg_status dg_work_dir_remove(const char *dir);

/* Appends the guard file of g (doc/guard-format.md) to w; returns
 * w->status. */
dg_status dg_guard_write(const dg_ensemble *g, dg_writer *w);
dg_status dg_guard_parse(const uint8_t *data, size_t len,
                         const dg_model *student, dg_ensemble **out);
/* The guard file at path, written atomically or read and checked
 * (dg_file_save, dg_file_parse); behind dg_guard_save_file and
 * dg_guard_load_file. */
dg_status dg_guard_save_path(const dg_ensemble *g, const char *path);
dg_status dg_guard_load_path(const char *path, const dg_model *student,
                             dg_ensemble **out);

/* The guard's decision on one input that phase 1 labelled `label`, from
 * its first `members` ranked members' labels and P(label) scores: the one
 * rule that the validator and the evaluation (lib/eval) both apply. */
typedef struct dg_decision {
    uint32_t votes;   /* members agreeing with label */
    float score;      /* their mean P(label) */
    float threshold;  /* tau or theta of `rule` at M = members */
    bool accepted;
} dg_decision;

dg_decision dg_guard_decide(const dg_ensemble *g, int32_t label,
                            uint32_t members, int32_t rule,
                            const int32_t *member_label,
                            const float *member_score);

dg_status dg_validator_make(const dg_ensemble *g, uint32_t members,
                            int32_t rule, uint32_t cap, dg_validator **out);
/* Frees a validator and its reference to the guard; accepts NULL. */
void dg_validator_destroy(dg_validator *v);
/* input_len must be batch x the Student's input size. */
dg_status dg_validator_check_input(const dg_validator *v, size_t input_len,
                                   uint32_t batch);
/* labels NULL: phase 1 runs the Student. */
dg_status dg_validator_run(dg_validator *v, const float *input,
                           uint32_t batch, const int32_t *labels,
                           dg_verdict *verdicts);

#endif
