/*
 * Unit tests for maildir/sortcache: the per-folder store of sort keys.
 * Records written are read back by a later handle; the last of a UID
 * wins; a torn tail, a damaged record or one that is not a sort key
 * record ends what is read and makes the next writer start a new file; a
 * file of another UIDVALIDITY is not believed; records of expunged
 * messages and superseded ones are dropped once they fill half of the
 * file; two writers' appends both survive; and a reader keeps its bytes
 * while another process replaces the file.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/imap/sortkey.h"
#include "common/lib/hash.h"
#include "common/lib/le.h"
#include "common/lib/mapfile.h"
#include "maildir/sortcache.h"
#include "tests/t.h"

#define RECLEN	64

static char dir[] = "/tmp/test-sortcache.XXXXXX";

/* A sort key record for uid, telling its version apart: the sent date
 * holds both, the last string four bytes of the version. */
static void
rec(char r[RECLEN], uint32_t uid, char version)
{
	unsigned char *u = (unsigned char *)r;

	memset(r, 0, RECLEN);
	le64_put(u, (uint64_t)uid << 8 | (unsigned char)version);
	le32_put(u + 28 + 4 * (SORTKEY_NSTR - 1), RECLEN - SORTKEY_HEAD);
	memset(r + SORTKEY_HEAD, version, RECLEN - SORTKEY_HEAD);
}

/* A record whose strings end past its end. */
static void
bad(char r[RECLEN])
{
	rec(r, 4, 'x');
	le32_put((unsigned char *)r + 28, RECLEN);
}

/* Append a whole record, check and all, that is no sort key record, as
 * a writer of another make might. */
static void
bad_record(int fd, uint32_t uid)
{
	unsigned char b[12 + RECLEN];

	bad((char *)b + 12);
	le32_put(b + 4, RECLEN);
	le32_put(b + 8, uid);
	le32_put(b, (uint32_t)hash_bytes(b + 4, 8 + RECLEN));
	CHECK(write(fd, b, sizeof(b)) == (ssize_t)sizeof(b));
}

static int
has(struct sortcache *sc, uint32_t uid, char version)
{
	char want[RECLEN];
	const char *got;
	size_t len;

	rec(want, uid, version);
	return sortcache_get(sc, uid, &got, &len) == 1 && len == RECLEN &&
	    memcmp(got, want, RECLEN) == 0;
}

static void
put(struct sortcache *sc, uint32_t uid, char version)
{
	char r[RECLEN];

	rec(r, uid, version);
	CHECK(sortcache_put(sc, uid, r, RECLEN) == 0);
}

static char *
file(void)
{
	static char p[512];

	if (snprintf(p, sizeof(p), "%s/imapd-sortcache", dir) >=
	    (int)sizeof(p))
		abort();
	return p;
}

static long
file_size(void)
{
	struct stat sb;

	return stat(file(), &sb) == 0 ? (long)sb.st_size : -1;
}

static int
quarter(void *arg, uint32_t uid)
{
	(void)arg;
	return uid % 4 == 0;
}

static void
test_basic(void)
{
	struct sortcache *sc;
	uint32_t uid, bad = 0;
	int down;

	unlink(file());
	sc = sortcache_open(dir, 7);
	CHECK(sc != NULL);
	CHECK(!has(sc, 1, 'a'));
	for (uid = 1; uid <= 1000; uid++)
		put(sc, uid, 'a');
	/* what was put is not read back before it is written */
	CHECK(!has(sc, 1, 'a'));
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);

	sc = sortcache_open(dir, 7);
	for (uid = 1; uid <= 1000; uid++)
		bad += !has(sc, uid, 'a');
	/* descending and scattered lookups too */
	for (down = 1000; down >= 1; down -= 7)
		bad += !has(sc, (uint32_t)down, 'a');
	for (uid = 1; uid <= 1000; uid += 331)
		bad += !has(sc, uid, 'a');
	CHECK_INT(bad, 0);
	CHECK(!has(sc, 1001, 'a'));
	CHECK(!has(sc, 0, 'a'));
	/* a later record of a UID counts, in whatever order UIDs come */
	put(sc, 500, 'b');
	put(sc, 3, 'b');
	put(sc, 2000, 'b');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);

	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 500, 'b') && has(sc, 3, 'b') && has(sc, 2000, 'b'));
	CHECK(has(sc, 499, 'a') && has(sc, 501, 'a') && has(sc, 4, 'a'));
	sortcache_close(sc);

	/* another UIDVALIDITY's file is not believed, and is replaced */
	sc = sortcache_open(dir, 8);
	CHECK(!has(sc, 500, 'b') && !has(sc, 1, 'a'));
	put(sc, 1, 'c');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	sc = sortcache_open(dir, 8);
	CHECK(has(sc, 1, 'c'));
	sortcache_close(sc);
	sc = sortcache_open(dir, 7);
	CHECK(!has(sc, 1, 'c') && !has(sc, 2, 'a'));
	sortcache_close(sc);
}

/* Bytes after the last whole record: records before them are read, and
 * the next writer starts a new file rather than append where no reader
 * would look. */
static void
test_torn(void)
{
	struct sortcache *sc;
	char r[RECLEN];
	int fd;
	long size;

	unlink(file());
	sc = sortcache_open(dir, 7);
	put(sc, 1, 'a');
	put(sc, 2, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	size = file_size();
	fd = open(file(), O_WRONLY | O_APPEND);
	CHECK(fd != -1 && write(fd, "\0\0\0\0\x40\0\0\0torn", 12) == 12);
	close(fd);

	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 1, 'a') && has(sc, 2, 'a'));
	put(sc, 3, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	CHECK_INT(file_size(), size + 12 + RECLEN);
	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 1, 'a') && has(sc, 2, 'a') && has(sc, 3, 'a'));
	sortcache_close(sc);

	/* a damaged record ends what is read */
	fd = open(file(), O_WRONLY);
	CHECK(fd != -1 && pwrite(fd, "X", 1, 16 + 12 + RECLEN + 12 + 1) == 1);
	close(fd);
	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 1, 'a'));
	CHECK(!has(sc, 2, 'a') && !has(sc, 3, 'a'));
	sortcache_close(sc);

	/* what is no sort key record (its strings end past its end) is not
	 * taken; in a file, it ends what is read */
	sc = sortcache_open(dir, 7);
	bad(r);
	CHECK(sortcache_put(sc, 4, r, RECLEN) == -1);
	put(sc, 5, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 1, 'a') && has(sc, 5, 'a') && !has(sc, 4, 'x'));
	sortcache_close(sc);
	fd = open(file(), O_WRONLY | O_APPEND);
	CHECK(fd != -1);
	bad_record(fd, 6);
	close(fd);
	sc = sortcache_open(dir, 7);
	put(sc, 7, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 5, 'a') && !has(sc, 6, 'x') && has(sc, 7, 'a'));
	sortcache_close(sc);

	/* a file that is not ours at all */
	fd = open(file(), O_WRONLY | O_TRUNC);
	CHECK(fd != -1 && write(fd, "not a sort cache, not at all", 28) == 28);
	close(fd);
	sc = sortcache_open(dir, 7);
	CHECK(!has(sc, 1, 'a'));
	put(sc, 9, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	sc = sortcache_open(dir, 7);
	CHECK(has(sc, 9, 'a'));
	sortcache_close(sc);
}

/* Records of expunged messages go once they are most of the file. */
static void
test_dead(void)
{
	struct sortcache *sc;
	uint32_t uid, bad = 0;
	long before;

	unlink(file());
	sc = sortcache_open(dir, 7);
	for (uid = 1; uid <= 8000; uid++)
		put(sc, uid, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	before = file_size();
	CHECK(before > 256 * 1024);

	sc = sortcache_open(dir, 7);
	put(sc, 8001, 'a');
	sortcache_flush(sc, quarter, NULL);
	sortcache_close(sc);
	CHECK(file_size() < before / 2);
	sc = sortcache_open(dir, 7);
	for (uid = 1; uid <= 8000; uid++)
		bad += has(sc, uid, 'a') != (uid % 4 == 0);
	CHECK_INT(bad, 0);
	/* the new record stays, alive or not: it was just computed */
	CHECK(has(sc, 8001, 'a'));
	sortcache_close(sc);
}

/* Records superseded by later ones of their UID (three sessions that
 * sorted a new folder at once) go once they are most of the file. */
static void
test_superseded(void)
{
	struct sortcache *sc;
	uint32_t uid, bad = 0;
	long before;
	int round;

	unlink(file());
	for (round = 0; round < 3; round++) {
		sc = sortcache_open(dir, 7);
		for (uid = 1; uid <= 4000; uid++)
			put(sc, uid, (char)('a' + round));
		sortcache_flush(sc, NULL, NULL);
		sortcache_close(sc);
	}
	before = file_size();
	sc = sortcache_open(dir, 7);
	put(sc, 4001, 'a');
	sortcache_flush(sc, NULL, NULL);
	sortcache_close(sc);
	CHECK(file_size() < before / 2);
	sc = sortcache_open(dir, 7);
	for (uid = 1; uid <= 4000; uid++)
		bad += !has(sc, uid, 'c');
	CHECK_INT(bad, 0);
	CHECK(has(sc, 4001, 'a'));
	sortcache_close(sc);
}

/* Two handles append; a reader keeps its view while the file is
 * replaced under it. */
static void
test_sharing(void)
{
	struct sortcache *a, *b, *r, *w;
	const char *got;
	char want[RECLEN];
	size_t len;

	unlink(file());
	a = sortcache_open(dir, 7);
	b = sortcache_open(dir, 7);
	put(a, 1, 'a');
	put(b, 2, 'b');
	sortcache_flush(a, NULL, NULL);
	sortcache_flush(b, NULL, NULL);
	sortcache_close(a);
	sortcache_close(b);
	r = sortcache_open(dir, 7);
	CHECK(has(r, 1, 'a') && has(r, 2, 'b'));
	CHECK(sortcache_get(r, 2, &got, &len) == 1);

	/* a writer finds the file foreign and writes a new one */
	w = sortcache_open(dir, 9);
	put(w, 5, 'w');
	sortcache_flush(w, NULL, NULL);
	sortcache_close(w);
	rec(want, 2, 'b');
	CHECK(len == RECLEN && memcmp(got, want, RECLEN) == 0);
	sortcache_close(r);
}

int
main(void)
{
	char cmd[600];

	/* IMAPD_TEST_MMAP=no: the same checks with the file read, as on a
	 * network file system (see mapfile.h) */
	if (getenv("IMAPD_TEST_MMAP") != NULL &&
	    strcmp(getenv("IMAPD_TEST_MMAP"), "no") == 0)
		mapfile_set_mode(MAPFILE_NEVER);
	if (mkdtemp(dir) == NULL)
		return 2;
	T_RUN(test_basic);
	T_RUN(test_torn);
	T_RUN(test_dead);
	T_RUN(test_superseded);
	T_RUN(test_sharing);
	if (snprintf(cmd, sizeof(cmd), "rm -rf %s", dir) >= (int)sizeof(cmd) ||
	    system(cmd) != 0)
		return 2;
	return t_done();
}
