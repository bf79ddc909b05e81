/*
 * unicase: the i;unicode-casemap mapping.  See unicase.h.
 */
#include <string.h>

#include "common/lib/buf.h"
#include "common/lib/sorted.h"
#include "common/mail/charset.h"
#include "common/mail/unicase-table.h"
#include "common/mail/unicase.h"

/* Hangul syllables: the arithmetic of the Unicode standard, chapter 3.12 */
#define S_BASE	0xac00U
#define L_BASE	0x1100U
#define V_BASE	0x1161U
#define T_BASE	0x11a7U
#define V_COUNT	21U
#define T_COUNT	28U
#define S_COUNT	11172U

static int
cp_before(const void *arg, size_t i)
{
	return unicase_cp[i] < *(const uint32_t *)arg;
}

static ptrdiff_t
find(uint32_t cp)
{
	size_t i = sorted_bound(0, UNICASE_ENTRIES, cp_before, &cp);

	return i < UNICASE_ENTRIES && unicase_cp[i] == cp ? (ptrdiff_t)i : -1;
}

size_t
unicase_map(uint32_t cp, uint32_t out[UNICASE_MAX])
{
	uint32_t s, at;
	ptrdiff_t k;

	if (cp < 0x80) {
		out[0] = cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
		return 1;
	}
	if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
		s = cp - S_BASE;
		out[0] = L_BASE + s / (V_COUNT * T_COUNT);
		out[1] = V_BASE + (s % (V_COUNT * T_COUNT)) / T_COUNT;
		if (s % T_COUNT == 0)
			return 2;
		out[2] = T_BASE + s % T_COUNT;
		return 3;
	}
	if ((k = find(cp)) < 0) {
		out[0] = cp;
		return 1;
	}
	at = unicase_at[k];
	memcpy(out, unicase_pool + (at >> 5), (at & 31) * sizeof(*out));
	return at & 31;
}

int
unicase_has_ascii(uint32_t cp)
{
	ptrdiff_t k;
	uint32_t at, i;

	if (cp < 0x80)
		return 1;
	if ((k = find(cp)) < 0)
		return 0;
	at = unicase_at[k];
	for (i = 0; i < (at & 31); i++)
		if (unicase_pool[(at >> 5) + i] < 0x80)
			return 1;
	return 0;
}

const char *
unicase_version(void)
{
	return UNICASE_VERSION;
}

int
unicase_fold(const char *s, size_t len, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t m[UNICASE_MAX];
	size_t i = 0, run, k, n;
	unsigned cp;
	int sl;

	while (i < len) {
		/* ASCII, most of any header, goes over a run at a time */
		for (run = i; i < len && u[i] < 0x80; i++)
			;
		if (i > run) {
			if (buf_reserve(out, i - run) == -1)
				return -1;
			for (k = run; k < i; k++)
				out->data[out->len++] = (char)(u[k] >= 'a' &&
				    u[k] <= 'z' ? u[k] - 32 : u[k]);
			out->data[out->len] = '\0';
			continue;
		}
		if ((sl = charset_utf8_seq(u + i, len - i, &cp)) <= 0) {
			sl = 1;
			cp = 0xfffd;
		}
		i += (size_t)sl;
		n = unicase_map(cp, m);
		for (k = 0; k < n; k++)
			if (charset_utf8_put(out, m[k]) == -1)
				return -1;
	}
	return 0;
}
