/* cmd_train.c - `dg train`: a new model trained on a data set. */
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

static const train_defaults defaults = {
    DG_TRAIN_SCRATCH_EPOCHS, DG_TRAIN_SCRATCH_LR, DG_TRAIN_SCRATCH_SCHEDULE};

/* "1x28x28" into shape[0..2]. */
static int read_input_shape(const cli_args *args, uint32_t shape[3])
{
    const char *text = cli_value(args, "input");
    if (!text) return CLI_EXIT_OK;
    unsigned c, h, w;
    char extra;
    if (sscanf(text, "%ux%ux%u%c", &c, &h, &w, &extra) != 3 ||
        (c != 1 && c != 3) || h == 0 || w == 0 || h > 4096 || w > 4096)
        return cli_usage_error("--input must be CxHxW with C 1 or 3 and "
                               "sides 1 to 4096, such as 3x32x32, not \"%s\"",
                               text);
    shape[0] = c;
    shape[1] = h;
    shape[2] = w;
    return CLI_EXIT_OK;
}

static int create_model(const cli_args *args, const class_data *data,
                        uint64_t seed, dg_model **out)
{
    uint32_t c, h, w;
    dg_status st = dg_dataset_sample_shape(data->samples, &c, &h, &w);
    if (st != DG_OK) return cli_fail(st, "reading the training data");
    const char *arch = cli_value(args, "arch");
    char *adjusted = arch ? NULL : default_arch(data->n_classes);
    if (!arch && !adjusted) return cli_error("out of memory");
    st = dg_model_create(arch ? arch : adjusted, c, h, w, seed, out);
    int rc = st == DG_OK ? CLI_EXIT_OK
                         : cli_fail(st, "building \"%s\" for %ux%ux%u input",
                                    arch ? arch : adjusted, c, h, w);
    free(adjusted);
    return rc;
}

static int run_train(const cli_args *args)
{
    train_command settings;
    uint32_t shape[3] = {1, 28, 28}; /* the default Teacher's input */
    class_data data = {0};
    dg_model *model = NULL;
    int rc = train_command_read(args, &defaults, &settings);
    if (rc == CLI_EXIT_OK) rc = read_input_shape(args, shape);
    if (rc == CLI_EXIT_OK) rc = train_command_data(args, shape, &data);
    if (rc == CLI_EXIT_OK)
        rc = create_model(args, &data, settings.opts.seed, &model);
    if (rc == CLI_EXIT_OK)
        rc = train_command_finish(args, &settings, model, &data);
    dg_model_free(model);
    data_free(&data);
    return rc;
}

static const cli_option train_options[] = {
    TRAIN_COMMAND_OPTIONS,
    {"arch", 'a', "SPEC", "architecture string (default: the Fashion-MNIST "
                          "Teacher with one output per class)"},
    {"input", 0, "CxHxW", "size image folders are converted to (default "
                          "1x28x28)"},
    TRAIN_OPTIONS(DG_TRAIN_SCRATCH_EPOCHS, DG_TRAIN_SCRATCH_LR, "constant"),
    CLI_OPTION_JSON,
    CLI_OPTION_QUIET,
    CLI_OPTIONS_END,
};

const cli_command cmd_train = {
    .name = "train",
    .summary = "Train a new model on a data set",
    .synopsis = "",
    .description =
        "Data: fmnist:train and fmnist:test are Fashion-MNIST from Debian's\n"
        "dataset-fashion-mnist; idx:IMAGES,LABELS are IDX files (plain or "
        "gzip); a folder\nholds one sub-folder of PNG or JPEG images per "
        "class, named after it.  The model\ntakes the data's sample shape.  "
        "Training writes a checkpoint after every epoch;\nif it is stopped "
        "(Ctrl-C) or killed, running the same command again resumes it.",
    .options = train_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_train,
};
