/*
 * cmd-search: SEARCH and UID SEARCH (RFC 9051 6.4.4), with the result
 * options of ESEARCH (RFC 4731: MIN MAX COUNT ALL).  IMAP4rev1 clients
 * get "* SEARCH" unless they ask for RETURN; clients that enabled
 * IMAP4rev2 always get "* ESEARCH", as RFC 9051 requires.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "imapd/commands.h"
#include "imapd/indexer.h"
#include "imapd/search.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "maildir/mailbox.h"

#define RET_MIN		0x01
#define RET_MAX		0x02
#define RET_COUNT	0x04
#define RET_ALL		0x08
#define RET_SAVE	0x10	/* SEARCHRES (RFC 5182) */

static int
parse_return(const struct imap_arg *a, unsigned *ret)
{
	const char *w;
	size_t i;

	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (i = 0; i < a->len; i++) {
		if ((w = imap_arg_atom(&a->list[i])) == NULL)
			return -1;
		if (strcasecmp(w, "MIN") == 0)
			*ret |= RET_MIN;
		else if (strcasecmp(w, "MAX") == 0)
			*ret |= RET_MAX;
		else if (strcasecmp(w, "COUNT") == 0)
			*ret |= RET_COUNT;
		else if (strcasecmp(w, "ALL") == 0)
			*ret |= RET_ALL;
		else if (strcasecmp(w, "SAVE") == 0)
			*ret |= RET_SAVE;
		else
			return -1;
	}
	/* RETURN () means RETURN (ALL) */
	if (*ret == 0)
		*ret = RET_ALL;
	return 0;
}

void
cmd_search(struct session *s, const struct cmd *c)
{
	struct search *se;
	const char *why, *w;
	uint32_t count = mailbox_count(s->mb), seq, *hits = NULL;
	size_t nhits = 0, ai = 0, i;
	unsigned ret = 0;
	int esearch, badcs, r, withmodseq;
	uint64_t maxmodseq = 0, ms;
	struct buf out;

	if (c->nargs >= 2 && (w = imap_arg_atom(&c->args[0])) != NULL &&
	    strcasecmp(w, "RETURN") == 0) {
		if (parse_return(&c->args[1], &ret) == -1) {
			cmd_bad(s, c, "RETURN takes a list of MIN MAX COUNT "
			    "ALL");
			return;
		}
		ai = 2;
	}
	esearch = ai > 0 || (s->enabled & ENABLED_IMAP4REV2);
	if (esearch && ret == 0)
		ret = RET_ALL;
	/* search the flags as they are now (no EXPUNGE during SEARCH) */
	selected_sync(s, 0);
	count = mailbox_count(s->mb);
	se = search_parse(s, c->args + ai, c->nargs - ai, &why, &badcs);
	if (se == NULL) {
		if (badcs)
			cmd_no(s, c, "[BADCHARSET (UTF-8 US-ASCII)] %s", why);
		else
			cmd_bad(s, c, "%s", why);
		return;
	}
	if ((hits = calloc(count + 1, sizeof(*hits))) == NULL) {
		search_free(se);
		cmd_no(s, c, "Out of memory");
		return;
	}
	if ((withmodseq = search_has_modseq(se)))
		selected_condstore(s);
	search_use_index(s, se, indexer_index(s));
	for (seq = search_next(s, se, 1); seq <= count;
	    seq = search_next(s, se, seq + 1)) {
		r = search_match(s, se, seq);
		if (r != 1)
			continue;
		hits[nhits++] = c->uid ? mailbox_uid(s->mb, seq) : seq;
		if (withmodseq && (ms = mailbox_modseq(s->mb, seq)) >
		    maxmodseq)
			maxmodseq = ms;
	}
	search_free(se);
	if (ret & RET_SAVE) {
		/* "$" is kept as UIDs, so expunges cannot shift it */
		free(s->saved);
		s->saved = calloc(nhits + 1, sizeof(*s->saved));
		s->nsaved = 0;
		for (i = 0; s->saved != NULL && i < nhits; i++)
			s->saved[s->nsaved++] = c->uid ? hits[i] :
			    mailbox_uid(s->mb, hits[i]);
		/* SAVE alone asks for no ESEARCH response */
		if ((ret & ~RET_SAVE) == 0)
			esearch = -1;
	}
	/* sizes learned while searching are kept for next time */
	mailbox_flush_facts(s->mb);

	buf_init(&out, 64 * 1024 * 1024);
	if (esearch == -1)
		;
	else if (!esearch) {
		session_printf(s, "* SEARCH");
		for (i = 0; i < nhits; i++)
			session_printf(s, " %u", hits[i]);
		/* the highest MODSEQ of the matches (RFC 7162 3.1.5) */
		if (withmodseq && nhits > 0)
			session_printf(s, " (MODSEQ %llu)",
			    (unsigned long long)maxmodseq);
		session_printf(s, "\r\n");
	} else {
		session_printf(s, "* ESEARCH (TAG \"%s\")%s", c->tag,
		    c->uid ? " UID" : "");
		if ((ret & RET_MIN) && nhits > 0)
			session_printf(s, " MIN %u", hits[0]);
		if ((ret & RET_MAX) && nhits > 0)
			session_printf(s, " MAX %u", hits[nhits - 1]);
		if (ret & RET_COUNT)
			session_printf(s, " COUNT %zu", nhits);
		if ((ret & RET_ALL) && nhits > 0 &&
		    seqset_format(hits, nhits, &out) > 0) {
			session_printf(s, " ALL ");
			session_write(s, out.data, out.len);
		}
		if (withmodseq && nhits > 0)
			session_printf(s, " MODSEQ %llu",
			    (unsigned long long)maxmodseq);
		session_printf(s, "\r\n");
	}
	buf_free(&out);
	free(hits);
	cmd_ok(s, c, "SEARCH completed");
}
