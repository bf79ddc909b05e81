/*
 * back: credential checks, the privilege drop, and the logged-in session.
 * See back.h.
 *
 * Every login that does not succeed is answered at one deadline,
 * auth_fail_delay after its request arrived here, plus the growing delay
 * its address has earned with failed logins (limits.c); both are known
 * before the check starts, so the answer's time says nothing about why
 * the login failed.  This happens here rather than in the front so that
 * even a subverted front cannot guess faster; the back also counts
 * failures itself (temporary ones too) and ends the session at the
 * third.  A check that takes longer than the deadline is answered when
 * it ends, and the log says so: the deadline is too short for this
 * site's backends.
 *
 * The back trusts its front for nothing, not even to end: it waits for a
 * login request only until timeout_login (and a grace) has passed since
 * the connection was accepted, and an alarm ends it should a front stop
 * in the middle of a message or a PAM module hang.  When the back is done
 * it closes its end of the socketpair, which tells the front at once, and
 * the worker (the back, or the PAM keeper below) waits for the front to
 * exit before it exits itself: the master counts the worker, so a front
 * still flushing the last responses stays inside max_sessions.  The
 * front dies with the worker (it asked the kernel for SIGKILL when its
 * parent goes), so the wait is also its upper bound.
 *
 * On a plain connection (no TLS, before login or ever) nothing needs
 * relaying once the user is known, so the back serves the client socket
 * itself and the session is one process.  The worker keeps the accepted
 * socket from the start (it reads nothing from it before login, and so
 * never parses network input while root); after a plaintext login the
 * front writes what the client pipelined past its login command to the
 * socketpair and exits, and the back takes those bytes, to EOF, as the
 * session's first input, reaps the front and only then touches the
 * socket: the front's descriptor shares the socket's flags, and is gone
 * by then.  A login over TLS (STARTTLS) keeps the relay, and the back
 * drops its copy of the socket.  With tls_process = shared the socket
 * of an implicit-TLS session is the plaintext end of the shared TLS
 * process (tlsproc.h), taken over the same way.  With the socket the
 * back also keeps the output deadline the relay kept (timeout_output),
 * on its writes.
 *
 * The PAM session.  pam_open_session runs as root before the drop, and
 * pam_close_session must run as root after the session, which no process
 * running as the user can do.  So after a PAM login with pam_session the
 * back forks: the child drops to the user and serves the session; the
 * parent (imapd-pam) keeps the handle, stays root, reads nothing, holds no
 * descriptor of the session, and closes the PAM session when the child has
 * ended.  It is still the master's worker, so the session's slot in the
 * limits table ends with it, and it passes SIGTERM on to the child.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/cidr.h"
#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/privdrop.h"
#include "common/lib/wipe.h"
#include "imapd/auth.h"
#include "imapd/authmsg.h"
#include "imapd/back.h"
#include "imapd/capability.h"
#include "imapd/config.h"
#include "imapd/conn.h"
#include "imapd/limits.h"
#include "imapd/policy.h"
#include "imapd/sandbox.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/specialuse.h"
#include "imapd/storecheck.h"
#include "maildir/filename.h"
#include "maildir/folder.h"
#include "maildir/storelock.h"

#define BACK_FAILURES_MAX	3
#define LOGIN_GRACE_MS		10000	/* past timeout_login and a failure's
					 * delay: a verdict in progress (PAM)
					 * may finish */
#define BACK_PENDING_MAX	(256 * 1024)	/* the front's input buffer */
#define FRONT_GRACE_MS		3000	/* past timeout_output: the front's
					 * linger after a BYE before login */

/* Sleep until the monotonic time until, unless a shutdown signal comes
 * first. */
static void
sleep_until(long long until)
{
	long long left;

	while (!sig_term && (left = until - session_now_ms()) > 0)
		(void)sig_wait(NULL, 0, left > 0x7fffffff ? 0x7fffffff :
		    (int)left);
}

/* Wait for the front, our child, to exit, until the monotonic deadline:
 * 1 reaped (its wait status in *st_r), 0 the deadline passed, -1 no such
 * child. */
static int
wait_front(pid_t pid, long long deadline, int *st_r)
{
	long long left;
	pid_t r;

	for (;;) {
		r = waitpid(pid, st_r, WNOHANG);
		if (r == pid)
			return 1;
		if (r == -1 && errno != EINTR)
			return -1;
		if ((left = deadline - session_now_ms()) <= 0)
			return 0;
		(void)sig_wait(NULL, 0, left > 0x7fffffff ? 0x7fffffff :
		    (int)left);
	}
}

/*
 * Exit once the front has, or once it has had timeout_output and a grace
 * to finish; if it has not by then, the kernel kills it as this process
 * ends.  The socketpair is closed first (unless the session has closed
 * it already) so that the front sees at once that its back is done.  A
 * front killed by a signal is worth a line: SIGSYS is its sandbox
 * refusing a system call.
 */
static void __attribute__((noreturn))
finish(const struct back_args *a, int close_front, int status)
{
	long long deadline;
	int r, st;

	if (close_front && a->front >= 0)
		(void)close(a->front);
	deadline = session_now_ms() + (long long)a->conf->timeout_output_ms +
	    FRONT_GRACE_MS;
	r = a->front_pid > 0 ? wait_front(a->front_pid, deadline, &st) : -1;
	if (r == 1 && WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL &&
	    WTERMSIG(st) != SIGTERM)
		log_warnx("the session's front process was killed by signal "
		    "%d%s", WTERMSIG(st), WTERMSIG(st) == SIGSYS ? " (a system "
		    "call outside its sandbox; see imapd(8))" : "");
	if (r == 0)
		log_info("the session's front process did not end within "
		    "timeout_output; ending it");
	_exit(status);
}

/* Wait until the front has sent something or the login deadline passed;
 * 1 readable, 0 too late, -2 a shutdown signal. */
static int
await_request(const struct back_args *a, long long deadline)
{
	static int drain_told;
	struct pollfd pfd;
	long long left;

	for (;;) {
		if (sig_term)
			return -2;
		/* the front speaks to the client: it says BYE between
		 * commands, and its end ends this wait */
		if (sig_drain && !drain_told) {
			(void)kill(a->front_pid, SIGUSR2);
			drain_told = 1;
		}
		if ((left = deadline - session_now_ms()) <= 0)
			return 0;
		pfd.fd = a->front;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (sig_wait(&pfd, 1, left > 0x7fffffff ? 0x7fffffff :
		    (int)left) > 0)
			return 1;
	}
}

/* Log the end of a logged-in session with its counters. */
static void
log_end(const struct session *s)
{
	unsigned long long win, wout;

	conn_wire_bytes(s->conn, &win, &wout);
	if (conn_compressed(s->conn))
		log_info("session ended: %s (commands=%llu in=%llu out=%llu, "
		    "compressed in=%llu out=%llu)", session_end_str(s->end),
		    (unsigned long long)s->ncommands,
		    (unsigned long long)s->bytes_in,
		    (unsigned long long)s->bytes_out, win, wout);
	else
		log_info("session ended: %s (commands=%llu in=%llu out=%llu)",
		    session_end_str(s->end), (unsigned long long)s->ncommands,
		    (unsigned long long)s->bytes_in,
		    (unsigned long long)s->bytes_out);
}

/* Become the user for good.  Fatal on any failure: there is no
 * half-dropped state to go on from. */
static void
become(const struct auth_user *u)
{
	privdrop(u->initgroups ? u->name : NULL, u->uid, u->gid);
	sandbox_back();
	if (chdir(u->home) == -1)
		log_warn("cannot enter home directory %s", u->home);
}

/*
 * Where the user's mail is: the userdb's maildir field, else
 * mail_location, with ~ meaning the home directory.  Created if missing
 * (as the user).  The path comes back resolved: a link on the way to
 * the Maildir (one moved to another disk) is followed here, once, and
 * none inside it ever is (maildir/folder.h).  NULL if the Maildir cannot
 * be made (logged).
 */
static char *
find_mail(const struct config *conf, const struct auth_user *u)
{
	const char *loc = u->maildir[0] != '\0' ? u->maildir :
	    conf->mail_location;
	char path[PATH_MAX], *real;
	struct stat sb;
	int fresh;

	if (loc[0] == '~') {
		if (snprintf(path, sizeof(path), "%s%s", u->home, loc + 1) >=
		    (int)sizeof(path))
			return NULL;
	} else if (snprintf(path, sizeof(path), "%s", loc) >=
	    (int)sizeof(path))
		return NULL;
	fresh = stat(path, &sb) == -1;
	if (folder_init_root(path) == -1) {
		if (errno != ELOOP)	/* which folder_init_root logs */
			log_warn("cannot create the Maildir %s (check that "
			    "the home directory exists and belongs to the "
			    "user)", path);
		return NULL;
	}
	if (fresh)
		log_info("created the Maildir %s", path);
	if ((real = realpath(path, NULL)) == NULL)
		log_warn("cannot resolve the Maildir path %s", path);
	return real;
}

/*
 * The user's credentials are good: admit the session under the limits
 * and open its PAM session.  AUTHRES_OK, or the status to answer with
 * (logged).
 */
static enum authres_status
admit(const struct back_args *a, struct auth_user *u)
{
	const struct config *conf = a->conf;
	enum limits_verdict v;
	unsigned n;

	v = limits_login(a->slot, u->name, &a->addr, conf, &n);
	if (v == LIMITS_USER_ADDRESS)
		log_info("login refused: %s has %u sessions from this address "
		    "(max_user_sessions_per_address = %u)", u->name, n,
		    conf->max_user_sessions_per_address);
	else if (v == LIMITS_USER)
		log_info("login refused: %s has %u sessions "
		    "(max_user_sessions = %u)", u->name, n,
		    conf->max_user_sessions);
	if (v != LIMITS_OK) {
		auth_end(u);
		return AUTHRES_LIMIT;
	}
	if (auth_session_open(u) == -1) {
		limits_leave(a->slot);
		return AUTHRES_TEMPFAIL;
	}
	return AUTHRES_OK;
}

/*
 * The user's login policy, once the credentials are right and before
 * anything of the user's is touched: AUTHRES_OK, the refusal (logged with
 * the rule), or AUTHRES_TEMPFAIL when the policy file cannot be used.
 */
static enum authres_status
enforce(const struct config *conf, struct auth_user *u, const char *rip,
    int tls)
{
	static const enum authres_status refusal[] = {
		[POLICY_OK] = AUTHRES_OK,
		[POLICY_DISABLED] = AUTHRES_DISABLED,
		[POLICY_NETWORK] = AUTHRES_NETWORK,
		[POLICY_TLS] = AUTHRES_PRIVACY,
		[POLICY_APP] = AUTHRES_APPONLY,
		[POLICY_HOURS] = AUTHRES_HOURS,
	};
	struct policy p;
	struct tm tm;
	time_t now = time(NULL);
	unsigned minute;
	enum policy_verdict v;
	char err[512];

	switch (policy_lookup(conf->login_policy, u->name, &p, err,
	    sizeof(err))) {
	case -1:
		log_warnx("login refused: login_policy %s (every login is "
		    "refused until it is fixed; imapd -t shows where)", err);
		return AUTHRES_TEMPFAIL;
	case 0:
		return AUTHRES_OK;
	}
	minute = localtime_r(&now, &tm) != NULL ?
	    (unsigned)(tm.tm_hour * 60 + tm.tm_min) : 0;
	v = policy_check(&p, rip, tls, u->label[0] != '\0', minute);
	switch (v) {
	case POLICY_OK:
		return AUTHRES_OK;
	case POLICY_DISABLED:
		log_info("login refused by login_policy %s line %u, rule "
		    "disabled: %s", conf->login_policy, p.line,
		    p.reason[0] ? p.reason : "(no reason given)");
		break;
	case POLICY_NETWORK:
		log_info("login refused by login_policy %s line %u, rule "
		    "networks: %s is not in the networks listed",
		    conf->login_policy, p.line, rip);
		break;
	case POLICY_TLS:
		log_info("login refused by login_policy %s line %u, rule "
		    "tls=required: the login came without TLS",
		    conf->login_policy, p.line);
		break;
	case POLICY_APP:
		log_info("login refused by login_policy %s line %u, rule "
		    "app-passwords=required: the account's own password was "
		    "used (make an app password with imapd-userdb "
		    "app-password add)", conf->login_policy, p.line);
		break;
	case POLICY_HOURS:
		log_info("login refused by login_policy %s line %u, rule "
		    "hours=%02u:%02u-%02u:%02u: it is %02u:%02u here",
		    conf->login_policy, p.line, p.from_min / 60,
		    p.from_min % 60, p.to_min / 60, p.to_min % 60,
		    minute / 60, minute % 60);
		break;
	}
	return refusal[v];
}

/* Log a delay that a failed login is answered with. */
static void
log_penalty(const struct config *conf, uint64_t penalty, unsigned failures)
{
	if (penalty > 0)
		log_info("answering %llu ms later: %u failed logins from this "
		    "address in the last %d minutes (auth_penalty_max = "
		    "%llu ms)", (unsigned long long)penalty, failures,
		    LIMITS_FORGET_MS / 60000,
		    (unsigned long long)conf->auth_penalty_max_ms);
}

/*
 * Wait for credentials from the front; returns when logged in, with the
 * command's tag (allocated) in *tag_r and in *tls_r whether the login
 * came over TLS.
 */
/*
 * A trusted proxy named its client in ID (cmd-any.c): from this login
 * on, the client's address stands where the proxy's stood, for the
 * limits, the login policy, PAM and the log.  The front is not trusted
 * to have checked: the proxy's address and the fields are checked again.
 * rip (of ripsize bytes) is where a->rip points.
 */
static void
origin(struct back_args *a, char *rip, size_t ripsize,
    const struct authreq *q)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	uint8_t b[16];
	int family;

	if (q->origin_ip[0] == '\0' || a->origin)
		return;
	if (!cidr_match(a->conf->trusted, a->conf->ntrusted, a->rip) ||
	    cidr_addr(q->origin_ip, &family, b) == -1 ||
	    strlen(q->origin_ip) >= ripsize) {
		log_warnx("the front passed on a client address from an ID "
		    "the proxy at %s may not give; ignored", a->rip);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, b, 4);
		limits_addr((struct sockaddr *)sin, sizeof(*sin), &a->addr);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, b, 16);
		limits_addr((struct sockaddr *)sin6, sizeof(*sin6), &a->addr);
	}
	log_setrip(q->origin_ip);
	log_info("client port %s%s%s through the proxy at %s (ID)",
	    q->origin_port[0] != '\0' ? q->origin_port : "unknown",
	    q->origin_session[0] != '\0' ? ", proxy session " : "",
	    q->origin_session, a->rip);
	snprintf(rip, ripsize, "%s", q->origin_ip);
	a->rip = rip;
	a->origin = 1;
}

static void
await_login(struct back_args *a, struct auth_user *u, char **tag_r,
    int *tls_r)
{
	static char rip[64];
	const struct config *conf = a->conf;
	char storage[AUTHMSG_MAX];
	struct authreq q;
	unsigned failures = 0, nfail;
	enum auth_result r;
	enum authres_status st;
	long long start, took, deadline, answer_at;
	uint64_t penalty;
	int got, tls;

	deadline = session_now_ms() + (long long)a->conf->timeout_login_ms +
	    (long long)a->conf->auth_fail_delay_ms + LOGIN_GRACE_MS;
	/* the backstop for what no poll sees: a front that stops in the
	 * middle of a message, a PAM module that never returns */
	(void)alarm((unsigned)((deadline - session_now_ms()) / 1000 + 1));
	for (;;) {
		got = await_request(a, deadline);
		if (got == 0) {
			log_warnx("no login from the session's front process "
			    "within timeout_login; ending the session");
			(void)kill(a->front_pid, SIGKILL);
			finish(a, 1, 1);
		}
		if (got == 1)
			got = authmsg_recv_request(a->front, &q, storage,
			    sizeof(storage));
		if (got == -2) {
			/* shutting down: the front tells the client */
			(void)kill(a->front_pid, SIGTERM);
			finish(a, 1, 0);
		}
		if (got == 0)
			finish(a, 1, 0);	/* the front ended the session */
		if (got == -1) {
			log_warnx("malformed message from the front; ending "
			    "the session");
			(void)kill(a->front_pid, SIGKILL);
			finish(a, 1, 1);
		}
		origin(a, rip, sizeof(rip), &q);
		start = session_now_ms();
		penalty = limits_penalty_ms(&a->addr,
		    conf->auth_penalty_max_ms, &nfail);
		log_setuser(q.user);
		free(*tag_r);
		if ((*tag_r = strdup(q.tag)) == NULL)
			fatal("strdup");
		tls = strcmp(q.secured, "tls") == 0;
		r = auth_check(conf, q.user, q.pass, a->rip, u);
		wipe(storage, sizeof(storage));
		st = r == AUTH_OK ? enforce(conf, u, a->rip, tls) :
		    r == AUTH_FAILED ? AUTHRES_FAIL : AUTHRES_TEMPFAIL;
		if (r == AUTH_OK && st != AUTHRES_OK)
			auth_end(u);	/* refused before the PAM session */
		else if (st == AUTHRES_OK)
			st = admit(a, u);
		if (st == AUTHRES_OK) {
			log_setuser(u->name);
			if (u->label[0] != '\0')
				log_info("logged in (%s, method=app-password "
				    "label=%s, %s)", u->method, u->label,
				    tls ? "TLS" : "plaintext");
			else
				log_info("logged in (%s, %s)", u->method,
				    tls ? "TLS" : "plaintext");
			if (authmsg_send_result(a->front, AUTHRES_OK) == -1)
				finish(a, 1, 0);
			(void)alarm(0);
			*tls_r = tls;
			return;
		}
		if (st == AUTHRES_LIMIT) {
			/* only the right password gets here: no need to hide
			 * it, and nothing more this connection can do */
			(void)authmsg_send_result(a->front, st);
			finish(a, 1, 0);
		}
		/* every failure counts toward the three that end the session,
		 * temporary ones too (each is logged, and a client could ask
		 * for them without end); a policy refusal also brings the
		 * penalties, as it is answered at the same deadline */
		failures++;
		if (st != AUTHRES_TEMPFAIL)
			limits_failed(&a->addr);
		took = session_now_ms() - start;
		if (took > (long long)conf->auth_fail_delay_ms)
			log_warnx("checking this login took %lld ms, longer "
			    "than auth_fail_delay (%llu ms): its failure can "
			    "be told from others by its timing (raise "
			    "auth_fail_delay)", took,
			    (unsigned long long)conf->auth_fail_delay_ms);
		answer_at = start + (long long)(conf->auth_fail_delay_ms +
		    penalty);
		log_penalty(conf, penalty, nfail);
		sleep_until(answer_at);
		log_setuser(NULL);
		if (authmsg_send_result(a->front, st) == -1 ||
		    failures >= BACK_FAILURES_MAX)
			finish(a, 1, 0);
	}
}

/* Serve the logged-in session on c; pending holds what the client sent
 * past its login command, if the front read it rather than relays it. */
static void
serve(const struct config *conf, struct conn *c, const struct auth_user *u,
    const char *tag, const char *rip, const char *lport,
    const struct buf *pending)
{
	struct session s;

	mapfile_set_mode((enum mapfile_mode)conf->mmap);
	mdname_set_host(conf->hostname);
	storelock_set_timeout(conf->lock_timeout_ms);
	storelock_set_method((enum storelock_method)conf->lock_method);
	storelock_set_host(conf->hostname);
	session_init(&s, conf, c, STATE_AUTH);
	/* cannot fail: the front read them into an input buffer as large */
	if (pending != NULL && session_feed(&s, pending->data,
	    pending->len) == -1)
		fatalx("pipelined input over the input buffer");
	s.user = strdup(u->name);
	if (s.user == NULL)
		fatal("strdup");
	if (!storecheck_marker(conf, "the session")) {
		if (tag != NULL)
			session_printf(&s, "%s NO [UNAVAILABLE] The mail store "
			    "is not available now; try again later\r\n", tag);
		else
			session_printf(&s, "* BYE [UNAVAILABLE] The mail store "
			    "is not available now\r\n");
		(void)session_flush(&s);
		session_free(&s);
		return;
	}
	if ((s.mailroot = find_mail(conf, u)) == NULL) {
		if (tag != NULL)
			session_printf(&s, "%s NO [SERVERBUG] Your mail folder "
			    "is not available; the server log says why\r\n",
			    tag);
		else
			session_printf(&s, "* BYE Your mail folder is not "
			    "available\r\n");
		(void)session_flush(&s);
		session_free(&s);
		return;
	}
	/* the userdb's quota is the user's own; imapd.conf's a default */
	s.quota_replace = quotadef_any(&u->quota);
	s.quota_want = s.quota_replace ? u->quota : conf->quota;
	/* every client finds Sent, Drafts and Trash, and only one of each */
	if (specialuse_settle(&s.specialuse, s.mailroot, conf) == -1)
		fatal("special-use folders");
	snprintf(s.rip, sizeof(s.rip), "%s", rip);
	snprintf(s.lport, sizeof(s.lport), "%s", lport);
	if (tag != NULL)
		session_printf(&s, "%s OK [CAPABILITY %s] Logged in\r\n", tag,
		    capability_string(&s));
	else
		session_printf(&s, "* PREAUTH [CAPABILITY %s] imapd ready, "
		    "logged in as %s\r\n", capability_string(&s), u->name);
	(void)session_run(&s);
	log_end(&s);
	session_free(&s);
}

/*
 * Root keeper of a PAM session (see the top of this file): wait for the
 * session process, passing SIGTERM on, then close the PAM session.
 */
static void __attribute__((noreturn))
keep_pam_session(const struct back_args *a, struct auth_user *u,
    pid_t child)
{
	pid_t pid;
	int status;

	(void)prctl(PR_SET_NAME, "imapd-pam", 0, 0, 0);
	for (;;) {
		if (sig_term) {
			sig_term = 0;
			(void)kill(child, SIGTERM);
		}
		if (sig_drain) {
			sig_drain = 0;
			(void)kill(child, SIGUSR2);
		}
		/* the front is ours too: finish() reaps it */
		pid = waitpid(child, &status, WNOHANG);
		if (pid == child || (pid == -1 && errno == ECHILD))
			break;
		(void)sig_wait(NULL, 0, -1);
	}
	auth_session_close(u);
	finish(a, 0, 0);
}

/* After a PAM login: fork, and return in the child that serves the
 * session the pid of its keeper (0 if there is none); the keeper never
 * returns. */
static pid_t
split_for_pam(const struct back_args *a, struct auth_user *u)
{
	pid_t pid, keeper = getpid();

	if (u->pam == NULL)
		return 0;
	if ((pid = fork()) == -1) {
		log_warn("cannot fork the session from its PAM keeper");
		auth_session_close(u);
		_exit(1);
	}
	if (pid == 0) {
		auth_forget(u);
		return keeper;
	}
	if (a->front >= 0)
		close(a->front);
	if (a->client >= 0)
		close(a->client);
	keep_pam_session(a, u, pid);
}

/*
 * After a plaintext login: read what the front hands over, to its end,
 * and reap the front (see the top of this file).  0, or -1 if the front
 * did not hand over as it should (logged; it is gone then too).
 */
static int
take_client(struct back_args *a, struct buf *pending)
{
	struct pollfd pfd;
	long long deadline, left;
	ssize_t n;
	int st, ok = 0;

	deadline = session_now_ms() + (long long)a->conf->timeout_output_ms +
	    FRONT_GRACE_MS;
	for (;;) {
		/* the buffer's maximum leaves room for one read past
		 * BACK_PENDING_MAX, to tell a front that sends too much */
		if (buf_reserve(pending, 4096) == -1)
			fatalx("take_client: buffer");
		n = read(a->front, pending->data + pending->len, 4096);
		if (n > 0) {
			pending->len += (size_t)n;
			if (pending->len <= BACK_PENDING_MAX)
				continue;
			log_warnx("the front handed over more input than a "
			    "session reads ahead; ending the session");
			goto out;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_warn("reading the front's hand-over");
			goto out;
		}
		if ((left = deadline - session_now_ms()) <= 0) {
			log_warnx("the front did not hand the connection "
			    "over in time; ending the session");
			goto out;
		}
		pfd.fd = a->front;
		pfd.events = POLLIN;
		pfd.revents = 0;
		(void)sig_wait(&pfd, 1, (int)left);
	}
	/* it closed its end by exiting: wait for that, bounded */
	switch (wait_front(a->front_pid, deadline, &st)) {
	case 1:
		a->front_pid = -1;
		ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!ok)
			log_warnx("the session's front process failed while "
			    "handing the connection over");
		break;
	case 0:
		log_warnx("the front did not end after handing the "
		    "connection over; ending the session");
		break;
	}
out:
	if (a->front_pid > 0) {
		(void)kill(a->front_pid, SIGKILL);
		while (waitpid(a->front_pid, NULL, 0) == -1 && errno == EINTR)
			continue;
		a->front_pid = -1;
	}
	(void)close(a->front);
	a->front = -1;
	return ok ? 0 : -1;
}

void
back_run(const struct back_args *args)
{
	struct back_args b = *args, *a = &b;
	struct auth_user u;
	struct conn c;
	struct buf pending;
	char *tag = NULL;
	pid_t keeper;
	int tls = 1, direct;

	(void)prctl(PR_SET_NAME, "imapd-auth", 0, 0, 0);
	await_login(a, &u, &tag, &tls);
	wipe_stack();		/* what PAM and the login request left */
	limits_detach();
	buf_init(&pending, BACK_PENDING_MAX + 4096);
	direct = a->client >= 0 && (!tls || a->tls_outside);
	if (direct && take_client(a, &pending) == -1) {
		auth_session_close(&u);
		finish(a, 0, 0);
	}
	if (!direct && a->client >= 0) {
		(void)close(a->client);
		a->client = -1;
	}
	keeper = split_for_pam(a, &u);
	become(&u);
	/* the drop cleared any death signal; a session whose keeper died
	 * (killed at the end of a shutdown) must not outlive it */
	if (keeper != 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != keeper))
		_exit(0);
	(void)prctl(PR_SET_NAME, "imapd-session", 0, 0, 0);
	if (direct) {
		conn_init(&c, a->client, a->client);
		c.stall_ms = (int)a->conf->timeout_output_ms;
	} else
		conn_init(&c, a->front, a->front);
	serve(a->conf, &c, &u, tag, a->rip, a->lport,
	    direct ? &pending : NULL);
	conn_close(&c);
	buf_free(&pending);
	free(tag);
	finish(a, 0, 0);
}

void
back_stdio(const struct config *conf)
{
	struct auth_user u;
	struct conn c;
	char id[SESSION_ID_LEN + 1];

	if (auth_self(&u) == -1)
		fatalx("--stdio: cannot find the invoking user (uid %lu) in "
		    "the passwd database", (unsigned long)getuid());
	session_newid(id, sizeof(id));
	log_setsession(id);
	log_setuser(u.name);
	log_info("PREAUTH session on stdin/stdout");
	conn_init(&c, STDIN_FILENO, STDOUT_FILENO);
	serve(conf, &c, &u, NULL, "", "", NULL);
	conn_close(&c);
	exit(0);
}
