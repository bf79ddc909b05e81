/*
 * safefile: small state files (dovecot-keywords, subscriptions) read whole
 * and replaced atomically.
 *
 * A replacement is written to a new file in the same directory, fsynced,
 * renamed over the old name, and then the directory is fsynced: after a
 * crash the file is the old one or the new one, never a mix, and never
 * missing.  Names are relative to a directory descriptor and no function
 * here but safefile_sync_dir() follows a symbolic link at the last
 * component.
 */
#ifndef COMMON_SAFEFILE_H
#define COMMON_SAFEFILE_H

#include <sys/types.h>

#include <stddef.h>

#include "common/lib/buf.h"

/* Append the contents of dirfd/name to out.  -1 with errno: ENOENT for a
 * missing file, EMSGSIZE if it is larger than out may hold, ELOOP for a
 * symbolic link, or the error of open or read.  out is unchanged then. */
int	safefile_read(int dirfd, const char *name, struct buf *out);

/* The same for an open descriptor, read from where it stands to the end
 * (for files that are named by configuration and may be links). */
int	safefile_readfd(int fd, struct buf *out);

/* The next line of text read whole, from *pos up to end: cut at "\n"
 * (and a "\r" before it), NUL-terminated in place (so the byte at end
 * must be writable, as a buf's terminating NUL is), and *pos moved past
 * it.  A line that holds a NUL byte is skipped.  NULL after the last. */
char	*safefile_line(char **pos, char *end);

/* Create a new, empty file "<name>.<pid>.<random>.tmp" in dirfd with
 * O_EXCL, writing its name into tmp.  The descriptor, or -1 (errno). */
int	safefile_tmp(int dirfd, const char *name, char *tmp, size_t tmplen,
	    mode_t mode);

/* Write data into fd (a new file dirfd/tmp), fsync and close it, rename
 * it to dirfd/name and fsync the directory.  fd is closed in any case,
 * and tmp is removed on failure.  0 or -1 (errno). */
int	safefile_commit(int dirfd, int fd, const char *tmp, const char *name,
	    const void *data, size_t len);

/* write() all len bytes, through interruptions and short writes; 0, or
 * -1 with errno (EIO when the file system takes nothing and says
 * nothing). */
int	safefile_write(int fd, const void *data, size_t len);

/*
 * fsync the directory dirfd/name ("." for dirfd itself; a path with
 * AT_FDCWD), which makes the names created, renamed or removed in it
 * durable.  A link is followed: what is synced is the directory that
 * holds the names, wherever it is.  A file system that cannot sync a
 * directory (EINVAL, EROFS) has nothing to make durable and counts as
 * synced.  0, or -1 (errno).
 */
int	safefile_sync_dir(int dirfd, const char *name);

/* safefile_tmp and safefile_commit in one. */
int	safefile_replace(int dirfd, const char *name, const void *data,
	    size_t len, mode_t mode);

#endif
