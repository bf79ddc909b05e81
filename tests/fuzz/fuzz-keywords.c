/*
 * Fuzz target: maildir/keywords, the dovecot-keywords file that Dovecot,
 * other imapd sessions or a user's own tools may have written.
 *
 * Input: the file's bytes, then FUZZ_SEP and keywords a client adds, one
 * a line.
 *
 * Properties checked:
 *   - every name loaded is a valid keyword, and names the letter its
 *     first line gave it (a letter never changes meaning);
 *   - adding a keyword the folder has gives its letter back; adding a new
 *     one gives a free letter (or ENOSPC when there is none, EINVAL for
 *     an invalid name), and the file read again holds every letter known
 *     before with the same name, and the new one;
 *   - the file written is one valid line per letter.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "maildir/keywords.h"
#include "tests/fuzz/fuzz.h"

#define ADDS_MAX	40

static char dir[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_scratch(dir, "folder");
	fuzz_fresh_dir(dir);
	return 0;
}

/* The letter the file's first valid line gives name's letter. */
static void
check_loaded(const struct keywords *kw, const struct keywords *before)
{
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (kw->name[i] != NULL)
			FUZZ_CHECK(keywords_valid(kw->name[i]),
			    "letter %d holds invalid keyword %s", i,
			    kw->name[i]);
		if (before != NULL && before->name[i] != NULL)
			FUZZ_CHECK(kw->name[i] != NULL &&
			    strcmp(kw->name[i], before->name[i]) == 0,
			    "letter %d changed from %s to %s", i,
			    before->name[i], kw->name[i] ? kw->name[i] : "-");
	}
}

static void
copy(struct keywords *to, const struct keywords *from)
{
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++)
		to->name[i] = from->name[i] != NULL ? strdup(from->name[i]) :
		    NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_part part[2];
	struct keywords kw, before, disk;
	size_t nparts, start, end, nadds = 0;
	char *name;
	int n, had, free_letters, i;

	nparts = fuzz_split(data, len, part, 2);
	fuzz_put(dir, KEYWORDS_FILE, part[0].p, part[0].len);
	if (keywords_load(dir, &kw) == -1) {
		FUZZ_CHECK(errno != 0, "load failed without errno");
		return 0;
	}
	check_loaded(&kw, NULL);
	for (start = 0; nparts == 2 && start < part[1].len &&
	    nadds < ADDS_MAX; start = end + 1, nadds++) {
		const uint8_t *nl = memchr(part[1].p + start, '\n',
		    part[1].len - start);

		end = nl != NULL ? (size_t)(nl - part[1].p) : part[1].len;
		name = fuzz_strdup(part[1].p + start, end - start);
		had = keywords_find(&kw, name);
		for (i = free_letters = 0; i < KEYWORDS_MAX; i++)
			free_letters += kw.name[i] == NULL;
		copy(&before, &kw);
		n = keywords_add(dir, &kw, name);
		if (!keywords_valid(name))
			FUZZ_CHECK(n == -1 && errno == EINVAL,
			    "invalid keyword %s added", name);
		else if (had != -1)
			FUZZ_CHECK(n == had, "%s was %d, add gave %d", name,
			    had, n);
		else if (free_letters == 0)
			FUZZ_CHECK(n == -1 && errno == EMLINK,
			    "a 27th keyword: %d", n);
		else {
			FUZZ_CHECK(n >= 0 && before.name[n] == NULL,
			    "%s given letter %d, which was taken", name, n);
			FUZZ_CHECK(strcasecmp(kw.name[n], name) == 0,
			    "letter %d is %s after adding %s", n, kw.name[n],
			    name);
		}
		check_loaded(&kw, &before);
		FUZZ_CHECK(keywords_load(dir, &disk) == 0, "reload failed");
		/* what was loaded from the file is on it still, and what
		 * was added */
		if (n >= 0)
			check_loaded(&disk, &kw);
		keywords_free(&disk);
		keywords_free(&before);
		free(name);
	}
	keywords_free(&kw);
	return 0;
}
