/* Unit tests for common/lib/strnum: the one checked number parser. */
#include <errno.h>
#include <stdint.h>

#include "common/lib/strnum.h"
#include "tests/t.h"

static const struct {
	const char	*in;
	uint64_t	 max;
	int		 ok;
	uint64_t	 want;
} u64_cases[] = {
	{ "0", 10, 1, 0 },
	{ "10", 10, 1, 10 },
	{ "11", 10, 0, 0 },
	{ "007", 10, 1, 7 },
	{ "", 10, 0, 0 },
	{ "-1", 10, 0, 0 },
	{ "+1", 10, 0, 0 },
	{ " 1", 10, 0, 0 },
	{ "1 ", 10, 0, 0 },
	{ "1x", 10, 0, 0 },
	{ "0x10", 100, 0, 0 },
	{ "18446744073709551615", UINT64_MAX, 1, UINT64_MAX },
	{ "18446744073709551616", UINT64_MAX, 0, 0 },
	{ "99999999999999999999999", UINT64_MAX, 0, 0 },
	{ "4294967295", 4294967295u, 1, 4294967295u },
	{ "4294967296", 4294967295u, 0, 0 },
	{ "7", 5, 0, 0 },
	{ "5", 5, 1, 5 },
};

static void
test_u64(void)
{
	size_t i;
	uint64_t v;

	for (i = 0; i < sizeof(u64_cases) / sizeof(u64_cases[0]); i++) {
		v = 12345;
		int r = strnum_u64(u64_cases[i].in, u64_cases[i].max, &v);
		CHECK_MSG((r == 0) == u64_cases[i].ok, "case %zu \"%s\"", i,
		    u64_cases[i].in);
		if (u64_cases[i].ok)
			CHECK_INT(v, u64_cases[i].want);
		else
			CHECK_INT(v, 12345);	/* untouched on failure */
	}
	errno = 0;
	CHECK_INT(strnum_u64("99999999999999999999", UINT64_MAX, &v), -1);
	CHECK_INT(errno, ERANGE);
	errno = 0;
	CHECK_INT(strnum_u64("12a", UINT64_MAX, &v), -1);
	CHECK_INT(errno, EINVAL);
	/* length-limited form reads no further than len */
	CHECK_INT(strnum_u64_n("123}", 3, 1000, &v), 0);
	CHECK_INT(v, 123);
	CHECK_INT(strnum_u64_n("123}", 4, 1000, &v), -1);
	CHECK_INT(strnum_u64_n("5", 0, 1000, &v), -1);
}

static void
test_i64(void)
{
	int64_t v;

	CHECK_INT(strnum_i64("-5", -10, 10, &v), 0);
	CHECK_INT(v, -5);
	CHECK_INT(strnum_i64("-11", -10, 10, &v), -1);
	CHECK_INT(strnum_i64("11", -10, 10, &v), -1);
	CHECK_INT(strnum_i64("-9223372036854775808", INT64_MIN, INT64_MAX,
	    &v), 0);
	CHECK(v == INT64_MIN);
	CHECK_INT(strnum_i64("9223372036854775807", INT64_MIN, INT64_MAX,
	    &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_INT(strnum_i64("9223372036854775808", INT64_MIN, INT64_MAX,
	    &v), -1);
	CHECK_INT(strnum_i64("-", -10, 10, &v), -1);
	CHECK_INT(strnum_i64("--1", -10, 10, &v), -1);
}

static void
test_units(void)
{
	uint64_t v;
	unsigned u;
	int b;

	CHECK_INT(strnum_duration("30", UINT64_MAX, &v), 0);
	CHECK_INT(v, 30000);
	CHECK_INT(strnum_duration("500ms", UINT64_MAX, &v), 0);
	CHECK_INT(v, 500);
	CHECK_INT(strnum_duration("30m", UINT64_MAX, &v), 0);
	CHECK_INT(v, 1800000);
	CHECK_INT(strnum_duration("2h", UINT64_MAX, &v), 0);
	CHECK_INT(v, 7200000);
	CHECK_INT(strnum_duration("1d", UINT64_MAX, &v), 0);
	CHECK_INT(v, 86400000);
	CHECK_INT(strnum_duration("5x", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_duration("s", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_duration("1 s", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_duration("2s", 1000, &v), -1);
	CHECK_INT(strnum_duration("99999999999999999d", UINT64_MAX, &v), -1);

	CHECK_INT(strnum_size("10", UINT64_MAX, &v), 0);
	CHECK_INT(v, 10);
	CHECK_INT(strnum_size("4k", UINT64_MAX, &v), 0);
	CHECK_INT(v, 4096);
	CHECK_INT(strnum_size("50M", UINT64_MAX, &v), 0);
	CHECK_INT(v, 50 * 1024 * 1024);
	CHECK_INT(strnum_size("2GB", UINT64_MAX, &v), 0);
	CHECK_INT(v, 2ULL << 30);
	CHECK_INT(strnum_size("2T", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_size("2kk", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_size("1G", 1000, &v), -1);

	CHECK_INT(strnum_uint("65535", 65535, &u), 0);
	CHECK_INT(u, 65535);
	CHECK_INT(strnum_uint("65536", 65535, &u), -1);

	CHECK_INT(strnum_bool("YES", &b), 0);
	CHECK_INT(b, 1);
	CHECK_INT(strnum_bool("off", &b), 0);
	CHECK_INT(b, 0);
	CHECK_INT(strnum_bool("maybe", &b), -1);
	CHECK_INT(strnum_bool("", &b), -1);
}

int
main(void)
{
	T_RUN(test_u64);
	T_RUN(test_i64);
	T_RUN(test_units);
	return t_done();
}
