/*
 * authreq: the request nginx's mail proxy sends its auth_http service
 * (imapd-router(8), PROTOCOL), parsed strictly and with limits:
 *
 *	GET <target> HTTP/1.0 (or 1.1) CRLF
 *	<Name>: <value> CRLF		at most AUTHREQ_HEADERS_MAX
 *	CRLF
 *
 * each line at most AUTHREQ_LINE_MAX bytes, the whole at most AUTHREQ_MAX.
 * Auth-User (%-escaped by nginx) and Client-IP (a numeric address) are
 * required once each; Auth-Protocol, when present, must be imap;
 * Auth-Login-Attempt, when present, a number.  Other headers are skipped.
 */
#ifndef TOOLS_AUTHREQ_H
#define TOOLS_AUTHREQ_H

#include <stddef.h>

#define AUTHREQ_MAX		8192
#define AUTHREQ_LINE_MAX	2048
#define AUTHREQ_HEADERS_MAX	32
#define AUTHREQ_USER_MAX	255

struct authreq {
	char		user[AUTHREQ_USER_MAX + 1];	/* decoded, ASCII
							 * letters folded to
							 * lower case */
	char		rip[64];	/* Client-IP */
	unsigned	attempt;	/* Auth-Login-Attempt; 0 if none */
};

/*
 * Parse the bytes received so far, data[0..len).  1: more bytes are
 * needed (len < AUTHREQ_MAX); 0: a whole request, in *rq; -1: malformed,
 * and *why_r says how, in words for the log that never quote the input.
 * Once a beginning is malformed every longer one is too.
 */
int	authreq_parse(const char *data, size_t len, struct authreq *rq,
	    const char **why_r);

#endif
