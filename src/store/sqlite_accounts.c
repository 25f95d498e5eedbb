/*
 * sqlite_accounts.c - the SQLite backend's accounts: users, sessions, who
 * owns which device (mappings), and the audit log (schema: migration 6 in
 * sqlite.c; contract: store.h and backend.h).
 *
 * Invariants:
 *  1. A password is stored only as its Argon2id string, and only
 *     user_by_email() ever reads it back.
 *  2. A session is stored only as the SHA-256 of its secret.
 *  3. Deleting a user deletes its sessions, mappings and notifications in
 *     the same transaction; changing a password deletes the user's
 *     sessions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/sqlite_int.h"
#include "core/banned.h"

#define USER_COLS "id, name, email, role, customer_ref, disabled, created_at, email_alerts"

const char *const sq__acct_sql[A_COUNT] = {
	[A_USER_INSERT] = "INSERT INTO user(name, email, role, password, customer_ref, disabled,"
			  " created_at, email_alerts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[A_USER_UPDATE] = "UPDATE user SET name = ?2, email = ?3, role = ?4, customer_ref = ?5,"
			  " disabled = ?6, email_alerts = ?7 WHERE id = ?1",
	[A_USER_PASSWORD] = "UPDATE user SET password = ?2 WHERE id = ?1",
	[A_USER_DELETE] = "DELETE FROM user WHERE id = ?1",
	[A_USER_GET] = "SELECT " USER_COLS " FROM user WHERE id = ?1",
	[A_USER_BY_EMAIL] = "SELECT " USER_COLS ", password FROM user WHERE email = ?1",
	[A_USER_LIST] = "SELECT " USER_COLS " FROM user WHERE id > ?1 AND (?2 IS NULL"
			" OR instr(lower(name), lower(?2)) OR instr(lower(email), lower(?2))"
			" OR instr(lower(coalesce(customer_ref, '')), lower(?2)))"
			" ORDER BY id LIMIT ?3",
	[A_USER_ADMINS] = "SELECT count(*) FROM user WHERE role = 1 AND disabled = 0",
	[A_USER_ADMIN_IDS] = "SELECT id FROM user WHERE role = 1 AND disabled = 0 ORDER BY id",
	[A_SESSION_INSERT] = "INSERT INTO session(hash, user_id, csrf, created_at, last_seen_at,"
			     " expires_at) VALUES(?1, ?2, ?3, ?4, ?4, ?5)",
	[A_SESSION_FIND] = "SELECT s.id, s.user_id, s.csrf, s.created_at, s.last_seen_at,"
			   " s.expires_at, u.id, u.name, u.email, u.role, u.customer_ref,"
			   " u.disabled, u.created_at, u.email_alerts FROM session s JOIN user u"
			   " ON u.id = s.user_id WHERE s.hash = ?1",
	[A_SESSION_TOUCH] = "UPDATE session SET last_seen_at = ?2 WHERE id = ?1",
	[A_SESSION_DELETE] = "DELETE FROM session WHERE id = ?1",
	[A_SESSION_DELETE_USER] = "DELETE FROM session WHERE user_id = ?1",
	[A_SESSION_PURGE] = "DELETE FROM session WHERE expires_at <= ?1 OR last_seen_at < ?2",
	[A_MAPPING_INSERT] = "INSERT INTO mapping(user_id, device_id, created_at)"
			     " VALUES(?1, ?2, ?3)",
	[A_MAPPING_GET] = "SELECT id, user_id, device_id, created_at FROM mapping WHERE id = ?1",
	[A_MAPPING_DELETE] = "DELETE FROM mapping WHERE id = ?1",
	[A_MAPPING_DELETE_USER] = "DELETE FROM mapping WHERE user_id = ?1",
	[A_MAPPING_DELETE_DEVICE] = "DELETE FROM mapping WHERE device_id = ?1",
	[A_MAPPING_LIST] = "SELECT id, user_id, device_id, created_at FROM mapping"
			   " WHERE (?1 = 0 OR user_id = ?1) AND (?2 = 0 OR device_id = ?2)"
			   " ORDER BY id",
	[A_MAPPING_EXISTS] = "SELECT 1 FROM mapping WHERE user_id = ?1 AND device_id = ?2",
	[A_AUDIT_INSERT] = "INSERT INTO audit(at, actor_kind, actor_id, actor_name, action,"
			   " object_type, object_id, before, after)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[A_AUDIT_LIST] = "SELECT id, at, actor_kind, actor_id, actor_name, action, object_type,"
			 " object_id, before, after FROM audit WHERE (?1 = 0 OR id < ?1)"
			 " AND (?3 = 0 OR (actor_kind IN ('user', 'signup') AND actor_id = ?3)"
			 " OR (object_type = 'user' AND object_id = CAST(?3 AS TEXT)))"
			 " AND (?4 IS NULL OR object_type = ?4) AND (?5 IS NULL OR object_id = ?5)"
			 " ORDER BY id DESC LIMIT ?2",
};

static sqlite3_stmt *ast(struct store_conn *c, int i)
{
	return sq__reset(SQ(c)->acct[i]);
}

/* Steps a statement that changes one row: KW_ENOTFOUND when none. */
static int run_one(struct store_conn *c, sqlite3_stmt *s, const char *what)
{
	int rc = sq__run(SQ(c), s, what);
	if (rc == 0 && sqlite3_changes(SQ(c)->db) == 0)
		rc = KW_ENOTFOUND;
	return rc;
}

/* --- users ---------------------------------------------------------------------- */

/* Reads the USER_COLS starting at column i. */
static void user_row(sqlite3_stmt *s, int i, struct store_user *u)
{
	u->id = sqlite3_column_int64(s, i);
	u->name = sq__col_dup(s, i + 1);
	u->email = sq__col_dup(s, i + 2);
	u->role = sqlite3_column_int(s, i + 3) == 1 ? ROLE_ADMIN : ROLE_CLIENT;
	u->customer_ref = sq__col_dup(s, i + 4);
	u->disabled = sqlite3_column_int(s, i + 5) != 0;
	u->created_at = sqlite3_column_int64(s, i + 6);
	u->email_alerts = sqlite3_column_int(s, i + 7) != 0;
}

static void bind_user(sqlite3_stmt *s, const struct store_user *u)
{
	sqlite3_bind_text(s, 2, u->email, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, u->role == ROLE_ADMIN);
	sq__bind_text_or_null(s, 5, u->customer_ref);
	sqlite3_bind_int(s, 6, u->disabled);
}

static int sq_user_insert(struct store_conn *c, struct store_user *u, const char *pw_hash)
{
	sqlite3_stmt *s = ast(c, A_USER_INSERT);
	int rc;

	u->created_at = tz_now_ms();
	sqlite3_bind_text(s, 1, u->name, -1, SQLITE_STATIC);
	bind_user(s, u);
	sqlite3_bind_text(s, 4, pw_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, u->created_at);
	sqlite3_bind_int(s, 8, u->email_alerts);
	if ((rc = sq__run(SQ(c), s, "creating a user")) != 0)
		return rc;
	u->id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_user_update(struct store_conn *c, const struct store_user *u)
{
	sqlite3_stmt *s = ast(c, A_USER_UPDATE);
	sqlite3_bind_int64(s, 1, u->id);
	sqlite3_bind_text(s, 2, u->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, u->email, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, u->role == ROLE_ADMIN);
	sq__bind_text_or_null(s, 5, u->customer_ref);
	sqlite3_bind_int(s, 6, u->disabled);
	sqlite3_bind_int(s, 7, u->email_alerts);
	return run_one(c, s, "updating a user");
}

static int delete_by(struct store_conn *c, int stmt, int64_t id, const char *what)
{
	sqlite3_stmt *s = ast(c, stmt);
	sqlite3_bind_int64(s, 1, id);
	return sq__run(SQ(c), s, what);
}

static int sq_user_set_password(struct store_conn *c, int64_t id, const char *pw_hash)
{
	sqlite3_stmt *s = ast(c, A_USER_PASSWORD);
	int rc;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, pw_hash, -1, SQLITE_STATIC);
	if ((rc = run_one(c, s, "changing a password")) != 0)
		return rc;
	return delete_by(c, A_SESSION_DELETE_USER, id, "ending sessions"); /* invariant 3 */
}

static int sq_user_delete(struct store_conn *c, int64_t id)
{
	sqlite3_stmt *s = ast(c, A_USER_DELETE);
	int rc;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = run_one(c, s, "deleting a user")) != 0)
		return rc;
	if ((rc = delete_by(c, A_SESSION_DELETE_USER, id, "ending sessions")) != 0)
		return rc;
	if ((rc = delete_by(c, A_MAPPING_DELETE_USER, id, "deleting a user's mappings")) != 0)
		return rc;
	s = sq__reset(SQ(c)->alrt[N_DEL_USER_NOTES]);
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sq__run(SQ(c), s, "deleting a user's notifications")) != 0)
		return rc;
	return sq__chat_delete_user(c, id);
}

static int sq_user_get(struct store_conn *c, int64_t id, struct store_user *out)
{
	sqlite3_stmt *s = ast(c, A_USER_GET);
	int rc;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "reading a user");
	user_row(s, 0, out);
	return 0;
}

static int sq_user_by_email(struct store_conn *c, const char *email, struct store_user *out,
			    char **pw_hash)
{
	sqlite3_stmt *s = ast(c, A_USER_BY_EMAIL);
	int rc;
	sqlite3_bind_text(s, 1, email, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "finding a user");
	user_row(s, 0, out);
	if (pw_hash)
		*pw_hash = sq__col_dup(s, 8);
	return 0;
}

static int sq_user_list(struct store_conn *c, int64_t after, size_t limit, const char *q,
			struct store_user **out, size_t *n)
{
	sqlite3_stmt *s = ast(c, A_USER_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, after);
	sq__bind_text_or_null(s, 2, q && *q ? q : NULL);
	sqlite3_bind_int64(s, 3, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		user_row(s, 0, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing users");
}

static int sq_user_admins(struct store_conn *c, int64_t *n)
{
	sqlite3_stmt *s = ast(c, A_USER_ADMINS);
	if (sqlite3_step(s) != SQLITE_ROW)
		return sq__fail(SQ(c), "counting admins");
	*n = sqlite3_column_int64(s, 0);
	return 0;
}

static int sq_user_admin_ids(struct store_conn *c, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = ast(c, A_USER_ADMIN_IDS);
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)ids, &cap, *n + 1, sizeof(**ids));
		(*ids)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing admins");
}

/* --- sessions ------------------------------------------------------------------------ */

static int sq_session_insert(struct store_conn *c, const unsigned char hash[32], int64_t user_id,
			     const char *csrf, int64_t now, int64_t expires_at, int64_t *id)
{
	sqlite3_stmt *s = ast(c, A_SESSION_INSERT);
	int rc;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_text(s, 3, csrf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, expires_at);
	if ((rc = sq__run(SQ(c), s, "creating a session")) != 0)
		return rc;
	*id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_session_find(struct store_conn *c, const unsigned char hash[32],
			   struct store_session *out, struct store_user *user)
{
	sqlite3_stmt *s = ast(c, A_SESSION_FIND);
	int rc;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "finding a session");
	out->id = sqlite3_column_int64(s, 0);
	out->user_id = sqlite3_column_int64(s, 1);
	snprintf(out->csrf, sizeof(out->csrf), "%s", (const char *)sqlite3_column_text(s, 2));
	out->created_at = sqlite3_column_int64(s, 3);
	out->last_seen_at = sqlite3_column_int64(s, 4);
	out->expires_at = sqlite3_column_int64(s, 5);
	user_row(s, 6, user);
	return 0;
}

static int sq_session_touch(struct store_conn *c, int64_t id, int64_t when)
{
	sqlite3_stmt *s = ast(c, A_SESSION_TOUCH);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, when);
	return sq__run(SQ(c), s, "recording a session's use");
}

static int sq_session_delete(struct store_conn *c, int64_t id)
{
	return delete_by(c, A_SESSION_DELETE, id, "ending a session");
}

static int sq_session_delete_user(struct store_conn *c, int64_t user_id)
{
	return delete_by(c, A_SESSION_DELETE_USER, user_id, "ending sessions");
}

static int sq_session_purge(struct store_conn *c, int64_t now, int64_t idle_before)
{
	sqlite3_stmt *s = ast(c, A_SESSION_PURGE);
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, idle_before);
	return sq__run(SQ(c), s, "purging sessions");
}

/* --- mappings --------------------------------------------------------------------------- */

static void mapping_row(sqlite3_stmt *s, struct store_mapping *m)
{
	m->id = sqlite3_column_int64(s, 0);
	m->user_id = sqlite3_column_int64(s, 1);
	m->device_id = sqlite3_column_int64(s, 2);
	m->created_at = sqlite3_column_int64(s, 3);
}

static int sq_mapping_insert(struct store_conn *c, struct store_mapping *m)
{
	sqlite3_stmt *s = ast(c, A_MAPPING_INSERT);
	int rc;
	m->created_at = tz_now_ms();
	sqlite3_bind_int64(s, 1, m->user_id);
	sqlite3_bind_int64(s, 2, m->device_id);
	sqlite3_bind_int64(s, 3, m->created_at);
	if ((rc = sq__run(SQ(c), s, "creating a mapping")) != 0)
		return rc;
	m->id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_mapping_get(struct store_conn *c, int64_t id, struct store_mapping *out)
{
	sqlite3_stmt *s = ast(c, A_MAPPING_GET);
	int rc;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "reading a mapping");
	mapping_row(s, out);
	return 0;
}

static int sq_mapping_delete(struct store_conn *c, int64_t id)
{
	sqlite3_stmt *s = ast(c, A_MAPPING_DELETE);
	sqlite3_bind_int64(s, 1, id);
	return run_one(c, s, "deleting a mapping");
}

static int sq_mapping_list(struct store_conn *c, int64_t user_id, int64_t device_id,
			   struct store_mapping **out, size_t *n)
{
	sqlite3_stmt *s = ast(c, A_MAPPING_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, device_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		mapping_row(s, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing mappings");
}

static int sq_mapping_exists(struct store_conn *c, int64_t user_id, int64_t device_id)
{
	sqlite3_stmt *s = ast(c, A_MAPPING_EXISTS);
	int rc;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, device_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "checking a mapping");
}

/* --- audit ------------------------------------------------------------------------------ */

static int sq_audit_insert(struct store_conn *c, const struct store_audit *a)
{
	sqlite3_stmt *s = ast(c, A_AUDIT_INSERT);
	sqlite3_bind_int64(s, 1, a->at ? a->at : tz_now_ms());
	sqlite3_bind_text(s, 2, a->actor_kind, -1, SQLITE_STATIC);
	if (a->actor_id)
		sqlite3_bind_int64(s, 3, a->actor_id);
	sq__bind_text_or_null(s, 4, a->actor_name);
	sqlite3_bind_text(s, 5, a->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, a->object_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, a->object_id, -1, SQLITE_STATIC);
	sq__bind_text_or_null(s, 8, a->before);
	sq__bind_text_or_null(s, 9, a->after);
	return sq__run(SQ(c), s, "recording an audit entry");
}

static int sq_audit_list(struct store_conn *c, int64_t before, size_t limit, int64_t actor_id,
			 const char *object_type, const char *object_id, store_audit_fn fn,
			 void *ud)
{
	sqlite3_stmt *s = ast(c, A_AUDIT_LIST);
	int rc;

	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, (int64_t)limit);
	sqlite3_bind_int64(s, 3, actor_id);
	sq__bind_text_or_null(s, 4, object_type);
	sq__bind_text_or_null(s, 5, object_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_audit a = {
			.id = sqlite3_column_int64(s, 0),
			.at = sqlite3_column_int64(s, 1),
			.actor_kind = (const char *)sqlite3_column_text(s, 2),
			.actor_id = sqlite3_column_int64(s, 3),
			.actor_name = (const char *)sqlite3_column_text(s, 4),
			.action = (const char *)sqlite3_column_text(s, 5),
			.object_type = (const char *)sqlite3_column_text(s, 6),
			.object_id = (const char *)sqlite3_column_text(s, 7),
			.before = (const char *)sqlite3_column_text(s, 8),
			.after = (const char *)sqlite3_column_text(s, 9),
		};
		fn(ud, &a);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing the audit log");
}

const struct store_account_ops sq__account_ops = {
	.user_insert = sq_user_insert,
	.user_update = sq_user_update,
	.user_set_password = sq_user_set_password,
	.user_delete = sq_user_delete,
	.user_get = sq_user_get,
	.user_by_email = sq_user_by_email,
	.user_list = sq_user_list,
	.user_admins = sq_user_admins,
	.user_admin_ids = sq_user_admin_ids,
	.session_insert = sq_session_insert,
	.session_find = sq_session_find,
	.session_touch = sq_session_touch,
	.session_delete = sq_session_delete,
	.session_delete_user = sq_session_delete_user,
	.session_purge = sq_session_purge,
	.mapping_insert = sq_mapping_insert,
	.mapping_get = sq_mapping_get,
	.mapping_delete = sq_mapping_delete,
	.mapping_list = sq_mapping_list,
	.mapping_exists = sq_mapping_exists,
	.audit_insert = sq_audit_insert,
	.audit_list = sq_audit_list,
};
