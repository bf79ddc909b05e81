/*
 * kvfile: the reader of "key = value" configuration files, imapd.conf's
 * and imapd-router's.
 *
 * The file is read whole (at most KVFILE_MAX bytes) and taken line by
 * line: "#" starts a comment, blank lines are skipped, the key is what
 * stands before the first "=" and the value what follows it, both with
 * surrounding blanks removed.  Unknown keys, repeated keys and values the
 * caller refuses are errors naming the file, the line and the key; all of
 * them are reported, not only the first.
 */
#ifndef COMMON_KVFILE_H
#define COMMON_KVFILE_H

#include <stddef.h>

#include "common/lib/buf.h"

#define KVFILE_MAX	(256 * 1024)
#define KVFILE_LINE_MAX	4096

struct kvfile_keys {
	size_t	 n;		/* keys 0 .. n-1 */
	/* the name of key i */
	const char *(*name)(size_t i);
	/* take value for key i: NULL, or a short reason it is refused */
	const char *(*set)(void *arg, size_t i, const char *value);
	void	*arg;
};

/*
 * Read path, calling keys->set for each "key = value" line.  line_r (n
 * entries, zeroed by the caller) receives the line that set each key.
 * Every problem is appended to errs as a "file:line: key: reason" line;
 * 0 when none was, else -1.
 */
int	kvfile_read(const char *path, const struct kvfile_keys *keys,
	    unsigned *line_r, struct buf *errs);

#endif
