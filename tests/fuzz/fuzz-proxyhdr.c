/*
 * Fuzz target: imapd/proxyhdr, the PROXY header a proxy sends before any
 * IMAP byte.  Only a trusted proxy's bytes reach it, but it runs before
 * any other check of the connection, so it must hold against anything.
 *
 * Input: the first bytes of a connection.
 *
 * Properties checked:
 *   - the whole input parses as a header of r bytes (r <= the input, r <=
 *     PROXYHDR_MAX), as a beginning that needs more (only below
 *     PROXYHDR_MAX bytes), or as malformed;
 *   - every shorter beginning of a header parses as "needs more", and
 *     once a beginning is malformed every longer one is too: the reader
 *     can decide on the bytes it has;
 *   - a header with an address gives an IPv4 or IPv6 one of the right
 *     size;
 *   - proxyhdr_read on a socket holding the input takes the header and
 *     exactly its bytes, and fails exactly when the parser does not find
 *     a whole header.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "imapd/proxyhdr.h"
#include "imapd/session.h"
#include "tests/fuzz/fuzz.h"

static void
check_addr(const struct proxyhdr *h)
{
	FUZZ_CHECK(h->version == 1 || h->version == 2, "version %d",
	    h->version);
	if (!h->has_addr)
		return;
	FUZZ_CHECK((h->src.ss_family == AF_INET &&
	    h->srclen == sizeof(struct sockaddr_in)) ||
	    (h->src.ss_family == AF_INET6 &&
	    h->srclen == sizeof(struct sockaddr_in6)),
	    "address of family %d, %u bytes", h->src.ss_family,
	    (unsigned)h->srclen);
}

/* Through a socket, as the worker reads it. */
static void
check_read(const uint8_t *data, size_t len, int r)
{
	static uint8_t left[PROXYHDR_MAX + 64];
	struct proxyhdr h;
	const char *why = NULL;
	size_t n = 0;
	ssize_t got;
	int sp[2], rr;

	if (len > 16384)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		fuzz_die("socketpair");
	if (len > 0 && write(sp[1], data, len) != (ssize_t)len)
		fuzz_die("write");
	(void)shutdown(sp[1], SHUT_WR);
	rr = proxyhdr_read(sp[0], session_now_ms() + 5000, &h, &why);
	FUZZ_CHECK((rr == 0) == (r > 0), "read gave %d, parse %d", rr, r);
	if (rr == 0) {
		check_addr(&h);
		while (n < sizeof(left) &&
		    (got = read(sp[0], left + n, sizeof(left) - n)) > 0)
			n += (size_t)got;
		FUZZ_CHECK(n == (len - (size_t)r < sizeof(left) ?
		    len - (size_t)r : sizeof(left)) &&
		    memcmp(left, data + r, n) == 0,
		    "read took other bytes than the header's %d", r);
	} else
		FUZZ_CHECK(why != NULL && why[0] != '\0', "no reason given");
	close(sp[0]);
	close(sp[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct proxyhdr h;
	const char *why = NULL;
	size_t k, lim;
	int r, rk, bad = 0;

	r = proxyhdr_parse(data, len, &h, &why);
	FUZZ_CHECK(r >= -1 && (r <= 0 || ((size_t)r <= len &&
	    r <= PROXYHDR_MAX)), "parse gave %d for %zu bytes", r, len);
	FUZZ_CHECK(r != 0 || len < PROXYHDR_MAX,
	    "still incomplete after %zu bytes", len);
	if (r > 0)
		check_addr(&h);
	if (r == -1)
		FUZZ_CHECK(why != NULL && why[0] != '\0', "no reason given");

	lim = r > 0 ? (size_t)r : len < PROXYHDR_MAX ? len : PROXYHDR_MAX;
	for (k = 0; k < lim; k++) {
		rk = proxyhdr_parse(data, k, &h, &why);
		if (bad)
			FUZZ_CHECK(rk == -1, "%zu bytes malformed, %zu not", k - 1,
			    k);
		else if (r > 0)
			FUZZ_CHECK(rk == 0, "a header of %d bytes, but %zu "
			    "bytes parse as %d", r, k, rk);
		else
			FUZZ_CHECK(rk <= 0, "%zu bytes make a header, %zu "
			    "do not", k, len);
		bad = rk == -1;
	}
	if (bad)
		FUZZ_CHECK(r == -1, "a malformed beginning became %d", r);
	check_read(data, len, r);
	return 0;
}
