/*
 * msgkeys: the sort keys (common/imap/sortkey.h) of messages of the selected
 * folder, for SORT and THREAD.  They come from the folder's sort cache
 * (maildir/sortcache.h); a message it does not hold yet has its header
 * read, and its keys join the cache when the command is done, so that
 * sorting a folder again opens no message file.
 */
#ifndef IMAPD_MSGKEYS_H
#define IMAPD_MSGKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"

struct session;
struct sortcache;
struct sortkey;

struct msgkeys {
	struct sortkey	*k;		/* k[i] is that of seqs[i] */
	size_t		 n;
	struct sortcache *cache;	/* what k points into */
	struct buf	 fresh;		/* records built for this command */
};

/*
 * The keys of the messages seqs[0..*n) of the selected folder.  A message
 * whose file has gone meanwhile (another session expunged it) is dropped
 * from seqs, and *n counts what is left.  0, or -1 when memory runs out.
 */
int	msgkeys_load(struct session *, uint32_t *seqs, size_t *n,
	    struct msgkeys *);

/* Add the keys built to the cache and let go of them all. */
void	msgkeys_done(struct session *, struct msgkeys *);

#endif
