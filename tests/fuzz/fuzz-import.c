/*
 * Fuzz target: the import of dovecot-uidlist and courierimapuiddb by
 * maildir/uidcache, files another server wrote into a Maildir that now
 * moves to imapd.
 *
 * Input: one byte (bit 0: the file is courierimapuiddb, else
 * dovecot-uidlist), then the file.  A folder holding only that file is
 * opened and locked, which creates its cache from the file.
 *
 * Properties checked:
 *   - the cache is created (the lock succeeds), and hangs together: UIDs
 *     ascending, below UIDNEXT and 2^31, each base found by by_base();
 *   - when the file's UIDVALIDITY was taken, every base the cache holds
 *     is in the file, and no base or UID twice;
 *   - a message added next gets a UID above all the file's;
 *   - nothing is left locked: a second handle locks at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir/filename.h"
#include "maildir/uidcache-test.h"
#include "maildir/uidcache.h"
#include "tests/fuzz/fuzz.h"

static char dir[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "folder");
	uidcache_test_lock_ms = 200;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct uidcache *c, *c2;
	struct uc_rec r, r2;
	char err[256], *text;
	uint32_t prev = 0, uid, uidnext;
	size_t i, count;

	if (len < 1)
		return 0;
	fuzz_fresh_dir(dir);
	fuzz_put(dir, data[0] & 1 ? "courierimapuiddb" : "dovecot-uidlist",
	    data + 1, len - 1);
	text = fuzz_strdup(data + 1, len - 1);
	if (uidcache_open(dir, &c, err, sizeof(err)) == -1)
		fuzz_die(err);
	FUZZ_CHECK(uidcache_lock(c) == 0, "lock: %s", strerror(errno));
	count = uidcache_count(c);
	uidnext = uidcache_uidnext(c);
	FUZZ_CHECK(uidcache_uidvalidity(c) >= 1 &&
	    uidcache_uidvalidity(c) <= UC_UID_MAX && uidnext <= UC_UID_MAX + 1U,
	    "UIDVALIDITY %u UIDNEXT %u", uidcache_uidvalidity(c), uidnext);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(uidcache_nth(c, i, &r), "nth(%zu)", i);
		FUZZ_CHECK(r.uid > prev && r.uid < uidnext, "UID %u after %u, "
		    "UIDNEXT %u", r.uid, prev, uidnext);
		FUZZ_CHECK(uidcache_by_base(c, r.base, strlen(r.base), &r2) &&
		    r2.uid == r.uid, "base %s", r.base);
		/* the file may hold NULs: the import sees up to the first */
		FUZZ_CHECK(strstr(text, r.base) != NULL,
		    "base %s is not in the file", r.base);
		prev = r.uid;
	}
	uid = uidcache_add(c, "1700000000.M1P1Q1.fuzz", 22, "", 1, 0, 0,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN);
	if (uid != 0) {
		FUZZ_CHECK(uid > prev && uid >= uidnext, "new UID %u, file's up "
		    "to %u", uid, prev);
		FUZZ_CHECK(uidcache_commit(c) == 0, "commit: %s",
		    strerror(errno));
	} else
		FUZZ_CHECK(errno == EEXIST || errno == EOVERFLOW, "add: %s",
		    strerror(errno));
	uidcache_unlock(c);
	if (uidcache_open(dir, &c2, err, sizeof(err)) == -1)
		fuzz_die(err);
	FUZZ_CHECK(uidcache_lock(c2) == 0, "second lock: %s",
	    strerror(errno));
	FUZZ_CHECK(uidcache_count(c2) == count + (uid != 0) &&
	    uidcache_uidvalidity(c2) == uidcache_uidvalidity(c),
	    "reopened: %zu messages, not %zu", uidcache_count(c2),
	    count + (uid != 0));
	uidcache_unlock(c2);
	uidcache_close(c2);
	uidcache_close(c);
	free(text);
	return 0;
}
