/*
 * cmd_serve.c - `kilowatt serve`: the daemon.
 *
 * Shutdown order on SIGTERM/SIGINT (docs/ARCHITECTURE.md):
 *   0. the broker inputs stop: what they are committing is committed and
 *      acknowledged, then they disconnect (the store is still running);
 *   1. stop accepting connections;
 *   2. finish the requests in flight (at most DRAIN_MS);
 *   2b. the alert service stops (its job in flight finishes, the mail
 *      thread is joined); alerts committed later wait in the store;
 *   3. the writer commits everything queued, so all that was acknowledged
 *      is on disk (it already was: acknowledgement follows COMMIT);
 *   4. close the database;
 *   5. close the remaining handles, uv_loop_close() == 0, exit 0.
 * A second signal, or HARD_STOP_MS passing, exits at once with status 1.
 * SIGHUP re-reads the config file and environment and applies the settings
 * marked reloadable (log.level).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "alert/alerts.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "http/http.h"
#include "http/server.h"
#include "http/ws.h"
#include "ingest/amqp.h"
#include "ingest/bridge.h"
#include "ingest/mqtt.h"
#include "store/store.h"
#include "core/banned.h"

#define DRAIN_MS     10000
#define HARD_STOP_MS 30000

struct daemon {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t hard_stop;
	struct config cfg;
	const char *config_path;
	struct store *store;
	struct http_server *http;
	struct bridge *bridge; /* broker inputs -> store */
	struct mqtt_input *mqtt;
	struct amqp_input *amqp;
	struct alerts *alerts; /* over-limit notifications */
	int inputs_open;
	bool stopping;
	int exit_code;
};

static void on_closed(uv_handle_t *h)
{
}

static void close_handles(struct daemon *d)
{
	uv_close((uv_handle_t *)&d->sigterm, on_closed);
	uv_close((uv_handle_t *)&d->sigint, on_closed);
	uv_close((uv_handle_t *)&d->sighup, on_closed);
	uv_close((uv_handle_t *)&d->hard_stop, on_closed);
}

static void on_store_closed(void *ud)
{
	struct daemon *d = ud;
	d->store = NULL;
	close_handles(d); /* 5. */
	log_info("main", "stopped");
}

static void on_alerts_closed(void *ud)
{
	struct daemon *d = ud;
	d->alerts = NULL;
	store_close(d->store, on_store_closed, d); /* 3. and 4. */
}

static void on_bridge_closed(void *ud)
{
	struct daemon *d = ud;
	d->bridge = NULL;
	alerts_close(d->alerts, on_alerts_closed, d); /* 2b. */
}

/* The alert service's live events go to the user's WebSockets (none once
 * the HTTP server has stopped: the notification is stored anyway). */
static void publish_alert(void *ud, int64_t user_id, json_t *event)
{
	struct daemon *d = ud;
	if (d->http)
		ws_publish_user(http_hub(d->http), user_id, event);
	else
		json_decref(event);
}

static void on_http_closed(void *ud)
{
	struct daemon *d = ud;
	d->http = NULL;
	log_info("main", "connections closed; committing and closing the database");
	bridge_close(d->bridge, on_bridge_closed, d);
}

static void on_input_closed(void *ud)
{
	struct daemon *d = ud;
	if (--d->inputs_open > 0)
		return;
	d->mqtt = NULL;
	d->amqp = NULL;
	http_server_close(d->http, DRAIN_MS, on_http_closed, d); /* 1. and 2. */
}

/* 0.: the inputs, then the rest (on_input_closed). */
static void close_inputs(struct daemon *d)
{
	d->inputs_open = 1 + (d->mqtt != NULL) + (d->amqp != NULL);
	if (d->mqtt) {
		http_server_remove_metrics(d->http, d->mqtt);
		mqtt_input_close(d->mqtt, on_input_closed, d);
	}
	if (d->amqp) {
		http_server_remove_metrics(d->http, d->amqp);
		amqp_input_close(d->amqp, on_input_closed, d);
	}
	on_input_closed(d);
}

static void on_hard_stop(uv_timer_t *t)
{
	log_error("main", "shutdown did not finish in %d ms; exiting", HARD_STOP_MS);
	_exit(1);
}

static void begin_shutdown(struct daemon *d, const char *why)
{
	if (d->stopping) {
		log_warn("main", "second %s: exiting at once", why);
		_exit(1);
	}
	if (!d->http)
		return; /* start-up failed; the loop is already winding down */
	d->stopping = true;
	log_info("main", "%s: shutting down", why);
	uv_timer_start(&d->hard_stop, on_hard_stop, HARD_STOP_MS, 0);
	uv_unref((uv_handle_t *)&d->hard_stop);
	close_inputs(d);
}

static void reload(struct daemon *d)
{
	struct config fresh;
	enum log_level lvl;

	if (cli_load_config(&fresh, d->config_path) != 0) {
		log_error("main", "SIGHUP: configuration not reloaded (see the error above)");
		return;
	}
	config_reload(&d->cfg, &fresh);
	if (log_level_parse(d->cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	config_release(&fresh);
	log_info("main", "SIGHUP: configuration reloaded");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP)
		reload(d);
	else
		begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void watch(struct daemon *d, uv_signal_t *h, int signum)
{
	uv_signal_init(&d->loop, h);
	h->data = d;
	uv_signal_start(h, on_signal, signum);
}

static int parse_flags(int argc, char **argv, struct daemon *d, const char **listen,
		       const char **data, const char **web)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "listen", required_argument, NULL, 'l' },
					      { "data", required_argument, NULL, 'd' },
					      { "web-root", required_argument, NULL, 'w' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "c:l:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'l':
			*listen = optarg;
			break;
		case 'd':
			*data = optarg;
			break;
		case 'w':
			*web = optarg;
			break;
		case 'h':
			printf("usage: kilowatt serve [--config FILE] [--listen HOST:PORT] [--data "
			       "DIR] [--web-root DIR]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kilowatt serve: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return -1;
}

static int start(struct daemon *d)
{
	char err[512];
	int port;
	struct store_options so = {
		d->cfg.storage_data_dir,	 d->cfg.storage_cache_mib,
		d->cfg.storage_queue_max_rows,	 (int)d->cfg.storage_readers,
		d->cfg.devices_default_timezone, d->cfg.storage_open_readings_max
	};

	if (store_open(&d->loop, &so, &d->store, err, sizeof(err)) != 0) {
		log_error("main", "%s", err);
		return 1;
	}
	if (http_server_start(&d->loop, &d->cfg, d->store, &d->http, &port, err, sizeof(err))) {
		log_error("main", "%s", err);
		store_close(d->store, NULL, NULL); /* finishes when the caller runs the loop */
		d->store = NULL;
		return 1;
	}
	d->bridge = bridge_new(&d->loop, d->store);
	if (alerts_start(&d->loop, &d->cfg, d->store, publish_alert, d, &d->alerts, err,
			 sizeof(err)) ||
	    mqtt_input_start(&d->loop, &d->cfg, d->store, d->bridge, &d->mqtt, err, sizeof(err)) ||
	    amqp_input_start(&d->loop, &d->cfg, d->store, d->bridge, &d->amqp, err, sizeof(err))) {
		log_error("main", "%s", err);
		begin_shutdown(d, "start-up failure");
		d->exit_code = 1;
		return 0; /* the loop runs the shutdown */
	}
	if (d->mqtt)
		http_server_add_metrics(d->http, mqtt_input_metrics, d->mqtt);
	if (d->amqp)
		http_server_add_metrics(d->http, amqp_input_metrics, d->amqp);
	char extra[300];
	snprintf(extra, sizeof(extra), "addr=%.*s:%d data=\"%s\"",
		 (int)(strrchr(d->cfg.http_listen, ':') - d->cfg.http_listen), d->cfg.http_listen,
		 port, d->cfg.storage_data_dir);
	log_write(LOG_INFO, "main", extra, "listening");
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct daemon d = { 0 };
	const char *listen = NULL, *data = NULL, *web = NULL;
	char err[CONFIG_ERR_MAX];
	int rc = parse_flags(argc, argv, &d, &listen, &data, &web);

	if (rc >= 0)
		return rc;
	if (cli_load_config(&d.cfg, d.config_path) != 0)
		return 1;
	if ((listen && config_set(&d.cfg, "http", "listen", listen, "--listen", err)) ||
	    (data && config_set(&d.cfg, "storage", "data_dir", data, "--data", err)) ||
	    (web && config_set(&d.cfg, "http", "web_root", web, "--web-root", err))) {
		fprintf(stderr, "kilowatt: %s\n", err);
		config_release(&d.cfg);
		return 1;
	}
	uv_loop_init(&d.loop);
	uv_timer_init(&d.loop, &d.hard_stop);
	watch(&d, &d.sigterm, SIGTERM);
	watch(&d, &d.sigint, SIGINT);
	watch(&d, &d.sighup, SIGHUP);
	if ((rc = start(&d)) != 0) {
		close_handles(&d);
		uv_run(&d.loop, UV_RUN_DEFAULT);
	} else {
		uv_run(&d.loop, UV_RUN_DEFAULT);
	}
	if (rc == 0)
		rc = d.exit_code;
	if (uv_loop_close(&d.loop) != 0) {
		log_error("main", "event loop closed with handles still open");
		rc = 1;
	}
	config_release(&d.cfg);
	return rc;
}
