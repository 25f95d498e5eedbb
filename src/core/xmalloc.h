/*
 * xmalloc.h - allocation that aborts on out-of-memory.
 *
 * For small, program-sized allocations only.  Sizes a peer controls are
 * checked against a configured limit before they reach these functions, so an
 * abort here means the machine is out of memory, not that a client asked for
 * too much (the git and tmux policy).
 */
#ifndef KW_CORE_XMALLOC_H
#define KW_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (holding *cap elements of size elem) to at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t elem);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
