/*
 * api_query.c - consumption, raw readings and region totals:
 *   GET /api/v1/devices/{id}/consumption?from&to|period&step&tz
 *   GET /api/v1/devices/{id}/readings?from&to&channel&limit&cursor
 *   GET /api/v1/regions/consumption?from&to|period&step&tz
 *
 * Parameters are checked on the loop thread; the store work and the JSON
 * building run on a reader thread; the answer is sent from the completion.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "store/query.h"
#include "core/banned.h"

#define MAX_RANGE_DAYS 3700 /* ten years */

static bool is_date(const char *s)
{
	return strlen(s) == 10 && s[4] == '-' && s[7] == '-';
}

/* The zone of the question: ?tz=, else fallback. Answers 400 on a bad name. */
static const struct tz *query_tz(struct http_req *r, const struct tz *fallback)
{
	const char *name = http_query(r, "tz");
	const struct tz *tz;
	if (!name)
		return fallback;
	if (!(tz = tz_get(name)))
		http_reply_error(r, 400, "invalid_value", "tz", 0,
				 "unknown time zone '%.64s' (use an IANA name such as "
				 "Europe/Brussels)",
				 name);
	return tz;
}

static int period_range(const char *p, const struct tz *tz, int64_t now, int64_t *from, int64_t *to)
{
	if (strcmp(p, "prev-hour") == 0) {
		*to = tz_hour_start(tz, now);
		*from = tz_hour_start(tz, *to - 1);
	} else if (strcmp(p, "current-day") == 0) {
		*from = tz_day_start(tz, now);
		*to = tz_day_next(tz, *from);
	} else if (strcmp(p, "current-week") == 0) {
		*from = tz_week_start(tz, now);
		*to = *from;
		for (int i = 0; i < 7; i++)
			*to = tz_day_next(tz, *to);
	} else if (strcmp(p, "current-month") == 0) {
		*from = tz_month_start(tz, now);
		*to = tz_month_next(tz, *from);
	} else if (strcmp(p, "prev-month") == 0) {
		*to = tz_month_start(tz, now);
		*from = tz_month_start(tz, *to - 1);
	} else {
		return -1;
	}
	return 0;
}

/* One end of a range: a date (its local midnight; for `to` the next one, so
 * the day is included) or an RFC 3339 instant. */
static int parse_end(struct http_req *r, const struct tz *tz, const char *key, bool is_to,
		     int64_t *out)
{
	const char *v = http_query(r, key);
	if (!v) {
		http_reply_error(r, 400, "missing_field", key, 0,
				 "%s is required (a date such as 2025-02-08 or an RFC 3339 "
				 "timestamp), or give period=",
				 key);
		return -1;
	}
	if (is_date(v) ? tz_parse_date(tz, v, out) == 0 : tz_parse_rfc3339(v, out) == 0) {
		if (is_date(v) && is_to)
			*out = tz_day_next(tz, *out);
		return 0;
	}
	http_reply_error(r, 400, "invalid_value", key, 0,
			 "%s must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, not '%.40s'",
			 key, v);
	return -1;
}

/* Reads period= or from=/to= into [from, to); answers 400 and returns -1 on error. */
static int parse_range(struct http_req *r, const struct tz *tz, int64_t *from, int64_t *to)
{
	const char *p = http_query(r, "period");
	if (p) {
		if (period_range(p, tz, tz_now_ms(), from, to) == 0)
			return 0;
		http_reply_error(r, 400, "invalid_value", "period", 0,
				 "period must be prev-hour, current-day, current-week, "
				 "current-month or prev-month");
		return -1;
	}
	if (parse_end(r, tz, "from", false, from) || parse_end(r, tz, "to", true, to))
		return -1;
	if (*from >= *to || *to - *from > (int64_t)MAX_RANGE_DAYS * 86400000) {
		http_reply_error(r, 400, "invalid_value", "to", 0,
				 "the range must be non-empty, from before to, and at most %d days",
				 MAX_RANGE_DAYS);
		return -1;
	}
	return 0;
}

static int parse_step(struct http_req *r, enum query_step *step, bool hours_ok)
{
	const char *s = http_query(r, "step");
	if (!s || strcmp(s, "day") == 0)
		*step = s || !hours_ok ? STEP_DAY : STEP_HOUR;
	else if (strcmp(s, "hour") == 0 && hours_ok)
		*step = STEP_HOUR;
	else if (strcmp(s, "month") == 0)
		*step = STEP_MONTH;
	else {
		http_reply_error(r, 400, "invalid_value", "step", 0, "step must be %s",
				 hours_ok ? "hour, day or month" : "day or month");
		return -1;
	}
	return 0;
}

static const char *step_name(enum query_step s)
{
	return s == STEP_HOUR ? "hour" : s == STEP_DAY ? "day" : "month";
}

/* --- consumption ------------------------------------------------------------ */

struct cons_job {
	struct http_req *r;
	struct store_device *d;
	const struct tz *qtz;
	enum query_step step;
	int64_t from, to, now;
	json_t *result;
};

static void cons_free(void *p)
{
	struct cons_job *j = p;
	store_device_free(j->d);
	json_decref(j->result);
	free(j);
}

static int last_reading(struct store_conn *c, struct cons_job *j);

static int cons_read(struct store_conn *c, void *ud)
{
	struct cons_job *j = ud;
	struct query_bucket *b;
	size_t n;
	double total = 0;
	char ts[TZ_RFC3339_MAX], ts2[TZ_RFC3339_MAX];
	json_t *arr;
	int rc = query_consumption(c, j->d, j->qtz, j->step, j->from, j->to, &b, &n);

	if (rc)
		return rc;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		total += b[i].kwh;
		json_array_append_new(arr,
				      json_pack("{s:s, s:o, s:b}", "start",
						tz_format_rfc3339(j->qtz, b[i].start, ts), "kwh",
						b[i].has ? json_real(b[i].kwh) : json_null(),
						"complete", b[i].end <= j->now));
	}
	j->result =
	    json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:f}", "device", api_device_json(j->d),
		      "unit", "kWh", "step", step_name(j->step), "tz", tz_name(j->qtz), "from",
		      tz_format_rfc3339(j->qtz, n ? b[0].start : j->from, ts), "to",
		      tz_format_rfc3339(j->qtz, n ? b[n - 1].end : j->to, ts2), "buckets", arr,
		      "total_kwh", total);
	free(b);
	return last_reading(c, j);
}

/* When the device's newest energy reading was taken (null: never). */
static int last_reading(struct store_conn *c, struct cons_job *j)
{
	char ts[TZ_RFC3339_MAX];
	int64_t at;
	int rc = query_last_reading(c, j->d->id, &at);

	if (rc && rc != KW_ENOTFOUND)
		return rc;
	json_object_set_new(j->result, "last_reading_at",
			    rc ? json_null() : json_string(tz_format_rfc3339(j->qtz, at, ts)));
	return 0;
}

static void cons_done(void *ud, int rc)
{
	struct cons_job *j = ud;
	if (rc == KW_ETOOBIG)
		http_reply_error(j->r, 400, "too_many_buckets", "step", 0,
				 "the answer would have more than %d buckets: use a larger step or "
				 "a shorter range",
				 QUERY_MAX_BUCKETS);
	else if (rc)
		http_reply_kwerr(j->r, rc);
	else {
		http_reply_json(j->r, 200, j->result);
		j->result = NULL;
	}
}

static void consumption(struct http_req *r, struct store_device *d)
{
	struct cons_job *j;
	const struct tz *qtz;
	int rc;

	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->d = d;
	j->now = tz_now_ms();
	r->ctx = j;
	r->ctx_free = cons_free;
	if (!(qtz = query_tz(r, d->tz)) || parse_step(r, &j->step, true) ||
	    parse_range(r, qtz, &j->from, &j->to))
		return;
	j->qtz = qtz;
	if ((rc = store_submit_read(r->store, cons_read, cons_done, j)) != 0) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

void api_consumption(struct http_req *r)
{
	struct store_device *d = api_device_param(r);
	if (d)
		api_device_visible(r, d, consumption);
}

/* --- raw readings ------------------------------------------------------------- */

struct readings_job {
	struct http_req *r;
	struct store *store;
	char uuid[37];
	int64_t device, channel, from, to, after_ts, after_ch;
	size_t limit, n;
	json_t *arr;
	int64_t last_ts, last_ch;
	const struct tz *utc;
};

static void readings_free(void *p)
{
	struct readings_job *j = p;
	json_decref(j->arr);
	free(j);
}

static void one_reading(void *ud, int64_t ts, uint32_t ch, double v, int flags)
{
	struct readings_job *j = ud;
	char t[TZ_RFC3339_MAX], name[128];
	if (store_channel_name(j->store, ch, name, sizeof(name)) != 0)
		snprintf(name, sizeof(name), "%u", ch);
	json_array_append_new(j->arr, json_pack("{s:s, s:I, s:s, s:f, s:b}", "timestamp",
						tz_format_rfc3339(j->utc, ts, t), "timestamp_ms",
						(json_int_t)ts, "channel", name, "value", v,
						"reset", (flags & READING_FLAG_RESET) != 0));
	j->n++;
	j->last_ts = ts;
	j->last_ch = ch;
}

static int readings_read(struct store_conn *c, void *ud)
{
	struct readings_job *j = ud;
	return store_readings(c, j->device, j->channel, j->from, j->to, j->after_ts, j->after_ch,
			      j->limit, one_reading, j);
}

static void readings_done(void *ud, int rc)
{
	struct readings_job *j = ud;
	char cursor[64];
	json_t *next = json_null();

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	if (j->n == j->limit) {
		json_decref(next);
		snprintf(cursor, sizeof(cursor), "%" PRId64 ".%" PRId64, j->last_ts, j->last_ch);
		next = json_string(cursor);
	}
	http_reply_json(j->r, 200,
			json_pack("{s:s, s:O, s:o}", "device", j->uuid, "readings", j->arr,
				  "next_cursor", next));
}

static int parse_cursor(struct http_req *r, struct readings_job *j)
{
	const char *cur = http_query(r, "cursor");
	long long ts, ch;
	int used = 0;
	if (!cur) {
		j->after_ts = j->from - 1;
		j->after_ch = INT64_MAX;
		return 0;
	}
	if (sscanf(cur, "%lld.%lld%n", &ts, &ch, &used) == 2 && cur[used] == '\0') {
		j->after_ts = ts;
		j->after_ch = ch;
		return 0;
	}
	http_reply_error(r, 400, "invalid_value", "cursor", 0,
			 "cursor must be a next_cursor value");
	return -1;
}

static void readings(struct http_req *r, struct store_device *d)
{
	struct readings_job *j;
	const char *ch = http_query(r, "channel"), *lim = http_query(r, "limit");
	long limit = lim ? strtol(lim, NULL, 10) : 1000;

	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->store = r->store;
	j->device = d->id;
	memcpy(j->uuid, d->uuid, sizeof(j->uuid));
	j->arr = json_array();
	j->utc = tz_get("UTC");
	r->ctx = j;
	r->ctx_free = readings_free;
	j->channel = ch ? store_channel_resolve(r->store, ch) : -1;
	if (parse_range(r, d->tz, &j->from, &j->to) != 0)
		goto out;
	if (ch && j->channel < 0) {
		http_reply_error(r, 400, "invalid_value", "channel", 0, "no channel '%.64s'", ch);
		goto out;
	}
	if (limit < 1 || limit > 10000) {
		http_reply_error(r, 400, "invalid_value", "limit", 0, "limit must be 1..10000");
		goto out;
	}
	j->limit = (size_t)limit;
	if (parse_cursor(r, j) != 0)
		goto out;
	api_read(r, readings_read, readings_done, j);
out:
	store_device_free(d);
}

void api_readings(struct http_req *r)
{
	struct store_device *d = api_device_param(r);
	if (d)
		api_device_visible(r, d, readings);
}

/* --- regions ------------------------------------------------------------------- */

struct region_job {
	struct http_req *r;
	struct hmap dev_region; /* device id -> index into names */
	char **names;
	size_t nnames;
	enum query_step step;
	int64_t day_from, day_to; /* device-local dates, [from, to) */
	int64_t nb;		  /* buckets */
	double *kwh;		  /* nnames x nb */
	json_t *result;
};

static void region_free(void *p)
{
	struct region_job *j = p;
	for (size_t i = 0; i < j->nnames; i++)
		free(j->names[i]);
	free(j->names);
	free(j->kwh);
	hmap_release(&j->dev_region);
	json_decref(j->result);
	free(j);
}

static int64_t month_of_day(int64_t day)
{
	int y, m, d;
	tz_civil_from_days(day, &y, &m, &d);
	return (int64_t)y * 12 + m - 1;
}

static int64_t bucket_of(const struct region_job *j, int64_t day)
{
	return j->step == STEP_DAY ? day - j->day_from
				   : month_of_day(day) - month_of_day(j->day_from);
}

static void region_day(void *ud, int64_t device, int64_t day, double kwh)
{
	struct region_job *j = ud;
	uint64_t idx;
	if (hmap_get(&j->dev_region, (uint64_t)device, &idx))
		j->kwh[idx * (uint64_t)j->nb + (uint64_t)bucket_of(j, day)] += kwh;
}

static json_t *date_label(int64_t day)
{
	char s[16];
	int y, m, d;
	tz_civil_from_days(day, &y, &m, &d);
	snprintf(s, sizeof(s), "%04d-%02d-%02d", y, m, d);
	return json_string(s);
}

static json_t *bucket_label(const struct region_job *j, int64_t b)
{
	char s[16];
	int64_t mo = month_of_day(j->day_from) + b;
	if (j->step == STEP_DAY)
		return date_label(j->day_from + b);
	snprintf(s, sizeof(s), "%04d-%02d", (int)(mo / 12), (int)(mo % 12) + 1);
	return json_string(s);
}

static int region_read(struct store_conn *c, void *ud)
{
	struct region_job *j = ud;
	json_t *regions = json_array();
	int rc;

	j->kwh = xcalloc(j->nnames * (size_t)j->nb + 1, sizeof(double));
	if ((rc = query_days_all(c, j->day_from, j->day_to, region_day, j)) != 0) {
		json_decref(regions);
		return rc;
	}
	for (size_t i = 0; i < j->nnames; i++) {
		json_t *buckets = json_array();
		double total = 0;
		for (int64_t b = 0; b < j->nb; b++) {
			double v = j->kwh[i * (size_t)j->nb + (size_t)b];
			total += v;
			json_array_append_new(
			    buckets, json_pack("{s:o, s:f}", j->step == STEP_DAY ? "date" : "month",
					       bucket_label(j, b), "kwh", v));
		}
		json_array_append_new(regions, json_pack("{s:s, s:f, s:o}", "region", j->names[i],
							 "total_kwh", total, "buckets", buckets));
	}
	j->result = json_pack("{s:s, s:s, s:o, s:o, s:o}", "unit", "kWh", "step",
			      step_name(j->step), "from", bucket_label(j, 0), "to",
			      bucket_label(j, j->nb - 1), "regions", regions);
	return 0;
}

static void region_done(void *ud, int rc)
{
	struct region_job *j = ud;
	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	http_reply_json(j->r, 200, j->result);
	j->result = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *region_of(const struct store_device *d)
{
	return d->region && *d->region ? d->region : "(none)";
}

/* Snapshots which region each device is in (the reader must not walk the
 * cache row by row); regions are sorted by name. */
static void snapshot_regions(struct http_req *r, struct region_job *j)
{
	struct store_device **list;
	size_t n = store_device_list(r->store, 0, SIZE_MAX / 2, NULL, NULL, 0, &list), k = 0;

	j->names = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		j->names[i] = (char *)region_of(list[i]);
	qsort(j->names, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) /* unique, then own the strings */
		if (k == 0 || strcmp(j->names[k - 1], j->names[i]) != 0)
			j->names[k++] = j->names[i];
	for (size_t i = 0; i < k; i++)
		j->names[i] = xstrdup(j->names[i]);
	j->nnames = k;
	for (size_t i = 0; i < n; i++) {
		const char *name = region_of(list[i]);
		char **hit = bsearch(&name, j->names, k, sizeof(char *), cmp_str);
		hmap_put(&j->dev_region, (uint64_t)list[i]->id, (uint64_t)(hit - j->names));
	}
	store_device_list_free(list, n);
}

/* The range as dates [*day_from, *day_to): regions add up each device's
 * own local days (docs/API.md).  Answers 400 and returns -1 on error. */
static int parse_days(struct http_req *r, int64_t *day_from, int64_t *day_to)
{
	const struct tz *qtz = query_tz(r, tz_get(r->cfg->devices_default_timezone));
	int64_t from, to;

	if (!qtz || parse_range(r, qtz, &from, &to))
		return -1;
	*day_from = tz_local_days(qtz, from);
	*day_to = tz_local_days(qtz, to - 1) + 1;
	return 0;
}

void api_regions(struct http_req *r)
{
	struct region_job *j = xcalloc(1, sizeof(*j));
	int rc;

	j->r = r;
	r->ctx = j;
	r->ctx_free = region_free;
	if (parse_days(r, &j->day_from, &j->day_to) || parse_step(r, &j->step, false))
		return;
	j->nb = j->step == STEP_DAY ? j->day_to - j->day_from
				    : month_of_day(j->day_to - 1) - month_of_day(j->day_from) + 1;
	snapshot_regions(r, j);
	if ((rc = store_submit_read(r->store, region_read, region_done, j)) != 0) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

/* --- one region's devices, ranked ---------------------------------------------- */

struct region_dev {
	struct store_device *d;
	double kwh;
};

struct rdev_job {
	struct http_req *r;
	struct hmap index; /* device id -> index into devs */
	struct region_dev *devs;
	size_t n;
	int64_t day_from, day_to;
};

static void rdev_free(void *p)
{
	struct rdev_job *j = p;
	for (size_t i = 0; i < j->n; i++)
		store_device_free(j->devs[i].d);
	free(j->devs);
	hmap_release(&j->index);
	free(j);
}

static void rdev_day(void *ud, int64_t device, int64_t day, double kwh)
{
	struct rdev_job *j = ud;
	uint64_t idx;
	if (hmap_get(&j->index, (uint64_t)device, &idx))
		j->devs[idx].kwh += kwh;
}

static int rdev_read(struct store_conn *c, void *ud)
{
	struct rdev_job *j = ud;
	return query_days_all(c, j->day_from, j->day_to, rdev_day, j);
}

/* Most consumption first; equal ones by name. */
static int cmp_rdev(const void *a, const void *b)
{
	const struct region_dev *x = a, *y = b;
	if (x->kwh != y->kwh)
		return x->kwh < y->kwh ? 1 : -1;
	return strcmp(x->d->name, y->d->name);
}

static void rdev_done(void *ud, int rc)
{
	struct rdev_job *j = ud;
	json_t *arr = json_array();
	double total = 0;

	if (rc) {
		json_decref(arr);
		http_reply_kwerr(j->r, rc);
		return;
	}
	qsort(j->devs, j->n, sizeof(*j->devs), cmp_rdev);
	for (size_t i = 0; i < j->n; i++) {
		const struct store_device *d = j->devs[i].d;
		total += j->devs[i].kwh;
		json_array_append_new(arr, json_pack("{s:s, s:s?, s:s, s:f}", "id", d->uuid,
						     "serial", d->serial, "name", d->name,
						     "total_kwh", j->devs[i].kwh));
	}
	http_reply_json(j->r, 200,
			json_pack("{s:s, s:s, s:o, s:o, s:f, s:o}", "region", j->r->params[0],
				  "unit", "kWh", "from", date_label(j->day_from), "to",
				  date_label(j->day_to - 1), "total_kwh", total, "devices", arr));
}

void api_region_devices(struct http_req *r)
{
	struct rdev_job *j = xcalloc(1, sizeof(*j));
	struct store_device **list;
	size_t n;

	j->r = r;
	r->ctx = j;
	r->ctx_free = rdev_free;
	if (parse_days(r, &j->day_from, &j->day_to))
		return;
	n = store_device_list(r->store, 0, SIZE_MAX / 2, NULL, NULL, 0, &list);
	j->devs = xcalloc(n + 1, sizeof(*j->devs));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(region_of(list[i]), r->params[0]) != 0)
			continue;
		hmap_put(&j->index, (uint64_t)list[i]->id, j->n);
		j->devs[j->n++].d = list[i];
		list[i] = NULL;
	}
	for (size_t i = 0; i < n; i++)
		store_device_free(list[i]);
	free(list);
	if (j->n == 0) {
		http_reply_error(r, 404, "not_found", "region", 0, "no device in region '%.100s'",
				 r->params[0]);
		return;
	}
	api_read(r, rdev_read, rdev_done, j);
}
