/*
 * Fuzz target: tools/authreq, the request imapd-router reads from
 * nginx's mail proxy.  Only nginx should connect, but the router listens
 * on a socket anyone on its network can reach, and the parser runs on
 * every byte before anything else is known.
 *
 * Input: the bytes of one connection.
 *
 * Properties checked:
 *   - the parse is whole (0), needs more (1, only below AUTHREQ_MAX
 *     bytes) or malformed (-1, with a reason);
 *   - a whole request has a user name of 1 to AUTHREQ_USER_MAX bytes,
 *     with no control character and no upper-case ASCII letter, and a
 *     Client-IP that is a numeric address;
 *   - the beginnings of the input ending at each line feed, at half the
 *     input and one byte short of it parse as "needs more" until one is
 *     whole or malformed, and every longer one then parses the same:
 *     the router can answer on the bytes it has.
 */
#include <stdint.h>
#include <string.h>

#include "common/lib/cidr.h"
#include "tests/fuzz/fuzz.h"
#include "tools/authreq.h"

static void
check_whole(const struct authreq *rq)
{
	size_t n = strlen(rq->user), i;
	int family;
	uint8_t a[16];

	FUZZ_CHECK(n >= 1 && n <= AUTHREQ_USER_MAX, "user of %zu bytes", n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rq->user[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f && !(c >= 'A' && c <= 'Z'),
		    "user byte 0x%02x", c);
	}
	FUZZ_CHECK(cidr_addr(rq->rip, &family, a) == 0, "Client-IP %s",
	    rq->rip);
}

static int
parse(const uint8_t *data, size_t len, struct authreq *rq)
{
	const char *why = NULL;
	int r;

	r = authreq_parse((const char *)data, len, rq, &why);
	FUZZ_CHECK(r >= -1 && r <= 1, "parse gave %d", r);
	FUZZ_CHECK(r != 1 || len < AUTHREQ_MAX,
	    "still incomplete after %zu bytes", len);
	if (r == -1)
		FUZZ_CHECK(why != NULL && why[0] != '\0', "no reason given");
	if (r == 0)
		check_whole(rq);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct authreq rq;
	size_t k;
	int r, rk, seen = 1;

	r = parse(data, len, &rq);
	for (k = 0; k < len; k++) {
		if (data[k] != '\n' && k != len / 2 && k + 1 != len)
			continue;
		rk = parse(data, k, &rq);
		if (seen != 1)
			FUZZ_CHECK(rk == seen, "%zu bytes parse as %d, fewer "
			    "as %d", k, rk, seen);
		seen = rk;
	}
	if (seen != 1)
		FUZZ_CHECK(r == seen, "the whole input parses as %d, a "
		    "beginning as %d", r, seen);
	return 0;
}
