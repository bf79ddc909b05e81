/*
 * back: credential checks, the privilege drop, and the logged-in session.
 * See back.h.
 *
 * Failed logins are answered after auth_fail_delay, here rather than in
 * the front so that even a subverted front cannot guess faster; the back
 * also counts failures itself and ends the session at the third.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

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
#include "imapd/capability.h"
#include "imapd/conn.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "maildir/folder.h"

#define BACK_FAILURES_MAX	3

/* Sleep ms unless a shutdown signal comes first. */
static void
delay(uint64_t ms)
{
	long long until = session_now_ms() + (long long)ms, left;

	while (!sig_term && (left = until - session_now_ms()) > 0)
		(void)sig_wait(NULL, 0, (int)left);
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
	if (chdir(u->home) == -1)
		log_warn("cannot enter home directory %s", u->home);
}

/*
 * Where the user's mail is: the userdb's maildir field, else
 * mail_location, with ~ meaning the home directory.  Created if missing
 * (as the user), with the special-use folders the configuration names,
 * subscribed, so that every client finds Sent, Drafts and Trash.
 * The path comes back resolved: a link on the way to the Maildir (one
 * moved to another disk) is followed here, once, and none inside it
 * ever is (maildir/folder.h).  NULL if the Maildir cannot be made
 * (logged).
 */
static char *
find_mail(const struct config *conf, const struct auth_user *u)
{
	const char *loc = u->maildir[0] != '\0' ? u->maildir :
	    conf->mail_location;
	char path[PATH_MAX], dir[FOLDER_PATH_MAX], *real;
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
		if (errno != ELOOP)	/* which folder_init_root logs */
			log_warn("cannot create the Maildir %s (check that "
			    "the home directory exists and belongs to the "
			    "user)", path);
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
	if ((real = realpath(path, NULL)) == NULL)
		log_warn("cannot resolve the Maildir path %s", path);
	return real;
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
	int got, tls;

	for (;;) {
		got = authmsg_recv_request(a->front, &q, storage,
		    sizeof(storage));
		if (got == -2) {
			/* shutting down: the front tells the client */
			(void)kill(a->front_pid, SIGTERM);
			_exit(0);
		}
		if (got == 0)
			_exit(0);	/* the front ended the session */
		if (got == -1) {
			log_warnx("malformed message from the front; ending "
			    "the session");
			(void)kill(a->front_pid, SIGKILL);
			_exit(1);
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
				_exit(0);
			return;
		}
		if (r == AUTH_FAILED) {
			failures++;
			delay(a->conf->auth_fail_delay_ms);
		}
		log_setuser(NULL);
		if (authmsg_send_result(a->front, r == AUTH_FAILED ?
		    AUTHRES_FAIL : AUTHRES_TEMPFAIL) == -1 ||
		    failures >= BACK_FAILURES_MAX)
			_exit(0);
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
	become(&u);
	(void)prctl(PR_SET_NAME, "imapd-session", 0, 0, 0);
	conn_init(&c, a->front, a->front);
	serve(a->conf, &c, &u, tag, a->rip, a->lport);
	conn_close(&c);
	_exit(0);
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
