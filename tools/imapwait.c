/*
 * imapwait: wait for a message that matches some criteria to be in a
 * folder of any IMAP server, then print it (or a part of it), for scripts
 * and tests of mail workflows.  See imapwait(1).
 *
 * Why no message is missed.  UIDs grow in the order messages arrive, and
 * a server shows a UID only once every smaller UID it will ever show is
 * there too.  So before each search the frontier is recorded: UIDNEXT
 * from SELECT the first time, later one more than the greatest UID the
 * server reports from where the last search began.  The search then asks
 * for "UID <lower>:*", which covers every message below the frontier and
 * perhaps some past it, and the next search starts at the frontier.  A
 * message that arrives after a search and before IDLE has a UID at or
 * past the frontier: IDLE reports it (the server owes the client every
 * EXISTS it has not sent), and the next search covers it.  Where the
 * server has no IDLE, NOOP every --poll interval does the same.
 *
 * Exit status: 0 a match, 1 none before the time-out, 2 anything else.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/imap/imap-parser.h"
#include "common/imap/imapcmd.h"
#include "common/imap/imapconn.h"
#include "common/imap/imapdate.h"
#include "common/imap/imapresp.h"
#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "common/lib/password.h"
#include "common/lib/strnum.h"
#include "common/lib/wipe.h"
#include "common/mail/charset.h"
#include "common/mail/mime.h"

#define PROG		"imapwait"
#define RESP_MAX	(64U * 1024 * 1024)	/* one response */
#define HEADERS_MAX	16			/* --header options */
#define PASS_MAX	1024
#define IDLE_RENEW_MS	(25 * 60 * 1000)	/* RFC 9051 6.3.13: < 30 min */

#define EX_MATCH	0
#define EX_TIMEOUT	1
#define EX_FAIL		2

enum mode { M_TLS, M_STARTTLS, M_PLAIN };
enum part { P_HEADER, P_TEXT, P_LINKS, P_SAVE };

struct opts {
	const char	*host, *port, *user, *folder, *cafile, *save;
	const char	*from, *to, *subject, *since;
	const char	*hname[HEADERS_MAX], *hvalue[HEADERS_MAX];
	size_t		 nheaders;
	uint32_t	 uid_after;
	uint64_t	 timeout_ms, poll_ms;
	enum mode	 mode;
	int		 mode_set;
	enum part	 part;
	int		 delete, verbose;
};

struct wait {
	struct opts	*o;
	struct imapconn	*c;
	struct buf	 caps;
	struct buf	 resp;
	struct imap_parser *parser;
	int64_t		 deadline;
	uint32_t	 exists, uidnext;
	int		 new_mail;	/* an EXISTS since the last search */
	uint32_t	 found;		/* the match, or 0 */
	uint32_t	 lower;		/* this search starts here */
	uint32_t	 maxuid;	/* greatest UID reported by FETCH */
	struct buf	 body;		/* the fetched message bytes */
	int		 have_body;
};

static int verbose;

static void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: " PROG " --host HOST [--port PORT] --user NAME "
	    "[--folder NAME]\n"
	    "       [--from TEXT] [--to TEXT] [--subject TEXT] "
	    "[--header NAME:VALUE]...\n"
	    "       [--since YYYY-MM-DD] [--uid-after UID] "
	    "[--timeout SECONDS]\n"
	    "       [--tls | --starttls | --plain] [--ca FILE] "
	    "[--poll SECONDS]\n"
	    "       [--body-text | --links | --save FILE] [--delete] "
	    "[--verbose]\n");
	exit(status);
}

/* Running out of time once waiting has begun is "no match", not a
 * failure; before that (connecting, logging in) it is a failure. */
static void __attribute__((noreturn))
lost(struct wait *w, int waiting, const char *what)
{
	if (waiting && imapconn_errclass(w->c) == ICE_TIMEOUT)
		errx(EX_TIMEOUT, "no matching message in %s within %llu "
		    "seconds", w->o->folder,
		    (unsigned long long)(w->o->timeout_ms / 1000));
	errx(EX_FAIL, "%s: %s", what, imapconn_error(w->c));
}

/* Untagged responses of every command: counts, capabilities, results. */
static void
untagged(void *arg, const struct buf *b, const struct imapresp *r)
{
	struct wait *w = arg;

	(void)imapcmd_note_caps(&w->caps, r);
	if (r->has_number && imapresp_is(r, "EXISTS")) {
		if (r->number > w->exists)
			w->new_mail = 1;
		w->exists = r->number;
	} else if (r->has_number && imapresp_is(r, "EXPUNGE")) {
		if (w->exists > 0)
			w->exists--;
	} else if (r->code != NULL && imapresp_code_is(r, "UIDNEXT")) {
		uint64_t v;

		if (strnum_u64_n(r->codeargs, r->codeargslen, UINT32_MAX,
		    &v) == 0)
			w->uidnext = (uint32_t)v;
	}
	(void)b;
}

/* Run the command begun; its tagged status, or lost() on a failure. */
static enum imapresp_status
run(struct wait *w, const char *tag, int waiting, const char *what,
    imapcmd_handler fn, struct imapcmd_result *res)
{
	if (imapcmd_run(w->c, tag, w->deadline, fn != NULL ? fn : untagged, w,
	    res) == -1)
		lost(w, waiting, what);
	if (res->status == IRS_BYE)
		errx(EX_FAIL, "%s: the server ended the session: %s", what,
		    buf_cstr(&res->line));
	return res->status;
}

static void
simple(struct wait *w, const char *tag, int waiting, const char *what)
{
	struct imapcmd_result res;

	imapcmd_result_init(&res, RESP_MAX);
	if (tag == NULL)
		errx(EX_FAIL, "%s: out of memory", what);
	if (run(w, tag, waiting, what, NULL, &res) != IRS_OK)
		errx(EX_FAIL, "%s refused: %s", what, buf_cstr(&res.line));
	imapcmd_result_free(&res);
}

static void
login(struct wait *w)
{
	struct imapcmd_result res;
	char pw[PASS_MAX];
	const char *why;
	int r;

	if (password_get("Password: ", pw, sizeof(pw), &why) == -1)
		errx(EX_FAIL, "%s", why);
	imapcmd_result_init(&res, RESP_MAX);
	r = imapcmd_login(w->c, w->o->user, pw, w->deadline, untagged, w,
	    &res);
	wipe(pw, sizeof(pw));
	if (r == -1)
		lost(w, 0, "LOGIN");
	if (res.status != IRS_OK)
		errx(EX_FAIL, "login refused: %s", buf_cstr(&res.line));
	(void)imapcmd_note_caps(&w->caps, &res.resp);
	imapcmd_result_free(&res);
}

static void
connect_server(struct wait *w)
{
	struct opts *o = w->o;
	struct addrinfo *res, *ai;
	enum imapconn_class cl;
	struct imapresp r;
	char err[512], addr[64];

	if (imapconn_resolve(o->host, o->port, &res, err, sizeof(err)) == -1)
		errx(EX_FAIL, "%s", err);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		imapconn_addrstr(ai, addr, sizeof(addr));
		w->c = imapconn_connect(ai, w->deadline, RESP_MAX, &cl, err,
		    sizeof(err));
		if (w->c != NULL)
			break;
		note("%s port %s: %s", addr, o->port, err);
	}
	freeaddrinfo(res);
	if (w->c == NULL)
		errx(EX_FAIL, "cannot connect to %s port %s: %s", o->host,
		    o->port, err);
	if (o->mode == M_TLS && imapconn_starttls(w->c, o->host, o->cafile, 1,
	    w->deadline) == -1)
		lost(w, 0, "TLS");
	if (imapconn_read(w->c, &w->resp, w->deadline) != 1)
		lost(w, 0, "greeting");
	if (imapresp_parse(&w->resp, &r) == -1 || r.kind != IR_UNTAGGED ||
	    (r.status != IRS_OK && r.status != IRS_PREAUTH))
		errx(EX_FAIL, "not an IMAP greeting: %s", buf_cstr(&w->resp));
	(void)imapcmd_note_caps(&w->caps, &r);
	if (o->mode == M_STARTTLS) {
		simple(w, imapconn_begin(w->c, "STARTTLS"), 0, "STARTTLS");
		if (imapconn_starttls(w->c, o->host, o->cafile, 1,
		    w->deadline) == -1)
			lost(w, 0, "TLS after STARTTLS");
		buf_reset(&w->caps);	/* what was said before is void */
	}
	if (r.status != IRS_PREAUTH)
		login(w);
}

static void
select_folder(struct wait *w)
{
	struct imapcmd_result res;
	const char *tag;

	if (w->caps.len == 0)
		simple(w, imapconn_begin(w->c, "CAPABILITY"), 0, "CAPABILITY");
	tag = imapconn_begin(w->c, w->o->delete ? "SELECT" : "EXAMINE");
	if (tag == NULL || imapconn_string(w->c, w->o->folder,
	    strlen(w->o->folder)) == -1)
		errx(EX_FAIL, "SELECT: cannot build the command");
	imapcmd_result_init(&res, RESP_MAX);
	if (run(w, tag, 0, "SELECT", NULL, &res) != IRS_OK)
		errx(EX_FAIL, "cannot open folder %s: %s", w->o->folder,
		    buf_cstr(&res.line));
	imapcmd_result_free(&res);
	w->new_mail = 0;
	note("%s: %u messages, UIDNEXT %u", w->o->folder, w->exists,
	    w->uidnext);
}

/* "* SEARCH 1 2 3" or "* ESEARCH ... ALL 1,3:5": the lowest UID at or
 * above w->lower. */
static void
search_result(void *arg, const struct buf *b, const struct imapresp *r)
{
	struct wait *w = arg;
	const char *p, *end;
	uint64_t a, z;
	size_t n;

	untagged(arg, b, r);
	if (imapresp_is(r, "SEARCH")) {
		p = r->rest;
		end = r->rest + r->restlen;
	} else if (imapresp_is(r, "ESEARCH") &&
	    (p = strstr(buf_cstr(b), " ALL ")) != NULL) {
		p += 5;
		end = b->data + b->len;
	} else
		return;
	while (p < end) {
		n = strspn(p, "0123456789");
		if (n == 0 || strnum_u64_n(p, n, UINT32_MAX, &a) == -1)
			break;
		p += n;
		z = a;
		if (p < end && *p == ':') {
			p++;
			n = strspn(p, "0123456789");
			if (n == 0 || strnum_u64_n(p, n, UINT32_MAX, &z) == -1)
				break;
			p += n;
			if (z < a) {
				uint64_t t = a;

				a = z;
				z = t;
			}
		}
		if (z >= w->lower) {
			if (a < w->lower)
				a = w->lower;
			if (w->found == 0 || a < w->found)
				w->found = (uint32_t)a;
		}
		if (p < end && (*p == ' ' || *p == ','))
			p++;
		else
			break;
	}
}

static int
needs_utf8(const struct opts *o)
{
	const char *s[3 + HEADERS_MAX];
	size_t i, j, n = 0;

	s[n++] = o->from;
	s[n++] = o->to;
	s[n++] = o->subject;
	for (i = 0; i < o->nheaders; i++)
		s[n++] = o->hvalue[i];
	for (i = 0; i < n; i++)
		for (j = 0; s[i] != NULL && s[i][j] != '\0'; j++)
			if ((unsigned char)s[i][j] > 0x7f)
				return 1;
	return 0;
}

/* --since: "2026-12-07" or an IMAP date ("7-Dec-2026"); midnight UTC. */
static int
since_day(const char *s, int64_t *t_r)
{
	uint64_t y, m, d;

	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
	    strnum_u64_n(s, 4, 9999, &y) == 0 &&
	    strnum_u64_n(s + 5, 2, 12, &m) == 0 && m >= 1 &&
	    strnum_u64_n(s + 8, 2, 31, &d) == 0 && d >= 1) {
		*t_r = imapdate_days_from_civil((int64_t)y, (unsigned)m,
		    (unsigned)d) * 86400;
		return 0;
	}
	return imapdate_parse_date(s, t_r);
}

static void
add_key(struct wait *w, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (imapconn_atom(w->c, key) == -1 ||
	    imapconn_string(w->c, value, strlen(value)) == -1)
		errx(EX_FAIL, "SEARCH: cannot build the command");
}

/* One UID SEARCH from w->lower; sets w->found. */
static void
search(struct wait *w)
{
	struct opts *o = w->o;
	struct imapcmd_result res;
	const char *tag;
	char range[32], date[16];
	int64_t t;
	size_t i;
	int n;

	tag = imapconn_begin(w->c, "UID SEARCH");
	n = snprintf(range, sizeof(range), "UID %u:*", w->lower);
	if (tag == NULL || n < 0 || (size_t)n >= sizeof(range) ||
	    (needs_utf8(o) && imapconn_atom(w->c, "CHARSET UTF-8") == -1) ||
	    imapconn_atom(w->c, range) == -1)
		errx(EX_FAIL, "SEARCH: cannot build the command");
	add_key(w, "FROM", o->from);
	add_key(w, "TO", o->to);
	add_key(w, "SUBJECT", o->subject);
	for (i = 0; i < o->nheaders; i++) {
		if (imapconn_atom(w->c, "HEADER") == -1 ||
		    imapconn_string(w->c, o->hname[i], strlen(o->hname[i])) ==
		    -1 || imapconn_string(w->c, o->hvalue[i],
		    strlen(o->hvalue[i])) == -1)
			errx(EX_FAIL, "SEARCH: cannot build the command");
	}
	if (o->since != NULL) {
		static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
		    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		int64_t y;
		unsigned m, d;

		/* checked when the options were read */
		(void)since_day(o->since, &t);
		imapdate_civil_from_days(t / 86400, &y, &m, &d);
		n = snprintf(date, sizeof(date), "%u-%s-%lld", d, mon[m - 1],
		    (long long)y);
		if (n < 0 || (size_t)n >= sizeof(date) ||
		    imapconn_atom(w->c, "SINCE") == -1 ||
		    imapconn_atom(w->c, date) == -1)
			errx(EX_FAIL, "SEARCH: cannot build the date");
	}
	note("searching UIDs %u:*", w->lower);
	imapcmd_result_init(&res, RESP_MAX);
	w->new_mail = 0;
	if (run(w, tag, 1, "SEARCH", search_result, &res) != IRS_OK)
		errx(EX_FAIL, "SEARCH refused: %s", buf_cstr(&res.line));
	imapcmd_result_free(&res);
}

/* "* n FETCH (UID u ...)": the greatest UID reported. */
static void
fetch_uid(void *arg, const struct buf *b, const struct imapresp *r)
{
	struct wait *w = arg;
	const struct imap_arg *l;
	uint64_t v;
	size_t i, n;

	untagged(arg, b, r);
	if (imapresp_fetch_items(w->parser, b, r, &l, &n) == -1)
		return;
	for (i = 0; i + 1 < n; i += 2) {
		if (imap_arg_atom(&l[i]) != NULL &&
		    strcasecmp(l[i].str, "UID") == 0 &&
		    imap_arg_atom(&l[i + 1]) != NULL &&
		    strnum_u64(l[i + 1].str, UINT32_MAX, &v) == 0 &&
		    v > w->maxuid)
			w->maxuid = (uint32_t)v;
	}
}

/* The frontier for the next search: one past the greatest UID there is
 * at or above lower (every smaller UID is on the server already). */
static uint32_t
frontier(struct wait *w)
{
	struct imapcmd_result res;
	const char *tag;
	char range[32];
	int n;

	if (w->exists == 0)
		return w->lower;
	tag = imapconn_begin(w->c, "UID FETCH");
	n = snprintf(range, sizeof(range), "%u:*", w->lower);
	if (tag == NULL || n < 0 || (size_t)n >= sizeof(range) ||
	    imapconn_atom(w->c, range) == -1 ||
	    imapconn_atom(w->c, "(UID)") == -1)
		errx(EX_FAIL, "FETCH: cannot build the command");
	w->maxuid = 0;
	imapcmd_result_init(&res, RESP_MAX);
	if (run(w, tag, 1, "FETCH", fetch_uid, &res) != IRS_OK)
		errx(EX_FAIL, "FETCH refused: %s", buf_cstr(&res.line));
	imapcmd_result_free(&res);
	return w->maxuid >= w->lower ? w->maxuid + 1 : w->lower;
}

/* Wait in IDLE until the folder grows or the time is up. */
static void
idle(struct wait *w)
{
	struct imapresp r;
	const char *tag;
	int64_t until;
	int got, done = 0;

	if (w->new_mail)	/* reported during the last command */
		return;
	if ((tag = imapconn_begin(w->c, "IDLE")) == NULL ||
	    imapconn_send(w->c, w->deadline, NULL, NULL) == -1)
		lost(w, 1, "IDLE");
	until = imapconn_now() + IDLE_RENEW_MS;
	if (until > w->deadline)
		until = w->deadline;
	note("idle");
	for (;;) {
		if ((got = imapconn_read(w->c, &w->resp, until)) == -1 ||
		    (got == 0 && done))
			lost(w, 1, "IDLE");
		if (got == 1) {
			if (imapresp_parse(&w->resp, &r) == -1)
				errx(EX_FAIL, "IDLE: not IMAP: %s",
				    buf_cstr(&w->resp));
			if (imapresp_tag_is(&r, tag))
				break;
			if (r.status == IRS_BYE)
				errx(EX_FAIL, "the server ended the session: "
				    "%s", buf_cstr(&w->resp));
			if (r.kind != IR_CONTINUE)
				untagged(w, &w->resp, &r);
		}
		if ((got == 0 || w->new_mail) && !done) {
			/* new mail, time to look again, or time is up:
			 * leave IDLE; the answer to DONE gets a moment */
			if (imapconn_write(w->c, "DONE\r\n", 6,
			    imapconn_now() + 5000) == -1)
				lost(w, 1, "IDLE");
			done = 1;
			until = imapconn_now() + 5000;
		}
	}
	if (r.status != IRS_OK)
		errx(EX_FAIL, "IDLE refused: %s", buf_cstr(&w->resp));
	if (!w->new_mail && imapconn_now() >= w->deadline)
		errx(EX_TIMEOUT, "no matching message in %s within %llu "
		    "seconds", w->o->folder,
		    (unsigned long long)(w->o->timeout_ms / 1000));
}

/* Without IDLE: NOOP every poll interval until the folder grows. */
static void
poll_noop(struct wait *w)
{
	struct timespec ts;
	int64_t left;

	while (!w->new_mail) {
		left = w->deadline - imapconn_now();
		if (left <= 0)
			errx(EX_TIMEOUT, "no matching message in %s within "
			    "%llu seconds", w->o->folder,
			    (unsigned long long)(w->o->timeout_ms / 1000));
		if ((uint64_t)left > w->o->poll_ms)
			left = (int64_t)w->o->poll_ms;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		simple(w, imapconn_begin(w->c, "NOOP"), 1, "NOOP");
	}
}

/* "* n FETCH (UID u BODY[...] {len} ...)": keep the section's bytes. */
static void
fetch_body(void *arg, const struct buf *b, const struct imapresp *r)
{
	struct wait *w = arg;
	const struct imap_arg *l;
	size_t i, n;

	untagged(arg, b, r);
	if (imapresp_fetch_items(w->parser, b, r, &l, &n) == -1)
		return;
	for (i = 0; i + 1 < n; i += 2) {
		if (imap_arg_atom(&l[i]) == NULL ||
		    strncasecmp(l[i].str, "BODY[", 5) != 0)
			continue;
		if (imap_arg_astring(&l[i + 1]) == NULL)
			continue;
		buf_reset(&w->body);
		if (buf_add(&w->body, l[i + 1].str, l[i + 1].len) == -1)
			errx(EX_FAIL, "FETCH: the message is too large");
		w->have_body = 1;
	}
}

static void
fetch_message(struct wait *w)
{
	struct imapcmd_result res;
	const char *tag;
	char uid[16];
	int n;

	tag = imapconn_begin(w->c, "UID FETCH");
	n = snprintf(uid, sizeof(uid), "%u", w->found);
	if (tag == NULL || n < 0 || (size_t)n >= sizeof(uid) ||
	    imapconn_atom(w->c, uid) == -1 ||
	    imapconn_atom(w->c, w->o->part == P_HEADER ?
	    "(UID BODY.PEEK[HEADER])" : "(UID BODY.PEEK[])") == -1)
		errx(EX_FAIL, "FETCH: cannot build the command");
	imapcmd_result_init(&res, RESP_MAX);
	if (run(w, tag, 0, "FETCH", fetch_body, &res) != IRS_OK)
		errx(EX_FAIL, "FETCH refused: %s", buf_cstr(&res.line));
	imapcmd_result_free(&res);
	if (!w->have_body)
		errx(EX_FAIL, "the server sent no body for UID %u (expunged "
		    "meanwhile?)", w->found);
}

static void
out(const char *p, size_t len)
{
	if (len > 0 && fwrite(p, 1, len, stdout) != len)
		errx(EX_FAIL, "cannot write to standard output");
}

/* Bytes with CRLF written as LF, as text on Unix is. */
static void
out_lf(const char *p, size_t len)
{
	size_t i, from = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			out(p + from, i - from);
			from = i + 1;
		}
	}
	out(p + from, len - from);
}

/* The decoded UTF-8 text of a text part, appended to t. */
static void
part_text(const struct mime_part *mp, struct buf *t)
{
	struct mime_decoder d;
	struct charset_conv *cv;
	struct buf raw;
	size_t used;

	buf_init(&raw, RESP_MAX);
	mime_decoder_init(&d, mp->cte);
	if (mime_decoder_run(&d, mime_body_data(mp), mp->body_len, &raw) ==
	    -1 || mime_decoder_finish(&d, &raw) == -1)
		errx(EX_FAIL, "cannot decode the message");
	cv = mp->charset != NULL && !charset_is_utf8(mp->charset) ?
	    charset_get(mp->charset) : NULL;
	if ((cv != NULL ? charset_to_utf8(cv, raw.data, raw.len, 1, &used,
	    t) : charset_utf8_clean(raw.data, raw.len, 1, &used, t)) == -1)
		errx(EX_FAIL, "cannot convert the message's text");
	buf_free(&raw);
}

static int
is_attachment(const struct mime_part *mp)
{
	return mp->disposition != NULL &&
	    strcasecmp(mp->disposition, "attachment") == 0;
}

/* The first text/<subtype> part that is not an attachment, or NULL. */
static const struct mime_part *
find_text(const struct mime_part *root, const char *subtype)
{
	const struct mime_part *mp;

	for (mp = root; mp != NULL; mp = mime_next(mp))
		if ((mp->flags & (MIME_F_MULTIPART | MIME_F_MESSAGE)) == 0 &&
		    strcasecmp(mp->type, "text") == 0 &&
		    strcasecmp(mp->subtype, subtype) == 0 &&
		    !is_attachment(mp))
			return mp;
	return NULL;
}

static int
url_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("\"'<>`{}|\\^", c) == NULL;
}

/* Print each http(s) URL of text once, in order; "&amp;" in HTML is
 * "&" in the URL. */
static void
print_links(const struct buf *t, int html, struct buf *seen)
{
	const char *p = buf_cstr(t), *end = p + t->len, *s;
	struct buf u;
	size_t len;

	buf_init(&u, 8192);
	while ((s = strstr(p, "http")) != NULL && s < end) {
		p = s + 4;
		if (strncasecmp(s, "http://", 7) != 0 &&
		    strncasecmp(s, "https://", 8) != 0)
			continue;
		for (len = 0; s + len < end && url_char((unsigned char)s[len]);
		    len++)
			;
		while (len > 0 && strchr(".,;:!?)]", s[len - 1]) != NULL)
			len--;
		p = s + len;
		buf_reset(&u);
		(void)buf_addc(&u, '\n');
		for (; s < p; s++) {
			if (html && strncmp(s, "&amp;", 5) == 0) {
				(void)buf_addc(&u, '&');
				s += 4;
			} else
				(void)buf_addc(&u, *s);
		}
		(void)buf_addc(&u, '\n');
		/* seen holds "\n" and each URL printed, each with its "\n" */
		if (memmem(seen->data, seen->len, u.data, u.len) != NULL)
			continue;
		(void)buf_add(seen, u.data + 1, u.len - 1);
		out(u.data + 1, u.len - 1);
	}
	buf_free(&u);
}

static void
print_part(struct wait *w)
{
	const struct mime_part *root, *mp, *plain, *html;
	struct message *m;
	struct buf t, seen;

	if ((m = message_from_mem(w->body.data, w->body.len)) == NULL ||
	    (root = message_parts(m)) == NULL)
		errx(EX_FAIL, "out of memory");
	buf_init(&t, RESP_MAX);
	if (w->o->part == P_TEXT) {
		plain = find_text(root, "plain");
		html = find_text(root, "html");
		if ((mp = plain != NULL ? plain : html) == NULL)
			errx(EX_FAIL, "UID %u has no text part", w->found);
		part_text(mp, &t);
		out_lf(t.data, t.len);
		if (t.len > 0 && t.data[t.len - 1] != '\n')
			out("\n", 1);
	} else {
		buf_init(&seen, RESP_MAX);
		(void)buf_addc(&seen, '\n');
		for (mp = root; mp != NULL; mp = mime_next(mp)) {
			if ((mp->flags & (MIME_F_MULTIPART |
			    MIME_F_MESSAGE)) != 0 ||
			    strcasecmp(mp->type, "text") != 0 ||
			    is_attachment(mp))
				continue;
			buf_reset(&t);
			part_text(mp, &t);
			print_links(&t, strcasecmp(mp->subtype, "html") == 0,
			    &seen);
		}
		buf_free(&seen);
	}
	buf_free(&t);
	message_free(m);
}

static void
save(struct wait *w)
{
	const char *path = w->o->save;
	int fd;
	size_t off = 0;
	ssize_t n;

	if (strcmp(path, "-") == 0) {
		out(w->body.data, w->body.len);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		errx(EX_FAIL, "cannot create %s: %s", path, strerror(errno));
	while (off < w->body.len) {
		n = write(fd, w->body.data + off, w->body.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			errx(EX_FAIL, "cannot write %s: %s", path,
			    strerror(errno));
		off += (size_t)n;
	}
	if (close(fd) == -1)
		errx(EX_FAIL, "cannot write %s: %s", path, strerror(errno));
}

static void
delete_found(struct wait *w)
{
	const char *tag;
	char uid[16];
	int n;

	n = snprintf(uid, sizeof(uid), "%u", w->found);
	if (n < 0 || (size_t)n >= sizeof(uid))
		errx(EX_FAIL, "cannot build the command");
	tag = imapconn_begin(w->c, "UID STORE");
	if (tag == NULL || imapconn_atom(w->c, uid) == -1 ||
	    imapconn_atom(w->c, "+FLAGS.SILENT (\\Deleted)") == -1)
		errx(EX_FAIL, "cannot build the command");
	simple(w, tag, 0, "STORE");
	/* without UIDPLUS only a plain EXPUNGE exists, which also removes
	 * other messages already flagged \Deleted */
	if (imapcmd_has_cap(&w->caps, "UIDPLUS")) {
		tag = imapconn_begin(w->c, "UID EXPUNGE");
		if (tag == NULL || imapconn_atom(w->c, uid) == -1)
			errx(EX_FAIL, "cannot build the command");
	} else
		tag = imapconn_begin(w->c, "EXPUNGE");
	simple(w, tag, 0, "EXPUNGE");
	note("deleted UID %u", w->found);
}

static uint64_t
seconds(const char *opt, const char *s)
{
	uint64_t ms;

	if (strnum_duration(s, 7ULL * 86400 * 1000, &ms) == -1 || ms == 0)
		errx(EX_FAIL, "%s: not a time (seconds, or with a unit: 500ms, "
		    "2m)", opt);
	return ms;
}

static void
set_mode(struct opts *o, enum mode m)
{
	if (o->mode_set && o->mode != m)
		errx(EX_FAIL, "--tls, --starttls and --plain exclude each "
		    "other");
	o->mode = m;
	o->mode_set = 1;
}

static void
set_part(struct opts *o, enum part p)
{
	if (o->part != P_HEADER && o->part != p)
		errx(EX_FAIL, "--body-text, --links and --save exclude each "
		    "other");
	o->part = p;
}

static void
options(int argc, char *argv[], struct opts *o)
{
	enum { O_HOST = 256, O_PORT, O_USER, O_FOLDER, O_FROM, O_TO,
	    O_SUBJECT, O_HEADER, O_SINCE, O_UIDAFTER, O_TIMEOUT, O_TLS,
	    O_STARTTLS, O_PLAIN, O_CA, O_POLL, O_TEXT, O_LINKS, O_SAVE,
	    O_DELETE, O_VERBOSE, O_HELP };
	static const struct option lo[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "user", required_argument, NULL, O_USER },
		{ "folder", required_argument, NULL, O_FOLDER },
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "header", required_argument, NULL, O_HEADER },
		{ "since", required_argument, NULL, O_SINCE },
		{ "uid-after", required_argument, NULL, O_UIDAFTER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tls", no_argument, NULL, O_TLS },
		{ "starttls", no_argument, NULL, O_STARTTLS },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "ca", required_argument, NULL, O_CA },
		{ "poll", required_argument, NULL, O_POLL },
		{ "body-text", no_argument, NULL, O_TEXT },
		{ "links", no_argument, NULL, O_LINKS },
		{ "save", required_argument, NULL, O_SAVE },
		{ "delete", no_argument, NULL, O_DELETE },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *colon;
	uint64_t v;
	int64_t t;
	int ch;

	memset(o, 0, sizeof(*o));
	o->folder = "INBOX";
	o->timeout_ms = 60000;
	o->poll_ms = 5000;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_HOST: o->host = optarg; break;
		case O_PORT: o->port = optarg; break;
		case O_USER: o->user = optarg; break;
		case O_FOLDER: o->folder = optarg; break;
		case O_FROM: o->from = optarg; break;
		case O_TO: o->to = optarg; break;
		case O_SUBJECT: o->subject = optarg; break;
		case O_HEADER:
			colon = strchr(optarg, ':');
			if (colon == NULL || colon == optarg ||
			    o->nheaders == HEADERS_MAX)
				errx(EX_FAIL, "--header: NAME:VALUE, at most "
				    "%d times", HEADERS_MAX);
			o->hname[o->nheaders] = strndup(optarg,
			    (size_t)(colon - optarg));
			if (o->hname[o->nheaders] == NULL)
				errx(EX_FAIL, "out of memory");
			colon++;
			while (*colon == ' ')
				colon++;
			o->hvalue[o->nheaders++] = colon;
			break;
		case O_SINCE:
			if (since_day(optarg, &t) == -1)
				errx(EX_FAIL, "--since: a date such as "
				    "2026-12-07 or 7-Dec-2026");
			o->since = optarg;
			break;
		case O_UIDAFTER:
			if (strnum_u64(optarg, 0x7ffffffe, &v) == -1)
				errx(EX_FAIL, "--uid-after: a UID");
			o->uid_after = (uint32_t)v;
			break;
		case O_TIMEOUT:
			o->timeout_ms = seconds("--timeout", optarg);
			break;
		case O_POLL: o->poll_ms = seconds("--poll", optarg); break;
		case O_TLS: set_mode(o, M_TLS); break;
		case O_STARTTLS: set_mode(o, M_STARTTLS); break;
		case O_PLAIN: set_mode(o, M_PLAIN); break;
		case O_CA: o->cafile = optarg; break;
		case O_TEXT: set_part(o, P_TEXT); break;
		case O_LINKS: set_part(o, P_LINKS); break;
		case O_SAVE: set_part(o, P_SAVE); o->save = optarg; break;
		case O_DELETE: o->delete = 1; break;
		case O_VERBOSE: o->verbose = 1; break;
		case O_HELP: usage(0);
		default: usage(EX_FAIL);
		}
	}
	if (optind != argc || o->host == NULL || o->user == NULL)
		usage(EX_FAIL);
	if (!o->mode_set)
		o->mode = o->port == NULL || strcmp(o->port, "993") == 0 ?
		    M_TLS : M_STARTTLS;
	if (o->port == NULL)
		o->port = o->mode == M_TLS ? "993" : "143";
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct wait w;
	uint32_t next;

	options(argc, argv, &o);
	verbose = o.verbose;
	memset(&w, 0, sizeof(w));
	w.o = &o;
	buf_init(&w.caps, 65536);
	buf_init(&w.resp, RESP_MAX);
	buf_init(&w.body, RESP_MAX);
	{
		struct imap_limits lim = { RESP_MAX + 4096, RESP_MAX,
		    2 * (size_t)RESP_MAX, 64, 1000000 };

		if ((w.parser = imap_parser_new(&lim)) == NULL)
			errx(EX_FAIL, "out of memory");
	}
	w.deadline = imapconn_now() + (int64_t)o.timeout_ms;
	connect_server(&w);
	select_folder(&w);
	w.lower = o.uid_after + 1;
	/* the first frontier is the UIDNEXT that SELECT gave, recorded
	 * before the first search; without one, the search covers all */
	next = w.uidnext > w.lower ? w.uidnext : w.lower;
	for (;;) {
		search(&w);
		if (w.found != 0)
			break;
		w.lower = next;
		if (imapcmd_has_cap(&w.caps, "IDLE"))
			idle(&w);
		else
			poll_noop(&w);
		next = frontier(&w);
	}
	note("match: UID %u", w.found);
	fetch_message(&w);
	if (o.part == P_SAVE)
		save(&w);
	else if (o.part == P_HEADER)
		out_lf(w.body.data, w.body.len);
	else
		print_part(&w);
	if (fflush(stdout) == EOF)
		errx(EX_FAIL, "cannot write to standard output");
	if (o.delete)
		delete_found(&w);
	{
		const char *tag = imapconn_begin(w.c, "LOGOUT");
		struct imapcmd_result res;

		imapcmd_result_init(&res, RESP_MAX);
		/* the match was printed: a LOGOUT that goes wrong is not
		 * the script's concern */
		if (tag != NULL)
			(void)imapcmd_run(w.c, tag, imapconn_now() + 5000,
			    NULL, NULL, &res);
		imapcmd_result_free(&res);
	}
	imapconn_free(w.c);
	imap_parser_free(w.parser);
	buf_free(&w.caps);
	buf_free(&w.resp);
	buf_free(&w.body);
	return EX_MATCH;
}
