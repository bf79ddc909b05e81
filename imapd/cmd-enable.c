/*
 * cmd-enable: ENABLE (RFC 5161).  Extensions the server does not know are
 * ignored, as the RFC asks; the ENABLED response lists only what was newly
 * turned on by this command.
 */
#include <string.h>
#include <strings.h>

#include "imapd/commands.h"

static const struct {
	const char	*name;
	unsigned	 bit;
} extensions[] = {
	{ "IMAP4rev2",	ENABLED_IMAP4REV2 },
	{ "UTF8=ACCEPT", ENABLED_UTF8 },
	{ "CONDSTORE",	ENABLED_CONDSTORE },
	/* QRESYNC implies CONDSTORE (RFC 7162 3.2.3) */
	{ "QRESYNC",	ENABLED_QRESYNC | ENABLED_CONDSTORE },
};

void
cmd_enable(struct session *s, const struct request *c)
{
	char line[256];
	size_t i, k, len;
	const char *a;

	if (c->nargs == 0) {
		reply_bad(s, c, "ENABLE needs at least one extension name");
		return;
	}
	memcpy(line, "* ENABLED", 10);
	len = 9;
	for (i = 0; i < c->nargs; i++) {
		if ((a = imap_arg_atom(&c->args[i])) == NULL) {
			reply_bad(s, c, "ENABLE takes extension names as "
			    "atoms");
			return;
		}
	}
	for (i = 0; i < c->nargs; i++) {
		a = imap_arg_atom(&c->args[i]);
		for (k = 0; k < sizeof(extensions) / sizeof(extensions[0]);
		    k++) {
			size_t n = strlen(extensions[k].name);

			if (strcasecmp(a, extensions[k].name) != 0 ||
			    (s->enabled & extensions[k].bit) ==
			    extensions[k].bit)
				continue;
			s->enabled |= extensions[k].bit;
			if (len + n + 1 < sizeof(line)) {
				line[len++] = ' ';
				memcpy(line + len, extensions[k].name, n + 1);
				len += n;
			}
		}
	}
	session_printf(s, "%s\r\n", line);
	reply_ok(s, c, "ENABLE completed");
}
