/*
 * url.c - parses the simulator's --to URL (the forms are in url.h).
 *
 * Design: split once into scheme, userinfo, host, port, path and query, each
 * a (pointer, length) view of the input; then the scheme's own rules check
 * and decode the parts into the fixed fields of struct sim_url.
 *
 * Invariants:
 *  1. A field that does not fit is an error, never truncated.
 *  2. A decoded field holds no NUL and no control character.
 *  3. Parts a scheme does not use (a query on mqtt://, a user on http://)
 *     are errors, so a typo is reported instead of ignored.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "sim/url.h"
#include "core/banned.h"

struct span {
	const char *p;
	size_t n;
};

static const struct {
	const char *name;
	enum sim_scheme scheme;
	int port;
} schemes[] = {
	{ "http", SIM_HTTP, 80 },
	{ "https", SIM_HTTPS, 443 },
	{ "mqtt", SIM_MQTT, 1883 },
	{ "amqp", SIM_AMQP, 5672 },
};

const char *sim_url_scheme_name(enum sim_scheme s)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].scheme == s)
			return schemes[i].name;
	return "-";
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, size_t alen)
{
	snprintf(err, errlen, fmt, (int)alen, a);
	return KW_EINVAL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes what into dst (invariants 1, 2); what names the part. */
static int decode(struct span s, char *dst, size_t dstlen, const char *what, char *err,
		  size_t errlen)
{
	size_t o = 0;

	for (size_t i = 0; i < s.n; i++) {
		int c = (unsigned char)s.p[i];
		if (c == '%') {
			int hi = i + 2 < s.n ? hexval((unsigned char)s.p[i + 1]) : -1;
			int lo = i + 2 < s.n ? hexval((unsigned char)s.p[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "bad percent-escape in the %s '%.*s'", what,
					 (int)s.n, s.p);
				return KW_EINVAL;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(err, errlen, "the %s '%.*s' holds a control character", what,
				 (int)s.n, s.p);
			return KW_EINVAL;
		}
		if (o + 1 >= dstlen) {
			snprintf(err, errlen, "the %s is longer than %zu bytes", what, dstlen - 1);
			return KW_EINVAL;
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static int parse_port(struct span s, int *port, char *err, size_t errlen)
{
	long v = 0;

	if (s.n == 0 || s.n > 5)
		goto bad;
	for (size_t i = 0; i < s.n; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			goto bad;
		v = v * 10 + (s.p[i] - '0');
	}
	if (v < 1 || v > 65535)
		goto bad;
	*port = (int)v;
	return 0;
bad:
	return fail(err, errlen, "port '%.*s' is not a number between 1 and 65535", s.p, s.n);
}

static int parse_host(struct span s, struct sim_url *u, char *err, size_t errlen)
{
	if (s.n == 0) {
		snprintf(err, errlen, "the host is missing");
		return KW_EINVAL;
	}
	for (size_t i = 0; i < s.n; i++) {
		int c = (unsigned char)s.p[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':')
			return fail(err, errlen, "bad character in the host '%.*s'", s.p, s.n);
	}
	if (s.n >= sizeof(u->host))
		return fail(err, errlen, "the host '%.*s' is too long", s.p, s.n);
	memcpy(u->host, s.p, s.n);
	u->host[s.n] = '\0';
	return 0;
}

/* host[:port] or [v6][:port]. */
static int parse_hostport(struct span a, struct sim_url *u, char *err, size_t errlen)
{
	struct span host = a, port = { NULL, 0 };
	const char *colon;

	if (a.n && a.p[0] == '[') {
		const char *close = memchr(a.p, ']', a.n);
		if (!close)
			return fail(err, errlen, "unterminated '[' in the host '%.*s'", a.p, a.n);
		host = (struct span){ a.p + 1, (size_t)(close - a.p - 1) };
		if (close + 1 < a.p + a.n) {
			if (close[1] != ':')
				return fail(err, errlen, "unexpected text after ']' in '%.*s'", a.p,
					    a.n);
			port = (struct span){ close + 2, (size_t)(a.p + a.n - close - 2) };
			if (port.n == 0)
				port.p = close + 2;
		}
	} else if ((colon = memchr(a.p, ':', a.n))) {
		host = (struct span){ a.p, (size_t)(colon - a.p) };
		port = (struct span){ colon + 1, (size_t)(a.p + a.n - colon - 1) };
		if (memchr(port.p, ':', port.n))
			return fail(err, errlen,
				    "'%.*s' has more than one ':' (write IPv6 addresses in [ ])",
				    a.p, a.n);
	}
	if (parse_host(host, u, err, errlen) != 0)
		return KW_EINVAL;
	if (port.p && parse_port(port, &u->port, err, errlen) != 0)
		return KW_EINVAL;
	return 0;
}

static int parse_userinfo(struct span ui, struct sim_url *u, char *err, size_t errlen)
{
	const char *colon = memchr(ui.p, ':', ui.n);
	struct span user = ui, pass = { "", 0 };

	if (colon) {
		user.n = (size_t)(colon - ui.p);
		pass = (struct span){ colon + 1, (size_t)(ui.p + ui.n - colon - 1) };
	}
	if (user.n == 0) {
		snprintf(err, errlen, "the user name before '@' is empty");
		return KW_EINVAL;
	}
	u->has_user = true;
	if (decode(user, u->user, sizeof(u->user), "user name", err, errlen) != 0 ||
	    decode(pass, u->pass, sizeof(u->pass), "password", err, errlen) != 0)
		return KW_EINVAL;
	return 0;
}

/* amqp query: exchange=X&routing_key=K, each at most once. */
static int parse_amqp_query(struct span q, struct sim_url *u, char *err, size_t errlen)
{
	bool seen_ex = false, seen_rk = false;
	const char *p = q.p, *end = q.p + q.n;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		struct span key = { p, (size_t)((eq ? eq : stop) - p) };
		struct span val = { eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0 };

		if (!eq)
			return fail(err, errlen, "query parameter '%.*s' has no '=value'", key.p,
				    key.n);
		if (key.n == 8 && memcmp(key.p, "exchange", 8) == 0 && !seen_ex) {
			seen_ex = true;
			if (decode(val, u->exchange, sizeof(u->exchange), "exchange", err,
				   errlen) != 0)
				return KW_EINVAL;
		} else if (key.n == 11 && memcmp(key.p, "routing_key", 11) == 0 && !seen_rk) {
			seen_rk = true;
			if (decode(val, u->routing_key, sizeof(u->routing_key), "routing key", err,
				   errlen) != 0)
				return KW_EINVAL;
		} else {
			return fail(err, errlen,
				    "unknown or repeated parameter '%.*s' in an amqp:// URL "
				    "(known: exchange, routing_key)",
				    key.p, key.n);
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
}

static int check_http(struct span path, struct span query, struct sim_url *u, char *err,
		      size_t errlen)
{
	if (u->has_user) {
		snprintf(err, errlen,
			 "an http:// URL takes no user or password: give the token "
			 "with --token or KILOWATT_TOKEN");
		return KW_EINVAL;
	}
	if (query.p)
		return fail(err, errlen, "an http:// URL takes no query ('?%.*s')", query.p,
			    query.n);
	while (path.n && path.p[path.n - 1] == '/')
		path.n--;
	for (size_t i = 0; i < path.n; i++)
		if ((unsigned char)path.p[i] <= 0x20 || path.p[i] == 0x7f)
			return fail(err, errlen, "bad character in the path '%.*s'", path.p,
				    path.n);
	if (path.n >= sizeof(u->path))
		return fail(err, errlen, "the path '%.*s' is too long", path.p, path.n);
	if (path.n)
		memcpy(u->path, path.p, path.n);
	u->path[path.n] = '\0';
	return 0;
}

static int check_mqtt(struct span path, struct span query, struct sim_url *u, char *err,
		      size_t errlen)
{
	if (query.p)
		return fail(err, errlen, "an mqtt:// URL takes no query ('?%.*s')", query.p,
			    query.n);
	if (path.n) { /* drop the '/' that separates the topic */
		path.p++;
		path.n--;
	}
	if (decode(path, u->path, sizeof(u->path), "topic", err, errlen) != 0)
		return KW_EINVAL;
	if (strpbrk(u->path, "+#"))
		return fail(err, errlen,
			    "the topic '%.*s' holds a wildcard ('+' or '#'); publish to one topic",
			    u->path, strlen(u->path));
	return 0;
}

static int check_amqp(struct span path, struct span query, struct sim_url *u, char *err,
		      size_t errlen)
{
	if (!u->has_user) {
		snprintf(u->user, sizeof(u->user), "guest");
		snprintf(u->pass, sizeof(u->pass), "guest");
	}
	if (path.n) {
		path.p++;
		path.n--;
	}
	if (decode(path, u->path, sizeof(u->path), "vhost", err, errlen) != 0)
		return KW_EINVAL;
	if (u->path[0] == '\0')
		snprintf(u->path, sizeof(u->path), "/");
	snprintf(u->exchange, sizeof(u->exchange), "kilowatt");
	if (query.p && parse_amqp_query(query, u, err, errlen) != 0)
		return KW_EINVAL;
	return 0;
}

/* Finds the scheme; fills u->scheme and the default port. */
static int parse_scheme(const char *s, const char **rest, struct sim_url *u, char *err,
			size_t errlen)
{
	const char *sep = strstr(s, "://");
	size_t n = sep ? (size_t)(sep - s) : 0;

	if (!sep || n == 0) {
		snprintf(err, errlen,
			 "'%s' is not a URL (use http://, mqtt://, amqp:// or - for stdout)", s);
		return KW_EINVAL;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strlen(schemes[i].name) == n && strncasecmp(s, schemes[i].name, n) == 0) {
			u->scheme = schemes[i].scheme;
			u->port = schemes[i].port;
			*rest = sep + 3;
			return 0;
		}
	}
	return fail(err, errlen, "unsupported scheme '%.*s' (use http://, mqtt:// or amqp://)", s,
		    n);
}

int sim_url_parse(const char *s, struct sim_url *u, char *err, size_t errlen)
{
	const char *rest, *end, *at;
	struct span auth, path = { NULL, 0 }, query = { NULL, 0 };

	memset(u, 0, sizeof(*u));
	if (strcmp(s, "-") == 0) {
		u->scheme = SIM_STDOUT;
		return 0;
	}
	if (parse_scheme(s, &rest, u, err, errlen) != 0)
		return KW_EINVAL;
	if (strchr(rest, '#'))
		return fail(err, errlen, "the URL holds a '#' fragment: '%.*s' (escape it as %%23)",
			    s, strlen(s));
	end = rest + strcspn(rest, "/?");
	auth = (struct span){ rest, (size_t)(end - rest) };
	if (*end == '/') {
		const char *q = strchr(end, '?');
		path = (struct span){ end, q ? (size_t)(q - end) : strlen(end) };
		end = q ? q : end + strlen(end);
	}
	if (*end == '?')
		query = (struct span){ end + 1, strlen(end + 1) };
	for (at = auth.p + auth.n; at > auth.p && at[-1] != '@'; at--)
		; /* the last '@': a password may hold an unescaped one */
	if (at > auth.p) {
		at--;
		struct span ui = { auth.p, (size_t)(at - auth.p) };
		if (parse_userinfo(ui, u, err, errlen) != 0)
			return KW_EINVAL;
		auth = (struct span){ at + 1, (size_t)(auth.p + auth.n - at - 1) };
	}
	if (parse_hostport(auth, u, err, errlen) != 0)
		return KW_EINVAL;
	switch (u->scheme) {
	case SIM_HTTP:
	case SIM_HTTPS:
		return check_http(path, query, u, err, errlen);
	case SIM_MQTT:
		return check_mqtt(path, query, u, err, errlen);
	case SIM_AMQP:
		return check_amqp(path, query, u, err, errlen);
	case SIM_STDOUT:
		break;
	}
	return 0;
}

void sim_url_redacted(const struct sim_url *u, char *buf, size_t len)
{
	const char *name = sim_url_scheme_name(u->scheme);
	bool v6 = strchr(u->host, ':') != NULL;
	char auth[2 * SIM_URL_FIELD_MAX + 8] = "";

	if (u->scheme == SIM_STDOUT) {
		snprintf(buf, len, "stdout");
		return;
	}
	if (u->has_user)
		snprintf(auth, sizeof(auth), "%s%s@", u->user, u->pass[0] ? ":***" : "");
	switch (u->scheme) {
	case SIM_AMQP:
		snprintf(buf, len, "%s://%s%s%s%s:%d/%s?exchange=%s", name, auth, v6 ? "[" : "",
			 u->host, v6 ? "]" : "", u->port, strcmp(u->path, "/") ? u->path : "%2f",
			 u->exchange);
		break;
	case SIM_MQTT:
		snprintf(buf, len, "%s://%s%s%s%s:%d%s%s", name, auth, v6 ? "[" : "", u->host,
			 v6 ? "]" : "", u->port, u->path[0] ? "/" : "", u->path);
		break;
	default:
		snprintf(buf, len, "%s://%s%s%s:%d%s", name, v6 ? "[" : "", u->host, v6 ? "]" : "",
			 u->port, u->path);
	}
}
