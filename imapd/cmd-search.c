/*
 * cmd-search: SEARCH and UID SEARCH (RFC 9051 6.4.4), with the result
 * options of ESEARCH (RFC 4731: MIN MAX COUNT ALL) and SEARCHRES (RFC
 * 5182: SAVE).  IMAP4rev1 clients get "* SEARCH" unless they ask for
 * RETURN; clients that enabled IMAP4rev2 always get "* ESEARCH", as RFC
 * 9051 requires.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/commands.h"
#include "imapd/esearch.h"
#include "imapd/search.h"
#include "imapd/selected.h"
#include "maildir/mailbox.h"

void
cmd_search(struct session *s, const struct request *c)
{
	struct search *se;
	const char *why, *w;
	uint32_t *hits = NULL;
	size_t nhits = 0, ai = 0, i;
	unsigned ret = 0;
	int esearch, badcs, withmodseq;
	uint64_t maxmodseq = 0;

	if (c->nargs >= 2 && (w = imap_arg_atom(&c->args[0])) != NULL &&
	    strcasecmp(w, "RETURN") == 0) {
		if (esearch_return(&c->args[1], &ret) == -1) {
			reply_bad(s, c, "RETURN takes a list of MIN MAX COUNT "
			    "ALL SAVE");
			return;
		}
		ai = 2;
	}
	esearch = ai > 0 || (s->enabled & ENABLED_IMAP4REV2);
	if (esearch && ret == 0)
		ret = ESEARCH_ALL;
	/* search the flags as they are now (no EXPUNGE during SEARCH) */
	selected_sync(s, 0);
	se = search_parse(s, c->args + ai, c->nargs - ai, &why, &badcs);
	if (se == NULL) {
		if (badcs)
			reply_no(s, c, "[BADCHARSET (UTF-8 US-ASCII)] %s", why);
		else
			reply_bad(s, c, "%s", why);
		return;
	}
	if ((withmodseq = search_has_modseq(se)))
		selected_condstore(s);
	if (search_run(s, se, &hits, &nhits, &maxmodseq) == -1) {
		search_free(se);
		reply_no(s, c, "Out of memory");
		return;
	}
	search_free(se);
	if (c->uid)
		for (i = 0; i < nhits; i++)
			hits[i] = mailbox_uid(s->mb, hits[i]);
	esearch_result(s, c, "SEARCH", hits, nhits, ret, esearch, withmodseq,
	    maxmodseq);
	free(hits);
	reply_ok(s, c, "SEARCH completed");
}
