/* Unit tests for imapd/config: values, and errors that name file, line
 * and key. */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/lib/listenaddr.h"
#include "common/lib/mapfile.h"
#include "imapd/config.h"
#include "tests/t.h"

static char path[] = "/tmp/test-config.XXXXXX";

static int
load(struct config *c, const char *text, char **errs)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -2;
	fputs(text, f);
	fclose(f);
	config_free(c);
	config_defaults(c);
	free(*errs);
	*errs = NULL;
	return config_load(c, path, errs);
}

/* errs contains "<path>:<line>: <needle>" */
static int
has_error(const char *errs, unsigned line, const char *needle)
{
	char want[512];

	snprintf(want, sizeof(want), "%s:%u: %s", path, line, needle);
	return errs != NULL && strstr(errs, want) != NULL;
}

/* The TLS 1.2 defaults are ECDHE with an AEAD cipher, each of them. */
static void
test_default_ciphers(const struct config *c)
{
	char list[512], *item, *save = NULL;
	unsigned n = 0;

	CHECK((size_t)snprintf(list, sizeof(list), "%s", c->tls_ciphers) <
	    sizeof(list));
	for (item = strtok_r(list, ":", &save); item != NULL;
	    item = strtok_r(NULL, ":", &save), n++)
		CHECK_MSG(strncmp(item, "ECDHE-", 6) == 0 &&
		    (strstr(item, "-GCM-") != NULL ||
		    strstr(item, "CHACHA20-POLY1305") != NULL), "%s", item);
	CHECK_INT(n, 6);
	CHECK_STR(c->tls_groups, "X25519:prime256v1:secp384r1");
	CHECK_INT(c->tls_shared, 0);
}

static void
test_good(void)
{
	struct config c;
	char *errs = NULL;

	config_defaults(&c);
	CHECK_INT(c.prefork, 4);
	CHECK_INT(c.nimap, 1);
	CHECK_STR(c.imap[0].host, "");
	CHECK_STR(c.imap[0].port, "143");
	CHECK_INT(c.nspecial, 5);
	CHECK_INT(c.max_sessions, 1000);
	CHECK_INT(c.timeout_login_ms, 60000);
	CHECK_INT(c.timeout_session_ms, 30 * 60000);
	CHECK_INT(c.timeout_output_ms, 60000);
	CHECK_INT(c.drain_timeout_ms, 60000);
	CHECK_STR(c.store_check, "");
	CHECK_INT(c.store_check_timeout_ms, 10000);
	test_default_ciphers(&c);
	CHECK_STR(c.tls_groups, "X25519:prime256v1:secp384r1");
	/* the limits' defaults fit Thunderbird (5) and K-9 (10) at once */
	CHECK_INT(c.first_valid_uid, 1000);
	CHECK_INT(c.auth_fail_delay_ms, 2000);
	CHECK_INT(c.auth_penalty_max_ms, 15000);
	CHECK_INT(c.max_prelogin_per_address, 20);
	CHECK_INT(c.max_user_sessions, 100);
	CHECK_INT(c.max_user_sessions_per_address, 20);
	CHECK_INT(c.pam_session, 1);
	CHECK_INT(load(&c,
	    "# a comment\n"
	    "\n"
	    "listen_imap = 127.0.0.1:1143, [::1]:1143   # two\n"
	    "listen_imaps=*:1993\n"
	    "  tls_cert   =   /etc/x/cert.pem  \n"
	    "auth = pam,userdb\n"
	    "prefork = 7\n"
	    "max_sessions = 50\n"
	    "allow_plaintext_auth = yes\n"
	    "timeout_login = 90s\n"
	    "timeout_session = 1h\n"
	    "timeout_output = 45s\n"
	    "auth_fail_delay = 250ms\n"
	    "auth_penalty_max = 0\n"
	    "max_prelogin_per_address = 0\n"
	    "max_user_sessions = 7\n"
	    "max_user_sessions_per_address = 100000\n"
	    "pam_session = no\n"
	    "special_use = Sent:\\Sent Bin:\\Trash\n"
	    "mail_location = ~/Mail/box\n"
	    "syslog_facility = local3\n"
	    "tls_ciphers = HIGH:!aNULL:!kRSA\n"
	    "tls_ciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "tls_groups = X25519\n"
	    "tls_process = shared\n"
	    "proxy_protocol = yes\n"
	    "trusted_proxies = 10.0.0.0/8, 192.0.2.7 2001:db8::/32\n", &errs),
	    0);
	CHECK_MSG(errs == NULL, "%s", errs ? errs : "");
	CHECK_INT(c.nimap, 2);
	CHECK_STR(c.imap[0].host, "127.0.0.1");
	CHECK_STR(c.imap[1].host, "::1");
	CHECK_STR(c.imap[1].port, "1143");
	CHECK_INT(c.nimaps, 1);
	CHECK_STR(c.imaps[0].host, "");
	CHECK_STR(c.tls_cert, "/etc/x/cert.pem");
	CHECK_STR(c.tls_ciphers, "HIGH:!aNULL:!kRSA");
	CHECK_STR(c.tls_ciphersuites, "TLS_AES_256_GCM_SHA384");
	CHECK_STR(c.tls_groups, "X25519");
	CHECK_INT(c.tls_shared, 1);
	CHECK_INT(c.nauth, 2);
	CHECK_INT(c.auth[0], AUTH_PAM);
	CHECK_INT(c.auth[1], AUTH_USERDB);
	CHECK_INT(c.prefork, 7);
	CHECK_INT(c.max_sessions, 50);
	CHECK_INT(c.allow_plaintext_auth, 1);
	CHECK_INT(c.timeout_login_ms, 90000);
	CHECK_INT(c.timeout_session_ms, 3600000);
	CHECK_INT(c.timeout_output_ms, 45000);
	CHECK_INT(c.auth_fail_delay_ms, 250);
	CHECK_INT(c.auth_penalty_max_ms, 0);
	CHECK_INT(c.max_prelogin_per_address, 0);
	CHECK_INT(c.max_user_sessions, 7);
	CHECK_INT(c.max_user_sessions_per_address, 100000);
	CHECK_INT(c.pam_session, 0);
	CHECK_INT(c.proxy_protocol, 1);
	CHECK_INT(c.ntrusted, 3);
	CHECK_INT(c.trusted[0].bits, 8);
	CHECK_INT(c.trusted[1].bits, 32);
	CHECK_INT(c.trusted[2].family, AF_INET6);
	CHECK(cidr_match(c.trusted, c.ntrusted, "10.1.2.3"));
	CHECK(cidr_match(c.trusted, c.ntrusted, "::ffff:192.0.2.7"));
	CHECK(cidr_match(c.trusted, c.ntrusted, "2001:db8:1::9"));
	CHECK(!cidr_match(c.trusted, c.ntrusted, "192.0.2.8"));
	CHECK(!cidr_match(c.trusted, c.ntrusted, "11.0.0.1"));
	CHECK(!cidr_match(c.trusted, c.ntrusted, "unknown"));
	CHECK_INT(c.nspecial, 2);
	CHECK_STR(c.special[1].name, "Bin");
	CHECK_STR(c.special[1].flag, "\\Trash");
	CHECK_STR(c.mail_location, "~/Mail/box");
	CHECK_INT(c.mmap, MAPFILE_AUTO);
	CHECK_INT(load(&c, "mmap = no\n", &errs), 0);
	CHECK_INT(c.mmap, MAPFILE_NEVER);
	CHECK_INT(load(&c, "mmap = yes\n", &errs), 0);
	CHECK_INT(c.mmap, MAPFILE_ALWAYS);
	CHECK_INT(load(&c, "mmap = AUTO\n", &errs), 0);
	CHECK_INT(c.mmap, MAPFILE_AUTO);
	CHECK_INT(c.search_index, 1);
	CHECK_INT(load(&c, "search_index = no\n", &errs), 0);
	CHECK_INT(c.search_index, 0);
	CHECK_INT(c.hierarchy_separator, '/');
	CHECK_INT(c.inbox_prefix, 0);
	CHECK_INT(load(&c, "hierarchy_separator = .\ninbox_prefix = yes\n",
	    &errs), 0);
	CHECK_INT(c.hierarchy_separator, '.');
	CHECK_INT(c.inbox_prefix, 1);
	/* "none" disables a port */
	CHECK_INT(load(&c, "listen_imap = none\n", &errs), 0);
	CHECK_INT(c.nimap, 0);
	CHECK_INT(c.nimaps, 1);
	config_free(&c);
	free(errs);
}

static const struct {
	const char	*text;
	unsigned	 line;
	const char	*needle;
} bad[] = {
	{ "frobnicate = 1\n", 1, "frobnicate: unknown key" },
	{ "\n\nprefork = lots\n", 3, "prefork: must be a number" },
	{ "prefork = 0\n", 1, "prefork: must be" },
	{ "prefork = 99999999999999999999\n", 1, "prefork: must be" },
	{ "prefork = 4\nprefork = 5\n", 2, "prefork: given more than once" },
	{ "listen_imap = 143\n", 1, "listen_imap: address must be" },
	{ "listen_imap = *:0\n", 1, "listen_imap: port must be" },
	{ "listen_imap = *:70000\n", 1, "listen_imap: port must be" },
	{ "listen_imap = ::1:143\n", 1, "listen_imap: IPv6" },
	{ "listen_imap = [::1\n", 1, "listen_imap: IPv6" },
	{ "tls_cert = cert.pem\n", 1, "tls_cert: must be an absolute path" },
	{ "tls_ciphers =\n", 1, "tls_ciphers: must not be empty" },
	{ "tls_ciphers = AES128 SHA\n", 1, "tls_ciphers: must be an OpenSSL" },
	{ "tls_groups = X25519;P-256\n", 1, "tls_groups: must be an OpenSSL" },
	{ "tls_process = one\n", 1, "tls_process: must be per-session or" },
	{ "tls_ciphersuites = \"TLS\"\n", 1, "tls_ciphersuites: must be" },
	{ "auth = ldap\n", 1, "auth: must be pam, userdb" },
	{ "auth = pam,pam\n", 1, "auth: lists a method twice" },
	{ "auth =\n", 1, "auth: must name at least one" },
	{ "allow_plaintext_auth = perhaps\n", 1,
	    "allow_plaintext_auth: must be yes or no" },
	{ "timeout_session = 5m\n", 1, "timeout_session: must be at least" },
	{ "timeout_login = soon\n", 1, "timeout_login: must be a duration" },
	{ "timeout_output = 2h\n", 1, "timeout_output: must be from 1s" },
	{ "timeout_output = 500ms\n", 1, "timeout_output: must be a duration" },
	{ "drain_timeout = 2h\n", 1, "drain_timeout: must be from 1s" },
	{ "store_check = mail/check\n", 1, "store_check: must be an absolute" },
	{ "store_check_timeout = 10m\n", 1,
	    "store_check_timeout: must be from 1s to 5m" },
	{ "drain_timeout = 10ms\n", 1, "drain_timeout: must be a duration" },
	{ "special_use = Sent\n", 1, "special_use: must be a list" },
	{ "special_use = Sent:\\Outbox\n", 1, "special_use: flag must be" },
	{ "mail_location = Maildir\n", 1, "mail_location: must be an" },
	{ "mail_location = ~/../x\n", 1, "mail_location: must not contain" },
	{ "pam_service = a/b\n", 1, "pam_service: must be a plain name" },
	{ "login_user = \n", 1, "login_user: must not be empty" },
	{ "syslog_facility = kern2\n", 1, "syslog_facility: must be" },
	{ "mmap = sometimes\n", 1, "mmap: must be auto, yes or no" },
	{ "search_index = fast\n", 1, "search_index: must be yes or no" },
	{ "hierarchy_separator = :\n", 1, "hierarchy_separator: must be / or" },
	{ "hierarchy_separator = //\n", 1, "hierarchy_separator: must be" },
	{ "inbox_prefix = INBOX.\n", 1, "inbox_prefix: must be yes or no" },
	{ "auth_penalty_max = 6m\n", 1, "auth_penalty_max: must be at most" },
	{ "max_prelogin_per_address = -1\n", 1,
	    "max_prelogin_per_address: must be a number from 0" },
	{ "max_user_sessions = 100001\n", 1,
	    "max_user_sessions: must be a number from 0" },
	{ "max_user_sessions_per_address = many\n", 1,
	    "max_user_sessions_per_address: must be a number from 0" },
	{ "pam_session = maybe\n", 1, "pam_session: must be yes or no" },
	{ "proxy_protocol = v2\n", 1, "proxy_protocol: must be yes or no" },
	{ "trusted_proxies = proxy.example\n", 1,
	    "trusted_proxies: not an IPv4 or IPv6 address" },
	{ "trusted_proxies = 10.0.0.0/33\n", 1,
	    "trusted_proxies: the prefix length must be" },
	{ "trusted_proxies = ::1/\n", 1,
	    "trusted_proxies: the prefix length must be" },
	{ "just some words\n", 1, "expected \"key = value\"" },
	{ "= 5\n", 1, "(empty): unknown key" },
};

static void
test_bad(void)
{
	struct config c;
	char *errs = NULL;
	size_t i;

	config_defaults(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(load(&c, bad[i].text, &errs) == -1, "case %zu", i);
		CHECK_MSG(has_error(errs, bad[i].line, bad[i].needle),
		    "case %zu: got %s", i, errs ? errs : "(none)");
	}
	/* every error is reported, not just the first */
	CHECK_INT(load(&c, "a = 1\nprefork = x\nb = 2\n", &errs), -1);
	CHECK(has_error(errs, 1, "a: unknown key"));
	CHECK(has_error(errs, 2, "prefork:"));
	CHECK(has_error(errs, 3, "b: unknown key"));
	/* nothing to listen on */
	CHECK_INT(load(&c, "listen_imap = none\nlisten_imaps = none\n",
	    &errs), -1);
	CHECK(errs != NULL && strstr(errs, "nothing to serve") != NULL);
	/* a missing file */
	config_free(&c);
	config_defaults(&c);
	free(errs);
	errs = NULL;
	CHECK_INT(config_load(&c, "/nonexistent/imapd.conf", &errs), -1);
	CHECK(errs != NULL && strstr(errs, "/nonexistent/imapd.conf: cannot "
	    "read") != NULL);
	config_free(&c);
	free(errs);
}

/* Equal address lists are equal bytes, whatever the memory held before:
 * a reload compares them so to keep its listening sockets. */
static void
test_listen_compares(void)
{
	struct listen_addr a[2], b[2];
	const char *why = NULL;
	unsigned na = 0, nb = 0;

	memset(a, 0xa5, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK_INT(listenaddr_parse("*:143 [::1]:993", a, 2, &na, &why), 0);
	CHECK_INT(listenaddr_parse("*:143, [::1]:993", b, 2, &nb, &why), 0);
	CHECK_INT(na, 2);
	CHECK_INT(nb, 2);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK_STR(a[1].host, "::1");
	CHECK_STR(a[1].port, "993");
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return 2;
	close(fd);
	T_RUN(test_good);
	T_RUN(test_bad);
	T_RUN(test_listen_compares);
	unlink(path);
	return t_done();
}
