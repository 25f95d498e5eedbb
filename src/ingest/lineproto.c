/*
 * lineproto.c - InfluxDB 1.x line protocol parser (see lineproto.h).
 *
 * Purpose: turn an HTTP /write body into points, one callback per line, or
 * name the first malformed line precisely enough for a 400 answer.
 *
 * Design: two steps per line.  line_end() finds where the logical line stops:
 * the first '\n' that is not inside a quoted string field value (InfluxDB
 * 1.x lets a string value span lines, so we do too).  Then a small
 * recursive-descent parser (parse_measurement, parse_tag, parse_field,
 * parse_timestamp) walks the line left to right with a cursor, unescaping
 * names and strings into one scratch buffer that is reused for every line of
 * the call.  Errors are therefore reported in reading order.
 *
 * Grammar decisions (InfluxDB v1.8 models/points.go is the reference):
 *  - Escapes in names: a backslash before a character that is special for
 *    that name (measurement: ',' ' '; tag key, tag value, field key: ','
 *    '=' ' ') stands for that character.  Any other backslash, including one
 *    before another backslash, is kept literally and does not escape what
 *    follows ("a\\,b" is the name "a\,b", as InfluxDB scans tags).
 *  - In string values "\"" is a quote and "\\" is one backslash; any other
 *    backslash is kept.  A '\n' inside a string is kept and counted as a new
 *    physical line for error positions.
 *  - Sections are separated by one or more spaces (not tabs).  Leading spaces
 *    and tabs before the measurement are skipped, and trailing spaces after
 *    the fields or the timestamp are allowed.  A newline outside a string
 *    always ends the line, even after a backslash.
 *  - Duplicate tag keys are an error (InfluxDB: "duplicate tags").  A field
 *    key repeated in one line keeps the last value, at the position of its
 *    first occurrence (InfluxDB keeps the last one too).
 *  - NaN and infinities are not numbers here, whatever their spelling.
 *  - A NUL byte in a name or a string is an error: the callback receives C
 *    strings, and a silently shortened name would write to the wrong series.
 *  - Tags are passed in input order, not sorted.
 *
 * Invariants:
 *  1. Nothing reads outside buf[0..len); the input is not NUL-terminated.
 *  2. Every string in a point is unescaped, NUL-terminated, lives in the
 *     scratch buffer, and is valid only until the callback returns.
 *  3. Before a line is parsed the scratch holds at least its length + 1
 *     bytes.  Unescaping never lengthens a token and every token is followed
 *     by a separator or the line end, so all tokens of a line fit; each
 *     token is checked against the capacity before it is written anyway.
 *  4. A point is delivered only if its whole line parsed, in input order.
 *  5. On KW_EPARSE, *err names the first error by physical 1-based line and
 *     byte column, and callbacks have run for exactly the points before it.
 *  6. err->field and err->message are NUL-terminated, valid UTF-8 and free of
 *     control characters: quoted input is sanitised and cut at a character
 *     boundary, so they can go into JSON as they are.
 *  7. Integers are parsed by hand; floats too when exact_float() can prove
 *     the result is strtod()'s, and by strtod after our own syntax check
 *     otherwise.  The daemon never calls setlocale(), so the "C" locale's '.'
 *     is the decimal point; under another locale strtod would stop early and
 *     the end check turns that into an error, never a wrong value.
 *
 * Threading: reentrant.  No globals; each call allocates its own parser
 * state, and callbacks run on the calling thread.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "ingest/lineproto.h"

#include "core/banned.h"

/* Bytes of user input quoted in an error message, including the NUL. */
#define SHOW_SZ 40

/*
 * Kinds of name; they differ only in which characters a backslash escapes.
 * The values are bits of name_stop[].
 */
enum name_kind { NAME_MEASUREMENT = 1, NAME_KEY = 2 };

/* Results of the hand-written integer parsers. */
enum num_rc { NUM_OK, NUM_SYNTAX, NUM_RANGE };

struct lp_parser {
	const char *line; /* first byte of the physical line the point starts on */
	int lineno;	  /* 1-based number of that line */
	const char *p;	  /* cursor inside the logical line */
	const char *end;  /* end of the logical line; '\n' and '\r' excluded */
	char *scratch;	  /* unescaped strings of the current line */
	size_t cap;	  /* bytes allocated for scratch */
	size_t used;	  /* bytes of scratch holding strings of this line */
	size_t ntags;
	size_t nfields;
	struct lp_tag tags[LP_MAX_TAGS];
	uint32_t tag_hash[LP_MAX_TAGS]; /* name_hash() of tags[i].key */
	struct lp_field fields[LP_MAX_FIELDS];
	uint32_t field_hash[LP_MAX_FIELDS]; /* name_hash() of fields[i].key */
	struct lp_error *err;
};

/* ---- error reporting --------------------------------------------------- */

/*
 * Returns the length of the valid UTF-8 sequence at u (avail bytes left), or
 * 0 if it is not one.  Overlong forms and surrogates are invalid, as JSON
 * encoders such as jansson reject them.
 */
static size_t utf8_seq_len(const unsigned char *u, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t k;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xC2 && u[0] <= 0xDF) {
		k = 2;
	} else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		k = 3;
		lo = u[0] == 0xE0 ? 0xA0 : lo;
		hi = u[0] == 0xED ? 0x9F : hi;
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		k = 4;
		lo = u[0] == 0xF0 ? 0x90 : lo;
		hi = u[0] == 0xF4 ? 0x8F : hi;
	} else {
		return 0;
	}
	if (avail < k || u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if (u[i] < 0x80 || u[i] > 0xBF)
			return 0;
	return k;
}

/*
 * Copies s[0..n) into dst[dstsz] for display (dstsz >= 4).  Control bytes
 * and invalid UTF-8 become '?', one per byte, so the output is exactly as
 * long as the input; that is why "fits" can be decided from n alone.  Input
 * that does not fit is cut at a character boundary and ends in "...".
 */
static const char *show(char *dst, size_t dstsz, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t room = n < dstsz ? dstsz - 1 : dstsz - 4;
	size_t i = 0, o = 0;

	while (i < n) {
		size_t k = utf8_seq_len(u + i, n - i);
		bool ctl = k == 1 && (u[i] < 0x20 || u[i] == 0x7F);

		if (o + (k ? k : 1) > room)
			break;
		if (k == 0 || ctl) {
			dst[o++] = '?';
			i++;
		} else {
			memcpy(dst + o, s + i, k);
			o += k;
			i += k;
		}
	}
	if (i < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* show() for a NUL-terminated name, into a SHOW_SZ buffer. */
static const char *show_name(char *dst, const char *s)
{
	return show(dst, SHOW_SZ, s, strlen(s));
}

/*
 * Fills *err for an error at pos and returns KW_EPARSE.  The position is
 * turned into a physical line and column here, on the error path only,
 * because a string value may have carried the line over several '\n'.
 */
__attribute__((format(printf, 4, 5))) static int fail(struct lp_parser *ps, const char *pos,
						      const char *field, const char *fmt, ...)
{
	struct lp_error *err = ps->err;
	const char *bol = ps->line;
	long line = ps->lineno;
	va_list ap;

	for (const char *q = ps->line; q < pos; q++) {
		if (*q == '\n') {
			line++;
			bol = q + 1;
		}
	}
	err->line = line > INT_MAX ? INT_MAX : (int)line;
	err->column = pos - bol >= INT_MAX ? INT_MAX : (int)(pos - bol) + 1;
	show(err->field, sizeof(err->field), field, strlen(field));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return KW_EPARSE;
}

/*
 * Reports a bad field value.  Both the value and the key are shown through
 * show(), so the longest message ("unsigned integer value '...' out of range
 * for field '...'") stays well inside err->message.
 */
static int fail_value(struct lp_parser *ps, const char *tok, size_t n, const char *key,
		      const char *kind, bool range)
{
	char v[SHOW_SZ], k[SHOW_SZ];

	show(v, sizeof(v), tok, n);
	show_name(k, key);
	if (range)
		return fail(ps, tok, key, "%s value '%s' out of range for field '%s'", kind, v, k);
	return fail(ps, tok, key, "invalid %s value '%s' for field '%s'", kind, v, k);
}

/* ---- names --------------------------------------------------------------- */

static bool is_escapable(char c, enum name_kind kind)
{
	return c == ',' || c == ' ' || (kind == NAME_KEY && c == '=');
}

/*
 * The bytes take_name() must look at, per kind of name: what ends a name,
 * what may escape it, and what a name may not hold.  Every other byte is
 * copied as it is.
 */
static const unsigned char name_stop[256] = {
	['\0'] = NAME_MEASUREMENT | NAME_KEY, ['\n'] = NAME_MEASUREMENT | NAME_KEY,
	[' '] = NAME_MEASUREMENT | NAME_KEY,  [','] = NAME_MEASUREMENT | NAME_KEY,
	['\\'] = NAME_MEASUREMENT | NAME_KEY, ['='] = NAME_KEY,
};

/*
 * A filter for duplicate-key checks, which strcmp confirms: the length and
 * the first, middle and last bytes of the n-byte key s (n > 0), where the
 * keys of a line usually differ.  It need not be strong, only cheap: it runs
 * for every key of every line.
 */
static uint32_t name_hash(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	return (uint32_t)n << 24 ^ (uint32_t)u[0] << 16 ^ (uint32_t)u[n / 2] << 8 ^ u[n - 1];
}

/*
 * Unescapes the name at the cursor into scratch and stores it in *out and
 * its length in *len.  It stops before the first unescaped ',' or ' ' (and
 * '=' for keys: an '=' ends a key and is an error inside a tag value, which
 * the caller reports) or at the line end.  'what' names the token for errors.
 */
static int take_name(struct lp_parser *ps, enum name_kind kind, const char *what, const char **out,
		     size_t *len)
{
	char *start = ps->scratch + ps->used, *dst = start;
	const char *p = ps->p, *end = ps->end; /* a local end: dst may alias ps */

	/* The name is at most the rest of the line, plus its NUL (invariant 3). */
	if ((size_t)(end - p) >= ps->cap - ps->used)
		return fail(ps, p, what, "internal error: scratch buffer full");
	for (; p < end; p++) {
		char c = *p;

		if (name_stop[(unsigned char)c] & kind) {
			if (c == '\\') {
				if (p + 1 < end && is_escapable(p[1], kind))
					c = *++p;
			} else if (c == '\0' || c == '\n') {
				/* '\n' cannot get here (line_end() stops at it); kept as a guard. */
				return fail(ps, p, what, "invalid %s byte in %s",
					    c ? "newline" : "NUL", what);
			} else {
				break;
			}
		}
		*dst++ = c;
	}
	*dst = '\0';
	*out = start;
	*len = (size_t)(dst - start);
	ps->used += *len + 1;
	ps->p = p;
	return 0;
}

/* ---- field values -------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parses s[0..n) as decimal digits only; overflow is NUM_RANGE. */
static enum num_rc parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;

	if (n == 0)
		return NUM_SYNTAX;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (!is_digit(s[i]))
			return NUM_SYNTAX; /* a syntax error outranks overflow */
		/* Any 19 digits fit (10^19 - 1 < 2^64): overflow starts at the 20th. */
		if (i >= 19 && v > (UINT64_MAX - d) / 10)
			over = true;
		v = v * 10 + d;
	}
	*out = v;
	return over ? NUM_RANGE : NUM_OK;
}

/* Parses an optional '-' then decimal digits into the int64 range. */
static enum num_rc parse_i64(const char *s, size_t n, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t mag = 0;
	enum num_rc rc = parse_u64(s + neg, n - neg, &mag);

	if (rc != NUM_OK)
		return rc;
	if (mag > (uint64_t)INT64_MAX + neg)
		return NUM_RANGE;
	if (neg)
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		*out = (int64_t)mag;
	return NUM_OK;
}

/*
 * Checks the float grammar of line protocol: [-] digits [. digits]
 * [e|E [+|-] digits], with at least one mantissa digit on either side of the
 * point ("1.", ".5").  strtod() alone would also take "nan", "inf", hex,
 * leading blanks and '+'.
 */
static bool is_float_syntax(const char *s, size_t n)
{
	size_t i = 0, digits = 0, exp_digits = 0;

	if (i < n && s[i] == '-')
		i++;
	for (; i < n && is_digit(s[i]); i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && is_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && is_digit(s[i]); i++)
			exp_digits++;
		if (exp_digits == 0)
			return false;
	}
	return i == n;
}

/* 10^0 .. 10^22, the powers of ten that a double holds exactly. */
static const double exact_pow10[] = { 1e0,  1e1,  1e2,	1e3,  1e4,  1e5,  1e6,	1e7,
				      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/*
 * Converts s[0..n), which is_float_syntax() accepted, when one rounding is
 * enough: the digits after leading zeros are at most 19, their value m is at
 * most 2^53, and the scale 10^e has |e| <= 22.  Then m and 10^e are exact
 * doubles, and IEEE 754 rounds m * 10^e or m / 10^e once, correctly: to the
 * double that a correctly rounding strtod() such as glibc's returns
 * (Clinger's fast path, as in Go's strconv).  The sign goes on before the
 * operation, so even a directed rounding mode, which the daemon never sets,
 * would agree.  Returns false, having set nothing, in every other case.
 */
static bool exact_float(const char *s, size_t n, double *out)
{
	bool neg = s[0] == '-', frac = false;
	size_t i = neg;
	uint64_t m = 0;
	int digits = 0, e = 0, x = 0;
	double v;

	if (FLT_EVAL_METHOD != 0)
		return false; /* x87 arithmetic would round twice */
	for (; i < n && (is_digit(s[i]) || s[i] == '.'); i++) {
		if (s[i] == '.') {
			frac = true;
			continue;
		}
		if ((m || s[i] != '0') && ++digits > 19)
			return false;
		m = m * 10 + (uint64_t)(s[i] - '0');
		e -= frac;
	}
	if (i < n) { /* 'e' or 'E', a sign or not, then at least one digit */
		bool xneg = s[++i] == '-';

		i += s[i] == '-' || s[i] == '+';
		if (n - i > 3)
			return false;
		for (; i < n; i++)
			x = x * 10 + (s[i] - '0');
		e += xneg ? -x : x;
	}
	if (m > UINT64_C(1) << 53 || e < -22 || e > 22)
		return false;
	v = neg ? -(double)m : (double)m;
	*out = e < 0 ? v / exact_pow10[-e] : v * exact_pow10[e];
	return true;
}

/*
 * Numbers exact_float() cannot convert go to strtod(), which needs a
 * NUL-terminated string, so the token is copied to the free end of scratch
 * (invariant 3 leaves room for it) without being kept.
 */
static int parse_float(struct lp_parser *ps, const char *tok, size_t n, const char *key,
		       struct lp_field *f)
{
	char *tmp = ps->scratch + ps->used;
	char *endp;
	double v;

	if (!is_float_syntax(tok, n))
		return fail_value(ps, tok, n, key, "numeric", false);
	if (!exact_float(tok, n, &v)) {
		if (n >= ps->cap - ps->used)
			return fail(ps, tok, key, "internal error: scratch buffer full");
		memcpy(tmp, tok, n);
		tmp[n] = '\0';
		v = strtod(tmp, &endp);
		if (endp != tmp + n)
			return fail_value(ps, tok, n, key, "float", false);
	}
	/* Underflow to a denormal or zero is fine; overflow to infinity is not. */
	if (!isfinite(v))
		return fail_value(ps, tok, n, key, "float", true);
	f->type = LP_FLOAT;
	f->v.f = v;
	return 0;
}

/* Returns true if tok is spelled like NaN or an infinity, for a clearer error. */
static bool is_nan_or_inf(const char *tok, size_t n)
{
	size_t i = n > 0 && (tok[0] == '-' || tok[0] == '+');
	char c = n - i >= 3 ? (char)(tok[i] | 0x20) : 0; /* lower case, for letters */

	return (c == 'n' || c == 'i') &&
	       (strncasecmp(tok + i, "nan", 3) == 0 || strncasecmp(tok + i, "inf", 3) == 0);
}

/* Numbers: 'i' suffix is int64, 'u' suffix is uint64, anything else a float. */
static int parse_number(struct lp_parser *ps, const char *tok, size_t n, const char *key,
			struct lp_field *f)
{
	enum num_rc rc;

	if (is_nan_or_inf(tok, n)) {
		char v[SHOW_SZ], k[SHOW_SZ];

		return fail(ps, tok, key,
			    "invalid value '%s' for field '%s': "
			    "NaN and infinity are not allowed",
			    show(v, sizeof(v), tok, n), show_name(k, key));
	}
	if (tok[n - 1] == 'i') {
		f->type = LP_INT;
		rc = parse_i64(tok, n - 1, &f->v.i);
		if (rc != NUM_OK)
			return fail_value(ps, tok, n, key, "integer", rc == NUM_RANGE);
		return 0;
	}
	if (tok[n - 1] == 'u') {
		f->type = LP_UINT;
		rc = parse_u64(tok, n - 1, &f->v.u);
		if (rc != NUM_OK)
			return fail_value(ps, tok, n, key, "unsigned integer", rc == NUM_RANGE);
		return 0;
	}
	return parse_float(ps, tok, n, key, f);
}

static int parse_bool(struct lp_parser *ps, const char *tok, size_t n, const char *key,
		      struct lp_field *f)
{
	static const struct {
		const char *s;
		bool v;
	} spellings[] = {
		{ "t", true },	    { "T", true },	{ "true", true }, { "True", true },
		{ "TRUE", true },   { "f", false },	{ "F", false },	  { "false", false },
		{ "False", false }, { "FALSE", false },
	};

	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		if (strlen(spellings[i].s) == n && memcmp(spellings[i].s, tok, n) == 0) {
			f->type = LP_BOOL;
			f->v.b = spellings[i].v;
			return 0;
		}
	}
	return fail_value(ps, tok, n, key, "boolean", false);
}

/*
 * A string value starts at the cursor's '"'.  It must be closed before the
 * line end and be followed by ',' ' ' or the line end.
 */
static int parse_string(struct lp_parser *ps, const char *key, struct lp_field *f)
{
	const char *open = ps->p, *p = ps->p + 1;
	char *dst = ps->scratch + ps->used;
	char k[SHOW_SZ];

	if ((size_t)(ps->end - p) >= ps->cap - ps->used)
		return fail(ps, p, key, "internal error: scratch buffer full");
	for (; p < ps->end && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p + 1 < ps->end && (p[1] == '"' || p[1] == '\\'))
			c = *++p;
		else if (c == '\0')
			return fail(ps, p, key, "invalid NUL byte in string value for field '%s'",
				    show_name(k, key));
		*dst++ = c;
	}
	if (p >= ps->end)
		return fail(ps, open, key, "unterminated string value for field '%s'",
			    show_name(k, key));
	p++;
	if (p < ps->end && *p != ',' && *p != ' ')
		return fail(ps, p, key, "unexpected text after string value for field '%s'",
			    show_name(k, key));
	*dst = '\0';
	f->type = LP_STRING;
	f->v.s = ps->scratch + ps->used;
	ps->used = (size_t)(dst - ps->scratch) + 1;
	ps->p = p;
	return 0;
}

/* The value after "key=": a string, a boolean or a number, by its first byte. */
static int parse_value(struct lp_parser *ps, const char *key, struct lp_field *f)
{
	const char *tok = ps->p, *q = ps->p;
	size_t n;
	int rc;

	if (tok < ps->end && *tok == '"')
		return parse_string(ps, key, f);
	while (q < ps->end && *q != ',' && *q != ' ')
		q++;
	n = (size_t)(q - tok);
	if (n == 0) {
		char k[SHOW_SZ];

		return fail(ps, tok, key, "missing value for field '%s'", show_name(k, key));
	}
	if (*tok == 't' || *tok == 'T' || *tok == 'f' || *tok == 'F')
		rc = parse_bool(ps, tok, n, key, f);
	else if (*tok == '-' || *tok == '.' || is_digit(*tok))
		rc = parse_number(ps, tok, n, key, f);
	else if (is_nan_or_inf(tok, n))
		rc = parse_number(ps, tok, n, key, f); /* for its NaN/Inf message */
	else
		rc = fail_value(ps, tok, n, key, "field", false);
	if (rc == 0)
		ps->p = q;
	return rc;
}

/* ---- sections ------------------------------------------------------------ */

static int parse_measurement(struct lp_parser *ps, const char **out)
{
	const char *start = ps->p;
	size_t n;
	int rc;

	if (*start == ',')
		return fail(ps, start, "measurement", "missing measurement name");
	rc = take_name(ps, NAME_MEASUREMENT, "measurement", out, &n);
	if (rc)
		return rc;
	if (n == 0)
		return fail(ps, start, "measurement", "missing measurement name");
	return 0;
}

/* One ",key=value" tag; the cursor is on the ','. */
static int parse_tag(struct lp_parser *ps)
{
	const char *kpos = ++ps->p, *vpos;
	const char *key, *val;
	char k[SHOW_SZ];
	size_t klen, vlen;
	uint32_t h;
	int rc;

	if (kpos == ps->end || *kpos == ',' || *kpos == ' ' || *kpos == '=')
		return fail(ps, kpos, "tag", "missing tag key");
	if ((rc = take_name(ps, NAME_KEY, "tag", &key, &klen)) != 0)
		return rc;
	if (ps->p == ps->end || *ps->p != '=')
		return fail(ps, ps->p, "tag", "missing '=' after tag key '%s'", show_name(k, key));
	vpos = ++ps->p;
	if ((rc = take_name(ps, NAME_KEY, "tag", &val, &vlen)) != 0)
		return rc;
	if (ps->p < ps->end && *ps->p == '=')
		return fail(ps, ps->p, "tag",
			    "invalid value for tag '%s': unescaped '=' (write it as \\=)",
			    show_name(k, key));
	if (vlen == 0)
		return fail(ps, vpos, "tag", "empty value for tag '%s'", show_name(k, key));
	h = name_hash(key, klen);
	for (size_t i = 0; i < ps->ntags; i++)
		if (ps->tag_hash[i] == h && strcmp(ps->tags[i].key, key) == 0)
			return fail(ps, kpos, "tag", "duplicate tag key '%s'", show_name(k, key));
	if (ps->ntags == LP_MAX_TAGS)
		return fail(ps, kpos, "tag", "too many tags (at most %d per line)", LP_MAX_TAGS);
	ps->tag_hash[ps->ntags] = h;
	ps->tags[ps->ntags++] = (struct lp_tag){ .key = key, .value = val };
	return 0;
}

/*
 * Returns the slot for field key: an earlier one with the same key (the
 * last value wins, at the first position) or a new one, or -1 when full.
 */
static long field_slot(struct lp_parser *ps, const char *key, size_t n)
{
	uint32_t h = name_hash(key, n);

	for (size_t i = 0; i < ps->nfields; i++)
		if (ps->field_hash[i] == h && strcmp(ps->fields[i].key, key) == 0)
			return (long)i;
	if (ps->nfields == LP_MAX_FIELDS)
		return -1;
	ps->field_hash[ps->nfields] = h;
	ps->fields[ps->nfields].key = key;
	return (long)ps->nfields++;
}

/* One "key=value" field; the cursor is on the key's first byte. */
static int parse_field(struct lp_parser *ps)
{
	const char *kpos = ps->p;
	const char *key;
	char k[SHOW_SZ];
	size_t n;
	long slot;
	int rc;

	if (kpos == ps->end || *kpos == ',' || *kpos == ' ' || *kpos == '=')
		return fail(ps, kpos, "field key", "missing field key");
	if ((rc = take_name(ps, NAME_KEY, "field key", &key, &n)) != 0)
		return rc;
	if (ps->p == ps->end || *ps->p != '=')
		return fail(ps, ps->p, "field key", "missing '=' after field key '%s'",
			    show_name(k, key));
	ps->p++;
	slot = field_slot(ps, key, n);
	if (slot < 0)
		return fail(ps, kpos, "field key", "too many fields (at most %d per line)",
			    LP_MAX_FIELDS);
	return parse_value(ps, key, &ps->fields[slot]);
}

static void skip_spaces(struct lp_parser *ps)
{
	while (ps->p < ps->end && *ps->p == ' ')
		ps->p++;
}

/* The optional timestamp, then nothing but spaces. */
static int parse_timestamp(struct lp_parser *ps, struct lp_point *pt)
{
	const char *tok = ps->p, *q = ps->p;
	char v[SHOW_SZ];
	size_t n;

	while (q < ps->end && *q != ' ')
		q++;
	n = (size_t)(q - tok);
	switch (parse_i64(tok, n, &pt->time)) {
	case NUM_OK:
		break;
	case NUM_SYNTAX:
		return fail(ps, tok, "timestamp", "invalid timestamp '%s'",
			    show(v, sizeof(v), tok, n));
	case NUM_RANGE:
		return fail(ps, tok, "timestamp", "timestamp '%s' out of range",
			    show(v, sizeof(v), tok, n));
	}
	pt->has_time = true;
	ps->p = q;
	skip_spaces(ps);
	if (ps->p < ps->end)
		return fail(ps, ps->p, "timestamp", "unexpected text '%s' after timestamp",
			    show(v, sizeof(v), ps->p, (size_t)(ps->end - ps->p)));
	return 0;
}

/* Fields section: key=value[,key=value...]; the cursor is on the first key. */
static int parse_fields(struct lp_parser *ps)
{
	int rc;

	for (;;) {
		if ((rc = parse_field(ps)) != 0)
			return rc;
		if (ps->p == ps->end || *ps->p == ' ')
			return 0;
		ps->p++; /* parse_value() stops only at ',', ' ' or the end */
	}
}

/* measurement[,tags] fields [timestamp] into *pt. */
static int parse_point(struct lp_parser *ps, struct lp_point *pt)
{
	int rc;

	if ((rc = parse_measurement(ps, &pt->measurement)) != 0)
		return rc;
	while (ps->p < ps->end && *ps->p == ',')
		if ((rc = parse_tag(ps)) != 0)
			return rc;
	skip_spaces(ps);
	if (ps->p == ps->end) {
		char m[SHOW_SZ];

		return fail(ps, ps->p, "field key", "missing fields after '%s'",
			    show_name(m, pt->measurement));
	}
	if ((rc = parse_fields(ps)) != 0)
		return rc;
	skip_spaces(ps);
	if (ps->p < ps->end && (rc = parse_timestamp(ps, pt)) != 0)
		return rc;
	pt->tags = ps->tags;
	pt->ntags = ps->ntags;
	pt->fields = ps->fields;
	pt->nfields = ps->nfields;
	return 0;
}

/* ---- lines --------------------------------------------------------------- */

static bool is_key_special(char c)
{
	return c == ',' || c == '=' || c == ' ';
}

/*
 * Returns the end of the logical line starting at p: the first '\n' that is
 * not inside a quoted string value, or end.  *nl counts the '\n' stepped over
 * inside strings.  It tracks the same states as the parser (key section,
 * field key, unquoted value, string, timestamp) so both agree on where
 * strings are; on a malformed line the parser reports an error first.
 */
static const char *line_end(const char *p, const char *end, int *nl)
{
	enum { KEY, FKEY, FVAL, FSTR, TAIL } st = KEY;
	const char *eol = memchr(p, '\n', (size_t)(end - p));

	*nl = 0;
	/* Only a string value can hold a '\n', and it starts with a '"'. */
	if (!memchr(p, '"', (size_t)((eol ? eol : end) - p)))
		return eol ? eol : end;
	for (; p < end; p++) {
		if (st == FSTR) {
			if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
				p++;
			else if (*p == '"')
				st = FVAL;
			else if (*p == '\n' && *nl < INT_MAX)
				(*nl)++;
			continue;
		}
		if (*p == '\n')
			break;
		if (*p == '\\' && (st == KEY || st == FKEY) && p + 1 < end &&
		    is_key_special(p[1])) {
			p++; /* an escaped separator is part of the name */
		} else if (st == KEY && *p == ' ') {
			st = FKEY;
		} else if (st == FKEY && *p == '=') {
			st = p + 1 < end && p[1] == '"' ? FSTR : FVAL;
			p += st == FSTR; /* step onto the opening quote */
		} else if (st == FVAL && (*p == ',' || *p == ' ')) {
			st = *p == ',' ? FKEY : TAIL;
		}
	}
	return p;
}

/* Makes scratch hold at least need bytes (invariant 3), growing geometrically. */
static void scratch_reserve(struct lp_parser *ps, size_t need)
{
	if (need <= ps->cap)
		return;
	ps->cap = need > ps->cap * 2 ? need : ps->cap * 2;
	ps->scratch = xrealloc(ps->scratch, ps->cap);
}

/*
 * Parses the point in [start, end) whose physical line begins at line, and
 * hands it to cb.
 */
static int parse_line(struct lp_parser *ps, const char *line, int lineno, const char *start,
		      const char *end, lp_point_cb cb, void *ud)
{
	struct lp_point pt = { .line = lineno };
	int rc;

	scratch_reserve(ps, (size_t)(end - start) + 1);
	ps->line = line;
	ps->lineno = lineno;
	ps->p = start;
	ps->end = end;
	ps->used = 0;
	ps->ntags = 0;
	ps->nfields = 0;
	if ((rc = parse_point(ps, &pt)) != 0)
		return rc;
	return cb(ud, &pt);
}

int lineproto_parse(const char *buf, size_t len, lp_point_cb cb, void *ud, struct lp_error *err)
{
	struct lp_error ignored;
	struct lp_parser *ps;
	const char *p = buf, *bend = buf + len;
	int lineno = 1, rc = 0;

	if (!err)
		err = &ignored; /* the header requires err; this keeps a slip harmless */
	memset(err, 0, sizeof(*err));
	if (len == 0)
		return 0;
	ps = xcalloc(1, sizeof(*ps));
	ps->err = err;
	while (p < bend && rc == 0) {
		const char *start = p, *eol, *end;
		int nl = 0;

		while (start < bend && (*start == ' ' || *start == '\t'))
			start++;
		if (start < bend && *start == '#') {
			eol = memchr(start, '\n', (size_t)(bend - start));
			eol = eol ? eol : bend;
		} else {
			eol = line_end(start, bend, &nl);
		}
		end = eol > start && eol[-1] == '\r' ? eol - 1 : eol;
		if (start < end && *start != '#')
			rc = parse_line(ps, p, lineno, start, end, cb, ud);
		lineno = lineno > INT_MAX - 1 - nl ? INT_MAX : lineno + 1 + nl;
		p = eol < bend ? eol + 1 : bend;
	}
	free(ps->scratch);
	free(ps);
	return rc;
}

/* ---- time ---------------------------------------------------------------- */

/* Floor division for d > 0: rounds toward negative infinity, as promised. */
static int64_t floor_div(int64_t t, int64_t d)
{
	int64_t q = t / d;

	if (t % d != 0 && t < 0)
		q--;
	return q;
}

/*
 * Precisions InfluxDB accepts for ?precision=, as divisor or multiplier from
 * the written unit to milliseconds ("" is the default, nanoseconds).
 */
static const struct {
	const char *name;
	struct lp_precision p;
} precisions[] = {
	{ "", { 1000000, 1 } }, { "ns", { 1000000, 1 } }, { "us", { 1000, 1 } },
	{ "u", { 1000, 1 } },	{ "ms", { 1, 1 } },	  { "s", { 1, 1000 } },
};

int lineproto_precision(const char *name, struct lp_precision *out)
{
	for (size_t i = 0; i < sizeof(precisions) / sizeof(precisions[0]); i++) {
		if (strcmp(precisions[i].name, name ? name : "") == 0) {
			*out = precisions[i].p;
			return 0;
		}
	}
	return KW_EINVAL;
}

int lineproto_time_to_ms(int64_t t, const struct lp_precision *p, int64_t *out_ms)
{
	int64_t ms;

	/* Seconds can overflow int64 milliseconds; say so, never wrap. */
	if (__builtin_mul_overflow(t, p->mul, &ms))
		return KW_EINVAL;
	*out_ms = p->div == 1 ? ms : floor_div(ms, p->div); /* no division per line for s, ms */
	return 0;
}
