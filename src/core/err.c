/*
 * err.c - names for kilowatt's error codes.
 */
#include <string.h>

#include "core/err.h"

const char *kw_strerror(int err)
{
	switch (err) {
#define KW_ERR_CASE(name, val, msg) \
	case name:                  \
		return msg;
		KW_ERR_MAP(KW_ERR_CASE)
#undef KW_ERR_CASE
	case 0:
		return "success";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
