/*
 * amqp.h - the AMQP 0-9-1 / RabbitMQ (librabbitmq) input: readings from a
 * message broker, acknowledged to the broker only once committed
 * (bridge.h).  Off while amqp.url is "".  docs/AMQP.md is the user's guide.
 *
 * What it promises (the design and invariants are in amqp.c):
 *  - It declares its topology on every connection: the topic exchange
 *    amqp.exchange, the durable queue amqp.queue bound to it with
 *    amqp.binding_key and dead-lettering to amqp.dead_letter_exchange (a
 *    fanout exchange), and the durable queue "<amqp.queue>.dead" bound to
 *    that exchange, which keeps what was rejected.  Several kilowatt
 *    instances may consume the same queue: each message goes to one.
 *  - Each message is seed-000 JSON (ingest_measurements).  A message is
 *    acknowledged only after all its readings are committed; delivery is
 *    at-least-once and idempotent storage makes a redelivery a duplicate.
 *  - A message that can never be stored (malformed, invalid, unknown
 *    device, over 1 MiB) is rejected without requeue, to the dead-letter
 *    exchange, counted by reason in /metrics.  A message whose commit
 *    failed (queue full, database error) is requeued, never dropped.
 *  - The broker's absence never blocks the rest of the daemon: the client
 *    runs on a thread of its own and reconnects with backoff (0.25 s
 *    doubling to 30 s).
 *
 * Thread-safety: every function here is [loop]; the input's own thread is
 * internal.
 */
#ifndef KW_INGEST_AMQP_H
#define KW_INGEST_AMQP_H

#include <stddef.h>
#include <uv.h>

#include "core/buf.h"
#include "core/config.h"
#include "ingest/bridge.h"
#include "store/store.h"

struct amqp_input;

/*
 * [loop] Starts the input when amqp.url is set (else *out is NULL and 0 is
 * returned): its thread connects, and reconnects with backoff, in the
 * background, so an unreachable broker is not an error here.  The settings
 * are copied (a SIGHUP reload does not change a running input).  store and
 * br must outlive the input (close it first).  Returns 0, or KW_ECONFIG
 * with err naming the setting ("amqp.url", "amqp.queue", ...) for settings
 * that cannot work; a password never appears in err.
 */
int amqp_input_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		     struct bridge *br, struct amqp_input **out, char *err, size_t errlen);

/* [loop] Appends its kilowatt_amqp_* lines for /metrics; input is the
 * struct amqp_input. */
void amqp_input_metrics(void *input, struct kwbuf *out);

/*
 * [loop] Stops: the thread stops taking messages, finishes the group being
 * committed and acknowledges it (the store and the bridge must still be
 * running), closes the channel and the connection (what was delivered but
 * not committed is requeued by the broker), and exits.  The loop is never
 * blocked: cb(ud) runs on the loop once the thread is joined and the input
 * freed.  At most a few seconds (a connection attempt in progress ends
 * within its 5 s timeout).
 */
void amqp_input_close(struct amqp_input *in, void (*cb)(void *ud), void *ud);

#endif
