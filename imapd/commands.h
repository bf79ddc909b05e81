/*
 * commands: the command table.  One row per IMAP command, {name, handler,
 * states it is allowed in, flags}; adding a command is adding a row and a
 * handler, never another strcasecmp chain.
 */
#ifndef IMAPD_COMMANDS_H
#define IMAPD_COMMANDS_H

#include <stdint.h>

#include "imapd/session.h"

#define CMDF_UID	0x01	/* also valid after "UID " */
#define CMDF_NOEXPUNGE	0x02	/* no EXPUNGE responses while it runs
				 * (FETCH, STORE, SEARCH without UID) */
#define CMDF_MESSAGES	0x04	/* top-level arguments after the first
				 * may be messages (APPEND): literals or
				 * literal8 up to APPEND_LIMIT, and a
				 * literal8 in a list of its own (RFC
				 * 6855's UTF8 (~{n})) */

/*
 * Literals.  A client may send a string as a literal only where the
 * command's grammar has one (astring, string or nstring in RFC 9051
 * section 9) and only as long as such a string can usefully be there.
 * The session holds every literal to its row before it sends "+" (and
 * before it reads the bytes of a {n+} one), so no command makes the
 * server take more than that: a literal where none may stand is BAD, one
 * too long NO [TOOBIG] (BAD [TOOBIG] for {n+}, RFC 7888).
 */
#define LIT_ARG(i)	(1U << (i))	/* top-level argument i, counted
					 * after a UID command's subcommand */
#define LIT_LISTS	0x8000U		/* any string inside a list */
#define LIT_ANYWHERE	0xffffU		/* (top-level positions past 14 too) */

#define LITERAL_AUTH_MAX	4096	/* LOGIN's credentials, AUTHENTICATE's
					 * initial response */
#define LITERAL_NAME_MAX	1024	/* a mailbox name or LIST pattern: the
					 * longest name a folder may have */
#define LITERAL_ID_MAX		1024	/* an ID field or value (RFC 2971) */
#define LITERAL_TEXT_MAX	8192	/* a SEARCH string, a header field
					 * name in FETCH */
#define APPEND_LIMIT		67108864 /* a message (APPENDLIMIT, RFC 7889):
					 * 64 MiB */

/* A row of the table: what a command is allowed to be; a struct request
 * (session.h) is one the client sent. */
struct command_spec {
	const char	*name;
	void		(*fn)(struct session *, const struct request *);
	unsigned	 states;	/* STATE_* where it may run */
	unsigned	 flags;		/* CMDF_* */
	unsigned	 strings;	/* LIT_*: where a literal may stand */
	uint32_t	 string_max;	/* the longest literal there */
};

/* The row for name (case-insensitive), uid says whether it came after
 * "UID"; NULL if there is none. */
const struct command_spec *command_find(const char *name, int uid);

/*
 * The most bytes the literal li may have where it stands, 0 if the
 * grammar puts no string there (or li is a literal8 outside an APPEND
 * message).  *def_r is the command's row (NULL: an unknown command, and
 * 0 is returned); *message_r is 1 for an APPEND message.
 */
uint64_t command_literal_max(const struct imap_literal_info *li,
	    const struct command_spec **def_r, int *message_r);

/*
 * APPEND's messages go into the target folder as they arrive (see
 * cmd-append.c).  The session hands append_literal() each message literal
 * of an APPEND, which answers it (the continuation, or a refusal) and
 * streams its bytes; cmd_append() commits what came.  When the bytes of
 * a message could not be stored (the parser's IMAP_PERR_SINK), the
 * session lets append_store_failed() answer.  append_abort() removes
 * what an APPEND that did not complete left; the session calls it after
 * every command, parse error and refused literal, and when it ends.
 */
void	append_literal(struct session *, const struct imap_literal_info *);
void	append_store_failed(struct session *, const char *tag);
void	append_abort(struct session *);

/* STATUS items, shared by STATUS and LIST RETURN (STATUS ...): the item
 * bits of a list (0 if invalid), and the STATUS response for a folder. */
unsigned status_items(const struct imap_arg *);
int	status_write(struct session *, const char *name, const char *path,
	    unsigned items);

/* SORT and THREAD (cmd-sort.c): their charset argument (0, or -1 after
 * answering NO [BADCHARSET] or BAD), and the search with the keys of the
 * messages it found, which *n_r counts (0, or -1 after answering). */
struct msgkeys;
int	sort_charset_arg(struct session *, const struct request *,
	    const struct imap_arg *);
int	sort_search_keys(struct session *, const struct request *,
	    const struct imap_arg *args, size_t n, uint32_t **seqs_r,
	    size_t *n_r, struct msgkeys *, int *withmodseq_r,
	    uint64_t *maxmodseq_r);

/* handlers, one per command, in cmd-*.c; the cmd_ prefix is theirs
 * alone */
void	cmd_capability(struct session *, const struct request *);
void	cmd_noop(struct session *, const struct request *);
void	cmd_logout(struct session *, const struct request *);
void	cmd_id(struct session *, const struct request *);
void	cmd_starttls(struct session *, const struct request *);
void	cmd_login(struct session *, const struct request *);
void	cmd_authenticate(struct session *, const struct request *);
void	cmd_enable(struct session *, const struct request *);
void	cmd_compress(struct session *, const struct request *);
void	cmd_namespace(struct session *, const struct request *);
void	cmd_getquota(struct session *, const struct request *);
void	cmd_getquotaroot(struct session *, const struct request *);
void	cmd_setquota(struct session *, const struct request *);
void	cmd_select(struct session *, const struct request *);
void	cmd_examine(struct session *, const struct request *);
void	cmd_unselect(struct session *, const struct request *);
void	cmd_close(struct session *, const struct request *);
void	cmd_check(struct session *, const struct request *);
void	cmd_create(struct session *, const struct request *);
void	cmd_delete(struct session *, const struct request *);
void	cmd_rename(struct session *, const struct request *);
void	cmd_subscribe(struct session *, const struct request *);
void	cmd_unsubscribe(struct session *, const struct request *);
void	cmd_list(struct session *, const struct request *);
void	cmd_lsub(struct session *, const struct request *);
void	cmd_status(struct session *, const struct request *);
void	cmd_append(struct session *, const struct request *);
void	cmd_idle(struct session *, const struct request *);
void	cmd_expunge(struct session *, const struct request *);
void	cmd_store(struct session *, const struct request *);
void	cmd_copy(struct session *, const struct request *);
void	cmd_move(struct session *, const struct request *);
void	cmd_fetch(struct session *, const struct request *);
void	cmd_search(struct session *, const struct request *);
void	cmd_sort(struct session *, const struct request *);
void	cmd_thread(struct session *, const struct request *);

#endif
