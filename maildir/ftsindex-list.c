/*
 * ftsindex-list: the byte form of the full-text index's posting lists
 * and segments, and its CRCs (the format is at the top of ftsindex.c).
 */

#include <string.h>
#include <zlib.h>

#include "common/lib/le.h"
#include "common/lib/sorted.h"
#include "maildir/ftsindex-private.h"

static uint32_t
crc_more(uint32_t c, const unsigned char *p, uint64_t len)
{
	while (len > 0) {
		uInt n = len > 0x40000000U ? 0x40000000U : (uInt)len;

		c = (uint32_t)crc32(c, p, n);
		p += n;
		len -= n;
	}
	return c;
}

uint32_t
fi_crc(const unsigned char *p, uint64_t len)
{
	return crc_more(0, p, len);
}

uint32_t
fi_record_crc(const unsigned char *rec, uint32_t len)
{
	return crc_more(fi_crc(rec + 4, 4), rec + REC_HEAD, len);
}

/* ---- lists ---------------------------------------------------------- */

static int
get_varint(const unsigned char **p, const unsigned char *end, uint32_t *v_r)
{
	uint32_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 35; shift += 7) {
		if (*p >= end)
			return -1;
		v |= (uint32_t)(**p & 0x7f) << shift;
		if ((*(*p)++ & 0x80) == 0) {
			*v_r = v;
			return 0;
		}
	}
	return -1;
}

static size_t
varint_len(uint32_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void
put_varint(unsigned char **p, uint32_t v)
{
	while (v >= 0x80) {
		*(*p)++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*(*p)++ = (unsigned char)v;
}

int
fi_list_encode(const uint32_t *uids, size_t n, struct buf *out)
{
	uint64_t sparse = 1 + varint_len((uint32_t)n), bits, bytes;
	unsigned char *p, *start;
	uint32_t prev = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		sparse += varint_len(uids[i] - prev);
		prev = uids[i];
	}
	bits = (uint64_t)uids[n - 1] - uids[0] + 1;
	bytes = 9 + (bits + 7) / 8;
	if (buf_reserve(out, (size_t)(sparse < bytes ? sparse : bytes)) == -1)
		return -1;
	start = p = (unsigned char *)out->data + out->len;
	if (sparse <= bytes) {
		*p++ = LIST_SPARSE;
		put_varint(&p, (uint32_t)n);
		for (prev = 0, i = 0; i < n; i++) {
			put_varint(&p, uids[i] - prev);
			prev = uids[i];
		}
	} else {
		*p++ = LIST_BITMAP;
		le32_put(p, uids[0]);
		le32_put(p + 4, (uint32_t)bits);
		p += 8;
		memset(p, 0, (size_t)(bytes - 9));
		for (i = 0; i < n; i++)
			p[(uids[i] - uids[0]) / 8] |= (unsigned char)
			    (1U << ((uids[i] - uids[0]) % 8));
		p += bytes - 9;
	}
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
	return 0;
}

/* A list's header: its form, and where its UIDs start.  The count of a
 * sparse list, or the base and bits of a bitmap.  0, or -1 (damage). */
static int
list_head(const unsigned char *p, uint64_t len, uint32_t *count_r,
    uint32_t *base_r, uint32_t *bits_r, const unsigned char **body_r)
{
	const unsigned char *q = p + 1;

	if (len < 2)
		return -1;
	if (*p == LIST_SPARSE) {
		if (get_varint(&q, p + len, count_r) == -1 || *count_r == 0 ||
		    *count_r > len)
			return -1;
		*body_r = q;
		return 0;
	}
	if (*p != LIST_BITMAP || len < 10)
		return -1;
	*base_r = le32_get(p + 1);
	*bits_r = le32_get(p + 5);
	*body_r = p + 9;
	if (*base_r == 0 || *bits_r == 0 || (uint64_t)*base_r + *bits_r >
	    UID_LIMIT || ((uint64_t)*bits_r + 7) / 8 != len - 9)
		return -1;
	*count_r = 0;
	return 0;
}

/* The next UID of a sparse list, into *uid (the one before on entry).
 * 0, or -1 (damage). */
static int
sparse_next(const unsigned char **p, const unsigned char *end,
    uint64_t *uid)
{
	uint32_t v;

	if (get_varint(p, end, &v) == -1 || v == 0 ||
	    (*uid += v) >= UID_LIMIT)
		return -1;
	return 0;
}

uint64_t
fi_list_bound(const unsigned char *p, uint64_t len)
{
	uint32_t count, base, bits;
	const unsigned char *b;

	if (list_head(p, len, &count, &base, &bits, &b) == -1)
		return 0;
	return *p == LIST_SPARSE ? count : bits;
}

long
fi_list_uids(const unsigned char *p, uint64_t len, uint32_t *out)
{
	const unsigned char *end = p + len, *b;
	uint32_t count, base, bits, i, bit;
	uint64_t uid = 0;
	size_t n = 0, nb;
	unsigned x;

	if (list_head(p, len, &count, &base, &bits, &b) == -1)
		return -1;
	if (*p == LIST_SPARSE) {
		for (i = 0; i < count; i++) {
			if (sparse_next(&b, end, &uid) == -1)
				return -1;
			out[n++] = (uint32_t)uid;
		}
		return b == end ? (long)n : -1;
	}
	nb = (size_t)(len - 9);
	for (i = 0; i < nb; i++)
		for (x = b[i]; x != 0; x &= x - 1) {
			bit = (uint32_t)i * 8 + (uint32_t)__builtin_ctz(x);
			if (bit < bits)
				out[n++] = base + bit;
		}
	return (long)n;
}

int
fi_list_bits(const unsigned char *p, uint64_t len, uint32_t limit,
    uint64_t *bits)
{
	const unsigned char *end = p + len, *b;
	uint32_t count, base, nbits, i;
	uint64_t uid = 0, u;
	size_t nb;

	if (list_head(p, len, &count, &base, &nbits, &b) == -1)
		return -1;
	if (*p == LIST_SPARSE) {
		for (i = 0; i < count; i++) {
			if (sparse_next(&b, end, &uid) == -1)
				return -1;
			if (uid < limit)
				bits[uid / 64] |= 1ULL << (uid % 64);
		}
		return b == end ? 0 : -1;
	}
	/* a byte at a time: eight UIDs in one or two words */
	nb = (size_t)(len - 9);
	for (i = 0; i < nb; i++) {
		if (b[i] == 0)
			continue;
		u = (uint64_t)base + 8 * (uint64_t)i;
		if (u >= limit)
			break;
		bits[u / 64] |= (uint64_t)b[i] << (u % 64);
		if (u % 64 > 56 && (u / 64 + 1) * 64 < limit)
			bits[u / 64 + 1] |= (uint64_t)b[i] >> (64 - u % 64);
	}
	/* nothing at or past limit */
	if (limit % 64 != 0)
		bits[limit / 64] &= (1ULL << (limit % 64)) - 1;
	return 0;
}

/* ---- segments --------------------------------------------------------- */

static int
ranges_ok(const unsigned char *r, uint32_t n)
{
	uint32_t i, first, last, prev = 0;

	for (i = 0; i < n; i++) {
		first = le32_get(r + 8 * (size_t)i);
		last = le32_get(r + 8 * (size_t)i + 4);
		if (first == 0 || first > last || last >= UID_LIMIT ||
		    (i > 0 && first <= prev))
			return 0;
		prev = last;
	}
	return 1;
}

int
fi_seg_init(struct seg *s, const unsigned char *post, uint64_t plen,
    const unsigned char *dir, uint32_t r, uint32_t k, int with_crcs)
{
	uint64_t prev = 0, e;
	uint32_t i;

	s->post = post;
	s->plen = plen;
	s->ranges = dir;
	s->r = r;
	s->keys = dir + 8 * (size_t)r;
	s->ends = s->keys + 4 * (size_t)k;
	s->crcs = with_crcs ? s->ends + 8 * (size_t)k : NULL;
	s->k = k;
	if (!ranges_ok(s->ranges, r))
		return 0;
	for (i = 0; i < k; i++) {
		e = le64_get(s->ends + 8 * (size_t)i);
		if (e <= prev || e > plen || (i > 0 &&
		    le32_get(s->keys + 4 * (size_t)i) <=
		    le32_get(s->keys + 4 * (size_t)(i - 1))))
			return 0;
		prev = e;
	}
	return prev == plen;
}

struct seg_key {
	const struct seg	*s;
	uint32_t		 key;
};

static int
key_before(const void *arg, size_t i)
{
	const struct seg_key *k = arg;

	return le32_get(k->s->keys + 4 * i) < k->key;
}

long
fi_seg_find(const struct seg *s, uint32_t key)
{
	struct seg_key k = { s, key };
	size_t i = sorted_bound(0, s->k, key_before, &k);

	return i < s->k && le32_get(s->keys + 4 * i) == key ? (long)i : -1;
}

int
fi_seg_list(const struct seg *s, size_t i, const unsigned char **p_r,
    uint64_t *len_r)
{
	uint64_t start = i > 0 ? le64_get(s->ends + 8 * (i - 1)) : 0;
	uint64_t end = le64_get(s->ends + 8 * i);

	*p_r = s->post + start;
	*len_r = end - start;
	if (s->crcs != NULL && fi_crc(*p_r, *len_r) != le32_get(s->crcs + 4 * i))
		return -1;
	return 0;
}

uint64_t
fi_seg_list_len(const struct seg *s, size_t i)
{
	return le64_get(s->ends + 8 * i) -
	    (i > 0 ? le64_get(s->ends + 8 * (i - 1)) : 0);
}
