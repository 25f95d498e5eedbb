/*
 * json_common.c - helpers of the JSON input formats (see json_common.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/tz.h"
#include "ingest/json_common.h"
#include "core/banned.h"

json_t *ingest_json_load(const char *body, size_t len, struct ingest_error *err)
{
	json_error_t je;
	/* Duplicate keys are ambiguous ("which value counted?"): refuse them. */
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		ingest_fail(err, 400, "parse_error", NULL,
			    "malformed JSON at line %d, column %d: %s", je.line, je.column,
			    je.text);
		err->line = je.line;
	}
	return doc;
}

int ingest_json_each(json_t *doc, const char *list_key, int (*fn)(void *ud, json_t *obj, int index),
		     void *ud, struct ingest_error *err)
{
	json_t *list = doc, *item;
	size_t i;
	int rc;

	if (list_key && json_is_object(doc) && json_object_get(doc, list_key))
		list = json_object_get(doc, list_key);
	if (json_is_object(list))
		return fn(ud, list, -1);
	if (!json_is_array(list)) {
		ingest_fail(err, 400, "invalid_body", list == doc ? NULL : list_key,
			    "expected a reading object or an array of them");
		return KW_EINVAL;
	}
	json_array_foreach (list, i, item) {
		if (!json_is_object(item)) {
			ingest_fail(err, 400, "invalid_body", NULL, "element %zu is not an object",
				    i);
			err->index = (int)i;
			return KW_EINVAL;
		}
		if ((rc = fn(ud, item, (int)i)) != 0) {
			err->index = (int)i;
			return rc;
		}
	}
	return 0;
}

int ingest_json_fields(json_t *o, const char *const *known, size_t n, json_t **out,
		       struct ingest_error *err)
{
	const char *key;
	json_t *val;

	memset(out, 0, n * sizeof(*out));
	json_object_foreach (o, key, val) {
		size_t k = 0;
		while (k < n && strcmp(key, known[k]) != 0)
			k++;
		if (k == n) {
			ingest_fail(err, 400, "unknown_field", key, "unknown field '%.48s'", key);
			return KW_EINVAL;
		}
		out[k] = val; /* keys are unique: ingest_json_load() refuses duplicates */
	}
	return 0;
}

int ingest_json_time(json_t *v, const char *field, int64_t *out, struct ingest_error *err)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v)) {
		*out = (int64_t)json_real_value(v);
		return 0;
	}
	if (json_is_string(v) && tz_parse_rfc3339(json_string_value(v), out) == 0)
		return 0;
	if (!v)
		ingest_fail(err, 400, "missing_field", field, "%s is required", field);
	else
		ingest_fail(err, 400, "invalid_value", field,
			    "%s must be epoch milliseconds or an RFC 3339 timestamp", field);
	return KW_EINVAL;
}

int ingest_json_device(json_t *v, const char *field, char *out, size_t outlen,
		       struct ingest_error *err)
{
	if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < outlen) {
		memcpy(out, json_string_value(v), json_string_length(v) + 1);
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	if (!v)
		ingest_fail(err, 400, "missing_field", field, "%s is required", field);
	else
		ingest_fail(err, 400, "invalid_value", field,
			    "%s must be a device id or serial (a string or a whole number)", field);
	return KW_EINVAL;
}

int ingest_json_number(json_t *v, const char *field, double *out, struct ingest_error *err)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (!v)
		ingest_fail(err, 400, "missing_field", field, "%s is required", field);
	else
		ingest_fail(err, 400, "invalid_value", field, "%s must be a finite number", field);
	return KW_EINVAL;
}
