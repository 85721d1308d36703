/* test_model_file.c - the model file format (doc/model-format.md): exact
 * round trips of every layer kind, the load/save contracts, atomic saves,
 * and rejection of truncated, bit-flipped and hand-crafted hostile files. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/model_format.h"
#include "nn/model.h"
#include "suite.h"

/* Offsets fixed by doc/model-format.md. */
enum { SIZE_AT = 16, FLAGS_AT = 24, FIRST_SECTION_AT = 28, CRC_SIZE = 4 };

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* Makes an edited buffer self-consistent again: size field and CRC. */
static void reseal(uint8_t *buf, size_t size)
{
    put_le(buf + SIZE_AT, size, 8);
    put_le(buf + size - CRC_SIZE, dg_crc32(buf, size - CRC_SIZE), 4);
}

/* Offset of the payload of section `tag`. */
/* Where the payload of section `tag` starts, or 0 if there is none. */
static size_t find_section(const uint8_t *buf, size_t size, const char *tag)
{
    size_t at = FIRST_SECTION_AT;
    while (at + 12 <= size - CRC_SIZE) {
        if (memcmp(buf + at, tag, 4) == 0) return at + 12;
        at += 12 + get_le(buf + at + 4, 8);
    }
    return 0;
}

static size_t section_at(const uint8_t *buf, size_t size, const char *tag)
{
    size_t at = find_section(buf, size, tag);
    ck_assert_msg(at, "no section %s", tag);
    return at;
}

/* A copy of buf with n bytes inserted at `at`, the section length at
 * len_at (0: none) grown by n, resealed. */
static uint8_t *insert_bytes(const uint8_t *buf, size_t size, size_t at,
                             const void *bytes, size_t n, size_t len_at,
                             size_t *new_size)
{
    uint8_t *out = malloc(size + n);
    memcpy(out, buf, at);
    memcpy(out + at, bytes, n);
    memcpy(out + at + n, buf + at, size - at);
    if (len_at) put_le(out + len_at, get_le(out + len_at, 8) + n, 8);
    *new_size = size + n;
    reseal(out, *new_size);
    return out;
}

static uint8_t *save(const dg_model *m, size_t *size)
{
    ck_assert_int_eq(dg_model_save_memory(m, NULL, 0, size), DG_OK);
    uint8_t *buf = malloc(*size);
    ck_assert_int_eq(dg_model_save_memory(m, buf, *size, size), DG_OK);
    return buf;
}

static dg_model *load(const uint8_t *buf, size_t size)
{
    dg_model *m = NULL;
    dg_status s = dg_model_load_memory(buf, size, &m);
    ck_assert_msg(s == DG_OK, "load failed: %s: %s", dg_strerror(s),
                  dg_last_error_detail());
    return m;
}

/* Loads buf, which must fail cleanly: status `want` (any failure for
 * DG_OK), no model, and a detail containing `needle` (if not NULL). */
static dg_status expect_rejected(const uint8_t *buf, size_t size,
                                 dg_status want, const char *needle)
{
    dg_model *m = (dg_model *)buf; /* must be reset to NULL */
    dg_status s = dg_model_load_memory(buf, size, &m);
    ck_assert_msg(s != DG_OK, "a bad buffer of %zu bytes loaded", size);
    if (want != DG_OK)
        ck_assert_msg(s == want, "status %s, expected %s (%s)",
                      dg_strerror(s), dg_strerror(want),
                      dg_last_error_detail());
    ck_assert_ptr_null(m);
    ck_assert_str_ne(dg_last_error_detail(), "");
    if (needle)
        ck_assert_msg(strstr(dg_last_error_detail(), needle),
                      "detail \"%s\" lacks \"%s\"", dg_last_error_detail(),
                      needle);
    return s;
}

static void assert_same_bits(const void *a, const void *b, size_t n,
                             const char *what, uint32_t layer)
{
    ck_assert_msg(memcmp(a, b, n) == 0, "layer %u: %s differs", layer, what);
}

static void assert_models_equal(const dg_model *a, const dg_model *b)
{
    ck_assert_uint_eq(a->n_layers, b->n_layers);
    assert_same_bits(&a->input, &b->input, sizeof a->input, "input", 0);
    assert_same_bits(&a->pre, &b->pre, sizeof a->pre, "preprocess", 0);
    ck_assert_uint_eq(a->n_class_names, b->n_class_names);
    for (uint32_t k = 0; k < a->n_class_names; k++)
        ck_assert_str_eq(a->class_names[k], b->class_names[k]);
    for (uint32_t i = 0; i < a->n_layers; i++) {
        const dg_layer *x = &a->layers[i], *y = &b->layers[i];
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_int_eq(x->input[0], y->input[0]);
        ck_assert_int_eq(x->input[1], y->input[1]);
        ck_assert_uint_eq(x->flags, y->flags);
        ck_assert_uint_eq(x->units, y->units);
        ck_assert_uint_eq(x->kernel, y->kernel);
        ck_assert_uint_eq(x->stride, y->stride);
        ck_assert_uint_eq(x->padding, y->padding);
        ck_assert_uint_eq(x->groups, y->groups);
        ck_assert_uint_eq(x->ceil_mode, y->ceil_mode);
        ck_assert_mem_eq(x->pad, y->pad, sizeof x->pad);
        assert_same_bits(&x->alpha, &y->alpha, sizeof x->alpha, "alpha", i);
        assert_same_bits(&x->beta, &y->beta, sizeof x->beta, "beta", i);
        assert_same_bits(&x->eps, &y->eps, sizeof x->eps, "eps", i);
        assert_same_bits(&x->rate, &y->rate, sizeof x->rate, "rate", i);
        assert_same_bits(&x->in, &y->in, sizeof x->in, "input shape", i);
        assert_same_bits(&x->out, &y->out, sizeof x->out, "output shape", i);
        ck_assert_uint_eq(x->n_params, y->n_params);
        ck_assert_uint_eq(x->n_trainable, y->n_trainable);
        for (uint32_t p = 0; p < DG_MAX_PARAMS; p++) {
            ck_assert_uint_eq(x->param_len[p], y->param_len[p]);
            if (p >= x->n_params) {
                ck_assert_ptr_null(y->param[p]);
                continue;
            }
            assert_same_bits(x->param[p], y->param[p],
                             x->param_len[p] * sizeof(float), "parameter",
                             i);
        }
        ck_assert_int_eq(x->mask == NULL, y->mask == NULL);
        if (x->mask) assert_same_bits(x->mask, y->mask, x->out.c, "mask", i);
    }
}

/* Non-default everything: random parameters and batch-norm statistics,
 * float bit patterns that arithmetic would lose, a pruning mask, a frozen
 * layer, class names (UTF-8, one at the 63-byte limit) and, for 1 or 3
 * channels, preprocessing. */
static void decorate(dg_model *m, uint64_t seed)
{
    dg_rng rng;
    dg_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        dg_layer *l = &m->layers[i];
        for (uint32_t p = 0; p < l->n_params; p++)
            for (size_t k = 0; k < l->param_len[p]; k++)
                l->param[p][k] = dg_rng_normal(&rng);
        if (l->kind == DG_LAYER_BATCHNORM)
            for (size_t k = 0; k < l->param_len[3]; k++)
                l->param[3][k] = 0.25f + dg_rng_uniform(&rng);
    }
    dg_layer *first = &m->layers[0];
    if (first->n_params >= 2 && first->param_len[1] >= 3) {
        first->param[1][0] = -0.0f;
        first->param[1][1] = 1e-40f; /* subnormal */
        first->param[1][2] = nextafterf(1.0f, 2.0f);
    }
    uint32_t units = dg_layer_units(first);
    ck_assert_int_eq(dg_alloc_array((void **)&first->mask, units, 1, "mask"),
                     DG_OK);
    for (uint32_t u = 0; u < units; u++) first->mask[u] = u % 3 != 1;
    first->flags |= DG_LAYER_FLAG_FROZEN;

    uint32_t n;
    ck_assert_int_eq(dg_model_output_size(m, &n), DG_OK);
    static char names[16][DG_CLASS_NAME_CAP];
    const char *ptrs[16];
    ck_assert_uint_le(n, 16);
    for (uint32_t k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "class %u", k);
        ptrs[k] = names[k];
    }
    ptrs[0] = "chat noir \xc3\xa9\xe2\x9c\x93"; /* UTF-8 */
    memset(names[n - 1], 'x', DG_CLASS_NAME_CAP - 1);
    ck_assert_int_eq(dg_model_set_class_names(m, ptrs, n), DG_OK);

    if (m->input.c == 1 || m->input.c == 3) {
        dg_preprocess pre = {.struct_size = sizeof pre};
        ck_assert_int_eq(dg_model_preprocess(m, &pre), DG_OK);
        pre.scale = 1.0f / 127.5f;
        const float mean[3] = {0.485f, 0.456f, 0.406f};
        const float std[3] = {0.229f, 0.224f, 0.225f};
        memcpy(pre.mean, mean, sizeof mean);
        memcpy(pre.std, std, sizeof std);
        ck_assert_int_eq(dg_model_set_preprocess(m, &pre), DG_OK);
    }
}

/* Every layer kind: conv with stride and padding, batch norm, relu, a
 * residual add, max and average pooling, dropout, flatten, linear, softmax;
 * then global pooling; then inputs that are not images. */
static const struct {
    const char *spec;
    uint32_t c, h, w;
} round_trip_models[] = {
    {"c8k3s2p1,bn,relu,c8k3p1,add@2,mp2,ap2s1,drop0.25,flatten,fc10,softmax",
     3, 16, 16},
    {"c4k3,relu,gap,fc5", 1, 12, 12},
    {"c6k1,bn,relu,flatten,fc3", 32, 4, 4}, /* a feature map, as a tail */
    {"fc2,softmax", 2, 3, 3},
    {"c8k3p1,bn,relu,c8k3p1g8,relu,c4k1g2,gap,fc3", 4, 8, 8}, /* grouped */
    {"c4k3p1,relu6,c4k1,hswish,c4k1,hsigmoid,clip-1:2,sigmoid,mp3s2ceil,"
     "ap2ceil,pad1:0:2:3,fc3",
     2, 7, 7},
    {"c4k3p1,gap,c4k1,sigmoid,mul@0,c2k1,cat@4,fc3", 3, 5, 5}, /* SE, concat */
};

static dg_model *make_model(int index)
{
    dg_model *m;
    dg_status s = dg_model_create(
        round_trip_models[index].spec, round_trip_models[index].c,
        round_trip_models[index].h, round_trip_models[index].w, 7, &m);
    ck_assert_msg(s == DG_OK, "%s", dg_last_error_detail());
    decorate(m, 100 + (uint64_t)index);
    return m;
}

/* Caps the address space near its current size, so that an allocation
 * sized by a hostile file fails the test instead of succeeding lazily.
 * Only in forked tests: the cap would outlive the test otherwise, and
 * valgrind (CK_FORK=no) needs room of its own. */
static int cap_address_space(void)
{
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode && strcmp(fork_mode, "no") == 0) return 0;
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    int got = fscanf(f, "%lu", &pages);
    fclose(f);
    if (got != 1) return 0;
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max =
        (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
    return setrlimit(RLIMIT_AS, &lim) == 0;
}

/* ------------------------------------------------------------------------ */
/* Round trips and the public contracts                                     */
/* ------------------------------------------------------------------------ */

START_TEST(round_trip_is_exact)
{
    dg_model *m = make_model(_i);
    size_t size, size2;
    uint8_t *buf = save(m, &size);
    dg_model *back = load(buf, size);
    assert_models_equal(m, back);
    uint8_t *again = save(back, &size2);
    ck_assert_uint_eq(size, size2);
    ck_assert_msg(memcmp(buf, again, size) == 0, "saving is not stable");
    free(again);
    free(buf);
    dg_model_free(back);
    dg_model_free(m);
}
END_TEST

START_TEST(save_memory_follows_the_size_query_contract)
{
    dg_model *m = make_model(1);
    size_t size = 0, got = 0;
    ck_assert_int_eq(dg_model_save_memory(m, NULL, 0, &size), DG_OK);
    ck_assert_uint_gt(size, FIRST_SECTION_AT);
    ck_assert_int_eq(dg_model_save_memory(m, NULL, 1000000, &got), DG_OK);
    ck_assert_uint_eq(got, size);

    uint8_t *buf = malloc(size + 16);
    memset(buf, 0xab, size + 16);
    got = 0;
    ck_assert_int_eq(dg_model_save_memory(m, buf, size - 1, &got),
                     DG_E_INVALID_ARG);
    ck_assert_uint_eq(got, size);
    for (size_t k = 0; k < size + 16; k++) ck_assert_uint_eq(buf[k], 0xab);

    ck_assert_int_eq(dg_model_save_memory(m, buf, size + 16, &got), DG_OK);
    ck_assert_uint_eq(got, size);
    for (size_t k = size; k < size + 16; k++) ck_assert_uint_eq(buf[k], 0xab);
    ck_assert(memcmp(buf, "DGMODEL", 8) == 0);
    dg_model *back = load(buf, size);
    assert_models_equal(m, back);

    dg_model_free(back);
    free(buf);
    dg_model_free(m);
}
END_TEST

START_TEST(arguments_are_checked)
{
    dg_model *m = make_model(1);
    dg_model *out = m;
    size_t size = 1;
    uint8_t byte = 0;
    ck_assert_int_eq(dg_model_load_memory(NULL, 10, &out), DG_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(dg_model_load_memory(&byte, 1, NULL), DG_E_INVALID_ARG);
    out = m;
    ck_assert_int_eq(dg_model_load_file(NULL, &out), DG_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    out = m;
    ck_assert_int_eq(dg_model_load_file("", &out), DG_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(dg_model_load_file("x", NULL), DG_E_INVALID_ARG);
    out = m;
    ck_assert_int_eq(dg_model_load_file("/nonexistent/dir/m.dgm", &out),
                     DG_E_IO);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(dg_model_save_file(NULL, "x"), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_model_save_file(m, NULL), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_model_save_memory(NULL, NULL, 0, &size),
                     DG_E_INVALID_ARG);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(dg_model_save_memory(m, NULL, 0, NULL),
                     DG_E_INVALID_ARG);
    expect_rejected(&byte, 0, DG_E_FORMAT, "truncated");
    dg_model_free(m);
}
END_TEST

static char *make_temp_dir(void)
{
    char *dir = dg_strdup("/tmp/dg_model_file_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* Names of the entries of dir, one per line. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    out[0] = '\0';
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            strncat(out, e->d_name, cap - strlen(out) - 2);
            strcat(out, "\n");
        }
    closedir(d);
}

static void remove_dir(char *dir)
{
    char names[4096], path[4200];
    list_dir(dir, names, sizeof names);
    for (char *name = strtok(names, "\n"); name; name = strtok(NULL, "\n")) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unlink(path);
    }
    rmdir(dir);
    free(dir);
}

START_TEST(save_file_is_atomic_and_loads_back)
{
    char *dir = make_temp_dir();
    char path[256], names[4096];
    snprintf(path, sizeof path, "%s/model.dgm", dir);
    dg_model *m = make_model(0);

    /* An existing, larger file is replaced whole. */
    FILE *f = fopen(path, "wb");
    for (int k = 0; k < 100000; k++) fputc('j', f);
    fclose(f);
    ck_assert_int_eq(dg_model_save_file(m, path), DG_OK);
    list_dir(dir, names, sizeof names);
    ck_assert_str_eq(names, "model.dgm\n"); /* no temporary left behind */

    size_t size, file_size;
    uint8_t *expected = save(m, &size);
    uint8_t *file_bytes;
    ck_assert_int_eq(dg_file_read_all(path, 1 << 20, &file_bytes, &file_size),
                     DG_OK);
    ck_assert_uint_eq(file_size, size);
    ck_assert(memcmp(file_bytes, expected, size) == 0);

    dg_model *back = NULL;
    ck_assert_int_eq(dg_model_load_file(path, &back), DG_OK);
    assert_models_equal(m, back);

    /* A failed save leaves nothing behind either. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/model.dgm", dir);
    ck_assert_int_eq(dg_model_save_file(m, bad), DG_E_IO);
    ck_assert_int_eq(dg_model_save_file(m, dir), DG_E_IO); /* a folder */
    list_dir(dir, names, sizeof names);
    ck_assert_str_eq(names, "model.dgm\n");

    dg_model_free(back);
    free(file_bytes);
    free(expected);
    dg_model_free(m);
    remove_dir(dir);
}
END_TEST

/* The library's objects are linked into this program, so its fsync calls
 * come here: with fail_folder_sync set, syncing a folder fails. */
static int fail_folder_sync;

int fsync(int fd)
{
    struct stat st;
    if (fail_folder_sync && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

START_TEST(a_failing_folder_sync_is_reported)
{
    char *dir = make_temp_dir();
    char path[256];
    snprintf(path, sizeof path, "%s/model.dgm", dir);
    dg_model *m = make_model(0);
    fail_folder_sync = 1;
    ck_assert_int_eq(dg_model_save_file(m, path), DG_E_IO);
    fail_folder_sync = 0;
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "syncing its folder"));
    /* The new file is in place; only its durability is in doubt. */
    dg_model *back = NULL;
    ck_assert_int_eq(dg_model_load_file(path, &back), DG_OK);
    dg_model_free(back);
    dg_model_free(m);
    remove_dir(dir);
}
END_TEST

/* dir/name holding a few bytes, last modified `age` seconds ago. */
static void make_aged(const char *dir, const char *name, int age)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("half a model", f);
    fclose(f);
    time_t then = time(NULL) - age;
    struct timespec times[2] = {{then, 0}, {then, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* An exclusive flock on dir/name, as a save holds on its temporary. */
static int hold(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    return fd;
}

/* A save removes what earlier saves to the same file left when they
 * died (kill -9 included), and nothing else: not another file's, not
 * other names, not one a live save holds, not a fresh one. */
START_TEST(saves_remove_stale_temporaries_of_their_own_only)
{
    char *dir = make_temp_dir();
    char path[256], names[4096];
    snprintf(path, sizeof path, "%s/model.dgm", dir);
    const char *kept[] = {"model.dgm.tmpFresh1", "model.dgm.tmpLocked",
                          "other.dgm.tmpAbC123", "model.dgm.tmpAbC1234",
                          "model.dgm.tmp-bC123", "model.dgm.tmpAbC12"};
    make_aged(dir, "model.dgm.tmpAbC123", 3600);
    make_aged(dir, "model.dgm.tmpKilled", 3600);
    make_aged(dir, kept[0], 0);
    for (size_t k = 1; k < sizeof kept / sizeof *kept; k++)
        make_aged(dir, kept[k], 3600);
    int held = hold(dir, "model.dgm.tmpLocked");
    /* A writer in another process, alive, then killed. */
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        hold(dir, "model.dgm.tmpKilled");
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    dg_model *m = make_model(0);
    ck_assert_int_eq(dg_model_save_file(m, path), DG_OK);
    list_dir(dir, names, sizeof names);
    ck_assert_ptr_null(strstr(names, "model.dgm.tmpAbC123\n"));
    ck_assert_ptr_nonnull(strstr(names, "model.dgm.tmpKilled\n"));
    kill(writer, SIGKILL);
    waitpid(writer, NULL, 0);
    ck_assert_int_eq(dg_model_save_file(m, path), DG_OK);
    list_dir(dir, names, sizeof names);
    ck_assert_ptr_null(strstr(names, "model.dgm.tmpKilled\n"));
    ck_assert_ptr_nonnull(strstr(names, "model.dgm\n"));
    for (size_t k = 0; k < sizeof kept / sizeof *kept; k++) {
        char line[64];
        snprintf(line, sizeof line, "%s\n", kept[k]);
        ck_assert_msg(strstr(names, line), "%s was removed", kept[k]);
    }
    close(held);
    close(ready[0]);
    close(ready[1]);
    dg_model_free(m);
    remove_dir(dir);
}
END_TEST

START_TEST(load_file_refuses_oversized_and_non_model_files)
{
    char *dir = make_temp_dir();
    char path[256];
    snprintf(path, sizeof path, "%s/huge.dgm", dir);
    /* Sparse: 2 GiB + 1 costs no disk and must not be read. */
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, ((off_t)2 << 30) + 1), 0);
    close(fd);
    dg_model *m = (dg_model *)path;
    ck_assert_int_eq(dg_model_load_file(path, &m), DG_E_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "allowed"));

    ck_assert_int_eq(truncate(path, 100), 0); /* 100 zero bytes */
    ck_assert_int_eq(dg_model_load_file(path, &m), DG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), path));
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "not a libdiffguard"));
    ck_assert_int_eq(dg_model_load_file(dir, &m), DG_E_IO);
    remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Versions and growth                                                      */
/* ------------------------------------------------------------------------ */

START_TEST(versions_and_feature_flags)
{
    dg_model *m = make_model(1);
    size_t size;
    uint8_t *buf = save(m, &size);
    /* Layers that 1.0 knows are written as 1.0 wrote them (a guard keeps
     * the hash of these bytes), with no feature and no LAYX. */
    ck_assert_uint_eq(get_le(buf + 8, 4), DG_MODEL_FORMAT_MAJOR);
    ck_assert_uint_eq(get_le(buf + 12, 4), 0);
    ck_assert_uint_eq(get_le(buf + FLAGS_AT, 4), 0);
    ck_assert_uint_eq(find_section(buf, size, "LAYX"), 0);

    /* Grouped convolutions need 1.1: feature 1 and section LAYX. */
    dg_model *grouped = make_model(4);
    size_t grouped_size;
    uint8_t *grouped_buf = save(grouped, &grouped_size);
    ck_assert_uint_eq(get_le(grouped_buf + 12, 4), DG_MODEL_FORMAT_MINOR);
    ck_assert_uint_eq(get_le(grouped_buf + FLAGS_AT, 4), 1);
    section_at(grouped_buf, grouped_size, "LAYX");
    free(grouped_buf);
    dg_model_free(grouped);

    put_le(buf + 8, 2, 4);
    reseal(buf, size);
    expect_rejected(buf, size, DG_E_UNSUPPORTED, "format 2.0 is newer than 1.1");
    put_le(buf + 8, 0, 4);
    reseal(buf, size);
    expect_rejected(buf, size, DG_E_FORMAT, "version 0");

    /* A newer minor version of the same major loads. */
    put_le(buf + 8, 1, 4);
    put_le(buf + 12, 9, 4);
    reseal(buf, size);
    dg_model *back = load(buf, size);
    assert_models_equal(m, back);
    dg_model_free(back);

    put_le(buf + FLAGS_AT, 4, 4);
    reseal(buf, size);
    expect_rejected(buf, size, DG_E_UNSUPPORTED, "features 0x4");

    memcpy(buf, "DGGUARD", 8);
    reseal(buf, size);
    expect_rejected(buf, size, DG_E_FORMAT, "not a libdiffguard model");
    free(buf);
    dg_model_free(m);
}
END_TEST

START_TEST(older_readers_skip_what_they_do_not_know)
{
    dg_model *m = make_model(0);
    size_t size, grown_size, extra_size;
    uint8_t *buf = save(m, &size);

    /* An unknown trailing section. */
    static const uint8_t extra[] = {'X', 'T', 'R', 'A', 5, 0, 0, 0, 0, 0,
                                    0,   0,   1,   2,   3, 4, 5};
    uint8_t *with_extra = insert_bytes(buf, size, size - CRC_SIZE, extra,
                                       sizeof extra, 0, &extra_size);
    dg_model *back = load(with_extra, extra_size);
    assert_models_equal(m, back);
    dg_model_free(back);

    /* A known section grown at its end by a later minor version. */
    size_t layr = section_at(buf, size, "LAYR");
    size_t head = section_at(buf, size, "HEAD");
    static const uint8_t tail[6] = {9, 9, 9, 9, 9, 9};
    uint8_t *grown = insert_bytes(buf, size, layr - 12, tail, sizeof tail,
                                  head - 8, &grown_size);
    back = load(grown, grown_size);
    assert_models_equal(m, back);
    dg_model_free(back);

    free(grown);
    free(with_extra);
    free(buf);
    dg_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corruption                                                               */
/* ------------------------------------------------------------------------ */

START_TEST(every_truncation_fails)
{
    dg_model *m = make_model(0);
    size_t size;
    uint8_t *buf = save(m, &size);
    for (size_t len = 0; len < size; len++)
        expect_rejected(buf, len, DG_E_FORMAT, NULL);
    free(buf);
    dg_model_free(m);
}
END_TEST

/* Truncations made to look whole (size and CRC fixed up) reach the parser
 * itself.  Only a cut right before the optional META section is valid. */
START_TEST(every_resealed_truncation_fails_in_the_parser)
{
    dg_model *m = make_model(0);
    size_t size;
    uint8_t *buf = save(m, &size);
    size_t meta_at = section_at(buf, size, "META") - 12;
    uint8_t *cut = malloc(size);
    for (size_t body = FIRST_SECTION_AT; body < size - CRC_SIZE; body++) {
        memcpy(cut, buf, body);
        reseal(cut, body + CRC_SIZE);
        if (body == meta_at) {
            dg_model *back = load(cut, body + CRC_SIZE);
            assert_models_equal(m, back);
            dg_model_free(back);
            continue;
        }
        dg_status s = expect_rejected(cut, body + CRC_SIZE, DG_OK, NULL);
        ck_assert_msg(s == DG_E_FORMAT || s == DG_E_SHAPE,
                      "cut at %zu: %s (%s)", body, dg_strerror(s),
                      dg_last_error_detail());
    }
    free(cut);
    free(buf);
    dg_model_free(m);
}
END_TEST

START_TEST(bit_flips_fail)
{
    dg_model *m = make_model(0);
    size_t size;
    uint8_t *buf = save(m, &size);
    size_t header_end = section_at(buf, size, "LAYR");
    for (size_t at = 0; at < size; at++) {
        /* Every bit of the preamble and HEAD, a sample of the rest, and
         * the checksum itself. */
        int all_bits = at < header_end || at >= size - CRC_SIZE;
        if (!all_bits && at % 7 != 0) continue;
        for (int bit = 0; bit < 8; bit++) {
            if (!all_bits && bit != (int)(at % 8)) continue;
            buf[at] ^= (uint8_t)(1u << bit);
            /* Magic, version and size are read before the checksum. */
            expect_rejected(buf, size, DG_OK,
                            at >= FLAGS_AT ? "checksum mismatch" : NULL);
            buf[at] ^= (uint8_t)(1u << bit);
        }
    }
    dg_model_free(load(buf, size));
    free(buf);
    dg_model_free(m);
}
END_TEST

START_TEST(address_space_cap_is_effective)
{
    if (!cap_address_space()) return;
    void *p = malloc((size_t)1 << 30);
    ck_assert_ptr_null(p);
}
END_TEST

/* Hand-made files with a valid checksum and absurd contents.  Three
 * bases: "c2k3,relu,fc3" on 1x5x5 with class names a, b, c; a lone "c2k3"
 * with the mask {1, 0}; and a lone "mp1" on 1x1x1 (180 bytes).  Offsets are relative to a section's payload
 * (negative: its header) or, for section NULL, to the file. */
enum { BASE, LONE, POOL, LAYERS_1_1 };
typedef struct patch {
    const char *section;
    long offset;
    int width; /* bytes */
    uint64_t value;
} patch;

/* Layer records in LAYR of BASE: conv (40 fixed bytes, count, 18 + 2
 * values with their lengths, mask length), relu, linear. */
#define RELU_AT (40 + 4 + (8 + 18 * 4) + (8 + 2 * 4) + 4)
#define MASK_LEN_AT (RELU_AT - 4)

static const struct {
    const char *name;
    int base;
    patch patches[6];
    dg_status want;
    const char *detail;
} hostile[] = {
    /* Section LAYX (format 1.1): 4-byte record size, then 32-byte records
     * of groups, alpha, beta, ceil mode and four pads per layer. */
    {"LAYX records larger than the section", LAYERS_1_1,
     {{"LAYX", 0, 4, 0xffffffffu}}, DG_E_FORMAT, "do not fit"},
    {"LAYX records shorter than 1.1's", LAYERS_1_1, {{"LAYX", 0, 4, 8}},
     DG_E_FORMAT, "at least 32 each"},
    {"conv groups that do not divide", LAYERS_1_1, {{"LAYX", 4, 4, 2}},
     DG_E_FORMAT, "2 groups do not divide 1 input"},
    {"clip bounds of NaN", LAYERS_1_1, {{"LAYX", 4 + 32 + 4, 4, 0x7fc00000}},
     DG_E_FORMAT, "layer 1 (clip): bounds nan"},
    {"pad of 2^31 rows", LAYERS_1_1, {{"LAYX", 4 + 64 + 16, 4, 1u << 31}},
     DG_E_FORMAT, "layer 2 (pad): 2147483648 rows"},
    {"ceil mode 2", LAYERS_1_1, {{"LAYX", 4 + 96 + 12, 4, 2}}, DG_E_FORMAT,
     "layer 3 (maxpool): ceil mode 2"},
    {"layer count 2^31", BASE, {{"HEAD", 52, 4, 1u << 31}},
     DG_E_FORMAT, "2147483648 layers cannot fit"},
    {"no layers", BASE, {{"HEAD", 52, 4, 0}}, DG_E_FORMAT, "1 to"},
    {"huge input", BASE, {{"HEAD", 8, 4, 1u << 30}, {"HEAD", 20, 4, 1u << 30}},
     DG_E_SHAPE, "out of range"},
    {"preprocessing for another shape", BASE, {{"HEAD", 16, 4, 6}},
     DG_E_SHAPE, "preprocessing"},
    {"preprocessing std 0", BASE, {{"HEAD", 40, 4, 0}},
     DG_E_FORMAT, "preprocessing"},
    {"too few class names", BASE, {{"HEAD", 56, 4, 2}},
     DG_E_SHAPE, "2 class names for 3 outputs"},
    {"class name past the section", BASE, {{"HEAD", 70, 4, 10}},
     DG_E_FORMAT, "class name 2 needs 10 bytes"},
    {"class name count 2^31-1", BASE, {{"HEAD", 56, 4, 0x7fffffff}},
     DG_E_FORMAT, "cannot fit"},
    {"class name of 64 bytes", BASE, {{"HEAD", 60, 4, 64}},
     DG_E_FORMAT, "exceeds 63"},
    {"class name with a NUL", BASE, {{"HEAD", 64, 1, 0}},
     DG_E_FORMAT, "NUL"},
    {"section longer than the file", BASE, {{"HEAD", -8, 8, 1ull << 40}},
     DG_E_FORMAT, "section HEAD at offset 28 declares"},
    {"sections out of order", BASE, {{"HEAD", -12, 4, 0x5259414c}},
     DG_E_FORMAT, "expected section HEAD"},
    {"parameter length 2^40", BASE, {{"LAYR", 44, 8, 1ull << 40}},
     DG_E_FORMAT, "layer 0: parameter 0 declares 1099511627776 values"},
    {"parameter length 2^64-1", BASE, {{"LAYR", 44, 8, UINT64_MAX}},
     DG_E_FORMAT, "declares"},
    {"five parameters", BASE, {{"LAYR", 40, 4, 5}}, DG_E_FORMAT, "at most 4"},
    {"negative input", BASE, {{"LAYR", RELU_AT + 4, 4, (uint32_t)-5}},
     DG_E_FORMAT, "layer 1 reads layer -5"},
    {"input from itself", BASE, {{"LAYR", RELU_AT + 4, 4, 1}},
     DG_E_FORMAT, "layer 1 reads layer 1"},
    {"forward input", BASE, {{"LAYR", RELU_AT + 4, 4, 2}},
     DG_E_FORMAT, "layer 1 reads layer 2"},
    {"kernel 0", BASE, {{"LAYR", 20, 4, 0}}, DG_E_FORMAT, "kernel 0"},
    {"padding as large as the kernel", BASE, {{"LAYR", 28, 4, 3}},
     DG_E_FORMAT, "padding 3"},
    {"kernel larger than the input", BASE, {{"LAYR", 20, 4, 9}},
     DG_E_SHAPE, "exceeds padded input"},
    {"conv with 2^20 outputs", BASE, {{"LAYR", 16, 4, 1u << 20}},
     DG_E_FORMAT, "1048576 output channels"},
    {"unknown layer kind", BASE, {{"LAYR", RELU_AT, 4, 99}},
     DG_E_FORMAT, "unknown kind 99"},
    {"unknown layer flag", BASE, {{"LAYR", 12, 4, 0x80}},
     DG_E_UNSUPPORTED, "flags 0x80"},
    {"unknown file feature", BASE, {{NULL, FLAGS_AT, 4, 2}},
     DG_E_UNSUPPORTED, "features 0x2"},
    {"mask length 2^32-1", BASE, {{"LAYR", MASK_LEN_AT, 4, UINT32_MAX}},
     DG_E_FORMAT, "pruning mask declares 4294967295 bytes"},
    /* A conv whose shape needs 2^32 weights declares none: it must fail
     * on the length, not allocate 16 GiB to fill the gap.  Stride 5 keeps
     * its work (one output pixel) within the default limits. */
    {"conv without parameters", LONE,
     {{"HEAD", 0, 4, 65536}, {"HEAD", 12, 4, 65536},
      {"LAYR", 16, 4, 65536}, {"LAYR", 20, 4, 1}, {"LAYR", 24, 4, 5},
      {"LAYR", 40, 8, 0}},
     DG_E_SHAPE, "parameter 0 has 0 values"},
    {"mask shorter than the units", LONE, {{"LAYR", MASK_LEN_AT, 4, 1}},
     DG_E_SHAPE, "mask has 1 entries for 2 units"},
    {"mask entry 2", LONE, {{"LAYR", MASK_LEN_AT + 4, 1, 2}},
     DG_E_FORMAT, "mask entry 0"},
    /* Work bounds (doc/limits.md): a 1x1 input padded into millions of
     * max-pool windows of 4001^2 values each ran for minutes. */
    {"max pool padding 4000 on a 1x1 input", POOL,
     {{"LAYR", 20, 4, 4001}, {"LAYR", 28, 4, 4000}},
     DG_E_SHAPE, "layer 0 (maxpool): padding 4000 exceeds the input size 1"},
    {"max pool of 2000^2 windows over 4000x4000", POOL,
     {{"HEAD", 4, 4, 4000}, {"HEAD", 8, 4, 4000}, {"HEAD", 16, 4, 4000},
      {"HEAD", 20, 4, 4000}, {"LAYR", 20, 4, 2000}},
     DG_E_UNSUPPORTED, "layer 0 (maxpool) brings the model to 1.6e+13 FLOPs"},
};

static uint8_t *hostile_base(int base, size_t *size)
{
    dg_model *m;
    const char *spec = base == BASE         ? "c2k3,relu,fc3"
                       : base == LONE       ? "c2k3"
                       : base == LAYERS_1_1 ? "c2k3,relu6,pad1,mp2ceil,fc3"
                                            : "mp1";
    uint32_t side = base == POOL ? 1 : 5;
    ck_assert_int_eq(dg_model_create(spec, 1, side, side, 3, &m), DG_OK);
    if (base == BASE) {
        const char *names[3] = {"a", "b", "c"};
        ck_assert_int_eq(dg_model_set_class_names(m, names, 3), DG_OK);
    } else if (base == LONE) {
        ck_assert_int_eq(dg_alloc_array((void **)&m->layers[0].mask, 2, 1,
                                        "mask"),
                         DG_OK);
        m->layers[0].mask[0] = 1;
    }
    uint8_t *buf = save(m, size);
    dg_model_free(m);
    return buf;
}

START_TEST(hostile_contents_fail_cleanly)
{
    size_t size;
    uint8_t *buf = hostile_base(hostile[_i].base, &size);
    for (int k = 0; k < 6 && hostile[_i].patches[k].width; k++) {
        const patch *p = &hostile[_i].patches[k];
        size_t at = p->section ? section_at(buf, size, p->section) : 0;
        put_le(buf + at + p->offset, p->value, p->width);
    }
    reseal(buf, size);
    cap_address_space();
    dg_model *m = (dg_model *)buf;
    dg_status s = dg_model_load_memory(buf, size, &m);
    ck_assert_msg(s == hostile[_i].want, "%s: status %s (%s)",
                  hostile[_i].name, dg_strerror(s), dg_last_error_detail());
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(dg_last_error_detail(), hostile[_i].detail),
                  "%s: detail \"%s\" lacks \"%s\"", hostile[_i].name,
                  dg_last_error_detail(), hostile[_i].detail);
    free(buf);
}
END_TEST

/* The work limits, by hand for "c2k3,relu,fc3" on 1x5x5: conv 2 x 3x3
 * outputs of 9 multiply-adds (324 FLOPs), relu 18, linear 3 x 18
 * multiply-adds (108): 450 FLOPs; activations 25 + 18 + 18 + 3 floats,
 * 256 bytes.  A limit of exactly that loads, one less is refused at the
 * linear layer. */
START_TEST(work_limits_are_exact_and_settable)
{
    size_t size;
    uint8_t *buf = hostile_base(BASE, &size);
    ck_assert_uint_eq(dg_limit(DG_LIMIT_FLOPS_PER_INPUT), 64000000000u);
    ck_assert_uint_eq(dg_limit(DG_LIMIT_ACTIVATION_BYTES_PER_INPUT), 1u << 30);
    ck_assert_uint_eq(dg_limit(0), 0);
    ck_assert_uint_eq(dg_limit(99), 0);
    ck_assert_int_eq(dg_set_limit(99, 5), DG_E_INVALID_ARG);
    ck_assert_int_eq(dg_set_limit(0, 5), DG_E_INVALID_ARG);
    static const struct {
        int32_t which;
        uint64_t exact;
        const char *detail;
    } cases[] = {
        {DG_LIMIT_FLOPS_PER_INPUT, 450, "layer 2 (linear) brings the model "
                                        "to 450 FLOPs per input, over the "
                                        "limit of 449"},
        {DG_LIMIT_ACTIVATION_BYTES_PER_INPUT, 256,
         "layer 2 (linear) brings the model to 256 bytes"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        dg_model *m;
        ck_assert_int_eq(dg_set_limit(cases[k].which, cases[k].exact), DG_OK);
        ck_assert_uint_eq(dg_limit(cases[k].which), cases[k].exact);
        ck_assert_int_eq(dg_model_load_memory(buf, size, &m), DG_OK);
        dg_model_free(m);
        ck_assert_int_eq(dg_set_limit(cases[k].which, cases[k].exact - 1),
                         DG_OK);
        m = (dg_model *)buf;
        ck_assert_int_eq(dg_model_load_memory(buf, size, &m), DG_E_UNSUPPORTED);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(dg_last_error_detail(), cases[k].detail),
                      "detail \"%s\"", dg_last_error_detail());
        /* dg_model_create is held to the same limit. */
        ck_assert_int_eq(dg_model_create("c2k3,relu,fc3", 1, 5, 5, 3, &m),
                         DG_E_UNSUPPORTED);
        ck_assert_int_eq(dg_set_limit(cases[k].which, 0), DG_OK);
    }
    ck_assert_uint_eq(dg_limit(DG_LIMIT_FLOPS_PER_INPUT), 64000000000u);
    free(buf);
}
END_TEST

/* A pruning mask on a layer that cannot honour it (ReLU) is refused at
 * load, naming the layer, instead of failing in every session. */
START_TEST(masks_only_where_supported)
{
    dg_model *m;
    ck_assert_int_eq(dg_model_create("c2k3,relu,fc3", 1, 5, 5, 3, &m), DG_OK);
    m->layers[1].mask = calloc(2, 1);
    size_t size;
    uint8_t *buf = save(m, &size);
    dg_model_free(m);
    m = (dg_model *)buf;
    ck_assert_int_eq(dg_model_load_memory(buf, size, &m), DG_E_UNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(dg_last_error_detail(),
                         "layer 1 (relu) has a pruning mask"),
                  "detail \"%s\"", dg_last_error_detail());
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_file");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, round_trip_is_exact, 0,
                        sizeof round_trip_models / sizeof *round_trip_models);
    tcase_add_test(tc, save_memory_follows_the_size_query_contract);
    tcase_add_test(tc, arguments_are_checked);
    tcase_add_test(tc, save_file_is_atomic_and_loads_back);
    tcase_add_test(tc, a_failing_folder_sync_is_reported);
    tcase_add_test(tc, saves_remove_stale_temporaries_of_their_own_only);
    tcase_add_test(tc, load_file_refuses_oversized_and_non_model_files);
    tcase_add_test(tc, versions_and_feature_flags);
    tcase_add_test(tc, older_readers_skip_what_they_do_not_know);
    tcase_add_test(tc, every_truncation_fails);
    tcase_add_test(tc, every_resealed_truncation_fails_in_the_parser);
    tcase_add_test(tc, bit_flips_fail);
    tcase_add_test(tc, address_space_cap_is_effective);
    tcase_add_test(tc, work_limits_are_exact_and_settable);
    tcase_add_test(tc, masks_only_where_supported);
    tcase_add_loop_test(tc, hostile_contents_fail_cleanly, 0,
                        sizeof hostile / sizeof *hostile);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_FORK);
}
