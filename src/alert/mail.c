/*
 * mail.c - alert e-mails over SMTP with libcurl, on a thread of their own
 * (see mail.h).  The only file that includes <curl/curl.h>.
 *
 * Design: the loop thread formats each message completely (headers and
 * body, CRLF lines) and queues it; the mail thread takes one at a time
 * and hands it to curl_easy_perform(), which blocks -- which is why it is
 * not the loop's business.  Messages are sent one by one on a fresh
 * connection: alerts are rare, and a connection kept open would need its
 * own keep-alive and failure handling.
 *
 * The mail thread:
 *
 *        +--> WAIT (queue empty) --message--> SEND --ok--+
 *        |                                     |  fail    |
 *        |                      BACKOFF <------+          |
 *        |             (tries left: SEND again;           |
 *        |              none: drop, log)                  |
 *        +------------------------------------------------+
 *   any state --stopping--> EXIT: drop the queue, uv_async_send(exited)
 *
 * Security: with a username, a smtp:// URL must upgrade to TLS (STARTTLS)
 * before the password is sent; without one, TLS is used when offered.
 * smtps:// is TLS from the start.  Peer certificates are verified
 * (libcurl's default).  Only smtp and smtps are allowed as protocols.
 *
 * Invariants:
 *  1. The loop thread never calls libcurl transfer functions; the mail
 *     thread never touches libuv except uv_async_send().
 *  2. queue, queued and stopping are guarded by mu; a message belongs to
 *     the queue until popped, then to the mail thread, which frees it.
 *  3. A message is attempted at most MAIL_TRIES times.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/mail.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/xmalloc.h"
#include "core/banned.h"

static const int backoff_s[MAIL_TRIES - 1] = { 2, 5 }; /* before the 2nd and 3rd attempt */

struct msg {
	struct msg *next;
	char *to;   /* address */
	char *data; /* the whole message, CRLF lines */
	size_t len;
};

struct mail {
	uv_loop_t *loop;
	uv_async_t exited; /* the thread is done */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct msg *head, *tail;
	size_t queued;
	bool stopping;
	atomic_bool abort; /* read by the transfer's progress callback */
	char *url, *from, *user, *pass;
	char *shown; /* url without any user:password@, for the log */
	atomic_ulong sent, failed;
	unsigned long given_up_in_row; /* mail thread: failures since the last success */
	void (*close_cb)(void *ud);
	void *close_ud;
};

/* --- formatting (loop thread) ---------------------------------------------------- */

static bool has_non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* The subject as a header value: control characters dropped (no header
 * injection), RFC 2047 base64 when it is not plain ASCII. */
static void subject_header(struct kwbuf *b, const char *subject)
{
	char *clean = xmalloc(strlen(subject) + 1), *b64;
	size_t n = 0, b64len;

	for (const char *p = subject; *p; p++)
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			clean[n++] = *p;
	clean[n] = '\0';
	if (!has_non_ascii(clean)) {
		kwbuf_printf(b, "Subject: %s\r\n", clean);
		free(clean);
		return;
	}
	b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	b64 = xmalloc(b64len);
	sodium_bin2base64(b64, b64len, (const unsigned char *)clean, n,
			  sodium_base64_VARIANT_ORIGINAL);
	kwbuf_printf(b, "Subject: =?UTF-8?B?%s?=\r\n", b64);
	free(b64);
	free(clean);
}

/* RFC 5322 date of now, in UTC. */
static void date_header(struct kwbuf *b)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct civil c;

	tz_to_civil(tz_get("UTC"), tz_now_ms(), &c);
	kwbuf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[c.wday % 7], c.day,
		     months[(c.month + 11) % 12], c.year, c.hour, c.min, c.sec);
}

static char *format_message(const struct mail *m, const char *to, const char *subject,
			    const char *body, size_t *len)
{
	struct kwbuf b = KWBUF_INIT(0);
	unsigned char id[12];
	char hex[25];

	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
	date_header(&b);
	kwbuf_printf(&b, "From: %s\r\nTo: %s\r\n", m->from, to);
	subject_header(&b, subject);
	kwbuf_printf(&b,
		     "Message-ID: <%s@kilowatt>\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n",
		     hex);
	for (const char *p = body; *p; p++) {
		if (*p == '\n')
			kwbuf_add(&b, "\r\n", 2);
		else if (*p != '\r')
			kwbuf_add(&b, p, 1);
	}
	if (!*body || body[strlen(body) - 1] != '\n')
		kwbuf_add(&b, "\r\n", 2);
	return kwbuf_detach(&b, len);
}

static bool one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int mail_send(struct mail *m, const char *to, const char *subject, const char *body)
{
	struct msg *x;
	int rc = 0;

	if (!one_line(to) || !*to)
		return KW_EINVAL;
	x = xcalloc(1, sizeof(*x));
	x->to = xstrdup(to);
	x->data = format_message(m, to, subject, body, &x->len);
	pthread_mutex_lock(&m->mu);
	if (m->stopping) {
		rc = KW_ESHUTDOWN;
	} else if (m->queued >= MAIL_QUEUE_MAX) {
		rc = KW_ETOOBIG;
	} else {
		if (m->tail)
			m->tail->next = x;
		else
			m->head = x;
		m->tail = x;
		m->queued++;
		pthread_cond_signal(&m->cond);
	}
	pthread_mutex_unlock(&m->mu);
	if (rc) {
		if (rc == KW_ETOOBIG)
			log_error("mail",
				  "alert e-mail to %s dropped: %d e-mails are waiting already", to,
				  MAIL_QUEUE_MAX);
		atomic_fetch_add(&m->failed, 1);
		free(x->to);
		free(x->data);
		free(x);
	}
	return rc;
}

void mail_counts(struct mail *m, unsigned long *sent, unsigned long *failed)
{
	*sent = atomic_load(&m->sent);
	*failed = atomic_load(&m->failed);
}

/* --- sending (mail thread) ----------------------------------------------------------- */

struct reader {
	const char *p;
	size_t left;
};

static size_t read_cb(char *out, size_t size, size_t nmemb, void *ud)
{
	struct reader *r = ud;
	size_t n = size * nmemb < r->left ? size * nmemb : r->left;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

/* Aborts the transfer when the daemon stops. */
static int progress_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	return atomic_load(&((struct mail *)ud)->abort) ? 1 : 0;
}

static int send_one(struct mail *m, const struct msg *x, char *err, size_t errlen)
{
	struct reader rd = { x->data, x->len };
	struct curl_slist *rcpt = NULL;
	char from[512], to[512], ebuf[CURL_ERROR_SIZE] = "";
	bool smtps = strncmp(m->url, "smtps://", 8) == 0;
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(err, errlen, "libcurl cannot start a transfer");
		return KW_EINVAL;
	}
	snprintf(from, sizeof(from), "<%s>", m->from);
	snprintf(to, sizeof(to), "<%s>", x->to);
	rcpt = curl_slist_append(rcpt, to);
	curl_easy_setopt(h, CURLOPT_URL, m->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &rd);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, m);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	if (!smtps)
		curl_easy_setopt(h, CURLOPT_USE_SSL,
				 (long)(*m->user ? CURLUSESSL_ALL : CURLUSESSL_TRY));
	if (*m->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, m->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, m->pass);
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc == CURLE_OK ? 0 : KW_EINVAL;
}

/* Waits s seconds unless the daemon stops meanwhile; false when it does. */
static bool pause_s(struct mail *m, int s)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += s;
	pthread_mutex_lock(&m->mu);
	while (!m->stopping && pthread_cond_timedwait(&m->cond, &m->mu, &until) == 0)
		;
	stop = m->stopping;
	pthread_mutex_unlock(&m->mu);
	return !stop;
}

/* Up to MAIL_TRIES attempts (invariant 3); logs the first failure in a
 * row and what happened meanwhile when sending works again. */
static void deliver(struct mail *m, const struct msg *x)
{
	char err[CURL_ERROR_SIZE + 64] = "";

	for (int i = 0; i < MAIL_TRIES; i++) {
		if (i > 0 && !pause_s(m, backoff_s[i - 1]))
			break;
		if (send_one(m, x, err, sizeof(err)) == 0) {
			if (m->given_up_in_row)
				log_info("mail", "alert e-mails are sent again (%lu were not sent)",
					 m->given_up_in_row);
			m->given_up_in_row = 0;
			atomic_fetch_add(&m->sent, 1);
			return;
		}
		if (m->given_up_in_row == 0)
			log_warn("mail",
				 "cannot send alert e-mail to %s through %s (attempt %d of %d): %s",
				 x->to, m->shown, i + 1, MAIL_TRIES, err);
	}
	if (m->given_up_in_row++ == 0)
		log_error("mail", "alert e-mail to %s not sent: %s", x->to, err);
	atomic_fetch_add(&m->failed, 1);
}

static void msg_free(struct msg *x)
{
	free(x->to);
	free(x->data);
	free(x);
}

static void *mail_main(void *arg)
{
	struct mail *m = arg;
	size_t dropped = 0;

	for (;;) {
		struct msg *x;
		pthread_mutex_lock(&m->mu);
		while (!m->head && !m->stopping)
			pthread_cond_wait(&m->cond, &m->mu);
		if (m->stopping) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		x = m->head;
		m->head = x->next;
		if (!m->head)
			m->tail = NULL;
		m->queued--;
		pthread_mutex_unlock(&m->mu);
		deliver(m, x);
		msg_free(x);
	}
	pthread_mutex_lock(&m->mu);
	for (struct msg *x = m->head, *next; x; x = next, dropped++) {
		next = x->next;
		msg_free(x);
	}
	m->head = m->tail = NULL;
	pthread_mutex_unlock(&m->mu);
	if (dropped)
		log_warn("mail", "%zu alert e-mails not sent: shutting down", dropped);
	uv_async_send(&m->exited);
	return NULL;
}

/* The URL with its user:password@ (if any) cut out; free the result. */
static char *redact(const char *url)
{
	const char *host = strstr(url, "://") + 3, *at = strchr(host, '@');
	const char *slash = strchr(host, '/');
	struct kwbuf b = KWBUF_INIT(0);

	if (!at || (slash && slash < at))
		return xstrdup(url);
	kwbuf_add(&b, url, (size_t)(host - url));
	kwbuf_printf(&b, "%s", at + 1);
	return kwbuf_detach(&b, NULL);
}

/* --- life cycle (loop thread) ----------------------------------------------------------- */

static void on_closed(uv_handle_t *hd)
{
	struct mail *m = hd->data;
	void (*cb)(void *) = m->close_cb;
	void *ud = m->close_ud;

	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cond);
	free(m->url);
	free(m->shown);
	free(m->from);
	free(m->user);
	if (m->pass)
		sodium_memzero(m->pass, strlen(m->pass));
	free(m->pass);
	free(m);
	curl_global_cleanup();
	if (cb)
		cb(ud);
}

static void on_exited(uv_async_t *a)
{
	struct mail *m = a->data;
	pthread_join(m->thread, NULL);
	uv_close((uv_handle_t *)&m->exited, on_closed);
}

int mail_start(uv_loop_t *loop, const struct config *cfg, struct mail **out, char *err,
	       size_t errlen)
{
	pthread_condattr_t ca;
	struct mail *m;

	*out = NULL;
	if (!cfg->smtp_url || !*cfg->smtp_url)
		return 0;
	if (strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
		snprintf(err, errlen, "smtp.url '%s' must start with smtp:// or smtps://",
			 cfg->smtp_url);
		return KW_ECONFIG;
	}
	if (!cfg->smtp_from || !*cfg->smtp_from || !one_line(cfg->smtp_from)) {
		snprintf(err, errlen, "smtp.from must be an address on one line");
		return KW_ECONFIG;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl for alert e-mails");
		return KW_EINVAL;
	}
	m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	m->url = xstrdup(cfg->smtp_url);
	m->shown = redact(cfg->smtp_url);
	m->from = xstrdup(cfg->smtp_from);
	m->user = xstrdup(cfg->smtp_username ? cfg->smtp_username : "");
	m->pass = xstrdup(cfg->smtp_password ? cfg->smtp_password : "");
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	uv_async_init(loop, &m->exited, on_exited);
	m->exited.data = m;
	pthread_create(&m->thread, NULL, mail_main, m);
	log_info("mail", "alert e-mails go through %s", m->shown);
	*out = m;
	return 0;
}

void mail_close(struct mail *m, void (*cb)(void *ud), void *ud)
{
	if (!m) {
		if (cb)
			cb(ud);
		return;
	}
	m->close_cb = cb;
	m->close_ud = ud;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	atomic_store(&m->abort, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->mu);
	/* on_exited joins and frees, without blocking the loop meanwhile. */
}
