/*
 * front: the pre-login half of a session.  Runs as login_user inside an
 * empty chroot (when imapd runs as root), speaks TLS, parses every byte
 * the client sends before login, and after login only relays bytes
 * between the client and the back.
 */
#ifndef IMAPD_FRONT_H
#define IMAPD_FRONT_H

#include <sys/types.h>

struct config;

struct front_args {
	const struct config	*conf;
	int			 client;	/* the accepted socket */
	int			 back;		/* socketpair end to the back */
	pid_t			 back_pid;	/* the parent */
	int			 implicit_tls;	/* a listen_imaps port */
	int			 tls_outside;	/* client carries the plaintext
						 * of the shared TLS process
						 * (tlsproc.h) */
	const char		*rip;		/* client address */
	const char		*lport;		/* our port */
	long long		 accepted_ms;	/* when, by session_now_ms() */
	const char		*refuse;	/* "* BYE" this at once, or NULL */
};

/* As root: resolve login_user, then chroot to login_chroot and drop to
 * login_user for good (fatal on failure); as another user, nothing.  For
 * every process that reads from the network before login. */
void	front_confine(const struct config *);

/* Serve the connection; never returns. */
void	front_run(const struct front_args *) __attribute__((noreturn));

#endif
