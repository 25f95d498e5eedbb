/*
 * throttle.h - failed logins per key (an email, an address) in a sliding
 * window: a key that failed max times within the last window_ms is
 * refused until the oldest of those failures leaves the window.
 *
 * Memory: each key keeps the times of its last max failures (8 bytes
 * each), and at most THROTTLE_MAX_KEYS keys are tracked; when full, keys
 * whose failures have all left the window are dropped, and if that is not
 * enough the table starts over.  Every failure has cost an Argon2id
 * verification first, which bounds how fast this can grow.
 *
 * Thread-safety: none; the owner (the HTTP loop thread) serializes calls.
 */
#ifndef KW_AUTH_THROTTLE_H
#define KW_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_MAX_KEYS 65536

struct throttle;

struct throttle *throttle_new(int64_t window_ms);
void throttle_free(struct throttle *t);

/* Whether key may try now: fewer than max failures within the window.
 * When not, *retry_after_s is the whole seconds until it may (>= 1). */
bool throttle_allowed(struct throttle *t, const char *key, int64_t max, int64_t now_ms,
		      int64_t *retry_after_s);
/* Counts a failure for key (keeping the last max of them). */
void throttle_fail(struct throttle *t, const char *key, int64_t max, int64_t now_ms);
/* Forgets key's failures (after a success). */
void throttle_reset(struct throttle *t, const char *key);

#endif
