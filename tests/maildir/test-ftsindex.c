/*
 * Unit tests for maildir/ftsindex: the full-text index as a filter that
 * never hides a match.  Every check comes down to one property: for each
 * UID the index covers, a message that SEARCH would find for a needle is
 * among the index's candidates for it.  It must hold after batches,
 * compactions, crashes at every write step, damage of every kind, and
 * writers running side by side.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/imap/message.h"
#include "common/lib/le.h"
#include "common/lib/mapfile.h"
#include "common/mail/ngram.h"
#include "maildir/ftsindex.h"
#include "tests/t.h"
#include "tests/tfile.h"

#define UIDV	7
#define NMSG	400

static char root[] = "/tmp/test-ftsindex.XXXXXX";

static const char *const words[] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
	"hotel", "india", "juliet", "kilo", "lima", "mike", "november",
	"oscar", "papa", "quebec", "romeo", "sierra", "tango",
	"gr\xc3\xbc\xc3\x9f" "e", "\xc3\x84rger", "\xef\xac\x81sh",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "caf\xc3\xa9",
};
#define NWORDS	(sizeof(words) / sizeof(words[0]))

/* needles: whole words, pieces of them, in other cases, and across two */
static const char *const needles[] = {
	"alpha", "ALPHA", "lph", "ravo ch", "o c", "rger", "\xc3\xa4rg",
	"gr\xc3\x9c\xc3\x9f", "fish", "FI", "\xe6\x9c\xac\xe8\xaa\x9e",
	"CAF\xc3\x89", "zulu", "xyz", "tango alpha", "quebec", "elta",
};
#define NNEEDLES	(sizeof(needles) / sizeof(needles[0]))

static char *msgs[NMSG + 1];	/* by UID */

static void
die(const char *what)
{
	perror(what);
	exit(2);
}

static void
make_messages(void)
{
	char buf[4096];
	size_t len, i;
	int uid, k, n;

	t_rnd_state = 7;
	for (uid = 1; uid <= NMSG; uid++) {
		/* short words: nothing is cut */
		len = (size_t)snprintf(buf, sizeof(buf), "Subject: %s %s\n"
		    "From: %s <a@b>\n\n", words[t_rnd(NWORDS)],
		    words[t_rnd(NWORDS)], words[t_rnd(NWORDS)]);
		n = 1 + (int)t_rnd(12);
		for (k = 0; k < n; k++) {
			i = t_rnd(NWORDS);
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    "%s%s", words[i], t_rnd(3) ? " " : "\n");
		}
		if ((msgs[uid] = strdup(buf)) == NULL)
			die("strdup");
	}
}

static void
path(char *out, const char *d, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", d, name);

	if (n < 0 || n >= PATH_MAX)
		die("path too long");
}

static void
sub(char *out, const char *name)
{
	path(out, root, name);
	if (mkdir(out, 0700) == -1 && errno != EEXIST)
		die("mkdir");
}

static int
exists(const char *d, const char *name)
{
	char p[PATH_MAX];
	struct stat sb;

	path(p, d, name);
	return stat(p, &sb) == 0;
}

/* Index first..last into a batch, covering them. */
static void
add(struct ftsindex_batch *b, uint32_t first, uint32_t last)
{
	struct message *m;
	uint32_t u;

	for (u = first; u <= last; u++) {
		m = message_from_mem(msgs[u], strlen(msgs[u]));
		CHECK(ftsindex_batch_add(b, u, m) == 0);
		message_free(m);
	}
	CHECK(ftsindex_batch_cover(b, first, last) == 0);
}

/* Write first..last to the index in dir, waiting out other writers. */
static int
write_range(struct ftsindex *fi, uint32_t first, uint32_t last)
{
	struct ftsindex_batch *b = ftsindex_batch_new();
	int tries, r = -1;

	add(b, first, last);
	for (tries = 0; tries < 2000; tries++) {
		if ((r = ftsindex_write(fi, b)) == 0 || errno != EAGAIN)
			break;
		usleep(1000);
	}
	ftsindex_batch_free(b);
	return r;
}

/* Compact the index, every UID alive unless dead says otherwise. */
static int
compact(struct ftsindex *fi, int (*dead)(uint32_t), int budget)
{
	uint64_t live[(NMSG + 64) / 64 + 1];
	uint32_t u;
	int r, tries;

	memset(live, 0, sizeof(live));
	for (u = 1; u <= NMSG; u++)
		if (dead == NULL || !dead(u))
			live[u / 64] |= 1ULL << (u % 64);
	for (tries = 0; tries < 2000; tries++) {
		if ((r = ftsindex_compact_begin(fi, live, NMSG + 1)) == 0 ||
		    errno != EAGAIN)
			break;
		usleep(1000);
	}
	if (r == -1)
		return -1;
	while ((r = ftsindex_compact_step(fi, budget)) == 0)
		;
	return r == 1 ? 0 : -1;
}

/*
 * The property: for every covered UID (and live, per dead), each needle
 * SEARCH would find in its body or header is a candidate.  Returns how
 * many UIDs are covered, or -1 if the index refused to answer.
 */
static int
filter_holds(struct ftsindex *fi, int (*dead)(uint32_t))
{
	uint64_t body[(NMSG + 64) / 64 + 1], head[(NMSG + 64) / 64 + 1];
	struct message *m;
	uint32_t *k, u;
	size_t n, i;
	int covered = 0, bad = 0;

	for (u = 1; u <= NMSG; u++)
		covered += ftsindex_covered(fi, u);
	for (i = 0; i < NNEEDLES; i++) {
		CHECK(ftsindex_keys(needles[i], NGRAM_BODY, &k, &n) == 0);
		if (n == 0) {
			/* too short to look up: searches read every
			 * message */
			free(k);
			continue;
		}
		if (ftsindex_lookup(fi, k, n, NMSG + 1, body) == -1) {
			free(k);
			return -1;
		}
		free(k);
		CHECK(ftsindex_keys(needles[i], NGRAM_HEADER, &k, &n) == 0);
		if (ftsindex_lookup(fi, k, n, NMSG + 1, head) == -1) {
			free(k);
			return -1;
		}
		free(k);
		for (u = 1; u <= NMSG; u++) {
			if (!ftsindex_covered(fi, u) ||
			    (dead != NULL && dead(u)))
				continue;
			m = message_from_mem(msgs[u], strlen(msgs[u]));
			if (message_search_body(m, needles[i]) == 1 &&
			    !(body[u / 64] & (1ULL << (u % 64))))
				bad++;
			if ((message_search_header(m, "Subject", needles[i]) ==
			    1 || message_search_address(m, "From",
			    needles[i]) == 1) &&
			    !(head[u / 64] & (1ULL << (u % 64))))
				bad++;
			message_free(m);
		}
	}
	message_search_cleanup();
	CHECK_MSG(bad == 0, "%d matches hidden", bad);
	return covered;
}

/* How many candidates the index gives for a needle in bodies. */
static int
candidates(struct ftsindex *fi, const char *needle)
{
	uint64_t bits[(NMSG + 64) / 64 + 1];
	uint32_t *k, u;
	size_t n;
	int c = 0;

	if (ftsindex_keys(needle, NGRAM_BODY, &k, &n) == -1 || n == 0 ||
	    ftsindex_lookup(fi, k, n, NMSG + 1, bits) == -1) {
		free(k);
		return -1;
	}
	free(k);
	for (u = 1; u <= NMSG; u++)
		c += (bits[u / 64] >> (u % 64)) & 1;
	return c;
}

static int
odd_dead(uint32_t u)
{
	return u % 2 == 1 && u > 100 && u < 200;
}

static void
test_basic(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi, *other;

	sub(d, "basic");
	fi = ftsindex_open(d, UIDV);
	CHECK(fi != NULL);
	CHECK(!ftsindex_covered(fi, 1));
	CHECK(filter_holds(fi, NULL) == 0);
	CHECK(write_range(fi, 1, 50) == 0);
	CHECK(ftsindex_covered(fi, 1) && ftsindex_covered(fi, 50) &&
	    !ftsindex_covered(fi, 51));
	CHECK(ftsindex_uncovered_from(fi, 10) == 51);
	CHECK(ftsindex_uncovered_from(fi, 60) == 60);
	CHECK(filter_holds(fi, NULL) == 50);
	/* an absent word has no candidate at all */
	CHECK(candidates(fi, "zulu") == 0);
	CHECK(candidates(fi, "alpha") > 0 && candidates(fi, "alpha") < 50);
	/* a second handle sees it; the first sees the second's writes */
	other = ftsindex_open(d, UIDV);
	CHECK(filter_holds(other, NULL) == 50);
	CHECK(write_range(other, 60, 80) == 0);
	ftsindex_refresh(fi);
	CHECK(ftsindex_covered(fi, 70) && !ftsindex_covered(fi, 55));
	CHECK(filter_holds(fi, NULL) == 71);
	/* one indexer at a time; writes go on beside the claim */
	CHECK(ftsindex_claim(fi) == 0);
	CHECK(ftsindex_claim(other) == -1 && errno == EAGAIN);
	CHECK(write_range(other, 81, 85) == 0);
	ftsindex_unclaim(fi);
	CHECK(ftsindex_claim(other) == 0);
	ftsindex_close(other);
	CHECK(ftsindex_claim(fi) == 0);
	ftsindex_unclaim(fi);
	ftsindex_refresh(fi);
	CHECK(filter_holds(fi, NULL) == 76);
	/* another UIDVALIDITY's index is nothing */
	other = ftsindex_open(d, UIDV + 1);
	CHECK(!ftsindex_covered(other, 1) && !ftsindex_damaged(other));
	/* and its first writer replaces it */
	CHECK(write_range(other, 5, 6) == 0);
	ftsindex_close(other);
	ftsindex_refresh(fi);
	CHECK(!ftsindex_covered(fi, 1));
	ftsindex_close(fi);
}

/* A folder name's index holding 1..last, compacted. */
static void
built(char *d, const char *name, uint32_t last)
{
	struct ftsindex *fi;

	sub(d, name);
	fi = ftsindex_open(d, UIDV);
	CHECK(write_range(fi, 1, last) == 0);
	CHECK(compact(fi, NULL, 50) == 0);
	ftsindex_close(fi);
}

static int
eleven_dead(uint32_t u)
{
	return u == 11;
}

/* Ranges are joined across a gap only when nothing alive is in it. */
static void
test_gaps(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi;

	sub(d, "gaps");
	fi = ftsindex_open(d, UIDV);
	CHECK(write_range(fi, 1, 10) == 0);
	CHECK(write_range(fi, 12, 20) == 0);
	CHECK(compact(fi, NULL, 50) == 0);
	CHECK(!ftsindex_covered(fi, 11) && ftsindex_covered(fi, 12));
	CHECK(filter_holds(fi, NULL) == 19);
	CHECK(compact(fi, eleven_dead, 50) == 0);
	CHECK(ftsindex_covered(fi, 11));
	CHECK(ftsindex_uncovered_from(fi, 1) == 21);
	CHECK(filter_holds(fi, eleven_dead) == 20);
	ftsindex_close(fi);
}

static void
test_compaction(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi, *reader, *other;
	struct ftsindex_batch *b;
	uint32_t u;
	int steps = 0, r;

	sub(d, "compact");
	fi = ftsindex_open(d, UIDV);
	for (u = 1; u <= NMSG - 20; u += 20)
		CHECK(write_range(fi, u, u + 19) == 0);
	CHECK(write_range(fi, 381, 390) == 0);
	/* 391..NMSG stay out; 200 is a gap between two batches' ranges */
	reader = ftsindex_open(d, UIDV);
	CHECK(filter_holds(reader, NULL) == 390);
	/* compaction in the smallest steps, with a reader answering and
	 * other writers locked out meanwhile */
	CHECK(ftsindex_compact_begin(fi, (uint64_t[(NMSG + 64) / 64 + 1]){
	    0 }, 0) == 0);
	other = ftsindex_open(d, UIDV);
	b = ftsindex_batch_new();
	add(b, 391, 395);
	CHECK(ftsindex_write(other, b) == -1 && errno == EAGAIN);
	CHECK(ftsindex_write(fi, b) == -1 && errno == EAGAIN);
	while ((r = ftsindex_compact_step(fi, 0)) == 0) {
		steps++;
		if (steps % 7 == 0)
			CHECK(filter_holds(reader, NULL) == 390);
	}
	CHECK(r == 1 && steps > 2);
	CHECK(ftsindex_write(other, b) == 0);
	ftsindex_batch_free(b);
	ftsindex_close(other);
	ftsindex_refresh(reader);
	CHECK(filter_holds(reader, NULL) == 395);
	ftsindex_refresh(fi);
	CHECK(filter_holds(fi, NULL) == 395);
	/* expunged messages leave it: their postings go, their UIDs stay
	 * covered (they never come back) */
	CHECK(candidates(fi, "alpha") > 0);
	CHECK(compact(fi, odd_dead, 5) == 0);
	CHECK(filter_holds(fi, odd_dead) == 395);
	{
		uint64_t bits[(NMSG + 64) / 64 + 1];
		uint32_t *k;
		size_t n;
		int stale = 0;

		ftsindex_keys("a", NGRAM_BODY, &k, &n);
		free(k);
		for (u = 0; u < NNEEDLES; u++) {
			ftsindex_keys(needles[u], NGRAM_BODY, &k, &n);
			if (n > 0 && ftsindex_lookup(fi, k, n, NMSG + 1,
			    bits) == 0) {
				uint32_t x;

				for (x = 101; x < 200; x += 2)
					stale += (bits[x / 64] >> (x % 64)) & 1;
			}
			free(k);
		}
		CHECK_MSG(stale == 0, "%d postings of expunged messages", stale);
	}
	ftsindex_close(reader);
	ftsindex_close(fi);
}

/* ---- crashes ----------------------------------------------------------- */

static int crash_at;

static void
crash_hook(int step)
{
	if (step == crash_at)
		_exit(9);
}

/* Copy the files of the index in from to to. */
static void
copy_index(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX + 32];
	int n;

	n = snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", to, from,
	    to);
	if (n < 0 || (size_t)n >= sizeof(cmd) || system(cmd) != 0)
		die("cp");
}

static void
test_crash(void)
{
	static const int steps[] = {
		FTSINDEX_STEP_APPEND, FTSINDEX_STEP_APPENDED,
		FTSINDEX_STEP_SNAP_WRITTEN, FTSINDEX_STEP_SNAP_RENAMED,
		FTSINDEX_STEP_JOURNAL_RENAMED,
	};
	char base[PATH_MAX], d[PATH_MAX], name[64];
	struct ftsindex *fi;
	size_t i;
	pid_t pid;
	int st, cov, compacting;

	sub(base, "crash-base");
	fi = ftsindex_open(base, UIDV);
	CHECK(write_range(fi, 1, 100) == 0);
	CHECK(compact(fi, NULL, 50) == 0);
	CHECK(write_range(fi, 101, 150) == 0);
	ftsindex_close(fi);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		compacting = steps[i] >= FTSINDEX_STEP_SNAP_WRITTEN;
		if (snprintf(name, sizeof(name), "crash-%d", steps[i]) >=
		    (int)sizeof(name))
			die("name");
		path(d, root, name);
		copy_index(base, d);
		pid = t_fork();
		if (pid == 0) {
			fi = ftsindex_open(d, UIDV);
			crash_at = steps[i];
			ftsindex_test_step = crash_hook;
			if (compacting)
				(void)compact(fi, odd_dead, 50);
			else
				(void)write_range(fi, 151, 200);
			_exit(0);
		}
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 9,
		    "step %d: the child did not stop there", steps[i]);
		/* the old index or the new one, never damage */
		fi = ftsindex_open(d, UIDV);
		CHECK(!ftsindex_damaged(fi));
		cov = filter_holds(fi, compacting ? odd_dead : NULL);
		if (compacting)
			CHECK_MSG(cov == 150, "step %d: %d", steps[i], cov);
		else
			CHECK_MSG(cov == 150 || cov == 200, "step %d: %d",
			    steps[i], cov);
		if (steps[i] == FTSINDEX_STEP_APPENDED)
			CHECK(cov == 200);
		/* and it goes on: a write, a compaction */
		CHECK(write_range(fi, 201, 220) == 0);
		CHECK(compact(fi, odd_dead, 50) == 0);
		CHECK(!exists(d, "imapd-fts.index.damaged"));
		CHECK_MSG(filter_holds(fi, odd_dead) >= 170, "step %d",
		    steps[i]);
		ftsindex_close(fi);
	}
}

/* A record cut short (a crash in the middle of its write, or a full
 * disk) is not taken, and the next write goes over it. */
static void
test_torn(void)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct ftsindex *fi;
	struct stat sb;

	sub(d, "torn");
	fi = ftsindex_open(d, UIDV);
	CHECK(write_range(fi, 1, 40) == 0);
	CHECK(write_range(fi, 41, 80) == 0);
	ftsindex_close(fi);
	path(p, d, "imapd-fts.log");
	CHECK(stat(p, &sb) == 0);
	CHECK(truncate(p, sb.st_size - 10) == 0);
	fi = ftsindex_open(d, UIDV);
	CHECK(!ftsindex_damaged(fi));
	CHECK(filter_holds(fi, NULL) == 40);
	CHECK(write_range(fi, 81, 90) == 0);
	ftsindex_close(fi);
	fi = ftsindex_open(d, UIDV);
	CHECK(filter_holds(fi, NULL) == 50);
	CHECK(ftsindex_covered(fi, 85) && !ftsindex_covered(fi, 60));
	ftsindex_close(fi);
}

/* ---- damage ------------------------------------------------------------ */

static void
flip(const char *d, const char *name, off_t where)
{
	char p[PATH_MAX];
	unsigned char c;
	int fd;

	path(p, d, name);
	if ((fd = open(p, O_RDWR)) == -1)
		die("open");
	if (pread(fd, &c, 1, where) != 1)
		die("pread");
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, where) != 1)
		die("pwrite");
	close(fd);
}

/*
 * A journal record that stops reading as whole (its bytes damaged)
 * makes every record behind it torn too, and the next writer appends
 * over it; that record may be shorter than what it overwrites, so the
 * file does not grow.  Another handle must still see it -- and, under
 * the lock, append behind it rather than over it -- and must tell that
 * its coverage shrank, so an indexer walking the folder looks again.
 */
static void
test_rewritten_in_place(void)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct ftsindex *a, *b, *check;
	struct stat before, after;
	unsigned lost;

	sub(d, "inplace");
	a = ftsindex_open(d, UIDV);
	b = ftsindex_open(d, UIDV);
	CHECK(write_range(a, 1, 60) == 0);
	CHECK(write_range(a, 61, 80) == 0);
	ftsindex_refresh(b);
	CHECK(ftsindex_uncovered_from(b, 1) == 81);
	lost = ftsindex_losses(b);
	/* a byte inside the first record's body: it and all behind it
	 * read as torn */
	flip(d, "imapd-fts.log", 32 + 12 + 40);
	/* records already taken are not read again (a view of the same
	 * length): the handles that see the damage are new ones */
	ftsindex_close(a);
	ftsindex_close(b);
	a = ftsindex_open(d, UIDV);
	b = ftsindex_open(d, UIDV);
	CHECK(!ftsindex_damaged(b));
	CHECK(!ftsindex_covered(b, 1) && !ftsindex_covered(b, 70));
	lost = ftsindex_losses(b);
	path(p, d, "imapd-fts.log");
	CHECK(stat(p, &before) == 0);
	/* a writes a short record where the first one began */
	CHECK(write_range(a, 1, 2) == 0);
	CHECK(stat(p, &after) == 0);
	CHECK(after.st_size == before.st_size);
	ftsindex_refresh(b);
	CHECK(ftsindex_covered(b, 1) && ftsindex_covered(b, 2));
	/* b's record lands behind a's */
	CHECK(write_range(b, 3, 4) == 0);
	check = ftsindex_open(d, UIDV);
	CHECK(ftsindex_uncovered_from(check, 1) == 5);
	CHECK(filter_holds(check, NULL) == 4);
	ftsindex_close(check);
	/* coverage that shrinks under a handle is counted: another sets
	 * a damaged snapshot aside */
	CHECK(ftsindex_losses(b) == lost);
	CHECK(compact(a, NULL, 50) == 0);
	ftsindex_refresh(b);
	CHECK(ftsindex_uncovered_from(b, 1) == 5);
	CHECK(ftsindex_losses(b) == lost);
	flip(d, "imapd-fts.index", 5);
	check = ftsindex_open(d, UIDV);
	CHECK(ftsindex_damaged(check));
	CHECK(ftsindex_reset(check) == 0);
	ftsindex_close(check);
	ftsindex_refresh(b);
	CHECK(!ftsindex_covered(b, 1));
	CHECK(ftsindex_losses(b) != lost);
	ftsindex_close(a);
	ftsindex_close(b);
}

static void
test_damage(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi;
	int cov;

	/* a posting list of the snapshot: seen when it is used */
	built(d, "damage-list", 100);
	{
		/* bytes all over the posting lists, so that every look-up
		 * meets one */
		char p[PATH_MAX];
		unsigned char h[64];
		uint64_t plen, j;
		int fd;

		path(p, d, "imapd-fts.index");
		fd = open(p, O_RDONLY);
		CHECK(fd != -1 && pread(fd, h, 64, 0) == 64);
		close(fd);
		plen = le64_get(h + 32);
		for (j = 0; j < plen; j += 29)
			flip(d, "imapd-fts.index", (off_t)(64 + j));
	}
	fi = ftsindex_open(d, UIDV);
	cov = 0;
	{
		size_t i;

		for (i = 0; i < NNEEDLES && !ftsindex_damaged(fi); i++)
			(void)candidates(fi, needles[i]);
	}
	CHECK(ftsindex_damaged(fi));
	CHECK(!ftsindex_covered(fi, 5));
	CHECK(candidates(fi, "alpha") == -1);
	CHECK(ftsindex_reset(fi) == 0);
	CHECK(exists(d, "imapd-fts.index.damaged"));
	CHECK(!ftsindex_damaged(fi) && !ftsindex_covered(fi, 5));
	CHECK(write_range(fi, 1, 30) == 0);
	CHECK(filter_holds(fi, NULL) == 30);
	ftsindex_close(fi);

	/* the header: never believed, set aside by the next writer */
	built(d, "damage-head", 100);
	flip(d, "imapd-fts.index", 33);
	fi = ftsindex_open(d, UIDV);
	CHECK(ftsindex_damaged(fi) && !ftsindex_covered(fi, 5));
	CHECK(ftsindex_reset(fi) == 0);
	CHECK(exists(d, "imapd-fts.index.damaged"));
	CHECK(write_range(fi, 1, 10) == 0);
	CHECK(filter_holds(fi, NULL) == 10);
	ftsindex_close(fi);

	/* a record in the middle of the journal: it and what follows are
	 * not taken (their messages are indexed again) */
	sub(d, "damage-journal");
	fi = ftsindex_open(d, UIDV);
	CHECK(write_range(fi, 1, 40) == 0);
	CHECK(write_range(fi, 41, 80) == 0);
	CHECK(write_range(fi, 81, 120) == 0);
	ftsindex_close(fi);
	{
		char p[PATH_MAX];
		struct stat sb;

		path(p, d, "imapd-fts.log");
		CHECK(stat(p, &sb) == 0);
		flip(d, "imapd-fts.log", sb.st_size / 2);
	}
	fi = ftsindex_open(d, UIDV);
	cov = filter_holds(fi, NULL);
	CHECK_MSG(cov == 40 || cov == 80, "%d", cov);
	CHECK(!ftsindex_covered(fi, 100));
	ftsindex_close(fi);

	/* another version's snapshot is not ours: replaced, not damage */
	built(d, "damage-version", 20);
	{
		char p[PATH_MAX];
		unsigned char h[64];
		uLong c;
		int fd;

		path(p, d, "imapd-fts.index");
		fd = open(p, O_RDWR);
		CHECK(fd != -1 && pread(fd, h, 64, 0) == 64);
		h[4] = 99;
		c = crc32(0, h, 60);
		h[60] = (unsigned char)c;
		h[61] = (unsigned char)(c >> 8);
		h[62] = (unsigned char)(c >> 16);
		h[63] = (unsigned char)(c >> 24);
		CHECK(pwrite(fd, h, 64, 0) == 64);
		close(fd);
	}
	fi = ftsindex_open(d, UIDV);
	CHECK(!ftsindex_damaged(fi) && !ftsindex_covered(fi, 5));
	CHECK(write_range(fi, 1, 10) == 0);
	CHECK(!exists(d, "imapd-fts.index") &&
	    !exists(d, "imapd-fts.index.damaged"));
	CHECK(filter_holds(fi, NULL) == 10);
	ftsindex_close(fi);
}

/* ---- side by side ------------------------------------------------------ */

static void
test_concurrent(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi;
	pid_t pids[4];
	int i, st, ok = 1;
	uint32_t u;

	sub(d, "concurrent");
	for (i = 0; i < 4; i++) {
		pids[i] = t_fork();
		if (pids[i] == 0) {
			fi = ftsindex_open(d, UIDV);
			if (i == 3) {
				/* a compactor, again and again */
				for (u = 0; u < 10; u++)
					if (compact(fi, NULL, 1) == -1)
						_exit(1);
				_exit(0);
			}
			for (u = (uint32_t)i * 100 + 1;
			    u <= (uint32_t)i * 100 + 100; u += 10)
				if (write_range(fi, u, u + 9) == -1)
					_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		CHECK(waitpid(pids[i], &st, 0) == pids[i]);
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	CHECK(ok);
	fi = ftsindex_open(d, UIDV);
	CHECK(!ftsindex_damaged(fi));
	CHECK(filter_holds(fi, NULL) == 300);
	CHECK(compact(fi, NULL, 50) == 0);
	CHECK(filter_holds(fi, NULL) == 300);
	ftsindex_close(fi);
}

/* Writers with views of files that others replaced meanwhile, again
 * and again (a file system gives freed inode numbers to the next files
 * it creates): each write lands where no other's record is. */
static void
test_replaced(void)
{
	char d[PATH_MAX];
	struct ftsindex *w, *c, *check;
	uint32_t u;
	int lost = 0;

	sub(d, "replaced");
	w = ftsindex_open(d, UIDV);
	c = ftsindex_open(d, UIDV);
	CHECK(write_range(w, 1, 5) == 0);
	CHECK(compact(w, NULL, 50) == 0);
	for (u = 6; u + 19 <= NMSG; u += 20) {
		/* w's view: a snapshot and a journal with a record */
		CHECK(write_range(w, u, u + 1) == 0);
		CHECK(write_range(c, u + 2, u + 4) == 0);
		CHECK(compact(c, NULL, 50) == 0);
		CHECK(write_range(c, u + 5, u + 9) == 0);
		CHECK(compact(c, NULL, 50) == 0);
		CHECK(write_range(c, u + 10, u + 11) == 0);
		CHECK(compact(c, NULL, 50) == 0);
		CHECK(write_range(c, u + 12, u + 13) == 0);
		CHECK(write_range(c, u + 14, u + 16) == 0);
		CHECK(write_range(w, u + 17, u + 19) == 0);
		check = ftsindex_open(d, UIDV);
		if (filter_holds(check, NULL) != (int)u + 19)
			lost++;
		ftsindex_close(check);
	}
	CHECK_MSG(lost == 0, "%d writes lost others' records", lost);
	ftsindex_close(c);
	ftsindex_close(w);
}

/* A folder renamed or deleted, and a new one under its name: a handle
 * on the old one writes nothing into the new one's index. */
static void
test_moved(void)
{
	char d[PATH_MAX], moved[PATH_MAX];
	struct ftsindex *fi, *there;
	struct ftsindex_batch *b;

	sub(d, "before");
	path(moved, root, "after");
	fi = ftsindex_open(d, UIDV);
	CHECK(write_range(fi, 1, 10) == 0);
	CHECK(rename(d, moved) == 0);
	sub(d, "before");
	b = ftsindex_batch_new();
	add(b, 11, 20);
	CHECK(ftsindex_write(fi, b) == -1 && errno == ESTALE);
	CHECK(ftsindex_batch_count(b) == 0);
	CHECK(!exists(d, "imapd-fts.log") && !exists(d, "imapd-fts.index"));
	ftsindex_batch_free(b);
	/* the index went with the folder */
	there = ftsindex_open(moved, UIDV);
	CHECK(filter_holds(there, NULL) == 10 && !ftsindex_covered(there, 11));
	ftsindex_close(there);
	ftsindex_close(fi);
}

/* Messages without text: a record of coverage and no lists. */
static void
test_no_text(void)
{
	char d[PATH_MAX];
	struct ftsindex *fi;
	struct ftsindex_batch *b;
	struct message *m;
	uint32_t u;

	sub(d, "notext");
	fi = ftsindex_open(d, UIDV);
	b = ftsindex_batch_new();
	for (u = 1; u <= 3; u++) {
		m = message_from_mem("\n", 1);
		CHECK(ftsindex_batch_add(b, u, m) == 0);
		message_free(m);
	}
	CHECK(ftsindex_batch_cover(b, 1, 3) == 0);
	CHECK(ftsindex_write(fi, b) == 0);
	CHECK(ftsindex_covered(fi, 2) && candidates(fi, "alpha") == 0);
	ftsindex_batch_free(b);
	ftsindex_close(fi);
}

int
main(void)
{
	char cmd[PATH_MAX + 16];

	/* IMAPD_TEST_MMAP=no: the same with files read, as on NFS */
	if (getenv("IMAPD_TEST_MMAP") != NULL &&
	    strcmp(getenv("IMAPD_TEST_MMAP"), "no") == 0)
		mapfile_set_mode(MAPFILE_NEVER);
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	make_messages();
	T_RUN(test_basic);
	T_RUN(test_moved);
	T_RUN(test_no_text);
	T_RUN(test_replaced);
	T_RUN(test_compaction);
	T_RUN(test_gaps);
	T_RUN(test_crash);
	T_RUN(test_torn);
	T_RUN(test_rewritten_in_place);
	T_RUN(test_damage);
	T_RUN(test_concurrent);
	if (snprintf(cmd, sizeof(cmd), "rm -rf %s", root) >= (int)sizeof(cmd) ||
	    system(cmd) != 0)
		return 2;
	return t_done();
}
