/*
 * test_accounts.c - the store's accounts (store.h "accounts": users,
 * sessions, mappings, the audit log; SQLite implementation in
 * src/store/sqlite_accounts.c, schema in migration 6 of sqlite.c) against a
 * real store, and the password functions they are used with
 * (src/auth/password.c).
 *
 * Every store call runs as a job, as the daemon runs it: changes through
 * store_submit_write() on the writer thread, lookups through
 * store_submit_read() on a reader thread, each to completion
 * (teststore_wait) before the next, so a read sees every write before it.
 * Assertions run on the test thread only, after the job.
 *
 * "Invariant n" below cites the numbered invariants of sqlite_accounts.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/password.h"
#include "core/err.h"
#include "core/tz.h"
#include "tests/unit/support/teststore.h"

#define MINUTE (INT64_C(60000))
#define H      (INT64_C(3600000))

/* --- running one store call as a job ---------------------------------------------- */

/* A job: the wait first (teststore.h), then what the closure needs. */
struct job {
	struct teststore_wait w;
	int (*fn)(struct store_conn *c, void *arg);
	void *arg;
};

static int job_run(struct store_conn *c, void *ud)
{
	struct job *j = ud;
	return j->fn(c, j->arg);
}

/* Runs fn(c, arg) on the writer thread; returns its result. */
static int wr(struct teststore *t, int (*fn)(struct store_conn *, void *), void *arg)
{
	struct job j = { { 0 }, fn, arg };
	int rc = store_submit_write(t->s, job_run, teststore_done, &j);
	return rc ? rc : teststore_wait(t, &j.w);
}

/* Runs fn(c, arg) on a reader thread; returns its result. */
static int rd(struct teststore *t, int (*fn)(struct store_conn *, void *), void *arg)
{
	struct job j = { { 0 }, fn, arg };
	int rc = store_submit_read(t->s, job_run, teststore_done, &j);
	return rc ? rc : teststore_wait(t, &j.w);
}

/* Calls of the form f(c, id) and f(c, a, b), the most common shapes. */
struct id_call {
	int (*fn)(struct store_conn *, int64_t);
	int64_t id;
};

static int id_call(struct store_conn *c, void *arg)
{
	struct id_call *x = arg;
	return x->fn(c, x->id);
}

static int wr_id(struct teststore *t, int (*fn)(struct store_conn *, int64_t), int64_t id)
{
	struct id_call x = { fn, id };
	return wr(t, id_call, &x);
}

struct id2_call {
	int (*fn)(struct store_conn *, int64_t, int64_t);
	int64_t a, b;
};

static int id2_call(struct store_conn *c, void *arg)
{
	struct id2_call *x = arg;
	return x->fn(c, x->a, x->b);
}

static int wr_id2(struct teststore *t, int (*fn)(struct store_conn *, int64_t, int64_t), int64_t a,
		  int64_t b)
{
	struct id2_call x = { fn, a, b };
	return wr(t, id2_call, &x);
}

static int rd_id2(struct teststore *t, int (*fn)(struct store_conn *, int64_t, int64_t), int64_t a,
		  int64_t b)
{
	struct id2_call x = { fn, a, b };
	return rd(t, id2_call, &x);
}

/* --- users -------------------------------------------------------------------------- */

struct user_call {
	struct store_user *u;
	const char *hash;
	const char *email;
	char **hash_out;
};

static int c_user_insert(struct store_conn *c, void *arg)
{
	struct user_call *x = arg;
	return store_user_insert(c, x->u, x->hash);
}

static int c_user_update(struct store_conn *c, void *arg)
{
	struct user_call *x = arg;
	return store_user_update(c, x->u);
}

static int c_user_get(struct store_conn *c, void *arg)
{
	struct user_call *x = arg;
	return store_user_get(c, x->u->id, x->u);
}

static int c_user_by_email(struct store_conn *c, void *arg)
{
	struct user_call *x = arg;
	return store_user_by_email(c, x->email, x->u, x->hash_out);
}

static int c_set_password(struct store_conn *c, void *arg)
{
	struct user_call *x = arg;
	return store_user_set_password(c, x->u->id, x->hash);
}

static int user_insert(struct teststore *t, struct store_user *u, const char *hash)
{
	struct user_call x = { u, hash, NULL, NULL };
	return wr(t, c_user_insert, &x);
}

/* Creates a user; returns its id. */
static int64_t user_new(struct teststore *t, const char *email, const char *name,
			enum user_role role, const char *ref)
{
	struct store_user u = {
		0, (char *)name, (char *)email, role, (char *)ref, false, 0, false
	};
	assert_int_equal(user_insert(t, &u, "$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA"), 0);
	assert_true(u.id > 0);
	return u.id;
}

static int user_update(struct teststore *t, const struct store_user *u)
{
	struct user_call x = { (struct store_user *)u, NULL, NULL, NULL };
	return wr(t, c_user_update, &x);
}

/* Reads user id into *out (release it). */
static int user_get(struct teststore *t, int64_t id, struct store_user *out)
{
	struct user_call x = { out, NULL, NULL, NULL };
	memset(out, 0, sizeof(*out));
	out->id = id;
	return rd(t, c_user_get, &x);
}

static int user_by_email(struct teststore *t, const char *email, struct store_user *out,
			 char **hash)
{
	struct user_call x = { out, NULL, email, hash };
	memset(out, 0, sizeof(*out));
	return rd(t, c_user_by_email, &x);
}

static int set_password(struct teststore *t, int64_t id, const char *hash)
{
	struct store_user u = { .id = id };
	struct user_call x = { &u, hash, NULL, NULL };
	return wr(t, c_set_password, &x);
}

struct list_call {
	int64_t after;
	size_t limit;
	const char *q;
	struct store_user *out;
	size_t n;
};

static int c_user_list(struct store_conn *c, void *arg)
{
	struct list_call *x = arg;
	return store_user_list(c, x->after, x->limit, x->q, &x->out, &x->n);
}

/* The ids store_user_list() returns, as "1,2,3" in buf. */
static const char *user_list_ids(struct teststore *t, int64_t after, size_t limit, const char *q,
				 char *buf, size_t len)
{
	struct list_call x = { after, limit, q, NULL, 0 };
	size_t used = 0;

	assert_int_equal(rd(t, c_user_list, &x), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < x.n; i++) {
		used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
					 (long long)x.out[i].id);
		assert_true(used < len);
		store_user_release(&x.out[i]);
	}
	free(x.out);
	return buf;
}

static int c_user_admins(struct store_conn *c, void *arg)
{
	return store_user_admins(c, arg);
}

static int64_t admins(struct teststore *t)
{
	int64_t n = -1;
	assert_int_equal(rd(t, c_user_admins, &n), 0);
	return n;
}

/* --- sessions ----------------------------------------------------------------------- */

/* A session's secret hash: 32 bytes derived from k. */
static void shash(unsigned char h[32], int k)
{
	for (int i = 0; i < 32; i++)
		h[i] = (unsigned char)(k * 31 + i);
}

struct sess_call {
	unsigned char hash[32];
	int64_t user_id, now, expires_at, id;
	const char *csrf;
	struct store_session s;
	struct store_user u;
};

static int c_session_insert(struct store_conn *c, void *arg)
{
	struct sess_call *x = arg;
	return store_session_insert(c, x->hash, x->user_id, x->csrf, x->now, x->expires_at, &x->id);
}

static int c_session_find(struct store_conn *c, void *arg)
{
	struct sess_call *x = arg;
	return store_session_find(c, x->hash, &x->s, &x->u);
}

static int64_t session_new(struct teststore *t, int k, int64_t user_id, int64_t now,
			   int64_t expires_at)
{
	struct sess_call x = { .user_id = user_id, .now = now, .expires_at = expires_at };
	char csrf[32];

	snprintf(csrf, sizeof(csrf), "csrf-%d", k);
	x.csrf = csrf;
	shash(x.hash, k);
	assert_int_equal(wr(t, c_session_insert, &x), 0);
	assert_true(x.id > 0);
	return x.id;
}

/* Finds session k: 0 with *s and *u filled (release *u), or the error. */
static int session_find(struct teststore *t, int k, struct store_session *s, struct store_user *u)
{
	struct sess_call x = { 0 };
	int rc;

	shash(x.hash, k);
	rc = rd(t, c_session_find, &x);
	if (s)
		*s = x.s;
	if (u)
		*u = x.u;
	else
		store_user_release(&x.u);
	return rc;
}

/* --- mappings ----------------------------------------------------------------------- */

struct map_call {
	struct store_mapping m;
	int64_t user_id, device_id;
	struct store_mapping *list;
	size_t n;
};

static int c_mapping_insert(struct store_conn *c, void *arg)
{
	return store_mapping_insert(c, &((struct map_call *)arg)->m);
}

static int c_mapping_get(struct store_conn *c, void *arg)
{
	struct map_call *x = arg;
	return store_mapping_get(c, x->m.id, &x->m);
}

static int c_mapping_list(struct store_conn *c, void *arg)
{
	struct map_call *x = arg;
	return store_mapping_list(c, x->user_id, x->device_id, &x->list, &x->n);
}

static int mapping_insert(struct teststore *t, int64_t user_id, int64_t device_id,
			  struct store_mapping *out)
{
	struct map_call x = { .m = { 0, user_id, device_id, 0 } };
	int rc = wr(t, c_mapping_insert, &x);
	if (out)
		*out = x.m;
	return rc;
}

static int mapping_get(struct teststore *t, int64_t id, struct store_mapping *out)
{
	struct map_call x = { .m = { .id = id } };
	int rc = rd(t, c_mapping_get, &x);
	*out = x.m;
	return rc;
}

/* The mappings listed for (user_id, device_id), as "user:device,..." in buf. */
static const char *mapping_pairs(struct teststore *t, int64_t user_id, int64_t device_id, char *buf,
				 size_t len)
{
	struct map_call x = { .user_id = user_id, .device_id = device_id };
	size_t used = 0;

	assert_int_equal(rd(t, c_mapping_list, &x), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < x.n; i++) {
		if (i > 0)
			assert_true(x.list[i - 1].id < x.list[i].id); /* by id */
		used +=
		    (size_t)snprintf(buf + used, len - used, "%s%lld:%lld", i ? "," : "",
				     (long long)x.list[i].user_id, (long long)x.list[i].device_id);
		assert_true(used < len);
	}
	free(x.list);
	return buf;
}

/* --- audit -------------------------------------------------------------------------- */

static int c_audit_insert(struct store_conn *c, void *arg)
{
	return store_audit_insert(c, arg);
}

static void audit_add(struct teststore *t, const char *kind, int64_t actor, const char *action,
		      const char *type, const char *id)
{
	struct store_audit a = { 0, 0, kind, actor, NULL, action, type, id, NULL, NULL };
	assert_int_equal(wr(t, c_audit_insert, &a), 0);
}

/* What store_audit_list() gave: the entries' ids in order as "5,4,1", and
 * a copy of the first entry's strings. */
struct audit_call {
	int64_t before, actor_id;
	size_t limit;
	const char *object_type, *object_id;
	char ids[256];
	size_t n;
	struct store_audit first;
	char text[8][128]; /* the first entry's strings; "(null)" for NULL */
};

static void audit_seen(void *ud, const struct store_audit *a)
{
	struct audit_call *x = ud;
	size_t used = strlen(x->ids);

	snprintf(x->ids + used, sizeof(x->ids) - used, "%s%lld", x->n ? "," : "", (long long)a->id);
	if (x->n++ == 0) {
		const char *s[8] = { a->actor_kind, a->actor_name, a->action, a->object_type,
				     a->object_id,  a->before,	   a->after,  "" };
		x->first = *a;
		for (int i = 0; i < 8; i++)
			snprintf(x->text[i], sizeof(x->text[i]), "%s", s[i] ? s[i] : "(null)");
	}
}

static int c_audit_list(struct store_conn *c, void *arg)
{
	struct audit_call *x = arg;
	return store_audit_list(c, x->before, x->limit, x->actor_id, x->object_type, x->object_id,
				audit_seen, x);
}

static const char *audit_ids(struct teststore *t, struct audit_call *x)
{
	x->ids[0] = '\0';
	x->n = 0;
	assert_int_equal(rd(t, c_audit_list, x), 0);
	return x->ids;
}

/* ====================================================================================== */

static void users_insert_get_by_email_and_update(void **state)
{
	struct teststore *t = *state;
	struct store_user u = {
		0, "Alice Example", "Alice@Example.org", ROLE_CLIENT, "C-17", false, 0, false
	};
	struct store_user got;
	char *hash = NULL;
	int64_t before = tz_now_ms(), bob;

	assert_int_equal(user_insert(t, &u, "$argon2id$v=19$m=32768,t=3,p=1$abc$def"), 0);
	assert_true(u.id > 0);
	assert_true(u.created_at >= before && u.created_at <= tz_now_ms());

	assert_int_equal(user_get(t, u.id, &got), 0);
	assert_int_equal(got.id, u.id);
	assert_string_equal(got.name, "Alice Example");
	assert_string_equal(got.email, "Alice@Example.org"); /* stored as given */
	assert_int_equal(got.role, ROLE_CLIENT);
	assert_string_equal(got.customer_ref, "C-17");
	assert_false(got.disabled);
	assert_int_equal(got.created_at, u.created_at);
	store_user_release(&got);

	/* By email, in any case; the password string only when asked for. */
	assert_int_equal(user_by_email(t, "aLICE@eXAMPLE.ORG", &got, &hash), 0);
	assert_int_equal(got.id, u.id);
	assert_string_equal(hash, "$argon2id$v=19$m=32768,t=3,p=1$abc$def");
	free(hash);
	store_user_release(&got);
	assert_int_equal(user_by_email(t, "alice@example.org", &got, NULL), 0);
	assert_int_equal(got.id, u.id);
	store_user_release(&got);

	assert_int_equal(user_get(t, u.id + 100, &got), KW_ENOTFOUND);
	assert_int_equal(user_by_email(t, "nobody@example.org", &got, NULL), KW_ENOTFOUND);

	/* Update writes every field but the password and created_at. */
	u.name = "Alice B. Example";
	u.email = "alice@example.net";
	u.role = ROLE_ADMIN;
	u.customer_ref = NULL;
	u.disabled = true;
	assert_int_equal(user_update(t, &u), 0);
	assert_int_equal(user_get(t, u.id, &got), 0);
	assert_string_equal(got.name, "Alice B. Example");
	assert_string_equal(got.email, "alice@example.net");
	assert_int_equal(got.role, ROLE_ADMIN);
	assert_null(got.customer_ref);
	assert_true(got.disabled);
	assert_int_equal(got.created_at, u.created_at);
	store_user_release(&got);
	assert_int_equal(user_by_email(t, "alice@example.org", &got, NULL), KW_ENOTFOUND);
	assert_int_equal(user_by_email(t, "ALICE@example.net", &got, &hash), 0);
	assert_string_equal(hash, "$argon2id$v=19$m=32768,t=3,p=1$abc$def");
	free(hash);
	store_user_release(&got);

	/* Unknown id; an email another user has, in another case. */
	bob = user_new(t, "bob@example.org", "Bob", ROLE_CLIENT, NULL);
	u.id += 100;
	assert_int_equal(user_update(t, &u), KW_ENOTFOUND);
	u.id -= 100;
	u.email = "BOB@example.org";
	assert_int_equal(user_update(t, &u), KW_EEXIST);
	assert_int_equal(user_get(t, u.id, &got), 0);
	assert_string_equal(got.email, "alice@example.net"); /* the failed update left nothing */
	store_user_release(&got);
	assert_int_equal(user_get(t, bob, &got), 0);
	assert_string_equal(got.email, "bob@example.org");
	store_user_release(&got);
}

static void duplicate_email_is_eexist_in_any_case(void **state)
{
	struct teststore *t = *state;
	struct store_user a = { 0, "A", "same@example.org", ROLE_CLIENT, NULL, false, 0, false };
	struct store_user b = { 0, "B", "same@example.org", ROLE_ADMIN, NULL, false, 0, false };
	struct store_user c = { 0, "C", "SAME@Example.ORG", ROLE_ADMIN, NULL, false, 0, false };
	char ids[64];

	assert_int_equal(user_insert(t, &a, "$argon2id$x"), 0);
	assert_int_equal(user_insert(t, &b, "$argon2id$x"), KW_EEXIST);
	assert_int_equal(user_insert(t, &c, "$argon2id$x"), KW_EEXIST);
	snprintf(ids, sizeof(ids), "%lld", (long long)a.id);
	assert_string_equal(user_list_ids(t, 0, 100, NULL, (char[64]){ 0 }, 64), ids);
	assert_int_equal(admins(t), 0);
}

static void user_list_filters_and_pages(void **state)
{
	struct teststore *t = *state;
	char buf[128], want[128];
	int64_t id[5];

	id[0] = user_new(t, "ann@north.example", "Ann Archer", ROLE_CLIENT, "ACME-1");
	id[1] = user_new(t, "ben@south.example", "Ben Baker", ROLE_CLIENT, "acme-2");
	id[2] = user_new(t, "cy@north.example", "Cy Cooper", ROLE_ADMIN, NULL);
	id[3] = user_new(t, "dee@west.example", "Dee Dyer", ROLE_CLIENT, "Globex");
	id[4] = user_new(t, "eve@east.example", "Eve NORTHcott", ROLE_CLIENT, NULL);

#define IDS(...) (snprintf(want, sizeof(want), __VA_ARGS__), want)
	/* NULL or "" lists everyone, by id. */
	assert_string_equal(user_list_ids(t, 0, 100, NULL, buf, sizeof(buf)),
			    IDS("%lld,%lld,%lld,%lld,%lld", (long long)id[0], (long long)id[1],
				(long long)id[2], (long long)id[3], (long long)id[4]));
	assert_string_equal(user_list_ids(t, 0, 100, "", buf, sizeof(buf)), want);
	/* q in the email or the name, any case. */
	assert_string_equal(
	    user_list_ids(t, 0, 100, "north", buf, sizeof(buf)),
	    IDS("%lld,%lld,%lld", (long long)id[0], (long long)id[2], (long long)id[4]));
	assert_string_equal(user_list_ids(t, 0, 100, "BAKER", buf, sizeof(buf)),
			    IDS("%lld", (long long)id[1]));
	/* q in the customer reference, any case. */
	assert_string_equal(user_list_ids(t, 0, 100, "Acme", buf, sizeof(buf)),
			    IDS("%lld,%lld", (long long)id[0], (long long)id[1]));
	assert_string_equal(user_list_ids(t, 0, 100, "nobody", buf, sizeof(buf)), "");
	/* Pages: after the last id of each page, at most limit. */
	assert_string_equal(user_list_ids(t, 0, 2, NULL, buf, sizeof(buf)),
			    IDS("%lld,%lld", (long long)id[0], (long long)id[1]));
	assert_string_equal(user_list_ids(t, id[1], 2, NULL, buf, sizeof(buf)),
			    IDS("%lld,%lld", (long long)id[2], (long long)id[3]));
	assert_string_equal(user_list_ids(t, id[3], 2, NULL, buf, sizeof(buf)),
			    IDS("%lld", (long long)id[4]));
	assert_string_equal(user_list_ids(t, id[4], 2, NULL, buf, sizeof(buf)), "");
	/* Paging and a filter together. */
	assert_string_equal(user_list_ids(t, id[0], 1, "north", buf, sizeof(buf)),
			    IDS("%lld", (long long)id[2]));
#undef IDS
}

static void admin_count_counts_enabled_admins(void **state)
{
	struct teststore *t = *state;
	struct store_user u;
	int64_t a;

	assert_int_equal(admins(t), 0);
	a = user_new(t, "root@example.org", "Root", ROLE_ADMIN, NULL);
	user_new(t, "ops@example.org", "Ops", ROLE_ADMIN, NULL);
	user_new(t, "client@example.org", "Client", ROLE_CLIENT, NULL);
	assert_int_equal(admins(t), 2);
	assert_int_equal(user_get(t, a, &u), 0);
	u.disabled = true;
	assert_int_equal(user_update(t, &u), 0);
	assert_int_equal(admins(t), 1);
	u.disabled = false;
	u.role = ROLE_CLIENT;
	assert_int_equal(user_update(t, &u), 0);
	assert_int_equal(admins(t), 1);
	store_user_release(&u);
}

static void set_password_ends_the_users_sessions(void **state)
{
	struct teststore *t = *state;
	int64_t now = tz_now_ms();
	int64_t a = user_new(t, "a@example.org", "A", ROLE_CLIENT, NULL);
	int64_t b = user_new(t, "b@example.org", "B", ROLE_CLIENT, NULL);
	struct store_user u;
	char *hash = NULL;

	session_new(t, 1, a, now, now + H);
	session_new(t, 2, a, now, now + H);
	session_new(t, 3, b, now, now + H);
	assert_int_equal(set_password(t, a, "$argon2id$new"), 0);
	assert_int_equal(user_by_email(t, "a@example.org", &u, &hash), 0);
	assert_string_equal(hash, "$argon2id$new");
	free(hash);
	store_user_release(&u);
	/* Invariant 3: a's sessions are gone, b's is not. */
	assert_int_equal(session_find(t, 1, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 2, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 3, NULL, NULL), 0);
	assert_int_equal(set_password(t, b + 100, "$argon2id$x"), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 3, NULL, NULL), 0);
}

static void deleting_a_user_removes_its_sessions_and_mappings(void **state)
{
	struct teststore *t = *state;
	int64_t now = tz_now_ms();
	int64_t a = user_new(t, "a@example.org", "A", ROLE_CLIENT, NULL);
	int64_t b = user_new(t, "b@example.org", "B", ROLE_CLIENT, NULL);
	int64_t d = teststore_device(t, "meter-1", "UTC", READING_INTERVAL);
	struct store_user u;
	char buf[64], want[64];

	session_new(t, 1, a, now, now + H);
	session_new(t, 2, b, now, now + H);
	assert_int_equal(mapping_insert(t, a, d, NULL), 0);
	assert_int_equal(mapping_insert(t, b, d, NULL), 0);

	assert_int_equal(wr_id(t, store_user_delete, a), 0);
	assert_int_equal(user_get(t, a, &u), KW_ENOTFOUND);
	assert_int_equal(user_by_email(t, "a@example.org", &u, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 1, NULL, NULL), KW_ENOTFOUND);
	assert_string_equal(mapping_pairs(t, a, 0, buf, sizeof(buf)), "");
	/* Invariant 3 touches only that user. */
	assert_int_equal(session_find(t, 2, NULL, NULL), 0);
	snprintf(want, sizeof(want), "%lld:%lld", (long long)b, (long long)d);
	assert_string_equal(mapping_pairs(t, 0, d, buf, sizeof(buf)), want);
	assert_int_equal(wr_id(t, store_user_delete, a), KW_ENOTFOUND);
	/* The email is free again. */
	user_new(t, "A@example.org", "A again", ROLE_CLIENT, NULL);
}

static void sessions_insert_find_touch_and_delete(void **state)
{
	struct teststore *t = *state;
	int64_t now = tz_now_ms();
	int64_t a = user_new(t, "a@example.org", "Ann", ROLE_ADMIN, "R-1");
	int64_t b = user_new(t, "b@example.org", "Bo", ROLE_CLIENT, NULL);
	int64_t s1 = session_new(t, 1, a, now, now + 8 * H);
	struct sess_call dup = { .user_id = b, .now = now, .expires_at = now + H, .csrf = "x" };
	struct store_session s;
	struct store_user u;

	session_new(t, 2, a, now, now + 8 * H);
	session_new(t, 3, b, now, now + 8 * H);

	/* Found by the hash of its secret, with its user (invariant 2). */
	assert_int_equal(session_find(t, 1, &s, &u), 0);
	assert_int_equal(s.id, s1);
	assert_int_equal(s.user_id, a);
	assert_string_equal(s.csrf, "csrf-1");
	assert_int_equal(s.created_at, now);
	assert_int_equal(s.last_seen_at, now);
	assert_int_equal(s.expires_at, now + 8 * H);
	assert_int_equal(u.id, a);
	assert_string_equal(u.email, "a@example.org");
	assert_string_equal(u.name, "Ann");
	assert_int_equal(u.role, ROLE_ADMIN);
	assert_string_equal(u.customer_ref, "R-1");
	assert_false(u.disabled);
	store_user_release(&u);
	assert_int_equal(session_find(t, 9, &s, NULL), KW_ENOTFOUND);

	/* The same secret twice is refused. */
	shash(dup.hash, 1);
	assert_int_equal(wr(t, c_session_insert, &dup), KW_EEXIST);

	/* Touch records the last use only. */
	assert_int_equal(wr_id2(t, store_session_touch, s1, now + 5 * MINUTE), 0);
	assert_int_equal(session_find(t, 1, &s, NULL), 0);
	assert_int_equal(s.last_seen_at, now + 5 * MINUTE);
	assert_int_equal(s.created_at, now);
	assert_int_equal(s.expires_at, now + 8 * H);

	assert_int_equal(wr_id(t, store_session_delete, s1), 0);
	assert_int_equal(session_find(t, 1, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 2, NULL, NULL), 0);

	assert_int_equal(wr_id(t, store_session_delete_user, a), 0);
	assert_int_equal(session_find(t, 2, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 3, NULL, NULL), 0);
}

static void session_purge_by_absolute_and_idle_expiry(void **state)
{
	struct teststore *t = *state;
	int64_t now = tz_now_ms(), idle_before = now - 30 * MINUTE;
	int64_t a = user_new(t, "a@example.org", "A", ROLE_CLIENT, NULL);
	int64_t recent;

	/* Each purged for one reason only: 1 and 2 were just used. */
	session_new(t, 1, a, now, now - 1);		/* expired */
	session_new(t, 2, a, now, now);			/* expires right now */
	session_new(t, 3, a, idle_before - 1, now + H); /* idle too long */
	session_new(t, 4, a, idle_before, now + H);	/* idle exactly the limit */
	session_new(t, 5, a, now, now + 1);		/* expires just after now */
	/* Idle since creation, but used since. */
	recent = session_new(t, 6, a, now - 2 * H, now + H);
	assert_int_equal(wr_id2(t, store_session_touch, recent, now - MINUTE), 0);

	assert_int_equal(wr_id2(t, store_session_purge, now, idle_before), 0);
	assert_int_equal(session_find(t, 1, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 2, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 3, NULL, NULL), KW_ENOTFOUND);
	assert_int_equal(session_find(t, 4, NULL, NULL), 0);
	assert_int_equal(session_find(t, 5, NULL, NULL), 0);
	assert_int_equal(session_find(t, 6, NULL, NULL), 0);
}

static void mappings_insert_get_list_exists_and_delete(void **state)
{
	struct teststore *t = *state;
	int64_t a = user_new(t, "a@example.org", "A", ROLE_CLIENT, NULL);
	int64_t b = user_new(t, "b@example.org", "B", ROLE_CLIENT, NULL);
	int64_t d1 = teststore_device(t, "meter-1", "UTC", READING_INTERVAL);
	int64_t d2 = teststore_device(t, "meter-2", "UTC", READING_COUNTER);
	int64_t before = tz_now_ms();
	struct store_mapping m, ad2, got;
	char buf[128], want[128];

	assert_int_equal(mapping_insert(t, a, d1, &m), 0);
	assert_true(m.id > 0);
	assert_true(m.created_at >= before && m.created_at <= tz_now_ms());
	assert_int_equal(mapping_insert(t, a, d2, &ad2), 0);
	assert_int_equal(mapping_insert(t, b, d1, NULL), 0);
	assert_int_equal(mapping_insert(t, a, d1, NULL), KW_EEXIST);

	assert_int_equal(mapping_get(t, m.id, &got), 0);
	assert_int_equal(got.id, m.id);
	assert_int_equal(got.user_id, a);
	assert_int_equal(got.device_id, d1);
	assert_int_equal(got.created_at, m.created_at);
	assert_int_equal(mapping_get(t, m.id + 100, &got), KW_ENOTFOUND);

#define PAIRS(...) (snprintf(want, sizeof(want), __VA_ARGS__), want)
	assert_string_equal(
	    mapping_pairs(t, a, 0, buf, sizeof(buf)),
	    PAIRS("%lld:%lld,%lld:%lld", (long long)a, (long long)d1, (long long)a, (long long)d2));
	assert_string_equal(
	    mapping_pairs(t, 0, d1, buf, sizeof(buf)),
	    PAIRS("%lld:%lld,%lld:%lld", (long long)a, (long long)d1, (long long)b, (long long)d1));
	assert_string_equal(mapping_pairs(t, b, d1, buf, sizeof(buf)),
			    PAIRS("%lld:%lld", (long long)b, (long long)d1));
	assert_string_equal(mapping_pairs(t, b, d2, buf, sizeof(buf)), "");
	assert_string_equal(mapping_pairs(t, 0, 0, buf, sizeof(buf)),
			    PAIRS("%lld:%lld,%lld:%lld,%lld:%lld", (long long)a, (long long)d1,
				  (long long)a, (long long)d2, (long long)b, (long long)d1));

	assert_int_equal(rd_id2(t, store_mapping_exists, a, d1), 0);
	assert_int_equal(rd_id2(t, store_mapping_exists, b, d2), KW_ENOTFOUND);

	assert_int_equal(wr_id(t, store_mapping_delete, m.id), 0);
	assert_int_equal(wr_id(t, store_mapping_delete, m.id), KW_ENOTFOUND);
	assert_int_equal(rd_id2(t, store_mapping_exists, a, d1), KW_ENOTFOUND);
	assert_int_equal(mapping_get(t, m.id, &got), KW_ENOTFOUND);
	assert_string_equal(mapping_pairs(t, a, 0, buf, sizeof(buf)),
			    PAIRS("%lld:%lld", (long long)a, (long long)d2));
	/* Mapped again, it is a new mapping. */
	assert_int_equal(mapping_insert(t, a, d1, &got), 0);
	assert_true(got.id > ad2.id);
#undef PAIRS
}

static int c_device_delete(struct store_conn *c, void *arg)
{
	return store_device_delete(c, *(int64_t *)arg);
}

static void deleting_a_device_removes_its_mappings(void **state)
{
	struct teststore *t = *state;
	int64_t a = user_new(t, "a@example.org", "A", ROLE_CLIENT, NULL);
	int64_t b = user_new(t, "b@example.org", "B", ROLE_CLIENT, NULL);
	int64_t d1 = teststore_device(t, "meter-1", "UTC", READING_INTERVAL);
	int64_t d2 = teststore_device(t, "meter-2", "UTC", READING_INTERVAL);
	char buf[128], want[128];

	assert_int_equal(mapping_insert(t, a, d1, NULL), 0);
	assert_int_equal(mapping_insert(t, b, d1, NULL), 0);
	assert_int_equal(mapping_insert(t, a, d2, NULL), 0);
	assert_int_equal(wr(t, c_device_delete, &d1), 0);

	assert_string_equal(mapping_pairs(t, 0, d1, buf, sizeof(buf)), "");
	assert_int_equal(rd_id2(t, store_mapping_exists, a, d1), KW_ENOTFOUND);
	assert_int_equal(rd_id2(t, store_mapping_exists, b, d1), KW_ENOTFOUND);
	snprintf(want, sizeof(want), "%lld:%lld", (long long)a, (long long)d2);
	assert_string_equal(mapping_pairs(t, 0, 0, buf, sizeof(buf)), want);
}

static void audit_lists_newest_first_with_cursor_limit_and_filters(void **state)
{
	struct teststore *t = *state;
	struct store_audit full = { 0,
				    INT64_C(1738972800000),
				    "user",
				    7,
				    "root@example.org",
				    "user.update",
				    "user",
				    "12",
				    "{\"disabled\":false}",
				    "{\"disabled\":true}" };
	struct audit_call x = { .limit = 100 };
	int64_t before = tz_now_ms();

	/* Entries 1-7: who (kind, actor id), what (action), on what. */
	assert_int_equal(wr(t, c_audit_insert, &full), 0);	       /* 1 */
	audit_add(t, "cli", 0, "user.create", "user", "7");	       /* 2 */
	audit_add(t, "token", 3, "mapping.create", "mapping", "1");    /* 3 */
	audit_add(t, "user", 7, "mapping.delete", "mapping", "1");     /* 4 */
	audit_add(t, "user", 12, "user.password_reset", "user", "12"); /* 5 */
	audit_add(t, "token", 3, "device.update", "device", "7");      /* 6 */
	audit_add(t, "cli", 0, "user.update", "user", "70");	       /* 7 */

	assert_string_equal(audit_ids(t, &x), "7,6,5,4,3,2,1");
	/* Every field comes back; at 0 means now. */
	assert_int_equal(x.first.id, 7);
	assert_true(x.first.at >= before && x.first.at <= tz_now_ms());
	assert_string_equal(x.text[0], "cli");
	assert_int_equal(x.first.actor_id, 0);
	assert_string_equal(x.text[1], "(null)");
	assert_string_equal(x.text[2], "user.update");
	assert_string_equal(x.text[3], "user");
	assert_string_equal(x.text[4], "70");
	assert_string_equal(x.text[5], "(null)");
	assert_string_equal(x.text[6], "(null)");
	x.before = 2;
	assert_string_equal(audit_ids(t, &x), "1");
	assert_int_equal(x.first.at, INT64_C(1738972800000));
	assert_string_equal(x.text[0], "user");
	assert_int_equal(x.first.actor_id, 7);
	assert_string_equal(x.text[1], "root@example.org");
	assert_string_equal(x.text[2], "user.update");
	assert_string_equal(x.text[3], "user");
	assert_string_equal(x.text[4], "12");
	assert_string_equal(x.text[5], "{\"disabled\":false}");
	assert_string_equal(x.text[6], "{\"disabled\":true}");

	/* Paging: at most limit, then before the last id seen. */
	x = (struct audit_call){ .limit = 3 };
	assert_string_equal(audit_ids(t, &x), "7,6,5");
	x.before = 5;
	assert_string_equal(audit_ids(t, &x), "4,3,2");
	x.before = 2;
	assert_string_equal(audit_ids(t, &x), "1");
	x.before = 1;
	assert_string_equal(audit_ids(t, &x), "");

	/* By or about user 7: entries by actor 7, and entries on user "7"
	 * (not on device "7", not on user "70"). */
	x = (struct audit_call){ .limit = 100, .actor_id = 7 };
	assert_string_equal(audit_ids(t, &x), "4,2,1");
	/* By or about user 12. */
	x.actor_id = 12;
	assert_string_equal(audit_ids(t, &x), "5,1");
	/* The filter is about users: token 3's entries are not user 3's. */
	x.actor_id = 3;
	assert_string_equal(audit_ids(t, &x), "");
	/* Object type, object id, and both. */
	x = (struct audit_call){ .limit = 100, .object_type = "mapping" };
	assert_string_equal(audit_ids(t, &x), "4,3");
	x = (struct audit_call){ .limit = 100, .object_id = "7" };
	assert_string_equal(audit_ids(t, &x), "6,2");
	x = (struct audit_call){ .limit = 100, .object_type = "user", .object_id = "12" };
	assert_string_equal(audit_ids(t, &x), "5,1");
	/* Filters, cursor and limit together. */
	x = (struct audit_call){ .limit = 1, .before = 5, .object_type = "user" };
	assert_string_equal(audit_ids(t, &x), "2");
	x = (struct audit_call){ .limit = 100, .actor_id = 7, .object_type = "mapping" };
	assert_string_equal(audit_ids(t, &x), "4");
}

/* --- passwords (src/auth/password.c) --------------------------------------------------- */

static void password_hash_and_verify(void **state)
{
	char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("correct horse battery", h1), 0);
	assert_true(strncmp(h1, "$argon2id$", 10) == 0);
	assert_non_null(strstr(h1, "m=32768,t=3")); /* 32 MiB, 3 passes (password.h) */
	assert_true(password_verify(h1, "correct horse battery"));
	assert_false(password_verify(h1, "correct horse batterY"));
	assert_false(password_verify(h1, "correct horse battery "));
	assert_false(password_verify(h1, ""));
	/* A fresh salt each time: same password, another string, both verify. */
	assert_int_equal(password_hash("correct horse battery", h2), 0);
	assert_string_not_equal(h1, h2);
	assert_true(password_verify(h2, "correct horse battery"));
	/* Not a hash at all. */
	assert_false(password_verify("correct horse battery", "correct horse battery"));
	/* The dummy hash has the same shape and matches nothing guessable. */
	assert_true(strncmp(password_dummy_hash(), "$argon2id$", 10) == 0);
	assert_false(password_verify(password_dummy_hash(), ""));
}

static void password_policy_limits(void **state)
{
	char pw[PASSWORD_MAX_BYTES + 2];
	const char *why;

	assert_non_null(why = password_policy("123456789")); /* 9 */
	assert_non_null(strstr(why, "at least 10 characters"));
	assert_null(password_policy("1234567890")); /* 10 */
	assert_non_null(password_policy(""));
	/* Characters, not bytes: 9 two-byte é (18 bytes) are too few, 10 are
	 * enough, and so are 10 three-byte € or four-byte 𝄞. */
	assert_non_null(password_policy("ééééééééé"));
	assert_null(password_policy("éééééééééé"));
	assert_null(password_policy("€€€€€€€€€€"));
	assert_non_null(password_policy("𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞"));
	assert_null(password_policy("𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞"));
	/* At most 1024 bytes. */
	memset(pw, 'x', PASSWORD_MAX_BYTES);
	pw[PASSWORD_MAX_BYTES] = '\0';
	assert_null(password_policy(pw));
	pw[PASSWORD_MAX_BYTES] = 'x';
	pw[PASSWORD_MAX_BYTES + 1] = '\0';
	assert_non_null(why = password_policy(pw));
	assert_non_null(strstr(why, "at most 1024 bytes"));
}

static void password_generate_uses_its_alphabet(void **state)
{
	/* password.c's alphabet: no 0/O/o, 1/l/I/i look-alikes. */
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
	char a[PASSWORD_GEN_CHARS + 1], b[PASSWORD_GEN_CHARS + 1];

	assert_int_equal(PASSWORD_GEN_CHARS, 20);
	password_generate(a);
	password_generate(b);
	assert_int_equal(strlen(a), 20);
	assert_int_equal(strlen(b), 20);
	assert_int_equal(strspn(a, alphabet), 20);
	assert_int_equal(strspn(b, alphabet), 20);
	assert_string_not_equal(a, b); /* 2^-117 to fail by chance */
	assert_null(password_policy(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define STORE_TEST(f) cmocka_unit_test_setup_teardown(f, teststore_setup, teststore_teardown)
		STORE_TEST(users_insert_get_by_email_and_update),
		STORE_TEST(duplicate_email_is_eexist_in_any_case),
		STORE_TEST(user_list_filters_and_pages),
		STORE_TEST(admin_count_counts_enabled_admins),
		STORE_TEST(set_password_ends_the_users_sessions),
		STORE_TEST(deleting_a_user_removes_its_sessions_and_mappings),
		STORE_TEST(sessions_insert_find_touch_and_delete),
		STORE_TEST(session_purge_by_absolute_and_idle_expiry),
		STORE_TEST(mappings_insert_get_list_exists_and_delete),
		STORE_TEST(deleting_a_device_removes_its_mappings),
		STORE_TEST(audit_lists_newest_first_with_cursor_limit_and_filters),
#undef STORE_TEST
		cmocka_unit_test(password_hash_and_verify),
		cmocka_unit_test(password_policy_limits),
		cmocka_unit_test(password_generate_uses_its_alphabet),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tz_shutdown();
	return rc;
}
