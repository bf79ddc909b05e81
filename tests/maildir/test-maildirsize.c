/* Unit tests for common/lib/quotadef and maildir/maildirsize: definitions
 * good and bad, reading a file with odd lines, deltas appended, the
 * recalculation (Trash and dot files left out, ",S=" believed), the rules
 * that ask for one, and the lock that holds a recalculation off. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/quotadef.h"
#include "maildir/maildirsize.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char root[] = "/tmp/test-maildirsize.XXXXXX";

static const char *
at(const char *rel)
{
	static char path[2][512];
	static int which;

	which = !which;
	if (snprintf(path[which], sizeof(path[which]), "%s/%s", root, rel) >=
	    (int)sizeof(path[which]))
		abort();
	return path[which];
}

static int
put_str(const char *text)
{
	return t_put(at("maildirsize"), text, strlen(text));
}

static void
test_quotadef(void)
{
	static const struct {
		const char	*def;
		int		 ok;
		uint64_t	 bytes, messages;
		const char	*formatted;
	} cases[] = {
		{ "1000S,20C", 0, 1000, 20, "1000S,20C" },
		{ "20C,1000S", 0, 1000, 20, "1000S,20C" },
		{ "5000S", 0, 5000, 0, "5000S" },
		{ "7C", 0, 0, 7, "7C" },
		{ "", 0, 0, 0, "" },
		{ "0S,0C", 0, 0, 0, "" },
		{ "5X", -1, 0, 0, NULL },
		{ "5S,", -1, 0, 0, NULL },
		{ ",5S", -1, 0, 0, NULL },
		{ "5S,6S", -1, 0, 0, NULL },
		{ "S", -1, 0, 0, NULL },
		{ "-5S", -1, 0, 0, NULL },
		{ "5 S", -1, 0, 0, NULL },
		{ "99999999999999999999S", -1, 0, 0, NULL },
	};
	struct quota_limits l;
	char out[QUOTADEF_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_MSG(quotadef_parse(cases[i].def, strlen(cases[i].def),
		    &l) == cases[i].ok, "case %zu", i);
		CHECK_INT(l.bytes, cases[i].bytes);
		CHECK_INT(l.messages, cases[i].messages);
		if (cases[i].formatted == NULL)
			continue;
		CHECK(quotadef_format(&l, out, sizeof(out)) == 0);
		CHECK_STR(out, cases[i].formatted);
	}
	l.bytes = 1000;
	l.messages = 20;
	CHECK(quotadef_format(&l, out, 5) == -1);
}

static void
mkdirs(void)
{
	static const char *const dirs[] = {
		"cur", "new", "tmp", ".Work", ".Work/cur", ".Work/new",
		".Work/tmp", ".Trash", ".Trash/cur", ".Trash/new", ".Trash/tmp",
	};
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		CHECK(mkdir(at(dirs[i]), 0700) == 0);
}

static void
test_scan(void)
{
	int64_t b = -1, m = -1;

	CHECK(t_put(at("cur/1.a.h,S=100:2,S"), "x", 1) == 0);
	CHECK(t_put(at("new/2.b.h"), "12345", 5) == 0);	/* stat()ed */
	/* not a message */
	CHECK(t_put(at("cur/.hidden"), "123", 3) == 0);
	CHECK(t_put(at(".Work/cur/3.c.h,S=1000:2,T"), "", 0) == 0);
	CHECK(t_put(at(".Trash/cur/4.d.h,S=7000:2,"), "", 0) == 0);
	/* links are not followed: a linked folder, a linked cur/ */
	CHECK(mkdir(at("outside"), 0700) == 0);
	CHECK(mkdir(at("outside/cur"), 0700) == 0);
	CHECK(t_put(at("outside/cur/9.z.h,S=5000"), "", 0) == 0);
	CHECK(symlink(at("outside"), at(".Evil")) == 0);
	CHECK(mkdir(at(".Odd"), 0700) == 0);
	CHECK(symlink(at("outside/cur"), at(".Odd/cur")) == 0);
	CHECK(maildirsize_scan(root, &b, &m) == 0);
	CHECK_INT(b, 1105);
	CHECK_INT(m, 3);
	CHECK(maildirsize_is_trash(at(".Trash")));
	CHECK(!maildirsize_is_trash(at(".Work")));
	CHECK(!maildirsize_is_trash(at(".Trash.Old")));
}

static void
test_open_add_recalc(void)
{
	struct quota_limits want = { 2000, 10 }, other = { 9000, 0 };
	struct maildirsize q, q2;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };

	/* no file, nothing wanted: no quota, and no file made */
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(q.fd == -1);
	CHECK(maildirsize_over(root, &q, 1U << 30, 1000) == 0);
	CHECK(access(at("maildirsize"), F_OK) == -1);
	/* wanted: made by a scan */
	CHECK(maildirsize_open(root, &want, 0, &q) == 0);
	CHECK(q.fd != -1);
	CHECK_STR(t_get(at("maildirsize")),
	    "2000S,10C\n        1105            3\n");
	CHECK(maildirsize_add(&q, 300, 1) == 0);
	CHECK(maildirsize_add(&q, -100, -1) == 0);
	CHECK_STR(t_get(at("maildirsize")),
	    "2000S,10C\n        1105            3\n         300            1\n"
	    "        -100           -1\n");
	CHECK_INT(q.bytes, 1305);
	CHECK_INT(q.messages, 3);
	maildirsize_close(&q);
	/* read back, odd lines skipped; a config default changes nothing */
	CHECK(put_str("2000S,10C\n1105 3\njunk\n 300   1\n"
	    "-100 -1\n40 1") == 0);
	CHECK(maildirsize_open(root, &other, 0, &q) == 0);
	CHECK_INT(q.limits.bytes, 2000);
	CHECK_INT(q.bytes, 1305);
	CHECK_INT(q.messages, 3);		/* the unfinished line waits */
	CHECK_INT(q.lines, 3);
	/* over with several lines: recalculated before the answer */
	CHECK(maildirsize_over(root, &q, 800, 1) == 0);
	CHECK_INT(q.lines, 1);
	CHECK_INT(q.bytes, 1105);
	/* over with one fresh line: believed */
	CHECK(maildirsize_over(root, &q, 900, 1) == 1);
	maildirsize_close(&q);
	/* a userdb quota replaces the file's */
	CHECK(maildirsize_open(root, &other, 1, &q) == 0);
	CHECK_STR(t_get(at("maildirsize")),
	    "9000S\n        1105            3\n");
	maildirsize_close(&q);
	/* one line claiming too much: believed while fresh, not when old */
	CHECK(put_str("2000S\n1990 1\n") == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(maildirsize_over(root, &q, 100, 1) == 1);
	maildirsize_close(&q);
	CHECK(utimensat(AT_FDCWD, at("maildirsize"), old, 0) == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(maildirsize_over(root, &q, 100, 1) == 0);
	CHECK_INT(q.bytes, 1105);
	maildirsize_close(&q);
	/* negative totals are recalculated on open */
	CHECK(put_str("2000S\n-5 -1\n") == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK_INT(q.bytes, 1105);
	maildirsize_close(&q);
	/* held: another's recalculation waits for later */
	CHECK(put_str("2000S\n1990 1\n1 0\n") == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(maildirsize_hold(root, &q) == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q2) == 0);
	CHECK(maildirsize_over(root, &q2, 100, 1) == 1);
	CHECK_INT(q2.bytes, 1991);
	CHECK(maildirsize_add(&q, 10, 1) == 0);
	maildirsize_close(&q);
	CHECK(maildirsize_over(root, &q2, 100, 1) == 0);
	CHECK_INT(q2.bytes, 1105);
	maildirsize_close(&q2);
	/* too big, and the recalculation must wait: the lines still count */
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(maildirsize_hold(root, &q) == 0);
	{
		char big[8192];
		size_t i, len = 0;

		len = (size_t)snprintf(big, sizeof(big), "100000S\n");
		for (i = 0; i < 300; i++)
			len += (size_t)snprintf(big + len, sizeof(big) - len,
			    "%24s\n", "10 1");
		CHECK(len > MAILDIRSIZE_MAX && len < sizeof(big));
		CHECK(put_str(big) == 0);
	}
	CHECK(maildirsize_open(root, NULL, 0, &q2) == 0);
	CHECK_INT(q2.bytes, 3000);
	CHECK_INT(q2.messages, 300);
	maildirsize_close(&q2);
	maildirsize_close(&q);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK_INT(q.bytes, 1105);
	CHECK_INT(q.lines, 1);
	maildirsize_close(&q);
	/* a hold after a replacement reads the new file */
	CHECK(put_str("2000S\n1990 1\n1 0\n") == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q) == 0);
	CHECK(maildirsize_open(root, NULL, 0, &q2) == 0);
	CHECK(maildirsize_recalc(root, &q2) == 0);
	maildirsize_close(&q2);
	CHECK_INT(q.bytes, 1991);
	CHECK(maildirsize_hold(root, &q) == 0);
	CHECK_INT(q.bytes, 1105);
	maildirsize_close(&q);
}

static void
test_msgsize(void)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY);

	CHECK(dfd != -1);
	CHECK_INT(maildirsize_msgsize(dfd, "cur/1.a.h,S=100:2,S"), 100);
	CHECK_INT(maildirsize_msgsize(dfd, "new/2.b.h"), 5);
	CHECK(maildirsize_msgsize(dfd, "new/gone") == -1 && errno == ENOENT);
	close(dfd);
}

int
main(void)
{
	char cmd[600];

	T_RUN(test_quotadef);
	if (mkdtemp(root) == NULL)
		return 1;
	mkdirs();
	T_RUN(test_scan);
	T_RUN(test_open_add_recalc);
	T_RUN(test_msgsize);
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root) <
	    (int)sizeof(cmd) && system(cmd) != 0)
		fprintf(stderr, "%s failed\n", cmd);
	return t_done();
}
