/*
 * progress.h - the simulator's progress line on a terminal:
 *
 *   [##########..........]  1234/3998  31%  812/s  ETA 0:03:12
 *   1234 sent  0.1/min                            (no end: no bar, no ETA)
 *
 * redrawn in place ("\r", erase to the end of the line) on standard error
 * at most 10 times a second.  The rate is measured over the last 5 seconds.
 * Off a terminal the simulator never creates one (it stays quiet).
 *
 * Not thread-safe.
 */
#ifndef KW_SIM_PROGRESS_H
#define KW_SIM_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_PROGRESS_SAMPLES 64

struct sim_progress {
	bool on;	   /* drawing at all */
	bool shown;	   /* a line is on the screen now */
	uint64_t total;	   /* readings in the run, 0 = no end */
	int64_t last_draw; /* monotonic ms of the last draw */
	struct {
		int64_t at_ms;
		uint64_t sent;
	} samples[SIM_PROGRESS_SAMPLES]; /* one per draw, oldest overwritten */
	size_t nsamples;
};

void sim_progress_init(struct sim_progress *p, bool on, uint64_t total);

/*
 * Redraws if on and at least 100 ms passed since the last draw (or force).
 * pace_s: seconds until the last reading is even due (live pacing), or < 0
 * when unknown; the ETA is the later of that and what the rate predicts.
 * status: a word to append ("reconnecting"), or NULL.
 */
void sim_progress_tick(struct sim_progress *p, int64_t now_ms, uint64_t sent, double pace_s,
		       const char *status, bool force);

/* Erases the line (before another message is printed, and at the end). */
void sim_progress_clear(struct sim_progress *p);

/* Readings per second over the samples, or 0 with fewer than two. */
double sim_progress_rate(const struct sim_progress *p);

/*
 * Formats one line of at most width columns (width >= 20) into buf.
 * rate in readings/s; eta_s < 0: unknown.  Returns the length.  Pure.
 */
int sim_progress_format(char *buf, size_t len, int width, uint64_t sent, uint64_t total,
			double rate, double eta_s, const char *status);

#endif
