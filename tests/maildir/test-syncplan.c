/*
 * Unit tests for the sync's decisions (mb_plan_build(), mailbox-sync.c):
 * given the UID cache as it stands and a new listing of cur/ and new/,
 * which messages are added, which change names, which are expunged, and
 * which stay undecided.  The disk is not looked at: a test says where a
 * cached file the listing missed really is.
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "maildir/filename.h"
#include "maildir/mailbox-int.h"
#include "maildir/uidcache.h"
#include "tests/t.h"
#include "tests/tfile.h"

#define A	"1700000001.M1P1.host"
#define B	"1700000002.M2P1.host"
#define C	"1700000003.M3P1.host"

static char root[] = "/tmp/test-syncplan.XXXXXX";
static int nfolder;

/* what the disk would say of the cached files the listing did not show:
 * bases at their cached names, bases moved to cur/; anything else is
 * missing */
struct disk {
	const char	*at_name[4];
	const char	*in_cur[4];
	int		 asked;
};

static int
listed_in(const char *const *v, const char *base)
{
	size_t i;

	for (i = 0; i < 4 && v[i] != NULL; i++)
		if (strcmp(v[i], base) == 0)
			return 1;
	return 0;
}

static int
where(void *arg, const struct uc_rec *r)
{
	struct disk *d = arg;

	d->asked++;
	if (listed_in(d->at_name, r->base))
		return REC_AT_NAME;
	if (listed_in(d->in_cur, r->base))
		return REC_IN_CUR;
	return REC_MISSING;
}

/*
 * A folder of its own whose cache holds the messages "cur/NAME" or
 * "new/NAME" of names (NULL-ended), given UIDs in that order from 1.
 */
static struct uidcache *
cache_of(const char *const *names)
{
	struct uidcache *uc;
	char dir[64], err[256];
	const char *name, *colon;
	size_t i, baselen;
	int in_new, n;

	n = snprintf(dir, sizeof(dir), "%s/%d", root, ++nfolder);
	if (n < 0 || (size_t)n >= sizeof(dir) || mkdir(dir, 0700) == -1) {
		perror(dir);
		exit(2);
	}
	if (uidcache_open(dir, &uc, err, sizeof(err)) == -1 ||
	    uidcache_lock(uc) == -1) {
		fprintf(stderr, "test-syncplan: %s: %s\n", dir, err);
		exit(2);
	}
	for (i = 0; names[i] != NULL; i++) {
		in_new = strncmp(names[i], "new/", 4) == 0;
		name = names[i] + 4;
		colon = strchr(name, ':');
		baselen = colon != NULL ? (size_t)(colon - name) : strlen(name);
		CHECK_INT(uidcache_add(uc, name, baselen, name + baselen, in_new,
		    0, 0, MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN), i + 1);
	}
	CHECK_INT(uidcache_commit(uc), 0);
	uidcache_unlock(uc);
	return uc;
}

/* A sorted listing of "cur/NAME" and "new/NAME" names, exact or not. */
static void
listing(struct scan *sc, const char *const *names, int exact)
{
	size_t i;

	mb_scan_init(sc);
	for (i = 0; names[i] != NULL; i++)
		CHECK_INT(mb_scan_add(sc, names[i] + 4,
		    strncmp(names[i], "new/", 4) == 0, 0), 0);
	mb_scan_sort(sc);
	sc->exact = exact;
}

/* one entry of a scan as "cur/NAME" or "new/NAME" */
static int
add_entry(struct buf *out, const struct scan *sc, size_t i, int first)
{
	return buf_addf(out, "%s%s%s", first ? "" : ",",
	    sc->e[i].in_new ? "new/" : "cur/", mb_ename(sc, &sc->e[i]));
}

/* "add=... upd=... gone=... moved=... unresolved=N": the plan, added and
 * renamed messages by their listed names, expunged and moved by UID */
static const char *
decide(struct uidcache *uc, const char *const *names, int exact,
    uint32_t uid_limit, struct disk *d)
{
	static struct buf out;
	struct scan sc;
	struct plan p;
	size_t i;
	int r = 0;

	buf_free(&out);
	buf_init(&out, 4096);
	listing(&sc, names, exact);
	if (mb_plan_build(uc, &sc, uid_limit, where, d, &p) == -1) {
		mb_scan_free(&sc);
		return "failed";
	}
	r |= buf_adds(&out, "add=");
	for (i = 0; i < p.nadd; i++)
		r |= add_entry(&out, &sc, p.add[i], i == 0);
	r |= buf_adds(&out, " upd=");
	for (i = 0; i < p.nupd; i++)
		r |= add_entry(&out, &sc, p.upd[i], i == 0);
	r |= buf_adds(&out, " gone=");
	for (i = 0; i < p.ngone; i++)
		r |= buf_addf(&out, "%s%u", i ? "," : "", p.gone[i]);
	r |= buf_adds(&out, " moved=");
	for (i = 0; i < p.nmoved; i++)
		r |= buf_addf(&out, "%s%u", i ? "," : "", p.moved[i]);
	r |= buf_addf(&out, " unresolved=%zu", p.unresolved);
	mb_plan_free(&p);
	mb_scan_free(&sc);
	return r == 0 ? buf_cstr(&out) : "out of memory";
}

static const char *const two[] = { "cur/" A ":2,S", "new/" B, NULL };

/* nothing changed: nothing to do, and the disk is not asked */
static void
test_unchanged(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const now[] = { "new/" B, "cur/" A ":2,S", NULL };

	CHECK_STR(decide(uc, now, 1, 3, &d),
	    "add= upd= gone= moved= unresolved=0");
	CHECK_INT(d.asked, 0);
	uidcache_close(uc);
}

/* a base the cache does not know is added, whichever directory */
static void
test_new_files(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const now[] = { "cur/" A ":2,S", "new/" B, "new/" C,
	    NULL };
	const char *const cur[] = { "cur/" A ":2,S", "new/" B,
	    "cur/" C ":2,FS", NULL };

	CHECK_STR(decide(uc, now, 1, 3, &d),
	    "add=new/" C " upd= gone= moved= unresolved=0");
	CHECK_STR(decide(uc, cur, 0, 3, &d),
	    "add=cur/" C ":2,FS upd= gone= moved= unresolved=0");
	uidcache_close(uc);
}

/* a mail reader moved B from new/ to cur/, or set a flag on A: the same
 * message under another name, so the same UID */
static void
test_renames(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const moved[] = { "cur/" A ":2,S", "cur/" B ":2,", NULL };
	const char *const flagged[] = { "cur/" A ":2,FS", "new/" B, NULL };
	const char *const both[] = { "cur/" A ":2,", "cur/" B ":2,S", NULL };

	CHECK_STR(decide(uc, moved, 1, 3, &d),
	    "add= upd=cur/" B ":2, gone= moved= unresolved=0");
	CHECK_STR(decide(uc, flagged, 1, 3, &d),
	    "add= upd=cur/" A ":2,FS gone= moved= unresolved=0");
	CHECK_STR(decide(uc, both, 1, 3, &d),
	    "add= upd=cur/" A ":2,,cur/" B ":2,S gone= moved= unresolved=0");
	CHECK_INT(d.asked, 0);
	uidcache_close(uc);
}

/* a cached file no listing shows and the disk does not have: expunged
 * only by an exact listing, and only if its UID was given before the
 * listing began */
static void
test_vanished(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const now[] = { "new/" B, NULL };

	CHECK_STR(decide(uc, now, 1, 3, &d),
	    "add= upd= gone=1 moved= unresolved=0");
	CHECK_INT(d.asked, 1);
	/* other programs renamed files while it ran */
	CHECK_STR(decide(uc, now, 0, 3, &d),
	    "add= upd= gone= moved= unresolved=1");
	/* A was given its UID after the listing began */
	CHECK_STR(decide(uc, now, 1, 1, &d),
	    "add= upd= gone= moved= unresolved=1");
	uidcache_close(uc);
}

/* the listing missed a file that is still there (renamed after it was
 * read, and back): nothing to do */
static void
test_listing_missed_a_file(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { A }, { NULL }, 0 };
	const char *const now[] = { "new/" B, NULL };

	CHECK_STR(decide(uc, now, 1, 3, &d),
	    "add= upd= gone= moved= unresolved=0");
	CHECK_INT(d.asked, 1);
	uidcache_close(uc);
}

/* B, cached in new/, was moved to cur/ after the listing read cur/: it
 * is found there, moved, not expunged */
static void
test_moved_after_listing(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { B }, 0 };
	const char *const now[] = { "cur/" A ":2,S", NULL };

	CHECK_STR(decide(uc, now, 1, 3, &d),
	    "add= upd= gone= moved=2 unresolved=0");
	uidcache_close(uc);
}

/*
 * A vanished and came back.  While the listings that miss it are not
 * exact it stays, and when it is listed again it is the same message.
 * Once an exact listing expunged it, a file of that base is a new
 * message with a new UID: a UID is never given twice.
 */
static void
test_vanished_and_reappeared(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const without[] = { "new/" B, NULL };
	const char *const with[] = { "cur/" A ":2,S", "new/" B, NULL };
	struct uc_rec r;

	CHECK_STR(decide(uc, without, 0, 3, &d),
	    "add= upd= gone= moved= unresolved=1");
	CHECK_STR(decide(uc, with, 1, 3, &d),
	    "add= upd= gone= moved= unresolved=0");
	CHECK_STR(decide(uc, without, 1, 3, &d),
	    "add= upd= gone=1 moved= unresolved=0");
	CHECK_INT(uidcache_lock(uc), 0);
	CHECK_INT(uidcache_expunge(uc, 1), 0);
	CHECK_INT(uidcache_commit(uc), 0);
	uidcache_unlock(uc);
	CHECK_STR(decide(uc, with, 1, 3, &d),
	    "add=cur/" A ":2,S upd= gone= moved= unresolved=0");
	CHECK_INT(uidcache_lock(uc), 0);
	CHECK_INT(uidcache_add(uc, A, strlen(A), ":2,S", 0, MF_SEEN, 0,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN), 3);
	CHECK_INT(uidcache_commit(uc), 0);
	uidcache_unlock(uc);
	CHECK(uidcache_by_base(uc, A, strlen(A), &r) && r.uid == 3);
	uidcache_close(uc);
}

/* Two files of one base (a copy made with cp -p): the one the cache
 * knows by its name keeps the UID, so nothing is renamed in the cache;
 * an unknown base is added once, by its first name (cur/ first). */
static void
test_broken_copy(void)
{
	struct uidcache *uc = cache_of(two);
	struct disk d = { { NULL }, { NULL }, 0 };
	const char *const copies[] = { "cur/" A ":2,S", "new/" A,
	    "cur/" B ":2,F", "new/" B, NULL };
	const char *const unknown[] = { "cur/" A ":2,S", "new/" B,
	    "new/" C, "cur/" C ":2,T", NULL };

	CHECK_STR(decide(uc, copies, 1, 3, &d),
	    "add= upd= gone= moved= unresolved=0");
	CHECK_STR(decide(uc, unknown, 1, 3, &d),
	    "add=cur/" C ":2,T upd= gone= moved= unresolved=0");
	uidcache_close(uc);
}

/* ---- the listing's order ------------------------------------------ */

struct refname {
	char	 name[64];
	size_t	 baselen;
	int	 in_new;
};

/* The order the sync's plan relies on, written out plainly: bases in
 * byte order (a shorter one first), then cur/ before new/, then the
 * whole name. */
static int
ref_cmp(const void *a, const void *b)
{
	const struct refname *x = a, *y = b;
	size_t n = x->baselen < y->baselen ? x->baselen : y->baselen;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	if (x->baselen != y->baselen)
		return x->baselen < y->baselen ? -1 : 1;
	if (x->in_new != y->in_new)
		return x->in_new - y->in_new;
	return strcmp(x->name, y->name);
}

/*
 * A listing large enough for the radix sort, whose bases share their
 * first 16 bytes in runs (deliveries in the same second and the same
 * first microsecond digits), come in lengths that differ only past 16
 * bytes or end before it, and sometimes sit in both new/ and cur/, comes
 * out in the plain order, names intact.
 */
static void
test_sort_order(void)
{
	enum { N = 5000 };
	struct refname *ref = calloc(N, sizeof(*ref));
	struct scan sc;
	size_t i, same = 0;
	unsigned seed = 12345;

	if (ref == NULL)
		exit(2);
	for (i = 0; i < N; i++) {
		unsigned r;

		seed = seed * 1103515245U + 12345U;
		r = seed >> 8;
		switch (r % 5) {
		case 0:		/* ends before 16 bytes */
			snprintf(ref[i].name, sizeof(ref[i].name),
			    "%u.x%zu", r % 97, i);
			break;
		case 1:		/* a duplicate base of an earlier one */
			if (i > 0 && ref[i - 1].name[0] != '\0') {
				memcpy(ref[i].name, ref[i - 1].name,
				    ref[i - 1].baselen);
				ref[i].name[ref[i - 1].baselen] = '\0';
				break;
			}
			/* FALLTHROUGH */
		default:
			snprintf(ref[i].name, sizeof(ref[i].name),
			    "17000%05u.M%uP%zu.host%s", r % 7, r % 13, i,
			    r % 3 ? "" : "-long");
			break;
		}
		ref[i].baselen = strlen(ref[i].name);
		ref[i].in_new = (r >> 4) % 2;
		if (!ref[i].in_new)
			snprintf(ref[i].name + ref[i].baselen,
			    sizeof(ref[i].name) - ref[i].baselen, ":2,%s",
			    r % 4 ? "S" : "");
	}
	mb_scan_init(&sc);
	for (i = 0; i < N; i++)
		CHECK_INT(mb_scan_add(&sc, ref[i].name, ref[i].in_new, 0), 0);
	mb_scan_sort(&sc);
	qsort(ref, N, sizeof(*ref), ref_cmp);
	CHECK_INT(sc.n, N);
	for (i = 0; i < N && i < sc.n; i++)
		if (strcmp(mb_ename(&sc, &sc.e[i]), ref[i].name) == 0 &&
		    sc.e[i].in_new == ref[i].in_new &&
		    sc.e[i].baselen == ref[i].baselen)
			same++;
	CHECK_INT(same, N);
	mb_scan_free(&sc);
	free(ref);
}

int
main(void)
{
	if (mkdtemp(root) == NULL) {
		perror(root);
		return 2;
	}
	T_RUN(test_unchanged);
	T_RUN(test_new_files);
	T_RUN(test_renames);
	T_RUN(test_vanished);
	T_RUN(test_listing_missed_a_file);
	T_RUN(test_moved_after_listing);
	T_RUN(test_vanished_and_reappeared);
	T_RUN(test_broken_copy);
	T_RUN(test_sort_order);
	t_scratch_done(root);
	return t_done();
}
