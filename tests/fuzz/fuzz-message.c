/*
 * Fuzz target: common/mail/mime and common/imap/message, everything FETCH and
 * SEARCH make of a message that anyone on the Internet can send.
 *
 * Input: one byte of mode, then the message.  Mode bit 1 puts a long
 * Received: chain in front (so that the file is read in steps, the
 * header first), bit 2 asks for message/global as in IMAP4rev2.
 *
 * The message is looked at twice: over the bytes in memory, and read
 * from a file the way SEARCH reads it (the header first, the rest when a
 * question needs it, into a buffer that moves as it grows).  Properties
 * checked:
 *   - both give the same ENVELOPE, BODYSTRUCTURE, BODY and sections;
 *   - ENVELOPE and BODYSTRUCTURE are well-formed IMAP (strings quoted or
 *     literal with the right length, NIL, numbers, balanced lists), and
 *     the ENVELOPE has its ten fields with addresses of four;
 *   - every part lies within the message and within its parent; its
 *     CRLF sizes and line counts are those of its bytes; the header-only
 *     parse agrees with the full one about the header;
 *   - RFC822.SIZE is the CRLF size; BODY[] and BODY[HEADER] / BODY[TEXT]
 *     are the message's CRLF form (a NUL sent as 0x80); each section's
 *     size is the length of what it sends, and a partial is that slice;
 *   - a transfer decoder fed in random pieces gives what it gives fed
 *     whole;
 *   - wherever message_envelope_exact() says the ENVELOPE holds all a
 *     field has, a search of the kept ENVELOPE answers as a search of
 *     the message; a SEARCH BODY or HEADER match is a TEXT match too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imap/imap-parser.h"
#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/mail/mime.h"
#include "tests/common/plaincrlf.h"
#include "tests/fuzz/fuzz.h"

#define OUT_MAX		(64 * 1024 * 1024)
#define PARTS_LOOKED_AT	40
#define PAD_LINES	120

static char dir[PATH_MAX];
static int msgdir = -1;
static struct buf pad;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int i;

	fuzz_scratch(dir, "msg");
	fuzz_fresh_dir(dir);
	if ((msgdir = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		fuzz_die(dir);
	buf_init(&pad, 1024 * 1024);
	for (i = 0; i < PAD_LINES; i++)
		if (buf_addf(&pad, "Received: from relay%d.example.net "
		    "(relay%d.example.net [192.0.2.%d])\n\tby mx.example.org "
		    "with ESMTPS id %08X; Tue, 14 Nov 2023 09:12:%02d +0100\n",
		    i, i, i % 250, (unsigned)i * 2654435761U, i % 60) == -1)
			fuzz_die("pad");
	return 0;
}

static void
add(struct buf *b, const void *p, size_t n)
{
	if (buf_add(b, p, n) == -1)
		fuzz_die("buf");
}

/* ---- a reader of IMAP values, to check what the code writes -------- */

struct val {
	int		 list;		/* else a string, NIL or number */
	int		 nil;
	size_t		 n;		/* list: elements */
	const char	*s;		/* string: raw text (quoted unescaped
					 * not needed here) */
	size_t		 slen;
	struct val	*kid;		/* list: first element */
	struct val	*next;
};

struct vread {
	const char	*p;
	const char	*end;
	struct val	 pool[65536];
	size_t		 used;
	const char	*why;
};

static struct vread vr;

static struct val *
vnew(void)
{
	if (vr.used == sizeof(vr.pool) / sizeof(vr.pool[0])) {
		vr.why = "too many values";
		return NULL;
	}
	memset(&vr.pool[vr.used], 0, sizeof(vr.pool[0]));
	return &vr.pool[vr.used++];
}

static struct val *
vparse(int depth)
{
	struct val *v, *k, **tail;
	uint64_t n;

	if (depth > 300 || vr.p >= vr.end || (v = vnew()) == NULL) {
		vr.why = vr.why ? vr.why : "value missing";
		return NULL;
	}
	if (*vr.p == '(') {
		vr.p++;
		v->list = 1;
		tail = &v->kid;
		k = NULL;
		while (vr.p < vr.end && *vr.p != ')') {
			/* lists follow each other directly (the parts of
			 * a multipart, addresses); all else after a space */
			if (v->n > 0 && !(k->list && *vr.p == '(') &&
			    *vr.p++ != ' ') {
				vr.why = "no space between list elements";
				return NULL;
			}
			if ((k = vparse(depth + 1)) == NULL)
				return NULL;
			*tail = k;
			tail = &k->next;
			v->n++;
		}
		if (vr.p >= vr.end) {
			vr.why = "unclosed list";
			return NULL;
		}
		vr.p++;
		return v;
	}
	if (*vr.p == '"') {
		v->s = ++vr.p;
		while (vr.p < vr.end && *vr.p != '"') {
			if (*vr.p == '\r' || *vr.p == '\n' || *vr.p == '\0' ||
			    (*vr.p & 0x80)) {
				vr.why = "CR, LF, NUL or 8-bit in a quoted string";
				return NULL;
			}
			if (*vr.p == '\\') {
				vr.p++;
				if (vr.p >= vr.end || (*vr.p != '"' &&
				    *vr.p != '\\')) {
					vr.why = "bad escape";
					return NULL;
				}
			}
			vr.p++;
		}
		if (vr.p >= vr.end) {
			vr.why = "unterminated quoted string";
			return NULL;
		}
		v->slen = (size_t)(vr.p - v->s);
		vr.p++;
		return v;
	}
	if (*vr.p == '{') {
		n = 0;
		vr.p++;
		while (vr.p < vr.end && *vr.p >= '0' && *vr.p <= '9' &&
		    n < OUT_MAX)
			n = n * 10 + (uint64_t)(*vr.p++ - '0');
		if (vr.end - vr.p < 3 || memcmp(vr.p, "}\r\n", 3) != 0 ||
		    (uint64_t)(vr.end - vr.p - 3) < n) {
			vr.why = "bad literal";
			return NULL;
		}
		vr.p += 3;
		v->s = vr.p;
		v->slen = (size_t)n;
		if (memchr(v->s, '\0', v->slen) != NULL) {
			vr.why = "NUL in a literal";
			return NULL;
		}
		vr.p += n;
		return v;
	}
	if (vr.end - vr.p >= 3 && memcmp(vr.p, "NIL", 3) == 0) {
		vr.p += 3;
		v->nil = 1;
		return v;
	}
	if (*vr.p >= '0' && *vr.p <= '9') {
		v->s = vr.p;
		while (vr.p < vr.end && *vr.p >= '0' && *vr.p <= '9')
			vr.p++;
		v->slen = (size_t)(vr.p - v->s);
		return v;
	}
	vr.why = "not a value";
	return NULL;
}

/* One list and nothing after it. */
static struct val *
read_list(const struct buf *b, const char *what)
{
	struct val *v;

	vr.p = b->data;
	vr.end = b->data + b->len;
	vr.used = 0;
	vr.why = NULL;
	v = vparse(0);
	FUZZ_CHECK(v != NULL && v->list && vr.p == vr.end,
	    "%s is not one IMAP list (%s at %zu): %s", what,
	    vr.why ? vr.why : "bytes after it",
	    (size_t)(vr.p - b->data), b->data);
	return v;
}

static int
is_nstring(const struct val *v)
{
	return !v->list && (v->nil || v->s != NULL);
}

static void
check_envelope(const struct buf *b)
{
	struct val *env = read_list(b, "ENVELOPE"), *f, *a, *x;
	size_t i;

	FUZZ_CHECK(env->n == 10, "ENVELOPE of %zu fields", env->n);
	for (f = env->kid, i = 0; f != NULL; f = f->next, i++) {
		if (i < 2 || i > 7) {
			FUZZ_CHECK(is_nstring(f), "ENVELOPE field %zu", i);
			continue;
		}
		FUZZ_CHECK(f->nil || (f->list && f->n > 0),
		    "address list %zu", i);
		for (a = f->kid; a != NULL; a = a->next) {
			FUZZ_CHECK(a->list && a->n == 4, "address of %zu", a->n);
			for (x = a->kid; x != NULL; x = x->next)
				FUZZ_CHECK(is_nstring(x), "address part");
		}
	}
}

/* ---- CRLF, independently --------------------------------------------- */

static void
crlf_of(const char *d, size_t off, size_t len, struct buf *out, int nul80)
{
	size_t i, run = off;

	for (i = off; i < off + len; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r')) {
			add(out, d + run, i - run);
			add(out, "\r", 1);
			run = i;
		} else if (d[i] == '\0' && nul80) {
			add(out, d + run, i - run);
			add(out, "\x80", 1);
			run = i + 1;
		}
	}
	add(out, d + run, off + len - run);
}

/* ---- the tree ------------------------------------------------------- */

static void
check_tree(const char *d, size_t len, const struct mime_part *root)
{
	const struct mime_part *p, *q;
	size_t nparts = 0;

	FUZZ_CHECK(root->hdr_off == 0 && root->body_off + root->body_len ==
	    len, "the root is not the whole message");
	for (p = root; p != NULL; p = mime_next(p)) {
		FUZZ_CHECK(++nparts <= MIME_PARTS_MAX + 2, "too many parts");
		FUZZ_CHECK(p->hdr_off + p->hdr_len <= p->body_off &&
		    p->body_off + p->body_len <= len, "part out of bounds");
		FUZZ_CHECK(p->type != NULL && p->subtype != NULL,
		    "no type/subtype");
		FUZZ_CHECK(p->depth <= MIME_DEPTH_MAX + 1, "depth %u",
		    p->depth);
		if (p->flags & MIME_F_SYNTHETIC)
			continue;
		FUZZ_CHECK(p->hdr_vsize == plaincrlf_size(d, p->hdr_off,
		    p->hdr_len) && p->body_vsize == plaincrlf_size(d, p->body_off,
		    p->body_len), "CRLF sizes of a part");
		FUZZ_CHECK(p->hdr_lines == plaincrlf_lines(d, p->hdr_off, p->hdr_len) &&
		    p->body_lines == plaincrlf_lines(d, p->body_off, p->body_len),
		    "line counts of a part");
		/* a header's empty line right before an outer boundary
		 * is the line end that belongs to the boundary: such a part
		 * (with an empty body) ends that line end past its parent */
		if ((q = p->parent) != NULL)
			FUZZ_CHECK(p->hdr_off >= q->body_off &&
			    (p->body_off + p->body_len <= q->body_off +
			    q->body_len || (p->body_len == 0 &&
			    p->body_off <= q->body_off + q->body_len + 2)) &&
			    p->depth == q->depth + 1,
			    "a part outside its parent");
	}
}

/* ---- sections -------------------------------------------------------- */

/* "1.2.3" of part p, or "" for the root. */
static void
path_of(const struct mime_part *p, char *out, size_t outlen)
{
	uint32_t num[MIME_DEPTH_MAX + 4];
	const struct mime_part *q, *k;
	size_t n = 0, o = 0;
	int r;

	out[0] = '\0';
	for (q = p; q->parent != NULL && n < MIME_DEPTH_MAX + 4;
	    q = q->parent) {
		/* the encapsulated message of a message part takes the
		 * part's own number */
		if (q->parent->flags & MIME_F_MESSAGE)
			continue;
		num[n] = 1;
		for (k = q->parent->children; k != NULL && k != q; k = k->next)
			num[n]++;
		n++;
	}
	if (n > SECTION_PATH_MAX - 2)
		return;		/* deeper than a section can name */
	while (n-- > 0) {
		r = snprintf(out + o, outlen - o, "%s%u", o ? "." : "",
		    num[n]);
		if (r < 0 || (size_t)r >= outlen - o) {
			out[0] = '\0';
			return;
		}
		o += (size_t)r;
	}
}

/* The FETCH items of a section spec, parsed by the IMAP parser as they
 * would arrive. */
static struct imap_parser *
items(const char *spec)
{
	static const struct imap_limits lim = { 1 << 20, 1 << 20, 1 << 22,
	    8, 1000 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf line;
	size_t used;

	buf_init(&line, 1 << 20);
	if (p == NULL || buf_addf(&line, "x FETCH 1 (%s)\r\n", spec) == -1)
		fuzz_die("items");
	FUZZ_CHECK(imap_parser_feed(p, line.data, line.len, &used) ==
	    IMAP_PARSE_COMMAND, "items do not parse: %s", spec);
	buf_free(&line);
	return p;
}

/* Every section item of spec, from both views of the message, must give
 * the same bytes; sizes and partials must agree. */
static void
sections(struct message *a, struct message *b, const char *spec)
{
	struct imap_parser *p = items(spec);
	const struct imap_cmdline *c = imap_parser_command(p);
	const struct imap_arg *list = c->args[1].list;
	size_t n = c->args[1].len, i = 0, used;
	struct section s;
	struct buf oa, ob, name;
	const char *why;
	uint64_t size;
	int ra, rb, r;

	buf_init(&oa, OUT_MAX);
	buf_init(&ob, OUT_MAX);
	buf_init(&name, 4096);
	while (i < n) {
		r = message_section_parse(list + i, n - i, &used, &s, &why);
		FUZZ_CHECK(r == 0, "section refused (%s) in %s", r == -1 ?
		    why : "not a section", spec);
		i += used;
		FUZZ_CHECK(message_section_name(&s, &name) == 0,
		    "section name");
		buf_reset(&name);
		ra = message_section_get(a, &s, &oa, NULL);
		rb = message_section_get(b, &s, &ob, NULL);
		FUZZ_CHECK(ra == rb && oa.len == ob.len && (oa.len == 0 ||
		    memcmp(oa.data, ob.data, oa.len) == 0),
		    "section of %s differs between memory and file", spec);
		if (ra == 0 && s.item != SECTION_BINARY_SIZE) {
			r = message_section_size(a, &s, &size);
			FUZZ_CHECK(r == 0, "size failed where get worked");
			if (!s.partial)
				FUZZ_CHECK(size == oa.len, "size %llu of a "
				    "section of %zu bytes (%s)",
				    (unsigned long long)size, oa.len, spec);
			else
				FUZZ_CHECK(oa.len == (s.origin >= size ? 0 :
				    size - s.origin < s.count ? size -
				    s.origin : s.count), "partial of %zu",
				    oa.len);
		}
		buf_reset(&oa);
		buf_reset(&ob);
		message_section_free(&s);
	}
	buf_free(&oa);
	buf_free(&ob);
	buf_free(&name);
	imap_parser_free(p);
}

/* A partial is the slice of the whole. */
static void
partial_is_slice(struct message *m, const char *whole, const char *part,
    uint64_t origin)
{
	struct imap_parser *p1 = items(whole), *p2 = items(part);
	const struct imap_cmdline *c1 = imap_parser_command(p1);
	const struct imap_cmdline *c2 = imap_parser_command(p2);
	struct section s1, s2;
	struct buf o1, o2;
	const char *why;
	size_t used;

	buf_init(&o1, OUT_MAX);
	buf_init(&o2, OUT_MAX);
	if (message_section_parse(c1->args[1].list, c1->args[1].len, &used,
	    &s1, &why) != 0 || message_section_parse(c2->args[1].list,
	    c2->args[1].len, &used, &s2, &why) != 0)
		FUZZ_CHECK(0, "section refused: %s / %s", whole, part);
	if (message_section_get(m, &s1, &o1, NULL) == 0 &&
	    message_section_get(m, &s2, &o2, NULL) == 0) {
		size_t want = origin >= o1.len ? 0 : o1.len - origin;

		if (want > s2.count)
			want = (size_t)s2.count;
		FUZZ_CHECK(o2.len == want && (want == 0 || memcmp(o2.data,
		    o1.data + origin, want) == 0), "%s is not a slice of %s",
		    part, whole);
	}
	message_section_free(&s1);
	message_section_free(&s2);
	buf_free(&o1);
	buf_free(&o2);
	imap_parser_free(p1);
	imap_parser_free(p2);
}

static void
look_at_parts(struct message *a, struct message *b, const char *d,
    size_t len)
{
	const struct mime_part *root = message_parts(a), *p;
	char path[1024], spec[8192];
	unsigned k = 0;
	int n;

	for (p = root; p != NULL && k < PARTS_LOOKED_AT; p = mime_next(p)) {
		if (p->parent != NULL && (p->parent->flags & MIME_F_MESSAGE))
			continue;	/* has its parent's number */
		k++;
		path_of(p, path, sizeof(path));
		if (p != root && path[0] == '\0')
			continue;
		if (p == root)
			n = snprintf(spec, sizeof(spec), "BODY[] BODY.PEEK[HEADER]"
			    " BODY[TEXT] RFC822 RFC822.HEADER RFC822.TEXT "
			    "BINARY.PEEK[] BINARY.SIZE[] BODY[]<7.20> "
			    "BODY[HEADER.FIELDS (Subject From X-Nothing)] "
			    "BODY[HEADER.FIELDS.NOT (Received Subject)]<0.99>");
		else
			n = snprintf(spec, sizeof(spec), "BODY[%s] BODY[%s.MIME]"
			    " BODY[%s.HEADER] BODY[%s.TEXT] BINARY[%s] "
			    "BINARY.SIZE[%s] BODY[%s]<3.5> BINARY[%s]<1.2> "
			    "BODY[%s.HEADER.FIELDS (Content-Type)]", path, path,
			    path, path, path, path, path, path, path);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(spec), "spec");
		sections(a, b, spec);
	}
	(void)d;
	(void)len;
}

/* ---- decoding -------------------------------------------------------- */

static void
decoders(const char *d, size_t len)
{
	static const enum mime_cte ctes[] = { MIME_CTE_BASE64, MIME_CTE_QP,
	    MIME_CTE_7BIT };
	struct mime_decoder dec;
	struct fuzz_rnd rnd = { len };
	struct buf whole, cut;
	size_t i, off, n;

	for (i = 0; i < sizeof(ctes) / sizeof(ctes[0]); i++) {
		buf_init(&whole, OUT_MAX);
		buf_init(&cut, OUT_MAX);
		mime_decoder_init(&dec, ctes[i]);
		FUZZ_CHECK(mime_decoder_run(&dec, d, len, &whole) == 0 &&
		    mime_decoder_finish(&dec, &whole) == 0, "decode");
		mime_decoder_init(&dec, ctes[i]);
		for (off = 0; off < len; off += n) {
			char *piece;

			n = fuzz_piece(&rnd);
			if (n > len - off)
				n = len - off;
			piece = fuzz_dup(d + off, n);
			FUZZ_CHECK(mime_decoder_run(&dec, piece, n, &cut) == 0,
			    "decode");
			free(piece);
		}
		FUZZ_CHECK(mime_decoder_finish(&dec, &cut) == 0, "finish");
		FUZZ_CHECK(whole.len == cut.len && (whole.len == 0 ||
		    memcmp(whole.data, cut.data, whole.len) == 0),
		    "decoder %d fed in pieces gives other bytes", ctes[i]);
		buf_free(&whole);
		buf_free(&cut);
	}
}

/* ---- searching ------------------------------------------------------- */

static const struct {
	const char	*name;
	unsigned	 bit;
} envfields[] = {
	{ "Date", MESSAGE_ENV_DATE }, { "Subject", MESSAGE_ENV_SUBJECT },
	{ "In-Reply-To", MESSAGE_ENV_IN_REPLY_TO },
	{ "Message-ID", MESSAGE_ENV_MESSAGE_ID },
};

static void
search(struct message *m, const struct buf *env, unsigned exact,
    const char *d, size_t len)
{
	const struct mime_part *root = message_parts(m);
	struct buf val;
	char needle[16];
	size_t i, k, off;
	int r, rh, rb, rt;

	buf_init(&val, OUT_MAX);
	for (i = 0; i < sizeof(envfields) / sizeof(envfields[0]); i++) {
		buf_reset(&val);
		if (root == NULL || mime_header_get_last(root,
		    envfields[i].name, &val) == -1)
			continue;
		for (k = 0; k < 4; k++) {
			/* "", pieces of the value, a piece of the input */
			off = (val.len * k) / 4;
			if (k == 0)
				needle[0] = '\0';
			else if (k < 3)
				snprintf(needle, sizeof(needle), "%.6s",
				    buf_cstr(&val) + off);
			else
				snprintf(needle, sizeof(needle), "%.5s",
				    len > 20 ? d + len / 2 : "");
			if (k > 0 && needle[0] == '\0')
				continue;
			rh = message_search_header(m, envfields[i].name,
			    needle);
			FUZZ_CHECK(rh >= 0, "search failed");
			if (exact & envfields[i].bit) {
				r = message_envelope_search(env->data, env->len,
				    envfields[i].name, needle);
				FUZZ_CHECK(r == -1 || r == rh, "%s \"%s\": "
				    "ENVELOPE says %d, the message %d",
				    envfields[i].name, needle, r, rh);
			}
			if (rh == 1 && needle[0] != '\0') {
				rt = message_search_text(m, needle);
				FUZZ_CHECK(rt == 1, "HEADER %s \"%s\" matches, "
				    "TEXT does not", envfields[i].name, needle);
			}
		}
	}
	if (len > 8) {
		snprintf(needle, sizeof(needle), "%.4s", d + len - 6);
		if (strlen(needle) > 0) {
			rb = message_search_body(m, needle);
			rt = message_search_text(m, needle);
			FUZZ_CHECK(rb >= 0 && rt >= 0, "search failed");
			FUZZ_CHECK(rb == 0 || rt == 1, "BODY \"%s\" matches, "
			    "TEXT does not", needle);
		}
	}
	(void)message_search_address(m, "From", "example");
	buf_free(&val);
}

/* ---- the run --------------------------------------------------------- */

struct views {
	struct buf	 env, body, bs;
};

static void
describe(struct message *m, int flags, struct views *v)
{
	buf_init(&v->env, OUT_MAX);
	buf_init(&v->body, OUT_MAX);
	buf_init(&v->bs, OUT_MAX);
	FUZZ_CHECK(message_envelope(m, &v->env) == 0, "ENVELOPE failed");
	FUZZ_CHECK(message_bodystructure(m, flags, &v->bs) == 0,
	    "BODYSTRUCTURE failed");
	FUZZ_CHECK(message_bodystructure(m, flags & ~MESSAGE_BS_EXTENDED,
	    &v->body) == 0, "BODY failed");
}

static void
views_free(struct views *v)
{
	buf_free(&v->env);
	buf_free(&v->body);
	buf_free(&v->bs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct message *mem, *file;
	struct buf bytes, store, want, got;
	struct views vm, vf;
	const struct mime_part *root, *hroot;
	struct mime_part *hdr;
	int mode, flags, err;
	char *d;
	size_t n;
	unsigned exact;

	if (len < 1)
		return 0;
	mode = data[0];
	flags = MESSAGE_BS_EXTENDED | ((mode & 2) ? MESSAGE_BS_GLOBAL : 0);
	buf_init(&bytes, OUT_MAX);
	if (mode & 1)
		add(&bytes, pad.data, pad.len);
	add(&bytes, data + 1, len - 1);
	n = bytes.len;
	d = fuzz_dup(bytes.data, n);
	buf_free(&bytes);

	if ((mem = message_from_mem(d, n)) == NULL)
		fuzz_die("message_from_mem");
	/* the file view first answers header questions, then the rest */
	fuzz_put(dir, "m", d, n);
	buf_init(&store, MESSAGE_READ_MAX);
	if ((file = message_read(msgdir, "m", &store, 0, &err)) == NULL)
		fuzz_die("message_read");
	exact = message_envelope_exact(file);
	describe(file, flags, &vf);
	describe(mem, flags, &vm);
	FUZZ_CHECK(exact == message_envelope_exact(mem), "envelope facts "
	    "differ between memory and file");
	FUZZ_CHECK(vm.env.len == vf.env.len && memcmp(vm.env.data,
	    vf.env.data, vm.env.len) == 0, "ENVELOPE differs between memory "
	    "and file:\n%s\n%s", vm.env.data, vf.env.data);
	FUZZ_CHECK(vm.bs.len == vf.bs.len && memcmp(vm.bs.data, vf.bs.data,
	    vm.bs.len) == 0, "BODYSTRUCTURE differs between memory and file");
	FUZZ_CHECK(vm.body.len == vf.body.len && memcmp(vm.body.data,
	    vf.body.data, vm.body.len) == 0, "BODY differs between memory "
	    "and file");
	check_envelope(&vm.env);
	(void)read_list(&vm.bs, "BODYSTRUCTURE");
	(void)read_list(&vm.body, "BODY");

	root = message_parts(mem);
	FUZZ_CHECK(root != NULL, "no parts");
	check_tree(d, n, root);
	if ((hdr = mime_parse_header_only(d, n)) == NULL)
		fuzz_die("mime_parse_header_only");
	hroot = hdr;
	FUZZ_CHECK(hroot->hdr_len == root->hdr_len &&
	    hroot->body_off == root->body_off &&
	    hroot->hdr_vsize == root->hdr_vsize &&
	    strcmp(hroot->type, root->type) == 0 &&
	    strcmp(hroot->subtype, root->subtype) == 0,
	    "the header-only parse sees another header");
	mime_free(hdr);

	FUZZ_CHECK(message_vsize(mem) == plaincrlf_size(d, 0, n) &&
	    message_vsize(file) == message_vsize(mem), "RFC822.SIZE");
	buf_init(&want, OUT_MAX);
	buf_init(&got, OUT_MAX);
	crlf_of(d, 0, n, &want, 1);
	{
		struct imap_parser *p = items("BODY.PEEK[]");
		const struct imap_cmdline *c = imap_parser_command(p);
		struct section s;
		const char *why;
		size_t used;

		FUZZ_CHECK(message_section_parse(c->args[1].list,
		    c->args[1].len, &used, &s, &why) == 0, "BODY.PEEK[]");
		FUZZ_CHECK(message_section_get(mem, &s, &got, NULL) == 0 &&
		    got.len == want.len && (want.len == 0 ||
		    memcmp(got.data, want.data, want.len) == 0),
		    "BODY[] is not the message");
		message_section_free(&s);
		imap_parser_free(p);
	}
	buf_free(&want);
	buf_free(&got);

	look_at_parts(mem, file, d, n);
	partial_is_slice(mem, "BODY[]", "BODY[]<5.100>", 5);
	partial_is_slice(mem, "BODY[TEXT]", "BODY[TEXT]<0.3>", 0);
	partial_is_slice(mem, "BINARY[1]", "BINARY[1]<2.64>", 2);
	decoders(d, n < 4096 ? n : 4096);
	search(mem, &vm.env, exact, d, n);
	search(file, &vf.env, exact, d, n);

	views_free(&vm);
	views_free(&vf);
	message_free(mem);
	message_free(file);
	message_search_cleanup();
	buf_free(&store);
	free(d);
	return 0;
}
