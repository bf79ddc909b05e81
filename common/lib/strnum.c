/*
 * strnum: checked number parsing.  See strnum.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/lib/strnum.h"

int
strnum_u64_n(const char *s, size_t len, uint64_t max, uint64_t *r)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;

	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			errno = EINVAL;
			return -1;
		}
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10) {
			/* keep scanning so junk after a long number is EINVAL */
			for (i++; i < len; i++)
				if (s[i] < '0' || s[i] > '9') {
					errno = EINVAL;
					return -1;
				}
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + d;
	}
	*r = v;
	return 0;
}

int
strnum_u64(const char *s, uint64_t max, uint64_t *r)
{
	return strnum_u64_n(s, strlen(s), max, r);
}

int
strnum_uint(const char *s, unsigned max, unsigned *r)
{
	uint64_t v;

	if (strnum_u64(s, max, &v) == -1)
		return -1;
	*r = (unsigned)v;
	return 0;
}

int
strnum_i64(const char *s, int64_t min, int64_t max, int64_t *r)
{
	uint64_t v;

	if (s[0] == '-') {
		/* magnitude of min, computed without overflow */
		uint64_t lim = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0;

		if (strnum_u64(s + 1, lim, &v) == -1)
			return -1;
		if (v == 0 && min > 0) {
			errno = ERANGE;
			return -1;
		}
		*r = v == 0 ? 0 : -(int64_t)(v - 1) - 1;
		if (*r < min || *r > max) {
			errno = ERANGE;
			return -1;
		}
		return 0;
	}
	if (max < 0) {
		errno = ERANGE;
		return -1;
	}
	if (strnum_u64(s, (uint64_t)max, &v) == -1)
		return -1;
	if ((int64_t)v < min) {
		errno = ERANGE;
		return -1;
	}
	*r = (int64_t)v;
	return 0;
}

/* Split s into its leading digits and a unit suffix. */
static int
split_unit(const char *s, size_t *ndigits_r, const char **unit_r)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	*ndigits_r = n;
	*unit_r = s + n;
	return 0;
}

static int
scaled(const char *s, size_t n, uint64_t mult, uint64_t max, uint64_t *r)
{
	uint64_t v;

	if (strnum_u64_n(s, n, UINT64_MAX, &v) == -1)
		return -1;
	if (v != 0 && (mult > max || v > max / mult)) {
		errno = ERANGE;
		return -1;
	}
	*r = v * mult;
	return 0;
}

int
strnum_duration(const char *s, uint64_t max_ms, uint64_t *ms_r)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char *unit;
	size_t n, i;

	if (split_unit(s, &n, &unit) == -1)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].unit) == 0)
			return scaled(s, n, units[i].ms, max_ms, ms_r);
	errno = EINVAL;
	return -1;
}

int
strnum_size(const char *s, uint64_t max, uint64_t *r)
{
	const char *unit;
	uint64_t mult;
	size_t n;

	if (split_unit(s, &n, &unit) == -1)
		return -1;
	switch (unit[0]) {
	case '\0':
	case 'B':
	case 'b':
		mult = 1;
		break;
	case 'k':
	case 'K':
		mult = 1024;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (unit[0] != '\0' && unit[1] != '\0' &&
	    !((unit[1] == 'B' || unit[1] == 'b') && unit[2] == '\0' &&
	    mult != 1)) {
		errno = EINVAL;
		return -1;
	}
	return scaled(s, n, mult, max, r);
}

int
strnum_bool(const char *s, int *r)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*r = 0;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}
