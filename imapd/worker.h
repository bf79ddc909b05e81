/*
 * worker: a pre-forked process waiting to serve one connection.  It
 * accepts, tells the master it is busy, forks the front, and becomes the
 * back of that session.  It never serves a second connection.
 */
#ifndef IMAPD_WORKER_H
#define IMAPD_WORKER_H

#include <sys/types.h>

struct config;

struct listener {
	int	fd;
	int	tls;		/* implicit TLS (listen_imaps) */
	char	desc[80];	/* "127.0.0.1:1143" for the log */
};

/* What a worker writes on the status pipe (atomic: < PIPE_BUF). */
struct worker_status {
	pid_t	pid;
	int	busy;
};

struct worker_args {
	const struct config	*conf;
	const struct listener	*listeners;
	unsigned		 nlisteners;
	int			 statusfd;	/* write end, to the master */
	int			 deathfd;	/* read end; EOF = master gone */
	int			 slot;		/* in the limits table */
};

void	worker_run(const struct worker_args *) __attribute__((noreturn));

#endif
