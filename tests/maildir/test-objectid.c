/* Unit tests for maildir/objectid: the RFC 8474 syntax, EMAILIDs from base
 * names (kept by a carried field, changed by any other byte), THREADIDs
 * from message IDs, and the
 * MAILBOXID file (made once, agreed on by racing processes, replaced when
 * damaged). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "maildir/filename.h"
#include "maildir/objectid.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char dir[] = "/tmp/test-objectid.XXXXXX";
static char file[sizeof(dir) + sizeof(OBJECTID_FILE) + 1];

static void
test_valid(void)
{
	static const char *good[] = { "a", "Z", "0", "-", "_",
	    "M6d99ac3275bb4e",
	    "F2212ea87-6097-4256-9d51-71338625", "a_b-C" };
	static const char *bad[] = { "", "a b", "a.b", "a+b", "(a)", "\"a\"",
	    "caf\xc3\xa9", "a\tb", "a:b", "a,b", "a/b", "*" };
	char longest[OBJECTID_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_MSG(objectid_valid(good[i], strlen(good[i])), "%s",
		    good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!objectid_valid(bad[i], strlen(bad[i])), "%s",
		    bad[i]);
	memset(longest, 'x', sizeof(longest));
	CHECK(objectid_valid(longest, OBJECTID_MAX));
	CHECK(!objectid_valid(longest, OBJECTID_MAX + 1));
	/* a NUL inside is not a character of the syntax */
	CHECK(!objectid_valid("a\0b", 3));
}

static int
ours(const char *id, char letter)
{
	size_t i;

	if (strlen(id) != OBJECTID_LEN || id[0] != letter)
		return 0;
	for (i = 1; i < OBJECTID_LEN; i++)
		if (strchr("0123456789abcdef", id[i]) == NULL)
			return 0;
	return objectid_valid(id, strlen(id));
}

static void
test_email(void)
{
	char a[OBJECTID_LEN + 1], b[OBJECTID_LEN + 1], c[OBJECTID_LEN + 1];
	char base[MDNAME_MAX + 1];
	const char *b1 = "1700000000.M1P2Q3.host,S=1234,W=1260";

	objectid_email(b1, a);
	CHECK(ours(a, 'M'));
	objectid_email(b1, b);
	CHECK_STR(a, b);
	/* one byte more or less is another message */
	objectid_email("1700000000.M1P2Q3.host,S=1234,W=126", b);
	CHECK(strcmp(a, b) != 0);
	objectid_email("1700000000.M1P2Q4.host,S=1234,W=1260", b);
	CHECK(strcmp(a, b) != 0);
	/* a copy's new base carries the id */
	snprintf(base, sizeof(base), "%s", "1800000000.M9P9Q9.host,S=1234");
	CHECK_INT(objectid_carry(base, sizeof(base), a), 0);
	CHECK(strstr(base, ",E=") != NULL);
	objectid_email(base, c);
	CHECK_STR(c, a);
	/* and carries it again when copied on */
	snprintf(b, sizeof(b), "%s", c);
	snprintf(base, sizeof(base), "1900000000.M1P1Q1.host,E=%s,S=12", b);
	objectid_email(base, c);
	CHECK_STR(c, a);
	/* a field that is not one of ours is only bytes of the base */
	objectid_email("1.M1.host,E=Mabc", b);
	CHECK(ours(b, 'M') && strcmp(b, "Mabc") != 0);
	objectid_email("1.M1.host,E=M0123456789abcdef0123456789ABCDEF", b);
	CHECK(strncmp(b, "M0123456789abcdef", 17) != 0);
	objectid_email("1.M1.host,XE=M0123456789abcdef0123456789abcdef", b);
	CHECK(strcmp(b, "M0123456789abcdef0123456789abcdef") != 0);
	objectid_email("1.M1.host,E=M0123456789abcdef0123456789abcdef", b);
	CHECK_STR(b, "M0123456789abcdef0123456789abcdef");
	/* what cannot be carried is refused, the base unchanged */
	snprintf(base, sizeof(base), "%s", "x");
	CHECK_INT(objectid_carry(base, 5, a), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	CHECK_STR(base, "x");
	CHECK_INT(objectid_carry(base, sizeof(base), "Mnothex"), -1);
	CHECK_INT(errno, EINVAL);
}

static void
test_thread(void)
{
	char a[OBJECTID_LEN + 1], b[OBJECTID_LEN + 1], e[OBJECTID_LEN + 1];

	objectid_thread("root@example.org", 16, a);
	CHECK(ours(a, 'T'));
	objectid_thread("root@example.org and more", 16, b);
	CHECK_STR(a, b);
	objectid_thread("root@example.orh", 16, b);
	CHECK(strcmp(a, b) != 0);
	/* never an EMAILID of the same bytes */
	objectid_email("root@example.org", e);
	CHECK(strcmp(a + 1, e + 1) == 0 && a[0] != e[0]);
}

static int
open_dir(void)
{
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
test_mailbox(void)
{
	char a[OBJECTID_LEN + 1], b[OBJECTID_LEN + 1], line[64];
	int fd = open_dir(), i, status, n;
	pid_t pid[4];

	CHECK(fd != -1);
	CHECK_INT(objectid_mailbox(fd, a), 0);
	CHECK(ours(a, 'F'));
	CHECK_INT(objectid_mailbox(fd, b), 0);
	CHECK_STR(a, b);
	snprintf(line, sizeof(line), "%s\n", a);
	CHECK_STR(t_get(file), line);
	/* the only file left: no temporary one stays behind */
	CHECK_INT(t_count(dir, NULL), 1);
	/* damaged: a new one replaces it, and stays */
	CHECK_INT(t_put(file, "F123\n", 5), 0);
	CHECK_INT(objectid_mailbox(fd, b), 0);
	CHECK(ours(b, 'F') && strcmp(a, b) != 0);
	CHECK_INT(objectid_mailbox(fd, a), 0);
	CHECK_STR(a, b);
	/* processes racing to make the first one agree on it */
	for (n = 0; n < 20; n++) {
		CHECK_INT(unlink(file), 0);
		for (i = 0; i < 4; i++)
			if ((pid[i] = t_fork()) == 0) {
				char id[OBJECTID_LEN + 1];
				char path[sizeof(dir) + 16];

				if (objectid_mailbox(fd, id) == -1)
					_exit(1);
				snprintf(path, sizeof(path), "%s/seen.%d", dir,
				    i);
				_exit(t_put(path, id, OBJECTID_LEN) == 0 ?
				    0 : 1);
			}
		for (i = 0; i < 4; i++) {
			CHECK(waitpid(pid[i], &status, 0) == pid[i]);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		CHECK_INT(objectid_mailbox(fd, a), 0);
		for (i = 0; i < 4; i++) {
			char path[sizeof(dir) + 16];

			snprintf(path, sizeof(path), "%s/seen.%d", dir, i);
			CHECK_STR(t_get(path), a);
			(void)unlink(path);
		}
	}
	CHECK_INT(t_count(dir, NULL), 1);
	(void)unlink(file);
	close(fd);
	/* no such folder */
	CHECK_INT(objectid_folder("/nonexistent/folder", a), -1);
	CHECK_INT(errno, ENOENT);
}

int
main(void)
{
	int n;

	if (mkdtemp(dir) == NULL)
		return 2;
	n = snprintf(file, sizeof(file), "%s/%s", dir, OBJECTID_FILE);
	if (n < 0 || (size_t)n >= sizeof(file))
		return 2;
	T_RUN(test_valid);
	T_RUN(test_email);
	T_RUN(test_thread);
	T_RUN(test_mailbox);
	CHECK_INT(rmdir(dir), 0);
	return t_done();
}
