/*
 * uidcache: the per-folder UID cache.  The contract is in uidcache.h;
 * this comment is the on-disk format and the reasons it survives crashes.
 * imapd-uidcache(5) says the same for administrators.
 *
 * FILES, in the folder's directory beside cur/
 *
 *	imapd-uidcache.cdb	the snapshot: a cdb file, never changed once
 *				written; a newer one replaces it by rename()
 *	imapd-uidcache.log	the journal: the commits since that snapshot
 *	imapd-uidcache.lock	empty; a writer holds an fcntl() lock on it
 *	imapd-uidvalidity	the greatest UIDVALIDITY ever used for the
 *				folder, in decimal, then a newline
 *	<name>.new		a writer's temporary files; fixed names, since
 *				only the holder of the lock writes them
 *	<name>.damaged		the last damaged cache, set aside
 *
 * Numbers are little-endian and unsigned unless marked s (signed, two's
 * complement).  CRC is zlib's crc32 (CRC-32, ISO-HDLC).
 *
 * SNAPSHOT: a standard cdb (D. J. Bernstein's layout, as tinycdb writes
 * it) holding exactly five records, each keyed by one letter:
 *
 *   "H" header, 128 bytes
 *	  0 "IMUC"		 4 u32 version = 1	 8 u32 size = 128
 *	 12 u32 count		16 u64 generation	24 u64 previous gen.
 *	 32 u32 UIDVALIDITY	36 u32 UIDNEXT		40 u64 HIGHESTMODSEQ
 *	 48 u32 first \Recent	52 u32 entries in X
 *	 56 u64 forgotten: the highest MODSEQ of an expunge dropped from X
 *	 64 s64 cur/ mtime ns	72 s64 new/ mtime ns	80 s64 scan start ns
 *	 88 u32 bytes in S	92 u32 slots in I
 *	 96 u32 CRC of the values of T, S, X, I, in that order
 *	100 u32 messages without \Seen	104 u32 messages with \Deleted
 *	108 u32 bits: 1 = the two counts are set; others 0, ignored
 *	112 zeros		124 u32 CRC of bytes 0..123
 *   "T" the messages, ascending UID, 40 bytes each
 *	  0 u32 UID		 4 u32 keywords		 8 u64 MODSEQ
 *	 16 u64 vsize		24 s64 mtime		32 u32 offset in S
 *	 36 u32 bits: the MF_* flags in bits 0-7; 0x100 = last seen in new/
 *	 (vsize 2^64-1 and mtime -2^63 mean not known yet, as do -2^63 for
 *	 the three directory times)
 *   "S" for each message in T order: base, NUL, info, NUL
 *   "X" recently expunged, ascending UID, 12 bytes each: u32 UID, u64
 *	 the MODSEQ of its expunge
 *   "I" the index by base name: u32 slots, each 0 (empty) or 1 + an
 *	 index into T; a base is looked for from slot FNV-1a-32(base) mod
 *	 slots onwards, wrapping, up to the first empty slot
 *
 * The generation is random (getrandom) and never 0.  The previous
 * generation is that of the journal the snapshot absorbed (0 when the
 * cache was created), which is how a reader recognises an old journal
 * left beside a new snapshot.
 *
 * COUNTS: the header counts the messages of T without \Seen and with
 * \Deleted, and a handle keeps both exact through every operation it
 * applies (its own, and the journal's as it replays them), so that STATUS
 * answers without a pass over the messages.  The version stays 1: bytes
 * 100..111 were zeros, which readers of the first layout ignore, so an
 * older imapd sharing the Maildir (another host, an upgrade under way)
 * still reads these files, and its snapshots are still ours.  A snapshot
 * without bit 1 at 108 (an older imapd's) has its counts taken by one
 * pass over T whenever it is loaded, until a writer's next commit writes
 * a new snapshot (as if compaction were due), with them.  The counts are
 * derived from T, not part of what the cache must never lose: a writer
 * checks them in the pass that verifies the checksum, and wrong ones are
 * logged and replaced by T's, and the next commit writes a new snapshot
 * too; they are never a reason to set the cache aside.
 *
 * JOURNAL: a 32-byte header
 *	  0 "IMUJ"		 4 u32 version = 1
 *	  8 u64 generation of the snapshot it extends
 *	 16 u32 UIDVALIDITY	20 zeros		28 u32 CRC of 0..27
 * then commits, each written with one write():
 *	  0 u32 0x31524355 ("UCR1")
 *	  4 u32 length of the body, 12 .. 256 MiB
 *	  8 u32 CRC of the 4 length bytes followed by the body
 *	 12 body: u32 UIDNEXT, u64 HIGHESTMODSEQ (both as after this
 *	    commit), then operations, each a type byte and its fields:
 *	    'A' add	 u32 UID, u32 bits, u32 keywords, u64 MODSEQ,
 *			 u64 vsize, s64 mtime, u8 n, n bytes of base,
 *			 u8 n, n bytes of info
 *	    'U' update	 u32 UID, u32 bits, u32 keywords, u64 MODSEQ,
 *			 u8 n, n bytes of info
 *	    'F' facts	 u32 UID, u64 vsize, s64 mtime
 *	    'X' expunge	 u32 UID, u64 MODSEQ
 *	    'R' recent	 u32 first UID not yet given \Recent
 *	    'D' dirstamp s64 cur/ ns, s64 new/ ns, s64 scan start ns
 *
 * INVARIANTS, checked whenever a file is read; a file that breaks one is
 * damaged:
 *  - UIDVALIDITY is 1 .. 2^31-1; UIDNEXT is 1 .. 2^31; UIDs in T ascend
 *    and are below UIDNEXT; a base is in T once.
 *  - an 'A' carries a UID >= UIDNEXT, and UIDNEXT becomes UID + 1: a UID
 *    is never given twice, expunged or not.  Its base is not live.
 *  - every MODSEQ an operation sets is above HIGHESTMODSEQ, which becomes
 *    it; 'U', 'F' and 'X' name a live UID.
 *  - after a commit, UIDNEXT and HIGHESTMODSEQ equal those in its body.
 *  - bases are 1-255 bytes, infos 0-255, neither with NUL or "/"; bits
 *    other than the flags and 0x100 are 0; 'R' never moves backwards.
 *
 * READERS (uidcache_open, uidcache_refresh) never lock and never write.
 * They map the cdb (so the bulk is page cache shared by every process;
 * nothing is parsed up front), read the journal's commits in order and
 * stop at the first that is incomplete or fails its CRC: a writer may be
 * in the middle of it.  A journal of the snapshot's previous generation
 * was absorbed by a compaction that crashed or is between its renames,
 * and is ignored; one of any other generation means a compaction ran
 * between the two open()s, so they try again and at last use the
 * snapshot alone (stale but true).  A reader that finds damage sees an
 * empty folder with UIDVALIDITY 0 and leaves the repair to the next lock.
 * A snapshot entry is checked when it is read (names inside S, NUL-ended);
 * its checksum is checked by writers only, once per snapshot a process
 * loads, since that costs a pass over every byte, and not at all for one
 * the process wrote itself (it computed that checksum).
 *
 * WRITERS hold an fcntl() write lock on imapd-uidcache.lock, as an open
 * file description lock (F_OFD_SETLK) so that two handles in one process
 * exclude each other as well.  fcntl and not flock(): fcntl locks are
 * the ones NFSv4 carries to the server, so writers on two hosts sharing
 * the Maildir exclude each other, and taking one makes the NFS client
 * revalidate.  After locking, a writer opens both files again (opening is
 * what revalidates attributes on NFS), verifies the snapshot's checksum
 * once, and reads the journal; a bad commit there is a torn tail if no
 * valid commit follows it (nothing can follow a crashed write, since
 * writers cut the tail before appending) and damage otherwise.  A commit
 * is one pwritev() at the end of the last good commit, then fdatasync().
 * If the write fails, the file is cut back to where it was: an incomplete
 * commit was never accepted by anyone.  If fdatasync fails, the complete
 * commit stays: a reader may already have seen it, so taking it back
 * could give its UIDs twice.
 *
 * COMPACTION is due when the journal would be over 256 KiB and over a
 * quarter of the snapshot, or hold more than 4096 messages and more than
 * an eighth of the snapshot's (private memory: each journal message costs
 * every reader about 100 bytes).  The commit that makes it due is not
 * appended at all (the first scan of a big folder, or any commit of more
 * messages than the snapshot holds, would otherwise be written twice):
 * the writer has already applied it in memory, and writes the merged
 * state, that commit included, as the new snapshot.  It writes it to
 * imapd-uidcache.cdb.new with a new generation and fsyncs it, writes
 * imapd-uidcache.log.new (a bare header with that generation) and fsyncs
 * it, fsyncs the directory, renames the cdb into place, fsyncs the
 * directory, renames the journal into place, fsyncs the directory.  A
 * crash leaves one of:
 *   - old cdb, old journal (and maybe *.new files nobody reads): the old
 *     state; the next compaction overwrites the *.new files.
 *   - new cdb, old journal, log.new: the new state, since the old
 *     journal's generation is the new cdb's previous generation and
 *     everything in it is in the new cdb.  The next lock renames log.new
 *     into place.
 *   - new cdb, new journal: the new state.
 * The commit is part of the new state and of no other: before the cdb
 * rename the files hold the old state, in which it did not happen, and
 * nobody was shown its UIDs (a caller shows them only once the commit
 * returns); from the rename on they hold the new state with all of it,
 * since the old journal beside the new cdb is absorbed, being of its
 * previous generation.  The commit returns once the directory fsync
 * after that rename is done: then it is durable.  As with an append,
 * which a reader may see before its fdatasync, a reader may see the new
 * cdb between the rename and that fsync; if the fsync fails, the commit
 * is kept and reported failed, as after a failed fdatasync.  If the new
 * snapshot cannot be written before the rename (a full disk, say), the
 * temporary files are removed and the commit is appended to the journal
 * instead, so that what a journal can take is not refused; compaction is
 * tried again at the next commit.
 * A folder's first sync (uidcache_fill) writes its messages the same
 * way, as the new snapshot of a cache that held none, straight from the
 * listing, without applying them one by one first.
 * A new cache is written the same way (previous generation 0), after
 * imapd-uidvalidity has been raised durably (temporary file, fsync,
 * rename, directory fsync), so a crash can waste a UIDVALIDITY but never
 * use one twice.  A cdb with no journal and no matching log.new cannot
 * come from a crash: the journal was lost, and with it perhaps UIDs given
 * out, so that is damage.
 *
 * DAMAGE is a cdb tinycdb refuses; a bad snapshot header, record size or
 * checksum; a journal with a bad header or another UIDVALIDITY, or (under
 * the lock) of a foreign generation; a commit that breaks an invariant; a
 * bad commit followed by a good one; a journal without its snapshot or
 * the reverse.  The writer that finds it logs it once, renames the files
 * to *.damaged and creates a new cache, whose UIDVALIDITY is greater than
 * imapd-uidvalidity and than that in any damaged header whose CRC still
 * holds, and at least the current time in seconds, but below 2^31; when
 * no such value is left, the lock fails with EOVERFLOW rather than use
 * one again.
 *
 * IMPORT: a new cache takes over dovecot-uidlist (versions 1 and 3) or,
 * failing that, courierimapuiddb (versions 1 and 3, "uid name" or "name
 * uid" lines), when its UIDVALIDITY is above everything this folder used
 * before (imapd-uidvalidity), since a cache of ours once lost may have
 * given UIDs past that file's next UID.  Lines that do not parse, UIDs of
 * 0 or from 2^31, and second uses of a UID or base are skipped and
 * counted in one log line.  An import starts HIGHESTMODSEQ at 2^32 and
 * marks every expunge below it forgotten, so a QRESYNC client that knew
 * the other server's MODSEQs resynchronizes instead of missing changes.
 *
 * IN MEMORY a handle keeps the mapping plus an overlay of the messages
 * the journal (and uncommitted changes) touched.  Lookups by UID binary-
 * search T, by base probe I, by position skip expunged snapshot entries
 * with a sorted list of them.  The \Recent count binary-searches T, that
 * list and the added messages for the first \Recent UID.
 *
 * THE PARTS: this file is the API, the lock and the commit (journal
 * append and compaction); the rest is one file per job, sharing
 * uidcache-private.h:
 *	uidcache-util.c		the byte codec of the files, checksums,
 *				paths, whole reads and writes, locks
 *	uidcache-overlay.c	the loaded state: snapshot entries, the
 *				overlay, applying an operation
 *	uidcache-file.c		reading the journal, loading, writing a
 *				snapshot, creating a cache, setting one aside
 *	uidcache-uidv.c		imapd-uidvalidity and the tree's floor
 *	uidcache-import.c	dovecot-uidlist and courierimapuiddb
 *	uidcache-check.c	check, rebuild and foreign, for imapd-cache
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/sorted.h"
#include "common/lib/strnum.h"
#include "maildir/storelock.h"
#include "maildir/uidcache-private.h"
#include "maildir/uidcache-test.h"

void	(*uidcache_test_step)(int) = NULL;
unsigned uidcache_test_lock_ms;
unsigned uidcache_test_compact_ops;

/* ---- the API ----------------------------------------------------- */

int
uidcache_open(const char *dir, struct uidcache **cp, char *err,
    size_t errlen)
{
	struct uidcache *c;
	struct stat st;
	int e, n;

	*cp = NULL;
	if (strlen(dir) + 1 + sizeof(FN_LONGEST) > PATH_MAX) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	/* a folder is never reached through a link (see folder.h) */
	if (lstat(dir, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
		goto fail;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	if ((c->dir = strdup(dir)) == NULL) {
		free(c);
		goto fail;
	}
	c->lockfd = -1;
	buf_init(&c->pend, COMMIT_MAX - COMMIT_HDR);
	if (reader_load(c, &c->s) == -1) {
		e = errno;
		free(c->dir);
		free(c);
		errno = e;
		goto fail;
	}
	*cp = c;
	return 0;
fail:
	e = errno;
	n = snprintf(err, errlen, "%s: UID cache: %s", dir, strerror(e));
	if (n < 0 || (size_t)n >= errlen) {
		/* cut: end it visibly */
		if (errlen > 4)
			memcpy(err + errlen - 4, "...", 4);
	}
	errno = e;
	return -1;
}

void
uidcache_close(struct uidcache *c)
{
	if (c == NULL)
		return;
	uidcache_unlock(c);
	state_free(c->s);
	if (c->lockfd != -1)
		close(c->lockfd);
	buf_free(&c->pend);
	free(c->dir);
	free(c);
}

int
uidcache_refresh(struct uidcache *c)
{
	struct state *s = c->s, *ns;
	char path[PATH_MAX];
	struct stat st;
	int r, changed;

	if (c->locked && c->lockpid == self_pid())
		return 0;	/* nobody else can change it now */
	if (s->stale || s->bad)
		goto full;
	if (path_of(c, FN_LOG, path) == -1)
		return -1;
	if (stat(path, &st) == 0) {
		if (s->jstate == J_NONE || st.st_dev != s->jdev ||
		    st.st_ino != s->jino)
			goto full;
		if (s->jstate != J_OURS ||
		    (st.st_size == s->jseen && !s->jtorn))
			return 0;
		r = journal_read(s, 0);
		if (r == -1)
			return -1;
		if (r == -2) {
			state_make_empty(s);
			c->changes++;
			return 1;
		}
		if (r == 1)
			c->changes++;
		return r;
	}
	if (errno != ENOENT)
		return -1;
	if (s->jstate != J_NONE)
		goto full;
	if (path_of(c, FN_CDB, path) == -1)
		return -1;
	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			return -1;
		if (!s->have_cdb)
			return 0;
	} else if (s->have_cdb && st.st_dev == s->cdb_dev &&
	    st.st_ino == s->cdb_ino)
		return 0;
full:
	if (reader_load(c, &ns) == -1)
		return -1;
	if (ns->stale && !s->damaged && s->uidvalidity != 0) {
		/* the snapshot alone may be older than what we show: a view
		 * must never go backwards, so keep ours and look again */
		state_free(ns);
		s->stale = 1;
		return 0;
	}
	changed = ns->have_cdb != s->have_cdb || ns->gen != s->gen ||
	    ns->cdb_ino != s->cdb_ino || ns->jstate != s->jstate ||
	    ns->jino != s->jino || ns->jend != s->jend ||
	    ns->damaged != s->damaged || ns->uidvalidity != s->uidvalidity;
	state_free(s);
	c->s = ns;
	if (changed)
		c->changes++;
	return changed;
}

uint64_t
uidcache_changes(const struct uidcache *c)
{
	return c->changes;
}

uint32_t
uidcache_uidvalidity(const struct uidcache *c)
{
	return c->s->uidvalidity;
}

uint32_t
uidcache_uidnext(const struct uidcache *c)
{
	return c->s->uidnext;
}

uint64_t
uidcache_highestmodseq(const struct uidcache *c)
{
	return c->s->highest_modseq;
}

uint32_t
uidcache_first_recent(const struct uidcache *c)
{
	return c->s->first_recent;
}

void
uidcache_dirstamp(const struct uidcache *c, struct uc_dirstamp *ds)
{
	*ds = c->s->ds;
}

size_t
uidcache_count(const struct uidcache *c)
{
	const struct state *s = c->s;

	return (s->scount - s->nsnap_expunged) + (s->naddv - s->added_expunged);
}

uint32_t
uidcache_count_unseen(const struct uidcache *c)
{
	return c->s->nunseen;
}

uint32_t
uidcache_count_deleted(const struct uidcache *c)
{
	return c->s->ndeleted;
}

/* a snapshot index, and the state whose expunged indexes it is held to */
struct index_key {
	const struct state	*s;
	size_t			 index;
};

static int
expunged_before(const void *arg, size_t t)
{
	const struct index_key *k = arg;

	return k->s->snap_expunged[t] < k->index;
}

uint32_t
uidcache_count_recent(const struct uidcache *c)
{
	struct state *s = c->s;
	uint32_t uid = s->first_recent;
	struct index_key k;
	size_t j, below;

	settle(s);
	/* the live messages below first_recent: snapshot entries below it
	 * less those expunged, then added ones below it */
	j = snap_lower(s, uid);
	k.s = s;
	k.index = j;
	below = j - sorted_bound(0, s->nsnap_expunged, expunged_before, &k);
	return (uint32_t)(uidcache_count(c) - below - add_lower(s, uid));
}

/*
 * The snapshot index of the i-th live snapshot message (i < the number of
 * live ones).  The live entries before expunged index snap_expunged[t]
 * number snap_expunged[t] - t, which never falls as t grows: count the
 * expunged indexes whose live-before count is <= i, and skip that many.
 */
static int
live_before_at_most(const void *arg, size_t t)
{
	const struct index_key *k = arg;

	return k->s->snap_expunged[t] - t <= k->index;
}

static uint32_t
live_snap_index(const struct state *s, size_t i)
{
	struct index_key k = { s, i };

	return (uint32_t)(i + sorted_bound(0, s->nsnap_expunged,
	    live_before_at_most, &k));
}

int
uidcache_nth(const struct uidcache *c, size_t i, struct uc_rec *r)
{
	struct state *s = c->s;
	size_t slive;

	settle(s);
	slive = s->scount - s->nsnap_expunged;
	if (i < slive)
		return rec_of_snap(s, live_snap_index(s, i), r);
	i -= slive;
	if (i >= s->naddv)
		return 0;
	ov_to_rec(&s->overlay[s->addv[i]], r);
	return 1;
}

int
uidcache_nth_meta(const struct uidcache *c, size_t i, struct uc_rec *r)
{
	struct state *s = c->s;
	uint32_t j;

	settle(s);
	if (i >= s->scount - s->nsnap_expunged)
		return uidcache_nth(c, i, r);
	j = live_snap_index(s, i);
	if (mod_find(s, j) != NONE)
		return rec_of_snap(s, j, r);
	return snap_get_meta(s, j, r);
}

int
uidcache_by_uid(const struct uidcache *c, uint32_t uid, struct uc_rec *r)
{
	struct state *s = c->s;
	uint32_t j, k;

	if ((j = snap_search(s, uid)) != NONE)
		return rec_of_snap(s, j, r);
	k = add_search(s, uid);
	if (k == NONE || (s->overlay[k].bits & OV_EXP))
		return 0;
	ov_to_rec(&s->overlay[k], r);
	return 1;
}

int
uidcache_by_base(const struct uidcache *c, const char *base,
    size_t baselen, struct uc_rec *r)
{
	struct state *s = c->s;
	uint32_t j, k, h;

	if (!name_ok(base, baselen, 0) || (s->scount == 0 && s->added.n == 0))
		return 0;
	h = fnv1a(base, baselen);
	if ((j = snap_base(s, base, baselen, h)) != NONE &&
	    rec_of_snap(s, j, r))
		return 1;
	if ((k = base_find(s, base, baselen, h)) == NONE)
		return 0;
	ov_to_rec(&s->overlay[k], r);
	return 1;
}

/* The greatest MODSEQ of T: one pass over it, the first time it is
 * asked of a loaded snapshot. */
static uint64_t
snap_max_modseq(struct state *s)
{
	uint64_t ms;
	uint32_t j;

	if (!s->have_snap_maxms) {
		s->snap_maxms = 0;
		for (j = 0; j < s->scount; j++)
			if ((ms = get64(s->tab + (size_t)j * ENT_SIZE + 8)) >
			    s->snap_maxms)
				s->snap_maxms = ms;
		s->have_snap_maxms = 1;
	}
	return s->snap_maxms;
}

static int
cmp_uid32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
uidcache_changed_since(const struct uidcache *c, uint64_t since,
    uint32_t **uids_r, size_t *n_r)
{
	struct state *s = c->s;
	uint32_t *u = NULL;
	size_t n = 0, cap = 0, i, count;
	struct uc_rec r;

	*uids_r = NULL;
	*n_r = 0;
	settle(s);
	if (snap_max_modseq(s) <= since) {
		/* nothing the snapshot holds as written is newer: only what
		 * the journal changed or added can be */
		for (i = 0; i < s->noverlay; i++) {
			const struct ovrec *o = &s->overlay[i];

			if ((o->bits & OV_EXP) || o->modseq <= since)
				continue;
			if (grow(&u, &cap, n, sizeof(*u)) == -1)
				goto fail;
			u[n++] = o->uid;
		}
		if (n > 1)
			qsort(u, n, sizeof(*u), cmp_uid32);
	} else {
		count = uidcache_count(c);
		for (i = 0; i < count; i++) {
			if (!uidcache_nth_meta(c, i, &r) || r.modseq <= since)
				continue;
			if (grow(&u, &cap, n, sizeof(*u)) == -1)
				goto fail;
			u[n++] = r.uid;
		}
	}
	*uids_r = u;
	*n_r = n;
	return 0;
fail:
	free(u);
	return -1;
}

int
uidcache_expunged_since(const struct uidcache *c, uint64_t since,
    void (*fn)(void *, uint32_t, uint64_t), void *arg)
{
	struct state *s = c->s;
	size_t a = 0, b = 0;
	uint32_t u;
	uint64_t m;

	settle(s);
	while (a < s->nxp || b < s->nxov) {
		if (b == s->nxov || (a < s->nxp &&
		    get32(s->xp + a * XENT_SIZE) < s->xov[b].uid)) {
			u = get32(s->xp + a * XENT_SIZE);
			m = get64(s->xp + a * XENT_SIZE + 4);
			a++;
		} else {
			u = s->xov[b].uid;
			m = s->xov[b].modseq;
			b++;
		}
		if (m > since)
			fn(arg, u, m);
	}
	return since >= s->forgotten_modseq;
}

static int
lock_wait(struct uidcache *c)
{
	char path[PATH_MAX];

	if (path_of(c, FN_LOCK, path) == -1)
		return -1;
	return fd_lock_wait(c->lockfd, path);
}

static void
lock_release(struct uidcache *c)
{
	char path[PATH_MAX];
	int e = errno;

	if (path_of(c, FN_LOCK, path) == 0)
		fd_unlock(c->lockfd, path);
	else
		storelock_unlock(c->lockfd);
	c->locked = 0;
	errno = e;
}

/* This process's descriptor of the lock file, opened (and the file
 * created) on first use.  0 or -1 (errno). */
static int
open_lockfd(struct uidcache *c)
{
	char path[PATH_MAX];

	if (c->lockfd != -1 && c->lockpid != self_pid()) {
		/* inherited across fork: that open file description, and so
		 * its lock, is shared with the parent; take our own */
		close(c->lockfd);
		c->lockfd = -1;
	}
	if (c->lockfd != -1)
		return 0;
	if (path_of(c, FN_LOCK, path) == -1)
		return -1;
	c->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lockfd == -1)
		return -1;
	c->lockpid = self_pid();
	return 0;
}

int
uidcache_fs_now(struct uidcache *c, int64_t *ns)
{
	struct stat st;

	/* the lock file is empty and its times are nobody's data: cutting
	 * it to its length makes the file system (the server, on NFS)
	 * stamp it with its own clock, which no library or local clock
	 * setting stands between */
	if (open_lockfd(c) == -1 || ftruncate(c->lockfd, 0) == -1 ||
	    fstat(c->lockfd, &st) == -1)
		return -1;
	*ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	return 0;
}

int
uidcache_lock(struct uidcache *c)
{
	unsigned long long limit;
	int e;

	if (c->locked) {
		errno = EDEADLK;
		return -1;
	}
	if (open_lockfd(c) == -1) {
		log_warn("%s: cannot open the UID cache lock " FN_LOCK,
		    c->dir);
		return -1;
	}
	if (lock_wait(c) == -1) {
		e = errno;
		limit = uidcache_test_lock_ms ? uidcache_test_lock_ms :
		    storelock_timeout();
		if (e == ETIMEDOUT)
			log_warnx("%s: UID cache lock " FN_LOCK "%s held by "
			    "another process for over %llu ms (lock_timeout; "
			    "a stuck or stopped imapd or tool: `fuser " FN_LOCK
			    "` in the folder names it on this host%s)", c->dir,
			    storelock_method() & STORELOCK_DOTLOCK ?
			    " (or its dot-lock " FN_LOCK ".dot)" : "", limit,
			    storelock_method() & STORELOCK_DOTLOCK ? ", the "
			    "dot-lock holds host and pid" : "");
		else
			log_warn("%s: cannot lock the UID cache", c->dir);
		errno = e;
		return -1;
	}
	c->locked = 1;
	if (wload(c, 0) == -1) {
		e = errno;
		log_warn("%s: cannot load the UID cache", c->dir);
		lock_release(c);
		errno = e;
		return -1;
	}
	journal_reserve(c);
	return 0;
}

/* Throw away uncommitted changes: load the files again. */
static void
revert(struct uidcache *c)
{
	struct state *ns;

	buf_reset(&c->pend);
	c->pend_ops = 0;
	if (wload(c, 1) == 0)
		return;
	/* cannot even read it back: show nothing rather than changes that
	 * did not happen; the next lock or refresh tries again */
	if ((ns = state_new()) != NULL) {
		ns->stale = 1;
		ns->damaged = 1;
		ns->why = "could not be read back";
		state_free(c->s);
		c->s = ns;
	} else
		c->s->stale = 1;
	c->changes++;
}

void
uidcache_unlock(struct uidcache *c)
{
	if (!c->locked)
		return;
	if (c->lockpid != self_pid()) {
		/* a child of the process that locked: the lock is the
		 * parent's, and so are the changes; touch neither */
		buf_reset(&c->pend);
		c->pend_ops = 0;
		c->locked = 0;
		return;
	}
	if (c->pend.len > 0)
		revert(c);
	lock_release(c);
}

/* Common checks of the writer calls. */
static int
writable(const struct uidcache *c)
{
	if (!c->locked || c->lockpid != self_pid()) {
		errno = EPERM;
		return 0;
	}
	if (c->s->uidvalidity == 0 || c->s->jstate != J_OURS) {
		errno = EIO;
		return 0;
	}
	return 1;
}

/* Apply the operation encoded in pend from off; on any failure, drop it
 * from pend.  0 or -1 (errno). */
static int
pend_apply(struct uidcache *c, size_t off, int enc_failed)
{
	struct dec d;
	int r;

	if (enc_failed) {
		r = errno;
		buf_truncate(&c->pend, off);
		errno = r;
		return -1;
	}
	d.p = (const unsigned char *)c->pend.data + off;
	d.end = (const unsigned char *)c->pend.data + c->pend.len;
	d.bad = 0;
	r = apply_op(c->s, &d);
	if (r != 0) {
		if (r == -2) {
			/* the arguments break an invariant: refuse them */
			c->s->damaged = 0;
			errno = c->s->why == why_twice ? EEXIST : EINVAL;
		}
		r = errno;
		buf_truncate(&c->pend, off);
		errno = r;
		return -1;
	}
	c->pend_ops++;
	c->changes++;
	return 0;
}

/* Make room for n records to be added: grow each array and table once
 * to its final size instead of doubling (and copying) it many times on
 * the way.  Only a hint: on failure the adds grow as they go. */
static int
reserve_to(void *vp, size_t *cap, size_t want, size_t size)
{
	void **v = vp, *nv;

	if (want <= *cap || want > SIZE_MAX / size)
		return 0;
	if ((nv = realloc(*v, want * size)) == NULL)
		return -1;
	*v = nv;
	*cap = want;
	return 0;
}

void
uidcache_reserve(struct uidcache *c, size_t n, size_t namebytes)
{
	struct state *s = c->s;
	struct otab nt;
	size_t i, slots;

	if (!writable(c) || n == 0 || n > UC_UID_MAX)
		return;
	(void)buf_reserve(&c->pend, n * (1 + 36 + 2) + namebytes);
	(void)reserve_to(&s->overlay, &s->overlay_cap, s->noverlay + n,
	    sizeof(*s->overlay));
	(void)reserve_to(&s->addv, &s->addcap, s->naddv + n,
	    sizeof(*s->addv));
	for (slots = 64; slots < (s->added.n + n + 1) * 2; slots *= 2)
		;
	if (slots <= s->added.nslots ||
	    (nt.slot = calloc(slots, sizeof(*nt.slot))) == NULL)
		return;
	nt.nslots = slots;
	nt.n = 0;
	for (i = 0; i < s->added.nslots; i++)
		if (s->added.slot[i].k != 0)
			otab_put(&nt, s->added.slot[i].hash,
			    s->added.slot[i].k - 1);
	free(s->added.slot);
	s->added = nt;
}

uint32_t
uidcache_add(struct uidcache *c, const char *base, size_t baselen,
    const char *info, int in_new, unsigned flags, uint32_t keywords,
    uint64_t vsize, int64_t mtime)
{
	struct state *s = c->s;
	struct buf *b = &c->pend;
	unsigned char op[1 + 3 * 4 + 3 * 8 + 1 + NAME_MAX_LEN + 1 +
	    NAME_MAX_LEN], *p = op;
	size_t off = b->len, ilen;
	uint32_t uid;

	if (!writable(c))
		return 0;
	if (info == NULL)
		info = "";
	ilen = strlen(info);
	/* the rest of the checks (names, a base already live) are those
	 * apply_op() makes of every operation it applies */
	if (baselen == 0 || baselen > NAME_MAX_LEN || ilen > NAME_MAX_LEN ||
	    (flags & ~(unsigned)MF_ALL) != 0) {
		errno = EINVAL;
		return 0;
	}
	if (s->uidnext > UC_UID_MAX) {
		errno = name_ok(base, baselen, 0) &&
		    live_base(s, base, baselen, fnv1a(base, baselen)) ?
		    EEXIST : EOVERFLOW;
		return 0;
	}
	uid = s->uidnext;
	*p++ = 'A';
	put32(p, uid);
	put32(p + 4, flags | (in_new ? BIT_NEW : 0));
	put32(p + 8, keywords);
	put64(p + 12, s->highest_modseq + 1);
	put64(p + 20, vsize);
	put64(p + 28, (uint64_t)mtime);
	p += 36;
	*p++ = (unsigned char)baselen;
	memcpy(p, base, baselen);
	p += baselen;
	*p++ = (unsigned char)ilen;
	memcpy(p, info, ilen);
	p += ilen;
	if (pend_apply(c, off, buf_add(b, op, (size_t)(p - op)) == -1) == -1)
		return 0;
	return uid;
}

int
uidcache_update(struct uidcache *c, uint32_t uid, unsigned flags,
    uint32_t keywords, const char *info, int in_new)
{
	struct uc_rec r;
	struct buf *b = &c->pend;
	size_t off = b->len, ilen;
	uint64_t ms;
	int f;

	if (!writable(c))
		return -1;
	if (info == NULL) {
		errno = EINVAL;
		return -1;
	}
	ilen = strlen(info);
	if ((flags & ~(unsigned)MF_ALL) != 0 || !name_ok(info, ilen, 1)) {
		errno = EINVAL;
		return -1;
	}
	if (!uidcache_by_uid(c, uid, &r)) {
		errno = ENOENT;
		return -1;
	}
	ms = r.modseq;
	if (r.flags != flags || r.keywords != keywords)
		ms = c->s->highest_modseq + 1;
	else if (r.in_new == !!in_new && strcmp(r.info, info) == 0)
		return 0;	/* nothing changed */
	f = enc8(b, 'U') == -1 || enc32(b, uid) == -1 ||
	    enc32(b, flags | (in_new ? BIT_NEW : 0)) == -1 ||
	    enc32(b, keywords) == -1 || enc64(b, ms) == -1 ||
	    encstr(b, info, ilen) == -1;
	return pend_apply(c, off, f);
}

int
uidcache_set_facts(struct uidcache *c, uint32_t uid, uint64_t vsize,
    int64_t mtime)
{
	struct uc_rec r;
	struct buf *b = &c->pend;
	size_t off = b->len;
	int f;

	if (!writable(c))
		return -1;
	if (!uidcache_by_uid(c, uid, &r)) {
		errno = ENOENT;
		return -1;
	}
	if (r.vsize == vsize && r.mtime == mtime)
		return 0;
	f = enc8(b, 'F') == -1 || enc32(b, uid) == -1 ||
	    enc64(b, vsize) == -1 || enc64(b, (uint64_t)mtime) == -1;
	return pend_apply(c, off, f);
}

int
uidcache_expunge(struct uidcache *c, uint32_t uid)
{
	struct uc_rec r;
	struct buf *b = &c->pend;
	size_t off = b->len;
	int f;

	if (!writable(c))
		return -1;
	if (!uidcache_by_uid(c, uid, &r)) {
		errno = ENOENT;
		return -1;
	}
	f = enc8(b, 'X') == -1 || enc32(b, uid) == -1 ||
	    enc64(b, c->s->highest_modseq + 1) == -1;
	return pend_apply(c, off, f);
}

int
uidcache_set_first_recent(struct uidcache *c, uint32_t uid)
{
	struct buf *b = &c->pend;
	size_t off = b->len;
	int f;

	if (!writable(c))
		return -1;
	if (uid < c->s->first_recent || uid > c->s->uidnext) {
		errno = EINVAL;
		return -1;
	}
	if (uid == c->s->first_recent)
		return 0;
	f = enc8(b, 'R') == -1 || enc32(b, uid) == -1;
	return pend_apply(c, off, f);
}

int
uidcache_set_dirstamp(struct uidcache *c, const struct uc_dirstamp *ds)
{
	struct buf *b = &c->pend;
	size_t off = b->len;
	int f;

	if (!writable(c))
		return -1;
	if (memcmp(ds, &c->s->ds, sizeof(*ds)) == 0)
		return 0;
	f = enc8(b, 'D') == -1 || enc64(b, (uint64_t)ds->cur_ns) == -1 ||
	    enc64(b, (uint64_t)ds->new_ns) == -1 ||
	    enc64(b, (uint64_t)ds->scanned_ns) == -1;
	return pend_apply(c, off, f);
}

static int
state_get(void *arg, size_t i, struct uc_rec *r)
{
	return uidcache_nth(arg, i, r);
}

/*
 * Is the journal due for compaction once it holds extra_bytes and
 * extra_ops more (a commit about to be written)?  The overlay already
 * holds that commit's messages.
 */
static int
need_compact(const struct state *s, off_t extra_bytes, uint32_t extra_ops)
{
	off_t jbytes = s->jend - LOGHDR_SIZE + extra_bytes;

	if (s->rewrite)
		return 1;
	if (uidcache_test_compact_ops)
		return s->journal_ops + extra_ops > uidcache_test_compact_ops;
	if (jbytes > COMPACT_BYTES && jbytes > s->cdb_size / 4)
		return 1;
	return s->noverlay > COMPACT_MSGS && s->noverlay > s->scount / 8;
}

/*
 * Write src as the new snapshot and load it: the part of a compaction
 * after the source is assembled (see COMPACTION above).  The return
 * values are commit_snapshot()'s.
 */
static int
install_snapshot(struct uidcache *c, struct snapsrc *src)
{
	uint64_t gen;
	uint32_t stored;
	int r, e, stage;

	/* keep imapd-uidvalidity at least as great as what is in use, in
	 * case it was lost */
	stored = read_uidv(c);
	if (stored < src->uidvalidity && write_uidv(c, src->uidvalidity) == -1)
		log_warn("%s: cannot record UIDVALIDITY in " FN_UIDV, c->dir);
	r = write_snapshot(c, src, c->s->gen, &gen, &stage);
	e = errno;
	if (r == -1 && stage == SNAP_NONE) {
		errno = e;
		return 1;
	}
	/* the new snapshot holds what was pending.  Load it (a failed
	 * second rename is finished by the load).  If that fails, our
	 * journal descriptor names a file already replaced: refuse writes
	 * until a reload succeeds, or commits would go where nobody reads */
	buf_reset(&c->pend);
	c->pend_ops = 0;
	c->changes++;
	if (wload(c, 1) == -1) {
		c->s->stale = 1;
		c->s->jstate = J_IGNORED;
	}
	errno = e;
	if (r == -1 && stage == SNAP_PLACED) {
		log_warn("%s: UID cache snapshot could not be flushed", c->dir);
		return -1;
	}
	if (r == -1)
		log_warn("%s: UID cache snapshot in place, its journal not yet "
		    "(the next writer finishes it)", c->dir);
	return 0;
}

/*
 * Commit by writing the whole state, pending changes included, as a new
 * snapshot with an empty journal (see COMPACTION above), and load it.
 * 0: done, durable.  -1 (errno): the new snapshot is in place but not
 * known to be durable; the changes are kept, as after a failed
 * fdatasync.  1: nothing happened, the changes are still pending (the
 * caller appends them to the journal instead).
 */
static int
commit_snapshot(struct uidcache *c)
{
	struct state *s = c->s;
	struct snapsrc src;
	struct xpair *xp;
	size_t i, n;
	int r, e;

	settle(s);
	n = s->nxp + s->nxov;
	if ((xp = malloc((n + 1) * sizeof(*xp))) == NULL) {
		log_warn("%s: UID cache compaction", c->dir);
		return 1;
	}
	for (i = 0; i < s->nxp; i++) {
		xp[i].uid = get32(s->xp + i * XENT_SIZE);
		xp[i].modseq = get64(s->xp + i * XENT_SIZE + 4);
	}
	if (s->nxov > 0)
		memcpy(xp + s->nxp, s->xov, s->nxov * sizeof(*xp));
	qsort(xp, n, sizeof(*xp), cmp_xuid);
	memset(&src, 0, sizeof(src));
	src.count = uidcache_count(c);
	src.get = state_get;
	src.arg = c;
	src.uidvalidity = s->uidvalidity;
	src.uidnext = s->uidnext;
	src.first_recent = s->first_recent;
	src.highest_modseq = s->highest_modseq;
	src.forgotten_modseq = s->forgotten_modseq;
	src.ds = s->ds;
	src.xp = xp;
	src.nxp = n;
	if ((r = install_snapshot(c, &src)) == 1)
		log_warn("%s: UID cache compaction failed (the commit goes to "
		    "the journal; compaction is tried again at the next "
		    "commit)", c->dir);
	e = errno;
	free(xp);
	errno = e;
	return r;
}

/* ---- a folder's first sync ---------------------------------------- */

struct fill {
	const struct uc_fill *in;
	uint32_t	 uid0;
	uint64_t	 modseq0;
	size_t		 prevlen;	/* of base: the last base given */
	int		 bad;
	char		 base[NAME_MAX_LEN + 1];
};

/* Does base a (alen bytes) sort before b in byte order? */
static int
base_before(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c < 0 || (c == 0 && alen < blen);
}

/* The snapshot source of uidcache_fill(): message i with the UID and
 * MODSEQ uidcache_add() would have given it, checked as apply_op()
 * checks an add; 0 (and f->bad) for one that breaks the rules. */
static int
fill_get(void *arg, size_t i, struct uc_rec *r)
{
	struct fill *f = arg;
	struct uc_new m;
	size_t ilen;

	memset(&m, 0, sizeof(m));
	if (!f->in->get(f->in->arg, i, &m) || m.base == NULL ||
	    m.info == NULL)
		goto bad;
	ilen = strlen(m.info);
	if (m.baselen == 0 || m.baselen > NAME_MAX_LEN ||
	    ilen > NAME_MAX_LEN || !name_ok(m.base, m.baselen, 0) ||
	    !name_ok(m.info, ilen, 1) || (m.flags & ~(unsigned)MF_ALL) != 0)
		goto bad;
	/* strictly ascending: no base is given twice */
	if (i > 0 && !base_before(f->base, f->prevlen, m.base, m.baselen))
		goto bad;
	memcpy(f->base, m.base, m.baselen);
	f->base[m.baselen] = '\0';
	f->prevlen = m.baselen;
	memset(r, 0, sizeof(*r));
	r->uid = f->uid0 + (uint32_t)i;
	r->flags = m.flags;
	r->keywords = m.keywords;
	r->modseq = f->modseq0 + 1 + i;
	r->vsize = m.vsize;
	r->mtime = UC_MTIME_UNKNOWN;
	r->in_new = m.in_new != 0;
	r->base = f->base;
	r->info = m.info;
	return 1;
bad:
	f->bad = 1;
	return 0;
}

int
uidcache_fill(struct uidcache *c, const struct uc_fill *in)
{
	struct state *s = c->s;
	struct snapsrc src;
	struct fill f;
	int r;

	if (!writable(c))
		return -1;
	/* only into a cache with nothing in it, and only where the adds
	 * would be written as a snapshot anyway: a journal append is
	 * cheaper for a few */
	if (in->n == 0 || s->scount != 0 || s->noverlay != 0 ||
	    s->nxp != 0 || s->nxov != 0 || c->pend.len != 0 ||
	    in->n > UC_UID_MAX - s->uidnext + 1)
		return 1;
	/* need_compact() as it would be with the n in the overlay */
	if (in->n <= COMPACT_MSGS && !need_compact(s,
	    (off_t)(in->n * (1 + 36 + 2) + in->namebytes), (uint32_t)in->n))
		return 1;
	memset(&f, 0, sizeof(f));
	f.in = in;
	f.uid0 = s->uidnext;
	f.modseq0 = s->highest_modseq;
	memset(&src, 0, sizeof(src));
	src.count = in->n;
	src.get = fill_get;
	src.arg = &f;
	src.uidvalidity = s->uidvalidity;
	src.uidnext = s->uidnext + (uint32_t)in->n;
	src.first_recent = in->claim ? src.uidnext : s->first_recent;
	src.highest_modseq = s->highest_modseq + in->n;
	src.forgotten_modseq = s->forgotten_modseq;
	src.ds = in->ds != NULL ? *in->ds : s->ds;
	r = install_snapshot(c, &src);
	if (r == 1 && f.bad)
		log_warnx("%s: messages for a new UID cache out of order or "
		    "malformed; adding them one by one", c->dir);
	else if (r == 1)
		log_warn("%s: cannot write the new UID cache at once; adding "
		    "its messages one by one", c->dir);
	return r;
}

/*
 * Keep JOURNAL_RESERVE bytes allocated past the journal's end (the file's
 * size unchanged, so readers see nothing of it).  Commits then succeed on
 * a full file system until that room is used: the flag changes and
 * expunges a user makes room with, and the UIDs of mail the MTA managed
 * to deliver.  Topped up when half is used; a file system that cannot
 * allocate ahead is asked once per handle.
 */
void
journal_reserve(struct uidcache *c)
{
	struct state *s = c->s;
	struct stat st;

	if (c->rsv_off || s->jfd == -1 || s->jstate != J_OURS)
		return;
	if (c->rsv_dev != s->jdev || c->rsv_ino != s->jino) {
		c->rsv_dev = s->jdev;
		c->rsv_ino = s->jino;
		c->rsv_end = 0;
		/* what an earlier writer set aside is still there */
		if (fstat(s->jfd, &st) == 0 && st.st_blocks > 0)
			c->rsv_end = (off_t)st.st_blocks * 512;
	}
	if (s->jend + JOURNAL_RESERVE / 2 <= c->rsv_end)
		return;
	if (fallocate(s->jfd, FALLOC_FL_KEEP_SIZE, s->jend,
	    JOURNAL_RESERVE) == 0) {
		c->rsv_end = s->jend + JOURNAL_RESERVE;
		return;
	}
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		c->rsv_off = 1;
	/* ENOSPC: what is left of the room is used; try at the next one */
}

int
uidcache_commit(struct uidcache *c)
{
	struct state *s = c->s;
	unsigned char rh[RECHDR_SIZE], ch[COMMIT_HDR];
	struct iovec iov[3];
	size_t total, done = 0, k;
	uint32_t blen, sum;
	ssize_t n;
	int e, r;

	if (!c->locked || c->lockpid != self_pid()) {
		errno = EPERM;
		return -1;
	}
	if (c->pend.len == 0)
		return 0;
	blen = (uint32_t)(COMMIT_HDR + c->pend.len);
	total = RECHDR_SIZE + (size_t)blen;
	/* a commit that makes the journal due for compaction is written as
	 * that compaction: appending it first would write it twice */
	if (need_compact(s, (off_t)total, c->pend_ops)) {
		if ((r = commit_snapshot(c)) != 1)
			return r;
	}
	put32(ch, s->uidnext);
	put64(ch + 4, s->highest_modseq);
	put32(rh, REC_MAGIC);
	put32(rh + 4, blen);
	sum = crc(0, rh + 4, 4);
	sum = crc(sum, ch, COMMIT_HDR);
	sum = crc(sum, c->pend.data, c->pend.len);
	put32(rh + 8, sum);

	if (s->jtorn) {
		STEP(UCS_TRUNCATE);
		if (ftruncate(s->jfd, s->jend) == -1)
			goto fail_nowrite;
		log_info("%s: cut an incomplete commit off the UID cache "
		    "journal (left by a crash)", c->dir);
		s->jtorn = 0;
	}
	STEP(UCS_APPEND);
	while (done < total) {
		/* one pwritev; the loop only continues a short write */
		const void *part[3] = { rh, ch, c->pend.data };
		size_t plen[3] = { RECHDR_SIZE, COMMIT_HDR, c->pend.len };
		size_t skip = done;
		int nv = 0;

		for (k = 0; k < 3; k++) {
			if (skip >= plen[k]) {
				skip -= plen[k];
				continue;
			}
			iov[nv].iov_base = (char *)(uintptr_t)part[k] + skip;
			iov[nv].iov_len = plen[k] - skip;
			skip = 0;
			nv++;
		}
		n = pwritev(s->jfd, iov, nv, s->jend + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail_write;
		}
		done += (size_t)n;
	}
	STEP(UCS_WRITTEN);
	if (fdatasync(s->jfd) == -1) {
		/* the commit may have been seen: keep it (see WRITERS) */
		e = errno;
		log_warn("%s: UID cache journal could not be flushed",
		    c->dir);
		revert(c);
		errno = e;
		return -1;
	}
	STEP(UCS_SYNCED);
	s->jend += (off_t)total;
	s->jseen = s->jend;
	s->journal_ops += c->pend_ops;
	buf_reset(&c->pend);
	c->pend_ops = 0;
	c->changes++;
	journal_reserve(c);
	return 0;

fail_write:
	e = errno;
	/* an incomplete commit was never accepted by anyone: cut it */
	if (ftruncate(s->jfd, s->jend) == -1)
		log_warn("%s: cannot cut a failed commit off the UID cache "
		    "journal (the next writer will)", c->dir);
	errno = e;
fail_nowrite:
	e = errno;
	log_warn("%s: UID cache commit failed", c->dir);
	revert(c);
	errno = e;
	return -1;
}
