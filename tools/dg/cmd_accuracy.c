/* cmd_accuracy.c - `dg accuracy MODEL --data SPEC`: accuracy overall and
 * per class, and the confusion matrix (dg_model_format_accuracy).  `dg
 * evaluate` is its former name. */
#include "cli.h"
#include "commands.h"
#include "train_common.h"

static int run_accuracy(const cli_args *args)
{
    const char *model_path = args->positional[0], *data_spec;
    dg_model *model = NULL;
    class_data data = {0};
    evaluation result = {0};
    uint32_t shape[3];
    long per_class;
    int rc = required_value(args, "data", &data_spec);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "per-class", 0, 0, INT32_MAX, &per_class);
    if (rc == CLI_EXIT_OK) {
        dg_status st = dg_model_load_file(model_path, &model);
        if (st == DG_OK)
            st = dg_model_input_shape(model, &shape[0], &shape[1], &shape[2]);
        if (st != DG_OK) rc = cli_fail(st, "loading %s", model_path);
    }
    if (rc == CLI_EXIT_OK)
        rc = data_open(data_spec, shape, cli_value(args, "classes"), 0,
                       (uint32_t)per_class, &data);
    if (rc == CLI_EXIT_OK)
        rc = evaluate_model(model, data.samples, data_spec, &result);
    if (rc == CLI_EXIT_OK) {
        const cli_report report = {
            .model = model, .name = model_path, .data_name = data_spec,
            .confusion = result.confusion,
            .confusion_len = (size_t)result.n_classes * result.n_classes};
        rc = cli_print_report(&report, cli_flag(args, "json")
                                           ? DG_FORMAT_JSON
                                           : DG_FORMAT_TEXT);
    }
    evaluation_free(&result);
    data_free(&data);
    dg_model_free(model);
    return rc;
}

static const cli_option accuracy_options[] = {
    {"data", 'd', "SPEC", "test data: " DATA_SPEC_FORMS},
    CLASSES_OPTION,
    {"per-class", 0, "N", "at most N samples per class (default all)"},
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_accuracy = {
    .name = "accuracy",
    .summary = "Measure a model's accuracy on a labelled data set",
    .synopsis = "MODEL",
    .description =
        "Prints the accuracy overall and per class, and the confusion "
        "matrix.  Labels must\nbe the model's class numbers: select and "
        "relabel with --classes (a model\ntrained with --classes 5-9 is "
        "measured with --classes 5-9).  Data specs as for\n'dg train'.",
    .options = accuracy_options,
    .min_args = 1,
    .max_args = 1,
    .run = run_accuracy,
};
