/*
 * banned.h - functions kilowatt must not call (after git's banned.h).
 *
 * Included by every translation unit through the compiler command line
 * would be nicer, but an explicit include keeps it visible; each .c of ours
 * includes it last.  Use snprintf, memcpy with checked lengths, strtok_r,
 * strtol with end checks, and localtime_r/gmtime_r (or core/tz.h) instead.
 */
#ifndef KW_CORE_BANNED_H
#define KW_CORE_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef gmtime
#define gmtime(t) BANNED(gmtime)

#endif
