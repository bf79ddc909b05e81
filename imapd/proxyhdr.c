/*
 * proxyhdr: reading the PROXY protocol header.  See proxyhdr.h for the
 * format.
 *
 * The parser is strict: anything the format does not allow (two spaces,
 * a missing CR, an address of the wrong family, a port over 65535, a
 * length field that disagrees with the addresses or with its fields) is
 * a malformed header, and the connection is refused rather than guessed
 * at.  The reader takes the header's bytes and no more, so that a client
 * that speaks first (after the proxy) loses nothing.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "common/lib/strnum.h"
#include "imapd/proxyhdr.h"
#include "imapd/session.h"

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V2_HEAD		16
#define V2_LOCAL	0x20
#define V2_PROXY	0x21
#define V2_INET		0x1
#define V2_INET6	0x2
#define V2_UNIX		0x3
#define V2_STREAM	0x1

/* The next field of a version 1 line, up to a space (or the end of the
 * line for the last), as a C string in out.  The position after it, or
 * NULL. */
static const char *
v1_field(const char *p, const char *end, int last, char *out, size_t outlen)
{
	const char *q = p;

	while (q < end && *q != ' ')
		q++;
	if (q == p || (size_t)(q - p) >= outlen || (last ? q != end :
	    q == end))
		return NULL;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return last ? q : q + 1;
}

/* A port of a version 1 line: decimal, no leading zero, at most 65535. */
static int
v1_port(const char *s, uint16_t *port_r)
{
	uint64_t v;

	if ((s[0] == '0' && s[1] != '\0') ||
	    strnum_u64(s, 65535, &v) == -1)
		return -1;
	*port_r = (uint16_t)v;
	return 0;
}

/* The line from "PROXY " to before its CRLF. */
static int
v1_parse(const char *line, size_t len, struct proxyhdr *h, const char **why_r)
{
	const char *p = line + 6, *end = line + len;
	char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char sport[8], dport[8];
	struct sockaddr_in *sin = (struct sockaddr_in *)&h->src;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->src;
	uint8_t a[16];
	uint16_t port, unused;
	int family;

	*why_r = "malformed PROXY v1 line";
	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 &&
	    (end - p == 7 || p[7] == ' '))
		return 0;		/* the proxy's own address stays */
	if ((p = v1_field(p, end, 0, proto, sizeof(proto))) == NULL)
		return -1;
	if (strcmp(proto, "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		family = AF_INET6;
	else {
		*why_r = "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN";
		return -1;
	}
	if ((p = v1_field(p, end, 0, src, sizeof(src))) == NULL ||
	    (p = v1_field(p, end, 0, dst, sizeof(dst))) == NULL ||
	    (p = v1_field(p, end, 0, sport, sizeof(sport))) == NULL ||
	    v1_field(p, end, 1, dport, sizeof(dport)) == NULL)
		return -1;
	if (inet_pton(family, src, a) != 1 || inet_pton(family, dst, a) != 1) {
		*why_r = "PROXY v1 address is not of the family named";
		return -1;
	}
	if (v1_port(sport, &port) == -1 || v1_port(dport, &unused) == -1) {
		*why_r = "PROXY v1 port is not a number from 0 to 65535";
		return -1;
	}
	h->has_addr = 1;
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		(void)inet_pton(AF_INET, src, &sin->sin_addr);
		sin->sin_port = htons(port);
		h->srclen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		(void)inet_pton(AF_INET6, src, &sin6->sin6_addr);
		sin6->sin6_port = htons(port);
		h->srclen = sizeof(*sin6);
	}
	return 0;
}

static int
v1(const uint8_t *buf, size_t len, struct proxyhdr *h, const char **why_r)
{
	const uint8_t *lf;
	size_t n = len < PROXYHDR_V1_MAX ? len : PROXYHDR_V1_MAX;

	if (memcmp(buf, "PROXY ", n < 6 ? n : 6) != 0) {
		*why_r = "no PROXY header";
		return -1;
	}
	if ((lf = memchr(buf, '\n', n)) == NULL) {
		if (len >= PROXYHDR_V1_MAX) {
			*why_r = "PROXY v1 line longer than 107 bytes";
			return -1;
		}
		return 0;
	}
	if (lf - buf < 7 || lf[-1] != '\r' ||
	    memchr(buf, '\r', (size_t)(lf - buf - 1)) != NULL ||
	    memchr(buf, '\0', (size_t)(lf - buf)) != NULL) {
		*why_r = "malformed PROXY v1 line";
		return -1;
	}
	h->version = 1;
	if (v1_parse((const char *)buf, (size_t)(lf - buf - 1), h, why_r) ==
	    -1)
		return -1;
	return (int)(lf - buf + 1);
}

/* The TLVs after the addresses must fill the rest exactly. */
static int
v2_tlvs(const uint8_t *p, size_t len)
{
	size_t n;

	while (len > 0) {
		if (len < 3)
			return -1;
		n = (size_t)p[1] << 8 | p[2];
		if (n > len - 3)
			return -1;
		p += 3 + n;
		len -= 3 + n;
	}
	return 0;
}

static int
v2(const uint8_t *buf, size_t len, struct proxyhdr *h, const char **why_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&h->src;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->src;
	size_t body, need;
	unsigned fam, proto;

	if (memcmp(buf, v2sig, len < sizeof(v2sig) ? len : sizeof(v2sig)) !=
	    0) {
		*why_r = "no PROXY header";
		return -1;
	}
	if (len > sizeof(v2sig) && buf[12] != V2_LOCAL && buf[12] != V2_PROXY) {
		*why_r = "PROXY v2 version or command unknown";
		return -1;
	}
	if (len < V2_HEAD)
		return 0;
	body = (size_t)buf[14] << 8 | buf[15];
	if (V2_HEAD + body > PROXYHDR_MAX) {
		*why_r = "PROXY v2 header longer than 536 bytes";
		return -1;
	}
	if (len < V2_HEAD + body)
		return 0;
	h->version = 2;
	fam = buf[13] >> 4;
	proto = buf[13] & 0xf;
	need = fam == V2_INET ? 12 : fam == V2_INET6 ? 36 :
	    fam == V2_UNIX ? 216 : 0;
	if (fam > V2_UNIX || proto > 2 || need > body ||
	    v2_tlvs(buf + V2_HEAD + need, body - need) == -1) {
		*why_r = "malformed PROXY v2 header";
		return -1;
	}
	/* LOCAL (the proxy speaking for itself, as a health check does)
	 * and the families without an address keep the proxy's */
	if (buf[12] == V2_PROXY && proto == V2_STREAM && fam == V2_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, buf + V2_HEAD, 4);
		memcpy(&sin->sin_port, buf + V2_HEAD + 8, 2);
		h->srclen = sizeof(*sin);
		h->has_addr = 1;
	} else if (buf[12] == V2_PROXY && proto == V2_STREAM &&
	    fam == V2_INET6) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, buf + V2_HEAD, 16);
		memcpy(&sin6->sin6_port, buf + V2_HEAD + 32, 2);
		h->srclen = sizeof(*sin6);
		h->has_addr = 1;
	} else if (buf[12] == V2_PROXY && fam != 0 && fam != V2_UNIX) {
		*why_r = "PROXY v2 transport is not a stream";
		return -1;
	}
	return (int)(V2_HEAD + body);
}

int
proxyhdr_parse(const uint8_t *buf, size_t len, struct proxyhdr *h,
    const char **why_r)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return v1(buf, len, h, why_r);
	return v2(buf, len, h, why_r);
}

/* Wait until fd is readable or deadline passes: 0, or -1 with errno. */
static int
wait_readable(int fd, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		left = deadline - session_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (r == 1)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
	}
}

int
proxyhdr_read(int fd, long long deadline, struct proxyhdr *h,
    const char **why_r)
{
	uint8_t buf[PROXYHDR_MAX];
	size_t have = 0;
	ssize_t n;
	int r;

	for (;;) {
		if (wait_readable(fd, deadline) == -1) {
			*why_r = errno == ETIMEDOUT ? "no PROXY header in time" :
			    "cannot read the PROXY header";
			return -1;
		}
		/* look first: the bytes after the header are the client's */
		n = recv(fd, buf + have, sizeof(buf) - have, MSG_PEEK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why_r = n == 0 ? "connection closed before a whole "
			    "PROXY header" : "cannot read the PROXY header";
			return -1;
		}
		r = proxyhdr_parse(buf, have + (size_t)n, h, why_r);
		if (r == -1)
			return -1;
		/* take what belongs to the header: all of it if incomplete */
		if (r > 0)
			n = (ssize_t)((size_t)r - have);
		while (n > 0) {
			ssize_t got = recv(fd, buf + have, (size_t)n, 0);

			if (got == -1 && errno == EINTR)
				continue;
			if (got <= 0) {
				*why_r = "cannot read the PROXY header";
				return -1;
			}
			have += (size_t)got;
			n -= got;
		}
		if (r > 0)
			return 0;
	}
}
