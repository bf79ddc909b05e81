/*
 * Fuzz target: maildir/msgcache, the structure cache as found on disk
 * (written by other sessions, cut short by a crash, or anything else).
 *
 * Input: one byte of mode, then parts cut at FUZZ_SEP.
 *   mode & 1  raw: imapd-msgcache.cdb and imapd-msgcache.log as they
 *             are, then the UIDVALIDITY to open them with (u32); UIDs
 *             1 to 16 are looked up.
 *   else      structured: the snapshot's "H" value, then records, each
 *             a u32 UID, a byte saying where it goes (bit 0: the log,
 *             bit 1: under another UIDVALIDITY) and its value.  So that
 *             the fuzzer gets past the checksums they are set right,
 *             unless mode & 2.
 *
 * Every UID named is looked up; then entries are put, as FETCH puts
 * them: new ones, and ones got from the cache and put back with a field
 * added (BODYSTRUCTURE, then ENVELOPE: the pointers then lead into the
 * cache's own memory); the cache is flushed and compacted (half the UIDs
 * expunged) and opened again.  Properties checked:
 *   - what a lookup gives lies in readable memory and its lengths add up;
 *   - what was put is got back at once and after the flush, and (when
 *     the log held only records a reader takes) from the reopened cache
 *     and after compaction for the UIDs still alive, byte for byte.
 */
#include <cdb.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/lib/buf.h"
#include "common/lib/le.h"
#include "maildir/msgcache.h"
#include "tests/fuzz/fuzz.h"

#define PARTS_MAX	128
#define PUTS_MAX	64

static char dir[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "folder");
	return 0;
}

/* A value with its CRC set right (when it is long enough to have one). */
static unsigned char *
fixed_value(const unsigned char *v, size_t len, uint32_t uid, int fix)
{
	unsigned char *c = (unsigned char *)fuzz_dup(v, len), u[4];

	if (fix && len >= 4) {
		le32_put(u, uid);
		le32_put(c, (uint32_t)crc32(crc32(0, u, 4), c + 4,
		    (uInt)(len - 4)));
	}
	return c;
}

/* Would a reader take this log record (value and UIDVALIDITY)? */
static int
record_ok(const unsigned char *v, size_t len, int other_uidv, int mode)
{
	uint64_t want;

	if (other_uidv || (mode & 2) || len < 20)
		return 0;
	want = 20 + (uint64_t)le32_get(v + 4) + le32_get(v + 8) + le32_get(v + 12);
	return want == len;
}

/* Writes the files; *log_ok_r says whether every log record is one a
 * reader takes (after one it does not, it takes none: see msgcache.c). */
static uint32_t
write_structured(int mode, const struct fuzz_part *part, size_t n,
    uint32_t *uids, size_t *nuids, int *log_ok_r)
{
	unsigned char h[12], rh[20], first[12], *v;
	struct cdb_make cm;
	char path[PATH_MAX];
	uint32_t uidv = 1, uid, ruidv;
	size_t i;
	int cfd, lfd;

	memset(h, 0, sizeof(h));
	memcpy(h, part[0].p, part[0].len < 12 ? part[0].len : 12);
	if (part[0].len >= 12)
		uidv = le32_get(h + 8);
	if ((cfd = open(fuzz_path(path, dir, "imapd-msgcache.cdb"),
	    O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    cdb_make_start(&cm, cfd) == -1)
		fuzz_die(path);
	if ((lfd = open(fuzz_path(path, dir, "imapd-msgcache.log"),
	    O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		fuzz_die(path);
	if (cdb_make_add(&cm, "H", 1, part[0].len >= 12 ? h : part[0].p,
	    (unsigned)(part[0].len >= 12 ? 12 : part[0].len)) == -1)
		fuzz_die("cdb_make_add");
	for (i = 1; i < n; i++) {
		if (part[i].len < 5)
			continue;
		uid = le32_get(part[i].p);
		if (*nuids < PARTS_MAX)
			uids[(*nuids)++] = uid;
		v = fixed_value(part[i].p + 5, part[i].len - 5, uid,
		    !(mode & 2));
		if (part[i].p[4] & 1) {
			ruidv = (part[i].p[4] & 2) ? uidv + 1 : uidv;
			if (!record_ok(v, part[i].len - 5, ruidv != uidv, mode))
				*log_ok_r = 0;
			memcpy(rh, "IMC4", 4);
			le32_put(rh + 4, (uint32_t)(8 + part[i].len - 5));
			le32_put(rh + 12, uid);
			le32_put(rh + 16, ruidv);
			/* the CRC covers UID, UIDVALIDITY and the value's
			 * own CRC */
			memset(first, 0, sizeof(first));
			memcpy(first, rh + 12, 8);
			memcpy(first + 8, v, part[i].len - 5 < 4 ?
			    part[i].len - 5 : 4);
			le32_put(rh + 8, mode & 2 ? le32_get(first + 8) :
			    (uint32_t)crc32(0, first, 12));
			if (write(lfd, rh, sizeof(rh)) != sizeof(rh) ||
			    write(lfd, v, part[i].len - 5) !=
			    (ssize_t)(part[i].len - 5))
				fuzz_die(path);
		} else {
			unsigned char key[4];

			le32_put(key, uid);
			if (cdb_make_add(&cm, key, 4, v,
			    (unsigned)(part[i].len - 5)) == -1)
				fuzz_die("cdb_make_add");
		}
		free(v);
	}
	if (cdb_make_finish(&cm) == -1)
		fuzz_die("cdb_make_finish");
	close(cfd);
	close(lfd);
	return uidv;
}

/* Touch every byte a record points at; the sum is not used. */
static unsigned
touch(const struct msgcache_rec *r)
{
	unsigned s = 0;
	size_t i;

	FUZZ_CHECK((r->envelope_len == 0 || r->envelope != NULL) &&
	    (r->body_len == 0 || r->body != NULL) &&
	    (r->bodystructure_len == 0 || r->bodystructure != NULL),
	    "a field with bytes but no pointer");
	for (i = 0; i < r->envelope_len; i++)
		s += (unsigned char)r->envelope[i];
	for (i = 0; i < r->body_len; i++)
		s += (unsigned char)r->body[i];
	for (i = 0; i < r->bodystructure_len; i++)
		s += (unsigned char)r->bodystructure[i];
	return s;
}

struct want {
	uint32_t	 uid;
	struct buf	 env, body, bs;
	unsigned	 exact;
};

static struct want wants[PUTS_MAX];
static size_t nwants;

static int
alive(void *arg, uint32_t uid)
{
	return uid % 2 == 0;
}

static void
remember(uint32_t uid, const struct msgcache_rec *r)
{
	struct want *w = NULL;
	size_t i;

	for (i = 0; i < nwants; i++)
		if (wants[i].uid == uid)
			w = &wants[i];
	if (w == NULL) {
		w = &wants[nwants++];
		w->uid = uid;
		buf_init(&w->env, 1 << 24);
		buf_init(&w->body, 1 << 24);
		buf_init(&w->bs, 1 << 24);
	}
	buf_reset(&w->env);
	buf_reset(&w->body);
	buf_reset(&w->bs);
	if (buf_add(&w->env, r->envelope, r->envelope_len) == -1 ||
	    buf_add(&w->body, r->body, r->body_len) == -1 ||
	    buf_add(&w->bs, r->bodystructure, r->bodystructure_len) == -1)
		fuzz_die("buf");
	w->exact = r->envelope_exact;
}

static int
same_field(const struct buf *b, const char *p, size_t len)
{
	return b->len == len && (len == 0 || memcmp(b->data, p, len) == 0);
}

static void
check_wants(struct msgcache *mc, int after_compaction, const char *when)
{
	struct msgcache_rec r;
	size_t i;

	for (i = 0; i < nwants; i++) {
		/* compaction may drop what is expunged, or not yet */
		if (after_compaction && !alive(NULL, wants[i].uid))
			continue;
		FUZZ_CHECK(msgcache_get(mc, wants[i].uid, &r),
		    "%s: UID %u not found", when, wants[i].uid);
		(void)touch(&r);
		FUZZ_CHECK(same_field(&wants[i].env, r.envelope,
		    r.envelope_len) && same_field(&wants[i].body, r.body,
		    r.body_len) && same_field(&wants[i].bs, r.bodystructure,
		    r.bodystructure_len) && r.envelope_exact ==
		    wants[i].exact, "%s: UID %u comes back otherwise", when,
		    wants[i].uid);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char env[] = "(\"Tue, 14 Nov 2023 09:12:40 +0100\" "
	    "\"Lunch\" ((NIL NIL \"alice\" \"example.org\")) NIL NIL NIL NIL "
	    "NIL NIL \"<lunch@example.org>\")";
	static const char bs[] = "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 42 2 NIL NIL NIL NIL)";
	struct fuzz_part part[PARTS_MAX];
	struct msgcache *mc;
	struct msgcache_rec r, put;
	uint32_t uids[PARTS_MAX], uidv = 1, uid;
	size_t n, nuids = 0, i;
	int mode, log_ok = 1;

	if (len < 1)
		return 0;
	mode = data[0];
	n = fuzz_split(data + 1, len - 1, part, PARTS_MAX);
	fuzz_fresh_dir(dir);
	if (mode & 1) {
		fuzz_put(dir, "imapd-msgcache.cdb", part[0].p, part[0].len);
		if (n > 1)
			fuzz_put(dir, "imapd-msgcache.log", part[1].p,
			    part[1].len);
		if (n > 2 && part[2].len >= 4)
			uidv = le32_get(part[2].p);
		for (i = 1; i <= 16; i++)
			uids[nuids++] = (uint32_t)i;
		log_ok = 0;	/* not known */
	} else
		uidv = write_structured(mode, part, n, uids, &nuids,
		    &log_ok);

	if ((mc = msgcache_open(dir, uidv)) == NULL)
		fuzz_die("msgcache_open");
	for (i = 0; i < nuids; i++)
		if (msgcache_get(mc, uids[i], &r))
			(void)touch(&r);

	nwants = 0;
	for (i = 0; i < nuids && nwants < PUTS_MAX / 2; i++) {
		uid = uids[i];
		if (uid == 0)
			continue;
		/* what FETCH BODYSTRUCTURE puts ... */
		memset(&put, 0, sizeof(put));
		if (msgcache_get(mc, uid, &r))
			put = r;
		put.bodystructure = bs;
		put.bodystructure_len = sizeof(bs) - 1;
		remember(uid, &put);
		msgcache_put(mc, uid, &put);
		/* ... then FETCH ENVELOPE, onto what is pending */
		FUZZ_CHECK(msgcache_get(mc, uid, &r), "UID %u put, not got",
		    uid);
		put = r;
		put.envelope = env;
		put.envelope_len = sizeof(env) - 1;
		put.envelope_exact = 5;
		remember(uid, &put);
		msgcache_put(mc, uid, &put);
		/* ... and once more with nothing new, all from pending */
		FUZZ_CHECK(msgcache_get(mc, uid, &r), "UID %u lost", uid);
		msgcache_put(mc, uid, &r);
	}
	check_wants(mc, 0, "pending");
	msgcache_flush(mc, alive, NULL, 0);
	check_wants(mc, 0, "flushed");
	msgcache_close(mc);

	/* what was appended after a record readers do not take stays
	 * unseen until a compaction starts the log anew: a cost in time
	 * that msgcache.c accepts */
	if ((mc = msgcache_open(dir, uidv)) == NULL)
		fuzz_die("msgcache_open");
	if (log_ok)
		check_wants(mc, 0, "reopened");
	msgcache_flush(mc, alive, NULL, 1);
	msgcache_close(mc);
	if ((mc = msgcache_open(dir, uidv)) == NULL)
		fuzz_die("msgcache_open");
	if (log_ok)
		check_wants(mc, 1, "compacted");
	msgcache_close(mc);
	for (i = 0; i < nwants; i++) {
		buf_free(&wants[i].env);
		buf_free(&wants[i].body);
		buf_free(&wants[i].bs);
	}
	return 0;
}
