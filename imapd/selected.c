/*
 * selected: untagged updates for the selected mailbox.  See selected.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "imapd/commands.h"
#include "imapd/selected.h"
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
	session_printf(s, "* %u FETCH (", seq);
	if (with_uid)
		session_printf(s, "UID %u ", mailbox_uid(s->mb, seq));
	session_write(s, "FLAGS ", 6);
	selected_write_flags(s, mailbox_flags(s->mb, seq),
	    mailbox_keywords_of(s->mb, seq));
	session_write(s, ")\r\n", 3);
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

	(void)uid;
	session_printf(s, "* %u EXPUNGE\r\n", seq);
}

static void
ev_exists(void *arg, uint32_t count)
{
	struct session *s = arg;

	session_printf(s, "* %u EXISTS\r\n", count);
}

static void
ev_recent(void *arg, uint32_t count)
{
	struct session *s = arg;

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
	selected_write_flag_lists(s);
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

void
selected_sync(struct session *s, int allow_expunge)
{
	struct mailbox_events ev;

	selected_events(s, &ev);
	if (s->mb == NULL || s->end == END_MAILBOX_RESET)
		return;
	if (mailbox_sync(s->mb, allow_expunge, &ev) == -1 &&
	    !selected_reset(s))
		log_warnx("cannot sync mailbox %s", s->mbname);
}

void
selected_before_tagged(struct session *s, const struct cmd *c)
{
	if (s->mb == NULL)
		return;
	selected_sync(s, !(c->def != NULL &&
	    (c->def->flags & CMDF_NOEXPUNGE) && !c->uid));
}

static int
alive(void *arg, uint32_t uid)
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
		msgcache_flush(s->mcache, alive, s->mb, final);
}

void
selected_close(struct session *s)
{
	selected_flush_msgcache(s, 1);
	msgcache_close(s->mcache);
	s->mcache = NULL;
	if (s->mb != NULL)
		mailbox_close(s->mb);
	s->mb = NULL;
	free(s->mbname);
	s->mbname = NULL;
	/* "$" belongs to the mailbox it was made in (RFC 5182 2.1) */
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
	s->examine = 0;
	if (s->state == STATE_SELECTED)
		s->state = STATE_AUTH;
}
