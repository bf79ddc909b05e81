/*
 * sortcache: the per-folder store of sort keys.  See sortcache.h.
 *
 * One file beside the folder's cur/, all numbers little-endian:
 *
 *   imapd-sortcache   u32 "IMSK", u32 version 1, u32 UIDVALIDITY, u32
 *                     check of those 12 bytes; then records, each u32
 *                     check of the rest of the record, u32 length n of
 *                     the key record, u32 UID, then n bytes: a
 *                     common/imap/sortkey record
 *
 *   check             the low 32 bits of hash_bytes() (common/lib/hash.h)
 *                     over the bytes it covers.  Not a CRC: a sort reads
 *                     every record of the folder, and this runs several
 *                     times faster while still telling a torn or damaged
 *                     record from a whole one.
 *
 * Records are appended, each batch with one write(2) on an O_APPEND
 * descriptor, so that sessions appending at once never interleave; the
 * last record for a UID counts.  A reader maps the file (where mapping is
 * safe; else reads it) and takes records up to the first that is not
 * whole or fails its CRC: a crash can leave one torn, and a writer may be
 * in the middle of one.  A file of another version or UIDVALIDITY is
 * ignored.
 *
 * The file is never truncated or written in place: sessions have it
 * mapped, and pages of a shortened file fault when touched.  A writer
 * that finds it missing or foreign when it comes to write, or found it
 * ending in a torn record or mostly made of records that no longer count
 * (of expunged messages, or superseded by a later record of the UID, as
 * when two sessions sort a new folder at once) when it read it, writes a
 * new file of the live records and its own, in UID order, and renames it
 * over the old one.  Records
 * another session appended to the old file meanwhile are lost then, and
 * computed again when next wanted.  Nothing is fsync'ed, for the same
 * reason.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/imap/sortkey.h"
#include "common/lib/buf.h"
#include "common/lib/hash.h"
#include "common/lib/le.h"
#include "common/lib/mapfile.h"
#include "common/lib/safefile.h"
#include "common/lib/sorted.h"
#include "maildir/sortcache.h"

#define SC_FILE		"imapd-sortcache"
#define SC_MAGIC	0x4b534d49U	/* "IMSK" */
#define SC_VERSION	1
#define SC_HEAD		16
#define SC_REC_HEAD	12
#define SC_PATH		4096
#define SC_PEND_MAX	((size_t)1 << 31)	/* offsets fit in 32 bits */
/* a file smaller than this is never rewritten for its dead records */
#define SC_REWRITE_MIN	(256 * 1024)

struct entry {
	uint32_t	uid;
	uint32_t	pending;	/* in pend rather than the file */
	uint32_t	off;		/* of the key record */
	uint32_t	len;
};

struct sortcache {
	char		*dir;
	uint32_t	 uidv;
	struct mapfile	 view;
	int		 torn;		/* records stop before its end */
	struct entry	*e;		/* by UID, ascending, one a UID */
	size_t		 n, cap;
	size_t		 hint;		/* where the last lookup ended */
	struct buf	 pend;		/* records put, as they will be
					 * written */
	struct entry	*pe;		/* their entries, in put order */
	size_t		 npe, cappe;
};

static int
path(char *out, size_t size, const char *dir, const char *suffix)
{
	if (snprintf(out, size, "%s/%s%s", dir, SC_FILE, suffix) >=
	    (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static uint32_t
check(const unsigned char *p, size_t n)
{
	return (uint32_t)hash_bytes(p, n);
}

static int
add_entry(struct entry **e, size_t *n, size_t *cap, uint32_t uid,
    size_t off, size_t len, int pending)
{
	struct entry *ne;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;

		if ((ne = reallocarray(*e, nc, sizeof(*ne))) == NULL)
			return -1;
		*e = ne;
		*cap = nc;
	}
	(*e)[*n].uid = uid;
	(*e)[*n].pending = (uint32_t)pending;
	(*e)[*n].off = (uint32_t)off;
	(*e)[*n].len = (uint32_t)len;
	(*n)++;
	return 0;
}

/* by UID, and for one UID the later record last (a pending one after
 * those of the file) */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->pending != y->pending)
		return x->pending < y->pending ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sort by UID (records mostly come in UID order already) and keep the
 * last record of each UID. */
static void
settle(struct entry *e, size_t *n)
{
	size_t i, o;
	int sorted = 1;

	for (i = 1; i < *n && sorted; i++)
		sorted = e[i - 1].uid < e[i].uid;
	if (sorted)
		return;
	qsort(e, *n, sizeof(*e), entry_cmp);
	for (i = 0, o = 0; i < *n; i++) {
		if (o > 0 && e[o - 1].uid == e[i].uid)
			o--;
		e[o++] = e[i];
	}
	*n = o;
}

/* Whether a record of length len fits at off of the view. */
static int
fits(const struct sortcache *sc, size_t off, size_t len)
{
	return len >= SORTKEY_HEAD && len <= SORTKEY_RECORD_MAX &&
	    len <= sc->view.len - off - SC_REC_HEAD;
}

/* Index the records of the view: those whole and sound (the checks are
 * made here, while the bytes are at hand, so that a sort need not touch
 * them again).  The index is allocated once, for as many records as the
 * file could hold: growing it would copy it, and pages never touched cost
 * nothing. */
static void
index_view(struct sortcache *sc)
{
	const unsigned char *p = sc->view.data;
	struct sortkey k;
	size_t off, len;
	uint32_t uid;

	/* entries hold 32-bit offsets: what lies past 4 GiB is not read */
	if (sc->view.len > UINT32_MAX)
		return;
	sc->cap = sc->view.len / (SC_REC_HEAD + SORTKEY_HEAD) + 1;
	if ((sc->e = calloc(sc->cap, sizeof(*sc->e))) == NULL) {
		sc->cap = 0;
		return;
	}
	for (off = SC_HEAD; sc->view.len - off >= SC_REC_HEAD; ) {
		len = le32_get(p + off + 4);
		uid = le32_get(p + off + 8);
		if (!fits(sc, off, len) || uid == 0 ||
		    check(p + off + 4, 8 + len) != le32_get(p + off) ||
		    sortkey_read((const char *)p + off + SC_REC_HEAD, len,
		    &k) == -1 ||
		    add_entry(&sc->e, &sc->n, &sc->cap, uid, off + SC_REC_HEAD,
		    len, 0) == -1)
			break;
		off += SC_REC_HEAD + len;
	}
	sc->torn = off != sc->view.len;
	settle(sc->e, &sc->n);
}

static void
header(unsigned char h[SC_HEAD], uint32_t uidv)
{
	le32_put(h, SC_MAGIC);
	le32_put(h + 4, SC_VERSION);
	le32_put(h + 8, uidv);
	le32_put(h + 12, check(h, 12));
}

static int
header_ok(const unsigned char *p, size_t len, uint32_t uidv)
{
	unsigned char h[SC_HEAD];

	header(h, uidv);
	return len >= SC_HEAD && memcmp(p, h, SC_HEAD) == 0;
}

struct sortcache *
sortcache_open(const char *dir, uint32_t uidvalidity)
{
	struct sortcache *sc;
	char p[SC_PATH];
	struct stat sb;
	int fd;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	if ((sc->dir = strdup(dir)) == NULL) {
		free(sc);
		return NULL;
	}
	sc->uidv = uidvalidity;
	buf_init(&sc->pend, SC_PEND_MAX);
	if (path(p, sizeof(p), dir, "") == -1 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return sc;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size < SIZE_MAX && sb.st_size >= SC_HEAD &&
	    mapfile_open(fd, (size_t)sb.st_size, 1, &sc->view) == 0) {
		if (header_ok(sc->view.data, sc->view.len, uidvalidity))
			index_view(sc);
		else
			mapfile_close(&sc->view);
	}
	close(fd);
	return sc;
}

struct sc_key {
	const struct sortcache	*sc;
	uint32_t		 uid;
};

static int
entry_before(const void *arg, size_t i)
{
	const struct sc_key *k = arg;

	return k->sc->e[i].uid < k->uid;
}

int
sortcache_get(struct sortcache *sc, uint32_t uid, const char **rec_r,
    size_t *len_r)
{
	struct sc_key k = { sc, uid };
	size_t lo = 0, hi = sc->n;

	/* ascending lookups find their entry at or right after the last
	 * one */
	if (sc->hint < sc->n && sc->e[sc->hint].uid <= uid) {
		lo = sc->hint;
		if (lo + 2 <= hi && sc->e[lo + 1].uid >= uid)
			hi = lo + 2;
	}
	lo = sorted_bound(lo, hi, entry_before, &k);
	sc->hint = lo;
	if (lo >= sc->n || sc->e[lo].uid != uid)
		return 0;
	*rec_r = (const char *)sc->view.data + sc->e[lo].off;
	*len_r = sc->e[lo].len;
	return 1;
}

int
sortcache_put(struct sortcache *sc, uint32_t uid, const char *rec,
    size_t len)
{
	unsigned char h[SC_REC_HEAD], *p;
	struct sortkey k;
	size_t start = sc->pend.len;

	if (uid == 0 || sortkey_read(rec, len, &k) == -1) {
		errno = EINVAL;
		return -1;
	}
	le32_put(h, 0);
	le32_put(h + 4, (uint32_t)len);
	le32_put(h + 8, uid);
	if (buf_add(&sc->pend, h, SC_REC_HEAD) == -1 ||
	    buf_add(&sc->pend, rec, len) == -1 ||
	    add_entry(&sc->pe, &sc->npe, &sc->cappe, uid,
	    start + SC_REC_HEAD, len, 1) == -1) {
		buf_truncate(&sc->pend, start);
		return -1;
	}
	p = (unsigned char *)sc->pend.data + start;
	le32_put(p, check(p + 4, 8 + len));
	return 0;
}

/* Bytes of the file's records that still count: the last of a UID, of
 * a message that is still there. */
static size_t
live_bytes(const struct sortcache *sc, int (*alive)(void *, uint32_t),
    void *arg)
{
	size_t i, live = SC_HEAD;

	for (i = 0; i < sc->n; i++)
		if (alive == NULL || alive(arg, sc->e[i].uid))
			live += SC_REC_HEAD + sc->e[i].len;
	return live;
}

/* Append one record, from the file's view or the pending records, to
 * out with its header. */
static int
copy_record(const struct sortcache *sc, const struct entry *e,
    struct buf *out)
{
	const unsigned char *src = e->pending ?
	    (const unsigned char *)sc->pend.data : sc->view.data;

	return buf_add(out, src + e->off - SC_REC_HEAD,
	    SC_REC_HEAD + e->len);
}

/* A new file: the live records of the old one and the pending ones, in
 * UID order, renamed into place. */
static void
rewrite(struct sortcache *sc, int (*alive)(void *, uint32_t), void *arg)
{
	char p[SC_PATH], tmp[SC_PATH];
	unsigned char h[SC_HEAD];
	struct entry *all = NULL;
	size_t nall = 0, capall = 0, i;
	struct buf out;
	int fd, ok = 0;

	buf_init(&out, SC_PEND_MAX);
	for (i = 0; i < sc->n; i++)
		if ((alive == NULL || alive(arg, sc->e[i].uid)) &&
		    add_entry(&all, &nall, &capall, sc->e[i].uid,
		    sc->e[i].off, sc->e[i].len, 0) == -1)
			goto out;
	/* pending records sort after the file's: for one UID, they win */
	for (i = 0; i < sc->npe; i++)
		if (add_entry(&all, &nall, &capall, sc->pe[i].uid,
		    sc->pe[i].off, sc->pe[i].len, 1) == -1)
			goto out;
	settle(all, &nall);
	header(h, sc->uidv);
	if (buf_add(&out, h, SC_HEAD) == -1)
		goto out;
	for (i = 0; i < nall; i++)
		if (copy_record(sc, &all[i], &out) == -1)
			goto out;
	if (path(p, sizeof(p), sc->dir, "") == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s.new.%ld", p, (long)getpid()) >=
	    (int)sizeof(tmp))
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		goto out;
	ok = safefile_write(fd, out.data, out.len) == 0;
	if (close(fd) == -1)
		ok = 0;
	if (!ok || rename(tmp, p) == -1)
		(void)unlink(tmp);
out:
	free(all);
	buf_free(&out);
}

void
sortcache_flush(struct sortcache *sc, int (*alive)(void *, uint32_t),
    void *arg)
{
	char p[SC_PATH];
	unsigned char h[SC_HEAD];
	int fd, ok;

	if (sc == NULL || sc->npe == 0)
		return;
	if (sc->torn || (sc->view.len > SC_REWRITE_MIN &&
	    live_bytes(sc, alive, arg) < sc->view.len / 2)) {
		rewrite(sc, alive, arg);
		goto done;
	}
	/* the file as it is now, if it is ours (another session may have
	 * made it since this one looked), is appended to */
	if (path(p, sizeof(p), sc->dir, "") == -1)
		goto done;
	if ((fd = open(p, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1) {
		rewrite(sc, alive, arg);
		goto done;
	}
	ok = pread(fd, h, SC_HEAD, 0) == SC_HEAD &&
	    header_ok(h, SC_HEAD, sc->uidv);
	if (ok)
		(void)safefile_write(fd, sc->pend.data, sc->pend.len);
	close(fd);
	if (!ok)
		rewrite(sc, alive, arg);
done:
	buf_free(&sc->pend);
	free(sc->pe);
	sc->pe = NULL;
	sc->npe = sc->cappe = 0;
}

void
sortcache_close(struct sortcache *sc)
{
	if (sc == NULL)
		return;
	mapfile_close(&sc->view);
	buf_free(&sc->pend);
	free(sc->pe);
	free(sc->e);
	free(sc->dir);
	free(sc);
}
