/*
 * storelock: lock waits bounded by the store's lock timeout.  See
 * storelock.h.
 *
 * The wait polls with F_SETLK rather than blocking in F_SETLKW under an
 * alarm: a signal handler is not ours to install inside the store
 * library, and the poll's backoff (1 ms doubling to 64 ms) costs nothing
 * next to the network round trip each attempt is on a shared store.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/strnum.h"
#include "maildir/storelock.h"

static uint64_t timeout_ms = STORELOCK_TIMEOUT_MS;
static enum storelock_method method = STORELOCK_FCNTL;
static char host_set[256];

void
storelock_set_method(enum storelock_method m)
{
	method = m;
}

enum storelock_method
storelock_method(void)
{
	return method;
}

void
storelock_set_host(const char *name)
{
	size_t len = name != NULL ? strnlen(name, sizeof(host_set) - 1) : 0;

	if (len > 0)
		memcpy(host_set, name, len);
	host_set[len] = '\0';
}

static void
own_host(char *out, size_t len)
{
	if (host_set[0] != '\0')
		snprintf(out, len, "%s", host_set);
	else if (gethostname(out, len) == -1 || out[0] == '\0')
		snprintf(out, len, "localhost");
	out[len - 1] = '\0';
}

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

/*
 * Between two tries at a lock taken since start: sleep (1 ms, doubling
 * up to 64 ms, never past the limit) and return 0, or -1 with errno
 * ETIMEDOUT once limit_ms have gone by.
 */
static int
wait_more(uint64_t start, uint64_t limit_ms, unsigned *delay)
{
	uint64_t waited = now_ms() - start;
	struct timespec ts;
	unsigned ms = *delay;

	if (waited >= limit_ms) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (ms > limit_ms - waited)
		ms = (unsigned)(limit_ms - waited);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
	if (*delay < 64)
		*delay *= 2;
	return 0;
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
	uint64_t start = now_ms();
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
		if (wait_more(start, limit_ms, &delay) == -1)
			return -1;
	}
}

void
storelock_unlock(int fd)
{
	int e = errno;

	(void)try_lock(fd, F_UNLCK);
	errno = e;
}

/*
 * Whether the dot-lock at path, as lstat() found it in sb, is stale: its
 * holder is a process of this host that is gone, or it is older than
 * STORELOCK_STALE_SECS.  why gets the holder and the reason.
 */
static int
dot_stale(const char *path, const struct stat *sb, char *why, size_t whylen)
{
	char buf[320], host[256];
	const char *sp;
	time_t now = time(NULL);
	ssize_t n;
	uint64_t pid = 0;
	int fd, have_pid = 0;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	buf[strcspn(buf, "\n")] = '\0';
	if ((sp = strrchr(buf, ' ')) != NULL &&
	    strnum_u64(sp + 1, 0x7fffffff, &pid) == 0 && pid > 0)
		have_pid = 1;
	own_host(host, sizeof(host));
	if (have_pid && (size_t)(sp - buf) == strlen(host) &&
	    memcmp(buf, host, (size_t)(sp - buf)) == 0 &&
	    kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
		snprintf(why, whylen, "held by process %llu of this host, "
		    "which is gone", (unsigned long long)pid);
		return 1;
	}
	if (sb->st_mtime + STORELOCK_STALE_SECS < now) {
		snprintf(why, whylen, "held by \"%.*s\", %lld s old", 255,
		    buf, (long long)(now - sb->st_mtime));
		return 1;
	}
	return 0;
}

int
storelock_dot_take(const char *path, uint64_t limit_ms)
{
	char line[300], host[256], why[400];
	struct stat sb, again;
	uint64_t start = now_ms();
	unsigned delay = 1, breaks = 0;
	int fd, n, e;

	own_host(host, sizeof(host));
	n = snprintf(line, sizeof(line), "%s %ld\n", host, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (;;) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1) {
			if (write(fd, line, (size_t)n) != n || close(fd) == -1) {
				e = errno != 0 ? errno : EIO;
				(void)unlink(path);
				errno = e;
				return -1;
			}
			return 0;
		}
		if (errno != EEXIST)
			return -1;
		/* a few at once; past that the wait bounds the loop */
		if (breaks++ < 8 && lstat(path, &sb) == 0 &&
		    dot_stale(path, &sb, why, sizeof(why))) {
			/* the same file still, not one a breaker before us
			 * removed and another holder made meanwhile */
			if (lstat(path, &again) == -1 ||
			    again.st_ino != sb.st_ino ||
			    again.st_mtime != sb.st_mtime)
				continue;
			log_warnx("%s: removing a stale lock (%s)", path, why);
			if (unlink(path) == 0 || errno == ENOENT)
				continue;
			log_warn("%s: cannot remove the stale lock", path);
		}
		if (wait_more(start, limit_ms, &delay) == -1)
			return -1;
	}
}

void
storelock_dot_release(const char *path)
{
	int e = errno;

	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s: cannot remove the lock", path);
	errno = e;
}
