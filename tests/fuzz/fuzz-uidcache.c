/*
 * Fuzz target: maildir/uidcache, the UID cache as found on disk (written
 * by another imapd, damaged by a crash, a full disk or a person).
 *
 * Input: one byte of mode, then parts cut at FUZZ_SEP.
 *   mode & 1  raw: the parts are imapd-uidcache.cdb, imapd-uidcache.log,
 *             imapd-uidcache.log.new and imapd-uidvalidity, as they are.
 *   else      structured: the values of the snapshot's records H, T, S,
 *             X and I (made into a cdb here), the journal's 32-byte
 *             header, then the bodies of its commits, each given the
 *             "UCR1" record header.  So that the fuzzer gets past the
 *             checksums, they are set right: the snapshot's (bytes 96
 *             and 124 of H), the journal header's, each commit's; and
 *             the journal header takes H's generation and UIDVALIDITY.
 *             mode & 2 leaves the checksums as given, mode & 4 the
 *             journal header's generation and UIDVALIDITY.
 *   mode & 8  also an imapd-uidvalidity file of "1000\n".
 *
 * The folder is opened by a reader, then locked by a writer (which
 * verifies, repairs or rebuilds), which adds, updates and expunges a
 * message and commits; a new reader and the first one (refreshed) must
 * then see it.  Properties checked:
 *   - what a handle shows hangs together: nth() in UID order, by_uid()
 *     and by_base() find each message nth() gives, counts of unseen,
 *     deleted and recent match a pass over the messages, nothing at or
 *     above UIDNEXT, UIDVALIDITY 1..2^31-1 once locked;
 *   - a UID given by uidcache_add() is above every UID the folder showed
 *     (live or expunged) and below 2^31; an update raises MODSEQ above
 *     HIGHESTMODSEQ; an expunged UID is gone;
 *   - after the commit, a new reader and the refreshed first reader show
 *     exactly the writer's state, with the same UIDVALIDITY.
 */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/le.h"
#include "maildir/filename.h"
#include "maildir/uidcache-test.h"
#include "maildir/uidcache.h"
#include "tests/fuzz/fuzz.h"

#define PARTS_MAX	64
#define SHOWN_MAX	4096

static char dir[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "folder");
	/* a handle waiting on the lock of another in this process */
	uidcache_test_lock_ms = 200;
	return 0;
}

static uint32_t
crc(uint32_t c, const void *p, size_t len)
{
	return (uint32_t)crc32_z(c, p, len);
}

/* ---- writing the files ----------------------------------------------- */

static void
write_structured(int mode, const struct fuzz_part *part, size_t n)
{
	static const char keys[5] = { 'H', 'T', 'S', 'X', 'I' };
	unsigned char h[128], jh[32], rh[12];
	struct cdb_make cm;
	char path[PATH_MAX];
	size_t i;
	uint32_t c;
	int fd;

	memset(h, 0, sizeof(h));
	if (n > 0 && part[0].len == sizeof(h)) {
		memcpy(h, part[0].p, sizeof(h));
		if (!(mode & 2)) {
			c = 0;
			for (i = 1; i < 5 && i < n; i++)
				c = crc(c, part[i].p, part[i].len);
			le32_put(h + 96, c);
			le32_put(h + 124, crc(0, h, 124));
		}
	}
	if ((fd = open(fuzz_path(path, dir, "imapd-uidcache.cdb"),
	    O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    cdb_make_start(&cm, fd) == -1)
		fuzz_die(path);
	for (i = 0; i < 5 && i < n; i++)
		if (cdb_make_add(&cm, &keys[i], 1, i == 0 &&
		    part[0].len == sizeof(h) ? h : part[i].p,
		    (unsigned)part[i].len) == -1)
			fuzz_die("cdb_make_add");
	if (cdb_make_finish(&cm) == -1)
		fuzz_die("cdb_make_finish");
	close(fd);
	if (n <= 5)
		return;

	if ((fd = open(fuzz_path(path, dir, "imapd-uidcache.log"),
	    O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		fuzz_die(path);
	memset(jh, 0, sizeof(jh));
	memcpy(jh, part[5].p, part[5].len < sizeof(jh) ? part[5].len :
	    sizeof(jh));
	if (part[5].len >= sizeof(jh)) {
		if (!(mode & 4)) {
			memcpy(jh + 8, h + 16, 8);	/* generation */
			memcpy(jh + 16, h + 32, 4);	/* UIDVALIDITY */
		}
		if (!(mode & 2))
			le32_put(jh + 28, crc(0, jh, 28));
	}
	if (write(fd, jh, part[5].len < sizeof(jh) ? part[5].len :
	    sizeof(jh)) == -1)
		fuzz_die(path);
	for (i = 6; i < n; i++) {
		memcpy(rh, "UCR1", 4);
		le32_put(rh + 4, (uint32_t)part[i].len);
		le32_put(rh + 8, crc(crc(0, rh + 4, 4), part[i].p, part[i].len));
		if (write(fd, rh, sizeof(rh)) != sizeof(rh) ||
		    write(fd, part[i].p, part[i].len) != (ssize_t)part[i].len)
			fuzz_die(path);
	}
	close(fd);
}

static void
write_raw(const struct fuzz_part *part, size_t n)
{
	static const char *const names[] = { "imapd-uidcache.cdb",
	    "imapd-uidcache.log", "imapd-uidcache.log.new",
	    "imapd-uidvalidity" };
	size_t i;

	for (i = 0; i < n && i < 4; i++)
		fuzz_put(dir, names[i], part[i].p, part[i].len);
}

/* ---- what a handle shows ---------------------------------------------- */

struct shown {
	uint32_t	 uidvalidity, uidnext, maxuid;
	uint64_t	 hms;
	size_t		 count;
	uint32_t	 uid[SHOWN_MAX];
	unsigned	 flags[SHOWN_MAX];
	char		 base[SHOWN_MAX][32];	/* a prefix, to compare */
};

static void
check_handle(struct uidcache *c, struct shown *sh, int locked)
{
	struct uc_rec r, r2;
	uint32_t unseen = 0, deleted = 0, recent = 0, prev = 0;
	size_t i;

	memset(sh, 0, sizeof(*sh));
	sh->uidvalidity = uidcache_uidvalidity(c);
	sh->uidnext = uidcache_uidnext(c);
	sh->hms = uidcache_highestmodseq(c);
	sh->count = uidcache_count(c);
	if (locked)
		FUZZ_CHECK(sh->uidvalidity >= 1 && sh->uidvalidity <=
		    UC_UID_MAX && sh->uidnext >= 1 && sh->uidnext <=
		    UC_UID_MAX + 1U, "UIDVALIDITY %u UIDNEXT %u once locked",
		    sh->uidvalidity, sh->uidnext);
	for (i = 0; i < sh->count; i++) {
		if (!uidcache_nth(c, i, &r)) {
			/* a reader may meet damage the checksum would show */
			FUZZ_CHECK(!locked, "nth(%zu) of %zu failed", i,
			    sh->count);
			continue;
		}
		FUZZ_CHECK(r.base != NULL && r.info != NULL, "no names");
		if (!locked)
			continue;
		FUZZ_CHECK(r.uid > prev && r.uid < sh->uidnext,
		    "UID %u after %u, UIDNEXT %u", r.uid, prev, sh->uidnext);
		FUZZ_CHECK((r.flags & ~MF_ALL) == 0, "flags %#x", r.flags);
		FUZZ_CHECK(uidcache_by_uid(c, r.uid, &r2) && r2.uid == r.uid &&
		    strcmp(r2.base, r.base) == 0, "by_uid(%u)", r.uid);
		FUZZ_CHECK(uidcache_by_base(c, r.base, strlen(r.base), &r2) &&
		    r2.uid == r.uid, "by_base(%s) of UID %u", r.base, r.uid);
		FUZZ_CHECK(uidcache_nth_meta(c, i, &r2) && r2.uid == r.uid &&
		    r2.flags == r.flags, "nth_meta(%zu)", i);
		prev = r.uid;
		unseen += !(r.flags & MF_SEEN);
		deleted += (r.flags & MF_DELETED) != 0;
		recent += r.uid >= uidcache_first_recent(c);
		if (i < SHOWN_MAX) {
			sh->uid[i] = r.uid;
			sh->flags[i] = r.flags;
			snprintf(sh->base[i], sizeof(sh->base[i]), "%s",
			    r.base);
		}
	}
	sh->maxuid = prev;
	if (locked) {
		FUZZ_CHECK(uidcache_count_unseen(c) == unseen &&
		    uidcache_count_deleted(c) == deleted &&
		    uidcache_count_recent(c) == recent,
		    "counts %u/%u/%u, a pass gives %u/%u/%u",
		    uidcache_count_unseen(c), uidcache_count_deleted(c),
		    uidcache_count_recent(c), unseen, deleted, recent);
		FUZZ_CHECK(uidcache_first_recent(c) <= sh->uidnext,
		    "first recent past UIDNEXT");
	}
}

static void
noted(void *arg, uint32_t uid, uint64_t modseq)
{
	uint32_t *max = arg;

	if (uid > *max)
		*max = uid;
}

static void
same_view(const struct shown *a, const struct shown *b, const char *who)
{
	size_t i;

	FUZZ_CHECK(a->uidvalidity == b->uidvalidity && a->uidnext ==
	    b->uidnext && a->hms == b->hms && a->count == b->count,
	    "%s: UIDVALIDITY %u/%u UIDNEXT %u/%u HMS %llu/%llu count "
	    "%zu/%zu", who, a->uidvalidity, b->uidvalidity, a->uidnext,
	    b->uidnext, (unsigned long long)a->hms,
	    (unsigned long long)b->hms, a->count, b->count);
	for (i = 0; i < a->count && i < SHOWN_MAX; i++)
		FUZZ_CHECK(a->uid[i] == b->uid[i] && a->flags[i] ==
		    b->flags[i] && strcmp(a->base[i], b->base[i]) == 0,
		    "%s: message %zu differs", who, i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct shown before, locked, after, writer, refreshed;
	struct fuzz_part part[PARTS_MAX];
	struct uidcache *rd = NULL, *wr = NULL, *rd2 = NULL;
	struct uc_rec r;
	uint32_t *changes;
	char err[256];
	uint32_t uid, xmax = 0, victim = 0, changed = 0;
	uint64_t hms;
	size_t n;
	int mode;

	if (len < 1)
		return 0;
	mode = data[0];
	n = fuzz_split(data + 1, len - 1, part, PARTS_MAX);
	fuzz_fresh_dir(dir);
	if (mode & 1)
		write_raw(part, n);
	else
		write_structured(mode, part, n);
	if (mode & 8)
		fuzz_put(dir, "imapd-uidvalidity", "1000\n", 5);

	if (uidcache_open(dir, &rd, err, sizeof(err)) == -1)
		fuzz_die(err);
	check_handle(rd, &before, 0);
	if (uidcache_changed_since(rd, 0, &changes, &n) == 0)
		free(changes);

	if (uidcache_open(dir, &wr, err, sizeof(err)) == -1)
		fuzz_die(err);
	if (uidcache_lock(wr) == -1) {
		/* no UIDVALIDITY left below 2^31 is the one way to fail */
		FUZZ_CHECK(errno == EOVERFLOW, "lock: %s", strerror(errno));
		goto done;
	}
	check_handle(wr, &locked, 1);
	(void)uidcache_expunged_since(wr, 0, noted, &xmax);
	if (locked.count > 0) {
		victim = locked.uid[0];
		if (locked.count > 1)
			changed = locked.uid[locked.count > SHOWN_MAX ?
			    SHOWN_MAX - 1 : locked.count - 1];
	}
	hms = uidcache_highestmodseq(wr);
	uid = uidcache_add(wr, "1700000000.M1P1Q1.fuzz", 22, ":2,S", 0,
	    MF_SEEN, 1, 1234, 1700000000);
	if (uid == 0) {
		/* every UID used: the one way to fail */
		FUZZ_CHECK(errno == EOVERFLOW || errno == EEXIST,
		    "add: %s", strerror(errno));
	} else
		FUZZ_CHECK(uid > locked.maxuid && uid > xmax &&
		    uid <= UC_UID_MAX && uid >= locked.uidnext,
		    "new UID %u, shown up to %u, expunged up to %u, UIDNEXT "
		    "%u", uid, locked.maxuid, xmax, locked.uidnext);
	if (changed != 0) {
		FUZZ_CHECK(uidcache_by_uid(wr, changed, &r), "lost %u",
		    changed);
		FUZZ_CHECK(uidcache_update(wr, changed, r.flags ^ MF_FLAGGED,
		    r.keywords, "", 1) == 0, "update %u", changed);
		FUZZ_CHECK(uidcache_by_uid(wr, changed, &r) &&
		    r.modseq > hms && uidcache_highestmodseq(wr) == r.modseq,
		    "update of %u: MODSEQ %llu, was up to %llu", changed,
		    (unsigned long long)r.modseq, (unsigned long long)hms);
	}
	if (victim != 0) {
		FUZZ_CHECK(uidcache_expunge(wr, victim) == 0, "expunge %u",
		    victim);
		FUZZ_CHECK(!uidcache_by_uid(wr, victim, &r),
		    "%u still there", victim);
	}
	if (uidcache_commit(wr) == -1)
		FUZZ_CHECK(0, "commit: %s", strerror(errno));
	check_handle(wr, &writer, 1);
	uidcache_unlock(wr);

	if (uidcache_open(dir, &rd2, err, sizeof(err)) == -1)
		fuzz_die(err);
	check_handle(rd2, &after, 1);
	same_view(&writer, &after, "a new reader");
	FUZZ_CHECK(uidcache_refresh(rd) >= 0, "refresh");
	check_handle(rd, &refreshed, 1);
	same_view(&writer, &refreshed, "the first reader, refreshed");
	FUZZ_CHECK(writer.uidvalidity == locked.uidvalidity,
	    "UIDVALIDITY changed by a commit");
done:
	uidcache_close(rd);
	uidcache_close(rd2);
	uidcache_close(wr);
	return 0;
}
