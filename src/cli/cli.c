/*
 * cli.c - dispatches `kilowatt <command> ...` through one table.
 */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "run the daemon" },
	{ "token", cmd_token, "create, list or revoke API tokens" },
	{ "user", cmd_user, "add, list, disable or enable users; set a password" },
	{ "migrate", cmd_migrate, "apply database schema migrations and exit" },
	{ "config", cmd_config, "check a config file, or dump every setting" },
	{ "simulate", cmd_simulate, "be a smart meter: send readings over HTTP, MQTT or AMQP" },
	{ "version", cmd_version, "print the version" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: kilowatt <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'kilowatt <command> --help' for a command's options; "
		     "'man kilowatt' for everything.\n");
}

/* One job run to completion: the caller's closure and its result. */
struct cli_job {
	int (*fn)(struct store_conn *c, void *ud);
	void *ud;
	int rc;
	bool done;
};

static int job_run(struct store_conn *c, void *ud)
{
	struct cli_job *j = ud;
	return j->fn(c, j->ud);
}

static void job_done(void *ud, int rc)
{
	struct cli_job *j = ud;
	j->rc = rc;
	j->done = true;
}

int cli_store_job(const struct config *cfg, const char *command,
		  int (*prepare)(struct store *s, void *ud),
		  int (*wfn)(struct store_conn *c, void *ud),
		  int (*rfn)(struct store_conn *c, void *ud), void *ud, bool *open_failed)
{
	struct store_options so = {
		cfg->storage_data_dir,	       8, 1000, 1, cfg->devices_default_timezone,
		cfg->storage_open_readings_max
	};
	struct cli_job w = { wfn ? wfn : rfn, ud, 0, false };
	uv_loop_t loop;
	struct store *s;
	char err[512];

	uv_loop_init(&loop);
	if (store_open(&loop, &so, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "kilowatt %s: %s\n", command, err);
		uv_loop_close(&loop);
		if (open_failed)
			*open_failed = true;
		return KW_EDB;
	}
	if (prepare && (w.rc = prepare(s, ud)) != 0)
		w.done = true;
	else
		w.rc = wfn ? store_submit_write(s, job_run, job_done, &w)
			   : store_submit_read(s, job_run, job_done, &w);
	while (w.rc == 0 && !w.done)
		uv_run(&loop, UV_RUN_ONCE);
	store_close(s, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return w.rc;
}

int cmd_version(int argc, char **argv)
{
	printf("kilowatt %s\n", KW_VERSION);
	return 0;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "kilowatt: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}

int cli_load_config(struct config *cfg, const char *config_path)
{
	char err[CONFIG_ERR_MAX];
	enum log_level lvl;

	config_init(cfg);
	if ((config_path && config_load_file(cfg, config_path, err) != 0) ||
	    config_load_env(cfg, err) != 0) {
		fprintf(stderr, "kilowatt: %s\n", err);
		config_release(cfg);
		return 1;
	}
	if (log_level_parse(cfg->log_level, &lvl) == 0)
		log_set_level(lvl);
	return 0;
}
