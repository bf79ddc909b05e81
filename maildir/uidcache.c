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

#include "common/buf.h"
#include "common/log.h"
#include "common/mapfile.h"
#include "common/strnum.h"
#include "maildir/filename.h"
#include "maildir/uidcache.h"
#include "maildir/uidcache-test.h"

#define FN_CDB		"imapd-uidcache.cdb"
#define FN_LOG		"imapd-uidcache.log"
#define FN_LOCK		"imapd-uidcache.lock"
#define FN_UIDV		"imapd-uidvalidity"
#define FN_UIDV_MAX	"imapd-uidvalidity-max"
#define FN_CDB_NEW	FN_CDB ".new"
#define FN_LOG_NEW	FN_LOG ".new"
#define FN_UIDV_NEW	FN_UIDV ".new"
#define FN_CDB_BAD	FN_CDB ".damaged"
#define FN_LOG_BAD	FN_LOG ".damaged"
#define FN_LONGEST	FN_CDB_BAD	/* the longest name we make */

#define HDR_SIZE	128
#define ENT_SIZE	40
#define XENT_SIZE	12
#define LOGHDR_SIZE	32
#define REC_MAGIC	0x31524355U	/* "UCR1" */
#define RECHDR_SIZE	12
#define COMMIT_HDR	12
#define COMMIT_MAX	(256U << 20)
#define NAME_MAX_LEN	255

#define HDR_COUNTS	0x1U		/* header bits: counts are set */

#define BIT_NEW		0x100U
#define BITS_VALID	(MF_ALL | BIT_NEW)
#define OV_EXP		0x10000U	/* overlay only: expunged */
#define OV_ADDED	0x20000U	/* overlay only: added by the journal */

#define NONE		UINT32_MAX
#define IMPORT_MODSEQ	(1ULL << 32)
#define IMPORT_FILE_MAX	(256U << 20)
#define READ_TRIES	5

#define COMPACT_BYTES	(256 * 1024)
#define JOURNAL_RESERVE	(64 * 1024)
#define COMPACT_MSGS	4096

enum { J_NONE, J_OURS, J_IGNORED };

/* What a full load found. */
enum {
	LS_OK,		/* snapshot and its journal */
	LS_NONE,	/* no cache at all */
	LS_DAMAGED,	/* s->why says what */
	LS_MISMATCH,	/* a journal of another generation */
	LS_NEEDLOG	/* a good snapshot, its journal absent or absorbed */
};

void	(*uidcache_test_step)(int) = NULL;
unsigned uidcache_test_lock_ms;
unsigned uidcache_test_compact_ops;

#define STEP(n) do {							\
	if (uidcache_test_step != NULL)					\
		uidcache_test_step(n);					\
} while (0)

/* A message the journal added or changed, or a snapshot message it
 * changed (then snapidx is its index in T and base points into the
 * mapping). */
struct ovrec {
	uint32_t	 uid;
	uint32_t	 bits;		/* flags, BIT_NEW, OV_* */
	uint32_t	 keywords;
	uint32_t	 snapidx;	/* or NONE */
	uint64_t	 modseq;
	uint64_t	 vsize;
	int64_t		 mtime;
	const char	*base;
	const char	*info;
};

struct xpair {
	uint32_t	 uid;
	uint64_t	 modseq;
};

/* An open-addressing index of overlay records: each slot holds 0
 * (empty) or 1 + an index into ov, and the record's hash, so that a probe
 * passes other records without touching them and a rehash needs no
 * record at all; linear probing; at most half full. */
struct oslot {
	uint32_t	 k;
	uint32_t	 hash;
};

struct otab {
	struct oslot	*slot;
	size_t		 nslots, n;
};

/* Strings of the overlay: freed all at once with the state. */
struct achunk {
	struct achunk	*next;
	size_t		 used, cap;
	char		 data[];
};

/*
 * One loaded view: the mapped snapshot, the journal read so far, and the
 * overlay the journal and uncommitted changes made.  It is its own
 * allocation so that a reload builds a new one and swaps it in (a failed
 * reload leaves the old view whole), and so that lookups, const for the
 * caller, can still put its lazily sorted lists in order.
 */
struct state {
	struct cdb	 db;
	struct mapfile	 snap;		/* the snapshot's bytes, for db */
	int		 mapped;
	int		 have_cdb;
	dev_t		 cdb_dev;
	ino_t		 cdb_ino;
	off_t		 cdb_size;
	uint64_t	 gen, prev_gen;
	const unsigned char *tab, *str, *xp, *idx;
	uint32_t	 scount, strsize, nxp, islots, body_crc;

	int		 jfd;
	int		 jstate;
	dev_t		 jdev;
	ino_t		 jino;
	off_t		 jend;		/* end of the last good commit */
	off_t		 jseen;		/* file size when last read */
	int		 jtorn;		/* bytes after jend are no commit */
	uint32_t	 jops;

	uint32_t	 uidvalidity, uidnext, first_recent;
	uint64_t	 hms, xforgot;
	struct uc_dirstamp ds;
	uint64_t	 snap_maxms;	/* the greatest MODSEQ in T, once
					 * known (snap_max_modseq()) */
	int		 have_snap_maxms;
	uint32_t	 nunseen;	/* live messages without \Seen */
	uint32_t	 ndeleted;	/* live messages with \Deleted */
	int		 hdr_counts;	/* the snapshot's header had them */
	int		 recounted;	/* ... and they were wrong */
	int		 rewrite;	/* a writer's next commit writes a
					 * snapshot: its counts were missing
					 * or wrong */

	struct ovrec	*ov;
	size_t		 nov, ovcap;
	struct otab	 mods;		/* T index -> its overlay record, by
					 * mixidx() of the index */
	struct otab	 added;		/* base -> record of an added one, by
					 * fnv1a() of the base */
	uint32_t	*addv;		/* ov of added messages, UID order */
	size_t		 naddv, addcap, adddead;
	uint32_t	*sxp;		/* T indexes expunged */
	size_t		 nsxp, sxpcap;
	int		 sxp_sorted;
	struct xpair	*xov;		/* expunges since the snapshot */
	size_t		 nxov, xovcap;
	int		 xov_sorted;
	struct achunk	*arena;

	int		 damaged;	/* the view is empty: see why */
	int		 stale;		/* snapshot alone; look again */
	int		 bad;		/* a lookup met a bad entry */
	uint32_t	 damaged_uv;	/* trustworthy UIDVALIDITY seen in
					 * damaged files, 0 if none */
	const char	*why;		/* a string constant */
};

struct uidcache {
	char		*dir;
	int		 lockfd;
	pid_t		 lockpid;	/* the process that opened lockfd */
	int		 locked;
	struct state	*s;
	struct buf	 pend;		/* operations not yet committed */
	uint32_t	 pend_ops;
	uint64_t	 changes;
	dev_t		 vdev;		/* snapshot whose checksum held */
	ino_t		 vino;
	uint64_t	 vgen;
	int		 vok;
	dev_t		 rsv_dev;	/* journal with room set aside */
	ino_t		 rsv_ino;
	off_t		 rsv_end;	/* ... up to here */
	int		 rsv_off;	/* the file system cannot */
};

/* What a new snapshot is written from. */
struct snapsrc {
	size_t		 count;
	int		(*get)(void *, size_t, struct uc_rec *);
	void		*arg;
	uint32_t	 uidvalidity, uidnext, first_recent;
	uint64_t	 hms, xforgot;
	struct uc_dirstamp ds;
	struct xpair	*xp;		/* ascending UID; may be reordered */
	size_t		 nxp;
};

static int	 wload(struct uidcache *, int);
static void	 journal_reserve(struct uidcache *);

/* ---- little helpers ----------------------------------------------- */

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t
crc(uint32_t c, const void *p, size_t len)
{
	return (uint32_t)crc32_z(c, p, len);
}

static uint32_t
fnv1a(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261U;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619U;
	}
	return h;
}

static uint32_t
mixidx(uint32_t j)
{
	return j * 2654435761U;
}

/* A base: 1-255 bytes, no NUL, no '/'.  An info: the same but may be
 * empty. */
static int
name_ok(const void *p, size_t len, int may_be_empty)
{
	if (len > NAME_MAX_LEN || (len == 0 && !may_be_empty))
		return 0;
	return memchr(p, '\0', len) == NULL && memchr(p, '/', len) == NULL;
}

static int
path_of(const struct uidcache *c, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", c->dir, name);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
sync_dir(const struct uidcache *c)
{
	int fd, r;

	fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	if (r == -1 && (errno == EINVAL || errno == EROFS))
		r = 0;	/* a file system that cannot sync directories */
	close(fd);
	return r;
}

static int
write_all(int fd, const void *p, size_t len)
{
	const char *b = p;
	ssize_t n;

	while (len > 0) {
		n = write(fd, b, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
pread_all(int fd, void *p, size_t len, off_t off, size_t *got_r)
{
	char *b = p;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, b + got, len - got, off + (off_t)got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*got_r = got;
	return 0;
}

static uint64_t
new_generation(uint64_t avoid)
{
	static uint64_t fallback;
	uint64_t g = 0;

	while (g == 0 || g == avoid) {
		if (getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g)) {
			struct timespec ts;

			/* no entropy source: time, pid and a counter still
			 * make a clash with the one generation we compare
			 * against vanishingly unlikely */
			clock_gettime(CLOCK_REALTIME, &ts);
			g = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
			    (uint64_t)getpid() << 48 ^ ++fallback;
		}
	}
	return g;
}

/*
 * This process's id, remembered: getpid() is a system call, and every
 * writer call asks whether the lock is this process's (a child of the
 * process that locked must not write).  A fork() clears what is
 * remembered in the child.
 */
static pid_t	 my_pid;
static pthread_once_t my_pid_once = PTHREAD_ONCE_INIT;

static void
forget_pid(void)
{
	my_pid = 0;
}

static void
watch_forks(void)
{
	if (pthread_atfork(NULL, NULL, forget_pid) != 0)
		my_pid = -1;	/* cannot tell: ask every time */
}

static pid_t
self_pid(void)
{
	pthread_once(&my_pid_once, watch_forks);
	if (my_pid <= 0) {
		if (my_pid == -1)
			return getpid();
		my_pid = getpid();
	}
	return my_pid;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Take an fcntl() write lock on fd, waiting up to the lock timeout.  An
 * open file description lock (F_OFD_SETLK), so that two descriptors in
 * one process exclude each other as well.  0, or -1 with errno
 * (ETIMEDOUT when another holder keeps it too long).
 */
static int
fd_lock_wait(int fd)
{
	struct flock fl;
	uint64_t start = now_ms(), waited, limit;
	struct timespec ts;
	unsigned delay = 1;

	limit = uidcache_test_lock_ms ? uidcache_test_lock_ms :
	    UC_LOCK_TIMEOUT_MS;
	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
#else
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
#endif
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		waited = now_ms() - start;
		if (waited >= limit) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (delay > limit - waited)
			delay = (unsigned)(limit - waited);
		ts.tv_sec = delay / 1000;
		ts.tv_nsec = (long)(delay % 1000) * 1000000;
		nanosleep(&ts, NULL);
		if (delay < 64)
			delay *= 2;
	}
}

static void
fd_unlock(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
	(void)fcntl(fd, F_OFD_SETLK, &fl);
#else
	(void)fcntl(fd, F_SETLK, &fl);
#endif
}

/* ---- the state ---------------------------------------------------- */

/* The folder values of a folder without a cache. */
static void
no_cache_values(struct state *s)
{
	s->uidvalidity = 0;
	s->uidnext = 1;
	s->hms = 1;
	s->first_recent = 1;
	s->xforgot = 0;
	s->nunseen = s->ndeleted = 0;
	s->ds.cur_ns = s->ds.new_ns = s->ds.scanned_ns = UC_MTIME_UNKNOWN;
}

static struct state *
state_new(void)
{
	struct state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->jfd = -1;
	no_cache_values(s);
	s->sxp_sorted = s->xov_sorted = 1;
	return s;
}

/* Drop the overlay, keeping the snapshot. */
static void
overlay_free(struct state *s)
{
	struct achunk *a, *next;

	for (a = s->arena; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	s->arena = NULL;
	free(s->ov);
	free(s->mods.slot);
	free(s->added.slot);
	free(s->addv);
	free(s->sxp);
	free(s->xov);
	s->ov = NULL;
	s->mods.slot = s->added.slot = NULL;
	s->addv = s->sxp = NULL;
	s->xov = NULL;
	s->nov = s->ovcap = s->mods.nslots = s->mods.n = 0;
	s->added.nslots = s->added.n = 0;
	s->naddv = s->addcap = s->adddead = 0;
	s->nsxp = s->sxpcap = s->nxov = s->xovcap = 0;
	s->sxp_sorted = s->xov_sorted = 1;
}

static void
state_free(struct state *s)
{
	if (s == NULL)
		return;
	overlay_free(s);
	if (s->mapped)
		mapfile_close(&s->snap);
	if (s->jfd != -1)
		close(s->jfd);
	free(s);
}

/* Make s the empty view of a damaged cache, keeping what identifies the
 * files, so a refresh notices when a writer replaces them. */
static void
state_make_empty(struct state *s)
{
	overlay_free(s);
	if (s->mapped)
		mapfile_close(&s->snap);
	s->mapped = 0;
	s->tab = s->str = s->xp = s->idx = NULL;
	s->scount = s->strsize = s->nxp = s->islots = 0;
	if (s->jfd != -1)
		close(s->jfd);
	s->jfd = -1;
	if (s->jstate == J_OURS)
		s->jstate = J_IGNORED;
	s->jops = 0;
	no_cache_values(s);
}

static int
damage(struct state *s, const char *why)
{
	if (!s->damaged) {
		s->damaged = 1;
		s->why = why;
	}
	return -2;
}

static const char *
arena_str(struct state *s, const void *p, size_t len)
{
	struct achunk *a = s->arena;
	size_t cap;
	char *d;

	if (len == 0)
		return "";
	if (a == NULL || a->cap - a->used < len + 1) {
		cap = 4096 - sizeof(*a);
		if (cap < len + 1)
			cap = len + 1;
		if ((a = malloc(sizeof(*a) + cap)) == NULL)
			return NULL;
		a->next = s->arena;
		a->used = 0;
		a->cap = cap;
		s->arena = a;
	}
	d = a->data + a->used;
	memcpy(d, p, len);
	d[len] = '\0';
	a->used += len + 1;
	return d;
}

/* Room for one more element in a growing array. */
static int
grow(void *vp, size_t *cap, size_t n, size_t size)
{
	void **v = vp, *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap < 16 ? 16 : *cap * 2;
	if (ncap > SIZE_MAX / size) {
		errno = ENOMEM;
		return -1;
	}
	if ((nv = realloc(*v, ncap * size)) == NULL)
		return -1;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* ---- snapshot entries -------------------------------------------- */

/* Message j of T as a record.  0 if the entry is out of bounds (the
 * checksum would tell; a writer looks at it before trusting the file). */
static int
snap_get(struct state *s, uint32_t j, struct uc_rec *r)
{
	const unsigned char *e = s->tab + (size_t)j * ENT_SIZE;
	uint32_t off = get32(e + 32), bits = get32(e + 36);
	size_t blen;

	if (off >= s->strsize || (bits & ~BITS_VALID) != 0)
		goto bad;
	blen = strlen((const char *)s->str + off);	/* S ends with NUL */
	if (blen == 0 || (size_t)off + blen + 1 >= s->strsize)
		goto bad;
	r->uid = get32(e);
	r->keywords = get32(e + 4);
	r->modseq = get64(e + 8);
	r->vsize = get64(e + 16);
	r->mtime = (int64_t)get64(e + 24);
	r->flags = bits & 0xff;
	r->in_new = (bits & BIT_NEW) != 0;
	r->base = (const char *)s->str + off;
	r->info = r->base + blen + 1;
	return 1;
bad:
	s->bad = 1;
	return 0;
}

/* Snapshot message j without its names (base and info NULL): a pass
 * that wants flags only need not touch the name pages at all. */
static int
snap_get_meta(struct state *s, uint32_t j, struct uc_rec *r)
{
	const unsigned char *e = s->tab + (size_t)j * ENT_SIZE;
	uint32_t off = get32(e + 32), bits = get32(e + 36);

	if (off >= s->strsize || (bits & ~BITS_VALID) != 0) {
		s->bad = 1;
		return 0;
	}
	r->uid = get32(e);
	r->keywords = get32(e + 4);
	r->modseq = get64(e + 8);
	r->vsize = get64(e + 16);
	r->mtime = (int64_t)get64(e + 24);
	r->flags = bits & 0xff;
	r->in_new = (bits & BIT_NEW) != 0;
	r->base = r->info = NULL;
	return 1;
}

static uint32_t
snap_uid(const struct state *s, uint32_t j)
{
	return get32(s->tab + (size_t)j * ENT_SIZE);
}

/* Index in T of uid, or NONE. */
static uint32_t
snap_search(const struct state *s, uint32_t uid)
{
	uint32_t lo = 0, hi = s->scount, mid, u;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		u = snap_uid(s, mid);
		if (u == uid)
			return mid;
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* Index in T of base, whose fnv1a() is hash, or NONE. */
static uint32_t
snap_base(struct state *s, const char *base, size_t len, uint32_t hash)
{
	uint32_t mask, h, v, n, off;
	const unsigned char *e;

	if (s->scount == 0)
		return NONE;
	mask = s->islots - 1;
	h = hash & mask;
	for (n = 0; n < s->islots; n++, h = (h + 1) & mask) {
		v = get32(s->idx + (size_t)h * 4);
		if (v == 0)
			return NONE;
		if (v > s->scount) {
			s->bad = 1;
			return NONE;
		}
		e = s->tab + (size_t)(v - 1) * ENT_SIZE;
		off = get32(e + 32);
		if (off < s->strsize && s->strsize - off > len &&
		    memcmp(s->str + off, base, len) == 0 &&
		    s->str[off + len] == '\0')
			return v - 1;
	}
	return NONE;
}

/* ---- the overlay ------------------------------------------------- */

/* The records with this hash on its probe sequence, in turn (start
 * with *pos = SIZE_MAX); NONE at the first empty slot. */
static uint32_t
otab_probe(const struct otab *t, uint32_t hash, size_t *pos)
{
	size_t mask;

	if (t->n == 0)
		return NONE;
	mask = t->nslots - 1;
	*pos = *pos == SIZE_MAX ? hash & mask : (*pos + 1) & mask;
	for (; t->slot[*pos].k != 0; *pos = (*pos + 1) & mask)
		if (t->slot[*pos].hash == hash)
			return t->slot[*pos].k - 1;
	return NONE;
}

static void
otab_put(struct otab *t, uint32_t hash, uint32_t k)
{
	size_t h;

	for (h = hash & (t->nslots - 1); t->slot[h].k != 0;
	    h = (h + 1) & (t->nslots - 1))
		;
	t->slot[h].k = k + 1;
	t->slot[h].hash = hash;
	t->n++;
}

/* Room for one more record in t. */
static int
otab_reserve(struct otab *t)
{
	struct otab nt;
	size_t i;

	if ((t->n + 1) * 2 <= t->nslots)
		return 0;
	nt.nslots = t->nslots == 0 ? 64 : t->nslots * 2;
	nt.n = 0;
	if ((nt.slot = calloc(nt.nslots, sizeof(*nt.slot))) == NULL)
		return -1;
	for (i = 0; i < t->nslots; i++)
		if (t->slot[i].k != 0)
			otab_put(&nt, t->slot[i].hash, t->slot[i].k - 1);
	free(t->slot);
	*t = nt;
	return 0;
}

/* The overlay record of snapshot message j, or NONE. */
static uint32_t
mod_find(const struct state *s, uint32_t j)
{
	size_t pos = SIZE_MAX;
	uint32_t k;

	while ((k = otab_probe(&s->mods, mixidx(j), &pos)) != NONE)
		if (s->ov[k].snapidx == j)
			return k;
	return NONE;
}

/* The live added message with this base (whose fnv1a() is hash), or
 * NONE. */
static uint32_t
base_find(const struct state *s, const char *base, size_t len,
    uint32_t hash)
{
	size_t pos = SIZE_MAX;
	uint32_t k;
	const struct ovrec *o;

	while ((k = otab_probe(&s->added, hash, &pos)) != NONE) {
		o = &s->ov[k];
		/* an expunged base may come back with a new UID: skip */
		if ((o->bits & OV_EXP) == 0 &&
		    strncmp(o->base, base, len) == 0 && o->base[len] == '\0')
			return k;
	}
	return NONE;
}

/* Index in ov of the added message with uid (expunged or not), or NONE. */
static uint32_t
add_search(const struct state *s, uint32_t uid)
{
	size_t lo = 0, hi = s->naddv, mid;
	uint32_t u;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		u = s->ov[s->addv[mid]].uid;
		if (u == uid)
			return s->addv[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static struct ovrec *
ov_new(struct state *s)
{
	struct ovrec *o;

	if (s->nov >= NONE - 1) {
		errno = ENOMEM;
		return NULL;
	}
	if (grow(&s->ov, &s->ovcap, s->nov, sizeof(*s->ov)) == -1)
		return NULL;
	o = &s->ov[s->nov++];
	memset(o, 0, sizeof(*o));
	return o;
}

/* The overlay copy of snapshot message j, made on first change. */
static struct ovrec *
ov_of_snap(struct state *s, uint32_t j)
{
	struct uc_rec r;
	struct ovrec *o;
	uint32_t k = mod_find(s, j);

	if (k != NONE)
		return &s->ov[k];
	if (otab_reserve(&s->mods) == -1)
		return NULL;
	if (!snap_get(s, j, &r)) {
		errno = EIO;
		return NULL;
	}
	if ((o = ov_new(s)) == NULL)
		return NULL;
	o->uid = r.uid;
	o->bits = r.flags | (r.in_new ? BIT_NEW : 0);
	o->keywords = r.keywords;
	o->snapidx = j;
	o->modseq = r.modseq;
	o->vsize = r.vsize;
	o->mtime = r.mtime;
	o->base = r.base;
	o->info = r.info;
	otab_put(&s->mods, mixidx(j), (uint32_t)(s->nov - 1));
	return o;
}

static void
ov_to_rec(const struct ovrec *o, struct uc_rec *r)
{
	r->uid = o->uid;
	r->flags = o->bits & 0xff;
	r->keywords = o->keywords;
	r->modseq = o->modseq;
	r->vsize = o->vsize;
	r->mtime = o->mtime;
	r->in_new = (o->bits & BIT_NEW) != 0;
	r->base = o->base;
	r->info = o->info;
}

/* Snapshot message j as it is now; 0 if expunged. */
static int
rec_of_snap(struct state *s, uint32_t j, struct uc_rec *r)
{
	uint32_t k = mod_find(s, j);

	if (k == NONE)
		return snap_get(s, j, r);
	if (s->ov[k].bits & OV_EXP)
		return 0;
	ov_to_rec(&s->ov[k], r);
	return 1;
}

/* The live message with uid: its overlay record (made if needed). */
static struct ovrec *
live_by_uid(struct state *s, uint32_t uid)
{
	uint32_t j, k;

	if ((j = snap_search(s, uid)) != NONE) {
		k = mod_find(s, j);
		if (k == NONE)
			return ov_of_snap(s, j);
		k = (s->ov[k].bits & OV_EXP) ? NONE : k;
	} else
		k = add_search(s, uid);
	if (k == NONE || (s->ov[k].bits & OV_EXP)) {
		errno = ENOENT;
		return NULL;
	}
	return &s->ov[k];
}

/* Is base (whose fnv1a() is hash) a live message's? */
static int
live_base(struct state *s, const char *base, size_t len, uint32_t hash)
{
	uint32_t j = snap_base(s, base, len, hash), k;

	if (j != NONE) {
		k = mod_find(s, j);
		if (k == NONE || (s->ov[k].bits & OV_EXP) == 0)
			return 1;
	}
	return base_find(s, base, len, hash) != NONE;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_xuid(const void *a, const void *b)
{
	const struct xpair *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int
cmp_xmodseq(const void *a, const void *b)
{
	const struct xpair *x = a, *y = b;

	return x->modseq < y->modseq ? -1 : x->modseq > y->modseq;
}

/*
 * Put the lazily kept lists in order: the expunged snapshot indexes and
 * the journal's expunges sorted, expunged added messages dropped from
 * addv.  Done on the first lookup that needs it, so a run of changes
 * costs one sort and not one insertion each.
 */
static void
settle(struct state *s)
{
	size_t i, n;

	if (!s->sxp_sorted) {
		qsort(s->sxp, s->nsxp, sizeof(*s->sxp), cmp_u32);
		s->sxp_sorted = 1;
	}
	if (!s->xov_sorted) {
		qsort(s->xov, s->nxov, sizeof(*s->xov), cmp_xuid);
		s->xov_sorted = 1;
	}
	if (s->adddead > 0) {
		for (i = n = 0; i < s->naddv; i++)
			if ((s->ov[s->addv[i]].bits & OV_EXP) == 0)
				s->addv[n++] = s->addv[i];
		s->naddv = n;
		s->adddead = 0;
	}
}

/* ---- operations -------------------------------------------------- */

/* A pending add of a base already live is refused with EEXIST, not
 * taken as damage: apply_op() says so with this reason. */
static const char why_twice[] = "journal: a base added twice";

/* Count a live message's flags into the folder's counters, or out. */
static void
counts_add(struct state *s, uint32_t bits)
{
	s->nunseen += (bits & MF_SEEN) == 0;
	s->ndeleted += (bits & MF_DELETED) != 0;
}

static void
counts_sub(struct state *s, uint32_t bits)
{
	s->nunseen -= (bits & MF_SEEN) == 0;
	s->ndeleted -= (bits & MF_DELETED) != 0;
}

struct dec {
	const unsigned char	*p, *end;
	int			 bad;
};

static unsigned
d8(struct dec *d)
{
	if (d->p >= d->end) {
		d->bad = 1;
		return 0;
	}
	return *d->p++;
}

static uint32_t
d32(struct dec *d)
{
	uint32_t v;

	if (d->end - d->p < 4) {
		d->bad = 1;
		return 0;
	}
	v = get32(d->p);
	d->p += 4;
	return v;
}

static uint64_t
d64(struct dec *d)
{
	uint64_t v;

	if (d->end - d->p < 8) {
		d->bad = 1;
		return 0;
	}
	v = get64(d->p);
	d->p += 8;
	return v;
}

static const unsigned char *
dstr(struct dec *d, size_t *len)
{
	const unsigned char *p;

	*len = d8(d);
	if (d->bad || (size_t)(d->end - d->p) < *len) {
		d->bad = 1;
		*len = 0;
		return (const unsigned char *)"";
	}
	p = d->p;
	d->p += *len;
	return p;
}

/*
 * Apply one operation to the state, checking the invariants.  The same
 * code applies a change as it is made and replays it from the journal,
 * so the two cannot disagree.  0, -1 with errno (ENOMEM), or -2 for an
 * operation that breaks an invariant (damage, s->why).
 */
static int
apply_op(struct state *s, struct dec *d)
{
	struct ovrec *o;
	const unsigned char *b, *in;
	const char *ninfo;
	size_t blen, ilen;
	uint32_t uid, bits, kw, h;
	uint64_t ms, vs;
	int64_t mt;
	struct xpair *x;

	switch (d8(d)) {
	case 'A':
		uid = d32(d);
		bits = d32(d);
		kw = d32(d);
		ms = d64(d);
		vs = d64(d);
		mt = (int64_t)d64(d);
		b = dstr(d, &blen);
		in = dstr(d, &ilen);
		if (d->bad)
			return damage(s, "journal: truncated add");
		if (uid < s->uidnext || uid > UC_UID_MAX || uid == 0)
			return damage(s, "journal: add with a UID below UIDNEXT");
		if ((bits & ~BITS_VALID) != 0 || ms <= s->hms ||
		    !name_ok(b, blen, 0) || !name_ok(in, ilen, 1))
			return damage(s, "journal: malformed add");
		h = fnv1a(b, blen);
		if (live_base(s, (const char *)b, blen, h))
			return damage(s, why_twice);
		if (grow(&s->addv, &s->addcap, s->naddv,
		    sizeof(*s->addv)) == -1)
			return -1;
		if (otab_reserve(&s->added) == -1)
			return -1;
		if ((o = ov_new(s)) == NULL)
			return -1;
		o->uid = uid;
		o->bits = bits | OV_ADDED;
		o->keywords = kw;
		o->snapidx = NONE;
		o->modseq = ms;
		o->vsize = vs;
		o->mtime = mt;
		if ((o->base = arena_str(s, b, blen)) == NULL ||
		    (o->info = arena_str(s, in, ilen)) == NULL) {
			s->nov--;
			return -1;
		}
		otab_put(&s->added, h, (uint32_t)s->nov - 1);
		s->addv[s->naddv++] = (uint32_t)s->nov - 1;
		s->uidnext = uid + 1;
		s->hms = ms;
		counts_add(s, bits);
		return 0;
	case 'U':
		uid = d32(d);
		bits = d32(d);
		kw = d32(d);
		ms = d64(d);
		in = dstr(d, &ilen);
		if (d->bad)
			return damage(s, "journal: truncated update");
		if ((bits & ~BITS_VALID) != 0 || !name_ok(in, ilen, 1))
			return damage(s, "journal: malformed update");
		if ((o = live_by_uid(s, uid)) == NULL)
			return errno == ENOENT ?
			    damage(s, "journal: update of an unknown UID") : -1;
		if (ms != o->modseq && (ms <= s->hms || ms < o->modseq))
			return damage(s, "journal: update MODSEQ not above "
			    "HIGHESTMODSEQ");
		/* allocate before changing anything: a failure here must
		 * leave the state as it was */
		ninfo = o->info;
		if (strlen(o->info) != ilen || memcmp(o->info, in, ilen) != 0)
			if ((ninfo = arena_str(s, in, ilen)) == NULL)
				return -1;
		if (ms != o->modseq)
			s->hms = ms;
		counts_sub(s, o->bits);
		counts_add(s, bits);
		o->info = ninfo;
		o->bits = (o->bits & ~BITS_VALID) | bits;
		o->keywords = kw;
		o->modseq = ms;
		return 0;
	case 'F':
		uid = d32(d);
		vs = d64(d);
		mt = (int64_t)d64(d);
		if (d->bad)
			return damage(s, "journal: truncated facts");
		if ((o = live_by_uid(s, uid)) == NULL)
			return errno == ENOENT ?
			    damage(s, "journal: facts of an unknown UID") : -1;
		o->vsize = vs;
		o->mtime = mt;
		return 0;
	case 'X':
		uid = d32(d);
		ms = d64(d);
		if (d->bad)
			return damage(s, "journal: truncated expunge");
		if (ms <= s->hms)
			return damage(s, "journal: expunge MODSEQ not above "
			    "HIGHESTMODSEQ");
		if (grow(&s->xov, &s->xovcap, s->nxov, sizeof(*s->xov)) == -1 ||
		    grow(&s->sxp, &s->sxpcap, s->nsxp, sizeof(*s->sxp)) == -1)
			return -1;
		if ((o = live_by_uid(s, uid)) == NULL)
			return errno == ENOENT ?
			    damage(s, "journal: expunge of an unknown UID") : -1;
		counts_sub(s, o->bits);
		o->bits |= OV_EXP;
		o->modseq = ms;
		s->hms = ms;
		if (o->snapidx != NONE) {
			if (s->nsxp > 0 && s->sxp[s->nsxp - 1] > o->snapidx)
				s->sxp_sorted = 0;
			s->sxp[s->nsxp++] = o->snapidx;
		} else
			s->adddead++;
		x = &s->xov[s->nxov++];
		if (s->nxov > 1 && x[-1].uid > uid)
			s->xov_sorted = 0;
		x->uid = uid;
		x->modseq = ms;
		return 0;
	case 'R':
		uid = d32(d);
		if (d->bad)
			return damage(s, "journal: truncated recent");
		if (uid < s->first_recent || uid > s->uidnext)
			return damage(s, "journal: first recent UID out of "
			    "order");
		s->first_recent = uid;
		return 0;
	case 'D':
		s->ds.cur_ns = (int64_t)d64(d);
		s->ds.new_ns = (int64_t)d64(d);
		s->ds.scanned_ns = (int64_t)d64(d);
		if (d->bad)
			return damage(s, "journal: truncated dirstamp");
		return 0;
	default:
		return damage(s, "journal: unknown operation");
	}
}

/* Apply a commit's body; 0, -1 (errno) or -2 (damage). */
static int
apply_commit(struct state *s, const unsigned char *body, size_t len)
{
	struct dec d = { body, body + len, 0 };
	uint32_t next = d32(&d);
	uint64_t hms = d64(&d);
	int r;

	if (d.bad)
		return damage(s, "journal: short commit");
	while (d.p < d.end) {
		if ((r = apply_op(s, &d)) != 0)
			return r;
		s->jops++;
	}
	if (s->uidnext != next || s->hms != hms)
		return damage(s, "journal: commit totals do not match its "
		    "operations");
	return 0;
}

/* Does a valid commit start anywhere in p[0..len)? */
static int
later_commit(const unsigned char *p, size_t len)
{
	static const unsigned char magic[4] = { 'U', 'C', 'R', '1' };
	const unsigned char *q, *end = p + len;
	uint32_t blen;

	for (q = p; (q = memmem(q, (size_t)(end - q), magic, 4)) != NULL;
	    q++) {
		if (end - q < RECHDR_SIZE)
			break;
		blen = get32(q + 4);
		if (blen < COMMIT_HDR || blen > (size_t)(end - q) - RECHDR_SIZE)
			continue;
		if (crc(crc(0, q + 4, 4), q + RECHDR_SIZE, blen) ==
		    get32(q + 8))
			return 1;
	}
	return 0;
}

/*
 * Read the commits after s->jend and apply them.  A writer tells a torn
 * tail (noted, to be cut off before the next append) from damage.  1 if
 * a commit was applied, 0 if none, -1 on error (errno), -2 on damage.
 */
static int
journal_read(struct state *s, int writer)
{
	struct stat st;
	unsigned char *buf;
	size_t len, got, p = 0;
	uint32_t blen;
	int r, applied = 0;

	if (fstat(s->jfd, &st) == -1)
		return -1;
	if (st.st_size < s->jend)
		return damage(s, "journal: shorter than what was read of it");
	s->jseen = st.st_size;
	if (st.st_size == s->jend) {
		s->jtorn = 0;
		return 0;
	}
	if ((uint64_t)(st.st_size - s->jend) > SIZE_MAX / 2) {
		errno = EFBIG;
		return -1;
	}
	len = (size_t)(st.st_size - s->jend);
	if ((buf = malloc(len)) == NULL)
		return -1;
	if (pread_all(s->jfd, buf, len, s->jend, &got) == -1) {
		free(buf);
		return -1;
	}
	len = got;
	while (len - p >= RECHDR_SIZE) {
		if (get32(buf + p) != REC_MAGIC)
			break;
		blen = get32(buf + p + 4);
		if (blen < COMMIT_HDR || blen > COMMIT_MAX ||
		    blen > len - p - RECHDR_SIZE)
			break;
		if (crc(crc(0, buf + p + 4, 4), buf + p + RECHDR_SIZE, blen) !=
		    get32(buf + p + 8))
			break;
		if ((r = apply_commit(s, buf + p + RECHDR_SIZE, blen)) != 0) {
			/* half a commit applied: load afresh next time */
			s->stale = 1;
			free(buf);
			return r;
		}
		p += RECHDR_SIZE + blen;
		s->jend += RECHDR_SIZE + blen;
		applied = 1;
	}
	s->jtorn = p < len;
	if (s->jtorn && writer && later_commit(buf + p + 1, len - p - 1)) {
		free(buf);
		return damage(s, "journal: a damaged commit before good ones");
	}
	free(buf);
	return applied;
}

/* ---- loading ----------------------------------------------------- */

static const unsigned char *
cdb_value(struct state *s, const char *key, uint32_t *len)
{
	const void *v;

	if (cdb_find(&s->db, key, 1) <= 0)
		return NULL;
	*len = cdb_datalen(&s->db);
	v = cdb_get(&s->db, *len, cdb_datapos(&s->db));
	return v;
}

/* Count the messages of T without \Seen and with \Deleted. */
static void
snap_counts(const struct state *s, uint32_t *unseen, uint32_t *deleted)
{
	const unsigned char *e = s->tab;
	uint32_t j;

	*unseen = *deleted = 0;
	for (j = 0; j < s->scount; j++, e += ENT_SIZE) {
		*unseen += (e[36] & MF_SEEN) == 0;
		*deleted += (e[36] & MF_DELETED) != 0;
	}
}

/* Check the snapshot's header and record sizes, and take its counts
 * (counting T if the header has none); NULL or the reason. */
static const char *
snap_check(struct state *s)
{
	const unsigned char *h;
	uint32_t len, n;

	if ((h = cdb_value(s, "H", &len)) == NULL)
		return "snapshot: no header";
	if (len != HDR_SIZE)
		return "snapshot: header of the wrong size";
	if (memcmp(h, "IMUC", 4) != 0)
		return "snapshot: bad magic";
	if (crc(0, h, 124) != get32(h + 124))
		return "snapshot: header checksum";
	/* from here the header is what was written: its UIDVALIDITY can
	 * serve as a floor even if the rest is damaged */
	if (get32(h + 32) >= 1 && get32(h + 32) <= UC_UID_MAX)
		s->damaged_uv = get32(h + 32);
	if (get32(h + 4) != 1 || get32(h + 8) != HDR_SIZE)
		return "snapshot: unknown version";
	s->scount = get32(h + 12);
	s->gen = get64(h + 16);
	s->prev_gen = get64(h + 24);
	s->uidvalidity = get32(h + 32);
	s->uidnext = get32(h + 36);
	s->hms = get64(h + 40);
	s->first_recent = get32(h + 48);
	s->nxp = get32(h + 52);
	s->xforgot = get64(h + 56);
	s->ds.cur_ns = (int64_t)get64(h + 64);
	s->ds.new_ns = (int64_t)get64(h + 72);
	s->ds.scanned_ns = (int64_t)get64(h + 80);
	s->strsize = get32(h + 88);
	s->islots = get32(h + 92);
	s->body_crc = get32(h + 96);
	s->nunseen = get32(h + 100);
	s->ndeleted = get32(h + 104);
	s->hdr_counts = (get32(h + 108) & HDR_COUNTS) != 0;
	if (s->gen == 0 || s->uidvalidity == 0 ||
	    s->uidvalidity > UC_UID_MAX || s->uidnext == 0 ||
	    s->uidnext > UC_UID_MAX + 1 || s->scount > s->uidnext - 1 ||
	    s->first_recent == 0 || s->first_recent > s->uidnext ||
	    s->hms == 0)
		return "snapshot: header values out of range";
	if ((s->tab = cdb_value(s, "T", &len)) == NULL ||
	    len / ENT_SIZE != s->scount || len % ENT_SIZE != 0)
		return "snapshot: message table does not match the count";
	if ((s->str = cdb_value(s, "S", &len)) == NULL || len != s->strsize ||
	    (len > 0 && s->str[len - 1] != '\0') ||
	    (len == 0 && s->scount > 0))
		return "snapshot: bad name table";
	if ((s->xp = cdb_value(s, "X", &len)) == NULL ||
	    len / XENT_SIZE != s->nxp || len % XENT_SIZE != 0)
		return "snapshot: expunge list does not match its count";
	n = s->islots;
	if ((s->idx = cdb_value(s, "I", &len)) == NULL || n == 0 ||
	    (n & (n - 1)) != 0 || n <= s->scount || len / 4 != n ||
	    len % 4 != 0)
		return "snapshot: bad base index";
	if (!s->hdr_counts || s->nunseen > s->scount ||
	    s->ndeleted > s->scount) {
		/* written before the header had counts: one pass */
		s->hdr_counts = 0;
		snap_counts(s, &s->nunseen, &s->ndeleted);
	}
	return NULL;
}

static uint32_t
snap_body_crc(const struct state *s)
{
	uint32_t c = 0;

	c = crc(c, s->tab, (size_t)s->scount * ENT_SIZE);
	c = crc(c, s->str, s->strsize);
	c = crc(c, s->xp, (size_t)s->nxp * XENT_SIZE);
	return crc(c, s->idx, (size_t)s->islots * 4);
}

/*
 * A writer's check of the header's counts, in the pass that verifies the
 * checksum.  They are derived from T, not part of what the cache must
 * never lose: wrong ones (a bug, or another program writing the file)
 * are logged and replaced by the true ones, and the next commit writes a
 * new snapshot; nothing is set aside.
 */
static void
snap_recount(const struct uidcache *c, struct state *s)
{
	uint32_t u, d;

	snap_counts(s, &u, &d);
	if (u == s->nunseen && d == s->ndeleted)
		return;
	log_warnx("%s: UID cache snapshot header counts %u messages without "
	    "\\Seen and %u with \\Deleted, its table %u and %u; using the "
	    "table's (the next change rewrites the snapshot)", c->dir,
	    s->nunseen, s->ndeleted, u, d);
	s->nunseen = u;
	s->ndeleted = d;
	s->recounted = s->rewrite = 1;
}

/* Read a journal header; 1 valid (gen and uidvalidity filled), 0 not. */
static int
log_header(int fd, uint64_t *gen, uint32_t *uv, int *ioerr)
{
	unsigned char h[LOGHDR_SIZE];
	size_t got;

	*ioerr = 0;
	if (pread_all(fd, h, sizeof(h), 0, &got) == -1) {
		*ioerr = 1;
		return 0;
	}
	if (got != sizeof(h) || memcmp(h, "IMUJ", 4) != 0 ||
	    get32(h + 4) != 1 || crc(0, h, 28) != get32(h + 28))
		return 0;
	*gen = get64(h + 8);
	*uv = get32(h + 16);
	return 1;
}

static int
open_journal(const struct uidcache *c, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (path_of(c, name, path) == -1)
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd;
}

/*
 * Load the snapshot and its journal from scratch into *sp (always set
 * unless -1).  A writer also verifies the snapshot's checksum and tells
 * torn journal tails from damage.  Returns an LS_* value or -1 (errno).
 */
static int
load_full(struct uidcache *c, int writer, struct state **sp)
{
	char path[PATH_MAX];
	struct state *s;
	struct stat st;
	const char *why;
	uint64_t jgen;
	uint32_t juv;
	int fd, ioerr, r;

	if ((*sp = s = state_new()) == NULL)
		return -1;
	if (path_of(c, FN_CDB, path) == -1)
		goto fail;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			goto fail;
		if ((s->jfd = open_journal(c, FN_LOG)) == -1)
			return errno == ENOENT ? LS_NONE : -1;
		if (fstat(s->jfd, &st) == -1)
			goto fail;
		s->jdev = st.st_dev;
		s->jino = st.st_ino;
		s->jstate = J_IGNORED;
		if (log_header(s->jfd, &jgen, &juv, &ioerr) &&
		    juv <= UC_UID_MAX)
			s->damaged_uv = juv;
		else if (ioerr)
			goto fail;
		close(s->jfd);
		s->jfd = -1;
		damage(s, "journal without its snapshot (snapshot lost)");
		return LS_DAMAGED;
	}
	if (fstat(fd, &st) == -1) {
		close(fd);
		goto fail;
	}
	s->have_cdb = 1;
	s->cdb_dev = st.st_dev;
	s->cdb_ino = st.st_ino;
	s->cdb_size = st.st_size;
	if (st.st_size < 2048 || (uint64_t)st.st_size > UINT32_MAX) {
		close(fd);
		damage(s, "snapshot: not a cdb file");
		return LS_DAMAGED;
	}
	/* mapped, or read where a mapping is unsafe (see mapfile.h) */
	if (mapfile_open(fd, (size_t)st.st_size, 0, &s->snap) == -1) {
		r = errno;
		close(fd);
		errno = r;
		goto fail;
	}
	/* the view outlives the descriptor */
	close(fd);
	s->mapped = 1;
	(void)mapfile_cdb(&s->snap, &s->db);	/* the size is checked */
	if ((why = snap_check(s)) != NULL) {
		damage(s, why);
		return LS_DAMAGED;
	}
	if (writer && !(c->vok && c->vdev == s->cdb_dev &&
	    c->vino == s->cdb_ino && c->vgen == s->gen)) {
		if (snap_body_crc(s) != s->body_crc) {
			damage(s, "snapshot: checksum of the message tables");
			return LS_DAMAGED;
		}
		if (s->hdr_counts)
			snap_recount(c, s);
		c->vok = !s->recounted;
		c->vdev = s->cdb_dev;
		c->vino = s->cdb_ino;
		c->vgen = s->gen;
	}
	/* an older imapd's snapshot: every load counts T until a new one
	 * is written with the counts, which the next commit does */
	if (writer && !s->hdr_counts)
		s->rewrite = 1;

	if ((s->jfd = open_journal(c, FN_LOG)) == -1) {
		if (errno != ENOENT)
			goto fail;
		s->jstate = J_NONE;
		return LS_NEEDLOG;
	}
	if (fstat(s->jfd, &st) == -1)
		goto fail;
	s->jdev = st.st_dev;
	s->jino = st.st_ino;
	if (!log_header(s->jfd, &jgen, &juv, &ioerr)) {
		if (ioerr)
			goto fail;
		s->jstate = J_IGNORED;
		damage(s, "journal: bad header");
		return LS_DAMAGED;
	}
	if (jgen == s->gen && juv != s->uidvalidity) {
		s->jstate = J_IGNORED;
		damage(s, "journal: UIDVALIDITY differs from the snapshot's");
		return LS_DAMAGED;
	}
	if (jgen == s->gen) {
		s->jstate = J_OURS;
		s->jend = LOGHDR_SIZE;
		r = journal_read(s, writer);
		if (r == -1)
			goto fail;
		return r == -2 ? LS_DAMAGED : LS_OK;
	}
	close(s->jfd);
	s->jfd = -1;
	s->jstate = J_IGNORED;
	if (jgen == s->prev_gen)
		return LS_NEEDLOG;
	s->why = "journal of another snapshot";
	return LS_MISMATCH;
fail:
	r = errno;
	state_free(s);
	*sp = NULL;
	errno = r;
	return -1;
}

/* The view a reader gets: never waits, never writes. */
static int
reader_load(struct uidcache *c, struct state **sp)
{
	struct state *s = NULL;
	int tries, r = LS_NONE;

	for (tries = 0; tries < READ_TRIES; tries++) {
		state_free(s);
		if ((r = load_full(c, 0, &s)) == -1)
			return -1;
		if (r != LS_MISMATCH)
			break;
		/* a compaction between our two open()s: look again */
		sched_yield();
	}
	if (r == LS_MISMATCH) {
		s->stale = 1;
		log_debug("%s: UID cache journal does not match its snapshot; "
		    "using the snapshot alone", c->dir);
	} else if (r == LS_DAMAGED) {
		state_make_empty(s);
		log_debug("%s: UID cache unusable (%s); waiting for a writer "
		    "to rebuild it", c->dir, s->why);
	}
	*sp = s;
	return 0;
}

static void
install(struct uidcache *c, struct state *ns)
{
	state_free(c->s);
	c->s = ns;
	c->changes++;
}

/* ---- writing files ----------------------------------------------- */

/* Write a journal header into a new file at path; fsync it. */
static int
write_log_file(const char *path, uint64_t gen, uint32_t uv)
{
	unsigned char h[LOGHDR_SIZE];
	int fd, e;

	memset(h, 0, sizeof(h));
	memcpy(h, "IMUJ", 4);
	put32(h + 4, 1);
	put64(h + 8, gen);
	put32(h + 16, uv);
	put32(h + 28, crc(0, h, 28));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, h, sizeof(h)) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	return close(fd);
}

static int
fnv_insert(unsigned char *idx, uint32_t slots, const char *base,
    size_t len, uint32_t j)
{
	uint32_t h = fnv1a(base, len) & (slots - 1), n;

	for (n = 0; n < slots; n++, h = (h + 1) & (slots - 1))
		if (get32(idx + (size_t)h * 4) == 0) {
			put32(idx + (size_t)h * 4, j + 1);
			return 0;
		}
	return -1;
}

/* How far a failed write_snapshot() got. */
enum {
	SNAP_NONE,	/* the old files are in place, the new state nowhere */
	SNAP_PLACED,	/* the new cdb is in place (others may read it), but
			 * the directory fsync after its rename failed */
	SNAP_DURABLE	/* the new cdb is in place and durable; putting its
			 * journal in place failed, which the next load does */
};

/*
 * Write a new snapshot from src with a new generation, and an empty
 * journal for it, and rename both into place (see COMPACTION above for
 * the order and why).  *gen_r is the new generation.  0, or -1 (errno)
 * with *stage_r saying how far it got.
 */
static int
write_snapshot(struct uidcache *c, struct snapsrc *src, uint64_t prev_gen,
    uint64_t *gen_r, int *stage_r)
{
	char pcdb[PATH_MAX], plog[PATH_MAX], pcdbn[PATH_MAX], plogn[PATH_MAX];
	unsigned char hdr[HDR_SIZE], *tab = NULL, *xp = NULL, *idx = NULL;
	struct buf str;
	struct cdb_make cm;
	struct uc_rec r;
	struct stat st;
	uint64_t gen, xforgot = src->xforgot;
	uint32_t slots, prev_uid = 0, bodycrc, unseen = 0, deleted = 0;
	size_t i, nxp = src->nxp, keep0 = 0, blen, ilen;
	int fd = -1, e, made = 0;

	*stage_r = SNAP_NONE;
	buf_init(&str, (size_t)UINT32_MAX - 1);
	if (path_of(c, FN_CDB, pcdb) == -1 || path_of(c, FN_LOG, plog) == -1 ||
	    path_of(c, FN_CDB_NEW, pcdbn) == -1 ||
	    path_of(c, FN_LOG_NEW, plogn) == -1)
		return -1;
	if (src->count > UC_UID_MAX ||
	    (size_t)src->count * ENT_SIZE > UINT32_MAX / 2) {
		errno = EFBIG;
		return -1;
	}
	for (slots = 16; slots < src->count * 2 + 1; slots *= 2)
		;
	/* drop the oldest expunges beyond what is kept */
	if (nxp > UC_EXPUNGED_KEEP) {
		qsort(src->xp, nxp, sizeof(*src->xp), cmp_xmodseq);
		keep0 = nxp - UC_EXPUNGED_KEEP;
		if (src->xp[keep0 - 1].modseq > xforgot)
			xforgot = src->xp[keep0 - 1].modseq;
		qsort(src->xp + keep0, UC_EXPUNGED_KEEP, sizeof(*src->xp),
		    cmp_xuid);
		nxp = UC_EXPUNGED_KEEP;
	}
	/* names are some 60 bytes a message: one reservation, not a dozen
	 * doublings each copying what came before */
	(void)buf_reserve(&str, src->count * 72);
	tab = malloc(src->count * ENT_SIZE + 1);
	xp = malloc(nxp * XENT_SIZE + 1);
	idx = calloc(slots, 4);
	if (tab == NULL || xp == NULL || idx == NULL)
		goto fail;
	for (i = 0; i < src->count; i++) {
		unsigned char *e8 = tab + i * ENT_SIZE;

		if (!src->get(src->arg, i, &r) || r.uid <= prev_uid ||
		    r.uid >= src->uidnext) {
			errno = EINVAL;	/* cannot happen: state is checked */
			goto fail;
		}
		prev_uid = r.uid;
		put32(e8, r.uid);
		put32(e8 + 4, r.keywords);
		put64(e8 + 8, r.modseq);
		put64(e8 + 16, r.vsize);
		put64(e8 + 24, (uint64_t)r.mtime);
		put32(e8 + 32, (uint32_t)str.len);
		put32(e8 + 36, r.flags | (r.in_new ? BIT_NEW : 0));
		unseen += (r.flags & MF_SEEN) == 0;
		deleted += (r.flags & MF_DELETED) != 0;
		blen = strlen(r.base);
		ilen = strlen(r.info);
		if (buf_add(&str, r.base, blen + 1) == -1 ||
		    buf_add(&str, r.info, ilen + 1) == -1)
			goto fail;
		if (fnv_insert(idx, slots, r.base, blen, (uint32_t)i) == -1) {
			errno = EINVAL;
			goto fail;
		}
	}
	for (i = 0; i < nxp; i++) {
		put32(xp + i * XENT_SIZE, src->xp[keep0 + i].uid);
		put64(xp + i * XENT_SIZE + 4, src->xp[keep0 + i].modseq);
	}
	bodycrc = crc(0, tab, src->count * ENT_SIZE);
	bodycrc = crc(bodycrc, str.data != NULL ? str.data : "", str.len);
	bodycrc = crc(bodycrc, xp, nxp * XENT_SIZE);
	bodycrc = crc(bodycrc, idx, (size_t)slots * 4);

	gen = new_generation(prev_gen);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, "IMUC", 4);
	put32(hdr + 4, 1);
	put32(hdr + 8, HDR_SIZE);
	put32(hdr + 12, (uint32_t)src->count);
	put64(hdr + 16, gen);
	put64(hdr + 24, prev_gen);
	put32(hdr + 32, src->uidvalidity);
	put32(hdr + 36, src->uidnext);
	put64(hdr + 40, src->hms);
	put32(hdr + 48, src->first_recent);
	put32(hdr + 52, (uint32_t)nxp);
	put64(hdr + 56, xforgot);
	put64(hdr + 64, (uint64_t)src->ds.cur_ns);
	put64(hdr + 72, (uint64_t)src->ds.new_ns);
	put64(hdr + 80, (uint64_t)src->ds.scanned_ns);
	put32(hdr + 88, (uint32_t)str.len);
	put32(hdr + 92, slots);
	put32(hdr + 96, bodycrc);
	put32(hdr + 100, unseen);
	put32(hdr + 104, deleted);
	put32(hdr + 108, HDR_COUNTS);
	put32(hdr + 124, crc(0, hdr, 124));

	STEP(UCS_SNAP_BEGIN);
	fd = open(pcdbn, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	made = 1;
	if (cdb_make_start(&cm, fd) == -1)
		goto fail;
	if (cdb_make_add(&cm, "H", 1, hdr, HDR_SIZE) == -1 ||
	    cdb_make_add(&cm, "T", 1, tab,
	    (unsigned)(src->count * ENT_SIZE)) == -1 ||
	    cdb_make_add(&cm, "S", 1, str.data != NULL ? str.data : "",
	    (unsigned)str.len) == -1 ||
	    cdb_make_add(&cm, "X", 1, xp, (unsigned)(nxp * XENT_SIZE)) == -1 ||
	    cdb_make_add(&cm, "I", 1, idx, slots * 4) == -1) {
		e = errno;
		cdb_make_finish(&cm);	/* frees its lists */
		errno = e;
		goto fail;
	}
	if (cdb_make_finish(&cm) == -1)
		goto fail;
	STEP(UCS_SNAP_CDB);
	if (fsync(fd) == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	STEP(UCS_SNAP_CDBSYNC);
	if (write_log_file(plogn, gen, src->uidvalidity) == -1)
		goto fail;
	STEP(UCS_SNAP_LOG);
	if (sync_dir(c) == -1)
		goto fail;
	STEP(UCS_SNAP_DIRSYNC);
	if (rename(pcdbn, pcdb) == -1)
		goto fail;
	made = 0;
	*stage_r = SNAP_PLACED;
	/* this snapshot's checksum is known good: no need to verify */
	c->vok = 1;
	c->vdev = st.st_dev;
	c->vino = st.st_ino;
	c->vgen = gen;
	if (sync_dir(c) == -1)
		goto fail_late;
	*stage_r = SNAP_DURABLE;
	STEP(UCS_SNAP_RENAME1);
	if (rename(plogn, plog) == -1)
		goto fail_late;
	STEP(UCS_SNAP_RENAME2);
	if (sync_dir(c) == -1)
		goto fail_late;
	STEP(UCS_SNAP_DONE);
	free(tab);
	free(xp);
	free(idx);
	buf_free(&str);
	*gen_r = gen;
	return 0;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	if (made) {
		unlink(pcdbn);
		unlink(plogn);
	}
	free(tab);
	free(xp);
	free(idx);
	buf_free(&str);
	errno = e;
	return -1;
fail_late:
	/* the new snapshot is in place; its journal is in log.new (durable
	 * from the fsync before the renames), which the next load renames */
	e = errno;
	free(tab);
	free(xp);
	free(idx);
	buf_free(&str);
	errno = e;
	return -1;
}

/* ---- UIDVALIDITY ------------------------------------------------- */

/* The greatest UIDVALIDITY used here, 0 if unknown. */
static uint32_t
read_uidv(const struct uidcache *c)
{
	char path[PATH_MAX], b[32];
	uint64_t v;
	size_t got;
	int fd;

	if (path_of(c, FN_UIDV, path) == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot read", path);
		return 0;
	}
	if (pread_all(fd, b, sizeof(b) - 1, 0, &got) == -1) {
		log_warn("%s: cannot read", path);
		close(fd);
		return 0;
	}
	close(fd);
	if (got > 0 && b[got - 1] == '\n')
		got--;
	if (strnum_u64_n(b, got, UC_UID_MAX, &v) == -1) {
		log_warnx("%s: not a UIDVALIDITY; ignored (the next one is "
		    "taken from the clock)", path);
		return 0;
	}
	return (uint32_t)v;
}

static int
write_uidv(const struct uidcache *c, uint32_t uv)
{
	char path[PATH_MAX], tmp[PATH_MAX], b[16];
	int fd, n, e;

	if (path_of(c, FN_UIDV, path) == -1 ||
	    path_of(c, FN_UIDV_NEW, tmp) == -1)
		return -1;
	n = snprintf(b, sizeof(b), "%u\n", uv);
	if (n < 0 || (size_t)n >= sizeof(b)) {
		errno = EOVERFLOW;
		return -1;
	}
	STEP(UCS_UIDV_WRITE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, b, (size_t)n) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	STEP(UCS_UIDV_SYNCED);
	if (rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	STEP(UCS_UIDV_RENAMED);
	return sync_dir(c);
}

/*
 * The Maildir-wide floor: FN_UIDV_MAX at the Maildir's root (the folder
 * itself for INBOX, the parent of a folder with a maildirfolder file)
 * holds the greatest UIDVALIDITY given to any of its folders.  A
 * folder's own FN_UIDV goes away with the folder, this one does not, so
 * a folder deleted and created again under the same name gets a greater
 * UIDVALIDITY than it had before, even within one second.  It is
 * rewritten in place under an fcntl() lock of its own: ten digits and a
 * newline, one write within one disk sector, so a crash leaves the old
 * value or the new one.
 */
static int
tree_path(const struct uidcache *c, char *out)
{
	char p[PATH_MAX];
	size_t len = strlen(c->dir);
	const char *slash;
	int n;

	if (path_of(c, "maildirfolder", p) == -1)
		return -1;
	if (access(p, F_OK) == -1) {
		if (errno != ENOENT)
			return -1;
		return path_of(c, FN_UIDV_MAX, out);
	}
	while (len > 1 && c->dir[len - 1] == '/')
		len--;
	if ((slash = memrchr(c->dir, '/', len)) == NULL)
		n = snprintf(out, PATH_MAX, "%s", FN_UIDV_MAX);
	else
		n = snprintf(out, PATH_MAX, "%.*s/%s",
		    (int)(slash - c->dir), c->dir, FN_UIDV_MAX);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Open and lock the Maildir-wide counter; the descriptor (the lock held)
 * and its value in *uv (0 if empty or unreadable), or -1 (errno). */
static int
tree_open(const struct uidcache *c, uint32_t *uv)
{
	char path[PATH_MAX], b[16];
	uint64_t v;
	size_t got;
	int fd, e;

	*uv = 0;
	if (tree_path(c, path) == -1)
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (fd_lock_wait(fd) == -1 ||
	    pread_all(fd, b, sizeof(b) - 1, 0, &got) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (got > 0 && b[got - 1] == '\n')
		got--;
	if (got > 0 && strnum_u64_n(b, got, UC_UID_MAX, &v) == 0)
		*uv = (uint32_t)v;
	else if (got > 0)
		log_warnx("%s: not a UIDVALIDITY; rewritten", path);
	return fd;
}

/* Raise the counter to uv (its lock held) and make that durable. */
static int
tree_raise(int fd, uint32_t uv)
{
	char b[16];
	int n;

	n = snprintf(b, sizeof(b), "%010u\n", uv);
	if (n != 11) {
		errno = EOVERFLOW;
		return -1;
	}
	STEP(UCS_UIDV_TREE);
	if (pwrite(fd, b, 11, 0) != 11 || fsync(fd) == -1) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

static void
tree_close(int fd)
{
	if (fd == -1)
		return;
	fd_unlock(fd);
	close(fd);
}

/* ---- import ------------------------------------------------------ */

struct impent {
	uint32_t	 uid;
	uint32_t	 line;		/* order in the file */
	uint64_t	 vsize;
	char		*base;
};

struct import {
	const char	*file;
	uint32_t	 uidvalidity, uidnext;
	struct impent	*e;
	size_t		 n, cap;
	size_t		 skipped;
};

static void
import_free(struct import *im)
{
	size_t i;

	for (i = 0; i < im->n; i++)
		free(im->e[i].base);
	free(im->e);
	im->e = NULL;
	im->n = im->cap = 0;
}

/* Split a line into blank-separated tokens (at most max). */
static size_t
tokens(char *line, char **tok, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		tok[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

static int
parse_u32(const char *s, uint32_t max, uint32_t *r)
{
	uint64_t v;

	if (strnum_u64(s, max, &v) == -1)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

/* Add an entry; name is a file name whose base ends at ':' or ';'. */
static int
import_add(struct import *im, uint32_t uid, const char *name, size_t len,
    uint64_t vsize)
{
	struct impent *e;
	size_t blen = strcspn(name, ":;");

	if (blen > len)
		blen = len;
	if (uid == 0 || uid > UC_UID_MAX || !name_ok(name, blen, 0)) {
		im->skipped++;
		return 0;
	}
	if (grow(&im->e, &im->cap, im->n, sizeof(*im->e)) == -1)
		return -1;
	e = &im->e[im->n];
	if ((e->base = strndup(name, blen)) == NULL)
		return -1;
	e->uid = uid;
	e->line = (uint32_t)im->n;
	e->vsize = vsize;
	im->n++;
	return 0;
}

static int
dovecot_entry(struct import *im, int version, char *line)
{
	char *tok[2], *p, *rest;
	uint32_t uid;
	uint64_t vsize = MD_SIZE_UNKNOWN, v;

	p = line + strspn(line, " \t");
	rest = p + strcspn(p, " \t");
	if (*rest == '\0') {
		im->skipped++;
		return 0;
	}
	*rest++ = '\0';
	if (parse_u32(p, UC_UID_MAX, &uid) == -1) {
		im->skipped++;
		return 0;
	}
	if (version == 1) {
		if (tokens(rest, tok, 2) != 1) {
			im->skipped++;
			return 0;
		}
		return import_add(im, uid, tok[0], strlen(tok[0]), vsize);
	}
	/* version 3: "<key><value>" fields, then ":<file name>", which may
	 * hold blanks and runs to the end of the line */
	for (;;) {
		rest += strspn(rest, " \t");
		if (*rest == ':') {
			rest++;
			return import_add(im, uid, rest, strlen(rest), vsize);
		}
		if (*rest == '\0') {
			im->skipped++;
			return 0;
		}
		p = rest;
		rest += strcspn(rest, " \t");
		if (*rest != '\0')
			*rest++ = '\0';
		if (p[0] == 'W' && strnum_u64(p + 1, UINT64_MAX - 1, &v) == 0)
			vsize = v;
	}
}

static int
dovecot_header(struct import *im, char *line, int *version)
{
	char *tok[16];
	size_t n = tokens(line, tok, 16), i;
	int got_v = 0, got_n = 0;

	if (n >= 3 && strcmp(tok[0], "1") == 0) {
		*version = 1;
		return parse_u32(tok[1], UC_UID_MAX, &im->uidvalidity) == 0 &&
		    parse_u32(tok[2], UC_UID_MAX + 1, &im->uidnext) == 0 ?
		    0 : -1;
	}
	if (n < 1 || strcmp(tok[0], "3") != 0)
		return -1;
	*version = 3;
	for (i = 1; i < n; i++) {
		if (tok[i][0] == 'V' &&
		    parse_u32(tok[i] + 1, UC_UID_MAX, &im->uidvalidity) == 0)
			got_v = 1;
		else if (tok[i][0] == 'N' &&
		    parse_u32(tok[i] + 1, UC_UID_MAX + 1, &im->uidnext) == 0)
			got_n = 1;
	}
	return got_v && got_n ? 0 : -1;
}

static int
courier_header(struct import *im, char *line)
{
	char *tok[4];

	if (tokens(line, tok, 4) != 3 ||
	    (strcmp(tok[0], "1") != 0 && strcmp(tok[0], "3") != 0))
		return -1;
	return parse_u32(tok[1], UC_UID_MAX, &im->uidvalidity) == 0 &&
	    parse_u32(tok[2], UC_UID_MAX + 1, &im->uidnext) == 0 ? 0 : -1;
}

static int
courier_entry(struct import *im, char *line)
{
	char *tok[3];
	uint32_t uid;

	if (tokens(line, tok, 3) != 2) {
		im->skipped++;
		return 0;
	}
	/* the UID is whichever token is a number; "uid name" first */
	if (parse_u32(tok[0], UC_UID_MAX, &uid) == 0)
		return import_add(im, uid, tok[1], strlen(tok[1]),
		    MD_SIZE_UNKNOWN);
	if (parse_u32(tok[1], UC_UID_MAX, &uid) == 0)
		return import_add(im, uid, tok[0], strlen(tok[0]),
		    MD_SIZE_UNKNOWN);
	im->skipped++;
	return 0;
}

static int
cmp_imp(const void *a, const void *b)
{
	const struct impent *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
cmp_imp_base(const void *a, const void *b)
{
	const struct impent *x = *(struct impent *const *)a;
	const struct impent *y = *(struct impent *const *)b;
	int r = strcmp(x->base, y->base);

	if (r != 0)
		return r;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Keep one entry per UID and per base (the first in the file for a UID,
 * the lowest UID for a base), sorted by UID. */
static int
import_dedup(struct import *im)
{
	struct impent **byb;
	size_t i, n;

	if (im->n == 0)
		return 0;	/* an empty list: nothing to sort, im->e NULL */
	qsort(im->e, im->n, sizeof(*im->e), cmp_imp);
	for (i = n = 0; i < im->n; i++) {
		if (n > 0 && im->e[n - 1].uid == im->e[i].uid) {
			free(im->e[i].base);
			im->skipped++;
			continue;
		}
		im->e[n++] = im->e[i];
	}
	im->n = n;
	if (n == 0)
		return 0;
	if ((byb = calloc(n, sizeof(*byb))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		byb[i] = &im->e[i];
	qsort(byb, n, sizeof(*byb), cmp_imp_base);
	for (i = 1; i < n; i++)
		if (strcmp(byb[i - 1]->base, byb[i]->base) == 0)
			byb[i]->uid = 0;	/* mark: a later UID of a base */
	free(byb);
	for (i = n = 0; i < im->n; i++) {
		if (im->e[i].uid == 0) {
			free(im->e[i].base);
			im->skipped++;
			continue;
		}
		im->e[n++] = im->e[i];
	}
	im->n = n;
	return 0;
}

/*
 * Read dovecot-uidlist or courierimapuiddb (only the one of from, unless
 * it is UC_FROM_ANY).  1 with *im filled, 0 if neither is there or
 * usable, -1 on error (errno).
 */
static int
import_read(const struct uidcache *c, struct import *im, enum uc_from from)
{
	static const char *const files[] = { "dovecot-uidlist",
	    "courierimapuiddb" };
	char path[PATH_MAX], *data, *line, *nl;
	struct stat st;
	size_t f, got;
	int fd, version = 0, first;

	for (f = 0; f < 2; f++) {
		if ((from == UC_FROM_DOVECOT && f != 0) ||
		    (from == UC_FROM_COURIER && f != 1))
			continue;
		memset(im, 0, sizeof(*im));
		im->file = files[f];
		if (path_of(c, files[f], path) == -1)
			return -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			if (errno == ENOENT)
				continue;
			log_warn("%s: cannot read for import", path);
			continue;
		}
		if (fstat(fd, &st) == -1 || st.st_size > IMPORT_FILE_MAX ||
		    (data = malloc((size_t)st.st_size + 1)) == NULL) {
			log_warnx("%s: not imported: unreadable or too large",
			    path);
			close(fd);
			continue;
		}
		if (pread_all(fd, data, (size_t)st.st_size, 0, &got) == -1) {
			log_warn("%s: cannot read for import", path);
			close(fd);
			free(data);
			continue;
		}
		close(fd);
		data[got] = '\0';
		first = 1;
		for (line = data; *line != '\0'; line = nl) {
			nl = line + strcspn(line, "\n");
			if (*nl != '\0')
				*nl++ = '\0';
			if (first) {
				first = 0;
				line[strcspn(line, "\r")] = '\0';
				if ((f == 0 ? dovecot_header(im, line,
				    &version) : courier_header(im, line)) == -1)
					break;
				continue;
			}
			if (line[strspn(line, " \t\r")] == '\0')
				continue;
			line[strcspn(line, "\r")] = '\0';
			if ((f == 0 ? dovecot_entry(im, version, line) :
			    courier_entry(im, line)) == -1) {
				free(data);
				import_free(im);
				return -1;
			}
		}
		free(data);
		if (first || im->uidvalidity == 0 || im->uidnext == 0) {
			log_warnx("%s: header not understood; not imported",
			    path);
			import_free(im);
			continue;
		}
		if (import_dedup(im) == -1) {
			import_free(im);
			return -1;
		}
		if (im->n > 0 && im->e[im->n - 1].uid >= im->uidnext)
			im->uidnext = im->e[im->n - 1].uid + 1;
		return 1;
	}
	return 0;
}

static int
import_get(void *arg, size_t i, struct uc_rec *r)
{
	const struct import *im = arg;

	memset(r, 0, sizeof(*r));
	r->uid = im->e[i].uid;
	r->modseq = IMPORT_MODSEQ;
	r->vsize = im->e[i].vsize;
	r->mtime = UC_MTIME_UNKNOWN;
	r->base = im->e[i].base;
	r->info = "";
	return 1;
}

/* ---- creating, repairing ----------------------------------------- */

/* A UIDVALIDITY above stored and uvfloor, at least the time, < 2^31. */
static int
next_uidv(uint32_t stored, uint32_t uvfloor, uint32_t *uv)
{
	uint64_t v = (uint64_t)time(NULL);

	if (v > UC_UID_MAX)
		v = UC_UID_MAX;
	if (v < (uint64_t)stored + 1)
		v = (uint64_t)stored + 1;
	if (v < (uint64_t)uvfloor + 1)
		v = (uint64_t)uvfloor + 1;
	if (v > UC_UID_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	*uv = (uint32_t)v;
	return 0;
}

/*
 * Start a cache: import, or empty with a new UIDVALIDITY above uvfloor.
 * from says what may be imported (UC_FROM_NEW: nothing); force takes an
 * import whose UIDVALIDITY is not above the folder's (imapd-cache --import
 * --force: the administrator knows no client holds that UIDVALIDITY), but
 * never one equal to the folder's current or recorded one.
 */
static int
create_cache(struct uidcache *c, uint32_t uvfloor, enum uc_from from,
    int force)
{
	struct import im;
	struct snapsrc src;
	uint32_t stored = read_uidv(c), above, tree = 0;
	uint64_t gen;
	int r, use = 0, stage, tfd;

	if ((tfd = tree_open(c, &tree)) == -1)
		log_warn("%s: cannot use the Maildir's " FN_UIDV_MAX " (a "
		    "folder deleted and created again within a second may "
		    "repeat a UIDVALIDITY)", c->dir);
	above = stored > uvfloor ? stored : uvfloor;
	memset(&src, 0, sizeof(src));
	memset(&im, 0, sizeof(im));
	r = from == UC_FROM_NEW ? 0 : import_read(c, &im, from);
	if (r == -1) {
		tree_close(tfd);
		return -1;
	}
	if (r == 1 && (im.uidvalidity > above || (force &&
	    im.uidvalidity != stored && im.uidvalidity != uvfloor)))
		use = 1;
	else if (r == 1) {
		log_info("%s: not importing %s: its UIDVALIDITY %u is not "
		    "above %u, already used here, so its UIDs may have been "
		    "given again since", c->dir, im.file, im.uidvalidity,
		    above);
		import_free(&im);
	}
	if (use) {
		src.uidvalidity = im.uidvalidity;
		src.uidnext = im.uidnext;
		src.count = im.n;
		src.get = import_get;
		src.arg = &im;
		src.hms = src.xforgot = IMPORT_MODSEQ;
	} else {
		if (next_uidv(stored > tree ? stored : tree, uvfloor,
		    &src.uidvalidity) == -1) {
			log_warnx("%s: no UIDVALIDITY above %u is left below "
			    "2^31; the UID cache cannot be rebuilt", c->dir,
			    above > tree ? above : tree);
			tree_close(tfd);
			return -1;
		}
		src.uidnext = 1;
		src.hms = 1;
	}
	src.first_recent = src.uidnext;
	src.ds.cur_ns = src.ds.new_ns = src.ds.scanned_ns = UC_MTIME_UNKNOWN;
	if (tfd != -1 && src.uidvalidity > tree &&
	    tree_raise(tfd, src.uidvalidity) == -1) {
		log_warn("%s: cannot record UIDVALIDITY in the Maildir's "
		    FN_UIDV_MAX, c->dir);
		tree_close(tfd);
		import_free(&im);
		return -1;
	}
	tree_close(tfd);
	if (src.uidvalidity > stored && write_uidv(c, src.uidvalidity) == -1) {
		log_warn("%s: cannot record UIDVALIDITY in " FN_UIDV, c->dir);
		import_free(&im);
		return -1;
	}
	r = write_snapshot(c, &src, 0, &gen, &stage);
	if (r == -1)
		log_warn("%s: cannot create the UID cache", c->dir);
	else if (use)
		log_info("%s: UID cache created from %s: UIDVALIDITY %u, %zu "
		    "messages, next UID %u", c->dir, im.file,
		    im.uidvalidity, im.n, im.uidnext);
	if (use && im.skipped > 0)
		log_warnx("%s: %s: %zu broken or duplicate lines skipped; "
		    "those messages get new UIDs", c->dir, im.file,
		    im.skipped);
	import_free(&im);
	return r;
}

/* Rename a damaged cache aside (or, with s NULL, one to be rebuilt on
 * request); log once. */
static int
set_aside(struct uidcache *c, const struct state *s)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (s != NULL)
		log_warnx("%s: UID cache damaged (%s); set aside as "
		    FN_CDB_BAD " and " FN_LOG_BAD ", starting a new one with "
		    "a greater UIDVALIDITY (clients will resynchronize this "
		    "folder)", c->dir, s->why);
	else
		log_info("%s: UID cache rebuilt on request; the old one is "
		    "set aside as " FN_CDB_BAD " and " FN_LOG_BAD, c->dir);
	if (path_of(c, FN_CDB, from) == -1 || path_of(c, FN_CDB_BAD, to) == -1)
		return -1;
	if (rename(from, to) == -1 && errno != ENOENT)
		return -1;
	STEP(UCS_ASIDE_CDB);
	if (path_of(c, FN_LOG, from) == -1 || path_of(c, FN_LOG_BAD, to) == -1)
		return -1;
	if (rename(from, to) == -1 && errno != ENOENT)
		return -1;
	STEP(UCS_ASIDE_DONE);
	return sync_dir(c);
}

/*
 * A good snapshot without its journal: either a crash between the two
 * renames of a compaction (log.new holds the journal to put in place),
 * or the old journal beside it was absorbed (a new empty one will do).
 * A missing journal with no log.new to explain it is damage: -2.
 */
static int
fix_journal(struct uidcache *c, struct state *s)
{
	char plog[PATH_MAX], plogn[PATH_MAX];
	uint64_t gen;
	uint32_t uv;
	int fd, ok, ioerr;

	if (path_of(c, FN_LOG, plog) == -1 || path_of(c, FN_LOG_NEW, plogn) == -1)
		return -1;
	if ((fd = open(plogn, O_RDONLY | O_CLOEXEC)) != -1) {
		ok = log_header(fd, &gen, &uv, &ioerr);
		close(fd);
		if (ok && gen == s->gen) {
			STEP(UCS_LOGFIX);
			if (rename(plogn, plog) == -1)
				return -1;
			log_info("%s: finished a UID cache compaction that was "
			    "interrupted", c->dir);
			return sync_dir(c);
		}
	} else if (errno != ENOENT)
		return -1;
	if (s->jstate == J_NONE)
		return damage(s, "journal lost (snapshot without journal)");
	if (write_log_file(plogn, s->gen, s->uidvalidity) == -1)
		return -1;
	STEP(UCS_LOGFIX);
	if (rename(plogn, plog) == -1)
		return -1;
	return sync_dir(c);
}

/* The UIDVALIDITY in the journal's header if that is intact, else 0. */
static uint32_t
journal_uv(const struct uidcache *c)
{
	char path[PATH_MAX];
	uint64_t gen;
	uint32_t uv = 0;
	int fd, ioerr;

	if (path_of(c, FN_LOG, path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if (!log_header(fd, &gen, &uv, &ioerr) || uv > UC_UID_MAX)
		uv = 0;
	close(fd);
	return uv;
}

/* The loaded state is still the one on disk (opened again for NFS). */
static int
still_current(struct uidcache *c)
{
	struct state *s = c->s;
	char path[PATH_MAX];
	struct stat st;
	int fd, same;

	if (s->damaged || s->stale || s->bad || !s->have_cdb ||
	    s->jstate != J_OURS ||
	    !(c->vok && c->vgen == s->gen && c->vino == s->cdb_ino &&
	    c->vdev == s->cdb_dev))
		return 0;
	if (path_of(c, FN_CDB, path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	same = fstat(fd, &st) == 0 && st.st_dev == s->cdb_dev &&
	    st.st_ino == s->cdb_ino;
	close(fd);
	if (!same || path_of(c, FN_LOG, path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	same = fstat(fd, &st) == 0 && st.st_dev == s->jdev &&
	    st.st_ino == s->jino;
	close(fd);
	return same;
}

/*
 * Under the lock: load the latest state, finishing what a crash left
 * half done, setting aside what is damaged and creating the cache if
 * there is none.  full forces a load from scratch (to drop uncommitted
 * changes).  0 or -1 (errno).
 */
static int
wload(struct uidcache *c, int full)
{
	struct state *ns;
	uint32_t uvfloor, juv;
	int tries, r;

	if (!full && still_current(c)) {
		r = journal_read(c->s, 1);
		if (r >= 0) {
			if (r == 1)
				c->changes++;
			return 0;
		}
		if (r == -1)
			return -1;
		/* damage: the full load below meets it again */
	}
	for (tries = 0; tries < 4; tries++) {
		if ((r = load_full(c, 1, &ns)) == -1)
			return -1;
		switch (r) {
		case LS_OK:
			install(c, ns);
			return 0;
		case LS_NEEDLOG:
			r = fix_journal(c, ns);
			if (r == -1) {
				state_free(ns);
				return -1;
			}
			if (r == 0) {
				state_free(ns);
				continue;
			}
			break;	/* damage */
		case LS_MISMATCH:
			damage(ns, "journal of another snapshot");
			break;
		case LS_NONE:
			state_free(ns);
			if (create_cache(c, 0, UC_FROM_ANY, 0) == -1)
				return -1;
			continue;
		}
		/* LS_DAMAGED, or damage found above */
		uvfloor = ns->damaged_uv;
		if ((juv = journal_uv(c)) > uvfloor)
			uvfloor = juv;
		r = set_aside(c, ns);
		state_free(ns);
		if (r == -1 || create_cache(c, uvfloor, UC_FROM_ANY, 0) == -1)
			return -1;
	}
	log_warnx("%s: UID cache keeps changing under the lock; another "
	    "program may be writing it without locking", c->dir);
	errno = EIO;
	return -1;
}

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
	return c->s->hms;
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

	return (s->scount - s->nsxp) + (s->naddv - s->adddead);
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

uint32_t
uidcache_count_recent(const struct uidcache *c)
{
	struct state *s = c->s;
	uint32_t uid = s->first_recent;
	size_t lo, hi, mid, j, below;

	settle(s);
	/* the live messages below first_recent: snapshot entries below it
	 * less those expunged, then added ones below it */
	lo = 0;
	hi = s->scount;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (snap_uid(s, (uint32_t)mid) < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	j = lo;
	lo = 0;
	hi = s->nsxp;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->sxp[mid] < j)
			lo = mid + 1;
		else
			hi = mid;
	}
	below = j - lo;
	lo = 0;
	hi = s->naddv;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->ov[s->addv[mid]].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)(uidcache_count(c) - below - lo);
}

/*
 * The snapshot index of the i-th live snapshot message (i < the number of
 * live ones).  The live entries before expunged index sxp[t] number
 * sxp[t] - t, which never falls as t grows: count the expunged indexes
 * whose live-before count is <= i, and skip that many.
 */
static uint32_t
live_snap_index(const struct state *s, size_t i)
{
	size_t lo = 0, hi = s->nsxp, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->sxp[mid] - mid <= i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)(i + lo);
}

int
uidcache_nth(const struct uidcache *c, size_t i, struct uc_rec *r)
{
	struct state *s = c->s;
	size_t slive;

	settle(s);
	slive = s->scount - s->nsxp;
	if (i < slive)
		return rec_of_snap(s, live_snap_index(s, i), r);
	i -= slive;
	if (i >= s->naddv)
		return 0;
	ov_to_rec(&s->ov[s->addv[i]], r);
	return 1;
}

int
uidcache_nth_meta(const struct uidcache *c, size_t i, struct uc_rec *r)
{
	struct state *s = c->s;
	uint32_t j;

	settle(s);
	if (i >= s->scount - s->nsxp)
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
	if (k == NONE || (s->ov[k].bits & OV_EXP))
		return 0;
	ov_to_rec(&s->ov[k], r);
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
	ov_to_rec(&s->ov[k], r);
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
		for (i = 0; i < s->nov; i++) {
			const struct ovrec *o = &s->ov[i];

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
	return since >= s->xforgot;
}

static int
lock_wait(struct uidcache *c)
{
	return fd_lock_wait(c->lockfd);
}

static void
lock_release(struct uidcache *c)
{
	fd_unlock(c->lockfd);
	c->locked = 0;
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
	unsigned limit;
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
		    UC_LOCK_TIMEOUT_MS;
		if (e == ETIMEDOUT)
			log_warnx("%s: UID cache lock held by another process "
			    "for over %u ms (a stuck imapd or tool; `fuser "
			    FN_LOCK "` in the folder names it)", c->dir, limit);
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

/* Encoders: append to the pending buffer. */
static int
enc8(struct buf *b, unsigned v)
{
	return buf_addc(b, (int)(v & 0xff));
}

static int
enc32(struct buf *b, uint32_t v)
{
	unsigned char x[4];

	put32(x, v);
	return buf_add(b, x, 4);
}

static int
enc64(struct buf *b, uint64_t v)
{
	unsigned char x[8];

	put64(x, v);
	return buf_add(b, x, 8);
}

static int
encstr(struct buf *b, const char *p, size_t len)
{
	if (enc8(b, (unsigned)len) == -1)
		return -1;
	return buf_add(b, p, len);
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
	(void)reserve_to(&s->ov, &s->ovcap, s->nov + n, sizeof(*s->ov));
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
	put64(p + 12, s->hms + 1);
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
		ms = c->s->hms + 1;
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
	    enc64(b, c->s->hms + 1) == -1;
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
		return s->jops + extra_ops > uidcache_test_compact_ops;
	if (jbytes > COMPACT_BYTES && jbytes > s->cdb_size / 4)
		return 1;
	return s->nov > COMPACT_MSGS && s->nov > s->scount / 8;
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
	uint64_t gen;
	size_t i, n;
	uint32_t stored;
	int r, e, stage;

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
	src.hms = s->hms;
	src.xforgot = s->xforgot;
	src.ds = s->ds;
	src.xp = xp;
	src.nxp = n;
	/* keep imapd-uidvalidity at least as great as what is in use, in
	 * case it was lost */
	stored = read_uidv(c);
	if (stored < s->uidvalidity && write_uidv(c, s->uidvalidity) == -1)
		log_warn("%s: cannot record UIDVALIDITY in " FN_UIDV, c->dir);
	r = write_snapshot(c, &src, s->gen, &gen, &stage);
	e = errno;
	free(xp);
	if (r == -1 && stage == SNAP_NONE) {
		errno = e;
		log_warn("%s: UID cache compaction failed (the commit goes to "
		    "the journal; compaction is tried again at the next "
		    "commit)", c->dir);
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
 * Keep JOURNAL_RESERVE bytes allocated past the journal's end (the file's
 * size unchanged, so readers see nothing of it).  Commits then succeed on
 * a full file system until that room is used: the flag changes and
 * expunges a user makes room with, and the UIDs of mail the MTA managed
 * to deliver.  Topped up when half is used; a file system that cannot
 * allocate ahead is asked once per handle.
 */
static void
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
	put64(ch + 4, s->hms);
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
			iov[nv].iov_base = (char *)part[k] + skip;
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
	s->jops += c->pend_ops;
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

/* ---- for imapd-cache ---------------------------------------------- */

/* A decimal UIDVALIDITY file read without a lock; 0 if none. */
static uint32_t
peek_uv(const char *path)
{
	char b[16];
	uint64_t v;
	size_t got;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = pread_all(fd, b, sizeof(b) - 1, 0, &got);
	close(fd);
	if (r == -1)
		return 0;
	if (got > 0 && b[got - 1] == '\n')
		got--;
	return strnum_u64_n(b, got, UC_UID_MAX, &v) == 0 ? (uint32_t)v : 0;
}

/* The greatest UIDVALIDITY readable in the files set aside. */
static uint32_t
aside_uv(const struct uidcache *c)
{
	char path[PATH_MAX];
	struct state *s;
	struct stat st;
	uint64_t gen;
	uint32_t uv = 0, juv;
	int fd, ioerr;

	if (path_of(c, FN_LOG_BAD, path) == 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		if (log_header(fd, &gen, &juv, &ioerr) && juv <= UC_UID_MAX)
			uv = juv;
		close(fd);
	}
	if (path_of(c, FN_CDB_BAD, path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return uv;
	if (fstat(fd, &st) == 0 && st.st_size >= 2048 &&
	    (uint64_t)st.st_size <= UINT32_MAX &&
	    (s = state_new()) != NULL) {
		if (mapfile_open(fd, (size_t)st.st_size, 0, &s->snap) == 0) {
			s->mapped = 1;
			(void)mapfile_cdb(&s->snap, &s->db);
			/* a header that checks out gives its UIDVALIDITY
			 * even when the rest is damaged */
			(void)snap_check(s);
			if (s->damaged_uv > uv)
				uv = s->damaged_uv;
		}
		state_free(s);
	}
	close(fd);
	return uv;
}

/* A snapshot without its journal: a compaction to finish, or damage. */
static const char *
needlog_damage(const struct uidcache *c, const struct state *s)
{
	char path[PATH_MAX];
	uint64_t gen;
	uint32_t uv;
	int fd, ok = 0, ioerr;

	if (s->jstate != J_NONE)
		return NULL;	/* the journal it absorbed: replaced next */
	if (path_of(c, FN_LOG_NEW, path) == 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		ok = log_header(fd, &gen, &uv, &ioerr) && gen == s->gen;
		close(fd);
	}
	return ok ? NULL : "journal lost (snapshot without journal)";
}

int
uidcache_check(const char *dir, struct uc_check *ck)
{
	struct uidcache c;
	struct state *s = NULL;
	char path[PATH_MAX];
	int tries, r = LS_NONE;

	memset(ck, 0, sizeof(*ck));
	memset(&c, 0, sizeof(c));
	if (strlen(dir) + 1 + sizeof(FN_LONGEST) > PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	c.dir = (char *)(uintptr_t)dir;	/* only read */
	c.lockfd = -1;
	for (tries = 0; tries < READ_TRIES; tries++) {
		state_free(s);
		if ((r = load_full(&c, 1, &s)) == -1)
			return -1;
		if (r != LS_MISMATCH)
			break;
		sched_yield();
	}
	ck->present = r != LS_NONE;
	if (r == LS_NEEDLOG) {
		ck->damage = needlog_damage(&c, s);
		ck->unfinished = ck->damage == NULL;
	} else if (r == LS_MISMATCH || r == LS_DAMAGED)
		ck->damage = s->why;
	if (r == LS_OK || (r == LS_NEEDLOG && ck->damage == NULL)) {
		ck->uidvalidity = s->uidvalidity;
		ck->generation = s->gen;
		ck->torn = s->jtorn;
	}
	if (s != NULL) {
		ck->snapshot_bytes = (uint64_t)s->cdb_size;
		ck->journal_bytes = (uint64_t)s->jseen;
	}
	state_free(s);
	ck->stored_uv = read_uidv(&c);
	if (tree_path(&c, path) == 0)
		ck->tree_uv = peek_uv(path);
	ck->aside_uv = aside_uv(&c);
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0 && errlen > 0)
		err[0] = '\0';
}

/* Whether the import asked for can be taken over; 0, or -1 with err. */
static int
import_allowed(struct uidcache *c, enum uc_from from, int force,
    uint32_t current, char *err, size_t errlen)
{
	const char *file = from == UC_FROM_DOVECOT ? "dovecot-uidlist" :
	    "courierimapuiddb";
	uint32_t stored = read_uidv(c), above;
	struct import im;
	int r;

	if ((r = import_read(c, &im, from)) == -1) {
		say(err, errlen, "%s: cannot read %s: %s", c->dir, file,
		    strerror(errno));
		return -1;
	}
	if (r == 0) {
		say(err, errlen, "%s: no usable %s (missing, or its header "
		    "is not understood)", c->dir, file);
		return -1;
	}
	above = stored > current ? stored : current;
	r = 0;
	if (im.uidvalidity == stored || im.uidvalidity == current) {
		say(err, errlen, "%s: %s has UIDVALIDITY %u, which this folder "
		    "has already: its clients would take the file's UIDs for "
		    "the ones they know", c->dir, file, im.uidvalidity);
		r = -1;
	} else if (im.uidvalidity <= above && !force) {
		say(err, errlen, "%s: %s has UIDVALIDITY %u, not above %u, "
		    "which this folder has had: a client that synchronized "
		    "it under that value could apply old UIDs to other "
		    "messages (--force takes it over all the same)", c->dir,
		    file, im.uidvalidity, above);
		r = -1;
	}
	import_free(&im);
	return r;
}

/* Remove the cache files (an empty cache the lock just made). */
static int
drop_fresh(struct uidcache *c)
{
	char path[PATH_MAX];

	if (path_of(c, FN_CDB, path) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT) ||
	    path_of(c, FN_LOG, path) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT))
		return -1;
	return sync_dir(c);
}

int
uidcache_rebuild(const char *dir, enum uc_from from, int force, char *err,
    size_t errlen)
{
	struct uidcache *c;
	struct uc_check ck;
	uint32_t current;
	int r = -1, damaged;

	if (from == UC_FROM_ANY) {
		say(err, errlen, "%s: no source for the rebuild", dir);
		return -1;
	}
	damaged = uidcache_check(dir, &ck) == 0 && ck.damage != NULL;
	if (uidcache_open(dir, &c, err, errlen) == -1)
		return -1;
	/* the lock finishes what a crash left and makes a cache if there
	 * is none, so that what is set aside is a whole one; a damaged one
	 * it sets aside itself and replaces with a new, empty one */
	if (uidcache_lock(c) == -1) {
		say(err, errlen, "%s: cannot lock the UID cache: %s", dir,
		    strerror(errno));
		uidcache_close(c);
		return -1;
	}
	current = c->s->uidvalidity;
	if (damaged && from == UC_FROM_NEW && uidcache_count(c) == 0) {
		r = 0;		/* the lock did the rebuild */
		goto out;
	}
	if (from != UC_FROM_NEW && import_allowed(c, from, force, current, err,
	    errlen) == -1)
		goto out;
	/* the damaged files stay the ones set aside, for inspection */
	if ((damaged && uidcache_count(c) == 0 ? drop_fresh(c) :
	    set_aside(c, NULL)) == -1) {
		say(err, errlen, "%s: cannot set the UID cache aside: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (create_cache(c, current, from, force) == -1) {
		say(err, errlen, "%s: cannot create the new UID cache: %s "
		    "(sessions make one when they next open the folder)", dir,
		    strerror(errno));
		goto out;
	}
	r = 0;
out:
	uidcache_close(c);
	return r;
}

int
uidcache_foreign(const char *dir, enum uc_from from, uint32_t *uv_r,
    uint32_t *uidnext_r, size_t *n_r)
{
	struct uidcache c;
	struct import im;
	int r;

	memset(&c, 0, sizeof(c));
	c.dir = (char *)(uintptr_t)dir;	/* only read */
	c.lockfd = -1;
	if ((r = import_read(&c, &im, from)) != 1)
		return r;
	*uv_r = im.uidvalidity;
	*uidnext_r = im.uidnext;
	*n_r = im.n;
	import_free(&im);
	return 1;
}
