/*
 * textsearch: streaming case-insensitive search.  See textsearch.h.
 *
 * While the automaton is in its start state and no character is
 * half-read, bytes that cannot start a match are skipped with one table
 * look-up each: the table marks the first UTF-8 byte of every character
 * that folds to the needle's first one, so "k" also stops at the lead byte
 * of KELVIN SIGN.  Continuation bytes are never marked, so a skip never
 * ends inside a character.
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

#include "common/charset.h"
#include "common/textsearch.h"

#define REPLACEMENT	0xfffdU

struct textsearch {
	uint32_t	*pat;		/* folded needle */
	size_t		*fail;		/* KMP failure function */
	size_t		 plen;
	size_t		 state;		/* characters matched so far */
	int		 found;
	unsigned char	 part[4];	/* a character cut by a piece end */
	unsigned	 npart;
	unsigned char	 start[256];	/* bytes that may begin a match */
	unsigned char	*ascii;		/* the folded needle, if all ASCII */
	size_t		 r1, r2;	/* two of its rarest positions */
	unsigned	 special;	/* specials[] that fold into it */
};

/*
 * The characters outside ASCII whose folding is an ASCII letter, by the
 * last two bytes of their UTF-8 form (and the one before, if any).  No
 * other character has those two bytes at the end, except a few rare
 * three- and four-byte ones, which are only taken for one of these: that
 * costs the slow way, never a wrong answer.
 */
static const struct {
	unsigned char	letter;
	unsigned char	lead;		/* 0: the two bytes are the whole */
	unsigned char	b0, b1;
} specials[] = {
	{ 'i', 0, 0xc4, 0xb0 },		/* U+0130 CAPITAL I WITH DOT ABOVE */
	{ 's', 0, 0xc5, 0xbf },		/* U+017F SMALL LONG S */
	{ 'k', 0xe2, 0x84, 0xaa },	/* U+212A KELVIN SIGN */
};
#define NSPECIALS	(sizeof(specials) / sizeof(specials[0]))

/* c in [lo, hi] and of the given parity (the upper-case member of a
 * regular upper/lower pair) */
static int
pair(uint32_t c, uint32_t lo, uint32_t hi, unsigned upper_parity)
{
	return c >= lo && c <= hi && (c & 1) == upper_parity;
}

uint32_t
textsearch_fold(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c < 0x100) {
		if (c == 0xb5)
			return 0x3bc;
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			return c + 32;
		return c;
	}
	if (c < 0x180) {
		switch (c) {
		case 0x130:
			return 'i';
		case 0x131: case 0x138: case 0x149:
			return c;
		case 0x178:
			return 0xff;
		case 0x17f:
			return 's';
		}
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return c & 1 ? c + 1 : c;
		return c & 1 ? c : c + 1;
	}
	if (c < 0x250) {
		if (pair(c, 0x1cd, 0x1dc, 1) || pair(c, 0x1de, 0x1ef, 0) ||
		    pair(c, 0x1f8, 0x21f, 0) || pair(c, 0x222, 0x233, 0) ||
		    pair(c, 0x246, 0x24f, 0))
			return c + 1;
		return c;
	}
	if (c >= 0x370 && c < 0x400) {
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if ((c >= 0x391 && c <= 0x3a1) || (c >= 0x3a3 && c <= 0x3ab))
			return c + 32;
		if (c == 0x3c2)
			return 0x3c3;
		if (pair(c, 0x3d8, 0x3ef, 0))
			return c + 1;
		return c;
	}
	if (c >= 0x400 && c < 0x530) {
		if (c < 0x410)
			return c + 80;
		if (c < 0x430)
			return c + 32;
		if (c == 0x4c0)
			return 0x4cf;
		if (pair(c, 0x460, 0x481, 0) || pair(c, 0x48a, 0x4bf, 0) ||
		    pair(c, 0x4c1, 0x4ce, 1) || pair(c, 0x4d0, 0x52f, 0))
			return c + 1;
		return c;
	}
	if (c >= 0x531 && c <= 0x556)
		return c + 48;
	if (c >= 0x1e00 && c < 0x1f00) {
		if (c == 0x1e9e)
			return 0xdf;
		if (pair(c, 0x1e00, 0x1e95, 0) || pair(c, 0x1ea0, 0x1eff, 0))
			return c + 1;
		return c;
	}
	/* Greek Extended: in its first blocks of sixteen, the upper half
	 * holds the capitals of the lower half */
	if (c >= 0x1f08 && c <= 0x1f6f && (c & 0xf) >= 8)
		return c - 8;
	switch (c) {
	case 0x2126:
		return 0x3c9;
	case 0x212a:
		return 'k';
	case 0x212b:
		return 0xe5;
	}
	if (c >= 0x2160 && c <= 0x216f)
		return c + 16;
	if (c >= 0x24b6 && c <= 0x24cf)
		return c + 26;
	if (c >= 0xff21 && c <= 0xff3a)
		return c + 32;
	return c;
}

/* The first byte of the UTF-8 form of cp. */
static unsigned
lead_byte(unsigned cp)
{
	if (cp < 0x80)
		return cp;
	if (cp < 0x800)
		return 0xc0 | cp >> 6;
	if (cp < 0x10000)
		return 0xe0 | cp >> 12;
	return 0xf0 | cp >> 18;
}

/*
 * Mark the lead bytes of every character that folds to the needle's first
 * one.  Each rule of textsearch_fold() adds a fixed offset, so the
 * characters that can fold to t are t minus one of these offsets, or one
 * of the irregular ones; each candidate is checked with the fold itself.
 */
static void
mark_starts(struct textsearch *ts)
{
	static const int32_t offsets[] = {
		0, 1, -8, 16, 26, 32, 37, 48, 63, 80,
	};
	static const uint32_t irregular[] = {
		0xb5, 0x130, 0x178, 0x17f, 0x386, 0x38c, 0x3c2, 0x4c0,
		0x1e9e, 0x2126, 0x212a, 0x212b,
	};
	uint32_t t = ts->pat[0], c;
	size_t i;

	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		c = t - (uint32_t)offsets[i];
		if (c < 0x110000 && textsearch_fold(c) == t)
			ts->start[lead_byte(c)] = 1;
	}
	for (i = 0; i < sizeof(irregular) / sizeof(irregular[0]); i++)
		if (textsearch_fold(irregular[i]) == t)
			ts->start[lead_byte(irregular[i])] = 1;
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
	unsigned k;

	for (i = 0; i < ts->plen; i++)
		if (ts->pat[i] >= 0x80)
			return 0;
	if (ts->plen == 0)
		return 0;
	if ((ts->ascii = malloc(ts->plen)) == NULL)
		return -1;
	for (i = 0; i < ts->plen; i++)
		ts->ascii[i] = (unsigned char)ts->pat[i];
	ts->r1 = 0;
	for (i = 1; i < ts->plen; i++)
		if (commonness(ts->ascii[i]) < commonness(ts->ascii[ts->r1]))
			ts->r1 = i;
	ts->r2 = ts->r1;
	for (i = 0; i < ts->plen; i++)
		if (i != ts->r1 && (ts->r2 == ts->r1 ||
		    commonness(ts->ascii[i]) < commonness(ts->ascii[ts->r2])))
			ts->r2 = i;
	for (k = 0; k < NSPECIALS; k++)
		if (memchr(ts->ascii, specials[k].letter, ts->plen) != NULL)
			ts->special |= 1U << k;
	return 0;
}

/* One character of text, folded. */
static void
step(struct textsearch *ts, uint32_t c)
{
	c = textsearch_fold(c);
	while (ts->state > 0 && ts->pat[ts->state] != c)
		ts->state = ts->fail[ts->state - 1];
	if (ts->pat[ts->state] == c && ++ts->state == ts->plen)
		ts->found = 1;
}

struct textsearch *
textsearch_new(const char *needle, size_t len)
{
	const unsigned char *s = (const unsigned char *)needle;
	struct textsearch *ts;
	size_t i, k;
	unsigned cp;
	int n;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	/* at most one character per byte */
	if ((ts->pat = calloc(len + 1, sizeof(*ts->pat))) == NULL ||
	    (ts->fail = calloc(len + 1, sizeof(*ts->fail))) == NULL) {
		textsearch_free(ts);
		return NULL;
	}
	for (i = 0; i < len; i += (size_t)n) {
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0) {
			n = 1;
			cp = REPLACEMENT;
		}
		ts->pat[ts->plen++] = textsearch_fold(cp);
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

/* Is one of the special characters (set sp) written at s[q], s[q + 1]?
 * Where its first byte could be before s, it is taken to be there. */
static int
special_at(const unsigned char *s, size_t q, unsigned sp)
{
	unsigned k;

	for (k = 0; k < NSPECIALS; k++)
		if ((sp & 1U << k) && s[q] == specials[k].b0 &&
		    s[q + 1] == specials[k].b1 && (specials[k].lead == 0 ||
		    q == 0 || s[q - 1] == specials[k].lead))
			return 1;
	return 0;
}

int
textsearch_bytes(const struct textsearch *ts, const char *text, size_t len,
    int utf8)
{
	const unsigned char *s = (const unsigned char *)text, *n = ts->ascii;
	size_t m = ts->plen, r1 = ts->r1, r2 = ts->r2, i = 0, q;
	unsigned sp = utf8 ? ts->special : 0;
	int unsure = 0;

	if (m == 0)
		return 1;
	if (n == NULL || len < m)
		return 0;
#ifdef __SSE2__
	{
		/* every position of a round can hold the needle, and
		 * the byte after the last one can be read */
		size_t reach = m - 1 > (size_t)(sp != 0) ? m - 1 :
		    (size_t)(sp != 0);
		__m128i c1 = _mm_set1_epi8((char)n[r1]);
		__m128i c2 = _mm_set1_epi8((char)n[r2]);
		__m128i o1 = _mm_set1_epi8(n[r1] >= 'a' && n[r1] <= 'z' ?
		    0x20 : 0);
		__m128i o2 = _mm_set1_epi8(n[r2] >= 'a' && n[r2] <= 'z' ?
		    0x20 : 0);
		__m128i s0[NSPECIALS], s1[NSPECIALS], a, b, hit;
		unsigned mask, k, j;

		for (k = 0; k < NSPECIALS; k++) {
			s0[k] = _mm_set1_epi8((char)specials[k].b0);
			s1[k] = _mm_set1_epi8((char)specials[k].b1);
		}
		for (; i + 16 + reach <= len; i += 16) {
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
			if (sp == 0 || unsure)
				continue;
			a = _mm_loadu_si128((const __m128i *)(s + i));
			b = _mm_loadu_si128((const __m128i *)(s + i + 1));
			hit = _mm_setzero_si128();
			for (k = 0; k < NSPECIALS; k++)
				if (sp & 1U << k)
					hit = _mm_or_si128(hit, _mm_and_si128(
					    _mm_cmpeq_epi8(a, s0[k]),
					    _mm_cmpeq_epi8(b, s1[k])));
			for (mask = (unsigned)_mm_movemask_epi8(hit);
			    mask != 0 && !unsure; mask &= mask - 1)
				unsure = special_at(s, i +
				    (unsigned)__builtin_ctz(mask), sp);
		}
	}
#endif
	for (q = i; sp != 0 && !unsure && q + 1 < len; q++)
		unsure = special_at(s, q, sp);
	for (; i + m <= len; i++)
		if (lower(s[i + r1]) == n[r1] && lower(s[i + r2]) == n[r2] &&
		    same(s + i, n, m))
			return 1;
	return unsure ? TEXTSEARCH_UNSURE : 0;
}
