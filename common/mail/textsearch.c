/*
 * textsearch: streaming search under i;unicode-casemap.  See textsearch.h.
 *
 * While the automaton is in its start state and no character is
 * half-read, bytes that cannot start a match are skipped with one table
 * look-up each: the table marks the ASCII bytes that map to the needle's
 * first code point, and the lead byte of every character outside ASCII
 * (any of those may map to a sequence holding it).  Continuation bytes
 * are never marked, so a skip never ends inside a character.
 *
 * textsearch_bytes() is the approach of W. Mula's "SIMD-friendly
 * algorithms for substring searching": two bytes of the needle, the
 * rarest ones by a table of how common bytes are in mail text, are
 * compared at sixteen positions at once (a letter in either case: OR
 * 0x20 turns both cases of a letter into the lower one and no other byte
 * into it); the few positions where both match are compared in full.
 * Without SSE2 the same runs a byte at a time.
 */
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/mail/charset.h"
#include "common/mail/textsearch.h"
#include "common/mail/unicase.h"

#define REPLACEMENT	0xfffdU

struct textsearch {
	uint32_t	*pat;		/* the needle, mapped */
	size_t		*fail;		/* KMP failure function */
	size_t		 plen;
	size_t		 state;		/* code points matched so far */
	int		 found;
	unsigned char	 part[4];	/* a character cut by a piece end */
	unsigned	 npart;
	unsigned char	 start[256];	/* bytes that may begin a match */
	unsigned char	*ascii;		/* the mapped needle in lower case, if
					 * it is all ASCII */
	size_t		 r1, r2;	/* two of its rarest positions */
};

/*
 * Mark the bytes that may begin a match: the ASCII ones that map to the
 * needle's first code point, and every lead byte of a character outside
 * ASCII (the mapping of any of them may hold it, and not only first: the
 * "I" of "FI" for U+FB01).
 */
static void
mark_starts(struct textsearch *ts)
{
	uint32_t m[UNICASE_MAX];
	unsigned b;

	for (b = 0; b < 0x80; b++)
		if (unicase_map(b, m) == 1 && m[0] == ts->pat[0])
			ts->start[b] = 1;
	for (b = 0xc2; b < 0xf5; b++)
		ts->start[b] = 1;
}

/* How common a (folded) byte is in mail text, roughly: 5 for most
 * punctuation, 10 to 36 for the letters from z to e and the space. */
static int
commonness(unsigned char c)
{
	static const char order[] = "zqjxkvbywgpfmucdlhrsnioate ";
	const char *p;

	if (c != '\0' && (p = memchr(order, c, sizeof(order) - 1)) != NULL)
		return 10 + (int)(p - order);
	if ((c >= '0' && c <= '9') || c == '\n' || c == '.' || c == ',')
		return 12;
	return 5;
}

/* The ASCII form of the needle for textsearch_bytes(), when it has one;
 * -1 when memory runs out. */
static int
ascii_form(struct textsearch *ts)
{
	size_t i;

	for (i = 0; i < ts->plen; i++)
		if (ts->pat[i] >= 0x80)
			return 0;
	if (ts->plen == 0)
		return 0;
	if ((ts->ascii = malloc(ts->plen)) == NULL)
		return -1;
	for (i = 0; i < ts->plen; i++)
		ts->ascii[i] = (unsigned char)(ts->pat[i] >= 'A' &&
		    ts->pat[i] <= 'Z' ? ts->pat[i] + 32 : ts->pat[i]);
	ts->r1 = 0;
	for (i = 1; i < ts->plen; i++)
		if (commonness(ts->ascii[i]) < commonness(ts->ascii[ts->r1]))
			ts->r1 = i;
	ts->r2 = ts->r1;
	for (i = 0; i < ts->plen; i++)
		if (i != ts->r1 && (ts->r2 == ts->r1 ||
		    commonness(ts->ascii[i]) < commonness(ts->ascii[ts->r2])))
			ts->r2 = i;
	return 0;
}

/* One character of text: the code points it maps to, one by one. */
static void
step(struct textsearch *ts, uint32_t cp)
{
	uint32_t m[UNICASE_MAX], c;
	size_t n = unicase_map(cp, m), k;

	for (k = 0; k < n && !ts->found; k++) {
		c = m[k];
		while (ts->state > 0 && ts->pat[ts->state] != c)
			ts->state = ts->fail[ts->state - 1];
		if (ts->pat[ts->state] == c && ++ts->state == ts->plen)
			ts->found = 1;
	}
}

struct textsearch *
textsearch_new(const char *needle, size_t len)
{
	const unsigned char *s = (const unsigned char *)needle;
	uint32_t m[UNICASE_MAX];
	struct textsearch *ts;
	size_t i, k, nm;
	unsigned cp;
	int n;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	/* at most one character per byte, each mapped to at most
	 * UNICASE_MAX code points */
	if (len > SIZE_MAX / UNICASE_MAX / sizeof(size_t) - 1 ||
	    (ts->pat = calloc(len * UNICASE_MAX + 1, sizeof(*ts->pat))) ==
	    NULL || (ts->fail = calloc(len * UNICASE_MAX + 1,
	    sizeof(*ts->fail))) == NULL) {
		textsearch_free(ts);
		return NULL;
	}
	for (i = 0; i < len; i += (size_t)n) {
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0) {
			n = 1;
			cp = REPLACEMENT;
		}
		nm = unicase_map(cp, m);
		memcpy(ts->pat + ts->plen, m, nm * sizeof(*m));
		ts->plen += nm;
	}
	for (i = 1, k = 0; i < ts->plen; i++) {
		while (k > 0 && ts->pat[i] != ts->pat[k])
			k = ts->fail[k - 1];
		if (ts->pat[i] == ts->pat[k])
			k++;
		ts->fail[i] = k;
	}
	if (ts->plen == 0 || ts->pat[0] == REPLACEMENT)
		memset(ts->start, 1, sizeof(ts->start));
	else
		mark_starts(ts);
	if (ascii_form(ts) == -1) {
		textsearch_free(ts);
		return NULL;
	}
	textsearch_reset(ts);
	return ts;
}

void
textsearch_free(struct textsearch *ts)
{
	if (ts == NULL)
		return;
	free(ts->pat);
	free(ts->fail);
	free(ts->ascii);
	free(ts);
}

void
textsearch_reset(struct textsearch *ts)
{
	ts->state = 0;
	ts->npart = 0;
	ts->found = ts->plen == 0;
}

int
textsearch_found(const struct textsearch *ts)
{
	return ts->found;
}

int
textsearch_feed(struct textsearch *ts, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	unsigned cp;
	int n;

	if (ts->found)
		return 1;
	/* finish a character cut by the end of the last piece */
	while (ts->npart > 0) {
		unsigned char tmp[8];
		size_t tl = ts->npart, take = len - i < 4 ? len - i : 4;

		memcpy(tmp, ts->part, tl);
		memcpy(tmp + tl, s + i, take);
		tl += take;
		n = charset_utf8_seq(tmp, tl, &cp);
		if (n == 0) {
			/* still cut: the whole piece was too short */
			memcpy(ts->part, tmp, tl);
			ts->npart = (unsigned)tl;
			return ts->found;
		}
		if (n < 0) {
			/* the first byte is bad; read the others again */
			cp = REPLACEMENT;
			n = 1;
		}
		step(ts, cp);
		if ((unsigned)n < ts->npart) {
			ts->npart -= (unsigned)n;
			memmove(ts->part, ts->part + n, ts->npart);
		} else {
			i += (size_t)n - ts->npart;
			ts->npart = 0;
		}
	}
	while (i < len && !ts->found) {
		if (ts->state == 0) {
			while (i < len && !ts->start[s[i]])
				i++;
			if (i == len)
				break;
		}
		if (s[i] < 0x80) {
			step(ts, s[i++]);
			continue;
		}
		n = charset_utf8_seq(s + i, len - i, &cp);
		if (n > 0) {
			step(ts, cp);
			i += (size_t)n;
		} else if (n == 0) {
			/* the piece ends inside a character */
			memcpy(ts->part, s + i, len - i);
			ts->npart = (unsigned)(len - i);
			i = len;
		} else {
			step(ts, REPLACEMENT);
			i++;
		}
	}
	return ts->found;
}

int
textsearch_is_ascii(const struct textsearch *ts)
{
	return ts->ascii != NULL;
}

size_t
textsearch_length(const struct textsearch *ts)
{
	return ts->plen;
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The needle at s (which has room for it)? */
static int
same(const unsigned char *s, const unsigned char *n, size_t m)
{
	size_t k;

	for (k = 0; k < m; k++)
		if (lower(s[k]) != n[k])
			return 0;
	return 1;
}

/*
 * Could text that does not hold an ASCII needle byte for byte still
 * match it?  Only through a character outside ASCII that maps to ASCII
 * (Ä holds an A, U+FB01 is FI): in UTF-8 each one is looked up, in a
 * single-byte charset any byte above 0x7f is taken to be one.
 */
static int
maybe_elsewhere(const unsigned char *s, size_t len, int utf8)
{
	size_t i = 0;
	unsigned cp;
	int n;

	while (i < len) {
#ifdef __SSE2__
		/* ASCII runs sixteen bytes at a time: the high bits */
		while (i + 16 <= len && _mm_movemask_epi8(_mm_loadu_si128(
		    (const __m128i *)(s + i))) == 0)
			i += 16;
		if (i == len)
			break;
#endif
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (!utf8)
			return 1;
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0) {
			/* a bad byte is U+FFFD; a cut character may be
			 * anything */
			if (n == 0)
				return 1;
			i++;
			continue;
		}
		if (unicase_has_ascii(cp))
			return 1;
		i += (size_t)n;
	}
	return 0;
}

int
textsearch_bytes(const struct textsearch *ts, const char *text, size_t len,
    int utf8)
{
	const unsigned char *s = (const unsigned char *)text, *n = ts->ascii;
	size_t m = ts->plen, r1 = ts->r1, r2 = ts->r2, i = 0;

	if (m == 0)
		return 1;
	if (n == NULL)
		return 0;
	if (len < m)
		return maybe_elsewhere(s, len, utf8) ? TEXTSEARCH_UNSURE : 0;
#ifdef __SSE2__
	{
		__m128i c1 = _mm_set1_epi8((char)n[r1]);
		__m128i c2 = _mm_set1_epi8((char)n[r2]);
		__m128i o1 = _mm_set1_epi8(n[r1] >= 'a' && n[r1] <= 'z' ?
		    0x20 : 0);
		__m128i o2 = _mm_set1_epi8(n[r2] >= 'a' && n[r2] <= 'z' ?
		    0x20 : 0);
		__m128i a, b, hit;
		unsigned mask, j;

		/* every position of a round can hold the needle */
		for (; i + 16 + m - 1 <= len; i += 16) {
			a = _mm_loadu_si128((const __m128i *)(s + i + r1));
			b = _mm_loadu_si128((const __m128i *)(s + i + r2));
			hit = _mm_and_si128(
			    _mm_cmpeq_epi8(_mm_or_si128(a, o1), c1),
			    _mm_cmpeq_epi8(_mm_or_si128(b, o2), c2));
			for (mask = (unsigned)_mm_movemask_epi8(hit);
			    mask != 0; mask &= mask - 1) {
				j = (unsigned)__builtin_ctz(mask);
				if (same(s + i + j, n, m))
					return 1;
			}
		}
	}
#endif
	for (; i + m <= len; i++)
		if (lower(s[i + r1]) == n[r1] && lower(s[i + r2]) == n[r2] &&
		    same(s + i, n, m))
			return 1;
	return maybe_elsewhere(s, len, utf8) ? TEXTSEARCH_UNSURE : 0;
}
