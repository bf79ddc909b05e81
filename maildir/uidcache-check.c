/*
 * uidcache-check: what imapd-cache asks of a folder's UID cache:
 * check it, rebuild it (from another server's list), or read another
 * server's UIDVALIDITY.
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

/* ---- for imapd-cache ---------------------------------------------- */

/* A decimal UIDVALIDITY file read without a lock; 0 if none. */
static uint32_t
peek_uv(const char *path)
{
	char b[16];
	uint64_t v;
	size_t got;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = mapfile_pread(fd, b, sizeof(b) - 1, 0, &got);
	close(fd);
	if (r == -1)
		return 0;
	if (got > 0 && b[got - 1] == '\n')
		got--;
	return strnum_u64_n(b, got, UC_UID_MAX, &v) == 0 ? (uint32_t)v : 0;
}

/* The greatest UIDVALIDITY readable in the files set aside. */
static uint32_t
aside_uv(const struct uidcache *c)
{
	char path[PATH_MAX];
	struct state *s;
	struct stat st;
	uint64_t gen;
	uint32_t uv = 0, juv;
	int fd, ioerr;

	if (path_of(c, FN_LOG_BAD, path) == 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		if (log_header(fd, &gen, &juv, &ioerr) && juv <= UC_UID_MAX)
			uv = juv;
		close(fd);
	}
	if (path_of(c, FN_CDB_BAD, path) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return uv;
	if (fstat(fd, &st) == 0 && st.st_size >= 2048 &&
	    (uint64_t)st.st_size <= UINT32_MAX &&
	    (s = state_new()) != NULL) {
		if (mapfile_open(fd, (size_t)st.st_size, 0, &s->snap) == 0) {
			s->mapped = 1;
			(void)mapfile_cdb(&s->snap, &s->db);
			/* a header that checks out gives its UIDVALIDITY
			 * even when the rest is damaged */
			(void)snap_check(s);
			if (s->damaged_uv > uv)
				uv = s->damaged_uv;
		}
		state_free(s);
	}
	close(fd);
	return uv;
}

/* A snapshot without its journal: a compaction to finish, or damage. */
static const char *
needlog_damage(const struct uidcache *c, const struct state *s)
{
	char path[PATH_MAX];
	uint64_t gen;
	uint32_t uv;
	int fd, ok = 0, ioerr;

	if (s->jstate != J_NONE)
		return NULL;	/* the journal it absorbed: replaced next */
	if (path_of(c, FN_LOG_NEW, path) == 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		ok = log_header(fd, &gen, &uv, &ioerr) && gen == s->gen;
		close(fd);
	}
	return ok ? NULL : "journal lost (snapshot without journal)";
}

int
uidcache_check(const char *dir, struct uc_check *ck)
{
	struct uidcache c;
	struct state *s = NULL;
	char path[PATH_MAX];
	int tries, r = LS_NONE;

	memset(ck, 0, sizeof(*ck));
	memset(&c, 0, sizeof(c));
	if (strlen(dir) + 1 + sizeof(FN_LONGEST) > PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	c.dir = (char *)(uintptr_t)dir;	/* only read */
	c.lockfd = -1;
	for (tries = 0; tries < READ_TRIES; tries++) {
		state_free(s);
		if ((r = load_full(&c, 1, &s)) == -1)
			return -1;
		if (r != LS_MISMATCH)
			break;
		sched_yield();
	}
	ck->present = r != LS_NONE;
	if (r == LS_NEEDLOG) {
		ck->damage = needlog_damage(&c, s);
		ck->unfinished = ck->damage == NULL;
	} else if (r == LS_MISMATCH || r == LS_DAMAGED)
		ck->damage = s->why;
	if (r == LS_OK || (r == LS_NEEDLOG && ck->damage == NULL)) {
		ck->uidvalidity = s->uidvalidity;
		ck->generation = s->gen;
		ck->torn = s->jtorn;
	}
	if (s != NULL) {
		ck->snapshot_bytes = (uint64_t)s->cdb_size;
		ck->journal_bytes = (uint64_t)s->jseen;
	}
	state_free(s);
	ck->stored_uv = read_uidv(&c);
	if (tree_path(&c, path) == 0)
		ck->tree_uv = peek_uv(path);
	ck->aside_uv = aside_uv(&c);
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0 && errlen > 0)
		err[0] = '\0';
}

/* Whether the import asked for can be taken over; 0, or -1 with err. */
static int
import_allowed(struct uidcache *c, enum uc_from from, int force,
    uint32_t current, char *err, size_t errlen)
{
	const char *file = from == UC_FROM_DOVECOT ? "dovecot-uidlist" :
	    "courierimapuiddb";
	uint32_t stored = read_uidv(c), above;
	struct import im;
	int r;

	if ((r = import_read(c, &im, from)) == -1) {
		say(err, errlen, "%s: cannot read %s: %s", c->dir, file,
		    strerror(errno));
		return -1;
	}
	if (r == 0) {
		say(err, errlen, "%s: no usable %s (missing, or its header "
		    "is not understood)", c->dir, file);
		return -1;
	}
	above = stored > current ? stored : current;
	r = 0;
	if (im.uidvalidity == stored || im.uidvalidity == current) {
		say(err, errlen, "%s: %s has UIDVALIDITY %u, which this folder "
		    "has already: its clients would take the file's UIDs for "
		    "the ones they know", c->dir, file, im.uidvalidity);
		r = -1;
	} else if (im.uidvalidity <= above && !force) {
		say(err, errlen, "%s: %s has UIDVALIDITY %u, not above %u, "
		    "which this folder has had: a client that synchronized "
		    "it under that value could apply old UIDs to other "
		    "messages (--force takes it over all the same)", c->dir,
		    file, im.uidvalidity, above);
		r = -1;
	}
	import_free(&im);
	return r;
}

/* Remove the cache files (an empty cache the lock just made). */
static int
drop_fresh(struct uidcache *c)
{
	char path[PATH_MAX];

	if (path_of(c, FN_CDB, path) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT) ||
	    path_of(c, FN_LOG, path) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT))
		return -1;
	return safefile_sync_dir(AT_FDCWD, c->dir);
}

int
uidcache_rebuild(const char *dir, enum uc_from from, int force, char *err,
    size_t errlen)
{
	struct uidcache *c;
	struct uc_check ck;
	uint32_t current;
	int r = -1, damaged;

	if (from == UC_FROM_ANY) {
		say(err, errlen, "%s: no source for the rebuild", dir);
		return -1;
	}
	damaged = uidcache_check(dir, &ck) == 0 && ck.damage != NULL;
	if (uidcache_open(dir, &c, err, errlen) == -1)
		return -1;
	/* the lock finishes what a crash left and makes a cache if there
	 * is none, so that what is set aside is a whole one; a damaged one
	 * it sets aside itself and replaces with a new, empty one */
	if (uidcache_lock(c) == -1) {
		say(err, errlen, "%s: cannot lock the UID cache: %s", dir,
		    strerror(errno));
		uidcache_close(c);
		return -1;
	}
	current = c->s->uidvalidity;
	if (damaged && from == UC_FROM_NEW && uidcache_count(c) == 0) {
		r = 0;		/* the lock did the rebuild */
		goto out;
	}
	if (from != UC_FROM_NEW && import_allowed(c, from, force, current, err,
	    errlen) == -1)
		goto out;
	/* the damaged files stay the ones set aside, for inspection */
	if ((damaged && uidcache_count(c) == 0 ? drop_fresh(c) :
	    set_aside(c, NULL)) == -1) {
		say(err, errlen, "%s: cannot set the UID cache aside: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (create_cache(c, current, from, force) == -1) {
		say(err, errlen, "%s: cannot create the new UID cache: %s "
		    "(sessions make one when they next open the folder)", dir,
		    strerror(errno));
		goto out;
	}
	r = 0;
out:
	uidcache_close(c);
	return r;
}

int
uidcache_foreign(const char *dir, enum uc_from from, uint32_t *uv_r,
    uint32_t *uidnext_r, size_t *n_r)
{
	struct uidcache c;
	struct import im;
	int r;

	memset(&c, 0, sizeof(c));
	c.dir = (char *)(uintptr_t)dir;	/* only read */
	c.lockfd = -1;
	if ((r = import_read(&c, &im, from)) != 1)
		return r;
	*uv_r = im.uidvalidity;
	*uidnext_r = im.uidnext;
	*n_r = im.n;
	import_free(&im);
	return 1;
}
