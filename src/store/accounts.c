/*
 * accounts.c - the store's account functions (store.h), forwarded to the
 * backend's account table (backend.h): users, sessions, mappings, audit.
 */
#include <stdlib.h>

#include "store/backend.h"
#include "core/banned.h"

#define ACCT(c) ((c)->ops->acct)

void store_user_release(struct store_user *u)
{
	free(u->name);
	free(u->email);
	free(u->customer_ref);
	u->name = u->email = u->customer_ref = NULL;
}

int store_user_insert(struct store_conn *c, struct store_user *u, const char *pw_hash)
{
	return ACCT(c)->user_insert(c, u, pw_hash);
}

int store_user_update(struct store_conn *c, const struct store_user *u)
{
	return ACCT(c)->user_update(c, u);
}

int store_user_set_password(struct store_conn *c, int64_t id, const char *pw_hash)
{
	return ACCT(c)->user_set_password(c, id, pw_hash);
}

int store_user_delete(struct store_conn *c, int64_t id)
{
	return ACCT(c)->user_delete(c, id);
}

int store_user_get(struct store_conn *c, int64_t id, struct store_user *out)
{
	return ACCT(c)->user_get(c, id, out);
}

int store_user_by_email(struct store_conn *c, const char *email, struct store_user *out,
			char **pw_hash)
{
	return ACCT(c)->user_by_email(c, email, out, pw_hash);
}

int store_user_list(struct store_conn *c, int64_t after, size_t limit, const char *q,
		    struct store_user **out, size_t *n)
{
	return ACCT(c)->user_list(c, after, limit, q, out, n);
}

int store_user_admins(struct store_conn *c, int64_t *n)
{
	return ACCT(c)->user_admins(c, n);
}

int store_user_admin_ids(struct store_conn *c, int64_t **ids, size_t *n)
{
	return ACCT(c)->user_admin_ids(c, ids, n);
}

int store_session_insert(struct store_conn *c, const unsigned char hash[32], int64_t user_id,
			 const char *csrf, int64_t now, int64_t expires_at, int64_t *id)
{
	return ACCT(c)->session_insert(c, hash, user_id, csrf, now, expires_at, id);
}

int store_session_find(struct store_conn *c, const unsigned char hash[32],
		       struct store_session *out, struct store_user *user)
{
	return ACCT(c)->session_find(c, hash, out, user);
}

int store_session_touch(struct store_conn *c, int64_t id, int64_t when)
{
	return ACCT(c)->session_touch(c, id, when);
}

int store_session_delete(struct store_conn *c, int64_t id)
{
	return ACCT(c)->session_delete(c, id);
}

int store_session_delete_user(struct store_conn *c, int64_t user_id)
{
	return ACCT(c)->session_delete_user(c, user_id);
}

int store_session_purge(struct store_conn *c, int64_t now, int64_t idle_before)
{
	return ACCT(c)->session_purge(c, now, idle_before);
}

int store_mapping_insert(struct store_conn *c, struct store_mapping *m)
{
	return ACCT(c)->mapping_insert(c, m);
}

int store_mapping_get(struct store_conn *c, int64_t id, struct store_mapping *out)
{
	return ACCT(c)->mapping_get(c, id, out);
}

int store_mapping_delete(struct store_conn *c, int64_t id)
{
	return ACCT(c)->mapping_delete(c, id);
}

int store_mapping_list(struct store_conn *c, int64_t user_id, int64_t device_id,
		       struct store_mapping **out, size_t *n)
{
	return ACCT(c)->mapping_list(c, user_id, device_id, out, n);
}

int store_mapping_exists(struct store_conn *c, int64_t user_id, int64_t device_id)
{
	return ACCT(c)->mapping_exists(c, user_id, device_id);
}

int store_audit_insert(struct store_conn *c, const struct store_audit *a)
{
	return ACCT(c)->audit_insert(c, a);
}

int store_audit_list(struct store_conn *c, int64_t before, size_t limit, int64_t actor_id,
		     const char *object_type, const char *object_id, store_audit_fn fn, void *ud)
{
	return ACCT(c)->audit_list(c, before, limit, actor_id, object_type, object_id, fn, ud);
}
