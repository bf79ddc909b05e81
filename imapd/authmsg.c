/*
 * authmsg: typed front/back messages.  See authmsg.h for the format.
 *
 * Reads take exactly the bytes of one message and never more: after the
 * verdict the same socket carries the session's byte stream.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/wipe.h"
#include "imapd/authmsg.h"
#include "imapd/sig.h"

#define REQ_FIELDS	9

static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes.  1 ok, 0 EOF at the very start, -1 error or EOF
 * midway, -2 signal (only while nothing has been read). */
static int
read_exact(int fd, void *p, size_t n, int first)
{
	char *s = p;
	size_t got = 0;
	ssize_t r;
	struct pollfd pfd;

	while (got < n) {
		r = read(fd, s + got, n - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return (first && got == 0) ? 0 : -1;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (sig_wait(&pfd, 1, -1) == -1) {
			if (errno != EINTR)
				return -1;
			if (sig_term && first && got == 0)
				return -2;
		}
	}
	return 1;
}

static int
send_msg(int fd, uint32_t type, const char *const *fields, size_t nfields)
{
	char msg[8 + AUTHMSG_MAX];
	uint32_t len = 0, flen;
	size_t i, off = 8;
	int r;

	for (i = 0; i < nfields; i++) {
		flen = (uint32_t)strlen(fields[i]);
		if (flen > AUTHMSG_MAX || off + 4 + flen > sizeof(msg)) {
			errno = EMSGSIZE;
			wipe(msg, off);
			return -1;
		}
		memcpy(msg + off, &flen, 4);
		memcpy(msg + off + 4, fields[i], flen);
		off += 4 + flen;
	}
	len = (uint32_t)(off - 8);
	memcpy(msg, &type, 4);
	memcpy(msg + 4, &len, 4);
	r = write_all(fd, msg, off);
	wipe(msg, off);
	return r;
}

/* Receive a message of type want with nfields fields into storage. */
static int
recv_msg(int fd, uint32_t want, char **fields, size_t nfields,
    char *storage, size_t storagelen)
{
	uint32_t hdr[2], flen;
	size_t i, off = 0, out = 0;
	char payload[AUTHMSG_MAX];
	int r;

	if ((r = read_exact(fd, hdr, sizeof(hdr), 1)) != 1)
		return r;
	if (hdr[0] != want || hdr[1] > AUTHMSG_MAX)
		return -1;
	if (read_exact(fd, payload, hdr[1], 0) != 1)
		return -1;
	for (i = 0; i < nfields; i++) {
		if (hdr[1] - off < 4)
			goto bad;
		memcpy(&flen, payload + off, 4);
		off += 4;
		if (flen > hdr[1] - off || flen >= storagelen - out ||
		    memchr(payload + off, '\0', flen) != NULL)
			goto bad;
		memcpy(storage + out, payload + off, flen);
		storage[out + flen] = '\0';
		fields[i] = storage + out;
		out += flen + 1;
		off += flen;
	}
	if (off != hdr[1])
		goto bad;
	wipe(payload, hdr[1]);
	return 1;
bad:
	wipe(payload, hdr[1]);
	wipe(storage, out);
	return -1;
}

int
authmsg_send_request(int fd, const struct authreq *q)
{
	const char *f[REQ_FIELDS] = {
		q->tag, q->mech, q->user, q->pass, q->secured,
		q->capability_hint != NULL ? q->capability_hint : "",
		q->origin_ip != NULL ? q->origin_ip : "",
		q->origin_port != NULL ? q->origin_port : "",
		q->origin_session != NULL ? q->origin_session : "",
	};

	return send_msg(fd, AUTHMSG_REQUEST, f, REQ_FIELDS);
}

int
authmsg_recv_request(int fd, struct authreq *q, char *storage,
    size_t storagelen)
{
	char *f[REQ_FIELDS];
	int r;

	if ((r = recv_msg(fd, AUTHMSG_REQUEST, f, REQ_FIELDS, storage,
	    storagelen)) != 1)
		return r;
	q->tag = f[0];
	q->mech = f[1];
	q->user = f[2];
	q->pass = f[3];
	q->secured = f[4];
	q->capability_hint = f[5];
	q->origin_ip = f[6];
	q->origin_port = f[7];
	q->origin_session = f[8];
	return 1;
}

/* The verdicts as the wire spells them. */
static const struct {
	enum authres_status	 st;
	const char		*name;
} results[] = {
	{ AUTHRES_OK, "ok" },
	{ AUTHRES_FAIL, "fail" },
	{ AUTHRES_TEMPFAIL, "tempfail" },
	{ AUTHRES_LIMIT, "limit" },
	{ AUTHRES_DISABLED, "disabled" },
	{ AUTHRES_NETWORK, "network" },
	{ AUTHRES_PRIVACY, "privacy" },
	{ AUTHRES_APPONLY, "apponly" },
	{ AUTHRES_HOURS, "hours" },
};
#define NRESULTS	(sizeof(results) / sizeof(results[0]))

int
authmsg_send_result(int fd, enum authres_status st)
{
	const char *f[1] = { "tempfail" };
	size_t i;

	for (i = 0; i < NRESULTS; i++)
		if (results[i].st == st)
			f[0] = results[i].name;
	return send_msg(fd, AUTHMSG_RESULT, f, 1);
}

int
authmsg_recv_result(int fd, enum authres_status *st)
{
	char storage[32], *f[1];
	size_t i;
	int r;

	if ((r = recv_msg(fd, AUTHMSG_RESULT, f, 1, storage,
	    sizeof(storage))) != 1)
		return r == 0 ? -1 : r;
	for (i = 0; i < NRESULTS; i++)
		if (strcmp(f[0], results[i].name) == 0) {
			*st = results[i].st;
			return 1;
		}
	return -1;
}
