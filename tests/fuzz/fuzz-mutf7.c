/*
 * Fuzz target: common/imap/mutf7, mailbox names between the wire, the disk and
 * UTF-8.  The input is taken as modified UTF-7 and as UTF-8, both ways.
 *
 * Properties checked:
 *   - decoding succeeds exactly when mutf7_valid() says so, and what it
 *     decodes encodes back to the very same bytes (only the canonical
 *     spelling is valid);
 *   - encoding succeeds exactly for UTF-8 without NUL, as the UTF-8
 *     reader of common/mail/charset judges it (two decoders that must agree);
 *     what it encodes is valid and decodes back to the input;
 *   - utf8_valid() implies that encoding succeeds, and is false for any
 *     control character;
 *   - a failed call leaves the output buffer as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/mutf7.h"
#include "common/lib/buf.h"
#include "common/mail/charset.h"
#include "tests/fuzz/fuzz.h"

#define OUT_MAX		(1024 * 1024)
#define MARK		"prefix/"

/* UTF-8 without NUL, by charset_utf8_seq(); also whether it has a
 * control character. */
static int
utf8_ok(const unsigned char *s, size_t len, int *controls)
{
	size_t i = 0;
	unsigned cp;
	int n;

	*controls = 0;
	while (i < len) {
		if ((n = charset_utf8_seq(s + i, len - i, &cp)) <= 0 ||
		    cp == 0)
			return 0;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			*controls = 1;
		i += (size_t)n;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct buf out, back;
	char *in = fuzz_dup(data, len);
	int r, valid, ok, controls;

	buf_init(&out, OUT_MAX);
	buf_init(&back, OUT_MAX);

	/* as modified UTF-7 */
	valid = mutf7_valid(in, len);
	if (buf_adds(&out, MARK) == -1)
		fuzz_die("buf");
	r = mutf7_decode(in, len, &out);
	FUZZ_CHECK((r == 0) == valid, "decode %d, valid %d", r, valid);
	if (r == 0) {
		FUZZ_CHECK(memcmp(out.data, MARK, strlen(MARK)) == 0,
		    "decode overwrote the buffer");
		FUZZ_CHECK(utf8_ok((unsigned char *)out.data + strlen(MARK),
		    out.len - strlen(MARK), &controls),
		    "decode gave bad UTF-8");
		FUZZ_CHECK(mutf7_encode(out.data + strlen(MARK),
		    out.len - strlen(MARK), &back) == 0,
		    "what decode gave does not encode");
		FUZZ_CHECK(back.len == len && (len == 0 ||
		    memcmp(back.data, in, len) == 0),
		    "decode then encode is not the input: %s", back.data);
	} else
		FUZZ_CHECK(strcmp(buf_cstr(&out), MARK) == 0,
		    "a failed decode changed the buffer");

	/* as UTF-8 */
	buf_reset(&out);
	buf_reset(&back);
	if (buf_adds(&out, MARK) == -1)
		fuzz_die("buf");
	ok = utf8_ok(data, len, &controls);
	r = mutf7_encode(in, len, &out);
	FUZZ_CHECK((r == 0) == ok, "encode %d, UTF-8 without NUL %d", r, ok);
	FUZZ_CHECK(!utf8_valid(in, len) || (ok && !controls),
	    "utf8_valid() takes what is not UTF-8 or has controls");
	if (r == 0) {
		FUZZ_CHECK(mutf7_valid(out.data + strlen(MARK),
		    out.len - strlen(MARK)), "encode wrote invalid mUTF-7: %s",
		    out.data);
		FUZZ_CHECK(mutf7_decode(out.data + strlen(MARK),
		    out.len - strlen(MARK), &back) == 0,
		    "what encode wrote does not decode");
		FUZZ_CHECK(back.len == len && (len == 0 ||
		    memcmp(back.data, in, len) == 0),
		    "encode then decode is not the input");
	} else
		FUZZ_CHECK(strcmp(buf_cstr(&out), MARK) == 0,
		    "a failed encode changed the buffer");
	buf_free(&out);
	buf_free(&back);
	free(in);
	return 0;
}
