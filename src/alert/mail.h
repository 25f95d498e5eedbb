/*
 * mail.h - alert e-mails over SMTP (libcurl), sent by a thread of their
 * own so that a slow or absent mail server never holds up the loop or the
 * alerts themselves.
 *
 * A message is queued on the loop thread and sent by the mail thread;
 * a failed attempt is retried (MAIL_TRIES attempts in all, a few seconds
 * apart) and then dropped with an error in the log.  Failures in a row are
 * logged once, then summarised when sending works again.
 *
 * Thread-safety: every function here is [loop]; the thread reports back
 * through one uv_async_t (its exit).
 */
#ifndef KW_ALERT_MAIL_H
#define KW_ALERT_MAIL_H

#include <stddef.h>
#include <uv.h>

struct config;
struct mail;

#define MAIL_TRIES     3    /* attempts per message */
#define MAIL_QUEUE_MAX 1000 /* messages waiting; more are dropped (and logged) */

/*
 * Starts the mail thread for the [smtp] settings of cfg (copied).  Returns
 * 0 with *out NULL when smtp.url is empty (no e-mail), or a negative error
 * with a message in err (an unusable URL, libcurl cannot start).
 */
int mail_start(uv_loop_t *loop, const struct config *cfg, struct mail **out, char *err,
	       size_t errlen);

/*
 * Queues a plain-text message to one address (all strings copied).  The
 * subject and the address must be one line each; control characters are
 * dropped from the subject.  Returns 0, or KW_ETOOBIG when MAIL_QUEUE_MAX
 * messages are waiting (the message is dropped and logged), or
 * KW_ESHUTDOWN while closing.
 */
int mail_send(struct mail *m, const char *to, const char *subject, const char *body);

/* Messages sent and given up since start (for tests and logs). */
void mail_counts(struct mail *m, unsigned long *sent, unsigned long *failed);

/*
 * Stops: the transfer in progress is aborted, queued messages are dropped
 * (counted in the log), the thread is joined without blocking the loop,
 * and cb(ud) runs on the loop thread.  m NULL: cb runs at once.
 */
void mail_close(struct mail *m, void (*cb)(void *ud), void *ud);

#endif
