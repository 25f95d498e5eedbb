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

/* Who a request acts for (from its Bearer token). */
enum principal_kind { PRINCIPAL_NONE, PRINCIPAL_ADMIN, PRINCIPAL_INGEST, PRINCIPAL_DEVICE };
struct principal {
	enum principal_kind kind;
	int64_t token_id;
	int64_t device; /* PRINCIPAL_DEVICE: the one device it may write */
};

#define HTTP_MAX_PARAMS 4

struct http_req {
	struct http_server *srv;
	struct store *store;
	const struct config *cfg;
	const char *method;
	const char *path;
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

#endif
