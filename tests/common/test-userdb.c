/* Unit tests for common/lib/userdb: the line parser's rules field by field,
 * lookups in cdb files made here with cdb_make, and password checks
 * against real yescrypt and sha512crypt hashes. */
#include <cdb.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/userdb.h"
#include "tests/t.h"

/* shaped like real hashes; the parser does not run crypt */
#define Y	"$y$j9T$F5Jx5fExrKuJdxDYUE7Ig/$ow0vVKC9rMz0mB9ZGNdqHqQzvvYYGX" \
		"2MkcS2YY/DW2D"
#define S6	"$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9" \
		"YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"

static char dir[] = "/tmp/test-userdb.XXXXXX";

static const struct {
	const char	*line;
	const char	*name, *hash;
	unsigned long	 uid, gid;
	const char	*home, *maildir;
} good[] = {
	{ "alice:" Y ":1000:1000:/home/alice",
	    "alice", Y, 1000, 1000, "/home/alice", NULL },
	{ "bob@example.org:" S6 ":1001:100:/srv/mail/bob:~/Maildir",
	    "bob@example.org", S6, 1001, 100, "/srv/mail/bob", "~/Maildir" },
	{ "c.d_e+f-g:" Y ":0:0:/:/var/mail/c",
	    "c.d_e+f-g", Y, 0, 0, "/", "/var/mail/c" },
	{ "u:!:4294967294:4294967294:/h", "u", "!", 4294967294UL,
	    4294967294UL, "/h", NULL },
	{ "u:*:1:1:/h", "u", "*", 1, 1, "/h", NULL },
	{ "u:!" Y ":1:1:/h", "u", "!" Y, 1, 1, "/h", NULL },
	{ "u:*LK*:1:1:/h", "u", "*LK*", 1, 1, "/h", NULL },
	{ "u:$gy$j9T$salt$hash:1:1:/h", "u", "$gy$j9T$salt$hash", 1, 1, "/h",
	    NULL },
	{ "u:$7$CU..../....salt$hash:1:1:/h", "u", "$7$CU..../....salt$hash",
	    1, 1, "/h", NULL },
	{ "u:$2b$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234:1:1:"
	    "/h", "u", "$2b$10$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "01234", 1, 1, "/h", NULL },
	{ "u:$2y$10$abc$def:1:1:/h", "u", "$2y$10$abc$def", 1, 1, "/h", NULL },
	{ "u:$5$rounds=5000$salt$hash:1:1:/h", "u", "$5$rounds=5000$salt$hash",
	    1, 1, "/h", NULL },
	/* ".." only as a whole component is refused */
	{ "u:!:1:1:/h/..x/x..:/m/...", "u", "!", 1, 1, "/h/..x/x..", "/m/..." },
	{ "0123:!:007:08:/h", "0123", "!", 7, 8, "/h", NULL },
};

static const struct {
	const char	*line;
	size_t		 len;		/* 0: strlen(line) */
	const char	*why;		/* the reason starts with this */
} bad[] = {
	/* name */
	{ ":" Y ":1:1:/h", 0, "name: must not be empty" },
	{ "", 0, "name: must not be empty" },
	{ "-x:" Y ":1:1:/h", 0, "name: must not start" },
	{ ".x:" Y ":1:1:/h", 0, "name: must not start" },
	{ "a b:" Y ":1:1:/h", 0, "name: may hold only" },
	{ "a/b:" Y ":1:1:/h", 0, "name: may hold only" },
	{ "a\xc3\xa9:" Y ":1:1:/h", 0, "name: may hold only" },
	{ "a%b:" Y ":1:1:/h", 0, "name: may hold only" },
	/* hash */
	{ "u::1:1:/h", 0, "hash: must not be empty" },
	{ "u:plain:1:1:/h", 0, "hash: must be a crypt(3) hash" },
	{ "u:abJnggxhB/yWI:1:1:/h", 0, "hash: must be a crypt(3) hash" },
	{ "u:$1$salt$hash:1:1:/h", 0, "hash: method not supported" },
	{ "u:$2a$10$abc$def:1:1:/h", 0, "hash: method not supported" },
	{ "u:$md5$salt$hash:1:1:/h", 0, "hash: method not supported" },
	{ "u:$y$:1:1:/h", 0, "hash: method not supported" },
	{ "u:$y$j9T:1:1:/h", 0, "hash: incomplete" },
	{ "u:$y$j9T$salt$:1:1:/h", 0, "hash: incomplete" },
	{ "u:$6$$hash:1:1:/h", 0, "hash: incomplete" },
	{ "u:$y$j9T$sa lt$hash:1:1:/h", 0, "hash: holds a character" },
	{ "u:$y$j9T$salt$ha#sh:1:1:/h", 0, "hash: holds a character" },
	{ "u:!bad hash:1:1:/h", 0, "hash: a locked hash" },
	/* uid, gid */
	{ "u:" Y "::1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":-1:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":+1:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ": 1:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":1x:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":4294967295:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":99999999999999999999:1:/h", 0, "uid: must be a number" },
	{ "u:" Y ":1::/h", 0, "gid: must be a number" },
	{ "u:" Y ":1:4294967295:/h", 0, "gid: must be a number" },
	{ "u:" Y ":1:0x10:/h", 0, "gid: must be a number" },
	/* home */
	{ "u:" Y ":1:1:", 0, "home: must be an absolute path" },
	{ "u:" Y ":1:1:home/u", 0, "home: must be an absolute path" },
	{ "u:" Y ":1:1:~/u", 0, "home: must be an absolute path" },
	{ "u:" Y ":1:1:/home/../etc", 0, "home: must not contain a .." },
	{ "u:" Y ":1:1:/home/..", 0, "home: must not contain a .." },
	{ "u:" Y ":1:1:/..//x", 0, "home: must not contain a .." },
	/* maildir */
	{ "u:" Y ":1:1:/h:", 0, "maildir: must not be empty" },
	{ "u:" Y ":1:1:/h:Maildir", 0, "maildir: must be an absolute path" },
	{ "u:" Y ":1:1:/h:~", 0, "maildir: must be an absolute path" },
	{ "u:" Y ":1:1:/h:~user/M", 0, "maildir: must be an absolute path" },
	{ "u:" Y ":1:1:/h:~/../x", 0, "maildir: must not contain a .." },
	{ "u:" Y ":1:1:/h:/m/../x", 0, "maildir: must not contain a .." },
	/* missing and extra fields */
	{ "u", 0, "hash: missing" },
	{ "u:" Y, 0, "uid: missing" },
	{ "u:" Y ":1", 0, "gid: missing" },
	{ "u:" Y ":1:1", 0, "home: missing" },
	{ "u:" Y ":1:1:/h:/m:5S:x", 0, "line: too many fields" },
	{ "u:" Y ":1:1:/h:/m:5S:", 0, "line: too many fields" },
	{ "u:" Y ":1:1:/h:/m:x:\t", 0, "line: too many fields" },
	/* quota */
	{ "u:" Y ":1:1:/h:/m:", 0, "quota: must not be empty" },
	{ "u:" Y ":1:1:/h:/m:x", 0, "quota: must be a Maildir++ quota" },
	{ "u:" Y ":1:1:/h::5X", 0, "quota: must be a Maildir++ quota" },
	{ "u:" Y ":1:1:/h::5S,", 0, "quota: must be a Maildir++ quota" },
	{ "u:" Y ":1:1:/h::5S,6S", 0, "quota: must be a Maildir++ quota" },
	{ "u:" Y ":1:1:/h::-5S", 0, "quota: must be a Maildir++ quota" },
	/* control characters, named by field */
	{ "u\t:" Y ":1:1:/h", 0, "name: contains a control" },
	{ "u:" Y "\x7f:1:1:/h", 0, "hash: contains a control" },
	{ "u:" Y ":1\x01:1:/h", 0, "uid: contains a control" },
	{ "u:" Y ":1:\x1b" "1:/h", 0, "gid: contains a control" },
	{ "u:" Y ":1:1:/h\n", 0, "home: contains a control" },
	{ "u:" Y ":1:1:/h:/m\x1f", 0, "maildir: contains a control" },
	{ "u:" Y ":1:1:/h\r", 0, "line: ends with a carriage return" },
	{ "u:" Y ":1:1:/h\r/x", 0, "home: contains a control" },
	{ "u\0v:" Y ":1:1:/h", 4 + sizeof(Y) - 1 + 7, "name: contains a "
	    "control" },
	{ "u:" Y ":1:1:/h\0", 2 + sizeof(Y) - 1 + 8, "home: contains a "
	    "control" },
};

/* The quota field: a Maildir++ definition, after an empty maildir too. */
static void
test_quota_field(void)
{
	static const struct {
		const char	*line;
		const char	*maildir;
		uint64_t	 bytes, messages;
	} q[] = {
		{ "u:" Y ":1:1:/h", NULL, 0, 0 },
		{ "u:" Y ":1:1:/h:/m:1000S,20C", "/m", 1000, 20 },
		{ "u:" Y ":1:1:/h::20C,1000S", NULL, 1000, 20 },
		{ "u:" Y ":1:1:/h::5000S", NULL, 5000, 0 },
		{ "u:" Y ":1:1:/h:~/M:7C", "~/M", 0, 7 },
	};
	struct userdb_entry e;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		why = "(none)";
		CHECK_MSG(userdb_parse_line(q[i].line, strlen(q[i].line), &e,
		    &why) == 0, "quota %zu: %s", i, why);
		if (q[i].maildir == NULL)
			CHECK_MSG(e.maildir == NULL, "quota %zu", i);
		else
			CHECK_STR(e.maildir, q[i].maildir);
		CHECK_INT(e.quota.bytes, q[i].bytes);
		CHECK_INT(e.quota.messages, q[i].messages);
		userdb_entry_free(&e);
	}
}

static void
test_parse(void)
{
	struct userdb_entry e;
	const char *why;
	char line[USERDB_RECORD_MAX + 64];
	size_t i, len;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = "(none)";
		CHECK_MSG(userdb_parse_line(good[i].line, strlen(good[i].line),
		    &e, &why) == 0, "good %zu: %s", i, why);
		CHECK_STR(e.name, good[i].name);
		CHECK_STR(e.hash, good[i].hash);
		CHECK_INT(e.uid, good[i].uid);
		CHECK_INT(e.gid, good[i].gid);
		CHECK_STR(e.home, good[i].home);
		if (good[i].maildir == NULL)
			CHECK_MSG(e.maildir == NULL, "good %zu", i);
		else
			CHECK_STR(e.maildir, good[i].maildir);
		userdb_entry_free(&e);
		CHECK(e.name == NULL && e.hash == NULL && e.home == NULL);
		userdb_entry_free(&e);	/* freeing twice is harmless */
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = bad[i].len ? bad[i].len : strlen(bad[i].line);
		why = NULL;
		CHECK_MSG(userdb_parse_line(bad[i].line, len, &e, &why) == -1,
		    "bad %zu accepted", i);
		CHECK_MSG(why != NULL && strncmp(why, bad[i].why,
		    strlen(bad[i].why)) == 0, "bad %zu: got \"%s\", want \"%s\"",
		    i, why ? why : "(null)", bad[i].why);
		CHECK_MSG(e.name == NULL && e.hash == NULL && e.home == NULL &&
		    e.maildir == NULL, "bad %zu left fields set", i);
	}

	/* the length is honoured: no NUL needed, bytes after it ignored */
	CHECK_INT(userdb_parse_line("u:!:1:1:/hXYZ", 10, &e, &why), 0);
	CHECK_STR(e.home, "/h");
	userdb_entry_free(&e);

	/* a name of 255 bytes is fine, 256 is not */
	memset(line, 'n', 256);
	memcpy(line + 255, ":!:1:1:/h", 10);
	CHECK_INT(userdb_parse_line(line, strlen(line), &e, &why), 0);
	CHECK_INT(strlen(e.name), 255);
	userdb_entry_free(&e);
	memset(line, 'n', 256);
	memcpy(line + 256, ":!:1:1:/h", 10);
	CHECK_INT(userdb_parse_line(line, strlen(line), &e, &why), -1);
	CHECK_STR(why, "name: longer than 255 bytes");

	/* a line of USERDB_RECORD_MAX bytes is fine, one more is not */
	memcpy(line, "u:!:1:1:/", 9);
	memset(line + 9, 'h', sizeof(line) - 9);
	CHECK_INT(userdb_parse_line(line, USERDB_RECORD_MAX, &e, &why), 0);
	CHECK_INT(strlen(e.home), USERDB_RECORD_MAX - 8);
	userdb_entry_free(&e);
	CHECK_INT(userdb_parse_line(line, USERDB_RECORD_MAX + 1, &e, &why),
	    -1);
	CHECK_STR(why, "line: longer than 4096 bytes");

	/* the name rules on their own */
	CHECK_INT(userdb_check_name("a.b@c+d-e_f", 11, &why), 0);
	CHECK_INT(userdb_check_name("a:b", 3, &why), -1);
	CHECK_INT(userdb_check_name("", 0, &why), -1);
}

/* path of a file in the temporary directory */
static const char *
tpath(const char *name)
{
	static char p[256];
	int n = snprintf(p, sizeof(p), "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= sizeof(p))
		abort();
	return p;
}

static int
makecdb(const char *path, const char *const *kv, size_t n)
{
	struct cdb_make cm;
	size_t i;
	int fd, ret = 0;

	if ((fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600)) == -1)
		return -1;
	if (cdb_make_start(&cm, fd) == -1)
		ret = -1;
	for (i = 0; ret == 0 && i + 1 < n; i += 2)
		if (cdb_make_add(&cm, kv[i], (unsigned)strlen(kv[i]), kv[i + 1],
		    (unsigned)strlen(kv[i + 1])) == -1)
			ret = -1;
	if (ret == 0 && cdb_make_finish(&cm) == -1)
		ret = -1;
	if (close(fd) == -1)
		ret = -1;
	return ret;
}

static void
test_lookup(void)
{
	static char big[USERDB_RECORD_MAX + 100];
	const char *kv[] = {
		"alice", "alice:" Y ":1000:1000:/home/alice",
		"bob", "bob:" S6 ":1001:1001:/home/bob:~/Mail",
		"carol", "carol:plaintext:1002:1002:/home/carol",
		"dave", "eve:" Y ":1003:1003:/home/eve",
		"frank", big,
		"gina", "gina:" Y ":1004:1004:/home/gina:",
	};
	struct userdb_entry e;
	char err[256];
	const char *db;
	FILE *f;

	memcpy(big, "frank:!:1:1:/", 13);
	memset(big + 13, 'x', sizeof(big) - 14);
	db = tpath("users.cdb");
	CHECK_INT(makecdb(db, kv, sizeof(kv) / sizeof(kv[0])), 0);

	CHECK_INT(userdb_lookup(db, "alice", &e, err, sizeof(err)), 1);
	CHECK_STR(e.name, "alice");
	CHECK_STR(e.hash, Y);
	CHECK_INT(e.uid, 1000);
	CHECK_STR(e.home, "/home/alice");
	CHECK(e.maildir == NULL);
	userdb_entry_free(&e);
	CHECK_INT(userdb_lookup(db, "bob", &e, err, sizeof(err)), 1);
	CHECK_STR(e.maildir, "~/Mail");
	userdb_entry_free(&e);

	/* not there, or not a name at all */
	CHECK_INT(userdb_lookup(db, "zoe", &e, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(userdb_lookup(db, "Alice", &e, err, sizeof(err)), 0);
	CHECK_INT(userdb_lookup(db, "alic", &e, err, sizeof(err)), 0);
	CHECK_INT(userdb_lookup(db, "", &e, err, sizeof(err)), 0);
	CHECK_INT(userdb_lookup(db, NULL, &e, err, sizeof(err)), 0);
	/* invalid names never reach the file */
	CHECK_INT(userdb_lookup("/nonexistent/x.cdb", "../etc", &e, err,
	    sizeof(err)), 0);
	CHECK_INT(userdb_lookup("/nonexistent/x.cdb", "-rf", &e, err,
	    sizeof(err)), 0);

	/* corrupt records */
	CHECK_INT(userdb_lookup(db, "carol", &e, err, sizeof(err)), -1);
	CHECK_MSG(strstr(err, "corrupt record for carol: hash:") != NULL,
	    "%s", err);
	CHECK(e.name == NULL);
	CHECK_INT(userdb_lookup(db, "dave", &e, err, sizeof(err)), -1);
	CHECK_MSG(strstr(err, "corrupt record for dave: it names another") !=
	    NULL, "%s", err);
	CHECK(e.name == NULL);
	CHECK_INT(userdb_lookup(db, "frank", &e, err, sizeof(err)), -1);
	CHECK_MSG(strstr(err, "corrupt record for frank: longer than") !=
	    NULL, "%s", err);
	CHECK_INT(userdb_lookup(db, "gina", &e, err, sizeof(err)), -1);
	CHECK_MSG(strstr(err, "maildir: must not be empty") != NULL, "%s",
	    err);

	/* a missing file, a file that is not a cdb */
	CHECK_INT(userdb_lookup(tpath("none.cdb"), "alice", &e, err,
	    sizeof(err)), -1);
	CHECK_MSG(strstr(err, "cannot open ") != NULL &&
	    strstr(err, "none.cdb") != NULL, "%s", err);
	if ((f = fopen(tpath("text.cdb"), "w")) != NULL) {
		fputs("alice:" Y ":1000:1000:/home/alice\n", f);
		fclose(f);
	}
	CHECK_INT(userdb_lookup(tpath("text.cdb"), "alice", &e, err,
	    sizeof(err)), -1);
	CHECK_MSG(strstr(err, "not a valid cdb file") != NULL, "%s", err);

	/* a short error buffer is cut and marked */
	CHECK_INT(userdb_lookup(tpath("none.cdb"), "alice", &e, err, 12), -1);
	CHECK_INT(strlen(err), 11);
	CHECK_STR(err + 8, "...");
	CHECK_INT(userdb_lookup(tpath("none.cdb"), "alice", &e, NULL, 0), -1);

	unlink(db);
	unlink(tpath("text.cdb"));
}

/* A real hash of password made with the method's default cost. */
static int
mkhash(const char *prefix, const char *password, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	int ret = -1;

	if (cd == NULL)
		return -1;
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting,
	    (int)sizeof(setting)) != NULL &&
	    (h = crypt_rn(password, setting, cd, sizeof(*cd))) != NULL &&
	    strlen(h) < size) {
		memcpy(out, h, strlen(h) + 1);
		ret = 0;
	}
	free(cd);
	return ret;
}

static int
entry(struct userdb_entry *e, const char *hash, unsigned uid)
{
	char line[1024];
	const char *why;
	int n = snprintf(line, sizeof(line), "u:%s:%u:1000:/home/u", hash,
	    uid);

	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return userdb_parse_line(line, (size_t)n, e, &why);
}

static void
test_verify(void)
{
	static const char *prefixes[] = { "$y$", "$6$" };
	struct userdb_entry e;
	char hash[CRYPT_OUTPUT_SIZE], locked[CRYPT_OUTPUT_SIZE + 1];
	char longpw[USERDB_PASSWORD_MAX + 2];
	size_t i;
	int n;

	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		CHECK_INT(mkhash(prefixes[i], "correct horse", hash,
		    sizeof(hash)), 0);
		CHECK(strncmp(hash, prefixes[i], 3) == 0);
		CHECK_INT(entry(&e, hash, 1000), 0);
		CHECK_INT(userdb_verify(&e, "correct horse"), 1);
		CHECK_INT(userdb_verify(&e, "correct horsf"), 0);
		CHECK_INT(userdb_verify(&e, "correct horse "), 0);
		CHECK_INT(userdb_verify(&e, "correct"), 0);
		CHECK_INT(userdb_verify(&e, ""), 0);
		CHECK_INT(userdb_verify(&e, NULL), 0);
		CHECK_INT(userdb_verify(&e, longpw), 0);
		userdb_entry_free(&e);
		/* locked with "!" in front, as usermod -L does */
		n = snprintf(locked, sizeof(locked), "!%s", hash);
		CHECK(n > 0 && (size_t)n < sizeof(locked));
		CHECK_INT(entry(&e, locked, 1000), 0);
		CHECK_INT(userdb_verify(&e, "correct horse"), 0);
		userdb_entry_free(&e);
		/* never root */
		CHECK_INT(entry(&e, hash, 0), 0);
		CHECK_INT(userdb_verify(&e, "correct horse"), 0);
		userdb_entry_free(&e);
	}
	/* the longest password that may be used works */
	longpw[USERDB_PASSWORD_MAX] = '\0';
	CHECK_INT(mkhash("$6$", longpw, hash, sizeof(hash)), 0);
	CHECK_INT(entry(&e, hash, 1000), 0);
	CHECK_INT(userdb_verify(&e, longpw), 1);
	userdb_entry_free(&e);
	CHECK_INT(userdb_verify(NULL, "x"), 0);

	/* userdb_hash makes hashes userdb_verify accepts */
	CHECK_INT(userdb_hash("s3cret", NULL, hash, sizeof(hash)), 0);
	CHECK(strncmp(hash, "$y$", 3) == 0);
	CHECK_INT(entry(&e, hash, 1000), 0);
	CHECK_INT(userdb_verify(&e, "s3cret"), 1);
	CHECK_INT(userdb_verify(&e, "s3cre"), 0);
	userdb_entry_free(&e);
	CHECK_INT(userdb_hash("s3cret", "yescrypt", hash, sizeof(hash)), 0);
	CHECK(strncmp(hash, "$y$", 3) == 0);
	CHECK_INT(userdb_hash("s3cret", "sha512", hash, sizeof(hash)), 0);
	CHECK(strncmp(hash, "$6$", 3) == 0);
	CHECK_INT(entry(&e, hash, 1000), 0);
	CHECK_INT(userdb_verify(&e, "s3cret"), 1);
	userdb_entry_free(&e);
	/* two hashes of one password differ: the salt is random */
	CHECK_INT(userdb_hash("s3cret", "sha512", locked, sizeof(locked)), 0);
	CHECK(strcmp(hash, locked) != 0);
	errno = 0;
	CHECK_INT(userdb_hash("s3cret", "md5", hash, sizeof(hash)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(userdb_hash("", NULL, hash, sizeof(hash)), -1);
	CHECK_INT(userdb_hash(longpw, NULL, hash, sizeof(hash)), 0);
	longpw[USERDB_PASSWORD_MAX] = 'p';
	CHECK_INT(userdb_hash(longpw, NULL, hash, sizeof(hash)), -1);
	errno = 0;
	CHECK_INT(userdb_hash("s3cret", NULL, hash, 20), -1);
	CHECK_INT(errno, ERANGE);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 2;
	T_RUN(test_parse);
	T_RUN(test_quota_field);
	T_RUN(test_lookup);
	T_RUN(test_verify);
	rmdir(dir);
	return t_done();
}
