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
	{ "COMPRESS",		cmd_compress,	STATE_LOGGEDIN,	0 },
	{ "NAMESPACE",		cmd_namespace,	STATE_LOGGEDIN,	0 },
	{ "SELECT",		cmd_select,	STATE_LOGGEDIN,	0 },
	{ "EXAMINE",		cmd_examine,	STATE_LOGGEDIN,	0 },
	{ "CREATE",		cmd_create,	STATE_LOGGEDIN,	0 },
	{ "DELETE",		cmd_delete,	STATE_LOGGEDIN,	0 },
	{ "RENAME",		cmd_rename,	STATE_LOGGEDIN,	0 },
	{ "SUBSCRIBE",		cmd_subscribe,	STATE_LOGGEDIN,	0 },
	{ "UNSUBSCRIBE",	cmd_unsubscribe, STATE_LOGGEDIN, 0 },
	{ "LIST",		cmd_list,	STATE_LOGGEDIN,	0 },
	{ "LSUB",		cmd_lsub,	STATE_LOGGEDIN,	0 },
	{ "STATUS",		cmd_status,	STATE_LOGGEDIN,	0 },
	{ "GETQUOTA",		cmd_getquota,	STATE_LOGGEDIN,	0 },
	{ "GETQUOTAROOT",	cmd_getquotaroot, STATE_LOGGEDIN, 0 },
	{ "SETQUOTA",		cmd_setquota,	STATE_LOGGEDIN,	0 },
	{ "APPEND",		cmd_append,	STATE_LOGGEDIN,	0 },
	{ "IDLE",		cmd_idle,	STATE_LOGGEDIN,	0 },
	{ "CHECK",		cmd_check,	STATE_SELECTED,	0 },
	{ "CLOSE",		cmd_close,	STATE_SELECTED,	0 },
	{ "UNSELECT",		cmd_unselect,	STATE_SELECTED,	0 },
	{ "EXPUNGE",		cmd_expunge,	STATE_SELECTED,	CMDF_UID },
	{ "SEARCH",		cmd_search,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE },
	{ "SORT",		cmd_sort,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE },
	{ "THREAD",		cmd_thread,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE },
	{ "FETCH",		cmd_fetch,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE },
	{ "STORE",		cmd_store,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE },
	{ "COPY",		cmd_copy,	STATE_SELECTED,	CMDF_UID },
	{ "MOVE",		cmd_move,	STATE_SELECTED,	CMDF_UID },
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
