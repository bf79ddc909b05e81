/*
 * keywords: the per-folder mapping of keyword names to the letters a..z in
 * file names, kept in the file "dovecot-keywords" in Dovecot's format so
 * that keywords survive a move between the two servers in either
 * direction:
 *
 *   <n> <keyword>\n        n = 0..25 for a..z, in any order
 *
 * Lines that do not parse are ignored (and kept out of the rewritten
 * file).  The file is replaced atomically (write a temporary file, fsync,
 * rename); callers that add a keyword hold the folder's UID cache lock so
 * two writers cannot lose each other's additions.
 */
#ifndef MAILDIR_KEYWORDS_H
#define MAILDIR_KEYWORDS_H

#include <stdint.h>

#define KEYWORDS_MAX	26
#define KEYWORD_LEN_MAX	128
#define KEYWORDS_FILE	"dovecot-keywords"

struct keywords {
	char	*name[KEYWORDS_MAX];	/* NULL = letter unused */
};

/* Read dir/dovecot-keywords (a missing file is an empty mapping) into
 * *kw, which is overwritten (keywords_free a used one first).  0, or -1
 * with errno on a read error. */
int	keywords_load(const char *dir, struct keywords *);

void	keywords_free(struct keywords *);

/* The letter number (0..25) of a keyword, compared case-insensitively as
 * IMAP asks; -1 if the folder has no letter for it. */
int	keywords_find(const struct keywords *, const char *name);

/* Like keywords_find, but give the keyword the first free letter and
 * write the file if it has none.  Before choosing, the file is read again
 * and *kw takes in letters another process gave out since it was loaded,
 * so no letter is given twice.  -1 with errno EINVAL for an invalid
 * keyword, EMLINK when all 26 are taken (ENOSPC is a full disk, as
 * anywhere), or another errno on a read or write error. */
int	keywords_add(const char *dir, struct keywords *, const char *name);

/* 1 if name is a valid keyword: an IMAP atom without "\", at most
 * KEYWORD_LEN_MAX bytes. */
int	keywords_valid(const char *name);

#endif
