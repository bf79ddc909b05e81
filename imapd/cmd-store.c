/*
 * cmd-store: STORE and UID STORE (RFC 9051 6.4.6).  Flags live in file
 * names, so a change is a rename(); keywords get letters from the
 * folder's dovecot-keywords file, which grows as new keywords are used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/selected.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"

struct changed {
	uint32_t	*seq;
	size_t		 n;
};

static void
on_changed(void *arg, uint32_t seq)
{
	struct changed *ch = arg;

	ch->seq[ch->n++] = seq;
}

static size_t
nkeywords(struct session *s)
{
	const struct keywords *k = mailbox_keywords(s->mb);
	size_t i, n = 0;

	for (i = 0; i < KEYWORDS_MAX; i++)
		if (k->name[i] != NULL)
			n++;
	return n;
}

void
cmd_store(struct session *s, const struct cmd *c)
{
	struct flagset fs;
	struct changed ch = { NULL, 0 };
	const char *item;
	uint32_t *seqs = NULL, kw = 0;
	size_t n, i, ai = 1;
	int op, silent, k;
	size_t known;

	if (c->nargs < 3) {
		cmd_bad(s, c, "STORE takes a message set, an item and flags");
		return;
	}
	/* (UNCHANGEDSINCE n) from CONDSTORE is not offered, so not taken */
	if ((item = imap_arg_atom(&c->args[ai])) == NULL) {
		cmd_bad(s, c, "STORE item must be FLAGS, +FLAGS or -FLAGS");
		return;
	}
	op = item[0] == '+' ? 1 : item[0] == '-' ? -1 : 0;
	if (op != 0)
		item++;
	if (strcasecmp(item, "FLAGS") == 0)
		silent = 0;
	else if (strcasecmp(item, "FLAGS.SILENT") == 0)
		silent = 1;
	else {
		cmd_bad(s, c, "STORE item must be FLAGS, +FLAGS or -FLAGS "
		    "(optionally .SILENT)");
		return;
	}
	if (c->nargs - ai - 1 == 1) {
		if (cmd_flags(s, c, &c->args[ai + 1], &fs) == -1)
			return;
	} else {
		/* flags given without parentheses: "+FLAGS \Seen \Flagged" */
		struct imap_arg list = {
			.type = IMAP_ARG_LIST,
			.list = (struct imap_arg *)&c->args[ai + 1],
			.len = c->nargs - ai - 1,
		};

		if (cmd_flags(s, c, &list, &fs) == -1)
			return;
	}
	if (s->examine) {
		cmd_no(s, c, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (cmd_msgset(s, c, &c->args[0], c->uid, &seqs, &n) == -1)
		return;
	known = nkeywords(s);
	for (i = 0; i < fs.nkw; i++) {
		if ((k = mailbox_keyword(s->mb, fs.kw[i])) < 0) {
			free(seqs);
			cmd_no(s, c, "[LIMIT] This mailbox cannot hold more "
			    "keywords (26 at most in Maildir)");
			return;
		}
		kw |= 1U << k;
	}
	if ((ch.seq = calloc(n + 1, sizeof(*ch.seq))) == NULL) {
		free(seqs);
		cmd_no(s, c, "Out of memory");
		return;
	}
	if (mailbox_store(s->mb, seqs, n, op, fs.flags, kw, on_changed, &ch)
	    == -1) {
		int e = errno;

		/* what did change is reported all the same */
		for (i = 0; !silent && i < ch.n; i++)
			if (!mailbox_gone(s->mb, ch.seq[i]))
				selected_fetch_flags(s, ch.seq[i], c->uid);
		free(seqs);
		free(ch.seq);
		if (e == ENAMETOOLONG)
			cmd_no(s, c, "[LIMIT] Flags not stored on some "
			    "messages: their file names are too long to "
			    "hold them");
		else
			cmd_no(s, c, "%sSome flags could not be changed; the "
			    "server log says why", cmd_errcode(e));
		return;
	}
	/* new keywords join FLAGS and PERMANENTFLAGS (RFC 9051 7.3.5) */
	if (nkeywords(s) != known)
		selected_write_flag_lists(s);
	if (!silent)
		for (i = 0; i < n; i++)
			if (!mailbox_gone(s->mb, seqs[i]))
				selected_fetch_flags(s, seqs[i], c->uid);
	free(seqs);
	free(ch.seq);
	cmd_ok(s, c, "STORE completed");
}
