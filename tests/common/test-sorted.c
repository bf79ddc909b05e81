/*
 * Unit tests for common/lib/sorted.h: the lower bound over arrays empty, of
 * one element, with runs of duplicates, and keys below, between and
 * above what they hold, checked against a linear scan.
 */
#include <stdint.h>

#include "common/lib/sorted.h"
#include "tests/t.h"

struct key {
	const uint32_t	*v;
	uint32_t	 key;
	size_t		 lo, hi;	/* where before() may look */
};

/* before()'s calls, and those outside [lo, hi), in the last bound() */
static int calls, outside;

static int
before(const void *arg, size_t i)
{
	const struct key *k = arg;

	calls++;
	if (i < k->lo || i >= k->hi)
		outside++;
	return k->v[i] < k->key;
}

/* lower bound of key in v[lo, hi), by sorted_bound(), with its checks */
static size_t
bound(const uint32_t *v, size_t lo, size_t hi, uint32_t key)
{
	struct key k = { v, key, lo, hi };
	size_t r, n = hi - lo;
	int most = 1;

	calls = outside = 0;
	r = sorted_bound(lo, hi, before, &k);
	while (n > 1) {
		n /= 2;
		most++;
	}
	CHECK_INT(outside, 0);
	CHECK_MSG(calls <= most, "%d calls for %zu elements", calls, hi - lo);
	return r;
}

static size_t
linear(const uint32_t *v, size_t lo, size_t hi, uint32_t key)
{
	while (lo < hi && v[lo] < key)
		lo++;
	return lo;
}

static void
test_empty(void)
{
	static const uint32_t v[1] = { 5 };

	CHECK_INT(bound(v, 0, 0, 1), 0);
	CHECK_INT(bound(v, 0, 0, 0), 0);
	/* an empty range inside an array is its own end */
	CHECK_INT(bound(v, 1, 1, 9), 1);
}

static void
test_one(void)
{
	static const uint32_t v[1] = { 5 };

	CHECK_INT(bound(v, 0, 1, 4), 0);	/* below: before it */
	CHECK_INT(bound(v, 0, 1, 5), 0);	/* found */
	CHECK_INT(bound(v, 0, 1, 6), 1);	/* above: past the end */
	CHECK_INT(bound(v, 0, 1, 0), 0);
	CHECK_INT(bound(v, 0, 1, UINT32_MAX), 1);
}

static void
test_duplicates(void)
{
	static const uint32_t v[] = { 1, 3, 3, 3, 3, 7, 7, 9 };
	static const uint32_t same[] = { 4, 4, 4, 4, 4 };

	CHECK_INT(bound(v, 0, 8, 3), 1);	/* the first of the run */
	CHECK_INT(bound(v, 0, 8, 7), 5);
	CHECK_INT(bound(v, 0, 8, 4), 5);	/* between runs */
	CHECK_INT(bound(same, 0, 5, 4), 0);
	CHECK_INT(bound(same, 0, 5, 3), 0);
	CHECK_INT(bound(same, 0, 5, 5), 5);
}

static void
test_ends(void)
{
	static const uint32_t v[] = { 10, 20, 30, 40, 50, 60, 70 };

	CHECK_INT(bound(v, 0, 7, 0), 0);	/* below the first */
	CHECK_INT(bound(v, 0, 7, 9), 0);
	CHECK_INT(bound(v, 0, 7, 10), 0);	/* the first */
	CHECK_INT(bound(v, 0, 7, 70), 6);	/* the last */
	CHECK_INT(bound(v, 0, 7, 71), 7);	/* above the last */
	CHECK_INT(bound(v, 0, 7, UINT32_MAX), 7);
}

static void
test_subrange(void)
{
	static const uint32_t v[] = { 10, 20, 30, 40, 50, 60, 70 };

	/* only [2, 5) is searched, as a caller with a hint does */
	CHECK_INT(bound(v, 2, 5, 10), 2);
	CHECK_INT(bound(v, 2, 5, 40), 3);
	CHECK_INT(bound(v, 2, 5, 45), 4);
	CHECK_INT(bound(v, 2, 5, 70), 5);
}

/* a partition that is not "less than a key": before may be any
 * predicate true on a prefix */
static int
below_split(const void *arg, size_t i)
{
	const size_t *split = arg;

	return i < *split;
}

static void
test_predicate(void)
{
	size_t split, n;

	for (n = 0; n < 40; n++)
		for (split = 0; split <= n; split++)
			CHECK_INT(sorted_bound(0, n, below_split, &split), split);
}

static void
test_random_against_linear(void)
{
	uint32_t v[300];
	size_t n, i, lo, hi, bad = 0;
	uint32_t key;
	int round;

	for (round = 0; round < 2000; round++) {
		n = t_rnd(300);
		v[0] = t_rnd(4);
		for (i = 1; i < n; i++)
			v[i] = v[i - 1] + t_rnd(3);	/* runs of equals */
		lo = n > 0 ? t_rnd((unsigned)n + 1) : 0;
		hi = lo + (n > lo ? t_rnd((unsigned)(n - lo) + 1) : 0);
		key = t_rnd((unsigned)n + 8);
		if (bound(v, lo, hi, key) != linear(v, lo, hi, key))
			bad++;
	}
	CHECK_INT(bad, 0);
}

int
main(void)
{
	T_RUN(test_empty);
	T_RUN(test_one);
	T_RUN(test_duplicates);
	T_RUN(test_ends);
	T_RUN(test_subrange);
	T_RUN(test_predicate);
	T_RUN(test_random_against_linear);
	return t_done();
}
