/*
 * pub_http.c - the simulator's HTTP publisher: POST <url>/api/v1/measurements
 * with a bearer token, through libcurl (the only file of the simulator that
 * includes <curl/curl.h>).
 *
 * Design: one easy handle, kept alive between requests.  send() posts the
 * readings it is given as one JSON array -- up to 1000 per request, so a
 * backfill costs one commit per thousand readings -- and, HTTP being
 * request/response, confirms them before it returns: kilowatt answers 2xx
 * only after the batch is committed to disk.  connect() posts an empty
 * array, which stores nothing but proves the address, the API and the
 * token before the first reading is sent.
 *
 * Invariants:
 *  1. A reading is confirmed only by a 2xx answer to a request holding it.
 *  2. The request body holds at most `batch` messages of at most
 *     SIM_MSG_MAX bytes; the kept part of an answer at most 64 KiB.
 *  3. A 413 halves `batch` (down to 1) and nothing is confirmed; the same
 *     readings are sent again in smaller requests.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "sim/pub.h"
#include "core/banned.h"

#define BATCH_MAX  1000
#define ANSWER_MAX (64 * 1024)
#define REQUEST_MS 60000

struct http_pub {
	struct sim_pub_opts o;
	CURL *curl;
	struct curl_slist *headers;
	char url[2 * SIM_URL_FIELD_MAX + 64]; /* .../api/v1/measurements */
	char shown[3 * SIM_URL_FIELD_MAX];    /* the URL for messages */
	char device_json[2 * SIM_URL_FIELD_MAX + 8];
	size_t batch;	     /* readings per request (invariant 3) */
	struct kwbuf body;   /* the request being sent */
	struct kwbuf answer; /* what the server answered (invariant 2) */
	char curl_err[CURL_ERROR_SIZE];
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct http_pub *h = ud;

	if (h->answer.len + size * n <= ANSWER_MAX)
		kwbuf_add(&h->answer, p, size * n);
	return size * n; /* the rest is dropped, not an error */
}

static int http_open(const struct sim_url *u, const struct sim_pub_opts *o, void **st, char *err,
		     size_t errlen)
{
	struct http_pub *h = xcalloc(1, sizeof(*h));
	char auth[1024];
	bool v6 = strchr(u->host, ':') != NULL;

	h->o = *o;
	h->batch = BATCH_MAX;
	h->body = (struct kwbuf)KWBUF_INIT(BATCH_MAX * SIM_MSG_MAX + 16);
	h->answer = (struct kwbuf)KWBUF_INIT(ANSWER_MAX);
	snprintf(h->url, sizeof(h->url), "%s://%s%s%s:%d%s/api/v1/measurements",
		 u->scheme == SIM_HTTPS ? "https" : "http", v6 ? "[" : "", u->host, v6 ? "]" : "",
		 u->port, u->path);
	sim_url_redacted(u, h->shown, sizeof(h->shown));
	if (sim_pub_json_string(h->device_json, sizeof(h->device_json), o->device) < 0) {
		snprintf(err, errlen, "the device id is too long");
		free(h);
		return KW_EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h->headers = curl_slist_append(NULL, "Content-Type: application/json");
	h->headers = curl_slist_append(h->headers, "Expect:");
	if (o->token && o->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		h->headers = curl_slist_append(h->headers, auth);
	}
	*st = h;
	return 0;
}

static void setup(struct http_pub *h)
{
	CURL *c = h->curl = curl_easy_init();

	if (!c)
		abort(); /* out of memory */
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kilowatt-simulate/" KW_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->o.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REQUEST_MS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
}

/* A transport failure: certificate problems are not worth retrying. */
static int transport_error(struct http_pub *h, CURLcode rc, char *err, size_t errlen)
{
	const char *why = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		snprintf(err, errlen, "cannot use %s: %s", h->shown, why);
		return KW_ECONFIG;
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "cannot connect to %s: %s", h->shown, why);
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "cannot connect to %s: %s", h->shown, why);
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "no answer from %s: %s", h->shown, why);
		return -ETIMEDOUT;
	default:
		snprintf(err, errlen, "lost the connection to %s: %s", h->shown, why);
		return -ECONNRESET;
	}
}

/* Posts h->body.  Returns 0 with *status, or a transport error. */
static int post(struct http_pub *h, long *status, char *err, size_t errlen)
{
	CURLcode rc;

	if (!h->curl)
		setup(h);
	h->answer.len = 0;
	h->curl_err[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body.data);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)h->body.len);
	if ((rc = curl_easy_perform(h->curl)) != CURLE_OK)
		return transport_error(h, rc, err, errlen);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
	if (h->answer.data)
		h->answer.data[h->answer.len] = '\0';
	return 0;
}

/* The answer's error message ("error":{"message"}) and index, if any. */
static void answer_error(struct http_pub *h, char *msg, size_t len, long *index)
{
	json_t *doc = h->answer.len ? json_loadb(h->answer.data, h->answer.len, 0, NULL) : NULL;
	json_t *e = json_object_get(doc, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	json_t *ix = json_object_get(e, "index");

	snprintf(msg, len, "%s", m ? m : "no error message");
	*index = json_is_integer(ix) ? (long)json_integer_value(ix) : -1;
	json_decref(doc);
}

/* Sorts an answer that is not 2xx into the error kinds of pub.h. */
static int status_error(struct http_pub *h, long status, const struct sim_msg *m, size_t n,
			char *err, size_t errlen)
{
	char msg[512], when[TZ_RFC3339_MAX];
	long index;

	answer_error(h, msg, sizeof(msg), &index);
	if (status == 401) {
		snprintf(err, errlen, "%s refused the token (401): %s%s", h->shown, msg,
			 h->o.token && h->o.token[0] ? ""
						     : "; give one with --token or "
						       "KILOWATT_TOKEN");
		return KW_EDENIED;
	}
	if (status == 403) {
		snprintf(err, errlen, "%s refused the token (403): %s", h->shown, msg);
		return KW_EDENIED;
	}
	if (status == 404 || status == 405) {
		snprintf(err, errlen, "no kilowatt ingest API at %s (HTTP %ld)", h->shown, status);
		return KW_ECONFIG;
	}
	if (status == 408 || status == 429 || status >= 500) {
		snprintf(err, errlen, "%s answered %ld: %s", h->shown, status, msg);
		return -EAGAIN;
	}
	if (index >= 0 && (size_t)index < n) {
		char v[32];
		sim_pub_number(v, sizeof(v), m[index].value);
		snprintf(err, errlen, "%s refused the reading stamped %s (value %s), HTTP %ld: %s",
			 h->shown, tz_format_rfc3339(tz_get("UTC"), m[index].ts_ms, when), v,
			 status, msg);
	} else {
		snprintf(err, errlen, "%s refused the readings (HTTP %ld): %s", h->shown, status,
			 msg);
	}
	return KW_EINVAL;
}

static int http_connect(void *st, char *err, size_t errlen)
{
	struct http_pub *h = st;
	long status = 0;
	int rc;

	h->body.len = 0;
	kwbuf_add(&h->body, "[]", 2);
	if ((rc = post(h, &status, err, errlen)) != 0)
		return rc;
	if (status / 100 == 2)
		return 0;
	return status_error(h, status, NULL, 0, err, errlen);
}

static int http_send(void *st, const struct sim_msg *m, size_t n, char *err, size_t errlen)
{
	struct http_pub *h = st;
	char line[SIM_MSG_MAX];
	long status = 0;
	int rc;

	if (n > h->batch)
		n = h->batch;
	h->body.len = 0;
	kwbuf_add(&h->body, "[", 1);
	for (size_t i = 0; i < n; i++) {
		int len = sim_pub_format(line, sizeof(line), h->device_json, &m[i]);
		if (len < 0 || (i && kwbuf_add(&h->body, ",", 1) != 0) ||
		    kwbuf_add(&h->body, line, (size_t)len) != 0) {
			snprintf(err, errlen, "reading %llu does not fit a request",
				 (unsigned long long)m[i].seq);
			return KW_EINVAL;
		}
	}
	kwbuf_add(&h->body, "]", 1);
	if ((rc = post(h, &status, err, errlen)) != 0)
		return rc;
	if (status == 413 && h->batch > 1) {
		h->batch /= 2; /* invariant 3 */
		return 0;
	}
	if (status / 100 != 2)
		return status_error(h, status, m, n, err, errlen);
	for (size_t i = 0; i < n; i++)
		h->o.confirm(h->o.ud, m[i].seq, 0, NULL);
	return (int)n;
}

static int http_poll(void *st, int timeout_ms, char *err, size_t errlen)
{
	sim_pub_sleep(timeout_ms); /* nothing is ever in flight between calls */
	return 0;
}

static void http_disconnect(void *st)
{
	struct http_pub *h = st;

	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

static void http_free(void *st)
{
	struct http_pub *h = st;

	if (!h)
		return;
	http_disconnect(h);
	curl_slist_free_all(h->headers);
	kwbuf_release(&h->body);
	kwbuf_release(&h->answer);
	free(h);
	curl_global_cleanup();
}

const struct sim_pub_ops sim_pub_http = {
	"http", http_open, http_connect, http_send, http_poll, http_disconnect, http_free,
};
