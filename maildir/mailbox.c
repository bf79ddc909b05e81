/*
 * mailbox: a session's view of one folder, and the sync between the
 * folder's directories and its UID cache.  See mailbox.h.
 *
 * Sync, step by step:
 *  1. Load what other processes committed to the UID cache.
 *  2. stat() cur/ and new/.  If both modification times equal the ones the
 *     cache saw at its last complete scan, and that scan began after the
 *     file system's clock had passed them (see "Trusting a directory
 *     time" below), the cache is the truth and no directory is read.
 *  3. Otherwise a read-write session first moves files from new/ to cur/
 *     (never over an existing name), then takes the file system's time,
 *     stats both directories, lists new/ and then cur/, and stats them
 *     again.  Equal times before and after mean the listing is exact: no
 *     entry was added, removed or renamed while it ran.
 *  4. Each name is compared with the cache by its base: unknown bases are
 *     new messages, known ones under another name changed flags.  A
 *     cached message whose base is in neither directory is looked for
 *     under its cached name (and in cur/ if it was in new/), and counts as
 *     expunged only if it is absent from an exact listing.  When the
 *     listing was not exact (other programs were renaming), it is listed
 *     again, up to SCAN_TRIES times; what is still undecided then stays as
 *     it is until a later sync, and the directory times are not recorded,
 *     so that sync lists again.  Nothing is ever guessed gone.
 *  5. If anything must be written, take the folder lock, which reloads the
 *     cache; if another process committed meanwhile, decide again from the
 *     same listing against that state (only messages that had a UID
 *     before the listing began can be called expunged by it), apply,
 *     commit, unlock.
 *  6. Compare the view with the cache and report the differences.
 *
 * Races a listing meets (all seen on ext4 and on network file systems):
 * readdir() may miss a file renamed while it runs, or show it under both
 * names, or in both new/ and cur/ (it lists new/ first, so a file moved
 * from new/ to cur/ meanwhile is seen twice rather than not at all).  Two
 * names of one base that are links of one inode are one message, under
 * the name that exists now.  Two names of one base that are different
 * inodes are a broken copy (a restored backup, a redelivery): both are
 * kept, and the one the cache does not know by that name gets a base of
 * its own, after both are seen to exist again.  The server itself never
 * replaces a file: every rename it does is md_rename(), which refuses to.
 *
 * Trusting a directory time: a directory's modification time changes
 * with every entry added, removed or renamed, but in steps of the file
 * system's clock tick, so a change in the same tick as a time we read
 * does not move it.  The time of a scan is therefore taken from the file
 * system's own clock (the time it stamps the folder's empty lock file
 * with when that is truncated: see uidcache_fs_now()), and a directory
 * time is trusted only when that clock had already passed it when the
 * scan began: any later change then gets a later time.  The local clock
 * is never compared with file times (on NFS they come from the server),
 * except where the lock file cannot be written, and then with a margin
 * of a second.
 *
 * \Recent: the cache keeps the first UID not yet claimed.  A read-write
 * session claims everything from there to UIDNEXT under the lock, so each
 * message is \Recent in exactly one session.
 *
 * A view never shows a UID of another UIDVALIDITY: when the cache's
 * UIDVALIDITY changes under a session (the cache was lost or damaged and
 * rebuilt), every call fails with ESTALE from then on and the session
 * must end.  A view also never shows again a UID it once reported
 * expunged.
 *
 * STATUS runs the same sync without a view, read-only, and answers from
 * the cache's counters.  The scan parses each name once, and keeps the
 * names in one block in sorted order, since every pass after the sort
 * goes through them in that order.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mapfile.h"
#include "common/safefile.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"
#include "maildir/objectid.h"
#include "maildir/uidcache.h"

#define VM_GONE		0x01	/* expunged, not yet reported */
#define VM_RECENT	0x02	/* \Recent in this session */

/* Where the file system's clock cannot be read (a folder the user cannot
 * write), the local clock stands in for it, this far behind. */
#define CLOCK_MARGIN_NS	(1000000000LL)
#define PATH_LEN	4096
#define SCAN_TRIES	3	/* listings before undecided messages wait */
#define STAMP_WAITS	20	/* 1 ms each: see stamp_begin() */

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
 * "Changes the cache could not record" below. */
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
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000LL +
	    sb->st_mtim.tv_nsec;
}

/* Build a path from fmt, where each "%s" takes the next of a, b, c;
 * a plain substitution, so no format string reaches printf. */
static int
pathf(char *out, size_t len, const char *fmt, const char *a, const char *b,
    const char *c)
{
	const char *args[3] = { a, b, c }, *piece;
	size_t o = 0, k = 0, n;

	for (; *fmt != '\0'; fmt++) {
		if (fmt[0] == '%' && fmt[1] == 's' && k < 3) {
			piece = args[k++];
			n = strlen(piece);
			fmt++;
		} else {
			piece = fmt;
			n = 1;
		}
		if (o + n >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* ---- renames that never replace ------------------------------------ */

/*
 * Rename from (in fromfd) to to (in tofd) without ever replacing a file:
 * renameat2(RENAME_NOREPLACE), or link() and unlink() where the file
 * system has no such rename (NFS and FUSE answer EINVAL, others ENOSYS or
 * EOPNOTSUPP); a crash between those two leaves two names of one file,
 * which a sync takes as one message.  If to already names the same file
 * as from (another process finished the same move, or a crash left it
 * half done), the extra name is removed and the rename is done.  0, or -1
 * with errno: EEXIST when another file has the name, ENOENT when from is
 * gone.
 */
static int
md_rename(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat sf, st;
	int e;

	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
		if (linkat(fromfd, from, tofd, to, 0) == 0) {
			if (unlinkat(fromfd, from, 0) == -1 &&
			    errno != ENOENT) {
				e = errno;
				(void)unlinkat(tofd, to, 0);
				errno = e;
				return -1;
			}
			return 0;
		}
		if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
			/* no hard links either (FAT, some FUSE file systems):
			 * the best left is to look before renaming */
			if (faccessat(tofd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				errno = EEXIST;
			else if (errno == ENOENT)
				return renameat(fromfd, from, tofd, to);
		}
	}
	if (errno != EEXIST)
		return -1;
	if (fstatat(fromfd, from, &sf, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		/* the other name went away meanwhile */
		errno = EEXIST;
		return -1;
	}
	if (sf.st_dev != st.st_dev || sf.st_ino != st.st_ino) {
		errno = EEXIST;
		return -1;
	}
	if (unlinkat(fromfd, from, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/* ---- scanning --------------------------------------------------------- */

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

#define SCAN_NAMES_MAX	UINT32_MAX	/* entries hold u32 offsets */

static void
scan_init(struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	buf_init(&sc->names, SCAN_NAMES_MAX);
}

static void
scan_free(struct scan *sc)
{
	free(sc->e);
	buf_free(&sc->names);
	scan_init(sc);
}

/* An entry's name; valid until a name is added to the scan. */
static const char *
ename(const struct scan *sc, const struct entry *e)
{
	return sc->names.data + e->off;
}

/* Append an entry's name to the scan's names. */
static int
scan_name(struct scan *sc, struct entry *e, const char *name, size_t len)
{
	size_t off = sc->names.len;

	if (buf_add(&sc->names, name, len + 1) == -1)
		return -1;
	e->off = (uint32_t)off;
	e->namelen = (uint8_t)len;
	return 0;
}

/*
 * Put the names in the order of the sorted entries: every later pass goes
 * through the entries in that order, and names left in the order
 * readdir() gave them would cost each pass a cache miss per name.  Only
 * an optimization: without the memory, things stay as they are.
 */
static void
scan_pack(struct scan *sc)
{
	struct buf nb;
	size_t i;

	buf_init(&nb, SCAN_NAMES_MAX);
	if (buf_reserve(&nb, sc->names.len) == -1)
		return;
	for (i = 0; i < sc->n; i++) {
		struct entry *e = &sc->e[i];
		uint32_t off = (uint32_t)nb.len;

		/* cannot fail: the room is reserved */
		(void)buf_add(&nb, ename(sc, e), e->namelen + 1U);
		e->off = off;
	}
	buf_free(&sc->names);
	sc->names = nb;
}

static void
base_key(const char *base, size_t len, uint64_t key[2])
{
	unsigned char b[16];
	size_t i;

	memset(b, 0, sizeof(b));
	memcpy(b, base, len < sizeof(b) ? len : sizeof(b));
	key[0] = key[1] = 0;
	for (i = 0; i < sizeof(b); i++)
		key[i / 8] = key[i / 8] << 8 | b[i];
}

/* Order two entries, whose names are xn and yn, by base alone (bytes,
 * then length). */
static int
base_cmp(const struct entry *x, const char *xn, const struct entry *y,
    const char *yn)
{
	size_t n;
	int c;

	if (x->key[0] != y->key[0])
		return x->key[0] < y->key[0] ? -1 : 1;
	if (x->key[1] != y->key[1])
		return x->key[1] < y->key[1] ? -1 : 1;
	/* the first 16 bytes are the same (no base holds a NUL, so a
	 * shorter one would have differed in its padding) */
	n = x->baselen < y->baselen ? x->baselen : y->baselen;
	if (n > 16 && (c = memcmp(xn + 16, yn + 16, n - 16)) != 0)
		return c;
	if (x->baselen != y->baselen)
		return x->baselen < y->baselen ? -1 : 1;
	return 0;
}

static int
same_base(const struct scan *sc, const struct entry *x,
    const struct entry *y)
{
	return base_cmp(x, ename(sc, x), y, ename(sc, y)) == 0;
}

static int
entry_cmp(const void *a, const void *b, void *arg)
{
	const struct entry *x = a, *y = b;
	const struct scan *sc = arg;
	const char *xn = ename(sc, x), *yn = ename(sc, y);
	int c = base_cmp(x, xn, y, yn);

	if (c != 0)
		return c;
	/* same base: cur/ before new/, then by name, for a stable order */
	if (x->in_new != y->in_new)
		return x->in_new - y->in_new;
	return strcmp(xn, yn);
}

static void
scan_sort(struct scan *sc)
{
	if (sc->n > 1) {
		qsort_r(sc->e, sc->n, sizeof(sc->e[0]), entry_cmp, sc);
		scan_pack(sc);
	}
}

static int
scan_add(struct scan *sc, const char *name, int in_new, uint64_t ino)
{
	struct mdname md;
	struct entry *e;

	if (mdname_parse(name, &md) == -1)
		return 0;		/* not a message file name */
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 256;

		if ((e = reallocarray(sc->e, cap, sizeof(*e))) == NULL)
			return -1;
		sc->e = e;
		sc->cap = cap;
	}
	e = &sc->e[sc->n];
	/* mdname_parse() took it: at most MDNAME_MAX bytes */
	if (scan_name(sc, e, name, strlen(name)) == -1)
		return -1;
	e->baselen = (uint8_t)md.baselen;
	e->flags = (uint8_t)md.flags;
	e->kw = md.keywords;
	e->vsize = md.vsize;
	e->ino = ino;
	e->in_new = in_new != 0;
	e->absent = e->checked = 0;
	base_key(name, e->baselen, e->key);
	sc->n++;
	return 0;
}

/* Room for what a directory of this size may hold, so that a large
 * scan does not grow (and copy) its arrays a dozen times. */
static void
scan_reserve(struct scan *sc, off_t dirsize)
{
	size_t n = dirsize > 0 ? (size_t)dirsize / 48 : 0;
	struct entry *e;

	if (n <= sc->cap || n > 50 * 1000 * 1000)
		return;
	if ((e = reallocarray(sc->e, n, sizeof(*e))) == NULL)
		return;
	sc->e = e;
	sc->cap = n;
	(void)buf_reserve(&sc->names, (size_t)dirsize);
}

/*
 * List one of cur/ or new/ into sc.  0, or -1 with errno.  getdents64()
 * with a large buffer rather than readdir(): a folder of 100,000 files
 * takes a few dozen system calls instead of hundreds.  The last call,
 * which finds the end, waits for any rename in progress in the directory
 * (the kernel holds the directory's lock for both), so a stat() after it
 * sees that rename's time.
 */
static int
scan_dir(struct dsync *ds, const char *sub, int in_new, struct scan *sc)
{
	const size_t dlen = 256 * 1024;
	char *dbuf;
	struct stat sb;
	ssize_t n, off;
	int fd, e;

	fd = openat(ds->dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	/* freed at the end, not kept: an idle session keeps no pages */
	if ((dbuf = malloc(dlen)) == NULL) {
		close(fd);
		return -1;
	}
	if (fstat(fd, &sb) == 0)
		scan_reserve(sc, sb.st_size);
	for (;;) {
		n = getdents64(fd, dbuf, dlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (off = 0; off < n; ) {
			struct dirent64 *de = (struct dirent64 *)(dbuf + off);

			off += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;	/* ., .., hidden temporary files */
			if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN &&
			    de->d_type != DT_LNK)
				continue;
			if (scan_add(sc, de->d_name, in_new,
			    (uint64_t)de->d_ino) == -1) {
				e = errno;
				close(fd);
				free(dbuf);
				errno = e;
				return -1;
			}
		}
	}
	e = errno;
	close(fd);
	free(dbuf);
	if (n == -1) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Find base in a sorted scan; index or -1. */
static ssize_t
scan_find(const struct scan *sc, const char *base, size_t baselen)
{
	struct entry k;
	size_t lo = 0, hi = sc->n, mid;
	int c;

	if (baselen > MDNAME_MAX)
		return -1;
	k.baselen = (uint8_t)baselen;
	base_key(base, baselen, k.key);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = base_cmp(&sc->e[mid], ename(sc, &sc->e[mid]), &k, base);
		if (c == 0) {
			/* the first of equal bases */
			while (mid > 0 && base_cmp(&sc->e[mid - 1],
			    ename(sc, &sc->e[mid - 1]), &k, base) == 0)
				mid--;
			return (ssize_t)mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Has the scan a name of base that exists (as far as it knows)? */
static int
scan_live(const struct scan *sc, const char *base)
{
	size_t len = strlen(base), i;
	ssize_t k = scan_find(sc, base, len);

	if (k < 0)
		return 0;
	for (i = (size_t)k; i < sc->n && sc->e[i].baselen == len &&
	    memcmp(ename(sc, &sc->e[i]), base, len) == 0; i++)
		if (!sc->e[i].absent)
			return 1;
	return 0;
}

/* The path of an entry relative to the folder ("cur/<name>"). */
static int
entry_path(const struct scan *sc, const struct entry *e, char *out,
    size_t len)
{
	return pathf(out, len, "%s/%s%s", e->in_new ? "new" : "cur",
	    ename(sc, e), "");
}

/* The inode of an entry's file now, or 0 if it has no such name now. */
static uint64_t
entry_ino_now(struct dsync *ds, const struct scan *sc, const struct entry *e)
{
	char p[PATH_LEN];
	struct stat sb;

	if (entry_path(sc, e, p, sizeof(p)) == -1 ||
	    fstatat(ds->dirfd, p, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return (uint64_t)sb.st_ino;
}

/* A new unique base for the file name, keeping its S= and W= fields;
 * the whole new name goes to out. */
static int
fresh_name(const char *name, const char *info_if_none, char *out,
    size_t len)
{
	char base[MDNAME_MAX + 1];
	struct mdname md;

	if (mdname_parse(name, &md) == -1 ||
	    mdname_unique(base, sizeof(base), md.size, md.vsize) == -1)
		return -1;
	return pathf(out, len, "%s%s", base, name[md.baselen] != '\0' ?
	    name + md.baselen : info_if_none, "");
}

/*
 * Move new/ files to cur/ (read-write sessions only): new/X becomes
 * cur/X:2, (or cur/X if X already carries info).  A name already taken
 * in cur/ by another file (a redelivery, a restored backup) never loses
 * that file: the newcomer gets a base of its own.  An entry someone else
 * moved first is dropped here; the caller lists cur/ afterwards.
 */
static void
move_new(struct dsync *ds, struct scan *sc)
{
	char from[PATH_LEN], to[PATH_LEN], fresh[MDNAME_MAX + 1];
	struct uc_rec r;
	struct stat sb;
	size_t i;

	for (i = 0; i < sc->n; i++) {
		struct entry *e = &sc->e[i];
		const char *name = ename(sc, e);
		const char *info = name[e->baselen] != '\0' ? "" : ":2,";
		int collide = 0;

		if (!e->in_new)
			continue;
		if (pathf(from, sizeof(from), "new/%s%s%s", name, "", "")
		    == -1 || pathf(to, sizeof(to), "cur/%s%s%s", name,
		    info, "") == -1)
			continue;
		/* the cache knows this base in cur/ under another name:
		 * another file, unless it is a link of this one */
		if (uidcache_by_base(ds->uc, name, e->baselen, &r) &&
		    !r.in_new) {
			char known[PATH_LEN];

			if (pathf(known, sizeof(known), "cur/%s%s", r.base,
			    r.info, "") == 0 &&
			    fstatat(ds->dirfd, known, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    (uint64_t)sb.st_ino != e->ino && e->ino != 0)
				collide = 1;
		}
		if (!collide) {
			if (md_rename(ds->dirfd, from, ds->dirfd, to) == 0)
				continue;
			if (errno != EEXIST) {
				if (errno != ENOENT)
					log_warn("%s: cannot move %s to cur/",
					    ds->dir, from);
				continue;
			}
		}
		if (fresh_name(name, ":2,", fresh, sizeof(fresh)) == -1 ||
		    pathf(to, sizeof(to), "cur/%s%s%s", fresh, "", "") == -1)
			continue;
		if (md_rename(ds->dirfd, from, ds->dirfd, to) == 0)
			log_info("%s: %s has the base name of a message already "
			    "in cur/; moved it to %s, a message of its own",
			    ds->dir, from, to);
		else if (errno != ENOENT)
			log_warn("%s: cannot move %s to cur/", ds->dir, from);
	}
}

/* The file system's time now (see "Trusting a directory time"). */
static int64_t
fs_now(struct dsync *ds)
{
	int64_t t;

	if (uidcache_fs_now(ds->uc, &t) == 0)
		return t;
	return now_ns() - CLOCK_MARGIN_NS;
}

/* A directory's modification time.  Opened, not only stat()ed: on NFS an
 * open is what makes the client ask the server instead of its cache. */
static int
dir_mtime(struct dsync *ds, const char *sub, int64_t *ns)
{
	struct stat sb;
	int fd, r;

	fd = openat(ds->dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = fstat(fd, &sb);
	close(fd);
	if (r == -1)
		return -1;
	*ns = mtime_ns(&sb);
	return 0;
}

static int
stat_dirs(struct dsync *ds, struct uc_dirstamp *st)
{
	if (dir_mtime(ds, "cur", &st->cur_ns) == -1 ||
	    dir_mtime(ds, "new", &st->new_ns) == -1)
		return -1;
	return 0;
}

/* A scan's times prove that a directory still showing them has not
 * changed since: the file system's clock had passed them when it began. */
static int
stamp_trusted(const struct uc_dirstamp *st)
{
	int64_t newest = st->cur_ns > st->new_ns ? st->cur_ns : st->new_ns;

	return st->cur_ns != UC_MTIME_UNKNOWN &&
	    st->new_ns != UC_MTIME_UNKNOWN &&
	    st->scanned_ns != UC_MTIME_UNKNOWN && st->scanned_ns > newest;
}

/*
 * The start of a listing: the file system's time, then the directory
 * times (in that order: a change after the first read gets a time at
 * least that late).  When a directory changed in the clock tick we are
 * still in (our own moves from new/ a moment ago, usually), wait a few
 * ticks for the clock to pass it, so that the times this scan records
 * can be trusted and the next sync need not list again.
 */
static int
stamp_begin(struct dsync *ds, struct uc_dirstamp *st)
{
	const struct timespec tick = { 0, 1000000 };
	int waits;

	for (waits = 0; ; waits++) {
		st->scanned_ns = fs_now(ds);
		if (stat_dirs(ds, st) == -1)
			return -1;
		if (stamp_trusted(st) || waits == STAMP_WAITS)
			return 0;
		nanosleep(&tick, NULL);
	}
}

/* List new/ and then cur/ into sc (initialized), sorted by base, and
 * tell whether the listing is exact (see step 3 above). */
static int
list_dirs(struct dsync *ds, struct scan *sc)
{
	struct uc_dirstamp after;

	if (stamp_begin(ds, &sc->stamp) == -1)
		return -1;
	/* new/ first: a file moving to cur/ meanwhile is seen twice, not
	 * missed */
	if (scan_dir(ds, "new", 1, sc) == -1 ||
	    scan_dir(ds, "cur", 0, sc) == -1 ||
	    stat_dirs(ds, &after) == -1)
		return -1;
	sc->exact = after.cur_ns == sc->stamp.cur_ns &&
	    after.new_ns == sc->stamp.new_ns;
	scan_sort(sc);
	return 0;
}

/* Read the directories into sc: new/ moved to cur/ first by a
 * read-write sync, then listed. */
static int
scan_all(struct dsync *ds, struct scan *sc)
{
	struct scan nw;

	scan_init(sc);
	if (!ds->readonly) {
		scan_init(&nw);
		if (scan_dir(ds, "new", 1, &nw) == -1) {
			scan_free(&nw);
			return -1;
		}
		if (nw.n > 0)
			move_new(ds, &nw);
		scan_free(&nw);
	}
	if (list_dirs(ds, sc) == -1) {
		scan_free(sc);
		return -1;
	}
	return 0;
}

/*
 * One file seen under two names of one base (a listing that raced with a
 * rename, or two links): keep one entry, the name that exists now.
 * Names that cannot be settled (both gone: renamed again since) count as
 * unresolved, and the sync will look again.
 */
static void
scan_dedupe(struct dsync *ds, struct scan *sc)
{
	size_t i, j, k, m, out = 0, gstart;

	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		gstart = out;
		for (k = i; k < j; k++) {
			struct entry *e = &sc->e[k];

			if (j - i > 1 && e->ino == 0)
				e->ino = entry_ino_now(ds, sc, e);
			for (m = gstart; m < out; m++)
				if (e->ino != 0 && sc->e[m].ino == e->ino)
					break;
			if (m == out) {
				sc->e[out++] = *e;
				continue;
			}
			/* a second name of a kept file: keep the one that
			 * exists (both do for links: keep the first) */
			if (entry_ino_now(ds, sc, &sc->e[m]) == e->ino)
				continue;
			if (entry_ino_now(ds, sc, e) == e->ino)
				sc->e[m] = *e;
			else
				sc->unresolved++;
		}
	}
	sc->n = out;
}

/*
 * Broken copies: several files (different inodes) with one base.  The
 * one the cache knows by its name keeps the base (and its UID); each
 * other one is renamed to a base of its own (read-write syncs only), but
 * only after both are seen to exist again: a listing that raced with
 * another program must not make the server rename anybody's file.
 * Returns 1 if any file was renamed (the scan is then sorted again).
 */
static int
scan_rebase(struct dsync *ds, struct scan *sc)
{
	char from[PATH_LEN], to[PATH_LEN], fresh[MDNAME_MAX + 1];
	struct uc_rec r;
	size_t i, j, k, keep;
	int renamed = 0;

	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		if (j - i == 1 || ds->readonly)
			continue;
		keep = i;
		if (uidcache_by_base(ds->uc, ename(sc, &sc->e[i]),
		    sc->e[i].baselen, &r))
			for (k = i; k < j; k++)
				if (r.in_new == sc->e[k].in_new &&
				    strcmp(r.info, ename(sc, &sc->e[k]) +
				    sc->e[k].baselen) == 0)
					keep = k;
		if (sc->e[keep].ino == 0 ||
		    entry_ino_now(ds, sc, &sc->e[keep]) != sc->e[keep].ino)
			continue;
		for (k = i; k < j; k++) {
			struct entry *e = &sc->e[k];
			const char *name = ename(sc, e);

			if (k == keep || e->ino == 0 ||
			    entry_ino_now(ds, sc, e) != e->ino)
				continue;
			if (entry_path(sc, e, from, sizeof(from)) == -1 ||
			    fresh_name(name, "", fresh, sizeof(fresh)) == -1 ||
			    pathf(to, sizeof(to), "%s/%s%s", e->in_new ?
			    "new" : "cur", fresh, "") == -1)
				continue;
			if (md_rename(ds->dirfd, from, ds->dirfd, to) == -1)
				continue;
			log_info("%s: %s shares its base name with another "
			    "message; renamed it to %s", ds->dir, from, to);
			if (scan_add(sc, fresh, e->in_new, e->ino) == -1)
				return -1;
			/* the old entry goes: a name no file has */
			sc->e[k].ino = UINT64_MAX;
			renamed = 1;
		}
	}
	if (!renamed)
		return 0;
	for (i = 0, j = 0; i < sc->n; i++)
		if (sc->e[i].ino != UINT64_MAX)
			sc->e[j++] = sc->e[i];
	sc->n = j;
	scan_sort(sc);
	return 1;
}

/* ---- decisions ---------------------------------------------------------- */

struct plan {
	size_t		 *add;		/* new files (scan indexes) */
	size_t		  nadd;
	size_t		 *upd;		/* known, name changed */
	size_t		  nupd;
	uint32_t	 *gone;		/* cached, absent from an exact
					 * listing */
	size_t		  ngone;
	uint32_t	 *moved;	/* cached in new/, not listed, found
					 * in cur/ (see rec_where()) */
	size_t		  nmoved;
	size_t		  unresolved;	/* cached, not found, but the
					 * listing was not exact */
};

static void
plan_free(struct plan *p)
{
	free(p->add);
	free(p->upd);
	free(p->gone);
	free(p->moved);
	memset(p, 0, sizeof(*p));
}

static int
grow(void **arr, size_t n, size_t size)
{
	void *p;

	/* grow in powers of two: n is the count before the push */
	if (n == 0 || (n & (n - 1)) == 0) {
		if ((p = reallocarray(*arr, n ? n * 2 : 16, size)) == NULL)
			return -1;
		*arr = p;
	}
	return 0;
}

static int
push_idx(size_t **arr, size_t *n, size_t v)
{
	if (grow((void **)arr, *n, sizeof(**arr)) == -1)
		return -1;
	(*arr)[(*n)++] = v;
	return 0;
}

/* The name in cur/ that a mail reader gives a file of new/ it moves
 * there with its flags unchanged (rec's info, or ":2,"). */
static const char *
moved_info(const struct uc_rec *r)
{
	return r->info[0] != '\0' ? r->info : ":2,";
}

/*
 * Where is rec's file now?  REC_AT_NAME under its cached name,
 * REC_IN_CUR in cur/ under the name moved_info() gives it (a mail reader
 * moved it from new/), REC_MISSING under neither.
 */
enum { REC_MISSING, REC_AT_NAME, REC_IN_CUR };

static int
rec_where(struct dsync *ds, const struct uc_rec *r)
{
	char p[PATH_LEN];

	if (pathf(p, sizeof(p), "%s/%s%s", r->in_new ? "new" : "cur",
	    r->base, r->info) == 0 &&
	    faccessat(ds->dirfd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return REC_AT_NAME;
	if (!r->in_new)
		return REC_MISSING;
	if (pathf(p, sizeof(p), "cur/%s%s", r->base, moved_info(r), "") ==
	    0 && faccessat(ds->dirfd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return REC_IN_CUR;
	return REC_MISSING;
}

/* Of the entries [i, j) of one base, the one the cache knows by name
 * (r), or the first (cur/ sorts before new/). */
static size_t
keeper(const struct scan *sc, size_t i, size_t j, const struct uc_rec *r)
{
	size_t k;

	for (k = i; r != NULL && k < j; k++)
		if (r->in_new == sc->e[k].in_new &&
		    strcmp(r->info, ename(sc, &sc->e[k]) + sc->e[k].baselen)
		    == 0)
			return k;
	return i;
}

/*
 * Decide, from a scan and the cache as now loaded, what to add, update
 * and expunge.  Only messages with a UID below uid_limit (given before
 * the listing began) can be found expunged by it, and only when the
 * listing was exact.
 */
static int
build_plan(struct dsync *ds, struct scan *sc, uint32_t uid_limit,
    struct plan *p)
{
	struct uc_rec r;
	size_t i, j, k, count;
	int known;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		known = uidcache_by_base(ds->uc, ename(sc, &sc->e[i]),
		    sc->e[i].baselen, &r);
		/* a broken copy scan_rebase() could not separate: show the
		 * one the cache knows until it can */
		k = keeper(sc, i, j, known ? &r : NULL);
		if (!known) {
			if (push_idx(&p->add, &p->nadd, k) == -1)
				return -1;
			continue;
		}
		if (strcmp(r.info, ename(sc, &sc->e[k]) + sc->e[k].baselen)
		    != 0 || r.in_new != sc->e[k].in_new) {
			if (push_idx(&p->upd, &p->nupd, k) == -1)
				return -1;
		}
	}
	count = uidcache_count(ds->uc);
	for (i = 0; i < count; i++) {
		if (!uidcache_nth(ds->uc, i, &r))
			continue;
		if (scan_find(sc, r.base, strlen(r.base)) >= 0)
			continue;
		/* a rename after the listing, or one it missed */
		switch (rec_where(ds, &r)) {
		case REC_AT_NAME:
			continue;
		case REC_IN_CUR:
			if (grow((void **)&p->moved, p->nmoved,
			    sizeof(*p->moved)) == -1)
				return -1;
			p->moved[p->nmoved++] = r.uid;
			continue;
		}
		/* not proven gone: a listing that raced with renames, or a
		 * message given its UID after the listing began */
		if (!sc->exact || r.uid >= uid_limit) {
			p->unresolved++;
			continue;
		}
		if (grow((void **)&p->gone, p->ngone, sizeof(*p->gone)) == -1)
			return -1;
		p->gone[p->ngone++] = r.uid;
	}
	return 0;
}

/* Apply a plan under the lock: every decision is checked again against
 * the freshly loaded state. */
static int
apply_plan(struct dsync *ds, struct plan *p, struct scan *sc, int *complete)
{
	struct uc_dirstamp old;
	struct uc_rec r;
	size_t i;
	uint32_t uid;

	if (p->nadd > 64)
		uidcache_reserve(ds->uc, p->nadd, sc->names.len);
	for (i = 0; i < p->nadd; i++) {
		struct entry *e = &sc->e[p->add[i]];
		const char *name = ename(sc, e);

		uid = uidcache_add(ds->uc, name, e->baselen, name + e->baselen,
		    e->in_new, e->flags, e->kw, e->vsize, UC_MTIME_UNKNOWN);
		if (uid != 0)
			continue;
		if (errno != EEXIST) {
			log_warn("%s: cannot give %s a UID", ds->dir, name);
			return -1;
		}
		/* someone else added it meanwhile: its name may differ */
		if (uidcache_by_base(ds->uc, name, e->baselen, &r) &&
		    (strcmp(r.info, name + e->baselen) != 0 ||
		    r.in_new != e->in_new) &&
		    uidcache_update(ds->uc, r.uid, e->flags, e->kw,
		    name + e->baselen, e->in_new) == -1)
			return -1;
	}
	for (i = 0; i < p->nupd; i++) {
		struct entry *e = &sc->e[p->upd[i]];
		const char *name = ename(sc, e);

		if (!uidcache_by_base(ds->uc, name, e->baselen, &r))
			continue;
		if (strcmp(r.info, name + e->baselen) == 0 &&
		    r.in_new == e->in_new)
			continue;
		/* the listing may be older than the cache's name (another
		 * session renamed the file and recorded it since): record
		 * only a name the file still has */
		if (entry_ino_now(ds, sc, e) == 0) {
			*complete = 0;
			continue;
		}
		if (uidcache_update(ds->uc, r.uid, e->flags, e->kw,
		    name + e->baselen, e->in_new) == -1)
			return -1;
	}
	for (i = 0; i < p->ngone; i++) {
		if (!uidcache_by_uid(ds->uc, p->gone[i], &r))
			continue;
		if (scan_live(sc, r.base) || rec_where(ds, &r) != REC_MISSING)
			continue;
		if (uidcache_expunge(ds->uc, r.uid) == -1)
			return -1;
	}
	for (i = 0; i < p->nmoved; i++) {
		if (!uidcache_by_uid(ds->uc, p->moved[i], &r) ||
		    rec_where(ds, &r) != REC_IN_CUR)
			continue;
		if (uidcache_update(ds->uc, r.uid, r.flags, r.keywords,
		    moved_info(&r), 0) == -1)
			return -1;
	}
	/* the times are worth keeping only from a scan that settled
	 * everything, and that a later sync can trust */
	uidcache_dirstamp(ds->uc, &old);
	if (*complete && stamp_trusted(&sc->stamp) &&
	    (old.cur_ns != sc->stamp.cur_ns || old.new_ns != sc->stamp.new_ns ||
	    old.scanned_ns != sc->stamp.scanned_ns))
		return uidcache_set_dirstamp(ds->uc, &sc->stamp);
	return 0;
}

/* Claim \Recent for everything from first_recent to UIDNEXT (locked). */
static int
claim_recent(struct dsync *ds)
{
	uint32_t lo = uidcache_first_recent(ds->uc);
	uint32_t hi = uidcache_uidnext(ds->uc);

	if (ds->readonly || lo >= hi)
		return 0;
	if (uidcache_set_first_recent(ds->uc, hi) == -1)
		return -1;
	if (ds->claim_hi == 0 || lo < ds->claim_lo)
		ds->claim_lo = lo;
	ds->claim_hi = hi;
	return 0;
}

/* The only way a sync fails once the folder has a cache: nothing could
 * be read.  A cache that cannot be written (a full disk, a lock held too
 * long) leaves the cache as it was, and the folder is served from it. */
static int
degrade(struct dsync *ds, const char *what)
{
	int e = errno;

	ds->complete = 0;
	if (uidcache_uidvalidity(ds->uc) == 0) {
		errno = e;
		return -1;
	}
	log_warnx("%s: %s (%s); serving the folder as the UID cache last "
	    "knew it until that works", ds->dir, what, strerror(e));
	errno = e;
	return 0;
}

/*
 * Make the cache match the directories.  force: read them even if the
 * times say nothing changed (a file we looked for was not where the cache
 * said).
 */
static int
dir_sync(struct dsync *ds, int force)
{
	struct uc_dirstamp now, old;
	struct scan sc;
	struct plan p;
	uint64_t changes;
	uint32_t uid_limit;
	int r = 0, locked = 0, need_recent, tries, complete, created;

	if (uidcache_refresh(ds->uc) == -1)
		return -1;
	if (stat_dirs(ds, &now) == -1) {
		log_warn("%s: cannot stat cur/ or new/", ds->dir);
		return -1;
	}
	uidcache_dirstamp(ds->uc, &old);
	need_recent = !ds->readonly &&
	    uidcache_first_recent(ds->uc) < uidcache_uidnext(ds->uc);
	if (!force && uidcache_uidvalidity(ds->uc) != 0 &&
	    old.cur_ns == now.cur_ns && old.new_ns == now.new_ns &&
	    stamp_trusted(&old)) {
		ds->complete = 1;
		if (!need_recent)
			return 0;
		/* nothing on disk changed; only \Recent to claim */
		if (uidcache_lock(ds->uc) == -1)
			return degrade(ds, "cannot lock the UID cache");
		if (claim_recent(ds) == -1 || uidcache_commit(ds->uc) == -1)
			r = degrade(ds, "cannot record \\Recent");
		uidcache_unlock(ds->uc);
		return r;
	}

	memset(&p, 0, sizeof(p));
	scan_init(&sc);
	for (tries = 0; ; tries++) {
		uid_limit = uidcache_uidnext(ds->uc);
		if (scan_all(ds, &sc) == -1) {
			log_warn("%s: cannot read the folder", ds->dir);
			return -1;
		}
		scan_dedupe(ds, &sc);
		if (scan_rebase(ds, &sc) == -1 ||
		    build_plan(ds, &sc, uid_limit, &p) == -1) {
			r = -1;
			goto out;
		}
		if ((p.unresolved == 0 && sc.unresolved == 0) ||
		    tries + 1 == SCAN_TRIES)
			break;
		/* other programs were renaming: look again */
		plan_free(&p);
		scan_free(&sc);
		if (uidcache_refresh(ds->uc) == -1)
			return -1;
	}
	complete = p.unresolved == 0 && sc.unresolved == 0;
	if (!complete)
		log_debug("%s: %zu messages not found while other programs "
		    "renamed files; looked for again at the next sync",
		    ds->dir, p.unresolved + sc.unresolved);
	/* with nothing to change, write the new times only if a later sync
	 * can trust them */
	if (p.nadd == 0 && p.nupd == 0 && p.ngone == 0 && p.nmoved == 0 &&
	    !need_recent &&
	    uidcache_uidvalidity(ds->uc) != 0 &&
	    !(complete && stamp_trusted(&sc.stamp)))
		goto nolock;
	changes = uidcache_changes(ds->uc);
	created = uidcache_uidvalidity(ds->uc) == 0;
	if (uidcache_lock(ds->uc) == -1) {
		r = degrade(ds, "cannot lock the UID cache");
		goto out;
	}
	locked = 1;
	if (uidcache_changes(ds->uc) != changes) {
		/* another process committed (or created the cache) since we
		 * decided: decide again from the same listing.  A cache the
		 * lock just created holds only what it took over from
		 * dovecot-uidlist or courierimapuiddb, which describes files
		 * older than the listing: its messages that the listing did
		 * not find are gone */
		if (created)
			uid_limit = uidcache_uidnext(ds->uc);
		plan_free(&p);
		if (build_plan(ds, &sc, uid_limit, &p) == -1) {
			r = -1;
			goto out;
		}
		complete = p.unresolved == 0 && sc.unresolved == 0;
	}
	ds->complete = complete;
	if (apply_plan(ds, &p, &sc, &ds->complete) == -1 ||
	    claim_recent(ds) == -1 || uidcache_commit(ds->uc) == -1)
		r = degrade(ds, "cannot update the UID cache");
	goto out;
nolock:
	ds->complete = complete;
out:
	if (locked)
		uidcache_unlock(ds->uc);
	plan_free(&p);
	scan_free(&sc);
	return r;
}

/* ---- following a folder through inotify ----------------------------- */

/*
 * A session that keeps a folder selected follows it through inotify, so
 * that a change costs it time in proportion to the change, not to the
 * folder: it need not list 100,000 names because one arrived.  The watch
 * on cur/ and new/ is set up before the first sync, so every change after
 * that is in its queue.  Once a sync has left the cache complete (every
 * file as it is), the cache and the queued events together are the whole
 * truth, and the next sync needs only the names the events name: it
 * looks each one up, and reads the queue again until a read finds
 * nothing new, so that a name looked up before a rename is looked up
 * again after it (a base counts as gone only when every name of it the
 * events gave was absent and no event came after).  A base with a new
 * name is updated, a new one added, one with no name left expunged.
 * Whatever the events do not settle (a lost event, a broken copy, renames
 * that do not stop, a cache that is not ours any more) falls back to
 * listing the directories.  Local file systems only: on NFS and FUSE,
 * other hosts' changes make no events.
 */
#define WATCH_MASK	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
			 IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | \
			 IN_ONLYDIR)
#define WATCH_ROUNDS	4	/* reads of the queue before listing */

static void
watch_stop(struct mailbox *mb)
{
	if (mb->watch_fd != -1)
		close(mb->watch_fd);
	mb->watch_fd = -1;
	mb->watch_ok = 0;
}

static void
watch_start(struct mailbox *mb)
{
	static int told;
	char p[PATH_LEN];

	mb->watch_fd = -1;
	mb->watch_ok = 0;
	if (mapfile_remote(mb->dirfd))
		return;
	if ((mb->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		if (!told++)
			log_warn("inotify (fs.inotify.max_user_instances "
			    "may be too low); changes to %s are found by "
			    "listing it", mb->dir);
		return;
	}
	if (pathf(p, sizeof(p), "%s/%s%s", mb->dir, "cur", "") == -1 ||
	    (mb->wd_cur = inotify_add_watch(mb->watch_fd, p, WATCH_MASK)) ==
	    -1 ||
	    pathf(p, sizeof(p), "%s/%s%s", mb->dir, "new", "") == -1 ||
	    (mb->wd_new = inotify_add_watch(mb->watch_fd, p, WATCH_MASK)) ==
	    -1) {
		if (!told++)
			log_warn("inotify watch on %s (fs.inotify."
			    "max_user_watches may be too low); changes are "
			    "found by listing it", mb->dir);
		watch_stop(mb);
	}
}

/* Take the names the queued events give into t (to be looked up).  The
 * number of names, or -1 when the watch lost track (its queue overflowed,
 * its directories went away): the caller lists. */
static ssize_t
watch_drain(struct mailbox *mb, struct scan *t)
{
	char buf[8192] __attribute__((aligned(8)));
	const struct inotify_event *ev;
	ssize_t n, off, got = 0;

	for (;;) {
		n = read(mb->watch_fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return got;
		if (n <= 0)
			return -1;
		for (off = 0; off < n; off += (ssize_t)sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED |
			    IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
				return -1;
			if (ev->len == 0 || (ev->mask & IN_ISDIR) ||
			    ev->name[0] == '.' ||
			    (ev->wd != mb->wd_cur && ev->wd != mb->wd_new))
				continue;
			if (scan_add(t, ev->name, ev->wd == mb->wd_new, 0) ==
			    -1)
				return -1;
			got++;
		}
	}
}

/* Empty the queue: a listing is about to cover what it says. */
static void
watch_discard(struct mailbox *mb)
{
	char buf[8192] __attribute__((aligned(8)));
	ssize_t n;

	while ((n = read(mb->watch_fd, buf, sizeof(buf))) > 0 ||
	    (n == -1 && errno == EINTR))
		;
}

/* Look up each name of t not looked up yet: its inode, or absent. */
static void
watch_lookup(struct dsync *ds, struct scan *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct entry *e = &t->e[i];

		if (e->checked)
			continue;
		e->ino = entry_ino_now(ds, t, e);
		e->absent = e->ino == 0;
		e->checked = 1;
	}
}

/* Move the names of new/ in t that exist to cur/ (read-write syncs);
 * the moves make events of their own, for the next round. */
static int
watch_move_new(struct dsync *ds, const struct scan *t)
{
	struct scan nw;
	size_t i;

	scan_init(&nw);
	for (i = 0; i < t->n; i++) {
		const struct entry *e = &t->e[i];

		if (e->in_new && !e->absent && scan_add(&nw, ename(t, e), 1,
		    e->ino) == -1) {
			scan_free(&nw);
			return -1;
		}
	}
	if (nw.n > 0)
		move_new(ds, &nw);
	scan_free(&nw);
	return 0;
}

/* Drop names t holds twice (an event for each of two renames). */
static void
watch_unique(struct scan *t)
{
	size_t i, out = 0;

	for (i = 0; i < t->n; i++) {
		if (out > 0 && t->e[out - 1].in_new == t->e[i].in_new &&
		    strcmp(ename(t, &t->e[out - 1]), ename(t, &t->e[i])) == 0)
			continue;
		t->e[out++] = t->e[i];
	}
	t->n = out;
}

/*
 * What the names of t (sorted, looked up) say should change in the
 * cache.  0, 1 if they do not settle it (the caller lists), -1 (errno).
 */
static int
watch_plan(struct dsync *ds, struct scan *t, struct plan *p)
{
	char cached[PATH_LEN];
	struct uc_rec r;
	struct stat sb;
	size_t i, j, k, live;
	int known, has_cached;
	uint64_t ino;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < t->n; i = j) {
		for (j = i + 1; j < t->n && same_base(t, &t->e[i], &t->e[j]);
		    j++)
			;
		known = uidcache_by_base(ds->uc, ename(t, &t->e[i]),
		    t->e[i].baselen, &r);
		has_cached = 0;
		live = j;
		ino = 0;
		for (k = i; k < j; k++) {
			const struct entry *e = &t->e[k];

			if (known && e->in_new == r.in_new &&
			    strcmp(ename(t, e) + e->baselen, r.info) == 0)
				has_cached = 1;
			if (e->absent)
				continue;
			if (ino != 0 && e->ino != ino)
				return 1;	/* two files: a broken copy */
			ino = e->ino;
			if (live == j || (known && e->in_new == r.in_new &&
			    strcmp(ename(t, e) + e->baselen, r.info) == 0))
				live = k;
		}
		if (known && !has_cached) {
			/* no event for the cached name: it is still there */
			if (live == j)
				continue;
			if (pathf(cached, sizeof(cached), "%s/%s%s",
			    r.in_new ? "new" : "cur", r.base, r.info) == -1 ||
			    fstatat(ds->dirfd, cached, &sb,
			    AT_SYMLINK_NOFOLLOW) == -1 ||
			    (uint64_t)sb.st_ino != ino)
				return 1;
			continue;	/* another link of the same file */
		}
		if (live == j) {
			if (known) {
				if (grow((void **)&p->gone, p->ngone,
				    sizeof(*p->gone)) == -1)
					return -1;
				p->gone[p->ngone++] = r.uid;
			}
			continue;
		}
		if (!known) {
			if (push_idx(&p->add, &p->nadd, live) == -1)
				return -1;
		} else if (t->e[live].in_new != r.in_new ||
		    strcmp(ename(t, &t->e[live]) + t->e[live].baselen,
		    r.info) != 0) {
			if (push_idx(&p->upd, &p->nupd, live) == -1)
				return -1;
		}
	}
	return 0;
}

/*
 * Sync from the watch alone; see above.  0 done (ds->complete says
 * whether the cache now holds everything), 1 the caller must list, -1
 * error.
 */
static int
watch_sync(struct mailbox *mb, struct dsync *ds)
{
	struct uc_dirstamp old;
	struct scan t;
	struct plan p;
	ssize_t got;
	size_t round;
	int r = 1, need_recent, complete = 1;

	if (uidcache_refresh(ds->uc) == -1)
		return -1;
	/* a lost, damaged or rebuilt cache is not what the events are
	 * relative to */
	if (uidcache_uidvalidity(ds->uc) == 0 ||
	    uidcache_uidvalidity(ds->uc) != mb->uidvalidity)
		return 1;
	memset(&p, 0, sizeof(p));
	scan_init(&t);
	if (stamp_begin(ds, &t.stamp) == -1) {
		r = -1;
		goto out;
	}
	if ((got = watch_drain(mb, &t)) == -1)
		goto out;
	for (round = 0; got > 0; round++) {
		if (round == WATCH_ROUNDS)
			goto out;	/* renames that do not stop: list */
		watch_lookup(ds, &t);
		if (!ds->readonly && watch_move_new(ds, &t) == -1)
			goto out;
		if ((got = watch_drain(mb, &t)) == -1)
			goto out;
	}
	scan_sort(&t);
	watch_unique(&t);
	if ((r = watch_plan(ds, &t, &p)) != 0)
		goto out;
	need_recent = !ds->readonly &&
	    uidcache_first_recent(ds->uc) < uidcache_uidnext(ds->uc);
	uidcache_dirstamp(ds->uc, &old);
	if (p.nadd == 0 && p.nupd == 0 && p.ngone == 0 && !need_recent &&
	    !(stamp_trusted(&t.stamp) && (old.cur_ns != t.stamp.cur_ns ||
	    old.new_ns != t.stamp.new_ns))) {
		ds->complete = 1;
		goto out;
	}
	if (uidcache_lock(ds->uc) == -1) {
		r = degrade(ds, "cannot lock the UID cache");
		goto out;
	}
	if (uidcache_uidvalidity(ds->uc) != mb->uidvalidity) {
		uidcache_unlock(ds->uc);
		r = 1;
		goto out;
	}
	if (apply_plan(ds, &p, &t, &complete) == -1 ||
	    claim_recent(ds) == -1 || uidcache_commit(ds->uc) == -1)
		r = degrade(ds, "cannot update the UID cache");
	else
		ds->complete = complete;
	uidcache_unlock(ds->uc);
out:
	plan_free(&p);
	scan_free(&t);
	return r;
}

static int	uv_same(struct mailbox *);

/* The sync of a session's folder: \Recent claimed here is the view's
 * to show (even if a later step failed: the cache may have it). */
static int
disk_sync(struct mailbox *mb, int force)
{
	struct dsync ds;
	int r;

	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	memset(&ds, 0, sizeof(ds));
	ds.uc = mb->uc;
	ds.dir = mb->dir;
	ds.dirfd = mb->dirfd;
	ds.readonly = mb->readonly;
	r = 1;
	if (!force && mb->watch_ok)
		r = watch_sync(mb, &ds);
	if (r == 1) {
		/* the listing covers what the queue holds so far */
		if (mb->watch_fd != -1)
			watch_discard(mb);
		r = dir_sync(&ds, force || mb->watch_ok);
	}
	mb->watch_ok = mb->watch_fd != -1 && r == 0 && ds.complete;
	if (ds.claim_hi != 0) {
		if (mb->claim_hi == 0 || ds.claim_lo < mb->claim_lo)
			mb->claim_lo = ds.claim_lo;
		mb->claim_hi = ds.claim_hi;
	}
	/* whatever state the sync loaded must still be the view's */
	if (uidcache_uidvalidity(mb->uc) != 0 && !uv_same(mb))
		return -1;
	return r;
}

/* ---- changes the cache could not record ---------------------------------- */

/*
 * A STORE renames the files first (that is the change) and then records
 * the new names in the cache.  When the cache cannot take them (its
 * journal cannot be written), the change is made all the same, and the
 * next sync that can write records it.  Meanwhile the cache still holds
 * the old names and flags; a view that went by it would show the client
 * its own change undone at the next sync, and the session's later STORE,
 * COPY or EXPUNGE of the message would start from the old flags.  So the
 * session keeps such changes beside the cache, and its view and its own
 * work go by them for as long as the cache still holds what it held when
 * they were made (the record's MODSEQ is the same): once a sync records
 * the file's name, or another session changes the message, the cache is
 * the truth again and the note is dropped.  The cache itself is never
 * written from these notes: only what a listing finds on disk goes in.
 */
#define UNREC_MAX	4096	/* beyond that, the old behaviour */

static int
unrec_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct unrec *)a)->uid;
	uint32_t y = ((const struct unrec *)b)->uid;

	return x < y ? -1 : x > y;
}

static struct unrec *
unrec_find(const struct mailbox *mb, uint32_t uid)
{
	struct unrec key = { 0 };

	if (mb->nunrec == 0)
		return NULL;
	key.uid = uid;
	return bsearch(&key, mb->unrec, mb->nunrec, sizeof(key), unrec_cmp);
}

/* Note that the message uid now has flags, kw and the name base + info,
 * which the cache could not record. */
static void
unrec_note(struct mailbox *mb, uint32_t uid, unsigned flags, uint32_t kw,
    const char *info)
{
	struct unrec *u, *nu;
	struct uc_rec r;
	size_t i;

	if (!uidcache_by_uid(mb->uc, uid, &r))
		return;
	if ((u = unrec_find(mb, uid)) == NULL) {
		if (mb->nunrec == UNREC_MAX || (nu = reallocarray(mb->unrec,
		    mb->nunrec + 1, sizeof(*nu))) == NULL)
			return;
		mb->unrec = nu;
		for (i = mb->nunrec; i > 0 && nu[i - 1].uid > uid; i--)
			nu[i] = nu[i - 1];
		u = &nu[i];
		mb->nunrec++;
	}
	u->uid = uid;
	u->flags = (uint8_t)(flags & MF_ALL);
	u->kw = kw;
	u->modseq = r.modseq;
	(void)pathf(u->info, sizeof(u->info), "%s%s%s", info, "", "");
}

/* What r (the cache's record) is after this session's unrecorded
 * change, if it has one the cache has not moved past. */
static void
unrec_apply(const struct mailbox *mb, struct uc_rec *r)
{
	const struct unrec *u;

	if (mb->nunrec == 0 || (u = unrec_find(mb, r->uid)) == NULL ||
	    u->modseq != r->modseq)
		return;
	r->flags = u->flags;
	r->keywords = u->kw;
	r->info = u->info;
	r->in_new = 0;
}

/* Drop the notes the cache has moved past (or whose message is gone). */
static void
unrec_prune(struct mailbox *mb)
{
	struct uc_rec r;
	size_t i, out = 0;

	for (i = 0; i < mb->nunrec; i++)
		if (uidcache_by_uid(mb->uc, mb->unrec[i].uid, &r) &&
		    r.modseq == mb->unrec[i].modseq)
			mb->unrec[out++] = mb->unrec[i];
	mb->nunrec = out;
}

/* ---- the view ----------------------------------------------------------- */

/*
 * Is the cache still of the UIDVALIDITY this view was built for?  The
 * first sync sets it.  Once it changed (the cache was lost or damaged and
 * rebuilt), the view's UIDs mean nothing any more: the mailbox is stale
 * for good, every call fails with ESTALE, and the session must end (a
 * client resynchronizes from scratch when it sees the new UIDVALIDITY).
 */
static int
uv_same(struct mailbox *mb)
{
	uint32_t uv = uidcache_uidvalidity(mb->uc);

	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return 0;
	}
	if (mb->uidvalidity == 0 || uv == mb->uidvalidity) {
		if (mb->uidvalidity == 0)
			mb->uidvalidity = uv;
		return 1;
	}
	mb->stale_uv = uv != 0 ? uv : UINT32_MAX;
	log_warnx("%s: UIDVALIDITY changed from %u to %u under an open "
	    "session (the UID cache was lost or damaged and rebuilt); the "
	    "session ends so that its client resynchronizes", mb->dir,
	    mb->uidvalidity, uv);
	errno = ESTALE;
	return 0;
}

/* Take the folder's lock for a change the view asked for: the loaded
 * state must still be of the view's UIDVALIDITY.  0, or -1 (errno;
 * ESTALE once it is not). */
static int
mb_lock(struct mailbox *mb)
{
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if (uidcache_lock(mb->uc) == -1)
		return -1;
	if (!uv_same(mb)) {
		uidcache_unlock(mb->uc);
		return -1;
	}
	return 0;
}

/* Read dovecot-keywords again if another process changed it; 1 if the
 * names changed. */
static int
keywords_refresh(struct mailbox *mb, int force)
{
	char p[PATH_LEN];
	struct keywords nk;
	struct stat sb;
	int changed = 0, i;

	if (pathf(p, sizeof(p), "%s/%s%s", mb->dir, KEYWORDS_FILE, "") == -1)
		return 0;
	if (stat(p, &sb) == -1) {
		if (errno != ENOENT)
			return 0;
		memset(&sb, 0, sizeof(sb));
	}
	if (!force && sb.st_dev == mb->kw_dev && sb.st_ino == mb->kw_ino &&
	    sb.st_size == mb->kw_size && mtime_ns(&sb) == mb->kw_mtime)
		return 0;
	memset(&nk, 0, sizeof(nk));
	if (keywords_load(mb->dir, &nk) == -1) {
		log_warn("%s: cannot read %s", mb->dir, KEYWORDS_FILE);
		return 0;
	}
	for (i = 0; i < KEYWORDS_MAX; i++)
		if ((nk.name[i] == NULL) != (mb->kw.name[i] == NULL) ||
		    (nk.name[i] != NULL && strcmp(nk.name[i],
		    mb->kw.name[i]) != 0))
			changed = 1;
	keywords_free(&mb->kw);
	mb->kw = nk;
	mb->kw_dev = sb.st_dev;
	mb->kw_ino = sb.st_ino;
	mb->kw_size = sb.st_size;
	mb->kw_mtime = mtime_ns(&sb);
	return changed;
}

/* Bring the view in line with the cache; see mailbox_sync(). */
static int
view_update(struct mailbox *mb, int allow_expunge,
    const struct mailbox_events *ev)
{
	size_t count = uidcache_count(mb->uc), i = 0, j = 0, out = 0;
	size_t oldn = mb->n, nrecent = 0, shown;
	struct vmsg *nv;
	struct uc_rec r;
	uint32_t *expunged = NULL, *exuid = NULL, *changed = NULL;
	size_t nexp = 0, nchanged = 0;
	int have;

	if (uidcache_changes(mb->uc) == mb->seen_changes &&
	    mb->claim_hi == 0 && (!allow_expunge || mb->ngone == 0))
		return 0;
	unrec_prune(mb);
	if ((nv = reallocarray(NULL, count + oldn + 1, sizeof(*nv))) == NULL)
		return -1;
	if ((expunged = reallocarray(NULL, oldn + 1, sizeof(*expunged))) ==
	    NULL || (exuid = reallocarray(NULL, oldn + 1, sizeof(*exuid))) ==
	    NULL || (changed = reallocarray(NULL, oldn + 1,
	    sizeof(*changed))) == NULL) {
		free(expunged);
		free(exuid);
		free(nv);
		return -1;
	}
	/* merge the old view (by UID) with the cache (by UID) */
	have = count > 0 && uidcache_nth_meta(mb->uc, 0, &r);
	while (i < oldn || have) {
		if (i < oldn && (!have || mb->v[i].uid < r.uid)) {
			/* in the view, no longer in the cache */
			if (allow_expunge) {
				exuid[nexp] = mb->v[i].uid;
				expunged[nexp++] = (uint32_t)(i + 1);
			}
			else {
				nv[out] = mb->v[i];
				nv[out].state |= VM_GONE;
				out++;
			}
			i++;
			continue;
		}
		if (i < oldn && mb->v[i].uid == r.uid) {
			nv[out] = mb->v[i];
			unrec_apply(mb, &r);
			if (nv[out].flags != (r.flags & MF_ALL) ||
			    nv[out].kw != r.keywords) {
				nv[out].flags = (uint8_t)(r.flags & MF_ALL);
				nv[out].kw = r.keywords;
				/* reported once the new view is in place */
				if (!(nv[out].state & VM_GONE))
					changed[nchanged++] = nv[out].uid;
			}
			i++;
		} else if (r.uid < mb->uid_floor) {
			/* a message this view reported expunged, which the
			 * cache still holds (its expunge could not be
			 * recorded): it stays gone */
			j++;
			have = j < count && uidcache_nth_meta(mb->uc, j, &r);
			continue;
		} else {
			/* a message the view has not seen */
			nv[out].uid = r.uid;
			nv[out].flags = (uint8_t)(r.flags & MF_ALL);
			nv[out].kw = r.keywords;
			nv[out].state = 0;
			/* a read-only view claims nothing, but shows as
			 * \Recent what no session has claimed yet (RFC 3501
			 * 6.3.2: EXAMINE reports the RECENT count) */
			if (mb->readonly &&
			    r.uid >= uidcache_first_recent(mb->uc))
				nv[out].state |= VM_RECENT;
		}
		if (mb->claim_hi != 0 && r.uid >= mb->claim_lo &&
		    r.uid < mb->claim_hi)
			nv[out].state |= VM_RECENT;
		out++;
		j++;
		have = j < count && uidcache_nth_meta(mb->uc, j, &r);
	}
	mb->claim_lo = mb->claim_hi = 0;
	mb->ngone = 0;
	for (i = 0; i < out; i++)
		if (nv[i].state & VM_GONE)
			mb->ngone++;
	free(mb->v);
	mb->v = nv;
	mb->cap = count + oldn + 1;
	mb->n = out;
	mb->seen_changes = uidcache_changes(mb->uc);
	if (uidcache_uidnext(mb->uc) > mb->uid_floor)
		mb->uid_floor = uidcache_uidnext(mb->uc);
	/* expunges first, from the top down, then the new count */
	if (ev != NULL && ev->expunge != NULL)
		for (i = nexp; i > 0; i--)
			ev->expunge(ev->arg, expunged[i - 1], exuid[i - 1]);
	if (ev != NULL && ev->flags != NULL)
		for (i = 0; i < nchanged; i++)
			ev->flags(ev->arg, mailbox_seq_of_uid(mb, changed[i]));
	for (i = 0; i < mb->n; i++)
		if (mb->v[i].state & VM_RECENT)
			nrecent++;
	shown = oldn - nexp;
	if (mb->n != shown && ev != NULL && ev->exists != NULL)
		ev->exists(ev->arg, (uint32_t)mb->n);
	if (nrecent != mb->nrecent || mb->n != shown) {
		mb->nrecent = (uint32_t)nrecent;
		if (ev != NULL && ev->recent != NULL)
			ev->recent(ev->arg, mb->nrecent);
	}
	free(expunged);
	free(exuid);
	free(changed);
	return 0;
}

/* ---- public --------------------------------------------------------------- */

/* The cache's record of the message at seq: 1, or 0 with errno ENOENT
 * if it has none (expunged), ESTALE if the folder's UIDVALIDITY changed
 * (the loaded records are then another numbering's). */
static int
view_rec(struct mailbox *mb, uint32_t seq, struct uc_rec *r)
{
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return 0;
	}
	if (seq < 1 || seq > mb->n ||
	    !uidcache_by_uid(mb->uc, mb->v[seq - 1].uid, r)) {
		errno = ENOENT;
		return 0;
	}
	unrec_apply(mb, r);
	return 1;
}

int
mailbox_open(const char *dir, int readonly, struct mailbox **mbp,
    const char **why_r)
{
	struct mailbox *mb;
	char err[256];

	*mbp = NULL;
	if ((mb = calloc(1, sizeof(*mb))) == NULL) {
		*why_r = "Out of memory";
		return -1;
	}
	mb->readonly = readonly;
	mb->dirfd = -1;
	mb->watch_fd = -1;
	/* the first sync builds the view whatever the cache's counter says */
	mb->seen_changes = UINT64_MAX;
	if ((mb->dir = strdup(dir)) == NULL)
		goto nomem;
	if ((mb->dirfd = folder_open(dir)) == -1) {
		switch (errno) {
		case ENOENT:
		case ENOTDIR:
			*why_r = "[NONEXISTENT] No such mailbox";
			break;
		case ELOOP:
			*why_r = "[NONEXISTENT] No such mailbox (a symbolic "
			    "link is not followed)";
			break;
		default:
			*why_r = "Cannot open the mailbox";
			break;
		}
		goto fail;
	}
	if (uidcache_open(dir, &mb->uc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", dir, err);
		*why_r = "[SERVERBUG] Cannot read the mailbox's UID cache";
		goto fail;
	}
	(void)keywords_refresh(mb, 1);
	/* before the first sync: from then on, every change is an event */
	watch_start(mb);
	if (mailbox_sync(mb, 1, NULL) == -1 ||
	    uidcache_uidvalidity(mb->uc) == 0) {
		*why_r = errno == ENOSPC || errno == EDQUOT ?
		    "[OVERQUOTA] The mailbox cannot be opened: no room left "
		    "for its UID cache" :
		    "[SERVERBUG] Cannot read the mailbox (the server log "
		    "says why)";
		goto fail;
	}
	mb->kw_changed = 0;
	*mbp = mb;
	return 0;
nomem:
	*why_r = "Out of memory";
fail:
	mailbox_close(mb);
	return -1;
}

void
mailbox_close(struct mailbox *mb)
{
	if (mb == NULL)
		return;
	mailbox_flush_facts(mb);
	if (mb->uc != NULL)
		uidcache_close(mb->uc);
	keywords_free(&mb->kw);
	watch_stop(mb);
	if (mb->dirfd != -1)
		close(mb->dirfd);
	free(mb->dir);
	free(mb->v);
	free(mb->facts);
	free(mb->unrec);
	free(mb);
}

int
mailbox_sync(struct mailbox *mb, int allow_expunge,
    const struct mailbox_events *ev)
{
	if (disk_sync(mb, 0) == -1)
		return -1;
	if (keywords_refresh(mb, 0))
		mb->kw_changed = 1;
	/* new names first: the FETCH responses that follow may use them */
	if (mb->kw_changed && ev != NULL && ev->keywords != NULL) {
		ev->keywords(ev->arg);
		mb->kw_changed = 0;
	}
	return view_update(mb, allow_expunge, ev);
}

uint32_t
mailbox_stale(const struct mailbox *mb)
{
	return mb->stale_uv;
}

int
mailbox_watch_fd(const struct mailbox *mb)
{
	return mb->watch_fd;
}

uint32_t
mailbox_count(const struct mailbox *mb)
{
	return (uint32_t)mb->n;
}

uint32_t
mailbox_uidvalidity(const struct mailbox *mb)
{
	return mb->uidvalidity;
}

uint32_t
mailbox_uidnext(const struct mailbox *mb)
{
	return uidcache_uidnext(mb->uc);
}

uint64_t
mailbox_highestmodseq(const struct mailbox *mb)
{
	return uidcache_highestmodseq(mb->uc);
}

uint32_t
mailbox_recent(const struct mailbox *mb)
{
	return mb->nrecent;
}

uint32_t
mailbox_unseen_first(const struct mailbox *mb)
{
	size_t i;

	for (i = 0; i < mb->n; i++)
		if (!(mb->v[i].flags & MF_SEEN))
			return (uint32_t)(i + 1);
	return 0;
}

int
mailbox_readonly(const struct mailbox *mb)
{
	return mb->readonly;
}

const char *
mailbox_dir(const struct mailbox *mb)
{
	return mb->dir;
}

int
mailbox_dirfd(const struct mailbox *mb)
{
	return mb->dirfd;
}

const struct keywords *
mailbox_keywords(const struct mailbox *mb)
{
	return &mb->kw;
}

uint32_t
mailbox_uid(const struct mailbox *mb, uint32_t seq)
{
	return seq >= 1 && seq <= mb->n ? mb->v[seq - 1].uid : 0;
}

unsigned
mailbox_flags(const struct mailbox *mb, uint32_t seq)
{
	if (seq < 1 || seq > mb->n)
		return 0;
	return mb->v[seq - 1].flags |
	    ((mb->v[seq - 1].state & VM_RECENT) ? MBF_RECENT : 0);
}

uint32_t
mailbox_keywords_of(const struct mailbox *mb, uint32_t seq)
{
	return seq >= 1 && seq <= mb->n ? mb->v[seq - 1].kw : 0;
}

uint64_t
mailbox_modseq(struct mailbox *mb, uint32_t seq)
{
	struct uc_rec r;

	if (!view_rec(mb, seq, &r))
		return 0;
	return r.modseq;
}

int
mailbox_changed_since(struct mailbox *mb, uint64_t since, uint32_t **seqs_r,
    size_t *n_r)
{
	uint32_t *uids, seq;
	size_t n, i, out = 0;

	*seqs_r = NULL;
	*n_r = 0;
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if (uidcache_changed_since(mb->uc, since, &uids, &n) == -1)
		return -1;
	/* UIDs become sequence numbers in place: both ascend */
	for (i = 0; i < n; i++) {
		seq = mailbox_seq_of_uid(mb, uids[i]);
		if (seq != 0 && !(mb->v[seq - 1].state & VM_GONE))
			uids[out++] = seq;
	}
	*seqs_r = uids;
	*n_r = out;
	return 0;
}

struct vanished_arg {
	void		(*fn)(void *, uint32_t);
	void		*arg;
};

static void
vanished_one(void *arg, uint32_t uid, uint64_t modseq)
{
	struct vanished_arg *va = arg;

	(void)modseq;
	va->fn(va->arg, uid);
}

int
mailbox_vanished_since(struct mailbox *mb, uint64_t since,
    void (*fn)(void *, uint32_t), void *arg)
{
	struct vanished_arg va = { fn, arg };

	if (mb->stale_uv != 0)
		return 0;
	return uidcache_expunged_since(mb->uc, since, vanished_one, &va);
}

int
mailbox_gone(const struct mailbox *mb, uint32_t seq)
{
	return seq < 1 || seq > mb->n || (mb->v[seq - 1].state & VM_GONE);
}

int
mailbox_emailid(struct mailbox *mb, uint32_t seq, char *out)
{
	struct uc_rec r;

	if (!view_rec(mb, seq, &r))
		return -1;
	objectid_email(r.base, out);
	return 0;
}

uint32_t
mailbox_seq_from_uid(const struct mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mb->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)(lo + 1);
}

uint32_t
mailbox_seq_of_uid(const struct mailbox *mb, uint32_t uid)
{
	uint32_t seq = mailbox_seq_from_uid(mb, uid);

	return seq <= mb->n && mb->v[seq - 1].uid == uid ? seq : 0;
}

static int
relpath_of(const struct uc_rec *r, char *out, size_t len)
{
	return pathf(out, len, "%s/%s%s", r->in_new ? "new" : "cur", r->base,
	    r->info);
}

int
mailbox_relpath(struct mailbox *mb, uint32_t seq, char *out, size_t len)
{
	struct uc_rec r;

	if (seq >= 1 && seq <= mb->n && (mb->v[seq - 1].state & VM_GONE)) {
		errno = ENOENT;
		return -1;
	}
	if (!view_rec(mb, seq, &r))
		return -1;
	return relpath_of(&r, out, len);
}

/*
 * Find the file of r's base by listing cur/ and new/ until it is found,
 * or an exact listing proves it absent (then ENOENT: a later sync
 * expunges it), or SCAN_TRIES listings raced with renames (EAGAIN).  A
 * name found is recorded in the cache.  0 with the path in out, or -1.
 */
static int
relocate_base(struct mailbox *mb, const struct uc_rec *r, char *out,
    size_t len)
{
	struct dsync ds;
	struct scan sc;
	struct uc_rec cur;
	ssize_t k;
	int tries, exact = 0, in_new;
	char info[MDNAME_MAX + 1];
	unsigned flags;
	uint32_t kw;

	memset(&ds, 0, sizeof(ds));
	ds.uc = mb->uc;
	ds.dir = mb->dir;
	ds.dirfd = mb->dirfd;
	ds.readonly = 1;
	for (tries = 0; tries < SCAN_TRIES; tries++) {
		scan_init(&sc);
		if (list_dirs(&ds, &sc) == -1) {
			scan_free(&sc);
			return -1;
		}
		exact = sc.exact;
		k = scan_find(&sc, r->base, strlen(r->base));
		if (k >= 0 && entry_path(&sc, &sc.e[k], out, len) == 0) {
			in_new = sc.e[k].in_new;
			flags = sc.e[k].flags;
			kw = sc.e[k].kw;
			(void)pathf(info, sizeof(info), "%s%s%s",
			    ename(&sc, &sc.e[k]) + sc.e[k].baselen, "", "");
			scan_free(&sc);
			if (mb_lock(mb) == 0) {
				if (uidcache_by_uid(mb->uc, r->uid, &cur) &&
				    (strcmp(cur.info, info) != 0 ||
				    cur.in_new != in_new) &&
				    uidcache_update(mb->uc, r->uid, flags, kw,
				    info, in_new) == 0)
					(void)uidcache_commit(mb->uc);
				uidcache_unlock(mb->uc);
			}
			return 0;
		}
		scan_free(&sc);
		if (exact)
			break;
	}
	errno = exact ? ENOENT : EAGAIN;
	return -1;
}

int
mailbox_relocate(struct mailbox *mb, uint32_t seq, char *out, size_t len)
{
	struct uc_rec r;

	if (seq < 1 || seq > mb->n) {
		errno = ENOENT;
		return -1;
	}
	if (disk_sync(mb, 1) == -1)
		return -1;
	if (!view_rec(mb, seq, &r)) {
		if (errno == ESTALE)
			return -1;
		if (!(mb->v[seq - 1].state & VM_GONE)) {
			mb->v[seq - 1].state |= VM_GONE;
			mb->ngone++;
		}
		errno = ENOENT;
		return -1;
	}
	if (relpath_of(&r, out, len) == -1)
		return -1;
	if (faccessat(mb->dirfd, out, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	/* the sync's listings raced with renames and did not settle this
	 * one: look for its base alone */
	return relocate_base(mb, &r, out, len);
}

/*
 * Facts are kept sorted by UID: they are nearly always learned in UID
 * order (FETCH 1:*), so an append is the common case and a lookup is a
 * binary search; a FETCH over a whole large folder stays linear.
 */
static size_t
fact_pos(const struct mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->nfacts, mid;

	if (hi > 0 && mb->facts[hi - 1].uid < uid)
		return hi;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mb->facts[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
add_fact(struct mailbox *mb, uint32_t uid, uint64_t vsize, int64_t mtime)
{
	struct fact *f;
	size_t i = fact_pos(mb, uid);

	if (i < mb->nfacts && mb->facts[i].uid == uid) {
		if (vsize != MD_SIZE_UNKNOWN)
			mb->facts[i].vsize = vsize;
		if (mtime != UC_MTIME_UNKNOWN)
			mb->facts[i].mtime = mtime;
		return;
	}
	if (mb->nfacts == mb->capfacts) {
		size_t cap = mb->capfacts ? mb->capfacts * 2 : 64;

		if ((f = reallocarray(mb->facts, cap, sizeof(*f))) == NULL)
			return;		/* only a cache: fine to forget */
		mb->facts = f;
		mb->capfacts = cap;
	}
	if (i < mb->nfacts)
		memmove(&mb->facts[i + 1], &mb->facts[i],
		    (mb->nfacts - i) * sizeof(*mb->facts));
	mb->facts[i].uid = uid;
	mb->facts[i].vsize = vsize;
	mb->facts[i].mtime = mtime;
	mb->nfacts++;
}

static const struct fact *
find_fact(const struct mailbox *mb, uint32_t uid)
{
	size_t i = fact_pos(mb, uid);

	return i < mb->nfacts && mb->facts[i].uid == uid ? &mb->facts[i] :
	    NULL;
}

/* Open a message's file, following a rename by another program once. */
static int
open_msg(struct mailbox *mb, uint32_t seq)
{
	char rel[PATH_LEN];
	int fd;

	if (mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1)
		return -1;
	fd = openat(mb->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT &&
	    mailbox_relocate(mb, seq, rel, sizeof(rel)) == 0)
		fd = openat(mb->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* RFC822.SIZE of an open message file, which is closed: every LF not
 * already preceded by CR counts as CRLF.  0, or -1 with errno. */
static int
file_vsize(int fd, uint64_t *vs)
{
	char buf[65536], prev = 0;
	uint64_t size = 0, lfs = 0;
	ssize_t n, i;
	int e;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				lfs++;
			prev = buf[i];
		}
		size += (uint64_t)n;
	}
	e = errno;
	close(fd);
	if (n == -1) {
		errno = e;
		return -1;
	}
	*vs = size + lfs;
	return 0;
}

int
mailbox_vsize(struct mailbox *mb, uint32_t seq, uint64_t *vs)
{
	const struct fact *f;
	struct uc_rec r;
	int fd;

	if (seq < 1 || seq > mb->n) {
		errno = ENOENT;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if (uidcache_by_uid(mb->uc, mb->v[seq - 1].uid, &r) &&
	    r.vsize != MD_SIZE_UNKNOWN) {
		*vs = r.vsize;
		return 0;
	}
	if ((f = find_fact(mb, mb->v[seq - 1].uid)) != NULL &&
	    f->vsize != MD_SIZE_UNKNOWN) {
		*vs = f->vsize;
		return 0;
	}
	if ((fd = open_msg(mb, seq)) == -1 || file_vsize(fd, vs) == -1)
		return -1;
	add_fact(mb, mb->v[seq - 1].uid, *vs, UC_MTIME_UNKNOWN);
	return 0;
}

int
mailbox_mtime(struct mailbox *mb, uint32_t seq, int64_t *t)
{
	const struct fact *f;
	struct uc_rec r;
	struct stat sb;
	char rel[PATH_LEN];

	if (seq < 1 || seq > mb->n) {
		errno = ENOENT;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if (uidcache_by_uid(mb->uc, mb->v[seq - 1].uid, &r) &&
	    r.mtime != UC_MTIME_UNKNOWN) {
		*t = r.mtime;
		return 0;
	}
	if ((f = find_fact(mb, mb->v[seq - 1].uid)) != NULL &&
	    f->mtime != UC_MTIME_UNKNOWN) {
		*t = f->mtime;
		return 0;
	}
	if (mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1)
		return -1;
	if (fstatat(mb->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT ||
		    mailbox_relocate(mb, seq, rel, sizeof(rel)) == -1 ||
		    fstatat(mb->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == -1)
			return -1;
	}
	*t = (int64_t)sb.st_mtim.tv_sec;
	add_fact(mb, mb->v[seq - 1].uid, MD_SIZE_UNKNOWN, *t);
	return 0;
}

/* Remember computed sizes and dates in the cache: one locked commit. */
static void
facts_flush(struct uidcache *uc, const char *dir, uint32_t uv,
    const struct fact *facts, size_t n)
{
	struct uc_rec r;
	size_t i;

	if (n == 0 || uidcache_lock(uc) == -1)
		return;
	if (uidcache_uidvalidity(uc) != uv) {
		/* learned under another numbering: worthless now */
		uidcache_unlock(uc);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct fact *f = &facts[i];

		if (!uidcache_by_uid(uc, f->uid, &r))
			continue;
		(void)uidcache_set_facts(uc, f->uid,
		    f->vsize != MD_SIZE_UNKNOWN ? f->vsize : r.vsize,
		    f->mtime != UC_MTIME_UNKNOWN ? f->mtime : r.mtime);
	}
	if (uidcache_commit(uc) == -1)
		log_warn("%s: cannot remember message sizes", dir);
	uidcache_unlock(uc);
}

void
mailbox_note_mtime(struct mailbox *mb, uint32_t seq, int64_t t)
{
	if (seq >= 1 && seq <= mb->n && t != INT64_MIN)
		add_fact(mb, mb->v[seq - 1].uid, MD_SIZE_UNKNOWN, t);
}

void
mailbox_flush_facts(struct mailbox *mb)
{
	if (mb->nfacts == 0 || mb->uc == NULL)
		return;
	if (mb->stale_uv == 0)
		facts_flush(mb->uc, mb->dir, mb->uidvalidity, mb->facts,
		    mb->nfacts);
	mb->nfacts = 0;
}

/* ---- changes ---------------------------------------------------------- */

int
mailbox_keyword(struct mailbox *mb, const char *name)
{
	int k = keywords_find(&mb->kw, name);

	if (k >= 0)
		return k;
	/* the folder lock keeps two sessions from taking the same letter */
	if (mb_lock(mb) == -1)
		return -1;
	if (keywords_refresh(mb, 0))
		mb->kw_changed = 1;
	k = keywords_add(mb->dir, &mb->kw, name);
	uidcache_unlock(mb->uc);
	return k;
}

struct change {
	uint32_t	seq;
	unsigned	flags;
	uint32_t	kw;
	char		info[MDNAME_MAX + 1];
};

static unsigned
apply_op(unsigned cur, int op, unsigned val)
{
	if (op > 0)
		return cur | val;
	if (op < 0)
		return cur & ~val;
	return val;
}

/* The letters this folder has names for: a STORE that replaces the
 * keywords replaces only these, and keeps letters another program set
 * that nobody has named (they are not ours to drop). */
static uint32_t
named_keywords(const struct mailbox *mb)
{
	uint32_t mask = 0;
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++)
		if (mb->kw.name[i] != NULL)
			mask |= 1U << i;
	return mask;
}

/*
 * Change the flags of one message: rename its file, starting from its
 * name on disk now (another program may have changed the flags since the
 * view last looked).  1 and *ch filled if the name changed, 0 and *ch
 * filled if it already had those flags, 2 if the message is gone, -1
 * (errno) if it could not be done: ENAMETOOLONG when the name cannot
 * hold the flag letters.
 */
static int
store_one(struct mailbox *mb, uint32_t seq, int op, unsigned flags,
    uint32_t kw, struct change *ch)
{
	char from[PATH_LEN], to[PATH_LEN], name[MDNAME_MAX + 1];
	uint32_t named = named_keywords(mb);
	struct uc_rec r;
	struct mdname md;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (!view_rec(mb, seq, &r))
			return errno == ESTALE ? -1 : 2;
		if (pathf(name, sizeof(name), "%s%s%s", r.base, r.info, "")
		    == -1 || mdname_parse(name, &md) == -1)
			return -1;
		md.flags = apply_op(md.flags, op, flags & MF_ALL);
		if (op == 0)
			md.keywords = (kw & named) | (md.keywords & ~named);
		else
			md.keywords = apply_op(md.keywords, op, kw);
		if (mdname_build(to + 4, sizeof(to) - 4, r.base,
		    strlen(r.base), md.flags, md.keywords, md.other) == -1) {
			log_warnx("%s: cannot store flags on %s: the name "
			    "cannot hold them within %d bytes", mb->dir, name,
			    MDNAME_MAX);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(to, "cur/", 4);
		if (pathf(from, sizeof(from), "%s/%s%s",
		    r.in_new ? "new" : "cur", name, "") == -1)
			return -1;
		ch->seq = seq;
		ch->flags = md.flags;
		ch->kw = md.keywords;
		/* cannot be cut: names are at most MDNAME_MAX */
		(void)pathf(ch->info, sizeof(ch->info), "%s%s%s",
		    to + 4 + strlen(r.base), "", "");
		if (strcmp(from, to) == 0) {
			/* already so, if the file still has that name */
			if (faccessat(mb->dirfd, from, F_OK,
			    AT_SYMLINK_NOFOLLOW) == 0)
				return 0;
			if (mailbox_relocate(mb, seq, from, sizeof(from)) ==
			    -1)
				return errno == ENOENT ? 2 : -1;
			continue;
		}
		if (md_rename(mb->dirfd, from, mb->dirfd, to) == 0)
			return 1;
		if (errno == EEXIST) {
			/* another file holds the name (a broken copy): a
			 * sync gives it a base of its own, then try again */
			if (disk_sync(mb, 1) == -1)
				return -1;
			continue;
		}
		if (errno != ENOENT) {
			log_warn("%s: cannot rename %s", mb->dir, from);
			return -1;
		}
		/* renamed or expunged behind our back: look again */
		if (mailbox_relocate(mb, seq, from, sizeof(from)) == -1)
			return errno == ENOENT ? 2 : -1;
	}
	log_warnx("%s: cannot store flags on message %u: its file keeps "
	    "changing or another file holds its new name", mb->dir,
	    mb->v[seq - 1].uid);
	errno = EAGAIN;
	return -1;
}

int
mailbox_store(struct mailbox *mb, const uint32_t *seqs, size_t n, int op,
    unsigned flags, uint32_t kw, void (*changed)(void *, uint32_t),
    void *arg)
{
	struct change *ch, one;
	size_t i, nch = 0;
	int ret = 0, e = 0, r, recorded = 0;
	uint32_t seq;

	if (mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if ((ch = reallocarray(NULL, n + 1, sizeof(*ch))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		seq = seqs[i];
		if (seq < 1 || seq > mb->n || (mb->v[seq - 1].state & VM_GONE))
			continue;
		r = store_one(mb, seq, op, flags, kw, &one);
		if (r == 1) {
			ch[nch++] = one;
			continue;
		}
		if (r == 2)
			continue;
		if (r == -1) {
			if (errno == ESTALE) {
				free(ch);
				return -1;
			}
			ret = -1;
			e = errno;
			continue;
		}
		/* the name on disk already says so; the view may be behind */
		if (mb->v[seq - 1].flags != (one.flags & MF_ALL) ||
		    mb->v[seq - 1].kw != one.kw) {
			mb->v[seq - 1].flags = (uint8_t)(one.flags & MF_ALL);
			mb->v[seq - 1].kw = one.kw;
			if (changed != NULL)
				changed(arg, seq);
		}
	}
	if (nch > 0) {
		/* the files are renamed: that is the change.  The cache
		 * follows; if it cannot (a full disk), the next sync that
		 * can records the new names, and the session notes them
		 * meanwhile */
		if (mb_lock(mb) == -1) {
			if (errno == ESTALE) {
				free(ch);
				return -1;
			}
			log_warn("%s: cannot record flag changes", mb->dir);
		} else {
			for (i = 0; i < nch; i++) {
				uint32_t uid = mb->v[ch[i].seq - 1].uid;

				if (uidcache_update(mb->uc, uid, ch[i].flags,
				    ch[i].kw, ch[i].info, 0) == -1 &&
				    errno != ENOENT)
					log_warn("%s: cannot record the flags "
					    "of UID %u", mb->dir, uid);
			}
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record flag changes "
				    "(the next sync does)", mb->dir);
			else
				recorded = 1;
			uidcache_unlock(mb->uc);
		}
		for (i = 0; i < nch; i++) {
			struct vmsg *v = &mb->v[ch[i].seq - 1];

			if (!recorded)
				unrec_note(mb, v->uid, ch[i].flags, ch[i].kw,
				    ch[i].info);
			v->flags = (uint8_t)(ch[i].flags & MF_ALL);
			v->kw = ch[i].kw;
			if (changed != NULL)
				changed(arg, ch[i].seq);
		}
		/* the view already shows our own changes */
		mb->seen_changes = uidcache_changes(mb->uc);
	}
	free(ch);
	if (ret == -1)
		errno = e;
	return ret;
}

/* Take uids (ascending, n of them) out of the view, as files this
 * session removed, and report them; the view then never takes them back
 * (see uid_floor), whatever the cache could record. */
static void
view_drop(struct mailbox *mb, const uint32_t *uids, size_t n,
    const struct mailbox_events *ev)
{
	size_t i, out = 0, k = 0, nrecent = 0;
	uint32_t *seqs, *su;
	size_t nseq = 0;

	if (n == 0)
		return;
	if ((seqs = reallocarray(NULL, n, sizeof(*seqs))) == NULL)
		return;		/* view_update() reports them instead */
	if ((su = reallocarray(NULL, n, sizeof(*su))) == NULL) {
		free(seqs);
		return;
	}
	for (i = 0; i < mb->n; i++) {
		while (k < n && uids[k] < mb->v[i].uid)
			k++;
		if (k < n && uids[k] == mb->v[i].uid) {
			su[nseq] = uids[k];
			seqs[nseq++] = (uint32_t)(i + 1);
			if (mb->v[i].state & VM_GONE)
				mb->ngone--;
			continue;
		}
		mb->v[out++] = mb->v[i];
	}
	mb->n = out;
	for (i = nseq; ev != NULL && ev->expunge != NULL && i > 0; i--)
		ev->expunge(ev->arg, seqs[i - 1], su[i - 1]);
	for (i = 0; i < mb->n; i++)
		if (mb->v[i].state & VM_RECENT)
			nrecent++;
	if (nrecent != mb->nrecent) {
		mb->nrecent = (uint32_t)nrecent;
		if (ev != NULL && ev->recent != NULL)
			ev->recent(ev->arg, mb->nrecent);
	}
	free(seqs);
	free(su);
}

/* Whether the file name at rel ("cur/<name>") carries \Deleted. */
static int
name_deleted(const char *rel)
{
	const char *slash = strchr(rel, '/');
	struct mdname md;

	return slash != NULL && mdname_parse(slash + 1, &md) == 0 &&
	    (md.flags & MF_DELETED);
}

/*
 * Remove the file of the message at seq if it is (still) \Deleted,
 * following a rename by another program.  What counts is the name of the
 * file as it is now: the cache knows when another session took \Deleted
 * away, but not a \Deleted this session set when the cache could not
 * record it (a full disk), which only the view and the name know.  So a
 * message that either calls \Deleted has its file's name looked at.
 * 1 removed, 0 not (no longer \Deleted, or already gone), -1 (errno).
 */
static int
expunge_one(struct mailbox *mb, uint32_t seq)
{
	char rel[PATH_LEN];
	struct uc_rec r;
	int tries;

	if (!view_rec(mb, seq, &r))
		return errno == ESTALE ? -1 : 0;
	if (!((r.flags | mb->v[seq - 1].flags) & MF_DELETED) ||
	    relpath_of(&r, rel, sizeof(rel)) == -1)
		return 0;
	for (tries = 0; tries < 3; tries++) {
		if (!name_deleted(rel)) {
			/* the file is there without \Deleted: it stays */
			if (faccessat(mb->dirfd, rel, F_OK,
			    AT_SYMLINK_NOFOLLOW) == 0)
				return 0;
		} else if (unlinkat(mb->dirfd, rel, 0) == 0)
			return 1;
		if (errno != ENOENT) {
			log_warn("%s: cannot remove %s", mb->dir, rel);
			return -1;
		}
		/* renamed meanwhile (its flags may have changed too), or
		 * removed by someone else: look again */
		if (mailbox_relocate(mb, seq, rel, sizeof(rel)) == -1)
			return errno == ENOENT ? 0 : -1;
	}
	return 0;
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
    const struct mailbox_events *ev)
{
	uint32_t *gone;
	size_t i, ngone = 0, lo = 0;
	int ret = 0, e = 0, r;

	if (mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (disk_sync(mb, 0) == -1)
		return -1;
	if ((gone = reallocarray(NULL, mb->n + 1, sizeof(*gone))) == NULL)
		return -1;
	for (i = 0; i < mb->n; i++) {
		uint32_t uid = mb->v[i].uid;

		if (uids != NULL) {
			while (lo < nuids && uids[lo] < uid)
				lo++;
			if (lo == nuids || uids[lo] != uid)
				continue;
		}
		/* the cache, not the view, says whether it is \Deleted:
		 * another session may have changed that */
		r = expunge_one(mb, (uint32_t)(i + 1));
		if (r == 1)
			gone[ngone++] = uid;
		else if (r == -1) {
			if (errno == ESTALE) {
				free(gone);
				return -1;
			}
			ret = -1;
			e = errno;
		}
	}
	if (ngone > 0) {
		if (mb_lock(mb) == 0) {
			for (i = 0; i < ngone; i++)
				(void)uidcache_expunge(mb->uc, gone[i]);
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record expunged messages "
				    "(the next sync does)", mb->dir);
			uidcache_unlock(mb->uc);
		} else if (errno != ESTALE)
			log_warn("%s: cannot record expunged messages (the "
			    "next sync does)", mb->dir);
	}
	/* the files are gone whatever the cache could record */
	view_drop(mb, gone, ngone, ev);
	free(gone);
	if (mb->stale_uv == 0 && view_update(mb, 1, ev) == -1 && ret == 0) {
		ret = -1;
		e = errno;
	}
	if (ret == -1)
		errno = e;
	return ret;
}

/* ---- delivery ------------------------------------------------------------ */

/*
 * New messages (APPEND) reach a folder in two steps.  While the client
 * sends one, its bytes go straight into a new file in tmp/, so memory
 * does not grow with the message, and nothing in tmp/ is a message to
 * anyone.  Only when the command is complete are the files placed, all
 * together, under the folder's lock: each is synced and moved into cur/
 * under its final name, cur/ is synced, and one cache commit gives them
 * their UIDs.  A sync in another session needs that lock to give a file
 * a UID, so none of them gets one before the commit; if any step fails,
 * every file placed is taken out again before the lock is let go, and
 * the client was shown none of them: all or nothing, as MULTIAPPEND asks.
 */

struct newmsg {
	char		 tmprel[MDNAME_MAX + 5];	/* "tmp/<name>" */
	char		 base[MDNAME_MAX + 1];	/* in cur/, once placed */
	char		 name[MDNAME_MAX + 1];
	uint64_t	 size;
	uint64_t	 written;
	uint64_t	 lfs;		/* LFs without a CR before them */
	int64_t		 mtime;
	unsigned	 flags;
	uint32_t	 kw;
	int		 placed;	/* in cur/ under name */
};

struct mailbox_delivery {
	char		*dir;
	int		 dirfd;
	int		 fd;		/* the message being written, or -1 */
	char		 prev;		/* its last byte so far */
	struct newmsg	*m;
	size_t		 n;
	int		 committed;
};

static int
fsync_dir(int dirfd, const char *sub)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	int r, e;

	if (fd == -1)
		return -1;
	r = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Place tmp/<tmpname> at cur/<name> without ever replacing a file. */
static int
place(int dirfd, const char *tmprel, const char *currel)
{
	return md_rename(dirfd, tmprel, dirfd, currel);
}

/* The LFs in p[0..n) that no CR precedes (RFC822.SIZE counts CRLF);
 * *prev is the byte before p, and becomes p's last. */
static uint64_t
bare_lfs(const char *p, size_t n, char *prev)
{
	uint64_t lfs = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i > 0 ? p[i - 1] : *prev) != '\r')
			lfs++;
	}
	if (n > 0)
		*prev = p[n - 1];
	return lfs;
}

/* Copy size bytes from in to out, counting LFs that need a CR.  0 or -1
 * (errno). */
static int
copy_out(int out, int in, uint64_t size, uint64_t *lfs_r)
{
	char buf[65536], prev = 0;
	uint64_t left = size, lfs = 0;
	ssize_t n;

	while (left > 0) {
		n = read(in, buf, left > sizeof(buf) ? sizeof(buf) :
		    (size_t)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		lfs += bare_lfs(buf, (size_t)n, &prev);
		if (safefile_write(out, buf, (size_t)n) == -1)
			return -1;
		left -= (uint64_t)n;
	}
	*lfs_r = lfs;
	return 0;
}

/* A unique base with sizes: "<unique>,S=<size>,W=<vsize>". */
static int
new_base(char *out, size_t len, uint64_t size, uint64_t vsize)
{
	return mdname_unique(out, len, size, vsize);
}

/* Give a file this process placed in cur/ (name, whose base is its
 * first baselen bytes) its UID, under the lock.  A sync in another
 * session may have given it one already (COPY places files without the
 * lock): then that is its UID.  0 with errno on failure. */
static uint32_t
add_placed(struct uidcache *uc, const char *name, size_t baselen,
    unsigned flags, uint32_t kw, uint64_t vsize, int64_t mtime)
{
	struct uc_rec r;
	uint32_t uid;

	uid = uidcache_add(uc, name, baselen, name + baselen, 0, flags, kw,
	    vsize, mtime);
	if (uid == 0 && errno == EEXIST &&
	    uidcache_by_base(uc, name, baselen, &r))
		uid = r.uid;
	return uid;
}

int
mailbox_deliver_open(const char *dir, struct mailbox_delivery **dp)
{
	struct mailbox_delivery *d;
	int e;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	d->fd = -1;
	if ((d->dir = strdup(dir)) == NULL ||
	    (d->dirfd = folder_open(dir)) == -1) {
		e = errno;
		free(d->dir);
		free(d);
		errno = e;
		return -1;
	}
	*dp = d;
	return 0;
}

size_t
mailbox_deliver_count(const struct mailbox_delivery *d)
{
	return d->n;
}

/* The message being written is complete: close its file (synced when
 * the command is, see deliver_sync). */
static int
deliver_close(struct mailbox_delivery *d)
{
	int fd = d->fd;

	d->fd = -1;
	return close(fd);
}

int
mailbox_deliver_add(struct mailbox_delivery *d, uint64_t size)
{
	struct newmsg *m, *nm;
	char base[MDNAME_MAX + 1];

	if (d->fd != -1 || d->committed) {
		errno = EINVAL;
		return -1;
	}
	if ((nm = reallocarray(d->m, d->n + 1, sizeof(*nm))) == NULL)
		return -1;
	d->m = nm;
	m = &d->m[d->n];
	memset(m, 0, sizeof(*m));
	m->size = size;
	if (new_base(base, sizeof(base), size, MD_SIZE_UNKNOWN) == -1 ||
	    pathf(m->tmprel, sizeof(m->tmprel), "tmp/%s%s%s", base, "", "")
	    == -1)
		return -1;
	d->fd = openat(d->dirfd, m->tmprel, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->fd == -1)
		return -1;
	d->n++;
	d->prev = 0;
	if (size == 0 && deliver_close(d) == -1)
		return -1;
	return 0;
}

int
mailbox_deliver_write(struct mailbox_delivery *d, const void *p, size_t n)
{
	struct newmsg *m = d->n > 0 ? &d->m[d->n - 1] : NULL;

	if (d->fd == -1 || m == NULL || n > m->size - m->written) {
		errno = EINVAL;
		return -1;
	}
	m->lfs += bare_lfs(p, n, &d->prev);
	if (safefile_write(d->fd, p, n) == -1)
		return -1;
	m->written += n;
	if (m->written == m->size && deliver_close(d) == -1)
		return -1;
	return 0;
}

/* Make one complete message durable in tmp/ with its INTERNALDATE. */
static int
deliver_sync(struct mailbox_delivery *d, struct newmsg *m)
{
	struct timespec ts[2];
	struct stat sb;
	int fd, e;

	fd = openat(d->dirfd, m->tmprel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (m->mtime >= 0) {
		ts[0].tv_sec = ts[1].tv_sec = m->mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(fd, ts) == -1)
			goto fail;
	} else {
		if (fstat(fd, &sb) == -1)
			goto fail;
		m->mtime = (int64_t)sb.st_mtim.tv_sec;
	}
	if (fsync(fd) == -1)
		goto fail;
	return close(fd);
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Give the keywords of message i letters of the folder (its lock is
 * held).  A keyword for which no letter is left is not stored, as a
 * flag the folder cannot hold; any other failure fails the delivery. */
static int
deliver_keywords(struct mailbox_delivery *d, struct keywords *kw,
    const struct mailbox_newmsg *meta, struct newmsg *m)
{
	size_t k;
	int letter;

	for (k = 0; k < meta->nkw; k++) {
		if ((letter = keywords_add(d->dir, kw, meta->kw[k])) >= 0)
			m->kw |= 1U << letter;
		else if (errno != EMLINK)
			return -1;
	}
	return 0;
}

/* Move message m from tmp/ into cur/ under its final name. */
static int
deliver_place(struct mailbox_delivery *d, struct newmsg *m)
{
	char currel[MDNAME_MAX + 5];

	if (new_base(m->base, sizeof(m->base), m->size, m->size + m->lfs) ==
	    -1 || mdname_build(m->name, sizeof(m->name), m->base,
	    strlen(m->base), m->flags, m->kw, "") == -1 ||
	    pathf(currel, sizeof(currel), "cur/%s%s%s", m->name, "", "") == -1)
		return -1;
	if (place(d->dirfd, m->tmprel, currel) == -1)
		return -1;
	m->placed = 1;
	return 0;
}

/* Take every placed message back out of cur/ (the lock is still held,
 * so nobody gave them UIDs). */
static void
deliver_unplace(struct mailbox_delivery *d)
{
	char currel[MDNAME_MAX + 5];
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (!d->m[i].placed)
			continue;
		if (pathf(currel, sizeof(currel), "cur/%s%s%s", d->m[i].name,
		    "", "") == 0 && unlinkat(d->dirfd, currel, 0) == -1 &&
		    errno != ENOENT)
			log_warn("%s: a message of a failed APPEND is left in "
			    "%s (remove it by hand)", d->dir, currel);
		d->m[i].placed = 0;
	}
}

int
mailbox_deliver_commit(struct mailbox_delivery *d,
    const struct mailbox_newmsg *meta, uint32_t *uids_r,
    uint32_t *uidvalidity_r)
{
	struct uidcache *uc = NULL;
	struct keywords kw;
	char err[256];
	size_t i;
	uint32_t uid;
	int e, locked = 0;

	memset(&kw, 0, sizeof(kw));
	if (d->fd != -1 || d->committed || d->n == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		if (d->m[i].written != d->m[i].size) {
			errno = EINVAL;
			return -1;
		}
		d->m[i].flags = meta[i].flags;
		d->m[i].mtime = meta[i].mtime;
		if (deliver_sync(d, &d->m[i]) == -1)
			return -1;
	}
	if (uidcache_open(d->dir, &uc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", d->dir, err);
		return -1;
	}
	if (uidcache_lock(uc) == -1)
		goto fail;
	locked = 1;
	if (keywords_load(d->dir, &kw) == -1)
		log_warn("%s: cannot read %s", d->dir, KEYWORDS_FILE);
	for (i = 0; i < d->n; i++)
		if (deliver_keywords(d, &kw, &meta[i], &d->m[i]) == -1 ||
		    deliver_place(d, &d->m[i]) == -1)
			goto fail;
	if (fsync_dir(d->dirfd, "cur") == -1)
		goto fail;
	for (i = 0; i < d->n; i++) {
		uid = add_placed(uc, d->m[i].name, strlen(d->m[i].base),
		    d->m[i].flags, d->m[i].kw, d->m[i].size + d->m[i].lfs,
		    d->m[i].mtime);
		if (uid == 0)
			goto fail;
		uids_r[i] = uid;
	}
	if (uidcache_commit(uc) == -1)
		goto fail;
	*uidvalidity_r = uidcache_uidvalidity(uc);
	d->committed = 1;
	uidcache_unlock(uc);
	uidcache_close(uc);
	keywords_free(&kw);
	return 0;
fail:
	e = errno;
	/* a message without a durable UID would come back as a duplicate
	 * when the client tries again: none of them stays */
	deliver_unplace(d);
	if (locked)
		uidcache_unlock(uc);
	uidcache_close(uc);
	keywords_free(&kw);
	errno = e;
	return -1;
}

void
mailbox_deliver_free(struct mailbox_delivery *d)
{
	size_t i;
	int e = errno;

	if (d == NULL)
		return;
	if (d->fd != -1)
		close(d->fd);
	for (i = 0; i < d->n && !d->committed; i++) {
		if (d->m[i].placed)
			continue;
		if (unlinkat(d->dirfd, d->m[i].tmprel, 0) == -1 &&
		    errno != ENOENT)
			log_warn("%s: cannot remove %s", d->dir,
			    d->m[i].tmprel);
	}
	close(d->dirfd);
	free(d->m);
	free(d->dir);
	free(d);
	errno = e;
}

/* ---- copy and move --------------------------------------------------- */

struct placed {
	char		name[MDNAME_MAX + 1];	/* in dst cur/ */
	size_t		baselen;
	unsigned	flags;
	uint32_t	kw;		/* letters of the target */
	uint64_t	vsize;
	int64_t		mtime;
	uint32_t	srcuid;
	uint32_t	srcseq;
	char		srcrel[PATH_LEN];	/* where it is in the source */
};

/* Copy a file's bytes into dst tmp/ and place it at cur/name. */
static int
byte_copy(int srcdir, const char *srcrel, int dstdir, const char *name)
{
	char tmprel[PATH_LEN], currel[PATH_LEN];
	struct stat sb;
	uint64_t lfs;
	int in, out, e;

	if ((in = openat(srcdir, srcrel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC))
	    == -1)
		return -1;
	if (fstat(in, &sb) == -1 ||
	    pathf(tmprel, sizeof(tmprel), "tmp/%s%s%s", name, "", "") == -1 ||
	    pathf(currel, sizeof(currel), "cur/%s%s%s", name, "", "") == -1) {
		close(in);
		return -1;
	}
	out = openat(dstdir, tmprel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (out == -1) {
		close(in);
		return -1;
	}
	if (copy_out(out, in, (uint64_t)sb.st_size, &lfs) == -1 ||
	    futimens(out, (struct timespec[2]){ sb.st_mtim, sb.st_mtim })
	    == -1 || fsync(out) == -1 || close(out) == -1 ||
	    place(dstdir, tmprel, currel) == -1) {
		e = errno;
		(void)unlinkat(dstdir, tmprel, 0);
		close(in);
		errno = e;
		return -1;
	}
	close(in);
	return 0;
}

/* Map keyword letters kw of this folder to letters of the target folder
 * (whose lock the caller holds) in *out.  A keyword the target has no
 * letter left for is not carried, as a flag it cannot hold; a keyword
 * file that cannot be written fails the copy (0 or -1, errno). */
static int
map_keywords(const struct keywords *from, const char *dstdir,
    struct keywords *to, uint32_t kw, uint32_t *out)
{
	int i, k;

	*out = 0;
	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (!(kw & (1U << i)) || from->name[i] == NULL)
			continue;
		if ((k = keywords_add(dstdir, to, from->name[i])) >= 0)
			*out |= 1U << k;
		else if (errno != EMLINK)
			return -1;
	}
	return 0;
}

static int
same_dir(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Make the copy's new base name keep its source's EMAILID (RFC 8474
 * 5.1 asks the same EMAILID after COPY and MOVE). */
static int
copy_emailid(const struct uc_rec *src, char *base, size_t size)
{
	char id[OBJECTID_LEN + 1];

	objectid_email(src->base, id);
	return objectid_carry(base, size, id);
}

/*
 * What a copy starts from: each source message's flags, keywords (as
 * letters of the target), sizes and a new name in the target.  The
 * target's lock is held only to give keywords letters there.
 */
static int
copy_prepare(struct mailbox *mb, const uint32_t *seqs, size_t n,
    const char *dstdir, struct uidcache *duc, int self, struct placed *pl)
{
	char src[MDNAME_MAX + 1], rel[PATH_LEN], base[MDNAME_MAX + 1];
	struct keywords dkw;
	struct uc_rec r;
	struct mdname md;
	size_t i;
	int locked = 0, e;

	memset(&dkw, 0, sizeof(dkw));
	for (i = 0; i < n; i++) {
		uint32_t seq = seqs[i];

		if (seq < 1 || seq > mb->n || (mb->v[seq - 1].state & VM_GONE) ||
		    !view_rec(mb, seq, &r)) {
			if (mb->stale_uv == 0)
				errno = ESTALE;	/* expunged meanwhile */
			goto fail;
		}
		if (relpath_of(&r, rel, sizeof(rel)) == -1 ||
		    pathf(src, sizeof(src), "%s%s%s", r.base, r.info, "") ==
		    -1 || mdname_parse(src, &md) == -1)
			goto fail;
		if (md.size == MD_SIZE_UNKNOWN) {
			struct stat sb;

			if (fstatat(mb->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) ==
			    0)
				md.size = (uint64_t)sb.st_size;
		}
		pl[i].vsize = r.vsize != MD_SIZE_UNKNOWN ? r.vsize : md.vsize;
		pl[i].mtime = r.mtime;
		/* the flags the client was told: the view has this session's
		 * own changes even where the cache could not record them */
		pl[i].flags = mb->v[seq - 1].flags;
		pl[i].srcuid = r.uid;
		pl[i].kw = mb->v[seq - 1].kw;
		if (!self && pl[i].kw != 0) {
			/* the target's lock covers its keyword file */
			if (!locked) {
				if (uidcache_lock(duc) == -1)
					goto fail;
				locked = 1;
				if (keywords_load(dstdir, &dkw) == -1)
					log_warn("%s: cannot read %s", dstdir,
					    KEYWORDS_FILE);
			}
			if (map_keywords(&mb->kw, dstdir, &dkw,
			    mb->v[seq - 1].kw, &pl[i].kw) == -1)
				goto fail;
		}
		if (mdname_unique(base, sizeof(base), md.size,
		    pl[i].vsize) == -1 ||
		    copy_emailid(&r, base, sizeof(base)) == -1 ||
		    mdname_build(pl[i].name, sizeof(pl[i].name), base,
		    strlen(base), pl[i].flags, pl[i].kw, md.other) == -1)
			goto fail;
		pl[i].baselen = strlen(base);
	}
	if (locked)
		uidcache_unlock(duc);
	keywords_free(&dkw);
	return 0;
fail:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	keywords_free(&dkw);
	errno = e;
	return -1;
}

/* Put the source message of pl (at seq) into the target's cur/: a hard
 * link (for MOVE too: the source goes only once the target has its UIDs,
 * so a MOVE that fails half way leaves every source where it was, UID
 * and all); bytes only across file systems.  No lock is held: the name
 * is new and unique. */
static int
copy_place(struct mailbox *mb, uint32_t seq, int dfd, struct placed *pl)
{
	char currel[PATH_LEN];
	struct uc_rec r;
	int tries;

	if (pathf(currel, sizeof(currel), "cur/%s%s%s", pl->name, "", "")
	    == -1)
		return -1;
	if (!view_rec(mb, seq, &r)) {
		errno = ESTALE;	/* expunged meanwhile */
		return -1;
	}
	if (relpath_of(&r, pl->srcrel, sizeof(pl->srcrel)) == -1)
		return -1;
	pl->srcseq = seq;
	for (tries = 0; tries < 3; tries++) {
		if (linkat(mb->dirfd, pl->srcrel, dfd, currel, 0) == 0)
			return 0;
		if (errno == EXDEV || errno == EPERM || errno == EMLINK ||
		    errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
			return byte_copy(mb->dirfd, pl->srcrel, dfd, pl->name);
		if (errno != ENOENT)
			return -1;
		/* renamed by another program: find it again (this may
		 * lock this folder; no other lock is held) */
		if (mailbox_relocate(mb, seq, pl->srcrel, sizeof(pl->srcrel))
		    == -1) {
			if (errno == ENOENT)
				errno = ESTALE;
			return -1;
		}
	}
	errno = EAGAIN;
	return -1;
}

/* Remove a moved message's source file, following a rename by another
 * program (its flags changed meanwhile).  0, or -1: then it stays in this
 * folder too (a copy, never a loss). */
static int
unlink_source(struct mailbox *mb, struct placed *pl)
{
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (unlinkat(mb->dirfd, pl->srcrel, 0) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		if (mailbox_relocate(mb, pl->srcseq, pl->srcrel,
		    sizeof(pl->srcrel)) == -1)
			return errno == ENOENT ? 0 : -1;
	}
	return -1;
}

/*
 * COPY and MOVE, in steps that never hold two folders' locks at once
 * (so two sessions copying in opposite directions cannot deadlock, and a
 * copy into the selected folder cannot lock it twice): the target's keyword
 * letters under its lock; the files placed under new unique names with
 * no lock; the target's UIDs under its lock; for a move, the sources
 * expunged under this folder's lock.
 */
int
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
    const char *dstdir, int move, uint32_t *uids_r, uint32_t *uidvalidity_r,
    const struct mailbox_events *ev)
{
	char currel[PATH_LEN], err[256];
	struct uidcache *duc = NULL;
	struct placed *pl = NULL;
	size_t i, npl = 0;
	int dfd, e, locked = 0, self;
	uint32_t uid;

	(void)ev;
	if (move && mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if ((dfd = folder_open(dstdir)) == -1)
		return -1;
	self = same_dir(mb->dirfd, dfd);
	if ((pl = calloc(n + 1, sizeof(*pl))) == NULL)
		goto fail;
	if (self)
		duc = mb->uc;
	else if (uidcache_open(dstdir, &duc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", dstdir, err);
		goto fail;
	}
	if (copy_prepare(mb, seqs, n, dstdir, duc, self, pl) == -1)
		goto fail;
	for (npl = 0; npl < n; npl++)
		if (copy_place(mb, seqs[npl], dfd, &pl[npl]) == -1)
			goto undo;
	if (fsync_dir(dfd, "cur") == -1)
		goto undo;
	if (self ? mb_lock(mb) == -1 : uidcache_lock(duc) == -1)
		goto undo;
	locked = 1;
	for (i = 0; i < npl; i++) {
		uid = add_placed(duc, pl[i].name, pl[i].baselen, pl[i].flags,
		    pl[i].kw, pl[i].vsize, pl[i].mtime);
		if (uid == 0)
			goto undo;
		uids_r[i] = uid;
	}
	if (uidcache_commit(duc) == -1)
		goto undo;
	*uidvalidity_r = uidcache_uidvalidity(duc);
	uidcache_unlock(duc);
	locked = 0;

	if (move) {
		/* the sources go now that the target has the messages;
		 * expunged in this folder's cache, and reported at the
		 * caller's next sync */
		for (i = 0; i < npl; i++)
			if (unlink_source(mb, &pl[i]) == -1) {
				log_warn("%s: MOVE left %s in place too",
				    mb->dir, pl[i].srcrel);
				pl[i].srcuid = 0;
			}
		if (mb_lock(mb) == 0) {
			for (i = 0; i < npl; i++)
				if (pl[i].srcuid != 0)
					(void)uidcache_expunge(mb->uc,
					    pl[i].srcuid);
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record moved messages "
				    "(the next sync does)", mb->dir);
			uidcache_unlock(mb->uc);
		}
	}
	if (!self)
		uidcache_close(duc);
	free(pl);
	close(dfd);
	return 0;

undo:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	locked = 0;
	/* the sources were never touched: take the new names back out */
	for (i = 0; i < npl; i++)
		if (pathf(currel, sizeof(currel), "cur/%s%s%s", pl[i].name, "",
		    "") == 0)
			(void)unlinkat(dfd, currel, 0);
	errno = e;
fail:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	if (duc != NULL && !self)
		uidcache_close(duc);
	free(pl);
	close(dfd);
	errno = e;
	return -1;
}

/* ---- status ---------------------------------------------------------------- */

/* RFC822.SIZE of the message with uid, from its file, looked for again
 * (a forced sync) if another program renamed it.  0, or -1 if gone. */
static int
status_vsize(struct dsync *ds, uint32_t uid, uint64_t *vs)
{
	char rel[PATH_LEN];
	struct uc_rec r;
	int fd;

	if (!uidcache_by_uid(ds->uc, uid, &r) ||
	    relpath_of(&r, rel, sizeof(rel)) == -1)
		return -1;
	fd = openat(ds->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && dir_sync(ds, 1) == 0 &&
	    uidcache_by_uid(ds->uc, uid, &r) &&
	    relpath_of(&r, rel, sizeof(rel)) == 0)
		fd = openat(ds->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd == -1 ? -1 : file_vsize(fd, vs);
}

/* The sum of RFC822.SIZE: from the cache, and from the files of the
 * messages whose size it does not know yet (then remembered). */
static uint64_t
status_size(struct dsync *ds)
{
	struct uc_rec r;
	struct fact *f = NULL;
	uint32_t *unknown = NULL;
	size_t i, n, nunknown = 0, nf = 0;
	uint64_t sum = 0, vs;

	n = uidcache_count(ds->uc);
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(ds->uc, i, &r))
			continue;
		if (r.vsize != MD_SIZE_UNKNOWN) {
			sum += r.vsize;
			continue;
		}
		if (unknown == NULL &&
		    (unknown = reallocarray(NULL, n, sizeof(*unknown))) == NULL)
			return sum;
		unknown[nunknown++] = r.uid;
	}
	/* another program may rename a file meanwhile, which a forced sync
	 * finds: go by UID, not by position */
	if (nunknown > 0 &&
	    (f = reallocarray(NULL, nunknown, sizeof(*f))) != NULL)
		for (i = 0; i < nunknown; i++) {
			if (status_vsize(ds, unknown[i], &vs) == -1)
				continue;
			sum += vs;
			f[nf].uid = unknown[i];
			f[nf].vsize = vs;
			f[nf].mtime = UC_MTIME_UNKNOWN;
			nf++;
		}
	facts_flush(ds->uc, ds->dir, uidcache_uidvalidity(ds->uc), f, nf);
	free(f);
	free(unknown);
	return sum;
}

/*
 * STATUS without a view: a read-only sync of the folder with its cache
 * (no new/ moved, no \Recent claimed), then the cache's counters; only
 * SIZE looks at every message.
 */
int
mailbox_status(const char *dir, int want_size, struct mailbox_status *st)
{
	struct dsync ds;
	char err[256];
	int r = -1, e;

	memset(st, 0, sizeof(*st));
	memset(&ds, 0, sizeof(ds));
	ds.dir = dir;
	ds.readonly = 1;
	if ((ds.dirfd = folder_open(dir)) == -1)
		return -1;
	if (uidcache_open(dir, &ds.uc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", dir, err);
		goto out;
	}
	if (dir_sync(&ds, 0) == -1)
		goto out;
	if (uidcache_uidvalidity(ds.uc) == 0) {
		errno = EIO;	/* no cache, and none could be made */
		goto out;
	}
	st->messages = (uint32_t)uidcache_count(ds.uc);
	st->recent = uidcache_count_recent(ds.uc);
	st->uidnext = uidcache_uidnext(ds.uc);
	st->uidvalidity = uidcache_uidvalidity(ds.uc);
	st->unseen = uidcache_count_unseen(ds.uc);
	st->deleted = uidcache_count_deleted(ds.uc);
	st->highestmodseq = uidcache_highestmodseq(ds.uc);
	if (want_size)
		st->size = status_size(&ds);
	r = 0;
out:
	e = errno;
	if (ds.uc != NULL)
		uidcache_close(ds.uc);
	close(ds.dirfd);
	errno = e;
	return r;
}
