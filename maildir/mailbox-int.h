/*
 * mailbox-int: what the files of the mailbox module share (mailbox.c,
 * mailbox-scan.c, mailbox-sync.c, mailbox-write.c, mailbox-status.c).
 * Nothing outside maildir/mailbox*.c includes it; the interface is
 * mailbox.h.
 */
#ifndef MAILDIR_MAILBOX_INT_H
#define MAILDIR_MAILBOX_INT_H

#include <sys/stat.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"
#include "maildir/uidcache.h"

#define VM_GONE		0x01	/* expunged, not yet reported */
#define VM_RECENT	0x02	/* \Recent in this session */

#define PATH_LEN	4096
#define SCAN_TRIES	3	/* listings before undecided messages wait */

struct vmsg {
	uint32_t	uid;
	uint32_t	kw;
	uint8_t		flags;		/* MF_* */
	uint8_t		state;		/* VM_* */
};

struct fact {
	uint32_t	uid;
	uint64_t	vsize;
	int64_t		mtime;
};

/* A flag change of this session that the cache could not record: see
 * "changes the cache could not record" in
 * mailbox-sync.c. */
struct unrec {
	uint32_t	uid;
	uint32_t	kw;
	uint8_t		flags;
	uint64_t	modseq;		/* the cache's when the change was made */
	char		info[MDNAME_MAX + 1];
};

struct mailbox {
	char		*dir;
	int		 dirfd;
	int		 readonly;
	struct uidcache	*uc;
	struct keywords	 kw;
	dev_t		 kw_dev;	/* dovecot-keywords as last read */
	ino_t		 kw_ino;
	off_t		 kw_size;
	int64_t		 kw_mtime;
	int		 kw_changed;	/* names changed since the last sync
					 * reported them */
	struct vmsg	*v;
	size_t		 n, cap;
	uint32_t	 uidvalidity;	/* 0 until the first sync */
	uint32_t	 uid_floor;	/* the view has taken in every UID
					 * below this one */
	uint32_t	 nrecent;
	size_t		 ngone;		/* entries marked VM_GONE */
	uint64_t	 seen_changes;
	uint32_t	 claim_lo, claim_hi;	/* \Recent claimed, not yet
						 * applied to the view */
	uint32_t	 stale_uv;	/* the UIDVALIDITY that replaced ours,
					 * once one has: every call fails */
	int		 watch_fd;	/* inotify on cur/ and new/, or -1 */
	int		 wd_cur, wd_new;
	int		 watch_ok;	/* the cache was complete when the
					 * events in the queue began */
	struct fact	*facts;
	size_t		 nfacts, capfacts;
	struct unrec	*unrec;		/* sorted by UID */
	size_t		 nunrec;
	int		 keep_new;	/* the next sync leaves new/ in place */
	int		 new_waiting;	/* files the first sync left in new/,
					 * for mailbox_move_new() */
};

/*
 * What a sync of the directories with the UID cache works on: a folder
 * and its cache, and no view (STATUS runs it without one).  A read-only
 * sync (EXAMINE, STATUS) never moves new/ to cur/, never renames a file
 * and never claims \Recent; either kind creates the cache and gives new
 * files their UIDs.
 */
struct dsync {
	struct uidcache	*uc;
	const char	*dir;
	int		 dirfd;
	int		 readonly;
	uint32_t	 claim_lo, claim_hi;	/* \Recent claimed here */
	int		 keep_new;	/* read-write, but new/ is not moved
					 * now (the session does it later) */
	int		 noclaim;	/* read-write, but \Recent is left to
					 * a later sync */
	size_t		 nnew;		/* files a listing found in new/ */
	int		 complete;	/* the cache now holds every file
					 * as it is (set by the syncs) */
};

/* One directory entry found by a scan, its name parsed once. */
struct entry {
	uint64_t	 key[2];	/* the base's first 16 bytes, big-endian,
					 * zero-padded: most comparisons of
					 * two bases end here */
	uint64_t	 vsize;		/* W=, or MD_SIZE_UNKNOWN */
	uint64_t	 ino;		/* from the listing; 0 = not known */
	uint32_t	 off;		/* of the name in the scan's names */
	uint32_t	 kw;
	uint8_t		 baselen;	/* names are at most 255 bytes */
	uint8_t		 namelen;
	uint8_t		 flags;		/* MF_* */
	uint8_t		 in_new;
	uint8_t		 absent;	/* a name the watch reported that
					 * does not exist now */
	uint8_t		 checked;	/* the watch looked it up */
};

/* The entries of a scan, and their names, each ended by a NUL, in one
 * buffer (not one allocation a name). */
struct scan {
	struct entry	*e;
	size_t		 n, cap;
	struct buf	 names;
	struct uc_dirstamp stamp;	/* directory times when it began, and
					 * the file system's time then */
	int		 exact;		/* nothing changed while it ran */
	size_t		 unresolved;	/* names it could not settle */
};

/* ---- mailbox.c ---------------------------------------------------- */

/* A file's modification time in nanoseconds since the epoch. */
int64_t	mb_mtime_ns(const struct stat *sb);

/* Build a path from fmt, where each "%s" takes the next of a, b, c;
 * a plain substitution, so no format string reaches printf. */
int	mb_pathf(char *out, size_t len, const char *fmt, const char *a,
	    const char *b, const char *c);

/*
 * Rename from (in fromfd) to to (in tofd) without ever replacing a file:
 * renameat2(RENAME_NOREPLACE), or link() and unlink() where the file
 * system has no such rename (NFS and FUSE answer EINVAL, others ENOSYS or
 * EOPNOTSUPP); a crash between those two leaves two names of one file,
 * which a sync takes as one message.  Another process that renames from
 * between the link and the unlink (a mail reader setting a flag) keeps
 * its name and ours is taken back (ENOENT), so no second name is left;
 * if the file then has no other name (from was removed), ours is kept.
 * If to already names the same file as from (another process finished
 * the same move, or a crash left it half done), the extra name is
 * removed and the rename is done.  0, or -1 with errno: EEXIST when
 * another file has the name, ENOENT when from is gone.
 */
int	md_rename(int fromfd, const char *from, int tofd, const char *to);

/* The cache's record of the message at seq: 1, or 0 with errno ENOENT
 * if it has none (expunged), ESTALE if the folder's UIDVALIDITY changed
 * (the loaded records are then another numbering's). */
int	mb_view_rec(struct mailbox *mb, uint32_t seq, struct uc_rec *r);

/* The path of r's file relative to the folder ("cur/<base><info>" or
 * "new/..."), as the cache has it.  0, or -1 (ENAMETOOLONG). */
int	mb_relpath_of(const struct uc_rec *r, char *out, size_t len);

/* RFC822.SIZE of an open message file, which is closed: every LF not
 * already preceded by CR counts as CRLF.  0, or -1 with errno. */
int	mb_file_vsize(int fd, uint64_t *vs);

/* Remember computed sizes and dates in the cache: one locked commit. */
void	mb_facts_flush(struct uidcache *uc, const char *dir, uint32_t uv,
	    const struct fact *facts, size_t n);

/* ---- mailbox-scan.c ----------------------------------------------- */

/* An empty scan; mb_scan_free() releases what it gathers. */
void	mb_scan_init(struct scan *sc);

/* Release a scan's entries and names; it is empty again after. */
void	mb_scan_free(struct scan *sc);

/* An entry's name; valid until a name is added to the scan. */
const char	*mb_ename(const struct scan *sc, const struct entry *e);

/* Do two entries of sc name the same base? */
int	mb_same_base(const struct scan *sc, const struct entry *x,
	    const struct entry *y);

/* Sort a scan's entries by base, and repack its names in that order. */
void	mb_scan_sort(struct scan *sc);

/* Add the file name (in new/ if in_new; ino from the listing, or 0)
 * to sc, parsed; a name that is not a message file's is skipped.  0, or
 * -1 when out of memory.  The scan is unsorted after. */
int	mb_scan_add(struct scan *sc, const char *name, int in_new,
	    uint64_t ino);

/* Find base in a sorted scan; index or -1. */
ssize_t	mb_scan_find(const struct scan *sc, const char *base,
	    size_t baselen);

/* Has the scan a name of base that exists (as far as it knows)? */
int	mb_scan_live(const struct scan *sc, const char *base);

/* The path of an entry relative to the folder ("cur/<name>"). */
int	mb_entry_path(const struct scan *sc, const struct entry *e,
	    char *out, size_t len);

/* The inode of an entry's file now, or 0 if it has no such name now. */
uint64_t mb_entry_ino_now(struct dsync *ds, const struct scan *sc,
	    const struct entry *e);

/*
 * Move new/ files to cur/ (read-write sessions only): new/X becomes
 * cur/X:2, (or cur/X if X already carries info).  A name already taken
 * in cur/ by another file (a redelivery, a restored backup) never loses
 * that file: the newcomer gets a base of its own.  An entry someone else
 * moved first is dropped here; the caller lists cur/ afterwards.
 */
void	mb_move_new(struct dsync *ds, struct scan *sc);

/* The modification times of cur/ and new/ into st.  0, or -1. */
int	mb_stat_dirs(struct dsync *ds, struct uc_dirstamp *st);

/* A scan's times prove that a directory still showing them has not
 * changed since: the file system's clock had passed them when it began. */
int	mb_stamp_trusted(const struct uc_dirstamp *st);

/*
 * The start of a listing: the file system's time, then the directory
 * times (in that order: a change after the first read gets a time at
 * least that late).  When a directory changed in the clock tick we are
 * still in (our own moves from new/ a moment ago, usually), wait a few
 * ticks for the clock to pass it, so that the times this scan records
 * can be trusted and the next sync need not list again.
 */
int	mb_stamp_begin(struct dsync *ds, struct uc_dirstamp *st);

/* List new/ and then cur/ into sc (initialized), sorted by base, and
 * tell whether the listing is exact (see step 3 of the sync in
 * mailbox-sync.c). */
int	mb_list_dirs(struct dsync *ds, struct scan *sc);

/* Read the directories into sc: new/ moved to cur/ first by a
 * read-write sync (unless it keeps new/), then listed. */
int	mb_scan_all(struct dsync *ds, struct scan *sc);

/* List new/ alone into sc (initialized), unsorted.  0, or -1. */
int	mb_scan_new(struct dsync *ds, struct scan *sc);

/*
 * One file seen under two names of one base (a listing that raced with a
 * rename, or two links): keep one entry, the name that exists now.
 * Names that cannot be settled (both gone: renamed again since) count as
 * unresolved, and the sync will look again.
 */
void	mb_scan_dedupe(struct dsync *ds, struct scan *sc);

/*
 * Broken copies: several files (different inodes) with one base.  The
 * one the cache knows by its name keeps the base (and its UID); each
 * other one is renamed to a base of its own (read-write syncs only), but
 * only after both are seen to exist again: a listing that raced with
 * another program must not make the server rename anybody's file.
 * Returns 1 if any file was renamed (the scan is then sorted again).
 */
int	mb_scan_rebase(struct dsync *ds, struct scan *sc);

/* ---- mailbox-sync.c ----------------------------------------------- */

/* What a sync decided from a listing, before the lock: the cache's
 * changes, each checked again against the cache under the lock. */
struct plan {
	size_t		 *add;		/* new files (scan indexes) */
	size_t		  nadd;
	size_t		 *upd;		/* known, name changed */
	size_t		  nupd;
	uint32_t	 *gone;		/* cached, absent from an exact
					 * listing */
	size_t		  ngone;
	uint32_t	 *moved;	/* cached in new/, not listed, found
					 * in cur/ (REC_IN_CUR) */
	size_t		  nmoved;
	size_t		  unresolved;	/* cached, not found, but the
					 * listing was not exact */
};

/* Where a cached message the listing did not show is now: under its
 * cached name, in cur/ (a mail reader moved it from new/ with its flags
 * unchanged), or under neither. */
enum { REC_MISSING, REC_AT_NAME, REC_IN_CUR };

/*
 * The sync's decisions: from a sorted, deduplicated scan sc and the cache
 * uc as now loaded, what to add, update and expunge, into p (freed with
 * mb_plan_free()).  A base the cache does not know is added; a known one
 * under another name (flags, or new/ against cur/) is updated; a cached
 * message the listing does not show is looked for by where(arg, rec),
 * which answers REC_*, and is expunged only when it is REC_MISSING, the
 * listing was exact and its UID is below uid_limit (the UIDNEXT from
 * before the listing began); otherwise it is counted unresolved.  It
 * reads no disk itself.  0, or -1 when out of memory.
 */
int	mb_plan_build(const struct uidcache *uc, const struct scan *sc,
	    uint32_t uid_limit, int (*where)(void *, const struct uc_rec *),
	    void *arg, struct plan *p);
void	mb_plan_free(struct plan *p);

/*
 * Make the cache match the directories.  force: read them even if the
 * times say nothing changed (a file we looked for was not where the cache
 * said).
 */
int	mb_dir_sync(struct dsync *ds, int force);

/* Close the folder's inotify watch, if any; syncs list from then on. */
void	mb_watch_stop(struct mailbox *mb);

/* Watch cur/ and new/ through inotify, before the first sync (see
 * "following a folder through inotify" in mailbox-sync.c); where that
 * cannot be (NFS, FUSE, no inotify left), the folder is listed instead,
 * and the watch is left closed (-1). */
void	mb_watch_start(struct mailbox *mb);

/*
 * The sync of a session's folder.  claim: take \Recent for what no
 * session has; only mailbox_sync() does, since the view's update follows
 * at once: the view holds the claims it has not taken in yet as one
 * range, and two claims of one session with another session's between
 * them would make that one's messages \Recent here too.  \Recent
 * claimed is the view's to show (even if a later step failed: the cache
 * may have it).
 */
int	mb_disk_sync(struct mailbox *mb, int force, int claim);

/* Note that the message uid now has flags, kw and the name base + info,
 * which the cache could not record. */
void	mb_unrec_note(struct mailbox *mb, uint32_t uid, unsigned flags,
	    uint32_t kw, const char *info);

/* What r (the cache's record) is after this session's unrecorded
 * change, if it has one the cache has not moved past. */
void	mb_unrec_apply(const struct mailbox *mb, struct uc_rec *r);

/* Take the folder's lock for a change the view asked for: the loaded
 * state must still be of the view's UIDVALIDITY.  0, or -1 (errno;
 * ESTALE once it is not). */
int	mb_lock(struct mailbox *mb);

/* Read dovecot-keywords again if another process changed it; 1 if the
 * names changed. */
int	mb_keywords_refresh(struct mailbox *mb, int force);

/* Bring the view in line with the cache; see mailbox_sync(). */
int	mb_view_update(struct mailbox *mb, int allow_expunge,
	    const struct mailbox_events *ev);

#endif
