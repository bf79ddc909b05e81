/*
 * indexer: keeps the selected folder's full-text index (ftsindex.h)
 * current from the background of the session.
 *
 * Whenever the session waits for its client -- between commands, and
 * during IDLE -- and the folder has messages its index does not cover
 * (a folder never indexed, mail delivered or appended since, copies and
 * moves in), the session indexes them in slices of a few milliseconds,
 * looking for input between slices, so a command never waits longer
 * than one slice.  Postings gather in memory (a few megabytes at most)
 * and go to the index's journal now and then; the journal is merged into
 * the snapshot in slices as well.  A search meanwhile uses what the index
 * covers and reads the other messages, so no search waits for indexing.
 * Nothing is indexed when imapd.conf says search_index = no.
 */
#ifndef IMAPD_INDEXER_H
#define IMAPD_INDEXER_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct ftsindex;

/* The selected folder's index, up to date with what other processes
 * wrote, for SEARCH; NULL when indexes are off (or memory is short). */
struct ftsindex *indexer_index(struct session *);

/* When there is indexing to do for the selected folder: 0 now, a number
 * of milliseconds (the index is locked by another process: try then),
 * or -1 for nothing to do. */
int	indexer_due_ms(struct session *);

/* Do about budget_ms of it. */
void	indexer_work(struct session *, int budget_ms);

/* The selected folder is being left: write what is pending for it if
 * that can be done at once, and let go of its index. */
void	indexer_close(struct session *);

/* The session ends: the same for every folder. */
void	indexer_end(struct session *);

/* How long one slice of work is, in milliseconds. */
#define INDEXER_SLICE_MS	20

#endif
