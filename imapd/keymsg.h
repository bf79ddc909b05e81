/*
 * keymsg: the typed messages between a front and the key process, over
 * the SOCK_SEQPACKET channel the master made for that front's worker.
 *
 * A channel carries one request and its answer, then the key process
 * closes it.  A message is one packet: a 4-byte header (type, hash, and
 * the length of the data as a 16-bit big-endian number) and exactly that
 * many bytes of data.  A packet that is short, longer than its header
 * says, over KEYMSG_MAX, of an unknown type or hash, or whose data does
 * not have the length its type and hash call for is rejected whole.
 *
 *   KEYMSG_RSA_PKCS1  data: the digest; hash: the digest algorithm.
 *                     The key process signs it with PKCS #1 v1.5.
 *   KEYMSG_RSA_PSS    data: an RSA-PSS encoded block as long as the
 *                     modulus; hash: KEYMSG_HASH_NONE.  The key process
 *                     applies the private key to it only if it is a
 *                     well-formed PSS encoding (SHA-256, -384 or -512,
 *                     salt as long as the hash), so the channel is not a
 *                     way to decrypt.
 *   KEYMSG_ECDSA      data: the digest; hash: the digest algorithm.
 *   KEYMSG_SIGNATURE  (answer) data: the signature, DER for ECDSA.
 *   KEYMSG_REFUSED    (answer) no data: the request was well formed but
 *                     not signed (the key does not fit the request).
 */
#ifndef IMAPD_KEYMSG_H
#define IMAPD_KEYMSG_H

#include <stddef.h>
#include <stdint.h>

#define KEYMSG_HDR		4
#define KEYMSG_DATA_MAX		1024	/* an RSA-8192 signature */
#define KEYMSG_PSS_MIN		256	/* RSA-2048, the least TLS allows here */
#define KEYMSG_MAX		(KEYMSG_HDR + KEYMSG_DATA_MAX)

enum keymsg_type {
	KEYMSG_RSA_PKCS1 = 1,
	KEYMSG_RSA_PSS,
	KEYMSG_ECDSA,
	KEYMSG_SIGNATURE,
	KEYMSG_REFUSED,
};

enum keymsg_hash {
	KEYMSG_HASH_NONE = 0,
	KEYMSG_HASH_SHA256,
	KEYMSG_HASH_SHA384,
	KEYMSG_HASH_SHA512,
};

struct keymsg {
	enum keymsg_type	 type;
	enum keymsg_hash	 hash;
	size_t			 len;
	unsigned char		 data[KEYMSG_DATA_MAX];
};

/* The digest length of a hash, 0 for KEYMSG_HASH_NONE or an unknown one. */
size_t	keymsg_hashlen(enum keymsg_hash);

/* Encode m into out (KEYMSG_MAX bytes); the packet's length, or 0 if m
 * is not a valid message. */
size_t	keymsg_encode(const struct keymsg *m, unsigned char *out);

/* Decode one packet of n bytes into m; 0, or -1 if it is not exactly one
 * valid message. */
int	keymsg_decode(const unsigned char *p, size_t n, struct keymsg *m);

#endif
