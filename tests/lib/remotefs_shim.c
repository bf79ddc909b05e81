/*
 * An LD_PRELOAD shim that makes every file system look like a FUSE mount
 * of a volume that another host writes to as well (GlusterFS's client,
 * say), so that tests can check what a program does on a shared store
 * with only a local disk at hand:
 *   - statfs() and fstatfs() report FUSE's magic number, as such a mount
 *     does;
 *   - inotify watches are accepted but never report anything, as inotify
 *     on such a mount reports nothing of what the other host changes
 *     (the test makes its changes as that other host).
 * Nothing else changes: files are read and written as usual.
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/statfs.h>

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define FUSE_MAGIC	0x65735546

static int next_wd = 1;

int
inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	(void)fd;
	(void)path;
	(void)mask;
	return next_wd++;
}

static int
fix(int r, struct statfs *sf)
{
	if (r == 0)
		sf->f_type = FUSE_MAGIC;
	return r;
}

int
fstatfs(int fd, struct statfs *sf)
{
	static int (*real)(int, struct statfs *);

	if (real == NULL &&
	    (real = (int (*)(int, struct statfs *))dlsym(RTLD_NEXT,
	    "fstatfs")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return fix(real(fd, sf), sf);
}

/* the 64 forms: the same structure on 64-bit systems */
int
fstatfs64(int fd, struct statfs64 *sf)
{
	return fstatfs(fd, (struct statfs *)(void *)sf);
}

int
statfs(const char *path, struct statfs *sf)
{
	static int (*real)(const char *, struct statfs *);

	if (real == NULL &&
	    (real = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT,
	    "statfs")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return fix(real(path, sf), sf);
}

int
statfs64(const char *path, struct statfs64 *sf)
{
	return statfs(path, (struct statfs *)(void *)sf);
}
