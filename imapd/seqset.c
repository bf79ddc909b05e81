/*
 * seqset: sequence-set parsing.  See seqset.h.
 *
 *   sequence-set = (seq-number / seq-range) ["," sequence-set]
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/lib/sorted.h"
#include "common/lib/strnum.h"
#include "imapd/seqset.h"

/* Ranges as written (before merging): what one command can make the
 * server sort and keep. */
#define SEQSET_RANGES_MAX	100000

static int
number(const char **p, uint32_t star, uint32_t *v, uint32_t *maxgiven)
{
	uint64_t n;
	size_t len = 0;

	if (**p == '*') {
		(*p)++;
		*v = star;
		return 0;
	}
	while ((*p)[len] >= '0' && (*p)[len] <= '9')
		len++;
	if (len == 0 || strnum_u64_n(*p, len, UINT32_MAX, &n) == -1 || n == 0)
		return -1;
	*p += len;
	*v = (uint32_t)n;
	if (*v > *maxgiven)
		*maxgiven = *v;
	return 0;
}

static int
rcmp(const void *a, const void *b)
{
	const struct seqrange *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int
seqset_parse(const char *s, uint32_t star, struct seqset *set)
{
	struct seqrange *r = NULL, *nr;
	size_t n = 0, cap = 0, i, out;
	uint32_t a, b, t;
	const char *p = s;

	memset(set, 0, sizeof(*set));
	for (;;) {
		if (number(&p, star, &a, &set->maxgiven) == -1)
			goto bad;
		b = a;
		if (*p == ':') {
			p++;
			if (number(&p, star, &b, &set->maxgiven) == -1)
				goto bad;
		}
		if (a > b) {
			t = a;
			a = b;
			b = t;
		}
		if (a == 0)		/* "*" in an empty mailbox */
			a = 1;
		if (b != 0) {
			if (n == cap) {
				if (cap == SEQSET_RANGES_MAX)
					goto bad;
				/* doubling, but the last step lands on the
				 * limit so that it is the limit in force */
				cap = cap ? cap * 2 : 8;
				if (cap > SEQSET_RANGES_MAX)
					cap = SEQSET_RANGES_MAX;
				nr = reallocarray(r, cap, sizeof(*r));
				if (nr == NULL)
					goto bad;
				r = nr;
			}
			r[n].lo = a;
			r[n].hi = b;
			n++;
		}
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	if (n > 1) {
		qsort(r, n, sizeof(*r), rcmp);
		for (i = 1, out = 0; i < n; i++) {
			if (r[i].lo <= r[out].hi ||
			    (r[out].hi != UINT32_MAX && r[i].lo == r[out].hi + 1)) {
				if (r[i].hi > r[out].hi)
					r[out].hi = r[i].hi;
			} else
				r[++out] = r[i];
		}
		n = out + 1;
	}
	set->r = r;
	set->n = n;
	return 0;
bad:
	free(r);
	memset(set, 0, sizeof(*set));
	errno = EINVAL;
	return -1;
}

void
seqset_free(struct seqset *set)
{
	free(set->r);
	memset(set, 0, sizeof(*set));
}

struct value_key {
	const struct seqset	*set;
	uint32_t		 v;
};

static int
range_before(const void *arg, size_t i)
{
	const struct value_key *k = arg;

	return k->set->r[i].hi < k->v;
}

int
seqset_contains(const struct seqset *set, uint32_t v)
{
	struct value_key k = { set, v };
	size_t i = sorted_bound(0, set->n, range_before, &k);

	return i < set->n && set->r[i].lo <= v;
}

int
seqset_format(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0, j, start = out->len;

	while (i < n) {
		j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (buf_addf(out, "%s%u", i > 0 ? "," : "", v[i]) == -1 ||
		    (j > i && buf_addf(out, ":%u", v[j]) == -1)) {
			buf_truncate(out, start);
			return -1;
		}
		i = j + 1;
	}
	return (int)(out->len - start);
}

int
seqset_format_ranges(const struct seqrange *r, size_t n, struct buf *out)
{
	size_t i, start = out->len;

	for (i = 0; i < n; i++) {
		if (buf_addf(out, "%s%u", i > 0 ? "," : "", r[i].lo) == -1 ||
		    (r[i].hi > r[i].lo && buf_addf(out, ":%u", r[i].hi) ==
		    -1)) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return (int)(out->len - start);
}
