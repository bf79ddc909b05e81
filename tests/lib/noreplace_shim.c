/*
 * An LD_PRELOAD shim that makes renameat2() with RENAME_NOREPLACE fail
 * with EINVAL, as it does on NFS and FUSE file systems, so that tests can
 * check what a program does on such a file system.  Both the C library
 * function and the raw system call (through syscall()) are covered.
 *
 * NOREPLACE_ERRNO=ENOSYS or EOPNOTSUPP makes it fail with that instead
 * (a kernel without the call; a file system that says it cannot).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
refusal(void)
{
	const char *v = getenv("NOREPLACE_ERRNO");

	if (v != NULL && strcmp(v, "ENOSYS") == 0)
		return ENOSYS;
	if (v != NULL && strcmp(v, "EOPNOTSUPP") == 0)
		return EOPNOTSUPP;
	return EINVAL;
}

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int
renameat2(int olddirfd, const char *oldpath, int newdirfd,
    const char *newpath, unsigned int flags)
{
	static int (*real)(int, const char *, int, const char *,
	    unsigned int);

	if (flags & RENAME_NOREPLACE) {
		errno = refusal();
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int, const char *, int, const char *,
		    unsigned int))dlsym(RTLD_NEXT, "renameat2");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

long
syscall(long number, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6];
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_renameat2 && (a[4] & RENAME_NOREPLACE)) {
		errno = refusal();
		return -1;
	}
	if (real == NULL)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
