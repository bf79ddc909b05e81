/*
 * fuzz.h: what the libFuzzer targets of tests/fuzz share.
 *
 * Each target is one file that defines LLVMFuzzerTestOneInput (and, when
 * it needs a directory or set-up, LLVMFuzzerInitialize).  A property the
 * code promises is checked with FUZZ_CHECK, which aborts, so that the
 * fuzzer keeps the input as a crash like any sanitizer report.
 *
 * Inputs that stand for several things (the files of a UID cache, a
 * charset name and text) are cut into parts at FUZZ_SEP; the seed
 * corpora are written the same way (tests/fuzz/mkcorpus.py).
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_SEP	"\x1e\x1e\x1e\x1e"
#define FUZZ_SEP_LEN	4

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property failed: %s: ",		\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* Out of memory or a broken test machine: not a finding. */
static inline void
fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A copy of len bytes in an allocation of exactly that size (none extra
 * for a NUL), so that a read past the end is a sanitizer report. */
static inline char *
fuzz_dup(const void *p, size_t len)
{
	char *d = malloc(len > 0 ? len : 1);

	if (d == NULL)
		fuzz_die("malloc");
	if (len > 0)
		memcpy(d, p, len);
	return d;
}

/* The same with a NUL after the bytes (which may hold NULs themselves). */
static inline char *
fuzz_strdup(const void *p, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		fuzz_die("malloc");
	if (len > 0)
		memcpy(d, p, len);
	d[len] = '\0';
	return d;
}

struct fuzz_part {
	const uint8_t	*p;
	size_t		 len;
};

/* Cut data at each FUZZ_SEP into at most max parts (the last takes the
 * rest, separators and all); returns how many. */
static inline size_t
fuzz_split(const uint8_t *data, size_t len, struct fuzz_part *parts,
    size_t max)
{
	size_t n = 0, start = 0, i = 0;

	while (n + 1 < max && i + FUZZ_SEP_LEN <= len) {
		if (memcmp(data + i, FUZZ_SEP, FUZZ_SEP_LEN) != 0) {
			i++;
			continue;
		}
		parts[n].p = data + start;
		parts[n].len = i - start;
		n++;
		i += FUZZ_SEP_LEN;
		start = i;
	}
	if (n < max) {
		parts[n].p = data + start;
		parts[n].len = len - start;
		n++;
	}
	return n;
}

/* A reproducible stream of numbers below n drawn from a seed the input
 * gives, for cutting input into pieces. */
struct fuzz_rnd {
	uint64_t	 state;
};

static inline unsigned
fuzz_rnd(struct fuzz_rnd *r, unsigned n)
{
	r->state = r->state * 6364136223846793005ULL +
	    1442695040888963407ULL;
	return n == 0 ? 0 : (unsigned)(r->state >> 33) % n;
}

/* A size for the next piece of input: often tiny, sometimes large. */
static inline size_t
fuzz_piece(struct fuzz_rnd *r)
{
	switch (fuzz_rnd(r, 4)) {
	case 0:
		return 1;
	case 1:
		return 1 + fuzz_rnd(r, 8);
	case 2:
		return 1 + fuzz_rnd(r, 100);
	default:
		return 1 + fuzz_rnd(r, 5000);
	}
}

/* ---- files ------------------------------------------------------- */

/* A private scratch directory for the process, removed at exit.
 * FUZZ_TMPDIR says where, else /dev/shm (where fsync costs nothing, and
 * the caches fsync at every commit), else TMPDIR, else /tmp. */
static char fuzz_root[PATH_MAX];

static inline int
fuzz_rm_tree(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n;

	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub) ||
		    fuzz_rm_tree(sub) == -1) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return rmdir(path);
}

static inline void
fuzz_rm_root(void)
{
	if (fuzz_root[0] != '\0')
		(void)fuzz_rm_tree(fuzz_root);
}

static inline const char *
fuzz_tmpdir(void)
{
	const char *base = getenv("FUZZ_TMPDIR");
	int n;

	if (fuzz_root[0] != '\0')
		return fuzz_root;
	if (base == NULL && access("/dev/shm", W_OK | X_OK) == 0)
		base = "/dev/shm";
	if (base == NULL)
		base = getenv("TMPDIR");
	if (base == NULL)
		base = "/tmp";
	n = snprintf(fuzz_root, sizeof(fuzz_root), "%s/imapd-fuzz.XXXXXX",
	    base);
	if (n < 0 || (size_t)n >= sizeof(fuzz_root) ||
	    mkdtemp(fuzz_root) == NULL)
		fuzz_die("mkdtemp");
	atexit(fuzz_rm_root);
	return fuzz_root;
}

/* dir/name into out (PATH_MAX). */
static inline char *
fuzz_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		fuzz_die(name);
	}
	return out;
}

/* Write len bytes to dir/name, replacing it. */
static inline void
fuzz_put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	const char *p = data;
	ssize_t w;
	int fd;

	fuzz_path(path, dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		fuzz_die(path);
	while (len > 0) {
		if ((w = write(fd, p, len)) <= 0)
			fuzz_die(path);
		p += w;
		len -= (size_t)w;
	}
	close(fd);
}

/* The path of name in the scratch directory, into out (PATH_MAX). */
static inline char *
fuzz_scratch(char *out, const char *name)
{
	return fuzz_path(out, fuzz_tmpdir(), name);
}

/* Make dir (empty): whatever the last input left there goes. */
static inline void
fuzz_fresh_dir(const char *dir)
{
	if (fuzz_rm_tree(dir) == -1 || mkdir(dir, 0700) == -1)
		fuzz_die(dir);
}

#endif
