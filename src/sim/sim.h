/*
 * sim.h - the run loop of `kilowatt simulate`: takes readings from a source
 * when they are due, sends them through a publisher inside a bounded window,
 * counts the confirmed ones, reconnects when the target goes away, and
 * stops cleanly on SIGINT/SIGTERM.
 *
 * Pacing.  The run begins at wall time L (after the first connection).  A
 * reading stamped t is due at once when t <= L (backfill: as fast as the
 * target confirms), else (t - L) / speed after the run began.  At speed 1
 * a live reading therefore leaves when the local clock shows its
 * timestamp; at speed N time is compressed N-fold and the timestamps run
 * ahead of the clock (kilowatt refuses readings more than
 * ingest.max_future ahead, 1 day by default).
 *
 * Exit status (returned by sim_run; the command returns it):
 */
#ifndef KW_SIM_SIM_H
#define KW_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/pub.h"
#include "sim/source.h"
#include "sim/url.h"

enum sim_exit {
	SIM_EXIT_OK = 0,      /* every reading was sent and confirmed */
	SIM_EXIT_REFUSED = 1, /* the target refused a reading (or it was unroutable) */
	SIM_EXIT_USAGE = 2,   /* bad option or URL (cmd_simulate.c) */
	SIM_EXIT_INPUT = 3,   /* the CSV cannot be read or has a bad line */
	SIM_EXIT_CONNECT = 4, /* cannot connect at start-up, or no target at that address */
	SIM_EXIT_AUTH = 5,    /* credentials or token refused */
			      /* 128 + N: stopped by signal N (SIGINT 130, SIGTERM 143) after the
	 * readings in flight were confirmed (or the drain time ran out) */
};

struct sim_opts {
	const struct sim_url *url;
	const struct sim_pub_ops *ops;
	struct sim_pub_opts pub; /* device, token, window, connect_timeout_ms;
				    confirm and ud are set by sim_run */
	struct sim_source *src;
	double speed;	     /* > 0 */
	int connect_wait_ms; /* keep trying the first connection this long */
	int drain_ms;	     /* after a signal, wait this long for confirmations */
	bool progress;	     /* draw the progress line (stderr is a terminal) */
};

/*
 * Runs to the end of the source, a fatal error or a signal.  Prints errors
 * and, when progress is on or the run did not complete, a summary on
 * standard error.  Installs SIGINT/SIGTERM handlers for its duration.
 * Returns the exit status above.
 */
int sim_run(const struct sim_opts *o);

#endif
