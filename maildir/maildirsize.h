/*
 * maildirsize: the Maildir++ quota file, as maildrop, Courier, Postfix's
 * virtual delivery agents and Dovecot keep it in the Maildir root.
 *
 * Format (maildirsize.c documents it in full): a first line with the
 * quota definition, "<bytes>S,<count>C" (either part may be missing; a
 * missing or zero part is no limit), then lines of two whitespace
 * separated signed integers, a byte and a message delta.  The usage is
 * the sum of the deltas.  Every program that adds or removes messages
 * appends one line with a single O_APPEND write; when the file grows
 * past MAILDIRSIZE_MAX bytes, or the quota looks exceeded and the file
 * has more than one line or is older than MAILDIRSIZE_STALE seconds, it
 * is recalculated from a scan of the Maildir and its folders (Trash
 * left out) and replaced with rename().  Other programs take no lock:
 * their numbers are close, not exact, and every recalculation makes them
 * right again.  Among imapd's own sessions the numbers stay exact: a
 * session holds a shared lock (maildirsize_hold) from before it adds or
 * removes messages until its delta line is written, and a recalculation
 * runs only under the exclusive lock, so it never counts a message
 * whose line is still to come, nor misses one whose line went to the
 * file it replaced.  A recalculation that cannot have the lock at once
 * is left for later.
 */
#ifndef MAILDIR_MAILDIRSIZE_H
#define MAILDIR_MAILDIRSIZE_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/quotadef.h"

#define MAILDIRSIZE_MAX		5120	/* bytes; recalculate at this size */
#define MAILDIRSIZE_STALE	(15 * 60)	/* seconds */
#define MAILDIRSIZE_TRASH	".Trash"	/* the folder not counted */
/* beside maildirsize, the lock among imapd's sessions */
#define MAILDIRSIZE_LOCK	"imapd-maildirsize.lock"

/* What a maildirsize file says, and where it stands. */
struct maildirsize {
	struct quota_limits	limits;
	int64_t			bytes;		/* usage */
	int64_t			messages;
	int			fd;	/* the file, open to append;
					 * -1 if there is none: no quota */
	int			lockfd;	/* maildirsize_hold()'s */
	unsigned		lines;	/* after the definition */
	int64_t			mtime;	/* of the file */
	int			recalc;	/* the numbers are not to be
					 * trusted: recalculate first */
};

/*
 * Open and read root's maildirsize into *q, recalculating it when the
 * Maildir++ rules ask (too big, negative totals) or when the caller's
 * want differs from the file's definition.  want, if not NULL and not
 * all zero, is imposed: a missing file is created with it, and with
 * replace set a file with another definition is rewritten with it.
 * Without a file and without want, q->fd is -1: no quota.  0, or -1
 * with errno on an I/O error (logged by the caller).
 */
int	maildirsize_open(const char *root, const struct quota_limits *want,
	    int replace, struct maildirsize *q);

/*
 * Whether adding bytes and messages would pass a limit.  When it would
 * and the numbers may be stale (more than one line, or the file older
 * than MAILDIRSIZE_STALE), the file is recalculated first and the
 * question asked again.  1 over, 0 not, -1 on an I/O error.
 */
int	maildirsize_over(const char *root, struct maildirsize *q,
	    uint64_t bytes, uint64_t messages);

/*
 * Take the shared lock on root's quota (waiting for a recalculation to
 * end), and make sure q is the file now in place, reading it again if a
 * recalculation replaced it since maildirsize_open.  Held until
 * maildirsize_close.  0 or -1 (errno).
 */
int	maildirsize_hold(const char *root, struct maildirsize *q);

/*
 * Append a delta line (bytes and messages may be negative) with one
 * write to the file opened by maildirsize_open, and count it in *q.
 * Nothing to do without a file.  0 or -1 (errno).
 */
int	maildirsize_add(struct maildirsize *q, int64_t bytes,
	    int64_t messages);

/*
 * Recalculate root's maildirsize with q->limits from a scan of cur/
 * and new/ of the Maildir and of every folder but Trash, replacing the
 * file; q gets the new numbers and a descriptor of the new file.  The
 * scan is repeated (a few times at most) when a directory changed while
 * it ran.  0 or -1 (errno).
 */
int	maildirsize_recalc(const char *root, struct maildirsize *q);

/* Count what root holds, as a recalculation does, without writing. */
int	maildirsize_scan(const char *root, int64_t *bytes_r,
	    int64_t *messages_r);

/* The size on disk of message file relpath under dirfd: its name's
 * ",S=" if it has one, else what fstatat() says.  -1 (errno) if gone. */
int64_t	maildirsize_msgsize(int dirfd, const char *relpath);

/* 1 if the folder directory dir (a path) is Trash, which Maildir++
 * leaves out of the quota. */
int	maildirsize_is_trash(const char *dir);

void	maildirsize_close(struct maildirsize *);

#endif
