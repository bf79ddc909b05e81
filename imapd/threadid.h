/*
 * threadid: the THREADID (RFC 8474 5.2) of messages of the selected
 * folder.
 *
 * A message's thread is named by the first message ID of its References
 * field (RFC 5322 3.6.4 asks whoever shortens References to keep that
 * one, the thread's first message), or of In-Reply-To when there is no
 * References, or else by its own Message-ID: so a message and the replies
 * that name it as their first reference share a THREADID, in any folder.
 * The id depends on nothing but the message's own header, which never
 * changes, so it never changes either (RFC 8474 5.2 forbids a THREADID
 * to change once told); the price is that a reply whose References lost
 * the first ID, or that has only an In-Reply-To to a message that is
 * itself a reply, starts a thread of its own.  A message with no valid
 * message ID at all is a thread of its own, named after its EMAILID.  The
 * IDs are read from the sort keys (msgkeys.h), so a folder sorted or
 * threaded once answers without opening a message file.
 */
#ifndef IMAPD_THREADID_H
#define IMAPD_THREADID_H

#include <stddef.h>
#include <stdint.h>

#include "maildir/objectid.h"

struct session;

typedef char threadid_t[OBJECTID_LEN + 1];

/*
 * The THREADIDs of the messages seqs[0..n) of the selected folder, in a
 * malloc'ed array of n in *ids_r: ids[i] is that of seqs[i], or "" if the
 * message is gone (another session expunged it).  0, or -1 when memory
 * runs out.
 */
int	threadid_load(struct session *, const uint32_t *seqs, size_t n,
	    threadid_t **ids_r);

#endif
