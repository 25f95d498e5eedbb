/*
 * json_common.h - pieces the two JSON input formats share (ingest-internal).
 */
#ifndef KW_INGEST_JSON_COMMON_H
#define KW_INGEST_JSON_COMMON_H

#include <jansson.h>

#include "ingest/ingest.h"

/*
 * Loads body as JSON; on a syntax error fills err with the line and column.
 * Returns the document (caller json_decref) or NULL.
 */
json_t *ingest_json_load(const char *body, size_t len, struct ingest_error *err);

/*
 * Calls fn for every reading object: the document itself when it is an
 * object, each element when it is an array, or each element of
 * doc[list_key] when list_key is set and present.  Stops at the first
 * non-zero return, which it returns.  index is -1 for a lone object.
 */
int ingest_json_each(json_t *doc, const char *list_key, int (*fn)(void *ud, json_t *obj, int index),
		     void *ud, struct ingest_error *err);

/*
 * Takes the members of a reading object in one pass: out[i] is the value of
 * known[i], or NULL when absent.  A key outside known[0..n) is an
 * "unknown_field" error, the first one in the object's order.
 */
int ingest_json_fields(json_t *o, const char *const *known, size_t n, json_t **out,
		       struct ingest_error *err);

/* A timestamp: epoch milliseconds (an integer) or an RFC 3339 string. */
int ingest_json_time(json_t *v, const char *field, int64_t *out, struct ingest_error *err);
/* A device reference: a string, or a non-negative integer (a serial). */
int ingest_json_device(json_t *v, const char *field, char *out, size_t outlen,
		       struct ingest_error *err);
/* A number (integer or real). */
int ingest_json_number(json_t *v, const char *field, double *out, struct ingest_error *err);

#endif
