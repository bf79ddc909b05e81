/*
 * sortkey: the keys SORT and THREAD compare.  See sortkey.h, which also
 * has the record's layout.
 *
 * The record is all the header gives; the store that keeps records
 * (maildir/sortcache.c) says which message and version it belongs to.
 */
#include <string.h>

#include "common/imap/imapdate.h"
#include "common/imap/message.h"
#include "common/imap/sortkey.h"
#include "common/lib/buf.h"
#include "common/mail/mime.h"
#include "common/mail/unicase.h"

/* a header field, decoded and folded, may take this much while it is
 * worked on (a header is at most what message_read() reads) */
#define SCRATCH_MAX	((size_t)64 * 1024 * 1024)

/* --- scratch ----------------------------------------------------------- */

/* What building a record works in, kept from one message to the next
 * (see sortkey_cleanup()). */
struct scratch {
	struct buf	env;		/* the ENVELOPE */
	struct buf	tmp;
	struct buf	dec;		/* a subject, decoded */
	struct buf	name, mailbox, host;
	struct buf	str[SORTKEY_NSTR];
	unsigned	flags;
	int		ready;
};

static struct scratch kept;

/* f on every buffer of the scratch */
static void
each_buf(void (*f)(struct buf *))
{
	struct buf *named[] = { &kept.env, &kept.tmp, &kept.dec, &kept.name,
	    &kept.mailbox, &kept.host };
	size_t i;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		f(named[i]);
	for (i = 0; i < SORTKEY_NSTR; i++)
		f(&kept.str[i]);
}

static void
init_buf(struct buf *b)
{
	buf_init(b, SCRATCH_MAX);
}

/* The scratch, emptied. */
static struct scratch *
scratch(void)
{
	each_buf(kept.ready ? buf_reset : init_buf);
	kept.ready = 1;
	kept.flags = 0;
	return &kept;
}

void
sortkey_cleanup(void)
{
	if (kept.ready)
		each_buf(buf_free);
	kept.ready = 0;
}

/* --- base subject (RFC 5256 2.1) ------------------------------------- */

/* Tabs, CR and LF become spaces and runs of spaces one space, in
 * b[start..]. */
static void
pack(struct buf *b, size_t start)
{
	size_t i, o = start;
	int blank = 0;

	for (i = start; i < b->len; i++) {
		char c = b->data[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (!blank)
				b->data[o++] = ' ';
			blank = 1;
			continue;
		}
		blank = 0;
		b->data[o++] = c;
	}
	buf_truncate(b, o);
}

/* The end of the subj-blob at s[i] ("[" *BLOBCHAR "]" *WSP), or 0 if
 * there is none there.  After pack(), *WSP is one space at most. */
static size_t
blob_end(const char *s, size_t i, size_t en)
{
	size_t k;

	if (i >= en || s[i] != '[')
		return 0;
	for (k = i + 1; k < en && s[k] != '[' && s[k] != ']'; k++)
		;
	if (k >= en || s[k] != ']')
		return 0;
	k++;
	if (k < en && s[k] == ' ')
		k++;
	return k;
}

/* Step (2): remove subj-trailers ("(fwd)" / WSP) from the end. */
static void
trailers(const char *s, size_t st, size_t *en, int *reply)
{
	for (;;) {
		if (*en > st && s[*en - 1] == ' ')
			(*en)--;
		else if (*en - st >= 5 && memcmp(s + *en - 5, "(FWD)", 5) == 0) {
			*en -= 5;
			*reply = 1;
		} else
			return;
	}
}

/* Step (3): one subj-leader, (*subj-blob subj-refwd) / WSP, where
 * subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".  1 if one
 * was removed. */
static int
leader(const char *s, size_t *st, size_t en, int *reply)
{
	size_t i = *st, k;

	if (i < en && s[i] == ' ') {
		*st = i + 1;
		return 1;
	}
	while (i < en && s[i] == '[') {
		if ((k = blob_end(s, i, en)) == 0)
			return 0;
		i = k;
	}
	if (en - i >= 3 && memcmp(s + i, "FWD", 3) == 0)
		i += 3;
	else if (en - i >= 2 && (memcmp(s + i, "RE", 2) == 0 ||
	    memcmp(s + i, "FW", 2) == 0))
		i += 2;
	else
		return 0;
	if (i < en && s[i] == ' ')
		i++;
	if (i < en && s[i] == '[' && (i = blob_end(s, i, en)) == 0)
		return 0;
	if (i >= en || s[i] != ':')
		return 0;
	*st = i + 1;
	*reply = 1;
	return 1;
}

/* Steps (2) to (6) over s[*st .. *en). */
static void
extract(const char *s, size_t *st, size_t *en, int *reply)
{
	size_t k;
	int found;

	do {
		trailers(s, *st, en, reply);
		do {
			found = leader(s, st, *en, reply);
			/* (4) a blob, when something is left after it */
			if ((k = blob_end(s, *st, *en)) != 0 && k < *en) {
				*st = k;
				found = 1;
			}
		} while (found);
		/* (6) "[fwd:" ... "]" around the whole */
		if (*en - *st < 6 || memcmp(s + *st, "[FWD:", 5) != 0 ||
		    s[*en - 1] != ']')
			return;
		*st += 5;
		(*en)--;
		*reply = 1;
	} while (1);
}

int
sortkey_base_subject(const char *raw, size_t len, struct buf *out,
    int *reply_r)
{
	struct buf *dec = &kept.dec;
	size_t start = out->len, st, en;
	int r = -1;

	*reply_r = 0;
	if (!kept.ready)
		(void)scratch();
	buf_reset(dec);
	/* (1) decoded, in the comparator's form, blanks packed */
	if (mime_header_decode(raw, len, dec) == -1 ||
	    unicase_fold(buf_cstr(dec), dec->len, out) == -1)
		goto out;
	pack(out, start);
	st = start;
	en = out->len;
	if (en > st) {
		extract(out->data, &st, &en, reply_r);
		memmove(out->data + start, out->data + st, en - st);
	}
	buf_truncate(out, start + (en - st));
	r = 0;
out:
	if (r == -1)
		buf_truncate(out, start);
	return r;
}

/* --- message IDs (RFC 5322 3.6.4) ------------------------------------ */

/* What lies between "<" and ">", from *p (just after "<"): quoting,
 * blanks and comments dropped.  1 with *p after the ">", 0 if it is not
 * a msg-id (with *p where scanning for the next "<" should go on), -1 on
 * a full out. */
static int
msgid_body(const char **p, const char *end, struct buf *out)
{
	const char *s = *p;
	size_t start = out->len, at = 0;
	int depth;

	while (s < end) {
		char c = *s;

		switch (c) {
		case '>':
			*p = s + 1;
			/* id-left "@" id-right, neither empty */
			return at > start && out->len > at + 1;
		case '<':
		case '\0':
			*p = s;
			return 0;
		case ' ': case '\t': case '\r': case '\n':
			s++;
			continue;
		case '(':
			for (depth = 0; s < end; s++) {
				if (*s == '\\' && s + 1 < end)
					s++;
				else if (*s == '(')
					depth++;
				else if (*s == ')' && --depth == 0)
					break;
			}
			if (s < end)
				s++;
			continue;
		case '"':
			for (s++; s < end && *s != '"'; s++) {
				if (*s == '\\' && s + 1 < end)
					s++;
				if (*s == '\0' || *s == '\r' || *s == '\n') {
					*p = s;
					return 0;
				}
				if (buf_addc(out, *s) == -1)
					return -1;
			}
			if (s >= end) {
				*p = s;
				return 0;
			}
			s++;
			continue;
		case '@':
			if (at == 0)
				at = out->len;
			break;
		default:
			break;
		}
		if (buf_addc(out, c) == -1)
			return -1;
		s++;
	}
	*p = s;
	return 0;
}

int
sortkey_msgid(const char **p, const char *end, struct buf *out)
{
	size_t start = out->len;
	int r;

	for (;;) {
		while (*p < end && **p != '<')
			(*p)++;
		if (*p >= end)
			return 0;
		(*p)++;
		if ((r = msgid_body(p, end, out)) != 0)
			return r;
		buf_truncate(out, start);
	}
}

/* --- the record ------------------------------------------------------ */

/* The mailbox of the first address of an address field, and (unless
 * display_key is NULL) its display value (RFC 5957 3): the decoded name
 * if that is not empty, else mailbox@host, else the mailbox, else "". */
static int
address_keys(struct scratch *sc, enum message_envpos pos,
    struct buf *mbox_key, struct buf *display_key)
{
	unsigned present;
	int r;

	buf_reset(&sc->name);
	buf_reset(&sc->mailbox);
	buf_reset(&sc->host);
	r = message_envelope_address(sc->env.data, sc->env.len, pos,
	    &sc->name, &sc->mailbox, &sc->host, &present);
	if (r <= 0)
		return r;
	if (unicase_fold(buf_cstr(&sc->mailbox), sc->mailbox.len,
	    mbox_key) == -1)
		return -1;
	if (display_key == NULL)
		return 1;
	buf_reset(&sc->tmp);
	if ((present & MESSAGE_ADDR_NAME) && mime_header_decode(
	    buf_cstr(&sc->name), sc->name.len, &sc->tmp) == -1)
		return -1;
	if (sc->tmp.len == 0 && (present & MESSAGE_ADDR_MAILBOX)) {
		if (buf_add(&sc->tmp, sc->mailbox.data, sc->mailbox.len) ==
		    -1 || ((present & MESSAGE_ADDR_HOST) &&
		    (buf_addc(&sc->tmp, '@') == -1 ||
		    buf_add(&sc->tmp, sc->host.data, sc->host.len) == -1)))
			return -1;
	}
	return unicase_fold(buf_cstr(&sc->tmp), sc->tmp.len, display_key);
}

/* Every valid ID of text, each followed by a NUL, onto out. */
static int
msgid_list(const char *text, size_t len, struct buf *out)
{
	const char *p = text, *end = text + len;
	int r;

	while ((r = sortkey_msgid(&p, end, out)) == 1)
		if (buf_addc(out, '\0') == -1)
			return -1;
	return r;
}

/* The references (RFC 5256 3): the IDs of References, or if it has none
 * the first of In-Reply-To; past SORTKEY_STR_MAX, the newest that fit. */
static int
references(struct message *m, struct scratch *sc, struct buf *out)
{
	const char *s;
	size_t cut = 0;

	buf_reset(&sc->tmp);
	if (message_header_last(m, "References", &sc->tmp) == -1 ||
	    msgid_list(buf_cstr(&sc->tmp), sc->tmp.len, out) == -1)
		return -1;
	if (out->len == 0) {
		buf_reset(&sc->tmp);
		if (message_envelope_string(sc->env.data, sc->env.len,
		    MESSAGE_ENVPOS_IN_REPLY_TO, &sc->tmp) == -1)
			return -1;
		s = buf_cstr(&sc->tmp);
		if (sortkey_msgid(&s, s + sc->tmp.len, out) == -1 ||
		    (out->len > 0 && buf_addc(out, '\0') == -1))
			return -1;
	}
	while (out->len - cut > SORTKEY_STR_MAX)
		cut += strlen(out->data + cut) + 1;
	buf_consume(out, cut);
	return 0;
}

static int
gather(struct message *m, int64_t arrival, struct scratch *sc,
    int64_t *sent_r)
{
	const char *s;
	int reply, tz;

	if (message_envelope(m, &sc->env) == -1)
		return -1;
	*sent_r = arrival;
	buf_reset(&sc->tmp);
	if (message_envelope_string(sc->env.data, sc->env.len,
	    MESSAGE_ENVPOS_DATE, &sc->tmp) == 1)
		(void)imapdate_parse_rfc5322(sc->tmp.data, sc->tmp.len, sent_r,
		    &tz);
	buf_reset(&sc->tmp);
	if (message_envelope_string(sc->env.data, sc->env.len,
	    MESSAGE_ENVPOS_SUBJECT, &sc->tmp) == -1 ||
	    sortkey_base_subject(buf_cstr(&sc->tmp), sc->tmp.len,
	    &sc->str[SORTKEY_SUBJECT], &reply) == -1)
		return -1;
	if (reply)
		sc->flags |= SORTKEY_REPLY;
	if (address_keys(sc, MESSAGE_ENVPOS_FROM, &sc->str[SORTKEY_FROM],
	    &sc->str[SORTKEY_DISPLAYFROM]) == -1 ||
	    address_keys(sc, MESSAGE_ENVPOS_TO, &sc->str[SORTKEY_TO],
	    &sc->str[SORTKEY_DISPLAYTO]) == -1 ||
	    address_keys(sc, MESSAGE_ENVPOS_CC, &sc->str[SORTKEY_CC],
	    NULL) == -1)
		return -1;
	buf_reset(&sc->tmp);
	if (message_envelope_string(sc->env.data, sc->env.len,
	    MESSAGE_ENVPOS_MESSAGE_ID, &sc->tmp) == -1)
		return -1;
	s = buf_cstr(&sc->tmp);
	if (sortkey_msgid(&s, s + sc->tmp.len, &sc->str[SORTKEY_MESSAGE_ID]) ==
	    -1)
		return -1;
	return references(m, sc, &sc->str[SORTKEY_REFERENCES]);
}

int
sortkey_build(struct message *m, int64_t arrival, uint64_t size,
    struct buf *out)
{
	struct scratch *sc = scratch();
	unsigned char h[SORTKEY_HEAD];
	size_t start = out->len, i, n, end = 0;
	int64_t sent = arrival;

	if (gather(m, arrival, sc, &sent) == -1)
		return -1;
	le64_put(h, (uint64_t)sent);
	le64_put(h + 8, (uint64_t)arrival);
	le64_put(h + 16, size);
	le32_put(h + 24, sc->flags);
	for (i = 0; i < SORTKEY_NSTR; i++) {
		if (sc->str[i].len > SORTKEY_STR_MAX)
			buf_truncate(&sc->str[i], SORTKEY_STR_MAX);
		end += sc->str[i].len;
		le32_put(h + 28 + 4 * i, (uint32_t)end);
	}
	if (buf_add(out, h, SORTKEY_HEAD) == -1)
		return -1;
	for (i = 0; i < SORTKEY_NSTR; i++)
		if ((n = sc->str[i].len) > 0 &&
		    buf_add(out, sc->str[i].data, n) == -1) {
			buf_truncate(out, start);
			return -1;
		}
	return 0;
}

int
sortkey_read(const char *rec, size_t len, struct sortkey *k)
{
	const unsigned char *p = (const unsigned char *)rec;
	uint32_t end, prev = 0;
	size_t i;

	if (len < SORTKEY_HEAD || len > SORTKEY_RECORD_MAX)
		return -1;
	for (i = 0; i < SORTKEY_NSTR; i++) {
		end = le32_get(p + 28 + 4 * i);
		if (end < prev)
			return -1;
		prev = end;
	}
	if (prev != len - SORTKEY_HEAD)
		return -1;
	k->rec = p;
	return 0;
}
