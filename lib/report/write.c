/* write.c - reports into memory and files: text written to a FILE in
 * memory, then handed over or saved atomically (dg_file_save). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "report/report.h"

dg_status report_text(report_text_fn write, const void *ctx, char **text,
                      size_t *len)
{
    *text = NULL;
    FILE *f = open_memstream(text, len);
    if (!f) return dg_fail(DG_E_NOMEM, "a report");
    bool ok = write(ctx, f);
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        free(*text);
        *text = NULL;
        return dg_fail(DG_E_NOMEM, "a report");
    }
    return DG_OK;
}

/* What dg_file_save serialises: a report's text. */
typedef struct text_job {
    report_text_fn write;
    const void *ctx;
} text_job;

static dg_status serialize_text(const void *obj, dg_writer *w)
{
    const text_job *job = obj;
    char *text;
    size_t len;
    DG_TRY(report_text(job->write, job->ctx, &text, &len));
    dg_put_bytes(w, text, len);
    free(text);
    return w->status;
}

dg_status report_save(const char *dir, const char *name,
                      report_text_fn write, const void *ctx)
{
    char path[4096];
    DG_TRY(report_path(dir, name, path, sizeof path));
    const text_job job = {write, ctx};
    return dg_file_save(path, serialize_text, &job);
}

dg_status report_path(const char *dir, const char *file, char *buf,
                      size_t size)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, file) >= size)
        return dg_fail(DG_E_INVALID_ARG, "the path %s/%s is too long", dir,
                       file);
    return DG_OK;
}

dg_status report_folder(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dg_fail(DG_E_IO, "cannot create %s: %s", dir,
                       strerror(errno));
    return DG_OK;
}
