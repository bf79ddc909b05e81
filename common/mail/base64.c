/*
 * base64: strict RFC 4648 encoding and decoding.  See base64.h.
 */
#include <stdint.h>

#include "common/mail/base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *in, size_t len, struct buf *out)
{
	size_t i, start = out->len;
	int v[4], k, pad;
	unsigned char b[3];

	if (len % 4 != 0)
		return -1;
	/* room for all of it first: growing half way would leave what was
	 * decoded so far (a password) in memory realloc() gives back */
	if (buf_reserve(out, len / 4 * 3) == -1)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = base64_value(c)) < 0)
				goto bad;
		}
		b[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		b[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		b[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		/* the bits that padding drops must be zero */
		if ((pad == 2 && (v[1] & 15) != 0) ||
		    (pad == 1 && (v[2] & 3) != 0))
			goto bad;
		if (buf_add(out, b, (size_t)(3 - pad)) == -1)
			goto bad;
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

int
base64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	size_t i, start = out->len;
	char q[4];
	uint32_t n;

	for (i = 0; i < len; i += 3) {
		n = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			n |= p[i + 2];
		q[0] = alphabet[n >> 18 & 63];
		q[1] = alphabet[n >> 12 & 63];
		q[2] = i + 1 < len ? alphabet[n >> 6 & 63] : '=';
		q[3] = i + 2 < len ? alphabet[n & 63] : '=';
		if (buf_add(out, q, 4) == -1) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}
