/*
 * imapdate: the dates IMAP deals in.
 *
 *   RFC 5322 Date: headers   "Tue, 14 Nov 2023 09:12:40 +0100 (CET)",
 *                            read leniently (SEARCH SENTBEFORE, SORT DATE)
 *   IMAP date                "1-Feb-1994"  (SEARCH BEFORE/ON/SINCE ...)
 *   IMAP date-time           "17-Jul-1996 02:44:25 -0700"  (APPEND,
 *                            INTERNALDATE)
 *
 * Times are seconds since 1970-01-01 00:00:00 UTC in an int64_t; time zone
 * offsets are minutes east of UTC.  The calendar is the proleptic
 * Gregorian one, computed here from first principles: nothing depends on
 * mktime(), TZ or the process's time zone state, so results are the same
 * in every process and after chroot.
 */
#ifndef COMMON_IMAPDATE_H
#define COMMON_IMAPDATE_H

#include <stddef.h>
#include <stdint.h>

/* the output of imapdate_format(), NUL included */
#define IMAPDATE_LEN	27

/*
 * Read an RFC 5322 (or RFC 822, or what mailers really write) date:
 *   [day-name [","]] day month year time [zone] [anything]
 * Day names are optional; months are matched on their first three
 * letters, any case; a two-digit year is 19xx from 50 up and 20xx below,
 * a three-digit one is added to 1900 (RFC 5322 4.3); "-" may separate day,
 * month and year; seconds may be missing; the zone is +hhmm / -hhmm, or
 * UT, GMT, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT, and any other name
 * (military letters included, see RFC 5322 4.3) or none at all counts as
 * UTC.  As RFC 5256 2.2 asks of a sort key, a zone that cannot be read is
 * UTC, and a time that cannot be read (or none) is 00:00:00 UTC of the
 * date.  Comments are skipped and text after the zone is ignored.  s need
 * not be NUL-terminated.  0 with *t_r (UTC) and *tzoff_min_r set, or -1
 * when no date can be read; the outputs are untouched then.
 */
int	imapdate_parse_rfc5322(const char *s, size_t len, int64_t *t_r,
	    int *tzoff_min_r);

/*
 * An IMAP date (RFC 3501 "date" with the quotes already removed):
 * day "-" month "-" year, the day one or two digits, the year four.
 * *t_r is 00:00:00 UTC of that day.  0 or -1.
 */
int	imapdate_parse_date(const char *s, int64_t *t_r);

/*
 * An IMAP date-time without its quotes: "dd-Mon-yyyy hh:mm:ss +zzzz",
 * the day also " d" (space-padded) or "d".  *t_r is the UTC time,
 * *tzoff_r the zone in minutes.  0 or -1.
 */
int	imapdate_parse_datetime(const char *s, int64_t *t_r, int *tzoff_r);

/*
 * The calendar date yyyymmdd of t as seen in the zone tzoff_min, for the
 * SEARCH keys that compare dates "disregarding time and timezone": compare
 * imapdate_ymd(t, zone) with imapdate_ymd(day, 0) of the parsed date.
 */
int	imapdate_ymd(int64_t t, int tzoff_min);

/*
 * "dd-Mon-yyyy hh:mm:ss +zzzz" (26 characters, zero-padded day, as
 * Dovecot sends INTERNALDATE) into out.  Times before year 0 or after
 * 9999, and zones beyond +-99:59, are clamped so the form never changes.
 */
void	imapdate_format(int64_t t, int tzoff_min, char out[IMAPDATE_LEN]);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12), and
 * back. */
int64_t	imapdate_days_from_civil(int64_t y, unsigned m, unsigned d);
void	imapdate_civil_from_days(int64_t days, int64_t *y_r, unsigned *m_r,
	    unsigned *d_r);

#endif
