/*
 * folder: the Maildir++ folder tree of one user.  See folder.h.
 *
 * On disk, everything sits directly in the Maildir root:
 *
 *   cur/ new/ tmp/             INBOX
 *   .A/                        folder "A": cur/ new/ tmp/, an empty
 *                              "maildirfolder" file, and the folder's own
 *                              state (UID cache, dovecot-keywords, ...)
 *   .A.B/                      folder "A/B"; ".A" need not exist, and then
 *                              "A" is an implied parent (\Noselect)
 *   subscriptions              one name per line, on-disk form
 *   subscriptions.lock         exists while a writer replaces subscriptions
 *   ..imapd-deleted-<hex>/     a folder on its way out
 *
 * Why a name can never reach outside root: a valid name has no '.', no
 * empty, "." or ".." level, no NUL and fits in NAME_MAX, so "." followed
 * by the name with '/' turned into '.' is a single directory entry that
 * starts with '.', is neither "." nor "..", and holds no '/'.  Every
 * operation works on such an entry relative to a descriptor of root, and
 * never through a symbolic link: an entry that is a link is not listed,
 * not deleted through, and not renamed, and a folder is opened only
 * through folder_open(), which refuses a link at the folder or at its
 * cur/, new/ or tmp/ (a link there would take reads and writes out of
 * the Maildir).  Between that check and the paths used afterwards only
 * a process that can write the Maildir, that is the user, could put a
 * link in the way, and it can read the same files anyway.  (root itself
 * may be a link: the administrator chose it, and the session resolves it
 * once.)
 *
 * INBOX: the whole name in any case means root.  "INBOX/x" is an ordinary
 * folder ".INBOX.x" as Dovecot stores it; "inbox/x" is a different one,
 * since only the name INBOX itself is case-insensitive (RFC 3501 5.1).
 * Either way its parent is INBOX, which then has children.  A directory
 * ".INBOX" would shadow INBOX and is ignored.
 *
 * Deleting renames the directory to "..imapd-deleted-<hex>" first, a name
 * no folder maps to (its first level would be empty), so a crash leaves
 * nothing that LIST shows, then removes what is in it.  Folder
 * directories hold only files and cur/ new/ tmp/, so the removal refuses
 * to go deeper than RM_DEPTH rather than recurse without bound.
 *
 * Renaming renames ".A" and every ".A.*" in one go after checking that
 * no target exists; if one rename fails the ones done are undone.
 * Renaming INBOX moves its messages instead (RFC 9051 6.3.6).
 *
 * Subscriptions: Dovecot's version-2 file ("V\t2", an empty line, then
 * names with '\t' between levels) is read as well, and so is a line in
 * the dotted form Courier and Dovecot's "." separator write ("Lists.dev"
 * or, under Courier's namespace, "INBOX.Lists.dev"): no valid name has a
 * '.', so such a line cannot be meant otherwise.  Without a
 * "subscriptions" file, Courier's "courierimapsubscribed" (dotted lines)
 * is read instead, so a Maildir moved from Courier keeps its
 * subscriptions; the first change writes them to "subscriptions", and
 * Courier's file is left as it was.  The file is always written in the
 * plain form.  Writers take "subscriptions.lock" with
 * O_EXCL (the dot-lock Dovecot uses too, so the two exclude each other,
 * and it works across NFS clients); the lock file is the new file that is
 * then renamed over "subscriptions".  A lock older than LOCK_STALE_SECS
 * is a leftover of a crash and is removed.  Names that are not valid are
 * dropped when the file is rewritten.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/imap/mutf7.h"
#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/safefile.h"
#include "common/lib/sorted.h"
#include "maildir/folder.h"
#include "maildir/storelock.h"

#define DELETED_PREFIX	"..imapd-deleted-"
#define RM_DEPTH	16		/* a folder needs 2 */
#define RM_PASSES	4
#define MOVE_PASSES	16
#define SUBS_FILE	"subscriptions"
#define SUBS_COURIER	"courierimapsubscribed"
#define SUBS_LOCK	"subscriptions.lock"
#define SUBS_MAX	(4 * 1024 * 1024)
#define LOCK_STALE_SECS	15

static const char *const subdirs[] = { "cur", "new", "tmp" };

#define WHY_EXISTS	"The mailbox already exists."
#define WHY_NOTFOUND	"The mailbox does not exist."
#define WHY_ROOT	"The mail directory cannot be opened."
#define WHY_CHILD_EXISTS "A mailbox with the new name, or below it, " \
			"already exists."

static int
fail(const char **why_r, int err, const char *why)
{
	*why_r = why;
	errno = err;
	return -1;
}

static int
is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

int
folder_check_name(const char *name, const char **why_r)
{
	size_t len = strnlen(name, FOLDER_NAME_MAX + 1), i, lvl;

	if (len == 0)
		return fail(why_r, EINVAL, "The mailbox name is empty.");
	if (len > FOLDER_NAME_MAX)
		return fail(why_r, EINVAL, "The mailbox name is too long.");
	if (is_inbox(name))
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return fail(why_r, EINVAL,
			    "The mailbox name contains a control character.");
		if (name[i] == '%' || name[i] == '*')
			return fail(why_r, EINVAL, "The mailbox name contains "
			    "a wildcard character (% or *).");
	}
	if (name[0] == '/' || name[len - 1] == '/' ||
	    strstr(name, "//") != NULL)
		return fail(why_r, EINVAL, "The mailbox name has an empty "
		    "level (a separator at the start, at the end, or twice).");
	for (i = 0; i < len; i += lvl + 1) {
		lvl = strcspn(name + i, "/");
		if ((lvl == 1 && name[i] == '.') ||
		    (lvl == 2 && name[i] == '.' && name[i + 1] == '.'))
			return fail(why_r, EINVAL,
			    "The mailbox name has a \".\" or \"..\" level.");
	}
	if (memchr(name, '.', len) != NULL)
		return fail(why_r, EINVAL, "The mailbox name contains \".\", "
		    "which this server uses to separate levels on disk.");
	/* the whole name becomes one directory entry, "." + name */
	if (len + 1 > NAME_MAX)
		return fail(why_r, ENAMETOOLONG,
		    "The mailbox name is too long.");
	if (!mutf7_valid(name, len))
		return fail(why_r, EINVAL,
		    "The mailbox name is not valid modified UTF-7.");
	return 0;
}

/* The directory entry of a valid name other than INBOX: "A/B" -> ".A.B". */
static void
diskname(const char *name, char out[NAME_MAX + 1])
{
	size_t i;

	out[0] = '.';
	for (i = 0; name[i] != '\0'; i++)
		out[i + 1] = name[i] == '/' ? '.' : name[i];
	out[i + 1] = '\0';
}

/* The folder name of a directory entry, if it is a valid one (not INBOX
 * in any case); 0 or -1. */
static int
entryname(const char *d_name, char out[NAME_MAX + 1])
{
	const char *why;
	size_t i;

	if (d_name[0] != '.' || strlen(d_name) > NAME_MAX)
		return -1;
	for (i = 1; d_name[i] != '\0'; i++)
		out[i - 1] = d_name[i] == '.' ? '/' : d_name[i];
	out[i - 1] = '\0';
	if (folder_check_name(out, &why) == -1 || is_inbox(out))
		return -1;
	return 0;
}

static int
open_root(const char *root)
{
	return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* 0 if the folder directory fd has cur/ and none of cur/ new/ tmp/ is a
 * symbolic link or other than a directory; -1 with errno ENOENT, ELOOP
 * or ENOTDIR and *bad_r the one at fault.  (new/ and tmp/ may be
 * missing: what needs them says so.) */
static int
subdirs_check(int fd, const char **bad_r)
{
	struct stat st;
	size_t i;

	for (i = 0; i < 3; i++) {
		*bad_r = subdirs[i];
		if (fstatat(fd, subdirs[i], &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (i == 0 || errno != ENOENT)
				return -1;
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			errno = ELOOP;
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return 0;
}

static void
log_link(const char *path, const char *sub)
{
	log_warnx("%s%s%s is a symbolic link: imapd follows no link inside "
	    "a Maildir (make it a directory, or link the whole Maildir "
	    "instead)", path, sub != NULL ? "/" : "", sub != NULL ? sub : "");
}

int
folder_open(const char *path)
{
	struct stat st;
	const char *bad;
	int fd, e;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		if ((e == ELOOP || e == ENOTDIR) && lstat(path, &st) == 0 &&
		    S_ISLNK(st.st_mode)) {
			log_link(path, NULL);
			e = ELOOP;
		}
		errno = e;
		return -1;
	}
	if (subdirs_check(fd, &bad) == -1) {
		e = errno;
		if (e == ELOOP)
			log_link(path, bad);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The file type (S_IFDIR, S_IFREG, S_IFLNK, ...) of a directory entry
 * itself, never of what a link points to; 0 if it is gone. */
static mode_t
entry_type(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return DTTOIF(de->d_type);
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return st.st_mode & S_IFMT;
}

/* readdir(), with errno 0 at the end of the directory and set on error
 * (whatever the loop body did to errno meanwhile). */
static struct dirent *
next_entry(DIR *dp)
{
	errno = 0;
	return readdir(dp);
}

/* closedir() that keeps errno, for error paths; returns r. */
static int
closedir_r(DIR *dp, int r)
{
	int saved = errno;

	closedir(dp);
	errno = saved;
	return r;
}

/*
 * rename() that never replaces an existing target.  Where the file system
 * cannot do that atomically (NFS and FUSE answer EINVAL, an old kernel
 * ENOSYS, some file systems EOPNOTSUPP), the target is checked first: the
 * window is small, and callers have checked it already.
 */
static int
rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	struct stat st;

	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	if (fstatat(tofd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(fromfd, from, tofd, to);
}

int
folder_path(const char *root, const char *name, char *path, size_t pathlen,
    const char **why_r)
{
	char dn[NAME_MAX + 1];
	int n;

	if (folder_check_name(name, why_r) == -1)
		return -1;
	if (is_inbox(name))
		n = snprintf(path, pathlen, "%s", root);
	else {
		diskname(name, dn);
		n = snprintf(path, pathlen, "%s/%s", root, dn);
	}
	if (n < 0 || (size_t)n >= pathlen)
		return fail(why_r, ENAMETOOLONG, "The mailbox path is too long.");
	return 0;
}

/* --- lists -------------------------------------------------------------- */

/*
 * Append to a list.  The capacity is implied by the count: 16 entries,
 * then doubled whenever the count reaches a power of two.
 */
static int
list_add(struct folder_list *l, const char *name, size_t len, unsigned attrs)
{
	struct folder_entry *e;
	size_t ncap;
	char *s;

	if (l->n == 0 || (l->n >= 16 && (l->n & (l->n - 1)) == 0)) {
		ncap = l->n == 0 ? 16 : l->n * 2;
		if ((e = reallocarray(l->e, ncap, sizeof(*e))) == NULL)
			return -1;
		l->e = e;
	}
	if ((s = strndup(name, len)) == NULL)
		return -1;
	l->e[l->n].name = s;
	l->e[l->n].attrs = attrs;
	l->n++;
	return 0;
}

void
folder_list_free(struct folder_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

/* INBOX first, then byte order */
static int
name_cmp(const char *x, const char *y)
{
	int xi = strcmp(x, "INBOX") == 0, yi = strcmp(y, "INBOX") == 0;

	if (xi || yi)
		return yi - xi;
	return strcmp(x, y);
}

static int
entcmp(const void *a, const void *b)
{
	return name_cmp(((const struct folder_entry *)a)->name,
	    ((const struct folder_entry *)b)->name);
}

struct name_key {
	const struct folder_list	*l;
	const char			*name;
};

static int
entry_before(const void *arg, size_t i)
{
	const struct name_key *k = arg;

	return name_cmp(k->l->e[i].name, k->name) < 0;
}

/* Sort, and fold entries of the same name into one: it is what it is in
 * the strongest of them (a real folder over an implied parent over a
 * subscription of a name that does not exist). */
static void
list_sort(struct folder_list *l)
{
	const unsigned weak = FA_NOSELECT | FA_NONEXISTENT;
	struct folder_entry *prev;
	size_t i, j;

	if (l->n == 0)
		return;
	qsort(l->e, l->n, sizeof(l->e[0]), entcmp);
	for (i = 1, j = 1; i < l->n; i++) {
		prev = &l->e[j - 1];
		if (strcmp(prev->name, l->e[i].name) != 0) {
			l->e[j++] = l->e[i];
			continue;
		}
		prev->attrs = ((prev->attrs | l->e[i].attrs) & ~weak) |
		    (prev->attrs & l->e[i].attrs & weak);
		free(l->e[i].name);
	}
	l->n = j;
}

static struct folder_entry *
list_find(const struct folder_list *l, size_t n, const char *name)
{
	struct name_key k = { l, is_inbox(name) ? "INBOX" : name };
	size_t i = sorted_bound(0, n, entry_before, &k);

	return i < n && name_cmp(l->e[i].name, k.name) == 0 ? &l->e[i] : NULL;
}

/* --- subscriptions ---------------------------------------------------- */

/* Read the subscribed names, valid ones only, INBOX spelled "INBOX", in
 * file order. */
static int
subs_read(int rootfd, struct folder_list *subs)
{
	struct buf b;
	char *pos, *line, *p;
	const char *why, *name;
	int v2 = 0;

	memset(subs, 0, sizeof(*subs));
	buf_init(&b, SUBS_MAX);
	if (safefile_read(rootfd, SUBS_FILE, &b) == -1 && (errno != ENOENT ||
	    safefile_read(rootfd, SUBS_COURIER, &b) == -1)) {
		buf_free(&b);
		return errno == ENOENT ? 0 : -1;
	}
	if ((pos = b.data) == NULL) {		/* an empty file */
		buf_free(&b);
		return 0;
	}
	if (b.len >= 4 && memcmp(b.data, "V\t2\n", 4) == 0) {
		v2 = 1;
		pos += 4;
	}
	while ((line = safefile_line(&pos, b.data + b.len)) != NULL) {
		if (v2)
			for (p = line; (p = strchr(p, '\t')) != NULL; p++)
				*p = '/';
		else if (strchr(line, '.') != NULL) {
			if (strncasecmp(line, "INBOX.", 6) == 0)
				line += 6;
			for (p = line; (p = strchr(p, '.')) != NULL; p++)
				*p = '/';
		}
		if (*line == '\0' || folder_check_name(line, &why) == -1)
			continue;
		name = is_inbox(line) ? "INBOX" : line;
		if (list_add(subs, name, strlen(name), FA_SUBSCRIBED) == -1) {
			folder_list_free(subs);
			buf_free(&b);
			return -1;
		}
	}
	buf_free(&b);
	return 0;
}

/* Take the subscriptions dot-lock; its descriptor, or -1. */
static int
subs_lock(const char *root, int rootfd)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct stat st;
	unsigned waited;
	int fd;

	for (waited = 0;; waited += 20) {
		fd = openat(rootfd, SUBS_LOCK, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
		if (fstatat(rootfd, SUBS_LOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
			log_warnx("removing stale lock %s/%s (left by a "
			    "crashed writer)", root, SUBS_LOCK);
			(void)unlinkat(rootfd, SUBS_LOCK, 0);
			continue;
		}
		if (waited >= storelock_timeout()) {
			log_warnx("%s/%s: held by another process for over "
			    "%llu ms (lock_timeout)", root, SUBS_LOCK,
			    (unsigned long long)storelock_timeout());
			errno = ETIMEDOUT;
			return -1;
		}
		(void)nanosleep(&pause, NULL);
	}
}

int
folder_subscribe(const char *root, const char *name, int on)
{
	struct folder_list subs;
	struct buf out;
	const char *why;
	size_t i;
	int rootfd, lockfd, found = 0, r = -1, saved;

	if (folder_check_name(name, &why) == -1)
		return -1;
	if (is_inbox(name))
		name = "INBOX";
	if ((rootfd = open_root(root)) == -1)
		return -1;
	if ((lockfd = subs_lock(root, rootfd)) == -1) {
		saved = errno;
		close(rootfd);
		errno = saved;
		return -1;
	}
	buf_init(&out, SUBS_MAX);
	if (subs_read(rootfd, &subs) == -1)
		goto done;
	for (i = 0; i < subs.n; i++)
		if (strcmp(subs.e[i].name, name) == 0)
			found = 1;
	if (found == (on != 0)) {
		r = 0;
		goto done;
	}
	for (i = 0; i < subs.n; i++)
		if ((on || strcmp(subs.e[i].name, name) != 0) &&
		    buf_addf(&out, "%s\n", subs.e[i].name) == -1)
			goto done;
	if (on && buf_addf(&out, "%s\n", name) == -1)
		goto done;
	r = safefile_commit(rootfd, lockfd, SUBS_LOCK, SUBS_FILE,
	    out.data != NULL ? out.data : "", out.len);
	lockfd = -1;		/* closed, and renamed or removed */
done:
	saved = errno;
	if (lockfd != -1) {
		(void)unlinkat(rootfd, SUBS_LOCK, 0);
		close(lockfd);
	}
	folder_list_free(&subs);
	buf_free(&out);
	close(rootfd);
	errno = saved;
	return r;
}

/* --- LIST ------------------------------------------------------------- */

/* Add every real folder in root: a directory, not a link, with cur/,
 * and no link among cur/ new/ tmp/ (folder_open() would refuse it). */
static int
list_real(int rootfd, struct folder_list *l)
{
	char name[NAME_MAX + 1];
	struct dirent *de;
	const char *bad;
	DIR *dp;
	int fd, ffd, ok;

	if ((fd = dup(rootfd)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = next_entry(dp)) != NULL) {
		if (entryname(de->d_name, name) == -1 ||
		    entry_type(rootfd, de) != S_IFDIR)
			continue;
		ffd = openat(rootfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (ffd == -1)
			continue;
		ok = subdirs_check(ffd, &bad) == 0;
		close(ffd);
		if (ok && list_add(l, name, strlen(name), 0) == -1)
			break;
	}
	return closedir_r(dp, errno == 0 ? 0 : -1);
}

/* Add the implied parents of the first n entries (sorted) that do not
 * exist themselves.  INBOX, in any case, is never implied. */
static int
list_implied(struct folder_list *l, size_t n)
{
	char parent[FOLDER_NAME_MAX + 1];
	const char *slash;
	size_t i, len;

	for (i = 0; i < n; i++) {
		for (slash = strchr(l->e[i].name, '/'); slash != NULL;
		    slash = strchr(slash + 1, '/')) {
			len = (size_t)(slash - l->e[i].name);
			memcpy(parent, l->e[i].name, len);
			parent[len] = '\0';
			if (is_inbox(parent) || list_find(l, n, parent) != NULL)
				continue;
			if (list_add(l, parent, len, FA_NOSELECT) == -1)
				return -1;
		}
	}
	return 0;
}

/* HASCHILDREN on every parent of an entry that exists (or is implied);
 * HASNOCHILDREN on the rest. */
static void
list_children(struct folder_list *l)
{
	char parent[FOLDER_NAME_MAX + 1];
	struct folder_entry *p;
	const char *slash;
	size_t i, len;

	for (i = 0; i < l->n; i++) {
		if ((l->e[i].attrs & FA_NONEXISTENT) ||
		    (slash = strrchr(l->e[i].name, '/')) == NULL)
			continue;
		len = (size_t)(slash - l->e[i].name);
		memcpy(parent, l->e[i].name, len);
		parent[len] = '\0';
		if ((p = list_find(l, l->n, parent)) != NULL)
			p->attrs |= FA_HASCHILDREN;
	}
	for (i = 0; i < l->n; i++)
		if (!(l->e[i].attrs & FA_HASCHILDREN))
			l->e[i].attrs |= FA_HASNOCHILDREN;
}

int
folder_list(const char *root, int subscribed, struct folder_list *l)
{
	struct folder_list subs;
	struct folder_entry *e;
	size_t i, n;
	int rootfd, saved;

	memset(l, 0, sizeof(*l));
	memset(&subs, 0, sizeof(subs));
	if ((rootfd = open_root(root)) == -1)
		return -1;
	if (list_add(l, "INBOX", 5, 0) == -1 || list_real(rootfd, l) == -1)
		goto fail;
	list_sort(l);
	if (list_implied(l, l->n) == -1)
		goto fail;
	list_sort(l);
	if (subs_read(rootfd, &subs) == -1) {
		/* for LSUB the subscriptions are the answer; for LIST they
		 * are only an attribute, not worth failing over */
		if (subscribed || errno == ENOMEM)
			goto fail;
		log_warn("%s/%s cannot be read; listing folders without "
		    "subscriptions (check that it is a file the user can "
		    "read, not a link)", root, SUBS_FILE);
	}
	n = l->n;
	for (i = 0; i < subs.n; i++) {
		if ((e = list_find(l, n, subs.e[i].name)) != NULL)
			e->attrs |= FA_SUBSCRIBED;
		else if (subscribed && list_add(l, subs.e[i].name,
		    strlen(subs.e[i].name), FA_SUBSCRIBED | FA_NONEXISTENT) ==
		    -1)
			goto fail;
	}
	list_sort(l);
	list_children(l);
	folder_list_free(&subs);
	close(rootfd);
	return 0;
fail:
	saved = errno;
	folder_list_free(&subs);
	folder_list_free(l);
	close(rootfd);
	errno = saved;
	return -1;
}

/* --- create, delete, rename ------------------------------------------- */

int
folder_create(const char *root, const char *name, const char **why_r)
{
	char dn[NAME_MAX + 1];
	struct stat st;
	int rootfd, fd = -1, mf, saved;
	size_t made = 0;

	if (folder_check_name(name, why_r) == -1)
		return -1;
	if (is_inbox(name))
		return fail(why_r, EEXIST, WHY_EXISTS);
	diskname(name, dn);
	if ((rootfd = open_root(root)) == -1)
		return fail(why_r, errno, WHY_ROOT);
	if (mkdirat(rootfd, dn, 0700) == -1) {
		saved = errno;
		if (saved == EEXIST &&
		    (fstatat(rootfd, dn, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(st.st_mode))) {
			close(rootfd);
			return fail(why_r, EEXIST, "A file or link with the "
			    "mailbox's name is in the way.");
		}
		close(rootfd);
		return fail(why_r, saved, saved == EEXIST ? WHY_EXISTS :
		    "The mailbox could not be created.");
	}
	if ((fd = openat(rootfd, dn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		goto undo;
	for (; made < 3; made++)
		if (mkdirat(fd, subdirs[made], 0700) == -1)
			goto undo;
	if ((mf = openat(fd, "maildirfolder", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		goto undo;
	made++;
	close(mf);
	if (fsync(fd) == -1 || fsync(rootfd) == -1)
		goto undo;
	close(fd);
	close(rootfd);
	return 0;
undo:
	saved = errno;
	if (fd != -1) {
		if (made > 3)
			(void)unlinkat(fd, "maildirfolder", 0);
		while (made > 0) {
			made--;
			if (made < 3)
				(void)unlinkat(fd, subdirs[made], AT_REMOVEDIR);
		}
		close(fd);
	}
	(void)unlinkat(rootfd, dn, AT_REMOVEDIR);
	close(rootfd);
	return fail(why_r, saved, "The mailbox could not be created.");
}

/*
 * Remove dirfd/name and, if it is a directory, what is in it, going at
 * most RM_DEPTH levels down.  A link is removed, never followed.  Entries
 * that vanish meanwhile are fine; a directory that keeps filling up as we
 * empty it is given up after RM_PASSES passes.
 */
static int
rm_entry(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *dp;
	int fd, pass, removed, saved;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth >= RM_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((dp = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (pass = 0;; pass++) {
		removed = 0;
		while ((de = next_entry(dp)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (rm_entry(fd, de->d_name, depth + 1) == -1)
				goto fail;
			removed++;
		}
		if (errno != 0)
			goto fail;
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			break;
		if ((errno != ENOTEMPTY && errno != EEXIST) || removed == 0 ||
		    pass == RM_PASSES)
			goto fail;
		rewinddir(dp);
	}
	return closedir_r(dp, 0);
fail:
	return closedir_r(dp, -1);
}

int
folder_delete(const char *root, const char *name, const char **why_r)
{
	char dn[NAME_MAX + 1], gone[sizeof(DELETED_PREFIX) + 16];
	struct stat st;
	uint64_t rnd;
	int rootfd, tries, saved, n;

	if (folder_check_name(name, why_r) == -1)
		return -1;
	if (is_inbox(name))
		return fail(why_r, EPERM, "INBOX cannot be deleted.");
	diskname(name, dn);
	if ((rootfd = open_root(root)) == -1)
		return fail(why_r, errno, WHY_ROOT);
	if (fstatat(rootfd, dn, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		saved = errno;
		close(rootfd);
		return fail(why_r, saved, saved == ENOENT ? WHY_NOTFOUND :
		    "The mailbox could not be deleted.");
	}
	if (!S_ISDIR(st.st_mode)) {
		/* a link or a file: not a folder, and not ours to remove */
		close(rootfd);
		return fail(why_r, ENOENT, WHY_NOTFOUND);
	}
	for (tries = 0;; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			goto fail;
		n = snprintf(gone, sizeof(gone), "%s%016llx", DELETED_PREFIX,
		    (unsigned long long)rnd);
		if (n < 0 || (size_t)n >= sizeof(gone)) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		if (rename_noreplace(rootfd, dn, rootfd, gone) == 0)
			break;
		if (errno == ENOENT) {
			close(rootfd);
			return fail(why_r, ENOENT, WHY_NOTFOUND);
		}
		if (errno != EEXIST || tries == 4)
			goto fail;
	}
	/* from here on the folder is gone whatever happens to its files */
	(void)fsync(rootfd);
	if (rm_entry(rootfd, gone, 0) == -1)
		log_warn("deleting mailbox \"%s\": %s/%s could not be removed "
		    "completely (remove it by hand)", name, root, gone);
	close(rootfd);
	return 0;
fail:
	saved = errno;
	close(rootfd);
	return fail(why_r, saved, "The mailbox could not be deleted.");
}

struct move {
	char	from[NAME_MAX + 1];
	char	to[NAME_MAX + 1];
};

/*
 * Collect the directory renames that move folder src (".A") and the ones
 * below it (".A.*") to dst (".X", ".X.*").  Links and entries that are not
 * valid folder names stay where they are.  The number of moves, or -1
 * with *why_r.
 */
static ssize_t
rename_plan(int rootfd, const char *src, const char *dst, struct move **mv_r,
    const char **why_r)
{
	char name[NAME_MAX + 1];
	struct move *mv = NULL, *tmp;
	struct dirent *de;
	size_t slen = strlen(src), n = 0, cap = 0;
	DIR *dp;
	int fd, saved;

	if ((fd = dup(rootfd)) == -1 || (dp = fdopendir(fd)) == NULL) {
		saved = errno;
		if (fd != -1)
			close(fd);
		return fail(why_r, saved, "The mailbox could not be renamed.");
	}
	while ((de = next_entry(dp)) != NULL) {
		if (strncmp(de->d_name, src, slen) != 0 ||
		    (de->d_name[slen] != '\0' && de->d_name[slen] != '.') ||
		    entryname(de->d_name, name) == -1 ||
		    entry_type(rootfd, de) != S_IFDIR)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((tmp = reallocarray(mv, cap, sizeof(*mv))) == NULL)
				goto fail;
			mv = tmp;
		}
		memcpy(mv[n].from, de->d_name, strlen(de->d_name) + 1);
		if (strlen(dst) + strlen(de->d_name + slen) > NAME_MAX ||
		    snprintf(mv[n].to, sizeof(mv[n].to), "%s%s", dst,
		    de->d_name + slen) < 0 || entryname(mv[n].to, name) == -1) {
			free(mv);
			closedir(dp);
			return fail(why_r, ENAMETOOLONG, "The new name (or that "
			    "of a mailbox below it) is too long.");
		}
		n++;
	}
	if (errno != 0)
		goto fail;
	closedir(dp);
	*mv_r = mv;
	return (ssize_t)n;
fail:
	free(mv);
	return fail(why_r, closedir_r(dp, errno),
	    "The mailbox could not be renamed.");
}

/* Move the message files (not dot files) from one directory to another,
 * keeping their names.  Files that vanish meanwhile were expunged or
 * moved by someone else and are skipped. */
static int
move_files(int from, int to)
{
	struct dirent *de;
	DIR *dp;
	int fd, pass, moved;

	if ((fd = dup(from)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	/* readdir may miss a file renamed during the pass; repeat until a
	 * pass finds nothing */
	for (pass = 0, moved = 1; moved > 0 && pass < MOVE_PASSES; pass++) {
		moved = 0;
		rewinddir(dp);
		while ((de = next_entry(dp)) != NULL) {
			if (de->d_name[0] == '.' ||
			    entry_type(from, de) != S_IFREG)
				continue;
			if (rename_noreplace(from, de->d_name, to,
			    de->d_name) == 0)
				moved++;
			else if (errno != ENOENT)
				goto fail;
		}
		if (errno != 0)
			goto fail;
	}
	return closedir_r(dp, 0);
fail:
	return closedir_r(dp, -1);
}

static int
rename_inbox(const char *root, const char *to, const char **why_r)
{
	/* INBOX new, INBOX cur, target new, target cur */
	static const char *const sub[4] = { "new", "cur", "new", "cur" };
	char dn[NAME_MAX + 1];
	int rootfd, dstfd = -1, fds[4] = { -1, -1, -1, -1 }, i, r = -1;
	int saved;

	if (folder_create(root, to, why_r) == -1)
		return -1;
	diskname(to, dn);
	if ((rootfd = open_root(root)) == -1)
		return fail(why_r, errno, WHY_ROOT);
	if ((dstfd = openat(rootfd, dn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		goto done;
	for (i = 0; i < 4; i++)
		if ((fds[i] = openat(i < 2 ? rootfd : dstfd, sub[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
			goto done;
	/* new/ first: a message another session moves from new/ to cur/
	 * meanwhile is then still found in cur/ */
	if (move_files(fds[0], fds[2]) == -1 ||
	    move_files(fds[1], fds[3]) == -1)
		goto done;
	for (i = 0; i < 4; i++)
		if (fsync(fds[i]) == -1)
			goto done;
	r = 0;
done:
	saved = errno;
	for (i = 0; i < 4; i++)
		if (fds[i] != -1)
			close(fds[i]);
	if (dstfd != -1)
		close(dstfd);
	close(rootfd);
	if (r == -1)
		return fail(why_r, saved, "Not every message could be moved "
		    "out of INBOX; the rest are still there.");
	return 0;
}

int
folder_rename(const char *root, const char *from, const char *to,
    const char **why_r)
{
	char src[NAME_MAX + 1], dst[NAME_MAX + 1];
	struct move *mv = NULL;
	struct stat st;
	const char *why;
	size_t flen = strlen(from), i;
	ssize_t n;
	int rootfd, saved;

	if (folder_check_name(from, why_r) == -1 ||
	    folder_check_name(to, why_r) == -1)
		return -1;
	if (is_inbox(to))
		return fail(why_r, EEXIST, WHY_EXISTS);
	if (is_inbox(from))
		return rename_inbox(root, to, why_r);
	if (strcmp(from, to) == 0)
		return fail(why_r, EEXIST, WHY_EXISTS);
	if (strncmp(to, from, flen) == 0 && to[flen] == '/')
		return fail(why_r, EINVAL,
		    "A mailbox cannot be moved inside itself.");
	diskname(from, src);
	diskname(to, dst);
	if ((rootfd = open_root(root)) == -1)
		return fail(why_r, errno, WHY_ROOT);
	if ((n = rename_plan(rootfd, src, dst, &mv, why_r)) == -1) {
		saved = errno;
		close(rootfd);
		errno = saved;
		return -1;
	}
	if (n == 0) {
		close(rootfd);
		return fail(why_r, ENOENT, WHY_NOTFOUND);
	}
	for (i = 0; i < (size_t)n; i++) {
		if (fstatat(rootfd, mv[i].to, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    errno != ENOENT) {
			why = strcmp(mv[i].to, dst) == 0 ? WHY_EXISTS :
			    WHY_CHILD_EXISTS;
			free(mv);
			close(rootfd);
			return fail(why_r, EEXIST, why);
		}
	}
	for (i = 0; i < (size_t)n; i++)
		if (rename_noreplace(rootfd, mv[i].from, rootfd, mv[i].to) == -1)
			break;
	if (i < (size_t)n) {
		saved = errno;
		while (i-- > 0)
			if (rename_noreplace(rootfd, mv[i].to, rootfd,
			    mv[i].from) == -1)
				log_warn("renaming mailbox \"%s\": could not "
				    "move %s/%s back to %s (rename it by hand)",
				    from, root, mv[i].to, mv[i].from);
		free(mv);
		close(rootfd);
		return fail(why_r, saved, saved == EEXIST ? WHY_CHILD_EXISTS :
		    "The mailbox could not be renamed.");
	}
	(void)fsync(rootfd);
	free(mv);
	close(rootfd);
	return 0;
}

/* --- the root ---------------------------------------------------------- */

int
folder_init_root(const char *root)
{
	char path[FOLDER_PATH_MAX];
	const char *bad;
	size_t i, len = strlen(root);
	int rootfd, saved;

	if (len == 0 || len >= sizeof(path)) {
		errno = len == 0 ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	memcpy(path, root, len + 1);
	/* mkdir -p, each level 0700 */
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		path[i] = root[i];
	}
	if ((rootfd = open_root(root)) == -1)
		return -1;
	for (i = 0; i < 3; i++)
		if (mkdirat(rootfd, subdirs[i], 0700) == -1 && errno != EEXIST)
			goto fail;
	if (subdirs_check(rootfd, &bad) == -1) {
		if (errno == ELOOP)
			log_link(root, bad);
		goto fail;
	}
	close(rootfd);
	return 0;
fail:
	saved = errno;
	close(rootfd);
	errno = saved;
	return -1;
}
