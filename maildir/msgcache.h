/*
 * msgcache: a per-folder cache of what FETCH computes from a message's
 * structure (ENVELOPE, BODY, BODYSTRUCTURE) and text (PREVIEW), so that a client asking for
 * them again -- every new session of a mail client does -- is answered
 * without opening the message files.
 *
 * It is only a cache: losing or damaging it costs time, never
 * correctness.  Entries belong to one UIDVALIDITY and a UID never names
 * another message, so an entry never goes stale.  The format is at the
 * top of msgcache.c and in imapd-uidcache(5).
 */
#ifndef MAILDIR_MSGCACHE_H
#define MAILDIR_MSGCACHE_H

#include <stddef.h>
#include <stdint.h>

struct msgcache;

/* The cached fields of one message; pointers stay valid until the next
 * call on the cache.  A field with len 0 is not cached, but for the
 * preview, which is cached when preview is not NULL (an empty preview is
 * one).  envelope_exact is what message_envelope_exact() said of the
 * envelope. */
struct msgcache_rec {
	const char	*envelope;
	size_t		 envelope_len;
	unsigned	 envelope_exact;
	const char	*body;
	size_t		 body_len;
	const char	*bodystructure;
	size_t		 bodystructure_len;
	const char	*preview;
	size_t		 preview_len;
};

/* Open the cache of folder dir for uidvalidity.  Never fails: a folder
 * without a usable cache gets an empty one. */
struct msgcache *msgcache_open(const char *dir, uint32_t uidvalidity);
void	msgcache_close(struct msgcache *);

/* 1 and *r filled if uid has cached fields, else 0. */
int	msgcache_get(struct msgcache *, uint32_t uid, struct msgcache_rec *r);

/* Remember fields for uid (copied).  Written out by msgcache_flush(),
 * at the latest when the cache is closed. */
void	msgcache_put(struct msgcache *, uint32_t uid,
	    const struct msgcache_rec *);

/* Append what was put to the folder's cache file, and (if may_compact)
 * compact it into a new snapshot when it has grown; alive(arg, uid) says
 * which UIDs still exist so that expunged ones are dropped then.  A long
 * FETCH flushes as it goes without compacting, and compacts once at its
 * end. */
void	msgcache_flush(struct msgcache *, int (*alive)(void *, uint32_t),
	    void *arg, int may_compact);

/*
 * For imapd-cache.  msgcache_check: what the folder's files hold for
 * uidvalidity, read as sessions read them; fn(arg, uid) is called for
 * each UID with a good entry (a UID may come twice: the snapshot's, then
 * the log's newer one).  0, or -1 when memory runs out.
 */
struct msgcache_check {
	int		 snapshot;	/* 1 a snapshot, 0 none, -1 not one of
					 * this cache's */
	uint32_t	 version;	/* the snapshot's format, and */
	uint32_t	 snapshot_uv;	/* UIDVALIDITY, when snapshot is 1 */
	size_t		 entries;	/* good entries in it (if it is of
					 * this version and UIDVALIDITY) */
	size_t		 bad;		/* entries failing their checksum */
	size_t		 log_entries;	/* good records of the log */
	uint64_t	 log_bytes;
	uint64_t	 log_unread;	/* bytes past the last good record:
					 * torn, of another UIDVALIDITY, or
					 * damaged; the next append or
					 * compaction drops them */
};
int	msgcache_check(const char *dir, uint32_t uidvalidity,
	    struct msgcache_check *, void (*fn)(void *, uint32_t), void *arg);

/* Remove the folder's structure cache (taking the compaction lock, so
 * that a compaction in progress finishes first).  0 or -1. */
int	msgcache_remove(const char *dir);

#endif
