/*
 * back: the privileged half of a session.  It is the worker process
 * itself: it checks the credentials the front sends (PAM and the userdb
 * run here, in a process that never parsed a network byte), then drops to
 * the user for good and serves the mailbox.
 */
#ifndef IMAPD_BACK_H
#define IMAPD_BACK_H

#include <sys/types.h>

#include "imapd/limits.h"

struct config;

struct back_args {
	const struct config	*conf;
	int			 front;		/* socketpair end */
	pid_t			 front_pid;	/* or -1 once it has gone */
	int			 client;	/* the accepted socket on a plain
						 * port, never read before login;
						 * or -1 */
	int			 tls_outside;	/* client is the plaintext of
						 * the shared TLS process
						 * (tlsproc.h), taken over at
						 * login as a plain socket is */
	const char		*rip;
	const char		*lport;
	struct limits_addr	 addr;		/* rip as the limits count it */
	int			 slot;		/* in the limits table */
	int			 origin;	/* rip is what a trusted proxy
						 * said in ID (back.c) */
};

/* Serve one session through the front; never returns. */
void	back_run(const struct back_args *) __attribute__((noreturn));

/* imapd --stdio: one PREAUTH session on stdin/stdout as the invoking
 * user; never returns. */
void	back_stdio(const struct config *) __attribute__((noreturn));

#endif
