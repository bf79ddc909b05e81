/* Unit tests for common/imap/mutf7: round trips in many scripts, and every
 * kind of input the strict decoder and encoder must refuse. */
#include <stdlib.h>

#include "common/imap/mutf7.h"
#include "tests/t.h"

/* UTF-8 and its one modified UTF-7 spelling */
static const struct {
	const char	*utf8;
	const char	*mutf7;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "Sent Items", "Sent Items" },
	{ "&", "&-" },
	{ "a&b", "a&-b" },
	{ "&&", "&-&-" },
	{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "Entwürfe", "Entw&APw-rfe" },
	{ "Gelöschte Objekte", "Gel&APY-schte Objekte" },
	{ "Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-" },
	{ "Κάδος", "&A5oDrAO0A78Dwg-" },
	{ "עברית", "&BeIF0QXoBdkF6g-" },
	{ "العربية", "&BicGRAY5BjEGKAZKBik-" },
	{ "हिन्दी", "&CTkJPwkoCU0JJglA-" },
	{ "ไทย", "&DkQOFw4i-" },
	{ "한국어", "&1VytbcW0-" },
	{ "日本語/メール", "&ZeVnLIqe-/&MOEw,DDr-" },
	{ "😀", "&2D3eAA-" },
	{ "a😀b", "a&2D3eAA-b" },
	{ "😀😀x𝄞", "&2D3eANg93gA-x&2DTdHg-" },
	{ "Ünïcödé & co", "&ANw-n&AO8-c&APY-d&AOk- &- co" },
	{ "Déjà vu", "D&AOk-j&AOA- vu" },
	{ "éé", "&AOkA6Q-" },
	{ "é&", "&AOk-&-" },
	{ "&é", "&-&AOk-" },
	{ "é é", "&AOk- &AOk-" },
	{ "\xc2\xa0", "&AKA-" },		/* no-break space */
	{ "\xc2\x80", "&AIA-" },		/* a C1 control */
	{ "\x01x", "&AAE-x" },			/* a C0 control */
	{ "\t\x7f", "&AAkAfw-" },
	{ "\xef\xbf\xbd", "&,,0-" },		/* U+FFFD */
	{ "\xef\xbf\xbf", "&,,8-" },		/* U+FFFF */
	{ "\xf4\x8f\xbf\xbf", "&2,,f,w-" },	/* U+10FFFF */
};

/* not modified UTF-7 */
static const char *bad_mutf7[] = {
	"&",			/* not closed */
	"a&",
	"&AOk",
	"&ZeVnLIqe",
	"tab\there",		/* bytes outside 0x20..0x7e */
	"del\x7f",
	"\x01",
	"caf\xc3\xa9",		/* raw 8-bit */
	"&AOk-&AOk-",		/* a run right after another */
	"&AOk-&APY-x",
	"&AGE-",		/* encodes "a" */
	"&ACY-",		/* encodes "&" */
	"x&AOkAYQ-",		/* "é" then an encoded "a" */
	"&AOl-",		/* padding bits not zero */
	"&AOn-",
	"&AOkA-",		/* a spare base64 character */
	"&AOkA6QA-",
	"&2D0-",		/* lone high surrogate */
	"&3gA-",		/* lone low surrogate */
	"&2D0AQQ-",		/* high surrogate then "A" */
	"&3gDYPQ-",		/* the pair the wrong way round */
	"&2D3YPd4A-",		/* high, high, low */
	"&AAA-",		/* NUL */
	"&A/k-",		/* "/" is not in the alphabet */
	"&A=k-",
	"&AOk=-",
	"&A k-",
	"&&-",			/* "&" is not base64 */
	"&-&",
};

/* not valid UTF-8 (or holding NUL), for the encoder */
static const struct {
	const char	*s;
	size_t		 len;
} bad_utf8[] = {
	{ "\xc0\xaf", 2 },		/* overlong "/" */
	{ "\xc1\xbf", 2 },
	{ "\xe0\x80\xaf", 3 },		/* overlong */
	{ "\xf0\x80\x80\xaf", 4 },	/* overlong */
	{ "\xed\xa0\x80", 3 },		/* surrogate U+D800 */
	{ "\xed\xbf\xbf", 3 },		/* surrogate U+DFFF */
	{ "\xf4\x90\x80\x80", 4 },	/* U+110000 */
	{ "\xf8\x88\x80\x80\x80", 5 },	/* five bytes */
	{ "\xff", 1 },
	{ "\xfe", 1 },
	{ "\x80", 1 },			/* stray continuation */
	{ "a\xbfz", 3 },
	{ "\xc3", 1 },			/* cut short */
	{ "\xe2\x82", 2 },
	{ "\xf0\x9f\x98", 3 },
	{ "\xc3(", 2 },			/* continuation missing */
	{ "a\0b", 3 },			/* NUL */
	{ "\0", 1 },
};

static void
test_pairs(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		buf_reset(&b);
		CHECK_MSG(mutf7_encode(pairs[i].utf8, strlen(pairs[i].utf8),
		    &b) == 0, "encode case %zu", i);
		CHECK_STR(buf_cstr(&b), pairs[i].mutf7);
		buf_reset(&b);
		CHECK_MSG(mutf7_decode(pairs[i].mutf7, strlen(pairs[i].mutf7),
		    &b) == 0, "decode case %zu", i);
		CHECK_STR(buf_cstr(&b), pairs[i].utf8);
		CHECK_MSG(mutf7_valid(pairs[i].mutf7,
		    strlen(pairs[i].mutf7)), "valid case %zu", i);
	}
	/* appending keeps what was there */
	buf_reset(&b);
	CHECK_INT(buf_adds(&b, "x/"), 0);
	CHECK_INT(mutf7_encode("é", 2, &b), 0);
	CHECK_STR(buf_cstr(&b), "x/&AOk-");
	CHECK_INT(mutf7_decode("/&AOk-", 6, &b), 0);
	CHECK_STR(buf_cstr(&b), "x/&AOk-/é");
	/* the length counts, not the NUL */
	buf_reset(&b);
	CHECK_INT(mutf7_decode("ab&AOk-zz", 7, &b), 0);
	CHECK_STR(buf_cstr(&b), "abé");
	buf_free(&b);
}

/* Every BMP character and a spread of supplementary ones survive a round
 * trip, and each encoding is the one valid spelling. */
static void
test_all_chars(void)
{
	struct buf u, m, back;
	char s[8];
	unsigned cp, bad = 0, n;

	buf_init(&u, 64);
	buf_init(&m, 64);
	buf_init(&back, 64);
	for (cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 97) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x80) {
			s[0] = (char)cp;
			n = 1;
		} else if (cp < 0x800) {
			s[0] = (char)(0xc0 | cp >> 6);
			s[1] = (char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			s[0] = (char)(0xe0 | cp >> 12);
			s[1] = (char)(0x80 | (cp >> 6 & 0x3f));
			s[2] = (char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			s[0] = (char)(0xf0 | cp >> 18);
			s[1] = (char)(0x80 | (cp >> 12 & 0x3f));
			s[2] = (char)(0x80 | (cp >> 6 & 0x3f));
			s[3] = (char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		/* put it between ASCII so runs start and end mid-string */
		buf_reset(&u);
		buf_reset(&m);
		buf_reset(&back);
		(void)buf_addc(&u, 'a');
		(void)buf_add(&u, s, n);
		(void)buf_add(&u, s, n);
		(void)buf_addc(&u, 'z');
		if (mutf7_encode(u.data, u.len, &m) == -1 ||
		    mutf7_decode(m.data, m.len, &back) == -1 ||
		    back.len != u.len || memcmp(back.data, u.data, u.len) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
	buf_free(&u);
	buf_free(&m);
	buf_free(&back);
}

static void
test_bad(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(bad_mutf7) / sizeof(bad_mutf7[0]); i++) {
		buf_reset(&b);
		(void)buf_adds(&b, "keep");
		CHECK_MSG(mutf7_decode(bad_mutf7[i], strlen(bad_mutf7[i]),
		    &b) == -1, "bad mutf7 case %zu \"%s\"", i, bad_mutf7[i]);
		CHECK_STR(buf_cstr(&b), "keep");
		CHECK_MSG(!mutf7_valid(bad_mutf7[i], strlen(bad_mutf7[i])),
		    "bad mutf7 case %zu", i);
	}
	/* a NUL inside the given length */
	CHECK(!mutf7_valid("a\0b", 3));
	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		buf_reset(&b);
		(void)buf_adds(&b, "keep");
		CHECK_MSG(mutf7_encode(bad_utf8[i].s, bad_utf8[i].len,
		    &b) == -1, "bad utf8 case %zu", i);
		CHECK_STR(buf_cstr(&b), "keep");
		CHECK_MSG(!utf8_valid(bad_utf8[i].s, bad_utf8[i].len),
		    "bad utf8 case %zu", i);
	}
	buf_free(&b);
}

static void
test_utf8_valid(void)
{
	static const char *good[] = {
		"", "abc", "Entwürfe", "日本語", "😀", "\xc2\xa0",
		"\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
	};
	static const char *bad[] = {
		"\x01", "a\tb", "\x1f", "\x7f", "\xc2\x80", "\xc2\x9f",
		"ok\x0d\x0a",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_MSG(utf8_valid(good[i], strlen(good[i])), "good %zu", i);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!utf8_valid(bad[i], strlen(bad[i])), "bad %zu", i);
	CHECK(!utf8_valid("a\0", 2));
}

/* A full output buffer fails and leaves the buffer as it was. */
static void
test_full(void)
{
	struct buf b;

	buf_init(&b, 8);
	(void)buf_adds(&b, "ab");
	CHECK_INT(mutf7_encode("日本語", strlen("日本語"), &b), -1);
	CHECK_STR(buf_cstr(&b), "ab");
	CHECK_INT(mutf7_decode("&ZeVnLIqe-", 10, &b), -1);
	CHECK_STR(buf_cstr(&b), "ab");
	CHECK_INT(mutf7_encode("é", 2, &b), 0);
	CHECK_STR(buf_cstr(&b), "ab&AOk-");
	buf_free(&b);
}

int
main(void)
{
	T_RUN(test_pairs);
	T_RUN(test_all_chars);
	T_RUN(test_bad);
	T_RUN(test_utf8_valid);
	T_RUN(test_full);
	return t_done();
}
