/*
 * Unit tests for maildir/uidcache: the contract of uidcache.h, checked
 * against crashes at every numbered write step (of appends, of commits
 * written as snapshots, of a first scan, of a snapshot that fails and
 * falls back to the journal), journals torn at every byte, damaged
 * files, eight concurrent writers, imports from Dovecot and Courier,
 * write errors, the lock timeout, and 100,000 messages; the folder
 * counters against a full count after every step of a random model.
 *
 * The module logs (foreground) through stdio's stderr, which is pointed
 * at a file the tests read; the checks' messages, and sanitizer reports,
 * still go to file descriptor 2.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "maildir/filename.h"
#include "maildir/uidcache-test.h"
#include "maildir/uidcache.h"
#include "tests/t.h"

static FILE	*t_err;

static void
log_to(FILE *f)
{
	t_err = stderr;
	stderr = f;
}

#undef stderr
#define stderr t_err

#define CDB	"imapd-uidcache.cdb"
#define LOG	"imapd-uidcache.log"
#define UIDV	"imapd-uidvalidity"

static char	 root[] = "/tmp/test-uidcache.XXXXXX";
static char	 logpath[PATH_MAX];

/* ---- helpers ------------------------------------------------------ */

static void
die(const char *what)
{
	fprintf(stderr, "test-uidcache: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
pathf(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		die(dir);
	}
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *p;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (p = malloc((size_t)st.st_size + 1)) ==
	    NULL)
		die(path);
	while (got < (size_t)st.st_size &&
	    (n = read(fd, p + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	p[got] = '\0';
	if (len != NULL)
		*len = got;
	return p;
}

static void
spit(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, p, len) != (ssize_t)len || close(fd) == -1)
		die(path);
}

static void
spits(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	pathf(p, dir, name);
	spit(p, text, strlen(text));
}

static int
exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0;
}

static off_t
fsize(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static ino_t
finode(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0 ? st.st_ino : 0;
}

static void
rm(const char *dir, const char *name)
{
	char p[PATH_MAX];

	pathf(p, dir, name);
	unlink(p);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
rmtree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new, empty folder directory root/name. */
static void
mkfolder(char *out, const char *name)
{
	pathf(out, root, name);
	rmtree(out);
	if (mkdir(out, 0700) == -1)
		die(out);
}

static struct uidcache *
xopen(const char *dir)
{
	struct uidcache *c;
	char err[512];

	if (uidcache_open(dir, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "test-uidcache: %s\n", err);
		exit(2);
	}
	return c;
}

static uint32_t
add(struct uidcache *c, const char *base)
{
	return uidcache_add(c, base, strlen(base), ":2,", 0, 0, 0,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN);
}

static int
has_base(struct uidcache *c, const char *base, uint32_t *uid)
{
	struct uc_rec r;

	if (!uidcache_by_base(c, base, strlen(base), &r))
		return 0;
	if (uid != NULL)
		*uid = r.uid;
	return 1;
}

/* 1 if the cache's counters are what a pass over its messages finds. */
static int
counts_exact(struct uidcache *c)
{
	struct uc_rec r;
	uint32_t unseen = 0, deleted = 0, recent = 0;
	uint32_t fr = uidcache_first_recent(c);
	size_t i;

	for (i = 0; uidcache_nth(c, i, &r); i++) {
		unseen += (r.flags & MF_SEEN) == 0;
		deleted += (r.flags & MF_DELETED) != 0;
		recent += r.uid >= fr;
	}
	if (uidcache_count_unseen(c) == unseen &&
	    uidcache_count_deleted(c) == deleted &&
	    uidcache_count_recent(c) == recent)
		return 1;
	fprintf(stderr, "counts: unseen %u (a pass finds %u), deleted %u "
	    "(%u), recent %u (%u)\n", uidcache_count_unseen(c), unseen,
	    uidcache_count_deleted(c), deleted, uidcache_count_recent(c),
	    recent);
	return 0;
}

static off_t
log_mark(void)
{
	struct stat st;

	fflush(NULL);
	return stat(logpath, &st) == 0 ? st.st_size : 0;
}

/* How many times needle was logged since mark. */
static int
logged(off_t mark, const char *needle)
{
	char *all, *p;
	size_t len;
	int n = 0;

	fflush(NULL);
	if ((all = slurp(logpath, &len)) == NULL)
		return 0;
	if ((size_t)mark <= len)
		for (p = all + mark; (p = strstr(p, needle)) != NULL; p++)
			n++;
	free(all);
	return n;
}

/* Every (UID, base) a reader was ever shown, to prove a UID never names
 * two messages. */
struct pair {
	uint32_t	 uid;
	char		 base[48];
};

struct pairs {
	struct pair	*p;
	size_t		 n, cap;
};

static void
pairs_add(struct pairs *ps, uint32_t uid, const char *base)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 256;
		if ((ps->p = realloc(ps->p, ps->cap * sizeof(*ps->p))) == NULL)
			die("realloc");
	}
	ps->p[ps->n].uid = uid;
	snprintf(ps->p[ps->n].base, sizeof(ps->p[ps->n].base), "%s", base);
	ps->n++;
}

static void
pairs_of(struct pairs *ps, struct uidcache *c)
{
	struct uc_rec r;
	size_t i;

	for (i = 0; uidcache_nth(c, i, &r); i++)
		pairs_add(ps, r.uid, r.base);
}

static int
cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* 1 if no UID was seen with two bases. */
static int
pairs_consistent(struct pairs *ps)
{
	size_t i;

	qsort(ps->p, ps->n, sizeof(*ps->p), cmp_pair);
	for (i = 1; i < ps->n; i++)
		if (ps->p[i].uid == ps->p[i - 1].uid &&
		    strcmp(ps->p[i].base, ps->p[i - 1].base) != 0) {
			fprintf(stderr, "UID %u given to %s and %s\n",
			    ps->p[i].uid, ps->p[i - 1].base, ps->p[i].base);
			return 0;
		}
	return 1;
}

static void
pairs_dump(struct uidcache *c, const char *path)
{
	struct uc_rec r;
	size_t i;
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return;
	fprintf(f, "V %u\n", uidcache_uidvalidity(c));
	for (i = 0; uidcache_nth(c, i, &r); i++)
		fprintf(f, "%u %s\n", r.uid, r.base);
	fclose(f);
}

/* Read what pairs_dump wrote; the UIDVALIDITY it saw, or 0. */
static uint32_t
pairs_load(struct pairs *ps, const char *path)
{
	char *text = slurp(path, NULL), *line, *sp, *end;
	unsigned long v, uv = 0;

	if (text == NULL)
		return 0;
	for (line = strtok(text, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		if (line[0] == 'V') {
			uv = strtoul(line + 2, &end, 10);
			continue;
		}
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		errno = 0;
		v = strtoul(line, &end, 10);
		if (errno == 0 && *end == '\0')
			pairs_add(ps, (uint32_t)v, sp + 1);
	}
	free(text);
	return (uint32_t)uv;
}

/* fork, with stdio flushed so that no buffered output is written twice */
static pid_t
xfork(void)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1)
		die("fork");
	return pid;
}

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
put32le(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

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

/* ---- concurrency -------------------------------------------------- */

#define NPROC	8
#define PERPROC	500

static int
writer_proc(const char *d, int id)
{
	char b[64], out[PATH_MAX], name[32];
	struct uidcache *c = xopen(d);
	unsigned seed = (unsigned)id * 7919 + 1;
	uint32_t u, last = 0;
	FILE *f;
	int i = 0, n, k;

	snprintf(name, sizeof(name), "out.%d", id);
	pathf(out, root, name);
	if ((f = fopen(out, "w")) == NULL)
		return 1;
	while (i < PERPROC) {
		seed = seed * 1103515245 + 12345;
		n = 1 + (int)((seed >> 16) % 7);
		if (uidcache_lock(c) == -1)
			return 1;
		for (k = 0; k < n && i < PERPROC; k++, i++) {
			snprintf(b, sizeof(b), "p%d-%d", id, i);
			if ((u = add(c, b)) == 0 || u <= last)
				return 1;
			last = u;
			fprintf(f, "%u %s\n", u, b);
		}
		if (uidcache_commit(c) == -1)
			return 1;
		uidcache_unlock(c);
	}
	fclose(f);
	uidcache_close(c);
	return 0;
}

/* Refresh in a loop while the writers run: every view must be in UID
 * order, never lose a message (nothing is expunged), never show a UID
 * with another base than before. */
static int
reader_proc(const char *d, const char *stop)
{
	static char *seen[NPROC * PERPROC + 2];
	struct uidcache *c = xopen(d);
	struct uc_rec r;
	struct stat st;
	size_t i, last = 0, views = 0;
	uint32_t prev;

	while (stat(stop, &st) == -1) {
		if (uidcache_refresh(c) == -1)
			return 1;
		prev = 0;
		for (i = 0; uidcache_nth(c, i, &r); i++) {
			if (r.uid <= prev || r.uid > NPROC * PERPROC)
				return 2;
			prev = r.uid;
			if (seen[r.uid] == NULL)
				seen[r.uid] = strdup(r.base);
			else if (strcmp(seen[r.uid], r.base) != 0)
				return 3;
		}
		if (i < last)
			return 4;
		last = i;
		views++;
	}
	uidcache_close(c);
	return views > 0 ? 0 : 5;
}

static void
test_concurrency(void)
{
	char d[PATH_MAX], stop[PATH_MAX], out[PATH_MAX], name[32], *text;
	char *line, *sp;
	static uint32_t got[NPROC][PERPROC];
	static unsigned char used[NPROC * PERPROC + 2];
	struct uidcache *c;
	struct uc_rec r;
	pid_t pids[NPROC], rpid;
	uint32_t max = 0, u;
	int i, st, ok = 1, n;
	double t0 = secs();

	mkfolder(d, "concurrency");
	pathf(stop, root, "stop");
	unlink(stop);
	/* compact often, so readers meet compactions mid-read */
	uidcache_test_compact_ops = 300;
	rpid = xfork();
	if (rpid == 0)
		_exit(reader_proc(d, stop));
	for (i = 0; i < NPROC; i++) {
		pids[i] = xfork();
		if (pids[i] == 0)
			_exit(writer_proc(d, i));
	}
	for (i = 0; i < NPROC; i++) {
		CHECK(waitpid(pids[i], &st, 0) == pids[i]);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "writer %d status %d", i, st);
	}
	spit(stop, "", 0);
	CHECK(waitpid(rpid, &st, 0) == rpid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader status %d",
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	uidcache_test_compact_ops = 0;

	c = xopen(d);
	CHECK_INT(uidcache_count(c), NPROC * PERPROC);
	for (i = 0; i < NPROC; i++) {
		snprintf(name, sizeof(name), "out.%d", i);
		pathf(out, root, name);
		if ((text = slurp(out, NULL)) == NULL) {
			CHECK(0);
			continue;
		}
		n = 0;
		for (line = strtok(text, "\n"); line != NULL && n < PERPROC;
		    line = strtok(NULL, "\n"), n++) {
			sp = strchr(line, ' ');
			if (sp == NULL)
				break;
			*sp = '\0';
			got[i][n] = (uint32_t)strtoul(line, NULL, 10);
			/* the cache agrees with what the writer was given */
			if (!has_base(c, sp + 1, &u) || u != got[i][n])
				ok = 0;
			if (n > 0 && got[i][n] <= got[i][n - 1])
				ok = 0;
			if (got[i][n] > NPROC * PERPROC || used[got[i][n]]++)
				ok = 0;
			if (got[i][n] > max)
				max = got[i][n];
		}
		CHECK_INT(n, PERPROC);
		free(text);
	}
	CHECK_MSG(ok, "UIDs distinct, increasing per writer, as cached");
	CHECK_INT(uidcache_uidnext(c), max + 1);
	CHECK_INT(max, NPROC * PERPROC);
	for (i = 0, u = 0; uidcache_nth(c, (size_t)i, &r); i++) {
		CHECK(r.uid > u);
		u = r.uid;
	}
	uidcache_close(c);
	printf("concurrency: %d writers x %d messages in %.2f s\n", NPROC,
	    PERPROC, secs() - t0);
}

/* ---- crashes at every step ---------------------------------------- */

static int	 crash_at;
static char	 crash_dir[PATH_MAX], crash_out[PATH_MAX];

/* At the chosen step: record what a reader sees at this instant, die. */
static void
crash_hook(int step)
{
	struct uidcache *c;
	char err[256];

	if (step != crash_at)
		return;
	if (uidcache_open(crash_dir, &c, err, sizeof(err)) == 0) {
		pairs_dump(c, crash_out);
		uidcache_close(c);
	}
	_exit(9);
}

static int	 seen_steps[64];

static void
record_hook(int step)
{
	if (step >= 0 && step < 64)
		seen_steps[step] = 1;
}

/*
 * What is written when the process dies:
 *   plain	a commit appended to the journal
 *   compact	a commit that makes the journal due for compaction (the
 *		test knob), written as a new snapshot instead
 *   torn	a commit after a torn tail, which is cut off first
 *   create	a new cache, made by the first lock
 *   damage	a damaged cache set aside and a new one made
 *   logfix	a lock finishing a compaction cut between its renames
 *   direct	a commit of more messages than the snapshot holds, written
 *		as a new snapshot by the size rules alone
 *   first	the same as the first commit of a new cache (a first scan)
 *   fallback	a commit whose snapshot cannot be written (a directory is
 *		in the way), appended to the journal instead
 */
enum crashkind { K_PLAIN, K_COMPACT, K_TORN, K_CREATE, K_DAMAGE, K_LOGFIX,
    K_DIRECT, K_FIRST, K_FALLBACK };

static const char *const kindname[] = { "plain", "compact", "torn",
    "create", "damage", "logfix", "direct", "first", "fallback" };

#define BULK	5000	/* more messages than a journal takes */

/* The kinds whose crash comes in a lock, not in a commit. */
static int
crash_in_lock(enum crashkind kind)
{
	return kind == K_CREATE || kind == K_DAMAGE || kind == K_LOGFIX;
}

/* The folder a crash scenario starts from; its UIDVALIDITY. */
static uint32_t
crash_setup(const char *d, enum crashkind kind)
{
	struct uidcache *c;
	char b[32], p[PATH_MAX];
	uint32_t uv;
	int i;

	if (kind == K_CREATE || kind == K_FIRST)
		return 0;
	c = xopen(d);
	if (uidcache_lock(c) == -1)
		die("lock");
	for (i = 0; i < 20; i++) {
		snprintf(b, sizeof(b), "old-%d", i);
		uidcache_add(c, b, strlen(b), ":2,", 0, i % 3 ? MF_SEEN : 0, 0,
		    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN);
		if (i % 5 == 4 && uidcache_commit(c) == -1)
			die("commit");
	}
	uidcache_expunge(c, 3);
	uidcache_update(c, 5, MF_DELETED, 0, ":2,T", 0);
	uidcache_set_first_recent(c, 12);
	if (uidcache_commit(c) == -1)
		die("commit");
	uidcache_unlock(c);
	uv = uidcache_uidvalidity(c);
	uidcache_close(c);
	if (kind == K_TORN) {
		/* one more commit, cut short as a crash leaves it */
		off_t sz = fsize(d, LOG);

		c = xopen(d);
		uidcache_lock(c);
		add(c, "torn-victim");
		uidcache_commit(c);
		uidcache_unlock(c);
		uidcache_close(c);
		pathf(p, d, LOG);
		if (truncate(p, sz + 20) == -1)
			die("truncate");
	}
	if (kind == K_DAMAGE) {
		pathf(p, d, CDB);
		spit(p, "this is not a cdb file", 22);
	}
	if (kind == K_FALLBACK) {
		pathf(p, d, CDB ".new");
		if (mkdir(p, 0700) == -1)
			die(p);
	}
	return uv;
}

/* The changes of the commit that crashes: three new messages, BULK more
 * for the kinds that need a big commit, and the expunge of UID 7 where
 * there is one. */
static int
crash_changes(struct uidcache *c, enum crashkind kind)
{
	char b[32];
	int i;

	if (uidcache_add(c, "new-1", 5, ":2,S", 0, MF_SEEN, 0,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN) == 0 ||
	    add(c, "new-2") == 0 || uidcache_add(c, "new-3", 5, ":2,T", 0,
	    MF_DELETED, 0, MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN) == 0)
		return -1;
	for (i = 0; (kind == K_DIRECT || kind == K_FIRST) && i < BULK; i++) {
		snprintf(b, sizeof(b), "bulk-%d", i);
		if (add(c, b) == 0)
			return -1;
	}
	if (kind != K_FIRST && (uidcache_expunge(c, 7) == -1 ||
	    uidcache_update(c, 8, MF_SEEN | MF_DELETED, 0, ":2,ST", 0) == -1))
		return -1;
	return 0;
}

/* What the crashing child does. */
static void
crash_child(const char *d, enum crashkind kind, int step)
{
	struct uidcache *c;

	uidcache_test_compact_ops = kind == K_COMPACT ||
	    kind == K_FALLBACK ? 1 : 0;
	crash_at = step;
	snprintf(crash_dir, sizeof(crash_dir), "%s", d);
	pathf(crash_out, d, "observed");
	c = xopen(d);
	if (crash_in_lock(kind))
		uidcache_test_step = crash_hook;
	if (uidcache_lock(c) == -1)
		_exit(3);
	if (crash_in_lock(kind))
		_exit(0);
	if (crash_changes(c, kind) == -1)
		_exit(4);
	uidcache_test_step = crash_hook;
	if (uidcache_commit(c) == -1)
		_exit(5);
	_exit(0);
}

/* In a child: do what crash_child does, recording the steps in root/
 * steps.out (the child's memory is its own). */
static void
steps_child(const char *d, enum crashkind kind)
{
	struct uidcache *c;
	char p[PATH_MAX], line[8];
	int i, fd;

	uidcache_test_compact_ops = kind == K_COMPACT ||
	    kind == K_FALLBACK ? 1 : 0;
	c = xopen(d);
	if (crash_in_lock(kind))
		uidcache_test_step = record_hook;
	uidcache_lock(c);
	if (!crash_in_lock(kind)) {
		crash_changes(c, kind);
		uidcache_test_step = record_hook;
		uidcache_commit(c);
	}
	uidcache_test_step = NULL;
	uidcache_close(c);
	pathf(p, root, "steps.out");
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		_exit(1);
	for (i = 0; i < 64; i++)
		if (seen_steps[i]) {
			snprintf(line, sizeof(line), "%d\n", i);
			if (write(fd, line, strlen(line)) < 0)
				_exit(1);
		}
	close(fd);
	_exit(0);
}

/* The step numbers a write of this kind reports, ended by -1. */
static void
collect_steps(enum crashkind kind, int *steps)
{
	char d[PATH_MAX], p[PATH_MAX], *text, *l;
	pid_t pid;
	int st, n = 0;

	mkfolder(d, "steps");
	crash_setup(d, kind);
	memset(seen_steps, 0, sizeof(seen_steps));
	if (kind == K_LOGFIX) {
		/* leave a compaction cut between its renames first */
		pid = xfork();
		if (pid == 0)
			crash_child(d, K_COMPACT, UCS_SNAP_RENAME1);
		waitpid(pid, &st, 0);
	}
	pid = xfork();
	if (pid == 0)
		steps_child(d, kind);
	waitpid(pid, &st, 0);
	pathf(p, root, "steps.out");
	text = slurp(p, NULL);
	for (l = text ? strtok(text, "\n") : NULL; l != NULL && n < 63;
	    l = strtok(NULL, "\n"))
		steps[n++] = (int)strtol(l, NULL, 10);
	steps[n] = -1;
	free(text);
}

static int
any_damaged(const char *d)
{
	return exists(d, CDB ".damaged") || exists(d, LOG ".damaged");
}

/* How many of the BULK messages c holds. */
static int
bulk_count(struct uidcache *c)
{
	char b[32];
	int i, n = 0;

	for (i = 0; i < BULK; i++) {
		snprintf(b, sizeof(b), "bulk-%d", i);
		n += has_base(c, b, NULL);
	}
	return n;
}

static int crash_cases;

static void
crash_one(enum crashkind kind, int step)
{
	char d[PATH_MAX], obs[PATH_MAX], name[64], b[32];
	struct uidcache *c;
	struct pairs ps = { 0 }, seen = { 0 };
	struct uc_rec r;
	uint32_t uv0 = 0, uv_obs, uv1;
	pid_t pid;
	int st, nnew, nbulk, i, old_ok, seen_new = 0;
	off_t mark;

	snprintf(name, sizeof(name), "crash-%s-%d", kindname[kind], step);
	mkfolder(d, name);
	uv0 = crash_setup(d, kind);
	if (kind == K_LOGFIX) {
		pid = xfork();
		if (pid == 0)
			crash_child(d, K_COMPACT, UCS_SNAP_RENAME1);
		waitpid(pid, &st, 0);
	}
	c = xopen(d);
	pairs_of(&ps, c);
	uidcache_close(c);

	mark = log_mark();
	pid = xfork();
	if (pid == 0)
		crash_child(d, kind, step);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 9,
	    "%s step %d: child status %d", kindname[kind], step,
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	pathf(obs, d, "observed");
	uv_obs = pairs_load(&seen, obs);
	for (i = 0; i < (int)seen.n; i++) {
		if (strcmp(seen.p[i].base, "new-1") == 0)
			seen_new = 1;
		pairs_add(&ps, seen.p[i].uid, seen.p[i].base);
	}

	/* a reader now: old or new state, never damage, and the counters
	 * of the state that survived */
	c = xopen(d);
	uv1 = uidcache_uidvalidity(c);
	CHECK_MSG(counts_exact(c), "%s step %d: counters", kindname[kind],
	    step);
	if (kind != K_CREATE && kind != K_DAMAGE) {
		if (kind == K_FIRST)
			/* made by the lock, before the commit */
			CHECK_MSG(uv1 != 0 && uv1 == uv_obs, "first step %d: "
			    "UIDVALIDITY %u, seen %u", step, uv1, uv_obs);
		else
			CHECK_MSG(uv1 == uv0, "%s step %d: UIDVALIDITY %u -> "
			    "%u", kindname[kind], step, uv0, uv1);
		nnew = has_base(c, "new-1", NULL) + has_base(c, "new-2", NULL) +
		    has_base(c, "new-3", NULL);
		CHECK_MSG(nnew == 0 || nnew == 3, "%s step %d: %d of 3 new",
		    kindname[kind], step, nnew);
		nbulk = bulk_count(c);
		CHECK_MSG(nbulk == ((kind == K_DIRECT || kind == K_FIRST) &&
		    nnew == 3 ? BULK : 0), "%s step %d: %d of the bulk",
		    kindname[kind], step, nbulk);
		old_ok = 1;
		for (i = 0; kind != K_FIRST && i < 20; i++) {
			uint32_t u;

			snprintf(b, sizeof(b), "old-%d", i);
			if (i + 1 == 3 || i + 1 == 7)
				continue;
			if (!has_base(c, b, &u) || u != (uint32_t)i + 1)
				old_ok = 0;
		}
		CHECK_MSG(old_ok, "%s step %d: old messages", kindname[kind],
		    step);
		/* the expunge and the update went with the adds */
		if (kind != K_FIRST)
			CHECK_MSG(uidcache_by_uid(c, 7, &r) == (nnew == 0) &&
			    uidcache_by_uid(c, 8, &r) &&
			    (r.flags == MF_SEEN) == (nnew == 0),
			    "%s step %d: other changes not with their commit",
			    kindname[kind], step);
		if (kind == K_FIRST)
			CHECK_MSG(uidcache_count(c) == (nnew ? BULK + 3 : 0),
			    "first step %d: %zu messages", step,
			    uidcache_count(c));
		/* what a reader saw at the crash is not taken back */
		CHECK_MSG(!seen_new || nnew == 3, "%s step %d: a commit a "
		    "reader saw was lost", kindname[kind], step);
		printf(" %d:%s%s", step, nnew ? "new" : "old",
		    seen_new ? "(seen)" : "");
	} else
		printf(" %d:%s", step, uv_obs ? "seen" : "-");
	pairs_of(&ps, c);
	uidcache_close(c);

	/* the next writer repairs what needs it and never gives a UID a
	 * reader has seen with another base */
	c = xopen(d);
	CHECK_MSG(uidcache_lock(c) == 0, "%s step %d: lock",
	    kindname[kind], step);
	if (kind == K_FIRST)
		CHECK_MSG(uidcache_uidvalidity(c) == uv1, "first step %d: "
		    "UIDVALIDITY %u after %u", step, uidcache_uidvalidity(c),
		    uv1);
	uv1 = uidcache_uidvalidity(c);
	if ((kind == K_CREATE || kind == K_DAMAGE) && uv_obs != 0)
		CHECK_MSG(uv1 == uv_obs, "%s step %d: UIDVALIDITY %u seen, "
		    "then %u", kindname[kind], step, uv_obs, uv1);
	if (kind == K_DAMAGE)
		CHECK_MSG(uv1 > uv0, "damage step %d: %u after %u", step, uv1,
		    uv0);
	else
		CHECK_MSG(!any_damaged(d), "%s step %d: set aside",
		    kindname[kind], step);
	CHECK_MSG(counts_exact(c), "%s step %d: counters after lock",
	    kindname[kind], step);
	CHECK(add(c, "after-1") != 0 && add(c, "after-2") != 0);
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_unlock(c);
	pairs_of(&ps, c);
	uidcache_close(c);
	c = xopen(d);
	pairs_of(&ps, c);
	CHECK(has_base(c, "after-1", NULL) && has_base(c, "after-2", NULL));
	CHECK_MSG(counts_exact(c), "%s step %d: counters after commit",
	    kindname[kind], step);
	uidcache_close(c);
	CHECK_MSG(pairs_consistent(&ps), "%s step %d", kindname[kind], step);
	if (kind == K_FALLBACK && step != UCS_SNAP_BEGIN)
		CHECK_MSG(logged(mark, "the commit goes to the journal") >= 1,
		    "fallback step %d: not logged", step);
	if (kind != K_DAMAGE)
		CHECK_MSG(logged(mark, "UID cache damaged") == 0, "%s step %d: damage "
		    "logged", kindname[kind], step);
	else
		CHECK_MSG(logged(mark, "UID cache damaged") >= 1, "damage step %d: "
		    "not logged", step);
	free(ps.p);
	free(seen.p);
	crash_cases++;
}

static void
test_crashes(void)
{
	static const enum crashkind kinds[] = { K_PLAIN, K_COMPACT, K_TORN,
	    K_CREATE, K_DAMAGE, K_LOGFIX, K_DIRECT, K_FIRST, K_FALLBACK };
	int steps[64], k, i, total = 0, append, snap;

	for (k = 0; k < (int)(sizeof(kinds) / sizeof(kinds[0])); k++) {
		collect_steps(kinds[k], steps);
		CHECK_MSG(steps[0] != -1, "%s: no steps", kindname[kinds[k]]);
		for (i = append = snap = 0; steps[i] != -1; i++) {
			append |= steps[i] == UCS_APPEND;
			snap |= steps[i] == UCS_SNAP_BEGIN;
		}
		/* a commit the journal would have to absorb is written once,
		 * as a snapshot; when that fails it goes to the journal */
		if (kinds[k] == K_COMPACT || kinds[k] == K_DIRECT ||
		    kinds[k] == K_FIRST)
			CHECK_MSG(snap && !append, "%s: written as a snapshot",
			    kindname[kinds[k]]);
		if (kinds[k] == K_PLAIN || kinds[k] == K_TORN)
			CHECK_MSG(!snap && append, "%s: appended",
			    kindname[kinds[k]]);
		if (kinds[k] == K_FALLBACK)
			CHECK_MSG(snap && append, "fallback: both");
		printf("crash, %s:", kindname[kinds[k]]);
		for (i = 0; steps[i] != -1; i++, total++)
			crash_one(kinds[k], steps[i]);
		printf("\n");
	}
	printf("crash cases: %d\n", crash_cases);
	CHECK(total == crash_cases);
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

/* ---- random operations against a model ---------------------------- */

#define MU	1200	/* UIDs the model can hold */

struct mmsg {
	int		 live;
	char		 base[16];
	char		 info[16];
	unsigned	 flags;
	uint32_t	 kw;
	uint64_t	 modseq, vsize;
	int64_t		 mtime;
	int		 in_new;
	uint64_t	 xmodseq;	/* when expunged, else 0 */
};

struct model {
	struct mmsg	 m[MU];
	uint32_t	 next;
	uint64_t	 hms;
	uint32_t	 first_recent;
};

static unsigned	 rnd_state = 12345;

static unsigned
rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return (rnd_state >> 8) % n;
}

static uint32_t
model_pick_live(const struct model *md)
{
	uint32_t u, tries;

	for (tries = 0; tries < 50; tries++) {
		u = 1 + rnd(md->next > 1 ? md->next - 1 : 1);
		if (u < MU && md->m[u].live)
			return u;
	}
	return 0;
}

static int	 xcheck_bad;
static const struct model *xcheck_md;

static void
xcheck_cb(void *arg, uint32_t uid, uint64_t modseq)
{
	size_t *n = arg;

	(*n)++;
	if (uid >= MU || xcheck_md->m[uid].xmodseq != modseq)
		xcheck_bad = 1;
}

/* 1 if the cache shows exactly the model. */
static int
model_same(struct uidcache *c, const struct model *md)
{
	struct uc_rec r;
	size_t i = 0, nx = 0, want_x = 0;
	uint32_t u, unseen = 0, deleted = 0, recent = 0;

	if (uidcache_uidnext(c) != md->next ||
	    uidcache_highestmodseq(c) != md->hms ||
	    uidcache_first_recent(c) != md->first_recent)
		return 0;
	for (u = 1; u < md->next; u++) {
		const struct mmsg *m = &md->m[u];

		if (m->xmodseq)
			want_x++;
		if (!m->live) {
			if (uidcache_by_uid(c, u, &r))
				return 0;
			continue;
		}
		unseen += (m->flags & MF_SEEN) == 0;
		deleted += (m->flags & MF_DELETED) != 0;
		recent += u >= md->first_recent;
		if (!uidcache_nth(c, i++, &r) || r.uid != u ||
		    strcmp(r.base, m->base) != 0 ||
		    strcmp(r.info, m->info) != 0 || r.flags != m->flags ||
		    r.keywords != m->kw || r.modseq != m->modseq ||
		    r.vsize != m->vsize || r.mtime != m->mtime ||
		    r.in_new != m->in_new)
			return 0;
		if (!uidcache_by_base(c, m->base, strlen(m->base), &r) ||
		    r.uid != u || !uidcache_by_uid(c, u, &r) ||
		    strcmp(r.base, m->base) != 0)
			return 0;
	}
	if (uidcache_count(c) != i || uidcache_nth(c, i, &r))
		return 0;
	if (uidcache_count_unseen(c) != unseen ||
	    uidcache_count_deleted(c) != deleted ||
	    uidcache_count_recent(c) != recent || !counts_exact(c))
		return 0;
	xcheck_bad = 0;
	xcheck_md = md;
	uidcache_expunged_since(c, 0, xcheck_cb, &nx);
	return !xcheck_bad && nx == want_x;
}

static void
test_model(void)
{
	char d[PATH_MAX], b[16], info[16];
	struct uidcache *c, *rd;
	static struct model work, done;
	struct mmsg *m;
	uint32_t u;
	int step, locked = 0, bad = 0, op, compactions = 0;
	ino_t ino;

	mkfolder(d, "model");
	c = xopen(d);
	rd = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	uidcache_unlock(c);
	memset(&work, 0, sizeof(work));
	work.next = 1;
	work.hms = 1;
	work.first_recent = 1;
	done = work;
	for (step = 0; step < 6000 && work.next < MU - 1; step++) {
		op = (int)rnd(100);
		if (!locked) {
			if (uidcache_lock(c) == -1)
				break;
			locked = 1;
		}
		ino = finode(d, CDB);
		if (op < 30) {
			/* a new base, or one expunged earlier coming back */
			if (rnd(4) == 0 && work.next > 1 &&
			    !work.m[u = 1 + rnd(work.next - 1)].live &&
			    !has_base(c, work.m[u].base, NULL))
				snprintf(b, sizeof(b), "%s", work.m[u].base);
			else
				snprintf(b, sizeof(b), "b%u", work.next);
			snprintf(info, sizeof(info), ":2,%s", rnd(2) ? "S" : "");
			u = uidcache_add(c, b, strlen(b), info, (int)rnd(2),
			    (unsigned)rnd(MF_ALL + 1), rnd(4), 1000 + rnd(1000),
			    (int64_t)rnd(100000));
			if (u != work.next) {
				bad++;
				break;
			}
			m = &work.m[u];
			{
				struct uc_rec r;

				uidcache_by_uid(c, u, &r);
				m->flags = r.flags;
				m->kw = r.keywords;
				m->vsize = r.vsize;
				m->mtime = r.mtime;
				m->in_new = r.in_new;
			}
			m->live = 1;
			snprintf(m->base, sizeof(m->base), "%s", b);
			snprintf(m->info, sizeof(m->info), "%s", info);
			m->modseq = ++work.hms;
			m->xmodseq = 0;
			work.next++;
		} else if (op < 55) {
			unsigned fl;
			uint32_t kw;
			int nw;

			if ((u = model_pick_live(&work)) == 0)
				continue;
			m = &work.m[u];
			fl = rnd(3) == 0 ? m->flags : (unsigned)rnd(MF_ALL + 1);
			kw = rnd(3) == 0 ? m->kw : rnd(8);
			nw = (int)rnd(2);
			snprintf(info, sizeof(info), ":2,%u", rnd(5));
			if (uidcache_update(c, u, fl, kw, info, nw) == -1) {
				bad++;
				break;
			}
			if (fl != m->flags || kw != m->kw)
				m->modseq = ++work.hms;
			m->flags = fl;
			m->kw = kw;
			m->in_new = nw;
			snprintf(m->info, sizeof(m->info), "%s", info);
		} else if (op < 59) {
			/* \Recent claimed up to somewhere not yet claimed */
			u = work.first_recent +
			    rnd(work.next - work.first_recent + 1);
			if (uidcache_set_first_recent(c, u) == -1) {
				bad++;
				break;
			}
			work.first_recent = u;
		} else if (op < 62) {
			if ((u = model_pick_live(&work)) == 0)
				continue;
			m = &work.m[u];
			m->vsize = rnd(5000);
			m->mtime = (int64_t)rnd(5000) - 2000;
			if (uidcache_set_facts(c, u, m->vsize, m->mtime) == -1) {
				bad++;
				break;
			}
		} else if (op < 80) {
			if ((u = model_pick_live(&work)) == 0)
				continue;
			if (uidcache_expunge(c, u) == -1) {
				bad++;
				break;
			}
			work.m[u].live = 0;
			work.m[u].xmodseq = ++work.hms;
		} else if (op < 92) {
			uidcache_test_compact_ops = rnd(4) == 0 ? 1 : 0;
			if (uidcache_commit(c) == -1) {
				bad++;
				break;
			}
			uidcache_test_compact_ops = 0;
			if (finode(d, CDB) != ino)
				compactions++;
			done = work;
			if (rnd(2)) {
				uidcache_unlock(c);
				locked = 0;
			}
		} else if (op < 96) {
			/* changes not committed are thrown away */
			uidcache_unlock(c);
			locked = 0;
			work = done;
		} else {
			uidcache_close(c);
			c = xopen(d);
			locked = 0;
			work = done;
		}
		if (!model_same(c, &work)) {
			fprintf(stderr, "model: step %d op %d differs\n", step,
			    op);
			bad++;
			break;
		}
		if (rnd(8) == 0) {
			if (uidcache_refresh(rd) == -1 ||
			    !model_same(rd, &done)) {
				fprintf(stderr, "model: reader differs at step "
				    "%d\n", step);
				bad++;
				break;
			}
		}
	}
	CHECK_MSG(bad == 0, "model");
	CHECK(compactions > 5);
	printf("model: %d random steps, %d compactions, %u UIDs\n", step,
	    compactions, work.next - 1);
	uidcache_close(c);
	uidcache_close(rd);
}

/* ---- 100,000 messages --------------------------------------------- */

static size_t	xcount;
static uint32_t	xmin;

static void
count_cb(void *arg, uint32_t uid, uint64_t modseq)
{
	if (xcount++ == 0 || uid < xmin)
		xmin = uid;
}

static void
test_scale(void)
{
	char d[PATH_MAX], b[64];
	struct uidcache *c;
	struct uc_rec r;
	struct mallinfo2 m0, m1;
	double t0, t_add, t_commit, t_open, t_iter, t_uid, t_base, t_lock;
	size_t i, n = 100000, heap;
	int ok = 1;

	mkfolder(d, "scale");
	c = xopen(d);
	CHECK_INT(uidcache_lock(c), 0);
	t0 = secs();
	for (i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "%zu.M%zuP4242Q%zu.host.example.org,S=%zu",
		    1700000000 + i, i * 7 % 1000000, i, 2000 + i);
		if (uidcache_add(c, b, strlen(b), ":2,S", 0, MF_SEEN, 0,
		    2100 + i, 1700000000 + (int64_t)i) != i + 1)
			ok = 0;
	}
	t_add = secs() - t0;
	t0 = secs();
	CHECK_INT(uidcache_commit(c), 0);
	t_commit = secs() - t0;
	uidcache_unlock(c);
	uidcache_close(c);
	CHECK(ok);

	m0 = mallinfo2();
	t0 = secs();
	c = xopen(d);
	t_open = secs() - t0;
	CHECK_INT(uidcache_count(c), n);
	t0 = secs();
	for (i = 0; i < n; i++)
		if (!uidcache_nth(c, i, &r) || r.uid != i + 1 ||
		    r.vsize != 2100 + i)
			ok = 0;
	t_iter = secs() - t0;
	t0 = secs();
	for (i = 0; i < n; i++)
		if (!uidcache_by_uid(c, (uint32_t)(n - i), &r))
			ok = 0;
	t_uid = secs() - t0;
	t0 = secs();
	for (i = 0; i < n; i += 1) {
		snprintf(b, sizeof(b), "%zu.M%zuP4242Q%zu.host.example.org,S=%zu",
		    1700000000 + i, i * 7 % 1000000, i, 2000 + i);
		if (!uidcache_by_base(c, b, strlen(b), &r) || r.uid != i + 1)
			ok = 0;
	}
	t_base = secs() - t0;
	CHECK(ok);
	m1 = mallinfo2();
	heap = m1.uordblks > m0.uordblks ? m1.uordblks - m0.uordblks : 0;
	printf("scale: %zu messages: add %.3f s, commit+compact %.3f s, "
	    "open %.4f s, iterate %.3f s, by uid %.3f s, by base %.3f s\n", n,
	    t_add, t_commit, t_open, t_iter, t_uid, t_base);
	printf("scale: private heap of an open cache after a full pass: "
	    "%zu bytes (%.2f per message); snapshot %lld bytes, mapped\n",
	    heap, (double)heap / (double)n, (long long)fsize(d, CDB));
	/* read rather than mapped, the snapshot itself is on the heap */
	if (mapfile_mode() == MAPFILE_NEVER)
		CHECK(heap < (size_t)fsize(d, CDB) + n * 32);
	else
		CHECK(heap < n * 32);

	/* the first lock verifies the checksum */
	t0 = secs();
	CHECK_INT(uidcache_lock(c), 0);
	t_lock = secs() - t0;
	/* a change to 1,000 messages lives in the journal and the heap */
	m0 = mallinfo2();
	for (i = 1; i <= 1000; i++)
		uidcache_update(c, (uint32_t)(i * 50), MF_SEEN | MF_FLAGGED, 0,
		    ":2,FS", 0);
	CHECK_INT(uidcache_commit(c), 0);
	m1 = mallinfo2();
	printf("scale: first lock (checksum) %.3f s; 1000 flag changes in the "
	    "journal cost %zu bytes of heap\n", t_lock,
	    (size_t)(m1.uordblks - m0.uordblks));

	/* expunge everything, then some more: the list keeps the newest
	 * UC_EXPUNGED_KEEP */
	t0 = secs();
	for (i = 1; i <= n; i++)
		if (uidcache_expunge(c, (uint32_t)i) == -1)
			ok = 0;
	CHECK_INT(uidcache_commit(c), 0);
	for (i = 0; i < 10; i++) {
		snprintf(b, sizeof(b), "late-%zu", i);
		add(c, b);
	}
	for (i = 0; i < 10; i++)
		uidcache_expunge(c, (uint32_t)(n + 1 + i));
	uidcache_test_compact_ops = 1;
	CHECK_INT(uidcache_commit(c), 0);
	uidcache_test_compact_ops = 0;
	uidcache_unlock(c);
	printf("scale: %zu expunges and two compactions %.3f s\n", n + 10,
	    secs() - t0);
	CHECK(ok);
	uidcache_close(c);
	c = xopen(d);
	CHECK_INT(uidcache_count(c), 0);
	CHECK_INT(uidcache_uidnext(c), n + 11);
	xcount = 0;
	CHECK_INT(uidcache_expunged_since(c, 0, count_cb, NULL), 0);
	CHECK_INT(xcount, UC_EXPUNGED_KEEP);
	/* the forgotten ones are the oldest ten: UIDs 1..10 */
	CHECK_INT(xmin, 11);
	xcount = 0;
	CHECK_INT(uidcache_expunged_since(c, uidcache_highestmodseq(c) - 5,
	    count_cb, NULL), 1);
	CHECK_INT(xcount, 5);
	uidcache_close(c);
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
	FILE *f;

	/* IMAPD_TEST_MMAP=no: the same checks with files read, as on a
	 * network file system (see mapfile.h) */
	if (getenv("IMAPD_TEST_MMAP") != NULL &&
	    strcmp(getenv("IMAPD_TEST_MMAP"), "no") == 0)
		mapfile_set_mode(MAPFILE_NEVER);

	if (mkdtemp(root) == NULL) {
		perror(root);
		return 2;
	}
	pathf(logpath, root, "log");
	if ((f = fopen(logpath, "a")) == NULL) {
		perror(logpath);
		return 2;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	log_to(f);
	log_init("test-uidcache", 1, LOG_USER);

	T_RUN(test_basics);
	T_RUN(test_refresh);
	T_RUN(test_compaction);
	T_RUN(test_counts);
	T_RUN(test_import);
	T_RUN(test_tree_uidvalidity);
	T_RUN(test_lock_timeout);
	T_RUN(test_torn);
	T_RUN(test_damage);
	T_RUN(test_write_errors);
	T_RUN(test_model);
	T_RUN(test_crashes);
	T_RUN(test_concurrency);
	T_RUN(test_scale);

	if (t_fail == 0)
		rmtree(root);
	else
		fprintf(stderr, "files and log kept in %s\n", root);
	return t_done();
}
