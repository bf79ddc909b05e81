/*
 * Fuzz target: imapd/seqset, sequence sets as clients send them.
 *
 * Input: four bytes of "*" (the highest number in use, little-endian),
 * then the set's text.
 *
 * Properties checked, against a plain reading of the text:
 *   - the set parses exactly when the text is number or range, then ","
 *     and more, with numbers 1..2^32-1 (or "*");
 *   - the ranges are sorted, disjoint, not adjacent, lo <= hi;
 *   - seqset_contains() says yes exactly for the numbers the text names,
 *     tried at every range's ends and their neighbours;
 *   - maxgiven is the largest number written;
 *   - seqset_format_ranges() writes a set that parses to the same ranges,
 *     and seqset_format() of the members (for small sets) writes the same
 *     text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "imapd/seqset.h"
#include "tests/fuzz/fuzz.h"

#define PLAIN_MAX	100000	/* seqset.c's limit on ranges */

struct plain {
	uint32_t	 lo[PLAIN_MAX], hi[PLAIN_MAX];
	size_t		 n;
	uint32_t	 maxgiven;
};

static struct plain pl;

/* One number at *i: 1 ok, 0 bad. */
static int
plain_number(const char *s, size_t len, size_t *i, uint32_t star,
    uint32_t *v)
{
	uint64_t n = 0;
	size_t start = *i;

	if (*i < len && s[*i] == '*') {
		(*i)++;
		*v = star;
		return 1;
	}
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		n = n * 10 + (uint64_t)(s[*i] - '0');
		if (n > UINT32_MAX)
			return 0;
		(*i)++;
	}
	if (*i == start || n == 0)
		return 0;
	*v = (uint32_t)n;
	if (*v > pl.maxgiven)
		pl.maxgiven = *v;
	return 1;
}

/* The text read by the grammar alone: 1 valid, 0 not. */
static int
plain_parse(const char *s, size_t len, uint32_t star)
{
	size_t i = 0;
	uint32_t a, b, t;

	pl.n = 0;
	pl.maxgiven = 0;
	for (;;) {
		if (!plain_number(s, len, &i, star, &a))
			return 0;
		b = a;
		if (i < len && s[i] == ':') {
			i++;
			if (!plain_number(s, len, &i, star, &b))
				return 0;
		}
		if (a > b) {
			t = a;
			a = b;
			b = t;
		}
		if (pl.n == PLAIN_MAX)
			return -1;	/* too many to follow */
		pl.lo[pl.n] = a == 0 ? 1 : a;
		pl.hi[pl.n] = b;
		pl.n++;
		if (i == len)
			return 1;
		if (s[i++] != ',')
			return 0;
	}
}

static int
plain_contains(uint32_t v)
{
	size_t i;

	for (i = 0; i < pl.n; i++)
		if (pl.hi[i] != 0 && v >= pl.lo[i] && v <= pl.hi[i])
			return 1;
	return 0;
}

static void
probe(const struct seqset *set, uint32_t v)
{
	FUZZ_CHECK(seqset_contains(set, v) == plain_contains(v),
	    "%u: contains says %d", v, seqset_contains(set, v));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct seqset set, again;
	struct buf b;
	uint32_t star, *v;
	uint64_t members, x;
	size_t i, k;
	char *s;
	int want;

	if (len < 4)
		return 0;
	star = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
	    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	s = fuzz_strdup(data + 4, len - 4);
	want = plain_parse(s, len - 4, star);
	if (memchr(s, '\0', len - 4) != NULL)
		want = -1;	/* the parser sees the text up to the NUL */
	if (seqset_parse(s, star, &set) == -1) {
		/* only for its size, past the 100,000 ranges that the
		 * plain parser follows (want -1) */
		FUZZ_CHECK(want != 1,
		    "a valid set was refused: %s", s);
		free(s);
		return 0;
	}
	FUZZ_CHECK(want != 0, "an invalid set was accepted: %s", s);
	if (want == -1) {
		seqset_free(&set);
		free(s);
		return 0;
	}
	FUZZ_CHECK(set.maxgiven == pl.maxgiven, "maxgiven %u, want %u",
	    set.maxgiven, pl.maxgiven);
	members = 0;
	for (i = 0; i < set.n; i++) {
		FUZZ_CHECK(set.r[i].lo >= 1 && set.r[i].lo <= set.r[i].hi,
		    "range %zu is %u:%u", i, set.r[i].lo, set.r[i].hi);
		FUZZ_CHECK(i == 0 || set.r[i].lo > set.r[i - 1].hi + 1ULL,
		    "ranges %zu and %zu overlap or touch", i - 1, i);
		members += set.r[i].hi - set.r[i].lo + 1ULL;
	}
	for (i = 0; i < pl.n; i++) {
		probe(&set, pl.lo[i]);
		probe(&set, pl.hi[i]);
		if (pl.lo[i] > 0)
			probe(&set, pl.lo[i] - 1);
		if (pl.hi[i] < UINT32_MAX)
			probe(&set, pl.hi[i] + 1);
	}
	probe(&set, 0);
	probe(&set, 1);
	probe(&set, star);
	probe(&set, UINT32_MAX);

	buf_init(&b, 16 * 1024 * 1024);
	FUZZ_CHECK(seqset_format_ranges(set.r, set.n, &b) >= 0,
	    "format_ranges failed");
	if (set.n > 0) {
		FUZZ_CHECK(seqset_parse(buf_cstr(&b), star, &again) == 0,
		    "the written set does not parse: %s", buf_cstr(&b));
		FUZZ_CHECK(again.n == set.n && memcmp(again.r, set.r,
		    set.n * sizeof(*set.r)) == 0,
		    "the written set is another set: %s", buf_cstr(&b));
		seqset_free(&again);
	}
	if (members <= 10000) {
		struct buf b2;

		buf_init(&b2, 16 * 1024 * 1024);
		if ((v = calloc(members + 1, sizeof(*v))) == NULL)
			fuzz_die("calloc");
		for (i = k = 0; i < set.n; i++)
			for (x = set.r[i].lo; x <= set.r[i].hi; x++)
				v[k++] = (uint32_t)x;
		FUZZ_CHECK(seqset_format(v, k, &b2) >= 0, "format failed");
		FUZZ_CHECK(strcmp(buf_cstr(&b), buf_cstr(&b2)) == 0,
		    "format \"%s\" and format_ranges \"%s\" differ",
		    buf_cstr(&b2), buf_cstr(&b));
		free(v);
		buf_free(&b2);
	}
	buf_free(&b);
	seqset_free(&set);
	free(s);
	return 0;
}
