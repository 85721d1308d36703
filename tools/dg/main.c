/* main.c - the dg command line: finds the command named by the first
 * argument and hands it the rest. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* Every command, in the order `dg help` lists them. */
static const cli_command *const commands[] = {
    &cmd_version,
    &cmd_info,
    &cmd_predict,
    &cmd_train,
    &cmd_transfer,
    &cmd_patch,
    &cmd_accuracy,
    &cmd_demo,
    &cmd_guard,
    &cmd_validate,
    &cmd_attack,
    &cmd_advset,
    &cmd_eval,
    &cmd_import,
    &cmd_export,
};

enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

/* Former command names, still accepted so that scripts keep working. */
static const struct {
    const char *old_name, *name;
} renamed[] = {
    {"evaluate", "accuracy"}, /* beside `dg eval` it read as the same */
};

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        if (strcmp(renamed[i].old_name, name) == 0) name = renamed[i].name;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    int width = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        int len = (int)strlen(commands[i]->name);
        if (len > width) width = len;
    }
    fputs("usage: dg COMMAND [OPTIONS] [ARGUMENTS]\n\n"
          "Defends transfer-learned image classifiers against "
          "feature-mimicry attacks.\n\nCommands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-*s  %s\n", width, commands[i]->name,
                commands[i]->summary);
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        fprintf(out, "  (%s is the former name of %s)\n", renamed[i].old_name,
                renamed[i].name);
    fputs("\nRun 'dg help COMMAND' or 'dg COMMAND --help' for a command's "
          "options.\n",
          out);
    /* Help texts name doc/NAME.md, as in the source tree. */
    fputs("The doc/*.md files that help texts name are in the source tree "
          "and, once\ninstalled, under " DG_DOC_DIR "/.\n",
          out);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "help") == 0 || strcmp(arg, "--help") == 0 ||
           strcmp(arg, "-h") == 0;
}

static int unknown_command(const char *name)
{
    return cli_usage_error("unknown command '%s'", name);
}

/* `dg help` and `dg help COMMAND`. */
static int help(int argc, char **argv)
{
    if (argc == 0) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 1) return cli_usage_error("help takes at most one command");
    const cli_command *cmd = find_command(argv[0]);
    if (!cmd) return unknown_command(argv[0]);
    cli_print_usage(cmd, stdout);
    return CLI_EXIT_OK;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return CLI_EXIT_USAGE;
    }
    if (is_help(argv[1])) return help(argc - 2, argv + 2);
    /* `dg --version`, as most tools spell it. */
    if (strcmp(argv[1], "--version") == 0) argv[1] = "version";
    const cli_command *cmd = find_command(argv[1]);
    if (!cmd) return unknown_command(argv[1]);
    return cli_run(cmd, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    return cli_check_output(dispatch(argc, argv));
}
