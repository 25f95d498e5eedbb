/*
 * router.c - the route table and its matcher.
 *
 * To add an endpoint: write its handler in the api_<area>.c it belongs to,
 * declare it in router.h, and add one row here with its access rule.
 * Nothing else routes requests.
 */
#include <string.h>

#include "http/router.h"
#include "core/banned.h"

const struct route routes[] = {
	{ "GET", "/healthz", api_healthz, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/metrics", api_metrics, ACCESS_ADMIN, BODY_NONE },
	{ "POST", "/api/v1/measurements", api_ingest_measurements, ACCESS_WRITE, BODY_ANY },
	{ "POST", "/meter", api_ingest_meter, ACCESS_WRITE, BODY_ANY },
	{ "POST", "/write", api_ingest_write, ACCESS_WRITE, BODY_ANY },
	{ "POST", "/api/v1/login", api_login, ACCESS_PUBLIC, BODY_ANY },
	{ "POST", "/api/v1/logout", api_logout, ACCESS_SELF, BODY_ANY },
	{ "POST", "/api/v1/register", api_register, ACCESS_PUBLIC, BODY_ANY },
	{ "GET", "/api/v1/me", api_me, ACCESS_SELF, BODY_NONE },
	{ "PATCH", "/api/v1/me", api_me_update, ACCESS_SELF, BODY_ANY },
	{ "GET", "/api/v1/users", api_users_list, ACCESS_ADMIN, BODY_NONE },
	{ "POST", "/api/v1/users", api_users_create, ACCESS_ADMIN, BODY_ANY },
	{ "GET", "/api/v1/users/{id}", api_users_get, ACCESS_ADMIN, BODY_NONE },
	{ "PATCH", "/api/v1/users/{id}", api_users_update, ACCESS_ADMIN, BODY_ANY },
	{ "DELETE", "/api/v1/users/{id}", api_users_delete, ACCESS_ADMIN, BODY_NONE },
	{ "POST", "/api/v1/users/{id}/password", api_users_password, ACCESS_ADMIN, BODY_ANY },
	{ "GET", "/api/v1/mappings", api_mappings_list, ACCESS_ADMIN, BODY_NONE },
	{ "POST", "/api/v1/mappings", api_mappings_create, ACCESS_ADMIN, BODY_ANY },
	{ "DELETE", "/api/v1/mappings/{id}", api_mappings_delete, ACCESS_ADMIN, BODY_NONE },
	{ "GET", "/api/v1/tokens", api_tokens_list, ACCESS_ADMIN, BODY_NONE },
	{ "POST", "/api/v1/tokens", api_tokens_create, ACCESS_ADMIN, BODY_ANY },
	{ "DELETE", "/api/v1/tokens/{id}", api_tokens_revoke, ACCESS_ADMIN, BODY_NONE },
	{ "GET", "/api/v1/audit", api_audit_list, ACCESS_ADMIN, BODY_NONE },
	{ "GET", "/api/v1/devices", api_devices_list, ACCESS_USER, BODY_NONE },
	{ "POST", "/api/v1/devices", api_devices_create, ACCESS_ADMIN, BODY_ANY },
	{ "GET", "/api/v1/devices/{id}", api_devices_get, ACCESS_USER, BODY_NONE },
	{ "PATCH", "/api/v1/devices/{id}", api_devices_update, ACCESS_ADMIN, BODY_ANY },
	{ "DELETE", "/api/v1/devices/{id}", api_devices_delete, ACCESS_ADMIN, BODY_NONE },
	{ "GET", "/api/v1/devices/{id}/consumption", api_consumption, ACCESS_USER, BODY_NONE },
	{ "GET", "/api/v1/devices/{id}/readings", api_readings, ACCESS_USER, BODY_NONE },
	{ "GET", "/api/v1/regions/consumption", api_regions, ACCESS_ADMIN, BODY_NONE },
	{ "GET", "/api/v1/regions/{region}/devices", api_region_devices, ACCESS_ADMIN, BODY_NONE },
	/* Over-limit alerts (api_notifications.c): each person's own. */
	{ "GET", "/api/v1/notifications", api_notifications_list, ACCESS_SELF, BODY_NONE },
	{ "POST", "/api/v1/notifications/read", api_notifications_read, ACCESS_SELF, BODY_ANY },
	/* Support chat (api_chat.c): a client its own, admins every one. */
	{ "GET", "/api/v1/chats", api_chats_list, ACCESS_SELF, BODY_NONE },
	{ "GET", "/api/v1/chats/{id}/messages", api_chat_messages, ACCESS_SELF, BODY_NONE },
	{ "POST", "/api/v1/chats/{id}/messages", api_chat_send, ACCESS_SELF, BODY_ANY },
	{ "POST", "/api/v1/chats/{id}/read", api_chat_read, ACCESS_SELF, BODY_ANY },
	/* The live channel (api_ws.c, ws.c): a WebSocket, for people only. */
	{ "GET", "/ws", api_ws, ACCESS_SELF, BODY_NONE },
	/* The web app (api_web.c): its pages route in the browser. */
	{ "GET", "/", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/login", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/app", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/app/*", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/admin", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/admin/*", api_web_page, ACCESS_PUBLIC, BODY_NONE },
	{ "GET", "/assets/{file}", api_web_asset, ACCESS_PUBLIC, BODY_NONE },
};

const size_t nroutes = sizeof(routes) / sizeof(routes[0]);

/* Matches path against pattern segment by segment; a {name} segment
 * captures one non-empty segment into params, which point into scratch,
 * and a final '*' matches any non-empty rest of the path. */
static bool match(const char *pattern, const char *path, const char **params, char *scratch,
		  size_t scratch_len)
{
	const char *p = pattern, *u = path;
	size_t np = 0, used = 0;

	while (*p && *u) {
		if (*p == '*' && p[1] == '\0')
			return true;
		if (*p == '{') {
			size_t n = strcspn(u, "/");
			if (n == 0 || np == HTTP_MAX_PARAMS || used + n + 1 > scratch_len)
				return false;
			memcpy(scratch + used, u, n);
			scratch[used + n] = '\0';
			params[np++] = scratch + used;
			used += n + 1;
			u += n;
			p = strchr(p, '}') + 1;
		} else if (*p++ != *u++) {
			return false;
		}
	}
	return *p == '\0' && *u == '\0';
}

const struct route *router_match(const char *method, const char *path,
				 const char *params[HTTP_MAX_PARAMS], char *scratch,
				 size_t scratch_len, int *status)
{
	bool path_seen = false;

	for (size_t i = 0; i < nroutes; i++) {
		if (!match(routes[i].pattern, path, params, scratch, scratch_len))
			continue;
		path_seen = true;
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
	}
	*status = path_seen ? 405 : 404;
	return NULL;
}
