/*
 * commands: the table of IMAP commands.  See commands.h.
 *
 * The front serves the rows allowed in STATE_NOTAUTH, the back the rest;
 * session.c turns a command in the wrong state into a BAD that says why.
 */
#include <stddef.h>
#include <strings.h>

#include "imapd/commands.h"

static const struct command table[] = {
	{ "CAPABILITY",		cmd_capability,	STATE_ANY,	0 },
	{ "NOOP",		cmd_noop,	STATE_ANY,	0 },
	{ "LOGOUT",		cmd_logout,	STATE_ANY,	0 },
	{ "ID",			cmd_id,		STATE_ANY,	0 },
	{ "STARTTLS",		cmd_starttls,	STATE_NOTAUTH,	0 },
	{ "LOGIN",		cmd_login,	STATE_NOTAUTH,	0 },
	{ "AUTHENTICATE",	cmd_authenticate, STATE_NOTAUTH, 0 },
	{ "ENABLE",		cmd_enable,	STATE_AUTH,	0 },
	{ "NAMESPACE",		cmd_namespace,	STATE_LOGGEDIN,	0 },
};

const struct command *
command_find(const char *name, int uid)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcasecmp(table[i].name, name) != 0)
			continue;
		if (uid && !(table[i].flags & CMDF_UID))
			return NULL;
		return &table[i];
	}
	return NULL;
}
