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
#include "store/store.h"

int cli_main(int argc, char **argv);

int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_version(int argc, char **argv);

/*
 * Fills cfg from the layers below the command line: defaults, then the file
 * (when config_path is not NULL), then KILOWATT_* variables.  Prints the
 * error and returns non-zero on failure, with cfg released.
 */
int cli_load_config(struct config *cfg, const char *config_path);

/*
 * Opens the store of cfg, calls prepare(s, ud) when not NULL (a non-zero
 * result is returned and no job runs), runs one job -- a write when wfn is
 * not NULL, else the read rfn -- to completion, and closes the store.
 * Returns the job's result.  When the store cannot be opened it prints why
 * (prefixed "kilowatt <command>: "), sets *open_failed when not NULL and
 * returns KW_EDB.  Works beside a running daemon (SQLite WAL).
 */
struct store;
int cli_store_job(const struct config *cfg, const char *command,
		  int (*prepare)(struct store *s, void *ud),
		  int (*wfn)(struct store_conn *c, void *ud),
		  int (*rfn)(struct store_conn *c, void *ud), void *ud, bool *open_failed);

#endif
