/*
 * mbname: mailbox name conversion.  See mbname.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imap/mutf7.h"
#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/config.h"
#include "imapd/mbname.h"
#include "imapd/session.h"
#include "maildir/folder.h"

/* RFC 6855 3: a UTF-8 mailbox name holds no line or paragraph separator
 * (U+2028, U+2029), which utf8_valid() lets through. */
static int
has_separator(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i;

	for (i = 0; i + 2 < len; i++)
		if (p[i] == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
			return 1;
	return 0;
}

int
mbname_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* Does in begin with INBOX (any case) and then sep? */
static int
inbox_child(const char *in, char sep)
{
	return strncasecmp(in, "INBOX", 5) == 0 && in[5] == sep;
}

/*
 * A name in the client's spelling (separator sep, levels below "INBOX" +
 * sep when the prefix is on) to the on-disk form.  prefix: 1 to refuse a
 * name outside INBOX + sep, 0 to take such a name as relative to it.
 */
static int
to_disk(const struct config *conf, int prefix, int utf8, const char *in,
    struct buf *out, const char **why_r)
{
	char sep = conf->hierarchy_separator;
	struct buf rest;
	size_t len = strlen(in), i;
	int r = -1;

	buf_reset(out);
	if (len == 0) {
		*why_r = "Empty mailbox name";
		return -1;
	}
	if (len > FOLDER_NAME_MAX) {
		*why_r = "Mailbox name too long";
		return -1;
	}
	/* INBOX is case-insensitive, and so is INBOX + sep as a prefix */
	if (strcasecmp(in, "INBOX") == 0) {
		if (buf_adds(out, "INBOX") == -1)
			goto toolong;
		return 0;
	}
	if (conf->inbox_prefix) {
		if (inbox_child(in, sep))
			in += 6;
		else if (prefix) {
			*why_r = sep == '.' ? "Mailbox names begin with "
			    "\"INBOX.\" here (see NAMESPACE)" : "Mailbox "
			    "names begin with \"INBOX/\" here (see NAMESPACE)";
			return -1;
		}
		/* "INBOX.INBOX" would be INBOX itself under another name */
		if (strcasecmp(in, "INBOX") == 0) {
			*why_r = "INBOX is not a name below INBOX";
			return -1;
		}
	} else if (inbox_child(in, sep)) {
		if (buf_add(out, "INBOX", 5) == -1)
			goto toolong;
		in += 5;
	}
	/* levels are separated by "/" in the on-disk form; under "." a "/"
	 * could only split a level in two, so it is refused */
	buf_init(&rest, FOLDER_NAME_MAX);
	for (i = 0; in[i] != '\0'; i++) {
		if (sep == '.' && in[i] == '/') {
			*why_r = "Mailbox name contains \"/\", which cannot be "
			    "part of a name when the hierarchy separator is "
			    "\".\"";
			goto out;
		}
		if (buf_addc(&rest, in[i] == sep ? '/' : in[i]) == -1) {
			*why_r = "Mailbox name too long";
			goto out;
		}
	}
	in = buf_cstr(&rest);
	len = rest.len;
	if (utf8) {
		if (!utf8_valid(in, len) || has_separator(in, len)) {
			*why_r = "Mailbox name is not valid UTF-8 without "
			    "controls (RFC 6855 3)";
			goto out;
		}
		if (mutf7_encode(in, len, out) == -1) {
			*why_r = "Mailbox name too long";
			goto out;
		}
	} else {
		if (!mutf7_valid(in, len)) {
			*why_r = "Mailbox name is not valid modified UTF-7 "
			    "(RFC 3501 5.1.3)";
			goto out;
		}
		if (buf_add(out, in, len) == -1) {
			*why_r = "Mailbox name too long";
			goto out;
		}
	}
	if (out->len > FOLDER_NAME_MAX)
		*why_r = "Mailbox name too long";
	else
		r = folder_check_name(buf_cstr(out), why_r);
out:
	buf_free(&rest);
	return r;
toolong:
	*why_r = "Mailbox name too long";
	return -1;
}

int
mbname_from_client(const struct session *s, const char *in, struct buf *out,
    const char **why_r)
{
	if (to_disk(s->conf, 1, session_utf8(s), in, out, why_r) == 0)
		return 0;
	log_info("mailbox name \"%.200s\" refused: %s", in, *why_r);
	return -1;
}

int
mbname_from_config(const struct config *conf, const char *in,
    struct buf *out, const char **why_r)
{
	return to_disk(conf, 0, 1, in, out, why_r);
}

int
mbname_path(const struct session *s, const char *name, char *path,
    size_t pathlen, const char **why_r)
{
	return folder_path(s->mailroot, name, path, pathlen, why_r);
}

int
mbname_target(struct session *s, const struct request *c, const char *arg,
    struct buf *name, char *path, size_t pathlen)
{
	const char *why;
	int fd;

	if (mbname_from_client(s, arg, name, &why) == -1 ||
	    mbname_path(s, buf_cstr(name), path, pathlen, &why) == -1) {
		reply_no(s, c, "%s", why);
		return -1;
	}
	if ((fd = folder_open(path)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			reply_no(s, c, "[TRYCREATE] No such mailbox");
		else
			reply_no(s, c, "%sThe mailbox cannot be opened",
			    errno_code(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int
mbname_client(const struct session *s, const char *name, struct buf *out)
{
	char sep = s->conf->hierarchy_separator;
	struct buf disk;
	size_t i;
	int r = -1;

	buf_reset(out);
	if (mbname_is_inbox(name))
		return buf_adds(out, "INBOX");
	buf_init(&disk, FOLDER_NAME_MAX * 2);
	if (s->conf->inbox_prefix && (buf_adds(&disk, "INBOX") == -1 ||
	    buf_addc(&disk, sep) == -1))
		goto out;
	/* no "." or "/" is ever part of a level on disk, nor in a
	 * modified UTF-7 base64 run, so this is undone exactly */
	for (i = 0; name[i] != '\0'; i++)
		if (buf_addc(&disk, name[i] == '/' ? sep : name[i]) == -1)
			goto out;
	if (session_utf8(s) &&
	    mutf7_decode(buf_cstr(&disk), disk.len, out) == 0)
		r = 0;
	else {
		buf_reset(out);
		r = buf_add(out, buf_cstr(&disk), disk.len);
	}
out:
	buf_free(&disk);
	return r;
}

void
mbname_write(struct session *s, const char *name)
{
	struct buf u;

	buf_init(&u, FOLDER_NAME_MAX * 4 + 8);
	if (mbname_client(s, name, &u) == -1)
		session_astring(s, name);
	else
		session_astring(s, buf_cstr(&u));
	buf_free(&u);
}
