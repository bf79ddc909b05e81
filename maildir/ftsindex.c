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
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/le.h"
#include "common/log.h"
#include "common/mapfile.h"
#include "common/message.h"
#include "common/ngram.h"
#include "common/unicase.h"
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

void (*ftsindex_test_step)(int step);

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
	int		 snapfd;	/* it, held open: see load() */
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

static uint32_t
text_version(void)
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

static int
path(char *out, const char *dir, const char *name, const char *suffix)
{
	if (snprintf(out, FI_PATH, "%s/%s%s", dir, name, suffix) >= FI_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static uint32_t
crc_more(uint32_t c, const unsigned char *p, uint64_t len)
{
	while (len > 0) {
		uInt n = len > 0x40000000U ? 0x40000000U : (uInt)len;

		c = (uint32_t)crc32(c, p, n);
		p += n;
		len -= n;
	}
	return c;
}

static uint32_t
crc(const unsigned char *p, uint64_t len)
{
	return crc_more(0, p, len);
}

/* A record's CRC: its length bytes, then its body (past the CRC). */
static uint32_t
record_crc(const unsigned char *rec, uint32_t len)
{
	return crc_more(crc(rec + 4, 4), rec + REC_HEAD, len);
}

/* ---- lists ---------------------------------------------------------- */

static int
get_varint(const unsigned char **p, const unsigned char *end, uint32_t *v_r)
{
	uint32_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 35; shift += 7) {
		if (*p >= end)
			return -1;
		v |= (uint32_t)(**p & 0x7f) << shift;
		if ((*(*p)++ & 0x80) == 0) {
			*v_r = v;
			return 0;
		}
	}
	return -1;
}

static size_t
varint_len(uint32_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void
put_varint(unsigned char **p, uint32_t v)
{
	while (v >= 0x80) {
		*(*p)++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*(*p)++ = (unsigned char)v;
}

/* Append the list of uids (n > 0, strictly ascending) to out. */
static int
list_encode(const uint32_t *uids, size_t n, struct buf *out)
{
	uint64_t sparse = 1 + varint_len((uint32_t)n), bits, bytes;
	unsigned char *p, *start;
	uint32_t prev = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		sparse += varint_len(uids[i] - prev);
		prev = uids[i];
	}
	bits = (uint64_t)uids[n - 1] - uids[0] + 1;
	bytes = 9 + (bits + 7) / 8;
	if (buf_reserve(out, (size_t)(sparse < bytes ? sparse : bytes)) == -1)
		return -1;
	start = p = (unsigned char *)out->data + out->len;
	if (sparse <= bytes) {
		*p++ = LIST_SPARSE;
		put_varint(&p, (uint32_t)n);
		for (prev = 0, i = 0; i < n; i++) {
			put_varint(&p, uids[i] - prev);
			prev = uids[i];
		}
	} else {
		*p++ = LIST_BITMAP;
		le32_put(p, uids[0]);
		le32_put(p + 4, (uint32_t)bits);
		p += 8;
		memset(p, 0, (size_t)(bytes - 9));
		for (i = 0; i < n; i++)
			p[(uids[i] - uids[0]) / 8] |= (unsigned char)
			    (1U << ((uids[i] - uids[0]) % 8));
		p += bytes - 9;
	}
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
	return 0;
}

/* A list's header: its form, and where its UIDs start.  The count of a
 * sparse list, or the base and bits of a bitmap.  0, or -1 (damage). */
static int
list_head(const unsigned char *p, uint64_t len, uint32_t *count_r,
    uint32_t *base_r, uint32_t *bits_r, const unsigned char **body_r)
{
	const unsigned char *q = p + 1;

	if (len < 2)
		return -1;
	if (*p == LIST_SPARSE) {
		if (get_varint(&q, p + len, count_r) == -1 || *count_r == 0 ||
		    *count_r > len)
			return -1;
		*body_r = q;
		return 0;
	}
	if (*p != LIST_BITMAP || len < 10)
		return -1;
	*base_r = le32_get(p + 1);
	*bits_r = le32_get(p + 5);
	*body_r = p + 9;
	if (*base_r == 0 || *bits_r == 0 || (uint64_t)*base_r + *bits_r >
	    UID_LIMIT || ((uint64_t)*bits_r + 7) / 8 != len - 9)
		return -1;
	*count_r = 0;
	return 0;
}

/* The next UID of a sparse list, into *uid (the one before on entry).
 * 0, or -1 (damage). */
static int
sparse_next(const unsigned char **p, const unsigned char *end,
    uint64_t *uid)
{
	uint32_t v;

	if (get_varint(p, end, &v) == -1 || v == 0 ||
	    (*uid += v) >= UID_LIMIT)
		return -1;
	return 0;
}

/* The most UIDs a list can hold. */
static uint64_t
list_bound(const unsigned char *p, uint64_t len)
{
	uint32_t count, base, bits;
	const unsigned char *b;

	if (list_head(p, len, &count, &base, &bits, &b) == -1)
		return 0;
	return *p == LIST_SPARSE ? count : bits;
}

/*
 * The UIDs of a list, ascending, into out (room for list_bound() of
 * them).  Their number, or -1 for a list that breaks the format.
 */
static long
list_uids(const unsigned char *p, uint64_t len, uint32_t *out)
{
	const unsigned char *end = p + len, *b;
	uint32_t count, base, bits, i, bit;
	uint64_t uid = 0;
	size_t n = 0, nb;
	unsigned x;

	if (list_head(p, len, &count, &base, &bits, &b) == -1)
		return -1;
	if (*p == LIST_SPARSE) {
		for (i = 0; i < count; i++) {
			if (sparse_next(&b, end, &uid) == -1)
				return -1;
			out[n++] = (uint32_t)uid;
		}
		return b == end ? (long)n : -1;
	}
	nb = (size_t)(len - 9);
	for (i = 0; i < nb; i++)
		for (x = b[i]; x != 0; x &= x - 1) {
			bit = (uint32_t)i * 8 + (uint32_t)__builtin_ctz(x);
			if (bit < bits)
				out[n++] = base + bit;
		}
	return (long)n;
}

/* OR the UIDs below limit of a list into bits.  0, or -1 (damage). */
static int
list_bits(const unsigned char *p, uint64_t len, uint32_t limit,
    uint64_t *bits)
{
	const unsigned char *end = p + len, *b;
	uint32_t count, base, nbits, i;
	uint64_t uid = 0, u;
	size_t nb;

	if (list_head(p, len, &count, &base, &nbits, &b) == -1)
		return -1;
	if (*p == LIST_SPARSE) {
		for (i = 0; i < count; i++) {
			if (sparse_next(&b, end, &uid) == -1)
				return -1;
			if (uid < limit)
				bits[uid / 64] |= 1ULL << (uid % 64);
		}
		return b == end ? 0 : -1;
	}
	/* a byte at a time: eight UIDs in one or two words */
	nb = (size_t)(len - 9);
	for (i = 0; i < nb; i++) {
		if (b[i] == 0)
			continue;
		u = (uint64_t)base + 8 * (uint64_t)i;
		if (u >= limit)
			break;
		bits[u / 64] |= (uint64_t)b[i] << (u % 64);
		if (u % 64 > 56 && (u / 64 + 1) * 64 < limit)
			bits[u / 64 + 1] |= (uint64_t)b[i] >> (64 - u % 64);
	}
	/* nothing at or past limit */
	if (limit % 64 != 0)
		bits[limit / 64] &= (1ULL << (limit % 64)) - 1;
	return 0;
}

/* ---- segments --------------------------------------------------------- */

static int
ranges_ok(const unsigned char *r, uint32_t n)
{
	uint32_t i, first, last, prev = 0;

	for (i = 0; i < n; i++) {
		first = le32_get(r + 8 * (size_t)i);
		last = le32_get(r + 8 * (size_t)i + 4);
		if (first == 0 || first > last || last >= UID_LIMIT ||
		    (i > 0 && first <= prev))
			return 0;
		prev = last;
	}
	return 1;
}

/* The directory of a segment whose postings are plen bytes at post and
 * whose directory follows at dir: set up s and check what can be checked
 * without reading the lists.  1 good, 0 not. */
static int
seg_init(struct seg *s, const unsigned char *post, uint64_t plen,
    const unsigned char *dir, uint32_t r, uint32_t k, int with_crcs)
{
	uint64_t prev = 0, e;
	uint32_t i;

	s->post = post;
	s->plen = plen;
	s->ranges = dir;
	s->r = r;
	s->keys = dir + 8 * (size_t)r;
	s->ends = s->keys + 4 * (size_t)k;
	s->crcs = with_crcs ? s->ends + 8 * (size_t)k : NULL;
	s->k = k;
	if (!ranges_ok(s->ranges, r))
		return 0;
	for (i = 0; i < k; i++) {
		e = le64_get(s->ends + 8 * (size_t)i);
		if (e <= prev || e > plen || (i > 0 &&
		    le32_get(s->keys + 4 * (size_t)i) <=
		    le32_get(s->keys + 4 * (size_t)(i - 1))))
			return 0;
		prev = e;
	}
	return prev == plen;
}

/* The index of key in s, or -1. */
static long
seg_find(const struct seg *s, uint32_t key)
{
	size_t lo = 0, hi = s->k, mid;
	uint32_t v;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		v = le32_get(s->keys + 4 * mid);
		if (v < key)
			lo = mid + 1;
		else if (v > key)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

/* List i of s: where it is and how long; its CRC checked if it has one.
 * 0, or -1 (damage). */
static int
seg_list(const struct seg *s, size_t i, const unsigned char **p_r,
    uint64_t *len_r)
{
	uint64_t start = i > 0 ? le64_get(s->ends + 8 * (i - 1)) : 0;
	uint64_t end = le64_get(s->ends + 8 * i);

	*p_r = s->post + start;
	*len_r = end - start;
	if (s->crcs != NULL && crc(*p_r, *len_r) != le32_get(s->crcs + 4 * i))
		return -1;
	return 0;
}

static uint64_t
seg_list_len(const struct seg *s, size_t i)
{
	return le64_get(s->ends + 8 * i) -
	    (i > 0 ? le64_get(s->ends + 8 * (i - 1)) : 0);
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
	    le32_get(h) != SNAP_MAGIC || crc(h, 60) != le32_get(h + 60))
		goto damaged;
	/* another version's, another text's, another UIDVALIDITY's: not
	 * ours, and not damaged either */
	if (le32_get(h + 4) != FI_VERSION || le32_get(h + 8) !=
	    text_version() || le32_get(h + 12) != fi->uidv)
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
	if (crc(fi->snap.data + SNAP_HEAD + p, size - SNAP_HEAD - p) !=
	    le32_get(h + 48) || !seg_init(&fi->sseg, fi->snap.data + SNAP_HEAD,
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
	if (check_crc && record_crc(p, len) != le32_get(p + 8))
		return 0;
	p += REC_HEAD;
	r = le32_get(p);
	k = le32_get(p + 4);
	plen = le64_get(p + 8);
	if (16 + plen + 8 * (uint64_t)r + 12 * (uint64_t)k != len ||
	    !seg_init(s, p + 16, plen, p + 16 + plen, r, k, 0))
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
	    text_version() || crc(h, 28) != le32_get(h + 28))
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

/* Sort and join ranges that overlap or touch; the new count. */
static size_t
ranges_join(struct range *r, size_t n)
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

static int
cov_add_seg(struct range **v, size_t *n, size_t *cap, const struct seg *s)
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
		ok = cov_add_seg(&v, &n, &cap, &fi->sseg) == 0;
	for (i = 0; ok && i < fi->nrec; i++)
		ok = cov_add_seg(&v, &n, &cap, &fi->recs[i]) == 0;
	if (ok)
		n = ranges_join(v, n);
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

	if (path(p, fi->dir, name, "") == -1 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Everything from disk again.  Damage seen before stays seen while the
 * file it was seen in is still there.  The files viewed are held open:
 * a file's device and inode number are how a replaced one is told
 * (refresh), and a file system gives a freed inode number to the next
 * file it creates, so a view read into memory of a snapshot and journal
 * replaced twice could otherwise pass for current and have a writer
 * append in the middle of another's records.
 */
static void
load(struct ftsindex *fi)
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
	load(fi);
	return fi;
}

static void compaction_free(struct ftsindex *);

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
			load(fi);
	} else {
		close(fd);
		if (!fi->snap_seen || sb.st_dev != fi->snapdev ||
		    sb.st_ino != fi->snapino) {
			load(fi);
			return;
		}
	}
	nrec = fi->nrec;
	if ((fd = open_file(fi, FI_LOG, &sb)) == -1) {
		if (fi->log_seen)
			load(fi);
		return;
	}
	if (!fi->log_seen || sb.st_dev != fi->logdev ||
	    sb.st_ino != fi->logino || (fi->have_log &&
	    (uint64_t)sb.st_size < fi->jmap.len)) {
		close(fd);
		load(fi);
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

/* The covered range holding uid, or -1. */
static long
cov_find(const struct ftsindex *fi, uint32_t uid)
{
	size_t lo = 0, hi = fi->ncov, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (fi->cov[mid].last < uid)
			lo = mid + 1;
		else if (fi->cov[mid].first > uid)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
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

/* The segments of the index, the snapshot first. */
static size_t
nsegs(const struct ftsindex *fi)
{
	return (fi->have_snap ? 1 : 0) + fi->nrec;
}

static const struct seg *
segment(const struct ftsindex *fi, size_t i)
{
	if (fi->have_snap) {
		if (i == 0)
			return &fi->sseg;
		i--;
	}
	return &fi->recs[i];
}

static void
seen_damage(struct ftsindex *fi, const struct seg *s)
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

	for (i = 0; i < nsegs(fi); i++) {
		s = segment(fi, i);
		if ((k = seg_find(s, key)) < 0)
			continue;
		if (seg_list(s, (size_t)k, &p, &len) == -1 ||
		    list_bits(p, len, limit, bits) == -1) {
			seen_damage(fi, s);
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
		for (j = 0; j < nsegs(fi); j++)
			if ((k = seg_find(segment(fi, j), keys[i])) >= 0)
				kc[i].bytes += seg_list_len(segment(fi, j),
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

/* ---- batches -------------------------------------------------------- */

struct ftsindex_batch *
ftsindex_batch_new(void)
{
	return calloc(1, sizeof(struct ftsindex_batch));
}

void
ftsindex_batch_shrink(struct ftsindex_batch *b)
{
	ngram_free(b->ng);
	b->ng = NULL;
	if (b->n == 0) {
		free(b->pairs);
		b->pairs = NULL;
		b->cap = 0;
	}
}

void
ftsindex_batch_free(struct ftsindex_batch *b)
{
	if (b == NULL)
		return;
	ngram_free(b->ng);
	free(b->pairs);
	free(b->cov);
	free(b);
}

static void
batch_empty(struct ftsindex_batch *b)
{
	b->n = 0;
	b->ncov = 0;
	b->nmsg = 0;
	free(b->pairs);
	b->pairs = NULL;
	b->cap = 0;
}

static int
text_cb(void *arg, unsigned what, const char *text, size_t len)
{
	struct ngram *ng = arg;

	if (what & MESSAGE_TEXT_START)
		ngram_unit(ng, (what & MESSAGE_TEXT_BODY) ? NGRAM_BODY :
		    NGRAM_HEADER);
	return ngram_feed(ng, text, len);
}

int
ftsindex_batch_add(struct ftsindex_batch *b, uint32_t uid,
    struct message *m)
{
	const uint32_t *k;
	uint64_t *np;
	size_t n, i, cap;

	if (uid == 0 || uid >= UID_LIMIT) {
		errno = EINVAL;
		return -1;
	}
	if (b->ng == NULL && (b->ng = ngram_new()) == NULL)
		return -1;
	ngram_clear(b->ng);
	if (message_text(m, text_cb, b->ng) != 0) {
		if (errno == 0)
			errno = ENOMEM;
		return -1;
	}
	n = ngram_count(b->ng);
	k = ngram_keys(b->ng);
	if (b->n + n > b->cap) {
		cap = b->cap ? b->cap : 64 * 1024;
		while (cap < b->n + n)
			cap *= 2;
		if ((np = reallocarray(b->pairs, cap, sizeof(*np))) == NULL)
			return -1;
		b->pairs = np;
		b->cap = cap;
	}
	for (i = 0; i < n; i++)
		b->pairs[b->n++] = (uint64_t)k[i] << 32 | uid;
	b->nmsg++;
	return 0;
}

int
ftsindex_batch_cover(struct ftsindex_batch *b, uint32_t first,
    uint32_t last)
{
	struct range *nr;
	size_t cap;

	if (first == 0 || first > last || last >= UID_LIMIT) {
		errno = EINVAL;
		return -1;
	}
	if (b->ncov > 0 && b->cov[b->ncov - 1].last + 1 == first) {
		b->cov[b->ncov - 1].last = last;
		return 0;
	}
	if (b->ncov == b->capcov) {
		cap = b->capcov ? b->capcov * 2 : 16;
		if ((nr = reallocarray(b->cov, cap, sizeof(*nr))) == NULL)
			return -1;
		b->cov = nr;
		b->capcov = cap;
	}
	b->cov[b->ncov].first = first;
	b->cov[b->ncov].last = last;
	b->ncov++;
	return 0;
}

size_t
ftsindex_batch_bytes(const struct ftsindex_batch *b)
{
	return b->n * sizeof(*b->pairs) + b->ncov * sizeof(*b->cov);
}

size_t
ftsindex_batch_count(const struct ftsindex_batch *b)
{
	return b->nmsg;
}

/* Sort 64-bit values: least significant 16 bits first, skipping the
 * digits every value shares.  -1 when memory runs out. */
static int
sort64(uint64_t *v, size_t n)
{
	uint64_t *tmp, *src = v, *dst, *t, and = ~0ULL, or = 0;
	size_t *count, i, sum, c;
	unsigned shift;

	if (n < 2)
		return 0;
	for (i = 0; i < n; i++) {
		and &= v[i];
		or |= v[i];
	}
	if ((tmp = malloc(n * sizeof(*tmp))) == NULL)
		return -1;
	if ((count = malloc(65536 * sizeof(*count))) == NULL) {
		free(tmp);
		return -1;
	}
	dst = tmp;
	for (shift = 0; shift < 64; shift += 16) {
		if ((((and ^ or) >> shift) & 0xffff) == 0)
			continue;
		memset(count, 0, 65536 * sizeof(*count));
		for (i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xffff]++;
		for (sum = 0, i = 0; i < 65536; i++) {
			c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(count);
	free(tmp);
	return 0;
}

/* The batch as a journal record, into out. */
static int
record_build(struct ftsindex_batch *b, struct buf *out)
{
	struct buf post, dir;
	uint32_t *uids = NULL, key;
	size_t i, j, nu, k = 0, cap = 0, r;
	unsigned char *h, *p;
	int ret = -1;

	buf_init(&post, REC_MAX);
	buf_init(&dir, REC_MAX);
	if (sort64(b->pairs, b->n) == -1)
		goto out;
	r = ranges_join(b->cov, b->ncov);
	for (i = 0; i < r; i++) {
		unsigned char e[8];

		le32_put(e, b->cov[i].first);
		le32_put(e + 4, b->cov[i].last);
		if (buf_add(&dir, e, 8) == -1)
			goto out;
	}
	/* keys, then ends: two passes over the groups */
	for (i = 0; i < b->n; i = j) {
		unsigned char e[4];

		key = (uint32_t)(b->pairs[i] >> 32);
		for (j = i; j < b->n && (uint32_t)(b->pairs[j] >> 32) == key;
		    j++)
			;
		le32_put(e, key);
		if (buf_add(&dir, e, 4) == -1)
			goto out;
		k++;
	}
	for (i = 0; i < b->n; i = j) {
		unsigned char e[8];

		key = (uint32_t)(b->pairs[i] >> 32);
		for (nu = 0, j = i; j < b->n &&
		    (uint32_t)(b->pairs[j] >> 32) == key; j++) {
			if (nu == cap) {
				uint32_t *nv;

				cap = cap ? cap * 2 : 1024;
				if ((nv = reallocarray(uids, cap,
				    sizeof(*nv))) == NULL)
					goto out;
				uids = nv;
			}
			if (nu == 0 || uids[nu - 1] != (uint32_t)b->pairs[j])
				uids[nu++] = (uint32_t)b->pairs[j];
		}
		if (list_encode(uids, nu, &post) == -1)
			goto out;
		le64_put(e, post.len);
		if (buf_add(&dir, e, 8) == -1)
			goto out;
	}
	if ((uint64_t)16 + post.len + dir.len > REC_MAX) {
		errno = E2BIG;
		goto out;
	}
	buf_reset(out);
	if (buf_reserve(out, REC_HEAD + 16 + post.len + dir.len) == -1)
		goto out;
	h = (unsigned char *)out->data;
	le32_put(h, REC_MAGIC);
	le32_put(h + 4, (uint32_t)(16 + post.len + dir.len));
	p = h + REC_HEAD;
	le32_put(p, (uint32_t)r);
	le32_put(p + 4, (uint32_t)k);
	le64_put(p + 8, post.len);
	/* a batch of messages without text has no lists at all */
	if (post.len > 0)
		memcpy(p + 16, post.data, post.len);
	if (dir.len > 0)
		memcpy(p + 16 + post.len, dir.data, dir.len);
	out->len = REC_HEAD + 16 + post.len + dir.len;
	le32_put(h + 8, record_crc(h, (uint32_t)(16 + post.len + dir.len)));
	ret = 0;
out:
	free(uids);
	buf_free(&post);
	buf_free(&dir);
	return ret;
}

/* ---- writing -------------------------------------------------------- */

static void
step(int n)
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

	if (path(p, fi->dir, FI_LOCK, "") == -1 ||
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

/*
 * The write lock, in the directory the handle was opened on: once the
 * folder was deleted or renamed and another took its name, a session
 * still holding the old one must not write its messages' postings into
 * the newcomer's index (ESTALE).
 */
static int
lock(struct ftsindex *fi)
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

static void
unlock(struct ftsindex *fi)
{
	/* closing the descriptor drops the lock */
	if (fi->lockfd != -1)
		close(fi->lockfd);
	fi->lockfd = -1;
}

static int
sync_dir(const struct ftsindex *fi)
{
	int fd, r;

	if ((fd = open(fi->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* Write data to name.new, sync it and rename it to name. */
static int
replace(const struct ftsindex *fi, const char *name, const void *data,
    size_t len)
{
	char tmp[FI_PATH], dst[FI_PATH];
	int fd;

	if (path(tmp, fi->dir, name, ".new") == -1 ||
	    path(dst, fi->dir, name, "") == -1)
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
	return sync_dir(fi);
}

static int
new_journal(const struct ftsindex *fi, uint64_t gen)
{
	unsigned char h[LOG_HEAD];

	memset(h, 0, sizeof(h));
	le32_put(h, LOG_MAGIC);
	le32_put(h + 4, FI_VERSION);
	le64_put(h + 8, gen);
	le32_put(h + 16, fi->uidv);
	le32_put(h + 20, text_version());
	le32_put(h + 28, crc(h, 28));
	return replace(fi, FI_LOG, h, sizeof(h));
}

/* Move a file aside as name.damaged (or remove it). */
static void
set_aside(const struct ftsindex *fi, const char *name, int keep)
{
	char from[FI_PATH], to[FI_PATH];

	if (path(from, fi->dir, name, "") == -1 ||
	    path(to, fi->dir, name, ".damaged") == -1)
		return;
	if (!keep || rename(from, to) == -1)
		(void)unlink(from);
}

/*
 * Under the lock: the files as they are, made fit to append to.  A
 * snapshot that is not ours goes (aside, if damaged), and so does a
 * journal that does not extend the snapshot.  0 or -1.
 */
static int
writable(struct ftsindex *fi)
{
	ftsindex_refresh(fi);
	if (fi->snap_seen && !fi->have_snap) {
		set_aside(fi, FI_SNAP, fi->damaged == 1);
		set_aside(fi, FI_LOG, 0);
		fi->damaged = 0;
		load(fi);
	}
	if (fi->damaged == 2) {
		set_aside(fi, FI_LOG, 1);
		fi->damaged = 0;
		load(fi);
	}
	if (!fi->have_log) {
		if (new_journal(fi, fi->have_snap ? fi->gen : 0) == -1)
			return -1;
		load(fi);
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
	if (lock(fi) == -1) {
		if (errno == EAGAIN)
			return -1;
		batch_empty(b);
		return -1;
	}
	buf_init(&rec, REC_HEAD + REC_MAX);
	if (writable(fi) == -1 || record_build(b, &rec) == -1 ||
	    path(p, fi->dir, FI_LOG, "") == -1)
		goto fail;
	if ((fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		goto fail;
	step(FTSINDEX_STEP_APPEND);
	n = pwrite(fd, rec.data, rec.len, (off_t)fi->jgood);
	saved = errno;
	close(fd);
	if (n != (ssize_t)rec.len) {
		errno = n == -1 ? saved : ENOSPC;
		goto fail;
	}
	step(FTSINDEX_STEP_APPENDED);
	buf_free(&rec);
	batch_empty(b);
	unlock(fi);
	ftsindex_refresh(fi);
	return 0;
fail:
	saved = errno;
	buf_free(&rec);
	batch_empty(b);
	unlock(fi);
	load(fi);
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
	if (lock(fi) == -1)
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
	unlock(fi);
	load(fi);
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

	if (seg_list(s, i, &p, &len) == -1 || (bound = list_bound(p, len)) ==
	    0)
		return 0;
	if ((uids = calloc(bound, sizeof(*uids))) == NULL)
		return -1;
	n = list_uids(p, len, uids);
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
	for (i = 0; i < nsegs(fi); i++) {
		s = segment(fi, i);
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
	if (lock(fi) == -1)
		return -1;
	set_aside(fi, FI_SNAP, 0);
	set_aside(fi, FI_LOG, 0);
	fi->damaged = 0;
	unlock(fi);
	load(fi);
	return 0;
}

/* ---- compaction ------------------------------------------------------ */

int
ftsindex_compact_due(const struct ftsindex *fi)
{
	uint64_t j = fi->have_log ? fi->jgood - LOG_HEAD : 0;

	if (fi->damaged || fi->cp != NULL)
		return 0;
	return fi->nrec > RECORDS_MAX || (j > JOURNAL_MIN &&
	    j > (fi->have_snap ? fi->snap.len : 0));
}

int
ftsindex_compacting(const struct ftsindex *fi)
{
	return fi->cp != NULL;
}

static void
compaction_free(struct ftsindex *fi)
{
	struct compaction *cp = fi->cp;
	char p[FI_PATH];

	if (cp == NULL)
		return;
	if (cp->fd != -1) {
		close(cp->fd);
		if (path(p, fi->dir, FI_SNAP, ".new") == 0)
			(void)unlink(p);
	}
	free(cp->seg);
	free(cp->at);
	free(cp->lp);
	free(cp->llen);
	free(cp->live);
	buf_free(&cp->out);
	free(cp->keys);
	free(cp->ends);
	free(cp->crcs);
	free(cp->uids);
	free(cp);
	fi->cp = NULL;
}

void
ftsindex_compact_abort(struct ftsindex *fi)
{
	if (fi->cp == NULL)
		return;
	compaction_free(fi);
	unlock(fi);
}

int
ftsindex_compact_begin(struct ftsindex *fi, const uint64_t *live,
    uint32_t floor)
{
	struct compaction *cp;
	char p[FI_PATH];
	size_t words = ((size_t)floor + 63) / 64, i;
	int saved;

	if (lock(fi) == -1)
		return -1;
	if (writable(fi) == -1) {
		saved = errno;
		unlock(fi);
		errno = saved;
		return -1;
	}
	if ((cp = calloc(1, sizeof(*cp))) == NULL) {
		unlock(fi);
		return -1;
	}
	fi->cp = cp;
	cp->fd = -1;
	buf_init(&cp->out, 4 * OUT_FLUSH);
	cp->floor = floor;
	if ((cp->live = malloc((words ? words : 1) * sizeof(*live))) == NULL)
		goto fail;
	memcpy(cp->live, live, words * sizeof(*live));
	/* the handle's own segments: nothing changes them while it holds
	 * the lock, and it keeps answering searches meanwhile */
	cp->nseg = nsegs(fi);
	cp->with_snap = fi->have_snap;
	cp->prevgen = fi->have_snap ? fi->gen : 0;
	if ((cp->seg = calloc(cp->nseg + 1, sizeof(*cp->seg))) == NULL ||
	    (cp->at = calloc(cp->nseg + 1, sizeof(*cp->at))) == NULL ||
	    (cp->lp = calloc(cp->nseg + 1, sizeof(*cp->lp))) == NULL ||
	    (cp->llen = calloc(cp->nseg + 1, sizeof(*cp->llen))) == NULL)
		goto fail;
	for (i = 0; i < cp->nseg; i++)
		cp->seg[i] = *segment(fi, i);
	if (getrandom(&cp->gen, sizeof(cp->gen), 0) != sizeof(cp->gen))
		goto fail;
	if (cp->gen == 0)
		cp->gen = 1;
	if (path(p, fi->dir, FI_SNAP, ".new") == -1 ||
	    (cp->fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	ftsindex_compact_abort(fi);
	errno = saved;
	return -1;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
out_flush(struct compaction *cp)
{
	ssize_t n;

	if (cp->out.len == 0)
		return 0;
	n = pwrite(cp->fd, cp->out.data, cp->out.len,
	    (off_t)(SNAP_HEAD + cp->written));
	if (n != (ssize_t)cp->out.len) {
		if (n >= 0)
			errno = ENOSPC;
		return -1;
	}
	cp->written += cp->out.len;
	buf_reset(&cp->out);
	/* start the writeback now, so that the final sync is short */
	if (cp->written - cp->synced >= WRITEBACK) {
		(void)sync_file_range(cp->fd, (off_t)(SNAP_HEAD + cp->synced),
		    (off_t)(cp->written - cp->synced),
		    SYNC_FILE_RANGE_WRITE);
		cp->synced = cp->written;
	}
	return 0;
}

static int
grow_keys(struct compaction *cp)
{
	size_t cap = cp->capk ? cp->capk * 2 : 4096;
	uint32_t *k, *c;
	uint64_t *e;

	if ((k = reallocarray(cp->keys, cap, sizeof(*k))) == NULL)
		return -1;
	cp->keys = k;
	if ((e = reallocarray(cp->ends, cap, sizeof(*e))) == NULL)
		return -1;
	cp->ends = e;
	if ((c = reallocarray(cp->crcs, cap, sizeof(*c))) == NULL)
		return -1;
	cp->crcs = c;
	cp->capk = cap;
	return 0;
}

/* Merge the lists of the smallest key left.  1 merged one, 0 none left,
 * -1 error (errno; EBADMSG for damage, *bad_r the segment). */
static int
merge_one(struct compaction *cp, size_t *bad_r)
{
	uint64_t need = 0;
	uint32_t key = 0, k, *nv;
	size_t i, start, out;
	long got;
	int found = 0, sorted = 1;

	for (i = 0; i < cp->nseg; i++) {
		if (cp->at[i] >= cp->seg[i].k)
			continue;
		k = le32_get(cp->seg[i].keys + 4 * (size_t)cp->at[i]);
		if (!found || k < key)
			key = k;
		found = 1;
	}
	if (!found)
		return 0;
	for (i = 0; i < cp->nseg; i++) {
		cp->lp[i] = NULL;
		if (cp->at[i] >= cp->seg[i].k || le32_get(cp->seg[i].keys +
		    4 * (size_t)cp->at[i]) != key)
			continue;
		if (seg_list(&cp->seg[i], cp->at[i], &cp->lp[i],
		    &cp->llen[i]) == -1) {
			*bad_r = i;
			errno = EBADMSG;
			return -1;
		}
		cp->at[i]++;
		need += list_bound(cp->lp[i], cp->llen[i]);
	}
	if (need > cp->capuids) {
		if (need >= UID_LIMIT || (nv = reallocarray(cp->uids,
		    (size_t)need, sizeof(*nv))) == NULL)
			return -1;
		cp->uids = nv;
		cp->capuids = (size_t)need;
	}
	cp->nuids = 0;
	for (i = 0; i < cp->nseg; i++) {
		if (cp->lp[i] == NULL)
			continue;
		start = cp->nuids;
		if ((got = list_uids(cp->lp[i], cp->llen[i], cp->uids +
		    cp->nuids)) == -1) {
			*bad_r = i;
			errno = EBADMSG;
			return -1;
		}
		cp->nuids += (size_t)got;
		if (start > 0 && cp->nuids > start &&
		    cp->uids[start] <= cp->uids[start - 1])
			sorted = 0;
	}
	if (!sorted)
		qsort(cp->uids, cp->nuids, sizeof(*cp->uids), u32_cmp);
	/* drop repeats and the expunged */
	for (out = 0, i = 0; i < cp->nuids; i++) {
		uint32_t u = cp->uids[i];

		if (out > 0 && cp->uids[out - 1] == u)
			continue;
		if (u < cp->floor && !(cp->live[u / 64] & (1ULL << (u % 64))))
			continue;
		cp->uids[out++] = u;
	}
	if (out == 0)
		return 1;
	start = cp->out.len;
	if (list_encode(cp->uids, out, &cp->out) == -1)
		return -1;
	if (cp->nk == cp->capk && grow_keys(cp) == -1)
		return -1;
	cp->keys[cp->nk] = key;
	cp->crcs[cp->nk] = crc((const unsigned char *)cp->out.data + start,
	    cp->out.len - start);
	cp->total += cp->out.len - start;
	cp->ends[cp->nk++] = cp->total;
	if (cp->out.len >= OUT_FLUSH && out_flush(cp) == -1)
		return -1;
	return 1;
}

/* Whether the view has a message between a and b (exclusive). */
static int
live_between(const struct compaction *cp, uint32_t a, uint32_t b)
{
	uint32_t u;

	for (u = a + 1; u < b; u++)
		if (u >= cp->floor || (cp->live[u / 64] & (1ULL << (u % 64))))
			return 1;
	return 0;
}

/* The new snapshot's ranges: the segments', joined where nothing alive
 * lies between.  The count, or -1. */
static long
final_ranges(struct compaction *cp, struct range **r_r)
{
	struct range *v = NULL;
	size_t n = 0, cap = 0, i, out;

	for (i = 0; i < cp->nseg; i++)
		if (cov_add_seg(&v, &n, &cap, &cp->seg[i]) == -1) {
			free(v);
			return -1;
		}
	n = ranges_join(v, n);
	for (out = 0, i = 1; i < n; i++) {
		if (v[i].first <= cp->floor && v[out].last < cp->floor &&
		    !live_between(cp, v[out].last, v[i].first))
			v[out].last = v[i].last;
		else
			v[++out] = v[i];
	}
	*r_r = v;
	return n > 0 ? (long)out + 1 : 0;
}

/* Write the directory and the header, sync, and put the files in
 * place. */
static int
compact_finish(struct ftsindex *fi)
{
	struct compaction *cp = fi->cp;
	unsigned char h[SNAP_HEAD];
	struct range *rv = NULL;
	struct buf dir;
	char from[FI_PATH], to[FI_PATH];
	long nr;
	size_t i;
	int ret = -1;

	buf_init(&dir, (size_t)1 << 40);
	if (out_flush(cp) == -1 || (nr = final_ranges(cp, &rv)) < 0)
		goto out;
	if (buf_reserve(&dir, 8 * (size_t)nr + 16 * cp->nk) == -1)
		goto out;
	for (i = 0; i < (size_t)nr; i++) {
		le32_put((unsigned char *)dir.data + dir.len, rv[i].first);
		le32_put((unsigned char *)dir.data + dir.len + 4, rv[i].last);
		dir.len += 8;
	}
	for (i = 0; i < cp->nk; i++, dir.len += 4)
		le32_put((unsigned char *)dir.data + dir.len, cp->keys[i]);
	for (i = 0; i < cp->nk; i++, dir.len += 8)
		le64_put((unsigned char *)dir.data + dir.len, cp->ends[i]);
	for (i = 0; i < cp->nk; i++, dir.len += 4)
		le32_put((unsigned char *)dir.data + dir.len, cp->crcs[i]);
	memset(h, 0, sizeof(h));
	le32_put(h, SNAP_MAGIC);
	le32_put(h + 4, FI_VERSION);
	le32_put(h + 8, text_version());
	le32_put(h + 12, fi->uidv);
	le64_put(h + 16, cp->gen);
	le64_put(h + 24, cp->prevgen);
	le64_put(h + 32, cp->total);
	le32_put(h + 40, (uint32_t)nr);
	le32_put(h + 44, (uint32_t)cp->nk);
	le32_put(h + 48, crc((const unsigned char *)dir.data, dir.len));
	le32_put(h + 60, crc(h, 60));
	if (pwrite(cp->fd, dir.data, dir.len, (off_t)(SNAP_HEAD +
	    cp->total)) != (ssize_t)dir.len || pwrite(cp->fd, h, sizeof(h), 0)
	    != (ssize_t)sizeof(h) || fdatasync(cp->fd) == -1) {
		if (errno == 0)
			errno = ENOSPC;
		goto out;
	}
	step(FTSINDEX_STEP_SNAP_WRITTEN);
	if (path(from, fi->dir, FI_SNAP, ".new") == -1 ||
	    path(to, fi->dir, FI_SNAP, "") == -1 || rename(from, to) == -1)
		goto out;
	close(cp->fd);
	cp->fd = -1;
	if (sync_dir(fi) == -1)
		goto out;
	step(FTSINDEX_STEP_SNAP_RENAMED);
	if (new_journal(fi, cp->gen) == -1)
		goto out;
	step(FTSINDEX_STEP_JOURNAL_RENAMED);
	ret = 0;
out:
	free(rv);
	buf_free(&dir);
	return ret;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ftsindex_compact_step(struct ftsindex *fi, int budget_ms)
{
	long long end = now_ms() + budget_ms;
	size_t bad = 0;
	int r = 1, n, saved;

	if (fi->cp == NULL)
		return 1;
	do {
		for (n = 0; n < 64 && (r = merge_one(fi->cp, &bad)) == 1; n++)
			;
	} while (r == 1 && now_ms() < end);
	if (r == 1)
		return 0;
	if (r == 0 && compact_finish(fi) == 0) {
		compaction_free(fi);
		unlock(fi);
		load(fi);
		return 1;
	}
	saved = errno;
	if (r == -1 && saved == EBADMSG)
		seen_damage(fi, &fi->cp->seg[bad]);
	ftsindex_compact_abort(fi);
	errno = saved;
	return -1;
}
