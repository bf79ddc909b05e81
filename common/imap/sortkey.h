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

#include "common/lib/le.h"

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

/*
 * A record, all numbers little-endian:
 *
 *	 0 s64 sent date (RFC 5256 2.2), UTC: INTERNALDATE when the Date:
 *	       field cannot be read
 *	 8 s64 INTERNALDATE		16 u64 RFC822.SIZE
 *	24 u32 flags (SORTKEY_*)
 *	28 for each string of enum sortkey_str in order, u32: where it
 *	   ends, counted from byte 60
 *	60 the strings, one after the other
 *
 * A sort reads one or two fields of each of many records, so they are
 * read where they lie, through a view that sortkey_read() checked.
 */
#define SORTKEY_HEAD		60

struct sortkey {
	const unsigned char	*rec;
};

static inline int64_t
sortkey_sent(const struct sortkey *k)
{
	return (int64_t)le64_get(k->rec);
}

static inline int64_t
sortkey_arrival(const struct sortkey *k)
{
	return (int64_t)le64_get(k->rec + 8);
}

static inline uint64_t
sortkey_size(const struct sortkey *k)
{
	return le64_get(k->rec + 16);
}

static inline unsigned
sortkey_flags(const struct sortkey *k)
{
	return le32_get(k->rec + 24);
}

/* A string of the record, and its length in *len_r. */
static inline const char *
sortkey_str(const struct sortkey *k, enum sortkey_str i, size_t *len_r)
{
	uint32_t start = i == 0 ? 0 : le32_get(k->rec + 28 + 4 * (i - 1));

	*len_r = le32_get(k->rec + 28 + 4 * i) - start;
	return (const char *)k->rec + SORTKEY_HEAD + start;
}

/* The longest string kept, and so the largest record: a longer key is
 * cut (then the messages whose keys agree that far compare equal), and
 * the references lose their oldest IDs first, the newest deciding the
 * parent. */
#define SORTKEY_STR_MAX		(32 * 1024)
#define SORTKEY_RECORD_MAX	(SORTKEY_HEAD + SORTKEY_NSTR * SORTKEY_STR_MAX)

/*
 * Append the record of a message's keys to out: the header is read (not
 * the body), arrival and size are its INTERNALDATE and RFC822.SIZE as the
 * folder knows them.  0, or -1 when the header cannot be read or memory
 * runs out.  Not reentrant: its buffers are kept between calls.
 */
int	sortkey_build(struct message *, int64_t arrival, uint64_t size,
	    struct buf *out);

/* Let go of the buffers sortkey_build() keeps from one message to the
 * next (at the end of a command, so that an idle session holds none). */
void	sortkey_cleanup(void);

/* A view of a record that sortkey_build() wrote, valid while its bytes
 * are.  0, or -1 if it is not one (short, or its strings do not end
 * where it ends). */
int	sortkey_read(const char *rec, size_t len, struct sortkey *);

/* The view of a record that sortkey_read() already accepted (the sort
 * cache checks each record as it reads the file): nothing is looked at,
 * for a sort of a large folder is a race over its memory. */
static inline void
sortkey_view(const char *rec, struct sortkey *k)
{
	k->rec = (const unsigned char *)rec;
}

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
