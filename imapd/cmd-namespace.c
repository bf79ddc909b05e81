/*
 * cmd-namespace: NAMESPACE (RFC 2342).  One personal namespace, the
 * user's Maildir, with "/" as the hierarchy separator; no shared or other
 * users' namespaces.
 */
#include "imapd/commands.h"

void
cmd_namespace(struct session *s, const struct cmd *c)
{
	if (c->nargs != 0) {
		cmd_bad(s, c, "NAMESPACE takes no arguments");
		return;
	}
	session_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	cmd_ok(s, c, "NAMESPACE completed");
}
