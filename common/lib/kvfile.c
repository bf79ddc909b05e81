/*
 * kvfile: "key = value" files.  See kvfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/kvfile.h"
#include "common/lib/log.h"
#include "common/lib/safefile.h"

static void
adderr(struct buf *errs, const char *path, unsigned line, const char *key,
    const char *why)
{
	/* the error list is bounded; a file with thousands of errors is cut */
	if (key != NULL)
		(void)buf_addf(errs, "%s:%u: %s: %s\n", path, line, key, why);
	else
		(void)buf_addf(errs, "%s:%u: %s\n", path, line, why);
}

static int
readfile(const char *path, struct buf *out)
{
	int fd, r, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = safefile_readfd(fd, out);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* One line, comment already cut; problems go to errs. */
static void
kvfile_line(const char *path, unsigned lineno, char *line,
    const struct kvfile_keys *keys, unsigned char *seen, unsigned *line_r,
    struct buf *errs)
{
	char *eq, *key, *val;
	const char *why;
	size_t i;

	if ((eq = strchr(line, '=')) == NULL) {
		adderr(errs, path, lineno, NULL, "expected \"key = value\"");
		return;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	for (i = 0; i < keys->n; i++)
		if (strcmp(keys->name(i), key) == 0)
			break;
	if (i == keys->n) {
		adderr(errs, path, lineno, key[0] ? key : "(empty)",
		    "unknown key");
		return;
	}
	if (seen[i]) {
		adderr(errs, path, lineno, key, "given more than once");
		return;
	}
	seen[i] = 1;
	if ((why = keys->set(keys->arg, i, val)) != NULL)
		adderr(errs, path, lineno, key, why);
	else
		line_r[i] = lineno;
}

int
kvfile_read(const char *path, const struct kvfile_keys *keys,
    unsigned *line_r, struct buf *errs)
{
	struct buf file;
	unsigned char *seen;
	char *p, *line, *eol, *hash;
	unsigned lineno = 0;
	size_t before = errs->len;

	if ((seen = calloc(keys->n + 1, 1)) == NULL)
		fatal("calloc");
	buf_init(&file, KVFILE_MAX);
	if (readfile(path, &file) == -1) {
		if (errno == EMSGSIZE)
			(void)buf_addf(errs, "%s: file too large (over %u "
			    "bytes)\n", path, KVFILE_MAX);
		else
			(void)buf_addf(errs, "%s: cannot read: %s\n", path,
			    strerror(errno));
	} else if (memchr(buf_cstr(&file), '\0', file.len) != NULL)
		adderr(errs, path, 0, NULL, "file contains a NUL byte");
	else for (p = file.data; p != NULL && *p != '\0'; p = eol) {
		line = p;
		lineno++;
		eol = strchr(p, '\n');
		if (eol != NULL)
			*eol++ = '\0';
		if (strlen(line) > KVFILE_LINE_MAX) {
			adderr(errs, path, lineno, NULL, "line too long");
			continue;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		line = trim(line);
		if (*line == '\0')
			continue;
		kvfile_line(path, lineno, line, keys, seen, line_r, errs);
	}
	buf_free(&file);
	free(seen);
	return errs->len > before ? -1 : 0;
}
