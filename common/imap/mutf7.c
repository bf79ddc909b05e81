/*
 * mutf7: modified UTF-7 (RFC 3501 section 5.1.3).  See mutf7.h.
 *
 * The form:  printable US-ASCII (0x20..0x7e) stands for itself, except
 * "&", which is written "&-".  Anything else is a run "&" <base64> "-",
 * where the base64 uses "," instead of "/", has no "=" padding, and
 * encodes the characters as big-endian UTF-16 (supplementary characters
 * as surrogate pairs).  The spare bits at the end of a run are zero.
 *
 * Only the one canonical spelling of a name is accepted, so that two
 * different byte strings never decode to the same name: on disk they
 * would be two folders a client could not tell apart.  That is why a
 * run may not encode printable ASCII, may not follow another run
 * directly (the two would have been one), and may not carry a needless
 * extra base64 character.
 */
#include <stdint.h>
#include <string.h>

#include "common/imap/mutf7.h"
#include "common/mail/charset.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64val(unsigned char c)
{
	const char *p = c != '\0' ? memchr(b64, c, 64) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

static int
printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/*
 * Decode one UTF-8 character at s[*i], advancing *i.  Strict: overlong
 * forms, surrogates, values past U+10FFFF and stray continuation bytes
 * are errors.  NUL decodes (callers decide about it).
 */
static int
utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp_r)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t n, k;
	unsigned char c = s[*i];

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		cp = c & 0x07;
	} else
		return -1;
	if (len - *i <= n)
		return -1;
	for (k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*i += n + 1;
	return 0;
}

int
mutf7_encode(const char *utf8, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t i = 0, start = out->len, k, nunits;
	uint32_t cp, bits, units[2];
	unsigned nbits;

	while (i < len) {
		if (printable(s[i])) {
			if ((s[i] == '&' ? buf_add(out, "&-", 2) :
			    buf_addc(out, s[i])) == -1)
				goto fail;
			i++;
			continue;
		}
		if (buf_addc(out, '&') == -1)
			goto fail;
		bits = 0;
		nbits = 0;
		while (i < len && !printable(s[i])) {
			if (utf8_next(s, len, &i, &cp) == -1 || cp == 0)
				goto fail;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 | cp >> 10;
				units[1] = 0xdc00 | (cp & 0x3ff);
				nunits = 2;
			} else {
				units[0] = cp;
				nunits = 1;
			}
			for (k = 0; k < nunits; k++) {
				/* at most 5 bits wait here, so 21 fit */
				bits = bits << 16 | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					if (buf_addc(out,
					    b64[bits >> nbits & 0x3f]) == -1)
						goto fail;
				}
				bits &= (1U << nbits) - 1;
			}
		}
		if (nbits > 0 &&
		    buf_addc(out, b64[bits << (6 - nbits) & 0x3f]) == -1)
			goto fail;
		if (buf_addc(out, '-') == -1)
			goto fail;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

/*
 * Check (and with out set, decode) modified UTF-7.  The whole input is
 * checked before anything is kept, so a failure leaves out unchanged.
 */
static int
walk(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, start = out != NULL ? out->len : 0;
	size_t after_run = (size_t)-1;	/* index just past the last run */
	uint32_t bits, unit, high;
	unsigned nbits, nunits;
	int v;

	while (i < len) {
		if (!printable(s[i]))
			goto fail;
		if (s[i] != '&') {
			if (out != NULL && buf_addc(out, s[i]) == -1)
				goto fail;
			i++;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '-') {
			if (out != NULL && buf_addc(out, '&') == -1)
				goto fail;
			i += 2;
			continue;
		}
		if (i == after_run)
			goto fail;
		i++;
		bits = 0;
		nbits = 0;
		high = 0;
		nunits = 0;
		for (; i < len && s[i] != '-'; i++) {
			if ((v = b64val(s[i])) < 0)
				goto fail;
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			unit = bits >> nbits & 0xffff;
			bits &= (1U << nbits) - 1;
			nunits++;
			if (high != 0) {
				if (unit < 0xdc00 || unit > 0xdfff)
					goto fail;
				unit = 0x10000 + ((high - 0xd800) << 10) +
				    (unit - 0xdc00);
				high = 0;
			} else if (unit >= 0xd800 && unit <= 0xdbff) {
				high = unit;
				continue;
			} else if (unit >= 0xdc00 && unit <= 0xdfff)
				goto fail;
			else if (unit == 0 || (unit < 0x80 &&
			    printable((unsigned char)unit)))
				goto fail;
			if (out != NULL && charset_utf8_put(out, unit) == -1)
				goto fail;
		}
		/* unclosed, a dangling high surrogate, a whole spare
		 * base64 character, or padding bits that are not zero */
		if (i == len || high != 0 || nunits == 0 || nbits >= 6 ||
		    bits != 0)
			goto fail;
		i++;
		after_run = i;
	}
	return 0;
fail:
	if (out != NULL)
		buf_truncate(out, start);
	return -1;
}

int
mutf7_decode(const char *in, size_t len, struct buf *out)
{
	return walk(in, len, out);
}

int
mutf7_valid(const char *in, size_t len)
{
	return walk(in, len, NULL) == 0;
}

int
utf8_valid(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	uint32_t cp;

	while (i < len) {
		if (utf8_next(s, len, &i, &cp) == -1)
			return 0;
		/* C0 controls (NUL included), DEL, and C1 controls */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
	}
	return 1;
}
