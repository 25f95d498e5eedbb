/*
 * log.h - logfmt lines on stderr: time, level, module, message.
 *
 *   time=2025-02-08T00:31:00.123Z level=info module=http msg="listening" addr=127.0.0.1:8080
 *
 * Thread-safety: every function may be called from any thread; one line is
 * written with one write(2), so lines never interleave.
 */
#ifndef KW_CORE_LOG_H
#define KW_CORE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level written; safe at any time (SIGHUP reload). */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn", "error".  Returns 0 or KW_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/*
 * Writes one line.  msg is quoted as needed; extra is appended verbatim and
 * must already be logfmt ("key=value key2=\"v 2\""), or NULL.
 */
void log_write(enum log_level level, const char *module, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(mod, ...) log_write(LOG_DEBUG, mod, NULL, __VA_ARGS__)
#define log_info(mod, ...)  log_write(LOG_INFO, mod, NULL, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_WARN, mod, NULL, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, NULL, __VA_ARGS__)

#endif
