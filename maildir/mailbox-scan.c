/*
 * mailbox-scan: listing a folder's cur/ and new/ for the sync (steps 2
 * and 3 of the sync in mailbox-sync.c), and settling what a listing saw
 * twice.
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
 * The scan parses each name once, and keeps the names in one block in
 * sorted order, since every pass after the sort goes through them in
 * that order.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/sorted.h"
#include "maildir/filename.h"
#include "maildir/mailbox-int.h"
#include "maildir/mailbox.h"
#include "maildir/uidcache.h"

/* ---- scanning --------------------------------------------------------- */

#define SCAN_NAMES_MAX	UINT32_MAX	/* entries hold u32 offsets */

/* Where the file system's clock cannot be read (a folder the user cannot
 * write), the local clock stands in for it, this far behind. */
#define CLOCK_MARGIN_NS	(1000000000LL)
#define STAMP_WAITS	20	/* 1 ms each: see mb_stamp_begin() */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
mb_scan_init(struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	buf_init(&sc->names, SCAN_NAMES_MAX);
}

void
mb_scan_free(struct scan *sc)
{
	free(sc->e);
	buf_free(&sc->names);
	mb_scan_init(sc);
}

const char *
mb_ename(const struct scan *sc, const struct entry *e)
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

#define PACK_AHEAD	8	/* entries to prefetch ahead in a gather */

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

		/* after a sort the names are read in no order: ask for the
		 * ones a few entries on while this one is copied */
		if (i + PACK_AHEAD < sc->n)
			__builtin_prefetch(mb_ename(sc, &sc->e[i + PACK_AHEAD]));

		/* cannot fail: the room is reserved */
		(void)buf_add(&nb, mb_ename(sc, e), e->namelen + 1U);
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

int
mb_same_base(const struct scan *sc, const struct entry *x,
    const struct entry *y)
{
	return base_cmp(x, mb_ename(sc, x), y, mb_ename(sc, y)) == 0;
}

static int
entry_cmp(const void *a, const void *b, void *arg)
{
	const struct entry *x = a, *y = b;
	const struct scan *sc = arg;
	const char *xn = mb_ename(sc, x), *yn = mb_ename(sc, y);
	int c = base_cmp(x, xn, y, yn);

	if (c != 0)
		return c;
	/* same base: cur/ before new/, then by name, for a stable order */
	if (x->in_new != y->in_new)
		return x->in_new - y->in_new;
	return strcmp(xn, yn);
}

/*
 * Sorting a large listing.  Nearly every base differs from the others
 * within its first 16 bytes (the seconds and the microseconds or
 * sequence number of the delivery), and those bytes are the entries'
 * keys: a radix sort on the keys orders 100,000 entries in a few passes
 * over small records, where a comparison sort spends most of a first
 * SELECT's own time.  The few runs of equal keys are then put in order by
 * entry_cmp(), so the result is the one the comparison sort gives.
 */
#define RADIX_MIN	1024	/* below this, qsort_r() */

struct rkey {
	uint64_t	 k[2];
	size_t		 i;		/* the entry's index */
};

/* Byte b (0 the least significant) of a record's 128-bit key. */
static unsigned
rbyte(const struct rkey *r, unsigned b)
{
	return b < 8 ? (unsigned)(r->k[1] >> (8 * b)) & 0xff :
	    (unsigned)(r->k[0] >> (8 * (b - 8))) & 0xff;
}

/* Sort sc's entries by key with an LSD radix sort; ties are left in
 * listing order.  0, or -1 when out of memory (nothing changed). */
static int
radix_sort(struct scan *sc)
{
	size_t (*count)[256], i, n = sc->n, sum, c;
	struct rkey *a, *b, *t;
	struct entry *e;
	unsigned d;

	a = reallocarray(NULL, n, sizeof(*a));
	b = reallocarray(NULL, n, sizeof(*b));
	count = calloc(16, sizeof(*count));
	e = reallocarray(NULL, sc->cap > n ? sc->cap : n, sizeof(*e));
	if (a == NULL || b == NULL || count == NULL || e == NULL) {
		free(a);
		free(b);
		free(count);
		free(e);
		return -1;
	}
	for (i = 0; i < n; i++) {
		a[i].k[0] = sc->e[i].key[0];
		a[i].k[1] = sc->e[i].key[1];
		a[i].i = i;
		for (d = 0; d < 16; d++)
			count[d][rbyte(&a[i], d)]++;
	}
	for (d = 0; d < 16; d++) {
		/* a byte every key shares orders nothing */
		if (count[d][rbyte(&a[0], d)] == n)
			continue;
		for (sum = 0, c = 0; c < 256; c++) {
			size_t k = count[d][c];

			count[d][c] = sum;
			sum += k;
		}
		for (i = 0; i < n; i++)
			b[count[d][rbyte(&a[i], d)]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (i = 0; i < n; i++)
		e[i] = sc->e[a[i].i];
	free(sc->e);
	sc->e = e;
	if (sc->cap < n)
		sc->cap = n;
	free(a);
	free(b);
	free(count);
	return 0;
}

void
mb_scan_sort(struct scan *sc)
{
	size_t i, j;

	if (sc->n <= 1)
		return;
	if (sc->n < RADIX_MIN || radix_sort(sc) == -1) {
		qsort_r(sc->e, sc->n, sizeof(sc->e[0]), entry_cmp, sc);
		scan_pack(sc);
		return;
	}
	/* the runs of equal keys are ordered by their names: gather the
	 * names into the keys' order first, so that those comparisons read
	 * neighbouring memory and not a cache miss each */
	scan_pack(sc);
	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n &&
		    sc->e[j].key[0] == sc->e[i].key[0] &&
		    sc->e[j].key[1] == sc->e[i].key[1]; j++)
			;
		if (j - i > 1)
			qsort_r(sc->e + i, j - i, sizeof(sc->e[0]), entry_cmp,
			    sc);
	}
}

int
mb_scan_add(struct scan *sc, const char *name, int in_new, uint64_t ino)
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
			if (mb_scan_add(sc, de->d_name, in_new,
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

struct base_probe {
	const struct scan	*sc;
	struct entry		 e;
	const char		*base;
};

/* how entry i of the listing sorts against the base k: <0, 0 or >0 */
static int
entry_vs_base(const struct base_probe *k, size_t i)
{
	const struct entry *x = &k->sc->e[i];

	return base_cmp(x, mb_ename(k->sc, x), &k->e, k->base);
}

static int
entry_before(const void *arg, size_t i)
{
	return entry_vs_base(arg, i) < 0;
}

ssize_t
mb_scan_find(const struct scan *sc, const char *base, size_t baselen)
{
	struct base_probe k;
	size_t i;

	if (baselen > MDNAME_MAX)
		return -1;
	k.sc = sc;
	k.base = base;
	k.e.baselen = (uint8_t)baselen;
	base_key(base, baselen, k.e.key);
	/* the first of equal bases */
	i = sorted_bound(0, sc->n, entry_before, &k);
	if (i < sc->n && entry_vs_base(&k, i) == 0)
		return (ssize_t)i;
	return -1;
}

int
mb_scan_live(const struct scan *sc, const char *base)
{
	size_t len = strlen(base), i;
	ssize_t k = mb_scan_find(sc, base, len);

	if (k < 0)
		return 0;
	for (i = (size_t)k; i < sc->n && sc->e[i].baselen == len &&
	    memcmp(mb_ename(sc, &sc->e[i]), base, len) == 0; i++)
		if (!sc->e[i].absent)
			return 1;
	return 0;
}

int
mb_entry_path(const struct scan *sc, const struct entry *e, char *out,
    size_t len)
{
	return mb_pathf(out, len, "%s/%s%s", e->in_new ? "new" : "cur",
	    mb_ename(sc, e), "");
}

uint64_t
mb_entry_ino_now(struct dsync *ds, const struct scan *sc, const struct entry *e)
{
	char p[PATH_LEN];
	struct stat sb;

	if (mb_entry_path(sc, e, p, sizeof(p)) == -1 ||
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
	return mb_pathf(out, len, "%s%s", base, name[md.baselen] != '\0' ?
	    name + md.baselen : info_if_none, "");
}

void
mb_move_new(struct dsync *ds, struct scan *sc)
{
	char from[PATH_LEN], to[PATH_LEN], fresh[MDNAME_MAX + 1];
	struct uc_rec r;
	struct stat sb;
	size_t i;

	for (i = 0; i < sc->n; i++) {
		struct entry *e = &sc->e[i];
		const char *name = mb_ename(sc, e);
		const char *info = name[e->baselen] != '\0' ? "" : ":2,";
		int collide = 0;

		if (!e->in_new)
			continue;
		if (mb_pathf(from, sizeof(from), "new/%s%s%s", name, "", "")
		    == -1 || mb_pathf(to, sizeof(to), "cur/%s%s%s", name,
		    info, "") == -1)
			continue;
		/* the cache knows this base in cur/ under another name:
		 * another file, unless it is a link of this one */
		if (uidcache_by_base(ds->uc, name, e->baselen, &r) &&
		    !r.in_new) {
			char known[PATH_LEN];

			if (mb_pathf(known, sizeof(known), "cur/%s%s", r.base,
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
		    mb_pathf(to, sizeof(to), "cur/%s%s%s", fresh, "", "") == -1)
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
	*ns = mb_mtime_ns(&sb);
	return 0;
}

int
mb_stat_dirs(struct dsync *ds, struct uc_dirstamp *st)
{
	if (dir_mtime(ds, "cur", &st->cur_ns) == -1 ||
	    dir_mtime(ds, "new", &st->new_ns) == -1)
		return -1;
	return 0;
}

int
mb_stamp_trusted(const struct uc_dirstamp *st)
{
	int64_t newest = st->cur_ns > st->new_ns ? st->cur_ns : st->new_ns;

	return st->cur_ns != UC_MTIME_UNKNOWN &&
	    st->new_ns != UC_MTIME_UNKNOWN &&
	    st->scanned_ns != UC_MTIME_UNKNOWN && st->scanned_ns > newest;
}

int
mb_stamp_begin(struct dsync *ds, struct uc_dirstamp *st)
{
	const struct timespec tick = { 0, 1000000 };
	int waits;

	for (waits = 0; ; waits++) {
		st->scanned_ns = fs_now(ds);
		if (mb_stat_dirs(ds, st) == -1)
			return -1;
		if (mb_stamp_trusted(st) || waits == STAMP_WAITS)
			return 0;
		nanosleep(&tick, NULL);
	}
}

int
mb_list_dirs(struct dsync *ds, struct scan *sc)
{
	struct uc_dirstamp after;

	if (mb_stamp_begin(ds, &sc->stamp) == -1)
		return -1;
	/* new/ first: a file moving to cur/ meanwhile is seen twice, not
	 * missed */
	if (scan_dir(ds, "new", 1, sc) == -1 ||
	    scan_dir(ds, "cur", 0, sc) == -1 ||
	    mb_stat_dirs(ds, &after) == -1)
		return -1;
	sc->exact = after.cur_ns == sc->stamp.cur_ns &&
	    after.new_ns == sc->stamp.new_ns;
	mb_scan_sort(sc);
	return 0;
}

int
mb_scan_new(struct dsync *ds, struct scan *sc)
{
	return scan_dir(ds, "new", 1, sc);
}

int
mb_scan_all(struct dsync *ds, struct scan *sc)
{
	struct scan nw;

	mb_scan_init(sc);
	if (!ds->readonly && !ds->keep_new) {
		mb_scan_init(&nw);
		if (scan_dir(ds, "new", 1, &nw) == -1) {
			mb_scan_free(&nw);
			return -1;
		}
		if (nw.n > 0)
			mb_move_new(ds, &nw);
		mb_scan_free(&nw);
	}
	if (mb_list_dirs(ds, sc) == -1) {
		mb_scan_free(sc);
		return -1;
	}
	return 0;
}

void
mb_scan_dedupe(struct dsync *ds, struct scan *sc)
{
	size_t i, j, k, m, out = 0, gstart;

	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && mb_same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		gstart = out;
		for (k = i; k < j; k++) {
			struct entry *e = &sc->e[k];

			if (j - i > 1 && e->ino == 0)
				e->ino = mb_entry_ino_now(ds, sc, e);
			for (m = gstart; m < out; m++)
				if (e->ino != 0 && sc->e[m].ino == e->ino)
					break;
			if (m == out) {
				sc->e[out++] = *e;
				continue;
			}
			/* a second name of a kept file: keep the one that
			 * exists (both do for links: keep the first) */
			if (mb_entry_ino_now(ds, sc, &sc->e[m]) == e->ino)
				continue;
			if (mb_entry_ino_now(ds, sc, e) == e->ino)
				sc->e[m] = *e;
			else
				sc->unresolved++;
		}
	}
	sc->n = out;
}

int
mb_scan_rebase(struct dsync *ds, struct scan *sc)
{
	char from[PATH_LEN], to[PATH_LEN], fresh[MDNAME_MAX + 1];
	struct uc_rec r;
	size_t i, j, k, keep;
	int renamed = 0;

	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && mb_same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		if (j - i == 1 || ds->readonly)
			continue;
		keep = i;
		if (uidcache_by_base(ds->uc, mb_ename(sc, &sc->e[i]),
		    sc->e[i].baselen, &r))
			for (k = i; k < j; k++)
				if (r.in_new == sc->e[k].in_new &&
				    strcmp(r.info, mb_ename(sc, &sc->e[k]) +
				    sc->e[k].baselen) == 0)
					keep = k;
		if (sc->e[keep].ino == 0 ||
		    mb_entry_ino_now(ds, sc, &sc->e[keep]) != sc->e[keep].ino)
			continue;
		for (k = i; k < j; k++) {
			struct entry *e = &sc->e[k];
			const char *name = mb_ename(sc, e);

			if (k == keep || e->ino == 0 ||
			    mb_entry_ino_now(ds, sc, e) != e->ino)
				continue;
			if (mb_entry_path(sc, e, from, sizeof(from)) == -1 ||
			    fresh_name(name, "", fresh, sizeof(fresh)) == -1 ||
			    mb_pathf(to, sizeof(to), "%s/%s%s", e->in_new ?
			    "new" : "cur", fresh, "") == -1)
				continue;
			if (md_rename(ds->dirfd, from, ds->dirfd, to) == -1)
				continue;
			log_info("%s: %s shares its base name with another "
			    "message; renamed it to %s", ds->dir, from, to);
			if (mb_scan_add(sc, fresh, e->in_new, e->ino) == -1)
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
	mb_scan_sort(sc);
	return 1;
}
