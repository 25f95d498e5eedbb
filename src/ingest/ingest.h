/*
 * ingest.h - turning a request body into a batch of validated readings.
 *
 * Each input format is one `const struct ingest_ops` (measurements.c,
 * meter.c, influx.c); the HTTP layer picks one per route and never looks
 * inside a format.  A format parses the whole body and either fills the
 * batch completely or fails with an error naming what is wrong (field, line
 * or array index, value): a rejected body adds nothing to the store.
 *
 * Thread-safety: parse functions run on the loop thread (HTTP) or on a
 * broker input's thread (mqtt.c, amqp.c); they only read the store's
 * in-memory device cache, which is [any].
 */
#ifndef KW_INGEST_INGEST_H
#define KW_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct ingest_error {
	int status;	/* HTTP status to answer: 400, 403 */
	char code[32];	/* "invalid_value", "unknown_device", "parse_error", ... */
	char field[64]; /* the field at fault, or "" */
	int line;	/* 1-based line (line protocol, JSON syntax), or 0 */
	int index;	/* 0-based position in a JSON array, or -1 */
	char message[256];
};

struct ingest_ctx {
	struct store *store;
	bool auto_create;      /* ingest.auto_create_devices */
	int64_t now;	       /* epoch ms, taken once per request */
	int64_t max_future_ms; /* ingest.max_future */
	int64_t only_device;   /* > 0: a device-scoped token may write only this id */
	const char *precision; /* line protocol ?precision=, or NULL */
};

struct ingest_ops {
	const char *name;
	/* Accepted Content-Type media types; "" accepts a missing header. */
	const char *const *content_types;
	int (*parse)(struct ingest_ctx *ctx, const char *body, size_t len, struct store_batch *b,
		     struct ingest_error *err);
};

extern const struct ingest_ops ingest_measurements; /* seed 000 JSON */
extern const struct ingest_ops ingest_meter;	    /* seed 002 JSON */
extern const struct ingest_ops ingest_influx;	    /* InfluxDB line protocol */

/* Whether a Content-Type header value (may be NULL) is one ops accepts. */
bool ingest_content_type_ok(const struct ingest_ops *ops, const char *content_type);

/*
 * Validates one reading and appends it to b.  device_key is a device UUID or
 * serial; channel is "kwh" for the energy value or another channel name.
 * Returns 0, or KW_EINVAL with err filled (status, code, field, message).
 */
int ingest_add(struct ingest_ctx *ctx, struct store_batch *b, const char *device_key,
	       const char *channel, int64_t ts, double value, struct ingest_error *err);

/* Fills err; line/index locate the fault (0 / -1 when not applicable). */
void ingest_fail(struct ingest_error *err, int status, const char *code, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Earliest accepted timestamp: 2000-01-01T00:00:00Z in epoch ms. */
#define INGEST_MIN_TS INT64_C(946684800000)

#endif
