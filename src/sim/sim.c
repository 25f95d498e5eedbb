/*
 * sim.c - the run loop of `kilowatt simulate` (pacing and exit status in
 * sim.h).
 *
 * Design: one thread, one loop.  Each turn (at most 100 ms apart):
 *
 *   fill   readings that are due move from the source into the window,
 *          until the window is full (the only backpressure: a slow or
 *          absent target stops the source, nothing piles up);
 *   send   queued readings go to the publisher, which takes what its own
 *          limits allow;
 *   poll   the publisher waits for confirmations (at most until the next
 *          reading is due) and reports each through on_confirm();
 *   draw   the progress line, at most 10 times a second.
 *
 * A transient error (refused or lost connection, 5xx) sends every
 * unconfirmed reading back to QUEUED, and the loop reconnects with backoff
 * (100 ms doubling to 2 s) for as long as it takes, then sends them again:
 * at least once, and kilowatt turns a duplicate into a no-op.  At start-up
 * the same error is retried only for --connect-wait, so a wrong address
 * fails fast.  A fatal error (pub.h) ends the run at once.
 *
 * States of the run:
 *
 *   CONNECTING --ok--> RUNNING --source ended, window empty--> done (0)
 *       |                |  ^
 *       |        transient  | reconnected
 *       |                v  |
 *       |              RECONNECTING --signal--> stopped (128+N)
 *       |                |
 *       +-- fatal -------+--> failed (1, 4 or 5)
 *   RUNNING --signal--> DRAINING (no new sends; wait for the confirmations
 *       in flight, at most drain_ms; a second signal cuts it short) --> stopped
 *
 * Invariants:
 *  1. sent counts each reading once, when its first confirmation arrives.
 *  2. Nothing leaves the window unconfirmed except at the end of the run,
 *     where the summary reports it as not confirmed.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "sim/progress.h"
#include "sim/sim.h"
#include "core/banned.h"

#define TICK_MS		100
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define START_DELAY_MS	250
#define START_DELAY_MAX 2000

struct run {
	const struct sim_opts *o;
	const struct sim_pub_ops *ops;
	void *pub;
	struct sim_window w;
	struct sim_msg *batch; /* [window]: what one send() is offered */
	struct sim_progress bar;
	char shown[3 * SIM_URL_FIELD_MAX];
	int64_t launch_ms; /* wall clock when the run began (Unix epoch ms) */
	int64_t m0;	   /* monotonic ms at the same moment */
	uint64_t sent;	   /* confirmed readings (invariant 1) */
	uint64_t reconnects;
	bool have_next; /* next holds a reading not yet due */
	bool src_done;
	bool draining;
	int64_t drain_until; /* monotonic ms */
	struct sim_msg next;
	int fatal; /* the first fatal error's code, 0 while none */
	char fatal_msg[SIM_PUB_ERR_MAX + 64];
};

static volatile sig_atomic_t stop_signal; /* the first SIGINT/SIGTERM */
static volatile sig_atomic_t signals;	  /* how many arrived */

static void on_signal(int sig)
{
	if (!stop_signal)
		stop_signal = sig;
	signals++;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message on stderr, below the progress line (which is redrawn later). */
static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;

	sim_progress_clear(&r->bar);
	fputs("kilowatt simulate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Monotonic ms at which a reading stamped ts is due (sim.h, "Pacing"). */
static int64_t due(const struct run *r, int64_t ts)
{
	double ahead;

	if (ts <= r->launch_ms)
		return r->m0;
	ahead = (double)(ts - r->launch_ms) / r->o->speed;
	return ahead > 1e15 ? INT64_MAX / 2 : r->m0 + (int64_t)ahead;
}

static void on_confirm(void *ud, uint64_t seq, int rc, const char *why)
{
	struct run *r = ud;

	if (rc == 0) {
		r->sent += (uint64_t)sim_window_done(&r->w, seq);
	} else if (!sim_pub_fatal(rc)) {
		sim_window_retry(&r->w, seq);
	} else if (!r->fatal) {
		r->fatal = rc;
		snprintf(r->fatal_msg, sizeof(r->fatal_msg), "%s", why ? why : "refused");
	}
}

static int exit_for(int rc)
{
	return rc == KW_EDENIED	  ? SIM_EXIT_AUTH
	       : rc == KW_ECONFIG ? SIM_EXIT_CONNECT
				  : SIM_EXIT_REFUSED;
}

/* Sleeps ms in ticks, keeping the progress line alive; false on a signal. */
static bool nap(struct run *r, int ms, const char *status)
{
	for (int64_t end = mono_ms() + ms; mono_ms() < end;) {
		if (stop_signal)
			return false;
		sim_pub_sleep(TICK_MS < end - mono_ms() ? TICK_MS : (int)(end - mono_ms()));
		sim_progress_tick(&r->bar, mono_ms(), r->sent, -1, status, false);
	}
	return !stop_signal;
}

/* The first connection: transient errors retried for connect_wait_ms. */
static int connect_first(struct run *r)
{
	int64_t deadline = mono_ms() + r->o->connect_wait_ms;
	int delay = START_DELAY_MS;
	char err[SIM_PUB_ERR_MAX];

	for (;;) {
		int rc = r->ops->connect(r->pub, err, sizeof(err));
		if (rc == 0)
			return 0;
		r->ops->disconnect(r->pub);
		if (sim_pub_fatal(rc)) {
			say(r, "%s", err);
			return exit_for(rc);
		}
		if (mono_ms() + delay > deadline) {
			say(r, "%s (gave up after %.1f s)", err,
			    (double)r->o->connect_wait_ms / 1000.0);
			return SIM_EXIT_CONNECT;
		}
		if (!nap(r, delay, NULL))
			return 128 + stop_signal;
		delay = delay * 2 > START_DELAY_MAX ? START_DELAY_MAX : delay * 2;
	}
}

/*
 * After a transient error: every unconfirmed reading is queued again and the
 * connection remade, with backoff, until it works (0), a fatal error (its
 * code, r->fatal set) or a signal (1).
 */
static int reconnect(struct run *r, const char *why)
{
	size_t again = sim_window_requeue(&r->w);
	int64_t lost_at = mono_ms();
	int delay = BACKOFF_MIN_MS;
	char err[SIM_PUB_ERR_MAX];

	r->ops->disconnect(r->pub);
	if (r->draining)
		return 1; /* nothing in flight can be confirmed any more */
	say(r, "%s; reconnecting (%zu unconfirmed readings will be sent again)", why, again);
	for (;;) {
		int rc;
		if (!nap(r, delay, "reconnecting"))
			return 1;
		if ((rc = r->ops->connect(r->pub, err, sizeof(err))) == 0)
			break;
		r->ops->disconnect(r->pub);
		if (sim_pub_fatal(rc)) {
			r->fatal = rc;
			snprintf(r->fatal_msg, sizeof(r->fatal_msg), "%s", err);
			return rc;
		}
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	r->reconnects++;
	say(r, "reconnected to %s after %.1f s", r->shown, (double)(mono_ms() - lost_at) / 1000.0);
	return 0;
}

/* Moves due readings from the source into the window.  Returns 0, or the
 * source's error (the CSV changed under us). */
static int fill(struct run *r, int64_t now, char *err, size_t errlen)
{
	while (!r->draining && !r->src_done && !sim_window_full(&r->w)) {
		if (!r->have_next) {
			int rc =
			    sim_source_next(r->o->src, &r->next.ts_ms, &r->next.value, err, errlen);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				r->src_done = true;
				break;
			}
			r->have_next = true;
		}
		if (due(r, r->next.ts_ms) > now)
			break;
		sim_window_push(&r->w, r->next.ts_ms, r->next.value);
		r->have_next = false;
	}
	return 0;
}

/* Offers the queued readings to the publisher.  Returns how many it took,
 * or an error. */
static int send_queued(struct run *r, char *err, size_t errlen)
{
	size_t n = sim_window_take(&r->w, r->batch, r->o->pub.window);
	int rc;

	if (n == 0)
		return 0;
	rc = r->ops->send(r->pub, r->batch, n, err, errlen);
	/* What it did not take (or could not send) goes back to the queue;
	 * readings it confirmed already are not in flight and stay done. */
	for (size_t i = rc < 0 ? 0 : (size_t)rc; i < n; i++)
		sim_window_retry(&r->w, r->batch[i].seq);
	return rc;
}

/*
 * How long poll() may wait: 0 when there is work to do right away, else
 * until the next reading is due, at most a tick (the progress line, the
 * signal check).
 */
static int poll_timeout(const struct run *r, int64_t now, int took)
{
	int64_t t = TICK_MS;

	if (!r->draining && r->w.queued && (took > 0 || r->w.inflight == 0))
		return 0; /* more to send */
	if (!r->draining && !r->src_done && !sim_window_full(&r->w)) {
		if (!r->have_next)
			return 0; /* room freed up: the next fill decides */
		t = due(r, r->next.ts_ms) - now;
		t = t < 0 ? 0 : t > TICK_MS ? TICK_MS : t;
	}
	if (r->w.inflight == 0 && (r->src_done || r->draining))
		return 0; /* nothing to wait for: the run is about to end */
	return (int)t;
}

/* Seconds until the last reading is due, or -1 when unknown. */
static double pace_s(const struct run *r, int64_t now)
{
	uint64_t total = sim_source_total(r->o->src);
	int64_t ts = total ? sim_source_ts_of(r->o->src, total - 1) : INT64_MIN;
	int64_t left;

	if (ts == INT64_MIN)
		return -1;
	left = due(r, ts) - now;
	return left > 0 ? (double)left / 1000.0 : 0;
}

static void summary(struct run *r, const char *how)
{
	uint64_t total = sim_source_total(r->o->src);
	double secs = (double)(mono_ms() - r->m0) / 1000.0;
	size_t left = sim_window_len(&r->w);
	char of[32] = "", rec[48] = "", unc[64] = "";

	if (total)
		snprintf(of, sizeof(of), " of %llu", (unsigned long long)total);
	if (r->reconnects)
		snprintf(rec, sizeof(rec), "; reconnected %llu time%s",
			 (unsigned long long)r->reconnects, r->reconnects == 1 ? "" : "s");
	if (left)
		snprintf(unc, sizeof(unc), "; %zu not confirmed", left);
	say(r, "%s%ssent %llu%s reading%s to %s in %.1f s (%.0f/s)%s%s", how ? how : "",
	    how ? ": " : "", (unsigned long long)r->sent, of,
	    (total ? total : r->sent) == 1 ? "" : "s", r->shown, secs,
	    secs > 0 ? (double)r->sent / secs : 0.0, rec, unc);
}

/* One turn of the loop.  Returns -1 to go on, else the exit status. */
static int turn(struct run *r)
{
	char err[SIM_PUB_ERR_MAX];
	int64_t now = mono_ms();
	int took = 0, rc;

	if (stop_signal && !r->draining) {
		r->draining = true;
		r->drain_until = now + r->o->drain_ms;
	}
	if (r->fatal)
		return exit_for(r->fatal);
	if (fill(r, now, err, sizeof(err)) < 0) {
		say(r, "%s", err);
		return SIM_EXIT_INPUT;
	}
	if (r->src_done && sim_window_len(&r->w) == 0)
		return SIM_EXIT_OK;
	if (r->draining && (r->w.inflight == 0 || now >= r->drain_until || signals > 1))
		return 128 + stop_signal;
	if (!r->draining && r->w.queued)
		took = send_queued(r, err, sizeof(err));
	if (took >= 0 && !r->fatal)
		rc = r->ops->poll(r->pub, poll_timeout(r, mono_ms(), took), err, sizeof(err));
	else
		rc = took < 0 ? took : 0;
	if (rc < 0 && sim_pub_fatal(rc) && !r->fatal) {
		r->fatal = rc;
		snprintf(r->fatal_msg, sizeof(r->fatal_msg), "%s", err);
	} else if (rc < 0 && !sim_pub_fatal(rc) && reconnect(r, err) != 0) {
		return r->fatal ? exit_for(r->fatal) : 128 + stop_signal;
	}
	sim_progress_tick(&r->bar, mono_ms(), r->sent, pace_s(r, mono_ms()), NULL, false);
	return -1;
}

static int loop(struct run *r)
{
	int rc;

	while ((rc = turn(r)) < 0)
		;
	return rc;
}

static void finish(struct run *r, int rc)
{
	sim_progress_tick(&r->bar, mono_ms(), r->sent, 0, NULL, true);
	sim_progress_clear(&r->bar);
	if (r->fatal)
		say(r, "%s", r->fatal_msg);
	if (rc >= 128)
		summary(r, rc == 128 + SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM");
	else if (rc != SIM_EXIT_OK)
		summary(r, "failed");
	else if (r->o->progress)
		summary(r, NULL);
}

int sim_run(const struct sim_opts *o)
{
	struct sigaction sa = { 0 }, old_int, old_term;
	struct sim_pub_opts po = o->pub;
	struct run r = { 0 };
	char err[SIM_PUB_ERR_MAX];
	int rc;

	r.o = o;
	r.ops = o->ops;
	sim_url_redacted(o->url, r.shown, sizeof(r.shown));
	sim_window_init(&r.w, o->pub.window);
	r.batch = xcalloc(o->pub.window, sizeof(*r.batch));
	sim_progress_init(&r.bar, o->progress, sim_source_total(o->src));
	po.confirm = on_confirm;
	po.ud = &r;
	stop_signal = signals = 0;
	sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts a wait short */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r.m0 = mono_ms();
	if ((rc = o->ops->open(o->url, &po, &r.pub, err, sizeof(err))) != 0) {
		say(&r, "%s", err);
		rc = SIM_EXIT_USAGE;
		goto out;
	}
	if ((rc = connect_first(&r)) == 0) {
		r.launch_ms = tz_now_ms();
		r.m0 = mono_ms();
		rc = loop(&r);
		finish(&r, rc);
	}
	o->ops->free(r.pub);
out:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sim_window_release(&r.w);
	free(r.batch);
	return rc;
}
