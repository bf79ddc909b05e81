/*
 * selected: untagged updates for the selected mailbox.  See selected.h.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/message.h"
#include "common/lib/log.h"
#include "imapd/commands.h"
#include "imapd/indexer.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "imapd/session.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"

static const struct {
	unsigned	bit;
	const char	*name;
} sysflags[] = {
	{ MF_ANSWERED, "\\Answered" },
	{ MF_FLAGGED, "\\Flagged" },
	{ MF_DELETED, "\\Deleted" },
	{ MF_SEEN, "\\Seen" },
	{ MF_DRAFT, "\\Draft" },
};

void
selected_write_flags(struct session *s, unsigned flags, uint32_t kw)
{
	const struct keywords *k = s->mb ? mailbox_keywords(s->mb) : NULL;
	int first = 1;
	size_t i;

	session_write(s, "(", 1);
	for (i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
		if (!(flags & sysflags[i].bit))
			continue;
		session_printf(s, "%s%s", first ? "" : " ", sysflags[i].name);
		first = 0;
	}
	for (i = 0; k != NULL && i < KEYWORDS_MAX; i++) {
		if (!(kw & (1U << i)) || k->name[i] == NULL)
			continue;
		session_printf(s, "%s%s", first ? "" : " ", k->name[i]);
		first = 0;
	}
	/* IMAP4rev2 has no \\Recent flag (RFC 9051 appendix E) */
	if ((flags & MBF_RECENT) && !(s->enabled & ENABLED_IMAP4REV2))
		session_printf(s, "%s\\Recent", first ? "" : " ");
	session_write(s, ")", 1);
}

void
selected_fetch_flags(struct session *s, uint32_t seq, int with_uid)
{
	int condstore = (s->enabled & ENABLED_CONDSTORE) != 0;

	selected_flush_vanished(s);
	session_printf(s, "* %u FETCH (", seq);
	/* once CONDSTORE is on, every FETCH of changed flags carries the
	 * UID and the MODSEQ (RFC 7162 3.1) */
	if (with_uid || condstore)
		session_printf(s, "UID %u ", mailbox_uid(s->mb, seq));
	session_write(s, "FLAGS ", 6);
	selected_write_flags(s, mailbox_flags(s->mb, seq),
	    mailbox_keywords_of(s->mb, seq));
	if (condstore)
		session_printf(s, " MODSEQ (%llu)",
		    (unsigned long long)mailbox_modseq(s->mb, seq));
	session_write(s, ")\r\n", 3);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
selected_flush_vanished(struct session *s)
{
	struct buf set;

	if (s->nvanished == 0)
		return;
	qsort(s->vanished, s->nvanished, sizeof(*s->vanished), cmp_u32);
	buf_init(&set, 64 * 1024 * 1024);
	if (seqset_format(s->vanished, s->nvanished, &set) >= 0)
		session_printf(s, "* VANISHED %s\r\n", buf_cstr(&set));
	buf_free(&set);
	s->nvanished = 0;
}

void
selected_write_flag_lists(struct session *s)
{
	const struct keywords *k = mailbox_keywords(s->mb);
	unsigned n = 0;
	size_t i;

	session_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft");
	for (i = 0; i < KEYWORDS_MAX; i++)
		if (k->name[i] != NULL) {
			session_printf(s, " %s", k->name[i]);
			n++;
		}
	session_printf(s, ")\r\n");
	if (s->examine) {
		session_printf(s, "* OK [PERMANENTFLAGS ()] Read-only "
		    "mailbox\r\n");
		return;
	}
	session_printf(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
	    "\\Deleted \\Seen \\Draft");
	for (i = 0; i < KEYWORDS_MAX; i++)
		if (k->name[i] != NULL)
			session_printf(s, " %s", k->name[i]);
	/* new keywords can be made while a letter is free */
	session_printf(s, "%s)] Flags permitted\r\n", n < KEYWORDS_MAX ?
	    " \\*" : "");
}

static void
ev_expunge(void *arg, uint32_t seq, uint32_t uid)
{
	struct session *s = arg;
	uint32_t *v;
	size_t cap;

	/* QRESYNC: one VANISHED for a run of expunges (RFC 7162 3.2.10),
	 * sent before the next response that numbers messages */
	if ((s->enabled & ENABLED_QRESYNC) && uid != 0) {
		if (s->nvanished == s->capvanished) {
			cap = s->capvanished ? s->capvanished * 2 : 64;
			if ((v = reallocarray(s->vanished, cap,
			    sizeof(*v))) == NULL)
				fatal("VANISHED list");
			s->vanished = v;
			s->capvanished = cap;
		}
		s->vanished[s->nvanished++] = uid;
		s->modseq_hidden = 1;
		return;
	}
	session_printf(s, "* %u EXPUNGE\r\n", seq);
	s->modseq_hidden = 1;
}

static void
ev_exists(void *arg, uint32_t count)
{
	struct session *s = arg;

	selected_flush_vanished(s);
	session_printf(s, "* %u EXISTS\r\n", count);
	s->modseq_hidden = 1;
}

static void
ev_recent(void *arg, uint32_t count)
{
	struct session *s = arg;

	selected_flush_vanished(s);
	/* IMAP4rev2 has no RECENT response */
	if (!(s->enabled & ENABLED_IMAP4REV2))
		session_printf(s, "* %u RECENT\r\n", count);
}

static void
ev_flags(void *arg, uint32_t seq)
{
	struct session *s = arg;

	selected_fetch_flags(s, seq, 1);
}

static void
ev_keywords(void *arg)
{
	struct session *s = arg;

	/* another program named a keyword: FLAGS and PERMANENTFLAGS may
	 * change at any time (RFC 9051 7.3.5) */
	selected_flush_vanished(s);
	selected_write_flag_lists(s);
}

void
selected_condstore(struct session *s)
{
	if (s->enabled & ENABLED_CONDSTORE)
		return;
	s->enabled |= ENABLED_CONDSTORE;
	/* the client may not have seen the value yet (RFC 7162 3.1) */
	if (s->mb != NULL)
		selected_tell_modseq(s);
}

uint64_t
selected_told_modseq(struct session *s)
{
	s->told_modseq = mailbox_highestmodseq(s->mb);
	s->modseq_hidden = 0;
	return s->told_modseq;
}

void
selected_tell_modseq(struct session *s)
{
	session_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	    (unsigned long long)selected_told_modseq(s));
}

int
selected_reset(struct session *s)
{
	uint32_t uv;

	if (s->end == END_MAILBOX_RESET)
		return 1;
	if (s->mb == NULL || (uv = mailbox_stale(s->mb)) == 0)
		return 0;
	log_info("ending the session: %s was reset under it (UIDVALIDITY "
	    "%u, now %u), so its client must resynchronize", s->mbname,
	    mailbox_uidvalidity(s->mb), uv);
	session_printf(s, "* BYE The mailbox was reset (its UIDVALIDITY "
	    "changed from %u to %u); reconnect to resynchronize\r\n",
	    mailbox_uidvalidity(s->mb), uv);
	s->end = END_MAILBOX_RESET;
	return 1;
}

void
selected_events(struct session *s, struct mailbox_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->arg = s;
	ev->expunge = ev_expunge;
	ev->exists = ev_exists;
	ev->recent = ev_recent;
	ev->flags = ev_flags;
	ev->keywords = ev_keywords;
}

static void
sync_view(struct session *s, int allow_expunge)
{
	struct mailbox_events ev;

	selected_events(s, &ev);
	if (s->mb == NULL || s->end == END_MAILBOX_RESET)
		return;
	if (mailbox_sync(s->mb, allow_expunge, &ev) == -1 &&
	    !selected_reset(s))
		log_warnx("cannot sync mailbox %s", s->mbname);
	selected_flush_vanished(s);
	s->view_whole = allow_expunge != 0;
}

/*
 * New and expunged messages carry no MODSEQ the client sees, so a client
 * that remembers the highest MODSEQ it saw (to resume with CHANGEDSINCE
 * or QRESYNC) would keep an old one and later take its own APPENDs for
 * changes.  Once every change of the snapshot has been reported,
 * expunges included, the client may be told how far that is.
 */
int
selected_modseq_due(struct session *s)
{
	int due = s->view_whole && s->modseq_hidden && s->mb != NULL &&
	    s->end != END_MAILBOX_RESET &&
	    (s->enabled & ENABLED_CONDSTORE) &&
	    mailbox_highestmodseq(s->mb) > s->told_modseq;

	s->view_whole = 0;
	return due;
}

void
selected_sync(struct session *s, int allow_expunge)
{
	sync_view(s, allow_expunge);
	if (selected_modseq_due(s))
		selected_tell_modseq(s);
}

void
selected_before_tagged(struct session *s, const struct request *c)
{
	if (s->mb == NULL)
		return;
	/* HIGHESTMODSEQ, if due, is the caller's to send (in the tagged
	 * OK where it can be) */
	sync_view(s, !(c->spec != NULL &&
	    (c->spec->flags & CMDF_NOEXPUNGE) && !c->uid));
}

int
selected_alive(void *arg, uint32_t uid)
{
	struct mailbox *mb = arg;

	return mailbox_seq_of_uid(mb, uid) != 0;
}

struct msgcache *
selected_msgcache(struct session *s)
{
	if (s->mcache == NULL && s->mb != NULL)
		s->mcache = msgcache_open(mailbox_dir(s->mb),
		    mailbox_uidvalidity(s->mb));
	return s->mcache;
}

void
selected_flush_msgcache(struct session *s, int final)
{
	if (s->mcache != NULL && s->mb != NULL)
		msgcache_flush(s->mcache, selected_alive, s->mb, final);
}

void
selected_fetch_done(struct session *s)
{
	selected_flush_msgcache(s, s->mcache_due);
	s->mcache_due = !s->mcache_due && s->mcache != NULL;
}

int
selected_compact_due(struct session *s)
{
	return s->mcache_due && s->mb != NULL && s->end == END_NONE;
}

void
selected_compact(struct session *s)
{
	s->mcache_due = 0;
	selected_flush_msgcache(s, 1);
}

/*
 * message_read() of rel in the selected folder.  On a network file
 * system a file replaced or removed on the server can leave a stale
 * handle behind (ESTALE): the file is read once more by its whole path,
 * looked up afresh, and if that is stale too it counts as gone (ENOENT),
 * as a file that vanished does.
 */
static struct message *
read_rel(struct session *s, const char *rel, struct buf *store, int whole,
    int *err)
{
	char full[PATH_MAX];
	struct message *m;

	m = message_read(mailbox_dirfd(s->mb), rel, store, whole, err);
	if (m != NULL || *err != ESTALE)
		return m;
	if (snprintf(full, sizeof(full), "%s/%s", mailbox_dir(s->mb), rel) >=
	    (int)sizeof(full)) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	m = message_read(AT_FDCWD, full, store, whole, err);
	if (m == NULL && *err == ESTALE)
		*err = ENOENT;
	return m;
}

struct message *
selected_message(struct session *s, uint32_t seq, struct buf *store,
    int whole)
{
	char rel[PATH_MAX];
	struct message *m = NULL;
	int err = 0;

	if (s->mb == NULL ||
	    mailbox_relpath(s->mb, seq, rel, sizeof(rel)) == -1)
		return NULL;
	m = read_rel(s, rel, store, whole, &err);
	if (m == NULL && err == ENOENT &&
	    mailbox_relocate(s->mb, seq, rel, sizeof(rel)) == 0)
		m = read_rel(s, rel, store, whole, &err);
	if (m != NULL)
		mailbox_note_mtime(s->mb, seq, message_mtime(m));
	if (m == NULL && err != ENOENT)
		log_warnx("cannot read message %u of %s: %s",
		    mailbox_uid(s->mb, seq), s->mbname, strerror(err));
	return m;
}

void
selected_close(struct session *s)
{
	selected_flush_msgcache(s, 1);
	msgcache_close(s->mcache);
	s->mcache = NULL;
	s->mcache_due = 0;
	indexer_close(s);
	if (s->mb != NULL)
		mailbox_close(s->mb);
	s->mb = NULL;
	free(s->mbname);
	s->mbname = NULL;
	/* "$" belongs to the mailbox it was made in (RFC 5182 2.1) */
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
	s->nvanished = 0;
	s->told_modseq = 0;
	s->modseq_hidden = 0;
	s->view_whole = 0;
	s->examine = 0;
	if (s->state == STATE_SELECTED)
		s->state = STATE_AUTH;
}

int
selected_new_waiting(struct session *s)
{
	return s->mb != NULL && s->end == END_NONE &&
	    mailbox_new_waiting(s->mb);
}

void
selected_move_new(struct session *s)
{
	/* a failure is logged; a later sync that lists moves the rest,
	 * and one that finds the folder reset says so to the client */
	if (s->mb != NULL)
		(void)mailbox_move_new(s->mb, SELECTED_MOVE_MS);
}

struct vanished {
	uint32_t	*v;
	size_t		 n, cap;
	const struct seqset *known;
};

static void
collect_vanished(void *arg, uint32_t uid)
{
	struct vanished *va = arg;
	uint32_t *p;

	if (va->known->n > 0 && !seqset_contains(va->known, uid))
		return;
	if (va->n == va->cap) {
		va->cap = va->cap ? va->cap * 2 : 256;
		if ((p = reallocarray(va->v, va->cap, sizeof(*p))) == NULL)
			fatal("VANISHED list");
		va->v = p;
	}
	va->v[va->n++] = uid;
}

/*
 * Where the cache forgot expunges this old: every UID of the known ones
 * (or of 1 to UIDNEXT-1) that is not in the mailbox, as ranges (the view
 * is walked, never the numbers of the ranges).  RFC 7162 3.2.5.1 lets
 * VANISHED (EARLIER) name UIDs the client never had.
 */
static void
vanished_gaps(struct session *s, const struct seqset *known, struct buf *out)
{
	struct seqrange *r = NULL, *np;
	size_t n = 0, cap = 0, k;
	uint32_t lo, hi, seq, u, count = mailbox_count(s->mb);
	uint32_t top = mailbox_uidnext(s->mb) - 1;
	struct seqrange all = { 1, top };
	const struct seqrange *ranges = known->n > 0 ? known->r : &all;
	size_t nranges = known->n > 0 ? known->n : (top > 0);

	for (k = 0; k < nranges; k++) {
		lo = ranges[k].lo;
		hi = ranges[k].hi < top ? ranges[k].hi : top;
		if (lo > hi)
			continue;
		/* the UIDs of the view inside [lo, hi] split it into gaps */
		seq = mailbox_seq_from_uid(s->mb, lo);
		for (u = lo; ; seq++) {
			uint32_t next = seq <= count ? mailbox_uid(s->mb, seq) :
			    0;
			uint32_t end = next != 0 && next <= hi ? next - 1 : hi;

			if (u <= end) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					if ((np = reallocarray(r, cap,
					    sizeof(*np))) == NULL)
						fatal("VANISHED ranges");
					r = np;
				}
				r[n].lo = u;
				r[n].hi = end;
				n++;
			}
			if (next == 0 || next >= hi)
				break;
			u = next + 1;
		}
	}
	(void)seqset_format_ranges(r, n, out);
	free(r);
}

void
selected_vanished_earlier(struct session *s, uint64_t since,
    const struct seqset *known)
{
	struct vanished va;
	struct buf set;

	memset(&va, 0, sizeof(va));
	va.known = known;
	buf_init(&set, 256 * 1024 * 1024);
	if (mailbox_vanished_since(s->mb, since, collect_vanished, &va))
		(void)seqset_format(va.v, va.n, &set);
	else
		vanished_gaps(s, known, &set);
	if (set.len > 0)
		session_printf(s, "* VANISHED (EARLIER) %s\r\n",
		    buf_cstr(&set));
	buf_free(&set);
	free(va.v);
}
