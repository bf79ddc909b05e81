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

/*
 * Parse criteria from args[0..n).  NULL on error with *why_r (a sentence
 * for BAD) and *badcharset_r set when the error is an unknown CHARSET.
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
 * Let the folder's full-text index (may be NULL) rule messages out for
 * the text criteria, before the first search_match().  The answers stay
 * the same; fewer messages are read.
 */
struct ftsindex;
void	search_use_index(struct session *, struct search *,
	    struct ftsindex *);

/* The first message at or after seq that may match (count + 1 when
 * none): seq itself unless the index ruled it out.  Every other message
 * does not match. */
uint32_t search_next(struct session *, const struct search *, uint32_t seq);

#endif
