/*
 * mailbox-write: the changes a session makes to its folder: flags and
 * keywords (STORE), EXPUNGE, new messages (APPEND), COPY and MOVE.
 *
 * Every change is made on disk first and then recorded in the UID cache
 * under the folder's lock; the server never replaces a file (every
 * rename is md_rename()).  A flag change the cache cannot record is kept
 * beside it (see "changes the cache could not record" in
 * mailbox-sync.c).  New messages become visible all together or not at
 * all (see "delivery" below).
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/safefile.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/keywords.h"
#include "maildir/mailbox-int.h"
#include "maildir/mailbox.h"
#include "maildir/objectid.h"
#include "maildir/uidcache.h"

/* ---- changes ---------------------------------------------------------- */

int
mailbox_keyword(struct mailbox *mb, const char *name)
{
	int k = keywords_find(&mb->kw, name);

	if (k >= 0)
		return k;
	/* the folder lock keeps two sessions from taking the same letter */
	if (mb_lock(mb) == -1)
		return -1;
	if (mb_keywords_refresh(mb, 0))
		mb->kw_changed = 1;
	k = keywords_add(mb->dir, &mb->kw, name);
	uidcache_unlock(mb->uc);
	return k;
}

struct change {
	uint32_t	seq;
	unsigned	flags;
	uint32_t	kw;
	char		info[MDNAME_MAX + 1];
};

static unsigned
apply_op(unsigned cur, int op, unsigned val)
{
	if (op > 0)
		return cur | val;
	if (op < 0)
		return cur & ~val;
	return val;
}

/* The letters this folder has names for: a STORE that replaces the
 * keywords replaces only these, and keeps letters another program set
 * that nobody has named (they are not ours to drop). */
static uint32_t
named_keywords(const struct mailbox *mb)
{
	uint32_t mask = 0;
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++)
		if (mb->kw.name[i] != NULL)
			mask |= 1U << i;
	return mask;
}

/*
 * Change the flags of one message: rename its file, starting from its
 * name on disk now (another program may have changed the flags since the
 * view last looked).  1 and *ch filled if the name changed, 0 and *ch
 * filled if it already had those flags, 2 if the message is gone, -1
 * (errno) if it could not be done: ENAMETOOLONG when the name cannot
 * hold the flag letters.
 */
static int
store_one(struct mailbox *mb, uint32_t seq, int op, unsigned flags,
    uint32_t kw, struct change *ch)
{
	char from[PATH_LEN], to[PATH_LEN], name[MDNAME_MAX + 1];
	uint32_t named = named_keywords(mb);
	struct uc_rec r;
	struct mdname md;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (!mb_view_rec(mb, seq, &r))
			return errno == ESTALE ? -1 : 2;
		if (mb_pathf(name, sizeof(name), "%s%s%s", r.base, r.info, "")
		    == -1 || mdname_parse(name, &md) == -1)
			return -1;
		md.flags = apply_op(md.flags, op, flags & MF_ALL);
		if (op == 0)
			md.keywords = (kw & named) | (md.keywords & ~named);
		else
			md.keywords = apply_op(md.keywords, op, kw);
		if (mdname_build(to + 4, sizeof(to) - 4, r.base,
		    strlen(r.base), md.flags, md.keywords, md.other) == -1) {
			log_warnx("%s: cannot store flags on %s: the name "
			    "cannot hold them within %d bytes", mb->dir, name,
			    MDNAME_MAX);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(to, "cur/", 4);
		if (mb_pathf(from, sizeof(from), "%s/%s%s",
		    r.in_new ? "new" : "cur", name, "") == -1)
			return -1;
		ch->seq = seq;
		ch->flags = md.flags;
		ch->kw = md.keywords;
		/* cannot be cut: names are at most MDNAME_MAX */
		(void)mb_pathf(ch->info, sizeof(ch->info), "%s%s%s",
		    to + 4 + strlen(r.base), "", "");
		if (strcmp(from, to) == 0) {
			/* already so, if the file still has that name */
			if (faccessat(mb->dirfd, from, F_OK,
			    AT_SYMLINK_NOFOLLOW) == 0)
				return 0;
			if (mailbox_relocate(mb, seq, from, sizeof(from)) ==
			    -1)
				return errno == ENOENT ? 2 : -1;
			continue;
		}
		if (md_rename(mb->dirfd, from, mb->dirfd, to) == 0)
			return 1;
		if (errno == EEXIST) {
			/* another file holds the name (a broken copy): a
			 * sync gives it a base of its own, then try again */
			if (mb_disk_sync(mb, 1, 0) == -1)
				return -1;
			continue;
		}
		if (errno != ENOENT) {
			log_warn("%s: cannot rename %s", mb->dir, from);
			return -1;
		}
		/* renamed or expunged behind our back: look again */
		if (mailbox_relocate(mb, seq, from, sizeof(from)) == -1)
			return errno == ENOENT ? 2 : -1;
	}
	log_warnx("%s: cannot store flags on message %u: its file keeps "
	    "changing or another file holds its new name", mb->dir,
	    mb->v[seq - 1].uid);
	errno = EAGAIN;
	return -1;
}

int
mailbox_store(struct mailbox *mb, const uint32_t *seqs, size_t n, int op,
    unsigned flags, uint32_t kw, void (*changed)(void *, uint32_t),
    void *arg)
{
	struct change *ch, one;
	size_t i, nch = 0;
	int ret = 0, e = 0, r, recorded = 0;
	uint32_t seq;

	if (mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if ((ch = reallocarray(NULL, n + 1, sizeof(*ch))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		seq = seqs[i];
		if (seq < 1 || seq > mb->n || (mb->v[seq - 1].state & VM_GONE))
			continue;
		r = store_one(mb, seq, op, flags, kw, &one);
		if (r == 1) {
			ch[nch++] = one;
			continue;
		}
		if (r == 2)
			continue;
		if (r == -1) {
			if (errno == ESTALE) {
				free(ch);
				return -1;
			}
			ret = -1;
			e = errno;
			continue;
		}
		/* the name on disk already says so; the view may be behind */
		if (mb->v[seq - 1].flags != (one.flags & MF_ALL) ||
		    mb->v[seq - 1].kw != one.kw) {
			mb->v[seq - 1].flags = (uint8_t)(one.flags & MF_ALL);
			mb->v[seq - 1].kw = one.kw;
			if (changed != NULL)
				changed(arg, seq);
		}
	}
	if (nch > 0) {
		/* the files are renamed: that is the change.  The cache
		 * follows; if it cannot (a full disk), the next sync that
		 * can records the new names, and the session notes them
		 * meanwhile */
		if (mb_lock(mb) == -1) {
			if (errno == ESTALE) {
				free(ch);
				return -1;
			}
			log_warn("%s: cannot record flag changes", mb->dir);
		} else {
			for (i = 0; i < nch; i++) {
				uint32_t uid = mb->v[ch[i].seq - 1].uid;

				if (uidcache_update(mb->uc, uid, ch[i].flags,
				    ch[i].kw, ch[i].info, 0) == -1 &&
				    errno != ENOENT)
					log_warn("%s: cannot record the flags "
					    "of UID %u", mb->dir, uid);
			}
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record flag changes "
				    "(the next sync does)", mb->dir);
			else
				recorded = 1;
			uidcache_unlock(mb->uc);
		}
		for (i = 0; i < nch; i++) {
			struct vmsg *v = &mb->v[ch[i].seq - 1];

			if (!recorded)
				mb_unrec_note(mb, v->uid, ch[i].flags, ch[i].kw,
				    ch[i].info);
			v->flags = (uint8_t)(ch[i].flags & MF_ALL);
			v->kw = ch[i].kw;
			if (changed != NULL)
				changed(arg, ch[i].seq);
		}
		/* the view already shows our own changes */
		mb->seen_changes = uidcache_changes(mb->uc);
	}
	free(ch);
	if (ret == -1)
		errno = e;
	return ret;
}

/* Take uids (ascending, n of them) out of the view, as files this
 * session removed, and report them; the view then never takes them back
 * (see uid_floor), whatever the cache could record. */
static void
view_drop(struct mailbox *mb, const uint32_t *uids, size_t n,
    const struct mailbox_events *ev)
{
	size_t i, out = 0, k = 0, nrecent = 0;
	uint32_t *seqs, *su;
	size_t nseq = 0;

	if (n == 0)
		return;
	if ((seqs = reallocarray(NULL, n, sizeof(*seqs))) == NULL)
		return;		/* mb_view_update() reports them instead */
	if ((su = reallocarray(NULL, n, sizeof(*su))) == NULL) {
		free(seqs);
		return;
	}
	for (i = 0; i < mb->n; i++) {
		while (k < n && uids[k] < mb->v[i].uid)
			k++;
		if (k < n && uids[k] == mb->v[i].uid) {
			su[nseq] = uids[k];
			seqs[nseq++] = (uint32_t)(i + 1);
			if (mb->v[i].state & VM_GONE)
				mb->ngone--;
			continue;
		}
		mb->v[out++] = mb->v[i];
	}
	mb->n = out;
	for (i = nseq; ev != NULL && ev->expunge != NULL && i > 0; i--)
		ev->expunge(ev->arg, seqs[i - 1], su[i - 1]);
	for (i = 0; i < mb->n; i++)
		if (mb->v[i].state & VM_RECENT)
			nrecent++;
	if (nrecent != mb->nrecent) {
		mb->nrecent = (uint32_t)nrecent;
		if (ev != NULL && ev->recent != NULL)
			ev->recent(ev->arg, mb->nrecent);
	}
	free(seqs);
	free(su);
}

/* Whether the file name at rel ("cur/<name>") carries \Deleted. */
static int
name_deleted(const char *rel)
{
	const char *slash = strchr(rel, '/');
	struct mdname md;

	return slash != NULL && mdname_parse(slash + 1, &md) == 0 &&
	    (md.flags & MF_DELETED);
}

/*
 * Remove the file of the message at seq if it is (still) \Deleted,
 * following a rename by another program.  What counts is the name of the
 * file as it is now: the cache knows when another session took \Deleted
 * away, but not a \Deleted this session set when the cache could not
 * record it (a full disk), which only the view and the name know.  So a
 * message that either calls \Deleted has its file's name looked at.
 * 1 removed, 0 not (no longer \Deleted, or already gone), -1 (errno).
 */
static int
expunge_one(struct mailbox *mb, uint32_t seq)
{
	char rel[PATH_LEN];
	struct uc_rec r;
	int tries;

	if (!mb_view_rec(mb, seq, &r))
		return errno == ESTALE ? -1 : 0;
	if (!((r.flags | mb->v[seq - 1].flags) & MF_DELETED) ||
	    mb_relpath_of(&r, rel, sizeof(rel)) == -1)
		return 0;
	for (tries = 0; tries < 3; tries++) {
		if (!name_deleted(rel)) {
			/* the file is there without \Deleted: it stays */
			if (faccessat(mb->dirfd, rel, F_OK,
			    AT_SYMLINK_NOFOLLOW) == 0)
				return 0;
		} else if (unlinkat(mb->dirfd, rel, 0) == 0)
			return 1;
		if (errno != ENOENT) {
			log_warn("%s: cannot remove %s", mb->dir, rel);
			return -1;
		}
		/* renamed meanwhile (its flags may have changed too), or
		 * removed by someone else: look again */
		if (mailbox_relocate(mb, seq, rel, sizeof(rel)) == -1)
			return errno == ENOENT ? 0 : -1;
	}
	return 0;
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
    const struct mailbox_events *ev)
{
	uint32_t *gone;
	size_t i, ngone = 0, lo = 0;
	int ret = 0, e = 0, r;

	if (mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (mb_disk_sync(mb, 0, 0) == -1)
		return -1;
	if ((gone = reallocarray(NULL, mb->n + 1, sizeof(*gone))) == NULL)
		return -1;
	for (i = 0; i < mb->n; i++) {
		uint32_t uid = mb->v[i].uid;

		if (uids != NULL) {
			while (lo < nuids && uids[lo] < uid)
				lo++;
			if (lo == nuids || uids[lo] != uid)
				continue;
		}
		/* the cache, not the view, says whether it is \Deleted:
		 * another session may have changed that */
		r = expunge_one(mb, (uint32_t)(i + 1));
		if (r == 1)
			gone[ngone++] = uid;
		else if (r == -1) {
			if (errno == ESTALE) {
				free(gone);
				return -1;
			}
			ret = -1;
			e = errno;
		}
	}
	if (ngone > 0) {
		if (mb_lock(mb) == 0) {
			for (i = 0; i < ngone; i++)
				(void)uidcache_expunge(mb->uc, gone[i]);
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record expunged messages "
				    "(the next sync does)", mb->dir);
			uidcache_unlock(mb->uc);
		} else if (errno != ESTALE)
			log_warn("%s: cannot record expunged messages (the "
			    "next sync does)", mb->dir);
	}
	/* the files are gone whatever the cache could record */
	view_drop(mb, gone, ngone, ev);
	free(gone);
	if (mb->stale_uv == 0 && mb_view_update(mb, 1, ev) == -1 && ret == 0) {
		ret = -1;
		e = errno;
	}
	if (ret == -1)
		errno = e;
	return ret;
}

/* ---- delivery ------------------------------------------------------------ */

/*
 * New messages (APPEND) reach a folder in two steps.  While the client
 * sends one, its bytes go straight into a new file in tmp/, so memory
 * does not grow with the message, and nothing in tmp/ is a message to
 * anyone.  Only when the command is complete are the files placed, all
 * together, under the folder's lock: each is synced and moved into cur/
 * under its final name, cur/ is synced, and one cache commit gives them
 * their UIDs.  A sync in another session needs that lock to give a file
 * a UID, so none of them gets one before the commit; if any step fails,
 * every file placed is taken out again before the lock is let go, and
 * the client was shown none of them: all or nothing, as MULTIAPPEND asks.
 */

struct newmsg {
	char		 tmprel[MDNAME_MAX + 5];	/* "tmp/<name>" */
	char		 base[MDNAME_MAX + 1];	/* in cur/, once placed */
	char		 name[MDNAME_MAX + 1];
	uint64_t	 size;
	uint64_t	 written;
	uint64_t	 lfs;		/* LFs without a CR before them */
	int64_t		 mtime;
	unsigned	 flags;
	uint32_t	 kw;
	int		 placed;	/* in cur/ under name */
};

struct mailbox_delivery {
	char		*dir;
	int		 dirfd;
	int		 fd;		/* the message being written, or -1 */
	char		 prev;		/* its last byte so far */
	struct newmsg	*m;
	size_t		 n;
	int		 committed;
};

/* Place tmp/<tmpname> at cur/<name> without ever replacing a file. */
static int
place(int dirfd, const char *tmprel, const char *currel)
{
	return md_rename(dirfd, tmprel, dirfd, currel);
}

/* The LFs in p[0..n) that no CR precedes (RFC822.SIZE counts CRLF);
 * *prev is the byte before p, and becomes p's last. */
static uint64_t
bare_lfs(const char *p, size_t n, char *prev)
{
	uint64_t lfs = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i > 0 ? p[i - 1] : *prev) != '\r')
			lfs++;
	}
	if (n > 0)
		*prev = p[n - 1];
	return lfs;
}

/* Copy size bytes from in to out, counting LFs that need a CR.  0 or -1
 * (errno). */
static int
copy_out(int out, int in, uint64_t size, uint64_t *lfs_r)
{
	char buf[65536], prev = 0;
	uint64_t left = size, lfs = 0;
	ssize_t n;

	while (left > 0) {
		n = read(in, buf, left > sizeof(buf) ? sizeof(buf) :
		    (size_t)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		lfs += bare_lfs(buf, (size_t)n, &prev);
		if (safefile_write(out, buf, (size_t)n) == -1)
			return -1;
		left -= (uint64_t)n;
	}
	*lfs_r = lfs;
	return 0;
}

/* A unique base with sizes: "<unique>,S=<size>,W=<vsize>". */
static int
new_base(char *out, size_t len, uint64_t size, uint64_t vsize)
{
	return mdname_unique(out, len, size, vsize);
}

/* Give a file this process placed in cur/ (name, whose base is its
 * first baselen bytes) its UID, under the lock.  A sync in another
 * session may have given it one already (COPY places files without the
 * lock): then that is its UID.  0 with errno on failure. */
static uint32_t
add_placed(struct uidcache *uc, const char *name, size_t baselen,
    unsigned flags, uint32_t kw, uint64_t vsize, int64_t mtime)
{
	struct uc_rec r;
	uint32_t uid;

	uid = uidcache_add(uc, name, baselen, name + baselen, 0, flags, kw,
	    vsize, mtime);
	if (uid == 0 && errno == EEXIST &&
	    uidcache_by_base(uc, name, baselen, &r))
		uid = r.uid;
	return uid;
}

int
mailbox_deliver_open(const char *dir, struct mailbox_delivery **dp)
{
	struct mailbox_delivery *d;
	int e;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	d->fd = -1;
	if ((d->dir = strdup(dir)) == NULL ||
	    (d->dirfd = folder_open(dir)) == -1) {
		e = errno;
		free(d->dir);
		free(d);
		errno = e;
		return -1;
	}
	*dp = d;
	return 0;
}

size_t
mailbox_deliver_count(const struct mailbox_delivery *d)
{
	return d->n;
}

/* The message being written is complete: close its file (synced when
 * the command is, see deliver_sync). */
static int
deliver_close(struct mailbox_delivery *d)
{
	int fd = d->fd;

	d->fd = -1;
	return close(fd);
}

int
mailbox_deliver_add(struct mailbox_delivery *d, uint64_t size)
{
	struct newmsg *m, *nm;
	char base[MDNAME_MAX + 1];

	if (d->fd != -1 || d->committed) {
		errno = EINVAL;
		return -1;
	}
	if ((nm = reallocarray(d->m, d->n + 1, sizeof(*nm))) == NULL)
		return -1;
	d->m = nm;
	m = &d->m[d->n];
	memset(m, 0, sizeof(*m));
	m->size = size;
	if (new_base(base, sizeof(base), size, MD_SIZE_UNKNOWN) == -1 ||
	    mb_pathf(m->tmprel, sizeof(m->tmprel), "tmp/%s%s%s", base, "", "")
	    == -1)
		return -1;
	d->fd = openat(d->dirfd, m->tmprel, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->fd == -1)
		return -1;
	d->n++;
	d->prev = 0;
	if (size == 0 && deliver_close(d) == -1)
		return -1;
	return 0;
}

int
mailbox_deliver_write(struct mailbox_delivery *d, const void *p, size_t n)
{
	struct newmsg *m = d->n > 0 ? &d->m[d->n - 1] : NULL;

	if (d->fd == -1 || m == NULL || n > m->size - m->written) {
		errno = EINVAL;
		return -1;
	}
	m->lfs += bare_lfs(p, n, &d->prev);
	if (safefile_write(d->fd, p, n) == -1)
		return -1;
	m->written += n;
	if (m->written == m->size && deliver_close(d) == -1)
		return -1;
	return 0;
}

/* Make one complete message durable in tmp/ with its INTERNALDATE. */
static int
deliver_sync(struct mailbox_delivery *d, struct newmsg *m)
{
	struct timespec ts[2];
	struct stat sb;
	int fd, e;

	fd = openat(d->dirfd, m->tmprel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (m->mtime >= 0) {
		ts[0].tv_sec = ts[1].tv_sec = m->mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(fd, ts) == -1)
			goto fail;
	} else {
		if (fstat(fd, &sb) == -1)
			goto fail;
		m->mtime = (int64_t)sb.st_mtim.tv_sec;
	}
	if (fsync(fd) == -1)
		goto fail;
	return close(fd);
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Give the keywords of message i letters of the folder (its lock is
 * held).  A keyword for which no letter is left is not stored, as a
 * flag the folder cannot hold; any other failure fails the delivery. */
static int
deliver_keywords(struct mailbox_delivery *d, struct keywords *kw,
    const struct mailbox_newmsg *meta, struct newmsg *m)
{
	size_t k;
	int letter;

	for (k = 0; k < meta->nkw; k++) {
		if ((letter = keywords_add(d->dir, kw, meta->kw[k])) >= 0)
			m->kw |= 1U << letter;
		else if (errno != EMLINK)
			return -1;
	}
	return 0;
}

/* Move message m from tmp/ into cur/ under its final name. */
static int
deliver_place(struct mailbox_delivery *d, struct newmsg *m)
{
	char currel[MDNAME_MAX + 5];

	if (new_base(m->base, sizeof(m->base), m->size, m->size + m->lfs) ==
	    -1 || mdname_build(m->name, sizeof(m->name), m->base,
	    strlen(m->base), m->flags, m->kw, "") == -1 ||
	    mb_pathf(currel, sizeof(currel), "cur/%s%s%s", m->name, "",
	    "") == -1)
		return -1;
	if (place(d->dirfd, m->tmprel, currel) == -1)
		return -1;
	m->placed = 1;
	return 0;
}

/* Take every placed message back out of cur/ (the lock is still held,
 * so nobody gave them UIDs). */
static void
deliver_unplace(struct mailbox_delivery *d)
{
	char currel[MDNAME_MAX + 5];
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (!d->m[i].placed)
			continue;
		if (mb_pathf(currel, sizeof(currel), "cur/%s%s%s", d->m[i].name,
		    "", "") == 0 && unlinkat(d->dirfd, currel, 0) == -1 &&
		    errno != ENOENT)
			log_warn("%s: a message of a failed APPEND is left in "
			    "%s (remove it by hand)", d->dir, currel);
		d->m[i].placed = 0;
	}
}

int
mailbox_deliver_commit(struct mailbox_delivery *d,
    const struct mailbox_newmsg *meta, uint32_t *uids_r,
    uint32_t *uidvalidity_r)
{
	struct uidcache *uc = NULL;
	struct keywords kw;
	char err[256];
	size_t i;
	uint32_t uid;
	int e, locked = 0;

	memset(&kw, 0, sizeof(kw));
	if (d->fd != -1 || d->committed || d->n == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		if (d->m[i].written != d->m[i].size) {
			errno = EINVAL;
			return -1;
		}
		d->m[i].flags = meta[i].flags;
		d->m[i].mtime = meta[i].mtime;
		if (deliver_sync(d, &d->m[i]) == -1)
			return -1;
	}
	if (uidcache_open(d->dir, &uc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", d->dir, err);
		return -1;
	}
	if (uidcache_lock(uc) == -1)
		goto fail;
	locked = 1;
	if (keywords_load(d->dir, &kw) == -1)
		log_warn("%s: cannot read %s", d->dir, KEYWORDS_FILE);
	for (i = 0; i < d->n; i++)
		if (deliver_keywords(d, &kw, &meta[i], &d->m[i]) == -1 ||
		    deliver_place(d, &d->m[i]) == -1)
			goto fail;
	if (safefile_sync_dir(d->dirfd, "cur") == -1)
		goto fail;
	for (i = 0; i < d->n; i++) {
		uid = add_placed(uc, d->m[i].name, strlen(d->m[i].base),
		    d->m[i].flags, d->m[i].kw, d->m[i].size + d->m[i].lfs,
		    d->m[i].mtime);
		if (uid == 0)
			goto fail;
		uids_r[i] = uid;
	}
	if (uidcache_commit(uc) == -1)
		goto fail;
	*uidvalidity_r = uidcache_uidvalidity(uc);
	d->committed = 1;
	uidcache_unlock(uc);
	uidcache_close(uc);
	keywords_free(&kw);
	return 0;
fail:
	e = errno;
	/* a message without a durable UID would come back as a duplicate
	 * when the client tries again: none of them stays */
	deliver_unplace(d);
	if (locked)
		uidcache_unlock(uc);
	uidcache_close(uc);
	keywords_free(&kw);
	errno = e;
	return -1;
}

void
mailbox_deliver_free(struct mailbox_delivery *d)
{
	size_t i;
	int e = errno;

	if (d == NULL)
		return;
	if (d->fd != -1)
		close(d->fd);
	for (i = 0; i < d->n && !d->committed; i++) {
		if (d->m[i].placed)
			continue;
		if (unlinkat(d->dirfd, d->m[i].tmprel, 0) == -1 &&
		    errno != ENOENT)
			log_warn("%s: cannot remove %s", d->dir,
			    d->m[i].tmprel);
	}
	close(d->dirfd);
	free(d->m);
	free(d->dir);
	free(d);
	errno = e;
}

/* ---- copy and move --------------------------------------------------- */

struct placed {
	char		name[MDNAME_MAX + 1];	/* in dst cur/ */
	size_t		baselen;
	unsigned	flags;
	uint32_t	kw;		/* letters of the target */
	uint64_t	vsize;
	int64_t		mtime;
	uint32_t	srcuid;
	uint32_t	srcseq;
	char		srcrel[PATH_LEN];	/* where it is in the source */
};

/* Copy a file's bytes into dst tmp/ and place it at cur/name. */
static int
byte_copy(int srcdir, const char *srcrel, int dstdir, const char *name)
{
	char tmprel[PATH_LEN], currel[PATH_LEN];
	struct stat sb;
	uint64_t lfs;
	int in, out, e;

	if ((in = openat(srcdir, srcrel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC))
	    == -1)
		return -1;
	if (fstat(in, &sb) == -1 ||
	    mb_pathf(tmprel, sizeof(tmprel), "tmp/%s%s%s", name, "",
	    "") == -1 ||
	    mb_pathf(currel, sizeof(currel), "cur/%s%s%s", name, "",
	    "") == -1) {
		close(in);
		return -1;
	}
	out = openat(dstdir, tmprel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (out == -1) {
		close(in);
		return -1;
	}
	if (copy_out(out, in, (uint64_t)sb.st_size, &lfs) == -1 ||
	    futimens(out, (struct timespec[2]){ sb.st_mtim, sb.st_mtim })
	    == -1 || fsync(out) == -1 || close(out) == -1 ||
	    place(dstdir, tmprel, currel) == -1) {
		e = errno;
		(void)unlinkat(dstdir, tmprel, 0);
		close(in);
		errno = e;
		return -1;
	}
	close(in);
	return 0;
}

/* Map keyword letters kw of this folder to letters of the target folder
 * (whose lock the caller holds) in *out.  A keyword the target has no
 * letter left for is not carried, as a flag it cannot hold; a keyword
 * file that cannot be written fails the copy (0 or -1, errno). */
static int
map_keywords(const struct keywords *from, const char *dstdir,
    struct keywords *to, uint32_t kw, uint32_t *out)
{
	int i, k;

	*out = 0;
	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (!(kw & (1U << i)) || from->name[i] == NULL)
			continue;
		if ((k = keywords_add(dstdir, to, from->name[i])) >= 0)
			*out |= 1U << k;
		else if (errno != EMLINK)
			return -1;
	}
	return 0;
}

static int
same_dir(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Make the copy's new base name keep its source's EMAILID (RFC 8474
 * 5.1 asks the same EMAILID after COPY and MOVE). */
static int
copy_emailid(const struct uc_rec *src, char *base, size_t size)
{
	char id[OBJECTID_LEN + 1];

	objectid_email(src->base, id);
	return objectid_carry(base, size, id);
}

/*
 * What a copy starts from: each source message's flags, keywords (as
 * letters of the target), sizes and a new name in the target.  The
 * target's lock is held only to give keywords letters there.
 */
static int
copy_prepare(struct mailbox *mb, const uint32_t *seqs, size_t n,
    const char *dstdir, struct uidcache *duc, int self, struct placed *pl)
{
	char src[MDNAME_MAX + 1], rel[PATH_LEN], base[MDNAME_MAX + 1];
	struct keywords dkw;
	struct uc_rec r;
	struct mdname md;
	size_t i;
	int locked = 0, e;

	memset(&dkw, 0, sizeof(dkw));
	for (i = 0; i < n; i++) {
		uint32_t seq = seqs[i];

		if (seq < 1 || seq > mb->n || (mb->v[seq - 1].state & VM_GONE) ||
		    !mb_view_rec(mb, seq, &r)) {
			if (mb->stale_uv == 0)
				errno = ESTALE;	/* expunged meanwhile */
			goto fail;
		}
		if (mb_relpath_of(&r, rel, sizeof(rel)) == -1 ||
		    mb_pathf(src, sizeof(src), "%s%s%s", r.base, r.info, "") ==
		    -1 || mdname_parse(src, &md) == -1)
			goto fail;
		if (md.size == MD_SIZE_UNKNOWN) {
			struct stat sb;

			if (fstatat(mb->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) ==
			    0)
				md.size = (uint64_t)sb.st_size;
		}
		pl[i].vsize = r.vsize != MD_SIZE_UNKNOWN ? r.vsize : md.vsize;
		pl[i].mtime = r.mtime;
		/* the flags the client was told: the view has this session's
		 * own changes even where the cache could not record them */
		pl[i].flags = mb->v[seq - 1].flags;
		pl[i].srcuid = r.uid;
		pl[i].kw = mb->v[seq - 1].kw;
		if (!self && pl[i].kw != 0) {
			/* the target's lock covers its keyword file */
			if (!locked) {
				if (uidcache_lock(duc) == -1)
					goto fail;
				locked = 1;
				if (keywords_load(dstdir, &dkw) == -1)
					log_warn("%s: cannot read %s", dstdir,
					    KEYWORDS_FILE);
			}
			if (map_keywords(&mb->kw, dstdir, &dkw,
			    mb->v[seq - 1].kw, &pl[i].kw) == -1)
				goto fail;
		}
		if (mdname_unique(base, sizeof(base), md.size,
		    pl[i].vsize) == -1 ||
		    copy_emailid(&r, base, sizeof(base)) == -1 ||
		    mdname_build(pl[i].name, sizeof(pl[i].name), base,
		    strlen(base), pl[i].flags, pl[i].kw, md.other) == -1)
			goto fail;
		pl[i].baselen = strlen(base);
	}
	if (locked)
		uidcache_unlock(duc);
	keywords_free(&dkw);
	return 0;
fail:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	keywords_free(&dkw);
	errno = e;
	return -1;
}

/* Put the source message of pl (at seq) into the target's cur/: a hard
 * link (for MOVE too: the source goes only once the target has its UIDs,
 * so a MOVE that fails half way leaves every source where it was, UID
 * and all); bytes only across file systems.  No lock is held: the name
 * is new and unique. */
static int
copy_place(struct mailbox *mb, uint32_t seq, int dfd, struct placed *pl)
{
	char currel[PATH_LEN];
	struct uc_rec r;
	int tries;

	if (mb_pathf(currel, sizeof(currel), "cur/%s%s%s", pl->name, "", "")
	    == -1)
		return -1;
	if (!mb_view_rec(mb, seq, &r)) {
		errno = ESTALE;	/* expunged meanwhile */
		return -1;
	}
	if (mb_relpath_of(&r, pl->srcrel, sizeof(pl->srcrel)) == -1)
		return -1;
	pl->srcseq = seq;
	for (tries = 0; tries < 3; tries++) {
		if (linkat(mb->dirfd, pl->srcrel, dfd, currel, 0) == 0)
			return 0;
		if (errno == EXDEV || errno == EPERM || errno == EMLINK ||
		    errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
			return byte_copy(mb->dirfd, pl->srcrel, dfd, pl->name);
		if (errno != ENOENT)
			return -1;
		/* renamed by another program: find it again (this may
		 * lock this folder; no other lock is held) */
		if (mailbox_relocate(mb, seq, pl->srcrel, sizeof(pl->srcrel))
		    == -1) {
			if (errno == ENOENT)
				errno = ESTALE;
			return -1;
		}
	}
	errno = EAGAIN;
	return -1;
}

/* Remove a moved message's source file, following a rename by another
 * program (its flags changed meanwhile).  0, or -1: then it stays in this
 * folder too (a copy, never a loss). */
static int
unlink_source(struct mailbox *mb, struct placed *pl)
{
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (unlinkat(mb->dirfd, pl->srcrel, 0) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		if (mailbox_relocate(mb, pl->srcseq, pl->srcrel,
		    sizeof(pl->srcrel)) == -1)
			return errno == ENOENT ? 0 : -1;
	}
	return -1;
}

/*
 * COPY and MOVE, in steps that never hold two folders' locks at once
 * (so two sessions copying in opposite directions cannot deadlock, and a
 * copy into the selected folder cannot lock it twice): the target's keyword
 * letters under its lock; the files placed under new unique names with
 * no lock; the target's UIDs under its lock; for a move, the sources
 * expunged under this folder's lock.
 */
int
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
    const char *dstdir, int move, uint32_t *uids_r, uint32_t *uidvalidity_r,
    const struct mailbox_events *ev)
{
	char currel[PATH_LEN], err[256];
	struct uidcache *duc = NULL;
	struct placed *pl = NULL;
	size_t i, npl = 0;
	int dfd, e, locked = 0, self;
	uint32_t uid;

	(void)ev;
	if (move && mb->readonly) {
		errno = EROFS;
		return -1;
	}
	if (mb->stale_uv != 0) {
		errno = ESTALE;
		return -1;
	}
	if ((dfd = folder_open(dstdir)) == -1)
		return -1;
	self = same_dir(mb->dirfd, dfd);
	if ((pl = calloc(n + 1, sizeof(*pl))) == NULL)
		goto fail;
	if (self)
		duc = mb->uc;
	else if (uidcache_open(dstdir, &duc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", dstdir, err);
		goto fail;
	}
	if (copy_prepare(mb, seqs, n, dstdir, duc, self, pl) == -1)
		goto fail;
	for (npl = 0; npl < n; npl++)
		if (copy_place(mb, seqs[npl], dfd, &pl[npl]) == -1)
			goto undo;
	if (safefile_sync_dir(dfd, "cur") == -1)
		goto undo;
	if (self ? mb_lock(mb) == -1 : uidcache_lock(duc) == -1)
		goto undo;
	locked = 1;
	for (i = 0; i < npl; i++) {
		uid = add_placed(duc, pl[i].name, pl[i].baselen, pl[i].flags,
		    pl[i].kw, pl[i].vsize, pl[i].mtime);
		if (uid == 0)
			goto undo;
		uids_r[i] = uid;
	}
	if (uidcache_commit(duc) == -1)
		goto undo;
	*uidvalidity_r = uidcache_uidvalidity(duc);
	uidcache_unlock(duc);
	locked = 0;

	if (move) {
		/* the sources go now that the target has the messages;
		 * expunged in this folder's cache, and reported at the
		 * caller's next sync */
		for (i = 0; i < npl; i++)
			if (unlink_source(mb, &pl[i]) == -1) {
				log_warn("%s: MOVE left %s in place too",
				    mb->dir, pl[i].srcrel);
				pl[i].srcuid = 0;
			}
		if (mb_lock(mb) == 0) {
			for (i = 0; i < npl; i++)
				if (pl[i].srcuid != 0)
					(void)uidcache_expunge(mb->uc,
					    pl[i].srcuid);
			if (uidcache_commit(mb->uc) == -1)
				log_warn("%s: cannot record moved messages "
				    "(the next sync does)", mb->dir);
			uidcache_unlock(mb->uc);
		}
	}
	if (!self)
		uidcache_close(duc);
	free(pl);
	close(dfd);
	return 0;

undo:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	locked = 0;
	/* the sources were never touched: take the new names back out */
	for (i = 0; i < npl; i++)
		if (mb_pathf(currel, sizeof(currel), "cur/%s%s%s", pl[i].name,
		    "", "") == 0)
			(void)unlinkat(dfd, currel, 0);
	errno = e;
fail:
	e = errno;
	if (locked)
		uidcache_unlock(duc);
	if (duc != NULL && !self)
		uidcache_close(duc);
	free(pl);
	close(dfd);
	errno = e;
	return -1;
}
