/* Unit tests for maildir/keywords: Dovecot's file read and written back,
 * letters given once even by stale writers, and keyword validity. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "maildir/keywords.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char dir[] = "/tmp/test-keywords.XXXXXX";
static char file[sizeof(dir) + sizeof(KEYWORDS_FILE) + 1];

static int
put(const char *text, size_t len)
{
	return t_put(file, text, len);
}

static const char *
get(void)
{
	return t_get(file);
}

/* how many names are in the directory besides the keywords file */
static int
strays(void)
{
	return t_count(dir, NULL) - (access(file, F_OK) == 0);
}

static const char *valid[] = {
	"$Forwarded", "$Junk", "NonJunk", "x", "a[b", "a}b", "a+b", "$label1",
	"Work-2024", "!#&'", "a.b/c", "Junk_Mail",
};

static const char *invalid[] = {
	"", "a b", "a(b", "a)b", "a{b", "a%b", "a*b", "a\"b", "a\\b", "a]b",
	"\\Seen", "\x01", "a\tb", "a\nb", "a\x7f", "caf\xc3\xa9", " x", "x ",
};

static void
test_valid(void)
{
	char name[KEYWORD_LEN_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		CHECK_MSG(keywords_valid(valid[i]), "valid %zu", i);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		CHECK_MSG(!keywords_valid(invalid[i]), "invalid %zu", i);
	memset(name, 'k', sizeof(name));
	name[KEYWORD_LEN_MAX] = '\0';
	CHECK(keywords_valid(name));
	name[KEYWORD_LEN_MAX] = 'k';
	name[KEYWORD_LEN_MAX + 1] = '\0';
	CHECK(!keywords_valid(name));
}

static void
test_load(void)
{
	static const char text[] =
	    "0 $Forwarded\n"
	    "1 $Junk\r\n"
	    "3 NonJunk\n"
	    "bad line\n"
	    "26 TooFar\n"
	    "-1 Negative\n"
	    "+2 Plus\n"
	    "2 \n"
	    "4 has space\n"
	    " 5 Lead\n"
	    "5 (paren\n"
	    "1 Second\n"		/* letter b is already $Junk */
	    "6 nul\0here\n"
	    "\n"
	    "99999999999999999999999 Big\n"
	    "7 $label1";		/* no final newline */
	struct keywords kw;
	int i;

	/* a missing file is an empty mapping */
	CHECK_INT(keywords_load(dir, &kw), 0);
	for (i = 0; i < KEYWORDS_MAX; i++)
		CHECK(kw.name[i] == NULL);
	keywords_free(&kw);

	CHECK_INT(put(text, sizeof(text) - 1), 0);
	CHECK_INT(keywords_load(dir, &kw), 0);
	CHECK_STR(kw.name[0], "$Forwarded");
	CHECK_STR(kw.name[1], "$Junk");
	CHECK(kw.name[2] == NULL);
	CHECK_STR(kw.name[3], "NonJunk");
	CHECK(kw.name[4] == NULL);
	CHECK(kw.name[5] == NULL);
	CHECK(kw.name[6] == NULL);
	CHECK_STR(kw.name[7], "$label1");
	for (i = 8; i < KEYWORDS_MAX; i++)
		CHECK(kw.name[i] == NULL);

	/* case-insensitive lookup */
	CHECK_INT(keywords_find(&kw, "$forwarded"), 0);
	CHECK_INT(keywords_find(&kw, "$JUNK"), 1);
	CHECK_INT(keywords_find(&kw, "nonjunk"), 3);
	CHECK_INT(keywords_find(&kw, "$Label1"), 7);
	CHECK_INT(keywords_find(&kw, "Second"), -1);
	CHECK_INT(keywords_find(&kw, "Work"), -1);
	CHECK_INT(keywords_find(&kw, ""), -1);

	/* a new keyword takes the first free letter; the file is rewritten
	 * clean, in letter order */
	CHECK_INT(keywords_add(dir, &kw, "Work"), 2);
	CHECK_STR(get(), "0 $Forwarded\n1 $Junk\n2 Work\n3 NonJunk\n"
	    "7 $label1\n");
	CHECK_INT(keywords_add(dir, &kw, "work"), 2);
	CHECK_INT(keywords_add(dir, &kw, "$JUNK"), 1);
	CHECK_INT(keywords_add(dir, &kw, "a b"), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(keywords_add(dir, &kw, ""), -1);
	CHECK_INT(strays(), 0);
	keywords_free(&kw);
	for (i = 0; i < KEYWORDS_MAX; i++)
		CHECK(kw.name[i] == NULL);
	keywords_free(&kw);		/* twice is harmless */

	/* and it reads back the same */
	CHECK_INT(keywords_load(dir, &kw), 0);
	CHECK_INT(keywords_find(&kw, "WORK"), 2);
	keywords_free(&kw);
}

/* Two sessions loaded the mapping at once; both add a keyword. */
static void
test_stale(void)
{
	struct keywords a, b;

	CHECK_INT(put("0 $Forwarded\n", 13), 0);
	CHECK_INT(keywords_load(dir, &a), 0);
	CHECK_INT(keywords_load(dir, &b), 0);
	CHECK_INT(keywords_add(dir, &a, "One"), 1);
	CHECK_INT(keywords_add(dir, &b, "Two"), 2);	/* not 1 again */
	CHECK_STR(b.name[1], "One");
	CHECK_STR(get(), "0 $Forwarded\n1 One\n2 Two\n");
	/* a stale reader asking for a keyword another gave a letter to */
	CHECK_INT(keywords_add(dir, &a, "two"), 2);
	CHECK_STR(get(), "0 $Forwarded\n1 One\n2 Two\n");

	/* the file is lost: letters in memory are kept and written back */
	CHECK_INT(unlink(file), 0);
	CHECK_INT(keywords_add(dir, &a, "Three"), 3);
	CHECK_STR(get(), "0 $Forwarded\n1 One\n2 Two\n3 Three\n");

	/* the file gives a letter we hold to another keyword: the file wins,
	 * and our keyword is not written a second time */
	CHECK_INT(put("0 Other\n3 $Forwarded\n", 21), 0);
	CHECK_INT(keywords_add(dir, &a, "Four"), 4);
	CHECK_STR(a.name[0], "Other");
	CHECK_INT(keywords_find(&a, "$Forwarded"), 3);
	CHECK_INT(keywords_find(&a, "Three"), -1);
	CHECK_STR(get(), "0 Other\n1 One\n2 Two\n3 $Forwarded\n4 Four\n");
	CHECK_INT(strays(), 0);
	keywords_free(&a);
	keywords_free(&b);
}

static void
test_full(void)
{
	struct keywords kw;
	char name[16];
	int i, n;

	CHECK_INT(unlink(file), 0);
	CHECK_INT(keywords_load(dir, &kw), 0);
	for (i = 0; i < KEYWORDS_MAX; i++) {
		n = snprintf(name, sizeof(name), "kw%d", i);
		CHECK(n > 0 && (size_t)n < sizeof(name));
		CHECK_INT(keywords_add(dir, &kw, name), i);
	}
	CHECK_INT(keywords_add(dir, &kw, "OneTooMany"), -1);
	CHECK_INT(errno, EMLINK);
	CHECK_INT(keywords_add(dir, &kw, "KW25"), 25);
	CHECK_INT(keywords_find(&kw, "OneTooMany"), -1);
	keywords_free(&kw);
	CHECK_INT(keywords_load(dir, &kw), 0);
	CHECK_STR(kw.name[25], "kw25");
	keywords_free(&kw);
	CHECK_INT(strays(), 0);
}

static void
test_errors(void)
{
	struct keywords kw;
	char big[70 * 1024];
	size_t i;

	/* too big to be ours: refused, not read in part */
	for (i = 0; i + 8 <= sizeof(big); i += 8)
		memcpy(big + i, "0 kwxyz\n", 8);
	CHECK_INT(put(big, sizeof(big)), 0);
	CHECK_INT(keywords_load(dir, &kw), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK(kw.name[0] == NULL);
	keywords_free(&kw);
	CHECK_INT(keywords_add(dir, &kw, "New"), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK_INT(unlink(file), 0);

	/* a symbolic link is not followed */
	CHECK_INT(put("0 Secret\n", 9), 0);
	CHECK_INT(rename(file, "/tmp/test-keywords-target"), 0);
	CHECK_INT(symlink("/tmp/test-keywords-target", file), 0);
	CHECK_INT(keywords_load(dir, &kw), -1);
	CHECK_INT(errno, ELOOP);
	keywords_free(&kw);
	CHECK_INT(unlink(file), 0);
	CHECK_INT(unlink("/tmp/test-keywords-target"), 0);

	/* no such folder: the mapping is left as it was */
	CHECK_INT(keywords_load("/nonexistent/folder", &kw), -1);
	CHECK_INT(errno, ENOENT);
	kw.name[4] = strdup("Mine");
	CHECK_INT(keywords_add("/nonexistent/folder", &kw, "New"), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_STR(kw.name[4], "Mine");
	CHECK_INT(keywords_find(&kw, "New"), -1);
	keywords_free(&kw);
}

int
main(void)
{
	int n;

	if (mkdtemp(dir) == NULL)
		return 2;
	n = snprintf(file, sizeof(file), "%s/%s", dir, KEYWORDS_FILE);
	if (n < 0 || (size_t)n >= sizeof(file))
		return 2;
	T_RUN(test_valid);
	T_RUN(test_load);
	T_RUN(test_stale);
	T_RUN(test_full);
	T_RUN(test_errors);
	(void)unlink(file);
	CHECK_INT(rmdir(dir), 0);
	return t_done();
}
