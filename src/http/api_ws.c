/*
 * api_ws.c - GET /ws: the WebSocket opening handshake (RFC 6455, 4.2),
 * after which the connection belongs to the hub (ws.c).
 *
 * Design: the route is ACCESS_SELF, so the dispatcher has already resolved
 * the session cookie (people only; a token gets 403).  A browser sends
 * cookies with a WebSocket from any site and no CSRF header can be added,
 * so the Origin header is the only proof that our own page opened it: it
 * must be present and name this server.  Then HTTP/1.1 and the upgrade
 * headers are checked, each refusal naming the header at fault, and the
 * answer is 101 with Sec-WebSocket-Accept = base64(SHA-1(key + GUID))
 * (GLib's GChecksum; the key's shape is checked with libsodium's strict
 * base64 decoder).  No subprotocol and no extension (permessage-deflate)
 * is agreed to.
 *
 * Thread-safety: loop thread.
 */
#include <glib.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "http/router.h"
#include "http/ws.h"
#include "core/banned.h"

#define WS_GUID	      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_ACCEPT_MAX 32 /* base64 of a 20-byte SHA-1: 28 characters */

/* The hub and the peer travel to the upgrade as the request's ctx. */
struct ws_pending {
	struct ws_hub *hub;
	struct ws_peer peer;
};

/* Whether a comma-separated header value holds token (any case). */
static bool has_token(const char *list, const char *token)
{
	size_t n = strlen(token);

	while (list && *list) {
		list += strspn(list, " \t,");
		size_t len = strcspn(list, ",");
		while (len && (list[len - 1] == ' ' || list[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(list, token, n) == 0)
			return true;
		list = strchr(list, ',');
	}
	return false;
}

/* Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455, 4.1). */
static bool key_ok(const char *key)
{
	unsigned char bin[16];
	size_t n = 0;

	return key && strlen(key) == 24 &&
	       sodium_base642bin(bin, sizeof(bin), key, 24, NULL, &n, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       n == sizeof(bin);
}

static void accept_key(const char *key, char out[WS_ACCEPT_MAX])
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA1);
	guint8 digest[20];
	gsize len = sizeof(digest);
	gchar *b64;

	g_checksum_update(c, (const guchar *)key, (gssize)strlen(key));
	g_checksum_update(c, (const guchar *)WS_GUID, (gssize)strlen(WS_GUID));
	g_checksum_get_digest(c, digest, &len);
	g_checksum_free(c);
	b64 = g_base64_encode(digest, len);
	g_strlcpy(out, b64, WS_ACCEPT_MAX);
	g_free(b64);
}

static void on_upgraded(void *ctx, struct http_upgrade *u, int fd, const char *extra,
			size_t extra_len)
{
	struct ws_pending *p = ctx;
	ws_hub_attach(p->hub, u, fd, extra, extra_len, &p->peer);
	free(p);
}

/* Refuses a handshake header: missing, or not the value expected. */
static void bad_header(struct http_req *r, const char *name, const char *want)
{
	bool missing = http_header(r, name) == NULL;
	http_reply_error(r, 400, missing ? "missing_field" : "invalid_value", name, 0,
			 "a WebSocket handshake needs '%s: %s'", name, want);
}

void api_ws(struct http_req *r)
{
	struct ws_hub *hub = http_hub(r->srv);
	const char *key = http_header(r, "Sec-WebSocket-Key");
	const char *version = http_header(r, "Sec-WebSocket-Version");
	struct ws_pending *p;
	char accept[WS_ACCEPT_MAX];

	if (!http_same_origin(r)) {
		http_reply_error(r, 403, "forbidden", "Origin", 0,
				 "a WebSocket must be opened by this server's pages: Origin "
				 "missing or another site's");
		return;
	}
	if (strcmp(r->version, "HTTP/1.1") != 0) { /* RFC 6455, 4.1: at least 1.1 */
		http_reply_error(r, 400, "invalid_value", NULL, 0,
				 "a WebSocket handshake needs HTTP/1.1, not %.16s", r->version);
		return;
	}
	if (!has_token(http_header(r, "Upgrade"), "websocket")) {
		bad_header(r, "Upgrade", "websocket");
		return;
	}
	if (!has_token(http_header(r, "Connection"), "upgrade")) {
		bad_header(r, "Connection", "Upgrade");
		return;
	}
	if (!version || strcmp(version, "13") != 0) {
		http_add_header(r, "Sec-WebSocket-Version", "13");
		bad_header(r, "Sec-WebSocket-Version", "13");
		return;
	}
	if (!key_ok(key)) {
		bad_header(r, "Sec-WebSocket-Key", "<16 random bytes in base64>");
		return;
	}
	if (!ws_hub_accepting(hub)) {
		http_reply_kwerr(r, KW_ESHUTDOWN);
		return;
	}
	accept_key(key, accept);
	http_add_header(r, "Upgrade", "websocket");
	http_add_header(r, "Sec-WebSocket-Accept", accept);
	p = xmalloc(sizeof(*p));
	*p = (struct ws_pending){ hub, { r->who.user_id, r->who.session_id, r->who.expires_at } };
	r->ctx = p;
	r->ctx_free = free;
	http_reply_upgrade(r, on_upgraded);
}
