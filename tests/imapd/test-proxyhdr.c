/*
 * Unit tests for imapd/proxyhdr: headers as proxies send them, and every
 * way one can be wrong, each parsed whole, over its growing beginnings
 * (as the reader sees it arrive), and read from a socket it reaches one
 * byte at a time, followed by the client's first command.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imapd/proxyhdr.h"
#include "tests/t.h"

/* The clock the reader's deadline counts on (imapd/session.c's, which
 * this test does not link). */
long long session_now_ms(void);

long long
session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define V2SIG	"\r\n\r\n\0\r\nQUIT\n"

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 ok;
	const char	*addr;		/* NULL: no client address */
	unsigned	 port;
	const char	*why;		/* part of the reason, if !ok */
} cases[] = {
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 50123 143\r\n", 0, 1, "192.0.2.7",
	    50123, NULL },
	{ "PROXY TCP6 2001:db8::7 ::1 0 993\r\n", 0, 1, "2001:db8::7", 0,
	    NULL },
	{ "PROXY UNKNOWN\r\n", 0, 1, NULL, 0, NULL },
	{ "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", 0,
	    1, NULL, 0, NULL },
	{ V2SIG "\x21\x11\x00\x0c\xc0\x00\x02\x07\x7f\x00\x00\x01\xc3\xcb"
	    "\x00\x8f", 28, 1, "192.0.2.7", 50123, NULL },
	{ V2SIG "\x20\x00\x00\x00", 16, 1, NULL, 0, NULL },
	{ V2SIG "\x21\x11\x00\x10\xc0\x00\x02\x07\x7f\x00\x00\x01\xc3\xcb"
	    "\x00\x8f\x04\x00\x01\x41", 32, 1, "192.0.2.7", 50123, NULL },
	{ "a1 LOGIN u p\r\n", 0, 0, NULL, 0, "no PROXY header" },
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 50123 143\n", 0, 0, NULL, 0,
	    "malformed" },
	{ "PROXY TCP4  192.0.2.7 127.0.0.1 1 2\r\n", 0, 0, NULL, 0,
	    "malformed" },
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 1 2 \r\n", 0, 0, NULL, 0,
	    "malformed" },
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 01 2\r\n", 0, 0, NULL, 0, "port" },
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 1 65536\r\n", 0, 0, NULL, 0,
	    "port" },
	{ "PROXY TCP6 192.0.2.7 127.0.0.1 1 2\r\n", 0, 0, NULL, 0, "family" },
	{ "PROXY TCP4 192.0.2.256 127.0.0.1 1 2\r\n", 0, 0, NULL, 0,
	    "family" },
	{ "PROXY tcp4 192.0.2.7 127.0.0.1 1 2\r\n", 0, 0, NULL, 0, "TCP4" },
	{ "PROXY UNKNOWNX\r\n", 0, 0, NULL, 0, "malformed" },
	{ "PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n", 0, 0, NULL, 0, "TCP4" },
	{ "PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\r\n", 0, 0, NULL, 0,
	    "malformed" },
	{ "PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901"
	    "23456789012345678901234567890123456789012345678901234\r\n", 0, 0,
	    NULL, 0, "longer than 107" },
	{ V2SIG "\x21\x11\x00\x0b\xc0\x00\x02\x07\x7f\x00\x00\x01\xc3\xcb"
	    "\x00", 27, 0, NULL, 0, "malformed PROXY v2" },
	{ V2SIG "\x21\x11\x00\x0e\xc0\x00\x02\x07\x7f\x00\x00\x01\xc3\xcb"
	    "\x00\x8f\x04\x00", 30, 0, NULL, 0, "malformed PROXY v2" },
	{ V2SIG "\x11\x11\x00\x00", 16, 0, NULL, 0, "version or command" },
	{ V2SIG "\x21\x41\x00\x00", 16, 0, NULL, 0, "malformed PROXY v2" },
	{ V2SIG "\x21\x12\x00\x0c\xc0\x00\x02\x07\x7f\x00\x00\x01\xc3\xcb"
	    "\x00\x8f", 28, 0, NULL, 0, "not a stream" },
	{ V2SIG "\x21\x11\x02\x09", 16, 0, NULL, 0, "longer than 536" },
	{ "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00", 16, 0, NULL, 0,
	    "no PROXY header" },
};

static size_t
len_of(size_t i)
{
	return cases[i].len != 0 ? cases[i].len : strlen(cases[i].in);
}

static void
check_addr(size_t i, const struct proxyhdr *h)
{
	char a[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	CHECK_MSG(h->has_addr == (cases[i].addr != NULL), "case %zu", i);
	if (!h->has_addr || cases[i].addr == NULL)
		return;
	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&h->src;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const void *)&h->src;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	}
	CHECK_STR(a, cases[i].addr);
	CHECK_INT(port, cases[i].port);
}

static void
test_parse(void)
{
	struct proxyhdr h;
	const char *why;
	size_t i, k, n;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = len_of(i);
		why = NULL;
		r = proxyhdr_parse((const uint8_t *)cases[i].in, n, &h, &why);
		if (cases[i].ok) {
			CHECK_MSG(r == (int)n, "case %zu: %d", i, r);
			check_addr(i, &h);
			/* every beginning asks for more */
			for (k = 0; k < n; k++)
				CHECK_MSG(proxyhdr_parse((const uint8_t *)
				    cases[i].in, k, &h, &why) == 0,
				    "case %zu at %zu", i, k);
		} else {
			CHECK_MSG(r == -1, "case %zu: %d", i, r);
			CHECK_MSG(why != NULL && strstr(why, cases[i].why) !=
			    NULL, "case %zu: %s", i, why ? why : "(none)");
		}
	}
}

/* The header one byte at a time, then a command, from another process. */
static void
test_read(void)
{
	static const char cmd[] = "a1 CAPABILITY\r\n";
	struct proxyhdr h;
	const char *why;
	char rest[64];
	size_t i, k, n;
	ssize_t got;
	pid_t pid;
	int sp[2], r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = len_of(i);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1) {
			perror("socketpair");
			t_fail++;
			return;
		}
		if ((pid = fork()) == -1) {
			perror("fork");
			t_fail++;
			return;
		}
		if (pid == 0) {
			close(sp[0]);
			for (k = 0; k < n; k++)
				if (write(sp[1], cases[i].in + k, 1) != 1)
					_exit(1);
			if (write(sp[1], cmd, sizeof(cmd) - 1) !=
			    (ssize_t)sizeof(cmd) - 1)
				_exit(1);
			_exit(0);
		}
		close(sp[1]);
		why = NULL;
		r = proxyhdr_read(sp[0], session_now_ms() + 10000, &h, &why);
		CHECK_MSG((r == 0) == cases[i].ok, "case %zu: %d %s", i, r,
		    why ? why : "");
		if (r == 0) {
			check_addr(i, &h);
			got = read(sp[0], rest, sizeof(rest));
			CHECK_MSG(got == (ssize_t)(sizeof(cmd) - 1) &&
			    memcmp(rest, cmd, sizeof(cmd) - 1) == 0,
			    "case %zu: the command after the header", i);
		}
		close(sp[0]);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			continue;
	}
}

int
main(void)
{
	T_RUN(test_parse);
	T_RUN(test_read);
	return t_done();
}
