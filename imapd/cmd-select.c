/*
 * cmd-select: SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3), UNSELECT
 * (RFC 3691), CLOSE and CHECK.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"
#include "maildir/objectid.h"

/* The QRESYNC select parameter (RFC 7162 3.2.5). */
struct qresync {
	int		 on;
	uint32_t	 uidvalidity;
	uint64_t	 modseq;
	struct seqset	 known;		/* n == 0: every UID */
};

/*
 * Parse the select parameters: "(CONDSTORE)", "(QRESYNC (uidvalidity
 * modseq [known-uids [seq-match-data]]))".  The sequence match data may
 * be ignored (RFC 7162 3.2.5.2): the UID cache remembers expunges.  0, or
 * -1 after answering BAD.
 */
static int
select_params(struct session *s, const struct request *c, int *condstore,
    struct qresync *q)
{
	const struct imap_arg *l, *p;
	const char *w;
	uint64_t v;
	size_t i;

	if (c->nargs == 1)
		return 0;
	l = &c->args[1];
	if (c->nargs != 2 || l->type != IMAP_ARG_LIST || l->len == 0) {
		reply_bad(s, c, "%s takes a mailbox name and a list of "
		    "parameters", c->name);
		return -1;
	}
	for (i = 0; i < l->len; i++) {
		if ((w = imap_arg_atom(&l->list[i])) == NULL)
			goto bad;
		if (strcasecmp(w, "CONDSTORE") == 0) {
			*condstore = 1;
			continue;
		}
		if (strcasecmp(w, "QRESYNC") != 0 || q->on ||
		    i + 1 == l->len)
			goto bad;
		if (!(s->enabled & ENABLED_QRESYNC)) {
			reply_bad(s, c, "QRESYNC needs ENABLE QRESYNC first "
			    "(RFC 7162 3.2.3)");
			return -1;
		}
		p = &l->list[++i];
		if (p->type != IMAP_ARG_LIST || p->len < 2 || p->len > 4 ||
		    arg_u64(&p->list[0], 1, UINT32_MAX, &v) == -1)
			goto bad;
		q->uidvalidity = (uint32_t)v;
		if (arg_u64(&p->list[1], 1, MODSEQ_MAX, &q->modseq) == -1)
			goto bad;
		if (p->len >= 3 && ((w = imap_arg_atom(&p->list[2])) == NULL ||
		    seqset_parse(w, UINT32_MAX, &q->known) == -1))
			goto bad;
		if (p->len == 4 && (p->list[3].type != IMAP_ARG_LIST ||
		    p->list[3].len != 2))
			goto bad;
		q->on = 1;
	}
	return 0;
bad:
	reply_bad(s, c, "Invalid %s parameters: (CONDSTORE) or (QRESYNC "
	    "(uidvalidity modseq [known-uids [(seq-set uid-set)]]))",
	    c->name);
	return -1;
}

/* After the usual answers of a SELECT with QRESYNC whose UIDVALIDITY
 * matches: what vanished, then what changed, since the client's MODSEQ. */
static void
qresync_answers(struct session *s, const struct qresync *q)
{
	uint32_t *seqs = NULL;
	size_t n = 0, i;

	selected_vanished_earlier(s, q->modseq, &q->known);
	if (mailbox_changed_since(s->mb, q->modseq, &seqs, &n) == 0)
		for (i = 0; i < n; i++)
			selected_fetch_flags(s, seqs[i], 1);
	free(seqs);
}

/* The folder's MAILBOXID (RFC 8474 4.2).  A folder whose id can be
 * neither read nor made (a read-only file system) is still served. */
static void
tell_mailboxid(struct session *s, struct mailbox *mb)
{
	char id[OBJECTID_LEN + 1];

	if (objectid_mailbox(mailbox_dirfd(mb), id) == -1) {
		log_warn("%s: cannot read or make %s, so SELECT gives no "
		    "MAILBOXID (the folder's directory must be writable)",
		    mailbox_dir(mb), OBJECTID_FILE);
		return;
	}
	session_printf(s, "* OK [MAILBOXID (%s)] Ok\r\n", id);
}

static void
do_select(struct session *s, const struct request *c, int examine)
{
	char path[FOLDER_PATH_MAX];
	struct mailbox *mb;
	struct buf name;
	struct qresync q;
	const char *arg, *why;
	uint32_t unseen;
	int condstore = 0;

	memset(&q, 0, sizeof(q));
	if (c->nargs < 1 || (arg = imap_arg_astring(&c->args[0])) == NULL) {
		reply_bad(s, c, "%s takes one mailbox name", c->name);
		return;
	}
	if (select_params(s, c, &condstore, &q) == -1)
		return;
	/* a failed SELECT leaves no mailbox selected (RFC 9051 6.3.2) */
	if (s->mb != NULL) {
		/* a server with QRESYNC marks where the old mailbox's
		 * responses end (RFC 7162 3.2.11), as IMAP4rev2 does */
		selected_close(s);
		session_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (mbname_from_client(s, arg, &name, &why) == -1 ||
	    mbname_path(s, buf_cstr(&name), path, sizeof(path), &why) == -1) {
		reply_no(s, c, "%s", why);
		goto out;
	}
	if (mailbox_open(path, examine, &mb, &why) == -1) {
		reply_no(s, c, "%s", why);
		goto out;
	}
	s->mb = mb;
	s->mbname = strdup(buf_cstr(&name));
	if (s->mbname == NULL)
		fatal("strdup");
	s->examine = examine != 0;
	s->state = STATE_SELECTED;
	if (condstore)
		s->enabled |= ENABLED_CONDSTORE;

	selected_write_flag_lists(s);
	session_printf(s, "* %u EXISTS\r\n", mailbox_count(mb));
	if (!(s->enabled & ENABLED_IMAP4REV2)) {
		session_printf(s, "* %u RECENT\r\n", mailbox_recent(mb));
		if ((unseen = mailbox_unseen_first(mb)) != 0)
			session_printf(s, "* OK [UNSEEN %u] First unseen\r\n",
			    unseen);
	}
	session_printf(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
	    mailbox_uidvalidity(mb));
	session_printf(s, "* OK [UIDNEXT %u] Predicted next UID\r\n",
	    mailbox_uidnext(mb));
	/* MODSEQs are kept for every folder (RFC 7162 3.1.2.1) */
	selected_tell_modseq(s);
	tell_mailboxid(s, mb);
	if (s->enabled & ENABLED_IMAP4REV2) {
		session_printf(s, "* LIST () \"/\" ");
		mbname_write(s, s->mbname);
		session_printf(s, "\r\n");
	}
	if (q.on && q.uidvalidity == mailbox_uidvalidity(mb))
		qresync_answers(s, &q);
	reply_ok(s, c, "[%s] %s completed", examine ? "READ-ONLY" :
	    "READ-WRITE", c->name);
out:
	seqset_free(&q.known);
	buf_free(&name);
}

void
cmd_select(struct session *s, const struct request *c)
{
	do_select(s, c, 0);
}

void
cmd_examine(struct session *s, const struct request *c)
{
	do_select(s, c, 1);
}

void
cmd_unselect(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "UNSELECT takes no arguments");
		return;
	}
	selected_close(s);
	reply_ok(s, c, "UNSELECT completed");
}

void
cmd_close(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "CLOSE takes no arguments");
		return;
	}
	/* CLOSE expunges silently (no EXPUNGE responses) unless read-only */
	if (!s->examine && quota_expunge(s, NULL, 0, NULL) == -1)
		log_warn("CLOSE: expunge of %s incomplete", s->mbname);
	selected_close(s);
	reply_ok(s, c, "CLOSE completed");
}

void
cmd_check(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "CHECK takes no arguments");
		return;
	}
	mailbox_flush_facts(s->mb);
	reply_ok(s, c, "CHECK completed");
}
