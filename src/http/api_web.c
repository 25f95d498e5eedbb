/*
 * api_web.c - the web app: index.html for the app's pages, and its hashed
 * assets.
 *
 *   GET /, /login, /app..., /admin...   index.html, never cached; the app
 *                                       routes in the browser
 *   GET /assets/{file}                  a bundled file: ETag, cached a year
 *                                       (its name changes with its content)
 *
 * The files are the ones web/build.mjs embedded (web.h), or, when
 * http.web_root is set, read from that directory at each request, uncached,
 * so a rebuild shows at the next reload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "http/router.h"
#include "http/web.h"
#include "core/banned.h"

#define WEB_FILE_MAX (16u << 20) /* largest file served from web_root */

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	static const char *const types[][2] = {
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".html", "text/html; charset=utf-8" },
		{ ".map", "application/json" },
		{ ".svg", "image/svg+xml" },
	};
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

/* Development: the file rel (under web_root) from disk, not cached. */
static void from_disk(struct http_req *r, const char *rel)
{
	char path[4096];
	FILE *f;
	char *buf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", r->cfg->http_web_root, rel);
	if (!(f = fopen(path, "rb"))) {
		http_reply_error(r, 404, "not_found", NULL, 0, "no file '%.200s' in web_root (%s)",
				 rel, strerror(errno));
		return;
	}
	buf = xmalloc(WEB_FILE_MAX);
	n = fread(buf, 1, WEB_FILE_MAX, f);
	fclose(f);
	http_reply_bytes(r, 200, type_of(rel), buf, n);
}

static bool accepts_gzip(struct http_req *r)
{
	const char *ae = http_header(r, "Accept-Encoding");
	return ae && strstr(ae, "gzip");
}

static void embedded(struct http_req *r, const char *path)
{
	const struct web_asset *a = NULL;
	const char *inm = http_header(r, "If-None-Match");

	for (size_t i = 0; i < web_nassets && !a; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			a = &web_assets[i];
	if (!a) {
		http_reply_error(r, 404, "not_found", NULL, 0, "no such file: %.200s", path);
		return;
	}
	http_add_header(r, "Cache-Control",
			a->immutable ? "public, max-age=31536000, immutable" : "no-store");
	http_add_header(r, "ETag", a->etag);
	http_add_header(r, "Vary", "Accept-Encoding");
	if (inm && strcmp(inm, a->etag) == 0) {
		http_reply_empty(r, 304);
		return;
	}
	if (accepts_gzip(r)) {
		http_add_header(r, "Content-Encoding", "gzip");
		http_reply_static(r, 200, a->type, a->gz, a->gzlen);
	} else {
		http_reply_static(r, 200, a->type, a->data, a->len);
	}
}

void api_web_page(struct http_req *r)
{
	if (*r->cfg->http_web_root)
		from_disk(r, "index.html");
	else
		embedded(r, "/");
}

void api_web_asset(struct http_req *r)
{
	char path[256];
	const char *name = r->params[0];

	if (name[0] == '.' || strlen(name) > 200) {
		http_reply_error(r, 404, "not_found", NULL, 0, "no such file");
		return;
	}
	snprintf(path, sizeof(path), "/assets/%s", name);
	if (*r->cfg->http_web_root)
		from_disk(r, path + 1);
	else
		embedded(r, path);
}
