/*
 * sandbox: what a process of imapd may still do once it no longer needs
 * the rest.  The front parses every byte a client sends before login, so
 * beyond its chroot and login_user it runs under a seccomp filter (an
 * allow-list of system calls), with no way to gain privileges, fork or
 * grow without bound; once it only relays bytes, a tighter filter is
 * stacked on the first.  The back gets no new privileges once it is the
 * user, and neither does the key process, which may not fork either.
 * imapd(8), section SANDBOX, describes the result.
 */
#ifndef IMAPD_SANDBOX_H
#define IMAPD_SANDBOX_H

/* At start-up, in every process: no core dumps (a core of a front or a
 * back holds TLS keys or a user's mail), nor, as root, a process others
 * may attach to. */
void	sandbox_start(void);

/* In a process the master forks to serve for long (the key process, the
 * shared TLS process): name it, make it non-dumpable, close the log's
 * socket and every descriptor but standard input, output and error and
 * fd, which becomes descriptor at (above 2).  Returns at; exits on
 * failure. */
int	sandbox_child(const char *name, int fd, int at);

/* In the front, after the privilege drop and before the first byte from
 * the network: limits and the pre-login filter.  Fatal on failure. */
void	sandbox_front_login(void);

/* In the front, once logged in and only relaying: no new descriptors,
 * and the relay's filter.  Fatal on failure. */
void	sandbox_front_relay(void);

/* In the back, once it is the user for good. */
void	sandbox_back(void);

/* In the key process, once the key is loaded and it is login_user: no
 * new privileges and no process of its own.  Fatal on failure. */
void	sandbox_keyproc(void);

/* In the shared TLS process (tlsproc.h), once it is login_user: the
 * limits of a front, room for every connection, and a filter of its
 * own.  Fatal on failure. */
void	sandbox_tlsproc(void);

#endif
