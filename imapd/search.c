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
 *
 * A text criterion (BODY, TEXT, HEADER and the address and SUBJECT keys)
 * asks the folder's full-text index first (ftsindex.h): each gets a
 * bitmap over the UIDs of the messages the index covers that cannot
 * match it, and answers "no" for those without reading them; the rest
 * are read as ever, so the answer is the same with the index, without
 * it, or with part of it.  When such criteria are among the top-level
 * ones, which must all hold, only the messages all of them leave are
 * visited at all: a search for a word no message has costs the look-up
 * and not a pass over the folder.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/imap/imap-parser.h"
#include "common/imap/imapdate.h"
#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/strnum.h"
#include "common/mail/ngram.h"
#include "imapd/indexer.h"
#include "imapd/search.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "imapd/session.h"
#include "imapd/threadid.h"
#include "maildir/filename.h"
#include "maildir/ftsindex.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"
#include "maildir/objectid.h"

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
	K_EMAILID, K_THREADID,	/* RFC 8474 6: str is the objectid */
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
	uint64_t	*skip;		/* text keys: UIDs the index rules
					 * out (below the search's limit) */
	struct seqset	 set;
	struct node	**kids;
	size_t		 nkids;
};

struct search {
	struct node	*root;
	int		 modseq;	/* has a MODSEQ criterion */
	int		 body;		/* some criterion reads a body */
	struct buf	 store;		/* the message file's bytes */
	uint32_t	 limit;		/* above the view's UIDs */
	uint64_t	*visit;		/* UIDs that may match, or NULL for
					 * all of them */
	/* per-message state during search_match() */
	struct message	*msg;
	int		 msg_tried;
	int		 gone;
	uint32_t	 seq;
	threadid_t	*tids;		/* THREADID of each seq, once asked */
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
	free(n->skip);
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

/* EMAILID or THREADID and its objectid, an atom of RFC 8474 7. */
static struct node *
parse_objectid(struct parse *p, enum kind k)
{
	struct node *n;
	const char *v;

	if (p->i >= p->n || (v = imap_arg_atom(&p->a[p->i])) == NULL ||
	    !objectid_valid(v, strlen(v))) {
		p->why = "EMAILID and THREADID take an object id (1 to 255 "
		    "letters, digits, \"-\" and \"_\")";
		return NULL;
	}
	p->i++;
	if ((n = node_new(k, 1)) == NULL)
		return NULL;
	if ((n->str = strdup(v)) == NULL) {
		node_free(n);
		return NULL;
	}
	return n;
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
	if (strcasecmp(w, "EMAILID") == 0 || strcasecmp(w, "THREADID") == 0)
		return parse_objectid(p, w[0] == 'E' || w[0] == 'e' ?
		    K_EMAILID : K_THREADID);
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
		/* the client said its strings are UTF-8 already, so a
		 * charset label contradicts it (RFC 6855 3) */
		if (s->enabled & ENABLED_UTF8) {
			*why_r = "No CHARSET after ENABLE UTF8=ACCEPT "
			    "(RFC 6855 section 3)";
			return NULL;
		}
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
	free(se->visit);
	free(se->tids);
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

/* Whether the index says the current message cannot match n. */
static int
ruled_out(struct session *s, const struct search *se, const struct node *n)
{
	uint32_t uid;

	if (n->skip == NULL)
		return 0;
	uid = mailbox_uid(s->mb, se->seq);
	return uid < se->limit && (n->skip[uid / 64] & (1ULL << (uid % 64)));
}

/* The THREADIDs of the whole folder, the first time a THREADID
 * criterion is looked at (one pass over the sort keys). */
static int
load_threads(struct session *s, struct search *se)
{
	uint32_t count = mailbox_count(s->mb), *seqs, i;
	int r;

	if ((seqs = calloc((size_t)count + 1, sizeof(*seqs))) == NULL)
		return -1;
	for (i = 0; i < count; i++)
		seqs[i] = i + 1;
	r = threadid_load(s, seqs, count, &se->tids);
	free(seqs);
	return r;
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
	char eid[OBJECTID_LEN + 1];

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
	case K_EMAILID:
		if (mailbox_emailid(s->mb, se->seq, eid) == -1) {
			se->gone = 1;
			return 0;
		}
		return strcmp(eid, n->str) == 0;
	case K_THREADID:
		if (se->tids == NULL && load_threads(s, se) == -1) {
			se->gone = 1;
			return 0;
		}
		return strcmp(se->tids[se->seq - 1], n->str) == 0;
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
		if (ruled_out(s, se, n))
			return 0;
		if ((r = header_cached(s, se, n)) >= 0)
			return r;
		if ((m = msg(s, se)) == NULL)
			return 0;
		if (n->address)
			return message_search_address(m, n->str,
			    n->needle) == 1;
		return message_search_header(m, n->str, n->needle) == 1;
	case K_BODY:
		if (ruled_out(s, se, n) || (m = msg(s, se)) == NULL)
			return 0;
		return message_search_body(m, n->needle) == 1;
	case K_TEXT:
		if (ruled_out(s, se, n) || (m = msg(s, se)) == NULL)
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

/* ---- the full-text index -------------------------------------------- */

/* Into bits, the UIDs that may hold needle in the text of space; -1 when
 * the index cannot tell (too short a needle, damage, memory). */
static int
candidates(struct ftsindex *fi, const char *needle, unsigned space,
    uint32_t limit, uint64_t *bits)
{
	uint32_t *keys;
	size_t n;
	int r;

	if (ftsindex_keys(needle, space, &keys, &n) == -1)
		return -1;
	r = n > 0 ? ftsindex_lookup(fi, keys, n, limit, bits) : -1;
	free(keys);
	return r;
}

/* Give a text criterion its bitmap of ruled-out UIDs, if the index can
 * tell any: covered and not a candidate. */
static void
filter(struct ftsindex *fi, struct node *n, uint32_t limit,
    const uint64_t *covered)
{
	size_t words = ((size_t)limit + 63) / 64, i;
	uint64_t *cand, *more = NULL;
	int ok;

	if ((cand = calloc(words, sizeof(*cand))) == NULL)
		return;
	switch (n->kind) {
	case K_BODY:
		ok = candidates(fi, n->needle, NGRAM_BODY, limit, cand) == 0;
		break;
	case K_HEADER:
		ok = candidates(fi, n->needle, NGRAM_HEADER, limit, cand) == 0;
		break;
	default:
		/* TEXT: the header or the body */
		ok = (more = calloc(words, sizeof(*more))) != NULL &&
		    candidates(fi, n->needle, NGRAM_HEADER, limit, cand) == 0 &&
		    candidates(fi, n->needle, NGRAM_BODY, limit, more) == 0;
		for (i = 0; ok && i < words; i++)
			cand[i] |= more[i];
		free(more);
		break;
	}
	if (!ok) {
		free(cand);
		return;
	}
	for (i = 0; i < words; i++)
		cand[i] = covered[i] & ~cand[i];
	n->skip = cand;
}

static void
filter_tree(struct ftsindex *fi, struct node *n, uint32_t limit,
    const uint64_t *covered)
{
	size_t i;

	if (n->kind == K_BODY || n->kind == K_TEXT || n->kind == K_HEADER)
		filter(fi, n, limit, covered);
	for (i = 0; i < n->nkids; i++)
		filter_tree(fi, n->kids[i], limit, covered);
}

/* Let the folder's full-text index (may be NULL) rule messages out for
 * the text criteria, before the first search_match(). */
static void
use_index(struct session *s, struct search *se, struct ftsindex *fi)
{
	uint32_t count = mailbox_count(s->mb);
	uint64_t *covered;
	size_t words, i, k;
	int any = 0;

	if (fi == NULL || count == 0)
		return;
	se->limit = mailbox_uid(s->mb, count) + 1;
	words = ((size_t)se->limit + 63) / 64;
	if ((covered = malloc(words * sizeof(*covered))) == NULL)
		return;
	ftsindex_coverage(fi, se->limit, covered);
	filter_tree(fi, se->root, se->limit, covered);
	free(covered);
	/* the top level is an AND: a message any of its ruled-out sets
	 * holds needs no visit */
	for (k = 0; k < se->root->nkids; k++) {
		const struct node *n = se->root->kids[k];

		if (n->skip == NULL)
			continue;
		if (!any && (se->visit = malloc(words * sizeof(*se->visit))) ==
		    NULL)
			return;
		for (i = 0; i < words; i++)
			se->visit[i] = (any ? se->visit[i] : ~0ULL) & ~n->skip[i];
		any = 1;
	}
}

/* The first message at or after seq that may match (count + 1 when
 * none): seq itself unless the index ruled it out. */
static uint32_t
next_visit(struct session *s, const struct search *se, uint32_t seq)
{
	uint32_t count = mailbox_count(s->mb), uid, u;
	uint64_t w;
	size_t i, words;

	if (se->visit == NULL || seq > count)
		return seq;
	words = ((size_t)se->limit + 63) / 64;
	for (;;) {
		uid = mailbox_uid(s->mb, seq);
		if (se->visit[uid / 64] & (1ULL << (uid % 64)))
			return seq;
		/* the next UID that may match, then the message at or
		 * after it */
		i = uid / 64;
		w = se->visit[i] & (~0ULL << (uid % 64));
		while (w == 0 && ++i < words)
			w = se->visit[i];
		if (w == 0)
			return count + 1;
		u = (uint32_t)(i * 64 + (size_t)__builtin_ctzll(w));
		if ((seq = mailbox_seq_from_uid(s->mb, u)) > count)
			return seq;
	}
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
	use_index(s, se, indexer_index(s));
	for (seq = next_visit(s, se, 1); seq <= count;
	    seq = next_visit(s, se, seq + 1)) {
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
