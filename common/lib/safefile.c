/*
 * safefile: read small files whole; replace them atomically.  See
 * safefile.h.
 *
 * The temporary name carries the pid and random bits and is created with
 * O_EXCL, so two writers (two sessions, or two hosts sharing the Maildir
 * over NFS) never write into the same temporary file; a name that is
 * taken is simply tried again with other bits.  Callers that must not
 * lose each other's changes serialize above this (see folder.c).
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/safefile.h"

#define TMP_TRIES	8

int
safefile_readfd(int fd, struct buf *out)
{
	char chunk[8192];
	size_t start = out->len;
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			return 0;
		if (n == -1 || buf_add(out, chunk, (size_t)n) == -1)
			break;
	}
	buf_truncate(out, start);
	return -1;
}

int
safefile_read(int dirfd, const char *name, struct buf *out)
{
	int fd, r, saved;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return -1;
	r = safefile_readfd(fd, out);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

char *
safefile_line(char **pos, char *end)
{
	char *line, *eol;
	size_t len;

	while ((line = *pos) < end) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		*pos = eol < end ? eol + 1 : end;
		len = (size_t)(eol - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		/* C string functions would see only part of it */
		if (memchr(line, '\0', len) != NULL)
			continue;
		line[len] = '\0';
		return line;
	}
	return NULL;
}

int
safefile_tmp(int dirfd, const char *name, char *tmp, size_t tmplen,
    mode_t mode)
{
	unsigned rnd;
	int i, n, fd = -1;

	for (i = 0; i < TMP_TRIES; i++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -1;
		n = snprintf(tmp, tmplen, "%s.%ld.%08x.tmp", name,
		    (long)getpid(), rnd);
		if (n < 0 || (size_t)n >= tmplen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	return fd;
}

int
safefile_write(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* no progress and no error: do not spin */
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
safefile_sync_dir(int dirfd, const char *name)
{
	int fd, r, saved;

	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	if (r == -1 && (errno == EINVAL || errno == EROFS))
		r = 0;
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int
safefile_commit(int dirfd, int fd, const char *tmp, const char *name,
    const void *data, size_t len)
{
	int saved;

	if (safefile_write(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) == -1) {
		saved = errno;
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) == -1) {
		saved = errno;
		goto fail;
	}
	/* the rename is only durable once the directory is */
	return fsync(dirfd);
fail:
	(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int
safefile_replace(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char tmp[NAME_MAX + 1];
	int fd;

	if ((fd = safefile_tmp(dirfd, name, tmp, sizeof(tmp), mode)) == -1)
		return -1;
	return safefile_commit(dirfd, fd, tmp, name, data, len);
}
