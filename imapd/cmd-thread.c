/*
 * cmd-thread: THREAD and UID THREAD (RFC 5256 3) with the ORDEREDSUBJECT
 * and REFERENCES algorithms (imapd/thread.h).  The search and the keys
 * are SORT's.
 */
#include <stdlib.h>

#include "imapd/commands.h"
#include "imapd/msgkeys.h"
#include "imapd/thread.h"

void
cmd_thread(struct session *s, const struct request *c)
{
	enum thread_alg alg;
	struct msgkeys mk;
	struct thread *t;
	const char *w;
	uint32_t *seqs;
	size_t n;
	uint64_t maxmodseq;
	int withmodseq;

	if (c->nargs < 3) {
		reply_bad(s, c, "THREAD takes an algorithm, a charset and "
		    "search criteria");
		return;
	}
	if ((w = imap_arg_atom(&c->args[0])) == NULL ||
	    thread_alg(w, &alg) == -1) {
		reply_bad(s, c, "Unknown threading algorithm (ORDEREDSUBJECT "
		    "or REFERENCES)");
		return;
	}
	if (sort_charset_arg(s, c, &c->args[1]) == -1 ||
	    sort_search_keys(s, c, c->args + 2, c->nargs - 2, &seqs, &n, &mk,
	    &withmodseq, &maxmodseq) == -1)
		return;
	if ((t = thread_build(alg, mk.k, seqs, n)) == NULL ||
	    thread_write(s, t, c->uid) == -1) {
		thread_free(t);
		free(seqs);
		msgkeys_done(s, &mk);
		reply_no(s, c, "Out of memory");
		return;
	}
	thread_free(t);
	free(seqs);
	msgkeys_done(s, &mk);
	reply_ok(s, c, "THREAD completed");
}
