/*
 * authmsg: the typed messages between the front and the back of a
 * session, over their socketpair, before login.
 *
 * Wire format: a header of two 32-bit unsigned integers in host order
 * (the peer is our own fork), type and payload length, then the payload:
 * a sequence of fields, each a 32-bit length and that many bytes.  Each
 * type has a fixed number of fields; a message that is short, has bytes
 * left over, has a field with a NUL byte, or is over AUTHMSG_MAX is
 * rejected whole.  After an AUTHMSG_RESULT of "ok" the socket carries the
 * IMAP byte stream: relayed both ways after a login over TLS; after a
 * plaintext one, only what the client pipelined past its login command,
 * front to back, up to the front's end of the socket.
 */
#ifndef IMAPD_AUTHMSG_H
#define IMAPD_AUTHMSG_H

#include <stddef.h>
#include <stdint.h>

#define AUTHMSG_MAX	(16 * 1024)

enum authmsg_type {
	AUTHMSG_REQUEST = 1,	/* front -> back: check these credentials */
	AUTHMSG_RESULT = 2,	/* back -> front: the verdict */
};

/* AUTHMSG_REQUEST fields, in wire order */
struct authreq {
	const char *tag;	/* the command's tag, for the back's OK */
	const char *mech;	/* "LOGIN", "PLAIN" */
	const char *user;
	const char *pass;
	const char *secured;	/* "tls" or "plain" */
	const char *capability_hint;	/* carried, but no front sets it: "" */
	/* what a trusted proxy said of its client in ID (RFC 2971) fields
	 * x-originating-ip, x-originating-port and x-session-id, checked by
	 * the front; "" when it said nothing */
	const char *origin_ip;
	const char *origin_port;
	const char *origin_session;
};

enum authres_status {
	AUTHRES_OK = 1,		/* logged in; IMAP stream follows */
	AUTHRES_FAIL,		/* wrong credentials */
	AUTHRES_TEMPFAIL,	/* try again later */
	AUTHRES_LIMIT,		/* good credentials, but the user has too
				 * many sessions; the back has ended */
	/* good credentials, refused by the user's login policy */
	AUTHRES_DISABLED,	/* disabled */
	AUTHRES_NETWORK,	/* networks= */
	AUTHRES_PRIVACY,	/* tls=required */
	AUTHRES_APPONLY,	/* app-passwords=required */
	AUTHRES_HOURS,		/* hours= */
};

/* Send a request or a result; 0, or -1 with errno. */
int	authmsg_send_request(int fd, const struct authreq *);
int	authmsg_send_result(int fd, enum authres_status);

/*
 * Receive one message of the expected type into storage (which the
 * request's pointers then point into; wipe it after use).  1 received,
 * 0 end of stream before a message started, -1 malformed or I/O error,
 * -2 a shutdown signal arrived while waiting.
 */
int	authmsg_recv_request(int fd, struct authreq *, char *storage,
	    size_t storagelen);
int	authmsg_recv_result(int fd, enum authres_status *);

#endif
