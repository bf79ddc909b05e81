/*
 * Unit tests for maildir/uidcache under stress: crashes at every
 * numbered write step (of appends, of commits written as snapshots, of
 * a first scan, of a snapshot that fails and falls back to the
 * journal), eight concurrent writers, the folder counters against a
 * full count after every step of a random model, and 100,000 messages.
 * The contract's plain cases are in test-uidcache.c.
 */
#include "tests/maildir/uidcache-fixture.h"

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
 *   fill	first's messages given at once to the new cache by
 *		uidcache_fill(), as a folder's first sync does
 */
enum crashkind { K_PLAIN, K_COMPACT, K_TORN, K_CREATE, K_DAMAGE, K_LOGFIX,
    K_DIRECT, K_FIRST, K_FALLBACK, K_FILL };

static const char *const kindname[] = { "plain", "compact", "torn",
    "create", "damage", "logfix", "direct", "first", "fallback", "fill" };

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

	if (kind == K_CREATE || kind == K_FIRST || kind == K_FILL)
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

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* uidcache_fill()'s source for K_FILL: names sorted, new-1 seen, new-3
 * deleted, as crash_changes() adds them one by one. */
static int
fill_src(void *arg, size_t i, struct uc_new *m)
{
	char **names = arg;

	m->base = names[i];
	m->baselen = strlen(names[i]);
	m->flags = strcmp(names[i], "new-1") == 0 ? MF_SEEN :
	    strcmp(names[i], "new-3") == 0 ? MF_DELETED : 0;
	m->info = m->flags == MF_SEEN ? ":2,S" : m->flags == MF_DELETED ?
	    ":2,T" : ":2,";
	m->vsize = MD_SIZE_UNKNOWN;
	m->in_new = 0;
	return 1;
}

/* K_FILL's changes: the same messages as K_FIRST's, given at once. */
static int
crash_fill(struct uidcache *c)
{
	struct uc_fill in;
	char **names, b[32];
	size_t i, n = BULK + 3;
	int r;

	if ((names = calloc(n, sizeof(*names))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (i < 3)
			snprintf(b, sizeof(b), "new-%zu", i + 1);
		else
			snprintf(b, sizeof(b), "bulk-%zu", i - 3);
		if ((names[i] = strdup(b)) == NULL)
			return -1;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	memset(&in, 0, sizeof(in));
	in.n = n;
	in.namebytes = n * 16;
	in.get = fill_src;
	in.arg = names;
	r = uidcache_fill(c, &in);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r == 0 ? 0 : -1;
}

/* The changes of the commit that crashes: three new messages, BULK more
 * for the kinds that need a big commit, and the expunge of UID 7 where
 * there is one. */
static int
crash_changes(struct uidcache *c, enum crashkind kind)
{
	char b[32];
	int i;

	if (kind == K_FILL)
		return crash_fill(c);
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
	if (kind == K_FILL)
		uidcache_test_step = crash_hook;
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
		if (kind == K_FILL)
			uidcache_test_step = record_hook;
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

/* A folder's first commit, one by one or at once. */
static int
first_sync(enum crashkind kind)
{
	return kind == K_FIRST || kind == K_FILL;
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
		if (first_sync(kind))
			/* made by the lock, before the commit */
			CHECK_MSG(uv1 != 0 && uv1 == uv_obs, "%s step %d: "
			    "UIDVALIDITY %u, seen %u", kindname[kind], step,
			    uv1, uv_obs);
		else
			CHECK_MSG(uv1 == uv0, "%s step %d: UIDVALIDITY %u -> "
			    "%u", kindname[kind], step, uv0, uv1);
		nnew = has_base(c, "new-1", NULL) + has_base(c, "new-2", NULL) +
		    has_base(c, "new-3", NULL);
		CHECK_MSG(nnew == 0 || nnew == 3, "%s step %d: %d of 3 new",
		    kindname[kind], step, nnew);
		nbulk = bulk_count(c);
		CHECK_MSG(nbulk == ((kind == K_DIRECT || first_sync(kind)) &&
		    nnew == 3 ? BULK : 0), "%s step %d: %d of the bulk",
		    kindname[kind], step, nbulk);
		old_ok = 1;
		for (i = 0; !first_sync(kind) && i < 20; i++) {
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
		if (!first_sync(kind))
			CHECK_MSG(uidcache_by_uid(c, 7, &r) == (nnew == 0) &&
			    uidcache_by_uid(c, 8, &r) &&
			    (r.flags == MF_SEEN) == (nnew == 0),
			    "%s step %d: other changes not with their commit",
			    kindname[kind], step);
		if (first_sync(kind))
			CHECK_MSG(uidcache_count(c) == (nnew ? BULK + 3 : 0),
			    "%s step %d: %zu messages", kindname[kind], step,
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
	if (first_sync(kind))
		CHECK_MSG(uidcache_uidvalidity(c) == uv1, "%s step %d: "
		    "UIDVALIDITY %u after %u", kindname[kind], step,
		    uidcache_uidvalidity(c), uv1);
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
	    K_CREATE, K_DAMAGE, K_LOGFIX, K_DIRECT, K_FIRST, K_FALLBACK,
	    K_FILL };
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
		    first_sync(kinds[k]))
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

/* ---- main --------------------------------------------------------- */

int
main(void)
{
	if (fixture_begin("test-uidcache-stress") != 0)
		return 2;
	T_RUN(test_model);
	T_RUN(test_crashes);
	T_RUN(test_concurrency);
	T_RUN(test_scale);
	return fixture_end();
}
