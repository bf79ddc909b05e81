/*
 * thread: the threading algorithms of THREAD (RFC 5256 3), over the keys
 * of the messages a search found, and the THREAD response.
 *
 * ORDEREDSUBJECT groups messages by base subject; REFERENCES rebuilds
 * each message's ancestry from Message-ID, References and In-Reply-To,
 * with dummy parents for messages that are missing, then groups the
 * threads whose subjects agree.  Both follow the RFC step by step; where
 * it leaves an order open (messages with the same sent date), sequence
 * numbers decide, as RFC 5256 2.2 says for sent dates.
 */
#ifndef IMAPD_THREAD_H
#define IMAPD_THREAD_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct sortkey;
struct thread;

enum thread_alg {
	THREAD_ORDEREDSUBJECT,
	THREAD_REFERENCES,
};

/* The algorithm of that name (any case).  0, or -1 if it is not one. */
int	thread_alg(const char *name, enum thread_alg *r);

/* Thread messages seqs[0..n) (ascending) with keys k[0..n).  NULL when
 * memory runs out. */
struct thread *thread_build(enum thread_alg, const struct sortkey *k,
	    const uint32_t *seqs, size_t n);

/* "* THREAD ..." with sequence numbers, or with UIDs if uid.  0, or -1
 * when memory runs out (nothing was written then). */
int	thread_write(struct session *, const struct thread *, int uid);

void	thread_free(struct thread *);

#endif
