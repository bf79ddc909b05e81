/*
 * cmd-append: APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502),
 * APPENDUID (RFC 4315), literal8 messages (RFC 3516) and the UTF8 data
 * extension of UTF8=ACCEPT (RFC 6855 4).
 *
 * A message is never held in memory: the session hands each message
 * literal to append_literal() before its first byte, which checks the
 * target (NO [TRYCREATE] before the "+" when it does not exist) and
 * streams the bytes into a file in the target's tmp/ as they arrive;
 * a literal that would pass the user's quota (quota.h) is refused with
 * NO [OVERQUOTA] there too, before a byte of it is written.
 * Only when the whole command has been read and parsed does cmd_append()
 * commit them, all or none (maildir/mailbox.h says how); a command that
 * breaks off (a parse error after a literal, a failed write, a lost
 * connection) leaves nothing but files in tmp/ that append_abort()
 * removes.  literal8 data is stored as sent: the server never decodes a
 * content-transfer-encoding, so there is no [UNKNOWN-CTE] to give.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/imapdate.h"
#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "imapd/seqset.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"

#define APPEND_MAX_MESSAGES	1000

/* The messages of the APPEND being read. */
struct append_state {
	struct mailbox_delivery	*d;
	char			 path[FOLDER_PATH_MAX];
	struct buf		 name;		/* for the log */
	int			 err;		/* errno of a failed write */
	uint64_t		 bytes;		/* of the messages so far */
};

static const char utf8_refused[] = "APPEND UTF8 needs ENABLE UTF8=ACCEPT "
    "first (RFC 6855 section 4)";

struct appmsg {
	const struct imap_arg	*data;
	struct flagset		 fs;
	int64_t			 date;		/* -1 = now */
};

void
append_abort(struct session *s)
{
	struct append_state *st = s->append;

	/* a reservation of an APPEND that breaks off ends with it */
	quota_end(s);
	if (st == NULL)
		return;
	mailbox_deliver_free(st->d);
	buf_free(&st->name);
	free(st);
	s->append = NULL;
}

/* The target of the APPEND whose first message literal arrives now,
 * checked as it would be once the command is complete.  NULL after
 * answering why not. */
static struct append_state *
append_start(struct session *s, const struct request *c,
    const struct imap_literal_info *li)
{
	struct append_state *st;

	if (li->first == NULL) {
		reply_bad(s, c, "APPEND takes a mailbox name first");
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		reply_no(s, c, "[SERVERBUG] Out of memory");
		return NULL;
	}
	buf_init(&st->name, FOLDER_NAME_MAX);
	if (mbname_target(s, c, li->first, &st->name, st->path,
	    sizeof(st->path)) == -1) {
		buf_free(&st->name);
		free(st);
		return NULL;
	}
	if (mailbox_deliver_open(st->path, &st->d) == -1) {
		log_warn("APPEND to %s", buf_cstr(&st->name));
		reply_no(s, c, "%sThe mailbox cannot take messages now",
		    errno_code(errno));
		buf_free(&st->name);
		free(st);
		return NULL;
	}
	return st;
}

static int
append_sink(void *ctx, const char *data, size_t len)
{
	struct append_state *st = ctx;

	if (mailbox_deliver_write(st->d, data, len) == -1) {
		st->err = errno;
		return -1;
	}
	return 0;
}

/* Say why a message could not be stored, from errno e; the APPEND is
 * over and nothing of it stays. */
static void
append_failed(struct session *s, const struct request *c, int e)
{
	const char *name = s->append != NULL ? buf_cstr(&s->append->name) :
	    "?";

	errno = e;
	if (e == ENOSPC || e == EDQUOT)
		log_warn("APPEND to %s", name);
	else
		log_warn("APPEND to %s failed", name);
	/* the files in tmp/ go before the client hears NO: a client (or
	 * a test) that looks at the Maildir then finds nothing left */
	append_abort(s);
	reply_no(s, c, "%sThe message could not be stored%s", errno_code(e),
	    e == ENOSPC || e == EDQUOT ? ": not enough disk space" :
	    "; the server log says why");
}

void
append_literal(struct session *s, const struct imap_literal_info *li)
{
	struct append_state *st = s->append;
	struct request c;

	memset(&c, 0, sizeof(c));
	c.tag = li->tag;
	c.name = "APPEND";
	c.spec = command_find("APPEND", 0);
	/* a literal8 in a list is UTF8 (~{n}): refused before the "+" to a
	 * client that has not enabled it, as the command would be */
	if (li->depth > 0 && !(s->enabled & ENABLED_UTF8)) {
		reply_bad(s, &c, "%s", utf8_refused);
		goto refuse;
	}
	/* an empty message is refused once the command is read; it needs
	 * no file */
	if (li->size == 0) {
		if (!li->nonsync) {
			session_printf(s, "+ Ready for literal data\r\n");
			if (session_flush(s) == -1)
				return;
		}
		(void)imap_parser_literal_accept(s->parser);
		return;
	}
	if (st == NULL && (st = s->append = append_start(s, &c, li)) == NULL)
		goto refuse;
	if (mailbox_deliver_count(st->d) == APPEND_MAX_MESSAGES) {
		reply_no(s, &c, "[LIMIT] At most %d messages in one APPEND",
		    APPEND_MAX_MESSAGES);
		goto refuse;
	}
	/* within the quota with this one too, before a byte is written */
	if (quota_reserve(s, &c, st->path, st->bytes + li->size,
	    mailbox_deliver_count(st->d) + 1) == -1)
		goto refuse;
	st->bytes += li->size;
	if (mailbox_deliver_add(st->d, li->size) == -1) {
		append_failed(s, &c, errno);
		goto refuse;
	}
	if (!li->nonsync) {
		session_printf(s, "+ Ready for literal data\r\n");
		if (session_flush(s) == -1)
			return;
	}
	(void)imap_parser_literal_accept_sink(s->parser, append_sink, st);
	return;
refuse:
	append_abort(s);
	imap_parser_literal_reject(s->parser);
}

void
append_store_failed(struct session *s, const char *tag)
{
	struct request c;

	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.name = "APPEND";
	c.spec = command_find("APPEND", 0);
	append_failed(s, &c, s->append != NULL ? s->append->err : EIO);
}

/*
 * The message of RFC 6855's APPEND data extension, "UTF8 (~{n}...)", from
 * the argument after the atom UTF8 (NULL if there is none): its literal8,
 * or NULL after answering BAD.  A client that has not enabled
 * UTF8=ACCEPT may not use it (RFC 6855 4).
 */
static const struct imap_arg *
utf8_data(struct session *s, const struct request *c,
    const struct imap_arg *next)
{
	if (!(s->enabled & ENABLED_UTF8)) {
		reply_bad(s, c, "%s", utf8_refused);
		return NULL;
	}
	if (next == NULL || next->type != IMAP_ARG_LIST || next->len != 1 ||
	    next->list[0].type != IMAP_ARG_LITERAL8) {
		reply_bad(s, c, "APPEND UTF8 takes the message as one literal8 "
		    "in parentheses: UTF8 (~{n})");
		return NULL;
	}
	return &next->list[0];
}

/* Parse "[flags] [date-time] (literal | UTF8 (literal8))" groups from
 * args[i]. */
static int
parse_messages(struct session *s, const struct request *c, struct appmsg *m,
    size_t *nm_r)
{
	const struct imap_arg *a;
	const char *d;
	size_t i = 1, nm = 0;
	int tz;

	while (i < c->nargs) {
		if (nm == APPEND_MAX_MESSAGES) {
			reply_no(s, c, "[LIMIT] At most %d messages in one "
			    "APPEND", APPEND_MAX_MESSAGES);
			return -1;
		}
		memset(&m[nm], 0, sizeof(m[nm]));
		m[nm].date = -1;
		a = &c->args[i];
		if (a->type == IMAP_ARG_LIST) {
			if (arg_flags(s, c, a, &m[nm].fs) == -1)
				return -1;
			a = &c->args[++i];
			if (i >= c->nargs)
				goto bad;
		}
		if (a->type == IMAP_ARG_QUOTED) {
			if ((d = imap_arg_astring(a)) == NULL ||
			    imapdate_parse_datetime(d, &m[nm].date, &tz) == -1) {
				reply_bad(s, c, "Invalid date-time (expected "
				    "\"dd-Mon-yyyy hh:mm:ss +zzzz\")");
				return -1;
			}
			a = &c->args[++i];
			if (i >= c->nargs)
				goto bad;
		}
		if (a->type == IMAP_ARG_ATOM &&
		    strcasecmp(imap_arg_atom(a), "UTF8") == 0) {
			if ((a = utf8_data(s, c, i + 1 < c->nargs ?
			    &c->args[i + 1] : NULL)) == NULL)
				return -1;
			i++;
		} else if (a->type != IMAP_ARG_LITERAL &&
		    a->type != IMAP_ARG_LITERAL8)
			goto bad;
		m[nm].data = a;
		nm++;
		i++;
	}
	if (nm == 0)
		goto bad;
	*nm_r = nm;
	return 0;
bad:
	reply_bad(s, c, "APPEND takes a mailbox, optional flags and date, and "
	    "the message as a literal");
	return -1;
}

void
cmd_append(struct session *s, const struct request *c)
{
	struct append_state *st = s->append;
	struct mailbox_newmsg *meta = NULL;
	struct appmsg *m = NULL;
	struct buf uids;
	uint32_t *got = NULL, uidv = 0;
	size_t nm = 0, i;

	buf_init(&uids, 64 * 1024);
	if (c->nargs < 2 || imap_arg_astring(&c->args[0]) == NULL) {
		reply_bad(s, c, "APPEND takes a mailbox and a message");
		goto out;
	}
	if ((m = calloc(c->nargs, sizeof(*m))) == NULL ||
	    (meta = calloc(c->nargs, sizeof(*meta))) == NULL ||
	    (got = calloc(c->nargs, sizeof(*got))) == NULL) {
		reply_no(s, c, "[SERVERBUG] Out of memory");
		goto out;
	}
	if (parse_messages(s, c, m, &nm) == -1)
		goto out;
	for (i = 0; i < nm; i++) {
		if (m[i].data->len == 0) {
			reply_no(s, c, "Empty messages are not stored");
			goto out;
		}
		/* every message that is not empty went to a file */
		if (!(m[i].data->flags & IMAP_ARGF_STREAMED))
			break;
		meta[i].flags = m[i].fs.flags;
		meta[i].kw = m[i].fs.kw;
		meta[i].nkw = m[i].fs.nkw;
		meta[i].mtime = m[i].date;
	}
	if (i < nm || st == NULL || mailbox_deliver_count(st->d) != nm) {
		reply_no(s, c, "[SERVERBUG] Message data not available");
		goto out;
	}
	if (mailbox_deliver_commit(st->d, meta, got, &uidv) == -1) {
		append_failed(s, c, errno);
		goto out;
	}
	quota_charge(s, st->path, (int64_t)st->bytes, (int64_t)nm);
	(void)seqset_format(got, nm, &uids);
	reply_ok(s, c, "[APPENDUID %u %s] APPEND completed", uidv,
	    buf_cstr(&uids));
out:
	append_abort(s);
	free(m);
	free(meta);
	free(got);
	buf_free(&uids);
}
