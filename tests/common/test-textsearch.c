/*
 * Unit tests for common/textsearch: case folding, and matches found
 * however the text is cut into pieces.
 */
#include <stdlib.h>
#include <string.h>

#include "common/textsearch.h"
#include "tests/t.h"

static const struct {
	const char	*needle;
	const char	*text;
	int		 found;
} cases[] = {
	{ "hello", "Say HeLLo there", 1 },
	{ "hello", "Say HeLL0 there", 0 },
	{ "", "anything", 1 },
	{ "", "", 1 },
	{ "a", "", 0 },
	{ "aab", "aaab", 1 },
	{ "abab", "abaabab", 1 },
	{ "abcabd", "abcabcabd", 1 },
	{ "\xc3\xa9" "cole", "\xc3\x89" "COLE", 1 },		/* é É */
	{ "stra\xc3\x9f" "e", "STRASSE", 0 },			/* no ß=ss */
	{ "stra\xc3\x9f" "e", "STRA\xe1\xba\x9e" "E", 1 },	/* ẞ */
	/* Greek, final sigma folds to sigma */
	{ "\xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x82",
	    "\xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3", 1 },
	/* Cyrillic */
	{ "\xd0\xbc\xd0\xb8\xd1\x80", "\xd0\x9c\xd0\x98\xd0\xa0!", 1 },
	{ "\xd1\x91\xd0\xb6", "\xd0\x81\xd0\x96", 1 },		/* ёж ЁЖ */
	/* KELVIN SIGN and LONG S fold to ASCII */
	{ "kiss", "\xe2\x84\xaai\xc5\xbfs", 1 },
	{ "\xc3\xa5", "\xe2\x84\xab", 1 },			/* Å sign */
	{ "\xef\xbd\x81", "\xef\xbc\xa1", 1 },			/* full-width */
	{ "ij", "\xc4\xb2", 0 },
	/* invalid bytes are U+FFFD and match nothing else */
	{ "a\xff" "b", "a\xfe" "b", 1 },
	{ "ab", "a\xff" "b", 0 },
	{ "\xc4\x80", "\xc4\x81", 1 },				/* Āā */
	{ "\xc5\x82", "\xc5\x81", 1 },				/* łŁ */
	{ "\xd5\xa1", "\xd4\xb1", 1 },				/* Armenian */
};

static void
test_cases(void)
{
	struct textsearch *ts;
	size_t i, len, cut, cut2;
	unsigned bad;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ts = textsearch_new(cases[i].needle, strlen(cases[i].needle));
		CHECK(ts != NULL);
		if (ts == NULL)
			continue;
		len = strlen(cases[i].text);
		/* whole, in two pieces and in three at every position */
		for (cut = 0, bad = 0; cut <= len; cut++)
			for (cut2 = cut; cut2 <= len; cut2++) {
				textsearch_reset(ts);
				textsearch_feed(ts, cases[i].text, cut);
				textsearch_feed(ts, cases[i].text + cut,
				    cut2 - cut);
				textsearch_feed(ts, cases[i].text + cut2,
				    len - cut2);
				if (textsearch_found(ts) != cases[i].found)
					bad++;
			}
		/* one byte at a time */
		textsearch_reset(ts);
		for (cut = 0; cut < len; cut++)
			textsearch_feed(ts, cases[i].text + cut, 1);
		if (textsearch_found(ts) != cases[i].found)
			bad++;
		CHECK_MSG(bad == 0, "case %zu: %u bad cuts", i, bad);
		textsearch_free(ts);
	}
}

static void
test_fold(void)
{
	CHECK_INT(textsearch_fold('A'), 'a');
	CHECK_INT(textsearch_fold('z'), 'z');
	CHECK_INT(textsearch_fold(0xc0), 0xe0);
	CHECK_INT(textsearch_fold(0xd7), 0xd7);		/* × */
	CHECK_INT(textsearch_fold(0xb5), 0x3bc);	/* µ */
	CHECK_INT(textsearch_fold(0x178), 0xff);	/* Ÿ */
	CHECK_INT(textsearch_fold(0x130), 'i');
	CHECK_INT(textsearch_fold(0x131), 0x131);
	CHECK_INT(textsearch_fold(0x139), 0x13a);	/* Ĺ */
	CHECK_INT(textsearch_fold(0x3a3), 0x3c3);
	CHECK_INT(textsearch_fold(0x3c2), 0x3c3);
	CHECK_INT(textsearch_fold(0x386), 0x3ac);
	CHECK_INT(textsearch_fold(0x401), 0x451);
	CHECK_INT(textsearch_fold(0x42f), 0x44f);
	CHECK_INT(textsearch_fold(0x460), 0x461);
	CHECK_INT(textsearch_fold(0x4c1), 0x4c2);
	CHECK_INT(textsearch_fold(0x1e00), 0x1e01);
	CHECK_INT(textsearch_fold(0x1f08), 0x1f00);
	CHECK_INT(textsearch_fold(0x2160), 0x2170);
	CHECK_INT(textsearch_fold(0x4e00), 0x4e00);
}

static size_t
utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every character that folds to another is found by a needle of the
 * folded one, after text the fast skip runs over. */
static void
test_every_fold(void)
{
	char needle[8], text[16];
	size_t nl, tl;
	uint32_t cp, f;
	unsigned bad = 0, n = 0;
	struct textsearch *ts;

	for (cp = 0x80; cp < 0x20000; cp++) {
		if ((cp >= 0xd800 && cp < 0xe000) ||
		    (f = textsearch_fold(cp)) == cp)
			continue;
		n++;
		nl = utf8(f, needle);
		memcpy(text, "zz", 2);
		tl = 2 + utf8(cp, text + 2);
		ts = textsearch_new(needle, nl);
		if (ts == NULL || !textsearch_feed(ts, text, tl))
			bad++;
		textsearch_free(ts);
	}
	CHECK_MSG(n > 600, "%u", n);
	CHECK_MSG(bad == 0, "%u of %u", bad, n);
}

/* A long text in odd-sized pieces: the match spans many of them. */
static void
test_long(void)
{
	struct textsearch *ts = textsearch_new("NEEDLE-\xce\xa3", 9);
	char *text = malloc(1 << 20);
	size_t i, off, n;

	memset(text, 'n', 1 << 20);
	memcpy(text + (1 << 20) - 100, "needle-\xcf\x83", 9);
	for (off = 0, i = 0; off < (1 << 20); off += n, i++) {
		n = 1 + (i * 7919) % 4093;
		if (n > (1 << 20) - off)
			n = (1 << 20) - off;
		textsearch_feed(ts, text + off, n);
	}
	CHECK(textsearch_found(ts));
	textsearch_reset(ts);
	CHECK(!textsearch_feed(ts, text, (1 << 20) - 100));
	textsearch_free(ts);
	free(text);
}

int
main(void)
{
	test_cases();
	test_fold();
	test_every_fold();
	test_long();
	return t_done();
}
