/*
 * mbname: mailbox name conversion.  See mbname.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/mutf7.h"
#include "imapd/cmdutil.h"
#include "imapd/mbname.h"
#include "imapd/session.h"
#include "maildir/folder.h"

static int
utf8_client(const struct session *s)
{
	return (s->enabled & (ENABLED_IMAP4REV2 | ENABLED_UTF8)) != 0;
}

int
mbname_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

int
mbname_from_client(const struct session *s, const char *in, struct buf *out,
    const char **why_r)
{
	size_t len = strlen(in);

	buf_reset(out);
	if (len == 0) {
		*why_r = "Empty mailbox name";
		return -1;
	}
	if (len > FOLDER_NAME_MAX) {
		*why_r = "Mailbox name too long";
		return -1;
	}
	/* INBOX is case-insensitive, and so is INBOX/ as a prefix */
	if (strncasecmp(in, "INBOX", 5) == 0 && (in[5] == '\0' ||
	    in[5] == '/')) {
		if (buf_add(out, "INBOX", 5) == -1)
			goto toolong;
		in += 5;
		len -= 5;
	}
	if (utf8_client(s)) {
		if (!utf8_valid(in, len)) {
			*why_r = "Mailbox name is not valid UTF-8";
			return -1;
		}
		if (mutf7_encode(in, len, out) == -1)
			goto toolong;
	} else {
		if (!mutf7_valid(in, len)) {
			*why_r = "Mailbox name is not valid modified UTF-7 "
			    "(RFC 3501 5.1.3)";
			return -1;
		}
		if (buf_add(out, in, len) == -1)
			goto toolong;
	}
	if (out->len > FOLDER_NAME_MAX)
		goto toolong;
	return folder_check_name(buf_cstr(out), why_r);
toolong:
	*why_r = "Mailbox name too long";
	return -1;
}

int
mbname_path(const struct session *s, const char *name, char *path,
    size_t pathlen, const char **why_r)
{
	return folder_path(s->mailroot, name, path, pathlen, why_r);
}

int
mbname_target(struct session *s, const struct cmd *c, const char *arg,
    struct buf *name, char *path, size_t pathlen)
{
	const char *why;
	int fd;

	if (mbname_from_client(s, arg, name, &why) == -1 ||
	    mbname_path(s, buf_cstr(name), path, pathlen, &why) == -1) {
		cmd_no(s, c, "%s", why);
		return -1;
	}
	if ((fd = folder_open(path)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			cmd_no(s, c, "[TRYCREATE] No such mailbox");
		else
			cmd_no(s, c, "%sThe mailbox cannot be opened",
			    cmd_errcode(errno));
		return -1;
	}
	close(fd);
	return 0;
}

void
mbname_write(struct session *s, const char *name)
{
	struct buf u;

	if (!utf8_client(s)) {
		session_astring(s, name);
		return;
	}
	buf_init(&u, FOLDER_NAME_MAX * 4);
	if (mutf7_decode(name, strlen(name), &u) == -1)
		session_astring(s, name);
	else
		session_astring(s, buf_cstr(&u));
	buf_free(&u);
}
