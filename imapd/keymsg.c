/*
 * keymsg: the front / key process messages.  See keymsg.h for the format.
 *
 * Both directions go through the same decoder, so the key process cannot
 * be handed a request it has no rule for, and a front cannot be handed an
 * answer longer than the buffer it signs into.
 */
#include <string.h>

#include "imapd/keymsg.h"

size_t
keymsg_hashlen(enum keymsg_hash h)
{
	switch (h) {
	case KEYMSG_HASH_SHA256:
		return 32;
	case KEYMSG_HASH_SHA384:
		return 48;
	case KEYMSG_HASH_SHA512:
		return 64;
	default:
		return 0;
	}
}

/* Does the data length fit the type and hash? */
static int
valid(const struct keymsg *m)
{
	if (m->len > KEYMSG_DATA_MAX)
		return 0;
	switch (m->type) {
	case KEYMSG_RSA_PKCS1:
	case KEYMSG_ECDSA:
		/* an unknown hash has length 0: not a match for no data */
		return keymsg_hashlen(m->hash) != 0 &&
		    m->len == keymsg_hashlen(m->hash);
	case KEYMSG_RSA_PSS:
		return m->hash == KEYMSG_HASH_NONE && m->len >= KEYMSG_PSS_MIN;
	case KEYMSG_SIGNATURE:
		return m->hash == KEYMSG_HASH_NONE && m->len > 0;
	case KEYMSG_REFUSED:
		return m->hash == KEYMSG_HASH_NONE && m->len == 0;
	default:
		return 0;
	}
}

size_t
keymsg_encode(const struct keymsg *m, unsigned char *out)
{
	if (!valid(m))
		return 0;
	out[0] = (unsigned char)m->type;
	out[1] = (unsigned char)m->hash;
	out[2] = (unsigned char)(m->len >> 8);
	out[3] = (unsigned char)(m->len & 0xff);
	memcpy(out + KEYMSG_HDR, m->data, m->len);
	return KEYMSG_HDR + m->len;
}

int
keymsg_decode(const unsigned char *p, size_t n, struct keymsg *m)
{
	if (n < KEYMSG_HDR || n > KEYMSG_MAX)
		return -1;
	m->type = (enum keymsg_type)p[0];
	m->hash = (enum keymsg_hash)p[1];
	m->len = (size_t)p[2] << 8 | p[3];
	if (n != KEYMSG_HDR + m->len || !valid(m))
		return -1;
	memcpy(m->data, p + KEYMSG_HDR, m->len);
	return 0;
}
