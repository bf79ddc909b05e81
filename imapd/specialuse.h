/*
 * specialuse: which folder plays each special-use role (RFC 6154) for one
 * user.
 *
 * The configuration names a folder for each role (special_use).  A user
 * whose Maildir came from another server, or whose phone and laptop
 * disagree, may already have a folder playing a role under another
 * spelling ("Sent Items", "Deleted Messages", "Spam"); creating the
 * configured one beside it would leave two Sent folders.  So at login each
 * role goes, in this order, to:
 *
 *   1. the folder recorded for it in root/imapd-special-use, if that folder
 *      still exists;
 *   2. the configured folder, if it exists;
 *   3. the first existing folder, in the order of the role's known
 *      spellings (specialuse.c lists them), whose name is that spelling in
 *      any case, and which plays no other role;
 *   4. the configured folder, created and subscribed.
 *
 * The choice is recorded, so it stays the same from one session to the
 * next even when a folder of the configured name appears later, and each
 * change is logged.  CREATE with a USE list (RFC 6154 3) gives roles to
 * the new folder; RENAME carries a folder's roles (and those of the
 * folders below it) along.  The record is one line per role, "\Flag name"
 * with the name in the on-disk form, replaced atomically; concurrent
 * sessions that change it at the same moment may lose one change, which
 * the next login settles again by the rules above.
 */
#ifndef IMAPD_SPECIALUSE_H
#define IMAPD_SPECIALUSE_H

#include <stddef.h>

#include "imapd/config.h"

#define SPECIALUSE_FILE	"imapd-special-use"
#define SPECIALUSE_MAX	CONFIG_MAX_SPECIAL

struct specialuse_role {
	char	 flag[16];	/* "\Sent", canonical case */
	char	*name;		/* on-disk folder name; NULL: none yet */
};

struct specialuse {
	struct specialuse_role	role[SPECIALUSE_MAX];
	unsigned		n;
};

/*
 * Give each role the configuration names its folder under the rules
 * above, creating what is missing, and record and log what changed.
 * Failures to read or write the record or to create a folder are logged;
 * the roles are still given.  0, or -1 if memory ran out.
 */
int	specialuse_settle(struct specialuse *, const char *root,
	    const struct config *);

/* The flags of the roles folder name (on-disk form) plays, at most max
 * of them into flags; how many. */
size_t	specialuse_flags(const struct specialuse *, const char *name,
	    const char **flags, size_t max);

/* The canonical spelling of a special-use flag sent by a client (any
 * case), or NULL if it is none. */
const char *specialuse_canonical(const char *flag, size_t len);

/*
 * Give the roles flags[0..n-1] (canonical) to the folder name, taking
 * them from any folder that had them, and record it.  0, or -1 (errno)
 * with nothing changed.
 */
int	specialuse_assign(struct specialuse *, const char *root,
	    const char *name, const char *const *flags, size_t n);

/* Folder from and those below it were renamed to to: their roles follow,
 * and the record is written (a failure is logged). */
void	specialuse_renamed(struct specialuse *, const char *root,
	    const char *from, const char *to);

void	specialuse_free(struct specialuse *);

#endif
