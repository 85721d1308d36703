/* commands.h - one cli_command per command file, listed by main.c. */
#ifndef DG_COMMANDS_H
#define DG_COMMANDS_H

#include "cli.h"

extern const cli_command cmd_version;
extern const cli_command cmd_info;
extern const cli_command cmd_predict;
extern const cli_command cmd_train;
extern const cli_command cmd_transfer;
extern const cli_command cmd_patch;
extern const cli_command cmd_accuracy;
extern const cli_command cmd_demo;
extern const cli_command cmd_guard;
extern const cli_command cmd_validate;
extern const cli_command cmd_attack;
extern const cli_command cmd_advset;
extern const cli_command cmd_eval;
extern const cli_command cmd_import;
extern const cli_command cmd_export;

#endif
