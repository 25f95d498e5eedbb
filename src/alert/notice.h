/*
 * notice.h - what an over-limit notification says: the sentence, the
 * title, the link and the JSON object that both the /ws "alert" event and
 * GET /api/v1/notifications carry (docs/API.md, "Notifications").
 *
 * Pure formatting: no I/O, no state.  Thread-safety: any thread.
 */
#ifndef KW_ALERT_NOTICE_H
#define KW_ALERT_NOTICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define NOTICE_TEXT_MAX 512

/*
 * The sentence, in the device's time zone:
 *   "Kitchen meter used 2.7 kWh between 14:00 and 15:00, above its 2.0 kWh limit"
 * When the hour's local date is not the date the alert was raised (late
 * data), " on YYYY-MM-DD" follows the hours.  kWh get one decimal, more
 * (up to three) when one would print the usage equal to the limit.
 * Writes at most len bytes (NUL included) into buf and returns buf.
 */
char *notice_text(char *buf, size_t len, const char *device_name, const struct tz *tz, int64_t hour,
		  int64_t hour_end, double kwh, double limit_kwh, int64_t created_at);

/* "Kitchen meter is over its hourly limit" into buf; returns buf. */
char *notice_title(char *buf, size_t len, const char *device_name);

/* Where the web app shows the device: /admin/devices/UUID for an admin,
 * /app/devices/UUID for a client.  Returns buf. */
char *notice_href(char *buf, size_t len, const char *uuid, enum user_role role);

/*
 * The notification as JSON for its recipient (role picks the link):
 * {"type":"alert", "id", "device_id", "device_name", "hour_start",
 *  "hour_end", "kwh", "limit_kwh", "title", "text", "href", "at",
 *  "read_at"}.  d is the device (its name, UUID and zone).  A new
 * reference.
 */
json_t *notice_json(const struct store_notification *n, const struct store_device *d,
		    enum user_role role);

#endif
