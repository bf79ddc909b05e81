/*
 * cmd-namespace: NAMESPACE (RFC 2342).  One personal namespace, the
 * user's Maildir, with the configured hierarchy separator and, with
 * inbox_prefix, the prefix "INBOX" and that separator (Courier's
 * (("INBOX." "."))); no shared or other users' namespaces.
 */
#include "imapd/commands.h"
#include "imapd/config.h"

void
cmd_namespace(struct session *s, const struct request *c)
{
	char sep = s->conf->hierarchy_separator;

	if (c->nargs != 0) {
		reply_bad(s, c, "NAMESPACE takes no arguments");
		return;
	}
	if (s->conf->inbox_prefix)
		session_printf(s, "* NAMESPACE ((\"INBOX%c\" \"%c\")) NIL "
		    "NIL\r\n", sep, sep);
	else
		session_printf(s, "* NAMESPACE ((\"\" \"%c\")) NIL NIL\r\n",
		    sep);
	reply_ok(s, c, "NAMESPACE completed");
}
