/*
 * conn: plain and TLS streams over non-blocking descriptors, and the
 * DEFLATE layer of COMPRESS.  See conn.h.
 *
 * OpenSSL on a non-blocking socket reports WANT_READ or WANT_WRITE; either
 * can happen on a read or a write (TLS 1.3 key updates, post-handshake
 * messages), so both paths wait for whatever OpenSSL asks for.
 *
 * Compression sits above TLS, as RFC 4978 orders the layers.  In a
 * network session it runs in the back, whose conn is the socketpair to the
 * front: the front goes on relaying opaque bytes under TLS, so the
 * chrooted pre-login process has no zlib state and no new code, and the
 * inflater runs as the mail user, in the process that already enforces
 * the command limits on what comes out of it.
 *
 * Both directions are bounded.  Inflating never produces more than the
 * reader asked for, so input is taken in at the pace the IMAP parser
 * consumes it and the parser's line, literal and command limits apply to
 * the inflated bytes as they would to plain ones.  Deflating uses a small
 * window and hash (ZWBITS, ZMEMLEVEL) at the fastest level: an idle
 * session's memory matters more here than the last few percent of ratio.
 * Every conn_write() ends on Z_SYNC_FLUSH, and writes happen exactly where
 * the session flushes its output, so a tagged response or an IDLE update
 * is never held back inside the compressor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <openssl/err.h>
#include <zlib.h>

#include "imapd/conn.h"
#include "imapd/sig.h"

/* Deflate parameters: level 1 for speed; an 8 KiB window and memLevel 4
 * keep the compressor at about 40 KiB (zlib's defaults take 256 KiB) for
 * a few points of ratio on IMAP responses.  The inflater must accept any
 * window the client chose, so it always has the full 32 KiB. */
#define ZLEVEL		1
#define ZWBITS		13
#define ZMEMLEVEL	4
#define ZRAW		(8 * 1024)	/* compressed input read at once */
#define ZOUT		(16 * 1024)	/* compressed output written at once */

struct conn_z {
	z_stream		 in;
	z_stream		 out;
	unsigned char		*raw;	/* compressed input not yet inflated */
	size_t			 rawcap;
	int			 more;	/* the last inflate filled its output:
					 * it may hold more */
	unsigned long long	 wire_in;
	unsigned long long	 wire_out;
};

static int
setnonblock(int fd, int *old_r)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	*old_r = fl;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void
conn_init(struct conn *c, int rfd, int wfd)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	c->rflags = c->wflags = -1;
	(void)setnonblock(rfd, &c->rflags);
	if (wfd != rfd)
		(void)setnonblock(wfd, &c->wflags);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1 = none), at least 0. */
static int
left(long long deadline)
{
	long long l;

	if (deadline < 0)
		return -1;
	l = deadline - now_ms();
	if (l < 0)
		return 0;
	return l > 0x7fffffff ? 0x7fffffff : (int)l;
}

/* Wait until fd is ready for events or the deadline passes.
 * 1 ready, CONN_TIMEOUT, CONN_SIGNAL (if stop_on_signal), CONN_ERROR. */
static int
waitready(int fd, short events, long long deadline, int stop_on_signal)
{
	struct pollfd pfd;
	int r;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = sig_wait(&pfd, 1, left(deadline));
		if (r > 0)
			return 1;
		if (r == 0)
			return CONN_TIMEOUT;
		if (errno != EINTR)
			return CONN_ERROR;
		if (stop_on_signal)
			return CONN_SIGNAL;
	}
}

static void
tlserr(struct conn *c, const char *what)
{
	unsigned long e = ERR_get_error();
	char s[96];

	if (e != 0) {
		ERR_error_string_n(e, s, sizeof(s));
		snprintf(c->err, sizeof(c->err), "%s: %s", what, s);
	} else if (errno != 0)
		snprintf(c->err, sizeof(c->err), "%s: %s", what,
		    strerror(errno));
	else
		snprintf(c->err, sizeof(c->err), "%s", what);
	ERR_clear_error();
}

int
conn_starttls(struct conn *c, SSL_CTX *ctx, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int r, w;

	if ((c->ssl = SSL_new(ctx)) == NULL) {
		tlserr(c, "SSL_new");
		return -1;
	}
	/* a login arrives in a record that OpenSSL decrypts in place and
	 * otherwise frees or keeps as it is */
	SSL_set_options(c->ssl, SSL_OP_CLEANSE_PLAINTEXT);
	if (SSL_set_rfd(c->ssl, c->rfd) != 1 ||
	    SSL_set_wfd(c->ssl, c->wfd) != 1) {
		tlserr(c, "SSL_set_fd");
		return -1;
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_accept(c->ssl);
		if (r == 1)
			return 0;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			w = waitready(c->rfd, POLLIN, deadline, 1);
			break;
		case SSL_ERROR_WANT_WRITE:
			w = waitready(c->wfd, POLLOUT, deadline, 1);
			break;
		case SSL_ERROR_SYSCALL:
			if (ERR_peek_error() == 0 && errno == 0) {
				c->peer_closed = 1;
				snprintf(c->err, sizeof(c->err),
				    "client closed the connection");
				return -1;
			}
			/* FALLTHROUGH */
		default:
			if (ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING)
				c->peer_closed = 1;
			tlserr(c, "TLS handshake failed");
			return -1;
		}
		if (w == CONN_TIMEOUT) {
			snprintf(c->err, sizeof(c->err),
			    "TLS handshake timed out");
			return -1;
		}
		/* a drain (SIGUSR2) lets the handshake finish: the session
		 * then says BYE [UNAVAILABLE], which the client can read */
		if (w == CONN_SIGNAL && !sig_term)
			continue;
		if (w != 1) {
			snprintf(c->err, sizeof(c->err),
			    "TLS handshake interrupted");
			return -1;
		}
	}
}

/* conn_read() below the compression layer; nowait makes it return
 * CONN_AGAIN rather than wait. */
static ssize_t
rawread(struct conn *c, void *p, size_t len, long long deadline, int nowait)
{
	ssize_t n;
	int r, w;
	short ev;

	if (len > 0x7fffffff)
		len = 0x7fffffff;
	for (;;) {
		if (c->ssl == NULL) {
			n = read(c->rfd, p, len);
			if (n >= 0)
				return n;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(c->err, sizeof(c->err), "read: %s",
				    strerror(errno));
				return CONN_ERROR;
			}
			ev = POLLIN;
		} else {
			ERR_clear_error();
			errno = 0;
			r = SSL_read(c->ssl, p, (int)len);
			if (r > 0)
				return r;
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				ev = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				ev = POLLOUT;
				break;
			case SSL_ERROR_ZERO_RETURN:
				return 0;
			case SSL_ERROR_SYSCALL:
				if (errno == 0) {
					/* EOF without close_notify: a client
					 * that just hung up */
					return 0;
				}
				/* FALLTHROUGH */
			default:
				tlserr(c, "TLS read");
				return CONN_ERROR;
			}
		}
		if (nowait) {
			c->want = ev;
			return CONN_AGAIN;
		}
		w = waitready(ev == POLLIN ? c->rfd : c->wfd, ev, deadline, 1);
		if (w != 1) {
			if (w == CONN_ERROR)
				snprintf(c->err, sizeof(c->err), "poll: %s",
				    strerror(errno));
			return w;
		}
	}
}

/* conn_write() below the compression layer. */
static int
rawwrite(struct conn *c, const void *p, size_t len, long long deadline)
{
	const char *s = p;
	long long until, stall;
	ssize_t n;
	int w;

	while (len > 0) {
		n = conn_write_some(c, s, len);
		if (n > 0) {
			s += n;
			len -= (size_t)n;
			continue;
		}
		if (n != CONN_AGAIN)
			return CONN_ERROR;
		/* every byte taken restarts the stall clock */
		until = deadline;
		stall = c->stall_ms > 0 ? now_ms() + c->stall_ms : -1;
		if (stall >= 0 && (until < 0 || stall < until))
			until = stall;
		w = waitready(c->want == POLLIN ? c->rfd : c->wfd, c->want,
		    until, 0);
		if (w != 1) {
			if (w == CONN_TIMEOUT && until == stall) {
				c->stalled = 1;
				snprintf(c->err, sizeof(c->err), "client not "
				    "reading: no output taken for %d s "
				    "(timeout_output); dropping the "
				    "connection", (c->stall_ms + 999) / 1000);
			} else if (w == CONN_TIMEOUT)
				snprintf(c->err, sizeof(c->err),
				    "write timed out (client not reading)");
			else
				snprintf(c->err, sizeof(c->err), "poll: %s",
				    strerror(errno));
			return w;
		}
	}
	return 0;
}

ssize_t
conn_write_some(struct conn *c, const void *p, size_t len)
{
	ssize_t n;
	int r;

	if (len > 0x40000000)
		len = 0x40000000;
	if (c->ssl == NULL) {
		do
			n = write(c->wfd, p, len);
		while (n == -1 && errno == EINTR);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->want = POLLOUT;
			return CONN_AGAIN;
		}
		snprintf(c->err, sizeof(c->err), "write: %s", strerror(errno));
		return CONN_ERROR;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_write(c->ssl, p, (int)len);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->want = POLLIN;
		return CONN_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want = POLLOUT;
		return CONN_AGAIN;
	default:
		tlserr(c, "TLS write");
		return CONN_ERROR;
	}
}

/* Inflate what is buffered into p; > 0 bytes, 0 nothing yet (more input
 * is needed), or CONN_ERROR. */
static ssize_t
zinflate(struct conn *c, void *p, size_t len)
{
	struct conn_z *z = c->z;
	size_t want = len > 0x40000000 ? 0x40000000 : len;
	int r;

	if (z->in.avail_in == 0 && !z->more)
		return 0;
	z->in.next_out = p;
	z->in.avail_out = (uInt)want;
	r = inflate(&z->in, Z_SYNC_FLUSH);
	switch (r) {
	case Z_OK:
	case Z_BUF_ERROR:	/* no progress: needs input */
		break;
	case Z_STREAM_END:
		snprintf(c->err, sizeof(c->err), "the client ended its "
		    "compressed stream, which RFC 4978 has no use for");
		return CONN_ERROR;
	default:
		snprintf(c->err, sizeof(c->err), "compressed input is not "
		    "valid DEFLATE data: %s", z->in.msg != NULL ? z->in.msg :
		    "unknown error");
		return CONN_ERROR;
	}
	z->more = z->in.avail_out == 0;
	return (ssize_t)(want - z->in.avail_out);
}

/* Read compressed input until some of it inflates. */
static ssize_t
zread(struct conn *c, void *p, size_t len, long long deadline, int nowait)
{
	struct conn_z *z = c->z;
	ssize_t n;

	for (;;) {
		if ((n = zinflate(c, p, len)) != 0)
			return n;
		/* inflate takes all input it can while it has room to
		 * write, so the buffer is empty here */
		if (z->in.avail_in > 0) {
			snprintf(c->err, sizeof(c->err), "inflate took no "
			    "input");
			return CONN_ERROR;
		}
		n = rawread(c, z->raw, z->rawcap, deadline, nowait);
		if (n <= 0)
			return n;
		z->wire_in += (unsigned long long)n;
		z->in.next_in = z->raw;
		z->in.avail_in = (uInt)n;
	}
}

ssize_t
conn_read(struct conn *c, void *p, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	if (c->z != NULL)
		return zread(c, p, len, deadline, timeout_ms == 0);
	return rawread(c, p, len, deadline, timeout_ms == 0);
}

/* Deflate all of p, ending on a sync flush, and write it out. */
static int
zwrite(struct conn *c, const void *p, size_t len, long long deadline)
{
	struct conn_z *z = c->z;
	unsigned char out[ZOUT];
	const unsigned char *s = p;
	size_t chunk, n;
	int r, flush;

	do {
		chunk = len > 0x40000000 ? 0x40000000 : len;
		flush = chunk == len ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		z->out.next_in = (unsigned char *)(uintptr_t)s;
		z->out.avail_in = (uInt)chunk;
		do {
			z->out.next_out = out;
			z->out.avail_out = sizeof(out);
			r = deflate(&z->out, flush);
			if (r != Z_OK && r != Z_BUF_ERROR) {
				snprintf(c->err, sizeof(c->err), "deflate: %s",
				    z->out.msg != NULL ? z->out.msg :
				    "unknown error");
				return CONN_ERROR;
			}
			n = sizeof(out) - z->out.avail_out;
			if (n > 0 && (r = rawwrite(c, out, n, deadline)) != 0)
				return r;
			z->wire_out += n;
		} while (z->out.avail_out == 0 || z->out.avail_in > 0);
		s += chunk;
		len -= chunk;
	} while (len > 0);
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	if (c->z != NULL && len > 0)
		return zwrite(c, p, len, deadline);
	return rawwrite(c, p, len, deadline);
}

static void
zfree(struct conn *c)
{
	if (c->z == NULL)
		return;
	(void)inflateEnd(&c->z->in);
	(void)deflateEnd(&c->z->out);
	free(c->z->raw);
	free(c->z);
	c->z = NULL;
}

int
conn_compress(struct conn *c, const void *raw, size_t rawlen)
{
	struct conn_z *z;

	if (c->z != NULL) {
		snprintf(c->err, sizeof(c->err), "already compressed");
		return -1;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL)
		goto nomem;
	c->z = z;
	/* room for what was read ahead, if the client did not wait for
	 * the OK as it should have */
	z->rawcap = rawlen > ZRAW ? rawlen : ZRAW;
	if ((z->raw = malloc(z->rawcap)) == NULL)
		goto nomem;
	if (inflateInit2(&z->in, -MAX_WBITS) != Z_OK)
		goto nomem;
	if (deflateInit2(&z->out, ZLEVEL, Z_DEFLATED, -ZWBITS, ZMEMLEVEL,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		(void)inflateEnd(&z->in);
		goto nomem;
	}
	if (rawlen > 0)
		memcpy(z->raw, raw, rawlen);
	z->in.next_in = z->raw;
	z->in.avail_in = (uInt)rawlen;
	z->wire_in = rawlen;
	return 0;
nomem:
	if (z != NULL) {
		free(z->raw);
		free(z);
	}
	c->z = NULL;
	snprintf(c->err, sizeof(c->err), "out of memory for compression");
	return -1;
}

int
conn_compressed(const struct conn *c)
{
	return c->z != NULL;
}

void
conn_wire_bytes(const struct conn *c, unsigned long long *in_r,
    unsigned long long *out_r)
{
	*in_r = c->z != NULL ? c->z->wire_in : 0;
	*out_r = c->z != NULL ? c->z->wire_out : 0;
}

int
conn_pending(const struct conn *c)
{
	if (c->z != NULL && (c->z->in.avail_in > 0 || c->z->more))
		return 1;
	return c->ssl != NULL ? SSL_pending(c->ssl) : 0;
}

const char *
conn_tlsinfo(const struct conn *c, char *s, size_t len)
{
	if (c->ssl == NULL || len == 0) {
		if (len > 0)
			s[0] = '\0';
		return s;
	}
	if (snprintf(s, len, "%s %s", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl)) >= (int)len)
		s[len - 1] = '\0';
	return s;
}

void
conn_forget_tls(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
}

void
conn_linger_close(struct conn *c, int ms, size_t max)
{
	long long deadline = now_ms() + ms;
	char junk[16384];
	size_t total = 0;
	ssize_t n;

	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
		conn_forget_tls(c);
	}
	(void)shutdown(c->wfd, SHUT_WR);
	while (total < max) {
		n = read(c->rfd, junk, sizeof(junk));
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break;
		if (waitready(c->rfd, POLLIN, deadline, 0) != 1)
			break;
	}
	conn_close(c);
}

void
conn_close(struct conn *c)
{
	static const struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	zfree(c);
	if (c->stalled) {
		(void)setsockopt(c->wfd, SOL_SOCKET, SO_LINGER, &reset,
		    sizeof(reset));
		conn_forget_tls(c);
	}
	if (c->ssl != NULL) {
		/* one non-blocking attempt; a client gone away is fine */
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
		conn_forget_tls(c);
	}
	if (c->rflags != -1)
		(void)fcntl(c->rfd, F_SETFL, c->rflags);
	if (c->wfd != c->rfd && c->wflags != -1)
		(void)fcntl(c->wfd, F_SETFL, c->wflags);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	c->rfd = c->wfd = -1;
}
