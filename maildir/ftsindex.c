/*
 * ftsindex: the per-folder full-text index.  The contract is in
 * ftsindex.h; this comment is the format and the reasons it survives
 * crashes.  imapd-uidcache(5) says the same for administrators.
 *
 * FILES, in the folder's directory beside cur/
 *
 *	imapd-fts.index		the snapshot: never changed once written; a
 *				newer one replaces it by rename()
 *	imapd-fts.log		the journal: batches written since
 *	imapd-fts.lock		empty; a writer holds an fcntl() lock on
 *				its byte 0, and a process indexing the
 *				folder's messages one on its byte 1, so
 *				that others leave the work to it
 *	<name>.new		the lock holder's temporary files
 *	<name>.damaged		the last damaged index, set aside
 *
 * Numbers are little-endian and unsigned.  CRC is zlib's crc32.
 *
 * A POSTING LIST is the UIDs, ascending, of the messages whose text has
 * one trigram key (ngram.h), in one of two forms, whichever is shorter:
 *	sparse	 u8 0, varint count, then count varints: the first UID,
 *		 then each UID less the one before (never 0)
 *	bitmap	 u8 1, u32 base, u32 bits, then (bits + 7) / 8 bytes: bit
 *		 i (the 1 << (i % 8) of byte i / 8) is UID base + i
 * (a varint is 7 bits a byte, low bits first, 0x80 on all but the
 * last; at most 5 bytes).  A list is never empty, its UIDs are 1 to
 * 2^31 - 1, and it is exactly as long as its directory says.
 *
 * A SEGMENT is a set of lists and the UID ranges they cover: postings
 * (the lists, back to back), then a directory: r ranges (u32 first, u32
 * last; ascending, disjoint, first <= last), k keys (u32, ascending),
 * k ends (u64: list i is postings[end i-1 .. end i), the last end is the
 * size of the postings), and in the snapshot k CRCs, one per list.
 *
 * SNAPSHOT: a 64-byte header, then a segment:
 *	  0 "IMFX"		 4 u32 version = 1
 *	  8 u32 text version	12 u32 UIDVALIDITY
 *	 16 u64 generation	24 u64 previous generation
 *	 32 u64 postings bytes p 40 u32 ranges r	44 u32 keys k
 *	 48 u32 CRC of the directory (ranges, keys, ends, CRCs)
 *	 52 zeros		60 u32 CRC of bytes 0..59
 *	 64 postings, then the directory; the file is 64 + p + 8r + 16k
 *	    bytes
 * The generation is random and never 0; the previous one is that of the
 * journal the snapshot absorbed (0 when there was no snapshot before).
 * The text version names what the keys mean (the text SEARCH reads, the
 * trigram rules, the Unicode version of the mapping): another one's
 * index is not ours.
 *
 * JOURNAL: a 32-byte header
 *	  0 "IMFJ"		 4 u32 version = 1
 *	  8 u64 generation of the snapshot it extends (0: none)
 *	 16 u32 UIDVALIDITY	20 u32 text version
 *	 24 zeros		28 u32 CRC of bytes 0..27
 * then records, each written with one write():
 *	  0 u32 0x31524649 ("IFR1")
 *	  4 u32 length L of the body, 16 .. 256 MiB
 *	  8 u32 CRC of the 4 length bytes and the body
 *	 12 body: u32 r, u32 k, u64 p, then a segment without CRCs:
 *	    L = 16 + p + 8r + 12k
 *
 * What makes it safe.  A covered UID's postings are always in the same
 * segment as its range: a record is one CRC-checked write, and a
 * compaction copies ranges and postings together.  Readers take the
 * journal's records in order up to the first that is incomplete or
 * fails its CRC (a writer may be in the middle of it, or died there),
 * so a torn record, or one lost with a power failure (records are not
 * synced), only leaves its messages uncovered: they are read at the
 * next search and indexed again.  A writer appends at the end of the
 * last good record, over whatever is after it, and never shortens the
 * file, which other processes have mapped.  Postings only ever say
 * "may match": a UID twice, or the postings of an expunged message, do
 * no harm, so a journal applied twice would not either (it is not: see
 * the generations).  The snapshot is checked where it is read: its
 * header and directory when it is opened, each list's CRC when the list
 * is used; anything wrong makes the whole index untrusted until a writer
 * sets it aside and indexing starts again.
 *
 * COMPACTION, when the journal has grown past a megabyte and the size
 * of the snapshot (so that building a large index writes it about
 * twice), or past 256 records: the lock holder merges the snapshot
 * and the journal, key by key in ascending order, into
 * imapd-fts.index.new, dropping the UIDs of expunged messages, in steps
 * of a few milliseconds between a session's commands (the lock is held
 * throughout; writers that meet it try again later).  It fsyncs the
 * file, renames it into place, fsyncs the directory, then writes a bare
 * journal of the new generation as imapd-fts.log.new, fsyncs it, renames
 * it into place and fsyncs the directory.  A crash leaves the old
 * snapshot and journal, or the new snapshot beside the old journal
 * (whose generation is the new snapshot's previous one: readers ignore
 * it, and the next writer replaces it), or the new pair.  Ranges next to
 * each other are joined when no message of the compacting session's
 * view lies between them and below the first UID it has not seen (what
 * lies between them was expunged, and a UID is never given again).
 *
 * This file opens, reads and writes the index; ftsindex-list.c holds the
 * byte form of lists and segments, ftsindex-batch.c what a batch becomes,
 * ftsindex-compact.c the compaction, and ftsindex-private.h what they
 * share.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/le.h"
#include "common/lib/log.h"
#include "common/lib/safefile.h"
#include "common/lib/sorted.h"
#include "common/mail/ngram.h"
#include "common/mail/unicase.h"
#include "maildir/ftsindex-private.h"
#include "maildir/ftsindex.h"

void (*ftsindex_test_step)(int step);

uint32_t
fi_text_version(void)
{
	static uint32_t v;
	char s[64];
	int n;

	if (v == 0) {
		n = snprintf(s, sizeof(s), "%s%s", TEXT_RULES,
		    unicase_version());
		if (n < 0 || (size_t)n >= sizeof(s))
			n = 0;
		v = (uint32_t)crc32(0, (const unsigned char *)s, (uInt)n) | 1;
	}
	return v;
}

int
fi_path(char *out, const char *dir, const char *name,
    const char *suffix)
{
	if (snprintf(out, FI_PATH, "%s/%s%s", dir, name, suffix) >= FI_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* ---- loading -------------------------------------------------------- */

static void
unload_log(struct ftsindex *fi)
{
	mapfile_close(&fi->jmap);
	if (fi->logfd != -1)
		close(fi->logfd);
	fi->logfd = -1;
	fi->have_log = 0;
	fi->log_seen = 0;
	fi->jgood = 0;
	fi->jstop_set = 0;
	fi->nrec = 0;
}

static void
unload(struct ftsindex *fi)
{
	mapfile_close(&fi->snap);
	if (fi->snapfd != -1)
		close(fi->snapfd);
	fi->snapfd = -1;
	fi->have_snap = 0;
	fi->snap_seen = 0;
	fi->gen = 0;
	fi->prevgen = 0;
	unload_log(fi);
	fi->ncov = 0;
}

/* Check the snapshot open on fd and view it.  1 ours, 0 not. */
static int
load_snap(struct ftsindex *fi, int fd, const struct stat *sb)
{
	unsigned char h[SNAP_HEAD];
	uint64_t p, size;
	uint32_t r, k;

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    le32_get(h) != SNAP_MAGIC || fi_crc(h, 60) != le32_get(h + 60))
		goto damaged;
	/* another version's, another text's, another UIDVALIDITY's: not
	 * ours, and not damaged either */
	if (le32_get(h + 4) != FI_VERSION || le32_get(h + 8) !=
	    fi_text_version() || le32_get(h + 12) != fi->uidv)
		return 0;
	p = le64_get(h + 32);
	r = le32_get(h + 40);
	k = le32_get(h + 44);
	size = SNAP_HEAD + p + 8 * (uint64_t)r + 16 * (uint64_t)k;
	if (le64_get(h + 16) == 0 || p > (uint64_t)sb->st_size ||
	    size != (uint64_t)sb->st_size || size > SIZE_MAX)
		goto damaged;
	if (mapfile_open(fd, (size_t)size, 0, &fi->snap) == -1)
		return 0;
	if (fi_crc(fi->snap.data + SNAP_HEAD + p, size - SNAP_HEAD - p) !=
	    le32_get(h + 48) || !fi_seg_init(&fi->sseg, fi->snap.data + SNAP_HEAD,
	    p, fi->snap.data + SNAP_HEAD + p, r, k, 1)) {
		mapfile_close(&fi->snap);
		goto damaged;
	}
	fi->gen = le64_get(h + 16);
	fi->prevgen = le64_get(h + 24);
	return 1;
damaged:
	fi->damaged = 1;
	fi->damdev = sb->st_dev;
	fi->damino = sb->st_ino;
	return 0;
}

/* Parse the record at off of the journal view: 1 and *s set up (and
 * *next past it) if it is whole and good, 0 if not. */
static int
parse_record(const struct ftsindex *fi, size_t off, int check_crc,
    struct seg *s, size_t *next)
{
	const unsigned char *p = fi->jmap.data + off;
	uint64_t plen;
	uint32_t len, r, k;

	if (fi->jmap.len - off < REC_HEAD + 16 || le32_get(p) != REC_MAGIC)
		return 0;
	len = le32_get(p + 4);
	if (len < 16 || len > REC_MAX || len > fi->jmap.len - off - REC_HEAD)
		return 0;
	if (check_crc && fi_record_crc(p, len) != le32_get(p + 8))
		return 0;
	p += REC_HEAD;
	r = le32_get(p);
	k = le32_get(p + 4);
	plen = le64_get(p + 8);
	if (16 + plen + 8 * (uint64_t)r + 12 * (uint64_t)k != len ||
	    !fi_seg_init(s, p + 16, plen, p + 16 + plen, r, k, 0))
		return 0;
	*next = off + REC_HEAD + len;
	return 1;
}

static int
add_record(struct ftsindex *fi, size_t off, const struct seg *s)
{
	size_t cap;
	size_t *o;
	struct seg *sg;

	if (fi->nrec == fi->caprec) {
		cap = fi->caprec ? fi->caprec * 2 : 16;
		if ((o = reallocarray(fi->recoff, cap, sizeof(*o))) == NULL)
			return -1;
		fi->recoff = o;
		if ((sg = reallocarray(fi->recs, cap, sizeof(*sg))) == NULL)
			return -1;
		fi->recs = sg;
		fi->caprec = cap;
	}
	fi->recoff[fi->nrec] = off;
	fi->recs[fi->nrec++] = *s;
	return 0;
}

/* Take the records from jgood on. */
static void
index_records(struct ftsindex *fi)
{
	struct seg s;
	size_t next;

	while (parse_record(fi, fi->jgood, 1, &s, &next) &&
	    add_record(fi, fi->jgood, &s) == 0)
		fi->jgood = next;
	/* a writer appends at jgood, over what is there: remember it, so
	 * that a record written in its place without the file growing is
	 * seen (refresh) */
	fi->jstop_set = fi->jmap.len - fi->jgood >= REC_HEAD;
	if (fi->jstop_set)
		memcpy(fi->jstop, fi->jmap.data + fi->jgood, REC_HEAD);
}

/* Whether something new may lie at jgood in a view of the same length
 * (of the journal open on fd). */
static int
moved_at_jgood(const struct ftsindex *fi, int fd)
{
	unsigned char h[REC_HEAD];
	const unsigned char *now = h;

	if (!fi->have_log || fi->jmap.len - fi->jgood < REC_HEAD)
		return 0;
	if (fi->jmap.mapped)
		now = fi->jmap.data + fi->jgood;
	else if (pread(fd, h, sizeof(h), (off_t)fi->jgood) !=
	    (ssize_t)sizeof(h))
		return 0;
	return !fi->jstop_set || memcmp(fi->jstop, now, REC_HEAD) != 0;
}

/* Check the journal's header against the snapshot: 1 it extends it,
 * 0 it was absorbed by it or is not ours, -1 it extends another
 * snapshot (a compaction ran between the two opens). */
static int
log_header(const struct ftsindex *fi, const unsigned char *h)
{
	if (le32_get(h) != LOG_MAGIC || le32_get(h + 4) != FI_VERSION ||
	    le32_get(h + 16) != fi->uidv || le32_get(h + 20) !=
	    fi_text_version() || fi_crc(h, 28) != le32_get(h + 28))
		return 0;
	if (le64_get(h + 8) == fi->gen)
		return 1;
	if (fi->have_snap && le64_get(h + 8) == fi->prevgen)
		return 0;
	return -1;
}

/* View the journal open on fd (of sb).  1 taken, 0 not ours, -1 it
 * belongs to another snapshot. */
static int
load_log(struct ftsindex *fi, int fd, const struct stat *sb)
{
	unsigned char h[LOG_HEAD];
	int r;

	fi->log_seen = 1;
	fi->logdev = sb->st_dev;
	fi->logino = sb->st_ino;
	if ((uint64_t)sb->st_size < LOG_HEAD || (uint64_t)sb->st_size >
	    SIZE_MAX || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	if ((r = log_header(fi, h)) != 1)
		return r;
	if (mapfile_grow(fd, 0, (size_t)sb->st_size, 1, &fi->jmap) == -1)
		return 0;
	fi->have_log = 1;
	fi->jgood = LOG_HEAD;
	fi->nrec = 0;
	index_records(fi);
	return 1;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

size_t
fi_ranges_join(struct range *r, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		if (r[i].first <= r[out].last || r[i].first - 1 == r[out].last) {
			if (r[i].last > r[out].last)
				r[out].last = r[i].last;
		} else
			r[++out] = r[i];
	}
	return out + 1;
}

int
fi_cov_add_seg(struct range **v, size_t *n, size_t *cap,
    const struct seg *s)
{
	struct range *nv;
	size_t want = *n + s->r, i;

	if (want > *cap) {
		if ((nv = reallocarray(*v, want * 2, sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
		*cap = want * 2;
	}
	for (i = 0; i < s->r; i++) {
		(*v)[*n].first = le32_get(s->ranges + 8 * i);
		(*v)[*n].last = le32_get(s->ranges + 8 * i + 4);
		(*n)++;
	}
	return 0;
}

/* Whether every range of a (na, sorted and joined) lies within one of
 * b (nb, likewise). */
static int
ranges_within(const struct range *a, size_t na, const struct range *b,
    size_t nb)
{
	size_t i, j = 0;

	for (i = 0; i < na; i++) {
		while (j < nb && b[j].last < a[i].first)
			j++;
		if (j == nb || b[j].first > a[i].first ||
		    b[j].last < a[i].last)
			return 0;
	}
	return 1;
}

/* What the segments cover; on a memory shortage, nothing (which is
 * never wrong).  Coverage that shrinks is counted (ftsindex_losses). */
static void
coverage_build(struct ftsindex *fi)
{
	struct range *v = NULL;
	size_t n = 0, cap = 0, i;
	int ok = 1;

	if (fi->have_snap)
		ok = fi_cov_add_seg(&v, &n, &cap, &fi->sseg) == 0;
	for (i = 0; ok && i < fi->nrec; i++)
		ok = fi_cov_add_seg(&v, &n, &cap, &fi->recs[i]) == 0;
	if (ok)
		n = fi_ranges_join(v, n);
	else {
		free(v);
		v = NULL;
		n = 0;
	}
	if (!ranges_within(fi->cov, fi->ncov_built, v, n))
		fi->losses++;
	free(fi->cov);
	fi->cov = v;
	fi->ncov = fi->ncov_built = n;
}

static int
open_file(const struct ftsindex *fi, const char *name, struct stat *sb)
{
	char p[FI_PATH];
	int fd;

	if (fi_path(p, fi->dir, name, "") == -1 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

void
fi_load(struct ftsindex *fi)
{
	struct stat sb;
	int fd, tries, r = 0, was = fi->damaged;

	for (tries = 0; tries < LOAD_TRIES; tries++) {
		unload(fi);
		fi->damaged = 0;
		if ((fd = open_file(fi, FI_SNAP, &sb)) != -1) {
			fi->snap_seen = 1;
			fi->snapdev = sb.st_dev;
			fi->snapino = sb.st_ino;
			fi->have_snap = load_snap(fi, fd, &sb);
			fi->snapfd = fd;
		}
		/* a journal extends a snapshot that is not ours, if any */
		if (fi->snap_seen && !fi->have_snap)
			break;
		if ((fd = open_file(fi, FI_LOG, &sb)) == -1)
			break;
		r = load_log(fi, fd, &sb);
		fi->logfd = fd;
		if (r != -1)
			break;
	}
	if (r == -1)
		unload_log(fi);
	if (!fi->damaged && was == 1 && fi->snap_seen &&
	    fi->snapdev == fi->damdev && fi->snapino == fi->damino)
		fi->damaged = 1;
	if (!fi->damaged && was == 2 && fi->log_seen &&
	    fi->logdev == fi->damdev && fi->logino == fi->damino)
		fi->damaged = 2;
	coverage_build(fi);
}

struct ftsindex *
ftsindex_open(const char *dir, uint32_t uidvalidity)
{
	struct ftsindex *fi;
	struct stat sb;

	if ((fi = calloc(1, sizeof(*fi))) == NULL)
		return NULL;
	if ((fi->dir = strdup(dir)) == NULL) {
		free(fi);
		return NULL;
	}
	fi->uidv = uidvalidity;
	fi->lockfd = -1;
	fi->claimfd = -1;
	fi->snapfd = -1;
	fi->logfd = -1;
	if (stat(dir, &sb) == 0) {
		fi->dirdev = sb.st_dev;
		fi->dirino = sb.st_ino;
	}
	fi_load(fi);
	return fi;
}


void
ftsindex_close(struct ftsindex *fi)
{
	if (fi == NULL)
		return;
	if (fi->cp != NULL)
		ftsindex_compact_abort(fi);
	unload(fi);
	free(fi->recoff);
	free(fi->recs);
	free(fi->cov);
	if (fi->lockfd != -1)
		close(fi->lockfd);
	ftsindex_unclaim(fi);
	free(fi->dir);
	free(fi);
}

/* The journal grew, or a record was written over its torn tail: view
 * the new length and take its new records. */
static void
grow_log(struct ftsindex *fi, int fd, const struct stat *sb)
{
	struct seg s;
	size_t i, next;

	if (mapfile_grow(fd, fi->jgood, (size_t)sb->st_size, 1,
	    &fi->jmap) == -1) {
		unload_log(fi);
		return;
	}
	/* the records already taken are where they were, in a new view */
	for (i = 0; i < fi->nrec; i++)
		if (parse_record(fi, fi->recoff[i], 0, &s, &next))
			fi->recs[i] = s;
	index_records(fi);
}

void
ftsindex_refresh(struct ftsindex *fi)
{
	struct stat sb;
	size_t nrec;
	int fd;

	if (fi->cp != NULL)
		return;		/* the lock is ours: nothing changes */
	if ((fd = open_file(fi, FI_SNAP, &sb)) == -1) {
		if (fi->snap_seen)
			fi_load(fi);
	} else {
		close(fd);
		if (!fi->snap_seen || sb.st_dev != fi->snapdev ||
		    sb.st_ino != fi->snapino) {
			fi_load(fi);
			return;
		}
	}
	nrec = fi->nrec;
	if ((fd = open_file(fi, FI_LOG, &sb)) == -1) {
		if (fi->log_seen)
			fi_load(fi);
		return;
	}
	if (!fi->log_seen || sb.st_dev != fi->logdev ||
	    sb.st_ino != fi->logino || (fi->have_log &&
	    (uint64_t)sb.st_size < fi->jmap.len)) {
		close(fd);
		fi_load(fi);
		return;
	}
	if (fi->have_log && (uint64_t)sb.st_size > fi->jmap.len &&
	    (uint64_t)sb.st_size <= SIZE_MAX)
		grow_log(fi, fd, &sb);
	else if (moved_at_jgood(fi, fd))
		grow_log(fi, fd, &sb);
	close(fd);
	if (fi->nrec != nrec)
		coverage_build(fi);
}

/* ---- reading ------------------------------------------------------- */

int
ftsindex_damaged(const struct ftsindex *fi)
{
	return fi->damaged != 0;
}

struct cov_key {
	const struct ftsindex	*fi;
	uint32_t		 uid;
};

static int
cov_before(const void *arg, size_t i)
{
	const struct cov_key *k = arg;

	return k->fi->cov[i].last < k->uid;
}

/* The covered range holding uid, or -1. */
static long
cov_find(const struct ftsindex *fi, uint32_t uid)
{
	struct cov_key k = { fi, uid };
	size_t i = sorted_bound(0, fi->ncov, cov_before, &k);

	return i < fi->ncov && fi->cov[i].first <= uid ? (long)i : -1;
}

int
ftsindex_covered(const struct ftsindex *fi, uint32_t uid)
{
	return !fi->damaged && cov_find(fi, uid) >= 0;
}

unsigned
ftsindex_losses(const struct ftsindex *fi)
{
	return fi->losses;
}

uint32_t
ftsindex_uncovered_from(const struct ftsindex *fi, uint32_t uid)
{
	long i;

	if (fi->damaged || (i = cov_find(fi, uid)) < 0)
		return uid;
	return fi->cov[i].last >= UID_LIMIT - 1 ? UID_LIMIT :
	    fi->cov[i].last + 1;
}

static void
bits_set_range(uint64_t *bits, uint32_t first, uint32_t last)
{
	uint32_t u;

	for (u = first; u <= last && (u & 63) != 0; u++)
		bits[u / 64] |= 1ULL << (u & 63);
	for (; u <= last && last - u >= 63; u += 64)
		bits[u / 64] = ~0ULL;
	for (; u <= last; u++)
		bits[u / 64] |= 1ULL << (u & 63);
}

void
ftsindex_coverage(const struct ftsindex *fi, uint32_t limit, uint64_t *bits)
{
	size_t i;

	memset(bits, 0, ((size_t)limit + 63) / 64 * sizeof(*bits));
	if (fi->damaged)
		return;
	for (i = 0; i < fi->ncov && fi->cov[i].first < limit; i++)
		bits_set_range(bits, fi->cov[i].first,
		    fi->cov[i].last < limit ? fi->cov[i].last : limit - 1);
}

int
ftsindex_keys(const char *needle, unsigned space, uint32_t **keys_r,
    size_t *n_r)
{
	return ngram_needle(needle, strlen(needle), space, keys_r, n_r);
}

size_t
fi_nsegs(const struct ftsindex *fi)
{
	return (fi->have_snap ? 1 : 0) + fi->nrec;
}

const struct seg *
fi_segment(const struct ftsindex *fi, size_t i)
{
	if (fi->have_snap) {
		if (i == 0)
			return &fi->sseg;
		i--;
	}
	return &fi->recs[i];
}

void
fi_seen_damage(struct ftsindex *fi, const struct seg *s)
{
	if (fi->damaged)
		return;
	fi->damaged = s == &fi->sseg ? 1 : 2;
	if (fi->damaged == 1) {
		fi->damdev = fi->snapdev;
		fi->damino = fi->snapino;
	} else {
		fi->damdev = fi->logdev;
		fi->damino = fi->logino;
	}
	log_warnx("the full-text index of %s is damaged: searches read "
	    "the messages until it is built again", fi->dir);
}

/* OR into bits every UID below limit that some segment posts for key. */
static int
key_bits(struct ftsindex *fi, uint32_t key, uint32_t limit, uint64_t *bits)
{
	const unsigned char *p;
	const struct seg *s;
	uint64_t len;
	size_t i;
	long k;

	for (i = 0; i < fi_nsegs(fi); i++) {
		s = fi_segment(fi, i);
		if ((k = fi_seg_find(s, key)) < 0)
			continue;
		if (fi_seg_list(s, (size_t)k, &p, &len) == -1 ||
		    fi_list_bits(p, len, limit, bits) == -1) {
			fi_seen_damage(fi, s);
			return -1;
		}
	}
	return 0;
}

struct keycost {
	uint32_t	key;
	uint64_t	bytes;
};

static int
cost_cmp(const void *a, const void *b)
{
	const struct keycost *x = a, *y = b;

	return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

/* Stop narrowing when this few candidates are left: reading them costs
 * less than another list. */
#define FEW	16

int
ftsindex_lookup(struct ftsindex *fi, const uint32_t *keys, size_t n,
    uint32_t limit, uint64_t *bits)
{
	size_t words = ((size_t)limit + 63) / 64, i, j, left;
	struct keycost *kc;
	uint64_t *tmp = NULL;
	long k;

	memset(bits, 0, words * sizeof(*bits));
	if (fi->damaged || n == 0)
		return -1;
	if ((kc = calloc(n, sizeof(*kc))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		kc[i].key = keys[i];
		for (j = 0; j < fi_nsegs(fi); j++)
			if ((k = fi_seg_find(fi_segment(fi, j), keys[i])) >= 0)
				kc[i].bytes += fi_seg_list_len(fi_segment(fi, j),
				    (size_t)k);
		if (kc[i].bytes == 0) {
			/* a trigram no message has */
			free(kc);
			return 0;
		}
	}
	qsort(kc, n, sizeof(*kc), cost_cmp);
	if (key_bits(fi, kc[0].key, limit, bits) == -1)
		goto fail;
	for (i = 1; i < n; i++) {
		for (left = 0, j = 0; j < words && left <= FEW; j++)
			left += (size_t)__builtin_popcountll(bits[j]);
		if (left <= FEW)
			break;
		if (tmp == NULL && (tmp = malloc(words * sizeof(*tmp))) ==
		    NULL)
			goto fail;
		memset(tmp, 0, words * sizeof(*tmp));
		if (key_bits(fi, kc[i].key, limit, tmp) == -1)
			goto fail;
		for (j = 0; j < words; j++)
			bits[j] &= tmp[j];
	}
	free(tmp);
	free(kc);
	return 0;
fail:
	free(tmp);
	free(kc);
	memset(bits, 0, words * sizeof(*bits));
	return -1;
}

void
ftsindex_sizes(const struct ftsindex *fi, uint64_t *snapshot_r,
    uint64_t *journal_r)
{
	*snapshot_r = fi->have_snap ? fi->snap.len : 0;
	*journal_r = fi->have_log ? fi->jgood : 0;
}

/* ---- writing -------------------------------------------------------- */

void
fi_step(int n)
{
	if (ftsindex_test_step != NULL)
		ftsindex_test_step(n);
}

/* An fcntl() lock on byte which of the lock file, without waiting, on a
 * descriptor of its own (closing it drops the lock): the descriptor, or
 * -1 (EAGAIN: another holder). */
static int
lock_byte(const struct ftsindex *fi, off_t which)
{
	char p[FI_PATH];
	struct flock fl;
	int fd, saved;

	if (fi_path(p, fi->dir, FI_LOCK, "") == -1 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = which;
	fl.l_len = 1;
#ifdef F_OFD_SETLK
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return fd;
#else
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return fd;
#endif
	saved = errno == EACCES ? EAGAIN : errno;
	close(fd);
	errno = saved;
	return -1;
}

int
fi_lock(struct ftsindex *fi)
{
	struct stat sb;

	if (fi->cp != NULL || fi->lockfd != -1) {
		errno = EAGAIN;
		return -1;
	}
	if ((fi->lockfd = lock_byte(fi, BYTE_WRITE)) == -1)
		return -1;
	if (stat(fi->dir, &sb) == -1 || fi->dirino == 0 ||
	    sb.st_dev != fi->dirdev || sb.st_ino != fi->dirino) {
		close(fi->lockfd);
		fi->lockfd = -1;
		errno = ESTALE;
		return -1;
	}
	return 0;
}

int
ftsindex_claim(struct ftsindex *fi)
{
	if (fi->claimfd != -1)
		return 0;
	if ((fi->claimfd = lock_byte(fi, BYTE_CLAIM)) == -1)
		return -1;
	return 0;
}

void
ftsindex_unclaim(struct ftsindex *fi)
{
	if (fi->claimfd != -1)
		close(fi->claimfd);
	fi->claimfd = -1;
}

void
fi_unlock(struct ftsindex *fi)
{
	/* closing the descriptor drops the lock */
	if (fi->lockfd != -1)
		close(fi->lockfd);
	fi->lockfd = -1;
}

/* Write data to name.new, sync it and rename it to name. */
static int
replace(const struct ftsindex *fi, const char *name, const void *data,
    size_t len)
{
	char tmp[FI_PATH], dst[FI_PATH];
	int fd;

	if (fi_path(tmp, fi->dir, name, ".new") == -1 ||
	    fi_path(dst, fi->dir, name, "") == -1)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fdatasync(fd) == -1) {
		if (errno == 0)
			errno = ENOSPC;
		close(fd);
		(void)unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, dst) == -1) {
		(void)unlink(tmp);
		return -1;
	}
	return safefile_sync_dir(AT_FDCWD, fi->dir);
}

int
fi_new_journal(const struct ftsindex *fi, uint64_t gen)
{
	unsigned char h[LOG_HEAD];

	memset(h, 0, sizeof(h));
	le32_put(h, LOG_MAGIC);
	le32_put(h + 4, FI_VERSION);
	le64_put(h + 8, gen);
	le32_put(h + 16, fi->uidv);
	le32_put(h + 20, fi_text_version());
	le32_put(h + 28, fi_crc(h, 28));
	return replace(fi, FI_LOG, h, sizeof(h));
}

/* Move a file aside as name.damaged (or remove it). */
static void
set_aside(const struct ftsindex *fi, const char *name, int keep)
{
	char from[FI_PATH], to[FI_PATH];

	if (fi_path(from, fi->dir, name, "") == -1 ||
	    fi_path(to, fi->dir, name, ".damaged") == -1)
		return;
	if (!keep || rename(from, to) == -1)
		(void)unlink(from);
}

int
fi_writable(struct ftsindex *fi)
{
	ftsindex_refresh(fi);
	if (fi->snap_seen && !fi->have_snap) {
		set_aside(fi, FI_SNAP, fi->damaged == 1);
		set_aside(fi, FI_LOG, 0);
		fi->damaged = 0;
		fi_load(fi);
	}
	if (fi->damaged == 2) {
		set_aside(fi, FI_LOG, 1);
		fi->damaged = 0;
		fi_load(fi);
	}
	if (!fi->have_log) {
		if (fi_new_journal(fi, fi->have_snap ? fi->gen : 0) == -1)
			return -1;
		fi_load(fi);
		if (!fi->have_log) {
			errno = EIO;
			return -1;
		}
	}
	return 0;
}

int
ftsindex_write(struct ftsindex *fi, struct ftsindex_batch *b)
{
	char p[FI_PATH];
	struct buf rec;
	ssize_t n;
	int fd, saved;

	if (b->n == 0 && b->ncov == 0)
		return 0;
	if (fi_lock(fi) == -1) {
		if (errno == EAGAIN)
			return -1;
		fi_batch_empty(b);
		return -1;
	}
	buf_init(&rec, REC_HEAD + REC_MAX);
	if (fi_writable(fi) == -1 || fi_record_build(b, &rec) == -1 ||
	    fi_path(p, fi->dir, FI_LOG, "") == -1)
		goto fail;
	if ((fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		goto fail;
	fi_step(FTSINDEX_STEP_APPEND);
	n = pwrite(fd, rec.data, rec.len, (off_t)fi->jgood);
	saved = errno;
	close(fd);
	if (n != (ssize_t)rec.len) {
		errno = n == -1 ? saved : ENOSPC;
		goto fail;
	}
	fi_step(FTSINDEX_STEP_APPENDED);
	buf_free(&rec);
	fi_batch_empty(b);
	fi_unlock(fi);
	ftsindex_refresh(fi);
	return 0;
fail:
	saved = errno;
	buf_free(&rec);
	fi_batch_empty(b);
	fi_unlock(fi);
	fi_load(fi);
	errno = saved;
	return -1;
}

int
ftsindex_reset(struct ftsindex *fi)
{
	struct stat sb;
	int fd, same;

	if (!fi->damaged)
		return 0;
	if (fi_lock(fi) == -1)
		return -1;
	/* still the files damage was seen in?  (someone may have rebuilt
	 * them meanwhile) */
	fd = open_file(fi, fi->damaged == 1 ? FI_SNAP : FI_LOG, &sb);
	same = fd != -1 && sb.st_dev == fi->damdev && sb.st_ino == fi->damino;
	if (fd != -1)
		close(fd);
	if (same) {
		log_warnx("setting the damaged full-text index of %s aside "
		    "(as %s.damaged); it is built again from the messages",
		    fi->dir, fi->damaged == 1 ? FI_SNAP : FI_LOG);
		if (fi->damaged == 1) {
			set_aside(fi, FI_SNAP, 1);
			set_aside(fi, FI_LOG, 0);
		} else
			set_aside(fi, FI_LOG, 1);
	}
	fi->damaged = 0;
	fi_unlock(fi);
	fi_load(fi);
	return 0;
}

/* ---- for the administrator ------------------------------------------ */

/* Whether list i of segment s holds together: 1 or 0; -1 for memory. */
static int
list_sound(const struct seg *s, size_t i)
{
	const unsigned char *p;
	uint32_t *uids;
	uint64_t len;
	size_t bound;
	long n;

	if (fi_seg_list(s, i, &p, &len) == -1 || (bound = fi_list_bound(p, len)) ==
	    0)
		return 0;
	if ((uids = calloc(bound, sizeof(*uids))) == NULL)
		return -1;
	n = fi_list_uids(p, len, uids);
	free(uids);
	return n > 0;
}

int
ftsindex_inspect(struct ftsindex *fi, struct ftsindex_info *info)
{
	const struct seg *s;
	size_t i, k;
	int r;

	memset(info, 0, sizeof(*info));
	ftsindex_refresh(fi);
	ftsindex_sizes(fi, &info->snapshot_bytes, &info->journal_bytes);
	if (fi->damaged)
		info->state = FTSINDEX_DAMAGED;
	else if ((fi->snap_seen && !fi->have_snap) ||
	    (!fi->snap_seen && fi->log_seen && !fi->have_log))
		info->state = FTSINDEX_FOREIGN;
	else if (!fi->snap_seen && !fi->log_seen)
		info->state = FTSINDEX_NONE;
	else
		info->state = FTSINDEX_OK;
	info->records = fi->nrec;
	info->keys = fi->have_snap ? fi->sseg.k : 0;
	info->ranges = fi->ncov;
	for (i = 0; i < fi_nsegs(fi); i++) {
		s = fi_segment(fi, i);
		for (k = 0; k < s->k; k++) {
			if ((r = list_sound(s, k)) == -1)
				return -1;
			info->lists++;
			info->bad_lists += r == 0;
		}
	}
	return 0;
}

int
ftsindex_clear(struct ftsindex *fi)
{
	if (fi_lock(fi) == -1)
		return -1;
	set_aside(fi, FI_SNAP, 0);
	set_aside(fi, FI_LOG, 0);
	fi->damaged = 0;
	fi_unlock(fi);
	fi_load(fi);
	return 0;
}
