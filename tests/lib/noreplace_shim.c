/*
 * An LD_PRELOAD shim that makes renameat2() with RENAME_NOREPLACE fail
 * with EINVAL, as it does on NFS and FUSE file systems, so that tests can
 * check what a program does on such a file system.  Both the C library
 * function and the raw system call (through syscall()) are covered.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

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
		errno = EINVAL;
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
		errno = EINVAL;
		return -1;
	}
	if (real == NULL)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
