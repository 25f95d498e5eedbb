/*
 * pub_mqtt.c - the simulator's MQTT publisher: QoS 1 through libmosquitto
 * (the only file of the simulator that includes <mosquitto.h>; the input
 * side lives in ingest/mqtt.c and shares nothing with this one).
 *
 * Design: the client runs on the simulator's thread through mosquitto_loop()
 * (no library thread).  Each reading is one PUBLISH with QoS 1 on the
 * topic; libmosquitto calls on_publish when the broker's PUBACK arrives,
 * and that is the confirmation.  The session is clean and the client id
 * random: after a lost connection the whole client is destroyed and a new
 * one made, so libmosquitto never resends on its own -- the simulator's
 * window resends every unconfirmed reading, and that is the only resend.
 *
 * Invariants:
 *  1. A reading is confirmed only by the PUBACK for its message id.
 *  2. At most `window` PUBLISHes are unacknowledged at once (send() stops
 *     taking readings at that point); seq_of[] maps each of their message
 *     ids to the reading's seq, FREE otherwise.
 *  3. After disconnect() nothing of the old client is left: seq_of[] is all
 *     FREE and in_flight is 0.
 */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "sim/pub.h"
#include "core/banned.h"

#define FREE	    UINT64_MAX
#define MIDS	    65536
#define KEEPALIVE_S 30

struct mqtt_pub {
	struct sim_pub_opts o;
	struct sim_url u;
	char topic[2 * SIM_URL_FIELD_MAX];
	char shown[3 * SIM_URL_FIELD_MAX];
	char device_json[2 * SIM_URL_FIELD_MAX + 8];
	struct mosquitto *mosq;
	int connack;	  /* -1 until CONNACK arrives, then its return code */
	bool lost;	  /* on_disconnect ran */
	size_t in_flight; /* PUBLISHes not acknowledged (invariant 2) */
	uint64_t *seq_of; /* [MIDS] */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
	struct mqtt_pub *p = ud;
	p->connack = rc;
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
	struct mqtt_pub *p = ud;
	p->lost = true;
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
	struct mqtt_pub *p = ud;
	uint64_t seq = p->seq_of[(uint16_t)mid];

	if (seq == FREE)
		return;
	p->seq_of[(uint16_t)mid] = FREE;
	p->in_flight--;
	p->o.confirm(p->o.ud, seq, 0, NULL);
}

static int mqtt_open(const struct sim_url *u, const struct sim_pub_opts *o, void **st, char *err,
		     size_t errlen)
{
	struct mqtt_pub *p = xcalloc(1, sizeof(*p));

	p->o = *o;
	p->u = *u;
	sim_url_redacted(u, p->shown, sizeof(p->shown));
	if (sim_pub_expand(p->topic, sizeof(p->topic),
			   u->path[0] ? u->path : "kilowatt/{device}/measurements",
			   o->device) < 0 ||
	    sim_pub_json_string(p->device_json, sizeof(p->device_json), o->device) < 0) {
		snprintf(err, errlen, "the topic or device id is too long");
		free(p);
		return KW_EINVAL;
	}
	if (strpbrk(p->topic, "+#")) {
		snprintf(err, errlen, "the topic '%s' holds a wildcard (from the device id)",
			 p->topic);
		free(p);
		return KW_EINVAL;
	}
	p->seq_of = xmalloc(MIDS * sizeof(*p->seq_of));
	for (size_t i = 0; i < MIDS; i++)
		p->seq_of[i] = FREE;
	mosquitto_lib_init();
	*st = p;
	return 0;
}

static int connack_error(struct mqtt_pub *p, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s refused the connection: %s", p->shown,
		 mosquitto_connack_string(p->connack));
	/* 4: bad user name or password, 5: not authorized (MQTT 3.1.1). */
	return p->connack == 4 || p->connack == 5 ? KW_EDENIED : -ECONNREFUSED;
}

/* Waits (bounded) for the CONNACK. */
static int await_connack(struct mqtt_pub *p, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + p->o.connect_timeout_ms;

	while (p->connack < 0) {
		int rc = mosquitto_loop(p->mosq, 100, 1);
		if (p->connack >= 0)
			break;
		if (rc != MOSQ_ERR_SUCCESS || p->lost) {
			snprintf(err, errlen, "%s closed the connection before accepting it: %s",
				 p->shown, mosquitto_strerror(rc));
			return -ECONNRESET;
		}
		if (mono_ms() > deadline) {
			snprintf(err, errlen, "%s did not answer the MQTT CONNECT within %d ms",
				 p->shown, p->o.connect_timeout_ms);
			return -ETIMEDOUT;
		}
	}
	return p->connack == 0 ? 0 : connack_error(p, err, errlen);
}

static int mqtt_connect(void *st, char *err, size_t errlen)
{
	struct mqtt_pub *p = st;
	int rc;

	p->mosq = mosquitto_new(NULL, true, p);
	if (!p->mosq)
		abort(); /* out of memory */
	p->connack = -1;
	p->lost = false;
	mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_int_option(p->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_max_inflight_messages_set(p->mosq, (unsigned)p->o.window);
	if (p->u.has_user)
		mosquitto_username_pw_set(p->mosq, p->u.user, p->u.pass[0] ? p->u.pass : NULL);
	mosquitto_connect_callback_set(p->mosq, on_connect);
	mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
	mosquitto_publish_callback_set(p->mosq, on_publish);
	rc = mosquitto_connect(p->mosq, p->u.host, p->u.port, KEEPALIVE_S);
	if (rc == MOSQ_ERR_ERRNO) {
		int e = errno;
		snprintf(err, errlen, "cannot connect to %s: %s", p->shown, strerror(e));
		return e ? -e : -ECONNREFUSED;
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "cannot connect to %s: %s", p->shown, mosquitto_strerror(rc));
		return rc == MOSQ_ERR_EAI ? -EHOSTUNREACH : -ECONNREFUSED;
	}
	return await_connack(p, err, errlen);
}

static int mqtt_send(void *st, const struct sim_msg *m, size_t n, char *err, size_t errlen)
{
	struct mqtt_pub *p = st;
	char payload[SIM_MSG_MAX];
	size_t i;

	for (i = 0; i < n && p->in_flight < p->o.window; i++) {
		int len = sim_pub_format(payload, sizeof(payload), p->device_json, &m[i]);
		int mid = 0, rc;

		if (len < 0) {
			snprintf(err, errlen, "reading %llu does not fit a message",
				 (unsigned long long)m[i].seq);
			return KW_EINVAL;
		}
		rc = mosquitto_publish(p->mosq, &mid, p->topic, len, payload, 1, false);
		if (rc != MOSQ_ERR_SUCCESS || p->seq_of[(uint16_t)mid] != FREE) {
			snprintf(err, errlen, "lost the connection to %s: %s", p->shown,
				 rc ? mosquitto_strerror(rc) : "message id reused while in flight");
			return rc == MOSQ_ERR_OVERSIZE_PACKET ? KW_EINVAL : -ECONNRESET;
		}
		p->seq_of[(uint16_t)mid] = m[i].seq;
		p->in_flight++;
	}
	return (int)i;
}

static int mqtt_poll(void *st, int timeout_ms, char *err, size_t errlen)
{
	struct mqtt_pub *p = st;
	int rc = mosquitto_loop(p->mosq, timeout_ms, 1);

	if (rc == MOSQ_ERR_SUCCESS && !p->lost)
		return 0;
	snprintf(err, errlen, "lost the connection to %s: %s", p->shown,
		 rc ? mosquitto_strerror(rc) : "the broker closed it");
	return -ECONNRESET;
}

static void mqtt_disconnect(void *st)
{
	struct mqtt_pub *p = st;

	if (!p->mosq)
		return;
	if (!p->lost && p->connack == 0) {
		mosquitto_disconnect(p->mosq);
		mosquitto_loop(p->mosq, 0, 1); /* write the DISCONNECT */
	}
	mosquitto_destroy(p->mosq);
	p->mosq = NULL;
	for (size_t i = 0; i < MIDS; i++) /* invariant 3 */
		p->seq_of[i] = FREE;
	p->in_flight = 0;
}

static void mqtt_free(void *st)
{
	struct mqtt_pub *p = st;

	if (!p)
		return;
	mqtt_disconnect(p);
	free(p->seq_of);
	free(p);
	mosquitto_lib_cleanup();
}

const struct sim_pub_ops sim_pub_mqtt = {
	"mqtt", mqtt_open, mqtt_connect, mqtt_send, mqtt_poll, mqtt_disconnect, mqtt_free,
};
