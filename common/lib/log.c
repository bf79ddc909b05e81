/*
 * log: syslog and stderr logging with session context.  See log.h.
 *
 * Lines are built in a fixed stack buffer and cut (marked with "...") when
 * too long: a log call never allocates and never fails.  Client-supplied
 * text must reach here already made printable by the caller; as a last
 * guard, control bytes are replaced by '?'.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/log.h"

#define LOG_LINE_MAX	2048

static char	 log_ident[32] = "imapd";
static int	 log_fg;
static int	 log_verbose;
static char	 ctx_session[64];
static char	 ctx_user[128];
static char	 ctx_rip[64];

static void
setctx(char *dst, size_t size, const char *v)
{
	size_t i;

	if (v == NULL) {
		dst[0] = '\0';
		return;
	}
	for (i = 0; i + 1 < size && v[i] != '\0'; i++)
		dst[i] = (v[i] > ' ' && v[i] < 0x7f) ? v[i] : '?';
	dst[i] = '\0';
}

void
log_init(const char *ident, int foreground, int facility)
{
	size_t n = strlen(ident);

	if (n >= sizeof(log_ident))
		n = sizeof(log_ident) - 1;
	memcpy(log_ident, ident, n);
	log_ident[n] = '\0';
	log_fg = foreground;
	openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_setfacility(int facility)
{
	closelog();
	openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

void
log_setsession(const char *id)
{
	setctx(ctx_session, sizeof(ctx_session), id);
}

void
log_setuser(const char *user)
{
	setctx(ctx_user, sizeof(ctx_user), user);
}

void
log_setrip(const char *rip)
{
	setctx(ctx_rip, sizeof(ctx_rip), rip);
}

const char *
log_session(void)
{
	return ctx_session;
}

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
	{ "user", LOG_USER }, { "auth", LOG_AUTH },
	{ "authpriv", LOG_AUTHPRIV },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};
#define NFACILITIES	(sizeof(facilities) / sizeof(facilities[0]))

int
log_facility_byname(const char *name)
{
	size_t i;

	for (i = 0; i < NFACILITIES; i++)
		if (strcmp(facilities[i].name, name) == 0)
			return facilities[i].value;
	return -1;
}

const char *
log_facility_name(int facility)
{
	size_t i;

	for (i = 0; i < NFACILITIES; i++)
		if (facilities[i].value == facility)
			return facilities[i].name;
	return NULL;
}

/* Append to line at *off, never past size, marking a cut with "...". */
static void
lappend(char *line, size_t size, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + n >= size) {
		n = size - *off - 1;
		memcpy(line + *off, s, n);
		*off += n;
		if (size > 4)
			memcpy(line + size - 4, "...", 4);
		return;
	}
	memcpy(line + *off, s, n);
	*off += n;
	line[*off] = '\0';
}

static void	vlog(int, const char *, va_list, int, int)
		    __attribute__((format(printf, 2, 0)));

static void
vlog(int pri, const char *fmt, va_list ap, int with_errno, int saved_errno)
{
	char line[LOG_LINE_MAX], msg[LOG_LINE_MAX];
	size_t off = 0, i;
	int n;

	line[0] = '\0';
	if (ctx_session[0] != '\0') {
		lappend(line, sizeof(line), &off, "session=");
		lappend(line, sizeof(line), &off, ctx_session);
		if (ctx_user[0] != '\0') {
			lappend(line, sizeof(line), &off, " user=");
			lappend(line, sizeof(line), &off, ctx_user);
		}
		if (ctx_rip[0] != '\0') {
			lappend(line, sizeof(line), &off, " rip=");
			lappend(line, sizeof(line), &off, ctx_rip);
		}
		lappend(line, sizeof(line), &off, ": ");
	}
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < ' ' || msg[i] == 0x7f)
			msg[i] = '?';
	lappend(line, sizeof(line), &off, msg);
	if (with_errno) {
		lappend(line, sizeof(line), &off, ": ");
		lappend(line, sizeof(line), &off, strerror(saved_errno));
	}
	syslog(pri, "%s", line);
	if (log_fg) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;

		if (localtime_r(&now, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			ts[0] = '\0';
		fprintf(stderr, "%s %s[%ld]: %s\n", ts, log_ident,
		    (long)getpid(), line);
		fflush(stderr);
	}
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, 0, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, 0, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, 1, saved);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, 0, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 1, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 0, 0);
	va_end(ap);
	exit(1);
}
