/*
 * mailbox-status: STATUS of a folder that is not selected.
 *
 * STATUS runs the same sync as a session (mailbox-sync.c) without a
 * view, read-only, and answers from the cache's counters.  It never
 * moves new/ to cur/, never renames a file and never claims \Recent.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "maildir/folder.h"
#include "maildir/mailbox-int.h"
#include "maildir/mailbox.h"
#include "maildir/uidcache.h"

/* ---- status ---------------------------------------------------------------- */

/* RFC822.SIZE of the message with uid, from its file, looked for again
 * (a forced sync) if another program renamed it.  0, or -1 if gone. */
static int
status_vsize(struct dsync *ds, uint32_t uid, uint64_t *vs)
{
	char rel[PATH_LEN];
	struct uc_rec r;
	int fd;

	if (!uidcache_by_uid(ds->uc, uid, &r) ||
	    mb_relpath_of(&r, rel, sizeof(rel)) == -1)
		return -1;
	fd = openat(ds->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && mb_dir_sync(ds, 1) == 0 &&
	    uidcache_by_uid(ds->uc, uid, &r) &&
	    mb_relpath_of(&r, rel, sizeof(rel)) == 0)
		fd = openat(ds->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd == -1 ? -1 : mb_file_vsize(fd, vs);
}

/* The sum of RFC822.SIZE: from the cache, and from the files of the
 * messages whose size it does not know yet (then remembered). */
static uint64_t
status_size(struct dsync *ds)
{
	struct uc_rec r;
	struct fact *f = NULL;
	uint32_t *unknown = NULL;
	size_t i, n, nunknown = 0, nf = 0;
	uint64_t sum = 0, vs;

	n = uidcache_count(ds->uc);
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(ds->uc, i, &r))
			continue;
		if (r.vsize != MD_SIZE_UNKNOWN) {
			sum += r.vsize;
			continue;
		}
		if (unknown == NULL &&
		    (unknown = reallocarray(NULL, n, sizeof(*unknown))) == NULL)
			return sum;
		unknown[nunknown++] = r.uid;
	}
	/* another program may rename a file meanwhile, which a forced sync
	 * finds: go by UID, not by position */
	if (nunknown > 0 &&
	    (f = reallocarray(NULL, nunknown, sizeof(*f))) != NULL)
		for (i = 0; i < nunknown; i++) {
			if (status_vsize(ds, unknown[i], &vs) == -1)
				continue;
			sum += vs;
			f[nf].uid = unknown[i];
			f[nf].vsize = vs;
			f[nf].mtime = UC_MTIME_UNKNOWN;
			nf++;
		}
	mb_facts_flush(ds->uc, ds->dir, uidcache_uidvalidity(ds->uc), f, nf);
	free(f);
	free(unknown);
	return sum;
}

/*
 * STATUS without a view: a read-only sync of the folder with its cache
 * (no new/ moved, no \Recent claimed), then the cache's counters; only
 * SIZE looks at every message.
 */
int
mailbox_status(const char *dir, int want_size, struct mailbox_status *st)
{
	struct dsync ds;
	char err[256];
	int r = -1, e;

	memset(st, 0, sizeof(*st));
	memset(&ds, 0, sizeof(ds));
	ds.dir = dir;
	ds.readonly = 1;
	if ((ds.dirfd = folder_open(dir)) == -1)
		return -1;
	if (uidcache_open(dir, &ds.uc, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", dir, err);
		goto out;
	}
	if (mb_dir_sync(&ds, 0) == -1)
		goto out;
	if (uidcache_uidvalidity(ds.uc) == 0) {
		errno = EIO;	/* no cache, and none could be made */
		goto out;
	}
	st->messages = (uint32_t)uidcache_count(ds.uc);
	st->recent = uidcache_count_recent(ds.uc);
	st->uidnext = uidcache_uidnext(ds.uc);
	st->uidvalidity = uidcache_uidvalidity(ds.uc);
	st->unseen = uidcache_count_unseen(ds.uc);
	st->deleted = uidcache_count_deleted(ds.uc);
	st->highestmodseq = uidcache_highestmodseq(ds.uc);
	if (want_size)
		st->size = status_size(&ds);
	r = 0;
out:
	e = errno;
	if (ds.uc != NULL)
		uidcache_close(ds.uc);
	close(ds.dirfd);
	errno = e;
	return r;
}
