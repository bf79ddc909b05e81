/*
 * privdrop: the one way this program gives up root.
 */
#ifndef COMMON_PRIVDROP_H
#define COMMON_PRIVDROP_H

#include <sys/types.h>

/*
 * Become uid/gid for good: supplementary groups from the group database
 * for name (initgroups) when name is not NULL, else just gid; then
 * setresgid, setresuid, and a check that root cannot be regained and that
 * every id is what was asked.  Any failure is fatal: a process that cannot
 * drop must not go on.  Called by a non-root process it only checks that
 * the ids already match (a non-root imapd serves only its own user).
 */
void	privdrop(const char *name, uid_t uid, gid_t gid);

/* chroot to dir and chdir to "/" inside it; fatal on failure. */
void	privdrop_chroot(const char *dir);

#endif
