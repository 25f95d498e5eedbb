/*
 * api_ingest.c - POST /api/v1/measurements, POST /meter, POST /write.
 *
 * One path for all three: check the content type, parse the whole body with
 * the route's ingest_ops into a batch (nothing is stored if any reading is
 * bad), queue the batch for the writer, and answer only when it is
 * committed.  A retry of the same readings is counted as duplicates and
 * changes nothing.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "http/api.h"
#include "http/router.h"
#include "ingest/ingest.h"
#include "core/banned.h"

/* Rejected requests by error code, for /metrics. */
static const char *const reject_codes[] = { "parse_error",
					    "invalid_value",
					    "invalid_timestamp",
					    "unknown_device",
					    "missing_field",
					    "unknown_field",
					    "missing_tag",
					    "invalid_body",
					    "forbidden",
					    "unsupported_media_type",
					    "other" };
#define NCODES (sizeof(reject_codes) / sizeof(reject_codes[0]))
static _Atomic unsigned long long rejected[NCODES];

static void count_reject(const char *code)
{
	size_t i = 0;
	while (i < NCODES - 1 && strcmp(reject_codes[i], code) != 0)
		i++;
	rejected[i]++;
}

void api_ingest_metrics(struct kwbuf *b);
void api_ingest_metrics(struct kwbuf *b)
{
	kwbuf_printf(
	    b, "# HELP kilowatt_ingest_rejected_total Ingest requests rejected (nothing "
	       "of them stored), by reason.\n# TYPE kilowatt_ingest_rejected_total counter\n");
	for (size_t i = 0; i < NCODES; i++)
		kwbuf_printf(b, "kilowatt_ingest_rejected_total{reason=\"%s\"} %llu\n",
			     reject_codes[i], (unsigned long long)rejected[i]);
}

struct ingest_job {
	struct http_req *r;
	const struct ingest_ops *ops;
	struct store_batch batch;
};

static void job_free(void *p)
{
	struct ingest_job *j = p;
	store_batch_release(&j->batch);
	free(j);
}

static void reply_counts(struct ingest_job *j)
{
	if (j->ops == &ingest_influx) {
		http_reply_empty(j->r, 204); /* as InfluxDB answers */
		return;
	}
	http_reply_json(j->r, 200,
			json_pack("{s:I, s:I, s:I}", "accepted", (json_int_t)j->batch.accepted,
				  "duplicates", (json_int_t)j->batch.duplicates, "conflicts",
				  (json_int_t)j->batch.conflicts));
}

static void committed(void *ud, int rc)
{
	struct ingest_job *j = ud;
	if (rc == KW_ENOTFOUND)
		http_reply_error(j->r, 409, "device_deleted", "device_id", 0,
				 "a device of this request was deleted meanwhile; nothing stored");
	else if (rc)
		http_reply_kwerr(j->r, rc);
	else
		reply_counts(j);
}

static void reply_ingest_error(struct http_req *r, const struct ingest_error *e)
{
	json_t *o = json_pack("{s:s, s:s}", "code", e->code, "message", e->message);
	if (e->field[0])
		json_object_set_new(o, "field", json_string(e->field));
	if (e->line > 0)
		json_object_set_new(o, "line", json_integer(e->line));
	if (e->index >= 0)
		json_object_set_new(o, "index", json_integer(e->index));
	count_reject(e->code);
	http_reply_json(r, e->status, json_pack("{s:o}", "error", o));
}

static void ingest(struct http_req *r, const struct ingest_ops *ops)
{
	struct ingest_error err = { .index = -1 };
	struct ingest_ctx ctx = { .store = r->store,
				  .auto_create = r->cfg->ingest_auto_create_devices,
				  .now = tz_now_ms(),
				  .max_future_ms = r->cfg->ingest_max_future_s * 1000,
				  .precision = http_query(r, "precision") };
	struct ingest_job *j;
	int rc;

	if (!ingest_content_type_ok(ops, http_header(r, "Content-Type"))) {
		count_reject("unsupported_media_type");
		http_reply_error(r, 415, "unsupported_media_type", "Content-Type", 0, "%s takes %s",
				 r->path,
				 ops->content_types[0][0] ? ops->content_types[0]
							  : "line protocol (text/plain)");
		return;
	}
	if (r->who.kind == PRINCIPAL_DEVICE)
		ctx.only_device = r->who.device ? r->who.device : -1;
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->ops = ops;
	store_batch_init(&j->batch);
	r->ctx = j;
	r->ctx_free = job_free;
	if (ops->parse(&ctx, r->body, r->body_len, &j->batch, &err) != 0) {
		reply_ingest_error(r, &err);
		return;
	}
	if (j->batch.n == 0) {
		reply_counts(j);
		return;
	}
	if (j->batch.n > (size_t)r->cfg->storage_queue_max_rows) {
		count_reject("other");
		http_reply_error(r, 413, "too_large", NULL, 0,
				 "%zu readings in one request; storage.queue_max_rows allows %lld",
				 j->batch.n, (long long)r->cfg->storage_queue_max_rows);
		return;
	}
	if ((rc = store_submit_batch(r->store, &j->batch, committed, j)) != 0) {
		http_reply_kwerr(r, rc);
		return;
	}
	http_suspend(r);
}

void api_ingest_measurements(struct http_req *r)
{
	ingest(r, &ingest_measurements);
}

void api_ingest_meter(struct http_req *r)
{
	ingest(r, &ingest_meter);
}

void api_ingest_write(struct http_req *r)
{
	ingest(r, &ingest_influx);
}
