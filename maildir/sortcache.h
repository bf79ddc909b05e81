/*
 * sortcache: a per-folder store of the keys SORT and THREAD compare (one
 * common/imap/sortkey record per message), so that a folder sorted once is
 * sorted again without opening its message files.
 *
 * A sort wants the keys of most of the folder at once, so the store is
 * one file read front to back, not a table of lookups: a folder's keys
 * are a few hundred bytes a message, read in one pass.  It is only a
 * cache: losing or damaging it costs time, never correctness.  Records
 * belong to one UIDVALIDITY and a UID never names another message, so a
 * record never goes stale.  The format is at the top of sortcache.c and
 * in imapd-uidcache(5).
 */
#ifndef MAILDIR_SORTCACHE_H
#define MAILDIR_SORTCACHE_H

#include <stddef.h>
#include <stdint.h>

struct sortcache;

/* Read the store of folder dir for uidvalidity.  A folder without a
 * usable store gets an empty one; NULL only when memory runs out. */
struct sortcache *sortcache_open(const char *dir, uint32_t uidvalidity);

/*
 * 1 and *rec_r / *len_r set if the file as it was opened has a record for
 * uid, else 0 (records put since are not looked at).  A record found has
 * passed its check and sortkey_read().  The bytes stay valid until
 * sortcache_close().  Looking UIDs up in ascending order costs a constant
 * time each.
 */
int	sortcache_get(struct sortcache *, uint32_t uid, const char **rec_r,
	    size_t *len_r);

/* Remember a record for uid (copied), to be written by
 * sortcache_flush().  0, or -1 when memory runs out or it is not a
 * record sortkey_read() accepts (errno EINVAL). */
int	sortcache_put(struct sortcache *, uint32_t uid, const char *rec,
	    size_t len);

/*
 * Write what was put.  It is appended, unless the file is missing, not
 * ours or ends in a torn record, or the records that still count (the
 * last of each UID whose message is there: alive(arg, uid) is 1) take
 * less than half of it: then a new file with those and the new ones
 * replaces it.
 */
void	sortcache_flush(struct sortcache *, int (*alive)(void *, uint32_t),
	    void *arg);

void	sortcache_close(struct sortcache *);

#endif
