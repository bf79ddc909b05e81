/*
 * mime-decode: what MIME parts and header fields hold, decoded: RFC 2231
 * parameter values, the transfer encodings (base64, quoted-printable)
 * and RFC 2047 encoded words, and line ends made CRLF.  The functions'
 * contracts are in mime.h beside the parser's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mail/base64.h"
#include "common/mail/charset.h"
#include "common/mail/mime.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* --- parameters ----------------------------------------------------- */

const char *
mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Convert in (len bytes, in charset cs; NULL or unknown: UTF-8) to
 * UTF-8. */
static int
to_utf8(const char *cs, const char *in, size_t len, struct buf *out)
{
	struct charset_conv *conv = cs != NULL ? charset_get(cs) : NULL;
	size_t used;

	if (conv == NULL)
		return charset_utf8_clean(in, len, 1, &used, out);
	return charset_to_utf8(conv, in, len, 1, &used, out);
}

int
mime_param_decode(const struct mime_param *params, size_t n,
    const char *name, struct buf *out)
{
	const char *v = NULL, *q1, *q2, *s;
	char cs[64];
	struct buf raw;
	size_t i, nlen = strlen(name), used;
	int r, h, l, extended = 0;

	for (i = 0; i < n; i++) {
		const char *pn = params[i].name;

		if (strncasecmp(pn, name, nlen) != 0)
			continue;
		if (pn[nlen] == '*' && pn[nlen + 1] == '\0') {
			v = params[i].value;
			extended = 1;
			break;		/* the extended form wins */
		}
		if (pn[nlen] == '\0' && v == NULL)
			v = params[i].value;
	}
	if (v == NULL)
		return 0;
	if (!extended || (q1 = strchr(v, '\'')) == NULL ||
	    (q2 = strchr(q1 + 1, '\'')) == NULL)
		return charset_utf8_clean(v, strlen(v), 1, &used, out) == -1 ?
		    -1 : 1;
	cs[0] = '\0';
	if ((size_t)(q1 - v) < sizeof(cs)) {
		memcpy(cs, v, (size_t)(q1 - v));
		cs[q1 - v] = '\0';
	}
	buf_init(&raw, strlen(q2));
	for (s = q2 + 1; *s != '\0'; s++) {
		if (*s == '%' && (h = hexval(s[1])) >= 0 &&
		    (l = hexval(s[2])) >= 0) {
			r = buf_addc(&raw, h << 4 | l);
			s += 2;
		} else
			r = buf_addc(&raw, *s);
		if (r == -1) {
			buf_free(&raw);
			return -1;
		}
	}
	r = to_utf8(cs[0] != '\0' ? cs : NULL, buf_cstr(&raw), raw.len, out);
	buf_free(&raw);
	return r == -1 ? -1 : 1;
}

/* --- transfer decoders ---------------------------------------------- */

void
mime_decoder_init(struct mime_decoder *dc, enum mime_cte cte)
{
	memset(dc, 0, sizeof(*dc));
	dc->cte = cte;
}

/* base64 values by byte, -1 outside the alphabet */
static signed char b64val[256];
static int have_b64val;

static void
b64_table(void)
{
	unsigned c;

	if (have_b64val)
		return;
	for (c = 0; c < 256; c++)
		b64val[c] = (signed char)base64_value((unsigned char)c);
	have_b64val = 1;
}

/* One byte at a time, for what does not fit the fast loop. */
static int
b64_byte(struct mime_decoder *dc, unsigned char c, unsigned char **o)
{
	int v;

	if ((v = b64val[c]) < 0) {
		/* "=" ends a quantum; a later one may start again
		 * (concatenated encodings) */
		if (c == '=')
			dc->nbits = dc->bits = 0;
		return 0;
	}
	dc->bits = (dc->bits << 6 | (unsigned)v) & 0xffff;
	dc->nbits += 6;
	if (dc->nbits >= 8) {
		dc->nbits -= 8;
		*(*o)++ = (unsigned char)(dc->bits >> dc->nbits);
	}
	return 0;
}

static int
b64_run(struct mime_decoder *dc, const char *in, size_t len,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *o, tmp[4];
	size_t i = 0;
	int a, b, c, d;

	b64_table();
	/* six bits an input byte: never more than 3/4 of len out */
	if (buf_reserve(out, len / 4 * 3 + 3) == -1) {
		/* the room may be short only for what is not written:
		 * go the slow way, which fails only when out is full */
		for (; i < len; i++) {
			o = tmp;
			b64_byte(dc, s[i], &o);
			if (buf_add(out, tmp, (size_t)(o - tmp)) == -1)
				return -1;
		}
		return 0;
	}
	o = (unsigned char *)out->data + out->len;
	while (i < len) {
		/* whole quanta of four alphabet bytes, while nothing is
		 * held from before */
		while (dc->nbits == 0 && i + 4 <= len &&
		    (a = b64val[s[i]]) >= 0 && (b = b64val[s[i + 1]]) >= 0 &&
		    (c = b64val[s[i + 2]]) >= 0 &&
		    (d = b64val[s[i + 3]]) >= 0) {
			o[0] = (unsigned char)(a << 2 | b >> 4);
			o[1] = (unsigned char)(b << 4 | c >> 2);
			o[2] = (unsigned char)(c << 6 | d);
			o += 3;
			i += 4;
		}
		if (i < len)
			b64_byte(dc, s[i++], &o);
	}
	out->len = (size_t)((char *)o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

static int
flush_blanks(struct mime_decoder *dc, struct buf *out)
{
	int r = buf_add(out, dc->blanks, dc->nblanks);

	dc->nblanks = 0;
	return r;
}

/* the "=" or "=X" held, written as it was */
static int
qp_literal(struct mime_decoder *dc, struct buf *out)
{
	int r = buf_add(out, dc->pend, dc->npend);

	dc->npend = 0;
	return r;
}

static int
qp_line_end(struct mime_decoder *dc, struct buf *out)
{
	if (dc->npend == 1) {
		/* soft line break, with whatever blanks padded it */
		dc->npend = 0;
		dc->nblanks = 0;
		return 0;
	}
	if (dc->npend == 2 && qp_literal(dc, out) == -1)
		return -1;
	dc->nblanks = 0;		/* trailing blanks are padding */
	return buf_add(out, "\r\n", 2);
}

static int
qp_byte(struct mime_decoder *dc, unsigned char c, struct buf *out)
{
	int h;

	if (dc->cr) {
		dc->cr = 0;
		if (c == '\n')
			return qp_line_end(dc, out);
		/* a lone CR is data */
		if (qp_literal(dc, out) == -1 ||
		    flush_blanks(dc, out) == -1 || buf_addc(out, '\r') == -1)
			return -1;
	}
	if (c == '\r') {
		dc->cr = 1;
		return 0;
	}
	if (c == '\n')
		return qp_line_end(dc, out);
	if (dc->npend == 1) {
		if (dc->nblanks == 0 && hexval(c) >= 0) {
			dc->pend[dc->npend++] = c;
			return 0;
		}
		if (c == ' ' || c == '\t') {
			/* maybe blanks after a soft line break's "=" */
			if (dc->nblanks < MIME_QP_BLANKS_MAX) {
				dc->blanks[dc->nblanks++] = (char)c;
				return 0;
			}
		}
		if (qp_literal(dc, out) == -1)
			return -1;
	} else if (dc->npend == 2) {
		if ((h = hexval(c)) >= 0) {
			dc->npend = 0;
			return buf_addc(out, hexval(dc->pend[1]) << 4 | h);
		}
		if (qp_literal(dc, out) == -1)
			return -1;
	}
	if (c == ' ' || c == '\t') {
		if (dc->nblanks == MIME_QP_BLANKS_MAX &&
		    flush_blanks(dc, out) == -1)
			return -1;
		dc->blanks[dc->nblanks++] = (char)c;
		return 0;
	}
	if (dc->nblanks > 0 && flush_blanks(dc, out) == -1)
		return -1;
	if (c == '=') {
		dc->pend[0] = '=';
		dc->npend = 1;
		return 0;
	}
	return buf_addc(out, c);
}

/* The byte-at-a-time decoder over a whole piece. */
static int
qp_run_slow(struct mime_decoder *dc, const char *in, size_t len,
    struct buf *out)
{
	size_t i, run;

	for (i = 0; i < len; ) {
		/* copy plain runs in one go */
		if (dc->npend == 0 && !dc->cr && dc->nblanks == 0) {
			for (run = i; i < len && in[i] != '=' &&
			    in[i] != '\r' && in[i] != '\n' && in[i] != ' ' &&
			    in[i] != '\t'; i++)
				;
			if (buf_add(out, in + run, i - run) == -1)
				return -1;
			if (i == len)
				break;
		}
		if (qp_byte(dc, (unsigned char)in[i++], out) == -1)
			return -1;
	}
	return 0;
}

/* bytes with a meaning in quoted-printable */
static int
qp_special(unsigned char c)
{
	return c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

static int
blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Quoted-printable, with the common cases written straight into reserved
 * room: plain runs, "=XX", soft line breaks, line ends and blanks whose
 * fate is known within the piece.  Anything else (a sequence cut by the
 * end of the piece, a lone CR, a malformed "=") goes through qp_byte()
 * until the decoder is back in its plain state, so the output is the
 * same as qp_run_slow()'s byte for byte.
 */
static int
qp_run(struct mime_decoder *dc, const char *in, size_t len,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *o;
	size_t i = 0, j, n, keep;
	int h, l;

	/* a line end becomes two bytes; blanks and "=X" may be pending */
	if (len > (SIZE_MAX - MIME_QP_BLANKS_MAX - 8) / 2 ||
	    buf_reserve(out, len * 2 + MIME_QP_BLANKS_MAX + 8) == -1)
		return qp_run_slow(dc, in, len, out);
	o = (unsigned char *)out->data + out->len;
	while (i < len) {
		if (dc->npend == 0 && !dc->cr && dc->nblanks == 0) {
#ifdef __SSE2__
			/* plain bytes sixteen at a time, up to a byte that
			 * means something or the blanks before it (there is
			 * room: 16 bytes out for at least 16 in) */
			while (i + 16 <= len) {
				__m128i v = _mm_loadu_si128(
				    (const __m128i *)(s + i));
				unsigned m = (unsigned)_mm_movemask_epi8(
				    _mm_or_si128(_mm_or_si128(
				    _mm_cmpeq_epi8(v, _mm_set1_epi8('=')),
				    _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))),
				    _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))));

				for (j = m != 0 ? (size_t)__builtin_ctz(m) :
				    16; j > 0 && blank(s[i + j - 1]); j--)
					;
				_mm_storeu_si128((__m128i *)o, v);
				o += j;
				i += j;
				if (j < 16)
					break;
			}
#endif
			while (i < len && !qp_special(s[i]))
				*o++ = s[i++];
			if (i == len)
				break;
			switch (s[i]) {
			case '\n':
				*o++ = '\r';
				*o++ = '\n';
				i++;
				continue;
			case '\r':
				if (i + 1 < len && s[i + 1] == '\n') {
					*o++ = '\r';
					*o++ = '\n';
					i += 2;
					continue;
				}
				break;
			case '=':
				if (i + 2 < len &&
				    (h = hexval(s[i + 1])) >= 0 &&
				    (l = hexval(s[i + 2])) >= 0) {
					*o++ = (unsigned char)(h << 4 | l);
					i += 3;
					continue;
				}
				/* a soft line break, maybe padded */
				for (j = i + 1; j < len && j - i - 1 <
				    MIME_QP_BLANKS_MAX && blank(s[j]); j++)
					;
				if (j < len && s[j] == '\n') {
					i = j + 1;
					continue;
				}
				if (j + 1 < len && s[j] == '\r' &&
				    s[j + 1] == '\n') {
					i = j + 2;
					continue;
				}
				break;
			default:
				/* blanks: data, unless a line end follows */
				for (j = i; j < len && blank(s[j]); j++)
					;
				if (j == len)
					break;
				n = j - i;
				if (s[j] == '\n' || (s[j] == '\r' &&
				    j + 1 < len && s[j + 1] == '\n')) {
					/* the decoder holds up to its
					 * maximum and writes out a full
					 * hold first: the last hold goes */
					keep = n - ((n - 1) %
					    MIME_QP_BLANKS_MAX + 1);
					memcpy(o, s + i, keep);
					o += keep;
					*o++ = '\r';
					*o++ = '\n';
					i = j + (s[j] == '\r' ? 2 : 1);
					continue;
				}
				if (s[j] == '\r')
					break;
				memcpy(o, s + i, n);
				o += n;
				i = j;
				continue;
			}
		}
		out->len = (size_t)((char *)o - out->data);
		if (qp_byte(dc, s[i++], out) == -1)
			return -1;
		o = (unsigned char *)out->data + out->len;
	}
	out->len = (size_t)((char *)o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int
mime_decoder_run(struct mime_decoder *dc, const char *in, size_t len,
    struct buf *out)
{
	switch (dc->cte) {
	case MIME_CTE_BASE64:
		return b64_run(dc, in, len, out);
	case MIME_CTE_QP:
		return qp_run(dc, in, len, out);
	default:
		return buf_add(out, in, len);
	}
}

int
mime_decoder_finish(struct mime_decoder *dc, struct buf *out)
{
	int r = 0;

	if (dc->cte != MIME_CTE_QP)
		return 0;
	if (dc->cr) {
		dc->cr = 0;
		if (qp_literal(dc, out) == -1 || flush_blanks(dc, out) == -1)
			return -1;
		r = buf_addc(out, '\r');
	} else if (dc->npend == 2)
		r = qp_literal(dc, out);
	/* a final "=" is a soft line break; final blanks are padding */
	dc->npend = 0;
	dc->nblanks = 0;
	return r;
}

/* --- RFC 2047 ------------------------------------------------------- */

/*
 * An encoded word at s[0..len) ("=?cs?E?text?="): its length, or 0 if
 * there is none.  The charset (without a "*lang") goes to cs.
 */
static size_t
encoded_word(const char *s, size_t len, char cs[64], char *enc_r,
    const char **text_r, size_t *tlen_r)
{
	const char *q1, *q2, *end, *p;
	size_t n;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	if ((q1 = memchr(s + 2, '?', len - 2)) == NULL ||
	    q1 + 3 >= s + len || q1[2] != '?')
		return 0;
	n = (size_t)(q1 - (s + 2));
	if (n == 0 || n >= 64)
		return 0;
	for (p = s + 2; p < q1; p++)
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			return 0;
	memcpy(cs, s + 2, n);
	cs[n] = '\0';
	if ((p = memchr(cs, '*', n)) != NULL)
		cs[p - cs] = '\0';
	*enc_r = q1[1];
	if (*enc_r != 'B' && *enc_r != 'b' && *enc_r != 'Q' && *enc_r != 'q')
		return 0;
	q2 = q1 + 3;
	for (end = q2; end + 1 < s + len; end++) {
		if (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			return 0;
		if (end[0] == '?' && end[1] == '=')
			break;
	}
	if (end + 1 >= s + len)
		return 0;
	*text_r = q2;
	*tlen_r = (size_t)(end - q2);
	return (size_t)(end + 2 - s);
}

static int
q_decode(const char *t, size_t n, struct buf *out)
{
	size_t i;
	int h, l, r;

	for (i = 0; i < n; i++) {
		if (t[i] == '_')
			r = buf_addc(out, ' ');
		else if (t[i] == '=' && i + 2 < n &&
		    (h = hexval(t[i + 1])) >= 0 &&
		    (l = hexval(t[i + 2])) >= 0) {
			r = buf_addc(out, h << 4 | l);
			i += 2;
		} else
			r = buf_addc(out, t[i]);
		if (r == -1)
			return -1;
	}
	return 0;
}

/* Text outside encoded words: CR and LF dropped, bad UTF-8 replaced. */
static int
plain_text(const char *s, size_t len, struct buf *out)
{
	size_t i, run, used;

	for (i = 0, run = 0; i <= len; i++) {
		if (i < len && s[i] != '\r' && s[i] != '\n')
			continue;
		if (charset_utf8_clean(s + run, i - run, 1, &used, out) == -1)
			return -1;
		run = i + 1;
	}
	return 0;
}

int
mime_header_decode(const char *raw, size_t len, struct buf *out)
{
	struct buf pend;		/* bytes of adjacent encoded words */
	struct mime_decoder dc;
	char cs[64], pcs[64] = "";
	const char *text, *q;
	size_t pos = 0, ewlen, tlen, gap;
	char enc;
	int after_ew = 0, r = -1;

	buf_init(&pend, len);
	while (pos < len) {
		q = memmem(raw + pos, len - pos, "=?", 2);
		gap = q != NULL ? (size_t)(q - (raw + pos)) : len - pos;
		ewlen = q != NULL ? encoded_word(q, len - (size_t)(q - raw),
		    cs, &enc, &text, &tlen) : 0;
		if (ewlen == 0) {
			/* no encoded word here: text up to and past "=?" */
			gap += q != NULL ? 2 : 0;
		} else if (after_ew && strspn(raw + pos, " \t\r\n") >= gap) {
			/* only blanks between two encoded words: dropped */
			pos += gap;
			gap = 0;
		}
		if (gap > 0) {
			if (pend.len > 0 && (to_utf8(pcs, pend.data, pend.len,
			    out) == -1))
				goto done;
			buf_reset(&pend);
			if (plain_text(raw + pos, gap, out) == -1)
				goto done;
			after_ew = 0;
		}
		pos += gap;
		if (ewlen == 0)
			continue;
		if (charset_get(cs) == NULL) {
			/* unknown charset: keep the word as written */
			if (pend.len > 0 && to_utf8(pcs, pend.data, pend.len,
			    out) == -1)
				goto done;
			buf_reset(&pend);
			if (plain_text(q, ewlen, out) == -1)
				goto done;
			after_ew = 0;
			pos += ewlen;
			continue;
		}
		if (pend.len > 0 && strcasecmp(cs, pcs) != 0) {
			if (to_utf8(pcs, pend.data, pend.len, out) == -1)
				goto done;
			buf_reset(&pend);
		}
		memcpy(pcs, cs, sizeof(pcs));
		if (enc == 'Q' || enc == 'q') {
			if (q_decode(text, tlen, &pend) == -1)
				goto done;
		} else {
			mime_decoder_init(&dc, MIME_CTE_BASE64);
			if (mime_decoder_run(&dc, text, tlen, &pend) == -1)
				goto done;
		}
		after_ew = 1;
		pos += ewlen;
	}
	if (pend.len > 0 && to_utf8(pcs, pend.data, pend.len, out) == -1)
		goto done;
	r = 0;
done:
	buf_free(&pend);
	return r;
}

/* --- CRLF ----------------------------------------------------------- */

int
mime_crlf_walk(const char *d, size_t off, size_t len,
    int (*emit)(void *, const char *, size_t), void *ctx)
{
	const char *nl;
	size_t i = off, end = off + len, run = off, j;
	int r;

	while (i < end && (nl = memchr(d + i, '\n', end - i)) != NULL) {
		j = (size_t)(nl - d);
		if (j == 0 || d[j - 1] != '\r') {
			if ((r = emit(ctx, d + run, j - run)) != 0 ||
			    (r = emit(ctx, "\r\n", 2)) != 0)
				return r;
			run = j + 1;
		}
		i = j + 1;
	}
	return emit(ctx, d + run, end - run);
}

static int
emit_buf(void *ctx, const char *p, size_t n)
{
	return buf_add(ctx, p, n);
}

int
mime_crlf(const char *d, size_t off, size_t len, struct buf *out)
{
	return mime_crlf_walk(d, off, len, emit_buf, out);
}

uint64_t
mime_crlf_size(const char *d, size_t off, size_t len, uint64_t *lines_r)
{
	const char *nl;
	size_t i = off, end = off + len, j;
	uint64_t size = len, lines = 0;

	while (i < end && (nl = memchr(d + i, '\n', end - i)) != NULL) {
		j = (size_t)(nl - d);
		lines++;
		if (j == 0 || d[j - 1] != '\r')
			size++;
		i = j + 1;
	}
	if (lines_r != NULL)
		*lines_r = lines;
	return size;
}
