/*
 * Unit tests for common/mail/charset: UTF-8 validation, conversion through
 * iconv and of UTF-7 (with input cut inside characters), and the
 * converter cache.
 */
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/mail/charset.h"
#include "tests/t.h"

static const struct {
	const char	*in;
	int		 n;
	unsigned	 cp;
} seqs[] = {
	{ "A", 1, 'A' },
	{ "\xc3\xa9", 2, 0xe9 },
	{ "\xe2\x82\xac", 3, 0x20ac },
	{ "\xf0\x9f\x98\x80", 4, 0x1f600 },
	{ "\xc3", 0, 0 },		/* cut: needs more */
	{ "\xe2\x82", 0, 0 },
	{ "\xc0\x80", -1, 0 },		/* overlong */
	{ "\xe0\x80\x80", -1, 0 },
	{ "\xed\xa0\x80", -1, 0 },	/* surrogate */
	{ "\xf4\x90\x80\x80", -1, 0 },	/* past U+10FFFF */
	{ "\xf5\x80\x80\x80", -1, 0 },
	{ "\x80", -1, 0 },
	{ "\xc3(", -1, 0 },
};

static void
test_seq(void)
{
	size_t i;
	unsigned cp;
	int n;

	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		cp = 0;
		n = charset_utf8_seq((const unsigned char *)seqs[i].in,
		    strlen(seqs[i].in), &cp);
		CHECK_MSG(n == seqs[i].n, "case %zu: %d", i, n);
		if (n > 0)
			CHECK_INT(cp, seqs[i].cp);
	}
}

/* Convert in, cut at every position into two calls, and compare. */
static void
convert(const char *cs, const char *in, size_t len, const char *want)
{
	struct charset_conv *c;
	struct buf b, pend;
	size_t cut, used;
	unsigned bad = 0;

	buf_init(&b, 1 << 20);
	buf_init(&pend, 1 << 20);
	for (cut = 0; cut <= len; cut++) {
		if ((c = charset_get(cs)) == NULL) {
			bad++;
			break;
		}
		buf_reset(&b);
		buf_reset(&pend);
		if (charset_to_utf8(c, in, cut, 0, &used, &b) == -1)
			bad++;
		/* what was not used comes again with the rest */
		buf_add(&pend, in + used, len - used);
		if (charset_to_utf8(c, buf_cstr(&pend), pend.len, 1, &used,
		    &b) == -1 || used != pend.len)
			bad++;
		if (strcmp(buf_cstr(&b), want) != 0)
			bad++;
	}
	CHECK_MSG(bad == 0, "%s: got \"%s\"", cs, buf_cstr(&b));
	buf_free(&b);
	buf_free(&pend);
}

static void
test_convert(void)
{
	struct buf b;
	size_t used;

	convert("utf-8", "caf\xc3\xa9 \xff!", 8, "caf\xc3\xa9 \xef\xbf\xbd!");
	convert("US-ASCII", "plain", 5, "plain");
	convert("koi8-r", "\xe9\xd7\xc1\xce", 4,
	    "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd");
	/* ISO-8859-1 is read as Windows-1252 */
	convert("iso-8859-1", "\x80 \xe9", 3, "\xe2\x82\xac \xc3\xa9");
	convert("ISO-2022-JP", "\x1b$B;3ED\x1b(B", 9,
	    "\xe5\xb1\xb1\xe7\x94\xb0");
	convert("utf-8*en", "x", 1, "x");
	convert("shift_jis", "\x93\xfa", 2, "\xe6\x97\xa5");
	/* a byte the charset does not have */
	convert("windows-1252", "a\x81z", 3, "a\xef\xbf\xbdz");
	/* a cut character at the very end */
	convert("utf-8", "ab\xe2\x82", 4, "ab\xef\xbf\xbd\xef\xbf\xbd");

	CHECK(charset_get("x-no-such-charset") == NULL);
	CHECK(charset_get("../../etc/passwd") == NULL);
	CHECK(charset_get("") == NULL);
	CHECK(charset_is_utf8(" UTF8"));
	CHECK(charset_is_utf8("us-ascii"));
	CHECK(!charset_is_utf8("latin1"));

	/* more charsets than the cache holds, and back */
	{
		static const char *const names[] = {
			"koi8-r", "iso-8859-2", "iso-8859-5", "windows-1251",
			"iso-8859-7", "big5", "euc-jp", "gb2312", "cp850",
			"iso-8859-15", "koi8-u", "koi8-r",
		};
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			CHECK_MSG(charset_get(names[i]) != NULL, "%s",
			    names[i]);
	}

	/* out is bounded */
	buf_init(&b, 8);
	CHECK_INT(charset_to_utf8(charset_get("koi8-r"), "\xe9\xd7\xc1\xce"
	    "\xe9\xd7\xc1\xce\xe9\xd7\xc1\xce", 12, 1, &used, &b), -1);
	buf_free(&b);
	buf_init(&b, 4);
	CHECK_INT(charset_utf8_clean("abcdef", 6, 1, &used, &b), -1);
	buf_free(&b);
}

/* UTF-7 (RFC 2152), every cut of each input giving the same text */
static void
test_utf7(void)
{
	convert("utf-7", "Hi Mom -+Jjo--!", 15, "Hi Mom -\xe2\x98\xba-!");
	convert("UTF-7", "+ZeVnLIqe-", 10,
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	convert("unicode-1-1-utf-7", "1 +- 1 = 2", 10, "1 + 1 = 2");
	/* a surrogate pair; a run the end of the text closes */
	convert("utf-7", "+2D3eAA-", 8, "\xf0\x9f\x98\x80");
	convert("utf-7", "+AGEAYgBj", 9, "abc");
	/* leniently: a "+" that begins no run, unencoded "~" and "\" */
	convert("utf-7", "a+ b~\\", 6, "a+ b~\\");
	/* a lone high surrogate */
	convert("utf-7", "+2D0-x", 6, "\xef\xbf\xbdx");
	/* a lone low surrogate, spare bits that are not zero, 8-bit bytes:
	 * one U+FFFD each, wherever the text is cut */
	convert("utf-7", "\xff+windows\xf4.", 11, "\xef\xbf\xbd\xec\x88\xa9"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.");
}

/*
 * The charsets charset_ascii_bytes() names keep ASCII as it is and turn
 * no other byte into ASCII or into a character that folds to it
 * (U+0130, U+017F, U+212A): an ASCII needle may be looked for in their
 * bytes.  Checked against iconv, byte by byte.
 */
static void
test_ascii_bytes(void)
{
	static const char *const yes[] = {
		"iso-8859-1", "ISO-8859-2", "iso-8859-4", "iso-8859-5",
		"iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-10",
		"iso-8859-11", "iso-8859-13", "iso-8859-14", "iso-8859-15",
		"iso-8859-16", "iso8859-1", "iso_8859-15", "latin1", "l1",
		"windows-1250", "windows-1251", "windows-1252", "windows-1253",
		"windows-1255", "windows-1256", "windows-1257", "windows-1258",
		"cp1252", "koi8-r", "KOI8-U", " koi8-r*ru", "iso-8859-3",
		"iso-8859-9", "windows-1254", "cp1254",
	};
	static const char *const no[] = {
		"iso-2022-jp", "shift_jis", "big5", "gb2312", "euc-kr",
		"utf-16", "utf-7", "iso-8859-12", "iso-8859-1252", "cp1",
		"windows-1", "utf-8", "us-ascii", "x-unknown", "",
	};
	char in[1];
	struct buf b;
	size_t i, used, k;
	unsigned c, bad;
	struct charset_conv *conv;

	buf_init(&b, 64);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK_MSG(charset_ascii_bytes(yes[i]), "%s", yes[i]);
		conv = charset_get(yes[i]);
		CHECK_MSG(conv != NULL, "%s", yes[i]);
		if (conv == NULL)
			continue;
		for (c = 0, bad = 0; c < 256; c++) {
			in[0] = (char)c;
			buf_reset(&b);
			conv = charset_get(yes[i]);
			if (charset_to_utf8(conv, in, 1, 1, &used, &b) == -1) {
				bad++;
				continue;
			}
			if (c < 0x80) {
				bad += b.len != 1 ||
				    (unsigned char)b.data[0] != c;
				continue;
			}
			/* a byte above 0x7f is never ASCII */
			for (k = 0; k < b.len; k++)
				bad += !((unsigned char)b.data[k] & 0x80);
		}
		CHECK_MSG(bad == 0, "%s: %u bytes", yes[i], bad);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK_MSG(!charset_ascii_bytes(no[i]), "%s", no[i]);
	buf_free(&b);
}

int
main(void)
{
	T_RUN(test_seq);
	T_RUN(test_convert);
	T_RUN(test_utf7);
	T_RUN(test_ascii_bytes);
	return t_done();
}
