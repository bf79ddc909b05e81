/*
 * cmdutil: what the command handlers share: their argument helpers (arg_:
 * message sets resolved against the selected mailbox, flag lists,
 * numbers) and the response code for an errno (errno_code).
 */
#ifndef IMAPD_CMDUTIL_H
#define IMAPD_CMDUTIL_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct request;
struct imap_arg;

/*
 * Resolve a sequence set (or, for UID commands, a UID set) against the
 * selected mailbox into ascending sequence numbers.  UIDs that are not in
 * the mailbox are skipped, as RFC 9051 asks; a sequence number past the
 * end is an error.  0, or -1 after answering BAD.  *seqs_r is malloc'ed.
 */
int	arg_msgset(struct session *, const struct request *,
	    const struct imap_arg *, int uid, uint32_t **seqs_r, size_t *n_r);

/* Flags from a flag list (or a single flag atom).  Keywords are returned
 * by name in kwnames (pointers into the argument tree).  0, or -1 after
 * answering BAD. */
#define FLAGS_KW_MAX	64
struct flagset {
	unsigned	 flags;		/* MF_* */
	const char	*kw[FLAGS_KW_MAX];
	size_t		 nkw;
};
int	arg_flags(struct session *, const struct request *,
	    const struct imap_arg *, struct flagset *);

/*
 * The response code (RFC 5530) for a failure with errno e, with a
 * trailing space, to start a NO's text: "[OVERQUOTA] " for a full disk,
 * "[NONEXISTENT] " (a folder that is a symbolic link is not one),
 * "[ALREADYEXISTS] ", "[NOPERM] ", "[LIMIT] " for a
 * name too long, "[INUSE] " for a lock held too long, "[UNAVAILABLE] "
 * for an I/O error, and "[SERVERBUG] " for anything else.  The one place
 * that maps errno to IMAP.
 */
const char *errno_code(int e);

/* A number argument (an atom of digits) from min to max; 0, or -1 if
 * the argument is not one. */
int	arg_u64(const struct imap_arg *, uint64_t min, uint64_t max,
	    uint64_t *r);

/* CONDSTORE's mod-sequence values: 1 to 2^63-1 (RFC 7162 section 7). */
#define MODSEQ_MAX	0x7fffffffffffffffULL

#endif
