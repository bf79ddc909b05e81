/*
 * esearch: result options and the ESEARCH response.  See esearch.h.
 */
#include <stdlib.h>
#include <strings.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "imapd/esearch.h"
#include "imapd/seqset.h"
#include "imapd/session.h"
#include "maildir/mailbox.h"

int
esearch_return(const struct imap_arg *a, unsigned *ret)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} opts[] = {
		{ "MIN", ESEARCH_MIN }, { "MAX", ESEARCH_MAX },
		{ "COUNT", ESEARCH_COUNT }, { "ALL", ESEARCH_ALL },
		{ "SAVE", ESEARCH_SAVE },
	};
	const char *w;
	size_t i, k;

	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (i = 0; i < a->len; i++) {
		if ((w = imap_arg_atom(&a->list[i])) == NULL)
			return -1;
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcasecmp(w, opts[k].name) == 0)
				break;
		if (k == sizeof(opts) / sizeof(opts[0]))
			return -1;
		*ret |= opts[k].bit;
	}
	if (*ret == 0)
		*ret = ESEARCH_ALL;
	return 0;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
save(struct session *s, const struct request *c, const uint32_t *hits,
    size_t n, unsigned ret)
{
	size_t i, o;
	int ends = (ret & (ESEARCH_MIN | ESEARCH_MAX)) &&
	    !(ret & (ESEARCH_ALL | ESEARCH_COUNT));

	free(s->saved);
	s->nsaved = 0;
	if ((s->saved = calloc(n + 1, sizeof(*s->saved))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (ends && !((i == 0 && (ret & ESEARCH_MIN)) ||
		    (i == n - 1 && (ret & ESEARCH_MAX))))
			continue;
		s->saved[s->nsaved++] = c->uid ? hits[i] :
		    mailbox_uid(s->mb, hits[i]);
	}
	/* "$" is a set: ascending, each UID once */
	qsort(s->saved, s->nsaved, sizeof(*s->saved), uid_cmp);
	for (i = 0, o = 0; i < s->nsaved; i++)
		if (o == 0 || s->saved[o - 1] != s->saved[i])
			s->saved[o++] = s->saved[i];
	s->nsaved = o;
}

static void
write_esearch(struct session *s, const struct request *c, const uint32_t *hits,
    size_t n, unsigned ret, int withmodseq, uint64_t maxmodseq)
{
	struct buf out;

	/* SAVE alone asks for no ESEARCH response */
	if ((ret & ~ESEARCH_SAVE) == 0)
		return;
	session_printf(s, "* ESEARCH (TAG \"%s\")%s", c->tag,
	    c->uid ? " UID" : "");
	if ((ret & ESEARCH_MIN) && n > 0)
		session_printf(s, " MIN %u", hits[0]);
	if ((ret & ESEARCH_MAX) && n > 0)
		session_printf(s, " MAX %u", hits[n - 1]);
	if (ret & ESEARCH_COUNT)
		session_printf(s, " COUNT %zu", n);
	if ((ret & ESEARCH_ALL) && n > 0) {
		buf_init(&out, 64 * 1024 * 1024);
		if (seqset_format(hits, n, &out) > 0) {
			session_printf(s, " ALL ");
			session_write(s, out.data, out.len);
		}
		buf_free(&out);
	}
	if (withmodseq && n > 0)
		session_printf(s, " MODSEQ %llu",
		    (unsigned long long)maxmodseq);
	session_printf(s, "\r\n");
}

void
esearch_result(struct session *s, const struct request *c, const char *name,
    const uint32_t *hits, size_t n, unsigned ret, int esearch,
    int withmodseq, uint64_t maxmodseq)
{
	size_t i;

	if (ret & ESEARCH_SAVE)
		save(s, c, hits, n, ret);
	if (esearch) {
		write_esearch(s, c, hits, n, ret, withmodseq, maxmodseq);
		return;
	}
	session_printf(s, "* %s", name);
	for (i = 0; i < n; i++)
		session_write_num(s, ' ', hits[i]);
	if (withmodseq && n > 0)
		session_printf(s, " (MODSEQ %llu)",
		    (unsigned long long)maxmodseq);
	session_write(s, "\r\n", 2);
}
