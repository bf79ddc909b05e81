/*
 * uidcache-test: what the UID cache's unit tests may reach inside it.
 * Only tests include this header; the server never sets these.
 *
 * The step numbers are passed to uidcache_test_step (uidcache.h) at each
 * point of a write where a crash leaves a different set of files, so a
 * test can kill the process there and check that what remains is the old
 * or the new state (see COMPACTION and the other sections of the comment
 * at the top of uidcache.c).
 */
#ifndef MAILDIR_UIDCACHE_TEST_H
#define MAILDIR_UIDCACHE_TEST_H

enum uc_step {
	/* uidcache_commit: the journal append */
	UCS_TRUNCATE = 1,	/* before cutting a torn tail off the journal */
	UCS_APPEND = 2,		/* before the one write of the commit */
	UCS_WRITTEN = 3,	/* written, before fdatasync */
	UCS_SYNCED = 4,		/* durable; a compaction may follow */

	/* a new snapshot (a commit written as one, or a cache being
	 * created); a commit written this way passes none of the steps
	 * above, unless the snapshot fails before its rename and the
	 * commit is appended after all */
	UCS_SNAP_BEGIN = 10,	/* before the temporary files are written */
	UCS_SNAP_CDB = 11,	/* imapd-uidcache.cdb.new written, not synced */
	UCS_SNAP_CDBSYNC = 12,	/* ... and durable */
	UCS_SNAP_LOG = 13,	/* imapd-uidcache.log.new written and durable */
	UCS_SNAP_DIRSYNC = 14,	/* both temporary names durable */
	UCS_SNAP_RENAME1 = 15,	/* the new cdb in place (and the directory
				 * synced); the old journal still in place */
	UCS_SNAP_RENAME2 = 16,	/* the new journal in place, before the
				 * directory is synced */
	UCS_SNAP_DONE = 17,	/* all durable */

	/* imapd-uidvalidity being raised */
	UCS_UIDV_WRITE = 20,	/* before writing imapd-uidvalidity.new */
	UCS_UIDV_SYNCED = 21,	/* written and durable, not yet renamed */
	UCS_UIDV_RENAMED = 22,	/* renamed, before the directory fsync */
	UCS_UIDV_TREE = 23,	/* before the Maildir-wide counter
				 * imapd-uidvalidity-max is raised */

	/* a damaged cache being set aside */
	UCS_ASIDE_CDB = 30,	/* the cdb renamed aside, the journal not */
	UCS_ASIDE_DONE = 31,	/* both set aside */

	/* a lock finishing a compaction a crash interrupted */
	UCS_LOGFIX = 40		/* before renaming the new journal in */
};

/* How long uidcache_lock() waits, in milliseconds; 0 means
 * the store's lock timeout (storelock.h). */
extern unsigned	uidcache_test_lock_ms;

/* When not 0, a commit is written as a new snapshot as soon as the
 * journal would hold more than this many operations, instead of by the
 * size rules. */
extern unsigned	uidcache_test_compact_ops;

#endif
