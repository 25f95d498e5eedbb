/*
 * api_chat.c - the support chat: one conversation per client, answered by
 * any admin (docs/API.md, "Chat").
 *   GET  /api/v1/chats[?client_id=]
 *   GET  /api/v1/chats/{id}/messages?before=&limit=
 *   POST /api/v1/chats/{id}/messages  {"body", "client_msg_id", "context"?}
 *   POST /api/v1/chats/{id}/read      {"up_to"}
 * and over /ws (a handler registered on the hub for "chat."):
 *   chat.send, chat.typing, chat.read in; chat.message, chat.typing,
 *   chat.read, chat.delivered and chat.error out.
 *
 * Design: HTTP and /ws share one storage path per action (send_write,
 * read_write): a store job whose completion publishes the events, then
 * answers the request or the socket.  A chat job knows who acts (user id,
 * admin or not) and, from /ws, which socket to answer.
 *
 * Invariants:
 *  1. A client acts only on its own chat: any other id answers KW_ENOTFOUND
 *     (404, or chat.error "not_found"), exactly like an id that does not
 *     exist.  The check runs in the job, against the stored chat.
 *  2. A sender's client_msg_id stores one message: a retry answers the
 *     stored message (HTTP 200 instead of 201) and publishes nothing again.
 *  3. Sending is limited per user (CHAT_SEND_MAX in CHAT_SEND_WINDOW_MS,
 *     HTTP and /ws together); typing events are forwarded at most once per
 *     CHAT_TYPING_MS per user, the rest dropped silently.
 *  4. Bodies are stored and sent as they came (JSON-escaped only).
 *
 * Thread-safety: loop thread; the job closures run on a reader or the
 * writer and touch only their job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "http/ws.h"
#include "core/banned.h"

#define CHAT_BODY_MAX	    4000  /* characters (code points) of one message */
#define CHAT_CID_MAX	    64	  /* bytes of a client_msg_id */
#define CHAT_SEND_MAX	    20	  /* messages per user ... */
#define CHAT_SEND_WINDOW_MS 10000 /* ... in this window */
#define CHAT_TYPING_MS	    2000
#define CHAT_LIST_MAX	    500 /* conversations in the admins' inbox */
#define PAGE_DEFAULT	    50
#define PAGE_MAX	    200

/* What the /ws handler and the rate limits keep; one per hub. */
struct chat_state {
	struct store *store;
	struct ws_hub *hub; /* NULL once the hub is freed */
	struct throttle *send, *typing;
	int jobs; /* /ws jobs out */
};

static struct chat_state *state; /* loop thread only */

enum chat_act { ACT_SEND, ACT_READ, ACT_TYPING };

struct chat_job {
	enum chat_act act;
	struct http_req *r;    /* from HTTP; NULL from /ws */
	struct chat_state *st; /* from /ws */
	uint64_t socket;       /* from /ws: who to answer */
	int64_t user_id;       /* who acts */
	bool admin;
	int64_t chat_id;
	struct store_chat ch;	     /* read in the job */
	struct store_chat_message m; /* send: in and out */
	bool dup;
	int64_t up_to;			 /* read */
	struct store_chat_message *read; /* read: the messages marked */
	size_t nread;
	int64_t read_at;
	struct store_user actor; /* typing: who types */
	/* list and history */
	int64_t before;
	size_t limit;
	struct store_chat *chats;
	size_t nchats;
	struct store_chat_message *msgs;
	size_t nmsgs;
};

static void chat_job_free(void *p)
{
	struct chat_job *j = p;

	store_chat_release(&j->ch);
	store_chat_message_release(&j->m);
	for (size_t i = 0; i < j->nread; i++)
		store_chat_message_release(&j->read[i]);
	free(j->read);
	for (size_t i = 0; i < j->nchats; i++)
		store_chat_release(&j->chats[i]);
	free(j->chats);
	for (size_t i = 0; i < j->nmsgs; i++)
		store_chat_message_release(&j->msgs[i]);
	free(j->msgs);
	store_user_release(&j->actor);
	free(j);
}

static struct chat_job *http_job(struct http_req *r, enum chat_act act)
{
	struct chat_job *j = xcalloc(1, sizeof(*j));
	j->act = act;
	j->r = r;
	j->user_id = r->who.user_id;
	j->admin = r->who.kind == PRINCIPAL_ADMIN_USER;
	r->ctx = j;
	r->ctx_free = chat_job_free;
	return j;
}

static struct ws_hub *job_hub(const struct chat_job *j)
{
	return j->r ? http_hub(j->r->srv) : j->st->hub;
}

/* --- JSON ---------------------------------------------------------------------------- */

static json_t *time_json(int64_t t)
{
	char buf[TZ_RFC3339_MAX];
	return t ? json_string(tz_format_rfc3339(tz_get("UTC"), t, buf)) : json_null();
}

/* A message's attached context, or null (also when its device was deleted). */
static json_t *context_json(const struct store_chat_message *m)
{
	char href[160];

	if (!m->context_device || !m->context_date || !m->context_device_uuid)
		return json_null();
	snprintf(href, sizeof(href), "/app/devices/%s?view=day&date=%s", m->context_device_uuid,
		 m->context_date);
	return json_pack("{s:s, s:s?, s:s, s:s}", "device_id", m->context_device_uuid,
			 "device_name", m->context_device_name, "date", m->context_date, "href",
			 href);
}

static json_t *message_json(const struct store_chat_message *m, int64_t client_id)
{
	bool by_client = m->sender_id == client_id;
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:{s:I, s:s?}, s:o, s:o, s:o}", "id",
			 (json_int_t)m->id, "chat_id", (json_int_t)m->chat_id, "client_msg_id",
			 m->client_msg_id ? m->client_msg_id : "", "body", m->body ? m->body : "",
			 "from", by_client ? "client" : "admin", "sender", "id",
			 (json_int_t)m->sender_id, "name", m->sender_name, "created_at",
			 time_json(m->created_at), "read_at", time_json(m->read_at), "context",
			 context_json(m));
}

static json_t *client_json(const struct store_chat *ch)
{
	return json_pack("{s:I, s:s?, s:s?}", "id", (json_int_t)ch->user_id, "name",
			 ch->client_name, "email", ch->client_email);
}

static json_t *chat_json(const struct store_chat *ch, bool admin)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:I, s:o}", "id", (json_int_t)ch->id, "client",
			 client_json(ch), "created_at", time_json(ch->created_at),
			 "last_message_at", time_json(ch->last_message_at), "unread",
			 (json_int_t)(admin ? ch->unread_by_admins : ch->unread_by_client),
			 "last_message",
			 ch->last.id ? message_json(&ch->last, ch->user_id) : json_null());
}

/* --- shared checks --------------------------------------------------------------------- */

/* [any] Reads chat j->chat_id into j->ch if the actor may use it (inv. 1). */
static int chat_load(struct store_conn *c, struct chat_job *j)
{
	int rc = store_chat_get(c, j->chat_id, &j->ch);
	if (rc == 0 && !j->admin && j->ch.user_id != j->user_id)
		rc = KW_ENOTFOUND;
	return rc;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Whether key is one of the envelope's keys of a /ws message (from_ws). */
static bool ws_key(bool from_ws, const char *key)
{
	return from_ws && (strcmp(key, "type") == 0 || strcmp(key, "chat_id") == 0);
}

struct chat_err {
	int status;
	const char *code, *field;
	char msg[160];
	int64_t retry_after; /* 429 */
};

/* A real calendar date "YYYY-MM-DD". */
static bool valid_date(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, len;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	mo = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || mo < 1 || mo > 12 || d < 1)
		return false;
	len = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100) || y % 400 == 0));
	return d <= len;
}

/* The optional "context" of a send into j->m (device resolved here, its
 * mapping to a client checked in the job); false with *e filled. */
static bool context_check(struct chat_job *j, json_t *ctx, struct chat_err *e)
{
	struct store *store = j->r ? j->r->store : j->st->store;
	json_t *dev = json_object_get(ctx, "device_id"), *date = json_object_get(ctx, "date"), *v;
	const char *key;
	struct store_device *d;

	if (!ctx || json_is_null(ctx))
		return true;
	if (!json_is_object(ctx)) {
		*e = (struct chat_err){ 400, "invalid_value", "context",
					"context must be an object or null", 0 };
		return false;
	}
	json_object_foreach (ctx, key, v) {
		if (strcmp(key, "device_id") && strcmp(key, "date")) {
			*e = (struct chat_err){ 400, "unknown_field", NULL, "", 0 };
			e->field = key;
			snprintf(e->msg, sizeof(e->msg), "unknown field 'context.%.64s'", key);
			return false;
		}
	}
	if (!json_is_string(date) || !valid_date(json_string_value(date))) {
		*e = (struct chat_err){ 400, "invalid_value", "context.date",
					"context.date must be a calendar date YYYY-MM-DD", 0 };
		return false;
	}
	d = json_is_string(dev) && store ? store_device_find(store, json_string_value(dev)) : NULL;
	if (!d) {
		*e = (struct chat_err){ 400, "invalid_value", "context.device_id",
					"context.device_id must be one of your devices", 0 };
		return false;
	}
	j->m.context_device = d->id;
	store_device_free(d);
	j->m.context_date = xstrdup(json_string_value(date));
	return true;
}

/* Validates a send (from either side) into j->m; false with *e filled. */
static bool send_check(struct chat_job *j, json_t *o, bool skip, struct chat_err *e)
{
	json_t *body = json_object_get(o, "body"), *cid = json_object_get(o, "client_msg_id");
	const char *key, *s;
	json_t *v;
	int64_t now = tz_now_ms(), retry = 0;
	char tkey[32];

	json_object_foreach (o, key, v) {
		if (strcmp(key, "body") && strcmp(key, "client_msg_id") && strcmp(key, "context") &&
		    !ws_key(skip, key)) {
			*e = (struct chat_err){ 400, "unknown_field", NULL, "", 0 };
			e->field = key; /* o outlives the use */
			snprintf(e->msg, sizeof(e->msg), "unknown field '%.64s'", key);
			return false;
		}
	}
	if (!json_is_string(body) || json_string_length(body) == 0 ||
	    strlen(json_string_value(body)) != json_string_length(body)) {
		*e = (struct chat_err){ 400, "invalid_value", "body",
					"body must be a non-empty string", 0 };
		return false;
	}
	if (utf8_chars(json_string_value(body)) > CHAT_BODY_MAX) {
		*e = (struct chat_err){ 400, "too_long", "body", "", 0 };
		snprintf(e->msg, sizeof(e->msg), "body must be at most %d characters",
			 CHAT_BODY_MAX);
		return false;
	}
	s = json_string_value(cid);
	if (!s || !*s || strlen(s) > CHAT_CID_MAX || strlen(s) != json_string_length(cid)) {
		*e = (struct chat_err){ 400, "invalid_value", "client_msg_id", "", 0 };
		snprintf(e->msg, sizeof(e->msg), "client_msg_id must be a string of 1 to %d bytes",
			 CHAT_CID_MAX);
		return false;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*e = (struct chat_err){ 400, "invalid_value", "client_msg_id",
						"client_msg_id must not contain control characters",
						0 };
			return false;
		}
	}
	if (!context_check(j, json_object_get(o, "context"), e))
		return false;
	snprintf(tkey, sizeof(tkey), "u%lld", (long long)j->user_id);
	if (state && !throttle_allowed(state->send, tkey, CHAT_SEND_MAX, now, &retry)) {
		*e = (struct chat_err){ 429, "rate_limited", "body", "", retry };
		snprintf(e->msg, sizeof(e->msg), "at most %d messages in %d s; try again in %lld s",
			 CHAT_SEND_MAX, CHAT_SEND_WINDOW_MS / 1000, (long long)retry);
		return false;
	}
	if (state)
		throttle_fail(state->send, tkey, CHAT_SEND_MAX, now);
	j->m.chat_id = j->chat_id;
	j->m.sender_id = j->user_id;
	j->m.body = xstrdup(json_string_value(body));
	j->m.client_msg_id = xstrdup(s);
	j->m.created_at = now;
	return true;
}

/* --- sending ---------------------------------------------------------------------------- */

static int send_write(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	int64_t want = j->m.chat_id;
	int rc = chat_load(c, j);

	if (rc)
		return rc;
	if (j->m.context_device && !j->admin) { /* a client attaches only its own devices */
		rc = store_mapping_exists(c, j->user_id, j->m.context_device);
		if (rc)
			return rc == KW_ENOTFOUND ? KW_EDENIED : rc;
	}
	if ((rc = store_chat_message_insert(c, &j->m, &j->dup)) != 0)
		return rc;
	return j->dup && j->m.chat_id != want ? KW_EEXIST : 0; /* the id names another chat */
}

/* Publishes a new message to both sides, and chat.delivered to the
 * sender's side when the recipient side had an open socket. */
static void send_publish(struct chat_job *j)
{
	struct ws_hub *hub = job_hub(j);
	const struct store_chat *ch = &j->ch;
	bool by_client = j->m.sender_id == ch->user_id;
	size_t to_client, to_admins;
	json_t *ev =
	    json_pack("{s:s, s:I, s:o, s:o}", "type", "chat.message", "chat_id", (json_int_t)ch->id,
		      "client", client_json(ch), "message", message_json(&j->m, ch->user_id));

	to_client = ws_publish_user(hub, ch->user_id, json_deep_copy(ev));
	to_admins = ws_publish_admins(hub, ev);
	if (by_client ? to_admins : to_client) {
		json_t *d = json_pack("{s:s, s:I, s:I, s:s, s:o}", "type", "chat.delivered",
				      "chat_id", (json_int_t)ch->id, "message_id",
				      (json_int_t)j->m.id, "client_msg_id", j->m.client_msg_id,
				      "delivered_at", time_json(tz_now_ms()));
		if (by_client)
			ws_publish_user(hub, ch->user_id, d);
		else
			ws_publish_admins(hub, d);
	}
}

static void ws_error(struct chat_job *j, const char *what, const struct chat_err *e,
		     int64_t chat_id, const char *cid)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I}", "type", "chat.error", "request",
			       what, "code", e->code, "field", e->field, "message", e->msg,
			       "chat_id", (json_int_t)chat_id);
	if (cid)
		json_object_set_new(ev, "client_msg_id", json_string(cid));
	if (e->retry_after)
		json_object_set_new(ev, "retry_after", json_integer(e->retry_after));
	ws_send_socket(j->st->hub, j->socket, ev);
}

static void kwerr_to(struct chat_err *e, int rc)
{
	switch (rc) {
	case KW_ENOTFOUND:
		*e = (struct chat_err){ 404, "not_found", "chat_id", "no such chat", 0 };
		break;
	case KW_EEXIST:
		*e = (struct chat_err){ 409, "conflict", "client_msg_id",
					"client_msg_id was used for another chat", 0 };
		break;
	case KW_EDENIED: /* send_write: not one of the client's devices */
		*e = (struct chat_err){ 400, "invalid_value", "context.device_id",
					"context.device_id must be one of your devices", 0 };
		break;
	default:
		*e = (struct chat_err){ 503, "unavailable", NULL, "try again later", 0 };
		break;
	}
}

/* A /ws job came back: drops it when the hub went away meanwhile. */
static bool ws_job_back(struct chat_job *j)
{
	struct chat_state *st = j->st;

	st->jobs--;
	if (st->hub)
		return true;
	if (st->jobs == 0) {
		throttle_free(st->send);
		throttle_free(st->typing);
		free(st);
	}
	chat_job_free(j);
	return false;
}

static void http_chat_err(struct http_req *r, const struct chat_err *e);

static void send_done(void *ud, int rc)
{
	struct chat_job *j = ud;
	struct http_req *r = j->r;

	if (!r) {
		if (!ws_job_back(j))
			return;
		if (rc) {
			struct chat_err e;
			kwerr_to(&e, rc);
			ws_error(j, "chat.send", &e, j->chat_id, j->m.client_msg_id);
		} else if (j->dup) { /* only the asking socket hears it again */
			ws_send_socket(j->st->hub, j->socket,
				       json_pack("{s:s, s:I, s:o, s:o}", "type", "chat.message",
						 "chat_id", (json_int_t)j->ch.id, "client",
						 client_json(&j->ch), "message",
						 message_json(&j->m, j->ch.user_id)));
		} else {
			send_publish(j);
		}
		chat_job_free(j);
		return;
	}
	if (rc == KW_EEXIST || rc == KW_EDENIED) {
		struct chat_err e;
		kwerr_to(&e, rc);
		http_chat_err(r, &e);
		return;
	}
	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	if (!j->dup)
		send_publish(j); /* before answering: answering frees j */
	http_reply_json(r, j->dup ? 200 : 201, message_json(&j->m, j->ch.user_id));
}

static void http_chat_err(struct http_req *r, const struct chat_err *e)
{
	if (e->retry_after) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%lld", (long long)e->retry_after);
		http_add_header(r, "Retry-After", ra);
	}
	http_reply_error(r, e->status, e->code, e->field, 0, "%s", e->msg);
}

/* The {id} path parameter; answers 404 (like a missing chat) when bad. */
static bool chat_param(struct http_req *r, struct chat_job *j)
{
	if (api_parse_pos(r->params[0], INT64_MAX, &j->chat_id))
		return true;
	http_reply_kwerr(r, KW_ENOTFOUND);
	return false;
}

void api_chat_send(struct http_req *r)
{
	json_t *o = api_body_object(r);
	struct chat_job *j;
	struct chat_err e;

	if (!o)
		return;
	j = http_job(r, ACT_SEND);
	if (!chat_param(r, j))
		goto out;
	if (!send_check(j, o, false, &e)) {
		http_chat_err(r, &e);
		goto out;
	}
	api_write(r, send_write, send_done, j);
out:
	json_decref(o);
}

/* --- marking read ------------------------------------------------------------------------ */

static int read_write(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	int rc = chat_load(c, j);

	if (rc)
		return rc;
	j->read_at = tz_now_ms();
	return store_chat_read(c, j->ch.id, j->ch.user_id, !j->admin, j->up_to, j->read_at,
			       &j->read, &j->nread);
}

static json_t *read_ids(const struct chat_job *j)
{
	json_t *ids = json_array();
	for (size_t i = 0; i < j->nread; i++)
		json_array_append_new(ids, json_integer(j->read[i].id));
	return ids;
}

/* The receipt goes to the senders' side (the client, or every admin), and
 * to the reader's side so its other tabs lower their unread count. */
static void read_publish(struct chat_job *j)
{
	struct ws_hub *hub = job_hub(j);
	json_t *ev;

	if (!j->nread)
		return;
	ev = json_pack("{s:s, s:I, s:o, s:o, s:s, s:I}", "type", "chat.read", "chat_id",
		       (json_int_t)j->ch.id, "message_ids", read_ids(j), "read_at",
		       time_json(j->read_at), "by", j->admin ? "admin" : "client", "reader_id",
		       (json_int_t)j->user_id);
	ws_publish_user(hub, j->ch.user_id, json_deep_copy(ev));
	ws_publish_admins(hub, ev);
}

static void read_done(void *ud, int rc)
{
	struct chat_job *j = ud;
	struct http_req *r = j->r;

	if (!r) {
		if (!ws_job_back(j))
			return;
		if (rc) {
			struct chat_err e;
			kwerr_to(&e, rc);
			ws_error(j, "chat.read", &e, j->chat_id, NULL);
		} else {
			read_publish(j);
		}
		chat_job_free(j);
		return;
	}
	if (rc) {
		http_reply_kwerr(r, rc);
		return;
	}
	read_publish(j);
	http_reply_json(r, 200,
			json_pack("{s:o, s:o}", "message_ids", read_ids(j), "read_at",
				  j->nread ? time_json(j->read_at) : json_null()));
}

/* up_to from o: a positive integer; false with *e filled. */
static bool read_check(struct chat_job *j, json_t *o, bool skip, struct chat_err *e)
{
	json_t *up = json_object_get(o, "up_to"), *v;
	const char *key;

	json_object_foreach (o, key, v) {
		if (strcmp(key, "up_to") && !ws_key(skip, key)) {
			*e = (struct chat_err){ 400, "unknown_field", NULL, "", 0 };
			e->field = key;
			snprintf(e->msg, sizeof(e->msg), "unknown field '%.64s'", key);
			return false;
		}
	}
	if (!json_is_integer(up) || json_integer_value(up) <= 0) {
		*e = (struct chat_err){ 400, "invalid_value", "up_to",
					"up_to must be a message id (a positive integer)", 0 };
		return false;
	}
	j->up_to = json_integer_value(up);
	return true;
}

void api_chat_read(struct http_req *r)
{
	json_t *o = api_body_object(r);
	struct chat_job *j;
	struct chat_err e;

	if (!o)
		return;
	j = http_job(r, ACT_READ);
	if (!chat_param(r, j))
		goto out;
	if (!read_check(j, o, false, &e)) {
		http_chat_err(r, &e);
		goto out;
	}
	api_write(r, read_write, read_done, j);
out:
	json_decref(o);
}

/* --- listing ------------------------------------------------------------------------------ */

static int list_admin(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	return store_chat_list(c, CHAT_LIST_MAX, &j->chats, &j->nchats);
}

static int list_client(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	return store_chat_ensure(c, j->user_id, tz_now_ms(), &j->ch);
}

/* An admin opening a client's conversation (?client_id=): the client must
 * be a client user; its chat is created if needed. */
static int list_one(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	int rc = store_user_get(c, j->chat_id, &j->actor);

	if (rc == 0 && j->actor.role != ROLE_CLIENT)
		rc = KW_ENOTFOUND;
	return rc ? rc : store_chat_ensure(c, j->chat_id, tz_now_ms(), &j->ch);
}

static void list_done(void *ud, int rc)
{
	struct chat_job *j = ud;
	json_t *arr;

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	arr = json_array();
	if (j->admin && !j->chat_id) {
		for (size_t i = 0; i < j->nchats; i++)
			json_array_append_new(arr, chat_json(&j->chats[i], true));
	} else {
		json_array_append_new(arr, chat_json(&j->ch, j->admin));
	}
	http_reply_json(j->r, 200, json_pack("{s:o}", "chats", arr));
}

void api_chats_list(struct http_req *r)
{
	const char *client = http_query(r, "client_id");
	struct chat_job *j = http_job(r, ACT_SEND);

	if (client) { /* j->chat_id holds the client's user id here */
		if (!j->admin || !api_parse_pos(client, INT64_MAX, &j->chat_id)) {
			http_reply_error(r, 400, "invalid_value", "client_id", 0,
					 j->admin ? "client_id must be a user id"
						  : "client_id is for admins");
			return;
		}
		api_write(r, list_one, list_done, j);
	} else if (j->admin) {
		api_read(r, list_admin, list_done, j);
	} else {
		api_write(r, list_client, list_done, j); /* created on first use */
	}
}

static int history_read(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	int rc = chat_load(c, j);
	return rc ? rc
		  : store_chat_messages(c, j->ch.id, j->before, j->limit + 1, &j->msgs, &j->nmsgs);
}

static void history_done(void *ud, int rc)
{
	struct chat_job *j = ud;
	json_t *arr, *next = json_null();

	if (rc) {
		http_reply_kwerr(j->r, rc);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < j->nmsgs && i < j->limit; i++)
		json_array_append_new(arr, message_json(&j->msgs[i], j->ch.user_id));
	if (j->nmsgs > j->limit) {
		json_decref(next);
		next = json_integer(j->msgs[j->limit - 1].id);
	}
	http_reply_json(j->r, 200, json_pack("{s:o, s:o}", "messages", arr, "next_before", next));
}

void api_chat_messages(struct http_req *r)
{
	const char *before = http_query(r, "before");
	struct chat_job *j = http_job(r, ACT_READ);

	if (!chat_param(r, j))
		return;
	if (!api_query_limit(r, PAGE_DEFAULT, PAGE_MAX, &j->limit))
		return;
	if (before && !api_parse_pos(before, INT64_MAX, &j->before)) {
		http_reply_error(r, 400, "invalid_value", "before", 0,
				 "before must be a message id (a positive integer)");
		return;
	}
	api_read(r, history_read, history_done, j);
}

/* --- /ws ------------------------------------------------------------------------------------ */

static int typing_read(struct store_conn *c, void *ud)
{
	struct chat_job *j = ud;
	int rc = chat_load(c, j);
	return rc ? rc : store_user_get(c, j->user_id, &j->actor);
}

static void typing_done(void *ud, int rc)
{
	struct chat_job *j = ud;
	json_t *ev;

	if (!ws_job_back(j))
		return;
	if (rc) {
		struct chat_err e;
		kwerr_to(&e, rc);
		ws_error(j, "chat.typing", &e, j->chat_id, NULL);
	} else {
		ev = json_pack("{s:s, s:I, s:s, s:{s:I, s:s?}, s:o}", "type", "chat.typing",
			       "chat_id", (json_int_t)j->ch.id, "from",
			       j->admin ? "admin" : "client", "user", "id", (json_int_t)j->user_id,
			       "name", j->actor.name, "at", time_json(tz_now_ms()));
		if (j->admin)
			ws_publish_user(j->st->hub, j->ch.user_id, ev);
		else
			ws_publish_admins(j->st->hub, ev);
	}
	chat_job_free(j);
}

static void on_ws(void *ud, struct ws_hub *hub, const struct ws_from *from, const char *type,
		  json_t *msg)
{
	struct chat_state *st = ud;
	struct chat_job *j = xcalloc(1, sizeof(*j));
	json_t *cid = json_object_get(msg, "chat_id");
	struct chat_err e;
	int rc;

	(void)hub;
	j->st = st;
	j->socket = from->socket;
	j->user_id = from->user_id;
	j->admin = from->admin;
	if (!json_is_integer(cid) || json_integer_value(cid) <= 0) {
		e = (struct chat_err){ 400, "invalid_value", "chat_id",
				       "chat_id must be a chat id (a positive integer)", 0 };
		ws_error(j, type, &e, 0, json_string_value(json_object_get(msg, "client_msg_id")));
		goto drop;
	}
	j->chat_id = json_integer_value(cid);
	if (strcmp(type, "chat.send") == 0) {
		if (!send_check(j, msg, true, &e)) {
			ws_error(j, type, &e, j->chat_id,
				 json_string_value(json_object_get(msg, "client_msg_id")));
			goto drop;
		}
		rc = store_submit_write(st->store, send_write, send_done, j);
	} else if (strcmp(type, "chat.read") == 0) {
		if (!read_check(j, msg, true, &e)) {
			ws_error(j, type, &e, j->chat_id, NULL);
			goto drop;
		}
		rc = store_submit_write(st->store, read_write, read_done, j);
	} else if (strcmp(type, "chat.typing") == 0) {
		char tkey[32];
		int64_t now = tz_now_ms(), retry;
		snprintf(tkey, sizeof(tkey), "u%lld", (long long)j->user_id);
		if (!throttle_allowed(st->typing, tkey, 1, now, &retry))
			goto drop; /* invariant 3: silently */
		throttle_fail(st->typing, tkey, 1, now);
		rc = store_submit_read(st->store, typing_read, typing_done, j);
	} else {
		goto drop; /* a type the browser may send later: ignored */
	}
	if (rc == 0) {
		st->jobs++;
		return;
	}
	kwerr_to(&e, rc);
	ws_error(j, type, &e, j->chat_id, NULL);
drop:
	chat_job_free(j);
}

static void on_hub_freed(void *ud)
{
	struct chat_state *st = ud;

	if (state == st)
		state = NULL;
	st->hub = NULL;
	if (st->jobs == 0) {
		throttle_free(st->send);
		throttle_free(st->typing);
		free(st);
	}
}

void api_chat_init(struct ws_hub *hub, struct store *store)
{
	struct chat_state *st = xcalloc(1, sizeof(*st));

	st->store = store;
	st->hub = hub;
	st->send = throttle_new(CHAT_SEND_WINDOW_MS);
	st->typing = throttle_new(CHAT_TYPING_MS);
	state = st;
	ws_hub_on(hub, "chat.", on_ws, on_hub_freed, st);
}
