/*
 * Unit tests for imapd/auth: a user name the back would not look up never
 * reaches the passwd database, and userdb logins are refused or accepted
 * for the right reason, each saying so in the log.
 *
 * The test stands in for getpwnam(3) and syslog(3), so it sees every name
 * looked up and every log line: syslog, and __syslog_chk, which code
 * built with _FORTIFY_SOURCE calls instead (this file is built without
 * it, so that syslog is not replaced by an inline wrapper here).
 */
#undef _FORTIFY_SOURCE

#include <cdb.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/lib/userdb.h"
#include "imapd/auth.h"
#include "imapd/config.h"
#include "tests/t.h"

static size_t	longest_lookup;		/* the longest name getpwnam saw */
static unsigned	lookups;
static char	last_log[2048];

struct passwd *
getpwnam(const char *name)
{
	size_t n = strlen(name);

	lookups++;
	if (n > longest_lookup)
		longest_lookup = n;
	return NULL;
}

void	__syslog_chk(int, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

void
syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	va_start(ap, fmt);
	(void)vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
}

void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	va_start(ap, fmt);
	(void)vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
}

static int
logged(const char *needle)
{
	return strstr(last_log, needle) != NULL;
}

static void
test_names(void)
{
	struct config conf;
	struct auth_user u;
	char *big;

	config_defaults(&conf);		/* auth = pam */
	big = malloc(16 * 1024);
	if (big == NULL)
		abort();
	memset(big, 'a', 16 * 1024 - 1);
	big[16 * 1024 - 1] = '\0';
	CHECK_INT(auth_check(&conf, big, "pw", "", &u), AUTH_FAILED);
	CHECK_INT(lookups, 0);
	CHECK(logged("longer than 255 bytes"));
	big[AUTH_NAME_MAX + 1] = '\0';
	CHECK_INT(auth_check(&conf, big, "pw", "", &u), AUTH_FAILED);
	CHECK_INT(auth_check(&conf, "al\nice", "pw", "", &u), AUTH_FAILED);
	CHECK_INT(auth_check(&conf, "", "pw", "", &u), AUTH_FAILED);
	CHECK_INT(lookups, 0);
	/* the longest name there may be is looked up */
	big[AUTH_NAME_MAX] = '\0';
	CHECK_INT(auth_check(&conf, big, "pw", "", &u), AUTH_FAILED);
	CHECK_INT(longest_lookup, AUTH_NAME_MAX);
	CHECK(logged("login failed: unknown user (auth = pam)"));
	free(big);
	config_free(&conf);
}

static char dir[] = "/tmp/test-auth.XXXXXX";

static void
add(struct cdb_make *cm, const char *name, const char *hash, unsigned id,
    unsigned gid)
{
	char line[USERDB_RECORD_MAX];
	int n;

	n = snprintf(line, sizeof(line), "%s:%s:%u:%u:/nonexistent", name,
	    hash, id, gid);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    cdb_make_add(cm, name, (unsigned)strlen(name), line,
	    (unsigned)n) == -1)
		abort();
}

static void
test_userdb(void)
{
	struct config conf;
	struct cdb_make cm;
	struct auth_user u;
	char path[256], hash[256];
	unsigned me = geteuid() == 0 ? 4321 : (unsigned)geteuid();
	unsigned mygid = geteuid() == 0 ? 4321 : (unsigned)getegid();
	int fd;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/userdb.cdb", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    userdb_hash("secret", "sha512", hash, sizeof(hash)) == -1 ||
	    cdb_make_start(&cm, fd) == -1)
		abort();
	add(&cm, "good", hash, me, mygid);
	add(&cm, "locked", "!", me, mygid);
	add(&cm, "root", hash, 0, 0);
	if (geteuid() == 0) {
		add(&cm, "lowuid", hash, 999, 999);
		add(&cm, "gidzero", hash, 4321, 0);
	}
	if (cdb_make_finish(&cm) == -1)
		abort();
	close(fd);

	config_defaults(&conf);
	conf.auth[0] = AUTH_USERDB;
	free(conf.userdb);
	conf.userdb = strdup(path);
	CHECK_INT(auth_check(&conf, "good", "secret", "", &u), AUTH_OK);
	CHECK_STR(u.name, "good");
	CHECK(u.pam == NULL);
	CHECK_INT(auth_check(&conf, "good", "wrong", "", &u), AUTH_FAILED);
	CHECK(logged("login failed: wrong password"));
	CHECK_INT(auth_check(&conf, "nobody-here", "secret", "", &u),
	    AUTH_FAILED);
	CHECK(logged("login failed: unknown user (auth = userdb)"));
	CHECK_INT(auth_check(&conf, "locked", "secret", "", &u), AUTH_FAILED);
	CHECK(logged("login refused: account is locked in the userdb"));
	CHECK_INT(auth_check(&conf, "root", "secret", "", &u), AUTH_FAILED);
	CHECK(logged(geteuid() == 0 ? "root has uid 0, below first_valid_uid" :
	    "serves only that user, not root (uid 0)"));
	if (geteuid() == 0) {
		CHECK_INT(auth_check(&conf, "lowuid", "secret", "", &u),
		    AUTH_FAILED);
		CHECK(logged("lowuid has uid 999, below first_valid_uid 1000"));
		CHECK_INT(auth_check(&conf, "gidzero", "secret", "", &u),
		    AUTH_FAILED);
		CHECK(logged("gidzero has gid 0, root's group"));
	}
	/* the userdb alone never asks the passwd database */
	CHECK_INT(lookups, 1);
	config_free(&conf);
	(void)unlink(path);
	(void)rmdir(dir);
}

int
main(void)
{
	T_RUN(test_names);
	T_RUN(test_userdb);
	return t_done();
}
