/*
 * cli.h - the command table (git's builtin.h pattern).
 *
 * To add a command: write src/cli/cmd_<name>.c with `int cmd_<name>(int
 * argc, char **argv)`, declare it here, and add one row to commands[] in
 * cli.c.  argv[0] is the command's name.  Return the process exit code.
 */
#ifndef KW_CLI_CLI_H
#define KW_CLI_CLI_H

#include "core/config.h"

int cli_main(int argc, char **argv);

int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_version(int argc, char **argv);

/*
 * Fills cfg from the layers below the command line: defaults, then the file
 * (when config_path is not NULL), then KILOWATT_* variables.  Prints the
 * error and returns non-zero on failure, with cfg released.
 */
int cli_load_config(struct config *cfg, const char *config_path);

#endif
