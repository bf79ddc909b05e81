/*
 * tlsproc: the shared TLS process, with tls_process = shared.
 *
 * One long-lived process, started by the master, holds the TLS of every
 * connection to an implicit-TLS port (listen_imaps).  A worker that
 * accepts such a connection hands it over, with its key channel
 * (keyclient.h), and gets back one end of a socketpair that carries the
 * session's plaintext: its front then runs as on a plain port, knowing
 * the connection is TLS, and after login the back takes the socketpair
 * over as it takes a plain client socket, so that a session is one
 * process plus its share of this one.
 *
 * The TLS process runs as login_user in login_chroot under a system call
 * filter, like a front, and holds no private key: each handshake signs
 * through the key channel of the worker that accepted the connection.
 * The price is isolation: a flaw in it exposes the plaintext of every
 * connection it holds, where a front holds one.  If it dies, its
 * connections are lost and the master starts another; while none runs,
 * workers give their connections to per-session fronts as without the
 * setting.
 */
#ifndef IMAPD_TLSPROC_H
#define IMAPD_TLSPROC_H

#include <sys/types.h>

struct config;

/*
 * In the master, once the key process for conf is current: start a TLS
 * process if conf asks for one and none runs for this configuration.
 * The previous one, if any, takes no more connections and ends with the
 * last of those it has.  1 if a new process was started (idle workers
 * hold the old one's door and should be replaced), else 0.
 */
int	tlsproc_start(const struct config *);

/* In the master, in its loop: start the TLS process again if it died,
 * at most once a second.  1 if one was started (see above), 0 if none
 * is needed, -1 if one is still to be started: call again within a
 * second. */
int	tlsproc_ensure(const struct config *);

/* In the master, for each child reaped: 1 if it was the current TLS
 * process (logged), else 0. */
int	tlsproc_reaped(pid_t, int status);

/* In the master when it stops: the TLS process flushes what it holds for
 * a moment, then exits. */
void	tlsproc_stop(void);

/*
 * In a worker, for an accepted implicit-TLS connection: hand the socket
 * client and this process's key channel to the TLS process, with the
 * session id, the client's address and the handshake's deadline (by
 * session_now_ms()) for its log and its timer.  Returns this side of the
 * plaintext socketpair (blocking, close-on-exec) and closes the key
 * channel, or -1 if there is no TLS process or it could not take the
 * connection (the caller then serves TLS itself; client and the key
 * channel are left as they were).
 */
int	tlsproc_hand(int client, const char *session, const char *rip,
	    const char *lport, long long deadline_ms);

/* In a worker once it has a connection, and in every other child of the
 * master: close the inherited door to the TLS process. */
void	tlsproc_close(void);

#endif
