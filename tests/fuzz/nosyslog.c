/*
 * nosyslog: syslog(3) for the fuzz targets, linked in ahead of the C
 * library's.
 *
 * A fuzzer runs the code millions of times on damaged input, and the
 * code logs damage (common/lib/log.c, in full: context, cutting, control
 * bytes): through the real syslog that would flood the host's log.  The
 * line is formatted and dropped, or written to stderr when FUZZ_LOG is
 * set.  With _FORTIFY_SOURCE the code calls the checking entry points
 * (__syslog_chk, __vsyslog_chk), which are replaced too; this file
 * itself is built without it, so that syslog is not a macro here.
 */
#undef _FORTIFY_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

void	__syslog_chk(int, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	__vsyslog_chk(int, int, const char *, va_list)
	    __attribute__((format(printf, 3, 0)));

static void	emit(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));

static void
emit(const char *fmt, va_list ap)
{
	char line[4096];

	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	if (getenv("FUZZ_LOG") != NULL)
		fprintf(stderr, "log: %s\n", line);
}

void
openlog(const char *ident, int option, int facility)
{
}

void
closelog(void)
{
}

void
syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

void
vsyslog(int pri, const char *fmt, va_list ap)
{
	emit(fmt, ap);
}

void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

void
__vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	emit(fmt, ap);
}
