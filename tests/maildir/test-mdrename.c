/*
 * Unit tests for md_rename() (mailbox.c) where the file system has no
 * renameat2(RENAME_NOREPLACE), as on NFS and FUSE: the rename is a link
 * and an unlink, and another process may rename or remove the file
 * between the two.  This program answers renameat2() with
 * RENAME_NOREPLACE itself (EINVAL), and its linkat() lets a test act as
 * that other process right after the link is made.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "maildir/mailbox-int.h"
#include "tests/t.h"
#include "tests/tfile.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif

static char root[] = "/tmp/test-mdrename.XXXXXX";
static int dirfd_;

/* what the other process does between the link and the unlink */
static void (*between)(void);

int	renameat2(int, const char *, int, const char *, unsigned int);
int	linkat(int, const char *, int, const char *, int);

int
renameat2(int ofd, const char *from, int nfd, const char *to,
    unsigned int flags)
{
	if (flags & RENAME_NOREPLACE) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_renameat2, ofd, from, nfd, to, flags);
}

int
linkat(int ofd, const char *from, int nfd, const char *to, int flags)
{
	int r = (int)syscall(SYS_linkat, ofd, from, nfd, to, flags);

	if (r == 0 && between != NULL)
		between();
	return r;
}

static void
make(const char *name)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	if (fd == -1 || write(fd, "x\n", 2) != 2 || close(fd) == -1) {
		perror(name);
		exit(2);
	}
}

static int
exists(const char *name)
{
	struct stat st;

	return fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static nlink_t
links(const char *name)
{
	struct stat st;

	return fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ?
	    st.st_nlink : 0;
}

/* a mail reader marks the message seen: its own rename */
static void
reader_renames(void)
{
	if (syscall(SYS_renameat2, dirfd_, "new/b", dirfd_, "cur/b:2,S", 0))
		perror("reader");
}

/* another session expunges it */
static void
session_removes(void)
{
	if (unlinkat(dirfd_, "new/c", 0) == -1)
		perror("remover");
}

/* another session moves it to another folder: a link there, then the
 * name here removed */
static void
session_moves_away(void)
{
	if (syscall(SYS_linkat, dirfd_, "new/d", dirfd_, "other/d", 0) ||
	    unlinkat(dirfd_, "new/d", 0) == -1)
		perror("mover");
}

static void
test_plain(void)
{
	make("new/a");
	between = NULL;
	CHECK_INT(md_rename(dirfd_, "new/a", dirfd_, "cur/a:2,"), 0);
	CHECK(!exists("new/a") && exists("cur/a:2,"));
	CHECK_INT(links("cur/a:2,"), 1);
	/* never over another file */
	make("new/a2");
	make("cur/a2:2,");
	errno = 0;
	CHECK_INT(md_rename(dirfd_, "new/a2", dirfd_, "cur/a2:2,"), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(exists("new/a2") && links("cur/a2:2,") == 1);
}

/* racer takes the file from under a move of from to to, leaving it as
 * theirs: the move fails with ENOENT and leaves theirs the file's only
 * name, not a second copy under ours */
static void
lost_race(const char *from, const char *to, void (*racer)(void),
    const char *theirs)
{
	make(from);
	between = racer;
	errno = 0;
	CHECK_INT(md_rename(dirfd_, from, dirfd_, to), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(!exists(to));
	CHECK(exists(theirs) && links(theirs) == 1);
}

static void
test_renamed_meanwhile(void)
{
	lost_race("new/b", "cur/b:2,", reader_renames, "cur/b:2,S");
}

static void
test_removed_meanwhile(void)
{
	make("new/c");
	between = session_removes;
	CHECK_INT(md_rename(dirfd_, "new/c", dirfd_, "cur/c:2,"), 0);
	/* ours is the file's only name now: kept, nothing lost */
	CHECK(exists("cur/c:2,") && links("cur/c:2,") == 1);
}

static void
test_moved_away_meanwhile(void)
{
	lost_race("new/d", "cur/d:2,", session_moves_away, "other/d");
}

int
main(void)
{
	if (mkdtemp(root) == NULL || (dirfd_ = open(root, O_RDONLY |
	    O_DIRECTORY)) == -1 || mkdirat(dirfd_, "new", 0700) == -1 ||
	    mkdirat(dirfd_, "cur", 0700) == -1 ||
	    mkdirat(dirfd_, "other", 0700) == -1) {
		perror(root);
		return 2;
	}
	T_RUN(test_plain);
	T_RUN(test_renamed_meanwhile);
	T_RUN(test_removed_meanwhile);
	T_RUN(test_moved_away_meanwhile);
	close(dirfd_);
	t_scratch_done(root);
	return t_done();
}
