/* run.c - running an attack job: fixed chunks of images handed to worker
 * threads, progress reported on the calling thread, the first failure
 * (with its detail) handed back to the caller. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attack/attack.h"
#include "core/alloc.h"

enum { DETAIL_CAP = 1024 };

/* How often the calling thread wakes to report progress. */
#define PROGRESS_PERIOD_NS 100000000L

typedef struct pool {
    dg_attack_job *job;
    uint32_t n_chunks;
    atomic_uint next_chunk;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint32_t running;          /* workers not yet finished */
    dg_status status;          /* the first failure */
    char detail[DETAIL_CAP];   /* its detail, from the worker's thread */
} pool;

static void fail_job(pool *p, dg_status status)
{
    pthread_mutex_lock(&p->lock);
    if (p->status == DG_OK) {
        p->status = status;
        snprintf(p->detail, sizeof p->detail, "%s", dg_last_error_detail());
    }
    atomic_store(&p->job->stop, 1);
    pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg)
{
    pool *p = arg;
    dg_attack_job *job = p->job;
    dg_attack_worker *w = NULL;
    dg_status s = dg_attack_worker_create(job, &w);
    while (s == DG_OK) {
        uint32_t chunk = atomic_fetch_add(&p->next_chunk, 1);
        if (chunk >= p->n_chunks) break;
        uint32_t first = chunk * job->opts.batch_size;
        uint32_t count = job->n - first < job->opts.batch_size
                             ? job->n - first
                             : job->opts.batch_size;
        s = dg_attack_worker_run(w, job, first, count);
    }
    dg_attack_worker_free(w);
    /* A worker stopped by another's failure is not the cause. */
    if (s != DG_OK && !(s == DG_E_CANCELLED && atomic_load(&job->stop)))
        fail_job(p, s);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static uint32_t thread_count(const dg_attack_job *job, uint32_t n_chunks)
{
    long n = job->opts.threads;
    if (n == 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    /* More threads than chunks would have nothing to do. */
    return (uint64_t)n < n_chunks ? (uint32_t)n : n_chunks;
}

/* Reports progress; returns non-zero if the callback asks to stop. */
static int report(const dg_attack_job *job)
{
    const dg_attack_opts *o = &job->opts;
    if (!o->progress) return 0;
    unsigned finished = atomic_load(&job->finished);
    double share = finished ? (double)atomic_load(&job->finished_within) /
                                  finished
                            : NAN;
    return o->progress(o->progress_user, "attack",
                       atomic_load(&job->steps_done),
                       (uint64_t)job->n * o->iterations, share);
}

/* Waits for the workers, reporting progress every PROGRESS_PERIOD_NS.
 * Returns non-zero if the caller cancelled. */
static int supervise(pool *p)
{
    int cancelled = 0;
    pthread_mutex_lock(&p->lock);
    while (p->running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_PERIOD_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->changed, &p->lock, &until);
        if (p->running == 0) break;
        pthread_mutex_unlock(&p->lock);
        if (!cancelled && report(p->job)) {
            cancelled = 1;
            atomic_store(&p->job->stop, 1);
        }
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return cancelled;
}

dg_status dg_attack_execute(dg_attack_job *job)
{
    pool p = {.job = job};
    p.n_chunks = (uint32_t)(((uint64_t)job->n + job->opts.batch_size - 1) /
                            job->opts.batch_size);
    uint32_t n_threads = thread_count(job, p.n_chunks);
    pthread_t *threads;
    DG_TRY(dg_alloc_array((void **)&threads, n_threads, sizeof *threads,
                          "attack threads"));
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.changed, NULL);
    uint32_t started = 0;
    pthread_mutex_lock(&p.lock);
    for (; started < n_threads; started++) {
        if (pthread_create(&threads[started], NULL, worker_main, &p) != 0)
            break; /* go on with the workers we have */
        p.running++;
    }
    pthread_mutex_unlock(&p.lock);
    int cancelled = started > 0 && supervise(&p);
    for (uint32_t t = 0; t < started; t++) pthread_join(threads[t], NULL);
    free(threads);
    pthread_cond_destroy(&p.changed);
    pthread_mutex_destroy(&p.lock);
    if (started == 0)
        return dg_fail(DG_E_NOMEM, "could not start an attack thread");
    if (p.status != DG_OK) return dg_fail(p.status, "%s", p.detail);
    if (cancelled) return dg_fail(DG_E_CANCELLED, "the progress callback "
                                                  "stopped the attack");
    report(job);
    return DG_OK;
}
