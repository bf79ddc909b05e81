/*
 * privdrop: drop root for good and prove it.
 *
 * The order matters: supplementary groups and the group ids while still
 * root, the user ids last.  Afterwards every id is read back, and
 * setuid(0)/setgid(0) must fail; a kernel or library that lets any of that
 * through is a fatal error, not a warning.
 */
#include <errno.h>
#include <grp.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/privdrop.h"

void
privdrop(const char *name, uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0) {
		if (getuid() != uid || geteuid() != uid)
			fatalx("cannot become uid %lu: not running as root",
			    (unsigned long)uid);
		return;
	}
	if (uid == 0)
		fatalx("refusing to drop privileges to root");
	if (name != NULL) {
		if (initgroups(name, gid) == -1)
			fatal("initgroups(%s, %lu)", name, (unsigned long)gid);
	} else if (setgroups(1, &gid) == -1)
		fatal("setgroups(%lu)", (unsigned long)gid);
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid(%lu)", (unsigned long)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid(%lu)", (unsigned long)uid);

	if (getresuid(&ru, &eu, &su) == -1 || ru != uid || eu != uid ||
	    su != uid)
		fatalx("privilege drop to uid %lu did not take",
		    (unsigned long)uid);
	if (getresgid(&rg, &eg, &sg) == -1 || rg != gid || eg != gid ||
	    sg != gid)
		fatalx("privilege drop to gid %lu did not take",
		    (unsigned long)gid);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("privilege drop failed: root could be regained");
	if (gid != 0 && (setgid(0) != -1 || setegid(0) != -1))
		fatalx("privilege drop failed: gid 0 could be regained");
}

void
privdrop_chroot(const char *dir)
{
	if (chroot(dir) == -1)
		fatal("chroot(%s)", dir);
	if (chdir("/") == -1)
		fatal("chdir(/) in chroot %s", dir);
}
