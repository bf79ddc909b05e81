/*
 * thread: ORDEREDSUBJECT and REFERENCES.  See thread.h.
 *
 * Messages and dummies are nodes of one array, numbered from 1 (0 is
 * "none"), linked by parent, first child and next sibling.  REFERENCES
 * builds its links with parent pointers alone (a message ID table maps
 * IDs to nodes), since that is all its loop checks need, and makes the
 * child lists once the links are final.  Nothing recurses: a thread can
 * be as deep as the folder is large, so trees are walked with loops and
 * explicit stacks.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/sortkey.h"
#include "common/lib/hash.h"
#include "imapd/session.h"
#include "imapd/sort.h"
#include "imapd/thread.h"
#include "maildir/mailbox.h"

struct tnode {
	uint32_t	 seq;		/* 0: a dummy */
	uint32_t	 k;		/* a message's keys: k[this] */
	uint32_t	 parent;
	uint32_t	 child;		/* first child */
	uint32_t	 last;		/* last child */
	uint32_t	 next;		/* next sibling */
	uint32_t	 nchild;
	uint32_t	 parent_once;	/* step 1 made it a parent */
	uint32_t	 dseq;		/* sequence number it sorts by */
	int64_t		 date;		/* sent date it sorts by */
};

struct thread {
	const struct sortkey *k;
	struct tnode	*node;		/* node[1 .. nn] */
	size_t		 nn, cap;
	uint32_t	*root;
	size_t		 nroot, caproot;
};

int
thread_alg(const char *name, enum thread_alg *r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*r = THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*r = THREAD_REFERENCES;
	else
		return -1;
	return 0;
}

/* A new node (a dummy until told otherwise), or 0 when memory runs
 * out. */
static uint32_t
new_node(struct thread *t)
{
	struct tnode *nn;
	size_t cap;

	if (t->nn + 1 >= t->cap) {
		cap = t->cap ? t->cap * 2 : 1024;
		if (cap > UINT32_MAX ||
		    (nn = reallocarray(t->node, cap, sizeof(*nn))) == NULL)
			return 0;
		t->node = nn;
		t->cap = cap;
	}
	t->nn++;
	memset(&t->node[t->nn], 0, sizeof(t->node[t->nn]));
	return (uint32_t)t->nn;
}

static int
add_root(struct thread *t, uint32_t x)
{
	uint32_t *nr;
	size_t cap;

	if (t->nroot == t->caproot) {
		cap = t->caproot ? t->caproot * 2 : 256;
		if ((nr = reallocarray(t->root, cap, sizeof(*nr))) == NULL)
			return -1;
		t->root = nr;
		t->caproot = cap;
	}
	t->root[t->nroot++] = x;
	return 0;
}

static void
add_child(struct thread *t, uint32_t parent, uint32_t x)
{
	struct tnode *p = &t->node[parent];

	t->node[x].parent = parent;
	t->node[x].next = 0;
	if (p->last != 0)
		t->node[p->last].next = x;
	else
		p->child = x;
	p->last = x;
	p->nchild++;
}

static int
by_date(const void *a, const void *b, void *arg)
{
	const struct tnode *node = arg;
	const struct tnode *x = &node[*(const uint32_t *)a];
	const struct tnode *y = &node[*(const uint32_t *)b];

	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return x->dseq < y->dseq ? -1 : x->dseq > y->dseq;
}

/* Sort the children of x by sent date; buf has room for them. */
static void
sort_children(struct thread *t, uint32_t x, uint32_t *buf)
{
	struct tnode *p = &t->node[x];
	uint32_t c, i, n = 0;

	if (p->nchild < 2)
		return;
	for (c = p->child; c != 0; c = t->node[c].next)
		buf[n++] = c;
	qsort_r(buf, n, sizeof(*buf), by_date, t->node);
	p->child = buf[0];
	for (i = 0; i + 1 < n; i++)
		t->node[buf[i]].next = buf[i + 1];
	t->node[buf[n - 1]].next = 0;
	p->last = buf[n - 1];
}

/* A dummy sorts as its first child does (RFC 5256 3, steps 4 and 6). */
static void
dummy_date(struct thread *t, uint32_t x)
{
	struct tnode *p = &t->node[x];

	if (p->seq == 0 && p->child != 0) {
		p->date = t->node[p->child].date;
		p->dseq = t->node[p->child].dseq;
	}
}

static void
sort_roots(struct thread *t, uint32_t *buf)
{
	size_t i;

	for (i = 0; i < t->nroot; i++) {
		sort_children(t, t->root[i], buf);
		dummy_date(t, t->root[i]);
	}
	qsort_r(t->root, t->nroot, sizeof(*t->root), by_date, t->node);
}

static uint32_t
message_node(struct thread *t, const struct sortkey *k, size_t i,
    uint32_t seq, uint32_t x)
{
	if (x == 0 && (x = new_node(t)) == 0)
		return 0;
	t->node[x].seq = seq;
	t->node[x].k = (uint32_t)i;
	t->node[x].dseq = seq;
	t->node[x].date = sortkey_sent(&k[i]);
	return x;
}

/* --- ORDEREDSUBJECT -------------------------------------------------- */

static int
ordered_subject(struct thread *t, const struct sortkey *k,
    const uint32_t *seqs, size_t n)
{
	struct sort_program p;
	size_t *idx, i, hlen = 0, clen;
	uint32_t x, head = 0;
	const char *hs = NULL, *cs;
	int r = -1;

	/* sorted by base subject, then sent date */
	memset(&p, 0, sizeof(p));
	p.c[0].by = SORT_SUBJECT;
	p.c[1].by = SORT_DATE;
	p.n = 2;
	if ((idx = calloc(n + 1, sizeof(*idx))) == NULL ||
	    sort_order(&p, k, seqs, n, idx) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		cs = sortkey_str(&k[idx[i]], SORTKEY_SUBJECT, &clen);
		if ((x = message_node(t, k, idx[i], seqs[idx[i]], 0)) == 0)
			goto out;
		/* the first of a subject heads its thread; the others are
		 * its children, in date order */
		if (head != 0 && hlen == clen && memcmp(hs, cs, clen) == 0) {
			add_child(t, head, x);
			continue;
		}
		if (add_root(t, x) == -1)
			goto out;
		head = x;
		hs = cs;
		hlen = clen;
	}
	/* threads in the order of their first messages' dates */
	qsort_r(t->root, t->nroot, sizeof(*t->root), by_date, t->node);
	r = 0;
out:
	free(idx);
	return r;
}

/* --- REFERENCES ------------------------------------------------------ */

struct idslot {
	const char	*id;		/* NULL: empty */
	uint64_t	 hash;
	uint32_t	 len;
	uint32_t	 node;
};

struct idtable {
	struct idslot	*s;
	size_t		 cap;		/* a power of two */
	size_t		 used;
};

static struct idslot *
id_slot(struct idtable *tb, const char *id, size_t len, uint64_t h)
{
	size_t i = (size_t)h & (tb->cap - 1);

	while (tb->s[i].id != NULL && (tb->s[i].hash != h ||
	    tb->s[i].len != len || memcmp(tb->s[i].id, id, len) != 0))
		i = (i + 1) & (tb->cap - 1);
	return &tb->s[i];
}

static int
id_grow(struct idtable *tb)
{
	struct idslot *old = tb->s, *ns;
	size_t oldcap = tb->cap, i;

	if ((tb->s = calloc(oldcap * 2, sizeof(*tb->s))) == NULL) {
		tb->s = old;
		return -1;
	}
	tb->cap = oldcap * 2;
	for (i = 0; i < oldcap; i++)
		if (old[i].id != NULL) {
			ns = id_slot(tb, old[i].id, old[i].len, old[i].hash);
			*ns = old[i];
		}
	free(old);
	return 0;
}

/* The node of a message ID: found, or a new dummy (RFC 5256 3, step
 * 1.A).  0 when memory runs out. */
static uint32_t
id_node(struct thread *t, struct idtable *tb, const char *id, size_t len)
{
	struct idslot *sl;
	uint64_t h = hash_bytes(id, len);

	if ((tb->used + 1) * 2 > tb->cap && id_grow(tb) == -1)
		return 0;
	sl = id_slot(tb, id, len, h);
	if (sl->id == NULL) {
		if ((sl->node = new_node(t)) == 0)
			return 0;
		sl->id = id;
		sl->hash = h;
		sl->len = (uint32_t)len;
		tb->used++;
	}
	return sl->node;
}

/*
 * Whether making p the parent of c would make a loop: p is c or below it.
 * Only a node that has been a parent can have something below it, so the
 * walk up, as long as the thread is deep, is made only for those: a
 * folder that is one long chain of replies costs linear time, not
 * quadratic.
 */
static int
loop(const struct thread *t, uint32_t p, uint32_t c)
{
	if (p == c)
		return 1;
	if (!t->node[c].parent_once)
		return 0;
	for (; p != 0; p = t->node[p].parent)
		if (p == c)
			return 1;
	return 0;
}

static void
link_to(struct thread *t, uint32_t p, uint32_t c)
{
	t->node[c].parent = p;
	t->node[p].parent_once = 1;
}

/* Step 1: the links of message i. */
static int
link_message(struct thread *t, struct idtable *tb, const struct sortkey *k,
    size_t i, uint32_t seq)
{
	const char *id, *r, *end;
	uint32_t m = 0, x, prev = 0;
	size_t len;

	id = sortkey_str(&k[i], SORTKEY_MESSAGE_ID, &len);
	if (len > 0) {
		if ((m = id_node(t, tb, id, len)) == 0)
			return -1;
		/* a message takes the place of the dummy that stood for it;
		 * a second message with the ID gets one of its own */
		if (t->node[m].seq != 0)
			m = 0;
	}
	if ((m = message_node(t, k, i, seq, m)) == 0)
		return -1;
	/* (A) each reference the parent of the next, unless that one has
	 * a parent already or the link would make a loop */
	r = sortkey_str(&k[i], SORTKEY_REFERENCES, &len);
	end = r + len;
	while (r < end) {
		len = strnlen(r, (size_t)(end - r));

		if ((x = id_node(t, tb, r, len)) == 0)
			return -1;
		if (prev != 0 && t->node[x].parent == 0 && !loop(t, prev, x))
			link_to(t, prev, x);
		prev = x;
		r += len + 1;
	}
	/* (B) the last reference is the parent, whatever came before */
	t->node[m].parent = 0;
	if (prev != 0 && !loop(t, prev, m))
		link_to(t, prev, m);
	return 0;
}

/*
 * Steps 2 and 3: the messages without a parent are the threads; dummies
 * go, their children taking their place, but a dummy at the top stays
 * when it has several children.  A message's parent becomes its nearest
 * message ancestor, or else its topmost ancestor, a dummy.
 */
static int
prune(struct thread *t, uint32_t *buf)
{
	uint32_t x, p, q, n, *top = buf;
	size_t nn = t->nn;

	/* top[d]: for a dummy, where its children go */
	for (x = 1; x <= nn; x++)
		top[x] = 0;
	for (x = 1; x <= nn; x++) {
		if (t->node[x].seq != 0 || top[x] != 0)
			continue;
		for (p = x; t->node[p].seq == 0 && t->node[p].parent != 0 &&
		    top[p] == 0; p = t->node[p].parent)
			;
		if (t->node[p].seq == 0 && top[p] != 0)
			p = top[p];
		for (q = x; q != p && t->node[q].seq == 0 && top[q] == 0;
		    q = t->node[q].parent)
			top[q] = p;
		if (t->node[p].seq == 0)
			top[p] = p;
	}
	for (x = 1; x <= nn; x++)
		t->node[x].child = t->node[x].last = t->node[x].nchild = 0;
	for (x = 1; x <= nn; x++) {
		if (t->node[x].seq == 0)
			continue;
		p = t->node[x].parent;
		if (p != 0 && t->node[p].seq == 0)
			p = top[p];
		if (p == 0)
			t->node[x].parent = 0;
		else
			add_child(t, p, x);
	}
	/* a dummy at the top with one child gives it its place */
	for (x = 1; x <= nn; x++)
		if (t->node[x].seq == 0 && t->node[x].parent == 0 &&
		    t->node[x].nchild == 1) {
			n = t->node[x].child;
			t->node[n].parent = 0;
			t->node[n].next = 0;
			t->node[x].child = t->node[x].last = 0;
			t->node[x].nchild = 0;
		}
	for (x = 1; x <= nn; x++)
		if (t->node[x].parent == 0 && (t->node[x].seq != 0 ||
		    t->node[x].nchild > 0) && add_root(t, x) == -1)
			return -1;
	return 0;
}

struct subjslot {
	const char	*s;		/* NULL: empty */
	size_t		 len;
	uint32_t	 node;
};

/* The thread subject of a root: its own base subject, or its first
 * child's if it is a dummy (RFC 5256 3, step 5.B.i). */
static const char *
subject_of(const struct thread *t, uint32_t x, size_t *len_r)
{
	if (t->node[x].seq == 0)
		x = t->node[x].child;
	return sortkey_str(&t->k[t->node[x].k], SORTKEY_SUBJECT, len_r);
}

static int
is_reply(const struct thread *t, uint32_t x)
{
	return t->node[x].seq != 0 &&
	    (sortkey_flags(&t->k[t->node[x].k]) & SORTKEY_REPLY);
}

static struct subjslot *
subj_slot(struct subjslot *tb, size_t cap, const char *s, size_t len)
{
	size_t i = (size_t)hash_bytes(s, len) & (cap - 1);

	while (tb[i].s != NULL && (tb[i].len != len ||
	    memcmp(tb[i].s, s, len) != 0))
		i = (i + 1) & (cap - 1);
	return &tb[i];
}

/* Step 5 (C): merge root x into the thread the subject table holds for
 * its subject, sl->node.  Roots that stop being roots get parents. */
static int
merge(struct thread *t, struct subjslot *sl, uint32_t x)
{
	uint32_t y = sl->node, d, c, next;

	if (t->node[y].seq == 0 && t->node[x].seq == 0) {
		/* both dummies: one set of children */
		for (c = t->node[x].child; c != 0; c = next) {
			next = t->node[c].next;
			add_child(t, y, c);
		}
		t->node[x].child = t->node[x].last = t->node[x].nchild = 0;
		t->node[x].parent = y;		/* gone from the roots */
	} else if (t->node[y].seq == 0 ||
	    (is_reply(t, x) && !is_reply(t, y)))
		add_child(t, y, x);
	else {
		if ((d = new_node(t)) == 0)
			return -1;
		add_child(t, d, y);
		add_child(t, d, x);
		sl->node = d;
		if (add_root(t, d) == -1)
			return -1;
	}
	return 0;
}

/* Step 5: threads whose subjects agree become one. */
static int
gather(struct thread *t)
{
	struct subjslot *tb, *sl;
	const char *subj;
	size_t cap = 16, i, nroot = t->nroot, o, len;
	uint32_t x, y;
	int r = -1;

	while (cap < nroot * 2)
		cap *= 2;
	if ((tb = calloc(cap, sizeof(*tb))) == NULL)
		return -1;
	/* (B) one message a subject: a dummy before a message, a message
	 * before a reply */
	for (i = 0; i < nroot; i++) {
		x = t->root[i];
		if ((subj = subject_of(t, x, &len)) == NULL || len == 0)
			continue;
		sl = subj_slot(tb, cap, subj, len);
		if (sl->s == NULL) {
			sl->s = subj;
			sl->len = len;
			sl->node = x;
			continue;
		}
		y = sl->node;
		if (t->node[y].seq != 0 && (t->node[x].seq == 0 ||
		    (is_reply(t, y) && !is_reply(t, x))))
			sl->node = x;
	}
	/* (C) merge the others into it */
	for (i = 0; i < nroot; i++) {
		x = t->root[i];
		if ((subj = subject_of(t, x, &len)) == NULL || len == 0)
			continue;
		sl = subj_slot(tb, cap, subj, len);
		if (sl->node != x && merge(t, sl, x) == -1)
			goto out;
	}
	/* roots that got a parent are roots no more */
	for (i = 0, o = 0; i < t->nroot; i++)
		if (t->node[t->root[i]].parent == 0)
			t->root[o++] = t->root[i];
	t->nroot = o;
	r = 0;
out:
	free(tb);
	return r;
}

static int
references(struct thread *t, const struct sortkey *k, const uint32_t *seqs,
    size_t n)
{
	struct idtable tb;
	uint32_t *buf = NULL;
	size_t i;
	int r = -1;

	tb.cap = 1024;
	tb.used = 0;
	while (tb.cap < n * 4)
		tb.cap *= 2;
	if ((tb.s = calloc(tb.cap, sizeof(*tb.s))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (link_message(t, &tb, k, i, seqs[i]) == -1)
			goto out;
	/* room for every node now, and the dummies gathering may add */
	if ((buf = calloc(t->nn + 1 + n, sizeof(*buf))) == NULL ||
	    prune(t, buf) == -1)
		goto out;
	/* (4) the threads by date, a dummy by its first child's */
	sort_roots(t, buf);
	if (gather(t) == -1)
		goto out;
	/* (6) every set of siblings by date, below the top first */
	for (i = 1; i <= t->nn; i++)
		if (t->node[i].seq != 0)
			sort_children(t, (uint32_t)i, buf);
	sort_roots(t, buf);
	r = 0;
out:
	free(tb.s);
	free(buf);
	return r;
}

struct thread *
thread_build(enum thread_alg alg, const struct sortkey *k,
    const uint32_t *seqs, size_t n)
{
	struct thread *t;
	int r;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->k = k;
	if (n == 0)
		return t;
	if (alg == THREAD_ORDEREDSUBJECT)
		r = ordered_subject(t, k, seqs, n);
	else
		r = references(t, k, seqs, n);
	if (r == -1) {
		thread_free(t);
		return NULL;
	}
	return t;
}

/* --- the response ---------------------------------------------------- */

#define CLOSE	UINT32_MAX

static void
number(struct session *s, const struct tnode *x, int uid, char sep)
{
	session_write_num(s, sep, uid ? mailbox_uid(s->mb, x->seq) : x->seq);
}

/* Push x's children so that the first comes off first, with a CLOSE
 * under them. */
static void
push_children(const struct thread *t, uint32_t x, uint32_t *stack,
    size_t *top)
{
	uint32_t c;
	size_t j;

	stack[(*top)++] = CLOSE;
	j = *top + t->node[x].nchild;
	for (c = t->node[x].child; c != 0; c = t->node[c].next)
		stack[--j] = c;
	*top += t->node[x].nchild;
}

int
thread_write(struct session *s, const struct thread *t, int uid)
{
	uint32_t *stack, x;
	size_t top, i;

	/* each node is pushed once, with at most one CLOSE */
	if ((stack = calloc(2 * t->nn + 2, sizeof(*stack))) == NULL)
		return -1;
	session_printf(s, "* THREAD%s", t->nroot > 0 ? " " : "");
	for (i = 0; i < t->nroot; i++) {
		top = 0;
		stack[top++] = t->root[i];
		while (top > 0) {
			x = stack[--top];
			if (x == CLOSE) {
				session_write(s, ")", 1);
				continue;
			}
			session_write(s, "(", 1);
			if (t->node[x].seq == 0) {
				push_children(t, x, stack, &top);
				continue;
			}
			number(s, &t->node[x], uid, '\0');
			/* a chain of only children stays in one list */
			while (t->node[x].nchild == 1) {
				x = t->node[x].child;
				number(s, &t->node[x], uid, ' ');
			}
			if (t->node[x].nchild == 0) {
				session_write(s, ")", 1);
				continue;
			}
			session_write(s, " ", 1);
			push_children(t, x, stack, &top);
		}
	}
	session_write(s, "\r\n", 2);
	free(stack);
	return 0;
}

void
thread_free(struct thread *t)
{
	if (t == NULL)
		return;
	free(t->node);
	free(t->root);
	free(t);
}
