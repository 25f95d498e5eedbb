/*
 * mqtt_settings.h - the MQTT input's settings mqtt.url and mqtt.topics read
 * into values, and the device a topic names through those filters.  Pure:
 * no I/O, no globals (topic filters are checked and matched with
 * libmosquitto's pure functions, MQTT 3.1.1 section 4.7).
 * mqtt.c is the user; docs/MQTT.md is the user's side of both settings.
 *
 *   mqtt.url     mqtt://[user[:password]@]host[:port]  (port 1883 by
 *                default; an IPv6 host in [ ]; %XX escapes in the user and
 *                password; a trailing '/' allowed, nothing after it)
 *   mqtt.topics  comma-separated topic filters, blanks around each ignored;
 *                "$share/<group>/<filter>" subscribes to a shared filter
 *
 * Thread-safety: reentrant; a struct mqtt_settings is read-only once
 * initialised and may then be read from any thread.
 */
#ifndef KW_INGEST_MQTT_SETTINGS_H
#define KW_INGEST_MQTT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

/* The most filters mqtt.topics may list. */
#define MQTT_MAX_FILTERS 64

/* One filter of mqtt.topics. */
struct mqtt_filter {
	char *sub;	   /* as subscribed, "$share/<group>/..." included; never empty */
	const char *match; /* the filter a topic is matched against: sub without its
			      "$share/<group>/" (points into sub); never empty, valid */
	int plus_level;	   /* 0-based level of match's last '+', or -1 */
};

/*
 * Both settings, decoded.  The strings are owned by the struct and freed by
 * mqtt_settings_release().
 */
struct mqtt_settings {
	char *host;	     /* never empty; an IPv6 literal without its [ ] */
	char *user;	     /* percent-decoded; NULL when the url names none */
	char *pass;	     /* percent-decoded; NULL when the url names none, "" for "user:@" */
	int port;	     /* 1..65535 */
	char url_shown[320]; /* the url without its password ("user:***@"), for logs */
	struct mqtt_filter filters[MQTT_MAX_FILTERS]; /* in mqtt.topics order */
	int nfilters;				      /* 1..MQTT_MAX_FILTERS */
};

/*
 * Reads url (mqtt.url, not NULL) and topics (mqtt.topics; NULL reads as "")
 * into s, whose previous content is ignored.  Returns 0, or KW_ECONFIG with
 * a message in err (truncated to errlen) naming the setting and what is
 * wrong; s then holds nothing to release.  url is checked first.  The
 * messages:
 *   "mqtt.url: <why> (expected mqtt://[user:password@]host[:port], ...)",
 *     <why> never quoting the url, which may hold a password:
 *     "TLS (mqtts://) is not supported yet" (mqtts:// and ssl://),
 *     "the scheme must be mqtt://",
 *     "a query, fragment or space is not allowed" ('?', '#', ' ' or tab),
 *     "a path is not used: the topics come from mqtt.topics",
 *     "the user name before '@' is empty",
 *     "a bad %-escape in the user name or password" (also %00),
 *     "a '[' without its ']'",
 *     "something after ']' that is not :port",
 *     "the host is empty",
 *     "the port must be a number from 1 to 65535";
 *   "mqtt.topics: more than 64 topic filters",
 *   "mqtt.topics: '<filter>' is not a valid topic filter (...)" (the
 *     filter cut to 200 bytes),
 *   "mqtt.topics: no topic filter to subscribe to".
 * The user name and password are not checked for UTF-8 here.
 */
int mqtt_settings_init(struct mqtt_settings *s, const char *url, const char *topics, char *err,
		       size_t errlen);

/* Frees s's strings and empties it; s may be empty (zeroed) already. */
void mqtt_settings_release(struct mqtt_settings *s);

/*
 * The device the topic names: the level matched by the last '+' of the
 * first filter (in mqtt.topics order) that has a '+' and matches topic.
 * Returns 1 with that level copied into out (NUL-terminated), 0 when no
 * filter names one or the level is empty, -1 when the level does not fit
 * out (outlen bytes, its NUL included); out is then unchanged.
 */
int mqtt_settings_topic_device(const struct mqtt_settings *s, const char *topic, char *out,
			       size_t outlen);

/*
 * Whether topic (a topic name, as received) matches filter, which must be
 * valid (the match of a struct mqtt_filter).  '+' matches one whole level,
 * empty included; a last '#' matches the rest, none included ("a/#"
 * matches "a"); neither matches a first level starting with '$' ("#" does
 * not match "$SYS/x").  An empty topic, or one holding '+' or '#', matches
 * nothing.
 */
bool mqtt_settings_topic_matches(const char *filter, const char *topic);

#endif
