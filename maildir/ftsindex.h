/*
 * ftsindex: the per-folder full-text index behind SEARCH.
 *
 * SEARCH BODY, TEXT, HEADER, SUBJECT, FROM, TO, CC and BCC match any
 * substring of decoded text under i;unicode-casemap, so the index is a
 * filter, never an answer: for each message it covers it holds the
 * trigrams of the text those searches read (ngram.h), and a message that
 * lacks one of a needle's trigrams cannot match it.  Every other message
 * is searched as without an index.  A needle of fewer than three mapped
 * code points has no trigram: the index cannot help and is not asked.
 *
 * What the index covers is a set of UID ranges; the contract is that
 * every message of the folder whose UID lies in a covered range has all
 * its trigrams in the index.  (Messages expunged since may still have
 * postings, and UIDs that never named a message may be in a range: no
 * view shows either.)  A message not covered is searched by reading it,
 * so a partial index -- one being built, or one behind new mail --
 * answers exactly, only more slowly.  Everything is tied to the folder's
 * UIDVALIDITY.
 *
 * Files, their format, and why a crash never leaves a torn index: at the
 * top of ftsindex.c and in imapd-uidcache(5).  Readers never lock or
 * wait; writers take the index's own lock without waiting, and a writer
 * that does not get it leaves the work for later.
 */
#ifndef MAILDIR_FTSINDEX_H
#define MAILDIR_FTSINDEX_H

#include <stddef.h>
#include <stdint.h>

struct ftsindex;
struct ftsindex_batch;
struct message;

/*
 * The index of folder dir for uidvalidity, as far as it is on disk now
 * (nothing is written).  Never fails but for memory (NULL): a folder
 * without a usable index -- none, another version's, another
 * UIDVALIDITY's, a damaged one -- has an empty one, and its first writer
 * replaces the files.
 */
struct ftsindex *ftsindex_open(const char *dir, uint32_t uidvalidity);
void	ftsindex_close(struct ftsindex *);

/* Take in what other processes wrote since (cheap when nothing did). */
void	ftsindex_refresh(struct ftsindex *);

/* Whether uid is covered; the first UID at or above uid that is not. */
int	ftsindex_covered(const struct ftsindex *, uint32_t uid);
uint32_t ftsindex_uncovered_from(const struct ftsindex *, uint32_t uid);

/*
 * How many times what the index covers has shrunk, as this handle saw
 * it (a journal record that no longer reads as whole, an index set
 * aside, a compaction dropping expunged messages): whoever walks the
 * folder for uncovered messages starts again from its lowest UID when
 * this changes.
 */
unsigned ftsindex_losses(const struct ftsindex *);

/*
 * Set bit u of bits (limit bits, (limit + 63) / 64 words) for each
 * covered UID u below limit, clearing the others.
 */
void	ftsindex_coverage(const struct ftsindex *, uint32_t limit,
	    uint64_t *bits);

/*
 * The trigram keys of a needle for one kind of text (NGRAM_HEADER or
 * NGRAM_BODY), malloc'ed: n 0 when the needle is too short to look up.
 * 0, or -1 when memory runs out.
 */
int	ftsindex_keys(const char *needle, unsigned space, uint32_t **keys_r,
	    size_t *n_r);

/*
 * Of the UIDs below limit, set in bits (as ftsindex_coverage() lays them
 * out) those whose postings hold every one of the n keys (n > 0), and
 * clear the rest; a UID that is not covered means nothing there.  0, or
 * -1 when memory runs out or the index turns out damaged (then it is
 * not to be used; ftsindex_damaged() says which, and the next writer
 * sets it aside and starts again).
 */
int	ftsindex_lookup(struct ftsindex *, const uint32_t *keys, size_t n,
	    uint32_t limit, uint64_t *bits);

/* Whether damage was seen: the index answers nothing any more. */
int	ftsindex_damaged(const struct ftsindex *);

/*
 * Postings of messages not yet written, in memory.  ftsindex_batch_add()
 * takes one message's text (message_text()) under uid: 0, or -1 with
 * errno (E2BIG: too varied a text to be worth indexing; ENOMEM; an error
 * reading the file), and then nothing of it was added.  A UID is added
 * once per batch.  ftsindex_batch_cover() declares first..last covered
 * once every message of the folder in that range was added (UIDs that
 * name no message may be in it; none that another batch holds).
 */
struct ftsindex_batch *ftsindex_batch_new(void);
void	ftsindex_batch_free(struct ftsindex_batch *);
int	ftsindex_batch_add(struct ftsindex_batch *, uint32_t uid,
	    struct message *);
int	ftsindex_batch_cover(struct ftsindex_batch *, uint32_t first,
	    uint32_t last);
/* Give back the memory only adding needs (half a megabyte), and all
 * of it when the batch is empty: for a session at rest. */
void	ftsindex_batch_shrink(struct ftsindex_batch *);

/* The bytes of postings the batch holds (its memory is at most twice
 * that, or a few megabytes), and how many messages. */
size_t	ftsindex_batch_bytes(const struct ftsindex_batch *);
size_t	ftsindex_batch_count(const struct ftsindex_batch *);

/*
 * Write the batch to the folder's index (one append to its journal) and
 * empty it; the handle sees it at once.  0, or -1 with errno: EAGAIN
 * when another writer (or this handle's compaction) holds the lock, and
 * the batch is kept for a later try; anything else, and the batch was
 * dropped (its messages stay uncovered, to be indexed again).  ESTALE:
 * the directory at the folder's path is no longer the one the handle
 * was opened on (the folder was deleted or renamed); nothing is written
 * there, by this call or by compaction and reset, which fail alike.
 */
int	ftsindex_write(struct ftsindex *, struct ftsindex_batch *);

/*
 * The claim to index the folder's messages: one process at a time does
 * it, and the others leave it to that one rather than read the same
 * messages.  0, or -1 with errno (EAGAIN: another process has it).  It
 * goes with the handle.
 */
int	ftsindex_claim(struct ftsindex *);
void	ftsindex_unclaim(struct ftsindex *);

/*
 * Compaction: the journal merged into a new snapshot, in steps, so that
 * a session does it between commands without stalling.  _due says the
 * journal has grown enough to be worth it.  _begin takes the lock (-1
 * with EAGAIN when someone has it) and keeps it until the end; UIDs
 * below floor whose bit is clear in live (floor bits) name expunged
 * messages, whose postings are dropped.  _step works for about
 * budget_ms: 1 done, 0 not yet, -1 given up (lock released; errno).
 * _abort gives up (leaving the old index as it was).
 */
int	ftsindex_compact_due(const struct ftsindex *);
int	ftsindex_compacting(const struct ftsindex *);
int	ftsindex_compact_begin(struct ftsindex *, const uint64_t *live,
	    uint32_t floor);
int	ftsindex_compact_step(struct ftsindex *, int budget_ms);
void	ftsindex_compact_abort(struct ftsindex *);

/*
 * After damage was seen: take the lock, set the files aside as
 * *.damaged if they are still the damaged ones, log it once, and start
 * an empty index.  0, or -1 with errno (EAGAIN: locked; try later).
 */
int	ftsindex_reset(struct ftsindex *);

/*
 * For imapd-cache(8): what the index is, and whether every posting list
 * holds together (each list of the snapshot and of the journal's records
 * read whole, CRCs checked, UIDs decoded).  Nothing is written, and
 * damage found is not recorded in the handle.
 */
enum ftsindex_state {
	FTSINDEX_NONE,		/* no files */
	FTSINDEX_FOREIGN,	/* another version's, text's or UIDVALIDITY's */
	FTSINDEX_DAMAGED,	/* a header or directory fails its checks */
	FTSINDEX_OK
};
struct ftsindex_info {
	enum ftsindex_state	 state;
	uint64_t		 snapshot_bytes, journal_bytes;
	size_t			 records;	/* of the journal, good ones */
	size_t			 keys;		/* lists of the snapshot */
	size_t			 lists;		/* lists checked in all */
	size_t			 bad_lists;	/* failing a CRC or decoding */
	size_t			 ranges;	/* covered UID ranges, joined */
};
int	ftsindex_inspect(struct ftsindex *, struct ftsindex_info *);

/*
 * Remove the index's files under its lock, so that it is built anew:
 * 0, or -1 with errno (EAGAIN: a writer has the lock).
 */
int	ftsindex_clear(struct ftsindex *);

/* Sizes, for the log: bytes of the snapshot and the journal on disk. */
void	ftsindex_sizes(const struct ftsindex *, uint64_t *snapshot_r,
	    uint64_t *journal_r);

/* Test hook: when not NULL, called at each numbered step of a write
 * (FTSINDEX_STEP_*), so that a test can kill the process there.  Never
 * set in the server. */
#define FTSINDEX_STEP_APPEND		1	/* before the journal append */
#define FTSINDEX_STEP_APPENDED		2	/* after it */
#define FTSINDEX_STEP_SNAP_WRITTEN	3	/* new snapshot synced */
#define FTSINDEX_STEP_SNAP_RENAMED	4	/* renamed into place */
#define FTSINDEX_STEP_JOURNAL_RENAMED	5	/* new journal in place */
extern void (*ftsindex_test_step)(int step);

#endif
