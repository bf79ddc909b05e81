/*
 * seqset: IMAP sequence sets ("1:5,7,9:*"), for message numbers and UIDs.
 * Parsed into sorted, merged ranges, so membership is a binary search and
 * a set like "1:1000000000" costs one range, not a billion entries.
 */
#ifndef IMAPD_SEQSET_H
#define IMAPD_SEQSET_H

#include <stddef.h>
#include <stdint.h>

struct seqrange {
	uint32_t	lo;
	uint32_t	hi;
};

struct seqset {
	struct seqrange	*r;
	size_t		 n;
	uint32_t	 maxgiven;	/* largest explicit number in the text */
};

/*
 * Parse s; "*" stands for star (the highest number in use; 0 when the
 * mailbox is empty, which makes "*" match nothing).  Numbers are
 * 1..4294967295; a:b and b:a are the same range.  0, or -1 on a syntax
 * error, 0 as a number, or more than 100,000 ranges as written (before
 * merging).  The caller checks maxgiven against the number of messages
 * where that matters (sequence numbers).
 */
int	seqset_parse(const char *s, uint32_t star, struct seqset *);
void	seqset_free(struct seqset *);

int	seqset_contains(const struct seqset *, uint32_t);

/* Write the set in IMAP syntax (for COPYUID/APPENDUID) from a sorted
 * list of numbers; returns the characters written or -1 if out is too
 * small. */
struct buf;
int	seqset_format(const uint32_t *v, size_t n, struct buf *out);

/* The same from sorted, disjoint ranges. */
int	seqset_format_ranges(const struct seqrange *r, size_t n,
	    struct buf *out);

#endif
