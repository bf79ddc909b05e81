/*
 * cmd-store: STORE and UID STORE (RFC 9051 6.4.6).  Flags live in file
 * names, so a change is a rename(); keywords get letters from the
 * folder's dovecot-keywords file, which grows as new keywords are used.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
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

/* "* n FETCH" for a stored message: its flags, or with .SILENT under
 * CONDSTORE only its new MODSEQ (RFC 7162 3.1.3, example 10). */
static void
report(struct session *s, const struct request *c, uint32_t seq, int silent)
{
	if (!silent) {
		selected_fetch_flags(s, seq, c->uid);
		return;
	}
	if (!(s->enabled & ENABLED_CONDSTORE))
		return;
	selected_flush_vanished(s);
	/* with the UID, as every FETCH once CONDSTORE is on */
	session_printf(s, "* %u FETCH (UID %u MODSEQ (%llu))\r\n", seq,
	    mailbox_uid(s->mb, seq),
	    (unsigned long long)mailbox_modseq(s->mb, seq));
}

/*
 * UNCHANGEDSINCE (RFC 7162 3.1.3): take out of seqs[0..*n) the messages
 * whose MODSEQ is above since, into the MODIFIED set (sequence numbers,
 * or UIDs for UID STORE), and leave the others to be stored.
 */
static int
unchanged_only(struct session *s, const struct request *c, uint64_t since,
    uint32_t *seqs, size_t *n, struct buf *modified)
{
	uint32_t *mod;
	size_t i, out = 0, nmod = 0;

	if ((mod = calloc(*n + 1, sizeof(*mod))) == NULL)
		return -1;
	for (i = 0; i < *n; i++) {
		if (mailbox_gone(s->mb, seqs[i]) ||
		    mailbox_modseq(s->mb, seqs[i]) <= since)
			seqs[out++] = seqs[i];
		else
			mod[nmod++] = c->uid ? mailbox_uid(s->mb, seqs[i]) :
			    seqs[i];
	}
	*n = out;
	if (nmod > 0 && seqset_format(mod, nmod, modified) == -1) {
		free(mod);
		return -1;
	}
	free(mod);
	return 0;
}

void
cmd_store(struct session *s, const struct request *c)
{
	struct flagset fs;
	struct changed ch = { NULL, 0 };
	struct buf modified;
	const struct imap_arg *m;
	const char *item, *w;
	uint32_t *seqs = NULL, kw = 0;
	uint64_t since = 0;
	size_t n, i, ai = 1;
	int op, silent, k, cond = 0;
	size_t known;

	if (c->nargs < 3) {
		reply_bad(s, c, "STORE takes a message set, an item and flags");
		return;
	}
	/* store-modifiers (RFC 4466): only UNCHANGEDSINCE (RFC 7162) */
	if (c->args[1].type == IMAP_ARG_LIST) {
		m = &c->args[1];
		if (m->len != 2 || (w = imap_arg_atom(&m->list[0])) == NULL ||
		    strcasecmp(w, "UNCHANGEDSINCE") != 0 ||
		    arg_u64(&m->list[1], 0, MODSEQ_MAX, &since) == -1 ||
		    c->nargs < 4) {
			reply_bad(s, c, "Invalid STORE modifier: "
			    "(UNCHANGEDSINCE modseq)");
			return;
		}
		cond = 1;
		ai = 2;
	}
	if ((item = imap_arg_atom(&c->args[ai])) == NULL) {
		reply_bad(s, c, "STORE item must be FLAGS, +FLAGS or -FLAGS");
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
		reply_bad(s, c, "STORE item must be FLAGS, +FLAGS or -FLAGS "
		    "(optionally .SILENT)");
		return;
	}
	if (c->nargs - ai - 1 == 1) {
		if (arg_flags(s, c, &c->args[ai + 1], &fs) == -1)
			return;
	} else {
		/* flags given without parentheses: "+FLAGS \Seen \Flagged" */
		struct imap_arg list = {
			.type = IMAP_ARG_LIST,
			/* only read, as every argument is */
			.list = (struct imap_arg *)(uintptr_t)&c->args[ai + 1],
			.len = c->nargs - ai - 1,
		};

		if (arg_flags(s, c, &list, &fs) == -1)
			return;
	}
	if (s->examine) {
		reply_no(s, c, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	/* act on the flags as they are now, not as the view last saw them
	 * (no EXPUNGE may be sent during STORE: RFC 9051 7.5.2) */
	selected_sync(s, 0);
	if (arg_msgset(s, c, &c->args[0], c->uid, &seqs, &n) == -1)
		return;
	buf_init(&modified, 16 * 1024 * 1024);
	if (cond) {
		/* a CONDSTORE enabling command */
		selected_condstore(s);
		if (unchanged_only(s, c, since, seqs, &n, &modified) == -1) {
			free(seqs);
			buf_free(&modified);
			reply_no(s, c, "Out of memory");
			return;
		}
	}
	known = nkeywords(s);
	for (i = 0; i < fs.nkw; i++) {
		if ((k = mailbox_keyword(s->mb, fs.kw[i])) < 0) {
			free(seqs);
			buf_free(&modified);
			if (errno == EMLINK)
				reply_no(s, c, "[LIMIT] This mailbox cannot "
				    "hold more keywords (26 at most in "
				    "Maildir)");
			else
				reply_no(s, c, "%sThe keyword could not be "
				    "recorded", errno_code(errno));
			return;
		}
		kw |= 1U << k;
	}
	if ((ch.seq = calloc(n + 1, sizeof(*ch.seq))) == NULL) {
		free(seqs);
		buf_free(&modified);
		reply_no(s, c, "Out of memory");
		return;
	}
	if (mailbox_store(s->mb, seqs, n, op, fs.flags, kw, on_changed, &ch)
	    == -1) {
		int e = errno;

		/* what did change is reported all the same */
		for (i = 0; i < ch.n; i++)
			if (!mailbox_gone(s->mb, ch.seq[i]))
				report(s, c, ch.seq[i], silent);
		free(seqs);
		free(ch.seq);
		buf_free(&modified);
		if (e == ENAMETOOLONG)
			reply_no(s, c, "[LIMIT] Flags not stored on some "
			    "messages: their file names are too long to "
			    "hold them");
		else
			reply_no(s, c, "%sSome flags could not be changed; the "
			    "server log says why", errno_code(e));
		return;
	}
	/* new keywords join FLAGS and PERMANENTFLAGS (RFC 9051 7.3.5) */
	if (nkeywords(s) != known)
		selected_write_flag_lists(s);
	if (!silent && !cond) {
		for (i = 0; i < n; i++)
			if (!mailbox_gone(s->mb, seqs[i]))
				selected_fetch_flags(s, seqs[i], c->uid);
	} else if (!silent) {
		/* a conditional STORE tells what it changed (RFC 7162 3.1.3) */
		for (i = 0; i < ch.n; i++)
			if (!mailbox_gone(s->mb, ch.seq[i]))
				selected_fetch_flags(s, ch.seq[i], c->uid);
	} else
		for (i = 0; i < ch.n; i++)
			if (!mailbox_gone(s->mb, ch.seq[i]))
				report(s, c, ch.seq[i], 1);
	free(seqs);
	free(ch.seq);
	if (modified.len > 0)
		reply_ok(s, c, "[MODIFIED %s] Conditional STORE failed",
		    buf_cstr(&modified));
	else
		reply_ok(s, c, "STORE completed");
	buf_free(&modified);
}
