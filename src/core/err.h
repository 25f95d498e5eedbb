/*
 * err.h - kilowatt's one error vocabulary.
 *
 * Every function that can fail returns int: 0 on success, a negative code on
 * failure.  A negated errno value (-ENOMEM, -EIO, ...) passes through as is;
 * kilowatt's own conditions use the KW_E* codes below, which live far from
 * the errno range.  kw_strerror() names either kind.
 */
#ifndef KW_CORE_ERR_H
#define KW_CORE_ERR_H

#define KW_ERR_MAP(X)                             \
	X(KW_EPARSE, -1001, "malformed input")    \
	X(KW_EINVAL, -1002, "invalid value")      \
	X(KW_ENOTFOUND, -1003, "not found")       \
	X(KW_EEXIST, -1004, "already exists")     \
	X(KW_ETOOBIG, -1005, "too large")         \
	X(KW_EDB, -1006, "database error")        \
	X(KW_ESHUTDOWN, -1007, "shutting down")   \
	X(KW_EDENIED, -1008, "permission denied") \
	X(KW_EUNSUPPORTED, -1009, "unsupported")  \
	X(KW_ECONFIG, -1010, "bad configuration")

enum kw_err {
#define KW_ERR_ENUM(name, val, msg) name = (val),
	KW_ERR_MAP(KW_ERR_ENUM)
#undef KW_ERR_ENUM
};

/* Returns a static string describing err (a KW_E* code or a negated errno). */
const char *kw_strerror(int err);

#endif
