/*
 * indexer: the full-text index kept current between commands.  See
 * indexer.h.
 *
 * The selected folder's messages are taken in UID order from where the
 * last slice stopped, skipping what the index covers already (another
 * session may have done part of it).  A batch
 * covers a run of UIDs only when it holds every message the view has in
 * that run: the view holds every message of the folder below its
 * highest UID, since UIDs only grow, so UIDs between two messages of the
 * view name nothing that could come back.  A message that cannot be
 * read, or is too large to be worth it, ends the run and stays
 * uncovered: searches read it.
 *
 * Messages appended, copied or moved into another folder are indexed
 * when a session has that folder selected, as delivered mail is: APPEND
 * streams the message to the folder's tmp/ and keeps no copy to index
 * from.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/indexer.h"
#include "imapd/session.h"
#include "maildir/ftsindex.h"
#include "maildir/mailbox.h"

#define BATCH_BYTES	(8 * 1024 * 1024)	/* postings kept in memory */
#define BATCH_AGE_MS	2000	/* how long they may wait to be written */
#define RETRY_MS	1000	/* after the index was locked, or a failure */
#define MESSAGE_MAX	((uint64_t)16 * 1024 * 1024)
#define REL_MAX		4096
#define LOG_MIN		1000	/* a finished run this long is logged, and
				 * its journal merged at once */
#define TIDY_MIN	((uint64_t)1024 * 1024)	/* a journal worth merging */
#define MERGE_STEP_MS	2	/* compaction between looks for input */

/* One folder's index and what is waiting to be written to it. */
struct target {
	char			*dir;
	uint32_t		 uidv;
	struct ftsindex		*fi;
	struct ftsindex_batch	*batch;
	uint32_t		 batch_low;	/* the lowest UID in the batch */
	uint32_t		 run_first;	/* added since the batch last */
	uint32_t		 run_last;	/* covered a run */
	int			 in_run;
	long long		 batch_ms;	/* when the batch began */
	long long		 wait_until;
};

struct indexer {
	struct target		*sel;		/* the selected folder */
	uint32_t		 next;		/* the first UID not looked at */
	unsigned		 losses;	/* the index's, when next was
						 * last set back */
	struct buf		 store;
	size_t			 indexed;	/* since the last log line */
	long long		 began_ms;
	int			 tidy;		/* a long run is done: merge
						 * the journal now */
};

static struct target *
target_open(const char *dir, uint32_t uidv)
{
	struct target *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->dir = strdup(dir)) == NULL ||
	    (t->fi = ftsindex_open(dir, uidv)) == NULL ||
	    (t->batch = ftsindex_batch_new()) == NULL) {
		ftsindex_close(t->fi);
		free(t->dir);
		free(t);
		return NULL;
	}
	t->uidv = uidv;
	return t;
}

/* The run of added messages is complete: the batch covers it. */
static void
end_run(struct target *t)
{
	if (t->in_run && ftsindex_batch_cover(t->batch, t->run_first,
	    t->run_last) == -1)
		log_warn("search index: cannot record what a batch covers");
	t->in_run = 0;
}

static int
pending(const struct target *t)
{
	return t != NULL && (ftsindex_batch_count(t->batch) > 0 || t->in_run);
}

/* Write the batch.  0, or -1 (it waits for a later try, or is lost). */
static int
flush(struct target *t)
{
	end_run(t);
	if (ftsindex_write(t->fi, t->batch) == 0)
		return 0;
	t->wait_until = session_now_ms() + RETRY_MS;
	/* ESTALE: the folder is gone from under the session */
	if (errno != EAGAIN && errno != ESTALE)
		log_warn("search index of %s: cannot write to it (searches "
		    "read the messages it does not cover)", t->dir);
	return -1;
}

static void
target_close(struct target *t)
{
	if (t == NULL)
		return;
	if (pending(t))
		(void)flush(t);
	ftsindex_close(t->fi);
	ftsindex_batch_free(t->batch);
	free(t->dir);
	free(t);
}

/* The message of uid went into the batch. */
static void
added(struct target *t, uint32_t uid, int adjacent)
{
	if (ftsindex_batch_count(t->batch) == 1) {
		t->batch_ms = session_now_ms();
		t->batch_low = uid;
	}
	if (t->in_run && adjacent) {
		t->run_last = uid;
		return;
	}
	end_run(t);
	t->in_run = 1;
	t->run_first = t->run_last = uid;
}

static struct indexer *
get(struct session *s)
{
	struct indexer *ix = s->indexer;

	if (!s->conf->search_index)
		return NULL;
	if (ix == NULL) {
		if ((ix = calloc(1, sizeof(*ix))) == NULL)
			return NULL;
		buf_init(&ix->store, MESSAGE_READ_MAX);
		s->indexer = ix;
	}
	return ix;
}

/* The selected folder's target, opened on first use. */
static struct target *
selected(struct session *s, struct indexer *ix)
{
	if (s->mb == NULL || mailbox_stale(s->mb) != 0)
		return NULL;
	if (ix->sel == NULL) {
		ix->sel = target_open(mailbox_dir(s->mb),
		    mailbox_uidvalidity(s->mb));
		ix->next = 1;
	}
	return ix->sel;
}

struct ftsindex *
indexer_index(struct session *s)
{
	struct indexer *ix = get(s);
	struct target *t;

	if (ix == NULL || (t = selected(s, ix)) == NULL)
		return NULL;
	ftsindex_refresh(t->fi);
	return t->fi;
}

/* The next message to index (its sequence number), or 0. */
static uint32_t
next_todo(struct session *s, struct indexer *ix)
{
	uint32_t count = mailbox_count(s->mb), seq, uid, u;
	unsigned losses = ftsindex_losses(ix->sel->fi);

	/* what was covered behind the cursor may not be any more (another
	 * writer's record now reads as torn, the index was set aside) */
	if (losses != ix->losses) {
		ix->losses = losses;
		ix->next = 1;
	}
	for (;;) {
		seq = mailbox_seq_from_uid(s->mb, ix->next);
		if (seq > count)
			return 0;
		uid = mailbox_uid(s->mb, seq);
		if ((u = ftsindex_uncovered_from(ix->sel->fi, uid)) != uid) {
			ix->next = u;
			continue;
		}
		if (!mailbox_gone(s->mb, seq))
			return seq;
		ix->next = uid + 1;
	}
}

/* Add message seq to the batch, or leave it out. */
static void
index_one(struct session *s, struct indexer *ix, uint32_t seq)
{
	struct target *t = ix->sel;
	char rel[REL_MAX];
	struct message *m = NULL;
	uint32_t uid = mailbox_uid(s->mb, seq);
	uint64_t size;
	int err = 0, r = -1;

	ix->next = uid + 1;
	if (mailbox_vsize(s->mb, seq, &size) == 0 && size <= MESSAGE_MAX &&
	    mailbox_relpath(s->mb, seq, rel, sizeof(rel)) == 0) {
		m = message_read(mailbox_dirfd(s->mb), rel, &ix->store, 1,
		    &err);
		if (m == NULL && err == ENOENT &&
		    mailbox_relocate(s->mb, seq, rel, sizeof(rel)) == 0)
			m = message_read(mailbox_dirfd(s->mb), rel,
			    &ix->store, 1, &err);
	}
	if (m != NULL) {
		r = ftsindex_batch_add(t->batch, uid, m);
		message_free(m);
	}
	if (r == -1) {
		end_run(t);
		return;
	}
	ix->indexed++;
	/* the run goes on when no message of the view lies between */
	added(t, uid, t->in_run && mailbox_seq_from_uid(s->mb,
	    t->run_last + 1) == seq);
}

/* The view's messages below floor, as a bitmap, for compaction. */
static uint64_t *
live_uids(struct session *s, uint32_t *floor_r)
{
	uint32_t count = mailbox_count(s->mb), seq, uid, floor;
	uint64_t *live;

	floor = count > 0 ? mailbox_uid(s->mb, count) + 1 : 1;
	if ((live = calloc(((size_t)floor + 63) / 64, sizeof(*live))) == NULL)
		return NULL;
	for (seq = 1; seq <= count; seq++)
		if (!mailbox_gone(s->mb, seq)) {
			uid = mailbox_uid(s->mb, seq);
			live[uid / 64] |= 1ULL << (uid % 64);
		}
	*floor_r = floor;
	return live;
}

static void
compact(struct session *s, struct target *t, int budget_ms)
{
	uint64_t *live;
	uint32_t floor;
	long long end;
	int r;

	if (!ftsindex_compacting(t->fi)) {
		if ((live = live_uids(s, &floor)) == NULL)
			return;
		r = ftsindex_compact_begin(t->fi, live, floor);
		free(live);
		if (r == -1) {
			t->wait_until = session_now_ms() + RETRY_MS;
			return;
		}
	}
	/* in short steps, looking for input between them */
	end = session_now_ms() + budget_ms;
	do {
		if ((r = ftsindex_compact_step(t->fi, MERGE_STEP_MS)) == -1)
			t->wait_until = session_now_ms() + RETRY_MS;
	} while (r == 0 && session_now_ms() < end &&
	    !session_input_waiting(s));
}

/* After a long run of indexing (a folder's first), whether the journal
 * is worth merging at once, so that the folder's index ends up as small
 * and as quick to read as it can be rather than waiting for the journal
 * to outgrow the snapshot. */
static int
tidy_due(const struct indexer *ix)
{
	uint64_t snap, journal;

	if (!ix->tidy)
		return 0;
	ftsindex_sizes(ix->sel->fi, &snap, &journal);
	return journal > TIDY_MIN;
}

/* When the target wants a turn: 0 now, ms, or -1 never. */
static int
due(const struct target *t, int work, long long now)
{
	if (!work)
		return -1;
	if (t->wait_until > now)
		return t->wait_until - now > 60000 ? 60000 :
		    (int)(t->wait_until - now);
	return 0;
}

int
indexer_due_ms(struct session *s)
{
	struct indexer *ix = get(s);
	struct target *t;
	long long now = session_now_ms();

	if (ix == NULL || (t = selected(s, ix)) == NULL)
		return -1;
	if (!ftsindex_compacting(t->fi))
		ftsindex_refresh(t->fi);
	return due(t, ftsindex_damaged(t->fi) || ftsindex_compacting(t->fi) ||
	    pending(t) || ftsindex_compact_due(t->fi) || tidy_due(ix) ||
	    next_todo(s, ix) != 0, now);
}

/* Write the selected folder's batch; one that is lost is done again. */
static int
flush_selected(struct indexer *ix)
{
	struct target *t = ix->sel;

	if (flush(t) == 0)
		return 0;
	if (!pending(t) && t->batch_low < ix->next)
		ix->next = t->batch_low;
	return -1;
}

/* A slice for the selected folder. */
static void
work_selected(struct session *s, struct indexer *ix, int budget_ms)
{
	struct target *t = ix->sel;
	long long start = session_now_ms(), end = start + budget_ms;
	uint64_t snap, journal;
	uint32_t seq;

	if (ftsindex_damaged(t->fi)) {
		if (ftsindex_reset(t->fi) == -1)
			t->wait_until = start + RETRY_MS;
		ix->next = 1;
		return;
	}
	if (ftsindex_compacting(t->fi)) {
		compact(s, t, budget_ms);
		return;
	}
	if (ix->indexed == 0)
		ix->began_ms = start;
	seq = next_todo(s, ix);
	if (pending(t) && (ftsindex_batch_bytes(t->batch) >= BATCH_BYTES ||
	    start - t->batch_ms >= BATCH_AGE_MS || seq == 0) &&
	    flush_selected(ix) == -1)
		return;
	if (!pending(t) && (ftsindex_compact_due(t->fi) || tidy_due(ix))) {
		ix->tidy = 0;
		compact(s, t, budget_ms);
		return;
	}
	if (seq != 0 && ftsindex_claim(t->fi) == -1) {
		/* another session indexes the folder: leave it to that one */
		t->wait_until = start + RETRY_MS;
		return;
	}
	/* a message at a time, so that a command waits for one message
	 * at most */
	while (seq != 0 && ftsindex_batch_bytes(t->batch) < BATCH_BYTES &&
	    session_now_ms() < end && !session_input_waiting(s)) {
		index_one(s, ix, seq);
		seq = next_todo(s, ix);
	}
	/* the claim is kept only while the session idles: one that turns
	 * to its client writes what it has and lets others go on */
	if (seq == 0 || session_input_waiting(s)) {
		if (pending(t))
			(void)flush_selected(ix);
		if (!pending(t))
			ftsindex_unclaim(t->fi);
	}
	if (seq == 0 && !pending(t) && ix->indexed >= LOG_MIN) {
		ftsindex_sizes(t->fi, &snap, &journal);
		log_info("search index of %s: %zu messages indexed in %lld ms; "
		    "index %llu KiB", s->mbname, ix->indexed,
		    session_now_ms() - ix->began_ms,
		    (unsigned long long)((snap + journal) / 1024));
		ix->indexed = 0;
		ix->tidy = 1;
	}
}

void
indexer_work(struct session *s, int budget_ms)
{
	struct indexer *ix = get(s);
	long long now = session_now_ms();

	if (ix == NULL)
		return;
	if (selected(s, ix) != NULL && ix->sel->wait_until <= now)
		work_selected(s, ix, budget_ms);
	/* what reading the text kept goes back: a session at rest holds
	 * none of it */
	message_search_cleanup();
	buf_free(&ix->store);
	if (ix->sel != NULL)
		ftsindex_batch_shrink(ix->sel->batch);
#ifdef __GLIBC__
	/* the heap pages the text and its keys took go back too */
	malloc_trim(0);
#endif
}

void
indexer_close(struct session *s)
{
	struct indexer *ix = s->indexer;

	if (ix == NULL)
		return;
	target_close(ix->sel);
	ix->sel = NULL;
	ix->next = 1;
	ix->tidy = 0;
	ix->indexed = 0;
	buf_free(&ix->store);
}

void
indexer_end(struct session *s)
{
	struct indexer *ix = s->indexer;

	if (ix == NULL)
		return;
	indexer_close(s);
	free(ix);
	s->indexer = NULL;
}
