/*
 * unicase: the mapping of the i;unicode-casemap comparator (RFC 5051),
 * which SEARCH (and SORT) compare text with: each character becomes its
 * simple titlecase, then its compatibility decomposition (NFKD), whose
 * characters are titlecased again.  So "a", "A" and the "A" inside "Ä"
 * (A and a combining diaeresis) all match, as do "ﬁ" and "FI".
 *
 * The table is generated from the Unicode database by
 * tools/gen-unicase.py (common/mail/unicase-table.h); Hangul syllables are
 * decomposed arithmetically.
 */
#ifndef COMMON_UNICASE_H
#define COMMON_UNICASE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define UNICASE_MAX	32	/* code points one character can map to */

/* The mapping of cp into out (room for UNICASE_MAX); the count, >= 1. */
size_t	unicase_map(uint32_t cp, uint32_t out[UNICASE_MAX]);

/* Whether cp (outside ASCII) maps to a sequence holding an ASCII
 * character: text holding one can match an ASCII needle it does not hold
 * byte for byte. */
int	unicase_has_ascii(uint32_t cp);

/* The Unicode version the mapping comes from ("14.0.0"): what was
 * computed under one mapping (a full-text index) is not valid under
 * another. */
const char *unicase_version(void);

/*
 * Append the mapping of the UTF-8 text s (len bytes; an invalid byte
 * stands for U+FFFD) as UTF-8: the form RFC 5051 compares, so that two
 * texts are equal under the comparator when their forms are the same
 * bytes, and order as their forms do under memcmp() (SORT).  0, or -1
 * when out is full or memory runs out.
 */
int	unicase_fold(const char *s, size_t len, struct buf *out);

#endif
