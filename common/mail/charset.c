/*
 * charset: conversion to UTF-8.  See charset.h.
 *
 * A few charset names are mapped before iconv sees them, to what mail
 * written with that label really contains: ISO-8859-1 text is very often
 * Windows-1252 (the C1 control range holds quotes and dashes there), and
 * GB2312 and KS C 5601 labels are used for text in their supersets.
 *
 * UTF-7 is decoded here, not by iconv: glibc's decoder keeps a base64
 * run's bits in its state and reports a bad byte at a place that depends
 * on where the input was cut, so text converted in pieces (as SEARCH
 * reads a body) came out other than the same text converted whole.  Ours
 * takes every byte at once and keeps what a run still owes in the
 * converter, so no input is ever handed back.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/mail/base64.h"
#include "common/mail/charset.h"

#define CHARSET_NAME_MAX	64
#define CHARSET_CACHE		8

enum conv_kind { CONV_ICONV, CONV_UTF8, CONV_UTF7 };

struct charset_conv {
	char		 name[CHARSET_NAME_MAX];
	enum conv_kind	 kind;
	iconv_t		 cd;		/* CONV_ICONV only */
	unsigned long	 used;		/* LRU stamp */
	/* CONV_UTF7: inside a base64 run, how many characters of it so
	 * far, its bits not yet part of a UTF-16 unit, a high surrogate
	 * waiting for its low half */
	int		 b64;
	unsigned	 nchars;
	uint32_t	 bits;
	unsigned	 nbits;
	uint32_t	 high;
};

static struct charset_conv cache[CHARSET_CACHE];
static unsigned long stamp;
static struct charset_conv utf8_conv = { .name = "utf-8", .kind = CONV_UTF8 };
static struct charset_conv utf7_conv = { .name = "utf-7", .kind = CONV_UTF7 };

static const char *const utf7_names[] = {
	"utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7",
};

static const char *const utf8_names[] = {
	"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "us",
	"iso646-us", "x-unknown-8bit-but-utf8",
};

static const struct {
	const char	*label;
	const char	*iconv;
} aliases[] = {
	{ "iso-8859-1", "WINDOWS-1252" },
	{ "iso8859-1", "WINDOWS-1252" },
	{ "latin1", "WINDOWS-1252" },
	{ "l1", "WINDOWS-1252" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "euc-kr", "CP949" },
	{ "x-sjis", "SHIFT_JIS" },
};

/* Lower-case name into out without a "*lang" suffix or surrounding
 * blanks; -1 if it is empty, too long or has bytes no charset name has. */
static int
normalize(const char *name, char out[CHARSET_NAME_MAX])
{
	size_t n = 0;

	while (*name == ' ' || *name == '\t')
		name++;
	for (; *name != '\0' && *name != '*'; name++) {
		unsigned char c = (unsigned char)*name;

		if (c == ' ' || c == '\t')
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.:+()", c) != NULL))
			return -1;
		if (n + 1 >= CHARSET_NAME_MAX)
			return -1;
		out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
	return n == 0 ? -1 : 0;
}

int
charset_is_utf8(const char *name)
{
	char n[CHARSET_NAME_MAX];
	size_t i;

	if (normalize(name, n) == -1)
		return 0;
	for (i = 0; i < sizeof(utf8_names) / sizeof(utf8_names[0]); i++)
		if (strcmp(n, utf8_names[i]) == 0)
			return 1;
	return 0;
}

int
charset_ascii_bytes(const char *name)
{
	static const char *const prefixes[] = {
		"iso-8859-", "iso8859-", "iso_8859-", "windows-", "cp",
	};
	static const char *const safe[] = {
		"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "13",
		"14", "15", "16", "1250", "1251", "1252", "1253", "1254",
		"1255", "1256", "1257", "1258",
	};
	char n[CHARSET_NAME_MAX];
	const char *num;
	size_t i, k, plen;

	if (normalize(name, n) == -1)
		return 0;
	if (strcmp(n, "koi8-r") == 0 || strcmp(n, "koi8-u") == 0 ||
	    strcmp(n, "latin1") == 0 || strcmp(n, "l1") == 0)
		return 1;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		plen = strlen(prefixes[i]);
		if (strncmp(n, prefixes[i], plen) != 0)
			continue;
		num = n + plen;
		for (k = 0; k < sizeof(safe) / sizeof(safe[0]); k++)
			/* ISO 8859 numbers are short, Windows ones long */
			if (strcmp(num, safe[k]) == 0 &&
			    (strlen(safe[k]) == 4) == (i >= 3))
				return 1;
	}
	return 0;
}

struct charset_conv *
charset_get(const char *name)
{
	char n[CHARSET_NAME_MAX];
	const char *ic;
	struct charset_conv *c, *victim = &cache[0];
	iconv_t cd;
	size_t i;

	if (charset_is_utf8(name))
		return &utf8_conv;
	if (normalize(name, n) == -1)
		return NULL;
	for (i = 0; i < sizeof(utf7_names) / sizeof(utf7_names[0]); i++)
		if (strcmp(n, utf7_names[i]) == 0) {
			utf7_conv.b64 = 0;
			utf7_conv.high = 0;
			return &utf7_conv;
		}
	for (i = 0; i < CHARSET_CACHE; i++) {
		c = &cache[i];
		if (c->name[0] != '\0' && strcmp(c->name, n) == 0) {
			c->used = ++stamp;
			/* back to the initial shift state */
			iconv(c->cd, NULL, NULL, NULL, NULL);
			return c;
		}
		if (c->name[0] == '\0' || c->used < victim->used)
			victim = c;
	}
	ic = n;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(n, aliases[i].label) == 0)
			ic = aliases[i].iconv;
	if ((cd = iconv_open("UTF-8", ic)) == (iconv_t)-1)
		return NULL;
	if (victim->name[0] != '\0')
		iconv_close(victim->cd);
	memcpy(victim->name, n, sizeof(n));
	victim->kind = CONV_ICONV;
	victim->cd = cd;
	victim->used = ++stamp;
	return victim;
}

int
charset_utf8_seq(const unsigned char *s, size_t len, unsigned *cp_r)
{
	unsigned c = s[0], cp, min;
	int n, i;

	if (c < 0x80) {
		*cp_r = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else
		return -1;
	for (i = 1; i < n; i++) {
		if ((size_t)i >= len)
			return 0;
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
		/* reject overlong forms and surrogates as early as possible,
		 * so that a bad sequence costs one U+FFFD per byte */
		if (i == 1 && ((n == 3 && cp < 0x20) || (n == 4 && cp < 0x10) ||
		    (n == 4 && cp > 0x10f) || (n == 3 && cp >= 0x360 &&
		    cp < 0x380)))
			return -1;
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	return n;
}

int
charset_utf8_put(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, b, n);
}

static const char replacement[] = "\xef\xbf\xbd";

int
charset_utf8_clean(const char *in, size_t len, int final, size_t *used_r,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, run = 0;
	unsigned cp;
	int n;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = charset_utf8_seq(s + i, len - i, &cp);
		if (n > 0) {
			i += (size_t)n;
			continue;
		}
		if (n == 0 && !final)
			break;
		if (buf_add(out, in + run, i - run) == -1 ||
		    buf_add(out, replacement, 3) == -1)
			return -1;
		i++;
		run = i;
	}
	if (buf_add(out, in + run, i - run) == -1)
		return -1;
	*used_r = i;
	return 0;
}

/* Make room for some output: at least 16 bytes, at most want. */
static int
room(struct buf *out, size_t want)
{
	size_t avail = out->max - out->len;

	if (want > avail)
		want = avail;
	if (want < 16) {
		errno = EMSGSIZE;
		return -1;
	}
	return buf_reserve(out, want);
}

/* End c's base64 run: a dangling high surrogate and spare bits that are
 * a whole character or not zero are each one bad character; a "+" that
 * began no run is kept as it is. */
static int
utf7_end_run(struct charset_conv *c, struct buf *out)
{
	int bad = c->high != 0;

	if (c->nbits >= 6 || c->bits != 0)
		bad++;
	c->b64 = 0;
	c->high = 0;
	if (c->nchars == 0 && buf_addc(out, '+') == -1)
		return -1;
	for (; bad > 0; bad--)
		if (buf_add(out, replacement, 3) == -1)
			return -1;
	return 0;
}

/* A UTF-16 unit of a base64 run. */
static int
utf7_unit(struct charset_conv *c, uint32_t u, struct buf *out)
{
	uint32_t high = c->high;

	c->high = 0;
	if (high != 0 && u >= 0xdc00 && u <= 0xdfff)
		return charset_utf8_put(out,
		    0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
	if (high != 0 && buf_add(out, replacement, 3) == -1)
		return -1;
	if (u >= 0xd800 && u <= 0xdbff) {
		c->high = u;
		return 0;
	}
	if (u >= 0xdc00 && u <= 0xdfff)
		return buf_add(out, replacement, 3);
	return charset_utf8_put(out, u);
}

/*
 * UTF-7 (RFC 2152), leniently: any ASCII byte outside a run stands for
 * itself (mail has "~" and backslashes unencoded), a byte above 0x7f is
 * a bad character, "+-" is "+", and a "-" right after a run ends it
 * unseen.
 */
static int
utf7_to_utf8(struct charset_conv *c, const char *in, size_t len, int final,
    size_t *used_r, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i;
	int v;

	for (i = 0; i < len; i++) {
		if (c->b64) {
			if ((v = base64_value(s[i])) >= 0) {
				c->nchars++;
				c->bits = c->bits << 6 | (uint32_t)v;
				c->nbits += 6;
				if (c->nbits < 16)
					continue;
				c->nbits -= 16;
				v = (int)(c->bits >> c->nbits & 0xffff);
				c->bits &= (1U << c->nbits) - 1;
				if (utf7_unit(c, (uint32_t)v, out) == -1)
					return -1;
				continue;
			}
			if (c->nchars == 0 && s[i] == '-') {
				c->b64 = 0;
				if (buf_addc(out, '+') == -1)
					return -1;
				continue;
			}
			if (utf7_end_run(c, out) == -1)
				return -1;
			if (s[i] == '-')
				continue;
		}
		if (s[i] == '+') {
			c->b64 = 1;
			c->nchars = 0;
			c->bits = 0;
			c->nbits = 0;
			continue;
		}
		if ((s[i] < 0x80 ? buf_addc(out, s[i]) :
		    buf_add(out, replacement, 3)) == -1)
			return -1;
	}
	if (final && c->b64 && utf7_end_run(c, out) == -1)
		return -1;
	*used_r = len;
	return 0;
}

int
charset_to_utf8(struct charset_conv *c, const char *in, size_t len,
    int final, size_t *used_r, struct buf *out)
{
	char *ip = (char *)(uintptr_t)in, *op;
	size_t ileft = len, oleft, r;

	if (c->kind == CONV_UTF8)
		return charset_utf8_clean(in, len, final, used_r, out);
	if (c->kind == CONV_UTF7)
		return utf7_to_utf8(c, in, len, final, used_r, out);
	while (ileft > 0) {
		if (room(out, ileft * 3 + 16) == -1)
			return -1;
		op = out->data + out->len;
		oleft = out->cap - out->len - 1;
		r = iconv(c->cd, &ip, &ileft, &op, &oleft);
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* a character cut by the end of the input; stateful
		 * charsets may call a cut escape sequence invalid, so the
		 * last few bytes always wait for more input */
		if (!final && (errno == EINVAL || ileft < 4))
			break;
		if (errno == EINVAL && ileft <= 3 && !(ip[0] & 0x80) &&
		    (ileft < 2 || !(ip[1] & 0x80)) &&
		    (ileft < 3 || !(ip[2] & 0x80))) {
			/* glibc leaves the tail of a final ISO-2022 escape
			 * sequence ("ESC ( B") unread: it writes nothing */
			ip += ileft;
			ileft = 0;
			break;
		}
		/* EILSEQ, or a character cut off at the very end */
		if (buf_add(out, replacement, 3) == -1)
			return -1;
		ip++;
		ileft--;
	}
	if (final && ileft == 0) {
		if (room(out, 32) == -1)
			return -1;
		op = out->data + out->len;
		oleft = out->cap - out->len - 1;
		iconv(c->cd, NULL, NULL, &op, &oleft);
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
	}
	*used_r = len - ileft;
	return 0;
}
