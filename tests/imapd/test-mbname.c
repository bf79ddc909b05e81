/*
 * Unit tests for imapd/mbname: a client's mailbox name to the on-disk
 * form and back, under hierarchy_separator "/" and ".", with and without
 * inbox_prefix, in modified UTF-7 and (after ENABLE UTF8=ACCEPT) UTF-8;
 * every name refused, with the sentence the client is told.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/mbname.h"
#include "imapd/session.h"
#include "tests/t.h"

static struct config conf;
static struct session sess;

/* The setting a case runs under: separator, prefix on, UTF-8 enabled. */
static void
setup(char sep, int prefix, int utf8)
{
	config_defaults(&conf);
	conf.hierarchy_separator = sep;
	conf.inbox_prefix = prefix;
	sess.conf = &conf;
	sess.enabled = utf8 ? ENABLED_UTF8 : 0;
}

/* A client's name to the disk: the name, or "NO " and the reason. */
static const char *
to_disk(const char *in)
{
	static char res[2048];
	struct buf out;
	const char *why = NULL;
	int n;

	buf_init(&out, 4096);
	if (mbname_from_client(&sess, in, &out, &why) == 0)
		n = snprintf(res, sizeof(res), "%s", buf_cstr(&out));
	else
		n = snprintf(res, sizeof(res), "NO %s", why ? why : "(none)");
	buf_free(&out);
	if (n < 0 || (size_t)n >= sizeof(res))
		return "(result too long)";
	return res;
}

/* An on-disk name as the client sees it, or "ERR". */
static const char *
to_client(const char *name)
{
	static char res[2048];
	struct buf out;
	int n;

	buf_init(&out, 4096);
	if (mbname_client(&sess, name, &out) == 0)
		n = snprintf(res, sizeof(res), "%s", buf_cstr(&out));
	else
		n = snprintf(res, sizeof(res), "ERR");
	buf_free(&out);
	if (n < 0 || (size_t)n >= sizeof(res))
		return "(result too long)";
	return res;
}

#define NO_DOT	"NO The mailbox name contains \".\", which this server " \
	"uses to separate levels on disk."
#define NO_SLASH "NO Mailbox name contains \"/\", which cannot be part " \
	"of a name when the hierarchy separator is \".\""
#define NO_EMPTYLVL "NO The mailbox name has an empty level (a separator " \
	"at the start, at the end, or twice)."
#define NO_DOTLVL "NO The mailbox name has a \".\" or \"..\" level."
#define NO_WILD	"NO The mailbox name contains a wildcard character " \
	"(% or *)."
#define NO_MUTF7 "NO Mailbox name is not valid modified UTF-7 " \
	"(RFC 3501 5.1.3)"
#define NO_UTF8	"NO Mailbox name is not valid UTF-8 without controls " \
	"(RFC 6855 3)"
#define NO_OUTSIDE_DOT "NO Mailbox names begin with \"INBOX.\" here " \
	"(see NAMESPACE)"
#define NO_OUTSIDE_SLASH "NO Mailbox names begin with \"INBOX/\" here " \
	"(see NAMESPACE)"
#define NO_INBOXINBOX "NO INBOX is not a name below INBOX"

static const struct {
	char		 sep;
	int		 prefix, utf8;
	const char	*in, *want;
} cases[] = {
	/* "/", no prefix: INBOX in any case, its children, nesting */
	{ '/', 0, 0, "INBOX", "INBOX" },
	{ '/', 0, 0, "inbox", "INBOX" },
	{ '/', 0, 0, "InBoX", "INBOX" },
	{ '/', 0, 0, "inbox/x", "INBOX/x" },
	{ '/', 0, 0, "INBOX/a/b", "INBOX/a/b" },
	{ '/', 0, 0, "Lists/dev/ci", "Lists/dev/ci" },
	{ '/', 0, 0, "INBOXES", "INBOXES" },
	{ '/', 0, 0, "Caf&AOk-/&ZeVnLIqe-", "Caf&AOk-/&ZeVnLIqe-" },
	{ '/', 0, 0, "a.b", NO_DOT },
	{ '/', 0, 0, "INBOX.x", NO_DOT },
	{ '/', 0, 0, "a/../b", NO_DOTLVL },
	{ '/', 0, 0, ".", NO_DOTLVL },
	{ '/', 0, 0, "/a", NO_EMPTYLVL },
	{ '/', 0, 0, "a/", NO_EMPTYLVL },
	{ '/', 0, 0, "a//b", NO_EMPTYLVL },
	{ '/', 0, 0, "", "NO Empty mailbox name" },
	/* modified UTF-7 has no controls: refused as not being it */
	{ '/', 0, 0, "a\001b", NO_MUTF7 },
	{ '/', 0, 0, "a\177b", NO_MUTF7 },
	{ '/', 0, 0, "a*", NO_WILD },
	{ '/', 0, 0, "a%b", NO_WILD },
	{ '/', 0, 0, "Caf&AOk", NO_MUTF7 },
	{ '/', 0, 0, "Caf\xc3\xa9", NO_MUTF7 },

	/* ".", no prefix */
	{ '.', 0, 0, "inbox", "INBOX" },
	{ '.', 0, 0, "INBOX.x", "INBOX/x" },
	{ '.', 0, 0, "Lists.dev.ci", "Lists/dev/ci" },
	{ '.', 0, 0, "a/b", NO_SLASH },
	{ '.', 0, 0, ".a", NO_EMPTYLVL },
	{ '.', 0, 0, "a.", NO_EMPTYLVL },
	{ '.', 0, 0, "a..b", NO_EMPTYLVL },
	{ '.', 0, 0, "..", NO_EMPTYLVL },

	/* ".", with the prefix: everything but INBOX is below "INBOX." */
	{ '.', 1, 0, "INBOX", "INBOX" },
	{ '.', 1, 0, "iNbOx", "INBOX" },
	{ '.', 1, 0, "INBOX.Lists.dev", "Lists/dev" },
	{ '.', 1, 0, "inbox.x", "x" },
	{ '.', 1, 0, "Lists", NO_OUTSIDE_DOT },
	{ '.', 1, 0, "INBOX/x", NO_OUTSIDE_DOT },
	{ '.', 1, 0, "INBOX.INBOX", NO_INBOXINBOX },
	{ '.', 1, 0, "INBOX.inbox", NO_INBOXINBOX },
	{ '.', 1, 0, "INBOX.INBOX.x", "INBOX/x" },
	{ '.', 1, 0, "INBOX.", "NO The mailbox name is empty." },
	{ '.', 1, 0, "INBOX..a", NO_EMPTYLVL },
	{ '.', 1, 0, "INBOX.a.", NO_EMPTYLVL },
	{ '.', 1, 0, "INBOX.a/b", NO_SLASH },

	/* "/", with the prefix */
	{ '/', 1, 0, "INBOX/x/y", "x/y" },
	{ '/', 1, 0, "x", NO_OUTSIDE_SLASH },
	{ '/', 1, 0, "INBOX.x", NO_OUTSIDE_SLASH },
	{ '/', 1, 0, "INBOX/INBOX", NO_INBOXINBOX },
	{ '/', 1, 0, "INBOX/a.b", NO_DOT },
	{ '/', 1, 0, "INBOX//a", NO_EMPTYLVL },

	/* UTF-8 after ENABLE: encoded to modified UTF-7 on disk, "&" is
	 * literal, and what is not UTF-8 or holds a control is refused */
	{ '/', 0, 1, "Caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "Caf&AOk-/&ZeVnLIqe-" },
	{ '/', 0, 1, "a&b", "a&-b" },
	{ '/', 0, 1, "inbox", "INBOX" },
	{ '.', 1, 1, "INBOX.Caf\xc3\xa9.x", "Caf&AOk-/x" },
	{ '/', 0, 1, "Caf\xe9", NO_UTF8 },
	{ '/', 0, 1, "a\001b", NO_UTF8 },
	{ '/', 0, 1, "a\302\205b", NO_UTF8 },
	{ '/', 0, 1, "a\xe2\x80\xa8" "b", NO_UTF8 },
	{ '/', 0, 1, "a\xe2\x80\xa9" "b", NO_UTF8 },
	{ '.', 0, 1, "a/b", NO_SLASH },
};

static void
test_to_disk(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(cases[i].sep, cases[i].prefix, cases[i].utf8);
		CHECK_MSG(strcmp(to_disk(cases[i].in), cases[i].want) == 0,
		    "case %zu (%c%s%s) \"%s\": got \"%s\", want \"%s\"", i,
		    cases[i].sep, cases[i].prefix ? " prefix" : "",
		    cases[i].utf8 ? " utf8" : "", cases[i].in,
		    to_disk(cases[i].in), cases[i].want);
	}
}

/* A name over FOLDER_NAME_MAX is refused before it is looked at; one
 * that fits but would not as a directory entry (".", then the name) is
 * refused by the disk's rule. */
static void
test_long(void)
{
	char name[1100];

	setup('/', 0, 0);
	memset(name, 'a', sizeof(name));
	name[1025] = '\0';
	CHECK_STR(to_disk(name), "NO Mailbox name too long");
	name[255] = '\0';
	CHECK_STR(to_disk(name), "NO The mailbox name is too long.");
	name[254] = '\0';
	CHECK_STR(to_disk(name), name);

	/* with the prefix, what counts is the name on disk */
	setup('.', 1, 0);
	memcpy(name, "INBOX.", 6);
	memset(name + 6, 'a', 254);
	name[6 + 254] = '\0';
	CHECK_STR(to_disk(name), name + 6);
}

static const struct {
	char		 sep;
	int		 prefix, utf8;
	const char	*name, *want;
} back[] = {
	{ '/', 0, 0, "INBOX", "INBOX" },
	{ '/', 0, 0, "inbox", "INBOX" },
	{ '/', 0, 0, "INBOX/x", "INBOX/x" },
	{ '/', 0, 0, "Lists/dev", "Lists/dev" },
	{ '/', 0, 0, "Caf&AOk-", "Caf&AOk-" },
	{ '/', 0, 1, "Caf&AOk-/&ZeVnLIqe-",
	  "Caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ '/', 0, 1, "a&-b", "a&b" },
	{ '.', 0, 0, "Lists/dev/ci", "Lists.dev.ci" },
	{ '.', 0, 0, "INBOX/x", "INBOX.x" },
	{ '.', 1, 0, "INBOX", "INBOX" },
	{ '.', 1, 0, "Lists/dev", "INBOX.Lists.dev" },
	{ '.', 1, 0, "INBOX/x", "INBOX.INBOX.x" },
	{ '.', 1, 1, "Caf&AOk-/x", "INBOX.Caf\xc3\xa9.x" },
	{ '/', 1, 0, "x/y", "INBOX/x/y" },
};

/* On-disk names as the client sees them, and each read back to itself. */
static void
test_to_client(void)
{
	char seen[2048];
	size_t i;
	int n;

	for (i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		setup(back[i].sep, back[i].prefix, back[i].utf8);
		n = snprintf(seen, sizeof(seen), "%s", to_client(back[i].name));
		CHECK(n > 0 && (size_t)n < sizeof(seen));
		CHECK_MSG(strcmp(seen, back[i].want) == 0,
		    "back %zu \"%s\": got \"%s\", want \"%s\"", i,
		    back[i].name, seen, back[i].want);
		if (mbname_is_inbox(back[i].name))
			CHECK_STR(to_disk(seen), "INBOX");
		else
			CHECK_STR(to_disk(seen), back[i].name);
	}
}

/* Names in the configuration: UTF-8, the prefix optional. */
static void
test_from_config(void)
{
	struct buf out;
	const char *why = NULL;

	buf_init(&out, 4096);
	setup('.', 1, 0);
	CHECK(mbname_from_config(&conf, "Sent", &out, &why) == 0);
	CHECK_STR(buf_cstr(&out), "Sent");
	CHECK(mbname_from_config(&conf, "INBOX.Sent", &out, &why) == 0);
	CHECK_STR(buf_cstr(&out), "Sent");
	CHECK(mbname_from_config(&conf, "Gel\xc3\xb6scht", &out, &why) == 0);
	CHECK_STR(buf_cstr(&out), "Gel&APY-scht");
	CHECK(mbname_from_config(&conf, "INBOX.INBOX", &out, &why) == -1);
	CHECK_STR(why, "INBOX is not a name below INBOX");
	setup('/', 0, 0);
	CHECK(mbname_from_config(&conf, "a/b", &out, &why) == 0);
	CHECK_STR(buf_cstr(&out), "a/b");
	CHECK(mbname_from_config(&conf, "a.b", &out, &why) == -1);
	CHECK_STR(why, NO_DOT + 3);
	buf_free(&out);
}

int
main(void)
{
	log_init("test-mbname", 1, LOG_USER);

	T_RUN(test_to_disk);
	T_RUN(test_long);
	T_RUN(test_to_client);
	T_RUN(test_from_config);
	return t_done();
}
