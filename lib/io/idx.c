/* idx.c - IDX image and label files (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Every size comes from the file, so each is checked before it is trusted:
 * dimensions must be non-zero and their product must not overflow; a plain
 * file must be exactly as long as its header says; a gzip file must not
 * declare more than deflate could expand its bytes to, and inflating stops
 * at the declared size, so a lying header or a gzip bomb fails cleanly.
 * A gzip file may hold several members one after another (as gzip
 * itself reads them); bytes after the last that start no member are
 * refused. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/file.h"
#include "io/dataset.h"
#include "io/image.h"

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */
#define IDX_MAX_DIMS 3

/* deflate expands data by at most 1032:1 (zlib's FAQ). */
enum { DEFLATE_MAX_RATIO = 1032 };

_Static_assert(DG_IO_MAX_FILE_SIZE <= UINT_MAX,
               "a whole IDX file must fit zlib's avail_in");

/* One IDX file read front to back, from memory or through inflate. */
typedef struct idx_file {
    const char *path;
    uint8_t *raw; /* the file's bytes */
    size_t raw_len;
    size_t raw_pos; /* next byte of a plain file */
    int gzip;
    int inflating;   /* zs needs inflateEnd */
    int gzip_ended;  /* inflate reported the end of the last member */
    size_t trailing; /* bytes after the last member that start none */
    z_stream zs;
    size_t produced; /* bytes read so far (decompressed) */
    uint32_t dims[IDX_MAX_DIMS];
    size_t body_size; /* bytes after the header, from the dimensions */
} idx_file;

static uint32_t load_be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           b[3];
}

/* After a gzip member ends: another member (gzip -c a b > ab.gz makes
 * one file of two) continues the data; anything else left is garbage,
 * reported as Z_DATA_ERROR with f->trailing set. */
static int next_member(idx_file *f)
{
    const uint8_t *p = f->zs.next_in;
    if (f->zs.avail_in < 2 || p[0] != 0x1f || p[1] != 0x8b) {
        f->trailing = f->zs.avail_in;
        return Z_DATA_ERROR;
    }
    return inflateReset(&f->zs);
}

/* Inflates into dst[0..n) until it is full or the data ends; returns the
 * last zlib code (Z_STREAM_END only at the end of the last member) and
 * adds the bytes produced to f->produced. */
static int inflate_into(idx_file *f, uint8_t *dst, size_t n, size_t *got)
{
    int z = Z_OK;
    *got = 0;
    while (*got < n && z == Z_OK) {
        size_t left = n - *got;
        uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
        f->zs.next_out = dst + *got;
        f->zs.avail_out = chunk;
        z = inflate(&f->zs, Z_NO_FLUSH);
        *got += chunk - f->zs.avail_out;
        if (z == Z_STREAM_END && f->zs.avail_in > 0) z = next_member(f);
    }
    f->produced += *got;
    if (z == Z_STREAM_END) f->gzip_ended = 1;
    return z;
}

static dg_status gzip_error(const idx_file *f, int z)
{
    if (z == Z_MEM_ERROR) return dg_fail(DG_E_NOMEM, "inflating: no memory");
    if (f->trailing)
        return dg_fail(DG_E_FORMAT,
                       "%zu bytes of trailing garbage after the gzip data",
                       f->trailing);
    if (z == Z_STREAM_END || z == Z_BUF_ERROR)
        return dg_fail(DG_E_FORMAT,
                       "truncated: the gzip data ends after %zu bytes",
                       f->produced);
    return dg_fail(DG_E_FORMAT, "corrupt gzip data after %zu bytes: %s",
                   f->produced, f->zs.msg ? f->zs.msg : "unknown error");
}

/* Reads exactly n bytes. */
static dg_status idx_read(idx_file *f, void *dst, size_t n)
{
    if (!f->gzip) {
        if (n > f->raw_len - f->raw_pos)
            return dg_fail(DG_E_FORMAT,
                           "truncated: %zu bytes needed at offset %zu, the "
                           "file has %zu",
                           n, f->raw_pos, f->raw_len);
        memcpy(dst, f->raw + f->raw_pos, n);
        f->raw_pos += n;
        f->produced += n;
        return DG_OK;
    }
    size_t got;
    int z = inflate_into(f, dst, n, &got);
    return got == n ? DG_OK : gzip_error(f, z);
}

/* A gzip stream must end (with a good checksum) right after the body. */
static dg_status idx_check_end(idx_file *f)
{
    if (!f->gzip || f->gzip_ended) return DG_OK;
    uint8_t extra;
    size_t got;
    int z = inflate_into(f, &extra, 1, &got);
    if (got != 0)
        return dg_fail(DG_E_FORMAT,
                       "the gzip data holds more than the %zu bytes its "
                       "header declares",
                       f->produced - got);
    return z == Z_STREAM_END ? DG_OK : gzip_error(f, z);
}

/* Reads the file and its header (magic, then n_dims big-endian sizes) and
 * checks that the body it declares can be real. */
static dg_status idx_parse_header(idx_file *f, uint32_t magic,
                                  uint32_t n_dims)
{
    if (f->raw_len >= 2 && f->raw[0] == 0x1f && f->raw[1] == 0x8b) {
        f->gzip = 1;
        f->zs.next_in = f->raw;
        f->zs.avail_in = (uInt)f->raw_len;
        /* 16 + MAX_WBITS: a gzip wrapper, not a zlib one. */
        if (inflateInit2(&f->zs, 16 + MAX_WBITS) != Z_OK)
            return dg_fail(DG_E_NOMEM, "cannot start inflating");
        f->inflating = 1;
    }
    uint8_t field[4];
    DG_TRY(idx_read(f, field, sizeof field));
    uint32_t got = load_be32(field);
    if (got != magic)
        return dg_fail(DG_E_FORMAT,
                       "magic number 0x%08x; expected 0x%08x (unsigned "
                       "bytes in %u dimensions)",
                       got, magic, n_dims);
    size_t body = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        DG_TRY(idx_read(f, field, sizeof field));
        f->dims[d] = load_be32(field);
        if (f->dims[d] == 0)
            return dg_fail(DG_E_FORMAT, "dimension %u is 0", d);
        if (!dg_mul_ok(body, f->dims[d], &body) || body > DG_MAX_ALLOC)
            return dg_fail(DG_E_FORMAT,
                           "dimension %u (%u) takes the data past %zu bytes",
                           d, f->dims[d], (size_t)DG_MAX_ALLOC);
    }
    f->body_size = body;
    if (!f->gzip && f->raw_len - f->raw_pos != body)
        return dg_fail(DG_E_FORMAT,
                       "the file is %zu bytes; its header declares %zu",
                       f->raw_len, f->raw_pos + body);
    if (f->gzip && body / DEFLATE_MAX_RATIO > f->raw_len)
        return dg_fail(DG_E_FORMAT,
                       "the header declares %zu bytes, more than %zu bytes "
                       "of gzip data can hold",
                       body, f->raw_len);
    return DG_OK;
}

static dg_status idx_open(idx_file *f, const char *path, uint32_t magic,
                          uint32_t n_dims)
{
    f->path = path;
    DG_TRY(dg_file_read_all(path, DG_IO_MAX_FILE_SIZE, &f->raw,
                            &f->raw_len));
    dg_status s = idx_parse_header(f, magic, n_dims);
    return s == DG_OK ? s : dg_fail_context(s, "%s", path);
}

/* Reads the whole body into dst (f->body_size bytes) and checks the end. */
static dg_status idx_read_body(idx_file *f, void *dst)
{
    dg_status s = idx_read(f, dst, f->body_size);
    if (s == DG_OK) s = idx_check_end(f);
    return s == DG_OK ? s : dg_fail_context(s, "%s", f->path);
}

static void idx_close(idx_file *f)
{
    if (f->inflating) inflateEnd(&f->zs);
    free(f->raw);
}

dg_status dg_idx_load(const char *images_path, const char *labels_path,
                      dg_dataset **out)
{
    *out = NULL;
    idx_file images = {0}, labels = {0};
    dg_dataset *ds = NULL;
    uint8_t *label_bytes = NULL;
    dg_status s = idx_open(&images, images_path, IDX_IMAGES_MAGIC, 3);
    if (s == DG_OK) s = idx_open(&labels, labels_path, IDX_LABELS_MAGIC, 1);
    if (s == DG_OK && images.dims[0] != labels.dims[0])
        s = dg_fail(DG_E_FORMAT, "%s holds %u images but %s holds %u labels",
                    images_path, images.dims[0], labels_path,
                    labels.dims[0]);
    if (s == DG_OK)
        s = dg_dataset_alloc(images.dims[0], 1, images.dims[1],
                             images.dims[2], &ds);
    if (s == DG_OK) s = idx_read_body(&images, ds->pixels);
    if (s == DG_OK)
        s = dg_alloc_array((void **)&label_bytes, labels.body_size, 1,
                           "labels");
    if (s == DG_OK) s = idx_read_body(&labels, label_bytes);
    if (s == DG_OK) {
        for (uint32_t i = 0; i < ds->count; i++)
            ds->labels[i] = label_bytes[i];
        dg_dataset_count_classes(ds);
        *out = ds;
        ds = NULL;
    }
    free(label_bytes);
    dg_dataset_destroy(ds);
    idx_close(&images);
    idx_close(&labels);
    return s;
}
