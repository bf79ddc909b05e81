/*
 * front: pre-login session and relay.  See front.h.
 *
 * Order of events: take the TLS context the master built (it holds no
 * private key: signatures come from the key process over this front's
 * channel, closed as soon as the handshake is done or can no longer
 * happen), chroot to the empty login_chroot, drop to login_user, then
 * read the first byte from the network.  Credentials go to the back as an
 * AUTHMSG_REQUEST; on "ok" the back writes the tagged OK and everything
 * after it.
 *
 * After a login over TLS the relay (relay.c) copies bytes both ways
 * until the back is done, within the output timeout.  After a plaintext
 * login there is nothing to relay: the front hands the back what the
 * client pipelined and exits, and the back serves the socket itself.
 * So does a front whose TLS the shared TLS process holds (tls_process =
 * shared, tlsproc.h): its socket carries that process's plaintext, and
 * it knows only that the client is on TLS.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "common/lib/privdrop.h"
#include "common/lib/wipe.h"
#include "imapd/authmsg.h"
#include "imapd/capability.h"
#include "imapd/config.h"
#include "imapd/conn.h"
#include "imapd/front.h"
#include "imapd/keyclient.h"
#include "imapd/keyproc.h"
#include "imapd/relay.h"
#include "imapd/sandbox.h"
#include "imapd/session.h"
#include "imapd/tls.h"

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
	q.tag = tag;
	q.mech = mech;
	q.user = user;
	q.pass = pass;
	q.secured = s->tls ? "tls" : "plain";
	q.capability_hint = "";
	q.origin_ip = s->origin_ip;
	q.origin_port = s->origin_port;
	q.origin_session = s->origin_session;
	(void)authzid;
	/* without its back the session cannot go on: end it rather than
	 * answer every further attempt */
	if (authmsg_send_request(backfd, &q) == -1) {
		log_warn("cannot reach the session's back process");
		s->end = END_ERROR;
		return AUTHRES_TEMPFAIL;
	}
	r = authmsg_recv_result(backfd, &st);
	if (r != 1) {
		log_warnx("no verdict from the session's back process");
		s->end = END_ERROR;
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

/*
 * After a plaintext login the back serves the client socket itself
 * (back.c): give it what the client pipelined past the login command,
 * then end without touching the socket, whose flags the back's
 * descriptor shares.  The end of the socketpair marks the end of those
 * bytes.
 */
static void __attribute__((noreturn))
hand_over(struct session *s, int timeout_ms)
{
	struct conn bc;

	conn_init(&bc, backfd, backfd);
	if (s->in.len > 0 && conn_write(&bc, s->in.data, s->in.len,
	    timeout_ms) != 0) {
		log_warnx("cannot hand the connection to the session's back "
		    "process: %s", bc.err);
		_exit(1);
	}
	_exit(0);
}

void
front_confine(const struct config *conf)
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
	static const struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct session s;
	struct conn c;
	enum session_end end;
	enum relay_end rend;
	char err[512], info[128], *pending;
	size_t npending;
	long long left;

	(void)prctl(PR_SET_NAME, "imapd-login", 0, 0, 0);
	backfd = a->back;
	tls_ctx = keyproc_ctx();
	if (tls_ctx == NULL && a->implicit_tls)
		fatalx("TLS unavailable (the log says why at start-up)");
	if (tls_ctx == NULL)
		log_warnx("STARTTLS unavailable (the log says why at "
		    "start-up)");
	front_confine(a->conf);
	/* die with the back, which the master counts; set only now, as
	 * changing ids clears it, and the back may already have gone */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != a->back_pid)
		_exit(0);
	sandbox_front_login();

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
	s.tls = a->implicit_tls || a->tls_outside;
	s.starttls = !s.tls && tls_ctx != NULL;
	snprintf(s.rip, sizeof(s.rip), "%s", a->rip);
	snprintf(s.lport, sizeof(s.lport), "%s", a->lport);
	log_debug("connected on port %s%s%s", a->lport, s.tls ? ", " : "",
	    a->tls_outside ? "TLS in the shared TLS process" :
	    s.tls ? conn_tlsinfo(&c, info, sizeof(info)) : "");

	session_printf(&s, "* OK [CAPABILITY %s] imapd ready\r\n",
	    capability_string(&s));
	end = session_run(&s);
	keyclient_close();
	if (end == END_HANDOFF && (!s.tls || a->tls_outside))
		hand_over(&s, (int)a->conf->timeout_output_ms);
	if (end == END_HANDOFF) {
		/* the back now speaks for the session; hand it whatever
		 * the client pipelined after its login command, and give
		 * back the memory of the login phase: a relay may live for
		 * days */
		pending = NULL;
		npending = s.in.len;
		if (npending > 0 && (pending = malloc(npending)) == NULL)
			fatal("malloc");
		if (npending > 0)
			memcpy(pending, s.in.data, npending);
		session_free(&s);
		SSL_CTX_free(tls_ctx);	/* the connection keeps what it needs */
		tls_ctx = NULL;
		malloc_trim(0);
		wipe_stack();
		sandbox_front_relay();
		rend = relay_run(&c, backfd, pending, npending,
		    (int)a->conf->timeout_output_ms);
		free(pending);
		if (rend == RELAY_STALLED) {
			/* a reset, not a close that waits on the unread
			 * bytes: the kernel must not keep them for the
			 * client either */
			(void)setsockopt(c.wfd, SOL_SOCKET, SO_LINGER, &reset,
			    sizeof(reset));
			conn_forget_tls(&c);
		}
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
