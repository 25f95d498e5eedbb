/*
 * ws.h - the WebSocket hub: every open /ws socket, and how the rest of the
 * daemon pushes live events to the people behind them.
 *
 * An event is a JSON object {"type": "...", ...}; the hub adds "seq" (a
 * counter shared by all sockets, see docs/API.md) and sends it as one text
 * frame.  Sockets of clients see only events of the devices mapped to their
 * user; admin sockets see every device.  New readings reach the hub by the
 * store's commit hook and are coalesced (one event per device every 250 ms).
 *
 * Thread-safety: loop thread only, every function.  Other threads reach the
 * hub through a completion on the loop thread (store jobs, uv_async_t).
 * The publishing and closing functions below accept a NULL hub (the server
 * has stopped) and do nothing then.
 */
#ifndef KW_HTTP_WS_H
#define KW_HTTP_WS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ws_hub;
struct store;
struct http_upgrade;

/* Who a socket belongs to, from the session that opened it. */
struct ws_peer {
	int64_t user_id;
	int64_t session_id;
	int64_t expires_at; /* the session's absolute expiry, epoch ms; 0: none */
};

/* A hub with no socket.  Never fails. */
struct ws_hub *ws_hub_new(uv_loop_t *loop, struct store *store);

/* Whether new sockets are taken (false once ws_hub_shutdown ran). */
bool ws_hub_accepting(const struct ws_hub *hub);

/*
 * Takes an upgraded connection (http.h): fd, and extra (copied) the bytes
 * the HTTP server read past the request.  The hub owns u from here and
 * closes it through http_upgrade_close().  The socket's user and device set
 * are read by a reader job; "hello" is sent once they are known.
 */
void ws_hub_attach(struct ws_hub *hub, struct http_upgrade *u, int fd, const char *extra,
		   size_t extra_len, const struct ws_peer *peer);

/* Sends close 1001 "going away" to every socket and refuses new ones; the
 * sockets close as their peers answer (or after a few seconds). */
void ws_hub_shutdown(struct ws_hub *hub);

/*
 * Closes every socket still open at once (no close handshake), then frees
 * the hub when its handles are closed and its store jobs are back; then
 * cb(ud).  Call before the HTTP daemon stops: closing an upgraded
 * connection needs it.
 */
void ws_hub_close(struct ws_hub *hub, void (*cb)(void *ud), void *ud);

/* Open sockets (for /metrics). */
size_t ws_hub_count(const struct ws_hub *hub);

/*
 * Publishing.  Each takes event (a JSON object with "type"; stolen, i.e.
 * decref'd by the hub), sets its "seq" and queues it on the matching open
 * sockets: every socket of user_id (all tabs); every admin socket and every
 * client socket whose user may see device_id (store_device.id); every admin
 * socket.  A socket that has not said hello yet gets nothing: its browser
 * fetches the state after hello.  A socket whose outgoing queue passes its
 * limit is closed (1008) instead.
 */
size_t ws_publish_user(struct ws_hub *hub, int64_t user_id, json_t *event);
void ws_publish_device(struct ws_hub *hub, int64_t device_id, json_t *event);
size_t ws_publish_admins(struct ws_hub *hub, json_t *event);
/* ws_publish_user and ws_publish_admins answer how many sockets the event
 * was queued on (0: none of them open). */

/* Sends event (stolen; "seq" set) to one socket, by the id a handler got
 * in ws_from.socket; false (event dropped) when that socket is gone. */
bool ws_send_socket(struct ws_hub *hub, uint64_t socket, json_t *event);

/*
 * Incoming messages.  A client's text frame is a JSON object with "type";
 * {"type":"ping"} is answered {"type":"pong"} by the hub itself.  Any
 * other type that starts with a registered prefix goes to that handler:
 * fn(ud, hub, from, type, msg) runs on the loop thread after the frame was
 * read (never inside wslay), for OPEN sockets only; msg is borrowed for
 * the call.  Other messages are ignored.  The frame limit (WS_MSG_MAX)
 * still applies, and at most WS_INBOX_MAX messages of one read are
 * dispatched (the rest are dropped).  release(ud), if set, runs when the
 * hub is freed.  At most WS_HANDLERS_MAX handlers; prefix is copied.
 */
struct ws_from {
	int64_t user_id;
	bool admin;
	uint64_t socket; /* for ws_send_socket() */
};
typedef void (*ws_handler_fn)(void *ud, struct ws_hub *hub, const struct ws_from *from,
			      const char *type, json_t *msg);
#define WS_HANDLERS_MAX 4
#define WS_INBOX_MAX	64
void ws_hub_on(struct ws_hub *hub, const char *prefix, ws_handler_fn fn, void (*release)(void *ud),
	       void *ud);

/* The user's role or mappings changed: re-read them for its sockets. */
void ws_user_changed(struct ws_hub *hub, int64_t user_id);

/* Closes (1008, policy) the sockets of a session that ended (logout), or
 * of a user disabled, deleted or whose password changed. */
void ws_close_session(struct ws_hub *hub, int64_t session_id);
void ws_close_user(struct ws_hub *hub, int64_t user_id);

#endif
