/*
 * api_devices.c - /api/v1/devices: list, create, read, update, delete.
 *
 * Reads are answered from the store's in-memory device cache; writes go
 * through the writer thread and are answered after COMMIT.  Input is strict:
 * an unknown key or a value of the wrong type is a 400 naming the field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "core/banned.h"

#define MAX_TEXT 1000 /* characters in a free-text field */

json_t *api_device_json(const struct store_device *d)
{
	char created[TZ_RFC3339_MAX];
	return json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:b}", "id", d->uuid,
			 "serial", d->serial, "name", d->name, "description",
			 d->description ? d->description : "", "address",
			 d->address ? d->address : "", "region", d->region ? d->region : "",
			 "timezone", d->timezone, "max_hourly_kwh",
			 d->has_max_hourly ? json_real(d->max_hourly_kwh) : json_null(),
			 "reading_type", d->type == READING_COUNTER ? "counter" : "interval",
			 "created_at", tz_format_rfc3339(tz_get("UTC"), d->created_at, created),
			 "has_claim_code", d->claim_code != NULL);
}

struct store_device *api_device_param(struct http_req *r)
{
	struct store_device *d = store_device_find(r->store, r->params[0]);
	if (!d)
		http_reply_error(r, 404, "not_found", "id", 0, "no device '%.80s'", r->params[0]);
	return d;
}

void api_read(struct http_req *r, store_read_fn fn, store_done_fn done, void *ud)
{
	int rc = store_submit_read(r->store, fn, done, ud);
	if (rc)
		http_reply_kwerr(r, rc);
	else
		http_suspend(r);
}

void api_write(struct http_req *r, store_write_fn fn, store_done_fn done, void *ud)
{
	int rc = store_submit_write(r->store, fn, done, ud);
	if (rc)
		http_reply_kwerr(r, rc);
	else
		http_suspend(r);
}

json_t *api_body_object(struct http_req *r)
{
	json_error_t je;
	json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		http_reply_error(r, 400, "parse_error", NULL, je.line,
				 "malformed JSON at line %d, column %d: %s", je.line, je.column,
				 je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		http_reply_error(r, 400, "invalid_body", NULL, 0, "expected a JSON object");
		return NULL;
	}
	return o;
}

bool api_parse_pos(const char *s, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	v = strtoll(s, &end, 10);
	if (*end || v <= 0 || v > max)
		return false;
	*out = v;
	return true;
}

bool api_query_limit(struct http_req *r, size_t def, int64_t max, size_t *out)
{
	const char *lim = http_query(r, "limit");
	int64_t v;

	*out = def;
	if (!lim)
		return true;
	if (!api_parse_pos(lim, max, &v)) {
		http_reply_error(r, 400, "invalid_value", "limit", 0, "limit must be 1..%lld",
				 (long long)max);
		return false;
	}
	*out = (size_t)v;
	return true;
}

static int set_text(struct http_req *r, json_t *v, const char *field, char **dst, bool nullable,
		    size_t maxlen)
{
	if (nullable && json_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) > maxlen ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_error(r, 400, "invalid_value", field, 0,
				 "%s must be a string of at most %zu characters%s", field, maxlen,
				 nullable ? " or null" : "");
		return -1;
	}
	free(*dst);
	*dst = xstrdup(json_string_value(v));
	return 0;
}

/* Applies one JSON member to d; answers 400 and returns -1 on a bad value. */
static int apply_field(struct http_req *r, struct store_device *d, const char *key, json_t *v,
		       bool creating)
{
	if (strcmp(key, "serial") == 0) {
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
			free(d->serial);
			d->serial = xstrdup(buf);
			return 0;
		}
		if (set_text(r, v, key, &d->serial, true, 64))
			return -1;
		if (d->serial && (!*d->serial || store_uuid_shaped(d->serial))) {
			http_reply_error(
			    r, 400, "invalid_value", key, 0,
			    "serial must be non-empty and not shaped like a device id");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "name") == 0) {
		if (set_text(r, v, key, &d->name, false, 200))
			return -1;
		if (!*d->name) {
			http_reply_error(r, 400, "invalid_value", key, 0, "name must not be empty");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "description") == 0)
		return set_text(r, v, key, &d->description, false, MAX_TEXT);
	if (strcmp(key, "address") == 0)
		return set_text(r, v, key, &d->address, false, MAX_TEXT);
	if (strcmp(key, "region") == 0)
		return set_text(r, v, key, &d->region, false, 200);
	if (strcmp(key, "claim_code") == 0)
		return set_text(r, v, key, &d->claim_code, true, 128);
	if (strcmp(key, "timezone") == 0) {
		if (!creating) {
			http_reply_error(r, 400, "immutable", key, 0,
					 "timezone cannot change once a device exists: its stored "
					 "hours are on that zone's grid (docs/API.md)");
			return -1;
		}
		if (!json_is_string(v) || !tz_get(json_string_value(v))) {
			http_reply_error(r, 400, "invalid_value", key, 0,
					 "timezone must be an IANA time zone name such as "
					 "\"Europe/Brussels\"");
			return -1;
		}
		free(d->timezone);
		d->timezone = xstrdup(json_string_value(v));
		return 0;
	}
	if (strcmp(key, "max_hourly_kwh") == 0) {
		if (json_is_null(v)) {
			d->has_max_hourly = false;
			return 0;
		}
		if (!json_is_number(v) || json_number_value(v) < 0) {
			http_reply_error(r, 400, "invalid_value", key, 0,
					 "max_hourly_kwh must be a number >= 0 or null");
			return -1;
		}
		d->has_max_hourly = true;
		d->max_hourly_kwh = json_number_value(v);
		return 0;
	}
	if (strcmp(key, "reading_type") == 0) {
		const char *t = json_string_value(v);
		if (!creating) {
			http_reply_error(r, 400, "immutable", key, 0,
					 "reading_type cannot change once a device exists");
			return -1;
		}
		if (!t || (strcmp(t, "interval") != 0 && strcmp(t, "counter") != 0)) {
			http_reply_error(r, 400, "invalid_value", key, 0,
					 "reading_type must be \"interval\" or \"counter\"");
			return -1;
		}
		d->type = strcmp(t, "counter") == 0 ? READING_COUNTER : READING_INTERVAL;
		return 0;
	}
	http_reply_error(r, 400, "unknown_field", key, 0, "unknown field '%.48s'", key);
	return -1;
}

static int apply_body(struct http_req *r, struct store_device *d, json_t *o, bool creating)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		if (apply_field(r, d, key, v, creating))
			return -1;
	}
	return 0;
}

/* A list request; for a client, its mapped devices are read first. */
struct list_job {
	struct http_req *r;
	long limit;
	long long after;
	int64_t *only; /* sorted device ids, or NULL: all */
	size_t nonly;
};

static void list_free(void *p)
{
	struct list_job *j = p;
	free(j->only);
	free(j);
}

/* --- owners: admins see who each device is mapped to ------------------------------ */

/* Sets d["owners"] to [{id, name, email}] of the users mapped to device. */
static int add_owners(struct store_conn *c, json_t *d, int64_t device)
{
	struct store_mapping *m;
	struct store_user u;
	json_t *arr;
	size_t n;
	int rc = store_mapping_list(c, 0, device, &m, &n);

	if (rc)
		return rc;
	arr = json_array();
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = store_user_get(c, m[i].user_id, &u)) != 0)
			break;
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)u.id,
						     "name", u.name, "email", u.email));
		store_user_release(&u);
	}
	free(m);
	json_object_set_new(d, "owners", arr);
	return rc;
}

/* An answer of devices (one, or a page) waiting for its owners. */
struct owners_job {
	struct http_req *r;
	json_t *answer;	 /* the device, or {"devices": [...], "next_cursor"} */
	json_t *devices; /* borrowed: the answer's array, or NULL for one device */
	int64_t *ids;	 /* the devices' store ids, in order */
	size_t n;
};

static void owners_free(void *p)
{
	struct owners_job *j = p;
	json_decref(j->answer);
	free(j->ids);
	free(j);
}

static int owners_read(struct store_conn *c, void *ud)
{
	struct owners_job *j = ud;
	int rc = 0;
	for (size_t i = 0; i < j->n && rc == 0; i++)
		rc = add_owners(c, j->devices ? json_array_get(j->devices, i) : j->answer,
				j->ids[i]);
	return rc;
}

static void owners_done(void *ud, int rc)
{
	struct owners_job *j = ud;
	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	http_reply_json(j->r, 200, j->answer);
	j->answer = NULL;
}

/* Answers 200 with answer, after adding owners for an admin. */
static void answer_devices(struct http_req *r, json_t *answer, json_t *devices, int64_t *ids,
			   size_t n)
{
	struct owners_job *j;

	if (r->who.kind == PRINCIPAL_CLIENT) {
		free(ids);
		http_reply_json(r, 200, answer);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	*j = (struct owners_job){ r, answer, devices, ids, n };
	if (r->ctx_free) /* the list job, done with */
		r->ctx_free(r->ctx);
	r->ctx = j;
	r->ctx_free = owners_free;
	api_read(r, owners_read, owners_done, j);
}

static void list_answer(struct list_job *j)
{
	struct http_req *r = j->r;
	struct store_device **list;
	json_t *arr = json_array(), *next = json_null();
	size_t n = store_device_list(r->store, j->after, (size_t)j->limit + 1, http_query(r, "q"),
				     j->only, j->only ? j->nonly : 0, &list);
	size_t shown = n < (size_t)j->limit ? n : (size_t)j->limit;
	int64_t *ids = xcalloc(shown + 1, sizeof(*ids));

	for (size_t i = 0; i < shown; i++) {
		json_array_append_new(arr, api_device_json(list[i]));
		ids[i] = list[i]->id;
	}
	if (n > (size_t)j->limit) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)list[j->limit - 1]->id);
		json_decref(next);
		next = json_string(buf);
	}
	store_device_list_free(list, n);
	answer_devices(r, json_pack("{s:o, s:o}", "devices", arr, "next_cursor", next), arr, ids,
		       shown);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int list_read(struct store_conn *c, void *ud)
{
	struct list_job *j = ud;
	struct store_mapping *m;
	size_t n;
	int rc = store_mapping_list(c, j->r->who.user_id, 0, &m, &n);

	if (rc)
		return rc;
	j->only = xcalloc(n + 1, sizeof(*j->only));
	for (size_t i = 0; i < n; i++)
		j->only[i] = m[i].device_id;
	j->nonly = n;
	qsort(j->only, n, sizeof(*j->only), cmp_i64);
	free(m);
	return 0;
}

static void list_read_done(void *ud, int rc)
{
	struct list_job *j = ud;
	if (rc)
		http_reply_kwerr(j->r, rc);
	else
		list_answer(j);
}

void api_devices_list(struct http_req *r)
{
	const char *lim = http_query(r, "limit"), *cur = http_query(r, "cursor");
	struct list_job *j;

	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->limit = lim ? strtol(lim, NULL, 10) : 100;
	j->after = cur ? strtoll(cur, NULL, 10) : 0;
	r->ctx = j;
	r->ctx_free = list_free;
	if (j->limit < 1 || j->limit > 1000) {
		http_reply_error(r, 400, "invalid_value", "limit", 0, "limit must be 1..1000");
		return;
	}
	if (r->who.kind != PRINCIPAL_CLIENT) {
		list_answer(j);
		return;
	}
	api_read(r, list_read, list_read_done, j);
}

/* --- visibility: a client sees only the devices mapped to it --------------------- */

struct gate_job {
	struct http_req *r;
	struct store_device *d;
	void (*then)(struct http_req *r, struct store_device *d);
	int mapped;
};

static int gate_read(struct store_conn *c, void *ud)
{
	struct gate_job *j = ud;
	int rc = store_mapping_exists(c, j->r->who.user_id, j->d->id);
	j->mapped = rc == 0;
	return rc == KW_ENOTFOUND ? 0 : rc;
}

static void gate_done(void *ud, int rc)
{
	struct gate_job *j = ud;
	struct http_req *r = j->r;

	if (rc) {
		http_reply_kwerr(r, rc);
		store_device_free(j->d);
	} else if (!j->mapped) {
		/* The same answer as for a device that does not exist. */
		http_reply_error(r, 404, "not_found", "id", 0, "no device '%.80s'", r->params[0]);
		store_device_free(j->d);
	} else {
		j->then(r, j->d);
	}
	free(j);
}

void api_device_visible(struct http_req *r, struct store_device *d,
			void (*then)(struct http_req *r, struct store_device *d))
{
	struct gate_job *j;
	int rc;

	if (r->who.kind != PRINCIPAL_CLIENT) {
		then(r, d);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	*j = (struct gate_job){ r, d, then, 0 };
	if ((rc = store_submit_read(r->store, gate_read, gate_done, j)) != 0) {
		store_device_free(d);
		free(j);
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

static void devices_get(struct http_req *r, struct store_device *d)
{
	int64_t *id = xmalloc(sizeof(*id));
	*id = d->id;
	answer_devices(r, api_device_json(d), NULL, id, 1);
	store_device_free(d);
}

void api_devices_get(struct http_req *r)
{
	struct store_device *d = api_device_param(r);
	if (d)
		api_device_visible(r, d, devices_get);
}

/* The write job of create/update/delete carries one device. */
struct dev_job {
	struct http_req *r;
	struct store_device *d;
	int status;
	char *before;	/* the device as it was (JSON text), for the audit log */
	json_t *answer; /* the device as written, with its owners */
};

static void dev_job_free(void *p)
{
	struct dev_job *j = p;
	store_device_free(j->d);
	free(j->before);
	json_decref(j->answer);
	free(j);
}

/* Records the change in the audit log, in the change's transaction. */
static int audit_device(struct store_conn *c, struct dev_job *j, const char *action, bool after)
{
	char *a = after ? api_audit_text(api_device_json(j->d)) : NULL;
	int rc = api_audit(c, j->r, action, "device", j->d->uuid, j->before, a);
	free(a);
	return rc;
}

/* The answer to a create or update, read in its transaction. */
static int answer_written(struct store_conn *c, struct dev_job *j)
{
	j->answer = api_device_json(j->d);
	return add_owners(c, j->answer, j->d->id);
}

static int do_insert(struct store_conn *c, void *ud)
{
	int rc = store_device_insert(c, ((struct dev_job *)ud)->d);
	if (rc == 0)
		rc = audit_device(c, ud, "device.create", true);
	return rc ? rc : answer_written(c, ud);
}

static int do_update(struct store_conn *c, void *ud)
{
	int rc = store_device_update(c, ((struct dev_job *)ud)->d);
	if (rc == 0)
		rc = audit_device(c, ud, "device.update", true);
	return rc ? rc : answer_written(c, ud);
}

static int do_delete(struct store_conn *c, void *ud)
{
	int rc = store_device_delete(c, ((struct dev_job *)ud)->d->id);
	return rc ? rc : audit_device(c, ud, "device.delete", false);
}

static void dev_done(void *ud, int rc)
{
	struct dev_job *j = ud;
	if (rc == KW_EEXIST)
		http_reply_error(j->r, 409, "conflict", "serial", 0,
				 "a device with serial '%.64s' already exists", j->d->serial);
	else if (rc)
		http_reply_kwerr(j->r, rc);
	else if (j->status == 204)
		http_reply_empty(j->r, 204);
	else {
		http_reply_json(j->r, j->status, j->answer);
		j->answer = NULL;
	}
}

static void submit(struct http_req *r, struct dev_job *j, store_write_fn fn)
{
	int rc;
	r->ctx = j;
	r->ctx_free = dev_job_free;
	if ((rc = store_submit_write(r->store, fn, dev_done, j)) != 0) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

void api_devices_create(struct http_req *r)
{
	json_t *o = api_body_object(r);
	struct dev_job *j;
	if (!o)
		return;
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->status = 201;
	j->d = xcalloc(1, sizeof(*j->d));
	j->d->timezone = xstrdup(r->cfg->devices_default_timezone);
	if (apply_body(r, j->d, o, true) != 0) {
		json_decref(o);
		dev_job_free(j);
		return;
	}
	json_decref(o);
	if (!j->d->name) {
		dev_job_free(j);
		http_reply_error(r, 400, "missing_field", "name", 0, "name is required");
		return;
	}
	submit(r, j, do_insert);
}

void api_devices_update(struct http_req *r)
{
	struct store_device *d = api_device_param(r);
	struct dev_job *j;
	json_t *o;
	if (!d)
		return;
	if (!(o = api_body_object(r))) {
		store_device_free(d);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	*j = (struct dev_job){ r, d, 200, api_audit_text(api_device_json(d)), NULL };
	if (apply_body(r, d, o, false) != 0) {
		json_decref(o);
		dev_job_free(j);
		return;
	}
	json_decref(o);
	submit(r, j, do_update);
}

void api_devices_delete(struct http_req *r)
{
	struct store_device *d = api_device_param(r);
	struct dev_job *j;
	if (!d)
		return;
	j = xcalloc(1, sizeof(*j));
	*j = (struct dev_job){ r, d, 204, api_audit_text(api_device_json(d)), NULL };
	submit(r, j, do_delete);
}
