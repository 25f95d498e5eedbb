/*
 * api_notifications.c - the caller's own notifications (over-limit alerts):
 *   GET  /api/v1/notifications?unread=&limit=&cursor=
 *   POST /api/v1/notifications/read  {"ids": [...]} or {"all": true}
 *
 * People only (ACCESS_SELF).  Every statement is scoped by the session's
 * user id, so a user reads and marks only its own notifications; an id of
 * someone else's is ignored exactly like an id that does not exist.  The
 * objects listed are the ones the /ws "alert" event carries
 * (alert/notice.h), so the web app merges both by id.
 *
 * Thread-safety: loop thread; the job closures run on a reader or the
 * writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/notice.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "http/ws.h"
#include "core/banned.h"

#define LIST_DEFAULT 50
#define LIST_MAX     200
#define READ_IDS_MAX 1000 /* ids in one mark-read request */

struct note_job {
	struct http_req *r;
	int64_t user_id;
	/* list */
	bool unread_only;
	int64_t before;
	size_t limit;
	struct store_notification *list;
	size_t n;
	/* read */
	int64_t *ids; /* NULL: all */
	size_t nids;
	int64_t changed;
	/* both */
	int64_t unread;
};

static void note_job_free(void *p)
{
	struct note_job *j = p;
	free(j->list);
	free(j->ids);
	free(j);
}

static struct note_job *note_job_new(struct http_req *r)
{
	struct note_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->user_id = r->who.user_id;
	r->ctx = j;
	r->ctx_free = note_job_free;
	return j;
}

static enum user_role caller_role(const struct http_req *r)
{
	return r->who.kind == PRINCIPAL_ADMIN_USER ? ROLE_ADMIN : ROLE_CLIENT;
}

/* --- GET /api/v1/notifications ----------------------------------------------------------- */

static int list_read(struct store_conn *c, void *ud)
{
	struct note_job *j = ud;
	int rc = store_notification_list(c, j->user_id, j->unread_only, j->before, j->limit + 1,
					 &j->list, &j->n);
	return rc ? rc : store_notification_unread(c, j->user_id, &j->unread);
}

static void list_done(void *ud, int rc)
{
	struct note_job *j = ud;
	struct http_req *r = j->r;
	json_t *arr, *next = json_null();

	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < j->n && i < j->limit; i++) {
		struct store_device *d = store_device_by_id(r->store, j->list[i].device);
		if (d) /* a device deleted since takes its notifications along */
			json_array_append_new(arr, notice_json(&j->list[i], d, caller_role(r)));
		store_device_free(d);
	}
	if (j->n > j->limit) {
		json_decref(next);
		next = json_sprintf("%lld", (long long)j->list[j->limit - 1].id);
	}
	http_reply_json(r, 200,
			json_pack("{s:o, s:I, s:o}", "notifications", arr, "unread",
				  (json_int_t)j->unread, "next_cursor", next));
}

void api_notifications_list(struct http_req *r)
{
	const char *unread = http_query(r, "unread"), *cur = http_query(r, "cursor");
	struct note_job *j = note_job_new(r);

	if (unread && strcmp(unread, "true") != 0 && strcmp(unread, "false") != 0) {
		http_reply_error(r, 400, "invalid_value", "unread", 0,
				 "unread must be true or false");
		return;
	}
	j->unread_only = unread && strcmp(unread, "true") == 0;
	if (!api_query_limit(r, LIST_DEFAULT, LIST_MAX, &j->limit))
		return;
	if (cur && !api_parse_pos(cur, INT64_MAX, &j->before)) {
		http_reply_error(r, 400, "invalid_value", "cursor", 0,
				 "cursor must be a next_cursor this endpoint answered");
		return;
	}
	api_read(r, list_read, list_done, j);
}

/* --- POST /api/v1/notifications/read ------------------------------------------------------- */

static int read_write(struct store_conn *c, void *ud)
{
	struct note_job *j = ud;
	int rc = store_notification_read(c, j->user_id, j->ids, j->nids, tz_now_ms(), &j->changed);
	return rc ? rc : store_notification_unread(c, j->user_id, &j->unread);
}

static void read_done(void *ud, int rc)
{
	struct note_job *j = ud;
	struct http_req *r = j->r;
	json_t *ev;

	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	/* The user's other tabs lower their count too (before answering:
	 * answering frees j). */
	if (j->changed) {
		ev = json_pack("{s:s, s:I}", "type", "notifications_read", "unread",
			       (json_int_t)j->unread);
		if (j->ids) {
			json_t *ids = json_array();
			for (size_t i = 0; i < j->nids; i++)
				json_array_append_new(ids, json_integer(j->ids[i]));
			json_object_set_new(ev, "ids", ids);
		} else {
			json_object_set_new(ev, "all", json_true());
		}
		ws_publish_user(http_hub(r->srv), j->user_id, ev);
	}
	http_reply_empty(r, 204);
}

/* Fills j->ids from the "ids" array; answers 400 and returns -1 when bad. */
static int take_ids(struct http_req *r, struct note_job *j, json_t *ids)
{
	size_t n = json_is_array(ids) ? json_array_size(ids) : 0;

	if (n == 0 || n > READ_IDS_MAX) {
		http_reply_error(r, 400, "invalid_value", "ids", 0,
				 "ids must be an array of 1 to %d notification ids", READ_IDS_MAX);
		return -1;
	}
	j->ids = xmalloc(n * sizeof(*j->ids));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(ids, i);
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			http_reply_error(r, 400, "invalid_value", "ids", (int)i + 1,
					 "ids[%zu] must be a notification id (a positive integer)",
					 i);
			return -1;
		}
		j->ids[i] = json_integer_value(v);
	}
	j->nids = n;
	return 0;
}

void api_notifications_read(struct http_req *r)
{
	json_t *o = api_body_object(r), *ids, *all;
	struct note_job *j;
	const char *key;
	json_t *v;

	if (!o)
		return;
	j = note_job_new(r);
	json_object_foreach (o, key, v) {
		if (strcmp(key, "ids") != 0 && strcmp(key, "all") != 0) {
			http_reply_error(r, 400, "unknown_field", key, 0, "unknown field '%.64s'",
					 key);
			goto out;
		}
	}
	ids = json_object_get(o, "ids");
	all = json_object_get(o, "all");
	if ((ids != NULL) == (all != NULL)) {
		http_reply_error(r, 400, "invalid_body", NULL, 0,
				 "expected {\"ids\": [...]} or {\"all\": true}");
		goto out;
	}
	if (all && !json_is_true(all)) {
		http_reply_error(r, 400, "invalid_value", "all", 0, "all must be true");
		goto out;
	}
	if (ids && take_ids(r, j, ids) != 0)
		goto out;
	api_write(r, read_write, read_done, j);
out:
	json_decref(o);
}
