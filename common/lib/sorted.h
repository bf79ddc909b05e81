/*
 * sorted: the one binary search.  Every sorted array the server looks
 * things up in (a view's UIDs, a cache's entries, a sequence set's
 * ranges, a table of code points) goes through sorted_bound(), so there
 * is one loop to get right; the caller says only how an element compares.
 */
#ifndef COMMON_SORTED_H
#define COMMON_SORTED_H

#include <stddef.h>

/*
 * The first index i in [lo, hi) for which before(arg, i) is 0, or hi if
 * there is none.  before must be 1 for a prefix of [lo, hi) and 0 for
 * the rest.  For an array sorted ascending and a key, "element i is less
 * than the key" gives the lower bound: the first element not less than
 * the key, which is the key if it is there (the first of equal ones) and
 * where it would go if not.  lo <= hi; before is called only with
 * lo <= i < hi, and at most log2(hi - lo) + 1 times.
 */
static inline size_t
sorted_bound(size_t lo, size_t hi, int (*before)(const void *arg, size_t i),
    const void *arg)
{
	size_t mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (before(arg, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif
