/* Unit tests for common/lib/apppass: the form that is hashed, the record
 * parser, generated passwords, and checks against a cdb file made here. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/apppass.h"
#include "common/lib/buf.h"
#include "common/lib/userdb.h"
#include "tests/t.h"

#define Y	"$y$j9T$F5Jx5fExrKuJdxDYUE7Ig/$ow0vVKC9rMz0mB9ZGNdqHqQzvvYYGX" \
		"2MkcS2YY/DW2D"

static const struct {
	const char	*in;
	const char	*plain;		/* NULL: not an app password */
} norm[] = {
	{ "abcd-efgh-ijkm-npqr-stuv", "abcdefghijkmnpqrstuv" },
	{ "abcdefghijkmnpqrstuv", "abcdefghijkmnpqrstuv" },
	{ "ABCD EFGH-ijkm npqr-STUV", "abcdefghijkmnpqrstuv" },
	{ "wxyz-2345-6789-abcd-efgh", "wxyz23456789abcdefgh" },
	{ "abcd-efgh-ijkm-npqr-stu", NULL },		/* 19 */
	{ "abcd-efgh-ijkm-npqr-stuvw", NULL },		/* 21 */
	{ "abcd-efgh-ijkm-npqr-stul", NULL },		/* l */
	{ "abcd-efgh-ijkm-npqr-stu0", NULL },		/* 0 */
	{ "abcd-efgh-ijkm-npqr-stu1", NULL },		/* 1 */
	{ "abcd-efgh-ijkm-npqr-stuo", NULL },		/* o */
	{ "abcd_efgh-ijkm-npqr-stuv", NULL },
	{ "", NULL },
	{ "----", NULL },
	{ "a secret password of mine", NULL },
};

static const struct {
	const char	*rec;
	size_t		 n;		/* entries; 0 with why */
	const char	*why;		/* the reason starts with this */
} recs[] = {
	{ "", 0, NULL },
	{ "phone:abcd:1700000000:" Y "\n", 1, NULL },
	{ "phone:abcd:1:" Y "\nlaptop:wxyz:2:" Y "\n", 2, NULL },
	{ "a.b_c-d@e+f:2345:0:" Y "\n", 1, NULL },
	{ "phone:abcd:1700000000:" Y, 0, "line: not ended" },
	{ "phone:abcd:1700000000\n", 0, "line: expected" },
	{ ":abcd:1:" Y "\n", 0, "label: " },
	{ "ph one:abcd:1:" Y "\n", 0, "label: " },
	{ "phone:abc:1:" Y "\n", 0, "selector: " },
	{ "phone:abcl:1:" Y "\n", 0, "selector: " },
	{ "phone:abcd:x:" Y "\n", 0, "created: " },
	{ "phone:abcd:1:\n", 0, "hash: " },
	{ "phone:abcd:1:nohash\n", 0, "hash: " },
	{ "phone:abcd:1:$y$a b\n", 0, "hash: " },
	{ "phone:abcd:1:" Y ":extra\n", 0, "hash: " },
	{ "phone:abcd:1:" Y "\nphone:wxyz:1:" Y "\n", 0, "record: " },
	{ "phone:abcd:1:" Y "\nother:abcd:1:" Y "\n", 0, "record: " },
};

static char dir[] = "/tmp/test-apppass.XXXXXX";

static void
test_normalize(void)
{
	char plain[APPPASS_CHARS + 1];
	size_t i;

	for (i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		int r = apppass_normalize(norm[i].in, plain);

		CHECK_MSG(r == (norm[i].plain != NULL ? 0 : -1), "%s",
		    norm[i].in);
		if (r == 0 && norm[i].plain != NULL)
			CHECK_STR(plain, norm[i].plain);
	}
}

static void
test_parse(void)
{
	struct apppass a[APPPASS_MAX];
	struct buf b;
	const char *why;
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		why = NULL;
		n = 99;
		r = apppass_parse(recs[i].rec, strlen(recs[i].rec), a,
		    APPPASS_MAX, &n, &why);
		if (recs[i].why == NULL) {
			CHECK_MSG(r == 0, "%s: %s", recs[i].rec, why);
			CHECK_INT(n, recs[i].n);
			/* written back the same */
			buf_init(&b, APPPASS_RECORD_MAX);
			CHECK(apppass_format(a, n, &b) == 0);
			CHECK_STR(buf_cstr(&b), recs[i].rec);
			buf_free(&b);
		} else
			CHECK_MSG(r == -1 && why != NULL &&
			    strncmp(why, recs[i].why, strlen(recs[i].why)) == 0,
			    "%s: %s", recs[i].rec, why ? why : "(accepted)");
	}
	/* more than may be kept */
	CHECK(apppass_parse("a:abcd:1:" Y "\nb:wxyz:1:" Y "\n", 2 * (11 +
	    strlen(Y)), a, 1, &n, &why) == -1);
}

static void
test_generate(void)
{
	char text[APPPASS_TEXT_SIZE], plain[APPPASS_CHARS + 1];
	char again[APPPASS_CHARS + 1], seen[256];
	char first[APPPASS_CHARS + 1];
	int i, distinct = 1;
	unsigned c, letters = 0;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 200; i++) {
		CHECK(apppass_generate(text, plain) == 0);
		CHECK_INT(strlen(text), APPPASS_TEXT_SIZE - 1);
		CHECK_INT(strlen(plain), APPPASS_CHARS);
		CHECK(text[4] == '-' && text[9] == '-' && text[14] == '-' &&
		    text[19] == '-');
		/* what is shown reads back as what is hashed */
		CHECK(apppass_normalize(text, again) == 0 &&
		    strcmp(again, plain) == 0);
		if (i == 0)
			memcpy(first, plain, sizeof(first));
		else if (strcmp(first, plain) == 0)
			distinct = 0;
		for (c = 0; c < APPPASS_CHARS; c++)
			seen[(unsigned char)plain[c]] = 1;
	}
	CHECK(distinct);
	for (c = 0; c < 256; c++)
		letters += seen[c];
	/* 4000 draws from 32 letters: every one of them comes up */
	CHECK_INT(letters, 32);
	CHECK(!seen['0'] && !seen['1'] && !seen['o'] && !seen['l']);
}

static void
test_verify(void)
{
	char path[64], bad[64], absent[64], label[APPPASS_LABEL_MAX + 1];
	char hash[128], rec[512];
	const char *why = NULL;
	const char *pw = "abcd-efgh-ijkm-npqr-stuv";
	struct apppass a[APPPASS_MAX];
	struct cdb_make cm;
	size_t n;
	int fd, len;

	CHECK(snprintf(path, sizeof(path), "%s/ap.cdb", dir) < (int)sizeof(path));
	CHECK(snprintf(bad, sizeof(bad), "%s/bad.cdb", dir) < (int)sizeof(bad));
	CHECK(snprintf(absent, sizeof(absent), "%s/none.cdb", dir) <
	    (int)sizeof(absent));
	CHECK(userdb_hash("abcdefghijkmnpqrstuv", NULL, hash, sizeof(hash)) ==
	    0);
	len = snprintf(rec, sizeof(rec), "laptop:wxyz:1:" Y "\n"
	    "phone:abcd:1700000000:%s\n", hash);
	CHECK(len > 0 && len < (int)sizeof(rec));
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(fd != -1 && cdb_make_start(&cm, fd) == 0);
	CHECK(cdb_make_add(&cm, "bob", 3, rec, (unsigned)len) == 0);
	CHECK(cdb_make_finish(&cm) == 0 && close(fd) == 0);
	fd = open(bad, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(fd != -1 && write(fd, "junk", 4) == 4 && close(fd) == 0);

	CHECK_INT(apppass_read(path, "bob", a, APPPASS_MAX, &n, &why), 1);
	CHECK_INT(n, 2);
	CHECK_STR(a[1].label, "phone");
	CHECK_INT(a[1].created, 1700000000);
	CHECK_INT(apppass_read(path, "alice", a, APPPASS_MAX, &n, &why), 0);

	CHECK_INT(apppass_verify(path, "bob", pw, label, &why), 1);
	CHECK_STR(label, "phone");
	CHECK_INT(apppass_verify(path, "bob", "ABCDEFGHIJKMNPQRSTUV", label,
	    &why), 1);
	/* selected but wrong, not selected, another user, not the shape */
	CHECK_INT(apppass_verify(path, "bob", "abcd-efgh-ijkm-npqr-stuw", label,
	    &why), 0);
	CHECK_STR(label, "");
	CHECK_INT(apppass_verify(path, "bob", "zzzz-efgh-ijkm-npqr-stuv", label,
	    &why), 0);
	CHECK_INT(apppass_verify(path, "alice", pw, label, &why), 0);
	CHECK_INT(apppass_verify(path, "bob", "my own password", label,
	    &why), 0);
	/* no file: nobody has any; a damaged one: an error */
	CHECK_INT(apppass_verify(absent, "bob", pw, label, &why), 0);
	CHECK(why == NULL);
	CHECK_INT(apppass_verify(bad, "bob", pw, label, &why), -1);
	CHECK_STR(why, "not a valid cdb file");
	unlink(path);
	unlink(bad);
}

int
main(void)
{
	const char *why = NULL;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(apppass_check_label("phone", &why) == 0);
	CHECK(apppass_check_label("", &why) == -1);
	CHECK(apppass_check_label("a:b", &why) == -1);
	CHECK(apppass_check_label("0123456789abcdef0123456789abcdefX", &why) ==
	    -1);
	T_RUN(test_normalize);
	T_RUN(test_parse);
	T_RUN(test_generate);
	T_RUN(test_verify);
	rmdir(dir);
	return t_done();
}
