/*
 * Unit tests for common/mail/preview: which part gives the text, decoding,
 * what is dropped from plain text and HTML, and the cut at PREVIEW_CHARS
 * characters.
 */
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/mail/charset.h"
#include "common/mail/mime.h"
#include "common/mail/preview.h"
#include "tests/t.h"

static const struct {
	const char	*text;
	int		 html;
	const char	*want;
} texts[] = {
	{ "Hello\n  world\t\r\n\r\nagain  \n", 0, "Hello world again" },
	{ "", 0, "" },
	{ " \n\t \n", 0, "" },
	/* quoted lines and the signature */
	{ "Yes.\n> you wrote\n>> and before\nSee you\n", 0, "Yes. See you" },
	{ "> only quoted\n", 0, "" },
	{ "Hi\n-- \nJane Doe\n", 0, "Hi" },
	{ "Hi\r\n-- \r\nJane\r\n", 0, "Hi" },
	{ "Hi\n--\nJane\n", 0, "Hi" },
	{ "Hi\n--- no\n-x\n-\n", 0, "Hi --- no -x -" },
	{ "a -- b\n -- \nc", 0, "a -- b -- c" },
	{ "Hi\n--", 0, "Hi --" },
	/* control and invisible characters */
	{ "a\x01" "b\x7f" "c", 0, "a b c" },
	{ "a\xe2\x80\x8b" "b\xc2\xad" "c\xef\xbb\xbf", 0, "abc" },
	{ "\xc2\xa0 x \xe3\x80\x80 y", 0, "x y" },
	/* HTML */
	{ "<html><head><title>T</title><style>p{color:red}</style></head>"
	    "<body><p>Hello <b>wor</b>ld</p><p>Next</p></body></html>", 1,
	    "Hello world Next" },
	{ "<p>a &amp; b &lt;c&gt; &quot;d&quot; &#233;&#xE9; &nbsp;e</p>", 1,
	    "a & b <c> \"d\" \xc3\xa9\xc3\xa9 e" },
	{ "&bogus; &amp &#xZZ; & x", 1, "&bogus; &amp &#xZZ; & x" },
	{ "x<!-- a <b> comment -->y<!DOCTYPE html>z", 1, "xyz" },
	{ "<script>if (a<b) x = '</p>';</script>Text", 1, "Text" },
	{ "Top<blockquote>q1<blockquote>q2</blockquote>q3</blockquote>End",
	    1, "Top End" },
	{ "<head><title>T</title><body>Body", 1, "Body" },
	{ "a<br>b<br/>c<div>d</div>e", 1, "a b c d e" },
	{ "a < b and c>d", 1, "a < b and c>d" },
	{ "<a href=\"x>y\" title='>'>link</a> text", 1, "link text" },
	{ "<p>&zwnj;&zwnj;Hi&#0;</p>", 1, "Hi\xef\xbf\xbd" },
	{ "<averyveryverylongtagname>x</averyveryverylongtagname>", 1,
	    "x" },
};

static const char *
run(const char *text, int html, struct buf *out)
{
	buf_reset(out);
	if (preview_text(text, strlen(text), html, out) == -1)
		return NULL;
	return buf_cstr(out);
}

/* A preview computed from a whole message. */
static const char *
of_message(const char *msg, struct buf *out)
{
	struct mime_part *root = mime_parse(msg, strlen(msg));
	int r;

	buf_reset(out);
	if (root == NULL)
		return NULL;
	r = preview_make(root, out);
	mime_free(root);
	return r == 0 ? buf_cstr(out) : NULL;
}

/* Code points in s, checking that it is valid UTF-8. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
test_texts(void)
{
	struct buf out;
	size_t i;

	buf_init(&out, 4096);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		CHECK_STR(run(texts[i].text, texts[i].html, &out),
		    texts[i].want);
	buf_free(&out);
}

/* Cut at PREVIEW_CHARS characters, never inside one, and no space at
 * the end; the text may arrive in pieces of any size. */
static void
test_cut(void)
{
	struct buf in, out;
	const char *p;
	size_t i;

	buf_init(&in, 1 << 20);
	buf_init(&out, 4096);
	for (i = 0; i < 300; i++)
		(void)buf_adds(&in, "\xc3\xa9");	/* é: 2 bytes */
	p = run(buf_cstr(&in), 0, &out);
	CHECK(p != NULL && chars(p) == PREVIEW_CHARS);
	CHECK_INT(out.len, 2 * PREVIEW_CHARS);
	/* 199 characters, a space, then more: the space is not kept */
	buf_reset(&in);
	for (i = 0; i < PREVIEW_CHARS - 1; i++)
		(void)buf_adds(&in, "\xe2\x82\xac");	/* €: 3 bytes */
	(void)buf_adds(&in, " \xf0\x9f\x98\x80 more");	/* U+1F600 */
	p = run(buf_cstr(&in), 0, &out);
	CHECK(p != NULL && chars(p) == PREVIEW_CHARS - 1);
	CHECK(p != NULL && out.len > 0 && p[out.len - 1] != ' ');
	/* 198, a space, one 4-byte character: exactly 200 */
	buf_reset(&in);
	for (i = 0; i < PREVIEW_CHARS - 2; i++)
		(void)buf_adds(&in, "a");
	(void)buf_adds(&in, " \xf0\x9f\x98\x80 more");
	p = run(buf_cstr(&in), 0, &out);
	CHECK(p != NULL && chars(p) == PREVIEW_CHARS);
	CHECK(p != NULL && out.len >= 4 &&
	    memcmp(p + out.len - 4, "\xf0\x9f\x98\x80", 4) == 0);
	buf_free(&in);
	buf_free(&out);
}

static const struct {
	const char	*msg;
	const char	*want;
} messages[] = {
	{ "Subject: plain\n\nJust text.\n", "Just text." },
	{ "Subject: none\n\n", "" },
	{ "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "Caf=C3=A9 au lait, tr=\n=C3=A8s bien=3D\n", "Caf\xc3\xa9 au lait, "
	    "tr\xc3\xa8s bien=" },
	{ "Content-Type: text/plain; charset=iso-8859-1\n"
	    "Content-Transfer-Encoding: base64\n\n"
	    "R3Lp4SBn\nYXLnb24=\n", "Gr\xc3\xa9\xc3\xa1 gar\xc3\xa7on" },
	{ "Content-Type: text/plain; charset=x-no-such-charset\n\n"
	    "na\xc3\xafve \xff\n", "na\xc3\xafve \xef\xbf\xbd" },
	{ "Content-Type: text/html; charset=iso-8859-1\n\n"
	    "<p>Gr\xfc\xdf Gott</p>", "Gr\xc3\xbc\xc3\x9f Gott" },
	{ "Content-Type: multipart/alternative; boundary=b\n\n--b\n"
	    "Content-Type: text/plain\n\nThe plain one\n--b\n"
	    "Content-Type: text/html\n\n<p>The HTML one</p>\n--b--\n",
	    "The plain one" },
	{ "Content-Type: multipart/alternative; boundary=b\n\n--b\n"
	    "Content-Type: text/html\n\n<p>The HTML one</p>\n--b\n"
	    "Content-Type: text/plain\n\nThe plain one\n--b--\n",
	    "The plain one" },
	/* an empty plain part: the HTML one is used */
	{ "Content-Type: multipart/alternative; boundary=b\n\n--b\n"
	    "Content-Type: text/plain\n\n\n--b\n"
	    "Content-Type: text/html\n\n<p>HTML</p>\n--b--\n", "HTML" },
	/* attachments give nothing, even text ones */
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: application/pdf\nContent-Transfer-Encoding: "
	    "base64\n\nJVBERi0xLjQK\n--b\n"
	    "Content-Type: text/plain\nContent-Disposition: attachment; "
	    "filename=a.txt\n\nattached\n--b--\n", "" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: message/rfc822\nContent-Disposition: attachment\n"
	    "\nSubject: inner\n\ninner text\n--b\n"
	    "Content-Type: text/plain\n\nouter text\n--b--\n", "outer text" },
	{ "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
	    "iVBORw0KGgo=\n", "" },
	/* an inline forward: the message's own HTML comes first ... */
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: text/html\n\n<p>See below</p>\n--b\n"
	    "Content-Type: message/rfc822\n\nSubject: fwd\n\n"
	    "forwarded text\n--b--\n", "See below" },
	/* ... and the forwarded text counts when there is nothing else */
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: message/rfc822\n\nSubject: fwd\n\n"
	    "forwarded text\n--b--\n", "forwarded text" },
	/* encoded words in the header are no part of it */
	{ "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\nbody\n", "body" },
};

static void
test_messages(void)
{
	struct buf out;
	size_t i;

	buf_init(&out, 4096);
	for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		CHECK_STR(of_message(messages[i].msg, &out), messages[i].want);
	buf_free(&out);
}

/* A long body in several decoding blocks, with a character cut at a
 * block's end: the preview is the same as from the text itself. */
static void
test_blocks(void)
{
	struct buf msg, out;
	const char *p;
	size_t i;

	buf_init(&msg, 1 << 22);
	buf_init(&out, 4096);
	(void)buf_adds(&msg, "Content-Type: text/plain; charset=utf-8\n\n");
	/* quoted lines past the first block, then the text */
	for (i = 0; i < 3000; i++)
		(void)buf_adds(&msg, "> quoted line of a long thread\n");
	for (i = 0; i < 100; i++)
		(void)buf_adds(&msg, "\xe2\x82\xac");
	p = of_message(buf_cstr(&msg), &out);
	CHECK(p != NULL && chars(p) == 100 &&
	    strncmp(p, "\xe2\x82\xac\xe2\x82\xac", 6) == 0);
	buf_free(&msg);
	buf_free(&out);
}

/* Whether a preview is what preview.h promises: valid UTF-8, at most
 * PREVIEW_CHARS characters, no control character, no space at either end
 * nor two in a row. */
static int
well_formed(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, n = 0;
	unsigned cp, prev = ' ';
	int k;

	while (i < len) {
		if ((k = charset_utf8_seq(u + i, len - i, &cp)) <= 0)
			return 0;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    (cp == ' ' && prev == ' '))
			return 0;
		prev = cp;
		i += (size_t)k;
		n++;
	}
	return n <= PREVIEW_CHARS && (n == 0 || prev != ' ');
}

/* Random bytes, markup and line starts, as plain text and as HTML. */
static void
test_random(void)
{
	static const char *const bits[] = {
		"<", ">", "&", ";", "#", "x", "-", "--", " ", "\n", "\r\n", ">",
		"<p>", "</p>", "<!--", "-->", "<script>", "</script>",
		"<blockquote>", "</blockquote>", "&amp;", "&#", "\xc3", "\xa9",
		"\xe2\x82", "\xac", "\xff", "\0", "a", "word ", "\t",
	};
	struct buf in, out;
	size_t len;
	int i, j, html, ok = 1;

	buf_init(&in, 1 << 20);
	buf_init(&out, 4096);
	for (i = 0; i < 3000; i++) {
		buf_reset(&in);
		for (j = (int)t_rnd(200); j > 0; j--) {
			if (t_rnd(4) == 0)
				(void)buf_addc(&in, (int)t_rnd(256));
			else {
				const char *b = bits[t_rnd(sizeof(bits) /
				    sizeof(bits[0]))];

				(void)buf_add(&in, b, *b ? strlen(b) : 1);
			}
		}
		len = in.len;
		for (html = 0; html < 2; html++) {
			buf_reset(&out);
			if (preview_text(in.data != NULL ? in.data : "", len,
			    html, &out) == -1 ||
			    !well_formed(buf_cstr(&out), out.len))
				ok = 0;
		}
	}
	CHECK(ok);
	buf_free(&in);
	buf_free(&out);
}

int
main(void)
{
	T_RUN(test_texts);
	T_RUN(test_cut);
	T_RUN(test_messages);
	T_RUN(test_blocks);
	T_RUN(test_random);
	return t_done();
}
