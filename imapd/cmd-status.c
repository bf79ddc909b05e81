/*
 * cmd-status: STATUS (RFC 9051 6.3.11) with MESSAGES RECENT UIDNEXT
 * UIDVALIDITY UNSEEN DELETED SIZE (RFC 8438) HIGHESTMODSEQ
 * DELETED-STORAGE (RFC 9208) MAILBOXID (RFC 8474).  An unchanged folder
 * is answered from its UID cache without opening a message; SIZE reads
 * only messages whose size is not yet known; DELETED-STORAGE looks at
 * the names of the \Deleted messages.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "imapd/selected.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"
#include "maildir/objectid.h"

#define ST_MESSAGES	0x01
#define ST_RECENT	0x02
#define ST_UIDNEXT	0x04
#define ST_UIDVALIDITY	0x08
#define ST_UNSEEN	0x10
#define ST_DELETED	0x20
#define ST_SIZE		0x40
#define ST_HIGHESTMODSEQ 0x80
#define ST_DELETED_STORAGE 0x100
#define ST_MAILBOXID	0x200

static const struct {
	const char	*name;
	unsigned	 bit;
} items[] = {
	{ "MESSAGES", ST_MESSAGES }, { "RECENT", ST_RECENT },
	{ "UIDNEXT", ST_UIDNEXT }, { "UIDVALIDITY", ST_UIDVALIDITY },
	{ "UNSEEN", ST_UNSEEN }, { "DELETED", ST_DELETED },
	{ "SIZE", ST_SIZE }, { "HIGHESTMODSEQ", ST_HIGHESTMODSEQ },
	{ "DELETED-STORAGE", ST_DELETED_STORAGE },
	{ "MAILBOXID", ST_MAILBOXID },
};

/* Parse a STATUS item list; the item bits, or 0 if invalid. */
unsigned
status_items(const struct imap_arg *a)
{
	unsigned want = 0;
	const char *w;
	size_t i, k;

	if (a->type != IMAP_ARG_LIST || a->len == 0)
		return 0;
	for (i = 0; i < a->len; i++) {
		if ((w = imap_arg_atom(&a->list[i])) == NULL)
			return 0;
		for (k = 0; k < sizeof(items) / sizeof(items[0]); k++)
			if (strcasecmp(w, items[k].name) == 0)
				break;
		if (k == sizeof(items) / sizeof(items[0]))
			return 0;
		want |= items[k].bit;
	}
	return want;
}

/* Write "* STATUS name (...)" for the folder at path; 0 or -1. */
int
status_write(struct session *s, const char *name, const char *path,
    unsigned want)
{
	struct mailbox_status st;
	const char *sep = "";
	uint64_t deleted_kib = 0;
	char id[OBJECTID_LEN + 1];

	if (mailbox_status(path, (want & ST_SIZE) != 0, &st) == -1)
		return -1;
	if ((want & ST_MAILBOXID) && objectid_folder(path, id) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot read or make %s (the folder's "
			    "directory must be writable)", path, OBJECTID_FILE);
		return -1;
	}
	if ((want & ST_DELETED_STORAGE) && st.deleted > 0 &&
	    quota_deleted_kib(path, &deleted_kib) == -1)
		return -1;
	session_printf(s, "* STATUS ");
	mbname_write(s, name);
	session_printf(s, " (");
#define ITEM(bit, label, val) do {					\
	if (want & (bit)) {						\
		session_printf(s, "%s" label " %llu", sep,		\
		    (unsigned long long)(val));				\
		sep = " ";						\
	}								\
} while (0)
	ITEM(ST_MESSAGES, "MESSAGES", st.messages);
	ITEM(ST_RECENT, "RECENT", st.recent);
	ITEM(ST_UIDNEXT, "UIDNEXT", st.uidnext);
	ITEM(ST_UIDVALIDITY, "UIDVALIDITY", st.uidvalidity);
	ITEM(ST_UNSEEN, "UNSEEN", st.unseen);
	ITEM(ST_DELETED, "DELETED", st.deleted);
	ITEM(ST_SIZE, "SIZE", st.size);
	ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ", st.highestmodseq);
	ITEM(ST_DELETED_STORAGE, "DELETED-STORAGE", deleted_kib);
#undef ITEM
	if (want & ST_MAILBOXID)
		session_printf(s, "%sMAILBOXID (%s)", sep, id);
	session_printf(s, ")\r\n");
	return 0;
}

void
cmd_status(struct session *s, const struct request *c)
{
	char path[FOLDER_PATH_MAX];
	const char *arg, *why;
	struct buf name;
	unsigned want;

	if (c->nargs != 2 || (arg = imap_arg_astring(&c->args[0])) == NULL ||
	    (want = status_items(&c->args[1])) == 0) {
		reply_bad(s, c, "STATUS takes a mailbox and a list of items "
		    "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED "
		    "SIZE DELETED-STORAGE MAILBOXID)");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	if (mbname_from_client(s, arg, &name, &why) == -1 ||
	    mbname_path(s, buf_cstr(&name), path, sizeof(path), &why) == -1) {
		reply_no(s, c, "%s", why);
		goto out;
	}
	/* a CONDSTORE enabling command (RFC 7162 3.1) */
	if (want & ST_HIGHESTMODSEQ)
		selected_condstore(s);
	if (status_write(s, buf_cstr(&name), path, want) == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			reply_no(s, c, "[NONEXISTENT] No such mailbox");
		else
			reply_no(s, c, "%sCannot read the mailbox; the server "
			    "log says why", errno_code(errno));
		goto out;
	}
	reply_ok(s, c, "STATUS completed");
out:
	buf_free(&name);
}
