/*
 * Unit tests for common/mail/textsearch and common/mail/unicase: the
 * i;unicode-casemap comparator of RFC 5051, and matches found however the
 * text is cut into pieces.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mail/textsearch.h"
#include "common/mail/unicase.h"
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
	/* simple titlecase keeps ß and ẞ apart (RFC 5051) */
	{ "stra\xc3\x9f" "e", "STRA\xe1\xba\x9e" "E", 0 },
	/* decomposition: a base letter is found inside a precomposed one */
	{ "a", "\xc3\x84rger", 1 },				/* Ärger */
	{ "arger", "\xc3\x84rger", 0 },	/* the diaeresis is between */
	{ "a\xcc\x88rger", "\xc3\x84RGER", 1 },	/* a + U+0308 */
	{ "\xc3\xa4", "A\xcc\x88", 1 },		/* ä: A + U+0308 */
	{ "fish", "\xef\xac\x81sh", 1 },		/* U+FB01 ligature */
	{ "\xef\xac\x81", "FI", 1 },
	{ "ij", "\xc4\xb2", 1 },			/* U+0132 IJ */
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
	{ "a", "\xef\xbd\x81", 1 },				/* ...and ASCII */
	{ "\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1", 1 },	/* Hangul */
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

static size_t
map1(uint32_t cp, uint32_t out[UNICASE_MAX])
{
	return unicase_map(cp, out);
}

static void
test_map(void)
{
	uint32_t m[UNICASE_MAX];

	CHECK(map1('a', m) == 1 && m[0] == 'A');
	CHECK(map1('Z', m) == 1 && m[0] == 'Z');
	CHECK(map1('1', m) == 1 && m[0] == '1');
	CHECK(map1(0xe4, m) == 2 && m[0] == 'A' && m[1] == 0x308);   /* ä */
	CHECK(map1(0xc4, m) == 2 && m[0] == 'A' && m[1] == 0x308);   /* Ä */
	CHECK(map1(0xdf, m) == 1 && m[0] == 0xdf);		/* ß */
	CHECK(map1(0x1c6, m) == 3 && m[0] == 'D' && m[1] == 'Z');    /* ǆ */
	CHECK(map1(0x3c2, m) == 1 && m[0] == 0x3a3);		/* ς */
	CHECK(map1(0x3c3, m) == 1 && m[0] == 0x3a3);		/* σ */
	CHECK(map1(0x17f, m) == 1 && m[0] == 'S');		/* ſ */
	CHECK(map1(0x212a, m) == 1 && m[0] == 'K');		/* K sign */
	CHECK(map1(0xfb01, m) == 2 && m[0] == 'F' && m[1] == 'I');
	CHECK(map1(0x4e00, m) == 1 && m[0] == 0x4e00);
	CHECK(map1(0xac01, m) == 3 && m[0] == 0x1100 && m[1] == 0x1161 &&
	    m[2] == 0x11a8);				/* Hangul LV + T */
	CHECK(!unicase_has_ascii(0x4e00) && !unicase_has_ascii(0xdf));
	CHECK(unicase_has_ascii(0xe4) && unicase_has_ascii(0xfb01) &&
	    unicase_has_ascii(0xff21));
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

/* Every character that maps to something else is found by a needle of
 * its mapping, after text the fast skip runs over; and a needle of the
 * character finds its mapping. */
static void
test_every_map(void)
{
	char needle[8 * UNICASE_MAX], text[8 * UNICASE_MAX];
	uint32_t cp, m[UNICASE_MAX];
	size_t nl, tl, k, nm;
	unsigned bad = 0, n = 0;
	struct textsearch *ts;

	for (cp = 0x80; cp < 0x20000; cp++) {
		if ((cp >= 0xd800 && cp < 0xe000) ||
		    ((nm = unicase_map(cp, m)) == 1 && m[0] == cp))
			continue;
		n++;
		for (k = 0, nl = 0; k < nm; k++)
			nl += utf8(m[k], needle + nl);
		memcpy(text, "zz", 2);
		tl = 2 + utf8(cp, text + 2);
		ts = textsearch_new(needle, nl);
		if (ts == NULL || !textsearch_feed(ts, text, tl))
			bad++;
		textsearch_free(ts);
		ts = textsearch_new(text + 2, tl - 2);
		memcpy(text, needle, nl);
		if (ts == NULL || !textsearch_feed(ts, text, nl))
			bad++;
		textsearch_free(ts);
	}
	CHECK_MSG(n > 5000, "%u", n);
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

/* Pieces of text that make matches, near misses and special cases. */
static const char *const bits[] = {
	"k", "K", "i", "I", "s", "S", "a", "x", " ", "\n", "ki", "SK",
	"\xe2\x84\xaa",		/* KELVIN SIGN, maps to K */
	"\xc5\xbf",		/* LONG S, maps to S */
	"\xc4\xb0",		/* I WITH DOT ABOVE: I and U+0307 */
	"\xc4\xb1",		/* dotless i: I */
	"\xe1\x84\xaa",		/* ends like KELVIN SIGN */
	"\xe4\xb8\x80",		/* a CJK character, no ASCII in it */
	"\xc3\xa9", "\xff", "\x84\xaa", "\xe2", "\xe2\x84",
};

/* textsearch_bytes() agrees with textsearch_feed() on UTF-8 text
 * whenever it is sure, whatever the length and alignment. */
static void
test_bytes(void)
{
	static const char *const needles[] = {
		"kiss", "k", "KS", "s", "ax", "six kiss", "\xe2\x84\xaa" "i",
		"x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax", "i\nk",
	};
	char text[400];
	size_t len, k, n, off;
	unsigned round, bad = 0, unsure = 0, sure = 0;
	struct textsearch *ts;
	int want, got;

	for (n = 0; n < sizeof(needles) / sizeof(needles[0]); n++) {
		ts = textsearch_new(needles[n], strlen(needles[n]));
		CHECK(ts != NULL && textsearch_is_ascii(ts));
		for (round = 0; round < 3000; round++) {
			len = 0;
			k = t_rnd(60);
			while (k-- > 0 && len + 4 < sizeof(text) - 60) {
				const char *b = bits[t_rnd(round % 3 == 0 ? 12 :
				    sizeof(bits) / sizeof(bits[0]))];

				memcpy(text + len, b, strlen(b));
				len += strlen(b);
			}
			if (t_rnd(4) == 0) {
				/* the needle itself, in mixed case */
				off = t_rnd((unsigned)len + 1);
				memmove(text + off + strlen(needles[n]),
				    text + off, len - off);
				for (k = 0; k < strlen(needles[n]); k++)
					text[off + k] = t_rnd(2) &&
					    needles[n][k] >= 'a' &&
					    needles[n][k] <= 'z' ?
					    needles[n][k] - 32 : needles[n][k];
				len += strlen(needles[n]);
			}
			textsearch_reset(ts);
			want = textsearch_feed(ts, text, len);
			got = textsearch_bytes(ts, text, len, 1);
			if (got == TEXTSEARCH_UNSURE)
				unsure++;
			else {
				sure++;
				bad += got != want;
			}
			/* as single-byte text: unsure only with a byte
			 * above 0x7f, and then right when sure */
			got = textsearch_bytes(ts, text, len, 0);
			for (k = 0; k < len && (unsigned char)text[k] < 0x80;
			    k++)
				;
			if (k == len)
				bad += got != want;
			else
				bad += got == 0 && want;
		}
		textsearch_free(ts);
	}
	CHECK_MSG(bad == 0, "%u wrong answers", bad);
	CHECK(unsure > 0 && sure > unsure);
	/* characters that map to ASCII make the bytes unsure */
	ts = textsearch_new("kelvin", 6);
	CHECK_INT(textsearch_bytes(ts, "0 \xe2\x84\xaa" "elvin", 10, 1),
	    TEXTSEARCH_UNSURE);
	CHECK_INT(textsearch_bytes(ts, "0 \xe2\x84\xaa" "elvin", 10, 0),
	    TEXTSEARCH_UNSURE);
	CHECK_INT(textsearch_bytes(ts, "\xe2\x84\xaa" "elvin KELVIN", 15, 1),
	    1);
	CHECK_INT(textsearch_bytes(ts, "\xe1\x84\xaa" "elvin", 8, 1), 0);
	CHECK_INT(textsearch_bytes(ts, "kelvi\xc3\xb1", 7, 1),
	    TEXTSEARCH_UNSURE);
	CHECK_INT(textsearch_bytes(ts, "\xe4\xb8\x80 kelvi", 9, 1), 0);
	textsearch_free(ts);
	/* a needle that is not ASCII after mapping */
	ts = textsearch_new("caf\xc3\xa9", 5);
	CHECK(!textsearch_is_ascii(ts));
	textsearch_free(ts);
	ts = textsearch_new("\xe2\x84\xaa", 3);
	CHECK(textsearch_is_ascii(ts) && textsearch_length(ts) == 1);
	CHECK_INT(textsearch_bytes(ts, "xK", 2, 1), 1);
	textsearch_free(ts);
}

/* Long texts: a match at every position around the sixteen-byte rounds,
 * in both cases. */
static void
test_bytes_long(void)
{
	struct textsearch *ts = textsearch_new("Quark", 5);
	char text[300];
	size_t at, len;
	unsigned bad = 0;

	for (len = 5; len < 100; len++)
		for (at = 0; at + 5 <= len; at++) {
			memset(text, 'q', len);
			memcpy(text + at, at % 2 ? "QUARK" : "quark", 5);
			bad += textsearch_bytes(ts, text, len, 1) != 1;
			text[at + 4] = 'x';
			bad += textsearch_bytes(ts, text, len, 1) != 0;
		}
	CHECK_MSG(bad == 0, "%u", bad);
	textsearch_free(ts);
}

int
main(void)
{
	T_RUN(test_cases);
	T_RUN(test_map);
	T_RUN(test_every_map);
	T_RUN(test_long);
	T_RUN(test_bytes);
	T_RUN(test_bytes_long);
	return t_done();
}
