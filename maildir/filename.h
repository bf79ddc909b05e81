/*
 * filename: the grammar of Maildir message file names.
 *
 *   name  = base [ ":" info ]
 *   base  = unique *( "," field )        e.g. 1700000000.M1P2Q3.host,S=1234,W=1260
 *   field = "S=" size / "W=" vsize / other (kept as is)
 *   info  = "2," flags                   flags in ASCII order, e.g. "FS"
 *
 * Standard flags are the upper-case letters D F P R S T; other upper-case
 * letters (other programs' flags) are kept when a name is rewritten.
 * Lower-case letters a..z are keywords, numbered 0..25 by the folder's
 * dovecot-keywords file.  The base is the message's identity: it never
 * changes while the message lives in a folder, and the UID cache is keyed
 * by it.  Some delivery agents use ';' instead of ':' where ':' is not
 * allowed; it is accepted the same.  The info starts at the last ':' or
 * ';' followed by "2," or "1," (never at the first byte); any other ':'
 * or ';' belongs to the base (filename.c says why).
 */
#ifndef MAILDIR_FILENAME_H
#define MAILDIR_FILENAME_H

#include <stddef.h>
#include <stdint.h>

/* standard flags, as bits; the letters sort in this order */
#define MF_DRAFT	0x01	/* D  \Draft */
#define MF_FLAGGED	0x02	/* F  \Flagged */
#define MF_PASSED	0x04	/* P  (forwarded; no IMAP system flag) */
#define MF_ANSWERED	0x08	/* R  \Answered */
#define MF_SEEN		0x10	/* S  \Seen */
#define MF_DELETED	0x20	/* T  \Deleted */
#define MF_ALL		0x3f

#define MDNAME_MAX	255	/* NAME_MAX: a longer name cannot exist */
#define MD_SIZE_UNKNOWN	UINT64_MAX

struct mdname {
	size_t		baselen;	/* bytes of the base (the name up to
					 * the info separator) */
	uint64_t	size;		/* S=, or MD_SIZE_UNKNOWN */
	uint64_t	vsize;		/* W= (CRLF size), or MD_SIZE_UNKNOWN */
	int		has_info;	/* ":2," was present */
	unsigned	flags;		/* MF_* */
	uint32_t	keywords;	/* bit n = letter 'a' + n */
	char		other[27];	/* other flag letters in the info,
					 * in order, NUL-terminated */
};

/*
 * Take a name apart.  Never fails on a name a directory can hold: odd
 * names (procmail's, or ":1," experimental info) simply have no flags.
 * Returns -1 only for an empty name, one with '/', or one over
 * MDNAME_MAX bytes.
 */
int	mdname_parse(const char *name, struct mdname *);

/*
 * Write base (baselen bytes) + ":2," + the flag letters of flags,
 * keywords and other, sorted, into out.  -1 if it does not fit or the
 * result would be over MDNAME_MAX (errno ENAMETOOLONG), or if the base is
 * empty or holds '/' or NUL (EINVAL).  Only 'A'..'Z' in other count.
 */
int	mdname_build(char *out, size_t outlen, const char *base,
	    size_t baselen, unsigned flags, uint32_t keywords,
	    const char *other);

/* The letters of flags+keywords+other as they follow ":2," ("FSab"). */
void	mdname_flagstr(char *out, size_t outlen, unsigned flags,
	    uint32_t keywords, const char *other);

/*
 * A new unique base for a message written by this process:
 *   <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>
 * where n counts the names this process has made, and host has '/' and
 * ':' replaced as the Maildir convention asks (and ',' too, which would
 * start a field).  A size given as MD_SIZE_UNKNOWN leaves its field out.
 * -1 if it does not fit, or if it would leave no room for ":2," and
 * every flag letter within MDNAME_MAX.
 */
int	mdname_unique(char *out, size_t outlen, uint64_t size, uint64_t vsize);

/*
 * The host part of the names mdname_unique() makes from now on: name
 * (at most 255 bytes are kept), or gethostname()'s when name is "".  Hosts
 * sharing one store must each have their own, or two processes with the
 * same pid on two hosts could make the same name in the same microsecond.
 */
void	mdname_set_host(const char *name);

#endif
