/*
 * message: FETCH and SEARCH over one message.  See message.h.
 *
 * Everything here reads the MIME tree of mime.c and writes IMAP syntax
 * into a bounded buf.  The only recursion is over the MIME tree when
 * writing BODYSTRUCTURE, whose depth the parser bounds (MIME_DEPTH_MAX).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/charset.h"
#include "common/imapdate.h"
#include "common/mapfile.h"
#include "common/message.h"
#include "common/strnum.h"
#include "common/textsearch.h"

/* a quoted string longer than this is sent as a literal */
#define QUOTED_MAX		1024
/* raw bytes decoded at a time when searching */
#define SEARCH_CHUNK		(64 * 1024)
#define SCRATCH_MAX		((size_t)1 << 30)

struct message {
	const char		*data;
	size_t			 len;
	struct mapfile		 view;		/* the file, when viewed whole */
	/* message_read(): the file, open until all of it is in store */
	int			 fd;
	struct buf		*store;
	size_t			 size;		/* the file's */
	int64_t			 mtime;		/* the file's, INT64_MIN if none */
	int			 hdr_in;	/* the whole header is in */
	struct mime_part	*parts;		/* full parse */
	struct mime_part	*hdr;		/* header-only parse */
	uint64_t		 vsize;
	int			 have_vsize;
	unsigned		 env_exact;	/* message_envelope_exact() */
	int			 have_env_exact;
};

/* the first read of message_read() when only the header is wanted */
#define HEADER_READ		8192

struct message *
message_from_mem(const char *data, size_t len)
{
	struct message *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->data = len > 0 ? data : "";
	m->len = len;
	m->fd = -1;
	m->hdr_in = 1;
	m->mtime = INT64_MIN;
	return m;
}

/* Open a regular file; its size in *size_r.  -1 with *errno_r set. */
static int
open_file(int dirfd, const char *relpath, size_t *size_r, int64_t *mtime_r,
    int *errno_r)
{
	struct stat st;
	int fd, e;

	/* a message file is never a symbolic link: one that is could point
	 * anywhere the mail user can read */
	if ((fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW))
	    == -1) {
		*errno_r = errno;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((uint64_t)st.st_size > SIZE_MAX / 2)
		e = EFBIG;
	else {
		*size_r = (size_t)st.st_size;
		*mtime_r = (int64_t)st.st_mtim.tv_sec;
		return fd;
	}
	close(fd);
	*errno_r = e;
	return -1;
}


struct message *
message_open(int dirfd, const char *relpath, int *errno_r)
{
	struct message *m;
	struct mapfile view;
	size_t size;
	int64_t mtime;
	int fd;

	if ((fd = open_file(dirfd, relpath, &size, &mtime, errno_r)) == -1)
		return NULL;
	/* mapped, or read where another host could pull the pages away
	 * (see mapfile.h) */
	if (mapfile_open(fd, size, 0, &view) == -1) {
		*errno_r = errno;
		close(fd);
		return NULL;
	}
	close(fd);
	if ((m = message_from_mem((const char *)view.data, size)) == NULL) {
		mapfile_close(&view);
		*errno_r = ENOMEM;
		return NULL;
	}
	m->view = view;
	m->mtime = mtime;
	return m;
}

/* Whether data holds an empty line, which ends the header. */
static int
header_complete(const char *d, size_t len)
{
	const char *p = d, *end = d + len;

	if (len > 0 && (d[0] == '\n' || (d[0] == '\r' && len > 1 &&
	    d[1] == '\n')))
		return 1;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end &&
		    p[1] == '\n')))
			return 1;
	}
	return 0;
}

/* What was read is all there is: no more reading. */
static void
read_done(struct message *m)
{
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	m->hdr_in = 1;
}

/* Have the first want bytes of the file (all of a shorter one) in the
 * store.  0, or -1 with errno set. */
static int
read_upto(struct message *m, size_t want)
{
	struct buf *b = m->store;
	ssize_t n;

	if (want > m->size)
		want = m->size;
	if (b->len >= want)
		return 0;
	if (buf_reserve(b, want - b->len) == -1)
		return -1;
	while (b->len < want) {
		if ((n = read(m->fd, b->data + b->len, want - b->len)) == -1) {
			if (errno == EINTR)
				continue;
			b->data[b->len] = '\0';
			return -1;
		}
		if (n == 0) {
			/* shorter than it was: what there is is the file */
			m->size = b->len;
			break;
		}
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	if (m->data != b->data) {
		/* the header parse points into the old bytes */
		mime_free(m->hdr);
		m->hdr = NULL;
	}
	m->data = b->data;
	m->len = b->len;
	if (m->len == m->size)
		read_done(m);
	return 0;
}

/* All of the message: read, or mapped when large.  0 or -1. */
static int
load_all(struct message *m)
{
	if (m->fd == -1)
		return 0;
	if (m->size <= MESSAGE_READ_MAX && read_upto(m, m->size) == 0)
		return 0;
	if (mapfile_open(m->fd, m->size, 0, &m->view) == -1)
		return -1;
	mime_free(m->hdr);
	m->hdr = NULL;
	m->data = (const char *)m->view.data;
	m->len = m->size;
	read_done(m);
	return 0;
}

/* At least the whole header.  0 or -1. */
static int
load_header(struct message *m)
{
	size_t want = HEADER_READ;

	while (!m->hdr_in) {
		if (want > MESSAGE_READ_MAX)
			return load_all(m);
		if (read_upto(m, want) == -1)
			return load_all(m);
		if (header_complete(m->data, m->len))
			m->hdr_in = 1;
		want *= 2;
	}
	return 0;
}

struct message *
message_read(int dirfd, const char *relpath, struct buf *store, int whole,
    int *errno_r)
{
	struct message *m;
	size_t size;
	int64_t mtime;
	int fd;

	if ((fd = open_file(dirfd, relpath, &size, &mtime, errno_r)) == -1)
		return NULL;
	if ((m = message_from_mem("", 0)) == NULL) {
		close(fd);
		*errno_r = ENOMEM;
		return NULL;
	}
	buf_reset(store);
	m->fd = fd;
	m->store = store;
	m->size = size;
	m->mtime = mtime;
	m->hdr_in = 0;
	if (size == 0)
		read_done(m);
	else if (whole && load_all(m) == -1) {
		*errno_r = errno;
		message_free(m);
		return NULL;
	}
	return m;
}

void
message_free(struct message *m)
{
	if (m == NULL)
		return;
	mime_free(m->parts);
	mime_free(m->hdr);
	mapfile_close(&m->view);
	if (m->fd != -1)
		close(m->fd);
	free(m);
}

int64_t
message_mtime(const struct message *m)
{
	return m->mtime;
}

const char *
message_data(struct message *m, size_t *len_r)
{
	(void)load_all(m);
	*len_r = m->len;
	return m->data;
}

const struct mime_part *
message_parts(struct message *m)
{
	if (m->parts == NULL && load_all(m) == 0)
		m->parts = mime_parse(m->data, m->len);
	return m->parts;
}

/* The top-level header: from the full parse if there is one. */
static const struct mime_part *
top_header(struct message *m)
{
	if (m->parts != NULL)
		return m->parts;
	if (m->hdr == NULL && load_header(m) == 0)
		m->hdr = mime_parse_header_only(m->data, m->len);
	return m->hdr;
}

int
message_header_last(struct message *m, const char *name, struct buf *out)
{
	const struct mime_part *h = top_header(m);

	if (h == NULL)
		return -1;
	return mime_header_get_last(h, name, out);
}

uint64_t
message_vsize(struct message *m)
{
	if (!m->have_vsize) {
		(void)load_all(m);
		m->vsize = mime_crlf_size(m->data, 0, m->len, NULL);
		m->have_vsize = 1;
	}
	return m->vsize;
}

int64_t
message_date(struct message *m)
{
	return message_date_tz(m, NULL);
}

int64_t
message_date_tz(struct message *m, int *tzoff_r)
{
	const struct mime_part *h = top_header(m);
	struct buf b;
	int64_t t = INT64_MIN;
	int tz = 0;

	if (h == NULL)
		return INT64_MIN;
	buf_init(&b, SCRATCH_MAX);
	if (mime_header_get_last(h, "Date", &b) == 1 &&
	    imapdate_parse_rfc5322(buf_cstr(&b), b.len, &t, &tz) == -1)
		t = INT64_MIN;
	buf_free(&b);
	if (tzoff_r != NULL)
		*tzoff_r = tz;
	return t;
}

/* --- IMAP strings --------------------------------------------------- */

/* Append s as a quoted string or a literal; a NUL is sent as U+FFFD. */
static int
imap_string(struct buf *out, const char *s, size_t len)
{
	size_t i, nul = 0, run;
	int quote = len <= QUOTED_MAX;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0')
			nul++;
		if (c >= 0x80 || c == '\0' || c == '\r' || c == '\n')
			quote = 0;
	}
	if (!quote) {
		if (buf_addf(out, "{%zu}\r\n", len + nul * 2) == -1)
			return -1;
		for (i = 0, run = 0; i < len; i++) {
			if (s[i] != '\0')
				continue;
			if (buf_add(out, s + run, i - run) == -1 ||
			    buf_add(out, "\xef\xbf\xbd", 3) == -1)
				return -1;
			run = i + 1;
		}
		return buf_add(out, s + run, len - run);
	}
	if (buf_addc(out, '"') == -1)
		return -1;
	for (i = 0, run = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_add(out, s + run, i - run) == -1 ||
		    buf_addc(out, '\\') == -1)
			return -1;
		run = i;
	}
	if (buf_add(out, s + run, len - run) == -1)
		return -1;
	return buf_addc(out, '"');
}

static int
imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_add(out, "NIL", 3);
	return imap_string(out, s, strlen(s));
}

/* "(" the strings, one space apart ")" */
static int
list_of(struct buf *out, const char *const *v, size_t n,
    int (*one)(struct buf *, const char *))
{
	size_t i;

	if (buf_addc(out, '(') == -1)
		return -1;
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_addc(out, ' ') == -1) || one(out, v[i]) == -1)
			return -1;
	return buf_addc(out, ')');
}

/* --- ENVELOPE ------------------------------------------------------- */

enum atype {
	A_WORD,		/* atom (text holds it) */
	A_QUOTED,	/* quoted string (text holds it unescaped) */
	A_DLIT,		/* domain literal, brackets included */
	A_COMMENT,	/* comment (text holds it, no parentheses) */
	A_SPECIAL,	/* one of < > : ; @ , . (text is that byte) */
};

struct atok {
	enum atype	 type;
	char		 c;		/* A_SPECIAL */
	int		 space;		/* blanks or a comment before it */
	size_t		 off;		/* text in the token buffer */
	size_t		 len;
};

struct alist {
	struct atok	*t;
	size_t		 n;
	size_t		 cap;
	struct buf	 text;		/* token texts */
	struct buf	 tmp;		/* one field of an address */
	int		 plain;		/* write "name <mbox@host>, ..." (for
					 * SEARCH) instead of ENVELOPE lists */
};

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

/* Bytes that end an atom (NUL is atom text here, made U+FFFD later). */
static int
is_aspecial(char c)
{
	return c != '\0' && strchr(" \t\r\n()\"[]<>:;@,.\\", c) != NULL;
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

/* strings of one address, kept in their own buffers */
struct addr {
	struct buf	name, adl, mbox, host;
	int		has_name, has_adl, has_mbox, has_host;
};

/* The scratch of an address parse, with a buffer for the text of the
 * plain form. */
struct addrbufs {
	struct alist	al;
	struct addr	a;
	struct buf	text;
};

static void
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

static void
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
static int
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

/* the fields ENVELOPE shows, in its order */
enum envfield {
	E_DATE, E_SUBJECT, E_FROM, E_SENDER, E_REPLY_TO, E_TO, E_CC, E_BCC,
	E_IN_REPLY_TO, E_MESSAGE_ID, E_N
};

static const char *const env_names[E_N] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
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
			if (f.name_len == strlen(env_names[k]) &&
			    strncasecmp(f.name, env_names[k], f.name_len) == 0)
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

static int
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

/* --- BODY and BODYSTRUCTURE ----------------------------------------- */

static int
params(struct buf *out, const struct mime_param *p, size_t n,
    const char *default_charset)
{
	size_t i;

	if (n == 0 && default_charset == NULL)
		return buf_add(out, "NIL", 3);
	if (buf_addc(out, '(') == -1)
		return -1;
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_addc(out, ' ') == -1) ||
		    imap_nstring(out, p[i].name) == -1 ||
		    buf_addc(out, ' ') == -1 ||
		    imap_nstring(out, p[i].value) == -1)
			return -1;
	if (default_charset != NULL &&
	    buf_addf(out, "%s\"charset\" \"%s\"", n > 0 ? " " : "",
	    default_charset) == -1)
		return -1;
	return buf_addc(out, ')');
}

/* body-fld-dsp, body-fld-lang, body-fld-loc */
static int
ext_common(struct buf *out, const struct mime_part *p)
{
	if (buf_addc(out, ' ') == -1)
		return -1;
	if (p->disposition == NULL) {
		if (buf_add(out, "NIL", 3) == -1)
			return -1;
	} else if (buf_addc(out, '(') == -1 ||
	    imap_nstring(out, p->disposition) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    params(out, p->disp_params, p->ndisp_params, NULL) == -1 ||
	    buf_addc(out, ')') == -1)
		return -1;
	if (buf_addc(out, ' ') == -1)
		return -1;
	if (p->nlanguages == 0) {
		if (buf_add(out, "NIL", 3) == -1)
			return -1;
	} else if (list_of(out, p->languages, p->nlanguages,
	    imap_nstring) == -1)
		return -1;
	if (buf_addc(out, ' ') == -1)
		return -1;
	return imap_nstring(out, p->location);
}

static const char empty_body[] =
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
static const char empty_env[] = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

static int
empty_part(struct buf *out, int flags)
{
	if (buf_adds(out, empty_body) == -1)
		return -1;
	if ((flags & MESSAGE_BS_EXTENDED) &&
	    buf_adds(out, " NIL NIL NIL NIL") == -1)
		return -1;
	return buf_addc(out, ')');
}

static int
is_msg_type(const struct mime_part *p, int flags)
{
	return strcasecmp(p->type, "message") == 0 &&
	    (strcasecmp(p->subtype, "rfc822") == 0 ||
	    ((flags & MESSAGE_BS_GLOBAL) &&
	    strcasecmp(p->subtype, "global") == 0));
}

static int
body_part(const struct mime_part *p, int flags, struct buf *out,
    unsigned depth)
{
	const struct mime_part *c;
	unsigned exact;
	int multi = (p->flags & MIME_F_MULTIPART) ||
	    ((p->flags & MIME_F_OPAQUE) && strcasecmp(p->type,
	    "multipart") == 0);

	/* the parser bounds the depth; this only guards the stack */
	if (depth > MIME_DEPTH_MAX + 2) {
		errno = ELOOP;
		return -1;
	}
	if (buf_addc(out, '(') == -1)
		return -1;
	if (multi) {
		if (p->children == NULL && empty_part(out, flags) == -1)
			return -1;
		for (c = p->children; c != NULL; c = c->next)
			if (body_part(c, flags, out, depth + 1) == -1)
				return -1;
		if (buf_addc(out, ' ') == -1 ||
		    imap_nstring(out, p->subtype) == -1)
			return -1;
		if ((flags & MESSAGE_BS_EXTENDED) &&
		    (buf_addc(out, ' ') == -1 ||
		    params(out, p->params, p->nparams, NULL) == -1 ||
		    ext_common(out, p) == -1))
			return -1;
		return buf_addc(out, ')');
	}
	if (imap_nstring(out, p->type) == -1 || buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->subtype) == -1 || buf_addc(out, ' ') == -1 ||
	    params(out, p->params, p->nparams, (p->flags & MIME_F_TEXT) &&
	    p->charset == NULL ? "us-ascii" : NULL) == -1 ||
	    buf_addc(out, ' ') == -1 || imap_nstring(out, p->id) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->description) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->cte_name != NULL ? p->cte_name :
	    "7bit") == -1 ||
	    buf_addf(out, " %llu", (unsigned long long)p->body_vsize) == -1)
		return -1;
	if (is_msg_type(p, flags)) {
		c = (p->flags & MIME_F_MESSAGE) ? p->children : NULL;
		if (buf_addc(out, ' ') == -1)
			return -1;
		if (c == NULL) {
			if (buf_adds(out, empty_env) == -1 ||
			    buf_addc(out, ' ') == -1 ||
			    empty_part(out, flags) == -1)
				return -1;
		} else if (envelope(c, out, &exact) == -1 ||
		    buf_addc(out, ' ') == -1 ||
		    body_part(c, flags, out, depth + 1) == -1)
			return -1;
		if (buf_addf(out, " %llu",
		    (unsigned long long)p->body_lines) == -1)
			return -1;
	} else if ((p->flags & MIME_F_TEXT) && buf_addf(out, " %llu",
	    (unsigned long long)p->body_lines) == -1)
		return -1;
	if ((flags & MESSAGE_BS_EXTENDED) &&
	    (buf_addc(out, ' ') == -1 || imap_nstring(out, p->md5) == -1 ||
	    ext_common(out, p) == -1))
		return -1;
	return buf_addc(out, ')');
}

int
message_bodystructure(struct message *m, int flags, struct buf *out)
{
	const struct mime_part *root = message_parts(m);
	size_t start = out->len;

	if (root == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (body_part(root, flags, out, 0) == -1) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

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

static int
in_list(const struct section *s, const char *name, size_t len)
{
	size_t lo = 0, hi = s->nsorted, mid, sl;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		sl = strlen(s->sorted[mid]);
		c = strncasecmp(name, s->sorted[mid], len < sl ? len : sl);
		if (c == 0)
			c = (len > sl) - (len < sl);
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
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
