/*
 * log: one line per event, to syslog and (with -f) to stderr as well.
 *
 * A session's lines start with "session=<id>", then "user=<name>" and
 * "rip=<address>" once they are known, so `grep session=<id>` tells one
 * session's whole story across its front and back processes.  The _warn
 * and fatal forms append ": <strerror(errno)>"; the x forms do not.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

/* ident is the syslog tag; foreground also copies lines to stderr.  The
 * syslog socket is opened at once, so logging keeps working after chroot. */
void	log_init(const char *ident, int foreground, int facility);

/* Change the syslog facility (from the configuration). */
void	log_setfacility(int facility);

/* Session context added to every following line; NULL clears. */
void	log_setsession(const char *id);
void	log_setuser(const char *user);
void	log_setrip(const char *rip);
const char *log_session(void);

/* Map a facility name ("mail", "daemon", "local0".."local7", "user") to its
 * value; -1 if unknown. */
int	log_facility_byname(const char *);

/* The name log_facility_byname() takes for a facility; NULL if none. */
const char *log_facility_name(int);

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Enable log_debug output. */
void	log_setverbose(int);

#endif
