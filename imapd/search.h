/*
 * search: SEARCH criteria (RFC 9051 6.4.4): parsing into a tree and
 * evaluation against the selected mailbox.  Cheap tests (flags, UIDs,
 * sizes, dates) run before anything that opens a message file, and a
 * message is opened at most once per search.
 */
#ifndef IMAPD_SEARCH_H
#define IMAPD_SEARCH_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct imap_arg;
struct search;

/* Whether strings in a charset of that name can be searched for (SEARCH
 * CHARSET, and the charset argument of SORT and THREAD). */
int	search_charset(const char *name);

/*
 * Parse criteria from args[0..n).  NULL on error with *why_r (a sentence
 * for BAD) and *badcharset_r set when the error is an unknown CHARSET.
 * After ENABLE UTF8=ACCEPT any CHARSET is an error for BAD (RFC 6855 3).
 */
struct search *search_parse(struct session *, const struct imap_arg *args,
	    size_t n, const char **why_r, int *badcharset_r);
void	search_free(struct search *);

/* Has the search a MODSEQ criterion (RFC 7162 3.1.5)?  Then it is a
 * CONDSTORE enabling command and its answer carries the highest MODSEQ
 * of what matched. */
int	search_has_modseq(const struct search *);

/* Evaluate for message seq of the selected mailbox: 1 match, 0 no,
 * -1 the message vanished (treated as no match by callers). */
int	search_match(struct session *, struct search *, uint32_t seq);

/*
 * Evaluate for every message of the selected mailbox: the sequence
 * numbers that match, ascending, in *seqs_r (malloc'ed, room for one
 * more), and with a MODSEQ criterion the highest MODSEQ among them in
 * *maxmodseq_r (else 0).  Sizes and dates learned on the way are kept in
 * the UID cache.  Text criteria ask the folder's full-text index first
 * (ftsindex.h), so that only the messages that may match are read; the
 * answer is the same.  0, or -1 when memory runs out.
 */
int	search_run(struct session *, struct search *, uint32_t **seqs_r,
	    size_t *n_r, uint64_t *maxmodseq_r);

#endif
