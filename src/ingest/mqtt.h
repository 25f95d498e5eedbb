/*
 * mqtt.h - the MQTT input: readings from an MQTT broker (libmosquitto),
 * acknowledged to the broker only once they are committed (bridge.h).
 * Off while mqtt.url is "".  docs/MQTT.md is the user's side of it.
 *
 * The input subscribes with a persistent session (clean session off, the
 * fixed client id mqtt.client_id) at QoS mqtt.qos to the comma-separated
 * filters of mqtt.topics.  Each message is seed-000 JSON, one reading
 * object or an array of them; the device is the payload's device_id or the
 * topic level matched by a filter's last '+' (both present: they must name
 * the same device).  At QoS 1 a message's PUBACK leaves only after its
 * readings are committed, so what the broker has seen acknowledged is on
 * disk; the messages read together share one commit.  A message that
 * cannot be stored (malformed, invalid, too large) is acknowledged and
 * counted, never redelivered forever.
 *
 * Threads: one thread of its own runs libmosquitto and blocks in
 * bridge_commit(); the loop only starts, reads metrics and stops it.
 */
#ifndef KW_INGEST_MQTT_H
#define KW_INGEST_MQTT_H

#include <stddef.h>
#include <uv.h>

#include "core/buf.h"
#include "core/config.h"
#include "ingest/bridge.h"
#include "store/store.h"

/* The largest payload taken, in bytes; a larger message is acknowledged,
 * counted (reason "payload_too_large") and dropped. */
#define MQTT_MAX_PAYLOAD (1024 * 1024)

struct mqtt_input;

/*
 * [loop] Starts the input when cfg->mqtt_url is set (else *out is NULL and
 * 0 is returned): checks and copies the settings, then its thread connects,
 * and reconnects with backoff, in the background; a broker that is away is
 * not an error here.  store and br must outlive the input.  Returns 0, or
 * KW_ECONFIG with err naming the setting ("mqtt.url: ...") when a setting
 * cannot work; *out is then NULL.
 */
int mqtt_input_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		     struct bridge *br, struct mqtt_input **out, char *err, size_t errlen);

/* [loop] Appends its Prometheus lines (kilowatt_mqtt_*) to out. */
void mqtt_input_metrics(void *input, struct kwbuf *out);

/*
 * [loop] Stops, without blocking the loop: the message being committed is
 * finished and its PUBACK sent (or, when its commit fails, the connection is
 * dropped so that it is not acknowledged), DISCONNECT is sent, the thread
 * ends and is joined; then everything is freed and cb(ud) runs on the loop.
 * The bridge and the store must keep running until cb.
 */
void mqtt_input_close(struct mqtt_input *in, void (*cb)(void *ud), void *ud);

#endif
