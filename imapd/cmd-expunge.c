/*
 * cmd-expunge: EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315).
 */
#include <errno.h>
#include <stdlib.h>

#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/quota.h"
#include "imapd/selected.h"
#include "maildir/mailbox.h"

void
cmd_expunge(struct session *s, const struct request *c)
{
	struct mailbox_events ev;
	uint32_t *seqs = NULL, *uids = NULL;
	size_t n = 0, i;
	int r;

	if ((!c->uid && c->nargs != 0) || (c->uid && c->nargs != 1)) {
		reply_bad(s, c, c->uid ? "UID EXPUNGE takes a UID set" :
		    "EXPUNGE takes no arguments");
		return;
	}
	if (s->examine) {
		reply_no(s, c, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	/* report what happened meanwhile first, so the numbers agree */
	selected_sync(s, 1);
	if (c->uid) {
		if (arg_msgset(s, c, &c->args[0], 1, &seqs, &n) == -1)
			return;
		if ((uids = calloc(n + 1, sizeof(*uids))) == NULL) {
			free(seqs);
			reply_no(s, c, "Out of memory");
			return;
		}
		for (i = 0; i < n; i++)
			uids[i] = mailbox_uid(s->mb, seqs[i]);
		free(seqs);
		if (n == 0) {
			free(uids);
			reply_ok(s, c, "UID EXPUNGE completed");
			return;
		}
	}
	selected_events(s, &ev);
	r = quota_expunge(s, uids, n, &ev);
	selected_flush_vanished(s);
	free(uids);
	if (r == -1) {
		reply_no(s, c, "%sSome messages could not be expunged; the "
		    "server log says why", errno_code(errno));
		return;
	}
	/* with QRESYNC the client's MODSEQ may move past its expunges */
	if (s->enabled & ENABLED_QRESYNC) {
		s->told_modseq = mailbox_highestmodseq(s->mb);
		reply_ok(s, c, "[HIGHESTMODSEQ %llu] %s completed",
		    (unsigned long long)s->told_modseq,
		    c->uid ? "UID EXPUNGE" : "EXPUNGE");
	} else
		reply_ok(s, c, "%s completed", c->uid ? "UID EXPUNGE" :
		    "EXPUNGE");
}
