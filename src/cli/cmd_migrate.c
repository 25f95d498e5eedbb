/*
 * cmd_migrate.c - `kilowatt migrate [--data DIR] [--config FILE]`: applies
 * pending schema migrations and exits (serve also runs them at start-up).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "store/store.h"
#include "core/banned.h"

int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "data", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *config = NULL, *data = NULL;
	struct config cfg;
	char err[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'd')
			data = optarg;
		else if (c == 'h') {
			printf("usage: kilowatt migrate [--data DIR] [--config FILE]\n");
			return 0;
		} else
			return 2;
	}
	if (cli_load_config(&cfg, config) != 0)
		return 1;
	rc = store_migrate(data ? data : cfg.storage_data_dir, err, sizeof(err));
	if (rc)
		fprintf(stderr, "kilowatt migrate: %s\n", err);
	else
		fprintf(stderr, "database schema is up to date\n");
	config_release(&cfg);
	return rc ? 1 : 0;
}
