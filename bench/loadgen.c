/*
 * loadgen.c - HTTP/1.1 load generator for the kilowatt vs InfluxDB benchmark.
 *
 * Talks plain HTTP/1.1 with keep-alive to 127.0.0.1 only (any other host is
 * refused), over N connections, one thread each.  Every loop is bounded by a
 * request count and by --time-limit, so a run always stops by itself.
 *
 * Modes:
 *   ingest   POSTs R readings of D devices in batches of B lines/objects.
 *            Reading g (0..R-1) is time step g/D of device g%D (step-major:
 *            all devices of step k, then step k+1 ...); steps are 10 minutes
 *            apart from --start (default: 30 days ago, aligned to 10 min).
 *            Values are deterministic small kWh figures, so two servers get
 *            byte-identical data.
 *              --format lp    POST /write?precision=s[&db=NAME], lines like
 *                energy,device=dev00042,region=Region\ 2 kwh=0.123 1739000000
 *                (device i is in "Region i%10")
 *              --format json  POST /api/v1/measurements, a JSON array of
 *                {"timestamp":<ms>,"device_id":"dev00042","measurement_value":0.123}
 *   devices  POSTs /api/v1/devices once per device (kilowatt's device
 *            registry: serial, name, region "Region i%10", UTC, interval).
 *   query    GETs the paths listed in --paths FILE (one per line, each
 *            starting with '/'), round robin, --count requests in all.
 *
 * Output (stdout): key=value lines (readings_per_s, requests, errors,
 * p50_ms, p99_ms, max_ms, ...), plus first_error= with the first non-2xx
 * answer's status and body.  Exit status 0 when every request got a 2xx.
 *
 * Examples:
 *   loadgen ingest --port 8086 --format lp --db bench --conns 4 \
 *           --batch 5000 --devices 10000 --steps 144
 *   loadgen ingest --port 8080 --format json --token "$TOK" --steps 144
 *   loadgen devices --port 8080 --token "$TOK" --devices 10000
 *   loadgen query --port 8080 --token "$TOK" --paths urls.txt --count 500
 * Common options: --host 127.0.0.1|localhost, --token T (Authorization:
 * Bearer T), --conns N, --time-limit SEC (default 3600), --timeout SEC
 * (per socket operation, default 300).
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_INGEST, M_DEVICES, M_QUERY };
enum fmt { F_LP, F_JSON };

struct buf {
	char *p;
	size_t len, cap;
};

/* Configuration, set once by main() before the workers start. */
static struct {
	enum mode mode;
	enum fmt fmt;
	const char *db, *token, *paths_file;
	int64_t port, conns, batch, devices, count, timeout_s, time_limit, readings, start;
	char auth[600]; /* "Authorization: Bearer T\r\n" or "" */
	char target[128];
} g = { .fmt = F_LP,
	.conns = 4,
	.batch = 5000,
	.devices = 10000,
	.count = 1000,
	.timeout_s = 300,
	.readings = -1,
	.start = -1,
	.time_limit = 3600 };

static char **g_lp_dev, **g_json_dev; /* per-device prebuilt fragments */
static struct buf *g_queries;	      /* query mode: prebuilt requests */
static size_t g_nqueries;
static int64_t g_jobs;		  /* requests to make */
static atomic_llong g_next;	  /* next request index */
static atomic_long g_status[600]; /* answers by status; [0] = transport */
static atomic_int g_timed_out;
static double g_deadline;
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_err_status = -1;
static char g_err_body[400];

__attribute__((format(printf, 1, 2))) _Noreturn static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *lg_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	b->p = lg_realloc(b->p, cap);
	b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n + 1);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Appends v in decimal; with milli, v is thousandths ("0.123"). */
static void buf_num(struct buf *b, uint64_t v, int milli)
{
	char tmp[24];
	size_t i = sizeof tmp;
	for (int d = 0; v || d < (milli ? 4 : 1); d++, v /= 10) {
		if (milli && d == 3)
			tmp[--i] = '.';
		tmp[--i] = (char)('0' + v % 10);
	}
	buf_add(b, tmp + i, sizeof tmp - i);
}

__attribute__((format(printf, 2, 3))) static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (size_t want = 256;;) {
		buf_reserve(b, want);
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("bad format");
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		want = (size_t)n + 1;
	}
}

/* ---- HTTP client ------------------------------------------------------ */

struct conn {
	int fd;
	char *in; /* received, not yet consumed */
	size_t in_len, in_cap;
	int reused; /* has answered at least one request */
};

struct resp {
	int status;
	struct buf body;
};

static int conn_open(struct conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	struct timeval tv = { .tv_sec = g.timeout_s };
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never anything else */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->in_len = 0;
	c->reused = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->in_len = 0;
}

static int send_all(int fd, const struct buf *b)
{
	for (size_t off = 0; b && off < b->len;) {
		ssize_t k = send(fd, b->p + off, b->len - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* Reads more bytes: >0 read, 0 end of stream, -1 error or timeout. */
static ssize_t conn_fill(struct conn *c)
{
	if (c->in_cap - c->in_len < 16384) {
		c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
		c->in = lg_realloc(c->in, c->in_cap);
	}
	for (;;) {
		ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k > 0)
			c->in_len += (size_t)k;
		return k;
	}
}

static int conn_need(struct conn *c, size_t need)
{
	while (c->in_len < need)
		if (conn_fill(c) <= 0)
			return -1;
	return 0;
}

/* Offset of the "\r\n" ending the line that starts at off, or -1. */
static long conn_line(struct conn *c, size_t off)
{
	size_t scan = off;
	for (;;) {
		for (; scan + 1 < c->in_len; scan++)
			if (c->in[scan] == '\r' && c->in[scan + 1] == '\n')
				return (long)scan;
		if (c->in_len - off > 65536 || conn_fill(c) <= 0)
			return -1;
	}
}

static int has_token(const char *s, size_t n, const char *tok)
{
	size_t t = strlen(tok);
	for (size_t i = 0; i + t <= n; i++)
		if (strncasecmp(s + i, tok, t) == 0)
			return 1;
	return 0;
}

/* Reads one response (skipping 1xx) into r; consumes exactly its bytes. */
static int read_response(struct conn *c, struct resp *r, int *must_close)
{
	size_t pos = 0;
	long e;
	int64_t clen;
	int chunked;
	r->body.len = 0;
	do {
		if ((e = conn_line(c, pos)) < 0)
			return -1;
		const char *l = c->in + pos;
		if ((size_t)e - pos < 12 || strncmp(l, "HTTP/1.", 7) != 0 || l[9] < '1' ||
		    l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
			return -1;
		r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
		*must_close = l[7] == '0';
		clen = -1;
		chunked = 0;
		for (pos = (size_t)e + 2;; pos = (size_t)e + 2) {
			if ((e = conn_line(c, pos)) < 0)
				return -1;
			const char *h = c->in + pos;
			size_t n = (size_t)e - pos;
			if (n == 0)
				break;
			if (n > 15 && strncasecmp(h, "content-length:", 15) == 0)
				clen = strtoll(h + 15, NULL, 10);
			else if (n > 18 && strncasecmp(h, "transfer-encoding:", 18) == 0)
				chunked = has_token(h, n, "chunked");
			else if (n > 11 && strncasecmp(h, "connection:", 11) == 0)
				*must_close = has_token(h, n, "close");
		}
		pos = (size_t)e + 2;
	} while (r->status < 200);

	if (r->status == 204 || r->status == 304) {
		/* no body */
	} else if (chunked) {
		for (;;) {
			if ((e = conn_line(c, pos)) < 0)
				return -1;
			size_t size = strtoul(c->in + pos, NULL, 16);
			pos = (size_t)e + 2;
			if (size == 0) { /* trailers, then an empty line */
				while ((e = conn_line(c, pos)) > (long)pos)
					pos = (size_t)e + 2;
				if (e < 0)
					return -1;
				pos += 2;
				break;
			}
			if (conn_need(c, pos + size + 2) < 0)
				return -1;
			buf_add(&r->body, c->in + pos, size);
			pos += size + 2;
		}
	} else if (clen >= 0) {
		if (conn_need(c, pos + (size_t)clen) < 0)
			return -1;
		buf_add(&r->body, c->in + pos, (size_t)clen);
		pos += (size_t)clen;
	} else { /* delimited by the end of the stream */
		ssize_t k;
		while ((k = conn_fill(c)) > 0)
			;
		if (k < 0)
			return -1;
		buf_add(&r->body, c->in + pos, c->in_len - pos);
		pos = c->in_len;
		*must_close = 1;
	}
	c->in_len -= pos;
	memmove(c->in, c->in + pos, c->in_len);
	return 0;
}

/* One request/response; retried once on a fresh connection when a reused
 * keep-alive connection turns out closed before any answer byte. */
static int exchange(struct conn *c, const struct buf *head, const struct buf *body, struct resp *r)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && conn_open(c) < 0)
			return -1;
		int reused = c->reused, must_close = 0;
		if (send_all(c->fd, head) == 0 && send_all(c->fd, body) == 0 &&
		    read_response(c, r, &must_close) == 0) {
			c->reused = 1;
			if (must_close)
				conn_close(c);
			return 0;
		}
		int partial = c->in_len > 0;
		conn_close(c);
		if (!reused || partial)
			break;
	}
	return -1;
}

/* ---- workload ----------------------------------------------------------- */

static uint64_t mix(uint64_t x) /* murmur3's 64-bit finalizer */
{
	x = (x ^ x >> 33) * 0xff51afd7ed558ccdULL;
	x = (x ^ x >> 33) * 0xc4ceb9fe1a85ec53ULL;
	return x ^ x >> 33;
}

/* kWh in 10 minutes for a household, in thousandths: 0.011 .. 0.169. */
static unsigned value_milli(int64_t dev, int64_t ts)
{
	unsigned base = 10 + (unsigned)(mix((uint64_t)dev) % 40);
	int hour = (int)(ts / 3600 % 24);
	unsigned span = (hour >= 7 && hour < 9) || (hour >= 17 && hour < 22) ? 120 : 30;
	return base + 1 + (unsigned)(mix((uint64_t)dev * 1000003u + (uint64_t)ts) % span);
}

struct worker {
	pthread_t th;
	struct conn c;
	struct buf head, body;
	struct resp r;
	double *lat;
	size_t nlat, caplat;
	int64_t ok_items;
};

/* Fills w->head/w->body for request j; returns the readings it carries. */
static int64_t build_request(struct worker *w, int64_t j)
{
	w->head.len = w->body.len = 0;
	if (g.mode == M_QUERY) {
		const struct buf *q = &g_queries[(size_t)j % g_nqueries];
		buf_add(&w->head, q->p, q->len);
		return 1;
	}
	if (g.mode == M_DEVICES) {
		buf_fmt(&w->body,
			"{\"serial\":\"dev%05lld\",\"name\":\"dev%05lld\",\"region\":"
			"\"Region %lld\",\"timezone\":\"UTC\",\"reading_type\":\"interval\"}",
			(long long)j, (long long)j, (long long)(j % 10));
		buf_fmt(&w->head,
			"POST /api/v1/devices HTTP/1.1\r\nHost: %s\r\n"
			"Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
			g.target, w->body.len, g.auth);
		return 1;
	}
	int64_t first = j * g.batch, n = g.readings - first;
	if (n > g.batch)
		n = g.batch;
	buf_reserve(&w->body, (size_t)n * 96 + 8);
	if (g.fmt == F_JSON)
		buf_add(&w->body, "[", 1);
	for (int64_t k = first; k < first + n; k++) {
		int64_t dev = k % g.devices, ts = g.start + k / g.devices * 600;
		uint64_t v = value_milli(dev, ts);
		if (g.fmt == F_LP) {
			buf_str(&w->body, g_lp_dev[dev]);
			buf_num(&w->body, v, 1);
			buf_add(&w->body, " ", 1);
			buf_num(&w->body, (uint64_t)ts, 0);
			buf_add(&w->body, "\n", 1);
		} else {
			buf_str(&w->body, k == first ? "{\"timestamp\":" : ",{\"timestamp\":");
			buf_num(&w->body, (uint64_t)ts * 1000, 0);
			buf_str(&w->body, g_json_dev[dev]);
			buf_num(&w->body, v, 1);
			buf_add(&w->body, "}", 1);
		}
	}
	if (g.fmt == F_JSON)
		buf_add(&w->body, "]", 1);
	if (g.fmt == F_LP)
		buf_fmt(&w->head, "POST /write?precision=s%s%s HTTP/1.1\r\n", g.db ? "&db=" : "",
			g.db ? g.db : "");
	else
		buf_str(&w->head, "POST /api/v1/measurements HTTP/1.1\r\n");
	buf_fmt(&w->head, "Host: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", g.target,
		g.fmt == F_LP ? "text/plain; charset=utf-8" : "application/json", w->body.len,
		g.auth);
	return n;
}

static void note_error(int status, const struct buf *body)
{
	pthread_mutex_lock(&g_err_lock);
	if (g_err_status < 0) {
		g_err_status = status;
		size_t n = 0;
		for (size_t i = 0; body && i < body->len && n + 1 < sizeof g_err_body; i++)
			g_err_body[n++] =
			    (body->p[i] == '\n' || body->p[i] == '\r') ? ' ' : body->p[i];
		g_err_body[n] = '\0';
		if (!body)
			snprintf(g_err_body, sizeof g_err_body,
				 "(connection failed, closed or timed out)");
	}
	pthread_mutex_unlock(&g_err_lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->c.fd = -1;
	for (;;) {
		if (now_s() > g_deadline) {
			atomic_store(&g_timed_out, 1);
			break;
		}
		int64_t j = atomic_fetch_add(&g_next, 1);
		if (j >= g_jobs)
			break;
		int64_t items = build_request(w, j);
		double t0 = now_s();
		int rc = exchange(&w->c, &w->head, w->body.len ? &w->body : NULL, &w->r);
		double ms = (now_s() - t0) * 1e3;
		int st = rc == 0 ? w->r.status : 0;
		if (w->nlat == w->caplat) {
			w->caplat = w->caplat ? w->caplat * 2 : 1024;
			w->lat = lg_realloc(w->lat, w->caplat * sizeof *w->lat);
		}
		w->lat[w->nlat++] = ms;
		atomic_fetch_add(&g_status[st], 1);
		if (st >= 200 && st < 300)
			w->ok_items += items;
		else
			note_error(st, rc == 0 ? &w->r.body : NULL);
	}
	conn_close(&w->c);
	return NULL;
}

/* ---- setup and report --------------------------------------------------- */

static void load_queries(void)
{
	FILE *f = fopen(g.paths_file, "r");
	if (!f)
		die("%s: %s", g.paths_file, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (line[0] != '/')
			die("%s: path must start with '/': %s", g.paths_file, line);
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f)
				die("%s: space or control character in path: %s", g.paths_file,
				    line);
		g_queries = lg_realloc(g_queries, (g_nqueries + 1) * sizeof *g_queries);
		struct buf *q = &g_queries[g_nqueries++];
		*q = (struct buf){ 0 };
		buf_fmt(q, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n%s\r\n", line, g.target,
			g.auth);
	}
	free(line);
	fclose(f);
	if (g_nqueries == 0)
		die("%s: no paths", g.paths_file);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[i == 0 ? 0 : (i > n ? n : i) - 1];
}

_Noreturn static void usage(void)
{
	fputs("usage: loadgen ingest|devices|query --port P [--host 127.0.0.1]\n"
	      "  [--token T] [--conns N] [--time-limit SEC] [--timeout SEC]\n"
	      "  ingest:  [--format lp|json] [--db NAME] [--batch B] [--devices D]\n"
	      "           [--readings R | --steps S] [--start EPOCH_S]\n"
	      "  devices: [--devices D]\n"
	      "  query:   --paths FILE [--count N]\n",
	      stderr);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const char *modes[] = { "ingest", "devices", "query" };
	const char *host = "127.0.0.1", *fmt = "lp";
	int64_t steps = -1;
	struct {
		const char *opt;
		int64_t *dst, min, max;
	} nums[] = { { "--port", &g.port, 1, 65535 },
		     { "--conns", &g.conns, 1, 256 },
		     { "--batch", &g.batch, 1, 1000000 },
		     { "--devices", &g.devices, 1, 1000000 },
		     { "--readings", &g.readings, 1, INT64_MAX / 1000 },
		     { "--steps", &steps, 1, 10000000 },
		     { "--start", &g.start, 946684800 /* 2000-01-01 */, 4102444800 /* 2100 */ },
		     { "--count", &g.count, 1, 100000000 },
		     { "--time-limit", &g.time_limit, 1, 86400 },
		     { "--timeout", &g.timeout_s, 1, 3600 } };
	struct {
		const char *opt, **dst;
	} strs[] = { { "--host", &host },
		     { "--format", &fmt },
		     { "--db", &g.db },
		     { "--token", &g.token },
		     { "--paths", &g.paths_file } };
	if (argc < 2)
		usage();
	for (g.mode = M_INGEST; g.mode <= M_QUERY && strcmp(argv[1], modes[g.mode]); g.mode++)
		;
	if (g.mode > M_QUERY)
		usage();
	for (int i = 2; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t k, found = 0;
		if (!v)
			die("%s needs a value", o);
		for (k = 0; k < sizeof nums / sizeof *nums; k++) {
			if (strcmp(o, nums[k].opt) == 0) {
				char *end;
				errno = 0;
				long long n = strtoll(v, &end, 10);
				if (errno || end == v || *end || n < nums[k].min || n > nums[k].max)
					die("%s: want a number in %lld..%lld, not '%s'", o,
					    (long long)nums[k].min, (long long)nums[k].max, v);
				*nums[k].dst = n;
				found = 1;
			}
		}
		for (k = 0; k < sizeof strs / sizeof *strs; k++) {
			if (strcmp(o, strs[k].opt) == 0) {
				*strs[k].dst = v;
				found = 1;
			}
		}
		if (!found)
			die("unknown option %s", o);
	}
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0)
		die("refusing host '%s': only 127.0.0.1 (loopback) is allowed", host);
	if (g.port == 0)
		die("--port is required");
	if (strcmp(fmt, "lp") != 0 && strcmp(fmt, "json") != 0)
		die("--format: lp or json");
	g.fmt = fmt[0] == 'j' ? F_JSON : F_LP;
	for (const char *p = g.db; p && *p; p++)
		if (!(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			die("--db: use letters, digits, '_' and '-' only");
	for (const char *p = g.token; p && *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || p - g.token > 500)
			die("--token: too long, or a space or control character in it");
	snprintf(g.target, sizeof g.target, "127.0.0.1:%u", (unsigned)g.port);
	if (g.token)
		snprintf(g.auth, sizeof g.auth, "Authorization: Bearer %s\r\n", g.token);
	if (g.start < 0)
		g.start = ((int64_t)time(NULL) - 30 * 86400) / 600 * 600;
	if (steps > 0)
		g.readings = steps * g.devices;
	if (g.readings < 0)
		g.readings = 144 * g.devices; /* one day */
}

static void setup(void)
{
	if (g.mode == M_DEVICES) {
		g_jobs = g.devices;
	} else if (g.mode == M_QUERY) {
		if (!g.paths_file)
			die("query mode needs --paths FILE");
		load_queries();
		g_jobs = g.count;
	} else {
		int64_t last = g.start + (g.readings - 1) / g.devices * 600;
		if (last > (int64_t)time(NULL) + 86400)
			fprintf(stderr,
				"loadgen: warning: last timestamp %lld is more than a "
				"day in the future\n",
				(long long)last);
		g_lp_dev = lg_realloc(NULL, (size_t)g.devices * sizeof *g_lp_dev);
		g_json_dev = lg_realloc(NULL, (size_t)g.devices * sizeof *g_json_dev);
		for (long d = 0; d < g.devices; d++) {
			struct buf a = { 0 }, b = { 0 };
			buf_fmt(&a, "energy,device=dev%05ld,region=Region\\ %ld kwh=", d, d % 10);
			buf_fmt(&b, ",\"device_id\":\"dev%05ld\",\"measurement_value\":", d);
			g_lp_dev[d] = a.p;
			g_json_dev[d] = b.p;
		}
		g_jobs = (g.readings + g.batch - 1) / g.batch;
	}
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setup();
	struct worker *w = calloc((size_t)g.conns, sizeof *w);
	if (!w)
		die("out of memory");
	double cpu0 = cpu_s(), t0 = now_s();
	g_deadline = t0 + (double)g.time_limit;
	for (long i = 0; i < g.conns; i++)
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
			die("pthread_create failed");
	int64_t ok_items = 0;
	size_t nlat = 0, k = 0;
	for (long i = 0; i < g.conns; i++) {
		pthread_join(w[i].th, NULL);
		ok_items += w[i].ok_items;
		nlat += w[i].nlat;
	}
	double elapsed = now_s() - t0, sum = 0;
	double *lat = lg_realloc(NULL, nlat * sizeof *lat);
	for (long i = 0; i < g.conns; i++)
		for (size_t j = 0; j < w[i].nlat; j++)
			sum += (lat[k++] = w[i].lat[j]);
	qsort(lat, nlat, sizeof *lat, cmp_double);

	long ok = 0, errors = 0;
	printf("mode=%s\nconns=%lld\n",
	       g.mode == M_INGEST    ? "ingest"
	       : g.mode == M_DEVICES ? "devices"
				     : "query",
	       (long long)g.conns);
	if (g.mode == M_INGEST)
		printf("format=%s\nbatch=%lld\ndevices=%lld\nreadings=%lld\nstart=%lld\n",
		       g.fmt == F_LP ? "lp" : "json", (long long)g.batch, (long long)g.devices,
		       (long long)g.readings, (long long)g.start);
	for (int s = 0; s < 600; s++) {
		long c = atomic_load(&g_status[s]);
		if (s >= 200 && s < 300) {
			ok += c;
		} else if (c) {
			errors += c;
			if (s)
				printf("status_%d=%ld\n", s, c);
			else
				printf("transport_errors=%ld\n", c);
		}
	}
	printf("requests=%zu\nok_requests=%ld\nerrors=%ld\n", nlat, ok, errors);
	if (g_err_status >= 0)
		printf("first_error=HTTP %d: %s\n", g_err_status, g_err_body);
	if (atomic_load(&g_timed_out))
		printf("stopped_by_time_limit=1\n");
	if (g.mode == M_INGEST)
		printf("readings_ok=%lld\nreadings_per_s=%.0f\n", (long long)ok_items,
		       (double)ok_items / elapsed);
	printf("elapsed_s=%.3f\nrequests_per_s=%.1f\n", elapsed, (double)nlat / elapsed);
	printf("p50_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\nmean_ms=%.3f\n", pct(lat, nlat, 50),
	       pct(lat, nlat, 99), nlat ? lat[nlat - 1] : 0.0, nlat ? sum / (double)nlat : 0.0);
	printf("client_cpu_s=%.2f\n", cpu_s() - cpu0);
	return errors || atomic_load(&g_timed_out) ? 1 : 0;
}
