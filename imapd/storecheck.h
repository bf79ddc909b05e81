/*
 * storecheck: is the mail store usable right now?  imapd -H asks, for a
 * router or a monitor that must take a host out of rotation when its
 * store (a network file system, most likely) fails or hangs.
 */
#ifndef IMAPD_STORECHECK_H
#define IMAPD_STORECHECK_H

#include <stddef.h>

struct config;

/*
 * Stat store_marker, if one is set; then, in the directory store_check:
 * stat it, create a file of its own name (host and process id) there,
 * write, fsync, stat and unlink it, and fsync the directory, all within
 * store_check_timeout.  The work runs in
 * a child process, so that a call that never returns (a hung mount) fails
 * the check instead of hanging it.  0 on success, with the time taken in
 * *ms_r; -1 with a sentence in why.
 */
int	storecheck_run(const struct config *, long long *ms_r, char *why,
	    size_t whylen);

/*
 * Whether the store is mounted, as store_marker tells: 1 when no marker
 * is configured or the marker file exists; 0 when it is missing (or
 * cannot be looked at), logged with what is refused (the words in
 * refused, e.g. "the session").  Where the store is not mounted, its
 * mount point is an empty local directory in which Maildirs must not be
 * made or served.
 */
int	storecheck_marker(const struct config *, const char *refused);

#endif
