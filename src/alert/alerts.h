/*
 * alerts.h - the alert service: turns the over-limit alerts the store
 * raises (store.h, store_set_alert_hook) into people's notifications,
 * stored per user, pushed live to their open sessions, and e-mailed to
 * those who asked for it (mail.h).
 *
 * Who is told: every owner of the device (its mappings) and every enabled
 * admin, once each; disabled users are not.
 *
 * Thread-safety: [loop], every function; the work is a store write job
 * whose completion runs on the loop thread.
 */
#ifndef KW_ALERT_ALERTS_H
#define KW_ALERT_ALERTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct alerts;
struct config;
struct store;

/* Hands a live event for one user's open sessions to whoever delivers
 * them (the WebSocket hub); takes the reference to event. */
typedef void (*alerts_publish_fn)(void *ud, int64_t user_id, json_t *event);

/*
 * Starts the service on an open store: sets the store's alert hook, starts
 * the mail thread when smtp.url is set, and notifies any alert stored but
 * never notified (a crash between the two commits, or alerts raised while
 * no service ran).  cfg must outlive the service (only [http]
 * public_origin and [smtp] are read, at start).  Returns 0 or a negative
 * error with a message in err.
 */
int alerts_start(uv_loop_t *loop, const struct config *cfg, struct store *store,
		 alerts_publish_fn publish, void *ud, struct alerts **out, char *err,
		 size_t errlen);

/*
 * Stops: removes the hook (alerts committed from now on wait, stored, for
 * the next start), waits for the notification job in flight, stops the
 * mail thread (mail.h), frees the service and calls cb(ud).  Call before
 * store_close().  a NULL: cb runs at once.
 */
void alerts_close(struct alerts *a, void (*cb)(void *ud), void *ud);

#endif
