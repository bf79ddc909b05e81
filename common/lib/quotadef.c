/*
 * quotadef: the Maildir++ quota definition.  See quotadef.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/lib/quotadef.h"
#include "common/lib/strnum.h"

int
quotadef_parse(const char *def, size_t len, struct quota_limits *l)
{
	size_t i = 0, start;
	uint64_t n;
	int seen_s = 0, seen_c = 0;

	memset(l, 0, sizeof(*l));
	while (i < len) {
		start = i;
		while (i < len && def[i] >= '0' && def[i] <= '9')
			i++;
		if (i == start || i == len ||
		    strnum_u64_n(def + start, i - start, INT64_MAX, &n) == -1)
			goto bad;
		if (def[i] == 'S' && !seen_s++)
			l->bytes = n;
		else if (def[i] == 'C' && !seen_c++)
			l->messages = n;
		else
			goto bad;
		if (++i < len && (def[i++] != ',' || i == len))
			goto bad;
	}
	return 0;
bad:
	memset(l, 0, sizeof(*l));
	return -1;
}

int
quotadef_format(const struct quota_limits *l, char *out, size_t outlen)
{
	int n;

	if (l->bytes > 0 && l->messages > 0)
		n = snprintf(out, outlen, "%" PRIu64 "S,%" PRIu64 "C",
		    l->bytes, l->messages);
	else if (l->bytes > 0)
		n = snprintf(out, outlen, "%" PRIu64 "S", l->bytes);
	else if (l->messages > 0)
		n = snprintf(out, outlen, "%" PRIu64 "C", l->messages);
	else
		n = snprintf(out, outlen, "%s", "");
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return 0;
}

int
quotadef_any(const struct quota_limits *l)
{
	return l->bytes > 0 || l->messages > 0;
}
