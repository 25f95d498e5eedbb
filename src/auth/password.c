/*
 * password.c - Argon2id hashing (see password.h for the parameters).
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/err.h"
#include "core/banned.h"

#define OPSLIMIT 3
#define MEMLIMIT (32u * 1024 * 1024)

/* UTF-8 aware: counts code points, not bytes. */
static size_t chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

const char *password_policy(const char *pw)
{
	if (strlen(pw) > PASSWORD_MAX_BYTES)
		return "password must be at most 1024 bytes";
	if (chars(pw) < PASSWORD_MIN_CHARS)
		return "password must be at least 10 characters";
	return NULL;
}

/* sodium_init() picks libsodium's fastest Argon2 code for this CPU; without
 * it the reference code runs, ~1.7 times slower.  Nothing guarantees a
 * caller did it first (`kilowatt user` hashes before opening the store,
 * which is what calls it in the daemon), so every entry point here does,
 * once.  It fails only without a randomness source: abort, as hmap.c. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void sodium_start(void)
{
	if (sodium_init() < 0)
		abort();
}

int password_hash(const char *pw, char out[PASSWORD_HASH_MAX])
{
	pthread_once(&sodium_once, sodium_start);
	return crypto_pwhash_str_alg(out, pw, strlen(pw), OPSLIMIT, MEMLIMIT,
				     crypto_pwhash_ALG_ARGON2ID13) == 0
		   ? 0
		   : -ENOMEM;
}

bool password_verify(const char *hash, const char *pw)
{
	pthread_once(&sodium_once, sodium_start);
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

static char dummy[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
	char secret[PASSWORD_GEN_CHARS + 1];
	password_generate(secret);
	if (password_hash(secret, dummy) != 0)
		dummy[0] = '\0'; /* verify then fails at once; out of memory anyway */
}

const char *password_dummy_hash(void)
{
	pthread_once(&dummy_once, make_dummy);
	return dummy;
}

void password_generate(char out[PASSWORD_GEN_CHARS + 1])
{
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

	pthread_once(&sodium_once, sodium_start);
	for (int i = 0; i < PASSWORD_GEN_CHARS; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[PASSWORD_GEN_CHARS] = '\0';
}
