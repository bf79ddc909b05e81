/*
 * Unit tests for SEARCH in common/imap/message: the ASCII needle looked for in
 * raw or block-decoded bytes must answer as the decoding path does (every
 * text part decoded whole and converted to UTF-8, then searched), in
 * every transfer encoding and charset, across block and part boundaries;
 * SEARCH HEADER answered from an ENVELOPE must answer as the header does;
 * and messages read with message_read() must answer as mapped ones.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/mail/base64.h"
#include "common/mail/charset.h"
#include "common/mail/mime.h"
#include "common/mail/textsearch.h"
#include "tests/t.h"

#define BIG	(64 * 1024 * 1024)

/* --- the reference ---------------------------------------------------- */

static int
encoded(const struct mime_part *p)
{
	return p->cte == MIME_CTE_QP || p->cte == MIME_CTE_BASE64;
}

/* One part the slow and simple way: decoded a byte at a time, converted
 * whole, searched whole. */
static int
ref_part(const struct mime_part *p, const char *needle)
{
	const char *cs = p->charset != NULL ? p->charset : "us-ascii";
	struct textsearch *ts = textsearch_new(needle, strlen(needle));
	struct charset_conv *conv;
	struct mime_decoder dc;
	struct buf dec, utf;
	size_t i, used;
	int r;

	if (!encoded(p) && charset_is_utf8(cs)) {
		r = textsearch_feed(ts, mime_body_data(p), p->body_len);
		textsearch_free(ts);
		return r;
	}
	buf_init(&dec, BIG);
	buf_init(&utf, BIG);
	mime_decoder_init(&dc, encoded(p) ? p->cte : MIME_CTE_8BIT);
	for (i = 0; i < p->body_len; i++)
		mime_decoder_run(&dc, mime_body_data(p) + i, 1, &dec);
	mime_decoder_finish(&dc, &dec);
	if ((conv = charset_get(cs)) == NULL)
		conv = charset_get("utf-8");
	charset_to_utf8(conv, buf_cstr(&dec), dec.len, 1, &used, &utf);
	r = textsearch_feed(ts, buf_cstr(&utf), utf.len);
	textsearch_free(ts);
	buf_free(&dec);
	buf_free(&utf);
	return r;
}

static int
ref_body(struct message *m, const char *needle)
{
	const struct mime_part *p;

	if (*needle == '\0')
		return 1;
	for (p = message_parts(m); p != NULL; p = mime_next(p)) {
		if (p->flags & (MIME_F_MULTIPART | MIME_F_MESSAGE |
		    MIME_F_SYNTHETIC))
			continue;
		if (((p->flags & MIME_F_TEXT) ||
		    strcasecmp(p->type, "message") == 0) &&
		    ref_part(p, needle))
			return 1;
	}
	return 0;
}

/* --- encoders --------------------------------------------------------- */

/* whether qp_encode() writes a malformed "=" now and then */
static int qp_garbage;

/* Quoted-printable as senders write it, and worse: soft line breaks
 * anywhere (also inside the needle, also padded), bytes encoded that need
 * not be, in either case of hex digit, and with qp_garbage now and then
 * a malformed "=". */
static void
qp_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF", lhex[] =
	    "0123456789abcdef";
	size_t i, col = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '\n') {
			buf_addc(out, '\n');
			col = 0;
			continue;
		}
		if (c == '=' || c >= 0x80 || c == '\r' || t_rnd(15) == 0) {
			const char *h = t_rnd(4) ? hex : lhex;

			buf_addc(out, '=');
			buf_addc(out, h[c >> 4]);
			buf_addc(out, h[c & 15]);
			col += 3;
		} else {
			buf_addc(out, (char)c);
			col++;
		}
		if (col > 60 || t_rnd(30) == 0) {
			switch (t_rnd(4)) {
			case 0:
				buf_adds(out, "=\r\n");
				break;
			case 1:
				buf_adds(out, "=  \n");
				break;
			default:
				buf_adds(out, "=\n");
			}
			col = 0;
		}
		if (qp_garbage && t_rnd(400) == 0)
			buf_adds(out, t_rnd(2) ? "=ZZ" : "=4");
	}
}

/* base64 in lines of 76 */
static void
b64_encode(struct buf *out, const char *s, size_t len)
{
	size_t i, n;

	for (i = 0; i < len; i += n) {
		n = len - i < 57 ? len - i : 57;
		base64_encode(s + i, n, out);
		buf_addc(out, '\n');
	}
}

static const char *const ctes[] = {
	"7bit", "8bit", "binary", "quoted-printable", "base64",
};

/* Append one part: its header and its text in the given encoding. */
static void
add_part(struct buf *msg, const char *type, const char *charset,
    unsigned cte, const char *text, size_t len)
{
	buf_addf(msg, "Content-Type: %s", type);
	if (charset != NULL)
		buf_addf(msg, "; charset=\"%s\"", charset);
	buf_addf(msg, "\nContent-Transfer-Encoding: %s\n\n", ctes[cte]);
	if (cte == 3)
		qp_encode(msg, text, len);
	else if (cte == 4)
		b64_encode(msg, text, len);
	else
		buf_add(msg, text, len);
}

/* --- random messages against the reference ---------------------------- */

/* text pieces: words of the needles, blanks and line ends, characters
 * that fold to ASCII (and bytes that look like them), Cyrillic, bytes
 * that are bad UTF-8 or Turkish I in ISO 8859-9 */
static const char *const pieces[] = {
	"xylophone", "quark", "Quark", "kiss", "KISS", "the", "i", "s", "k",
	" ", "  ", "\t", "\n", "\r\n", "=", "stanbul", "\xe2\x84\xaa",
	"\xc5\xbf", "\xc4\xb0", "\xc3\xa9", "\xd0\x96", "\xd0\xb6", "\xdd",
	"\xff", "\x84\xaa", "\x1b$B", "$3", "\\",
};

static const char *const needles[] = {
	"xylophonequark", "kiss", "istanbul", "k", "s  s", "quark\r\nxy",
	"\xc3\xa9", "\xd0\xb6", "\xc4\xb0stanbul", "=", " quark", "QUARK ",
	"$3", "\\",
};

static const char *const charsets[] = {
	NULL, "utf-8", "us-ascii", "iso-8859-1", "iso-8859-9", "windows-1254",
	"koi8-r", "x-no-such-charset", "iso-2022-jp", "shift_jis",
	"windows-1252",
};

static void
random_text(struct buf *t, unsigned n)
{
	buf_reset(t);
	while (n-- > 0)
		buf_adds(t, pieces[t_rnd(sizeof(pieces) / sizeof(pieces[0]))]);
}

static void
test_random(void)
{
	struct buf msg, text;
	struct message *m;
	unsigned round, nparts, k, bad = 0, hits = 0;
	size_t i;
	int want, got;

	buf_init(&msg, BIG);
	buf_init(&text, BIG);
	qp_garbage = 1;
	for (round = 0; round < 600; round++) {
		buf_reset(&msg);
		buf_adds(&msg, "Subject: random\nMIME-Version: 1.0\n");
		nparts = t_rnd(4);
		if (nparts > 0)
			buf_adds(&msg, "Content-Type: multipart/mixed; "
			    "boundary=\"b0\"\n\n");
		for (k = 0; k < (nparts > 0 ? nparts : 1); k++) {
			if (nparts > 0)
				buf_adds(&msg, "--b0\n");
			random_text(&text, round % 20 == 0 ?
			    6000 + t_rnd(4000) : t_rnd(300));
			add_part(&msg, t_rnd(6) == 0 ? "application/pdf" :
			    t_rnd(2) ? "text/plain" : "text/html",
			    charsets[t_rnd(sizeof(charsets) /
			    sizeof(charsets[0]))], t_rnd(5), text.data,
			    text.len);
			if (nparts > 0)
				buf_addc(&msg, '\n');
		}
		if (nparts > 0)
			buf_adds(&msg, "--b0--\n");
		m = message_from_mem(msg.data, msg.len);
		for (i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
			want = ref_body(m, needles[i]);
			got = message_search_body(m, needles[i]);
			hits += want == 1;
			if (got != want) {
				bad++;
				fprintf(stderr, "round %u needle %zu: %d, "
				    "not %d\n", round, i, got, want);
			}
		}
		message_free(m);
	}
	CHECK_MSG(bad == 0, "%u wrong answers", bad);
	CHECK_MSG(hits > 1000, "only %u hits", hits);
	qp_garbage = 0;
	buf_free(&msg);
	buf_free(&text);
}

/* --- chosen cases ----------------------------------------------------- */

/* Search a one-part message; the text is in the part's charset. */
static int
one_part(const char *charset, unsigned cte, const char *text, size_t len,
    const char *needle)
{
	struct buf msg;
	struct message *m;
	int r, ref;

	buf_init(&msg, BIG);
	add_part(&msg, "text/plain", charset, cte, text, len);
	m = message_from_mem(msg.data, msg.len);
	r = message_search_body(m, needle);
	ref = ref_body(m, needle);
	CHECK_MSG(r == ref, "%s %s \"%s\": %d, reference %d",
	    charset != NULL ? charset : "none", ctes[cte], needle, r, ref);
	message_free(m);
	buf_free(&msg);
	return r;
}

/* the size of the blocks message-search.c decodes encoded text in */
#define BLOCK	16384

/* How many bytes the first off bytes of an encoded body decode to. */
static size_t
decoded_len(unsigned cte, const char *enc, size_t off)
{
	struct mime_decoder dc;
	struct buf b;
	size_t n;

	buf_init(&b, BIG);
	mime_decoder_init(&dc, cte == 3 ? MIME_CTE_QP : MIME_CTE_BASE64);
	mime_decoder_run(&dc, enc, off, &b);
	n = b.len;
	buf_free(&b);
	return n;
}

/*
 * The needle around the boundaries of the blocks decoding works in: the
 * text is encoded with the same random choices every time, so where the
 * first block ends in the decoded text is known, and the needle is put
 * at every place across it, in mixed case; also with a KELVIN SIGN for
 * its k, cut there.
 */
static void
test_blocks(void)
{
	static const char *const forms[] = {
		"xylophonequark", "XYLOPHONEQUARK", "XyLoPhOnEqUaRk",
	};
	struct buf text, enc;
	size_t at, k, d, from;
	unsigned cte, bad = 0;
	unsigned long seed = 77;

	buf_init(&text, BIG);
	buf_init(&enc, BIG);
	for (cte = 0; cte < 5; cte++) {
		buf_reset(&text);
		for (k = 0; k < 40000; k++)
			buf_addc(&text, k % 71 == 70 ? '\n' :
			    "abcdefg hij lmn"[k % 15]);
		from = BLOCK - 20;
		if (cte >= 3) {
			buf_reset(&enc);
			t_rnd_state = seed;
			if (cte == 3)
				qp_encode(&enc, text.data, text.len);
			else
				b64_encode(&enc, text.data, text.len);
			d = decoded_len(cte, enc.data, BLOCK);
			from = d - 20;
		}
		for (at = from; at < from + 24; at++) {
			buf_reset(&text);
			for (k = 0; k < 40000; k++)
				buf_addc(&text, k % 71 == 70 ? '\n' :
				    "abcdefg hij lmn"[k % 15]);
			/* no line end inside the needle, so that the
			 * encoding makes the same choices */
			for (k = at; k < at + 16; k++)
				if (text.data[k] == '\n')
					break;
			if (k < at + 16)
				continue;
			memcpy(text.data + at, forms[at % 3], 14);
			t_rnd_state = seed;
			bad += one_part("utf-8", cte, text.data, text.len,
			    "xylophonequark") != 1;
			t_rnd_state = seed;
			bad += one_part("iso-8859-1", cte, text.data,
			    text.len, "xYlophonequark") != 1;
			/* one letter off: nowhere */
			text.data[at + 13] = 'x';
			t_rnd_state = seed;
			bad += one_part("utf-8", cte, text.data, text.len,
			    "xylophonequark") != 0;
			/* a KELVIN SIGN for the k, the only k there is */
			memcpy(text.data + at, "xylophonequar\xe2\x84\xaa", 16);
			t_rnd_state = seed;
			bad += one_part("utf-8", cte, text.data, text.len,
			    "xylophonequark") != 1;
			t_rnd_state = seed;
			bad += one_part("utf-8", cte, text.data, text.len,
			    "K") != 1;
			bad += one_part("utf-8", cte, text.data + at + 13,
			    3, "K") != 1;
		}
	}
	CHECK_MSG(bad == 0, "%u wrong", bad);
	/* a soft line break at every place in the needle */
	for (k = 1; k < 14; k++) {
		char raw[200];
		int n;

		n = snprintf(raw, sizeof(raw), "Content-Type: text/plain\n"
		    "Content-Transfer-Encoding: quoted-printable\n\n"
		    "say %.*s=\n%s!\n", (int)k, "xylophonequark",
		    "xylophonequark" + k);
		if (n > 0 && (size_t)n < sizeof(raw)) {
			struct message *m = message_from_mem(raw, (size_t)n);

			CHECK_MSG(message_search_body(m, "XYLOPHONEQUARK") ==
			    1, "soft break after %zu", k);
			message_free(m);
		}
	}
	buf_free(&text);
	buf_free(&enc);
}

/* A match never spans two parts; it may start or end a part. */
static void
test_part_edges(void)
{
	struct buf msg;
	struct message *m;
	unsigned cte;
	int r1, r2, r3;

	buf_init(&msg, BIG);
	for (cte = 0; cte < 5; cte++) {
		buf_reset(&msg);
		buf_adds(&msg, "Content-Type: multipart/mixed; boundary=b\n\n"
		    "--b\n");
		add_part(&msg, "text/plain", "utf-8", cte, "one xylo", 8);
		buf_adds(&msg, "\n--b\n");
		add_part(&msg, "text/plain", "utf-8", cte, "phonequark two",
		    14);
		buf_adds(&msg, "\n--b\n");
		add_part(&msg, "text/plain", "utf-8", cte, "Zebracorn", 9);
		buf_adds(&msg, "\n--b\n");
		add_part(&msg, "text/plain", "utf-8", cte, "gnu GIRAFFE", 11);
		buf_adds(&msg, "\n--b--\n");
		m = message_from_mem(msg.data, msg.len);
		r1 = message_search_body(m, "xylophonequark");
		r2 = message_search_body(m, "zebracorn");
		r3 = message_search_body(m, "giraffe");
		CHECK_MSG(r1 == 0 && r2 == 1 && r3 == 1, "%s: %d %d %d",
		    ctes[cte], r1, r2, r3);
		CHECK_INT(message_search_body(m, "one xylo"), 1);
		CHECK_INT(message_search_body(m, "xylo\r\nphone"), 0);
		message_free(m);
	}
	buf_free(&msg);
}

/* Charsets where ASCII bytes are not ASCII text, or where a byte folds
 * to an ASCII letter. */
static void
test_charsets(void)
{
	unsigned cte;

	for (cte = 0; cte < 5; cte++) {
		/* KOI8-R: "Иван" and "ЖУК" */
		CHECK_INT(one_part("koi8-r", cte, "\xe9\xd7\xc1\xce and "
		    "\xf6\xf5\xeb", 12, "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd"),
		    1);
		CHECK_INT(one_part("koi8-r", cte, "\xe9\xd7\xc1\xce and "
		    "\xf6\xf5\xeb", 12, "\xd0\xb6\xd1\x83\xd0\xba"), 1);
		CHECK_INT(one_part("koi8-r", cte, "\xe9\xd7\xc1\xce", 4,
		    "\xd0\xb6"), 0);
		CHECK_INT(one_part("koi8-r", cte, "Ivan \xe9\xd7\xc1\xce", 9,
		    "IVAN"), 1);
		/* ISO-2022-JP: "山田" as JIS bytes, which are ASCII */
		CHECK_INT(one_part("iso-2022-jp", cte,
		    "x \x1b$B;3ED\x1b(B y", 13,
		    "\xe5\xb1\xb1\xe7\x94\xb0"), 1);
		CHECK_INT(one_part("iso-2022-jp", cte,
		    "x \x1b$B;3ED\x1b(B y", 13, ";3"), 0);
		CHECK_INT(one_part("iso-2022-jp", cte,
		    "x \x1b$B;3ED\x1b(B y", 13, "X "), 1);
		/* Shift_JIS: the second byte of "ソ" is a backslash */
		CHECK_INT(one_part("shift_jis", cte, "a\x83\x5c" "b", 4, "\\"),
		    0);
		CHECK_INT(one_part("shift_jis", cte, "a\x83\x5c" "b", 4,
		    "\xe3\x82\xbd" "B"), 1);
		/* Turkish capital I with dot: a byte in ISO 8859-9 and
		 * Windows-1254, two in UTF-8; Y acute in ISO 8859-1.  Under
		 * i;unicode-casemap it is I and a combining dot above, so
		 * the dot stands between I and "stanbul" */
		CHECK_INT(one_part("iso-8859-9", cte, "\xddstanbul", 8,
		    "istanbul"), 0);
		CHECK_INT(one_part("iso-8859-9", cte, "\xddstanbul", 8,
		    "i\xcc\x87stanbul"), 1);
		CHECK_INT(one_part("windows-1254", cte, "\xddstanbul", 8,
		    "\xc4\xb0STANBUL"), 1);
		CHECK_INT(one_part("windows-1254", cte, "x \xddstanbul", 10,
		    "x i"), 1);
		CHECK_INT(one_part("iso-8859-1", cte, "\xddstanbul", 8,
		    "istanbul"), 0);
		CHECK_INT(one_part("utf-8", cte, "\xc4\xb0stanbul", 9,
		    "istanbul"), 0);
		CHECK_INT(one_part("utf-8", cte, "\xc4\xb0stanbul", 9,
		    "STANBUL"), 1);
		CHECK_INT(one_part(NULL, cte, "\xc4\xb0stanbul", 9,
		    "\xc4\xb0STANBUL"), 1);
		CHECK_INT(one_part("x-unknown", cte, "mi\xc5\xbfs", 5, "miss"),
		    1);
		CHECK_INT(one_part("utf-8", cte, "\xe2\x84\xaa" "elvin", 8,
		    "kelvin"), 1);
		/* bad UTF-8 before an ASCII letter */
		CHECK_INT(one_part("utf-8", cte, "\xe2x\xc4k", 4, "xK"), 0);
		CHECK_INT(one_part("utf-8", cte, "\xe2x\xc4k", 4, "x"), 1);
	}
}

/* --- ENVELOPE against the header ---------------------------------------- */

static const char *const headers[] = {
	"Subject: Quarterly report, draft 2\n"
	"Message-ID: <abc.123@example.org>\n"
	"In-Reply-To: <parent@example.org>\n"
	"Date: Tue, 14 Nov 2023 09:12:40 +0100\n",
	/* encoded words, split characters, adjacent words */
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?Q?M=FCnchen?=\n"
	"Message-ID: <x@y>\n",
	"Subject: =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=\n",
	"Subject: =?utf-8?q?ab?=\n =?utf-8?q?cd?= ef\n",
	"Subject: =?x-unknown?q?keep_me?=\n",
	/* folded, with blanks the envelope changes */
	"Subject: folded\n subject line\n",
	"Subject: two  blanks\n",
	"Subject: tab\there\n",
	"Subject: trailing blank \n",
	"Subject:\n starts on the next line\n",
	"Subject: folded\n\tby tab\n",
	"Message-ID: \n <folded@id>\n",
	"Message-ID: <trailing@id>  \n",
	/* duplicates: only the last is in the envelope */
	"Subject: first one\nSubject: second one\n",
	"Message-ID: <one@x>\nMessage-ID: <two@x>\n",
	"In-Reply-To: <a@x>\nIn-Reply-To: <b@x>\n",
	/* absent and empty */
	"From: a@b\n",
	"Subject:\nMessage-ID:\n",
	"Subject: \n",
	/* odd bytes */
	"Subject: nul \0 byte\n",		/* NUL_HEADER */
	"Subject: lone\rcr\n",
	"Subject: =?utf-8?q?a\rb?=\n",
	"Subject: crlf\r\n line\r\n",
	"Subject: 8bit caf\xc3\xa9 and bad \xff\n",
	"Subject: quotes \"q\" and back\\slash\n",
	NULL,			/* LONG_HEADER: built by header_text() */
	/* an address list with every kind of string before Message-ID */
	"From: \"Doe, (Jane)\" <jane@example.org>, (comment) bob@x\n"
	"To: group: a@b, \"q\\\"uote\" <c@d>;, =?utf-8?q?J=C3=BCrgen?= <j@x>\n"
	"Cc: caf\xc3\xa9 <e@f>\nBcc: undisclosed-recipients:;\n"
	"Sender: <s@x>\nReply-To: r@x\nMessage-ID: <after.lists@x>\n"
	"In-Reply-To: <irt@x> (comment)\n",
	"Date: a date that does not parse\n",
	"Subject: KELVIN \xe2\x84\xaa and long \xc5\xbf\n",
};

#define NUL_HEADER	19
#define NUL_HEADER_LEN	20
#define LONG_HEADER	25

/* The text of headers[i] (a subject sent as a literal for LONG_HEADER),
 * and its length. */
static const char *
header_text(size_t i, size_t *len_r)
{
	static char long_subject[1200];
	size_t n;

	if (i == LONG_HEADER) {
		n = (size_t)snprintf(long_subject, sizeof(long_subject),
		    "Subject: a literal because it is long ");
		memset(long_subject + n, 'x', sizeof(long_subject) - n - 6);
		memcpy(long_subject + sizeof(long_subject) - 6, " end\n", 6);
		*len_r = sizeof(long_subject);
		return long_subject;
	}
	*len_r = i == NUL_HEADER ? NUL_HEADER_LEN : strlen(headers[i]);
	return headers[i];
}

static const char *const env_fields[] = {
	"Subject", "Message-ID", "In-Reply-To", "Date", "SUBJECT",
	"message-id",
};

/* Needles from the header itself: pieces of each field's text, in other
 * cases, with blanks around; and some fixed ones. */
static void
env_needles(const char *hdr, size_t len, char ***out, size_t *n)
{
	static const char *const fixed[] = {
		"", " ", "  ", "\t", "x", "\xc3\xa9", "gr\xc3\xbc\xc3\x9f" "e",
		"abcd", "ab cd", "q\"uote", "back\\slash", "\xef\xbf\xbd",
		"=?utf-8?q?ab?=", "a b", "lonecr", "lone\rcr", "k and",
		"kelvin k", "long s", "@x", "ÉE",
	};
	size_t i, k, cap = 400;
	char **v = calloc(cap, sizeof(*v));

	*n = 0;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		v[(*n)++] = strdup(fixed[i]);
	for (i = 0; i + 1 < len && *n + 4 < cap; i += 1 + t_rnd(7)) {
		size_t l = 1 + t_rnd(12);
		char *s;

		if (i + l > len)
			l = len - i;
		if (memchr(hdr + i, '\0', l) != NULL)
			continue;
		s = malloc(l + 3);
		memcpy(s, hdr + i, l);
		s[l] = '\0';
		for (k = 0; k < l; k++)
			if (t_rnd(3) == 0 && s[k] >= 'a' && s[k] <= 'z')
				s[k] -= 32;
		v[(*n)++] = s;
		if (t_rnd(4) == 0) {
			char *t = malloc(l + 3);

			t[0] = ' ';
			memcpy(t + 1, s, l);
			t[l + 1] = ' ';
			t[l + 2] = '\0';
			v[(*n)++] = t;
		}
	}
	*out = v;
}

static void
test_envelope(void)
{
	struct message *m;
	struct buf env, hdr;
	const char *text;
	char **nd;
	size_t i, f, k, nn, hlen;
	unsigned exact, bit, compared = 0, bad = 0;
	int a, b;

	buf_init(&env, BIG);
	buf_init(&hdr, BIG);
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		text = header_text(i, &hlen);
		buf_reset(&hdr);
		buf_add(&hdr, text, hlen);
		buf_adds(&hdr, "\nbody\n");
		m = message_from_mem(hdr.data, hdr.len);
		buf_reset(&env);
		CHECK_INT(message_envelope(m, &env), 0);
		exact = message_envelope_exact(m);
		env_needles(text, hlen, &nd, &nn);
		for (f = 0; f < sizeof(env_fields) / sizeof(env_fields[0]);
		    f++) {
			bit = message_envelope_field(env_fields[f]);
			CHECK(bit != 0);
			if (!(exact & bit))
				continue;
			for (k = 0; k < nn; k++) {
				a = message_search_header(m, env_fields[f],
				    nd[k]);
				b = message_envelope_search(env.data, env.len,
				    env_fields[f], nd[k]);
				compared++;
				if (a != b) {
					bad++;
					fprintf(stderr, "header %zu %s \"%s\": "
					    "%d from the header, %d from the "
					    "envelope\n", i, env_fields[f],
					    nd[k], a, b);
				}
			}
		}
		for (k = 0; k < nn; k++)
			free(nd[k]);
		free(nd);
		message_free(m);
	}
	CHECK_MSG(bad == 0, "%u of %u differ", bad, compared);
	CHECK(compared > 1000);

	/* which fields the envelope shows exactly */
	{
		static const struct {
			size_t		 header;
			unsigned	 exact;
		} want[] = {
			{ 0, 0x0f }, { 1, 0x0f }, { 5, 0x0f }, { 6, 0x0d },
			{ 7, 0x0d }, { 8, 0x0d }, { 9, 0x0d }, { 10, 0x0d },
			{ 11, 0x07 }, { 12, 0x07 }, { 13, 0x0d }, { 14, 0x07 },
			{ 15, 0x0b }, { 16, 0x0f }, { 17, 0x0f }, { 18, 0x0f },
			{ 19, 0x0d }, { 20, 0x0d }, { 21, 0x0d }, { 22, 0x0f },
		};

		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			i = want[k].header;
			text = header_text(i, &hlen);
			m = message_from_mem(text, hlen);
			CHECK_MSG(message_envelope_exact(m) == want[k].exact,
			    "header %zu: %#x", i, message_envelope_exact(m));
			message_free(m);
		}
	}
	/* what does not parse is not believed */
	CHECK_INT(message_envelope_search("", 0, "Subject", "x"), -1);
	CHECK_INT(message_envelope_search("(NIL", 4, "Subject", "x"), -1);
	CHECK_INT(message_envelope_search("(NIL \"unterminated", 18,
	    "Subject", "x"), -1);
	CHECK_INT(message_envelope_search("(NIL {99}\r\nshort", 16,
	    "Subject", "x"), -1);
	CHECK_INT(message_envelope_search("(NIL {5}\r\nshort", 15,
	    "Subject", "SHO"), 1);
	CHECK_INT(message_envelope_search("(NIL \"x\")", 9, "From", "x"), -1);
	CHECK_INT(message_envelope_search("(NIL NIL ((NIL NIL \"a\" \"b\")",
	    27, "Message-ID", "x"), -1);
	buf_free(&env);
	buf_free(&hdr);
}

/* --- message_read ------------------------------------------------------- */

static void
write_file(int dfd, const char *name, const char *data, size_t len)
{
	int fd = openat(dfd, name, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	CHECK(fd != -1 && write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* The same answers from a message read through a store as from the
 * bytes in memory. */
static void
same_answers(int dfd, const char *name, const char *data, size_t len,
    struct buf *store)
{
	struct message *a, *b, *c;
	struct buf ea, eb;
	size_t la, lb;
	int e = 0;
	const char *da, *db;

	a = message_from_mem(data, len);
	b = message_read(dfd, name, store, 0, &e);
	CHECK_MSG(b != NULL, "%s: %d", name, e);
	if (b == NULL) {
		message_free(a);
		return;
	}
	buf_init(&ea, BIG);
	buf_init(&eb, BIG);
	/* header questions first: only the header is read */
	CHECK_INT(message_search_header(b, "Subject", "needle"),
	    message_search_header(a, "Subject", "needle"));
	CHECK_INT(message_date(b), message_date(a));
	CHECK_INT(message_envelope(b, &eb), 0);
	CHECK_INT(message_envelope(a, &ea), 0);
	CHECK_STR(buf_cstr(&eb), buf_cstr(&ea));
	/* then the body */
	CHECK_INT(message_search_body(b, "needle"),
	    message_search_body(a, "needle"));
	CHECK_INT(message_vsize(b), message_vsize(a));
	da = message_data(a, &la);
	db = message_data(b, &lb);
	CHECK_MSG(la == lb && memcmp(da, db, la) == 0, "%s", name);
	buf_reset(&eb);
	CHECK_INT(message_bodystructure(b, MESSAGE_BS_EXTENDED, &eb), 0);
	buf_reset(&ea);
	CHECK_INT(message_bodystructure(a, MESSAGE_BS_EXTENDED, &ea), 0);
	CHECK_STR(buf_cstr(&eb), buf_cstr(&ea));
	message_free(b);
	/* all at once */
	c = message_read(dfd, name, store, 1, &e);
	CHECK(c != NULL && message_search_body(c, "needle") ==
	    message_search_body(a, "needle"));
	message_free(c);
	message_free(a);
	buf_free(&ea);
	buf_free(&eb);
}

static void
test_read(void)
{
	static const char plain[] = "Subject: a needle\nDate: Tue, 14 Nov "
	    "2023 09:12:40 +0100\n\nthe needle\n";
	char dir[] = "/tmp/test-search.XXXXXX", cmd[100];
	struct buf big, store, small;
	struct message *m;
	int dfd, e = 0;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	buf_init(&store, MESSAGE_READ_MAX);
	buf_init(&big, BIG);

	write_file(dfd, "plain", plain, strlen(plain));
	same_answers(dfd, "plain", plain, strlen(plain), &store);

	/* a header longer than the first read, CRLF line ends */
	buf_reset(&big);
	buf_adds(&big, "X-Long: ");
	for (i = 0; i < 30000; i++)
		buf_addc(&big, 'a' + (char)(i % 26));
	buf_adds(&big, "\r\nSubject: NEEDLE late\r\n\r\nbody needle\r\n");
	write_file(dfd, "longhdr", big.data, big.len);
	same_answers(dfd, "longhdr", big.data, big.len, &store);

	/* the empty line right at the end of the first read */
	for (i = 8190; i <= 8194; i++) {
		buf_reset(&big);
		buf_adds(&big, "Subject: needle\nX-Pad: ");
		while (big.len < i - 1)
			buf_addc(&big, 'p');
		buf_adds(&big, "\n\nneedle body\n");
		write_file(dfd, "edge", big.data, big.len);
		same_answers(dfd, "edge", big.data, big.len, &store);
	}

	/* no empty line at all: the whole file is header */
	write_file(dfd, "nosep", "Subject: needle\nFrom: x", 23);
	same_answers(dfd, "nosep", "Subject: needle\nFrom: x", 23, &store);

	/* larger than what is read: mapped */
	buf_reset(&big);
	buf_adds(&big, "Subject: big\n\n");
	while (big.len < MESSAGE_READ_MAX + 5000)
		buf_adds(&big, "filler filler filler\n");
	buf_adds(&big, "needle at the end\n");
	write_file(dfd, "big", big.data, big.len);
	same_answers(dfd, "big", big.data, big.len, &store);

	/* a store too small for anything: mapped */
	buf_init(&small, 10);
	same_answers(dfd, "plain", plain, strlen(plain), &small);
	buf_free(&small);

	/* empty, missing, not a file */
	write_file(dfd, "empty", "", 0);
	m = message_read(dfd, "empty", &store, 0, &e);
	CHECK(m != NULL && message_search_body(m, "x") == 0 &&
	    message_search_header(m, "Subject", "") == 0 &&
	    message_vsize(m) == 0);
	message_free(m);
	CHECK(message_read(dfd, "missing", &store, 0, &e) == NULL &&
	    e == ENOENT);
	mkdirat(dfd, "sub", 0700);
	CHECK(message_read(dfd, "sub", &store, 1, &e) == NULL && e == EINVAL);

	buf_free(&store);
	buf_free(&big);
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

/* --- the address keys ----------------------------------------------- */

/* FROM/TO/CC/BCC look at the envelope's addresses (RFC 3501 6.4.4), as
 * ENVELOPE shows them (a comment names an address that has no name):
 * comments and odd spacing in the header do not hide an address, and
 * names are decoded. */
static void
test_addresses(void)
{
	static const struct {
		const char	*header;
		const char	*needle;
		int		 want;
	} cases[] = {
		{ "From: <user (comment)@ (comment) domain.org>",
		    "user@domain.org", 1 },
		{ "From: user @ domain.org", "USER@DOMAIN.ORG", 1 },
		{ "From: =?UTF-8?Q?J=C3=B6rg_Smith?= <jorg@x.org>",
		    "J\xc3\xb6rg Smith <jorg@x.org>", 1 },
		{ "From: =?UTF-8?Q?J=C3=B6rg?= <jorg@x.org>", "=?UTF-8", 0 },
		{ "From: \"Doe, Jane\" <jane@x.org>, bob@y.org",
		    "bob@y.org", 1 },
		{ "From: \"Doe, Jane\" <jane@x.org>, bob@y.org",
		    "Doe, Jane <jane@x", 1 },
		{ "From: team: a@x.org, b@y.org;", "b@y.org", 1 },
		{ "From: jim@x.org (Jim Jones)", "Jim Jones", 1 },
		{ "From: a@x.org", "b@x.org", 0 },
		{ "To: a@x.org", "a@x.org", 0 },	/* not the From field */
	};
	struct message *m;
	struct buf b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 4096);
		buf_addf(&b, "%s\nSubject: x\n\nbody\n", cases[i].header);
		m = message_from_mem(b.data, b.len);
		CHECK_MSG(m != NULL && message_search_address(m, "From",
		    cases[i].needle) == cases[i].want, "case %zu: %s / %s", i,
		    cases[i].header, cases[i].needle);
		message_free(m);
		buf_free(&b);
	}
}

int
main(void)
{
	T_RUN(test_random);
	T_RUN(test_blocks);
	T_RUN(test_part_edges);
	T_RUN(test_charsets);
	T_RUN(test_envelope);
	T_RUN(test_addresses);
	T_RUN(test_read);
	message_search_cleanup();
	return t_done();
}
