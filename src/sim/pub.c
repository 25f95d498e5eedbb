/*
 * pub.c - what the simulator's publishers share: the registry by scheme,
 * the message format, and the stdout publisher (`--to -`), which confirms
 * each line once it is written.
 *
 * Invariant: a formatted message is valid JSON with exactly the three
 * seed-000 keys, and its value reads back as the same double.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "sim/pub.h"
#include "core/banned.h"

const struct sim_pub_ops *sim_pub_for(enum sim_scheme s)
{
	switch (s) {
	case SIM_HTTP:
	case SIM_HTTPS:
		return &sim_pub_http;
	case SIM_MQTT:
		return &sim_pub_mqtt;
	case SIM_AMQP:
		return &sim_pub_amqp;
	case SIM_STDOUT:
		return &sim_pub_stdout;
	}
	return NULL;
}

bool sim_pub_fatal(int rc)
{
	return rc == KW_EDENIED || rc == KW_ECONFIG || rc == KW_EINVAL;
}

int sim_pub_number(char *buf, size_t len, double v)
{
	int n = -1;

	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, len, "%.*g", prec, v);
		if (n < 0 || (size_t)n >= len)
			return -1;
		if (strtod(buf, NULL) == v)
			break;
	}
	return n;
}

int sim_pub_format(char *buf, size_t len, const char *device_json, const struct sim_msg *m)
{
	char num[32];
	int n;

	if (!isfinite(m->value) || sim_pub_number(num, sizeof(num), m->value) < 0)
		return -1;
	n = snprintf(buf, len, "{\"timestamp\":%lld,\"device_id\":%s,\"measurement_value\":%s}",
		     (long long)m->ts_ms, device_json, num);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int sim_pub_json_string(char *buf, size_t len, const char *s)
{
	size_t o = 0;

#define PUT(c)                        \
	do {                          \
		if (o + 1 >= len)     \
			return -1;    \
		buf[o++] = (char)(c); \
	} while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT(*p);
		} else if (*p < 0x20) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			for (char *e = esc; *e; e++)
				PUT(*e);
		} else {
			PUT(*p);
		}
	}
	PUT('"');
#undef PUT
	buf[o] = '\0';
	return (int)o;
}

int sim_pub_expand(char *buf, size_t len, const char *tmpl, const char *device)
{
	static const char key[] = "{device}";
	size_t o = 0, dl = strlen(device);

	while (*tmpl) {
		const char *hit = strstr(tmpl, key);
		size_t lit = hit ? (size_t)(hit - tmpl) : strlen(tmpl);
		if (o + lit + (hit ? dl : 0) >= len)
			return -1;
		memcpy(buf + o, tmpl, lit);
		o += lit;
		if (!hit)
			break;
		memcpy(buf + o, device, dl);
		o += dl;
		tmpl = hit + sizeof(key) - 1;
	}
	buf[o] = '\0';
	return (int)o;
}

void sim_pub_sleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL); /* a signal ends it early, which is wanted */
}

/* --- stdout: one message per line, confirmed once written ------------- */

struct stdout_pub {
	struct sim_pub_opts o;
	char device_json[2 * 256 + 8];
};

static int stdout_open(const struct sim_url *u, const struct sim_pub_opts *o, void **st, char *err,
		       size_t errlen)
{
	struct stdout_pub *p = xcalloc(1, sizeof(*p));

	p->o = *o;
	if (sim_pub_json_string(p->device_json, sizeof(p->device_json), o->device) < 0) {
		snprintf(err, errlen, "the device id is too long");
		free(p);
		return KW_EINVAL;
	}
	*st = p;
	return 0;
}

static int stdout_connect(void *st, char *err, size_t errlen)
{
	return 0;
}

static int stdout_send(void *st, const struct sim_msg *m, size_t n, char *err, size_t errlen)
{
	struct stdout_pub *p = st;
	char line[SIM_MSG_MAX];

	for (size_t i = 0; i < n; i++) {
		int len = sim_pub_format(line, sizeof(line), p->device_json, &m[i]);
		if (len < 0 || printf("%s\n", line) < 0) {
			snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
			return KW_EINVAL;
		}
	}
	if (fflush(stdout) != 0) {
		snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
		return KW_EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		p->o.confirm(p->o.ud, m[i].seq, 0, NULL);
	return (int)n;
}

static int stdout_poll(void *st, int timeout_ms, char *err, size_t errlen)
{
	sim_pub_sleep(timeout_ms);
	return 0;
}

static void stdout_disconnect(void *st)
{
}

static void stdout_free(void *st)
{
	free(st);
}

const struct sim_pub_ops sim_pub_stdout = {
	"stdout",    stdout_open,	stdout_connect, stdout_send,
	stdout_poll, stdout_disconnect, stdout_free,
};
