/*
 * back: credential checks, the privilege drop, and the logged-in session.
 * See back.h.
 *
 * Failed logins are answered after auth_fail_delay, here rather than in
 * the front so that even a subverted front cannot guess faster; the back
 * also counts failures itself (temporary ones too) and ends the session
 * at the third.
 *
 * The back trusts its front for nothing, not even to end: it waits for a
 * login request only until timeout_login (and a grace) has passed since
 * the connection was accepted, and an alarm ends it should a front stop
 * in the middle of a message or a PAM module hang.  When the back is done
 * it closes its end of the socketpair, which tells the front at once, and
 * waits for the front to exit before it exits itself: the master counts
 * the back, so a front still flushing the last responses stays inside
 * max_sessions.  The front dies with the back (it asked the kernel for
 * SIGKILL when its parent goes), so the wait is also its upper bound.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mapfile.h"
#include "common/privdrop.h"
#include "common/wipe.h"
#include "imapd/auth.h"
#include "imapd/authmsg.h"
#include "imapd/back.h"
#include "imapd/sandbox.h"
#include "imapd/capability.h"
#include "imapd/conn.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "maildir/folder.h"

#define BACK_FAILURES_MAX	3
#define LOGIN_GRACE_MS		10000	/* past timeout_login and a failure's
					 * delay: a verdict in progress (PAM)
					 * may finish */
#define FRONT_GRACE_MS		3000	/* past timeout_output: the front's
					 * linger after a BYE before login */

/* Sleep ms unless a shutdown signal comes first. */
static void
delay(uint64_t ms)
{
	long long until = session_now_ms() + (long long)ms, left;

	while (!sig_term && (left = until - session_now_ms()) > 0)
		(void)sig_wait(NULL, 0, (int)left);
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
	long long deadline, left;
	pid_t r;
	int st;

	if (close_front)
		(void)close(a->front);
	deadline = session_now_ms() + (long long)a->conf->timeout_output_ms +
	    FRONT_GRACE_MS;
	for (;;) {
		r = waitpid(a->front_pid, &st, WNOHANG);
		if (r == a->front_pid) {
			if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL &&
			    WTERMSIG(st) != SIGTERM)
				log_warnx("the session's front process was "
				    "killed by signal %d%s", WTERMSIG(st),
				    WTERMSIG(st) == SIGSYS ? " (a system call "
				    "outside its sandbox; see imapd(8))" : "");
			break;
		}
		if (r == -1 && errno != EINTR)
			break;
		if ((left = deadline - session_now_ms()) <= 0) {
			log_info("the session's front process did not end "
			    "within timeout_output; ending it");
			break;
		}
		(void)sig_wait(NULL, 0, (int)left);
	}
	_exit(status);
}

/* Wait until the front has sent something or the login deadline passed;
 * 1 readable, 0 too late, -2 a shutdown signal. */
static int
await_request(const struct back_args *a, long long deadline)
{
	struct pollfd pfd;
	long long left;

	for (;;) {
		if (sig_term)
			return -2;
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
 * (as the user), with the special-use folders the configuration names,
 * subscribed, so that every client finds Sent, Drafts and Trash.
 * NULL if the Maildir cannot be made (logged).
 */
static char *
find_mail(const struct config *conf, const struct auth_user *u)
{
	const char *loc = u->maildir[0] != '\0' ? u->maildir :
	    conf->mail_location;
	char path[PATH_MAX], dir[FOLDER_PATH_MAX];
	const char *why;
	struct stat sb;
	unsigned i;
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
		log_warn("cannot create the Maildir %s (check that the home "
		    "directory exists and belongs to the user)", path);
		return NULL;
	}
	for (i = 0; i < conf->nspecial; i++) {
		const char *name = conf->special[i].name;

		if (folder_path(path, name, dir, sizeof(dir), &why) == -1 ||
		    stat(dir, &sb) == 0)
			continue;
		if (folder_create(path, name, &why) == 0)
			(void)folder_subscribe(path, name, 1);
		else if (errno != EEXIST)
			log_warnx("cannot create special-use folder %s: %s",
			    name, why);
	}
	if (fresh)
		log_info("created the Maildir %s", path);
	return strdup(path);
}

/* Wait for credentials from the front; returns when logged in. */
static void
await_login(const struct back_args *a, struct auth_user *u, char *tag,
    size_t taglen)
{
	char storage[AUTHMSG_MAX];
	struct authreq q;
	unsigned failures = 0;
	enum auth_result r;
	long long deadline;
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
		log_setuser(q.user);
		if (snprintf(tag, taglen, "%s", q.tag) >= (int)taglen)
			fatalx("tag too long");
		tls = strcmp(q.secured, "tls") == 0;
		r = auth_check(a->conf, q.user, q.pass, a->rip, u);
		wipe(storage, sizeof(storage));
		if (r == AUTH_OK) {
			log_setuser(u->name);
			log_info("logged in (%s, %s)", u->method,
			    tls ? "TLS" : "plaintext");
			if (authmsg_send_result(a->front, AUTHRES_OK) == -1)
				finish(a, 1, 0);
			(void)alarm(0);
			return;
		}
		/* a temporary failure counts too: each is logged, and the
		 * client could otherwise ask for them without end */
		failures++;
		if (r == AUTH_FAILED)
			delay(a->conf->auth_fail_delay_ms);
		log_setuser(NULL);
		if (authmsg_send_result(a->front, r == AUTH_FAILED ?
		    AUTHRES_FAIL : AUTHRES_TEMPFAIL) == -1 ||
		    failures >= BACK_FAILURES_MAX)
			finish(a, 1, 0);
	}
}

static void
serve(const struct config *conf, struct conn *c, const struct auth_user *u,
    const char *tag, const char *rip, const char *lport)
{
	struct session s;

	mapfile_set_mode((enum mapfile_mode)conf->mmap);
	session_init(&s, conf, c, STATE_AUTH);
	s.user = strdup(u->name);
	if (s.user == NULL)
		fatal("strdup");
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

void
back_run(const struct back_args *a)
{
	struct auth_user u;
	struct conn c;
	char tag[128];

	(void)prctl(PR_SET_NAME, "imapd-auth", 0, 0, 0);
	await_login(a, &u, tag, sizeof(tag));
	wipe_stack();		/* what PAM and the login request left */
	become(&u);
	(void)prctl(PR_SET_NAME, "imapd-session", 0, 0, 0);
	conn_init(&c, a->front, a->front);
	serve(a->conf, &c, &u, tag, a->rip, a->lport);
	conn_close(&c);
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
	serve(conf, &c, &u, NULL, "", "");
	conn_close(&c);
	exit(0);
}
