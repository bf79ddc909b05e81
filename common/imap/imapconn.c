/*
 * imapconn: one client connection to an IMAP server.  See imapconn.h.
 *
 * The socket is non-blocking from the start and every wait is a poll()
 * bounded by the caller's deadline, over TLS as well: OpenSSL is told
 * what it wants (WANT_READ, WANT_WRITE) and we poll for that.
 *
 * A response is read as IMAP frames it (RFC 9051 section 4.3): a line
 * that ends in "{n}" or "~{n}" is followed by n bytes of literal and
 * then the rest of the response, which may announce another literal.
 * What is read of an unfinished response is kept in the connection, so
 * a read that runs out of time loses nothing.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/imap/imapconn.h"
#include "common/lib/strnum.h"

#define IN_SIZE		16384
#define QUOTED_MAX	1000	/* longer strings go as literals */
#define CUTS_MAX	8	/* literals in one command */

struct imapconn {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	long		 verify;
	char		 in[IN_SIZE];
	size_t		 inoff, inlen;
	struct buf	 resp;		/* the response being read */
	uint64_t	 litleft;	/* literal bytes it still needs */
	size_t		 max;
	struct buf	 cmd;
	size_t		 cuts[CUTS_MAX];	/* where literal bytes start */
	size_t		 ncuts;
	unsigned	 tagno;
	char		 tag[16];
	enum imapconn_class errclass;
	char		 err[512];
};

int64_t
imapconn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 3, 4)))
fail(struct imapconn *c, enum imapconn_class cl, const char *fmt, ...)
{
	va_list ap;
	int n;

	c->errclass = cl;
	va_start(ap, fmt);
	n = vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	if (n < 0)
		c->err[0] = '\0';
	/* a longer sentence is cut; it is only ever shown */
}

/* The OpenSSL reasons queued, or what errno says, into c->err. */
static void
fail_tls(struct imapconn *c, const char *what, int sslerr)
{
	char reason[256];
	unsigned long e;

	e = ERR_get_error();
	ERR_clear_error();
	if (e != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		fail(c, ICE_TLS, "%s: %s", what, reason);
	} else if (sslerr == SSL_ERROR_ZERO_RETURN ||
	    (sslerr == SSL_ERROR_SYSCALL && errno == 0))
		fail(c, ICE_CLOSED, "%s: the server closed the connection",
		    what);
	else if (sslerr == SSL_ERROR_SYSCALL && (errno == ECONNRESET ||
	    errno == EPIPE))
		fail(c, ICE_CLOSED, "%s: the server reset the connection",
		    what);
	else
		fail(c, ICE_TLS, "%s: %s", what, strerror(errno));
}

static int
remaining(int64_t deadline)
{
	int64_t left = deadline - imapconn_now();

	if (left <= 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

/* Wait for events on the socket: 1 ready, 0 deadline, -1 error. */
static int
waitfd(struct imapconn *c, short events, int64_t deadline)
{
	struct pollfd pfd;
	int ms, r;

	for (;;) {
		if ((ms = remaining(deadline)) == 0) {
			fail(c, ICE_TIMEOUT, "no answer in time");
			return 0;
		}
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fail(c, ICE_IO, "poll: %s", strerror(errno));
			return -1;
		}
		if (r == 1)
			return 1;
	}
}

/* A sentence for the caller; one cut short ends in "...". */
static void
put_err(char *err, size_t errlen, const char *msg)
{
	int n = snprintf(err, errlen, "%s", msg);

	if ((n < 0 || (size_t)n >= errlen) && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
}

int
imapconn_resolve(const char *host, const char *port, struct addrinfo **res,
    char *err, size_t errlen)
{
	struct addrinfo hints;
	int r, n;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	r = getaddrinfo(host, port, &hints, res);
	if (r == 0)
		return 0;
	if (r == EAI_NONAME)
		n = snprintf(err, errlen, "%s: no such host name (the DNS "
		    "has no address for it)", host);
	else if (r == EAI_AGAIN)
		n = snprintf(err, errlen, "%s: the DNS did not answer in "
		    "time (try again, or check /etc/resolv.conf)", host);
	else if (r == EAI_SERVICE)
		n = snprintf(err, errlen, "%s: not a port", port);
	else
		n = snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
	if ((n < 0 || (size_t)n >= errlen) && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
	return -1;
}

void
imapconn_addrstr(const struct addrinfo *ai, char *out, size_t outlen)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)outlen,
	    NULL, 0, NI_NUMERICHOST) != 0 && outlen > 0) {
		out[0] = '?';
		out[outlen > 1] = '\0';
	}
}

struct imapconn *
imapconn_connect(const struct addrinfo *ai, int64_t deadline, size_t max,
    enum imapconn_class *class_r, char *err, size_t errlen)
{
	struct imapconn *c;
	socklen_t sl;
	int e, r;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*class_r = ICE_IO;
		put_err(err, errlen, "out of memory");
		return NULL;
	}
	c->max = max;
	buf_init(&c->resp, max);
	buf_init(&c->cmd, max);
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd == -1) {
		fail(c, ICE_IO, "socket: %s", strerror(errno));
		goto bad;
	}
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return c;
	if (errno != EINPROGRESS) {
		e = errno;
		goto why;
	}
	if ((r = waitfd(c, POLLOUT, deadline)) != 1) {
		if (r == 0)
			fail(c, ICE_TIMEOUT, "no answer to the connection "
			    "request in time (a firewall dropping it, or no "
			    "host at that address)");
		goto bad;
	}
	sl = sizeof(e);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
		e = errno;
	if (e == 0)
		return c;
why:
	if (e == ECONNREFUSED)
		fail(c, ICE_REFUSED, "connection refused (the host is up "
		    "but nothing listens on that port)");
	else if (e == ENETUNREACH || e == EHOSTUNREACH || e == ENETDOWN ||
	    e == EHOSTDOWN)
		fail(c, ICE_UNREACH, "%s (no route to the host)",
		    strerror(e));
	else if (e == ETIMEDOUT)
		fail(c, ICE_TIMEOUT, "connection timed out (a firewall "
		    "dropping it, or no host at that address)");
	else
		fail(c, ICE_IO, "connect: %s", strerror(e));
bad:
	*class_r = c->errclass;
	put_err(err, errlen, c->err);
	imapconn_free(c);
	return NULL;
}

void
imapconn_free(struct imapconn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	if (c->fd != -1)
		close(c->fd);
	buf_free(&c->resp);
	buf_free_secret(&c->cmd);	/* it held a password */
	free(c);
}

static int
is_ip(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* One step of OpenSSL's non-blocking I/O: 1 to try again after the
 * wait it asked for, 0 on the deadline, -1 on an error. */
static int
tls_wait(struct imapconn *c, int r, const char *what, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ)
		return waitfd(c, POLLIN, deadline);
	if (e == SSL_ERROR_WANT_WRITE)
		return waitfd(c, POLLOUT, deadline);
	fail_tls(c, what, e);
	return -1;
}

int
imapconn_starttls(struct imapconn *c, const char *servername,
    const char *cafile, int verify, int64_t deadline)
{
	int r, w;

	if (c->inlen > c->inoff) {
		/* bytes sent before the handshake are not the server's
		 * (RFC 9051 section 11.1: a man in the middle's) */
		fail(c, ICE_TLS, "the server sent data before the TLS "
		    "handshake");
		return -1;
	}
	ERR_clear_error();
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fail_tls(c, "TLS", 0);
		return -1;
	}
	r = cafile != NULL ? SSL_CTX_load_verify_locations(c->ctx, cafile,
	    NULL) : SSL_CTX_set_default_verify_paths(c->ctx);
	if (r != 1) {
		fail_tls(c, cafile != NULL ? cafile : "system CA roots", 0);
		return -1;
	}
	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		fail_tls(c, "TLS", 0);
		return -1;
	}
	if (servername != NULL && is_ip(servername))
		r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    servername);
	else if (servername != NULL)
		/* a macro that casts the name to void *; OpenSSL only
		 * reads it */
		r = SSL_set_tlsext_host_name(c->ssl,
		    (char *)(uintptr_t)servername) == 1 &&
		    SSL_set1_host(c->ssl, servername) == 1;
	else
		r = 1;
	if (r != 1) {
		fail_tls(c, "TLS host name", 0);
		return -1;
	}
	SSL_set_verify(c->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_connect(c->ssl)) == 1)
			break;
		if ((w = tls_wait(c, r, "TLS handshake", deadline)) != 1) {
			if (w == 0)
				fail(c, ICE_TIMEOUT, "TLS handshake: no "
				    "answer in time");
			c->verify = SSL_get_verify_result(c->ssl);
			if (w == -1 && c->verify != X509_V_OK)
				fail(c, ICE_TLS, "TLS handshake: certificate "
				    "rejected: %s", X509_verify_cert_error_string(
				    c->verify));
			return -1;
		}
	}
	c->verify = SSL_get_verify_result(c->ssl);
	return 0;
}

long
imapconn_tls_verify(const struct imapconn *c)
{
	return c->verify;
}

const char *
imapconn_tls_version(const struct imapconn *c)
{
	return c->ssl != NULL ? SSL_get_version(c->ssl) : "none";
}

int
imapconn_tls_peer(const struct imapconn *c, char *subject, size_t sublen,
    char *issuer, size_t isslen, int64_t *notafter_r)
{
	X509 *x;
	struct tm tm;
	int ok = -1;

	if (c->ssl == NULL ||
	    (x = SSL_get1_peer_certificate(c->ssl)) == NULL)
		return -1;
	if (sublen > INT32_MAX || isslen > INT32_MAX)
		goto out;
	X509_NAME_oneline(X509_get_subject_name(x), subject, (int)sublen);
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, (int)isslen);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		goto out;
	*notafter_r = (int64_t)timegm(&tm);
	ok = 0;
out:
	X509_free(x);
	return ok;
}

int
imapconn_tls_names(const struct imapconn *c, const char *host)
{
	X509 *x;
	int r;

	if (c->ssl == NULL ||
	    (x = SSL_get1_peer_certificate(c->ssl)) == NULL)
		return -1;
	if (is_ip(host))
		r = X509_check_ip_asc(x, host, 0);
	else
		r = X509_check_host(x, host, 0, 0, NULL);
	X509_free(x);
	return r == 1;
}

int
imapconn_tls_notbefore(const struct imapconn *c, int64_t *notbefore_r)
{
	X509 *x;
	struct tm tm;
	int ok;

	if (c->ssl == NULL ||
	    (x = SSL_get1_peer_certificate(c->ssl)) == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	ok = ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1;
	X509_free(x);
	if (!ok)
		return -1;
	*notbefore_r = (int64_t)timegm(&tm);
	return 0;
}

int
imapconn_peek(struct imapconn *c, int64_t deadline, int *first_r)
{
	unsigned char b;
	ssize_t n;
	int r;

	if (c->inlen > c->inoff) {
		*first_r = (unsigned char)c->in[c->inoff];
		return 1;
	}
	if ((r = waitfd(c, POLLIN, deadline)) != 1)
		return r;
	n = recv(c->fd, &b, 1, MSG_PEEK);
	if (n == 1) {
		*first_r = b;
		return 1;
	}
	if (n == 0 || errno == ECONNRESET)
		fail(c, ICE_CLOSED, "the server closed the connection without "
		    "a word");
	else
		fail(c, ICE_IO, "recv: %s", strerror(errno));
	return -1;
}

/* Read what is there into c->in (which is empty): 1, 0 deadline, -1. */
static int
fill(struct imapconn *c, int64_t deadline)
{
	ssize_t n;
	int r;

	c->inoff = c->inlen = 0;
	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			r = SSL_read(c->ssl, c->in, sizeof(c->in));
			if (r > 0) {
				c->inlen = (size_t)r;
				return 1;
			}
			if ((r = tls_wait(c, r, "TLS read", deadline)) != 1)
				return r;
			continue;
		}
		n = recv(c->fd, c->in, sizeof(c->in), 0);
		if (n > 0) {
			c->inlen = (size_t)n;
			return 1;
		}
		if (n == 0) {
			fail(c, ICE_CLOSED, "the server closed the connection");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET) {
			fail(c, ICE_CLOSED, "the server reset the connection");
			return -1;
		}
		if (errno != EAGAIN) {
			fail(c, ICE_IO, "recv: %s", strerror(errno));
			return -1;
		}
		if ((r = waitfd(c, POLLIN, deadline)) != 1)
			return r;
	}
}

/* If the line that ends c->resp announces a literal, its size. */
static int
literal_at_end(const struct buf *b, uint64_t *n_r)
{
	size_t end = b->len, i;

	if (end >= 1 && b->data[end - 1] == '\n')
		end--;
	if (end >= 1 && b->data[end - 1] == '\r')
		end--;
	if (end < 3 || b->data[end - 1] != '}')
		return 0;
	end--;
	if (b->data[end - 1] == '+')	/* a non-synchronizing form */
		end--;
	for (i = end; i > 0 && b->data[i - 1] >= '0' && b->data[i - 1] <= '9';
	    i--)
		;
	if (i == end || i == 0 || b->data[i - 1] != '{')
		return 0;
	return strnum_u64_n(b->data + i, end - i, UINT64_MAX, n_r) == 0;
}

int
imapconn_read(struct imapconn *c, struct buf *out, int64_t deadline)
{
	const char *p, *nl;
	size_t avail, take;
	uint64_t n;
	int r;

	for (;;) {
		avail = c->inlen - c->inoff;
		if (avail == 0) {
			if ((r = fill(c, deadline)) != 1)
				return r;
			continue;
		}
		p = c->in + c->inoff;
		if (c->litleft > 0) {
			take = avail < c->litleft ? avail : (size_t)c->litleft;
			if (buf_add(&c->resp, p, take) == -1)
				goto toobig;
			c->inoff += take;
			c->litleft -= take;
			continue;
		}
		nl = memchr(p, '\n', avail);
		take = nl != NULL ? (size_t)(nl - p) + 1 : avail;
		if (buf_add(&c->resp, p, take) == -1)
			goto toobig;
		c->inoff += take;
		if (nl == NULL)
			continue;
		if (literal_at_end(&c->resp, &n)) {
			if (n > c->max) {
				errno = EMSGSIZE;
				goto toobig;
			}
			c->litleft = n;
			continue;
		}
		take = c->resp.len - 1;
		if (take > 0 && c->resp.data[take - 1] == '\r')
			take--;
		buf_reset(out);
		if (buf_add(out, c->resp.data, take) == -1)
			goto toobig;
		buf_reset(&c->resp);
		return 1;
	}
toobig:
	fail(c, ICE_TOOBIG, "a response longer than %zu bytes", c->max);
	return -1;
}

int
imapconn_write(struct imapconn *c, const char *p, size_t len,
    int64_t deadline)
{
	ssize_t n;
	int r;

	while (len > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			r = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX :
			    (int)len);
			if (r > 0) {
				p += r;
				len -= (size_t)r;
				continue;
			}
			if ((r = tls_wait(c, r, "TLS write", deadline)) != 1)
				return -1;
			continue;
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (waitfd(c, POLLOUT, deadline) != 1)
				return -1;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			fail(c, ICE_CLOSED, "the server closed the connection");
		else
			fail(c, ICE_IO, "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

const char *
imapconn_begin(struct imapconn *c, const char *name)
{
	int n;

	buf_wipe(&c->cmd);
	c->ncuts = 0;
	n = snprintf(c->tag, sizeof(c->tag), "a%u", ++c->tagno);
	if (n < 0 || (size_t)n >= sizeof(c->tag))
		return NULL;
	if (buf_addf(&c->cmd, "%s %s", c->tag, name) == -1)
		return NULL;
	return c->tag;
}

int
imapconn_atom(struct imapconn *c, const char *s)
{
	return buf_addf(&c->cmd, " %s", s);
}

int
imapconn_string(struct imapconn *c, const char *s, size_t len)
{
	size_t i;
	int quoted = len <= QUOTED_MAX;

	for (i = 0; i < len && quoted; i++)
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n' ||
		    (unsigned char)s[i] > 0x7f)
			quoted = 0;
	if (!quoted) {
		if (c->ncuts == CUTS_MAX || memchr(s, '\0', len) != NULL) {
			errno = EINVAL;
			return -1;
		}
		if (buf_addf(&c->cmd, " {%zu}\r\n", len) == -1)
			return -1;
		c->cuts[c->ncuts++] = c->cmd.len;
		return buf_add(&c->cmd, s, len);
	}
	if (buf_adds(&c->cmd, " \"") == -1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') &&
		    buf_addc(&c->cmd, '\\') == -1)
			return -1;
		if (buf_addc(&c->cmd, s[i]) == -1)
			return -1;
	}
	return buf_addc(&c->cmd, '"');
}

/* Wait for the "+" that lets a literal go; other responses are handed
 * on.  0, or -1 (the command's tagged answer came instead). */
static int
await_continue(struct imapconn *c, int64_t deadline,
    void (*untagged)(void *, const struct buf *), void *arg)
{
	struct buf r;
	size_t taglen = strlen(c->tag);
	int got;

	buf_init(&r, c->max);
	for (;;) {
		if ((got = imapconn_read(c, &r, deadline)) != 1) {
			buf_free(&r);
			return -1;
		}
		if (r.len >= 1 && r.data[0] == '+')
			break;
		if (r.len > taglen && memcmp(r.data, c->tag, taglen) == 0 &&
		    r.data[taglen] == ' ') {
			fail(c, ICE_IO, "the server refused the literal: %s",
			    buf_cstr(&r));
			buf_free(&r);
			return -1;
		}
		if (untagged != NULL)
			untagged(arg, &r);
	}
	buf_free(&r);
	return 0;
}

int
imapconn_send(struct imapconn *c, int64_t deadline,
    void (*untagged)(void *, const struct buf *), void *arg)
{
	size_t from = 0, i;

	if (buf_adds(&c->cmd, "\r\n") == -1) {
		fail(c, ICE_TOOBIG, "command too long");
		return -1;
	}
	for (i = 0; i < c->ncuts; i++) {
		if (imapconn_write(c, c->cmd.data + from, c->cuts[i] - from,
		    deadline) == -1 ||
		    await_continue(c, deadline, untagged, arg) == -1)
			return -1;
		from = c->cuts[i];
	}
	return imapconn_write(c, c->cmd.data + from, c->cmd.len - from,
	    deadline);
}

const char *
imapconn_error(const struct imapconn *c)
{
	return c->err;
}

enum imapconn_class
imapconn_errclass(const struct imapconn *c)
{
	return c->errclass;
}
