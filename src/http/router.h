/*
 * router.h - the route table: method, path pattern, handler and who may
 * call it.  Every route declares its access rule; the dispatcher checks it
 * once, before the handler runs (see router.c for the table itself).
 */
#ifndef KW_HTTP_ROUTER_H
#define KW_HTTP_ROUTER_H

#include "http/http.h"

/* Who may call a route (a bit set of principal kinds). */
#define ACCESS_PUBLIC 0u /* anyone, no credential needed */
#define ACCESS_ADMIN  ((1u << PRINCIPAL_ADMIN) | (1u << PRINCIPAL_ADMIN_USER))
#define ACCESS_USER   (ACCESS_ADMIN | (1u << PRINCIPAL_CLIENT)) /* handlers filter for clients */
#define ACCESS_SELF   ((1u << PRINCIPAL_ADMIN_USER) | (1u << PRINCIPAL_CLIENT)) /* people only */
#define ACCESS_WRITE  ((1u << PRINCIPAL_ADMIN) | (1u << PRINCIPAL_INGEST) | (1u << PRINCIPAL_DEVICE))

/* Body handling of a route. */
#define BODY_NONE 0 /* a body is refused with 413 */
#define BODY_ANY  1

struct route {
	const char *method;
	const char *pattern; /* "/api/v1/devices/{id}/consumption" */
	void (*handler)(struct http_req *r);
	unsigned access;
	int body;
};

extern const struct route routes[];
extern const size_t nroutes;

/*
 * Finds the route for method and path, filling params[] with pointers into
 * scratch (the caller's, living as long as the request).  Returns the route,
 * or NULL with *status set to 404 (no path matched) or 405 (the path
 * matched, the method did not).
 */
const struct route *router_match(const char *method, const char *path,
				 const char *params[HTTP_MAX_PARAMS], char *scratch,
				 size_t scratch_len, int *status);

/* Endpoints (one file per API area). */
void api_healthz(struct http_req *r);
void api_metrics(struct http_req *r);
void api_devices_list(struct http_req *r);
void api_devices_create(struct http_req *r);
void api_devices_get(struct http_req *r);
void api_devices_update(struct http_req *r);
void api_devices_delete(struct http_req *r);
void api_ingest_measurements(struct http_req *r);
void api_ingest_meter(struct http_req *r);
void api_ingest_write(struct http_req *r);
void api_consumption(struct http_req *r);
void api_readings(struct http_req *r);
void api_regions(struct http_req *r);
void api_region_devices(struct http_req *r);
void api_login(struct http_req *r);
void api_logout(struct http_req *r);
void api_register(struct http_req *r);
void api_me(struct http_req *r);
void api_me_update(struct http_req *r);
void api_users_list(struct http_req *r);
void api_users_create(struct http_req *r);
void api_users_get(struct http_req *r);
void api_users_update(struct http_req *r);
void api_users_delete(struct http_req *r);
void api_users_password(struct http_req *r);
void api_mappings_list(struct http_req *r);
void api_mappings_create(struct http_req *r);
void api_mappings_delete(struct http_req *r);
void api_tokens_list(struct http_req *r);
void api_tokens_create(struct http_req *r);
void api_tokens_revoke(struct http_req *r);
void api_audit_list(struct http_req *r);
void api_notifications_list(struct http_req *r);
void api_notifications_read(struct http_req *r);
void api_chats_list(struct http_req *r);
void api_chat_messages(struct http_req *r);
void api_chat_send(struct http_req *r);
void api_chat_read(struct http_req *r);
void api_ws(struct http_req *r);
void api_web_page(struct http_req *r);
void api_web_asset(struct http_req *r);

/* The chat's /ws handler (api_chat.c): registers it on hub, whose
 * messages it stores in store.  Once, after ws_hub_new(). */
struct ws_hub;
void api_chat_init(struct ws_hub *hub, struct store *store);

#endif
