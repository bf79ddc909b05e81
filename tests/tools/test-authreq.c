/*
 * Unit tests for tools/authreq: requests as nginx's mail proxy sends
 * them and the ways one can be wrong, each parsed whole and over its
 * growing beginnings, as the router sees them arrive a byte at a time.
 */
#include <stdio.h>
#include <string.h>

#include "tests/t.h"
#include "tools/authreq.h"

#define NGINX_HEAD	"GET /auth HTTP/1.0\r\nHost: localhost\r\n" \
			"Auth-Method: plain\r\n"
#define NGINX_TAIL	"Auth-Pass: s%25cret\r\nAuth-Protocol: imap\r\n" \
			"Auth-Login-Attempt: 2\r\nClient-IP: 192.0.2.7\r\n" \
			"Client-Host: [UNAVAILABLE]\r\n\r\n"

static const struct {
	const char	*in;
	int		 r;		/* whole */
	const char	*user;		/* when r == 0 */
	const char	*why;		/* when r == -1 */
} cases[] = {
	{ NGINX_HEAD "Auth-User: bob\r\n" NGINX_TAIL, 0, "bob", NULL },
	{ NGINX_HEAD "Auth-User: Bob%40Example.ORG\r\n" NGINX_TAIL, 0,
	    "bob@example.org", NULL },
	{ "GET / HTTP/1.1\r\nauth-user:x\r\nclient-ip: ::1\r\n\r\n", 0, "x",
	    NULL },
	{ NGINX_HEAD "Auth-User: bob\r\n", 1, NULL, NULL },
	{ NGINX_HEAD NGINX_TAIL, -1, NULL, "no Auth-User" },
	{ "GET /auth HTTP/1.0\r\nAuth-User: bob\r\n\r\n", -1, NULL,
	    "no Client-IP" },
	{ "HEAD /auth HTTP/1.0\r\n\r\n", -1, NULL, "not a GET request" },
	{ "GET /auth HTTP/2\r\n\r\n", -1, NULL, "not HTTP/1.0 or HTTP/1.1" },
	{ "GET  HTTP/1.0\r\n\r\n", -1, NULL, "bad request line" },
	{ "GET /auth HTTP/1.0\n", -1, NULL, "line not ended by CRLF" },
	{ NGINX_HEAD "Auth-User: a\r\nAuth-User: b\r\n", -1, NULL,
	    "Auth-User given twice" },
	{ NGINX_HEAD "Auth-User: a%4\r\n", -1, NULL,
	    "bad %-escape in Auth-User" },
	{ NGINX_HEAD "Auth-User: a%0d\r\n", -1, NULL,
	    "control character in Auth-User" },
	{ NGINX_HEAD "Auth-User: %20\r\nAuth-User\r\n", -1, NULL,
	    "bad header line" },
	{ NGINX_HEAD "Auth-User:\r\n", -1, NULL, "empty Auth-User" },
	{ NGINX_HEAD "Auth User: a\r\n", -1, NULL, "bad header name" },
	{ NGINX_HEAD " folded\r\n", -1, NULL, "folded header line" },
	{ NGINX_HEAD "Auth-Protocol: smtp\r\n", -1, NULL,
	    "Auth-Protocol is not imap" },
	{ NGINX_HEAD "Auth-Login-Attempt: -1\r\n", -1, NULL,
	    "bad Auth-Login-Attempt" },
	{ NGINX_HEAD "Client-IP: host.example\r\n", -1, NULL,
	    "bad Client-IP" },
	{ NGINX_HEAD "X-A: \x7f\r\n", -1, NULL,
	    "control character in a header" },
};

/* Every beginning shorter than the whole parses as "needs more" until the
 * whole's answer, which it then keeps. */
static void
check_beginnings(const char *in, int r)
{
	struct authreq rq;
	const char *why;
	size_t len = strlen(in), k;
	int rk, settled = 0;

	for (k = 0; k < len; k++) {
		rk = authreq_parse(in, k, &rq, &why);
		if (settled)
			CHECK_MSG(rk == r, "%zu bytes of %s: %d", k, in, rk);
		else if (rk != 1) {
			CHECK_MSG(rk == r, "%zu bytes of %s: %d", k, in, rk);
			settled = 1;
		}
	}
}

static void
test_table(void)
{
	struct authreq rq;
	const char *why;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		r = authreq_parse(cases[i].in, strlen(cases[i].in), &rq, &why);
		CHECK_MSG(r == cases[i].r, "case %zu: %d", i, r);
		if (r == 0 && cases[i].r == 0)
			CHECK_STR(rq.user, cases[i].user);
		if (r == -1 && cases[i].r == -1)
			CHECK_STR(why, cases[i].why);
		check_beginnings(cases[i].in, cases[i].r);
	}
	r = authreq_parse(cases[0].in, strlen(cases[0].in), &rq, &why);
	CHECK_INT(rq.attempt, 2);
	CHECK_STR(rq.rip, "192.0.2.7");
}

/* Limits: a line, the header count, the whole. */
static void
test_limits(void)
{
	static char in[AUTHREQ_MAX + 4096];
	struct authreq rq;
	const char *why = NULL;
	size_t n;
	int i;

	/* a line of exactly the limit is fine, one more byte is not */
	n = (size_t)snprintf(in, sizeof(in), "GET /auth HTTP/1.0\r\nX-L: ");
	memset(in + n, 'a', AUTHREQ_LINE_MAX - 5);
	n += AUTHREQ_LINE_MAX - 5;
	CHECK_INT(authreq_parse(in, n, &rq, &why), 1);
	memcpy(in + n, "\r", 1);
	CHECK_INT(authreq_parse(in, n + 1, &rq, &why), 1);
	memcpy(in + n, "\r\n", 2);
	CHECK_INT(authreq_parse(in, n + 2, &rq, &why), 1);
	memcpy(in + n, "a\r\n", 3);
	CHECK_INT(authreq_parse(in, n + 3, &rq, &why), -1);
	CHECK_STR(why, "line too long");

	n = (size_t)snprintf(in, sizeof(in), "GET /auth HTTP/1.0\r\n");
	for (i = 0; i < AUTHREQ_HEADERS_MAX; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%d: y\r\n", i);
	CHECK_INT(authreq_parse(in, n, &rq, &why), 1);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "X-last: y\r\n");
	CHECK_INT(authreq_parse(in, n, &rq, &why), -1);
	CHECK_STR(why, "too many headers");

	n = (size_t)snprintf(in, sizeof(in), "GET /auth HTTP/1.0\r\n");
	for (i = 0; i < 9; i++) {
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%d: ", i);
		memset(in + n, 'z', 1000);
		n += 1000;
		memcpy(in + n, "\r\n", 2);
		n += 2;
	}
	CHECK_INT(authreq_parse(in, AUTHREQ_MAX - 1, &rq, &why), 1);
	CHECK_INT(authreq_parse(in, AUTHREQ_MAX, &rq, &why), -1);
	CHECK_STR(why, "request too large");
}

int
main(void)
{
	test_table();
	test_limits();
	return t_done();
}
