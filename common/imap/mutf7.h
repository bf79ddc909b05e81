/*
 * mutf7: modified UTF-7 (RFC 3501 section 5.1.3), the encoding of mailbox
 * names on the wire for IMAP4rev1 clients and on disk in Maildir++ folder
 * names (as Dovecot and Courier store them, so a Maildir moves between
 * servers unchanged).
 */
#ifndef COMMON_MUTF7_H
#define COMMON_MUTF7_H

#include <stddef.h>

#include "common/lib/buf.h"

/* Append the modified UTF-7 form of len bytes of UTF-8.  -1 if the input
 * is not valid UTF-8 (overlong forms, surrogates, values past U+10FFFF,
 * NUL) or out is full; out is then unchanged. */
int	mutf7_encode(const char *utf8, size_t len, struct buf *out);

/* Append the UTF-8 form of len bytes of modified UTF-7.  -1 if the input
 * is not valid modified UTF-7: a byte outside 0x20..0x7e, "&" not closed
 * by "-", bad base64, non-zero padding bits or a needless extra base64
 * character, an encoded run that is empty, holds any printable ASCII
 * character (those must stand for themselves, "&" as "&-") or sits right
 * after another, bad UTF-16 surrogate pairs, NUL.  Only the canonical
 * spelling passes, so two valid inputs never decode to the same UTF-8.
 * out is then unchanged. */
int	mutf7_decode(const char *in, size_t len, struct buf *out);

/* 1 if len bytes are valid modified UTF-7 as above, else 0. */
int	mutf7_valid(const char *in, size_t len);

/* 1 if len bytes are valid UTF-8 (as mutf7_encode wants it) with no NUL,
 * no C0/C1 controls and no DEL. */
int	utf8_valid(const char *in, size_t len);

#endif
