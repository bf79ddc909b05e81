/*
 * uidcache: the per-folder UID cache, on tinycdb.
 *
 * One cache per folder, in the folder's directory beside cur/.  It is the
 * only place where UIDs come from, and it keeps the contract every other
 * part relies on:
 *
 *  1. every message base name has exactly one UID for the folder's
 *     UIDVALIDITY; UIDs grow in the order messages are added and are never
 *     given again, even after expunge;
 *  2. UIDVALIDITY changes only when the cache is lost or damaged beyond
 *     repair, and then to a value greater than any given before;
 *  3. a crash at any point (kill -9, or power loss after an fsync) leaves
 *     the old or the new state, never a UID given twice; a damaged cache is
 *     detected, logged and set aside, and a new one is started;
 *  4. many processes may use a folder at once: changes are serialized by
 *     one lock per folder; readers never wait for a writer;
 *  5. it keeps, per message, the UID, flags and keywords last seen in the
 *     file name, the RFC822.SIZE (CRLF-counted) and INTERNALDATE once
 *     known, and a MODSEQ; per folder UIDNEXT, HIGHESTMODSEQ, the first
 *     UID not yet given \Recent to a session, the recently expunged UIDs
 *     with their MODSEQ, and the cur/ and new/ modification times seen at
 *     the last full directory scan;
 *  6. UIDs and UIDVALIDITY stay below 2^31;
 *  7. on first use in a folder that has Dovecot's dovecot-uidlist or
 *     Courier's courierimapuiddb, their UIDVALIDITY, UIDs and next UID are
 *     taken over, so clients moving from those servers keep their caches.
 *
 * The on-disk format is described at the top of uidcache.c and in
 * imapd-uidcache(5).  This module knows nothing of directory scans: the Maildir
 * sync code (mailbox-sync.c) decides what to add, change or expunge.
 *
 * Lifetime of returned data: struct uc_rec strings stay valid until the
 * next call on the same cache that can load new state (uidcache_refresh,
 * uidcache_lock) or change it (any writer call).
 *
 * A handle belongs to the process that opened it.  After fork(), a child
 * may close an inherited handle (even a locked one: the parent keeps its
 * lock and its uncommitted changes) but should open its own to use the
 * cache.
 */
#ifndef MAILDIR_UIDCACHE_H
#define MAILDIR_UIDCACHE_H

#include <stddef.h>
#include <stdint.h>

#define UC_UID_MAX		0x7fffffffU
#define UC_MTIME_UNKNOWN	INT64_MIN

struct uidcache;

/* One message as the cache knows it. */
struct uc_rec {
	uint32_t	 uid;
	unsigned	 flags;		/* MF_* from filename.h */
	uint32_t	 keywords;	/* bit n = keyword letter 'a' + n */
	uint64_t	 modseq;
	uint64_t	 vsize;		/* RFC822.SIZE, or MD_SIZE_UNKNOWN */
	int64_t		 mtime;		/* INTERNALDATE (s), or UC_MTIME_UNKNOWN */
	int		 in_new;	/* last seen in new/ rather than cur/ */
	const char	*base;		/* base name, NUL-terminated */
	const char	*info;		/* rest of the file name after the base
					 * (":2,FS" or ""), so that the file is
					 * (new|cur)/<base><info> */
};

/* The directory modification times seen at the last full scan. */
struct uc_dirstamp {
	int64_t		 cur_ns;	/* st_mtim of cur/, nanoseconds */
	int64_t		 new_ns;
	int64_t		 scanned_ns;	/* wall clock when the scan began */
};

/*
 * Open the cache of the folder at dir (no writes, no lock, never waits).
 * A folder without a cache, or with a damaged one, opens as empty with
 * UIDVALIDITY 0; the first uidcache_lock() then creates the cache
 * (importing dovecot-uidlist/courierimapuiddb, or starting anew with a
 * new UIDVALIDITY).  0, or -1 with err (errno kept) on an I/O error.
 */
int	uidcache_open(const char *dir, struct uidcache **, char *err,
	    size_t errlen);
void	uidcache_close(struct uidcache *);

/*
 * The file system's clock now, in nanoseconds: the modification time it
 * gives the folder's (empty) lock file when it is truncated (the
 * server's clock on NFS).  Directory times come from that clock too, which the
 * Maildir sync relies on to know when a directory time can be trusted.
 * 0, or -1 with errno (a folder the user cannot write).
 */
int	uidcache_fs_now(struct uidcache *, int64_t *ns_r);

/* Load whatever other processes committed since we last looked.  Cheap
 * when nothing changed (one fstat).  1 if something changed, 0 if not,
 * -1 on error. */
int	uidcache_refresh(struct uidcache *);

/* A number that changes whenever the loaded state changes (refresh or
 * our own commits), so callers can skip work when it has not. */
uint64_t uidcache_changes(const struct uidcache *);

/* Folder-wide values. */
uint32_t uidcache_uidvalidity(const struct uidcache *);
uint32_t uidcache_uidnext(const struct uidcache *);
uint64_t uidcache_highestmodseq(const struct uidcache *);
uint32_t uidcache_first_recent(const struct uidcache *);
void	uidcache_dirstamp(const struct uidcache *, struct uc_dirstamp *);

/* Messages, in UID order.  The lookups return 1 and fill *r, or 0. */
size_t	uidcache_count(const struct uidcache *);

/* Messages without \Seen, with \Deleted (kept as counters: O(1)), and
 * with a UID at or above uidcache_first_recent() (O(log n)). */
uint32_t uidcache_count_unseen(const struct uidcache *);
uint32_t uidcache_count_deleted(const struct uidcache *);
uint32_t uidcache_count_recent(const struct uidcache *);
int	uidcache_nth(const struct uidcache *, size_t i, struct uc_rec *r);
int	uidcache_by_uid(const struct uidcache *, uint32_t uid,
	    struct uc_rec *r);
/* uidcache_nth() for a pass that needs no names: base and info may come
 * back NULL, and the name pages of the snapshot are not touched. */
int	uidcache_nth_meta(const struct uidcache *, size_t i,
	    struct uc_rec *r);
int	uidcache_by_base(const struct uidcache *, const char *base,
	    size_t baselen, struct uc_rec *r);

/*
 * The UIDs (ascending, malloc'ed into *uids_r) of the messages whose
 * MODSEQ is above since, for CONDSTORE's CHANGEDSINCE and QRESYNC.  When
 * nothing the snapshot holds is that new, only the journal's changes are
 * looked at: the cost follows the changes, not the folder.  0 or -1.
 */
int	uidcache_changed_since(const struct uidcache *, uint64_t since,
	    uint32_t **uids_r, size_t *n_r);

/*
 * Recently expunged UIDs (at least the last UC_EXPUNGED_KEEP), with the
 * MODSEQ of their expunge, for QRESYNC: calls fn for each UID expunged at
 * a MODSEQ above since, in UID order.  Returns 1 if the cache still knows
 * every expunge above since, 0 if some were forgotten.
 */
#define UC_EXPUNGED_KEEP	100000
int	uidcache_expunged_since(const struct uidcache *, uint64_t since,
	    void (*fn)(void *, uint32_t uid, uint64_t modseq), void *arg);

/*
 * Take the folder's lock (waiting up to the store's lock timeout,
 * storelock.h) and load the latest state.  If the folder has no usable
 * cache, it is created now; a damaged one is logged, set aside and
 * replaced.  0, or -1 with errno (ETIMEDOUT when another process holds
 * the lock too long, EOVERFLOW when no UIDVALIDITY below 2^31 is left for
 * a new cache, EDEADLK when this handle holds it already) and a log line.
 */
int	uidcache_lock(struct uidcache *);

/*
 * Changes, only while locked (else -1 or 0 with errno EPERM).  They are
 * visible to this process at once and to others after uidcache_commit().
 * A UID must not be shown to a client before the commit that made it
 * durable.  Bad arguments (a base of 0 or over 255 bytes, or with NUL or
 * "/"; flags outside MF_ALL) fail with EINVAL.
 *
 * uidcache_add: a new message; returns its UID, or 0 with errno (EEXIST
 * if base is known, EOVERFLOW when UIDs are exhausted).
 * uidcache_update: flags/keywords/info/location as now seen; bumps MODSEQ
 * (to HIGHESTMODSEQ + 1) if flags or keywords changed.  0 or -1 (ENOENT).
 * uidcache_set_facts: fill in vsize/mtime once computed; no MODSEQ.
 * uidcache_expunge: the message is gone; its UID is remembered as
 * expunged with a new MODSEQ.  0 or -1 (ENOENT).
 * uidcache_set_first_recent: the first UID not yet claimed as \Recent;
 * it never moves backwards or past UIDNEXT (EINVAL).
 */
/* A hint before adding n messages whose base and info names take about
 * namebytes in all: memory is set aside once (locked only). */
void	uidcache_reserve(struct uidcache *, size_t n, size_t namebytes);
uint32_t uidcache_add(struct uidcache *, const char *base, size_t baselen,
	    const char *info, int in_new, unsigned flags, uint32_t keywords,
	    uint64_t vsize, int64_t mtime);
int	uidcache_update(struct uidcache *, uint32_t uid, unsigned flags,
	    uint32_t keywords, const char *info, int in_new);
int	uidcache_set_facts(struct uidcache *, uint32_t uid, uint64_t vsize,
	    int64_t mtime);
int	uidcache_expunge(struct uidcache *, uint32_t uid);
int	uidcache_set_first_recent(struct uidcache *, uint32_t uid);
int	uidcache_set_dirstamp(struct uidcache *, const struct uc_dirstamp *);

/*
 * A folder's first sync: the n messages in->get() gives (i from 0 to
 * n - 1; it returns 0 to fail) get the UIDs from UIDNEXT on, in that
 * order, and are written straight into a new snapshot, durable on
 * return, as uidcache_add() for each and uidcache_commit() would leave
 * them (each its own MODSEQ, mtime not known), without passing through
 * the journal: the first sync of a large folder then costs one pass.
 * With claim, they are \Recent to this process (first_recent becomes the
 * new UIDNEXT); ds, if not NULL, is recorded as the directory times.
 * Locked, with nothing pending, and only into a cache that holds no
 * message and no expunge.  The bases must ascend strictly in byte order,
 * so that none is given twice.
 * 0: done.  1: not done and nothing changed (a cache that is not empty,
 * too few messages to be worth a snapshot, bases out of order or
 * malformed (logged), a snapshot that could not be written (logged)):
 * add them one by one.  -1 (errno): the new snapshot is in place but its
 * flush failed, as uidcache_commit()'s EIO; or not locked (EPERM).
 */
struct uc_new {
	const char	*base;		/* baselen bytes, no NUL needed */
	size_t		 baselen;
	const char	*info;		/* NUL-terminated */
	unsigned	 flags;		/* MF_* */
	uint32_t	 keywords;
	uint64_t	 vsize;		/* or MD_SIZE_UNKNOWN */
	int		 in_new;
};
struct uc_fill {
	size_t		 n;
	size_t		 namebytes;	/* of all the bases and infos */
	int		(*get)(void *arg, size_t i, struct uc_new *);
	void		*arg;
	const struct uc_dirstamp *ds;
	int		 claim;
};
int	uidcache_fill(struct uidcache *, const struct uc_fill *);

/*
 * Make the changes durable: a journal append + fdatasync, or, when they
 * would make the journal due for compaction (a first scan of a big
 * folder, say), a new snapshot holding them, so that they are written
 * once and not twice.  0, or -1 with errno (ENOSPC...): then none of the
 * pending changes happened, for us or anyone.  The one exception is a
 * failing flush (EIO) once the changes are in place (the fdatasync after
 * a complete append, the directory fsync after the new snapshot's
 * rename): other processes may already have seen the changes, so they
 * are kept (taking them back could give a UID twice); the caller still
 * must not show them before a later commit succeeds.  A snapshot that
 * cannot be written does not fail the commit: it is logged, the changes
 * are appended to the journal instead, and compaction is tried again at
 * the next commit.
 */
int	uidcache_commit(struct uidcache *);

/* Release the lock.  Changes not committed are thrown away. */
void	uidcache_unlock(struct uidcache *);

/*
 * For imapd-cache, the administrator's tool.
 *
 * uidcache_check: what a writer would find in the cache of dir, found
 * without the lock and without changing anything (a check that races
 * with a compaction may report "journal of another snapshot"; run it
 * again).  0, or -1 on an I/O error.
 */
struct uc_check {
	int		 present;	/* a snapshot or a journal exists */
	const char	*damage;	/* why a writer would set it aside,
					 * NULL if it would not */
	int		 unfinished;	/* a compaction to finish */
	int		 torn;		/* an incomplete commit at the end */
	uint32_t	 uidvalidity;	/* the cache's, 0 when none */
	uint64_t	 generation;
	uint64_t	 snapshot_bytes, journal_bytes;
	uint32_t	 stored_uv;	/* imapd-uidvalidity, 0 if none */
	uint32_t	 tree_uv;	/* imapd-uidvalidity-max, 0 if none */
	uint32_t	 aside_uv;	/* of the *.damaged files, 0 if none */
};
int	uidcache_check(const char *dir, struct uc_check *);

/*
 * Set the cache of dir aside (as *.damaged) and start a new one, under
 * the folder's lock, as a session that found it damaged would: with a
 * UIDVALIDITY above every one the folder had (UC_FROM_NEW), or taking
 * over the UIDs of dovecot-uidlist or courierimapuiddb, which must have
 * a UIDVALIDITY above those unless force (and even then not equal to the
 * folder's current or recorded one).  The new cache holds no messages:
 * the next sync gives every file its UID.  Sessions that have the folder
 * selected end with BYE.  0, or -1 with a sentence in err.
 */
enum uc_from { UC_FROM_ANY, UC_FROM_NEW, UC_FROM_DOVECOT, UC_FROM_COURIER };
int	uidcache_rebuild(const char *dir, enum uc_from, int force, char *err,
	    size_t errlen);

/* The UIDVALIDITY, next UID and number of UIDs of the folder's
 * dovecot-uidlist or courierimapuiddb (from: UC_FROM_DOVECOT or
 * UC_FROM_COURIER), as an import would read them.  1, 0 when there is
 * no such file that can be read, -1 on an error. */
int	uidcache_foreign(const char *dir, enum uc_from, uint32_t *uv_r,
	    uint32_t *uidnext_r, size_t *n_r);

/* Test hook: when not NULL, called at each numbered step of a write
 * (append, fsync, compaction stages), so a test can kill the process
 * there.  Never set in the server.  The steps, and the other knobs only
 * tests use, are in uidcache-test.h. */
extern void (*uidcache_test_step)(int step);

#endif
