/*
 * uidcache-import: reading the UIDs another server gave, from
 * dovecot-uidlist or courierimapuiddb, for a new cache to take over.
 *
 * The format of the files and the rules that keep them true through
 * crashes are at the top of uidcache.c; uidcache-private.h is what the
 * parts of the cache share.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "maildir/uidcache-private.h"

/* ---- import ------------------------------------------------------ */

void
import_free(struct import *im)
{
	size_t i;

	for (i = 0; i < im->n; i++)
		free(im->e[i].base);
	free(im->e);
	im->e = NULL;
	im->n = im->cap = 0;
}

/* Split a line into blank-separated tokens (at most max). */
static size_t
tokens(char *line, char **tok, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		tok[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

static int
parse_u32(const char *s, uint32_t max, uint32_t *r)
{
	uint64_t v;

	if (strnum_u64(s, max, &v) == -1)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

/* Add an entry; name is a file name whose base ends at ':' or ';'. */
static int
import_add(struct import *im, uint32_t uid, const char *name, size_t len,
    uint64_t vsize)
{
	struct impent *e;
	size_t blen = strcspn(name, ":;");

	if (blen > len)
		blen = len;
	if (uid == 0 || uid > UC_UID_MAX || !name_ok(name, blen, 0)) {
		im->skipped++;
		return 0;
	}
	if (grow(&im->e, &im->cap, im->n, sizeof(*im->e)) == -1)
		return -1;
	e = &im->e[im->n];
	if ((e->base = strndup(name, blen)) == NULL)
		return -1;
	e->uid = uid;
	e->line = (uint32_t)im->n;
	e->vsize = vsize;
	im->n++;
	return 0;
}

static int
dovecot_entry(struct import *im, int version, char *line)
{
	char *tok[2], *p, *rest;
	uint32_t uid;
	uint64_t vsize = MD_SIZE_UNKNOWN, v;

	p = line + strspn(line, " \t");
	rest = p + strcspn(p, " \t");
	if (*rest == '\0') {
		im->skipped++;
		return 0;
	}
	*rest++ = '\0';
	if (parse_u32(p, UC_UID_MAX, &uid) == -1) {
		im->skipped++;
		return 0;
	}
	if (version == 1) {
		if (tokens(rest, tok, 2) != 1) {
			im->skipped++;
			return 0;
		}
		return import_add(im, uid, tok[0], strlen(tok[0]), vsize);
	}
	/* version 3: "<key><value>" fields, then ":<file name>", which may
	 * hold blanks and runs to the end of the line */
	for (;;) {
		rest += strspn(rest, " \t");
		if (*rest == ':') {
			rest++;
			return import_add(im, uid, rest, strlen(rest), vsize);
		}
		if (*rest == '\0') {
			im->skipped++;
			return 0;
		}
		p = rest;
		rest += strcspn(rest, " \t");
		if (*rest != '\0')
			*rest++ = '\0';
		if (p[0] == 'W' && strnum_u64(p + 1, UINT64_MAX - 1, &v) == 0)
			vsize = v;
	}
}

static int
dovecot_header(struct import *im, char *line, int *version)
{
	char *tok[16];
	size_t n = tokens(line, tok, 16), i;
	int got_v = 0, got_n = 0;

	if (n >= 3 && strcmp(tok[0], "1") == 0) {
		*version = 1;
		return parse_u32(tok[1], UC_UID_MAX, &im->uidvalidity) == 0 &&
		    parse_u32(tok[2], UC_UID_MAX + 1, &im->uidnext) == 0 ?
		    0 : -1;
	}
	if (n < 1 || strcmp(tok[0], "3") != 0)
		return -1;
	*version = 3;
	for (i = 1; i < n; i++) {
		if (tok[i][0] == 'V' &&
		    parse_u32(tok[i] + 1, UC_UID_MAX, &im->uidvalidity) == 0)
			got_v = 1;
		else if (tok[i][0] == 'N' &&
		    parse_u32(tok[i] + 1, UC_UID_MAX + 1, &im->uidnext) == 0)
			got_n = 1;
	}
	return got_v && got_n ? 0 : -1;
}

static int
courier_header(struct import *im, char *line)
{
	char *tok[4];

	if (tokens(line, tok, 4) != 3 ||
	    (strcmp(tok[0], "1") != 0 && strcmp(tok[0], "3") != 0))
		return -1;
	return parse_u32(tok[1], UC_UID_MAX, &im->uidvalidity) == 0 &&
	    parse_u32(tok[2], UC_UID_MAX + 1, &im->uidnext) == 0 ? 0 : -1;
}

static int
courier_entry(struct import *im, char *line)
{
	char *tok[3];
	uint32_t uid;

	if (tokens(line, tok, 3) != 2) {
		im->skipped++;
		return 0;
	}
	/* the UID is whichever token is a number; "uid name" first */
	if (parse_u32(tok[0], UC_UID_MAX, &uid) == 0)
		return import_add(im, uid, tok[1], strlen(tok[1]),
		    MD_SIZE_UNKNOWN);
	if (parse_u32(tok[1], UC_UID_MAX, &uid) == 0)
		return import_add(im, uid, tok[0], strlen(tok[0]),
		    MD_SIZE_UNKNOWN);
	im->skipped++;
	return 0;
}

static int
cmp_imp(const void *a, const void *b)
{
	const struct impent *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
cmp_imp_base(const void *a, const void *b)
{
	const struct impent *x = *(struct impent *const *)a;
	const struct impent *y = *(struct impent *const *)b;
	int r = strcmp(x->base, y->base);

	if (r != 0)
		return r;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Keep one entry per UID and per base (the first in the file for a UID,
 * the lowest UID for a base), sorted by UID. */
static int
import_dedup(struct import *im)
{
	struct impent **byb;
	size_t i, n;

	if (im->n == 0)
		return 0;	/* an empty list: nothing to sort, im->e NULL */
	qsort(im->e, im->n, sizeof(*im->e), cmp_imp);
	for (i = n = 0; i < im->n; i++) {
		if (n > 0 && im->e[n - 1].uid == im->e[i].uid) {
			free(im->e[i].base);
			im->skipped++;
			continue;
		}
		im->e[n++] = im->e[i];
	}
	im->n = n;
	if (n == 0)
		return 0;
	if ((byb = calloc(n, sizeof(*byb))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		byb[i] = &im->e[i];
	qsort(byb, n, sizeof(*byb), cmp_imp_base);
	for (i = 1; i < n; i++)
		if (strcmp(byb[i - 1]->base, byb[i]->base) == 0)
			byb[i]->uid = 0;	/* mark: a later UID of a base */
	free(byb);
	for (i = n = 0; i < im->n; i++) {
		if (im->e[i].uid == 0) {
			free(im->e[i].base);
			im->skipped++;
			continue;
		}
		im->e[n++] = im->e[i];
	}
	im->n = n;
	return 0;
}

/*
 * Read dovecot-uidlist or courierimapuiddb (only the one of from, unless
 * it is UC_FROM_ANY).  1 with *im filled, 0 if neither is there or
 * usable, -1 on error (errno).
 */
int
import_read(const struct uidcache *c, struct import *im, enum uc_from from)
{
	static const char *const files[] = { "dovecot-uidlist",
	    "courierimapuiddb" };
	char path[PATH_MAX], *data, *line, *nl;
	struct stat st;
	size_t f, got;
	int fd, version = 0, first;

	for (f = 0; f < 2; f++) {
		if ((from == UC_FROM_DOVECOT && f != 0) ||
		    (from == UC_FROM_COURIER && f != 1))
			continue;
		memset(im, 0, sizeof(*im));
		im->file = files[f];
		if (path_of(c, files[f], path) == -1)
			return -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			if (errno == ENOENT)
				continue;
			log_warn("%s: cannot read for import", path);
			continue;
		}
		if (fstat(fd, &st) == -1 || st.st_size > IMPORT_FILE_MAX ||
		    (data = malloc((size_t)st.st_size + 1)) == NULL) {
			log_warnx("%s: not imported: unreadable or too large",
			    path);
			close(fd);
			continue;
		}
		if (mapfile_pread(fd, data, (size_t)st.st_size, 0, &got) == -1) {
			log_warn("%s: cannot read for import", path);
			close(fd);
			free(data);
			continue;
		}
		close(fd);
		data[got] = '\0';
		first = 1;
		for (line = data; *line != '\0'; line = nl) {
			nl = line + strcspn(line, "\n");
			if (*nl != '\0')
				*nl++ = '\0';
			if (first) {
				first = 0;
				line[strcspn(line, "\r")] = '\0';
				if ((f == 0 ? dovecot_header(im, line,
				    &version) : courier_header(im, line)) == -1)
					break;
				continue;
			}
			if (line[strspn(line, " \t\r")] == '\0')
				continue;
			line[strcspn(line, "\r")] = '\0';
			if ((f == 0 ? dovecot_entry(im, version, line) :
			    courier_entry(im, line)) == -1) {
				free(data);
				import_free(im);
				return -1;
			}
		}
		free(data);
		if (first || im->uidvalidity == 0 || im->uidnext == 0) {
			log_warnx("%s: header not understood; not imported",
			    path);
			import_free(im);
			continue;
		}
		if (import_dedup(im) == -1) {
			import_free(im);
			return -1;
		}
		if (im->n > 0 && im->e[im->n - 1].uid >= im->uidnext)
			im->uidnext = im->e[im->n - 1].uid + 1;
		return 1;
	}
	return 0;
}

int
import_get(void *arg, size_t i, struct uc_rec *r)
{
	const struct import *im = arg;

	memset(r, 0, sizeof(*r));
	r->uid = im->e[i].uid;
	r->modseq = IMPORT_MODSEQ;
	r->vsize = im->e[i].vsize;
	r->mtime = UC_MTIME_UNKNOWN;
	r->base = im->e[i].base;
	r->info = "";
	return 1;
}
