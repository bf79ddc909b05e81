/*
 * preview: the displayable text of a message for FETCH PREVIEW.  See
 * preview.h for what is kept.
 *
 * The body is decoded block by block and its characters go one at a time
 * through two small state machines: the plain-text one sees lines (quoted
 * lines, the signature separator), the HTML one sees markup; both hand
 * text to the writer, which collapses white space and counts characters.
 * Every state is kept between characters, so a block may end anywhere:
 * inside a tag, an entity or a line.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/mail/charset.h"
#include "common/mail/preview.h"

#define BLOCK		(16 * 1024)
#define NAME_MAX_LEN	15	/* tag names kept: longer ones are none we
				 * know */
#define ENT_MAX_LEN	10	/* the longest entity name we decode, or
				 * "#x10FFFF" */

enum hstate {
	H_TEXT,		/* between tags */
	H_LT,		/* after "<" */
	H_TAG,		/* in a tag's name */
	H_ATTR,		/* in a tag, after its name */
	H_BANG,		/* after "<!" */
	H_BANG1,	/* after "<!-" */
	H_COMMENT,	/* in "<!-- ... -->" */
	H_DECL,		/* in "<!DOCTYPE ...>" or "<? ...>" */
	H_ENTITY,	/* after "&" */
};

struct pv {
	struct buf	*out;
	size_t		 chars;		/* characters written */
	int		 space;		/* a blank is due before the next */
	int		 done;		/* full, or the text ended */
	int		 err;

	/* plain text */
	int		 bol;		/* at the start of a line */
	int		 quoted;	/* in a quoted line */
	unsigned	 sig;		/* "-" (1), "--" (2), "-- " (3) held at
					 * the start of a line */

	/* HTML */
	enum hstate	 h;
	char		 name[NAME_MAX_LEN + 1];
	size_t		 nlen;
	int		 closing;	/* "</name" */
	char		 quote;		/* in a quoted attribute value */
	unsigned	 dashes;	/* "-" seen in a row in a comment */
	char		 ent[ENT_MAX_LEN + 1];
	size_t		 elen;
	char		 skip[NAME_MAX_LEN + 1];	/* dropping what is
					 * inside this element, or "" */
	unsigned	 skipdepth;
};

/* Elements whose content is not text to show; script and style hold raw
 * text in which "<" starts no tag. */
static const char *const skipped[] = {
	"head", "title", "script", "style", "blockquote",
};

/* Elements that do not separate words. */
static const char *const inline_tags[] = {
	"a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "dfn", "em",
	"font", "i", "kbd", "mark", "q", "s", "samp", "small", "span",
	"strike", "strong", "sub", "sup", "tt", "u", "var", "wbr",
};

static const struct {
	const char	*name;
	uint32_t	 cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "nbsp", 0xa0 }, { "copy", 0xa9 },
	{ "reg", 0xae }, { "trade", 0x2122 }, { "hellip", 0x2026 },
	{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "lsquo", 0x2018 },
	{ "rsquo", 0x2019 }, { "ldquo", 0x201c }, { "rdquo", 0x201d },
	{ "laquo", 0xab }, { "raquo", 0xbb }, { "bull", 0x2022 },
	{ "middot", 0xb7 }, { "euro", 0x20ac }, { "pound", 0xa3 },
	{ "yen", 0xa5 }, { "cent", 0xa2 }, { "sect", 0xa7 },
	{ "deg", 0xb0 }, { "times", 0xd7 }, { "shy", 0xad },
	{ "zwnj", 0x200c }, { "zwj", 0x200d }, { "ensp", 0x2002 },
	{ "emsp", 0x2003 }, { "thinsp", 0x2009 },
};

static int
in_list(const char *name, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

static int
is_space(uint32_t cp)
{
	return cp <= 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* Characters that show nothing: zero-width ones, the soft hyphen, the
 * combining grapheme joiner, byte order marks. */
static int
is_invisible(uint32_t cp)
{
	return cp == 0xad || cp == 0x34f || (cp >= 0x200b && cp <= 0x200f) ||
	    cp == 0x2060 || cp == 0xfeff;
}

/* The writer: one character of text to show. */
static void
put(struct pv *v, uint32_t cp)
{
	if (v->done)
		return;
	if (is_space(cp)) {
		v->space = v->chars > 0;
		return;
	}
	if (is_invisible(cp))
		return;
	/* a space is written only when a character follows it */
	if (v->chars + (v->space ? 2 : 1) > PREVIEW_CHARS) {
		v->done = 1;
		return;
	}
	if (v->space) {
		if (buf_addc(v->out, ' ') == -1)
			goto fail;
		v->chars++;
		v->space = 0;
	}
	if (charset_utf8_put(v->out, cp) == -1)
		goto fail;
	v->chars++;
	return;
fail:
	v->err = v->done = 1;
}

/* ---- plain text ---------------------------------------------------- */

/* What a held "-", "--" or "-- " turned out not to start: text. */
static void
unhold(struct pv *v)
{
	unsigned i;

	for (i = 0; i < v->sig && i < 2; i++)
		put(v, '-');
	if (v->sig == 3)
		put(v, ' ');
	v->sig = 0;
}

static void
plain(struct pv *v, uint32_t cp)
{
	if (v->quoted) {
		if (cp == '\n') {
			v->quoted = 0;
			v->bol = 1;
			put(v, '\n');
		}
		return;
	}
	if (v->sig > 0) {
		if ((v->sig < 2 && cp == '-') || (v->sig == 2 && cp == ' ')) {
			v->sig++;
			return;
		}
		if (v->sig >= 2 && cp == '\r')
			return;
		if (v->sig >= 2 && cp == '\n') {
			v->done = 1;	/* the signature: nothing after it */
			return;
		}
		unhold(v);
	} else if (v->bol) {
		if (cp == '>') {
			v->quoted = 1;
			return;
		}
		if (cp == '-') {
			v->sig = 1;
			return;
		}
	}
	v->bol = cp == '\n';
	put(v, cp);
}

/* ---- HTML ---------------------------------------------------------- */

static void
text(struct pv *v, uint32_t cp)
{
	if (v->skip[0] == '\0')
		put(v, cp);
}

static int
raw_skip(const struct pv *v)
{
	return strcmp(v->skip, "script") == 0 || strcmp(v->skip, "style") == 0;
}

/* A tag has ended: its name (lowercase, "" if too long) and whether it
 * closes. */
static void
tag_end(struct pv *v)
{
	const char *n = v->name;

	v->h = H_TEXT;
	if (v->skip[0] != '\0') {
		if (strcmp(n, v->skip) == 0) {
			if (!v->closing)
				v->skipdepth++;
			else if (--v->skipdepth == 0)
				v->skip[0] = '\0';
		} else if (!v->closing && strcmp(v->skip, "head") == 0 &&
		    strcmp(n, "body") == 0)
			v->skip[0] = '\0';	/* an unclosed head */
		if (v->skip[0] == '\0')
			put(v, ' ');
		return;
	}
	if (!v->closing && in_list(n, skipped,
	    sizeof(skipped) / sizeof(skipped[0]))) {
		memcpy(v->skip, n, sizeof(v->skip));
		v->skipdepth = 1;
	}
	if (!in_list(n, inline_tags, sizeof(inline_tags) /
	    sizeof(inline_tags[0])))
		put(v, ' ');
}

/* A character reference "&ent;": its character, or 0. */
static uint32_t
entity(const char *e)
{
	uint32_t cp = 0;
	size_t i;
	int hex;

	if (e[0] != '#') {
		for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
			if (strcmp(e, entities[i].name) == 0)
				return entities[i].cp;
		return 0;
	}
	hex = e[1] == 'x' || e[1] == 'X';
	for (i = hex ? 2 : 1; e[i] != '\0'; i++) {
		unsigned d;

		if (e[i] >= '0' && e[i] <= '9')
			d = (unsigned)(e[i] - '0');
		else if (hex && e[i] >= 'a' && e[i] <= 'f')
			d = (unsigned)(e[i] - 'a' + 10);
		else if (hex && e[i] >= 'A' && e[i] <= 'F')
			d = (unsigned)(e[i] - 'A' + 10);
		else
			return 0;
		cp = cp * (hex ? 16 : 10) + d;
		if (cp > 0x10ffff)
			return 0xfffd;
	}
	if (i == (hex ? 2U : 1U))
		return 0;
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
		return 0xfffd;
	return cp;
}

/* What followed "&" was no reference: show it as written. */
static void
unentity(struct pv *v)
{
	size_t i;

	text(v, '&');
	for (i = 0; i < v->elen; i++)
		text(v, (unsigned char)v->ent[i]);
	v->elen = 0;
}

static int
is_alnum(uint32_t cp)
{
	return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
	    (cp >= '0' && cp <= '9');
}

static void
html(struct pv *v, uint32_t cp)
{
	uint32_t e;

	switch (v->h) {
	case H_TEXT:
		if (cp == '<')
			v->h = H_LT;
		else if (cp == '&') {
			v->h = H_ENTITY;
			v->elen = 0;
		} else
			text(v, cp);
		return;
	case H_LT:
		v->nlen = 0;
		v->closing = 0;
		v->quote = 0;
		if (cp == '/') {
			v->closing = 1;
			v->h = H_TAG;
		} else if (is_alnum(cp) && !raw_skip(v)) {
			v->h = H_TAG;
			break;		/* the name's first letter */
		} else if (cp == '!' && !raw_skip(v))
			v->h = H_BANG;
		else if (cp == '?' && !raw_skip(v))
			v->h = H_DECL;
		else {
			/* "<" that starts no tag is text */
			v->h = H_TEXT;
			text(v, '<');
			html(v, cp);
		}
		return;
	case H_BANG:
	case H_BANG1:
		if (cp == '-')
			v->h = v->h == H_BANG ? H_BANG1 : H_COMMENT;
		else
			v->h = cp == '>' ? H_TEXT : H_DECL;
		v->dashes = 0;
		return;
	case H_COMMENT:
		if (cp == '>' && v->dashes >= 2)
			v->h = H_TEXT;
		v->dashes = cp == '-' ? v->dashes + 1 : 0;
		return;
	case H_DECL:
		if (cp == '>')
			v->h = H_TEXT;
		return;
	case H_ENTITY:
		if (cp == ';' && v->elen > 0) {
			v->ent[v->elen] = '\0';
			v->h = H_TEXT;
			if ((e = entity(v->ent)) != 0) {
				v->elen = 0;
				text(v, e);
			} else {
				unentity(v);
				text(v, ';');
			}
			return;
		}
		if ((is_alnum(cp) || (cp == '#' && v->elen == 0)) &&
		    v->elen < ENT_MAX_LEN) {
			v->ent[v->elen++] = (char)cp;
			return;
		}
		v->h = H_TEXT;
		unentity(v);
		html(v, cp);
		return;
	case H_TAG:
	case H_ATTR:
		break;
	}
	/* in a tag */
	if (v->h == H_TAG) {
		if (is_alnum(cp)) {
			if (v->nlen < NAME_MAX_LEN)
				v->name[v->nlen++] = (char)(cp | 0x20);
			else
				v->nlen = NAME_MAX_LEN + 1;
			return;
		}
		/* too long a name is no name we know */
		v->name[v->nlen <= NAME_MAX_LEN ? v->nlen : 0] = '\0';
		v->h = H_ATTR;
	}
	if (v->quote != 0) {
		if (cp == (uint32_t)v->quote)
			v->quote = 0;
	} else if (cp == '"' || cp == '\'')
		v->quote = (char)cp;
	else if (cp == '>')
		tag_end(v);
}

/* ---- parts --------------------------------------------------------- */

static void
feed(struct pv *v, const char *s, size_t len, int ishtml)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	unsigned cp;
	int n;

	while (i < len && !v->done) {
		n = charset_utf8_seq(p + i, len - i, &cp);
		if (n <= 0) {
			cp = 0xfffd;
			n = 1;
		}
		i += (size_t)n;
		if (ishtml)
			html(v, cp);
		else
			plain(v, cp);
	}
}

static void
pv_init(struct pv *v, struct buf *out)
{
	memset(v, 0, sizeof(*v));
	v->out = out;
	v->bol = 1;
}

int
preview_text(const char *utf8, size_t len, int ishtml, struct buf *out)
{
	struct pv v;

	pv_init(&v, out);
	feed(&v, utf8, len, ishtml);
	if (!v.done && !ishtml)
		unhold(&v);
	return v.err ? -1 : 0;
}

/* The preview of one part's body into out. */
static int
part_preview(const struct mime_part *p, int ishtml, struct buf *out)
{
	const char *cs = p->charset != NULL ? p->charset : "us-ascii";
	size_t off = 0, n, used, end;
	struct charset_conv *conv;
	struct mime_decoder dc;
	struct buf dec, utf;
	struct pv v;
	int last, r = 0;

	conv = charset_is_utf8(cs) ? NULL : charset_get(cs);
	if (conv == NULL && (conv = charset_get("utf-8")) == NULL)
		return -1;
	pv_init(&v, out);
	buf_init(&dec, 4 * BLOCK);
	buf_init(&utf, 16 * BLOCK);
	mime_decoder_init(&dc, p->cte == MIME_CTE_QP ||
	    p->cte == MIME_CTE_BASE64 ? p->cte : MIME_CTE_8BIT);
	end = p->body_len < PREVIEW_READ_MAX ? p->body_len : PREVIEW_READ_MAX;
	do {
		n = end - off < BLOCK ? end - off : BLOCK;
		last = off + n == end;
		if (mime_decoder_run(&dc, mime_body_data(p) + off, n,
		    &dec) == -1 || (last &&
		    mime_decoder_finish(&dc, &dec) == -1)) {
			r = -1;
			break;
		}
		off += n;
		buf_reset(&utf);
		if (charset_to_utf8(conv, buf_cstr(&dec), dec.len, last,
		    &used, &utf) == -1) {
			r = -1;
			break;
		}
		/* a character cut at the block's end waits for the next */
		buf_consume(&dec, used);
		feed(&v, buf_cstr(&utf), utf.len, ishtml);
	} while (!last && !v.done);
	if (!v.done && !ishtml)
		unhold(&v);
	buf_free(&dec);
	buf_free(&utf);
	return r == -1 || v.err ? -1 : 0;
}

/* The part after p's subtree in pre-order. */
static const struct mime_part *
after(const struct mime_part *p)
{
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

/* The first text/plain and text/html parts that are not attachments;
 * with deep set, also inside attached or forwarded messages. */
static void
find_parts(const struct mime_part *root, int deep,
    const struct mime_part **plain_r, const struct mime_part **html_r)
{
	const struct mime_part *p;

	*plain_r = *html_r = NULL;
	for (p = root; p != NULL && (*plain_r == NULL || *html_r == NULL); ) {
		if ((p->disposition != NULL &&
		    strcasecmp(p->disposition, "attachment") == 0) ||
		    (!deep && p != root && (p->flags & MIME_F_MESSAGE))) {
			p = after(p);
			continue;
		}
		if ((p->flags & MIME_F_TEXT) && !(p->flags &
		    (MIME_F_SYNTHETIC | MIME_F_OPAQUE))) {
			if (*plain_r == NULL &&
			    strcasecmp(p->subtype, "plain") == 0)
				*plain_r = p;
			else if (*html_r == NULL &&
			    strcasecmp(p->subtype, "html") == 0)
				*html_r = p;
		}
		p = mime_next(p);
	}
}

int
preview_make(const struct mime_part *root, struct buf *out)
{
	const struct mime_part *plain_p, *html_p;
	size_t start = out->len;

	/* the message's own text first: a forwarded message inside it is
	 * looked at only when it has none */
	find_parts(root, 0, &plain_p, &html_p);
	if (plain_p == NULL && html_p == NULL)
		find_parts(root, 1, &plain_p, &html_p);
	if (plain_p != NULL && part_preview(plain_p, 0, out) == -1)
		return -1;
	if (out->len == start && html_p != NULL &&
	    part_preview(html_p, 1, out) == -1)
		return -1;
	return 0;
}
