/*
 * Unit tests for common/mail/mime: the tree of every fixture (its shape, and
 * sizes and line counts checked against an independent count), broken
 * and hostile input (nothing may crash, hang or go out of bounds), header
 * fields, RFC 2047 and RFC 2231 decoding, and the streaming decoders fed
 * whole and cut at every position.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/mail/mime.h"
#include "tests/common/fixture.h"
#include "tests/common/plaincrlf.h"
#include "tests/t.h"

#define BIG	(64 * 1024 * 1024)

/* "type/subtype[child,child]" with flags: ! synthetic, ~ opaque, ^ no
 * separator.  Recursion is bounded by the parser's depth limit. */
static void
shape(const struct mime_part *p, struct buf *b)
{
	const struct mime_part *c;

	buf_addf(b, "%s/%s", p->type, p->subtype);
	if (p->flags & MIME_F_SYNTHETIC)
		buf_addc(b, '!');
	if (p->flags & MIME_F_OPAQUE)
		buf_addc(b, '~');
	if (p->flags & MIME_F_NO_SEPARATOR)
		buf_addc(b, '^');
	if (p->children == NULL)
		return;
	buf_addc(b, '[');
	for (c = p->children; c != NULL; c = c->next) {
		shape(c, b);
		if (c->next != NULL)
			buf_addc(b, ',');
	}
	buf_addc(b, ']');
}

/*
 * Every part: sizes and lines agree with a plain count over its ranges,
 * children lie in order inside the parent's body, depth and counts hold.
 * Returns the number of parts.
 */
static unsigned
check_tree(const char *name, const struct mime_part *root, const char *d,
    size_t len)
{
	const struct mime_part *p = root, *c;
	unsigned n = 0, bad = 0, nc;
	size_t prev;

	if (root->hdr_off != 0 || root->body_off + root->body_len != len)
		bad++;
	while (p != NULL) {
		n++;
		if (p->hdr_off + p->hdr_len != p->body_off ||
		    p->body_off + p->body_len > len ||
		    p->hdr_vsize != plaincrlf_size(d, p->hdr_off, p->hdr_len) ||
		    p->body_vsize != plaincrlf_size(d, p->body_off, p->body_len) ||
		    p->body_lines != plaincrlf_lines(d, p->body_off, p->body_len) ||
		    p->hdr_lines != plaincrlf_lines(d, p->hdr_off, p->hdr_len) ||
		    p->type == NULL || p->subtype == NULL ||
		    p->depth > MIME_DEPTH_MAX + 1) {
			CHECK_MSG(0, "%s: part at %zu: sizes", name,
			    p->hdr_off);
			bad++;
		}
		prev = p->body_off;
		nc = 0;
		for (c = p->children; c != NULL; c = c->next) {
			nc++;
			if (c->parent != p || c->depth != p->depth + 1 ||
			    c->hdr_off < prev ||
			    c->body_off + c->body_len >
			    p->body_off + p->body_len) {
				CHECK_MSG(0, "%s: child at %zu: placement",
				    name, c->hdr_off);
				bad++;
			}
			prev = c->body_off + c->body_len;
		}
		if (nc != p->nchildren ||
		    ((p->flags & MIME_F_MESSAGE) && nc != 1) ||
		    ((p->flags & MIME_F_MULTIPART) && nc == 0))
			bad++;
		p = mime_next(p);
	}
	CHECK_MSG(bad == 0, "%s: %u problems", name, bad);
	return n;
}

static const struct {
	const char	*name;
	const char	*shape;
} shapes[] = {
	{ "addresses.eml", "text/plain" },
	{ "alternative.eml", "multipart/alternative[text/plain,text/html]" },
	{ "crlf.eml", "multipart/alternative[text/plain,text/html]" },
	{ "digest.eml", "multipart/mixed[text/plain,multipart/digest["
	    "message/rfc822[text/plain],message/rfc822[text/plain],"
	    "text/plain]]" },
	{ "eightbit-header.eml", "text/plain" },
	{ "empty.eml", "text/plain^" },
	{ "encoded.eml", "multipart/mixed[text/plain,text/plain,text/plain,"
	    "text/plain]" },
	{ "folded-odd.eml", "text/plain" },
	{ "forward.eml", "multipart/mixed[text/plain,message/rfc822["
	    "multipart/alternative[text/plain,text/html]],message/rfc822["
	    "text/plain]]" },
	{ "header-only.eml", "text/plain" },
	{ "mixed-attach.eml", "multipart/mixed[text/plain,application/pdf,"
	    "image/png]" },
	{ "mixed-eol.eml", "multipart/mixed[text/plain,application/pdf,"
	    "image/png]" },
	{ "nested.eml", "multipart/mixed[multipart/related["
	    "multipart/alternative[text/plain,text/html],image/gif],"
	    "text/plain]" },
	{ "no-boundary-lines.eml", "multipart/mixed[text/plain!]" },
	{ "no-boundary-param.eml", "multipart/mixed[text/plain!]" },
	{ "no-close.eml", "multipart/mixed[text/plain,multipart/alternative["
	    "text/plain,text/html],text/plain]" },
	{ "no-separator.eml", "text/plain^" },
	{ "plain.eml", "text/plain" },
	{ "prefix-boundary.eml", "multipart/mixed[multipart/alternative["
	    "text/plain,text/plain],multipart/mixed[text/plain],"
	    "text/plain]" },
	{ "rfc2231.eml", "multipart/mixed[text/plain,"
	    "application/octet-stream,text/plain,application/x-thing]" },
	{ "unknown-cte.eml", "multipart/mixed[application/octet-stream,"
	    "text/plain,text/plain,TEXT/HTML]" },
};

/* the n-th part in pre-order (0 = root) */
static const struct mime_part *
nth(const struct mime_part *p, unsigned n)
{
	while (p != NULL && n-- > 0)
		p = mime_next(p);
	return p;
}

static const char *
body_of(const struct mime_part *p, struct buf *b)
{
	buf_reset(b);
	buf_add(b, mime_body_data(p), p->body_len);
	return buf_cstr(b);
}

static void
test_fixtures(void)
{
	struct buf b, conv;
	struct mime_part *root, *hdr;
	char *d, *want;
	size_t len, wlen = 0, i, k;

	buf_init(&b, BIG);
	buf_init(&conv, BIG);
	for (i = 0; i < NFIXTURES; i++) {
		const char *name = fixture_names[i];

		if ((d = fixture_read(name, &len)) == NULL) {
			CHECK(0);
			continue;
		}
		root = mime_parse(d, len);
		CHECK(root != NULL);
		if (root == NULL)
			continue;
		check_tree(name, root, d, len);
		buf_reset(&b);
		shape(root, &b);
		for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
			if (strcmp(shapes[k].name, name) == 0)
				CHECK_STR(buf_cstr(&b), shapes[k].shape);
		/* the CRLF form of the whole message */
		want = fixture_crlf(d, len, &wlen);
		buf_reset(&conv);
		CHECK_INT(mime_crlf(d, 0, len, &conv), 0);
		CHECK_MSG(conv.len == wlen && memcmp(buf_cstr(&conv), want,
		    wlen) == 0, "%s: CRLF form", name);
		CHECK_INT(mime_crlf_size(d, 0, len, NULL), wlen);
		CHECK_INT(root->hdr_vsize + root->body_vsize, wlen);
		free(want);
		/* the header-only parse agrees on the header */
		hdr = mime_parse_header_only(d, len);
		CHECK(hdr != NULL && hdr->hdr_len == root->hdr_len &&
		    hdr->body_off == root->body_off &&
		    hdr->body_len == root->body_len &&
		    strcmp(hdr->type, root->type) == 0 &&
		    hdr->children == NULL &&
		    (hdr->flags & MIME_F_HEADER_ONLY));
		mime_free(hdr);
		mime_free(root);
		free(d);
	}
	buf_free(&b);
	buf_free(&conv);
}

/* What the fixtures say about particular parts. */
static void
test_details(void)
{
	struct mime_part *root;
	const struct mime_part *p;
	struct buf b;
	char *d;
	size_t len;

	buf_init(&b, BIG);

	d = fixture_read("mixed-attach.eml", &len);
	root = mime_parse(d, len);
	p = nth(root, 2);
	CHECK_STR(p->type, "application");
	CHECK_INT(p->cte, MIME_CTE_BASE64);
	CHECK_STR(p->cte_name, "base64");
	CHECK_STR(p->description, "Quarterly slides");
	CHECK_STR(p->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
	CHECK_STR(p->disposition, "attachment");
	CHECK_INT(p->ndisp_params, 2);
	CHECK_STR(mime_param_get(p->disp_params, p->ndisp_params, "SIZE"),
	    "28");
	CHECK_INT(p->nlanguages, 2);
	CHECK_STR(p->languages[1], "de");
	p = nth(root, 3);
	CHECK_STR(p->id, "<logo@example.com>");
	CHECK_STR(p->location, "http://example.com/logo.png");
	CHECK(p->charset == NULL);
	p = nth(root, 1);
	CHECK_STR(p->charset, "iso-8859-1");
	CHECK_STR(body_of(p, &b), "Hello team, slides attached.");
	CHECK_STR(root->boundary, "XyZ");
	mime_free(root);
	free(d);

	/* the line end before a boundary belongs to the boundary */
	d = fixture_read("no-close.eml", &len);
	root = mime_parse(d, len);
	CHECK_STR(body_of(nth(root, 1), &b), "first");
	CHECK_STR(body_of(nth(root, 4), &b), "inner two");
	CHECK_STR(body_of(nth(root, 5), &b),
	    "last, and no close delimiter follows\n");
	CHECK_INT(nth(root, 5)->body_lines, 1);
	mime_free(root);
	free(d);

	d = fixture_read("prefix-boundary.eml", &len);
	root = mime_parse(d, len);
	CHECK_STR(body_of(nth(root, 2), &b), "inner A");
	CHECK_STR(body_of(nth(root, 3), &b), "inner B");
	CHECK_STR(body_of(nth(root, 5), &b), "short inner, outer is longer");
	CHECK_STR(body_of(nth(root, 6), &b),
	    "outer last (delimiter had trailing blanks)");
	mime_free(root);
	free(d);

	/* the encapsulated message of a digest entry has an empty MIME
	 * header of its own */
	d = fixture_read("digest.eml", &len);
	root = mime_parse(d, len);
	p = nth(root, 3);
	CHECK(p->flags & MIME_F_MESSAGE);
	CHECK_INT(p->hdr_len, 1);
	CHECK_INT(p->body_vsize, 58);
	CHECK_INT(p->body_lines, 3);
	CHECK_STR(body_of(nth(root, 4), &b), "First!");
	CHECK_STR(nth(root, 6)->charset, "utf-8");
	mime_free(root);
	free(d);

	/* RFC 2231 */
	d = fixture_read("rfc2231.eml", &len);
	root = mime_parse(d, len);
	p = nth(root, 2);
	CHECK_INT(p->nparams, 1);
	CHECK_STR(p->params[0].name, "name*");
	CHECK_STR(p->params[0].value,
	    "UTF-8''%C3%9Cbersicht%20der%20Gr%C3%B6%C3%9Fen.bin");
	buf_reset(&b);
	CHECK_INT(mime_param_decode(p->params, p->nparams, "name", &b), 1);
	CHECK_STR(buf_cstr(&b), "\xc3\x9c" "bersicht der Gr\xc3\xb6\xc3\x9f"
	    "en.bin");
	buf_reset(&b);
	CHECK_INT(mime_param_decode(p->disp_params, p->ndisp_params,
	    "FILENAME", &b), 1);
	CHECK_STR(buf_cstr(&b), "\xc3\x9c" "bersicht der Gr\xc3\xb6\xc3\x9f"
	    "en.bin");
	p = nth(root, 3);
	CHECK_STR(mime_param_get(p->params, p->nparams, "title*"),
	    "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
	buf_reset(&b);
	CHECK_INT(mime_param_decode(p->params, p->nparams, "title", &b), 1);
	CHECK_STR(buf_cstr(&b), "This is ***fun***");
	CHECK_STR(mime_param_get(p->disp_params, p->ndisp_params, "filename"),
	    "long-name-part-two.txt");
	p = nth(root, 4);
	CHECK_INT(p->nparams, 2);
	CHECK_STR(p->params[0].name, "name");
	CHECK_STR(p->params[1].name, "name*");
	buf_reset(&b);
	CHECK_INT(mime_param_decode(p->params, p->nparams, "name", &b), 1);
	CHECK_STR(buf_cstr(&b), "caf\xc3\xa9.dat");
	buf_reset(&b);
	CHECK_INT(mime_param_decode(p->params, p->nparams, "nope", &b), 0);
	mime_free(root);
	free(d);

	d = fixture_read("unknown-cte.eml", &len);
	root = mime_parse(d, len);
	CHECK_INT(nth(root, 1)->cte, MIME_CTE_UNKNOWN);
	CHECK_INT(nth(root, 2)->cte, MIME_CTE_BASE64);
	CHECK_INT(nth(root, 3)->cte, MIME_CTE_QP);
	CHECK_INT(nth(root, 4)->cte, MIME_CTE_BINARY);
	CHECK(nth(root, 4)->flags & MIME_F_TEXT);
	CHECK_STR(nth(root, 4)->charset, "UTF-8");
	mime_free(root);
	free(d);

	d = fixture_read("folded-odd.eml", &len);
	root = mime_parse(d, len);
	CHECK_STR(root->charset, "utf-8");
	buf_reset(&b);
	CHECK_INT(mime_header_get(root, "subject", &b), 1);
	CHECK_STR(buf_cstr(&b), "lots\t of \t \twhitespace    leading "
	    "continuation");
	buf_reset(&b);
	CHECK_INT(mime_header_get(root, "To", &b), 1);
	CHECK_STR(buf_cstr(&b), "bob@example.com");
	buf_reset(&b);
	CHECK_INT(mime_header_get(root, "X-Empty", &b), 1);
	CHECK_STR(buf_cstr(&b), "");
	CHECK_INT(mime_header_get(root, "X-No-Colon-Line", &b), 0);
	mime_free(root);
	free(d);
	buf_free(&b);
}

static struct mime_part *
parse_str(const char *s)
{
	return mime_parse(s, strlen(s));
}

/* Small messages with one thing wrong each. */
static const struct {
	const char	*in;
	const char	*shape;
} broken[] = {
	{ "", "text/plain^" },
	{ "\n", "text/plain" },
	{ "\r\n\r\n", "text/plain" },
	{ "Subject: x", "text/plain^" },
	{ " leading continuation\nSubject: x\n\nbody", "text/plain" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n", 
	    "multipart/mixed[text/plain^]" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b--\n",
	    "multipart/mixed[text/plain!]" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b--",
	    "multipart/mixed[text/plain^,text/plain^]" },
	{ "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n----\n",
	    "multipart/mixed[text/plain]" },
	{ "Content-Type: message/rfc822\n\n", "message/rfc822[text/plain^]" },
	{ "Content-Type: message/rfc822\n", "message/rfc822^[text/plain!]" },
	{ "Content-Type: message/rfc822\n\nSubject: in\n",
	    "message/rfc822[text/plain^]" },
	{ "Content-Type: multipart/digest; boundary=d\n\n--d\n\n--d\n"
	    "Content-Type: text/plain\n\n--d--",
	    "multipart/digest[message/rfc822[text/plain^],text/plain]" },
	{ "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
	    "Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--a--\n",
	    "multipart/mixed[multipart/mixed[text/plain]]" },
	{ "Content-Type: text; charset=utf-8\n\nx", "text/plain" },
	{ "Content-Type: ;;;\n\nx", "text/plain" },
	{ "Content-Type: image/\n\nx", "text/plain" },
	{ "Content-Type: (comment) image (c) / (c) png (c)\n\nx",
	    "image/png" },
	{ "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b \t\r\n"
	    "\r\nx\r\n--b--\r\n", "multipart/mixed[text/plain]" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--b\r\rx\n--b--",
	    "multipart/mixed[text/plain!]" },
	{ "Content-Type: multipart/mixed; boundary=b\n\n--bb\n--b x\n",
	    "multipart/mixed[text/plain!]" },
};

static void
test_broken(void)
{
	struct mime_part *root;
	struct buf b;
	size_t i;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		root = parse_str(broken[i].in);
		CHECK(root != NULL);
		if (root == NULL)
			continue;
		check_tree(broken[i].in, root, broken[i].in,
		    strlen(broken[i].in));
		buf_reset(&b);
		shape(root, &b);
		CHECK_MSG(strcmp(buf_cstr(&b), broken[i].shape) == 0,
		    "case %zu: %s", i, buf_cstr(&b));
		mime_free(root);
	}
	buf_free(&b);
}

/* Messages built to hit the limits. */
static void
test_limits(void)
{
	struct mime_part *root;
	const struct mime_part *p;
	struct buf m, b;
	unsigned i, n, maxdepth;

	buf_init(&m, BIG);
	buf_init(&b, BIG);

	/* a 1 MB header line, and a 1 MB header line with NULs */
	buf_adds(&m, "Subject: ");
	for (i = 0; i < 1024 * 1024; i++)
		buf_addc(&m, i % 1000 == 0 ? '\0' : 'a' + i % 26);
	buf_adds(&m, "\nContent-Type: text/html\n\nbody\n");
	root = mime_parse(m.data, m.len);
	CHECK(root != NULL && strcmp(root->subtype, "html") == 0);
	CHECK_INT(root->body_len, 5);
	check_tree("long header", root, m.data, m.len);
	mime_free(root);

	/* multiparts nested 150 deep: the deepest are opaque */
	buf_reset(&m);
	for (i = 0; i < 150; i++)
		buf_addf(&m, "Content-Type: multipart/mixed; boundary=\"b%u\""
		    "\n\n--b%u\n", i, i);
	buf_adds(&m, "\nleaf\n");
	for (i = 150; i-- > 0; )
		buf_addf(&m, "--b%u--\n", i);
	root = mime_parse(m.data, m.len);
	CHECK(root != NULL);
	n = check_tree("deep multipart", root, m.data, m.len);
	for (p = root, maxdepth = 0; p != NULL; p = p->children)
		if (p->depth > maxdepth)
			maxdepth = p->depth;
	CHECK_INT(maxdepth, MIME_DEPTH_MAX);
	CHECK_INT(n, MIME_DEPTH_MAX + 1);
	CHECK(nth(root, MIME_DEPTH_MAX)->flags & MIME_F_OPAQUE);
	mime_free(root);

	/* message/rfc822 nested 150 deep */
	buf_reset(&m);
	for (i = 0; i < 150; i++)
		buf_addf(&m, "Subject: %u\nContent-Type: message/rfc822\n\n",
		    i);
	buf_adds(&m, "Subject: last\n\nbody\n");
	root = mime_parse(m.data, m.len);
	CHECK(root != NULL);
	n = check_tree("deep message", root, m.data, m.len);
	CHECK_INT(n, MIME_DEPTH_MAX + 1);
	mime_free(root);

	/* more parts than allowed: the rest is the last part's text */
	buf_reset(&m);
	buf_adds(&m, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (i = 0; i < MIME_PARTS_MAX + 500; i++)
		buf_addf(&m, "--b\n\n%u\n", i);
	buf_adds(&m, "--b--\n");
	root = mime_parse(m.data, m.len);
	CHECK(root != NULL);
	n = check_tree("many parts", root, m.data, m.len);
	CHECK_INT(n, MIME_PARTS_MAX);
	CHECK_INT(root->nchildren, MIME_PARTS_MAX - 1);
	mime_free(root);

	/* boundaries that share long prefixes with every line: still one
	 * pass (this would take minutes if matching were quadratic) */
	buf_reset(&m);
	for (i = 0; i < 90; i++)
		buf_addf(&m, "Content-Type: multipart/mixed; boundary=\""
		    "%0200u\"\n\n--%0200u\n", i, i);
	for (i = 0; i < 20000; i++)
		buf_adds(&m, "--00000000000000000000000000000000000000000000"
		    "0000000000000000000000000000000000000000000000000000"
		    "000000000000000000000000000000000000000000000000000x\n");
	root = mime_parse(m.data, m.len);
	CHECK(root != NULL);
	check_tree("prefix storm", root, m.data, m.len);
	mime_free(root);

	/* bytes of every value, deterministic pseudo-random */
	{
		uint32_t x = 12345;
		unsigned k, j;

		for (k = 0; k < 300; k++) {
			buf_reset(&m);
			buf_adds(&m, "Content-Type: multipart/mixed; "
			    "boundary=q\n\n--q\n");
			for (j = 0; j < 2000; j++) {
				x = x * 1103515245 + 12345;
				buf_addc(&m, "-q\n\r:= \tContent-Type"
				    "multipart/;boundary"[(x >> 16) % 34]);
			}
			root = mime_parse(m.data, m.len);
			CHECK(root != NULL);
			if (root != NULL)
				check_tree("random", root, m.data, m.len);
			mime_free(root);
		}
	}
	buf_free(&m);
	buf_free(&b);
}

static void
test_header_iter(void)
{
	static const char h[] =
	    "From sender Mon Jan  1 00:00:00 2024\n"
	    "A: 1\n"
	    "B :\t two\r\n"
	    "\tthree\n"
	    "NoColon\n"
	    "C:\n"
	    "\n"
	    "D: not header\n";
	struct mime_header_iter it;
	struct mime_field f;

	mime_header_iter_init(&it, h, sizeof(h) - 1);
	CHECK(mime_header_next(&it, &f) && f.name_len == 0 &&
	    f.value_len == 36);
	CHECK(mime_header_next(&it, &f) && f.name_len == 1 &&
	    f.value_len == 1 && f.value[0] == '1' && f.line_len == 5);
	CHECK(mime_header_next(&it, &f) && f.name_len == 1 &&
	    f.name[0] == 'B' && f.value_len == 11 &&
	    memcmp(f.value, "two\r\n\tthree", 11) == 0 && f.line_len == 17);
	CHECK(mime_header_next(&it, &f) && f.name_len == 0 &&
	    f.value_len == 7);
	CHECK(mime_header_next(&it, &f) && f.name_len == 1 &&
	    f.value_len == 0);
	CHECK_INT(mime_header_next(&it, &f), 0);
	CHECK_INT(mime_header_next(&it, &f), 0);
}

static const struct {
	const char	*in;
	const char	*out;
} rfc2047[] = {
	{ "plain text", "plain text" },
	{ "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4oCUIOaXpeacrA==?=",
	    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x80\x94 "
	    "\xe6\x97\xa5\xe6\x9c\xac" },
	{ "=?ISO-8859-1?Q?Fran=E7ois_M=FCller?= <f@x>",
	    "Fran\xc3\xa7ois M\xc3\xbcller <f@x>" },
	{ "=?ISO-2022-JP?B?GyRCOzNFREJATzobKEI=?=",
	    "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e" },
	{ "=?KOI8-R?B?6dfBziDwxdTSz9c=?=",
	    "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \xd0\x9f\xd0\xb5\xd1\x82"
	    "\xd1\x80\xd0\xbe\xd0\xb2" },
	/* blanks between encoded words go, others stay */
	{ "=?UTF-8?Q?a?= =?UTF-8?Q?b?=  =?UTF-8?Q?_c?= plain =?UTF-8?Q?d?=",
	    "ab c plain d" },
	{ "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab" },
	/* a character split across two words */
	{ "=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=", "\xc3\xa9" },
	{ "=?UTF-8?Q?bad=FF=FEbytes?=",
	    "bad\xef\xbf\xbd\xef\xbf\xbd" "bytes" },
	{ "=?x-unknown?Q?keep_me?= x", "=?x-unknown?Q?keep_me?= x" },
	{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
	{ "=?utf-8*en?q?with_language?=", "with language" },
	{ "=?utf-8?x?bad_encoding?=", "=?utf-8?x?bad_encoding?=" },
	{ "=?utf-8?q?has space?=", "=?utf-8?q?has space?=" },
	{ "=??q?empty_charset?=", "=??q?empty_charset?=" },
	{ "a=?utf-8?q?b?=c", "abc" },
	{ "=?utf-8?q?=4?=", "=4" },
	{ "=?utf-8?b?!!!?=", "" },
	{ "raw 8-bit caf\xc3\xa9 and bad \xff", "raw 8-bit caf\xc3\xa9 and "
	    "bad \xef\xbf\xbd" },
	{ "fold\r\n\there", "fold\there" },
	{ "=?", "=?" },
	{ "", "" },
};

static void
test_rfc2047(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(rfc2047) / sizeof(rfc2047[0]); i++) {
		buf_reset(&b);
		CHECK_INT(mime_header_decode(rfc2047[i].in,
		    strlen(rfc2047[i].in), &b), 0);
		CHECK_STR(buf_cstr(&b), rfc2047[i].out);
	}
	/* a full buffer is an error, not a truncation */
	buf_free(&b);
	buf_init(&b, 4);
	CHECK_INT(mime_header_decode("=?utf-8?q?abcdef?=", 18, &b), -1);
	buf_free(&b);
}

static const struct {
	enum mime_cte	 cte;
	const char	*in;
	const char	*out;
} decode[] = {
	{ MIME_CTE_BASE64, "aGVsbG8gd29ybGQ=", "hello world" },
	{ MIME_CTE_BASE64, "aGVs\r\nbG8g\nd29y bGQ=\n", "hello world" },
	{ MIME_CTE_BASE64, "aGV*s!bG8", "hello" },
	{ MIME_CTE_BASE64, "aGk=aGk=", "hihi" },
	{ MIME_CTE_BASE64, "AAA", "\0\0" },
	{ MIME_CTE_BASE64, "", "" },
	{ MIME_CTE_QP, "caf=C3=A9\n", "caf\xc3\xa9\r\n" },
	{ MIME_CTE_QP, "soft=\n break", "soft break" },
	{ MIME_CTE_QP, "soft=  \r\nbreak", "softbreak" },
	{ MIME_CTE_QP, "trailing  \t\nblanks", "trailing\r\nblanks" },
	{ MIME_CTE_QP, "bad =ZZ =4 =\t x", "bad =ZZ =4 =\t x" },
	{ MIME_CTE_QP, "lower =c3=a9", "lower \xc3\xa9" },
	{ MIME_CTE_QP, "end=", "end" },
	{ MIME_CTE_QP, "end=4", "end=4" },
	{ MIME_CTE_QP, "end  ", "end" },
	{ MIME_CTE_QP, "lone\rcr", "lone\rcr" },
	{ MIME_CTE_QP, "cr at end\r", "cr at end\r" },
	{ MIME_CTE_QP, "a=\rb", "a=\rb" },
	{ MIME_CTE_QP, "=41=42\r\n\r\n", "AB\r\n\r\n" },
	{ MIME_CTE_7BIT, "as\nis=41", "as\nis=41" },
};

static void
run_decoder(enum mime_cte cte, const char *in, size_t len, size_t cut,
    struct buf *out)
{
	struct mime_decoder dc;

	mime_decoder_init(&dc, cte);
	buf_reset(out);
	mime_decoder_run(&dc, in, cut, out);
	mime_decoder_run(&dc, in + cut, len - cut, out);
	mime_decoder_finish(&dc, out);
}

static void
test_decoders(void)
{
	struct buf b;
	size_t i, cut, len, olen;
	unsigned bad;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(decode) / sizeof(decode[0]); i++) {
		len = strlen(decode[i].in);
		olen = decode[i].cte == MIME_CTE_BASE64 &&
		    strcmp(decode[i].in, "AAA") == 0 ? 2 :
		    strlen(decode[i].out);
		/* whole, and cut at every position */
		for (cut = 0, bad = 0; cut <= len; cut++) {
			run_decoder(decode[i].cte, decode[i].in, len, cut, &b);
			if (b.len != olen ||
			    memcmp(buf_cstr(&b), decode[i].out, olen) != 0)
				bad++;
		}
		CHECK_MSG(bad == 0, "case %zu (%s): got \"%s\"", i,
		    decode[i].in, buf_cstr(&b));
	}
	CHECK_INT(mime_cte_parse("Quoted-Printable"), MIME_CTE_QP);
	CHECK_INT(mime_cte_parse("BASE64"), MIME_CTE_BASE64);
	CHECK_INT(mime_cte_parse(NULL), MIME_CTE_7BIT);
	CHECK_INT(mime_cte_parse("x-uuencode"), MIME_CTE_UNKNOWN);

	/* very long runs of blanks are kept past the bound */
	{
		char in[1000];

		memset(in, ' ', sizeof(in) - 2);
		in[sizeof(in) - 2] = 'x';
		in[sizeof(in) - 1] = '\n';
		run_decoder(MIME_CTE_QP, in, sizeof(in), 300, &b);
		CHECK_INT(b.len, sizeof(in) + 1);
		memset(in + sizeof(in) - 2, ' ', 1);
		run_decoder(MIME_CTE_QP, in, sizeof(in), 300, &b);
		CHECK(b.len >= 2 && b.len <= sizeof(in) + 1);
	}
	buf_free(&b);
}

/* Decode in pieces of the sizes cut() gives; pieces of one byte decode
 * one byte at a time, the reference the fast loops must agree with. */
static void
run_pieces(enum mime_cte cte, const char *in, size_t len, unsigned how,
    struct buf *out)
{
	struct mime_decoder dc;
	size_t off = 0, n;

	mime_decoder_init(&dc, cte);
	buf_reset(out);
	while (off < len) {
		n = how == 0 ? len - off : how == 1 ? 1 : 1 + t_rnd(40);
		if (n > len - off)
			n = len - off;
		mime_decoder_run(&dc, in + off, n, out);
		off += n;
	}
	mime_decoder_finish(&dc, out);
}

/* Random quoted-printable and base64, whole, cut anywhere and a byte at
 * a time: the same output. */
static void
test_decoders_random(void)
{
	static const char qp_alpha[] = "= \t\r\nAf3x\xc3";
	static const char b64_alpha[] = "QUJDZGVm+/09=\n\r -*";
	struct buf in, whole, piece;
	unsigned round, k, bad = 0, kind, n, len;

	buf_init(&in, BIG);
	buf_init(&whole, BIG);
	buf_init(&piece, BIG);
	for (round = 0; round < 3000; round++) {
		kind = round % 2;
		buf_reset(&in);
		len = t_rnd(round % 10 == 0 ? 2000 : 60);
		for (k = 0; k < len; k++) {
			if (kind == 0 && t_rnd(50) == 0) {
				/* blank runs around the hold limit */
				for (n = 250 + t_rnd(270); n > 0; n--)
					buf_addc(&in, t_rnd(2) ? ' ' : '\t');
			} else if (kind == 0 && round % 4 == 0 && t_rnd(8))
				/* long plain runs, for the fast loops */
				buf_addc(&in, 'a' + (int)t_rnd(26));
			else if (kind == 0)
				buf_addc(&in, qp_alpha[t_rnd(sizeof(qp_alpha)
				    - 1)]);
			else
				buf_addc(&in, b64_alpha[t_rnd(sizeof(b64_alpha)
				    - 1)]);
		}
		run_pieces(kind == 0 ? MIME_CTE_QP : MIME_CTE_BASE64, in.data,
		    in.len, 0, &whole);
		for (k = 1; k <= 2; k++) {
			run_pieces(kind == 0 ? MIME_CTE_QP : MIME_CTE_BASE64,
			    in.data, in.len, k, &piece);
			if (piece.len != whole.len || memcmp(buf_cstr(&piece),
			    buf_cstr(&whole), whole.len) != 0)
				bad++;
		}
	}
	CHECK_MSG(bad == 0, "%u random inputs decoded differently", bad);
	/* blank runs of about the hold limit before line ends, after "="
	 * or text */
	for (n = MIME_QP_BLANKS_MAX - 2; n <= MIME_QP_BLANKS_MAX + 2; n++)
		for (kind = 0; kind < 4; kind++) {
			buf_reset(&in);
			buf_addc(&in, kind < 2 ? '=' : 'x');
			for (k = 0; k < n; k++)
				buf_addc(&in, ' ');
			buf_adds(&in, kind % 2 ? "\r\ny" : "\ny");
			run_pieces(MIME_CTE_QP, in.data, in.len, 0, &whole);
			run_pieces(MIME_CTE_QP, in.data, in.len, 1, &piece);
			CHECK_MSG(piece.len == whole.len && memcmp(buf_cstr(
			    &piece), buf_cstr(&whole), whole.len) == 0,
			    "%u blanks, case %u", n, kind);
		}
	/* an output buffer with room for the output only still takes it */
	buf_free(&whole);
	buf_init(&whole, 5);
	run_decoder(MIME_CTE_QP, "ab=43\n", 6, 6, &whole);
	CHECK_STR(buf_cstr(&whole), "abC\r\n");
	buf_free(&whole);
	buf_init(&whole, 3);
	run_decoder(MIME_CTE_BASE64, "YWJj", 4, 4, &whole);
	CHECK_STR(buf_cstr(&whole), "abc");
	buf_free(&whole);
	buf_free(&in);
	buf_free(&piece);
}

static int
stop_after_two(void *ctx, const char *p, size_t n)
{
	int *calls = ctx;

	(void)p;
	(void)n;
	return ++*calls == 2;
}

static void
test_crlf(void)
{
	struct buf b;
	uint64_t lines;
	int calls = 0;

	buf_init(&b, BIG);
	CHECK_INT(mime_crlf("a\nb\r\nc\rd\n", 0, 9, &b), 0);
	CHECK_STR(buf_cstr(&b), "a\r\nb\r\nc\rd\r\n");
	CHECK_INT(mime_crlf_size("a\nb\r\nc\rd\n", 0, 9, &lines), 11);
	CHECK_INT(lines, 3);
	/* a range starting after a CR keeps looking at it */
	buf_reset(&b);
	CHECK_INT(mime_crlf("x\r\ny", 2, 2, &b), 0);
	CHECK_STR(buf_cstr(&b), "\ny");
	CHECK_INT(mime_crlf_size("x\r\ny", 2, 2, NULL), 2);
	CHECK_INT(mime_crlf_walk("a\nb\nc\n", 0, 6, stop_after_two, &calls),
	    1);
	CHECK_INT(calls, 2);
	buf_free(&b);
	buf_init(&b, 3);
	CHECK_INT(mime_crlf("ab\n", 0, 3, &b), -1);
	buf_free(&b);
}

/*
 * Bodies are passed over a block of bytes at a time where no line can be
 * a boundary: boundaries, lines that only look like them, CRs and line
 * ends at every offset of a block, with LF and CRLF line ends, must give
 * the parts and counts a line-by-line walk gives.  The filler lines
 * start with '-' now and then ("-x", "--bx", "--b-x": none a boundary).
 */
static void
test_blocks(void)
{
	static const char *const lines[] = {
		"text", "-x", "--bx", "--b-x", "", "\r", "a\rb", "--",
		"0123456789012345678901234567890123456789012345678901234567",
		"--b \t-",
	};
	struct mime_part *root;
	struct buf m, want, got;
	unsigned seed = 1, round, part, nparts, n, k;

	buf_init(&m, BIG);
	buf_init(&want, BIG);
	buf_init(&got, BIG);
	for (round = 0; round < 600; round++) {
		buf_reset(&m);
		buf_reset(&want);
		nparts = 1 + round % 4;
		buf_adds(&m, round % 5 == 0 ? "Subject: one part\n\n" :
		    "Content-Type: multipart/mixed; boundary=b\n\npre\n");
		buf_adds(&want, round % 5 == 0 ? "text/plain" :
		    "multipart/mixed[");
		for (part = 0; part < (round % 5 == 0 ? 1 : nparts); part++) {
			if (round % 5 != 0) {
				buf_adds(&m, round & 1 ? "--b\r\n\r\n" :
				    "--b\n\n");
				buf_adds(&want, part > 0 ? ",text/plain" :
				    "text/plain");
			}
			/* round bytes or so of filler, so that the next
			 * boundary falls at every offset of a block */
			for (n = 0; n < round; n += k + 1) {
				seed = seed * 1103515245 + 12345;
				k = (unsigned)strlen(lines[(seed >> 16) %
				    (sizeof(lines) / sizeof(lines[0]))]);
				buf_adds(&m, lines[(seed >> 16) %
				    (sizeof(lines) / sizeof(lines[0]))]);
				buf_adds(&m, (seed >> 8) & 1 ? "\r\n" : "\n");
			}
			/* now and then no line end before the boundary */
			if (round % 7 == 3)
				buf_adds(&m, "tail");
			if (round % 5 != 0)
				buf_adds(&m, "\n");
		}
		if (round % 5 != 0) {
			buf_adds(&m, round % 3 == 0 ? "--b--" : "--b--\nepi\n");
			buf_addc(&want, ']');
		}
		root = mime_parse(m.data, m.len);
		CHECK(root != NULL);
		if (root == NULL)
			continue;
		check_tree("block", root, m.data, m.len);
		buf_reset(&got);
		shape(root, &got);
		CHECK_MSG(strcmp(buf_cstr(&got), buf_cstr(&want)) == 0,
		    "round %u: %s", round, buf_cstr(&got));
		mime_free(root);
	}
	buf_free(&m);
	buf_free(&want);
	buf_free(&got);
}

int
main(void)
{
	T_RUN(test_fixtures);
	T_RUN(test_details);
	T_RUN(test_broken);
	T_RUN(test_limits);
	T_RUN(test_header_iter);
	T_RUN(test_rfc2047);
	T_RUN(test_decoders);
	T_RUN(test_decoders_random);
	T_RUN(test_crlf);
	T_RUN(test_blocks);
	return t_done();
}
