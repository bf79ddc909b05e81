/* Unit tests for maildir/filename: taking names apart (odd ones too),
 * building them with flags in order, and unique names. */
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "maildir/filename.h"
#include "tests/t.h"

#define U	MD_SIZE_UNKNOWN

static const struct {
	const char	*name;
	size_t		 baselen;
	uint64_t	 size, vsize;
	int		 has_info;
	unsigned	 flags;
	uint32_t	 keywords;
	const char	*other;
} parse_ok[] = {
	/* S= and W=, either, both, neither */
	{ "1700000000.M1P2Q3.host,S=1234,W=1260:2,FS", 36, 1234, 1260, 1,
	    MF_FLAGGED | MF_SEEN, 0, "" },
	{ "1700000000.M1P2Q3.host,W=1260,S=1234:2,S", 36, 1234, 1260, 1,
	    MF_SEEN, 0, "" },
	{ "1700000000.M1P2Q3.host,S=1234:2,", 29, 1234, U, 1, 0, 0, "" },
	{ "1700000000.M1P2Q3.host,W=99:2,R", 27, U, 99, 1, MF_ANSWERED, 0,
	    "" },
	{ "1700000000.M1P2Q3.host", 22, U, U, 0, 0, 0, "" },
	{ "1700000000.M1P2Q3.host,S=0", 26, 0, U, 0, 0, 0, "" },
	/* procmail and other odd names: no flags, the whole name is the base */
	{ "1700000000.12345_0.mailhost", 27, U, U, 0, 0, 0, "" },
	{ "msg.AbCd", 8, U, U, 0, 0, 0, "" },
	{ "x:2", 3, U, U, 0, 0, 0, "" },
	{ "x:3,S", 5, U, U, 0, 0, 0, "" },
	{ "x:,S", 4, U, U, 0, 0, 0, "" },
	{ "x;2S", 4, U, U, 0, 0, 0, "" },
	{ ":2,S", 4, U, U, 0, 0, 0, "" },	/* a base is never empty */
	{ ";2,", 3, U, U, 0, 0, 0, "" },
	/* ":1," info ends the base but has no flags */
	{ "123.M1.h:1,foo", 8, U, U, 0, 0, 0, "" },
	{ "123.M1.h,S=5:1,", 12, 5, U, 0, 0, 0, "" },
	/* ";" stands for ":" */
	{ "123.M1.h;2,RS", 8, U, U, 1, MF_ANSWERED | MF_SEEN, 0, "" },
	/* the last separator wins; earlier ones are part of the base */
	{ "a:b:2,S", 3, U, U, 1, MF_SEEN, 0, "" },
	{ "a:2,b:2,T", 5, U, U, 1, MF_DELETED, 0, "" },
	{ "a;2,b:2,D", 5, U, U, 1, MF_DRAFT, 0, "" },
	{ "a:2,S;1,", 5, U, U, 0, 0, 0, "" },
	/* other programs' flags are kept, each once, in order of appearance */
	{ "x:2,ABSZ", 1, U, U, 1, MF_SEEN, 0, "ABZ" },
	{ "x:2,ZYA", 1, U, U, 1, 0, 0, "ZYA" },
	{ "x:2,SSaaBBS", 1, U, U, 1, MF_SEEN, 1, "B" },
	{ "x:2,ABCEGHIJKLMNOQUVWXYZ", 1, U, U, 1, 0, 0,
	    "ABCEGHIJKLMNOQUVWXYZ" },
	/* keywords */
	{ "x:2,Sacz", 1, U, U, 1, MF_SEEN, (1U << 0) | (1U << 2) | (1U << 25),
	    "" },
	{ "x:2,abcdefghijklmnopqrstuvwxyz", 1, U, U, 1, 0, 0x3ffffff, "" },
	/* every standard flag, in and out of order */
	{ "x:2,DFPRST", 1, U, U, 1, MF_ALL, 0, "" },
	{ "x:2,TSRPFD", 1, U, U, 1, MF_ALL, 0, "" },
	/* bytes that are not letters are ignored */
	{ "x:2,S1-.F", 1, U, U, 1, MF_SEEN | MF_FLAGGED, 0, "" },
	/* fields that are not plain numbers leave the size unknown */
	{ "x,S=abc,W=12:2,", 12, U, 12, 1, 0, 0, "" },
	{ "x,S=,W=:2,", 7, U, U, 1, 0, 0, "" },
	{ "x,S=-1", 6, U, U, 0, 0, 0, "" },
	{ "x,S=+1", 6, U, U, 0, 0, 0, "" },
	{ "x,S= 1", 6, U, U, 0, 0, 0, "" },
	{ "x,S=18446744073709551615", 24, U, U, 0, 0, 0, "" },
	{ "x,S=18446744073709551614", 24, 18446744073709551614ULL, U, 0, 0,
	    0, "" },
	{ "x,S=99999999999999999999", 24, U, U, 0, 0, 0, "" },
	{ "x,S=12,S=13,W=1,W=2", 19, 12, 1, 0, 0, 0, "" },
	{ "x,s=12,w=13", 11, U, U, 0, 0, 0, "" },
	{ "S=5:2,S", 3, U, U, 1, MF_SEEN, 0, "" },	/* no ',' before it */
	{ "x,,S=5,", 7, 5, U, 0, 0, 0, "" },
	{ "x,S=5:b:2,", 7, U, U, 1, 0, 0, "" },	/* "5:b" is not a number */
};

static void
test_parse(void)
{
	struct mdname m;
	char name[MDNAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(parse_ok) / sizeof(parse_ok[0]); i++) {
		memset(&m, 0xa5, sizeof(m));
		CHECK_MSG(mdname_parse(parse_ok[i].name, &m) == 0, "case %zu",
		    i);
		CHECK_MSG(m.baselen == parse_ok[i].baselen,
		    "case %zu: baselen %zu", i, m.baselen);
		CHECK_MSG(m.size == parse_ok[i].size, "case %zu: size", i);
		CHECK_MSG(m.vsize == parse_ok[i].vsize, "case %zu: vsize", i);
		CHECK_MSG(m.has_info == parse_ok[i].has_info,
		    "case %zu: has_info", i);
		CHECK_MSG(m.flags == parse_ok[i].flags, "case %zu: flags %x",
		    i, m.flags);
		CHECK_MSG(m.keywords == parse_ok[i].keywords,
		    "case %zu: keywords %x", i, (unsigned)m.keywords);
		CHECK_MSG(strcmp(m.other, parse_ok[i].other) == 0,
		    "case %zu: other \"%s\"", i, m.other);
	}

	/* what a directory cannot hold */
	CHECK_INT(mdname_parse("", &m), -1);
	CHECK_INT(mdname_parse("a/b", &m), -1);
	CHECK_INT(mdname_parse("x:2,S/", &m), -1);
	memset(name, 'x', sizeof(name));
	name[MDNAME_MAX] = '\0';
	CHECK_INT(mdname_parse(name, &m), 0);
	CHECK_INT(m.baselen, MDNAME_MAX);
	name[MDNAME_MAX] = 'x';
	name[MDNAME_MAX + 1] = '\0';
	CHECK_INT(mdname_parse(name, &m), -1);
	CHECK_INT(errno, EINVAL);
}

static const struct {
	const char	*base;
	unsigned	 flags;
	uint32_t	 keywords;
	const char	*other;
	const char	*want;
} build_ok[] = {
	{ "x", 0, 0, NULL, "x:2," },
	{ "x", 0, 0, "", "x:2," },
	{ "x", MF_SEEN | MF_FLAGGED, 0, NULL, "x:2,FS" },
	{ "x", MF_ALL, 0, NULL, "x:2,DFPRST" },
	{ "x", MF_ALL | 0x40, 0, NULL, "x:2,DFPRST" },	/* unknown bits */
	/* upper case standard and other together, then keywords */
	{ "x", MF_ALL, (1U << 0) | (1U << 25), "ZA", "x:2,ADFPRSTZaz" },
	{ "x", MF_SEEN, 0x3ffffff, "QE",
	    "x:2,EQSabcdefghijklmnopqrstuvwxyz" },
	{ "x", MF_SEEN, 0, "SS", "x:2,S" },		/* each letter once */
	{ "x", 0, 0, "q1B-", "x:2,B" },		/* only 'A'..'Z' count */
	{ "1700000000.M1P2Q3.host,S=5", MF_DELETED | MF_DRAFT, 1U << 3, NULL,
	    "1700000000.M1P2Q3.host,S=5:2,DTd" },
	{ "a:b", MF_SEEN, 0, NULL, "a:b:2,S" },
};

static void
test_build(void)
{
	char out[MDNAME_MAX + 1], base[MDNAME_MAX + 1], small[8];
	struct mdname m;
	size_t i;

	for (i = 0; i < sizeof(build_ok) / sizeof(build_ok[0]); i++) {
		CHECK_MSG(mdname_build(out, sizeof(out), build_ok[i].base,
		    strlen(build_ok[i].base), build_ok[i].flags,
		    build_ok[i].keywords, build_ok[i].other) == 0, "case %zu",
		    i);
		CHECK_STR(out, build_ok[i].want);
		/* and it parses back to the same */
		CHECK_INT(mdname_parse(out, &m), 0);
		CHECK_INT(m.baselen, strlen(build_ok[i].base));
		CHECK_INT(m.has_info, 1);
	}

	/* baselen counts, not the NUL */
	CHECK_INT(mdname_build(out, sizeof(out), "abc:2,S", 3, MF_DRAFT, 0,
	    NULL), 0);
	CHECK_STR(out, "abc:2,D");

	/* flags survive a parse and a rebuild */
	CHECK_INT(mdname_parse("b,S=9;2,ZTaSqA", &m), 0);
	CHECK_INT(mdname_build(out, sizeof(out), "b,S=9", m.baselen,
	    m.flags | MF_ANSWERED, m.keywords, m.other), 0);
	CHECK_STR(out, "b,S=9:2,ARSTZaq");

	/* sizes */
	CHECK_INT(mdname_build(small, sizeof(small), "abcd", 4, 0, 0, NULL),
	    0);
	CHECK_STR(small, "abcd:2,");
	CHECK_INT(mdname_build(small, sizeof(small), "abc", 3, MF_SEEN, 0,
	    NULL), 0);
	CHECK_STR(small, "abc:2,S");
	CHECK_INT(mdname_build(small, sizeof(small), "abcd", 4, MF_SEEN, 0,
	    NULL), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	memset(base, 'b', sizeof(base));
	CHECK_INT(mdname_build(out, sizeof(out), base, MDNAME_MAX - 5,
	    MF_SEEN | MF_FLAGGED, 0, NULL), 0);
	CHECK_INT(strlen(out), MDNAME_MAX);
	CHECK_INT(mdname_build(out, sizeof(out), base, MDNAME_MAX - 5,
	    MF_SEEN | MF_FLAGGED | MF_DRAFT, 0, NULL), -1);
	CHECK_INT(mdname_build(out, sizeof(out), base, MDNAME_MAX - 4,
	    MF_SEEN, 0, NULL), 0);
	CHECK_INT(mdname_build(out, sizeof(out), base, MDNAME_MAX - 2,
	    0, 0, NULL), -1);

	/* bases that cannot be */
	CHECK_INT(mdname_build(out, sizeof(out), "", 0, MF_SEEN, 0, NULL), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(mdname_build(out, sizeof(out), "a/b", 3, 0, 0, NULL), -1);
	CHECK_INT(mdname_build(out, sizeof(out), "a\0b", 3, 0, 0, NULL), -1);
}

static void
test_flagstr(void)
{
	char s[53];

	mdname_flagstr(s, sizeof(s), MF_ALL, 0x3ffffff, "ABCEGHIJKLMNOQUVWXYZ");
	CHECK_STR(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	mdname_flagstr(s, sizeof(s), 0, 0, NULL);
	CHECK_STR(s, "");
	mdname_flagstr(s, sizeof(s), MF_SEEN | MF_DRAFT, 1U << 1, NULL);
	CHECK_STR(s, "DSb");
	/* a short buffer is cut, never overrun */
	memset(s, '#', sizeof(s));
	mdname_flagstr(s, 3, MF_ALL, 0, NULL);
	CHECK_STR(s, "DF");
	CHECK_INT(s[3], '#');
	mdname_flagstr(s, 1, MF_ALL, 0, NULL);
	CHECK_STR(s, "");
	s[0] = '#';
	mdname_flagstr(s, 0, MF_ALL, 0, NULL);
	CHECK_INT(s[0], '#');
}

static void
test_unique(void)
{
	char a[MDNAME_MAX + 1], b[MDNAME_MAX + 1], want[64], tiny[16];
	struct mdname m;
	const char *p;
	int n;

	CHECK_INT(mdname_unique(a, sizeof(a), 1234, 1260), 0);
	CHECK_INT(mdname_unique(b, sizeof(b), 1234, 1260), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(mdname_parse(a, &m), 0);
	CHECK_INT(m.baselen, strlen(a));	/* no info in a base */
	CHECK_INT(m.has_info, 0);
	CHECK_INT(m.size, 1234);
	CHECK_INT(m.vsize, 1260);
	CHECK(strchr(a, ':') == NULL && strchr(a, '/') == NULL);
	/* <secs>.M<usec>P<pid>Q<n>.<host> */
	p = a + strspn(a, "0123456789");
	CHECK(p > a && p[0] == '.' && p[1] == 'M');
	n = snprintf(want, sizeof(want), "P%ldQ", (long)getpid());
	CHECK(n > 0 && (size_t)n < sizeof(want) && strstr(a, want) != NULL);
	/* the counter goes up by one per name */
	CHECK(strstr(a, "Q1.") != NULL);
	CHECK(strstr(b, "Q2.") != NULL);
	CHECK(strstr(b, ",S=1234,W=1260") != NULL);
	/* room for any flags afterwards */
	CHECK(strlen(a) + 3 + 52 <= MDNAME_MAX);
	CHECK_INT(mdname_unique(tiny, sizeof(tiny), 1, 1), -1);
	/* unknown sizes are left out */
	CHECK_INT(mdname_unique(a, sizeof(a), MD_SIZE_UNKNOWN, 77), 0);
	CHECK(strstr(a, ",S=") == NULL && strstr(a, ",W=77") != NULL);
	CHECK_INT(mdname_unique(a, sizeof(a), 9, MD_SIZE_UNKNOWN), 0);
	CHECK(strstr(a, ",S=9") != NULL && strstr(a, ",W=") == NULL);
}

/*
 * The host name is escaped.  Setting one needs a UTS namespace of our own,
 * so this runs only where that is allowed (as root), in a child.
 */
static void
test_unique_host(void)
{
	static const char host[] = "a/b:c,d.e";
	char name[MDNAME_MAX + 1];
	int fd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fd) == -1)
		return;
	if ((pid = fork()) == 0) {
		close(fd[0]);
		if (unshare(CLONE_NEWUTS) == -1 ||
		    sethostname(host, sizeof(host) - 1) == -1)
			_exit(3);
		if (mdname_unique(name, sizeof(name), 5, 6) == -1)
			_exit(1);
		n = write(fd[1], name, strlen(name));
		_exit(n == (ssize_t)strlen(name) ? 0 : 1);
	}
	close(fd[1]);
	n = pid == -1 ? -1 : read(fd[0], name, sizeof(name) - 1);
	close(fd[0]);
	if (pid == -1 || waitpid(pid, &status, 0) == -1)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		printf("(no UTS namespace: host name escaping not tested)\n");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(n > 0);
	name[n > 0 ? n : 0] = '\0';
	CHECK_MSG(strstr(name, ".a\\057b\\072c\\054d.e,S=5,W=6") != NULL,
	    "%s", name);
}

/* The host name the configuration gives is used, escaped alike, and ""
 * goes back to the system's. */
static void
test_unique_set_host(void)
{
	char name[MDNAME_MAX + 1], sys[256], want[300];
	int n;

	mdname_set_host("mx/1:b,c");
	CHECK_INT(mdname_unique(name, sizeof(name), 5, 6), 0);
	CHECK_MSG(strstr(name, ".mx\\0571\\072b\\054c,S=5,W=6") != NULL,
	    "%s", name);
	mdname_set_host("");
	CHECK_INT(mdname_unique(name, sizeof(name), 5, 6), 0);
	CHECK(strstr(name, "mx\\057") == NULL);
	if (gethostname(sys, sizeof(sys)) == 0 &&
	    strpbrk(sys, "/:,") == NULL) {
		n = snprintf(want, sizeof(want), ".%s,S=5", sys);
		CHECK(n > 0 && (size_t)n < sizeof(want));
		CHECK_MSG(strstr(name, want) != NULL, "%s", name);
	}
}

int
main(void)
{
	T_RUN(test_parse);
	T_RUN(test_build);
	T_RUN(test_flagstr);
	T_RUN(test_unique);
	T_RUN(test_unique_host);
	T_RUN(test_unique_set_host);
	return t_done();
}
