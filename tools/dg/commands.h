/* commands.h - one cli_command per command file, listed by main.c. */
#ifndef DG_COMMANDS_H
#define DG_COMMANDS_H

#include "cli.h"

extern const cli_command cmd_version;
extern const cli_command cmd_info;
extern const cli_command cmd_predict;

#endif
