/*
 * web.h - the web app's files: embedded in the binary by web/build.mjs, or
 * read from http.web_root (--web-root DIR) during development.
 */
#ifndef KW_HTTP_WEB_H
#define KW_HTTP_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct web_asset {
	const char *path; /* "/" for index.html, else "/assets/main-HASH.js" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
	const unsigned char *gz; /* the same, gzipped */
	size_t gzlen;
	const char *etag; /* quoted */
	bool immutable;	  /* a hashed name: cached for a year */
};

/* Generated (build/web_assets.c). */
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
