/*
 * Unit tests for common/imap/sortkey: the base subject of RFC 5256 section 2.1
 * (one case or more for each step of its procedure and each rule of its
 * grammar), the reply-or-forward mark, message IDs normalized as RFC 5256
 * section 3 asks, and the records built from whole headers: address keys
 * (RFC 5256 3), display values (RFC 5957 3), the sent date and its
 * fallback (RFC 5256 2.2), the references and their In-Reply-To fallback.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/imapdate.h"
#include "common/imap/message.h"
#include "common/imap/sortkey.h"
#include "common/lib/buf.h"
#include "common/mail/unicase.h"
#include "tests/t.h"

static const struct {
	const char	*raw;
	const char	*base;		/* folded */
	int		 reply;
} subjects[] = {
	{ "", "", 0 },
	{ "Hello", "HELLO", 0 },
	/* (1) blanks: tabs, continuations and runs become one space */
	{ "  hello \t  world\t", "HELLO WORLD", 0 },
	{ "hello\r\n world", "HELLO WORLD", 0 },
	/* (1) encoded words decoded, then compared folded */
	{ "=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?=", "GRU\xcc\x88\xc3\x9f" "E", 1 },
	{ "=?ISO-8859-1?Q?caf=E9?=", "CAFE\xcc\x81", 0 },
	/* (2) trailers: "(fwd)" and blanks, repeatedly */
	{ "hello (fwd)", "HELLO", 1 },
	{ "hello (FWD)(fwd)  (Fwd) ", "HELLO", 1 },
	{ "hello(fwd)", "HELLO", 1 },
	{ "(fwd)", "", 1 },
	{ "hello (fwd) there", "HELLO (FWD) THERE", 0 },
	/* (3) leaders: re, fw, fwd, with blanks and a blob before ":" */
	{ "Re: Hello", "HELLO", 1 },
	{ "RE:Hello", "HELLO", 1 },
	{ "re : hello", "HELLO", 1 },
	{ "Fw: hello", "HELLO", 1 },
	{ "FWD: hello", "HELLO", 1 },
	{ "Re[2]: hello", "HELLO", 1 },
	{ "Re [2] : hello", "HELLO", 1 },
	{ "Re: Re: Fwd: re: hello", "HELLO", 1 },
	{ "[list] Re: hello", "HELLO", 1 },
	{ "[a][b] Re: hello", "HELLO", 1 },
	{ "Rex: hello", "REX: HELLO", 0 },
	{ "Re hello", "RE HELLO", 0 },
	{ "Re:", "", 1 },
	{ "Re[2 hello", "RE[2 HELLO", 0 },
	/* (4) a blob alone is removed when something is left */
	{ "[list] hello", "HELLO", 0 },
	{ "[a] [b] hello", "HELLO", 0 },
	{ "[list]", "[LIST]", 0 },
	{ "[a] [b]", "[B]", 0 },
	{ "[list] ", "[LIST]", 0 },
	{ "[PATCH v2] Re: [list] hello", "HELLO", 1 },
	{ "[a[b] hello", "[A[B] HELLO", 0 },
	/* (6) "[fwd:" ... "]" around it all, then from (2) again */
	{ "[fwd: hello]", "HELLO", 1 },
	{ "[Fwd: Re: hello]", "HELLO", 1 },
	{ "[fwd: hello] (fwd)", "HELLO", 1 },
	{ "Re: [fwd: hello]", "HELLO", 1 },
	{ "[fwd: [list] hello]", "HELLO", 1 },
	{ "[fwd: [fwd: hello (fwd)]]", "HELLO", 1 },
	{ "[fwd:]", "", 1 },
	{ "[fwd: hello] there", "THERE", 0 },	/* (4), a blob */
	/* characters whose compatibility form is ASCII count as it */
	{ "Re\xef\xbc\x9a hello", "HELLO", 1 },			/* U+FF1A */
	{ "Re:\xc2\xa0hello", "HELLO", 1 },			/* NBSP */
};

static void
test_subjects(void)
{
	struct buf b;
	size_t i;
	int reply;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		buf_reset(&b);
		reply = -1;
		CHECK(sortkey_base_subject(subjects[i].raw,
		    strlen(subjects[i].raw), &b, &reply) == 0);
		CHECK_STR(buf_cstr(&b), subjects[i].base);
		CHECK_MSG(reply == subjects[i].reply, "%s: reply %d",
		    subjects[i].raw, reply);
	}
	/* appended after what out holds, which stays */
	buf_reset(&b);
	(void)buf_adds(&b, "x");
	CHECK(sortkey_base_subject("Re: y", 5, &b, &reply) == 0);
	CHECK_STR(buf_cstr(&b), "xY");
	buf_free(&b);
}

static const struct {
	const char	*text;
	const char	*ids;		/* the valid ones, "|" after each */
} msgids[] = {
	{ "<a@b>", "a@b|" },
	{ "  <a@b> (comment)", "a@b|" },
	{ "<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>",
	    "01KF8JCEOCBS0045PS@xxx.yyy.com|" },	/* RFC 5256 3 */
	{ "<01KF8JCEOCBS0045PS@xxx.yyy.com>",
	    "01KF8JCEOCBS0045PS@xxx.yyy.com|" },
	{ "<\"a b\\\"c\"@d>", "a b\"c@d|" },
	{ "<a @ b>", "a@b|" },
	{ "<a(x)@b>", "a@b|" },
	{ "<a@[1.2.3.4]>", "a@[1.2.3.4]|" },
	{ "<Case@Host>", "Case@Host|" },		/* kept as written */
	{ "<foo>", "" },
	{ "<@b>", "" },
	{ "<a@>", "" },
	{ "<a@b", "" },
	{ "", "" },
	{ "no id here", "" },
	{ "<bad> <x@y>", "x@y|" },
	{ "<a<b@c>", "b@c|" },
	{ "<a@b> <c@d>\r\n\t<e@f>", "a@b|c@d|e@f|" },
	{ "<a@b><c@d>", "a@b|c@d|" },
	{ "<a@b> user@host.example (Joe)", "a@b|" },
	{ "<\"unterminated@b>", "" },
};

static void
test_msgids(void)
{
	struct buf b;
	const char *p, *end;
	size_t i;
	int r;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(msgids) / sizeof(msgids[0]); i++) {
		buf_reset(&b);
		p = msgids[i].text;
		end = p + strlen(p);
		while ((r = sortkey_msgid(&p, end, &b)) == 1)
			(void)buf_addc(&b, '|');
		CHECK(r == 0);
		CHECK_STR(buf_cstr(&b), msgids[i].ids);
	}
	buf_free(&b);
}

/* A record built from a header, read back. */
static int
keys_of(const char *hdr, struct buf *rec, struct sortkey *k)
{
	struct message *m = message_from_mem(hdr, strlen(hdr));
	int r;

	buf_reset(rec);
	r = m == NULL ? -1 : sortkey_build(m, 1000, 77, rec);
	if (m != NULL)
		message_free(m);
	if (r == 0)
		r = sortkey_read(rec->data, rec->len, k);
	return r;
}

static int
key_is(const struct sortkey *k, enum sortkey_str i, const char *want,
    size_t wlen)
{
	size_t len;
	const char *got = sortkey_str(k, i, &len);

	return len == wlen && memcmp(got, want, wlen) == 0;
}

#define KEY(k, i, s)	key_is(k, i, s, sizeof(s) - 1)

static void
test_records(void)
{
	struct buf rec;
	struct sortkey k;
	int64_t t;
	int tz;

	buf_init(&rec, 1 << 20);
	CHECK(keys_of("From: \"Joe Q. Public\" <john.q.public@example.com>\n"
	    "To: undisclosed-recipients:;\n"
	    "Subject: Re: [list] Lunch\n"
	    "Date: Mon, 1 Jan 2024 10:00:00 +0100\n"
	    "Message-ID: <m1@host>\n"
	    "References: <a@b> junk <c@d>\n"
	    "In-Reply-To: <x@y>\n\nbody\n", &rec, &k) == 0);
	CHECK(KEY(&k, SORTKEY_FROM, "JOHN.Q.PUBLIC"));
	CHECK(KEY(&k, SORTKEY_DISPLAYFROM, "JOE Q. PUBLIC"));
	/* a group's start is its first address: its name is the mailbox */
	CHECK(KEY(&k, SORTKEY_TO, "UNDISCLOSED-RECIPIENTS"));
	CHECK(KEY(&k, SORTKEY_DISPLAYTO, "UNDISCLOSED-RECIPIENTS"));
	CHECK(KEY(&k, SORTKEY_CC, ""));
	CHECK(KEY(&k, SORTKEY_SUBJECT, "LUNCH"));
	CHECK(sortkey_flags(&k) & SORTKEY_REPLY);
	CHECK(KEY(&k, SORTKEY_MESSAGE_ID, "m1@host"));
	CHECK(KEY(&k, SORTKEY_REFERENCES, "a@b\0c@d\0"));
	CHECK(imapdate_parse_rfc5322("1 Jan 2024 09:00:00 +0000", 25, &t,
	    &tz) == 0);
	CHECK_INT(sortkey_sent(&k), t);
	CHECK_INT(sortkey_arrival(&k), 1000);
	CHECK_INT(sortkey_size(&k), 77);

	/* no Date: INTERNALDATE; no References: the first valid ID of
	 * In-Reply-To; names decoded; mailbox@host without a name */
	CHECK(keys_of("From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\n"
	    "To: <Sales@Example.COM>, other@example.com\n"
	    "Cc: Team <team@example.net>\n"
	    "Subject: plain\n"
	    "In-Reply-To: Joe's message <bad> of <p@q> and <r@s>\n\n",
	    &rec, &k) == 0);
	CHECK_INT(sortkey_sent(&k), 1000);
	CHECK(!(sortkey_flags(&k) & SORTKEY_REPLY));
	CHECK(KEY(&k, SORTKEY_DISPLAYFROM, "ANDRE\xcc\x81"));
	CHECK(KEY(&k, SORTKEY_FROM, "ANDRE"));
	CHECK(KEY(&k, SORTKEY_TO, "SALES"));
	CHECK(KEY(&k, SORTKEY_DISPLAYTO, "SALES@EXAMPLE.COM"));
	CHECK(KEY(&k, SORTKEY_CC, "TEAM"));
	CHECK(KEY(&k, SORTKEY_MESSAGE_ID, ""));
	CHECK(KEY(&k, SORTKEY_REFERENCES, "p@q\0"));

	/* References without a valid ID falls back too; an empty name is no
	 * name (RFC 5957 3); an unreadable Date counts as none */
	CHECK(keys_of("From: \"\" <a@b>\n"
	    "References: <nothing-valid>\n"
	    "In-Reply-To: <p@q>\n"
	    "Date: someday\n\n", &rec, &k) == 0);
	CHECK_INT(sortkey_sent(&k), 1000);
	CHECK(KEY(&k, SORTKEY_DISPLAYFROM, "A@B"));
	CHECK(KEY(&k, SORTKEY_REFERENCES, "p@q\0"));
	CHECK(KEY(&k, SORTKEY_SUBJECT, ""));
	CHECK(KEY(&k, SORTKEY_FROM, "A"));

	/* nothing at all */
	CHECK(keys_of("\n", &rec, &k) == 0);
	CHECK(KEY(&k, SORTKEY_FROM, "") && KEY(&k, SORTKEY_DISPLAYTO, ""));
	CHECK(KEY(&k, SORTKEY_REFERENCES, ""));

	/* what is not a record */
	CHECK(keys_of("Subject: x\n\n", &rec, &k) == 0);
	CHECK(sortkey_read(rec.data, rec.len - 1, &k) == -1);
	CHECK(sortkey_read(rec.data, SORTKEY_HEAD - 1, &k) == -1);
	(void)buf_addc(&rec, 'x');
	CHECK(sortkey_read(rec.data, rec.len, &k) == -1);
	buf_free(&rec);
}

/* Many references: the newest are kept. */
static void
test_long_references(void)
{
	static const char last[] = "id4999@example.org";
	struct buf hdr, rec;
	struct sortkey k;
	const char *refs;
	size_t len;
	unsigned i;

	buf_init(&hdr, 1 << 20);
	buf_init(&rec, 1 << 20);
	(void)buf_adds(&hdr, "References:");
	for (i = 0; i < 5000; i++)
		(void)buf_addf(&hdr, " <id%u@example.org>", i);
	(void)buf_adds(&hdr, "\n\n");
	CHECK(keys_of(buf_cstr(&hdr), &rec, &k) == 0);
	refs = sortkey_str(&k, SORTKEY_REFERENCES, &len);
	CHECK(len <= SORTKEY_STR_MAX);
	CHECK(len > SORTKEY_STR_MAX - 40);
	CHECK(len >= sizeof(last) &&
	    memcmp(refs + len - sizeof(last), last, sizeof(last)) == 0);
	CHECK(memcmp(refs, "id", 2) == 0);
	buf_free(&hdr);
	buf_free(&rec);
}

/* The folded form orders as the comparator does. */
static void
test_fold_order(void)
{
	static const char *const ordered[] = {
		"", "a", "\xc3\x84pfel", "B", "bar", "BAZ", "\xc3\xa9t\xc3\xa9",
		"z",
	};
	struct buf a, b;
	size_t i;
	int c;

	buf_init(&a, 1024);
	buf_init(&b, 1024);
	for (i = 0; i + 1 < sizeof(ordered) / sizeof(ordered[0]); i++) {
		buf_reset(&a);
		buf_reset(&b);
		CHECK(unicase_fold(ordered[i], strlen(ordered[i]), &a) == 0);
		CHECK(unicase_fold(ordered[i + 1], strlen(ordered[i + 1]),
		    &b) == 0);
		c = strcmp(buf_cstr(&a), buf_cstr(&b));
		CHECK_MSG(c <= 0, "%s after %s", ordered[i], ordered[i + 1]);
	}
	buf_reset(&a);
	CHECK(unicase_fold("a\xff" "b", 3, &a) == 0);
	CHECK_STR(buf_cstr(&a), "A\xef\xbf\xbd" "B");
	buf_free(&a);
	buf_free(&b);
}

int
main(void)
{
	T_RUN(test_subjects);
	T_RUN(test_msgids);
	T_RUN(test_records);
	T_RUN(test_long_references);
	T_RUN(test_fold_order);
	sortkey_cleanup();
	return t_done();
}
