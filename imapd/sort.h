/*
 * sort: the sort program of SORT (RFC 5256 3, with DISPLAYFROM and
 * DISPLAYTO of RFC 5957 4) and the order it puts messages in.
 *
 * Strings compare as i;unicode-casemap has it (the keys are kept folded,
 * so as bytes), numbers as numbers; REVERSE turns one criterion around,
 * and messages equal under every criterion keep their mailbox order, also
 * under REVERSE (RFC 5256 3).
 */
#ifndef IMAPD_SORT_H
#define IMAPD_SORT_H

#include <stddef.h>
#include <stdint.h>

struct imap_arg;
struct sortkey;

#define SORT_CRITERIA_MAX	16

enum sort_by {
	SORT_ARRIVAL, SORT_CC, SORT_DATE, SORT_FROM, SORT_SIZE, SORT_SUBJECT,
	SORT_TO, SORT_DISPLAYFROM, SORT_DISPLAYTO,
};

struct sort_program {
	struct {
		enum sort_by	by;
		int		reverse;
	}		 c[SORT_CRITERIA_MAX];
	size_t		 n;
};

/* A parenthesized list of sort criteria.  0, or -1 with *why_r (a
 * sentence for BAD). */
int	sort_parse(const struct imap_arg *, struct sort_program *,
	    const char **why_r);

/*
 * The order of messages seqs[0..n) with keys k[0..n): idx_r[j] is the
 * index (into seqs and k) of the j-th message.  0, or -1 when memory runs
 * out.
 */
int	sort_order(const struct sort_program *, const struct sortkey *k,
	    const uint32_t *seqs, size_t n, size_t *idx_r);

#endif
