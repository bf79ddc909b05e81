/* Unit tests for common/lib/safefile: whole reads within a maximum, atomic
 * replacement, no temporary files left behind, no links followed. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/lib/safefile.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char dir[] = "/tmp/test-safefile.XXXXXX";

static int
entries(void)
{
	return t_count(dir, NULL);
}

static void
test_line(void)
{
	static const struct {
		const char	*text;
		size_t		 len;
		const char	*want;	/* the lines, each followed by '|' */
	} tab[] = {
		{ "", 0, "" },
		{ "a", 1, "a|" },
		{ "a\n", 2, "a|" },
		{ "a\nb", 3, "a|b|" },
		{ "a\r\nb\r\n", 6, "a|b|" },
		{ "\n\n", 2, "||" },
		{ "a\rb\n", 4, "a\rb|" },	/* only a final \r goes */
		{ "\r\n", 2, "|" },
		{ "x\0y\nok\n", 7, "ok|" },	/* a line with NUL is skipped */
		{ "ok\nx\0", 5, "ok|" },
		{ "a\n\0", 3, "a|" },
	};
	struct buf b, got;
	char *pos, *line;
	size_t i;

	buf_init(&b, 64);
	buf_init(&got, 64);
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		buf_reset(&b);
		buf_reset(&got);
		(void)buf_add(&b, tab[i].text, tab[i].len);
		pos = b.data;
		while (pos != NULL &&
		    (line = safefile_line(&pos, b.data + b.len)) != NULL)
			(void)buf_addf(&got, "%s|", line);
		CHECK_MSG(strcmp(buf_cstr(&got), tab[i].want) == 0,
		    "case %zu: %s", i, buf_cstr(&got));
	}
	buf_free(&b);
	buf_free(&got);
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
	T_RUN(test_line);
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
	CHECK_INT(entries(), 1);

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
	CHECK_INT(entries(), 2);
	/* a rename that cannot happen (a directory is in the way) removes
	 * the temporary file */
	CHECK_INT(mkdirat(dirfd, "busy", 0700), 0);
	CHECK_INT(mkdirat(dirfd, "busy/sub", 0700), 0);
	CHECK_INT(safefile_commit(dirfd, fd, tmp, "busy", "data", 4), -1);
	CHECK_INT(entries(), 2);	/* state and busy */
	CHECK_INT(unlinkat(dirfd, "busy/sub", AT_REMOVEDIR), 0);
	CHECK_INT(unlinkat(dirfd, "busy", AT_REMOVEDIR), 0);

	/* a name too long for a temporary name */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(safefile_replace(dirfd, longname, "x", 1, 0600), -1);
	CHECK_INT(entries(), 1);

	buf_free(&b);
	CHECK_INT(unlinkat(dirfd, "state", 0), 0);
	close(dirfd);
	CHECK_INT(rmdir(dir), 0);
	return t_done();
}
