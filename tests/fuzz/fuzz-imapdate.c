/*
 * Fuzz target: common/imap/imapdate, the dates of Date: headers, SEARCH and
 * APPEND.  The input is read as an RFC 5322 date (without a NUL after
 * it), as an IMAP date and as an IMAP date-time (up to its first NUL).
 *
 * Properties checked:
 *   - a date-time that parses is written back by imapdate_format() as
 *     it was sent, but for the day's padding and the month's case (a
 *     leap second aside, which the format shows as the next minute);
 *   - a date that parses is midnight UTC of that day, which
 *     imapdate_format() writes back the same way;
 *   - imapdate_ymd() gives the local calendar date of the parsed time;
 *   - days and civil dates convert both ways without loss;
 *   - an RFC 5322 date gives a zone within +-99:59.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/imapdate.h"
#include "tests/fuzz/fuzz.h"

/* "d-Mon-yyyy" with a one-digit or space-padded day, as the format
 * writes it: zero-padded, month as in months[]. */
static void
normalize(const char *s, char *out, size_t outlen)
{
	if (s[0] == ' ' || (s[0] != '\0' && s[1] == '-')) {
		out[0] = '0';
		snprintf(out + 1, outlen - 1, "%s", s[0] == ' ' ? s + 1 : s);
	} else
		snprintf(out, outlen, "%s", s);
}

/* n digits at s (already known to be digits) */
static int
num(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

static void
civil_round_trip(int64_t days)
{
	int64_t y;
	unsigned m, d;

	imapdate_civil_from_days(days, &y, &m, &d);
	FUZZ_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31,
	    "day %lld is %lld-%u-%u", (long long)days, (long long)y, m, d);
	FUZZ_CHECK(imapdate_days_from_civil(y, m, d) == days,
	    "day %lld does not come back", (long long)days);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *raw = fuzz_dup(data, len), *s = fuzz_strdup(data, len);
	char out[IMAPDATE_LEN], want[64];
	int64_t t, y;
	unsigned m, d;
	int tz, ymd;

	if (imapdate_parse_rfc5322(raw, len, &t, &tz) == 0) {
		FUZZ_CHECK(tz >= -(99 * 60 + 59) && tz <= 99 * 60 + 59,
		    "zone %d", tz);
		imapdate_format(t, tz, out);
		FUZZ_CHECK(strlen(out) == IMAPDATE_LEN - 1, "format: %s", out);
		civil_round_trip(t / 86400);
	}

	if (imapdate_parse_date(s, &t) == 0) {
		FUZZ_CHECK(t % 86400 == 0, "a date is not midnight: %lld",
		    (long long)t);
		imapdate_format(t, 0, out);
		normalize(s, want, sizeof(want));
		FUZZ_CHECK(strncasecmp(out, want, 11) == 0 &&
		    strlen(want) == 11, "%s written back as %s", s, out);
		imapdate_civil_from_days(t / 86400, &y, &m, &d);
		FUZZ_CHECK(imapdate_ymd(t, 0) == (int)(y * 10000 + m * 100 + d),
		    "ymd of %s", s);
	}

	if (imapdate_parse_datetime(s, &t, &tz) == 0) {
		FUZZ_CHECK(tz >= -(99 * 60 + 59) && tz <= 99 * 60 + 59,
		    "zone %d", tz);
		imapdate_format(t, tz, out);
		normalize(s, want, sizeof(want));
		/* no zone is written "+0000" */
		if (strcmp(want + 21, "-0000") == 0)
			want[21] = '+';
		if (strncmp(want + 18, "60", 2) != 0)
			FUZZ_CHECK(strcasecmp(out, want) == 0,
			    "%s written back as %s", s, out);
		ymd = imapdate_ymd(t, tz);
		FUZZ_CHECK(ymd / 10000 == num(want + 7, 4) &&
		    ymd % 100 == num(want, 2) &&
		    strncasecmp(out + 3, want + 3, 3) == 0,
		    "ymd %d of %s", ymd, s);
		civil_round_trip(t / 86400);
	}

	/* any day in the years 0..9999 and around them */
	if (len >= 4) {
		int64_t z = (int64_t)((uint32_t)data[0] | (uint32_t)data[1] <<
		    8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);

		civil_round_trip(z % 4000000 - 2000000);
	}
	free(raw);
	free(s);
	return 0;
}
