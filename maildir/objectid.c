/*
 * objectid: MAILBOXID, EMAILID and THREADID of RFC 8474.  The formats and
 * where each lives are in objectid.h.
 *
 * The file imapd-mailboxid is only ever created, never rewritten in
 * place: a new one is written under a temporary name, fsynced, and
 * link()ed to its name, which fails if another session got there first
 * (then its value is the folder's).  Where link() is refused (some FUSE
 * file systems), a rename without replacement stands in for it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/safefile.h"
#include "maildir/folder.h"
#include "maildir/objectid.h"

#define ID_BYTES	16
#define FIELD		",E="
#define FIELD_LEN	3
#define TRIES		3

static const char hexdigits[] = "0123456789abcdef";

int
objectid_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > OBJECTID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* letter followed by the hex digits of the ID_BYTES bytes b */
static void
format_id(char letter, const unsigned char *b, char out[OBJECTID_LEN + 1])
{
	size_t i;

	out[0] = letter;
	for (i = 0; i < ID_BYTES; i++) {
		out[1 + 2 * i] = hexdigits[b[i] >> 4];
		out[2 + 2 * i] = hexdigits[b[i] & 0x0f];
	}
	out[OBJECTID_LEN] = '\0';
}

/* 1 if s (len bytes) is an id of this store with the given letter. */
static int
ours(const char *s, size_t len, char letter)
{
	size_t i;

	if (len != OBJECTID_LEN || s[0] != letter)
		return 0;
	for (i = 1; i < len; i++)
		if (strchr(hexdigits, s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* ---- MAILBOXID --------------------------------------------------------- */

/* Read the folder's id into out: 1, 0 if there is no file, -1 with
 * errno EBADMSG if it holds no id, or the error of the read. */
static int
mailbox_read(int dirfd, char out[OBJECTID_LEN + 1])
{
	struct buf b;
	size_t len;

	buf_init(&b, 64);
	if (safefile_read(dirfd, OBJECTID_FILE, &b) == -1) {
		buf_free(&b);
		if (errno == ENOENT)
			return 0;
		if (errno == EMSGSIZE)
			errno = EBADMSG;
		return -1;
	}
	len = b.len;
	if (len > 0 && b.data[len - 1] == '\n')
		len--;
	if (!ours(b.data, len, 'F')) {
		buf_free(&b);
		errno = EBADMSG;
		return -1;
	}
	memcpy(out, b.data, OBJECTID_LEN);
	out[OBJECTID_LEN] = '\0';
	buf_free(&b);
	return 1;
}

/* Put tmp in place as the id file without replacing one that is there:
 * 0, or -1 with errno (EEXIST if another session made it first). */
static int
mailbox_place(int dirfd, const char *tmp)
{
	if (linkat(dirfd, tmp, dirfd, OBJECTID_FILE, 0) == 0)
		return 0;
	if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP &&
	    errno != EMLINK)
		return -1;
	if (renameat2(dirfd, tmp, dirfd, OBJECTID_FILE, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	/* neither (FAT, some FUSE file systems): look, then rename */
	if (faccessat(dirfd, OBJECTID_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	return renameat(dirfd, tmp, dirfd, OBJECTID_FILE);
}

/* Make a new id and record it, replacing a damaged file when replace is
 * set.  1 with out filled, 0 if another session recorded one first, -1
 * with errno. */
static int
mailbox_make(int dirfd, int replace, char out[OBJECTID_LEN + 1])
{
	unsigned char rnd[ID_BYTES];
	char tmp[128], line[OBJECTID_LEN + 2];
	int fd, r, e;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	format_id('F', rnd, out);
	memcpy(line, out, OBJECTID_LEN);
	line[OBJECTID_LEN] = '\n';
	if (replace)
		return safefile_replace(dirfd, OBJECTID_FILE, line,
		    OBJECTID_LEN + 1, 0600) == -1 ? -1 : 1;
	if ((fd = safefile_tmp(dirfd, OBJECTID_FILE, tmp, sizeof(tmp), 0600))
	    == -1)
		return -1;
	if (safefile_write(fd, line, OBJECTID_LEN + 1) == -1 ||
	    fsync(fd) == -1) {
		e = errno;
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	if (close(fd) == -1) {
		e = errno;
		(void)unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	r = mailbox_place(dirfd, tmp);
	e = errno;
	(void)unlinkat(dirfd, tmp, 0);
	if (r == -1) {
		errno = e;
		return e == EEXIST ? 0 : -1;
	}
	/* the name must outlive a crash, or the folder's id could change */
	if (fsync(dirfd) == -1)
		return -1;
	return 1;
}

int
objectid_mailbox(int dirfd, char out[OBJECTID_LEN + 1])
{
	int i, r, damaged = 0;

	for (i = 0; i < TRIES; i++) {
		r = mailbox_read(dirfd, out);
		if (r == 1)
			return 0;
		if (r == -1 && errno != EBADMSG)
			return -1;
		if (r == -1 && !damaged) {
			log_warnx("%s does not hold a folder id: the folder "
			    "gets a new one, and clients that knew the old "
			    "one forget what they knew of it",
			    OBJECTID_FILE);
			damaged = 1;
		}
		r = mailbox_make(dirfd, damaged, out);
		if (r != 0)
			return r == 1 ? 0 : -1;
		/* another session made it meanwhile: read its id */
	}
	errno = EAGAIN;
	return -1;
}

int
objectid_folder(const char *path, char out[OBJECTID_LEN + 1])
{
	int fd, r, e;

	if ((fd = folder_open(path)) == -1)
		return -1;
	r = objectid_mailbox(fd, out);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* ---- EMAILID and THREADID ------------------------------------------- */

/* The EMAILID a base name carries in its field, or NULL. */
static const char *
carried(const char *base)
{
	const char *p = strchr(base, ','), *end;

	while (p != NULL) {
		end = strchr(p + 1, ',');
		if (strncmp(p, FIELD, FIELD_LEN) == 0 &&
		    ours(p + FIELD_LEN, (size_t)((end != NULL ? end :
		    p + strlen(p)) - (p + FIELD_LEN)), 'M'))
			return p + FIELD_LEN;
		p = end;
	}
	return NULL;
}

/* letter and the first ID_BYTES of SHA-256 of p (len bytes) in hex */
static void
digest(char letter, const void *p, size_t len, char out[OBJECTID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < ID_BYTES)
		fatalx("SHA-256 is not available");
	format_id(letter, md, out);
}

void
objectid_email(const char *base, char out[OBJECTID_LEN + 1])
{
	const char *c;

	if ((c = carried(base)) != NULL) {
		memcpy(out, c, OBJECTID_LEN);
		out[OBJECTID_LEN] = '\0';
		return;
	}
	digest('M', base, strlen(base), out);
}

void
objectid_thread(const char *root, size_t len, char out[OBJECTID_LEN + 1])
{
	digest('T', root, len, out);
}

int
objectid_carry(char *base, size_t size, const char *emailid)
{
	size_t len = strlen(base);

	if (!ours(emailid, strlen(emailid), 'M')) {
		errno = EINVAL;
		return -1;
	}
	if (len + FIELD_LEN + OBJECTID_LEN + 1 > size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(base + len, FIELD, FIELD_LEN);
	memcpy(base + len + FIELD_LEN, emailid, OBJECTID_LEN + 1);
	return 0;
}
