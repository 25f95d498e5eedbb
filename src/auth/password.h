/*
 * password.h - password hashing with Argon2id (libsodium crypto_pwhash_str).
 *
 * Parameters (docs/SECURITY.md): Argon2id, t = 3 passes, m = 32 MiB, p = 1,
 * 16-byte random salt, stored in the PHC string format.  OWASP's minimum
 * for t = 3 is m = 12 MiB.  One hash costs ~0.1 s of one core and 32 MiB, by
 * design: hashing and verifying block, so the daemon runs them on libuv's
 * thread pool, never on the loop thread.
 *
 * Thread-safety: every function may run on any thread.
 */
#ifndef KW_AUTH_PASSWORD_H
#define KW_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_MIN_CHARS 10	/* shortest password accepted */
#define PASSWORD_MAX_BYTES 1024 /* longest (bytes), so hashing stays bounded */
#define PASSWORD_HASH_MAX  128	/* crypto_pwhash_STRBYTES */
#define PASSWORD_GEN_CHARS 20	/* generated passwords */

/* NULL when pw is acceptable, else why not (a static message). */
const char *password_policy(const char *pw);

/* Hashes pw into out (NUL-terminated).  0, or -ENOMEM. */
int password_hash(const char *pw, char out[PASSWORD_HASH_MAX]);

/* Whether pw matches hash (constant time in the password). */
bool password_verify(const char *hash, const char *pw);

/* A hash of a random secret with the same parameters, to verify against
 * when no user has the email asked for, so that answer takes as long. */
const char *password_dummy_hash(void);

/* A random password of PASSWORD_GEN_CHARS characters from an alphabet
 * without look-alikes (about 100 bits). */
void password_generate(char out[PASSWORD_GEN_CHARS + 1]);

#endif
