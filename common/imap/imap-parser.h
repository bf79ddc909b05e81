/*
 * imap-parser: a resumable state machine that turns the bytes of IMAP
 * commands into an argument tree.
 *
 * The parser is fed whatever bytes have arrived, in pieces of any size; fed
 * one byte at a time or all at once it gives the same results.  It never
 * recurses and it never holds more than its limits allow: the text of one
 * command outside literals (line_max), one literal (literal_max), all the
 * memory of one command (command_max), list nesting (depth_max) and the
 * number of arguments (args_max).  Before login the session sets tight
 * limits, after login generous ones.
 *
 * Grammar accepted (RFC 3501 / RFC 9051 section 9, RFC 7888):
 *   command  = tag SP name *(SP arg) CRLF      (a bare LF ends a line too)
 *   tag      = 1*<ASTRING-CHAR except "+">
 *   name     = atom
 *   arg      = atom / quoted / literal / literal8 / list
 *   atom     = 1*<any byte > 0x20 except ( ) { " DEL>;  this admits
 *              \Flags, sequence sets with * and :, LIST wildcards % and *,
 *              and fetch items such as BODY[1.2]<0.100> as one atom.
 *   quoted   = DQUOTE *(<byte except CR LF NUL " \> / "\" ("\" / DQUOTE))
 *              DQUOTE
 *   literal  = "{" number ["+"] "}" CRLF *OCTET
 *   literal8 = "~{" number ["+"] "}" CRLF *OCTET
 *   list     = "(" [arg *(SP arg)] ")"
 * Tokens are separated by one SP.  One exception: an atom that starts with
 * "]" may follow ")" directly, so that
 *   BODY[HEADER.FIELDS (From To)]<0.100>
 * arrives as the atom "BODY[HEADER.FIELDS", the list (From To) and the
 * atom "]<0.100>", which the FETCH code puts back together.
 * A line with nothing on it (just CRLF) is skipped without a result.
 *
 * Literals: when "{n}" ends a line the parser stops with IMAP_PARSE_LITERAL
 * before reading any literal byte; the caller checks the size against its
 * own rules (APPENDLIMIT, login state), then either sends "+ ..." and calls
 * imap_parser_literal_accept(), or answers NO/BAD and calls
 * imap_parser_literal_reject().  A "{n+}" literal also stops with
 * IMAP_PARSE_LITERAL (info.nonsync set) so the size can be refused; the
 * client sends its bytes anyway, so rejecting it makes the parser discard
 * them (and the rest of the command) instead of reading them as commands.
 * A literal over literal_max is never offered: it is an error as soon as
 * its "}" arrives, before anything is allocated for it.  Sizes are digits
 * only; more than 20 digits, or a value over 2^64-1, is IMAP_PERR_LITERAL.
 * The offer says where the literal stands (the command, its first
 * argument, the argument's position and depth) so that the caller can
 * hold it to what the grammar allows there.
 *
 * NUL: RFC 9051's literal is CHAR8, which excludes NUL; only literal8
 * (RFC 3516) may carry one.  A literal holding a NUL is read to its end
 * (so the stream stays in step) and the command fails with
 * IMAP_PERR_SYNTAX: nothing downstream ever sees a string that a C
 * function would cut short.
 *
 * How the limits count:
 *   line_max     every byte of the command that is not literal data, line
 *                ends included, summed over all its lines (empty lines
 *                between commands are not counted).  Passing it is an
 *                error at the byte that passes it, not at the end of line.
 *   command_max  the tree handed to the caller: each string (tag and name
 *                included) with its NUL, plus sizeof(struct imap_arg) per
 *                argument.  A streamed literal costs only its imap_arg.
 *                The parser's working memory is a small multiple of this.
 *   args_max     every argument after the name, lists and list elements
 *                included.
 *
 * Getting back in step: after an error the rest of the bad line is
 * skipped.  If that line (or a refused {n+} literal's line) ends with
 * another "{n+}", its n bytes are skipped too, so a client's literal data
 * is never read as commands.
 */
#ifndef COMMON_IMAP_PARSER_H
#define COMMON_IMAP_PARSER_H

#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* includes NIL; see imap_arg_is_nil() */
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,	/* {n} or {n+} */
	IMAP_ARG_LITERAL8,	/* ~{n} or ~{n+} */
	IMAP_ARG_LIST,
};

#define IMAP_ARGF_NONSYNC	0x01	/* literal was sent as {n+} */
#define IMAP_ARGF_HAS_NUL	0x02	/* literal8 data contains a NUL byte */
#define IMAP_ARGF_STREAMED	0x04	/* literal went to a sink, str is NULL */

struct imap_arg {
	enum imap_arg_type	 type;
	unsigned		 flags;		/* IMAP_ARGF_* */
	/*
	 * Strings (atom, quoted, literal): str holds len bytes followed by a
	 * NUL that len does not count (a literal may hold NULs itself).
	 * Lists: list points to len elements, str is NULL.
	 * A streamed literal: str is NULL and len is its size.
	 */
	char			*str;
	struct imap_arg		*list;
	size_t			 len;
};

/* See the top of this file for exactly what each limit counts. */
struct imap_limits {
	size_t		line_max;	/* command text outside literals */
	uint64_t	literal_max;	/* bytes of one literal */
	size_t		command_max;	/* memory of one command, all included */
	unsigned	depth_max;	/* list nesting, 1 = a flat list */
	unsigned	args_max;	/* arguments in the whole tree */
};

/* One complete command.  Valid until the next imap_parser_feed() (any
 * feed after IMAP_PARSE_COMMAND starts another command, even one of zero
 * bytes, and gives back the memory of a big one), or imap_parser_reset or
 * imap_parser_free.  args is never NULL, not even when nargs is 0; nor is
 * an empty list's list pointer. */
struct imap_cmdline {
	const char		*tag;
	const char		*name;		/* the first atom, as sent */
	struct imap_arg		*args;		/* what follows the name */
	size_t			 nargs;
};

enum imap_parse_status {
	IMAP_PARSE_MORE,	/* every byte given was used; need more */
	IMAP_PARSE_COMMAND,	/* a whole command: imap_parser_command() */
	IMAP_PARSE_LITERAL,	/* a literal awaits a decision */
	IMAP_PARSE_ERROR,	/* the command is malformed: imap_parser_error() */
};

enum imap_parse_error {
	IMAP_PERR_NONE,
	IMAP_PERR_SYNTAX,	/* bad token, bad tag, missing name, ... */
	IMAP_PERR_LINE,		/* line_max exceeded */
	IMAP_PERR_LITERAL,	/* literal_max exceeded (size known at once) */
	IMAP_PERR_COMMAND,	/* command_max exceeded */
	IMAP_PERR_DEPTH,	/* depth_max exceeded */
	IMAP_PERR_ARGS,		/* args_max exceeded */
	IMAP_PERR_NOMEM,	/* allocation failed */
	IMAP_PERR_SINK,		/* a literal's sink refused its data */
};

/* Valid until the next feed.  tag is set once a whole valid tag was read
 * ("tag BAD msg"), else NULL ("* BAD msg"). */
struct imap_parse_errinfo {
	enum imap_parse_error	 code;
	const char		*tag;		/* NULL if none was complete */
	const char		*msg;		/* short English sentence */
};

/* Valid until the literal is accepted or rejected. */
struct imap_literal_info {
	const char	*tag;
	/* never NULL in practice: a literal as the command name is a syntax
	 * error, never offered */
	const char	*name;		/* NULL if the literal is the name */
	/* the first argument after the name, when it is complete and a
	 * string held in memory (a UID command's subcommand, APPEND's
	 * mailbox); NULL when there is none yet, or it is this literal,
	 * a list or a streamed literal */
	const char	*first;
	int		 first_atom;	/* first is an atom */
	size_t		 nargs;		/* top-level args before this one */
	unsigned	 depth;		/* 0 = at top level */
	uint64_t	 size;
	int		 nonsync;	/* {n+}: the client will not wait */
	int		 literal8;	/* ~{n} */
	/* what command_max leaves: held in memory, a literal fits only
	 * when its size is below this (streamed, it costs nothing) */
	uint64_t	 room;
};

/* Called with each piece of a streamed literal's data as it arrives (in
 * pieces of any size, never empty).  A non-zero return makes the command
 * fail: the sink is not called again, the rest of the literal is still
 * read (so the stream stays in step), then the feed returns
 * IMAP_PARSE_ERROR with IMAP_PERR_SINK, so that the caller asks the
 * sink's owner why.  A NUL in a literal (not literal8) stops the sink the
 * same way, before the piece holding it, and fails with IMAP_PERR_SYNTAX.
 * The parser never tells the sink that its literal ended or failed: the
 * caller learns that from the feed's result. */
typedef int (*imap_literal_sink)(void *ctx, const char *data, size_t len);

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_limits *);
void	imap_parser_free(struct imap_parser *);

/* Replace the limits; takes effect from the next command. */
void	imap_parser_set_limits(struct imap_parser *,
	    const struct imap_limits *);

/* Forget any partial command and return to the start of a line. */
void	imap_parser_reset(struct imap_parser *);

/*
 * Feed up to len bytes.  *used_r says how many were taken; the rest must be
 * given again at the next call (the parser stops right after a command's
 * final LF, before a literal's first byte, and right after an error).
 *   MORE     all bytes taken, the command is not complete
 *   COMMAND  imap_parser_command() has it; the next feed starts anew
 *   LITERAL  imap_parser_literal() describes it; call accept or reject
 *            before feeding again
 *   ERROR    imap_parser_error() describes it.  Feeding again discards
 *            input up to the end of the bad command's line (for a
 *            rejected or too large {n+} literal: its bytes first), then
 *            parses the next command.  The caller may instead close.
 * Feeding while a literal awaits a decision refuses it (as
 * imap_parser_literal_reject) and returns ERROR, IMAP_PERR_COMMAND, with
 * nothing used.
 */
enum imap_parse_status imap_parser_feed(struct imap_parser *,
	    const char *data, size_t len, size_t *used_r);

/*
 * 1 if no byte of a command has been taken since the last one ended (or
 * was skipped as bad): a point where the session may end without cutting
 * a command short.  0 in the middle of a command, its literals included.
 */
int	imap_parser_between(const struct imap_parser *);

/* Each returns NULL when the last feed did not report that. */
const struct imap_cmdline *imap_parser_command(const struct imap_parser *);
const struct imap_parse_errinfo *imap_parser_error(const struct imap_parser *);
const struct imap_literal_info *imap_parser_literal(const struct imap_parser *);

/* Accept the pending literal into memory, or hand its bytes to sink
 * (then the arg is IMAP_ARGF_STREAMED).  0, or -1 if nothing is pending.
 * Held in memory a literal also counts against command_max, which the
 * announcement could not check (it might have been streamed): if it does
 * not fit, its bytes are read and dropped and the command fails with
 * IMAP_PERR_COMMAND after them, so a "+" already sent does no harm. */
int	imap_parser_literal_accept(struct imap_parser *);
int	imap_parser_literal_accept_sink(struct imap_parser *,
	    imap_literal_sink, void *ctx);

/* Refuse the pending literal.  A synchronizing literal ends the command
 * (the client sends no literal bytes after a refusal, so the next byte is
 * a new command); a {n+} one is discarded with the rest of its command. */
void	imap_parser_literal_reject(struct imap_parser *);

/* Helpers for command code.  literal8 is not a string for these; a
 * streamed literal is a string, but with no text (astring gives NULL). */
int	imap_arg_is_nil(const struct imap_arg *);	/* atom NIL, any case */
int	imap_arg_is_string(const struct imap_arg *);	/* atom/quoted/literal */
/* astring: atom, quoted or literal held in memory; returns str or NULL */
const char *imap_arg_astring(const struct imap_arg *);
/* atom only: returns str or NULL */
const char *imap_arg_atom(const struct imap_arg *);

#endif
