/*
 * ftsindex-batch: a batch of messages' keys collected for the full-text
 * index, and the journal record it becomes (the format is at the top
 * of ftsindex.c).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/message.h"
#include "common/lib/le.h"
#include "common/mail/ngram.h"
#include "maildir/ftsindex-private.h"

/* ---- batches -------------------------------------------------------- */

struct ftsindex_batch *
ftsindex_batch_new(void)
{
	return calloc(1, sizeof(struct ftsindex_batch));
}

void
ftsindex_batch_shrink(struct ftsindex_batch *b)
{
	ngram_free(b->ng);
	b->ng = NULL;
	if (b->n == 0) {
		free(b->pairs);
		b->pairs = NULL;
		b->cap = 0;
	}
}

void
ftsindex_batch_free(struct ftsindex_batch *b)
{
	if (b == NULL)
		return;
	ngram_free(b->ng);
	free(b->pairs);
	free(b->cov);
	free(b);
}

void
fi_batch_empty(struct ftsindex_batch *b)
{
	b->n = 0;
	b->ncov = 0;
	b->nmsg = 0;
	free(b->pairs);
	b->pairs = NULL;
	b->cap = 0;
}

static int
text_cb(void *arg, unsigned what, const char *text, size_t len)
{
	struct ngram *ng = arg;

	if (what & MESSAGE_TEXT_START)
		ngram_unit(ng, (what & MESSAGE_TEXT_BODY) ? NGRAM_BODY :
		    NGRAM_HEADER);
	return ngram_feed(ng, text, len);
}

int
ftsindex_batch_add(struct ftsindex_batch *b, uint32_t uid,
    struct message *m)
{
	const uint32_t *k;
	uint64_t *np;
	size_t n, i, cap;

	if (uid == 0 || uid >= UID_LIMIT) {
		errno = EINVAL;
		return -1;
	}
	if (b->ng == NULL && (b->ng = ngram_new()) == NULL)
		return -1;
	ngram_clear(b->ng);
	if (message_text(m, text_cb, b->ng) != 0) {
		if (errno == 0)
			errno = ENOMEM;
		return -1;
	}
	n = ngram_count(b->ng);
	k = ngram_keys(b->ng);
	if (b->n + n > b->cap) {
		cap = b->cap ? b->cap : 64 * 1024;
		while (cap < b->n + n)
			cap *= 2;
		if ((np = reallocarray(b->pairs, cap, sizeof(*np))) == NULL)
			return -1;
		b->pairs = np;
		b->cap = cap;
	}
	for (i = 0; i < n; i++)
		b->pairs[b->n++] = (uint64_t)k[i] << 32 | uid;
	b->nmsg++;
	return 0;
}

int
ftsindex_batch_cover(struct ftsindex_batch *b, uint32_t first,
    uint32_t last)
{
	struct range *nr;
	size_t cap;

	if (first == 0 || first > last || last >= UID_LIMIT) {
		errno = EINVAL;
		return -1;
	}
	if (b->ncov > 0 && b->cov[b->ncov - 1].last + 1 == first) {
		b->cov[b->ncov - 1].last = last;
		return 0;
	}
	if (b->ncov == b->capcov) {
		cap = b->capcov ? b->capcov * 2 : 16;
		if ((nr = reallocarray(b->cov, cap, sizeof(*nr))) == NULL)
			return -1;
		b->cov = nr;
		b->capcov = cap;
	}
	b->cov[b->ncov].first = first;
	b->cov[b->ncov].last = last;
	b->ncov++;
	return 0;
}

size_t
ftsindex_batch_bytes(const struct ftsindex_batch *b)
{
	return b->n * sizeof(*b->pairs) + b->ncov * sizeof(*b->cov);
}

size_t
ftsindex_batch_count(const struct ftsindex_batch *b)
{
	return b->nmsg;
}

/* Sort 64-bit values: least significant 16 bits first, skipping the
 * digits every value shares.  -1 when memory runs out. */
static int
sort64(uint64_t *v, size_t n)
{
	uint64_t *tmp, *src = v, *dst, *t, and = ~0ULL, or = 0;
	size_t *count, i, sum, c;
	unsigned shift;

	if (n < 2)
		return 0;
	for (i = 0; i < n; i++) {
		and &= v[i];
		or |= v[i];
	}
	if ((tmp = malloc(n * sizeof(*tmp))) == NULL)
		return -1;
	if ((count = malloc(65536 * sizeof(*count))) == NULL) {
		free(tmp);
		return -1;
	}
	dst = tmp;
	for (shift = 0; shift < 64; shift += 16) {
		if ((((and ^ or) >> shift) & 0xffff) == 0)
			continue;
		memset(count, 0, 65536 * sizeof(*count));
		for (i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xffff]++;
		for (sum = 0, i = 0; i < 65536; i++) {
			c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(count);
	free(tmp);
	return 0;
}

int
fi_record_build(struct ftsindex_batch *b, struct buf *out)
{
	struct buf post, dir;
	uint32_t *uids = NULL, key;
	size_t i, j, nu, k = 0, cap = 0, r;
	unsigned char *h, *p;
	int ret = -1;

	buf_init(&post, REC_MAX);
	buf_init(&dir, REC_MAX);
	if (sort64(b->pairs, b->n) == -1)
		goto out;
	r = fi_ranges_join(b->cov, b->ncov);
	for (i = 0; i < r; i++) {
		unsigned char e[8];

		le32_put(e, b->cov[i].first);
		le32_put(e + 4, b->cov[i].last);
		if (buf_add(&dir, e, 8) == -1)
			goto out;
	}
	/* keys, then ends: two passes over the groups */
	for (i = 0; i < b->n; i = j) {
		unsigned char e[4];

		key = (uint32_t)(b->pairs[i] >> 32);
		for (j = i; j < b->n && (uint32_t)(b->pairs[j] >> 32) == key;
		    j++)
			;
		le32_put(e, key);
		if (buf_add(&dir, e, 4) == -1)
			goto out;
		k++;
	}
	for (i = 0; i < b->n; i = j) {
		unsigned char e[8];

		key = (uint32_t)(b->pairs[i] >> 32);
		for (nu = 0, j = i; j < b->n &&
		    (uint32_t)(b->pairs[j] >> 32) == key; j++) {
			if (nu == cap) {
				uint32_t *nv;

				cap = cap ? cap * 2 : 1024;
				if ((nv = reallocarray(uids, cap,
				    sizeof(*nv))) == NULL)
					goto out;
				uids = nv;
			}
			if (nu == 0 || uids[nu - 1] != (uint32_t)b->pairs[j])
				uids[nu++] = (uint32_t)b->pairs[j];
		}
		if (fi_list_encode(uids, nu, &post) == -1)
			goto out;
		le64_put(e, post.len);
		if (buf_add(&dir, e, 8) == -1)
			goto out;
	}
	if ((uint64_t)16 + post.len + dir.len > REC_MAX) {
		errno = E2BIG;
		goto out;
	}
	buf_reset(out);
	if (buf_reserve(out, REC_HEAD + 16 + post.len + dir.len) == -1)
		goto out;
	h = (unsigned char *)out->data;
	le32_put(h, REC_MAGIC);
	le32_put(h + 4, (uint32_t)(16 + post.len + dir.len));
	p = h + REC_HEAD;
	le32_put(p, (uint32_t)r);
	le32_put(p + 4, (uint32_t)k);
	le64_put(p + 8, post.len);
	/* a batch of messages without text has no lists at all */
	if (post.len > 0)
		memcpy(p + 16, post.data, post.len);
	if (dir.len > 0)
		memcpy(p + 16 + post.len, dir.data, dir.len);
	out->len = REC_HEAD + 16 + post.len + dir.len;
	le32_put(h + 8, fi_record_crc(h, (uint32_t)(16 + post.len + dir.len)));
	ret = 0;
out:
	free(uids);
	buf_free(&post);
	buf_free(&dir);
	return ret;
}
