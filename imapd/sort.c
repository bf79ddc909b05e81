/*
 * sort: sort programs and the order they give.  See sort.h.
 *
 * Each message enters the sort as a small item holding the first
 * criterion's key cut to 64 bits (a number made unsigned, or the first
 * eight bytes of a string, turned around for REVERSE) in an order that
 * never contradicts the whole key.  The items are put in that order by a
 * radix sort, which costs a few passes over them where comparison sorts
 * of 100,000 messages make some 1.7 million comparisons; only items that
 * tie on it then look at their keys.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/imap-parser.h"
#include "common/imap/sortkey.h"
#include "imapd/sort.h"

static const struct {
	const char	*name;
	enum sort_by	 by;
} names[] = {
	{ "ARRIVAL", SORT_ARRIVAL }, { "CC", SORT_CC }, { "DATE", SORT_DATE },
	{ "FROM", SORT_FROM }, { "SIZE", SORT_SIZE },
	{ "SUBJECT", SORT_SUBJECT }, { "TO", SORT_TO },
	{ "DISPLAYFROM", SORT_DISPLAYFROM }, { "DISPLAYTO", SORT_DISPLAYTO },
};

int
sort_parse(const struct imap_arg *a, struct sort_program *p,
    const char **why_r)
{
	const char *w;
	size_t i, k;
	int reverse = 0;

	p->n = 0;
	*why_r = "The sort criteria are a list such as (REVERSE DATE SUBJECT)";
	if (a->type != IMAP_ARG_LIST || a->len == 0)
		return -1;
	for (i = 0; i < a->len; i++) {
		if ((w = imap_arg_atom(&a->list[i])) == NULL)
			return -1;
		if (strcasecmp(w, "REVERSE") == 0 && !reverse) {
			reverse = 1;
			continue;
		}
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (strcasecmp(w, names[k].name) == 0)
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			*why_r = "Unknown sort criterion";
			return -1;
		}
		if (p->n == SORT_CRITERIA_MAX) {
			*why_r = "Too many sort criteria";
			return -1;
		}
		p->c[p->n].by = names[k].by;
		p->c[p->n++].reverse = reverse;
		reverse = 0;
	}
	if (reverse) {
		*why_r = "REVERSE must be followed by a sort criterion";
		return -1;
	}
	return 0;
}

/* the key of a string criterion */
static enum sortkey_str
str_of(enum sort_by by)
{
	switch (by) {
	case SORT_CC:
		return SORTKEY_CC;
	case SORT_FROM:
		return SORTKEY_FROM;
	case SORT_TO:
		return SORTKEY_TO;
	case SORT_DISPLAYFROM:
		return SORTKEY_DISPLAYFROM;
	case SORT_DISPLAYTO:
		return SORTKEY_DISPLAYTO;
	default:
		return SORTKEY_SUBJECT;
	}
}

static int
is_number(enum sort_by by)
{
	return by == SORT_ARRIVAL || by == SORT_DATE || by == SORT_SIZE;
}

static uint64_t
number(enum sort_by by, const struct sortkey *k)
{
	switch (by) {
	case SORT_ARRIVAL:
		return (uint64_t)sortkey_arrival(k) ^ (1ULL << 63);
	case SORT_DATE:
		return (uint64_t)sortkey_sent(k) ^ (1ULL << 63);
	default:
		return sortkey_size(k);
	}
}

static uint64_t
prefix(enum sort_by by, int reverse, const struct sortkey *k)
{
	const char *str;
	uint64_t v = 0;
	size_t i, len;

	if (is_number(by))
		v = number(by, k);
	else {
		str = sortkey_str(k, str_of(by), &len);
		for (i = 0; i < 8; i++)
			v = v << 8 | (i < len ? (unsigned char)str[i] : 0);
	}
	return reverse ? ~v : v;
}

static int
compare(enum sort_by by, const struct sortkey *a, const struct sortkey *b)
{
	const char *sa, *sb;
	uint64_t x, y;
	size_t la, lb;
	int r;

	if (is_number(by)) {
		x = number(by, a);
		y = number(by, b);
		return x < y ? -1 : x > y;
	}
	sa = sortkey_str(a, str_of(by), &la);
	sb = sortkey_str(b, str_of(by), &lb);
	if ((r = memcmp(sa, sb, la < lb ? la : lb)) != 0)
		return r;
	return la < lb ? -1 : la > lb;
}

static int
seqs_ascend(const uint32_t *seqs, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (seqs[i - 1] >= seqs[i])
			return 0;
	return 1;
}

struct item {
	uint64_t	 pre;
	uint32_t	 seq;
	uint32_t	 i;
};

struct order {
	const struct sort_program *p;
	const struct sortkey	*k;
};

static int
item_cmp(const void *x, const void *y, void *arg)
{
	const struct item *a = x, *b = y;
	const struct order *o = arg;
	size_t c;
	int r;

	if (a->pre != b->pre)
		return a->pre < b->pre ? -1 : 1;
	for (c = 0; c < o->p->n; c++) {
		r = compare(o->p->c[c].by, &o->k[a->i], &o->k[b->i]);
		if (r != 0)
			return o->p->c[c].reverse ? -r : r;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * The items in the order of pre, keeping the order of items with the same
 * pre: a radix sort, a byte at a time from the lowest, that skips the
 * bytes all items share (the high bytes of dates from one decade).  0 or
 * -1.
 */
static int
radix(struct item *it, size_t n)
{
	struct item *tmp, *src = it, *dst, *t;
	size_t count[256], i, sum, c;
	unsigned shift;

	if ((tmp = calloc(n + 1, sizeof(*tmp))) == NULL)
		return -1;
	dst = tmp;
	for (shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[src[i].pre >> shift & 255]++;
		if (count[src[0].pre >> shift & 255] == n)
			continue;
		for (i = 0, sum = 0; i < 256; i++) {
			c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[src[i].pre >> shift & 255]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != it)
		memcpy(it, src, n * sizeof(*it));
	free(tmp);
	return 0;
}

int
sort_order(const struct sort_program *p, const struct sortkey *k,
    const uint32_t *seqs, size_t n, size_t *idx_r)
{
	struct order o = { p, k };
	struct item *it;
	size_t i, j;
	int r = -1;

	if ((it = calloc(n + 1, sizeof(*it))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		it[i].pre = prefix(p->c[0].by, p->c[0].reverse, &k[i]);
		it[i].seq = seqs[i];
		it[i].i = (uint32_t)i;
	}
	if (n > 0 && radix(it, n) == -1)
		goto out;
	/* items in sequence order that tie on pre are in order already when
	 * pre is all of the program; else each run of them is sorted */
	if (!is_number(p->c[0].by) || p->n > 1 || !seqs_ascend(seqs, n))
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && it[j].pre == it[i].pre; j++)
				;
			if (j - i > 1)
				qsort_r(it + i, j - i, sizeof(*it), item_cmp,
				    &o);
		}
	for (i = 0; i < n; i++)
		idx_r[i] = it[i].i;
	r = 0;
out:
	free(it);
	return r;
}
