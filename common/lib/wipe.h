/*
 * wipe: zero memory that held a secret in a way the compiler may not elide.
 */
#ifndef COMMON_WIPE_H
#define COMMON_WIPE_H

#include <stddef.h>

void	wipe(void *, size_t);

/* wipe a C string in place, if not NULL */
void	wipe_str(char *);

/* Zero WIPE_STACK_BYTES of the stack below the caller's frame, where the
 * functions it called kept their locals (and where the dynamic linker
 * and signal delivery save registers): call it from the frame that
 * outlives a login, once the login is over.  The zeroed pages are then
 * given back to the kernel (MADV_DONTNEED). */
#define WIPE_STACK_BYTES	(64 * 1024)
void	wipe_stack(void);

/* Constant-time comparison of two byte strings of the same length;
 * 0 when equal. */
int	wipe_memcmp(const void *, const void *, size_t);

#endif
