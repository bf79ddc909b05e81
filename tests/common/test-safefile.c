/* Unit tests for common/safefile: whole reads within a maximum, atomic
 * replacement, no temporary files left behind, no links followed. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/safefile.h"
#include "tests/t.h"

static char dir[] = "/tmp/test-safefile.XXXXXX";

static int
entries(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int n = 0, fd = dup(dirfd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int
main(void)
{
	char tmp[NAME_MAX + 1], longname[NAME_MAX + 1];
	struct buf b;
	int dirfd, fd;

	if (mkdtemp(dir) == NULL ||
	    (dirfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		return 2;
	buf_init(&b, 16);

	CHECK_INT(safefile_read(dirfd, "state", &b), -1);
	CHECK_INT(errno, ENOENT);

	CHECK_INT(safefile_replace(dirfd, "state", "hello\n", 6, 0600), 0);
	CHECK_INT(safefile_read(dirfd, "state", &b), 0);
	CHECK_STR(buf_cstr(&b), "hello\n");
	CHECK_INT(safefile_replace(dirfd, "state", "", 0, 0600), 0);
	buf_reset(&b);
	(void)buf_adds(&b, "x");
	CHECK_INT(safefile_read(dirfd, "state", &b), 0);
	CHECK_STR(buf_cstr(&b), "x");	/* appended nothing */
	CHECK_INT(entries(dirfd), 1);

	/* larger than the buffer may hold: an error, buffer unchanged */
	CHECK_INT(safefile_replace(dirfd, "state", "0123456789abcdefXYZ", 19,
	    0600), 0);
	CHECK_INT(safefile_read(dirfd, "state", &b), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK_STR(buf_cstr(&b), "x");

	/* a link is not followed */
	CHECK_INT(symlinkat("state", dirfd, "link"), 0);
	CHECK_INT(safefile_read(dirfd, "link", &b), -1);
	CHECK_INT(errno, ELOOP);
	CHECK_INT(unlinkat(dirfd, "link", 0), 0);

	/* a temporary file is new each time */
	fd = safefile_tmp(dirfd, "state", tmp, sizeof(tmp), 0600);
	CHECK(fd != -1);
	CHECK(strncmp(tmp, "state.", 6) == 0);
	CHECK_INT(entries(dirfd), 2);
	/* a rename that cannot happen (a directory is in the way) removes
	 * the temporary file */
	CHECK_INT(mkdirat(dirfd, "busy", 0700), 0);
	CHECK_INT(mkdirat(dirfd, "busy/sub", 0700), 0);
	CHECK_INT(safefile_commit(dirfd, fd, tmp, "busy", "data", 4), -1);
	CHECK_INT(entries(dirfd), 2);	/* state and busy */
	CHECK_INT(unlinkat(dirfd, "busy/sub", AT_REMOVEDIR), 0);
	CHECK_INT(unlinkat(dirfd, "busy", AT_REMOVEDIR), 0);

	/* a name too long for a temporary name */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(safefile_replace(dirfd, longname, "x", 1, 0600), -1);
	CHECK_INT(entries(dirfd), 1);

	buf_free(&b);
	CHECK_INT(unlinkat(dirfd, "state", 0), 0);
	close(dirfd);
	CHECK_INT(rmdir(dir), 0);
	return t_done();
}
