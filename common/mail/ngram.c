/*
 * ngram: trigram keys of mapped text.  See ngram.h.
 *
 * The set is the list of its keys, and to tell whether a key is in it
 * already, a bitmap of every ASCII key of both kinds of text (2^22 bits,
 * 512 KiB: most keys are ASCII, and a bit test is all they cost) and an
 * open-addressing hash table for the others (NGRAM_NONE marks a free
 * slot).  Clearing undoes only what the list names, so a small message
 * after a large one costs what it holds, not what the set grew to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/mail/charset.h"
#include "common/mail/ngram.h"
#include "common/mail/unicase.h"

#define REPLACEMENT	0xfffdU
#define ASCII_KEYS	(1U << 21)	/* keys below are three ASCII cps */

struct ngram {
	uint64_t	*ascii;		/* ASCII keys present, by space */
	uint32_t	*slot;
	size_t		 cap;		/* slots, a power of two */
	uint32_t	*list;
	size_t		 n, listcap;
	uint32_t	 space;		/* the current unit's top bit */
	uint32_t	 w[3];		/* the last three code points */
	unsigned	 have;		/* how many of them the unit has */
	uint32_t	 roll;		/* the last three, 7 bits each */
	unsigned	 wide;		/* of them, how many are not ASCII */
	unsigned char	 part[4];	/* a character cut by a piece end */
	unsigned	 npart;
};

static uint32_t
mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bU;
	h ^= h >> 13;
	h *= 0xc2b2ae35U;
	h ^= h >> 16;
	return h;
}

static uint32_t
key_of(uint32_t space, uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h;

	if ((a | b | c) < 0x80)
		return space | a << 14 | b << 7 | c;
	h = mix(a * 0x9e3779b1U ^ mix(b * 0x85ebca77U ^ mix(c)));
	/* 2^21 .. 2^31 - 2: the top key of the body space stays free */
	return space | (ASCII_KEYS + h % (0x7fffffffU - ASCII_KEYS));
}

/* The bit of an ASCII key in the bitmap. */
static size_t
ascii_bit(uint32_t key)
{
	return (size_t)(key >> 31) << 21 | (key & (ASCII_KEYS - 1));
}

static int
grow(struct ngram *ng)
{
	size_t cap = ng->cap ? ng->cap * 2 : 4096, i, k;
	uint32_t *t, *l;

	if (ng->n >= NGRAM_KEYS_MAX) {
		errno = E2BIG;
		return -1;
	}
	if ((t = malloc(cap * sizeof(*t))) == NULL)
		return -1;
	if ((l = reallocarray(ng->list, cap / 2, sizeof(*l))) == NULL) {
		free(t);
		return -1;
	}
	memset(t, 0xff, cap * sizeof(*t));
	for (i = 0; i < ng->n; i++) {
		if ((l[i] & 0x7fffffffU) < ASCII_KEYS)
			continue;
		for (k = (l[i] * 0x9e3779b1U) & (cap - 1); t[k] != NGRAM_NONE;
		    k = (k + 1) & (cap - 1))
			;
		t[k] = l[i];
	}
	free(ng->slot);
	ng->slot = t;
	ng->cap = cap;
	ng->list = l;
	ng->listcap = cap / 2;
	return 0;
}

static int
add(struct ngram *ng, uint32_t key)
{
	size_t k, mask;

	if (ng->n + 1 > ng->listcap && grow(ng) == -1)
		return -1;
	if ((key & 0x7fffffffU) < ASCII_KEYS) {
		k = ascii_bit(key);
		if (ng->ascii[k / 64] & (1ULL << (k % 64)))
			return 0;
		ng->ascii[k / 64] |= 1ULL << (k % 64);
		ng->list[ng->n++] = key;
		return 0;
	}
	mask = ng->cap - 1;
	for (k = (key * 0x9e3779b1U) & mask; ng->slot[k] != NGRAM_NONE;
	    k = (k + 1) & mask)
		if (ng->slot[k] == key)
			return 0;
	ng->slot[k] = key;
	ng->list[ng->n++] = key;
	return 0;
}

/* One mapped code point of the current unit. */
static int
push(struct ngram *ng, uint32_t cp)
{
	size_t k;

	ng->wide -= ng->w[0] >= 0x80;
	ng->wide += cp >= 0x80;
	ng->w[0] = ng->w[1];
	ng->w[1] = ng->w[2];
	ng->w[2] = cp;
	ng->roll = (ng->roll << 7 | (cp & 0x7f)) & (ASCII_KEYS - 1);
	if (ng->have < 3 && ++ng->have < 3)
		return 0;
	if (ng->wide > 0)
		return add(ng, key_of(ng->space, ng->w[0], ng->w[1],
		    ng->w[2]));
	/* the common case, inline: three ASCII code points */
	k = (size_t)(ng->space >> 31) << 21 | ng->roll;
	if (ng->ascii[k / 64] & (1ULL << (k % 64)))
		return 0;
	if (ng->n + 1 > ng->listcap && grow(ng) == -1)
		return -1;
	ng->ascii[k / 64] |= 1ULL << (k % 64);
	ng->list[ng->n++] = ng->space | ng->roll;
	return 0;
}

/* One character of text: the code points it maps to. */
static int
character(struct ngram *ng, uint32_t cp)
{
	uint32_t m[UNICASE_MAX];
	size_t n, k;

	if (cp < 0x80)
		return push(ng, cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
	n = unicase_map(cp, m);
	for (k = 0; k < n; k++)
		if (push(ng, m[k]) == -1)
			return -1;
	return 0;
}

struct ngram *
ngram_new(void)
{
	struct ngram *ng = calloc(1, sizeof(*ng));

	if (ng == NULL)
		return NULL;
	if ((ng->ascii = calloc(2 * ASCII_KEYS / 64, sizeof(*ng->ascii))) ==
	    NULL || grow(ng) == -1) {
		free(ng->ascii);
		free(ng);
		return NULL;
	}
	return ng;
}

void
ngram_free(struct ngram *ng)
{
	if (ng == NULL)
		return;
	free(ng->ascii);
	free(ng->slot);
	free(ng->list);
	free(ng);
}

void
ngram_clear(struct ngram *ng)
{
	size_t i, k, mask = ng->cap - 1, wide = 0;

	for (i = 0; i < ng->n; i++) {
		if ((ng->list[i] & 0x7fffffffU) >= ASCII_KEYS) {
			wide++;
			continue;
		}
		k = ascii_bit(ng->list[i]);
		ng->ascii[k / 64] &= ~(1ULL << (k % 64));
	}
	if (wide * 8 > ng->cap)
		memset(ng->slot, 0xff, ng->cap * sizeof(*ng->slot));
	else
		for (i = 0; wide > 0 && i < ng->n; i++) {
			if ((ng->list[i] & 0x7fffffffU) < ASCII_KEYS)
				continue;
			for (k = (ng->list[i] * 0x9e3779b1U) & mask;
			    ng->slot[k] != ng->list[i]; k = (k + 1) & mask)
				;
			ng->slot[k] = NGRAM_NONE;
		}
	ng->n = 0;
	ngram_unit(ng, NGRAM_HEADER);
}

void
ngram_unit(struct ngram *ng, unsigned space)
{
	ng->space = space == NGRAM_BODY ? 0x80000000U : 0;
	ng->have = 0;
	ng->npart = 0;
	ng->roll = 0;
	ng->wide = 0;
	ng->w[0] = ng->w[1] = ng->w[2] = 0;
}

int
ngram_feed(struct ngram *ng, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	unsigned cp;
	int n;

	/* finish a character cut by the end of the last piece, reading
	 * the bytes again one by one where it turns out bad, as
	 * textsearch_feed() does */
	while (ng->npart > 0) {
		unsigned char tmp[8];
		size_t tl = ng->npart, take = len - i < 4 ? len - i : 4;

		memcpy(tmp, ng->part, tl);
		memcpy(tmp + tl, s + i, take);
		tl += take;
		n = charset_utf8_seq(tmp, tl, &cp);
		if (n == 0) {
			memcpy(ng->part, tmp, tl);
			ng->npart = (unsigned)tl;
			return 0;
		}
		if (n < 0) {
			cp = REPLACEMENT;
			n = 1;
		}
		if (character(ng, cp) == -1)
			return -1;
		if ((unsigned)n < ng->npart) {
			ng->npart -= (unsigned)n;
			memmove(ng->part, ng->part + n, ng->npart);
		} else {
			i += (size_t)n - ng->npart;
			ng->npart = 0;
		}
	}
	while (i < len) {
		if (s[i] < 0x80) {
			if (character(ng, s[i++]) == -1)
				return -1;
			continue;
		}
		n = charset_utf8_seq(s + i, len - i, &cp);
		if (n > 0) {
			i += (size_t)n;
		} else if (n == 0) {
			memcpy(ng->part, s + i, len - i);
			ng->npart = (unsigned)(len - i);
			return 0;
		} else {
			cp = REPLACEMENT;
			i++;
		}
		if (character(ng, cp) == -1)
			return -1;
	}
	return 0;
}

size_t
ngram_count(const struct ngram *ng)
{
	return ng->n;
}

const uint32_t *
ngram_keys(const struct ngram *ng)
{
	return ng->list;
}

int
ngram_needle(const char *needle, size_t len, unsigned space,
    uint32_t **keys_r, size_t *n_r)
{
	const unsigned char *s = (const unsigned char *)needle;
	struct ngram *ng;
	uint32_t *k = NULL;
	size_t i;
	unsigned cp;
	int n;

	*keys_r = NULL;
	*n_r = 0;
	if ((ng = ngram_new()) == NULL)
		return -1;
	ngram_unit(ng, space);
	/* as textsearch_new() reads a needle: a bad or cut sequence is one
	 * U+FFFD per byte */
	for (i = 0; i < len; i += (size_t)n) {
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0) {
			n = 1;
			cp = REPLACEMENT;
		}
		if (character(ng, cp) == -1) {
			ngram_free(ng);
			return -1;
		}
	}
	if (ng->n > 0 && (k = malloc(ng->n * sizeof(*k))) == NULL) {
		ngram_free(ng);
		return -1;
	}
	if (k != NULL)
		memcpy(k, ng->list, ng->n * sizeof(*k));
	*keys_r = k;
	*n_r = ng->n;
	ngram_free(ng);
	return 0;
}
