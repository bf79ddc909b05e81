/*
 * ftsindex-private.h: what the four files of the full-text index share:
 * the handle, a segment as it lies in a view, and the helpers one of
 * them calls in another.  ftsindex.c holds the format (at its top),
 * opening, reading and writing; ftsindex-list.c the byte form of posting
 * lists and segments and the CRCs; ftsindex-batch.c collects a batch and
 * builds its journal record; ftsindex-compact.c merges the snapshot and
 * the journal into a new snapshot.
 */
#ifndef MAILDIR_FTSINDEX_PRIVATE_H
#define MAILDIR_FTSINDEX_PRIVATE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"
#include "common/lib/mapfile.h"
#include "maildir/ftsindex.h"

#define FI_SNAP		"imapd-fts.index"
#define FI_LOG		"imapd-fts.log"
#define FI_LOCK		"imapd-fts.lock"
#define FI_PATH		4096
#define BYTE_WRITE	0	/* bytes of imapd-fts.lock */
#define BYTE_CLAIM	1

#define SNAP_MAGIC	0x58464d49U	/* "IMFX" */
#define LOG_MAGIC	0x4a464d49U	/* "IMFJ" */
#define REC_MAGIC	0x31524649U	/* "IFR1" */
#define FI_VERSION	1
/* bump when the text message_text() hands out or ngram's keys change */
#define TEXT_RULES	"imapd full-text 1, Unicode "
#define SNAP_HEAD	64
#define LOG_HEAD	32
#define REC_HEAD	12
#define REC_MAX		(256U * 1024 * 1024)
#define UID_LIMIT	0x80000000U

#define LIST_SPARSE	0
#define LIST_BITMAP	1

/* compaction */
#define JOURNAL_MIN	(1024 * 1024)
#define RECORDS_MAX	256
#define OUT_FLUSH	(1024 * 1024)
#define WRITEBACK	(16 * 1024 * 1024)
#define LOAD_TRIES	3


struct range {
	uint32_t	first, last;
};

/* A segment's lists and directory, where they lie in a view. */
struct seg {
	const unsigned char	*post;
	uint64_t		 plen;
	const unsigned char	*ranges;
	uint32_t		 r;
	const unsigned char	*keys;
	const unsigned char	*ends;
	const unsigned char	*crcs;	/* NULL in a journal record */
	uint32_t		 k;
};

struct compaction;

struct ftsindex {
	char		*dir;
	uint32_t	 uidv;
	/* the snapshot */
	struct mapfile	 snap;
	int		 have_snap;
	dev_t		 snapdev;
	ino_t		 snapino;
	int		 snap_seen;	/* a snapshot file was there */
	int		 snapfd;	/* it, held open: see fi_load() */
	uint64_t	 gen;
	uint64_t	 prevgen;
	struct seg	 sseg;
	/* the journal */
	struct mapfile	 jmap;
	int		 have_log;	/* a journal of the snapshot's */
	int		 log_seen;
	int		 logfd;
	dev_t		 logdev;
	ino_t		 logino;
	size_t		 jgood;		/* end of the last good record */
	unsigned char	 jstop[REC_HEAD]; /* what lay at jgood, if whole */
	int		 jstop_set;
	size_t		*recoff;
	struct seg	*recs;
	size_t		 nrec, caprec;
	/* what is covered: the segments' ranges, joined */
	struct range	*cov;
	size_t		 ncov;
	size_t		 ncov_built;	/* cov's length when built */
	unsigned	 losses;	/* times coverage shrank */
	int		 damaged;	/* 1 snapshot, 2 journal */
	dev_t		 damdev;
	ino_t		 damino;
	dev_t		 dirdev;	/* the folder's directory when */
	ino_t		 dirino;	/* opened; 0: there was none */
	int		 lockfd;	/* the write lock, when held */
	int		 claimfd;	/* the indexing claim, when held */
	struct compaction *cp;
};

struct ftsindex_batch {
	uint64_t	*pairs;		/* key << 32 | UID */
	size_t		 n, cap;
	struct range	*cov;
	size_t		 ncov, capcov;
	size_t		 nmsg;
	struct ngram	*ng;
};

struct compaction {
	struct seg	*seg;		/* what is merged: the handle's own */
	size_t		 nseg;
	int		 with_snap;	/* seg[0] is the snapshot */
	uint64_t	 prevgen;	/* the generation absorbed */
	uint32_t	*at;		/* per segment: its next key */
	const unsigned char **lp;	/* per segment: the key's list */
	uint64_t	*llen;
	uint64_t	*live;
	uint32_t	 floor;
	int		 fd;
	uint64_t	 gen;
	uint64_t	 written;	/* postings bytes on disk */
	uint64_t	 synced;
	struct buf	 out;		/* postings not yet written */
	uint32_t	*keys;
	uint64_t	*ends;
	uint32_t	*crcs;
	size_t		 nk, capk;
	uint32_t	*uids;
	size_t		 nuids, capuids;
	uint64_t	 total;		/* postings bytes so far */
};

/* ---- ftsindex.c -------------------------------------------------------- */

/* The text version of the keys this build makes (see SNAPSHOT). */
uint32_t	fi_text_version(void);

/* dir/name suffix into out (FI_PATH bytes); 0, or -1 (ENAMETOOLONG). */
int	fi_path(char *out, const char *dir, const char *name,
	    const char *suffix);

/* Sort and join ranges that overlap or touch; the new count. */
size_t	fi_ranges_join(struct range *r, size_t n);

/* Append the ranges of s to *v (*n of them, room for *cap); 0 or -1. */
int	fi_cov_add_seg(struct range **v, size_t *n, size_t *cap,
	    const struct seg *s);

/*
 * Everything from disk again.  Damage seen before stays seen while the
 * file it was seen in is still there.  The files viewed are held open:
 * a file's device and inode number are how a replaced one is told
 * (refresh), and a file system gives a freed inode number to the next
 * file it creates, so a view read into memory of a snapshot and journal
 * replaced twice could otherwise pass for current and have a writer
 * append in the middle of another's records.
 */
void	fi_load(struct ftsindex *fi);

/* The segments of the index, the snapshot first: how many, and one. */
size_t	fi_nsegs(const struct ftsindex *fi);
const struct seg *fi_segment(const struct ftsindex *fi, size_t i);

/* Mark the index damaged in the file s lies in, and say so in the log
 * once. */
void	fi_seen_damage(struct ftsindex *fi, const struct seg *s);

/* Tell a test that step n of a write is next (ftsindex_test_step). */
void	fi_step(int n);

/*
 * The write lock, in the directory the handle was opened on: once the
 * folder was deleted or renamed and another took its name, a session
 * still holding the old one must not write its messages' postings into
 * the newcomer's index (ESTALE).  0 or -1; fi_unlock() drops it.
 */
int	fi_lock(struct ftsindex *fi);
void	fi_unlock(struct ftsindex *fi);

/* Replace the journal by a bare one extending the snapshot of generation
 * gen (synced, renamed into place); 0 or -1. */
int	fi_new_journal(const struct ftsindex *fi, uint64_t gen);

/*
 * Under the lock: the files as they are, made fit to append to.  A
 * snapshot that is not ours goes (aside, if damaged), and so does a
 * journal that does not extend the snapshot.  0 or -1.
 */
int	fi_writable(struct ftsindex *fi);

/* ---- ftsindex-list.c --------------------------------------------------- */

/* The CRC of len bytes at p; a record's CRC: its length bytes, then its
 * body (past the CRC). */
uint32_t	fi_crc(const unsigned char *p, uint64_t len);
uint32_t	fi_record_crc(const unsigned char *rec, uint32_t len);

/* Append the list of uids (n > 0, strictly ascending) to out; 0 or -1. */
int	fi_list_encode(const uint32_t *uids, size_t n, struct buf *out);

/* The most UIDs a list can hold. */
uint64_t	fi_list_bound(const unsigned char *p, uint64_t len);

/*
 * The UIDs of a list, ascending, into out (room for fi_list_bound() of
 * them).  Their number, or -1 for a list that breaks the format.
 */
long	fi_list_uids(const unsigned char *p, uint64_t len, uint32_t *out);

/* OR the UIDs below limit of a list into bits.  0, or -1 (damage). */
int	fi_list_bits(const unsigned char *p, uint64_t len, uint32_t limit,
	    uint64_t *bits);

/* The directory of a segment whose postings are plen bytes at post and
 * whose directory follows at dir: set up s and check what can be checked
 * without reading the lists.  1 good, 0 not. */
int	fi_seg_init(struct seg *s, const unsigned char *post, uint64_t plen,
	    const unsigned char *dir, uint32_t r, uint32_t k, int with_crcs);

/* The index of key in s, or -1. */
long	fi_seg_find(const struct seg *s, uint32_t key);

/* List i of s: where it is and how long; its CRC checked if it has one.
 * 0, or -1 (damage).  fi_seg_list_len() is its length alone, unchecked. */
int	fi_seg_list(const struct seg *s, size_t i, const unsigned char **p_r,
	    uint64_t *len_r);
uint64_t	fi_seg_list_len(const struct seg *s, size_t i);

/* ---- ftsindex-batch.c -------------------------------------------------- */

/* Forget what b holds, keeping its n-gram state. */
void	fi_batch_empty(struct ftsindex_batch *b);

/* The batch as a journal record, into out; 0 or -1. */
int	fi_record_build(struct ftsindex_batch *b, struct buf *out);

#endif
