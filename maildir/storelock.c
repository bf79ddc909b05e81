/*
 * storelock: lock waits bounded by the store's lock timeout.  See
 * storelock.h.
 *
 * The wait polls with F_SETLK rather than blocking in F_SETLKW under an
 * alarm: a signal handler is not ours to install inside the store
 * library, and the poll's backoff (1 ms doubling to 64 ms) costs nothing
 * next to the network round trip each attempt is on a shared store.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir/storelock.h"

static uint64_t timeout_ms = STORELOCK_TIMEOUT_MS;

void
storelock_set_timeout(uint64_t ms)
{
	timeout_ms = ms > 0 ? ms : 1;
}

uint64_t
storelock_timeout(void)
{
	return timeout_ms;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
try_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
	return fcntl(fd, F_OFD_SETLK, &fl);
#else
	return fcntl(fd, F_SETLK, &fl);
#endif
}

int
storelock_fcntl(int fd, short type, uint64_t limit_ms)
{
	uint64_t start = now_ms(), waited;
	struct timespec ts;
	unsigned delay = 1;

	for (;;) {
		if (try_lock(fd, type) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		if (limit_ms == 0) {
			errno = EAGAIN;
			return -1;
		}
		waited = now_ms() - start;
		if (waited >= limit_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (delay > limit_ms - waited)
			delay = (unsigned)(limit_ms - waited);
		ts.tv_sec = delay / 1000;
		ts.tv_nsec = (long)(delay % 1000) * 1000000;
		nanosleep(&ts, NULL);
		if (delay < 64)
			delay *= 2;
	}
}

void
storelock_unlock(int fd)
{
	int e = errno;

	(void)try_lock(fd, F_UNLCK);
	errno = e;
}
