/*
 * cmd_user.c - `kilowatt user add|list|passwd|disable|enable`: user accounts
 * from the command line, for the first admin and for recovery.
 *
 * Design: like cmd_token.c, a subcommand opens the store (the daemon's
 * database: SQLite's WAL lets this process write beside a running daemon),
 * runs one job to completion and closes it.  The subcommands are rows of
 * subs[], each naming the options it takes and the ones it needs; the
 * dispatcher checks both once.  Hashing a password (Argon2id, ~0.1 s) runs
 * here on the main thread before the job is queued: there is no event loop
 * to keep responsive.  Audit entries carry the user as JSON, built with
 * jansson, the JSON library http/ and ingest/ already use (no second JSON
 * writer to keep in step with theirs); it also checks that flags are UTF-8.
 *
 * Invariants:
 *  1. A password comes only from standard input (one line) or from
 *     password_generate(): never from argv, which `ps` and shell history
 *     see, nor from the environment.  It is never logged or echoed; a
 *     generated one is printed once, and only after the change committed.
 *  2. The plaintext is wiped (explicit_bzero) once hashed, or once printed
 *     when generated; standard input is read unbuffered so that stdio keeps
 *     no copy of it.
 *  3. A change and its audit entry are one write job, so one transaction:
 *     both are stored or neither.
 *  4. The user is looked up by email inside the job that changes it, so
 *     the audit's "before" is what the change replaced.
 *
 * Threading: the main thread plays the store's loop thread.  The closures
 * (do_*) run on the store's writer or reader thread and only read and fill
 * the struct user_job; main reads it again after the job's completion.
 */
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "auth/password.h"
#include "cli/cli.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "core/banned.h"

#define EMAIL_MAX_BYTES 254 /* RFC 5321's limit on a forward path */
#define NAME_MAX_BYTES	200
#define REF_MAX_BYTES	128
#define LIST_PAGE	256 /* users per store_user_list() call */

/* Options beyond --data and --config, which every subcommand takes. */
enum {
	O_EMAIL = 1u << 0,
	O_NAME = 1u << 1,
	O_ROLE = 1u << 2,
	O_REF = 1u << 3,
	O_GENERATE = 1u << 4,
};

static const struct {
	unsigned opt;
	const char *flag;
} flags[] = { { O_EMAIL, "--email" },
	      { O_NAME, "--name" },
	      { O_ROLE, "--role" },
	      { O_REF, "--customer-ref" },
	      { O_GENERATE, "--generate" } };

struct user_opts {
	unsigned given; /* O_* seen on the command line */
	const char *email, *name, *ref;
	enum user_role role;
};

struct user_job {
	/* In: */
	const char *email;	      /* the user to change */
	struct store_user u;	      /* add: the new user (strings borrowed) */
	char hash[PASSWORD_HASH_MAX]; /* add, passwd: the Argon2id string */
	bool disable;		      /* disable, enable: the state wanted */
	char actor[64];		      /* who ran the command, for the audit log */
	/* Out: */
	struct store_user found; /* passwd, disable, enable: the user (released by main) */
	bool changed;		 /* disable, enable: the state was different */
	int64_t admins;		 /* disable: enabled admins left */
	int64_t taken_id;	 /* add, KW_EEXIST: the user who has the email */
	struct store_user *list; /* list */
	size_t n;
	bool open_failed; /* the store could not be opened (said so) */
};

/* --- store jobs -------------------------------------------------------------------- */

static const char *role_name(enum user_role r)
{
	return r == ROLE_ADMIN ? "admin" : "client";
}

/* The user as JSON text for the audit log (malloc'd; no password: the
 * struct holds none). */
static char *user_json(const struct store_user *u)
{
	char created[TZ_RFC3339_MAX];
	json_t *o =
	    json_pack("{s:I, s:s, s:s, s:s, s:s?, s:b, s:s}", "id", (json_int_t)u->id, "email",
		      u->email, "name", u->name, "role", role_name(u->role), "customer_ref",
		      u->customer_ref, "disabled", (int)u->disabled, "created_at",
		      tz_format_rfc3339(tz_get("UTC"), u->created_at, created));
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL; /* as http/ */

	json_decref(o);
	return text ? text : xstrdup("null"); /* only if the text was not UTF-8 */
}

/* Records action on user id, by the CLI. */
static int audit(struct store_conn *c, const struct user_job *j, const char *action, int64_t id,
		 const struct store_user *before, const struct store_user *after)
{
	char object_id[24];
	char *b = before ? user_json(before) : NULL, *a = after ? user_json(after) : NULL;
	struct store_audit e = { .actor_kind = "cli",
				 .actor_name = j->actor,
				 .action = action,
				 .object_type = "user",
				 .object_id = object_id,
				 .before = b,
				 .after = a };
	int rc;

	snprintf(object_id, sizeof(object_id), "%lld", (long long)id);
	rc = store_audit_insert(c, &e);
	free(b);
	free(a);
	return rc;
}

static int do_add(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	struct store_user old = { 0 };
	int rc = store_user_by_email(c, j->u.email, &old, NULL);

	if (rc == 0) {
		j->taken_id = old.id;
		store_user_release(&old);
		return KW_EEXIST;
	}
	if (rc != KW_ENOTFOUND)
		return rc;
	if ((rc = store_user_insert(c, &j->u, j->hash)) != 0)
		return rc;
	return audit(c, j, "user.create", j->u.id, NULL, &j->u);
}

static int do_passwd(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	int rc = store_user_by_email(c, j->email, &j->found, NULL);

	if (rc != 0)
		return rc;
	if ((rc = store_user_set_password(c, j->found.id, j->hash)) != 0) /* ends sessions */
		return rc;
	return audit(c, j, "user.password_reset", j->found.id, NULL, NULL);
}

static int do_set_disabled(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	struct store_user after;
	int rc = store_user_by_email(c, j->email, &j->found, NULL);

	if (rc != 0)
		return rc;
	/* A disabled user has no sessions; ending them again costs nothing
	 * and leaves none behind whatever the state was. */
	if (j->disable && (rc = store_session_delete_user(c, j->found.id)) != 0)
		return rc;
	if (j->found.disabled == j->disable)
		return 0;
	j->changed = true;
	after = j->found; /* shares the strings */
	after.disabled = j->disable;
	if ((rc = store_user_update(c, &after)) != 0 ||
	    (rc = audit(c, j, "user.update", after.id, &j->found, &after)) != 0)
		return rc;
	return store_user_admins(c, &j->admins);
}

static int do_list(struct store_conn *c, void *ud)
{
	struct user_job *j = ud;
	size_t cap = 0;
	int64_t after = 0;

	for (;;) {
		struct store_user *page;
		size_t n;
		int rc = store_user_list(c, after, LIST_PAGE, NULL, &page, &n);

		if (rc != 0)
			return rc;
		xgrow((void **)&j->list, &cap, j->n + n, sizeof(*j->list));
		if (n)
			memcpy(j->list + j->n, page, n * sizeof(*page));
		j->n += n;
		free(page);
		if (n < LIST_PAGE)
			return 0;
		after = j->list[j->n - 1].id;
	}
}

/* Opens the store, runs one job to completion, closes it.  Returns the
 * job's result; a store that cannot be opened is reported there. */
static int run_job(const struct config *cfg, struct user_job *j, store_write_fn wfn,
		   store_read_fn rfn)
{
	return cli_store_job(cfg, "user", NULL, wfn, rfn, j, &j->open_failed);
}

/* --- passwords (invariants 1 and 2) --------------------------------------------------- */

/* Room for one byte past the longest password, so that password_policy()
 * sees a line that is too long as too long, and for the NUL. */
#define PW_BUF (PASSWORD_MAX_BYTES + 2)
_Static_assert(PW_BUF > PASSWORD_GEN_CHARS, "a generated password must fit");

/* Reads the first line of standard input into pw without its line end
 * ("\n" or "\r\n").  0, or 1 after saying what is wrong. */
static int read_password(char pw[PW_BUF])
{
	size_t n = 0;
	int ch = EOF;

	setvbuf(stdin, NULL, _IONBF, 0); /* invariant 2 */
	while (n < PW_BUF - 1 && (ch = getchar()) != EOF && ch != '\n')
		pw[n++] = (char)ch;
	if (n == 0 && ch == EOF) {
		fprintf(stderr, "kilowatt user: no password on standard input: pipe one line, "
				"or use --generate\n");
		return 1;
	}
	if (n > 0 && pw[n - 1] == '\r' && ch == '\n')
		n--;
	pw[n] = '\0';
	if (memchr(pw, '\0', n)) {
		fprintf(stderr, "kilowatt user: password must not contain a NUL byte\n");
		return 1;
	}
	return 0;
}

/*
 * The new password: the first line of standard input when it is not a
 * terminal and --generate was not given, else a generated one (*generated
 * set).  Then hashes it into hash.  The plaintext stays in pw only when
 * generated, to be printed once the change is committed.  0, or 1 after
 * saying why (the rule broken, for a password that was given).
 */
static int new_password(const struct user_opts *o, char pw[PW_BUF], bool *generated,
			char hash[PASSWORD_HASH_MAX])
{
	const char *why;

	*generated = (o->given & O_GENERATE) || isatty(STDIN_FILENO);
	if (*generated) {
		password_generate(pw);
	} else if (read_password(pw) != 0) {
		explicit_bzero(pw, PW_BUF);
		return 1;
	} else if ((why = password_policy(pw)) != NULL) {
		explicit_bzero(pw, PW_BUF);
		fprintf(stderr, "kilowatt user: %s\n", why);
		return 1;
	}
	if (password_hash(pw, hash) != 0) {
		explicit_bzero(pw, PW_BUF);
		fprintf(stderr, "kilowatt user: cannot hash the password: out of memory\n");
		return 1;
	}
	if (!*generated)
		explicit_bzero(pw, PW_BUF);
	return 0;
}

/* Prints a generated password (once) and wipes it. */
static void show_password(char pw[PW_BUF], bool generated)
{
	if (generated) {
		printf("password: %s\n", pw);
		fflush(stdout);
		fprintf(stderr, "the password is shown only this once: only its Argon2id hash "
				"is stored\n");
	}
	explicit_bzero(pw, PW_BUF);
}

/* --- checking flags ------------------------------------------------------------------- */

/* Why text cannot be stored as a field of a user (NULL: it can): it must be
 * UTF-8 (JSON answers carry it), without control characters (a terminal
 * shows it), non-empty and at most max bytes. */
static const char *text_problem(const char *s, size_t max)
{
	json_t *utf8 = json_string(s); /* NULL when s is not UTF-8 */
	bool ok = utf8 != NULL;

	json_decref(utf8);
	if (!ok)
		return "is not UTF-8";
	if (!*s)
		return "is empty";
	if (strlen(s) > max)
		return "is too long";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	return NULL;
}

static const char *email_problem(const char *s)
{
	const char *why = text_problem(s, EMAIL_MAX_BYTES), *at = strchr(s, '@');

	if (why)
		return why;
	if (!at || at == s || !at[1] || strchr(at + 1, '@') || strpbrk(s, " \t"))
		return "is not an email address";
	return NULL;
}

/* 0, or 2 after naming the flag and what is wrong with it. */
static int check_fields(const struct user_opts *o)
{
	const struct {
		unsigned opt;
		const char *flag, *value, *why;
	} fields[] = {
		{ O_EMAIL, "--email", o->email, o->email ? email_problem(o->email) : NULL },
		{ O_NAME, "--name", o->name,
		  o->name ? text_problem(o->name, NAME_MAX_BYTES) : NULL },
		{ O_REF, "--customer-ref", o->ref,
		  o->ref ? text_problem(o->ref, REF_MAX_BYTES) : NULL },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if ((o->given & fields[i].opt) && fields[i].why) {
			fprintf(stderr, "kilowatt user: %s '%s' %s\n", fields[i].flag,
				fields[i].value, fields[i].why);
			return 2;
		}
	}
	return 0;
}

/* The login name of whoever runs the command, for the audit log. */
static void actor_name(char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", pw.pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)getuid());
}

/* --- subcommands ---------------------------------------------------------------------- */

/* Reports the failed job j on the user with email: exit status 1. */
static int job_failed(const struct user_job *j, const char *what, const char *email, int rc)
{
	if (j->open_failed)
		return 1; /* run_job said why */
	if (rc == KW_ENOTFOUND)
		fprintf(stderr, "kilowatt user: no user with email '%s'\n", email);
	else if (rc == KW_EEXIST && j->taken_id)
		fprintf(stderr,
			"kilowatt user: cannot %s '%s': user %lld has that email already "
			"(emails are compared ignoring case)\n",
			what, email, (long long)j->taken_id);
	else
		fprintf(stderr, "kilowatt user: cannot %s '%s': %s\n", what, email,
			kw_strerror(rc));
	return 1;
}

static int add(const struct config *cfg, const struct user_opts *o)
{
	struct user_job j = { .u = { .name = (char *)o->name,
				     .email = (char *)o->email,
				     .role = o->role,
				     .customer_ref = (char *)o->ref } };
	char pw[PW_BUF];
	bool generated;
	int rc;

	actor_name(j.actor, sizeof(j.actor));
	if (new_password(o, pw, &generated, j.hash) != 0)
		return 1;
	if ((rc = run_job(cfg, &j, do_add, NULL)) != 0) {
		explicit_bzero(pw, PW_BUF);
		return job_failed(&j, "add user", o->email, rc);
	}
	printf("id: %lld\n", (long long)j.u.id);
	fprintf(stderr, "created user %lld '%s' with role %s\n", (long long)j.u.id, o->email,
		role_name(o->role));
	show_password(pw, generated);
	return 0;
}

static int passwd(const struct config *cfg, const struct user_opts *o)
{
	struct user_job j = { .email = o->email };
	char pw[PW_BUF];
	bool generated;
	int rc;

	actor_name(j.actor, sizeof(j.actor));
	if (new_password(o, pw, &generated, j.hash) != 0)
		return 1;
	if ((rc = run_job(cfg, &j, do_passwd, NULL)) != 0) {
		explicit_bzero(pw, PW_BUF);
		store_user_release(&j.found);
		return job_failed(&j, "set the password of", o->email, rc);
	}
	fprintf(stderr, "set the password of user %lld '%s' and ended its sessions\n",
		(long long)j.found.id, j.found.email);
	show_password(pw, generated);
	store_user_release(&j.found);
	return 0;
}

static int set_disabled(const struct config *cfg, const struct user_opts *o, bool disable)
{
	struct user_job j = { .email = o->email, .disable = disable };
	const char *state = disable ? "disabled" : "enabled";
	int rc;

	actor_name(j.actor, sizeof(j.actor));
	if ((rc = run_job(cfg, &j, do_set_disabled, NULL)) != 0) {
		store_user_release(&j.found);
		return job_failed(&j, disable ? "disable user" : "enable user", o->email, rc);
	}
	if (!j.changed)
		fprintf(stderr, "user %lld '%s' is %s already\n", (long long)j.found.id,
			j.found.email, state);
	else
		fprintf(stderr, "%s user %lld '%s'%s\n", state, (long long)j.found.id,
			j.found.email, disable ? " and ended its sessions" : "");
	if (j.changed && disable && j.found.role == ROLE_ADMIN && j.admins == 0)
		fprintf(stderr, "warning: no enabled admin is left; 'kilowatt user enable' or "
				"'kilowatt user add --role admin' makes one\n");
	store_user_release(&j.found);
	return 0;
}

static int disable(const struct config *cfg, const struct user_opts *o)
{
	return set_disabled(cfg, o, true);
}

static int enable(const struct config *cfg, const struct user_opts *o)
{
	return set_disabled(cfg, o, false);
}

/* A copy of s that a terminal shows as text: control characters become
 * '?' (users made through the API may hold anything). */
static char *printable(const char *s)
{
	char *p = xstrdup(s ? s : "");
	for (unsigned char *q = (unsigned char *)p; *q; q++)
		if (*q < 0x20 || *q == 0x7f)
			*q = '?';
	return p;
}

static int list(const struct config *cfg, const struct user_opts *o)
{
	const struct tz *utc = tz_get("UTC");
	struct user_job j = { 0 };
	int we = (int)strlen("EMAIL"), wn = (int)strlen("NAME");
	int rc = run_job(cfg, &j, NULL, do_list);

	if (rc != 0) {
		if (!j.open_failed)
			fprintf(stderr, "kilowatt user: cannot list users: %s\n", kw_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < j.n; i++) {
		int le = (int)strlen(j.list[i].email), ln = (int)strlen(j.list[i].name);
		we = le > we ? le : we;
		wn = ln > wn ? ln : wn;
	}
	printf("%-5s %-*s %-*s %-6s %-8s %s\n", "ID", we, "EMAIL", wn, "NAME", "ROLE", "DISABLED",
	       "CREATED");
	for (size_t i = 0; i < j.n; i++) {
		struct store_user *u = &j.list[i];
		char created[TZ_RFC3339_MAX];
		char *email = printable(u->email), *name = printable(u->name);

		printf("%-5lld %-*s %-*s %-6s %-8s %s\n", (long long)u->id, we, email, wn, name,
		       role_name(u->role), u->disabled ? "yes" : "no",
		       tz_format_rfc3339(utc, u->created_at, created));
		free(email);
		free(name);
		store_user_release(u);
	}
	free(j.list);
	return 0;
}

/* --- dispatch ------------------------------------------------------------------------- */

struct sub {
	const char *name;
	int (*run)(const struct config *cfg, const struct user_opts *o);
	unsigned takes; /* O_* allowed */
	unsigned needs; /* O_* required */
	const char *usage;
};

static const struct sub subs[] = {
	{ "add", add, O_EMAIL | O_NAME | O_ROLE | O_REF | O_GENERATE, O_EMAIL | O_NAME,
	  "kilowatt user add --email EMAIL --name NAME [--role admin|client]\n"
	  "                  [--customer-ref REF] [--generate] [--data DIR] [--config FILE]" },
	{ "list", list, 0, 0, "kilowatt user list [--data DIR] [--config FILE]" },
	{ "passwd", passwd, O_EMAIL | O_GENERATE, O_EMAIL,
	  "kilowatt user passwd --email EMAIL [--generate] [--data DIR] [--config FILE]" },
	{ "disable", disable, O_EMAIL, O_EMAIL,
	  "kilowatt user disable --email EMAIL [--data DIR] [--config FILE]" },
	{ "enable", enable, O_EMAIL, O_EMAIL,
	  "kilowatt user enable --email EMAIL [--data DIR] [--config FILE]" },
};
#define N_SUBS (sizeof(subs) / sizeof(subs[0]))

static void usage(FILE *out, const struct sub *only)
{
	for (size_t i = 0; i < N_SUBS; i++)
		if (!only || only == &subs[i])
			fprintf(out, "%s %s\n", i == 0 || only ? "usage:" : "      ",
				subs[i].usage);
	if (!only || (only->takes & O_GENERATE))
		fputs(
		    "A password is read from standard input (its first line) when that is not a\n"
		    "terminal; otherwise, or with --generate, one is generated and printed once.\n",
		    out);
}

static int role_parse(const char *s, enum user_role *out)
{
	static const struct {
		const char *name;
		enum user_role role;
	} roles[] = { { "admin", ROLE_ADMIN }, { "client", ROLE_CLIENT } };

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(s, roles[i].name) == 0) {
			*out = roles[i].role;
			return 0;
		}
	}
	return KW_EINVAL;
}

/* Parses argv[2..] into o, *config and *data.  0, 1 for --help, or 2 after
 * saying what is wrong. */
static int parse(int argc, char **argv, const struct sub *sub, struct user_opts *o,
		 const char **config, const char **data)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "customer-ref", required_argument, NULL, 'R' },
		{ "generate", no_argument, NULL, 'g' },
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->role = ROLE_CLIENT;
	optind = 2;
	opterr = 0; /* the messages below name the command */
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o->given |= O_EMAIL;
			o->email = optarg;
			break;
		case 'n':
			o->given |= O_NAME;
			o->name = optarg;
			break;
		case 'r':
			o->given |= O_ROLE;
			if (role_parse(optarg, &o->role) != 0) {
				fprintf(stderr, "kilowatt user: --role must be admin or client\n");
				return 2;
			}
			break;
		case 'R':
			o->given |= O_REF;
			o->ref = optarg;
			break;
		case 'g':
			o->given |= O_GENERATE;
			break;
		case 'd':
			*data = optarg;
			break;
		case 'c':
			*config = optarg;
			break;
		case 'h':
			return 1;
		case ':':
			fprintf(stderr, "kilowatt user %s: %s needs a value\n", sub->name,
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "kilowatt user %s: unknown option '%s'\n", sub->name,
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kilowatt user %s: unexpected argument '%s'\n", sub->name,
			argv[optind]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((o->given & flags[i].opt) && !(sub->takes & flags[i].opt)) {
			fprintf(stderr, "kilowatt user %s: %s does not apply\n", sub->name,
				flags[i].flag);
			return 2;
		}
		if ((sub->needs & flags[i].opt) && !(o->given & flags[i].opt)) {
			fprintf(stderr, "kilowatt user %s: %s is required\n", sub->name,
				flags[i].flag);
			return 2;
		}
	}
	return check_fields(o);
}

int cmd_user(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "", *config = NULL, *data = NULL;
	const struct sub *sub = NULL;
	struct user_opts o = { 0 };
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	int rc;

	for (size_t i = 0; i < N_SUBS; i++)
		if (strcmp(name, subs[i].name) == 0)
			sub = &subs[i];
	if (!sub) {
		bool help = strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0;
		if (!help && argc > 1)
			fprintf(stderr, "kilowatt user: unknown subcommand '%s'\n", name);
		usage(help ? stdout : stderr, NULL);
		return help ? 0 : 2;
	}
	if ((rc = parse(argc, argv, sub, &o, &config, &data)) != 0) {
		usage(rc == 1 ? stdout : stderr, sub);
		return rc == 1 ? 0 : 2;
	}
	if (cli_load_config(&cfg, config) != 0)
		return 1;
	if (data && config_set(&cfg, "storage", "data_dir", data, "--data", err) != 0) {
		fprintf(stderr, "kilowatt: %s\n", err);
		config_release(&cfg);
		return 1;
	}
	rc = sub->run(&cfg, &o);
	config_release(&cfg);
	return rc;
}
