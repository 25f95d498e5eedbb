/*
 * buf.c - growable byte buffer with a hard limit (see buf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/xmalloc.h"
#include "core/banned.h"

static int reserve(struct kwbuf *b, size_t n)
{
	size_t need;
	if (b->limit && (n > b->limit || b->len > b->limit - n))
		return KW_ETOOBIG;
	need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return 0;
}

int kwbuf_add(struct kwbuf *b, const void *p, size_t n)
{
	int rc = reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int kwbuf_printf(struct kwbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KW_EINVAL;
	if ((rc = reserve(b, (size_t)n)) != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *kwbuf_detach(struct kwbuf *b, size_t *len)
{
	char *d = b->data;
	if (len)
		*len = b->len;
	if (!d)
		d = xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void kwbuf_release(struct kwbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
