/*
 * sortkey: what SORT (RFC 5256, RFC 5957) and THREAD (RFC 5256) compare
 * of one message, worked out once from its header and kept as a record
 * (maildir/sortcache.c) so that sorting again opens no message file.
 *
 * The fields come from the ENVELOPE the client is shown (the last Date,
 * Subject, In-Reply-To and Message-ID field, the first address of the
 * From, To and Cc fields) and the last References field.  Strings are
 * kept in the form the i;unicode-casemap comparator compares (RFC 5256
 * section 7 asks for it, by way of RFC 5255's I18NLEVEL=1; see
 * unicase_fold()): two keys order as memcmp() orders them, and the empty
 * string, which a missing field gives, comes first.  Message IDs are kept
 * as normalized, not folded: RFC 5256 compares them case-sensitively.
 *
 * The base subject (RFC 5256 2.1) is taken from the folded subject, as
 * Dovecot does: the artifacts to remove are ASCII and the comparator
 * ignores case anyway, so "Re:", "RE:" and "rE:" are one artifact; a
 * character whose compatibility form is ASCII (a full-width colon) counts
 * as that character.
 */
#ifndef COMMON_SORTKEY_H
#define COMMON_SORTKEY_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct message;

enum sortkey_str {
	SORTKEY_SUBJECT,	/* base subject (RFC 5256 2.1) */
	SORTKEY_FROM,		/* mailbox of the first From address */
	SORTKEY_TO,
	SORTKEY_CC,
	SORTKEY_DISPLAYFROM,	/* display value (RFC 5957 3) */
	SORTKEY_DISPLAYTO,
	SORTKEY_MESSAGE_ID,	/* normalized, "" when none is valid */
	SORTKEY_REFERENCES,	/* the references (RFC 5256 3), each
				 * followed by a NUL */
	SORTKEY_NSTR
};

#define SORTKEY_REPLY	0x01	/* the base subject extraction removed a
				 * reply or forward mark (RFC 5256 3) */

/* One message's keys; the strings point into the record read. */
struct sortkey {
	int64_t		 sent;		/* sent date (RFC 5256 2.2), UTC:
					 * INTERNALDATE when the Date: field
					 * cannot be read */
	int64_t		 arrival;	/* INTERNALDATE */
	uint64_t	 size;		/* RFC822.SIZE */
	unsigned	 flags;		/* SORTKEY_* */
	const char	*str[SORTKEY_NSTR];
	uint32_t	 len[SORTKEY_NSTR];
};

/* The longest string kept, and so the largest record: a longer key is
 * cut (then the messages whose keys agree that far compare equal), and
 * the references lose their oldest IDs first, the newest deciding the
 * parent. */
#define SORTKEY_STR_MAX		(32 * 1024)
#define SORTKEY_RECORD_MAX	(28 + SORTKEY_NSTR * (4 + SORTKEY_STR_MAX))

/*
 * Append the record of a message's keys to out: the header is read (not
 * the body), arrival and size are its INTERNALDATE and RFC822.SIZE as the
 * folder knows them.  0, or -1 when the header cannot be read or memory
 * runs out.
 */
int	sortkey_build(struct message *, int64_t arrival, uint64_t size,
	    struct buf *out);

/* Read a record that sortkey_build() wrote.  0, or -1 if it is not one
 * (short, a length past its end, bytes after its last string). */
int	sortkey_read(const char *rec, size_t len, struct sortkey *);

/*
 * The base subject of a raw Subject value (RFC 5256 2.1), folded, appended
 * to out; *reply_r says whether a reply or forward mark was removed.  0 or
 * -1 when out is full or memory runs out.
 */
int	sortkey_base_subject(const char *raw, size_t len, struct buf *out,
	    int *reply_r);

/*
 * The next valid msg-id (RFC 5322 3.6.4) in *p .. end, normalized as RFC
 * 5256 asks (no angle brackets, quoting, blanks or comments: <"a.b"@c>
 * and <a.b@c> are the same), appended to out; *p moves past it.  1 found,
 * 0 none left, -1 when out is full or memory runs out.
 */
int	sortkey_msgid(const char **p, const char *end, struct buf *out);

#endif
