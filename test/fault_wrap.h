/* fault_wrap.h - allocation and I/O fault injection for tests, without
 * touching the library: the test is linked with
 * -Wl,--wrap=malloc,... (test/meson.build), so every call the library's
 * own objects (the static dg_internal) make to these functions goes
 * through the __wrap_ functions below.  Calls made inside shared
 * libraries (oneDNN, libpng, libjpeg-turbo, zlib, libc itself) are not
 * wrapped: their allocations are outside the library's control.
 *
 * Allocations: the N-th call after fault_alloc_arm(N) fails (NULL), and
 * every block allocated while armed is tracked until freed, so a leak is
 * seen without a leak checker.  I/O: fault_io_set() makes write, fsync or
 * rename fail with an errno, or makes writes short. */
#ifndef DG_TEST_FAULT_WRAP_H
#define DG_TEST_FAULT_WRAP_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);

/* ------------------------------------------------------------ allocations */

static atomic_long alloc_calls, alloc_fail_at;
static atomic_int alloc_failed;
static atomic_int tracking;

/* Blocks allocated while tracking: an open-addressed set of pointers. */
enum { TRACK_SLOTS = 1 << 18 };
static void *tracked[TRACK_SLOTS];
static long tracked_live;
static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static void *const track_tombstone = (void *)&tracked;

static size_t track_slot(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15u) &
           (TRACK_SLOTS - 1);
}

static void track(void *p)
{
    if (!p || !atomic_load(&tracking)) return;
    pthread_mutex_lock(&track_lock);
    size_t i = track_slot(p);
    while (tracked[i] && tracked[i] != track_tombstone)
        i = (i + 1) & (TRACK_SLOTS - 1);
    tracked[i] = p;
    if (++tracked_live > TRACK_SLOTS / 2) abort(); /* the set is too small */
    pthread_mutex_unlock(&track_lock);
}

static void untrack(void *p)
{
    if (!p) return;
    pthread_mutex_lock(&track_lock);
    for (size_t i = track_slot(p); tracked[i];
         i = (i + 1) & (TRACK_SLOTS - 1))
        if (tracked[i] == p) {
            tracked[i] = track_tombstone;
            tracked_live--;
            break;
        }
    pthread_mutex_unlock(&track_lock);
}

/* 1 if this allocation is the one to fail. */
static int alloc_should_fail(void)
{
    long at = atomic_load(&alloc_fail_at);
    if (at <= 0) return 0;
    if (atomic_fetch_add(&alloc_calls, 1) + 1 != at) return 0;
    atomic_store(&alloc_failed, 1);
    return 1;
}

void *__wrap_malloc(size_t size)
{
    if (alloc_should_fail()) return NULL;
    void *p = __real_malloc(size);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (alloc_should_fail()) return NULL;
    void *p = __real_calloc(n, size);
    track(p);
    return p;
}

void *__wrap_realloc(void *old, size_t size)
{
    if (alloc_should_fail()) return NULL;
    void *p = __real_realloc(old, size);
    if (p) {
        untrack(old);
        track(p);
    }
    return p;
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    if (alloc_should_fail()) return NULL;
    void *p = __real_aligned_alloc(align, size);
    track(p);
    return p;
}

char *__wrap_strdup(const char *s)
{
    if (alloc_should_fail()) return NULL;
    char *p = __real_strdup(s);
    track(p);
    return p;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}

/* From now on the n-th allocation fails (n = 0: none) and new blocks are
 * tracked; the set starts empty. */
static void fault_alloc_arm(long n)
{
    pthread_mutex_lock(&track_lock);
    memset(tracked, 0, sizeof tracked);
    tracked_live = 0;
    pthread_mutex_unlock(&track_lock);
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_failed, 0);
    atomic_store(&alloc_fail_at, n);
    atomic_store(&tracking, 1);
}

/* Stops failing and tracking; returns how many tracked blocks are still
 * allocated (0 unless something leaked). */
static long fault_alloc_disarm(void)
{
    atomic_store(&alloc_fail_at, 0);
    atomic_store(&tracking, 0);
    pthread_mutex_lock(&track_lock);
    long live = tracked_live;
    pthread_mutex_unlock(&track_lock);
    return live;
}

/* ------------------------------------------------------------------- I/O */

enum io_fault {
    IO_OK,
    IO_WRITE_FAILS,  /* write fails with io_errno */
    IO_WRITE_SHORT,  /* every write writes at most 7 bytes */
    IO_FSYNC_FAILS,  /* fsync fails with io_errno */
    IO_RENAME_FAILS, /* rename fails with io_errno */
};

static enum io_fault io_fault;
static int io_errno;

static void fault_io_set(enum io_fault fault, int err)
{
    io_fault = fault;
    io_errno = err;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (io_fault == IO_WRITE_FAILS) {
        errno = io_errno;
        return -1;
    }
    if (io_fault == IO_WRITE_SHORT && n > 7) n = 7;
    return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd)
{
    if (io_fault == IO_FSYNC_FAILS) {
        errno = io_errno;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
    if (io_fault == IO_RENAME_FAILS) {
        errno = io_errno;
        return -1;
    }
    return __real_rename(from, to);
}

#endif
