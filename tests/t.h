/*
 * t.h: the table-driven unit tests' tiny harness.  Each test program
 * includes it, runs its tests with T_RUN(test_name), which they call
 * CHECK()/CHECK_STR()/CHECK_INT() in, and ends with `return t_done();`,
 * which names the tests that failed, prints "N passed, N failed" and
 * exits non-zero on any failure.  The suite runner reads that line.  A
 * failed check prints its file, line and test.
 */
#ifndef TESTS_T_H
#define TESTS_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

/* the test T_RUN() is in, and the names of those that failed (the first
 * T_FAILED_MAX of them) */
#define T_FAILED_MAX	32
static const char *t_name = "main";
static const char *t_failed[T_FAILED_MAX];
static int t_nfailed;

/* Run the test function fn (no arguments), its name on each failure. */
#define T_RUN(fn) do {							\
	t_name = #fn;							\
	fn();								\
	t_name = "main";						\
} while (0)

/* Count a failure against the running test. */
static inline void
t_failed_here(const char *file, int line, const char *cond)
{
	if (t_nfailed == 0 || t_failed[t_nfailed - 1] != t_name) {
		if (t_nfailed < T_FAILED_MAX)
			t_failed[t_nfailed++] = t_name;
	}
	t_fail++;
	fprintf(stderr, "%s:%d: %s: FAILED: %s", file, line, t_name, cond);
}

#define CHECK(cond) do {						\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_failed_here(__FILE__, __LINE__, #cond);		\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_MSG(cond, ...) do {					\
	if (cond)							\
		t_pass++;						\
	else {								\
		t_failed_here(__FILE__, __LINE__, #cond);		\
		fputs(": ", stderr);					\
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
	int i;

	for (i = 0; i < t_nfailed; i++)
		printf("FAILED test: %s\n", t_failed[i]);
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}

#endif
