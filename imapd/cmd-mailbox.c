/*
 * cmd-mailbox: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051
 * 6.3.4 - 6.3.8).  The work is in maildir/folder.c; this file turns
 * client names into folder names and errors into IMAP response codes.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/selected.h"
#include "maildir/folder.h"

/* One mailbox argument in the on-disk form; 0, or -1 (answered). */
static int
name_arg(struct session *s, const struct cmd *c, size_t i, struct buf *out)
{
	const char *arg, *why;

	if ((arg = imap_arg_astring(&c->args[i])) == NULL) {
		cmd_bad(s, c, "%s takes a mailbox name", c->name);
		return -1;
	}
	if (mbname_from_client(s, arg, out, &why) == -1) {
		cmd_no(s, c, "%s", why);
		return -1;
	}
	return 0;
}

void
cmd_create(struct session *s, const struct cmd *c)
{
	struct buf name, arg;
	const char *why, *a;
	size_t len;

	if (c->nargs != 1) {
		cmd_bad(s, c, "CREATE takes one mailbox name");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	buf_init(&arg, FOLDER_NAME_MAX * 4);
	if ((a = imap_arg_astring(&c->args[0])) == NULL) {
		cmd_bad(s, c, "CREATE takes a mailbox name");
		goto out;
	}
	/* "A/B/" asks for A/B, which may get children (RFC 9051 6.3.4) */
	len = strlen(a);
	if (len > 1 && a[len - 1] == '/')
		len--;
	if (buf_add(&arg, a, len) == -1) {
		cmd_no(s, c, "The mailbox name is too long.");
		goto out;
	}
	if (mbname_from_client(s, buf_cstr(&arg), &name, &why) == -1) {
		cmd_no(s, c, "%s", why);
		goto out;
	}
	if (mbname_is_inbox(buf_cstr(&name))) {
		cmd_no(s, c, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (folder_create(s->mailroot, buf_cstr(&name), &why) == -1) {
		cmd_no(s, c, "%s%s", cmd_errcode(errno), why);
		goto out;
	}
	cmd_ok(s, c, "CREATE completed");
out:
	buf_free(&name);
	buf_free(&arg);
}

void
cmd_delete(struct session *s, const struct cmd *c)
{
	struct buf name;
	const char *why;

	if (c->nargs != 1) {
		cmd_bad(s, c, "DELETE takes one mailbox name");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &name) == -1)
		goto out;
	if (mbname_is_inbox(buf_cstr(&name))) {
		cmd_no(s, c, "INBOX cannot be deleted");
		goto out;
	}
	/* deleting the selected mailbox unselects it first */
	if (s->mb != NULL && strcmp(s->mbname, buf_cstr(&name)) == 0)
		selected_close(s);
	if (folder_delete(s->mailroot, buf_cstr(&name), &why) == -1) {
		cmd_no(s, c, "%s%s", cmd_errcode(errno), why);
		goto out;
	}
	log_info("deleted folder %s", buf_cstr(&name));
	cmd_ok(s, c, "DELETE completed");
out:
	buf_free(&name);
}

void
cmd_rename(struct session *s, const struct cmd *c)
{
	struct buf from, to;
	const char *why;

	if (c->nargs != 2) {
		cmd_bad(s, c, "RENAME takes two mailbox names");
		return;
	}
	buf_init(&from, FOLDER_NAME_MAX);
	buf_init(&to, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &from) == -1 || name_arg(s, c, 1, &to) == -1)
		goto out;
	if (mbname_is_inbox(buf_cstr(&to))) {
		cmd_no(s, c, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (s->mb != NULL && strcmp(s->mbname, buf_cstr(&from)) == 0 &&
	    !mbname_is_inbox(buf_cstr(&from)))
		selected_close(s);
	if (folder_rename(s->mailroot, buf_cstr(&from), buf_cstr(&to), &why)
	    == -1) {
		cmd_no(s, c, "%s%s", cmd_errcode(errno), why);
		goto out;
	}
	cmd_ok(s, c, "RENAME completed");
out:
	buf_free(&from);
	buf_free(&to);
}

static void
subscribe(struct session *s, const struct cmd *c, int on)
{
	struct buf name;

	if (c->nargs != 1) {
		cmd_bad(s, c, "%s takes one mailbox name", c->name);
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (name_arg(s, c, 0, &name) == -1)
		goto out;
	if (folder_subscribe(s->mailroot, buf_cstr(&name), on) == -1) {
		log_warn("cannot update subscriptions");
		cmd_no(s, c, "%sCannot update subscriptions", cmd_errcode(errno));
		goto out;
	}
	cmd_ok(s, c, "%s completed", c->name);
out:
	buf_free(&name);
}

void
cmd_subscribe(struct session *s, const struct cmd *c)
{
	subscribe(s, c, 1);
}

void
cmd_unsubscribe(struct session *s, const struct cmd *c)
{
	subscribe(s, c, 0);
}
