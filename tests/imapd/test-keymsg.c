/* Unit tests for imapd/keymsg: the key process's decoder takes exactly
 * one well-formed message per packet and nothing else. */
#include <string.h>

#include "imapd/keymsg.h"
#include "tests/t.h"

static const struct {
	const char	*what;
	unsigned char	 hdr[KEYMSG_HDR];
	size_t		 datalen;	/* bytes after the header */
	int		 ok;
} cases[] = {
	{ "PKCS1 SHA-256", { 1, 1, 0, 32 }, 32, 1 },
	{ "PKCS1 SHA-384", { 1, 2, 0, 48 }, 48, 1 },
	{ "PKCS1 SHA-512", { 1, 3, 0, 64 }, 64, 1 },
	{ "ECDSA SHA-256", { 3, 1, 0, 32 }, 32, 1 },
	{ "PSS 2048", { 2, 0, 1, 0 }, 256, 1 },
	{ "PSS 8192", { 2, 0, 4, 0 }, 1024, 1 },
	{ "signature", { 4, 0, 0, 72 }, 72, 1 },
	{ "refused", { 5, 0, 0, 0 }, 0, 1 },
	{ "short data", { 1, 1, 0, 32 }, 31, 0 },
	{ "trailing data", { 1, 1, 0, 32 }, 33, 0 },
	{ "digest of the wrong size", { 1, 1, 0, 20 }, 20, 0 },
	{ "no hash for PKCS1", { 1, 0, 0, 32 }, 32, 0 },
	{ "unknown hash", { 3, 9, 0, 32 }, 32, 0 },
	{ "unknown hash, no digest", { 3, 5, 0, 0 }, 0, 0 },
	{ "PKCS1, unknown hash, no digest", { 1, 4, 0, 0 }, 0, 0 },
	{ "hash with PSS", { 2, 1, 1, 0 }, 256, 0 },
	{ "PSS below RSA-2048", { 2, 0, 0, 128 }, 128, 0 },
	{ "over the maximum", { 2, 0, 4, 1 }, 1025, 0 },
	{ "empty signature", { 4, 0, 0, 0 }, 0, 0 },
	{ "refusal with data", { 5, 0, 0, 1 }, 1, 0 },
	{ "type 0", { 0, 0, 0, 0 }, 0, 0 },
	{ "unknown type", { 6, 0, 0, 0 }, 0, 0 },
};

static void
test_decode(void)
{
	unsigned char pkt[KEYMSG_MAX + 8], again[KEYMSG_MAX];
	struct keymsg m;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(pkt, cases[i].hdr, KEYMSG_HDR);
		memset(pkt + KEYMSG_HDR, 0xa5, cases[i].datalen);
		n = KEYMSG_HDR + cases[i].datalen;
		CHECK_MSG((keymsg_decode(pkt, n, &m) == 0) == cases[i].ok,
		    "%s", cases[i].what);
		if (!cases[i].ok)
			continue;
		/* what decodes encodes to the same bytes */
		CHECK_INT(keymsg_encode(&m, again), n);
		CHECK(memcmp(again, pkt, n) == 0);
	}
	/* every header alone is too short for a message that has data,
	 * and a packet shorter than a header is never one */
	for (n = 0; n < KEYMSG_HDR; n++)
		CHECK(keymsg_decode(pkt, n, &m) == -1);
}

static void
test_encode_rejects(void)
{
	unsigned char pkt[KEYMSG_MAX];
	struct keymsg m;

	memset(&m, 0, sizeof(m));
	m.type = KEYMSG_ECDSA;
	m.hash = KEYMSG_HASH_SHA384;
	m.len = 32;
	CHECK_INT(keymsg_encode(&m, pkt), 0);
	m.len = 48;
	CHECK_INT(keymsg_encode(&m, pkt), KEYMSG_HDR + 48);
	m.type = KEYMSG_SIGNATURE;
	m.hash = KEYMSG_HASH_NONE;
	m.len = KEYMSG_DATA_MAX + 1;
	CHECK_INT(keymsg_encode(&m, pkt), 0);
}

int
main(void)
{
	T_RUN(test_decode);
	T_RUN(test_encode_rejects);
	return t_done();
}
