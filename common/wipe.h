/*
 * wipe: zero memory that held a secret in a way the compiler may not elide.
 */
#ifndef COMMON_WIPE_H
#define COMMON_WIPE_H

#include <stddef.h>

void	wipe(void *, size_t);

/* wipe a C string in place, if not NULL */
void	wipe_str(char *);

/* Constant-time comparison of two byte strings of the same length;
 * 0 when equal. */
int	wipe_memcmp(const void *, const void *, size_t);

#endif
