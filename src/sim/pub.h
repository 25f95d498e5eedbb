/*
 * pub.h - where `kilowatt simulate` sends readings: one `const struct
 * sim_pub_ops` per destination (http, mqtt, amqp, stdout), chosen by the
 * URL's scheme.  Each publisher is the only file that includes its library.
 *
 * The contract, shared by all:
 *  - A reading counts as sent only when the target confirmed it: HTTP 2xx,
 *    MQTT PUBACK (QoS 1), AMQP basic.ack under publisher confirms.  The
 *    publisher reports each confirmation through opts.confirm.
 *  - Delivery is at least once: after a lost connection the simulator sends
 *    every unconfirmed reading again (kilowatt stores a repeated reading as
 *    a duplicate, so this never counts energy twice).
 *  - Errors are one of three kinds, told apart by the code:
 *      KW_EDENIED   credentials refused            -> exit, never retried
 *      KW_ECONFIG   nothing usable at that address -> exit, never retried
 *                   (no kilowatt API there, unknown vhost or exchange)
 *      KW_EINVAL    the target refused a reading   -> exit, never retried
 *      other        transient (refused or lost connection, timeout, 5xx)
 *                   -> reconnect with backoff and send again
 *    always with err filled with a message naming the address and cause.
 *
 * Threading: every function runs on the simulator's one thread, and
 * confirm is called from inside send() or poll().
 */
#ifndef KW_SIM_PUB_H
#define KW_SIM_PUB_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/url.h"
#include "sim/window.h"

#define SIM_PUB_ERR_MAX 2048

struct sim_pub_opts {
	const char *device; /* the device id, sent as device_id */
	const char *token;  /* http: the bearer token, or NULL */
	size_t window;	    /* at most this many readings in flight */
	int connect_timeout_ms;
	/*
	 * A reading was settled: rc 0 = confirmed; -EAGAIN = refused for now
	 * (AMQP nack), send again; KW_EINVAL = can never be delivered as is
	 * (unroutable, refused), why says so.
	 */
	void (*confirm)(void *ud, uint64_t seq, int rc, const char *why);
	void *ud;
};

struct sim_pub_ops {
	const char *name;
	/* Allocates the publisher; no I/O.  KW_EINVAL with err on bad options. */
	int (*open)(const struct sim_url *u, const struct sim_pub_opts *o, void **st, char *err,
		    size_t errlen);
	/* Connects (blocking, bounded by o.connect_timeout_ms) and checks that
	 * the target accepts us. */
	int (*connect)(void *st, char *err, size_t errlen);
	/* Sends the first readings of m[0..n) (n >= 1); returns how many it
	 * took (>= 1 unless it must wait for confirmations first), or an error. */
	int (*send)(void *st, const struct sim_msg *m, size_t n, char *err, size_t errlen);
	/* Waits at most timeout_ms for confirmations and handles them.
	 * Returns 0 or an error (the connection is then unusable). */
	int (*poll)(void *st, int timeout_ms, char *err, size_t errlen);
	/* Drops the connection (after an error, or at the end); connect()
	 * may be called again. */
	void (*disconnect)(void *st);
	void (*free)(void *st);
};

extern const struct sim_pub_ops sim_pub_http;
extern const struct sim_pub_ops sim_pub_mqtt;
extern const struct sim_pub_ops sim_pub_amqp;
extern const struct sim_pub_ops sim_pub_stdout;

/* The publisher for a scheme. */
const struct sim_pub_ops *sim_pub_for(enum sim_scheme s);

/* true for the error kinds that are never retried (above). */
bool sim_pub_fatal(int rc);

/*
 * Writes the seed-000 message of m into buf:
 *   {"timestamp":1570654800000,"device_id":"...","measurement_value":0.1}
 * The value is written in the shortest form that reads back exactly.
 * device_json is the device id already JSON-escaped with its quotes
 * (sim_pub_json_string).  Returns the length, or -1 if it does not fit.
 */
#define SIM_MSG_MAX 512
int sim_pub_format(char *buf, size_t len, const char *device_json, const struct sim_msg *m);

/* v in the shortest %g form that reads back as v; -1 if it does not fit. */
int sim_pub_number(char *buf, size_t len, double v);

/* s as a JSON string with quotes into buf; -1 if it does not fit. */
int sim_pub_json_string(char *buf, size_t len, const char *s);

/* Copies tmpl into buf with every "{device}" replaced by device; -1 if it
 * does not fit. */
int sim_pub_expand(char *buf, size_t len, const char *tmpl, const char *device);

/* Sleeps ms milliseconds, less if a signal arrives (for publishers with
 * nothing to wait for in poll()). */
void sim_pub_sleep(int ms);

#endif
