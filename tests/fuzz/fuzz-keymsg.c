/*
 * Fuzz target: imapd/keymsg and the key process's answer to a request
 * (keyproc_sign), the one place where bytes from a front, which parsed a
 * client's TLS handshake and may be in an attacker's hands, reach the
 * private key.
 *
 * Input: a first byte, then the rest.  Bit 0 of the first byte picks the
 * form of the rest, the byte shifted right once (modulo 3) the key: an
 * RSA key of 2048 bits, one of 2049 bits (whose PSS encoding is a byte
 * shorter than the modulus), or an EC P-256 key.
 *   - bit 0 clear: the rest is a packet as a front sends it;
 *   - bit 0 set: the rest is a hash choice (a byte, modulo 3: SHA-256,
 *     -384, -512), a position (two bytes, big-endian) and a mask (a
 *     byte), then the hash H and the salt of an EMSA-PSS encoding (RFC
 *     8017 9.1.1, zeros where the input is short); the target builds
 *     the encoding for the RSA key, xors the mask into the byte at the
 *     position, and sends it as a KEYMSG_RSA_PSS request.  Random bytes
 *     are almost never a PSS encoding; this way the fuzzer works near
 *     real ones.
 *
 * Properties checked:
 *   - a packet decodes only if encoding the message gives it back byte
 *     for byte;
 *   - every request gets a SIGNATURE or REFUSED that encodes validly;
 *     a request for another kind of key is refused;
 *   - a PKCS #1 or ECDSA signature verifies with the public key;
 *   - a raw RSA block is signed exactly when it is an EMSA-PSS encoding
 *     with one of the three hashes and a salt as long as the hash, as an
 *     independent check here decides, and the signature is the raw
 *     private-key operation on that block (the public key gives it
 *     back); a freshly built encoding is always signed.
 */
/* the reference check uses OpenSSL's own MGF1, deprecated as an API but
 * code the key process does not share */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "imapd/keymsg.h"
#include "imapd/keyproc.h"
#include "tests/fuzz/fuzz.h"

#define NKEYS	3

static EVP_PKEY *keys[NKEYS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((keys[0] = EVP_RSA_gen(2048)) == NULL ||
	    (keys[1] = EVP_RSA_gen(2049)) == NULL ||
	    (keys[2] = EVP_EC_gen("P-256")) == NULL)
		fuzz_die("key generation");
	return 0;
}

/* The digest of a hash code the decoder took (1..3). */
static const EVP_MD *
md_of(enum keymsg_hash h)
{
	const EVP_MD *(*const mds[])(void) = {
		EVP_sha256, EVP_sha384, EVP_sha512,
	};

	return mds[(h - KEYMSG_HASH_SHA256) % 3]();
}

/* out[0..len) ^= MGF1(seed) with md. */
static void
mgf1(unsigned char *out, size_t len, const unsigned char *seed, size_t slen,
    const EVP_MD *md)
{
	unsigned char mask[KEYMSG_DATA_MAX];
	size_t i;

	if (PKCS1_MGF1(mask, (long)len, seed, (long)slen, md) != 0)
		fuzz_die("MGF1");
	for (i = 0; i < len; i++)
		out[i] ^= mask[i];
}

/*
 * The reference check: is block (k bytes, the modulus length of an RSA
 * key of bits bits) 00-prefixed as the length calls for and then
 * maskedDB || H || 0xbc, where unmasking gives zeros, 0x01 and a salt of
 * the hash's length, the bits above emBits being zero?
 */
static int
pss_ok(const unsigned char *block, size_t k, int bits, const EVP_MD *md)
{
	unsigned char db[KEYMSG_DATA_MAX];
	size_t emlen = (size_t)(bits - 1 + 7) / 8, hlen, dblen, i;
	unsigned zbits = (unsigned)(8 * emlen - (size_t)(bits - 1));
	const unsigned char *em = block + (k - emlen);

	hlen = (size_t)EVP_MD_get_size(md);
	if (k - emlen > 1 || (k > emlen && block[0] != 0))
		return 0;
	if (emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc)
		return 0;
	dblen = emlen - hlen - 1;
	if (zbits > 0 && (em[0] & (0xff << (8 - zbits)) & 0xff) != 0)
		return 0;
	memcpy(db, em, dblen);
	mgf1(db, dblen, em + dblen, hlen, md);
	if (zbits > 0)
		db[0] &= 0xff >> zbits;
	for (i = 0; i < dblen - hlen - 1; i++)
		if (db[i] != 0)
			return 0;
	return db[dblen - hlen - 1] == 1;
}

/* Build in q an EMSA-PSS encoding for key pk from hash choice h and the
 * bytes of H and the salt in p. */
static void
build_pss(EVP_PKEY *pk, enum keymsg_hash h, const uint8_t *p, size_t n,
    struct keymsg *q)
{
	const EVP_MD *md = md_of(h);
	int bits = EVP_PKEY_get_bits(pk);
	size_t k = (size_t)EVP_PKEY_get_size(pk);
	size_t emlen = (size_t)(bits - 1 + 7) / 8;
	size_t hlen = (size_t)EVP_MD_get_size(md), dblen = emlen - hlen - 1;
	unsigned zbits = (unsigned)(8 * emlen - (size_t)(bits - 1));
	unsigned char hs[2 * 64], *em;

	memset(hs, 0, sizeof(hs));
	memcpy(hs, p, n < 2 * hlen ? n : 2 * hlen);
	memset(q, 0, sizeof(*q));
	q->type = KEYMSG_RSA_PSS;
	q->hash = KEYMSG_HASH_NONE;
	q->len = k;
	em = q->data + (k - emlen);
	/* DB = zeros || 0x01 || salt, then masked with MGF1(H) */
	em[dblen - hlen - 1] = 1;
	memcpy(em + dblen - hlen, hs + hlen, hlen);
	memcpy(em + dblen, hs, hlen);
	mgf1(em, dblen, em + dblen, hlen, md);
	if (zbits > 0)
		em[0] &= 0xff >> zbits;
	em[emlen - 1] = 0xbc;
}

/* Check the answer a that pk gave to request q. */
static void
check_answer(EVP_PKEY *pk, const struct keymsg *q, const struct keymsg *a,
    int fresh)
{
	unsigned char pkt[KEYMSG_MAX], back[KEYMSG_DATA_MAX];
	EVP_PKEY_CTX *ctx;
	int rsa = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA, want;
	size_t k = (size_t)EVP_PKEY_get_size(pk), blen = sizeof(back);

	FUZZ_CHECK(a->type == KEYMSG_SIGNATURE || a->type == KEYMSG_REFUSED,
	    "answer type %d", a->type);
	FUZZ_CHECK(keymsg_encode(a, pkt) != 0, "answer does not encode");
	if (q->type == KEYMSG_ECDSA ? rsa : !rsa) {
		FUZZ_CHECK(a->type == KEYMSG_REFUSED,
		    "signed a request for another kind of key");
		return;
	}
	if (q->type == KEYMSG_RSA_PSS) {
		want = q->len == k &&
		    (pss_ok(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha256()) ||
		    pss_ok(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha384()) ||
		    pss_ok(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha512()));
		FUZZ_CHECK(!fresh || want, "the reference refused a fresh "
		    "encoding");
		FUZZ_CHECK(want == (a->type == KEYMSG_SIGNATURE),
		    "PSS block %s by the key process, %s by the reference",
		    a->type == KEYMSG_SIGNATURE ? "signed" : "refused",
		    want ? "shaped" : "not shaped");
		if (!want)
			return;
		if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
		    EVP_PKEY_verify_recover_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1)
			fuzz_die("verify_recover");
		FUZZ_CHECK(EVP_PKEY_verify_recover(ctx, back, &blen, a->data,
		    a->len) == 1 && blen == q->len &&
		    memcmp(back, q->data, blen) == 0,
		    "the signature is not the block raised to d");
		EVP_PKEY_CTX_free(ctx);
		return;
	}
	FUZZ_CHECK(a->type == KEYMSG_SIGNATURE, "a digest was refused");
	if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) != 1 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) !=
	    1) || EVP_PKEY_CTX_set_signature_md(ctx, md_of(q->hash)) != 1)
		fuzz_die("verify");
	FUZZ_CHECK(EVP_PKEY_verify(ctx, a->data, a->len, q->data, q->len) ==
	    1, "the signature does not verify");
	EVP_PKEY_CTX_free(ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct keymsg q, a;
	unsigned char pkt[KEYMSG_MAX];
	EVP_PKEY *pk;
	size_t n, pos;
	int fresh = 0;

	if (len < 1)
		return 0;
	pk = keys[(data[0] >> 1) % NKEYS];
	if ((data[0] & 1) == 0) {
		if (keymsg_decode(data + 1, len - 1, &q) == -1)
			return 0;
		n = keymsg_encode(&q, pkt);
		FUZZ_CHECK(n == len - 1 && memcmp(pkt, data + 1, n) == 0,
		    "decoded packet encodes otherwise");
		if (q.type == KEYMSG_SIGNATURE || q.type == KEYMSG_REFUSED)
			return 0;
	} else {
		if (len < 5)
			return 0;
		if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
			pk = keys[0];
		build_pss(pk, (enum keymsg_hash)(KEYMSG_HASH_SHA256 +
		    data[1] % 3), data + 5, len - 5, &q);
		pos = ((size_t)data[2] << 8 | data[3]) % q.len;
		q.data[pos] ^= data[4];
		fresh = data[4] == 0;
	}
	keyproc_sign(pk, &q, &a);
	check_answer(pk, &q, &a, fresh);
	return 0;
}
