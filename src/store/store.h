/*
 * store.h - kilowatt's storage: durable readings, hourly and daily totals,
 * devices and API tokens.
 *
 * Design (docs/ARCHITECTURE.md has the picture):
 *  - One writer thread owns the only write connection.  Callers queue jobs
 *    (a batch of readings, or a closure such as "create this device"); the
 *    writer takes everything queued, runs it in ONE transaction with
 *    synchronous=FULL, and only after COMMIT returns completes every job:
 *    group commit.  So a reading is on disk before its caller is told.
 *  - Reader threads, each with its own read connection, run query closures.
 *  - Completions run on the loop thread (the thread that runs the uv_loop_t
 *    given to store_open), delivered through one uv_async_t.
 *  - The SQL itself is behind a backend ops table (backend.h); this layer is
 *    backend-neutral, so a PostgreSQL backend plugs in beside SQLite.
 *  - Devices and channels are cached in memory (struct store_device), so
 *    ingest resolves serials and ids on the loop thread without I/O.
 *
 * Thread-safety: functions marked [loop] must be called on the loop thread;
 * [any] on any thread; [reader]/[writer] only inside closures the store
 * runs on those threads.
 */
#ifndef KW_STORE_STORE_H
#define KW_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct store_conn; /* a backend connection, handed to closures */
struct tz;

enum reading_type { READING_INTERVAL = 0, READING_COUNTER = 1 };

/* Channel 0 is the energy register/interval value (kWh); other channels are
 * further numeric fields of a device, e.g. "power_w", with ids from 1. */
#define STORE_CHANNEL_ENERGY 0u

/* Flags on a stored reading. */
#define READING_FLAG_RESET 0x1 /* counter went down: reset or meter swap */

struct store_device {
	int64_t id;    /* internal id; 0 = not yet created */
	char uuid[37]; /* UUID v4, lowercase */
	char *serial;  /* NULL when none */
	char *name;
	char *description;
	char *address;
	char *region;
	char *timezone;	     /* IANA name */
	const struct tz *tz; /* resolved timezone */
	bool has_max_hourly;
	double max_hourly_kwh; /* kWh; valid when has_max_hourly */
	enum reading_type type;
	int64_t created_at; /* epoch ms */
	char *claim_code;   /* reserved for accounts (issue 3), may be NULL */
};

struct store_reading {
	int64_t ts;	  /* Unix epoch ms, UTC */
	int64_t device;	  /* store_device.id */
	uint32_t channel; /* STORE_CHANNEL_ENERGY or a channel id */
	uint32_t line;	  /* 1-based position in the request, for error messages */
	double value;	  /* kWh for channel 0 */
};

/*
 * A batch of readings from one request.  Devices and channels that do not
 * exist yet (auto-create) are named in new_serials/new_channels and the rows
 * refer to them with ids STORE_PENDING_ID(i).  Owned by the caller until
 * completion.
 */
#define STORE_PENDING_BIT	 (INT64_C(1) << 62)
#define STORE_PENDING_ID(i)	 (STORE_PENDING_BIT | (int64_t)(i))
#define STORE_PENDING_CHANNEL(i) (0x80000000u | (uint32_t)(i))
struct store_batch {
	struct store_reading *rows;
	size_t n, cap;
	char **new_serials; /* devices to create (auto_create_devices) */
	size_t n_new_serials;
	char **new_channels; /* channel names to create */
	size_t n_new_channels;
	/* Filled by the writer before completion: */
	size_t accepted;   /* new readings stored */
	size_t duplicates; /* same key, same value: nothing changed */
	size_t conflicts;  /* same key, different value: first value kept */
	size_t resets;	   /* counter decreases flagged */
};

void store_batch_init(struct store_batch *b);
void store_batch_release(struct store_batch *b);
void store_batch_add(struct store_batch *b, const struct store_reading *r);
/* Index of serial in new_serials, adding it if new. */
size_t store_batch_new_serial(struct store_batch *b, const char *serial);
size_t store_batch_new_channel(struct store_batch *b, const char *name);

struct store_options {
	const char *data_dir;
	int64_t cache_mib;
	int64_t queue_max_rows;
	int readers;
	const char *default_timezone;
	int64_t open_readings_max; /* spill threshold of raw.h; 0: RAW_HEAD_RECORDS */
};

/*
 * Opens (creating if needed) the database under opts->data_dir, runs pending
 * migrations, loads the caches and starts the writer and reader threads.
 * [loop] Returns 0 or a negative error; on error *out is NULL and err holds
 * a message naming the file and the cause.
 */
int store_open(uv_loop_t *loop, const struct store_options *opts, struct store **out, char *err,
	       size_t errlen);

/*
 * Stops taking jobs, lets the writer finish and commit everything queued,
 * completes all jobs (queued jobs not yet run fail with KW_ESHUTDOWN only if
 * the writer could not run them), joins the threads, closes the database and
 * then calls cb on the loop thread.  [loop]
 */
void store_close(struct store *s, void (*cb)(void *ud), void *ud);

/* Runs migrations only and closes (for `kilowatt migrate`).  Prints what ran. */
int store_migrate(const char *data_dir, char *err, size_t errlen);

/* --- writing ------------------------------------------------------------ */

typedef void (*store_done_fn)(void *ud, int rc);

/*
 * Queues a batch.  done(ud, rc) runs on the loop thread after the batch is
 * committed (rc 0; counters in *b filled) or failed (rc < 0; nothing of it
 * stored).  Returns KW_ETOOBIG without queueing when the queue is full,
 * KW_ESHUTDOWN when closing.  [loop]
 */
int store_submit_batch(struct store *s, struct store_batch *b, store_done_fn done, void *ud);

/*
 * Queues a closure to run on the writer thread inside a savepoint of the
 * group transaction; a negative return rolls back just that closure.  done
 * runs on the loop thread after COMMIT with fn's return value.  [loop]
 */
typedef int (*store_write_fn)(struct store_conn *c, void *ud);
int store_submit_write(struct store *s, store_write_fn fn, store_done_fn done, void *ud);

/*
 * The commit hook: who learns that readings were stored (the WebSocket hub).
 * After each committed group, fn(ud, devs, n) runs on the loop thread once
 * per batch that stored new readings, with the batch's distinct devices
 * (real ids, auto-created ones included) and the newest timestamp of each.
 * A device whose readings in that batch were all duplicates may be listed
 * too when others in the batch were new (the batch counts, not each row).
 * fn runs before the batch's own done.  The writer collects the devices
 * only while a hook is set, so with none ingest pays nothing; with one it
 * pays one pass over the batch's rows on the writer (a hash lookup per
 * change of device between consecutive rows).  fn NULL removes the hook;
 * batches committed meanwhile are not reported.  [loop]
 */
struct store_commit_device {
	int64_t device;	   /* store_device.id */
	int64_t newest_ts; /* epoch ms, UTC: the batch's newest reading of it */
};
typedef void (*store_commit_fn)(void *ud, const struct store_commit_device *devs, size_t n);
void store_set_commit_hook(struct store *s, store_commit_fn fn, void *ud);

/*
 * Over-limit alerts.  When a commit takes a device's local hour above the
 * device's max_hourly_kwh, the writer records ONE alert for that
 * device-hour, in the same transaction as the readings (rollup.c,
 * "Alerts"): the hour totals it compares are the ones the consumption
 * queries answer, late data and a counter's spread hours included.
 * After COMMIT, fn(ud, alerts, n) runs on the loop thread once per batch
 * that raised any, before the batch's done; alerts are valid during the
 * call.  An alert is recorded whether or not a hook is set: one raised
 * without a hook (or whose notifications failed) stays unclaimed and
 * store_alert_unnotified() finds it (at start-up).  fn NULL removes the
 * hook.  [loop]
 */
struct store_alert {
	int64_t device;	    /* store_device.id; (device, hour) is the alert's key */
	int64_t hour;	    /* epoch ms: first instant of the device-local hour */
	int64_t hour_end;   /* epoch ms: first instant of the next local hour */
	double kwh;	    /* the hour's total in the commit that took it over */
	double limit_kwh;   /* the device's max_hourly_kwh at that commit */
	int64_t created_at; /* epoch ms */
};
typedef void (*store_alert_fn)(void *ud, const struct store_alert *alerts, size_t n);
void store_set_alert_hook(struct store *s, store_alert_fn fn, void *ud);

/* --- reading ------------------------------------------------------------ */

/*
 * Runs fn on a reader thread with a read connection, then done on the loop
 * thread with fn's result.  [loop]
 */
typedef int (*store_read_fn)(struct store_conn *c, void *ud);
int store_submit_read(struct store *s, store_read_fn fn, store_done_fn done, void *ud);

/* --- device cache --------------------------------------------------------- */

/*
 * Looks a device up by UUID or serial.  Returns a copy the caller must free
 * with store_device_free(), or NULL.  [any]
 */
struct store_device *store_device_find(struct store *s, const char *id_or_serial);
struct store_device *store_device_by_id(struct store *s, int64_t id);
void store_device_free(struct store_device *d);
/* Resolves a device to its internal id and nothing else (hot path). [any]
 * Returns 0 when unknown. */
int64_t store_device_resolve(struct store *s, const char *id_or_serial);
/* Channel id by name, or -1 when unknown. [any] */
int64_t store_channel_resolve(struct store *s, const char *name);
/* Channel name by id into buf, or -1. [any] */
int store_channel_name(struct store *s, uint32_t id, char *buf, size_t len);

/*
 * Lists devices ordered by id with id > after_id, at most limit, into an
 * array the caller frees with store_device_list_free. [any]
 * Filter q (may be NULL) matches name, serial or region, case-insensitively;
 * only (sorted ids, nonly of them), when not NULL, limits the list to them.
 */
size_t store_device_list(struct store *s, int64_t after_id, size_t limit, const char *q,
			 const int64_t *only, size_t nonly, struct store_device ***out);
void store_device_list_free(struct store_device **list, size_t n);

/* Whether s has the 8-4-4-4-12 hex shape of a UUID (any case). [any] */
bool store_uuid_shaped(const char *s);

/* --- statistics (for /metrics and /healthz) -------------------------------- */

struct store_stats {
	uint64_t commits; /* transactions committed */
	uint64_t commit_failures;
	uint64_t queue_rows;	  /* rows waiting right now */
	uint64_t readings_stored; /* since start */
	uint64_t readings_duplicate;
	uint64_t readings_conflict;
	uint64_t db_bytes; /* main file + WAL */
	bool healthy;	   /* last commit and last read succeeded */
	/* commit histograms: cumulative-bucket counts */
	uint64_t batch_rows_le[8]; /* <=1,10,100,1k,10k,100k,1M,+Inf */
	uint64_t batch_rows_sum;
	uint64_t latency_us_le[10]; /* <=100us,250us,500us,1ms,2.5ms,5ms,10ms,25ms,100ms,+Inf */
	uint64_t latency_us_sum;
};
extern const double store_batch_rows_bounds[7];
extern const double store_latency_s_bounds[9];

void store_get_stats(struct store *s, struct store_stats *out); /* [any] */

/* --- what closures may call (backend-neutral; see backend.h) ------------- */

/* [writer] */
int store_device_insert(struct store_conn *c, struct store_device *d);
int store_device_update(struct store_conn *c, const struct store_device *d);
int store_device_delete(struct store_conn *c, int64_t id);

struct store_token {
	int64_t id;
	char name[128];
	char scope[96];	      /* "admin", "ingest", "device:<uuid>" */
	int64_t created_at;   /* epoch ms */
	int64_t last_used_at; /* epoch ms, 0 = never */
	bool revoked;
};
/* [writer] hash is the 32-byte SHA-256 of the secret token. */
int store_token_insert(struct store_conn *c, const char *name, const char *scope,
		       const unsigned char hash[32], int64_t *id_out);
int store_token_revoke(struct store_conn *c, int64_t id);
/* [reader or writer] */
int store_token_find(struct store_conn *c, const unsigned char hash[32], struct store_token *out);
int store_token_list(struct store_conn *c, struct store_token **out, size_t *n);
/* [writer] Records that the token was used at when (epoch ms). */
int store_token_touch(struct store_conn *c, int64_t id, int64_t when);

/* --- accounts (closures; contract of each backend: backend.h) -------------- */

enum user_role { ROLE_CLIENT = 0, ROLE_ADMIN = 1 };

struct store_user {
	int64_t id;
	char *name;
	char *email;
	enum user_role role;
	char *customer_ref; /* NULL when none */
	bool disabled;
	int64_t created_at; /* epoch ms */
	bool email_alerts;  /* also send this user's alert notifications by e-mail */
};
/* Frees the strings of u (not u itself). */
void store_user_release(struct store_user *u);

/* [writer] Creates u with an Argon2id password string; sets u->id and
 * u->created_at.  KW_EEXIST: the email is taken (case-insensitively). */
int store_user_insert(struct store_conn *c, struct store_user *u, const char *pw_hash);
/* [writer] Writes name, email, role, customer_ref, disabled and
 * email_alerts.  KW_ENOTFOUND, KW_EEXIST. */
int store_user_update(struct store_conn *c, const struct store_user *u);
/* [writer] Sets the password and ends every session of the user. */
int store_user_set_password(struct store_conn *c, int64_t id, const char *pw_hash);
/* [writer] Deletes the user with its sessions and mappings. */
int store_user_delete(struct store_conn *c, int64_t id);
/* [any] KW_ENOTFOUND when there is no such user; release *out. */
int store_user_get(struct store_conn *c, int64_t id, struct store_user *out);
/* [any] By email, case-insensitively; *pw_hash (malloc'd) when asked. */
int store_user_by_email(struct store_conn *c, const char *email, struct store_user *out,
			char **pw_hash);
/* [any] Users with id > after whose name, email or customer_ref contains q
 * (any case; NULL or "" for all), by id, at most limit; release each, free
 * *out. */
int store_user_list(struct store_conn *c, int64_t after, size_t limit, const char *q,
		    struct store_user **out, size_t *n);
/* [any] How many enabled admins there are. */
int store_user_admins(struct store_conn *c, int64_t *n);
/* [any] The ids of the enabled admins, ascending; free *ids. */
int store_user_admin_ids(struct store_conn *c, int64_t **ids, size_t *n);

struct store_session {
	int64_t id;
	int64_t user_id;
	char csrf[48];	      /* the session's CSRF token */
	int64_t created_at;   /* epoch ms */
	int64_t last_seen_at; /* epoch ms */
	int64_t expires_at;   /* epoch ms: the absolute expiry */
};
/* [writer] hash is the SHA-256 of the session's secret. */
int store_session_insert(struct store_conn *c, const unsigned char hash[32], int64_t user_id,
			 const char *csrf, int64_t now, int64_t expires_at, int64_t *id);
/* [any] The session and its user (release *user); KW_ENOTFOUND. Expiry and
 * a disabled user are the caller's to check. */
int store_session_find(struct store_conn *c, const unsigned char hash[32],
		       struct store_session *out, struct store_user *user);
/* [writer] */
int store_session_touch(struct store_conn *c, int64_t id, int64_t when);
int store_session_delete(struct store_conn *c, int64_t id);
int store_session_delete_user(struct store_conn *c, int64_t user_id);
/* [writer] Deletes sessions expired at now or unused since idle_before. */
int store_session_purge(struct store_conn *c, int64_t now, int64_t idle_before);

/* A device owned by a user (a client may own many; a device may have many
 * owners, a household). */
struct store_mapping {
	int64_t id;
	int64_t user_id;
	int64_t device_id; /* store_device.id */
	int64_t created_at;
};
/* [writer] Sets m->id and m->created_at; KW_EEXIST when already mapped. */
int store_mapping_insert(struct store_conn *c, struct store_mapping *m);
/* [any] */
int store_mapping_get(struct store_conn *c, int64_t id, struct store_mapping *out);
/* [writer] KW_ENOTFOUND. */
int store_mapping_delete(struct store_conn *c, int64_t id);
/* [any] Mappings of a user (user_id > 0) and/or a device (device_id > 0),
 * or all, by id; free *out. */
int store_mapping_list(struct store_conn *c, int64_t user_id, int64_t device_id,
		       struct store_mapping **out, size_t *n);
/* [any] 0 when the device is mapped to the user, else KW_ENOTFOUND. */
int store_mapping_exists(struct store_conn *c, int64_t user_id, int64_t device_id);

/* One admin action.  Strings are borrowed (valid during the call). */
struct store_audit {
	int64_t id;
	int64_t at;		/* epoch ms; 0 on insert: now */
	const char *actor_kind; /* "user", "token" or "cli" */
	int64_t actor_id;	/* user or token id, 0 when none */
	const char *actor_name; /* may be NULL */
	const char *action;	/* "user.create", "mapping.delete", ... */
	const char *object_type;
	const char *object_id;
	const char *before; /* JSON text or NULL */
	const char *after;  /* JSON text or NULL */
};
/* [writer] */
int store_audit_insert(struct store_conn *c, const struct store_audit *a);
/* [any] Entries with id < before (0: from the newest), newest first, at
 * most limit, by or about user actor_id (> 0), of object_type and
 * object_id (non-NULL); fn sees each entry during the call. */
typedef void (*store_audit_fn)(void *ud, const struct store_audit *a);
int store_audit_list(struct store_conn *c, int64_t before, size_t limit, int64_t actor_id,
		     const char *object_type, const char *object_id, store_audit_fn fn, void *ud);

/* --- alerts and notifications (closures; backend.h) ------------------------ */

/* [writer] Claims the alert of (device, hour) for notifying: marks it
 * notified at when and fills *out.  KW_ENOTFOUND when there is no such
 * alert or it was claimed already, so each alert becomes notifications
 * exactly once. */
int store_alert_claim(struct store_conn *c, int64_t device, int64_t hour, int64_t when,
		      struct store_alert *out);
/* [any] Alerts never claimed, by hour, at most limit; free *out. */
int store_alert_unnotified(struct store_conn *c, size_t limit, struct store_alert **out, size_t *n);

/* One notification of one user (kind "alert": an over-limit hour; the
 * fields are a copy of the alert's, so the row stands alone). */
struct store_notification {
	int64_t id;
	int64_t user_id;
	char kind[16];	/* "alert" */
	int64_t device; /* store_device.id */
	int64_t hour;	/* epoch ms, as struct store_alert */
	int64_t hour_end;
	double kwh;
	double limit_kwh;
	int64_t created_at; /* epoch ms; 0 on insert: now */
	int64_t read_at;    /* epoch ms; 0: unread */
};
/* [writer] Sets n->id (and n->created_at when 0). */
int store_notification_insert(struct store_conn *c, struct store_notification *n);
/* [any] A user's notifications with id < before (0: from the newest),
 * unread ones only when asked, newest first, at most limit; free *out. */
int store_notification_list(struct store_conn *c, int64_t user_id, bool unread_only, int64_t before,
			    size_t limit, struct store_notification **out, size_t *n);
/* [any] How many of a user's notifications are unread. */
int store_notification_unread(struct store_conn *c, int64_t user_id, int64_t *n);
/* [writer] Marks read at when the user's notifications among ids[0..nids)
 * (ids NULL: all of them) that are unread; ids of other users' are
 * ignored.  *changed (may be NULL) gets how many changed. */
int store_notification_read(struct store_conn *c, int64_t user_id, const int64_t *ids, size_t nids,
			    int64_t when, int64_t *changed);

/* --- support chat (closures; backend.h) ----------------------------------- */

/* One conversation: one per client user, created on first use.  The
 * client's name and email, the unread count and the last message are
 * filled by store_chat_get/store_chat_list (strings malloc'd). */
struct store_chat_message {
	int64_t id;
	int64_t chat_id;
	int64_t sender_id;   /* store_user.id; == the chat's user_id: the client wrote it */
	char *sender_name;   /* NULL when the sender was deleted */
	char *client_msg_id; /* the sender's own id of the message (idempotent retries) */
	char *body;	     /* as sent, never transformed */
	int64_t created_at;  /* epoch ms */
	int64_t read_at;     /* epoch ms; 0: unread */
	/* attached context (migration 9): a device and a day, or 0 / NULL */
	int64_t context_device;	   /* store_device.id; 0: none */
	char *context_date;	   /* "YYYY-MM-DD" */
	char *context_device_uuid; /* filled on reads; NULL when the device is gone */
	char *context_device_name; /* filled on reads */
};
struct store_chat {
	int64_t id;
	int64_t user_id; /* the client */
	char *client_name, *client_email;
	int64_t created_at, last_message_at; /* epoch ms; last_message_at 0: none yet */
	int64_t unread_by_admins;	     /* client messages no admin has read */
	int64_t unread_by_client;	     /* admin messages the client has not read */
	struct store_chat_message last;	     /* last.id 0: no message */
};
/* Frees the strings of m / ch (not the structs). */
void store_chat_message_release(struct store_chat_message *m);
void store_chat_release(struct store_chat *ch);

/* [writer] The chat of client user_id, created (at now) when it has none. */
int store_chat_ensure(struct store_conn *c, int64_t user_id, int64_t now, struct store_chat *out);
/* [any] One chat by id, filled as above; KW_ENOTFOUND. */
int store_chat_get(struct store_conn *c, int64_t id, struct store_chat *out);
/* [any] Every chat, newest activity first, at most limit; release each
 * and free *out. */
int store_chat_list(struct store_conn *c, size_t limit, struct store_chat **out, size_t *n);
/* [writer] Stores m (chat_id, sender_id, client_msg_id, body, created_at,
 * context_device, context_date)
 * and sets m->id; when sender_id already sent client_msg_id, changes
 * nothing, fills m with the stored message instead and sets *dup. */
int store_chat_message_insert(struct store_conn *c, struct store_chat_message *m, bool *dup);
/* [any] Messages of a chat with id < before (0: from the newest), newest
 * first, at most limit; release each and free *out. */
int store_chat_messages(struct store_conn *c, int64_t chat_id, int64_t before, size_t limit,
			struct store_chat_message **out, size_t *n);
/* [writer] Marks read at when the unread messages of chat_id with id <=
 * up_to written by the other side than the reader (by_client: the chat's
 * client reads, so admins' messages; else the client's messages); the
 * ones changed are returned (ids and senders; release each, free *out). */
int store_chat_read(struct store_conn *c, int64_t chat_id, int64_t client_id, bool by_client,
		    int64_t up_to, int64_t when, struct store_chat_message **out, size_t *n);

/* One device-hour's total (hour: the local hour's first instant, see
 * tz_hour_start); KW_ENOTFOUND when no energy was recorded for it. [reader] */
int store_hour_get(struct store_conn *c, int64_t device, int64_t hour, double *kwh,
		   int64_t *readings);
/* Daily totals, day being days since 1970-01-01 of the device-local date,
 * for one device (device > 0) or all devices (device == 0), in
 * [day_from, day_to).  [reader] */
typedef void (*store_day_fn)(void *ud, int64_t device, int64_t day, double kwh);
int store_days(struct store_conn *c, int64_t device, int64_t day_from, int64_t day_to,
	       store_day_fn fn, void *ud);
/* Raw readings of one device and channel (all channels when channel < 0)
 * with from <= ts < to, after the paging cursor (after_ts, after_ch) -- with
 * one channel, ts > after_ts -- ordered by (ts, channel), at most limit.
 * [reader] */
typedef void (*store_reading_fn)(void *ud, int64_t ts, uint32_t channel, double value, int flags);
int store_readings(struct store_conn *c, int64_t device, int64_t channel, int64_t from, int64_t to,
		   int64_t after_ts, int64_t after_ch, size_t limit, store_reading_fn fn, void *ud);
#endif
