/*
 * maildirsize: the Maildir++ quota file.  See maildirsize.h.
 *
 * The file, in the Maildir root (never in a folder):
 *
 *	1000000000S,100000C\n		definition: S bytes, C messages
 *	    12345678          412\n	a delta: bytes, messages
 *	       -4096           -1\n	another (an expunge)
 *
 * The definition is comma-separated parts, each a decimal number and a
 * letter, S (bytes) or C (messages); a part left out or zero is no limit.
 * Each later line is two decimal integers, either possibly negative,
 * separated and padded by blanks; the usage is their sum.  Lines are
 * written as maildrop writes them ("%12lld %12lld\n"), with one
 * O_APPEND write each, so that writers never interleave inside a line.
 *
 * A recalculation counts every file in cur/ and new/ of the root and of
 * each folder (".name" directories, not symbolic links) except .Trash;
 * names starting with "." are not messages.  A message's size is its
 * name's ",S=" field, or its st_size.  The result is written to a new
 * file in tmp/ and renamed over maildirsize; then the directories' mtimes
 * are looked at again, and a change since the scan began means the scan
 * may have missed something, so it runs again.
 *
 * imapd-maildirsize.lock, an empty file beside it, carries the lock
 * maildirsize.h describes: an fcntl() open file description lock (so
 * that two descriptors in one process exclude each other, and so that it
 * works on NFS), read-locked by sessions between their reservation and
 * their delta line, write-locked by a recalculation.  Messages flagged T
 * (\Deleted) count until they are expunged, as IMAP sees them; maildrop
 * built as Debian ships it leaves them out when it recalculates, so the
 * two may differ by such messages until the next recalculation here.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/safefile.h"
#include "common/lib/strnum.h"
#include "maildir/filename.h"
#include "maildir/maildirsize.h"
#include "maildir/storelock.h"

#define RECALC_TRIES	3
#define READ_MAX	(1024 * 1024)	/* of a file waiting to be recalculated */
#define DELTA_MAX	(1ULL << 40)	/* bytes or messages in one line */
#define LINE_MAX_BYTES	64

/* One signed decimal at *p, blanks skipped first; -1 if none or if it
 * is beyond DELTA_MAX, which no real delta is (and which keeps the sum
 * of a whole file's lines from overflowing). */
static int
signed_num(const char **p, const char *end, int64_t *r)
{
	const char *s;
	int neg = 0;
	uint64_t n;

	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p < end && **p == '-') {
		neg = 1;
		(*p)++;
	}
	s = *p;
	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	if (*p == s || strnum_u64_n(s, (size_t)(*p - s), DELTA_MAX, &n) == -1)
		return -1;
	*r = neg ? -(int64_t)n : (int64_t)n;
	return 0;
}

/* parse_file()'s work on the len bytes read. */
static int
parse_text(struct maildirsize *q, const char *buf, size_t len)
{
	const char *p, *end, *nl;
	int64_t b, m;

	end = buf + len;
	nl = memchr(buf, '\n', len);
	if (nl == NULL)
		nl = end;
	if (quotadef_parse(buf, (size_t)(nl - buf), &q->limits) == -1)
		memset(&q->limits, 0, sizeof(q->limits));
	for (p = nl < end ? nl + 1 : end; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;	/* a line being written: skip it */
		if (nl == end)
			break;
		if (signed_num(&p, nl, &b) == -1 ||
		    signed_num(&p, nl, &m) == -1)
			continue;	/* as maildrop does: not a delta */
		q->bytes += b;
		q->messages += m;
		q->lines++;
	}
	return len >= MAILDIRSIZE_MAX || q->bytes < 0 || q->messages < 0;
}

/* Read the open file into q.  1 if it is too big or odd enough to be
 * recalculated, 0 if its numbers can be used, -1 on a read error.  The
 * lines of a big file are added up all the same (up to READ_MAX bytes),
 * for when its recalculation has to wait. */
static int
parse_file(struct maildirsize *q)
{
	char *buf;
	size_t len = 0, size;
	struct stat sb;
	int r;

	q->bytes = q->messages = 0;
	q->lines = 0;
	if (fstat(q->fd, &sb) == -1)
		return -1;
	q->mtime = sb.st_mtim.tv_sec;
	/* a line may be appended meanwhile: room for more than st_size */
	size = sb.st_size < READ_MAX ? (size_t)sb.st_size + MAILDIRSIZE_MAX :
	    READ_MAX;
	if ((buf = malloc(size)) == NULL)
		return -1;
	if (mapfile_pread(q->fd, buf, size, 0, &len) == -1) {
		free(buf);
		return -1;
	}
	r = parse_text(q, buf, len);
	free(buf);
	return r;
}

/* Lock root's lock file: F_RDLCK waiting up to the store's lock timeout
 * (ETIMEDOUT after it), or F_WRLCK only if free at once.  The locked
 * descriptor, or -1 (errno EAGAIN: not free). */
static int
lock_take(const char *root, short type)
{
	char path[PATH_MAX];
	int fd, save;

	if (snprintf(path, sizeof(path), "%s/" MAILDIRSIZE_LOCK, root) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (storelock_fcntl(fd, type, type == F_RDLCK ? storelock_timeout() :
	    0) == 0)
		return fd;
	save = errno;
	if (save == ETIMEDOUT)
		log_warnx("%s: quota lock " MAILDIRSIZE_LOCK " held by another "
		    "process for over %llu ms (lock_timeout; a stuck or "
		    "stopped imapd or tool)", root,
		    (unsigned long long)storelock_timeout());
	close(fd);
	errno = save;
	return -1;
}

int
maildirsize_open(const char *root, const struct quota_limits *want,
    int replace, struct maildirsize *q)
{
	char path[PATH_MAX];
	int r, wanted = want != NULL && quotadef_any(want);

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->lockfd = -1;
	if (snprintf(path, sizeof(path), "%s/maildirsize", root) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((q->fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			return -1;
		if (!wanted)
			return 0;
		q->limits = *want;
		return maildirsize_recalc(root, q);
	}
	if ((r = parse_file(q)) == -1) {
		maildirsize_close(q);
		return -1;
	}
	if (wanted && !quotadef_any(&q->limits)) {
		/* a file without a definition we can read is no rule */
		q->limits = *want;
		r = 1;
	} else if (wanted && replace &&
	    (q->limits.bytes != want->bytes ||
	    q->limits.messages != want->messages)) {
		q->limits = *want;
		r = 1;
	}
	if (r == 1)
		return maildirsize_recalc(root, q);
	return 0;
}

static int
passes(const struct maildirsize *q, uint64_t bytes, uint64_t messages)
{
	if (q->limits.bytes > 0 &&
	    (uint64_t)(q->bytes > 0 ? q->bytes : 0) + bytes > q->limits.bytes)
		return 1;
	if (q->limits.messages > 0 &&
	    (uint64_t)(q->messages > 0 ? q->messages : 0) + messages >
	    q->limits.messages)
		return 1;
	return 0;
}

int
maildirsize_over(const char *root, struct maildirsize *q, uint64_t bytes,
    uint64_t messages)
{
	if (q->fd == -1)
		return 0;
	if (!passes(q, bytes, messages))
		return 0;
	if (q->lines > 1 || time(NULL) >= q->mtime + MAILDIRSIZE_STALE) {
		if (maildirsize_recalc(root, q) == -1)
			return -1;
		return passes(q, bytes, messages);
	}
	return 1;
}

int
maildirsize_hold(const char *root, struct maildirsize *q)
{
	char path[PATH_MAX];
	struct stat now, ours;
	int fd;

	if (q->lockfd == -1 && (q->lockfd = lock_take(root, F_RDLCK)) == -1)
		return -1;
	if (snprintf(path, sizeof(path), "%s/maildirsize", root) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (stat(path, &now) == -1)
		return errno == ENOENT && q->fd == -1 ? 0 : -1;
	if (q->fd != -1 && fstat(q->fd, &ours) == 0 &&
	    ours.st_ino == now.st_ino && ours.st_dev == now.st_dev)
		return 0;
	/* replaced (or made) by a recalculation meanwhile: read it again */
	if ((fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (q->fd != -1)
		close(q->fd);
	q->fd = fd;
	return parse_file(q) == -1 ? -1 : 0;
}

int
maildirsize_add(struct maildirsize *q, int64_t bytes, int64_t messages)
{
	char line[LINE_MAX_BYTES];
	int n;

	if (q->fd == -1 || (bytes == 0 && messages == 0))
		return 0;
	n = snprintf(line, sizeof(line), "%12" PRId64 " %12" PRId64 "\n",
	    bytes, messages);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = EOVERFLOW;
		return -1;
	}
	/* one write: O_APPEND keeps it whole against other writers */
	if (write(q->fd, line, (size_t)n) != n)
		return -1;
	q->bytes += bytes;
	q->messages += messages;
	q->lines++;
	return 0;
}

int64_t
maildirsize_msgsize(int dirfd, const char *relpath)
{
	const char *name = strrchr(relpath, '/');
	struct mdname md;
	struct stat sb;

	name = name != NULL ? name + 1 : relpath;
	if (mdname_parse(name, &md) == 0 && md.size != MD_SIZE_UNKNOWN &&
	    md.size <= INT64_MAX)
		return (int64_t)md.size;
	if (fstatat(dirfd, relpath, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	return (int64_t)sb.st_size;
}

int
maildirsize_is_trash(const char *dir)
{
	const char *b = strrchr(dir, '/');

	return strcmp(b != NULL ? b + 1 : dir, MAILDIRSIZE_TRASH) == 0;
}

struct tally {
	int64_t		bytes;
	int64_t		messages;
	struct timespec	newest;	/* latest directory mtime seen */
};

static void
note_mtime(struct tally *t, const struct stat *sb)
{
	if (sb->st_mtim.tv_sec > t->newest.tv_sec ||
	    (sb->st_mtim.tv_sec == t->newest.tv_sec &&
	    sb->st_mtim.tv_nsec > t->newest.tv_nsec))
		t->newest = sb->st_mtim;
}

/* Count one cur/ or new/ directory of the folder dfd; with count 0 only
 * note its mtime.  A symbolic link is not followed: a linked directory
 * is not the Maildir's, and counts for nothing. */
static int
count_dir(int dfd, const char *sub, int count, struct tally *t)
{
	struct dirent *de;
	struct stat sb;
	int64_t size;
	DIR *d;
	int fd;

	/* the mtime before reading: a later change shows afterwards */
	if ((fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ?
		    0 : -1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return -1;
	}
	note_mtime(t, &sb);
	if (!count) {
		close(fd);
		return 0;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* gone meanwhile: another program expunged it */
		if ((size = maildirsize_msgsize(dirfd(d), de->d_name)) == -1)
			continue;
		t->bytes += size;
		t->messages++;
	}
	if (errno != 0) {
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* A folder's cur/ and new/, from the directory fd. */
static int
count_folder(int fd, int count, struct tally *t)
{
	if (count_dir(fd, "new", count, t) == -1 ||
	    count_dir(fd, "cur", count, t) == -1)
		return -1;
	return 0;
}

/* The root and each folder but Trash, counted or only looked at.  The
 * root may be a link (the administrator's choice); nothing in it is
 * followed. */
static int
walk(const char *root, int count, struct tally *t)
{
	struct dirent *de;
	DIR *d;
	int fd, r;

	if ((d = opendir(root)) == NULL)
		return -1;
	if (count_folder(dirfd(d), count, t) == -1) {
		closedir(d);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, MAILDIRSIZE_TRASH) == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if ((fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;	/* a link, or gone meanwhile */
		r = count_folder(fd, count, t);
		close(fd);
		if (r == -1) {
			closedir(d);
			return -1;
		}
	}
	if (errno != 0) {
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

int
maildirsize_scan(const char *root, int64_t *bytes_r, int64_t *messages_r)
{
	struct tally t;

	memset(&t, 0, sizeof(t));
	if (walk(root, 1, &t) == -1)
		return -1;
	*bytes_r = t.bytes;
	*messages_r = t.messages;
	return 0;
}

/* Write the definition and one total line to a new file in tmp/ and
 * rename it over maildirsize.  A descriptor of the new file, opened to
 * append as other writers open it, or -1 (errno). */
static int
write_file(const char *root, const struct quota_limits *l,
    const struct tally *t)
{
	char def[QUOTADEF_MAX], text[QUOTADEF_MAX +
	    LINE_MAX_BYTES], tmp[PATH_MAX], path[PATH_MAX];
	int dfd, fd, n, save;

	if (quotadef_format(l, def, sizeof(def)) == -1)
		return -1;
	n = snprintf(text, sizeof(text), "%s\n%12" PRId64 " %12" PRId64 "\n",
	    def, t->bytes, t->messages);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    snprintf(path, sizeof(path), "%s/tmp", root) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((fd = safefile_tmp(dfd, "maildirsize", tmp, sizeof(tmp),
	    0600)) == -1)
		goto fail;
	/* on disk before it replaces the old file: a crash must not leave
	 * an empty one, which would lose the delivery agent's limits */
	if (safefile_write(fd, text, (size_t)n) == -1 || fsync(fd) == -1 ||
	    snprintf(path, sizeof(path), "%s/maildirsize", root) >=
	    (int)sizeof(path) ||
	    renameat(dfd, tmp, AT_FDCWD, path) == -1) {
		save = errno;
		(void)unlinkat(dfd, tmp, 0);
		close(fd);
		errno = save;
		goto fail;
	}
	close(fd);
	close(dfd);
	return open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
fail:
	save = errno;
	close(dfd);
	errno = save;
	return -1;
}

int
maildirsize_recalc(const char *root, struct maildirsize *q)
{
	struct tally t, after;
	struct stat sb;
	int fd, i, lockfd;

	/* busy: sessions have lines to write, or another recalculates */
	if ((lockfd = lock_take(root, F_WRLCK)) == -1)
		return errno == EAGAIN ? 0 : -1;
	for (i = 0; i < RECALC_TRIES; i++) {
		memset(&t, 0, sizeof(t));
		memset(&after, 0, sizeof(after));
		if (walk(root, 1, &t) == -1 ||
		    (fd = write_file(root, &q->limits, &t)) == -1)
			goto fail;
		if (q->fd != -1)
			close(q->fd);
		q->fd = fd;
		q->bytes = t.bytes;
		q->messages = t.messages;
		q->lines = 1;
		q->recalc = 0;
		q->mtime = fstat(fd, &sb) == 0 ? sb.st_mtim.tv_sec : time(NULL);
		if (walk(root, 0, &after) == -1)
			goto fail;
		if (after.newest.tv_sec == t.newest.tv_sec &&
		    after.newest.tv_nsec == t.newest.tv_nsec)
			break;
	}
	/* when it is still changing, the file is as good as the last scan,
	 * and the next recalculation will catch up */
	close(lockfd);
	return 0;
fail:
	i = errno;
	close(lockfd);
	errno = i;
	return -1;
}

void
maildirsize_close(struct maildirsize *q)
{
	if (q->fd != -1)
		close(q->fd);
	q->fd = -1;
	if (q->lockfd != -1)
		close(q->lockfd);
	q->lockfd = -1;
}
