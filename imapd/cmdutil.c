/*
 * cmdutil: message sets and flag lists.  See cmdutil.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/imap/imap-parser.h"
#include "common/lib/strnum.h"
#include "imapd/cmdutil.h"
#include "imapd/seqset.h"
#include "imapd/session.h"
#include "maildir/filename.h"
#include "maildir/keywords.h"
#include "maildir/mailbox.h"

/* The messages of the saved search result "$" that are still here. */
static int
saved_seqs(struct session *s, const struct request *c, uint32_t **seqs_r,
    size_t *n_r)
{
	uint32_t *seqs, seq;
	size_t i, n = 0;

	if ((seqs = calloc(s->nsaved + 1, sizeof(*seqs))) == NULL) {
		reply_no(s, c, "Out of memory");
		return -1;
	}
	for (i = 0; i < s->nsaved; i++)
		if ((seq = mailbox_seq_of_uid(s->mb, s->saved[i])) != 0)
			seqs[n++] = seq;
	*seqs_r = seqs;
	*n_r = n;
	return 0;
}

int
arg_msgset(struct session *s, const struct request *c, const struct imap_arg *a,
    int uid, uint32_t **seqs_r, size_t *n_r)
{
	const char *text = imap_arg_atom(a);
	uint32_t count = mailbox_count(s->mb), *seqs = NULL, *ns, seq, hi;
	struct seqset set;
	size_t n = 0, cap = 0, i;

	*seqs_r = NULL;
	*n_r = 0;
	if (text != NULL && strcmp(text, "$") == 0)
		return saved_seqs(s, c, seqs_r, n_r);
	if (text == NULL || seqset_parse(text, uid ? (count ? mailbox_uid(s->mb,
	    count) : 0) : count, &set) == -1) {
		reply_bad(s, c, "Invalid %s set", uid ? "UID" : "sequence");
		return -1;
	}
	/* a message number above the count is BAD, and so is "*" in an
	 * empty mailbox (RFC 9051 section 9, seq-number); UIDs never are */
	if (!uid && (set.maxgiven > count || count == 0)) {
		seqset_free(&set);
		reply_bad(s, c, "Invalid sequence number: the mailbox has %u "
		    "message%s", count, count == 1 ? "" : "s");
		return -1;
	}
	for (i = 0; i < set.n; i++) {
		if (uid) {
			seq = mailbox_seq_from_uid(s->mb, set.r[i].lo);
			hi = count;
		} else {
			seq = set.r[i].lo;
			hi = set.r[i].hi < count ? set.r[i].hi : count;
		}
		for (; seq >= 1 && seq <= hi; seq++) {
			if (uid && mailbox_uid(s->mb, seq) > set.r[i].hi)
				break;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				if ((ns = reallocarray(seqs, cap,
				    sizeof(*seqs))) == NULL) {
					free(seqs);
					seqset_free(&set);
					reply_no(s, c, "Out of memory");
					return -1;
				}
				seqs = ns;
			}
			seqs[n++] = seq;
			if (seq == UINT32_MAX)
				break;
		}
	}
	seqset_free(&set);
	*seqs_r = seqs;
	*n_r = n;
	return 0;
}

static const struct {
	const char	*name;
	unsigned	 bit;
} sysflags[] = {
	{ "\\Answered", MF_ANSWERED },
	{ "\\Flagged", MF_FLAGGED },
	{ "\\Deleted", MF_DELETED },
	{ "\\Seen", MF_SEEN },
	{ "\\Draft", MF_DRAFT },
	{ "\\Recent", 0 },		/* cannot be set; ignored */
};

static int
one_flag(const char *f, struct flagset *fs)
{
	size_t i;

	if (f[0] == '\\') {
		for (i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
			if (strcasecmp(f, sysflags[i].name) == 0) {
				fs->flags |= sysflags[i].bit;
				return 0;
			}
		return -1;
	}
	if (!keywords_valid(f))
		return -1;
	for (i = 0; i < fs->nkw; i++)
		if (strcasecmp(fs->kw[i], f) == 0)
			return 0;
	if (fs->nkw == FLAGS_KW_MAX)
		return -1;
	fs->kw[fs->nkw++] = f;
	return 0;
}

int
arg_flags(struct session *s, const struct request *c, const struct imap_arg *a,
    struct flagset *fs)
{
	const char *f;
	size_t i;

	memset(fs, 0, sizeof(*fs));
	if (a->type == IMAP_ARG_LIST) {
		for (i = 0; i < a->len; i++) {
			if ((f = imap_arg_atom(&a->list[i])) == NULL ||
			    one_flag(f, fs) == -1)
				goto bad;
		}
		return 0;
	}
	if ((f = imap_arg_atom(a)) != NULL && one_flag(f, fs) == 0)
		return 0;
bad:
	reply_bad(s, c, "Invalid flag list (system flags are \\Answered "
	    "\\Flagged \\Deleted \\Seen \\Draft; keywords are atoms)");
	return -1;
}

const char *
errno_code(int e)
{
	switch (e) {
	case EEXIST:
	case ENOTEMPTY:
		return "[ALREADYEXISTS] ";
	case ENOENT:
	case ENOTDIR:
	case ELOOP:		/* a folder that is a link is none */
		return "[NONEXISTENT] ";
	case EACCES:
	case EPERM:
	case EROFS:
		return "[NOPERM] ";
	case ENOSPC:
	case EDQUOT:
		return "[OVERQUOTA] ";
	case ENAMETOOLONG:
		return "[LIMIT] ";
	case ETIMEDOUT:
	case EAGAIN:
		return "[INUSE] ";
	case EIO:
		return "[UNAVAILABLE] ";
	default:
		return "[SERVERBUG] ";
	}
}

int
arg_u64(const struct imap_arg *a, uint64_t min, uint64_t max,
    uint64_t *r)
{
	const char *w = imap_arg_atom(a);

	if (w == NULL || strnum_u64(w, max, r) == -1 || *r < min)
		return -1;
	return 0;
}
