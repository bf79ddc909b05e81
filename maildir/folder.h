/*
 * folder: the Maildir++ folder tree of one user.
 *
 * INBOX is the Maildir itself (root); folder "A/B" is root/.A.B/ with an
 * empty "maildirfolder" file.  Names here are always the on-disk form:
 * modified UTF-7, "/" between levels (the session converts what clients
 * send).  A name is refused, with a sentence saying why, when it has a
 * ".." or "." component, starts or ends with "/", has "//", a NUL, a
 * control byte, a "." inside a level (the separator on disk), a LIST
 * wildcard ("%" or "*"), invalid or non-canonical modified UTF-7, or is
 * over FOLDER_NAME_MAX bytes; since the whole name becomes one directory
 * entry, a name other than INBOX is also refused past NAME_MAX - 1 bytes.
 * No function here opens, creates or removes anything outside root, and
 * none follows a symbolic link out of it: a folder directory that is a
 * link, or whose cur/, new/ or tmp/ is one, is not listed, opened,
 * deleted, renamed or created through.  Root itself is the one link
 * followed, once, by whoever resolved it (the session, at login).
 *
 * INBOX in any case is the root.  Only the whole name is case-insensitive:
 * "INBOX/x" is the folder .INBOX.x (as Dovecot stores it) and "inbox/x" is
 * another one, .inbox.x; both are children of INBOX.
 *
 * Subscriptions are kept in root/subscriptions, one name per line, in
 * the on-disk form; the file is replaced atomically.  Dotted lines
 * ("INBOX.Lists.dev", "Lists.dev") and, while there is no such file,
 * Courier's root/courierimapsubscribed are read as well.
 */
#ifndef MAILDIR_FOLDER_H
#define MAILDIR_FOLDER_H

#include <stddef.h>

#define FOLDER_NAME_MAX	1024
#define FOLDER_PATH_MAX	(FOLDER_NAME_MAX + 4096)

/* LIST attributes (RFC 9051 7.3.1, RFC 3348, RFC 6154) */
#define FA_NOSELECT	0x01	/* implied parent with no directory */
#define FA_HASCHILDREN	0x02
#define FA_HASNOCHILDREN 0x04
#define FA_SUBSCRIBED	0x08
#define FA_NONEXISTENT	0x10	/* subscribed but not there */

struct folder_entry {
	char		*name;		/* "INBOX", "Sent", "Lists/dev" */
	unsigned	 attrs;		/* FA_* */
};

struct folder_list {
	struct folder_entry	*e;	/* sorted by name, INBOX first */
	size_t			 n;
};

/*
 * Check a name and give the folder's directory: root itself for INBOX
 * (any case), root/.A.B for "A/B".  0, or -1 with *why_r (a sentence
 * for a NO response) for a name that may not exist.
 */
int	folder_path(const char *root, const char *name, char *path,
	    size_t pathlen, const char **why_r);

/* Only the check of folder_path(); 0 or -1 with *why_r (and errno
 * EINVAL, or ENAMETOOLONG for a name too long). */
int	folder_check_name(const char *name, const char **why_r);

/*
 * Open the directory of a folder (a path from folder_path()) to work in
 * it.  A symbolic link is refused at the folder itself and at its cur/,
 * new/ and tmp/, where it would take the folder's reads and writes to
 * anywhere the user can reach; so is a folder without cur/.  The
 * descriptor, or -1 with errno: ENOENT (no such folder, or no cur/),
 * ENOTDIR, ELOOP (a link: logged, with the fix), or that of open(2).
 */
int	folder_open(const char *path);

/*
 * Every folder: the real ones (directories with cur/), the implied parents
 * of nested ones (FA_NOSELECT), INBOX always, FA_SUBSCRIBED on those in
 * the subscriptions file, and with subscribed set also FA_NONEXISTENT
 * entries (with FA_SUBSCRIBED) for subscribed names that do not exist.
 * Each entry has FA_HASCHILDREN or FA_HASNOCHILDREN (counting real and
 * implied folders only).  0 or -1 (errno).  An unreadable subscriptions
 * file fails the call only with subscribed set; otherwise it is logged
 * and the list comes without FA_SUBSCRIBED.
 */
int	folder_list(const char *root, int subscribed, struct folder_list *);
void	folder_list_free(struct folder_list *);

/*
 * Create a folder (and cur/ new/ tmp/ and maildirfolder), mode 0700.
 * Creating INBOX or an existing folder fails with EEXIST.  Implied
 * parents need no directory.  0, or -1 with errno and *why_r.
 */
int	folder_create(const char *root, const char *name, const char **why_r);

/*
 * Delete a folder and its messages.  Its children stay (the name becomes
 * an implied parent).  The directory is first renamed to a hidden name,
 * then removed, so a crash never leaves half a folder visible; what
 * cannot be removed after that is logged and left under the hidden name,
 * and the call still succeeds.  INBOX cannot be deleted (EPERM); a name
 * with no directory, or whose entry is a link or a file, is ENOENT.
 * Subscriptions are not changed.  0, or -1 with errno and *why_r.
 */
int	folder_delete(const char *root, const char *name, const char **why_r);

/*
 * Rename a folder and every folder below it (A -> X moves A/B to X/B).
 * The UID cache moves with the directory, so UIDs and UIDVALIDITY stay.
 * If the target or the target of any folder below exists, nothing moves
 * (EEXIST); moving a folder inside itself is EINVAL; a name with neither
 * a directory nor folders below it is ENOENT.  An implied parent can be
 * renamed (its children move).  Renaming INBOX creates the new folder,
 * moves INBOX's messages from new/ and cur/ into it under the same names,
 * and leaves INBOX empty with its own state (RFC 9051 6.3.6); INBOX's
 * children stay.  Subscriptions are not changed (the server never edits
 * them on its own, RFC 3501 6.3.6).  0, or -1 with errno and *why_r.
 */
int	folder_rename(const char *root, const char *from, const char *to,
	    const char **why_r);

/* Add or remove name in the subscriptions file; 0 or -1 (errno, EINVAL
 * for an invalid name).  Subscribing to a name that does not exist is
 * allowed; INBOX in any case is kept as "INBOX". */
int	folder_subscribe(const char *root, const char *name, int on);

/* Make sure the Maildir root exists (cur/ new/ tmp/), making missing
 * directories on the way with mode 0700; 0 or -1 (errno; ELOOP, logged,
 * when cur/, new/ or tmp/ is a symbolic link). */
int	folder_init_root(const char *root);

#endif
