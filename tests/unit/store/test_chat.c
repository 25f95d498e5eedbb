/*
 * test_chat.c - the support chat's tables (src/store/sqlite_chat.c,
 * src/store/chat.c) against a real SQLite store: one chat per client,
 * idempotent client_msg_id, paging, read marks of the other side only, the
 * inbox's order and unread counts, bodies byte for byte.
 *
 * Each step runs as one writer job that records what it saw; the test
 * thread asserts afterwards (cmocka must not jump out of the writer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "tests/unit/support/teststore.h"

#define HASH "$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA"

struct step {
	struct teststore_wait w;
	int (*fn)(struct store_conn *c, struct step *x);
	int64_t client, client2, admin;
	int64_t chat, chat2;
	int64_t first_id, again_id;
	bool dup1, dup2;
	int64_t page_ids[8];
	size_t npage;
	size_t read_by_admin, read_by_client;
	int64_t read_sender;
	int64_t unread_admins, unread_client;
	int64_t list_first;
	size_t nlist;
	char body[64];
	int other_rc;
};

static int run_step(struct store_conn *c, void *ud)
{
	struct step *x = ud;
	return x->fn(c, x);
}

static int64_t user(struct store_conn *c, const char *email, enum user_role role)
{
	struct store_user u = { 0, (char *)email, (char *)email, role, NULL, false, 0, false };
	return store_user_insert(c, &u, HASH) == 0 ? u.id : -1;
}

static int put_msg(struct store_conn *c, int64_t chat, int64_t sender, const char *cid,
		   const char *body, int64_t when, int64_t *id, bool *dup)
{
	struct store_chat_message m = { 0 };
	int rc;

	m.chat_id = chat;
	m.sender_id = sender;
	m.client_msg_id = strdup(cid);
	m.body = strdup(body);
	m.created_at = when;
	rc = store_chat_message_insert(c, &m, dup);
	*id = m.id;
	store_chat_message_release(&m);
	return rc;
}

static int scenario(struct store_conn *c, struct step *x)
{
	struct store_chat ch = { 0 }, *list = NULL;
	struct store_chat_message *msgs = NULL, *read = NULL;
	size_t n = 0, nread = 0;
	int64_t id;
	bool dup;
	int rc;

	x->client = user(c, "c1@example.com", ROLE_CLIENT);
	x->client2 = user(c, "c2@example.com", ROLE_CLIENT);
	x->admin = user(c, "a@example.com", ROLE_ADMIN);
	if ((rc = store_chat_ensure(c, x->client, 1000, &ch)) != 0)
		return rc;
	x->chat = ch.id;
	store_chat_release(&ch);
	if ((rc = store_chat_ensure(c, x->client, 2000, &ch)) != 0)
		return rc;
	x->chat2 = ch.id; /* the same chat again */
	store_chat_release(&ch);
	if ((rc = put_msg(c, x->chat, x->client, "k1", "<script>x</script>", 3000, &x->first_id,
			  &x->dup1)) != 0 ||
	    (rc = put_msg(c, x->chat, x->client, "k1", "other text", 3100, &x->again_id,
			  &x->dup2)) != 0 ||
	    (rc = put_msg(c, x->chat, x->admin, "k1", "answer", 3200, &id, &dup)) != 0 ||
	    (rc = put_msg(c, x->chat, x->client, "k2", "thanks", 3300, &id, &dup)) != 0)
		return rc;
	if ((rc = store_chat_messages(c, x->chat, 0, 8, &msgs, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		x->page_ids[x->npage++] = msgs[i].id;
		if (msgs[i].id == x->first_id)
			snprintf(x->body, sizeof(x->body), "%s", msgs[i].body);
		store_chat_message_release(&msgs[i]);
	}
	free(msgs);
	/* the admin reads up to the client's first message: only the client's */
	if ((rc = store_chat_read(c, x->chat, x->client, false, x->first_id, 5000, &read,
				  &nread)) != 0)
		return rc;
	x->read_by_admin = nread;
	x->read_sender = nread ? read[0].sender_id : 0;
	free(read);
	if ((rc = store_chat_read(c, x->chat, x->client, true, x->first_id, 5000, &read, &nread)) !=
	    0)
		return rc;
	x->read_by_client = nread; /* the admin's answer has a larger id */
	free(read);
	if ((rc = store_chat_ensure(c, x->client2, 9000, &ch)) != 0)
		return rc;
	store_chat_release(&ch);
	if ((rc = store_chat_get(c, x->chat, &ch)) != 0)
		return rc;
	x->unread_admins = ch.unread_by_admins;
	x->unread_client = ch.unread_by_client;
	store_chat_release(&ch);
	if ((rc = store_chat_list(c, 10, &list, &n)) != 0)
		return rc;
	x->nlist = n;
	x->list_first = n ? list[0].id : 0;
	for (size_t i = 0; i < n; i++)
		store_chat_release(&list[i]);
	free(list);
	x->other_rc = store_chat_get(c, 424242, &ch);
	return 0;
}

static void chat_scenario(void **state)
{
	struct teststore *t = *state;
	struct step x = { .fn = scenario };

	store_submit_write(t->s, run_step, teststore_done, &x);
	assert_int_equal(teststore_wait(t, &x.w), 0);
	assert_int_equal(x.chat, x.chat2); /* one chat per client */
	assert_false(x.dup1);
	assert_true(x.dup2); /* same sender, same client_msg_id */
	assert_int_equal(x.again_id, x.first_id);
	assert_int_equal(x.npage, 3); /* the admin's "k1" is its own */
	assert_true(x.page_ids[0] > x.page_ids[1] && x.page_ids[1] > x.page_ids[2]);
	assert_string_equal(x.body, "<script>x</script>"); /* the first body, as sent */
	assert_int_equal(x.read_by_admin, 1);
	assert_int_equal(x.read_sender, x.client);
	assert_int_equal(x.read_by_client, 0);
	assert_int_equal(x.unread_admins, 1); /* "thanks" */
	assert_int_equal(x.unread_client, 1); /* "answer" */
	assert_int_equal(x.nlist, 2);
	assert_int_equal(x.list_first, x.chat); /* newest activity first */
	assert_int_equal(x.other_rc, KW_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(chat_scenario, teststore_setup, teststore_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
