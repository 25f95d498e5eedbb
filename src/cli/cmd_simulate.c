/*
 * cmd_simulate.c - `kilowatt simulate`: seed 000's Smart Metering Device
 * Simulator.  One running instance is one device: it reads a CSV or
 * generates a profile and sends one {"timestamp","device_id",
 * "measurement_value"} message per reading to kilowatt over HTTP, or to an
 * MQTT or AMQP broker, counting a reading as sent only once the target has
 * confirmed it.
 *
 * This file only turns the command line into a struct sim_opts; the parts
 * live in src/sim/: csv.c and profile.c (the readings), source.c (their
 * timestamps), pub_*.c (the destinations), window.c (the bounded set of
 * unconfirmed readings), sim.c (the loop, pacing, reconnection, signals,
 * exit status) and progress.c (the terminal line).
 *
 * Every check of the command line happens before anything connects: a bad
 * option or URL exits 2, a bad CSV line 3, naming what is wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/tz.h"
#include "sim/csv.h"
#include "sim/profile.h"
#include "sim/sim.h"
#include "sim/source.h"
#include "sim/url.h"
#include "core/banned.h"

#define DEVICE_MAX   64 /* kilowatt's limit on a device key */
#define TOKEN_MAX    256
#define WINDOW_MAX   10000
#define CONNECT_MS   5000 /* one connection attempt */
#define DRAIN_MS     10000
#define INTERVAL_MAX (86400 * 1000)

static const char usage_text[] =
    "usage: kilowatt simulate --device ID --to URL (--csv FILE | --profile NAME) [options]\n"
    "\n"
    "Sends one {\"timestamp\",\"device_id\",\"measurement_value\"} message per reading.\n"
    "\n"
    "  --to URL           http://host:port[/prefix]   POST /api/v1/measurements\n"
    "                     mqtt://[user:pass@]host:port/topic   (QoS 1; default topic\n"
    "                       kilowatt/{device}/measurements)\n"
    "                     amqp://user:pass@host:port/vhost?exchange=X&routing_key=K\n"
    "                       (publisher confirms; defaults exchange=kilowatt,\n"
    "                       routing_key={device})\n"
    "                     -                           JSON lines on stdout\n"
    "  --device ID        the device_id of every message (a UUID or a serial)\n"
    "  --csv FILE         one value per line, or timestamp,value rows\n"
    "  --profile NAME     household, office or pv: generated interval kWh\n"
    "  --interval DUR     time between readings (default 10m; 1s to 1d)\n"
    "  --start WHEN       first timestamp: backfill from there as fast as the target\n"
    "                     confirms, then go on live (YYYY-MM-DD, RFC 3339, epoch ms,\n"
    "                     or -30d / -12h / -90m before now)\n"
    "  --until WHEN       send nothing stamped after WHEN ('now': backfill only)\n"
    "  --count N          send at most N readings\n"
    "  --speed X          run the live clock X times faster (default 1)\n"
    "  --token TOKEN      http: the ingest token (better: KILOWATT_TOKEN, --token-file)\n"
    "  --token-file FILE  http: read the token from FILE\n"
    "  --seed N           profile: the random seed (same seed, same values)\n"
    "  --counter          profile: send a cumulative register instead of interval kWh\n"
    "  --scale X          profile: multiply the power (default 1)\n"
    "  --tz ZONE          time zone of the profile and of dates (default: local)\n"
    "  --lat DEG --lon DEG  pv: where the panels are (default 50.85, 4.35: Brussels)\n"
    "  --window N         readings in flight, unconfirmed (default 1000, max 10000)\n"
    "  --connect-wait DUR keep trying the first connection this long (default 10s)\n"
    "\n"
    "Exit status: 0 all sent and confirmed; 1 a reading was refused; 2 bad usage;\n"
    "3 bad CSV; 4 cannot connect; 5 credentials refused; 128+N stopped by signal N.\n";

struct sim_args {
	const char *to, *device, *csv, *profile, *start, *until, *token, *token_file, *tz;
	int64_t interval_ms;
	uint64_t count;
	double speed, scale, lat, lon;
	bool counter, help;
	bool has_seed;	   /* --seed given */
	bool profile_only; /* an option that only a profile uses was given */
	uint64_t seed;
	uint64_t window;
	int64_t connect_wait_ms;
};

static int bad(const char *fmt, const char *a)
{
	fputs("kilowatt simulate: ", stderr);
	fprintf(stderr, fmt, a);
	fputs("\n(see kilowatt simulate --help)\n", stderr);
	return SIM_EXIT_USAGE;
}

/* "10m", "30s", "1h", "1d", "500ms", "90" (seconds). */
static int parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "ms", 1 },	{ "s", 1000 },	   { "m", 60000 },
		      { "h", 3600000 }, { "d", 86400000 }, { "", 1000 } };
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0 || !isdigit((unsigned char)s[0]))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double r = v * (double)units[i].ms;
			if (r > 1e15)
				return -1;
			*ms = (int64_t)llround(r);
			return 0;
		}
	}
	return -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	*out = strtoull(s, &end, 10);
	return *end || errno ? -1 : 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end == s || *end || errno || !isfinite(*out) || *out < lo || *out > hi ? -1 : 0;
}

/*
 * WHEN: "now", "-30d" (before now, aligned down to the interval so readings
 * fall on :00, :10, ...), "YYYY-MM-DD" (local midnight in tz), RFC 3339, or
 * epoch milliseconds.
 */
static int parse_when(const char *s, const struct tz *tz, int64_t now, int64_t interval_ms,
		      int64_t *out)
{
	uint64_t ms;
	int64_t d;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (s[0] == '-' && parse_duration(s + 1, &d) == 0) {
		int64_t t = now - d;
		*out = t - ((t % interval_ms) + interval_ms) % interval_ms;
		return 0;
	}
	if (strlen(s) == 10 && tz_parse_date(tz, s, out) == 0)
		return 0;
	if (tz_parse_rfc3339(s, out) == 0)
		return 0;
	if (parse_u64(s, &ms) == 0 && ms >= UINT64_C(946684800000) &&
	    ms <= UINT64_C(253402300799999)) {
		*out = (int64_t)ms;
		return 0;
	}
	return -1;
}

/* The zone of this machine: $TZ, else the target of /etc/localtime, else UTC. */
static const struct tz *local_zone(void)
{
	const char *env = getenv("TZ");
	char link[PATH_MAX];
	ssize_t n;

	if (env && *env == ':')
		env++;
	if (env && *env && tz_get(env))
		return tz_get(env);
	n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n > 0) {
		const char *z;
		link[n] = '\0';
		if ((z = strstr(link, "zoneinfo/")) && tz_get(z + 9))
			return tz_get(z + 9);
	}
	return tz_get("UTC");
}

static int read_token_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		fprintf(stderr, "kilowatt simulate: cannot open the token file '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* How an option's value is read and checked (rows[] below). */
enum opt_kind { OPT_STR, OPT_FLAG, OPT_MS, OPT_U64, OPT_DOUBLE };

struct opt_row {
	const char *name;
	enum opt_kind kind;
	size_t off;	   /* of the field in struct sim_args */
	double min, max;   /* OPT_MS (ms), OPT_U64, OPT_DOUBLE */
	bool profile_only; /* meaningless with --csv */
	const char *what;  /* "is not <what>" */
};

#define OFF(f) offsetof(struct sim_args, f)

static const struct opt_row rows[] = {
	{ "to", OPT_STR, OFF(to), 0, 0, false, NULL },
	{ "device", OPT_STR, OFF(device), 0, 0, false, NULL },
	{ "csv", OPT_STR, OFF(csv), 0, 0, false, NULL },
	{ "profile", OPT_STR, OFF(profile), 0, 0, false, NULL },
	{ "interval", OPT_MS, OFF(interval_ms), 1000, INTERVAL_MAX, false,
	  "a duration from 1s to 1d" },
	{ "start", OPT_STR, OFF(start), 0, 0, false, NULL },
	{ "until", OPT_STR, OFF(until), 0, 0, false, NULL },
	{ "count", OPT_U64, OFF(count), 1, 1e18, false, "a positive number" },
	{ "speed", OPT_DOUBLE, OFF(speed), 1e-3, 1e9, false, "a number from 0.001 to 1e9" },
	{ "token", OPT_STR, OFF(token), 0, 0, false, NULL },
	{ "token-file", OPT_STR, OFF(token_file), 0, 0, false, NULL },
	{ "seed", OPT_U64, OFF(seed), 0, 1.8e19, true, "a non-negative integer" },
	{ "counter", OPT_FLAG, OFF(counter), 0, 0, true, NULL },
	{ "scale", OPT_DOUBLE, OFF(scale), 1e-6, 1e6, true, "a number from 1e-6 to 1e6" },
	{ "tz", OPT_STR, OFF(tz), 0, 0, false, NULL },
	{ "lat", OPT_DOUBLE, OFF(lat), -90, 90, true, "a latitude (-90 to 90)" },
	{ "lon", OPT_DOUBLE, OFF(lon), -180, 180, true, "a longitude (-180 to 180)" },
	{ "window", OPT_U64, OFF(window), 1, WINDOW_MAX, false, "a number from 1 to 10000" },
	{ "connect-wait", OPT_MS, OFF(connect_wait_ms), 0, 86400000, false, "a duration up to 1d" },
	{ "help", OPT_FLAG, OFF(help), 0, 0, false, NULL },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Reads v into the field of row r; prints why and returns 2 if it is bad. */
static int set_opt(const struct opt_row *r, struct sim_args *a, const char *v)
{
	void *field = (char *)a + r->off;
	int64_t ms;
	uint64_t u;
	double d;

	switch (r->kind) {
	case OPT_STR:
		*(const char **)field = v;
		return 0;
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_MS:
		if (parse_duration(v, &ms) || ms < r->min || ms > r->max)
			break;
		*(int64_t *)field = ms;
		return 0;
	case OPT_U64:
		if (parse_u64(v, &u) || (double)u < r->min || (double)u > r->max)
			break;
		*(uint64_t *)field = u;
		return 0;
	case OPT_DOUBLE:
		if (parse_double(v, r->min, r->max, &d))
			break;
		*(double *)field = d;
		return 0;
	}
	fprintf(stderr, "kilowatt simulate: --%s '%s' is not %s\n(see kilowatt simulate --help)\n",
		r->name, v, r->what);
	return SIM_EXIT_USAGE;
}

/* Fills a from argv through rows[].  0, -1 after --help, or 2. */
static int parse_args(int argc, char **argv, struct sim_args *a)
{
	struct option opts[NROWS + 1] = { 0 };
	int c, rc;

	*a = (struct sim_args){ .interval_ms = 600000,
				.speed = 1,
				.scale = 1,
				.lat = 50.85,
				.lon = 4.35,
				.window = 1000,
				.connect_wait_ms = 10000 };
	for (size_t i = 0; i < NROWS; i++)
		opts[i] =
		    (struct option){ rows[i].name,
				     rows[i].kind == OPT_FLAG ? no_argument : required_argument,
				     NULL, 256 + (int)i };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const struct opt_row *r = c >= 256 ? &rows[c - 256] : NULL;
		if (c == 'h')
			a->help = true;
		else if (c == ':')
			return bad("option '%s' needs a value", argv[optind - 1]);
		else if (!r)
			return bad("unknown option '%s'", argv[optind - 1]);
		else if ((rc = set_opt(r, a, optarg)) != 0)
			return rc;
		a->profile_only |= r && r->profile_only;
		a->has_seed |= r && r->off == OFF(seed);
	}
	if (a->help) {
		fputs(usage_text, stdout);
		return -1;
	}
	if (optind < argc && !a->csv) /* kilowatt simulate FILE ... */
		a->csv = argv[optind++];
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The checks that involve several options. */
static int check_args(struct sim_args *a)
{
	if (!a->to)
		return bad("%s", "--to URL is required (http://, mqtt://, amqp:// or -)");
	if (!a->device || !a->device[0])
		return bad("%s", "--device ID is required: each simulator is one device");
	if (strlen(a->device) > DEVICE_MAX || !printable(a->device))
		return bad("--device '%s' must be 1 to 64 printable characters", a->device);
	if (!a->csv == !a->profile)
		return bad("%s", "give either --csv FILE or --profile household|office|pv");
	if (a->csv && a->profile_only)
		return bad("%s", "--seed, --counter, --scale, --lat and --lon apply to "
				 "--profile only");
	if (a->profile && !sim_profile_find(a->profile))
		return bad("unknown profile '%s' (use household, office or pv)", a->profile);
	return 0;
}

/* The token: --token, else --token-file, else $KILOWATT_TOKEN. */
static int pick_token(struct sim_args *a, char *buf, size_t len)
{
	if (!a->token && a->token_file) {
		if (read_token_file(a->token_file, buf, len) != 0)
			return SIM_EXIT_USAGE;
		a->token = buf;
	}
	if (!a->token)
		a->token = getenv("KILOWATT_TOKEN");
	if (a->token && (strlen(a->token) > TOKEN_MAX || !token_ok(a->token)))
		return bad("%s", "the token holds spaces or control characters, or is too long");
	return 0;
}

static uint64_t random_seed(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s))
		s = (uint64_t)tz_now_ms() ^ ((uint64_t)getpid() << 32);
	return s % UINT64_C(1000000000); /* short enough to retype */
}

/* Everything after parsing: the source, then the run. */
static int run(struct sim_args *a, const struct sim_url *url)
{
	const struct tz *tz = a->tz ? tz_get(a->tz) : local_zone();
	int64_t now = tz_now_ms(), t0 = now - now % 1000;
	struct sim_gen gen = { 0 };
	struct sim_csv *csv = NULL;
	struct sim_source src;
	struct sim_source_opts so = { 0 };
	struct sim_opts o = { 0 };
	char err[512];
	int rc;

	if (!tz)
		return bad("--tz '%s' is not a known IANA time zone", a->tz);
	if (a->start && parse_when(a->start, tz, now, a->interval_ms, &t0) != 0)
		return bad("--start '%s' is not a date, RFC 3339 time, epoch ms or -DURATION",
			   a->start);
	if (a->until && parse_when(a->until, tz, now, a->interval_ms, &so.until_ms) != 0)
		return bad("--until '%s' is not now, a date, RFC 3339 time, epoch ms or -DURATION",
			   a->until);
	if (a->csv && (rc = sim_csv_open(a->csv, &csv, err, sizeof(err))) != 0) {
		fprintf(stderr, "kilowatt simulate: %s\n", err);
		return SIM_EXIT_INPUT;
	}
	gen = (struct sim_gen){ sim_profile_find(a->profile ? a->profile : "household"),
				tz,
				a->lat,
				a->lon,
				a->scale,
				a->has_seed ? a->seed : random_seed() };
	so.csv = csv;
	so.gen = &gen;
	so.t0_ms = t0;
	so.shift = a->start != NULL;
	so.interval_ms = a->interval_ms;
	so.count = a->count;
	so.has_until = a->until != NULL;
	so.counter = a->counter;
	sim_source_init(&src, &so);
	if (a->profile && isatty(STDERR_FILENO))
		fprintf(stderr, "kilowatt simulate: profile %s, seed %llu, time zone %s\n",
			a->profile, (unsigned long long)gen.seed, tz_name(tz));
	o.url = url;
	o.ops = sim_pub_for(url->scheme);
	o.pub = (struct sim_pub_opts){ a->device,
				       a->token,
				       a->window,
				       a->connect_wait_ms < 1000	 ? 1000
				       : a->connect_wait_ms > CONNECT_MS ? CONNECT_MS
									 : a->connect_wait_ms,
				       NULL,
				       NULL };
	o.src = &src;
	o.speed = a->speed;
	o.connect_wait_ms = a->connect_wait_ms;
	o.drain_ms = DRAIN_MS;
	o.progress = isatty(STDERR_FILENO) && url->scheme != SIM_STDOUT;
	rc = sim_run(&o);
	sim_csv_free(csv);
	return rc;
}

int cmd_simulate(int argc, char **argv)
{
	struct sim_args a;
	struct sim_url url;
	char err[512], token[TOKEN_MAX + 2];
	int rc;

	if ((rc = parse_args(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = check_args(&a)) != 0 || (rc = pick_token(&a, token, sizeof(token))) != 0)
		return rc;
	if (sim_url_parse(a.to, &url, err, sizeof(err)) != 0) {
		fprintf(stderr, "kilowatt simulate: --to: %s\n", err);
		return SIM_EXIT_USAGE;
	}
	return run(&a, &url);
}
