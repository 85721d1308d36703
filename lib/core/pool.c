/* pool.c - worker threads over independent jobs (pool.h). */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/status.h"

enum { DETAIL_CAP = 1024 };

/* How often the calling thread wakes to report progress. */
#define PROGRESS_PERIOD_NS 100000000L

typedef struct run_state {
    dg_pool *p;
    atomic_uint next_job;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint32_t running;        /* workers not yet finished */
    uint32_t jobs_done;      /* signalled to the calling thread */
    dg_status status;        /* the first failure */
    char detail[DETAIL_CAP]; /* its detail, from the worker's thread */
} run_state;

static void fail_run(run_state *r, dg_status status)
{
    pthread_mutex_lock(&r->lock);
    if (r->status == DG_OK) {
        r->status = status;
        snprintf(r->detail, sizeof r->detail, "%s", dg_detail());
    }
    atomic_store(r->p->stop, 1);
    pthread_mutex_unlock(&r->lock);
}

static void *worker_main(void *arg)
{
    run_state *r = arg;
    dg_pool *p = r->p;
    void *state = NULL;
    dg_status s = p->start ? p->start(p->user, &state) : DG_OK;
    while (s == DG_OK && !atomic_load(p->stop)) {
        uint32_t job = atomic_fetch_add(&r->next_job, 1);
        if (job >= p->n_jobs) break;
        s = p->run(p->user, state, job);
        pthread_mutex_lock(&r->lock);
        r->jobs_done++;
        pthread_cond_signal(&r->changed);
        pthread_mutex_unlock(&r->lock);
    }
    if (p->finish) p->finish(state);
    /* A worker stopped by another's failure is not the cause. */
    if (s != DG_OK && !(s == DG_E_CANCELLED && atomic_load(p->stop)))
        fail_run(r, s);
    pthread_mutex_lock(&r->lock);
    r->running--;
    pthread_cond_signal(&r->changed);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static uint32_t thread_count(const dg_pool *p)
{
    long n = p->threads;
    if (n == 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    /* More threads than jobs would have nothing to do. */
    return (uint64_t)n < p->n_jobs ? (uint32_t)n : p->n_jobs;
}

/* Waits for the workers, reporting every PROGRESS_PERIOD_NS and after each
 * finished job.  Returns non-zero if report cancelled. */
static int supervise(run_state *r)
{
    dg_pool *p = r->p;
    int cancelled = 0;
    uint32_t seen = 0;
    pthread_mutex_lock(&r->lock);
    while (r->running > 0) {
        if (r->jobs_done == seen) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += PROGRESS_PERIOD_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->changed, &r->lock, &until);
        }
        seen = r->jobs_done;
        if (r->running == 0) break;
        pthread_mutex_unlock(&r->lock);
        if (!cancelled && p->report && p->report(p->user)) {
            cancelled = 1;
            atomic_store(p->stop, 1);
        }
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return cancelled;
}

dg_status dg_pool_run(dg_pool *p)
{
    if (p->n_jobs == 0) return DG_OK;
    run_state r = {.p = p};
    uint32_t n_threads = thread_count(p);
    pthread_t *threads;
    DG_TRY(dg_alloc_array((void **)&threads, n_threads, sizeof *threads,
                          "worker threads"));
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.changed, NULL);
    uint32_t started = 0;
    pthread_mutex_lock(&r.lock);
    for (; started < n_threads; started++) {
        if (pthread_create(&threads[started], NULL, worker_main, &r) != 0)
            break; /* go on with the workers we have */
        r.running++;
    }
    pthread_mutex_unlock(&r.lock);
    int cancelled = started > 0 && supervise(&r);
    for (uint32_t t = 0; t < started; t++) pthread_join(threads[t], NULL);
    free(threads);
    pthread_cond_destroy(&r.changed);
    pthread_mutex_destroy(&r.lock);
    if (started == 0)
        return dg_fail(DG_E_NOMEM, "could not start a worker thread");
    if (r.status != DG_OK) return dg_fail(r.status, "%s", r.detail);
    return cancelled ? DG_E_CANCELLED : DG_OK;
}

uint32_t dg_pool_openmp_threads(void)
{
    int n = omp_get_max_threads();
    return n > 0 ? (uint32_t)n : 1;
}

void dg_pool_single_threaded(void) { omp_set_num_threads(1); }
