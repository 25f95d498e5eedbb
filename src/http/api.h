/*
 * api.h - helpers the api_*.c endpoint files share.  Loop thread only.
 */
#ifndef KW_HTTP_API_H
#define KW_HTTP_API_H

#include <jansson.h>

#include "http/http.h"
#include "store/store.h"

/* The public JSON form of a device. */
json_t *api_device_json(const struct store_device *d);

/*
 * The device named by path parameter 0 (UUID or serial), as a copy the
 * caller frees; answers 404 and returns NULL when there is none.
 */
struct store_device *api_device_param(struct http_req *r);

/* The public JSON form of a user (never a password or session). */
json_t *api_user_json(const struct store_user *u);

/*
 * Calls then(r, d) -- now, or from a store completion -- when the caller may
 * see device d: admins and tokens always, a client when d is mapped to it;
 * otherwise answers 404 exactly as for a device that does not exist.  Takes
 * ownership of d (then frees it).
 */
void api_device_visible(struct http_req *r, struct store_device *d,
			void (*then)(struct http_req *r, struct store_device *d));

/* An object's audit text: sorted, compact JSON; takes j; free the result. */
char *api_audit_text(json_t *j);

/*
 * [writer, inside a write job] Records an admin action by the request's
 * caller (a user or a token) on an object; before/after are JSON texts
 * without secrets, or NULL.
 */
int api_audit(struct store_conn *c, const struct http_req *r, const char *action,
	      const char *object_type, const char *object_id, const char *before,
	      const char *after);

/* Submits a store job for the request and suspends it, or answers the
 * submission's error (full queue, shutting down).  From a handler or from a
 * completion of the same request. */
void api_read(struct http_req *r, store_read_fn fn, store_done_fn done, void *ud);
void api_write(struct http_req *r, store_write_fn fn, store_done_fn done, void *ud);

/* Parses the request body as a JSON object; answers 400 and returns NULL
 * when it is not one. */
json_t *api_body_object(struct http_req *r);

/* A strictly positive decimal integer up to max (an id, a cursor): true
 * with *out, else false. */
bool api_parse_pos(const char *s, int64_t max, int64_t *out);

/* ?limit= into *out: def when absent, else 1..max; answers 400 naming
 * "limit" and returns false when bad. */
bool api_query_limit(struct http_req *r, size_t def, int64_t max, size_t *out);

#endif
