/*
 * What the UID cache's two unit test programs (test-uidcache.c: the
 * contract, damage, imports, write errors; test-uidcache-stress.c:
 * crashes at every write step, concurrent writers, a random model and
 * 100,000 messages) share: a scratch tree, the log they read back, and
 * helpers.  Included once by each; everything is static.
 */
#ifndef TESTS_MAILDIR_UIDCACHE_FIXTURE_H
#define TESTS_MAILDIR_UIDCACHE_FIXTURE_H

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

static inline void
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

static inline void
die(const char *what)
{
	fprintf(stderr, "test-uidcache: %s: %s\n", what, strerror(errno));
	exit(2);
}

static inline void
pathf(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		die(dir);
	}
}

static inline char *
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

static inline void
spit(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, p, len) != (ssize_t)len || close(fd) == -1)
		die(path);
}

static inline void
spits(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	pathf(p, dir, name);
	spit(p, text, strlen(text));
}

static inline int
exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0;
}

static inline off_t
fsize(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static inline ino_t
finode(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	pathf(p, dir, name);
	return stat(p, &st) == 0 ? st.st_ino : 0;
}

static inline void
rm(const char *dir, const char *name)
{
	char p[PATH_MAX];

	pathf(p, dir, name);
	unlink(p);
}

static inline int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static inline void
rmtree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new, empty folder directory root/name. */
static inline void
mkfolder(char *out, const char *name)
{
	pathf(out, root, name);
	rmtree(out);
	if (mkdir(out, 0700) == -1)
		die(out);
}

static inline struct uidcache *
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

static inline uint32_t
add(struct uidcache *c, const char *base)
{
	return uidcache_add(c, base, strlen(base), ":2,", 0, 0, 0,
	    MD_SIZE_UNKNOWN, UC_MTIME_UNKNOWN);
}

static inline int
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
static inline int
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

static inline off_t
log_mark(void)
{
	struct stat st;

	fflush(NULL);
	return stat(logpath, &st) == 0 ? st.st_size : 0;
}

/* How many times needle was logged since mark. */
static inline int
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

static inline void
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

static inline void
pairs_of(struct pairs *ps, struct uidcache *c)
{
	struct uc_rec r;
	size_t i;

	for (i = 0; uidcache_nth(c, i, &r); i++)
		pairs_add(ps, r.uid, r.base);
}

static inline int
cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* 1 if no UID was seen with two bases. */
static inline int
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

static inline void
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
static inline uint32_t
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
static inline pid_t
xfork(void)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1)
		die("fork");
	return pid;
}

static inline double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void
put32le(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* Whether a damaged cache file was set aside in d. */
static inline int
any_damaged(const char *d)
{
	return exists(d, CDB ".damaged") || exists(d, LOG ".damaged");
}

/* The scratch tree and the log, for the program called name: 0 or 2. */
static inline int
fixture_begin(const char *name)
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
	log_init(name, 1, LOG_USER);
	return 0;
}

/* The tree goes when every check passed; the exit status. */
static inline int
fixture_end(void)
{
	if (t_fail == 0)
		rmtree(root);
	else
		fprintf(stderr, "files and log kept in %s\n", root);
	return t_done();
}

#endif
