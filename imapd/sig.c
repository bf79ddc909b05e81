/*
 * sig: blocked signals, unblocked only while waiting.  See sig.h.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/lib/log.h"
#include "imapd/sig.h"

volatile sig_atomic_t sig_term;
volatile sig_atomic_t sig_hup;
volatile sig_atomic_t sig_usr1;
volatile sig_atomic_t sig_chld;
volatile sig_atomic_t sig_drain;

static const int handled[] = {
	SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD
};
#define NHANDLED	(sizeof(handled) / sizeof(handled[0]))

static sigset_t	 waitmask;	/* the mask to use while in ppoll */

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		sig_term = 1;
		break;
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGUSR2:
		sig_drain = 1;
		break;
	case SIGCHLD:
		sig_chld = 1;
		break;
	}
}

void
sig_init(void)
{
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;		/* no SA_RESTART: waits must see EINTR */
	sigemptyset(&block);
	for (i = 0; i < NHANDLED; i++) {
		if (sigaction(handled[i], &sa, NULL) == -1)
			fatal("sigaction");
		sigaddset(&block, handled[i]);
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction(SIGPIPE)");
	if (sigprocmask(SIG_BLOCK, &block, &waitmask) == -1)
		fatal("sigprocmask");
	for (i = 0; i < NHANDLED; i++)
		sigdelset(&waitmask, handled[i]);
}

void
sig_reset(void)
{
	struct sigaction sa;
	sigset_t none;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NHANDLED; i++)
		(void)sigaction(handled[i], &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

int
sig_wait(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	return ppoll(pfd, n, tsp, &waitmask);
}
