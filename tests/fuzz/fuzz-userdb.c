/*
 * Fuzz target: common/lib/userdb, the virtual-user database an administrator
 * writes and imapd reads as root before any privilege is dropped.
 *
 * Input: the text file's lines, optionally followed by FUZZ_SEP and the
 * bytes of a cdb file to look the same users up in (a damaged one).
 *
 * Properties checked:
 *   - a line that parses has fields that meet the rules of userdb.h
 *     (a name userdb_check_name() takes, an absolute home without "..",
 *     no control characters, no ":"), and written back out it parses to
 *     the same entry;
 *   - the lines that parse, compiled into a cdb as imapd-userdb does,
 *     are found again by userdb_lookup() with the same fields;
 *   - a lookup in a damaged cdb finds a good entry, nothing, or reports
 *     an error; it never crashes.
 */
#include <cdb.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/userdb.h"
#include "tests/fuzz/fuzz.h"

#define LINES_MAX	64

static char dir[PATH_MAX], cdbpath[PATH_MAX], rawpath[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "userdb");
	fuzz_fresh_dir(dir);
	fuzz_path(cdbpath, dir, "userdb.cdb");
	fuzz_path(rawpath, dir, "raw.cdb");
	return 0;
}

static int
same(const struct userdb_entry *a, const struct userdb_entry *b)
{
	return strcmp(a->name, b->name) == 0 &&
	    strcmp(a->hash, b->hash) == 0 && a->uid == b->uid &&
	    a->gid == b->gid && strcmp(a->home, b->home) == 0 &&
	    (a->maildir == NULL) == (b->maildir == NULL) &&
	    (a->maildir == NULL || strcmp(a->maildir, b->maildir) == 0);
}

/* A ".." component anywhere in p. */
static int
dotdot(const char *p)
{
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		p += strspn(p, "/");
	}
	return 0;
}

static void
check_entry(const struct userdb_entry *e)
{
	const char *why, *s[4] = { e->name, e->hash, e->home, e->maildir };
	size_t i, k;

	FUZZ_CHECK(userdb_check_name(e->name, strlen(e->name), &why) == 0,
	    "name %s", e->name);
	FUZZ_CHECK(e->home[0] == '/' && !dotdot(e->home), "home %s",
	    e->home);
	FUZZ_CHECK(e->maildir == NULL || ((e->maildir[0] == '/' ||
	    strncmp(e->maildir, "~/", 2) == 0) && !dotdot(e->maildir)),
	    "maildir %s", e->maildir);
	for (i = 0; i < 4; i++)
		for (k = 0; s[i] != NULL && s[i][k] != '\0'; k++)
			FUZZ_CHECK((unsigned char)s[i][k] >= 0x20 &&
			    s[i][k] != 0x7f && s[i][k] != ':',
			    "field %zu holds %#x", i, (unsigned char)s[i][k]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_part part[2];
	struct userdb_entry e[LINES_MAX], again, found;
	struct cdb_make cm;
	const char *why;
	char err[256], out[USERDB_RECORD_MAX + 64], *line;
	size_t nparts, ngood = 0, i, start, end;
	int fd, n, r;

	nparts = fuzz_split(data, len, part, 2);
	if ((fd = open(cdbpath, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    cdb_make_start(&cm, fd) == -1)
		fuzz_die(cdbpath);
	for (start = 0; start < part[0].len && ngood < LINES_MAX;
	    start = end + 1) {
		const uint8_t *nl = memchr(part[0].p + start, '\n',
		    part[0].len - start);

		end = nl != NULL ? (size_t)(nl - part[0].p) : part[0].len;
		line = fuzz_dup(part[0].p + start, end - start);
		r = userdb_parse_line(line, end - start, &e[ngood], &why);
		if (r == -1) {
			FUZZ_CHECK(why != NULL && e[ngood].name == NULL,
			    "a refused line without a reason or with fields");
			free(line);
			continue;
		}
		check_entry(&e[ngood]);
		n = snprintf(out, sizeof(out), "%s:%s:%lu:%lu:%s%s%s",
		    e[ngood].name, e[ngood].hash, (unsigned long)e[ngood].uid,
		    (unsigned long)e[ngood].gid, e[ngood].home,
		    e[ngood].maildir != NULL ? ":" : "",
		    e[ngood].maildir != NULL ? e[ngood].maildir : "");
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(out), "line too long");
		FUZZ_CHECK(userdb_parse_line(out, (size_t)n, &again, &why) ==
		    0, "%s written back does not parse: %s", out, why);
		FUZZ_CHECK(same(&e[ngood], &again), "%s written back parses "
		    "to another entry", out);
		userdb_entry_free(&again);
		if (cdb_make_add(&cm, e[ngood].name, strlen(e[ngood].name),
		    line, end - start) == -1)
			fuzz_die("cdb_make_add");
		free(line);
		ngood++;
	}
	if (cdb_make_finish(&cm) == -1)
		fuzz_die("cdb_make_finish");
	close(fd);

	for (i = 0; i < ngood; i++) {
		r = userdb_lookup(cdbpath, e[i].name, &found, err, sizeof(err));
		FUZZ_CHECK(r == 1, "%s not found: %s", e[i].name, err);
		/* the first line of a name is the one found */
		for (start = 0; start < i; start++)
			if (strcmp(e[start].name, e[i].name) == 0)
				break;
		FUZZ_CHECK(same(&found, &e[start]), "%s found otherwise",
		    e[i].name);
		userdb_entry_free(&found);
	}

	if (nparts == 2) {
		fuzz_put(dir, "raw.cdb", part[1].p, part[1].len);
		for (i = 0; i < ngood; i++) {
			r = userdb_lookup(rawpath, e[i].name, &found, err,
			    sizeof(err));
			FUZZ_CHECK(r >= -1 && r <= 1, "lookup gave %d", r);
			if (r == 1) {
				check_entry(&found);
				FUZZ_CHECK(strcmp(found.name, e[i].name) == 0,
				    "looked up %s, found %s", e[i].name,
				    found.name);
				userdb_entry_free(&found);
			}
		}
		r = userdb_lookup(rawpath, "user", &found, err, sizeof(err));
		if (r == 1)
			userdb_entry_free(&found);
	}
	for (i = 0; i < ngood; i++)
		userdb_entry_free(&e[i]);
	return 0;
}
