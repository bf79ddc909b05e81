/*
 * tlsproc: the shared TLS process and the master's and workers' handles
 * on it.  See tlsproc.h.
 *
 * The door: a SOCK_SEQPACKET socketpair made by the master.  The TLS
 * process holds one end; the master keeps the other, and every worker
 * inherits it.  A worker that accepts an implicit-TLS connection sends
 * one packet on it: a struct tlsmsg (the session id, the client's
 * address and port for the log, the handshake's deadline) with, as
 * SCM_RIGHTS, the client socket, its end of a new plaintext socketpair,
 * and its key channel when it has one.  A packet is atomic, so workers
 * need no lock; the door carries nothing back.  The worker closes its
 * copy of the door once it has a connection, so no front, back or
 * PROXY-header reader ever holds it.  When the master replaces the TLS
 * process (a reload, or a death) it retires the idle workers, whose
 * copies then close, and the old process sees the door's end once the
 * last copy has gone: it takes nothing more and exits when its last
 * connection ends.
 *
 * Each connection: the handshake first (a signature is asked of the key
 * process through the connection's own key channel, synchronously: the
 * key process answers at once, and keyclient.c bounds the wait), within
 * the deadline the worker gave (timeout_login from accept).  Then two
 * one-way copies, client to plaintext and plaintext to client, each
 * through a buffer of one TLS record that exists only while it holds
 * bytes; with SSL_MODE_RELEASE_BUFFERS (tls.c) an idle connection holds
 * its SSL object and nothing else.  A side is read only once its buffer
 * has been handed on, so neither side can make this process hold more
 * than the two buffers, and one busy connection yields to the others
 * after a few records.
 *
 * Ends: the client closing ends the connection once what it sent has
 * been passed on; the plaintext side closing (the session is over, or
 * its front refused the client) gives the client timeout_output to take
 * what is left, and then the connection is reset; once it has taken it,
 * what it still sends is read and dropped for a moment (linger()), so
 * that closing does not reset the connection under the last reply.  A closed plaintext
 * side shows as POLLHUP at once, even with its last bytes unread, so a
 * client that does not read cannot keep a connection here longer than
 * its session plus the output timeout.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/front.h"
#include "imapd/keyclient.h"
#include "imapd/keyproc.h"
#include "imapd/sandbox.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/tlsproc.h"

#define TLSPROC_DOORFD		3
#define TLSPROC_RESTART_MS	1000
#define TLSPROC_BUF		(16 * 1024)	/* one TLS record */
#define TLSPROC_ROUNDS		8	/* records per wake-up and side */
#define TLSPROC_IDLE_MS		1000	/* quiet this long: trim the heap */
#define TLSPROC_STOP_MS		1000	/* after SIGTERM, to flush */
#define TLSPROC_LINGER_MS	2000	/* see linger() */
#define TLSPROC_LINGER_MAX	(1024 * 1024)

/* What a worker sends with each connection. */
struct tlsmsg {
	char		session[SESSION_ID_LEN + 1];
	char		rip[64];
	char		lport[16];
	long long	deadline_ms;
};

union tlsfds {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(3 * sizeof(int))];
};

/* A packet of the door: m, with room for controllen bytes of cm. */
static void
msg_init(struct msghdr *mh, struct iovec *iov, struct tlsmsg *m,
    union tlsfds *cm, size_t controllen)
{
	memset(mh, 0, sizeof(*mh));
	memset(cm, 0, sizeof(*cm));
	iov->iov_base = m;
	iov->iov_len = sizeof(*m);
	mh->msg_iov = iov;
	mh->msg_iovlen = 1;
	mh->msg_control = cm->buf;
	mh->msg_controllen = controllen;
}

/* The master's view, inherited by workers. */
static pid_t		 cur_pid = -1;
static int		 door = -1;
static int		 wanted;	/* the running configuration asks */
static long long	 last_start;

/* --- the TLS process ---------------------------------------------- */

struct tconn {
	int		 client;
	int		 plain;		/* the session's plaintext */
	int		 key;		/* key channel, until the handshake */
	SSL		*ssl;
	int		 open;		/* handshake done */
	int		 client_eof;
	int		 plain_eof;	/* read to its end */
	int		 plain_hup;	/* the session closed its end */
	int		 again;		/* stopped with work left */
	int		 lingering;	/* over: dropping the client's rest */
	size_t		 lingered;
	long long	 deadline;	/* handshake or flush; 0: none */
	char		*in;		/* from the client, for the session */
	size_t		 inoff, inlen;
	char		*out;		/* from the session, for the client */
	size_t		 outoff, outlen;
	short		 cwant, pwant;	/* poll events wanted */
	char		 session[SESSION_ID_LEN + 1];
	char		 rip[64];
	char		 lport[16];
};

static struct tconn	**tc;
static size_t		  ntc, captc;
static unsigned		  maxconn;
static long long	  output_ms;
static int		  moved;	/* since the heap was last trimmed */

static void
tconn_log(const struct tconn *t)
{
	log_setsession(t->session);
	log_setrip(t->rip);
}

/* What a client sends may be a password (a login passes through here):
 * no copy is left in freed memory. */
static void
inbuf_free(struct tconn *t)
{
	if (t->in == NULL)
		return;
	OPENSSL_cleanse(t->in, TLSPROC_BUF);
	free(t->in);
	t->in = NULL;
}

static void
tconn_free(struct tconn *t, int reset)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	char drop[4096];
	int i;

	if (reset)
		(void)setsockopt(t->client, SOL_SOCKET, SO_LINGER, &rst,
		    sizeof(rst));
	SSL_free(t->ssl);
	close(t->client);
	/* a socket closed with bytes unread resets its peer: let the
	 * session see a plain end of the stream instead (its greeting,
	 * after a failed handshake, is the usual leftover) */
	for (i = 0; i < 4 && read(t->plain, drop, sizeof(drop)) > 0; i++)
		continue;
	close(t->plain);
	if (t->key != -1)
		close(t->key);
	inbuf_free(t);
	free(t->out);
	free(t);
}

static const char *
sslerr(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : errno != 0 ? strerror(errno) : "unknown error";
}

/* The handshake, as far as it goes without waiting.  0, or -1 when it
 * failed (logged). */
static int
handshake(struct tconn *t)
{
	int r;

	keyclient_setfd(t->key);
	ERR_clear_error();
	errno = 0;
	r = SSL_accept(t->ssl);
	keyclient_setfd(-1);
	if (r == 1) {
		close(t->key);
		t->key = -1;
		t->open = 1;
		t->deadline = 0;
		log_debug("TLS handshake done on port %s: %s %s", t->lport,
		    SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
		return 0;
	}
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		t->cwant = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		t->cwant = POLLOUT;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0) {
			log_info("client closed the connection during the "
			    "TLS handshake");
			return -1;
		}
		/* FALLTHROUGH */
	default:
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING)
			log_info("client closed the connection during the "
			    "TLS handshake");
		else
			log_info("TLS handshake failed on port %s: %s (a "
			    "client speaking plain IMAP to the TLS port? use "
			    "STARTTLS on the other port)", t->lport, sslerr());
		ERR_clear_error();
		return -1;
	}
}

/* After an SSL_read or SSL_write that returned r <= 0: 0 if it waits
 * for the client (added to t->cwant), else -1 (the stream ended or
 * broke). */
static int
wants(struct tconn *t, int r)
{
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		t->cwant |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		t->cwant |= POLLOUT;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* Read from the client into t->in.  1 moved, 0 would wait, -1 broke. */
static int
from_client(struct tconn *t)
{
	int r;

	if (t->in == NULL && (t->in = malloc(TLSPROC_BUF)) == NULL)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_read(t->ssl, t->in, TLSPROC_BUF);
	if (r > 0) {
		t->inoff = 0;
		t->inlen = (size_t)r;
		return 1;
	}
	if (wants(t, r) == 0)
		return 0;
	/* a close_notify, an end without one, or a broken stream: the
	 * session hears of it the same way */
	t->client_eof = 1;
	return 1;
}

/* Write t->out to the client.  1 moved, 0 would wait, -1 broke. */
static int
to_client(struct tconn *t)
{
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_write(t->ssl, t->out + t->outoff, (int)t->outlen);
	if (r > 0) {
		t->outoff += (size_t)r;
		t->outlen -= (size_t)r;
		return 1;
	}
	return wants(t, r) == 0 ? 0 : -1;
}

/*
 * The session is over and the client has all of it, but may still be
 * sending (commands pipelined behind the one that ended it): closing
 * with its bytes unread would reset the connection and could destroy
 * the last reply before the client reads it.  So read and drop what it
 * sends, up to its end, TLSPROC_LINGER_MAX bytes or TLSPROC_LINGER_MS,
 * as a front does.  0 to wait, -1 to close now.
 */
static int
linger(struct tconn *t)
{
	char drop[4096];
	ssize_t n;

	t->cwant = POLLIN;
	t->pwant = 0;
	t->again = 0;
	while (t->lingered < TLSPROC_LINGER_MAX) {
		n = read(t->client, drop, sizeof(drop));
		if (n > 0) {
			t->lingered += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
	return -1;
}

/* Move bytes both ways while nothing would wait, for a few records.
 * 0, or -1 when the connection is over. */
static int
pump(struct tconn *t)
{
	ssize_t n;
	int round, m, r;

	for (round = 0; round < TLSPROC_ROUNDS; round++) {
		m = 0;
		t->cwant = t->pwant = 0;
		if (t->inlen == 0 && !t->client_eof)
			m |= from_client(t);
		if (t->inlen > 0) {
			n = write(t->plain, t->in + t->inoff, t->inlen);
			if (n > 0) {
				t->inoff += (size_t)n;
				t->inlen -= (size_t)n;
				m = 1;
			} else if (n == -1 && (errno == EAGAIN ||
			    errno == EINTR))
				t->pwant |= POLLOUT;
			else {
				/* the session is gone: nobody to read it */
				t->inlen = 0;
				t->plain_hup = 1;
			}
		}
		if (t->outlen == 0 && !t->plain_eof) {
			if (t->out == NULL &&
			    (t->out = malloc(TLSPROC_BUF)) == NULL)
				break;
			n = read(t->plain, t->out, TLSPROC_BUF);
			if (n > 0) {
				t->outoff = 0;
				t->outlen = (size_t)n;
				m = 1;
			} else if (n == -1 && (errno == EAGAIN ||
			    errno == EINTR))
				t->pwant |= POLLIN;
			else
				t->plain_eof = t->plain_hup = 1;
		}
		if (t->outlen > 0) {
			if ((r = to_client(t)) == -1)
				return -1;
			m |= r;
		}
		if (!m)
			break;
		moved = 1;
	}
	t->again = round == TLSPROC_ROUNDS;
	if (t->inlen == 0)
		inbuf_free(t);
	if (t->outlen == 0 && t->out != NULL) {
		free(t->out);
		t->out = NULL;
	}
	if (t->client_eof && t->inlen == 0)
		return -1;
	if (t->plain_eof && t->outlen == 0) {
		(void)SSL_shutdown(t->ssl);
		t->lingering = 1;
		t->deadline = session_now_ms() + TLSPROC_LINGER_MS;
		return linger(t);
	}
	if ((t->plain_hup || t->client_eof) && t->deadline == 0)
		t->deadline = session_now_ms() + output_ms;
	return 0;
}

/* Take a connection from a worker's packet.  0, or -1 when the door is
 * closed for good. */
static int
take(SSL_CTX *ctx, int fd)
{
	union tlsfds cm;
	struct tlsmsg m;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	struct tconn *t, **nt;
	int fds[3] = { -1, -1, -1 }, nfd = 0, i, fl;
	ssize_t r;

	msg_init(&mh, &iov, &m, &cm, sizeof(cm.buf));
	r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0)) {
		nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfd > 3)
			nfd = 3;
		memcpy(fds, CMSG_DATA(c), (size_t)nfd * sizeof(int));
	}
	log_setsession(NULL);
	log_setrip(NULL);
	if (r != (ssize_t)sizeof(m) || (mh.msg_flags & (MSG_TRUNC |
	    MSG_CTRUNC)) || nfd < 2 ||
	    memchr(m.session, '\0', sizeof(m.session)) == NULL ||
	    memchr(m.rip, '\0', sizeof(m.rip)) == NULL ||
	    memchr(m.lport, '\0', sizeof(m.lport)) == NULL) {
		log_warnx("TLS process: a connection did not arrive whole "
		    "(out of descriptors?); it is closed");
		goto drop;
	}
	if (ntc >= maxconn) {
		log_warnx("TLS process: already holding %zu connections "
		    "(twice max_sessions); one more is closed", ntc);
		goto drop;
	}
	if (ntc == captc) {
		size_t ncap = captc ? captc * 2 : 64;

		if ((nt = reallocarray(tc, ncap, sizeof(*nt))) == NULL)
			goto nomem;
		tc = nt;
		captc = ncap;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	t->client = fds[0];
	t->plain = fds[1];
	t->key = fds[2];
	t->deadline = m.deadline_ms;
	memcpy(t->session, m.session, sizeof(t->session));
	memcpy(t->rip, m.rip, sizeof(t->rip));
	memcpy(t->lport, m.lport, sizeof(t->lport));
	for (i = 0; i < 2; i++)
		if ((fl = fcntl(fds[i], F_GETFL)) != -1)
			(void)fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
	if ((t->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(t->ssl, t->client) != 1) {
		tconn_log(t);
		log_warnx("TLS process: cannot start a TLS connection: %s",
		    sslerr());
		ERR_clear_error();
		tconn_free(t, 0);
		return 0;
	}
	/* as in a front: a login arrives in a record decrypted in place */
	SSL_set_options(t->ssl, SSL_OP_CLEANSE_PLAINTEXT);
	t->cwant = POLLIN;
	tc[ntc++] = t;
	return 0;
nomem:
	log_warnx("TLS process: out of memory for a connection; it is "
	    "closed");
drop:
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	return 0;
}

/* Serve t after poll() said something of it.  0, or -1 to close it. */
static int
serve(struct tconn *t, short crev, short prev)
{
	tconn_log(t);
	if (crev & (POLLERR | POLLNVAL))
		return -1;
	if (prev & (POLLHUP | POLLERR))
		t->plain_hup = 1;
	if (t->lingering)
		return linger(t);
	if (!t->open) {
		if (handshake(t) == -1)
			return -1;
		if (!t->open)
			return 0;
	}
	return pump(t);
}

static void __attribute__((noreturn))
run(SSL_CTX *ctx, int doorfd)
{
	struct pollfd *pfd = NULL, *np;
	size_t cap = 0, i, want;
	long long now, next, last_moved = session_now_ms();
	int timeout, stopping = 0, close_it, reset;

	for (;;) {
		if (sig_term && !stopping) {
			/* the master is stopping: flush briefly, then go */
			stopping = 1;
			now = session_now_ms();
			if (doorfd != -1)
				close(doorfd);
			doorfd = -1;
			for (i = 0; i < ntc; i++)
				if (tc[i]->deadline == 0 ||
				    tc[i]->deadline > now + TLSPROC_STOP_MS)
					tc[i]->deadline = now +
					    TLSPROC_STOP_MS;
		}
		if (doorfd == -1 && ntc == 0)
			_exit(0);
		want = 1 + 2 * ntc;
		if (want > cap) {
			if ((np = reallocarray(pfd, want, sizeof(*np))) ==
			    NULL)
				fatalx("TLS process: out of memory");
			pfd = np;
			cap = want;
		}
		pfd[0].fd = doorfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		now = session_now_ms();
		next = -1;
		timeout = -1;
		for (i = 0; i < ntc; i++) {
			struct tconn *t = tc[i];

			pfd[1 + 2 * i].fd = t->cwant ? t->client : -1;
			pfd[1 + 2 * i].events = t->cwant;
			pfd[1 + 2 * i].revents = 0;
			/* watched for its hang-up until that is seen */
			pfd[2 + 2 * i].fd = t->pwant || !t->plain_hup ?
			    t->plain : -1;
			pfd[2 + 2 * i].events = t->pwant;
			pfd[2 + 2 * i].revents = 0;
			if (t->again)
				timeout = 0;
			if (t->deadline != 0 && (next == -1 ||
			    t->deadline < next))
				next = t->deadline;
		}
		if (timeout == -1 && next != -1)
			timeout = next > now ? (int)(next - now) : 0;
		if (timeout == -1 && moved)
			timeout = TLSPROC_IDLE_MS;
		if (sig_wait(pfd, want, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("TLS process: poll");
		}
		now = session_now_ms();
		for (i = ntc; i-- > 0; ) {
			struct tconn *t = tc[i];
			short crev = pfd[1 + 2 * i].revents;
			short prev = pfd[2 + 2 * i].revents;

			close_it = reset = 0;
			if (crev != 0 || prev != 0 || t->again)
				close_it = serve(t, crev, prev) == -1;
			if (!close_it && t->deadline != 0 &&
			    now >= t->deadline) {
				tconn_log(t);
				if (!t->open)
					log_info("TLS handshake not done "
					    "within timeout_login; closed");
				else if (!t->lingering) {
					log_info("client did not take the "
					    "session's last output within "
					    "timeout_output; reset");
					reset = 1;
				}
				close_it = 1;
			}
			if (!close_it)
				continue;
			tconn_free(t, reset);
			tc[i] = tc[--ntc];
		}
		log_setsession(NULL);
		log_setrip(NULL);
		if (pfd[0].revents != 0 && doorfd != -1 &&
		    take(ctx, doorfd) == -1) {
			close(doorfd);
			doorfd = -1;
		}
		if (moved && now - last_moved >= TLSPROC_IDLE_MS) {
			/* a burst's records went back to the heap: give
			 * the pages back too, as a relay does */
			malloc_trim(0);
			moved = 0;
		}
		if (moved)
			last_moved = now;
	}
}

static void __attribute__((noreturn))
tlsproc_main(const struct config *conf, int fd)
{
	struct rlimit rl;
	SSL_CTX *ctx;

	sig_term = sig_hup = sig_usr1 = sig_chld = sig_drain = 0;
	/* nothing of the master's but the door: no listening socket, no
	 * pipe, no key process's control socket */
	fd = sandbox_child("imapd-tls", fd, TLSPROC_DOORFD);
	log_setfacility(conf->syslog_facility);
	log_setsession(NULL);
	keyclient_setfd(-1);
	if ((ctx = keyproc_ctx()) == NULL)
		fatalx("TLS process: no TLS context");
	/* two descriptors a connection, three during its handshake */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the workers keep sessions within max_sessions; a connection
	 * outlives its session by its last output and linger(), so room
	 * for as many again guards memory without refusing a session */
	maxconn = 2 * conf->max_sessions;
	output_ms = (long long)conf->timeout_output_ms;
	front_confine(conf);
	/* a change of uid may have made the process dumpable */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sandbox_tlsproc();
	run(ctx, fd);
}

/* --- the master's side -------------------------------------------- */

static void
retire(void)
{
	/* the old process ends with its last connection */
	if (door != -1)
		close(door);
	door = -1;
	cur_pid = -1;
}

static int
start(const struct config *conf)
{
	int sp[2];
	pid_t pid;

	last_start = session_now_ms();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("cannot start the TLS process: socketpair");
		return 0;
	}
	if ((pid = fork()) == -1) {
		log_warn("cannot start the TLS process: fork");
		close(sp[0]);
		close(sp[1]);
		return 0;
	}
	if (pid == 0) {
		close(sp[0]);
		tlsproc_main(conf, sp[1]);
	}
	close(sp[1]);
	door = sp[0];
	cur_pid = pid;
	log_info("TLS process %ld started: it holds the TLS of every "
	    "connection to an implicit-TLS port (tls_process = shared)",
	    (long)pid);
	return 1;
}

int
tlsproc_start(const struct config *conf)
{
	retire();
	wanted = conf->tls_shared && conf->nimaps > 0 &&
	    keyproc_ctx() != NULL;
	if (!wanted)
		return 0;
	return start(conf);
}

int
tlsproc_ensure(const struct config *conf)
{
	if (!wanted || cur_pid != -1)
		return 0;
	/* one that dies at once must not make the master spin */
	if (session_now_ms() - last_start < TLSPROC_RESTART_MS)
		return -1;
	return start(conf) ? 1 : -1;
}

int
tlsproc_reaped(pid_t pid, int status)
{
	if (pid != cur_pid || pid == -1)
		return 0;
	if (sig_term)
		;	/* stopping: it goes with everything else */
	else if (WIFSIGNALED(status))
		log_warnx("TLS process %ld killed by signal %d%s; the "
		    "connections it held are lost; starting another",
		    (long)pid, WTERMSIG(status), WTERMSIG(status) == SIGSYS ?
		    " (a system call outside its sandbox; see imapd(8))" :
		    "");
	else
		log_warnx("TLS process %ld exited with status %d; the "
		    "connections it held are lost; starting another",
		    (long)pid, WEXITSTATUS(status));
	retire();
	return 1;
}

void
tlsproc_stop(void)
{
	if (cur_pid != -1)
		(void)kill(cur_pid, SIGTERM);
}

int
tlsproc_hand(int client, const char *session, const char *rip,
    const char *lport, long long deadline_ms)
{
	union tlsfds cm;
	struct tlsmsg m;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	int sp[2], fds[3], nfd = 2;

	if (door == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair for the TLS process");
		return -1;
	}
	memset(&m, 0, sizeof(m));
	(void)snprintf(m.session, sizeof(m.session), "%s", session);
	(void)snprintf(m.rip, sizeof(m.rip), "%s", rip);
	(void)snprintf(m.lport, sizeof(m.lport), "%s", lport);
	m.deadline_ms = deadline_ms;
	fds[0] = client;
	fds[1] = sp[1];
	if ((fds[2] = keyclient_fd()) != -1)
		nfd = 3;
	msg_init(&mh, &iov, &m, &cm, CMSG_SPACE((size_t)nfd * sizeof(int)));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
	if (sendmsg(door, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(m)) {
		log_warn("cannot hand the connection to the TLS process "
		    "(tls_process = shared); this session's own process "
		    "serves its TLS");
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[1]);
	keyclient_close();
	return sp[0];
}

void
tlsproc_close(void)
{
	if (door != -1)
		close(door);
	door = -1;
}
