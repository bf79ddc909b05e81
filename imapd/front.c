/*
 * front: pre-login session and relay.  See front.h.
 *
 * Order of events: take the TLS context the master built (it holds no
 * private key: signatures come from the key process over this front's
 * channel, closed as soon as the handshake is done or can no longer
 * happen), chroot to the empty login_chroot, drop to login_user, then
 * read the first byte from the network.  Credentials go to the back as an
 * AUTHMSG_REQUEST; on "ok" the back writes the tagged OK and everything
 * after it, and the front copies bytes both ways until either side ends.
 *
 * The relay never blocks on the back: client bytes are read only when the
 * previous ones have been handed on, so a back busy writing a large
 * response and a client pipelining commands cannot deadlock each other.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/wipe.h"
#include "imapd/authmsg.h"
#include "imapd/capability.h"
#include "imapd/conn.h"
#include "imapd/front.h"
#include "imapd/keyclient.h"
#include "imapd/keyproc.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/tls.h"

#define RELAY_BUF	(16 * 1024)	/* one TLS record */
#define REFUSE_MS	3000		/* to say BYE to a refused client */

static SSL_CTX		*tls_ctx;
static int		 backfd = -1;

static enum authres_status
front_login(struct session *s, const char *tag, const char *mech,
    const char *authzid, const char *user, const char *pass)
{
	struct authreq q;
	enum authres_status st;
	int r;

	memset(&q, 0, sizeof(q));
	q.tag = (char *)tag;
	q.mech = (char *)mech;
	q.user = (char *)user;
	q.pass = (char *)pass;
	q.secured = s->tls ? "tls" : "plain";
	q.capability_hint = "";
	(void)authzid;
	if (authmsg_send_request(backfd, &q) == -1) {
		log_warn("cannot reach the session's back process");
		return AUTHRES_TEMPFAIL;
	}
	r = authmsg_recv_result(backfd, &st);
	if (r != 1) {
		log_warnx("no verdict from the session's back process");
		return AUTHRES_TEMPFAIL;
	}
	return st;
}

static int
front_starttls(struct session *s)
{
	char info[128];
	int r;

	r = conn_starttls(s->conn, tls_ctx, session_timeout_ms(s));
	keyclient_close();
	if (r == -1) {
		log_info("STARTTLS failed: %s", s->conn->err);
		return -1;
	}
	log_debug("STARTTLS: %s", conn_tlsinfo(s->conn, info, sizeof(info)));
	return 0;
}

static const struct session_hooks hooks = {
	.login = front_login,
	.starttls = front_starttls,
};

/* Write all of p to fd, which may be non-blocking; waits up to 1 s per
 * stall.  0 or -1. */
static int
drain(int fd, const char *p, size_t n)
{
	struct pollfd pfd;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (sig_wait(&pfd, 1, -1) == -1 && errno != EINTR)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Copy bytes between the client and the back until one side closes. */
static void
relay(struct conn *c, const char *left, size_t leftlen)
{
	char fromback[RELAY_BUF], toback[RELAY_BUF];
	size_t tobacklen = 0, tobackoff = 0;
	struct pollfd pfd[2];
	ssize_t n;
	int fl;

	if ((fl = fcntl(backfd, F_GETFL)) != -1)
		(void)fcntl(backfd, F_SETFL, fl | O_NONBLOCK);
	/* pipelined bytes that followed the LOGIN command */
	if (leftlen > 0 && drain(backfd, left, leftlen) == -1)
		return;
	for (;;) {
		if (tobacklen == 0 && conn_pending(c) > 0)
			goto readclient;
		/* read the client only once its last bytes are handed on */
		pfd[0].fd = tobacklen == 0 ? c->rfd : -1;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = backfd;
		pfd[1].events = POLLIN | (tobacklen > 0 ? POLLOUT : 0);
		pfd[1].revents = 0;
		if (sig_wait(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("relay: poll");
			return;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(backfd, fromback, sizeof(fromback));
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR))
				return;		/* the back ended the session */
			if (n > 0 && conn_write(c, fromback, (size_t)n,
			    -1) != 0)
				return;
		}
		if ((pfd[1].revents & POLLOUT) && tobacklen > 0) {
			n = write(backfd, toback + tobackoff, tobacklen);
			if (n > 0) {
				tobackoff += (size_t)n;
				tobacklen -= (size_t)n;
			} else if (n == -1 && errno != EAGAIN &&
			    errno != EINTR)
				return;
		}
		if (tobacklen > 0 ||
		    !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
readclient:
		n = conn_read(c, toback, sizeof(toback), 0);
		if (n == CONN_AGAIN)
			continue;
		if (n <= 0) {
			/* client gone: let the back see end of stream */
			(void)shutdown(backfd, SHUT_WR);
			return;
		}
		tobackoff = 0;
		tobacklen = (size_t)n;
		n = write(backfd, toback, tobacklen);
		if (n > 0) {
			tobackoff = (size_t)n;
			tobacklen -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN && errno != EINTR)
			return;
	}
}

/* As root: resolve login_user, then chroot and drop to it. */
static void
confine(const struct config *conf)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(conf->login_user)) == NULL)
		fatalx("login_user %s does not exist (create it, e.g. "
		    "useradd -r -s /usr/sbin/nologin %s)", conf->login_user,
		    conf->login_user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	privdrop_chroot(conf->login_chroot);
	privdrop(NULL, uid, gid);
}

void
front_run(const struct front_args *a)
{
	struct session s;
	struct conn c;
	enum session_end end;
	char err[512], info[128];
	long long left;

	(void)prctl(PR_SET_NAME, "imapd-login", 0, 0, 0);
	backfd = a->back;
	tls_ctx = keyproc_ctx();
	if (tls_ctx == NULL && a->implicit_tls)
		fatalx("TLS unavailable (the log says why at start-up)");
	if (tls_ctx == NULL)
		log_warnx("STARTTLS unavailable (the log says why at "
		    "start-up)");
	confine(a->conf);

	conn_init(&c, a->client, a->client);
	/* timeout_login counts from accept, the handshake included */
	left = a->accepted_ms + (long long)a->conf->timeout_login_ms -
	    session_now_ms();
	if (a->refuse != NULL && left > REFUSE_MS)
		left = REFUSE_MS;
	if (a->implicit_tls && conn_starttls(&c, tls_ctx,
	    left > 0 ? (int)left : 1) == -1) {
		keyclient_close();
		if (c.peer_closed)
			log_info("client closed the connection during the TLS "
			    "handshake");
		else
			log_info("TLS handshake failed on port %s: %s (a "
			    "client speaking plain IMAP to the TLS port? use "
			    "STARTTLS on the other port)", a->lport, c.err);
		conn_close(&c);
		_exit(0);
	}
	if (a->implicit_tls || tls_ctx == NULL)
		keyclient_close();
	if (a->refuse != NULL) {
		if (snprintf(err, sizeof(err), "* BYE %s\r\n", a->refuse) <
		    (int)sizeof(err))
			(void)conn_write(&c, err, strlen(err), REFUSE_MS);
		conn_close(&c);
		_exit(0);
	}
	session_init(&s, a->conf, &c, STATE_NOTAUTH);
	s.started_ms = a->accepted_ms;
	s.hooks = &hooks;
	s.tls = a->implicit_tls != 0;
	s.starttls = !a->implicit_tls && tls_ctx != NULL;
	snprintf(s.rip, sizeof(s.rip), "%s", a->rip);
	snprintf(s.lport, sizeof(s.lport), "%s", a->lport);
	log_debug("connected on port %s%s%s", a->lport, s.tls ? ", " : "",
	    s.tls ? conn_tlsinfo(&c, info, sizeof(info)) : "");

	session_printf(&s, "* OK [CAPABILITY %s] imapd ready\r\n",
	    capability_string(&s));
	end = session_run(&s);
	keyclient_close();
	if (end == END_HANDOFF) {
		/* the back now speaks for the session; hand it whatever
		 * the client pipelined after its login command, and give
		 * back the memory of the login phase: a relay may live for
		 * days */
		if (s.in.len > 0)
			(void)drain(backfd, s.in.data, s.in.len);
		session_free(&s);
		SSL_CTX_free(tls_ctx);	/* the connection keeps what it needs */
		tls_ctx = NULL;
		malloc_trim(0);
		relay(&c, NULL, 0);
	} else {
		if (end != END_LOGOUT && end != END_EOF)
			log_info("disconnected before login: %s",
			    session_end_str(end));
		session_free(&s);
	}
	if (end == END_PROTOCOL || end == END_AUTHFAIL || end == END_LIMIT)
		conn_linger_close(&c, 2000, 1024 * 1024);
	else
		conn_close(&c);
	close(backfd);
	_exit(0);
}
