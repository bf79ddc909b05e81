/*
 * folder: the Maildir++ folder tree of one user.
 *
 * INBOX is the Maildir itself (root); folder "A/B" is root/.A.B/ with an
 * empty "maildirfolder" file.  Names here are always the on-disk form:
 * modified UTF-7, "/" between levels (the session converts what clients
 * send).  A name is refused, with a sentence saying why, when it has a
 * ".." or "." component, starts or ends with "/", has "//", a NUL, a
 * control byte, a "." inside a level (the separator on disk), invalid
 * modified UTF-7, or is over FOLDER_NAME_MAX bytes.  No function here
 * opens, creates or removes anything outside root, and none follows a
 * symbolic link out of it.
 *
 * Subscriptions are kept in root/subscriptions, one name per line, in
 * the on-disk form; the file is replaced atomically.
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

/* Only the check of folder_path(); 0 or -1 with *why_r. */
int	folder_check_name(const char *name, const char **why_r);

/*
 * Every folder: the real ones (directories with cur/), the implied parents
 * of nested ones (FA_NOSELECT), INBOX always, and with subscribed set,
 * FA_SUBSCRIBED on those in the subscriptions file plus FA_NONEXISTENT
 * entries for subscribed names that do not exist.  0 or -1 (errno).
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
 * then removed, so a crash never leaves half a folder visible.  INBOX
 * cannot be deleted.  0, or -1 with errno and *why_r.
 */
int	folder_delete(const char *root, const char *name, const char **why_r);

/*
 * Rename a folder and every folder below it (A -> X moves A/B to X/B).
 * The UID cache moves with the directory, so UIDs and UIDVALIDITY stay.
 * Renaming INBOX moves its messages into a new folder new and leaves
 * INBOX empty (RFC 9051 6.3.6).  The target must not exist.  0, or -1
 * with errno and *why_r.
 */
int	folder_rename(const char *root, const char *from, const char *to,
	    const char **why_r);

/* Add or remove name in the subscriptions file; 0 or -1 (errno).
 * Subscribing to a name that does not exist is allowed. */
int	folder_subscribe(const char *root, const char *name, int on);

/* Make sure the Maildir root exists (cur/ new/ tmp/); 0 or -1 (errno). */
int	folder_init_root(const char *root);

#endif
