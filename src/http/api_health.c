/*
 * api_health.c - GET /healthz and GET /metrics.
 *
 * /healthz answers 200 only when a reader can query the database and the
 * writer's last commit succeeded, so a load balancer stops sending writes to
 * a daemon whose disk is failing.  /metrics is the Prometheus text format.
 */
#include <stdlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/api.h"
#include "http/router.h"
#include "http/server.h"
#include "store/store.h"
#include "core/banned.h"

static int probe(struct store_conn *c, void *ud)
{
	double kwh;
	int64_t n;
	int rc = store_hour_get(c, 0, 0, &kwh, &n);
	return rc == KW_ENOTFOUND ? 0 : rc;
}

static void probe_done(void *ud, int rc)
{
	struct http_req *r = ud;
	struct store_stats st;

	store_get_stats(r->store, &st);
	if (rc == 0 && st.healthy)
		http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
	else
		http_reply_json(r, 503,
				json_pack("{s:s, s:s}", "status", "unhealthy", "reason",
					  rc ? "database not readable" : "last commit failed"));
}

void api_healthz(struct http_req *r)
{
	int rc = store_submit_read(r->store, probe, probe_done, r);
	if (rc) {
		http_reply_json(
		    r, 503,
		    json_pack("{s:s, s:s}", "status", "unhealthy", "reason", kw_strerror(rc)));
		return;
	}
	http_suspend(r);
}

static void histogram(struct kwbuf *b, const char *name, const char *help, const double *bounds,
		      int nb, const uint64_t *le, double sum, uint64_t count)
{
	kwbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < nb; i++)
		kwbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
			     (unsigned long long)le[i]);
	kwbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
		     (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

static void counter(struct kwbuf *b, const char *name, const char *type, const char *help,
		    unsigned long long v)
{
	kwbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

void api_ingest_metrics(struct kwbuf *b); /* api_ingest.c */

void api_metrics(struct http_req *r)
{
	struct kwbuf b = KWBUF_INIT(0);
	struct store_stats st;
	char *text;
	size_t len;

	store_get_stats(r->store, &st); /* histogram buckets are cumulative already */
	http_server_metrics(r->srv, &b);
	counter(&b, "kilowatt_readings_stored_total", "counter",
		"Readings committed to the database.", st.readings_stored);
	counter(&b, "kilowatt_readings_duplicate_total", "counter",
		"Readings received again with the same value (nothing changed).",
		st.readings_duplicate);
	counter(&b, "kilowatt_readings_conflict_total", "counter",
		"Readings received again with a different value (first value kept).",
		st.readings_conflict);
	api_ingest_metrics(&b);
	counter(&b, "kilowatt_store_commits_total", "counter", "Transactions committed.",
		st.commits);
	counter(&b, "kilowatt_store_commit_failures_total", "counter", "Transactions that failed.",
		st.commit_failures);
	histogram(&b, "kilowatt_store_commit_rows", "Rows per committed transaction.",
		  store_batch_rows_bounds, 7, st.batch_rows_le, (double)st.batch_rows_sum,
		  st.commits);
	histogram(&b, "kilowatt_store_commit_seconds", "Time to run and commit one transaction.",
		  store_latency_s_bounds, 9, st.latency_us_le, (double)st.latency_us_sum / 1e6,
		  st.commits);
	counter(&b, "kilowatt_store_queue_rows", "gauge", "Readings waiting for the writer.",
		st.queue_rows);
	counter(&b, "kilowatt_store_database_bytes", "gauge",
		"Size of the database files (main file and WAL).", st.db_bytes);
	text = kwbuf_detach(&b, &len);
	http_reply_bytes(r, 200, "text/plain; version=0.0.4", text, len);
}
