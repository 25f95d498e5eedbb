/*
 * backend.h - what a storage backend implements (SQLite now, PostgreSQL
 * next).  Shared by src/store/ only; nothing outside store/ sees SQL.
 *
 * A backend provides connections and primitives; the logic above them
 * (group commit, caches, energy rollups, queries' shaping) lives in
 * backend-neutral files (writer.c, rollup.c, store.c), so a second backend is
 * one new file implementing this table and no change to callers.
 *
 * Every primitive returns 0 or a negative error (KW_EDB with the backend's
 * message logged once, KW_ENOTFOUND, KW_EEXIST).
 */
#ifndef KW_STORE_BACKEND_H
#define KW_STORE_BACKEND_H

#include "store/rawblock.h"
#include "store/store.h"

/* A local day has at most 26 hours (a 25-hour DST day, plus a cut hour
 * where an offset changes inside an hour, e.g. Australia/Lord_Howe). */
#define STORE_DAY_SLOTS 26

/* A reader's copy of one device's open-hour readings (raw.h, rule 3). */
struct raw_view {
	bool active;
	int64_t device;
	struct raw_rec *r;
	size_t n, cap;
};

/* Every backend connection struct begins with this. */
struct store_conn {
	const struct store_backend_ops *ops;
	struct store *owner; /* set by store.c after open */
	bool writer;	     /* set by store.c after open */
	struct raw_view view;
};

enum store_insert_result { STORE_INSERTED, STORE_DUPLICATE, STORE_CONFLICT };

/* Accounts (store.h has each function's contract). */
struct store_account_ops {
	int (*user_insert)(struct store_conn *c, struct store_user *u, const char *pw_hash);
	int (*user_update)(struct store_conn *c, const struct store_user *u);
	int (*user_set_password)(struct store_conn *c, int64_t id, const char *pw_hash);
	int (*user_delete)(struct store_conn *c, int64_t id);
	int (*user_get)(struct store_conn *c, int64_t id, struct store_user *out);
	int (*user_by_email)(struct store_conn *c, const char *email, struct store_user *out,
			     char **pw_hash);
	int (*user_list)(struct store_conn *c, int64_t after, size_t limit, const char *q,
			 struct store_user **out, size_t *n);
	int (*user_admins)(struct store_conn *c, int64_t *n);
	int (*user_admin_ids)(struct store_conn *c, int64_t **ids, size_t *n);
	int (*session_insert)(struct store_conn *c, const unsigned char hash[32], int64_t user_id,
			      const char *csrf, int64_t now, int64_t expires_at, int64_t *id);
	int (*session_find)(struct store_conn *c, const unsigned char hash[32],
			    struct store_session *out, struct store_user *user);
	int (*session_touch)(struct store_conn *c, int64_t id, int64_t when);
	int (*session_delete)(struct store_conn *c, int64_t id);
	int (*session_delete_user)(struct store_conn *c, int64_t user_id);
	int (*session_purge)(struct store_conn *c, int64_t now, int64_t idle_before);
	int (*mapping_insert)(struct store_conn *c, struct store_mapping *m);
	int (*mapping_get)(struct store_conn *c, int64_t id, struct store_mapping *out);
	int (*mapping_delete)(struct store_conn *c, int64_t id);
	int (*mapping_list)(struct store_conn *c, int64_t user_id, int64_t device_id,
			    struct store_mapping **out, size_t *n);
	int (*mapping_exists)(struct store_conn *c, int64_t user_id, int64_t device_id);
	int (*audit_insert)(struct store_conn *c, const struct store_audit *a);
	int (*audit_list)(struct store_conn *c, int64_t before, size_t limit, int64_t actor_id,
			  const char *object_type, const char *object_id, store_audit_fn fn,
			  void *ud);
};

/* Over-limit alerts and users' notifications (store.h has the contracts).
 * alert_insert records the alert and sets *inserted, or sets *inserted
 * false and changes nothing when the device-hour has an alert already. */
struct store_alert_ops {
	int (*alert_insert)(struct store_conn *c, struct store_alert *a, bool *inserted);
	int (*alert_claim)(struct store_conn *c, int64_t device, int64_t hour, int64_t when,
			   struct store_alert *out);
	int (*alert_unnotified)(struct store_conn *c, size_t limit, struct store_alert **out,
				size_t *n);
	int (*notification_insert)(struct store_conn *c, struct store_notification *n);
	int (*notification_list)(struct store_conn *c, int64_t user_id, bool unread_only,
				 int64_t before, size_t limit, struct store_notification **out,
				 size_t *n);
	int (*notification_unread)(struct store_conn *c, int64_t user_id, int64_t *n);
	int (*notification_read)(struct store_conn *c, int64_t user_id, const int64_t *ids,
				 size_t nids, int64_t when, int64_t *changed);
};

/* Support chat (store.h has the contracts). */
struct store_chat_ops {
	int (*chat_ensure)(struct store_conn *c, int64_t user_id, int64_t now,
			   struct store_chat *out);
	int (*chat_get)(struct store_conn *c, int64_t id, struct store_chat *out);
	int (*chat_list)(struct store_conn *c, size_t limit, struct store_chat **out, size_t *n);
	int (*message_insert)(struct store_conn *c, struct store_chat_message *m, bool *dup);
	int (*messages)(struct store_conn *c, int64_t chat_id, int64_t before, size_t limit,
			struct store_chat_message **out, size_t *n);
	int (*read)(struct store_conn *c, int64_t chat_id, int64_t client_id, bool by_client,
		    int64_t up_to, int64_t when, struct store_chat_message **out, size_t *n);
};

struct store_backend_ops {
	const char *name;
	const struct store_chat_ops *chat;
	const struct store_account_ops *acct;
	const struct store_alert_ops *alerts;
	/* Opens a connection; writer connections run migrations first. */
	int (*open)(const struct store_options *o, bool writer, struct store_conn **out, char *err,
		    size_t errlen);
	void (*close)(struct store_conn *c);
	int (*begin)(struct store_conn *c);
	int (*commit)(struct store_conn *c);
	void (*rollback)(struct store_conn *c);
	int (*savepoint)(struct store_conn *c);
	int (*release)(struct store_conn *c);
	void (*rollback_to)(struct store_conn *c);
	uint64_t (*db_bytes)(struct store_conn *c);
	/* Called after every job: ends any read snapshot a statement still
	 * holds, so readers see new commits and checkpoints can complete. */
	void (*idle)(struct store_conn *c);

	/* Caches are loaded from these at start. */
	int (*load_devices)(struct store_conn *c, void (*fn)(void *ud, struct store_device *d),
			    void *ud);
	int (*load_channels)(struct store_conn *c,
			     void (*fn)(void *ud, int64_t id, const char *name), void *ud);
	int (*channel_insert)(struct store_conn *c, const char *name, int64_t *id);

	/* Raw readings (used by raw.c): device-hour blocks (rawblock.h) and the
	 * journal of open hours' readings.  block_get calls fn once when the
	 * block exists, else returns KW_ENOTFOUND; block_put inserts a new
	 * block or (exists) replaces the stored one; block_scan visits the blocks with block >= from in
	 * (block, device) order; block_bounds gives the smallest and largest
	 * block.  journal_trim deletes the rows whose max_ts <= max_ts. */
	int (*block_get)(struct store_conn *c, int64_t device, int64_t block,
			 void (*fn)(void *ud, const void *data, size_t len), void *ud);
	int (*block_put)(struct store_conn *c, int64_t device, int64_t block, const void *data,
			 size_t len, bool exists);
	int (*block_scan)(struct store_conn *c, int64_t from,
			  void (*fn)(void *ud, int64_t device, int64_t block, const void *data,
				     size_t len),
			  void *ud);
	int (*block_bounds)(struct store_conn *c, int64_t *min, int64_t *max);
	int (*journal_append)(struct store_conn *c, int64_t max_ts, const void *data, size_t len);
	int (*journal_trim)(struct store_conn *c, int64_t max_ts);
	int (*journal_scan)(struct store_conn *c,
			    void (*fn)(void *ud, const void *data, size_t len), void *ud);
	/* Small persistent integers ("watermark"); KW_ENOTFOUND when unset. */
	int (*meta_get)(struct store_conn *c, const char *key, int64_t *value);
	int (*meta_set)(struct store_conn *c, const char *key, int64_t value);
	/* Reader: pin a read snapshot now (released by idle()). */
	int (*snapshot)(struct store_conn *c);
	int (*hour_add)(struct store_conn *c, int64_t device, int64_t hour, double kwh,
			int64_t readings);
	/* Adds to a device-day's total and to its hours: slots[i] is the kWh of
	 * the day's i-th local hour, NAN where this call adds nothing. */
	int (*day_add)(struct store_conn *c, int64_t device, int64_t day, double kwh,
		       const double slots[STORE_DAY_SLOTS]);
	/* A device-day's hours as stored (NAN: no data); KW_ENOTFOUND when the
	 * day has no row, KW_EUNSUPPORTED when the row predates hour slots. */
	int (*day_hours)(struct store_conn *c, int64_t device, int64_t day,
			 double slots[STORE_DAY_SLOTS]);
	int (*counter_get)(struct store_conn *c, int64_t device, int64_t *ts, double *v);
	int (*counter_put)(struct store_conn *c, int64_t device, int64_t ts, double v);

	/* Devices and tokens. */
	int (*device_insert)(struct store_conn *c, struct store_device *d);
	int (*device_update)(struct store_conn *c, const struct store_device *d);
	int (*device_delete)(struct store_conn *c, int64_t id);
	int (*token_insert)(struct store_conn *c, const char *name, const char *scope,
			    const unsigned char hash[32], int64_t *id);
	int (*token_revoke)(struct store_conn *c, int64_t id);
	int (*token_find)(struct store_conn *c, const unsigned char hash[32],
			  struct store_token *out);
	int (*token_list)(struct store_conn *c, struct store_token **out, size_t *n);
	int (*token_touch)(struct store_conn *c, int64_t id, int64_t when);

	/* Queries. */
	/* One device-hour's total; KW_ENOTFOUND when nothing was recorded. */
	int (*hour_get)(struct store_conn *c, int64_t device, int64_t hour, double *kwh,
			int64_t *readings);
	/* Daily totals of one device (device > 0) or of all (device == 0). */
	int (*days)(struct store_conn *c, int64_t device, int64_t day_from, int64_t day_to,
		    store_day_fn fn, void *ud);
};

extern const struct store_backend_ops store_sqlite_ops;

#endif
