/*
 * amqp.c - the AMQP 0-9-1 / RabbitMQ input on librabbitmq (contract in
 * amqp.h, user's guide in docs/AMQP.md).  The only file that includes
 * <amqp.h>.
 *
 * Design.  librabbitmq is blocking, so one thread per input owns the
 * connection and does all the talking; the loop thread only starts it,
 * reads its counters (atomics) and stops it.  The thread's states:
 *
 *     +--> CONNECTING --(tcp, login, channel, topology, qos, consume)--> CONSUMING
 *     |        | failed                                                  | lost
 *     |        v                                                         |
 *     +---- BACKOFF (0.25 s doubling to 30 s, +-20 % jitter) <-----------+
 *
 *     any state --(amqp_input_close)--> commit and ack the group at hand,
 *     close the connection, exit --(uv_async)--> joined and freed on the loop
 *
 * A lost connection is retried at once (0.25 s); failed attempts back off.
 * The same failure is logged once, then once a minute with a count.
 *
 * Consuming is a loop of groups.  A group collects the deliveries at hand:
 * it waits up to IDLE_POLL_MS for the first, then LINGER_MS for each next,
 * and ends at group_max deliveries or group_rows readings.  Each message is
 * parsed on its own into a scratch batch; a bad one is rejected at once, a
 * good one is merged into the group's batch (pending device and channel
 * names renumbered).  The group is committed with ONE bridge_commit() (one
 * transaction for up to prefetch / 2 messages) and acknowledged with ONE
 * basic.ack multiple=true on the highest delivery tag of its good messages.
 * group_max is half the prefetch window, so the broker keeps delivering the
 * next group while this one is committed.
 *
 * Invariants:
 *  1. A delivery is acknowledged only after bridge_commit() returned 0 for
 *     a batch holding all its readings.
 *  2. A bad delivery is rejected (requeue=false: to the dead-letter
 *     exchange) before the ack of its group is sent, so an ack with
 *     multiple=true never covers it; a good one is never rejected.
 *  3. A group whose commit failed is nacked with requeue=true (or, when the
 *     connection is gone, requeued by the broker): it is redelivered, never
 *     dropped.  Readings stored before count as duplicates when they return.
 *  4. Bounded memory: a message body <= MAX_BODY (a larger one is read and
 *     dropped frame by frame, then rejected as too_large); frames <=
 *     FRAME_MAX; a group <= group_max deliveries and < 2 * group_rows
 *     readings, as a message with more than group_rows readings is rejected
 *     as too_large; 2 * group_rows <= storage.queue_max_rows, so the
 *     writer's queue can take any group once it has drained.
 *  5. Only the thread touches the connection and the group; the loop reads
 *     the counters with atomic loads and sets `stopping` under the mutex.
 *
 * Two messages of one group may carry the same (device, timestamp,
 * channel): the writer applies rows in order, so the second is a duplicate
 * (or a conflict: the first value is kept), both messages are acknowledged,
 * and kilowatt_amqp_readings_committed_total counts both rows, just as
 * kilowatt_readings_duplicate_total counts the second.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "ingest/amqp.h"
#include "ingest/ingest.h"
#include "core/banned.h"

#define MOD		   "amqp"
#define CHANNEL		   1
#define FRAME_MAX	   131072    /* bytes per frame (RabbitMQ's default) */
#define HEARTBEAT_S	   30	     /* the broker and we each notice a dead peer in ~60 s */
#define MAX_BODY	   (1 << 20) /* bytes; larger messages are rejected as too_large */
#define NAME_MAX_LEN	   255	     /* AMQP short strings: exchange, queue, routing key */
#define CONNECT_TIMEOUT_MS 5000	     /* TCP connect, then the AMQP handshake */
#define RPC_TIMEOUT_MS	   10000     /* login, declarations */
#define CLOSE_TIMEOUT_MS   2000	     /* connection.close when stopping */
#define IDLE_POLL_MS	   200	     /* how long `stopping` may go unnoticed while idle */
#define LINGER_MS	   3	     /* a group ends when nothing came for this long */
#define FRAME_TIMEOUT_MS   10000     /* between the frames of one message */
#define BACKOFF_MIN_MS	   250
#define BACKOFF_MAX_MS	   30000
#define RETRY_MIN_MS	   100 /* after a failed commit */
#define RETRY_MAX_MS	   5000
#define SUMMARY_MS	   60000 /* the same log line at most once a minute */
#define GROUP_ROWS_MAX	   25000

/* Why a message was rejected: the label of kilowatt_amqp_rejected_total.
 * The ingest_error codes, then too_large (ours) and "other". */
static const char *const reasons[] = { "parse_error",	 "invalid_body",  "unknown_field",
				       "missing_field",	 "invalid_value", "invalid_timestamp",
				       "unknown_device", "too_large",	  "other" };
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

/* A log line that is written once per kind, then at most once a minute. */
struct ratelog {
	uint64_t key;	    /* the kind last written */
	int64_t at_ms;	    /* when, monotonic */
	uint64_t swallowed; /* events of that kind not written since */
	bool used;
};

/* What amqp.url names (decoded). */
struct target {
	char *host, *user, *password, *vhost;
	int port;
	char shown[400]; /* for logs, without the password */
};

struct counters {
	atomic_uint_fast64_t deliveries, redelivered, acked, readings, commits, commit_failures;
	atomic_uint_fast64_t reconnects, connect_failures;
	atomic_uint_fast64_t rejected[N_REASONS];
	atomic_int connected;
};

/* One delivery being read: its body is in amqp_input.body. */
struct delivery {
	uint64_t tag;
	uint64_t size; /* body bytes announced */
	bool redelivered;
	char routing_key[96]; /* printable, for logs */
};

/* The group being collected [thread]. */
struct group {
	struct store_batch batch; /* the readings of its good messages */
	unsigned seen;		  /* deliveries taken, good or bad */
	unsigned good;		  /* deliveries whose readings are in batch */
	uint64_t last_good;	  /* the highest delivery tag among them */
};

struct amqp_input {
	/* [loop] */
	uv_async_t exited; /* the thread has ended */
	uv_thread_t thread;
	void (*close_cb)(void *ud);
	void *close_ud;
	/* Set at start, read-only afterwards. */
	struct store *store;
	struct bridge *br;
	struct target t;
	char *exchange, *queue, *dead_queue, *binding_key, *dlx;
	unsigned prefetch;  /* basic.qos prefetch-count */
	unsigned group_max; /* deliveries per group */
	size_t group_rows;  /* readings per group before it is closed */
	bool auto_create;   /* ingest.auto_create_devices */
	int64_t max_future_ms;
	/* Stopping: set under mu, with cond broadcast (wakes a backoff). */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	atomic_bool stopping;
	struct counters m;
	/* [thread] */
	amqp_connection_state_t conn;
	bool gone;	   /* the connection is unusable: no polite close */
	char why[400];	   /* the last failure, for the log */
	struct kwbuf body; /* the message being read, <= MAX_BODY */
	struct store_batch one;
	struct group g;
	struct ratelog conn_log, commit_log, reject_log[N_REASONS];
	int64_t retry_ms; /* the next pause after a failed commit */
	uint64_t rng;
};

/* --- small helpers ---------------------------------------------------------- */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Whether to log an event of this kind now: the first of a kind, or the
 * first after SUMMARY_MS.  *swallowed: how many were not logged since the
 * last one logged. */
static bool ratelog_due(struct ratelog *r, uint64_t key, uint64_t *swallowed)
{
	int64_t now = (int64_t)(uv_hrtime() / 1000000u); /* monotonic */
	if (r->used && r->key == key && now - r->at_ms < SUMMARY_MS) {
		r->swallowed++;
		return false;
	}
	*swallowed = r->used && r->key == key ? r->swallowed : 0;
	*r = (struct ratelog){ key, now, 0, true };
	return true;
}

/* ms with +-20 % jitter, so that instances sharing a broker spread out. */
static int64_t jitter(struct amqp_input *in, int64_t ms)
{
	in->rng ^= in->rng << 13; /* xorshift64 */
	in->rng ^= in->rng >> 7;
	in->rng ^= in->rng << 17;
	return ms * (80 + (int64_t)(in->rng % 41)) / 100;
}

static bool stopping(struct amqp_input *in)
{
	return atomic_load_explicit(&in->stopping, memory_order_acquire);
}

/* Sleeps ms, or less when the input is stopped meanwhile. */
static void nap(struct amqp_input *in, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&in->mu);
	while (!stopping(in) && pthread_cond_timedwait(&in->cond, &in->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&in->mu);
}

#define COUNT(in, field, n) atomic_fetch_add_explicit(&(in)->m.field, (n), memory_order_relaxed)
#define B(s)		    amqp_cstring_bytes(s)

/* A peer's string made safe for a logfmt value: printable ASCII, no quote
 * or backslash, at most len - 1 bytes. */
static void printable(char *out, size_t len, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;
	for (i = 0; i < n && i + 1 < len; i++)
		out[i] =
		    s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? (char)s[i] : '?';
	out[i] = '\0';
}

/* Records why the current attempt or connection failed; returns -1. */
static int __attribute__((format(printf, 2, 3))) fail(struct amqp_input *in, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(in->why, sizeof(in->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* --- settings --------------------------------------------------------------- */

/* url with its password replaced by "***", for messages. */
static void redact(const char *url, char *out, size_t len)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *colon;
	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon)
		snprintf(out, len, "%.*s:***%.200s", (int)(colon - url), url, at);
	else
		snprintf(out, len, "%.300s", url);
}

static int bad_url(const char *url, const char *why, char *err, size_t errlen)
{
	char shown[400];
	redact(url, shown, sizeof(shown));
	snprintf(err, errlen, "bad value '%s' for amqp.url: %s", shown, why);
	return KW_ECONFIG;
}

/* Parses amqp://user:password@host:port/vhost (percent-decoded; no path or
 * "/" is the vhost "/"). */
static int parse_target(const char *url, struct target *t, char *err, size_t errlen)
{
	struct amqp_connection_info ci;
	char *copy;

	if (strncmp(url, "amqps://", 8) == 0)
		return bad_url(url, "amqps:// (TLS) is not supported yet; use amqp://", err,
			       errlen);
	if (strncmp(url, "amqp://", 7) != 0)
		return bad_url(url, "expected amqp://user:password@host:port/vhost", err, errlen);
	if (strpbrk(url, "?#"))
		return bad_url(url, "query parameters are not supported", err, errlen);
	copy = xstrdup(url);
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK || ci.port < 1 || ci.port > 65535 ||
	    !*ci.host) {
		free(copy);
		return bad_url(url,
			       "expected amqp://user:password@host:port/vhost (port 1-65535; "
			       "percent-encode '/', '@' and ':' inside names)",
			       err, errlen);
	}
	t->host = xstrdup(ci.host);
	t->user = xstrdup(ci.user);
	t->password = xstrdup(ci.password);
	t->vhost = xstrdup(*ci.vhost ? ci.vhost : "/");
	t->port = ci.port;
	snprintf(t->shown, sizeof(t->shown), "%s%s%s:%d (vhost '%.100s', user '%.100s')",
		 strchr(t->host, ':') ? "[" : "", t->host, strchr(t->host, ':') ? "]" : "", t->port,
		 t->vhost, t->user);
	free(copy);
	return 0;
}

static int check_name(const char *key, const char *v, size_t max, bool empty_ok, char *err,
		      size_t errlen)
{
	if (!empty_ok && !*v) {
		snprintf(err, errlen, "amqp.%s must not be empty", key);
		return KW_ECONFIG;
	}
	if (strlen(v) > max) {
		snprintf(err, errlen, "bad value for amqp.%s: at most %zu bytes", key, max);
		return KW_ECONFIG;
	}
	return 0;
}

/* Copies and checks the settings into in. */
static int configure(struct amqp_input *in, const struct config *cfg, char *err, size_t errlen)
{
	int rc;

	if ((rc = parse_target(cfg->amqp_url, &in->t, err, errlen)) ||
	    (rc = check_name("exchange", cfg->amqp_exchange, NAME_MAX_LEN, true, err, errlen)) ||
	    (rc = check_name("queue", cfg->amqp_queue, NAME_MAX_LEN - 5, false, err, errlen)) ||
	    (rc = check_name("binding_key", cfg->amqp_binding_key, NAME_MAX_LEN, true, err,
			     errlen)) ||
	    (rc = check_name("dead_letter_exchange", cfg->amqp_dead_letter_exchange, NAME_MAX_LEN,
			     true, err, errlen)))
		return rc;
	if (*cfg->amqp_dead_letter_exchange &&
	    strcmp(cfg->amqp_dead_letter_exchange, cfg->amqp_exchange) == 0) {
		snprintf(err, errlen, "amqp.dead_letter_exchange must differ from amqp.exchange");
		return KW_ECONFIG;
	}
	in->exchange = xstrdup(cfg->amqp_exchange);
	in->queue = xstrdup(cfg->amqp_queue);
	in->dead_queue = xmalloc(strlen(in->queue) + 6);
	memcpy(in->dead_queue, in->queue, strlen(in->queue));
	memcpy(in->dead_queue + strlen(in->queue), ".dead", 6);
	in->binding_key = xstrdup(cfg->amqp_binding_key);
	in->dlx = xstrdup(cfg->amqp_dead_letter_exchange);
	in->prefetch = (unsigned)cfg->amqp_prefetch;
	in->group_max = in->prefetch > 1 ? in->prefetch / 2 : 1;
	in->group_rows = (size_t)cfg->storage_queue_max_rows / 2;
	if (in->group_rows > GROUP_ROWS_MAX)
		in->group_rows = GROUP_ROWS_MAX;
	if (in->group_rows < 1)
		in->group_rows = 1;
	in->auto_create = cfg->ingest_auto_create_devices;
	in->max_future_ms = cfg->ingest_max_future_s * 1000;
	return 0;
}

/* --- connecting ------------------------------------------------------------- */

/* Describes an RPC's failure. */
static void describe(amqp_rpc_reply_t r, char *buf, size_t len)
{
	bool conn = r.reply.id == AMQP_CONNECTION_CLOSE_METHOD;
	const amqp_connection_close_t *cc = r.reply.decoded; /* valid as checked below */
	const amqp_channel_close_t *ch = r.reply.decoded;

	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		snprintf(buf, len, "%s", amqp_error_string2(r.library_error));
	else if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		snprintf(buf, len, "no reply");
	else if (conn)
		snprintf(buf, len, "the broker closed the connection: %u %.*s", cc->reply_code,
			 (int)cc->reply_text.len, (const char *)cc->reply_text.bytes);
	else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		snprintf(buf, len, "the broker closed the channel: %u %.*s", ch->reply_code,
			 (int)ch->reply_text.len, (const char *)ch->reply_text.bytes);
	else
		snprintf(buf, len, "unexpected method 0x%08x", (unsigned)r.reply.id);
}

/* 0 when the last RPC succeeded, else -1 with why = "<what>: <cause>". */
static int __attribute__((format(printf, 2, 3))) rpc_ok(struct amqp_input *in, const char *fmt, ...)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(in->conn);
	char what[700], cause[300];
	va_list ap;

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	describe(r, cause, sizeof(cause));
	in->gone = r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
		   r.reply.id == AMQP_CONNECTION_CLOSE_METHOD;
	return fail(in, "%s: %s", what, cause);
}

/* What to check in amqp.url after a failed login. */
static const char *login_hint(amqp_rpc_reply_t r)
{
	const amqp_connection_close_t *cc = r.reply.decoded;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
	    (r.library_error == AMQP_STATUS_CONNECTION_CLOSED ||
	     r.library_error == AMQP_STATUS_SOCKET_CLOSED))
		return " (check the user and password in amqp.url)";
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
	    r.reply.id != AMQP_CONNECTION_CLOSE_METHOD)
		return "";
	if (cc->reply_code == AMQP_ACCESS_REFUSED)
		return " (check the user and password in amqp.url, and the user's permissions)";
	if (cc->reply_code == AMQP_NOT_ALLOWED)
		return " (check the vhost in amqp.url: '/' is written %2f)";
	return "";
}

static int login(struct amqp_input *in)
{
	/* consumer_cancel_notify: the broker tells us (basic.cancel) when our
	 * queue is deleted, instead of leaving us waiting on nothing. */
	amqp_table_entry_t cap = { .key = B("consumer_cancel_notify"),
				   .value = { .kind = AMQP_FIELD_KIND_BOOLEAN,
					      .value.boolean = 1 } };
	amqp_table_entry_t prop[2] = {
		{ .key = B("connection_name"),
		  .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = B("kilowatt") } },
		{ .key = B("capabilities"),
		  .value = { .kind = AMQP_FIELD_KIND_TABLE, .value.table = { 1, &cap } } },
	};
	amqp_table_t props = { 2, prop };
	amqp_rpc_reply_t r;
	char cause[300];

	r = amqp_login_with_properties(in->conn, in->t.vhost, 0, FRAME_MAX, HEARTBEAT_S, &props,
				       AMQP_SASL_METHOD_PLAIN, in->t.user, in->t.password);
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	in->gone = true;
	describe(r, cause, sizeof(cause));
	return fail(in, "login as '%s' to vhost '%s' failed: %s%s", in->t.user, in->t.vhost, cause,
		    login_hint(r));
}

/* The dead-letter exchange and queue, the exchange, the queue, bindings. */
static int declare(struct amqp_input *in)
{
	amqp_table_entry_t dl = { .key = B("x-dead-letter-exchange"),
				  .value = { .kind = AMQP_FIELD_KIND_UTF8,
					     .value.bytes = B(in->dlx) } };
	amqp_table_t args = { *in->dlx ? 1 : 0, &dl };
	amqp_connection_state_t c = in->conn;
	const char *dlx = in->dlx, *dq = in->dead_queue, *x = in->exchange, *q = in->queue;

	if (*dlx) {
		amqp_exchange_declare(c, CHANNEL, B(dlx), B("fanout"), 0, 1, 0, 0,
				      amqp_empty_table);
		if (rpc_ok(in, "cannot declare the dead-letter exchange '%s' (fanout, durable)",
			   dlx))
			return -1;
		amqp_queue_declare(c, CHANNEL, B(dq), 0, 1, 0, 0, amqp_empty_table);
		if (rpc_ok(in, "cannot declare the dead-letter queue '%s' (durable)", dq))
			return -1;
		amqp_queue_bind(c, CHANNEL, B(dq), B(dlx), amqp_empty_bytes, amqp_empty_table);
		if (rpc_ok(in, "cannot bind queue '%s' to exchange '%s'", dq, dlx))
			return -1;
	}
	if (*x) {
		amqp_exchange_declare(c, CHANNEL, B(x), B("topic"), 0, 1, 0, 0, amqp_empty_table);
		if (rpc_ok(in, "cannot declare the exchange '%s' (topic, durable)", x))
			return -1;
	}
	amqp_queue_declare(c, CHANNEL, B(q), 0, 1, 0, 0, args);
	if (rpc_ok(in, "cannot declare the queue '%s' (durable, x-dead-letter-exchange '%s')", q,
		   dlx))
		return -1;
	if (*x) {
		amqp_queue_bind(c, CHANNEL, B(q), B(x), B(in->binding_key), amqp_empty_table);
		return rpc_ok(in, "cannot bind queue '%s' to exchange '%s' with key '%s'", q, x,
			      in->binding_key);
	}
	return 0;
}

/* Connects, logs in, declares and starts consuming.  0, or -1 with why. */
static int open_session(struct amqp_input *in)
{
	struct timeval connect_tv = { CONNECT_TIMEOUT_MS / 1000, 0 };
	struct timeval rpc_tv = { RPC_TIMEOUT_MS / 1000, 0 };
	amqp_socket_t *sock;
	int rc;

	in->gone = false;
	in->conn = amqp_new_connection();
	if (!in->conn)
		return fail(in, "out of memory");
	if (!(sock = amqp_tcp_socket_new(in->conn))) {
		in->gone = true;
		return fail(in, "cannot create a socket");
	}
	rc = amqp_socket_open_noblock(sock, in->t.host, in->t.port, &connect_tv);
	if (rc != AMQP_STATUS_OK) {
		in->gone = true;
		/* librabbitmq keeps the socket's own error (SO_ERROR) to itself */
		return fail(in, "cannot connect: %s",
			    rc == AMQP_STATUS_SOCKET_ERROR
				? "connection refused or host unreachable"
				: amqp_error_string2(rc));
	}
	amqp_set_handshake_timeout(in->conn, &connect_tv);
	amqp_set_rpc_timeout(in->conn, &rpc_tv);
	if (login(in))
		return -1;
	amqp_channel_open(in->conn, CHANNEL);
	if (rpc_ok(in, "cannot open a channel") || declare(in))
		return -1;
	amqp_basic_qos(in->conn, CHANNEL, 0, (uint16_t)in->prefetch, 0);
	if (rpc_ok(in, "cannot set the prefetch window (basic.qos)"))
		return -1;
	amqp_basic_consume(in->conn, CHANNEL, B(in->queue), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	return rpc_ok(in, "cannot consume from queue '%s'", in->queue);
}

/* Closes the connection (politely when it still works) and frees it. */
static void close_session(struct amqp_input *in)
{
	struct timeval tv = { CLOSE_TIMEOUT_MS / 1000, 0 };
	if (!in->conn)
		return;
	if (!in->gone) {
		amqp_set_rpc_timeout(in->conn, &tv);
		amqp_connection_close(in->conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(in->conn);
	in->conn = NULL;
}

/* --- reading deliveries ------------------------------------------------------ */

/*
 * Waits up to timeout_ms for a frame.  1 with *f, 0 on timeout, -1 when the
 * connection or channel ended (why says how).
 */
static int next_frame(struct amqp_input *in, int timeout_ms, amqp_frame_t *f)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	amqp_rpc_reply_t r = { .reply_type = AMQP_RESPONSE_SERVER_EXCEPTION };
	char cause[300];
	int rc = amqp_simple_wait_frame_noblock(in->conn, f, &tv);

	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		in->gone = true;
		return fail(in, "%s", amqp_error_string2(rc));
	}
	if (f->frame_type != AMQP_FRAME_METHOD)
		return 1;
	if (f->payload.method.id == AMQP_BASIC_CANCEL_METHOD)
		return fail(in, "the broker cancelled our consumer (was queue '%s' deleted?)",
			    in->queue);
	if (f->payload.method.id != AMQP_CONNECTION_CLOSE_METHOD &&
	    f->payload.method.id != AMQP_CHANNEL_CLOSE_METHOD)
		return 1;
	r.reply = f->payload.method;
	describe(r, cause, sizeof(cause));
	if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		in->gone = true;
		amqp_send_method(in->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD,
				 &(amqp_connection_close_ok_t){ 0 });
	}
	return fail(in, "%s", cause);
}

/* The header and body frames of a delivery; the body lands in in->body
 * unless it is over MAX_BODY.  1, or -1 when the connection failed. */
static int read_content(struct amqp_input *in, struct delivery *d)
{
	amqp_frame_t f;
	uint64_t got = 0;
	int rc = next_frame(in, FRAME_TIMEOUT_MS, &f);

	if (rc <= 0 || f.frame_type != AMQP_FRAME_HEADER)
		return rc < 0 ? -1 : fail(in, "expected a content header after basic.deliver");
	d->size = f.payload.properties.body_size;
	in->body.len = 0;
	while (got < d->size) {
		rc = next_frame(in, FRAME_TIMEOUT_MS, &f);
		if (rc <= 0 || f.frame_type != AMQP_FRAME_BODY)
			return rc < 0 ? -1
				      : fail(in, "expected %" PRIu64 " more body bytes",
					     d->size - got);
		got += f.payload.body_fragment.len;
		if (got > d->size)
			return fail(in, "a message body longer than announced");
		if (d->size <= MAX_BODY)
			kwbuf_add(&in->body, f.payload.body_fragment.bytes,
				  f.payload.body_fragment.len); /* fits: limit MAX_BODY */
		amqp_maybe_release_buffers_on_channel(in->conn, CHANNEL);
	}
	return 1;
}

/*
 * Reads the next delivery, waiting up to timeout_ms for it to begin.  1
 * with *d (body in in->body), 0 when none came, -1 when the connection or
 * channel failed.
 */
static int read_delivery(struct amqp_input *in, int timeout_ms, struct delivery *d)
{
	const amqp_basic_deliver_t *m;
	amqp_frame_t f;
	int rc;

	for (;;) {
		if ((rc = next_frame(in, timeout_ms, &f)) <= 0)
			return rc;
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    f.payload.method.id == AMQP_BASIC_DELIVER_METHOD)
			break;
		log_debug(MOD, "ignoring frame type %u on channel %u", f.frame_type, f.channel);
	}
	m = f.payload.method.decoded;
	d->tag = m->delivery_tag;
	d->redelivered = m->redelivered;
	printable(d->routing_key, sizeof(d->routing_key), m->routing_key.bytes, m->routing_key.len);
	rc = read_content(in, d);
	amqp_maybe_release_buffers(in->conn);
	return rc;
}

/* --- one message --------------------------------------------------------------- */

static size_t reason_of(const char *code)
{
	for (size_t i = 0; i < N_REASONS - 1; i++)
		if (strcmp(code, reasons[i]) == 0)
			return i;
	return N_REASONS - 1;
}

/* Rejects d to the dead-letter exchange; counts and (rate-limited) logs it. */
static void reject(struct amqp_input *in, const struct delivery *d, const struct ingest_error *err)
{
	size_t r = reason_of(err->code);
	uint64_t swallowed;
	char extra[400];

	amqp_basic_reject(in->conn, CHANNEL, d->tag, 0); /* a failure ends the connection */
	COUNT(in, rejected[r], 1);
	if (!ratelog_due(&in->reject_log[r], 0, &swallowed))
		return;
	snprintf(extra, sizeof(extra),
		 "reason=%s routing_key=\"%s\" delivery_tag=%" PRIu64
		 " field=\"%s\" index=%d line=%d similar_since_last=%" PRIu64,
		 reasons[r], d->routing_key, d->tag, err->field, err->index, err->line, swallowed);
	log_write(LOG_WARN, MOD, extra,
		  "rejected a message%s%s%s: %s (further ones of this kind are counted in "
		  "kilowatt_amqp_rejected_total and logged at most once a minute)",
		  *in->dlx ? " to dead-letter exchange '" : " (no dead-letter exchange: dropped)",
		  *in->dlx ? in->dlx : "", *in->dlx ? "'" : "", err->message);
}

/* Appends src's rows to dst, renumbering the devices and channels that
 * are still to be created (STORE_PENDING_*) into dst's lists. */
static void merge(struct store_batch *dst, const struct store_batch *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct store_reading r = src->rows[i];
		if (r.device & STORE_PENDING_BIT)
			r.device = STORE_PENDING_ID(store_batch_new_serial(
			    dst, src->new_serials[r.device & ~STORE_PENDING_BIT]));
		if (r.channel & STORE_PENDING_CHANNEL(0))
			r.channel = STORE_PENDING_CHANNEL(store_batch_new_channel(
			    dst, src->new_channels[r.channel & ~STORE_PENDING_CHANNEL(0)]));
		store_batch_add(dst, &r);
	}
}

/* Parses d's body; merges its readings into the group or rejects it. */
static void take(struct amqp_input *in, struct group *g, const struct delivery *d)
{
	struct ingest_error err = { .index = -1 };
	struct ingest_ctx ctx = { .store = in->store,
				  .auto_create = in->auto_create,
				  .now = tz_now_ms(),
				  .max_future_ms = in->max_future_ms };
	int rc;

	g->seen++;
	COUNT(in, deliveries, 1);
	if (d->redelivered)
		COUNT(in, redelivered, 1);
	if (d->size > MAX_BODY) {
		ingest_fail(&err, 413, "too_large", NULL,
			    "the message has %" PRIu64 " bytes, more than the %d allowed", d->size,
			    MAX_BODY);
		reject(in, d, &err);
		return;
	}
	store_batch_release(&in->one);
	store_batch_init(&in->one);
	rc = ingest_measurements.parse(&ctx, in->body.data ? in->body.data : "", in->body.len,
				       &in->one, &err);
	if (rc == 0 && in->one.n > in->group_rows) {
		ingest_fail(&err, 413, "too_large", NULL,
			    "the message has %zu readings, more than the %zu allowed in one "
			    "message (storage.queue_max_rows / 2, at most %d)",
			    in->one.n, in->group_rows, GROUP_ROWS_MAX);
		rc = KW_ETOOBIG;
	}
	if (rc) {
		reject(in, d, &err);
		return;
	}
	merge(&g->batch, &in->one);
	g->good++;
	g->last_good = d->tag;
}

/* --- groups ---------------------------------------------------------------------- */

static void group_reset(struct group *g)
{
	store_batch_release(&g->batch);
	store_batch_init(&g->batch);
	g->seen = g->good = 0;
	g->last_good = 0;
}

/* Takes the deliveries at hand into g (see the design above).  0, or -1
 * when the connection failed. */
static int collect(struct amqp_input *in, struct group *g)
{
	int wait = IDLE_POLL_MS;
	while (g->seen < in->group_max && g->batch.n < in->group_rows && !stopping(in)) {
		struct delivery d;
		int rc = read_delivery(in, wait, &d);
		if (rc <= 0)
			return rc;
		take(in, g, &d);
		wait = LINGER_MS;
	}
	return 0;
}

/* Commits g and acks it, or nacks it for redelivery.  0, or -1 when the
 * connection failed. */
static int commit(struct amqp_input *in, struct group *g)
{
	uint64_t swallowed;
	int rc = g->batch.n ? bridge_commit(in->br, &g->batch) : 0;
	int st;

	if (rc == 0) {
		st = amqp_basic_ack(in->conn, CHANNEL, g->last_good, 1);
		COUNT(in, commits, 1);
		COUNT(in, acked, g->good);
		COUNT(in, readings, g->batch.n);
		in->retry_ms = RETRY_MIN_MS;
		if (st != AMQP_STATUS_OK) /* committed: a redelivery is a duplicate */
			return fail(in, "cannot acknowledge: %s", amqp_error_string2(st));
		return 0;
	}
	COUNT(in, commit_failures, 1);
	if (ratelog_due(&in->commit_log, (uint64_t)-rc, &swallowed))
		log_write(LOG_WARN, MOD, NULL,
			  "cannot commit %zu readings of %u messages: %s; they are requeued and "
			  "retried (%" PRIu64 " similar failures since the last report)",
			  g->batch.n, g->good, kw_strerror(rc), swallowed);
	st = amqp_basic_nack(in->conn, CHANNEL, g->last_good, 1, 1);
	if (st != AMQP_STATUS_OK)
		return fail(in, "cannot requeue: %s", amqp_error_string2(st));
	nap(in, jitter(in, in->retry_ms));
	in->retry_ms = in->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : in->retry_ms * 2;
	return 0;
}

/* Consumes until stopped (0) or the connection fails (-1). */
static int consume(struct amqp_input *in)
{
	struct group *g = &in->g;
	int rc = 0;

	in->retry_ms = RETRY_MIN_MS;
	while (rc == 0 && !stopping(in)) {
		rc = collect(in, g);
		if (rc == 0 && g->good)
			rc = commit(in, g);
		group_reset(g); /* after a failure the broker requeues what was not acked */
	}
	return rc;
}

/* --- the thread ------------------------------------------------------------------ */

static void log_connect_failure(struct amqp_input *in, uint64_t failed)
{
	uint64_t swallowed;
	char extra[64];

	COUNT(in, connect_failures, 1);
	if (!ratelog_due(&in->conn_log, hash(in->why), &swallowed))
		return;
	snprintf(extra, sizeof(extra), "attempts=%" PRIu64, failed);
	log_write(LOG_ERROR, MOD, extra,
		  "cannot consume from the broker at %s: %s; retrying with backoff (up to %d s)",
		  in->t.shown, in->why, BACKOFF_MAX_MS / 1000);
}

static void run(void *arg)
{
	struct amqp_input *in = arg;
	int64_t backoff = BACKOFF_MIN_MS;
	uint64_t failed = 0;
	bool ever = false;
	char extra[64];

	while (!stopping(in)) {
		if (open_session(in) == 0) {
			atomic_store(&in->m.connected, 1);
			if (ever)
				COUNT(in, reconnects, 1);
			snprintf(extra, sizeof(extra), "failed_attempts=%" PRIu64, failed);
			log_write(LOG_INFO, MOD, extra, "consuming queue '%s' at %s (prefetch %u)",
				  in->queue, in->t.shown, in->prefetch);
			ever = true;
			failed = 0;
			backoff = BACKOFF_MIN_MS;
			in->conn_log.used = false; /* the next failure is news */
			if (consume(in) < 0 && !stopping(in))
				log_warn(MOD, "lost the connection to %s: %s; reconnecting",
					 in->t.shown, in->why);
			atomic_store(&in->m.connected, 0);
		} else if (!stopping(in)) {
			log_connect_failure(in, ++failed);
		}
		close_session(in);
		if (stopping(in))
			break;
		nap(in, jitter(in, backoff));
		if (failed)
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	log_info(MOD, "stopped consuming queue '%s'", in->queue);
	uv_async_send(&in->exited);
}

/* --- the loop's side ------------------------------------------------------------- */

static void input_free(struct amqp_input *in)
{
	free(in->t.host);
	free(in->t.user);
	free(in->t.password);
	free(in->t.vhost);
	free(in->exchange);
	free(in->queue);
	free(in->dead_queue);
	free(in->binding_key);
	free(in->dlx);
	kwbuf_release(&in->body);
	store_batch_release(&in->one);
	store_batch_release(&in->g.batch);
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

static void on_freed(uv_handle_t *h)
{
	struct amqp_input *in = h->data;
	void (*cb)(void *) = in->close_cb;
	void *ud = in->close_ud;
	input_free(in);
	if (cb)
		cb(ud);
}

static void on_exited(uv_async_t *a)
{
	struct amqp_input *in = a->data;
	uv_thread_join(&in->thread);
	uv_close((uv_handle_t *)a, on_freed);
}

static void input_init(struct amqp_input *in)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&in->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&in->mu, NULL);
	in->body = (struct kwbuf)KWBUF_INIT(MAX_BODY);
	store_batch_init(&in->one);
	store_batch_init(&in->g.batch);
	in->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)in;
	if (!in->rng)
		in->rng = 1;
}

int amqp_input_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		     struct bridge *br, struct amqp_input **out, char *err, size_t errlen)
{
	struct amqp_input *in;
	int rc;

	*out = NULL;
	if (!cfg->amqp_url || !*cfg->amqp_url)
		return 0;
	in = xcalloc(1, sizeof(*in));
	input_init(in);
	in->store = store;
	in->br = br;
	if ((rc = configure(in, cfg, err, errlen)) != 0) {
		input_free(in);
		return rc;
	}
	uv_async_init(loop, &in->exited, on_exited);
	in->exited.data = in;
	if ((rc = uv_thread_create(&in->thread, run, in)) != 0) {
		snprintf(err, errlen, "cannot start the AMQP input's thread: %s", uv_strerror(rc));
		uv_close((uv_handle_t *)&in->exited, on_freed);
		return rc;
	}
	*out = in;
	return 0;
}

void amqp_input_close(struct amqp_input *in, void (*cb)(void *ud), void *ud)
{
	in->close_cb = cb;
	in->close_ud = ud;
	pthread_mutex_lock(&in->mu);
	atomic_store_explicit(&in->stopping, true, memory_order_release);
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->mu);
}

/* --- metrics ----------------------------------------------------------------------- */

#define COUNTER(field) offsetof(struct counters, field)
static const struct {
	const char *name;
	size_t off; /* of the atomic_uint_fast64_t in struct counters */
	const char *help;
} counters[] = {
	{ "deliveries_total", COUNTER(deliveries),
	  "Messages received from the broker, redeliveries included." },
	{ "redelivered_total", COUNTER(redelivered),
	  "Messages the broker flagged as redelivered." },
	{ "acked_total", COUNTER(acked),
	  "Messages acknowledged after their readings were committed." },
	{ "readings_committed_total", COUNTER(readings),
	  "Readings of acknowledged messages committed (duplicates included)." },
	{ "commits_total", COUNTER(commits),
	  "Group commits: one transaction for the messages at hand." },
	{ "commit_failures_total", COUNTER(commit_failures),
	  "Groups whose commit failed; their messages were requeued." },
	{ "reconnects_total", COUNTER(reconnects),
	  "Connections established after a failed or lost one." },
	{ "connect_failures_total", COUNTER(connect_failures),
	  "Connection attempts that failed (network, login, topology)." },
};

static unsigned long long load(const atomic_uint_fast64_t *v)
{
	return (unsigned long long)atomic_load_explicit(v, memory_order_relaxed);
}

void amqp_input_metrics(void *input, struct kwbuf *out)
{
	struct amqp_input *in = input;
	const char *m = (const char *)&in->m;

	kwbuf_printf(out,
		     "# HELP kilowatt_amqp_connected Whether the AMQP input is connected and "
		     "consuming (1) or not (0).\n# TYPE kilowatt_amqp_connected gauge\n"
		     "kilowatt_amqp_connected %d\n",
		     atomic_load(&in->m.connected));
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		kwbuf_printf(out,
			     "# HELP kilowatt_amqp_%s %s\n# TYPE kilowatt_amqp_%s counter\n"
			     "kilowatt_amqp_%s %llu\n",
			     counters[i].name, counters[i].help, counters[i].name, counters[i].name,
			     load((const atomic_uint_fast64_t *)(m + counters[i].off)));
	kwbuf_printf(out, "# HELP kilowatt_amqp_rejected_total Messages rejected to the "
			  "dead-letter exchange (nothing of them stored), by reason.\n"
			  "# TYPE kilowatt_amqp_rejected_total counter\n");
	for (size_t i = 0; i < N_REASONS; i++)
		kwbuf_printf(out, "kilowatt_amqp_rejected_total{reason=\"%s\"} %llu\n", reasons[i],
			     load(&in->m.rejected[i]));
}
