/*
 * conn: plain and TLS streams over non-blocking descriptors.  See conn.h.
 *
 * OpenSSL on a non-blocking socket reports WANT_READ or WANT_WRITE; either
 * can happen on a read or a write (TLS 1.3 key updates, post-handshake
 * messages), so both paths wait for whatever OpenSSL asks for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <openssl/err.h>

#include "imapd/conn.h"
#include "imapd/sig.h"

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
		if (w != 1) {
			snprintf(c->err, sizeof(c->err),
			    "TLS handshake interrupted");
			return -1;
		}
	}
}

ssize_t
conn_read(struct conn *c, void *p, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
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
		if (timeout_ms == 0) {
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

int
conn_write(struct conn *c, const void *p, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	const char *s = p;
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
		w = waitready(c->want == POLLIN ? c->rfd : c->wfd, c->want,
		    deadline, 0);
		if (w != 1) {
			if (w == CONN_TIMEOUT)
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

int
conn_pending(const struct conn *c)
{
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
