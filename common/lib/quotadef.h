/*
 * quotadef: a Maildir++ quota definition, the text that opens a
 * maildirsize file and that the userdb's quota field holds:
 *
 *	1000000000S,100000C
 *
 * comma-separated parts, each decimal digits and a letter: S, the most
 * bytes the messages may take, C, the most messages.  A part left out,
 * or zero, is no limit.
 */
#ifndef COMMON_QUOTADEF_H
#define COMMON_QUOTADEF_H

#include <stddef.h>
#include <stdint.h>

#define QUOTADEF_MAX	64	/* bytes of a formatted definition */

/* A quota definition; 0 is no limit. */
struct quota_limits {
	uint64_t	bytes;
	uint64_t	messages;
};

/* Parse len bytes (no line end; need not be NUL-terminated).  0, or -1
 * (l zeroed) for anything but such parts, each letter at most once.  An
 * empty definition is valid and sets no limit. */
int	quotadef_parse(const char *def, size_t len, struct quota_limits *l);

/* Format l ("" when there is no limit).  0, or -1 if out is too small. */
int	quotadef_format(const struct quota_limits *l, char *out,
	    size_t outlen);

/* 1 if l sets a limit. */
int	quotadef_any(const struct quota_limits *l);

#endif
