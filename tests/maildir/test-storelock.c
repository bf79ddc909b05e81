/*
 * Unit tests for maildir/storelock.c: fcntl locks that wait no longer
 * than asked, and dot-locks: taken, held against a second taker,
 * released, and broken when stale.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "maildir/storelock.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char dir[64];

static void
pathf(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len)
		abort();
}

/* A child that holds an fcntl write lock on path until killed; its pid. */
static pid_t
holder(const char *path)
{
	struct flock fl;
	int p[2], fd;
	pid_t pid;
	char c;

	if (pipe(p) == -1)
		abort();
	if ((pid = t_fork()) == 0) {
		fd = open(path, O_RDWR | O_CREAT, 0600);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd == -1 || fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	CHECK_INT(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void
reap(pid_t pid)
{
	int st;

	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &st, 0);
}

static void
test_fcntl(void)
{
	char p[128];
	pid_t pid;
	int fd;

	pathf(p, sizeof(p), "f.lock");
	fd = open(p, O_RDWR | O_CREAT, 0600);
	CHECK(fd != -1);
	CHECK_INT(storelock_fcntl(fd, F_WRLCK, 100), 0);
	storelock_unlock(fd);
	pid = holder(p);
	CHECK_INT(storelock_fcntl(fd, F_WRLCK, 200), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK_INT(storelock_fcntl(fd, F_RDLCK, 0), -1);
	CHECK_INT(errno, EAGAIN);
	reap(pid);
	CHECK_INT(storelock_fcntl(fd, F_RDLCK, 200), 0);
	storelock_unlock(fd);
	close(fd);
}

static void
test_dot(void)
{
	char p[128], want[300], host[256];
	pid_t pid;
	int n;

	pathf(p, sizeof(p), "d.lock.dot");
	storelock_set_host("host-a");
	CHECK_INT(storelock_dot_take(p, 100), 0);
	n = snprintf(want, sizeof(want), "host-a %ld\n", (long)getpid());
	CHECK(n > 0 && (size_t)n < sizeof(want));
	CHECK_STR(t_get(p), want);
	/* a live holder, here ourselves: waited for, then ETIMEDOUT */
	CHECK_INT(storelock_dot_take(p, 200), -1);
	CHECK_INT(errno, ETIMEDOUT);
	storelock_dot_release(p);
	CHECK(access(p, F_OK) == -1 && errno == ENOENT);

	/* another host's, fresh: held */
	CHECK_INT(t_put(p, "host-b 1\n", 9), 0);
	CHECK_INT(storelock_dot_take(p, 100), -1);
	CHECK_INT(errno, ETIMEDOUT);
	/* this host's, of a process that is gone: broken at once */
	if ((pid = t_fork()) == 0)
		_exit(0);
	reap(pid);
	n = snprintf(want, sizeof(want), "host-a %ld\n", (long)pid);
	CHECK_INT(t_put(p, want, (size_t)n), 0);
	CHECK_INT(storelock_dot_take(p, 100), 0);
	storelock_dot_release(p);
	/* another host's, older than STORELOCK_STALE_SECS: broken */
	CHECK_INT(t_put(p, "host-b 1\n", 9), 0);
	{
		struct timespec ts[2];

		ts[0].tv_sec = ts[1].tv_sec = time(NULL) -
		    STORELOCK_STALE_SECS - 10;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		CHECK_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	CHECK_INT(storelock_dot_take(p, 100), 0);
	storelock_dot_release(p);
	/* junk in it: only its age can make it stale */
	CHECK_INT(t_put(p, "junk", 4), 0);
	CHECK_INT(storelock_dot_take(p, 100), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK_INT(unlink(p), 0);
	/* the system's name when none is set */
	storelock_set_host("");
	CHECK_INT(storelock_dot_take(p, 100), 0);
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		n = snprintf(want, sizeof(want), "%s %ld\n", host,
		    (long)getpid());
		CHECK(n > 0 && (size_t)n < sizeof(want));
		CHECK_STR(t_get(p), want);
	}
	storelock_dot_release(p);
}

static void
test_settings(void)
{
	CHECK_INT(storelock_timeout(), STORELOCK_TIMEOUT_MS);
	CHECK_INT(storelock_method(), STORELOCK_FCNTL);
	storelock_set_timeout(0);
	CHECK_INT(storelock_timeout(), 1);
	storelock_set_timeout(1500);
	CHECK_INT(storelock_timeout(), 1500);
	storelock_set_method(STORELOCK_BOTH);
	CHECK_INT(storelock_method(), STORELOCK_BOTH);
	storelock_set_method(STORELOCK_FCNTL);
}

int
main(void)
{
	char p[128];

	log_init("test-storelock", 1, LOG_MAIL);
	snprintf(dir, sizeof(dir), "/tmp/test-storelock.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	T_RUN(test_settings);
	T_RUN(test_fcntl);
	T_RUN(test_dot);
	pathf(p, sizeof(p), "f.lock");
	(void)unlink(p);
	(void)rmdir(dir);
	return t_done();
}
