/*
 * esearch: the result options of SEARCH (RFC 4731 ESEARCH, RFC 5182
 * SEARCHRES) and of SORT (RFC 5267 ESORT), and the ESEARCH response that
 * carries them.
 *
 * SEARCH gives its matches in ascending order and SORT in the order it
 * sorted them; the options read that order: MIN is the first, MAX the
 * last, ALL the list as a sequence set that keeps it (ranges only where
 * numbers ascend one by one, RFC 5267 3.2).
 */
#ifndef IMAPD_ESEARCH_H
#define IMAPD_ESEARCH_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct request;
struct imap_arg;

#define ESEARCH_MIN	0x01
#define ESEARCH_MAX	0x02
#define ESEARCH_COUNT	0x04
#define ESEARCH_ALL	0x08
#define ESEARCH_SAVE	0x10	/* SEARCHRES */

/* The options of "RETURN (...)" (an empty list means ALL) into *ret.
 * 0, or -1 for something that is not a list of known options. */
int	esearch_return(const struct imap_arg *, unsigned *ret);

/*
 * Answer with the result of a SEARCH or SORT, hits[0..n) (UIDs for a UID
 * command, sequence numbers otherwise): keep it as "$" if ret asks SAVE
 * (RFC 5182: all of it, or only the MIN and MAX messages when those are
 * all that was asked besides SAVE, in UIDs so that expunges cannot shift
 * it); then, if esearch, "* ESEARCH (TAG ...) [UID] ..." with the options
 * in ret (nothing when SAVE was all that was asked), else "* name n n
 * ..."; with "MODSEQ n" when withmodseq and something matched (RFC 7162
 * 3.1.5).
 */
void	esearch_result(struct session *, const struct request *,
	    const char *name, const uint32_t *hits, size_t n, unsigned ret,
	    int esearch, int withmodseq, uint64_t maxmodseq);

#endif
