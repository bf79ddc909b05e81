/*
 * base64: RFC 4648 base64 for SASL exchanges (strict: the whole input must
 * be valid, with correct padding).  MIME bodies use the lenient streaming
 * decoder of the MIME code instead.
 */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stddef.h>

#include "common/lib/buf.h"

/* Append the decoding of in to out; -1 on any invalid input or if out is
 * full. */
int	base64_decode(const char *in, size_t len, struct buf *out);

/* Append the encoding of in to out; -1 if out is full. */
int	base64_encode(const void *in, size_t len, struct buf *out);

/* The 6-bit value of a base64 alphabet byte, or -1 for any other byte
 * (also used by the lenient MIME decoder and by UTF-7 decoding). */
int	base64_value(unsigned char c);

#endif
