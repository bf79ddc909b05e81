/*
 * selected: the selected mailbox of a session, and the untagged responses
 * (EXISTS, EXPUNGE, RECENT, FETCH FLAGS) that keep the client's view of it
 * in step with the disk.
 */
#ifndef IMAPD_SELECTED_H
#define IMAPD_SELECTED_H

#include <stdint.h>

struct session;
struct request;
struct keywords;

/* Sync the selected mailbox and tell the client what changed.  Called
 * before every tagged OK/NO; allow_expunge is 0 during FETCH, STORE and
 * SEARCH (RFC 9051 7.5.1). */
void	selected_sync(struct session *, int allow_expunge);

/*
 * If the selected folder's UIDVALIDITY changed under the session (its UID
 * cache was lost or damaged and rebuilt), say BYE once and end the
 * session (END_MAILBOX_RESET): the client's UIDs mean nothing any more,
 * and it resynchronizes when it selects the folder again.  1 if the
 * session is ending that way, 0 if not.
 */
int	selected_reset(struct session *);

/* The callbacks that tell the client what changed in its view: every
 * call that can change the view takes all of them, so that no message
 * joins the view without an EXISTS. */
struct mailbox_events;
void	selected_events(struct session *, struct mailbox_events *);

/* A CONDSTORE enabling command (RFC 7162 3.1) ran: from now on FETCH
 * responses of flag changes carry UID and MODSEQ; with a mailbox
 * selected, the first one also tells its HIGHESTMODSEQ. */
void	selected_condstore(struct session *);

/* "* OK [HIGHESTMODSEQ n]" with the selected folder's highest MODSEQ,
 * remembered as the last one the client was told; the _told form only
 * remembers it and returns it, for a response code of a tagged OK. */
void	selected_tell_modseq(struct session *);
uint64_t selected_told_modseq(struct session *);

/* After a sync that reported every change, under CONDSTORE: whether the
 * client should now be told the HIGHESTMODSEQ (new or expunged messages
 * moved it past what the client saw).  Asking clears the question. */
int	selected_modseq_due(struct session *);

/* Before a tagged response: sync as the command allows. */
void	selected_before_tagged(struct session *, const struct request *);

/* Whether uid is still in the view of mailbox mb (a struct mailbox *):
 * the caches ask it to drop entries of expunged messages. */
int	selected_alive(void *mb, uint32_t uid);

/* The selected mailbox's structure cache (opened on first use; may be
 * NULL), and writing out what was added to it. */
struct msgcache *selected_msgcache(struct session *);
void	selected_flush_msgcache(struct session *, int final);

/*
 * The end of a FETCH: what it added to the structure cache is written
 * out, and the compaction that may then be due (rewriting the whole
 * cache, about a twentieth of a first FETCH over a large folder) waits
 * until the tagged reply has gone and the client is quiet:
 * selected_compact_due() says whether it still waits, selected_compact()
 * does it.  A FETCH that finds the last one's still waiting (the client
 * never paused) compacts at once, so the log grows by at most one FETCH
 * between compactions.
 */
void	selected_fetch_done(struct session *);
int	selected_compact_due(struct session *);
void	selected_compact(struct session *);

/*
 * Open message seq of the selected mailbox, read into store (the caller's
 * buffer, reused from one message to the next; see message_read()): the
 * header only unless whole.  A file renamed meanwhile (another session
 * changed its flags) is looked for under its new name.  NULL when the
 * message is gone or cannot be read (that is logged, a vanished file is
 * not).
 */
struct buf;
struct message;
struct message *selected_message(struct session *, uint32_t seq,
	    struct buf *store, int whole);

/* Leave the selected mailbox (no responses). */
void	selected_close(struct session *);

/*
 * The files a read-write SELECT left in new/ so as to answer sooner (see
 * mailbox_move_new()), moved to cur/ while the client is quiet:
 * selected_new_waiting() says whether any are left, selected_move_new()
 * moves them for about SELECTED_MOVE_MS.  Nothing goes to the client.
 */
#define SELECTED_MOVE_MS	20
int	selected_new_waiting(struct session *);
void	selected_move_new(struct session *);

/* Write a flag list "(\Seen \Answered $Label)" (with \Recent if set). */
void	selected_write_flags(struct session *, unsigned flags, uint32_t kw);

/* QRESYNC: send the expunges collected so far as one "* VANISHED" (every
 * call that can expunge does, and so does any response that numbers
 * messages). */
void	selected_flush_vanished(struct session *);

/*
 * QRESYNC: "* VANISHED (EARLIER) uids" for the UIDs of known (all UIDs if
 * it is empty) expunged at a MODSEQ above since; where the UID cache has
 * forgotten expunges that old, every UID of known below UIDNEXT that is
 * not in the view (RFC 7162 3.2.5.1).  Nothing when none.
 */
struct seqset;
void	selected_vanished_earlier(struct session *, uint64_t since,
	    const struct seqset *known);

/* "* <seq> FETCH (UID <uid> FLAGS (...))" for one message (and MODSEQ,
 * with UID, once CONDSTORE is on). */
void	selected_fetch_flags(struct session *, uint32_t seq, int with_uid);

/* The FLAGS and PERMANENTFLAGS lists of the selected mailbox. */
void	selected_write_flag_lists(struct session *);

#endif
