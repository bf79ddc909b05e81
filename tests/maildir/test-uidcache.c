/*
 * Unit tests for maildir/uidcache: the contract of uidcache.h, journals
 * torn at every byte, damaged files, imports from Dovecot and Courier,
 * write errors, the lock timeout and the Maildir-wide UIDVALIDITY
 * floor.  Crashes at every write step, concurrent writers, the random
 * model and 100,000 messages are in test-uidcache-stress.c.
 *
 * The module logs (foreground) through stdio's stderr, which is pointed
 * at a file the tests read; the checks' messages, and sanitizer reports,
 * still go to file descriptor 2.
 */
#include "tests/maildir/uidcache-fixture.h"

/* ---- basics ------------------------------------------------------- */

static void
expunged_cb(void *arg, uint32_t uid, uint64_t modseq)
{
	struct pairs *ps = arg;
	char ms[32];

	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)modseq);
	pairs_add(ps, uid, ms);
}

static void
test_basics(void)
{
	char d[PATH_MAX], big[PATH_MAX], err[64];
	struct uidcache *c, *c2;
	struct uc_rec r;
	struct uc_dirstamp ds = { 111, 222, 333 }, ds2;
	struct pairs x = { 0 };
	uint32_t uv, u;
	uint64_t hms, ms;
	time_t now = time(NULL);

	mkfolder(d, "basics");
	pathf(big, d, "missing");
	CHECK_INT(uidcache_open(big, &c, err, sizeof(err)), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(strstr(err, "missing") != NULL);
	CHECK(c == NULL);
	c = xopen(d);
	CHECK_INT(uidcache_uidvalidity(c), 0);
	CHECK_INT(uidcache_count(c), 0);
	CHECK(!uidcache_nth(c, 0, &r));
	CHECK(!exists(d, CDB));
	/* writers need the lock */
	CHECK_INT(add(c, "x"), 0);
	CHECK_INT(errno, EPERM);
	CHECK_INT(uidcache_commit(c), -1);

	CHECK_INT(uidcache_lock(c), 0);
	uv = uidcache_uidvalidity(c);
	CHECK(uv >= (uint32_t)now && uv <= UC_UID_MAX);
	CHECK(exists(d, CDB) && exists(d, LOG) && exists(d, UIDV) &&
	    exists(d, "imapd-uidcache.lock"));
	CHECK_INT(uidcache_uidnext(c), 1);
	CHECK_INT(uidcache_highestmodseq(c), 1);
	CHECK_INT(uidcache_lock(c), -1);
	CHECK_INT(errno, EDEADLK);

	CHECK_INT(uidcache_add(c, "m1.host", 7, ":2,S", 0, MF_SEEN, 0, 100,
	    1700000000), 1);
	CHECK_INT(uidcache_highestmodseq(c), 2);
	/* only baselen bytes are the base */
	CHECK_INT(uidcache_add(c, "m2.hostXYZ", 7, "", 1, 0, 5,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN), 2);
	CHECK_INT(add(c, "m1.host"), 0);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(add(c, "a/b"), 0);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(uidcache_add(c, "", 0, "", 0, 0, 0, 0, 0), 0);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(uidcache_add(c, "ok", 2, "", 0, 0x40, 0, 0, 0), 0);
	CHECK_INT(errno, EINVAL);
	memset(big, 'b', 256);
	big[256] = '\0';
	CHECK_INT(add(c, big), 0);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(uidcache_add(c, "ok", 2, "x/y", 0, 0, 0, 0, 0), 0);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(uidcache_count(c), 2);
	CHECK_INT(uidcache_uidnext(c), 3);

	CHECK(uidcache_nth(c, 0, &r));
	CHECK_INT(r.uid, 1);
	CHECK_STR(r.base, "m1.host");
	CHECK_STR(r.info, ":2,S");
	CHECK_INT(r.flags, MF_SEEN);
	CHECK_INT(r.vsize, 100);
	CHECK_INT(r.mtime, 1700000000);
	CHECK_INT(r.in_new, 0);
	CHECK_INT(r.modseq, 2);
	CHECK(uidcache_nth(c, 1, &r));
	CHECK_INT(r.uid, 2);
	CHECK_STR(r.base, "m2.host");
	CHECK_STR(r.info, "");
	CHECK_INT(r.in_new, 1);
	CHECK_INT(r.keywords, 5);
	CHECK_INT(r.modseq, 3);
	CHECK(r.vsize == MD_SIZE_UNKNOWN);
	CHECK(r.mtime == UC_MTIME_UNKNOWN);
	CHECK(!uidcache_nth(c, 2, &r));
	CHECK(uidcache_by_uid(c, 2, &r) && strcmp(r.base, "m2.host") == 0);
	CHECK(!uidcache_by_uid(c, 3, &r));
	CHECK(has_base(c, "m2.host", &u) && u == 2);
	CHECK(!has_base(c, "m2", NULL));
	CHECK(!uidcache_by_base(c, "m2.hostX", 8, &r));
	CHECK(uidcache_by_base(c, "m2.hostX", 7, &r) && r.uid == 2);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	CHECK_INT(uidcache_update(c, 1, 0, 0, "", 0), -1);
	CHECK_INT(errno, EPERM);

	/* flags bump MODSEQ, the rest does not */
	CHECK_INT(uidcache_lock(c), 0);
	hms = uidcache_highestmodseq(c);
	CHECK_INT(uidcache_update(c, 1, MF_SEEN | MF_FLAGGED, 0, ":2,FS", 0),
	    0);
	CHECK(uidcache_by_uid(c, 1, &r));
	CHECK_INT(r.modseq, hms + 1);
	CHECK_INT(uidcache_highestmodseq(c), hms + 1);
	CHECK_STR(r.info, ":2,FS");
	CHECK_INT(r.flags, MF_SEEN | MF_FLAGGED);
	CHECK_INT(uidcache_update(c, 1, MF_SEEN | MF_FLAGGED, 0, ":2,FS", 1),
	    0);
	CHECK(uidcache_by_uid(c, 1, &r) && r.in_new == 1 &&
	    r.modseq == hms + 1);
	CHECK_INT(uidcache_update(c, 1, MF_SEEN | MF_FLAGGED, 0, ":2,FS", 1),
	    0);
	CHECK_INT(uidcache_highestmodseq(c), hms + 1);
	CHECK_INT(uidcache_update(c, 1, MF_SEEN | MF_FLAGGED, 2, ":2,FSb", 1),
	    0);
	CHECK(uidcache_by_uid(c, 1, &r) && r.modseq == hms + 2 &&
	    r.keywords == 2);
	CHECK_INT(uidcache_update(c, 99, 0, 0, "", 0), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(uidcache_update(c, 1, 0x80, 0, "", 0), -1);
	CHECK_INT(errno, EINVAL);
	hms = uidcache_highestmodseq(c);
	CHECK_INT(uidcache_set_facts(c, 2, 555, 1600000000), 0);
	CHECK(uidcache_by_uid(c, 2, &r) && r.vsize == 555 &&
	    r.mtime == 1600000000 && r.modseq == 3);
	CHECK_INT(uidcache_highestmodseq(c), hms);
	CHECK_INT(uidcache_set_facts(c, 99, 1, 1), -1);
	CHECK_INT(errno, ENOENT);

	/* expunge: gone, listed with its MODSEQ, its UID never given again */
	CHECK_INT(uidcache_expunge(c, 1), 0);
	ms = uidcache_highestmodseq(c);
	CHECK_INT(ms, hms + 1);
	CHECK_INT(uidcache_count(c), 1);
	CHECK(!uidcache_by_uid(c, 1, &r));
	CHECK(!has_base(c, "m1.host", NULL));
	CHECK(uidcache_nth(c, 0, &r) && r.uid == 2);
	CHECK_INT(uidcache_expunge(c, 1), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(uidcache_expunged_since(c, 0, expunged_cb, &x), 1);
	CHECK_INT(x.n, 1);
	CHECK(x.n == 1 && x.p[0].uid == 1 && strtoull(x.p[0].base, NULL, 10)
	    == ms);
	x.n = 0;
	CHECK_INT(uidcache_expunged_since(c, ms, expunged_cb, &x), 1);
	CHECK_INT(x.n, 0);
	CHECK_INT(add(c, "m1.host"), 3);
	CHECK_INT(uidcache_set_first_recent(c, 3), 0);
	CHECK_INT(uidcache_set_first_recent(c, 2), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(uidcache_set_first_recent(c, 99), -1);
	CHECK_INT(uidcache_set_dirstamp(c, &ds), 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);

	/* a second handle, and a reopen, see all of it */
	c2 = xopen(d);
	CHECK_INT(uidcache_uidvalidity(c2), uv);
	CHECK_INT(uidcache_uidnext(c2), 4);
	CHECK_INT(uidcache_count(c2), 2);
	CHECK_INT(uidcache_highestmodseq(c2), uidcache_highestmodseq(c));
	CHECK_INT(uidcache_first_recent(c2), 3);
	uidcache_dirstamp(c2, &ds2);
	CHECK(ds2.cur_ns == 111 && ds2.new_ns == 222 && ds2.scanned_ns == 333);
	CHECK(uidcache_nth(c2, 0, &r) && r.uid == 2 && r.vsize == 555);
	CHECK(uidcache_nth(c2, 1, &r) && r.uid == 3 &&
	    strcmp(r.base, "m1.host") == 0);
	x.n = 0;
	CHECK_INT(uidcache_expunged_since(c2, 0, expunged_cb, &x), 1);
	CHECK(x.n == 1 && x.p[0].uid == 1);
	uidcache_close(c2);

	/* uncommitted changes are dropped at unlock and at close */
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(add(c, "tmp1"), 4);
	CHECK_INT(uidcache_expunge(c, 2), 0);
	uidcache_unlock(c);
	CHECK_INT(uidcache_count(c), 2);
	CHECK(!has_base(c, "tmp1", NULL));
	CHECK(uidcache_by_uid(c, 2, &r));
	CHECK_INT(uidcache_uidnext(c), 4);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(add(c, "tmp2"), 4);
	uidcache_close(c);
	c = xopen(d);
	CHECK(!has_base(c, "tmp2", NULL));
	CHECK_INT(uidcache_uidnext(c), 4);
	CHECK_INT(uidcache_uidvalidity(c), uv);
	uidcache_close(c);
	free(x.p);
}

/* ---- refresh ------------------------------------------------------ */

static void
test_refresh(void)
{
	char d[PATH_MAX];
	struct uidcache *a, *b;
	struct pairs pa = { 0 }, pb = { 0 };
	uint64_t ch;
	pid_t pid;
	int st, i;

	mkfolder(d, "refresh");
	a = xopen(d);
	b = xopen(d);
	CHECK_INT(uidcache_refresh(b), 0);
	CHECK_INT(uidcache_lock(a), 0);
	CHECK(add(a, "r1") && add(a, "r2") && add(a, "r3"));
	CHECK_INT(uidcache_commit(a), 0);
	uidcache_unlock(a);
	ch = uidcache_changes(b);
	CHECK_INT(uidcache_refresh(b), 1);
	CHECK(uidcache_changes(b) != ch);
	CHECK_INT(uidcache_count(b), 3);
	CHECK_INT(uidcache_uidvalidity(b), uidcache_uidvalidity(a));
	ch = uidcache_changes(b);
	CHECK_INT(uidcache_refresh(b), 0);
	CHECK(uidcache_changes(b) == ch);

	/* a commit is visible before the writer unlocks; pending changes
	 * are not */
	CHECK_INT(uidcache_lock(a), 0);
	CHECK_INT(add(a, "r4"), 4);
	CHECK_INT(uidcache_commit(a), 0);
	CHECK_INT(add(a, "r5"), 5);
	CHECK_INT(uidcache_refresh(b), 1);
	CHECK(has_base(b, "r4", NULL));
	CHECK(!has_base(b, "r5", NULL));
	uidcache_unlock(a);
	CHECK_INT(uidcache_refresh(b), 0);

	/* from another process */
	pid = xfork();
	if (pid == 0) {
		struct uidcache *c = xopen(d);

		if (uidcache_lock(c) == -1 || add(c, "child-1") != 5 ||
		    uidcache_commit(c) == -1)
			_exit(1);
		uidcache_close(c);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	CHECK_INT(uidcache_refresh(b), 1);
	CHECK(has_base(b, "child-1", NULL));
	CHECK_INT(uidcache_refresh(a), 1);

	/* after a compaction */
	uidcache_test_compact_ops = 1;
	CHECK_INT(uidcache_lock(a), 0);
	CHECK(add(a, "r6") && add(a, "r7"));
	CHECK_INT(uidcache_expunge(a, 2), 0);
	CHECK_INT(uidcache_commit(a), 0);
	uidcache_unlock(a);
	uidcache_test_compact_ops = 0;
	CHECK_INT(fsize(d, LOG), 32);
	CHECK_INT(uidcache_refresh(b), 1);
	CHECK_INT(uidcache_count(b), 6);
	pairs_of(&pa, a);
	pairs_of(&pb, b);
	CHECK_INT(pa.n, pb.n);
	for (i = 0; i < (int)pa.n && i < (int)pb.n; i++)
		CHECK(pa.p[i].uid == pb.p[i].uid &&
		    strcmp(pa.p[i].base, pb.p[i].base) == 0);

	/* a child closing an inherited locked handle leaves the parent's
	 * lock and changes alone */
	CHECK_INT(uidcache_lock(a), 0);
	CHECK_INT(add(a, "parent-pending"), 8);
	pid = xfork();
	if (pid == 0) {
		uidcache_close(a);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	pid = xfork();
	if (pid == 0) {
		struct uidcache *c = xopen(d);

		uidcache_test_lock_ms = 100;
		_exit(uidcache_lock(c) == -1 && errno == ETIMEDOUT ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	CHECK_INT(uidcache_commit(a), 0);
	uidcache_unlock(a);
	CHECK_INT(uidcache_refresh(b), 1);
	CHECK(has_base(b, "parent-pending", NULL));

	/* two handles in one process exclude each other (OFD locks) */
	CHECK_INT(uidcache_lock(a), 0);
	uidcache_test_lock_ms = 100;
	CHECK_INT(uidcache_lock(b), -1);
	CHECK_INT(errno, ETIMEDOUT);
	uidcache_unlock(a);
	CHECK_INT(uidcache_lock(b), 0);
	uidcache_unlock(b);
	uidcache_test_lock_ms = 0;
	uidcache_close(a);
	uidcache_close(b);
	free(pa.p);
	free(pb.p);
}

/* ---- compaction --------------------------------------------------- */

static void
test_compaction(void)
{
	char d[PATH_MAX], b[64];
	struct uidcache *c;
	struct pairs x = { 0 };
	struct uc_rec r;
	ino_t ino;
	off_t before;
	int i, k, compacted;

	mkfolder(d, "compaction");
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	ino = finode(d, CDB);
	/* more than 4096 new messages: compacted by the size rule */
	for (i = 1; i <= 5000; i++) {
		snprintf(b, sizeof(b), "msg-%d", i);
		if (add(c, b) != (uint32_t)i)
			break;
	}
	CHECK_INT(i, 5001);
	CHECK_INT(uidcache_commit(c), 0);
	CHECK_INT(fsize(d, LOG), 32);
	CHECK(finode(d, CDB) != ino);
	CHECK(!exists(d, CDB ".new") && !exists(d, LOG ".new"));
	uidcache_unlock(c);
	uidcache_close(c);

	c = xopen(d);
	CHECK_INT(uidcache_count(c), 5000);
	CHECK_INT(uidcache_uidnext(c), 5001);
	CHECK(uidcache_nth(c, 4999, &r) && r.uid == 5000 &&
	    strcmp(r.base, "msg-5000") == 0);
	CHECK(has_base(c, "msg-77", NULL));
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(uidcache_expunge(c, 5000), 0);
	CHECK_INT(uidcache_expunge(c, 1), 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);

	/* force a compaction: the expunged highest UID stays used */
	uidcache_test_compact_ops = 1;
	ino = finode(d, CDB);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(uidcache_update(c, 2, MF_SEEN, 0, ":2,S", 0), 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	uidcache_test_compact_ops = 0;
	CHECK(finode(d, CDB) != ino);
	uidcache_close(c);
	c = xopen(d);
	CHECK_INT(uidcache_uidnext(c), 5001);
	CHECK_INT(uidcache_count(c), 4998);
	CHECK(!uidcache_by_uid(c, 5000, &r));
	CHECK(!uidcache_by_uid(c, 1, &r));
	CHECK(uidcache_nth(c, 0, &r) && r.uid == 2 && r.flags == MF_SEEN);
	CHECK_INT(uidcache_expunged_since(c, 0, expunged_cb, &x), 1);
	CHECK(x.n == 2 && x.p[0].uid == 1 && x.p[1].uid == 5000);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(add(c, "msg-5000"), 5001);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);

	/* many small commits on a few messages: compacted by the journal
	 * byte rule (over 256 KiB and a quarter of the snapshot) */
	compacted = 0;
	for (k = 0; k < 200 && !compacted; k++) {
		CHECK_INT(uidcache_lock(c), 0);
		for (i = 2; i < 102; i++)
			uidcache_update(c, (uint32_t)i, (k & 1) ? MF_SEEN :
			    MF_FLAGGED, 0, (k & 1) ? ":2,S" : ":2,F", 0);
		before = fsize(d, LOG);
		CHECK_INT(uidcache_commit(c), 0);
		uidcache_unlock(c);
		compacted = fsize(d, LOG) < before;
	}
	CHECK(compacted);
	CHECK(before + 4096 > 256 * 1024);
	uidcache_close(c);
	c = xopen(d);
	CHECK(uidcache_by_uid(c, 50, &r) && r.flags == (k & 1 ? MF_FLAGGED :
	    MF_SEEN));
	CHECK_INT(uidcache_count(c), 4999);
	uidcache_close(c);
	free(x.p);
}

/* ---- filling an empty cache at once ------------------------------- */

/* Message i of the fill tests: a base that sorts by i, mixed flags,
 * sizes and places. */
struct fillsrc {
	size_t	 n;
	int	 swap;		/* give 7 and 8 in the wrong order */
	int	 twice;		/* give 9 as 8 again */
	char	 base[80];
};

static unsigned
fill_flags(size_t i)
{
	return (i % 3 ? MF_SEEN : 0) | (i % 7 == 0 ? MF_DELETED : 0) |
	    (i % 5 == 0 ? MF_FLAGGED : 0);
}

static int
fill_cb(void *arg, size_t i, struct uc_new *m)
{
	struct fillsrc *f = arg;
	size_t k = i;

	if (f->swap && (i == 7 || i == 8))
		k = i == 7 ? 8 : 7;
	if (f->twice && i == 9)
		k = 8;
	/* the base is followed by the info, with no NUL between, as in a
	 * listing's names */
	snprintf(f->base, sizeof(f->base), "%010zu.M%zuP7.host,S=%zu:2,%s%s%s",
	    1700000000 + k, k * 3, 100 + k,
	    fill_flags(k) & MF_FLAGGED ? "F" : "",
	    fill_flags(k) & MF_SEEN ? "S" : "",
	    fill_flags(k) & MF_DELETED ? "T" : "");
	m->base = f->base;
	m->baselen = (size_t)(strchr(f->base, ':') - f->base);
	m->info = k % 11 == 0 ? "" : f->base + m->baselen;
	m->flags = k % 11 == 0 ? 0 : fill_flags(k);
	m->keywords = k % 4 == 0 ? 1 : 0;
	m->vsize = k % 2 ? 100 + k : MD_SIZE_UNKNOWN;
	m->in_new = k % 11 == 0;
	return 1;
}

/* Fill folder d with n messages through uidcache_fill (or, with fill 0,
 * uidcache_add one by one and a commit), claiming \Recent. */
static int
fill_folder(const char *d, size_t n, int fill, struct uc_fill *in,
    struct fillsrc *src)
{
	struct uidcache *c = xopen(d);
	struct uc_dirstamp ds = { 111, 222, 333 };
	struct uc_new m;
	size_t i;
	int r = 0;

	memset(src, 0, sizeof(*src));
	src->n = n;
	memset(in, 0, sizeof(*in));
	in->n = n;
	in->namebytes = n * 60;
	in->get = fill_cb;
	in->arg = src;
	in->ds = &ds;
	in->claim = 1;
	CHECK_INT(uidcache_lock(c), 0);
	if (fill)
		r = uidcache_fill(c, in);
	else {
		for (i = 0; i < n; i++) {
			fill_cb(src, i, &m);
			if (uidcache_add(c, m.base, m.baselen, m.info,
			    m.in_new, m.flags, m.keywords, m.vsize,
			    UC_MTIME_UNKNOWN) != (uint32_t)(i + 1))
				break;
		}
		CHECK_INT(i, n);
		CHECK_INT(uidcache_set_dirstamp(c, &ds), 0);
		CHECK_INT(uidcache_set_first_recent(c,
		    uidcache_uidnext(c)), 0);
		CHECK_INT(uidcache_commit(c), 0);
	}
	uidcache_unlock(c);
	uidcache_close(c);
	return r;
}

static void
test_fill(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct uidcache *ca, *cb;
	struct uc_fill in;
	struct fillsrc src;
	struct uc_dirstamp da, db;
	struct uc_rec ra, rb;
	struct uc_new m;
	size_t i, n = 6000, same = 0;
	ino_t ino;

	/* the same state as adding one by one and committing */
	mkfolder(a, "fill-a");
	mkfolder(b, "fill-b");
	CHECK_INT(fill_folder(a, n, 1, &in, &src), 0);
	CHECK_INT(fill_folder(b, n, 0, &in, &src), 0);
	CHECK_INT(fsize(a, LOG), 32);
	ca = xopen(a);
	cb = xopen(b);
	CHECK_INT(uidcache_count(ca), n);
	CHECK_INT(uidcache_uidnext(ca), uidcache_uidnext(cb));
	CHECK(uidcache_highestmodseq(ca) == uidcache_highestmodseq(cb));
	CHECK_INT(uidcache_first_recent(ca), n + 1);
	CHECK_INT(uidcache_count_unseen(ca), uidcache_count_unseen(cb));
	CHECK_INT(uidcache_count_deleted(ca), uidcache_count_deleted(cb));
	CHECK(uidcache_count_unseen(ca) > 0 && uidcache_count_deleted(ca) > 0);
	uidcache_dirstamp(ca, &da);
	uidcache_dirstamp(cb, &db);
	CHECK(da.cur_ns == 111 && da.new_ns == 222 && da.scanned_ns == 333 &&
	    memcmp(&da, &db, sizeof(da)) == 0);
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(ca, i, &ra) || !uidcache_nth(cb, i, &rb))
			break;
		if (ra.uid == rb.uid && ra.uid == i + 1 &&
		    ra.flags == rb.flags && ra.keywords == rb.keywords &&
		    ra.modseq == rb.modseq && ra.vsize == rb.vsize &&
		    ra.mtime == rb.mtime && ra.in_new == rb.in_new &&
		    strcmp(ra.base, rb.base) == 0 &&
		    strcmp(ra.info, rb.info) == 0)
			same++;
	}
	CHECK_INT(same, n);
	/* found by base, as the index of a written snapshot finds them */
	fill_cb(&src, 4321, &m);
	CHECK(uidcache_by_base(ca, m.base, m.baselen, &ra) &&
	    ra.uid == 4322 && strcmp(ra.info, ":2,S") == 0);
	uidcache_close(cb);

	/* a cache holding a message is not filled, nor is one with changes
	 * pending */
	CHECK_INT(uidcache_lock(ca), 0);
	ino = finode(a, CDB);
	CHECK_INT(uidcache_fill(ca, &in), 1);
	uidcache_unlock(ca);
	uidcache_close(ca);
	CHECK(finode(a, CDB) == ino);
	mkfolder(a, "fill-pending");
	ca = xopen(a);
	CHECK_INT(uidcache_lock(ca), 0);
	CHECK_INT(add(ca, "0000000001.first"), 1);
	CHECK_INT(uidcache_fill(ca, &in), 1);
	CHECK_INT(uidcache_count(ca), 1);
	uidcache_unlock(ca);
	/* not locked */
	errno = 0;
	CHECK_INT(uidcache_fill(ca, &in), -1);
	CHECK_INT(errno, EPERM);
	uidcache_close(ca);

	/* too few to be worth a snapshot: left to uidcache_add */
	mkfolder(a, "fill-few");
	CHECK_INT(fill_folder(a, 50, 1, &in, &src), 1);
	ca = xopen(a);
	CHECK_INT(uidcache_count(ca), 0);
	uidcache_close(ca);

	/* out of order, or a base twice: refused, nothing changed */
	mkfolder(a, "fill-order");
	ca = xopen(a);
	CHECK_INT(uidcache_lock(ca), 0);
	ino = finode(a, CDB);
	memset(&src, 0, sizeof(src));
	src.swap = 1;
	in.n = n;
	in.namebytes = n * 60;
	in.arg = &src;
	in.ds = NULL;
	CHECK_INT(uidcache_fill(ca, &in), 1);
	CHECK_INT(uidcache_count(ca), 0);
	CHECK_INT(uidcache_uidnext(ca), 1);
	src.swap = 0;
	src.twice = 1;
	CHECK_INT(uidcache_fill(ca, &in), 1);
	CHECK_INT(uidcache_count(ca), 0);
	CHECK(finode(a, CDB) == ino);
	CHECK(!exists(a, CDB ".new") && !exists(a, LOG ".new"));
	/* and then it works */
	src.twice = 0;
	in.claim = 0;
	CHECK_INT(uidcache_fill(ca, &in), 0);
	CHECK_INT(uidcache_count(ca), n);
	CHECK_INT(uidcache_first_recent(ca), 1);
	uidcache_unlock(ca);
	uidcache_close(ca);
}

/* ---- counters ------------------------------------------------------ */

/* Set bytes 100..111 of the snapshot's header (the counts and their
 * bit), keeping its checksum right. */
static void
set_header_counts(const char *d, uint32_t unseen, uint32_t deleted,
    uint32_t bits)
{
	unsigned char h[128];
	char p[PATH_MAX];
	int fd;

	pathf(p, d, CDB);
	/* "H" is the first record: its value follows 8 + 1 bytes */
	if ((fd = open(p, O_RDWR)) == -1 || pread(fd, h, 128, 2048 + 9) != 128)
		die(p);
	put32le(h + 100, unseen);
	put32le(h + 104, deleted);
	put32le(h + 108, bits);
	put32le(h + 124, (uint32_t)crc32(0, h, 124));
	if (pwrite(fd, h, 128, 2048 + 9) != 128)
		die(p);
	close(fd);
}

static uint32_t
header_u32(const char *d, off_t off)
{
	unsigned char v[4];
	char p[PATH_MAX];
	int fd;

	pathf(p, d, CDB);
	if ((fd = open(p, O_RDONLY)) == -1 || pread(fd, v, 4, 2048 + 9 + off)
	    != 4)
		die(p);
	close(fd);
	return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
	    (uint32_t)v[3] << 24;
}

static void
test_counts(void)
{
	static const unsigned fl[4] = { 0, MF_SEEN, MF_DELETED,
	    MF_SEEN | MF_DELETED | MF_FLAGGED };
	char d[PATH_MAX], b[32];
	struct uidcache *c, *rd;
	ino_t ino;
	off_t mark;
	uint32_t u;
	int i;

	mkfolder(d, "counts");
	c = xopen(d);
	rd = xopen(d);
	CHECK(uidcache_count_unseen(c) == 0 && uidcache_count_deleted(c) == 0 &&
	    uidcache_count_recent(c) == 0);
	CHECK_INT(uidcache_lock(c), 0);
	/* 40 messages: 20 without \Seen, 20 with \Deleted */
	for (i = 0; i < 40; i++) {
		snprintf(b, sizeof(b), "c-%d", i);
		CHECK(uidcache_add(c, b, strlen(b), ":2,", 0, fl[i % 4], 0,
		    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN) == (uint32_t)i + 1);
	}
	/* pending changes count at once, for the writer */
	CHECK_INT(uidcache_count_unseen(c), 20);
	CHECK_INT(uidcache_count_deleted(c), 20);
	CHECK_INT(uidcache_count_recent(c), 40);
	CHECK(counts_exact(c));
	CHECK_INT(uidcache_commit(c), 0);
	CHECK_INT(fsize(d, LOG) > 32, 1);
	/* another handle replays the journal */
	CHECK_INT(uidcache_refresh(rd), 1);
	CHECK(uidcache_count_unseen(rd) == 20 &&
	    uidcache_count_deleted(rd) == 20 && counts_exact(rd));
	/* updates move messages between the counts; the same flags do not */
	CHECK_INT(uidcache_update(c, 1, MF_SEEN, 0, ":2,S", 0), 0);
	CHECK_INT(uidcache_update(c, 2, MF_SEEN, 0, ":2,S", 1), 0);
	CHECK_INT(uidcache_update(c, 3, MF_SEEN | MF_DELETED, 0, ":2,ST", 0),
	    0);
	CHECK_INT(uidcache_count_unseen(c), 18);
	CHECK_INT(uidcache_count_deleted(c), 20);
	CHECK_INT(uidcache_set_first_recent(c, 31), 0);
	CHECK_INT(uidcache_count_recent(c), 10);
	CHECK_INT(uidcache_expunge(c, 3), 0);	/* seen, deleted */
	CHECK_INT(uidcache_expunge(c, 36), 0);	/* seen, deleted, recent */
	CHECK_INT(uidcache_count_unseen(c), 18);
	CHECK_INT(uidcache_count_deleted(c), 18);
	CHECK_INT(uidcache_count_recent(c), 9);
	CHECK(counts_exact(c));
	/* into a snapshot, whose header has the counts */
	uidcache_test_compact_ops = 1;
	ino = finode(d, CDB);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_test_compact_ops = 0;
	CHECK(finode(d, CDB) != ino && fsize(d, LOG) == 32);
	CHECK_INT(header_u32(d, 100), 18);
	CHECK_INT(header_u32(d, 104), 18);
	CHECK_INT(header_u32(d, 108), 1);
	CHECK(counts_exact(c));
	/* journal changes over the snapshot: expunges on both sides of
	 * the first \Recent UID, adds, flag changes */
	CHECK_INT(uidcache_expunge(c, 5), 0);
	CHECK_INT(uidcache_expunge(c, 37), 0);
	CHECK_INT(add(c, "c-new"), 41);
	CHECK_INT(uidcache_update(c, 41, MF_DELETED, 0, ":2,T", 0), 0);
	CHECK_INT(uidcache_update(c, 4, 0, 0, ":2,", 0), 0);
	CHECK_INT(uidcache_commit(c), 0);
	CHECK(fsize(d, LOG) > 32);
	uidcache_unlock(c);
	CHECK(counts_exact(c));
	CHECK_INT(uidcache_count_recent(c), 9);
	CHECK_INT(uidcache_refresh(rd), 1);
	CHECK(counts_exact(rd));
	CHECK(uidcache_count_unseen(rd) == uidcache_count_unseen(c) &&
	    uidcache_count_deleted(rd) == uidcache_count_deleted(c) &&
	    uidcache_count_recent(rd) == uidcache_count_recent(c));
	uidcache_close(rd);
	u = uidcache_count_unseen(c);
	uidcache_close(c);
	c = xopen(d);
	CHECK(counts_exact(c) && uidcache_count_unseen(c) == u);
	uidcache_close(c);

	/* a snapshot written before the header had counts: zeros there, so
	 * readers count its table when they load it */
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_test_compact_ops = 1;
	CHECK_INT(add(c, "c-compact"), 42);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_test_compact_ops = 0;
	uidcache_unlock(c);
	u = uidcache_count_unseen(c);
	uidcache_close(c);
	set_header_counts(d, 0, 0, 0);
	c = xopen(d);
	CHECK(counts_exact(c) && uidcache_count_unseen(c) == u && u > 0);
	mark = log_mark();
	CHECK_INT(uidcache_lock(c), 0);
	CHECK(counts_exact(c));
	uidcache_unlock(c);
	CHECK_INT(logged(mark, "header counts"), 0);
	/* ... and the next commit writes a snapshot with them */
	ino = finode(d, CDB);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(uidcache_update(c, 1, 0, 0, ":2,", 0), 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	CHECK(finode(d, CDB) != ino && fsize(d, LOG) == 32);
	CHECK_INT(header_u32(d, 100), u + 1);
	CHECK_INT(header_u32(d, 108), 1);
	u++;
	uidcache_close(c);

	/* wrong counts under a good checksum: a writer logs them, uses the
	 * table's, and its next commit writes a snapshot */
	set_header_counts(d, 1, 2, 1);
	c = xopen(d);
	ino = finode(d, CDB);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK(counts_exact(c) && uidcache_count_unseen(c) == u);
	CHECK_INT(logged(mark, "header counts"), 1);
	CHECK_INT(add(c, "c-fix"), 43);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	CHECK(finode(d, CDB) != ino && fsize(d, LOG) == 32);
	CHECK(counts_exact(c));
	uidcache_close(c);
	c = xopen(d);
	CHECK(counts_exact(c) && uidcache_count_unseen(c) == u + 1);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_unlock(c);
	CHECK_INT(logged(mark, "header counts"), 1);
	uidcache_close(c);
}

/* ---- torn journal ------------------------------------------------- */

static void
test_torn(void)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct uidcache *c;
	char *full;
	size_t len;
	off_t s0, cut, mark;
	uint32_t uv, next0;
	size_t count0;
	int bad = 0, cuts = 0;

	mkfolder(d, "torn");
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	add(c, "t1");
	add(c, "t2");
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_update(c, 1, MF_SEEN, 0, ":2,S", 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	uv = uidcache_uidvalidity(c);
	next0 = uidcache_uidnext(c);
	count0 = uidcache_count(c);
	s0 = fsize(d, LOG);
	/* the last commit: two adds and an expunge */
	CHECK_INT(uidcache_lock(c), 0);
	add(c, "t3");
	add(c, "t4");
	uidcache_expunge(c, 2);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	uidcache_close(c);
	pathf(p, d, LOG);
	full = slurp(p, &len);
	CHECK(full != NULL && (off_t)len > s0);
	mark = log_mark();
	for (cut = s0; full != NULL && cut < (off_t)len; cut++) {
		struct uc_rec r;

		spit(p, full, (size_t)cut);
		c = xopen(d);
		if (uidcache_uidvalidity(c) != uv ||
		    uidcache_count(c) != count0 ||
		    uidcache_uidnext(c) != next0 || has_base(c, "t3", NULL) ||
		    !uidcache_by_uid(c, 2, &r) ||
		    !uidcache_by_uid(c, 1, &r) || r.flags != MF_SEEN)
			bad++;
		/* a writer cuts the tail off and goes on */
		if (uidcache_lock(c) == -1 || uidcache_uidvalidity(c) != uv ||
		    add(c, "t5") != next0 || uidcache_commit(c) == -1)
			bad++;
		uidcache_unlock(c);
		uidcache_close(c);
		c = xopen(d);
		if (!has_base(c, "t5", NULL) || has_base(c, "t3", NULL) ||
		    uidcache_uidvalidity(c) != uv)
			bad++;
		uidcache_close(c);
		cuts++;
	}
	CHECK_MSG(bad == 0, "%d bad of %d cuts", bad, cuts);
	CHECK(!any_damaged(d));
	CHECK_INT(logged(mark, "UID cache damaged"), 0);
	CHECK_INT(logged(mark, "cut an incomplete commit"), cuts - 1);
	printf("torn journal: cut at each of %d byte offsets\n", cuts);

	/* a bad commit followed by a good one is damage, not a torn tail */
	if (full != NULL) {
		/* the first commit, right after the 32-byte header */
		full[32 + 20] ^= 0x55;
		spit(p, full, len);
		c = xopen(d);
		/* readers stop there: the (empty) snapshot alone */
		CHECK_INT(uidcache_uidvalidity(c), uv);
		CHECK_INT(uidcache_count(c), 0);
		mark = log_mark();
		CHECK_INT(uidcache_lock(c), 0);
		CHECK(uidcache_uidvalidity(c) > uv);
		CHECK_INT(uidcache_count(c), 0);
		CHECK(any_damaged(d));
		CHECK_INT(logged(mark, "UID cache damaged"), 1);
		uidcache_unlock(c);
		uidcache_close(c);
	}
	free(full);
}

/* ---- damage ------------------------------------------------------- */

/* Build a folder with a cache of three messages; its UIDVALIDITY. */
static uint32_t
damage_setup(char *d, const char *name)
{
	struct uidcache *c;
	uint32_t uv;

	mkfolder(d, name);
	c = xopen(d);
	if (uidcache_lock(c) == -1)
		die("lock");
	add(c, "d1");
	add(c, "d2");
	uidcache_commit(c);
	uidcache_test_compact_ops = 1;	/* messages in the snapshot */
	add(c, "d3");
	uidcache_commit(c);
	uidcache_test_compact_ops = 0;
	add(c, "d4");
	uidcache_commit(c);
	uidcache_unlock(c);
	uv = uidcache_uidvalidity(c);
	uidcache_close(c);
	return uv;
}

static void
poke(const char *d, const char *name, off_t off, const char *bytes,
    size_t n)
{
	char p[PATH_MAX];
	int fd;

	pathf(p, d, name);
	if ((fd = open(p, O_WRONLY)) == -1 ||
	    pwrite(fd, bytes, n, off) != (ssize_t)n)
		die(p);
	close(fd);
}

/* Append a commit whose CRC is right but whose add gives UID 1 again. */
static void
append_bad_commit(const char *d)
{
	unsigned char rec[64];
	size_t n = 0, body;
	char p[PATH_MAX];
	uint32_t sum;
	int fd;

	memset(rec, 0, sizeof(rec));
	memcpy(rec, "UCR1", 4);
	n = 12;
	put32le(rec + n, 2);		/* UIDNEXT after */
	n += 4;
	rec[n] = 99;			/* HIGHESTMODSEQ after: 99 */
	n += 8;
	rec[n++] = 'A';
	put32le(rec + n, 1);		/* UID 1: already given */
	n += 4 + 4 + 4;
	rec[n] = 99;			/* MODSEQ */
	n += 8 + 8 + 8;
	rec[n++] = 1;
	rec[n++] = 'z';
	rec[n++] = 0;
	body = n - 12;
	put32le(rec + 4, (uint32_t)body);
	sum = (uint32_t)crc32(0, rec + 4, 4);
	sum = (uint32_t)crc32(sum, rec + 12, (uInt)body);
	put32le(rec + 8, sum);
	pathf(p, d, LOG);
	if ((fd = open(p, O_WRONLY | O_APPEND)) == -1 ||
	    write(fd, rec, n) != (ssize_t)n)
		die(p);
	close(fd);
}

static void
check_rebuilt(const char *d, uint32_t uv, const char *what, int reader_ok,
    int expect_aside)
{
	struct uidcache *c;
	off_t mark;

	c = xopen(d);
	if (!reader_ok)
		CHECK_MSG(uidcache_uidvalidity(c) == 0 &&
		    uidcache_count(c) == 0, "%s: reader view", what);
	mark = log_mark();
	CHECK_MSG(uidcache_lock(c) == 0, "%s: lock", what);
	CHECK_MSG(uidcache_uidvalidity(c) > uv &&
	    uidcache_uidvalidity(c) <= UC_UID_MAX, "%s: UIDVALIDITY %u after "
	    "%u", what, uidcache_uidvalidity(c), uv);
	CHECK_MSG(uidcache_count(c) == 0, "%s: count", what);
	CHECK_MSG(add(c, "fresh") == 1 && uidcache_commit(c) == 0,
	    "%s: add", what);
	uidcache_unlock(c);
	if (expect_aside) {
		CHECK_MSG(any_damaged(d), "%s: set aside", what);
		CHECK_MSG(logged(mark, "UID cache damaged") == 1, "%s: logged %d times",
		    what, logged(mark, "UID cache damaged"));
	}
	uidcache_close(c);
	/* the next lock does not see damage again */
	c = xopen(d);
	mark = log_mark();
	CHECK_MSG(uidcache_lock(c) == 0 && uidcache_count(c) == 1,
	    "%s: after rebuild", what);
	CHECK_MSG(logged(mark, "UID cache damaged") == 0, "%s: logged again", what);
	uidcache_unlock(c);
	uidcache_close(c);
}

static void
test_damage(void)
{
	char d[PATH_MAX], d2[PATH_MAX], p[PATH_MAX], p2[PATH_MAX], *text;
	struct uidcache *c, *c2;
	uint32_t uv, uv2;
	size_t len;
	char junk[2048];

	memset(junk, 0x5a, sizeof(junk));

	uv = damage_setup(d, "dmg-magic");
	poke(d, CDB, 2048 + 9, "XXXX", 4);	/* "H" value starts there */
	check_rebuilt(d, uv, "bad magic", 0, 1);

	uv = damage_setup(d, "dmg-body");
	/* a byte of T: header record is 8+1+128 bytes, then T's 8+1 */
	poke(d, CDB, 2048 + 137 + 9 + 3, "\x7f", 1);
	check_rebuilt(d, uv, "body checksum", 1, 1);

	uv = damage_setup(d, "dmg-table");
	poke(d, CDB, 0, junk, sizeof(junk));
	check_rebuilt(d, uv, "cdb hash table", 0, 1);

	uv = damage_setup(d, "dmg-short");
	pathf(p, d, CDB);
	CHECK(truncate(p, 100) == 0);
	check_rebuilt(d, uv, "short cdb", 0, 1);

	uv = damage_setup(d, "dmg-nocdb");
	rm(d, CDB);
	check_rebuilt(d, uv, "cdb deleted", 0, 1);

	uv = damage_setup(d, "dmg-none");
	rm(d, CDB);
	rm(d, LOG);
	check_rebuilt(d, uv, "cache deleted", 0, 0);

	uv = damage_setup(d, "dmg-nouidv");
	/* both the cache and imapd-uidvalidity lost: the damaged header
	 * still gives the floor */
	rm(d, UIDV);
	poke(d, CDB, 2048 + 137 + 9 + 3, "\x7f", 1);
	check_rebuilt(d, uv, "checksum, no " UIDV, 1, 1);

	uv = damage_setup(d, "dmg-loghdr");
	poke(d, LOG, 0, "garbage!", 8);
	check_rebuilt(d, uv, "journal header", 0, 1);

	uv = damage_setup(d, "dmg-loguv");
	{
		unsigned char h[32];
		char lp[PATH_MAX];
		int fd;

		pathf(lp, d, LOG);
		fd = open(lp, O_RDWR);
		CHECK(fd != -1 && pread(fd, h, 32, 0) == 32);
		put32le(h + 16, uv + 1);
		put32le(h + 28, (uint32_t)crc32(0, h, 28));
		CHECK(pwrite(fd, h, 32, 0) == 32);
		close(fd);
	}
	check_rebuilt(d, uv + 1, "journal UIDVALIDITY", 0, 1);

	uv = damage_setup(d, "dmg-nolog");
	rm(d, LOG);
	c = xopen(d);
	/* readers: the snapshot alone; the writer: the journal was lost */
	CHECK_INT(uidcache_uidvalidity(c), uv);
	uidcache_close(c);
	check_rebuilt(d, uv, "journal deleted", 1, 1);

	uv = damage_setup(d, "dmg-badop");
	append_bad_commit(d);
	check_rebuilt(d, uv, "commit breaking an invariant", 0, 1);

	/* a journal of another cache: readers fall back to the snapshot */
	uv = damage_setup(d, "dmg-foreign");
	uv2 = damage_setup(d2, "dmg-foreign2");
	c2 = xopen(d);
	CHECK_INT(uidcache_count(c2), 4);
	pathf(p, d2, LOG);
	text = slurp(p, &len);
	pathf(p, d, LOG ".tmp");
	spit(p, text, len);
	free(text);
	pathf(p2, d, LOG);
	CHECK_INT(rename(p, p2), 0);
	/* a reader's view never goes back to the older snapshot alone */
	CHECK_INT(uidcache_refresh(c2), 0);
	CHECK(uidcache_count(c2) == 4 && has_base(c2, "d4", NULL));
	uidcache_close(c2);
	c = xopen(d);
	CHECK_INT(uidcache_uidvalidity(c), uv);
	CHECK(uidcache_count(c) == 3 && has_base(c, "d3", NULL) &&
	    !has_base(c, "d4", NULL));
	uidcache_close(c);
	check_rebuilt(d, uv > uv2 ? uv : uv2, "foreign journal", 1, 1);

	/* near 2^31: the last value is used, then no more */
	uv = damage_setup(d, "dmg-max");
	spits(d, UIDV, "2147483646\n");
	poke(d, CDB, 2048 + 9, "XXXX", 4);
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(uidcache_uidvalidity(c), 2147483647);
	uidcache_unlock(c);
	uidcache_close(c);
	poke(d, CDB, 2048 + 9, "XXXX", 4);
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), -1);
	CHECK_INT(errno, EOVERFLOW);
	CHECK_INT(uidcache_uidvalidity(c), 0);
	uidcache_close(c);
	pathf(p, d, UIDV);
	text = slurp(p, NULL);
	CHECK_STR(text, "2147483647\n");
	free(text);
}

/* ---- import ------------------------------------------------------- */

struct imp_case {
	const char	*file, *text;
	uint32_t	 uidvalidity, uidnext;
	size_t		 count;
	const char	*bases;		/* "uid:base|uid:base..." */
};

static const struct imp_case imports[] = {
	/* a folder Dovecot had seen empty */
	{ "dovecot-uidlist",
	    "3 V1500000001 N1 G0123456789abcdef0123456789abcdef\n",
	    1500000001, 1, 0, "" },
	{ "dovecot-uidlist",
	    "1 1234567 10\n"
	    "1 a.host:2,S\n"
	    "3 b.host\n"
	    "7 c.host:2,\n"
	    "broken line here\n"
	    "0 zero.host\n"
	    "2147483648 toobig.host\n"
	    "\n",
	    1234567, 10, 3, "1:a.host|3:b.host|7:c.host" },
	{ "dovecot-uidlist",
	    "3 V1600000000 N50 G0123456789abcdef0123456789abcdef\n"
	    "5 W1234 S1200 :m5.host,S=1200:2,FS\n"
	    "9 :m9.host\n"
	    "12 W77 :name with space\n"
	    "5 :dup-uid.host\n"
	    "13 :m5.host,S=1200\n"
	    "x :junk\n"
	    "14 W5 no-colon\n",
	    1600000000, 50, 3,
	    "5:m5.host,S=1200|9:m9.host|12:name with space" },
	{ "courierimapuiddb",
	    "1 1500000000 4\n"
	    "foo.host 1\n"
	    "bar.host:2,S 2\n"
	    "only-one-token\n"
	    "neither number\n",
	    1500000000, 4, 2, "1:foo.host|2:bar.host" },
	{ "courierimapuiddb",
	    "3 1500000001 20\r\n"
	    "1 x.host\r\n"
	    "2 y.host\r\n"
	    "30 z.host\r\n",
	    1500000001, 31, 3, "1:x.host|2:y.host|30:z.host" },
};

/* A new folder holding only file (with text), opened and locked, which
 * creates its cache. */
static struct uidcache *
import_folder(char *d, const char *name, const char *file, const char *text)
{
	struct uidcache *c;

	mkfolder(d, name);
	spits(d, file, text);
	c = xopen(d);
	CHECK_MSG(uidcache_lock(c) == 0, "%s: lock", name);
	return c;
}

static void
test_import(void)
{
	char d[PATH_MAX], name[32], want[256], *tok, *colon;
	struct uidcache *c;
	struct uc_rec r;
	struct pairs x = { 0 };
	size_t i;
	uint32_t u;
	off_t mark;

	for (i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
		snprintf(name, sizeof(name), "import-%zu", i);
		mark = log_mark();
		c = import_folder(d, name, imports[i].file, imports[i].text);
		CHECK_MSG(uidcache_uidvalidity(c) == imports[i].uidvalidity,
		    "case %zu: %u", i, uidcache_uidvalidity(c));
		CHECK_MSG(uidcache_uidnext(c) == imports[i].uidnext,
		    "case %zu: next %u", i, uidcache_uidnext(c));
		CHECK_MSG(uidcache_count(c) == imports[i].count,
		    "case %zu: count %zu", i, uidcache_count(c));
		/* imported messages have no flags until a scan sees them */
		CHECK_MSG(uidcache_count_unseen(c) == imports[i].count &&
		    uidcache_count_deleted(c) == 0 &&
		    uidcache_count_recent(c) == 0 && counts_exact(c),
		    "case %zu: counts", i);
		CHECK_MSG(logged(mark, "UID cache created from") == 1,
		    "case %zu", i);
		snprintf(want, sizeof(want), "%s", imports[i].bases);
		for (tok = strtok(want, "|"); tok != NULL;
		    tok = strtok(NULL, "|")) {
			colon = strchr(tok, ':');
			*colon = '\0';
			CHECK_MSG(has_base(c, colon + 1, &u) &&
			    u == strtoul(tok, NULL, 10), "case %zu: %s", i,
			    colon + 1);
		}
		/* imported, and going on from the next UID */
		CHECK_INT(add(c, "new.host"), imports[i].uidnext);
		CHECK_INT(uidcache_commit(c), 0);
		/* QRESYNC clients of the other server must resynchronize */
		CHECK(uidcache_highestmodseq(c) > (1ULL << 32));
		CHECK_INT(uidcache_expunged_since(c, 5000, expunged_cb, &x),
		    0);
		CHECK_INT(uidcache_expunged_since(c, 1ULL << 32, expunged_cb,
		    &x), 1);
		uidcache_unlock(c);
		uidcache_close(c);
	}
	/* the W= of dovecot-uidlist is the virtual size */
	pathf(d, root, "import-2");
	c = xopen(d);
	CHECK(uidcache_by_uid(c, 5, &r) && r.vsize == 1234);
	CHECK(uidcache_by_uid(c, 9, &r) && r.vsize == MD_SIZE_UNKNOWN);
	uidcache_close(c);

	/* a next UID below the UIDs: past the greatest */
	c = import_folder(d, "import-next", "dovecot-uidlist",
	    "1 99 2\n5 q.host\n");
	CHECK_INT(uidcache_uidnext(c), 6);
	uidcache_unlock(c);
	uidcache_close(c);

	/* a lost cache is not imported again from the old file: its UIDs
	 * past the file's next may have been given by us since */
	c = import_folder(d, "import-again", "dovecot-uidlist",
	    "1 1000 5\n1 a.host\n");
	CHECK_INT(uidcache_uidvalidity(c), 1000);
	CHECK_INT(add(c, "b.host"), 5);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	uidcache_close(c);
	rm(d, CDB);
	rm(d, LOG);
	c = xopen(d);
	mark = log_mark();
	CHECK_INT(uidcache_lock(c), 0);
	CHECK(uidcache_uidvalidity(c) > 1000);
	CHECK_INT(uidcache_count(c), 0);
	CHECK_INT(logged(mark, "not importing"), 1);
	uidcache_unlock(c);
	uidcache_close(c);

	/* UIDs run out at 2^31 - 1 */
	c = import_folder(d, "import-full", "dovecot-uidlist",
	    "1 77 2147483647\n1 a.host\n");
	CHECK_INT(add(c, "last"), 2147483647);
	CHECK_INT(add(c, "none-left"), 0);
	CHECK_INT(errno, EOVERFLOW);
	CHECK_INT(uidcache_commit(c), 0);
	CHECK_INT(uidcache_uidnext(c), 2147483648U);
	uidcache_unlock(c);
	uidcache_close(c);
	c = xopen(d);
	CHECK_INT(uidcache_uidnext(c), 2147483648U);
	CHECK(has_base(c, "last", &u) && u == 2147483647);
	uidcache_close(c);

	/* a header we do not understand: start afresh */
	c = import_folder(d, "import-bad", "dovecot-uidlist",
	    "2 whatever\n1 a.host\n");
	CHECK(uidcache_uidvalidity(c) > 1000000000);
	CHECK_INT(uidcache_count(c), 0);
	uidcache_unlock(c);
	uidcache_close(c);
	free(x.p);
}

/* ---- lock timeout ------------------------------------------------- */

static void
test_lock_timeout(void)
{
	char d[PATH_MAX], ch;
	struct uidcache *c;
	int up[2], down[2], st;
	pid_t pid;
	double t0;
	off_t mark;

	mkfolder(d, "locktimeout");
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_unlock(c);
	if (pipe(up) == -1 || pipe(down) == -1)
		die("pipe");
	pid = xfork();
	if (pid == 0) {
		struct uidcache *h = xopen(d);

		if (uidcache_lock(h) == -1)
			_exit(1);
		if (write(up[1], "L", 1) != 1 || read(down[0], &ch, 1) != 1)
			_exit(2);
		uidcache_unlock(h);
		if (write(up[1], "U", 1) != 1)
			_exit(3);
		_exit(0);
	}
	CHECK(read(up[0], &ch, 1) == 1 && ch == 'L');
	uidcache_test_lock_ms = 300;
	mark = log_mark();
	t0 = secs();
	CHECK_INT(uidcache_lock(c), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK(secs() - t0 >= 0.29 && secs() - t0 < 5);
	CHECK_INT(logged(mark, "held by another process"), 1);
	CHECK(write(down[1], "x", 1) == 1);
	CHECK(read(up[0], &ch, 1) == 1 && ch == 'U');
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_unlock(c);
	/* a holder that dies releases the lock */
	pid = waitpid(pid, &st, 0);
	pid = xfork();
	if (pid == 0) {
		struct uidcache *h = xopen(d);

		uidcache_lock(h);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_unlock(c);
	uidcache_test_lock_ms = 0;
	uidcache_close(c);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

/* ---- write errors ------------------------------------------------- */

static void
test_write_errors(void)
{
	char d[PATH_MAX], b[32];
	struct uidcache *c;
	struct rlimit rl, old;
	off_t j0;
	uint32_t next0;
	size_t count0;
	int i;

	mkfolder(d, "enospc");
	signal(SIGXFSZ, SIG_IGN);
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_test_compact_ops = 1;
	for (i = 0; i < 100; i++) {
		snprintf(b, sizeof(b), "w-%d", i);
		add(c, b);
	}
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_test_compact_ops = 0;
	uidcache_unlock(c);
	j0 = fsize(d, LOG);
	next0 = uidcache_uidnext(c);
	count0 = uidcache_count(c);
	getrlimit(RLIMIT_FSIZE, &old);

	/* the journal cannot grow: the commit fails, nothing happened */
	rl = old;
	rl.rlim_cur = (rlim_t)j0 + 40;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &rl), 0);
	CHECK_INT(uidcache_lock(c), 0);
	for (i = 0; i < 10; i++) {
		snprintf(b, sizeof(b), "x-%d", i);
		add(c, b);
	}
	CHECK_INT(uidcache_expunge(c, 1), 0);
	CHECK_INT(uidcache_commit(c), -1);
	CHECK_INT(errno, EFBIG);
	CHECK_INT(uidcache_uidnext(c), next0);
	CHECK_INT(uidcache_count(c), count0);
	CHECK(!has_base(c, "x-0", NULL));
	CHECK_INT(fsize(d, LOG), j0);
	/* still locked and usable */
	CHECK_INT(add(c, "y"), next0);
	uidcache_unlock(c);
	setrlimit(RLIMIT_FSIZE, &old);
	uidcache_close(c);
	c = xopen(d);
	CHECK_INT(uidcache_count(c), count0);
	CHECK_INT(uidcache_uidnext(c), next0);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK_INT(add(c, "z"), next0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);

	/* the journal can grow but a new snapshot cannot be written: the
	 * commit the snapshot was for goes to the journal, the compaction
	 * waits for the next commit */
	j0 = fsize(d, LOG);
	rl.rlim_cur = 4096;
	CHECK(j0 < 3000 && fsize(d, CDB) > 4096);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &rl), 0);
	uidcache_test_compact_ops = 1;
	CHECK_INT(uidcache_lock(c), 0);
	CHECK(add(c, "z2") != 0);
	CHECK_INT(uidcache_commit(c), 0);
	CHECK(!exists(d, CDB ".new") && !exists(d, LOG ".new"));
	CHECK(fsize(d, LOG) > j0);
	uidcache_unlock(c);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK_INT(uidcache_lock(c), 0);
	CHECK(add(c, "z3") != 0);
	CHECK_INT(uidcache_commit(c), 0);
	CHECK_INT(fsize(d, LOG), 32);
	uidcache_unlock(c);
	uidcache_test_compact_ops = 0;
	uidcache_close(c);
	c = xopen(d);
	CHECK(has_base(c, "z2", NULL) && has_base(c, "z3", NULL));
	CHECK_INT(uidcache_count(c), count0 + 3);
	uidcache_close(c);
	signal(SIGXFSZ, SIG_DFL);
}

/* ---- the Maildir-wide UIDVALIDITY floor --------------------------- */

/* Create the cache of folder d (by taking its lock); its UIDVALIDITY. */
static uint32_t
create_uv(const char *d)
{
	struct uidcache *c = xopen(d);
	uint32_t uv = 0;

	if (uidcache_lock(c) == 0) {
		uv = uidcache_uidvalidity(c);
		uidcache_unlock(c);
	}
	uidcache_close(c);
	return uv;
}

static void
test_tree_uidvalidity(void)
{
	char md[PATH_MAX], f[PATH_MAX], p[PATH_MAX], *text;
	uint32_t uv, prev, inbox;
	int i;

	mkfolder(md, "tree");
	inbox = create_uv(md);
	CHECK(inbox > 0);
	CHECK(exists(md, "imapd-uidvalidity-max"));
	pathf(f, md, ".Foo");
	prev = inbox;
	/* DELETE then CREATE, quicker than the clock moves: the folder's
	 * own imapd-uidvalidity goes with it, the Maildir's stays */
	for (i = 0; i < 5; i++) {
		if (mkdir(f, 0700) == -1)
			die(f);
		spits(f, "maildirfolder", "");
		uv = create_uv(f);
		CHECK_MSG(uv > prev, "round %d: %u after %u", i, uv, prev);
		prev = uv;
		rmtree(f);
	}
	pathf(p, md, "imapd-uidvalidity-max");
	text = slurp(p, NULL);
	CHECK(text != NULL && strtoul(text, NULL, 10) == prev &&
	    strlen(text) == 11);
	free(text);
	/* INBOX rebuilt after losing its cache: above every folder's too */
	rm(md, CDB);
	rm(md, LOG);
	uv = create_uv(md);
	CHECK_MSG(uv > prev, "inbox %u after %u", uv, prev);
	prev = uv;
	/* a counter that is not a number is rewritten, and the folder's own
	 * file and the clock still rule out going back */
	spits(md, "imapd-uidvalidity-max", "garbage\n");
	rm(md, CDB);
	rm(md, LOG);
	uv = create_uv(md);
	CHECK_MSG(uv > prev, "inbox %u after %u", uv, prev);
	text = slurp(p, NULL);
	CHECK(text != NULL && strtoul(text, NULL, 10) == uv);
	free(text);
}

/* ---- main --------------------------------------------------------- */

int
main(void)
{
	if (fixture_begin("test-uidcache") != 0)
		return 2;
	T_RUN(test_basics);
	T_RUN(test_refresh);
	T_RUN(test_compaction);
	T_RUN(test_fill);
	T_RUN(test_counts);
	T_RUN(test_import);
	T_RUN(test_tree_uidvalidity);
	T_RUN(test_lock_timeout);
	T_RUN(test_torn);
	T_RUN(test_damage);
	T_RUN(test_write_errors);
	return fixture_end();
}
