/*
 * buf: the one growable byte buffer with a hard maximum.
 *
 * Every byte that comes from the network, from a message file, or from a
 * configuration file is held in a buf.  Growth is overflow-checked and a buf
 * never grows past the maximum it was created with: going over is an error
 * (errno EMSGSIZE) the caller turns into a protocol answer, never an
 * unbounded realloc.  The data is always followed by a NUL byte that is not
 * counted in len, so text can be handed to C string functions.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;	/* NULL until the first append */
	size_t	 len;	/* bytes in use */
	size_t	 cap;	/* bytes allocated, always > len when data != NULL */
	size_t	 max;	/* len may never exceed this */
	int	 secret;	/* buf_init_secret() */
};

/* Prepare an empty buffer that will refuse to hold more than max bytes. */
void	buf_init(struct buf *, size_t max);

/* The same for a buffer that may hold a secret (a password, the raw
 * bytes of a login): growing it copies into new memory and zeroes the
 * old before giving it back, where realloc() would leave a copy behind,
 * and buf_free() zeroes it as buf_free_secret() does. */
void	buf_init_secret(struct buf *, size_t max);

/* Make room for extra more bytes.  -1 with errno EMSGSIZE past the maximum,
 * ENOMEM when allocation fails; the contents are unchanged on failure. */
int	buf_reserve(struct buf *, size_t extra);

/* Append bytes, a C string, one byte or printf output; 0 or -1 as above.
 * A failed append leaves the buffer as it was.  The bytes may be the
 * buffer's own (buf_add copies them from where they are after growing). */
int	buf_add(struct buf *, const void *, size_t);
int	buf_adds(struct buf *, const char *);
int	buf_addc(struct buf *, int);
int	buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_addvf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

/* Drop the first n bytes (n <= len), keeping the rest. */
void	buf_consume(struct buf *, size_t n);

/* Shorten to n bytes (n <= len). */
void	buf_truncate(struct buf *, size_t n);

/* Empty the buffer but keep its memory; buf_wipe also zeroes it first. */
void	buf_reset(struct buf *);
void	buf_wipe(struct buf *);

/* Release the memory; the buffer may be used again with the same maximum.
 * buf_free_secret zeroes all of the allocation before freeing it. */
void	buf_free(struct buf *);
void	buf_free_secret(struct buf *);

/* The contents as a NUL-terminated string ("" for an empty buffer). */
const char *buf_cstr(const struct buf *);

#endif
