/*
 * csv.c - reads the simulator's input file (the accepted forms are in csv.h).
 *
 * Design: one bounded line reader (getc into a fixed buffer) feeds one line
 * parser; sim_csv_open() runs them over the whole file once to check it and
 * count rows, rewinds, and sim_csv_next() runs them again to stream rows.
 * Both passes go through scan_row(), so they cannot disagree about what a
 * row is.
 *
 * Invariants:
 *  1. A line longer than SIM_CSV_LINE_MAX or holding a NUL byte is an
 *     error, never split or truncated.
 *  2. Every row of a file has the shape of its first row.
 *  3. Timestamps of a timed file never decrease.
 *  4. Only a line before the first data row can be a header, and only if it
 *     looks like one (every field starts with a letter and is not a number),
 *     so "nan" or a typo further down is reported, not skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "sim/csv.h"
#include "core/banned.h"

#define MIN_TS_MS INT64_C(946684800000)	   /* 2000-01-01T00:00:00Z: kilowatt's floor */
#define MAX_TS_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

struct sim_csv {
	FILE *f;
	char *name;
	uint64_t rows;	  /* data rows counted by the check */
	bool timed;	  /* rows are timestamp,value */
	int64_t first_ts; /* timed: the first and last timestamps */
	int64_t last_ts;
	/* reading state, reset by rewind() */
	unsigned long line; /* number of the line last read (1-based) */
	uint64_t seen;	    /* data rows read so far */
	int64_t prev_ts;    /* timed: the previous row's timestamp */
	char buf[SIM_CSV_LINE_MAX + 1];
};

struct field {
	const char *p;
	size_t n;
};

static struct field trim(const char *p, size_t n)
{
	while (n && isspace((unsigned char)p[0])) {
		p++;
		n--;
	}
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		p++;
		n -= 2;
	}
	return (struct field){ p, n };
}

/* A decimal number as JSON writes it, a leading '+' allowed. */
static bool numeric(struct field f)
{
	size_t i = 0, digits = 0;

	if (i < f.n && (f.p[i] == '+' || f.p[i] == '-'))
		i++;
	for (; i < f.n && isdigit((unsigned char)f.p[i]); i++)
		digits++;
	if (i < f.n && f.p[i] == '.')
		for (i++; i < f.n && isdigit((unsigned char)f.p[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < f.n && (f.p[i] == 'e' || f.p[i] == 'E')) {
		size_t d = 0;
		i++;
		if (i < f.n && (f.p[i] == '+' || f.p[i] == '-'))
			i++;
		for (; i < f.n && isdigit((unsigned char)f.p[i]); i++)
			d++;
		if (d == 0)
			return false;
	}
	return i == f.n;
}

static int parse_value(struct field f, double *out, char *err, size_t errlen)
{
	char tmp[SIM_CSV_LINE_MAX + 1];
	double v;

	if (f.n == 0) {
		snprintf(err, errlen, "the value is empty");
		return KW_EINVAL;
	}
	if (!numeric(f)) {
		snprintf(err, errlen, "value '%.*s' is not a number", (int)f.n, f.p);
		return KW_EINVAL;
	}
	memcpy(tmp, f.p, f.n);
	tmp[f.n] = '\0';
	errno = 0;
	v = strtod(tmp, NULL);
	if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) {
		snprintf(err, errlen, "value '%.*s' is out of range", (int)f.n, f.p);
		return KW_EINVAL;
	}
	if (v < 0) {
		snprintf(err, errlen, "value '%.*s' is negative (energy readings are >= 0)",
			 (int)f.n, f.p);
		return KW_EINVAL;
	}
	*out = v == 0 ? 0.0 : v; /* no -0 */
	return 0;
}

static int parse_ts(struct field f, int64_t *out, char *err, size_t errlen)
{
	char tmp[SIM_CSV_LINE_MAX + 1];
	size_t digits = 0;

	while (digits < f.n && isdigit((unsigned char)f.p[digits]))
		digits++;
	if (f.n > 0 && digits == f.n) {
		int64_t v = 0;
		for (size_t i = 0; i < f.n && v <= MAX_TS_MS; i++)
			v = v * 10 + (f.p[i] - '0');
		if (v < MIN_TS_MS || v > MAX_TS_MS) {
			snprintf(err, errlen,
				 "timestamp '%.*s' is not epoch milliseconds between the years "
				 "2000 and 9999",
				 (int)f.n, f.p);
			return KW_EINVAL;
		}
		*out = v;
		return 0;
	}
	memcpy(tmp, f.p, f.n);
	tmp[f.n] = '\0';
	if (tz_parse_rfc3339(tmp, out) != 0) {
		snprintf(err, errlen,
			 "timestamp '%.*s' is neither RFC 3339 with an offset "
			 "(2025-03-05T00:10:00Z) nor epoch milliseconds",
			 (int)f.n, f.p);
		return KW_EINVAL;
	}
	if (*out < MIN_TS_MS || *out > MAX_TS_MS) {
		snprintf(err, errlen, "timestamp '%.*s' is before the year 2000", (int)f.n, f.p);
		return KW_EINVAL;
	}
	return 0;
}

/* Invariant 4: every field starts with a letter and none is a number. */
static bool header_like(const struct field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char tmp[SIM_CSV_LINE_MAX + 1];
		char *end;
		if (fs[i].n == 0 || !isalpha((unsigned char)fs[i].p[0]))
			return false;
		memcpy(tmp, fs[i].p, fs[i].n);
		tmp[fs[i].n] = '\0';
		(void)strtod(tmp, &end);
		if (end != tmp) /* nan, inf, infinity */
			return false;
	}
	return true;
}

int sim_csv_parse_line(const char *line, size_t len, bool header_ok, int64_t *ts_ms, double *value,
		       char *err, size_t errlen)
{
	struct field all = trim(line, len), fs[3];
	size_t n = 0;
	const char *p = line, *end = line + len, *sep;

	if (all.n == 0 || all.p[0] == '#')
		return SIM_CSV_SKIP;
	for (sep = line; sep < end && !memchr(",;\t", *sep, 3); sep++)
		; /* the first separator decides which one the line uses */
	while (n < 3) {
		const char *stop = sep < end ? memchr(p, *sep, (size_t)(end - p)) : NULL;
		fs[n++] = trim(p, (size_t)((stop ? stop : end) - p));
		if (!stop)
			break;
		p = stop + 1;
	}
	if (n == 3) {
		snprintf(err, errlen, "expected 'value' or 'timestamp,value', found more fields");
		return KW_EINVAL;
	}
	if (header_ok && header_like(fs, n))
		return SIM_CSV_SKIP;
	if (n == 1)
		return parse_value(fs[0], value, err, errlen) ? KW_EINVAL : SIM_CSV_VALUE;
	if (parse_ts(fs[0], ts_ms, err, errlen) || parse_value(fs[1], value, err, errlen))
		return KW_EINVAL;
	return SIM_CSV_TIMED;
}

/*
 * Reads one line into c->buf (invariant 1).  Returns 1 with *len, 0 at the
 * end of the file, or KW_EINVAL with err set.
 */
static int read_line(struct sim_csv *c, size_t *len, char *err, size_t errlen)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(c->f)) != EOF && ch != '\n') {
		if (ch == '\0') {
			c->line++;
			snprintf(err, errlen, "%s:%lu: the line holds a NUL byte", c->name,
				 c->line);
			return KW_EINVAL;
		}
		if (n == SIM_CSV_LINE_MAX) {
			c->line++;
			snprintf(err, errlen, "%s:%lu: the line is longer than %d bytes", c->name,
				 c->line, SIM_CSV_LINE_MAX);
			return KW_EINVAL;
		}
		c->buf[n++] = (char)ch;
	}
	if (ch == EOF && ferror(c->f)) {
		snprintf(err, errlen, "cannot read '%s': %s", c->name, strerror(errno));
		return -EIO;
	}
	if (ch == EOF && n == 0)
		return 0;
	c->buf[n] = '\0';
	c->line++;
	*len = n;
	return 1;
}

/*
 * The next data row, checked against the rows before it (invariants 2, 3).
 * Returns 1, 0 at the end, or an error with err naming file:line.
 */
static int scan_row(struct sim_csv *c, int64_t *ts, double *value, char *err, size_t errlen)
{
	char why[SIM_CSV_LINE_MAX + 128];
	size_t len;
	int rc;

	for (;;) {
		const char *line = c->buf;
		if ((rc = read_line(c, &len, err, errlen)) <= 0)
			return rc;
		if (c->line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			line += 3;
			len -= 3;
		}
		rc = sim_csv_parse_line(line, len, c->seen == 0, ts, value, why, sizeof(why));
		if (rc == SIM_CSV_SKIP)
			continue;
		if (rc < 0)
			break;
		if (c->seen > 0 && (rc == SIM_CSV_TIMED) != c->timed) {
			snprintf(why, sizeof(why), "expected %s like the rows before",
				 c->timed ? "'timestamp,value'" : "one value");
			rc = KW_EINVAL;
			break;
		}
		if (c->seen > 0 && c->timed && *ts < c->prev_ts) {
			char t1[TZ_RFC3339_MAX], t0[TZ_RFC3339_MAX];
			const struct tz *utc = tz_get("UTC");
			snprintf(why, sizeof(why),
				 "timestamp %s is earlier than the row before (%s); sort the file",
				 tz_format_rfc3339(utc, *ts, t1),
				 tz_format_rfc3339(utc, c->prev_ts, t0));
			rc = KW_EINVAL;
			break;
		}
		c->timed = rc == SIM_CSV_TIMED;
		c->prev_ts = c->timed ? *ts : 0;
		c->seen++;
		return 1;
	}
	snprintf(err, errlen, "%s:%lu: %s", c->name, c->line, why);
	return rc;
}

static int rewind_csv(struct sim_csv *c, char *err, size_t errlen)
{
	if (fseek(c->f, 0, SEEK_SET) != 0) {
		snprintf(err, errlen, "cannot read '%s' again: %s", c->name, strerror(errno));
		return -errno;
	}
	c->line = 0;
	c->seen = 0;
	c->prev_ts = 0;
	return 0;
}

static int check(struct sim_csv *c, char *err, size_t errlen)
{
	int64_t ts = 0;
	double v;
	int rc;

	while ((rc = scan_row(c, &ts, &v, err, errlen)) == 1) {
		if (c->seen == 1)
			c->first_ts = ts;
		c->last_ts = ts;
	}
	if (rc < 0)
		return rc;
	if (c->seen == 0) {
		snprintf(err, errlen, "'%s' holds no readings", c->name);
		return KW_EINVAL;
	}
	c->rows = c->seen;
	return rewind_csv(c, err, errlen);
}

int sim_csv_open_stream(FILE *f, const char *name, struct sim_csv **out, char *err, size_t errlen)
{
	struct sim_csv *c = xcalloc(1, sizeof(*c));
	int rc;

	c->f = f;
	c->name = xstrdup(name);
	if ((rc = check(c, err, errlen)) != 0) {
		sim_csv_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int sim_csv_open(const char *path, struct sim_csv **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
		return -e;
	}
	return sim_csv_open_stream(f, path, out, err, errlen);
}

uint64_t sim_csv_rows(const struct sim_csv *c)
{
	return c->rows;
}

bool sim_csv_timed(const struct sim_csv *c)
{
	return c->timed;
}

int64_t sim_csv_first_ts(const struct sim_csv *c)
{
	return c->first_ts;
}

int64_t sim_csv_last_ts(const struct sim_csv *c)
{
	return c->last_ts;
}

int sim_csv_next(struct sim_csv *c, int64_t *ts_ms, double *value, char *err, size_t errlen)
{
	int64_t ts = 0;
	int rc;

	if (c->seen >= c->rows)
		return 0;
	rc = scan_row(c, &ts, value, err, errlen);
	if (rc == 0) {
		snprintf(err, errlen, "'%s' changed while it was being sent (it ended early)",
			 c->name);
		return KW_EINVAL;
	}
	if (rc == 1 && c->timed)
		*ts_ms = ts;
	return rc;
}

void sim_csv_free(struct sim_csv *c)
{
	if (!c)
		return;
	if (c->f)
		fclose(c->f);
	free(c->name);
	free(c);
}
