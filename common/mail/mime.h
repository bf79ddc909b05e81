/*
 * mime: the structure of an RFC 5322 / MIME message held in memory.
 *
 * mime_parse() reads a message (usually an mmap of a Maildir file, with
 * bare LF line ends, sometimes CRLF, sometimes both) once, front to back,
 * and builds a tree of parts.  IMAP counts in CRLF: every size and line
 * count here that IMAP sees is that of the message with each bare LF made
 * CRLF (an existing CRLF stays, a lone CR stays one byte); the raw offsets
 * are kept beside them for reading the bytes.
 *
 * The tree, by the numbering of RFC 3501 section 6.4.5:
 *   - the root is the message: its header, and its body;
 *   - a multipart part has one child per body part between its boundary
 *     lines (preamble and epilogue are not parts);
 *   - a message/rfc822 or message/global part has exactly one child, the
 *     encapsulated message, itself a root-like part with its own header
 *     (MIME_F_MESSAGE);
 *   - anything else is a leaf.
 *
 * What the parser does with what it meets:
 *   - Header: lines up to the first empty line, which belongs to the
 *     header.  No empty line at all: the whole part is header and the body
 *     is empty (MIME_F_NO_SEPARATOR).  A boundary line of an enclosing
 *     multipart ends a header too (without the line end before it).
 *     Continuation lines start with SP or TAB; lines without a colon are
 *     kept but name no field; NUL and 8-bit bytes are just bytes.
 *   - Boundaries (RFC 2046 5.1.1): a line "--" boundary, then only blanks,
 *     is a delimiter; "--" boundary "--" (anything after) closes.  Lines
 *     are tested against every open boundary, innermost first, with the
 *     rest of the line checked, so boundaries that are prefixes of each
 *     other in either direction are told apart.  The line end before a
 *     boundary line belongs to the boundary, not to the part before it
 *     (RFC 2046: also when it ends a close delimiter line just before an
 *     outer boundary; Dovecot counts that one to the inner multipart).
 *     A missing close delimiter: the multipart ends where its parent does,
 *     or at the end of the message.  A boundary of an outer multipart ends
 *     every part inside it.
 *   - A multipart with no boundary parameter, or whose boundary never
 *     occurs, has no real body parts; like Dovecot, it is given one empty
 *     text/plain child (MIME_F_SYNTHETIC) so that it can still be
 *     described in BODYSTRUCTURE, whose grammar wants at least one.
 *   - Nesting deeper than MIME_DEPTH_MAX levels: the part is kept as an
 *     opaque leaf (MIME_F_OPAQUE) whatever its type says.  After
 *     MIME_PARTS_MAX parts, no further boundary is looked for and the rest
 *     of the message belongs to the parts open at that point.
 *   - Content-Type: type/subtype kept as written (case included: clients
 *     see what the sender wrote, as from Dovecot).  A missing or unreadable
 *     one is text/plain, or message/rfc822 directly inside a
 *     multipart/digest (RFC 2046 5.1.5); a type without subtype is
 *     text/plain too, keeping the parameters.  The first of several
 *     Content-* fields of one name counts.
 *   - Parameters (RFC 2045, RFC 2231): duplicates are kept; continuations
 *     name*0, name*1*, ... are joined in index order (up to the first
 *     gap), and presented as IMAP servers present them, which is what
 *     clients decode: an extended value (charset'language'%XX...) keeps
 *     that form under the name "name*", other values come plain under
 *     "name".  Plain parameters come first, then the RFC 2231 ones in
 *     order of first appearance.  mime_param_decode() gives the UTF-8.
 *
 * Work and memory are linear in the message size; nothing recurses.  The
 * parse never fails on bad input, only when memory runs out.
 */
#ifndef COMMON_MIME_H
#define COMMON_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/buf.h"

#define MIME_DEPTH_MAX		100	/* nested multiparts and messages */
#define MIME_PARTS_MAX		10000	/* parts in one message */

enum mime_cte {
	MIME_CTE_7BIT,		/* also when there is no such field */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN,	/* x-uuencode and the like */
};

#define MIME_F_MULTIPART	0x01	/* children are its body parts */
#define MIME_F_MESSAGE		0x02	/* one child: the encapsulated msg */
#define MIME_F_TEXT		0x04	/* type text */
#define MIME_F_OPAQUE		0x08	/* too deep (or past the part
					 * limit) to look inside */
#define MIME_F_SYNTHETIC	0x10	/* the stand-in child of an empty
					 * multipart: no bytes at all */
#define MIME_F_NO_SEPARATOR	0x20	/* the header had no empty line */
#define MIME_F_HEADER_ONLY	0x40	/* from mime_parse_header_only():
					 * body sizes, lines not known */

struct mime_param {
	const char	*name;		/* as written ("name*" if extended) */
	const char	*value;
};

struct mime_part {
	struct mime_part	*parent;
	struct mime_part	*children;	/* first child */
	struct mime_part	*next;		/* next sibling */
	const char		*msg;		/* the whole message's bytes */
	unsigned		 nchildren;
	unsigned		 depth;		/* the root is 0 */
	unsigned		 flags;		/* MIME_F_* */
	enum mime_cte		 cte;

	/* Raw position in msg.  The header includes its empty line; the
	 * part is hdr_off .. body_off + body_len. */
	size_t			 hdr_off;
	size_t			 hdr_len;
	size_t			 body_off;
	size_t			 body_len;
	/* The same in CRLF terms; lines count CRLFs (a last line without
	 * one is not counted, as IMAP counts body lines). */
	uint64_t		 hdr_vsize;
	uint64_t		 body_vsize;
	uint64_t		 hdr_lines;
	uint64_t		 body_lines;

	/* The Content-* fields; NULL when absent.  Strings are unfolded,
	 * trimmed, NUL-free (a NUL byte becomes U+FFFD). */
	const char		*type;		/* never NULL */
	const char		*subtype;	/* never NULL */
	const struct mime_param	*params;
	size_t			 nparams;
	const char		*charset;	/* charset parameter */
	const char		*boundary;	/* boundary parameter */
	const char		*cte_name;	/* Content-Transfer-Encoding */
	const char		*id;
	const char		*description;
	const char		*md5;
	const char		*disposition;	/* e.g. "attachment" */
	const struct mime_param	*disp_params;
	size_t			 ndisp_params;
	const char * const	*languages;
	size_t			 nlanguages;
	const char		*location;
};

/*
 * Parse the message in data[0..len).  The tree points into data, which
 * must stay mapped until mime_free().  NULL only when memory runs out.
 */
struct mime_part *mime_parse(const char *data, size_t len);

/*
 * Parse only the top-level header (for ENVELOPE, SEARCH HEADER, sizes of
 * the header): no body page is touched.  The root's body_off and
 * body_len are set (the body is the rest of the message); its body
 * sizes, lines and children are not (MIME_F_HEADER_ONLY).
 */
struct mime_part *mime_parse_header_only(const char *data, size_t len);

void	mime_free(struct mime_part *);

/* The part after p in pre-order (parent before children, RFC 3501 part
 * numbering order), or NULL after the last; for walking a tree without
 * recursion. */
const struct mime_part *mime_next(const struct mime_part *p);

/* The part's header and body bytes. */
const char *mime_header_data(const struct mime_part *);
const char *mime_body_data(const struct mime_part *);

/*
 * Header fields one at a time, in order.  A field is its first line and
 * its continuation lines; "value" starts after the colon and any blanks,
 * and ends before the last line end.  A line without a colon (an mbox
 * "From " line, garbage) is returned with name_len 0 and the line as
 * value.  Nothing is copied.
 */
struct mime_field {
	const char	*name;
	size_t		 name_len;	/* without blanks before the colon */
	const char	*value;
	size_t		 value_len;
	const char	*line;		/* the whole field ... */
	size_t		 line_len;	/* ... with its final line end */
};

struct mime_header_iter {
	const char	*p;
	const char	*end;
};

void	mime_header_iter_init(struct mime_header_iter *, const char *hdr,
	    size_t len);
/* 1 with the next field, 0 at the end of the header. */
int	mime_header_next(struct mime_header_iter *, struct mime_field *);

/*
 * The value of the first (last) field called name (any case) in the
 * part's header, unfolded (CR and LF removed) with leading and trailing
 * blanks removed, appended to out.  1 found, 0 not found, -1 when out is
 * full or memory runs out.
 */
int	mime_header_get(const struct mime_part *, const char *name,
	    struct buf *out);
int	mime_header_get_last(const struct mime_part *, const char *name,
	    struct buf *out);

/* Append value (len bytes) to out with CR and LF removed and leading and
 * trailing blanks dropped.  0 or -1 as above. */
int	mime_unfold(const char *value, size_t len, struct buf *out);

/*
 * Decode a header value (RFC 2047) to UTF-8, appending to utf8_out:
 * encoded words in B and Q encoding are decoded from their charset, the
 * blanks between adjacent encoded words are dropped (and their bytes
 * joined, so a character split across two words survives), an encoded
 * word in an unknown charset is kept as written, invalid bytes become
 * U+FFFD, CR and LF are removed.  Text outside encoded words is taken as
 * UTF-8.  0, or -1 when utf8_out is full or memory runs out.
 */
int	mime_header_decode(const char *raw, size_t len, struct buf *utf8_out);

/* The value of parameter name (any case, without a "*") among params,
 * decoded to UTF-8 when it is an RFC 2231 extended value; plain values
 * are appended as they are.  1 found, 0 not found, -1 on a full buf. */
int	mime_param_decode(const struct mime_param *params, size_t nparams,
	    const char *name, struct buf *utf8_out);

/* The value of parameter name (any case, exact) or NULL. */
const char *mime_param_get(const struct mime_param *, size_t nparams,
	    const char *name);

/*
 * Streaming Content-Transfer-Encoding decoders, lenient as mail needs:
 * base64 skips every byte outside its alphabet, and "=" ends a quantum
 * (a later encoding may follow, as in concatenated parts);
 * quoted-printable keeps a malformed "=XX" as written, drops blanks at
 * line ends (RFC 2045 6.7 (3); runs of more than MIME_QP_BLANKS_MAX are
 * kept, to bound the state), removes soft line breaks and writes each
 * line end as CRLF.  7bit, 8bit and binary copy.  Input may be cut
 * anywhere between calls.
 */
#define MIME_QP_BLANKS_MAX	256

struct mime_decoder {
	enum mime_cte	 cte;
	unsigned	 bits;		/* base64: bits held */
	unsigned	 nbits;
	int		 done;		/* base64: "=" seen */
	unsigned char	 pend[3];	/* QP: "=" and up to one hex digit */
	unsigned	 npend;
	int		 cr;		/* QP: a CR is pending */
	char		 blanks[MIME_QP_BLANKS_MAX];
	unsigned	 nblanks;
};

void	mime_decoder_init(struct mime_decoder *, enum mime_cte);
/* Decode len bytes, appending to out; 0, or -1 when out is full. */
int	mime_decoder_run(struct mime_decoder *, const char *in, size_t len,
	    struct buf *out);
/* End of input: write what is pending. */
int	mime_decoder_finish(struct mime_decoder *, struct buf *out);

/* Skip blanks, line ends and RFC 5322 comments (nested; an unterminated
 * one runs to end) from p; returns where they stop. */
const char *mime_skip_cfws(const char *p, const char *end);

/* MIME_CTE_* for a Content-Transfer-Encoding value (NULL: 7bit). */
enum mime_cte mime_cte_parse(const char *);

/*
 * Write the CRLF form of data[off..off+len) (each LF not after a CR gets
 * one; the byte before off is looked at, so a range may start anywhere)
 * to out.  0, or -1 when out is full.
 */
int	mime_crlf(const char *data, size_t off, size_t len, struct buf *out);

/* The same, handing the pieces to emit, which returns 0 to go on, -1 for
 * an error or 1 to stop early; the first non-zero value is returned. */
int	mime_crlf_walk(const char *data, size_t off, size_t len,
	    int (*emit)(void *ctx, const char *, size_t), void *ctx);

/* The CRLF size of data[off..off+len), and how many LFs it holds. */
uint64_t mime_crlf_size(const char *data, size_t off, size_t len,
	    uint64_t *lines_r);

#endif
