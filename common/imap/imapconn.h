/*
 * imapconn: the client side of one IMAP connection, for the tools that
 * talk to a server (imapcheck, imapwait): a TCP connection made within a
 * time limit, TLS over it from the first byte or after STARTTLS, commands
 * sent with their literals, and responses read whole.
 *
 * Every wait is bounded by a deadline (milliseconds of CLOCK_MONOTONIC,
 * as imapconn_now() gives): nothing here blocks past it.  A response is
 * one line with every literal it announces, however many lines that
 * spans; it is held in a buf with a hard maximum, so a server cannot make
 * a tool grow without bound.
 *
 * Errors leave a sentence in imapconn_error() and a class in
 * imapconn_errclass(), so that a caller can tell a time-out from a reset
 * from a TLS failure without parsing the sentence.
 */
#ifndef CLIENT_IMAPCONN_H
#define CLIENT_IMAPCONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"

struct addrinfo;
struct imapconn;

enum imapconn_class {
	ICE_NONE,
	ICE_TIMEOUT,		/* the deadline passed */
	ICE_REFUSED,		/* nothing listens (RST to the SYN) */
	ICE_UNREACH,		/* no route, host or network down */
	ICE_CLOSED,		/* the peer closed or reset the connection */
	ICE_TLS,		/* the TLS handshake or a TLS record failed */
	ICE_TOOBIG,		/* a response passed the maximum */
	ICE_IO,			/* anything else (errno in the sentence) */
};

/* Milliseconds of the monotonic clock. */
int64_t	imapconn_now(void);

/*
 * Look host up for port (numbers or service names); *res_r as from
 * getaddrinfo(), freed with freeaddrinfo().  0, or -1 with a sentence in
 * err naming the resolver's answer.
 */
int	imapconn_resolve(const char *host, const char *port,
	    struct addrinfo **res_r, char *err, size_t errlen);

/* The numeric form of an address, for messages. */
void	imapconn_addrstr(const struct addrinfo *, char *out, size_t outlen);

/*
 * Connect to one address by deadline.  A connection, or NULL with
 * *class_r and a sentence in err.  max is the largest response the
 * connection will hold.
 */
struct imapconn *imapconn_connect(const struct addrinfo *, int64_t deadline,
	    size_t max, enum imapconn_class *class_r, char *err,
	    size_t errlen);
void	imapconn_free(struct imapconn *);

/*
 * Start TLS on the connection (now: from the first byte, or after a
 * STARTTLS answered OK).  servername is sent as SNI when it is a name
 * and is what the certificate is checked against.  cafile NULL trusts
 * the system's roots.  With verify set a certificate that does not
 * check out fails the handshake; without, the handshake completes and
 * imapconn_tls_verify() says what is wrong with it.  0 or -1.
 */
int	imapconn_starttls(struct imapconn *, const char *servername,
	    const char *cafile, int verify, int64_t deadline);

/* After a handshake: X509_V_OK or the X509_V_ERR_* of the chain and
 * name check, the protocol version ("TLSv1.3"), and the leaf's subject,
 * issuer and last day of validity (Unix time), for messages. */
long	imapconn_tls_verify(const struct imapconn *);
const char *imapconn_tls_version(const struct imapconn *);
int	imapconn_tls_peer(const struct imapconn *, char *subject,
	    size_t subjectlen, char *issuer, size_t issuerlen,
	    int64_t *notafter_r);

/* After a handshake: 1 if the leaf certificate names host (a DNS name,
 * wildcards as RFC 6125 allows, or an IP address), 0 if not, -1 when
 * there is no certificate.  *notbefore_r as imapconn_tls_peer's. */
int	imapconn_tls_names(const struct imapconn *, const char *host);
int	imapconn_tls_notbefore(const struct imapconn *, int64_t *notbefore_r);

/*
 * Wait until the server sends something or the deadline passes, without
 * reading it: 1 when bytes are waiting (first_r gets the first one, as
 * a peek), 0 on the deadline, -1 on an error or when the peer closed.
 * Used before TLS to tell a server that speaks first (plain IMAP) from
 * one that waits for a TLS ClientHello.
 */
int	imapconn_peek(struct imapconn *, int64_t deadline, int *first_r);

/*
 * Read one whole response into out (emptied first), without its final
 * CRLF; literals are kept as sent ("{n}" CRLF and the n bytes).  1, 0
 * when the deadline passed first (what arrived stays buffered for the
 * next call), -1 on an error.
 */
int	imapconn_read(struct imapconn *, struct buf *out, int64_t deadline);

/*
 * Commands.  imapconn_begin starts one with a new tag ("a1", "a2", ...)
 * and returns the tag; arguments are added with imapconn_atom() (as
 * written) and imapconn_string() (quoted, or a literal when it holds
 * bytes a quoted string cannot: then imapconn_send() waits for the
 * server's "+" before the literal's bytes); imapconn_send() ends the
 * line and writes it.  Responses read while waiting for a "+" are handed
 * to untagged(arg, response).  0 or -1.
 */
const char *imapconn_begin(struct imapconn *, const char *name);
int	imapconn_atom(struct imapconn *, const char *);
int	imapconn_string(struct imapconn *, const char *, size_t);
int	imapconn_send(struct imapconn *, int64_t deadline,
	    void (*untagged)(void *, const struct buf *), void *arg);

/* Write bytes as they are (IDLE's DONE). */
int	imapconn_write(struct imapconn *, const char *, size_t,
	    int64_t deadline);

const char *imapconn_error(const struct imapconn *);
enum imapconn_class imapconn_errclass(const struct imapconn *);

#endif
