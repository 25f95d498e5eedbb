/*
 * server.h - the HTTP server: libmicrohttpd driven from the libuv loop.
 *
 * Thread-safety: loop thread only.
 */
#ifndef KW_HTTP_SERVER_H
#define KW_HTTP_SERVER_H

#include <stdint.h>
#include <uv.h>

struct http_server;
struct store;
struct config;

/*
 * Starts listening on cfg->http_listen.  Returns 0 or a negative error with
 * err naming the address and cause.  *port_out gets the bound port (useful
 * with port 0).
 */
int http_server_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		      struct http_server **out, int *port_out, char *err, size_t errlen);

/*
 * Graceful stop: stops accepting, sends every WebSocket close 1001, lets the
 * requests in flight and the WebSockets finish (at most drain_ms), closes
 * every connection and frees the server and its WebSocket hub; then cb.
 */
void http_server_close(struct http_server *s, uint64_t drain_ms, void (*cb)(void *ud), void *ud);

/* Appends the server's Prometheus metrics to a buffer (see api_health.c),
 * then those of every source added with http_server_add_metrics(). */
struct kwbuf;
void http_server_metrics(const struct http_server *s, struct kwbuf *out);

/* Adds fn(ud, out) to /metrics (an input's counters, say); at most 8.
 * http_server_remove_metrics() takes it off again. */
void http_server_add_metrics(struct http_server *s, void (*fn)(void *ud, struct kwbuf *out),
			     void *ud);
void http_server_remove_metrics(struct http_server *s, void *ud);

#endif
