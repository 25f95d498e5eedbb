/*
 * config.c - layered settings driven by the table in config_table.c.
 *
 * Invariants:
 *  1. After config_init() every field holds its parsed default, so a later
 *     layer only ever replaces a valid value with another valid value.
 *  2. A rejected value leaves the field as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/config_table.h"
#include "core/err.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "core/banned.h"

static void *field(struct config *cfg, const struct config_row *r)
{
	return (char *)cfg + r->offset;
}

static const void *cfield(const struct config *cfg, const struct config_row *r)
{
	return (const char *)cfg + r->offset;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* Parses an integer with an optional unit suffix from units[] (each a
 * letter and its multiplier); the empty suffix multiplies by 1. */
static int parse_scaled(const char *v, const char *letters, const int64_t *mult, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || errno || n < 0)
		return -1;
	if (*end) {
		const char *hit = end[1] ? NULL : strchr(letters, *end);
		if (!hit || !*end)
			return -1;
		int64_t m = mult[hit - letters];
		if (n > INT64_MAX / m)
			return -1;
		n *= m;
	}
	*out = n;
	return 0;
}

static int parse_value(const struct config_row *r, const char *v, void *dst, char *why, size_t n)
{
	static const int64_t size_mult[] = { 1024, 1024, 1 << 20, 1 << 30 };
	static const int64_t dur_mult[] = { 1, 60, 3600, 86400 };
	int64_t num = 0;
	bool b;

	if (r->check && r->check(v, why, n) != 0)
		return -1;
	switch (r->type) {
	case CFG_STRING:
		free(*(char **)dst);
		*(char **)dst = xstrdup(v);
		return 0;
	case CFG_BOOL:
		if (parse_bool(v, &b) != 0) {
			snprintf(why, n, "expected true or false");
			return -1;
		}
		*(bool *)dst = b;
		return 0;
	case CFG_INT:
		if (parse_scaled(v, "", NULL, &num) != 0)
			goto bad_number;
		break;
	case CFG_SIZE:
		if (parse_scaled(v, "kKMG", size_mult, &num) != 0)
			goto bad_number;
		break;
	case CFG_DURATION:
		if (parse_scaled(v, "smhd", dur_mult, &num) != 0)
			goto bad_number;
		break;
	}
	if (num < r->min || num > r->max) {
		snprintf(why, n, "must be between %lld and %lld", (long long)r->min,
			 (long long)r->max);
		return -1;
	}
	*(int64_t *)dst = num;
	return 0;
bad_number:
	snprintf(why, n,
		 r->type == CFG_SIZE	   ? "expected a size such as 512k or 16M"
		 : r->type == CFG_DURATION ? "expected a duration such as 30s, 5m, 1h or 1d"
					   : "expected a whole number");
	return -1;
}

static const struct config_row *find_row(const char *section, const char *key)
{
	for (size_t i = 0; i < config_nrows; i++)
		if (strcmp(config_rows[i].section, section) == 0 &&
		    strcmp(config_rows[i].key, key) == 0)
			return &config_rows[i];
	return NULL;
}

int config_set(struct config *cfg, const char *section, const char *key, const char *value,
	       const char *origin, char err[CONFIG_ERR_MAX])
{
	const struct config_row *r = find_row(section, key);
	char why[160];

	if (!r) {
		snprintf(err, CONFIG_ERR_MAX, "%s: unknown key '%s' in [%s]", origin, key, section);
		return KW_ECONFIG;
	}
	if (parse_value(r, value, field(cfg, r), why, sizeof(why)) != 0) {
		snprintf(err, CONFIG_ERR_MAX, "%s: bad value '%.64s' for %s.%s: %s", origin, value,
			 section, key, why);
		return KW_ECONFIG;
	}
	return 0;
}

void config_init(struct config *cfg)
{
	char err[CONFIG_ERR_MAX];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_nrows; i++) {
		const struct config_row *r = &config_rows[i];
		if (config_set(cfg, r->section, r->key, r->def, "default", err) != 0) {
			fprintf(stderr, "fatal: %s\n", err); /* a bug in the table */
			abort();
		}
	}
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < config_nrows; i++)
		if (config_rows[i].type == CFG_STRING)
			free(*(char **)field(cfg, &config_rows[i]));
	memset(cfg, 0, sizeof(*cfg));
}

struct ini_ctx {
	FILE *file;
	struct config *cfg;
	const char *path;
	int line;
	char *err;
	int failed;
};

/* Debian's inih is built without INI_HANDLER_LINENO, so the reader counts
 * lines itself: the handler always runs for the line read last. */
static char *read_line(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	char *r = fgets(str, num, c->file);
	if (r)
		c->line++;
	return r;
}

static int on_setting(void *user, const char *section, const char *key, const char *value)
{
	struct ini_ctx *c = user;
	char origin[300];

	if (c->failed)
		return 0;
	snprintf(origin, sizeof(origin), "%s:%d", c->path, c->line);
	if (config_set(c->cfg, section, key, value, origin, c->err) != 0) {
		c->failed = 1;
		return 0;
	}
	return 1;
}

int config_load_file(struct config *cfg, const char *path, char err[CONFIG_ERR_MAX])
{
	struct ini_ctx c = { NULL, cfg, path, 0, err, 0 };
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		snprintf(err, CONFIG_ERR_MAX, "cannot open config '%s': %s", path, strerror(errno));
		return -errno;
	}
	c.file = f;
	rc = ini_parse_stream(read_line, &c, on_setting, &c);
	fclose(f);
	if (c.failed)
		return KW_ECONFIG;
	if (rc != 0) {
		snprintf(err, CONFIG_ERR_MAX, "%s:%d: syntax error", path, rc);
		return KW_ECONFIG;
	}
	return 0;
}

int config_load_env(struct config *cfg, char err[CONFIG_ERR_MAX])
{
	for (size_t i = 0; i < config_nrows; i++) {
		const struct config_row *r = &config_rows[i];
		char name[128];
		const char *v;
		size_t k;

		snprintf(name, sizeof(name), "KILOWATT_%s_%s", r->section, r->key);
		for (k = 0; name[k]; k++)
			name[k] = (char)toupper((unsigned char)name[k]);
		v = getenv(name);
		if (v && config_set(cfg, r->section, r->key, v, name, err) != 0)
			return KW_ECONFIG;
	}
	return 0;
}

static void print_value(const struct config *cfg, const struct config_row *r, FILE *out)
{
	const void *p = cfield(cfg, r);
	switch (r->type) {
	case CFG_STRING:
		fprintf(out, "%s", *(char *const *)p);
		break;
	case CFG_BOOL:
		fprintf(out, "%s", *(const bool *)p ? "true" : "false");
		break;
	case CFG_DURATION:
		fprintf(out, "%llds", (long long)*(const int64_t *)p);
		break;
	default:
		fprintf(out, "%lld", (long long)*(const int64_t *)p);
	}
}

void config_dump(const struct config *cfg, FILE *out)
{
	const char *section = "";
	for (size_t i = 0; i < config_nrows; i++) {
		const struct config_row *r = &config_rows[i];
		if (strcmp(section, r->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", r->section);
			section = r->section;
		}
		fprintf(out, "# %s\n# default: %s%s\n%s = ", r->help, r->def,
			r->reloadable ? " (reloaded on SIGHUP)" : "", r->key);
		print_value(cfg, r, out);
		fputc('\n', out);
	}
}

void config_reload(struct config *cfg, const struct config *fresh)
{
	char err[CONFIG_ERR_MAX];
	for (size_t i = 0; i < config_nrows; i++) {
		const struct config_row *r = &config_rows[i];
		if (!r->reloadable || r->type != CFG_STRING)
			continue; /* Only string settings are reloadable so far. */
		const char *nv = *(char *const *)cfield(fresh, r);
		if (strcmp(nv, *(char **)field(cfg, r)) == 0)
			continue;
		if (config_set(cfg, r->section, r->key, nv, "reload", err) == 0)
			log_info("config", "reloaded %s.%s = %s", r->section, r->key, nv);
	}
}
