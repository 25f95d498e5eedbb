/*
 * url.h - the destination of `kilowatt simulate --to URL`, parsed and checked
 * before anything connects.
 *
 *   http://host[:port][/prefix]           POST <prefix>/api/v1/measurements (https too)
 *   mqtt://[user[:pass]@]host[:port][/topic]
 *   amqp://[user[:pass]@]host[:port][/vhost][?exchange=X&routing_key=K]
 *   -                                     one JSON message per line on stdout
 *
 * User, password, topic, vhost and query values are percent-decoded.  Every
 * field has a fixed size; a longer one is an error, never truncated.  The
 * string "{device}" in a topic or routing key is replaced with the device id
 * by the publisher (url.c does not know the device).
 *
 * Pure; no I/O; safe from any thread.
 */
#ifndef KW_SIM_URL_H
#define KW_SIM_URL_H

#include <stdbool.h>
#include <stddef.h>

enum sim_scheme { SIM_HTTP, SIM_HTTPS, SIM_MQTT, SIM_AMQP, SIM_STDOUT };

#define SIM_URL_FIELD_MAX 256

struct sim_url {
	enum sim_scheme scheme;
	bool has_user;			     /* userinfo present (mqtt, amqp) */
	char user[SIM_URL_FIELD_MAX];	     /* decoded; amqp default "guest" */
	char pass[SIM_URL_FIELD_MAX];	     /* decoded; amqp default "guest" */
	char host[SIM_URL_FIELD_MAX];	     /* without brackets for IPv6 */
	int port;			     /* 1..65535, the scheme's default if absent */
	char path[SIM_URL_FIELD_MAX];	     /* http: prefix without trailing '/' ("" for none);
						mqtt: topic ("" = default); amqp: vhost */
	char exchange[SIM_URL_FIELD_MAX];    /* amqp; default "kilowatt" */
	char routing_key[SIM_URL_FIELD_MAX]; /* amqp; "" = the device id */
};

/*
 * Parses s into *u.  Returns 0, or KW_EINVAL with err naming the part that
 * is wrong ("unsupported scheme 'ftp' (use http://, mqtt:// or amqp://)",
 * "port '70000' is not a number between 1 and 65535", ...).
 */
int sim_url_parse(const char *s, struct sim_url *u, char *err, size_t errlen);

/* The URL as the user may see it: the password replaced with "***". */
void sim_url_redacted(const struct sim_url *u, char *buf, size_t len);

/* The scheme's name ("http", "mqtt", ...). */
const char *sim_url_scheme_name(enum sim_scheme s);

#endif
