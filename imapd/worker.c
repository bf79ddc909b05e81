/*
 * worker: accept one connection and serve it.  See worker.h.
 *
 * Idle workers all wait in poll() on every listening socket; the sockets
 * are non-blocking, so the losers of a race for one connection get EAGAIN
 * and wait again.  SIGUSR1 (the master retiring idle workers after a
 * reload) and SIGTERM end an idle worker at once; once a connection is
 * taken they no longer do.
 *
 * A connection over max_prelogin_per_address still gets a front, which
 * says "* BYE" (after the TLS handshake on an implicit TLS port: a client
 * would not read it otherwise) within a short budget of its own; the
 * worker waits for that front, so refusing costs a worker a few seconds
 * at most and never a session's worth of time.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/cidr.h"
#include "common/lib/log.h"
#include "imapd/back.h"
#include "imapd/config.h"
#include "imapd/front.h"
#include "imapd/keyproc.h"
#include "imapd/limits.h"
#include "imapd/proxyhdr.h"
#include "imapd/sandbox.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/tlsproc.h"
#include "imapd/worker.h"

#define MAX_POLL	(2 * CONFIG_MAX_LISTEN * 4 + 1)

/* Wait for and accept one connection; returns the socket and which
 * listener it came from. */
static int
accept_one(const struct worker_args *a, unsigned *which)
{
	struct pollfd pfd[MAX_POLL];
	unsigned i, n;
	int fd;

	n = a->nlisteners < MAX_POLL - 1 ? a->nlisteners : MAX_POLL - 1;
	for (;;) {
		if (sig_term || sig_usr1 || sig_drain)
			_exit(0);
		for (i = 0; i < n; i++) {
			pfd[i].fd = a->listeners[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		pfd[n].fd = a->deathfd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		if (sig_wait(pfd, n + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("worker: poll");
		}
		if (pfd[n].revents != 0)
			_exit(0);		/* the master is gone */
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				*which = i;
				return fd;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on %s", a->listeners[i].desc);
		}
	}
}

static void
peer(int fd, char *rip, size_t riplen, char *lport, size_t lportlen,
    struct limits_addr *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char port[NI_MAXSERV];

	snprintf(rip, riplen, "unknown");
	snprintf(lport, lportlen, "?");
	memset(addr, 0, sizeof(*addr));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		(void)getnameinfo((struct sockaddr *)&ss, len, rip,
		    (socklen_t)riplen, NULL, 0, NI_NUMERICHOST);
		limits_addr((struct sockaddr *)&ss, len, addr);
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port,
	    sizeof(port), NI_NUMERICSERV) == 0)
		snprintf(lport, lportlen, "%s", port);
}

/* What the header's reader hands back. */
struct proxy_reply {
	int			ok;
	char			why[96];
	struct proxyhdr		h;
};

/*
 * Read the PROXY header in a child of its own, confined as a front is:
 * this process goes on to run PAM, and a process that runs PAM never
 * parsed a byte from the network.  The child hands back only an address,
 * checked here.  0 with *h filled, or -1 with a reason in why.
 */
static int
proxy_read(const struct config *conf, int fd, struct proxyhdr *h, char *why,
    size_t whylen)
{
	struct proxy_reply r;
	const char *w = NULL;
	ssize_t n;
	size_t got = 0;
	int p[2], status = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		(void)prctl(PR_SET_NAME, "imapd-proxy", 0, 0, 0);
		close(p[0]);
		limits_detach();
		keyproc_channel_close();
		tlsproc_close();
		front_confine(conf);
		sandbox_front_login();
		memset(&r, 0, sizeof(r));
		r.ok = proxyhdr_read(fd, session_now_ms() +
		    (long long)conf->timeout_login_ms, &r.h, &w) == 0;
		if (!r.ok)
			snprintf(r.why, sizeof(r.why), "%s", w);
		/* a failed write is a short read for the parent */
		_exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 :
		    1);
	}
	close(p[1]);
	while (got < sizeof(r)) {
		n = read(p[0], (char *)&r + got, sizeof(r) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		continue;
	if (WIFSIGNALED(status))
		log_warnx("the PROXY header's reader was killed by signal "
		    "%d%s", WTERMSIG(status), WTERMSIG(status) == SIGSYS ?
		    " (a system call outside its sandbox; see imapd(8))" : "");
	if (got != sizeof(r) || r.why[sizeof(r.why) - 1] != '\0') {
		snprintf(why, whylen, "the PROXY header's reader failed");
		return -1;
	}
	if (!r.ok) {
		snprintf(why, whylen, "%s", r.why);
		return -1;
	}
	if (r.h.has_addr && !((r.h.src.ss_family == AF_INET &&
	    r.h.srclen == sizeof(struct sockaddr_in)) ||
	    (r.h.src.ss_family == AF_INET6 &&
	    r.h.srclen == sizeof(struct sockaddr_in6)))) {
		snprintf(why, whylen, "the PROXY header's reader failed");
		return -1;
	}
	*h = r.h;
	return 0;
}

/*
 * proxy_protocol: only a trusted proxy may connect, and it names the
 * client in a PROXY header first; from then on the client's address
 * stands where the proxy's stood (rip, the log, the limits).  -1 if the
 * connection must be closed without a word (the reason is logged).
 */
static int
proxied(const struct config *conf, int fd, char *rip, size_t riplen,
    struct limits_addr *addr)
{
	struct proxyhdr h;
	char why[96], crip[64], cport[NI_MAXSERV];

	if (!cidr_match(conf->trusted, conf->ntrusted, rip)) {
		log_info("refused: %s is not in trusted_proxies, and with "
		    "proxy_protocol = yes only a trusted proxy may connect "
		    "(add the proxy's address to trusted_proxies, or have "
		    "clients connect through the proxy)", rip);
		return -1;
	}
	if (proxy_read(conf, fd, &h, why, sizeof(why)) == -1) {
		log_info("refused: %s from the proxy at %s (proxy_protocol = "
		    "yes: a proxy must send a PROXY header, version 1 or 2, "
		    "before any IMAP byte)", why, rip);
		return -1;
	}
	if (!h.has_addr) {
		log_info("the proxy at %s named no client (PROXY v%d without "
		    "an address): the session keeps the proxy's address",
		    rip, h.version);
		return 0;
	}
	if (getnameinfo((struct sockaddr *)&h.src, h.srclen, crip,
	    sizeof(crip), cport, sizeof(cport),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		log_info("refused: the proxy at %s named a client address "
		    "that cannot be written down", rip);
		return -1;
	}
	log_setrip(crip);
	log_info("client port %s through the proxy at %s (PROXY v%d)", cport,
	    rip, h.version);
	snprintf(rip, riplen, "%s", crip);
	limits_addr((struct sockaddr *)&h.src, h.srclen, addr);
	return 0;
}

void
worker_run(const struct worker_args *a)
{
	struct worker_status st;
	struct front_args fa;
	struct back_args ba;
	struct limits_addr addr;
	char rip[64], lport[NI_MAXSERV], id[SESSION_ID_LEN + 1];
	unsigned which = 0, i, n;
	int fd, sp[2], one = 1, refuse = 0, tls, outside = 0, plain;
	long long accepted;
	pid_t pid;

	(void)prctl(PR_SET_NAME, "imapd-idle", 0, 0, 0);
	fd = accept_one(a, &which);
	accepted = session_now_ms();

	st.pid = getpid();
	st.busy = 1;
	if (write(a->statusfd, &st, sizeof(st)) != (ssize_t)sizeof(st))
		log_warn("cannot report to the master");
	close(a->statusfd);
	close(a->deathfd);
	for (i = 0; i < a->nlisteners; i++)
		close(a->listeners[i].fd);

	session_newid(id, sizeof(id));
	log_setsession(id);
	peer(fd, rip, sizeof(rip), lport, sizeof(lport), &addr);
	log_setrip(rip);
	log_info("connect to %s%s", a->listeners[which].desc,
	    a->listeners[which].tls ? " (TLS)" : "");
	if (a->conf->proxy_protocol &&
	    proxied(a->conf, fd, rip, sizeof(rip), &addr) == -1) {
		close(fd);
		_exit(0);
	}
	if (limits_connect(a->slot, &addr, a->conf->max_prelogin_per_address,
	    &n) == -1) {
		log_info("refused: %u connections from this address have not "
		    "logged in yet (max_prelogin_per_address = %u)", n,
		    a->conf->max_prelogin_per_address);
		refuse = 1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	/* IMAP is a conversation of small writes: without this, Nagle's
	 * algorithm holds the greeting after the TLS handshake until the
	 * client's delayed ACK, some 40 ms per login */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	/* tls_process = shared: the TLS process holds the TLS, and from
	 * here on the session's socket is the plaintext it passes on */
	tls = a->listeners[which].tls;
	if (tls && a->conf->tls_shared && (plain = tlsproc_hand(fd, id, rip,
	    lport, accepted + (long long)a->conf->timeout_login_ms)) != -1) {
		close(fd);
		fd = plain;
		tls = 0;
		outside = 1;
	}
	tlsproc_close();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sp) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sp[0]);
		limits_detach();
		memset(&fa, 0, sizeof(fa));
		fa.conf = a->conf;
		fa.client = fd;
		fa.back = sp[1];
		fa.back_pid = st.pid;	/* this process, the back */
		fa.implicit_tls = tls;
		fa.tls_outside = outside;
		fa.rip = rip;
		fa.lport = lport;
		fa.accepted_ms = accepted;
		fa.refuse = refuse ? "Too many connections from your address" :
		    NULL;
		front_run(&fa);
	}
	/* the key channel is the front's alone */
	keyproc_channel_close();
	close(sp[1]);
	/* a plain connection's back takes the socket over at login (back.c);
	 * until then it only holds it */
	if (refuse || tls) {
		close(fd);
		fd = -1;
	}
	if (refuse) {
		close(sp[0]);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			continue;
		_exit(0);
	}
	memset(&ba, 0, sizeof(ba));
	ba.conf = a->conf;
	ba.front = sp[0];
	ba.front_pid = pid;
	ba.client = fd;
	ba.tls_outside = outside;
	ba.rip = rip;
	ba.lport = lport;
	ba.addr = addr;
	ba.slot = a->slot;
	back_run(&ba);
}
