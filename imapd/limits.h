/*
 * limits: connection and session limits per client address and per user,
 * and the failed-login count per address that makes a guesser wait, kept
 * in one table that the master shares with its workers.  See limits.c for
 * how the table stays right while many processes use it at once.
 *
 * Who calls what: the master makes the table and gives each worker a slot
 * (limits_init, limits_slot_take, limits_slot_free); a worker admits or
 * refuses the connection it accepted (limits_connect); the back of a
 * session admits or refuses the user who logged in (limits_login) and
 * reads and counts failed logins (limits_penalty_ms, limits_failed).
 * Every other process drops the table (limits_detach).  With no table
 * (imapd --stdio, or after limits_detach) every check admits and every
 * count is a no-op.
 */
#ifndef IMAPD_LIMITS_H
#define IMAPD_LIMITS_H

#include <sys/socket.h>

#include <stdint.h>

struct config;

/* A client address as the limits count it: IPv4 addresses one by one,
 * IPv6 addresses by their /64. */
struct limits_addr {
	unsigned char	b[16];
};

/* Which limit refused a login. */
enum limits_verdict {
	LIMITS_OK,
	LIMITS_USER,		/* max_user_sessions */
	LIMITS_USER_ADDRESS,	/* max_user_sessions_per_address */
};

/* After failing this many logins an address starts to wait longer; the
 * count is forgotten LIMITS_FORGET_MS after the address's last failure. */
#define LIMITS_FREE_FAILURES	3
#define LIMITS_FORGET_MS	(15 * 60 * 1000)

/* Master, before the first fork: map a table with room for nslots
 * workers.  0, or -1 with errno. */
int	limits_init(unsigned nslots);

/* Master: a free slot for a worker about to be forked, or -1 if none is
 * free.  limits_slot_free gives it back once the worker has been reaped,
 * which is what ends every count the worker made. */
int	limits_slot_take(void);
void	limits_slot_free(int slot);

/* Forget the table in this process (the front before it reads from the
 * network, the back before it becomes the user). */
void	limits_detach(void);

/* The address of a peer as limits_connect and friends count it. */
void	limits_addr(const struct sockaddr *, socklen_t,
	    struct limits_addr *);

/*
 * Worker, right after accept: count the connections from addr that have
 * not logged in yet; if fewer than max (0: no limit), count this one too
 * (in slot) and return 0.  Otherwise return -1 with the count in *n_r;
 * the connection is not counted.
 */
int	limits_connect(int slot, const struct limits_addr *, unsigned max,
	    unsigned *n_r);

/*
 * Back, after the credentials were accepted: if user has fewer sessions
 * than max_user_sessions and fewer from addr than
 * max_user_sessions_per_address, count this one as a session of user and
 * return LIMITS_OK; otherwise return the limit that refused it, with the
 * count it reached in *n_r.  limits_leave undoes an admission when the
 * login fails after all.
 */
enum limits_verdict limits_login(int slot, const char *user,
	    const struct limits_addr *, const struct config *, unsigned *n_r);
void	limits_leave(int slot);

/*
 * The extra delay before a failed login from addr is answered: none for
 * the first LIMITS_FREE_FAILURES failures, then one second, doubling with
 * each further failure, at most max_ms (0: never any).  *failures_r is
 * how many failures the address has to its name.
 */
uint64_t limits_penalty_ms(const struct limits_addr *, uint64_t max_ms,
	    unsigned *failures_r);

/* Count a failed login from addr. */
void	limits_failed(const struct limits_addr *);

#endif
