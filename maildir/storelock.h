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
 */
#ifndef MAILDIR_STORELOCK_H
#define MAILDIR_STORELOCK_H

#include <stdint.h>

#define STORELOCK_TIMEOUT_MS	30000	/* until storelock_set_timeout() */

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

#endif
