/*
 * message-search: SEARCH over one message (header fields, addresses,
 * body and text, decoded to UTF-8), the text a full-text index reads,
 * and SEARCH HEADER answered from a kept ENVELOPE.  See message.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/message-private.h"
#include "common/lib/strnum.h"
#include "common/mail/charset.h"
#include "common/mail/textsearch.h"

/* --- SEARCH --------------------------------------------------------- */

/* encoded bytes decoded at a time: the decoded block stays in cache while
 * it is searched */
#define SEARCH_BLOCK		(16 * 1024)

static struct {
	char			*needle;
	struct textsearch	*ts;
	struct buf		 dec;		/* transfer-decoded text */
	struct buf		 utf;		/* the same in UTF-8 */
	struct buf		 field;		/* one decoded header field */
} kept;

static void
forget_needle(void)
{
	free(kept.needle);
	textsearch_free(kept.ts);
	kept.needle = NULL;
	kept.ts = NULL;
}

void
message_search_cleanup(void)
{
	forget_needle();
	buf_free(&kept.dec);
	buf_free(&kept.utf);
	buf_free(&kept.field);
}

static void
kept_init(void)
{
	if (kept.dec.max == 0) {
		buf_init(&kept.dec, SCRATCH_MAX);
		buf_init(&kept.utf, SCRATCH_MAX);
		buf_init(&kept.field, SCRATCH_MAX);
	}
}

static struct textsearch *
matcher(const char *needle)
{
	if (kept.needle != NULL && strcmp(kept.needle, needle) == 0) {
		textsearch_reset(kept.ts);
		return kept.ts;
	}
	forget_needle();
	kept_init();
	if ((kept.needle = strdup(needle)) == NULL ||
	    (kept.ts = textsearch_new(needle, strlen(needle))) == NULL) {
		forget_needle();
		return NULL;
	}
	return kept.ts;
}

/* The text of a header value as SEARCH reads it: RFC 2047-decoded, with
 * "Name: " before it when name is not NULL; into out.  0 or -1. */
static int
value_text(const char *name, size_t name_len, const char *v, size_t len,
    struct buf *out)
{
	buf_reset(out);
	if (name != NULL && (buf_add(out, name, name_len) == -1 ||
	    buf_add(out, ": ", 2) == -1))
		return -1;
	return mime_header_decode(v, len, out);
}

/* Feed a header value's text (value_text()); the matcher is reset
 * first. */
static int
feed_value(struct textsearch *ts, const char *name, size_t name_len,
    const char *v, size_t len)
{
	struct buf *tmp = &kept.field;

	if (value_text(name, name_len, v, len, tmp) == -1)
		return -1;
	textsearch_reset(ts);
	return textsearch_feed(ts, buf_cstr(tmp), tmp->len);
}

/* Feed one field's decoded value (with "Name: " before it when
 * with_name). */
static int
feed_field(struct textsearch *ts, const struct mime_field *f, int with_name)
{
	return feed_value(ts, with_name ? f->name : NULL, f->name_len,
	    f->value, f->value_len);
}

/*
 * Each top-level field called field, fed to a matcher for needle: its
 * decoded value, or with ab its addresses written as text (see
 * message_search_address()).  1, 0 or -1.
 */
static int
search_named(struct message *m, const char *field, const char *needle,
    struct addrbufs *ab)
{
	const struct mime_part *h = top_header(m);
	struct mime_header_iter it;
	struct mime_field f;
	struct textsearch *ts;
	size_t flen = strlen(field), count;
	int r = 0;

	if (h == NULL || (ts = matcher(needle)) == NULL)
		return -1;
	mime_header_iter_init(&it, mime_header_data(h), h->hdr_len);
	while (r == 0 && mime_header_next(&it, &f)) {
		if (f.name_len != flen ||
		    strncasecmp(f.name, field, f.name_len) != 0)
			continue;
		if (*needle == '\0')
			return 1;
		if (ab == NULL) {
			r = feed_field(ts, &f, 0);
			continue;
		}
		buf_reset(&ab->text);
		count = 0;
		if (addresses(&ab->al, f.value, f.value_len, &ab->text, &ab->a,
		    &count) == -1)
			return -1;
		r = feed_value(ts, NULL, 0, buf_cstr(&ab->text), ab->text.len);
	}
	return r;
}

int
message_search_header(struct message *m, const char *field,
    const char *needle)
{
	return search_named(m, field, needle, NULL);
}

int
message_search_address(struct message *m, const char *field,
    const char *needle)
{
	struct addrbufs ab;
	int r;

	addrbufs_init(&ab, 1);
	r = search_named(m, field, needle, &ab);
	addrbufs_free(&ab);
	return r;
}

/* Every field of one header, for TEXT. */
static int
search_fields(struct textsearch *ts, const struct mime_part *p)
{
	struct mime_header_iter it;
	struct mime_field f;
	int r = 0;

	mime_header_iter_init(&it, mime_header_data(p), p->hdr_len);
	while (r == 0 && mime_header_next(&it, &f))
		r = feed_field(ts, &f, f.name_len > 0);
	return r;
}

/* Whether a part's body counts as text for BODY. */
static int
searchable(const struct mime_part *p)
{
	if (p->flags & (MIME_F_MULTIPART | MIME_F_MESSAGE | MIME_F_SYNTHETIC))
		return 0;
	return (p->flags & MIME_F_TEXT) ||
	    strcasecmp(p->type, "message") == 0;
}

static int
encoded(const struct mime_part *p)
{
	return p->cte == MIME_CTE_QP || p->cte == MIME_CTE_BASE64;
}

/*
 * Decode the next block of a part's body into kept.dec (appending).
 * *off is how much of the body is decoded; *last_r says whether this was
 * the last block.  0 or -1.
 */
static int
decode_block(struct mime_decoder *dc, const struct mime_part *p,
    size_t *off, int *last_r)
{
	size_t n = p->body_len - *off < SEARCH_BLOCK ? p->body_len - *off :
	    SEARCH_BLOCK;

	*last_r = *off + n == p->body_len;
	if (mime_decoder_run(dc, mime_body_data(p) + *off, n,
	    &kept.dec) == -1 || (*last_r &&
	    mime_decoder_finish(dc, &kept.dec) == -1))
		return -1;
	*off += n;
	return 0;
}

/*
 * An ASCII needle in the bytes of a part whose charset writes ASCII as
 * ASCII (utf8: as UTF-8 does, with its own special characters): in place
 * when the body is not encoded, else block by block, keeping enough of
 * each block's end for a match across blocks (and for a special character
 * cut there).  1, 0, TEXTSEARCH_UNSURE or -1.
 */
static int
search_bytes(struct textsearch *ts, const struct mime_part *p, int utf8)
{
	struct mime_decoder dc;
	size_t off = 0, keep = textsearch_length(ts) + 2;
	int r, last;

	if (!encoded(p))
		return textsearch_bytes(ts, mime_body_data(p), p->body_len,
		    utf8);
	mime_decoder_init(&dc, p->cte);
	buf_reset(&kept.dec);
	do {
		if (decode_block(&dc, p, &off, &last) == -1)
			return -1;
		r = textsearch_bytes(ts, buf_cstr(&kept.dec), kept.dec.len,
		    utf8);
		if (r != 0)
			return r;
		if (kept.dec.len > keep)
			buf_consume(&kept.dec, kept.dec.len - keep);
	} while (!last);
	return 0;
}

/*
 * A part's body as text: transfer-decoded and converted to UTF-8 from its
 * charset (an unknown one is read as UTF-8), handed to out piece by
 * piece; the bytes of an unencoded UTF-8 part are handed over as they
 * are, invalid sequences and all, for the reader to decode.  Whatever
 * out returns other than 0 ends the walk and is returned.
 */
static int
part_text(const struct mime_part *p,
    int (*out)(void *, const char *, size_t), void *arg)
{
	const char *cs = p->charset != NULL ? p->charset : "us-ascii";
	struct charset_conv *conv = NULL;
	struct mime_decoder dc;
	size_t off = 0, used;
	int r = 0, last, utf8 = charset_is_utf8(cs);

	if (!encoded(p) && utf8)
		/* the text is in the file as it is: no copy at all */
		return out(arg, mime_body_data(p), p->body_len);
	if (!utf8)
		conv = charset_get(cs);
	if (conv == NULL)
		conv = charset_get("utf-8");
	mime_decoder_init(&dc, encoded(p) ? p->cte : MIME_CTE_8BIT);
	buf_reset(&kept.dec);
	do {
		if (decode_block(&dc, p, &off, &last) == -1)
			return -1;
		buf_reset(&kept.utf);
		if (charset_to_utf8(conv, buf_cstr(&kept.dec), kept.dec.len,
		    last, &used, &kept.utf) == -1)
			return -1;
		/* keep a character cut at the end for the next round */
		buf_consume(&kept.dec, used);
		r = out(arg, buf_cstr(&kept.utf), kept.utf.len);
	} while (!last && r == 0);
	return r;
}

static int
feed_emit(void *arg, const char *text, size_t len)
{
	return textsearch_feed(arg, text, len);
}

/* One part's body: as bytes when the needle and the charset allow it,
 * else decoded to UTF-8. */
static int
search_part(struct textsearch *ts, const struct mime_part *p)
{
	const char *cs = p->charset != NULL ? p->charset : "us-ascii";
	struct charset_conv *conv = NULL;
	int utf8, r;

	if (charset_is_utf8(cs))
		utf8 = 1;
	else if (charset_ascii_bytes(cs))
		utf8 = 0;
	else {
		/* an unknown charset is read as UTF-8 */
		conv = charset_get(cs);
		utf8 = conv == NULL;
	}
	if (textsearch_is_ascii(ts) && (utf8 || conv == NULL)) {
		if ((r = search_bytes(ts, p, utf8)) != TEXTSEARCH_UNSURE)
			return r;
	}
	textsearch_reset(ts);
	return part_text(p, feed_emit, ts);
}

/* Walk the tree in order; with headers set, search every header too. */
static int
search_tree(struct message *m, const char *needle, int headers)
{
	const struct mime_part *root = message_parts(m), *p;
	struct textsearch *ts;
	int r = 0;

	if (root == NULL || (ts = matcher(needle)) == NULL)
		return -1;
	if (*needle == '\0')
		return 1;
	for (p = root; p != NULL && r == 0; ) {
		if (headers && !(p->flags & MIME_F_SYNTHETIC))
			r = search_fields(ts, p);
		if (r == 0 && searchable(p))
			r = search_part(ts, p);
		p = mime_next(p);
	}
	return r;
}

int
message_search_body(struct message *m, const char *needle)
{
	return search_tree(m, needle, 0);
}

int
message_search_text(struct message *m, const char *needle)
{
	return search_tree(m, needle, 1);
}

/* --- the text SEARCH reads, for a full-text index -------------------- */

struct walk {
	int		(*fn)(void *, unsigned, const char *, size_t);
	void		*arg;
	unsigned	 what;		/* MESSAGE_TEXT_* of the next piece */
};

static int
walk_emit(void *arg, const char *text, size_t len)
{
	struct walk *w = arg;
	unsigned what = w->what;

	w->what &= ~MESSAGE_TEXT_START;
	return w->fn(w->arg, what, text, len);
}

/* The fields FROM, TO, CC and BCC search as addresses. */
static int
address_field(const char *name, size_t len)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return 1;
	return 0;
}

/* One header's fields, and for the top-level header the addresses of
 * its address fields as message_search_address() writes them. */
static int
walk_header(struct walk *w, const struct mime_part *p, int top,
    struct addrbufs *ab)
{
	struct mime_header_iter it;
	struct mime_field f;
	size_t count;
	int r = 0;

	mime_header_iter_init(&it, mime_header_data(p), p->hdr_len);
	while (r == 0 && mime_header_next(&it, &f)) {
		if (value_text(f.name_len > 0 ? f.name : NULL, f.name_len,
		    f.value, f.value_len, &kept.field) == -1)
			return -1;
		r = w->fn(w->arg, MESSAGE_TEXT_HEADER | MESSAGE_TEXT_START,
		    buf_cstr(&kept.field), kept.field.len);
		if (r != 0 || !top || !address_field(f.name, f.name_len))
			continue;
		buf_reset(&ab->text);
		count = 0;
		if (addresses(&ab->al, f.value, f.value_len, &ab->text, &ab->a,
		    &count) == -1 || value_text(NULL, 0, buf_cstr(&ab->text),
		    ab->text.len, &kept.field) == -1)
			return -1;
		r = w->fn(w->arg, MESSAGE_TEXT_HEADER | MESSAGE_TEXT_START,
		    buf_cstr(&kept.field), kept.field.len);
	}
	return r;
}

int
message_text(struct message *m,
    int (*fn)(void *, unsigned, const char *, size_t), void *arg)
{
	const struct mime_part *root = message_parts(m), *p;
	struct walk w = { fn, arg, 0 };
	struct addrbufs ab;
	int r = 0;

	if (root == NULL)
		return -1;
	kept_init();
	addrbufs_init(&ab, 1);
	for (p = root; p != NULL && r == 0; p = mime_next(p)) {
		if (!(p->flags & MIME_F_SYNTHETIC))
			r = walk_header(&w, p, p == root, &ab);
		if (r == 0 && searchable(p)) {
			w.what = MESSAGE_TEXT_BODY | MESSAGE_TEXT_START;
			r = part_text(p, walk_emit, &w);
		}
	}
	addrbufs_free(&ab);
	return r;
}

/* --- SEARCH HEADER from a kept ENVELOPE ------------------------------ */

/* the fields ENVELOPE holds as strings, by position in it */
static const struct {
	const char	*name;
	unsigned	 bit;
	unsigned	 pos;
} env_strings[] = {
	{ "Date", MESSAGE_ENV_DATE, E_DATE },
	{ "Subject", MESSAGE_ENV_SUBJECT, E_SUBJECT },
	{ "In-Reply-To", MESSAGE_ENV_IN_REPLY_TO, E_IN_REPLY_TO },
	{ "Message-ID", MESSAGE_ENV_MESSAGE_ID, E_MESSAGE_ID },
};

unsigned
message_envelope_field(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(env_strings) / sizeof(env_strings[0]); i++)
		if (strcasecmp(name, env_strings[i].name) == 0)
			return env_strings[i].bit;
	return 0;
}

/* The digits of a literal's size at *p, up to "}".  -1 if there are
 * none or too many. */
static int
literal_size(const char **p, const char *end, size_t *n_r)
{
	uint64_t n;
	const char *s = *p;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	if (*p == s || *p >= end || **p != '}' ||
	    strnum_u64_n(s, (size_t)(*p - s), SIZE_MAX / 2, &n) == -1)
		return -1;
	(*p)++;
	*n_r = (size_t)n;
	return 0;
}

/* A quoted string at *p (its opening quote), unescaped into out when out
 * is not NULL.  0 or -1. */
static int
quoted_item(const char **p, const char *end, struct buf *out)
{
	const char *s = *p + 1, *q, *bs;

	for (;;) {
		if ((q = memchr(s, '"', (size_t)(end - s))) == NULL)
			return -1;
		/* a backslash before it quotes the next byte */
		bs = memchr(s, '\\', (size_t)(q - s));
		if (bs == NULL) {
			if (out != NULL && buf_add(out, s,
			    (size_t)(q - s)) == -1)
				return -1;
			*p = q + 1;
			return 0;
		}
		if (bs + 1 >= end || (out != NULL && (buf_add(out, s,
		    (size_t)(bs - s)) == -1 || buf_addc(out, bs[1]) == -1)))
			return -1;
		s = bs + 2;
	}
}

/*
 * Step over one item of an ENVELOPE at *p: NIL, a quoted string, a
 * literal or a parenthesized list (of those, to any depth, without
 * recursion).  The string of a string item (unescaped) goes to out when
 * out is not NULL; *nil_r says whether it was NIL.  0, or -1 for what
 * message_envelope() does not write (or no memory).
 */
static int
env_item(const char **p, const char *end, struct buf *out, int *nil_r)
{
	const char *s = *p;
	size_t depth = 0, n;

	*nil_r = 0;
	do {
		if (s < end && *s == ' ' && depth > 0)
			s++;
		if (s >= end)
			return -1;
		if (*s == '(') {
			depth++;
			s++;
			continue;
		}
		if (*s == ')') {
			if (depth == 0)
				return -1;
			depth--;
			s++;
			continue;
		}
		if (*s == '"') {
			if (quoted_item(&s, end, depth == 0 ? out : NULL) == -1)
				return -1;
		} else if (*s == '{') {
			s++;
			if (literal_size(&s, end, &n) == -1 ||
			    end - s < 2 || s[0] != '\r' || s[1] != '\n' ||
			    (size_t)(end - s - 2) < n)
				return -1;
			s += 2;
			if (out != NULL && depth == 0 &&
			    buf_add(out, s, n) == -1)
				return -1;
			s += n;
		} else if (end - s >= 3 && memcmp(s, "NIL", 3) == 0) {
			*nil_r = depth == 0;
			s += 3;
		} else
			return -1;
	} while (depth > 0);
	*p = s;
	return 0;
}

/* Step *p (just inside the ENVELOPE's parenthesis) over the fields
 * before pos, to the first byte of field pos.  0 or -1. */
static int
env_seek(const char **p, const char *end, unsigned pos)
{
	unsigned i;
	int nil;

	for (i = 0; i < pos; i++)
		if (env_item(p, end, NULL, &nil) == -1 || *p >= end ||
		    *(*p)++ != ' ')
			return -1;
	return 0;
}

int
message_envelope_string(const char *env, size_t len, enum message_envpos pos,
    struct buf *out)
{
	const char *p = env, *end = env + len;
	int nil;

	if (len == 0 || *p++ != '(' || env_seek(&p, end, pos) == -1 ||
	    env_item(&p, end, out, &nil) == -1)
		return -1;
	return !nil;
}

int
message_envelope_address(const char *env, size_t len, enum message_envpos pos,
    struct buf *name, struct buf *mailbox, struct buf *host,
    unsigned *present_r)
{
	const char *p = env, *end = env + len;
	struct buf *part[3] = { name, mailbox, host };
	unsigned i;
	int nil;

	*present_r = 0;
	if (len == 0 || *p++ != '(' || env_seek(&p, end, pos) == -1)
		return -1;
	if (end - p >= 3 && memcmp(p, "NIL", 3) == 0)
		return 0;
	/* "((" name SP adl SP mailbox SP host ")" ... */
	if (end - p < 2 || p[0] != '(' || p[1] != '(')
		return -1;
	p += 2;
	for (i = 0; i < 4; i++) {
		if ((i > 0 && (p >= end || *p++ != ' ')) ||
		    env_item(&p, end, i == 0 ? part[0] : i == 1 ? NULL :
		    part[i - 1], &nil) == -1)
			return -1;
		if (!nil && i != 1)
			*present_r |= 1U << (i == 0 ? 0 : i - 1);
	}
	return 1;
}

int
message_envelope_search(const char *env, size_t len, const char *field,
    const char *needle)
{
	struct textsearch *ts;
	struct buf *v;
	unsigned bit = message_envelope_field(field), pos = 0, i;
	int r;

	for (i = 0; i < sizeof(env_strings) / sizeof(env_strings[0]); i++)
		if (env_strings[i].bit == bit)
			pos = env_strings[i].pos;
	if (bit == 0 || (ts = matcher(needle)) == NULL)
		return -1;
	v = &kept.utf;
	buf_reset(v);
	if ((r = message_envelope_string(env, len, pos, v)) <= 0)
		return r;
	if (*needle == '\0')
		return 1;
	/* the envelope turned NUL into U+FFFD; an exact one had none */
	return feed_value(ts, NULL, 0, buf_cstr(v), v->len);
}
