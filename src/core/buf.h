/*
 * buf.h - a growable byte buffer with an optional hard limit (after curl's
 * dynbuf): appending past the limit fails instead of growing, so a buffer
 * fed by a peer can never exceed what the configuration allows.
 *
 * The content is always NUL-terminated (not counted in len).
 * Not thread-safe.
 */
#ifndef KW_CORE_BUF_H
#define KW_CORE_BUF_H

#include <stddef.h>

struct kwbuf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes used, excluding the NUL */
	size_t cap;   /* bytes allocated */
	size_t limit; /* maximum len; 0 = unlimited (for our own output only) */
};

#define KWBUF_INIT(lim)           \
	{                         \
		NULL, 0, 0, (lim) \
	}

/* Returns 0, or KW_ETOOBIG (buffer unchanged) when the limit would be passed. */
int kwbuf_add(struct kwbuf *b, const void *p, size_t n);
int kwbuf_printf(struct kwbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them) and resets the buffer. */
char *kwbuf_detach(struct kwbuf *b, size_t *len);
void kwbuf_release(struct kwbuf *b);

#endif
