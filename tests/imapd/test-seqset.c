/*
 * Unit tests for imapd/seqset: parsing (numbers, "*", ranges either way
 * round, merging), the numbers and sets refused, the limit on ranges,
 * membership at every edge, and writing sets back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "imapd/seqset.h"
#include "tests/t.h"

/* The ranges of a parsed set as "lo-hi lo-hi ...", or "bad". */
static const char *
ranges(const char *s, uint32_t star)
{
	static char out[256];
	struct seqset set;
	size_t i, len = 0;
	int n;

	if (seqset_parse(s, star, &set) == -1)
		return "bad";
	out[0] = '\0';
	for (i = 0; i < set.n; i++) {
		n = snprintf(out + len, sizeof(out) - len, "%s%u-%u",
		    i > 0 ? " " : "", set.r[i].lo, set.r[i].hi);
		if (n < 0 || (size_t)n >= sizeof(out) - len) {
			seqset_free(&set);
			return "too long";
		}
		len += (size_t)n;
	}
	seqset_free(&set);
	return out;
}

static void
test_parse(void)
{
	static const struct {
		const char	*s;
		uint32_t	 star;
		const char	*want;
	} cases[] = {
		{ "1", 10, "1-1" },
		{ "1:5,7,9:*", 20, "1-5 7-7 9-20" },
		{ "*", 20, "20-20" },
		{ "*:*", 20, "20-20" },
		/* a range either way round is the same range */
		{ "5:2", 10, "2-5" },
		{ "*:3", 10, "3-10" },
		{ "12:*", 10, "10-12" },
		/* sorted, overlapping and adjacent ranges merged */
		{ "9,1:3,2:6,8,7", 10, "1-9" },
		{ "10,1,5", 10, "1-1 5-5 10-10" },
		{ "3,3,3", 10, "3-3" },
		{ "1:2,4:5", 10, "1-2 4-5" },
		/* "*" in an empty folder stands for nothing */
		{ "*", 0, "" },
		/* the whole number range, with no overflow at its top */
		{ "4294967295", 10, "4294967295-4294967295" },
		{ "1:4294967295", 10, "1-4294967295" },
		{ "4294967295,4294967294", 10, "4294967294-4294967295" },
		{ "4294967295,1", 10, "1-1 4294967295-4294967295" },
		{ "007", 10, "7-7" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_MSG(strcmp(ranges(cases[i].s, cases[i].star),
		    cases[i].want) == 0, "\"%s\" (* = %u): %s, not %s",
		    cases[i].s, cases[i].star,
		    ranges(cases[i].s, cases[i].star), cases[i].want);
}

static void
test_refused(void)
{
	static const char *const bad[] = {
		"", "0", "1:0", "0:1", "4294967296", "1:4294967296",
		"99999999999999999999", "-1", "+1", "1,", ",1", "1,,2", "1::2",
		":1", "1:", "a", "1 2", " 1", "1 ", "1;2", "**", "1*", "*1",
		"1:2:3", "0x10", "1\r\n",
	};
	struct seqset set;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&set, 0xa5, sizeof(set));
		errno = 0;
		CHECK_MSG(seqset_parse(bad[i], 10, &set) == -1,
		    "\"%s\" accepted", bad[i]);
		/* a refused set is empty and safe to free or test */
		CHECK_MSG(errno == EINVAL && set.r == NULL && set.n == 0 &&
		    set.maxgiven == 0, "\"%s\": errno %d, %zu ranges", bad[i],
		    errno, set.n);
		CHECK(!seqset_contains(&set, 1));
		seqset_free(&set);
	}
}

/* maxgiven: the largest number written out, which "*" is not. */
static void
test_maxgiven(void)
{
	static const struct {
		const char	*s;
		uint32_t	 max;
	} cases[] = {
		{ "1:5,7", 7 }, { "*", 0 }, { "*:3", 3 }, { "9:2,4", 9 },
		{ "4294967295", 4294967295U },
	};
	struct seqset set;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(seqset_parse(cases[i].s, 100, &set) == 0);
		CHECK_MSG(set.maxgiven == cases[i].max, "\"%s\": %u, not %u",
		    cases[i].s, set.maxgiven, cases[i].max);
		seqset_free(&set);
	}
}

static void
test_contains(void)
{
	struct seqset set;
	static const uint32_t in[] = { 2, 3, 4, 7, 10, 11, 4294967295U };
	static const uint32_t out[] = { 0, 1, 5, 6, 8, 9, 12, 4294967294U };
	size_t i;

	CHECK(seqset_parse("2:4,7,10:11,4294967295", 0, &set) == 0);
	CHECK_INT(set.n, 4);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		CHECK_MSG(seqset_contains(&set, in[i]), "%u not in", in[i]);
	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		CHECK_MSG(!seqset_contains(&set, out[i]), "%u in", out[i]);
	seqset_free(&set);

	/* one range costs one range, however many numbers it holds */
	CHECK(seqset_parse("1:4000000000", 0, &set) == 0);
	CHECK_INT(set.n, 1);
	CHECK(seqset_contains(&set, 1) && seqset_contains(&set, 4000000000U));
	CHECK(!seqset_contains(&set, 4000000001U));
	seqset_free(&set);
}

/* A set of n numbers n apart ("1,3,5,..." for step 2): the ranges it
 * holds before merging. */
static char *
many(size_t n, unsigned step)
{
	struct buf b;
	size_t i;

	buf_init(&b, 16 * n + 16);
	for (i = 0; i < n; i++)
		if (buf_addf(&b, "%s%zu", i > 0 ? "," : "",
		    1 + i * step) == -1) {
			buf_free(&b);
			return NULL;
		}
	return b.data;
}

/* A set is refused once it holds more than 100,000 ranges as written
 * (before merging): the bound on what one command can make the server
 * sort and keep. */
static void
test_limit(void)
{
	struct seqset set;
	char *s;

	CHECK((s = many(100000, 2)) != NULL);
	CHECK(seqset_parse(s, 0, &set) == 0);
	CHECK_INT(set.n, 100000);
	CHECK(seqset_contains(&set, 199999) && !seqset_contains(&set, 200000));
	seqset_free(&set);
	free(s);

	CHECK((s = many(100001, 2)) != NULL);
	CHECK(seqset_parse(s, 0, &set) == -1 && errno == EINVAL);
	free(s);

	/* counted as written, even when they would merge into one */
	CHECK((s = many(100001, 1)) != NULL);
	CHECK(seqset_parse(s, 0, &set) == -1);
	free(s);
	CHECK((s = many(100000, 1)) != NULL);
	CHECK(seqset_parse(s, 0, &set) == 0);
	CHECK_INT(set.n, 1);
	seqset_free(&set);
	free(s);
}

static void
test_format(void)
{
	static const uint32_t v[] = { 1, 2, 3, 5, 7, 8, 4294967295U };
	static const struct seqrange r[] = { { 1, 3 }, { 5, 5 }, { 7, 9 } };
	struct buf b;

	buf_init(&b, 64);
	CHECK_INT(seqset_format(v, 7, &b), 20);
	CHECK_STR(buf_cstr(&b), "1:3,5,7:8,4294967295");
	buf_reset(&b);
	CHECK_INT(seqset_format(v, 0, &b), 0);
	CHECK_INT(b.len, 0);
	CHECK_INT(seqset_format_ranges(r, 3, &b), 9);
	CHECK_STR(buf_cstr(&b), "1:3,5,7:9");
	buf_free(&b);

	/* too small a buffer: -1 and nothing of the set left in it */
	buf_init(&b, 8);
	CHECK(buf_add(&b, "x", 1) == 0);
	CHECK_INT(seqset_format(v, 7, &b), -1);
	CHECK_INT(b.len, 1);
	CHECK_INT(seqset_format_ranges(r, 3, &b), -1);
	CHECK_INT(b.len, 1);
	buf_free(&b);
}

int
main(void)
{
	T_RUN(test_parse);
	T_RUN(test_refused);
	T_RUN(test_maxgiven);
	T_RUN(test_contains);
	T_RUN(test_limit);
	T_RUN(test_format);
	return t_done();
}
