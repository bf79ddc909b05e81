/*
 * policy: per-user login rules, enforced by the back after the
 * credentials are right and before any mail is touched.
 *
 * One text file (the login_policy key of imapd.conf(5)) for userdb and
 * PAM users alike, one user a line:
 *
 *	user rule ...
 *
 * where a rule is one of
 *
 *	networks=CIDR[,CIDR...]	the client's address must be in one
 *	tls=required		the login must have come over TLS
 *	app-passwords=required	the login must have used an app password
 *	hours=HH:MM-HH:MM	local time of day, from inclusive, to
 *				exclusive; may run past midnight
 *	disabled[=REASON]	no login at all; REASON, the rest of the
 *				line, goes to the log
 *
 * Rules are separated by blanks and each may be given once.  A line for
 * "*" applies to every user without a line of their own.  Blank lines and
 * lines whose first non-blank character is "#" are ignored.  A user given
 * twice, an unknown rule or a bad value makes the file bad: the login of
 * any user is then refused as a temporary failure (it fails closed), and
 * imapd -t names the line.
 */
#ifndef IMAPD_POLICY_H
#define IMAPD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/cidr.h"

#define POLICY_NETS_MAX		32
#define POLICY_REASON_MAX	200
#define POLICY_FILE_MAX		(1024 * 1024)

struct policy {
	unsigned		line;	/* of the file; 0: no rules */
	int			tls;	/* tls=required */
	int			app;	/* app-passwords=required */
	int			disabled;
	char			reason[POLICY_REASON_MAX + 1];
	int			hours;	/* hours= given */
	unsigned		from_min, to_min;	/* minutes past midnight */
	unsigned		nnets;	/* networks= given if > 0 */
	struct cidr		nets[POLICY_NETS_MAX];
};

enum policy_verdict {
	POLICY_OK,
	POLICY_DISABLED,
	POLICY_NETWORK,
	POLICY_TLS,
	POLICY_APP,
	POLICY_HOURS,
};

/*
 * The rules for user in the file at path, into *p: 1 if the user or "*"
 * has a line, 0 if not or if there is no file (then *p has no rules), -1
 * if the file cannot be read or is bad, with a reason in err.
 */
int	policy_lookup(const char *path, const char *user, struct policy *p,
	    char *err, size_t errlen);

/*
 * Check every line of the file at path; for imapd -t.  The number of
 * problems, each given to report as "path:line: reason"; 0 also when
 * there is no file.
 */
int	policy_check_file(const char *path, void (*report)(const char *));

/*
 * Whether a login from rip (a numeric address), over TLS or not, with an
 * app password or not, at minute of the local day may go on.  The first
 * rule that refuses, in the order of enum policy_verdict.
 */
enum policy_verdict policy_check(const struct policy *, const char *rip,
	    int tls, int app, unsigned minute);

/* The rule's name as the file spells it ("networks", "tls", ...). */
const char *policy_rule_name(enum policy_verdict);

#endif
