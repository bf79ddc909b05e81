/*
 * keywords: the per-folder keyword letters in "dovecot-keywords".  See
 * keywords.h for the format.
 *
 * Reading: each line is "<n> <keyword>", n decimal 0..25, one space, a
 * keyword that keywords_valid() accepts, and "\n" (a "\r" before it is
 * dropped; the last line may lack "\n").  Anything else is skipped.  When
 * two lines give the same letter the first wins: file names already carry
 * that letter, and changing its meaning would change flags under a client.
 * A file over KW_FILE_MAX bytes is refused rather than read in part, for
 * the same reason.
 *
 * Writing: the whole mapping, one line per used letter in letter order,
 * replaced atomically (safefile.c).  The file is read again just before
 * it is written, so a letter another process gave out since we loaded is
 * kept and not given twice; callers hold the folder lock around that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/safefile.h"
#include "common/lib/strnum.h"
#include "maildir/keywords.h"

/* 26 lines of "nn " + keyword + "\n" fit many times over; the rest is
 * room for lines we skip */
#define KW_FILE_MAX	(64 * 1024)

int
keywords_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		/* atom-specials (RFC 3501 section 9): CTL, SP, ( ) { % *
		 * " \ ], and 8-bit bytes, which are not CHAR */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return 0;
		if (i == KEYWORD_LEN_MAX)
			return 0;
	}
	return i > 0;
}

static int
parse(char *text, size_t len, struct keywords *kw)
{
	char *pos = text, *line, *sp;
	uint64_t n;

	while ((line = safefile_line(&pos, text + len)) != NULL) {
		if ((sp = strchr(line, ' ')) == NULL ||
		    strnum_u64_n(line, (size_t)(sp - line), KEYWORDS_MAX - 1,
		    &n) == -1 || !keywords_valid(sp + 1) || kw->name[n] != NULL)
			continue;
		if ((kw->name[n] = strdup(sp + 1)) == NULL)
			return -1;
	}
	return 0;
}

void
keywords_free(struct keywords *kw)
{
	size_t i;

	for (i = 0; i < KEYWORDS_MAX; i++) {
		free(kw->name[i]);
		kw->name[i] = NULL;
	}
}

/* Load dirfd's file into kw (which must be empty). */
static int
load_at(int dirfd, struct keywords *kw)
{
	struct buf b;

	memset(kw, 0, sizeof(*kw));
	buf_init(&b, KW_FILE_MAX);
	if (safefile_read(dirfd, KEYWORDS_FILE, &b) == -1) {
		buf_free(&b);
		return errno == ENOENT ? 0 : -1;
	}
	if (b.data != NULL && parse(b.data, b.len, kw) == -1) {
		/* a letter we could not keep might be given twice */
		keywords_free(kw);
		buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	buf_free(&b);
	return 0;
}

int
keywords_load(const char *dir, struct keywords *kw)
{
	int dirfd, r, saved;

	memset(kw, 0, sizeof(*kw));
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = load_at(dirfd, kw);
	saved = errno;
	close(dirfd);
	errno = saved;
	return r;
}

int
keywords_find(const struct keywords *kw, const char *name)
{
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++)
		if (kw->name[i] != NULL && strcasecmp(kw->name[i], name) == 0)
			return i;
	return -1;
}

static int
write_at(int dirfd, const struct keywords *kw)
{
	struct buf b;
	int i, r;

	buf_init(&b, KW_FILE_MAX);
	for (i = 0; i < KEYWORDS_MAX; i++)
		if (kw->name[i] != NULL &&
		    buf_addf(&b, "%d %s\n", i, kw->name[i]) == -1) {
			buf_free(&b);
			return -1;
		}
	r = safefile_replace(dirfd, KEYWORDS_FILE, b.data != NULL ? b.data :
	    "", b.len, 0600);
	buf_free(&b);
	return r;
}

/*
 * Merge what is on disk into kw: the file wins where both give a letter
 * (another writer gave it out), and letters only we know (the file was
 * lost or cut) are kept, unless the file gives their keyword elsewhere.
 */
static void
merge(struct keywords *kw, struct keywords *disk)
{
	int i;

	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (disk->name[i] != NULL || kw->name[i] == NULL ||
		    keywords_find(disk, kw->name[i]) != -1)
			continue;
		disk->name[i] = kw->name[i];
		kw->name[i] = NULL;
	}
	keywords_free(kw);
	*kw = *disk;
}

int
keywords_add(const char *dir, struct keywords *kw, const char *name)
{
	struct keywords disk;
	int dirfd, n, saved;

	if (!keywords_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	if ((n = keywords_find(kw, name)) != -1)
		return n;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (load_at(dirfd, &disk) == -1)
		goto fail;
	merge(kw, &disk);
	if ((n = keywords_find(kw, name)) != -1) {
		close(dirfd);
		return n;
	}
	for (n = 0; n < KEYWORDS_MAX && kw->name[n] != NULL; n++)
		;
	if (n == KEYWORDS_MAX) {
		errno = EMLINK;
		goto fail;
	}
	if ((kw->name[n] = strdup(name)) == NULL)
		goto fail;
	if (write_at(dirfd, kw) == -1) {
		saved = errno;
		free(kw->name[n]);
		kw->name[n] = NULL;
		errno = saved;
		goto fail;
	}
	close(dirfd);
	return n;
fail:
	saved = errno;
	close(dirfd);
	errno = saved;
	return -1;
}
