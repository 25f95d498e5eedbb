/*
 * lineproto.h - InfluxDB 1.x line protocol parser (pure: no I/O, no globals).
 *
 * Syntax followed exactly (docs.influxdata.com, "Line protocol reference",
 * InfluxDB v1.8):
 *
 *   measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]
 *
 * - Lines are separated by '\n'; a trailing '\r' is ignored.  Blank lines and
 *   lines whose first non-blank character is '#' are skipped.  As in
 *   InfluxDB 1.x, a quoted string field value may contain '\n'; line numbers
 *   stay physical.
 * - Measurement: commas and spaces are escaped with '\'.  Tag keys, tag
 *   values and field keys: commas, equals signs and spaces are escaped.
 *   A backslash before any other character is kept literally.
 * - Field values: float (1, 1.5, -1e3, .5), integer with suffix 'i', unsigned
 *   with suffix 'u', string in double quotes (escapes \" and \\), boolean
 *   t T true True TRUE f F false False FALSE.
 * - At least one field; the timestamp (a signed decimal integer) is optional.
 *
 * Thread-safety: reentrant; each call uses only its own arguments.
 */
#ifndef KW_INGEST_LINEPROTO_H
#define KW_INGEST_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lp_type { LP_FLOAT, LP_INT, LP_UINT, LP_STRING, LP_BOOL };

struct lp_tag {
	const char *key;   /* unescaped, NUL-terminated */
	const char *value; /* unescaped, NUL-terminated */
};

struct lp_field {
	const char *key; /* unescaped, NUL-terminated */
	enum lp_type type;
	union {
		double f;
		int64_t i;
		uint64_t u;
		bool b;
		const char *s; /* unescaped, NUL-terminated */
	} v;
};

/* One parsed point.  Every pointer in it is valid only during the callback. */
struct lp_point {
	const char *measurement;
	const struct lp_tag *tags;
	size_t ntags;
	const struct lp_field *fields;
	size_t nfields;
	bool has_time;
	int64_t time; /* as written; the caller applies ?precision= */
	int line;     /* 1-based line number in the input */
};

/* What went wrong, for a 400 answer that names the place. */
struct lp_error {
	int line;	   /* 1-based */
	int column;	   /* 1-based byte column of the offending token */
	char field[64];	   /* "measurement", "tag", "field key", "timestamp", or the
			      key of the field whose value is bad */
	char message[160]; /* e.g. "invalid integer value '12x'" */
};

/*
 * Called once per point, in input order.  Return 0 to continue; any other
 * value stops parsing and is returned by lineproto_parse().
 */
typedef int (*lp_point_cb)(void *ud, const struct lp_point *pt);

/*
 * Parses buf[0..len) (need not be NUL-terminated).
 *
 * Returns 0 when every line parsed and every callback returned 0;
 * KW_EPARSE with *err filled (err may not be NULL) on the first syntax
 * error; or the first non-zero callback result.  Callbacks for lines before a
 * syntax error have already run, so callers that need all-or-nothing collect
 * points and act only after a 0 return.
 *
 * Limits: a line may hold at most LP_MAX_TAGS tags and LP_MAX_FIELDS fields
 * (more is a KW_EPARSE error naming the line).
 */
#define LP_MAX_TAGS   64
#define LP_MAX_FIELDS 256
int lineproto_parse(const char *buf, size_t len, lp_point_cb cb, void *ud, struct lp_error *err);

/*
 * A timestamp precision: a written time t is t * mul / div milliseconds.
 * Looked up once per request, used once per line.
 */
struct lp_precision {
	int64_t div;
	int64_t mul;
};

/*
 * Looks up a precision by name ("ns", "us", "u", "ms", "s", or NULL/""
 * meaning ns, as InfluxDB).  Returns 0, or KW_EINVAL for an unknown name;
 * *out is then unset.
 */
int lineproto_precision(const char *name, struct lp_precision *out);

/*
 * Converts a timestamp in precision p (from lineproto_precision) to Unix
 * epoch milliseconds, rounding toward negative infinity.  Returns 0, or
 * KW_EINVAL for a result outside int64 (possible only for "s"); *out_ms is
 * then unset.
 */
int lineproto_time_to_ms(int64_t t, const struct lp_precision *p, int64_t *out_ms);

#endif
