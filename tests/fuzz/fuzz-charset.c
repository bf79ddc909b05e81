/*
 * Fuzz target: common/mail/charset, text in whatever charset a message says it
 * is in, turned into UTF-8 for SEARCH.
 *
 * Input: a charset name, FUZZ_SEP, the text.  Without a separator the
 * whole input is text in a charset picked by its first byte.
 *
 * Properties checked:
 *   - converted whole, and converted in pieces of random sizes (what a
 *     piece ends inside of is handed back with the next one, as the
 *     contract asks), the text gives the same UTF-8;
 *   - the output is valid UTF-8 whatever the input;
 *   - charset_utf8_clean() keeps valid UTF-8 as it is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/mail/charset.h"
#include "tests/fuzz/fuzz.h"

#define OUT_MAX	(16 * 1024 * 1024)

static const char *const names[] = {
	"utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-15", "windows-1252",
	"windows-1251", "koi8-r", "iso-2022-jp", "shift_jis", "euc-jp",
	"gb2312", "big5", "euc-kr", "utf-16", "utf-16le", "utf-7",
	"ks_c_5601-1987", "us-ascii",
};
#define NNAMES	(sizeof(names) / sizeof(names[0]))

static int
valid_utf8(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i = 0;
	unsigned cp;
	int n;

	while (i < len) {
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

/* Convert text in pieces (one piece when rnd is NULL) into out. */
static void
convert(const char *name, const uint8_t *text, size_t len,
    struct fuzz_rnd *rnd, struct buf *out, int clean)
{
	struct charset_conv *c = NULL;
	struct buf pend;
	size_t off = 0, n, used;
	int final;

	if (!clean && (c = charset_get(name)) == NULL)
		return;
	buf_init(&pend, OUT_MAX);
	do {
		n = rnd != NULL ? fuzz_piece(rnd) : len;
		if (n > len - off)
			n = len - off;
		if (buf_add(&pend, text + off, n) == -1)
			fuzz_die("buf");
		off += n;
		final = off == len;
		/* what is handed over is a copy of its exact size */
		{
			char *in = fuzz_dup(pend.data, pend.len);
			int r = clean ? charset_utf8_clean(in, pend.len,
			    final, &used, out) : charset_to_utf8(c, in,
			    pend.len, final, &used, out);

			FUZZ_CHECK(r == 0, "conversion failed");
			free(in);
		}
		FUZZ_CHECK(used <= pend.len, "used %zu of %zu", used,
		    pend.len);
		FUZZ_CHECK(!final || used == pend.len,
		    "the final piece was not all taken (%zu of %zu)", used,
		    pend.len);
		buf_consume(&pend, used);
		FUZZ_CHECK(pend.len < 64, "%zu bytes held back", pend.len);
	} while (!final);
	buf_free(&pend);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_part part[2];
	struct fuzz_rnd rnd;
	struct buf whole, cut;
	char *name;
	size_t n;
	int clean;

	n = fuzz_split(data, len, part, 2);
	if (n == 1) {
		if (len == 0)
			return 0;
		name = strdup(names[data[0] % NNAMES]);
		part[1].p = data + 1;
		part[1].len = len - 1;
	} else
		name = fuzz_strdup(part[0].p, part[0].len);
	if (name == NULL)
		fuzz_die("strdup");
	for (clean = 0; clean < 2; clean++) {
		buf_init(&whole, OUT_MAX);
		buf_init(&cut, OUT_MAX);
		convert(name, part[1].p, part[1].len, NULL, &whole, clean);
		rnd.state = part[1].len * 31 + (uint64_t)strlen(name);
		convert(name, part[1].p, part[1].len, &rnd, &cut, clean);
		FUZZ_CHECK(valid_utf8(whole.data, whole.len), "output not UTF-8 (%s)", name);
		FUZZ_CHECK(whole.len == cut.len && (whole.len == 0 ||
		    memcmp(whole.data, cut.data, whole.len) == 0),
		    "%s: converted in pieces, %zu other bytes than whole "
		    "(%zu)", clean ? "clean" : name, cut.len, whole.len);
		if (clean && valid_utf8(part[1].p, part[1].len))
			FUZZ_CHECK(whole.len == part[1].len &&
			    memcmp(whole.data, part[1].p, whole.len) == 0,
			    "clean changed valid UTF-8");
		buf_free(&whole);
		buf_free(&cut);
	}
	free(name);
	return 0;
}
