/*
 * alerts.c - the store's alert and notification functions (store.h),
 * forwarded to the backend's alert table (backend.h).  Alerts are raised
 * by the writer itself (rollup.c, "Alerts"); these are what closures call
 * to turn them into users' notifications and to read and mark those.
 */
#include "store/backend.h"
#include "core/banned.h"

#define ALRT(c) ((c)->ops->alerts)

int store_alert_claim(struct store_conn *c, int64_t device, int64_t hour, int64_t when,
		      struct store_alert *out)
{
	return ALRT(c)->alert_claim(c, device, hour, when, out);
}

int store_alert_unnotified(struct store_conn *c, size_t limit, struct store_alert **out, size_t *n)
{
	return ALRT(c)->alert_unnotified(c, limit, out, n);
}

int store_notification_insert(struct store_conn *c, struct store_notification *n)
{
	return ALRT(c)->notification_insert(c, n);
}

int store_notification_list(struct store_conn *c, int64_t user_id, bool unread_only, int64_t before,
			    size_t limit, struct store_notification **out, size_t *n)
{
	return ALRT(c)->notification_list(c, user_id, unread_only, before, limit, out, n);
}

int store_notification_unread(struct store_conn *c, int64_t user_id, int64_t *n)
{
	return ALRT(c)->notification_unread(c, user_id, n);
}

int store_notification_read(struct store_conn *c, int64_t user_id, const int64_t *ids, size_t nids,
			    int64_t when, int64_t *changed)
{
	return ALRT(c)->notification_read(c, user_id, ids, nids, when, changed);
}
