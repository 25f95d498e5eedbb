/*
 * log.c - logfmt lines on stderr (see log.h).
 *
 * Invariants:
 *  1. One line is formatted into a stack buffer and written with a single
 *     write(2), so concurrent threads never interleave within a line.
 *  2. The level is an atomic, so SIGHUP can change it while other threads log.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

static _Atomic int min_level = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	atomic_store(&min_level, (int)level);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return KW_EINVAL;
}

/* Appends msg as a logfmt quoted value, escaping quotes, backslashes and
 * control characters so that one message is always one line. */
static size_t put_quoted(char *b, size_t n, size_t at, const char *msg)
{
	if (at < n)
		b[at++] = '"';
	for (const char *p = msg; *p && at + 4 < n; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			b[at++] = '\\';
			b[at++] = (char)c;
		} else if (c == '\n') {
			b[at++] = '\\';
			b[at++] = 'n';
		} else if (c < 0x20) {
			b[at++] = ' ';
		} else {
			b[at++] = (char)c;
		}
	}
	if (at < n)
		b[at++] = '"';
	return at;
}

void log_write(enum log_level level, const char *module, const char *extra, const char *fmt, ...)
{
	char line[2048], msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t at;

	if ((int)level < atomic_load(&min_level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	at = (size_t)snprintf(line, sizeof(line),
			      "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=%s msg=",
			      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			      tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], module);
	at = put_quoted(line, sizeof(line) - 2, at, msg);
	if (extra && *extra)
		at += (size_t)snprintf(line + at, sizeof(line) - 2 - at, " %s", extra);
	if (at > sizeof(line) - 2)
		at = sizeof(line) - 2;
	line[at++] = '\n';
	if (write(STDERR_FILENO, line, at) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}
