/*
 * progress.c - the progress line (what it shows is in progress.h).
 *
 * Invariants:
 *  1. At most one draw per 100 ms unless forced; each draw is one write(2)
 *     so it never interleaves with another line.
 *  2. A line never exceeds the terminal's width (it would wrap and the next
 *     "\r" would redraw only its last row).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sim/progress.h"
#include "core/banned.h"

#define DRAW_MS	  100
#define RATE_MS	  5000
#define LINE_MAX_ 512

void sim_progress_init(struct sim_progress *p, bool on, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = on;
	p->total = total;
	p->last_draw = INT64_MIN / 2;
}

static void sample(struct sim_progress *p, int64_t now_ms, uint64_t sent)
{
	size_t i = p->nsamples % SIM_PROGRESS_SAMPLES;

	p->samples[i].at_ms = now_ms;
	p->samples[i].sent = sent;
	p->nsamples++;
}

double sim_progress_rate(const struct sim_progress *p)
{
	size_t n = p->nsamples < SIM_PROGRESS_SAMPLES ? p->nsamples : SIM_PROGRESS_SAMPLES;
	size_t newest = (p->nsamples - 1) % SIM_PROGRESS_SAMPLES, oldest = newest;

	if (n < 2)
		return 0.0;
	/* The oldest sample within RATE_MS of the newest. */
	for (size_t k = 1; k < n; k++) {
		size_t i = (newest + SIM_PROGRESS_SAMPLES - k) % SIM_PROGRESS_SAMPLES;
		if (p->samples[newest].at_ms - p->samples[i].at_ms > RATE_MS)
			break;
		oldest = i;
	}
	if (oldest == newest || p->samples[newest].at_ms == p->samples[oldest].at_ms)
		return 0.0;
	return (double)(p->samples[newest].sent - p->samples[oldest].sent) * 1000.0 /
	       (double)(p->samples[newest].at_ms - p->samples[oldest].at_ms);
}

static void format_rate(char *buf, size_t len, double rate)
{
	if (rate >= 10)
		snprintf(buf, len, "%.0f/s", rate);
	else if (rate >= 1)
		snprintf(buf, len, "%.1f/s", rate);
	else if (rate * 60 >= 1)
		snprintf(buf, len, "%.1f/min", rate * 60);
	else
		snprintf(buf, len, "%.1f/h", rate * 3600);
}

static void format_eta(char *buf, size_t len, double s)
{
	long long t;

	if (s < 0 || !isfinite(s) || s > 99 * 86400.0) {
		snprintf(buf, len, "ETA --:--");
		return;
	}
	t = llround(s);
	if (t >= 86400)
		snprintf(buf, len, "ETA %lldd%02lldh", t / 86400, t % 86400 / 3600);
	else
		snprintf(buf, len, "ETA %lld:%02lld:%02lld", t / 3600, t % 3600 / 60, t % 60);
}

int sim_progress_format(char *buf, size_t len, int width, uint64_t sent, uint64_t total,
			double rate, double eta_s, const char *status)
{
	char tail[160], r[32], eta[32], bar[128];
	int n, barw;

	format_rate(r, sizeof(r), rate);
	if (total == 0) {
		n = snprintf(tail, sizeof(tail), "%llu sent  %s%s%s", (unsigned long long)sent, r,
			     status ? "  " : "", status ? status : "");
		snprintf(buf, len, "%.*s", width, tail);
		return (int)strlen(buf);
	}
	format_eta(eta, sizeof(eta), eta_s);
	n = snprintf(tail, sizeof(tail), "  %llu/%llu  %3.0f%%  %s  %s%s%s",
		     (unsigned long long)sent, (unsigned long long)total,
		     100.0 * (double)sent / (double)total, r, eta, status ? "  " : "",
		     status ? status : "");
	barw = width - n - 2;
	if (barw > 40)
		barw = 40;
	if (barw < 10) { /* too narrow for a bar: numbers only */
		snprintf(buf, len, "%.*s", width, tail + 2);
		return (int)strlen(buf);
	}
	{
		int fill = (int)((double)barw * (double)sent / (double)total);
		if (fill > barw)
			fill = barw;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(barw - fill));
		bar[barw] = '\0';
	}
	snprintf(buf, len, "[%s]%s", bar, tail);
	return (int)strlen(buf);
}

static int columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col - 1; /* the last column would make some terminals wrap */
	return 79;
}

static void put(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return; /* a progress line is not worth an error */
		s += w;
		n -= (size_t)w;
	}
}

void sim_progress_tick(struct sim_progress *p, int64_t now_ms, uint64_t sent, double pace_s,
		       const char *status, bool force)
{
	char line[LINE_MAX_], out[LINE_MAX_ + 16];
	double rate, eta = -1;
	int width = columns(), n;

	if (!p->on || (!force && now_ms - p->last_draw < DRAW_MS))
		return;
	p->last_draw = now_ms;
	sample(p, now_ms, sent);
	rate = sim_progress_rate(p);
	if (p->total) {
		uint64_t left = p->total > sent ? p->total - sent : 0;
		eta = left == 0 ? 0 : rate > 0 ? (double)left / rate : pace_s >= 0 ? pace_s : -1;
		if (eta >= 0 && pace_s > eta)
			eta = pace_s;
	}
	if (width > LINE_MAX_ - 1)
		width = LINE_MAX_ - 1;
	sim_progress_format(line, sizeof(line), width, sent, p->total, rate, eta, status);
	n = snprintf(out, sizeof(out), "\r%s\033[K", line);
	put(out, (size_t)n);
	p->shown = true;
}

void sim_progress_clear(struct sim_progress *p)
{
	if (!p->shown)
		return;
	put("\r\033[K", 4);
	p->shown = false;
}
