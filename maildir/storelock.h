/*
 * storelock: how the locks imapd takes on the store wait.
 *
 * Every lock on a file in a Maildir (the UID cache's writer lock, the
 * UIDVALIDITY counter, maildirsize, the subscriptions) waits at most the
 * store's lock timeout, lock_timeout in imapd.conf.  On a store shared
 * between hosts a process that was stopped (not killed) keeps its fcntl
 * lock for as long as it is stopped; a command that cannot have a lock
 * within the timeout fails with ETIMEDOUT, which a session answers as
 * NO [INUSE], rather than hanging behind it.
 *
 * The UID cache's locks (its writer lock and the UIDVALIDITY counter's)
 * are taken by the store's lock method: fcntl() locks, dot-locks, or
 * both.  A dot-lock is a file made with O_EXCL beside the lock file,
 * holding "host pid\n"; it is what works on an NFS without a lock
 * manager.  One is stale, and is removed with a log line, when it names
 * this host and a process that is gone, or when it is older than
 * STORELOCK_STALE_SECS by the local clock (keep the hosts' clocks in
 * step).  The quota lock is a shared one, which a dot-lock cannot be,
 * and stays an fcntl() lock; the subscriptions lock is always a dot-lock.
 */
#ifndef MAILDIR_STORELOCK_H
#define MAILDIR_STORELOCK_H

#include <stdint.h>

#define STORELOCK_TIMEOUT_MS	30000	/* until storelock_set_timeout() */
#define STORELOCK_STALE_SECS	300

enum storelock_method {
	STORELOCK_FCNTL = 1,
	STORELOCK_DOTLOCK = 2,
	STORELOCK_BOTH = 3
};

/* The lock method from now on (STORELOCK_FCNTL until set). */
void	storelock_set_method(enum storelock_method);
enum storelock_method storelock_method(void);

/* The host name written into dot-locks from now on; "" or NULL: the
 * system's.  At most 255 bytes are kept. */
void	storelock_set_host(const char *);

/* The lock timeout from now on, in milliseconds (at least 1). */
void	storelock_set_timeout(uint64_t ms);
uint64_t storelock_timeout(void);

/*
 * Take an fcntl() lock of type (F_RDLCK or F_WRLCK) on the whole of fd,
 * as an open file description lock (F_OFD_SETLK) where the system has
 * them, so that two descriptors in one process exclude each other as
 * well; waiting up to limit_ms (0: not at all).  0, or -1 with errno:
 * ETIMEDOUT when another holder keeps it too long (EAGAIN when limit_ms
 * is 0), else the error of fcntl().
 */
int	storelock_fcntl(int fd, short type, uint64_t limit_ms);

/* Release what storelock_fcntl() took on fd. */
void	storelock_unlock(int fd);

/*
 * Take the dot-lock path: create it with O_EXCL holding "host pid\n",
 * removing a stale one on the way (logged), waiting up to limit_ms for
 * a live one to go.  0, or -1 with errno: ETIMEDOUT when it stays,
 * else that of the file system.
 */
int	storelock_dot_take(const char *path, uint64_t limit_ms);

/* Remove the dot-lock path that storelock_dot_take() made. */
void	storelock_dot_release(const char *path);

#endif
