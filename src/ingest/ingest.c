/*
 * ingest.c - the validation every input format shares (see ingest.h).
 *
 * Invariants:
 *  1. A reading reaches a batch only with a finite value, a timestamp in
 *     [2000-01-01, now + max_future], a device that exists or will be
 *     auto-created, and, on the energy channel, a value >= 0.
 *  2. A device-scoped token never adds a reading of another device.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "ingest/ingest.h"
#include "core/banned.h"

void ingest_fail(struct ingest_error *err, int status, const char *code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

bool ingest_content_type_ok(const struct ingest_ops *ops, const char *ct)
{
	for (const char *const *t = ops->content_types; *t; t++) {
		size_t n = strlen(*t);
		if (!ct)
			if (n == 0)
				return true;
		if (ct && n && strncasecmp(ct, *t, n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return true;
	}
	return false;
}

static int64_t resolve_device(struct ingest_ctx *ctx, struct store_batch *b, const char *key,
			      struct ingest_error *err)
{
	int64_t id = store_device_resolve(ctx->store, key);
	if (id)
		return id;
	if (!ctx->auto_create || !*key || strlen(key) > 64) {
		ingest_fail(err, 400, "unknown_device", "device_id",
			    "unknown device '%.128s' (create it first, or set "
			    "ingest.auto_create_devices=true)",
			    key);
		return 0;
	}
	return STORE_PENDING_ID(store_batch_new_serial(b, key));
}

static int64_t resolve_channel(struct ingest_ctx *ctx, struct store_batch *b, const char *name)
{
	int64_t id = store_channel_resolve(ctx->store, name);
	if (id >= 0)
		return id;
	return STORE_PENDING_CHANNEL(store_batch_new_channel(b, name));
}

int ingest_add(struct ingest_ctx *ctx, struct store_batch *b, const char *device_key,
	       const char *channel, int64_t ts, double value, struct ingest_error *err)
{
	struct store_reading r = { .ts = ts, .value = value };
	bool energy = strcmp(channel, "kwh") == 0;
	const char *vfield = energy ? "value" : channel;

	if (!isfinite(value)) {
		ingest_fail(err, 400, "invalid_value", vfield, "%s must be a finite number",
			    vfield);
		return KW_EINVAL;
	}
	if (energy && value < 0) {
		ingest_fail(err, 400, "invalid_value", vfield,
			    "an energy reading cannot be negative (%g kWh)", value);
		return KW_EINVAL;
	}
	if (ts < INGEST_MIN_TS || ts > ctx->now + ctx->max_future_ms) {
		ingest_fail(err, 400, "invalid_timestamp", "timestamp", "timestamp %lld ms is %s",
			    (long long)ts,
			    ts < INGEST_MIN_TS ? "before the year 2000" : "too far in the future");
		return KW_EINVAL;
	}
	if (!(r.device = resolve_device(ctx, b, device_key, err)))
		return KW_EINVAL;
	if (ctx->only_device && r.device != ctx->only_device) {
		ingest_fail(err, 403, "forbidden", "device_id",
			    "this token may not write device '%.128s'", device_key);
		return KW_EINVAL;
	}
	r.channel = energy ? STORE_CHANNEL_ENERGY : (uint32_t)resolve_channel(ctx, b, channel);
	r.line = 0;
	store_batch_add(b, &r);
	return 0;
}
