/*
 * config_table.c - every setting kilowatt has, one row each.
 *
 * To add a setting: add a field to struct config (config.h) and a row here.
 * Nothing else: the INI parser, KILOWATT_* variables, validation and
 * `kilowatt config dump` are driven by this table.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/config_table.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/banned.h"

static int check_listen(const char *v, char *why, size_t n)
{
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v || !colon[1]) {
		snprintf(why, n, "expected HOST:PORT");
		return -1;
	}
	long port = 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535) {
			snprintf(why, n, "port must be a number from 0 to 65535");
			return -1;
		}
	}
	return 0;
}

static int check_level(const char *v, char *why, size_t n)
{
	enum log_level l;
	if (log_level_parse(v, &l) == 0)
		return 0;
	snprintf(why, n, "expected debug, info, warn or error");
	return -1;
}

static int check_tz(const char *v, char *why, size_t n)
{
	if (tz_get(v))
		return 0;
	snprintf(why, n, "unknown IANA time zone");
	return -1;
}

#define F(field) offsetof(struct config, field)
#define GiB	 (INT64_C(1) << 30)

const struct config_row config_rows[] = {
	{ "http", "listen", CFG_STRING, F(http_listen), "127.0.0.1:8080", 0, 0, check_listen, 0,
	  "Address and port to listen on (HOST:PORT)." },
	{ "http", "max_header_bytes", CFG_SIZE, F(http_max_header_bytes), "16k", 1024, 1 << 20,
	  NULL, 0, "Largest request line plus headers accepted." },
	{ "http", "max_body_bytes", CFG_SIZE, F(http_max_body_bytes), "32M", 1024, GiB, NULL, 0,
	  "Largest request body accepted; larger answers 413." },
	{ "http", "max_connections", CFG_INT, F(http_max_connections), "1024", 1, 60000, NULL, 0,
	  "Concurrent connections in all." },
	{ "http", "per_ip_connections", CFG_INT, F(http_per_ip_connections), "64", 1, 60000, NULL,
	  0, "Concurrent connections from one address." },
	{ "http", "idle_timeout", CFG_DURATION, F(http_idle_timeout_s), "60s", 1, 86400, NULL, 0,
	  "Close a connection idle this long." },
	{ "http", "request_timeout", CFG_DURATION, F(http_request_timeout_s), "30s", 1, 86400, NULL,
	  0, "Answer 408 when a request takes longer than this to arrive." },
	{ "http", "secure_cookies", CFG_BOOL, F(http_secure_cookies), "false", 0, 0, NULL, 0,
	  "Mark the session cookie Secure: set it when users reach kilowatt over HTTPS (a TLS "
	  "proxy in front)." },
	{ "http", "public_origin", CFG_STRING, F(http_public_origin), "", 0, 0, NULL, 0,
	  "The origin browsers use, e.g. https://energy.example.com; empty: http(s):// and the "
	  "Host header.  State-changing requests from a session must come from it." },
	{ "http", "web_root", CFG_STRING, F(http_web_root), "", 0, 0, NULL, 0,
	  "Serve the web app from this directory (web/build.mjs --out DIR) instead of the copy "
	  "built into the binary: for working on the front end." },
	{ "auth", "session_idle", CFG_DURATION, F(auth_session_idle_s), "12h", 60, 365 * 86400,
	  NULL, 0, "A login session not used for this long ends." },
	{ "auth", "session_max", CFG_DURATION, F(auth_session_max_s), "7d", 60, 365 * 86400, NULL,
	  0, "A login session ends this long after the login, used or not." },
	{ "auth", "allow_signup", CFG_BOOL, F(auth_allow_signup), "false", 0, 0, NULL, 0,
	  "Let people register with a meter's serial and claim code." },
	{ "auth", "login_max_failures_email", CFG_INT, F(auth_login_max_failures_email), "5", 1,
	  1000, NULL, 0, "Failed logins for one email within login_window before 429." },
	{ "auth", "login_max_failures_address", CFG_INT, F(auth_login_max_failures_address), "20",
	  1, 100000, NULL, 0, "Failed logins from one address within login_window before 429." },
	{ "auth", "login_window", CFG_DURATION, F(auth_login_window_s), "15m", 1, 86400, NULL, 0,
	  "The window in which failed logins count." },
	{ "storage", "data_dir", CFG_STRING, F(storage_data_dir), "./var", 0, 0, NULL, 0,
	  "Directory holding the database (created if missing)." },
	{ "storage", "cache_mib", CFG_INT, F(storage_cache_mib), "64", 1, 65536, NULL, 0,
	  "SQLite page cache per connection, in MiB." },
	{ "storage", "queue_max_rows", CFG_INT, F(storage_queue_max_rows), "2000000", 1000,
	  100000000, NULL, 0, "Readings waiting for the writer; beyond this, ingest answers 503." },
	{ "storage", "open_readings_max", CFG_INT, F(storage_open_readings_max), "2000000", 1000,
	  1000000000, NULL, 0,
	  "Readings of open hours kept in memory (24 bytes each); beyond this they are written "
	  "to their hour blocks early." },
	{ "storage", "readers", CFG_INT, F(storage_readers), "2", 1, 64, NULL, 0,
	  "Threads answering queries, each with its own read connection." },
	{ "ingest", "auto_create_devices", CFG_BOOL, F(ingest_auto_create_devices), "false", 0, 0,
	  NULL, 0, "Create unknown devices on first write instead of rejecting them." },
	{ "ingest", "max_future", CFG_DURATION, F(ingest_max_future_s), "1d", 0, 365 * 86400, NULL,
	  0, "Reject readings stamped further than this in the future." },
	{ "devices", "default_timezone", CFG_STRING, F(devices_default_timezone), "UTC", 0, 0,
	  check_tz, 0, "Time zone of devices created without one (IANA name)." },
	{ "mqtt", "url", CFG_STRING, F(mqtt_url), "", 0, 0, NULL, 0,
	  "The MQTT broker to take readings from, mqtt://[user:password@]host:port; empty: no "
	  "MQTT input." },
	{ "mqtt", "topics", CFG_STRING, F(mqtt_topics), "kilowatt/+/measurements", 0, 0, NULL, 0,
	  "Topics to subscribe to, comma-separated; a '+' level names the device unless the "
	  "payload does." },
	{ "mqtt", "client_id", CFG_STRING, F(mqtt_client_id), "kilowatt", 0, 0, NULL, 0,
	  "The client id: with a persistent session the broker keeps messages for it while "
	  "kilowatt is down.  Each kilowatt needs its own." },
	{ "mqtt", "qos", CFG_INT, F(mqtt_qos), "1", 0, 1, NULL, 0,
	  "Subscription QoS: 1 (at least once; acknowledged after commit) or 0." },
	{ "amqp", "url", CFG_STRING, F(amqp_url), "", 0, 0, NULL, 0,
	  "The AMQP 0-9-1 broker (RabbitMQ) to take readings from, "
	  "amqp://user:password@host:port/vhost; empty: no AMQP input." },
	{ "amqp", "exchange", CFG_STRING, F(amqp_exchange), "kilowatt", 0, 0, NULL, 0,
	  "The topic exchange meters publish to (declared durable if missing)." },
	{ "amqp", "queue", CFG_STRING, F(amqp_queue), "kilowatt.measurements", 0, 0, NULL, 0,
	  "The durable queue kilowatt consumes; several kilowatt instances may share it." },
	{ "amqp", "binding_key", CFG_STRING, F(amqp_binding_key), "#", 0, 0, NULL, 0,
	  "The binding of the queue to the exchange." },
	{ "amqp", "prefetch", CFG_INT, F(amqp_prefetch), "2000", 1, 65535, NULL, 0,
	  "Deliveries in flight, unacknowledged; they are committed together." },
	{ "amqp", "dead_letter_exchange", CFG_STRING, F(amqp_dead_letter_exchange), "kilowatt.dead",
	  0, 0, NULL, 0,
	  "Where messages that cannot be parsed go (a fanout exchange, declared if missing, "
	  "with the queue <queue>.dead bound to it)." },
	{ "smtp", "url", CFG_STRING, F(smtp_url), "", 0, 0, NULL, 0,
	  "The mail server for alert e-mails, smtp://host:port (STARTTLS when offered, and "
	  "required when a username is set) or smtps://host:port; empty: no e-mail." },
	{ "smtp", "from", CFG_STRING, F(smtp_from), "kilowatt@localhost", 0, 0, NULL, 0,
	  "The sender address of alert e-mails." },
	{ "smtp", "username", CFG_STRING, F(smtp_username), "", 0, 0, NULL, 0,
	  "SMTP login, if the server needs one." },
	{ "smtp", "password", CFG_STRING, F(smtp_password), "", 0, 0, NULL, 0,
	  "SMTP password (better in the environment: KILOWATT_SMTP_PASSWORD)." },
	{ "log", "level", CFG_STRING, F(log_level), "info", 0, 0, check_level, 1,
	  "Lowest level logged: debug, info, warn or error." },
};

const size_t config_nrows = sizeof(config_rows) / sizeof(config_rows[0]);
