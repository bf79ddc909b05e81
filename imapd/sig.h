/*
 * sig: signal handling for every imapd process.
 *
 * The signals that ask a process to stop (SIGTERM, SIGINT, SIGHUP, SIGUSR1,
 * SIGUSR2, SIGCHLD) stay blocked except inside sig_wait(), a ppoll() that unblocks
 * them atomically: a signal can never slip in between checking a flag and
 * going to sleep, and no process needs a self-pipe of its own.
 */
#ifndef IMAPD_SIG_H
#define IMAPD_SIG_H

#include <poll.h>
#include <signal.h>

/* Set by the handlers; cleared by whoever acts on them. */
extern volatile sig_atomic_t sig_term;		/* SIGTERM or SIGINT */
extern volatile sig_atomic_t sig_hup;
extern volatile sig_atomic_t sig_usr1;
extern volatile sig_atomic_t sig_chld;
extern volatile sig_atomic_t sig_drain;		/* SIGUSR2 */

/* Install the handlers, block the signals, ignore SIGPIPE. */
void	sig_init(void);

/* Restore default dispositions and an empty mask (before exec, or in a
 * child that should simply die on SIGTERM). */
void	sig_reset(void);

/*
 * ppoll() on fds with the signals unblocked.  timeout_ms < 0 waits for
 * ever.  Returns what ppoll returns, with -1/EINTR when a signal came.
 */
int	sig_wait(struct pollfd *, nfds_t, int timeout_ms);

#endif
