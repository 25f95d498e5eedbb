/*
 * tz.h - IANA time zones, civil time and local calendar grids.
 *
 * The only file that talks to the time zone database (through GLib's
 * GTimeZone, which reads the system's /usr/share/zoneinfo).  Everything that
 * needs "which local hour/day/month is this instant in" asks here.
 *
 * All instants are int64_t Unix epoch milliseconds, UTC.
 *
 * Thread-safety: every function is safe to call from any thread.  Zones are
 * loaded once and cached for the life of the process; a struct tz is
 * immutable.
 */
#ifndef KW_CORE_TZ_H
#define KW_CORE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz; /* opaque, immutable, shared */

/* A broken-down local time. */
struct civil {
	int year;  /* e.g. 2025 */
	int month; /* 1..12 */
	int day;   /* 1..31 */
	int hour;  /* 0..23 */
	int min;   /* 0..59 */
	int sec;   /* 0..59 */
	int msec;  /* 0..999 */
	int wday;  /* 0 = Monday .. 6 = Sunday (ISO order) */
};

/*
 * Returns the zone named by an IANA identifier ("Europe/Brussels", "UTC"),
 * or NULL if the name is unknown or not a valid identifier.  The result
 * stays valid until tz_shutdown().
 */
const struct tz *tz_get(const char *name);

/* Frees the cache (at exit, so leak checkers stay quiet). */
void tz_shutdown(void);

/* The identifier the zone was looked up with. */
const char *tz_name(const struct tz *tz);

/* UTC offset in seconds east of Greenwich in force at instant t. */
int32_t tz_offset_s(const struct tz *tz, int64_t t);

/* Local civil time at instant t. */
void tz_to_civil(const struct tz *tz, int64_t t, struct civil *out);

/*
 * The instant of a local civil time (wday is ignored).  In a gap (spring
 * forward) the result is the instant the clocks jumped, i.e. the first
 * existing instant at or after the requested time; in an overlap (fall
 * back) the earlier of the two instants.
 */
int64_t tz_from_civil(const struct tz *tz, const struct civil *c);

/*
 * Calendar grids.  Each *_start returns the first instant of the local
 * hour/day/week/month containing t; each *_next returns the first instant of
 * the following one, given a start.  So a local day in Europe/Brussels lasts
 * 23, 24 or 25 hours, and the hours of Asia/Kolkata begin at hh:30 UTC.
 * When an offset change falls inside a local hour (e.g. Australia/Lord_Howe's
 * 30-minute shift), the hour is cut at the transition so that hours never
 * overlap and always tile the time line.
 * Weeks start on Monday (ISO 8601).
 */
int64_t tz_hour_start(const struct tz *tz, int64_t t);
int64_t tz_hour_next(const struct tz *tz, int64_t hour_start);
int64_t tz_day_start(const struct tz *tz, int64_t t);
int64_t tz_day_next(const struct tz *tz, int64_t day_start);
int64_t tz_week_start(const struct tz *tz, int64_t t);
int64_t tz_month_start(const struct tz *tz, int64_t t);
int64_t tz_month_next(const struct tz *tz, int64_t month_start);

/*
 * Parses an RFC 3339 timestamp ("2025-02-08T00:31:00Z",
 * "2025-02-08T00:31:00.250+08:00", lowercase 't'/'z' and a space separator
 * accepted) into *out.  Returns 0 or KW_EPARSE.  The whole string must be
 * consumed.
 */
int tz_parse_rfc3339(const char *s, int64_t *out);

/*
 * Parses a plain date "YYYY-MM-DD" into its local midnight in tz (the day's
 * first instant, as tz_day_start).  Returns 0 or KW_EPARSE.
 */
int tz_parse_date(const struct tz *tz, const char *s, int64_t *out);

/*
 * Formats t as RFC 3339 with the zone's offset at t, seconds precision,
 * plus milliseconds when non-zero: "2025-02-08T00:00:00+08:00",
 * "2025-02-08T00:31:00.250Z" (UTC is written 'Z').  buf needs
 * TZ_RFC3339_MAX bytes.  Returns buf.
 */
#define TZ_RFC3339_MAX 40
char *tz_format_rfc3339(const struct tz *tz, int64_t t, char *buf);

/* Days since 1970-01-01 of the local date at instant t (the key of daily
 * totals). */
int64_t tz_local_days(const struct tz *tz, int64_t t);

/* The current time, Unix epoch milliseconds (CLOCK_REALTIME). */
int64_t tz_now_ms(void);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tz_days_from_civil(int year, int month, int day);
void tz_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
