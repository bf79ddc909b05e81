/*
 * message: FETCH and SEARCH over one message.  See message.h.
 *
 * Everything in the module reads the MIME tree of mime.c and writes IMAP
 * syntax into a bounded buf.  This file opens and reads the message and
 * writes IMAP strings; the rest is one file per job:
 *
 *	message-envelope.c	ENVELOPE and the address parser
 *	message-bodystructure.c	BODY and BODYSTRUCTURE
 *	message-section.c	section specifications and their bytes
 *	message-search.c	SEARCH, and the text a full-text index reads
 *
 * and message-private.h is what they share.  The only recursion is over
 * the MIME tree when writing BODYSTRUCTURE, whose depth the parser bounds
 * (MIME_DEPTH_MAX).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/imap/imapdate.h"
#include "common/imap/message-private.h"
#include "common/lib/mapfile.h"
#include "common/lib/strnum.h"

/* the first read of message_read() when only the header is wanted */
#define HEADER_READ		8192

struct message *
message_from_mem(const char *data, size_t len)
{
	struct message *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->data = len > 0 ? data : "";
	m->len = len;
	m->fd = -1;
	m->hdr_in = 1;
	m->mtime = INT64_MIN;
	return m;
}

/* Open a regular file; its size in *size_r.  -1 with *errno_r set. */
static int
open_file(int dirfd, const char *relpath, size_t *size_r, int64_t *mtime_r,
    int *errno_r)
{
	struct stat st;
	int fd, e;

	/* a message file is never a symbolic link: one that is could point
	 * anywhere the mail user can read.  Reading a message leaves its
	 * access time alone: otherwise the first read of each message
	 * (every one, for a client's first FETCH of a folder) writes its
	 * inode back to disk.  Only the file's owner may ask that (EPERM
	 * for a file of another user the session may read). */
	fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOATIME);
	if (fd == -1 && errno == EPERM)
		fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd == -1) {
		*errno_r = errno;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((uint64_t)st.st_size > SIZE_MAX / 2)
		e = EFBIG;
	else {
		*size_r = (size_t)st.st_size;
		*mtime_r = (int64_t)st.st_mtim.tv_sec;
		return fd;
	}
	close(fd);
	*errno_r = e;
	return -1;
}

struct message *
message_open(int dirfd, const char *relpath, int *errno_r)
{
	struct message *m;
	struct mapfile view;
	size_t size;
	int64_t mtime;
	int fd;

	if ((fd = open_file(dirfd, relpath, &size, &mtime, errno_r)) == -1)
		return NULL;
	/* mapped, or read where another host could pull the pages away
	 * (see mapfile.h) */
	if (mapfile_open(fd, size, 0, &view) == -1) {
		*errno_r = errno;
		close(fd);
		return NULL;
	}
	close(fd);
	if ((m = message_from_mem((const char *)view.data, size)) == NULL) {
		mapfile_close(&view);
		*errno_r = ENOMEM;
		return NULL;
	}
	m->view = view;
	m->mtime = mtime;
	return m;
}

/* Whether data holds an empty line, which ends the header. */
static int
header_complete(const char *d, size_t len)
{
	const char *p = d, *end = d + len;

	if (len > 0 && (d[0] == '\n' || (d[0] == '\r' && len > 1 &&
	    d[1] == '\n')))
		return 1;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end &&
		    p[1] == '\n')))
			return 1;
	}
	return 0;
}

/* What was read is all there is: no more reading. */
static void
read_done(struct message *m)
{
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	m->hdr_in = 1;
}

/* Have the first want bytes of the file (all of a shorter one) in the
 * store.  0, or -1 with errno set. */
static int
read_upto(struct message *m, size_t want)
{
	struct buf *b = m->store;
	ssize_t n;

	if (want > m->size)
		want = m->size;
	if (b->len >= want)
		return 0;
	if (buf_reserve(b, want - b->len) == -1)
		return -1;
	while (b->len < want) {
		if ((n = read(m->fd, b->data + b->len, want - b->len)) == -1) {
			if (errno == EINTR)
				continue;
			b->data[b->len] = '\0';
			return -1;
		}
		if (n == 0) {
			/* shorter than it was: what there is is the file */
			m->size = b->len;
			break;
		}
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	if (m->data != b->data) {
		/* the header parse points into the old bytes */
		mime_free(m->hdr);
		m->hdr = NULL;
	}
	m->data = b->data;
	m->len = b->len;
	if (m->len == m->size)
		read_done(m);
	return 0;
}

/* All of the message: read, or mapped when large.  0 or -1. */
static int
load_all(struct message *m)
{
	if (m->fd == -1)
		return 0;
	if (m->size <= MESSAGE_READ_MAX && read_upto(m, m->size) == 0)
		return 0;
	if (mapfile_open(m->fd, m->size, 0, &m->view) == -1)
		return -1;
	mime_free(m->hdr);
	m->hdr = NULL;
	m->data = (const char *)m->view.data;
	m->len = m->size;
	read_done(m);
	return 0;
}

/* At least the whole header.  0 or -1. */
static int
load_header(struct message *m)
{
	size_t want = HEADER_READ;

	while (!m->hdr_in) {
		if (want > MESSAGE_READ_MAX)
			return load_all(m);
		if (read_upto(m, want) == -1)
			return load_all(m);
		if (header_complete(m->data, m->len))
			m->hdr_in = 1;
		want *= 2;
	}
	return 0;
}

struct message *
message_read(int dirfd, const char *relpath, struct buf *store, int whole,
    int *errno_r)
{
	struct message *m;
	size_t size;
	int64_t mtime;
	int fd;

	if ((fd = open_file(dirfd, relpath, &size, &mtime, errno_r)) == -1)
		return NULL;
	if ((m = message_from_mem("", 0)) == NULL) {
		close(fd);
		*errno_r = ENOMEM;
		return NULL;
	}
	buf_reset(store);
	m->fd = fd;
	m->store = store;
	m->size = size;
	m->mtime = mtime;
	m->hdr_in = 0;
	if (size == 0)
		read_done(m);
	else if (whole && load_all(m) == -1) {
		*errno_r = errno;
		message_free(m);
		return NULL;
	}
	return m;
}

void
message_free(struct message *m)
{
	if (m == NULL)
		return;
	mime_free(m->parts);
	mime_free(m->hdr);
	mapfile_close(&m->view);
	if (m->fd != -1)
		close(m->fd);
	free(m);
}

int64_t
message_mtime(const struct message *m)
{
	return m->mtime;
}

const char *
message_data(struct message *m, size_t *len_r)
{
	(void)load_all(m);
	*len_r = m->len;
	return m->data;
}

const struct mime_part *
message_parts(struct message *m)
{
	if (m->parts == NULL && load_all(m) == 0)
		m->parts = mime_parse(m->data, m->len);
	return m->parts;
}

/* The top-level header: from the full parse if there is one. */
const struct mime_part *
top_header(struct message *m)
{
	if (m->parts != NULL)
		return m->parts;
	if (m->hdr == NULL && load_header(m) == 0)
		m->hdr = mime_parse_header_only(m->data, m->len);
	return m->hdr;
}

int
message_header_last(struct message *m, const char *name, struct buf *out)
{
	const struct mime_part *h = top_header(m);

	if (h == NULL)
		return -1;
	return mime_header_get_last(h, name, out);
}

uint64_t
message_vsize(struct message *m)
{
	if (!m->have_vsize) {
		(void)load_all(m);
		m->vsize = mime_crlf_size(m->data, 0, m->len, NULL);
		m->have_vsize = 1;
	}
	return m->vsize;
}

int64_t
message_date(struct message *m)
{
	return message_date_tz(m, NULL);
}

int64_t
message_date_tz(struct message *m, int *tzoff_r)
{
	const struct mime_part *h = top_header(m);
	struct buf b;
	int64_t t = INT64_MIN;
	int tz = 0;

	if (h == NULL)
		return INT64_MIN;
	buf_init(&b, SCRATCH_MAX);
	if (mime_header_get_last(h, "Date", &b) == 1 &&
	    imapdate_parse_rfc5322(buf_cstr(&b), b.len, &t, &tz) == -1)
		t = INT64_MIN;
	buf_free(&b);
	if (tzoff_r != NULL)
		*tzoff_r = tz;
	return t;
}

/* --- IMAP strings --------------------------------------------------- */

/* Append s as a quoted string or a literal; a NUL is sent as U+FFFD. */
int
imap_string(struct buf *out, const char *s, size_t len)
{
	size_t i, nul = 0, run;
	int quote = len <= QUOTED_MAX;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0')
			nul++;
		if (c >= 0x80 || c == '\0' || c == '\r' || c == '\n')
			quote = 0;
	}
	if (!quote) {
		if (buf_addf(out, "{%zu}\r\n", len + nul * 2) == -1)
			return -1;
		for (i = 0, run = 0; i < len; i++) {
			if (s[i] != '\0')
				continue;
			if (buf_add(out, s + run, i - run) == -1 ||
			    buf_add(out, "\xef\xbf\xbd", 3) == -1)
				return -1;
			run = i + 1;
		}
		return buf_add(out, s + run, len - run);
	}
	if (buf_addc(out, '"') == -1)
		return -1;
	for (i = 0, run = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_add(out, s + run, i - run) == -1 ||
		    buf_addc(out, '\\') == -1)
			return -1;
		run = i;
	}
	if (buf_add(out, s + run, len - run) == -1)
		return -1;
	return buf_addc(out, '"');
}

int
imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_add(out, "NIL", 3);
	return imap_string(out, s, strlen(s));
}

/* "(" the strings, one space apart ")" */
int
list_of(struct buf *out, const char *const *v, size_t n,
    int (*one)(struct buf *, const char *))
{
	size_t i;

	if (buf_addc(out, '(') == -1)
		return -1;
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_addc(out, ' ') == -1) || one(out, v[i]) == -1)
			return -1;
	return buf_addc(out, ')');
}
