/*
 * pending.h - totals of the open hours (store-internal).
 *
 * Readings are durable in the raw table before they are acknowledged, but
 * their hourly and daily totals are written to the tables only when their
 * hour closes: hours ending at or before the watermark are in the tables,
 * later ("open") hours only here.  A batch of 5,000 readings from 5,000
 * meters thus costs 5,000 inserts instead of 15,000 writes, and each
 * device-hour's total is written once, not once per reading.
 *
 * Consistency (why readers never miss or double-count):
 *  1. The writer adds a batch's open-hour totals here only after its COMMIT,
 *     and before the batch is acknowledged.
 *  2. Closing writes the closed entries and the new watermark in one
 *     transaction, and COMMITs it while holding the mutex, then advances
 *     the watermark and drops those entries before releasing it.  (Taking
 *     the mutex only after COMMIT is not enough: a reader could pin a
 *     snapshot whose daily rows already hold hours still listed here.)
 *  3. A reader, under the mutex, reads the watermark, pins its database
 *     snapshot and copies the open-hour values it needs.  It then reads the
 *     tables only for hours ending at or before that watermark.
 *  After a crash the open hours are rebuilt from the raw readings newer
 *  than the stored watermark (rollup_recover()).
 *
 * Thread-safety: the writer mutates under mu; readers hold mu while they
 * look.  The writer may read without mu (it is the only mutator).
 */
#ifndef KW_STORE_PENDING_H
#define KW_STORE_PENDING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hmap.h"

struct pending_entry {
	int64_t device;
	int64_t hour;	  /* epoch ms: start of the device-local hour */
	int64_t hour_end; /* epoch ms: start of the next one */
	int64_t day;	  /* device-local date, days since 1970-01-01 */
	int slot;	  /* the hour's index in that day (0 = the first hour) */
	double kwh;
	int64_t readings; /* energy readings stamped in (hour, hour_end] */
};

struct pending {
	pthread_mutex_t mu;
	int64_t watermark; /* epoch ms; hours with hour_end <= it are closed */
	struct hmap idx;   /* pending_key(device, hour) -> index in e */
	struct pending_entry *e;
	size_t n, cap;
	int64_t max_end; /* latest hour_end among the entries (a search bound) */
};

void pending_init(struct pending *p);
void pending_release(struct pending *p);
uint64_t pending_key(int64_t device, int64_t hour);

/* [writer, under mu] Adds to an entry, creating it. */
void pending_add(struct pending *p, const struct pending_entry *x);
/* [writer, under mu] Drops every entry with hour_end <= watermark and sets it. */
void pending_close(struct pending *p, int64_t watermark);
/* [writer, under mu] Drops every entry of a deleted device. */
void pending_drop_device(struct pending *p, int64_t device);
/* [holder of mu, or the writer] The entry of (device, hour), or NULL. */
const struct pending_entry *pending_get(const struct pending *p, int64_t device, int64_t hour);

struct store_conn;
/* The pending table of the store a connection belongs to (store.c). */
struct pending *store_conn_pending(struct store_conn *c);

#endif
