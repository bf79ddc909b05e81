/*
 * message: one message's bytes, and what FETCH and SEARCH ask of them.
 *
 * A message is a Maildir file, mapped or read into a caller's buffer (or
 * the caller's bytes), and its MIME structure, parsed when first needed:
 * ENVELOPE and header searches parse only the header, BODYSTRUCTURE,
 * sections and body searches the whole message.  Maildir files are never
 * rewritten in place, so the bytes stay valid while the message is
 * open.
 *
 * Output follows RFC 3501 / RFC 9051 and, where they leave room, what
 * Dovecot sends, because clients are tested against it:
 *   - strings are quoted when they are short 7-bit text without CR or LF,
 *     literals {n} otherwise; a NUL in a header becomes U+FFFD;
 *   - type, subtype, parameter names and values are sent as written in the
 *     message; text parts without a charset get ("charset" "us-ascii")
 *     appended; a missing Content-Transfer-Encoding is "7bit";
 *   - ENVELOPE fields are raw header text (encoded words stay encoded),
 *     unfolded; the subject also has its runs of blanks made one space;
 *     for date, subject, in-reply-to and message-id the last field of a
 *     name counts, address fields of one name are joined; an address
 *     without a mailbox or host shows "MISSING_MAILBOX" / "MISSING_DOMAIN"
 *     (a phrase alone is a name without either); a comment after an
 *     address without a display name becomes its name.
 * Deliberate differences from Dovecot 2.3, where the RFCs or clients are
 * better served otherwise:
 *   - an empty element of an address list ("a@b, , c@d") is skipped, as
 *     RFC 5322 4.4 says, instead of showing a MISSING_MAILBOX address;
 *   - a Content-Type without a readable type/subtype is text/plain
 *     (RFC 2045 5.2) rather than "" "";
 *   - Content-ID, -Description, -MD5 and -Location have leading blanks of
 *     continuation lines removed;
 *   - an RFC 2231 "name*" value is never renamed ("name*1*");
 *   - a boundary line must have only blanks after the boundary (or "--"
 *     for the close delimiter); Dovecot accepts any line it prefixes;
 *   - BINARY is lenient with malformed quoted-printable (keeps "=XX" as
 *     written) and truncated base64 instead of failing with [PARSE];
 *   - BINARY of a multipart or message part, and BINARY[], send the bytes
 *     as they are (their own encoding can only be 7bit/8bit/binary);
 *     Dovecot decodes the parts inside and rewrites their headers;
 *   - BINARY.SIZE of a part is answered even when another part of the
 *     message has an unknown encoding;
 *   - a nested multipart ends before the line end that precedes an outer
 *     boundary (RFC 2046), so BODY[n] of it can be 2 bytes shorter;
 *   - a "From " line (mbox) in a header is not taken as a field;
 *   - message/global is parsed as an encapsulated message (RFC 6532,
 *     RFC 9051 numbering); BODYSTRUCTURE describes it like message/rfc822
 *     only with MESSAGE_BS_GLOBAL (an IMAP4rev2 session), since IMAP4rev1's
 *     grammar knows only RFC822 there;
 *   - BODY[0] and other zero part numbers are a syntax error.
 */
#ifndef COMMON_MESSAGE_H
#define COMMON_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "common/mail/mime.h"

struct message;

/*
 * Open relpath under dirfd read-only and map it, leaving the file's
 * access time alone where the user owns the file (O_NOATIME).  An empty
 * file is a valid (empty) message.  NULL with *errno_r set on failure: ENOENT means
 * the file is gone (another session expunged it, or renamed it for a flag
 * change); EINVAL that it is not a regular file.
 */
struct message *message_open(int dirfd, const char *relpath, int *errno_r);

/*
 * The same, reading the file into store, a buffer the caller keeps and
 * reuses from one message to the next (only one message may use it at a
 * time, and it must outlive the message), rather than mapping it: for the
 * many small files a search goes through, a read costs less than setting
 * up and tearing down a mapping.  Only what is asked for is read: the
 * header when only header questions come (message_date(),
 * message_envelope(), message_search_header()), all of it for anything
 * else, or at once with whole set.  A file larger than MESSAGE_READ_MAX
 * (or than store may hold) is mapped when its body is needed.  Errors as
 * message_open(); a read error later makes the question that needed the
 * bytes fail as if memory had run out.
 */
#define MESSAGE_READ_MAX	((size_t)1024 * 1024)
struct message *message_read(int dirfd, const char *relpath,
	    struct buf *store, int whole, int *errno_r);

/* A message over the caller's bytes, which must outlive it.  NULL only
 * when memory runs out. */
struct message *message_from_mem(const char *data, size_t len);

void	message_free(struct message *);

/* The file's modification time (INTERNALDATE in a Maildir), from the
 * fstat() the open did; INT64_MIN for message_from_mem(). */
int64_t	message_mtime(const struct message *);

/* The raw bytes (all of them read now, for message_read()). */
const char *message_data(struct message *, size_t *len_r);

/* The structure (parsed now if needed); NULL when memory runs out. */
const struct mime_part *message_parts(struct message *);

/* RFC822.SIZE: the size with every bare LF counted as CRLF. */
uint64_t message_vsize(struct message *);

/* The Date: header as a time, or INT64_MIN when there is none that can
 * be read; message_date_tz also gives its zone in *tzoff_r. */
int64_t	message_date(struct message *);
int64_t	message_date_tz(struct message *, int *tzoff_r);

/* Append the ENVELOPE list, "(" ... ")".  0, or -1 (errno EMSGSIZE when
 * out is full, ENOMEM). */
int	message_envelope(struct message *, struct buf *out);

/*
 * Which string fields of the ENVELOPE say all that the header says about
 * their field, so that message_envelope_search() over a kept ENVELOPE
 * answers as message_search_header() over the message would: the field
 * is absent (NIL), or it occurs once and its value is as written but for
 * line ends (no blanks trimmed or joined, no NUL, no lone CR).  A set of
 * MESSAGE_ENV_* bits, from the last message_envelope() (computed now if
 * there was none); 0 when memory runs out.
 */
#define MESSAGE_ENV_DATE	0x01
#define MESSAGE_ENV_SUBJECT	0x02
#define MESSAGE_ENV_IN_REPLY_TO	0x04
#define MESSAGE_ENV_MESSAGE_ID	0x08
unsigned message_envelope_exact(struct message *);

/* The MESSAGE_ENV_* bit of a header field name (any case), or 0 for a
 * field the ENVELOPE does not hold as a string. */
unsigned message_envelope_field(const char *name);

/* The places of the fields in an ENVELOPE list (RFC 9051 7.5.2). */
enum message_envpos {
	MESSAGE_ENVPOS_DATE, MESSAGE_ENVPOS_SUBJECT, MESSAGE_ENVPOS_FROM,
	MESSAGE_ENVPOS_SENDER, MESSAGE_ENVPOS_REPLY_TO, MESSAGE_ENVPOS_TO,
	MESSAGE_ENVPOS_CC, MESSAGE_ENVPOS_BCC, MESSAGE_ENVPOS_IN_REPLY_TO,
	MESSAGE_ENVPOS_MESSAGE_ID,
};

/*
 * Read back a string field (date, subject, in-reply-to, message-id) of
 * an ENVELOPE that message_envelope() wrote: its value, unescaped, is
 * appended to out.  1, 0 for NIL, -1 for an ENVELOPE that does not parse
 * (or no memory).
 */
int	message_envelope_string(const char *env, size_t len,
	    enum message_envpos, struct buf *out);

/*
 * The first address of an address field (from ... bcc) of such an
 * ENVELOPE, as the ENVELOPE shows it (a group's start is an address with
 * only a mailbox, the group's name): its name, mailbox and host appended
 * to the three buffers, and in *present_r a bit for each that is not NIL
 * (MESSAGE_ADDR_NAME, _MAILBOX, _HOST).  1, 0 when the field is NIL, -1
 * as above.
 */
#define MESSAGE_ADDR_NAME	0x01
#define MESSAGE_ADDR_MAILBOX	0x02
#define MESSAGE_ADDR_HOST	0x04
int	message_envelope_address(const char *env, size_t len,
	    enum message_envpos, struct buf *name, struct buf *mailbox,
	    struct buf *host, unsigned *present_r);

/* The last top-level field called name (any case), unfolded and without
 * leading and trailing blanks, appended to out: the one ENVELOPE would
 * show.  1 found, 0 not found, -1 when out is full or memory runs out. */
int	message_header_last(struct message *, const char *name,
	    struct buf *out);

/* BODY (flags 0) or BODYSTRUCTURE (MESSAGE_BS_EXTENDED) list.  0 or -1. */
#define MESSAGE_BS_EXTENDED	0x01	/* BODYSTRUCTURE: extension data */
#define MESSAGE_BS_GLOBAL	0x02	/* message/global as a message */
int	message_bodystructure(struct message *, int flags, struct buf *out);

/* --- FETCH sections --------------------------------------------------- */

enum section_item {
	SECTION_BODY,		/* BODY[...] */
	SECTION_BODY_PEEK,	/* BODY.PEEK[...] */
	SECTION_BINARY,		/* BINARY[...] (RFC 3516) */
	SECTION_BINARY_PEEK,
	SECTION_BINARY_SIZE,	/* BINARY.SIZE[...] */
	SECTION_RFC822,		/* = BODY[] */
	SECTION_RFC822_HEADER,	/* = BODY.PEEK[HEADER] */
	SECTION_RFC822_TEXT,	/* = BODY[TEXT] */
};

enum section_text {
	SECTION_ALL,		/* no section text */
	SECTION_HEADER,
	SECTION_HEADER_FIELDS,
	SECTION_HEADER_FIELDS_NOT,
	SECTION_TEXT,
	SECTION_MIME,
};

#define SECTION_PATH_MAX	(MIME_DEPTH_MAX + 2)
#define SECTION_PART_MAX	1000000

struct section {
	enum section_item	 item;
	enum section_text	 text;
	unsigned		 npath;
	uint32_t		 path[SECTION_PATH_MAX];
	/* HEADER.FIELDS names as the client sent them, and sorted
	 * (case-insensitively, duplicates dropped) for matching */
	char			**fields;
	size_t			 nfields;
	char			**sorted;
	size_t			 nsorted;
	int			 partial;	/* <origin.count> given */
	uint64_t		 origin;
	uint64_t		 count;
};

/*
 * Read one FETCH item that names a section, starting at args[0]: RFC822,
 * RFC822.HEADER, RFC822.TEXT, BODY[...], BODY.PEEK[...], BINARY[...],
 * BINARY.PEEK[...], BINARY.SIZE[...], each with an optional <origin.count>
 * where the grammar allows one.  The IMAP parser delivers
 * BODY[HEADER.FIELDS (A B)]<0.10> as three arguments (the atom up to the
 * list, the list, the atom "]<0.10>"); *used_r tells how many were taken.
 * Returns 0 with *out filled (free it with message_section_free), 1 when
 * args[0] is some other item (FLAGS, BODY, BODYSTRUCTURE, RFC822.SIZE...),
 * -1 with a short reason in *why_r for a malformed one (answer BAD).
 */
int	message_section_parse(const struct imap_arg *args, size_t nargs,
	    size_t *used_r, struct section *out, const char **why_r);
void	message_section_free(struct section *);

/*
 * The item's name for the FETCH response: "BODY[1.2.MIME]<5>",
 * "BODY[HEADER.FIELDS (FROM TO)]", "BINARY.SIZE[1]", "RFC822.HEADER".
 * PEEK is not echoed, field names are upper-cased, a partial shows only
 * its origin.  0 or -1.
 */
int	message_section_name(const struct section *, struct buf *out);

#define MESSAGE_EUNKNOWN_CTE	(-2)	/* BINARY of an unknown encoding */

/*
 * Append the section's bytes, with the partial applied: CRLF form for
 * BODY and RFC822 items; for BINARY the part's body with its
 * Content-Transfer-Encoding undone (a multipart or message part, or the
 * whole message BINARY[], is sent as it is); for BINARY.SIZE the decimal
 * size.  A part that does not exist gives an empty string, as do HEADER
 * and TEXT of a part that is not a message (as Dovecot does).  *nil_r (may
 * be NULL) is set when the answer should be NIL instead of a string
 * (never, at present; kept for callers).  0, MESSAGE_EUNKNOWN_CTE
 * (answer NO [UNKNOWN-CTE]), or -1 (errno EMSGSIZE when out is full,
 * ENOMEM).
 */
int	message_section_get(struct message *, const struct section *,
	    struct buf *out, int *nil_r);

/* The full size of the section (before any partial): CRLF bytes, or
 * decoded bytes for BINARY items.  0, MESSAGE_EUNKNOWN_CTE or -1. */
int	message_section_size(struct message *, const struct section *,
	    uint64_t *size_r);

/* --- SEARCH ----------------------------------------------------------- */

/*
 * Case-insensitive substring searches (see textsearch.h for the folding).
 * 1 match, 0 no match, -1 when memory runs out.  The folded needle of the
 * last call is kept, so searching many messages for one needle folds it
 * once, and so are the buffers decoding uses.  Decoded text is streamed
 * in pieces of bounded size: a large message never costs more than a few
 * hundred KiB.  A needle that folds to ASCII is looked for in the bytes
 * themselves wherever ASCII stands for itself (textsearch_bytes()): in
 * 7bit, 8bit and binary text parts without copying them, in
 * quoted-printable and base64 ones after decoding them a block at a
 * time, without converting charsets.
 *
 * header: the top-level fields called field, each RFC 2047-decoded; an
 *   empty needle matches any message that has such a field.
 * body: the text of every text part and every message leaf part (as
 *   Dovecot without full-text indexes: not attachments of other types),
 *   transfer-decoded and converted to UTF-8.  A multipart's preamble and
 *   epilogue are not text.
 * text: every header of the message and its parts (as "Name: value",
 *   decoded), and the body as above.
 */
int	message_search_header(struct message *, const char *field,
	    const char *needle_utf8);
/* The FROM, TO, CC and BCC keys: the needle is looked for in the
 * envelope's addresses (RFC 3501 6.4.4), written "name <mailbox@host>"
 * with the names decoded, so comments and odd spacing in the header
 * neither hide nor fake a match. */
int	message_search_address(struct message *, const char *field,
	    const char *needle_utf8);
int	message_search_body(struct message *, const char *needle_utf8);
int	message_search_text(struct message *, const char *needle_utf8);

/*
 * The text the searches above read, for a full-text index: fn(arg, what,
 * text, len) is called with it piece by piece, in units that a needle
 * never spans: each header field of the message and of its parts as
 * TEXT reads it ("Name: value", decoded), the addresses of each
 * top-level From, To, Cc and Bcc field as FROM/TO/CC/BCC read them, and
 * the body of each part BODY reads (decoded to UTF-8, or the part's own
 * bytes where they are UTF-8 as they stand: the reader decodes those,
 * an invalid byte standing for U+FFFD and a character cut by the end of
 * the unit for nothing, as textsearch_feed() does).  what is
 * MESSAGE_TEXT_HEADER (header fields and addresses: what HEADER, FROM,
 * SUBJECT... and TEXT read) or MESSAGE_TEXT_BODY (what BODY and TEXT
 * read), with MESSAGE_TEXT_START on the first piece of each unit.  A
 * needle that one of the searches finds lies whole in one unit of its
 * kind.  fn returns 0 to go on; anything else ends the walk and is
 * returned.  0, or -1 when memory runs out.
 */
#define MESSAGE_TEXT_HEADER	0x01
#define MESSAGE_TEXT_BODY	0x02
#define MESSAGE_TEXT_START	0x10
int	message_text(struct message *,
	    int (*fn)(void *arg, unsigned what, const char *, size_t),
	    void *arg);

/*
 * message_search_header() for a field that ENVELOPE holds as a string
 * (message_envelope_field()), answered from an ENVELOPE that
 * message_envelope() wrote, whose message_envelope_exact() had the
 * field's bit.  1, 0, or -1 for an ENVELOPE that does not parse (or no
 * memory): then ask the message.
 */
int	message_envelope_search(const char *env, size_t len,
	    const char *field, const char *needle_utf8);

/* Forget the kept needle and the buffers searching keeps (at the end of a
 * SEARCH command, so that an idle session holds none). */
void	message_search_cleanup(void);

#endif
