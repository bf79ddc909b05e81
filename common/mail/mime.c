/*
 * mime: the one-pass MIME structure parser and header access.  See
 * mime.h for what it accepts; mime-decode.c holds the decoders of what
 * the parts and fields contain.
 *
 * The parser walks the message line by line, once.  It keeps the part it
 * is reading ("cur") and a stack of the boundaries of the multiparts that
 * enclose it; a line that starts with "--" is tested against the stack,
 * every other line is only counted.  Sizes come from running counts of
 * LFs and bare LFs taken at every part start and end, so no byte is read
 * twice however deep the nesting.  Parts, parameter arrays and strings
 * live in one arena that mime_free() releases at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mail/mime.h"

/* RFC 2046 allows 70; a line cannot usefully hold more than 998 */
#define BOUNDARY_MAX		998
#define ARENA_BLOCK		4096
#define ARENA_BLOCK_MAX		(256 * 1024)
#define RFC2231_INDEX_MAX	999999
#define SCRATCH_MAX		((size_t)1 << 30)
#define SCAN_BLOCK		128	/* bytes; its counts fit a byte */

/* --- arena ---------------------------------------------------------- */

struct arena_block {
	struct arena_block	*next;
	size_t			 used;
	size_t			 size;
	max_align_t		 data[];
};

struct arena {
	struct arena_block	*head;
	size_t			 next_size;
};

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t sz;
	char *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (n == 0)
		n = sizeof(max_align_t);
	if (b == NULL || b->size - b->used < n) {
		sz = a->next_size;
		if (a->next_size < ARENA_BLOCK_MAX)
			a->next_size *= 2;
		if (sz < n)
			sz = n;
		if (sz > SIZE_MAX - sizeof(*b) ||
		    (b = malloc(sizeof(*b) + sz)) == NULL)
			return NULL;
		b->used = 0;
		b->size = sz;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

static void
arena_free(struct arena *a)
{
	struct arena_block *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

/* A NUL-terminated copy of s[0..n) with NUL bytes made U+FFFD. */
static char *
arena_str(struct arena *a, const char *s, size_t n)
{
	size_t i, nul = 0, o = 0;
	char *p;

	for (i = 0; i < n; i++)
		nul += s[i] == '\0';
	if (n > SIZE_MAX / 4 || (p = arena_alloc(a, n + nul * 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0') {
			memcpy(p + o, "\xef\xbf\xbd", 3);
			o += 3;
		} else
			p[o++] = s[i];
	}
	p[o] = '\0';
	return p;
}

/* --- the tree ------------------------------------------------------- */

/* A part with the LF counts at its header and body starts. */
struct ppart {
	struct mime_part	 p;
	struct mime_part	*last;		/* last child, to append */
	uint64_t		 h_nlf, h_nbare;
	uint64_t		 b_nlf, b_nbare;
};

struct mime_tree {
	struct ppart		 root;
	struct arena		 arena;
};

struct bnd {
	const char		*s;
	size_t			 len;
	struct mime_part	*owner;
};

struct parser {
	const char		*d;
	size_t			 len;
	struct mime_tree	*tree;
	struct arena		*a;
	struct mime_part	*cur;
	int			 in_header;	/* cur is in its header */
	struct bnd		 stack[MIME_DEPTH_MAX + 1];
	unsigned		 nb;
	unsigned		 nparts;
	int			 no_more_parts;
	uint64_t		 nlf;		/* LFs before the line */
	uint64_t		 nbare;		/* of them without CR */
	size_t			 walk_until;	/* skip_lines() leaves the
						 * lines before to the walk */
	struct buf		 scratch;
};

static const char *
part_data(const struct mime_part *p)
{
	return p->msg;
}

const char *
mime_header_data(const struct mime_part *p)
{
	return part_data(p) + p->hdr_off;
}

const char *
mime_body_data(const struct mime_part *p)
{
	return part_data(p) + p->body_off;
}

static int
ieq(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

/* --- header fields -------------------------------------------------- */

void
mime_header_iter_init(struct mime_header_iter *it, const char *hdr,
    size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
}

int
mime_header_next(struct mime_header_iter *it, struct mime_field *f)
{
	const char *p = it->p, *end = it->end, *le, *nl, *first_end, *colon;
	const char *vend;

	if (p >= end || *p == '\n' || (*p == '\r' && (p + 1 == end ||
	    p[1] == '\n')))
		return 0;
	/* the first line, then its continuations */
	nl = memchr(p, '\n', (size_t)(end - p));
	first_end = nl != NULL ? nl : end;
	le = nl != NULL ? nl + 1 : end;
	while (le < end && (*le == ' ' || *le == '\t')) {
		nl = memchr(le, '\n', (size_t)(end - le));
		le = nl != NULL ? nl + 1 : end;
	}
	f->line = p;
	f->line_len = (size_t)(le - p);
	vend = le;
	if (vend > p && vend[-1] == '\n') {
		vend--;
		if (vend > p && vend[-1] == '\r')
			vend--;
	}
	colon = *p == ' ' || *p == '\t' ? NULL :
	    memchr(p, ':', (size_t)(first_end - p));
	if (colon != NULL) {
		/* a name has no blanks but before its colon ("To :"); an
		 * mbox "From " line has colons in its time */
		const char *ne = colon;

		while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (memchr(p, ' ', (size_t)(ne - p)) != NULL ||
		    memchr(p, '\t', (size_t)(ne - p)) != NULL)
			colon = NULL;
	}
	f->name = p;
	if (colon == NULL) {
		f->name_len = 0;
		f->value = p;
		f->value_len = (size_t)(vend - p);
	} else {
		const char *ne = colon, *v = colon + 1;

		while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		f->name_len = (size_t)(ne - p);
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		f->value = v;
		f->value_len = (size_t)(vend - v);
	}
	it->p = le;
	return 1;
}

int
mime_unfold(const char *v, size_t len, struct buf *out)
{
	size_t i, start = out->len, run;

	while (len > 0 && (*v == ' ' || *v == '\t' || *v == '\r' ||
	    *v == '\n')) {
		v++;
		len--;
	}
	for (i = 0, run = 0; i < len; i++) {
		if (v[i] != '\r' && v[i] != '\n')
			continue;
		if (buf_add(out, v + run, i - run) == -1)
			return -1;
		run = i + 1;
	}
	if (buf_add(out, v + run, len - run) == -1)
		return -1;
	while (out->len > start && (out->data[out->len - 1] == ' ' ||
	    out->data[out->len - 1] == '\t'))
		out->len--;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return 0;
}

static int
header_get(const struct mime_part *part, const char *name, int last,
    struct buf *out)
{
	struct mime_header_iter it;
	struct mime_field f, found;
	int have = 0;

	mime_header_iter_init(&it, mime_header_data(part), part->hdr_len);
	while (mime_header_next(&it, &f)) {
		if (f.name_len == 0 || !ieq(f.name, f.name_len, name))
			continue;
		found = f;
		have = 1;
		if (!last)
			break;
	}
	if (!have)
		return 0;
	return mime_unfold(found.value, found.value_len, out) == -1 ? -1 : 1;
}

int
mime_header_get(const struct mime_part *part, const char *name,
    struct buf *out)
{
	return header_get(part, name, 0, out);
}

int
mime_header_get_last(const struct mime_part *part, const char *name,
    struct buf *out)
{
	return header_get(part, name, 1, out);
}

/* --- RFC 2045 tokens ------------------------------------------------ */

struct tok {
	const char	*p;
	const char	*end;
};

const char *
mime_skip_cfws(const char *p, const char *end)
{
	unsigned depth = 0;

	while (p < end) {
		char c = *p;

		if (depth > 0) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			p++;
		else if (c == '(') {
			depth = 1;
			p++;
		} else
			break;
	}
	return p;
}

static void
skip_cfws(struct tok *t)
{
	t->p = mime_skip_cfws(t->p, t->end);
}

/* A switch rather than strchr(): every byte of every token goes through
 * here. */
static int
is_tspecial(unsigned char c)
{
	if (c <= ' ' || c == 0x7f)
		return 1;
	switch (c) {
	case '(': case ')': case '<': case '>': case '@': case ',': case ';':
	case ':': case '\\': case '"': case '/': case '[': case ']': case '?':
	case '=':
		return 1;
	default:
		return 0;
	}
}

/* An RFC 2045 token; returns its length (0 if none). */
static size_t
token(struct tok *t, const char **s_r)
{
	const char *s = t->p;

	while (t->p < t->end && !is_tspecial((unsigned char)*t->p))
		t->p++;
	*s_r = s;
	return (size_t)(t->p - s);
}

/* A quoted string at t->p (which is '"'), unescaped and unfolded into
 * out (reset first).  An unterminated one runs to the end. */
static int
quoted(struct tok *t, struct buf *out)
{
	buf_reset(out);
	t->p++;
	while (t->p < t->end && *t->p != '"') {
		char c = *t->p++;

		if (c == '\\' && t->p < t->end)
			c = *t->p++;
		else if (c == '\r' || c == '\n')
			continue;
		if (buf_addc(out, c) == -1)
			return -1;
	}
	if (t->p < t->end)
		t->p++;
	return 0;
}

/* Move past the next ';' that is not inside a quoted string or comment;
 * 0 if there is none. */
static int
next_semicolon(struct tok *t)
{
	while (t->p < t->end) {
		if (*t->p == '(') {
			skip_cfws(t);
			continue;
		}
		if (*t->p == '"') {
			/* skip without keeping */
			t->p++;
			while (t->p < t->end && *t->p != '"') {
				if (*t->p == '\\' && t->p + 1 < t->end)
					t->p++;
				t->p++;
			}
			if (t->p < t->end)
				t->p++;
			continue;
		}
		if (*t->p++ == ';')
			return 1;
	}
	return 0;
}

/* a raw parameter before RFC 2231 merging */
struct rawparam {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* arena string */
	size_t		 base_len;	/* RFC 2231: length before '*' */
	int		 ext;		/* RFC 2231: value is extended */
	int		 idx;		/* RFC 2231: -1 for none */
	unsigned	 order;		/* position in the field */
};

/*
 * Classify "name*", "name*N" and "name*N*".  Anything else with a star is
 * an ordinary (if odd) name.  Returns 1 for an RFC 2231 name.
 */
static int
rfc2231_name(struct rawparam *rp)
{
	const char *n = rp->name, *star = memchr(n, '*', rp->name_len);
	size_t rest, i;
	int idx = 0;

	if (star == NULL || star == n)
		return 0;
	rp->base_len = (size_t)(star - n);
	rest = rp->name_len - rp->base_len - 1;
	star++;
	if (rest == 0) {
		rp->ext = 1;
		rp->idx = -1;
		return 1;
	}
	for (i = 0; i < rest && star[i] >= '0' && star[i] <= '9'; i++) {
		if (idx > RFC2231_INDEX_MAX / 10)
			return 0;
		idx = idx * 10 + (star[i] - '0');
	}
	/* digits, no leading zero but "0" itself, and maybe a final star */
	if (i == 0 || (star[0] == '0' && i > 1) || idx > RFC2231_INDEX_MAX)
		return 0;
	if (i == rest)
		rp->ext = 0;
	else if (i + 1 == rest && star[i] == '*')
		rp->ext = 1;
	else
		return 0;
	rp->idx = idx;
	return 1;
}

static int
rawparam_cmp(const void *a, const void *b)
{
	const struct rawparam *x = a, *y = b;
	int c;

	if (x->base_len != y->base_len)
		return x->base_len < y->base_len ? -1 : 1;
	if ((c = strncasecmp(x->name, y->name, x->base_len)) != 0)
		return c;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Bytes that may stand unencoded in an RFC 2231 extended value. */
static int
attr_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("*'%()<>@,;:\\\"/[]?=", c) == NULL;
}

static int
add_pct(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (attr_char(c)) {
			if (buf_addc(b, c) == -1)
				return -1;
		} else if (buf_addc(b, '%') == -1 ||
		    buf_addc(b, hex[c >> 4]) == -1 ||
		    buf_addc(b, hex[c & 15]) == -1)
			return -1;
	}
	return 0;
}

/* one RFC 2231 name: ext[start..end) once sorted */
struct pgroup {
	size_t		 start;
	size_t		 end;
	unsigned	 first;		/* order of its first piece */
};

static int
pgroup_cmp(const void *a, const void *b)
{
	const struct pgroup *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static int
same_base(const struct rawparam *a, const struct rawparam *b)
{
	return a->base_len == b->base_len &&
	    strncasecmp(a->name, b->name, a->base_len) == 0;
}

/* Join the pieces of one RFC 2231 name into one presented parameter;
 * *added_r is 0 when there is nothing usable (no piece 0). */
static int
join_pieces(struct parser *ps, const struct rawparam *ext, size_t start,
    size_t end, struct mime_param *out, int *added_r)
{
	const struct rawparam *f = &ext[start];
	size_t k;
	char *name;
	int want = 0, r;

	*added_r = 0;
	buf_reset(&ps->scratch);
	if (f->idx == -1) {
		/* "name*" alone sorts first */
		if (buf_adds(&ps->scratch, f->value) == -1)
			return -1;
	} else {
		for (k = start; k < end && ext[k].idx == want; k++) {
			/* plain pieces after an extended first one must
			 * take its encoding */
			if (k > start && !ext[k].ext && f->ext)
				r = add_pct(&ps->scratch, ext[k].value);
			else
				r = buf_adds(&ps->scratch, ext[k].value);
			if (r == -1)
				return -1;
			/* a repeated index counts once */
			while (k + 1 < end && ext[k + 1].idx == want)
				k++;
			want++;
		}
		if (want == 0)
			return 0;
	}
	if ((name = arena_alloc(ps->a, f->base_len + 2)) == NULL)
		return -1;
	memcpy(name, f->name, f->base_len);
	if (f->ext)
		name[f->base_len] = '*';
	out->name = name;
	if ((out->value = arena_str(ps->a, buf_cstr(&ps->scratch),
	    ps->scratch.len)) == NULL)
		return -1;
	*added_r = 1;
	return 0;
}

/*
 * Turn raw parameters into the presented list: plain ones first, as they
 * came, then each RFC 2231 name once, in order of first appearance, its
 * pieces joined.  O(n log n) in the number of parameters.
 */
static int
merge_params(struct parser *ps, struct rawparam *rp, size_t n,
    const struct mime_param **out_r, size_t *nout_r)
{
	struct mime_param *out;
	struct rawparam *ext = NULL;
	struct pgroup *g = NULL;
	size_t i, j, nout = 0, next = 0, ng = 0;
	int added, r = -1;

	*out_r = NULL;
	*nout_r = 0;
	if (n == 0)
		return 0;
	if ((out = arena_alloc(ps->a, n * sizeof(*out))) == NULL ||
	    (ext = malloc(n * sizeof(*ext))) == NULL ||
	    (g = malloc(n * sizeof(*g))) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		if (rfc2231_name(&rp[i])) {
			ext[next++] = rp[i];
			continue;
		}
		out[nout].name = arena_str(ps->a, rp[i].name, rp[i].name_len);
		out[nout].value = rp[i].value;
		if (out[nout++].name == NULL)
			goto done;
	}
	qsort(ext, next, sizeof(*ext), rawparam_cmp);
	for (i = 0; i < next; i = j) {
		g[ng].start = i;
		g[ng].first = ext[i].order;
		for (j = i + 1; j < next && same_base(&ext[i], &ext[j]); j++)
			if (ext[j].order < g[ng].first)
				g[ng].first = ext[j].order;
		g[ng++].end = j;
	}
	qsort(g, ng, sizeof(*g), pgroup_cmp);
	for (i = 0; i < ng; i++) {
		if (join_pieces(ps, ext, g[i].start, g[i].end, &out[nout],
		    &added) == -1)
			goto done;
		nout += (size_t)added;
	}
	*out_r = out;
	*nout_r = nout;
	r = 0;
done:
	free(g);
	free(ext);
	return r;
}

/*
 * "; name=value" pairs from t to the end.  Unquoted values are read
 * leniently (up to a blank, ';' or comment), since senders write
 * "name=my/file.txt" without quotes.
 */
static int
parse_params(struct parser *ps, struct tok *t,
    const struct mime_param **out_r, size_t *nout_r)
{
	struct rawparam *rp = NULL, *nrp;
	size_t n = 0, cap = 0;
	const char *name, *v;
	size_t nlen;
	int r;

	while (next_semicolon(t)) {
		skip_cfws(t);
		nlen = token(t, &name);
		skip_cfws(t);
		if (nlen == 0 || t->p >= t->end || *t->p != '=')
			continue;
		t->p++;
		skip_cfws(t);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nrp = realloc(rp, cap * sizeof(*rp))) == NULL)
				goto fail;
			rp = nrp;
		}
		memset(&rp[n], 0, sizeof(rp[n]));
		rp[n].name = name;
		rp[n].name_len = nlen;
		rp[n].order = (unsigned)n;
		if (t->p < t->end && *t->p == '"') {
			if (quoted(t, &ps->scratch) == -1)
				goto fail;
			rp[n].value = arena_str(ps->a, buf_cstr(&ps->scratch),
			    ps->scratch.len);
		} else {
			v = t->p;
			while (t->p < t->end && *t->p != ';' && *t->p != ' ' &&
			    *t->p != '\t' && *t->p != '\r' && *t->p != '\n' &&
			    *t->p != '(' && *t->p != '"')
				t->p++;
			rp[n].value = arena_str(ps->a, v, (size_t)(t->p - v));
		}
		if (rp[n].value == NULL)
			goto fail;
		n++;
	}
	r = merge_params(ps, rp, n, out_r, nout_r);
	free(rp);
	return r;
fail:
	free(rp);
	return -1;
}

/* --- Content-* fields ----------------------------------------------- */

enum mime_cte
mime_cte_parse(const char *s)
{
	static const struct {
		const char	*name;
		enum mime_cte	 cte;
	} names[] = {
		{ "7bit", MIME_CTE_7BIT }, { "8bit", MIME_CTE_8BIT },
		{ "binary", MIME_CTE_BINARY },
		{ "quoted-printable", MIME_CTE_QP },
		{ "base64", MIME_CTE_BASE64 },
	};
	size_t i;

	if (s == NULL || *s == '\0')
		return MIME_CTE_7BIT;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].cte;
	return MIME_CTE_UNKNOWN;
}

static int
parse_ctype(struct parser *ps, struct mime_part *p, const char *v,
    size_t len)
{
	struct tok t = { v, v + len };
	const char *ty, *st = NULL;
	size_t tylen, stlen = 0;

	skip_cfws(&t);
	tylen = token(&t, &ty);
	skip_cfws(&t);
	if (t.p < t.end && *t.p == '/') {
		t.p++;
		skip_cfws(&t);
		stlen = token(&t, &st);
	}
	if (tylen > 0 && stlen > 0) {
		if ((p->type = arena_str(ps->a, ty, tylen)) == NULL ||
		    (p->subtype = arena_str(ps->a, st, stlen)) == NULL)
			return -1;
	}
	if (parse_params(ps, &t, &p->params, &p->nparams) == -1)
		return -1;
	p->charset = mime_param_get(p->params, p->nparams, "charset");
	p->boundary = mime_param_get(p->params, p->nparams, "boundary");
	return 0;
}

static int
parse_disposition(struct parser *ps, struct mime_part *p, const char *v,
    size_t len)
{
	struct tok t = { v, v + len };
	const char *ty;
	size_t tylen;

	skip_cfws(&t);
	if ((tylen = token(&t, &ty)) == 0)
		return 0;
	if ((p->disposition = arena_str(ps->a, ty, tylen)) == NULL)
		return -1;
	return parse_params(ps, &t, &p->disp_params, &p->ndisp_params);
}

static int
parse_language(struct parser *ps, struct mime_part *p, const char *v,
    size_t len)
{
	struct tok t = { v, v + len };
	const char **langs;
	const char *s;
	size_t n = 0, max = 0, i;

	/* at most one tag per two bytes */
	for (i = 0; i < len; i++)
		max += v[i] == ',' || v[i] == ' ' || v[i] == '\t';
	if ((langs = arena_alloc(ps->a, (max + 1) * sizeof(*langs))) == NULL)
		return -1;
	for (;;) {
		skip_cfws(&t);
		while (t.p < t.end && *t.p == ',') {
			t.p++;
			skip_cfws(&t);
		}
		if (t.p >= t.end)
			break;
		s = t.p;
		while (t.p < t.end && *t.p != ',' && *t.p != ' ' &&
		    *t.p != '\t' && *t.p != '\r' && *t.p != '\n' &&
		    *t.p != '(')
			t.p++;
		if (t.p == s) {
			t.p++;		/* a stray byte: step over it */
			continue;
		}
		if (n > max || (langs[n++] = arena_str(ps->a, s,
		    (size_t)(t.p - s))) == NULL)
			return -1;
	}
	if (n > 0) {
		p->languages = langs;
		p->nlanguages = n;
	}
	return 0;
}

/* an unfolded, trimmed copy, or NULL with *err set */
static const char *
plain_value(struct parser *ps, const char *v, size_t len, int *err)
{
	const char *s;

	buf_reset(&ps->scratch);
	if (mime_unfold(v, len, &ps->scratch) == -1 ||
	    (s = arena_str(ps->a, buf_cstr(&ps->scratch),
	    ps->scratch.len)) == NULL) {
		*err = 1;
		return NULL;
	}
	return s;
}

/* Read the Content-* fields of p's header; the first of each counts. */
static int
content_fields(struct parser *ps, struct mime_part *p)
{
	struct mime_header_iter it;
	struct mime_field f;
	int have_ct = 0, have_cd = 0, have_cl = 0, err = 0;

	mime_header_iter_init(&it, mime_header_data(p), p->hdr_len);
	while (mime_header_next(&it, &f) && !err) {
		const char *n = f.name, *v = f.value;
		size_t l = f.value_len;

		if (f.name_len < 8 || strncasecmp(n, "content-", 8) != 0)
			continue;
		n += 8;
		switch (f.name_len - 8) {
		case 2:
			if (p->id == NULL && strncasecmp(n, "id", 2) == 0)
				p->id = plain_value(ps, v, l, &err);
			break;
		case 3:
			if (p->md5 == NULL && strncasecmp(n, "md5", 3) == 0)
				p->md5 = plain_value(ps, v, l, &err);
			break;
		case 4:
			if (!have_ct && strncasecmp(n, "type", 4) == 0) {
				have_ct = 1;
				err = parse_ctype(ps, p, v, l) == -1;
			}
			break;
		case 8:
			if (!have_cl && strncasecmp(n, "language", 8) == 0) {
				have_cl = 1;
				err = parse_language(ps, p, v, l) == -1;
			} else if (p->location == NULL &&
			    strncasecmp(n, "location", 8) == 0)
				p->location = plain_value(ps, v, l, &err);
			break;
		case 11:
			if (!have_cd &&
			    strncasecmp(n, "disposition", 11) == 0) {
				have_cd = 1;
				err = parse_disposition(ps, p, v, l) == -1;
			} else if (p->description == NULL &&
			    strncasecmp(n, "description", 11) == 0)
				p->description = plain_value(ps, v, l, &err);
			break;
		case 17:
			if (p->cte_name == NULL &&
			    strncasecmp(n, "transfer-encoding", 17) == 0) {
				struct tok t = { v, v + l };
				const char *s;
				size_t sl;

				skip_cfws(&t);
				if ((sl = token(&t, &s)) > 0 &&
				    (p->cte_name = arena_str(ps->a, s,
				    sl)) == NULL)
					err = 1;
			}
			break;
		}
	}
	if (err)
		return -1;
	if (p->type == NULL) {
		int digest = p->parent != NULL &&
		    (p->parent->flags & MIME_F_MULTIPART) &&
		    strcasecmp(p->parent->subtype, "digest") == 0;

		p->type = digest ? "message" : "text";
		p->subtype = digest ? "rfc822" : "plain";
	}
	p->cte = mime_cte_parse(p->cte_name);
	if (strcasecmp(p->type, "text") == 0)
		p->flags |= MIME_F_TEXT;
	return 0;
}

/* --- the line walk -------------------------------------------------- */

/* A new child of parent starting at off, where the LF counts are those of
 * the parser now. */
static struct mime_part *
new_part(struct parser *ps, struct mime_part *parent, size_t off)
{
	struct ppart *pp, *ppar = (struct ppart *)parent;
	struct mime_part *p;

	if ((pp = arena_alloc(ps->a, sizeof(*pp))) == NULL)
		return NULL;
	p = &pp->p;
	p->msg = ps->d;
	p->parent = parent;
	p->depth = parent->depth + 1;
	p->hdr_off = p->body_off = off;
	pp->h_nlf = pp->b_nlf = ps->nlf;
	pp->h_nbare = pp->b_nbare = ps->nbare;
	if (ppar->last == NULL)
		parent->children = p;
	else
		ppar->last->next = p;
	ppar->last = p;
	parent->nchildren++;
	ps->nparts++;
	return p;
}

/*
 * Give a multipart without body parts its empty text/plain stand-in, and
 * a message part cut off before its message began an empty message.
 */
static int
add_standin(struct parser *ps, struct mime_part *p)
{
	struct mime_part *c;

	if (!(p->flags & (MIME_F_MULTIPART | MIME_F_MESSAGE)) ||
	    p->children != NULL)
		return 0;
	if ((c = new_part(ps, p, p->body_off + p->body_len)) == NULL)
		return -1;
	c->flags = MIME_F_TEXT | MIME_F_SYNTHETIC;
	c->type = "text";
	c->subtype = "plain";
	return 0;
}

/*
 * The header of cur ends at off (after its empty line, or before the line
 * end of a boundary line, or at the end, when there was none), where the
 * LF counts are nlf and nbare.  Read its Content-* fields; with open set,
 * start its body: push its boundary, or begin its encapsulated message.
 */
static int
end_header(struct parser *ps, size_t off, uint64_t nlf, uint64_t nbare,
    int open)
{
	struct mime_part *p = ps->cur, *c;
	struct ppart *pp = (struct ppart *)p;
	int deep = p->depth >= MIME_DEPTH_MAX || ps->no_more_parts;

	if (off < p->hdr_off) {
		/* the line end before a boundary was not this header's */
		off = p->hdr_off;
		nlf = pp->h_nlf;
		nbare = pp->h_nbare;
	}
	p->hdr_len = off - p->hdr_off;
	p->hdr_vsize = p->hdr_len + (nbare - pp->h_nbare);
	p->hdr_lines = nlf - pp->h_nlf;
	p->body_off = off;
	pp->b_nlf = nlf;
	pp->b_nbare = nbare;
	ps->in_header = 0;
	if (content_fields(ps, p) == -1)
		return -1;
	if (strcasecmp(p->type, "multipart") == 0)
		p->flags |= deep ? MIME_F_OPAQUE : MIME_F_MULTIPART;
	else if (strcasecmp(p->type, "message") == 0 &&
	    (strcasecmp(p->subtype, "rfc822") == 0 ||
	    strcasecmp(p->subtype, "global") == 0))
		p->flags |= deep ? MIME_F_OPAQUE : MIME_F_MESSAGE;
	if (!open)
		return 0;
	if ((p->flags & MIME_F_MULTIPART) && p->boundary != NULL &&
	    strlen(p->boundary) <= BOUNDARY_MAX) {
		ps->stack[ps->nb].s = p->boundary;
		ps->stack[ps->nb].len = strlen(p->boundary);
		ps->stack[ps->nb].owner = p;
		ps->nb++;
	} else if (p->flags & MIME_F_MESSAGE) {
		if (ps->nparts >= MIME_PARTS_MAX) {
			p->flags ^= MIME_F_MESSAGE | MIME_F_OPAQUE;
			ps->no_more_parts = 1;
			return 0;
		}
		if ((c = new_part(ps, p, off)) == NULL)
			return -1;
		ps->cur = c;
		ps->in_header = 1;
	}
	return 0;
}

/*
 * p ends at e, where the LF counts are nlf and nbare: its body, or its
 * header if it is still in it (the body is empty then).
 */
static int
end_part(struct parser *ps, struct mime_part *p, size_t e, uint64_t nlf,
    uint64_t nbare)
{
	struct ppart *pp = (struct ppart *)p;

	if (p == ps->cur && ps->in_header) {
		p->flags |= MIME_F_NO_SEPARATOR;
		if (end_header(ps, e, nlf, nbare, 0) == -1)
			return -1;
	} else if (e >= p->body_off) {
		/* (e < body_off: the line end before the boundary was the
		 * header's own, and the body is empty) */
		p->body_len = e - p->body_off;
		p->body_vsize = p->body_len + (nbare - pp->b_nbare);
		p->body_lines = nlf - pp->b_nlf;
	}
	return add_standin(ps, p);
}

/* Which open boundary, if any, the line [ls, ce) is; *close_r is set for
 * a close delimiter. */
static int
match_boundary(const struct parser *ps, size_t ls, size_t ce, int *close_r)
{
	const char *d = ps->d;
	size_t avail = ce - ls - 2, q;
	int k;

	for (k = (int)ps->nb - 1; k >= 0; k--) {
		const struct bnd *b = &ps->stack[k];

		if (avail < b->len || memcmp(d + ls + 2, b->s, b->len) != 0)
			continue;
		q = ls + 2 + b->len;
		if (ce - q >= 2 && d[q] == '-' && d[q + 1] == '-') {
			*close_r = 1;
			return k;
		}
		while (q < ce && (d[q] == ' ' || d[q] == '\t'))
			q++;
		if (q == ce) {
			*close_r = 0;
			return k;
		}
	}
	return -1;
}

/*
 * Boundary k is the line starting at ls (its LF not counted yet): end
 * every part inside its owner and make the owner current again.
 * Returns 0, 1 when the line is to be read as text after all (the part
 * limit was reached), or -1.
 */
static int
on_boundary(struct parser *ps, int k, int close, size_t ls)
{
	struct mime_part *owner = ps->stack[k].owner, *p;
	uint64_t nlf = ps->nlf, nbare = ps->nbare;
	size_t e = ls;

	if (!close && ps->nparts >= MIME_PARTS_MAX) {
		/* no more parts: from here on nothing is a boundary */
		ps->no_more_parts = 1;
		ps->nb = 0;
		return 1;
	}
	/* the line end before a boundary line belongs to the boundary */
	if (ls > 0 && ps->d[ls - 1] == '\n') {
		e = ls - 1;
		nlf--;
		if (e > 0 && ps->d[e - 1] == '\r')
			e--;
		else
			nbare--;
	}
	for (p = ps->cur; p != owner; p = p->parent)
		if (end_part(ps, p, e, nlf, nbare) == -1)
			return -1;
	ps->in_header = 0;
	ps->cur = owner;
	ps->nb = close ? (unsigned)k : (unsigned)k + 1;
	return 0;
}

/*
 * Count the LFs of the SCAN_BLOCK bytes at d, those of them after a CR,
 * and those followed by '-' (a line that may be a boundary); d[-1] and
 * d[SCAN_BLOCK] must be readable.  A loop of fixed length over bytes,
 * which the compiler turns into vector instructions: several times as
 * fast as finding each line end with memchr(), and bodies are most of
 * the bytes a first FETCH of BODYSTRUCTURE reads.
 */
static int
scan_block(const unsigned char *d, unsigned *lf_r, unsigned *crlf_r)
{
	const unsigned char *before = d - 1, *after = d + 1;
	unsigned char lf = 0, crlf = 0, dash = 0;
	unsigned k;

	for (k = 0; k < SCAN_BLOCK; k++) {
		lf += d[k] == '\n';
		crlf += (d[k] == '\n') & (before[k] == '\r');
		dash |= (d[k] == '\n') & (after[k] == '-');
	}
	*lf_r = lf;
	*crlf_r = crlf;
	return dash;
}

/*
 * From pos, the start of a line of a body, pass over the lines that
 * cannot be boundaries (they do not start with '-'), counting their
 * line ends, a block of bytes at a time; returns the start of the line
 * the line walk goes on with (ps->len when no line end is left).  With
 * any set, every line is passed over (no boundary can occur any more).
 * A block that holds a line starting with '-' is left to the line walk,
 * and not scanned again for each of its lines.
 */
static size_t
skip_lines(struct parser *ps, size_t pos, int any)
{
	const unsigned char *d = (const unsigned char *)ps->d;
	const char *nl;
	unsigned lf, crlf;

	if (!any && (pos == 0 || pos < ps->walk_until || d[pos] == '-'))
		return pos;
	while (pos > 0 && ps->len - pos > SCAN_BLOCK) {
		if (scan_block(d + pos, &lf, &crlf) && !any) {
			ps->walk_until = pos + SCAN_BLOCK;
			break;
		}
		ps->nlf += lf;
		ps->nbare += lf - crlf;
		pos += SCAN_BLOCK;
	}
	if (!any && d[pos - 1] == '\n')
		return pos;	/* a line start, which the block before saw */
	/* the rest of a line that started in a block passed over (or of
	 * every line, with any) */
	while ((nl = memchr(d + pos, '\n', ps->len - pos)) != NULL) {
		pos = (size_t)(nl - ps->d);
		ps->nlf++;
		ps->nbare += pos == 0 || d[pos - 1] != '\r';
		pos++;
		if (!any)
			return pos;
	}
	return ps->len;
}

static int
run(struct parser *ps, int header_only)
{
	const char *d = ps->d, *nl;
	struct mime_part *p;
	size_t pos = 0, le, ce;
	int close, k, r, lf, bare, empty;

	while (pos < ps->len) {
		if (ps->nb == 0 && !ps->in_header) {
			(void)skip_lines(ps, pos, 1);
			break;
		}
		if (!ps->in_header && (pos = skip_lines(ps, pos, 0)) ==
		    ps->len)
			break;
		nl = memchr(d + pos, '\n', ps->len - pos);
		lf = nl != NULL;
		le = lf ? (size_t)(nl - d) + 1 : ps->len;
		ce = lf ? le - 1 : ps->len;
		/* a line starts after an LF, so d[ce - 1] is on this line
		 * whenever it is a CR */
		bare = lf && (ce == 0 || d[ce - 1] != '\r');
		if (lf && !bare)
			ce--;
		empty = lf && ce == pos;
		if (ps->nb > 0 && ce - pos >= 2 && d[pos] == '-' &&
		    d[pos + 1] == '-' &&
		    (k = match_boundary(ps, pos, ce, &close)) >= 0) {
			if ((r = on_boundary(ps, k, close, pos)) == -1)
				return -1;
			if (r == 0) {
				ps->nlf += lf;
				ps->nbare += bare;
				pos = le;
				if (!close) {
					if ((p = new_part(ps, ps->cur,
					    le)) == NULL)
						return -1;
					ps->cur = p;
					ps->in_header = 1;
				}
				continue;
			}
		}
		ps->nlf += lf;
		ps->nbare += bare;
		pos = le;
		if (ps->in_header && empty) {
			if (end_header(ps, le, ps->nlf, ps->nbare,
			    !header_only) == -1)
				return -1;
			if (header_only) {
				ps->cur->body_len = ps->len - le;
				return 0;
			}
		}
	}
	for (p = ps->cur; p != NULL; p = p->parent)
		if (end_part(ps, p, ps->len, ps->nlf, ps->nbare) == -1)
			return -1;
	return 0;
}

static struct mime_part *
parse(const char *data, size_t len, int header_only)
{
	struct mime_tree *t;
	struct mime_part *root;
	struct parser ps;
	int r;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->arena.next_size = ARENA_BLOCK;
	root = &t->root.p;
	root->msg = data;
	memset(&ps, 0, sizeof(ps));
	ps.d = data;
	ps.len = len;
	ps.tree = t;
	ps.a = &t->arena;
	ps.cur = root;
	ps.in_header = 1;
	ps.nparts = 1;
	buf_init(&ps.scratch, SCRATCH_MAX);
	r = run(&ps, header_only);
	buf_free(&ps.scratch);
	if (r == -1) {
		arena_free(&t->arena);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	if (header_only)
		root->flags |= MIME_F_HEADER_ONLY;
	return root;
}

struct mime_part *
mime_parse(const char *data, size_t len)
{
	return parse(data, len, 0);
}

struct mime_part *
mime_parse_header_only(const char *data, size_t len)
{
	return parse(data, len, 1);
}

const struct mime_part *
mime_next(const struct mime_part *p)
{
	if (p->children != NULL)
		return p->children;
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

void
mime_free(struct mime_part *root)
{
	struct mime_tree *t = (struct mime_tree *)root;

	if (t == NULL)
		return;
	arena_free(&t->arena);
	free(t);
}
