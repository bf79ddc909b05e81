/*
 * commands: the command table.  One row per IMAP command, {name, handler,
 * states it is allowed in, flags}; adding a command is adding a row and a
 * handler, never another strcasecmp chain.
 */
#ifndef IMAPD_COMMANDS_H
#define IMAPD_COMMANDS_H

#include "imapd/session.h"

#define CMDF_UID	0x01	/* also valid after "UID " */

struct command {
	const char	*name;
	void		(*fn)(struct session *, const struct cmd *);
	unsigned	 states;	/* STATE_* where it may run */
	unsigned	 flags;		/* CMDF_* */
};

/* The row for name (case-insensitive), uid says whether it came after
 * "UID"; NULL if there is none. */
const struct command *command_find(const char *name, int uid);

/* handlers, one per command, in cmd-*.c */
void	cmd_capability(struct session *, const struct cmd *);
void	cmd_noop(struct session *, const struct cmd *);
void	cmd_logout(struct session *, const struct cmd *);
void	cmd_id(struct session *, const struct cmd *);
void	cmd_starttls(struct session *, const struct cmd *);
void	cmd_login(struct session *, const struct cmd *);
void	cmd_authenticate(struct session *, const struct cmd *);
void	cmd_enable(struct session *, const struct cmd *);
void	cmd_namespace(struct session *, const struct cmd *);

#endif
