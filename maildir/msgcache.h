/*
 * msgcache: a per-folder cache of what FETCH computes from a message's
 * structure (ENVELOPE, BODY, BODYSTRUCTURE), so that a client asking for
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
 * call on the cache.  A field with len 0 is not cached.  envelope_exact
 * is what message_envelope_exact() said of the envelope. */
struct msgcache_rec {
	const char	*envelope;
	size_t		 envelope_len;
	unsigned	 envelope_exact;
	const char	*body;
	size_t		 body_len;
	const char	*bodystructure;
	size_t		 bodystructure_len;
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

#endif
