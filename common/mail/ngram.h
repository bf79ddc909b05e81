/*
 * ngram: the trigrams of text as SEARCH compares it, which are the keys
 * of the full-text index (maildir/ftsindex.h).
 *
 * SEARCH finds a needle when its i;unicode-casemap mapping (unicase.h)
 * is a run of the mapped text of one unit that message_text() hands
 * out.  Every three consecutive code points of that run are then three
 * consecutive code points of the unit's mapped text: a message whose
 * trigrams lack one of the needle's cannot match, and one that has them
 * all may (the index is a filter; the message is still searched).  A
 * needle of fewer than three mapped code points has no trigram and
 * cannot be looked up.
 *
 * Text is decoded as textsearch_feed() decodes it, so both see the same
 * code points: UTF-8, an invalid byte standing for U+FFFD, a character
 * cut by the end of a unit standing for nothing.
 *
 * A key is 32 bits: the top bit says which text it comes from
 * (NGRAM_HEADER or NGRAM_BODY), the others the trigram itself, exactly
 * when its three code points are ASCII (7 bits each) and hashed
 * otherwise (into the keys at or above 2^21, so never onto an ASCII
 * one).  Two trigrams with one hash only make the filter let more
 * through.  NGRAM_NONE is never a key.
 */
#ifndef COMMON_NGRAM_H
#define COMMON_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#define NGRAM_HEADER	0
#define NGRAM_BODY	1
#define NGRAM_NONE	0xffffffffU

/* The most distinct keys one message may have; past it, ngram_feed()
 * fails with E2BIG (the message is too varied to index usefully). */
#define NGRAM_KEYS_MAX	(4U * 1024 * 1024)

struct ngram;

/* An empty set.  NULL when memory runs out. */
struct ngram *ngram_new(void);
void	ngram_free(struct ngram *);

/* Forget every key (a new message); memory is kept for the next. */
void	ngram_clear(struct ngram *);

/* A new unit of text of the kind space begins: no trigram spans the
 * boundary. */
void	ngram_unit(struct ngram *, unsigned space);

/* Add the trigrams of the next piece of the current unit.  0, or -1
 * with errno ENOMEM or E2BIG. */
int	ngram_feed(struct ngram *, const char *text, size_t len);

/* The distinct keys added since the last clear, in no order; valid
 * until the next call that changes the set. */
size_t	ngram_count(const struct ngram *);
const uint32_t *ngram_keys(const struct ngram *);

/*
 * The distinct keys of needle (UTF-8, len bytes) in space, malloc'ed
 * into *keys_r, *n_r of them: none when the needle maps to fewer than
 * three code points.  0, or -1 when memory runs out.
 */
int	ngram_needle(const char *needle, size_t len, unsigned space,
	    uint32_t **keys_r, size_t *n_r);

#endif
