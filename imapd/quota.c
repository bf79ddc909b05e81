/*
 * quota: a session's side of the Maildir++ quota.  See quota.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/log.h"
#include "common/lib/sorted.h"
#include "imapd/cmdutil.h"
#include "imapd/quota.h"
#include "imapd/session.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"
#include "maildir/maildirsize.h"

/* Open the root's file with the user's quota imposed as quota.h says. */
static int
open_root(struct session *s, struct maildirsize *q)
{
	if (maildirsize_open(s->mailroot, &s->quota_want, s->quota_replace,
	    q) == -1) {
		log_warn("cannot read the quota file %s/maildirsize (check "
		    "that it belongs to the user)", s->mailroot);
		return -1;
	}
	return 0;
}

int
quota_get(struct session *s, struct maildirsize *q)
{
	if (open_root(s, q) == -1)
		return -1;
	if (q->fd == -1)
		return 0;
	/* an over-quota reading that may be stale is checked by a scan */
	if (maildirsize_over(s->mailroot, q, 0, 0) == -1) {
		log_warn("cannot recalculate %s/maildirsize", s->mailroot);
		maildirsize_close(q);
		return -1;
	}
	if (!quotadef_any(&q->limits)) {
		maildirsize_close(q);
		return 0;
	}
	return 1;
}

void
quota_end(struct session *s)
{
	if (s->quota != NULL) {
		maildirsize_close(s->quota);
		free(s->quota);
		s->quota = NULL;
	}
}

/* The shared lock for a removal, without an answer to give.  0 or -1. */
static int
quota_reserve_quiet(struct session *s, const char *dir)
{
	quota_end(s);
	if ((s->quota = calloc(1, sizeof(*s->quota))) == NULL)
		return -1;
	if (maildirsize_open(s->mailroot, NULL, 0, s->quota) == -1 ||
	    (s->quota->fd != -1 &&
	    maildirsize_hold(s->mailroot, s->quota) == -1)) {
		quota_end(s);
		return -1;
	}
	return 0;
}

int
quota_reserve(struct session *s, const struct request *c, const char *dir,
    uint64_t bytes, uint64_t messages)
{
	int adds, over, e;

	quota_end(s);
	if (maildirsize_is_trash(dir))
		return 0;
	if ((s->quota = calloc(1, sizeof(*s->quota))) == NULL) {
		reply_no(s, c, "Out of memory");
		return -1;
	}
	if (open_root(s, s->quota) == -1) {
		quota_end(s);
		reply_no(s, c, "[SERVERBUG] The quota cannot be read; the "
		    "server log says why");
		return -1;
	}
	/* the check may recalculate, which the shared lock would keep
	 * from running; the second check sees what a recalculation by
	 * another session may have changed meanwhile */
	adds = bytes > 0 || messages > 0;
	over = adds ? maildirsize_over(s->mailroot, s->quota, bytes,
	    messages) : 0;
	/* without a file there is no quota, and nothing to lock */
	if (over == 0 && s->quota->fd != -1) {
		if (maildirsize_hold(s->mailroot, s->quota) == -1)
			over = -1;
		else if (adds)
			over = maildirsize_over(s->mailroot, s->quota, bytes,
			    messages);
	}
	if (over == -1) {
		e = errno;
		log_warn("cannot recalculate %s/maildirsize", s->mailroot);
		quota_end(s);
		/* a lock another process keeps past lock_timeout is INUSE */
		reply_no(s, c, "%sThe quota cannot be read; the server log "
		    "says why", e == ETIMEDOUT ? errno_code(e) :
		    "[SERVERBUG] ");
		return -1;
	}
	if (over == 1) {
		log_info("%s refused: over quota (%lld of %llu bytes, %lld of "
		    "%llu messages, adding %llu bytes in %llu)", c->name,
		    (long long)s->quota->bytes,
		    (unsigned long long)s->quota->limits.bytes,
		    (long long)s->quota->messages,
		    (unsigned long long)s->quota->limits.messages,
		    (unsigned long long)bytes, (unsigned long long)messages);
		quota_end(s);
		reply_no(s, c, "[OVERQUOTA] Over quota; nothing was stored "
		    "(delete or expunge messages to make room)");
		return -1;
	}
	return 0;
}

void
quota_charge(struct session *s, const char *dir, int64_t bytes,
    int64_t messages)
{
	struct maildirsize q;

	if (maildirsize_is_trash(dir) || (bytes == 0 && messages == 0)) {
		quota_end(s);
		return;
	}
	if (s->quota == NULL) {
		/* no reservation: only an existing file counts */
		if (maildirsize_open(s->mailroot, NULL, 0, &q) == -1) {
			log_warn("cannot read %s/maildirsize", s->mailroot);
			return;
		}
		if (maildirsize_add(&q, bytes, messages) == -1)
			log_warn("cannot update %s/maildirsize", s->mailroot);
		maildirsize_close(&q);
		return;
	}
	if (maildirsize_add(s->quota, bytes, messages) == -1)
		log_warn("cannot update %s/maildirsize", s->mailroot);
	quota_end(s);
}

int
quota_transfer_sign(const char *src, const char *dst, int move)
{
	int in_src = !maildirsize_is_trash(src);
	int in_dst = !maildirsize_is_trash(dst);

	if (!move)
		return in_dst;
	return in_dst - in_src;
}

int64_t
quota_size_of(struct mailbox *mb, const uint32_t *seqs, size_t n)
{
	char rel[FOLDER_PATH_MAX];
	int64_t sum = 0, size;
	size_t i;

	for (i = 0; i < n; i++) {
		if (mailbox_relpath(mb, seqs[i], rel, sizeof(rel)) == -1)
			return -1;
		if ((size = maildirsize_msgsize(mailbox_dirfd(mb), rel)) ==
		    -1 && errno == ENOENT && mailbox_relocate(mb, seqs[i], rel,
		    sizeof(rel)) == 0)
			size = maildirsize_msgsize(mailbox_dirfd(mb), rel);
		if (size == -1)
			return -1;
		sum += size;
	}
	return sum;
}

int
quota_deleted_kib(const char *path, uint64_t *kib_r)
{
	struct mailbox *mb;
	const char *why;
	uint32_t seq, count;
	uint64_t sum = 0;
	int64_t size;

	if (mailbox_open(path, 1, &mb, &why) == -1)
		return -1;
	count = mailbox_count(mb);
	for (seq = 1; seq <= count; seq++) {
		if (!(mailbox_flags(mb, seq) & MF_DELETED) ||
		    mailbox_gone(mb, seq))
			continue;
		/* gone meanwhile: an EXPUNGE would free nothing for it */
		if ((size = quota_size_of(mb, &seq, 1)) > 0)
			sum += (uint64_t)size;
	}
	mailbox_close(mb);
	*kib_r = (sum + 1023) / 1024;
	return 0;
}

/* What an expunge removes: the sizes of the \Deleted messages it may
 * take, by UID, and the caller's callbacks to pass reports on to. */
struct doomed {
	const struct mailbox_events	*ev;
	uint32_t			*uids;	/* ascending */
	int64_t				*sizes;
	size_t				 n;
	int64_t				 bytes, messages;
};

struct uid_key {
	const uint32_t	*uids;
	uint32_t	 uid;
};

static int
uid_before(const void *arg, size_t i)
{
	const struct uid_key *k = arg;

	return k->uids[i] < k->uid;
}

/* The index of uid in the n ascending uids, or n if it is not there. */
static size_t
uid_index(const uint32_t *uids, size_t n, uint32_t uid)
{
	struct uid_key k = { uids, uid };
	size_t i = sorted_bound(0, n, uid_before, &k);

	return i < n && uids[i] == uid ? i : n;
}

static void
doomed_expunge(void *arg, uint32_t seq, uint32_t uid)
{
	struct doomed *d = arg;
	size_t lo = uid_index(d->uids, d->n, uid);

	if (lo < d->n) {
		d->bytes += d->sizes[lo];
		d->messages++;
	}
	if (d->ev != NULL && d->ev->expunge != NULL)
		d->ev->expunge(d->ev->arg, seq, uid);
}

static void
doomed_exists(void *arg, uint32_t count)
{
	struct doomed *d = arg;

	if (d->ev != NULL && d->ev->exists != NULL)
		d->ev->exists(d->ev->arg, count);
}

static void
doomed_recent(void *arg, uint32_t count)
{
	struct doomed *d = arg;

	if (d->ev != NULL && d->ev->recent != NULL)
		d->ev->recent(d->ev->arg, count);
}

static void
doomed_flags(void *arg, uint32_t seq)
{
	struct doomed *d = arg;

	if (d->ev != NULL && d->ev->flags != NULL)
		d->ev->flags(d->ev->arg, seq);
}

static void
doomed_keywords(void *arg)
{
	struct doomed *d = arg;

	if (d->ev != NULL && d->ev->keywords != NULL)
		d->ev->keywords(d->ev->arg);
}

/* 1 if uid is among the n sorted uids (all when uids is NULL). */
static int
wanted(const uint32_t *uids, size_t n, uint32_t uid)
{
	return uids == NULL || uid_index(uids, n, uid) < n;
}

int
quota_expunge(struct session *s, const uint32_t *uids, size_t n,
    const struct mailbox_events *ev)
{
	struct mailbox_events wrap;
	struct doomed d;
	uint32_t count = mailbox_count(s->mb), seq, uid;
	const char *dir = mailbox_dir(s->mb);
	int64_t size;
	int r;

	memset(&d, 0, sizeof(d));
	d.ev = ev;
	/* held across the expunge, so that no recalculation counts the
	 * files gone and the line to come both */
	if (!maildirsize_is_trash(dir) && quota_reserve_quiet(s, dir) == -1)
		log_warn("cannot read %s/maildirsize", s->mailroot);
	if (!maildirsize_is_trash(dir) && count > 0 &&
	    ((d.uids = calloc(count, sizeof(*d.uids))) == NULL ||
	    (d.sizes = calloc(count, sizeof(*d.sizes))) == NULL)) {
		free(d.uids);
		d.uids = NULL;
	}
	/* sizes first: the files are gone once they are expunged */
	for (seq = 1; d.uids != NULL && seq <= count; seq++) {
		if (!(mailbox_flags(s->mb, seq) & MF_DELETED) ||
		    mailbox_gone(s->mb, seq))
			continue;
		uid = mailbox_uid(s->mb, seq);
		if (!wanted(uids, n, uid) ||
		    (size = quota_size_of(s->mb, &seq, 1)) == -1)
			continue;
		d.uids[d.n] = uid;
		d.sizes[d.n++] = size;
	}
	memset(&wrap, 0, sizeof(wrap));
	wrap.arg = &d;
	wrap.expunge = doomed_expunge;
	wrap.exists = doomed_exists;
	wrap.recent = doomed_recent;
	wrap.flags = doomed_flags;
	wrap.keywords = doomed_keywords;
	r = mailbox_expunge(s->mb, uids, n, &wrap);
	if (d.messages > 0)
		quota_charge(s, dir, -d.bytes, -d.messages);
	free(d.uids);
	free(d.sizes);
	return r;
}
