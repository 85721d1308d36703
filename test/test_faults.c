/* test_faults.c - every allocation of a load/validate/import/export/save
 * cycle failed in turn, and write, fsync and rename errors on every save
 * path: each failure must come back as a status with a detail, leak
 * nothing, and leave no temporary file and no damaged destination behind.
 * The faults are injected by fault_wrap.h through the linker's --wrap; the
 * inputs are the fuzz seeds of fuzz/corpus (DG_FUZZ_DIR). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"
#include "diffguard.h"
#include "fault_wrap.h"
#include "suite.h"
#include "tmpdir.h"

typedef struct seed {
    uint8_t *data;
    size_t len;
} seed;

static seed student_file, onnx_file, guard_file, png_file, jpeg_file,
    advset_file, idx_file;
static char advset_path[256], images_path[256], labels_path[256];

static seed read_seed(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", getenv("DG_FUZZ_DIR"), name);
    seed s;
    dg_status st = dg_file_read_all(path, (size_t)1 << 24, &s.data, &s.len);
    ck_assert_msg(st == DG_OK, "%s: %s", path, dg_last_error_detail());
    return s;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The inputs in memory, and the file-only ones (adversarial set, IDX)
 * copied into the scratch folder. */
static void setup(void)
{
    make_tmp_dir("faults");
    student_file = read_seed("guard_student.dgm");
    onnx_file = read_seed("corpus/onnx/residual.onnx");
    guard_file = read_seed("corpus/guard/pruned.dg");
    png_file = read_seed("corpus/image/rgb.png");
    jpeg_file = read_seed("corpus/image/gray.jpg");
    advset_file = read_seed("corpus/advset/gray.dga");
    snprintf(advset_path, sizeof advset_path, "%s/in.dga", tmp_dir);
    write_file(advset_path, advset_file.data, advset_file.len);
    /* The IDX seed: the images file's length (4 bytes, little-endian),
     * the images file, the labels file (fuzz/fuzz_idx.c). */
    idx_file = read_seed("corpus/idx/plain.idx");
    size_t images_len = (size_t)idx_file.data[0] | (size_t)idx_file.data[1] << 8;
    snprintf(images_path, sizeof images_path, "%s/in-images.idx", tmp_dir);
    snprintf(labels_path, sizeof labels_path, "%s/in-labels.idx", tmp_dir);
    write_file(images_path, idx_file.data + 4, images_len);
    write_file(labels_path, idx_file.data + 4 + images_len,
               idx_file.len - 4 - images_len);
}

static void teardown(void)
{
    seed *all[] = {&student_file, &onnx_file,   &guard_file, &png_file,
                   &jpeg_file,    &advset_file, &idx_file};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
    remove_tmp_dir();
}

/* Names in the scratch folder that a save may have left: its temporary
 * files end in ".tmp" and six random characters. */
static int temporary_files_left(void)
{
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        found += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return found;
}

#define STEP(call)                                                            \
    do {                                                                      \
        if ((st = (call)) != DG_OK) goto done;                                \
    } while (0)

/* Everything a host does with the library's files, once: the buffers are
 * static because the test's own malloc is wrapped too. */
static dg_status cycle(void)
{
    static uint8_t buf[1 << 16];
    static float input[2 * 64], pixels[64];
    dg_verdict verdicts[2] = {{.struct_size = sizeof verdicts[0]},
                              {.struct_size = sizeof verdicts[1]}};
    dg_model *m = NULL, *imported = NULL;
    dg_session *s = NULL;
    dg_guard *g = NULL;
    dg_validator *v = NULL;
    dg_advset *set = NULL;
    dg_dataset *ds = NULL;
    size_t len;
    dg_status st;
    STEP(dg_model_load_memory(student_file.data, student_file.len, &m));
    STEP(dg_session_create(m, 2, &s));
    STEP(dg_session_run(s, input, 2 * 64, 2));
    STEP(dg_model_save_memory(m, buf, sizeof buf, &len));
    STEP(dg_model_export_onnx_memory(m, buf, sizeof buf, &len));
    STEP(dg_model_import_onnx_memory(onnx_file.data, onnx_file.len,
                                     &imported));
    STEP(dg_image_decode(m, png_file.data, png_file.len, pixels, 64));
    STEP(dg_image_decode(m, jpeg_file.data, jpeg_file.len, pixels, 64));
    STEP(dg_guard_load_memory(guard_file.data, guard_file.len, m, &g));
    STEP(dg_validator_create(g, NULL, &v));
    STEP(dg_validate(v, input, 2 * 64, 2, verdicts));
    STEP(dg_advset_load_file(advset_path, &set));
    STEP(dg_dataset_load_idx(images_path, labels_path, &ds));
    STEP(dg_model_save_file(m, tmp_path(0, "model.dgm")));
    STEP(dg_guard_save_file(g, tmp_path(0, "guard.dg")));
    STEP(dg_advset_save_file(set, tmp_path(0, "set.dga")));
    STEP(dg_model_export_onnx_file(imported, tmp_path(0, "model.onnx")));
done:
    dg_dataset_free(ds);
    dg_advset_free(set);
    dg_validator_free(v);
    dg_guard_free(g);
    dg_session_free(s);
    dg_model_free(imported);
    dg_model_free(m);
    return st;
}

START_TEST(every_failed_allocation_is_reported)
{
    /* Once without faults: the cycle works, and whatever the library
     * keeps for the process's lifetime (none expected) is made. */
    fault_alloc_arm(0);
    ck_assert_msg(cycle() == DG_OK, "%s", dg_last_error_detail());
    fault_alloc_disarm();
    long n, reported = 0;
    for (n = 1;; n++) {
        dg_fail(DG_E_INTERNAL, "stale detail");
        fault_alloc_arm(n);
        dg_status st = cycle();
        int injected = atomic_load(&alloc_failed);
        long leaked = fault_alloc_disarm();
        const char *detail = dg_last_error_detail();
        ck_assert_msg(leaked == 0,
                      "allocation %ld failed: %ld blocks leaked (%s)", n,
                      leaked, detail);
        ck_assert_msg(!temporary_files_left(),
                      "allocation %ld failed: a temporary file is left", n);
        if (!injected) {
            ck_assert_msg(st == DG_OK, "%s", detail);
            break; /* n is past the cycle's last allocation */
        }
        if (st != DG_OK) {
            reported++;
            ck_assert_msg(*detail && strcmp(detail, "stale detail") != 0,
                          "allocation %ld failed: status %d without a "
                          "detail", n, st);
        }
    }
    /* A cycle that allocated nothing would prove nothing. */
    ck_assert_int_gt(n, 100);
    printf("faults: %ld allocations failed in turn, %ld reported as "
           "errors, the rest absorbed\n", n - 1, reported);
}
END_TEST

/* A save path of the library, writing to path. */
typedef dg_status (*save_fn)(const void *obj, const char *path);

static dg_status save_model(const void *m, const char *path)
{
    return dg_model_save_file(m, path);
}
static dg_status save_guard(const void *g, const char *path)
{
    return dg_guard_save_file(g, path);
}
static dg_status save_advset(const void *set, const char *path)
{
    return dg_advset_save_file(set, path);
}
static dg_status save_onnx(const void *m, const char *path)
{
    return dg_model_export_onnx_file(m, path);
}

static int file_equals(const char *path, const void *data, size_t len)
{
    uint8_t *got;
    size_t got_len;
    if (dg_file_read_all(path, (size_t)1 << 24, &got, &got_len) != DG_OK)
        return 0;
    int same = got_len == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

START_TEST(failed_saves_keep_the_old_file)
{
    dg_model *m;
    dg_guard *g;
    dg_advset *set;
    ck_assert_int_eq(dg_model_load_memory(student_file.data, student_file.len,
                                          &m), DG_OK);
    ck_assert_int_eq(dg_guard_load_memory(guard_file.data, guard_file.len, m,
                                          &g), DG_OK);
    ck_assert_int_eq(dg_advset_load_file(advset_path, &set), DG_OK);
    const struct {
        const char *name;
        save_fn save;
        const void *obj;
    } saves[] = {{"model.dgm", save_model, m},
                 {"guard.dg", save_guard, g},
                 {"set.dga", save_advset, set},
                 {"model.onnx", save_onnx, m}};
    const struct {
        enum io_fault fault;
        int err;
    } faults[] = {{IO_WRITE_FAILS, EIO},
                  {IO_WRITE_FAILS, ENOSPC},
                  {IO_FSYNC_FAILS, EIO},
                  {IO_RENAME_FAILS, EIO},
                  {IO_RENAME_FAILS, EXDEV}};
    static const char old[] = "the previous contents";
    for (size_t i = 0; i < sizeof saves / sizeof *saves; i++) {
        const char *path = tmp_path(0, saves[i].name);
        for (size_t f = 0; f < sizeof faults / sizeof *faults; f++) {
            write_file(path, old, sizeof old);
            fault_io_set(faults[f].fault, faults[f].err);
            dg_status st = saves[i].save(saves[i].obj, path);
            fault_io_set(IO_OK, 0);
            const char *detail = dg_last_error_detail();
            ck_assert_msg(st == DG_E_IO, "%s, fault %zu: status %d", path, f,
                          st);
            ck_assert_msg(strstr(detail, strerror(faults[f].err)),
                          "%s, fault %zu: detail \"%s\"", path, f, detail);
            ck_assert_msg(file_equals(path, old, sizeof old),
                          "%s, fault %zu: the old file changed", path, f);
            ck_assert_msg(!temporary_files_left(),
                          "%s, fault %zu: a temporary file is left", path, f);
        }
        /* Writes of at most 7 bytes at a time: the same file as without. */
        ck_assert_int_eq(saves[i].save(saves[i].obj, path), DG_OK);
        uint8_t *whole;
        size_t whole_len;
        ck_assert_int_eq(dg_file_read_all(path, (size_t)1 << 24, &whole,
                                          &whole_len), DG_OK);
        fault_io_set(IO_WRITE_SHORT, 0);
        dg_status st = saves[i].save(saves[i].obj, path);
        fault_io_set(IO_OK, 0);
        ck_assert_msg(st == DG_OK, "%s: %s", path, dg_last_error_detail());
        ck_assert_msg(file_equals(path, whole, whole_len),
                      "%s: short writes changed the file", path);
        free(whole);
        remove(path);
    }
    dg_advset_free(set);
    dg_guard_free(g);
    dg_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_failed_allocation_is_reported);
    tcase_add_test(tc, failed_saves_keep_the_old_file);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_NOFORK);
}
