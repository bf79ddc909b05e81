/*
 * uidcache-overlay: one loaded view of the UID cache in memory: the
 * mapped snapshot's entries, the overlay of what the journal and
 * uncommitted changes did to them, and the operations that change it
 * (applied as they are made and replayed from the journal alike).
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

#include "common/lib/sorted.h"
#include "maildir/uidcache-private.h"

/* ---- the state ---------------------------------------------------- */

/* The folder values of a folder without a cache. */
static void
no_cache_values(struct state *s)
{
	s->uidvalidity = 0;
	s->uidnext = 1;
	s->highest_modseq = 1;
	s->first_recent = 1;
	s->forgotten_modseq = 0;
	s->nunseen = s->ndeleted = 0;
	s->ds.cur_ns = s->ds.new_ns = s->ds.scanned_ns = UC_MTIME_UNKNOWN;
}

struct state *
state_new(void)
{
	struct state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->jfd = -1;
	no_cache_values(s);
	s->snap_expunged_sorted = s->xov_sorted = 1;
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
	free(s->overlay);
	free(s->mods.slot);
	free(s->added.slot);
	free(s->addv);
	free(s->snap_expunged);
	free(s->xov);
	s->overlay = NULL;
	s->mods.slot = s->added.slot = NULL;
	s->addv = s->snap_expunged = NULL;
	s->xov = NULL;
	s->noverlay = s->overlay_cap = s->mods.nslots = s->mods.n = 0;
	s->added.nslots = s->added.n = 0;
	s->naddv = s->addcap = s->added_expunged = 0;
	s->nsnap_expunged = s->snap_expunged_cap = s->nxov = s->xovcap = 0;
	s->snap_expunged_sorted = s->xov_sorted = 1;
}

void
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
void
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
	s->journal_ops = 0;
	no_cache_values(s);
}

int
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
int
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
int
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

uint32_t
snap_uid(const struct state *s, uint32_t j)
{
	return get32(s->tab + (size_t)j * ENT_SIZE);
}

struct uid_key {
	const struct state	*s;
	uint32_t		 uid;
};

static int
snap_before(const void *arg, size_t j)
{
	const struct uid_key *k = arg;

	return snap_uid(k->s, (uint32_t)j) < k->uid;
}

size_t
snap_lower(const struct state *s, uint32_t uid)
{
	struct uid_key k = { s, uid };

	return sorted_bound(0, s->scount, snap_before, &k);
}

/* Index in T of uid, or NONE. */
uint32_t
snap_search(const struct state *s, uint32_t uid)
{
	size_t j = snap_lower(s, uid);

	return j < s->scount && snap_uid(s, (uint32_t)j) == uid ?
	    (uint32_t)j : NONE;
}

/* Index in T of base, whose fnv1a() is hash, or NONE. */
uint32_t
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

void
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
uint32_t
mod_find(const struct state *s, uint32_t j)
{
	size_t pos = SIZE_MAX;
	uint32_t k;

	while ((k = otab_probe(&s->mods, mixidx(j), &pos)) != NONE)
		if (s->overlay[k].snapidx == j)
			return k;
	return NONE;
}

/* The live added message with this base (whose fnv1a() is hash), or
 * NONE. */
uint32_t
base_find(const struct state *s, const char *base, size_t len,
    uint32_t hash)
{
	size_t pos = SIZE_MAX;
	uint32_t k;
	const struct ovrec *o;

	while ((k = otab_probe(&s->added, hash, &pos)) != NONE) {
		o = &s->overlay[k];
		/* an expunged base may come back with a new UID: skip */
		if ((o->bits & OV_EXP) == 0 &&
		    strncmp(o->base, base, len) == 0 && o->base[len] == '\0')
			return k;
	}
	return NONE;
}

static int
add_before(const void *arg, size_t i)
{
	const struct uid_key *k = arg;

	return k->s->overlay[k->s->addv[i]].uid < k->uid;
}

size_t
add_lower(const struct state *s, uint32_t uid)
{
	struct uid_key k = { s, uid };

	return sorted_bound(0, s->naddv, add_before, &k);
}

/* Index in overlay of the added message with uid (expunged or not), or NONE. */
uint32_t
add_search(const struct state *s, uint32_t uid)
{
	size_t i = add_lower(s, uid);

	return i < s->naddv && s->overlay[s->addv[i]].uid == uid ?
	    s->addv[i] : NONE;
}

static struct ovrec *
ov_new(struct state *s)
{
	struct ovrec *o;

	if (s->noverlay >= NONE - 1) {
		errno = ENOMEM;
		return NULL;
	}
	if (grow(&s->overlay, &s->overlay_cap, s->noverlay,
	    sizeof(*s->overlay)) == -1)
		return NULL;
	o = &s->overlay[s->noverlay++];
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
		return &s->overlay[k];
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
	otab_put(&s->mods, mixidx(j), (uint32_t)(s->noverlay - 1));
	return o;
}

void
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
int
rec_of_snap(struct state *s, uint32_t j, struct uc_rec *r)
{
	uint32_t k = mod_find(s, j);

	if (k == NONE)
		return snap_get(s, j, r);
	if (s->overlay[k].bits & OV_EXP)
		return 0;
	ov_to_rec(&s->overlay[k], r);
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
		k = (s->overlay[k].bits & OV_EXP) ? NONE : k;
	} else
		k = add_search(s, uid);
	if (k == NONE || (s->overlay[k].bits & OV_EXP)) {
		errno = ENOENT;
		return NULL;
	}
	return &s->overlay[k];
}

/* Is base (whose fnv1a() is hash) a live message's? */
int
live_base(struct state *s, const char *base, size_t len, uint32_t hash)
{
	uint32_t j = snap_base(s, base, len, hash), k;

	if (j != NONE) {
		k = mod_find(s, j);
		if (k == NONE || (s->overlay[k].bits & OV_EXP) == 0)
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

int
cmp_xuid(const void *a, const void *b)
{
	const struct xpair *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

int
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
void
settle(struct state *s)
{
	size_t i, n;

	if (!s->snap_expunged_sorted) {
		qsort(s->snap_expunged, s->nsnap_expunged,
		    sizeof(*s->snap_expunged), cmp_u32);
		s->snap_expunged_sorted = 1;
	}
	if (!s->xov_sorted) {
		qsort(s->xov, s->nxov, sizeof(*s->xov), cmp_xuid);
		s->xov_sorted = 1;
	}
	if (s->added_expunged > 0) {
		for (i = n = 0; i < s->naddv; i++)
			if ((s->overlay[s->addv[i]].bits & OV_EXP) == 0)
				s->addv[n++] = s->addv[i];
		s->naddv = n;
		s->added_expunged = 0;
	}
}

/* ---- operations -------------------------------------------------- */

/* A pending add of a base already live is refused with EEXIST, not
 * taken as damage: apply_op() says so with this reason. */
const char why_twice[] = "journal: a base added twice";

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

/*
 * Apply one operation to the state, checking the invariants.  The same
 * code applies a change as it is made and replays it from the journal,
 * so the two cannot disagree.  0, -1 with errno (ENOMEM), or -2 for an
 * operation that breaks an invariant (damage, s->why).
 */
int
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
		if ((bits & ~BITS_VALID) != 0 || ms <= s->highest_modseq ||
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
			s->noverlay--;
			return -1;
		}
		otab_put(&s->added, h, (uint32_t)s->noverlay - 1);
		s->addv[s->naddv++] = (uint32_t)s->noverlay - 1;
		s->uidnext = uid + 1;
		s->highest_modseq = ms;
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
		if (ms != o->modseq &&
		    (ms <= s->highest_modseq || ms < o->modseq))
			return damage(s, "journal: update MODSEQ not above "
			    "HIGHESTMODSEQ");
		/* allocate before changing anything: a failure here must
		 * leave the state as it was */
		ninfo = o->info;
		if (strlen(o->info) != ilen || memcmp(o->info, in, ilen) != 0)
			if ((ninfo = arena_str(s, in, ilen)) == NULL)
				return -1;
		if (ms != o->modseq)
			s->highest_modseq = ms;
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
		if (ms <= s->highest_modseq)
			return damage(s, "journal: expunge MODSEQ not above "
			    "HIGHESTMODSEQ");
		if (grow(&s->xov, &s->xovcap, s->nxov, sizeof(*s->xov)) == -1 ||
		    grow(&s->snap_expunged, &s->snap_expunged_cap,
		    s->nsnap_expunged, sizeof(*s->snap_expunged)) == -1)
			return -1;
		if ((o = live_by_uid(s, uid)) == NULL)
			return errno == ENOENT ?
			    damage(s, "journal: expunge of an unknown UID") : -1;
		counts_sub(s, o->bits);
		o->bits |= OV_EXP;
		o->modseq = ms;
		s->highest_modseq = ms;
		if (o->snapidx != NONE) {
			if (s->nsnap_expunged > 0 &&
			    s->snap_expunged[s->nsnap_expunged - 1] >
			    o->snapidx)
				s->snap_expunged_sorted = 0;
			s->snap_expunged[s->nsnap_expunged++] = o->snapidx;
		} else
			s->added_expunged++;
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
int
apply_commit(struct state *s, const unsigned char *body, size_t len)
{
	struct dec d = { body, body + len, 0 };
	uint32_t next = d32(&d);
	uint64_t highest_modseq = d64(&d);
	int r;

	if (d.bad)
		return damage(s, "journal: short commit");
	while (d.p < d.end) {
		if ((r = apply_op(s, &d)) != 0)
			return r;
		s->journal_ops++;
	}
	if (s->uidnext != next || s->highest_modseq != highest_modseq)
		return damage(s, "journal: commit totals do not match its "
		    "operations");
	return 0;
}

/* Does a valid commit start anywhere in p[0..len)? */
int
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
