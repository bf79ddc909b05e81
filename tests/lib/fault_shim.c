/*
 * An LD_PRELOAD shim that makes one chosen call that writes to the file
 * system fail, so that tests can check what a program does when the disk
 * fills up (ENOSPC), a quota runs out (EDQUOT) or the device fails (EIO)
 * at exactly that point.
 *
 * The calls it watches, by class:
 *   write    write pwrite writev pwritev (and their 64 forms)
 *   sync     fsync fdatasync
 *   rename   rename renameat renameat2
 *   link     link linkat
 *   create   open openat creat with O_CREAT (and their 64 forms)
 *   truncate ftruncate truncate
 *   alloc    fallocate posix_fallocate
 *   mkdir    mkdir mkdirat
 *   unlink   unlink unlinkat rmdir
 *   open     open openat (and their 64 forms) without O_CREAT: reading
 * Calls on descriptors count only when the descriptor is a regular file
 * or a directory, so a program's sockets, pipes and terminal are never
 * touched.
 *
 * Environment:
 *   FAULT_CALLS  classes to watch, comma-separated (default: all but
 *                unlink and open)
 *   FAULT_PATH   watch only calls whose path (for a descriptor, the file
 *                it names; for two paths, either) contains this string
 *   FAULT_NTH    the watched call, counted from 1, that fails; 0 or unset
 *                fails none
 *   FAULT_COUNT  how many calls from there on fail (default 1; 0 means
 *                every one after, a disk that stays full)
 *   FAULT_ERRNO  ENOSPC, EDQUOT, EIO or ESTALE (default ENOSPC; ESTALE
 *                is what NFS gives for a file replaced or removed on the
 *                server behind a handle the client kept)
 *   FAULT_HANG   1: the chosen calls never return instead of failing
 *                (a network file system whose server stopped answering)
 *   FAULT_LOG    a file to which a line is appended for every watched
 *                call: its number, class, name, path and whether it was
 *                made to fail, so that a test learns how many there are
 *                and what each one is
 * A failing write writes nothing; a failing rename, link, mkdir or create
 * changes nothing.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cls { C_WRITE, C_SYNC, C_RENAME, C_LINK, C_CREATE, C_TRUNCATE,
	C_ALLOC, C_MKDIR, C_UNLINK, C_OPEN, C_N };
static const char *const clsname[C_N] = { "write", "sync", "rename",
	"link", "create", "truncate", "alloc", "mkdir", "unlink", "open" };

static int inited, watch[C_N], fail_errno = ENOSPC, hang;
static long nth, count = 1, seen;
static const char *pattern, *logpath;

/* A count from the environment; junk stops the program at once, so a
 * test with a typo in it does not run without its fault. */
static long
env_count(const char *name, long dflt)
{
	const char *v;
	char *end;
	long n;

	if ((v = getenv(name)) == NULL || *v == '\0')
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0) {
		fprintf(stderr, "fault_shim: %s=%s is no count\n", name, v);
		_exit(99);
	}
	return n;
}

static void
init(void)
{
	const char *v, *p;
	size_t i, n;

	if (inited)
		return;
	inited = 1;
	if ((v = getenv("FAULT_CALLS")) == NULL || *v == '\0') {
		for (i = 0; i < C_N; i++)
			watch[i] = i != C_UNLINK && i != C_OPEN;
	} else {
		for (p = v; *p != '\0'; p += n + (p[n] == ',')) {
			n = strcspn(p, ",");
			for (i = 0; i < C_N; i++)
				if (strlen(clsname[i]) == n &&
				    strncmp(clsname[i], p, n) == 0)
					watch[i] = 1;
		}
	}
	nth = env_count("FAULT_NTH", 0);
	count = env_count("FAULT_COUNT", 1);
	if ((v = getenv("FAULT_ERRNO")) != NULL) {
		if (strcmp(v, "EIO") == 0)
			fail_errno = EIO;
		else if (strcmp(v, "EDQUOT") == 0)
			fail_errno = EDQUOT;
		else if (strcmp(v, "ESTALE") == 0)
			fail_errno = ESTALE;
	}
	hang = (v = getenv("FAULT_HANG")) != NULL && strcmp(v, "1") == 0;
	pattern = getenv("FAULT_PATH");
	logpath = getenv("FAULT_LOG");
}

/* The path a descriptor names, or "" when it is no file or directory. */
static void
fd_path(int fd, char *out, size_t len)
{
	struct stat st;
	char proc[64];
	ssize_t n;

	out[0] = '\0';
	if (fstat(fd, &st) == -1 || !(S_ISREG(st.st_mode) ||
	    S_ISDIR(st.st_mode)))
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	if (n <= 0)
		snprintf(out, len, "fd:%d", fd);
}

/* A path relative to dirfd, made absolute for matching and the log. */
static void
at_path(int dirfd, const char *path, char *out, size_t len)
{
	char dir[PATH_MAX];

	if (path == NULL) {
		out[0] = '\0';
		return;
	}
	if (path[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(out, len, "%s", path);
		return;
	}
	fd_path(dirfd, dir, sizeof(dir));
	if (snprintf(out, len, "%.*s/%s", (int)(sizeof(dir) / 2), dir, path)
	    < 0)
		out[0] = '\0';
}

static void
log_call(long n, enum cls c, const char *name, const char *p1,
    const char *p2, int failed)
{
	char line[2 * PATH_MAX + 128];
	int fd, k;

	if (logpath == NULL)
		return;
	k = snprintf(line, sizeof(line), "%ld %s %s %s%s%s%s\n", n,
	    clsname[c], name, p1, p2[0] != '\0' ? " " : "", p2,
	    failed ? " FAIL" : "");
	if (k < 0)
		return;
	if ((size_t)k >= sizeof(line))
		k = sizeof(line) - 1;
	fd = (int)syscall(SYS_openat, AT_FDCWD, logpath,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return;
	(void)syscall(SYS_write, fd, line, (size_t)k);
	(void)syscall(SYS_close, fd);
}

/*
 * Whether this call is to fail.  p1 and p2 are what it works on ("" for
 * a descriptor that is no file: not watched).
 */
static int
fault(enum cls c, const char *name, const char *p1, const char *p2)
{
	int failed, saved = errno;

	init();
	if (!watch[c] || (p1[0] == '\0' && p2[0] == '\0'))
		return 0;
	if (pattern != NULL && strstr(p1, pattern) == NULL &&
	    strstr(p2, pattern) == NULL)
		return 0;
	seen++;
	failed = nth > 0 && seen >= nth &&
	    (count == 0 || seen < nth + count);
	log_call(seen, c, name, p1, p2, failed);
	errno = saved;
	while (failed && hang)
		pause();
	if (failed) {
		errno = fail_errno;
		return 1;
	}
	return 0;
}

static int
fd_fault(enum cls c, const char *name, int fd)
{
	char p[PATH_MAX];

	init();
	if (!watch[c])
		return 0;
	fd_path(fd, p, sizeof(p));
	return fault(c, name, p, "");
}

static int
path_fault(enum cls c, const char *name, int dirfd, const char *path,
    int dirfd2, const char *path2)
{
	char p1[PATH_MAX], p2[PATH_MAX];

	init();
	if (!watch[c])
		return 0;
	at_path(dirfd, path, p1, sizeof(p1));
	at_path(dirfd2, path2, p2, sizeof(p2));
	return fault(c, name, p1, p2);
}

#define REAL(ret, fn, args)						\
	static ret (*real_##fn) args;					\
	if (real_##fn == NULL)						\
		real_##fn = (ret (*) args)dlsym(RTLD_NEXT, #fn)

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, (int, const void *, size_t));
	if (fd_fault(C_WRITE, "write", fd))
		return -1;
	return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, (int, const void *, size_t, off_t));
	if (fd_fault(C_WRITE, "pwrite", fd))
		return -1;
	return real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, (int, const void *, size_t, off_t));
	if (fd_fault(C_WRITE, "pwrite", fd))
		return -1;
	return real_pwrite64(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	REAL(ssize_t, writev, (int, const struct iovec *, int));
	if (fd_fault(C_WRITE, "writev", fd))
		return -1;
	return real_writev(fd, iov, n);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	REAL(ssize_t, pwritev, (int, const struct iovec *, int, off_t));
	if (fd_fault(C_WRITE, "pwritev", fd))
		return -1;
	return real_pwritev(fd, iov, n, off);
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	REAL(ssize_t, pwritev64, (int, const struct iovec *, int, off_t));
	if (fd_fault(C_WRITE, "pwritev", fd))
		return -1;
	return real_pwritev64(fd, iov, n, off);
}

int
fsync(int fd)
{
	REAL(int, fsync, (int));
	if (fd_fault(C_SYNC, "fsync", fd))
		return -1;
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	REAL(int, fdatasync, (int));
	if (fd_fault(C_SYNC, "fdatasync", fd))
		return -1;
	return real_fdatasync(fd);
}

int
rename(const char *from, const char *to)
{
	REAL(int, rename, (const char *, const char *));
	if (path_fault(C_RENAME, "rename", AT_FDCWD, from, AT_FDCWD, to))
		return -1;
	return real_rename(from, to);
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(int, renameat, (int, const char *, int, const char *));
	if (path_fault(C_RENAME, "renameat", fd1, from, fd2, to))
		return -1;
	return real_renameat(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to,
    unsigned int flags)
{
	REAL(int, renameat2, (int, const char *, int, const char *,
	    unsigned int));
	if (path_fault(C_RENAME, "renameat2", fd1, from, fd2, to))
		return -1;
	return real_renameat2(fd1, from, fd2, to, flags);
}

int
link(const char *from, const char *to)
{
	REAL(int, link, (const char *, const char *));
	if (path_fault(C_LINK, "link", AT_FDCWD, from, AT_FDCWD, to))
		return -1;
	return real_link(from, to);
}

int
linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	REAL(int, linkat, (int, const char *, int, const char *, int));
	if (path_fault(C_LINK, "linkat", fd1, from, fd2, to))
		return -1;
	return real_linkat(fd1, from, fd2, to, flags);
}

/* An open that may create: fails before anything is made. */
static int
open_fault(const char *name, int dirfd, const char *path, int flags)
{
	if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE)
		return path_fault(C_OPEN, name, dirfd, path, AT_FDCWD, NULL);
	return path_fault(C_CREATE, name, dirfd, path, AT_FDCWD, NULL);
}

static mode_t
open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(int, open, (const char *, int, ...));
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (open_fault("open", AT_FDCWD, path, flags))
		return -1;
	return real_open(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(int, open64, (const char *, int, ...));
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (open_fault("open", AT_FDCWD, path, flags))
		return -1;
	return real_open64(path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(int, openat, (int, const char *, int, ...));
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (open_fault("openat", dirfd, path, flags))
		return -1;
	return real_openat(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(int, openat64, (int, const char *, int, ...));
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (open_fault("openat", dirfd, path, flags))
		return -1;
	return real_openat64(dirfd, path, flags, mode);
}

int
creat(const char *path, mode_t mode)
{
	REAL(int, creat, (const char *, mode_t));
	if (open_fault("creat", AT_FDCWD, path, O_CREAT))
		return -1;
	return real_creat(path, mode);
}

int
ftruncate(int fd, off_t len)
{
	REAL(int, ftruncate, (int, off_t));
	if (fd_fault(C_TRUNCATE, "ftruncate", fd))
		return -1;
	return real_ftruncate(fd, len);
}

int
ftruncate64(int fd, off_t len)
{
	REAL(int, ftruncate64, (int, off_t));
	if (fd_fault(C_TRUNCATE, "ftruncate", fd))
		return -1;
	return real_ftruncate64(fd, len);
}

int
truncate(const char *path, off_t len)
{
	REAL(int, truncate, (const char *, off_t));
	if (path_fault(C_TRUNCATE, "truncate", AT_FDCWD, path, AT_FDCWD,
	    NULL))
		return -1;
	return real_truncate(path, len);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate, (int, int, off_t, off_t));
	if (fd_fault(C_ALLOC, "fallocate", fd))
		return -1;
	return real_fallocate(fd, mode, off, len);
}

int
fallocate64(int fd, int mode, off_t off, off_t len)
{
	REAL(int, fallocate64, (int, int, off_t, off_t));
	if (fd_fault(C_ALLOC, "fallocate", fd))
		return -1;
	return real_fallocate64(fd, mode, off, len);
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	REAL(int, posix_fallocate, (int, off_t, off_t));
	/* returns the error rather than setting errno */
	if (fd_fault(C_ALLOC, "posix_fallocate", fd))
		return errno;
	return real_posix_fallocate(fd, off, len);
}

int
mkdir(const char *path, mode_t mode)
{
	REAL(int, mkdir, (const char *, mode_t));
	if (path_fault(C_MKDIR, "mkdir", AT_FDCWD, path, AT_FDCWD, NULL))
		return -1;
	return real_mkdir(path, mode);
}

int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(int, mkdirat, (int, const char *, mode_t));
	if (path_fault(C_MKDIR, "mkdirat", dirfd, path, AT_FDCWD, NULL))
		return -1;
	return real_mkdirat(dirfd, path, mode);
}

int
unlink(const char *path)
{
	REAL(int, unlink, (const char *));
	if (path_fault(C_UNLINK, "unlink", AT_FDCWD, path, AT_FDCWD, NULL))
		return -1;
	return real_unlink(path);
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	REAL(int, unlinkat, (int, const char *, int));
	if (path_fault(C_UNLINK, "unlinkat", dirfd, path, AT_FDCWD, NULL))
		return -1;
	return real_unlinkat(dirfd, path, flags);
}

int
rmdir(const char *path)
{
	REAL(int, rmdir, (const char *));
	if (path_fault(C_UNLINK, "rmdir", AT_FDCWD, path, AT_FDCWD, NULL))
		return -1;
	return real_rmdir(path);
}
