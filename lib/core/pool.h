/* pool.h - independent jobs on worker threads, with progress and
 * cancellation on the calling thread and the first failure (with its
 * detail) handed back to it.  The attacks and the guard builder use it. */
#ifndef DG_CORE_POOL_H
#define DG_CORE_POOL_H

#include <stdatomic.h>
#include <stdint.h>

#include "diffguard.h"

typedef struct dg_pool {
    uint32_t n_jobs;  /* jobs 0 .. n_jobs - 1, handed out in order */
    uint32_t threads; /* workers; 0: online CPUs; never more than n_jobs */
    /* Each worker, on its own thread: its state (start may be NULL), the
     * jobs it takes, then finish(state) (may be NULL). */
    dg_status (*start)(void *user, void **state);
    dg_status (*run)(void *user, void *state, uint32_t job);
    void (*finish)(void *state);
    /* Called on the calling thread every 100 ms and after each finished
     * job (may be NULL); non-zero cancels the run. */
    int (*report)(void *user);
    void *user;
    /* The caller's flag, set once a job fails or the run is cancelled;
     * long jobs poll it and give up with DG_E_CANCELLED, which is then not
     * taken as the cause. */
    atomic_int *stop;
} dg_pool;

/* Runs every job.  DG_OK; the first failure of a job, with its detail; or
 * DG_E_CANCELLED (no detail: the caller says what stopped) when report
 * cancelled the run. */
dg_status dg_pool_run(dg_pool *p);

/* The threads OpenMP would use on the calling thread: OMP_NUM_THREADS,
 * else the online CPUs. */
uint32_t dg_pool_openmp_threads(void);

/* Limits the calling thread's own parallel sections (oneDNN's) to one
 * thread: a pool's workers already fill the cores, and a job's numbers
 * then do not depend on how many cores the machine has. */
void dg_pool_single_threaded(void);

#endif
