/*
 * Unit tests for common/imap/imapdate: the calendar against a brute-force day
 * count, RFC 5322 dates as mailers write them, IMAP date and date-time,
 * and INTERNALDATE formatting.
 */
#include <stdint.h>
#include <string.h>

#include "common/imap/imapdate.h"
#include "tests/t.h"

static void
test_calendar(void)
{
	static const unsigned char ml[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int64_t days = imapdate_days_from_civil(1600, 1, 1), y, yy;
	unsigned m, d, mm, dd, bad = 0;

	/* walk every day from 1600 to 2400 and compare both directions */
	for (yy = 1600; yy < 2400; yy++) {
		int leap = (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0;

		for (mm = 1; mm <= 12; mm++) {
			unsigned n = ml[mm - 1] + (mm == 2 && leap);

			for (dd = 1; dd <= n; dd++, days++) {
				if (imapdate_days_from_civil(yy, mm,
				    dd) != days)
					bad++;
				imapdate_civil_from_days(days, &y, &m, &d);
				if (y != yy || m != mm || d != dd)
					bad++;
			}
		}
	}
	CHECK_INT(bad, 0);
	CHECK_INT(imapdate_days_from_civil(1970, 1, 1), 0);
	CHECK_INT(imapdate_days_from_civil(2000, 3, 1), 11017);
	CHECK_INT(imapdate_days_from_civil(1969, 12, 31), -1);
	imapdate_civil_from_days(-719468, &y, &m, &d);
	CHECK(y == 0 && m == 3 && d == 1);
}

static const struct {
	const char	*in;
	int		 ok;
	int64_t		 t;
	int		 tz;
} rfc5322[] = {
	{ "Tue, 14 Nov 2023 09:12:40 +0100", 1, 1699949560, 60 },
	{ "14 Nov 2023 09:12:40 +0100", 1, 1699949560, 60 },
	{ "Tue,14 Nov 2023 09:12:40 +0100 (CET)", 1, 1699949560, 60 },
	{ "  tue, 14 nov 2023 08:12:40 GMT", 1, 1699949560, 0 },
	{ "Tue, 14 November 2023 08:12:40 UT", 1, 1699949560, 0 },
	{ "Tue, 14 Nov 2023 08:12 Z", 1, 1699949520, 0 },
	{ "Tue, 14 Nov 2023 03:12:40 EST", 1, 1699949560, -300 },
	{ "Tue, 14 Nov 2023 01:12:40 PDT", 1, 1699949560, -420 },
	{ "Tue, 14 Nov 2023 08:12:40 A", 1, 1699949560, 0 },
	{ "Tue, 14 Nov 2023 08:12:40", 1, 1699949560, 0 },
	{ "Tue, 14 Nov 2023 08:12:40 +01:00", 1, 1699945960, 60 },
	{ "Tue, 14 Nov 2023 08:12:40 +99xx", 1, 1699949560, 0 },
	{ "Tue, 14 Nov 2023 09:42:40 +0130 trailing junk", 1, 1699949560,
	    90 },
	{ "14-Nov-2023 08:12:40 -0000", 1, 1699949560, 0 },
	{ "21 Nov 97 09:55:06 GMT", 1, 880106106, 0 },
	{ "21 Nov 05 09:55:06 GMT", 1, 1132566906, 0 },
	{ "21 Nov 105 09:55:06 GMT", 1, 1132566906, 0 },
	{ "Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", 1, 880127706,
	    -360 },
	{ "Tue, 1 Jan 2019 (comment)\r\n  10:00:00 +0000", 1, 1546336800, 0 },
	{ "1 Jan 2019", 1, 1546300800, 0 },
	{ "Tue, 14 Nov 2023 24:00:00 +0100", 1, 1699920000, 0 },
	{ "Tue, 14 Nov 2023 09:60:00 +0100", 1, 1699920000, 0 },
	{ "Tue, 14 Nov 2023 09 +0100", 1, 1699920000, 0 },
	{ "Tue, 14 Nov 2023 09:12:61 +0100", 1, 1699920000, 0 },
	{ "Tue, 14 Nov 2023 junk", 1, 1699920000, 0 },
	{ "Mon, 31 Dec 1969 23:59:59 +0000", 1, -1, 0 },
	{ "Sat, 29 Feb 2020 12:00:00 +0000", 1, 1582977600, 0 },
	{ "Tue, 14 Nov 2023 23:59:60 +0000", 1, 1700006400, 0 },
	{ "", 0, 0, 0 },
	{ "garbage", 0, 0, 0 },
	{ "Tue, 32 Nov 2023 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, 0 Nov 2023 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, 14 Foo 2023 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, 14 Nov 2 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, 14 Nov 20233 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, 123 Nov 2023 09:12:40 +0100", 0, 0, 0 },
	{ "Tue, (unterminated comment", 0, 0, 0 },
	{ "Tue, Nov 14 2023", 0, 0, 0 },
};

static void
test_rfc5322(void)
{
	size_t i;
	int64_t t;
	int tz, r;

	for (i = 0; i < sizeof(rfc5322) / sizeof(rfc5322[0]); i++) {
		t = 42;
		tz = 42;
		r = imapdate_parse_rfc5322(rfc5322[i].in,
		    strlen(rfc5322[i].in), &t, &tz);
		CHECK_MSG(r == (rfc5322[i].ok ? 0 : -1), "%s", rfc5322[i].in);
		if (rfc5322[i].ok) {
			CHECK_MSG(t == rfc5322[i].t, "%s: %lld",
			    rfc5322[i].in, (long long)t);
			CHECK_MSG(tz == rfc5322[i].tz, "%s: %d",
			    rfc5322[i].in, tz);
		} else
			CHECK(t == 42 && tz == 42);
	}
	/* the length bounds the parse: no NUL needed */
	CHECK_INT(imapdate_parse_rfc5322("1 Jan 2019 10:00:00 +0100XXXX", 10,
	    &t, &tz), 0);
	CHECK_INT(t, 1546300800);
	CHECK_INT(imapdate_parse_rfc5322("1 Jan 2019", 5, &t, &tz), -1);
}

static void
test_imap(void)
{
	int64_t t;
	int tz;

	CHECK_INT(imapdate_parse_date("1-Feb-1994", &t), 0);
	CHECK_INT(t, 760060800);
	CHECK_INT(imapdate_parse_date("01-feb-1994", &t), 0);
	CHECK_INT(t, 760060800);
	CHECK_INT(imapdate_parse_date("29-Feb-2000", &t), 0);
	CHECK_INT(imapdate_parse_date("29-Feb-1900", &t), -1);
	CHECK_INT(imapdate_parse_date("31-Apr-2000", &t), -1);
	CHECK_INT(imapdate_parse_date(" 1-Feb-1994", &t), -1);
	CHECK_INT(imapdate_parse_date("1-Feb-94", &t), -1);
	CHECK_INT(imapdate_parse_date("1-Feb-1994 ", &t), -1);
	CHECK_INT(imapdate_parse_date("1-Febr-1994", &t), -1);
	CHECK_INT(imapdate_parse_date("001-Feb-1994", &t), -1);
	CHECK_INT(imapdate_parse_date("", &t), -1);
	CHECK_INT(imapdate_parse_date("0-Feb-1994", &t), -1);

	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 02:44:25 -0700", &t,
	    &tz), 0);
	CHECK_INT(t, 837596665);
	CHECK_INT(tz, -420);
	CHECK_INT(imapdate_parse_datetime(" 7-Jul-1996 02:44:25 +0000", &t,
	    &tz), 0);
	CHECK_INT(t, 836707465);
	CHECK_INT(imapdate_parse_datetime("7-Jul-1996 02:44:25 +0000", &t,
	    &tz), 0);
	CHECK_INT(t, 836707465);
	CHECK_INT(imapdate_parse_datetime("07-Jul-1996 02:44:25 +0130", &t,
	    &tz), 0);
	CHECK_INT(tz, 90);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 02:44:25", &t, &tz),
	    -1);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 2:44:25 -0700", &t,
	    &tz), -1);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 24:44:25 -0700", &t,
	    &tz), -1);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 02:44:25 -0760", &t,
	    &tz), -1);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996 02:44:25 -0700x", &t,
	    &tz), -1);
	CHECK_INT(imapdate_parse_datetime("17-Jul-1996  02:44:25 -0700", &t,
	    &tz), -1);
}

static void
test_format(void)
{
	char out[IMAPDATE_LEN];
	int64_t t;
	int tz;

	imapdate_format(837596665, -420, out);
	CHECK_STR(out, "17-Jul-1996 02:44:25 -0700");
	imapdate_format(0, 0, out);
	CHECK_STR(out, "01-Jan-1970 00:00:00 +0000");
	imapdate_format(-1, 90, out);
	CHECK_STR(out, "01-Jan-1970 01:29:59 +0130");
	imapdate_format(INT64_MAX, 0, out);
	CHECK_STR(out, "31-Dec-9999 23:59:59 +0000");
	imapdate_format(INT64_MIN, -100000, out);
	CHECK_STR(out, "01-Jan-0000 00:00:00 -9959");
	/* round trip */
	imapdate_format(1699949560, 60, out);
	CHECK_STR(out, "14-Nov-2023 09:12:40 +0100");
	CHECK_INT(imapdate_parse_datetime(out, &t, &tz), 0);
	CHECK(t == 1699949560 && tz == 60);

	CHECK_INT(imapdate_ymd(1699949560, 0), 20231114);
	CHECK_INT(imapdate_ymd(1699999999, 0), 20231114);
	CHECK_INT(imapdate_ymd(1699999999, 600), 20231115);
	CHECK_INT(imapdate_ymd(0, -60), 19691231);
}

int
main(void)
{
	T_RUN(test_calendar);
	T_RUN(test_rfc5322);
	T_RUN(test_imap);
	T_RUN(test_format);
	return t_done();
}
