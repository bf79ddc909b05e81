/*
 * apppass: app passwords.  See apppass.h.
 *
 * cdb file: a standard constant database (the layout common/lib/userdb.c
 * describes), one record per user who has app passwords:
 *
 *	key	the user name as the client types it at login, without a NUL
 *	value	one line per app password, each ended by "\n":
 *
 *		label:selector:created:hash
 *
 *	label		1 to APPPASS_LABEL_MAX bytes of A-Z a-z 0-9 . _ - @ +,
 *			unique within the record
 *	selector	the first APPPASS_SELECTOR characters of the password,
 *			unique within the record
 *	created		seconds since the epoch, decimal
 *	hash		crypt(3) hash of the whole password (the APPPASS_CHARS
 *			characters without dashes), at most APPPASS_HASH_MAX
 *			bytes, starting with "$"
 *
 * A user with no app passwords has no record.  The file is written only
 * whole, by imapd-userdb(8): a new file renamed over the old one.
 */
#include <sys/random.h>

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/apppass.h"
#include "common/lib/strnum.h"
#include "common/lib/userdb.h"
#include "common/lib/wipe.h"

/* 32 letters and digits that cannot be mistaken for one another */
static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
_Static_assert(sizeof(alphabet) == 33, "the alphabet has 32 letters");

/*
 * Hashed against when no stored entry is selected: the cost (yescrypt,
 * libcrypt's default parameters) imapd-userdb gives every app password.
 * No password hashes to it that anyone knows.
 */
static const char dummy_hash[] =
    "$y$j9T$ZF7YD..5yHik5u2B60GId/$fJTVbQcPBtzt4cXLGw3xRVQP.tPUQnsNCRUfd1VSPF4";

static int
label_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || strchr("._-@+", c) != NULL;
}

int
apppass_check_label(const char *label, const char **why_r)
{
	size_t i, len = strlen(label);

	if (len == 0 || len > APPPASS_LABEL_MAX) {
		*why_r = "label: must be 1 to 32 bytes";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!label_char((unsigned char)label[i])) {
			*why_r = "label: may hold only letters, digits and "
			    ". _ - @ +";
			return -1;
		}
	return 0;
}

/* Copy the field [p, p+len) into dst (size bytes); -1 if it does not fit
 * or holds a ':'. */
static int
field(char *dst, size_t size, const char *p, size_t len)
{
	if (len >= size || memchr(p, ':', len) != NULL)
		return -1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

static const char *
parse_line(const char *p, size_t len, struct apppass *a)
{
	const char *f[4], *why, *end = p + len;
	size_t flen[4], i;
	uint64_t created;

	for (i = 0; i < 4; i++) {
		const char *colon = i < 3 ? memchr(p, ':', (size_t)(end - p)) :
		    end;

		if (colon == NULL)
			return "line: expected label:selector:created:hash";
		f[i] = p;
		flen[i] = (size_t)(colon - p);
		p = colon + (i < 3);
	}
	if (field(a->label, sizeof(a->label), f[0], flen[0]) == -1 ||
	    apppass_check_label(a->label, &why) == -1)
		return "label: not a valid label";
	if (flen[1] != APPPASS_SELECTOR ||
	    field(a->selector, sizeof(a->selector), f[1], flen[1]) == -1 ||
	    strspn(a->selector, alphabet) != APPPASS_SELECTOR)
		return "selector: not the start of an app password";
	if (strnum_u64_n(f[2], flen[2], 1ULL << 40, &created) == -1)
		return "created: not a time";
	a->created = (long long)created;
	if (flen[3] == 0 || f[3][0] != '$' ||
	    field(a->hash, sizeof(a->hash), f[3], flen[3]) == -1)
		return "hash: not a crypt(3) hash";
	for (i = 0; i < flen[3]; i++)
		if ((unsigned char)f[3][i] <= ' ' || f[3][i] == 0x7f)
			return "hash: not a crypt(3) hash";
	return NULL;
}

int
apppass_parse(const char *rec, size_t len, struct apppass *a, size_t max,
    size_t *n_r, const char **why_r)
{
	const char *p = rec, *end = rec + len, *nl;
	size_t n = 0, i;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			*why_r = "line: not ended by a newline";
			return -1;
		}
		if (n == max) {
			*why_r = "record: too many app passwords";
			return -1;
		}
		if ((*why_r = parse_line(p, (size_t)(nl - p), &a[n])) != NULL)
			return -1;
		for (i = 0; i < n; i++)
			if (strcmp(a[i].label, a[n].label) == 0 ||
			    strcmp(a[i].selector, a[n].selector) == 0) {
				*why_r = "record: a label or selector is "
				    "given twice";
				return -1;
			}
		n++;
		p = nl + 1;
	}
	*n_r = n;
	return 0;
}

int
apppass_format(const struct apppass *a, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf_addf(out, "%s:%s:%lld:%s\n", a[i].label, a[i].selector,
		    a[i].created, a[i].hash) == -1)
			return -1;
	return 0;
}

int
apppass_read(const char *path, const char *user, struct apppass *a,
    size_t max, size_t *n_r, const char **why_r)
{
	char rec[APPPASS_RECORD_MAX];
	struct cdb cdb;
	const char *why = NULL;
	unsigned vlen = 0;
	int fd, r, ret = -1;

	*n_r = 0;
	*why_r = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*why_r = strerror(errno);
		return -1;
	}
	if (cdb_init(&cdb, fd) == -1) {
		close(fd);
		*why_r = "not a valid cdb file";
		errno = EINVAL;
		return -1;
	}
	r = cdb_find(&cdb, user, (unsigned)strlen(user));
	if (r < 0)
		*why_r = "corrupt cdb file";
	else if (r == 0)
		ret = 0;
	else if ((vlen = cdb_datalen(&cdb)) > sizeof(rec))
		*why_r = "corrupt record: too long";
	else if (cdb_read(&cdb, rec, vlen, cdb_datapos(&cdb)) == -1)
		*why_r = "corrupt record: outside the file";
	else if (apppass_parse(rec, vlen, a, max, n_r, &why) == -1)
		*why_r = why;
	else
		ret = *n_r > 0;
	if (vlen <= sizeof(rec))
		wipe(rec, vlen);
	cdb_free(&cdb);
	close(fd);
	if (ret == -1)
		errno = EINVAL;
	return ret;
}

int
apppass_generate(char *text, char *plain)
{
	unsigned char rnd[APPPASS_CHARS];
	size_t i, t = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < APPPASS_CHARS; i++) {
		/* 256 is a multiple of 32: every letter equally likely */
		plain[i] = alphabet[rnd[i] & 31];
		if (i > 0 && i % 4 == 0)
			text[t++] = '-';
		text[t++] = plain[i];
	}
	plain[APPPASS_CHARS] = '\0';
	text[t] = '\0';
	wipe(rnd, sizeof(rnd));
	return 0;
}

int
apppass_normalize(const char *pass, char *plain)
{
	size_t n = 0, i;
	unsigned char c;

	for (i = 0; pass[i] != '\0'; i++) {
		c = (unsigned char)pass[i];
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (n == APPPASS_CHARS || strchr(alphabet, c) == NULL ||
		    c == '\0') {
			wipe(plain, n);
			return -1;
		}
		plain[n++] = (char)c;
	}
	plain[n] = '\0';
	if (n != APPPASS_CHARS) {
		wipe(plain, n);
		return -1;
	}
	return 0;
}

int
apppass_verify(const char *path, const char *user, const char *pass,
    char *label, const char **why_r)
{
	struct apppass a[APPPASS_MAX];
	char plain[APPPASS_CHARS + 1];
	const char *hash = dummy_hash;
	size_t n = 0, i, found = APPPASS_MAX;
	int r, ok;

	label[0] = '\0';
	*why_r = NULL;
	if (apppass_normalize(pass, plain) == -1)
		return 0;
	r = apppass_read(path, user, a, APPPASS_MAX, &n, why_r);
	if (r == -1 && errno == ENOENT) {
		/* no file: no user has app passwords */
		*why_r = NULL;
		wipe(plain, sizeof(plain));
		return 0;
	}
	for (i = 0; r == 1 && i < n; i++)
		if (memcmp(a[i].selector, plain, APPPASS_SELECTOR) == 0) {
			found = i;
			hash = a[i].hash;
		}
	ok = userdb_hash_matches(hash, plain);
	wipe(plain, sizeof(plain));
	if (ok && found < n) {
		memcpy(label, a[found].label, strlen(a[found].label) + 1);
		r = 1;
	} else if (r != -1)
		r = 0;
	wipe(a, sizeof(a));
	return r;
}
