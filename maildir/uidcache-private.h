/*
 * uidcache-private.h: what the parts of the UID cache share, and no other
 * file uses: the constants of its files, the loaded state, and the
 * functions one part calls in another.  The contract of the module is
 * in uidcache.h; the format and the crash rules are at the top of
 * uidcache.c.  Each function's comment is above its definition.
 */
#ifndef MAILDIR_UIDCACHE_PRIVATE_H
#define MAILDIR_UIDCACHE_PRIVATE_H

#include <sys/types.h>

#include <cdb.h>
#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"
#include "common/lib/le.h"
#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/safefile.h"
#include "common/lib/strnum.h"
#include "maildir/filename.h"
#include "maildir/uidcache-test.h"
#include "maildir/uidcache.h"

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
 * (empty) or 1 + an index into overlay, and the record's hash, so that
 * a probe passes other records without touching them and a rehash needs
 * no record at all; linear probing; at most half full. */
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
	uint32_t	 journal_ops;	/* operations in the journal: when
					 * to compact it */

	uint32_t	 uidvalidity, uidnext, first_recent;
	uint64_t	 highest_modseq;
	uint64_t	 forgotten_modseq; /* expunges up to this MODSEQ are
					    * no longer listed */
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

	struct ovrec	*overlay;
	size_t		 noverlay, overlay_cap;
	struct otab	 mods;		/* T index -> its overlay record, by
					 * mixidx() of the index */
	struct otab	 added;		/* base -> record of an added one, by
					 * fnv1a() of the base */
	uint32_t	*addv;		/* overlay indexes of added messages,
					 * UID order */
	size_t		 naddv, addcap;
	size_t		 added_expunged; /* of addv, expunged since */
	uint32_t	*snap_expunged;	/* T indexes expunged */
	size_t		 nsnap_expunged, snap_expunged_cap;
	int		 snap_expunged_sorted;
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
	uint64_t	 highest_modseq, forgotten_modseq;
	struct uc_dirstamp ds;
	struct xpair	*xp;		/* ascending UID; may be reordered */
	size_t		 nxp;
};

struct dec {
	const unsigned char	*p, *end;
	int			 bad;
};

/* How far a failed write_snapshot() got. */
enum {
	SNAP_NONE,	/* the old files are in place, the new state nowhere */
	SNAP_PLACED,	/* the new cdb is in place (others may read it), but
			 * the directory fsync after its rename failed */
	SNAP_DURABLE	/* the new cdb is in place and durable; putting its
			 * journal in place failed, which the next load does */
};

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

/* a pending add of a base already live: apply_op()'s reason */
extern const char why_twice[];

/* The numbers of the files (common/lib/le.h), under the short names the
 * code of the cache reads best with; inline, as lookups call them in
 * their inner loops. */
static inline void
put32(unsigned char *p, uint32_t v)
{
	le32_put(p, v);
}

static inline void
put64(unsigned char *p, uint64_t v)
{
	le64_put(p, v);
}

static inline uint32_t
get32(const unsigned char *p)
{
	return le32_get(p);
}

static inline uint64_t
get64(const unsigned char *p)
{
	return le64_get(p);
}

static inline uint32_t
mixidx(uint32_t j)
{
	return j * 2654435761U;
}

/* ---- the codec and small helpers (uidcache-util.c) ---------------- */

uint32_t	crc(uint32_t c, const void *p, size_t len);
uint32_t	fnv1a(const void *p, size_t len);
int	name_ok(const void *p, size_t len, int may_be_empty);
int	path_of(const struct uidcache *c, const char *name, char *out);
uint64_t	new_generation(uint64_t avoid);
pid_t	self_pid(void);
/* Lock lock file lockpath, open as fd, by the store's lock method (an
 * fcntl() lock on fd, the dot-lock lockpath".dot", or both); 0, or -1
 * (errno ETIMEDOUT: held too long).  fd_unlock() releases it. */
int	fd_lock_wait(int fd, const char *lockpath);
void	fd_unlock(int fd, const char *lockpath);
unsigned	d8(struct dec *d);
uint32_t	d32(struct dec *d);
uint64_t	d64(struct dec *d);
const unsigned char *dstr(struct dec *d, size_t *len);
int	enc8(struct buf *b, unsigned v);
int	enc32(struct buf *b, uint32_t v);
int	enc64(struct buf *b, uint64_t v);
int	encstr(struct buf *b, const char *p, size_t len);

/* ---- the state in memory (uidcache-overlay.c) --------------------- */

struct state *state_new(void);
void	state_free(struct state *s);
void	state_make_empty(struct state *s);
int	damage(struct state *s, const char *why);
int	grow(void *vp, size_t *cap, size_t n, size_t size);
int	snap_get_meta(struct state *s, uint32_t j, struct uc_rec *r);
uint32_t	snap_uid(const struct state *s, uint32_t j);
uint32_t	snap_search(const struct state *s, uint32_t uid);
/* the first snapshot index (of T) whose UID is uid or above, scount if
 * none; the first place in addv whose message's UID is, naddv if none */
size_t	snap_lower(const struct state *s, uint32_t uid);
size_t	add_lower(const struct state *s, uint32_t uid);
uint32_t	snap_base(struct state *s, const char *base, size_t len,
    uint32_t hash);
uint32_t	mod_find(const struct state *s, uint32_t j);
uint32_t	base_find(const struct state *s, const char *base, size_t len,
    uint32_t hash);
uint32_t	add_search(const struct state *s, uint32_t uid);
void	otab_put(struct otab *t, uint32_t hash, uint32_t k);
void	ov_to_rec(const struct ovrec *o, struct uc_rec *r);
int	rec_of_snap(struct state *s, uint32_t j, struct uc_rec *r);
int	live_base(struct state *s, const char *base, size_t len, uint32_t hash);
int	cmp_xuid(const void *a, const void *b);
int	cmp_xmodseq(const void *a, const void *b);
void	settle(struct state *s);
int	apply_op(struct state *s, struct dec *d);
int	apply_commit(struct state *s, const unsigned char *body, size_t len);
int	later_commit(const unsigned char *p, size_t len);

/* ---- the files (uidcache-file.c) ---------------------------------- */

int	journal_read(struct state *s, int writer);
int	reader_load(struct uidcache *c, struct state **sp);
int	load_full(struct uidcache *c, int writer, struct state **sp);
int	log_header(int fd, uint64_t *gen, uint32_t *uv, int *ioerr);
const char *snap_check(struct state *s);
int	write_snapshot(struct uidcache *c, struct snapsrc *src, uint64_t prev_gen,
    uint64_t *gen_r, int *stage_r);
int	create_cache(struct uidcache *c, uint32_t uvfloor, enum uc_from from,
    int force);
int	set_aside(struct uidcache *c, const struct state *s);
int	wload(struct uidcache *c, int full);

/* ---- UIDVALIDITY (uidcache-uidv.c) -------------------------------- */

uint32_t	read_uidv(const struct uidcache *c);
int	write_uidv(const struct uidcache *c, uint32_t uv);
int	tree_path(const struct uidcache *c, char *out);
int	tree_open(const struct uidcache *c, uint32_t *uv);
int	tree_raise(int fd, uint32_t uv);
void	tree_close(const struct uidcache *c, int fd);

/* ---- import (uidcache-import.c) ----------------------------------- */

void	import_free(struct import *im);
int	import_read(const struct uidcache *c, struct import *im,
    enum uc_from from);
int	import_get(void *arg, size_t i, struct uc_rec *r);

/* ---- the API (uidcache.c) ----------------------------------------- */

void	journal_reserve(struct uidcache *c);

#endif
