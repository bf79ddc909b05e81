/*
 * cmd-quota: GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208).
 *
 * One quota root, "", holds every folder of the Maildir (Maildir++ has
 * one maildirsize for all of them).  Its resources are STORAGE, in units
 * of 1024 octets (usage rounded up, the limit down, so that a client
 * never sees room that is not there), and MESSAGE.  A user without a
 * quota has no root: GETQUOTAROOT names none.  Limits are set by the
 * administrator (imapd.conf, the userdb, or the delivery agent's
 * maildirsize), never by a client.
 */
#include <sys/stat.h>

#include <string.h>

#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "maildir/folder.h"
#include "maildir/maildirsize.h"

/* "* QUOTA "" (...)" for the root. */
static void
write_quota(struct session *s, const struct maildirsize *q)
{
	const char *sep = "";
	uint64_t bytes = q->bytes > 0 ? (uint64_t)q->bytes : 0;
	uint64_t msgs = q->messages > 0 ? (uint64_t)q->messages : 0;

	session_printf(s, "* QUOTA \"\" (");
	if (q->limits.bytes > 0) {
		session_printf(s, "STORAGE %llu %llu",
		    (unsigned long long)((bytes + 1023) / 1024),
		    (unsigned long long)(q->limits.bytes / 1024));
		sep = " ";
	}
	if (q->limits.messages > 0)
		session_printf(s, "%sMESSAGE %llu %llu", sep,
		    (unsigned long long)msgs,
		    (unsigned long long)q->limits.messages);
	session_printf(s, ")\r\n");
}

void
cmd_getquota(struct session *s, const struct request *c)
{
	struct maildirsize q;
	const char *root;
	int r;

	if (c->nargs != 1 || (root = imap_arg_astring(&c->args[0])) == NULL) {
		reply_bad(s, c, "GETQUOTA takes a quota root (\"\")");
		return;
	}
	if (root[0] != '\0') {
		reply_no(s, c, "[NONEXISTENT] No such quota root (the one root "
		    "is \"\")");
		return;
	}
	if ((r = quota_get(s, &q)) == -1) {
		reply_no(s, c, "[SERVERBUG] The quota cannot be read; the "
		    "server log says why");
		return;
	}
	if (r == 0) {
		reply_no(s, c, "[NONEXISTENT] No quota is set for this "
		    "account");
		return;
	}
	write_quota(s, &q);
	maildirsize_close(&q);
	reply_ok(s, c, "GETQUOTA completed");
}

void
cmd_getquotaroot(struct session *s, const struct request *c)
{
	char path[FOLDER_PATH_MAX];
	struct maildirsize q;
	const char *arg, *why;
	struct buf name;
	struct stat sb;
	int r;

	if (c->nargs != 1 || (arg = imap_arg_astring(&c->args[0])) == NULL) {
		reply_bad(s, c, "GETQUOTAROOT takes a mailbox");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (mbname_from_client(s, arg, &name, &why) == -1 ||
	    mbname_path(s, buf_cstr(&name), path, sizeof(path), &why) == -1) {
		reply_no(s, c, "%s", why);
		goto out;
	}
	if (stat(path, &sb) == -1) {
		reply_no(s, c, "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if ((r = quota_get(s, &q)) == -1) {
		reply_no(s, c, "[SERVERBUG] The quota cannot be read; the "
		    "server log says why");
		goto out;
	}
	session_printf(s, "* QUOTAROOT ");
	mbname_write(s, buf_cstr(&name));
	session_printf(s, "%s\r\n", r == 1 ? " \"\"" : "");
	if (r == 1) {
		write_quota(s, &q);
		maildirsize_close(&q);
	}
	reply_ok(s, c, "GETQUOTAROOT completed");
out:
	buf_free(&name);
}

void
cmd_setquota(struct session *s, const struct request *c)
{
	if (c->nargs != 2 || imap_arg_astring(&c->args[0]) == NULL ||
	    c->args[1].type != IMAP_ARG_LIST) {
		reply_bad(s, c, "SETQUOTA takes a quota root and a list of "
		    "resource limits");
		return;
	}
	reply_no(s, c, "[NOPERM] Quotas are set by the administrator, not "
	    "over IMAP");
}
