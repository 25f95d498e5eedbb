/*
 * api_users.c - admins manage users and who owns which device:
 *   /api/v1/users[/{id}[/password]], /api/v1/mappings[/{id}]
 *
 * Every change is one write job that also records the audit entry (who,
 * when, what, before and after), so the record and the change commit
 * together.  Passwords are hashed on libuv's thread pool before the job;
 * a generated password is answered once and never stored in clear.
 *
 * Thread-safety: loop thread; the job closures run on the writer/readers.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth/password.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "http/ws.h"
#include "core/banned.h"

#define NAME_MAX_BYTES	200
#define EMAIL_MAX_BYTES 254
#define REF_MAX_BYTES	100

char *api_audit_text(json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return t;
}

int api_audit(struct store_conn *c, const struct http_req *r, const char *action,
	      const char *object_type, const char *object_id, const char *before, const char *after)
{
	bool user = r->who.kind == PRINCIPAL_ADMIN_USER || r->who.kind == PRINCIPAL_CLIENT;
	struct store_audit a = {
		.actor_kind = user ? "user" : "token",
		.actor_id = user ? r->who.user_id : r->who.token_id,
		.actor_name = r->who.name,
		.action = action,
		.object_type = object_type,
		.object_id = object_id,
		.before = before,
		.after = after,
	};
	return store_audit_insert(c, &a);
}

/* Records action on a user (before/after may be NULL). */
static int audit_user(struct store_conn *c, const struct http_req *r, const char *action,
		      int64_t id, const struct store_user *before, const struct store_user *after)
{
	char oid[24];
	char *b = before ? api_audit_text(api_user_json(before)) : NULL;
	char *f = after ? api_audit_text(api_user_json(after)) : NULL;
	int rc;

	snprintf(oid, sizeof(oid), "%lld", (long long)id);
	rc = api_audit(c, r, action, "user", oid, b, f);
	free(b);
	free(f);
	return rc;
}

static bool parse_id(const char *s, int64_t *id)
{
	char *end;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || v <= 0)
		return false;
	*id = v;
	return true;
}

static bool email_ok(const char *e)
{
	const char *at = strchr(e, '@');
	if (!at || at == e || !at[1] || strchr(at + 1, '@') || strlen(e) > EMAIL_MAX_BYTES)
		return false;
	for (; *e; e++)
		if (isspace((unsigned char)*e) || iscntrl((unsigned char)*e))
			return false;
	return true;
}

/* --- one job shape for every user action ------------------------------------------ */

enum user_op { OP_CREATE, OP_UPDATE, OP_DELETE, OP_RESET, OP_GET, OP_LIST };

struct user_job {
	struct http_req *r;
	enum user_op op;
	int64_t id;
	struct store_user u; /* the new or changed fields (create, update) */
	json_t *patch;	     /* update: the fields given */
	char pw[PASSWORD_MAX_BYTES + 1];
	bool generated;
	char hash[PASSWORD_HASH_MAX];
	uv_work_t work;
	/* results */
	struct store_user *list;
	size_t n;
	struct store_mapping *maps;
	size_t nmaps;
	int status;
	const char *err_msg;
	/* list */
	int64_t after;
	size_t limit;
	char *q;
};

static void user_job_free(void *p)
{
	struct user_job *j = p;
	store_user_release(&j->u);
	for (size_t i = 0; i < j->n; i++)
		store_user_release(&j->list[i]);
	free(j->list);
	free(j->maps);
	json_decref(j->patch);
	free(j->q);
	sodium_memzero(j->pw, sizeof(j->pw));
	free(j);
}

static struct user_job *user_job_new(struct http_req *r, enum user_op op)
{
	struct user_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->op = op;
	j->work.data = j;
	r->ctx = j;
	r->ctx_free = user_job_free;
	return j;
}

/* Applies a JSON object of user fields to u; returns -1 on the first bad
 * one, answering 400 when r is not NULL (the loop thread validates first;
 * the writer applies without answering). */
static int apply_user(struct http_req *r, struct store_user *u, json_t *o, bool creating)
{
	const char *key;
	json_t *v;

	json_object_foreach (o, key, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;
		if (strcmp(key, "name") == 0 && s && *s && strlen(s) <= NAME_MAX_BYTES) {
			free(u->name);
			u->name = xstrdup(s);
		} else if (strcmp(key, "email") == 0 && s && email_ok(s)) {
			free(u->email);
			u->email = xstrdup(s);
			for (char *p = u->email; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		} else if (strcmp(key, "role") == 0 && s &&
			   (strcmp(s, "admin") == 0 || strcmp(s, "client") == 0)) {
			u->role = strcmp(s, "admin") == 0 ? ROLE_ADMIN : ROLE_CLIENT;
		} else if (strcmp(key, "customer_ref") == 0 &&
			   (json_is_null(v) || (s && strlen(s) <= REF_MAX_BYTES))) {
			free(u->customer_ref);
			u->customer_ref = s && *s ? xstrdup(s) : NULL;
		} else if (strcmp(key, "disabled") == 0 && json_is_boolean(v)) {
			u->disabled = json_is_true(v);
		} else if (strcmp(key, "email_alerts") == 0 && json_is_boolean(v)) {
			u->email_alerts = json_is_true(v);
		} else if (creating && strcmp(key, "password") == 0 && s) {
			continue; /* taken by the caller */
		} else {
			static const char *const known[] = { "name",	 "email",
							     "role",	 "customer_ref",
							     "disabled", "email_alerts" };
			bool is_known = false;
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				is_known |= strcmp(key, known[i]) == 0;
			if (!r)
				return -1;
			if (is_known)
				http_reply_error(r, 400, "invalid_value", key, 0,
						 "bad value for %s (name: 1-200 bytes; email: an "
						 "address; role: admin or client; customer_ref: "
						 "string or null; disabled, email_alerts: boolean)",
						 key);
			else
				http_reply_error(r, 400, "unknown_field", key, 0,
						 "unknown field '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

static int user_write(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	struct http_req *r = j->r;
	struct store_user before = { 0 };
	int64_t admins;
	bool removes;
	int rc;

	switch (j->op) {
	case OP_CREATE:
		if ((rc = store_user_insert(c, &j->u, j->hash)) != 0)
			return rc;
		return audit_user(c, r, "user.create", j->u.id, NULL, &j->u);
	case OP_UPDATE:
	case OP_DELETE:
	case OP_RESET:
		if ((rc = store_user_get(c, j->id, &before)) != 0)
			return rc;
		break;
	default:
		return KW_EINVAL;
	}
	if (j->op == OP_UPDATE) {
		j->u =
		    (struct store_user){ before.id,
					 xstrdup(before.name),
					 xstrdup(before.email),
					 before.role,
					 before.customer_ref ? xstrdup(before.customer_ref) : NULL,
					 before.disabled,
					 before.created_at,
					 before.email_alerts };
		if (apply_user(NULL, &j->u, j->patch, false) != 0) {
			rc = KW_EINVAL; /* validated on the loop thread already */
		} else if (j->id == r->who.user_id && (j->u.role != ROLE_ADMIN || j->u.disabled)) {
			j->status = 409;
			j->err_msg = "you cannot demote or disable yourself";
			rc = KW_EINVAL;
		} else if ((rc = store_user_update(c, &j->u)) == 0) {
			if (j->u.disabled && !before.disabled)
				rc = store_session_delete_user(c, j->id);
			if (rc == 0)
				rc = audit_user(c, r, "user.update", j->id, &before, &j->u);
		}
	} else if (j->op == OP_DELETE) {
		if (j->id == r->who.user_id) {
			j->status = 409;
			j->err_msg = "you cannot delete yourself";
			rc = KW_EINVAL;
		} else if ((rc = store_user_delete(c, j->id)) == 0) {
			rc = audit_user(c, r, "user.delete", j->id, &before, NULL);
		}
	} else {
		rc = store_user_set_password(c, j->id, j->hash);
		if (rc == 0)
			rc = audit_user(c, r, "user.password_reset", j->id, NULL, NULL);
	}
	/* A change that removes an enabled admin must leave another one. */
	removes = before.role == ROLE_ADMIN && !before.disabled &&
		  (j->op == OP_DELETE ||
		   (j->op == OP_UPDATE && (j->u.role != ROLE_ADMIN || j->u.disabled)));
	if (rc == 0 && removes && (rc = store_user_admins(c, &admins)) == 0 && admins == 0) {
		j->status = 409;
		j->err_msg = "this would leave no enabled admin";
		rc = KW_EINVAL;
	}
	store_user_release(&before);
	return rc;
}

static void user_written(void *ud, int rc)
{
	struct user_job *j = ud;
	struct http_req *r = j->r;
	json_t *o;

	if (j->status == 409) {
		http_reply_error(r, 409, "conflict", NULL, 0, "%s", j->err_msg);
		return;
	}
	if (rc == KW_EEXIST) {
		http_reply_error(r, 409, "conflict", "email", 0, "a user with that email exists");
		return;
	}
	if (rc == KW_ENOTFOUND) {
		http_reply_error(r, 404, "not_found", "id", 0, "no user %lld", (long long)j->id);
		return;
	}
	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	if (j->op != OP_CREATE)
		http_forget_user(r->srv, j->id); /* sessions may have ended */
	/* Its live sockets: closed (1008) when the user is deleted, disabled or
	 * its password reset; after another change its role is read again. */
	if (j->op == OP_UPDATE && !j->u.disabled)
		ws_user_changed(http_hub(r->srv), j->id);
	else if (j->op != OP_CREATE)
		ws_close_user(http_hub(r->srv), j->id);
	switch (j->op) {
	case OP_CREATE:
		o = json_pack("{s:o}", "user", api_user_json(&j->u));
		if (j->generated)
			json_object_set_new(o, "password", json_string(j->pw));
		http_reply_json(r, 201, o);
		break;
	case OP_UPDATE:
		http_reply_json(r, 200, json_pack("{s:o}", "user", api_user_json(&j->u)));
		break;
	case OP_RESET:
		http_reply_json(r, 200, json_pack("{s:s}", "password", j->pw));
		break;
	default:
		http_reply_empty(r, 204);
	}
}

static void submit_user_write(struct user_job *j)
{
	int rc = store_submit_write(j->r->store, user_write, user_written, j);
	if (rc)
		http_reply_kwerr(j->r, rc);
}

static void hash_work(uv_work_t *w)
{
	struct user_job *j = w->data;
	if (password_hash(j->pw, j->hash) != 0)
		j->hash[0] = '\0';
}

static void hash_done(uv_work_t *w, int status)
{
	struct user_job *j = w->data;
	if (status != 0 || !j->hash[0]) {
		http_reply_error(j->r, 500, "internal", NULL, 0, "cannot hash the password");
		return;
	}
	submit_user_write(j);
}

/* Hashes j->pw on the thread pool, then runs the write job. */
static void hash_then_write(struct user_job *j)
{
	int rc = uv_queue_work(http_loop(j->r), &j->work, hash_work, hash_done);
	if (rc) {
		http_reply_error(j->r, 500, "internal", NULL, 0, "cannot hash: %s",
				 uv_strerror(rc));
		return;
	}
	http_suspend(j->r);
}

/* --- endpoints ------------------------------------------------------------------------ */

void api_users_create(struct http_req *r)
{
	json_t *o = api_body_object(r), *pw;
	struct user_job *j;
	const char *why;

	if (!o)
		return;
	j = user_job_new(r, OP_CREATE);
	j->u.role = ROLE_CLIENT;
	if (apply_user(r, &j->u, o, true) != 0)
		goto out;
	if (!j->u.name || !j->u.email) {
		http_reply_error(r, 400, "missing_field", j->u.name ? "email" : "name", 0,
				 "%s is required", j->u.name ? "email" : "name");
		goto out;
	}
	pw = json_object_get(o, "password");
	if (pw && (!json_is_string(pw) || (why = password_policy(json_string_value(pw))))) {
		http_reply_error(r, 400, "invalid_value", "password", 0, "%s",
				 json_is_string(pw) ? why : "password must be a string");
		goto out;
	}
	if (pw) {
		snprintf(j->pw, sizeof(j->pw), "%s", json_string_value(pw));
	} else {
		password_generate(j->pw);
		j->generated = true;
	}
	hash_then_write(j);
out:
	json_decref(o);
}

void api_users_update(struct http_req *r)
{
	struct user_job *j = user_job_new(r, OP_UPDATE);
	if (!parse_id(r->params[0], &j->id)) {
		http_reply_error(r, 404, "not_found", "id", 0, "no user '%.40s'", r->params[0]);
		return;
	}
	if (!(j->patch = api_body_object(r)))
		return;
	if (apply_user(r, &j->u, j->patch, false) != 0) /* validation only */
		return;
	store_user_release(&j->u);
	submit_user_write(j);
	http_suspend(r);
}

void api_users_delete(struct http_req *r)
{
	struct user_job *j = user_job_new(r, OP_DELETE);
	if (!parse_id(r->params[0], &j->id)) {
		http_reply_error(r, 404, "not_found", "id", 0, "no user '%.40s'", r->params[0]);
		return;
	}
	submit_user_write(j);
	http_suspend(r);
}

void api_users_password(struct http_req *r)
{
	struct user_job *j = user_job_new(r, OP_RESET);
	if (!parse_id(r->params[0], &j->id)) {
		http_reply_error(r, 404, "not_found", "id", 0, "no user '%.40s'", r->params[0]);
		return;
	}
	password_generate(j->pw);
	j->generated = true;
	hash_then_write(j);
}

static int user_read(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	int rc;

	if (j->op == OP_LIST)
		return store_user_list(c, j->after, j->limit + 1, j->q, &j->list, &j->n);
	if ((rc = store_user_get(c, j->id, &j->u)) != 0)
		return rc;
	return store_mapping_list(c, j->id, 0, &j->maps, &j->nmaps);
}

static void user_read_done(void *ud, int rc)
{
	struct user_job *j = ud;
	struct http_req *r = j->r;
	size_t limit = j->limit;
	json_t *arr = json_array(), *next = json_null();

	if (rc == KW_ENOTFOUND) {
		json_decref(arr);
		http_reply_error(r, 404, "not_found", "id", 0, "no user '%.40s'", r->params[0]);
		return;
	}
	if (rc) {
		json_decref(arr);
		http_reply_kwerr(r, rc);
		return;
	}
	if (j->op == OP_GET) {
		for (size_t i = 0; i < j->nmaps; i++) {
			struct store_device *d = store_device_by_id(r->store, j->maps[i].device_id);
			if (d)
				json_array_append_new(arr, json_string(d->uuid));
			store_device_free(d);
		}
		http_reply_json(
		    r, 200, json_pack("{s:o, s:o}", "user", api_user_json(&j->u), "devices", arr));
		json_decref(next);
		return;
	}
	for (size_t i = 0; i < j->n && i < limit; i++)
		json_array_append_new(arr, api_user_json(&j->list[i]));
	if (j->n > limit) {
		json_decref(next);
		next = json_sprintf("%lld", (long long)j->list[limit - 1].id);
	}
	http_reply_json(r, 200, json_pack("{s:o, s:o}", "users", arr, "next_cursor", next));
}

void api_users_list(struct http_req *r)
{
	const char *lim = http_query(r, "limit"), *cur = http_query(r, "cursor");
	const char *q = http_query(r, "q");
	long limit = lim ? strtol(lim, NULL, 10) : 100;
	struct user_job *j = user_job_new(r, OP_LIST);

	if (limit < 1 || limit > 1000) {
		http_reply_error(r, 400, "invalid_value", "limit", 0, "limit must be 1..1000");
		return;
	}
	j->limit = (size_t)limit;
	j->after = cur ? strtoll(cur, NULL, 10) : 0;
	j->q = q ? xstrndup(q, 200) : NULL;
	api_read(r, user_read, user_read_done, j);
}

void api_users_get(struct http_req *r)
{
	struct user_job *j = user_job_new(r, OP_GET);

	if (!parse_id(r->params[0], &j->id)) {
		http_reply_error(r, 404, "not_found", "id", 0, "no user '%.40s'", r->params[0]);
		return;
	}
	api_read(r, user_read, user_read_done, j);
}

/* --- mappings ------------------------------------------------------------------------- */

struct map_job {
	struct http_req *r;
	struct store_mapping m;
	struct store_mapping *list;
	size_t n;
	int64_t user_filter, device_filter;
	bool no_user;
};

static void map_free(void *p)
{
	struct map_job *j = p;
	free(j->list);
	free(j);
}

static json_t *mapping_json(struct http_req *r, const struct store_mapping *m)
{
	struct store_device *d = store_device_by_id(r->store, m->device_id);
	char created[TZ_RFC3339_MAX];
	json_t *o = json_pack("{s:I, s:I, s:s, s:s}", "id", (json_int_t)m->id, "user_id",
			      (json_int_t)m->user_id, "device_id", d ? d->uuid : "", "created_at",
			      tz_format_rfc3339(tz_get("UTC"), m->created_at, created));
	store_device_free(d);
	return o;
}

static int audit_mapping(struct store_conn *c, struct map_job *j, const char *action)
{
	char oid[24], *text = api_audit_text(mapping_json(j->r, &j->m));
	bool create = strcmp(action, "mapping.create") == 0;
	int rc;

	snprintf(oid, sizeof(oid), "%lld", (long long)j->m.id);
	rc = api_audit(c, j->r, action, "mapping", oid, create ? NULL : text, create ? text : NULL);
	free(text);
	return rc;
}

static int map_create(struct store_conn *c, void *ud)
{
	struct map_job *j = ud;
	struct store_user u = { 0 };
	int rc = store_user_get(c, j->m.user_id, &u);

	store_user_release(&u);
	if (rc == KW_ENOTFOUND) {
		j->no_user = true;
		return rc;
	}
	if (rc == 0)
		rc = store_mapping_insert(c, &j->m);
	return rc ? rc : audit_mapping(c, j, "mapping.create");
}

static void map_created(void *ud, int rc)
{
	struct map_job *j = ud;
	struct http_req *r = j->r;

	if (rc == 0)						 /* first: answering may free j */
		ws_user_changed(http_hub(r->srv), j->m.user_id); /* its live devices */
	if (j->no_user)
		http_reply_error(r, 400, "invalid_value", "user_id", 0, "no user %lld",
				 (long long)j->m.user_id);
	else if (rc == KW_EEXIST)
		http_reply_error(r, 409, "conflict", NULL, 0,
				 "that device is already mapped to that user");
	else if (rc)
		http_reply_kwerr(r, rc);
	else
		http_reply_json(r, 201, mapping_json(r, &j->m));
}

static struct map_job *map_job_new(struct http_req *r)
{
	struct map_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	r->ctx = j;
	r->ctx_free = map_free;
	return j;
}

void api_mappings_create(struct http_req *r)
{
	json_t *o = api_body_object(r), *u, *d;
	struct map_job *j;

	if (!o)
		return;
	j = map_job_new(r);
	u = json_object_get(o, "user_id");
	d = json_object_get(o, "device_id");
	if (json_object_size(o) != 2 || !json_is_integer(u) || !json_is_string(d)) {
		http_reply_error(
		    r, 400, "invalid_body", !json_is_integer(u) ? "user_id" : "device_id", 0,
		    "expected {\"user_id\": <integer>, \"device_id\": <UUID or serial>}");
		goto out;
	}
	j->m.user_id = json_integer_value(u);
	if ((j->m.device_id = store_device_resolve(r->store, json_string_value(d))) == 0) {
		http_reply_error(r, 400, "invalid_value", "device_id", 0, "no device '%.80s'",
				 json_string_value(d));
		goto out;
	}
	api_write(r, map_create, map_created, j);
out:
	json_decref(o);
}

static int map_delete(struct store_conn *c, void *ud)
{
	struct map_job *j = ud;
	int rc = store_mapping_get(c, j->m.id, &j->m);
	if (rc == 0)
		rc = store_mapping_delete(c, j->m.id);
	return rc ? rc : audit_mapping(c, j, "mapping.delete");
}

static void map_deleted(void *ud, int rc)
{
	struct map_job *j = ud;
	if (rc == 0) /* first: answering may free j */
		ws_user_changed(http_hub(j->r->srv), j->m.user_id); /* its live devices */
	if (rc == KW_ENOTFOUND)
		http_reply_error(j->r, 404, "not_found", "id", 0, "no mapping %lld",
				 (long long)j->m.id);
	else if (rc)
		http_reply_kwerr(j->r, rc);
	else
		http_reply_empty(j->r, 204);
}

void api_mappings_delete(struct http_req *r)
{
	struct map_job *j = map_job_new(r);

	if (!parse_id(r->params[0], &j->m.id)) {
		http_reply_error(r, 404, "not_found", "id", 0, "no mapping '%.40s'", r->params[0]);
		return;
	}
	api_write(r, map_delete, map_deleted, j);
}

static int map_list(struct store_conn *c, void *ud)
{
	struct map_job *j = ud;
	return store_mapping_list(c, j->user_filter, j->device_filter, &j->list, &j->n);
}

static void map_listed(void *ud, int rc)
{
	struct map_job *j = ud;
	json_t *arr;

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < j->n; i++)
		json_array_append_new(arr, mapping_json(j->r, &j->list[i]));
	http_reply_json(j->r, 200, json_pack("{s:o}", "mappings", arr));
}

void api_mappings_list(struct http_req *r)
{
	const char *u = http_query(r, "user_id"), *d = http_query(r, "device_id");
	struct map_job *j = map_job_new(r);

	if (u && !parse_id(u, &j->user_filter)) {
		http_reply_error(r, 400, "invalid_value", "user_id", 0, "user_id must be an id");
		return;
	}
	if (d && (j->device_filter = store_device_resolve(r->store, d)) == 0) {
		http_reply_error(r, 400, "invalid_value", "device_id", 0, "no device '%.80s'", d);
		return;
	}
	api_read(r, map_list, map_listed, j);
}
