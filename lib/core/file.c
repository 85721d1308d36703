/* file.c - whole-file reads with a size cap, and atomic writes. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

dg_status dg_file_write_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dircopy = dg_strdup(path);
    if (!tmp || !dircopy) {
        free(tmp);
        free(dircopy);
        return dg_fail(DG_E_NOMEM, "atomic write of %s", path);
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    dg_status s = DG_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = dg_fail(DG_E_IO, "cannot create a temporary file beside %s: %s",
                    path, strerror(errno));
        goto out;
    }
    s = write_fully(fd, data, len, tmp);
    if (s == DG_OK && fsync(fd) != 0)
        s = dg_fail(DG_E_IO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == DG_OK)
        s = dg_fail(DG_E_IO, "close %s: %s", tmp, strerror(errno));
    /* Keep the mode of the file being replaced; new files get 0644. */
    struct stat old;
    mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644;
    if (s == DG_OK && chmod(tmp, mode) != 0)
        s = dg_fail(DG_E_IO, "chmod %s: %s", tmp, strerror(errno));
    if (s == DG_OK && rename(tmp, path) != 0)
        s = dg_fail(DG_E_IO, "rename %s to %s: %s", tmp, path,
                    strerror(errno));
    if (s != DG_OK) {
        unlink(tmp);
        goto out;
    }
    /* Make the rename itself durable. */
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(dircopy);
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
