/*
 * userdb: the virtual-user database, for users who have no account in the
 * system password database.
 *
 * Administrators keep a text file of
 * "name:hash:uid:gid:home[:maildir[:quota]]" lines and compile it with imapd-userdb(8) into a cdb file, which imapd
 * reads with userdb_lookup().  The record format is described at the top
 * of userdb.c.  Everything here is safe to call from a process that has
 * dropped privileges, provided it can still read the cdb file.
 */
#ifndef COMMON_USERDB_H
#define COMMON_USERDB_H

#include <stddef.h>
#include <sys/types.h>

#include "common/lib/quotadef.h"

#define USERDB_NAME_MAX		255	/* bytes in a user name */
#define USERDB_RECORD_MAX	4096	/* bytes in one line / cdb value */
#define USERDB_PASSWORD_MAX	511	/* bytes in a password: libcrypt's most */

struct userdb_entry {
	char	*name;
	char	*hash;		/* crypt(3) hash, or "!..."/"*..." if locked */
	uid_t	 uid;
	gid_t	 gid;
	char	*home;		/* absolute path */
	char	*maildir;	/* absolute or "~/..."; NULL if absent */
	struct quota_limits quota;	/* no limit if absent */
};

/*
 * Check a user name: 1 to USERDB_NAME_MAX bytes of letters, digits and
 * ". _ @ + -", not starting with "-" or ".".  0 if it is acceptable, else
 * -1 with *why_r set to a static reason that starts with "name: ".
 */
int	userdb_check_name(const char *name, size_t len, const char **why_r);

/*
 * Parse and validate one line of the text format (len bytes, no trailing
 * newline; need not be NUL-terminated).  On success returns 0 and fills
 * *e_r with newly allocated strings, to be released with
 * userdb_entry_free().  On failure returns -1, leaves *e_r zeroed and sets
 * *why_r to a static reason that starts with the name of the field at
 * fault ("name: ", "hash: ", "uid: ", "gid: ", "home: ", "maildir: ",
 * "quota: ") or
 * "line: " when no single field is to blame.
 */
int	userdb_parse_line(const char *line, size_t len,
	    struct userdb_entry *e_r, const char **why_r);

/*
 * Look user up in the cdb file at path.  Returns 1 and fills *e_r (free it
 * with userdb_entry_free()) when found; 0 when there is no such user,
 * including when user is not a valid name (the file is then not opened);
 * -1 on error, with a message in err (cannot open the file, not a cdb file,
 * corrupt record, ...).  A stored record that does not parse, is longer
 * than USERDB_RECORD_MAX, or names another user than its key is corrupt.
 */
int	userdb_lookup(const char *path, const char *user,
	    struct userdb_entry *e_r, char *err, size_t errlen);

/*
 * 1 if password matches the entry's hash, else 0.  A locked hash, an
 * empty password, a password longer than USERDB_PASSWORD_MAX and an entry
 * with uid 0 never match: the user database never logs anyone in as root.
 * The comparison takes the same time wherever the hashes differ.
 */
int	userdb_verify(const struct userdb_entry *, const char *password);

/*
 * 1 if password hashes to hash (a crypt(3) hash starting with "$"), else
 * 0; an empty or too long password never matches.  The comparison takes
 * the same time wherever the hashes differ.
 */
int	userdb_hash_matches(const char *hash, const char *password);

/*
 * Spend on password the time userdb_verify would spend on a user of the
 * cdb file at path, for a login whose user is not there or may not log
 * in, so that its failure takes as long as a wrong password's.  The hash
 * is that of one of the file's own users (the first few records are
 * looked at), or yescrypt at its default cost if the file has none.
 */
void	userdb_verify_absent(const char *path, const char *password);

/*
 * Hash password with a fresh random salt.  method is "yescrypt" (also the
 * choice when it is NULL) or "sha512".  Returns 0 with the hash in out, or
 * -1 (errno EINVAL for an unknown method or an empty or too long password,
 * ERANGE if outlen is too small, or whatever libcrypt reported).
 */
int	userdb_hash(const char *password, const char *method, char *out,
	    size_t outlen);

/* Release an entry's strings, wiping the hash first; *e is zeroed.  A
 * zeroed entry may be freed again. */
void	userdb_entry_free(struct userdb_entry *);

#endif
