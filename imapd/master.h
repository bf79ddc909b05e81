/*
 * master: binds the listening sockets, keeps `prefork` idle workers ready
 * up to `max_sessions` in all, reaps them, reloads on SIGHUP and drains on
 * SIGTERM.  It never reads a byte from a client.
 */
#ifndef IMAPD_MASTER_H
#define IMAPD_MASTER_H

struct config;

/* Run the master with conf (read from conf->path); never returns. */
void	master_run(struct config *conf, int foreground)
	    __attribute__((noreturn));

/* Checks shared by the master and `imapd -t`: TLS files, login_user,
 * login_chroot, userdb, PAM service.  Prints each problem with print()
 * and returns the number of errors. */
int	master_check(const struct config *, void (*print)(const char *));

/* Bind every listen_imap/listen_imaps address; fatal if none binds. */
struct listener;
unsigned master_bind(const struct config *, struct listener *, unsigned max);

#endif
