/* cmd_info.c - `dg info MODEL`: what a model file holds
 * (dg_model_format_report). */
#include "cli.h"
#include "commands.h"

static int run_info(const cli_args *args)
{
    const char *path = args->positional[0];
    dg_model *model = NULL;
    int rc = cli_load_model(path, &model);
    if (rc == CLI_EXIT_OK)
        rc = cli_print_report(&(cli_report){.model = model, .name = path},
                              cli_flag(args, "json") ? DG_FORMAT_JSON
                                                     : DG_FORMAT_TEXT);
    dg_model_free(model);
    return rc;
}

static const cli_option info_options[] = {
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_info = {
    .name = "info",
    .summary = "Describe a model file: input, preprocessing, layers, classes",
    .synopsis = "MODEL",
    .description = "Layer inputs name the producing layer; \"input\" is the "
                   "model input.\nParameters count trainable values and "
                   "statistics; pruned counts masked units.",
    .options = info_options,
    .min_args = 1,
    .max_args = 1,
    .run = run_info,
};
