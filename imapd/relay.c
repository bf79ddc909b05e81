/*
 * relay: the front's copy loop after login.  See relay.h.
 *
 * Two one-way copies share one poll, client to back and back to client,
 * each through a buffer of one TLS record.  A side is read only once its
 * buffer has been handed on, so a back busy writing a large response and
 * a client pipelining commands cannot deadlock each other, and the front
 * never holds more than the two buffers.
 *
 * The back closes its end of the socketpair when its session is over and
 * then waits for the front to exit.  A closed peer shows as POLLHUP at
 * once, even while its last bytes are still unread, so the front learns
 * that the session is over without first reading everything: from that
 * moment the client has one output timeout to take the rest.  The back's
 * descriptor stays in the poll set while its buffer is full, asking for
 * no event, only so that the hang-up is seen.
 *
 * A relay may sit idle for days between bursts (a client in IDLE).  Once
 * nothing has moved for a second, the pages its two buffers and the TLS
 * layer's record buffers (freed when empty: SSL_MODE_RELEASE_BUFFERS)
 * used in the last burst go back to the kernel.
 */
#include <sys/mman.h>

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "imapd/conn.h"
#include "imapd/relay.h"
#include "imapd/session.h"
#include "imapd/sig.h"

#define RELAY_BUF	(16 * 1024)	/* one TLS record */
#define RELAY_ROUNDS	8		/* copies per wake-up and direction */
#define RELAY_IDLE_MS	1000		/* quiet this long: give pages back */

struct relay {
	struct conn	*c;
	int		 back;
	int		 timeout_ms;
	char		*bufs;		/* fromback, then toback: one mapping */
	char		*fromback;	/* for the client */
	size_t		 outoff, outlen;
	char		*toback;
	int		 used;		/* bytes moved since pages went back */
	const char	*in;		/* for the back: toback or pending */
	size_t		 inlen;
	long long	 moved_ms;	/* output last moved, or became due */
	long long	 ended_ms;	/* the back hung up, or -1 */
	int		 back_eof;	/* and everything it wrote is read */
	short		 want_in;	/* what reading the client waits for */
	short		 want_out;	/* what writing to it waits for */
};

/* Move bytes from the back to the client while neither would block.
 * 0, or -1 when the client stream broke. */
static int
to_client(struct relay *r, long long now)
{
	ssize_t n;
	int round;

	for (round = 0; round < RELAY_ROUNDS; round++) {
		if (r->outlen == 0 && !r->back_eof) {
			n = read(r->back, r->fromback, RELAY_BUF);
			if (n > 0) {
				r->outoff = 0;
				r->outlen = (size_t)n;
				r->moved_ms = now;
				r->used = 1;
			} else if (n == 0 || (errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR))
				r->back_eof = 1;
		}
		if (r->outlen == 0)
			return 0;
		n = conn_write_some(r->c, r->fromback + r->outoff, r->outlen);
		if (n == CONN_AGAIN) {
			r->want_out = r->c->want;
			return 0;
		}
		if (n <= 0)
			return -1;
		r->outoff += (size_t)n;
		r->outlen -= (size_t)n;
		r->moved_ms = now;
	}
	return 0;
}

/* Move bytes from the client to the back while the back is there and
 * neither would block.  0, or -1 when the client closed or broke. */
static int
from_client(struct relay *r, long long now)
{
	ssize_t n;
	int round;

	for (round = 0; round < RELAY_ROUNDS && r->ended_ms < 0; round++) {
		if (r->inlen == 0) {
			n = conn_read(r->c, r->toback, RELAY_BUF, 0);
			if (n == CONN_AGAIN) {
				r->want_in = r->c->want;
				return 0;
			}
			if (n <= 0)
				return -1;
			r->in = r->toback;
			r->inlen = (size_t)n;
			r->used = 1;
		}
		n = write(r->back, r->in, r->inlen);
		if (n > 0) {
			r->in += n;
			r->inlen -= (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return 0;
		/* the back is gone; what the client says no longer matters */
		r->ended_ms = now;
	}
	return 0;
}

/* Milliseconds until the relay must give up, 0 if it must now, or -1
 * if nothing is due. */
static long long
deadline_left(const struct relay *r, long long now)
{
	long long at = -1, end;

	if (r->outlen > 0)
		at = r->moved_ms + r->timeout_ms;
	if (r->ended_ms >= 0) {
		end = r->ended_ms + r->timeout_ms;
		if (at < 0 || end < at)
			at = end;
	}
	if (at < 0)
		return -1;
	return at > now ? at - now : 0;
}

/* Give back the pages of the last burst: the relay's buffers (the
 * kernel hands zeroed ones out on the next touch) and whatever the heap
 * holds free. */
static void
release_pages(struct relay *r)
{
	(void)madvise(r->bufs, 2 * RELAY_BUF, MADV_DONTNEED);
	(void)malloc_trim(0);
	r->used = 0;
}

static enum relay_end
relay_loop(struct relay *r)
{
	struct conn *c = r->c;
	struct pollfd pfd[2];
	long long now, left;
	int wait_ms, quiet;

	for (;;) {
		now = session_now_ms();
		if (to_client(r, now) == -1)
			return RELAY_CLIENT_GONE;
		if (r->back_eof && r->outlen == 0)
			return RELAY_DONE;
		if (from_client(r, now) == -1)
			return RELAY_CLIENT_GONE;
		if ((left = deadline_left(r, now)) == 0) {
			if (r->ended_ms >= 0)
				log_info("the session is over but the client "
				    "did not take its last responses within "
				    "%d s (timeout_output); dropping the "
				    "connection", (r->timeout_ms + 999) / 1000);
			else
				log_info("client not reading: no output "
				    "taken for %d s (timeout_output); "
				    "dropping the connection",
				    (r->timeout_ms + 999) / 1000);
			return RELAY_STALLED;
		}
		pfd[0].fd = c->rfd;
		pfd[0].events = r->outlen > 0 ? r->want_out : 0;
		if (r->inlen == 0 && r->ended_ms < 0)
			pfd[0].events |= r->want_in;
		pfd[0].revents = 0;
		/* once hung up, the back is polled only to be read */
		pfd[1].fd = r->back_eof || (r->ended_ms >= 0 && r->outlen > 0) ?
		    -1 : r->back;
		pfd[1].events = (r->outlen == 0 ? POLLIN : 0) |
		    (r->inlen > 0 ? POLLOUT : 0);
		pfd[1].revents = 0;
		wait_ms = left < 0 ? -1 : left > 0x7fffffff ? 0x7fffffff :
		    (int)left;
		/* nothing due and bytes moved: wait a little first, and give
		 * the pages back if it stays quiet */
		quiet = wait_ms < 0 && r->used;
		if (quiet)
			wait_ms = RELAY_IDLE_MS;
		/* decrypted bytes waiting inside TLS do not wake poll */
		if (r->inlen == 0 && r->ended_ms < 0 && conn_pending(c) > 0)
			wait_ms = 0;
		switch (sig_wait(pfd, 2, wait_ms)) {
		case -1:
			if (errno == EINTR)
				continue;
			log_warn("relay: poll");
			return RELAY_CLIENT_GONE;
		case 0:
			if (quiet && wait_ms == RELAY_IDLE_MS)
				release_pages(r);
			continue;
		}
		if ((pfd[1].revents & (POLLHUP | POLLERR)) && r->ended_ms < 0) {
			r->ended_ms = session_now_ms();
			r->inlen = 0;
		}
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return RELAY_CLIENT_GONE;
	}
}

enum relay_end
relay_run(struct conn *c, int back, const char *pending, size_t npending,
    int timeout_ms)
{
	struct relay r;
	enum relay_end end;

	memset(&r, 0, sizeof(r));
	r.bufs = mmap(NULL, 2 * RELAY_BUF, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.bufs == MAP_FAILED) {
		log_warn("relay: mmap");
		return RELAY_CLIENT_GONE;
	}
	r.fromback = r.bufs;
	r.toback = r.bufs + RELAY_BUF;
	r.c = c;
	r.back = back;
	r.timeout_ms = timeout_ms;
	r.in = pending;
	r.inlen = npending;
	r.ended_ms = -1;
	r.want_in = POLLIN;
	r.want_out = POLLOUT;
	end = relay_loop(&r);
	(void)munmap(r.bufs, 2 * RELAY_BUF);
	return end;
}
