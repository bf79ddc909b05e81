/*
 * conn: one client byte stream, plain or TLS, with timeouts, and
 * optionally compressed (COMPRESS=DEFLATE, RFC 4978).
 *
 * File descriptors are put in non-blocking mode and every wait goes through
 * sig_wait(), so a read or write never hangs past its timeout and a
 * shutdown signal is seen at once.
 */
#ifndef IMAPD_CONN_H
#define IMAPD_CONN_H

#include <sys/types.h>

#include <openssl/ssl.h>

#define CONN_ERROR	(-1)
#define CONN_TIMEOUT	(-2)
#define CONN_SIGNAL	(-3)	/* a signal arrived while waiting */
#define CONN_AGAIN	(-4)	/* timeout 0 and nothing ready */

struct conn_z;

struct conn {
	int	 rfd;
	int	 wfd;
	int	 rflags;	/* fcntl flags before we changed them */
	int	 wflags;
	SSL	*ssl;		/* NULL while the stream is plain */
	int	 peer_closed;	/* the handshake failed on end of stream */
	short	 want;		/* after CONN_AGAIN: POLLIN or POLLOUT, what
				 * the stream waits for (TLS may read to
				 * write and write to read) */
	struct conn_z *z;	/* deflate state once compressed, or NULL */
	int	 stall_ms;	/* > 0: a write also fails once the client
				 * has taken no byte for this long */
	int	 stalled;	/* a write failed so: conn_close() resets */
	char	 err[128];	/* what went wrong, for the log */
};

/* Take over rfd/wfd (they may be the same socket). */
void	conn_init(struct conn *, int rfd, int wfd);

/* Run the server side of a TLS handshake on the stream; 0 or -1 (err). */
int	conn_starttls(struct conn *, SSL_CTX *, int timeout_ms);

/*
 * Read up to len bytes: > 0 bytes read, 0 end of stream, or CONN_ERROR,
 * CONN_TIMEOUT (nothing within timeout_ms; < 0 waits for ever),
 * CONN_SIGNAL, CONN_AGAIN (timeout_ms was 0).  On a compressed stream the
 * bytes are inflated, at most len of them per call, so the caller's
 * buffer bounds what a small compressed input can turn into; input that
 * does not inflate is CONN_ERROR.
 */
ssize_t	conn_read(struct conn *, void *, size_t len, int timeout_ms);

/* Write all len bytes within timeout_ms; 0, or CONN_ERROR/CONN_TIMEOUT.
 * Signals do not interrupt a write. */
int	conn_write(struct conn *, const void *, size_t len, int timeout_ms);

/* One attempt to write up to len bytes without waiting, below any
 * compression: > 0 bytes written, CONN_AGAIN (nothing now; wait for
 * c->want), or CONN_ERROR.  After CONN_AGAIN on TLS the next call must
 * offer the same bytes. */
ssize_t	conn_write_some(struct conn *, const void *, size_t len);

/*
 * From now on, deflate what is written and inflate what is read (RFC 4978:
 * raw DEFLATE, every conn_write ends on a sync flush so that the client
 * can read all of it at once).  raw holds rawlen bytes the caller has
 * already read from the stream past the point where compression starts;
 * they are the first compressed input.  0, or -1 (err says why).
 */
int	conn_compress(struct conn *, const void *raw, size_t rawlen);

/* 1 if conn_compress() has run on the stream. */
int	conn_compressed(const struct conn *);

/* Compressed bytes read from and written to the stream since
 * conn_compress(); 0 and 0 if it is not compressed. */
void	conn_wire_bytes(const struct conn *, unsigned long long *in_r,
	    unsigned long long *out_r);

/* Input already received and not yet returned by conn_read(): bytes
 * decrypted inside the TLS layer, or compressed bytes not yet inflated
 * (which may inflate to nothing). */
int	conn_pending(const struct conn *);

/* Describe the TLS session ("TLSv1.3 TLS_AES_256_GCM_SHA384") or "". */
const char *conn_tlsinfo(const struct conn *, char *, size_t);

/* Send a TLS close_notify if possible, free TLS and compression state,
 * restore the fds' flags and close them.  After a write failed on
 * stall_ms the socket is closed with a reset, so that the kernel does
 * not go on holding the bytes the client would not take. */
void	conn_close(struct conn *);

/*
 * Close after an error while the client may still be sending: send what
 * is queued, end our direction, and read and discard input for up to
 * ms milliseconds or max bytes, so that the kernel does not answer the
 * unread bytes with a reset that would destroy our last response before
 * the client reads it.  Then close as conn_close().
 */
void	conn_linger_close(struct conn *, int ms, size_t max);

/* Free TLS state without touching the fds (in a forked child). */
void	conn_forget_tls(struct conn *);

#endif
