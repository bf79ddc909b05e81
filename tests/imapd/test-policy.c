/* Unit tests for imapd/policy: the rules of a line, one by one, right and
 * wrong; addresses in and out of networks; hours that run past midnight;
 * lookups with "*" and the checks of a whole file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd/policy.h"
#include "tests/t.h"

static char dir[] = "/tmp/test-policy.XXXXXX";
static char path[64];
static int reports;

static const struct {
	const char	*line;
	const char	*why;		/* NULL: accepted; else starts so */
} lines[] = {
	{ "u", NULL },
	{ "u tls=required app-passwords=required", NULL },
	{ "u networks=192.0.2.0/24,2001:db8::/32,10.1.2.3 hours=22:00-06:00",
	    NULL },
	{ "u disabled", NULL },
	{ "u disabled tls=required", NULL },
	{ "u tls=required disabled=gone: see # the wiki", NULL },
	{ "u\ttls=required\t", NULL },
	{ "u tls=yes", "tls: only" },
	{ "u app-passwords=no", "app-passwords: only" },
	{ "u tls=required tls=required", "a rule is given twice" },
	{ "u disabled disabled", "disabled: given twice" },
	{ "u networks=", "networks: expected a list" },
	{ "u networks=1.2.3.4/33", "networks: the prefix" },
	{ "u networks=::1/129", "networks: the prefix" },
	{ "u networks=1.2.3", "networks: not an" },
	{ "u networks=1.2.3.4,", "networks: not an" },
	{ "u networks=1.2.3.4 networks=::1", "networks: given twice" },
	{ "u hours=8:00-18:00", "hours: expected" },
	{ "u hours=08:00-24:00", "hours: expected" },
	{ "u hours=08:60-09:00", "hours: expected" },
	{ "u hours=08:00-08:00", "hours: the start" },
	{ "u hours=08:00-09:00 hours=10:00-11:00", "hours: given twice" },
	{ "u colour=blue", "unknown rule" },
	{ "u tls", "expected rule=value" },
	{ "u tls=required\x01", "the line holds" },
};

static void
put(const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
}

static void
count(const char *s)
{
	(void)s;
	reports++;
}

static void
test_lines(void)
{
	struct policy p;
	char text[256], err[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		CHECK(snprintf(text, sizeof(text), "%s\n", lines[i].line) <
		    (int)sizeof(text));
		put(text);
		r = policy_lookup(path, "u", &p, err, sizeof(err));
		if (lines[i].why == NULL) {
			CHECK_MSG(r == 1, "%s: %s", lines[i].line, err);
			CHECK_INT(p.line, 1);
		} else
			CHECK_MSG(r == -1 && strstr(err, lines[i].why) != NULL,
			    "%s: %s", lines[i].line, r == -1 ? err : "(ok)");
	}
	put("u tls=required disabled=gone: see # the wiki  \n");
	CHECK_INT(policy_lookup(path, "u", &p, err, sizeof(err)), 1);
	CHECK(p.tls && p.disabled && !p.app && !p.hours && p.nnets == 0);
	CHECK_STR(p.reason, "gone: see # the wiki");
}

static void
test_check(void)
{
	struct policy p;
	char err[256];

	put("u networks=192.0.2.0/25,2001:db8::/32,10.1.2.3\n");
	CHECK_INT(policy_lookup(path, "u", &p, err, sizeof(err)), 1);
	CHECK_INT(policy_check(&p, "192.0.2.1", 1, 0, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "192.0.2.127", 1, 0, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "192.0.2.128", 1, 0, 0), POLICY_NETWORK);
	CHECK_INT(policy_check(&p, "10.1.2.3", 1, 0, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "10.1.2.4", 1, 0, 0), POLICY_NETWORK);
	CHECK_INT(policy_check(&p, "::ffff:192.0.2.5", 1, 0, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "2001:db8:ffff::1", 1, 0, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "2001:db9::1", 1, 0, 0), POLICY_NETWORK);
	CHECK_INT(policy_check(&p, "", 1, 0, 0), POLICY_NETWORK);

	put("u hours=22:00-06:30 tls=required app-passwords=required\n");
	CHECK_INT(policy_lookup(path, "u", &p, err, sizeof(err)), 1);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 22 * 60), POLICY_OK);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 0), POLICY_OK);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 6 * 60 + 29), POLICY_OK);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 6 * 60 + 30), POLICY_HOURS);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 21 * 60 + 59), POLICY_HOURS);
	CHECK_INT(policy_check(&p, "::1", 0, 1, 0), POLICY_TLS);
	CHECK_INT(policy_check(&p, "::1", 1, 0, 0), POLICY_APP);
	put("u hours=08:00-18:00 disabled\n");
	CHECK_INT(policy_lookup(path, "u", &p, err, sizeof(err)), 1);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 9 * 60), POLICY_DISABLED);
	p.disabled = 0;
	CHECK_INT(policy_check(&p, "::1", 1, 1, 8 * 60), POLICY_OK);
	CHECK_INT(policy_check(&p, "::1", 1, 1, 18 * 60), POLICY_HOURS);
	CHECK_STR(policy_rule_name(POLICY_HOURS), "hours");
	CHECK_STR(policy_rule_name(POLICY_APP), "app-passwords");
}

static void
test_lookup(void)
{
	struct policy p;
	char err[256];

	put("# site rules\n\n  * tls=required\nalice disabled\n");
	CHECK_INT(policy_lookup(path, "alice", &p, err, sizeof(err)), 1);
	CHECK(p.disabled && !p.tls && p.line == 4);
	CHECK_INT(policy_lookup(path, "bob", &p, err, sizeof(err)), 1);
	CHECK(p.tls && !p.disabled && p.line == 3);
	put("alice disabled\n");
	CHECK_INT(policy_lookup(path, "bob", &p, err, sizeof(err)), 0);
	CHECK(p.line == 0 && !p.disabled);
	/* a bad line anywhere, a user twice: no rules are trusted */
	put("alice disabled\nbob colour=blue\n");
	CHECK_INT(policy_lookup(path, "alice", &p, err, sizeof(err)), -1);
	CHECK(strstr(err, ":2: unknown rule") != NULL);
	CHECK(!p.disabled);
	put("alice disabled\nalice tls=required\n");
	CHECK_INT(policy_lookup(path, "alice", &p, err, sizeof(err)), -1);
	CHECK(strstr(err, ":2: the user has a second line") != NULL);
	unlink(path);
	CHECK_INT(policy_lookup(path, "alice", &p, err, sizeof(err)), 0);
	CHECK_INT(policy_check_file(path, count), 0);

	put("a tls=yes\nb disabled\n\na hours=1\n# c x\n");
	reports = 0;
	CHECK_INT(policy_check_file(path, count), 3);
	CHECK_INT(reports, 3);
	put("a tls=required\nb disabled\n");
	CHECK_INT(policy_check_file(path, count), 0);
	unlink(path);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (snprintf(path, sizeof(path), "%s/login-policy", dir) >=
	    (int)sizeof(path))
		return 1;
	T_RUN(test_lines);
	T_RUN(test_check);
	T_RUN(test_lookup);
	rmdir(dir);
	return t_done();
}
