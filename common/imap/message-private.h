/*
 * message-private.h: what the parts of message (message.c and
 * message-*.c) share, and no other file uses.  The contract of the
 * module is in message.h.
 */
#ifndef COMMON_MESSAGE_PRIVATE_H
#define COMMON_MESSAGE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/lib/mapfile.h"
#include "common/mail/mime.h"

/* a quoted string longer than this is sent as a literal */
#define QUOTED_MAX		1024
/* raw bytes decoded at a time when searching */
#define SEARCH_CHUNK		(64 * 1024)
#define SCRATCH_MAX		((size_t)1 << 30)

struct message {
	const char		*data;
	size_t			 len;
	struct mapfile		 view;		/* the file, when viewed whole */
	/* message_read(): the file, open until all of it is in store */
	int			 fd;
	struct buf		*store;
	size_t			 size;		/* the file's */
	int64_t			 mtime;		/* the file's, INT64_MIN if none */
	int			 hdr_in;	/* the whole header is in */
	struct mime_part	*parts;		/* full parse */
	struct mime_part	*hdr;		/* header-only parse */
	uint64_t		 vsize;
	int			 have_vsize;
	unsigned		 env_exact;	/* message_envelope_exact() */
	int			 have_env_exact;
};

/* --- the RFC 5322 address parser (message-envelope.c) --------------- */

enum atype {
	A_WORD,		/* atom (text holds it) */
	A_QUOTED,	/* quoted string (text holds it unescaped) */
	A_DLIT,		/* domain literal, brackets included */
	A_COMMENT,	/* comment (text holds it, no parentheses) */
	A_SPECIAL,	/* one of < > : ; @ , . (text is that byte) */
};

struct atok {
	enum atype	 type;
	char		 c;		/* A_SPECIAL */
	int		 space;		/* blanks or a comment before it */
	size_t		 off;		/* text in the token buffer */
	size_t		 len;
};

struct alist {
	struct atok	*t;
	size_t		 n;
	size_t		 cap;
	struct buf	 text;		/* token texts */
	struct buf	 tmp;		/* one field of an address */
	int		 plain;		/* write "name <mbox@host>, ..." (for
					 * SEARCH) instead of ENVELOPE lists */
};

/* strings of one address, kept in their own buffers */
struct addr {
	struct buf	name, adl, mbox, host;
	int		has_name, has_adl, has_mbox, has_host;
};

/* The scratch of an address parse, with a buffer for the text of the
 * plain form. */
struct addrbufs {
	struct alist	al;
	struct addr	a;
	struct buf	text;
};

/* the fields ENVELOPE shows, in its order */
enum envfield {
	E_DATE, E_SUBJECT, E_FROM, E_SENDER, E_REPLY_TO, E_TO, E_CC, E_BCC,
	E_IN_REPLY_TO, E_MESSAGE_ID, E_N
};

/* --- IMAP strings (message.c) --------------------------------------- */

/* Append s as a quoted string or a literal; a NUL is sent as U+FFFD. */
int	imap_string(struct buf *out, const char *s, size_t len);

/* The same for a C string, or NIL for NULL. */
int	imap_nstring(struct buf *out, const char *s);

/* "(" the strings, each written by one, one space apart ")" */
int	list_of(struct buf *out, const char *const *v, size_t n,
	    int (*one)(struct buf *, const char *));

/* The top-level header: from the full parse if there is one, else
 * from a parse of the header alone; NULL when it cannot be read. */
const struct mime_part *top_header(struct message *m);

/* --- ENVELOPE (message-envelope.c) ----------------------------------- */

/* Write the ENVELOPE of header h to out; *exact_r gets what
 * message_envelope_exact() answers for it. */
int	envelope(const struct mime_part *h, struct buf *out,
    unsigned *exact_r);

/* Scratch buffers for addresses(); plain makes it write the plain form
 * ("name <mbox@host>, ...") SEARCH reads instead of ENVELOPE lists. */
void	addrbufs_init(struct addrbufs *ab, int plain);
void	addrbufs_free(struct addrbufs *ab);

/* Parse one header value's address list and write its addresses to
 * out, counting them in *count. */
int	addresses(struct alist *al, const char *v, size_t len,
    struct buf *out, struct addr *a, size_t *count);

#endif
