/*
 * cmd-copy: COPY and MOVE (RFC 9051 6.4.7, 6.4.8; RFC 6851) and their UID
 * forms, answering with COPYUID (RFC 4315).  Messages are hard-linked into
 * the target (a move is a rename), never rewritten.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/lib/log.h"
#include "imapd/cmdutil.h"
#include "imapd/commands.h"
#include "imapd/mbname.h"
#include "imapd/quota.h"
#include "imapd/selected.h"
#include "imapd/seqset.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"

static void
copy_or_move(struct session *s, const struct request *c, int move)
{
	char path[FOLDER_PATH_MAX];
	struct buf name, codebuf;
	const char *arg;
	uint32_t *seqs = NULL, *src = NULL, *dst = NULL, uidv = 0;
	size_t n = 0, i;
	int64_t bytes = 0;
	int sign;

	if (c->nargs != 2 || (arg = imap_arg_astring(&c->args[1])) == NULL) {
		reply_bad(s, c, "%s takes a message set and a "
		    "mailbox", c->name);
		return;
	}
	if (move && s->examine) {
		reply_no(s, c, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	buf_init(&name, FOLDER_NAME_MAX);
	buf_init(&codebuf, 16 * 1024 * 1024);
	if (mbname_target(s, c, arg, &name, path, sizeof(path)) == -1)
		goto out;
	if (arg_msgset(s, c, &c->args[0], c->uid, &seqs, &n) == -1)
		goto out;
	if (n == 0) {
		reply_ok(s, c, "%s completed (no messages)", c->name);
		goto out;
	}
	if ((src = calloc(n, sizeof(*src))) == NULL ||
	    (dst = calloc(n, sizeof(*dst))) == NULL) {
		reply_no(s, c, "Out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		src[i] = mailbox_uid(s->mb, seqs[i]);
	if ((sign = quota_transfer_sign(mailbox_dir(s->mb), path, move)) != 0 &&
	    (bytes = quota_size_of(s->mb, seqs, n)) == -1) {
		reply_no(s, c, "[EXPUNGEISSUED] Some of the messages were "
		    "expunged meanwhile; nothing was %s", move ? "moved" :
		    "copied");
		goto out;
	}
	/* into Trash only frees: it needs the lock, not the check */
	if (sign != 0 && quota_reserve(s, c, sign > 0 ? path :
	    mailbox_dir(s->mb), sign > 0 ? (uint64_t)bytes : 0,
	    sign > 0 ? n : 0) == -1)
		goto out;
	if (mailbox_copy(s->mb, seqs, n, path, move, dst, &uidv, NULL) == -1) {
		if (errno == ESTALE)
			reply_no(s, c, "[EXPUNGEISSUED] Some of the messages "
			    "were expunged meanwhile; nothing was %s",
			    move ? "moved" : "copied");
		else if (errno == ENOSPC || errno == EDQUOT)
			reply_no(s, c, "[OVERQUOTA] Not enough space; nothing "
			    "was %s", move ? "moved" : "copied");
		else {
			log_warn("%s to %s failed", c->name, buf_cstr(&name));
			reply_no(s, c, "[SERVERBUG] %s failed; nothing was %s",
			    c->name, move ? "moved" : "copied");
		}
		goto out;
	}
	if (sign != 0)
		quota_charge(s, sign > 0 ? path : mailbox_dir(s->mb),
		    sign * bytes, sign * (int64_t)n);
	(void)buf_addf(&codebuf, "COPYUID %u ", uidv);
	(void)seqset_format(src, n, &codebuf);
	(void)buf_addc(&codebuf, ' ');
	(void)seqset_format(dst, n, &codebuf);
	if (move) {
		/* COPYUID first, then the EXPUNGEs (RFC 6851 4.3), which
		 * the sync before the tagged OK sends */
		session_printf(s, "* OK [%s] Moved\r\n", buf_cstr(&codebuf));
		reply_ok(s, c, "%s completed", c->name);
	} else
		reply_ok(s, c, "[%s] %s "
		    "completed", buf_cstr(&codebuf), c->name);
out:
	free(seqs);
	free(src);
	free(dst);
	buf_free(&name);
	buf_free(&codebuf);
}

void
cmd_copy(struct session *s, const struct request *c)
{
	copy_or_move(s, c, 0);
}

void
cmd_move(struct session *s, const struct request *c)
{
	copy_or_move(s, c, 1);
}
