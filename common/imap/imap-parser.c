/*
 * imap-parser: IMAP command parsing.  See imap-parser.h for the contract.
 *
 * Every byte goes through one state machine; nothing recurses and nothing
 * waits for a whole line, so a command split anywhere across feeds parses
 * exactly as if it had arrived at once.
 *
 * Storage of one command:
 *   text    every string (tag, name, atoms, quoted strings, literals), each
 *           followed by a NUL.  It may move when it grows, so arguments
 *           refer to it by offset until the command is complete.
 *   stk     the finished arguments of the top level and of every list
 *           still open, in order; frames[] says where each open list's
 *           children begin.
 *   fin     when a list closes its children move here as one run, and the
 *           list itself is pushed on stk; at the end the top level moves
 *           here too.  Every argument is copied once, so a list of 100,000
 *           elements costs linear time.  fin is then rewritten in place
 *           into the struct imap_arg array handed to the caller.
 *
 * command_max is checked against the tree handed over: each string with
 * its NUL plus sizeof(struct imap_arg) per argument.  The working memory is
 * at most a small multiple of that.
 *
 * Getting back in step after an error means skipping to the end of the
 * line.  If that line ends with a non-synchronizing literal "{n+}", the
 * client is sending n bytes we must not read as commands, so the skipping
 * also watches for that pattern and skips the literal's bytes as well.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "common/lib/strnum.h"
#include "common/lib/wipe.h"

/* Buffers bigger than this are freed after a command, not kept. */
#define KEEP_TEXT	2048
#define KEEP_ARRAY	1024

/* More digits than this cannot be a size we would ever accept. */
#define LITDIG_MAX	20

enum pstate {
	PS_START,		/* start of a line */
	PS_TAG,
	PS_NAME_START,		/* after "tag SP" */
	PS_NAME,
	PS_ARG,			/* after SP: an argument must follow */
	PS_LIST_OPEN,		/* after "(": an argument or ")" */
	PS_ATOM,
	PS_TILDE,		/* "~" seen: literal8 or an atom */
	PS_QUOTED,
	PS_QUOTED_ESC,
	PS_LIT_SIZE,		/* "{" seen, digits follow */
	PS_LIT_PLUS,		/* "{n+" */
	PS_LIT_CLOSE,		/* "{n}" or "{n+}", CRLF must follow */
	PS_LIT_WAIT,		/* offered, awaiting accept/reject */
	PS_LIT_DATA,
	PS_AFTER_ARG,		/* SP, ")" or end of line follows */
	PS_AFTER_CLOSE,		/* as PS_AFTER_ARG, or "]" */
	PS_SKIP_LIT,		/* dropping a refused {n+} literal */
	PS_SKIP_LINE,		/* dropping the rest of a bad line */
};

/* Where PS_SKIP_LINE is in matching a trailing "{n+}" CRLF. */
enum dmstate {
	DM_NONE,
	DM_DIGITS,
	DM_PLUS,
	DM_CLOSE,
	DM_CR,
};

enum litmode {
	LIT_MEMORY,
	LIT_SINK,
	LIT_DROP,		/* read and forget, then fail the command */
};

/* An argument while the command is being built; see the top comment. */
struct parg {
	enum imap_arg_type	 type;
	unsigned		 flags;
	size_t			 off;	/* strings: in text; lists: in fin */
	size_t			 len;
};

_Static_assert(sizeof(struct imap_arg) >= sizeof(struct parg),
    "fin is rewritten in place from parg to imap_arg");

#define PSZ	sizeof(struct parg)
#define ASZ	sizeof(struct imap_arg)

struct imap_parser {
	struct imap_limits	 lim;		/* of the current command */
	struct imap_limits	 next_lim;
	enum pstate		 state;
	int			 cr;		/* CR taken, LF must follow */
	int			 finished;	/* clean up at the next feed */
	int			 have_cmd;
	size_t			 linelen;

	struct buf		 text;
	struct buf		 stk;
	struct buf		 fin;
	struct buf		 frames;	/* size_t per open list */
	unsigned		 depth;
	size_t			 nargs;		/* in the whole tree */
	size_t			 argmem;	/* nargs * ASZ */
	int			 tag_done;
	size_t			 name_off;
	size_t			 tok_off;	/* current string in text */

	/* literal: digits are shared with the skip matcher */
	char			 litdig[LITDIG_MAX];
	unsigned		 nlitdig;
	int			 lit_nonsync;
	int			 lit8;
	uint64_t		 lit_size;
	uint64_t		 lit_left;
	unsigned		 lit_flags;
	enum litmode		 litmode;
	imap_literal_sink	 sink;
	void			*sink_ctx;
	enum imap_parse_error	 drop_code;
	const char		*drop_msg;

	uint64_t		 skip_left;
	enum dmstate		 dm;

	struct imap_cmdline	 cmd;
	struct imap_parse_errinfo err;
	struct imap_literal_info litinfo;
	struct imap_arg		 noargs;	/* what empty arrays point to */
};

static int
is_atom_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

/* ASTRING-CHAR except "+": 7-bit, no list wildcards or backslash. */
static int
is_tag_char(unsigned char c)
{
	return c < 0x7f && is_atom_char(c) && c != '%' && c != '*' &&
	    c != '\\' && c != '+';
}

static int
is_quoted_plain(unsigned char c)
{
	return c != '"' && c != '\\' && c != '\r' && c != '\n' && c != '\0';
}

static size_t
nstk(const struct imap_parser *p)
{
	return p->stk.len / PSZ;
}

static size_t
nfin(const struct imap_parser *p)
{
	return p->fin.len / PSZ;
}

static size_t
mem_room(const struct imap_parser *p)
{
	size_t used = p->text.len + p->argmem;

	return used < p->lim.command_max ? p->lim.command_max - used : 0;
}

static size_t
line_room(const struct imap_parser *p)
{
	return p->linelen < p->lim.line_max ? p->lim.line_max - p->linelen : 0;
}

static void
shrink(struct buf *b, size_t keep, int secret)
{
	if (b->cap > keep) {
		if (secret)
			buf_free_secret(b);
		else
			buf_free(b);
	} else {
		/* the command may have carried a password */
		if (secret && b->data != NULL)
			wipe(b->data, b->len);
		buf_reset(b);
	}
}

/* Forget the command's storage; the skip state is left alone. */
static void
drop_command(struct imap_parser *p)
{
	shrink(&p->text, KEEP_TEXT, 1);
	shrink(&p->stk, KEEP_ARRAY, 0);
	shrink(&p->fin, KEEP_ARRAY, 0);
	shrink(&p->frames, KEEP_ARRAY, 0);
	p->depth = 0;
	p->nargs = 0;
	p->argmem = 0;
	p->tag_done = 0;
	p->name_off = 0;
	p->tok_off = 0;
	p->linelen = 0;
	p->have_cmd = 0;
	p->finished = 0;
	memset(&p->cmd, 0, sizeof(p->cmd));
	memset(&p->err, 0, sizeof(p->err));
	memset(&p->litinfo, 0, sizeof(p->litinfo));
	p->sink = NULL;
	p->sink_ctx = NULL;
}

static void
begin_command(struct imap_parser *p)
{
	if (p->text.len != 0 || p->stk.len != 0 || p->fin.len != 0)
		drop_command(p);
	p->lim = p->next_lim;
	/* buf wants max < SIZE_MAX; mem_room() does the real limiting */
	p->text.max = p->lim.command_max < SIZE_MAX / 2 ?
	    p->lim.command_max : SIZE_MAX / 2;
	p->linelen = 0;
}

/*
 * One byte of a line being skipped.  An LF ends the line unless it was
 * announcing a {n+} literal, whose bytes are skipped before going on.
 */
static void
skip_byte(struct imap_parser *p, unsigned char c)
{
	uint64_t n;

	if (c == '\n') {
		if ((p->dm == DM_CLOSE || p->dm == DM_CR) &&
		    strnum_u64_n(p->litdig, p->nlitdig, UINT64_MAX, &n) == 0) {
			/* the line goes on after the literal */
			p->dm = DM_NONE;
			if (n > 0) {
				p->skip_left = n;
				p->state = PS_SKIP_LIT;
			}
			return;
		}
		p->dm = DM_NONE;
		p->state = PS_START;
		p->cr = 0;
		return;
	}
	if (c == '{') {
		p->dm = DM_DIGITS;
		p->nlitdig = 0;
		return;
	}
	switch (p->dm) {
	case DM_DIGITS:
		if (c >= '0' && c <= '9' && p->nlitdig < LITDIG_MAX)
			p->litdig[p->nlitdig++] = (char)c;
		else if (c == '+' && p->nlitdig > 0)
			p->dm = DM_PLUS;
		else
			p->dm = DM_NONE;
		break;
	case DM_PLUS:
		p->dm = c == '}' ? DM_CLOSE : DM_NONE;
		break;
	case DM_CLOSE:
		p->dm = c == '\r' ? DM_CR : DM_NONE;
		break;
	default:
		p->dm = DM_NONE;
		break;
	}
}

/*
 * Record an error; c is the byte that caused it (already taken), or -1.
 * The rest of the line will be skipped, and the skip matcher starts from
 * what the literal states have seen so that a "{n+}" announcement cut by
 * the error is still recognised.
 */
static enum imap_parse_status
fail(struct imap_parser *p, enum imap_parse_error code, const char *msg,
    int c)
{
	p->err.code = code;
	p->err.msg = msg;
	p->err.tag = p->tag_done ? p->text.data : NULL;
	p->finished = 1;
	switch (p->state) {
	case PS_LIT_SIZE:
		p->dm = DM_DIGITS;
		break;
	case PS_LIT_PLUS:
		p->dm = DM_PLUS;
		break;
	case PS_LIT_CLOSE:
		if (!p->lit_nonsync)
			p->dm = DM_NONE;
		else
			p->dm = p->cr ? DM_CR : DM_CLOSE;
		break;
	default:
		p->dm = DM_NONE;
		break;
	}
	p->cr = 0;
	p->state = PS_SKIP_LINE;
	if (c >= 0)
		skip_byte(p, (unsigned char)c);
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_status
fail_buf(struct imap_parser *p, int c)
{
	if (errno == ENOMEM)
		return fail(p, IMAP_PERR_NOMEM, "Server out of memory", c);
	return fail(p, IMAP_PERR_COMMAND, "Command too large", c);
}

/* Append to the current string, within command_max. */
static int
text_add(struct imap_parser *p, const void *d, size_t n)
{
	if (n > mem_room(p)) {
		errno = EMSGSIZE;
		return -1;
	}
	return buf_add(&p->text, d, n);
}

static void
start_string(struct imap_parser *p)
{
	p->tok_off = p->text.len;
}

/* Terminate the current string with its NUL. */
static int
end_string(struct imap_parser *p)
{
	return text_add(p, "", 1);
}

static int
push(struct imap_parser *p, enum imap_arg_type type, unsigned flags,
    size_t off, size_t len)
{
	struct parg a;

	a.type = type;
	a.flags = flags;
	a.off = off;
	a.len = len;
	return buf_add(&p->stk, &a, sizeof(a));
}

/* A string token is complete: NUL it and push it. */
static int
push_string(struct imap_parser *p, enum imap_arg_type type)
{
	size_t len = p->text.len - p->tok_off;

	if (end_string(p) == -1)
		return -1;
	return push(p, type, 0, p->tok_off, len);
}

/* A new argument starts: count it against args_max and command_max. */
static enum imap_parse_status
new_arg(struct imap_parser *p, int c)
{
	if (p->nargs >= p->lim.args_max)
		return fail(p, IMAP_PERR_ARGS, "Too many arguments", c);
	if (ASZ > mem_room(p))
		return fail(p, IMAP_PERR_COMMAND, "Command too large", c);
	p->nargs++;
	p->argmem += ASZ;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_status
open_list(struct imap_parser *p, int c)
{
	size_t start = nstk(p);

	if (p->depth >= p->lim.depth_max)
		return fail(p, IMAP_PERR_DEPTH, "Too deeply nested lists", c);
	if (new_arg(p, c) != IMAP_PARSE_MORE)
		return IMAP_PARSE_ERROR;
	if (buf_add(&p->frames, &start, sizeof(start)) == -1)
		return fail_buf(p, c);
	p->depth++;
	p->state = PS_LIST_OPEN;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_status
close_list(struct imap_parser *p, int c)
{
	size_t start, k, first;

	memcpy(&start, p->frames.data + p->frames.len - sizeof(start),
	    sizeof(start));
	k = nstk(p) - start;
	first = nfin(p);
	if (k > 0 && buf_add(&p->fin, p->stk.data + start * PSZ,
	    k * PSZ) == -1)
		return fail_buf(p, c);
	buf_truncate(&p->frames, p->frames.len - sizeof(start));
	buf_truncate(&p->stk, start * PSZ);
	if (push(p, IMAP_ARG_LIST, 0, first, k) == -1)
		return fail_buf(p, c);
	p->depth--;
	p->state = PS_AFTER_CLOSE;
	return IMAP_PARSE_MORE;
}

/*
 * The command is complete: move the top level into fin and rewrite fin in
 * place as the caller's struct imap_arg array.  Going from the last
 * element down is safe because imap_arg i starts at or after the end of
 * every parg j < i.
 */
static enum imap_parse_status
finish_command(struct imap_parser *p, int c)
{
	struct imap_arg *out;
	struct parg *in, a;
	size_t n = nstk(p), base = nfin(p), total, i;

	if (n > 0 && buf_add(&p->fin, p->stk.data, n * PSZ) == -1)
		return fail_buf(p, c);
	total = base + n;
	if (total > 0 && buf_reserve(&p->fin, total * ASZ - p->fin.len) == -1)
		return fail_buf(p, c);
	/* the reservation is written past fin.len; fin is dropped next */
	in = (struct parg *)(void *)p->fin.data;
	out = (struct imap_arg *)(void *)p->fin.data;
	for (i = total; i-- > 0;) {
		a = in[i];
		out[i].type = a.type;
		out[i].flags = a.flags;
		out[i].len = a.len;
		out[i].str = NULL;
		out[i].list = NULL;
		if (a.type == IMAP_ARG_LIST)
			out[i].list = a.len > 0 ? out + a.off : &p->noargs;
		else if (!(a.flags & IMAP_ARGF_STREAMED))
			out[i].str = p->text.data + a.off;
	}
	p->cmd.tag = p->text.data;
	p->cmd.name = p->text.data + p->name_off;
	p->cmd.args = n > 0 ? out + base : &p->noargs;
	p->cmd.nargs = n;
	p->have_cmd = 1;
	p->finished = 1;
	p->state = PS_START;
	return IMAP_PARSE_COMMAND;
}

/* "{n}" or "{n+}" seen: the size is checked before anything is offered. */
static enum imap_parse_status
lit_close(struct imap_parser *p, int c)
{
	uint64_t n;

	if (p->nlitdig == 0)
		return fail(p, IMAP_PERR_SYNTAX, "Invalid literal size", c);
	if (strnum_u64_n(p->litdig, p->nlitdig, UINT64_MAX, &n) == -1 ||
	    n > p->lim.literal_max)
		return fail(p, IMAP_PERR_LITERAL, "Literal too large", c);
#if SIZE_MAX < UINT64_MAX
	/* a streamed literal's size must fit imap_arg.len */
	if (n > SIZE_MAX)
		return fail(p, IMAP_PERR_LITERAL, "Literal too large", c);
#endif
	p->lit_size = n;
	p->state = PS_LIT_CLOSE;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_status
lit_offer(struct imap_parser *p)
{
	struct imap_literal_info *li = &p->litinfo;
	struct parg first;
	size_t top;

	if (p->depth == 0)
		top = nstk(p);
	else
		memcpy(&top, p->frames.data, sizeof(top));
	li->tag = p->text.data;
	li->name = p->text.data + p->name_off;
	li->first = NULL;
	li->first_atom = 0;
	/* the top level's first entry on stk is the first argument itself
	 * until a list closes there (then it is that list) */
	if (top > 0) {
		memcpy(&first, p->stk.data, sizeof(first));
		if (first.type != IMAP_ARG_LIST &&
		    first.type != IMAP_ARG_LITERAL8 &&
		    !(first.flags & IMAP_ARGF_STREAMED)) {
			li->first = p->text.data + first.off;
			li->first_atom = first.type == IMAP_ARG_ATOM;
		}
	}
	li->nargs = top;
	li->depth = p->depth;
	li->size = p->lit_size;
	li->nonsync = p->lit_nonsync;
	li->literal8 = p->lit8;
	li->room = mem_room(p);
	p->state = PS_LIT_WAIT;
	return IMAP_PARSE_LITERAL;
}

/* Stop taking a literal's data: its remaining bytes are read and
 * dropped, and the command fails with code once they are. */
static void
lit_drop(struct imap_parser *p, enum imap_parse_error code, const char *msg)
{
	p->litmode = LIT_DROP;
	p->drop_code = code;
	p->drop_msg = msg;
}

/*
 * Take up to n literal bytes; returns how many.  A NUL in a literal that
 * may not carry one fails the command, but only after the bytes before
 * it are taken like any others: the first failure by position is the
 * one reported, however the input is cut into reads.
 */
static size_t
lit_data(struct imap_parser *p, const char *d, size_t n)
{
	const char *nul;
	size_t k = n, take;

	if (k > p->lit_left)
		k = (size_t)p->lit_left;
	if (k == 0)
		return 0;
	take = k;
	if (p->litmode != LIT_DROP &&
	    (nul = memchr(d, '\0', k)) != NULL) {
		p->lit_flags |= IMAP_ARGF_HAS_NUL;
		if (!p->lit8)
			take = (size_t)(nul - d);
	}
	switch (take > 0 ? p->litmode : LIT_DROP) {
	case LIT_MEMORY:
		/* accept reserved room for all of it */
		if (buf_add(&p->text, d, take) == -1)
			lit_drop(p, IMAP_PERR_NOMEM, "Server out of memory");
		break;
	case LIT_SINK:
		if (p->sink(p->sink_ctx, d, take) != 0)
			lit_drop(p, IMAP_PERR_SINK,
			    "Literal data could not be stored");
		break;
	case LIT_DROP:
		break;
	}
	if (take < k && p->litmode != LIT_DROP)
		lit_drop(p, IMAP_PERR_SYNTAX, "NUL byte in a literal "
		    "(only literal8 ~{n} may carry one)");
	p->lit_left -= k;
	return k;
}

static enum imap_parse_status
lit_done(struct imap_parser *p)
{
	enum imap_arg_type type = p->lit8 ? IMAP_ARG_LITERAL8 :
	    IMAP_ARG_LITERAL;

	switch (p->litmode) {
	case LIT_MEMORY:
		if (end_string(p) == -1 ||
		    push(p, type, p->lit_flags, p->tok_off,
		    (size_t)p->lit_size) == -1)
			return fail_buf(p, -1);
		break;
	case LIT_SINK:
		if (push(p, type, p->lit_flags, 0, (size_t)p->lit_size) == -1)
			return fail_buf(p, -1);
		break;
	case LIT_DROP:
		return fail(p, p->drop_code, p->drop_msg, -1);
	}
	p->state = PS_AFTER_ARG;
	return IMAP_PARSE_MORE;
}

/* A token may start here (after SP or "("). */
static enum imap_parse_status
arg_start(struct imap_parser *p, unsigned char c)
{
	int open = p->state == PS_LIST_OPEN;

	switch (c) {
	case '(':
		return open_list(p, c);
	case ')':
		if (!open)
			return fail(p, IMAP_PERR_SYNTAX,
			    "Unexpected space before )", c);
		return close_list(p, c);
	case ' ':
		return fail(p, IMAP_PERR_SYNTAX, open ?
		    "Unexpected space after (" :
		    "Extra space between arguments", c);
	case '\r':
		/* the error is reported at the LF, which ends the line */
		p->cr = 1;
		return IMAP_PARSE_MORE;
	case '\n':
		return fail(p, IMAP_PERR_SYNTAX, open ? "Missing )" :
		    "Unexpected space at end of line", c);
	}
	if (c != '"' && c != '{' && !is_atom_char(c))
		return fail(p, IMAP_PERR_SYNTAX,
		    "Invalid character in argument", c);
	if (new_arg(p, c) != IMAP_PARSE_MORE)
		return IMAP_PARSE_ERROR;
	start_string(p);
	switch (c) {
	case '"':
		p->state = PS_QUOTED;
		return IMAP_PARSE_MORE;
	case '{':
		p->lit8 = 0;
		p->lit_nonsync = 0;
		p->nlitdig = 0;
		p->state = PS_LIT_SIZE;
		return IMAP_PARSE_MORE;
	case '~':
		p->state = PS_TILDE;
		break;
	default:
		p->state = PS_ATOM;
		break;
	}
	if (text_add(p, &c, 1) == -1)
		return fail_buf(p, c);
	return IMAP_PARSE_MORE;
}

/* After a complete argument: SP, ")" or the end of the line. */
static enum imap_parse_status
after_arg(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		p->state = PS_ARG;
		return IMAP_PARSE_MORE;
	case '\r':
		p->cr = 1;
		return IMAP_PARSE_MORE;
	case '\n':
		if (p->depth > 0)
			return fail(p, IMAP_PERR_SYNTAX, "Missing )", c);
		return finish_command(p, c);
	case ')':
		if (p->depth == 0)
			return fail(p, IMAP_PERR_SYNTAX, "Unexpected )", c);
		return close_list(p, c);
	case ']':
		/* BODY[HEADER.FIELDS (From To)]<0.100> */
		if (p->state != PS_AFTER_CLOSE)
			break;
		if (new_arg(p, c) != IMAP_PARSE_MORE)
			return IMAP_PARSE_ERROR;
		start_string(p);
		if (text_add(p, &c, 1) == -1)
			return fail_buf(p, c);
		p->state = PS_ATOM;
		return IMAP_PARSE_MORE;
	}
	return fail(p, IMAP_PERR_SYNTAX, "Missing space between arguments", c);
}

/* One byte of command text (not literal data, not skipped). */
static enum imap_parse_status
step(struct imap_parser *p, unsigned char c)
{
	if (p->state == PS_START) {
		/* empty lines are skipped and not counted */
		if (p->cr) {
			if (c != '\n')
				return fail(p, IMAP_PERR_SYNTAX,
				    "CR without LF", c);
			p->cr = 0;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r') {
			p->cr = 1;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return IMAP_PARSE_MORE;
		begin_command(p);
	}
	if (p->linelen >= p->lim.line_max)
		return fail(p, IMAP_PERR_LINE, "Line too long", c);
	p->linelen++;
	if (p->cr) {
		if (c != '\n')
			return fail(p, IMAP_PERR_SYNTAX, "CR without LF", c);
		p->cr = 0;
	}
again:
	switch (p->state) {
	case PS_START:
		if (c == ' ')
			return fail(p, IMAP_PERR_SYNTAX, "Missing tag", c);
		if (!is_tag_char(c))
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in tag", c);
		start_string(p);
		if (text_add(p, &c, 1) == -1)
			return fail_buf(p, c);
		p->state = PS_TAG;
		return IMAP_PARSE_MORE;
	case PS_TAG:
		if (is_tag_char(c)) {
			if (text_add(p, &c, 1) == -1)
				return fail_buf(p, c);
			return IMAP_PARSE_MORE;
		}
		if (c != ' ' && c != '\r' && c != '\n')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in tag", c);
		if (end_string(p) == -1)
			return fail_buf(p, c);
		p->tag_done = 1;
		p->state = PS_NAME_START;
		if (c == ' ')
			return IMAP_PARSE_MORE;
		goto again;
	case PS_NAME_START:
		if (c == '\r') {
			p->cr = 1;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return fail(p, IMAP_PERR_SYNTAX, "Missing command name",
			    c);
		if (c == ' ')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Extra space before command name", c);
		if (c == '"' || c == '(' || c == '{')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Command name must be an atom", c);
		if (!is_atom_char(c))
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in command name", c);
		start_string(p);
		if (text_add(p, &c, 1) == -1)
			return fail_buf(p, c);
		p->state = PS_NAME;
		return IMAP_PARSE_MORE;
	case PS_NAME:
		if (is_atom_char(c)) {
			if (text_add(p, &c, 1) == -1)
				return fail_buf(p, c);
			return IMAP_PARSE_MORE;
		}
		if (c != ' ' && c != '\r' && c != '\n')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in command name", c);
		if (end_string(p) == -1)
			return fail_buf(p, c);
		p->name_off = p->tok_off;
		p->state = PS_AFTER_ARG;
		goto again;
	case PS_ARG:
	case PS_LIST_OPEN:
		return arg_start(p, c);
	case PS_TILDE:
		if (c == '{') {
			/* the "~" was not an atom after all */
			buf_truncate(&p->text, p->tok_off);
			p->lit8 = 1;
			p->lit_nonsync = 0;
			p->nlitdig = 0;
			p->state = PS_LIT_SIZE;
			return IMAP_PARSE_MORE;
		}
		p->state = PS_ATOM;
		/* FALLTHROUGH */
	case PS_ATOM:
		if (is_atom_char(c)) {
			if (text_add(p, &c, 1) == -1)
				return fail_buf(p, c);
			return IMAP_PARSE_MORE;
		}
		if (c == '(')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Missing space before (", c);
		if (c != ' ' && c != '\r' && c != '\n' && c != ')')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in atom", c);
		if (push_string(p, IMAP_ARG_ATOM) == -1)
			return fail_buf(p, c);
		p->state = PS_AFTER_ARG;
		goto again;
	case PS_QUOTED:
		if (c == '"') {
			if (push_string(p, IMAP_ARG_QUOTED) == -1)
				return fail_buf(p, c);
			p->state = PS_AFTER_ARG;
			return IMAP_PARSE_MORE;
		}
		if (c == '\\') {
			p->state = PS_QUOTED_ESC;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r' || c == '\n')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Unterminated quoted string", c);
		if (c == '\0')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid character in quoted string", c);
		if (text_add(p, &c, 1) == -1)
			return fail_buf(p, c);
		return IMAP_PARSE_MORE;
	case PS_QUOTED_ESC:
		if (c == '\r' || c == '\n')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Unterminated quoted string", c);
		if (c != '\\' && c != '"')
			return fail(p, IMAP_PERR_SYNTAX,
			    "Invalid escape in quoted string", c);
		if (text_add(p, &c, 1) == -1)
			return fail_buf(p, c);
		p->state = PS_QUOTED;
		return IMAP_PARSE_MORE;
	case PS_LIT_SIZE:
		if (c >= '0' && c <= '9') {
			if (p->nlitdig == LITDIG_MAX)
				return fail(p, IMAP_PERR_LITERAL,
				    "Literal too large", c);
			p->litdig[p->nlitdig++] = (char)c;
			return IMAP_PARSE_MORE;
		}
		if (c == '+' && p->nlitdig > 0) {
			p->lit_nonsync = 1;
			p->state = PS_LIT_PLUS;
			return IMAP_PARSE_MORE;
		}
		if (c == '}')
			return lit_close(p, c);
		return fail(p, IMAP_PERR_SYNTAX, "Invalid literal size", c);
	case PS_LIT_PLUS:
		if (c == '}')
			return lit_close(p, c);
		return fail(p, IMAP_PERR_SYNTAX, "Invalid literal size", c);
	case PS_LIT_CLOSE:
		if (c == '\r') {
			p->cr = 1;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return lit_offer(p);
		return fail(p, IMAP_PERR_SYNTAX,
		    "Missing end of line after literal size", c);
	case PS_AFTER_ARG:
	case PS_AFTER_CLOSE:
		return after_arg(p, c);
	case PS_LIT_WAIT:
	case PS_LIT_DATA:
	case PS_SKIP_LIT:
	case PS_SKIP_LINE:
		break;
	}
	/* not reached: feed() handles the states above itself */
	return fail(p, IMAP_PERR_SYNTAX, "Internal parser error", c);
}

/*
 * Take a run of plain bytes of an atom or quoted string at once, stopping
 * where a limit would be passed so that step() reports it at exactly the
 * byte it would have reported it at when fed one byte at a time.
 */
static size_t
run(struct imap_parser *p, const char *d, size_t n)
{
	size_t k = 0, lim;
	int quoted = p->state == PS_QUOTED;

	lim = line_room(p);
	if (lim > mem_room(p))
		lim = mem_room(p);
	if (lim > n)
		lim = n;
	if (quoted)
		while (k < lim && is_quoted_plain((unsigned char)d[k]))
			k++;
	else
		while (k < lim && is_atom_char((unsigned char)d[k]))
			k++;
	if (k == 0 || buf_add(&p->text, d, k) == -1)
		return 0;
	p->linelen += k;
	return k;
}

/*
 * Skip bytes of a bad line until its end; returns how many were taken.
 * Only "{" and LF matter while no "{n+}" is being matched, so the bytes
 * between them are passed over with memchr.
 */
static size_t
skip_run(struct imap_parser *p, const char *d, size_t n)
{
	const char *lf, *br;
	size_t i = 0, end;

	lf = memchr(d, '\n', n);
	end = lf != NULL ? (size_t)(lf - d) + 1 : n;
	while (i < end && p->state == PS_SKIP_LINE) {
		if (p->dm == DM_NONE) {
			br = memchr(d + i, '{', end - i);
			if (br == NULL) {
				/* at most the LF is left to look at */
				i = lf != NULL ? end - 1 : end;
				if (i == end)
					break;
			} else
				i = (size_t)(br - d);
		}
		skip_byte(p, (unsigned char)d[i++]);
	}
	return i;
}

enum imap_parse_status
imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
    size_t *used_r)
{
	enum imap_parse_status st;
	size_t i = 0, k;
	uint64_t left;

	*used_r = 0;
	if (p->finished)
		drop_command(p);
	if (p->state == PS_LIT_WAIT) {
		/* the caller did not decide: refuse it and say so */
		imap_parser_literal_reject(p);
		p->err.code = IMAP_PERR_COMMAND;
		p->err.msg = "Literal refused";
		p->err.tag = p->text.data;
		return IMAP_PARSE_ERROR;
	}
	for (;;) {
		switch (p->state) {
		case PS_LIT_DATA:
			/* an empty literal completes without input */
			if (i < len)
				i += lit_data(p, data + i, len - i);
			if (p->lit_left > 0)
				break;
			if ((st = lit_done(p)) != IMAP_PARSE_MORE) {
				*used_r = i;
				return st;
			}
			continue;
		case PS_SKIP_LIT:
			left = p->skip_left;
			k = len - i;
			if (k > left)
				k = (size_t)left;
			i += k;
			p->skip_left -= k;
			if (p->skip_left == 0) {
				p->state = PS_SKIP_LINE;
				p->dm = DM_NONE;
			}
			if (i == len)
				break;
			continue;
		case PS_SKIP_LINE:
			if (i < len)
				i += skip_run(p, data + i, len - i);
			if (i == len)
				break;
			continue;
		case PS_ATOM:
		case PS_QUOTED:
			if (i < len && (k = run(p, data + i, len - i)) > 0) {
				i += k;
				continue;
			}
			break;
		default:
			break;
		}
		if (i == len)
			break;
		if ((st = step(p, (unsigned char)data[i++])) !=
		    IMAP_PARSE_MORE) {
			*used_r = i;
			return st;
		}
	}
	*used_r = i;
	return IMAP_PARSE_MORE;
}

struct imap_parser *
imap_parser_new(const struct imap_limits *lim)
{
	struct imap_parser *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->lim = p->next_lim = *lim;
	buf_init(&p->text, 0);
	buf_init(&p->stk, SIZE_MAX / 2);
	buf_init(&p->fin, SIZE_MAX / 2);
	buf_init(&p->frames, SIZE_MAX / 2);
	p->state = PS_START;
	begin_command(p);
	return p;
}

void
imap_parser_free(struct imap_parser *p)
{
	if (p == NULL)
		return;
	buf_free_secret(&p->text);
	buf_free(&p->stk);
	buf_free(&p->fin);
	buf_free(&p->frames);
	free(p);
}

void
imap_parser_set_limits(struct imap_parser *p, const struct imap_limits *lim)
{
	p->next_lim = *lim;
}

int
imap_parser_between(const struct imap_parser *p)
{
	return p->state == PS_START && !p->cr;
}

void
imap_parser_reset(struct imap_parser *p)
{
	drop_command(p);
	p->state = PS_START;
	p->cr = 0;
	p->dm = DM_NONE;
	p->skip_left = 0;
	p->lit_left = 0;
	begin_command(p);
}

const struct imap_cmdline *
imap_parser_command(const struct imap_parser *p)
{
	return p->have_cmd ? &p->cmd : NULL;
}

const struct imap_parse_errinfo *
imap_parser_error(const struct imap_parser *p)
{
	return p->err.code != IMAP_PERR_NONE ? &p->err : NULL;
}

const struct imap_literal_info *
imap_parser_literal(const struct imap_parser *p)
{
	return p->state == PS_LIT_WAIT ? &p->litinfo : NULL;
}

static void
lit_begin(struct imap_parser *p)
{
	p->lit_left = p->lit_size;
	p->lit_flags = p->lit_nonsync ? IMAP_ARGF_NONSYNC : 0;
	p->state = PS_LIT_DATA;
}

int
imap_parser_literal_accept(struct imap_parser *p)
{
	if (p->state != PS_LIT_WAIT)
		return -1;
	lit_begin(p);
	start_string(p);
	p->litmode = LIT_MEMORY;
	/*
	 * The announcement could not check this: the caller may stream a
	 * literal bigger than what is left of command_max.  Held in memory
	 * it does not fit, so its bytes are read and dropped and the
	 * command fails, which keeps the client and us in step.
	 */
	if (p->lit_size >= mem_room(p))
		lit_drop(p, IMAP_PERR_COMMAND, "Command too large");
	else if (buf_reserve(&p->text, (size_t)p->lit_size + 1) == -1)
		lit_drop(p, IMAP_PERR_NOMEM, "Server out of memory");
	return 0;
}

int
imap_parser_literal_accept_sink(struct imap_parser *p,
    imap_literal_sink sink, void *ctx)
{
	if (p->state != PS_LIT_WAIT)
		return -1;
	lit_begin(p);
	p->lit_flags |= IMAP_ARGF_STREAMED;
	p->litmode = LIT_SINK;
	p->sink = sink;
	p->sink_ctx = ctx;
	return 0;
}

void
imap_parser_literal_reject(struct imap_parser *p)
{
	if (p->state != PS_LIT_WAIT)
		return;
	p->finished = 1;
	p->cr = 0;
	if (!p->lit_nonsync) {
		/* the client sends nothing more of this command */
		p->state = PS_START;
		return;
	}
	p->dm = DM_NONE;
	p->skip_left = p->lit_size;
	p->state = p->lit_size > 0 ? PS_SKIP_LIT : PS_SKIP_LINE;
}

int
imap_arg_is_nil(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM && a->len == 3 &&
	    strcasecmp(a->str, "NIL") == 0;
}

int
imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	    a->type == IMAP_ARG_LITERAL;
}

const char *
imap_arg_astring(const struct imap_arg *a)
{
	if (!imap_arg_is_string(a))
		return NULL;
	return a->str;		/* NULL for a streamed literal */
}

const char *
imap_arg_atom(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM ? a->str : NULL;
}
