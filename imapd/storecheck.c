/*
 * storecheck: the store's health.  See storecheck.h.
 *
 * The child reports the step it stopped at and the errno over a pipe; the
 * parent waits for that report until the deadline and no longer.  A
 * child stuck in the kernel (an NFS server that stopped answering) may
 * not die even of SIGKILL; it is killed and not waited for, and its file,
 * if it made one, stays under a name no other check uses.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/session.h"
#include "imapd/storecheck.h"

enum step {
	STEP_DONE,
	STEP_STAT_DIR,
	STEP_CREATE,
	STEP_WRITE,
	STEP_SYNC,
	STEP_STAT_FILE,
	STEP_UNLINK,
	STEP_SYNC_DIR,
	STEP_MARKER,
};

static const char *const step_names[] = {
	"done", "stat of the directory", "creating the file",
	"writing the file", "fsync of the file", "stat of the file",
	"unlinking the file", "fsync of the directory",
	"stat of store_marker",
};

struct report {
	int	step;
	int	err;
};

static const char content[] = "imapd store check\n";

/* The steps, in the child; the step that failed, with errno. */
static struct report
check(const char *dir, const char *marker)
{
	struct report r = { STEP_DONE, 0 };
	struct stat st;
	char host[64], path[4096];
	int fd;

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (snprintf(path, sizeof(path), "%s/.imapd-check.%s.%ld", dir, host,
	    (long)getpid()) >= (int)sizeof(path)) {
		r.step = STEP_CREATE;
		r.err = ENAMETOOLONG;
		return r;
	}
	/* an unmounted store's mount point would pass every other step */
	r.step = STEP_MARKER;
	if (marker[0] != '\0' && stat(marker, &st) == -1)
		goto fail;
	r.step = STEP_STAT_DIR;
	if (stat(dir, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto fail;
	}
	r.step = STEP_CREATE;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	r.step = STEP_WRITE;
	if (write(fd, content, sizeof(content) - 1) !=
	    (ssize_t)(sizeof(content) - 1)) {
		if (errno == 0)
			errno = EIO;
		goto fail_unlink;
	}
	r.step = STEP_SYNC;
	if (fsync(fd) == -1)
		goto fail_unlink;
	(void)close(fd);
	r.step = STEP_STAT_FILE;
	if (stat(path, &st) == -1)
		goto fail_unlink;
	if (st.st_size != (off_t)(sizeof(content) - 1)) {
		errno = EIO;
		goto fail_unlink;
	}
	r.step = STEP_UNLINK;
	if (unlink(path) == -1)
		goto fail;
	r.step = STEP_SYNC_DIR;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	(void)close(fd);
	r.step = STEP_DONE;
	return r;
fail_unlink:
	r.err = errno;
	(void)unlink(path);
	return r;
fail:
	r.err = errno;
	return r;
}

int
storecheck_marker(const struct config *conf, const char *refused)
{
	struct stat sb;

	if (conf->store_marker[0] == '\0' ||
	    stat(conf->store_marker, &sb) == 0)
		return 1;
	log_warn("store_marker %s cannot be found: refusing %s (is the mail "
	    "store mounted? nothing is created or served on a store "
	    "without its marker)", conf->store_marker, refused);
	return 0;
}

int
storecheck_run(const struct config *conf, long long *ms_r, char *why,
    size_t whylen)
{
	struct report r;
	struct pollfd pfd;
	long long start = session_now_ms(), left;
	ssize_t n;
	pid_t pid;
	int p[2], fd;

	if (conf->store_check[0] == '\0') {
		snprintf(why, whylen, "store_check is not set in %s (name a "
		    "directory on the mail store)", conf->path != NULL ?
		    conf->path : "the configuration");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(why, whylen, "cannot start the check: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		/* a child stuck for good must not hold the caller's pipes
		 * open: whoever reads our output sees its end with ours */
		if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
			(void)dup2(fd, STDIN_FILENO);
			(void)dup2(fd, STDOUT_FILENO);
			(void)dup2(fd, STDERR_FILENO);
		}
		r = check(conf->store_check, conf->store_marker);
		/* a failed write is a short read for the parent */
		_exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 :
		    1);
	}
	close(p[1]);
	for (;;) {
		left = start + (long long)conf->store_check_timeout_ms -
		    session_now_ms();
		if (left <= 0) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, WNOHANG);
			close(p[0]);
			snprintf(why, whylen, "%s: no answer within "
			    "store_check_timeout (%llu ms): the file system "
			    "hangs (a network mount whose server does not "
			    "answer?)", conf->store_check,
			    (unsigned long long)conf->store_check_timeout_ms);
			return -1;
		}
		pfd.fd = p[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) == 1)
			break;
	}
	n = read(p[0], &r, sizeof(r));
	close(p[0]);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		continue;
	*ms_r = session_now_ms() - start;
	if (n != (ssize_t)sizeof(r) || r.step < 0 ||
	    (size_t)r.step >= sizeof(step_names) / sizeof(step_names[0])) {
		snprintf(why, whylen, "%s: the check ended without a report",
		    conf->store_check);
		return -1;
	}
	if (r.step != STEP_DONE) {
		snprintf(why, whylen, "%s: %s failed: %s", conf->store_check,
		    step_names[r.step], strerror(r.err));
		return -1;
	}
	return 0;
}
