/*
 * ws.c - the WebSocket hub: the sockets upgraded from GET /ws (api_ws.c),
 * spoken with wslay on the loop thread, and the live events pushed to them.
 * The only includer of <wslay/wslay.h>.
 *
 * Design: each socket is a wslay event context over the connection's fd,
 * watched by its own uv_poll_t (libmicrohttpd has stopped watching it after
 * the 101).  wslay's callbacks only read, write and queue; the poll callback
 * and the hub's entry points run wslay_event_recv/send and then re-arm the
 * poll from wslay_event_want_read/want_write.  Events are serialized once
 * and the same text is queued on every recipient.
 *
 * New readings arrive by the store's commit hook, which the hub sets only
 * while a socket exists (so ingest does no extra work otherwise): the hook
 * marks devices dirty with their newest timestamp, and a one-shot 250 ms
 * timer, armed only while something is dirty, flushes one "reading" event
 * per visible dirty device to each socket (or one "many" event past
 * WS_MANY).  A 1 s tick, running while a socket exists, sends pings, ends
 * silent or expired sockets and gives up on peers that do not answer a close.
 *
 * The limits below are constants rather than settings: they are what
 * docs/API.md promises browsers, and no deployment needs them different.
 *
 * Socket states:
 *
 *   LOADING --user and mappings read: "hello"--> OPEN
 *      |                                          |
 *      |   ws_close_*, limits, timeout, shutdown  |  (close frame queued, or
 *      +-----------------> CLOSING <--------------+   the peer's close received)
 *      |                      | both close frames done, or WS_CLOSE_WAIT_MS
 *      v                      v
 *     DEAD <------ I/O error, peer gone, ws_hub_close() -- from any state
 *   (unlinked; connection closed; freed once its poll handle is closed and
 *    no reader job refers to it)
 *
 * Invariants:
 *  1. "hello" is the first text frame of every socket: only OPEN sockets
 *     get events, and a LOADING socket is not read from (a ping sent
 *     before hello is answered after it).
 *  2. A socket's queued outgoing bytes stay under WS_QUEUE_MAX: an event
 *     that would pass it closes the socket (1008) instead.  An incoming
 *     message is at most WS_MSG_MAX bytes (wslay closes with 1009).
 *  3. A socket is freed only when its poll handle is closed and its load
 *     job (at most one) has come back.
 *  4. The commit hook is set exactly while the list holds a socket.
 *  5. The hub is freed only after every socket is freed and its timers are
 *     closed, so no callback of it can run afterwards.
 *  6. wslay is never re-entered: its callbacks queue, they never send.
 *     Incoming messages for a registered handler (ws_hub_on) are kept in
 *     the socket's inbox and dispatched after wslay_event_recv returned.
 *
 * Thread-safety: loop thread only.  The load job's read runs on a store
 * reader and touches only the job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "core/err.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/http.h"
#include "http/ws.h"
#include "store/store.h"
#include "core/banned.h"

#define WS_MSG_MAX	 (64 * 1024)   /* bytes of one incoming message */
#define WS_QUEUE_MAX	 (1024 * 1024) /* bytes queued for one socket */
#define WS_PER_USER	 16	       /* sockets per user; a 17th closes the oldest */
#define WS_PING_MS	 30000	       /* a ping this often */
#define WS_SILENT_MS	 75000	       /* no byte from the peer for this long: close */
#define WS_CLOSE_WAIT_MS 3000	       /* wait for the peer's close frame at most this */
#define WS_FLUSH_MS	 250	       /* reading events are coalesced over this */
#define WS_TICK_MS	 1000
#define WS_MANY		 200 /* more visible dirty devices: one "many" event */

enum ws_state { WS_LOADING, WS_OPEN, WS_CLOSING, WS_DEAD };

struct ws_sock {
	struct ws_hub *hub;
	struct ws_sock *prev, *next; /* hub's list, oldest first; not DEAD ones */
	enum ws_state state;
	uv_poll_t poll;
	int watching; /* UV_READABLE | UV_WRITABLE the poll has now */
	bool poll_open;
	int fd;
	struct http_upgrade *up; /* NULL once closed */
	wslay_event_context_ptr ctx;
	struct ws_peer peer;
	bool admin;
	struct hmap devices; /* clients: ids of the devices the user may see */
	bool loading;	     /* a load job refers to this socket */
	bool reload;	     /* the user changed while it was out: read again */
	bool draining;	     /* our close is sent after an error: dropping input */
	char *extra;	     /* bytes the HTTP server read past the request */
	size_t extra_len, extra_off;
	uint64_t last_rx;   /* loop ms of the last byte from the peer */
	uint64_t last_ping; /* loop ms of the last ping sent */
	uint64_t deadline;  /* CLOSING: when to stop waiting for the peer */
	uint64_t id;	    /* unique in the hub, for ws_send_socket() */
	json_t *inbox;	    /* messages for handlers, read but not dispatched yet */
};

struct ws_handler {
	char prefix[32];
	ws_handler_fn fn;
	void (*release)(void *ud);
	void *ud;
};

struct ws_hub {
	uv_loop_t *loop;
	struct store *store;
	struct ws_sock *head, *tail;
	size_t nsocks; /* in the list */
	size_t nalive; /* allocated, DEAD ones waiting to be freed included */
	uint64_t seq;  /* of the last event published */
	bool accepting;
	bool closing;
	struct hmap dirty; /* device id -> newest reading (epoch ms) since the last flush */
	uv_timer_t flush;
	uv_timer_t tick;
	int timers_open;
	void (*close_cb)(void *ud);
	void *close_ud;
	uint64_t last_sock_id;
	struct ws_handler handlers[WS_HANDLERS_MAX];
	size_t nhandlers;
};

static void sock_io(struct ws_sock *s);
static void sock_load(struct ws_sock *s);

/* --- freeing -------------------------------------------------------------------- */

static void hub_maybe_free(struct ws_hub *hub)
{
	void (*cb)(void *);
	void *ud;

	if (!hub->closing || hub->timers_open > 0 || hub->nalive > 0)
		return;
	cb = hub->close_cb;
	ud = hub->close_ud;
	hmap_release(&hub->dirty);
	for (size_t i = 0; i < hub->nhandlers; i++)
		if (hub->handlers[i].release)
			hub->handlers[i].release(hub->handlers[i].ud);
	free(hub);
	if (cb)
		cb(ud);
}

static void sock_maybe_free(struct ws_sock *s)
{
	struct ws_hub *hub = s->hub;

	if (s->state != WS_DEAD || s->poll_open || s->loading)
		return;
	wslay_event_context_free(s->ctx);
	hmap_release(&s->devices);
	json_decref(s->inbox);
	free(s->extra);
	free(s);
	hub->nalive--;
	hub_maybe_free(hub);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct ws_sock *s = h->data;
	s->poll_open = false;
	sock_maybe_free(s);
}

/* The last socket left: nobody listens, so ingest need not report. */
static void hub_idle(struct ws_hub *hub)
{
	store_set_commit_hook(hub->store, NULL, NULL);
	hmap_clear(&hub->dirty);
	uv_timer_stop(&hub->flush);
	uv_timer_stop(&hub->tick);
}

/* Ends a socket now: no more I/O, the connection is closed. */
static void sock_kill(struct ws_sock *s)
{
	struct ws_hub *hub = s->hub;

	if (s->state == WS_DEAD)
		return;
	s->state = WS_DEAD;
	if (s->prev)
		s->prev->next = s->next;
	else
		hub->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		hub->tail = s->prev;
	s->prev = s->next = NULL;
	if (--hub->nsocks == 0)
		hub_idle(hub);
	uv_close((uv_handle_t *)&s->poll, on_poll_closed); /* stops watching fd at once */
	http_upgrade_close(s->up);			   /* then the fd may go */
	s->up = NULL;
}

/* Queues a close frame (only queues: see invariant 6). */
static void sock_close(struct ws_sock *s, uint16_t code, const char *reason)
{
	if (s->state >= WS_CLOSING)
		return;
	log_debug("ws", "closing WebSocket of user %lld: %u %s", (long long)s->peer.user_id, code,
		  reason);
	/* Fails only when a close is queued already (by wslay): that one goes. */
	wslay_event_queue_close(s->ctx, code, (const uint8_t *)reason, strlen(reason));
	s->state = WS_CLOSING;
	s->deadline = uv_now(s->hub->loop) + WS_CLOSE_WAIT_MS;
}

/* --- wslay callbacks -------------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
	struct ws_sock *s = ud;
	ssize_t n;

	if (s->extra_off < s->extra_len) {
		size_t k = s->extra_len - s->extra_off < len ? s->extra_len - s->extra_off : len;
		memcpy(buf, s->extra + s->extra_off, k);
		s->extra_off += k;
		return (ssize_t)k;
	}
	n = recv(s->fd, buf, len, MSG_DONTWAIT);
	if (n > 0) {
		s->last_rx = uv_now(s->hub->loop);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE); /* EOF or error */
	return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
		       void *ud)
{
	struct ws_sock *s = ud;
	int f = MSG_DONTWAIT | MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
	ssize_t n = send(s->fd, data, len, f);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* Queues a text frame on an OPEN socket, or closes it past its queue limit
 * (invariant 2).  Only queues. */
static void sock_queue(struct ws_sock *s, const char *text, size_t len)
{
	struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)text, len };
	int rc;

	if (s->state != WS_OPEN)
		return;
	if (wslay_event_get_queued_msg_length(s->ctx) + len > WS_QUEUE_MAX) {
		sock_close(s, WSLAY_CODE_POLICY_VIOLATION, "too slow: outgoing queue full");
		return;
	}
	rc = wslay_event_queue_msg(s->ctx, &m);
	if (rc == WSLAY_ERR_NO_MORE_MSG)
		sock_close(s, WSLAY_CODE_NORMAL_CLOSURE, ""); /* closing already */
	else if (rc != 0)
		sock_close(s, WSLAY_CODE_INTERNAL_SERVER_ERROR, "internal error");
}

static const struct ws_handler *handler_for(const struct ws_hub *hub, const char *type)
{
	for (size_t i = 0; i < hub->nhandlers; i++)
		if (strncmp(type, hub->handlers[i].prefix, strlen(hub->handlers[i].prefix)) == 0)
			return &hub->handlers[i];
	return NULL;
}

/* A client's message: small JSON; {"type":"ping"} is answered here, a type
 * with a handler goes to the inbox (invariant 6), the rest is ignored. */
static void on_text(struct ws_sock *s, const uint8_t *msg, size_t len)
{
	json_t *o = json_loadb((const char *)msg, len, JSON_REJECT_DUPLICATES, NULL);
	const char *type = json_string_value(json_object_get(o, "type"));
	static const char pong[] = "{\"type\":\"pong\"}";

	if (type && strcmp(type, "ping") == 0) {
		sock_queue(s, pong, sizeof(pong) - 1);
	} else if (type && s->state == WS_OPEN && handler_for(s->hub, type)) {
		if (!s->inbox)
			s->inbox = json_array();
		if (json_array_size(s->inbox) < WS_INBOX_MAX)
			json_array_append(s->inbox, o);
	}
	json_decref(o);
}

/* Hands the inbox to the handlers, outside wslay (invariant 6). */
static void sock_dispatch(struct ws_sock *s)
{
	json_t *inbox = s->inbox, *o;
	size_t i;

	s->inbox = NULL;
	json_array_foreach (inbox, i, o) {
		const char *type = json_string_value(json_object_get(o, "type"));
		const struct ws_handler *h;
		struct ws_from from = { s->peer.user_id, s->admin, s->id };

		if (s->state != WS_OPEN)
			break;
		if (type && (h = handler_for(s->hub, type)) != NULL)
			h->fn(h->ud, s->hub, &from, type, o);
	}
	json_decref(inbox);
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
		   void *ud)
{
	struct ws_sock *s = ud;

	if (arg->opcode == WSLAY_TEXT_FRAME)
		on_text(s, arg->msg, arg->msg_length);
	else if (arg->opcode == WSLAY_BINARY_FRAME)
		sock_close(s, WSLAY_CODE_UNSUPPORTED_DATA, "only text frames are accepted");
	/* ping, pong and close: wslay answers them itself */
}

static const struct wslay_event_callbacks callbacks = {
	.recv_callback = on_recv,
	.send_callback = on_send,
	.on_msg_recv_callback = on_msg,
};

/* --- driving a socket -------------------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events);

/*
 * Watches the fd for what wslay wants, and ends the socket when it wants
 * nothing more.  After both close frames that is at once.  When wslay
 * stopped reading on the peer's error (a message past WS_MSG_MAX: 1009; a
 * protocol error: 1002) and has sent its close, the peer may still be
 * sending: closing now could answer its bytes with a reset that destroys
 * our close frame before it is read.  So we half-close and drop its input
 * until it closes too, or the close deadline passes.
 */
static void sock_watch(struct ws_sock *s)
{
	bool r = wslay_event_want_read(s->ctx), w = wslay_event_want_write(s->ctx);
	int ev;

	if (!r && !w && !s->draining) {
		if (wslay_event_get_close_received(s->ctx)) {
			sock_kill(s);
			return;
		}
		s->draining = true;
		shutdown(s->fd, SHUT_WR); /* MHD allows shutdown(), not close() */
		if (s->state < WS_CLOSING) {
			s->state = WS_CLOSING;
			s->deadline = uv_now(s->hub->loop) + WS_CLOSE_WAIT_MS;
		}
	}
	if (s->draining)
		r = true;
	ev = (r && s->state != WS_LOADING ? UV_READABLE : 0) | (w ? UV_WRITABLE : 0);
	if (ev == s->watching)
		return;
	s->watching = ev;
	if (ev)
		uv_poll_start(&s->poll, ev, on_poll);
	else
		uv_poll_stop(&s->poll);
}

/* Sends what is queued (as much as the socket takes) and re-arms the poll. */
static void sock_io(struct ws_sock *s)
{
	if (s->state == WS_DEAD)
		return;
	if (wslay_event_want_write(s->ctx) && wslay_event_send(s->ctx) != 0) {
		sock_kill(s);
		return;
	}
	sock_watch(s);
}

static void sock_read(struct ws_sock *s)
{
	if (wslay_event_recv(s->ctx) != 0) {
		sock_kill(s);
		return;
	}
	if (s->inbox)
		sock_dispatch(s);
	/* wslay stopped reading: the peer's close came (it queued the answer),
	 * or a message was too big (it queued 1009). */
	if (s->state == WS_OPEN && !wslay_event_get_read_enabled(s->ctx)) {
		s->state = WS_CLOSING;
		s->deadline = uv_now(s->hub->loop) + WS_CLOSE_WAIT_MS;
	}
	sock_io(s);
}

/* Drops what the peer sends after our close (see sock_watch()); ends the
 * socket at its end of stream. */
static void sock_drain(struct ws_sock *s)
{
	char buf[4096];
	ssize_t n = 0;

	/* At most 64 KiB a wake-up: the poll brings us back for more. */
	for (int i = 0; i < 16 && (n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0; i++)
		;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		sock_kill(s);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct ws_sock *s = p->data;

	if (status < 0) {
		sock_kill(s);
		return;
	}
	if (s->draining) {
		sock_drain(s);
		return;
	}
	if (events & UV_READABLE) {
		sock_read(s);
		return;
	}
	sock_io(s);
}

/* --- loading a socket's user ----------------------------------------------------------- */

struct load_job {
	struct ws_sock *s;
	int64_t user_id;
	struct store_user user;
	bool gone; /* no such user any more */
	struct store_mapping *maps;
	size_t nmaps;
};

static int load_read(struct store_conn *c, void *ud)
{
	struct load_job *j = ud;
	int rc = store_user_get(c, j->user_id, &j->user);

	if (rc == KW_ENOTFOUND) {
		j->gone = true;
		return 0;
	}
	if (rc == 0 && j->user.role != ROLE_ADMIN)
		rc = store_mapping_list(c, j->user_id, 0, &j->maps, &j->nmaps);
	return rc;
}

static void send_hello(struct ws_sock *s)
{
	json_t *o = json_pack("{s:s, s:{s:I, s:s}, s:I}", "type", "hello", "user", "id",
			      (json_int_t)s->peer.user_id, "role", s->admin ? "admin" : "client",
			      "seq", (json_int_t)s->hub->seq);
	char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));

	sock_queue(s, text, strlen(text));
	free(text);
	json_decref(o);
}

static void load_done(void *ud, int rc)
{
	struct load_job *j = ud;
	struct ws_sock *s = j->s;

	s->loading = false;
	if (s->state >= WS_CLOSING) {
		sock_maybe_free(s);
		goto out;
	}
	if (rc) {
		sock_close(s,
			   rc == KW_ESHUTDOWN ? WSLAY_CODE_GOING_AWAY
					      : WSLAY_CODE_INTERNAL_SERVER_ERROR,
			   rc == KW_ESHUTDOWN ? "server shutting down" : "internal error");
	} else if (j->gone || j->user.disabled) {
		sock_close(s, WSLAY_CODE_POLICY_VIOLATION, "user disabled or deleted");
	} else if (s->reload) {
		s->reload = false;
		sock_load(s); /* what was read may be stale */
	} else {
		s->admin = j->user.role == ROLE_ADMIN;
		hmap_clear(&s->devices);
		for (size_t i = 0; i < j->nmaps; i++)
			hmap_put(&s->devices, (uint64_t)j->maps[i].device_id, 1);
		if (s->state == WS_LOADING) {
			s->state = WS_OPEN;
			send_hello(s);
			if (s->extra_len) { /* frames sent before our 101 arrived */
				sock_read(s);
				goto out;
			}
		}
	}
	sock_io(s);
out:
	store_user_release(&j->user);
	free(j->maps);
	free(j);
}

/* Reads the user's role and device set (again, when a job is out already). */
static void sock_load(struct ws_sock *s)
{
	struct load_job *j;

	if (s->loading) {
		s->reload = true;
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->user_id = s->peer.user_id;
	if (store_submit_read(s->hub->store, load_read, load_done, j) != 0) {
		free(j);
		sock_close(s, WSLAY_CODE_GOING_AWAY, "server shutting down");
		return;
	}
	s->loading = true;
}

/* --- readings: the commit hook and the flush ------------------------------------------- */

static void on_flush(uv_timer_t *t);

/* [loop] A batch committed: mark its devices dirty (O(devices)). */
static void on_commit(void *ud, const struct store_commit_device *devs, size_t n)
{
	struct ws_hub *hub = ud;

	for (size_t i = 0; i < n; i++) {
		uint64_t *ts =
		    hmap_upsert(&hub->dirty, (uint64_t)devs[i].device, (uint64_t)devs[i].newest_ts);
		if ((int64_t)*ts < devs[i].newest_ts)
			*ts = (uint64_t)devs[i].newest_ts;
	}
	if (n && !uv_is_active((uv_handle_t *)&hub->flush))
		uv_timer_start(&hub->flush, on_flush, WS_FLUSH_MS, 0);
}

/* One dirty device of a flush; its event text is made when first needed. */
struct dirty_ev {
	int64_t device;
	int64_t ts;
	char *text; /* NULL: not made yet */
	size_t len;
	bool gone; /* deleted meanwhile: nothing to say */
};

struct flush {
	struct ws_hub *hub;
	struct dirty_ev *ev;
	size_t n;
	struct hmap index; /* device id -> index in ev */
	uint64_t seq;
	size_t *pick; /* scratch: the events one socket gets */
	char many[96];
	size_t many_len;
};

static const struct dirty_ev *ev_text(struct flush *f, struct dirty_ev *e)
{
	struct store_device *d;
	char last[TZ_RFC3339_MAX];
	json_t *o;

	if (e->text || e->gone)
		return e;
	if (!(d = store_device_by_id(f->hub->store, e->device))) {
		e->gone = true;
		return e;
	}
	o = json_pack("{s:s, s:I, s:s, s:s?, s:s}", "type", "reading", "seq", (json_int_t)f->seq,
		      "device_id", d->uuid, "serial", d->serial, "last_ts",
		      tz_format_rfc3339(tz_get("UTC"), e->ts, last));
	e->text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	e->len = strlen(e->text);
	json_decref(o);
	store_device_free(d);
	return e;
}

/* The events of one socket: its visible dirty devices, or "many". */
static void flush_sock(struct flush *f, struct ws_sock *s)
{
	size_t k = 0;
	uint64_t key, v;

	if (s->admin) {
		for (size_t i = 0; i < f->n; i++)
			f->pick[k++] = i;
	} else if (s->devices.used < f->n) {
		for (size_t it = 0; hmap_next(&s->devices, &it, &key, &v);)
			if (hmap_get(&f->index, key, &v))
				f->pick[k++] = (size_t)v;
	} else {
		for (size_t i = 0; i < f->n; i++)
			if (hmap_get(&s->devices, (uint64_t)f->ev[i].device, &v))
				f->pick[k++] = i;
	}
	if (k > WS_MANY) {
		sock_queue(s, f->many, f->many_len);
	} else {
		for (size_t i = 0; i < k && s->state == WS_OPEN; i++) {
			const struct dirty_ev *e = ev_text(f, &f->ev[f->pick[i]]);
			if (!e->gone)
				sock_queue(s, e->text, e->len);
		}
	}
	sock_io(s);
}

static void on_flush(uv_timer_t *t)
{
	struct ws_hub *hub = t->data;
	struct flush f = { .hub = hub, .index = HMAP_INIT };
	struct ws_sock *s, *next;
	uint64_t key, v;

	if (hub->dirty.used == 0)
		return;
	f.ev = xcalloc(hub->dirty.used, sizeof(*f.ev));
	f.pick = xcalloc(hub->dirty.used, sizeof(*f.pick));
	for (size_t it = 0; hmap_next(&hub->dirty, &it, &key, &v);) {
		hmap_put(&f.index, key, f.n);
		f.ev[f.n++] = (struct dirty_ev){ .device = (int64_t)key, .ts = (int64_t)v };
	}
	hmap_clear(&hub->dirty);
	f.seq = ++hub->seq;
	snprintf(f.many, sizeof(f.many),
		 "{\"type\":\"reading\",\"seq\":%llu,\"device_id\":null,\"many\":true}",
		 (unsigned long long)f.seq);
	f.many_len = strlen(f.many);
	for (s = hub->head; s; s = next) {
		next = s->next;
		if (s->state == WS_OPEN)
			flush_sock(&f, s);
	}
	for (size_t i = 0; i < f.n; i++)
		free(f.ev[i].text);
	free(f.ev);
	free(f.pick);
	hmap_release(&f.index);
}

/* --- the tick: pings, silent peers, expired sessions, close deadlines ------------------ */

static void on_tick(uv_timer_t *t)
{
	struct ws_hub *hub = t->data;
	uint64_t now = uv_now(hub->loop);
	int64_t wall = tz_now_ms();
	struct ws_sock *s, *next;

	for (s = hub->head; s; s = next) {
		next = s->next;
		if (s->state == WS_CLOSING) {
			if (now >= s->deadline)
				sock_kill(s); /* the peer never answered our close */
			continue;
		}
		if (s->state != WS_OPEN)
			continue;
		if (now - s->last_rx >= WS_SILENT_MS) {
			sock_close(s, WSLAY_CODE_POLICY_VIOLATION, "no answer for 75 s");
		} else if (s->peer.expires_at && wall >= s->peer.expires_at) {
			sock_close(s, WSLAY_CODE_POLICY_VIOLATION, "session expired");
		} else if (now - s->last_ping >= WS_PING_MS) {
			struct wslay_event_msg m = { WSLAY_PING, (const uint8_t *)"", 0 };
			wslay_event_queue_msg(s->ctx, &m);
			s->last_ping = now;
		}
		sock_io(s);
	}
}

/* --- the hub -------------------------------------------------------------------------- */

struct ws_hub *ws_hub_new(uv_loop_t *loop, struct store *store)
{
	struct ws_hub *hub = xcalloc(1, sizeof(*hub));

	hub->loop = loop;
	hub->store = store;
	hub->accepting = true;
	uv_timer_init(loop, &hub->flush);
	hub->flush.data = hub;
	uv_timer_init(loop, &hub->tick);
	hub->tick.data = hub;
	hub->timers_open = 2;
	return hub;
}

bool ws_hub_accepting(const struct ws_hub *hub)
{
	return hub->accepting;
}

size_t ws_hub_count(const struct ws_hub *hub)
{
	return hub->nsocks;
}

/* A user past WS_PER_USER sockets: its oldest one goes (its tab is the
 * likeliest to be forgotten; the new one is what the person looks at). */
static void enforce_per_user(struct ws_hub *hub, int64_t user_id)
{
	struct ws_sock *oldest = NULL;
	size_t n = 0;

	for (struct ws_sock *s = hub->head; s; s = s->next) {
		if (s->peer.user_id != user_id || s->state >= WS_CLOSING)
			continue;
		if (!oldest)
			oldest = s;
		n++;
	}
	if (n > WS_PER_USER) {
		sock_close(oldest, WSLAY_CODE_POLICY_VIOLATION,
			   "too many WebSockets for this user");
		sock_io(oldest);
	}
}

void ws_hub_attach(struct ws_hub *hub, struct http_upgrade *u, int fd, const char *extra,
		   size_t extra_len, const struct ws_peer *peer)
{
	struct ws_sock *s = xcalloc(1, sizeof(*s));
	uint64_t now = uv_now(hub->loop);

	if (wslay_event_context_server_init(&s->ctx, &callbacks, s) != 0)
		abort(); /* out of memory, as xmalloc would */
	wslay_event_config_set_max_recv_msg_length(s->ctx, WS_MSG_MAX);
	if (uv_poll_init_socket(hub->loop, &s->poll, fd) != 0) {
		log_error("ws", "cannot watch an upgraded connection's socket");
		wslay_event_context_free(s->ctx);
		free(s);
		http_upgrade_close(u);
		return;
	}
	s->poll.data = s;
	s->poll_open = true;
	s->hub = hub;
	s->up = u;
	s->fd = fd;
	s->peer = *peer;
	s->id = ++hub->last_sock_id;
	s->last_rx = s->last_ping = now;
	if (extra_len) {
		s->extra = xmalloc(extra_len);
		memcpy(s->extra, extra, extra_len);
		s->extra_len = extra_len;
	}
	s->prev = hub->tail;
	if (hub->tail)
		hub->tail->next = s;
	else
		hub->head = s;
	hub->tail = s;
	hub->nalive++;
	if (hub->nsocks++ == 0) { /* invariant 4 */
		store_set_commit_hook(hub->store, on_commit, hub);
		uv_timer_start(&hub->tick, on_tick, WS_TICK_MS, WS_TICK_MS);
	}
	if (!hub->accepting) {
		sock_close(s, WSLAY_CODE_GOING_AWAY, "server shutting down");
		sock_io(s);
		return;
	}
	enforce_per_user(hub, peer->user_id);
	sock_load(s);
	sock_io(s);
}

void ws_hub_shutdown(struct ws_hub *hub)
{
	struct ws_sock *s, *next;

	hub->accepting = false;
	for (s = hub->head; s; s = next) {
		next = s->next;
		sock_close(s, WSLAY_CODE_GOING_AWAY, "server shutting down");
		sock_io(s);
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	struct ws_hub *hub = h->data;
	hub->timers_open--;
	hub_maybe_free(hub);
}

void ws_hub_close(struct ws_hub *hub, void (*cb)(void *ud), void *ud)
{
	hub->accepting = false;
	hub->closing = true;
	hub->close_cb = cb;
	hub->close_ud = ud;
	while (hub->head)
		sock_kill(hub->head);
	store_set_commit_hook(hub->store, NULL, NULL);
	uv_close((uv_handle_t *)&hub->flush, on_timer_closed);
	uv_close((uv_handle_t *)&hub->tick, on_timer_closed);
}

/* --- publishing ------------------------------------------------------------------------ */

enum audience { TO_USER, TO_DEVICE, TO_ADMINS };

static bool wants(const struct ws_sock *s, enum audience a, int64_t id)
{
	uint64_t v;

	if (s->state != WS_OPEN)
		return false;
	switch (a) {
	case TO_USER:
		return s->peer.user_id == id;
	case TO_DEVICE:
		return s->admin || hmap_get(&s->devices, (uint64_t)id, &v);
	default:
		return s->admin;
	}
}

static size_t publish(struct ws_hub *hub, enum audience a, int64_t id, json_t *event)
{
	struct ws_sock *s, *next;
	char *text;
	size_t len, sent = 0;

	if (!hub || !hub->head || !json_is_object(event)) {
		json_decref(event);
		return 0;
	}
	json_object_set_new(event, "seq", json_integer((json_int_t)++hub->seq));
	text = json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(event);
	len = strlen(text);
	for (s = hub->head; s; s = next) {
		next = s->next;
		if (wants(s, a, id)) {
			sent += s->state == WS_OPEN;
			sock_queue(s, text, len);
			sock_io(s);
		}
	}
	free(text);
	return sent;
}

size_t ws_publish_user(struct ws_hub *hub, int64_t user_id, json_t *event)
{
	return publish(hub, TO_USER, user_id, event);
}

void ws_publish_device(struct ws_hub *hub, int64_t device_id, json_t *event)
{
	publish(hub, TO_DEVICE, device_id, event);
}

size_t ws_publish_admins(struct ws_hub *hub, json_t *event)
{
	return publish(hub, TO_ADMINS, 0, event);
}

bool ws_send_socket(struct ws_hub *hub, uint64_t socket, json_t *event)
{
	struct ws_sock *s;
	char *text;

	for (s = hub ? hub->head : NULL; s && s->id != socket; s = s->next)
		;
	if (!s || s->state != WS_OPEN || !json_is_object(event)) {
		json_decref(event);
		return false;
	}
	json_object_set_new(event, "seq", json_integer((json_int_t)++hub->seq));
	text = json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(event);
	sock_queue(s, text, strlen(text));
	free(text);
	sock_io(s);
	return true;
}

void ws_hub_on(struct ws_hub *hub, const char *prefix, ws_handler_fn fn, void (*release)(void *ud),
	       void *ud)
{
	struct ws_handler *h;

	if (hub->nhandlers == WS_HANDLERS_MAX || strlen(prefix) >= sizeof(h->prefix))
		abort(); /* a programming error: raise the constant */
	h = &hub->handlers[hub->nhandlers++];
	snprintf(h->prefix, sizeof(h->prefix), "%s", prefix);
	h->fn = fn;
	h->release = release;
	h->ud = ud;
}

void ws_user_changed(struct ws_hub *hub, int64_t user_id)
{
	if (!hub)
		return;
	for (struct ws_sock *s = hub->head; s; s = s->next)
		if (s->peer.user_id == user_id && s->state < WS_CLOSING)
			sock_load(s);
}

static void close_matching(struct ws_hub *hub, bool by_session, int64_t id, const char *why)
{
	struct ws_sock *s, *next;

	for (s = hub ? hub->head : NULL; s; s = next) {
		next = s->next;
		if ((by_session ? s->peer.session_id : s->peer.user_id) != id)
			continue;
		sock_close(s, WSLAY_CODE_POLICY_VIOLATION, why);
		sock_io(s);
	}
}

void ws_close_session(struct ws_hub *hub, int64_t session_id)
{
	close_matching(hub, true, session_id, "session ended");
}

void ws_close_user(struct ws_hub *hub, int64_t user_id)
{
	close_matching(hub, false, user_id, "sessions of this user ended");
}
