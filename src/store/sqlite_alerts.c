/*
 * sqlite_alerts.c - the SQLite backend's over-limit alerts and users'
 * notifications (schema: migration 7 in sqlite.c; contracts: store.h and
 * backend.h).
 *
 * Tables:
 *   alert(hour, device, hour_end, kwh, limit_kwh, created_at, notified_at)
 *       PRIMARY KEY (hour, device), WITHOUT ROWID: keyed time first like
 *       the totals, so raising alerts appends at the right edge of the
 *       tree; a partial index on the same key finds the unclaimed ones
 *   notification(id, user_id, kind, device, hour, hour_end, kwh,
 *       limit_kwh, created_at, read_at)
 *       indexed (user_id, id) for a user's pages, and partially on the
 *       unread ones for the unread count
 *
 * Invariants:
 *  1. A device-hour has at most one alert row (the primary key): inserting
 *     another changes nothing, so a retry or a restart never re-raises.
 *  2. An alert is claimed (notified_at set) at most once: the claim is an
 *     UPDATE guarded by "notified_at IS NULL" in the writer's transaction.
 *  3. Every statement about notifications is scoped by user_id, so a user
 *     can only ever read or mark its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/sqlite_int.h"
#include "core/banned.h"

#define ALERT_COLS "device, hour, hour_end, kwh, limit_kwh, created_at"
#define NOTE_COLS  "id, user_id, kind, device, hour, hour_end, kwh, limit_kwh, created_at, read_at"

const char *const sq__alert_sql[N_COUNT] = {
	[N_ALERT_INSERT] = "INSERT INTO alert(device, hour, hour_end, kwh, limit_kwh, created_at)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(hour, device) DO NOTHING",
	[N_ALERT_CLAIM] = "UPDATE alert SET notified_at = ?3 WHERE hour = ?2 AND device = ?1"
			  " AND notified_at IS NULL RETURNING " ALERT_COLS,
	[N_ALERT_UNNOTIFIED] = "SELECT " ALERT_COLS " FROM alert WHERE notified_at IS NULL"
			       " ORDER BY hour, device LIMIT ?1",
	[N_NOTE_INSERT] = "INSERT INTO notification(user_id, kind, device, hour, hour_end, kwh,"
			  " limit_kwh, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[N_NOTE_LIST] = "SELECT " NOTE_COLS " FROM notification WHERE user_id = ?1"
			" AND (?2 = 0 OR id < ?2) AND (?3 = 0 OR read_at IS NULL)"
			" ORDER BY id DESC LIMIT ?4",
	[N_NOTE_UNREAD] = "SELECT count(*) FROM notification WHERE user_id = ?1"
			  " AND read_at IS NULL",
	[N_NOTE_READ_ONE] = "UPDATE notification SET read_at = ?3 WHERE id = ?2 AND user_id = ?1"
			    " AND read_at IS NULL",
	[N_NOTE_READ_ALL] = "UPDATE notification SET read_at = ?2 WHERE user_id = ?1"
			    " AND read_at IS NULL",
	[N_DEL_DEVICE_ALERTS] = "DELETE FROM alert WHERE device = ?1",
	[N_DEL_DEVICE_NOTES] = "DELETE FROM notification WHERE device = ?1",
	[N_DEL_USER_NOTES] = "DELETE FROM notification WHERE user_id = ?1",
};

static sqlite3_stmt *nst(struct store_conn *c, int i)
{
	return sq__reset(SQ(c)->alrt[i]);
}

/* --- alerts ---------------------------------------------------------------------- */

static void alert_row(sqlite3_stmt *s, struct store_alert *a)
{
	a->device = sqlite3_column_int64(s, 0);
	a->hour = sqlite3_column_int64(s, 1);
	a->hour_end = sqlite3_column_int64(s, 2);
	a->kwh = sqlite3_column_double(s, 3);
	a->limit_kwh = sqlite3_column_double(s, 4);
	a->created_at = sqlite3_column_int64(s, 5);
}

static int sq_alert_insert(struct store_conn *c, struct store_alert *a, bool *inserted)
{
	sqlite3_stmt *s = nst(c, N_ALERT_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, a->device);
	sqlite3_bind_int64(s, 2, a->hour);
	sqlite3_bind_int64(s, 3, a->hour_end);
	sqlite3_bind_double(s, 4, a->kwh);
	sqlite3_bind_double(s, 5, a->limit_kwh);
	sqlite3_bind_int64(s, 6, a->created_at);
	if ((rc = sq__run(SQ(c), s, "recording an alert")) != 0)
		return rc;
	*inserted = sqlite3_changes(SQ(c)->db) == 1; /* invariant 1 */
	return 0;
}

static int sq_alert_claim(struct store_conn *c, int64_t device, int64_t hour, int64_t when,
			  struct store_alert *out)
{
	sqlite3_stmt *s = nst(c, N_ALERT_CLAIM);
	int rc;

	sqlite3_bind_int64(s, 1, device);
	sqlite3_bind_int64(s, 2, hour);
	sqlite3_bind_int64(s, 3, when);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		alert_row(s, out);
		rc = sqlite3_step(s); /* finishes the UPDATE */
		return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "claiming an alert");
	}
	return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "claiming an alert");
}

static int sq_alert_unnotified(struct store_conn *c, size_t limit, struct store_alert **out,
			       size_t *n)
{
	sqlite3_stmt *s = nst(c, N_ALERT_UNNOTIFIED);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		alert_row(s, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing unnotified alerts");
}

/* --- notifications ------------------------------------------------------------------- */

static void note_row(sqlite3_stmt *s, struct store_notification *x)
{
	x->id = sqlite3_column_int64(s, 0);
	x->user_id = sqlite3_column_int64(s, 1);
	snprintf(x->kind, sizeof(x->kind), "%s", (const char *)sqlite3_column_text(s, 2));
	x->device = sqlite3_column_int64(s, 3);
	x->hour = sqlite3_column_int64(s, 4);
	x->hour_end = sqlite3_column_int64(s, 5);
	x->kwh = sqlite3_column_double(s, 6);
	x->limit_kwh = sqlite3_column_double(s, 7);
	x->created_at = sqlite3_column_int64(s, 8);
	x->read_at = sqlite3_column_int64(s, 9); /* NULL reads as 0: unread */
}

static int sq_note_insert(struct store_conn *c, struct store_notification *x)
{
	sqlite3_stmt *s = nst(c, N_NOTE_INSERT);
	int rc;

	if (!x->created_at)
		x->created_at = tz_now_ms();
	sqlite3_bind_int64(s, 1, x->user_id);
	sqlite3_bind_text(s, 2, x->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, x->device);
	sqlite3_bind_int64(s, 4, x->hour);
	sqlite3_bind_int64(s, 5, x->hour_end);
	sqlite3_bind_double(s, 6, x->kwh);
	sqlite3_bind_double(s, 7, x->limit_kwh);
	sqlite3_bind_int64(s, 8, x->created_at);
	if ((rc = sq__run(SQ(c), s, "storing a notification")) != 0)
		return rc;
	x->id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_note_list(struct store_conn *c, int64_t user_id, bool unread_only, int64_t before,
			size_t limit, struct store_notification **out, size_t *n)
{
	sqlite3_stmt *s = nst(c, N_NOTE_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, before);
	sqlite3_bind_int(s, 3, unread_only);
	sqlite3_bind_int64(s, 4, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		note_row(s, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing notifications");
}

static int sq_note_unread(struct store_conn *c, int64_t user_id, int64_t *n)
{
	sqlite3_stmt *s = nst(c, N_NOTE_UNREAD);
	sqlite3_bind_int64(s, 1, user_id);
	if (sqlite3_step(s) != SQLITE_ROW)
		return sq__fail(SQ(c), "counting unread notifications");
	*n = sqlite3_column_int64(s, 0);
	return 0;
}

static int sq_note_read(struct store_conn *c, int64_t user_id, const int64_t *ids, size_t nids,
			int64_t when, int64_t *changed)
{
	int64_t total = 0;
	int rc = 0;

	if (!ids) {
		sqlite3_stmt *s = nst(c, N_NOTE_READ_ALL);
		sqlite3_bind_int64(s, 1, user_id);
		sqlite3_bind_int64(s, 2, when);
		rc = sq__run(SQ(c), s, "marking notifications read");
		total = rc == 0 ? sqlite3_changes(SQ(c)->db) : 0;
	}
	for (size_t i = 0; ids && i < nids && rc == 0; i++) {
		sqlite3_stmt *s = nst(c, N_NOTE_READ_ONE);
		sqlite3_bind_int64(s, 1, user_id);
		sqlite3_bind_int64(s, 2, ids[i]);
		sqlite3_bind_int64(s, 3, when);
		rc = sq__run(SQ(c), s, "marking a notification read");
		total += rc == 0 ? sqlite3_changes(SQ(c)->db) : 0;
	}
	if (changed)
		*changed = total;
	return rc;
}

const struct store_alert_ops sq__alert_ops = {
	.alert_insert = sq_alert_insert,
	.alert_claim = sq_alert_claim,
	.alert_unnotified = sq_alert_unnotified,
	.notification_insert = sq_note_insert,
	.notification_list = sq_note_list,
	.notification_unread = sq_note_unread,
	.notification_read = sq_note_read,
};
