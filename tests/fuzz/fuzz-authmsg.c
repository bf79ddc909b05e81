/*
 * Fuzz target: imapd/authmsg, the typed messages from the front (which
 * parsed the client's bytes and may be in an attacker's hands) to the
 * back, which runs as root until login.
 *
 * Input: what the back reads from its socket.  It is written into a pipe
 * whose far end is then closed, and read as a request and, again, as a
 * result.
 *
 * Properties checked:
 *   - a request is taken only if it is exactly what authmsg_send_request
 *     writes for the fields it gave: sent again, the fields make the same
 *     bytes as those the reader took;
 *   - the reader takes no byte past the message (the next byte of the
 *     stream is still there);
 *   - fields hold no NUL and fit the storage given;
 *   - a result is one of the verdicts authmsg.h names, and sent again
 *     it reads back as the same verdict.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd/authmsg.h"
#include "tests/fuzz/fuzz.h"

/* A pipe holding data (at most what a pipe holds, 64 KiB), its
 * writing end closed. */
static int
pipe_of(const uint8_t *data, size_t len)
{
	int p[2];
	ssize_t w;

	if (pipe(p) == -1)
		fuzz_die("pipe");
	while (len > 0) {
		if ((w = write(p[1], data, len)) <= 0)
			fuzz_die("write");
		data += w;
		len -= (size_t)w;
	}
	close(p[1]);
	return p[0];
}

/* Everything left in fd. */
static size_t
rest(int fd, uint8_t *out, size_t max)
{
	size_t got = 0;
	ssize_t r;

	while (got < max && (r = read(fd, out + got, max - got)) > 0)
		got += (size_t)r;
	return got;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char storage[AUTHMSG_MAX + 64];
	static uint8_t left[65536], sent[65536];
	struct authreq q;
	enum authres_status st, st2;
	const char *f[9];
	size_t n, m, taken, i;
	int fd, p[2], r;

	if (len > sizeof(left))
		return 0;

	fd = pipe_of(data, len);
	/* a small storage as well as a large one, by the first byte */
	r = authmsg_recv_request(fd, &q, storage, len > 0 && data[0] & 1 ?
	    64 : sizeof(storage));
	n = rest(fd, left, sizeof(left));
	close(fd);
	taken = len - n;
	FUZZ_CHECK(r >= -1 && r <= 1, "recv_request gave %d", r);
	FUZZ_CHECK(n == 0 || memcmp(left, data + taken, n) == 0,
	    "the bytes after the message are not the stream's");
	if (r == 0)
		FUZZ_CHECK(len == 0, "end of stream with %zu bytes", len);
	if (r == 1) {
		f[0] = q.tag;
		f[1] = q.mech;
		f[2] = q.user;
		f[3] = q.pass;
		f[4] = q.secured;
		f[5] = q.capability_hint;
		f[6] = q.origin_ip;
		f[7] = q.origin_port;
		f[8] = q.origin_session;
		for (i = 0; i < 9; i++)
			FUZZ_CHECK(f[i] >= storage && f[i] < storage +
			    sizeof(storage), "field %zu outside storage", i);
		if (pipe(p) == -1)
			fuzz_die("pipe");
		FUZZ_CHECK(authmsg_send_request(p[1], &q) == 0,
		    "a request read cannot be sent");
		close(p[1]);
		m = rest(p[0], sent, sizeof(sent));
		close(p[0]);
		FUZZ_CHECK(m == taken && memcmp(sent, data, m) == 0,
		    "sent again, the request is %zu other bytes (took %zu)",
		    m, taken);
	}

	fd = pipe_of(data, len);
	r = authmsg_recv_result(fd, &st);
	close(fd);
	FUZZ_CHECK(r == -1 || r == 1, "recv_result gave %d", r);
	if (r == 1) {
		FUZZ_CHECK(st >= AUTHRES_OK && st <= AUTHRES_HOURS,
		    "status %d", st);
		if (pipe(p) == -1)
			fuzz_die("pipe");
		FUZZ_CHECK(authmsg_send_result(p[1], st) == 0,
		    "a result read cannot be sent");
		close(p[1]);
		r = authmsg_recv_result(p[0], &st2);
		close(p[0]);
		FUZZ_CHECK(r == 1 && st2 == st, "status %d sent, %d read",
		    st, r == 1 ? (int)st2 : -1);
	}
	return 0;
}
