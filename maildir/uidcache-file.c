/*
 * uidcache-file: the UID cache's files: reading the journal, loading the
 * snapshot and its journal, writing a new snapshot and journal, and
 * creating a cache or setting a damaged one aside.
 *
 * The format of the files and the rules that keep them true through
 * crashes are at the top of uidcache.c; uidcache-private.h is what the
 * parts of the cache share.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

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

#include "maildir/uidcache-private.h"

/*
 * Read the commits after s->jend and apply them.  A writer tells a torn
 * tail (noted, to be cut off before the next append) from damage.  1 if
 * a commit was applied, 0 if none, -1 on error (errno), -2 on damage.
 */
int
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
	if (mapfile_pread(s->jfd, buf, len, s->jend, &got) == -1) {
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
const char *
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
	s->highest_modseq = get64(h + 40);
	s->first_recent = get32(h + 48);
	s->nxp = get32(h + 52);
	s->forgotten_modseq = get64(h + 56);
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
	    s->highest_modseq == 0)
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
int
log_header(int fd, uint64_t *gen, uint32_t *uv, int *ioerr)
{
	unsigned char h[LOGHDR_SIZE];
	size_t got;

	*ioerr = 0;
	if (mapfile_pread(fd, h, sizeof(h), 0, &got) == -1) {
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
int
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
int
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
	if (safefile_write(fd, h, sizeof(h)) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	return close(fd);
}

#define IDX_AHEAD	8	/* index slots fetched ahead of their use */

/* Put T index j, whose base's fnv1a() is hash, into the first free
 * slot from its own. */
static int
fnv_insert(unsigned char *idx, uint32_t slots, uint32_t hash, uint32_t j)
{
	uint32_t h = hash & (slots - 1), n;

	for (n = 0; n < slots; n++, h = (h + 1) & (slots - 1))
		if (get32(idx + (size_t)h * 4) == 0) {
			put32(idx + (size_t)h * 4, j + 1);
			return 0;
		}
	return -1;
}

/*
 * Write a new snapshot from src with a new generation, and an empty
 * journal for it, and rename both into place (see COMPACTION above for
 * the order and why).  *gen_r is the new generation.  0, or -1 (errno)
 * with *stage_r saying how far it got.
 */
int
write_snapshot(struct uidcache *c, struct snapsrc *src, uint64_t prev_gen,
    uint64_t *gen_r, int *stage_r)
{
	char pcdb[PATH_MAX], plog[PATH_MAX], pcdbn[PATH_MAX], plogn[PATH_MAX];
	unsigned char hdr[HDR_SIZE], *tab = NULL, *xp = NULL, *idx = NULL;
	uint32_t *hv = NULL;
	struct buf str;
	struct cdb_make cm;
	struct uc_rec r;
	struct stat st;
	uint64_t gen, forgotten_modseq = src->forgotten_modseq;
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
		if (src->xp[keep0 - 1].modseq > forgotten_modseq)
			forgotten_modseq = src->xp[keep0 - 1].modseq;
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
	hv = reallocarray(NULL, src->count + 1, sizeof(*hv));
	if (tab == NULL || xp == NULL || idx == NULL || hv == NULL)
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
		hv[i] = fnv1a(r.base, blen);
	}
	/* the index apart: its slots are written in no order, so the slot
	 * a few messages on is fetched while this one is placed (a cache
	 * miss each, otherwise, in a large folder) */
	for (i = 0; i < src->count; i++) {
		if (i + IDX_AHEAD < src->count)
			__builtin_prefetch(idx + (size_t)(hv[i + IDX_AHEAD] &
			    (slots - 1)) * 4, 1);
		if (fnv_insert(idx, slots, hv[i], (uint32_t)i) == -1) {
			errno = EINVAL;
			goto fail;
		}
	}
	free(hv);
	hv = NULL;
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
	put64(hdr + 40, src->highest_modseq);
	put32(hdr + 48, src->first_recent);
	put32(hdr + 52, (uint32_t)nxp);
	put64(hdr + 56, forgotten_modseq);
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
	if (safefile_sync_dir(AT_FDCWD, c->dir) == -1)
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
	if (safefile_sync_dir(AT_FDCWD, c->dir) == -1)
		goto fail_late;
	*stage_r = SNAP_DURABLE;
	STEP(UCS_SNAP_RENAME1);
	if (rename(plogn, plog) == -1)
		goto fail_late;
	STEP(UCS_SNAP_RENAME2);
	if (safefile_sync_dir(AT_FDCWD, c->dir) == -1)
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
	free(hv);
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
int
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
		tree_close(c, tfd);
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
		src.highest_modseq = src.forgotten_modseq = IMPORT_MODSEQ;
	} else {
		if (next_uidv(stored > tree ? stored : tree, uvfloor,
		    &src.uidvalidity) == -1) {
			log_warnx("%s: no UIDVALIDITY above %u is left below "
			    "2^31; the UID cache cannot be rebuilt", c->dir,
			    above > tree ? above : tree);
			tree_close(c, tfd);
			return -1;
		}
		src.uidnext = 1;
		src.highest_modseq = 1;
	}
	src.first_recent = src.uidnext;
	src.ds.cur_ns = src.ds.new_ns = src.ds.scanned_ns = UC_MTIME_UNKNOWN;
	if (tfd != -1 && src.uidvalidity > tree &&
	    tree_raise(tfd, src.uidvalidity) == -1) {
		log_warn("%s: cannot record UIDVALIDITY in the Maildir's "
		    FN_UIDV_MAX, c->dir);
		tree_close(c, tfd);
		import_free(&im);
		return -1;
	}
	tree_close(c, tfd);
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
int
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
	return safefile_sync_dir(AT_FDCWD, c->dir);
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
			return safefile_sync_dir(AT_FDCWD, c->dir);
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
	return safefile_sync_dir(AT_FDCWD, c->dir);
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
int
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
