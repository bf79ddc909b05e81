/*
 * session: the command loop shared by the front and the back.  See
 * session.h.
 *
 * Protocol errors follow one rule: a malformed command gets BAD (tagged
 * when its tag could be read) and the session goes on; going over a size
 * limit before login, or over the line limit at any time, gets BAD and BYE
 * and the connection is closed, because the client and the server no
 * longer agree on where the next command starts.  Before login a client
 * that sends nothing but errors is cut off as well.
 *
 * A literal is held to what its command's grammar allows where it stands
 * (the command table says) before anything of it is read: refused, the
 * command ends with BAD or NO [TOOBIG] and the session goes on; the
 * bytes of a refused {n+} literal, which the client sends anyway, are
 * read and dropped, unless there are more than any command would take.
 */
#include <sys/random.h>

#include <ctype.h>
#include <poll.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/imap/mutf7.h"
#include "common/lib/log.h"
#include "common/lib/wipe.h"
#include "imapd/capability.h"
#include "imapd/commands.h"
#include "imapd/config.h"
#include "imapd/indexer.h"
#include "imapd/quota.h"
#include "imapd/selected.h"
#include "imapd/session.h"
#include "imapd/sig.h"

#define OUT_FLUSH_AT	(64 * 1024)	/* write out once this much is queued */
#define OUT_MAX		(OUT_FLUSH_AT + 4096)
#define IN_READ		(16 * 1024)
#define IN_MAX		(256 * 1024)
#define REST_AFTER_MS	1000	/* quiet this long: session_rest() */
#define PRELOGIN_ERRORS	10		/* BADs before login, then BYE */
/* A refused {n+} literal is read and dropped up to the largest literal
 * any command takes; past that the connection is closed (RFC 7888 4). */
#define LITERAL_DISCARD_MAX	APPEND_LIMIT

/* Before login: room for the largest legal command there, an ID with 30
 * pairs of 30-byte fields and 1,024-byte values (RFC 2971), quoted with
 * every byte escaped; literals only as large as a password needs. */
static const struct imap_limits limits_prelogin = {
	.line_max = 64 * 1024,
	.literal_max = 4 * 1024,
	.command_max = 72 * 1024,
	.depth_max = 4,
	.args_max = 128,
};

/* After login each literal is held to its command's grammar before it
 * is read (literal() below), so the parser itself sets no literal limit. */
static const struct imap_limits limits_loggedin = {
	.line_max = 64 * 1024,
	.literal_max = UINT64_MAX,
	/* what a legal line can make (the args of a 64 KiB line), and
	 * literals of a few KiB; APPEND's messages are streamed to disk */
	.command_max = 2 * 1024 * 1024,
	.depth_max = 32,
	.args_max = 100000,
};

void
session_init(struct session *s, const struct config *conf, struct conn *c,
    enum session_state state)
{
	memset(s, 0, sizeof(*s));
	s->conf = conf;
	s->conn = c;
	s->state = state;
	s->end = END_NONE;
	if (state == STATE_NOTAUTH) {
		/* before login they hold the credentials as sent */
		buf_init_secret(&s->in, IN_MAX);
		buf_init_secret(&s->line, 64 * 1024);
	} else {
		buf_init(&s->in, IN_MAX);
		buf_init(&s->line, 64 * 1024);
	}
	buf_init(&s->out, OUT_MAX);
	s->parser = imap_parser_new(state == STATE_NOTAUTH ?
	    &limits_prelogin : &limits_loggedin);
	if (s->parser == NULL)
		fatal("imap_parser_new");
	s->pre_login_limits = state == STATE_NOTAUTH;
	s->started_ms = session_now_ms();
}

void
session_free(struct session *s)
{
	append_abort(s);
	imap_parser_free(s->parser);
	s->parser = NULL;
	buf_free_secret(&s->in);
	buf_free(&s->out);
	buf_free_secret(&s->line);
	selected_close(s);
	indexer_end(s);
	free(s->saved);
	s->saved = NULL;
	free(s->vanished);
	s->vanished = NULL;
	s->nvanished = s->capvanished = 0;
	free(s->user);
	s->user = NULL;
	quota_end(s);
	free(s->mailroot);
	s->mailroot = NULL;
	specialuse_free(&s->specialuse);
}

void
session_newid(char *out, size_t len)
{
	static const char digits[] = "abcdefghijkmnpqrstuvwxyz23456789";
	unsigned char r[SESSION_ID_LEN];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		fatal("getrandom");
	for (i = 0; i < SESSION_ID_LEN && i + 1 < len; i++)
		out[i] = digits[r[i] % 32];
	out[i] = '\0';
}

long long
session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
session_apply_limits(struct session *s)
{
	int pre = s->state == STATE_NOTAUTH;

	if (pre == (int)s->pre_login_limits)
		return;
	imap_parser_set_limits(s->parser, pre ? &limits_prelogin :
	    &limits_loggedin);
	s->pre_login_limits = pre;
}

int
session_timeout_ms(const struct session *s)
{
	long long left;

	if (s->state == STATE_NOTAUTH) {
		/* a budget for the whole pre-login phase, not per command:
		 * a client cannot hold a login process with NOOPs */
		left = s->started_ms + (long long)s->conf->timeout_login_ms -
		    session_now_ms();
		return left < 0 ? 0 : (int)left;
	}
	return s->conf->timeout_session_ms > 0x7fffffff ? 0x7fffffff :
	    (int)s->conf->timeout_session_ms;
}

int
session_flush(struct session *s)
{
	if (s->out.len == 0)
		return 0;
	if (s->end == END_ERROR) {
		buf_reset(&s->out);
		return -1;
	}
	if (conn_write(s->conn, s->out.data, s->out.len,
	    session_timeout_ms(s) > 0 ? session_timeout_ms(s) : 1000) != 0) {
		log_info("connection lost while writing: %s", s->conn->err);
		s->end = END_ERROR;
		buf_reset(&s->out);
		return -1;
	}
	s->bytes_out += s->out.len;
	buf_reset(&s->out);
	return 0;
}

void
session_write(struct session *s, const void *p, size_t n)
{
	if (s->end == END_ERROR)
		return;
	if (s->out.len + n > OUT_FLUSH_AT && session_flush(s) == -1)
		return;
	if (n > OUT_FLUSH_AT) {
		if (conn_write(s->conn, p, n, session_timeout_ms(s)) != 0) {
			log_info("connection lost while writing: %s",
			    s->conn->err);
			s->end = END_ERROR;
			return;
		}
		s->bytes_out += n;
		return;
	}
	if (buf_add(&s->out, p, n) == -1)
		fatal("output buffer");
}

void
session_write_num(struct session *s, char sep, uint32_t n)
{
	char b[16], *p = b + sizeof(b);

	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	if (sep != '\0')
		*--p = sep;
	session_write(s, p, (size_t)(b + sizeof(b) - p));
}

void
session_printf(struct session *s, const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("session_printf: bad format");
	if ((size_t)n < sizeof(small)) {
		session_write(s, small, (size_t)n);
		return;
	}
	/* long: format straight into the output buffer */
	if (s->out.len + (size_t)n > OUT_FLUSH_AT && session_flush(s) == -1)
		return;
	va_start(ap, fmt);
	if (buf_addvf(&s->out, fmt, ap) == -1)
		fatal("session_printf");
	va_end(ap);
}

/* Count a BAD answer before login; past the limit, say BYE and end.  A
 * client that sends nothing but errors is not an IMAP client. */
static void
prelogin_error(struct session *s)
{
	if (s->state != STATE_NOTAUTH || s->end != END_NONE)
		return;
	if (++s->prelogin_errors < PRELOGIN_ERRORS)
		return;
	log_info("closing: %u malformed commands before login",
	    s->prelogin_errors);
	session_printf(s, "* BYE Too many invalid commands\r\n");
	s->end = END_PROTOCOL;
}

void
session_count_refusal(struct session *s)
{
	prelogin_error(s);
	(void)session_flush(s);
}

static void	tagged(struct session *, const struct request *, const char *,
		    const char *, va_list) __attribute__((format(printf, 4, 0)));

static void
tagged(struct session *s, const struct request *c, const char *status,
    const char *fmt, va_list ap)
{
	struct buf text;
	int in_tag;

	/* response codes such as COPYUID can be long: no fixed buffer */
	buf_init(&text, 16 * 1024 * 1024);
	if (buf_addvf(&text, fmt, ap) == -1)
		fatal("response text");
	/* what changed in the selected mailbox comes before the verdict */
	if (status[0] != 'B')
		selected_before_tagged(s, c);
	/* a folder reset under the session: BYE instead of any verdict
	 * (the command may not have done what it was asked) */
	if (selected_reset(s)) {
		buf_free(&text);
		(void)session_flush(s);
		return;
	}
	/* a new HIGHESTMODSEQ (CONDSTORE) goes into a tagged OK that has
	 * no other response code, or before the tagged response */
	in_tag = 0;
	if (status[0] != 'B' && selected_modseq_due(s)) {
		if (status[0] == 'O' && (text.len == 0 || text.data[0] != '['))
			in_tag = 1;
		else
			selected_tell_modseq(s);
	}
	session_printf(s, "%s %s ", c->tag, status);
	if (in_tag)
		session_printf(s, "[HIGHESTMODSEQ %llu] ",
		    (unsigned long long)selected_told_modseq(s));
	session_write(s, text.data, text.len);
	session_write(s, "\r\n", 2);
	buf_free(&text);
	if (status[0] == 'B')
		prelogin_error(s);
	(void)session_flush(s);
}

void
reply_ok(struct session *s, const struct request *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tagged(s, c, "OK", fmt, ap);
	va_end(ap);
}

void
reply_no(struct session *s, const struct request *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tagged(s, c, "NO", fmt, ap);
	va_end(ap);
}

void
reply_bad(struct session *s, const struct request *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tagged(s, c, "BAD", fmt, ap);
	va_end(ap);
}

int
session_utf8(const struct session *s)
{
	return (s->enabled & (ENABLED_IMAP4REV2 | ENABLED_UTF8)) != 0;
}

void
session_string(struct session *s, const char *str, size_t n)
{
	size_t i;
	int quote = 1, high = 0;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)str[i];

		if (ch == '\r' || ch == '\n' || ch == '\0') {
			quote = 0;
			break;
		}
		if (ch >= 0x80)
			high = 1;
	}
	if (quote && high)
		quote = session_utf8(s) && utf8_valid(str, n);
	if (!quote) {
		session_printf(s, "{%zu}\r\n", n);
		session_write(s, str, n);
		return;
	}
	session_write(s, "\"", 1);
	for (i = 0; i < n; i++) {
		if (str[i] == '"' || str[i] == '\\')
			session_write(s, "\\", 1);
		session_write(s, &str[i], 1);
	}
	session_write(s, "\"", 1);
}

void
session_astring(struct session *s, const char *str)
{
	session_string(s, str, strlen(str));
}

void
session_wipe_input(struct session *s)
{
	/* bytes after len were consumed but may still hold a password */
	if (s->in.data != NULL && s->in.cap > s->in.len + 1)
		wipe(s->in.data + s->in.len + 1, s->in.cap - s->in.len - 1);
	buf_wipe(&s->line);
}

/*
 * SIGUSR2: end the session at the first point between commands, so that
 * no command is cut short (an APPEND whose literal is still coming in is
 * read to its end and done first); 1 if it ends here.
 */
static int
draining(struct session *s)
{
	if (!sig_drain || s->in.len > 0 || !imap_parser_between(s->parser))
		return 0;
	s->end = END_DRAIN;
	return 1;
}

/* Read more bytes into s->in, waiting for them unless !wait.  1 got
 * some, 0 session ended, -1 nothing yet (only when !wait). */
static int
read_input(struct session *s, int wait)
{
	int timeout = wait ? session_timeout_ms(s) : 0;
	ssize_t n;

	if (buf_reserve(&s->in, IN_READ) == -1) {
		/* cannot happen: the parser consumes what it is given */
		log_warnx("input buffer full");
		s->end = END_ERROR;
		return 0;
	}
	for (;;) {
		if (sig_term) {
			s->end = END_SHUTDOWN;
			return 0;
		}
		if (draining(s))
			return 0;
		n = conn_read(s->conn, s->in.data + s->in.len, IN_READ,
		    timeout);
		if (n > 0) {
			s->in.len += (size_t)n;
			s->in.data[s->in.len] = '\0';
			s->bytes_in += (uint64_t)n;
			return 1;
		}
		switch (n) {
		case 0:
			s->end = END_EOF;
			return 0;
		case CONN_TIMEOUT:
			s->end = END_TIMEOUT;
			return 0;
		case CONN_AGAIN:
			return -1;
		case CONN_SIGNAL:
			if (sig_term) {
				s->end = END_SHUTDOWN;
				return 0;
			}
			if (draining(s))
				return 0;
			timeout = wait ? session_timeout_ms(s) : 0;
			continue;
		default:
			log_info("connection error: %s", s->conn->err);
			s->end = END_ERROR;
			return 0;
		}
	}
}

static int
read_more(struct session *s)
{
	return read_input(s, 1);
}

int
session_read_ready(struct session *s)
{
	switch (read_input(s, 0)) {
	case 1:
		return 1;
	case -1:
		return 0;
	default:
		return -1;
	}
}

int
session_read_line(struct session *s, size_t max, char **line_r)
{
	char *lf;
	size_t n;
	int toolong = 0;

	buf_reset(&s->line);
	for (;;) {
		lf = s->in.len > 0 ? memchr(s->in.data, '\n', s->in.len) : NULL;
		n = lf != NULL ? (size_t)(lf - s->in.data) : s->in.len;
		if (!toolong) {
			if (s->line.len + n > max ||
			    buf_add(&s->line, s->in.data, n) == -1)
				toolong = 1;
		}
		buf_consume(&s->in, lf != NULL ? n + 1 : n);
		if (lf != NULL)
			break;
		if (toolong && conn_compressed(s->conn)) {
			/* do not inflate an endless line to skip it */
			log_info("closing: compressed input inflated past the "
			    "line limit of %zu bytes", max);
			session_printf(s, "* BYE Line too long\r\n");
			s->end = END_PROTOCOL;
			return 0;
		}
		if (!read_more(s))
			return 0;
	}
	if (toolong) {
		buf_reset(&s->line);
		return -1;
	}
	if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
		buf_truncate(&s->line, s->line.len - 1);
	if (buf_reserve(&s->line, 0) == -1)
		return -1;
	s->line.data[s->line.len] = '\0';
	*line_r = s->line.data;
	return 1;
}

/* Copy a client-supplied word into out for a response or log line,
 * keeping only printable ASCII. */
static const char *
printable(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && in[i] != '\0'; i++)
		out[i] = (in[i] > ' ' && in[i] < 0x7f && in[i] != '"') ?
		    in[i] : '?';
	out[i] = '\0';
	return out;
}

static void
dispatch(struct session *s, const struct imap_cmdline *line)
{
	const struct command_spec *def;
	struct request c;
	char name[40];
	const char *cname = line->name;
	int uid = 0;
	size_t skip = 0;

	memset(&c, 0, sizeof(c));
	c.tag = line->tag;
	c.name = line->name;
	if (strcasecmp(cname, "UID") == 0) {
		const char *sub = line->nargs > 0 ?
		    imap_arg_atom(&line->args[0]) : NULL;

		if (sub == NULL) {
			reply_bad(s, &c, "UID must be followed by a command");
			return;
		}
		uid = 1;
		cname = sub;
		skip = 1;
	}
	s->ncommands++;
	def = command_find(cname, uid);
	if (def == NULL) {
		reply_bad(s, &c, "Unknown command %s%s", uid ? "UID " : "",
		    printable(cname, name, sizeof(name)));
		return;
	}
	c.name = def->name;
	c.args = line->args + skip;
	c.nargs = line->nargs - skip;
	c.uid = uid;
	c.spec = def;
	if (!(def->states & s->state)) {
		if (s->state == STATE_NOTAUTH)
			reply_bad(s, &c, "%s is not allowed before login; "
			    "log in first", def->name);
		else if (def->states == STATE_NOTAUTH)
			reply_bad(s, &c, "%s is not allowed after login; "
			    "already logged in", def->name);
		else if (def->states == STATE_SELECTED)
			reply_bad(s, &c, "%s needs a selected mailbox; "
			    "SELECT or EXAMINE one first", def->name);
		else
			reply_bad(s, &c, "%s is not allowed now", def->name);
		return;
	}
	def->fn(s, &c);
	/* a quota reservation never outlives its command (quota.h) */
	quota_end(s);
	(void)session_flush(s);
}

/*
 * Refuse the literal li: max is what the grammar allows where it stands
 * (0: no literal may be there).  A synchronizing literal's command ends
 * here; a {n+} one's bytes are on their way and are read and dropped,
 * unless there are more of them than any command would ever take.
 */
static void
literal_refuse(struct session *s, const struct imap_literal_info *li,
    const struct command_spec *def, uint64_t max, const char *why)
{
	char name[40];
	struct request c;
	int toobig = max > 0;

	memset(&c, 0, sizeof(c));
	c.tag = li->tag;
	c.name = def != NULL ? def->name : printable(li->name, name,
	    sizeof(name));
	c.spec = def;
	c.uid = def != NULL && strcasecmp(li->name, "UID") == 0;
	if (toobig)
		log_info("%s: refused a literal of %llu bytes (the limit for "
		    "%s there is %llu bytes)", c.name,
		    (unsigned long long)li->size, why,
		    (unsigned long long)max);
	else
		log_info("%s: refused a literal of %llu bytes (%s)", c.name,
		    (unsigned long long)li->size, why);
	if (li->nonsync && li->size > LITERAL_DISCARD_MAX) {
		session_printf(s, "%s BAD [TOOBIG] Literal too large\r\n",
		    li->tag);
		session_printf(s, "* BYE Literal of %llu bytes not read\r\n",
		    (unsigned long long)li->size);
		(void)session_flush(s);
		s->end = END_PROTOCOL;
	} else if (toobig && !li->nonsync)
		reply_no(s, &c, "[TOOBIG] Literal too large for %s (at most "
		    "%llu bytes)", why, (unsigned long long)max);
	else if (toobig)
		reply_bad(s, &c, "[TOOBIG] Literal too large for %s (at most "
		    "%llu bytes)", why, (unsigned long long)max);
	else
		reply_bad(s, &c, "Literal not allowed here (%s)", why);
	append_abort(s);
	imap_parser_literal_reject(s->parser);
}

/*
 * A literal was announced: hold it to what the command's grammar allows
 * where it stands, then say go ahead or refuse it, before a byte of it
 * is read.
 */
static void
literal(struct session *s)
{
	const struct imap_literal_info *li = imap_parser_literal(s->parser);
	const struct command_spec *def;
	uint64_t max;
	int message;

	max = command_literal_max(li, &def, &message);
	if (def == NULL) {
		literal_refuse(s, li, NULL, 0, "unknown command");
		return;
	}
	if (!(def->states & s->state)) {
		literal_refuse(s, li, def, 0, "command not allowed now");
		return;
	}
	if (max == 0) {
		literal_refuse(s, li, def, 0, li->literal8 ? "literal8 is "
		    "only for APPEND messages" : "no string there");
		return;
	}
	if (li->size > max) {
		literal_refuse(s, li, def, max, message ? "a message "
		    "(APPENDLIMIT)" : "a string in this place");
		return;
	}
	if (message) {
		append_literal(s, li);
		return;
	}
	if (li->size >= li->room) {
		literal_refuse(s, li, def, li->room > 0 ? li->room - 1 : 0,
		    "the rest of this command");
		return;
	}
	if (!li->nonsync) {
		session_printf(s, "+ Ready for literal data\r\n");
		if (session_flush(s) == -1)
			return;
	}
	if (imap_parser_literal_accept(s->parser) == -1)
		fatalx("literal accept without a literal");
}

/* The limit a parse error went past, with its value, for the log. */
static const char *
limit_str(const struct session *s, int code, char *out, size_t len)
{
	const struct imap_limits *l = s->pre_login_limits ?
	    &limits_prelogin : &limits_loggedin;
	int n;

	switch (code) {
	case IMAP_PERR_LINE:
		n = snprintf(out, len, "line limit %zu bytes", l->line_max);
		break;
	case IMAP_PERR_LITERAL:
		n = snprintf(out, len, "literal limit %llu bytes",
		    (unsigned long long)l->literal_max);
		break;
	case IMAP_PERR_COMMAND:
		n = snprintf(out, len, "command limit %zu bytes",
		    l->command_max);
		break;
	case IMAP_PERR_ARGS:
		n = snprintf(out, len, "limit of %u arguments", l->args_max);
		break;
	default:
		n = snprintf(out, len, "no limit");
		break;
	}
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';
	return out;
}

static void
parse_error(struct session *s)
{
	const struct imap_parse_errinfo *e = imap_parser_error(s->parser);
	const char *tag = e->tag != NULL ? e->tag : "*";
	char limit[64];
	int fatal_error = 0;

	if (e->code == IMAP_PERR_SINK) {
		append_store_failed(s, tag);
		return;
	}
	append_abort(s);
	switch (e->code) {
	case IMAP_PERR_LINE:
		fatal_error = 1;
		break;
	case IMAP_PERR_LITERAL:
	case IMAP_PERR_COMMAND:
	case IMAP_PERR_ARGS:
		/* after login the parser skips the rest and the session
		 * goes on; but skipping compressed input costs up to a
		 * thousand times what the client sent, so there the limits
		 * end the session */
		fatal_error = s->state == STATE_NOTAUTH ||
		    conn_compressed(s->conn);
		break;
	case IMAP_PERR_NOMEM:
		fatal_error = 1;
		break;
	default:
		break;
	}
	if (e->code == IMAP_PERR_LITERAL && !fatal_error)
		session_printf(s, "%s NO [TOOBIG] %s\r\n", tag, e->msg);
	else
		session_printf(s, "%s BAD %s\r\n", tag, e->msg);
	if (!fatal_error)
		prelogin_error(s);
	else {
		log_info("closing: %s (%s%s %s)", e->msg,
		    s->state == STATE_NOTAUTH ? "before login" : "after login",
		    conn_compressed(s->conn) ? ", compressed input inflated "
		    "past the" : ", past the",
		    limit_str(s, e->code, limit, sizeof(limit)));
		session_printf(s, "* BYE %s\r\n", e->msg);
		s->end = END_PROTOCOL;
	}
	(void)session_flush(s);
}

/* Feed buffered input to the parser and run what it completes. */
static void
process_input(struct session *s)
{
	enum imap_parse_status st;
	size_t used;

	while (s->end == END_NONE && s->in.len > 0) {
		st = imap_parser_feed(s->parser, s->in.data, s->in.len, &used);
		buf_consume(&s->in, used);
		switch (st) {
		case IMAP_PARSE_MORE:
			return;
		case IMAP_PARSE_COMMAND:
			s->rested = 0;
			dispatch(s, imap_parser_command(s->parser));
			append_abort(s);
			session_apply_limits(s);
			break;
		case IMAP_PARSE_LITERAL:
			literal(s);
			break;
		case IMAP_PARSE_ERROR:
			parse_error(s);
			break;
		}
	}
}

int
session_feed(struct session *s, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(&s->in, n) == -1)
		return -1;
	memcpy(s->in.data + s->in.len, p, n);
	s->in.len += n;
	s->in.data[s->in.len] = '\0';
	s->bytes_in += (uint64_t)n;
	return 0;
}

/* Input waiting, or the client gone, within ms (0: now)?  A signal
 * counts too: the caller looks at why. */
static int
input_within(struct session *s, int ms)
{
	struct pollfd pfd;

	if (s->in.len > 0 || conn_pending(s->conn) > 0)
		return 1;
	pfd.fd = s->conn->rfd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return sig_wait(&pfd, 1, ms) != 0;
}

int
session_input_waiting(struct session *s)
{
	return sig_term || input_within(s, 0);
}

/*
 * While the client has nothing for us: index the selected folder, a
 * slice at a time (the indexer looks for input within the slice too), or
 * wait for input until the indexer wants to try again.
 */
void
session_rest(struct session *s)
{
	if (s->state == STATE_NOTAUTH)
		return;
	s->rested = 1;
	wipe_stack();
	(void)malloc_trim(0);
}

static void
background(struct session *s)
{
	int ms;

	/* what SELECT left for later comes before anything else */
	while (!sig_term && !sig_drain && selected_new_waiting(s) &&
	    !input_within(s, 0))
		selected_move_new(s);
	/* then the structure cache a FETCH left to compact */
	if (!sig_term && !sig_drain && selected_compact_due(s) &&
	    !input_within(s, 0))
		selected_compact(s);
	/* quiet for a while, and not about to index: rest */
	if (!s->rested && s->state != STATE_NOTAUTH &&
	    ((ms = indexer_due_ms(s)) < 0 || ms >= REST_AFTER_MS) &&
	    !input_within(s, REST_AFTER_MS) && !sig_term && !sig_drain)
		session_rest(s);
	while (s->end == END_NONE && !sig_term && !sig_drain &&
	    (ms = indexer_due_ms(s)) >= 0 && !input_within(s, ms))
		indexer_work(s, INDEXER_SLICE_MS);
}

enum session_end
session_run(struct session *s)
{
	while (s->end == END_NONE) {
		process_input(s);
		if (s->end != END_NONE)
			break;
		if (session_flush(s) == -1)
			break;
		background(s);
		if (!read_more(s))
			break;
	}
	switch (s->end) {
	case END_TIMEOUT:
		session_printf(s, "* BYE Autologout; idle for too long\r\n");
		break;
	case END_SHUTDOWN:
		session_printf(s, "* BYE Server shutting down\r\n");
		break;
	case END_DRAIN:
		/* RFC 9051 7.1: UNAVAILABLE, the server is going away; a
		 * client behind a proxy reconnects and lands elsewhere */
		session_printf(s, "* BYE [UNAVAILABLE] Server going down "
		    "for maintenance; reconnect to continue\r\n");
		break;
	default:
		break;
	}
	(void)session_flush(s);
	return s->end;
}

const char *
session_end_str(enum session_end e)
{
	switch (e) {
	case END_NONE:
		return "running";
	case END_LOGOUT:
		return "logged out";
	case END_EOF:
		return "client closed the connection";
	case END_TIMEOUT:
		return "autologout after inactivity";
	case END_ERROR:
		return "connection error";
	case END_PROTOCOL:
		return "protocol error";
	case END_SHUTDOWN:
		return "server shutting down";
	case END_AUTHFAIL:
		return "too many failed logins";
	case END_HANDOFF:
		return "logged in";
	case END_MAILBOX_RESET:
		return "the selected folder's UIDVALIDITY changed";
	case END_LIMIT:
		return "the user is over a session limit";
	case END_DRAIN:
		return "server draining";
	}
	return "unknown";
}
