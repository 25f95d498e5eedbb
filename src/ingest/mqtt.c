/*
 * mqtt.c - the MQTT input (contract in mqtt.h, user's guide docs/MQTT.md);
 * the only file that includes <mosquitto.h>.  Its settings mqtt.url and
 * mqtt.topics are read, and a topic's device found, by the pure functions
 * of mqtt_settings.c; this file holds the connection, its thread and the
 * group commit.
 *
 * When libmosquitto (2.0) sends PUBACK.  On receiving a QoS 1 PUBLISH it
 * queues the PUBACK and then calls on_message; there is no manual
 * acknowledgement.  A queued packet is written at once only when the
 * client is neither "threaded" nor inside a callback; otherwise it waits
 * for a write phase (mosquitto_loop_write()).  This input marks its client
 * threaded (mosquitto_threaded_set) and runs the connection itself, in
 * turns on its own thread (turn()):
 *
 *   poll -> read every packet at hand (mosquitto_loop_read): each PUBLISH
 *   queues its PUBACK and, in on_message, is parsed, validated and added to
 *   the group -> commit the group: bridge_commit() blocks until COMMIT
 *   (synchronous=FULL) -> write what is queued (the group's PUBACKs) ->
 *   keepalive (mosquitto_loop_misc).
 *
 * So a PUBACK is on the wire only after its readings are on disk, and one
 * commit serves every message the broker had in flight (group commit).
 * (mosquitto_loop_start()'s thread would write PUBACKs after each
 * on_message, one commit per message: ~4,000 messages/s instead of ~150,000
 * from a backlog; and stopping it means a blocking join.)
 *
 * When the commit fails, the group must not be acknowledged, but its
 * PUBACKs are queued and cannot be taken back.  So:
 *  - while running, the commit is retried with a bounded backoff
 *    (RETRY_MIN_MS doubling to RETRY_MAX_MS) until it succeeds, the batch
 *    built again from the held messages each time (the store rewrites a
 *    batch it takes, and devices may change meanwhile); the PUBACKs stay
 *    queued, and further messages wait in the broker;
 *  - when stopping (or when the bridge is closed), the socket is shut down:
 *    the queued PUBACKs can then never be written, and the broker keeps the
 *    messages in our persistent session for the next connection.  This
 *    input does not reconnect after a stop (libmosquitto would also discard
 *    the queue on a reconnect).
 * A message that can never be stored (malformed, invalid, too large, more
 * readings than the write queue holds) is acknowledged and counted by
 * reason: MQTT has no "reject", and not acknowledging it would have it
 * redelivered forever.
 *
 * Invariants:
 *  1. Packets are written only by turn() after group_commit() and by
 *     finish(); so a PUBACK is written only once its message is committed,
 *     or rejected (acknowledged, counted).
 *  2. A message whose commit failed is never acknowledged on that
 *     connection: a retry succeeds first, or the socket is shut down.
 *  3. Every libmosquitto call happens on the input's thread, except
 *     mosquitto_new/option setters before it starts and mosquitto_destroy
 *     after it is joined.
 *  4. The loop thread never waits: close sets `stopping` and wakes the
 *     thread; the thread's last act is uv_async_send(&exited), after which
 *     the join is immediate.
 *  5. Counters are atomics written by the thread and read by the loop.
 *  6. A group never holds more readings than storage.queue_max_rows, so the
 *     write queue can take it once it has drained.
 *
 * States of the thread:
 *
 *   connecting --CONNACK ok--> connected --lost--> backoff --> connecting
 *       |  \--refused/timeout/error---------------^                ^
 *       |                     | stopping: DISCONNECT after the     |
 *       |                     v last PUBACK, drained (DRAIN_MS)    |
 *       +--stopping-------> exit (uv_async_send) <----stopping-----+
 *
 * Repeated problems (broker away, rejections, failing commits) are logged
 * once per kind and then summarized at most every SUMMARY_MS.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <mosquitto.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "ingest/ingest.h"
#include "ingest/json_common.h"
#include "ingest/mqtt.h"
#include "ingest/mqtt_settings.h"
#include "core/banned.h"

#define KEEPALIVE_S	   30
#define LOOP_WAIT_MS	   200		     /* a stop is noticed within this */
#define CONNECT_TIMEOUT_MS 10000	     /* TCP connect + CONNACK */
#define BACKOFF_MIN_MS	   250		     /* reconnect delay, doubling ... */
#define BACKOFF_MAX_MS	   30000	     /* ... up to this */
#define RETRY_MIN_MS	   50		     /* commit retry delay, doubling ... */
#define RETRY_MAX_MS	   2000		     /* ... up to this */
#define DRAIN_MS	   2000		     /* at stop: to write the last PUBACK and DISCONNECT */
#define SUMMARY_MS	   60000	     /* repeated problems: one line per this */
#define STABLE_MS	   10000	     /* a session this old resets the reconnect backoff */
#define GROUP_MAX_MSGS	   2000		     /* messages committed together, at most ... */
#define GROUP_MAX_BYTES	   (4 * 1024 * 1024) /* ... and their payload bytes ... */
#define GROUP_MAX_ROWS	   25000	     /* ... and readings (or storage.queue_max_rows) */
#define READ_MAX_PACKETS   4096		     /* packets read in one turn, at most */
#define DEVICE_MAX	   160		     /* bytes of a device key, with its NUL */

/* Why a message was acknowledged without storing anything (metric label). */
enum reject {
	R_PAYLOAD_TOO_LARGE,
	R_PARSE_ERROR,
	R_INVALID_BODY,
	R_UNKNOWN_FIELD,
	R_MISSING_FIELD,
	R_INVALID_VALUE,
	R_INVALID_TIMESTAMP,
	R_UNKNOWN_DEVICE,
	R_DEVICE_MISMATCH,
	R_TOO_MANY_READINGS,
	R_OTHER,
	NREJECT
};
static const char *const reject_names[NREJECT] = {
	"payload_too_large", "parse_error",    "invalid_body",
	"unknown_field",     "missing_field",  "invalid_value",
	"invalid_timestamp", "unknown_device", "device_mismatch",
	"too_many_readings", "other"
};

/* Why a commit failed (metric label); the message was not acknowledged. */
enum fail { F_QUEUE_FULL, F_DATABASE, F_SHUTDOWN, NFAIL };
static const char *const fail_names[NFAIL] = { "queue_full", "database", "shutdown" };

/* A message taken into the group: kept to build the batch again after a
 * failed commit. */
struct held {
	char *topic;
	char *payload;
	int len;
};

/* The messages read since the last write, not yet committed [thread]. */
struct group {
	struct store_batch b; /* their readings */
	struct held *msgs;
	size_t n, cap;
	size_t bytes; /* payload bytes held */
	bool full;    /* read no more before committing */
};

struct mqtt_input {
	uv_loop_t *loop;
	struct store *store;
	struct bridge *br;
	struct mosquitto *mosq;
	pthread_t thread;
	uv_async_t exited; /* the thread's last act */

	/* Settings, copied at start. */
	struct mqtt_settings set; /* mqtt.url and mqtt.topics */
	char *client_id;
	int qos;
	bool auto_create;
	int64_t max_future_ms;
	size_t max_rows;   /* storage.queue_max_rows: a bigger batch can never commit */
	size_t group_rows; /* min(GROUP_MAX_ROWS, max_rows) */

	/* Stopping. */
	pthread_mutex_t mu;
	pthread_cond_t cond; /* signalled when stopping is set */
	atomic_bool stopping;
	void (*close_cb)(void *ud);
	void *close_ud;

	/* The thread's own state. */
	struct group group;
	bool session_up;       /* CONNACK accepted on this connection */
	int64_t session_start; /* monotonic ms of that CONNACK */
	bool ever_connected;   /* a later session is a reconnect */
	bool quiet;	       /* the last loss was not logged: nor is the reconnect */
	int64_t lost_logged;   /* monotonic ms of the last "lost" line */
	uint64_t rng;	       /* xorshift state, for the backoff's jitter */
	unsigned unreported_lost;
	int refused_rc; /* CONNACK code of a refusal, else 0 */
	int lost_rc, lost_errno;
	unsigned failed_attempts; /* connection attempts failed since the last session */
	char last_error[200];
	int64_t next_summary; /* monotonic ms */
	bool logged_reject[NREJECT], logged_fail[NFAIL];
	unsigned long long unreported_reject[NREJECT], unreported_fail[NFAIL];
	int mid[MQTT_MAX_FILTERS]; /* message id of each filter's last SUBSCRIBE */

	/* Metrics (invariant 5). */
	_Atomic unsigned long long received, readings, duplicates, conflicts, commits, reconnects,
	    connect_failures, withheld;
	_Atomic unsigned long long rejected[NREJECT], commit_failures[NFAIL];
	atomic_int connected;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_stopping(struct mqtt_input *in)
{
	return atomic_load(&in->stopping);
}

/* Sleeps up to ms; returns false (at once) when the input is stopping. */
static bool pause_ms(struct mqtt_input *in, unsigned ms)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&in->mu);
	while (!(stop = is_stopping(in)))
		if (pthread_cond_timedwait(&in->cond, &in->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&in->mu);
	return !stop;
}

/* --- messages ------------------------------------------------------------- */

struct build {
	struct ingest_ctx ic;
	struct store_batch *b;
	struct ingest_error *err;
	const char *topic_dev; /* NULL: the payload must name the device */
};

/* Whether two device keys (UUID or serial) name the same device. */
static bool same_device(struct store *s, const char *a, const char *b)
{
	int64_t ia, ib;
	if (strcmp(a, b) == 0)
		return true;
	ia = store_device_resolve(s, a);
	ib = store_device_resolve(s, b);
	return ia != 0 && ia == ib;
}

static int one(void *ud, json_t *o, int index)
{
	static const char *const known[] = { "timestamp", "device_id", "measurement_value" };
	struct build *c = ud;
	char dev[DEVICE_MAX];
	int64_t ts;
	double v;
	json_t *f[3];

	if (ingest_json_fields(o, known, 3, f, c->err) ||
	    ingest_json_time(f[0], "timestamp", &ts, c->err))
		return KW_EINVAL;
	if (f[1] || !c->topic_dev) {
		if (ingest_json_device(f[1], "device_id", dev, sizeof(dev), c->err))
			return KW_EINVAL;
		if (c->topic_dev && !same_device(c->ic.store, dev, c->topic_dev)) {
			ingest_fail(c->err, 400, "device_mismatch", "device_id",
				    "device_id '%.64s' is not the topic's device '%.64s'", dev,
				    c->topic_dev);
			return KW_EINVAL;
		}
	} else {
		snprintf(dev, sizeof(dev), "%s", c->topic_dev);
	}
	if (ingest_json_number(f[2], "measurement_value", &v, c->err))
		return KW_EINVAL;
	if (ingest_add(&c->ic, c->b, dev, "kwh", ts, v, c->err) != 0) {
		if (strcmp(c->err->field, "value") == 0)
			snprintf(c->err->field, sizeof(c->err->field), "measurement_value");
		return KW_EINVAL;
	}
	return 0;
}

/* Parses and validates msg into b; err filled on failure. */
static int build_batch(struct mqtt_input *in, const char *topic, const void *payload, int len,
		       struct store_batch *b, struct ingest_error *err)
{
	char topic_dev[DEVICE_MAX];
	struct build c = { { in->store, in->auto_create, tz_now_ms(), in->max_future_ms, 0, NULL },
			   b,
			   err,
			   NULL };
	json_t *doc;
	int rc;

	memset(err, 0, sizeof(*err));
	err->index = -1;
	switch (mqtt_settings_topic_device(&in->set, topic, topic_dev, sizeof(topic_dev))) {
	case 1:
		c.topic_dev = topic_dev;
		break;
	case -1:
		ingest_fail(err, 400, "invalid_value", "topic",
			    "the topic level naming the device is over %d bytes", DEVICE_MAX - 1);
		return KW_EINVAL;
	}
	if (!(doc = ingest_json_load(payload ? payload : "", (size_t)len, err)))
		return KW_EPARSE;
	rc = ingest_json_each(doc, NULL, one, &c, err);
	json_decref(doc);
	return rc;
}

static enum reject reject_of(const char *code)
{
	for (int r = 0; r < NREJECT - 1; r++)
		if (strcmp(reject_names[r], code) == 0)
			return (enum reject)r;
	return R_OTHER;
}

/* Counts a rejected (acknowledged, not stored) message; logs the first of
 * each reason in full, later ones go into the periodic summary. */
static void reject(struct mqtt_input *in, enum reject r, const char *topic, const char *why,
		   int index)
{
	char where[32] = "";

	atomic_fetch_add(&in->rejected[r], 1);
	if (in->logged_reject[r]) {
		in->unreported_reject[r]++;
		return;
	}
	in->logged_reject[r] = true;
	if (index >= 0 && !strstr(why, "element"))
		snprintf(where, sizeof(where), " (element %d)", index);
	log_warn("mqtt",
		 "rejected a message on topic '%.200s' (acknowledged, nothing stored): %s: "
		 "%s%s; further rejections for %s are counted in "
		 "kilowatt_mqtt_rejected_total and summarized every %d s",
		 topic, reject_names[r], why, where, reject_names[r], SUMMARY_MS / 1000);
}

/* Whether the commit is retried or given up (the messages left unacknowledged). */
static bool commit_failed(struct mqtt_input *in, int rc)
{
	enum fail f = rc == KW_ETOOBIG	   ? F_QUEUE_FULL
		      : rc == KW_ESHUTDOWN ? F_SHUTDOWN
					   : F_DATABASE;
	bool retry = f != F_SHUTDOWN && !is_stopping(in);

	atomic_fetch_add(&in->commit_failures[f], 1);
	if (in->logged_fail[f]) {
		in->unreported_fail[f]++;
		return retry;
	}
	in->logged_fail[f] = true;
	log_warn("mqtt",
		 "cannot commit the readings of %zu messages: %s; they are not acknowledged and %s",
		 in->group.n, kw_strerror(rc),
		 retry ? "the commit is retried (the broker holds back further messages meanwhile)"
		       : "stay with the broker until the next start");
	return retry;
}

/* Parses and validates one message into b, a batch of its own.  Returns 0,
 * or -1 when the message is rejected (then counted and logged). */
static int validate(struct mqtt_input *in, const char *topic, const void *payload, int len,
		    struct store_batch *b)
{
	struct ingest_error err;

	if (build_batch(in, topic, payload, len, b, &err) != 0) {
		reject(in, reject_of(err.code), topic, err.message, err.index);
		return -1;
	}
	if (b->n > in->max_rows) {
		char why[128];
		snprintf(why, sizeof(why), "%zu readings, more than storage.queue_max_rows (%zu)",
			 b->n, in->max_rows);
		reject(in, R_TOO_MANY_READINGS, topic, why, -1);
		return -1;
	}
	return 0;
}

/* Adds src's readings to dst, mapping its devices and channels to create. */
static void batch_append(struct store_batch *dst, const struct store_batch *src)
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

/*
 * The PUBACKs of the group are queued already; to keep them from ever
 * being written, the socket is shut down.  The file descriptor stays
 * libmosquitto's: it closes it on the error that follows.
 */
static void withhold_acks(struct mqtt_input *in)
{
	atomic_fetch_add(&in->withheld, in->group.n);
	log_warn("mqtt",
		 "dropping the connection so that %zu messages that are not committed are not "
		 "acknowledged; the broker will deliver them again",
		 in->group.n);
	shutdown(mosquitto_socket(in->mosq), SHUT_RDWR);
}

static void group_clear(struct mqtt_input *in)
{
	struct group *g = &in->group;
	for (size_t i = 0; i < g->n; i++) {
		free(g->msgs[i].topic);
		free(g->msgs[i].payload);
	}
	g->n = g->bytes = 0;
	g->full = false;
	store_batch_release(&g->b);
	store_batch_init(&g->b);
}

/*
 * After a failed commit the batch is built again from the messages: the
 * store may have changed it, and devices may have come or gone meanwhile.
 * A message that is now rejected leaves the group (counted once, here).
 */
static void group_rebuild(struct mqtt_input *in)
{
	struct group *g = &in->group;
	size_t kept = 0;

	store_batch_release(&g->b);
	store_batch_init(&g->b);
	for (size_t i = 0; i < g->n; i++) {
		struct held *h = &g->msgs[i];
		struct store_batch b;
		store_batch_init(&b);
		if (validate(in, h->topic, h->payload, h->len, &b) == 0) {
			batch_append(&g->b, &b);
			g->msgs[kept++] = *h;
		} else {
			g->bytes -= (size_t)h->len;
			free(h->topic);
			free(h->payload);
		}
		store_batch_release(&b);
	}
	g->n = kept;
}

/*
 * Commits the group's readings in one transaction, retrying while running
 * (invariant 2), and empties it.  Its PUBACKs stay queued: turn() writes
 * them after this returns.
 */
static void group_commit(struct mqtt_input *in)
{
	struct group *g = &in->group;
	unsigned wait = RETRY_MIN_MS;

	while (g->b.n > 0) {
		int rc = bridge_commit(in->br, &g->b);
		if (rc == 0) {
			atomic_fetch_add(&in->commits, 1);
			atomic_fetch_add(&in->readings, g->b.accepted);
			atomic_fetch_add(&in->duplicates, g->b.duplicates);
			atomic_fetch_add(&in->conflicts, g->b.conflicts);
			break;
		}
		if (!commit_failed(in, rc) || !pause_ms(in, wait)) {
			withhold_acks(in);
			break;
		}
		wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
		group_rebuild(in);
	}
	group_clear(in);
}

/* Keeps a copy of msg with the group, for group_rebuild(). */
static void hold(struct group *g, const struct mosquitto_message *msg)
{
	struct held *h;

	xgrow((void **)&g->msgs, &g->cap, g->n + 1, sizeof(*g->msgs));
	h = &g->msgs[g->n++];
	h->topic = xstrdup(msg->topic);
	h->payload = xmalloc((size_t)msg->payloadlen + 1);
	memcpy(h->payload, msg->payload ? msg->payload : "", (size_t)msg->payloadlen);
	h->len = msg->payloadlen;
	g->bytes += (size_t)msg->payloadlen;
}

/* [thread] libmosquitto's on_message, called from read_all(): the message
 * joins the group (its PUBACK is queued, not written: invariant 1). */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct mqtt_input *in = ud;
	struct group *g = &in->group;
	struct store_batch b;

	atomic_fetch_add(&in->received, 1);
	if (msg->payloadlen < 0 || msg->payloadlen > MQTT_MAX_PAYLOAD) {
		char why[96];
		snprintf(why, sizeof(why), "a payload of %d bytes, over the limit of %d",
			 msg->payloadlen, MQTT_MAX_PAYLOAD);
		reject(in, R_PAYLOAD_TOO_LARGE, msg->topic, why, -1);
		return;
	}
	store_batch_init(&b);
	if (validate(in, msg->topic, msg->payload, msg->payloadlen, &b) == 0 && b.n > 0) {
		if (g->b.n + b.n > in->group_rows)
			group_commit(in); /* no room left: what came before goes first */
		batch_append(&g->b, &b);
		hold(g, msg);
		if (g->n >= GROUP_MAX_MSGS || g->bytes >= GROUP_MAX_BYTES ||
		    g->b.n >= in->group_rows)
			g->full = true;
	}
	store_batch_release(&b);
}

/* --- the connection ------------------------------------------------------- */

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags)
{
	struct mqtt_input *in = ud;

	if (rc != 0) {
		in->refused_rc = rc;
		return;
	}
	in->session_up = true;
	in->session_start = mono_ms();
	atomic_store(&in->connected, 1);
	if (in->ever_connected)
		atomic_fetch_add(&in->reconnects, 1);
	if (in->ever_connected && !(flags & 1))
		log_warn("mqtt",
			 "the broker at %s did not keep the session of '%s' (restarted without "
			 "persistence, or the session expired): messages published while "
			 "kilowatt was disconnected are lost",
			 in->set.url_shown, in->client_id);
	else if (!in->quiet)
		log_info("mqtt", "connected to %s as '%s' (%s)", in->set.url_shown, in->client_id,
			 flags & 1 ? "session resumed" : "new session");
	in->ever_connected = true;
	in->failed_attempts = 0;
	/* A resumed session has the subscriptions already; subscribing again
	 * is harmless and applies a changed mqtt.qos or a new filter. */
	for (int i = 0; i < in->set.nfilters; i++) {
		const struct mqtt_filter *f = &in->set.filters[i];
		if ((rc = mosquitto_subscribe(m, &in->mid[i], f->sub, in->qos)) != MOSQ_ERR_SUCCESS)
			log_error("mqtt", "cannot subscribe to '%s': %s", f->sub,
				  mosquitto_strerror(rc));
	}
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct mqtt_input *in = ud;
	const char *name = "?";

	for (int i = 0; i < in->set.nfilters; i++)
		if (in->mid[i] == mid)
			name = in->set.filters[i].sub;
	for (int i = 0; i < n; i++) {
		if (granted[i] == 0x80)
			log_error("mqtt",
				  "the broker at %s refused the subscription to '%s': check "
				  "mqtt.topics and the broker's ACL",
				  in->set.url_shown, name);
		else if (!in->quiet) /* from here on, the broker keeps messages for us */
			log_info("mqtt", "subscribed to '%s' (QoS %d)", name, granted[i]);
	}
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct mqtt_input *in = ud;
	in->lost_rc = rc;
	in->lost_errno = errno; /* before libmosquitto closes the socket */
	atomic_store(&in->connected, 0);
}

static void describe(struct mqtt_input *in, int rc, int err_no)
{
	size_t n;
	static const char *const refusals[] = {
		"", "unacceptable protocol version", "client id rejected (check mqtt.client_id)",
		"broker unavailable",
		"bad user name or password (check the user and password in mqtt.url)",
		/* what Mosquitto 2 answers to a wrong password too */
		"not authorised (check the user and password in mqtt.url and the broker's ACL)"
	};
	if (in->refused_rc > 0 && in->refused_rc < 6)
		snprintf(in->last_error, sizeof(in->last_error),
			 "the broker refused the connection: %s", refusals[in->refused_rc]);
	else if (rc == MOSQ_ERR_ERRNO)
		snprintf(in->last_error, sizeof(in->last_error), "%s", strerror(err_no));
	else
		snprintf(in->last_error, sizeof(in->last_error), "%s", mosquitto_strerror(rc));
	n = strlen(in->last_error); /* libmosquitto's sentences end with a full stop */
	if (n > 0 && in->last_error[n - 1] == '.')
		in->last_error[n - 1] = '\0';
}

/* A connection attempt failed: the first of a run is logged. */
static void attempt_failed(struct mqtt_input *in)
{
	atomic_fetch_add(&in->connect_failures, 1);
	if (in->failed_attempts++ == 0)
		log_warn("mqtt",
			 "cannot connect to the MQTT broker at %s: %s; retrying with backoff "
			 "(up to %d s), the rest of kilowatt works meanwhile",
			 in->set.url_shown, in->last_error, BACKOFF_MAX_MS / 1000);
}

static void summarize(struct mqtt_input *in)
{
	char line[600];
	size_t n = 0;
	int64_t now = mono_ms();

	if (now < in->next_summary)
		return;
	in->next_summary = now + SUMMARY_MS;
	for (int r = 0; r < NREJECT; r++)
		if (in->unreported_reject[r])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu",
					      reject_names[r], in->unreported_reject[r]);
	if (n)
		log_warn("mqtt", "more messages rejected in the last %d s:%s", SUMMARY_MS / 1000,
			 line);
	memset(in->unreported_reject, 0, sizeof(in->unreported_reject));
	n = 0;
	for (int f = 0; f < NFAIL; f++)
		if (in->unreported_fail[f])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu", fail_names[f],
					      in->unreported_fail[f]);
	if (n)
		log_warn("mqtt", "more failed commits in the last %d s (retried):%s",
			 SUMMARY_MS / 1000, line);
	memset(in->unreported_fail, 0, sizeof(in->unreported_fail));
	if (in->failed_attempts > 1)
		log_warn("mqtt", "still cannot connect to %s after %u attempts: %s",
			 in->set.url_shown, in->failed_attempts, in->last_error);
	if (in->unreported_lost)
		log_warn("mqtt",
			 "lost the connection to %s %u more times in the last %d s (is another "
			 "client using the client id '%s'?)",
			 in->set.url_shown, in->unreported_lost, SUMMARY_MS / 1000, in->client_id);
	in->unreported_lost = 0;
}

/* The session ended while running: logged at most once per SUMMARY_MS. */
static void session_lost(struct mqtt_input *in)
{
	int64_t now = mono_ms();

	if (in->lost_logged && now - in->lost_logged < SUMMARY_MS) {
		in->unreported_lost++;
		in->quiet = true;
		return;
	}
	in->lost_logged = now;
	in->quiet = false;
	log_warn("mqtt", "lost the connection to %s: %s; reconnecting", in->set.url_shown,
		 in->last_error);
}

/* Waits up to ms for fd to become readable or writable. */
static void wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { fd, events, 0 };
	poll(&p, 1, ms);
}

/*
 * At stop, connected: the queued PUBACKs are written, then DISCONNECT, then
 * our side is shut for writing and the socket read (and dropped) until the
 * broker closes it.  libmosquitto's own disconnect cannot be used: it
 * close()s the socket right after DISCONNECT, and a close with unread data
 * (messages the broker kept sending) makes the kernel send RST, upon which
 * the broker may drop the connection before reading our last PUBACKs.
 * Messages that arrive now are not read by libmosquitto, so they are
 * neither committed nor acknowledged: the broker keeps them for next time.
 */
static void finish(struct mqtt_input *in)
{
	static const unsigned char disconnect[2] = { 0xe0, 0x00 }; /* MQTT 3.1.1 DISCONNECT */
	int64_t t0 = mono_ms();
	int rc = MOSQ_ERR_SUCCESS, fd;
	size_t sent = 0;
	char sink[4096];

	while (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(in->mosq) &&
	       mono_ms() - t0 < DRAIN_MS) {
		rc = mosquitto_loop_write(in->mosq, 1);
		if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(in->mosq))
			wait_fd(mosquitto_socket(in->mosq), POLLOUT, 100);
	}
	if (rc != MOSQ_ERR_SUCCESS || (fd = mosquitto_socket(in->mosq)) < 0)
		return; /* the connection is gone already */
	while (sent < sizeof(disconnect) && mono_ms() - t0 < DRAIN_MS) {
		ssize_t n = send(fd, disconnect + sent, sizeof(disconnect) - sent, MSG_NOSIGNAL);
		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		else
			wait_fd(fd, POLLOUT, 100);
	}
	shutdown(fd, SHUT_WR);
	while (mono_ms() - t0 < DRAIN_MS) {
		ssize_t n = recv(fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break; /* the broker has closed its side */
		if (n < 0)
			wait_fd(fd, POLLIN, 100);
	}
	atomic_store(&in->connected, 0);
	log_info("mqtt", "disconnected from %s", in->set.url_shown);
}

/* Reads the packets at hand, until none is left, the group is full or the
 * connection ends. */
static int read_all(struct mqtt_input *in)
{
	for (int i = 0; i < READ_MAX_PACKETS; i++) {
		int rc = mosquitto_loop_read(in->mosq, 1);
		struct pollfd p = { mosquitto_socket(in->mosq), POLLIN, 0 };
		if (rc != MOSQ_ERR_SUCCESS || p.fd < 0 || in->group.full || poll(&p, 1, 0) <= 0)
			return rc;
	}
	return MOSQ_ERR_SUCCESS;
}

/*
 * One turn of the connection (in place of mosquitto_loop(), whose write
 * phase could not wait for our commit): wait up to wait_ms for the
 * socket; read what is there, taking messages into the group; commit the
 * group; only then write what libmosquitto queued, the group's PUBACKs
 * included (invariant 1); then the keepalive.  So one commit serves every
 * message the broker had in flight, up to the group's limits.
 */
static int turn(struct mqtt_input *in, int wait_ms)
{
	int rc = MOSQ_ERR_SUCCESS;
	struct pollfd p = { mosquitto_socket(in->mosq), POLLIN, 0 };

	if (p.fd < 0)
		return MOSQ_ERR_NO_CONN;
	if (mosquitto_want_write(in->mosq))
		p.events |= POLLOUT;
	if (poll(&p, 1, wait_ms) < 0 && errno != EINTR)
		return MOSQ_ERR_ERRNO;
	if (p.revents & (POLLIN | POLLHUP | POLLERR))
		rc = read_all(in);
	group_commit(in);
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(in->mosq) < 0)
		return rc ? rc : MOSQ_ERR_NO_CONN;
	if (mosquitto_want_write(in->mosq) &&
	    (rc = mosquitto_loop_write(in->mosq, 1)) != MOSQ_ERR_SUCCESS)
		return rc;
	return mosquitto_socket(in->mosq) < 0 ? MOSQ_ERR_NO_CONN : mosquitto_loop_misc(in->mosq);
}

/* One connection, from connect to its end; returns whether it held a session
 * long enough (STABLE_MS) to start the reconnect backoff afresh. */
static bool run_connection(struct mqtt_input *in)
{
	int64_t t0 = mono_ms();
	int rc;

	in->session_up = false;
	in->refused_rc = in->lost_rc = in->lost_errno = 0;
	rc = mosquitto_connect_async(in->mosq, in->set.host, in->set.port, KEEPALIVE_S);
	if (rc != MOSQ_ERR_SUCCESS) {
		describe(in, rc, errno);
		attempt_failed(in);
		return false;
	}
	do {
		rc = turn(in, LOOP_WAIT_MS);
		summarize(in);
		if (rc == MOSQ_ERR_SUCCESS && !in->session_up &&
		    mono_ms() - t0 > CONNECT_TIMEOUT_MS) {
			snprintf(in->last_error, sizeof(in->last_error), "no answer within %d s",
				 CONNECT_TIMEOUT_MS / 1000);
			attempt_failed(in);
			return false; /* the next connect closes the socket */
		}
	} while (rc == MOSQ_ERR_SUCCESS && !is_stopping(in));
	if (rc == MOSQ_ERR_SUCCESS) {
		if (in->session_up)
			finish(in);
		return false;
	}
	describe(in, in->lost_rc ? in->lost_rc : rc, in->lost_rc ? in->lost_errno : errno);
	atomic_store(&in->connected, 0);
	if (!in->session_up)
		attempt_failed(in);
	else if (!is_stopping(in))
		session_lost(in);
	return in->session_up && mono_ms() - in->session_start >= STABLE_MS;
}

/* ms +-20 %, so that instances do not reconnect in lockstep. */
static unsigned jitter(struct mqtt_input *in, unsigned ms)
{
	in->rng ^= in->rng << 13;
	in->rng ^= in->rng >> 7;
	in->rng ^= in->rng << 17;
	return (unsigned)((uint64_t)ms * (80 + in->rng % 41) / 100);
}

static void *thread_main(void *arg)
{
	struct mqtt_input *in = arg;
	unsigned backoff = BACKOFF_MIN_MS;

	in->next_summary = mono_ms() + SUMMARY_MS;
	in->rng = (uint64_t)mono_ms() * 2654435761u ^ (uint64_t)(uintptr_t)in ^ 1;
	while (!is_stopping(in)) {
		if (run_connection(in))
			backoff = BACKOFF_MIN_MS;
		summarize(in);
		if (!pause_ms(in, jitter(in, backoff)))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	uv_async_send(&in->exited); /* invariant 4: the last act */
	return NULL;
}

/* --- life cycle ----------------------------------------------------------- */

static void input_free(struct mqtt_input *in)
{
	if (!in)
		return;
	if (in->mosq)
		mosquitto_destroy(in->mosq);
	mosquitto_lib_cleanup();
	group_clear(in);
	free(in->group.msgs);
	store_batch_release(&in->group.b);
	mqtt_settings_release(&in->set);
	free(in->client_id);
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

/* [loop] After the thread's exit and the handle's close. */
static void on_closed(uv_handle_t *h)
{
	struct mqtt_input *in = h->data;
	void (*cb)(void *) = in->close_cb;
	void *ud = in->close_ud;
	input_free(in);
	if (cb)
		cb(ud);
}

/* [loop] The thread has sent its last signal: the join is immediate. */
static void on_exited(uv_async_t *a)
{
	struct mqtt_input *in = a->data;
	pthread_join(in->thread, NULL);
	uv_close((uv_handle_t *)&in->exited, on_closed);
}

void mqtt_input_close(struct mqtt_input *in, void (*cb)(void *ud), void *ud)
{
	in->close_cb = cb;
	in->close_ud = ud;
	pthread_mutex_lock(&in->mu);
	atomic_store(&in->stopping, true);
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->mu);
}

static int make_client(struct mqtt_input *in, char *err, size_t errlen)
{
	if (!(in->mosq = mosquitto_new(in->client_id, false, in))) {
		snprintf(err, errlen, "mqtt.client_id: '%.64s' is not a usable client id: %s",
			 in->client_id, strerror(errno));
		return KW_ECONFIG;
	}
	mosquitto_int_option(in->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_threaded_set(in->mosq, true); /* PUBACK after on_message (see above) */
	if (in->set.user && mosquitto_username_pw_set(in->mosq, in->set.user, in->set.pass) != 0) {
		snprintf(err, errlen, "mqtt.url: the user name or password is not valid UTF-8");
		return KW_ECONFIG;
	}
	mosquitto_connect_with_flags_callback_set(in->mosq, on_connect);
	mosquitto_disconnect_callback_set(in->mosq, on_disconnect);
	mosquitto_subscribe_callback_set(in->mosq, on_subscribe);
	mosquitto_message_callback_set(in->mosq, on_message);
	return 0;
}

int mqtt_input_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		     struct bridge *br, struct mqtt_input **out, char *err, size_t errlen)
{
	struct mqtt_input *in;
	int rc;

	*out = NULL;
	if (!cfg->mqtt_url || !*cfg->mqtt_url)
		return 0;
	mosquitto_lib_init();
	in = xcalloc(1, sizeof(*in));
	in->loop = loop;
	in->store = store;
	in->br = br;
	in->qos = (int)cfg->mqtt_qos;
	in->auto_create = cfg->ingest_auto_create_devices;
	in->max_future_ms = cfg->ingest_max_future_s * 1000;
	in->max_rows = (size_t)cfg->storage_queue_max_rows;
	in->group_rows = in->max_rows < GROUP_MAX_ROWS ? in->max_rows : GROUP_MAX_ROWS;
	store_batch_init(&in->group.b);
	in->client_id = xstrdup(cfg->mqtt_client_id ? cfg->mqtt_client_id : "");
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cond, NULL);
	if ((rc = mqtt_settings_init(&in->set, cfg->mqtt_url, cfg->mqtt_topics, err, errlen)) != 0)
		goto out;
	if (!*in->client_id) {
		snprintf(err, errlen,
			 "mqtt.client_id: empty (a persistent session needs a fixed id)");
		rc = KW_ECONFIG;
		goto out;
	}
	if ((rc = make_client(in, err, errlen)) != 0)
		goto out;
	uv_async_init(loop, &in->exited, on_exited);
	in->exited.data = in;
	if ((rc = pthread_create(&in->thread, NULL, thread_main, in)) != 0) {
		snprintf(err, errlen, "mqtt: cannot start its thread: %s", strerror(rc));
		uv_close((uv_handle_t *)&in->exited, on_closed); /* frees in */
		return -rc;
	}
out:
	if (rc) {
		input_free(in);
		return rc;
	}
	log_info("mqtt", "taking readings from %s, topics '%s', QoS %d, client id '%s'",
		 in->set.url_shown, cfg->mqtt_topics, in->qos, in->client_id);
	*out = in;
	return 0;
}

static void counter(struct kwbuf *out, const char *name, const char *help, unsigned long long v)
{
	kwbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

void mqtt_input_metrics(void *input, struct kwbuf *out)
{
	struct mqtt_input *in = input;

	kwbuf_printf(out,
		     "# HELP kilowatt_mqtt_connected 1 while connected to the MQTT broker.\n"
		     "# TYPE kilowatt_mqtt_connected gauge\nkilowatt_mqtt_connected %d\n",
		     atomic_load(&in->connected));
	counter(out, "kilowatt_mqtt_reconnects_total",
		"Sessions established again after the first one.", atomic_load(&in->reconnects));
	counter(out, "kilowatt_mqtt_connect_failures_total",
		"Connection attempts that failed (refused, unreachable, timed out).",
		atomic_load(&in->connect_failures));
	counter(out, "kilowatt_mqtt_messages_received_total",
		"MQTT messages received, redeliveries included.", atomic_load(&in->received));
	counter(out, "kilowatt_mqtt_commits_total",
		"Commits of MQTT readings (each holds the messages read together).",
		atomic_load(&in->commits));
	counter(out, "kilowatt_mqtt_readings_committed_total",
		"New readings committed from MQTT messages.", atomic_load(&in->readings));
	counter(out, "kilowatt_mqtt_readings_duplicate_total",
		"Readings already stored with the same value (redeliveries).",
		atomic_load(&in->duplicates));
	counter(out, "kilowatt_mqtt_readings_conflict_total",
		"Readings already stored with another value (the first value kept).",
		atomic_load(&in->conflicts));
	kwbuf_printf(out, "# HELP kilowatt_mqtt_rejected_total Messages acknowledged "
			  "without storing anything, by reason.\n"
			  "# TYPE kilowatt_mqtt_rejected_total counter\n");
	for (int r = 0; r < NREJECT; r++)
		kwbuf_printf(out, "kilowatt_mqtt_rejected_total{reason=\"%s\"} %llu\n",
			     reject_names[r], atomic_load(&in->rejected[r]));
	kwbuf_printf(out, "# HELP kilowatt_mqtt_commit_failures_total Commits of a message that "
			  "failed (the message was retried or left unacknowledged), by reason.\n"
			  "# TYPE kilowatt_mqtt_commit_failures_total counter\n");
	for (int f = 0; f < NFAIL; f++)
		kwbuf_printf(out, "kilowatt_mqtt_commit_failures_total{reason=\"%s\"} %llu\n",
			     fail_names[f], atomic_load(&in->commit_failures[f]));
	counter(out, "kilowatt_mqtt_unacknowledged_total",
		"Messages left unacknowledged by dropping the connection (stopping with a "
		"failed commit); the broker delivers them again.",
		atomic_load(&in->withheld));
}
