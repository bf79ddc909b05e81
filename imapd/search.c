/*
 * search: SEARCH criteria.  See search.h.
 *
 * The criteria become a tree of nodes.  Each node has a cost class: 0
 * for what the view knows (flags, numbers), 1 for what the UID cache
 * knows or a stat() finds (size, INTERNALDATE), 2 for the header of the
 * message file, 3 for its body.  The children of an AND (the implicit
 * "all of these") are sorted by cost, so "UNSEEN BODY foo" reads only
 * unseen messages, and each message file is opened at most once.
 *
 * A HEADER search on a field that ENVELOPE holds as a string (Subject,
 * Message-ID, In-Reply-To, Date) is answered from the ENVELOPE that FETCH
 * left in the structure cache, when the cache says that the ENVELOPE
 * holds all the header has of that field (message_envelope_exact()); the
 * file is read otherwise.  Files are read, not mapped, into one buffer
 * kept for the whole search: the header alone when no criterion needs
 * more.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/imapdate.h"
#include "common/imap-parser.h"
#include "common/log.h"
#include "common/message.h"
#include "common/strnum.h"
#include "imapd/search.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "imapd/session.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"

#define SEARCH_DEPTH_MAX	64

enum kind {
	K_AND, K_OR, K_NOT,
	K_ALL,
	K_FLAG,			/* flag set / unset: mask, want */
	K_KEYWORD,		/* keyword set / unset */
	K_RECENT, K_NEW,	/* OLD is NOT RECENT */
	K_SEQ, K_UID,
	K_LARGER, K_SMALLER,
	K_MODSEQ,		/* RFC 7162 3.1.5: MODSEQ at least num */
	K_BEFORE, K_ON, K_SINCE,		/* INTERNALDATE */
	K_SENTBEFORE, K_SENTON, K_SENTSINCE,	/* Date: header */
	K_HEADER, K_BODY, K_TEXT,
};

struct node {
	enum kind	 kind;
	int		 cost;
	int		 neg;		/* K_FLAG, K_KEYWORD, K_RECENT */
	unsigned	 mask;		/* K_FLAG */
	char		*str;		/* keyword, header field */
	char		*needle;	/* K_HEADER/BODY/TEXT */
	unsigned	 envbit;	/* K_HEADER: MESSAGE_ENV_* of str */
	int		 address;	/* K_HEADER: FROM/TO/CC/BCC, matched
					 * against the envelope's addresses */
	uint64_t	 num;		/* size, yyyymmdd */
	struct seqset	 set;
	struct node	**kids;
	size_t		 nkids;
};

struct search {
	struct node	*root;
	int		 modseq;	/* has a MODSEQ criterion */
	int		 body;		/* some criterion reads a body */
	struct buf	 store;		/* the message file's bytes */
	/* per-message state during search_match() */
	struct message	*msg;
	int		 msg_tried;
	int		 gone;
	uint32_t	 seq;
};

static const struct {
	const char	*name;
	unsigned	 mask;
	int		 neg;
} flagkeys[] = {
	{ "ANSWERED", MF_ANSWERED, 0 }, { "UNANSWERED", MF_ANSWERED, 1 },
	{ "DELETED", MF_DELETED, 0 }, { "UNDELETED", MF_DELETED, 1 },
	{ "DRAFT", MF_DRAFT, 0 }, { "UNDRAFT", MF_DRAFT, 1 },
	{ "FLAGGED", MF_FLAGGED, 0 }, { "UNFLAGGED", MF_FLAGGED, 1 },
	{ "SEEN", MF_SEEN, 0 }, { "UNSEEN", MF_SEEN, 1 },
};

static const struct {
	const char	*name;
	const char	*field;
	int		 address;
} headerkeys[] = {
	{ "FROM", "From", 1 }, { "TO", "To", 1 }, { "CC", "Cc", 1 },
	{ "BCC", "Bcc", 1 }, { "SUBJECT", "Subject", 0 },
};

static const struct {
	const char	*name;
	enum kind	 kind;
} datekeys[] = {
	{ "BEFORE", K_BEFORE }, { "ON", K_ON }, { "SINCE", K_SINCE },
	{ "SENTBEFORE", K_SENTBEFORE }, { "SENTON", K_SENTON },
	{ "SENTSINCE", K_SENTSINCE },
};

static void
node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n->needle);
	seqset_free(&n->set);
	free(n);
}

static struct node *
node_new(enum kind k, int cost)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n != NULL) {
		n->kind = k;
		n->cost = cost;
	}
	return n;
}

static int
add_kid(struct node *parent, struct node *kid)
{
	struct node **k;

	if ((k = reallocarray(parent->kids, parent->nkids + 1,
	    sizeof(*k))) == NULL)
		return -1;
	parent->kids = k;
	parent->kids[parent->nkids++] = kid;
	if (kid->cost > parent->cost)
		parent->cost = kid->cost;
	return 0;
}

struct parse {
	struct session		*s;
	const struct imap_arg	*a;
	size_t			 n;
	size_t			 i;
	const char		*why;
	int			 modseq;	/* a MODSEQ key was seen */
};

static const char *
next_string(struct parse *p)
{
	const char *v;

	if (p->i >= p->n || (v = imap_arg_astring(&p->a[p->i])) == NULL) {
		p->why = "Missing or invalid string in search criteria";
		return NULL;
	}
	p->i++;
	return v;
}

static struct node *parse_key(struct parse *, int depth);

/* Parse keys until the end of args (or list), ANDed together. */
static struct node *
parse_and(struct parse *p, int depth)
{
	struct node *and = node_new(K_AND, 0), *k;

	if (and == NULL)
		return NULL;
	while (p->i < p->n) {
		if ((k = parse_key(p, depth)) == NULL || add_kid(and, k) == -1) {
			node_free(k);
			node_free(and);
			return NULL;
		}
	}
	if (and->nkids == 0) {
		p->why = "Empty search criteria";
		node_free(and);
		return NULL;
	}
	return and;
}

static int
parse_date(struct parse *p, uint64_t *ymd)
{
	const char *d = next_string(p);
	int64_t t;

	if (d == NULL || imapdate_parse_date(d, &t) == -1) {
		p->why = "Invalid date in search criteria (expected e.g. "
		    "1-Feb-2026)";
		return -1;
	}
	*ymd = (uint64_t)imapdate_ymd(t, 0);
	return 0;
}

static struct node *
parse_key(struct parse *p, int depth)
{
	const struct imap_arg *a;
	struct parse sub;
	struct node *n = NULL, *x, *y;
	const char *w, *v, *f;
	int addr;
	size_t k;
	uint64_t num;

	if (depth > SEARCH_DEPTH_MAX) {
		p->why = "Search criteria nested too deeply";
		return NULL;
	}
	if (p->i >= p->n) {
		p->why = "Missing search key";
		return NULL;
	}
	a = &p->a[p->i++];
	if (a->type == IMAP_ARG_LIST) {
		sub = *p;
		sub.a = a->list;
		sub.n = a->len;
		sub.i = 0;
		n = parse_and(&sub, depth + 1);
		if (n == NULL)
			p->why = sub.why;
		return n;
	}
	if ((w = imap_arg_atom(a)) == NULL) {
		p->why = "Search keys are atoms";
		return NULL;
	}
	/* the saved result of an earlier SEARCH (RFC 5182) */
	if (strcmp(w, "$") == 0) {
		size_t k2;

		if ((n = node_new(K_UID, 0)) == NULL)
			return NULL;
		for (k2 = 0; k2 < p->s->nsaved; k2++) {
			struct seqrange *nr = reallocarray(n->set.r,
			    n->set.n + 1, sizeof(*nr));

			if (nr == NULL) {
				node_free(n);
				return NULL;
			}
			n->set.r = nr;
			n->set.r[n->set.n].lo = n->set.r[n->set.n].hi =
			    p->s->saved[k2];
			n->set.n++;
		}
		return n;
	}
	/* a sequence set on its own */
	if ((w[0] >= '0' && w[0] <= '9') || w[0] == '*') {
		uint32_t count = mailbox_count(p->s->mb);

		if ((n = node_new(K_SEQ, 0)) == NULL)
			return NULL;
		if (seqset_parse(w, count, &n->set) == -1) {
			p->why = "Invalid sequence set in search criteria";
			node_free(n);
			return NULL;
		}
		return n;
	}
	if (strcasecmp(w, "ALL") == 0)
		return node_new(K_ALL, 0);
	for (k = 0; k < sizeof(flagkeys) / sizeof(flagkeys[0]); k++)
		if (strcasecmp(w, flagkeys[k].name) == 0) {
			if ((n = node_new(K_FLAG, 0)) != NULL) {
				n->mask = flagkeys[k].mask;
				n->neg = flagkeys[k].neg;
			}
			return n;
		}
	if (strcasecmp(w, "RECENT") == 0 || strcasecmp(w, "OLD") == 0) {
		if ((n = node_new(K_RECENT, 0)) != NULL)
			n->neg = w[0] == 'O' || w[0] == 'o';
		return n;
	}
	if (strcasecmp(w, "NEW") == 0)
		return node_new(K_NEW, 0);
	if (strcasecmp(w, "KEYWORD") == 0 || strcasecmp(w, "UNKEYWORD") == 0) {
		if ((v = next_string(p)) == NULL ||
		    (n = node_new(K_KEYWORD, 0)) == NULL)
			return NULL;
		n->neg = w[0] == 'U' || w[0] == 'u';
		if ((n->str = strdup(v)) == NULL) {
			node_free(n);
			return NULL;
		}
		return n;
	}
	if (strcasecmp(w, "UID") == 0) {
		uint32_t count = mailbox_count(p->s->mb);

		if ((v = next_string(p)) == NULL ||
		    (n = node_new(K_UID, 0)) == NULL)
			return NULL;
		if (seqset_parse(v, count ? mailbox_uid(p->s->mb, count) : 0,
		    &n->set) == -1) {
			p->why = "Invalid UID set in search criteria";
			node_free(n);
			return NULL;
		}
		return n;
	}
	if (strcasecmp(w, "MODSEQ") == 0) {
		/* an entry name and type may come first ("/flags/\\seen"
		 * all): every MODSEQ here is per message, so they do not
		 * narrow anything */
		if (p->i + 2 < p->n && imap_arg_atom(&p->a[p->i + 1]) !=
		    NULL && (p->a[p->i].type == IMAP_ARG_QUOTED ||
		    p->a[p->i].type == IMAP_ARG_LITERAL)) {
			const char *t = imap_arg_atom(&p->a[p->i + 1]);

			if (strcasecmp(t, "priv") != 0 &&
			    strcasecmp(t, "shared") != 0 &&
			    strcasecmp(t, "all") != 0) {
				p->why = "MODSEQ entry type must be priv, "
				    "shared or all";
				return NULL;
			}
			p->i += 2;
		}
		if ((v = next_string(p)) == NULL ||
		    strnum_u64(v, 0x7fffffffffffffffULL, &num) == -1) {
			p->why = "MODSEQ takes a mod-sequence value";
			return NULL;
		}
		if ((n = node_new(K_MODSEQ, 1)) != NULL)
			n->num = num;
		p->modseq = 1;
		return n;
	}
	if (strcasecmp(w, "LARGER") == 0 || strcasecmp(w, "SMALLER") == 0) {
		if ((v = next_string(p)) == NULL ||
		    strnum_u64(v, UINT64_MAX, &num) == -1) {
			p->why = "LARGER and SMALLER take a number";
			return NULL;
		}
		if ((n = node_new(w[0] == 'L' || w[0] == 'l' ? K_LARGER :
		    K_SMALLER, 1)) != NULL)
			n->num = num;
		return n;
	}
	for (k = 0; k < sizeof(datekeys) / sizeof(datekeys[0]); k++)
		if (strcasecmp(w, datekeys[k].name) == 0) {
			if (parse_date(p, &num) == -1)
				return NULL;
			n = node_new(datekeys[k].kind, datekeys[k].kind >=
			    K_SENTBEFORE ? 2 : 1);
			if (n != NULL)
				n->num = num;
			return n;
		}
	f = NULL;
	addr = 0;
	for (k = 0; k < sizeof(headerkeys) / sizeof(headerkeys[0]); k++)
		if (strcasecmp(w, headerkeys[k].name) == 0) {
			f = headerkeys[k].field;
			addr = headerkeys[k].address;
		}
	if (f != NULL || strcasecmp(w, "HEADER") == 0) {
		if (f == NULL && (f = next_string(p)) == NULL)
			return NULL;
		if ((v = next_string(p)) == NULL ||
		    (n = node_new(K_HEADER, 2)) == NULL)
			return NULL;
		if ((n->str = strdup(f)) == NULL ||
		    (n->needle = strdup(v)) == NULL) {
			node_free(n);
			return NULL;
		}
		n->envbit = message_envelope_field(f);
		n->address = addr;
		return n;
	}
	if (strcasecmp(w, "BODY") == 0 || strcasecmp(w, "TEXT") == 0) {
		if ((v = next_string(p)) == NULL ||
		    (n = node_new(w[0] == 'B' || w[0] == 'b' ? K_BODY : K_TEXT,
		    3)) == NULL)
			return NULL;
		if ((n->needle = strdup(v)) == NULL) {
			node_free(n);
			return NULL;
		}
		return n;
	}
	if (strcasecmp(w, "NOT") == 0) {
		if ((x = parse_key(p, depth + 1)) == NULL ||
		    (n = node_new(K_NOT, x->cost)) == NULL ||
		    add_kid(n, x) == -1) {
			node_free(n);
			node_free(x);
			return NULL;
		}
		return n;
	}
	if (strcasecmp(w, "OR") == 0) {
		x = parse_key(p, depth + 1);
		y = x != NULL ? parse_key(p, depth + 1) : NULL;
		if (y == NULL || (n = node_new(K_OR, 0)) == NULL ||
		    add_kid(n, x) == -1) {
			node_free(x);
			node_free(y);
			node_free(n);
			return NULL;
		}
		/* x is n's now: freeing n frees it */
		if (add_kid(n, y) == -1) {
			node_free(y);
			node_free(n);
			return NULL;
		}
		return n;
	}
	p->why = "Unknown search key";
	return NULL;
}

static int
cost_cmp(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a;
	const struct node *y = *(struct node *const *)b;

	return x->cost - y->cost;
}

static void
order(struct node *n)
{
	size_t i;

	for (i = 0; i < n->nkids; i++)
		order(n->kids[i]);
	if (n->nkids > 1)
		qsort(n->kids, n->nkids, sizeof(n->kids[0]), cost_cmp);
}

int
search_charset(const char *name)
{
	return strcasecmp(name, "UTF-8") == 0 ||
	    strcasecmp(name, "US-ASCII") == 0;
}

struct search *
search_parse(struct session *s, const struct imap_arg *args, size_t n,
    const char **why_r, int *badcharset_r)
{
	struct parse p = { .s = s, .a = args, .n = n, .i = 0, .why = NULL };
	struct search *se;
	const char *w, *cs;

	*badcharset_r = 0;
	if (n >= 2 && (w = imap_arg_atom(&args[0])) != NULL &&
	    strcasecmp(w, "CHARSET") == 0) {
		if ((cs = imap_arg_astring(&args[1])) == NULL ||
		    !search_charset(cs)) {
			*badcharset_r = 1;
			*why_r = "Unsupported charset";
			return NULL;
		}
		p.i = 2;
	}
	if ((se = calloc(1, sizeof(*se))) == NULL) {
		*why_r = "Out of memory";
		return NULL;
	}
	if ((se->root = parse_and(&p, 0)) == NULL) {
		*why_r = p.why != NULL ? p.why : "Out of memory";
		free(se);
		return NULL;
	}
	order(se->root);
	se->body = se->root->cost >= 3;
	se->modseq = p.modseq;
	buf_init(&se->store, MESSAGE_READ_MAX);
	return se;
}

void
search_free(struct search *se)
{
	if (se == NULL)
		return;
	node_free(se->root);
	if (se->msg != NULL)
		message_free(se->msg);
	buf_free(&se->store);
	/* nothing of the search stays with an idle session */
	message_search_cleanup();
	free(se);
}

/* The message file of the current seq, opened once. */
static struct message *
msg(struct session *s, struct search *se)
{
	if (se->msg_tried)
		return se->msg;
	se->msg_tried = 1;
	se->msg = selected_message(s, se->seq, &se->store, se->body);
	if (se->msg == NULL)
		se->gone = 1;
	return se->msg;
}

/* A HEADER criterion from the cached ENVELOPE: 1, 0, or -1 when the
 * cache cannot tell. */
static int
header_cached(struct session *s, struct search *se, const struct node *n)
{
	struct msgcache *mc;
	struct msgcache_rec rec;

	if (n->envbit == 0 || (mc = selected_msgcache(s)) == NULL ||
	    !msgcache_get(mc, mailbox_uid(s->mb, se->seq), &rec) ||
	    rec.envelope_len == 0 || !(rec.envelope_exact & n->envbit))
		return -1;
	return message_envelope_search(rec.envelope, rec.envelope_len,
	    n->str, n->needle);
}

static int
local_ymd(int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (localtime_r(&tt, &tm) == NULL)
		return imapdate_ymd(t, 0);
	return imapdate_ymd(t, (int)(tm.tm_gmtoff / 60));
}

static int
date_cmp(enum kind k, int ymd, uint64_t want)
{
	switch (k) {
	case K_BEFORE:
	case K_SENTBEFORE:
		return (uint64_t)ymd < want;
	case K_ON:
	case K_SENTON:
		return (uint64_t)ymd == want;
	default:
		return (uint64_t)ymd >= want;
	}
}

static int
eval(struct session *s, struct search *se, const struct node *n)
{
	unsigned fl;
	uint64_t v;
	int64_t t;
	size_t i;
	int k, r;
	struct message *m;

	switch (n->kind) {
	case K_AND:
		for (i = 0; i < n->nkids; i++)
			if (!eval(s, se, n->kids[i]))
				return 0;
		return 1;
	case K_OR:
		return eval(s, se, n->kids[0]) || eval(s, se, n->kids[1]);
	case K_NOT:
		return !eval(s, se, n->kids[0]);
	case K_ALL:
		return 1;
	case K_FLAG:
		fl = mailbox_flags(s->mb, se->seq);
		return ((fl & n->mask) != 0) != n->neg;
	case K_RECENT:
		fl = mailbox_flags(s->mb, se->seq);
		return ((fl & MBF_RECENT) != 0) != n->neg;
	case K_NEW:
		fl = mailbox_flags(s->mb, se->seq);
		return (fl & MBF_RECENT) && !(fl & MF_SEEN);
	case K_KEYWORD:
		k = keywords_find(mailbox_keywords(s->mb), n->str);
		r = k >= 0 &&
		    (mailbox_keywords_of(s->mb, se->seq) & (1U << k));
		return r != n->neg;
	case K_SEQ:
		return seqset_contains(&n->set, se->seq);
	case K_UID:
		return seqset_contains(&n->set, mailbox_uid(s->mb, se->seq));
	case K_MODSEQ:
		return mailbox_modseq(s->mb, se->seq) >= n->num;
	case K_LARGER:
	case K_SMALLER:
		if (mailbox_vsize(s->mb, se->seq, &v) == -1) {
			se->gone = 1;
			return 0;
		}
		return n->kind == K_LARGER ? v > n->num : v < n->num;
	case K_BEFORE:
	case K_ON:
	case K_SINCE:
		if (mailbox_mtime(s->mb, se->seq, &t) == -1) {
			se->gone = 1;
			return 0;
		}
		return date_cmp(n->kind, local_ymd(t), n->num);
	case K_SENTBEFORE:
	case K_SENTON:
	case K_SENTSINCE:
		if ((m = msg(s, se)) == NULL)
			return 0;
		if ((t = message_date_tz(m, &k)) == INT64_MIN)
			return 0;	/* no usable Date: matches no date */
		return date_cmp(n->kind, imapdate_ymd(t, k), n->num);
	case K_HEADER:
		if ((r = header_cached(s, se, n)) >= 0)
			return r;
		if ((m = msg(s, se)) == NULL)
			return 0;
		if (n->address)
			return message_search_address(m, n->str,
			    n->needle) == 1;
		return message_search_header(m, n->str, n->needle) == 1;
	case K_BODY:
		if ((m = msg(s, se)) == NULL)
			return 0;
		return message_search_body(m, n->needle) == 1;
	case K_TEXT:
		if ((m = msg(s, se)) == NULL)
			return 0;
		return message_search_text(m, n->needle) == 1;
	}
	return 0;
}

int
search_has_modseq(const struct search *se)
{
	return se->modseq;
}

int
search_match(struct session *s, struct search *se, uint32_t seq)
{
	int r;

	se->seq = seq;
	se->msg = NULL;
	se->msg_tried = 0;
	se->gone = 0;
	if (mailbox_gone(s->mb, seq))
		return -1;
	r = eval(s, se, se->root);
	if (se->msg != NULL) {
		message_free(se->msg);
		se->msg = NULL;
	}
	return se->gone && !r ? -1 : r;
}

int
search_run(struct session *s, struct search *se, uint32_t **seqs_r,
    size_t *n_r, uint64_t *maxmodseq_r)
{
	uint32_t count = mailbox_count(s->mb), seq, *hits;
	uint64_t ms;
	size_t n = 0;

	*maxmodseq_r = 0;
	if ((hits = calloc((size_t)count + 1, sizeof(*hits))) == NULL)
		return -1;
	for (seq = 1; seq <= count; seq++) {
		if (search_match(s, se, seq) != 1)
			continue;
		hits[n++] = seq;
		if (se->modseq && (ms = mailbox_modseq(s->mb, seq)) >
		    *maxmodseq_r)
			*maxmodseq_r = ms;
	}
	/* sizes learned while searching are kept for next time */
	mailbox_flush_facts(s->mb);
	*seqs_r = hits;
	*n_r = n;
	return 0;
}
