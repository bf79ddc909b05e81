/*
 * uidcache-uidv: the file imapd-uidvalidity, the greatest UIDVALIDITY a
 * folder ever used, and the tree-wide floor imapd-uidvalidity-max.
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

#include "maildir/storelock.h"
#include "maildir/uidcache-private.h"

/* ---- UIDVALIDITY ------------------------------------------------- */

/* The greatest UIDVALIDITY used here, 0 if unknown. */
uint32_t
read_uidv(const struct uidcache *c)
{
	char path[PATH_MAX], b[32];
	uint64_t v;
	size_t got;
	int fd;

	if (path_of(c, FN_UIDV, path) == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot read", path);
		return 0;
	}
	if (mapfile_pread(fd, b, sizeof(b) - 1, 0, &got) == -1) {
		log_warn("%s: cannot read", path);
		close(fd);
		return 0;
	}
	close(fd);
	if (got > 0 && b[got - 1] == '\n')
		got--;
	if (strnum_u64_n(b, got, UC_UID_MAX, &v) == -1) {
		log_warnx("%s: not a UIDVALIDITY; ignored (the next one is "
		    "taken from the clock)", path);
		return 0;
	}
	return (uint32_t)v;
}

int
write_uidv(const struct uidcache *c, uint32_t uv)
{
	char path[PATH_MAX], tmp[PATH_MAX], b[16];
	int fd, n, e;

	if (path_of(c, FN_UIDV, path) == -1 ||
	    path_of(c, FN_UIDV_NEW, tmp) == -1)
		return -1;
	n = snprintf(b, sizeof(b), "%u\n", uv);
	if (n < 0 || (size_t)n >= sizeof(b)) {
		errno = EOVERFLOW;
		return -1;
	}
	STEP(UCS_UIDV_WRITE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (safefile_write(fd, b, (size_t)n) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	STEP(UCS_UIDV_SYNCED);
	if (rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	STEP(UCS_UIDV_RENAMED);
	return safefile_sync_dir(AT_FDCWD, c->dir);
}

/*
 * The Maildir-wide floor: FN_UIDV_MAX at the Maildir's root (the folder
 * itself for INBOX, the parent of a folder with a maildirfolder file)
 * holds the greatest UIDVALIDITY given to any of its folders.  A
 * folder's own FN_UIDV goes away with the folder, this one does not, so
 * a folder deleted and created again under the same name gets a greater
 * UIDVALIDITY than it had before, even within one second.  It is
 * rewritten in place under an fcntl() lock of its own: ten digits and a
 * newline, one write within one disk sector, so a crash leaves the old
 * value or the new one.
 */
int
tree_path(const struct uidcache *c, char *out)
{
	char p[PATH_MAX];
	size_t len = strlen(c->dir);
	const char *slash;
	int n;

	if (path_of(c, "maildirfolder", p) == -1)
		return -1;
	if (access(p, F_OK) == -1) {
		if (errno != ENOENT)
			return -1;
		return path_of(c, FN_UIDV_MAX, out);
	}
	while (len > 1 && c->dir[len - 1] == '/')
		len--;
	if ((slash = memrchr(c->dir, '/', len)) == NULL)
		n = snprintf(out, PATH_MAX, "%s", FN_UIDV_MAX);
	else
		n = snprintf(out, PATH_MAX, "%.*s/%s",
		    (int)(slash - c->dir), c->dir, FN_UIDV_MAX);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Open and lock the Maildir-wide counter; the descriptor (the lock held)
 * and its value in *uv (0 if empty or unreadable), or -1 (errno). */
int
tree_open(const struct uidcache *c, uint32_t *uv)
{
	char path[PATH_MAX], b[16];
	uint64_t v;
	size_t got;
	int fd, e;

	*uv = 0;
	if (tree_path(c, path) == -1)
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (fd_lock_wait(fd, path) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (mapfile_pread(fd, b, sizeof(b) - 1, 0, &got) == -1) {
		e = errno;
		fd_unlock(fd, path);
		close(fd);
		errno = e;
		return -1;
	}
	if (got > 0 && b[got - 1] == '\n')
		got--;
	if (got > 0 && strnum_u64_n(b, got, UC_UID_MAX, &v) == 0)
		*uv = (uint32_t)v;
	else if (got > 0)
		log_warnx("%s: not a UIDVALIDITY; rewritten", path);
	return fd;
}

/* Raise the counter to uv (its lock held) and make that durable. */
int
tree_raise(int fd, uint32_t uv)
{
	char b[16];
	int n;

	n = snprintf(b, sizeof(b), "%010u\n", uv);
	if (n != 11) {
		errno = EOVERFLOW;
		return -1;
	}
	STEP(UCS_UIDV_TREE);
	if (pwrite(fd, b, 11, 0) != 11 || fsync(fd) == -1) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

void
tree_close(const struct uidcache *c, int fd)
{
	char path[PATH_MAX];
	int e = errno;		/* the caller's failure, if any, stands */

	if (fd == -1)
		return;
	if (tree_path(c, path) == 0)
		fd_unlock(fd, path);
	else
		storelock_unlock(fd);
	close(fd);
	errno = e;
}
