/* cmd_patch.c - `dg patch`: Wang et al.'s patch of a Student (USENIX
 * Security 2018), every layer fine-tuned so that its layer-K features move
 * away from the public Teacher's; the baseline defence of doc/EVALUATION.md. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

static const train_defaults defaults = {
    DG_TRAIN_PATCH_EPOCHS, DG_TRAIN_PATCH_LR, DG_TRAIN_PATCH_SCHEDULE};

/* --cap, --cap-step, --cap-max and --patch-weight over the library's
 * defaults. */
static const cli_field patch_fields[] = {
    CLI_FIELD(dg_train_opts, patch_cap, "cap", CLI_F32, 0, 1e9),
    CLI_FIELD(dg_train_opts, patch_cap_step, "cap-step", CLI_F32, 0, 1e9),
    CLI_FIELD(dg_train_opts, patch_cap_max, "cap-max", CLI_F32, 0, 1e9),
    CLI_FIELD(dg_train_opts, patch_weight, "patch-weight", CLI_F32, 0, 1e6),
};

/* --layer and patch_fields. */
static int read_patch_options(const cli_args *args, dg_train_opts *o)
{
    long layer;
    int rc = cli_long(args, "layer", -1, -1, INT32_MAX, &layer);
    o->patch_layer = (int32_t)layer;
    if (rc == CLI_EXIT_OK)
        rc = cli_read_fields(args, patch_fields,
                             sizeof patch_fields / sizeof *patch_fields, o);
    return rc;
}

static int run_patch(const cli_args *args)
{
    train_command settings;
    dg_model *teacher = NULL, *student = NULL;
    class_data data = {0};
    uint32_t shape[3];
    int rc = train_command_read(args, &defaults, &settings);
    if (rc == CLI_EXIT_OK) rc = read_patch_options(args, &settings.opts);
    if (rc == CLI_EXIT_OK)
        rc = cli_load_model_option(args, "teacher", &teacher);
    if (rc == CLI_EXIT_OK)
        rc = cli_load_model_option(args, "student", &student);
    if (rc == CLI_EXIT_OK) {
        dg_status st = dg_model_input_shape(student, &shape[0], &shape[1],
                                            &shape[2]);
        if (st != DG_OK) rc = cli_fail(st, "reading the student");
    }
    if (rc == CLI_EXIT_OK) rc = train_command_data(args, shape, &data);
    settings.opts.patch_teacher = teacher;
    if (rc == CLI_EXIT_OK)
        rc = train_command_finish(args, &settings, student, &data);
    dg_model_free(student);
    dg_model_free(teacher);
    data_free(&data);
    return rc;
}

static const cli_option patch_options[] = {
    {"student", 's', "MODEL", "the Student to patch (made by dg transfer)"},
    {"teacher", 't', "MODEL", "the public Teacher it was made from"},
    TRAIN_COMMAND_OPTIONS,
    {"layer", 0, "K", "the layer whose features move (default -1: the "
                      "Student's last frozen layer, its cut)"},
    {"cap", 0, "X", "CAP in the first epoch (default 200)"},
    {"cap-step", 0, "X", "added to CAP every epoch (default 200)"},
    {"cap-max", 0, "X", "CAP stops growing there (default 5000)"},
    {"patch-weight", 0, "X", "weight of the distance term (default 1e-6)"},
    TRAIN_OPTIONS(DG_TRAIN_PATCH_EPOCHS, DG_TRAIN_PATCH_LR, "constant"),
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_patch = {
    .name = "patch",
    .summary = "Patch a Student against Teacher mimicry (Wang et al.'s "
               "defence)",
    .synopsis = "",
    .description =
        "Fine-tunes every layer of the Student with cross-entropy plus\n"
        "W * max(CAP - d, 0)^2, d the L2 distance between the Student's "
        "and the Teacher's\nfeatures at layer K, CAP raised every epoch "
        "(Wang et al., USENIX Security 2018).\nThe patched Student no "
        "longer computes the Teacher's features, so attacks that\nmimic "
        "them transfer less, at some cost in accuracy; 'dg eval --patched' "
        "measures\nboth.  Data specs, checkpoints and resuming work as for "
        "'dg train'.",
    .options = patch_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_patch,
};
