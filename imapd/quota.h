/*
 * quota: a session's side of the Maildir++ quota (RFC 9208 over the
 * maildirsize file of maildir/maildirsize.h).
 *
 * The whole Maildir is one quota root, named "".  Its limits are those
 * of the maildirsize file; when there is none, the user's quota (the
 * userdb's quota field, else imapd.conf's quota) creates it.  A quota
 * from the userdb also replaces a file's other definition, as Courier
 * applies its account database's quota; imapd.conf's is only a default
 * and leaves a file the delivery agent wrote alone.
 *
 * Commands that add messages ask quota_reserve() before they write and
 * call quota_charge() once they have; commands that remove messages
 * charge negative amounts.  Trash is not counted (Maildir++): a message
 * that enters Trash by MOVE frees its space, one that leaves it is
 * charged like a delivery.
 */
#ifndef IMAPD_QUOTA_H
#define IMAPD_QUOTA_H

#include <stddef.h>
#include <stdint.h>

struct request;
struct mailbox;
struct mailbox_events;
struct maildirsize;
struct session;

/* Usage and limits of the root, for GETQUOTA.  1 with *q filled (close
 * it with maildirsize_close()), 0 if the user has no quota, -1 on an
 * I/O error (logged). */
int	quota_get(struct session *, struct maildirsize *q);

/*
 * Before adding messages of bytes to folder dir: 0 if they fit (or dir
 * is not counted), else -1 after answering NO: [OVERQUOTA] when a limit
 * would be passed, [SERVERBUG] when the quota cannot be read.  With
 * nothing to add (before a removal) it only takes the lock.  The
 * maildirsize file stays open and share-locked (maildirsize_hold) for
 * the quota_charge() that follows, so that no recalculation meanwhile
 * counts the messages and their line both, or neither; the session
 * drops the reservation at the end of the command in any case.
 */
int	quota_reserve(struct session *, const struct request *, const char *dir,
	    uint64_t bytes, uint64_t messages);

/* Record that bytes and messages (negative: removed) changed in folder
 * dir, which counts.  A failure is logged, never answered: the message
 * is stored, and the next recalculation counts it. */
void	quota_charge(struct session *, const char *dir, int64_t bytes,
	    int64_t messages);

/* How a COPY (move 0) or MOVE from folder src to dst changes the usage
 * per message: 1, 0 or -1. */
int	quota_transfer_sign(const char *src, const char *dst, int move);

/* The bytes on disk of the messages seqs of the open folder; -1 with
 * errno ENOENT if one is gone. */
int64_t	quota_size_of(struct mailbox *, const uint32_t *seqs, size_t n);

/* DELETED-STORAGE of the folder at path: what an EXPUNGE there would
 * free, in units of 1024 octets (rounded up), as its files take it.
 * 0, or -1 with errno. */
int	quota_deleted_kib(const char *path, uint64_t *kib_r);

/* mailbox_expunge() of the selected folder that charges what it removed
 * (same arguments and result). */
int	quota_expunge(struct session *, const uint32_t *uids, size_t n,
	    const struct mailbox_events *ev);

/* Close what a reservation left open; at the end of a session. */
void	quota_end(struct session *);

#endif
