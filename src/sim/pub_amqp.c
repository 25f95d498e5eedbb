/*
 * pub_amqp.c - the simulator's AMQP 0-9-1 publisher: RabbitMQ publisher
 * confirms through librabbitmq (the only file of the simulator that
 * includes <amqp.h>; the input side lives in ingest/amqp.c).
 *
 * Design: one connection, channel 1 in confirm mode (confirm.select).  Each
 * reading is one basic.publish -- persistent (delivery_mode 2), mandatory,
 * content_type application/json, message_id = the reading's seq -- to the
 * exchange with the routing key.  The broker numbers the publishes of a
 * channel 1, 2, 3, ... (delivery tags) and settles each with basic.ack
 * (possibly several at once, `multiple`) or basic.nack; tags[] maps a tag
 * to its reading.  A message no queue takes comes back first as basic.return
 * (mandatory), then is acked: that reading is reported undeliverable,
 * because nothing would ever read it.
 *
 * On connect the exchange is checked with a passive declare and, only if it
 * does not exist, declared durable of type topic -- the same declaration as
 * kilowatt's input ([amqp] exchange), so whichever starts first creates it.
 *
 * Invariants:
 *  1. A reading is confirmed only by a basic.ack covering its tag, and only
 *     if no basic.return came for it.
 *  2. Tags in [low_tag, next_tag) fit in tags[] (next_tag - low_tag <= cap),
 *     and at most `window` of them are unsettled; send() stops taking
 *     readings at either limit.
 *  3. After disconnect() no tag is unsettled and the next connection starts
 *     at tag 1 again (tags are per channel).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "sim/pub.h"
#include "core/banned.h"

#define CHANNEL	    1
#define FRAME_MAX   131072
#define HEARTBEAT_S 30
#define FRAMES_MAX  10000 /* frames handled per poll before returning */

struct tag_slot {
	uint64_t tag; /* the delivery tag this slot holds, 0: free */
	uint64_t seq;
	bool returned; /* basic.return came: undeliverable */
};

struct amqp_pub {
	struct sim_pub_opts o;
	struct sim_url u;
	char routing_key[2 * SIM_URL_FIELD_MAX];
	char shown[3 * SIM_URL_FIELD_MAX];
	char device_json[2 * SIM_URL_FIELD_MAX + 8];
	char why[2048]; /* why the last returned message came back */
	amqp_connection_state_t conn;
	bool usable;	   /* the connection may be closed politely */
	uint64_t next_tag; /* tag of the next publish */
	uint64_t low_tag;  /* no unsettled tag below it */
	size_t in_flight;  /* unsettled tags */
	size_t cap;
	struct tag_slot *tags; /* [cap]; tag t at t % cap */
};

static int amqp_open_pub(const struct sim_url *u, const struct sim_pub_opts *o, void **st,
			 char *err, size_t errlen)
{
	struct amqp_pub *p = xcalloc(1, sizeof(*p));

	p->o = *o;
	p->u = *u;
	sim_url_redacted(u, p->shown, sizeof(p->shown));
	if (sim_pub_expand(p->routing_key, sizeof(p->routing_key),
			   u->routing_key[0] ? u->routing_key : "{device}", o->device) < 0 ||
	    sim_pub_json_string(p->device_json, sizeof(p->device_json), o->device) < 0) {
		snprintf(err, errlen, "the routing key or device id is too long");
		free(p);
		return KW_EINVAL;
	}
	p->cap = 2 * o->window;
	p->tags = xcalloc(p->cap, sizeof(*p->tags));
	*st = p;
	return 0;
}

static int bytes_len(amqp_bytes_t b)
{
	return b.len > 400 ? 400 : (int)b.len;
}

/* Describes a failed RPC into err; returns the error kind of pub.h. */
static int rpc_error(struct amqp_pub *p, amqp_rpc_reply_t r, const char *doing, char *err,
		     size_t errlen)
{
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ||
	     r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)) {
		bool conn = r.reply.id == AMQP_CONNECTION_CLOSE_METHOD;
		amqp_connection_close_t *cc = r.reply.decoded;
		amqp_channel_close_t *ch = r.reply.decoded;
		uint16_t code = conn ? cc->reply_code : ch->reply_code;
		amqp_bytes_t text = conn ? cc->reply_text : ch->reply_text;

		snprintf(err, errlen, "%s: %s failed: %.*s", p->shown, doing, bytes_len(text),
			 (const char *)text.bytes);
		if (conn) {
			amqp_connection_close_ok_t ok = { 0 };
			amqp_send_method(p->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		}
		p->usable = false;
		if (code == AMQP_ACCESS_REFUSED)
			return KW_EDENIED;
		if (code == AMQP_NOT_FOUND || code == AMQP_NOT_ALLOWED ||
		    code == AMQP_PRECONDITION_FAILED)
			return KW_ECONFIG;
		return -ECONNRESET;
	}
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
		snprintf(err, errlen, "%s: %s failed: %s", p->shown, doing,
			 amqp_error_string2(r.library_error));
		p->usable = false;
		return r.library_error == AMQP_STATUS_TIMEOUT ? -ETIMEDOUT : -ECONNRESET;
	}
	snprintf(err, errlen, "%s: %s failed", p->shown, doing);
	p->usable = false;
	return -ECONNRESET;
}

static int open_socket(struct amqp_pub *p, char *err, size_t errlen)
{
	struct timeval tv = { p->o.connect_timeout_ms / 1000,
			      (p->o.connect_timeout_ms % 1000) * 1000 };
	amqp_socket_t *sock;
	int rc;

	p->conn = amqp_new_connection();
	if (!p->conn || !(sock = amqp_tcp_socket_new(p->conn)))
		abort(); /* out of memory */
	rc = amqp_socket_open_noblock(sock, p->u.host, p->u.port, &tv);
	if (rc != AMQP_STATUS_OK) {
		/* librabbitmq keeps no errno: a "socket error" here is a refused or
		 * unreachable address */
		snprintf(err, errlen, "cannot connect to %s: %s%s", p->shown,
			 amqp_error_string2(rc),
			 rc == AMQP_STATUS_SOCKET_ERROR ? " (refused or unreachable)" : "");
		return rc == AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED ? -EHOSTUNREACH
		       : rc == AMQP_STATUS_TIMEOUT		    ? -ETIMEDOUT
								    : -ECONNREFUSED;
	}
	amqp_set_handshake_timeout(p->conn, &tv);
	amqp_set_rpc_timeout(p->conn, &tv);
	return 0;
}

/* The exchange exists, or is created as kilowatt's input would. */
static int ensure_exchange(struct amqp_pub *p, char *err, size_t errlen)
{
	amqp_bytes_t ex = amqp_cstring_bytes(p->u.exchange);
	amqp_rpc_reply_t r;
	char doing[SIM_URL_FIELD_MAX + 64];

	if (p->u.exchange[0] == '\0')
		return 0; /* the default exchange always exists */
	amqp_exchange_declare(p->conn, CHANNEL, ex, amqp_cstring_bytes("topic"), 1, 0, 0, 0,
			      amqp_empty_table);
	r = amqp_get_rpc_reply(p->conn);
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
	    r.reply.id != AMQP_CHANNEL_CLOSE_METHOD ||
	    ((amqp_channel_close_t *)r.reply.decoded)->reply_code != AMQP_NOT_FOUND)
		return rpc_error(p, r, "checking the exchange", err, errlen);
	/* Not found: the broker closed the channel.  Acknowledge, reopen, declare. */
	amqp_channel_close_ok_t ok = { 0 };
	amqp_send_method(p->conn, CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
	amqp_channel_open(p->conn, CHANNEL);
	if ((r = amqp_get_rpc_reply(p->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, "opening a channel", err, errlen);
	amqp_exchange_declare(p->conn, CHANNEL, ex, amqp_cstring_bytes("topic"), 0, 1, 0, 0,
			      amqp_empty_table);
	snprintf(doing, sizeof(doing), "declaring the exchange '%s'", p->u.exchange);
	if ((r = amqp_get_rpc_reply(p->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, doing, err, errlen);
	return 0;
}

static int amqp_connect_pub(void *st, char *err, size_t errlen)
{
	struct amqp_pub *p = st;
	amqp_rpc_reply_t r;
	int rc;

	p->next_tag = p->low_tag = 1; /* invariant 3 */
	if ((rc = open_socket(p, err, errlen)) != 0)
		return rc;
	r = amqp_login(p->conn, p->u.path, 0, FRAME_MAX, HEARTBEAT_S, AMQP_SASL_METHOD_PLAIN,
		       p->u.user, p->u.pass);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, "login", err, errlen);
	p->usable = true;
	amqp_channel_open(p->conn, CHANNEL);
	if ((r = amqp_get_rpc_reply(p->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, "opening a channel", err, errlen);
	if ((rc = ensure_exchange(p, err, errlen)) != 0)
		return rc;
	amqp_confirm_select(p->conn, CHANNEL);
	if ((r = amqp_get_rpc_reply(p->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, "confirm.select", err, errlen);
	return 0;
}

static int amqp_send_pub(void *st, const struct sim_msg *m, size_t n, char *err, size_t errlen)
{
	struct amqp_pub *p = st;
	amqp_basic_properties_t props = { 0 };
	char body[SIM_MSG_MAX], id[24];
	size_t i;

	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		       AMQP_BASIC_MESSAGE_ID_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = 2; /* persistent */
	for (i = 0; i < n && p->in_flight < p->o.window && p->next_tag - p->low_tag < p->cap; i++) {
		int len = sim_pub_format(body, sizeof(body), p->device_json, &m[i]);
		struct tag_slot *s = &p->tags[p->next_tag % p->cap];
		int rc;

		if (len < 0) {
			snprintf(err, errlen, "reading %" PRIu64 " does not fit a message",
				 m[i].seq);
			return KW_EINVAL;
		}
		snprintf(id, sizeof(id), "%" PRIu64, m[i].seq);
		props.message_id = amqp_cstring_bytes(id);
		rc = amqp_basic_publish(p->conn, CHANNEL, amqp_cstring_bytes(p->u.exchange),
					amqp_cstring_bytes(p->routing_key), 1, 0, &props,
					(amqp_bytes_t){ (size_t)len, body });
		if (rc != AMQP_STATUS_OK) {
			snprintf(err, errlen, "lost the connection to %s: %s", p->shown,
				 amqp_error_string2(rc));
			p->usable = false;
			return -ECONNRESET;
		}
		*s = (struct tag_slot){ p->next_tag++, m[i].seq, false };
		p->in_flight++;
	}
	return (int)i;
}

/* basic.ack / basic.nack of tag (and, with multiple, every tag below it). */
static void settle(struct amqp_pub *p, uint64_t tag, bool multiple, bool ack)
{
	for (uint64_t t = multiple ? p->low_tag : tag; t <= tag && t < p->next_tag; t++) {
		struct tag_slot *s = &p->tags[t % p->cap];
		if (s->tag != t)
			continue; /* settled already */
		s->tag = 0;
		p->in_flight--;
		if (!ack)
			p->o.confirm(p->o.ud, s->seq, -EAGAIN, "the broker refused it (nack)");
		else
			p->o.confirm(p->o.ud, s->seq, s->returned ? KW_EINVAL : 0,
				     s->returned ? p->why : NULL);
	}
	while (p->low_tag < p->next_tag && p->tags[p->low_tag % p->cap].tag != p->low_tag)
		p->low_tag++;
}

/* basic.return: the message that follows is marked undeliverable. */
static int returned(struct amqp_pub *p, const amqp_basic_return_t *ret, char *err, size_t errlen)
{
	amqp_message_t msg;
	amqp_rpc_reply_t r = amqp_read_message(p->conn, CHANNEL, &msg, 0);
	uint64_t seq = UINT64_MAX;

	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_error(p, r, "reading a returned message", err, errlen);
	if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
		char id[24] = "";
		snprintf(id, sizeof(id), "%.*s", bytes_len(msg.properties.message_id),
			 (const char *)msg.properties.message_id.bytes);
		seq = strtoull(id, NULL, 10);
	}
	amqp_destroy_message(&msg);
	snprintf(p->why, sizeof(p->why),
		 "%s could not route it to any queue (%u %.*s): nothing is bound to exchange "
		 "'%s' for routing key '%s'; start kilowatt with [amqp] url set first (it "
		 "declares its queue), or check exchange= and routing_key=",
		 p->shown, ret->reply_code, bytes_len(ret->reply_text),
		 (const char *)ret->reply_text.bytes, p->u.exchange, p->routing_key);
	for (uint64_t t = p->low_tag; t < p->next_tag; t++) {
		struct tag_slot *s = &p->tags[t % p->cap];
		if (s->tag == t && s->seq == seq)
			s->returned = true;
	}
	return 0;
}

/* A close from the broker: answer it and report why. */
static int closed(struct amqp_pub *p, amqp_frame_t *f, char *err, size_t errlen)
{
	amqp_rpc_reply_t r = { AMQP_RESPONSE_SERVER_EXCEPTION, f->payload.method, 0 };
	bool channel = f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD;
	amqp_bytes_t text = channel ? ((amqp_channel_close_t *)r.reply.decoded)->reply_text
				    : ((amqp_connection_close_t *)r.reply.decoded)->reply_text;
	int rc = rpc_error(p, r, "publishing", err, errlen); /* the kind, and close-ok */

	snprintf(err, errlen, "%s closed the %s: %.*s", p->shown,
		 channel ? "channel" : "connection", bytes_len(text), (const char *)text.bytes);
	if (channel) {
		amqp_channel_close_ok_t ok = { 0 };
		amqp_send_method(p->conn, CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
	}
	return rc;
}

static int frame(struct amqp_pub *p, amqp_frame_t *f, char *err, size_t errlen)
{
	if (f->frame_type != AMQP_FRAME_METHOD)
		return 0;
	switch (f->payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *a = f->payload.method.decoded;
		settle(p, a->delivery_tag, a->multiple, true);
		return 0;
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *a = f->payload.method.decoded;
		settle(p, a->delivery_tag, a->multiple, false);
		return 0;
	}
	case AMQP_BASIC_RETURN_METHOD:
		return returned(p, f->payload.method.decoded, err, errlen);
	case AMQP_CHANNEL_CLOSE_METHOD:
	case AMQP_CONNECTION_CLOSE_METHOD:
		return closed(p, f, err, errlen);
	default:
		return 0; /* connection.blocked and the like: nothing to do */
	}
}

static int amqp_poll_pub(void *st, int timeout_ms, char *err, size_t errlen)
{
	struct amqp_pub *p = st;
	int rc = 0;

	for (int i = 0; i < FRAMES_MAX; i++) {
		struct timeval tv = { i ? 0 : timeout_ms / 1000,
				      i ? 0 : (timeout_ms % 1000) * 1000 };
		amqp_frame_t f;
		int st2 = amqp_simple_wait_frame_noblock(p->conn, &f, &tv);

		if (st2 == AMQP_STATUS_TIMEOUT)
			break;
		if (st2 != AMQP_STATUS_OK) {
			snprintf(err, errlen, "lost the connection to %s: %s", p->shown,
				 amqp_error_string2(st2));
			p->usable = false;
			rc = -ECONNRESET;
			break;
		}
		if ((rc = frame(p, &f, err, errlen)) != 0)
			break;
	}
	amqp_maybe_release_buffers(p->conn);
	return rc;
}

static void amqp_disconnect_pub(void *st)
{
	struct amqp_pub *p = st;

	if (!p->conn)
		return;
	if (p->usable) {
		amqp_channel_close(p->conn, CHANNEL, AMQP_REPLY_SUCCESS);
		amqp_connection_close(p->conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(p->conn);
	p->conn = NULL;
	p->usable = false;
	memset(p->tags, 0, p->cap * sizeof(*p->tags)); /* invariant 3 */
	p->in_flight = 0;
}

static void amqp_free_pub(void *st)
{
	struct amqp_pub *p = st;

	if (!p)
		return;
	amqp_disconnect_pub(p);
	free(p->tags);
	free(p);
}

const struct sim_pub_ops sim_pub_amqp = {
	"amqp",	       amqp_open_pub,	    amqp_connect_pub, amqp_send_pub,
	amqp_poll_pub, amqp_disconnect_pub, amqp_free_pub,
};
