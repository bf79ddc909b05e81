/*
 * Unit tests for common/mail/ngram: the trigram keys of the full-text index.
 * What matters is one property: whenever textsearch finds a needle in a
 * unit of text, however the text is cut into pieces, every key of the
 * needle is a key of the text; the index would otherwise hide a match.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mail/ngram.h"
#include "common/mail/textsearch.h"
#include "tests/t.h"

/* Whether every key of needle (in space) is among the keys of ng. */
static int
keys_in(struct ngram *ng, const char *needle, size_t nlen, unsigned space,
    size_t *nkeys_r)
{
	const uint32_t *k = ngram_keys(ng);
	uint32_t *nk;
	size_t n, i, j, count = ngram_count(ng);
	int all = 1;

	if (ngram_needle(needle, nlen, space, &nk, &n) == -1)
		return -1;
	for (i = 0; i < n && all; i++) {
		for (j = 0; j < count && k[j] != nk[i]; j++)
			;
		all = j < count;
	}
	free(nk);
	*nkeys_r = n;
	return all;
}

/* The keys of text as one unit of space, fed in pieces of at most cut
 * bytes (0: whole). */
static void
feed(struct ngram *ng, const char *text, size_t len, unsigned space,
    size_t cut)
{
	size_t off = 0, n;

	ngram_clear(ng);
	ngram_unit(ng, space);
	while (off < len) {
		n = cut == 0 || len - off < cut ? len - off : 1 + t_rnd(
		    (unsigned)cut);
		if (n > len - off)
			n = len - off;
		CHECK(ngram_feed(ng, text + off, n) == 0);
		off += n;
	}
}

static const struct {
	const char	*needle;
	const char	*text;
	size_t		 keys;		/* distinct keys of the needle */
} cases[] = {
	{ "hello", "Say HeLLo there", 3 },
	{ "abc", "xxABCxx", 1 },
	{ "ab", "ab", 0 },			/* too short to look up */
	{ "", "anything", 0 },
	{ "aaaa", "AAAA", 1 },			/* one key, twice */
	{ "\xc3\xa9" "cole", "\xc3\x89" "COLE", 4 },	/* é É */
	{ "a\xcc\x88rger", "\xc3\x84RGER", 4 },		/* Ä = A + U+0308 */
	{ "fish", "\xef\xac\x81sh", 2 },		/* U+FB01 */
	{ "\xef\xac\x81sh", "FISH", 2 },
	{ "kiss", "\xe2\x84\xaai\xc5\xbfs", 2 },	/* KELVIN, LONG S */
	{ "\xea\xb0\x80\xea\xb0\x80", "\xea\xb0\x80\xea\xb0\x80", 2 },
	{ "a\xff" "b", "a\xfe" "b", 1 },	/* both U+FFFD */
	/* ёжи: ё maps to Е and U+0308, four code points */
	{ "\xd1\x91\xd0\xb6\xd0\xb8", "\xd0\x81\xd0\x96\xd0\x98", 2 },
};

static void
test_cases(void)
{
	struct ngram *ng = ngram_new();
	size_t i, n, cut;
	int r;

	CHECK(ng != NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (cut = 0; cut < 4; cut++) {
			feed(ng, cases[i].text, strlen(cases[i].text),
			    NGRAM_BODY, cut);
			r = keys_in(ng, cases[i].needle,
			    strlen(cases[i].needle), NGRAM_BODY, &n);
			CHECK_MSG(r == 1, "case %zu cut %zu", i, cut);
			CHECK_MSG(n == cases[i].keys, "case %zu: %zu keys", i,
			    n);
			/* the other kind of text has other keys */
			r = keys_in(ng, cases[i].needle,
			    strlen(cases[i].needle), NGRAM_HEADER, &n);
			CHECK_MSG(r == (n == 0), "case %zu header", i);
		}
	}
	/* no trigram across units */
	ngram_clear(ng);
	ngram_unit(ng, NGRAM_BODY);
	CHECK(ngram_feed(ng, "ab", 2) == 0);
	ngram_unit(ng, NGRAM_BODY);
	CHECK(ngram_feed(ng, "c", 1) == 0);
	CHECK(keys_in(ng, "abc", 3, NGRAM_BODY, &n) == 0 && n == 1);
	CHECK(ngram_count(ng) == 0);
	/* a character cut by the end of a unit is nothing */
	ngram_clear(ng);
	ngram_unit(ng, NGRAM_BODY);
	CHECK(ngram_feed(ng, "ab\xc3", 3) == 0);
	CHECK(ngram_count(ng) == 0);
	ngram_free(ng);
}

/* Pieces of text that test the mapping: ASCII, letters that fold,
 * characters that map to several, to ASCII, and bytes that are not
 * UTF-8. */
static const char *const atoms[] = {
	"a", "b", "c", "A", "B", " ", "\n", "e", "E",
	"\xc3\xa9", "\xc3\x89",			/* é É */
	"\xc3\x84", "A\xcc\x88",		/* Ä, A + U+0308 */
	"\xef\xac\x81", "fi", "FI",		/* U+FB01 */
	"\xe2\x84\xaa", "k",			/* KELVIN SIGN */
	"\xc3\x9f", "ss",			/* ß */
	"\xea\xb0\x80",				/* Hangul GA */
	"\xe6\x97\xa5", "\xe6\x9c\xac",		/* CJK */
	"\xf0\x9f\x98\x80",			/* an emoji */
	"\xff", "\xc3", "\x80", "\xe2\x84",	/* not UTF-8 */
};

static size_t
random_text(char *out, size_t max, int atoms_max)
{
	size_t len = 0, n;
	int i, count = 1 + (int)t_rnd((unsigned)atoms_max);

	for (i = 0; i < count; i++) {
		const char *a = atoms[t_rnd(sizeof(atoms) / sizeof(atoms[0]))];

		n = strlen(a);
		if (len + n >= max)
			break;
		memcpy(out + len, a, n);
		len += n;
	}
	return len;
}

/* The property, on random text and needles, the needle often a piece of
 * the text with its case changed. */
static void
test_random(void)
{
	struct ngram *ng = ngram_new();
	struct textsearch *ts;
	char text[512], needle[64];
	size_t tlen, nlen, i, start, n, off, cut;
	int round, found, r, checked = 0;

	t_rnd_state = 42;
	for (round = 0; round < 20000; round++) {
		tlen = random_text(text, sizeof(text), 60);
		if (t_rnd(2) && tlen > 0) {
			start = t_rnd((unsigned)tlen);
			nlen = 1 + t_rnd(20);
			if (nlen > tlen - start)
				nlen = tlen - start;
			memcpy(needle, text + start, nlen);
			for (i = 0; i < nlen; i++)
				if (needle[i] >= 'a' && needle[i] <= 'z' &&
				    t_rnd(2))
					needle[i] -= 32;
		} else
			nlen = random_text(needle, sizeof(needle), 6);
		cut = 1 + t_rnd(8);
		feed(ng, text, tlen, NGRAM_BODY, cut);
		ts = textsearch_new(needle, nlen);
		CHECK(ts != NULL);
		textsearch_reset(ts);
		for (off = 0; off < tlen; off += n) {
			n = 1 + t_rnd((unsigned)cut);
			if (n > tlen - off)
				n = tlen - off;
			textsearch_feed(ts, text + off, n);
		}
		found = textsearch_found(ts);
		textsearch_free(ts);
		r = keys_in(ng, needle, nlen, NGRAM_BODY, &n);
		if (found) {
			CHECK_MSG(r == 1, "round %d: a match the keys hide",
			    round);
			checked += n > 0;
		}
	}
	/* the property was tested on needles that have keys */
	CHECK_MSG(checked > 1000, "%d", checked);
	ngram_free(ng);
}

int
main(void)
{
	T_RUN(test_cases);
	T_RUN(test_random);
	return t_done();
}
