/*
 * strnum: the one checked number parser.  Nothing else in the tree turns
 * text into numbers.  Every function fails (returns -1, errno EINVAL for
 * junk, ERANGE for a value over the limit) on an empty string, a sign,
 * white space, trailing bytes, or overflow; on failure *r is untouched.
 */
#ifndef COMMON_STRNUM_H
#define COMMON_STRNUM_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits only, value <= max.  The _n form takes a length and does
 * not need a NUL. */
int	strnum_u64(const char *, uint64_t max, uint64_t *r);
int	strnum_u64_n(const char *, size_t len, uint64_t max, uint64_t *r);
int	strnum_uint(const char *, unsigned max, unsigned *r);

/* Decimal digits with an optional leading '-'; min <= value <= max. */
int	strnum_i64(const char *, int64_t min, int64_t max, int64_t *r);

/* A duration: digits followed by an optional unit "ms", "s", "m", "h" or
 * "d" (no unit means seconds), stored as milliseconds <= max_ms. */
int	strnum_duration(const char *, uint64_t max_ms, uint64_t *ms_r);

/* A size: digits followed by an optional unit "k", "M", "G" (KiB, MiB,
 * GiB; "K"/"m"/"g" and a trailing "B" are accepted too), in bytes <= max. */
int	strnum_size(const char *, uint64_t max, uint64_t *r);

/* yes/no, true/false, on/off, 1/0 (case-insensitive) */
int	strnum_bool(const char *, int *r);

#endif
