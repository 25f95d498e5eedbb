/*
 * test_lineproto.c - unit tests for src/ingest/lineproto.c.
 *
 * Every input is copied into a heap buffer of exactly its length, without a
 * NUL, so AddressSanitizer catches any read past len (invariant 1).  Points
 * are deep-copied by the callback because their strings die when it returns
 * (invariant 2), and each test asserts concrete values or the exact error
 * line, column and field, so a behaviour change breaks a test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/lineproto.h"

#define MAXP 8	 /* points kept per test */
#define MAXT 8	 /* tags kept per point */
#define MAXF 8	 /* fields kept per point */
#define STR  256 /* bytes kept per string */

struct got_field {
	char key[STR];
	enum lp_type type;
	double f;
	int64_t i;
	uint64_t u;
	bool b;
	char s[STR];
};

struct got_point {
	char meas[STR];
	size_t ntags;
	char tk[MAXT][STR];
	char tv[MAXT][STR];
	size_t nfields;
	struct got_field f[MAXF];
	bool has_time;
	int64_t time;
	int line;
};

struct got {
	int n;	     /* callbacks run */
	int stop_at; /* return stop_rc from this callback (1-based), 0: never */
	int stop_rc;
	size_t last_slen; /* strlen of the last point's first string field */
	struct got_point p[MAXP];
};

static struct got G;
static struct lp_error E;

static void copy(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= STR)
		n = STR - 1; /* long strings are checked through last_slen */
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int collect(void *ud, const struct lp_point *pt)
{
	struct got *g = ud;
	struct got_point *gp;

	g->n++;
	if (g->n <= MAXP) {
		gp = &g->p[g->n - 1];
		copy(gp->meas, pt->measurement);
		gp->ntags = pt->ntags;
		for (size_t i = 0; i < pt->ntags && i < MAXT; i++) {
			copy(gp->tk[i], pt->tags[i].key);
			copy(gp->tv[i], pt->tags[i].value);
		}
		gp->nfields = pt->nfields;
		for (size_t i = 0; i < pt->nfields && i < MAXF; i++) {
			struct got_field *f = &gp->f[i];

			copy(f->key, pt->fields[i].key);
			f->type = pt->fields[i].type;
			f->f = f->type == LP_FLOAT ? pt->fields[i].v.f : 0;
			f->i = f->type == LP_INT ? pt->fields[i].v.i : 0;
			f->u = f->type == LP_UINT ? pt->fields[i].v.u : 0;
			f->b = f->type == LP_BOOL ? pt->fields[i].v.b : false;
			if (f->type == LP_STRING)
				copy(f->s, pt->fields[i].v.s);
		}
		gp->has_time = pt->has_time;
		gp->time = pt->time;
		gp->line = pt->line;
	}
	if (pt->nfields > 0 && pt->fields[0].type == LP_STRING)
		g->last_slen = strlen(pt->fields[0].v.s);
	if (g->stop_at == g->n)
		return g->stop_rc;
	return 0;
}

/* Parses text[0..len) from an exact-size, unterminated heap copy. */
static int parse_n(const char *text, size_t len)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, text, len);
	memset(&G, 0, sizeof(G));
	memset(&E, 0x55, sizeof(E)); /* the parser must reset it */
	rc = lineproto_parse(buf, len, collect, &G, &E);
	free(buf);
	return rc;
}

static int parse(const char *text)
{
	return parse_n(text, strlen(text));
}

/* Asserts that text fails with the given line, column and field. */
static void expect_error(const char *text, int line, int column, const char *field)
{
	int rc = parse(text);

	if (rc != KW_EPARSE)
		print_error("input: %s\n", text);
	assert_int_equal(rc, KW_EPARSE);
	assert_int_equal(E.line, line);
	assert_int_equal(E.column, column);
	assert_string_equal(E.field, field);
	assert_true(strlen(E.message) > 0);
}

/* Parses a one-point line and returns its first field. */
static const struct got_field *one_field(const char *text)
{
	int rc = parse(text);

	if (rc != 0)
		print_error("input: %s: %s\n", text, E.message);
	assert_int_equal(rc, 0);
	assert_int_equal(G.n, 1);
	assert_true(G.p[0].nfields >= 1);
	return &G.p[0].f[0];
}

/* ---- syntax -------------------------------------------------------------- */

static void test_basic_point(void **state)
{
	const struct got_point *p;

	assert_int_equal(parse("cpu,host=a,region=eu power=12.5,count=3i,"
			       "big=7u,state=\"on\",ok=t 1700000000000000000\n"),
			 0);
	assert_int_equal(G.n, 1);
	p = &G.p[0];
	assert_string_equal(p->meas, "cpu");
	assert_int_equal(p->ntags, 2);
	assert_string_equal(p->tk[0], "host");
	assert_string_equal(p->tv[0], "a");
	assert_string_equal(p->tk[1], "region");
	assert_string_equal(p->tv[1], "eu");
	assert_int_equal(p->nfields, 5);
	assert_string_equal(p->f[0].key, "power");
	assert_int_equal(p->f[0].type, LP_FLOAT);
	assert_true(p->f[0].f == 12.5);
	assert_int_equal(p->f[1].type, LP_INT);
	assert_int_equal(p->f[1].i, 3);
	assert_int_equal(p->f[2].type, LP_UINT);
	assert_int_equal(p->f[2].u, 7);
	assert_int_equal(p->f[3].type, LP_STRING);
	assert_string_equal(p->f[3].s, "on");
	assert_int_equal(p->f[4].type, LP_BOOL);
	assert_true(p->f[4].b);
	assert_true(p->has_time);
	assert_int_equal(p->time, 1700000000000000000LL);
	assert_int_equal(p->line, 1);
	assert_int_equal(E.line, 0); /* err is cleared on success */
}

static void test_no_tags_no_timestamp(void **state)
{
	assert_int_equal(parse("m v=1"), 0);
	assert_int_equal(G.n, 1);
	assert_string_equal(G.p[0].meas, "m");
	assert_int_equal(G.p[0].ntags, 0);
	assert_int_equal(G.p[0].nfields, 1);
	assert_false(G.p[0].has_time);
}

static void test_spaces_between_sections(void **state)
{
	/* Leading blanks are skipped; several spaces separate sections. */
	assert_int_equal(parse(" \t m,t=x   v=2i     -42   "), 0);
	assert_int_equal(G.n, 1);
	assert_string_equal(G.p[0].meas, "m");
	assert_string_equal(G.p[0].tv[0], "x");
	assert_int_equal(G.p[0].f[0].i, 2);
	assert_true(G.p[0].has_time);
	assert_int_equal(G.p[0].time, -42);
}

static void test_trailing_space_without_timestamp(void **state)
{
	assert_int_equal(parse("m v=1 \nm w=2   \n"), 0);
	assert_int_equal(G.n, 2);
	assert_false(G.p[0].has_time);
	assert_false(G.p[1].has_time);
	assert_string_equal(G.p[1].f[0].key, "w");
}

static void test_tab_is_not_a_separator(void **state)
{
	/* "m\tv=1" is one measurement name with no fields, as in InfluxDB. */
	expect_error("m\tv=1", 1, 6, "field key");
}

static void test_measurement_escapes(void **state)
{
	assert_int_equal(parse("my\\ meas\\,x,t=1 v=1"), 0);
	assert_string_equal(G.p[0].meas, "my meas,x");
	assert_string_equal(G.p[0].tk[0], "t");
	/* '=' needs no escape in a measurement, and "\=" is kept literally. */
	assert_int_equal(parse("a=b\\=c v=1"), 0);
	assert_string_equal(G.p[0].meas, "a=b\\=c");
}

static void test_tag_escapes(void **state)
{
	assert_int_equal(parse("m,ke\\ y\\,\\==va\\ l\\,\\= v=1"), 0);
	assert_int_equal(G.p[0].ntags, 1);
	assert_string_equal(G.p[0].tk[0], "ke y,=");
	assert_string_equal(G.p[0].tv[0], "va l,=");
}

static void test_field_key_escapes(void **state)
{
	const struct got_field *f = one_field("m f\\ k\\,\\==1i");

	assert_string_equal(f->key, "f k,=");
	assert_int_equal(f->i, 1);
}

static void test_backslash_before_other_chars_kept(void **state)
{
	assert_int_equal(parse("c:\\dir,t=a\\b\\\\c f\\x=1"), 0);
	assert_string_equal(G.p[0].meas, "c:\\dir");
	assert_string_equal(G.p[0].tv[0], "a\\b\\\\c");
	assert_string_equal(G.p[0].f[0].key, "f\\x");
	/* A backslash at the very end of a name is kept too. */
	assert_int_equal(parse("m,t=x\\"), KW_EPARSE); /* no fields */
	assert_int_equal(parse("m f\\=1"), KW_EPARSE); /* '=' escaped away */
	assert_string_equal(E.field, "field key");
}

static void test_double_backslash_does_not_escape(void **state)
{
	/*
	 * "\\," is a literal backslash then an escaped comma (InfluxDB scans
	 * tags this way), so here the '=' that follows lands in the tag value.
	 */
	expect_error("m,t=a\\\\,u=1 v=1", 1, 10, "tag");
	assert_non_null(strstr(E.message, "unescaped '='"));
}

static char *escape(char *dst, const char *src, const char *special)
{
	char *o = dst;

	for (; *src; src++) {
		if (strchr(special, *src))
			*o++ = '\\';
		*o++ = *src;
	}
	*o = '\0';
	return dst;
}

static void test_escape_round_trip(void **state)
{
	static const char *const names[] = {
		"plain",
		"with space",
		"comma,here",
		"eq=sign",
		"back\\slash",
		"mix \\, =\\=",
		"\303\274nic\303\270de \342\202\254",
		"\"quoted\"",
	};
	static const char *const strings[] = {
		"",	      "a\"b",		"back\\slash",
		"trailing\\", "multi\nline",	"comma, space= eq",
		"\\\"",	      "#not a comment",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char m[64], k[64], s[64], line[512];
		const struct got_point *p;

		snprintf(line, sizeof(line), "%s,%s=%s %s=\"%s\",n=%zui 5\n",
			 escape(m, names[i], ", "), escape(k, names[i], ",= "), k, k,
			 escape(s, strings[i], "\"\\"), i);
		assert_int_equal(parse(line), 0);
		assert_int_equal(G.n, 1);
		p = &G.p[0];
		assert_string_equal(p->meas, names[i]);
		assert_string_equal(p->tk[0], names[i]);
		assert_string_equal(p->tv[0], names[i]);
		assert_string_equal(p->f[0].key, names[i]);
		assert_int_equal(p->f[0].type, LP_STRING);
		assert_string_equal(p->f[0].s, strings[i]);
		assert_int_equal(p->f[1].i, (int64_t)i);
		assert_int_equal(p->time, 5);
	}
}

static void test_boolean_spellings(void **state)
{
	static const struct {
		const char *text;
		bool v;
	} cases[] = {
		{ "t", true },	    { "T", true },	{ "true", true }, { "True", true },
		{ "TRUE", true },   { "f", false },	{ "F", false },	  { "false", false },
		{ "False", false }, { "FALSE", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[64];
		const struct got_field *f;

		snprintf(line, sizeof(line), "m b=%s,x=1", cases[i].text);
		f = one_field(line);
		assert_int_equal(f->type, LP_BOOL);
		assert_int_equal(f->b, cases[i].v);
	}
}

static void test_boolean_invalid(void **state)
{
	static const char *const bad[] = { "tRUE", "TRue", "fAlse", "tru", "ture", "Falsey" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64], msg[128];

		snprintf(line, sizeof(line), "m ok=%s", bad[i]);
		expect_error(line, 1, 6, "ok");
		snprintf(msg, sizeof(msg), "invalid boolean value '%s' for field 'ok'", bad[i]);
		assert_string_equal(E.message, msg);
	}
}

static void test_int_bounds(void **state)
{
	assert_int_equal(one_field("m v=9223372036854775807i")->i, INT64_MAX);
	assert_int_equal(one_field("m v=-9223372036854775808i")->i, INT64_MIN);
	assert_int_equal(one_field("m v=-0i")->i, 0);
	assert_int_equal(one_field("m v=007i")->i, 7);
	expect_error("m v=9223372036854775808i", 1, 5, "v");
	assert_string_equal(E.message, "integer value '9223372036854775808i' out of "
				       "range for field 'v'");
	expect_error("m v=-9223372036854775809i", 1, 5, "v");
	expect_error("m v=99999999999999999999999i", 1, 5, "v");
}

static void test_int_invalid(void **state)
{
	expect_error("m power=12xi", 1, 9, "power");
	assert_string_equal(E.message, "invalid integer value '12xi' for field 'power'");
	expect_error("m v=1.5i", 1, 5, "v");
	expect_error("m v=1e3i", 1, 5, "v");
	expect_error("m v=-i", 1, 5, "v");
	expect_error("m v=+1i", 1, 5, "v");
	expect_error("m v=1ii", 1, 5, "v");
	expect_error("m v=9i10", 1, 5, "v");
}

static void test_uint_bounds(void **state)
{
	const struct got_field *f = one_field("m v=18446744073709551615u");

	assert_int_equal(f->type, LP_UINT);
	assert_true(f->u == UINT64_MAX);
	assert_true(one_field("m v=0u")->u == 0);
	expect_error("m v=18446744073709551616u", 1, 5, "v");
	assert_non_null(strstr(E.message, "out of range"));
	expect_error("m v=-1u", 1, 5, "v");
	assert_string_equal(E.message, "invalid unsigned integer value '-1u' for field 'v'");
	expect_error("m v=1.0u", 1, 5, "v");
}

static void test_float_forms(void **state)
{
	static const struct {
		const char *text;
		double v;
	} cases[] = {
		{ "1", 1.0 },		{ "1.", 1.0 },
		{ ".5", 0.5 },		{ "-.5", -0.5 },
		{ "-1.5e-3", -1.5e-3 }, { "1E5", 1e5 },
		{ "2e+3", 2e3 },	{ "0", 0.0 },
		{ "-0", -0.0 },		{ "1.7976931348623157e308", 1.7976931348623157e308 },
		{ "1e-400", 0.0 }, /* underflow rounds to zero, as strconv does */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[64];
		const struct got_field *f;

		snprintf(line, sizeof(line), "m v=%s", cases[i].text);
		f = one_field(line);
		assert_int_equal(f->type, LP_FLOAT);
		assert_true(f->f == cases[i].v);
	}
}

static void test_float_invalid(void **state)
{
	static const char *const bad[] = {
		"1.2.3", "1e",	 "1e+",	  "--1",   "1ee5", ".",	   "-",
		"-.",	 "0x10", "1_000", "1e5.5", ".e5",  "1e5e", "12x"
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64], msg[128];

		snprintf(line, sizeof(line), "m v=%s", bad[i]);
		expect_error(line, 1, 5, "v");
		snprintf(msg, sizeof(msg), "invalid numeric value '%s' for field 'v'", bad[i]);
		assert_string_equal(E.message, msg);
	}
	expect_error("m power=12x", 1, 9, "power");
	assert_string_equal(E.message, "invalid numeric value '12x' for field 'power'");
}

static void test_float_out_of_range(void **state)
{
	expect_error("m v=1e400", 1, 5, "v");
	assert_string_equal(E.message, "float value '1e400' out of range for field 'v'");
	expect_error("m v=-1e309", 1, 5, "v");
}

/* ---- floats are strtod()'s, bit for bit ----------------------------------- */

#define NCHECK 1000 /* tokens per parse */

struct float_check {
	char tok[NCHECK][80];
	double want[NCHECK];
	int n; /* points checked */
};

static int check_float(void *ud, const struct lp_point *pt)
{
	struct float_check *c = ud;
	double got = pt->fields[0].v.f, want = c->want[pt->line - 1];

	if (pt->fields[0].type != LP_FLOAT || memcmp(&got, &want, sizeof(got)) != 0)
		fail_msg("'%s': got %a, strtod gives %a", c->tok[pt->line - 1], got, want);
	c->n++;
	return 0;
}

/* Parses every token of c as "m v=TOKEN" lines, checking each value. */
static void check_floats(struct float_check *c, int ntok)
{
	size_t cap = (size_t)ntok * 90, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (int i = 0; i < ntok; i++) {
		c->want[i] = strtod(c->tok[i], NULL);
		len += (size_t)snprintf(buf + len, cap - len, "m v=%s\n", c->tok[i]);
	}
	c->n = 0;
	if (lineproto_parse(buf, len, check_float, c, &E) != 0)
		fail_msg("line %d: %s", E.line, E.message);
	assert_int_equal(c->n, ntok);
	free(buf);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Appends k random digits to t. */
static void digits(char *t, size_t *len, int k, uint64_t *s)
{
	for (int i = 0; i < k; i++)
		t[(*len)++] = (char)('0' + rnd(s) % 10);
}

/*
 * The parser converts some floats itself (exact_float) and the rest with
 * strtod(); either way the double must be strtod()'s.  Random tokens cover
 * both sides of every limit of the fast path: 19 digits, 2^53, 10^22.
 */
static void test_float_matches_strtod(void **state)
{
	static const char *const edges[] = {
		"9007199254740992",
		"9007199254740993",
		"-9007199254740993e-22",
		"9007199254740992e22",
		"9007199254740992e23",
		"1e22",
		"1e23",
		"1e-22",
		"1e-23",
		"0.1",
		"-0.0",
		"-0e5",
		"0000000000000000000001",
		"1234567890123456789",
		"12345678901234567890",
		"0.30000000000000004",
		"4.35",
		"2.2250738585072014e-308",
		"123456789012345678e-22",
		"1.e001",
		"-.0001E-019",
		"17976931348623157e292",
		"5e-324",
		"0.000000000000000000001",
	};
	struct float_check *c = calloc(1, sizeof(*c));
	uint64_t seed = 0x9E3779B97F4A7C15u;
	int n = 0;

	assert_non_null(c);
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		snprintf(c->tok[n++], sizeof(c->tok[0]), "%s", edges[i]);
	check_floats(c, n);
	for (int round = 0; round < 200; round++) {
		for (n = 0; n < NCHECK; n++) {
			char *t = c->tok[n];
			size_t len = 0;
			int ni = (int)(rnd(&seed) % 21), nf = (int)(rnd(&seed) % 21);

			if (rnd(&seed) % 3 == 0)
				t[len++] = '-';
			digits(t, &len, ni, &seed);
			if (ni == 0 || rnd(&seed) % 2) {
				t[len++] = '.';
				digits(t, &len, ni || nf ? nf : 1, &seed);
			}
			if (rnd(&seed) % 2) {
				int nx = 1 + (int)(rnd(&seed) % 3);

				t[len++] = rnd(&seed) % 2 ? 'e' : 'E';
				if (rnd(&seed) % 2)
					t[len++] = rnd(&seed) % 2 ? '-' : '+';
				if (nx == 3)
					t[len++] = (char)('0' + rnd(&seed) % 2); /* at most 199 */
				digits(t, &len, nx == 3 ? 2 : nx, &seed);
			}
			t[len] = '\0';
		}
		check_floats(c, NCHECK);
	}
	free(c);
}

static void test_nan_inf_rejected(void **state)
{
	static const char *const bad[] = { "nan", "NaN",      "inf",	   "-inf",
					   "Inf", "infinity", "+Infinity", "-nan" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "m v=%s", bad[i]);
		expect_error(line, 1, 5, "v");
		assert_non_null(strstr(E.message, "NaN and infinity are not allowed"));
	}
}

static void test_other_value_invalid(void **state)
{
	expect_error("m v=abc", 1, 5, "v");
	assert_string_equal(E.message, "invalid field value 'abc' for field 'v'");
	expect_error("m v='x'", 1, 5, "v");
}

static void test_string_escapes(void **state)
{
	const struct got_field *f = one_field("m s=\"a \\\"q\\\" b\\\\c\\d\"");

	assert_int_equal(f->type, LP_STRING);
	assert_string_equal(f->s, "a \"q\" b\\c\\d");
	/* An escaped backslash may end the string. */
	assert_string_equal(one_field("m s=\"a\\\\\"")->s, "a\\");
	assert_string_equal(one_field("m s=\"\"")->s, "");
}

static void test_string_with_separators(void **state)
{
	const struct got_field *f = one_field("m s=\"a, b=c d\",x=1 77");

	assert_string_equal(f->s, "a, b=c d");
	assert_int_equal(G.p[0].nfields, 2);
	assert_true(G.p[0].f[1].f == 1.0);
	assert_int_equal(G.p[0].time, 77);
}

static void test_string_with_newline(void **state)
{
	/* InfluxDB 1.x lets a quoted string span lines; lines stay physical. */
	assert_int_equal(parse("m s=\"one\ntwo\",v=1i 9\nm s=\"x\" 10\n"), 0);
	assert_int_equal(G.n, 2);
	assert_string_equal(G.p[0].f[0].s, "one\ntwo");
	assert_int_equal(G.p[0].f[1].i, 1);
	assert_int_equal(G.p[0].time, 9);
	assert_int_equal(G.p[0].line, 1);
	assert_int_equal(G.p[1].line, 3);
	assert_string_equal(G.p[1].f[0].s, "x");
}

static void test_error_position_after_multiline_string(void **state)
{
	/* The bad value is on physical line 3, column 7. */
	expect_error("m v=1\nm s=\"a\nbc\",x=12x\n", 3, 7, "x");
	assert_int_equal(G.n, 1);
}

static void test_string_unterminated(void **state)
{
	expect_error("m s=\"abc", 1, 5, "s");
	assert_string_equal(E.message, "unterminated string value for field 's'");
	/* An escaped quote does not close it. */
	expect_error("m s=\"abc\\\"", 1, 5, "s");
	/* An open string swallows the rest of the body; the error names its start. */
	expect_error("m v=1\nm s=\"abc\nm v=2\n", 2, 5, "s");
	assert_int_equal(G.n, 1);
}

static void test_string_followed_by_garbage(void **state)
{
	expect_error("m s=\"a\"b", 1, 8, "s");
	assert_string_equal(E.message, "unexpected text after string value for field 's'");
}

static void test_comments_and_blank_lines(void **state)
{
	assert_int_equal(parse("# header\n\n   \n\t# indented comment s=\"x\n"
			       "m v=1\n#m v=2\n\n"),
			 0);
	assert_int_equal(G.n, 1);
	assert_int_equal(G.p[0].line, 5);
	assert_true(G.p[0].f[0].f == 1.0);
}

static void test_crlf(void **state)
{
	assert_int_equal(parse("m,t=a v=1 123\r\n\r\nm s=\"x\"\r\nm v=2\r"), 0);
	assert_int_equal(G.n, 3);
	assert_string_equal(G.p[0].tv[0], "a");
	assert_int_equal(G.p[0].time, 123);
	assert_string_equal(G.p[1].f[0].s, "x");
	assert_int_equal(G.p[1].line, 3);
	assert_true(G.p[2].f[0].f == 2.0);
	/* Only one trailing '\r' is line ending; an inner one is data. */
	expect_error("m v=1\r\r\n", 1, 5, "v");
}

static void test_empty_input(void **state)
{
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("\n\n  \n# only comments"), 0);
	assert_int_equal(G.n, 0);
	assert_int_equal(lineproto_parse(NULL, 0, collect, &G, &E), 0);
}

/* ---- errors -------------------------------------------------------------- */

static void test_missing_fields(void **state)
{
	expect_error("cpu", 1, 4, "field key");
	assert_string_equal(E.message, "missing fields after 'cpu'");
	expect_error("cpu,host=a", 1, 11, "field key");
	expect_error("cpu   ", 1, 7, "field key");
	expect_error("cpu,host=a  \r\n", 1, 13, "field key");
}

static void test_missing_field_value(void **state)
{
	expect_error("m v=", 1, 5, "v");
	assert_string_equal(E.message, "missing value for field 'v'");
	expect_error("m v=,w=1", 1, 5, "v");
	expect_error("m v= 1", 1, 5, "v");
	expect_error("m a=1,my\\ key= 1", 1, 15, "my key");
}

static void test_missing_field_key(void **state)
{
	expect_error("m =1", 1, 3, "field key");
	assert_string_equal(E.message, "missing field key");
	expect_error("m v=1,", 1, 7, "field key");
	expect_error("m v=1,,w=2", 1, 7, "field key");
	expect_error("m v=1, w=2", 1, 7, "field key");
}

static void test_missing_field_equals(void **state)
{
	expect_error("m v", 1, 4, "field key");
	assert_string_equal(E.message, "missing '=' after field key 'v'");
	expect_error("m v,w=1", 1, 4, "field key");
	expect_error("m v=1,w x=2", 1, 8, "field key");
}

static void test_bad_timestamp(void **state)
{
	expect_error("m v=1 12a", 1, 7, "timestamp");
	assert_string_equal(E.message, "invalid timestamp '12a'");
	expect_error("m v=1 1.5", 1, 7, "timestamp");
	expect_error("m v=1 -", 1, 7, "timestamp");
	expect_error("m v=1 +5", 1, 7, "timestamp");
	expect_error("m v=1 9223372036854775808", 1, 7, "timestamp");
	assert_string_equal(E.message, "timestamp '9223372036854775808' out of range");
	expect_error("m v=1 123 456", 1, 11, "timestamp");
	assert_string_equal(E.message, "unexpected text '456' after timestamp");
	/* Fields after a space are not fields any more. */
	expect_error("m v=1 w=2", 1, 7, "timestamp");
}

static void test_timestamp_bounds(void **state)
{
	assert_int_equal(parse("m v=1 9223372036854775807\nm v=1 -9223372036854775808 "), 0);
	assert_int_equal(G.n, 2);
	assert_int_equal(G.p[0].time, INT64_MAX);
	assert_int_equal(G.p[1].time, INT64_MIN);
	assert_true(G.p[1].has_time);
}

static void test_missing_measurement(void **state)
{
	expect_error(",t=1 v=1", 1, 1, "measurement");
	expect_error("  ,t=1 v=1", 1, 3, "measurement");
	assert_string_equal(E.message, "missing measurement name");
}

static void test_tag_empty_value(void **state)
{
	expect_error("m,t= v=1", 1, 5, "tag");
	assert_string_equal(E.message, "empty value for tag 't'");
	expect_error("m,t=,u=1 v=1", 1, 5, "tag");
	expect_error("m,t=", 1, 5, "tag");
}

static void test_tag_missing_key_or_equals(void **state)
{
	expect_error("m,=x v=1", 1, 3, "tag");
	assert_string_equal(E.message, "missing tag key");
	expect_error("m, v=1", 1, 3, "tag");
	expect_error("m,t=a, v=1", 1, 7, "tag");
	expect_error("m,t v=1", 1, 4, "tag");
	assert_string_equal(E.message, "missing '=' after tag key 't'");
	expect_error("m,t,u=1 v=1", 1, 4, "tag");
}

static void test_tag_unescaped_equals(void **state)
{
	expect_error("m,t=a=b v=1", 1, 6, "tag");
	assert_string_equal(E.message,
			    "invalid value for tag 't': unescaped '=' (write it as \\=)");
	assert_int_equal(parse("m,t=a\\=b v=1"), 0);
	assert_string_equal(G.p[0].tv[0], "a=b");
}

static void test_tag_duplicate(void **state)
{
	expect_error("m,a=1,b=2,a=3 v=1", 1, 11, "tag");
	assert_string_equal(E.message, "duplicate tag key 'a'");
	/* Keys are compared unescaped. */
	expect_error("m,a\\ b=1,a\\ b=2 v=1", 1, 10, "tag");
}

static void test_duplicate_field_keeps_last(void **state)
{
	const struct got_point *p;

	assert_int_equal(parse("m a=1,b=2i,a=\"x\",b=3i"), 0);
	p = &G.p[0];
	assert_int_equal(p->nfields, 2);
	assert_string_equal(p->f[0].key, "a");
	assert_int_equal(p->f[0].type, LP_STRING);
	assert_string_equal(p->f[0].s, "x");
	assert_string_equal(p->f[1].key, "b");
	assert_int_equal(p->f[1].i, 3);
}

static void test_nul_byte_rejected(void **state)
{
	static const char in1[] = "cp\0u v=1";
	static const char in2[] = "m s=\"a\0b\"";
	static const char in3[] = "m,t=\0 v=1";

	assert_int_equal(parse_n(in1, sizeof(in1) - 1), KW_EPARSE);
	assert_int_equal(E.column, 3);
	assert_string_equal(E.field, "measurement");
	assert_int_equal(parse_n(in2, sizeof(in2) - 1), KW_EPARSE);
	assert_int_equal(E.column, 7);
	assert_string_equal(E.field, "s");
	assert_int_equal(parse_n(in3, sizeof(in3) - 1), KW_EPARSE);
	assert_string_equal(E.field, "tag");
	assert_int_equal(G.n, 0);
}

static void test_input_not_nul_terminated(void **state)
{
	/* Inputs that end where a scanner would look one byte ahead. */
	static const char *const cases[] = {
		"m,t=a\\",   "m v=\"a\\", "m v=\"", "m v=-",  "m v=1 -", "m\\", "m v=t",
		"m v=1 1\r", "m v\\",	  "m v=1i", "m v=1u", "m v=1.",	 "\\",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i]);

		assert_true(rc == 0 || rc == KW_EPARSE);
	}
	assert_int_equal(parse("m v=1."), 0);
	assert_true(G.p[0].f[0].f == 1.0);
}

static void test_error_on_line_3(void **state)
{
	int rc = parse("m v=1 1\nm v=2 2\nm v=x 3\nm v=4 4\n");

	assert_int_equal(rc, KW_EPARSE);
	assert_int_equal(E.line, 3);
	assert_int_equal(E.column, 5);
	assert_string_equal(E.field, "v");
	assert_int_equal(G.n, 2);
	assert_int_equal(G.p[0].line, 1);
	assert_int_equal(G.p[0].time, 1);
	assert_int_equal(G.p[1].line, 2);
	assert_int_equal(G.p[1].time, 2);
}

static void test_callback_stops_parsing(void **state)
{
	static const char in[] = "m v=1\nm v=2\nm v=3\n";
	int rc;

	memset(&G, 0, sizeof(G));
	G.stop_at = 2;
	G.stop_rc = 42;
	rc = lineproto_parse(in, sizeof(in) - 1, collect, &G, &E);
	assert_int_equal(rc, 42);
	assert_int_equal(G.n, 2);
	/* A negative code (say, a full queue) passes through unchanged too. */
	memset(&G, 0, sizeof(G));
	G.stop_at = 1;
	G.stop_rc = KW_ETOOBIG;
	assert_int_equal(lineproto_parse(in, sizeof(in) - 1, collect, &G, &E), KW_ETOOBIG);
	assert_int_equal(G.n, 1);
}

/* ---- limits -------------------------------------------------------------- */

/* Builds "m,k0=v,...  f0=1,... " with ntags tags and nfields fields named
 * distinctly, or all named "a" when same_field. */
static char *build_line(int ntags, int nfields, bool same_field)
{
	size_t cap = 32 + (size_t)(ntags + nfields) * 16;
	char *s = malloc(cap);
	size_t o = 0;

	assert_non_null(s);
	o += (size_t)snprintf(s + o, cap - o, "m");
	for (int i = 0; i < ntags; i++)
		o += (size_t)snprintf(s + o, cap - o, ",k%d=v", i);
	for (int i = 0; i < nfields; i++) {
		if (same_field)
			o += (size_t)snprintf(s + o, cap - o, "%ca=%d", i ? ',' : ' ', i);
		else
			o += (size_t)snprintf(s + o, cap - o, "%cf%d=%d", i ? ',' : ' ', i, i);
	}
	return s;
}

static void test_max_tags(void **state)
{
	char *ok = build_line(LP_MAX_TAGS, 1, false);
	char *bad = build_line(LP_MAX_TAGS + 1, 1, false);

	assert_int_equal(parse(ok), 0);
	assert_int_equal(G.p[0].ntags, LP_MAX_TAGS);
	assert_int_equal(parse(bad), KW_EPARSE);
	assert_string_equal(E.field, "tag");
	assert_int_equal(E.line, 1);
	assert_non_null(strstr(E.message, "too many tags"));
	free(ok);
	free(bad);
}

static void test_max_fields(void **state)
{
	char *ok = build_line(0, LP_MAX_FIELDS, false);
	char *bad = build_line(0, LP_MAX_FIELDS + 1, false);
	char *dups = build_line(0, LP_MAX_FIELDS * 2, true);

	assert_int_equal(parse(ok), 0);
	assert_int_equal(G.p[0].nfields, LP_MAX_FIELDS);
	assert_int_equal(parse(bad), KW_EPARSE);
	assert_string_equal(E.field, "field key");
	assert_non_null(strstr(E.message, "too many fields"));
	/* Repeating one key does not use up slots: the last value is kept. */
	assert_int_equal(parse(dups), 0);
	assert_int_equal(G.p[0].nfields, 1);
	assert_true(G.p[0].f[0].f == LP_MAX_FIELDS * 2 - 1);
	free(ok);
	free(bad);
	free(dups);
}

static void test_long_lines(void **state)
{
	size_t n = 3u << 20; /* 3 MiB string value, then a 4002-byte float */
	size_t cap = n + 8192;
	char *s = malloc(cap);
	size_t o = 0;

	assert_non_null(s);
	memcpy(s, "m s=\"", 5);
	o = 5;
	memset(s + o, 'x', n);
	o += n;
	memcpy(s + o, "\"\nm s=\"y\",v=", 12);
	o += 12;
	memcpy(s + o, "1.", 2);
	o += 2;
	memset(s + o, '0', 4000);
	o += 4000;
	assert_int_equal(parse_n(s, o), 0);
	assert_int_equal(G.n, 2);
	assert_int_equal(G.p[0].nfields, 1);
	assert_int_equal(G.p[1].f[1].type, LP_FLOAT);
	assert_true(G.p[1].f[1].f == 1.0);
	assert_int_equal(G.p[1].line, 2);
	free(s);
	/* The first point's string arrived whole: check through a fresh parse. */
	s = malloc(n + 16);
	assert_non_null(s);
	memcpy(s, "m s=\"", 5);
	memset(s + 5, 'z', n);
	s[5 + n] = '"';
	assert_int_equal(parse_n(s, n + 6), 0);
	assert_int_equal(G.last_slen, n);
	free(s);
}

static void test_long_value_in_error_is_truncated(void **state)
{
	char line[1024];
	size_t mlen;

	/* A 200-byte key and a 500-byte bad value. */
	memcpy(line, "m ", 2);
	memset(line + 2, 'k', 200);
	line[202] = '=';
	memset(line + 203, '9', 500);
	memcpy(line + 703, "x", 2);
	expect_error(line, 1, 204,
		     "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...");
	assert_int_equal(strlen(E.field), sizeof(E.field) - 1); /* 60 'k' + "..." */
	mlen = strlen(E.message);
	assert_true(mlen < sizeof(E.message) - 1);
	assert_true(strncmp(E.message, "invalid numeric value '999", 26) == 0);
	assert_non_null(strstr(E.message, "...' for field 'kkk"));
	assert_string_equal(E.message + mlen - 5, "k...'");
}

static void test_error_text_is_sanitised(void **state)
{
	/* A control byte and invalid UTF-8 become '?'; valid UTF-8 stays. */
	expect_error("m v=1\x01\xff\xc3\xa9", 1, 5, "v");
	assert_string_equal(E.message, "invalid numeric value '1??\xc3\xa9' for field 'v'");
	/* A long multi-byte value is never cut inside a character. */
	{
		char line[256];
		size_t o = 4, q;

		memcpy(line, "m v=", 4);
		for (int i = 0; i < 40; i++) {
			memcpy(line + o, "\xe2\x82\xac", 3); /* U+20AC */
			o += 3;
		}
		line[o] = '\0';
		expect_error(line, 1, 5, "v");
		q = strlen("invalid field value '");
		assert_true(strncmp(E.message, "invalid field value '", q) == 0);
		/* 36 bytes of room hold 12 whole euro signs, then "...". */
		assert_true(strncmp(E.message + q + 36, "...'", 4) == 0);
		assert_true((unsigned char)E.message[q + 33] == 0xe2);
	}
}

/* ---- precision ----------------------------------------------------------- */

/* lineproto_time_to_ms() in the named precision. */
static int time_to_ms(int64_t t, const char *precision, int64_t *out)
{
	struct lp_precision p;

	assert_int_equal(lineproto_precision(precision, &p), 0);
	return lineproto_time_to_ms(t, &p, out);
}

static int64_t ms(int64_t t, const char *precision)
{
	int64_t out = 12345;

	assert_int_equal(time_to_ms(t, precision, &out), 0);
	return out;
}

static void test_time_ns(void **state)
{
	assert_int_equal(ms(1500000, NULL), 1);
	assert_int_equal(ms(1500000, ""), 1);
	assert_int_equal(ms(1500000, "ns"), 1);
	assert_int_equal(ms(1700000000123456789LL, "ns"), 1700000000123LL);
	assert_int_equal(ms(0, "ns"), 0);
	assert_int_equal(ms(-1, "ns"), -1);
	assert_int_equal(ms(-1000000, "ns"), -1);
	assert_int_equal(ms(-1000001, "ns"), -2);
	assert_int_equal(ms(INT64_MIN, "ns"), -9223372036855LL);
	assert_int_equal(ms(INT64_MAX, "ns"), 9223372036854LL);
}

static void test_time_us_ms(void **state)
{
	assert_int_equal(ms(1999, "us"), 1);
	assert_int_equal(ms(1999, "u"), 1);
	assert_int_equal(ms(-1, "us"), -1);
	assert_int_equal(ms(-1000, "u"), -1);
	assert_int_equal(ms(-1001, "us"), -2);
	assert_int_equal(ms(-7, "ms"), -7);
	assert_int_equal(ms(INT64_MIN, "ms"), INT64_MIN);
	assert_int_equal(ms(INT64_MAX, "ms"), INT64_MAX);
}

static void test_time_s(void **state)
{
	int64_t out = 99;

	assert_int_equal(ms(2, "s"), 2000);
	assert_int_equal(ms(-3, "s"), -3000);
	assert_int_equal(ms(INT64_MAX / 1000, "s"), INT64_MAX / 1000 * 1000);
	assert_int_equal(ms(INT64_MIN / 1000, "s"), INT64_MIN / 1000 * 1000);
	assert_int_equal(time_to_ms(INT64_MAX / 1000 + 1, "s", &out), KW_EINVAL);
	assert_int_equal(time_to_ms(INT64_MIN / 1000 - 1, "s", &out), KW_EINVAL);
	assert_int_equal(time_to_ms(INT64_MAX, "s", &out), KW_EINVAL);
	assert_int_equal(out, 99); /* untouched on error */
}

static void test_time_unknown_precision(void **state)
{
	static const char *const bad[] = { "n", "NS", "m", "h", "sec", "ms ", "us\n" };
	struct lp_precision p = { 7, 7 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lineproto_precision(bad[i], &p), KW_EINVAL);
	assert_int_equal(p.div, 7); /* untouched on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_point),
		cmocka_unit_test(test_no_tags_no_timestamp),
		cmocka_unit_test(test_spaces_between_sections),
		cmocka_unit_test(test_trailing_space_without_timestamp),
		cmocka_unit_test(test_tab_is_not_a_separator),
		cmocka_unit_test(test_measurement_escapes),
		cmocka_unit_test(test_tag_escapes),
		cmocka_unit_test(test_field_key_escapes),
		cmocka_unit_test(test_backslash_before_other_chars_kept),
		cmocka_unit_test(test_double_backslash_does_not_escape),
		cmocka_unit_test(test_escape_round_trip),
		cmocka_unit_test(test_boolean_spellings),
		cmocka_unit_test(test_boolean_invalid),
		cmocka_unit_test(test_int_bounds),
		cmocka_unit_test(test_int_invalid),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_float_forms),
		cmocka_unit_test(test_float_invalid),
		cmocka_unit_test(test_float_out_of_range),
		cmocka_unit_test(test_float_matches_strtod),
		cmocka_unit_test(test_nan_inf_rejected),
		cmocka_unit_test(test_other_value_invalid),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_string_with_separators),
		cmocka_unit_test(test_string_with_newline),
		cmocka_unit_test(test_error_position_after_multiline_string),
		cmocka_unit_test(test_string_unterminated),
		cmocka_unit_test(test_string_followed_by_garbage),
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_missing_field_value),
		cmocka_unit_test(test_missing_field_key),
		cmocka_unit_test(test_missing_field_equals),
		cmocka_unit_test(test_bad_timestamp),
		cmocka_unit_test(test_timestamp_bounds),
		cmocka_unit_test(test_missing_measurement),
		cmocka_unit_test(test_tag_empty_value),
		cmocka_unit_test(test_tag_missing_key_or_equals),
		cmocka_unit_test(test_tag_unescaped_equals),
		cmocka_unit_test(test_tag_duplicate),
		cmocka_unit_test(test_duplicate_field_keeps_last),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_input_not_nul_terminated),
		cmocka_unit_test(test_error_on_line_3),
		cmocka_unit_test(test_callback_stops_parsing),
		cmocka_unit_test(test_max_tags),
		cmocka_unit_test(test_max_fields),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_long_value_in_error_is_truncated),
		cmocka_unit_test(test_error_text_is_sanitised),
		cmocka_unit_test(test_time_ns),
		cmocka_unit_test(test_time_us_ms),
		cmocka_unit_test(test_time_s),
		cmocka_unit_test(test_time_unknown_precision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
