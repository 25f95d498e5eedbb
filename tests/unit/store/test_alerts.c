/*
 * test_alerts.c - over-limit alerts raised by the writer (src/store/rollup.c,
 * "Alerts"), the alert and notification tables (src/store/sqlite_alerts.c,
 * src/store/alerts.c) and the user's email_alerts flag, against a real
 * SQLite store.
 *
 * Each test states the readings, the hour totals they give (docs/ENERGY.md)
 * and the alerts those totals must raise: one per device-hour that goes over
 * the device's max_hourly_kwh, whatever the number of readings or batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"
#include "tests/unit/support/teststore.h"

#define H  (INT64_C(3600000))
#define M  (INT64_C(60000))
#define T0 INT64_C(1738972800000) /* 2025-02-08T00:00:00Z */

/* What the alert hook heard. */
struct heard {
	struct store_alert a[16];
	size_t n;
};

static void on_alerts(void *ud, const struct store_alert *alerts, size_t n)
{
	struct heard *h = ud;
	for (size_t i = 0; i < n && h->n < 16; i++)
		h->a[h->n++] = alerts[i];
}

struct set_limit {
	struct teststore_wait w;
	struct store *s;
	int64_t device;
	double limit; /* NAN: none */
};

static int limit_write(struct store_conn *c, void *ud)
{
	struct set_limit *x = ud;
	struct store_device *d = store_device_by_id(x->s, x->device);
	int rc;
	d->has_max_hourly = !isnan(x->limit);
	d->max_hourly_kwh = isnan(x->limit) ? 0 : x->limit;
	rc = store_device_update(c, d);
	store_device_free(d);
	return rc;
}

static void set_limit(struct teststore *t, int64_t device, double limit)
{
	struct set_limit x = { { 0 }, t->s, device, limit };
	store_submit_write(t->s, limit_write, teststore_done, &x);
	assert_int_equal(teststore_wait(t, &x.w), 0);
}

static int64_t limited(struct teststore *t, const char *serial, enum reading_type type,
		       double limit)
{
	int64_t d = teststore_device(t, serial, "UTC", type);
	set_limit(t, d, limit);
	return d;
}

struct unnotified {
	struct teststore_wait w;
	struct store_alert *a;
	size_t n;
};

static int unnotified_read(struct store_conn *c, void *ud)
{
	struct unnotified *x = ud;
	return store_alert_unnotified(c, 100, &x->a, &x->n);
}

/* The stored, unclaimed alerts (caller frees). */
static size_t stored(struct teststore *t, struct store_alert **out)
{
	struct unnotified x = { { 0 }, NULL, 0 };
	store_submit_read(t->s, unnotified_read, teststore_done, &x);
	assert_int_equal(teststore_wait(t, &x.w), 0);
	*out = x.a;
	return x.n;
}

static void one_alert_for_an_hour_over_its_limit(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i1", READING_INTERVAL, 2.0);
	struct heard h = { 0 };
	struct store_alert *a;

	store_set_alert_hook(t->s, on_alerts, &h);
	/* Hour 14: 1.0 + 0.8 = 1.8 (not over), + 0.5 = 2.3 (over), + 1 = 3.3. */
	assert_int_equal(teststore_put(t, d, T0 + 14 * H + 10 * M, 1.0), 0);
	assert_int_equal(teststore_put(t, d, T0 + 14 * H + 20 * M, 0.8), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(teststore_put(t, d, T0 + 14 * H + 30 * M, 0.5), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.a[0].device, d);
	assert_int_equal(h.a[0].hour, T0 + 14 * H);
	assert_int_equal(h.a[0].hour_end, T0 + 15 * H);
	assert_near(h.a[0].kwh, 2.3);
	assert_near(h.a[0].limit_kwh, 2.0);
	assert_true(h.a[0].created_at > 0);
	assert_int_equal(teststore_put(t, d, T0 + 14 * H + 40 * M, 1.0), 0);
	assert_int_equal(teststore_put(t, d, T0 + 15 * H, 0.1), 0); /* 15:00 counts for 14 */
	assert_int_equal(h.n, 1);
	assert_int_equal(stored(t, &a), 1);
	assert_int_equal(a[0].device, d);
	assert_int_equal(a[0].hour, h.a[0].hour);
	assert_near(a[0].kwh, 2.3);
	free(a);
	store_set_alert_hook(t->s, NULL, NULL);
}

static void exactly_at_the_limit_is_not_over(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i2", READING_INTERVAL, 0.3);
	struct store_alert *a;

	/* 0.1 + 0.2 is 0.30000000000000004 in doubles: still "at" the limit. */
	assert_int_equal(teststore_put(t, d, T0 + 10 * M, 0.1), 0);
	assert_int_equal(teststore_put(t, d, T0 + 20 * M, 0.2), 0);
	assert_int_equal(stored(t, &a), 0);
	free(a);
}

static void one_batch_with_many_readings_raises_one(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i3", READING_INTERVAL, 1.0);
	struct heard h = { 0 };
	struct store_batch b;

	store_set_alert_hook(t->s, on_alerts, &h);
	store_batch_init(&b);
	for (int i = 1; i <= 6; i++) { /* 6 x 0.5 in hour 02, 6 x 0.5 in hour 03 */
		store_batch_add(&b, &(struct store_reading){ T0 + 2 * H + i * 10 * M - 1, d,
							     STORE_CHANNEL_ENERGY, 0, 0.5 });
		store_batch_add(&b, &(struct store_reading){ T0 + 3 * H + i * 10 * M - 1, d,
							     STORE_CHANNEL_ENERGY, 0, 0.5 });
	}
	assert_int_equal(teststore_commit(t, &b), 0);
	store_batch_release(&b);
	assert_int_equal(h.n, 2);
	assert_near(h.a[0].kwh, 3.0);
	assert_near(h.a[1].kwh, 3.0);
	assert_true(h.a[0].hour != h.a[1].hour);
	store_set_alert_hook(t->s, NULL, NULL);
}

static void jobs_of_one_group_add_up(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i4", READING_INTERVAL, 2.0);
	struct teststore_wait w[3] = { { 0 } };
	struct store_batch b[3];
	struct heard h = { 0 };

	/* Three requests queued together (most likely one transaction):
	 * 0.9 each; the third takes hour 05 to 2.7.  A job must see what the
	 * earlier jobs of its transaction staged, or no alert would come. */
	store_set_alert_hook(t->s, on_alerts, &h);
	for (int i = 0; i < 3; i++) {
		store_batch_init(&b[i]);
		store_batch_add(&b[i], &(struct store_reading){ T0 + 5 * H + (i + 1) * 10 * M, d,
								STORE_CHANNEL_ENERGY, 0, 0.9 });
		assert_int_equal(store_submit_batch(t->s, &b[i], teststore_done, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(teststore_wait(t, &w[i]), 0);
		store_batch_release(&b[i]);
	}
	assert_int_equal(h.n, 1);
	assert_near(h.a[0].kwh, 2.7);
	store_set_alert_hook(t->s, NULL, NULL);
}

static void counter_spread_hours_alert_as_queried(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "c1", READING_COUNTER, 2.0);
	struct heard h = { 0 };
	struct query_bucket *q;
	size_t n;

	/* 13:50 = 100, 15:10 = 104: 4 kWh over 80 minutes -> 0.5 in hour 13,
	 * 3.0 in hour 14, 0.5 in hour 15.  Only hour 14 is over 2. */
	store_set_alert_hook(t->s, on_alerts, &h);
	assert_int_equal(teststore_put(t, d, T0 + 13 * H + 50 * M, 100), 0);
	assert_int_equal(teststore_put(t, d, T0 + 15 * H + 10 * M, 104), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.a[0].hour, T0 + 14 * H);
	assert_near(h.a[0].kwh, 3.0);
	assert_int_equal(
	    teststore_consumption(t, d, "UTC", STEP_HOUR, T0 + 14 * H, T0 + 15 * H, &q, &n), 0);
	assert_int_equal(n, 1);
	assert_near(q[0].kwh, h.a[0].kwh);
	free(q);
	store_set_alert_hook(t->s, NULL, NULL);
}

static void late_data_raises_a_closed_hours_alert(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i5", READING_INTERVAL, 2.0);
	int64_t other = teststore_device(t, "far", "UTC", READING_INTERVAL);
	struct heard h = { 0 };
	struct query_bucket *q;
	size_t n;

	store_set_alert_hook(t->s, on_alerts, &h);
	assert_int_equal(teststore_put(t, d, T0 + 9 * H + 30 * M, 1.5), 0);
	/* A reading a day later closes hour 09 (its total goes to disk). */
	assert_int_equal(teststore_put(t, other, T0 + 30 * H, 1), 0);
	assert_int_equal(teststore_put(t, other, T0 + 30 * H + 1, 1), 0);
	/* Late: 0.6 more into hour 09 -> 2.1, read back from its day row. */
	assert_int_equal(teststore_put(t, d, T0 + 9 * H + 40 * M, 0.6), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.a[0].hour, T0 + 9 * H);
	assert_near(h.a[0].kwh, 2.1);
	assert_int_equal(
	    teststore_consumption(t, d, "UTC", STEP_HOUR, T0 + 9 * H, T0 + 10 * H, &q, &n), 0);
	assert_near(q[0].kwh, 2.1);
	free(q);
	/* More late data in the same hour: no second alert. */
	assert_int_equal(teststore_put(t, d, T0 + 9 * H + 50 * M, 0.6), 0);
	assert_int_equal(h.n, 1);
	store_set_alert_hook(t->s, NULL, NULL);
}

static void no_limit_never_alerts(void **state)
{
	struct teststore *t = *state;
	int64_t d = teststore_device(t, "free", "UTC", READING_INTERVAL);
	struct store_alert *a;

	assert_int_equal(teststore_put(t, d, T0 + 10 * M, 1e6), 0);
	assert_int_equal(stored(t, &a), 0);
	free(a);
}

static void a_new_limit_applies_to_later_data(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i6", READING_INTERVAL, 10.0);
	struct heard h = { 0 };

	store_set_alert_hook(t->s, on_alerts, &h);
	assert_int_equal(teststore_put(t, d, T0 + 20 * M, 3.0), 0);
	set_limit(t, d, 2.0); /* hour 00 is over the new limit: nothing yet */
	assert_int_equal(h.n, 0);
	assert_int_equal(teststore_put(t, d, T0 + 30 * M, 0.1), 0); /* later data: checked */
	assert_int_equal(h.n, 1);
	assert_near(h.a[0].kwh, 3.1);
	assert_near(h.a[0].limit_kwh, 2.0);
	set_limit(t, d, NAN);
	assert_int_equal(teststore_put(t, d, T0 + H + 30 * M, 50), 0);
	assert_int_equal(h.n, 1);
	store_set_alert_hook(t->s, NULL, NULL);
}

struct claim {
	struct teststore_wait w;
	int64_t device, hour;
	struct store_alert a;
};

static int claim_write(struct store_conn *c, void *ud)
{
	struct claim *x = ud;
	return store_alert_claim(c, x->device, x->hour, tz_now_ms(), &x->a);
}

static int claim(struct teststore *t, int64_t device, int64_t hour, struct store_alert *out)
{
	struct claim x = { { 0 }, device, hour, { 0 } };
	store_submit_write(t->s, claim_write, teststore_done, &x);
	if (teststore_wait(t, &x.w) == 0 && out)
		*out = x.a;
	return x.w.rc;
}

static void a_restart_raises_nothing_again(void **state)
{
	struct teststore *t = *state;
	int64_t d = limited(t, "i7", READING_INTERVAL, 1.0);
	struct store_alert *a, got;
	struct heard h = { 0 };

	assert_int_equal(teststore_put(t, d, T0 + 10 * M, 1.5), 0);
	teststore_reopen(t); /* open hours rebuilt from the journal */
	store_set_alert_hook(t->s, on_alerts, &h);
	assert_int_equal(teststore_put(t, d, T0 + 20 * M, 0.5), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(stored(t, &a), 1);
	assert_near(a[0].kwh, 1.5);
	/* Claimed once, then never again. */
	assert_int_equal(claim(t, d, T0, &got), 0);
	assert_int_equal(got.device, d);
	assert_int_equal(got.hour, T0);
	assert_int_equal(claim(t, d, T0, NULL), KW_ENOTFOUND);
	free(a);
	assert_int_equal(stored(t, &a), 0);
	free(a);
	teststore_reopen(t);
	assert_int_equal(stored(t, &a), 0);
	free(a);
	assert_int_equal(claim(t, d, T0 + H, NULL), KW_ENOTFOUND);
}

/* --- notifications ------------------------------------------------------------- */

struct notes {
	struct teststore_wait w;
	int64_t user;
	struct store_notification ins;
	bool unread_only;
	int64_t before;
	size_t limit;
	struct store_notification *list;
	size_t n;
	int64_t unread, changed;
	const int64_t *ids;
	size_t nids;
};

static int note_insert(struct store_conn *c, void *ud)
{
	return store_notification_insert(c, &((struct notes *)ud)->ins);
}

static int note_list(struct store_conn *c, void *ud)
{
	struct notes *x = ud;
	int rc = store_notification_list(c, x->user, x->unread_only, x->before, x->limit, &x->list,
					 &x->n);
	return rc ? rc : store_notification_unread(c, x->user, &x->unread);
}

static int note_read(struct store_conn *c, void *ud)
{
	struct notes *x = ud;
	return store_notification_read(c, x->user, x->ids, x->nids, 1234, &x->changed);
}

static int64_t note_new(struct teststore *t, int64_t user, int64_t hour)
{
	struct notes x = { .user = user };
	x.ins = (struct store_notification){ .user_id = user,
					     .kind = "alert",
					     .device = 7,
					     .hour = hour,
					     .hour_end = hour + H,
					     .kwh = 2.5,
					     .limit_kwh = 2 };
	store_submit_write(t->s, note_insert, teststore_done, &x);
	assert_int_equal(teststore_wait(t, &x.w), 0);
	assert_true(x.ins.id > 0);
	assert_true(x.ins.created_at > 0);
	return x.ins.id;
}

static void notes_list(struct teststore *t, struct notes *x)
{
	x->w = (struct teststore_wait){ 0 };
	free(x->list);
	x->list = NULL;
	store_submit_read(t->s, note_list, teststore_done, x);
	assert_int_equal(teststore_wait(t, &x->w), 0);
}

static void notes_read(struct teststore *t, struct notes *x, const int64_t *ids, size_t n)
{
	x->w = (struct teststore_wait){ 0 };
	x->ids = ids;
	x->nids = n;
	store_submit_write(t->s, note_read, teststore_done, x);
	assert_int_equal(teststore_wait(t, &x->w), 0);
}

static void notifications_are_each_users_own(void **state)
{
	struct teststore *t = *state;
	int64_t a1 = note_new(t, 1, T0), a2 = note_new(t, 1, T0 + H), b1 = note_new(t, 2, T0);
	int64_t a3 = note_new(t, 1, T0 + 2 * H);
	struct notes x = { .user = 1, .limit = 10 };

	notes_list(t, &x);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.list[0].id, a3); /* newest first */
	assert_int_equal(x.list[2].id, a1);
	assert_string_equal(x.list[0].kind, "alert");
	assert_int_equal(x.list[0].hour, T0 + 2 * H);
	assert_int_equal(x.list[0].read_at, 0);
	assert_int_equal(x.unread, 3);
	/* Paging: before the second one. */
	x.before = a2;
	x.limit = 1;
	notes_list(t, &x);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.list[0].id, a1);
	/* User 1 marks its a2 and user 2's b1: only a2 changes. */
	notes_read(t, &x, (int64_t[]){ a2, b1 }, 2);
	assert_int_equal(x.changed, 1);
	x.before = 0;
	x.limit = 10;
	x.unread_only = true;
	notes_list(t, &x);
	assert_int_equal(x.n, 2);
	assert_int_equal(x.unread, 2);
	assert_true(x.list[0].id == a3 && x.list[1].id == a1);
	/* All of user 1's. */
	notes_read(t, &x, NULL, 0);
	assert_int_equal(x.changed, 2);
	notes_list(t, &x);
	assert_int_equal(x.n, 0);
	assert_int_equal(x.unread, 0);
	x.unread_only = false;
	notes_list(t, &x);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.list[0].read_at, 1234);
	/* User 2's is untouched. */
	x.user = 2;
	notes_list(t, &x);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.unread, 1);
	free(x.list);
}

/* --- users' email_alerts and the admins ----------------------------------------------------- */

struct users {
	struct teststore_wait w;
	struct store_user u;
	struct store_user got;
	int64_t *admins;
	size_t nadm;
};

static int user_ins(struct store_conn *c, void *ud)
{
	struct users *x = ud;
	return store_user_insert(c, &x->u, "$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA");
}

static int user_upd(struct store_conn *c, void *ud)
{
	return store_user_update(c, &((struct users *)ud)->u);
}

static int user_get_admins(struct store_conn *c, void *ud)
{
	struct users *x = ud;
	int rc = store_user_get(c, x->u.id, &x->got);
	return rc ? rc : store_user_admin_ids(c, &x->admins, &x->nadm);
}

static void run(struct teststore *t, struct users *x, bool write,
		int (*fn)(struct store_conn *, void *))
{
	x->w = (struct teststore_wait){ 0 };
	if (write)
		store_submit_write(t->s, fn, teststore_done, x);
	else
		store_submit_read(t->s, fn, teststore_done, x);
	assert_int_equal(teststore_wait(t, &x->w), 0);
}

static void email_alerts_is_stored_and_admins_listed(void **state)
{
	struct teststore *t = *state;
	struct users a = { .u = { 0, "Ann", "ann@example.org", ROLE_ADMIN, NULL, false, 0, true } };
	struct users c = { .u = { 0, "Cid", "cid@example.org", ROLE_CLIENT, NULL, false, 0,
				  false } };
	struct users off = { .u = { 0, "Off", "off@example.org", ROLE_ADMIN, NULL, true, 0,
				    false } };

	run(t, &a, true, user_ins);
	run(t, &c, true, user_ins);
	run(t, &off, true, user_ins);
	run(t, &a, false, user_get_admins);
	assert_true(a.got.email_alerts);
	assert_int_equal(a.nadm, 1); /* the disabled admin is not listed */
	assert_int_equal(a.admins[0], a.u.id);
	store_user_release(&a.got);
	free(a.admins);
	run(t, &c, false, user_get_admins);
	assert_false(c.got.email_alerts);
	store_user_release(&c.got);
	free(c.admins);
	c.u.email_alerts = true;
	run(t, &c, true, user_upd);
	run(t, &c, false, user_get_admins);
	assert_true(c.got.email_alerts);
	store_user_release(&c.got);
	free(c.admins);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(one_alert_for_an_hour_over_its_limit,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(exactly_at_the_limit_is_not_over, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(one_batch_with_many_readings_raises_one,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(jobs_of_one_group_add_up, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(counter_spread_hours_alert_as_queried,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(late_data_raises_a_closed_hours_alert,
						teststore_setup, teststore_teardown),
		cmocka_unit_test_setup_teardown(no_limit_never_alerts, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(a_new_limit_applies_to_later_data, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(a_restart_raises_nothing_again, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(notifications_are_each_users_own, teststore_setup,
						teststore_teardown),
		cmocka_unit_test_setup_teardown(email_alerts_is_stored_and_admins_listed,
						teststore_setup, teststore_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
