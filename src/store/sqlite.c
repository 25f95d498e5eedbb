/*
 * sqlite.c - the embedded SQLite backend: connections, schema migrations and
 * every SQL statement kilowatt runs.  The only file that includes <sqlite3.h>.
 *
 * Layout (why it looks like this: docs/PERFORMANCE.md):
 *   rawblock(hour, device, data)                 PRIMARY KEY (hour, device)
 *   hourly(hour, device, kwh, readings)          PRIMARY KEY (hour, device)
 *   daily(day, device, kwh, hours)               PRIMARY KEY (day, device)
 *   journal(seq, max_ts, data)                   open hours' readings (raw.h)
 *   alert(hour, device, ...)                      over-limit hours (sqlite_alerts.c)
 *   notification(id, user_id, ...)               people's notifications
 * all but the journal WITHOUT ROWID and keyed time first.  Meters report
 * "now", so a commit touches the few pages at the end of each tree instead
 * of one page per device: a raw table keyed (device, ts) rewrites a
 * different page for every row and tops out near 100k rows/s with
 * synchronous=FULL.  Raw readings are written once per device-hour, as a
 * compressed block (rawblock.h), when the hour closes; until then one
 * journal row per request holds them.  Per-device questions are answered by
 * point lookups on (hour, device).
 *
 * Invariants:
 *  1. Every statement is prepared once per connection (struct sq.stmt) and
 *     only ever gets values through bind calls.
 *  2. The writer connection is the only one that writes; readers are opened
 *     with query_only.
 *  3. PRAGMA user_version equals the number of migrations applied; each
 *     migration runs in its own transaction with the version bump.
 *
 * Threading: a connection is used by one thread at a time (its owner).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "store/backend.h"
#include "store/rawblock.h"
#include "store/sqlite_int.h"
#include "core/banned.h"

static const char *const migrations[] = {
	/* 1: devices, channels, readings, rollups, tokens. */
	"CREATE TABLE device("
	"  id INTEGER PRIMARY KEY,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  serial TEXT UNIQUE,"
	"  name TEXT NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  address TEXT NOT NULL DEFAULT '',"
	"  region TEXT NOT NULL DEFAULT '',"
	"  timezone TEXT NOT NULL,"
	"  max_hourly_kwh REAL,"
	"  reading_type INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  claim_code TEXT);"
	"CREATE TABLE channel(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"INSERT INTO channel VALUES(0, 'kwh');"
	"CREATE TABLE reading(ts INTEGER NOT NULL, device INTEGER NOT NULL,"
	"  channel INTEGER NOT NULL, value REAL NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(ts, device, channel)) WITHOUT ROWID;"
	"CREATE TABLE hourly(hour INTEGER NOT NULL, device INTEGER NOT NULL,"
	"  kwh REAL NOT NULL, readings INTEGER NOT NULL,"
	"  PRIMARY KEY(hour, device)) WITHOUT ROWID;"
	"CREATE TABLE daily(day INTEGER NOT NULL, device INTEGER NOT NULL, kwh REAL NOT NULL,"
	"  PRIMARY KEY(day, device)) WITHOUT ROWID;"
	"CREATE TABLE counter_state(device INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
	"  value REAL NOT NULL);"
	"CREATE TABLE token(id INTEGER PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL,"
	"  last_used_at INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);",
	/* 2: the rollup watermark (src/store/pending.h). */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
	/* 3: device ids are never reused (AUTOINCREMENT): a deleted device's
	 * id must not carry its tokens, caches or readings over to a new one. */
	"CREATE TABLE device_new("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  serial TEXT UNIQUE,"
	"  name TEXT NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  address TEXT NOT NULL DEFAULT '',"
	"  region TEXT NOT NULL DEFAULT '',"
	"  timezone TEXT NOT NULL,"
	"  max_hourly_kwh REAL,"
	"  reading_type INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  claim_code TEXT);"
	"INSERT INTO device_new SELECT * FROM device;"
	"DROP TABLE device;"
	"ALTER TABLE device_new RENAME TO device;",
	/* 4: each device-day also keeps its hours (STORE_DAY_SLOTS doubles, NaN
	 * for no data), so a day's hourly chart is one row, not 24 rows on 24
	 * pages of the time-first hourly table.  Older rows have NULL. */
	"ALTER TABLE daily ADD COLUMN hours BLOB;",
	/* 5: raw readings in device-hour blocks plus a journal of the open
	 * hours (src/store/raw.h); convert_readings() moves the old rows. */
	"CREATE TABLE rawblock(hour INTEGER NOT NULL, device INTEGER NOT NULL,"
	"  data BLOB NOT NULL, PRIMARY KEY(hour, device)) WITHOUT ROWID;"
	"CREATE TABLE journal(seq INTEGER PRIMARY KEY, max_ts INTEGER NOT NULL,"
	"  data BLOB NOT NULL);",
	/* 6: accounts (src/store/sqlite_accounts.c): users, who owns which
	 * device, login sessions (only a hash of the secret), the audit log. */
	"CREATE TABLE user("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  role INTEGER NOT NULL,"
	"  password TEXT NOT NULL,"
	"  customer_ref TEXT,"
	"  disabled INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE mapping("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user_id INTEGER NOT NULL,"
	"  device_id INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE(user_id, device_id));"
	"CREATE INDEX mapping_device ON mapping(device_id);"
	"CREATE TABLE session("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  user_id INTEGER NOT NULL,"
	"  csrf TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  last_seen_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL);"
	"CREATE INDEX session_user ON session(user_id);"
	"CREATE TABLE audit("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  actor_kind TEXT NOT NULL,"
	"  actor_id INTEGER,"
	"  actor_name TEXT,"
	"  action TEXT NOT NULL,"
	"  object_type TEXT NOT NULL,"
	"  object_id TEXT NOT NULL,"
	"  before TEXT,"
	"  after TEXT);"
	"CREATE INDEX audit_object ON audit(object_type, object_id);"
	"CREATE INDEX audit_actor ON audit(actor_id);",
	/* 7: over-limit alerts (src/store/rollup.c, "Alerts"): one row per
	 * device-hour that went over its limit, written with the readings
	 * that took it there, keyed time first like the totals (a commit
	 * appends at the right edge); notified_at is set when it has become
	 * the users' notifications (src/alert/alerts.c), so an alert is
	 * notified once, also across a crash.  Users may also get them by
	 * e-mail. */
	"ALTER TABLE user ADD COLUMN email_alerts INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE alert("
	"  hour INTEGER NOT NULL,"
	"  device INTEGER NOT NULL,"
	"  hour_end INTEGER NOT NULL,"
	"  kwh REAL NOT NULL,"
	"  limit_kwh REAL NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  notified_at INTEGER,"
	"  PRIMARY KEY(hour, device)) WITHOUT ROWID;"
	"CREATE INDEX alert_unnotified ON alert(hour, device) WHERE notified_at IS NULL;"
	"CREATE TABLE notification("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user_id INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  device INTEGER NOT NULL,"
	"  hour INTEGER NOT NULL,"
	"  hour_end INTEGER NOT NULL,"
	"  kwh REAL NOT NULL,"
	"  limit_kwh REAL NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  read_at INTEGER);"
	"CREATE INDEX notification_user ON notification(user_id, id);"
	"CREATE INDEX notification_unread ON notification(user_id) WHERE read_at IS NULL;"
	"CREATE INDEX notification_device ON notification(device);",
	/* 8: support chat (sqlite_chat.c): one conversation per client, its
	 * messages paged by (chat_id, id); client_msg_id is unique per sender
	 * so a retried send stores nothing new. */
	"CREATE TABLE chat("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user_id INTEGER NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  last_message_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX chat_activity ON chat(last_message_at DESC, id DESC);"
	"CREATE TABLE chat_message("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  chat_id INTEGER NOT NULL,"
	"  sender_id INTEGER NOT NULL,"
	"  client_msg_id TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  read_at INTEGER,"
	"  UNIQUE(sender_id, client_msg_id));"
	"CREATE INDEX chat_message_page ON chat_message(chat_id, id);"
	"CREATE INDEX chat_message_unread ON chat_message(chat_id, sender_id)"
	"  WHERE read_at IS NULL;",
	/* 9: a chat message's attached context, a device and a day
	 * (sqlite_chat.c); both NULL when none. */
	"ALTER TABLE chat_message ADD COLUMN context_device INTEGER;"
	"ALTER TABLE chat_message ADD COLUMN context_date TEXT;",
};

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT job",
	[S_RELEASE] = "RELEASE job",
	[S_ROLLBACK_TO] = "ROLLBACK TO job",
	[S_DEVICES] =
	    "SELECT id, uuid, serial, name, description, address, region, timezone,"
	    " max_hourly_kwh, reading_type, created_at, claim_code FROM device ORDER BY id",
	[S_CHANNELS] = "SELECT id, name FROM channel ORDER BY id",
	[S_CHANNEL_INSERT] = "INSERT INTO channel(name) VALUES(?1)",
	[S_HOUR_GET] = "SELECT readings FROM hourly WHERE hour = ?1 AND device = ?2",
	[S_HOUR_ADD] = "INSERT INTO hourly(hour, device, kwh, readings) VALUES(?1, ?2, ?3, ?4)"
		       " ON CONFLICT DO UPDATE SET kwh = kwh + excluded.kwh,"
		       " readings = readings + excluded.readings",
	[S_DAY_ADD] = "INSERT INTO daily(day, device, kwh, hours) VALUES(?1, ?2, ?3, ?4)"
		      " ON CONFLICT DO UPDATE SET kwh = kwh + excluded.kwh,"
		      " hours = kw_add_slots(hours, excluded.hours)",
	[S_DAY_HOURS] = "SELECT hours FROM daily WHERE day = ?1 AND device = ?2",
	[S_COUNTER_GET] = "SELECT ts, value FROM counter_state WHERE device = ?1",
	[S_COUNTER_PUT] = "INSERT INTO counter_state(device, ts, value) VALUES(?1, ?2, ?3)"
			  " ON CONFLICT DO UPDATE SET ts = excluded.ts, value = excluded.value",
	[S_DEVICE_INSERT] = "INSERT INTO device(uuid, serial, name, description, address, region,"
			    " timezone, max_hourly_kwh, reading_type, created_at, claim_code)"
			    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_DEVICE_UPDATE] =
	    "UPDATE device SET serial = ?2, name = ?3, description = ?4, address = ?5,"
	    " region = ?6, timezone = ?7, max_hourly_kwh = ?8, reading_type = ?9,"
	    " claim_code = ?10 WHERE id = ?1",
	[S_DEVICE_DELETE] = "DELETE FROM device WHERE id = ?1",
	[S_DEL_READINGS] = "DELETE FROM rawblock WHERE device = ?1",
	[S_DEL_HOURLY] = "DELETE FROM hourly WHERE device = ?1",
	[S_DEL_DAILY] = "DELETE FROM daily WHERE device = ?1",
	[S_DEL_COUNTER] = "DELETE FROM counter_state WHERE device = ?1",
	[S_TOKEN_INSERT] =
	    "INSERT INTO token(name, scope, hash, created_at) VALUES(?1, ?2, ?3, ?4)",
	[S_TOKEN_REVOKE] = "UPDATE token SET revoked = 1 WHERE id = ?1 AND revoked = 0",
	[S_TOKEN_TOUCH] = "UPDATE token SET last_used_at = ?2 WHERE id = ?1",
	[S_TOKEN_FIND] = "SELECT id, name, scope, created_at, last_used_at, revoked FROM token"
			 " WHERE hash = ?1",
	[S_TOKEN_LIST] = "SELECT id, name, scope, created_at, last_used_at, revoked FROM token"
			 " ORDER BY id",
	[S_HOURS] = "SELECT kwh, readings FROM hourly WHERE hour = ?1 AND device = ?2",
	[S_DAYS] = "SELECT kwh FROM daily WHERE day = ?1 AND device = ?2",
	[S_DAYS_ALL] = "SELECT day, device, kwh FROM daily WHERE day >= ?1 AND day < ?2",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
		       " ON CONFLICT DO UPDATE SET value = excluded.value",
	[S_READ_BEGIN] = "BEGIN DEFERRED",
	[S_BLOCK_GET] = "SELECT data FROM rawblock WHERE hour = ?1 AND device = ?2",
	[S_BLOCK_INSERT] = "INSERT INTO rawblock(hour, device, data) VALUES(?1, ?2, ?3)",
	[S_BLOCK_UPDATE] = "UPDATE rawblock SET data = ?3 WHERE hour = ?1 AND device = ?2",
	[S_BLOCK_SCAN] = "SELECT device, hour, data FROM rawblock WHERE hour >= ?1"
			 " ORDER BY hour, device",
	[S_BLOCK_MIN] = "SELECT min(hour) FROM rawblock",
	[S_BLOCK_MAX] = "SELECT max(hour) FROM rawblock",
	[S_JOURNAL_APPEND] = "INSERT INTO journal(max_ts, data) VALUES(?1, ?2)",
	[S_JOURNAL_TRIM] = "DELETE FROM journal WHERE max_ts <= ?1",
	[S_JOURNAL_SCAN] = "SELECT data FROM journal ORDER BY seq",
};

/* Logs a database failure once per call site and maps it to KW_EDB. */
int sq__fail(struct sq *q, const char *what)
{
	log_error("store", "%s failed on '%s': %s", what, q->path, sqlite3_errmsg(q->db));
	return KW_EDB;
}

sqlite3_stmt *sq__reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static sqlite3_stmt *st(struct sq *q, int i)
{
	return sq__reset(q->stmt[i]);
}

int sq__run(struct sq *q, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		if (sqlite3_extended_errcode(q->db) == SQLITE_CONSTRAINT_UNIQUE)
			return KW_EEXIST;
		return sq__fail(q, what);
	}
	return 0;
}

static int exec_sql(struct sq *q, const char *text)
{
	char *msg = NULL;
	if (sqlite3_exec(q->db, text, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store", "cannot run SQL on '%s': %s", q->path, msg ? msg : "?");
		sqlite3_free(msg);
		return KW_EDB;
	}
	return 0;
}

static int user_version(struct sq *q, int *out)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sq__fail(q, "reading schema version");
	*out = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return 0;
}

static int put_converted(sqlite3_stmt *ins, int64_t device, int64_t block, struct raw_rec *r,
			 size_t n)
{
	unsigned char *buf = xmalloc(rawblock_bound(n));
	size_t len = rawblock_encode(block, r, n, buf);
	int rc;

	sqlite3_reset(ins);
	sqlite3_bind_int64(ins, 1, block);
	sqlite3_bind_int64(ins, 2, device);
	sqlite3_bind_blob64(ins, 3, buf, len, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	free(buf);
	return rc == SQLITE_DONE ? 0 : KW_EDB;
}

/* Migration 5: the old one-row-per-reading table becomes blocks. */
static int convert_readings(struct sq *q)
{
	sqlite3_stmt *sel = NULL, *ins = NULL;
	struct raw_rec *r = NULL;
	size_t n = 0, cap = 0, moved = 0;
	int64_t device = 0, block = 0;
	int rc = KW_EDB, step;

	if (sqlite3_prepare_v2(q->db,
			       "SELECT device, ts, channel, value, flags FROM reading"
			       " ORDER BY device, ts, channel",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(q->db, "INSERT INTO rawblock(hour, device, data) VALUES(?1, ?2, ?3)",
			       -1, &ins, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t d = sqlite3_column_int64(sel, 0), ts = sqlite3_column_int64(sel, 1);
		if (n && (d != device || rawblock_base(ts) != block)) {
			if (put_converted(ins, device, block, r, n) != 0)
				goto out;
			n = 0;
		}
		device = d;
		block = rawblock_base(ts);
		xgrow((void **)&r, &cap, n + 1, sizeof(*r));
		r[n++] = (struct raw_rec){ ts, sqlite3_column_double(sel, 3),
					   (uint32_t)sqlite3_column_int64(sel, 2),
					   (uint32_t)sqlite3_column_int(sel, 4) };
		moved++;
	}
	if (step != SQLITE_DONE || (n && put_converted(ins, device, block, r, n) != 0))
		goto out;
	rc = exec_sql(q, "DROP TABLE reading");
	if (rc == 0 && moved)
		log_info("store", "moved %zu readings into device-hour blocks", moved);
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	free(r);
	return rc;
}

/* Work a migration needs beyond its SQL; version is the one just applied. */
static int after_migration(struct sq *q, int version)
{
	return version == 5 ? convert_readings(q) : 0;
}

static int migrate(struct sq *q, char *err, size_t errlen)
{
	const int n = (int)(sizeof(migrations) / sizeof(migrations[0]));
	int v, rc;
	char bump[64];

	if ((rc = user_version(q, &v)) != 0)
		return rc;
	if (v > n) {
		snprintf(err, errlen,
			 "database '%s' has schema version %d, newer than this "
			 "kilowatt knows (%d): refusing to run an older binary on it",
			 q->path, v, n);
		return KW_EDB;
	}
	for (; v < n; v++) {
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(q, "BEGIN IMMEDIATE") || exec_sql(q, migrations[v]) ||
		    after_migration(q, v + 1) || exec_sql(q, bump) || exec_sql(q, "COMMIT")) {
			exec_sql(q, "ROLLBACK");
			snprintf(err, errlen, "cannot migrate '%s' to schema version %d: %s",
				 q->path, v + 1, sqlite3_errmsg(q->db));
			return KW_EDB;
		}
		log_info("store", "migrated schema to version %d", v + 1);
	}
	return 0;
}

static void sq_close(struct store_conn *c)
{
	struct sq *q = SQ(c);
	if (!q)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->stmt[i]);
	for (int i = 0; i < A_COUNT; i++)
		sqlite3_finalize(q->acct[i]);
	for (int i = 0; i < N_COUNT; i++)
		sqlite3_finalize(q->alrt[i]);
	for (int i = 0; i < C_COUNT; i++)
		sqlite3_finalize(q->chat[i]);
	sqlite3_close(q->db);
	free(q->path);
	free(q);
}

static void fn_add_slots(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* Process-wide SQLite settings, made once before the first connection:
 * memory statistics off, which removes a global mutex from every
 * allocation (kilowatt never reads those statistics). */
static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

static void sq_configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(const struct store_options *o, bool writer, struct store_conn **out, char *err,
		   size_t errlen)
{
	struct sq *q = xcalloc(1, sizeof(*q));
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
	char pragmas[256];
	size_t n = strlen(o->data_dir) + sizeof("/kilowatt.db");

	pthread_once(&sq_once, sq_configure);
	q->base.ops = &store_sqlite_ops;
	q->writer = writer;
	q->path = xmalloc(n);
	snprintf(q->path, n, "%s/kilowatt.db", o->data_dir);
	*out = NULL;
	if (writer && mkdir(o->data_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data directory '%s': %s", o->data_dir,
			 strerror(errno));
		goto fail;
	}
	if (sqlite3_open_v2(q->path, &q->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database '%s': %s", q->path,
			 q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 5000);
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		 " PRAGMA cache_size = -%lld; PRAGMA foreign_keys = OFF;"
		 " PRAGMA mmap_size = 2147418112;%s",
		 (long long)o->cache_mib * 1024, writer ? "" : " PRAGMA query_only = 1;");
	if (exec_sql(q, pragmas) != 0) {
		snprintf(err, errlen, "cannot configure database '%s': %s", q->path,
			 sqlite3_errmsg(q->db));
		goto fail;
	}
	if (sqlite3_create_function(q->db, "kw_add_slots", 2,
				    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
				    fn_add_slots, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot register SQL functions on '%s'", q->path);
		goto fail;
	}
	if (writer && migrate(q, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < S_COUNT + A_COUNT + N_COUNT + C_COUNT; i++) {
		const char *text;
		sqlite3_stmt **slot;
		if (i < S_COUNT) {
			text = sql[i];
			slot = &q->stmt[i];
		} else if (i < S_COUNT + A_COUNT) {
			text = sq__acct_sql[i - S_COUNT];
			slot = &q->acct[i - S_COUNT];
		} else if (i < S_COUNT + A_COUNT + N_COUNT) {
			text = sq__alert_sql[i - S_COUNT - A_COUNT];
			slot = &q->alrt[i - S_COUNT - A_COUNT];
		} else {
			text = sq__chat_sql[i - S_COUNT - A_COUNT - N_COUNT];
			slot = &q->chat[i - S_COUNT - A_COUNT - N_COUNT];
		}
		if (sqlite3_prepare_v3(q->db, text, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare statement %d on '%s': %s", i, q->path,
				 sqlite3_errmsg(q->db));
			goto fail;
		}
	}
	*out = &q->base;
	return 0;
fail:
	sq_close(&q->base);
	return KW_EDB;
}

static int sq_simple(struct store_conn *c, int i, const char *what)
{
	return sq__run(SQ(c), st(SQ(c), i), what);
}

static int sq_begin(struct store_conn *c)
{
	return sq_simple(c, S_BEGIN, "BEGIN");
}
static int sq_commit(struct store_conn *c)
{
	return sq_simple(c, S_COMMIT, "COMMIT");
}
static int sq_savepoint(struct store_conn *c)
{
	return sq_simple(c, S_SAVEPOINT, "SAVEPOINT");
}
static int sq_release(struct store_conn *c)
{
	return sq_simple(c, S_RELEASE, "RELEASE");
}

static void sq_rollback(struct store_conn *c)
{
	if (sqlite3_get_autocommit(SQ(c)->db) == 0)
		sq_simple(c, S_ROLLBACK, "ROLLBACK");
}

static void sq_rollback_to(struct store_conn *c)
{
	sq_simple(c, S_ROLLBACK_TO, "ROLLBACK TO");
	sq_simple(c, S_RELEASE, "RELEASE");
}

static uint64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static uint64_t sq_db_bytes(struct store_conn *c)
{
	char wal[4096];
	snprintf(wal, sizeof(wal), "%s-wal", SQ(c)->path);
	return file_size(SQ(c)->path) + file_size(wal);
}

static void sq_idle(struct store_conn *c)
{
	sqlite3_stmt *s = NULL;
	while ((s = sqlite3_next_stmt(SQ(c)->db, s)) != NULL)
		sqlite3_reset(s);
	if (!SQ(c)->writer && sqlite3_get_autocommit(SQ(c)->db) == 0)
		sq_simple(c, S_COMMIT, "ending a read snapshot");
}

char *sq__col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static int sq_load_devices(struct store_conn *c, void (*fn)(void *, struct store_device *),
			   void *ud)
{
	sqlite3_stmt *s = st(SQ(c), S_DEVICES);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_device *d = xcalloc(1, sizeof(*d));
		d->id = sqlite3_column_int64(s, 0);
		snprintf(d->uuid, sizeof(d->uuid), "%s", sqlite3_column_text(s, 1));
		d->serial = sq__col_dup(s, 2);
		d->name = sq__col_dup(s, 3);
		d->description = sq__col_dup(s, 4);
		d->address = sq__col_dup(s, 5);
		d->region = sq__col_dup(s, 6);
		d->timezone = sq__col_dup(s, 7);
		d->has_max_hourly = sqlite3_column_type(s, 8) != SQLITE_NULL;
		d->max_hourly_kwh = sqlite3_column_double(s, 8);
		d->type = (enum reading_type)sqlite3_column_int(s, 9);
		d->created_at = sqlite3_column_int64(s, 10);
		d->claim_code = sq__col_dup(s, 11);
		fn(ud, d);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "loading devices");
}

static int sq_load_channels(struct store_conn *c, void (*fn)(void *, int64_t, const char *),
			    void *ud)
{
	sqlite3_stmt *s = st(SQ(c), S_CHANNELS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ud, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "loading channels");
}

static int sq_channel_insert(struct store_conn *c, const char *name, int64_t *id)
{
	sqlite3_stmt *s = st(SQ(c), S_CHANNEL_INSERT);
	int rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if ((rc = sq__run(SQ(c), s, "creating channel")) != 0)
		return rc;
	*id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_block_get(struct store_conn *c, int64_t device, int64_t block,
			void (*fn)(void *ud, const void *data, size_t len), void *ud)
{
	sqlite3_stmt *s = SQ(c)->stmt[S_BLOCK_GET];
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, block);
	sqlite3_bind_int64(s, 2, device);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		fn(ud, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		sqlite3_reset(s);
		return 0;
	}
	return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "reading raw readings");
}

/* A plain INSERT when the block is new: a third cheaper than an upsert,
 * which seeks twice (measured: writer 11.2 s instead of 14.0 s for 14.4M
 * readings). */
static int sq_block_put(struct store_conn *c, int64_t device, int64_t block, const void *data,
			size_t len, bool exists)
{
	sqlite3_stmt *s = SQ(c)->stmt[exists ? S_BLOCK_UPDATE : S_BLOCK_INSERT];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, block);
	sqlite3_bind_int64(s, 2, device);
	sqlite3_bind_blob64(s, 3, data, len, SQLITE_STATIC);
	return sq__run(SQ(c), s, "storing raw readings");
}

static int sq_block_scan(struct store_conn *c, int64_t from,
			 void (*fn)(void *ud, int64_t device, int64_t block, const void *data,
				    size_t len),
			 void *ud)
{
	sqlite3_stmt *s = st(SQ(c), S_BLOCK_SCAN);
	int rc;
	sqlite3_bind_int64(s, 1, from);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ud, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
		   sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "scanning raw readings");
}

/* The first and last block: one step to each end of the time-first key. */
static int sq_block_bounds(struct store_conn *c, int64_t *min, int64_t *max)
{
	sqlite3_stmt *s = st(SQ(c), S_BLOCK_MIN);
	if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_type(s, 0) == SQLITE_NULL)
		return KW_ENOTFOUND;
	*min = sqlite3_column_int64(s, 0);
	s = st(SQ(c), S_BLOCK_MAX);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	*max = sqlite3_column_int64(s, 0);
	return 0;
}

static int sq_journal_append(struct store_conn *c, int64_t max_ts, const void *data, size_t len)
{
	sqlite3_stmt *s = SQ(c)->stmt[S_JOURNAL_APPEND];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, max_ts);
	sqlite3_bind_blob64(s, 2, data, len, SQLITE_STATIC);
	return sq__run(SQ(c), s, "writing the journal");
}

static int sq_journal_trim(struct store_conn *c, int64_t max_ts)
{
	sqlite3_stmt *s = st(SQ(c), S_JOURNAL_TRIM);
	sqlite3_bind_int64(s, 1, max_ts);
	return sq__run(SQ(c), s, "trimming the journal");
}

static int sq_journal_scan(struct store_conn *c, void (*fn)(void *ud, const void *data, size_t len),
			   void *ud)
{
	sqlite3_stmt *s = st(SQ(c), S_JOURNAL_SCAN);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ud, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "reading the journal");
}

static int sq_meta_get(struct store_conn *c, const char *key, int64_t *value)
{
	sqlite3_stmt *s = st(SQ(c), S_META_GET);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	*value = sqlite3_column_int64(s, 0);
	return 0;
}

static int sq_meta_set(struct store_conn *c, const char *key, int64_t value)
{
	sqlite3_stmt *s = st(SQ(c), S_META_SET);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	return sq__run(SQ(c), s, "updating the watermark");
}

/* Pins a read snapshot: BEGIN, then a read, since SQLite takes the
 * snapshot at a transaction's first read.  The snapshot lasts until idle(). */
static int sq_snapshot(struct store_conn *c)
{
	int64_t ignored;
	int rc = sq__run(SQ(c), st(SQ(c), S_READ_BEGIN), "BEGIN");
	if (rc == 0 && sq_meta_get(c, "watermark", &ignored) == KW_EDB)
		rc = KW_EDB;
	return rc;
}

static int sq_hour_add(struct store_conn *c, int64_t device, int64_t hour, double kwh,
		       int64_t readings)
{
	sqlite3_stmt *s = SQ(c)->stmt[S_HOUR_ADD];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, hour);
	sqlite3_bind_int64(s, 2, device);
	sqlite3_bind_double(s, 3, kwh);
	sqlite3_bind_int64(s, 4, readings);
	return sq__run(SQ(c), s, "updating hourly totals");
}

static int sq_day_add(struct store_conn *c, int64_t device, int64_t day, double kwh,
		      const double slots[STORE_DAY_SLOTS])
{
	sqlite3_stmt *s = SQ(c)->stmt[S_DAY_ADD];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, day);
	sqlite3_bind_int64(s, 2, device);
	sqlite3_bind_double(s, 3, kwh);
	sqlite3_bind_blob(s, 4, slots, STORE_DAY_SLOTS * sizeof(double), SQLITE_STATIC);
	return sq__run(SQ(c), s, "updating daily totals");
}

static int sq_day_hours(struct store_conn *c, int64_t device, int64_t day,
			double slots[STORE_DAY_SLOTS])
{
	sqlite3_stmt *s = st(SQ(c), S_DAY_HOURS);
	sqlite3_bind_int64(s, 1, day);
	sqlite3_bind_int64(s, 2, device);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	if (sqlite3_column_bytes(s, 0) != STORE_DAY_SLOTS * (int)sizeof(double))
		return KW_EUNSUPPORTED;
	memcpy(slots, sqlite3_column_blob(s, 0), STORE_DAY_SLOTS * sizeof(double));
	return 0;
}

/*
 * kw_add_slots(a, b): slot-wise sum of two hour arrays where NaN means "no
 * data" (NaN + x = x).  A NULL or malformed a (a row from before migration
 * 4) yields NULL, so such a day keeps being answered from the hourly table.
 */
static void fn_add_slots(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const int n = STORE_DAY_SLOTS * (int)sizeof(double);
	double a[STORE_DAY_SLOTS], b[STORE_DAY_SLOTS];

	if (sqlite3_value_bytes(argv[0]) != n || sqlite3_value_bytes(argv[1]) != n) {
		sqlite3_result_null(ctx);
		return;
	}
	memcpy(a, sqlite3_value_blob(argv[0]), n);
	memcpy(b, sqlite3_value_blob(argv[1]), n);
	for (int i = 0; i < STORE_DAY_SLOTS; i++)
		a[i] = isnan(a[i]) ? b[i] : isnan(b[i]) ? a[i] : a[i] + b[i];
	sqlite3_result_blob(ctx, a, n, SQLITE_TRANSIENT);
}

static int sq_counter_get(struct store_conn *c, int64_t device, int64_t *ts, double *v)
{
	sqlite3_stmt *s = st(SQ(c), S_COUNTER_GET);
	sqlite3_bind_int64(s, 1, device);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	*ts = sqlite3_column_int64(s, 0);
	*v = sqlite3_column_double(s, 1);
	return 0;
}

static int sq_counter_put(struct store_conn *c, int64_t device, int64_t ts, double v)
{
	sqlite3_stmt *s = st(SQ(c), S_COUNTER_PUT);
	sqlite3_bind_int64(s, 1, device);
	sqlite3_bind_int64(s, 2, ts);
	sqlite3_bind_double(s, 3, v);
	return sq__run(SQ(c), s, "updating counter state");
}

void sq__bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_device_fields(sqlite3_stmt *s, const struct store_device *d, int base)
{
	sq__bind_text_or_null(s, base, d->serial);
	sqlite3_bind_text(s, base + 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, base + 2, d->description ? d->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, base + 3, d->address ? d->address : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, base + 4, d->region ? d->region : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, base + 5, d->timezone, -1, SQLITE_STATIC);
	if (d->has_max_hourly)
		sqlite3_bind_double(s, base + 6, d->max_hourly_kwh);
	else
		sqlite3_bind_null(s, base + 6);
	sqlite3_bind_int(s, base + 7, (int)d->type);
}

static int sq_device_insert(struct store_conn *c, struct store_device *d)
{
	sqlite3_stmt *s = st(SQ(c), S_DEVICE_INSERT);
	int rc;
	sqlite3_bind_text(s, 1, d->uuid, -1, SQLITE_STATIC);
	bind_device_fields(s, d, 2);
	sqlite3_bind_int64(s, 10, d->created_at);
	sq__bind_text_or_null(s, 11, d->claim_code);
	if ((rc = sq__run(SQ(c), s, "creating a device")) != 0)
		return rc;
	d->id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_device_update(struct store_conn *c, const struct store_device *d)
{
	sqlite3_stmt *s = st(SQ(c), S_DEVICE_UPDATE);
	int rc;
	sqlite3_bind_int64(s, 1, d->id);
	bind_device_fields(s, d, 2);
	sq__bind_text_or_null(s, 10, d->claim_code);
	if ((rc = sq__run(SQ(c), s, "updating a device")) != 0)
		return rc;
	return sqlite3_changes(SQ(c)->db) == 1 ? 0 : KW_ENOTFOUND;
}

/* Deleting a device deletes its readings, totals, mappings, alerts and
 * notifications.  The raw table is keyed by time, so this is a scan:
 * acceptable for a rare administrative act. */
static int sq_device_delete(struct store_conn *c, int64_t id)
{
	static const int order[] = { S_DEL_READINGS, S_DEL_HOURLY, S_DEL_DAILY, S_DEL_COUNTER,
				     S_DEVICE_DELETE };
	sqlite3_stmt *first[] = { SQ(c)->acct[A_MAPPING_DELETE_DEVICE],
				  SQ(c)->alrt[N_DEL_DEVICE_ALERTS],
				  SQ(c)->alrt[N_DEL_DEVICE_NOTES] };
	int rc;

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		sqlite3_stmt *m = sq__reset(first[i]);
		sqlite3_bind_int64(m, 1, id);
		if ((rc = sq__run(SQ(c), m, "deleting a device's mappings and alerts")) != 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		sqlite3_stmt *s = st(SQ(c), order[i]);
		sqlite3_bind_int64(s, 1, id);
		if ((rc = sq__run(SQ(c), s, "deleting a device")) != 0)
			return rc;
	}
	return sqlite3_changes(SQ(c)->db) == 1 ? 0 : KW_ENOTFOUND;
}

static int sq_token_insert(struct store_conn *c, const char *name, const char *scope,
			   const unsigned char hash[32], int64_t *id)
{
	sqlite3_stmt *s = st(SQ(c), S_TOKEN_INSERT);
	int rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, tz_now_ms());
	if ((rc = sq__run(SQ(c), s, "creating a token")) != 0)
		return rc;
	*id = sqlite3_last_insert_rowid(SQ(c)->db);
	return 0;
}

static int sq_token_revoke(struct store_conn *c, int64_t id)
{
	sqlite3_stmt *s = st(SQ(c), S_TOKEN_REVOKE);
	int rc;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sq__run(SQ(c), s, "revoking a token")) != 0)
		return rc;
	return sqlite3_changes(SQ(c)->db) == 1 ? 0 : KW_ENOTFOUND;
}

static int sq_token_touch(struct store_conn *c, int64_t id, int64_t when)
{
	sqlite3_stmt *s = st(SQ(c), S_TOKEN_TOUCH);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, when);
	return sq__run(SQ(c), s, "recording a token's use");
}

static void token_row(sqlite3_stmt *s, struct store_token *t)
{
	t->id = sqlite3_column_int64(s, 0);
	snprintf(t->name, sizeof(t->name), "%s", sqlite3_column_text(s, 1));
	snprintf(t->scope, sizeof(t->scope), "%s", sqlite3_column_text(s, 2));
	t->created_at = sqlite3_column_int64(s, 3);
	t->last_used_at = sqlite3_column_int64(s, 4);
	t->revoked = sqlite3_column_int(s, 5) != 0;
}

static int sq_token_find(struct store_conn *c, const unsigned char hash[32],
			 struct store_token *out)
{
	sqlite3_stmt *s = st(SQ(c), S_TOKEN_FIND);
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	token_row(s, out);
	return 0;
}

static int sq_token_list(struct store_conn *c, struct store_token **out, size_t *n)
{
	sqlite3_stmt *s = st(SQ(c), S_TOKEN_LIST);
	size_t cap = 0;
	int rc;
	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		token_row(s, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing tokens");
}

/* Hours are point lookups on (hour, device): the caller walks the local
 * hour grid, because only it knows which zone the question is asked in. */
static int sq_hour_get(struct store_conn *c, int64_t device, int64_t hour, double *kwh,
		       int64_t *readings)
{
	sqlite3_stmt *s = st(SQ(c), S_HOURS);
	sqlite3_bind_int64(s, 1, hour);
	sqlite3_bind_int64(s, 2, device);
	if (sqlite3_step(s) != SQLITE_ROW)
		return KW_ENOTFOUND;
	*kwh = sqlite3_column_double(s, 0);
	*readings = sqlite3_column_int64(s, 1);
	return 0;
}

static int sq_days(struct store_conn *c, int64_t device, int64_t day_from, int64_t day_to,
		   store_day_fn fn, void *ud)
{
	sqlite3_stmt *s;
	int rc;

	if (device != 0) {
		s = st(SQ(c), S_DAYS);
		sqlite3_bind_int64(s, 2, device);
		for (int64_t d = day_from; d < day_to; d++) {
			sqlite3_reset(s);
			sqlite3_bind_int64(s, 1, d);
			if (sqlite3_step(s) == SQLITE_ROW)
				fn(ud, device, d, sqlite3_column_double(s, 0));
		}
		return 0;
	}
	s = st(SQ(c), S_DAYS_ALL);
	sqlite3_bind_int64(s, 1, day_from);
	sqlite3_bind_int64(s, 2, day_to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ud, sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 0),
		   sqlite3_column_double(s, 2));
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "reading daily totals");
}

extern const struct store_account_ops sq__account_ops; /* sqlite_accounts.c */
extern const struct store_alert_ops sq__alert_ops;     /* sqlite_alerts.c */
extern const struct store_chat_ops sq__chat_ops;       /* sqlite_chat.c */

const struct store_backend_ops store_sqlite_ops = {
	.name = "sqlite",
	.acct = &sq__account_ops,
	.alerts = &sq__alert_ops,
	.chat = &sq__chat_ops,
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.rollback_to = sq_rollback_to,
	.db_bytes = sq_db_bytes,
	.idle = sq_idle,
	.load_devices = sq_load_devices,
	.load_channels = sq_load_channels,
	.channel_insert = sq_channel_insert,
	.block_get = sq_block_get,
	.block_put = sq_block_put,
	.block_scan = sq_block_scan,
	.block_bounds = sq_block_bounds,
	.journal_append = sq_journal_append,
	.journal_trim = sq_journal_trim,
	.journal_scan = sq_journal_scan,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.snapshot = sq_snapshot,
	.hour_add = sq_hour_add,
	.day_add = sq_day_add,
	.day_hours = sq_day_hours,
	.counter_get = sq_counter_get,
	.counter_put = sq_counter_put,
	.device_insert = sq_device_insert,
	.device_update = sq_device_update,
	.device_delete = sq_device_delete,
	.token_insert = sq_token_insert,
	.token_revoke = sq_token_revoke,
	.token_find = sq_token_find,
	.token_touch = sq_token_touch,
	.token_list = sq_token_list,
	.hour_get = sq_hour_get,
	.days = sq_days,
};
