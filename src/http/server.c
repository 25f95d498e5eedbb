/*
 * server.c - libmicrohttpd driven from the libuv loop; the only file, with
 * the rest of src/http/, that includes <microhttpd.h>.
 *
 * Design: MHD runs in external-epoll mode.  Its epoll fd is watched by a
 * uv_poll_t and MHD's own timeout by a uv_timer_t; whenever either fires we
 * call MHD_run() and re-arm the timer from MHD_get_timeout().  So the whole
 * HTTP server is single-threaded on the loop thread, and blocking work goes
 * to the store's threads, with the connection suspended until its answer.
 *
 * WebSocket: a handler answers with http_reply_upgrade(), i.e. 101 through
 * MHD_create_response_for_upgrade() (MHD_ALLOW_UPGRADE is set).  Once MHD
 * has sent it, on_upgrade() hands the socket to the handler's callback (the
 * hub, http/ws.c, the only includer of wslay), which watches it with its
 * own uv_poll_t; MHD has stopped watching it.  The hub closes it with
 * http_upgrade_close() (MHD_UPGRADE_ACTION_CLOSE), and MHD's clean-up, which
 * ends the request (on_completed), runs from the loop right after.  The
 * server owns the hub: shutdown sends every socket close 1001 first, waits
 * for them with the requests in flight, closes what is left, and only then
 * stops MHD.
 *
 * Request states (one struct conn_state per request):
 *
 *   RECEIVING --body complete--> DISPATCH --token cached--> HANDLER
 *                                   |                         |
 *                          token lookup (suspended)      reply now / suspend
 *                                   v                         v
 *                               HANDLER ------------------> ANSWERED --MHD--> completed
 *
 * Invariants:
 *  1. A request is answered exactly once; st->resp is set once and queued
 *     from the access handler (after a resume when it came asynchronously).
 *  2. A suspended connection is resumed exactly once, by finish(), which
 *     lets MHD run only from the loop afterwards: st stays valid until the
 *     code that answered returns.
 *  3. Every byte of body is counted against http.max_body_bytes before it
 *     is stored; a larger body answers 413 without being kept.
 *  4. active counts requests between their first callback and MHD's
 *     completion notice; shutdown waits for it to reach zero.
 *  5. An upgraded connection is closed exactly once, by
 *     http_upgrade_close(), and always before MHD_stop_daemon().
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "auth/throttle.h"
#include "http/router.h"
#include "http/server.h"
#include "http/ws.h"
#include "store/store.h"
#include "core/banned.h"

#define TOKEN_TTL_MS	5000 /* a revoked token keeps working at most this long */
#define TOKEN_CACHE_MAX 4096 /* known tokens cached; past it the cache starts over */
#define MAX_STATUS	600
#define MAX_METRICS	8

/* A cached credential: a token, or a session (keyed by the SHA-256 of
 * the secret either way; they cannot collide). */
struct token_entry {
	unsigned char hash[32];
	struct principal who; /* PRINCIPAL_NONE: unknown, revoked or expired */
	uint64_t expires;     /* monotonic ms */
};

#define SESSION_COOKIE	 "kw_session"
#define SESSION_TOUCH_MS 60000 /* how often a session's last use is written, at most */
#define MAX_HEADERS	 6

struct http_server {
	uv_loop_t *loop;
	struct MHD_Daemon *d;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_timer_t drain;
	int handles_open;
	struct store *store;
	const struct config *cfg;
	unsigned active;
	bool quiescing;
	uint64_t drain_deadline;
	void (*close_cb)(void *);
	void *close_ud;
	struct throttle *throttle; /* failed logins (api_session.c) */
	uint64_t
	    forgets; /* bumped by every http_forget_*(): lookups started before one are not cached */
	struct hmap tokens; /* first 8 bytes of hash -> index in tok */
	struct token_entry *tok;
	size_t ntok, tokcap;
	uint64_t *requests; /* (nroutes + 1) x MAX_STATUS counters */
	struct {
		void (*fn)(void *ud, struct kwbuf *out);
		void *ud;
	} metrics[MAX_METRICS]; /* other sources of /metrics */
	struct ws_hub *hub;
	unsigned upgraded; /* upgraded connections not yet closed (invariant 5) */
};

/* An upgraded connection, owned by the hub until http_upgrade_close(). */
struct http_upgrade {
	struct http_server *srv;
	struct MHD_UpgradeResponseHandle *urh;
};

enum phase { RECEIVING, HANDLING, ANSWERED };

struct http_conn_state {
	struct http_req req;
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	size_t route_idx;
	enum phase phase;
	struct kwbuf body;
	bool suspended;
	bool want_suspend;
	struct MHD_Response *resp;
	unsigned status;
	uint64_t start_ms;
	char params[512];
	char *hdr[2 * MAX_HEADERS]; /* extra answer headers: name, value, ... */
	bool via_session;	    /* authenticated by the session cookie */
	http_upgrade_fn upgrade_fn; /* set by http_reply_upgrade() */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- driving MHD from libuv ------------------------------------------------- */

static void run_mhd(struct http_server *s);

static void on_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

static void run_mhd(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (!s->d)
		return;
	MHD_run(s->d);
	if (MHD_get_timeout(s->d, &ms) == MHD_YES)
		uv_timer_start(&s->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&s->timer);
}

/* --- answering ---------------------------------------------------------------- */

static void add_common_headers(struct http_conn_state *st, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	if (!MHD_get_response_header(resp, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (st->srv->quiescing && !st->upgrade_fn)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Sets the answer and, if the connection waits suspended, wakes it. */
static void finish(struct http_conn_state *st, unsigned status, struct MHD_Response *resp)
{
	if (st->phase == ANSWERED) {
		MHD_destroy_response(resp); /* a bug: answered twice */
		log_error("http", "request %s %s answered twice", st->req.method, st->req.path);
		return;
	}
	for (int i = 0; i < 2 * MAX_HEADERS && st->hdr[i]; i += 2)
		MHD_add_response_header(resp, st->hdr[i], st->hdr[i + 1]);
	add_common_headers(st, resp);
	st->resp = resp;
	st->status = status;
	st->phase = ANSWERED;
	if (st->suspended) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
		/* MHD runs from the loop right after, never from here: it may end
		 * the request at once (an answer it refuses to queue, such as a
		 * 101 to an HTTP/1.0 client), and our callers still use st. */
		if (st->srv->d)
			uv_timer_start(&st->srv->timer, on_timer, 0, 0);
	}
}

void http_reply_bytes(struct http_req *r, int status, const char *content_type, char *body,
		      size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	finish(r->priv, (unsigned)status, resp);
}

void http_reply_static(struct http_req *r, int status, const char *content_type, const void *body,
		       size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	finish(r->priv, (unsigned)status, resp);
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(body);
	http_reply_bytes(r, status, "application/json", text, strlen(text));
}

/* MHD sent the 101: the socket is the handler's now (see http.h). */
static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
		       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct http_conn_state *st = con_cls;
	struct http_upgrade *u = xmalloc(sizeof(*u));
	void *ctx = st->req.ctx;

	*u = (struct http_upgrade){ st->srv, urh };
	st->req.ctx = NULL; /* fn owns it now */
	st->req.ctx_free = NULL;
	st->srv->upgraded++;
	st->upgrade_fn(ctx, u, sock, extra, extra_len);
}

void http_reply_upgrade(struct http_req *r, http_upgrade_fn fn)
{
	struct http_conn_state *st = r->priv;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, st);

	st->upgrade_fn = fn;
	finish(st, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

void http_upgrade_close(struct http_upgrade *u)
{
	struct http_server *s = u->srv;

	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	s->upgraded--;
	free(u);
	/* MHD frees the connection on its next run: soon, never from here
	 * (this may be called from inside one of MHD's callbacks). */
	if (s->d)
		uv_timer_start(&s->timer, on_timer, 0, 0);
}

struct ws_hub *http_hub(struct http_server *s)
{
	return s->hub;
}

void http_reply_empty(struct http_req *r, int status)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	finish(r->priv, (unsigned)status, resp);
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *field, int line,
		      const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (field)
		json_object_set_new(e, "field", json_string(field));
	if (line > 0)
		json_object_set_new(e, "line", json_integer(line));
	http_reply_json(r, status, json_pack("{s:o}", "error", e));
}

void http_reply_kwerr(struct http_req *r, int err)
{
	switch (err) {
	case KW_ENOTFOUND:
		http_reply_error(r, 404, "not_found", NULL, 0, "not found");
		break;
	case KW_EEXIST:
		http_reply_error(r, 409, "conflict", NULL, 0, "already exists");
		break;
	case KW_ETOOBIG:
		http_reply_error(r, 503, "overloaded", NULL, 0,
				 "the write queue is full; retry later");
		break;
	case KW_ESHUTDOWN:
		http_reply_error(r, 503, "shutting_down", NULL, 0, "the server is shutting down");
		break;
	default:
		http_reply_error(r, 500, "internal", NULL, 0, "internal error: %s",
				 kw_strerror(err));
	}
}

void http_suspend(struct http_req *r)
{
	r->priv->want_suspend = true;
}

void http_add_header(struct http_req *r, const char *name, const char *value)
{
	struct http_conn_state *st = r->priv;
	for (int i = 0; i < 2 * MAX_HEADERS; i += 2) {
		if (!st->hdr[i]) {
			st->hdr[i] = xstrdup(name);
			st->hdr[i + 1] = xstrdup(value);
			return;
		}
	}
	log_error("http", "more than %d extra headers on %s %s", MAX_HEADERS, r->method, r->path);
}

uv_loop_t *http_loop(struct http_req *r)
{
	return r->srv->loop;
}

const char *http_peer(struct http_req *r)
{
	static __thread char buf[INET6_ADDRSTRLEN];
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->priv->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	buf[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof(buf));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  sizeof(buf));
	return buf;
}

struct throttle *http_throttle(struct http_req *r)
{
	return r->srv->throttle;
}

void http_forget_token(struct http_server *s, int64_t token_id)
{
	s->forgets++;
	for (size_t i = 0; i < s->ntok; i++)
		if (s->tok[i].who.token_id == token_id && !s->tok[i].who.user_id) {
			s->tok[i].who.kind = PRINCIPAL_NONE;
			s->tok[i].expires = 0;
		}
}

bool http_via_session(const struct http_req *r)
{
	return r->priv->via_session;
}

void http_forget_user(struct http_server *s, int64_t user_id)
{
	s->forgets++;
	for (size_t i = 0; i < s->ntok; i++)
		if (s->tok[i].who.user_id == user_id) {
			s->tok[i].who.kind = PRINCIPAL_NONE;
			s->tok[i].expires = 0;
		}
}

const char *http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->priv->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->priv->conn, MHD_HEADER_KIND, name);
}

/* --- authentication ------------------------------------------------------------ */

static struct token_entry *token_cached(struct http_server *s, const unsigned char *hash)
{
	uint64_t k, idx;
	memcpy(&k, hash, sizeof(k));
	if (!hmap_get(&s->tokens, k, &idx))
		return NULL;
	struct token_entry *e = &s->tok[idx];
	if (sodium_memcmp(e->hash, hash, 32) != 0)
		return NULL;
	return e;
}

/* Only tokens that exist are cached (a stream of made-up tokens must not
 * grow memory), and the cache is bounded. */
static struct token_entry *token_slot(struct http_server *s, const unsigned char *hash)
{
	struct token_entry *e = token_cached(s, hash);
	uint64_t k;
	if (e)
		return e;
	if (s->ntok >= TOKEN_CACHE_MAX) {
		hmap_clear(&s->tokens);
		s->ntok = 0;
	}
	memcpy(&k, hash, sizeof(k));
	xgrow((void **)&s->tok, &s->tokcap, s->ntok + 1, sizeof(*s->tok));
	e = &s->tok[s->ntok];
	memcpy(e->hash, hash, 32);
	hmap_put(&s->tokens, k, s->ntok++);
	return e;
}

static void run_handler(struct http_conn_state *st);

/* The first member of every credential lookup job (see lookup()). */
struct cred_job {
	struct http_conn_state *st;
	unsigned char hash[32];
	uint64_t forgets; /* the server's count when the lookup started */
};

struct token_job {
	struct cred_job c;
	struct store_token tok;
	int found;
};

static int token_read(struct store_conn *c, void *ud)
{
	struct token_job *j = ud;
	j->found = store_token_find(c, j->c.hash, &j->tok) == 0;
	return 0;
}

struct touch_job {
	int64_t id;
	int64_t when;
};

static int token_touch(struct store_conn *c, void *ud)
{
	struct touch_job *t = ud;
	return store_token_touch(c, t->id, t->when);
}

static void touch_done(void *ud, int rc)
{
	free(ud);
}

/* Records a token's use when the cache looks it up again: at most once per
 * TOKEN_TTL_MS for a busy token, never a write per request. */
static void touch(struct http_server *s, int64_t id)
{
	struct touch_job *t = xmalloc(sizeof(*t));
	*t = (struct touch_job){ id, tz_now_ms() };
	if (store_submit_write(s->store, token_touch, touch_done, t) != 0)
		free(t);
}

static struct principal principal_of(struct http_server *s, const struct store_token *t)
{
	struct principal p = { .kind = PRINCIPAL_NONE, .token_id = t->id };
	if (t->revoked)
		return p;
	snprintf(p.name, sizeof(p.name), "%s", t->name);
	if (strcmp(t->scope, "admin") == 0)
		p.kind = PRINCIPAL_ADMIN;
	else if (strcmp(t->scope, "ingest") == 0)
		p.kind = PRINCIPAL_INGEST;
	else if (strncmp(t->scope, "device:", 7) == 0) {
		p.kind = PRINCIPAL_DEVICE;
		p.device = store_device_resolve(s->store, t->scope + 7);
	}
	return p;
}

static void token_done(void *ud, int rc)
{
	struct token_job *j = ud;
	struct http_conn_state *st = j->c.st;
	struct principal who = j->found ? principal_of(st->srv, &j->tok) : (struct principal){ 0 };

	if (j->found && j->c.forgets == st->srv->forgets) { /* see session_done() */
		struct token_entry *e = token_slot(st->srv, j->c.hash);
		e->who = who;
		e->expires = mono_ms() + TOKEN_TTL_MS;
		if (who.kind != PRINCIPAL_NONE)
			touch(st->srv, who.token_id);
	}
	st->req.who = who;
	free(j);
	run_handler(st);
}

static bool unsafe_method(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

/* Whether an Origin header names this server: http.public_origin when set,
 * else http:// or https:// and the Host header. */
static bool same_origin(struct http_conn_state *st)
{
	const char *origin = http_header(&st->req, "Origin");
	const char *host = http_header(&st->req, MHD_HTTP_HEADER_HOST);
	const char *pub = st->srv->cfg->http_public_origin;

	if (!origin)
		return false;
	if (pub && *pub)
		return strcmp(origin, pub) == 0;
	if (!host)
		return false;
	if (strncmp(origin, "http://", 7) == 0)
		return strcmp(origin + 7, host) == 0;
	if (strncmp(origin, "https://", 8) == 0)
		return strcmp(origin + 8, host) == 0;
	return false;
}

/* A state-changing request made with the session cookie must carry the
 * session's CSRF token and come from this origin (docs/SECURITY.md). */
static bool csrf_ok(struct http_conn_state *st)
{
	struct http_req *r = &st->req;
	const char *tok = http_header(r, "X-CSRF-Token");
	size_t n = strlen(r->who.csrf);

	if (!unsafe_method(r->method))
		return true;
	if (!tok || strlen(tok) != n || sodium_memcmp(tok, r->who.csrf, n) != 0) {
		http_reply_error(r, 403, "csrf", "X-CSRF-Token", 0,
				 "missing or wrong X-CSRF-Token header (GET /api/v1/me gives it)");
		return false;
	}
	if (!same_origin(st)) {
		http_reply_error(r, 403, "csrf", "Origin", 0,
				 "cross-site request refused: Origin must be this server");
		return false;
	}
	return true;
}

bool http_same_origin(struct http_req *r)
{
	return same_origin(r->priv);
}

/* /login and /register have no session yet: refuse them from another site. */
bool http_origin_allowed(struct http_req *r)
{
	return !http_header(r, "Origin") || same_origin(r->priv);
}

/* Checks the route's access rule against the principal and runs the
 * handler, or answers 401/403. */
static void run_handler(struct http_conn_state *st)
{
	struct http_req *r = &st->req;
	unsigned need = st->route->access;

	if (need != ACCESS_PUBLIC) {
		if (r->who.kind == PRINCIPAL_NONE) {
			http_reply_error(r, 401, "unauthorized", NULL, 0,
					 "log in, or send 'Authorization: Bearer <token>'");
			return;
		}
		if (!(need & (1u << r->who.kind))) {
			http_reply_error(r, 403, "forbidden", NULL, 0, "%s may not %s %s",
					 st->via_session ? "this user" : "this token's scope",
					 r->method, st->route->pattern);
			return;
		}
	}
	if (st->via_session && !csrf_ok(st))
		return;
	st->phase = HANDLING;
	st->route->handler(r);
	if (st->phase != ANSWERED && st->want_suspend && !st->suspended) {
		st->suspended = true;
		MHD_suspend_connection(st->conn);
	}
}

/* --- sessions --------------------------------------------------------------------- */

/* Finds the session cookie; true with the SHA-256 of its value in hash. */
static bool session_cookie(struct http_conn_state *st, unsigned char hash[32])
{
	const char *v = MHD_lookup_connection_value(st->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
	size_t n = v ? strlen(v) : 0;

	if (n < 16 || n > 128)
		return false;
	crypto_hash_sha256(hash, (const unsigned char *)v, n);
	st->via_session = true;
	return true;
}

struct session_job {
	struct cred_job c;
	struct store_session sess;
	struct store_user user;
	int found;
};

static int session_read(struct store_conn *c, void *ud)
{
	struct session_job *j = ud;
	j->found = store_session_find(c, j->c.hash, &j->sess, &j->user) == 0;
	return 0;
}

static int session_touch(struct store_conn *c, void *ud)
{
	struct touch_job *t = ud;
	return store_session_touch(c, t->id, t->when);
}

/* The principal of a session found in the store, or NONE when it has
 * expired (absolutely or idle) or its user is disabled. */
static struct principal session_principal(struct http_server *s, const struct session_job *j,
					  bool *touch_due)
{
	struct principal p = { .kind = PRINCIPAL_NONE };
	int64_t now = tz_now_ms();

	*touch_due = false;
	if (!j->found || j->user.disabled || now >= j->sess.expires_at ||
	    now - j->sess.last_seen_at >= s->cfg->auth_session_idle_s * 1000)
		return p;
	p.kind = j->user.role == ROLE_ADMIN ? PRINCIPAL_ADMIN_USER : PRINCIPAL_CLIENT;
	p.user_id = j->user.id;
	p.session_id = j->sess.id;
	p.expires_at = j->sess.expires_at;
	snprintf(p.csrf, sizeof(p.csrf), "%s", j->sess.csrf);
	snprintf(p.name, sizeof(p.name), "%s", j->user.name ? j->user.name : "");
	*touch_due = now - j->sess.last_seen_at >= SESSION_TOUCH_MS;
	return p;
}

static void session_done(void *ud, int rc)
{
	struct session_job *j = ud;
	struct http_conn_state *st = j->c.st;
	bool touch_due;
	struct principal who = session_principal(st->srv, j, &touch_due);

	/* A logout, disable or password change since the lookup began may have
	 * made what it read stale: answer with it, but do not cache it. */
	if (j->found && j->c.forgets == st->srv->forgets) {
		struct token_entry *e = token_slot(st->srv, j->c.hash);
		e->who = who;
		e->expires = mono_ms() + TOKEN_TTL_MS;
		if (touch_due) {
			struct touch_job *t = xmalloc(sizeof(*t));
			*t = (struct touch_job){ who.session_id, tz_now_ms() };
			if (store_submit_write(st->srv->store, session_touch, touch_done, t) != 0)
				free(t);
		}
	}
	store_user_release(&j->user);
	st->req.who = who;
	free(j);
	run_handler(st);
}

/* Runs the handler with the cached principal of a credential (its hash),
 * or looks it up: job (job_size bytes, starting with st and hash, as
 * token_job and session_job do) runs fn on a reader, then done. */
static void lookup(struct http_conn_state *st, const unsigned char hash[32], size_t job_size,
		   store_read_fn fn, store_done_fn done)
{
	struct token_entry *e = token_cached(st->srv, hash);
	struct cred_job *j; /* the first member of the job */

	if (e && e->expires > mono_ms()) {
		st->req.who = e->who;
		run_handler(st);
		return;
	}
	j = xcalloc(1, job_size);
	j->st = st;
	j->forgets = st->srv->forgets;
	memcpy(j->hash, hash, 32);
	if (store_submit_read(st->srv->store, fn, done, j) != 0) {
		free(j);
		http_reply_kwerr(&st->req, KW_ESHUTDOWN);
		return;
	}
	st->suspended = true;
	MHD_suspend_connection(st->conn);
}

/* Resolves the Bearer token or the session cookie (from the cache, or
 * asynchronously from the store), then runs the handler.  A Bearer token
 * wins when both are sent. */
static void authenticate(struct http_conn_state *st)
{
	const char *h = http_header(&st->req, MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char hash[32];

	if (st->route->access == ACCESS_PUBLIC ||
	    ((!h || strncasecmp(h, "Bearer ", 7) != 0) && !session_cookie(st, hash))) {
		run_handler(st);
		return;
	}
	if (st->via_session) {
		lookup(st, hash, sizeof(struct session_job), session_read, session_done);
		return;
	}
	h += 7;
	crypto_hash_sha256(hash, (const unsigned char *)h, strlen(h));
	lookup(st, hash, sizeof(struct token_job), token_read, token_done);
}

/* --- MHD callbacks ---------------------------------------------------------- */

static bool content_length_too_big(struct http_conn_state *st)
{
	const char *cl = http_header(&st->req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;
	if (!cl)
		return false;
	n = strtoull(cl, &end, 10);
	return n > (unsigned long long)st->srv->cfg->http_max_body_bytes;
}

static struct http_conn_state *new_state(struct http_server *s, struct MHD_Connection *conn,
					 const char *url, const char *method, const char *version)
{
	struct http_conn_state *st = xcalloc(1, sizeof(*st));
	int status = 0;

	st->srv = s;
	st->conn = conn;
	st->req.srv = s;
	st->req.store = s->store;
	st->req.cfg = s->cfg;
	st->req.method = method;
	st->req.path = url;
	st->req.version = version;
	st->req.priv = st;
	st->body.limit = (size_t)s->cfg->http_max_body_bytes;
	st->start_ms = mono_ms();
	st->route =
	    router_match(method, url, st->req.params, st->params, sizeof(st->params), &status);
	st->route_idx = st->route ? (size_t)(st->route - routes) : nroutes;
	if (!st->route)
		http_reply_error(
		    &st->req, status, status == 404 ? "not_found" : "method_not_allowed", NULL, 0,
		    "%s %s", status == 404 ? "no such endpoint:" : "method not allowed:", url);
	else if (content_length_too_big(st))
		http_reply_error(&st->req, 413, "too_large", NULL, 0,
				 "request body larger than http.max_body_bytes (%lld bytes)",
				 (long long)s->cfg->http_max_body_bytes);
	return st;
}

static enum MHD_Result queue_answer(struct http_conn_state *st)
{
	enum MHD_Result rc = MHD_queue_response(st->conn, st->status, st->resp);
	MHD_destroy_response(st->resp);
	st->resp = NULL;
	return rc;
}

/*
 * Takes one chunk of body.  Past http.max_body_bytes (or any body on a route
 * that takes none) the request is answered 413, and the rest of the body is
 * read and dropped: libmicrohttpd 0.9.75 sends an answer only once the
 * upload is complete.  Dropping is bounded by http.request_timeout, after
 * which the connection is closed (returns false).
 */
static bool take_body(struct http_conn_state *st, const char *data, size_t n)
{
	if (mono_ms() - st->start_ms > (uint64_t)st->srv->cfg->http_request_timeout_s * 1000) {
		log_debug("http", "closing %s %s: body not complete within http.request_timeout",
			  st->req.method, st->req.path);
		return false;
	}
	if (st->phase == ANSWERED)
		return true; /* already refused: drop the rest */
	if (st->route->body == BODY_NONE || kwbuf_add(&st->body, data, n) != 0) {
		http_reply_error(&st->req, 413, "too_large", NULL, 0,
				 st->route->body == BODY_NONE
				     ? "this endpoint takes no request body"
				     : "request body larger than http.max_body_bytes (%lld bytes)",
				 (long long)st->srv->cfg->http_max_body_bytes);
		kwbuf_release(&st->body);
	}
	return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_conn_state *st = *con_cls;

	if (!st) {
		*con_cls = st = new_state(s, conn, url, method, version);
		s->active++;
		/* Refused before the body: answer now, MHD then skips the body
		 * and closes the connection instead of reading it all. */
		return st->resp ? queue_answer(st) : MHD_YES;
	}
	if (*upload_data_size) {
		bool ok = take_body(st, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (st->phase == RECEIVING) {
		st->req.body = st->body.data ? st->body.data : (char *)"";
		st->req.body_len = st->body.len;
		authenticate(st);
	}
	if (st->phase == ANSWERED && st->resp)
		return queue_answer(st);
	return MHD_YES; /* suspended: resumed by finish() */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_conn_state *st = *con_cls;

	if (!st)
		return;
	if (st->status > 0 && st->status < MAX_STATUS)
		s->requests[st->route_idx * MAX_STATUS + st->status]++;
	if (st->resp)
		MHD_destroy_response(st->resp);
	if (st->req.ctx_free)
		st->req.ctx_free(st->req.ctx);
	for (int i = 0; i < 2 * MAX_HEADERS; i++)
		free(st->hdr[i]);
	kwbuf_release(&st->body);
	free(st);
	*con_cls = NULL;
	s->active--;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("http", "%s", msg);
}

/* --- start and stop -------------------------------------------------------------- */

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
			  char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	size_t hl = (size_t)(colon - listen);
	int rc;

	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		snprintf(err, errlen, "cannot resolve listen address '%s': %s", listen,
			 gai_strerror(rc));
		return KW_ECONFIG;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int http_server_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		      struct http_server **out, int *port_out, char *err, size_t errlen)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	size_t mem = (size_t)cfg->http_max_header_bytes + 16384;

	*out = NULL;
	if (resolve_listen(cfg->http_listen, &ss, &sl, err, errlen) != 0) {
		free(s);
		return KW_ECONFIG;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->loop = loop;
	s->cfg = cfg;
	s->store = store;
	s->requests = xcalloc((nroutes + 1) * MAX_STATUS, sizeof(uint64_t));
	s->throttle = throttle_new(cfg->auth_login_window_s * 1000);
	s->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_per_ip_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_idle_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
	    MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen,
			 "cannot listen on '%s': address in use, not local, or not "
			 "permitted",
			 cfg->http_listen);
		free(s->requests);
		throttle_free(s->throttle);
		free(s);
		return KW_ECONFIG;
	}
	s->hub = ws_hub_new(loop, store);
	api_chat_init(s->hub, store);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	uv_poll_init(loop, &s->poll, info->epoll_fd);
	s->poll.data = s;
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_init(loop, &s->drain);
	s->drain.data = s;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	*port_out = info ? info->port : 0;
	run_mhd(s);
	*out = s;
	return 0;
}

/* One of the server's handles (or the hub) is closed; the last frees it. */
static void closed_one(struct http_server *s)
{
	if (--s->handles_open > 0)
		return;
	void (*cb)(void *) = s->close_cb;
	void *ud = s->close_ud;
	throttle_free(s->throttle);
	hmap_release(&s->tokens);
	free(s->tok);
	free(s->requests);
	free(s);
	if (cb)
		cb(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void on_hub_closed(void *ud)
{
	closed_one(ud);
}

static void on_drain(uv_timer_t *t)
{
	struct http_server *s = t->data;
	size_t sockets = ws_hub_count(s->hub);

	if ((s->active > 0 || sockets > 0) && mono_ms() < s->drain_deadline)
		return;
	if (s->active > 0)
		log_warn("http", "closing with %u requests still in flight (%zu WebSockets open)",
			 s->active, sockets);
	uv_timer_stop(&s->drain);
	s->handles_open = 4;
	ws_hub_close(s->hub, on_hub_closed, s); /* invariant 5: before MHD stops */
	s->hub = NULL;
	if (s->upgraded)
		log_error("http", "%u upgraded connections left open by the hub", s->upgraded);
	MHD_run(s->d); /* let MHD clean the connections the hub just closed */
	uv_poll_stop(&s->poll);
	MHD_stop_daemon(s->d);
	s->d = NULL;
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->drain, on_handle_closed);
}

void http_server_close(struct http_server *s, uint64_t drain_ms, void (*cb)(void *ud), void *ud)
{
	MHD_socket fd;

	s->close_cb = cb;
	s->close_ud = ud;
	s->quiescing = true;
	fd = MHD_quiesce_daemon(s->d); /* 1. stop accepting */
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	ws_hub_shutdown(s->hub);		  /* every WebSocket gets close 1001 */
	s->drain_deadline = mono_ms() + drain_ms; /* 2. let requests in flight finish */
	uv_timer_start(&s->drain, on_drain, 0, 10);
}

static void metrics_line(struct kwbuf *out, size_t r, unsigned status, uint64_t n)
{
	kwbuf_printf(
	    out, "kilowatt_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
	    r < nroutes ? routes[r].pattern : "unmatched", r < nroutes ? routes[r].method : "",
	    status, (unsigned long long)n);
}

void http_server_metrics(const struct http_server *s, struct kwbuf *out)
{
	kwbuf_printf(out, "# HELP kilowatt_http_requests_total HTTP requests answered, by route "
			  "and status.\n# TYPE kilowatt_http_requests_total counter\n");
	for (size_t r = 0; r <= nroutes; r++)
		for (unsigned st = 100; st < MAX_STATUS; st++)
			if (s->requests[r * MAX_STATUS + st])
				metrics_line(out, r, st, s->requests[r * MAX_STATUS + st]);
	kwbuf_printf(out,
		     "# HELP kilowatt_http_requests_in_flight Requests being handled.\n"
		     "# TYPE kilowatt_http_requests_in_flight gauge\n"
		     "kilowatt_http_requests_in_flight %u\n"
		     "# HELP kilowatt_ws_connections Open WebSocket connections (/ws).\n"
		     "# TYPE kilowatt_ws_connections gauge\n"
		     "kilowatt_ws_connections %zu\n",
		     s->active, s->hub ? ws_hub_count(s->hub) : (size_t)0);
	for (size_t i = 0; i < MAX_METRICS; i++)
		if (s->metrics[i].fn)
			s->metrics[i].fn(s->metrics[i].ud, out);
}

void http_server_add_metrics(struct http_server *s, void (*fn)(void *ud, struct kwbuf *out),
			     void *ud)
{
	for (size_t i = 0; i < MAX_METRICS; i++) {
		if (!s->metrics[i].fn) {
			s->metrics[i].fn = fn;
			s->metrics[i].ud = ud;
			return;
		}
	}
	log_error("http", "more than %d metrics sources", MAX_METRICS);
}

void http_server_remove_metrics(struct http_server *s, void *ud)
{
	for (size_t i = 0; i < MAX_METRICS; i++)
		if (s->metrics[i].ud == ud)
			s->metrics[i].fn = NULL;
}
