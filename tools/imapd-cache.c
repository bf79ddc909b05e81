/*
 * imapd-cache: the administrator's tool for a folder's UID cache,
 * structure cache and full-text index (imapd-uidcache(5)).  See
 * imapd-cache(8).
 *
 *	imapd-cache [--as-owner] [--summary] folder	show the caches
 *	imapd-cache [--as-owner] --verify folder	check them
 *	imapd-cache [--as-owner] --rebuild [--yes] folder
 *	imapd-cache [--as-owner] --import dovecot|courier [--force] [--yes]
 *	    folder
 *	imapd-cache [--as-owner] --rebuild-structure [--yes] folder
 *	imapd-cache [--as-owner] --rebuild-search [--yes] folder
 *
 * Nothing is changed without --yes: --rebuild and --import then say what
 * they would do, file by file, by doing it to a copy of the folder's
 * names (empty files) and caches in a temporary directory with the
 * store's own code, so that what is shown is what the store would do,
 * not a guess at it.
 *
 * Every change goes through the store (maildir/uidcache.c, msgcache.c),
 * so it takes the locks imapd takes and is safe while imapd serves the
 * folder: sessions that have it selected see the new UIDVALIDITY and end
 * with BYE.  As root, the tool works on a folder that root does not own
 * only with --as-owner, and then as the owner, so that every file it
 * makes belongs to whoever owns the folder.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/privdrop.h"
#include "common/lib/sorted.h"
#include "common/mail/preview.h"
#include "maildir/filename.h"
#include "maildir/ftsindex.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"
#include "maildir/storelock.h"
#include "maildir/uidcache.h"

#define EX_PROBLEM	1	/* --verify found something wrong */
#define EX_FAIL		2
#define FLUSH_EVERY	500	/* structure entries between appends */
#define INDEX_BATCH	(8 * 1024 * 1024)	/* postings between writes */
#define INDEX_MSG_MAX	((uint64_t)16 * 1024 * 1024)	/* as sessions */
#define LOCK_TRIES	100	/* 100 ms apart, while a session writes */

enum action { A_SHOW, A_VERIFY, A_REBUILD, A_IMPORT, A_STRUCTURE,
	A_SEARCH };

struct opts {
	enum action	 action;
	enum uc_from	 from;
	const char	*dir;
	int		 yes, force, as_owner, summary;
};

/* A message as a cache names it: base and UID, sorted by base. */
struct named {
	char		*base;
	uint32_t	 uid;
};

struct namemap {
	struct named	*v;
	size_t		 n;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: imapd-cache [--as-owner] [--summary] folder\n"
	    "       imapd-cache [--as-owner] --verify folder\n"
	    "       imapd-cache [--as-owner] --rebuild [--yes] folder\n"
	    "       imapd-cache [--as-owner] --import dovecot|courier "
	    "[--force] [--yes] folder\n"
	    "       imapd-cache [--as-owner] --rebuild-search [--yes] "
	    "folder\n"
	    "       imapd-cache [--as-owner] --rebuild-structure [--yes] "
	    "folder\n");
	exit(status);
}

static int
named_cmp(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->base,
	    ((const struct named *)b)->base);
}

/* The base -> UID map of dir's cache as it is now. */
static void
namemap_load(const char *dir, struct namemap *m)
{
	struct uidcache *uc;
	struct uc_rec r;
	char why[512];
	size_t i, n;

	m->v = NULL;
	m->n = 0;
	if (uidcache_open(dir, &uc, why, sizeof(why)) == -1)
		errx(EX_FAIL, "%s", why);
	n = uidcache_count(uc);
	if (n > 0 && (m->v = calloc(n, sizeof(*m->v))) == NULL)
		errx(EX_FAIL, "out of memory");
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(uc, i, &r))
			continue;
		if ((m->v[m->n].base = strdup(r.base)) == NULL)
			errx(EX_FAIL, "out of memory");
		m->v[m->n++].uid = r.uid;
	}
	uidcache_close(uc);
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), named_cmp);
}

struct base_key {
	const struct namemap	*m;
	const char		*base;
};

static int
named_before(const void *arg, size_t i)
{
	const struct base_key *k = arg;

	return strcmp(k->m->v[i].base, k->base) < 0;
}

/* The entry of m for base, or NULL. */
static struct named *
namemap_find(const struct namemap *m, const char *base)
{
	struct base_key k = { m, base };
	size_t i = sorted_bound(0, m->n, named_before, &k);

	return i < m->n && strcmp(m->v[i].base, base) == 0 ? &m->v[i] : NULL;
}

static uint32_t
namemap_uid(const struct namemap *m, const char *base)
{
	struct named *p = namemap_find(m, base);

	return p != NULL ? p->uid : 0;
}

static void
namemap_free(struct namemap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->v[i].base);
	free(m->v);
}

/* ---- showing ----------------------------------------------------- */

static void
show_check(const struct uc_check *ck)
{
	if (!ck->present)
		printf("uid cache      none yet (the next session that opens "
		    "the folder creates it)\n");
	else if (ck->damage != NULL)
		printf("uid cache      DAMAGED: %s (the next session sets it "
		    "aside and starts a new one with a greater UIDVALIDITY)\n",
		    ck->damage);
	else
		printf("uid cache      generation %016llx, snapshot %llu "
		    "bytes, journal %llu bytes%s%s\n",
		    (unsigned long long)ck->generation,
		    (unsigned long long)ck->snapshot_bytes,
		    (unsigned long long)ck->journal_bytes, ck->torn ?
		    " (an incomplete commit at its end, from a crash: the "
		    "next writer cuts it off)" : "", ck->unfinished ?
		    " (a compaction to finish: the next writer does)" : "");
}

static void
show_foreign(const char *dir, enum uc_from from, const char *file,
    uint32_t current)
{
	uint32_t uv, next;
	size_t n;

	if (uidcache_foreign(dir, from, &uv, &next, &n) != 1)
		return;
	printf("  %10u  %s (%zu UIDs, next %u)%s\n", uv, file, n, next,
	    uv == current ? ": the cache took it over" : "");
}

static void
show_history(const char *dir, const struct uc_check *ck)
{
	printf("UIDVALIDITY history (what the folder's files still tell):\n");
	if (ck->uidvalidity != 0)
		printf("  %10u  the cache's, now\n", ck->uidvalidity);
	if (ck->aside_uv != 0)
		printf("  %10u  a cache set aside (imapd-uidcache.*.damaged)\n",
		    ck->aside_uv);
	if (ck->stored_uv != 0)
		printf("  %10u  the greatest given to this folder "
		    "(imapd-uidvalidity)\n", ck->stored_uv);
	if (ck->tree_uv != 0)
		printf("  %10u  the greatest given to any folder of the "
		    "Maildir (imapd-uidvalidity-max)\n", ck->tree_uv);
	show_foreign(dir, UC_FROM_DOVECOT, "dovecot-uidlist",
	    ck->uidvalidity);
	show_foreign(dir, UC_FROM_COURIER, "courierimapuiddb",
	    ck->uidvalidity);
}

static void
show_structure(const char *dir, uint32_t uv, struct msgcache_check *mc)
{
	if (msgcache_check(dir, uv, mc, NULL, NULL) == -1)
		errx(EX_FAIL, "out of memory");
	if (mc->snapshot == 0)
		printf("structure cache  no snapshot");
	else if (mc->snapshot < 0)
		printf("structure cache  imapd-msgcache.cdb is not one");
	else if (mc->version != 3 || mc->snapshot_uv != uv)
		printf("structure cache  snapshot of version %u, UIDVALIDITY "
		    "%u: not this cache's, ignored (the next compaction "
		    "replaces it)", mc->version, mc->snapshot_uv);
	else
		printf("structure cache  snapshot: %zu entries%s", mc->entries,
		    mc->bad ? "" : ", all sound");
	if (mc->bad > 0)
		printf(", %zu DAMAGED (ignored)", mc->bad);
	printf("; log: %zu entries, %llu bytes", mc->log_entries,
	    (unsigned long long)mc->log_bytes);
	if (mc->log_unread > 0)
		printf(" (%llu at its end unused: torn, damaged or of another "
		    "UIDVALIDITY)", (unsigned long long)mc->log_unread);
	putchar('\n');
}

/* The full-text index, checked list by list: 0, or the number of
 * problems (damage, lists that do not hold together). */
static int
show_search(const char *dir, uint32_t uv, struct ftsindex_info *fi_r)
{
	struct ftsindex_info info;
	struct ftsindex *fi;

	if ((fi = ftsindex_open(dir, uv)) == NULL ||
	    ftsindex_inspect(fi, &info) == -1)
		errx(EX_FAIL, "out of memory");
	ftsindex_close(fi);
	switch (info.state) {
	case FTSINDEX_NONE:
		printf("search index   none (sessions build it; "
		    "search_index = no turns it off)\n");
		break;
	case FTSINDEX_FOREIGN:
		printf("search index   of another version or UIDVALIDITY: "
		    "not used (the next session replaces it)\n");
		break;
	case FTSINDEX_DAMAGED:
		printf("search index   DAMAGED: not used (the next session "
		    "sets it aside and builds it again)\n");
		break;
	case FTSINDEX_OK:
		printf("search index   snapshot %llu KiB (%zu keys), journal "
		    "%llu KiB (%zu records); %zu covered UID ranges; %zu lists"
		    "%s", (unsigned long long)info.snapshot_bytes / 1024,
		    info.keys, (unsigned long long)info.journal_bytes / 1024,
		    info.records, info.ranges, info.lists,
		    info.bad_lists ? "" : ", all sound\n");
		if (info.bad_lists > 0)
			printf(", %zu DAMAGED\n", info.bad_lists);
		break;
	}
	if (fi_r != NULL)
		*fi_r = info;
	return (info.state == FTSINDEX_DAMAGED) + (info.bad_lists > 0);
}

/* How many of the cache's messages the index covers. */
static void
show_coverage(const char *dir, struct uidcache *uc)
{
	struct ftsindex *fi;
	struct uc_rec r;
	size_t i, n = uidcache_count(uc), covered = 0;

	if ((fi = ftsindex_open(dir, uidcache_uidvalidity(uc))) == NULL)
		errx(EX_FAIL, "out of memory");
	for (i = 0; i < n; i++)
		if (uidcache_nth(uc, i, &r) && ftsindex_covered(fi, r.uid))
			covered++;
	ftsindex_close(fi);
	printf("search index   covers %zu of %zu messages (the others are "
	    "read by each search until a session indexes them)\n", covered,
	    n);
}

static void
show(const struct opts *o)
{
	struct msgcache_check mck;
	struct msgcache_rec mr;
	struct msgcache *mc;
	struct uidcache *uc;
	struct uc_check ck;
	struct uc_rec r;
	char why[512], fl[64], size[24];
	size_t i, n;

	if (uidcache_check(o->dir, &ck) == -1)
		err(EX_FAIL, "%s", o->dir);
	if (uidcache_open(o->dir, &uc, why, sizeof(why)) == -1)
		errx(EX_FAIL, "%s", why);
	printf("folder         %s\n", o->dir);
	show_check(&ck);
	if (uidcache_uidvalidity(uc) != 0) {
		printf("uidvalidity    %u\nuidnext        %u\n"
		    "highestmodseq  %llu\nmessages       %zu (unseen %u, "
		    "deleted %u, recent %u)\n", uidcache_uidvalidity(uc),
		    uidcache_uidnext(uc),
		    (unsigned long long)uidcache_highestmodseq(uc),
		    uidcache_count(uc), uidcache_count_unseen(uc),
		    uidcache_count_deleted(uc), uidcache_count_recent(uc));
	}
	show_history(o->dir, &ck);
	show_structure(o->dir, uidcache_uidvalidity(uc), &mck);
	(void)show_search(o->dir, uidcache_uidvalidity(uc), NULL);
	show_coverage(o->dir, uc);
	if (o->summary || uidcache_count(uc) == 0) {
		uidcache_close(uc);
		return;
	}
	mc = msgcache_open(o->dir, uidcache_uidvalidity(uc));
	printf("%10s %10s %10s %-8s %-6s %s\n", "UID", "MODSEQ", "SIZE",
	    "FLAGS", "STRUCT", "FILE");
	n = uidcache_count(uc);
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(uc, i, &r))
			continue;
		mdname_flagstr(fl, sizeof(fl), r.flags, r.keywords, "");
		if (r.vsize == MD_SIZE_UNKNOWN ||
		    snprintf(size, sizeof(size), "%llu",
		    (unsigned long long)r.vsize) >= (int)sizeof(size))
			memcpy(size, "-", 2);
		memset(&mr, 0, sizeof(mr));
		if (mc == NULL || !msgcache_get(mc, r.uid, &mr))
			memset(&mr, 0, sizeof(mr));
		printf("%10u %10llu %10s %-8s %c%c%c%c   %s/%s%s\n", r.uid,
		    (unsigned long long)r.modseq, size, fl[0] ? fl : "-",
		    mr.envelope_len ? 'E' : '-', mr.body_len ? 'B' : '-',
		    mr.bodystructure_len ? 'S' : '-',
		    mr.preview != NULL ? 'P' : '-', r.in_new ? "new" : "cur",
		    r.base, r.info);
	}
	msgcache_close(mc);
	uidcache_close(uc);
}

/* ---- verifying --------------------------------------------------- */

static void
list_dir(const char *dir, const char *sub, struct buf *names)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (n < 0 || (size_t)n >= sizeof(path))
		errx(EX_FAIL, "%s: path too long", dir);
	if ((d = opendir(path)) == NULL)
		err(EX_FAIL, "%s", path);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (buf_addf(names, "%s/%s", sub, de->d_name) == -1 ||
		    buf_addc(names, '\0') == -1)
			errx(EX_FAIL, "out of memory");
	}
	closedir(d);
}

/* Every "cur/name" and "new/name" of dir, NUL-separated, in names. */
static void
list_files(const char *dir, struct buf *names)
{
	buf_init(names, SIZE_MAX / 2);
	list_dir(dir, "cur", names);
	list_dir(dir, "new", names);
}

static int problems;

static void __attribute__((format(printf, 1, 2)))
problem(const char *fmt, ...)
{
	va_list ap;

	problems++;
	fputs("PROBLEM: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

struct stale {
	struct uidcache	*uc;
	size_t		 stale;
};

static void
count_stale(void *arg, uint32_t uid)
{
	struct stale *st = arg;
	struct uc_rec r;

	if (!uidcache_by_uid(st->uc, uid, &r))
		st->stale++;
}

static void
verify_files(const struct opts *o)
{
	struct namemap cached;
	struct named *hit;
	struct buf names;
	struct mdname mn;
	const char *p, *end, *name;
	char *base;
	size_t nofile = 0, nouid = 0, twice = 0, i, nfiles = 0;
	unsigned char *seen;

	namemap_load(o->dir, &cached);
	list_files(o->dir, &names);
	/* how many files each cached base has */
	seen = cached.n > 0 ? calloc(cached.n, 1) : NULL;
	if (cached.n > 0 && seen == NULL)
		errx(EX_FAIL, "out of memory");
	for (p = names.data, end = p + names.len; p != NULL && p < end;
	    p += strlen(p) + 1) {
		name = p + 4;
		nfiles++;
		if (mdname_parse(name, &mn) == -1 ||
		    (base = strndup(name, mn.baselen)) == NULL)
			continue;
		hit = namemap_find(&cached, base);
		if (hit == NULL)
			nouid++;
		else if (seen[hit - cached.v]++ == 1)
			twice++;
		free(base);
	}
	for (i = 0; i < cached.n; i++)
		if (seen[i] == 0)
			nofile++;
	printf("files          %zu in cur/ and new/; %zu without a UID yet "
	    "(the next session gives them one), %zu cached messages "
	    "without a file (expunged at the next session)\n", nfiles, nouid,
	    nofile);
	if (twice > 0)
		printf("note           %zu base names have two files (a "
		    "restored copy or a redelivery: the next session gives "
		    "the second its own name)\n", twice);
	free(seen);
	buf_free(&names);
	namemap_free(&cached);
}

static void
verify(const struct opts *o)
{
	struct msgcache_check mck;
	struct uidcache *uc;
	struct uc_check ck;
	struct stale st;
	char why[512];

	if (uidcache_check(o->dir, &ck) == -1)
		err(EX_FAIL, "%s", o->dir);
	printf("folder         %s\n", o->dir);
	show_check(&ck);
	if (ck.damage != NULL)
		problem("the UID cache is damaged (%s): imapd-cache --rebuild "
		    "--yes replaces it now, or the next session does",
		    ck.damage);
	if (ck.uidvalidity != 0 && ck.stored_uv < ck.uidvalidity)
		problem("imapd-uidvalidity (%u) is below the cache's "
		    "UIDVALIDITY (%u): a rebuild might give this folder a "
		    "UIDVALIDITY it had", ck.stored_uv, ck.uidvalidity);
	if (ck.tree_uv != 0 && ck.tree_uv < ck.stored_uv)
		problem("imapd-uidvalidity-max (%u) is below this folder's "
		    "imapd-uidvalidity (%u): a folder deleted and created "
		    "again might repeat a UIDVALIDITY", ck.tree_uv,
		    ck.stored_uv);
	if (uidcache_open(o->dir, &uc, why, sizeof(why)) == -1)
		errx(EX_FAIL, "%s", why);
	verify_files(o);
	st.uc = uc;
	st.stale = 0;
	if (msgcache_check(o->dir, uidcache_uidvalidity(uc), &mck, count_stale,
	    &st) == -1)
		errx(EX_FAIL, "out of memory");
	show_structure(o->dir, uidcache_uidvalidity(uc), &mck);
	if (mck.bad > 0)
		problem("%zu structure cache entries fail their checksum "
		    "(sessions ignore them): imapd-cache --rebuild-structure "
		    "--yes writes it anew", mck.bad);
	if (st.stale > 0)
		printf("note           %zu structure cache entries are of "
		    "expunged messages (dropped at the next compaction)\n",
		    st.stale);
	if (show_search(o->dir, uidcache_uidvalidity(uc), NULL) > 0)
		problem("the full-text index is damaged (sessions do not use "
		    "it): imapd-cache --rebuild-search --yes builds it anew, "
		    "or the next session does");
	uidcache_close(uc);
	printf("%s\n", problems == 0 ? "verdict: the caches are sound" :
	    "verdict: problems found");
}

/* ---- rebuilding -------------------------------------------------- */

static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return;
		err(EX_FAIL, "%s", from);
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		err(EX_FAIL, "%s", to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			err(EX_FAIL, "%s", to);
	if (n == -1 || close(out) == -1)
		err(EX_FAIL, "%s", to);
	close(in);
}

static void
pathcat(char *out, const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", a, b);

	if (n < 0 || n >= PATH_MAX)
		errx(EX_FAIL, "%s: path too long", a);
}

/*
 * A trial folder: the names of the folder's files (as empty files), its
 * caches and UIDVALIDITY records, and the Maildir's greatest
 * UIDVALIDITY, in a new temporary directory.
 */
static void
trial_make(const char *dir, char *tmp, const struct uc_check *ck)
{
	static const char *const keep[] = { "imapd-uidcache.cdb",
	    "imapd-uidcache.log", "imapd-uidcache.log.new",
	    "imapd-uidvalidity", "dovecot-uidlist", "courierimapuiddb" };
	char a[PATH_MAX], b[PATH_MAX], v[16];
	const char *p, *end;
	struct buf names;
	size_t i;
	int fd, n;

	n = snprintf(tmp, PATH_MAX, "%s/imapd-cache.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (n < 0 || n >= PATH_MAX || mkdtemp(tmp) == NULL)
		err(EX_FAIL, "cannot make a temporary directory");
	for (i = 0; i < 3; i++) {
		pathcat(a, tmp, (const char *[]){ "cur", "new", "tmp" }[i]);
		if (mkdir(a, 0700) == -1)
			err(EX_FAIL, "%s", a);
	}
	list_files(dir, &names);
	for (p = names.data, end = p + names.len; p != NULL && p < end;
	    p += strlen(p) + 1) {
		pathcat(a, tmp, p);
		if ((fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600)) == -1)
			err(EX_FAIL, "%s", a);
		close(fd);
	}
	buf_free(&names);
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		pathcat(a, dir, keep[i]);
		pathcat(b, tmp, keep[i]);
		copy_file(a, b);
	}
	if (ck->tree_uv != 0) {
		pathcat(a, tmp, "imapd-uidvalidity-max");
		n = snprintf(v, sizeof(v), "%010u\n", ck->tree_uv);
		if (n != 11 || (fd = open(a, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600)) == -1 || write(fd, v, 11) != 11 ||
		    close(fd) == -1)
			err(EX_FAIL, "%s", a);
	}
}

static void
trial_remove(const char *tmp)
{
	char a[PATH_MAX];
	struct dirent *de;
	const char *sub[] = { "cur", "new", "tmp", "" };
	size_t i;
	DIR *d;

	for (i = 0; i < 4; i++) {
		pathcat(a, tmp, sub[i]);
		if ((d = opendir(a)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char f[PATH_MAX];

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 ||
			    (i == 3 && (strcmp(de->d_name, "cur") == 0 ||
			    strcmp(de->d_name, "new") == 0 ||
			    strcmp(de->d_name, "tmp") == 0)))
				continue;
			pathcat(f, a, de->d_name);
			(void)unlink(f);
		}
		closedir(d);
		if (i < 3)
			(void)rmdir(a);
	}
	(void)rmdir(tmp);
}

/* What the cache of dir now says, against the UIDs of before. */
static void
show_changes(const char *dir, const struct namemap *before,
    uint32_t uv_before, const char *verb)
{
	struct uidcache *uc;
	struct uc_rec r;
	char why[512], was[16];
	size_t i, n, same = 0, other = 0, fresh = 0;
	uint32_t old;

	if (uidcache_open(dir, &uc, why, sizeof(why)) == -1)
		errx(EX_FAIL, "%s", why);
	printf("UIDVALIDITY %s %u (was %u)\n", verb, uidcache_uidvalidity(uc),
	    uv_before);
	printf("%10s %10s  %s\n", "UID was", "new UID", "FILE");
	n = uidcache_count(uc);
	for (i = 0; i < n; i++) {
		if (!uidcache_nth(uc, i, &r))
			continue;
		old = namemap_uid(before, r.base);
		if (old == 0) {
			memcpy(was, "-", 2);
			fresh++;
		} else {
			if (snprintf(was, sizeof(was), "%u", old) >=
			    (int)sizeof(was))
				was[0] = '\0';
			if (old == r.uid)
				same++;
			else
				other++;
		}
		printf("%10s %10u  %s/%s%s\n", was, r.uid, r.in_new ? "new" :
		    "cur", r.base, r.info);
	}
	printf("%zu messages: %zu keep their UID number, %zu get another, "
	    "%zu had none yet; clients resynchronize the folder (a new "
	    "UIDVALIDITY)\n", n, same, other, fresh);
	uidcache_close(uc);
}

static void
rebuild(const struct opts *o)
{
	struct mailbox_status ms;
	struct namemap before;
	struct uidcache *uc;
	struct uc_check ck;
	char tmp[PATH_MAX], why[512];
	const char *dir = o->dir;
	uint32_t uv;

	why[0] = '\0';
	if (uidcache_check(dir, &ck) == -1)
		err(EX_FAIL, "%s", dir);
	if (uidcache_open(dir, &uc, why, sizeof(why)) == -1)
		errx(EX_FAIL, "%s", why);
	uv = uidcache_uidvalidity(uc);
	uidcache_close(uc);
	namemap_load(dir, &before);
	if (!o->yes) {
		trial_make(dir, tmp, &ck);
		dir = tmp;
		printf("a trial on a copy of the names and caches in %s:\n",
		    tmp);
	}
	if (uidcache_rebuild(dir, o->from, o->force, why, sizeof(why)) == -1 ||
	    mailbox_status(dir, 0, &ms) == -1) {
		if (!o->yes)
			trial_remove(tmp);
		/* the store names the trial's directory: name the folder */
		if (!o->yes && strncmp(why, tmp, strlen(tmp)) == 0)
			errx(EX_FAIL, "%s%s", o->dir, why + strlen(tmp));
		errx(EX_FAIL, "%s", why[0] ? why : "the folder cannot be read");
	}
	if (o->yes && msgcache_remove(dir) == -1)
		warn("%s: cannot remove the old structure cache (sessions "
		    "ignore it: its UIDVALIDITY is the old one)", dir);
	show_changes(dir, &before, uv, o->yes ? "is now" :
	    o->from == UC_FROM_NEW ? "would be at least" : "would be");
	if (!o->yes) {
		trial_remove(tmp);
		printf("nothing was changed: --yes does it\n");
	}
	namemap_free(&before);
}

static int
still_there(void *arg, uint32_t uid)
{
	return mailbox_seq_of_uid(arg, uid) != 0;
}

/* Compute ENVELOPE, BODY, BODYSTRUCTURE and PREVIEW of one message as
 * FETCH does, into mc.  0, or -1 if the message is gone. */
static int
structure_one(struct mailbox *mb, uint32_t seq, struct msgcache *mc,
    struct buf *env, struct buf *body, struct buf *bs, struct buf *pv)
{
	struct msgcache_rec rec;
	struct message *m;
	char rel[PATH_MAX];
	int e;

	if (mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1 ||
	    (m = message_open(mailbox_dirfd(mb), rel, &e)) == NULL)
		return -1;
	buf_reset(env);
	buf_reset(body);
	buf_reset(bs);
	buf_reset(pv);
	memset(&rec, 0, sizeof(rec));
	if (message_envelope(m, env) == 0 &&
	    message_bodystructure(m, 0, body) == 0 &&
	    message_bodystructure(m, MESSAGE_BS_EXTENDED, bs) == 0 &&
	    message_parts(m) != NULL &&
	    preview_make(message_parts(m), pv) == 0) {
		rec.envelope = env->data;
		rec.envelope_len = env->len;
		rec.envelope_exact = message_envelope_exact(m);
		rec.body = body->data;
		rec.body_len = body->len;
		rec.bodystructure = bs->data;
		rec.bodystructure_len = bs->len;
		rec.preview = pv->len > 0 ? pv->data : "";
		rec.preview_len = pv->len;
		msgcache_put(mc, mailbox_uid(mb, seq), &rec);
	}
	message_free(m);
	return 0;
}

static void
rebuild_structure(const struct opts *o)
{
	struct msgcache_check mck;
	struct buf env, body, bs, pv;
	struct mailbox *mb;
	struct msgcache *mc;
	const char *why;
	uint32_t seq, n, done = 0;

	if (mailbox_open(o->dir, 1, &mb, &why) == -1)
		errx(EX_FAIL, "%s: %s", o->dir, why);
	n = mailbox_count(mb);
	if (msgcache_check(o->dir, mailbox_uidvalidity(mb), &mck, NULL,
	    NULL) == -1)
		errx(EX_FAIL, "out of memory");
	show_structure(o->dir, mailbox_uidvalidity(mb), &mck);
	if (!o->yes) {
		printf("%u messages; --yes drops the structure cache and "
		    "computes it again from every message\n", n);
		mailbox_close(mb);
		return;
	}
	if (msgcache_remove(o->dir) == -1)
		err(EX_FAIL, "%s: cannot remove the structure cache", o->dir);
	if ((mc = msgcache_open(o->dir, mailbox_uidvalidity(mb))) == NULL)
		errx(EX_FAIL, "out of memory");
	buf_init(&env, 16 * 1024 * 1024);
	buf_init(&body, 16 * 1024 * 1024);
	buf_init(&bs, 16 * 1024 * 1024);
	buf_init(&pv, PREVIEW_CHARS * 4 + 1);
	for (seq = 1; seq <= n; seq++) {
		if (structure_one(mb, seq, mc, &env, &body, &bs, &pv) == 0)
			done++;
		if (seq % FLUSH_EVERY == 0)
			msgcache_flush(mc, still_there, mb, 0);
	}
	msgcache_flush(mc, still_there, mb, 1);
	msgcache_close(mc);
	buf_free(&env);
	buf_free(&body);
	buf_free(&bs);
	buf_free(&pv);
	printf("structure cache written for %u of %u messages%s\n", done, n,
	    done < n ? " (the others were expunged meanwhile)" : "");
	mailbox_close(mb);
}

/* Write the batch, waiting out a session that holds the lock. */
static void
index_write(struct ftsindex *fi, struct ftsindex_batch *b)
{
	int tries;

	for (tries = 0; ftsindex_write(fi, b) == -1; tries++) {
		if (errno != EAGAIN || tries == LOCK_TRIES)
			err(EX_FAIL, "cannot write the full-text index");
		usleep(100 * 1000);
	}
}

/* Index message seq into b: 0, or -1 (it stays uncovered). */
static int
index_one(struct mailbox *mb, uint32_t seq, struct ftsindex_batch *b,
    struct buf *store)
{
	char rel[PATH_MAX];
	struct message *m;
	uint64_t size;
	int e = 0, r;

	if (mailbox_vsize(mb, seq, &size) == -1 || size > INDEX_MSG_MAX ||
	    mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1 ||
	    (m = message_read(mailbox_dirfd(mb), rel, store, 1, &e)) == NULL)
		return -1;
	r = ftsindex_batch_add(b, mailbox_uid(mb, seq), m);
	message_free(m);
	message_search_cleanup();
	return r;
}

/*
 * Remove the index and index every message now, in runs of messages
 * next to each other that are all indexed, then merge the journal into
 * a snapshot as a session would.
 */
static void
rebuild_search(const struct opts *o)
{
	struct ftsindex_batch *b;
	struct ftsindex *fi;
	struct mailbox *mb;
	struct buf store;
	const char *why;
	uint64_t *live;
	uint32_t seq, n, done = 0, first = 0, last = 0, floor;
	int r;

	if (mailbox_open(o->dir, 1, &mb, &why) == -1)
		errx(EX_FAIL, "%s: %s", o->dir, why);
	n = mailbox_count(mb);
	(void)show_search(o->dir, mailbox_uidvalidity(mb), NULL);
	if (!o->yes) {
		printf("%u messages; --yes removes the full-text index and "
		    "indexes every message now\n", n);
		mailbox_close(mb);
		return;
	}
	if ((fi = ftsindex_open(o->dir, mailbox_uidvalidity(mb))) == NULL ||
	    (b = ftsindex_batch_new()) == NULL)
		errx(EX_FAIL, "out of memory");
	for (r = 0; ftsindex_clear(fi) == -1; r++) {
		if (errno != EAGAIN || r == LOCK_TRIES)
			err(EX_FAIL, "%s: cannot remove the full-text index",
			    o->dir);
		usleep(100 * 1000);
	}
	/* sessions leave the indexing to whoever holds the claim */
	(void)ftsindex_claim(fi);
	buf_init(&store, MESSAGE_READ_MAX);
	for (seq = 1; seq <= n; seq++) {
		if (index_one(mb, seq, b, &store) == 0) {
			done++;
			if (first == 0)
				first = mailbox_uid(mb, seq);
			last = mailbox_uid(mb, seq);
			if (ftsindex_batch_bytes(b) < INDEX_BATCH && seq < n)
				continue;
		}
		if (first != 0 && ftsindex_batch_cover(b, first, last) == -1)
			errx(EX_FAIL, "out of memory");
		first = 0;
		index_write(fi, b);
	}
	index_write(fi, b);
	buf_free(&store);
	ftsindex_batch_free(b);
	/* every message of the view is alive */
	floor = n > 0 ? mailbox_uid(mb, n) + 1 : 1;
	if ((live = calloc(((size_t)floor + 63) / 64, sizeof(*live))) == NULL)
		errx(EX_FAIL, "out of memory");
	for (seq = 1; seq <= n; seq++)
		live[mailbox_uid(mb, seq) / 64] |= 1ULL <<
		    (mailbox_uid(mb, seq) % 64);
	for (r = 0; ftsindex_compact_begin(fi, live, floor) == -1; r++) {
		if (errno != EAGAIN || r == LOCK_TRIES)
			err(EX_FAIL, "cannot merge the full-text index");
		usleep(100 * 1000);
	}
	free(live);
	while ((r = ftsindex_compact_step(fi, 1000)) == 0)
		;
	if (r == -1)
		err(EX_FAIL, "cannot merge the full-text index");
	ftsindex_close(fi);
	printf("full-text index written for %u of %u messages%s\n", done, n,
	    done < n ? " (the others are too large, too varied, or were "
	    "expunged meanwhile: searches read them)" : "");
	(void)show_search(o->dir, mailbox_uidvalidity(mb), NULL);
	mailbox_close(mb);
}

/* ---- who runs it ------------------------------------------------- */

/*
 * root on someone else's folder: only as its owner, so that the files
 * made (caches, lock files) are the owner's and the owner's sessions
 * can still write them.
 */
static void
become_owner(const struct opts *o)
{
	struct passwd *pw;
	struct stat st;

	if (stat(o->dir, &st) == -1)
		err(EX_FAIL, "%s", o->dir);
	if (!S_ISDIR(st.st_mode))
		errx(EX_FAIL, "%s: not a directory", o->dir);
	if (geteuid() != 0 || st.st_uid == 0)
		return;
	if (!o->as_owner)
		errx(EX_FAIL, "%s belongs to uid %u: run this as that user, "
		    "or give --as-owner to become them (files made as root "
		    "would lock the owner's sessions out)", o->dir,
		    (unsigned)st.st_uid);
	if ((pw = getpwuid(st.st_uid)) != NULL)
		privdrop(pw->pw_name, pw->pw_uid, pw->pw_gid);
	else
		privdrop(NULL, st.st_uid, st.st_gid);
}

static void
options(int argc, char *argv[], struct opts *o)
{
	enum { O_VERIFY = 256, O_REBUILD, O_IMPORT, O_STRUCTURE, O_SEARCH,
	    O_YES, O_FORCE, O_OWNER, O_SUMMARY, O_HELP };
	static const struct option lo[] = {
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "rebuild", no_argument, NULL, O_REBUILD },
		{ "import", required_argument, NULL, O_IMPORT },
		{ "rebuild-structure", no_argument, NULL, O_STRUCTURE },
		{ "rebuild-search", no_argument, NULL, O_SEARCH },
		{ "yes", no_argument, NULL, O_YES },
		{ "force", no_argument, NULL, O_FORCE },
		{ "as-owner", no_argument, NULL, O_OWNER },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int ch, actions = 0;

	memset(o, 0, sizeof(*o));
	o->from = UC_FROM_NEW;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_VERIFY: o->action = A_VERIFY; actions++; break;
		case O_REBUILD: o->action = A_REBUILD; actions++; break;
		case O_STRUCTURE: o->action = A_STRUCTURE; actions++; break;
		case O_SEARCH: o->action = A_SEARCH; actions++; break;
		case O_IMPORT:
			o->action = A_IMPORT;
			actions++;
			if (strcmp(optarg, "dovecot") == 0)
				o->from = UC_FROM_DOVECOT;
			else if (strcmp(optarg, "courier") == 0)
				o->from = UC_FROM_COURIER;
			else
				errx(EX_FAIL, "--import: dovecot or courier");
			break;
		case O_YES: o->yes = 1; break;
		case O_FORCE: o->force = 1; break;
		case O_OWNER: o->as_owner = 1; break;
		case O_SUMMARY: o->summary = 1; break;
		case O_HELP: usage(0);
		default: usage(EX_FAIL);
		}
	}
	if (optind + 1 != argc || actions > 1 ||
	    (o->yes && o->action != A_REBUILD && o->action != A_IMPORT &&
	    o->action != A_STRUCTURE && o->action != A_SEARCH) ||
	    (o->force && o->action != A_IMPORT) ||
	    (o->summary && o->action != A_SHOW))
		usage(EX_FAIL);
	o->dir = argv[optind];
}

int
main(int argc, char *argv[])
{
	struct opts o;

	options(argc, argv, &o);
	/* the store's own account of what it does goes to syslog, and to
	 * standard error where the administrator sees it */
	log_init("imapd-cache", 1, LOG_MAIL);
	/* imapd.conf's lock_method is not read here: taking both kinds of
	 * lock excludes imapd whichever it uses */
	storelock_set_method(STORELOCK_BOTH);
	become_owner(&o);
	switch (o.action) {
	case A_SHOW:
		show(&o);
		break;
	case A_VERIFY:
		verify(&o);
		break;
	case A_REBUILD:
	case A_IMPORT:
		rebuild(&o);
		break;
	case A_STRUCTURE:
		rebuild_structure(&o);
		break;
	case A_SEARCH:
		rebuild_search(&o);
		break;
	}
	if (fflush(stdout) == EOF)
		err(EX_FAIL, "standard output");
	return problems > 0 ? EX_PROBLEM : 0;
}
