/*
 * charset: text in the charsets mail is written in, turned into UTF-8.
 *
 * Conversion goes through iconv from the C library.  Opening a converter
 * is costly, so the last few are kept open (one per charset name) and
 * handed out again; a converter is valid until the next charset_get() for
 * another charset evicts it, which a caller converting one piece of text
 * at a time never sees.  Bad input never fails a conversion: every byte
 * sequence the charset does not allow becomes U+FFFD.  "us-ascii" and
 * "utf-8" (and their aliases) do not use iconv: their text is taken as
 * UTF-8, since 8-bit bytes in "us-ascii" text are almost always UTF-8.
 * Nor does UTF-7, decoded here so that text converted in pieces gives
 * what it gives converted whole.
 */
#ifndef COMMON_CHARSET_H
#define COMMON_CHARSET_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"

struct charset_conv;

/* The converter from charset name (any case; an RFC 2231 "*language"
 * suffix is ignored) to UTF-8, reset to its initial state; NULL if the
 * charset is not known. */
struct charset_conv *charset_get(const char *name);

/* Nonzero for the names that are UTF-8 here: utf-8, us-ascii and
 * aliases. */
int	charset_is_utf8(const char *name);

/*
 * Nonzero for the single-byte charsets in which every byte below 0x80 is
 * that ASCII character: ISO 8859, Windows-125x and KOI8.  In text of
 * these, an ASCII needle can be looked for in the raw bytes; a byte above
 * 0x7f may still be a letter that holds one (textsearch_bytes() says so).
 */
int	charset_ascii_bytes(const char *name);

/*
 * Convert len bytes of in, appending UTF-8 to out.  *used_r tells how many
 * bytes were taken: all of them, unless in ends inside a character and
 * final is 0, in which case the caller passes the rest again, with more
 * input after it.  With final set an incomplete character at the end
 * becomes U+FFFD.  -1 only when out is full (errno EMSGSIZE) or memory
 * runs out.
 */
int	charset_to_utf8(struct charset_conv *, const char *in, size_t len,
	    int final, size_t *used_r, struct buf *out);

/* The same for text that should be UTF-8: valid sequences are copied,
 * every invalid byte becomes U+FFFD. */
int	charset_utf8_clean(const char *in, size_t len, int final,
	    size_t *used_r, struct buf *out);

/*
 * The length of the UTF-8 sequence starting at s (at most len bytes):
 * 1..4 for a valid one (*cp_r set), 0 if len is too short to tell, -1 for
 * an invalid byte (an overlong form, a surrogate, a value past U+10FFFF).
 */
int	charset_utf8_seq(const unsigned char *s, size_t len,
	    unsigned *cp_r);

/* Append the UTF-8 form of cp, a valid code point (not a surrogate, at
 * most U+10FFFF).  0, or -1 when out is full or memory runs out. */
int	charset_utf8_put(struct buf *out, uint32_t cp);

#endif
