/*
 * sqlite_int.h - what the files of the SQLite backend share (store/sqlite*.c
 * only): the connection, its prepared statements and small helpers.
 *
 * Statements are prepared once per connection (invariant 1 of sqlite.c):
 * stmt[] holds sqlite.c's, acct[] those of sqlite_accounts.c, alrt[] those
 * of sqlite_alerts.c.
 */
#ifndef KW_STORE_SQLITE_INT_H
#define KW_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/backend.h"

enum {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_DEVICES,
	S_CHANNELS,
	S_CHANNEL_INSERT,
	S_HOUR_GET,
	S_HOUR_ADD,
	S_DAY_ADD,
	S_COUNTER_GET,
	S_COUNTER_PUT,
	S_DEVICE_INSERT,
	S_DEVICE_UPDATE,
	S_DEVICE_DELETE,
	S_DEL_READINGS,
	S_DEL_HOURLY,
	S_DEL_DAILY,
	S_DEL_COUNTER,
	S_TOKEN_INSERT,
	S_TOKEN_REVOKE,
	S_TOKEN_FIND,
	S_TOKEN_LIST,
	S_TOKEN_TOUCH,
	S_HOURS,
	S_DAYS,
	S_DAY_HOURS,
	S_DAYS_ALL,
	S_META_GET,
	S_META_SET,
	S_READ_BEGIN,
	S_BLOCK_GET,
	S_BLOCK_INSERT,
	S_BLOCK_UPDATE,
	S_BLOCK_SCAN,
	S_BLOCK_MIN,
	S_BLOCK_MAX,
	S_JOURNAL_APPEND,
	S_JOURNAL_TRIM,
	S_JOURNAL_SCAN,
	S_COUNT
};

/* Accounts: users, sessions, mappings, audit (sqlite_accounts.c). */
enum {
	A_USER_INSERT,
	A_USER_UPDATE,
	A_USER_PASSWORD,
	A_USER_DELETE,
	A_USER_GET,
	A_USER_BY_EMAIL,
	A_USER_LIST,
	A_USER_ADMINS,
	A_USER_ADMIN_IDS,
	A_SESSION_INSERT,
	A_SESSION_FIND,
	A_SESSION_TOUCH,
	A_SESSION_DELETE,
	A_SESSION_DELETE_USER,
	A_SESSION_PURGE,
	A_MAPPING_INSERT,
	A_MAPPING_GET,
	A_MAPPING_DELETE,
	A_MAPPING_DELETE_USER,
	A_MAPPING_DELETE_DEVICE,
	A_MAPPING_LIST,
	A_MAPPING_EXISTS,
	A_AUDIT_INSERT,
	A_AUDIT_LIST,
	A_COUNT
};
extern const char *const sq__acct_sql[A_COUNT];

/* Alerts and notifications (sqlite_alerts.c). */
enum {
	N_ALERT_INSERT,
	N_ALERT_CLAIM,
	N_ALERT_UNNOTIFIED,
	N_NOTE_INSERT,
	N_NOTE_LIST,
	N_NOTE_UNREAD,
	N_NOTE_READ_ONE,
	N_NOTE_READ_ALL,
	N_DEL_DEVICE_ALERTS,
	N_DEL_DEVICE_NOTES,
	N_DEL_USER_NOTES,
	N_COUNT
};
extern const char *const sq__alert_sql[N_COUNT];

/* Support chat (sqlite_chat.c). */
enum {
	C_CHAT_ENSURE,
	C_CHAT_GET,
	C_CHAT_LIST,
	C_MSG_INSERT,
	C_MSG_BY_CLIENT_ID,
	C_MSG_TOUCH_CHAT,
	C_MSG_LIST,
	C_MSG_READ,
	C_DEL_USER_MSGS,
	C_DEL_USER_CHAT,
	C_COUNT
};
extern const char *const sq__chat_sql[C_COUNT];
/* Deletes user_id's chat and its messages (sqlite_chat.c, invariant 5). */
int sq__chat_delete_user(struct store_conn *c, int64_t user_id);

struct sq {
	struct store_conn base;
	bool writer;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[S_COUNT];
	sqlite3_stmt *acct[A_COUNT];
	sqlite3_stmt *alrt[N_COUNT];
	sqlite3_stmt *chat[C_COUNT];
};

#define SQ(c) ((struct sq *)(c))

/* Logs a database failure (with what was being done) and returns KW_EDB. */
int sq__fail(struct sq *q, const char *what);
/* s, reset and with its bindings cleared. */
sqlite3_stmt *sq__reset(sqlite3_stmt *s);
/* Steps a statement that returns no rows (or ignores them): 0, KW_EEXIST
 * on a UNIQUE violation, KW_EDB otherwise. */
int sq__run(struct sq *q, sqlite3_stmt *s, const char *what);
/* A column as a malloc'd string, or NULL for NULL. */
char *sq__col_dup(sqlite3_stmt *s, int i);
/* Binds t, or NULL when t is NULL (t must outlive the step). */
void sq__bind_text_or_null(sqlite3_stmt *s, int i, const char *t);

#endif
