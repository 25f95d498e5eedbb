/*
 * sqlite_chat.c - the SQLite backend's support chat (schema: migration 8
 * in sqlite.c; contracts: store.h and backend.h).
 *
 * Tables:
 *   chat(id, user_id UNIQUE, created_at, last_message_at)
 *       one conversation per client user; indexed by activity for the
 *       admins' inbox
 *   chat_message(id, chat_id, sender_id, client_msg_id, body, created_at,
 *       read_at, context_device, context_date (migration 9)) UNIQUE(sender_id, client_msg_id), indexed (chat_id, id)
 *       for pages and partially on the unread ones for the counts
 *
 * Invariants:
 *  1. A client has at most one chat (UNIQUE user_id); ensuring it twice
 *     answers the same id.
 *  2. A sender's client_msg_id names at most one message: a retry stores
 *     nothing and answers the message stored first.
 *  3. Which side wrote a message is sender_id == chat.user_id (the client)
 *     or not (an admin); marking read only ever touches the other side's.
 *  4. Bodies are stored and returned byte for byte.
 *  5. Deleting a user deletes its chat and the chat's messages
 *     (sq_user_delete); an admin's messages elsewhere stay, without the
 *     sender's name.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/xmalloc.h"
#include "store/sqlite_int.h"
#include "core/banned.h"

#define CHAT_SELECT                                                                      \
	"SELECT c.id, c.user_id, u.name, u.email, c.created_at, c.last_message_at,"      \
	" (SELECT count(*) FROM chat_message x WHERE x.chat_id = c.id"                   \
	"   AND x.read_at IS NULL AND x.sender_id = c.user_id),"                         \
	" (SELECT count(*) FROM chat_message x WHERE x.chat_id = c.id"                   \
	"   AND x.read_at IS NULL AND x.sender_id <> c.user_id),"                        \
	" l.id, l.chat_id, l.sender_id, lu.name, l.client_msg_id, l.body, l.created_at," \
	" l.read_at, l.context_device, l.context_date, ld.uuid, ld.name"                 \
	" FROM chat c JOIN user u ON u.id = c.user_id"                                   \
	" LEFT JOIN chat_message l ON l.id = (SELECT max(id) FROM chat_message"          \
	"   WHERE chat_id = c.id)"                                                       \
	" LEFT JOIN user lu ON lu.id = l.sender_id"                                      \
	" LEFT JOIN device ld ON ld.id = l.context_device"
#define MSG_SELECT                                                                     \
	"SELECT m.id, m.chat_id, m.sender_id, su.name, m.client_msg_id, m.body,"       \
	" m.created_at, m.read_at, m.context_device, m.context_date, md.uuid, md.name" \
	" FROM chat_message m LEFT JOIN user su ON su.id = m.sender_id"                \
	" LEFT JOIN device md ON md.id = m.context_device"

const char *const sq__chat_sql[C_COUNT] = {
	[C_CHAT_ENSURE] = "INSERT INTO chat(user_id, created_at) VALUES(?1, ?2)"
			  " ON CONFLICT(user_id) DO UPDATE SET user_id = excluded.user_id"
			  " RETURNING id",
	[C_CHAT_GET] = CHAT_SELECT " WHERE c.id = ?1",
	[C_CHAT_LIST] = CHAT_SELECT " ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?1",
	[C_MSG_INSERT] =
	    "INSERT INTO chat_message(chat_id, sender_id, client_msg_id, body,"
	    " created_at, context_device, context_date) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT(sender_id, client_msg_id) DO NOTHING",
	[C_MSG_BY_CLIENT_ID] = MSG_SELECT " WHERE m.sender_id = ?1 AND m.client_msg_id = ?2",
	[C_MSG_TOUCH_CHAT] = "UPDATE chat SET last_message_at = ?2 WHERE id = ?1",
	[C_MSG_LIST] = MSG_SELECT " WHERE m.chat_id = ?1 AND (?2 = 0 OR m.id < ?2)"
				  " ORDER BY m.id DESC LIMIT ?3",
	[C_MSG_READ] = "UPDATE chat_message SET read_at = ?5 WHERE chat_id = ?1 AND id <= ?4"
		       " AND read_at IS NULL AND ((sender_id = ?2) = (?3 = 0))"
		       " RETURNING id, chat_id, sender_id, read_at",
	[C_DEL_USER_MSGS] = "DELETE FROM chat_message WHERE chat_id IN"
			    " (SELECT id FROM chat WHERE user_id = ?1)",
	[C_DEL_USER_CHAT] = "DELETE FROM chat WHERE user_id = ?1",
};

static sqlite3_stmt *cst(struct store_conn *c, int i)
{
	return sq__reset(SQ(c)->chat[i]);
}

static void msg_row(sqlite3_stmt *s, int at, struct store_chat_message *m)
{
	m->id = sqlite3_column_int64(s, at);
	m->chat_id = sqlite3_column_int64(s, at + 1);
	m->sender_id = sqlite3_column_int64(s, at + 2);
	m->sender_name = sq__col_dup(s, at + 3);
	m->client_msg_id = sq__col_dup(s, at + 4);
	m->body = sq__col_dup(s, at + 5);
	m->created_at = sqlite3_column_int64(s, at + 6);
	m->read_at = sqlite3_column_int64(s, at + 7);	     /* NULL reads as 0: unread */
	m->context_device = sqlite3_column_int64(s, at + 8); /* NULL reads as 0: none */
	m->context_date = sq__col_dup(s, at + 9);
	m->context_device_uuid = sq__col_dup(s, at + 10);
	m->context_device_name = sq__col_dup(s, at + 11);
}

static void chat_row(sqlite3_stmt *s, struct store_chat *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->id = sqlite3_column_int64(s, 0);
	ch->user_id = sqlite3_column_int64(s, 1);
	ch->client_name = sq__col_dup(s, 2);
	ch->client_email = sq__col_dup(s, 3);
	ch->created_at = sqlite3_column_int64(s, 4);
	ch->last_message_at = sqlite3_column_int64(s, 5);
	ch->unread_by_admins = sqlite3_column_int64(s, 6);
	ch->unread_by_client = sqlite3_column_int64(s, 7);
	if (sqlite3_column_type(s, 8) != SQLITE_NULL)
		msg_row(s, 8, &ch->last);
}

static int sq_chat_get(struct store_conn *c, int64_t id, struct store_chat *out)
{
	sqlite3_stmt *s = cst(c, C_CHAT_GET);
	int rc;

	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? KW_ENOTFOUND : sq__fail(SQ(c), "reading a chat");
	chat_row(s, out);
	return 0;
}

static int sq_chat_ensure(struct store_conn *c, int64_t user_id, int64_t now,
			  struct store_chat *out)
{
	sqlite3_stmt *s = cst(c, C_CHAT_ENSURE);
	int64_t id;

	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, now);
	if (sqlite3_step(s) != SQLITE_ROW)
		return sq__fail(SQ(c), "creating a chat");
	id = sqlite3_column_int64(s, 0);
	if (sqlite3_step(s) != SQLITE_DONE) /* finishes the INSERT */
		return sq__fail(SQ(c), "creating a chat");
	return sq_chat_get(c, id, out); /* invariant 1 */
}

static int sq_chat_list(struct store_conn *c, size_t limit, struct store_chat **out, size_t *n)
{
	sqlite3_stmt *s = cst(c, C_CHAT_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		chat_row(s, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing chats");
}

static int sq_message_insert(struct store_conn *c, struct store_chat_message *m, bool *dup)
{
	sqlite3_stmt *s = cst(c, C_MSG_INSERT);
	int64_t sender = m->sender_id, chat_id = m->chat_id, when = m->created_at;
	char *cid = m->client_msg_id;
	struct store_chat_message stored;
	int rc;

	sqlite3_bind_int64(s, 1, m->chat_id);
	sqlite3_bind_int64(s, 2, m->sender_id);
	sqlite3_bind_text(s, 3, m->client_msg_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, m->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, m->created_at);
	if (m->context_device && m->context_date) {
		sqlite3_bind_int64(s, 6, m->context_device);
		sqlite3_bind_text(s, 7, m->context_date, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(s, 6);
		sqlite3_bind_null(s, 7);
	}
	if ((rc = sq__run(SQ(c), s, "storing a chat message")) != 0)
		return rc;
	*dup = sqlite3_changes(SQ(c)->db) == 0; /* invariant 2 */
	if (!*dup) {
		s = cst(c, C_MSG_TOUCH_CHAT);
		sqlite3_bind_int64(s, 1, chat_id);
		sqlite3_bind_int64(s, 2, when);
		if ((rc = sq__run(SQ(c), s, "touching a chat")) != 0)
			return rc;
	}
	s = cst(c, C_MSG_BY_CLIENT_ID);
	sqlite3_bind_int64(s, 1, sender);
	sqlite3_bind_text(s, 2, cid, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW)
		return sq__fail(SQ(c), "reading a chat message");
	msg_row(s, 0, &stored);
	sq__reset(s); /* done with cid, bound SQLITE_STATIC */
	store_chat_message_release(m);
	*m = stored;
	return 0;
}

static int sq_messages(struct store_conn *c, int64_t chat_id, int64_t before, size_t limit,
		       struct store_chat_message **out, size_t *n)
{
	sqlite3_stmt *s = cst(c, C_MSG_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, chat_id);
	sqlite3_bind_int64(s, 2, before);
	sqlite3_bind_int64(s, 3, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		msg_row(s, 0, &(*out)[(*n)++]);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "listing chat messages");
}

static int sq_read(struct store_conn *c, int64_t chat_id, int64_t client_id, bool by_client,
		   int64_t up_to, int64_t when, struct store_chat_message **out, size_t *n)
{
	sqlite3_stmt *s = cst(c, C_MSG_READ);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, chat_id);
	sqlite3_bind_int64(s, 2, client_id);
	sqlite3_bind_int(s, 3, by_client);
	sqlite3_bind_int64(s, 4, up_to);
	sqlite3_bind_int64(s, 5, when);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) { /* invariant 3 */
		struct store_chat_message *m;
		xgrow((void **)out, &cap, *n + 1, sizeof(**out));
		m = &(*out)[(*n)++];
		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(s, 0);
		m->chat_id = sqlite3_column_int64(s, 1);
		m->sender_id = sqlite3_column_int64(s, 2);
		m->read_at = sqlite3_column_int64(s, 3);
	}
	return rc == SQLITE_DONE ? 0 : sq__fail(SQ(c), "marking chat messages read");
}

int sq__chat_delete_user(struct store_conn *c, int64_t user_id)
{
	sqlite3_stmt *s = cst(c, C_DEL_USER_MSGS);
	int rc;

	sqlite3_bind_int64(s, 1, user_id);
	if ((rc = sq__run(SQ(c), s, "deleting a user's chat messages")) != 0)
		return rc;
	s = cst(c, C_DEL_USER_CHAT);
	sqlite3_bind_int64(s, 1, user_id);
	return sq__run(SQ(c), s, "deleting a user's chat");
}

const struct store_chat_ops sq__chat_ops = {
	.chat_ensure = sq_chat_ensure,
	.chat_get = sq_chat_get,
	.chat_list = sq_chat_list,
	.message_insert = sq_message_insert,
	.messages = sq_messages,
	.read = sq_read,
};
