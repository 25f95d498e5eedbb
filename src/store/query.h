/*
 * query.h - consumption in local hours, days or months (backend-neutral).
 *
 * Thread-safety: reader threads (functions take a store_conn).
 */
#ifndef KW_STORE_QUERY_H
#define KW_STORE_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

enum query_step { STEP_HOUR, STEP_DAY, STEP_MONTH };

struct query_bucket {
	int64_t start; /* epoch ms, first instant of the local hour/day/month */
	int64_t end;   /* epoch ms, first instant of the next one */
	double kwh;
	bool has; /* some reading contributed energy to it */
};

/* Largest number of buckets one question may ask for. */
#define QUERY_MAX_BUCKETS 20000

/* The start of the bucket of the given step containing t, in zone tz. */
int64_t query_align(const struct tz *tz, enum query_step step, int64_t t);
/* The start of the bucket after the one starting at start. */
int64_t query_next(const struct tz *tz, enum query_step step, int64_t start);

/*
 * Fills *out (caller frees) with the buckets covering [from, to) in zone
 * qtz, aligned down to the step's grid.  Answers from the stored hourly or
 * daily totals when their grid fits the question (the device's own zone, or
 * a zone whose hours coincide), and otherwise computes from raw readings with
 * the same energy rules (e.g. a UTC device asked in Asia/Kolkata).
 * Returns 0, KW_ETOOBIG (more than QUERY_MAX_BUCKETS), or a store error.
 */
int query_consumption(struct store_conn *c, const struct store_device *d, const struct tz *qtz,
		      enum query_step step, int64_t from, int64_t to, struct query_bucket **out,
		      size_t *n);

/*
 * When the device's newest energy reading was taken (*at, epoch ms), or
 * KW_ENOTFOUND.  [reader] May follow another query in the same job: it
 * takes its own snapshot.
 */
int query_last_reading(struct store_conn *c, int64_t device, int64_t *at);

/*
 * Calls fn for the daily totals of every device in [day_from, day_to)
 * (device-local dates, days since 1970-01-01), the open hours' included;
 * a device-day may come in several parts.
 */
int query_days_all(struct store_conn *c, int64_t day_from, int64_t day_to, store_day_fn fn,
		   void *ud);

#endif
