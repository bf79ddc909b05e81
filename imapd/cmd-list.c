/*
 * cmd-list: LIST (RFC 9051 6.3.9) with the LIST-EXTENDED selection and
 * return options (RFC 5258: SUBSCRIBED, RECURSIVEMATCH, REMOTE, CHILDREN,
 * SPECIAL-USE (RFC 6154), STATUS (RFC 5819)), and LSUB (RFC 3501 6.3.9).
 *
 * Special-use attributes are sent on every LIST reply, not only when
 * asked for: some clients (macOS Mail) never ask, and every client should
 * map Sent, Drafts and Trash the same way.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/commands.h"
#include "imapd/config.h"
#include "imapd/mbname.h"
#include "imapd/specialuse.h"
#include "maildir/folder.h"

#define SEL_SUBSCRIBED	0x01
#define SEL_RECURSIVE	0x02
#define SEL_SPECIALUSE	0x04
#define RET_SUBSCRIBED	0x10
#define RET_CHILDREN	0x20
#define RET_SPECIALUSE	0x40
#define RET_STATUS	0x80

/*
 * Does name match pattern?  "*" matches anything, "%" anything but the
 * hierarchy separator sep.  Dynamic programming over the pattern, so no
 * pattern can make this take more than len(pattern) * len(name) steps.
 */
static int
match(const char *pat, const char *name, char sep)
{
	size_t n = strlen(name), i, j;
	unsigned char *row, *next;
	int r;

	if ((row = calloc(n + 1, 1)) == NULL ||
	    (next = calloc(n + 1, 1)) == NULL) {
		free(row);
		return 0;
	}
	row[0] = 1;
	for (i = 0; pat[i] != '\0'; i++) {
		memset(next, 0, n + 1);
		if (pat[i] == '*' || pat[i] == '%') {
			/* next[j] = any row[k] for k <= j with no sep in
			 * name[k..j) when the wildcard is % */
			int any = 0;

			for (j = 0; j <= n; j++) {
				if (pat[i] == '%' && j > 0 &&
				    name[j - 1] == sep)
					any = 0;
				any |= row[j];
				next[j] = (unsigned char)any;
			}
		} else {
			for (j = 1; j <= n; j++)
				next[j] = row[j - 1] && name[j - 1] == pat[i];
		}
		memcpy(row, next, n + 1);
	}
	r = row[n];
	free(row);
	free(next);
	return r;
}

/* Does the folder play a special-use role? */
static int
is_special(const struct session *s, const char *name)
{
	const char *flag;

	return specialuse_flags(&s->specialuse, name, &flag, 1) == 1;
}

/*
 * Join reference and pattern; INBOX in any case at the start becomes
 * INBOX.  The pattern is matched against the names as the client sees
 * them (see entry_name()): for a client that speaks UTF-8 it stays UTF-8,
 * since modified UTF-7 writes a run of non-ASCII characters as one base64
 * block, so a wildcard inside a run ("Entw*" against "Entw&APw-rfe") has
 * no on-disk form; and its separator is the one the client sees.  -1 if
 * it cannot be a name.
 */
static int
client_pattern(const char *ref, const char *pat, char sep, struct buf *out)
{
	char *p;

	buf_reset(out);
	if (buf_adds(out, ref) == -1 || buf_adds(out, pat) == -1)
		return -1;
	p = out->data;
	if (out->len >= 5 && strncasecmp(p, "INBOX", 5) == 0 &&
	    (p[5] == '\0' || p[5] == sep || p[5] == '*' || p[5] == '%'))
		memcpy(p, "INBOX", 5);
	return 0;
}

/* The name of an entry as the client sees it, in buf (with the
 * client's separator and prefix, decoded to UTF-8 for a client that
 * speaks it); the on-disk name if it cannot be converted. */
static const char *
entry_name(const struct session *s, const char *name, struct buf *buf)
{
	if (mbname_client(s, name, buf) == -1)
		return name;
	return buf_cstr(buf);
}

static void
write_entry(struct session *s, const char *verb, const char *name,
    unsigned attrs, unsigned opts, const char *childinfo)
{
	const char *sep = "", *su[SPECIALUSE_MAX];
	size_t i, nsu;

	session_printf(s, "* %s (", verb);
#define ATTR(str) do { session_printf(s, "%s%s", sep, str); sep = " "; } \
	while (0)
	if (attrs & FA_NONEXISTENT)
		ATTR("\\NonExistent");
	if (attrs & FA_NOSELECT)
		ATTR("\\Noselect");
	if (attrs & FA_HASCHILDREN)
		ATTR("\\HasChildren");
	else if (attrs & FA_HASNOCHILDREN)
		ATTR("\\HasNoChildren");
	if ((attrs & FA_SUBSCRIBED) && (opts & (RET_SUBSCRIBED |
	    SEL_SUBSCRIBED)))
		ATTR("\\Subscribed");
	if (!(attrs & (FA_NOSELECT | FA_NONEXISTENT))) {
		nsu = specialuse_flags(&s->specialuse, name, su,
		    SPECIALUSE_MAX);
		for (i = 0; i < nsu; i++)
			ATTR(su[i]);
	}
#undef ATTR
	session_printf(s, ") \"%c\" ", s->conf->hierarchy_separator);
	mbname_write(s, name);
	if (childinfo != NULL)
		session_printf(s, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	session_printf(s, "\r\n");
}

/* Is folder name (on-disk form) below parent as the client sees them?
 * With inbox_prefix, every folder is below INBOX. */
static int
is_below(const struct session *s, const char *name, const char *parent)
{
	size_t len = strlen(parent);

	if (s->conf->inbox_prefix && mbname_is_inbox(parent))
		return !mbname_is_inbox(name);
	return strncmp(name, parent, len) == 0 && name[len] == '/';
}

/* A subscribed folder below name, if opts ask for RECURSIVEMATCH. */
static int
has_subscribed_child(const struct session *s, const struct folder_list *fl,
    const char *name)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		if ((fl->e[i].attrs & FA_SUBSCRIBED) &&
		    is_below(s, fl->e[i].name, name))
			return 1;
	return 0;
}

/* With inbox_prefix INBOX is the parent of every folder: its children
 * attribute counts them all (real and implied ones, as folder_list()
 * counts). */
static void
inbox_children(const struct session *s, struct folder_list *fl)
{
	size_t i, k;

	if (!s->conf->inbox_prefix)
		return;
	for (k = 0; k < fl->n; k++) {
		if (!mbname_is_inbox(fl->e[k].name))
			continue;
		fl->e[k].attrs &= ~(FA_HASCHILDREN | FA_HASNOCHILDREN);
		fl->e[k].attrs |= FA_HASNOCHILDREN;
		for (i = 0; i < fl->n; i++)
			if (i != k && !(fl->e[i].attrs & FA_NONEXISTENT)) {
				fl->e[k].attrs &= ~FA_HASNOCHILDREN;
				fl->e[k].attrs |= FA_HASCHILDREN;
				break;
			}
	}
}

static int
opt_list(const struct imap_arg *a, unsigned *opts, unsigned *status, int ret)
{
	const char *w;
	size_t i;

	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (i = 0; i < a->len; i++) {
		if ((w = imap_arg_atom(&a->list[i])) == NULL)
			return -1;
		if (strcasecmp(w, "SUBSCRIBED") == 0)
			*opts |= ret ? RET_SUBSCRIBED : SEL_SUBSCRIBED;
		else if (!ret && strcasecmp(w, "RECURSIVEMATCH") == 0)
			*opts |= SEL_RECURSIVE;
		else if (!ret && strcasecmp(w, "REMOTE") == 0)
			;	/* no remote mailboxes here */
		else if (strcasecmp(w, "SPECIAL-USE") == 0)
			*opts |= ret ? RET_SPECIALUSE : SEL_SPECIALUSE;
		else if (ret && strcasecmp(w, "CHILDREN") == 0)
			*opts |= RET_CHILDREN;
		else if (ret && strcasecmp(w, "STATUS") == 0 &&
		    i + 1 < a->len &&
		    (*status = status_items(&a->list[i + 1])) != 0) {
			*opts |= RET_STATUS;
			i++;
		} else
			return -1;
	}
	return 0;
}

static void
do_list(struct session *s, const struct request *c, int lsub)
{
	const struct imap_arg *pats;
	struct folder_list fl;
	struct buf pat, uname;
	const char *ref, *one;
	char path[FOLDER_PATH_MAX];
	const char *why;
	unsigned opts = 0, st = 0;
	size_t ai = 0, npats, i, k;
	int matched;

	if (!lsub && c->nargs > 0 && c->args[0].type == IMAP_ARG_LIST) {
		if (opt_list(&c->args[0], &opts, &st, 0) == -1)
			goto bad;
		ai = 1;
	}
	if (c->nargs < ai + 2 ||
	    (ref = imap_arg_astring(&c->args[ai])) == NULL)
		goto bad;
	pats = &c->args[ai + 1];
	npats = 1;
	if (pats->type == IMAP_ARG_LIST && !lsub) {
		npats = pats->len;
		pats = pats->list;
		if (npats == 0)
			goto bad;
	}
	for (i = 0; i < npats; i++)
		if (imap_arg_astring(&pats[i]) == NULL)
			goto bad;
	if (c->nargs > ai + 2) {
		const char *w = imap_arg_atom(&c->args[ai + 2]);

		if (lsub || c->nargs != ai + 4 || w == NULL ||
		    strcasecmp(w, "RETURN") != 0 ||
		    opt_list(&c->args[ai + 3], &opts, &st, 1) == -1)
			goto bad;
	}
	/* RECURSIVEMATCH only refines another selection option, and the
	 * only one here that it can refine is SUBSCRIBED (RFC 5258 3) */
	if ((opts & SEL_RECURSIVE) && !(opts & (SEL_SUBSCRIBED |
	    SEL_SPECIALUSE))) {
		reply_bad(s, c, "RECURSIVEMATCH needs another selection "
		    "option, such as SUBSCRIBED (RFC 5258 section 3)");
		return;
	}
	if (lsub)
		opts |= SEL_SUBSCRIBED;

	/* LIST "" "": the hierarchy separator and the root */
	if (!lsub && npats == 1 && imap_arg_astring(&pats[0])[0] == '\0') {
		session_printf(s, "* LIST (\\Noselect) \"%c\" \"\"\r\n",
		    s->conf->hierarchy_separator);
		reply_ok(s, c, "LIST completed");
		return;
	}
	if (folder_list(s->mailroot, 1, &fl) == -1) {
		reply_no(s, c, "[SERVERBUG] Cannot list the mail folders");
		return;
	}
	inbox_children(s, &fl);
	buf_init(&pat, FOLDER_NAME_MAX * 2);
	buf_init(&uname, FOLDER_NAME_MAX * 4 + 8);
	for (k = 0; k < fl.n; k++) {
		struct folder_entry *e = &fl.e[k];
		const char *child = NULL, *seen;

		matched = 0;
		seen = entry_name(s, e->name, &uname);
		for (i = 0; i < npats && !matched; i++) {
			one = imap_arg_astring(&pats[i]);
			if (client_pattern(ref, one,
			    s->conf->hierarchy_separator, &pat) == 0 &&
			    match(buf_cstr(&pat), seen,
			    s->conf->hierarchy_separator))
				matched = 1;
		}
		if (!matched)
			continue;
		if (opts & SEL_SUBSCRIBED) {
			if (!(e->attrs & FA_SUBSCRIBED)) {
				if (!(opts & SEL_RECURSIVE) && !lsub)
					continue;
				if (!has_subscribed_child(s, &fl, e->name))
					continue;
				if (lsub) {
					/* LSUB shows a parent of a
					 * subscribed folder the pattern
					 * does not reach as \Noselect */
					write_entry(s, "LSUB", e->name,
					    FA_NOSELECT, opts, NULL);
					continue;
				}
				child = "SUBSCRIBED";
			}
		} else if (e->attrs & FA_NONEXISTENT)
			continue;
		if ((opts & SEL_SPECIALUSE) && !is_special(s, e->name))
			continue;
		write_entry(s, lsub ? "LSUB" : "LIST", e->name, lsub ?
		    (e->attrs & (FA_NOSELECT | FA_NONEXISTENT) ?
		    FA_NOSELECT : 0) : e->attrs, opts, child);
		if ((opts & RET_STATUS) && !(e->attrs & (FA_NOSELECT |
		    FA_NONEXISTENT)) &&
		    folder_path(s->mailroot, e->name, path, sizeof(path),
		    &why) == 0)
			(void)status_write(s, e->name, path, st);
	}
	buf_free(&pat);
	buf_free(&uname);
	folder_list_free(&fl);
	reply_ok(s, c, "%s completed", lsub ? "LSUB" : "LIST");
	return;
bad:
	reply_bad(s, c, "%s takes a reference and a mailbox pattern%s",
	    lsub ? "LSUB" : "LIST", lsub ? "" : " (RFC 5258 options "
	    "allowed)");
}

void
cmd_list(struct session *s, const struct request *c)
{
	do_list(s, c, 0);
}

void
cmd_lsub(struct session *s, const struct request *c)
{
	do_list(s, c, 1);
}
