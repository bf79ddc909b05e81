/*
 * commands: the table of IMAP commands.  See commands.h.
 *
 * The front serves the rows allowed in STATE_NOTAUTH, the back the rest;
 * session.c turns a command in the wrong state into a BAD that says why.
 */
#include <stddef.h>
#include <strings.h>

#include "imapd/commands.h"
#include "maildir/folder.h"

/* a mailbox literal may be no longer than a folder's name */
_Static_assert(LITERAL_NAME_MAX == FOLDER_NAME_MAX,
    "a mailbox literal holds the longest folder name");

static const struct command_spec table[] = {
	{ "CAPABILITY",		cmd_capability,	STATE_ANY,	0, 0, 0 },
	{ "NOOP",		cmd_noop,	STATE_ANY,	0, 0, 0 },
	{ "LOGOUT",		cmd_logout,	STATE_ANY,	0, 0, 0 },
	{ "ID",			cmd_id,		STATE_ANY,	0,
	    LIT_LISTS, LITERAL_ID_MAX },
	{ "STARTTLS",		cmd_starttls,	STATE_NOTAUTH,	0, 0, 0 },
	{ "LOGIN",		cmd_login,	STATE_NOTAUTH,	0,
	    LIT_ARG(0) | LIT_ARG(1), LITERAL_AUTH_MAX },
	{ "AUTHENTICATE",	cmd_authenticate, STATE_NOTAUTH, 0,
	    LIT_ARG(1), LITERAL_AUTH_MAX },
	{ "ENABLE",		cmd_enable,	STATE_AUTH,	0, 0, 0 },
	{ "COMPRESS",		cmd_compress,	STATE_LOGGEDIN,	0, 0, 0 },
	{ "NAMESPACE",		cmd_namespace,	STATE_LOGGEDIN,	0, 0, 0 },
	{ "SELECT",		cmd_select,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "EXAMINE",		cmd_examine,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "CREATE",		cmd_create,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "DELETE",		cmd_delete,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "RENAME",		cmd_rename,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0) | LIT_ARG(1), LITERAL_NAME_MAX },
	{ "SUBSCRIBE",		cmd_subscribe,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "UNSUBSCRIBE",	cmd_unsubscribe, STATE_LOGGEDIN, 0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	/* reference, patterns (one or a list), LIST-EXTENDED options */
	{ "LIST",		cmd_list,	STATE_LOGGEDIN,	0,
	    LIT_ANYWHERE, LITERAL_NAME_MAX },
	{ "LSUB",		cmd_lsub,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0) | LIT_ARG(1), LITERAL_NAME_MAX },
	{ "STATUS",		cmd_status,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	/* a quota root, or a mailbox; SETQUOTA's root (it is refused) */
	{ "GETQUOTA",		cmd_getquota,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "GETQUOTAROOT",	cmd_getquotaroot, STATE_LOGGEDIN, 0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "SETQUOTA",		cmd_setquota,	STATE_LOGGEDIN,	0,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "APPEND",		cmd_append,	STATE_LOGGEDIN,	CMDF_MESSAGES,
	    LIT_ARG(0), LITERAL_NAME_MAX },
	{ "IDLE",		cmd_idle,	STATE_LOGGEDIN,	0, 0, 0 },
	{ "CHECK",		cmd_check,	STATE_SELECTED,	0, 0, 0 },
	{ "CLOSE",		cmd_close,	STATE_SELECTED,	0, 0, 0 },
	{ "UNSELECT",		cmd_unselect,	STATE_SELECTED,	0, 0, 0 },
	{ "EXPUNGE",		cmd_expunge,	STATE_SELECTED,	CMDF_UID, 0, 0 },
	/* CHARSET's name and every string key, at any depth */
	{ "SEARCH",		cmd_search,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE, LIT_ANYWHERE,
	    LITERAL_TEXT_MAX },
	/* the charset's name and SEARCH's string keys, as for SEARCH */
	{ "SORT",		cmd_sort,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE, LIT_ANYWHERE,
	    LITERAL_TEXT_MAX },
	{ "THREAD",		cmd_thread,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE, LIT_ANYWHERE,
	    LITERAL_TEXT_MAX },
	/* header field names: BODY[HEADER.FIELDS (...)] */
	{ "FETCH",		cmd_fetch,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE, LIT_LISTS,
	    LITERAL_TEXT_MAX },
	{ "STORE",		cmd_store,	STATE_SELECTED,
	    CMDF_UID | CMDF_NOEXPUNGE, 0, 0 },
	{ "COPY",		cmd_copy,	STATE_SELECTED,	CMDF_UID,
	    LIT_ARG(1), LITERAL_NAME_MAX },
	{ "MOVE",		cmd_move,	STATE_SELECTED,	CMDF_UID,
	    LIT_ARG(1), LITERAL_NAME_MAX },
};

const struct command_spec *
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

uint64_t
command_literal_max(const struct imap_literal_info *li,
    const struct command_spec **def_r, int *message_r)
{
	const struct command_spec *def;
	size_t pos = li->nargs;

	*def_r = NULL;
	*message_r = 0;
	if (li->name == NULL)
		return 0;
	if (strcasecmp(li->name, "UID") == 0) {
		/* the subcommand is an atom: nothing to take before it */
		if (pos == 0 || li->first == NULL || !li->first_atom)
			return 0;
		def = command_find(li->first, 1);
		pos--;
	} else
		def = command_find(li->name, 0);
	if ((*def_r = def) == NULL)
		return 0;
	/* a message: at the top level, or the literal8 of UTF8 (~{n});
	 * no other list in APPEND holds a literal */
	if ((def->flags & CMDF_MESSAGES) && pos > 0 && (li->depth == 0 ||
	    (li->depth == 1 && li->literal8))) {
		*message_r = 1;
		return APPEND_LIMIT;
	}
	if (li->literal8)
		return 0;
	if (li->depth > 0)
		return (def->strings & LIT_LISTS) ? def->string_max : 0;
	if (def->strings == LIT_ANYWHERE ||
	    (pos < 15 && (def->strings & LIT_ARG(pos))))
		return def->string_max;
	return 0;
}
