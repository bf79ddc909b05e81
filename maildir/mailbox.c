/*
 * mailbox: a session's view of one folder, and the sync between the
 * folder's directories and its UID cache.  See mailbox.h.
 *
 * The module is five files with one private header (mailbox-int.h):
 * this one opens and closes a folder and answers the view's questions
 * (numbers, flags, paths, sizes), and holds the renames that never
 * replace; mailbox-scan.c lists a folder's directories; mailbox-sync.c
 * decides what a listing means for the cache and brings the view up to
 * date; mailbox-write.c changes the folder (STORE, EXPUNGE, APPEND,
 * COPY, MOVE); mailbox-status.c answers STATUS without a view.
 *
 * The server itself never replaces a file: every rename it does is
 * md_rename(), which refuses to.
 *
 * A view never shows a UID of another UIDVALIDITY: when the cache's
 * UIDVALIDITY changes under a session (the cache was lost or damaged and
 * rebuilt), every call fails with ESTALE from then on and the session
 * must end.  A view also never shows again a UID it once reported
 * expunged.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/sorted.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/keywords.h"
#include "maildir/mailbox-int.h"
#include "maildir/mailbox.h"
#include "maildir/objectid.h"
#include "maildir/uidcache.h"

int64_t
mb_mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000LL +
	    sb->st_mtim.tv_nsec;
}

int
mb_pathf(char *out, size_t len, const char *fmt, const char *a,
    const char *b, const char *c)
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

int
md_rename(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat sf, st;
	int e;

	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
		if (linkat(fromfd, from, tofd, to, 0) == 0) {
			if (unlinkat(fromfd, from, 0) == 0)
				return 0;
			e = errno;
			if (e == ENOENT) {
				/* another process renamed or removed from
				 * between the two: a name of its own left
				 * beside ours would be a second copy */
				if (fstatat(tofd, to, &st,
				    AT_SYMLINK_NOFOLLOW) == -1 ||
				    st.st_nlink == 1)
					return 0;
			}
			(void)unlinkat(tofd, to, 0);
			errno = e;
			return -1;
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

/* ---- public --------------------------------------------------------------- */

int
mb_view_rec(struct mailbox *mb, uint32_t seq, struct uc_rec *r)
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
	mb_unrec_apply(mb, r);
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
	(void)mb_keywords_refresh(mb, 1);
	/* before the first sync: from then on, every change is an event */
	mb_watch_start(mb);
	mb->keep_new = !readonly;
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
	if (mb->new_waiting)
		(void)mailbox_move_new(mb, -1);
	mailbox_flush_facts(mb);
	if (mb->uc != NULL)
		uidcache_close(mb->uc);
	keywords_free(&mb->kw);
	mb_watch_stop(mb);
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
	if (mb_disk_sync(mb, 0, 1) == -1)
		return -1;
	if (mb_keywords_refresh(mb, 0))
		mb->kw_changed = 1;
	/* new names first: the FETCH responses that follow may use them */
	if (mb->kw_changed && ev != NULL && ev->keywords != NULL) {
		ev->keywords(ev->arg);
		mb->kw_changed = 0;
	}
	return mb_view_update(mb, allow_expunge, ev);
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

	if (!mb_view_rec(mb, seq, &r))
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

	if (!mb_view_rec(mb, seq, &r))
		return -1;
	objectid_email(r.base, out);
	return 0;
}

struct uid_key {
	const struct mailbox	*mb;
	uint32_t		 uid;
};

static int
view_before(const void *arg, size_t i)
{
	const struct uid_key *k = arg;

	return k->mb->v[i].uid < k->uid;
}

static int
fact_before(const void *arg, size_t i)
{
	const struct uid_key *k = arg;

	return k->mb->facts[i].uid < k->uid;
}

uint32_t
mailbox_seq_from_uid(const struct mailbox *mb, uint32_t uid)
{
	struct uid_key k = { mb, uid };

	return (uint32_t)(sorted_bound(0, mb->n, view_before, &k) + 1);
}

uint32_t
mailbox_seq_of_uid(const struct mailbox *mb, uint32_t uid)
{
	uint32_t seq = mailbox_seq_from_uid(mb, uid);

	return seq <= mb->n && mb->v[seq - 1].uid == uid ? seq : 0;
}

int
mb_relpath_of(const struct uc_rec *r, char *out, size_t len)
{
	return mb_pathf(out, len, "%s/%s%s", r->in_new ? "new" : "cur", r->base,
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
	if (!mb_view_rec(mb, seq, &r))
		return -1;
	return mb_relpath_of(&r, out, len);
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
		mb_scan_init(&sc);
		if (mb_list_dirs(&ds, &sc) == -1) {
			mb_scan_free(&sc);
			return -1;
		}
		exact = sc.exact;
		k = mb_scan_find(&sc, r->base, strlen(r->base));
		if (k >= 0 && mb_entry_path(&sc, &sc.e[k], out, len) == 0) {
			in_new = sc.e[k].in_new;
			flags = sc.e[k].flags;
			kw = sc.e[k].kw;
			(void)mb_pathf(info, sizeof(info), "%s%s%s",
			    mb_ename(&sc, &sc.e[k]) + sc.e[k].baselen, "", "");
			mb_scan_free(&sc);
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
		mb_scan_free(&sc);
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
	if (mb_disk_sync(mb, 1, 0) == -1)
		return -1;
	if (!mb_view_rec(mb, seq, &r)) {
		if (errno == ESTALE)
			return -1;
		if (!(mb->v[seq - 1].state & VM_GONE)) {
			mb->v[seq - 1].state |= VM_GONE;
			mb->ngone++;
		}
		errno = ENOENT;
		return -1;
	}
	if (mb_relpath_of(&r, out, len) == -1)
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
	struct uid_key k = { mb, uid };
	size_t n = mb->nfacts;

	if (n > 0 && mb->facts[n - 1].uid < uid)
		return n;
	return sorted_bound(0, n, fact_before, &k);
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

/*
 * Open (st NULL) or stat a message file, rel under the folder.  A stale
 * handle on a network file system (ESTALE: the file was replaced or
 * removed on the server) is tried once more by the whole path, looked up
 * afresh; stale again, the file counts as gone (ENOENT).  A descriptor
 * (or 0 for a stat), or -1.
 */
static int
at_rel(struct mailbox *mb, const char *rel, struct stat *st)
{
	char full[PATH_LEN];
	int r;

	r = st == NULL ? openat(mb->dirfd, rel, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC) : fstatat(mb->dirfd, rel, st, AT_SYMLINK_NOFOLLOW);
	if (r != -1 || errno != ESTALE)
		return r;
	if (mb_pathf(full, sizeof(full), "%s/%s%s", mb->dir, rel, "") == -1)
		return -1;
	r = st == NULL ? open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) :
	    lstat(full, st);
	if (r == -1 && errno == ESTALE)
		errno = ENOENT;
	return r;
}

/* Open a message's file, following a rename by another program once. */
static int
open_msg(struct mailbox *mb, uint32_t seq)
{
	char rel[PATH_LEN];
	int fd;

	if (mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1)
		return -1;
	fd = at_rel(mb, rel, NULL);
	if (fd == -1 && errno == ENOENT &&
	    mailbox_relocate(mb, seq, rel, sizeof(rel)) == 0)
		fd = at_rel(mb, rel, NULL);
	return fd;
}

int
mb_file_vsize(int fd, uint64_t *vs)
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
	if ((fd = open_msg(mb, seq)) == -1 || mb_file_vsize(fd, vs) == -1)
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
	if (at_rel(mb, rel, &sb) == -1) {
		if (errno != ENOENT ||
		    mailbox_relocate(mb, seq, rel, sizeof(rel)) == -1 ||
		    at_rel(mb, rel, &sb) == -1)
			return -1;
	}
	*t = (int64_t)sb.st_mtim.tv_sec;
	add_fact(mb, mb->v[seq - 1].uid, MD_SIZE_UNKNOWN, *t);
	return 0;
}

void
mb_facts_flush(struct uidcache *uc, const char *dir, uint32_t uv,
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
		mb_facts_flush(mb->uc, mb->dir, mb->uidvalidity, mb->facts,
		    mb->nfacts);
	mb->nfacts = 0;
}
