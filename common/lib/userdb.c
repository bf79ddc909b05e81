/*
 * userdb: the virtual-user database.  See userdb.h.
 *
 * Text format (the file imapd-userdb(8) compiles), one user a line:
 *
 *	name:hash:uid:gid:home[:maildir[:quota]]
 *
 *	name	1 to 255 bytes of A-Z a-z 0-9 . _ @ + -, not starting with
 *		"-" or "."
 *	hash	a crypt(3) hash: "$y$", "$gy$", "$7$", "$2b$", "$2y$", "$6$"
 *		or "$5$", then the method's parameters, salt and hash, all in
 *		A-Z a-z 0-9 . / = with "$" between the parts; or anything
 *		starting with "!" or "*" for a locked account
 *	uid	decimal, 0 to 4294967294
 *	gid	decimal, 0 to 4294967294
 *	home	an absolute path with no ".." component
 *	maildir	optional; an absolute path or one starting with "~/", with no
 *		".." component; empty when a quota follows (then
 *		mail_location applies)
 *	quota	optional; a Maildir++ quota definition (quotadef.h), such
 *		as 1000000000S,100000C
 *
 * No field may contain ':' and no byte of a line may be a control
 * character (0x00-0x1f, 0x7f).  A line is at most USERDB_RECORD_MAX bytes.
 * In the text file, lines are ended by "\n"; empty lines, lines of only
 * blanks and lines whose first non-blank byte is '#' are ignored.
 *
 * cdb file: a standard constant database (the layout of D. J. Bernstein's
 * cdb, as written by tinycdb: a 2048-byte table of 256 hash-table
 * positions and lengths, then the records, then the hash tables, every
 * number 32 bits little-endian).  There is one record per user:
 *
 *	key	the user name, without a NUL
 *	value	the user's whole line exactly as in the text file, without
 *		its newline
 *
 * so the one parser below checks a line when the file is built and again
 * when it is read back.  A record whose value does not parse, is longer
 * than USERDB_RECORD_MAX bytes, or names another user than its key means
 * the file is corrupt.
 */
#include <cdb.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/quotadef.h"
#include "common/lib/strnum.h"
#include "common/lib/userdb.h"
#include "common/lib/wipe.h"

/* (uid_t)-1 is "no change" to setresuid(2), so it is never a user's id */
#define ID_MAX		4294967294ULL

#define STR(x)		#x
#define XSTR(x)		STR(x)
#define LAYOUT	"expected name:hash:uid:gid:home[:maildir[:quota]]"

_Static_assert(USERDB_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "libcrypt cannot hash passwords of USERDB_PASSWORD_MAX bytes");

enum field {
	F_NAME, F_HASH, F_UID, F_GID, F_HOME, F_MAILDIR, F_QUOTA, NFIELDS
};

struct span {
	const char	*p;
	size_t		 len;
};

static const char *const ctl_why[NFIELDS] = {
	"name: contains a control character",
	"hash: contains a control character",
	"uid: contains a control character",
	"gid: contains a control character",
	"home: contains a control character",
	"maildir: contains a control character",
	"quota: contains a control character",
};

static const char *const missing_why[NFIELDS] = {
	"name: missing; " LAYOUT,
	"hash: missing; " LAYOUT,
	"uid: missing; " LAYOUT,
	"gid: missing; " LAYOUT,
	"home: missing; " LAYOUT,
	"maildir: missing; " LAYOUT,
	"quota: missing; " LAYOUT,
};

/* The method prefixes accepted in a hash: all salted and slow or
 * iterated; DES, MD5 and the like are refused. */
static const char *const hash_ids[] = {
	"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$6$", "$5$",
};

static int
isctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
isalnum_ascii(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

/* A character of crypt(3)'s alphabet, or of "rounds=N" parameters. */
static int
ishashchar(unsigned char c)
{
	return isalnum_ascii(c) || c == '.' || c == '/' || c == '=';
}

/*
 * Cut line into fields at ':'.  Control characters are refused here, so
 * the reason can name the field they are in.
 */
static const char *
split(const char *line, size_t len, struct span f[NFIELDS], size_t *n_r)
{
	size_t i, start = 0, n = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ':') {
			if (!isctl((unsigned char)line[i]))
				continue;
			if (line[i] == '\r' && i + 1 == len)
				return "line: ends with a carriage return "
				    "(DOS line ending?)";
			return ctl_why[n];
		}
		if (i < len && n == NFIELDS - 1)
			return "line: too many fields; " LAYOUT;
		f[n].p = line + start;
		f[n].len = i - start;
		n++;
		start = i + 1;
	}
	*n_r = n;
	return NULL;
}

int
userdb_check_name(const char *name, size_t len, const char **why_r)
{
	size_t i;

	if (len == 0) {
		*why_r = "name: must not be empty";
		return -1;
	}
	if (len > USERDB_NAME_MAX) {
		*why_r = "name: longer than " XSTR(USERDB_NAME_MAX) " bytes";
		return -1;
	}
	if (name[0] == '-' || name[0] == '.') {
		*why_r = "name: must not start with - or .";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!isalnum_ascii((unsigned char)name[i]) &&
		    strchr("._@+-", name[i]) == NULL) {
			*why_r = "name: may hold only letters, digits and "
			    ". _ @ + -";
			return -1;
		}
	return 0;
}

static const char *
check_hash(const char *h, size_t len)
{
	size_t i, idlen = 0, last = 0;

	if (len == 0)
		return "hash: must not be empty (use ! to lock an account)";
	if (len >= CRYPT_OUTPUT_SIZE)
		return "hash: too long for a crypt(3) hash";
	if (h[0] == '!' || h[0] == '*') {
		/* locked: "!", "*", "!!", "*LK*", "!$6$..." */
		for (i = 1; i < len; i++)
			if (!ishashchar((unsigned char)h[i]) &&
			    strchr("$!*", h[i]) == NULL)
				return "hash: a locked hash may hold only "
				    "crypt(3) characters";
		return NULL;
	}
	if (h[0] != '$')
		return "hash: must be a crypt(3) hash starting with $, or "
		    "start with ! or * to lock the account";
	for (i = 0; i < sizeof(hash_ids) / sizeof(hash_ids[0]); i++) {
		idlen = strlen(hash_ids[i]);
		if (len > idlen && memcmp(h, hash_ids[i], idlen) == 0)
			break;
	}
	if (i == sizeof(hash_ids) / sizeof(hash_ids[0]))
		return "hash: method not supported; use $y$ (yescrypt), $gy$, "
		    "$7$, $2b$, $2y$, $6$ or $5$";
	for (i = idlen; i < len; i++) {
		if (h[i] == '$')
			last = i;
		else if (!ishashchar((unsigned char)h[i]))
			return "hash: holds a character that cannot be in a "
			    "crypt(3) hash";
	}
	/* parameters or salt, then "$", then a non-empty hash */
	if (last == 0 || last == idlen || last + 1 == len)
		return "hash: incomplete crypt(3) hash";
	return NULL;
}

static int
has_dotdot(const char *p, size_t len)
{
	size_t i = 0, start;

	while (i < len) {
		while (i < len && p[i] == '/')
			i++;
		start = i;
		while (i < len && p[i] != '/')
			i++;
		if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
			return 1;
	}
	return 0;
}

static const char *
check_home(const char *p, size_t len)
{
	if (len == 0 || p[0] != '/')
		return "home: must be an absolute path";
	if (has_dotdot(p, len))
		return "home: must not contain a .. component";
	return NULL;
}

static const char *
check_maildir(const char *p, size_t len)
{
	if (len == 0)
		return "maildir: must not be empty (leave out the last colon)";
	if (p[0] != '/' && !(len >= 2 && p[0] == '~' && p[1] == '/'))
		return "maildir: must be an absolute path or start with ~/";
	if (has_dotdot(p, len))
		return "maildir: must not contain a .. component";
	return NULL;
}

static const char *
check_id(const struct span *f, enum field which, uint64_t *r)
{
	if (strnum_u64_n(f->p, f->len, ID_MAX, r) == 0)
		return NULL;
	return which == F_UID ? "uid: must be a number from 0 to 4294967294" :
	    "gid: must be a number from 0 to 4294967294";
}

int
userdb_parse_line(const char *line, size_t len, struct userdb_entry *e_r,
    const char **why_r)
{
	struct span f[NFIELDS];
	uint64_t uid = 0, gid = 0;
	const char *why = NULL;
	size_t n = 0, i;

	memset(e_r, 0, sizeof(*e_r));
	if (len > USERDB_RECORD_MAX) {
		*why_r = "line: longer than " XSTR(USERDB_RECORD_MAX) " bytes";
		return -1;
	}
	if ((why = split(line, len, f, &n)) != NULL) {
		*why_r = why;
		return -1;
	}
	for (i = 0; i < NFIELDS && why == NULL; i++) {
		if (i >= n) {
			if (i < F_MAILDIR)
				why = missing_why[i];
			break;
		}
		switch (i) {
		case F_NAME:
			(void)userdb_check_name(f[i].p, f[i].len, &why);
			break;
		case F_HASH:
			why = check_hash(f[i].p, f[i].len);
			break;
		case F_UID:
			why = check_id(&f[i], F_UID, &uid);
			break;
		case F_GID:
			why = check_id(&f[i], F_GID, &gid);
			break;
		case F_HOME:
			why = check_home(f[i].p, f[i].len);
			break;
		case F_MAILDIR:
			/* empty: only to reach the quota field */
			if (f[i].len > 0 || n <= F_QUOTA)
				why = check_maildir(f[i].p, f[i].len);
			break;
		case F_QUOTA:
			if (f[i].len == 0)
				why = "quota: must not be empty (leave out the "
				    "last colon)";
			else if (quotadef_parse(f[i].p, f[i].len,
			    &e_r->quota) == -1)
				why = "quota: must be a Maildir++ quota "
				    "such as 1000000000S,100000C";
			break;
		}
	}
	if (why != NULL) {
		*why_r = why;
		return -1;
	}
	e_r->uid = (uid_t)uid;
	e_r->gid = (gid_t)gid;
	e_r->name = strndup(f[F_NAME].p, f[F_NAME].len);
	e_r->hash = strndup(f[F_HASH].p, f[F_HASH].len);
	e_r->home = strndup(f[F_HOME].p, f[F_HOME].len);
	if (n > F_MAILDIR && f[F_MAILDIR].len > 0)
		e_r->maildir = strndup(f[F_MAILDIR].p, f[F_MAILDIR].len);
	if (e_r->name == NULL || e_r->hash == NULL || e_r->home == NULL ||
	    (n > F_MAILDIR && f[F_MAILDIR].len > 0 && e_r->maildir == NULL)) {
		userdb_entry_free(e_r);
		*why_r = "line: out of memory";
		return -1;
	}
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
	else if ((size_t)n >= errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);	/* mark the cut */
}

/* Read the record cdb_find() found into e_r: 1, or -1 with err set. */
static int
read_record(struct cdb *cdb, const char *path, const char *user,
    struct userdb_entry *e_r, char *err, size_t errlen)
{
	char rec[USERDB_RECORD_MAX];
	unsigned vlen = cdb_datalen(cdb);
	const char *why;
	int ret = -1;

	if (vlen > sizeof(rec)) {
		seterr(err, errlen, "%s: corrupt record for %s: longer than "
		    "%d bytes", path, user, USERDB_RECORD_MAX);
		return -1;
	}
	if (cdb_read(cdb, rec, vlen, cdb_datapos(cdb)) == -1)
		seterr(err, errlen, "%s: corrupt record for %s: outside the "
		    "file", path, user);
	else if (userdb_parse_line(rec, vlen, e_r, &why) == -1)
		seterr(err, errlen, "%s: corrupt record for %s: %s", path,
		    user, why);
	else if (strcmp(e_r->name, user) != 0) {
		userdb_entry_free(e_r);
		seterr(err, errlen, "%s: corrupt record for %s: it names "
		    "another user", path, user);
	} else
		ret = 1;
	wipe(rec, vlen);
	return ret;
}

int
userdb_lookup(const char *path, const char *user, struct userdb_entry *e_r,
    char *err, size_t errlen)
{
	struct cdb cdb;
	const char *why;
	size_t ulen;
	int fd, r, ret;

	memset(e_r, 0, sizeof(*e_r));
	seterr(err, errlen, "%s", "");
	if (user == NULL)
		return 0;
	ulen = strlen(user);
	if (userdb_check_name(user, ulen, &why) == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		seterr(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (cdb_init(&cdb, fd) == -1) {
		seterr(err, errlen, "%s: not a valid cdb file", path);
		close(fd);
		return -1;
	}
	r = cdb_find(&cdb, user, (unsigned)ulen);
	if (r < 0) {
		seterr(err, errlen, "%s: corrupt cdb file", path);
		ret = -1;
	} else if (r == 0)
		ret = 0;
	else
		ret = read_record(&cdb, path, user, e_r, err, errlen);
	cdb_free(&cdb);
	close(fd);
	return ret;
}

/* crypt_rn with a zeroed work area that is wiped afterwards; the result
 * (NULL on failure, errno set) is copied to out, which has size bytes. */
static int
hash_with(const char *password, const char *setting, char *out, size_t size)
{
	struct crypt_data *cd;
	const char *h;
	size_t hlen;
	int ret = -1, saved = 0;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	if ((h = crypt_rn(password, setting, cd, sizeof(*cd))) == NULL)
		saved = errno;
	else if ((hlen = strlen(h)) >= size)
		saved = ERANGE;
	else {
		memcpy(out, h, hlen + 1);
		ret = 0;
	}
	wipe(cd, sizeof(*cd));
	free(cd);
	if (ret == -1)
		errno = saved;
	return ret;
}

static int
password_ok(const char *password)
{
	size_t len;

	if (password == NULL)
		return 0;
	len = strnlen(password, USERDB_PASSWORD_MAX + 1);
	return len > 0 && len <= USERDB_PASSWORD_MAX;
}

int
userdb_hash_matches(const char *hash, const char *password)
{
	char out[CRYPT_OUTPUT_SIZE];
	size_t hlen;
	int ok = 0;

	if (hash == NULL || hash[0] != '$' || !password_ok(password))
		return 0;
	hlen = strlen(hash);
	if (hash_with(password, hash, out, sizeof(out)) == 0 &&
	    strlen(out) == hlen && wipe_memcmp(out, hash, hlen) == 0)
		ok = 1;
	wipe(out, sizeof(out));
	return ok;
}

int
userdb_verify(const struct userdb_entry *e, const char *password)
{
	if (e == NULL || e->uid == 0)
		return 0;
	return userdb_hash_matches(e->hash, password);
}

/*
 * The setting (method, cost and salt) to hash with for a user who is not
 * there: the hash of the first of the file's first few records that has a
 * usable one, so that the work is what the site's own users cost.  0, or
 * -1 if there is none (or no file).
 */
static int
absent_setting(const char *path, char *out, size_t size)
{
	char rec[USERDB_RECORD_MAX];
	struct userdb_entry e;
	struct cdb cdb;
	const char *why;
	unsigned pos, vlen, n;
	int fd, ret = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (cdb_init(&cdb, fd) == -1) {
		close(fd);
		return -1;
	}
	cdb_seqinit(&pos, &cdb);
	for (n = 0; ret == -1 && n < 16 && cdb_seqnext(&pos, &cdb) > 0; n++) {
		vlen = cdb_datalen(&cdb);
		if (vlen > sizeof(rec) ||
		    cdb_read(&cdb, rec, vlen, cdb_datapos(&cdb)) == -1)
			break;
		if (userdb_parse_line(rec, vlen, &e, &why) == 0) {
			if (e.hash[0] == '$' && strlen(e.hash) < size) {
				memcpy(out, e.hash, strlen(e.hash) + 1);
				ret = 0;
			}
			userdb_entry_free(&e);
		}
		wipe(rec, vlen);
	}
	cdb_free(&cdb);
	close(fd);
	return ret;
}

void
userdb_verify_absent(const char *path, const char *password)
{
	char setting[CRYPT_OUTPUT_SIZE], out[CRYPT_OUTPUT_SIZE];

	if (!password_ok(password))
		return;		/* userdb_verify does not hash these either */
	if (absent_setting(path, setting, sizeof(setting)) == -1 &&
	    crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL)
		return;
	(void)hash_with(password, setting, out, sizeof(out));
	wipe(out, sizeof(out));
	wipe(setting, sizeof(setting));
}

int
userdb_hash(const char *password, const char *method, char *out,
    size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *prefix;

	if (method == NULL || strcmp(method, "yescrypt") == 0)
		prefix = "$y$";
	else if (strcmp(method, "sha512") == 0)
		prefix = "$6$";
	else {
		errno = EINVAL;
		return -1;
	}
	if (!password_ok(password)) {
		errno = EINVAL;
		return -1;
	}
	/* count 0: the method's default cost; no rbytes: libcrypt draws the
	 * salt from the kernel's random source itself */
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL)
		return -1;
	return hash_with(password, setting, out, outlen);
}

void
userdb_entry_free(struct userdb_entry *e)
{
	if (e == NULL)
		return;
	wipe_str(e->hash);
	free(e->name);
	free(e->hash);
	free(e->home);
	free(e->maildir);
	memset(e, 0, sizeof(*e));
}
