/*
 * message-section: section specifications (BODY[...], BINARY[...]) as
 * FETCH names them, and the bytes of a section.  See message.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/message-private.h"
#include "common/lib/sorted.h"
#include "common/lib/strnum.h"

/* --- section specifications ----------------------------------------- */

static const struct {
	const char		*prefix;
	enum section_item	 item;
} items[] = {
	{ "BODY.PEEK[", SECTION_BODY_PEEK },
	{ "BODY[", SECTION_BODY },
	{ "BINARY.PEEK[", SECTION_BINARY_PEEK },
	{ "BINARY.SIZE[", SECTION_BINARY_SIZE },
	{ "BINARY[", SECTION_BINARY },
};

static const struct {
	const char		*name;
	enum section_text	 text;
} texts[] = {
	/* longest first */
	{ "HEADER.FIELDS.NOT", SECTION_HEADER_FIELDS_NOT },
	{ "HEADER.FIELDS", SECTION_HEADER_FIELDS },
	{ "HEADER", SECTION_HEADER },
	{ "TEXT", SECTION_TEXT },
	{ "MIME", SECTION_MIME },
};

static int
name_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static int
is_binary(enum section_item it)
{
	return it == SECTION_BINARY || it == SECTION_BINARY_PEEK ||
	    it == SECTION_BINARY_SIZE;
}

void
message_section_free(struct section *s)
{
	size_t i;

	for (i = 0; i < s->nfields; i++)
		free(s->fields[i]);
	free(s->fields);
	free(s->sorted);
	s->fields = s->sorted = NULL;
	s->nfields = s->nsorted = 0;
}

/* The header list of HEADER.FIELDS: astrings, at least one. */
static int
parse_fields(const struct imap_arg *list, struct section *s,
    const char **why_r)
{
	size_t i, j;
	const char *f;

	if (list->type != IMAP_ARG_LIST || list->len == 0) {
		*why_r = "HEADER.FIELDS needs a list of field names";
		return -1;
	}
	if ((s->fields = calloc(list->len, sizeof(*s->fields))) == NULL ||
	    (s->sorted = calloc(list->len, sizeof(*s->sorted))) == NULL)
		goto nomem;
	for (i = 0; i < list->len; i++) {
		/* a literal may hold a NUL, which no field name has */
		if ((f = imap_arg_astring(&list->list[i])) == NULL ||
		    *f == '\0' || strlen(f) != list->list[i].len) {
			*why_r = "bad field name in HEADER.FIELDS";
			return -1;
		}
		if ((s->fields[i] = strdup(f)) == NULL)
			goto nomem;
		s->nfields++;
	}
	memcpy(s->sorted, s->fields, s->nfields * sizeof(*s->sorted));
	qsort(s->sorted, s->nfields, sizeof(*s->sorted), name_cmp);
	for (i = 0, j = 0; i < s->nfields; i++)
		if (j == 0 || strcasecmp(s->sorted[j - 1], s->sorted[i]) != 0)
			s->sorted[j++] = s->sorted[i];
	s->nsorted = j;
	return 0;
nomem:
	*why_r = "out of memory";
	return -1;
}

/* "<origin.count>" at p, to the end of the string. */
static int
parse_partial(const char *p, struct section *s)
{
	const char *dot, *end;
	uint64_t o, c;

	if (*p == '\0')
		return 0;
	if (*p != '<' || (dot = strchr(p, '.')) == NULL ||
	    (end = strchr(dot, '>')) == NULL || end[1] != '\0')
		return -1;
	if (strnum_u64_n(p + 1, (size_t)(dot - p - 1), INT64_MAX, &o) == -1 ||
	    strnum_u64_n(dot + 1, (size_t)(end - dot - 1), INT64_MAX,
	    &c) == -1 || c == 0)
		return -1;
	s->partial = 1;
	s->origin = o;
	s->count = c;
	return 0;
}

int
message_section_parse(const struct imap_arg *args, size_t nargs,
    size_t *used_r, struct section *s, const char **why_r)
{
	const char *a, *p;
	size_t i, n;
	uint64_t num;

	memset(s, 0, sizeof(*s));
	*used_r = 1;
	if (nargs == 0 || (a = imap_arg_atom(&args[0])) == NULL)
		return 1;
	if (strcasecmp(a, "RFC822") == 0 ||
	    strcasecmp(a, "RFC822.HEADER") == 0 ||
	    strcasecmp(a, "RFC822.TEXT") == 0) {
		s->item = a[6] == '\0' ? SECTION_RFC822 : (a[7] == 'H' ||
		    a[7] == 'h') ? SECTION_RFC822_HEADER : SECTION_RFC822_TEXT;
		s->text = s->item == SECTION_RFC822 ? SECTION_ALL :
		    s->item == SECTION_RFC822_HEADER ? SECTION_HEADER :
		    SECTION_TEXT;
		return 0;
	}
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (strncasecmp(a, items[i].prefix,
		    strlen(items[i].prefix)) == 0)
			break;
	if (i == sizeof(items) / sizeof(items[0])) {
		if (strcasecmp(a, "BODY.PEEK") == 0 ||
		    strcasecmp(a, "BINARY") == 0 ||
		    strcasecmp(a, "BINARY.PEEK") == 0 ||
		    strcasecmp(a, "BINARY.SIZE") == 0) {
			*why_r = "section expected after item name";
			return -1;
		}
		return 1;
	}
	s->item = items[i].item;
	p = a + strlen(items[i].prefix);

	/* section-part: nz-number *("." nz-number) */
	while (*p >= '1' && *p <= '9') {
		for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
			;
		if (s->npath == SECTION_PATH_MAX ||
		    strnum_u64_n(p, n, SECTION_PART_MAX, &num) == -1) {
			*why_r = "part number out of range";
			return -1;
		}
		s->path[s->npath++] = (uint32_t)num;
		p += n;
		if (*p != '.')
			break;
		p++;
		if (!(*p >= '1' && *p <= '9'))
			break;		/* section text follows */
	}
	if (s->npath > 0 && p[-1] == '.' && *p == ']') {
		*why_r = "bad section text";
		return -1;
	}
	if (*p != ']') {
		if (s->npath > 0 && p[-1] != '.') {
			*why_r = "bad section text";
			return -1;
		}
		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			n = strlen(texts[i].name);
			/* HEADER.FIELDS ends the atom: its list follows */
			if (strncasecmp(p, texts[i].name, n) == 0 &&
			    p[n] == (texts[i].text == SECTION_HEADER_FIELDS ||
			    texts[i].text == SECTION_HEADER_FIELDS_NOT ?
			    '\0' : ']'))
				break;
		}
		if (i == sizeof(texts) / sizeof(texts[0]) ||
		    is_binary(s->item) ||
		    (texts[i].text == SECTION_MIME && s->npath == 0)) {
			*why_r = "bad section text";
			return -1;
		}
		s->text = texts[i].text;
		p += strlen(texts[i].name);
		if (*p == '\0') {
			/* HEADER.FIELDS: the list and "]..." follow */
			if (nargs < 3 || parse_fields(&args[1], s,
			    why_r) == -1) {
				if (nargs < 3)
					*why_r = "HEADER.FIELDS needs a list";
				message_section_free(s);
				return -1;
			}
			if ((p = imap_arg_atom(&args[2])) == NULL ||
			    *p != ']') {
				*why_r = "\"]\" expected after the field list";
				message_section_free(s);
				return -1;
			}
			*used_r = 3;
		}
	}
	p++;			/* the "]" */
	if (parse_partial(p, s) == -1 ||
	    (s->partial && s->item == SECTION_BINARY_SIZE)) {
		*why_r = "bad partial range";
		message_section_free(s);
		return -1;
	}
	return 0;
}

/* A field name as it is echoed: upper case, as an atom if it can be. */
static int
echo_field(struct buf *out, const char *f)
{
	size_t i, len = strlen(f), start = out->len;
	int atom = len > 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)f[i];

		if (c <= ' ' || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			atom = 0;
	}
	if (atom) {
		if (buf_add(out, f, len) == -1)
			return -1;
	} else if (imap_string(out, f, len) == -1)
		return -1;
	for (i = start; i < out->len; i++)
		if (out->data[i] >= 'a' && out->data[i] <= 'z')
			out->data[i] -= 32;
	return 0;
}

int
message_section_name(const struct section *s, struct buf *out)
{
	static const char *const tnames[] = {
		"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT",
		"MIME",
	};
	size_t i;

	switch (s->item) {
	case SECTION_RFC822:
		return buf_adds(out, "RFC822");
	case SECTION_RFC822_HEADER:
		return buf_adds(out, "RFC822.HEADER");
	case SECTION_RFC822_TEXT:
		return buf_adds(out, "RFC822.TEXT");
	case SECTION_BODY:
	case SECTION_BODY_PEEK:
		if (buf_adds(out, "BODY[") == -1)
			return -1;
		break;
	case SECTION_BINARY:
	case SECTION_BINARY_PEEK:
		if (buf_adds(out, "BINARY[") == -1)
			return -1;
		break;
	case SECTION_BINARY_SIZE:
		if (buf_adds(out, "BINARY.SIZE[") == -1)
			return -1;
		break;
	}
	for (i = 0; i < s->npath; i++)
		if (buf_addf(out, i > 0 ? ".%u" : "%u", s->path[i]) == -1)
			return -1;
	if (s->text != SECTION_ALL &&
	    buf_addf(out, "%s%s", s->npath > 0 ? "." : "",
	    tnames[s->text]) == -1)
		return -1;
	if (s->text == SECTION_HEADER_FIELDS ||
	    s->text == SECTION_HEADER_FIELDS_NOT) {
		if (buf_addc(out, ' ') == -1 ||
		    list_of(out, (const char *const *)s->fields, s->nfields,
		    echo_field) == -1)
			return -1;
	}
	if (buf_addc(out, ']') == -1)
		return -1;
	if (s->partial && buf_addf(out, "<%llu>",
	    (unsigned long long)s->origin) == -1)
		return -1;
	return 0;
}

/* --- section contents ----------------------------------------------- */

/*
 * Where section bytes go: skip the first bytes of a partial, stop after
 * its count, or only count them (out NULL).
 */
struct sink {
	struct buf	*out;
	uint64_t	 skip;
	uint64_t	 left;		/* UINT64_MAX: no limit */
	uint64_t	 total;		/* bytes offered */
	int		 nul80;		/* NUL becomes 0x80 (as Dovecot
					 * does): a literal cannot hold NUL */
};

static int
sink_add(struct sink *sk, const char *p, size_t n)
{
	uint64_t k;
	size_t start;
	char *q;

	sk->total += n;
	if (sk->out == NULL)
		return 0;
	if (sk->skip > 0) {
		k = sk->skip < n ? sk->skip : n;
		sk->skip -= k;
		p += k;
		n -= (size_t)k;
	}
	if (n > sk->left)
		n = (size_t)sk->left;
	if (n == 0)
		return 0;
	if (sk->left != UINT64_MAX)
		sk->left -= n;
	start = sk->out->len;
	if (buf_add(sk->out, p, n) == -1)
		return -1;
	if (sk->nul80)
		for (q = sk->out->data + start;
		    (q = memchr(q, '\0', n - (size_t)(q - (sk->out->data +
		    start)))) != NULL; q++)
			*q = (char)0x80;
	return 0;
}

/* nothing more will be taken */
static int
sink_full(const struct sink *sk)
{
	return sk->out != NULL && sk->left == 0;
}

static int
emit_sink(void *ctx, const char *p, size_t n)
{
	if (sink_add(ctx, p, n) == -1)
		return -1;
	return sink_full(ctx);
}

/* The CRLF form of d[off..off+len) into the sink. */
static int
sink_crlf(struct sink *sk, const char *d, size_t off, size_t len)
{
	return mime_crlf_walk(d, off, len, emit_sink, sk) == -1 ? -1 : 0;
}

/* The part a section path names (see RFC 3501 6.4.5), or NULL. */
static const struct mime_part *
find_part(const struct mime_part *p, const uint32_t *path, unsigned n)
{
	const struct mime_part *c;
	unsigned i;
	uint32_t num;

	for (i = 0; i < n && p != NULL; i++) {
		num = path[i];
		if (p->flags & MIME_F_MULTIPART) {
			for (c = p->children; c != NULL && num > 1; num--)
				c = c->next;
			p = c;
		} else if (num != 1 || (i + 1 < n &&
		    !(p->flags & MIME_F_MESSAGE)))
			return NULL;
		/* more numbers after a message part go inside it */
		if (p != NULL && (p->flags & MIME_F_MESSAGE) && i + 1 < n)
			p = p->children;
	}
	return p;
}

struct field_key {
	const struct section	*s;
	const char		*name;
	size_t			 len;
};

/* how the field name k sorts against sorted[i]: <0, 0 or >0 */
static int
field_cmp(const struct field_key *k, size_t i)
{
	const char *f = k->s->sorted[i];
	size_t fl = strlen(f);
	int c;

	c = strncasecmp(k->name, f, k->len < fl ? k->len : fl);
	return c != 0 ? c : (k->len > fl) - (k->len < fl);
}

static int
field_before(const void *arg, size_t i)
{
	return field_cmp(arg, i) > 0;
}

static int
in_list(const struct section *s, const char *name, size_t len)
{
	struct field_key k = { s, name, len };
	size_t i = sorted_bound(0, s->nsorted, field_before, &k);

	return i < s->nsorted && field_cmp(&k, i) == 0;
}

/*
 * The fields named (HEADER.FIELDS) or not named (.NOT) in the list, whole,
 * in message order, then an empty line; .NOT copies the header without
 * the named fields, so it ends in an empty line only if the header did,
 * and it keeps lines without a colon (as Dovecot does both).
 */
static int
header_fields(struct sink *sk, const struct section *s,
    const struct mime_part *p)
{
	struct mime_header_iter it;
	struct mime_field f;
	int want = s->text == SECTION_HEADER_FIELDS;

	mime_header_iter_init(&it, mime_header_data(p), p->hdr_len);
	while (mime_header_next(&it, &f) && !sink_full(sk)) {
		if (f.name_len == 0 ? want :
		    in_list(s, f.name, f.name_len) != want)
			continue;
		if (sink_crlf(sk, p->msg, (size_t)(f.line - p->msg),
		    f.line_len) == -1)
			return -1;
	}
	if (!want && (p->flags & MIME_F_NO_SEPARATOR))
		return 0;
	return sink_add(sk, "\r\n", 2);
}

/* Transfer-decode a part's body into the sink. */
static int
decoded_body(struct sink *sk, const struct mime_part *p)
{
	struct mime_decoder dc;
	struct buf tmp;
	size_t off = 0, n;
	int r = 0;

	switch (p->cte) {
	case MIME_CTE_QP:
	case MIME_CTE_BASE64:
		break;
	case MIME_CTE_BINARY:
		return sink_add(sk, mime_body_data(p), p->body_len);
	case MIME_CTE_UNKNOWN:
		return MESSAGE_EUNKNOWN_CTE;
	default:
		return sink_crlf(sk, p->msg, p->body_off, p->body_len);
	}
	mime_decoder_init(&dc, p->cte);
	buf_init(&tmp, SEARCH_CHUNK * 2 + MIME_QP_BLANKS_MAX + 16);
	while (off < p->body_len && !sink_full(sk) && r == 0) {
		n = p->body_len - off < SEARCH_CHUNK ? p->body_len - off :
		    SEARCH_CHUNK;
		buf_reset(&tmp);
		r = mime_decoder_run(&dc, mime_body_data(p) + off, n, &tmp);
		if (r == 0)
			r = sink_add(sk, buf_cstr(&tmp), tmp.len);
		off += n;
	}
	buf_reset(&tmp);
	if (r == 0 && mime_decoder_finish(&dc, &tmp) == 0)
		r = sink_add(sk, buf_cstr(&tmp), tmp.len);
	buf_free(&tmp);
	return r;
}

static int
section_run(struct message *m, const struct section *s, struct sink *sk)
{
	const struct mime_part *root, *p;

	if ((root = message_parts(m)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (s->npath == 0) {
		p = root;
		if (is_binary(s->item) || s->text == SECTION_ALL)
			return sink_crlf(sk, m->data, 0, m->len);
	} else {
		if ((p = find_part(root, s->path, s->npath)) == NULL)
			return 0;
		switch (s->text) {
		case SECTION_ALL:
			if (is_binary(s->item) && !(p->flags &
			    (MIME_F_MULTIPART | MIME_F_MESSAGE)))
				return decoded_body(sk, p);
			return sink_crlf(sk, m->data, p->body_off,
			    p->body_len);
		case SECTION_MIME:
			return sink_crlf(sk, m->data, p->hdr_off, p->hdr_len);
		default:
			/* HEADER and TEXT of a part: of its message */
			if (!(p->flags & MIME_F_MESSAGE))
				return 0;
			p = p->children;
			break;
		}
	}
	switch (s->text) {
	case SECTION_HEADER:
		return sink_crlf(sk, m->data, p->hdr_off, p->hdr_len);
	case SECTION_TEXT:
		return sink_crlf(sk, m->data, p->body_off, p->body_len);
	case SECTION_HEADER_FIELDS:
	case SECTION_HEADER_FIELDS_NOT:
		return header_fields(sk, s, p);
	default:
		return sink_crlf(sk, m->data, p->body_off, p->body_len);
	}
}

int
message_section_size(struct message *m, const struct section *s,
    uint64_t *size_r)
{
	struct sink sk = { NULL, 0, UINT64_MAX, 0, 0 };
	int r;

	if ((r = section_run(m, s, &sk)) == 0)
		*size_r = sk.total;
	return r;
}

int
message_section_get(struct message *m, const struct section *s,
    struct buf *out, int *nil_r)
{
	struct sink sk = { out, 0, UINT64_MAX, 0, 0 };
	size_t start = out->len;
	uint64_t size;
	int r;

	if (nil_r != NULL)
		*nil_r = 0;
	if (s->item == SECTION_BINARY_SIZE) {
		if ((r = message_section_size(m, s, &size)) != 0)
			return r;
		return buf_addf(out, "%llu", (unsigned long long)size);
	}
	if (s->partial) {
		sk.skip = s->origin;
		sk.left = s->count;
	}
	sk.nul80 = !is_binary(s->item);
	if ((r = section_run(m, s, &sk)) != 0)
		buf_truncate(out, start);
	return r;
}
