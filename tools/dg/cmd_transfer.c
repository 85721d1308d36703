/* cmd_transfer.c - `dg transfer`: a Student made from a Teacher's frozen
 * layers and a new head, trained on another data set. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

static const train_defaults defaults = {
    DG_TRAIN_HEAD_EPOCHS, DG_TRAIN_HEAD_LR, DG_TRAIN_HEAD_SCHEDULE};

static int make_student(const cli_args *args, const dg_model *teacher,
                        const class_data *data, uint64_t seed,
                        dg_model **out)
{
    long cut;
    int rc = cli_long(args, "cut", -1, -1, INT32_MAX, &cut);
    if (rc != CLI_EXIT_OK) return rc;
    char default_head[32];
    snprintf(default_head, sizeof default_head, "fc%u", data->n_classes);
    const char *head = cli_value(args, "head");
    if (!head) head = default_head;
    dg_status st = dg_model_transfer(teacher, (int32_t)cut, head, seed, out);
    if (st != DG_OK)
        return cli_fail(st, "transferring through layer %ld with head \"%s\"",
                        cut, head);
    return CLI_EXIT_OK;
}

static int run_transfer(const cli_args *args)
{
    train_command settings;
    dg_model *teacher = NULL, *student = NULL;
    class_data data = {0};
    uint32_t shape[3];
    int rc = train_command_read(args, &defaults, &settings);
    if (rc == CLI_EXIT_OK)
        rc = cli_load_model_option(args, "teacher", &teacher);
    if (rc == CLI_EXIT_OK) {
        dg_status st = dg_model_input_shape(teacher, &shape[0], &shape[1],
                                            &shape[2]);
        if (st != DG_OK) rc = cli_fail(st, "reading the teacher");
    }
    if (rc == CLI_EXIT_OK) rc = train_command_data(args, shape, &data);
    if (rc == CLI_EXIT_OK)
        rc = make_student(args, teacher, &data, settings.opts.seed, &student);
    if (rc == CLI_EXIT_OK)
        rc = train_command_finish(args, &settings, student, &data);
    dg_model_free(student);
    dg_model_free(teacher);
    data_free(&data);
    return rc;
}

static const cli_option transfer_options[] = {
    {"teacher", 't', "MODEL", "the model whose layers are copied"},
    TRAIN_COMMAND_OPTIONS,
    {"cut", 0, "K", "copy the teacher's layers 0 to K (default -1: through "
                    "the last hidden layer)"},
    {"head", 0, "SPEC", "architecture of the new layers (default fcN for N "
                        "classes)"},
    TRAIN_OPTIONS(DG_TRAIN_HEAD_EPOCHS, DG_TRAIN_HEAD_LR, "cosine"),
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_transfer = {
    .name = "transfer",
    .summary = "Make a Student from a Teacher's frozen layers and train its "
               "new head",
    .synopsis = "",
    .description =
        "The copied layers stay frozen: training changes only the head.  "
        "The defaults\nsuit a linear head on a few thousand images; with "
        "more trainable layers (--head\nor --cut) use a smaller --lr such "
        "as 0.001.  The Student keeps the Teacher's\npreprocessing; image "
        "folders are converted to the Teacher's input.  Data specs,\n"
        "checkpoints and resuming work as for 'dg train'.",
    .options = transfer_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_transfer,
};
