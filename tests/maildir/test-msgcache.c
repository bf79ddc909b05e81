/* Unit tests for maildir/msgcache: the ENVELOPE/BODYSTRUCTURE/PREVIEW
 * cache. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/mapfile.h"
#include "maildir/msgcache.h"
#include "tests/t.h"

static char dir[] = "/tmp/test-msgcache.XXXXXX";

static void
rec(struct msgcache_rec *r, const char *env, const char *body,
    const char *bs)
{
	r->envelope = env;
	r->envelope_len = strlen(env);
	r->envelope_exact = (unsigned)strlen(env) % 16;
	r->body = body;
	r->body_len = strlen(body);
	r->bodystructure = bs;
	r->bodystructure_len = strlen(bs);
	r->preview = NULL;
	r->preview_len = 0;
}

static int
same(const struct msgcache_rec *r, const char *env, const char *bs)
{
	return r->envelope_len == strlen(env) &&
	    memcmp(r->envelope, env, r->envelope_len) == 0 &&
	    r->envelope_exact == (unsigned)strlen(env) % 16 &&
	    r->bodystructure_len == strlen(bs) &&
	    memcmp(r->bodystructure, bs, r->bodystructure_len) == 0;
}

/* Whether a new session of the cache finds uid with env and bs. */
static int
found(uint32_t uidv, uint32_t uid, const char *env, const char *bs)
{
	struct msgcache *mc = msgcache_open(dir, uidv);
	struct msgcache_rec got;
	int r;

	r = msgcache_get(mc, uid, &got) == 1 && same(&got, env, bs);
	msgcache_close(mc);
	return r;
}

static int
odd_alive(void *arg, uint32_t uid)
{
	(void)arg;
	return uid % 2 == 1;
}

static void
rm(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static void
test_basic(void)
{
	struct msgcache *mc = msgcache_open(dir, 7);
	struct msgcache_rec r, got;
	char env[64], bs[64];
	uint32_t uid;

	CHECK(mc != NULL);
	CHECK_INT(msgcache_get(mc, 1, &got), 0);
	rec(&r, "(\"env1\")", "", "(\"text\" \"plain\")");
	msgcache_put(mc, 1, &r);
	CHECK_INT(msgcache_get(mc, 1, &got), 1);
	CHECK(same(&got, "(\"env1\")", "(\"text\" \"plain\")"));
	CHECK_INT(got.body_len, 0);
	msgcache_flush(mc, NULL, NULL, 1);
	msgcache_close(mc);

	/* another process (or session) sees it */
	CHECK(found(7, 1, "(\"env1\")", "(\"text\" \"plain\")"));

	/* another UIDVALIDITY sees nothing */
	mc = msgcache_open(dir, 8);
	CHECK_INT(msgcache_get(mc, 1, &got), 0);
	msgcache_close(mc);

	/* many entries: compaction into a snapshot, and dead UIDs dropped */
	mc = msgcache_open(dir, 7);
	for (uid = 1; uid <= 30000; uid++) {
		snprintf(env, sizeof(env), "(\"env %u\" padding padding)", uid);
		snprintf(bs, sizeof(bs), "(\"bs %u\")", uid);
		rec(&r, env, "", bs);
		msgcache_put(mc, uid, &r);
		if (uid % 1000 == 0)
			msgcache_flush(mc, odd_alive, NULL, 1);
	}
	msgcache_flush(mc, odd_alive, NULL, 1);
	msgcache_close(mc);
	mc = msgcache_open(dir, 7);
	CHECK_INT(msgcache_get(mc, 29999, &got), 1);
	CHECK(same(&got, "(\"env 29999\" padding padding)",
	    "(\"bs 29999\")"));
	CHECK_INT(msgcache_get(mc, 3, &got), 1);
	CHECK(same(&got, "(\"env 3\" padding padding)", "(\"bs 3\")"));
	/* early even UIDs went at a compaction */
	CHECK_INT(msgcache_get(mc, 2, &got), 0);
	msgcache_close(mc);
	{
		char p[512];
		struct stat sb;

		snprintf(p, sizeof(p), "%s/imapd-msgcache.cdb", dir);
		CHECK(stat(p, &sb) == 0 && sb.st_size > 100000);
	}
}

/*
 * A record got from what is still pending and put back with a part
 * added (FETCH BODYSTRUCTURE, then ENVELOPE): its parts are bytes of the
 * pending buffer, which growing moves.  Each put here makes it grow.
 */
static void
test_put_from_pending(void)
{
	struct msgcache *mc = msgcache_open(dir, 9);
	struct msgcache_rec r, got;
	char env[128], bs[128];
	uint32_t uid;
	int bad = 0;

	CHECK(mc != NULL);
	for (uid = 1; uid <= 3000; uid++) {
		snprintf(bs, sizeof(bs), "(\"text\" \"plain\" %u)", uid);
		rec(&r, "", "", bs);
		msgcache_put(mc, uid, &r);
		if (msgcache_get(mc, uid, &got) != 1) {
			bad++;
			continue;
		}
		snprintf(env, sizeof(env), "(\"envelope of %u\" NIL)", uid);
		got.envelope = env;
		got.envelope_len = strlen(env);
		got.envelope_exact = (unsigned)strlen(env) % 16;
		msgcache_put(mc, uid, &got);
	}
	for (uid = 1; uid <= 3000; uid++) {
		snprintf(bs, sizeof(bs), "(\"text\" \"plain\" %u)", uid);
		snprintf(env, sizeof(env), "(\"envelope of %u\" NIL)", uid);
		if (msgcache_get(mc, uid, &got) != 1 || !same(&got, env, bs))
			bad++;
	}
	CHECK_INT(bad, 0);
	msgcache_close(mc);
	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
}

static void
test_deferred_compaction(void)
{
	struct msgcache *mc;
	struct msgcache_rec r, got;
	char env[64], p[512];
	struct stat sb;
	uint32_t uid;

	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
	mc = msgcache_open(dir, 21);
	for (uid = 1; uid <= 20000; uid++) {
		snprintf(env, sizeof(env), "(\"deferred %u\" pad pad pad)", uid);
		rec(&r, env, "", "bs");
		msgcache_put(mc, uid, &r);
		if (uid % 1000 == 0)
			msgcache_flush(mc, NULL, NULL, 0);
	}
	/* flushed as we went, never compacted: all in the log */
	snprintf(p, sizeof(p), "%s/imapd-msgcache.cdb", dir);
	CHECK(stat(p, &sb) == -1);
	CHECK_INT(msgcache_get(mc, 777, &got), 1);
	CHECK(same(&got, "(\"deferred 777\" pad pad pad)", "bs"));
	msgcache_flush(mc, NULL, NULL, 1);
	CHECK(stat(p, &sb) == 0);
	msgcache_close(mc);
	mc = msgcache_open(dir, 21);
	CHECK_INT(msgcache_get(mc, 19999, &got), 1);
	CHECK(same(&got, "(\"deferred 19999\" pad pad pad)", "bs"));
	msgcache_close(mc);
}

/* A session holds the log mapped while another compacts it: the first
 * must go on reading what it mapped (a truncated file would fault). */
static void
test_compaction_under_a_reader(void)
{
	struct msgcache *a, *b;
	struct msgcache_rec r, got;
	char env[64];
	uint32_t uid;
	int bad = 0;

	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
	b = msgcache_open(dir, 31);
	for (uid = 1; uid <= 30000; uid++) {
		snprintf(env, sizeof(env), "(\"held %u\" padding padding)", uid);
		rec(&r, env, "", "bs");
		msgcache_put(b, uid, &r);
	}
	msgcache_flush(b, NULL, NULL, 0);	/* all in the log */
	a = msgcache_open(dir, 31);		/* maps that log */
	CHECK_INT(msgcache_get(a, 5, &got), 1);
	for (uid = 30001; uid <= 31000; uid++) {
		snprintf(env, sizeof(env), "(\"held %u\" padding padding)", uid);
		rec(&r, env, "", "bs");
		msgcache_put(b, uid, &r);
	}
	msgcache_flush(b, NULL, NULL, 1);	/* compacts, log starts anew */
	for (uid = 1; uid <= 30000; uid++) {
		snprintf(env, sizeof(env), "(\"held %u\" padding padding)", uid);
		if (!msgcache_get(a, uid, &got) ||
		    !same(&got, env, "bs"))
			bad++;
	}
	CHECK_INT(bad, 0);
	msgcache_close(a);
	msgcache_close(b);
}

static void
test_damage(void)
{
	struct msgcache *mc;
	struct msgcache_rec r, got;
	char p[512], env[64];
	int fd, i, bad, good;

	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
	mc = msgcache_open(dir, 9);
	rec(&r, "E1", "", "B1");
	msgcache_put(mc, 1, &r);
	rec(&r, "E2", "", "B2");
	msgcache_put(mc, 2, &r);
	msgcache_flush(mc, NULL, NULL, 1);
	msgcache_close(mc);
	/* a torn last record: the first stays readable */
	snprintf(p, sizeof(p), "%s/imapd-msgcache.log", dir);
	{
		struct stat sb;

		CHECK(stat(p, &sb) == 0);
		CHECK(truncate(p, sb.st_size - 3) == 0);
	}
	mc = msgcache_open(dir, 9);
	CHECK_INT(msgcache_get(mc, 1, &got), 1);
	CHECK(same(&got, "E1", "B1"));
	CHECK_INT(msgcache_get(mc, 2, &got), 0);
	msgcache_close(mc);
	/* garbage snapshot and log: empty, no crash */
	snprintf(p, sizeof(p), "%s/imapd-msgcache.cdb", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, "not a cdb file at all, not at all", 33) == 33);
	close(fd);
	snprintf(p, sizeof(p), "%s/imapd-msgcache.log", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, "IMC2\xff\xff\xff\x7fgarbage", 15) == 15);
	close(fd);
	mc = msgcache_open(dir, 9);
	CHECK_INT(msgcache_get(mc, 1, &got), 0);
	msgcache_close(mc);
	/* a log another version began: what is appended now is read */
	snprintf(p, sizeof(p), "%s/imapd-msgcache.log", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	{
		static const char old[] = "IMC2\x20\0\0\0old record, not ours";

		CHECK(write(fd, old, sizeof(old) - 1) ==
		    (ssize_t)sizeof(old) - 1);
	}
	close(fd);
	mc = msgcache_open(dir, 9);
	rec(&r, "E4", "", "B4");
	msgcache_put(mc, 4, &r);
	msgcache_flush(mc, NULL, NULL, 1);
	msgcache_close(mc);
	CHECK(found(9, 4, "E4", "B4"));
	/* a snapshot whose values were damaged is not believed */
	rm("imapd-msgcache.log");
	mc = msgcache_open(dir, 9);
	for (i = 1; i <= 40000; i++) {
		snprintf(env, sizeof(env), "envelope-%d", i);
		rec(&r, env, "", "bs");
		msgcache_put(mc, (uint32_t)i, &r);
	}
	msgcache_flush(mc, NULL, NULL, 1);
	msgcache_close(mc);
	snprintf(p, sizeof(p), "%s/imapd-msgcache.cdb", dir);
	{
		struct stat sb;
		char *data;
		off_t o;

		CHECK(stat(p, &sb) == 0 && sb.st_size > 100000);
		data = malloc((size_t)sb.st_size);
		fd = open(p, O_RDWR);
		CHECK(read(fd, data, (size_t)sb.st_size) == sb.st_size);
		for (o = 2048 + 40; o < sb.st_size / 2; o += 211)
			data[o] ^= 0x20;
		CHECK(pwrite(fd, data, (size_t)sb.st_size, 0) == sb.st_size);
		close(fd);
		free(data);
	}
	mc = msgcache_open(dir, 9);
	bad = good = 0;
	for (i = 1; i <= 40000; i++) {
		snprintf(env, sizeof(env), "envelope-%d", i);
		if (msgcache_get(mc, (uint32_t)i, &got)) {
			if (same(&got, env, "bs"))
				good++;
			else
				bad++;
		}
	}
	CHECK_INT(bad, 0);
	CHECK(good > 0);
	rec(&r, "E3", "", "B3");
	msgcache_put(mc, 3, &r);
	CHECK_INT(msgcache_get(mc, 3, &got), 1);
	msgcache_close(mc);
}

static void
test_concurrent(void)
{
	struct msgcache *mc;
	struct msgcache_rec r, got;
	char env[64];
	int i, k, status, bad = 0;
	pid_t pid[4];

	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
	for (k = 0; k < 4; k++) {
		if ((pid[k] = fork()) == 0) {
			mc = msgcache_open(dir, 11);
			for (i = 0; i < 3000; i++) {
				uint32_t uid = (uint32_t)(k * 3000 + i + 1);

				snprintf(env, sizeof(env), "env-%u-%s", uid,
				    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
				rec(&r, env, "", "bs");
				msgcache_put(mc, uid, &r);
				if (i % 100 == 99)
					msgcache_flush(mc, NULL, NULL, 1);
			}
			msgcache_flush(mc, NULL, NULL, 1);
			msgcache_close(mc);
			_exit(0);
		}
	}
	for (k = 0; k < 4; k++)
		CHECK(waitpid(pid[k], &status, 0) == pid[k] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* entries may be lost to a compaction racing an append (it is a
	 * cache), but none may be wrong */
	mc = msgcache_open(dir, 11);
	for (i = 1, k = 0; i <= 12000; i++) {
		if (!msgcache_get(mc, (uint32_t)i, &got))
			continue;
		k++;
		snprintf(env, sizeof(env), "env-%d-%s", i,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		if (!same(&got, env, "bs"))
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_MSG(k > 6000, "only %d of 12000 entries survived", k);
	msgcache_close(mc);
}

/*
 * The preview: none, an empty one (a message without text, which is
 * cached too) and one with text are three different things, in what is
 * pending, in the log and in a snapshot; a preview put back with the
 * other parts of a pending record keeps them.
 */
static void
check_previews(struct msgcache *mc)
{
	struct msgcache_rec got;

	CHECK(msgcache_get(mc, 1, &got) == 1 && got.preview == NULL &&
	    same(&got, "(\"e1\")", "(\"b1\")"));
	CHECK(msgcache_get(mc, 2, &got) == 1 && got.preview != NULL &&
	    got.preview_len == 0);
	CHECK(msgcache_get(mc, 3, &got) == 1 && got.preview != NULL &&
	    got.preview_len == 8 &&
	    memcmp(got.preview, "Hello \xc3\xa9", 8) == 0 &&
	    same(&got, "(\"e1\")", "(\"b1\")"));
}

static void
test_preview(void)
{
	struct msgcache *mc = msgcache_open(dir, 11);
	struct msgcache_rec r, got;
	static char big[4096];
	struct stat sb;
	char p[512];
	uint32_t uid;

	rec(&r, "(\"e1\")", "", "(\"b1\")");
	msgcache_put(mc, 1, &r);
	r.preview = "";
	msgcache_put(mc, 2, &r);
	r.preview = "Hello \xc3\xa9";
	r.preview_len = 8;
	msgcache_put(mc, 3, &r);
	check_previews(mc);		/* pending */
	msgcache_flush(mc, NULL, NULL, 0);
	msgcache_close(mc);
	mc = msgcache_open(dir, 11);
	check_previews(mc);		/* from the log */
	/* enough more for a compaction into a snapshot */
	memset(big, 'x', sizeof(big) - 1);
	for (uid = 100; uid < 500; uid++) {
		rec(&r, "(\"e\")", "", big);
		msgcache_put(mc, uid, &r);
	}
	msgcache_flush(mc, NULL, NULL, 1);
	msgcache_close(mc);
	snprintf(p, sizeof(p), "%s/imapd-msgcache.log", dir);
	CHECK(stat(p, &sb) == 0 && sb.st_size == 0);
	mc = msgcache_open(dir, 11);
	check_previews(mc);		/* from the snapshot */
	/* a preview added to a record of the snapshot, then to a pending
	 * one: the other parts stay */
	CHECK(msgcache_get(mc, 1, &got) == 1);
	got.preview = "added";
	got.preview_len = 5;
	msgcache_put(mc, 1, &got);
	CHECK(msgcache_get(mc, 1, &got) == 1);
	got.preview = "again";
	msgcache_put(mc, 1, &got);
	CHECK(msgcache_get(mc, 1, &got) == 1 && got.preview_len == 5 &&
	    memcmp(got.preview, "again", 5) == 0 &&
	    same(&got, "(\"e1\")", "(\"b1\")"));
	msgcache_flush(mc, NULL, NULL, 0);
	msgcache_close(mc);
	CHECK(found(11, 1, "(\"e1\")", "(\"b1\")"));
}

/*
 * A large flush without compaction reads its own records back from the
 * log (comparing them with what it wrote rather than computing their
 * CRCs again), with another session's records appended between: all of
 * them must be found, in this session and in a new one.
 */
static void
test_own_append(void)
{
	struct msgcache *mc, *other;
	struct msgcache_rec r, got;
	char env[1024], bs[64];
	uint32_t uid;
	int bad = 0;

	rm("imapd-msgcache.cdb");
	rm("imapd-msgcache.log");
	mc = msgcache_open(dir, 9);
	other = msgcache_open(dir, 9);
	for (uid = 1; uid <= 6000; uid++) {
		snprintf(env, sizeof(env), "(\"env %u\" %0*u)", uid, 600, uid);
		snprintf(bs, sizeof(bs), "(\"bs %u\")", uid);
		rec(&r, env, "", bs);
		msgcache_put(uid % 500 == 0 ? other : mc, uid, &r);
		if (uid % 500 == 0)
			msgcache_flush(other, NULL, NULL, 0);
		if (uid % 2000 == 0)
			msgcache_flush(mc, NULL, NULL, 0);
	}
	for (uid = 1; uid <= 6000; uid++) {
		snprintf(env, sizeof(env), "(\"env %u\" %0*u)", uid, 600, uid);
		snprintf(bs, sizeof(bs), "(\"bs %u\")", uid);
		if (uid % 500 != 0 && (msgcache_get(mc, uid, &got) != 1 ||
		    !same(&got, env, bs)))
			bad++;
		if (uid % 97 == 0 && !found(9, uid, env, bs))
			bad++;
	}
	CHECK_INT(bad, 0);
	msgcache_close(other);
	msgcache_close(mc);
}

int
main(void)
{
	char cmd[600];

	/* IMAPD_TEST_MMAP=no: the same checks with files read, as on a
	 * network file system (see mapfile.h) */
	if (getenv("IMAPD_TEST_MMAP") != NULL &&
	    strcmp(getenv("IMAPD_TEST_MMAP"), "no") == 0)
		mapfile_set_mode(MAPFILE_NEVER);

	if (mkdtemp(dir) == NULL)
		return 2;
	T_RUN(test_basic);
	T_RUN(test_deferred_compaction);
	T_RUN(test_compaction_under_a_reader);
	T_RUN(test_damage);
	T_RUN(test_concurrent);
	T_RUN(test_put_from_pending);
	T_RUN(test_preview);
	T_RUN(test_own_append);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	return t_done();
}
