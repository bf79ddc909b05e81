/*
 * mbname: mailbox names between the client and the disk.
 *
 * On disk (and in every maildir/ function) a name is modified UTF-7 with
 * "/" between levels, and INBOX is "INBOX".  Clients see the separator
 * the configuration names (hierarchy_separator, "/" or "."), and with
 * inbox_prefix every folder but INBOX below "INBOX" and that separator,
 * the way Courier presents a Maildir ("INBOX.Lists.dev" is .Lists.dev,
 * the folder "Lists/dev" here); IMAP4rev1 clients use modified UTF-7,
 * clients that enabled IMAP4rev2 or UTF8=ACCEPT use UTF-8.  Both
 * conversions are done here, in both directions, so the setting changes
 * nothing on disk.  Since neither "." nor "/" can be part of a level on
 * disk, a client name with the other one in a level is refused.
 */
#ifndef IMAPD_MBNAME_H
#define IMAPD_MBNAME_H

#include <stddef.h>

#include "common/lib/buf.h"

struct session;

/* Convert a client's mailbox argument to the on-disk form in out.  0, or
 * -1 with *why_r (for a NO response), logged with the name. */
int	mbname_from_client(const struct session *, const char *in,
	    struct buf *out, const char **why_r);

/* Convert a folder name from the configuration (UTF-8, in the clients'
 * spelling, the INBOX prefix optional) to the on-disk form.  0, or -1
 * with *why_r. */
struct config;
int	mbname_from_config(const struct config *, const char *in,
	    struct buf *out, const char **why_r);

/* A mailbox name (on-disk form) as this client sees it, into out (reset
 * first); 0 or -1 (too long). */
int	mbname_client(const struct session *, const char *name,
	    struct buf *out);

/* The directory of a mailbox (on-disk name).  0 or -1 with *why_r. */
int	mbname_path(const struct session *, const char *name, char *path,
	    size_t pathlen, const char **why_r);

/*
 * The target of APPEND, COPY or MOVE: the client's name in the on-disk
 * form in name, its directory in path.  0, or -1 after answering NO
 * (with [TRYCREATE] when the mailbox does not exist, RFC 9051 6.3.12).
 */
struct request;
int	mbname_target(struct session *, const struct request *, const char *arg,
	    struct buf *name, char *path, size_t pathlen);

/* Write a mailbox name to the client as an astring, in its form. */
void	mbname_write(struct session *, const char *name);

/* 1 if name (on-disk form) is INBOX. */
int	mbname_is_inbox(const char *name);

#endif
