/*
 * notice.c - the words and the JSON of an over-limit notification (see
 * notice.h).
 *
 * Invariants:
 *  1. The same notification renders the same way whenever it is rendered
 *     (pushed, listed or mailed): everything depends on the stored row and
 *     the device, never on the current time.
 *  2. The sentence never reads "used 2.0 kWh ... above its 2.0 kWh limit":
 *     the usage gets decimals until it differs from the limit (up to
 *     three).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/notice.h"
#include "core/tz.h"
#include "core/banned.h"

/* v with the fewest decimals (1..3) that print it exactly. */
static int limit_decimals(double v)
{
	char buf[64];
	for (int d = 1; d < 3; d++) {
		snprintf(buf, sizeof(buf), "%.*f", d, v);
		if (fabs(v - strtod(buf, NULL)) < 1e-9)
			return d;
	}
	return 3;
}

/* The usage with one decimal, more while it would print as the limit. */
static int usage_decimals(double kwh, const char *limit)
{
	char buf[64];
	for (int d = 1; d < 3; d++) {
		snprintf(buf, sizeof(buf), "%.*f", d, kwh);
		if (strcmp(buf, limit) != 0)
			return d;
	}
	return 3;
}

static void hhmm(char out[8], const struct tz *tz, int64_t t)
{
	struct civil c;
	tz_to_civil(tz, t, &c);
	snprintf(out, 8, "%02d:%02d", c.hour % 100, c.min % 100);
}

char *notice_text(char *buf, size_t len, const char *device_name, const struct tz *tz, int64_t hour,
		  int64_t hour_end, double kwh, double limit_kwh, int64_t created_at)
{
	char from[8], to[8], lim[64], date[24] = "";
	struct civil h, now;

	hhmm(from, tz, hour);
	hhmm(to, tz, hour_end);
	snprintf(lim, sizeof(lim), "%.*f", limit_decimals(limit_kwh), limit_kwh);
	tz_to_civil(tz, hour, &h);
	tz_to_civil(tz, created_at, &now);
	if (h.year != now.year || h.month != now.month || h.day != now.day)
		snprintf(date, sizeof(date), " on %04d-%02d-%02d", h.year % 10000, h.month % 100,
			 h.day % 100);
	snprintf(buf, len, "%s used %.*f kWh between %s and %s%s, above its %s kWh limit",
		 device_name, usage_decimals(kwh, lim), kwh, from, to, date, lim);
	return buf;
}

char *notice_title(char *buf, size_t len, const char *device_name)
{
	snprintf(buf, len, "%s is over its hourly limit", device_name);
	return buf;
}

char *notice_href(char *buf, size_t len, const char *uuid, enum user_role role)
{
	snprintf(buf, len, "%s/devices/%s", role == ROLE_ADMIN ? "/admin" : "/app", uuid);
	return buf;
}

/* kWh as JSON: rounded to the Wh fraction the meter data can carry, so an
 * event does not show 2.7000000000000006. */
static json_t *kwh_json(double v)
{
	return json_real(round(v * 1e6) / 1e6);
}

json_t *notice_json(const struct store_notification *n, const struct store_device *d,
		    enum user_role role)
{
	char text[NOTICE_TEXT_MAX], title[NOTICE_TEXT_MAX], href[128];
	char start[TZ_RFC3339_MAX], end[TZ_RFC3339_MAX], at[TZ_RFC3339_MAX], read[TZ_RFC3339_MAX];
	const struct tz *utc = tz_get("UTC");

	notice_text(text, sizeof(text), d->name, d->tz, n->hour, n->hour_end, n->kwh, n->limit_kwh,
		    n->created_at);
	return json_pack(
	    "{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:o}", "type", n->kind,
	    "id", (json_int_t)n->id, "device_id", d->uuid, "device_name", d->name, "hour_start",
	    tz_format_rfc3339(d->tz, n->hour, start), "hour_end",
	    tz_format_rfc3339(d->tz, n->hour_end, end), "kwh", kwh_json(n->kwh), "limit_kwh",
	    kwh_json(n->limit_kwh), "title", notice_title(title, sizeof(title), d->name), "text",
	    text, "href", notice_href(href, sizeof(href), d->uuid, role), "at",
	    tz_format_rfc3339(utc, n->created_at, at), "read_at",
	    n->read_at ? json_string(tz_format_rfc3339(utc, n->read_at, read)) : json_null());
}
