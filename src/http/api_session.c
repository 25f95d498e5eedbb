/*
 * api_session.c - logging in and out, and the caller's own account:
 *   POST /api/v1/login, POST /api/v1/logout, GET and PATCH /api/v1/me
 *
 * Design (docs/SECURITY.md): a login checks throttling (per email and per
 * address), reads the user on a reader thread, verifies the password with
 * Argon2id on libuv's thread pool (an unknown email is verified against a
 * dummy hash, so it costs the same and gets the same answer), then stores a
 * new session -- only the SHA-256 of its 256-bit secret -- and sets the
 * cookie.  A cookie sent to /login is ignored: every login gets a new id.
 *
 * Job life cycle of a login:  parse [loop] -> read user [reader] -> verify
 * [pool] -> insert session [writer] -> answer [loop].
 *
 * Thread-safety: handlers and completions on the loop thread; the job's
 * fields are touched by one thread at a time, in that order.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth/password.h"
#include "auth/throttle.h"
#include "core/config.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "http/ws.h"
#include "core/banned.h"

#define SECRET_BYTES 32 /* 256-bit session secrets */
#define CSRF_BYTES   24
#define EMAIL_MAX    254

json_t *api_user_json(const struct store_user *u)
{
	char created[TZ_RFC3339_MAX];
	return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:b, s:s, s:b}", "id", (json_int_t)u->id,
			 "name", u->name ? u->name : "", "email", u->email ? u->email : "", "role",
			 u->role == ROLE_ADMIN ? "admin" : "client", "customer_ref",
			 u->customer_ref, "disabled", u->disabled, "created_at",
			 tz_format_rfc3339(tz_get("UTC"), u->created_at, created), "email_alerts",
			 u->email_alerts);
}

/* Frees a copy of a password after wiping it (NULL is fine). */
static void free_secret(char *p)
{
	if (p) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

static const char *landing(enum user_role role)
{
	return role == ROLE_ADMIN ? "/admin" : "/app";
}

static void b64url(char *out, size_t outlen, const unsigned char *bin, size_t n)
{
	sodium_bin2base64(out, outlen, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A new session secret (the cookie value), its hash and a CSRF token. */
struct new_session {
	char secret[64];
	unsigned char hash[32];
	char csrf[48];
	int64_t id;
	int64_t expires_at;
};

static void new_session_make(struct new_session *n, const struct config *cfg)
{
	unsigned char raw[SECRET_BYTES], c[CSRF_BYTES];
	randombytes_buf(raw, sizeof(raw));
	randombytes_buf(c, sizeof(c));
	b64url(n->secret, sizeof(n->secret), raw, sizeof(raw));
	b64url(n->csrf, sizeof(n->csrf), c, sizeof(c));
	crypto_hash_sha256(n->hash, (const unsigned char *)n->secret, strlen(n->secret));
	n->expires_at = tz_now_ms() + cfg->auth_session_max_s * 1000;
	sodium_memzero(raw, sizeof(raw));
}

static void set_cookie(struct http_req *r, const char *value, int64_t max_age_s)
{
	char v[256];
	snprintf(v, sizeof(v), "kw_session=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
		 value, (long long)max_age_s, r->cfg->http_secure_cookies ? "; Secure" : "");
	http_add_header(r, "Set-Cookie", v);
}

/* --- login ----------------------------------------------------------------------------- */

struct login_job {
	struct http_req *r;
	char email[EMAIL_MAX + 1];
	char *password;
	char ekey[EMAIL_MAX + 8], akey[64];
	struct store_user user;
	char *hash;
	bool found, ok;
	uv_work_t work;
	struct new_session ns;
};

static void login_free(void *p)
{
	struct login_job *j = p;
	free_secret(j->password);
	free(j->hash);
	store_user_release(&j->user);
	free(j);
}

static int login_read(struct store_conn *c, void *ud)
{
	struct login_job *j = ud;
	int rc = store_user_by_email(c, j->email, &j->user, &j->hash);
	j->found = rc == 0;
	return rc == KW_ENOTFOUND ? 0 : rc;
}

static void login_verify(uv_work_t *w)
{
	struct login_job *j = w->data;
	bool match = password_verify(j->found ? j->hash : password_dummy_hash(), j->password);
	j->ok = j->found && match && !j->user.disabled;
}

static int login_store(struct store_conn *c, void *ud)
{
	struct login_job *j = ud;
	int64_t now = tz_now_ms();
	int rc = store_session_purge(c, now, now - j->r->cfg->auth_session_idle_s * 1000);
	if (rc == 0)
		rc = store_session_insert(c, j->ns.hash, j->user.id, j->ns.csrf, now,
					  j->ns.expires_at, &j->ns.id);
	return rc;
}

static void login_stored(void *ud, int rc)
{
	struct login_job *j = ud;
	struct http_req *r = j->r;

	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	set_cookie(r, j->ns.secret, r->cfg->auth_session_max_s);
	http_reply_json(r, 200,
			json_pack("{s:o, s:s, s:s}", "user", api_user_json(&j->user), "landing",
				  landing(j->user.role), "csrf_token", j->ns.csrf));
}

static void login_verified(uv_work_t *w, int status)
{
	struct login_job *j = w->data;
	struct http_req *r = j->r;
	struct throttle *t = http_throttle(r);
	int rc;

	if (status != 0 || !j->ok) {
		int64_t now = tz_now_ms();
		throttle_fail(t, j->ekey, r->cfg->auth_login_max_failures_email, now);
		throttle_fail(t, j->akey, r->cfg->auth_login_max_failures_address, now);
		http_reply_error(r, 401, "invalid_credentials", NULL, 0, "wrong email or password");
		return;
	}
	throttle_reset(t, j->ekey);
	new_session_make(&j->ns, r->cfg);
	if ((rc = store_submit_write(r->store, login_store, login_stored, j)) != 0)
		http_reply_kwerr(r, rc);
}

static void login_read_done(void *ud, int rc)
{
	struct login_job *j = ud;
	j->work.data = j;
	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	if ((rc = uv_queue_work(http_loop(j->r), &j->work, login_verify, login_verified)) != 0)
		http_reply_error(j->r, 500, "internal", NULL, 0, "cannot verify: %s",
				 uv_strerror(rc));
}

/* Reads a required string field into a new string; answers 400 if absent. */
static const char *str_field(struct http_req *r, json_t *o, const char *key, size_t max)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!v) {
		http_reply_error(r, 400, "missing_field", key, 0, "%s is required", key);
		return NULL;
	}
	if (!s || !*s) {
		http_reply_error(r, 400, "invalid_value", key, 0, "%s must be a non-empty string",
				 key);
		return NULL;
	}
	if (strlen(s) > max) {
		http_reply_error(r, 400, "invalid_value", key, 0, "%s is longer than %zu bytes",
				 key, max);
		return NULL;
	}
	return s;
}

/* Answers 429 when the email or the address is throttled. */
static bool throttled(struct http_req *r, const char *ekey, const char *akey)
{
	struct throttle *t = http_throttle(r);
	int64_t now = tz_now_ms(), retry = 0;
	char ra[32];

	if (throttle_allowed(t, ekey, r->cfg->auth_login_max_failures_email, now, &retry) &&
	    throttle_allowed(t, akey, r->cfg->auth_login_max_failures_address, now, &retry))
		return false;
	snprintf(ra, sizeof(ra), "%lld", (long long)retry);
	http_add_header(r, "Retry-After", ra);
	http_reply_error(r, 429, "too_many_attempts", NULL, 0,
			 "too many failed attempts; try again in %lld s", (long long)retry);
	return true;
}

void api_login(struct http_req *r)
{
	struct login_job *j;
	const char *email, *pw;
	json_t *o;
	int rc;

	if (!http_origin_allowed(r)) {
		http_reply_error(r, 403, "csrf", "Origin", 0,
				 "cross-site request refused: Origin must be this server");
		return;
	}
	if (!(o = api_body_object(r)))
		return;
	if (!(email = str_field(r, o, "email", EMAIL_MAX)) ||
	    !(pw = str_field(r, o, "password", PASSWORD_MAX_BYTES))) {
		json_decref(o);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	for (size_t i = 0; email[i]; i++)
		j->email[i] = (char)tolower((unsigned char)email[i]);
	j->password = xstrdup(pw);
	json_decref(o);
	snprintf(j->ekey, sizeof(j->ekey), "e:%s", j->email);
	snprintf(j->akey, sizeof(j->akey), "a:%s", http_peer(r));
	r->ctx = j;
	r->ctx_free = login_free;
	if (throttled(r, j->ekey, j->akey))
		return;
	if ((rc = store_submit_read(r->store, login_read, login_read_done, j)) != 0) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

/* --- logout ----------------------------------------------------------------------------- */

static int logout_write(struct store_conn *c, void *ud)
{
	struct http_req *r = ud;
	return store_session_delete(c, r->who.session_id);
}

static void logout_done(void *ud, int rc)
{
	struct http_req *r = ud;
	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_forget_user(r->srv, r->who.user_id);
	ws_close_session(http_hub(r->srv), r->who.session_id); /* only this session's */
	set_cookie(r, "", 0);
	http_reply_empty(r, 204);
}

void api_logout(struct http_req *r)
{
	api_write(r, logout_write, logout_done, r);
}

/* --- me ------------------------------------------------------------------------------------ */

struct me_job {
	struct http_req *r;
	struct store_user user;
	char *hash;
	/* PATCH */
	char *name;		  /* new name, or NULL */
	int email_alerts;	  /* new email_alerts (0 or 1), or -1 */
	char *password, *current; /* new and current password, or NULL */
	char newhash[PASSWORD_HASH_MAX];
	char ekey[EMAIL_MAX + 8], akey[64]; /* throttling keys, as for a login */
	bool ok;
	uv_work_t work;
	struct new_session ns;
};

static void me_free(void *p)
{
	struct me_job *j = p;
	free(j->hash);
	free(j->name);
	free_secret(j->password);
	free_secret(j->current);
	store_user_release(&j->user);
	free(j);
}

static int me_read(struct store_conn *c, void *ud)
{
	struct me_job *j = ud;
	struct store_user u = { 0 };
	int rc = store_user_get(c, j->r->who.user_id, &u);
	if (rc)
		return rc;
	rc = store_user_by_email(c, u.email, &j->user, &j->hash);
	store_user_release(&u);
	return rc;
}

static void me_answer(struct me_job *j)
{
	struct http_req *r = j->r;
	const char *csrf = j->ns.id ? j->ns.csrf : r->who.csrf;
	http_reply_json(r, 200,
			json_pack("{s:o, s:s, s:s}", "user", api_user_json(&j->user), "landing",
				  landing(j->user.role), "csrf_token", csrf));
}

static void me_read_done(void *ud, int rc)
{
	struct me_job *j = ud;
	if (rc)
		http_reply_kwerr(j->r, rc);
	else
		me_answer(j);
}

static struct me_job *me_job_new(struct http_req *r)
{
	struct me_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->work.data = j;
	j->email_alerts = -1;
	r->ctx = j;
	r->ctx_free = me_free;
	return j;
}

void api_me(struct http_req *r)
{
	api_read(r, me_read, me_read_done, me_job_new(r));
}

static int me_write(struct store_conn *c, void *ud)
{
	struct me_job *j = ud;
	int rc = 0;

	if (j->name || j->email_alerts >= 0) {
		char *old = j->user.name;
		if (j->name)
			j->user.name = j->name;
		if (j->email_alerts >= 0)
			j->user.email_alerts = j->email_alerts;
		rc = store_user_update(c, &j->user);
		if (j->name)
			j->name = old; /* freed with the job */
	}
	if (rc == 0 && j->password) {
		int64_t now = tz_now_ms();
		/* Every session of the user ends (store.h); this one is replaced. */
		rc = store_user_set_password(c, j->user.id, j->newhash);
		if (rc == 0)
			rc = store_session_insert(c, j->ns.hash, j->user.id, j->ns.csrf, now,
						  j->ns.expires_at, &j->ns.id);
	}
	return rc;
}

static void me_written(void *ud, int rc)
{
	struct me_job *j = ud;
	struct http_req *r = j->r;

	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	if (j->password) {
		http_forget_user(r->srv, j->user.id);
		ws_close_user(http_hub(r->srv), j->user.id); /* every session ended */
		set_cookie(r, j->ns.secret, r->cfg->auth_session_max_s);
	}
	me_answer(j);
}

static void me_hash(uv_work_t *w)
{
	struct me_job *j = w->data;
	j->ok = password_verify(j->hash, j->current) && password_hash(j->password, j->newhash) == 0;
}

static void me_hashed(uv_work_t *w, int status)
{
	struct me_job *j = w->data;
	struct http_req *r = j->r;
	int rc;

	if (status != 0 || !j->ok) {
		/* Guessing the current password counts as a failed login. */
		throttle_fail(http_throttle(r), j->ekey, r->cfg->auth_login_max_failures_email,
			      tz_now_ms());
		throttle_fail(http_throttle(r), j->akey, r->cfg->auth_login_max_failures_address,
			      tz_now_ms());
		http_reply_error(r, 400, "invalid_value", "current_password", 0,
				 "current_password is wrong");
		return;
	}
	throttle_reset(http_throttle(r), j->ekey);
	new_session_make(&j->ns, r->cfg);
	if ((rc = store_submit_write(r->store, me_write, me_written, j)) != 0)
		http_reply_kwerr(r, rc);
}

static void me_patch_read_done(void *ud, int rc)
{
	struct me_job *j = ud;
	struct http_req *r = j->r;

	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	if (j->password) {
		snprintf(j->ekey, sizeof(j->ekey), "e:%s", j->user.email);
		snprintf(j->akey, sizeof(j->akey), "a:%s", http_peer(r));
		if (throttled(r, j->ekey, j->akey))
			return;
		if ((rc = uv_queue_work(http_loop(r), &j->work, me_hash, me_hashed)) != 0)
			http_reply_error(r, 500, "internal", NULL, 0, "cannot hash: %s",
					 uv_strerror(rc));
		return;
	}
	if ((rc = store_submit_write(r->store, me_write, me_written, j)) != 0)
		http_reply_kwerr(r, rc);
}

void api_me_update(struct http_req *r)
{
	json_t *o = api_body_object(r), *v;
	struct me_job *j;
	const char *key, *why;

	if (!o)
		return;
	j = me_job_new(r);
	json_object_foreach (o, key, v) {
		if (strcmp(key, "name") == 0 && json_is_string(v) && *json_string_value(v) &&
		    strlen(json_string_value(v)) <= 200) {
			j->name = xstrdup(json_string_value(v));
		} else if (strcmp(key, "email_alerts") == 0 && json_is_boolean(v)) {
			j->email_alerts = json_is_true(v);
		} else if (strcmp(key, "password") == 0 && json_is_string(v)) {
			if ((why = password_policy(json_string_value(v))) != NULL) {
				http_reply_error(r, 400, "invalid_value", "password", 0, "%s", why);
				goto out;
			}
			j->password = xstrdup(json_string_value(v));
		} else if (strcmp(key, "current_password") == 0 && json_is_string(v) &&
			   strlen(json_string_value(v)) <= PASSWORD_MAX_BYTES) {
			j->current = xstrdup(json_string_value(v));
		} else {
			if (strcmp(key, "name") == 0)
				http_reply_error(r, 400, "invalid_value", key, 0,
						 "name must be a string of 1 to 200 bytes");
			else if (strcmp(key, "email_alerts") == 0)
				http_reply_error(r, 400, "invalid_value", key, 0,
						 "email_alerts must be true or false");
			else
				http_reply_error(r, 400, "invalid_field", key, 0,
						 "you cannot change '%.64s' of your own account",
						 key);
			goto out;
		}
	}
	if (j->password && !j->current) {
		http_reply_error(r, 400, "invalid_value", "current_password", 0,
				 "changing the password needs current_password");
		goto out;
	}
	if (!j->name && !j->password && j->email_alerts < 0) {
		http_reply_error(r, 400, "invalid_body", NULL, 0, "nothing to change");
		goto out;
	}
	api_read(r, me_read, me_patch_read_done, j);
out:
	json_decref(o);
}

/* --- self-registration by meter claim (auth.allow_signup) ------------------------------- */

struct signup_job {
	struct http_req *r;
	struct store_user user;
	char *password;
	char hash[PASSWORD_HASH_MAX];
	int64_t device;
	bool claimed;
	char ekey[EMAIL_MAX + 8], akey[64];
	uv_work_t work;
	struct new_session ns;
};

static void signup_free(void *p)
{
	struct signup_job *j = p;
	free_secret(j->password);
	store_user_release(&j->user);
	free(j);
}

static void bad_claim(struct http_req *r, const char *ekey, const char *akey)
{
	int64_t now = tz_now_ms();
	throttle_fail(http_throttle(r), ekey, r->cfg->auth_login_max_failures_email, now);
	throttle_fail(http_throttle(r), akey, r->cfg->auth_login_max_failures_address, now);
	http_reply_error(r, 400, "invalid_claim", "claim_code", 0,
			 "no meter with that serial and claim code can be claimed");
}

static int signup_write(struct store_conn *c, void *ud)
{
	struct signup_job *j = ud;
	struct store_mapping *m = NULL, map = { .device_id = j->device };
	struct store_audit a = { .actor_kind = "signup",
				 .action = "user.create",
				 .object_type = "user" };
	char oid[24], *after;
	size_t n;
	int64_t now = tz_now_ms();
	int rc = store_mapping_list(c, 0, j->device, &m, &n);

	free(m);
	if (rc)
		return rc;
	if (n) { /* a claimed meter needs an admin */
		j->claimed = true;
		return KW_EDENIED;
	}
	if ((rc = store_user_insert(c, &j->user, j->hash)) != 0)
		return rc;
	map.user_id = j->user.id;
	if ((rc = store_mapping_insert(c, &map)) != 0)
		return rc;
	snprintf(oid, sizeof(oid), "%lld", (long long)j->user.id);
	after = api_audit_text(api_user_json(&j->user));
	a.actor_id = j->user.id;
	a.actor_name = j->user.email;
	a.object_id = oid;
	a.after = after;
	rc = store_audit_insert(c, &a);
	free(after);
	if (rc == 0)
		rc = store_session_insert(c, j->ns.hash, j->user.id, j->ns.csrf, now,
					  j->ns.expires_at, &j->ns.id);
	return rc;
}

static void signup_written(void *ud, int rc)
{
	struct signup_job *j = ud;
	struct http_req *r = j->r;

	if (j->claimed) {
		bad_claim(r, j->ekey, j->akey);
		return;
	}
	if (rc == KW_EEXIST) {
		http_reply_error(r, 409, "conflict", "email", 0, "a user with that email exists");
		return;
	}
	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	set_cookie(r, j->ns.secret, r->cfg->auth_session_max_s);
	http_reply_json(r, 201,
			json_pack("{s:o, s:s, s:s}", "user", api_user_json(&j->user), "landing",
				  landing(ROLE_CLIENT), "csrf_token", j->ns.csrf));
}

static void signup_hash(uv_work_t *w)
{
	struct signup_job *j = w->data;
	if (password_hash(j->password, j->hash) != 0)
		j->hash[0] = '\0';
}

static void signup_hashed(uv_work_t *w, int status)
{
	struct signup_job *j = w->data;
	int rc;

	if (status != 0 || !j->hash[0]) {
		http_reply_error(j->r, 500, "internal", NULL, 0, "cannot hash the password");
		return;
	}
	new_session_make(&j->ns, j->r->cfg);
	if ((rc = store_submit_write(j->r->store, signup_write, signup_written, j)) != 0)
		http_reply_kwerr(j->r, rc);
}

void api_register(struct http_req *r)
{
	const char *name, *email, *pw, *serial, *code, *why;
	struct store_device *d;
	struct signup_job *j;
	bool match;
	json_t *o;
	int rc;

	if (!r->cfg->auth_allow_signup) {
		http_reply_error(r, 404, "not_found", NULL, 0, "no such endpoint: %s", r->path);
		return;
	}
	if (!http_origin_allowed(r)) {
		http_reply_error(r, 403, "csrf", "Origin", 0,
				 "cross-site request refused: Origin must be this server");
		return;
	}
	if (!(o = api_body_object(r)))
		return;
	if (!(name = str_field(r, o, "name", 200)) ||
	    !(email = str_field(r, o, "email", EMAIL_MAX)) ||
	    !(pw = str_field(r, o, "password", PASSWORD_MAX_BYTES)) ||
	    !(serial = str_field(r, o, "serial", 128)) ||
	    !(code = str_field(r, o, "claim_code", 128)))
		goto out;
	if (!strchr(email, '@')) {
		http_reply_error(r, 400, "invalid_value", "email", 0, "email must be an address");
		goto out;
	}
	if ((why = password_policy(pw)) != NULL) {
		http_reply_error(r, 400, "invalid_value", "password", 0, "%s", why);
		goto out;
	}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->work.data = j;
	r->ctx = j;
	r->ctx_free = signup_free;
	j->user.name = xstrdup(name);
	j->user.email = xstrdup(email);
	for (char *p = j->user.email; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	j->user.role = ROLE_CLIENT;
	j->password = xstrdup(pw);
	snprintf(j->ekey, sizeof(j->ekey), "e:%s", j->user.email);
	snprintf(j->akey, sizeof(j->akey), "a:%s", http_peer(r));
	if (throttled(r, j->ekey, j->akey))
		goto out;
	/* Serials are printed on meters; the claim code is the secret, compared
	 * in constant time, and every kind of failure gets the same answer. */
	d = store_device_find(r->store, serial);
	match = d && d->claim_code && strlen(d->claim_code) == strlen(code) &&
		sodium_memcmp(d->claim_code, code, strlen(code)) == 0;
	j->device = match ? d->id : 0;
	store_device_free(d);
	if (!match) {
		bad_claim(r, j->ekey, j->akey);
		goto out;
	}
	if ((rc = uv_queue_work(http_loop(r), &j->work, signup_hash, signup_hashed)) != 0)
		http_reply_error(r, 500, "internal", NULL, 0, "cannot hash: %s", uv_strerror(rc));
	else
		http_suspend(r);
out:
	json_decref(o);
}
