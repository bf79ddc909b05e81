/*
 * cmd-fetch: FETCH and UID FETCH (RFC 9051 6.4.5) with BINARY (RFC 3516),
 * PREVIEW (RFC 8970), and EMAILID and THREADID (RFC 8474).
 *
 * Items that the view or the UID cache can answer (UID, FLAGS,
 * RFC822.SIZE once known, INTERNALDATE once known, EMAILID, THREADID)
 * never open the message file; the file is opened (mmap'ed) once per
 * message only for ENVELOPE, BODY, BODYSTRUCTURE, PREVIEW and sections,
 * and only when the structure cache does not have the answer.  PREVIEW
 * (LAZY) never opens a message for the preview: one not cached yet is
 * NIL then, as RFC 8970 allows, unless the message is opened for another
 * item.  A non-PEEK body item sets \Seen in a read-write mailbox and the
 * new FLAGS ride along in the same FETCH response.  A message that
 * vanished meanwhile is left out and the command ends with OK
 * [EXPUNGEISSUED] (RFC 5530 3), so that the client keeps the others
 * (RFC 2180 4.1.2 allows OK or NO).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/imap/imapdate.h"
#include "common/imap/message.h"
#include "common/lib/log.h"
#include "common/mail/preview.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "imapd/threadid.h"
#include "maildir/filename.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"
#include "maildir/objectid.h"

#define FETCH_ITEMS_MAX	128
#define SECTION_OUT_MAX	(1024ULL * 1024 * 1024)

enum fkind {
	F_UID, F_FLAGS, F_INTERNALDATE, F_SIZE, F_ENVELOPE, F_BODY,
	F_BODYSTRUCTURE, F_SECTION, F_MODSEQ, F_PREVIEW, F_EMAILID,
	F_THREADID,
};

struct fitem {
	enum fkind	kind;
	struct section	sec;
	int		lazy;		/* PREVIEW (LAZY) */
};

struct fetch {
	struct fitem	 it[FETCH_ITEMS_MAX];
	size_t		 n;
	int		 need_msg;
	int		 need_sections;
	int		 need_env, need_body, need_bs, need_struct;
	int		 need_preview;	/* a PREVIEW without LAZY */
	int		 has_preview;	/* any PREVIEW */
	struct buf	 env, body, bs;	/* this message's, while written */
	struct buf	 pv;
	struct buf	 store;		/* the message file's bytes */
	int		 sets_seen;
	int		 has_flags;
	int		 has_uid;
	int		 has_modseq;
	int		 has_emailid;
	int		 has_threadid;
	threadid_t	*tids;		/* THREADIDs, by index into the set */
	const char	*tid;		/* this message's */
	uint64_t	 changedsince;	/* CHANGEDSINCE, 0 if not given */
	int		 vanished;	/* the VANISHED modifier */
};

static const struct {
	const char	*name;
	enum fkind	 kind;
} simple[] = {
	{ "UID", F_UID }, { "FLAGS", F_FLAGS },
	{ "INTERNALDATE", F_INTERNALDATE }, { "RFC822.SIZE", F_SIZE },
	{ "ENVELOPE", F_ENVELOPE }, { "BODY", F_BODY },
	{ "BODYSTRUCTURE", F_BODYSTRUCTURE }, { "MODSEQ", F_MODSEQ },
	{ "PREVIEW", F_PREVIEW }, { "EMAILID", F_EMAILID },
	{ "THREADID", F_THREADID },
};

static int
add(struct fetch *f, enum fkind k)
{
	if (f->n == FETCH_ITEMS_MAX)
		return -1;
	memset(&f->it[f->n], 0, sizeof(f->it[f->n]));
	f->it[f->n++].kind = k;
	if (k == F_ENVELOPE || k == F_BODY || k == F_BODYSTRUCTURE)
		f->need_msg = f->need_struct = 1;
	if (k == F_ENVELOPE)
		f->need_env = 1;
	if (k == F_BODY)
		f->need_body = 1;
	if (k == F_BODYSTRUCTURE)
		f->need_bs = 1;
	if (k == F_FLAGS)
		f->has_flags = 1;
	if (k == F_UID)
		f->has_uid = 1;
	if (k == F_MODSEQ)
		f->has_modseq = 1;
	if (k == F_PREVIEW)
		f->has_preview = 1;
	if (k == F_EMAILID)
		f->has_emailid = 1;
	if (k == F_THREADID)
		f->has_threadid = 1;
	return 0;
}

/*
 * The modifiers after PREVIEW, LAZY being the one RFC 8970 defines.  In a
 * list of items (in_list) any list after PREVIEW is its modifiers; after
 * a lone PREVIEW only one that starts with LAZY is, any other being the
 * FETCH modifiers.  1 if a[0] is such a list, 0 if it is not, -1 if it
 * holds a modifier that is not LAZY.
 */
static int
preview_modifiers(const struct imap_arg *a, size_t n, int in_list,
    int *lazy_r)
{
	const char *w;
	size_t i;

	if (n == 0 || a->type != IMAP_ARG_LIST)
		return 0;
	if (!in_list && (a->len == 0 ||
	    (w = imap_arg_atom(&a->list[0])) == NULL ||
	    strcasecmp(w, "LAZY") != 0))
		return 0;
	if (a->len == 0)
		return -1;
	for (i = 0; i < a->len; i++)
		if ((w = imap_arg_atom(&a->list[i])) == NULL ||
		    strcasecmp(w, "LAZY") != 0)
			return -1;
	*lazy_r = 1;
	return 1;
}

static void
fetch_free(struct fetch *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->it[i].kind == F_SECTION)
			message_section_free(&f->it[i].sec);
	f->n = 0;
	buf_free(&f->env);
	buf_free(&f->body);
	buf_free(&f->bs);
	buf_free(&f->pv);
	buf_free(&f->store);
	free(f->tids);
	f->tids = NULL;
}

/* Parse one item from a[0..n), which is inside a list of items when
 * in_list is set: *used_r tokens (a section with a field list spans
 * several: "BODY[HEADER.FIELDS", "(FROM TO)", "]"; PREVIEW and its
 * modifiers two).  0, or -1 with *why_r. */
static int
parse_item(const struct imap_arg *a, size_t n, int in_list,
    struct fetch *f, size_t *used_r, const char **why_r)
{
	const char *w;
	size_t k;
	int r;

	if (f->n == FETCH_ITEMS_MAX) {
		*why_r = "Too many FETCH items";
		return -1;
	}
	r = message_section_parse(a, n, used_r, &f->it[f->n].sec, why_r);
	if (r == -1)
		return -1;
	if (r == 0) {
		enum section_item si = f->it[f->n].sec.item;

		f->it[f->n].kind = F_SECTION;
		f->n++;
		f->need_msg = f->need_sections = 1;
		if (si == SECTION_BODY || si == SECTION_BINARY ||
		    si == SECTION_RFC822 || si == SECTION_RFC822_TEXT)
			f->sets_seen = 1;
		return 0;
	}
	if ((w = imap_arg_atom(&a[0])) == NULL) {
		*why_r = "Invalid FETCH item";
		return -1;
	}
	for (k = 0; k < sizeof(simple) / sizeof(simple[0]); k++)
		if (strcasecmp(w, simple[k].name) == 0)
			break;
	if (k == sizeof(simple) / sizeof(simple[0])) {
		*why_r = "Unknown FETCH item";
		return -1;
	}
	if (add(f, simple[k].kind) == -1) {
		*why_r = "Too many FETCH items";
		return -1;
	}
	*used_r = 1;
	if (simple[k].kind == F_PREVIEW) {
		struct fitem *it = &f->it[f->n - 1];

		r = preview_modifiers(a + 1, n - 1, in_list, &it->lazy);
		if (r == -1) {
			*why_r = "Unknown PREVIEW modifier (RFC 8970 knows "
			    "LAZY)";
			return -1;
		}
		*used_r += (size_t)r;
	}
	return 0;
}

/* The fetch modifiers of RFC 7162: (CHANGEDSINCE n [VANISHED]). */
static int
parse_modifiers(const struct imap_arg *m, struct fetch *f,
    const char **why_r)
{
	const char *w;
	size_t i;

	*why_r = "Invalid FETCH modifiers: (CHANGEDSINCE modseq [VANISHED])";
	if (m->type != IMAP_ARG_LIST || m->len == 0)
		return -1;
	for (i = 0; i < m->len; i++) {
		if ((w = imap_arg_atom(&m->list[i])) == NULL)
			return -1;
		if (strcasecmp(w, "CHANGEDSINCE") == 0 &&
		    f->changedsince == 0 && i + 1 < m->len) {
			/* 0 is a valid value: everything changed since */
			if (arg_u64(&m->list[++i], 0, MODSEQ_MAX,
			    &f->changedsince) == -1)
				return -1;
			f->changedsince++;	/* stored as value + 1 */
		} else if (strcasecmp(w, "VANISHED") == 0 && !f->vanished)
			f->vanished = 1;
		else
			return -1;
	}
	return 0;
}

/*
 * Parse what follows the message set (a[0..n)): a macro, one item, or a
 * parenthesized list of items (RFC 9051 6.4.5), then optional modifiers
 * (RFC 7162 3.1.4).  0, or -1 with *why_r.
 */
static int
parse(const struct imap_arg *a, size_t n, struct fetch *f,
    const char **why_r)
{
	const char *w = imap_arg_atom(a);
	size_t used = 1, i, u;

	memset(f, 0, sizeof(*f));
	buf_init(&f->env, SECTION_OUT_MAX);
	buf_init(&f->body, SECTION_OUT_MAX);
	buf_init(&f->bs, SECTION_OUT_MAX);
	buf_init(&f->pv, PREVIEW_CHARS * 4 + 1);
	buf_init(&f->store, MESSAGE_READ_MAX + 1);
	/* the macros of RFC 9051 6.4.5 */
	if (w != NULL && strcasecmp(w, "ALL") == 0) {
		if (add(f, F_FLAGS) | add(f, F_INTERNALDATE) |
		    add(f, F_SIZE) | add(f, F_ENVELOPE))
			return -1;
	} else if (w != NULL && strcasecmp(w, "FAST") == 0) {
		if (add(f, F_FLAGS) | add(f, F_INTERNALDATE) | add(f, F_SIZE))
			return -1;
	} else if (w != NULL && strcasecmp(w, "FULL") == 0) {
		if (add(f, F_FLAGS) | add(f, F_INTERNALDATE) |
		    add(f, F_SIZE) | add(f, F_ENVELOPE) | add(f, F_BODY))
			return -1;
	} else if (a->type == IMAP_ARG_LIST) {
		if (a->len == 0) {
			*why_r = "Empty FETCH item list";
			return -1;
		}
		for (i = 0; i < a->len; i += u)
			if (parse_item(a->list + i, a->len - i, 1, f, &u,
			    why_r) == -1)
				return -1;
	} else if (parse_item(a, n, 0, f, &used, why_r) == -1)
		return -1;
	if (used == n)
		return 0;
	if (used + 1 != n || parse_modifiers(&a[used], f, why_r) == -1)
		return -1;
	return 0;
}

/* Local time zone offset in minutes at t, for INTERNALDATE. */
static int
tzoff(int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	return localtime_r(&tt, &tm) != NULL ? (int)(tm.tm_gmtoff / 60) : 0;
}

/* Write data as an IMAP literal (literal8 when it holds a NUL). */
static void
literal(struct session *s, const char *data, size_t len, int binary)
{
	int eight = binary && memchr(data, '\0', len) != NULL;

	session_printf(s, "%s{%zu}\r\n", eight ? "~" : "", len);
	session_write(s, data, len);
}

/*
 * The PREVIEW item: cached, computed into fresh from m, or NIL when m is
 * not open (LAZY: the message is not opened for it).  0 or -1.
 */
static int
preview(struct session *s, struct fetch *f, struct message *m,
    const struct msgcache_rec *cached, struct msgcache_rec *fresh)
{
	const struct msgcache_rec *have = cached->preview != NULL ? cached :
	    fresh;

	session_printf(s, "PREVIEW ");
	if (have->preview != NULL) {
		/* fresh: asked for twice in one FETCH */
		session_string(s, have->preview, have->preview_len);
		return 0;
	}
	if (m == NULL) {
		session_write(s, "NIL", 3);
		return 0;
	}
	buf_reset(&f->pv);
	if (message_parts(m) == NULL ||
	    preview_make(message_parts(m), &f->pv) == -1)
		return -1;
	fresh->preview = f->pv.len > 0 ? f->pv.data : "";
	fresh->preview_len = f->pv.len;
	session_string(s, fresh->preview, fresh->preview_len);
	return 0;
}

/*
 * One message's FETCH response.  0 written, 1 the message vanished (not
 * written), -2 unknown transfer encoding, -1 error.
 */
static int
fetch_one(struct session *s, const struct request *c, struct fetch *f,
    uint32_t seq, int flags_now, struct buf *tmp)
{
	struct message *m = NULL;
	struct msgcache *mc = f->need_struct || f->has_preview ?
	    selected_msgcache(s) : NULL;
	struct msgcache_rec cached, fresh;
	struct buf *sb;
	uint32_t uid;
	const char *sep = "";
	char date[IMAPDATE_LEN], eid[OBJECTID_LEN + 1] = "";
	uint64_t vsize;
	int64_t t;
	size_t i;
	int r, nil, whole;

	if (mailbox_gone(s->mb, seq))
		return 1;
	uid = mailbox_uid(s->mb, seq);
	/* before the response starts, so that a message expunged meanwhile
	 * is left out whole */
	if (f->has_emailid && mailbox_emailid(s->mb, seq, eid) == -1)
		return 1;
	if (f->has_threadid && (f->tid == NULL || f->tid[0] == '\0'))
		return 1;
	memset(&cached, 0, sizeof(cached));
	if (mc != NULL)
		(void)msgcache_get(mc, uid, &cached);
	memset(&fresh, 0, sizeof(fresh));
	whole = f->need_sections ||
	    (f->need_body && cached.body_len == 0) ||
	    (f->need_bs && cached.bodystructure_len == 0) ||
	    (f->need_preview && cached.preview == NULL);
	if (whole || (f->need_env && cached.envelope_len == 0)) {
		if ((m = selected_message(s, seq, &f->store, whole)) == NULL)
			return 1;
		/* ENVELOPE reads the header from the parse that BODY or
		 * BODYSTRUCTURE needs anyway, rather than parse it twice */
		if (f->need_env && cached.envelope_len == 0 &&
		    ((f->need_body && cached.body_len == 0) ||
		    (f->need_bs && cached.bodystructure_len == 0)))
			(void)message_parts(m);
	}
	flags_now = flags_now && !f->has_flags;
	session_write(s, "*", 1);
	session_write_num(s, ' ', seq);
	session_write(s, " FETCH (", 8);
	if (c->uid && !f->has_uid) {
		session_printf(s, "UID %u", mailbox_uid(s->mb, seq));
		sep = " ";
	}
	for (i = 0; i < f->n; i++) {
		struct fitem *it = &f->it[i];

		session_write(s, sep, strlen(sep));
		sep = " ";
		switch (it->kind) {
		case F_UID:
			session_printf(s, "UID %u", mailbox_uid(s->mb, seq));
			break;
		case F_MODSEQ:
			session_printf(s, "MODSEQ (%llu)", (unsigned long long)
			    mailbox_modseq(s->mb, seq));
			break;
		case F_EMAILID:
			session_printf(s, "EMAILID (%s)", eid);
			break;
		case F_THREADID:
			session_printf(s, "THREADID (%s)", f->tid);
			break;
		case F_FLAGS:
			session_printf(s, "FLAGS ");
			selected_write_flags(s, mailbox_flags(s->mb, seq),
			    mailbox_keywords_of(s->mb, seq));
			break;
		case F_INTERNALDATE:
			if (mailbox_mtime(s->mb, seq, &t) == -1)
				t = 0;
			imapdate_format(t, tzoff(t), date);
			session_printf(s, "INTERNALDATE \"%s\"", date);
			break;
		case F_SIZE:
			if (mailbox_vsize(s->mb, seq, &vsize) == -1)
				vsize = m != NULL ? message_vsize(m) : 0;
			session_printf(s, "RFC822.SIZE %llu",
			    (unsigned long long)vsize);
			break;
		case F_ENVELOPE:
			session_write(s, "ENVELOPE ", 9);
			if (cached.envelope_len > 0) {
				session_write(s, cached.envelope,
				    cached.envelope_len);
				break;
			}
			buf_reset(&f->env);
			if (message_envelope(m, &f->env) == -1)
				goto fail;
			session_write(s, f->env.data, f->env.len);
			fresh.envelope = f->env.data;
			fresh.envelope_len = f->env.len;
			fresh.envelope_exact = message_envelope_exact(m);
			break;
		case F_BODY:
		case F_BODYSTRUCTURE:
			if (it->kind == F_BODY)
				session_write(s, "BODY ", 5);
			else
				session_write(s, "BODYSTRUCTURE ", 14);
			if (it->kind == F_BODY && cached.body_len > 0) {
				session_write(s, cached.body, cached.body_len);
				break;
			}
			if (it->kind == F_BODYSTRUCTURE &&
			    cached.bodystructure_len > 0) {
				session_write(s, cached.bodystructure,
				    cached.bodystructure_len);
				break;
			}
			sb = it->kind == F_BODY ? &f->body : &f->bs;
			buf_reset(sb);
			if (message_bodystructure(m, it->kind ==
			    F_BODYSTRUCTURE ? MESSAGE_BS_EXTENDED : 0, sb) ==
			    -1)
				goto fail;
			session_write(s, sb->data, sb->len);
			if (it->kind == F_BODY) {
				fresh.body = sb->data;
				fresh.body_len = sb->len;
			} else {
				fresh.bodystructure = sb->data;
				fresh.bodystructure_len = sb->len;
			}
			break;
		case F_PREVIEW:
			if (preview(s, f, m, &cached, &fresh) == -1)
				goto fail;
			break;
		case F_SECTION:
			buf_reset(tmp);
			if (message_section_name(&it->sec, tmp) == -1)
				goto fail;
			session_write(s, tmp->data, tmp->len);
			session_write(s, " ", 1);
			buf_reset(tmp);
			r = message_section_get(m, &it->sec, tmp, &nil);
			if (r == MESSAGE_EUNKNOWN_CTE) {
				message_free(m);
				return -2;
			}
			if (r == -1)
				goto fail;
			if (it->sec.item == SECTION_BINARY_SIZE)
				session_write(s, tmp->data, tmp->len);
			else if (nil)
				session_write(s, "NIL", 3);
			else
				literal(s, tmp->data != NULL ? tmp->data : "",
				    tmp->len, it->sec.item == SECTION_BINARY ||
				    it->sec.item == SECTION_BINARY_PEEK);
			break;
		}
	}
	if (flags_now) {
		session_printf(s, "%sFLAGS ", sep);
		selected_write_flags(s, mailbox_flags(s->mb, seq),
		    mailbox_keywords_of(s->mb, seq));
		/* flags changed by this FETCH: with CONDSTORE, their MODSEQ
		 * rides along (RFC 7162 3.1) */
		if ((s->enabled & ENABLED_CONDSTORE) && !f->has_modseq)
			session_printf(s, " MODSEQ (%llu)", (unsigned long long)
			    mailbox_modseq(s->mb, seq));
	}
	session_write(s, ")\r\n", 3);
	if (m != NULL)
		message_free(m);
	/* remember what was computed, with what was already known */
	if (mc != NULL && (fresh.envelope_len || fresh.body_len ||
	    fresh.bodystructure_len || fresh.preview != NULL)) {
		if (fresh.envelope_len == 0) {
			fresh.envelope = cached.envelope;
			fresh.envelope_len = cached.envelope_len;
			fresh.envelope_exact = cached.envelope_exact;
		}
		if (fresh.body_len == 0) {
			fresh.body = cached.body;
			fresh.body_len = cached.body_len;
		}
		if (fresh.bodystructure_len == 0) {
			fresh.bodystructure = cached.bodystructure;
			fresh.bodystructure_len = cached.bodystructure_len;
		}
		if (fresh.preview == NULL) {
			fresh.preview = cached.preview;
			fresh.preview_len = cached.preview_len;
		}
		msgcache_put(mc, uid, &fresh);
	}
	return 0;
fail:
	if (m != NULL)
		message_free(m);
	session_write(s, ")\r\n", 3);
	return -1;
}

/*
 * CHANGEDSINCE: keep the messages of seqs[0..*n) whose MODSEQ is above
 * since (both lists ascend), and with VANISHED first report the UIDs of
 * the set that were expunged since (RFC 7162 3.2.6).  0 or -1.
 */
static int
changed_only(struct session *s, const struct request *c, uint64_t since,
    int vanished, uint32_t *seqs, size_t *n)
{
	uint32_t *ch, top;
	size_t nch, i = 0, k = 0, out = 0;
	struct seqset set;
	const char *w;

	if (mailbox_changed_since(s->mb, since, &ch, &nch) == -1)
		return -1;
	while (i < *n && k < nch) {
		if (seqs[i] < ch[k])
			i++;
		else if (seqs[i] > ch[k])
			k++;
		else {
			seqs[out++] = seqs[i++];
			k++;
		}
	}
	*n = out;
	free(ch);
	if (!vanished)
		return 0;
	/* the UID set as given (the expunged UIDs are not in the view);
	 * "*" reaches every UID ever given */
	top = mailbox_uidnext(s->mb) - 1;
	if ((w = imap_arg_atom(&c->args[0])) == NULL ||
	    seqset_parse(w, top, &set) == -1)
		return 0;	/* "$": nothing vanished from a saved set */
	selected_vanished_earlier(s, since, &set);
	seqset_free(&set);
	return 0;
}

void
cmd_fetch(struct session *s, const struct request *c)
{
	struct fetch *f;
	struct buf tmp;
	const char *why = "Invalid FETCH items";
	uint32_t *seqs = NULL, *unseen = NULL;
	unsigned char *marked = NULL;
	size_t n, i, vanished = 0, nunseen = 0;
	int r = 0;

	if (c->nargs < 2) {
		reply_bad(s, c, "FETCH takes a message set and items");
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		reply_no(s, c, "Out of memory");
		return;
	}
	if (parse(&c->args[1], c->nargs - 1, f, &why) != 0) {
		fetch_free(f);
		free(f);
		reply_bad(s, c, "%s", why);
		return;
	}
	for (i = 0; i < f->n; i++)
		if (f->it[i].kind == F_PREVIEW && !f->it[i].lazy)
			f->need_preview = 1;
	/* flags (and \Seen set by reading) as they are now; no EXPUNGE
	 * during FETCH (RFC 9051 7.5.2) */
	selected_sync(s, 0);
	if (f->vanished && (!c->uid || f->changedsince == 0 ||
	    !(s->enabled & ENABLED_QRESYNC))) {
		fetch_free(f);
		free(f);
		reply_bad(s, c, "VANISHED goes with UID FETCH, CHANGEDSINCE "
		    "and ENABLE QRESYNC (RFC 7162 3.2.6)");
		return;
	}
	if (arg_msgset(s, c, &c->args[0], c->uid, &seqs, &n) == -1) {
		fetch_free(f);
		free(f);
		return;
	}
	if (f->has_modseq || f->changedsince != 0) {
		/* a CONDSTORE enabling command (RFC 7162 3.1) */
		selected_condstore(s);
		if (!f->has_modseq && add(f, F_MODSEQ) == -1) {
			free(seqs);
			fetch_free(f);
			free(f);
			reply_bad(s, c, "Too many FETCH items");
			return;
		}
	}
	if (f->changedsince != 0 &&
	    changed_only(s, c, f->changedsince - 1, f->vanished, seqs, &n) ==
	    -1) {
		free(seqs);
		fetch_free(f);
		free(f);
		reply_no(s, c, "[SERVERBUG] Cannot read the MODSEQs; the log "
		    "says why");
		return;
	}
	if (f->has_threadid && threadid_load(s, seqs, n, &f->tids) == -1) {
		free(seqs);
		fetch_free(f);
		free(f);
		reply_no(s, c, "[SERVERBUG] Out of memory for the THREADIDs");
		return;
	}
	/* reading a body marks it \Seen (RFC 9051 6.4.5): one rename
	 * each, but one commit to the UID cache for all of them */
	if (f->sets_seen && !s->examine) {
		if ((unseen = calloc(n + 1, sizeof(*unseen))) == NULL ||
		    (marked = calloc(n + 1, 1)) == NULL) {
			free(unseen);
			unseen = NULL;
		} else {
			for (i = 0; i < n; i++)
				if (!(mailbox_flags(s->mb, seqs[i]) &
				    MF_SEEN)) {
					unseen[nunseen++] = seqs[i];
					marked[i] = 1;
				}
			if (nunseen > 0 && mailbox_store(s->mb, unseen,
			    nunseen, 1, MF_SEEN, 0, NULL, NULL) == -1)
				log_warn("cannot set \\Seen in %s", s->mbname);
		}
	}
	buf_init(&tmp, SECTION_OUT_MAX);
	for (i = 0; i < n && s->end == END_NONE; i++) {
		f->tid = f->tids != NULL ? f->tids[i] : NULL;
		r = fetch_one(s, c, f, seqs[i], marked != NULL && marked[i],
		    &tmp);
		if (r == 1)
			vanished++;
		else if (r < 0)
			break;
		/* write the structure cache out as it grows */
		if ((i & 2047) == 2047)
			selected_flush_msgcache(s, 0);
		/* a large buffer is not kept across messages */
		if (tmp.cap > 1024 * 1024)
			buf_free(&tmp);
	}
	buf_free(&tmp);
	fetch_free(f);
	free(f);
	free(seqs);
	selected_fetch_done(s);
	free(unseen);
	free(marked);
	mailbox_flush_facts(s->mb);
	if (r == -2)
		reply_no(s, c, "[UNKNOWN-CTE] A part has a transfer encoding "
		    "that cannot be decoded");
	else if (r == -1)
		reply_no(s, c, "[SERVERBUG] A message could not be read; the "
		    "log says why");
	else if (vanished > 0)
		/* the others were answered: a NO would fail them all in the
		 * client (RFC 2180 4.1.2 allows either) */
		reply_ok(s, c, "[EXPUNGEISSUED] Some messages were expunged "
		    "meanwhile and are left out");
	else
		reply_ok(s, c, "FETCH completed");
}
