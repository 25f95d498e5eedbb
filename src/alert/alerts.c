/*
 * alerts.c - over-limit alerts become notifications (see alerts.h).
 *
 * The path of an alert:
 *
 *   writer: a commit takes a device-hour over its limit; the alert row is
 *           inserted in that transaction (rollup.c, "Alerts")
 *   loop:   store alert hook -> kick(): one notification job at a time
 *   writer: the job claims every unclaimed alert (store_alert_claim) and
 *           inserts one notification per recipient, in ONE savepoint
 *   loop:   its completion pushes an "alert" event to each recipient's
 *           sessions and queues the e-mails (mail.c's thread sends them)
 *
 * Claiming and notifying commit together, so each alert is notified
 * exactly once: a crash before that commit leaves the alert unclaimed and
 * the next start notifies it; after it, nothing is notified again.  The
 * job reads the unclaimed alerts from the table instead of trusting what
 * the hook said, so a job that failed (and is retried) or alerts raised
 * while no service ran are never lost.
 *
 * Job states:
 *
 *   IDLE --kick--> RUNNING --done--> IDLE
 *                  RUNNING --kick--> RUNNING+again --done--> RUNNING (kicked again)
 *                  RUNNING --done, failed--> IDLE + retry timer (RETRY_MS) --> kick
 *
 * Invariants:
 *  1. At most one notification job is queued or running (running).
 *  2. An alert that reached the hook while a job ran is picked up by the
 *     next job (again), so none waits for a later alert.
 *  3. Closing waits for the running job; no job starts once closing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alerts.h"
#include "alert/mail.h"
#include "alert/notice.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "core/banned.h"

#define NOTIFY_BATCH 200  /* alerts claimed by one job; more: another job */
#define RETRY_MS     5000 /* after a failed job (or a full write queue) */

struct alerts {
	uv_loop_t *loop;
	struct store *store;
	alerts_publish_fn publish;
	void *publish_ud;
	struct mail *mail; /* NULL: no e-mail */
	char *origin;	   /* http.public_origin, for links in e-mails; may be "" */
	uv_timer_t retry;
	bool running; /* invariant 1 */
	bool again;   /* invariant 2 */
	bool closing;
	void (*close_cb)(void *ud);
	void *close_ud;
};

/* One notification stored by a job, and what to do with it after COMMIT. */
struct delivery {
	struct store_notification n;
	enum user_role role;
	char *email; /* the user's address when it wants e-mails, else NULL */
};

struct notify_job {
	struct alerts *a;
	struct delivery *d;
	size_t nd, cap;
	size_t seen; /* unclaimed alerts read; NOTIFY_BATCH: there may be more */
	int64_t notified;
};

static void kick(struct alerts *a);
static void on_retry(uv_timer_t *t);

/* --- the job (writer) ---------------------------------------------------------------- */

static int cmp_id(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

/* The device's owners and the admins, each once, ascending. */
static int recipients(struct store_conn *c, int64_t device, const int64_t *admins, size_t nadm,
		      int64_t **out, size_t *n)
{
	struct store_mapping *maps = NULL;
	size_t nmaps = 0, k = 0;
	int64_t *ids;
	int rc = store_mapping_list(c, 0, device, &maps, &nmaps);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	ids = xmalloc((nmaps + nadm + 1) * sizeof(*ids));
	for (size_t i = 0; i < nmaps; i++)
		ids[k++] = maps[i].user_id;
	for (size_t i = 0; i < nadm; i++)
		ids[k++] = admins[i];
	free(maps);
	qsort(ids, k, sizeof(*ids), cmp_id);
	for (size_t i = 0; i < k; i++)
		if (*n == 0 || ids[*n - 1] != ids[i])
			ids[(*n)++] = ids[i];
	*out = ids;
	return 0;
}

static int notify_user(struct store_conn *c, struct notify_job *j, const struct store_alert *x,
		       int64_t user_id, int64_t now)
{
	struct store_user u = { 0 };
	struct delivery *d;
	int rc = store_user_get(c, user_id, &u);

	if (rc == KW_ENOTFOUND || (rc == 0 && u.disabled)) {
		store_user_release(&u);
		return 0; /* a mapping of a user deleted meanwhile, or a disabled user */
	}
	if (rc)
		return rc;
	xgrow((void **)&j->d, &j->cap, j->nd + 1, sizeof(*j->d));
	d = &j->d[j->nd];
	*d = (struct delivery){ .n = { .user_id = user_id,
				       .kind = "alert",
				       .device = x->device,
				       .hour = x->hour,
				       .hour_end = x->hour_end,
				       .kwh = x->kwh,
				       .limit_kwh = x->limit_kwh,
				       .created_at = now },
				.role = u.role,
				.email = u.email_alerts ? xstrdup(u.email) : NULL };
	store_user_release(&u);
	if ((rc = store_notification_insert(c, &d->n)) != 0) {
		free(d->email);
		return rc;
	}
	j->nd++;
	return 0;
}

static int notify_write(struct store_conn *c, void *ud)
{
	struct notify_job *j = ud;
	struct store_alert *al = NULL, x;
	int64_t *admins = NULL, now = tz_now_ms();
	size_t n = 0, nadm = 0;
	int rc = store_alert_unnotified(c, NOTIFY_BATCH, &al, &n);

	if (rc == 0 && n)
		rc = store_user_admin_ids(c, &admins, &nadm);
	j->seen = n;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t *to = NULL;
		size_t nto = 0;
		if ((rc = store_alert_claim(c, al[i].device, al[i].hour, now, &x)) ==
		    KW_ENOTFOUND) {
			rc = 0; /* claimed meanwhile: never twice */
			continue;
		}
		if (rc == 0)
			rc = recipients(c, x.device, admins, nadm, &to, &nto);
		for (size_t k = 0; k < nto && rc == 0; k++)
			rc = notify_user(c, j, &x, to[k], now);
		j->notified += rc == 0;
		free(to);
	}
	free(al);
	free(admins);
	return rc;
}

/* --- after COMMIT (loop) ---------------------------------------------------------------- */

static void mail_one(struct alerts *a, const struct delivery *d, const struct store_device *dev)
{
	char title[NOTICE_TEXT_MAX], text[NOTICE_TEXT_MAX], href[128];
	struct kwbuf body = KWBUF_INIT(0);
	char *b;

	notice_title(title, sizeof(title), dev->name);
	notice_text(text, sizeof(text), dev->name, dev->tz, d->n.hour, d->n.hour_end, d->n.kwh,
		    d->n.limit_kwh, d->n.created_at);
	notice_href(href, sizeof(href), dev->uuid, d->role);
	kwbuf_printf(&body, "%s.\n\n", text);
	if (*a->origin)
		kwbuf_printf(&body, "See the device: %s%s\n\n", a->origin, href);
	kwbuf_printf(&body, "-- \nkilowatt sends you this because alert e-mails are on in your "
			    "account.\nTurn them off in the account menu of the web app.\n");
	b = kwbuf_detach(&body, NULL);
	mail_send(a->mail, d->email, title, b);
	free(b);
}

static void deliver(struct alerts *a, const struct delivery *d)
{
	struct store_device *dev = store_device_by_id(a->store, d->n.device);

	if (!dev)
		return; /* deleted meanwhile: its notifications went with it */
	a->publish(a->publish_ud, d->n.user_id, notice_json(&d->n, dev, d->role));
	if (d->email && a->mail)
		mail_one(a, d, dev);
	store_device_free(dev);
}

static void finish_close(struct alerts *a);

static void notify_done(void *ud, int rc)
{
	struct notify_job *j = ud;
	struct alerts *a = j->a;
	bool more = rc == 0 && j->seen == NOTIFY_BATCH;

	a->running = false;
	if (rc) {
		log_error("alert", "cannot store alert notifications: %s; trying again in %d s",
			  kw_strerror(rc), RETRY_MS / 1000);
		if (!a->closing)
			uv_timer_start(&a->retry, on_retry, RETRY_MS, 0);
	}
	for (size_t i = 0; i < j->nd; i++) {
		if (rc == 0)
			deliver(a, &j->d[i]);
		free(j->d[i].email);
	}
	if (rc == 0 && j->notified)
		log_info("alert", "%lld over-limit alert(s): %zu notification(s)",
			 (long long)j->notified, j->nd);
	free(j->d);
	free(j);
	if (a->closing)
		finish_close(a);
	else if (more || a->again)
		kick(a);
}

/* Starts a notification job unless one runs (invariants 1 and 2). */
static void kick(struct alerts *a)
{
	struct notify_job *j;
	int rc;

	if (a->closing)
		return;
	if (a->running) {
		a->again = true;
		return;
	}
	a->again = false;
	j = xcalloc(1, sizeof(*j));
	j->a = a;
	if ((rc = store_submit_write(a->store, notify_write, notify_done, j)) != 0) {
		free(j);
		log_warn("alert", "cannot queue alert notifications: %s; trying again in %d s",
			 kw_strerror(rc), RETRY_MS / 1000);
		uv_timer_start(&a->retry, on_retry, RETRY_MS, 0);
		return;
	}
	a->running = true;
}

static void on_alerts(void *ud, const struct store_alert *alerts, size_t n)
{
	kick(ud);
}

/* uv_timer_cb is called with the timer; the service is its data. */
static void on_retry(uv_timer_t *t)
{
	kick(t->data);
}

/* --- life cycle ------------------------------------------------------------------------- */

int alerts_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		 alerts_publish_fn publish, void *ud, struct alerts **out, char *err, size_t errlen)
{
	struct alerts *a = xcalloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if ((rc = mail_start(loop, cfg, &a->mail, err, errlen)) != 0) {
		free(a);
		return rc;
	}
	a->loop = loop;
	a->store = store;
	a->publish = publish;
	a->publish_ud = ud;
	a->origin = xstrdup(cfg->http_public_origin ? cfg->http_public_origin : "");
	uv_timer_init(loop, &a->retry);
	a->retry.data = a;
	store_set_alert_hook(store, on_alerts, a);
	kick(a); /* alerts stored but never notified */
	*out = a;
	return 0;
}

static void on_mail_closed(void *ud)
{
	struct alerts *a = ud;
	void (*cb)(void *) = a->close_cb;
	void *cud = a->close_ud;

	free(a->origin);
	free(a);
	if (cb)
		cb(cud);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct alerts *a = h->data;
	mail_close(a->mail, on_mail_closed, a);
}

static void finish_close(struct alerts *a)
{
	if (a->running)
		return; /* notify_done comes back here (invariant 3) */
	uv_close((uv_handle_t *)&a->retry, on_timer_closed);
}

void alerts_close(struct alerts *a, void (*cb)(void *ud), void *ud)
{
	if (!a) {
		if (cb)
			cb(ud);
		return;
	}
	a->close_cb = cb;
	a->close_ud = ud;
	a->closing = true;
	store_set_alert_hook(a->store, NULL, NULL);
	uv_timer_stop(&a->retry);
	finish_close(a);
}
