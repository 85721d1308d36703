/* test_scenario.c - the demonstration scenario through the public API
 * (dg_scenario_*): its options and errors, its folder's settings.json
 * (written once, the same settings accepted, others refused), what it
 * says before any stage runs, and a model stage that reuses the file an
 * earlier run left (with Fashion-MNIST installed).  The whole pipeline
 * runs in the slow test cli_demo. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "diffguard.h"
#include "suite.h"
#include "tmpdir.h"

static dg_scenario_opts quick_opts(uint64_t seed)
{
    dg_scenario_opts o;
    ck_assert_int_eq(dg_scenario_opts_init(&o, sizeof o), DG_OK);
    o.mode = DG_SCENARIO_QUICK;
    o.seed = seed;
    o.dir = tmp_dir;
    return o;
}

START_TEST(options_and_errors)
{
    dg_scenario_opts o;
    ck_assert_int_eq(dg_scenario_opts_init(&o, sizeof o), DG_OK);
    ck_assert_str_eq(o.name, "fmnist-split");
    ck_assert_int_eq(o.mode, DG_SCENARIO_FULL);
    ck_assert_int_eq(o.seed, 1);
    ck_assert_str_eq(o.dir, "dg-demo");

    make_tmp_dir("scenario");
    dg_scenario *s = (dg_scenario *)&o;
    o = quick_opts(1);
    o.name = "mnist";
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_E_INVALID_ARG);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "mnist"));
    o = quick_opts(1);
    o.mode = 7;
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_E_INVALID_ARG);
    o.struct_size = 4;
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_E_ABI);
    ck_assert_int_eq(dg_scenario_create(NULL, &s), DG_E_INVALID_ARG);
    ck_assert_int_eq(access(tmp_path(0, "settings.json"), F_OK), -1);
    ck_assert_int_eq(dg_scenario_run(NULL), DG_E_INVALID_ARG);
    dg_scenario_free(NULL);
    remove_tmp_dir();
}
END_TEST

START_TEST(settings_keep_a_folder_to_one_experiment)
{
    make_tmp_dir("scenario");
    dg_scenario_opts o = quick_opts(1);
    dg_scenario *s = NULL;
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_OK);
    ck_assert_int_eq(access(tmp_path(0, "settings.json"), R_OK), 0);
    dg_scenario_free(s);

    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_OK); /* the same */
    dg_scenario_free(s);
    o = quick_opts(2);
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_E_MISMATCH);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(dg_last_error_detail(), "other settings"));
    o = quick_opts(1);
    o.name = "fmnist-swap";
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_E_MISMATCH);
    remove_tmp_dir();
}
END_TEST

START_TEST(before_any_stage)
{
    make_tmp_dir("scenario");
    dg_scenario_opts o = quick_opts(3);
    dg_scenario *s;
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_OK);

    dg_scenario_info info = {.struct_size = sizeof info};
    ck_assert_int_eq(dg_scenario_get_info(s, &info), DG_OK);
    ck_assert_str_eq(info.name, "fmnist-split");
    ck_assert_str_eq(info.mode_name, "quick");
    ck_assert_int_eq(info.seed, 3);
    ck_assert_str_eq(info.teacher_classes, "0-4");
    ck_assert_str_eq(info.student_classes, "5-9");
    ck_assert_uint_eq(info.models, 4);
    ck_assert_uint_eq(info.guards, 2);
    ck_assert_uint_eq(info.sets, 2);
    ck_assert_uint_eq(info.level_sets, 0);
    ck_assert_int_eq(info.cut, -1);
    ck_assert_ptr_null(info.test_data);
    ck_assert_uint_eq(info.level_count, 20);
    ck_assert_uint_eq(info.sweep_count, 20);

    /* A caller built before sweep_count is served up to its size, and
     * the memory after its struct is left alone. */
    struct {
        dg_scenario_info info;
        unsigned char after[16];
    } old;
    memset(&old, 0xa5, sizeof old);
    old.info.struct_size = (uint32_t)offsetof(dg_scenario_info, sweep_count);
    ck_assert_int_eq(dg_scenario_get_info(s, &old.info), DG_OK);
    ck_assert_int_eq(old.info.cut, -1);
    const unsigned char *tail = (const unsigned char *)&old.info.sweep_count;
    for (size_t k = 0; k < sizeof old - offsetof(dg_scenario_info, sweep_count); k++)
        ck_assert_uint_eq(tail[k], 0xa5);
    old.info.struct_size = (uint32_t)offsetof(dg_scenario_info, cut);
    ck_assert_int_eq(dg_scenario_get_info(s, &old.info), DG_E_ABI);

    dg_scenario_model m = {.struct_size = sizeof m};
    ck_assert_int_eq(dg_scenario_get_model(s, 1, &m), DG_OK);
    ck_assert_str_eq(m.name, "student");
    ck_assert_str_eq(m.classes, "5-9");
    ck_assert_str_eq(m.path, tmp_path(0, "student.dgm"));
    ck_assert_str_eq(m.schedule, "cosine");
    ck_assert_ptr_null(m.model);
    ck_assert_int_eq(dg_scenario_get_model(s, 4, &m), DG_E_INVALID_ARG);
    dg_scenario_guard g = {.struct_size = sizeof g};
    ck_assert_int_eq(dg_scenario_get_guard(s, 1, &g), DG_OK);
    ck_assert_str_eq(g.work_dir, tmp_path(0, "surrogate-guard.work"));
    dg_scenario_set set = {.struct_size = sizeof set};
    ck_assert_int_eq(dg_scenario_get_set(s, 1, &set), DG_OK);
    ck_assert_str_eq(set.name, "untargeted");
    ck_assert_int_eq(set.targeted, 0);
    ck_assert_ptr_null(set.set);
    ck_assert_int_eq(dg_scenario_get_set(s, 2, &set), DG_E_INVALID_ARG);

    dg_scenario_stage stage = {.struct_size = sizeof stage};
    ck_assert_int_eq(dg_scenario_next_stage(s, &stage), DG_OK);
    ck_assert_str_eq(stage.name, "teacher");
    ck_assert_int_eq(stage.kind, DG_STAGE_MODEL);
    const dg_eval *e = (const dg_eval *)s;
    ck_assert_int_eq(dg_scenario_get_eval(s, 0, &e), DG_E_STATE);
    ck_assert_ptr_null(e);
    dg_scenario_free(s);
    remove_tmp_dir();
}
END_TEST

static void count_note(void *user, const char *text)
{
    if (strstr(text, "teacher: reusing")) ++*(int *)user;
}

START_TEST(a_model_stage_reuses_an_earlier_file)
{
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
               R_OK) != 0)
        return; /* the test split is not installed */
    make_tmp_dir("scenario");
    dg_model *teacher;
    ck_assert_int_eq(dg_model_create(DG_ARCH_FMNIST_TEACHER, 1, 28, 28, 1,
                                     &teacher),
                     DG_OK);
    ck_assert_int_eq(dg_model_save_file(teacher, tmp_path(0, "teacher.dgm")),
                     DG_OK);
    dg_model_free(teacher);
    int reused = 0;
    dg_scenario_opts o = quick_opts(1);
    o.note = count_note;
    o.note_user = &reused;
    dg_scenario *s;
    ck_assert_int_eq(dg_scenario_create(&o, &s), DG_OK);
    ck_assert_int_eq(dg_scenario_run_stage(s), DG_OK);
    ck_assert_int_eq(reused, 1);
    dg_scenario_model m = {.struct_size = sizeof m};
    ck_assert_int_eq(dg_scenario_get_model(s, 0, &m), DG_OK);
    ck_assert_int_eq(m.reused, 1);
    ck_assert_ptr_nonnull(m.model);
    ck_assert_uint_eq(m.test_total, 5000); /* classes 0-4 of t10k */
    ck_assert_uint_le(m.test_correct, m.test_total);
    dg_scenario_stage stage = {.struct_size = sizeof stage};
    ck_assert_int_eq(dg_scenario_next_stage(s, &stage), DG_OK);
    ck_assert_str_eq(stage.name, "student");
    dg_scenario_free(s);
    remove_tmp_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scenario");
    TCase *tc = tcase_create("scenario");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, options_and_errors);
    tcase_add_test(tc, settings_keep_a_folder_to_one_experiment);
    tcase_add_test(tc, before_any_stage);
    tcase_add_test(tc, a_model_stage_reuses_an_earlier_file);
    suite_add_tcase(s, tc);
    return run_suite(s, CK_NOFORK);
}
