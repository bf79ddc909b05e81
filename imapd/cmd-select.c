/*
 * cmd-select: SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3), UNSELECT
 * (RFC 3691), CLOSE and CHECK.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/selected.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"

static void
do_select(struct session *s, const struct cmd *c, int examine)
{
	char path[FOLDER_PATH_MAX];
	struct mailbox *mb;
	struct buf name;
	const char *arg, *why;
	uint32_t unseen;

	if (c->nargs != 1 || (arg = imap_arg_astring(&c->args[0])) == NULL) {
		cmd_bad(s, c, "%s takes one mailbox name", c->name);
		return;
	}
	/* a failed SELECT leaves no mailbox selected (RFC 9051 6.3.2) */
	if (s->mb != NULL) {
		selected_close(s);
		if (s->enabled & ENABLED_IMAP4REV2)
			session_printf(s, "* OK [CLOSED] Previous mailbox "
			    "closed\r\n");
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (mbname_from_client(s, arg, &name, &why) == -1 ||
	    mbname_path(s, buf_cstr(&name), path, sizeof(path), &why) == -1) {
		cmd_no(s, c, "%s", why);
		goto out;
	}
	if (mailbox_open(path, examine, &mb, &why) == -1) {
		cmd_no(s, c, "%s", why);
		goto out;
	}
	s->mb = mb;
	s->mbname = strdup(buf_cstr(&name));
	if (s->mbname == NULL)
		fatal("strdup");
	s->examine = examine != 0;
	s->state = STATE_SELECTED;

	selected_write_flag_lists(s);
	session_printf(s, "* %u EXISTS\r\n", mailbox_count(mb));
	if (!(s->enabled & ENABLED_IMAP4REV2)) {
		session_printf(s, "* %u RECENT\r\n", mailbox_recent(mb));
		if ((unseen = mailbox_unseen_first(mb)) != 0)
			session_printf(s, "* OK [UNSEEN %u] First unseen\r\n",
			    unseen);
	}
	session_printf(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
	    mailbox_uidvalidity(mb));
	session_printf(s, "* OK [UIDNEXT %u] Predicted next UID\r\n",
	    mailbox_uidnext(mb));
	if (s->enabled & ENABLED_IMAP4REV2) {
		session_printf(s, "* LIST () \"/\" ");
		mbname_write(s, s->mbname);
		session_printf(s, "\r\n");
	}
	cmd_ok(s, c, "[%s] %s completed", examine ? "READ-ONLY" :
	    "READ-WRITE", c->name);
out:
	buf_free(&name);
}

void
cmd_select(struct session *s, const struct cmd *c)
{
	do_select(s, c, 0);
}

void
cmd_examine(struct session *s, const struct cmd *c)
{
	do_select(s, c, 1);
}

void
cmd_unselect(struct session *s, const struct cmd *c)
{
	if (c->nargs != 0) {
		cmd_bad(s, c, "UNSELECT takes no arguments");
		return;
	}
	selected_close(s);
	cmd_ok(s, c, "UNSELECT completed");
}

void
cmd_close(struct session *s, const struct cmd *c)
{
	if (c->nargs != 0) {
		cmd_bad(s, c, "CLOSE takes no arguments");
		return;
	}
	/* CLOSE expunges silently (no EXPUNGE responses) unless read-only */
	if (!s->examine && mailbox_expunge(s->mb, NULL, 0, NULL) == -1)
		log_warn("CLOSE: expunge of %s incomplete", s->mbname);
	selected_close(s);
	cmd_ok(s, c, "CLOSE completed");
}

void
cmd_check(struct session *s, const struct cmd *c)
{
	if (c->nargs != 0) {
		cmd_bad(s, c, "CHECK takes no arguments");
		return;
	}
	mailbox_flush_facts(s->mb);
	cmd_ok(s, c, "CHECK completed");
}
