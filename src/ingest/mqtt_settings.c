/*
 * mqtt_settings.c - mqtt.url and mqtt.topics read into struct mqtt_settings,
 * and the device a topic names (contract and forms in mqtt_settings.h).
 *
 * Design: the url is split at its last '@' (a password may hold one) into
 * user[:password] and host[:port]; the user and password are
 * percent-decoded.  Filters are checked and topics matched by libmosquitto
 * (mosquitto_sub_topic_check(), mosquitto_topic_matches_sub()): pure
 * functions, so this file and mqtt.c together are the MQTT input's adapter.
 *
 * Invariants:
 *  1. No part of mqtt.url goes into an error message: it may hold a
 *     password.  url_shown never holds the password.
 *  2. A decoded user name or password holds no NUL (%00 is refused).
 *  3. Every filter kept is non-empty and valid: '+' and '#' fill a whole
 *     level, '#' only the last, at most 65,535 bytes.  So matching needs no
 *     error path.
 *  4. On failure nothing is left allocated; on success each string has one
 *     owner, the struct (match points into sub).
 *
 * Threading: none of its own; reentrant.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <mosquitto.h>
#include <string.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "ingest/mqtt_settings.h"
#include "core/banned.h"

#define FILTER_MAX_BYTES 65535 /* an MQTT string's limit */

/* --- mqtt.url ------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into a new string, or NULL on a bad escape. */
static char *decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { /* no NUL inside */
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* No part of the url goes into the message (invariant 1). */
static int url_error(char *err, size_t errlen, const char *fmt, const char *arg)
{
	char msg[300];
	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(err, errlen,
		 "mqtt.url: %s (expected mqtt://[user:password@]host[:port], with %%XX for "
		 "special characters in the user and password)",
		 msg);
	return KW_ECONFIG;
}

/* Splits authority "[user[:pass]@]host[:port]" into s's fields. */
static int parse_authority(struct mqtt_settings *s, const char *a, size_t n, char *err,
			   size_t errlen)
{
	const char *at = NULL, *h = a, *colon = NULL, *end = a + n;
	long port = 1883;

	for (const char *p = a; p < end; p++) /* the last '@': a password may hold one */
		if (*p == '@')
			at = p;

	if (at) {
		const char *c = memchr(a, ':', (size_t)(at - a));
		size_t ulen = (size_t)((c ? c : at) - a);
		if (ulen == 0)
			return url_error(err, errlen, "%s", "the user name before '@' is empty");
		if (!(s->user = decode(a, ulen)) ||
		    (c && !(s->pass = decode(c + 1, (size_t)(at - c - 1)))))
			return url_error(err, errlen, "%s",
					 "a bad %-escape in the user name or password");
		h = at + 1;
	}
	if (h < end && *h == '[') { /* [IPv6 literal] */
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return url_error(err, errlen, "%s", "a '[' without its ']'");
		s->host = xstrndup(h + 1, (size_t)(rb - h - 1));
		if (rb + 1 < end && rb[1] != ':')
			return url_error(err, errlen, "%s",
					 "something after ']' that is not :port");
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		s->host = xstrndup(h, (size_t)((colon ? colon : end) - h));
	}
	if (!*s->host)
		return url_error(err, errlen, "%s", "the host is empty");
	if (colon) {
		char buf[8] = "";
		size_t plen = (size_t)(end - colon - 1);
		char *pend;
		if (plen == 0 || plen >= sizeof(buf))
			return url_error(err, errlen, "%s",
					 "the port must be a number from 1 to 65535");
		memcpy(buf, colon + 1, plen);
		port = strtol(buf, &pend, 10);
		if (*pend || buf[0] < '0' || buf[0] > '9' || port < 1 || port > 65535)
			return url_error(err, errlen, "%s",
					 "the port must be a number from 1 to 65535");
	}
	s->port = (int)port;
	return 0;
}

static int parse_url(struct mqtt_settings *s, const char *url, char *err, size_t errlen)
{
	static const char scheme[] = "mqtt://";
	const char *a, *slash;
	int rc;

	if (strncmp(url, "mqtts://", 8) == 0 || strncmp(url, "ssl://", 6) == 0)
		return url_error(err, errlen, "%s", "TLS (mqtts://) is not supported yet");
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return url_error(err, errlen, "%s", "the scheme must be mqtt://");
	a = url + sizeof(scheme) - 1;
	if (strpbrk(a, "?# \t"))
		return url_error(err, errlen, "%s", "a query, fragment or space is not allowed");
	slash = strchr(a, '/');
	if (slash && slash[1] != '\0')
		return url_error(err, errlen, "%s",
				 "a path is not used: the topics come from mqtt.topics");
	if ((rc = parse_authority(s, a, (size_t)((slash ? slash : a + strlen(a)) - a), err,
				  errlen)) != 0)
		return rc;
	snprintf(s->url_shown, sizeof(s->url_shown), "mqtt://%s%s%s%s%s%s:%d",
		 s->user ? s->user : "", s->pass ? ":***" : "", s->user ? "@" : "",
		 strchr(s->host, ':') ? "[" : "", s->host, strchr(s->host, ':') ? "]" : "",
		 s->port);
	return 0;
}

/* --- mqtt.topics ---------------------------------------------------------- */

/* Whether filter is a valid topic filter (invariant 3). */
static bool filter_valid(const char *filter)
{
	return strlen(filter) <= FILTER_MAX_BYTES &&
	       mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS;
}

/* The 0-based level of the last "+" in filter, or -1. */
static int last_plus_level(const char *filter)
{
	int level = 0, found = -1;
	for (const char *p = filter;; p++) {
		if ((p == filter || p[-1] == '/') && p[0] == '+' && (p[1] == '/' || p[1] == '\0'))
			found = level;
		if (*p == '\0')
			return found;
		if (*p == '/')
			level++;
	}
}

static int parse_topics(struct mqtt_settings *s, const char *topics, char *err, size_t errlen)
{
	const char *p = topics;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *b = p, *e = p + n;
		p = *e ? e + 1 : e;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			continue;
		if (s->nfilters == MQTT_MAX_FILTERS) {
			snprintf(err, errlen, "mqtt.topics: more than %d topic filters",
				 MQTT_MAX_FILTERS);
			return KW_ECONFIG;
		}
		struct mqtt_filter *f = &s->filters[s->nfilters++];
		f->sub = xstrndup(b, (size_t)(e - b));
		f->match = f->sub;
		if (strncmp(f->sub, "$share/", 7) == 0) { /* $share/<group>/<filter> */
			char *g = strchr(f->sub + 7, '/');
			f->match = g && g > f->sub + 7 ? g + 1 : "";
		}
		if (!*f->match || !filter_valid(f->match)) {
			snprintf(
			    err, errlen,
			    "mqtt.topics: '%.200s' is not a valid topic filter ('+' and '#' "
			    "fill a whole level, '#' only the last; $share/<group>/<filter> for "
			    "a shared subscription)",
			    f->sub);
			return KW_ECONFIG;
		}
		f->plus_level = last_plus_level(f->match);
	}
	if (s->nfilters == 0) {
		snprintf(err, errlen, "mqtt.topics: no topic filter to subscribe to");
		return KW_ECONFIG;
	}
	return 0;
}

int mqtt_settings_init(struct mqtt_settings *s, const char *url, const char *topics, char *err,
		       size_t errlen)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = parse_url(s, url, err, errlen)) != 0 ||
	    (rc = parse_topics(s, topics ? topics : "", err, errlen)) != 0)
		mqtt_settings_release(s);
	return rc;
}

void mqtt_settings_release(struct mqtt_settings *s)
{
	for (int i = 0; i < s->nfilters; i++)
		free(s->filters[i].sub);
	free(s->host);
	free(s->user);
	free(s->pass);
	memset(s, 0, sizeof(*s));
}

/* --- topics --------------------------------------------------------------- */

bool mqtt_settings_topic_matches(const char *filter, const char *topic)
{
	bool match = false;
	if (!*topic) /* libmosquitto would refuse it too, as an error */
		return false;
	return mosquitto_topic_matches_sub(filter, topic, &match) == MOSQ_ERR_SUCCESS && match;
}

int mqtt_settings_topic_device(const struct mqtt_settings *s, const char *topic, char *out,
			       size_t outlen)
{
	for (int i = 0; i < s->nfilters; i++) {
		const struct mqtt_filter *f = &s->filters[i];
		const char *p = topic;
		size_t n;

		if (f->plus_level < 0 || !mqtt_settings_topic_matches(f->match, topic))
			continue;
		for (int l = 0; l < f->plus_level && p; l++) /* it matched: the levels exist */
			if ((p = strchr(p, '/')) != NULL)
				p++;
		if (!p || (n = strcspn(p, "/")) == 0)
			return 0;
		if (n >= outlen)
			return -1;
		memcpy(out, p, n);
		out[n] = '\0';
		return 1;
	}
	return 0;
}
