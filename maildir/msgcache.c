/*
 * msgcache: the per-folder cache of ENVELOPE, BODY, BODYSTRUCTURE and
 * PREVIEW.  See msgcache.h.
 *
 * Files, beside the folder's cur/:
 *
 *   imapd-msgcache.cdb   snapshot, a cdb(5) file:
 *                          key "H": "IMSC", u32 version 4, u32 UIDVALIDITY
 *                          key <u32 UID>: a value (below)
 *   imapd-msgcache.log   records appended since the snapshot, each
 *                          u32 "IMC5", u32 payload length, u32 CRC-32 of
 *                          the payload's first 12 bytes (UID,
 *                          UIDVALIDITY and the value's own CRC, which
 *                          covers the rest), then the payload: u32 UID,
 *                          u32 UIDVALIDITY, a value
 *   imapd-msgcache.lock  flock(2)ed by the process compacting
 *
 *   value = u32 CRC-32 of the UID (4 bytes) and the rest of the value,
 *           u32 envelope length, u32 body length, u32 bodystructure
 *           length, u32 envelope facts (message_envelope_exact()), u32
 *           preview length, then those bytes; a length of 0 means not
 *           cached.  The preview's bytes are "P" and its text, so that
 *           an empty preview (a message with no text to show) is told
 *           from one not computed yet.
 *           The CRC is checked at every use: a damaged snapshot is
 *           never believed, only ignored.
 *
 * All numbers little-endian.  Version 2 had no envelope facts and
 * version 3 no preview; their files are not ours, so they are simply
 * rebuilt: another version's snapshot is
 * ignored (and counts as empty for when to compact), and a log that
 * starts with another magic is emptied at the next append.
 *
 * Sessions map both files (the pages are shared between processes) and
 * never lock to read.  A record is appended with one write(2) on an
 * O_APPEND descriptor, so concurrent writers never interleave; a torn or
 * foreign record (bad magic, CRC or UIDVALIDITY) ends what a reader takes
 * from the log.  Compaction, by
 * whoever finds the log large and gets the lock without waiting, writes
 * a new snapshot with the snapshot's and the log's entries for live UIDs,
 * renames it into place and empties the log.  A record appended between
 * the compactor's read and its truncation is lost: it will simply be
 * computed again.  Nothing here is fsync'ed, for the same reason.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/buf.h"
#include "common/lib/le.h"
#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "maildir/msgcache.h"

#define MC_CDB		"imapd-msgcache.cdb"
#define MC_LOG		"imapd-msgcache.log"
#define MC_LOCK		"imapd-msgcache.lock"
#define MC_MAGIC	0x35434d49U	/* "IMC5" */
#define MC_VERSION	4
#define MC_HEAD		24		/* CRC, three lengths, facts,
					 * preview length */
#define MC_VALUE_MAX	(16U * 1024 * 1024)
#define MC_COMPACT_MIN	(1024 * 1024)
#define MC_PATH		4096

struct slot {
	uint32_t	uid;		/* 0 = empty */
	uint8_t		pending;	/* in pend rather than the log map */
	size_t		off;		/* offset of the value */
	size_t		len;
};

struct msgcache {
	char		*dir;
	uint32_t	 uidv;
	int		 cdbfd;
	struct mapfile	 cdbview;	/* the snapshot's bytes, for cdb */
	struct cdb	 cdb;
	int		 have_cdb;
	off_t		 cdbsize;
	char		*logmap;	/* the log as far as mapped (or read,
					 * where mappings are unsafe) */
	int		 logmapped;	/* logmap is a mapping */
	size_t		 loglen;
	size_t		 logidx;	/* bytes of it indexed */
	dev_t		 logdev;
	ino_t		 logino;
	struct slot	*tab;		/* log and pending entries by UID */
	size_t		 ntab, captab;
	struct buf	 pend;		/* records put by this process */
	size_t		 written;	/* bytes of pend already on disk */
	/* the last append: own_len bytes of pend from own_pend, written to
	 * the log at own_log (own_len 0: none known) */
	size_t		 own_log, own_pend, own_len;
};

static int
path(char *out, const char *dir, const char *name)
{
	if (snprintf(out, MC_PATH, "%s/%s", dir, name) >= MC_PATH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* A value is a CRC, three lengths, the facts, a fourth length and the
 * bytes the lengths count. */
static int
value_ok(uint32_t uid, const unsigned char *v, size_t len)
{
	unsigned char u[4];
	uint64_t want;
	uLong crc;

	if (len < MC_HEAD)
		return 0;
	want = MC_HEAD + (uint64_t)le32_get(v + 4) + le32_get(v + 8) +
	    le32_get(v + 12) + le32_get(v + 20);
	if (want != len)
		return 0;
	le32_put(u, uid);
	crc = crc32(crc32(0, u, 4), v + 4, (uInt)(len - 4));
	return (uint32_t)crc == le32_get(v);
}

static void
value_rec(const unsigned char *v, struct msgcache_rec *r)
{
	size_t a = le32_get(v + 4), b = le32_get(v + 8), c = le32_get(v + 12);
	size_t d = le32_get(v + 20);

	r->envelope = (const char *)v + MC_HEAD;
	r->envelope_len = a;
	r->envelope_exact = le32_get(v + 16);
	r->body = r->envelope + a;
	r->body_len = b;
	r->bodystructure = r->body + b;
	r->bodystructure_len = c;
	/* "P" and the text */
	r->preview = d > 0 ? r->bodystructure + c + 1 : NULL;
	r->preview_len = d > 0 ? d - 1 : 0;
}

static struct slot *
slot_find(struct msgcache *mc, uint32_t uid, int add)
{
	size_t i, mask;
	struct slot *t;

	if (add && (mc->ntab + 1) * 2 > mc->captab) {
		size_t cap = mc->captab ? mc->captab * 2 : 256, k;

		if ((t = calloc(cap, sizeof(*t))) == NULL)
			return NULL;
		for (k = 0; k < mc->captab; k++) {
			if (mc->tab[k].uid == 0)
				continue;
			for (i = (mc->tab[k].uid * 2654435761U) & (cap - 1);
			    t[i].uid != 0; i = (i + 1) & (cap - 1))
				;
			t[i] = mc->tab[k];
		}
		free(mc->tab);
		mc->tab = t;
		mc->captab = cap;
	}
	if (mc->captab == 0)
		return NULL;
	mask = mc->captab - 1;
	for (i = (uid * 2654435761U) & mask; mc->tab[i].uid != 0;
	    i = (i + 1) & mask)
		if (mc->tab[i].uid == uid)
			return &mc->tab[i];
	if (!add)
		return NULL;
	mc->tab[i].uid = uid;
	mc->ntab++;
	return &mc->tab[i];
}

/* Whether the n bytes of the log at off are a record this process
 * appended last, byte for byte: its CRCs were computed when it was put,
 * and comparing costs a fraction of computing them again. */
static int
own_record(const struct msgcache *mc, size_t off, size_t n)
{
	size_t k = off - mc->own_log;

	return mc->own_len > 0 && off >= mc->own_log && k <= mc->own_len &&
	    n <= mc->own_len - k && memcmp(mc->logmap + off,
	    mc->pend.data + mc->own_pend + k, n) == 0;
}

/* Index the log's records; stop at the first one that is not whole. */
static void
index_log(struct msgcache *mc)
{
	const unsigned char *p = (const unsigned char *)mc->logmap;
	size_t off = mc->logidx, len;
	struct slot *s;

	while (mc->loglen - off >= 12) {
		len = le32_get(p + off + 4);
		if (le32_get(p + off) != MC_MAGIC || len < 8 + MC_HEAD ||
		    len > MC_VALUE_MAX || len > mc->loglen - off - 12)
			break;
		if (!own_record(mc, off, 12 + len) &&
		    (crc32(0, p + off + 12, 12) != le32_get(p + off + 8) ||
		    le32_get(p + off + 16) != mc->uidv ||
		    !value_ok(le32_get(p + off + 12), p + off + 20, len - 8)))
			break;
		if ((s = slot_find(mc, le32_get(p + off + 12), 1)) == NULL)
			break;
		s->pending = 0;
		s->off = off + 20;
		s->len = len - 8;
		off += 12 + len;
	}
	mc->logidx = off;
}

static void
unmap_log(struct msgcache *mc)
{
	if (mc->logmap != NULL && mc->logmapped)
		munmap(mc->logmap, mc->loglen);
	else
		free(mc->logmap);
	mc->logmap = NULL;
	mc->loglen = mc->logidx = 0;
	free(mc->tab);
	mc->tab = NULL;
	mc->ntab = mc->captab = 0;
}

static void
unmap(struct msgcache *mc)
{
	if (mc->have_cdb)
		mapfile_close(&mc->cdbview);
	mc->have_cdb = 0;
	if (mc->cdbfd != -1)
		close(mc->cdbfd);
	mc->cdbfd = -1;
	unmap_log(mc);
}

/* The log where it cannot be mapped: read the bytes from loglen to
 * size onto what was read before (a log only grows until it is
 * replaced, which unmap_log() has dealt with).  0 or -1. */
static int
read_log_tail(struct msgcache *mc, int fd, size_t size)
{
	char *p;
	size_t got = mc->loglen, n;

	if (size < got || (mc->logmap != NULL && mc->logmapped)) {
		errno = EINVAL;
		return -1;
	}
	if ((p = realloc(mc->logmap, size)) == NULL)
		return -1;
	mc->logmap = p;
	mc->logmapped = 0;
	/* cut short meanwhile, or unreadable: take what is there */
	(void)mapfile_pread(fd, p + got, size - got, (off_t)got, &n);
	mc->loglen = got + n;
	return 0;
}

/* Map the log and index what is new in it.  The same file grown longer
 * is only indexed from where we stopped, so appending is not quadratic;
 * another file (compacted and emptied meanwhile) is indexed anew. */
static void
load_log(struct msgcache *mc)
{
	char p[MC_PATH];
	struct stat sb;
	char *map;
	int fd;

	if (path(p, mc->dir, MC_LOG) == -1 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		unmap_log(mc);
		return;
	}
	if (fstat(fd, &sb) == -1 || sb.st_size <= 0 ||
	    (uint64_t)sb.st_size >= SIZE_MAX) {
		close(fd);
		unmap_log(mc);
		return;
	}
	if (mc->logmap != NULL && (sb.st_dev != mc->logdev ||
	    sb.st_ino != mc->logino || (size_t)sb.st_size < mc->logidx))
		unmap_log(mc);
	if ((size_t)sb.st_size != mc->loglen &&
	    (mc->logmap == NULL || mc->logmapped) && mapfile_should_map(fd)) {
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED,
		    fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			unmap_log(mc);
			return;
		}
		if (mc->logmap != NULL)
			munmap(mc->logmap, mc->loglen);
		mc->logmap = map;
		mc->logmapped = 1;
		mc->loglen = (size_t)sb.st_size;
	} else if ((size_t)sb.st_size != mc->loglen) {
		/* read, where a mapping is unsafe: only what is new */
		if (read_log_tail(mc, fd, (size_t)sb.st_size) == -1) {
			close(fd);
			unmap_log(mc);
			return;
		}
	}
	mc->logdev = sb.st_dev;
	mc->logino = sb.st_ino;
	close(fd);
	index_log(mc);
}

/* View the snapshot, if it is a cdb of ours; 1 if so. */
static int
load_cdb(struct msgcache *mc, int fd)
{
	unsigned char h[12];
	struct stat sb;

	if (fstat(fd, &sb) == -1 || sb.st_size < 2048 ||
	    mapfile_open(fd, (size_t)sb.st_size, 0, &mc->cdbview) == -1)
		return 0;
	if (mapfile_cdb(&mc->cdbview, &mc->cdb) == -1 ||
	    cdb_find(&mc->cdb, "H", 1) <= 0 ||
	    cdb_datalen(&mc->cdb) != 12 ||
	    cdb_read(&mc->cdb, h, 12, cdb_datapos(&mc->cdb)) != 0 ||
	    le32_get(h) != 0x43534d49U || le32_get(h + 4) != MC_VERSION ||
	    le32_get(h + 8) != mc->uidv) {
		/* another UIDVALIDITY's, or not ours */
		mapfile_close(&mc->cdbview);
		return 0;
	}
	mc->cdbsize = sb.st_size;
	return 1;
}

/* View the snapshot (if it is ours) and the log. */
static void
load(struct msgcache *mc)
{
	char p[MC_PATH];
	int fd;

	if (path(p, mc->dir, MC_CDB) == 0 &&
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
		if (load_cdb(mc, fd)) {
			mc->have_cdb = 1;
			mc->cdbfd = fd;
		} else
			close(fd);
	}
	load_log(mc);
}

struct msgcache *
msgcache_open(const char *dir, uint32_t uidvalidity)
{
	struct msgcache *mc;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return NULL;
	if ((mc->dir = strdup(dir)) == NULL) {
		free(mc);
		return NULL;
	}
	mc->uidv = uidvalidity;
	mc->cdbfd = -1;
	buf_init(&mc->pend, 64 * 1024 * 1024);
	load(mc);
	return mc;
}

int
msgcache_get(struct msgcache *mc, uint32_t uid, struct msgcache_rec *r)
{
	unsigned char key[4];
	const unsigned char *v;
	struct slot *s;
	unsigned len;

	if (mc == NULL)
		return 0;
	if ((s = slot_find(mc, uid, 0)) != NULL) {
		v = (const unsigned char *)(s->pending ? mc->pend.data :
		    mc->logmap) + s->off;
		value_rec(v, r);
		return 1;
	}
	if (!mc->have_cdb)
		return 0;
	le32_put(key, uid);
	if (cdb_find(&mc->cdb, key, 4) <= 0)
		return 0;
	len = cdb_datalen(&mc->cdb);
	v = cdb_get(&mc->cdb, len, cdb_datapos(&mc->cdb));
	if (v == NULL || !value_ok(uid, v, len))
		return 0;
	value_rec(v, r);
	return 1;
}

/* Where p, if it pointed into the pending buffer of old address base and
 * capacity cap, is now. */
static const char *
rebased(const struct msgcache *mc, uintptr_t base, size_t cap, const char *p)
{
	uintptr_t a = (uintptr_t)p;

	if (p == NULL || a < base || a >= base + cap)
		return p;
	return mc->pend.data + (a - base);
}

void
msgcache_put(struct msgcache *mc, uint32_t uid, const struct msgcache_rec *r)
{
	unsigned char h[20 + MC_HEAD];
	unsigned char *v;
	const char *env, *body, *bs, *pv;
	size_t pvlen = r->preview != NULL ? r->preview_len + 1 : 0;
	struct slot *s;
	size_t start, vlen, cap;
	uintptr_t base;
	uLong crc;

	if (mc == NULL || uid == 0)
		return;
	vlen = MC_HEAD + r->envelope_len + r->body_len + r->bodystructure_len +
	    pvlen;
	if (vlen > MC_VALUE_MAX)
		return;
	start = mc->pend.len;
	le32_put(h, MC_MAGIC);
	le32_put(h + 4, (uint32_t)(vlen + 8));
	le32_put(h + 8, 0);			/* record CRC, below */
	le32_put(h + 12, uid);
	le32_put(h + 16, mc->uidv);
	le32_put(h + 20, 0);		/* value CRC, below */
	le32_put(h + 24, (uint32_t)r->envelope_len);
	le32_put(h + 28, (uint32_t)r->body_len);
	le32_put(h + 32, (uint32_t)r->bodystructure_len);
	le32_put(h + 36, r->envelope_exact);
	le32_put(h + 40, (uint32_t)pvlen);
	/* r's parts may be bytes of pend itself (a record got from what is
	 * pending, put back with one part added): make room for the whole
	 * record first, then find them again where the buffer went */
	base = (uintptr_t)mc->pend.data;
	cap = mc->pend.cap;
	env = r->envelope;
	body = r->body;
	bs = r->bodystructure;
	pv = r->preview;
	if (buf_reserve(&mc->pend, sizeof(h) + vlen - MC_HEAD) == -1)
		return;
	if ((uintptr_t)mc->pend.data != base) {
		env = rebased(mc, base, cap, env);
		body = rebased(mc, base, cap, body);
		bs = rebased(mc, base, cap, bs);
		pv = rebased(mc, base, cap, pv);
	}
	/* no realloc from here on */
	(void)buf_add(&mc->pend, h, sizeof(h));
	(void)buf_add(&mc->pend, env, r->envelope_len);
	(void)buf_add(&mc->pend, body, r->body_len);
	(void)buf_add(&mc->pend, bs, r->bodystructure_len);
	if (pv != NULL) {
		(void)buf_addc(&mc->pend, 'P');
		(void)buf_add(&mc->pend, pv, r->preview_len);
	}
	v = (unsigned char *)mc->pend.data + start + 20;
	crc = crc32(crc32(0, h + 12, 4), v + 4, (uInt)(vlen - 4));
	le32_put(v, (uint32_t)crc);
	/* the value's CRC covers its bytes; the record's covers the rest */
	crc = crc32(0, (const unsigned char *)mc->pend.data + start + 12, 12);
	le32_put((unsigned char *)mc->pend.data + start + 8, (uint32_t)crc);
	if ((s = slot_find(mc, uid, 1)) == NULL) {
		buf_truncate(&mc->pend, start);
		return;
	}
	s->pending = 1;
	s->off = start + 20;
	s->len = vlen;
}

/*
 * Start the log anew: an empty file renamed over it.  Never ftruncate()
 * it: other sessions have it mapped, and a mapping past the end of a
 * shortened file faults (SIGBUS) when touched; a renamed-over file stays
 * whole for them until they look again.
 */
static void
reset_log(const struct msgcache *mc)
{
	char lp[MC_PATH], tmp[MC_PATH + 32];
	int fd;

	if (path(lp, mc->dir, MC_LOG) == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s.new.%ld", lp, (long)getpid()) >=
	    (int)sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return;
	close(fd);
	if (rename(tmp, lp) == -1)
		(void)unlink(tmp);
}

/* Write a new snapshot from the current one and the log on disk. */
static void
compact(struct msgcache *mc, int (*alive)(void *, uint32_t), void *arg)
{
	char p[MC_PATH], tmp[MC_PATH + 32];
	struct cdb_make cm;
	struct msgcache *fresh;
	unsigned char h[12], key[4];
	unsigned pos, klen, vlen;
	const unsigned char *k, *v;
	size_t i;
	int lockfd, fd, ok = 1;

	if (path(p, mc->dir, MC_LOCK) == -1 ||
	    (lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return;
	if (flock(lockfd, LOCK_EX | LOCK_NB) == -1) {
		close(lockfd);		/* someone else is at it */
		return;
	}
	/* everything on disk now, including other sessions' appends */
	fresh = msgcache_open(mc->dir, mc->uidv);
	if (fresh == NULL || path(p, mc->dir, MC_CDB) == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s.new.%ld", p, (long)getpid()) >=
	    (int)sizeof(tmp))
		goto out;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		goto out;
	cdb_make_start(&cm, fd);
	le32_put(h, 0x43534d49U);
	le32_put(h + 4, MC_VERSION);
	le32_put(h + 8, mc->uidv);
	if (cdb_make_add(&cm, "H", 1, h, 12) != 0)
		ok = 0;
	/* the log's entries first, then the snapshot's for other UIDs */
	for (i = 0; ok && i < fresh->captab; i++) {
		struct slot *s = &fresh->tab[i];

		if (s->uid == 0 || (alive != NULL && !alive(arg, s->uid)))
			continue;
		le32_put(key, s->uid);
		if (cdb_make_add(&cm, key, 4, fresh->logmap + s->off,
		    (unsigned)s->len) != 0)
			ok = 0;
	}
	if (ok && fresh->have_cdb) {
		cdb_seqinit(&pos, &fresh->cdb);
		while (ok && cdb_seqnext(&pos, &fresh->cdb) > 0) {
			klen = cdb_keylen(&fresh->cdb);
			vlen = cdb_datalen(&fresh->cdb);
			k = cdb_get(&fresh->cdb, klen, cdb_keypos(&fresh->cdb));
			if (k == NULL || klen != 4)
				continue;
			if (slot_find(fresh, le32_get(k), 0) != NULL ||
			    (alive != NULL && !alive(arg, le32_get(k))))
				continue;
			v = cdb_get(&fresh->cdb, vlen,
			    cdb_datapos(&fresh->cdb));
			if (v == NULL || !value_ok(le32_get(k), v, vlen))
				continue;
			if (cdb_make_add(&cm, k, 4, v, vlen) != 0)
				ok = 0;
		}
	}
	if (cdb_make_finish(&cm) != 0)
		ok = 0;
	close(fd);
	if (!ok || rename(tmp, p) == -1) {
		(void)unlink(tmp);
		goto out;
	}
	reset_log(mc);
out:
	if (fresh != NULL)
		msgcache_close(fresh);
	close(lockfd);
}

static int
pending_left(const struct msgcache *mc)
{
	size_t i;

	for (i = 0; i < mc->captab; i++)
		if (mc->tab[i].uid != 0 && mc->tab[i].pending)
			return 1;
	return 0;
}

void
msgcache_flush(struct msgcache *mc, int (*alive)(void *, uint32_t),
    void *arg, int may_compact)
{
	char p[MC_PATH];
	unsigned char magic[4];
	struct stat sb;
	size_t len;
	ssize_t n;
	off_t end;
	int fd;

	if (mc == NULL)
		return;
	if (mc->pend.len == mc->written) {
		/* nothing new; a deferred compaction may still be due */
		if (may_compact && path(p, mc->dir, MC_LOG) == 0 &&
		    stat(p, &sb) == 0 && sb.st_size > MC_COMPACT_MIN &&
		    sb.st_size > mc->cdbsize / 2) {
			compact(mc, alive, arg);
			unmap(mc);
			load(mc);
			mc->own_len = 0;
			buf_free(&mc->pend);
			mc->written = 0;
		}
		return;
	}
	len = mc->pend.len - mc->written;
	if (path(p, mc->dir, MC_LOG) == -1 ||
	    (fd = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		mc->written = mc->pend.len;	/* kept in memory only */
		return;
	}
	/* a log that starts with what is not ours (another version's
	 * records) would hide everything appended after it: start anew */
	if (pread(fd, magic, 4, 0) == 4 && le32_get(magic) != MC_MAGIC) {
		close(fd);
		reset_log(mc);
		if ((fd = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) == -1) {
			mc->written = mc->pend.len;
			return;
		}
	}
	/* a short write (disk full) leaves a torn record: readers stop
	 * there, and the next compaction starts the log anew */
	n = write(fd, mc->pend.data + mc->written, len);
	mc->own_len = 0;
	if (n == (ssize_t)len &&
	    (end = lseek(fd, 0, SEEK_CUR)) >= (off_t)len) {
		/* O_APPEND wrote it all at the end, which was then end - len
		 * whatever others appended */
		mc->own_log = (size_t)(end - (off_t)len);
		mc->own_pend = mc->written;
		mc->own_len = len;
	}
	mc->written = mc->pend.len;
	if (fstat(fd, &sb) == -1)
		sb.st_size = 0;
	close(fd);
	/* compact when the log has grown to half the snapshot: each
	 * compaction at least doubles what the snapshot holds, so filling a
	 * large folder's cache costs linear time in all */
	if (may_compact && sb.st_size > MC_COMPACT_MIN &&
	    sb.st_size > mc->cdbsize / 2) {
		compact(mc, alive, arg);
		unmap(mc);
		load(mc);
	} else if (mc->pend.len > MC_COMPACT_MIN) {
		/* what we wrote is in the log now: read it from there,
		 * where the pages are shared, not from a private copy */
		load_log(mc);
		if (pending_left(mc)) {
			/* some did not reach the log: forget them */
			unmap_log(mc);
			load_log(mc);
		}
	} else
		return;
	mc->own_len = 0;
	buf_free(&mc->pend);
	mc->written = 0;
}

void
msgcache_close(struct msgcache *mc)
{
	if (mc == NULL)
		return;
	unmap(mc);
	buf_free(&mc->pend);
	free(mc->dir);
	free(mc);
}

/* ---- for imapd-cache ---------------------------------------------- */

/* The snapshot's header: 1 with its version and UIDVALIDITY, 0 when
 * there is no snapshot, -1 when it is no cdb of this cache. */
static int
snapshot_header(const char *dir, uint32_t *version_r, uint32_t *uv_r)
{
	unsigned char h[12];
	struct mapfile view;
	struct stat sb;
	struct cdb db;
	char p[MC_PATH];
	int fd, r = -1;

	if (path(p, dir, MC_CDB) == -1 ||
	    (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if (fstat(fd, &sb) == 0 && sb.st_size >= 2048 &&
	    mapfile_open(fd, (size_t)sb.st_size, 0, &view) == 0) {
		if (mapfile_cdb(&view, &db) == 0 &&
		    cdb_find(&db, "H", 1) > 0 && cdb_datalen(&db) == 12 &&
		    cdb_read(&db, h, 12, cdb_datapos(&db)) == 0 &&
		    le32_get(h) == 0x43534d49U) {
			*version_r = le32_get(h + 4);
			*uv_r = le32_get(h + 8);
			r = 1;
		}
		mapfile_close(&view);
	}
	close(fd);
	return r;
}

int
msgcache_check(const char *dir, uint32_t uidvalidity,
    struct msgcache_check *ck, void (*fn)(void *, uint32_t), void *arg)
{
	const unsigned char *v, *k;
	struct msgcache *mc;
	unsigned pos, klen, vlen;
	uint32_t uid;
	size_t i;

	memset(ck, 0, sizeof(*ck));
	ck->snapshot = snapshot_header(dir, &ck->version, &ck->snapshot_uv);
	if ((mc = msgcache_open(dir, uidvalidity)) == NULL)
		return -1;
	if (mc->have_cdb) {
		cdb_seqinit(&pos, &mc->cdb);
		while (cdb_seqnext(&pos, &mc->cdb) > 0) {
			klen = cdb_keylen(&mc->cdb);
			vlen = cdb_datalen(&mc->cdb);
			if (klen != 4)
				continue;	/* the header */
			v = cdb_get(&mc->cdb, vlen, cdb_datapos(&mc->cdb));
			if ((k = cdb_get(&mc->cdb, 4,
			    cdb_keypos(&mc->cdb))) == NULL) {
				ck->bad++;
				continue;
			}
			uid = le32_get(k);
			if (v == NULL || !value_ok(uid, v, vlen)) {
				ck->bad++;
				continue;
			}
			ck->entries++;
			if (fn != NULL)
				fn(arg, uid);
		}
	}
	ck->log_bytes = mc->loglen;
	ck->log_unread = mc->loglen - mc->logidx;
	for (i = 0; i < mc->captab; i++) {
		if (mc->tab == NULL || mc->tab[i].uid == 0)
			continue;
		ck->log_entries++;
		if (fn != NULL)
			fn(arg, mc->tab[i].uid);
	}
	msgcache_close(mc);
	return 0;
}

int
msgcache_remove(const char *dir)
{
	char p[MC_PATH];
	int fd, r = 0;

	/* the compaction lock: a compaction under way finishes first */
	if (path(p, dir, MC_LOCK) == -1 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	if (path(p, dir, MC_CDB) == -1 || (unlink(p) == -1 && errno != ENOENT))
		r = -1;
	if (path(p, dir, MC_LOG) == -1 || (unlink(p) == -1 && errno != ENOENT))
		r = -1;
	close(fd);	/* and so unlock */
	return r;
}
