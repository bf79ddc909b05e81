/*
 * Fuzz target: imapd/search, the SEARCH program a logged-in client sends.
 *
 * Input: what follows "a SEARCH " on the command line, literals and all;
 * the IMAP parser makes the argument tree, as in a session.  The search
 * runs over a small Maildir made at start (plain, encoded, multipart and
 * forwarded messages with flags, a keyword and INTERNALDATEs), with a
 * SEARCHRES "$" saved.
 *
 * Properties checked, for a program that parses:
 *   - NOT (program) matches exactly the messages the program does not;
 *   - OR (program) (program) matches what the program does;
 *   - the answer is the same whether HEADER criteria are answered from
 *     the structure cache's ENVELOPEs or from the message files;
 *   - a program that does not parse says why, and a CHARSET refusal is
 *     the only one that sets badcharset.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imap/imap-parser.h"
#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "imapd/search.h"
#include "imapd/session.h"
#include "maildir/mailbox.h"
#include "maildir/msgcache.h"
#include "tests/fuzz/fuzz.h"

#define LINE_MAX_	(256 * 1024)

static const struct {
	const char	*name;
	int64_t		 mtime;
	const char	*text;
} msgs[] = {
	{ "1700000001.M1P1.host,S=260:2,S", 1700000001,
	  "From: Alice Example <alice@example.org>\n"
	  "To: bob@example.net, \"Carol C.\" <carol@example.com>\n"
	  "Subject: Lunch on Friday\n"
	  "Date: Tue, 14 Nov 2023 09:12:40 +0100\n"
	  "Message-ID: <lunch-1@example.org>\n"
	  "\n"
	  "Shall we meet at noon?  The usual place.\n" },
	{ "1700000002.M2P1.host:2,FSa", 1700086400,
	  "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>\n"
	  "To: alice@example.org\n"
	  "Cc: team@example.org\n"
	  "Subject: =?ISO-8859-1?Q?=C4rger_mit_dem_Drucker?=\n"
	  "Date: 15 Nov 2023 10:00:00 -0500\n"
	  "In-Reply-To: <lunch-1@example.org>\n"
	  "Message-ID: <drucker@example.de>\n"
	  "MIME-Version: 1.0\n"
	  "Content-Type: multipart/alternative; boundary=\"b1\"\n"
	  "\n"
	  "--b1\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: quoted-printable\n"
	  "\n"
	  "Der Drucker im zweiten Stock ist wieder kaputt. Gr=C3=BC=C3=9Fe\n"
	  "--b1\n"
	  "Content-Type: text/html; charset=iso-8859-1\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "PHA+RGVyIERydWNrZXIgaXN0IGthcHV0dC48L3A+Cg==\n"
	  "--b1--\n" },
	{ "1700000003.M3P1.host:2,T", 1700172800,
	  "From: mailer-daemon@example.net\n"
	  "To: alice@example.org\n"
	  "Subject: Undelivered Mail Returned to Sender\n"
	  "Date: Thu, 16 Nov 2023 23:59:59 +1400\n"
	  "Content-Type: multipart/mixed; boundary=zz\n"
	  "\n"
	  "--zz\n"
	  "\n"
	  "This is the mail system.\n"
	  "--zz\n"
	  "Content-Type: message/rfc822\n"
	  "\n"
	  "From: alice@example.org\n"
	  "Subject: Lost message\n"
	  "\n"
	  "Did this arrive?\n"
	  "--zz--\n" },
	{ "1700000004.M4P1.host:2,", 1600000000,
	  "From: \"Newsletter\" <news@shop.example>\n"
	  "Subject: Weekly offers\n"
	  "Subject: a second subject\n"
	  "Date: garbage\n"
	  "\n"
	  "No Date that parses, two subjects.\n" },
	{ "1700000005.M5P1.host", 1700000005,
	  "Subject: header only, no body" },
	{ "1700000006.M6P1.host:2,DRSab", 1700259200,
	  "From: bob@example.net\n"
	  "To: alice@example.org\n"
	  "Subject: Re: Lunch on Friday\n"
	  "Date: Sat, 18 Nov 2023 12:00:00 +0000\n"
	  "Content-Type: text/plain; charset=koi8-r\n"
	  "\n"
	  "\xf0\xd2\xc9\xd7\xc5\xd4 noon works.\n" },
};
#define NMSGS	(sizeof(msgs) / sizeof(msgs[0]))

static char root[PATH_MAX], other[PATH_MAX];
static struct mailbox *mb;
static struct msgcache *cached, *empty;
static uint32_t saved[2];

static void
deliver(void)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct timespec ts[2];
	size_t i;

	fuzz_scratch(root, "Maildir");
	fuzz_fresh_dir(root);
	fuzz_scratch(other, "nocache");
	fuzz_fresh_dir(other);
	mkdir(fuzz_path(path, root, "cur"), 0700);
	mkdir(fuzz_path(path, root, "new"), 0700);
	mkdir(fuzz_path(path, root, "tmp"), 0700);
	fuzz_put(root, "dovecot-keywords", "0 $Forwarded\n1 Work\n", 20);
	for (i = 0; i < NMSGS; i++) {
		fuzz_path(sub, root, strchr(msgs[i].name, ':') ? "cur" :
		    "new");
		fuzz_put(sub, msgs[i].name, msgs[i].text,
		    strlen(msgs[i].text));
		ts[0].tv_sec = ts[1].tv_sec = msgs[i].mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (utimensat(AT_FDCWD, fuzz_path(path, sub, msgs[i].name), ts,
		    0) == -1)
			fuzz_die(path);
	}
}

/* The structure cache filled as FETCH ENVELOPE would fill it. */
static void
fill_cache(void)
{
	struct msgcache_rec rec;
	struct message *m;
	struct buf env, store;
	char rel[PATH_MAX];
	uint32_t seq;
	int err;

	cached = msgcache_open(root, mailbox_uidvalidity(mb));
	empty = msgcache_open(other, mailbox_uidvalidity(mb));
	buf_init(&env, 1 << 20);
	buf_init(&store, MESSAGE_READ_MAX);
	for (seq = 1; seq <= mailbox_count(mb); seq++) {
		if (mailbox_relpath(mb, seq, rel, sizeof(rel)) == -1 ||
		    (m = message_read(mailbox_dirfd(mb), rel, &store, 1,
		    &err)) == NULL)
			fuzz_die("message");
		buf_reset(&env);
		if (message_envelope(m, &env) == -1)
			fuzz_die("envelope");
		memset(&rec, 0, sizeof(rec));
		rec.envelope = env.data;
		rec.envelope_len = env.len;
		rec.envelope_exact = message_envelope_exact(m);
		msgcache_put(cached, mailbox_uid(mb, seq), &rec);
		message_free(m);
	}
	buf_free(&env);
	buf_free(&store);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *why;

	deliver();
	if (mailbox_open(root, 0, &mb, &why) == -1)
		fuzz_die(why);
	if (mailbox_count(mb) != NMSGS)
		fuzz_die("not every message was taken");
	fill_cache();
	saved[0] = mailbox_uid(mb, 2);
	saved[1] = mailbox_uid(mb, 5);
	return 0;
}

/* Which messages match: a bit per sequence number, or -1 when the
 * program does not parse. */
static int
run(struct session *s, const struct imap_arg *args, size_t n,
    struct msgcache *mc, const char **why_r)
{
	struct search *se;
	uint32_t seq;
	int bad, r, bits = 0;

	s->mcache = mc;
	*why_r = NULL;
	if ((se = search_parse(s, args, n, why_r, &bad)) == NULL) {
		FUZZ_CHECK(*why_r != NULL, "refused without a reason");
		FUZZ_CHECK(!bad || strcmp(*why_r, "Unsupported charset") == 0,
		    "badcharset for %s", *why_r);
		return -1;
	}
	for (seq = 1; seq <= mailbox_count(s->mb); seq++) {
		r = search_match(s, se, seq);
		FUZZ_CHECK(r == 0 || r == 1, "message %u: %d", seq, r);
		bits |= r << seq;
	}
	search_free(se);
	return bits;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const struct imap_limits lim = { LINE_MAX_, LINE_MAX_,
	    4 * LINE_MAX_, 32, 10000 };
	struct session s;
	struct imap_parser *p;
	const struct imap_cmdline *c;
	struct imap_arg *wrap;
	struct buf line;
	enum imap_parse_status st;
	const char *why;
	size_t off = 0, used, skip = 0, n;
	int plain, nocache, neg, or2, all = 0;
	uint32_t seq;

	if (len > LINE_MAX_ / 2)
		return 0;
	for (seq = 1; seq <= NMSGS; seq++)
		all |= 1 << seq;
	memset(&s, 0, sizeof(s));
	s.state = STATE_SELECTED;
	s.mb = mb;
	s.saved = saved;
	s.nsaved = 2;
	buf_init(&line, LINE_MAX_);
	if (buf_adds(&line, "a SEARCH ") == -1 ||
	    buf_add(&line, data, len) == -1 || buf_adds(&line, "\r\n") == -1)
		fuzz_die("line");
	if ((p = imap_parser_new(&lim)) == NULL)
		fuzz_die("parser");
	for (;;) {
		st = imap_parser_feed(p, line.data + off, line.len - off,
		    &used);
		off += used;
		if (st != IMAP_PARSE_LITERAL)
			break;
		imap_parser_literal_accept(p);
	}
	buf_free(&line);
	if (st != IMAP_PARSE_COMMAND) {
		imap_parser_free(p);
		return 0;
	}
	c = imap_parser_command(p);
	n = c->nargs;

	plain = run(&s, c->args, n, cached, &why);
	nocache = run(&s, c->args, n, empty, &why);
	FUZZ_CHECK(plain == nocache, "with the ENVELOPE cache %#x, from the "
	    "files %#x", (unsigned)plain, (unsigned)nocache);

	if (plain != -1) {
		/* CHARSET x stays in front of NOT (...) and OR (...) (...) */
		if (n >= 2 && c->args[0].type == IMAP_ARG_ATOM &&
		    strcasecmp(c->args[0].str, "CHARSET") == 0)
			skip = 2;
		if ((wrap = calloc(skip + 3, sizeof(*wrap))) == NULL)
			fuzz_die("calloc");
		memcpy(wrap, c->args, skip * sizeof(*wrap));
		wrap[skip].type = IMAP_ARG_ATOM;
		wrap[skip].str = (char *)"NOT";
		wrap[skip].len = 3;
		wrap[skip + 1].type = IMAP_ARG_LIST;
		wrap[skip + 1].list = c->args + skip;
		wrap[skip + 1].len = n - skip;
		neg = run(&s, wrap, skip + 2, empty, &why);
		/* too deep once wrapped is the only way to fail now */
		FUZZ_CHECK(neg == -1 ? strstr(why, "deeply") != NULL :
		    neg == (all & ~plain), "NOT: %#x for %#x (%s)",
		    (unsigned)neg, (unsigned)plain, why ? why : "");
		wrap[skip].str = (char *)"OR";
		wrap[skip].len = 2;
		wrap[skip + 2] = wrap[skip + 1];
		or2 = run(&s, wrap, skip + 3, empty, &why);
		FUZZ_CHECK(or2 == -1 ? strstr(why, "deeply") != NULL :
		    or2 == plain, "OR: %#x for %#x", (unsigned)or2,
		    (unsigned)plain);
		free(wrap);
	}
	imap_parser_free(p);
	return 0;
}
