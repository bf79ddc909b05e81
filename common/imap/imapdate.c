/*
 * imapdate: date parsing and formatting for IMAP.  See imapdate.h.
 *
 * The calendar arithmetic counts in 400-year eras (146097 days each,
 * which makes the Gregorian leap rule exact) with years that start on
 * March 1, so that the leap day falls at the end of a year and the day of
 * the year follows from the month by a linear formula.
 */
#include <stdint.h>
#include <string.h>

#include "common/imap/imapdate.h"
#include "common/mail/mime.h"

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static const char days[7][4] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};

/* floor division, for negative times */
static int64_t
fdiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t
imapdate_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;
	unsigned mp;

	/* shift to March-based years: Jan and Feb belong to the year before */
	if (m <= 2)
		y--;
	mp = m > 2 ? m - 3 : m + 9;	/* 0 = March ... 11 = February */
	era = fdiv(y, 400);
	yoe = y - era * 400;			/* 0..399 */
	doy = (153 * (int64_t)mp + 2) / 5 + (int64_t)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	/* 719468 days from 0000-03-01 to 1970-01-01 */
	return era * 146097 + doe - 719468;
}

void
imapdate_civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r,
    unsigned *d_r)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = fdiv(z, 146097);
	doe = z - era * 146097;			/* 0..146096 */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	y = yoe + era * 400;
	*d_r = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m_r = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y_r = y + (*m_r <= 2);
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
isalpha_(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
isdigit_(int c)
{
	return c >= '0' && c <= '9';
}

/* 1 + the index of the name in tab[n] that the first three letters of w
 * spell (any case), else 0 */
static unsigned
match3(const char (*tab)[4], unsigned n, const char *w, size_t len)
{
	unsigned i;

	if (len < 3)
		return 0;
	for (i = 0; i < n; i++)
		if (lower(w[0]) == lower(tab[i][0]) &&
		    lower(w[1]) == tab[i][1] && lower(w[2]) == tab[i][2])
			return i + 1;
	return 0;
}

static unsigned
month_of(const char *w, size_t len)
{
	return match3(months, 12, w, len);
}

static int
is_dayname(const char *w, size_t len)
{
	return match3(days, 7, w, len) != 0;
}

/* the scanner over a date that is not NUL-terminated */
struct dscan {
	const char	*p;
	const char	*end;
};

static void
skip_cfws(struct dscan *s)
{
	s->p = mime_skip_cfws(s->p, s->end);
}

/* A run of at most maxd digits; -1 if there is none or it is longer. */
static int
digits(struct dscan *s, unsigned maxd, unsigned *ndig_r)
{
	unsigned n = 0;
	int v = 0;

	while (s->p < s->end && isdigit_((unsigned char)*s->p)) {
		if (++n > maxd)
			return -1;
		v = v * 10 + (*s->p - '0');
		s->p++;
	}
	if (n == 0)
		return -1;
	if (ndig_r != NULL)
		*ndig_r = n;
	return v;
}

static size_t
word(struct dscan *s, const char **w_r)
{
	const char *start = s->p;

	while (s->p < s->end && isalpha_((unsigned char)*s->p))
		s->p++;
	*w_r = start;
	return (size_t)(s->p - start);
}

static int
accept_char(struct dscan *s, char c)
{
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return 1;
	}
	return 0;
}

/* Minutes east of UTC for a zone name; names not known are UTC. */
static int
zone_name(const char *w, size_t len)
{
	static const struct {
		const char	*name;
		int		 off;
	} zones[] = {
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 },
		{ "CDT", -300 }, { "MST", -420 }, { "MDT", -360 },
		{ "PST", -480 }, { "PDT", -420 },
	};
	size_t i;

	if (len != 3)
		return 0;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (lower(w[0]) == lower(zones[i].name[0]) &&
		    lower(w[1]) == lower(zones[i].name[1]) &&
		    lower(w[2]) == lower(zones[i].name[2]))
			return zones[i].off;
	return 0;
}

static int64_t
make_time(int64_t y, unsigned mon, unsigned d, unsigned h, unsigned mi,
    unsigned sec, int tzoff)
{
	return imapdate_days_from_civil(y, mon, d) * 86400 +
	    (int64_t)h * 3600 + (int64_t)mi * 60 + sec - (int64_t)tzoff * 60;
}

/*
 * hh:mm[:ss] [zone] at s: 0 with the fields set, or -1 when the time is
 * out of range or malformed (the fields may then be partly set).
 */
static int
time_of_day(struct dscan *s, int *h, int *mi, int *sec, int *tz)
{
	const char *w;
	size_t wlen;
	unsigned ndig;
	int v;

	if ((*h = digits(s, 2, NULL)) < 0 || *h > 23)
		return -1;
	skip_cfws(s);
	if (!accept_char(s, ':'))
		return -1;
	skip_cfws(s);
	if ((*mi = digits(s, 2, NULL)) < 0 || *mi > 59)
		return -1;
	skip_cfws(s);
	if (accept_char(s, ':')) {
		skip_cfws(s);
		/* 60 is a leap second */
		if ((*sec = digits(s, 2, NULL)) < 0 || *sec > 60)
			return -1;
		skip_cfws(s);
	}
	if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
		int neg = *s->p == '-';

		/* +hhmm; also +hh:mm, seen in the wild; a zone that cannot
		 * be read counts as UTC (RFC 5256 2.2) rather than losing
		 * the time */
		s->p++;
		v = digits(s, 4, &ndig);
		if (v >= 0 && ndig == 2 && accept_char(s, ':')) {
			int m2 = digits(s, 2, &ndig);

			v = m2 < 0 || ndig != 2 ? -1 : v * 100 + m2;
			ndig = 4;
		}
		if (v >= 0 && ndig == 4 && v % 100 <= 59) {
			*tz = (v / 100) * 60 + v % 100;
			if (neg)
				*tz = -*tz;
		}
	} else if (s->p < s->end && isalpha_((unsigned char)*s->p)) {
		wlen = word(s, &w);
		*tz = zone_name(w, wlen);
	}
	return 0;
}

int
imapdate_parse_rfc5322(const char *str, size_t len, int64_t *t_r,
    int *tzoff_min_r)
{
	struct dscan s = { str, str + len };
	const char *w;
	size_t wlen;
	int day, year, h = 0, mi = 0, sec = 0, tz = 0;
	unsigned mon, ndig;

	skip_cfws(&s);
	if (s.p < s.end && isalpha_((unsigned char)*s.p)) {
		wlen = word(&s, &w);
		if (!is_dayname(w, wlen))
			return -1;
		skip_cfws(&s);
		if (accept_char(&s, ','))
			skip_cfws(&s);
	}
	if ((day = digits(&s, 2, NULL)) < 1 || day > 31)
		return -1;
	skip_cfws(&s);
	if (accept_char(&s, '-'))
		skip_cfws(&s);
	wlen = word(&s, &w);
	if ((mon = month_of(w, wlen)) == 0)
		return -1;
	skip_cfws(&s);
	if (accept_char(&s, '-'))
		skip_cfws(&s);
	if ((year = digits(&s, 4, &ndig)) < 0 || ndig < 2)
		return -1;
	if (ndig == 2)
		year += year < 50 ? 2000 : 1900;
	else if (ndig == 3)
		year += 1900;
	skip_cfws(&s);

	/* RFC 5256 2.2: a time that cannot be read is midnight, UTC, and
	 * the date stays; a date without a time is midnight too */
	if (s.p < s.end && isdigit_((unsigned char)*s.p) &&
	    time_of_day(&s, &h, &mi, &sec, &tz) == -1)
		h = mi = sec = tz = 0;
	*t_r = make_time(year, mon, (unsigned)day, (unsigned)h, (unsigned)mi,
	    (unsigned)sec, tz);
	*tzoff_min_r = tz;
	return 0;
}

/* "Mon" at s (exactly three letters, any case); 1..12 or 0 */
static unsigned
month3(const char *s)
{
	if (!isalpha_((unsigned char)s[0]) || !isalpha_((unsigned char)s[1]) ||
	    !isalpha_((unsigned char)s[2]))
		return 0;
	return month_of(s, 3);
}

static int
num2(const char *s)
{
	if (!isdigit_((unsigned char)s[0]) || !isdigit_((unsigned char)s[1]))
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* days in month m of year y */
static unsigned
mdays(int64_t y, unsigned m)
{
	static const unsigned char n[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return n[m - 1];
}

/* "d-Mon-yyyy" or "dd-Mon-yyyy" at s; returns the bytes used or -1 */
static int
parse_dmy(const char *s, int64_t *y_r, unsigned *m_r, unsigned *d_r)
{
	const char *p = s;
	int d, y1, y2;
	unsigned m;

	if (p[0] == ' ' && isdigit_((unsigned char)p[1]) && p[2] == '-') {
		d = p[1] - '0';
		p += 2;
	} else if (isdigit_((unsigned char)p[0]) && p[1] == '-') {
		d = p[0] - '0';
		p += 1;
	} else if ((d = num2(p)) >= 0)
		p += 2;
	else
		return -1;
	if (*p++ != '-' || (m = month3(p)) == 0)
		return -1;
	p += 3;
	if (*p++ != '-' || (y1 = num2(p)) < 0 || (y2 = num2(p + 2)) < 0)
		return -1;
	p += 4;
	if (d < 1 || (unsigned)d > mdays(y1 * 100 + y2, m))
		return -1;
	*y_r = y1 * 100 + y2;
	*m_r = m;
	*d_r = (unsigned)d;
	return (int)(p - s);
}

int
imapdate_parse_date(const char *s, int64_t *t_r)
{
	int64_t y;
	unsigned m, d;
	int n;

	/* the space-padded day belongs to date-time only */
	if (s[0] == ' ' || (n = parse_dmy(s, &y, &m, &d)) < 0 || s[n] != '\0')
		return -1;
	*t_r = imapdate_days_from_civil(y, m, d) * 86400;
	return 0;
}

int
imapdate_parse_datetime(const char *s, int64_t *t_r, int *tzoff_r)
{
	int64_t y;
	unsigned m, d;
	int n, h, mi, sec, zh, zm, tz;
	const char *p;

	if ((n = parse_dmy(s, &y, &m, &d)) < 0)
		return -1;
	p = s + n;
	if (p[0] != ' ' || (h = num2(p + 1)) < 0 || p[3] != ':' ||
	    (mi = num2(p + 4)) < 0 || p[6] != ':' || (sec = num2(p + 7)) < 0 ||
	    p[9] != ' ' || (p[10] != '+' && p[10] != '-') ||
	    (zh = num2(p + 11)) < 0 || (zm = num2(p + 13)) < 0 ||
	    p[15] != '\0')
		return -1;
	if (h > 23 || mi > 59 || sec > 60 || zm > 59)
		return -1;
	tz = zh * 60 + zm;
	if (p[10] == '-')
		tz = -tz;
	*t_r = make_time(y, m, d, (unsigned)h, (unsigned)mi, (unsigned)sec, tz);
	*tzoff_r = tz;
	return 0;
}

int
imapdate_ymd(int64_t t, int tzoff_min)
{
	int64_t y;
	unsigned m, d;

	imapdate_civil_from_days(fdiv(t + (int64_t)tzoff_min * 60, 86400),
	    &y, &m, &d);
	if (y < 0)
		y = 0;
	else if (y > 9999)
		y = 9999;
	return (int)(y * 10000 + m * 100 + d);
}

static void
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void
imapdate_format(int64_t t, int tzoff_min, char out[IMAPDATE_LEN])
{
	/* 0000-01-01 00:00:00 and 9999-12-31 23:59:59 local time */
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	int64_t local, days_, secs, y;
	unsigned m, d, az;

	if (tzoff_min > 99 * 60 + 59)
		tzoff_min = 99 * 60 + 59;
	else if (tzoff_min < -(99 * 60 + 59))
		tzoff_min = -(99 * 60 + 59);
	/* clamp before adding, so that no sum can overflow */
	if (t < lo - 86400)
		t = lo - 86400;
	else if (t > hi + 86400)
		t = hi + 86400;
	local = t + (int64_t)tzoff_min * 60;
	if (local < lo)
		local = lo;
	else if (local > hi)
		local = hi;
	days_ = fdiv(local, 86400);
	secs = local - days_ * 86400;
	imapdate_civil_from_days(days_, &y, &m, &d);

	put2(out, d);
	out[2] = '-';
	memcpy(out + 3, months[m - 1], 3);
	out[6] = '-';
	put2(out + 7, (unsigned)(y / 100));
	put2(out + 9, (unsigned)(y % 100));
	out[11] = ' ';
	put2(out + 12, (unsigned)(secs / 3600));
	out[14] = ':';
	put2(out + 15, (unsigned)(secs / 60 % 60));
	out[17] = ':';
	put2(out + 18, (unsigned)(secs % 60));
	out[20] = ' ';
	out[21] = tzoff_min < 0 ? '-' : '+';
	az = (unsigned)(tzoff_min < 0 ? -tzoff_min : tzoff_min);
	put2(out + 22, az / 60);
	put2(out + 24, az % 60);
	out[26] = '\0';
}
