/*
 * Fuzz target: maildir/maildirsize and common/lib/quotadef, the maildirsize
 * file that delivery agents, other servers and the user (it lives in the
 * user's Maildir) write.  The input is the file's contents; the Maildir
 * around it holds two messages, 1000 bytes in all.
 *
 * Properties checked:
 *   - maildirsize_open() reads any file, and the usage it gives is never
 *     negative (negative totals are recalculated);
 *   - a file of 5120 bytes or more is recalculated: one line, whose
 *     numbers are those of a scan, under the same definition;
 *   - a delta appended to a small file that ends its last line is
 *     counted when the file is read again;
 *   - a definition that parses formats to text that parses to the same
 *     limits.
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/quotadef.h"
#include "maildir/maildirsize.h"
#include "tests/fuzz/fuzz.h"

static char root[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX];

	(void)argc;
	(void)argv;
	fuzz_scratch(root, "Maildir");
	fuzz_fresh_dir(root);
	if (mkdir(fuzz_path(path, root, "cur"), 0700) == -1 ||
	    mkdir(fuzz_path(path, root, "new"), 0700) == -1 ||
	    mkdir(fuzz_path(path, root, "tmp"), 0700) == -1)
		fuzz_die(root);
	fuzz_put(root, "cur/1.a.h,S=600:2,S", "", 0);
	fuzz_put(root, "new/2.b.h,S=400", "", 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct quota_limits l, l2, first;
	struct maildirsize q;
	char def[QUOTADEF_MAX];
	const uint8_t *nl = memchr(data, '\n', len);
	size_t deflen = nl != NULL ? (size_t)(nl - data) : len;
	int64_t bytes, messages;
	int parsed;

	parsed = quotadef_parse((const char *)data, deflen, &first) == 0;
	if (parsed) {
		FUZZ_CHECK(quotadef_format(&first, def, sizeof(def)) == 0,
		    "a parsed definition does not format");
		FUZZ_CHECK(quotadef_parse(def, strlen(def), &l2) == 0 &&
		    l2.bytes == first.bytes && l2.messages == first.messages,
		    "%s parses to other limits", def);
	} else
		memset(&first, 0, sizeof(first));

	fuzz_put(root, "maildirsize", data, len);
	FUZZ_CHECK(maildirsize_open(root, NULL, 0, &q) == 0,
	    "maildirsize_open failed");
	FUZZ_CHECK(q.fd != -1, "no descriptor for an existing file");
	FUZZ_CHECK(q.bytes >= 0 && q.messages >= 0, "usage %lld %lld",
	    (long long)q.bytes, (long long)q.messages);
	l = q.limits;
	FUZZ_CHECK(l.bytes == first.bytes && l.messages == first.messages,
	    "limits other than the first line's");
	if (len >= MAILDIRSIZE_MAX)
		FUZZ_CHECK(q.lines == 1 && q.bytes == 1000 &&
		    q.messages == 2, "a big file was not recalculated");
	bytes = q.bytes;
	messages = q.messages;
	FUZZ_CHECK(maildirsize_add(&q, 10, 1) == 0, "add failed");
	maildirsize_close(&q);
	FUZZ_CHECK(maildirsize_open(root, NULL, 0, &q) == 0,
	    "maildirsize_open failed again");
	/* the same numbers plus the line, where it starts a line of its
	 * own (an unfinished last line, as a writer may leave, swallows
	 * it until the next recalculation) and the file stays small */
	if (len > 0 && data[len - 1] == '\n' && len + 64 < MAILDIRSIZE_MAX)
		FUZZ_CHECK(q.bytes == bytes + 10 && q.messages == messages + 1,
		    "the delta was not counted: %lld, want %lld",
		    (long long)q.bytes, (long long)bytes + 10);
	maildirsize_close(&q);
	return 0;
}
