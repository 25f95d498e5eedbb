/*
 * http.h - what an endpoint sees: the request, and how to answer it.
 *
 * Handlers (api_*.c) run on the loop thread.  A handler either answers at
 * once (http_reply_*) or starts asynchronous work (a store job) and answers
 * from its completion, also on the loop thread; the connection is suspended
 * meanwhile.  Every request is answered exactly once.
 *
 * The request and everything it points to is owned by the server and valid
 * until the answer has been sent; r->ctx, set by the handler, is freed with
 * r->ctx_free at that point.
 */
#ifndef KW_HTTP_HTTP_H
#define KW_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct store;
struct config;
struct ws_hub;

/* Who a request acts for: a Bearer token, or a user's session cookie. */
enum principal_kind {
	PRINCIPAL_NONE,
	PRINCIPAL_ADMIN,  /* token with scope admin */
	PRINCIPAL_INGEST, /* token with scope ingest */
	PRINCIPAL_DEVICE, /* token with scope device:ID */
	PRINCIPAL_ADMIN_USER,
	PRINCIPAL_CLIENT
};
struct principal {
	enum principal_kind kind;
	int64_t token_id;   /* tokens */
	int64_t device;	    /* PRINCIPAL_DEVICE: the one device it may write */
	int64_t user_id;    /* users */
	int64_t session_id; /* users */
	int64_t expires_at; /* users: the session's absolute expiry, epoch ms */
	char csrf[48];	    /* users: the session's CSRF token */
	char name[128];	    /* the token's or user's name, for the audit log */
};

#define HTTP_MAX_PARAMS 4

struct http_req {
	struct http_server *srv;
	struct store *store;
	const struct config *cfg;
	const char *method;
	const char *path;
	const char *version;		     /* "HTTP/1.1" */
	const char *params[HTTP_MAX_PARAMS]; /* {captures} of the route, in order */
	char *body; /* NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
	struct principal who;
	void *ctx; /* the handler's, freed with ctx_free after the answer */
	void (*ctx_free)(void *ctx);
	/* Server-private from here. */
	struct http_conn_state *priv;
};

/* A query string argument, or NULL. */
const char *http_query(struct http_req *r, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *http_header(struct http_req *r, const char *name);

/* Answers with a JSON document (steals body). */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* Answers with no body (204, or an empty 2xx). */
void http_reply_empty(struct http_req *r, int status);
/* Answers with bytes (steals body, which must come from malloc). */
void http_reply_bytes(struct http_req *r, int status, const char *content_type, char *body,
		      size_t len);
/* Answers with bytes that outlive the request (static data; not copied). */
void http_reply_static(struct http_req *r, int status, const char *content_type, const void *body,
		       size_t len);
/*
 * Answers an error as {"error": {"code", "message", "field"?, "line"?}}.
 * field may be NULL, line 0 when not applicable.
 */
void http_reply_error(struct http_req *r, int status, const char *code, const char *field, int line,
		      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Maps a store/kw error code to an error answer. */
void http_reply_kwerr(struct http_req *r, int err);

/* Marks the request as answered later (after asynchronous work). */
void http_suspend(struct http_req *r);

/* Adds a header to the answer still to come (at most 6; copied). */
void http_add_header(struct http_req *r, const char *name, const char *value);

/* The loop the server runs on (for uv_queue_work). */
struct uv_loop_s *http_loop(struct http_req *r);

/* The peer's address as text ("127.0.0.1"), for throttling. */
const char *http_peer(struct http_req *r);

/* Forgets cached sessions of a user (after logout, a password change,
 * disabling or deleting it), so the next request asks the store. */
void http_forget_user(struct http_server *s, int64_t user_id);

/* Forgets a cached token (after it is revoked). */
void http_forget_token(struct http_server *s, int64_t token_id);

/* Whether the request came with a session cookie (not a token). */
bool http_via_session(const struct http_req *r);

/* The server's failed-login counters (auth/throttle.h). */
struct throttle *http_throttle(struct http_req *r);

/* Whether the Origin header is absent or this server's own. */
bool http_origin_allowed(struct http_req *r);

/* Whether the Origin header is present and this server's own. */
bool http_same_origin(struct http_req *r);

/* --- protocol upgrade (WebSocket: api_ws.c, ws.c) ---------------------------- */

/* An upgraded connection: after the 101 answer the socket is its owner's. */
struct http_upgrade;

/*
 * Runs [loop] once the 101 answer has been handed to the kernel.  fd is the
 * connection's socket (non-blocking; never close() it: http_upgrade_close());
 * extra holds the bytes already read past the request (valid during the
 * call only); ctx is the request's r->ctx, owned by fn from here (ctx_free is
 * not called for it).
 */
typedef void (*http_upgrade_fn)(void *ctx, struct http_upgrade *u, int fd, const char *extra,
				size_t extra_len);

/*
 * Answers 101 Switching Protocols with the headers given by
 * http_add_header() (the handler adds Upgrade and the protocol's own), then
 * calls fn.  When the connection fails before the answer is sent, fn never
 * runs and r->ctx is freed with ctx_free as for any request.  The upgraded
 * connection keeps counting toward http.max_connections and
 * http.per_ip_connections until it is closed.
 */
void http_reply_upgrade(struct http_req *r, http_upgrade_fn fn);

/* Closes an upgraded connection's socket (through libmicrohttpd, which
 * owns it) and frees u.  Stop watching the fd first.  Never re-enters
 * libmicrohttpd: its clean-up runs from the loop right after. */
void http_upgrade_close(struct http_upgrade *u);

/* The server's WebSocket hub (ws.h). */
struct ws_hub *http_hub(struct http_server *s);

#endif
