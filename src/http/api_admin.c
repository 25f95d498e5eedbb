/*
 * api_admin.c - the admin's tools: API tokens and the audit log.
 *   GET/POST /api/v1/tokens, DELETE /api/v1/tokens/{id}, GET /api/v1/audit
 *
 * A token is "kw_" + 43 characters of URL-safe base64 (256 random bits),
 * answered once; only its SHA-256 is stored (as with `kilowatt token`).
 * Creating and revoking are audited in the same transaction; a revoked
 * token stops working at once (its cache entry is dropped).
 *
 * Thread-safety: loop thread; job closures on the writer/readers.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "core/banned.h"

#define TOKEN_CHARS (3 + sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING))

static json_t *token_json(const struct store_token *t)
{
	char c1[TZ_RFC3339_MAX], c2[TZ_RFC3339_MAX];
	const struct tz *utc = tz_get("UTC");
	return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:b}", "id", (json_int_t)t->id, "name",
			 t->name, "scope", t->scope, "created_at",
			 tz_format_rfc3339(utc, t->created_at, c1), "last_used_at",
			 t->last_used_at ? tz_format_rfc3339(utc, t->last_used_at, c2) : NULL,
			 "revoked", t->revoked);
}

struct token_job {
	struct http_req *r;
	struct store_token t;
	char secret[TOKEN_CHARS];
	unsigned char hash[32];
	struct store_token *list;
	size_t n;
};

static void token_job_free(void *p)
{
	struct token_job *j = p;
	sodium_memzero(j->secret, sizeof(j->secret));
	free(j->list);
	free(j);
}

static struct token_job *token_job_new(struct http_req *r)
{
	struct token_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	r->ctx = j;
	r->ctx_free = token_job_free;
	return j;
}

static int tokens_read(struct store_conn *c, void *ud)
{
	struct token_job *j = ud;
	return store_token_list(c, &j->list, &j->n);
}

static void tokens_listed(void *ud, int rc)
{
	struct token_job *j = ud;
	json_t *arr;

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < j->n; i++)
		json_array_append_new(arr, token_json(&j->list[i]));
	http_reply_json(j->r, 200, json_pack("{s:o}", "tokens", arr));
}

void api_tokens_list(struct http_req *r)
{
	api_read(r, tokens_read, tokens_listed, token_job_new(r));
}

static int token_create(struct store_conn *c, void *ud)
{
	struct token_job *j = ud;
	char oid[24], *after;
	int rc = store_token_insert(c, j->t.name, j->t.scope, j->hash, &j->t.id);

	if (rc == 0) /* as stored: the answer and the list agree */
		rc = store_token_find(c, j->hash, &j->t);
	if (rc)
		return rc;
	snprintf(oid, sizeof(oid), "%lld", (long long)j->t.id);
	after = api_audit_text(token_json(&j->t));
	rc = api_audit(c, j->r, "token.create", "token", oid, NULL, after);
	free(after);
	return rc;
}

static void token_created(void *ud, int rc)
{
	struct token_job *j = ud;
	json_t *o;

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	o = token_json(&j->t);
	json_object_set_new(o, "token", json_string(j->secret));
	http_reply_json(j->r, 201, o);
}

void api_tokens_create(struct http_req *r)
{
	json_t *o = api_body_object(r), *name, *scope, *v;
	struct token_job *j;
	const char *sc, *key;
	unsigned char raw[32];

	if (!o)
		return;
	j = token_job_new(r);
	name = json_object_get(o, "name");
	scope = json_object_get(o, "scope");
	json_object_foreach (o, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "scope") != 0) {
			http_reply_error(r, 400, "unknown_field", key, 0, "unknown field '%.48s'",
					 key);
			goto out;
		}
	}
	if (!name || !scope) {
		http_reply_error(r, 400, "missing_field", name ? "scope" : "name", 0,
				 "%s is required", name ? "scope" : "name");
		goto out;
	}
	if (!json_is_string(name) || !*json_string_value(name) ||
	    strlen(json_string_value(name)) >= sizeof(j->t.name)) {
		http_reply_error(r, 400, "invalid_value", "name", 0,
				 "name is required (a string of 1 to 127 bytes)");
		goto out;
	}
	sc = json_is_string(scope) ? json_string_value(scope) : "";
	if (strcmp(sc, "admin") == 0 || strcmp(sc, "ingest") == 0) {
		snprintf(j->t.scope, sizeof(j->t.scope), "%s", sc);
	} else if (strncmp(sc, "device:", 7) == 0) {
		struct store_device *d = store_device_find(r->store, sc + 7);
		if (!d) {
			http_reply_error(r, 400, "invalid_value", "scope", 0, "no device '%.80s'",
					 sc + 7);
			goto out;
		}
		snprintf(j->t.scope, sizeof(j->t.scope), "device:%s", d->uuid);
		store_device_free(d);
	} else {
		http_reply_error(r, 400, "invalid_value", "scope", 0,
				 "scope must be admin, ingest or device:<id or serial>");
		goto out;
	}
	snprintf(j->t.name, sizeof(j->t.name), "%s", json_string_value(name));
	randombytes_buf(raw, sizeof(raw));
	memcpy(j->secret, "kw_", 3);
	sodium_bin2base64(j->secret + 3, sizeof(j->secret) - 3, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	crypto_hash_sha256(j->hash, (const unsigned char *)j->secret, strlen(j->secret));
	api_write(r, token_create, token_created, j);
out:
	json_decref(o);
}

static int token_revoke(struct store_conn *c, void *ud)
{
	struct token_job *j = ud;
	char oid[24], *before = NULL, *after = NULL;
	int rc = store_token_revoke(c, j->t.id);

	if (rc == 0)
		rc = store_token_list(c, &j->list, &j->n);
	for (size_t i = 0; rc == 0 && i < j->n; i++) {
		if (j->list[i].id != j->t.id)
			continue;
		after = api_audit_text(token_json(&j->list[i]));
		j->list[i].revoked = false;
		before = api_audit_text(token_json(&j->list[i]));
	}
	snprintf(oid, sizeof(oid), "%lld", (long long)j->t.id);
	if (rc == 0)
		rc = api_audit(c, j->r, "token.revoke", "token", oid, before, after);
	free(before);
	free(after);
	return rc;
}

static void token_revoked(void *ud, int rc)
{
	struct token_job *j = ud;
	if (rc == KW_ENOTFOUND) {
		http_reply_error(j->r, 404, "not_found", "id", 0, "no active token %lld",
				 (long long)j->t.id);
		return;
	}
	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	http_forget_token(j->r->srv, j->t.id);
	http_reply_empty(j->r, 204);
}

void api_tokens_revoke(struct http_req *r)
{
	struct token_job *j = token_job_new(r);
	char *end;
	long long id = strtoll(r->params[0], &end, 10);

	if (*end || id <= 0) {
		http_reply_error(r, 404, "not_found", "id", 0, "no token '%.40s'", r->params[0]);
		return;
	}
	j->t.id = id;
	api_write(r, token_revoke, token_revoked, j);
}

/* --- the audit log ------------------------------------------------------------------ */

struct audit_job {
	struct http_req *r;
	int64_t before, user;
	size_t limit;
	char *type, *id;
	json_t *arr;
	int64_t last_id;
	size_t n;
};

static void audit_job_free(void *p)
{
	struct audit_job *j = p;
	free(j->type);
	free(j->id);
	json_decref(j->arr);
	free(j);
}

static json_t *json_text_or_null(const char *t)
{
	json_t *v = t ? json_loads(t, 0, NULL) : NULL;
	return v ? v : json_null();
}

static void audit_entry(void *ud, const struct store_audit *a)
{
	struct audit_job *j = ud;
	char at[TZ_RFC3339_MAX];
	json_t *actor = json_pack("{s:s}", "kind", a->actor_kind);

	if (a->actor_id)
		json_object_set_new(actor, "id", json_integer(a->actor_id));
	if (a->actor_name)
		json_object_set_new(actor, "name", json_string(a->actor_name));
	json_array_append_new(
	    j->arr,
	    json_pack("{s:I, s:s, s:o, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)a->id, "at",
		      tz_format_rfc3339(tz_get("UTC"), a->at, at), "actor", actor, "action",
		      a->action, "object_type", a->object_type, "object_id", a->object_id, "before",
		      json_text_or_null(a->before), "after", json_text_or_null(a->after)));
	j->last_id = a->id;
	j->n++;
}

static int audit_read(struct store_conn *c, void *ud)
{
	struct audit_job *j = ud;
	return store_audit_list(c, j->before, j->limit + 1, j->user, j->type, j->id, audit_entry,
				j);
}

static void audit_done(void *ud, int rc)
{
	struct audit_job *j = ud;
	json_t *next = json_null(), *arr;

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	if (j->n > j->limit) {
		json_t *last = json_array_get(j->arr, j->limit - 1);
		json_decref(next);
		next = json_sprintf("%lld",
				    (long long)json_integer_value(json_object_get(last, "id")));
		json_array_remove(j->arr, j->limit);
	}
	arr = j->arr;
	j->arr = NULL;
	http_reply_json(j->r, 200, json_pack("{s:o, s:o}", "entries", arr, "next_cursor", next));
}

void api_audit_list(struct http_req *r)
{
	const char *lim = http_query(r, "limit"), *cur = http_query(r, "cursor");
	const char *user = http_query(r, "user_id"), *type = http_query(r, "object_type");
	const char *id = http_query(r, "object_id");
	struct audit_job *j = xcalloc(1, sizeof(*j));
	long limit = lim ? strtol(lim, NULL, 10) : 100;

	j->r = r;
	j->arr = json_array();
	r->ctx = j;
	r->ctx_free = audit_job_free;
	if (limit < 1 || limit > 1000) {
		http_reply_error(r, 400, "invalid_value", "limit", 0, "limit must be 1..1000");
		return;
	}
	j->limit = (size_t)limit;
	j->before = cur ? strtoll(cur, NULL, 10) : 0;
	j->user = user ? strtoll(user, NULL, 10) : 0;
	j->type = type ? xstrndup(type, 32) : NULL;
	j->id = id ? xstrndup(id, 64) : NULL;
	api_read(r, audit_read, audit_done, j);
}
