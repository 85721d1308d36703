/* file.c - whole-file reads with a size cap, and atomic writes. */
#include "file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

dg_status dg_file_read_all(const char *path, size_t max_size, uint8_t **data,
                           size_t *len)
{
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK so that a FIFO cannot hang the open; regular files are
     * unaffected. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return dg_fail(DG_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dg_fail(DG_E_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        return dg_fail(DG_E_FORMAT, "%s is %lld bytes, more than the %zu allowed",
                       path, (long long)st.st_size, max_size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf;
    dg_status s = dg_alloc_array((void **)&buf, size + 1, 1, path);
    if (s != DG_OK) {
        close(fd);
        return s;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return dg_fail(DG_E_IO, "reading %s: %s", path,
                           n == 0 ? "unexpected end of file" : strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = size;
    return DG_OK;
}

static dg_status write_fully(int fd, const uint8_t *p, size_t len,
                             const char *path)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return dg_fail(DG_E_IO, "writing %s: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return DG_OK;
}

/* A temporary file is PATH.tmpXXXXXX (mkstemp's six characters), written
 * under an exclusive flock held until its rename.  The kernel drops that
 * lock when the writer dies, kill -9 included, so a temporary nobody
 * holds is the leftover of a dead save, unless it was made moments ago
 * (between mkstemp and flock) or by a writer from before the lock
 * existed: the grace period covers both. */
#define TEMPORARY_TAG ".tmp"
enum { TEMPORARY_RANDOM = 6, STALE_AFTER_SECONDS = 60 };

/* Whether name is base's temporary: base, ".tmp", six letters or digits. */
static int is_temporary_of(const char *name, const char *base)
{
    size_t n = strlen(base), tag = strlen(TEMPORARY_TAG);
    if (n == 0 || strncmp(name, base, n) != 0 ||
        strncmp(name + n, TEMPORARY_TAG, tag) != 0 ||
        strlen(name + n + tag) != TEMPORARY_RANDOM)
        return 0;
    for (const char *c = name + n + tag; *c; c++)
        if (!isalnum((unsigned char)*c)) return 0;
    return 1;
}

/* It stays locked while it is removed, so two cleaners never both act
 * on it. */
void dg_file_remove_if_stale(int dfd, const char *name, time_t now)
{
    int fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_uid == geteuid() &&
        now - st.st_mtime > STALE_AFTER_SECONDS &&
        flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlinkat(dfd, name, 0);
    close(fd);
}

void dg_file_remove_stale_temporaries(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d) return;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d));)
        if (is_temporary_of(e->d_name, base))
            dg_file_remove_if_stale(dirfd(d), e->d_name, now);
    closedir(d);
}

/* Makes a rename in dir durable.  A folder that cannot be synced at all
 * (EINVAL: the file system has nothing to sync there) is not an error. */
static dg_status sync_folder(const char *dir, const char *path)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return dg_fail(DG_E_IO, "%s is written, but its folder %s cannot be "
                                "opened to make that durable: %s",
                       path, dir, strerror(errno));
    int failed = fsync(dfd) != 0 && errno != EINVAL;
    int e = errno;
    close(dfd);
    if (failed)
        return dg_fail(DG_E_IO, "%s is written, but syncing its folder %s "
                                "failed, so a crash may still lose it: %s",
                       path, dir, strerror(e));
    return DG_OK;
}

dg_status dg_file_write_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir = dg_strdup(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return dg_fail(DG_E_NOMEM, "atomic write of %s", path);
    }
    /* dir and base of path; "." for a bare name. */
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    dg_file_remove_stale_temporaries(dir, base);
    snprintf(tmp, plen + 16, "%s" TEMPORARY_TAG "XXXXXX", path);
    dg_status s = DG_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = dg_fail(DG_E_IO, "cannot create a temporary file beside %s: %s",
                    path, strerror(errno));
        goto out;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* Held until the rename: a file system without locks only loses
     * the cleaning of this file if the save dies. */
    flock(fd, LOCK_EX | LOCK_NB);
    s = write_fully(fd, data, len, tmp);
    if (s == DG_OK && fsync(fd) != 0)
        s = dg_fail(DG_E_IO, "fsync %s: %s", tmp, strerror(errno));
    /* Keep the mode of the file being replaced; new files get 0644. */
    struct stat old;
    mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644;
    if (s == DG_OK && fchmod(fd, mode) != 0)
        s = dg_fail(DG_E_IO, "chmod %s: %s", tmp, strerror(errno));
    if (s == DG_OK && rename(tmp, path) != 0)
        s = dg_fail(DG_E_IO, "rename %s to %s: %s", tmp, path,
                    strerror(errno));
    if (s != DG_OK) unlink(tmp);
    if (close(fd) != 0 && s == DG_OK)
        s = dg_fail(DG_E_IO, "close %s: %s", path, strerror(errno));
    if (s == DG_OK) s = sync_folder(dir, path);
out:
    free(tmp);
    free(dir);
    return s;
}

dg_status dg_file_parse(const char *path, size_t max_size, const char *verb,
                        dg_parse_fn parse, void *ctx)
{
    uint8_t *data;
    size_t len;
    DG_TRY(dg_file_read_all(path, max_size, &data, &len));
    dg_status s = parse(ctx, data, len);
    free(data);
    if (s == DG_OK) return DG_OK;
    return verb ? dg_fail_context(s, "%s %s", verb, path)
                : dg_fail_context(s, "%s", path);
}

dg_status dg_file_save(const char *path, dg_serialize_fn serialize,
                       const void *obj)
{
    dg_writer w;
    dg_writer_init(&w);
    dg_status s = serialize(obj, &w);
    if (s == DG_OK) s = w.status;
    if (s == DG_OK) s = dg_file_write_atomic(path, w.data, w.len);
    dg_writer_release(&w);
    return s;
}
