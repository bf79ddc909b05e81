/*
 * message-envelope: ENVELOPE, and the RFC 5322 address parser it shares
 * with SEARCH of address fields.  See message.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/message-private.h"

/* --- ENVELOPE ------------------------------------------------------- */

static int
atok_add(struct alist *al, enum atype type, char c, int space,
    const char *s, size_t len)
{
	struct atok *nt;

	if (al->n == al->cap) {
		size_t ncap = al->cap ? al->cap * 2 : 32;

		if ((nt = realloc(al->t, ncap * sizeof(*nt))) == NULL)
			return -1;
		al->t = nt;
		al->cap = ncap;
	}
	al->t[al->n].type = type;
	al->t[al->n].c = c;
	al->t[al->n].space = space;
	al->t[al->n].off = al->text.len;
	al->t[al->n].len = len;
	al->n++;
	return s == NULL ? 0 : buf_add(&al->text, s, len);
}

/* Add the text of a quoted string, comment or domain literal starting at
 * s[*i] (the opening byte), to the token just added. */
static int
atok_delimited(struct alist *al, const char *s, size_t len, size_t *i,
    char close, int nest)
{
	struct atok *t = &al->t[al->n - 1];
	unsigned depth = 1;
	size_t start = al->text.len;
	char open = s[*i];

	for ((*i)++; *i < len; (*i)++) {
		char c = s[*i];

		if (c == '\\' && *i + 1 < len)
			c = s[++*i];
		else if (c == '\r' || c == '\n')
			continue;
		else if (nest && c == open)
			depth++;
		else if (c == close && --depth == 0) {
			(*i)++;
			break;
		}
		if (buf_addc(&al->text, c) == -1)
			return -1;
	}
	t->off = start;
	t->len = al->text.len - start;
	return 0;
}

/* Bytes that end an atom (NUL is atom text here, made U+FFFD later).
 * A switch rather than strchr(): every byte of every address goes
 * through here. */
static int
is_aspecial(char c)
{
	switch (c) {
	case ' ': case '\t': case '\r': case '\n': case '(': case ')':
	case '"': case '[': case ']': case '<': case '>': case ':': case ';':
	case '@': case ',': case '.': case '\\':
		return 1;
	default:
		return 0;
	}
}

/* Cut a header value into RFC 5322 tokens. */
static int
tokenize(struct alist *al, const char *s, size_t len)
{
	size_t i = 0, st;
	int space = 0;

	while (i < len) {
		char c = s[i];

		switch (c) {
		case ' ': case '\t': case '\r': case '\n':
			space = 1;
			i++;
			continue;
		case '(':
			if (atok_add(al, A_COMMENT, 0, 1, NULL, 0) == -1 ||
			    atok_delimited(al, s, len, &i, ')', 1) == -1)
				return -1;
			space = 1;
			continue;
		case '"':
			if (atok_add(al, A_QUOTED, 0, space, NULL, 0) == -1 ||
			    atok_delimited(al, s, len, &i, '"', 0) == -1)
				return -1;
			break;
		case '[':
			st = i;
			while (i < len && s[i] != ']')
				i++;
			if (i < len)
				i++;
			if (atok_add(al, A_DLIT, 0, space, s + st,
			    i - st) == -1)
				return -1;
			break;
		case '<': case '>': case ':': case ';': case '@': case ',':
		case '.': case ')': case ']': case '\\':
			if (atok_add(al, A_SPECIAL, c, space, &c, 1) == -1)
				return -1;
			i++;
			break;
		default:
			st = i;
			while (i < len && !is_aspecial(s[i]))
				i++;
			if (atok_add(al, A_WORD, 0, space, s + st,
			    i - st) == -1)
				return -1;
			break;
		}
		space = 0;
	}
	return 0;
}

static int
is_special(const struct alist *al, size_t i, char c)
{
	return i < al->n && al->t[i].type == A_SPECIAL && al->t[i].c == c;
}

static int
is_wordish(const struct alist *al, size_t i)
{
	return i < al->n && (al->t[i].type == A_WORD ||
	    al->t[i].type == A_QUOTED || al->t[i].type == A_COMMENT ||
	    is_special(al, i, '.'));
}

/*
 * Join tokens [i, j) into al->tmp (reset first), comments left out: as a
 * phrase (one space where the source had blanks) or tightly (a local part
 * or a domain).  Returns the number of tokens joined.
 */
static size_t
join(struct alist *al, size_t i, size_t j, int phrase)
{
	size_t n = 0;

	buf_reset(&al->tmp);
	for (; i < j; i++) {
		const struct atok *t = &al->t[i];

		if (t->type == A_COMMENT)
			continue;
		if (phrase && t->space && al->tmp.len > 0 &&
		    buf_addc(&al->tmp, ' ') == -1)
			return (size_t)-1;
		if (buf_add(&al->tmp, buf_cstr(&al->text) + t->off,
		    t->len) == -1)
			return (size_t)-1;
		n++;
	}
	return n;
}

/* The last comment in [i, j), or NULL. */
static const struct atok *
last_comment(const struct alist *al, size_t i, size_t j)
{
	const struct atok *c = NULL;

	for (; i < j; i++)
		if (al->t[i].type == A_COMMENT)
			c = &al->t[i];
	return c;
}

static int
addr_field(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		return buf_add(out, "NIL", 3);
	return imap_string(out, s, len);
}

/* An address as text: "name <mbox@host>", ", " between addresses,
 * "group:" and ";" around a group.  Names keep their encoded words; the
 * caller decodes the whole text. */
static int
write_plain(struct buf *out, const char *name, size_t nlen,
    const char *mbox, size_t mlen, const char *host, size_t hlen)
{
	if (host == NULL)	/* a group's start or (mbox NULL) end */
		return mbox == NULL ? buf_addc(out, ';') :
		    (buf_add(out, mbox, mlen) == -1 ? -1 :
		    buf_add(out, ": ", 2));
	if (out->len > 0 && out->data[out->len - 1] != ' ' &&
	    buf_add(out, ", ", 2) == -1)
		return -1;
	if (name != NULL && (buf_add(out, name, nlen) == -1 ||
	    buf_addc(out, ' ') == -1))
		return -1;
	if (buf_addc(out, '<') == -1 ||
	    (mbox != NULL && buf_add(out, mbox, mlen) == -1) ||
	    (hlen > 0 && (buf_addc(out, '@') == -1 ||
	    buf_add(out, host, hlen) == -1)))
		return -1;
	return buf_addc(out, '>');
}

/* Write one address: name (from tmp storage already copied), route,
 * mailbox, host.  NULL strings are NIL. */
static int
write_addr(const struct alist *al, struct buf *out, const char *name,
    size_t nlen, const char *adl, size_t alen, const char *mbox,
    size_t mlen, const char *host, size_t hlen)
{
	if (al->plain)
		return write_plain(out, name, nlen, mbox, mlen, host, hlen);
	if (buf_addc(out, '(') == -1 || addr_field(out, name, nlen) == -1 ||
	    buf_addc(out, ' ') == -1 || addr_field(out, adl, alen) == -1 ||
	    buf_addc(out, ' ') == -1 || addr_field(out, mbox, mlen) == -1 ||
	    buf_addc(out, ' ') == -1 || addr_field(out, host, hlen) == -1)
		return -1;
	return buf_addc(out, ')');
}

#define MISSING_MAILBOX	"MISSING_MAILBOX"
#define MISSING_DOMAIN	"MISSING_DOMAIN"

void
addrbufs_init(struct addrbufs *ab, int plain)
{
	memset(ab, 0, sizeof(*ab));
	ab->al.plain = plain;
	buf_init(&ab->al.text, SCRATCH_MAX);
	buf_init(&ab->al.tmp, SCRATCH_MAX);
	buf_init(&ab->a.name, SCRATCH_MAX);
	buf_init(&ab->a.adl, SCRATCH_MAX);
	buf_init(&ab->a.mbox, SCRATCH_MAX);
	buf_init(&ab->a.host, SCRATCH_MAX);
	buf_init(&ab->text, SCRATCH_MAX);
}

void
addrbufs_free(struct addrbufs *ab)
{
	free(ab->al.t);
	buf_free(&ab->al.text);
	buf_free(&ab->al.tmp);
	buf_free(&ab->a.name);
	buf_free(&ab->a.adl);
	buf_free(&ab->a.mbox);
	buf_free(&ab->a.host);
	buf_free(&ab->text);
}

static int
keep(struct alist *al, struct buf *dst, int *has, size_t ntok)
{
	buf_reset(dst);
	*has = 0;
	if (ntok == (size_t)-1)
		return -1;
	if (al->tmp.len == 0)
		return 0;
	*has = 1;
	return buf_add(dst, al->tmp.data, al->tmp.len);
}

static int
emit(const struct alist *al, struct buf *out, struct addr *a)
{
	if (al->plain)
		return write_plain(out, a->has_name ? a->name.data : NULL,
		    a->name.len, a->has_mbox ? a->mbox.data : NULL,
		    a->mbox.len, a->has_host ? a->host.data : "",
		    a->has_host ? a->host.len : 0);
	return write_addr(al, out,
	    a->has_name ? a->name.data : NULL, a->name.len,
	    a->has_adl ? a->adl.data : NULL, a->adl.len,
	    a->has_mbox ? a->mbox.data : MISSING_MAILBOX,
	    a->has_mbox ? a->mbox.len : strlen(MISSING_MAILBOX),
	    a->has_host ? a->host.data : MISSING_DOMAIN,
	    a->has_host ? a->host.len : strlen(MISSING_DOMAIN));
}

/* Tokens of a domain from i: words, dots, literals, comments. */
static size_t
domain_end(const struct alist *al, size_t i)
{
	while (i < al->n && (al->t[i].type == A_WORD ||
	    al->t[i].type == A_DLIT || al->t[i].type == A_COMMENT ||
	    is_special(al, i, '.')))
		i++;
	return i;
}

/* Skip to the end of this address: the next ',' (or ';' in a group). */
static size_t
address_end(const struct alist *al, size_t i, int in_group)
{
	while (i < al->n && !is_special(al, i, ',') &&
	    !(in_group && is_special(al, i, ';')))
		i++;
	return i;
}

/* An angle address from i (just after "<"); returns the index after ">".
 * Fills a's route, mailbox and host. */
static size_t
angle_addr(struct alist *al, size_t i, struct addr *a, int *err)
{
	size_t j;

	if (is_special(al, i, '@')) {
		/* obsolete route "@a,@b:" */
		for (j = i; j < al->n && !is_special(al, j, ':') &&
		    !is_special(al, j, '>'); j++)
			;
		if (is_special(al, j, ':')) {
			*err |= keep(al, &a->adl, &a->has_adl,
			    join(al, i, j, 0)) == -1;
			i = j + 1;
		}
	}
	for (j = i; is_wordish(al, j); j++)
		;
	*err |= keep(al, &a->mbox, &a->has_mbox, join(al, i, j, 0)) == -1;
	i = j;
	if (is_special(al, i, '@')) {
		j = domain_end(al, i + 1);
		*err |= keep(al, &a->host, &a->has_host,
		    join(al, i + 1, j, 0)) == -1;
		i = j;
	}
	while (i < al->n && !is_special(al, i, '>') &&
	    !is_special(al, i, ','))
		i++;
	return is_special(al, i, '>') ? i + 1 : i;
}

/* Parse one header value's address list and write its addresses. */
int
addresses(struct alist *al, const char *v, size_t len, struct buf *out,
    struct addr *a, size_t *count)
{
	size_t i, j, k, end;
	int in_group = 0, err = 0;
	const struct atok *c;

	al->n = 0;
	buf_reset(&al->text);
	if (tokenize(al, v, len) == -1)
		return -1;
	for (i = 0; i < al->n && !err; ) {
		if (is_special(al, i, ',') || al->t[i].type == A_COMMENT) {
			i++;
			continue;
		}
		if (is_special(al, i, ';')) {
			if (in_group) {
				if (write_addr(al, out, NULL, 0, NULL, 0, NULL,
				    0, NULL, 0) == -1)
					return -1;
				(*count)++;
				in_group = 0;
			}
			i++;
			continue;
		}
		for (j = i; is_wordish(al, j); j++)
			;
		a->has_name = a->has_adl = a->has_mbox = a->has_host = 0;
		if (is_special(al, j, '<')) {
			err |= keep(al, &a->name, &a->has_name,
			    join(al, i, j, 1)) == -1;
			end = angle_addr(al, j + 1, a, &err);
		} else if (is_special(al, j, ':') && !in_group) {
			if (join(al, i, j, 1) == (size_t)-1)
				return -1;
			if (write_addr(al, out, NULL, 0, NULL, 0,
			    al->tmp.len ? al->tmp.data : "", al->tmp.len,
			    NULL, 0) == -1)
				return -1;
			(*count)++;
			in_group = 1;
			i = j + 1;
			continue;
		} else if (is_special(al, j, '@')) {
			err |= keep(al, &a->mbox, &a->has_mbox,
			    join(al, i, j, 0)) == -1;
			k = domain_end(al, j + 1);
			err |= keep(al, &a->host, &a->has_host,
			    join(al, j + 1, k, 0)) == -1;
			end = k;
		} else if (j == i) {
			i++;		/* a stray special: skip it */
			continue;
		} else {
			/* words alone: one dot-atom is a mailbox without a
			 * domain, anything with blanks a name without an
			 * address */
			int phrase = 0;

			for (k = i + 1; k < j; k++)
				if (al->t[k].space &&
				    al->t[k].type != A_COMMENT)
					phrase = 1;
			if (phrase)
				err |= keep(al, &a->name, &a->has_name,
				    join(al, i, j, 1)) == -1;
			else
				err |= keep(al, &a->mbox, &a->has_mbox,
				    join(al, i, j, 0)) == -1;
			end = j;
		}
		end = address_end(al, end, in_group);
		if (!a->has_name && (c = last_comment(al, i, end)) != NULL) {
			buf_reset(&a->name);
			err |= buf_add(&a->name, buf_cstr(&al->text) + c->off,
			    c->len) == -1;
			a->has_name = c->len > 0;
		}
		if (err || emit(al, out, a) == -1)
			return -1;
		(*count)++;
		i = end;
	}
	if (err)
		return -1;
	if (in_group) {
		if (write_addr(al, out, NULL, 0, NULL, 0, NULL, 0, NULL, 0) ==
		    -1)
			return -1;
		(*count)++;
	}
	return 0;
}

#define ENV_NAME(s)	{ s, sizeof(s) - 1 }
static const struct {
	const char	*name;
	size_t		 len;
} env_names[E_N] = {
	ENV_NAME("Date"), ENV_NAME("Subject"), ENV_NAME("From"),
	ENV_NAME("Sender"), ENV_NAME("Reply-To"), ENV_NAME("To"),
	ENV_NAME("Cc"), ENV_NAME("Bcc"), ENV_NAME("In-Reply-To"),
	ENV_NAME("Message-ID"),
};

/* One pass over the header finds every field ENVELOPE needs. */
struct env {
	struct mime_field	 last[E_N];	/* last field of each name */
	int			 have[E_N];
	unsigned		 count[E_N];	/* fields of each name */
	unsigned		 exact;		/* MESSAGE_ENV_* */
	struct mime_field	*addr;		/* address fields, in order */
	enum envfield		*kind;
	size_t			 naddr;
	size_t			 cap;
	struct addrbufs		 ab;		/* parser scratch */
};

static int
is_address_field(enum envfield k)
{
	return k >= E_FROM && k <= E_BCC;
}

static int
env_collect(struct env *e, const struct mime_part *h)
{
	struct mime_header_iter it;
	struct mime_field f, *na;
	enum envfield *nk;
	size_t k;

	mime_header_iter_init(&it, mime_header_data(h), h->hdr_len);
	while (mime_header_next(&it, &f)) {
		for (k = 0; k < E_N; k++)
			if (f.name_len == env_names[k].len &&
			    strncasecmp(f.name, env_names[k].name,
			    f.name_len) == 0)
				break;
		if (k == E_N)
			continue;
		e->last[k] = f;
		e->have[k] = 1;
		e->count[k]++;
		if (!is_address_field((enum envfield)k))
			continue;
		if (e->naddr == e->cap) {
			e->cap = e->cap ? e->cap * 2 : 8;
			if ((na = realloc(e->addr, e->cap *
			    sizeof(*na))) == NULL)
				return -1;
			e->addr = na;
			if ((nk = realloc(e->kind, e->cap *
			    sizeof(*nk))) == NULL)
				return -1;
			e->kind = nk;
		}
		e->addr[e->naddr] = f;
		e->kind[e->naddr++] = (enum envfield)k;
	}
	return 0;
}

/* The addresses of every field of one kind, as one list, or NIL;
 * *count_r says how many were written. */
static int
env_addresses(struct env *e, enum envfield kind, struct buf *out,
    size_t *count_r)
{
	size_t start = out->len, count = 0, i;

	*count_r = 0;
	if (buf_addc(out, '(') == -1)
		return -1;
	for (i = 0; i < e->naddr; i++)
		if (e->kind[i] == kind && addresses(&e->ab.al,
		    e->addr[i].value, e->addr[i].value_len, out, &e->ab.a,
		    &count) == -1)
			return -1;
	*count_r = count;
	if (count > 0)
		return buf_addc(out, ')');
	buf_truncate(out, start);
	return buf_add(out, "NIL", 3);
}

/* Whether v (vlen bytes) is raw with its line ends taken out, and raw
 * has no NUL and no CR but before an LF. */
static int
same_but_line_ends(const char *raw, size_t rlen, const char *v, size_t vlen)
{
	size_t i, o = 0;

	for (i = 0; i < rlen; i++) {
		if (raw[i] == '\0')
			return 0;
		if (raw[i] == '\r' && (i + 1 == rlen || raw[i + 1] != '\n'))
			return 0;
		if (raw[i] == '\r' || raw[i] == '\n')
			continue;
		if (o == vlen || v[o++] != raw[i])
			return 0;
	}
	return o == vlen;
}

/* the MESSAGE_ENV_* bit of a string field of the envelope */
static unsigned
env_bit(enum envfield kind)
{
	switch (kind) {
	case E_DATE:
		return MESSAGE_ENV_DATE;
	case E_SUBJECT:
		return MESSAGE_ENV_SUBJECT;
	case E_IN_REPLY_TO:
		return MESSAGE_ENV_IN_REPLY_TO;
	case E_MESSAGE_ID:
		return MESSAGE_ENV_MESSAGE_ID;
	default:
		return 0;
	}
}

/* A string field of the envelope: the last field of that name, or NIL. */
static int
env_string(struct env *e, enum envfield kind, struct buf *out)
{
	const struct mime_field *f = &e->last[kind];
	struct buf v;
	size_t i, o;
	int r, blank = 0;

	if (!e->have[kind]) {
		e->exact |= env_bit(kind);
		return buf_add(out, "NIL", 3);
	}
	buf_init(&v, SCRATCH_MAX);
	if (mime_unfold(f->value, f->value_len, &v) == -1) {
		buf_free(&v);
		return -1;
	}
	if (kind == E_SUBJECT) {
		/* one space for every run of blanks */
		for (i = 0, o = 0; i < v.len; i++) {
			if (v.data[i] == ' ' || v.data[i] == '\t') {
				blank = 1;
				continue;
			}
			if (blank && o > 0)
				v.data[o++] = ' ';
			blank = 0;
			v.data[o++] = v.data[i];
		}
		buf_truncate(&v, o);
	}
	if (e->count[kind] == 1 && same_but_line_ends(f->value, f->value_len,
	    buf_cstr(&v), v.len))
		e->exact |= env_bit(kind);
	r = imap_string(out, buf_cstr(&v), v.len);
	buf_free(&v);
	return r;
}

/* Append a copy of out's own bytes [start, end). */
static int
repeat(struct buf *out, size_t start, size_t end)
{
	/* reserve first: growing may move the bytes being copied */
	if (buf_reserve(out, end - start) == -1)
		return -1;
	memcpy(out->data + out->len, out->data + start, end - start);
	out->len += end - start;
	out->data[out->len] = '\0';
	return 0;
}

/* " " and the addresses of a kind, or a copy of out[fstart, fend) (From)
 * when there are none. */
static int
env_defaulted(struct env *e, enum envfield kind, struct buf *out,
    size_t fstart, size_t fend)
{
	size_t sub, n;

	if (buf_addc(out, ' ') == -1)
		return -1;
	sub = out->len;
	if (env_addresses(e, kind, out, &n) == -1)
		return -1;
	if (n > 0)
		return 0;
	buf_truncate(out, sub);
	return repeat(out, fstart, fend);
}

static int
env_write(struct env *e, struct buf *out)
{
	size_t from_start, from_end, n;

	if (buf_addc(out, '(') == -1 || env_string(e, E_DATE, out) == -1 ||
	    buf_addc(out, ' ') == -1 || env_string(e, E_SUBJECT, out) == -1 ||
	    buf_addc(out, ' ') == -1)
		return -1;
	from_start = out->len;
	if (env_addresses(e, E_FROM, out, &n) == -1)
		return -1;
	from_end = out->len;
	/* Sender and Reply-To default to From (RFC 3501 7.4.2) */
	if (env_defaulted(e, E_SENDER, out, from_start, from_end) == -1 ||
	    env_defaulted(e, E_REPLY_TO, out, from_start, from_end) == -1)
		return -1;
	if (buf_addc(out, ' ') == -1 ||
	    env_addresses(e, E_TO, out, &n) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    env_addresses(e, E_CC, out, &n) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    env_addresses(e, E_BCC, out, &n) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    env_string(e, E_IN_REPLY_TO, out) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    env_string(e, E_MESSAGE_ID, out) == -1)
		return -1;
	return buf_addc(out, ')');
}

int
envelope(const struct mime_part *h, struct buf *out, unsigned *exact_r)
{
	struct env e;
	int r;

	memset(&e, 0, sizeof(e));
	addrbufs_init(&e.ab, 0);
	r = env_collect(&e, h) == -1 ? -1 : env_write(&e, out);
	*exact_r = e.exact;
	free(e.addr);
	free(e.kind);
	addrbufs_free(&e.ab);
	return r;
}

int
message_envelope(struct message *m, struct buf *out)
{
	const struct mime_part *h = top_header(m);
	size_t start = out->len;

	if (h == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (envelope(h, out, &m->env_exact) == -1) {
		buf_truncate(out, start);
		return -1;
	}
	m->have_env_exact = 1;
	return 0;
}

unsigned
message_envelope_exact(struct message *m)
{
	struct buf b;

	if (!m->have_env_exact) {
		buf_init(&b, SCRATCH_MAX);
		if (message_envelope(m, &b) == -1)
			m->env_exact = 0;
		buf_free(&b);
	}
	return m->env_exact;
}
