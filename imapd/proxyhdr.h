/*
 * proxyhdr: the PROXY protocol header (HAProxy's "PROXY protocol",
 * versions 1 and 2) that a proxy in front of imapd sends before any IMAP
 * byte, so that imapd learns the address of the client the proxy serves.
 *
 * Version 1 is one text line, at most PROXYHDR_V1_MAX bytes with its CRLF:
 *
 *	PROXY TCP4 <src> <dst> <sport> <dport>\r\n
 *	PROXY TCP6 <src> <dst> <sport> <dport>\r\n
 *	PROXY UNKNOWN[ <anything>]\r\n
 *
 * fields separated by exactly one space, addresses numeric, ports decimal
 * without a sign and at most 65535.  Version 2 is binary: a 12-byte
 * signature, a version and command byte (0x20 LOCAL, 0x21 PROXY), a
 * family and transport byte, a 16-bit big-endian length, then the
 * addresses (IPv4: 4+4+2+2 bytes, IPv6: 16+16+2+2, UNIX: 108+108) and
 * type-length-value fields up to the length, which must chain exactly to
 * its end.  A whole header longer than PROXYHDR_MAX bytes is refused.
 *
 * PROXY UNKNOWN, version 2's LOCAL command and its UNSPEC or UNIX
 * families carry no client address: the connection keeps the proxy's.
 */
#ifndef IMAPD_PROXYHDR_H
#define IMAPD_PROXYHDR_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PROXYHDR_V1_MAX		107
#define PROXYHDR_MAX		536	/* the least TCP segment IPv4 allows */

struct proxyhdr {
	int			version;	/* 1 or 2 */
	int			has_addr;	/* 0: keep the proxy's address */
	struct sockaddr_storage	src;		/* the client, if has_addr */
	socklen_t		srclen;
};

/*
 * Parse the first len bytes a connection carried.  Returns the length of
 * the header when buf starts with a whole valid one (*h filled), 0 when
 * buf is a valid beginning of a header that needs more bytes (never for
 * len >= PROXYHDR_MAX), or -1 with a reason in *why_r when it cannot
 * become a valid header.
 */
int	proxyhdr_parse(const uint8_t *buf, size_t len, struct proxyhdr *h,
	    const char **why_r);

/*
 * Read a header from the socket fd, taking exactly its bytes (what the
 * client sent after it stays unread), waiting no later than deadline (by
 * session_now_ms()).  0 with *h filled, or -1 with a reason in *why_r:
 * no header, a malformed or oversized one, end of stream or timeout.
 */
int	proxyhdr_read(int fd, long long deadline, struct proxyhdr *h,
	    const char **why_r);

#endif
