/*
 * api.h - helpers the api_*.c endpoint files share.  Loop thread only.
 */
#ifndef KW_HTTP_API_H
#define KW_HTTP_API_H

#include <jansson.h>

#include "http/http.h"
#include "store/store.h"

/* The public JSON form of a device. */
json_t *api_device_json(const struct store_device *d);

/*
 * The device named by path parameter 0 (UUID or serial), as a copy the
 * caller frees; answers 404 and returns NULL when there is none.
 */
struct store_device *api_device_param(struct http_req *r);

/* Parses the request body as a JSON object; answers 400 and returns NULL
 * when it is not one. */
json_t *api_body_object(struct http_req *r);

#endif
