/*
 * tz.c - IANA time zones, civil time and local calendar grids (see tz.h).
 *
 * Design.  GLib's GTimeZone reads the system's TZif files, POSIX-rule footer
 * included: GLib 2.74 expands the footer into explicit transitions up to the
 * year 9999, so dates past 2037 keep their daylight saving time.  We ask it
 * one question only: which interval of constant offset holds a given UTC
 * second (g_time_zone_find_interval with G_TIME_TYPE_UNIVERSAL), and what is
 * that interval's offset.  The interval index never decreases as time goes
 * on, so the instant of any transition is found by bisection on it.  Civil
 * time, gaps, overlaps and the hour/day/week/month grids are computed here
 * from those two answers.  GLib's local-time lookups (G_TIME_TYPE_STANDARD or
 * _DAYLIGHT, g_time_zone_adjust_time) are deliberately unused: they choose
 * between overlapping intervals by the isdst flag and resolve a gap by moving
 * forward by the gap's length, and the contract wants neither.
 *
 * Known GLib flaw: a footer with negative DST, which only Europe/Dublin has
 * ("IST-1GMT0,M10.5.0,M3.5.0/1"), is expanded with a wrong winter offset
 * from 2038 on (+01:00, later +02:00, instead of +00:00).  Dublin's explicit
 * transitions run to 2037 and are right; summers stay right after that.
 *
 * Calendar arithmetic is Howard Hinnant's days_from_civil/civil_from_days on
 * the proleptic Gregorian calendar; timegm, mktime and friends are not used
 * because they depend on the TZ environment variable or are banned.
 *
 * Invariants:
 *  1. The offset at instant t (ms) is the offset of the GLib interval holding
 *     second floor(t / 1000); transitions fall on whole seconds.
 *  2. A transition is an instant where the offset changes.  GLib intervals
 *     that differ only in abbreviation or isdst flag are one run of constant
 *     offset, and never cut an hour.
 *  3. Every zone's offset stays within +-MAX_OFFSET_MS (tzdata's extreme is
 *     about 15:57 of local mean time); this bounds every search window.
 *  4. tz_from_civil(L) is the earliest instant whose local time is at or
 *     after L: the only instant in the normal case, the earlier one in an
 *     overlap, the moment the clocks jumped in a gap.
 *  5. Hour boundaries are the instants whose local time is a whole hour,
 *     plus every transition.  Day, week and month boundaries are the first
 *     instant of the local date (invariant 4 applied to midnight).  Hence
 *     for every grid start(t) <= t < next(start(t)), and consecutive
 *     periods tile the time line without overlapping.
 *  6. Instants are meaningful within +-T_LIMIT_MS (about 285,000 years) and
 *     are clamped to it, which keeps all arithmetic free of overflow.
 *
 * Threading: the zone cache is guarded by cache_lock.  A struct tz never
 * changes after it is published, and a GTimeZone is immutable and thread-safe
 * (GLib documents it so), so lookups on a zone need no lock at all.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "core/banned.h"

#define MS_PER_S      INT64_C(1000)
#define MS_PER_MIN    INT64_C(60000)
#define MS_PER_HOUR   INT64_C(3600000)
#define MS_PER_DAY    INT64_C(86400000)
#define MAX_OFFSET_MS (26 * MS_PER_HOUR)
#define T_LIMIT_MS    (INT64_C(1) << 53)
#define YEAR_LIMIT    (1 << 20)
#define TZ_NAME_MAX   128 /* bytes; the longest IANA name is 32 */

/*
 * GLib finds an interval by scanning its list from the start (hundreds of
 * entries for a zone with daylight saving time), which made one reading's
 * hour cost ~650 ns in Europe/Brussels.  So each zone also carries a table of
 * the intervals between TABLE_LO_S and TABLE_HI_S (1900..2100), built once at
 * load with GLib's own answers, and the primitives below binary-search it;
 * outside that span they ask GLib as before.
 */
#define TABLE_LO_S INT64_C(-2208988800) /* 1900-01-01T00:00:00Z */
#define TABLE_HI_S INT64_C(4102444800)	/* 2100-01-01T00:00:00Z */

struct tz {
	char *name;	  /* identifier as looked up, owned */
	GTimeZone *gtz;	  /* owned reference; immutable */
	gint first;	  /* GLib interval holding TABLE_LO_S */
	size_t n;	  /* intervals first .. first + n - 1 are tabled */
	int64_t *start_s; /* start_s[k]: first second of interval first + k,
			     clamped to TABLE_LO_S for k = 0 */
	int64_t *off_ms;  /* off_ms[k]: its UTC offset */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz **cache; /* loaded zones, in load order */
static size_t cache_len;  /* entries in use */
static size_t cache_cap;  /* entries allocated */

/* ---- Arithmetic helpers ---- */

/* Division rounding towards minus infinity (b > 0). */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b < 0)
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int64_t clamp_t(int64_t t)
{
	if (t > T_LIMIT_MS)
		return T_LIMIT_MS;
	if (t < -T_LIMIT_MS)
		return -T_LIMIT_MS;
	return t;
}

static bool is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

int64_t tz_days_from_civil(int year, int month, int day)
{
	/* Hinnant: count from 0000-03-01 so the leap day ends each year. */
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;			     /* [0, 399] */
	int64_t mp = month > 2 ? month - 3 : month + 9;	     /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + day - 1;	     /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */

	return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = m;
	*year = (int)(yoe + era * 400 + (m <= 2));
}

/* ---- GLib primitives (invariant 1) ---- */

static gint interval_at(const struct tz *tz, int64_t t)
{
	int64_t s = floor_div(t, MS_PER_S);
	size_t lo = 0, hi = tz->n;

	if (s < TABLE_LO_S || s >= TABLE_HI_S || !tz->n)
		return g_time_zone_find_interval(tz->gtz, G_TIME_TYPE_UNIVERSAL, s);
	while (hi - lo > 1) { /* start_s[lo] <= s < start_s[hi] */
		size_t mid = lo + (hi - lo) / 2;
		if (tz->start_s[mid] <= s)
			lo = mid;
		else
			hi = mid;
	}
	return tz->first + (gint)lo;
}

static int64_t interval_off_ms(const struct tz *tz, gint i)
{
	if (i >= tz->first && (size_t)(i - tz->first) < tz->n)
		return tz->off_ms[i - tz->first];
	return (int64_t)g_time_zone_get_offset(tz->gtz, i) * MS_PER_S;
}

/*
 * The first instant in (after, until] that lies in interval i or later.
 * Requires interval_at(after) < i <= interval_at(until).  Bisects on whole
 * seconds, where GLib's transitions lie.
 */
static int64_t interval_start(const struct tz *tz, gint i, int64_t after, int64_t until)
{
	int64_t lo = floor_div(after, MS_PER_S); /* interval < i */
	int64_t hi = floor_div(until, MS_PER_S); /* interval >= i */

	if (i > tz->first && (size_t)(i - tz->first) < tz->n)
		return tz->start_s[i - tz->first] * MS_PER_S;

	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (g_time_zone_find_interval(tz->gtz, G_TIME_TYPE_UNIVERSAL, mid) >= i)
			hi = mid;
		else
			lo = mid;
	}
	return hi * MS_PER_S;
}

/*
 * The first transition in (t, limit], i.e. the first instant there whose
 * offset differs from t's (invariant 2), or INT64_MAX if there is none.
 */
static int64_t next_change(const struct tz *tz, int64_t t, int64_t limit)
{
	gint i = interval_at(tz, t);
	gint last = interval_at(tz, limit);
	int64_t off = interval_off_ms(tz, i);

	for (gint j = i + 1; j <= last; j++)
		if (interval_off_ms(tz, j) != off)
			return interval_start(tz, j, t, limit);
	return INT64_MAX;
}

/*
 * The transition that brought in the offset in force at t, if it lies in
 * (from, t]; INT64_MIN if that offset was already in force at from.
 */
static int64_t run_start(const struct tz *tz, int64_t t, int64_t from)
{
	gint first = interval_at(tz, from);
	gint j = interval_at(tz, t);
	int64_t off = interval_off_ms(tz, j);

	while (j > first && interval_off_ms(tz, j - 1) == off)
		j--;
	if (j == first)
		return INT64_MIN;
	return interval_start(tz, j, from, t);
}

/* ---- Civil time ---- */

int32_t tz_offset_s(const struct tz *tz, int64_t t)
{
	return (int32_t)(interval_off_ms(tz, interval_at(tz, clamp_t(t))) / MS_PER_S);
}

/* Local wall-clock milliseconds since 1970-01-01T00:00 local. */
static int64_t local_ms(const struct tz *tz, int64_t t)
{
	t = clamp_t(t);
	return t + (int64_t)tz_offset_s(tz, t) * MS_PER_S;
}

int64_t tz_local_days(const struct tz *tz, int64_t t)
{
	return floor_div(local_ms(tz, t), MS_PER_DAY);
}

int64_t tz_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / 1000000;
}

static void civil_from_local(int64_t local, struct civil *out)
{
	int64_t days = floor_div(local, MS_PER_DAY);
	int64_t ms = local - days * MS_PER_DAY;

	tz_civil_from_days(days, &out->year, &out->month, &out->day);
	out->hour = (int)(ms / MS_PER_HOUR);
	out->min = (int)(ms / MS_PER_MIN % 60);
	out->sec = (int)(ms / MS_PER_S % 60);
	out->msec = (int)(ms % MS_PER_S);
	out->wday = (int)floor_mod(days + 3, 7); /* 1970-01-01 was a Thursday */
}

/*
 * Wall-clock milliseconds of a civil time.  Out-of-range fields carry over
 * (month 13 is January of the next year, day 0 the last of the previous
 * month); the year is clamped so that nothing overflows (invariant 6).
 */
static int64_t local_from_civil(const struct civil *c)
{
	int64_t m0 = (int64_t)c->month - 1;
	int64_t y = c->year + floor_div(m0, 12);
	int64_t days;

	if (y > YEAR_LIMIT)
		y = YEAR_LIMIT;
	if (y < -YEAR_LIMIT)
		y = -YEAR_LIMIT;
	days = tz_days_from_civil((int)y, (int)floor_mod(m0, 12) + 1, 1) + c->day - 1;
	return days * MS_PER_DAY + c->hour * MS_PER_HOUR + c->min * MS_PER_MIN + c->sec * MS_PER_S +
	       c->msec;
}

/*
 * The earliest instant t > after whose local time is at or after local
 * (invariant 4).  Walks the runs of constant offset from the first instant
 * that could qualify; within a run local time is t + off, so the answer in
 * that run, if any, is max(run start, local - off).
 */
static int64_t first_local_at_or_after(const struct tz *tz, int64_t local, int64_t after)
{
	int64_t t = clamp_t(local) - MAX_OFFSET_MS;
	int64_t limit = clamp_t(local) + MAX_OFFSET_MS;

	after = clamp_t(after);
	if (t <= after)
		t = after + 1;
	for (;;) {
		int64_t off = (int64_t)tz_offset_s(tz, t) * MS_PER_S;
		int64_t cand = local - off > t ? local - off : t;
		int64_t end = next_change(tz, t, limit);

		if (cand < end)
			return cand;
		t = end;
	}
}

void tz_to_civil(const struct tz *tz, int64_t t, struct civil *out)
{
	civil_from_local(local_ms(tz, t), out);
}

int64_t tz_from_civil(const struct tz *tz, const struct civil *c)
{
	return first_local_at_or_after(tz, local_from_civil(c), INT64_MIN);
}

/* ---- Grids (invariant 5) ---- */

int64_t tz_hour_start(const struct tz *tz, int64_t t)
{
	int64_t off, whole, cut;

	t = clamp_t(t);
	off = (int64_t)tz_offset_s(tz, t) * MS_PER_S;
	whole = floor_div(t + off, MS_PER_HOUR) * MS_PER_HOUR - off;
	/* A transition after the whole hour cuts the hour there. */
	cut = run_start(tz, t, whole);
	return cut > whole ? cut : whole;
}

int64_t tz_hour_next(const struct tz *tz, int64_t hour_start)
{
	int64_t s = clamp_t(hour_start);
	int64_t off = (int64_t)tz_offset_s(tz, s) * MS_PER_S;
	int64_t whole = (floor_div(s + off, MS_PER_HOUR) + 1) * MS_PER_HOUR - off;
	int64_t cut = next_change(tz, s, whole);

	return cut < whole ? cut : whole;
}

/* The first instant after `after` of the local date `days`. */
static int64_t first_of_day(const struct tz *tz, int64_t days, int64_t after)
{
	return first_local_at_or_after(tz, days * MS_PER_DAY, after);
}

/* The local date of the Monday starting the week that holds day `days`. */
static int64_t monday_of(int64_t days)
{
	return days - floor_mod(days + 3, 7); /* days + 3 is 0 on a Monday */
}

/*
 * Steps a period's start s forward while the following period also begins
 * at or before t.  Normally s <= t < next(s) already; only clocks set back
 * across the period's first midnight break it (St. John's went from
 * 2009-11-01 00:01 back to 10-31 23:01, so instants dated October follow
 * the start of November).  Stepping on keeps invariant 5 true even then:
 * the repeated stretch belongs to the period that had already begun.
 */
static int64_t settle(const struct tz *tz, int64_t s, int64_t t,
		      int64_t (*next)(const struct tz *, int64_t))
{
	int64_t n;

	t = clamp_t(t);
	while ((n = next(tz, s)) <= t)
		s = n;
	return s;
}

int64_t tz_day_next(const struct tz *tz, int64_t day_start)
{
	return first_of_day(tz, tz_local_days(tz, day_start) + 1, day_start);
}

int64_t tz_day_start(const struct tz *tz, int64_t t)
{
	int64_t s = first_of_day(tz, tz_local_days(tz, t), INT64_MIN);

	return settle(tz, s, t, tz_day_next);
}

static int64_t week_next(const struct tz *tz, int64_t week_start)
{
	int64_t monday = monday_of(tz_local_days(tz, week_start));

	return first_of_day(tz, monday + 7, week_start);
}

int64_t tz_week_start(const struct tz *tz, int64_t t)
{
	int64_t s = first_of_day(tz, monday_of(tz_local_days(tz, t)), INT64_MIN);

	return settle(tz, s, t, week_next);
}

int64_t tz_month_start(const struct tz *tz, int64_t t)
{
	int y, m, d;
	int64_t s;

	tz_civil_from_days(tz_local_days(tz, t), &y, &m, &d);
	s = first_of_day(tz, tz_days_from_civil(y, m, 1), INT64_MIN);
	return settle(tz, s, t, tz_month_next);
}

int64_t tz_month_next(const struct tz *tz, int64_t month_start)
{
	int y, m, d;

	tz_civil_from_days(tz_local_days(tz, month_start), &y, &m, &d);
	if (++m > 12) {
		m = 1;
		y++;
	}
	return first_of_day(tz, tz_days_from_civil(y, m, 1), month_start);
}

/* ---- RFC 3339 ---- */

/* Reads exactly n decimal digits at *p; stops at the first non-digit. */
static bool read_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool read_char(const char **p, char want)
{
	if (**p != want)
		return false;
	(*p)++;
	return true;
}

/* "YYYY-MM-DD", checking the month's real length; sets *days. */
static bool read_date(const char **p, int64_t *days)
{
	int y, m, d;

	if (!read_digits(p, 4, &y) || !read_char(p, '-') || !read_digits(p, 2, &m) ||
	    !read_char(p, '-') || !read_digits(p, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = tz_days_from_civil(y, m, d);
	return true;
}

/*
 * "HH:MM:SS" plus an optional fraction of 1 to 9 digits, truncated to ms.
 * Second 60 is refused: Unix time has no leap seconds to put it in.
 */
static bool read_time(const char **p, int64_t *ms)
{
	int h, m, s, frac = 0, digit;
	int n = 0;

	if (!read_digits(p, 2, &h) || !read_char(p, ':') || !read_digits(p, 2, &m) ||
	    !read_char(p, ':') || !read_digits(p, 2, &s))
		return false;
	if (h > 23 || m > 59 || s > 59)
		return false;
	if (read_char(p, '.')) {
		for (; n < 9 && read_digits(p, 1, &digit); n++)
			if (n < 3)
				frac = frac * 10 + digit;
		if (n == 0 || (**p >= '0' && **p <= '9'))
			return false;
		for (; n < 3; n++)
			frac *= 10;
	}
	*ms = h * MS_PER_HOUR + m * MS_PER_MIN + s * MS_PER_S + frac;
	return true;
}

/* "Z", "z" or "+HH:MM"/"-HH:MM" (HH <= 23, MM <= 59); sets *off_ms. */
static bool read_offset(const char **p, int64_t *off_ms)
{
	int sign, h, m;

	if (read_char(p, 'Z') || read_char(p, 'z')) {
		*off_ms = 0;
		return true;
	}
	if (read_char(p, '+'))
		sign = 1;
	else if (read_char(p, '-'))
		sign = -1; /* "-00:00" (offset unknown) still names UTC */
	else
		return false;
	if (!read_digits(p, 2, &h) || !read_char(p, ':') || !read_digits(p, 2, &m) || h > 23 ||
	    m > 59)
		return false;
	*off_ms = sign * (h * MS_PER_HOUR + m * MS_PER_MIN);
	return true;
}

int tz_parse_rfc3339(const char *s, int64_t *out)
{
	int64_t days, ms, off;

	if (!s || !read_date(&s, &days))
		return KW_EPARSE;
	if (!read_char(&s, 'T') && !read_char(&s, 't') && !read_char(&s, ' '))
		return KW_EPARSE;
	if (!read_time(&s, &ms) || !read_offset(&s, &off) || *s != '\0')
		return KW_EPARSE;
	*out = days * MS_PER_DAY + ms - off;
	return 0;
}

int tz_parse_date(const struct tz *tz, const char *s, int64_t *out)
{
	int64_t days;

	if (!s || !read_date(&s, &days) || *s != '\0')
		return KW_EPARSE;
	*out = first_of_day(tz, days, INT64_MIN);
	return 0;
}

char *tz_format_rfc3339(const struct tz *tz, int64_t t, char *buf)
{
	/*
	 * RFC 3339 offsets have no seconds, so local mean time offsets (before
	 * ~1900) are truncated to the minute and the wall clock is shown for
	 * that offset: the string still names exactly t.
	 */
	int32_t off = tz_offset_s(tz, t) / 60 * 60;
	int32_t aoff = off < 0 ? -off : off;
	char frac[8] = "", zone[8] = "Z";
	struct civil c;

	civil_from_local(clamp_t(t) + off * MS_PER_S, &c);
	if (c.msec)
		snprintf(frac, sizeof(frac), ".%03d", c.msec);
	/* Zero is written 'Z'; "% 100" only tells gcc hours fit 2 digits. */
	if (off)
		snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+',
			 (int)(aoff / 3600 % 100), (int)(aoff / 60 % 60));
	snprintf(buf, TZ_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", c.year, c.month, c.day,
		 c.hour, c.min, c.sec, frac, zone);
	return buf;
}

/* ---- Zone cache ---- */

static bool is_alpha(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/*
 * IANA identifiers are '/'-separated components of letters, digits, '_',
 * '-' and '+', each starting with a letter.  Refusing everything else keeps
 * paths ("../", absolute names) and POSIX TZ strings ("CET-1CEST,M3.5.0")
 * away from GLib, which would otherwise accept the latter as a rule.
 * "right/" zones count leap seconds, which Unix time does not.
 */
static bool valid_identifier(const char *name)
{
	bool at_start = true;
	size_t len = strlen(name);

	if (len == 0 || len > TZ_NAME_MAX || strncmp(name, "right/", 6) == 0)
		return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;

		if (ch == '/') {
			if (at_start)
				return false;
			at_start = true;
			continue;
		}
		if (at_start ? !is_alpha(ch)
			     : !(is_alpha(ch) || (ch >= '0' && ch <= '9') || ch == '_' ||
				 ch == '-' || ch == '+'))
			return false;
		at_start = false;
	}
	return !at_start;
}

/*
 * GLib falls back to parsing an unknown name as a POSIX TZ rule ("XYZ3" is
 * then a fixed UTC-3 zone), so a name counts as known only if its TZif file
 * exists where GLib looks ($TZDIR, else /usr/share/zoneinfo).  "UTC" is
 * built into GLib and needs no file.
 */
static bool zone_file_exists(const char *name)
{
	const char *dir = getenv("TZDIR");
	char path[1024]; /* an overlong $TZDIR just means "unknown" */
	struct stat st;
	int n;

	if (strcmp(name, "UTC") == 0)
		return true;
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Loads a zone; NULL if unknown.  Called with cache_lock held. */
/* Fills the interval table with GLib's answers (see struct tz).  Runs
 * before the table is used, so interval_start() still bisects with GLib. */
static void build_table(struct tz *tz)
{
	gint first = interval_at(tz, TABLE_LO_S * MS_PER_S);
	gint last = interval_at(tz, (TABLE_HI_S - 1) * MS_PER_S);
	size_t n = (size_t)(last - first) + 1;
	int64_t *start = xmalloc(n * sizeof(*start));
	int64_t *off = xmalloc(n * sizeof(*off));

	start[0] = TABLE_LO_S;
	off[0] = interval_off_ms(tz, first);
	for (size_t k = 1; k < n; k++) {
		start[k] = interval_start(tz, first + (gint)k, start[k - 1] * MS_PER_S,
					  (TABLE_HI_S - 1) * MS_PER_S) /
			   MS_PER_S;
		off[k] = interval_off_ms(tz, first + (gint)k);
	}
	tz->first = first;
	tz->start_s = start;
	tz->off_ms = off;
	tz->n = n; /* published last: the lookups above used GLib */
}

static struct tz *zone_load(const char *name)
{
	GTimeZone *gtz;
	struct tz *tz;

	if (!zone_file_exists(name))
		return NULL;
	gtz = g_time_zone_new_identifier(name);
	if (!gtz)
		return NULL;
	tz = xcalloc(1, sizeof(*tz));
	tz->name = xstrdup(name);
	tz->gtz = gtz;
	build_table(tz);
	return tz;
}

const struct tz *tz_get(const char *name)
{
	struct tz *tz = NULL;

	if (!name || !valid_identifier(name))
		return NULL;
	/*
	 * Loading happens under the lock: it is a one-time read of a small
	 * file per zone, and it spares a second lookup to settle a race.
	 * Unknown names are not cached, so bad input cannot grow the table;
	 * known ones are bounded by the zones installed.
	 */
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_len; i++) {
		if (strcmp(cache[i]->name, name) == 0) {
			tz = cache[i];
			goto out;
		}
	}
	tz = zone_load(name);
	if (tz) {
		if (cache_len == cache_cap) {
			cache_cap = cache_cap ? 2 * cache_cap : 16;
			cache = xrealloc(cache, cache_cap * sizeof(*cache));
		}
		cache[cache_len++] = tz;
	}
out:
	pthread_mutex_unlock(&cache_lock);
	return tz;
}

void tz_shutdown(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_len; i++) {
		g_time_zone_unref(cache[i]->gtz);
		free(cache[i]->start_s);
		free(cache[i]->off_ms);
		free(cache[i]->name);
		free(cache[i]);
	}
	free(cache);
	cache = NULL;
	cache_len = 0;
	cache_cap = 0;
	pthread_mutex_unlock(&cache_lock);
}

const char *tz_name(const struct tz *tz)
{
	return tz->name;
}
