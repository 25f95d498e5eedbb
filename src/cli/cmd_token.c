/*
 * cmd_token.c - `kilowatt token create|list|revoke`.
 *
 * A token is "kw_" + 43 characters of URL-safe base64 (256 random bits).  It
 * is printed once; only its SHA-256 is stored, so a copy of the database
 * does not reveal working tokens.  Runs against the same database as a
 * running daemon (SQLite WAL allows it); the daemon notices a revocation
 * within its token cache time (5 s).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/tz.h"
#include "store/store.h"
#include "core/banned.h"

struct tok_cmd {
	const char *name;
	const char *scope;
	long long id;
	char canonical[96];
	unsigned char hash[32];
	int64_t new_id;
	struct store_token *list;
	size_t n;
};

static int do_create(struct store_conn *c, void *ud)
{
	struct tok_cmd *t = ud;
	return store_token_insert(c, t->name, t->canonical, t->hash, &t->new_id);
}

static int do_revoke(struct store_conn *c, void *ud)
{
	struct tok_cmd *t = ud;
	return store_token_revoke(c, t->id);
}

static int do_list(struct store_conn *c, void *ud)
{
	struct tok_cmd *t = ud;
	return store_token_list(c, &t->list, &t->n);
}

/* A device scope names the device's UUID, whichever key was given. */
static int resolve_scope(struct store *s, void *ud)
{
	struct tok_cmd *t = ud;
	struct store_device *d;

	if (!t->scope || strncmp(t->scope, "device:", 7) != 0)
		return 0;
	if (!(d = store_device_find(s, t->scope + 7))) {
		fprintf(stderr, "kilowatt token: no device '%s'\n", t->scope + 7);
		return KW_ENOTFOUND;
	}
	snprintf(t->canonical, sizeof(t->canonical), "device:%s", d->uuid);
	store_device_free(d);
	return 0;
}

static int run_job(const struct config *cfg, struct tok_cmd *t, store_write_fn wfn,
		   store_read_fn rfn)
{
	return cli_store_job(cfg, "token", resolve_scope, wfn, rfn, t, NULL);
}

static int create(const struct config *cfg, struct tok_cmd *t)
{
	unsigned char raw[32];
	char token[3 + sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	int rc;

	if (!t->name || !t->scope) {
		fprintf(stderr, "usage: kilowatt token create --name NAME --scope "
				"admin|ingest|device:ID\n");
		return 2;
	}
	if (strcmp(t->scope, "admin") != 0 && strcmp(t->scope, "ingest") != 0 &&
	    strncmp(t->scope, "device:", 7) != 0) {
		fprintf(stderr, "kilowatt token: scope must be admin, ingest or device:ID\n");
		return 2;
	}
	snprintf(t->canonical, sizeof(t->canonical), "%s", t->scope);
	randombytes_buf(raw, sizeof(raw));
	memcpy(token, "kw_", 3);
	sodium_bin2base64(token + 3, sizeof(token) - 3, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(t->hash, (const unsigned char *)token, strlen(token));
	if ((rc = run_job(cfg, t, do_create, NULL)) != 0) {
		fprintf(stderr, "kilowatt token: cannot create token: %s\n", kw_strerror(rc));
		return 1;
	}
	printf("%s\n", token);
	fprintf(stderr, "created token %lld '%s' with scope %s; it is shown only this once\n",
		(long long)t->new_id, t->name, t->canonical);
	return 0;
}

static int list(const struct config *cfg, struct tok_cmd *t)
{
	const struct tz *utc = tz_get("UTC");
	char c1[TZ_RFC3339_MAX], c2[TZ_RFC3339_MAX];
	int rc = run_job(cfg, t, NULL, do_list);
	if (rc) {
		fprintf(stderr, "kilowatt token: cannot list tokens: %s\n", kw_strerror(rc));
		return 1;
	}
	printf("%-5s %-24s %-45s %-22s %-22s %s\n", "ID", "NAME", "SCOPE", "CREATED", "LAST USED",
	       "STATE");
	for (size_t i = 0; i < t->n; i++) {
		const struct store_token *k = &t->list[i];
		printf("%-5lld %-24s %-45s %-22s %-22s %s\n", (long long)k->id, k->name, k->scope,
		       tz_format_rfc3339(utc, k->created_at, c1),
		       k->last_used_at ? tz_format_rfc3339(utc, k->last_used_at, c2) : "never",
		       k->revoked ? "revoked" : "active");
	}
	free(t->list);
	return 0;
}

static int revoke(const struct config *cfg, struct tok_cmd *t)
{
	int rc;
	if (t->id <= 0) {
		fprintf(stderr, "usage: kilowatt token revoke --id ID\n");
		return 2;
	}
	if ((rc = run_job(cfg, t, do_revoke, NULL)) != 0) {
		fprintf(stderr, "kilowatt token: cannot revoke token %lld: %s\n", t->id,
			rc == KW_ENOTFOUND ? "no such active token" : kw_strerror(rc));
		return 1;
	}
	fprintf(stderr, "revoked token %lld\n", t->id);
	return 0;
}

int cmd_token(int argc, char **argv)
{
	static const struct option opts[] = { { "name", required_argument, NULL, 'n' },
					      { "scope", required_argument, NULL, 's' },
					      { "id", required_argument, NULL, 'i' },
					      { "config", required_argument, NULL, 'c' },
					      { "data", required_argument, NULL, 'd' },
					      { NULL, 0, NULL, 0 } };
	struct tok_cmd t = { 0 };
	const char *config = NULL, *data = NULL, *sub = argc > 1 ? argv[1] : "";
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	int c, rc;
	static const char usage[] =
	    "usage: kilowatt token create --name NAME --scope admin|ingest|device:ID [--data DIR] "
	    "[--config FILE]\n"
	    "       kilowatt token list [--data DIR] [--config FILE]\n"
	    "       kilowatt token revoke --id ID [--data DIR] [--config FILE]\n";

	if (argc < 2 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			t.name = optarg;
		else if (c == 's')
			t.scope = optarg;
		else if (c == 'i')
			t.id = strtoll(optarg, NULL, 10);
		else if (c == 'c')
			config = optarg;
		else if (c == 'd')
			data = optarg;
		else
			return 2;
	}
	if (cli_load_config(&cfg, config) != 0)
		return 1;
	if (data && config_set(&cfg, "storage", "data_dir", data, "--data", err) != 0) {
		fprintf(stderr, "kilowatt: %s\n", err);
		config_release(&cfg);
		return 1;
	}
	if (strcmp(sub, "create") == 0)
		rc = create(&cfg, &t);
	else if (strcmp(sub, "list") == 0)
		rc = list(&cfg, &t);
	else if (strcmp(sub, "revoke") == 0)
		rc = revoke(&cfg, &t);
	else {
		fputs(usage, stderr);
		rc = 2;
	}
	config_release(&cfg);
	return rc;
}
