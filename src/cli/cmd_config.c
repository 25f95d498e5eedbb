/*
 * cmd_config.c - `kilowatt config check FILE` validates a file (exit 1 with
 * the file, line and key at fault); `kilowatt config dump [--config FILE]`
 * prints every setting with its value, default and help, as a valid INI file.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/banned.h"

int cmd_config(int argc, char **argv)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: kilowatt config check FILE\n       kilowatt config dump [--config "
		       "FILE]\n");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "check") == 0) {
		config_init(&cfg);
		if (config_load_file(&cfg, argv[2], err) != 0) {
			fprintf(stderr, "kilowatt: %s\n", err);
			config_release(&cfg);
			return 1;
		}
		printf("%s: ok\n", argv[2]);
		config_release(&cfg);
		return 0;
	}
	if ((argc == 2 || argc == 4) && strcmp(argv[1], "dump") == 0) {
		const char *path = argc == 4 && strcmp(argv[2], "--config") == 0 ? argv[3] : NULL;
		if (argc == 4 && !path)
			goto usage;
		if (cli_load_config(&cfg, path) != 0)
			return 1;
		config_dump(&cfg, stdout);
		config_release(&cfg);
		return 0;
	}
usage:
	fprintf(stderr,
		"usage: kilowatt config check FILE\n       kilowatt config dump [--config FILE]\n");
	return 2;
}
