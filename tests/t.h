/*
 * t.h: the table-driven unit tests' tiny harness.  Each test program
 * includes it, calls CHECK()/CHECK_STR()/CHECK_INT() and ends with
 * `return t_done();`, which prints "N passed, N failed" and exits non-zero
 * on any failure.  The suite runner reads that line.
 */
#ifndef TESTS_T_H
#define TESTS_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond) do {						\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
	}								\
} while (0)

#define CHECK_MSG(cond, ...) do {					\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_fail++;						\
		fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_INT(a, b) do {						\
	long long t_a = (long long)(a), t_b = (long long)(b);		\
	CHECK_MSG(t_a == t_b, "%lld != %lld", t_a, t_b);		\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *t_a = (a), *t_b = (b);				\
	CHECK_MSG(t_a != NULL && t_b != NULL && strcmp(t_a, t_b) == 0,	\
	    "\"%s\" != \"%s\"", t_a ? t_a : "(null)",			\
	    t_b ? t_b : "(null)");					\
} while (0)

/* A reproducible stream of pseudo-random numbers below n, for tests that
 * make their input; set t_rnd_state to start another stream. */
static unsigned long t_rnd_state = 1;

static inline unsigned
t_rnd(unsigned n)
{
	t_rnd_state = t_rnd_state * 6364136223846793005UL +
	    1442695040888963407UL;
	return (unsigned)(t_rnd_state >> 33) % n;
}

static inline int
t_done(void)
{
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}

#endif
