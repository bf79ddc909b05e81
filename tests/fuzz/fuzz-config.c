/*
 * Fuzz target: imapd/config, imapd.conf as an administrator might get it
 * wrong.  The input is the file.
 *
 * Properties checked:
 *   - config_load() fails exactly when it gives errors, and each error
 *     line names the file;
 *   - whatever it loads stays within the limits of config.h: listen
 *     lists and special-use folders within their arrays, ports 1..65535,
 *     special-use flags that start with a backslash, every string set;
 *   - loading the same file twice gives the same errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/strnum.h"
#include "imapd/config.h"
#include "tests/fuzz/fuzz.h"

static char dir[PATH_MAX], path[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "etc");
	fuzz_fresh_dir(dir);
	fuzz_path(path, dir, "imapd.conf");
	return 0;
}

static void
check_listen(const struct listen_addr *a, unsigned n)
{
	unsigned i, port;

	FUZZ_CHECK(n <= CONFIG_MAX_LISTEN, "%u addresses", n);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(memchr(a[i].host, '\0', sizeof(a[i].host)) != NULL,
		    "host not terminated");
		FUZZ_CHECK(strnum_uint(a[i].port, 65535, &port) == 0 &&
		    port > 0, "port %s", a[i].port);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct config c, c2;
	char *errors = NULL, *errors2 = NULL, *line, *nl;
	unsigned i;
	int r, r2;

	fuzz_put(dir, "imapd.conf", data, len);
	config_defaults(&c);
	r = config_load(&c, path, &errors);
	FUZZ_CHECK((r == 0) == (errors == NULL), "load %d, errors %s", r,
	    errors ? errors : "none");
	if (errors != NULL) {
		for (line = errors; *line != '\0'; line = nl + 1) {
			FUZZ_CHECK(strncmp(line, path, strlen(path)) == 0,
			    "error line without the file: %s", line);
			if ((nl = strchr(line, '\n')) == NULL)
				break;
		}
	}
	check_listen(c.imap, c.nimap);
	check_listen(c.imaps, c.nimaps);
	FUZZ_CHECK(c.nauth >= 1 && c.nauth <= CONFIG_MAX_AUTH, "%u auth",
	    c.nauth);
	FUZZ_CHECK(c.nspecial <= CONFIG_MAX_SPECIAL, "%u special-use",
	    c.nspecial);
	for (i = 0; i < c.nspecial; i++)
		FUZZ_CHECK(c.special[i].flag[0] == '\\' &&
		    memchr(c.special[i].name, '\0',
		    sizeof(c.special[i].name)) != NULL, "special-use %u", i);
	FUZZ_CHECK(c.tls_cert != NULL && c.tls_key != NULL &&
	    c.pam_service != NULL && c.userdb != NULL &&
	    c.mail_location != NULL && c.login_user != NULL &&
	    c.login_chroot != NULL, "a string setting is NULL");

	config_defaults(&c2);
	r2 = config_load(&c2, path, &errors2);
	FUZZ_CHECK(r == r2 && (errors == NULL) == (errors2 == NULL) &&
	    (errors == NULL || strcmp(errors, errors2) == 0),
	    "a second load said otherwise");
	config_free(&c);
	config_free(&c2);
	free(errors);
	free(errors2);
	return 0;
}
