/*
 * mailbox: one folder as a session sees it.
 *
 * The view is the list of messages in sequence order, as the client knows
 * it: messages other programs expunged stay in the view (marked gone)
 * until the session is allowed to say EXPUNGE, and messages that arrived
 * stay out until it says EXISTS.  mailbox_sync() brings the view up to
 * date with the disk: it reads the directory only when cur/ or new/
 * changed since the UID cache's last full scan, hands new files their
 * UIDs, notices flag changes and expunges made by other sessions, MTAs
 * and mail readers, and reports every difference through callbacks.
 *
 * Races it handles (all seen in real Maildirs): readdir() missing a file
 * that was renamed during the scan (a record not seen is looked for again
 * before it is called expunged), a file vanishing between the scan and a
 * read (treated as expunged), two files sharing a base name (the second
 * gets a new one), odd names in new/ (taken as they are).
 */
#ifndef MAILDIR_MAILBOX_H
#define MAILDIR_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "maildir/keywords.h"

struct mailbox;

/* What a sync reports.  Any callback may be NULL. */
struct mailbox_events {
	void	*arg;
	/* a message left the view; called from the highest sequence down,
	 * so each number is right at the time it is reported */
	void	(*expunge)(void *arg, uint32_t seq, uint32_t uid);
	/* the number of messages grew to count (after expunges) */
	void	(*exists)(void *arg, uint32_t count);
	/* the number of \Recent messages is now count */
	void	(*recent)(void *arg, uint32_t count);
	/* flags of a message in the view changed */
	void	(*flags)(void *arg, uint32_t seq);
	/* the folder's keyword names changed (another process added one):
	 * called before any flags() that may show a new name */
	void	(*keywords)(void *arg);
};

/* Standard-flag bit for \Recent in mailbox_flags() results (not on disk). */
#define MBF_RECENT	0x100

/*
 * Open folder dir (the folder's directory: the Maildir root for INBOX).
 * readonly (EXAMINE, STATUS) neither moves new/ to cur/ nor claims
 * \Recent.  The first sync happens here; the view is complete on return.
 * It gives the files in new/ their UIDs where they are: a read-write
 * view moves them to cur/ later, through mailbox_move_new().  0, or -1
 * with errno and *why_r (a sentence for a NO response).
 */
int	mailbox_open(const char *dir, int readonly, struct mailbox **,
	    const char **why_r);

/* Close the folder, moving first what the first sync left in new/. */
void	mailbox_close(struct mailbox *);

/* Has the first sync left files in new/ for mailbox_move_new()? */
int	mailbox_new_waiting(const struct mailbox *);

/*
 * Move the files the first sync left in new/ to cur/, for about
 * budget_ms (-1: all of them), and record the moves in the UID cache;
 * every message keeps its UID and its \Recent.  For the session's quiet
 * time: nothing is reported to the client (the next mailbox_sync() shows
 * what other programs changed meanwhile).  1 if files are left for
 * another call, 0 when done, -1 on an I/O error (logged; what is left
 * moves at a later sync that lists the folder).
 */
int	mailbox_move_new(struct mailbox *, int budget_ms);

/*
 * Bring the view up to date.  With allow_expunge 0 (during FETCH, STORE,
 * SEARCH), messages found expunged stay in the view, marked gone, and no
 * EXPUNGE or EXISTS is reported for the shrinkage until a later sync with
 * allow_expunge 1.  0, or -1 on an I/O error (logged), or -1 with errno
 * ESTALE when the folder's UIDVALIDITY changed (see mailbox_stale()).
 * A cache that cannot be written (a full disk) is not an error: the
 * folder is served as the cache last knew it, and what could not be
 * recorded (new mail's UIDs) is shown once it can.
 */
int	mailbox_sync(struct mailbox *, int allow_expunge,
	    const struct mailbox_events *);

/*
 * Once the folder's UIDVALIDITY has changed under the view (its UID cache
 * was lost or damaged and rebuilt), the new UIDVALIDITY, and every call
 * that could act on a UID fails with ESTALE: the session must end (say
 * BYE) rather than map its client's UIDs onto the new numbering.  0 while
 * the view is good.
 */
uint32_t mailbox_stale(const struct mailbox *);

/*
 * A descriptor that becomes readable when cur/ or new/ change (the
 * inotify watch the view follows the folder with), for IDLE to wait on;
 * mailbox_sync() reads it.  -1 where there is none (network and FUSE
 * file systems, where other hosts' changes make no events, or inotify
 * limits reached): then changes are found by looking.
 */
int	mailbox_watch_fd(const struct mailbox *);

/* Folder-wide values.  mailbox_uidvalidity() is the view's, which the
 * folder keeps as long as mailbox_stale() is 0. */
uint32_t mailbox_count(const struct mailbox *);
uint32_t mailbox_uidvalidity(const struct mailbox *);
uint32_t mailbox_uidnext(const struct mailbox *);
uint64_t mailbox_highestmodseq(const struct mailbox *);
uint32_t mailbox_recent(const struct mailbox *);
uint32_t mailbox_unseen_first(const struct mailbox *);	/* seq, 0 = none */
int	mailbox_readonly(const struct mailbox *);
const char *mailbox_dir(const struct mailbox *);
const struct keywords *mailbox_keywords(const struct mailbox *);

/* Per message, by sequence number 1..count. */
uint32_t mailbox_uid(const struct mailbox *, uint32_t seq);
unsigned mailbox_flags(const struct mailbox *, uint32_t seq); /* MF_*|MBF_RECENT */
uint32_t mailbox_keywords_of(const struct mailbox *, uint32_t seq);
uint64_t mailbox_modseq(struct mailbox *, uint32_t seq);
int	mailbox_gone(const struct mailbox *, uint32_t seq);

/*
 * CONDSTORE and QRESYNC (RFC 7162).  mailbox_changed_since: the sequence
 * numbers (ascending, malloc'ed) of the messages in the view whose MODSEQ
 * is above since, messages marked gone left out; the cost follows the
 * changes, not the folder (see uidcache_changed_since()).  0 or -1.
 * mailbox_vanished_since: calls fn for each UID expunged at a MODSEQ
 * above since, ascending; returns 1 if the cache still knows every such
 * expunge, 0 if it forgot some (then the caller reports every UID of the
 * range that is not in the view, as RFC 7162 3.2.5.1 allows).
 */
int	mailbox_changed_since(struct mailbox *, uint64_t since,
	    uint32_t **seqs_r, size_t *n_r);
int	mailbox_vanished_since(struct mailbox *, uint64_t since,
	    void (*fn)(void *, uint32_t uid), void *arg);

/* The EMAILID (RFC 8474) of a message, into out (OBJECTID_LEN + 1
 * bytes; maildir/objectid.h says what it is made from).  0, or -1 with
 * errno (ENOENT: not in the view). */
int	mailbox_emailid(struct mailbox *, uint32_t seq, char *out);

/* Sequence number of uid, or 0 if not in the view. */
uint32_t mailbox_seq_of_uid(const struct mailbox *, uint32_t uid);
/* The first sequence number whose UID is >= uid (count+1 if none). */
uint32_t mailbox_seq_from_uid(const struct mailbox *, uint32_t uid);

/*
 * The file of a message, relative to mailbox_dir() ("cur/<name>"), for
 * openat(); looks the name up again if the file was renamed under us.
 * 0, or -1 with errno ENOENT if the message is gone (it is then marked
 * gone in the view).
 */
int	mailbox_relpath(struct mailbox *, uint32_t seq, char *out,
	    size_t outlen);
/* After an openat() of that path failed with ENOENT: find the file again
 * (other programs rename files to change flags).  Same returns. */
int	mailbox_relocate(struct mailbox *, uint32_t seq, char *out,
	    size_t outlen);
/* A directory fd of mailbox_dir(), for openat(). */
int	mailbox_dirfd(const struct mailbox *);

/* RFC822.SIZE and INTERNALDATE, from the cache or computed now (and
 * remembered in the cache at the next mailbox_flush_facts()).  -1 with
 * errno ENOENT if the message is gone. */
int	mailbox_vsize(struct mailbox *, uint32_t seq, uint64_t *r);
int	mailbox_mtime(struct mailbox *, uint32_t seq, int64_t *r);
/* Remember a message's INTERNALDATE learned elsewhere (from the fstat()
 * of an open that FETCH made anyway), saving a stat() of its own. */
void	mailbox_note_mtime(struct mailbox *, uint32_t seq, int64_t t);

/* Write facts computed since the last call into the cache (one locked
 * commit); cheap when there are none. */
void	mailbox_flush_facts(struct mailbox *);

/*
 * Change flags: op 0 replace, 1 add, -1 remove; kw likewise for keyword
 * letters.  Renames the files and records the change in the cache.
 * \Recent cannot be set or removed.  For each message whose flags are
 * now different, calls changed(arg, seq).  0, or -1 with errno (the
 * messages done so far stay done).
 */
int	mailbox_store(struct mailbox *, const uint32_t *seqs, size_t n,
	    int op, unsigned flags, uint32_t kw,
	    void (*changed)(void *, uint32_t seq), void *arg);

/* Give a keyword a letter in this folder (adding it to dovecot-keywords
 * if needed); the letter number, or -1 (EMLINK when 26 are used, else
 * why dovecot-keywords could not be written). */
int	mailbox_keyword(struct mailbox *, const char *name);

/*
 * Remove messages flagged \Deleted: all of them, or only those whose UID
 * is in uids (sorted, n of them) when uids is not NULL.  Reports each
 * through ev->expunge (and the view shrinks at once; the caller is in a
 * command that may expunge).  0 or -1.
 */
int	mailbox_expunge(struct mailbox *, const uint32_t *uids, size_t n,
	    const struct mailbox_events *ev);

/*
 * Delivery of new messages (APPEND) into folder dir, not necessarily
 * open: each message is written into a file in tmp/ as its bytes come,
 * so memory does not grow with its size, and all of them are placed in
 * cur/ with UIDs by one commit, or none is.
 *
 * mailbox_deliver_open: start; 0, or -1 with errno.
 * mailbox_deliver_add: the next message, size bytes, which the following
 *   writes fill (the one before must be complete).  0 or -1 (errno).
 * mailbox_deliver_write: its next bytes; 0 or -1 with errno (ENOSPC,
 *   EDQUOT, EIO...), after which the delivery can only be freed.
 * mailbox_deliver_commit: with meta[i] the flags, keyword names and
 *   INTERNALDATE (mtime < 0: now) of message i, make every message
 *   durable, move them into cur/ and give them UIDs (uids_r[i]) in one
 *   cache commit; *uidvalidity_r for APPENDUID.  0, or -1 with errno:
 *   then none of them is in the folder.  A keyword for which no letter
 *   is left (26 in use) is dropped, as a flag the folder cannot hold.
 * mailbox_deliver_free: remove what was not committed, and free.
 */
struct mailbox_delivery;
struct mailbox_newmsg {
	unsigned		 flags;		/* MF_* */
	const char *const	*kw;		/* keyword names */
	size_t			 nkw;
	int64_t			 mtime;		/* INTERNALDATE; < 0: now */
};
int	mailbox_deliver_open(const char *dir, struct mailbox_delivery **);
int	mailbox_deliver_add(struct mailbox_delivery *, uint64_t size);
int	mailbox_deliver_write(struct mailbox_delivery *, const void *,
	    size_t);
size_t	mailbox_deliver_count(const struct mailbox_delivery *);
int	mailbox_deliver_commit(struct mailbox_delivery *,
	    const struct mailbox_newmsg *meta, uint32_t *uids_r,
	    uint32_t *uidvalidity_r);
void	mailbox_deliver_free(struct mailbox_delivery *);

/*
 * Copy (or move, with move set) messages to folder dstdir.  Hard links
 * where possible (the message is never rewritten), a byte copy
 * otherwise.  Keywords are carried over by name into the target's
 * keyword file.  On success fills uids_r[i] with the new UID of seqs[i]
 * and *uidvalidity_r.  For a move, the sources are expunged afterwards
 * and reported through ev.  0, or -1 with errno: then nothing was added
 * to the target that a client could see.
 */
int	mailbox_copy(struct mailbox *, const uint32_t *seqs, size_t n,
	    const char *dstdir, int move, uint32_t *uids_r,
	    uint32_t *uidvalidity_r, const struct mailbox_events *ev);

/* Numbers for STATUS without a view: a read-only sync (nothing moved
 * to cur/, no \Recent claimed), then the cache's counters, without a
 * pass over the messages.  want_size adds one, which reads the files of
 * messages whose size the cache does not know yet (and remembers it).
 * 0 or -1. */
struct mailbox_status {
	uint32_t	messages;
	uint32_t	recent;
	uint32_t	uidnext;
	uint32_t	uidvalidity;
	uint32_t	unseen;
	uint32_t	deleted;
	uint64_t	size;		/* sum of RFC822.SIZE */
	uint64_t	highestmodseq;
};
int	mailbox_status(const char *dir, int want_size, struct mailbox_status *);

#endif
