/*
 * mailbox-sync: the sync between a folder's directories and its UID
 * cache, and the session's view brought up to date from the cache.
 *
 * Sync, step by step:
 *  1. Load what other processes committed to the UID cache.
 *  2. stat() cur/ and new/.  If both modification times equal the ones the
 *     cache saw at its last complete scan, and that scan began after the
 *     file system's clock had passed them (see "Trusting a directory
 *     time" in mailbox-scan.c), the cache is the truth and no directory
 *     is read.
 *  3. Otherwise a read-write session first moves files from new/ to cur/
 *     (never over an existing name; the first sync of a view leaves them
 *     for later: see "new/ moved to cur/ after SELECT has answered"),
 *     then takes the file system's time,
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
 * \Recent: the cache keeps the first UID not yet claimed.  A read-write
 * session claims everything from there to UIDNEXT under the lock, so each
 * message is \Recent in exactly one session.
 *
 * A view never shows a UID of another UIDVALIDITY (uv_same() is where
 * a change is noticed), and never shows again a UID it once reported
 * expunged.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/sorted.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox-int.h"
#include "maildir/mailbox.h"
#include "maildir/uidcache.h"

/* ---- decisions ---------------------------------------------------------- */

void
mb_plan_free(struct plan *p)
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

/* Where is rec's file now (REC_*, mailbox-int.h)?  A file of new/ a
 * mail reader moved to cur/ is there under the name moved_info() gives
 * it. */
static int
rec_where(struct dsync *ds, const struct uc_rec *r)
{
	char p[PATH_LEN];

	if (mb_pathf(p, sizeof(p), "%s/%s%s", r->in_new ? "new" : "cur",
	    r->base, r->info) == 0 &&
	    faccessat(ds->dirfd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return REC_AT_NAME;
	if (!r->in_new)
		return REC_MISSING;
	if (mb_pathf(p, sizeof(p), "cur/%s%s", r->base, moved_info(r), "") ==
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
		    strcmp(r->info, mb_ename(sc, &sc->e[k]) + sc->e[k].baselen)
		    == 0)
			return k;
	return i;
}

/* rec_where() for mb_plan_build(), which looks at no disk itself */
static int
where_on_disk(void *ds, const struct uc_rec *r)
{
	return rec_where(ds, r);
}

static int
build_plan(struct dsync *ds, struct scan *sc, uint32_t uid_limit,
    struct plan *p)
{
	return mb_plan_build(ds->uc, sc, uid_limit, where_on_disk, ds, p);
}

int
mb_plan_build(const struct uidcache *uc, const struct scan *sc,
    uint32_t uid_limit, int (*where)(void *, const struct uc_rec *),
    void *arg, struct plan *p)
{
	struct uc_rec r;
	size_t i, j, k, count;
	int known;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < sc->n; i = j) {
		for (j = i + 1; j < sc->n && mb_same_base(sc, &sc->e[i],
		    &sc->e[j]); j++)
			;
		known = uidcache_by_base(uc, mb_ename(sc, &sc->e[i]),
		    sc->e[i].baselen, &r);
		/* a broken copy mb_scan_rebase() could not separate: show the
		 * one the cache knows until it can */
		k = keeper(sc, i, j, known ? &r : NULL);
		if (!known) {
			if (push_idx(&p->add, &p->nadd, k) == -1)
				return -1;
			continue;
		}
		if (strcmp(r.info, mb_ename(sc, &sc->e[k]) + sc->e[k].baselen)
		    != 0 || r.in_new != sc->e[k].in_new) {
			if (push_idx(&p->upd, &p->nupd, k) == -1)
				return -1;
		}
	}
	count = uidcache_count(uc);
	for (i = 0; i < count; i++) {
		if (!uidcache_nth(uc, i, &r))
			continue;
		if (mb_scan_find(sc, r.base, strlen(r.base)) >= 0)
			continue;
		/* a rename after the listing, or one it missed */
		switch (where(arg, &r)) {
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

/* Record that this session claimed \Recent for [lo, hi). */
static void
note_claim(struct dsync *ds, uint32_t lo, uint32_t hi)
{
	if (ds->claim_hi == 0 || lo < ds->claim_lo)
		ds->claim_lo = lo;
	ds->claim_hi = hi;
}

struct plan_fill {
	const struct scan	*sc;
	const struct plan	*p;
};

/* The plan's i-th add, as uidcache_fill() takes it. */
static int
plan_fill_get(void *arg, size_t i, struct uc_new *m)
{
	const struct plan_fill *pf = arg;
	const struct entry *e = &pf->sc->e[pf->p->add[i]];
	const char *name = mb_ename(pf->sc, e);

	m->base = name;
	m->baselen = e->baselen;
	m->info = name + e->baselen;
	m->flags = e->flags;
	m->keywords = e->kw;
	m->vsize = e->vsize;
	m->in_new = e->in_new;
	return 1;
}

/*
 * A plan that only adds, to a cache with nothing in it (a folder's first
 * sync): the adds, the directory times and this session's \Recent claim
 * written as the cache's first snapshot at once.  0 done, 1 not done
 * (apply the plan), -1 failed.
 */
static int
fill_plan(struct dsync *ds, const struct plan *p, const struct scan *sc,
    int complete)
{
	struct plan_fill pf = { sc, p };
	struct uc_fill f;
	uint32_t lo = uidcache_first_recent(ds->uc);
	int r;

	if (p->nadd == 0 || p->nupd != 0 || p->ngone != 0 || p->nmoved != 0)
		return 1;
	memset(&f, 0, sizeof(f));
	f.n = p->nadd;
	f.namebytes = sc->names.len;
	f.get = plan_fill_get;
	f.arg = &pf;
	f.ds = complete && mb_stamp_trusted(&sc->stamp) ? &sc->stamp : NULL;
	f.claim = !ds->readonly && !ds->noclaim;
	if ((r = uidcache_fill(ds->uc, &f)) == 0 && f.claim &&
	    lo < uidcache_uidnext(ds->uc))
		note_claim(ds, lo, uidcache_uidnext(ds->uc));
	return r;
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
	int filled;

	if ((filled = fill_plan(ds, p, sc, *complete)) != 1)
		return filled;
	if (p->nadd > 64)
		uidcache_reserve(ds->uc, p->nadd, sc->names.len);
	for (i = 0; i < p->nadd; i++) {
		struct entry *e = &sc->e[p->add[i]];
		const char *name = mb_ename(sc, e);

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
		const char *name = mb_ename(sc, e);

		if (!uidcache_by_base(ds->uc, name, e->baselen, &r))
			continue;
		if (strcmp(r.info, name + e->baselen) == 0 &&
		    r.in_new == e->in_new)
			continue;
		/* the listing may be older than the cache's name (another
		 * session renamed the file and recorded it since): record
		 * only a name the file still has */
		if (mb_entry_ino_now(ds, sc, e) == 0) {
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
		if (mb_scan_live(sc, r.base) ||
		    rec_where(ds, &r) != REC_MISSING)
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
	if (*complete && mb_stamp_trusted(&sc->stamp) &&
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

	if (ds->readonly || ds->noclaim || lo >= hi)
		return 0;
	if (uidcache_set_first_recent(ds->uc, hi) == -1)
		return -1;
	note_claim(ds, lo, hi);
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

int
mb_dir_sync(struct dsync *ds, int force)
{
	struct uc_dirstamp now, old;
	struct scan sc;
	struct plan p;
	uint64_t changes;
	uint32_t uid_limit;
	size_t i;
	int r = 0, locked = 0, need_recent, tries, complete, created;

	if (uidcache_refresh(ds->uc) == -1)
		return -1;
	if (mb_stat_dirs(ds, &now) == -1) {
		log_warn("%s: cannot stat cur/ or new/", ds->dir);
		return -1;
	}
	uidcache_dirstamp(ds->uc, &old);
	need_recent = !ds->readonly && !ds->noclaim &&
	    uidcache_first_recent(ds->uc) < uidcache_uidnext(ds->uc);
	if (!force && uidcache_uidvalidity(ds->uc) != 0 &&
	    old.cur_ns == now.cur_ns && old.new_ns == now.new_ns &&
	    mb_stamp_trusted(&old)) {
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
	mb_scan_init(&sc);
	for (tries = 0; ; tries++) {
		uid_limit = uidcache_uidnext(ds->uc);
		if (mb_scan_all(ds, &sc) == -1) {
			log_warn("%s: cannot read the folder", ds->dir);
			return -1;
		}
		mb_scan_dedupe(ds, &sc);
		if (mb_scan_rebase(ds, &sc) == -1 ||
		    build_plan(ds, &sc, uid_limit, &p) == -1) {
			r = -1;
			goto out;
		}
		if ((p.unresolved == 0 && sc.unresolved == 0) ||
		    tries + 1 == SCAN_TRIES)
			break;
		/* other programs were renaming: look again */
		mb_plan_free(&p);
		mb_scan_free(&sc);
		if (uidcache_refresh(ds->uc) == -1)
			return -1;
	}
	complete = p.unresolved == 0 && sc.unresolved == 0;
	for (ds->nnew = 0, i = 0; i < sc.n; i++)
		ds->nnew += sc.e[i].in_new;
	if (!complete)
		log_debug("%s: %zu messages not found while other programs "
		    "renamed files; looked for again at the next sync",
		    ds->dir, p.unresolved + sc.unresolved);
	/* with nothing to change, write the new times only if a later sync
	 * can trust them */
	if (p.nadd == 0 && p.nupd == 0 && p.ngone == 0 && p.nmoved == 0 &&
	    !need_recent &&
	    uidcache_uidvalidity(ds->uc) != 0 &&
	    !(complete && mb_stamp_trusted(&sc.stamp)))
		goto nolock;
	changes = uidcache_changes(ds->uc);
	created = uidcache_uidvalidity(ds->uc) == 0;
	if (uidcache_lock(ds->uc) == -1) {
		r = degrade(ds, "cannot lock the UID cache");
		goto out;
	}
	locked = 1;
	/* a cache the lock has just created empty leaves the plan as it
	 * was: made against no cache, it is the plan against an empty one */
	if (uidcache_changes(ds->uc) != changes &&
	    !(created && uidcache_count(ds->uc) == 0)) {
		/* another process committed (or created the cache) since we
		 * decided: decide again from the same listing.  A cache the
		 * lock just created holds only what it took over from
		 * dovecot-uidlist or courierimapuiddb, which describes files
		 * older than the listing: its messages that the listing did
		 * not find are gone */
		if (created)
			uid_limit = uidcache_uidnext(ds->uc);
		mb_plan_free(&p);
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
	mb_plan_free(&p);
	mb_scan_free(&sc);
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

void
mb_watch_stop(struct mailbox *mb)
{
	if (mb->watch_fd != -1)
		close(mb->watch_fd);
	mb->watch_fd = -1;
	mb->watch_ok = 0;
}

void
mb_watch_start(struct mailbox *mb)
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
	if (mb_pathf(p, sizeof(p), "%s/%s%s", mb->dir, "cur", "") == -1 ||
	    (mb->wd_cur = inotify_add_watch(mb->watch_fd, p, WATCH_MASK)) ==
	    -1 ||
	    mb_pathf(p, sizeof(p), "%s/%s%s", mb->dir, "new", "") == -1 ||
	    (mb->wd_new = inotify_add_watch(mb->watch_fd, p, WATCH_MASK)) ==
	    -1) {
		if (!told++)
			log_warn("inotify watch on %s (fs.inotify."
			    "max_user_watches may be too low); changes are "
			    "found by listing it", mb->dir);
		mb_watch_stop(mb);
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
			if (mb_scan_add(t, ev->name, ev->wd == mb->wd_new, 0) ==
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
		e->ino = mb_entry_ino_now(ds, t, e);
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

	mb_scan_init(&nw);
	for (i = 0; i < t->n; i++) {
		const struct entry *e = &t->e[i];

		if (e->in_new && !e->absent &&
		    mb_scan_add(&nw, mb_ename(t, e), 1, e->ino) == -1) {
			mb_scan_free(&nw);
			return -1;
		}
	}
	if (nw.n > 0)
		mb_move_new(ds, &nw);
	mb_scan_free(&nw);
	return 0;
}

/* Drop names t holds twice (an event for each of two renames). */
static void
watch_unique(struct scan *t)
{
	size_t i, out = 0;

	for (i = 0; i < t->n; i++) {
		if (out > 0 && t->e[out - 1].in_new == t->e[i].in_new &&
		    strcmp(mb_ename(t, &t->e[out - 1]),
		    mb_ename(t, &t->e[i])) == 0)
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
		for (j = i + 1; j < t->n && mb_same_base(t, &t->e[i], &t->e[j]);
		    j++)
			;
		known = uidcache_by_base(ds->uc, mb_ename(t, &t->e[i]),
		    t->e[i].baselen, &r);
		has_cached = 0;
		live = j;
		ino = 0;
		for (k = i; k < j; k++) {
			const struct entry *e = &t->e[k];

			if (known && e->in_new == r.in_new &&
			    strcmp(mb_ename(t, e) + e->baselen, r.info) == 0)
				has_cached = 1;
			if (e->absent)
				continue;
			if (ino != 0 && e->ino != ino)
				return 1;	/* two files: a broken copy */
			ino = e->ino;
			if (live == j || (known && e->in_new == r.in_new &&
			    strcmp(mb_ename(t, e) + e->baselen, r.info) == 0))
				live = k;
		}
		if (known && !has_cached) {
			/* no event for the cached name: it is still there */
			if (live == j)
				continue;
			if (mb_pathf(cached, sizeof(cached), "%s/%s%s",
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
		    strcmp(mb_ename(t, &t->e[live]) + t->e[live].baselen,
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
	mb_scan_init(&t);
	if (mb_stamp_begin(ds, &t.stamp) == -1) {
		r = -1;
		goto out;
	}
	if ((got = watch_drain(mb, &t)) == -1)
		goto out;
	for (round = 0; got > 0; round++) {
		if (round == WATCH_ROUNDS)
			goto out;	/* renames that do not stop: list */
		watch_lookup(ds, &t);
		if (!ds->readonly && !ds->keep_new &&
		    watch_move_new(ds, &t) == -1)
			goto out;
		if ((got = watch_drain(mb, &t)) == -1)
			goto out;
	}
	mb_scan_sort(&t);
	watch_unique(&t);
	if ((r = watch_plan(ds, &t, &p)) != 0)
		goto out;
	need_recent = !ds->readonly && !ds->noclaim &&
	    uidcache_first_recent(ds->uc) < uidcache_uidnext(ds->uc);
	uidcache_dirstamp(ds->uc, &old);
	if (p.nadd == 0 && p.nupd == 0 && p.ngone == 0 && !need_recent &&
	    !(mb_stamp_trusted(&t.stamp) && (old.cur_ns != t.stamp.cur_ns ||
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
	mb_plan_free(&p);
	mb_scan_free(&t);
	return r;
}

static int	uv_same(struct mailbox *);

static void
dsync_of(struct mailbox *mb, struct dsync *ds)
{
	memset(ds, 0, sizeof(*ds));
	ds->uc = mb->uc;
	ds->dir = mb->dir;
	ds->dirfd = mb->dirfd;
	ds->readonly = mb->readonly;
}

int
mb_disk_sync(struct mailbox *mb, int force, int claim)
{
	struct dsync ds;
	int r;

	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	dsync_of(mb, &ds);
	ds.keep_new = mb->keep_new;
	ds.noclaim = !claim;
	r = 1;
	if (!force && mb->watch_ok)
		r = watch_sync(mb, &ds);
	if (r == 1) {
		/* the listing covers what the queue holds so far */
		if (mb->watch_fd != -1)
			watch_discard(mb);
		r = mb_dir_sync(&ds, force || mb->watch_ok);
	}
	mb->watch_ok = mb->watch_fd != -1 && r == 0 && ds.complete;
	if (ds.keep_new) {
		mb->keep_new = 0;
		mb->new_waiting = r == 0 && ds.nnew > 0;
	}
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

/* ---- new/ moved to cur/ after SELECT has answered ------------------------ */

/*
 * The first sync of a read-write view gives the files in new/ their UIDs
 * where they are and leaves them there (a record knows which directory
 * its file is in), so that SELECT answers after reading the directories
 * once; renaming two thousand files before that would add a third to its
 * time.  The session moves them afterwards, while its client is quiet,
 * a few at a time: the moves are the ones a sync makes (mb_move_new(),
 * outside the lock, never over an existing name), and the next sync
 * records them under the lock, as it records a mail reader's.  A base
 * keeps its UID in whichever directory its file is, so neither the moves
 * nor anyone else's change the numbering; \Recent was claimed by the
 * first sync and is not touched (these syncs claim none for new mail:
 * the next mailbox_sync() does).  With a watch, the sync that records a
 * slice reads only the events the moves made; without one (NFS), a sync
 * that lists moves them all at once.
 */
#define MOVE_STEP	32	/* renames between looks at the clock */

int
mailbox_new_waiting(const struct mailbox *mb)
{
	return mb->new_waiting;
}

int
mailbox_move_new(struct mailbox *mb, int budget_ms)
{
	struct dsync ds;
	struct scan nw, part;
	struct timespec t0, t;
	size_t done = 0;
	long long ms;
	int r;

	if (!mb->new_waiting)
		return 0;
	if (mb->readonly || mb->stale_uv != 0) {
		mb->new_waiting = 0;
		return 0;
	}
	if (mb->watch_fd == -1 || !mb->watch_ok) {
		mb->new_waiting = 0;
		return mb_disk_sync(mb, 1, 0) == -1 ? -1 : 0;
	}
	dsync_of(mb, &ds);
	mb_scan_init(&nw);
	if (mb_scan_new(&ds, &nw) == -1) {
		log_warn("%s: cannot read new/", mb->dir);
		mb_scan_free(&nw);
		mb->new_waiting = 0;
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < nw.n) {
		/* a window on the listing: the names stay where they are */
		part = nw;
		part.e = nw.e + done;
		part.n = nw.n - done < MOVE_STEP ? nw.n - done : MOVE_STEP;
		mb_move_new(&ds, &part);
		done += part.n;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (long long)(t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (budget_ms >= 0 && ms >= budget_ms)
			break;
	}
	mb->new_waiting = done < nw.n;
	mb_scan_free(&nw);
	/* record what moved: the events the renames made */
	if ((r = mb_disk_sync(mb, 0, 0)) == -1)
		mb->new_waiting = 0;
	return r == -1 ? -1 : mb->new_waiting;
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

struct unrec_key {
	const struct mailbox	*mb;
	uint32_t		 uid;
};

static int
unrec_before(const void *arg, size_t i)
{
	const struct unrec_key *k = arg;

	return k->mb->unrec[i].uid < k->uid;
}

static struct unrec *
unrec_find(const struct mailbox *mb, uint32_t uid)
{
	struct unrec_key k = { mb, uid };
	size_t i = sorted_bound(0, mb->nunrec, unrec_before, &k);

	return i < mb->nunrec && mb->unrec[i].uid == uid ? &mb->unrec[i] :
	    NULL;
}

void
mb_unrec_note(struct mailbox *mb, uint32_t uid, unsigned flags, uint32_t kw,
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
	(void)mb_pathf(u->info, sizeof(u->info), "%s%s%s", info, "", "");
}

void
mb_unrec_apply(const struct mailbox *mb, struct uc_rec *r)
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

int
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

int
mb_keywords_refresh(struct mailbox *mb, int force)
{
	char p[PATH_LEN];
	struct keywords nk;
	struct stat sb;
	int changed = 0, i;

	if (mb_pathf(p, sizeof(p), "%s/%s%s", mb->dir, KEYWORDS_FILE, "") == -1)
		return 0;
	if (stat(p, &sb) == -1) {
		if (errno != ENOENT)
			return 0;
		memset(&sb, 0, sizeof(sb));
	}
	if (!force && sb.st_dev == mb->kw_dev && sb.st_ino == mb->kw_ino &&
	    sb.st_size == mb->kw_size && mb_mtime_ns(&sb) == mb->kw_mtime)
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
	mb->kw_mtime = mb_mtime_ns(&sb);
	return changed;
}

int
mb_view_update(struct mailbox *mb, int allow_expunge,
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
			mb_unrec_apply(mb, &r);
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
