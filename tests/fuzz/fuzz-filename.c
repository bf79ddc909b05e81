/*
 * Fuzz target: maildir/filename, the names other programs give message
 * files.  The input is a file name (up to its first NUL).
 *
 * Properties checked:
 *   - a name is refused exactly when it is empty, over MDNAME_MAX bytes
 *     or holds "/";
 *   - the base ends where filename.h says: at the last ":" or ";"
 *     followed by "2," or "1," that is not the first byte;
 *   - the flags are the letters after ":2,": standard ones as MF_* bits,
 *     lower case as keywords, other upper case ones in `other`, once
 *     each;
 *   - the name built again from the base, flags, keywords and other
 *     letters (when it fits) parses to the same base and flags, with the
 *     letters in ASCII order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir/filename.h"
#include "tests/fuzz/fuzz.h"

static const char stdletters[] = "DFPRST";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct mdname m, m2;
	char *name = fuzz_strdup(data, len), out[MDNAME_MAX + 1];
	char letters[64];
	const char *p;
	size_t n = strlen(name), i, want_base;
	unsigned flags = 0;
	uint32_t kw = 0, upper = 0, other = 0;
	int r, info = 0;

	r = mdname_parse(name, &m);
	if (n == 0 || n > MDNAME_MAX || strchr(name, '/') != NULL) {
		FUZZ_CHECK(r == -1, "a name no directory holds was taken");
		free(name);
		return 0;
	}
	FUZZ_CHECK(r == 0, "a good name was refused");

	want_base = n;
	for (i = n - 1; i > 0; i--)
		if ((name[i] == ':' || name[i] == ';') && i + 2 < n &&
		    (name[i + 1] == '1' || name[i + 1] == '2') &&
		    name[i + 2] == ',') {
			want_base = i;
			info = name[i + 1] == '2';
			break;
		}
	FUZZ_CHECK(m.baselen == want_base, "base of %zu bytes, want %zu",
	    m.baselen, want_base);
	FUZZ_CHECK(m.has_info == info, "has_info %d, want %d", m.has_info,
	    info);
	if (info)
		for (p = name + want_base + 3; *p != '\0'; p++) {
			if (*p >= 'a' && *p <= 'z')
				kw |= 1U << (*p - 'a');
			else if (*p >= 'A' && *p <= 'Z' &&
			    strchr(stdletters, *p) != NULL)
				flags |= 1U << (strchr(stdletters, *p) -
				    stdletters);
			else if (*p >= 'A' && *p <= 'Z')
				other |= 1U << (*p - 'A');
		}
	FUZZ_CHECK(m.flags == flags && m.keywords == kw,
	    "flags %#x keywords %#x, want %#x %#x", m.flags, m.keywords,
	    flags, kw);
	for (p = m.other; *p != '\0'; p++) {
		FUZZ_CHECK(*p >= 'A' && *p <= 'Z' &&
		    strchr(stdletters, *p) == NULL, "other holds %c", *p);
		FUZZ_CHECK(!(upper & (1U << (*p - 'A'))), "%c twice", *p);
		upper |= 1U << (*p - 'A');
	}
	FUZZ_CHECK(upper == other, "other letters %#x, want %#x", upper,
	    other);

	mdname_flagstr(letters, sizeof(letters), m.flags, m.keywords, m.other);
	for (i = 1; letters[i - 1] != '\0' && letters[i] != '\0'; i++)
		FUZZ_CHECK(letters[i - 1] < letters[i],
		    "flag letters not in order: %s", letters);

	if (mdname_build(out, sizeof(out), name, m.baselen, m.flags,
	    m.keywords, m.other) == 0) {
		FUZZ_CHECK(m.baselen + 3 + strlen(letters) <= MDNAME_MAX,
		    "built a name that is too long");
		FUZZ_CHECK(memcmp(out, name, m.baselen) == 0 &&
		    strncmp(out + m.baselen, ":2,", 3) == 0 &&
		    strcmp(out + m.baselen + 3, letters) == 0,
		    "built %s from %s", out, name);
		FUZZ_CHECK(mdname_parse(out, &m2) == 0, "built name refused");
		FUZZ_CHECK(m2.baselen == m.baselen && m2.has_info &&
		    m2.flags == m.flags && m2.keywords == m.keywords,
		    "%s parses otherwise than the name it was built from", out);
		upper = 0;
		for (p = m2.other; *p != '\0'; p++)
			upper |= 1U << (*p - 'A');
		FUZZ_CHECK(upper == other, "other letters lost in %s", out);
	} else
		FUZZ_CHECK(m.baselen + 3 + strlen(letters) > MDNAME_MAX,
		    "a name that fits was not built");
	free(name);
	return 0;
}
