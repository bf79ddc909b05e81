/*
 * cmd-append: APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502),
 * APPENDUID (RFC 4315) and literal8 messages (RFC 3516).  Each message
 * is written to tmp/, fsync'ed and moved into cur/ before it gets its UID,
 * so a crash or a full disk leaves it either absent or whole.  With
 * several messages it is all or none: if one fails, those already stored
 * are removed again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imapdate.h"
#include "common/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "imapd/seqset.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"

#define APPEND_MAX_MESSAGES	1000

struct appmsg {
	const struct imap_arg	*data;
	struct flagset		 fs;
	int64_t			 date;		/* -1 = now */
};

/* Parse "[flags] [date-time] literal" groups from args[i]. */
static int
parse_messages(struct session *s, const struct cmd *c, struct appmsg *m,
    size_t *nm_r)
{
	const struct imap_arg *a;
	const char *d;
	size_t i = 1, nm = 0;
	int tz;

	while (i < c->nargs) {
		if (nm == APPEND_MAX_MESSAGES) {
			cmd_no(s, c, "[LIMIT] At most %d messages in one "
			    "APPEND", APPEND_MAX_MESSAGES);
			return -1;
		}
		memset(&m[nm], 0, sizeof(m[nm]));
		m[nm].date = -1;
		a = &c->args[i];
		if (a->type == IMAP_ARG_LIST) {
			if (cmd_flags(s, c, a, &m[nm].fs) == -1)
				return -1;
			a = &c->args[++i];
			if (i >= c->nargs)
				goto bad;
		}
		if (a->type == IMAP_ARG_QUOTED) {
			if ((d = imap_arg_astring(a)) == NULL ||
			    imapdate_parse_datetime(d, &m[nm].date, &tz) == -1) {
				cmd_bad(s, c, "Invalid date-time (expected "
				    "\"dd-Mon-yyyy hh:mm:ss +zzzz\")");
				return -1;
			}
			a = &c->args[++i];
			if (i >= c->nargs)
				goto bad;
		}
		if (a->type != IMAP_ARG_LITERAL && a->type != IMAP_ARG_LITERAL8)
			goto bad;
		if (a->str == NULL) {
			cmd_no(s, c, "[SERVERBUG] Message data not available");
			return -1;
		}
		m[nm].data = a;
		nm++;
		i++;
	}
	if (nm == 0)
		goto bad;
	*nm_r = nm;
	return 0;
bad:
	cmd_bad(s, c, "APPEND takes a mailbox, optional flags and date, and "
	    "the message as a literal");
	return -1;
}

/* MULTIAPPEND is all or nothing: remove messages already stored. */
static int
take_back(const char *path, const uint32_t *uids, size_t n)
{
	struct mailbox *mb;
	const char *why;
	uint32_t *seqs;
	size_t i, k = 0;
	int r;

	if (mailbox_open(path, 0, &mb, &why) == -1)
		return -1;
	if ((seqs = calloc(n, sizeof(*seqs))) == NULL) {
		mailbox_close(mb);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((seqs[k] = mailbox_seq_of_uid(mb, uids[i])) != 0)
			k++;
	r = mailbox_store(mb, seqs, k, 1, MF_DELETED, 0, NULL, NULL);
	if (r == 0)
		r = mailbox_expunge(mb, uids, n, NULL);
	free(seqs);
	mailbox_close(mb);
	return r;
}

void
cmd_append(struct session *s, const struct cmd *c)
{
	char path[FOLDER_PATH_MAX];
	struct appmsg *m = NULL;
	struct buf name, uids;
	const char *arg;
	uint32_t *got = NULL, uidv = 0, kw;
	uint64_t total = 0;
	size_t nm = 0, i, k, done = 0;
	int letter;

	if (c->nargs < 2 || (arg = imap_arg_astring(&c->args[0])) == NULL) {
		cmd_bad(s, c, "APPEND takes a mailbox and a message");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	buf_init(&uids, 64 * 1024);
	if ((m = calloc(c->nargs, sizeof(*m))) == NULL ||
	    (got = calloc(c->nargs, sizeof(*got))) == NULL) {
		cmd_no(s, c, "Out of memory");
		goto out;
	}
	if (parse_messages(s, c, m, &nm) == -1)
		goto out;
	if (mbname_target(s, c, arg, &name, path, sizeof(path)) == -1)
		goto out;
	for (i = 0; i < nm; i++)
		total += m[i].data->len;
	if (quota_reserve(s, c, path, total, nm) == -1)
		goto out;
	for (i = 0; i < nm; i++) {
		if (m[i].data->len == 0) {
			cmd_no(s, c, "Empty messages are not stored");
			goto undo;
		}
		kw = 0;
		for (k = 0; k < m[i].fs.nkw; k++) {
			letter = mailbox_dir_keyword(path, m[i].fs.kw[k]);
			if (letter >= 0)
				kw |= 1U << letter;
		}
		if (mailbox_deliver(path, m[i].data->str, -1, m[i].data->len,
		    m[i].fs.flags, kw, m[i].date, &got[i], &uidv) == -1) {
			if (errno == ENOSPC || errno == EDQUOT) {
				log_warn("APPEND to %s", buf_cstr(&name));
				cmd_no(s, c, "[OVERQUOTA] Not enough disk space "
				    "to store the message");
			} else {
				log_warn("APPEND to %s failed", buf_cstr(&name));
				cmd_no(s, c, "[SERVERBUG] The message could not "
				    "be stored; the log says why");
			}
			goto undo;
		}
		done++;
	}
	quota_charge(s, path, (int64_t)total, (int64_t)nm);
	(void)seqset_format(got, nm, &uids);
	cmd_ok(s, c, "[APPENDUID %u %s] APPEND completed", uidv,
	    buf_cstr(&uids));
	goto out;
undo:
	if (done > 0 && take_back(path, got, done) == -1)
		log_warnx("APPEND of %zu messages failed after %zu, and those "
		    "could not all be removed again", nm, done);
out:
	free(m);
	free(got);
	buf_free(&name);
	buf_free(&uids);
}
