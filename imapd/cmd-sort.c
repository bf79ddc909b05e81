/*
 * cmd-sort: SORT and UID SORT (RFC 5256 3), with DISPLAYFROM and
 * DISPLAYTO (RFC 5957), the result options of ESORT (RFC 5267 3: MIN MAX
 * COUNT ALL in sort order, in an ESEARCH response) and SAVE (RFC 5182).
 *
 * The search is SEARCH's, under the charset argument SORT requires; the
 * keys come from the folder's sort cache (imapd/msgkeys.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/sortkey.h"
#include "imapd/commands.h"
#include "imapd/esearch.h"
#include "imapd/msgkeys.h"
#include "imapd/search.h"
#include "imapd/selected.h"
#include "imapd/sort.h"
#include "maildir/mailbox.h"

/* The charset argument of SORT and THREAD: 0, or -1 after answering (NO
 * [BADCHARSET] for one it does not know, as SEARCH does; BAD for one
 * other than UTF-8 after ENABLE UTF8=ACCEPT). */
int
sort_charset_arg(struct session *s, const struct request *c,
    const struct imap_arg *a)
{
	const char *cs = imap_arg_astring(a);

	if (cs == NULL) {
		reply_bad(s, c, "Missing charset (UTF-8 or US-ASCII)");
		return -1;
	}
	/* after ENABLE UTF8=ACCEPT the strings are UTF-8 whatever the
	 * label says, so another label is a contradiction (RFC 6855 3,
	 * erratum 4029) */
	if ((s->enabled & ENABLED_UTF8) && strcasecmp(cs, "UTF-8") != 0) {
		reply_bad(s, c, "Only charset UTF-8 after ENABLE UTF8=ACCEPT "
		    "(RFC 6855 section 3)");
		return -1;
	}
	if (!search_charset(cs)) {
		reply_no(s, c, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported "
		    "charset");
		return -1;
	}
	return 0;
}

/* Search with the criteria of args[0..n): the matches and their keys.
 * 0, or -1 after answering. */
int
sort_search_keys(struct session *s, const struct request *c,
    const struct imap_arg *args, size_t n, uint32_t **seqs_r, size_t *n_r,
    struct msgkeys *mk, int *withmodseq_r, uint64_t *maxmodseq_r)
{
	struct search *se;
	const char *why;
	int badcs;

	/* the flags as they are now, no EXPUNGE meanwhile (RFC 5256 3) */
	selected_sync(s, 0);
	if ((se = search_parse(s, args, n, &why, &badcs)) == NULL) {
		if (badcs)
			reply_no(s, c, "[BADCHARSET (UTF-8 US-ASCII)] %s", why);
		else
			reply_bad(s, c, "%s", why);
		return -1;
	}
	if ((*withmodseq_r = search_has_modseq(se)))
		selected_condstore(s);
	if (search_run(s, se, seqs_r, n_r, maxmodseq_r) == -1) {
		search_free(se);
		reply_no(s, c, "Out of memory");
		return -1;
	}
	search_free(se);
	if (msgkeys_load(s, *seqs_r, n_r, mk) == -1) {
		free(*seqs_r);
		reply_no(s, c, "Out of memory");
		return -1;
	}
	return 0;
}

void
cmd_sort(struct session *s, const struct request *c)
{
	struct sort_program prog;
	struct msgkeys mk;
	const char *why, *w;
	uint32_t *seqs, *out;
	size_t n, ai = 0, i, *idx;
	unsigned ret = 0;
	uint64_t maxmodseq;
	int withmodseq;

	if (c->nargs >= 2 && (w = imap_arg_atom(&c->args[0])) != NULL &&
	    strcasecmp(w, "RETURN") == 0) {
		if (esearch_return(&c->args[1], &ret) == -1) {
			reply_bad(s, c, "RETURN takes a list of MIN MAX COUNT "
			    "ALL SAVE");
			return;
		}
		ai = 2;
	}
	if (c->nargs < ai + 3) {
		reply_bad(s, c, "SORT takes sort criteria, a charset and "
		    "search criteria");
		return;
	}
	if (sort_parse(&c->args[ai], &prog, &why) == -1) {
		reply_bad(s, c, "%s", why);
		return;
	}
	if (sort_charset_arg(s, c, &c->args[ai + 1]) == -1 ||
	    sort_search_keys(s, c, c->args + ai + 2, c->nargs - ai - 2, &seqs,
	    &n, &mk, &withmodseq, &maxmodseq) == -1)
		return;
	idx = calloc(n + 1, sizeof(*idx));
	out = calloc(n + 1, sizeof(*out));
	if (idx == NULL || out == NULL ||
	    sort_order(&prog, mk.k, seqs, n, idx) == -1) {
		free(idx);
		free(out);
		free(seqs);
		msgkeys_done(s, &mk);
		reply_no(s, c, "Out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = c->uid ? mailbox_uid(s->mb, seqs[idx[i]]) :
		    seqs[idx[i]];
	esearch_result(s, c, "SORT", out, n, ret, ai > 0, withmodseq,
	    maxmodseq);
	free(idx);
	free(out);
	free(seqs);
	msgkeys_done(s, &mk);
	reply_ok(s, c, "SORT completed");
}
