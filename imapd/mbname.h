/*
 * mbname: mailbox names between the client and the disk.
 *
 * On disk (and in every maildir/ function) a name is modified UTF-7 with
 * "/" between levels, and INBOX is "INBOX".  IMAP4rev1 clients send and
 * receive that form; clients that enabled IMAP4rev2 or UTF8=ACCEPT use
 * UTF-8, converted here in both directions.
 */
#ifndef IMAPD_MBNAME_H
#define IMAPD_MBNAME_H

#include <stddef.h>

#include "common/buf.h"

struct session;

/* Convert a client's mailbox argument to the on-disk form in out.  0, or
 * -1 with *why_r (for a NO response). */
int	mbname_from_client(const struct session *, const char *in,
	    struct buf *out, const char **why_r);

/* The directory of a mailbox (on-disk name).  0 or -1 with *why_r. */
int	mbname_path(const struct session *, const char *name, char *path,
	    size_t pathlen, const char **why_r);

/*
 * The target of APPEND, COPY or MOVE: the client's name in the on-disk
 * form in name, its directory in path.  0, or -1 after answering NO
 * (with [TRYCREATE] when the mailbox does not exist, RFC 9051 6.3.12).
 */
struct cmd;
int	mbname_target(struct session *, const struct cmd *, const char *arg,
	    struct buf *name, char *path, size_t pathlen);

/* Write a mailbox name to the client as an astring, in its form. */
void	mbname_write(struct session *, const char *name);

/* 1 if name (on-disk form) is INBOX. */
int	mbname_is_inbox(const char *name);

#endif
