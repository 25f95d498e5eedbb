/*
 * main.c - process set-up, then the command line takes over (cli/cli.c).
 */
#include <signal.h>
#include <stdio.h>

#include "cli/cli.h"
#include "core/tz.h"
#include "core/banned.h"

int main(int argc, char **argv)
{
	int rc;

	/* A peer closing its socket must be an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = cli_main(argc, argv);
	tz_shutdown();
	return rc;
}
