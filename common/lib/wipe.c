/*
 * wipe: secrets (passwords, SASL responses) are zeroed as soon as they have
 * been used, with explicit_bzero so the store is not optimized away.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/wipe.h"

void
wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

void
wipe_str(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

/* Not inlined, so that its frame lies below its caller's. */
void __attribute__((noinline))
wipe_stack(void)
{
	char pad[WIPE_STACK_BYTES];
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t from, to;

	explicit_bzero(pad, sizeof(pad));
	/* the array is used, as far as the compiler knows */
	__asm__ __volatile__("" : : "r"(pad) : "memory");
	/* and its whole pages go back to the kernel, which hands out zeroed
	 * ones if the stack grows there again: a session that lives for
	 * days does not keep a deep stack it used once, at login */
	if (pg <= 0)
		return;
	from = ((uintptr_t)pad + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	to = ((uintptr_t)pad + sizeof(pad)) & ~((uintptr_t)pg - 1);
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_DONTNEED);
}

int
wipe_memcmp(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d != 0;
}
