/*
 * authreq: the request nginx's mail proxy sends its auth_http service.
 * See authreq.h.
 *
 * The request is parsed from its first byte each time more arrives: it
 * is at most AUTHREQ_MAX bytes, and a parser that keeps no state between
 * calls cannot be left half-way by a short read.  The Auth-Pass value is
 * skipped where it lies and never copied.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/lib/cidr.h"
#include "common/lib/strnum.h"
#include "tools/authreq.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* nginx escapes the user name (%XX); decode and fold ASCII case. */
static const char *
authreq_user(const char *v, size_t len, char *out)
{
	size_t i, o = 0;
	int c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)v[i];
		if (c == '%') {
			if (i + 2 >= len)
				return "bad %-escape in Auth-User";
			hi = hexval((unsigned char)v[i + 1]);
			lo = hexval((unsigned char)v[i + 2]);
			if (hi == -1 || lo == -1)
				return "bad %-escape in Auth-User";
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return "control character in Auth-User";
		if (o == AUTHREQ_USER_MAX)
			return "Auth-User too long";
		out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (o == 0)
		return "empty Auth-User";
	out[o] = '\0';
	return NULL;
}

static int
header_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && strncasecmp(line, name, nlen) == 0;
}

/* One header line (no CRLF); NULL or why it is refused. */
static const char *
authreq_header(const char *line, size_t len, struct authreq *rq,
    unsigned *seen)
{
	size_t nlen, i;
	const char *v;
	size_t vlen;
	int family;
	uint8_t a[16];
	char num[16];

	for (nlen = 0; nlen < len && line[nlen] != ':'; nlen++) {
		char c = line[nlen];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return "bad header name";
	}
	if (nlen == 0 || nlen == len)
		return "bad header line";
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') ||
		    v[i] == 0x7f)
			return "control character in a header";
	if (header_is(line, nlen, "Auth-User")) {
		if (*seen & 1)
			return "Auth-User given twice";
		*seen |= 1;
		return authreq_user(v, vlen, rq->user);
	}
	if (header_is(line, nlen, "Client-IP")) {
		if (*seen & 2)
			return "Client-IP given twice";
		*seen |= 2;
		if (vlen >= sizeof(rq->rip))
			return "bad Client-IP";
		memcpy(rq->rip, v, vlen);
		rq->rip[vlen] = '\0';
		return cidr_addr(rq->rip, &family, a) == -1 ?
		    "bad Client-IP" : NULL;
	}
	if (header_is(line, nlen, "Auth-Protocol")) {
		if (vlen != 4 || strncasecmp(v, "imap", 4) != 0)
			return "Auth-Protocol is not imap";
		return NULL;
	}
	if (header_is(line, nlen, "Auth-Login-Attempt")) {
		if (vlen >= sizeof(num))
			return "bad Auth-Login-Attempt";
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		return strnum_uint(num, 1000000, &rq->attempt) == -1 ?
		    "bad Auth-Login-Attempt" : NULL;
	}
	/* Auth-Pass and the rest: not needed, not copied */
	return NULL;
}

static const char *
authreq_line(const char *line, size_t len)
{
	const char *sp;
	size_t i;

	if (len < 4 || memcmp(line, "GET ", 4) != 0)
		return "not a GET request";
	if ((sp = memchr(line + 4, ' ', len - 4)) == NULL || sp == line + 4)
		return "bad request line";
	for (i = 4; line + i < sp; i++)
		if ((unsigned char)line[i] <= 0x20 || line[i] == 0x7f)
			return "bad request target";
	i = (size_t)(line + len - (sp + 1));
	if (!(i == 8 && (memcmp(sp + 1, "HTTP/1.0", 8) == 0 ||
	    memcmp(sp + 1, "HTTP/1.1", 8) == 0)))
		return "not HTTP/1.0 or HTTP/1.1";
	return NULL;
}

int
authreq_parse(const char *data, size_t len, struct authreq *rq,
    const char **why_r)
{
	const char *p = data, *end = data + len, *nl;
	size_t ll;
	unsigned nlines = 0, seen = 0;

	memset(rq, 0, sizeof(*rq));
	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			/* a line may hold LINE_MAX bytes and its CR */
			if ((size_t)(end - p) > AUTHREQ_LINE_MAX + 1) {
				*why_r = "line too long";
				return -1;
			}
			if (len >= AUTHREQ_MAX) {
				*why_r = "request too large";
				return -1;
			}
			return 1;
		}
		if (nl == p || nl[-1] != '\r') {
			*why_r = "line not ended by CRLF";
			return -1;
		}
		ll = (size_t)(nl - 1 - p);
		if (ll > AUTHREQ_LINE_MAX) {
			*why_r = "line too long";
			return -1;
		}
		if (memchr(p, '\0', ll) != NULL) {
			*why_r = "NUL byte";
			return -1;
		}
		if (nlines == 0)
			*why_r = authreq_line(p, ll);
		else if (ll == 0)
			break;
		else if (nlines > AUTHREQ_HEADERS_MAX)
			*why_r = "too many headers";
		else if (*p == ' ' || *p == '\t')
			*why_r = "folded header line";
		else
			*why_r = authreq_header(p, ll, rq, &seen);
		if (*why_r != NULL)
			return -1;
		nlines++;
		p = nl + 1;
	}
	if (!(seen & 1))
		*why_r = "no Auth-User";
	else if (!(seen & 2))
		*why_r = "no Client-IP";
	else
		return 0;
	return -1;
}
