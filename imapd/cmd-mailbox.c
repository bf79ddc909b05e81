/*
 * cmd-mailbox: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051
 * 6.3.4 - 6.3.8).  The work is in maildir/folder.c; this file turns
 * client names into folder names and errors into IMAP response codes.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/config.h"
#include "imapd/mbname.h"
#include "imapd/selected.h"
#include "imapd/specialuse.h"
#include "imapd/storecheck.h"
#include "maildir/folder.h"
#include "maildir/objectid.h"

/* One mailbox argument in the on-disk form; 0, or -1 (answered). */
static int
name_arg(struct session *s, const struct request *c, size_t i, struct buf *out)
{
	const char *arg, *why;

	if ((arg = imap_arg_astring(&c->args[i])) == NULL) {
		reply_bad(s, c, "%s takes a mailbox name", c->name);
		return -1;
	}
	if (mbname_from_client(s, arg, out, &why) == -1) {
		reply_no(s, c, "%s", why);
		return -1;
	}
	return 0;
}

/*
 * The roles a CREATE asks for (RFC 6154 3: "(USE (\\Sent ...))"), canonical,
 * into flags; how many, or -1 (answered).  \\All and \\Flagged name
 * virtual folders, which imapd does not keep.
 */
static int
create_use(struct session *s, const struct request *c, const char **flags)
{
	const struct imap_arg *p = &c->args[1], *use;
	const char *name, *flag;
	size_t i, j;
	int n = 0;

	if (p->type != IMAP_ARG_LIST) {
		reply_bad(s, c, "CREATE takes a mailbox name and a parameter "
		    "list");
		return -1;
	}
	for (i = 0; i < p->len; i += 2) {
		name = imap_arg_atom(&p->list[i]);
		if (name == NULL || strcasecmp(name, "USE") != 0 ||
		    i + 1 == p->len || p->list[i + 1].type != IMAP_ARG_LIST) {
			reply_bad(s, c, "CREATE knows only the parameter "
			    "USE (flags)");
			return -1;
		}
		use = &p->list[i + 1];
		for (j = 0; j < use->len; j++) {
			if ((name = imap_arg_atom(&use->list[j])) == NULL ||
			    (flag = specialuse_canonical(name,
			    strlen(name))) == NULL) {
				reply_bad(s, c, "USE takes special-use flags");
				return -1;
			}
			if (strcmp(flag, "\\All") == 0 ||
			    strcmp(flag, "\\Flagged") == 0) {
				reply_no(s, c, "[USEATTR] %s would be a "
				    "virtual folder, which this server does "
				    "not keep", flag);
				return -1;
			}
			if (n == SPECIALUSE_MAX) {
				reply_no(s, c, "[USEATTR] Too many special-use "
				    "flags");
				return -1;
			}
			flags[n++] = flag;
		}
	}
	return n;
}

/* The tagged OK of CREATE, with the new folder's MAILBOXID (RFC 8474
 * 4.1) when it can be made (else it comes at SELECT or STATUS). */
static void
create_ok(struct session *s, const struct request *c, const char *name)
{
	char path[FOLDER_PATH_MAX], id[OBJECTID_LEN + 1];
	const char *why;

	if (mbname_path(s, name, path, sizeof(path), &why) == 0 &&
	    objectid_folder(path, id) == 0) {
		reply_ok(s, c, "[MAILBOXID (%s)] CREATE completed", id);
		return;
	}
	log_warn("CREATE %s: no MAILBOXID could be made", name);
	reply_ok(s, c, "CREATE completed");
}

void
cmd_create(struct session *s, const struct request *c)
{
	struct buf name, arg;
	const char *why, *a, *flags[SPECIALUSE_MAX];
	size_t len;
	int nflags = 0;

	if (c->nargs != 1 && c->nargs != 2) {
		reply_bad(s, c, "CREATE takes one mailbox name");
		return;
	}
	if (c->nargs == 2 && (nflags = create_use(s, c, flags)) == -1)
		return;
	buf_init(&name, FOLDER_NAME_MAX);
	buf_init(&arg, FOLDER_NAME_MAX * 4);
	if ((a = imap_arg_astring(&c->args[0])) == NULL) {
		reply_bad(s, c, "CREATE takes a mailbox name");
		goto out;
	}
	/* "A/B/" asks for A/B, which may get children (RFC 9051 6.3.4) */
	len = strlen(a);
	if (len > 1 && a[len - 1] == s->conf->hierarchy_separator)
		len--;
	if (buf_add(&arg, a, len) == -1) {
		reply_no(s, c, "The mailbox name is too long.");
		goto out;
	}
	if (mbname_from_client(s, buf_cstr(&arg), &name, &why) == -1) {
		reply_no(s, c, "%s", why);
		goto out;
	}
	if (mbname_is_inbox(buf_cstr(&name))) {
		reply_no(s, c, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (!storecheck_marker(s->conf, "CREATE")) {
		reply_no(s, c, "[UNAVAILABLE] The mail store is not available "
		    "now; try again later");
		goto out;
	}
	if (folder_create(s->mailroot, buf_cstr(&name), &why) == -1) {
		reply_no(s, c, "%s%s", errno_code(errno), why);
		goto out;
	}
	/* a folder whose role cannot be recorded is not created (RFC
	 * 6154 3) */
	if (nflags > 0 && specialuse_assign(&s->specialuse, s->mailroot,
	    buf_cstr(&name), flags, (size_t)nflags) == -1) {
		log_warn("cannot record the special-use folders in %s",
		    s->mailroot);
		(void)folder_delete(s->mailroot, buf_cstr(&name), &why);
		reply_no(s, c, "[USEATTR] The folder's special use cannot be "
		    "recorded");
		goto out;
	}
	create_ok(s, c, buf_cstr(&name));
out:
	buf_free(&name);
	buf_free(&arg);
}

void
cmd_delete(struct session *s, const struct request *c)
{
	struct buf name;
	const char *why;

	if (c->nargs != 1) {
		reply_bad(s, c, "DELETE takes one mailbox name");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &name) == -1)
		goto out;
	if (mbname_is_inbox(buf_cstr(&name))) {
		reply_no(s, c, "INBOX cannot be deleted");
		goto out;
	}
	/* deleting the selected mailbox unselects it first */
	if (s->mb != NULL && strcmp(s->mbname, buf_cstr(&name)) == 0)
		selected_close(s);
	if (folder_delete(s->mailroot, buf_cstr(&name), &why) == -1) {
		reply_no(s, c, "%s%s", errno_code(errno), why);
		goto out;
	}
	log_info("deleted folder %s", buf_cstr(&name));
	reply_ok(s, c, "DELETE completed");
out:
	buf_free(&name);
}

void
cmd_rename(struct session *s, const struct request *c)
{
	struct buf from, to;
	const char *why;

	if (c->nargs != 2) {
		reply_bad(s, c, "RENAME takes two mailbox names");
		return;
	}
	buf_init(&from, FOLDER_NAME_MAX);
	buf_init(&to, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &from) == -1 || name_arg(s, c, 1, &to) == -1)
		goto out;
	if (mbname_is_inbox(buf_cstr(&to))) {
		reply_no(s, c, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (s->mb != NULL && strcmp(s->mbname, buf_cstr(&from)) == 0 &&
	    !mbname_is_inbox(buf_cstr(&from)))
		selected_close(s);
	if (folder_rename(s->mailroot, buf_cstr(&from), buf_cstr(&to), &why)
	    == -1) {
		reply_no(s, c, "%s%s", errno_code(errno), why);
		goto out;
	}
	/* INBOX stays where it is; only its messages move */
	if (!mbname_is_inbox(buf_cstr(&from)))
		specialuse_renamed(&s->specialuse, s->mailroot,
		    buf_cstr(&from), buf_cstr(&to));
	reply_ok(s, c, "RENAME completed");
out:
	buf_free(&from);
	buf_free(&to);
}

static void
subscribe(struct session *s, const struct request *c, int on)
{
	struct buf name;

	if (c->nargs != 1) {
		reply_bad(s, c, "%s takes one mailbox name", c->name);
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &name) == -1)
		goto out;
	if (folder_subscribe(s->mailroot, buf_cstr(&name), on) == -1) {
		log_warn("cannot update subscriptions");
		reply_no(s, c, "%sCannot update "
		    "subscriptions", errno_code(errno));
		goto out;
	}
	reply_ok(s, c, "%s completed", c->name);
out:
	buf_free(&name);
}

void
cmd_subscribe(struct session *s, const struct request *c)
{
	subscribe(s, c, 1);
}

void
cmd_unsubscribe(struct session *s, const struct request *c)
{
	subscribe(s, c, 0);
}
