/*
 * uidcache-util: the small pieces under the UID cache: the little-endian
 * codec of its records (put/get, the journal's decoder and encoder), its
 * checksums and hashes, paths, whole reads and writes, generations,
 * the process id across fork, the clock and fcntl locks.
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

/* ---- little helpers ----------------------------------------------- */

uint32_t
crc(uint32_t c, const void *p, size_t len)
{
	return (uint32_t)crc32_z(c, p, len);
}

uint32_t
fnv1a(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261U;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619U;
	}
	return h;
}

/* A base: 1-255 bytes, no NUL, no '/'.  An info: the same but may be
 * empty. */
int
name_ok(const void *p, size_t len, int may_be_empty)
{
	if (len > NAME_MAX_LEN || (len == 0 && !may_be_empty))
		return 0;
	return memchr(p, '\0', len) == NULL && memchr(p, '/', len) == NULL;
}

int
path_of(const struct uidcache *c, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", c->dir, name);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

uint64_t
new_generation(uint64_t avoid)
{
	static uint64_t fallback;
	uint64_t g = 0;

	while (g == 0 || g == avoid) {
		if (getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g)) {
			struct timespec ts;

			/* no entropy source: time, pid and a counter still
			 * make a clash with the one generation we compare
			 * against vanishingly unlikely */
			clock_gettime(CLOCK_REALTIME, &ts);
			g = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
			    (uint64_t)getpid() << 48 ^ ++fallback;
		}
	}
	return g;
}

/*
 * This process's id, remembered: getpid() is a system call, and every
 * writer call asks whether the lock is this process's (a child of the
 * process that locked must not write).  A fork() clears what is
 * remembered in the child.
 */
static pid_t	 my_pid;
static pthread_once_t my_pid_once = PTHREAD_ONCE_INIT;

static void
forget_pid(void)
{
	my_pid = 0;
}

static void
watch_forks(void)
{
	if (pthread_atfork(NULL, NULL, forget_pid) != 0)
		my_pid = -1;	/* cannot tell: ask every time */
}

pid_t
self_pid(void)
{
	pthread_once(&my_pid_once, watch_forks);
	if (my_pid <= 0) {
		if (my_pid == -1)
			return getpid();
		my_pid = getpid();
	}
	return my_pid;
}

/* The dot-lock of lock file lockpath: lockpath".dot" in out. */
static int
dot_path(const char *lockpath, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s.dot", lockpath);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The store's lock method and timeout (storelock.h), or the tests' own
 * timeout. */
int
fd_lock_wait(int fd, const char *lockpath)
{
	char dot[PATH_MAX];
	uint64_t limit = uidcache_test_lock_ms ? uidcache_test_lock_ms :
	    storelock_timeout();
	int e;

	if (storelock_method() & STORELOCK_DOTLOCK) {
		if (dot_path(lockpath, dot) == -1 ||
		    storelock_dot_take(dot, limit) == -1)
			return -1;
	}
	if (!(storelock_method() & STORELOCK_FCNTL))
		return 0;
	if (storelock_fcntl(fd, F_WRLCK, limit) == 0)
		return 0;
	e = errno;
	if (storelock_method() & STORELOCK_DOTLOCK)
		storelock_dot_release(dot);
	errno = e;
	return -1;
}

void
fd_unlock(int fd, const char *lockpath)
{
	char dot[PATH_MAX];

	if (storelock_method() & STORELOCK_FCNTL)
		storelock_unlock(fd);
	if ((storelock_method() & STORELOCK_DOTLOCK) &&
	    dot_path(lockpath, dot) == 0)
		storelock_dot_release(dot);
}

unsigned
d8(struct dec *d)
{
	if (d->p >= d->end) {
		d->bad = 1;
		return 0;
	}
	return *d->p++;
}

uint32_t
d32(struct dec *d)
{
	uint32_t v;

	if (d->end - d->p < 4) {
		d->bad = 1;
		return 0;
	}
	v = get32(d->p);
	d->p += 4;
	return v;
}

uint64_t
d64(struct dec *d)
{
	uint64_t v;

	if (d->end - d->p < 8) {
		d->bad = 1;
		return 0;
	}
	v = get64(d->p);
	d->p += 8;
	return v;
}

const unsigned char *
dstr(struct dec *d, size_t *len)
{
	const unsigned char *p;

	*len = d8(d);
	if (d->bad || (size_t)(d->end - d->p) < *len) {
		d->bad = 1;
		*len = 0;
		return (const unsigned char *)"";
	}
	p = d->p;
	d->p += *len;
	return p;
}

/* Encoders: append to the pending buffer. */
int
enc8(struct buf *b, unsigned v)
{
	return buf_addc(b, (int)(v & 0xff));
}

int
enc32(struct buf *b, uint32_t v)
{
	unsigned char x[4];

	put32(x, v);
	return buf_add(b, x, 4);
}

int
enc64(struct buf *b, uint64_t v)
{
	unsigned char x[8];

	put64(x, v);
	return buf_add(b, x, 8);
}

int
encstr(struct buf *b, const char *p, size_t len)
{
	if (enc8(b, (unsigned)len) == -1)
		return -1;
	return buf_add(b, p, len);
}
