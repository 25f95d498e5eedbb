/*
 * chat.c - the store's support-chat functions (store.h), forwarded to the
 * backend's chat table (backend.h).
 */
#include <stdlib.h>

#include "store/backend.h"
#include "core/banned.h"

#define CHAT(c) ((c)->ops->chat)

void store_chat_message_release(struct store_chat_message *m)
{
	if (!m)
		return;
	free(m->sender_name);
	free(m->client_msg_id);
	free(m->body);
	free(m->context_date);
	free(m->context_device_uuid);
	free(m->context_device_name);
	m->sender_name = m->client_msg_id = m->body = NULL;
	m->context_date = m->context_device_uuid = m->context_device_name = NULL;
}

void store_chat_release(struct store_chat *ch)
{
	if (!ch)
		return;
	free(ch->client_name);
	free(ch->client_email);
	ch->client_name = ch->client_email = NULL;
	store_chat_message_release(&ch->last);
}

int store_chat_ensure(struct store_conn *c, int64_t user_id, int64_t now, struct store_chat *out)
{
	return CHAT(c)->chat_ensure(c, user_id, now, out);
}

int store_chat_get(struct store_conn *c, int64_t id, struct store_chat *out)
{
	return CHAT(c)->chat_get(c, id, out);
}

int store_chat_list(struct store_conn *c, size_t limit, struct store_chat **out, size_t *n)
{
	return CHAT(c)->chat_list(c, limit, out, n);
}

int store_chat_message_insert(struct store_conn *c, struct store_chat_message *m, bool *dup)
{
	return CHAT(c)->message_insert(c, m, dup);
}

int store_chat_messages(struct store_conn *c, int64_t chat_id, int64_t before, size_t limit,
			struct store_chat_message **out, size_t *n)
{
	return CHAT(c)->messages(c, chat_id, before, limit, out, n);
}

int store_chat_read(struct store_conn *c, int64_t chat_id, int64_t client_id, bool by_client,
		    int64_t up_to, int64_t when, struct store_chat_message **out, size_t *n)
{
	return CHAT(c)->read(c, chat_id, client_id, by_client, up_to, when, out, n);
}
