/*
 * config.h - every setting of kilowatt, layered: defaults < INI file <
 * environment (KILOWATT_<SECTION>_<KEY>) < command-line flags.
 *
 * The settings themselves are rows of one table (config_table.c): name,
 * type, default, range, help, and whether SIGHUP may change them.  Adding a
 * setting is one row plus one struct field; parsing, validation, the
 * environment layer and `kilowatt config dump` all follow from the row.
 *
 * Thread-safety: a struct config is filled on the main thread before any
 * other thread starts and is read-only afterwards, except the fields marked
 * reloadable, which config_reload() rewrites on the loop thread; those are
 * only read on the loop thread (or, for log.level, copied into log.c's atomic).
 */
#ifndef KW_CORE_CONFIG_H
#define KW_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	/* [http] */
	char *http_listen;		 /* "HOST:PORT" */
	int64_t http_max_header_bytes;	 /* bytes, per request */
	int64_t http_max_body_bytes;	 /* bytes, per request */
	int64_t http_max_connections;	 /* concurrent connections */
	int64_t http_per_ip_connections; /* concurrent connections per address */
	int64_t http_idle_timeout_s;	 /* seconds without traffic */
	int64_t http_request_timeout_s;	 /* seconds to receive a whole request */
	bool http_secure_cookies;	 /* mark cookies Secure (behind TLS) */
	char *http_public_origin;	 /* "https://host" as browsers see it, or "" */
	char *http_web_root;		 /* serve the web app from here, or "" (embedded) */
	/* [auth] */
	int64_t auth_session_idle_s;		 /* a session unused this long ends */
	int64_t auth_session_max_s;		 /* a session ends this long after login */
	bool auth_allow_signup;			 /* self-registration by meter claim */
	int64_t auth_login_max_failures_email;	 /* failures per email per window */
	int64_t auth_login_max_failures_address; /* failures per address per window */
	int64_t auth_login_window_s;		 /* the throttling window */
	/* [storage] */
	char *storage_data_dir;		   /* directory of the database */
	int64_t storage_cache_mib;	   /* SQLite page cache, MiB per connection */
	int64_t storage_queue_max_rows;	   /* writer queue bound; over it: 503 */
	int64_t storage_readers;	   /* reader threads */
	int64_t storage_open_readings_max; /* raw readings of open hours in memory */
	/* [ingest] */
	bool ingest_auto_create_devices;
	int64_t ingest_max_future_s; /* seconds a timestamp may lie ahead */
	/* [devices] */
	char *devices_default_timezone; /* IANA name */
	/* [mqtt] (ingest/mqtt.c): off while url is "" */
	char *mqtt_url;	      /* mqtt://[user:pass@]host:port */
	char *mqtt_topics;    /* comma-separated subscriptions */
	char *mqtt_client_id; /* fixed: the broker keeps our session by it */
	int64_t mqtt_qos;     /* 0 or 1 */
	/* [amqp] (ingest/amqp.c): off while url is "" */
	char *amqp_url; /* amqp://user:pass@host:port/vhost */
	char *amqp_exchange;
	char *amqp_queue;
	char *amqp_binding_key;
	int64_t amqp_prefetch;		 /* unacknowledged deliveries in flight */
	char *amqp_dead_letter_exchange; /* where unparseable messages go */
	/* [smtp] (alert e-mails): off while url is "" */
	char *smtp_url; /* smtp://host:port or smtps://host:port */
	char *smtp_from;
	char *smtp_username;
	char *smtp_password;
	/* [log] */
	char *log_level; /* debug|info|warn|error */
};

#define CONFIG_ERR_MAX 512

/* Fills every field with its default. */
void config_init(struct config *cfg);
void config_release(struct config *cfg);

/*
 * Applies an INI file.  On error returns KW_ECONFIG with err naming the
 * file, line and key: "kilowatt.ini:12: unknown key 'lisen' in [http]".
 * A missing file is -ENOENT.
 */
int config_load_file(struct config *cfg, const char *path, char err[CONFIG_ERR_MAX]);

/* Applies KILOWATT_<SECTION>_<KEY> variables found in the environment. */
int config_load_env(struct config *cfg, char err[CONFIG_ERR_MAX]);

/*
 * Sets one setting from text, validating it; origin names the layer for the
 * error message ("--listen", "KILOWATT_HTTP_LISTEN", "file.ini:3").
 * Returns 0 or KW_ECONFIG.
 */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
	       const char *origin, char err[CONFIG_ERR_MAX]);

/* Writes every setting as an INI file with its current value, default and help. */
void config_dump(const struct config *cfg, FILE *out);

/*
 * Copies the settings that may change while running (marked reloadable in
 * the table) from fresh into cfg, logging each change.
 */
void config_reload(struct config *cfg, const struct config *fresh);

#endif
