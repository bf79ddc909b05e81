/*
 * imapcmd: one command, from sending it to its tagged answer, for the
 * tools that talk to IMAP servers.  Untagged responses that arrive
 * meanwhile go to the caller's handler; the tagged answer (or the BYE
 * that ended the session instead) is kept, split, in the result.
 */
#ifndef CLIENT_IMAPCMD_H
#define CLIENT_IMAPCMD_H

#include <stdint.h>

#include "common/imap/imapconn.h"
#include "common/imap/imapresp.h"
#include "common/lib/buf.h"

struct imapcmd_result {
	enum imapresp_status	 status;	/* OK, NO, BAD or BYE */
	struct buf		 line;		/* the tagged answer (or BYE) */
	struct imapresp		 resp;		/* ... split */
	int64_t			 ms;		/* how long it took */
};

typedef void (*imapcmd_handler)(void *arg, const struct buf *,
	    const struct imapresp *);

void	imapcmd_result_init(struct imapcmd_result *, size_t max);
void	imapcmd_result_free(struct imapcmd_result *);

/*
 * Send the command begun with imapconn_begin() (tag is what it
 * returned) and read up to its tagged answer.  0 with *res filled, or -1
 * when the connection failed or timed out first (imapconn_error() says
 * why) or the server answered with something that is not IMAP.
 */
int	imapcmd_run(struct imapconn *, const char *tag, int64_t deadline,
	    imapcmd_handler, void *arg, struct imapcmd_result *res);

/* LOGIN with user and password, as imapcmd_run().  The command, which
 * holds the password, is wiped once sent. */
int	imapcmd_login(struct imapconn *, const char *user,
	    const char *password, int64_t deadline, imapcmd_handler,
	    void *arg, struct imapcmd_result *res);

/* Keep the capability list r announces, as "* CAPABILITY ..." data or
 * in an OK's [CAPABILITY ...] code, in caps (space-separated atoms):
 * 1 when r had one, 0 if not. */
int	imapcmd_note_caps(struct buf *caps, const struct imapresp *r);

/* 1 when the list in caps has cap (any case). */
int	imapcmd_has_cap(const struct buf *caps, const char *cap);

#endif
