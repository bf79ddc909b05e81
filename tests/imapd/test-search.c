/*
 * Unit tests for imapd/search: the SEARCH program as a client writes it
 * (through the command parser, as the session reads it), run against a
 * folder of four messages whose every flag, size, date, header and body
 * word is chosen so that each key matches a different set.  Every key,
 * NOT, OR, lists nested and not, CHARSET, and the input refused with the
 * sentence the client is told.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/search.h"
#include "imapd/session.h"
#include "maildir/mailbox.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char root[] = "/tmp/test-search.XXXXXX";
static struct config conf;
static struct session sess;
static struct imap_parser *parser;

/* 12:00 UTC of a day in 2026 */
#define DAY(mon, mday)	(1767268800LL + ((mon) == 2 ? 31 : (mon) == 3 ? \
	59 : 0) * 86400LL + ((mday) - 1) * 86400LL)

static const struct {
	const char	*dir;		/* cur or new */
	const char	*name;
	long long	 mtime;		/* INTERNALDATE */
	const char	*text;
} msgs[] = {
	{ "cur", "1000000001.M1P1.test:2,S", DAY(2, 1),
	  "From: Alice <alice@example.org>\n"
	  "To: bob@example.org\n"
	  "Subject: hello world\n"
	  "Date: Sun, 1 Feb 2026 10:00:00 +0000\n"
	  "Message-ID: <m1@example.org>\n"
	  "\n"
	  "apple pie\n" },
	{ "cur", "1000000002.M2P2.test:2,FR", DAY(2, 10),
	  "From: Carol <carol@example.org>\n"
	  "To: alice@example.org\n"
	  "Cc: dave@example.org\n"
	  "Subject: Re: lunch\n"
	  "Date: Tue, 10 Feb 2026 10:00:00 +0000\n"
	  "X-Priority: 1\n"
	  "\n"
	  "BIG" },		/* then 2,000 bytes of "banana " */
	{ "cur", "1000000003.M3P3.test:2,DT", DAY(2, 20),
	  "From: bob@example.org\n"
	  "Bcc: eve@example.org\n"
	  "Subject: report =?UTF-8?Q?caf=C3=A9?=\n"
	  "Date: Fri, 20 Feb 2026 10:00:00 +0000\n"
	  "\n"
	  "cherry\n" },
	{ "new", "1000000004.M4P4.test", DAY(3, 1),
	  "From: dave@example.org\n"
	  "Subject: hello again\n"
	  "Date: Sun, 1 Mar 2026 10:00:00 +0000\n"
	  "Content-Transfer-Encoding: base64\n"
	  "\n"
	  "YXBwbGUgYmFuYW5h\n" },		/* "apple banana" */
};
#define NMSGS	(sizeof(msgs) / sizeof(msgs[0]))

static void
die(const char *what)
{
	perror(what);
	exit(2);
}

static void
write_message(size_t i)
{
	char path[512];
	struct timeval tv[2];
	FILE *f;
	int k;

	if (snprintf(path, sizeof(path), "%s/%s/%s", root, msgs[i].dir,
	    msgs[i].name) >= (int)sizeof(path))
		die("path");
	if ((f = fopen(path, "w")) == NULL)
		die(path);
	if (strcmp(msgs[i].text + strlen(msgs[i].text) - 3, "BIG") == 0) {
		fwrite(msgs[i].text, 1, strlen(msgs[i].text) - 3, f);
		for (k = 0; k < 300; k++)
			fputs("banana ", f);
		fputc('\n', f);
	} else
		fputs(msgs[i].text, f);
	if (fclose(f) != 0)
		die(path);
	memset(tv, 0, sizeof(tv));
	tv[0].tv_sec = tv[1].tv_sec = (time_t)msgs[i].mtime;
	if (utimes(path, tv) == -1)
		die(path);
}

static void
make_folder(void)
{
	static const char *const sub[] = { "cur", "new", "tmp" };
	char path[512];
	const char *why = NULL;
	size_t i;

	if (mkdtemp(root) == NULL)
		die(root);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, sub[i]);
		if (mkdir(path, 0700) == -1)
			die(path);
	}
	for (i = 0; i < NMSGS; i++)
		write_message(i);
	config_defaults(&conf);
	conf.search_index = 0;
	sess.conf = &conf;
	sess.mbname = "INBOX";
	if (mailbox_open(root, 0, &sess.mb, &why) == -1) {
		fprintf(stderr, "mailbox_open: %s\n", why ? why : "?");
		exit(2);
	}
}

/* Message seq is msgs[seq - 1]: the UIDs follow the names.  Each is
 * where it was written until mailbox_move_new() moves new/ to cur/;
 * the UIDs stay. */
static void
test_folder(void)
{
	char rel[512], want[16];
	uint32_t seq;
	int pass;

	CHECK_INT(mailbox_count(sess.mb), NMSGS);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			CHECK(mailbox_new_waiting(sess.mb));
			CHECK_INT(mailbox_move_new(sess.mb, -1), 0);
			CHECK(!mailbox_new_waiting(sess.mb));
		}
		for (seq = 1; seq <= NMSGS; seq++) {
			snprintf(want, sizeof(want), "%s/",
			    pass == 0 ? msgs[seq - 1].dir : "cur");
			CHECK(mailbox_relpath(sess.mb, seq, rel, sizeof(rel)) ==
			    0);
			CHECK_MSG(strncmp(rel, want, 4) == 0 &&
			    strncmp(rel + 4, msgs[seq - 1].name, 20) == 0,
			    "message %u is %s", seq, rel);
			CHECK_INT(mailbox_uid(sess.mb, seq), seq);
		}
	}
}

/*
 * Run the program text as the arguments of a SEARCH: "1 3" for the
 * messages that match, "BAD <sentence>" when it is refused,
 * "BADCHARSET" for an unknown charset.  *modseq_r (if not NULL) says
 * whether the program has a MODSEQ key.
 */
static const char *
run(const char *program, int *modseq_r)
{
	static char out[256];
	const struct imap_cmdline *cmd;
	struct buf line;
	struct search *se;
	const char *why = NULL;
	uint32_t *seqs = NULL;
	uint64_t maxms;
	size_t used, n, i, len;
	int badcharset = 0;

	buf_init(&line, 64 * 1024);
	if (buf_addf(&line, "t SEARCH%s%s\r\n", *program ? " " : "",
	    program) == -1)
		return "too long";
	imap_parser_reset(parser);
	if (imap_parser_feed(parser, buf_cstr(&line), line.len, &used) !=
	    IMAP_PARSE_COMMAND || (cmd = imap_parser_command(parser)) ==
	    NULL) {
		buf_free(&line);
		return "PARSER";
	}
	buf_free(&line);
	se = search_parse(&sess, cmd->args, cmd->nargs, &why, &badcharset);
	if (se == NULL) {
		if (badcharset)
			return "BADCHARSET";
		snprintf(out, sizeof(out), "BAD %s", why ? why : "(none)");
		return out;
	}
	if (modseq_r != NULL)
		*modseq_r = search_has_modseq(se);
	if (search_run(&sess, se, &seqs, &n, &maxms) == -1) {
		search_free(se);
		return "RUN FAILED";
	}
	out[0] = '\0';
	for (i = 0, len = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u",
		    i > 0 ? " " : "", seqs[i]);
	free(seqs);
	search_free(se);
	return out;
}

static void
table(const char *const (*cases)[2], size_t n)
{
	const char *got;
	size_t i;

	for (i = 0; i < n; i++) {
		got = run(cases[i][0], NULL);
		CHECK_MSG(strcmp(got, cases[i][1]) == 0, "SEARCH %s: \"%s\", "
		    "not \"%s\"", cases[i][0], got, cases[i][1]);
	}
}
#define TABLE(c)	table((c), sizeof(c) / sizeof((c)[0]))

static void
test_flags(void)
{
	static const char *const cases[][2] = {
		{ "ALL", "1 2 3 4" },
		{ "SEEN", "1" }, { "UNSEEN", "2 3 4" },
		{ "FLAGGED", "2" }, { "UNFLAGGED", "1 3 4" },
		{ "ANSWERED", "2" }, { "UNANSWERED", "1 3 4" },
		{ "DELETED", "3" }, { "UNDELETED", "1 2 4" },
		{ "DRAFT", "3" }, { "UNDRAFT", "1 2 4" },
		/* this session is the first to see them all */
		{ "RECENT", "1 2 3 4" }, { "OLD", "" }, { "NEW", "2 3 4" },
		{ "KEYWORD $Junk", "" }, { "UNKEYWORD $Junk", "1 2 3 4" },
		/* keys are atoms in any case */
		{ "seen", "1" }, { "UnFlagged", "1 3 4" },
	};

	TABLE(cases);
}

static void
test_numbers(void)
{
	static const char *const cases[][2] = {
		{ "2:3", "2 3" }, { "*", "4" }, { "1,4", "1 4" },
		{ "3:1", "1 2 3" }, { "4:*", "4" }, { "1:4000000000", "1 2 3 4" },
		{ "UID 1:2", "1 2" }, { "UID *", "4" }, { "UID 3:*", "3 4" },
		{ "UID 5:9", "" }, { "UID 2,4", "2 4" },
		{ "LARGER 1000", "2" }, { "SMALLER 1000", "1 3 4" },
		{ "LARGER 0", "1 2 3 4" }, { "SMALLER 0", "" },
		{ "MODSEQ 1", "1 2 3 4" },
		{ "MODSEQ \"/flags/\\\\seen\" all 1", "1 2 3 4" },
		{ "MODSEQ 9223372036854775807", "" },
	};
	int modseq = 0;

	TABLE(cases);
	(void)run("MODSEQ 1 SEEN", &modseq);
	CHECK(modseq == 1);
	(void)run("SEEN", &modseq);
	CHECK(modseq == 0);

	/* "$", the saved result of an earlier search (RFC 5182) */
	{
		uint32_t saved[] = { 2, 4 };

		sess.saved = saved;
		sess.nsaved = 2;
		CHECK_STR(run("$", NULL), "2 4");
		CHECK_STR(run("NOT $", NULL), "1 3");
		sess.saved = NULL;
		sess.nsaved = 0;
		CHECK_STR(run("$", NULL), "");
	}
}

static void
test_dates(void)
{
	static const char *const cases[][2] = {
		{ "BEFORE 10-Feb-2026", "1" }, { "ON 10-Feb-2026", "2" },
		{ "SINCE 10-Feb-2026", "2 3 4" }, { "ON 11-Feb-2026", "" },
		{ "SENTBEFORE 10-Feb-2026", "1" },
		{ "SENTON 20-Feb-2026", "3" },
		{ "SENTSINCE 20-Feb-2026", "3 4" },
		{ "SINCE 1-Feb-2026 BEFORE 1-Mar-2026", "1 2 3" },
		{ "SENTON \"1-Mar-2026\"", "4" },
	};

	TABLE(cases);
}

static void
test_text(void)
{
	static const char *const cases[][2] = {
		{ "FROM alice", "1" }, { "FROM ALICE", "1" },
		{ "FROM example.org", "1 2 3 4" }, { "TO alice", "2" },
		{ "CC dave", "2" }, { "BCC eve", "3" }, { "TO eve", "" },
		{ "SUBJECT hello", "1 4" }, { "SUBJECT \"hello world\"", "1" },
		/* encoded words are searched decoded */
		{ "SUBJECT café", "3" },
		{ "CHARSET UTF-8 SUBJECT café", "3" },
		{ "HEADER X-Priority 1", "2" }, { "HEADER x-priority \"\"", "2" },
		{ "HEADER Message-ID m1@", "1" }, { "HEADER X-None \"\"", "" },
		/* the body, transfer-decoded; not the header */
		{ "BODY apple", "1 4" }, { "BODY banana", "2 4" },
		{ "BODY alice", "" }, { "BODY YXBwbGUg", "" },
		/* the header and the body */
		{ "TEXT alice", "1 2" }, { "TEXT cherry", "3" },
		{ "CHARSET US-ASCII BODY cherry", "3" },
	};

	TABLE(cases);
}

static void
test_logic(void)
{
	static const char *const cases[][2] = {
		{ "NOT SEEN", "2 3 4" }, { "NOT NOT SEEN", "1" },
		{ "OR SEEN FLAGGED", "1 2" }, { "OR (SEEN) (DELETED)", "1 3" },
		{ "NOT OR SEEN FLAGGED", "3 4" },
		{ "OR OR SEEN FLAGGED DRAFT", "1 2 3" },
		{ "OR SEEN OR FLAGGED DRAFT", "1 2 3" },
		/* the keys of a list, as at top level, must all hold */
		{ "SEEN (OR FLAGGED DRAFT)", "" },
		{ "UNSEEN (OR FLAGGED DRAFT)", "2 3" },
		{ "(UNSEEN (UNDELETED (BODY banana)))", "2 4" },
		{ "UNSEEN BODY banana", "2 4" },
		{ "NOT (SEEN FLAGGED)", "1 2 3 4" },
		{ "OR BODY cherry SUBJECT hello", "1 3 4" },
		{ "NOT UID 2:3", "1 4" }, { "OR 1 UID 4", "1 4" },
		{ "1:3 NOT 2 OR SEEN DELETED", "1 3" },
	};

	TABLE(cases);
}

static void
test_refused(void)
{
	static const char *const cases[][2] = {
		{ "", "BAD Empty search criteria" },
		{ "()", "BAD Empty search criteria" },
		{ "SEEN ()", "BAD Empty search criteria" },
		{ "FOO", "BAD Unknown search key" },
		{ "SEEN FOO", "BAD Unknown search key" },
		{ "\"SEEN\"", "BAD Search keys are atoms" },
		{ "NOT", "BAD Missing search key" },
		{ "OR SEEN", "BAD Missing search key" },
		{ "FROM", "BAD Missing or invalid string in search criteria" },
		{ "FROM (alice)",
		  "BAD Missing or invalid string in search criteria" },
		{ "HEADER Subject",
		  "BAD Missing or invalid string in search criteria" },
		{ "KEYWORD", "BAD Missing or invalid string in search criteria" },
		{ "LARGER x", "BAD LARGER and SMALLER take a number" },
		{ "LARGER -1", "BAD LARGER and SMALLER take a number" },
		{ "SMALLER 18446744073709551616",
		  "BAD LARGER and SMALLER take a number" },
		{ "BEFORE 32-Jan-2026", "BAD Invalid date in search criteria "
		  "(expected e.g. 1-Feb-2026)" },
		{ "SINCE 2026-02-01", "BAD Invalid date in search criteria "
		  "(expected e.g. 1-Feb-2026)" },
		{ "ON", "BAD Invalid date in search criteria "
		  "(expected e.g. 1-Feb-2026)" },
		{ "0", "BAD Invalid sequence set in search criteria" },
		{ "1:0", "BAD Invalid sequence set in search criteria" },
		{ "4294967296", "BAD Invalid sequence set in search criteria" },
		{ "UID x", "BAD Invalid UID set in search criteria" },
		{ "UID 0", "BAD Invalid UID set in search criteria" },
		{ "MODSEQ x", "BAD MODSEQ takes a mod-sequence value" },
		{ "MODSEQ 9223372036854775808",
		  "BAD MODSEQ takes a mod-sequence value" },
		{ "MODSEQ \"/flags/\\\\seen\" mine 1",
		  "BAD MODSEQ entry type must be priv, shared or all" },
		{ "CHARSET KOI8-R SEEN", "BADCHARSET" },
		{ "CHARSET (UTF-8) SEEN", "BADCHARSET" },
	};

	TABLE(cases);

	/* after ENABLE UTF8=ACCEPT a CHARSET is an error (RFC 6855 3) */
	sess.enabled |= ENABLED_UTF8;
	CHECK_STR(run("CHARSET UTF-8 SEEN", NULL), "BAD No CHARSET after "
	    "ENABLE UTF8=ACCEPT (RFC 6855 section 3)");
	CHECK_STR(run("SUBJECT café", NULL), "3");
	sess.enabled &= ~ENABLED_UTF8;
}

/* Nesting is bounded, by NOT and OR as by lists: 64 levels and no more. */
static void
test_depth(void)
{
	struct buf b;
	int i;

	buf_init(&b, 4096);
	for (i = 0; i < 64; i++)
		(void)buf_adds(&b, "NOT ");
	(void)buf_adds(&b, "SEEN");
	CHECK_STR(run(buf_cstr(&b), NULL), "1");
	buf_reset(&b);
	for (i = 0; i < 65; i++)
		(void)buf_adds(&b, "NOT ");
	(void)buf_adds(&b, "SEEN");
	CHECK_STR(run(buf_cstr(&b), NULL),
	    "BAD Search criteria nested too deeply");

	buf_reset(&b);
	for (i = 0; i < 65; i++)
		(void)buf_adds(&b, "OR SEEN ");
	(void)buf_adds(&b, "DELETED");
	CHECK_STR(run(buf_cstr(&b), NULL),
	    "BAD Search criteria nested too deeply");
	buf_reset(&b);
	for (i = 0; i < 64; i++)
		(void)buf_adds(&b, "OR SEEN ");
	(void)buf_adds(&b, "DELETED");
	CHECK_STR(run(buf_cstr(&b), NULL), "1 3");

	buf_reset(&b);
	for (i = 0; i < 66; i++)
		(void)buf_addc(&b, '(');
	(void)buf_adds(&b, "SEEN");
	for (i = 0; i < 66; i++)
		(void)buf_addc(&b, ')');
	CHECK_STR(run(buf_cstr(&b), NULL),
	    "BAD Search criteria nested too deeply");
	buf_free(&b);
}

int
main(void)
{
	static const struct imap_limits lim = {
		.line_max = 65536, .literal_max = 65536,
		.command_max = 1 << 20, .depth_max = 100, .args_max = 10000,
	};

	setenv("TZ", "UTC", 1);
	tzset();
	log_init("test-search", 1, LOG_USER);
	if ((parser = imap_parser_new(&lim)) == NULL)
		die("imap_parser_new");
	make_folder();

	T_RUN(test_folder);
	T_RUN(test_flags);
	T_RUN(test_numbers);
	T_RUN(test_dates);
	T_RUN(test_text);
	T_RUN(test_logic);
	T_RUN(test_refused);
	T_RUN(test_depth);

	mailbox_close(sess.mb);
	imap_parser_free(parser);
	t_scratch_done(root);
	return t_done();
}
