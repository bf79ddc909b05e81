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

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Take an fcntl() write lock on fd, waiting up to the lock timeout.  An
 * open file description lock (F_OFD_SETLK), so that two descriptors in
 * one process exclude each other as well.  0, or -1 with errno
 * (ETIMEDOUT when another holder keeps it too long).
 */
int
fd_lock_wait(int fd)
{
	struct flock fl;
	uint64_t start = now_ms(), waited, limit;
	struct timespec ts;
	unsigned delay = 1;

	limit = uidcache_test_lock_ms ? uidcache_test_lock_ms :
	    UC_LOCK_TIMEOUT_MS;
	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
#else
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
#endif
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		waited = now_ms() - start;
		if (waited >= limit) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (delay > limit - waited)
			delay = (unsigned)(limit - waited);
		ts.tv_sec = delay / 1000;
		ts.tv_nsec = (long)(delay % 1000) * 1000000;
		nanosleep(&ts, NULL);
		if (delay < 64)
			delay *= 2;
	}
}

void
fd_unlock(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
	(void)fcntl(fd, F_OFD_SETLK, &fl);
#else
	(void)fcntl(fd, F_SETLK, &fl);
#endif
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
