/*
 * commands: the command table.  One row per IMAP command, {name, handler,
 * states it is allowed in, flags}; adding a command is adding a row and a
 * handler, never another strcasecmp chain.
 */
#ifndef IMAPD_COMMANDS_H
#define IMAPD_COMMANDS_H

#include "imapd/session.h"

#define CMDF_UID	0x01	/* also valid after "UID " */
#define CMDF_NOEXPUNGE	0x02	/* no EXPUNGE responses while it runs
				 * (FETCH, STORE, SEARCH without UID) */

struct command {
	const char	*name;
	void		(*fn)(struct session *, const struct cmd *);
	unsigned	 states;	/* STATE_* where it may run */
	unsigned	 flags;		/* CMDF_* */
};

/* The row for name (case-insensitive), uid says whether it came after
 * "UID"; NULL if there is none. */
const struct command *command_find(const char *name, int uid);

/* STATUS items, shared by STATUS and LIST RETURN (STATUS ...): the item
 * bits of a list (0 if invalid), and the STATUS response for a folder. */
unsigned status_items(const struct imap_arg *);
int	status_write(struct session *, const char *name, const char *path,
	    unsigned items);

/* SORT and THREAD (cmd-sort.c): their charset argument (0, or -1 after
 * answering NO [BADCHARSET] or BAD), and the search with the keys of the
 * messages it found, which *n_r counts (0, or -1 after answering). */
struct msgkeys;
int	cmd_sort_charset(struct session *, const struct cmd *,
	    const struct imap_arg *);
int	cmd_sort_search(struct session *, const struct cmd *,
	    const struct imap_arg *args, size_t n, uint32_t **seqs_r,
	    size_t *n_r, struct msgkeys *, int *withmodseq_r,
	    uint64_t *maxmodseq_r);

/* handlers, one per command, in cmd-*.c */
void	cmd_capability(struct session *, const struct cmd *);
void	cmd_noop(struct session *, const struct cmd *);
void	cmd_logout(struct session *, const struct cmd *);
void	cmd_id(struct session *, const struct cmd *);
void	cmd_starttls(struct session *, const struct cmd *);
void	cmd_login(struct session *, const struct cmd *);
void	cmd_authenticate(struct session *, const struct cmd *);
void	cmd_enable(struct session *, const struct cmd *);
void	cmd_compress(struct session *, const struct cmd *);
void	cmd_namespace(struct session *, const struct cmd *);
void	cmd_getquota(struct session *, const struct cmd *);
void	cmd_getquotaroot(struct session *, const struct cmd *);
void	cmd_setquota(struct session *, const struct cmd *);
void	cmd_select(struct session *, const struct cmd *);
void	cmd_examine(struct session *, const struct cmd *);
void	cmd_unselect(struct session *, const struct cmd *);
void	cmd_close(struct session *, const struct cmd *);
void	cmd_check(struct session *, const struct cmd *);
void	cmd_create(struct session *, const struct cmd *);
void	cmd_delete(struct session *, const struct cmd *);
void	cmd_rename(struct session *, const struct cmd *);
void	cmd_subscribe(struct session *, const struct cmd *);
void	cmd_unsubscribe(struct session *, const struct cmd *);
void	cmd_list(struct session *, const struct cmd *);
void	cmd_lsub(struct session *, const struct cmd *);
void	cmd_status(struct session *, const struct cmd *);
void	cmd_append(struct session *, const struct cmd *);
void	cmd_idle(struct session *, const struct cmd *);
void	cmd_expunge(struct session *, const struct cmd *);
void	cmd_store(struct session *, const struct cmd *);
void	cmd_copy(struct session *, const struct cmd *);
void	cmd_move(struct session *, const struct cmd *);
void	cmd_fetch(struct session *, const struct cmd *);
void	cmd_search(struct session *, const struct cmd *);
void	cmd_sort(struct session *, const struct cmd *);
void	cmd_thread(struct session *, const struct cmd *);

#endif
