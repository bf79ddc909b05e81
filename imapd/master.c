/*
 * master: the parent of every imapd process.  See master.h.
 *
 * Workers report "busy" on a shared status pipe as soon as they accept a
 * connection (a write of one small struct is atomic), so the master knows
 * how many are idle without ever talking to a client.  Every exit is
 * reaped in the main loop after SIGCHLD; signals are only unblocked inside
 * sig_wait(), so none is lost between a check and the wait.
 *
 * The limits per address and per user are decided by the workers
 * themselves, in a table the master shares with them (limits.c says why
 * and how races are kept out).  The master's part is to give each worker
 * a slot of that table when it forks it and to clear the slot when it
 * reaps it, so whatever a worker counted ends with the worker.
 *
 * SIGHUP: read the configuration again; if it (and its certificate) is
 * good, retire the idle workers (SIGUSR1 ends a worker only while idle)
 * and start new ones with the new settings, rebinding the listening
 * sockets if the addresses changed.  Sessions already running keep the
 * settings they started with.  If the new configuration is bad, the old
 * one stays and the log says why.
 *
 * SIGTERM: close the listening sockets, SIGTERM every worker (sessions
 * answer "* BYE" and end), wait up to DRAIN_MS, SIGKILL what is left.
 *
 * SIGUSR2 (a drain, before maintenance or to move clients to another
 * host): close the listening sockets, SIGUSR2 every worker (each session
 * answers "* BYE [UNAVAILABLE]" at its next point between commands, an
 * IDLE at once), wait up to drain_timeout for them to end, then do what
 * SIGTERM does with whatever is left.  A SIGTERM meanwhile does it at
 * once.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/apppass.h"
#include "common/lib/log.h"
#include "common/lib/userdb.h"
#include "imapd/config.h"
#include "imapd/keyproc.h"
#include "imapd/limits.h"
#include "imapd/master.h"
#include "imapd/policy.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/tls.h"
#include "imapd/tlsproc.h"
#include "imapd/worker.h"

#define MAX_LISTENERS	(CONFIG_MAX_LISTEN * 2 * 4)
#define DRAIN_MS	4000
#define SPAWN_BACKOFF_MS 1000

enum child_state {
	CHILD_IDLE,
	CHILD_BUSY,
	CHILD_RETIRING,		/* told to exit while idle */
};

struct child {
	pid_t			pid;
	enum child_state	state;
	int			slot;		/* in the limits table */
};

static struct config	*conf;
static struct listener	 listeners[MAX_LISTENERS];
static unsigned		 nlisteners;
static struct child	*children;
static size_t		 nchildren, capchildren;
static int		 statusfd[2] = { -1, -1 };
static int		 deathfd[2] = { -1, -1 };
static unsigned		 quick_deaths;	/* idle workers that died ... */
static long long	 quick_since;	/* ... since this time */

static int
bind_one(const struct addrinfo *ai, const char *host, const char *port,
    int tls, struct listener *l)
{
	char h[NI_MAXHOST];
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		if (errno == EAFNOSUPPORT && host[0] == '\0')
			return -2;	/* no IPv6 here: fine for "*" */
		log_warn("socket for %s:%s", host[0] ? host : "*", port);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		if ((e == EADDRNOTAVAIL || e == EAFNOSUPPORT) &&
		    host[0] == '\0' && ai->ai_family == AF_INET6)
			return -2;
		log_warn("cannot listen on %s:%s%s", host[0] ? host : "*",
		    port, e == EACCES ? " (ports below 1024 need root)" :
		    e == EADDRINUSE ? " (another server uses this port; "
		    "ss -ltnp shows which)" : "");
		return -1;
	}
	if (listen(fd, 128) == -1) {
		log_warn("listen on %s:%s", host, port);
		close(fd);
		return -1;
	}
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h), NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(h, sizeof(h), "?");
	l->fd = fd;
	l->tls = tls;
	snprintf(l->desc, sizeof(l->desc), ai->ai_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", h, port);
	return 0;
}

static int
bind_list(const struct listen_addr *addrs, unsigned n, int tls,
    struct listener *out, unsigned max, unsigned *count)
{
	struct addrinfo hints, *res, *ai;
	unsigned i;
	int r, errors = 0;

	for (i = 0; i < n; i++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		r = getaddrinfo(addrs[i].host[0] ? addrs[i].host : NULL,
		    addrs[i].port, &hints, &res);
		if (r != 0) {
			log_warnx("cannot resolve listen address %s: %s",
			    addrs[i].host, gai_strerror(r));
			errors++;
			continue;
		}
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (*count == max) {
				log_warnx("too many listening sockets");
				errors++;
				break;
			}
			r = bind_one(ai, addrs[i].host, addrs[i].port, tls,
			    &out[*count]);
			if (r == 0)
				(*count)++;
			else if (r == -1)
				errors++;
		}
		freeaddrinfo(res);
	}
	return errors;
}

unsigned
master_bind(const struct config *c, struct listener *out, unsigned max)
{
	unsigned n = 0, i;
	int errors;

	errors = bind_list(c->imap, c->nimap, 0, out, max, &n);
	errors += bind_list(c->imaps, c->nimaps, 1, out, max, &n);
	if (errors > 0) {
		for (i = 0; i < n; i++)
			close(out[i].fd);
		return 0;
	}
	return n;
}

static int
same_listen(const struct config *a, const struct config *b)
{
	return a->nimap == b->nimap && a->nimaps == b->nimaps &&
	    memcmp(a->imap, b->imap, sizeof(a->imap[0]) * a->nimap) == 0 &&
	    memcmp(a->imaps, b->imaps, sizeof(a->imaps[0]) * a->nimaps) == 0;
}

/* Make sure the login chroot exists, belongs to root and is not writable
 * by anyone else; create it (and its parents) if missing. */
static int
prepare_chroot(const char *dir, void (*print)(const char *), int create)
{
	char path[4096], msg[4400];
	struct stat sb;
	size_t i;

	if (stat(dir, &sb) == -1 && errno == ENOENT && create) {
		if (snprintf(path, sizeof(path), "%s", dir) >=
		    (int)sizeof(path))
			return -1;
		for (i = 1; path[i] != '\0'; i++) {
			if (path[i] != '/')
				continue;
			path[i] = '\0';
			if (mkdir(path, 0755) == -1 && errno != EEXIST)
				break;
			path[i] = '/';
		}
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			snprintf(msg, sizeof(msg), "login_chroot %s: cannot "
			    "create: %s", dir, strerror(errno));
			print(msg);
			return -1;
		}
	}
	if (stat(dir, &sb) == -1) {
		snprintf(msg, sizeof(msg), "login_chroot %s: %s%s", dir,
		    strerror(errno), errno == ENOENT ?
		    " (imapd creates it when it starts)" : "");
		print(msg);
		return errno == ENOENT && !create ? 0 : -1;
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != 0 ||
	    (sb.st_mode & 022) != 0) {
		snprintf(msg, sizeof(msg), "login_chroot %s must be a "
		    "directory owned by root and writable only by root "
		    "(chown root:root, chmod 755)", dir);
		print(msg);
		return -1;
	}
	return 0;
}

int
master_check(const struct config *c, void (*print)(const char *))
{
	char err[600], msg[1024];
	struct userdb_entry e;
	struct apppass ap[APPPASS_MAX];
	const char *why = NULL;
	size_t n;
	unsigned i;
	int errors = 0, r;

	if (tls_check(c, err, sizeof(err)) == -1) {
		print(err);
		errors++;
	}
	if (geteuid() == 0) {
		if (getpwnam(c->login_user) == NULL) {
			snprintf(msg, sizeof(msg), "login_user %s does not "
			    "exist (create it: useradd -r -s "
			    "/usr/sbin/nologin %s)", c->login_user,
			    c->login_user);
			print(msg);
			errors++;
		}
		if (prepare_chroot(c->login_chroot, print, 0) == -1)
			errors++;
	}
	for (i = 0; i < c->nauth; i++) {
		if (c->auth[i] == AUTH_USERDB) {
			if (userdb_lookup(c->userdb, "imapd-check", &e, err,
			    sizeof(err)) == -1) {
				snprintf(msg, sizeof(msg), "userdb: %s", err);
				print(msg);
				errors++;
			} else
				userdb_entry_free(&e);
		} else {
			snprintf(err, sizeof(err), "/etc/pam.d/%s",
			    c->pam_service);
			if (access(err, R_OK) == -1) {
				snprintf(msg, sizeof(msg), "PAM service %s: "
				    "%s is missing, so PAM uses its "
				    "'other' service (install the PAM file "
				    "from INSTALL)", c->pam_service, err);
				print(msg);
			}
		}
	}
	if (apppass_read(c->app_passwords, "imapd-check", ap, APPPASS_MAX, &n,
	    &why) == -1 && errno != ENOENT) {
		r = snprintf(msg, sizeof(msg), "app_passwords %s: %s (rebuild "
		    "it with imapd-userdb app-password)", c->app_passwords,
		    why);
		print(r < 0 || (size_t)r >= sizeof(msg) ? why : msg);
		errors++;
	}
	errors += policy_check_file(c->login_policy, print);
	return errors;
}

static void
print_log(const char *s)
{
	log_warnx("%s", s);
}

static struct child *
child_add(pid_t pid, int slot)
{
	struct child *n;

	if (nchildren == capchildren) {
		size_t cap = capchildren ? capchildren * 2 : 16;

		if ((n = reallocarray(children, cap, sizeof(*n))) == NULL)
			return NULL;
		children = n;
		capchildren = cap;
	}
	children[nchildren].pid = pid;
	children[nchildren].state = CHILD_IDLE;
	children[nchildren].slot = slot;
	return &children[nchildren++];
}

static struct child *
child_find(pid_t pid)
{
	size_t i;

	for (i = 0; i < nchildren; i++)
		if (children[i].pid == pid)
			return &children[i];
	return NULL;
}

static unsigned
count(enum child_state st)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < nchildren; i++)
		if (children[i].state == st)
			n++;
	return n;
}

static void retire_idle(void);

static void
reap(void)
{
	struct child *c;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (keyproc_reaped(pid, status)) {
			/* their channels lead nowhere now */
			retire_idle();
			continue;
		}
		if (tlsproc_reaped(pid, status))
			continue;
		if ((c = child_find(pid)) == NULL)
			continue;
		if (c->state == CHILD_IDLE) {
			if (session_now_ms() - quick_since > 1000) {
				quick_since = session_now_ms();
				quick_deaths = 0;
			}
			quick_deaths++;
			if (WIFSIGNALED(status))
				log_warnx("idle worker %ld killed by signal %d",
				    (long)pid, WTERMSIG(status));
			else
				log_warnx("idle worker %ld exited with status "
				    "%d", (long)pid, WEXITSTATUS(status));
		} else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGKILL)
			log_warnx("session process %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
		limits_slot_free(c->slot);
		*c = children[--nchildren];
	}
}

static void
read_status(void)
{
	struct worker_status st;
	struct child *c;
	ssize_t n;

	for (;;) {
		n = read(statusfd[0], &st, sizeof(st));
		if (n != (ssize_t)sizeof(st))
			return;
		if ((c = child_find(st.pid)) != NULL && st.busy)
			c->state = CHILD_BUSY;
	}
}

static void
close_listeners(void)
{
	unsigned i;

	for (i = 0; i < nlisteners; i++)
		close(listeners[i].fd);
	nlisteners = 0;
}

/* Start idle workers until there are enough; 0, or -1 if fork failed. */
static int
spawn(void)
{
	struct worker_args wa;
	struct child *c;
	unsigned total;
	pid_t pid;
	int slot;

	for (;;) {
		total = (unsigned)nchildren;
		if (count(CHILD_IDLE) >= conf->prefork)
			return 0;
		if (total >= conf->max_sessions) {
			static time_t warned;

			if (time(NULL) - warned > 60) {
				log_warnx("max_sessions (%u) reached: new "
				    "connections wait until a session ends "
				    "(raise max_sessions in %s)",
				    conf->max_sessions, conf->path);
				warned = time(NULL);
			}
			return 0;
		}
		if ((slot = limits_slot_take()) == -1) {
			log_warnx("no free slot in the limits table");
			return -1;
		}
		(void)keyproc_channel(conf);
		if ((pid = fork()) == -1) {
			log_warn("cannot start a worker");
			keyproc_channel_close();
			limits_slot_free(slot);
			return -1;
		}
		if (pid == 0) {
			keyproc_atfork();
			close(statusfd[0]);
			close(deathfd[1]);
			sig_term = sig_hup = sig_usr1 = sig_chld = 0;
			memset(&wa, 0, sizeof(wa));
			wa.conf = conf;
			wa.listeners = listeners;
			wa.nlisteners = nlisteners;
			wa.statusfd = statusfd[1];
			wa.deathfd = deathfd[0];
			wa.slot = slot;
			worker_run(&wa);
		}
		keyproc_channel_close();
		if ((c = child_add(pid, slot)) == NULL) {
			log_warnx("out of memory tracking workers");
			(void)kill(pid, SIGKILL);
			/* its slot stays taken: the worker is not reaped */
			return -1;
		}
	}
}

static void
retire_idle(void)
{
	size_t i;

	for (i = 0; i < nchildren; i++)
		if (children[i].state == CHILD_IDLE) {
			children[i].state = CHILD_RETIRING;
			(void)kill(children[i].pid, SIGUSR1);
		}
}

static void
reload(void)
{
	struct config *nc;
	struct listener nl[MAX_LISTENERS];
	unsigned nn = 0, i;
	char *errs = NULL, err[600];

	log_info("SIGHUP: reloading %s", conf->path);
	if ((nc = calloc(1, sizeof(*nc))) == NULL) {
		log_warn("reload");
		return;
	}
	config_defaults(nc);
	if (config_load(nc, conf->path, &errs) == -1) {
		log_warnx("reload failed, keeping the running "
		    "configuration: %s", errs);
		goto fail;
	}
	if (master_check(nc, print_log) > 0) {
		log_warnx("reload failed, keeping the running configuration");
		goto fail;
	}
	if (keyproc_prepare(nc, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		goto fail;
	}
	if (!same_listen(conf, nc)) {
		close_listeners();
		if ((nn = master_bind(nc, nl, MAX_LISTENERS)) == 0) {
			log_warnx("reload: cannot listen on the new "
			    "addresses, keeping the old ones");
			if ((nlisteners = master_bind(conf, listeners,
			    MAX_LISTENERS)) == 0)
				fatalx("cannot listen on the old addresses "
				    "either");
			goto fail;
		}
		for (i = 0; i < nn; i++)
			listeners[i] = nl[i];
		nlisteners = nn;
	}
	/* the old struct stays allocated: busy workers were forked with
	 * their own copy, and the master never frees in a hurry */
	config_free(conf);
	free(conf);
	conf = nc;
	log_setfacility(conf->syslog_facility);
	keyproc_commit();
	(void)tlsproc_start(conf);
	retire_idle();
	log_info("reloaded: new sessions use the new configuration");
	free(errs);
	return;
fail:
	keyproc_discard();
	free(errs);
	config_free(nc);
	free(nc);
}

static void __attribute__((noreturn))
shutdown_all(const char *why)
{
	long long deadline;
	size_t i;

	log_info("%s: stopping; ending %zu sessions", why, nchildren);
	close_listeners();
	close(deathfd[1]);
	for (i = 0; i < nchildren; i++)
		(void)kill(children[i].pid, SIGTERM);
	deadline = session_now_ms() + DRAIN_MS;
	while (nchildren > 0 && session_now_ms() < deadline) {
		sig_chld = 0;
		reap();
		if (nchildren == 0)
			break;
		(void)sig_wait(NULL, 0, 100);
	}
	for (i = 0; i < nchildren; i++)
		(void)kill(children[i].pid, SIGKILL);
	while (nchildren > 0 && waitpid(-1, NULL, 0) > 0)
		reap();
	tlsproc_stop();
	log_info("stopped");
	exit(0);
}

static void __attribute__((noreturn))
drain_all(void)
{
	long long deadline;
	size_t i;

	log_info("SIGUSR2: draining; no new connections, and %u sessions "
	    "end at their next command (drain_timeout = %llu ms)",
	    count(CHILD_BUSY), (unsigned long long)conf->drain_timeout_ms);
	close_listeners();
	for (i = 0; i < nchildren; i++) {
		/* an idle worker's exit is no longer news */
		if (children[i].state == CHILD_IDLE)
			children[i].state = CHILD_RETIRING;
		(void)kill(children[i].pid, SIGUSR2);
	}
	deadline = session_now_ms() + (long long)conf->drain_timeout_ms;
	while (nchildren > 0 && !sig_term && session_now_ms() < deadline) {
		sig_chld = 0;
		reap();
		if (nchildren == 0)
			break;
		(void)sig_wait(NULL, 0, 100);
	}
	if (nchildren == 0) {
		log_info("drained: every session has ended");
		exit(0);
	}
	shutdown_all(sig_term ? "SIGTERM while draining" :
	    "drain_timeout passed");
}

void
master_run(struct config *c, int foreground)
{
	struct pollfd pfd;
	char err[600];
	int timeout, fl, r;

	conf = c;
	(void)foreground;
	(void)prctl(PR_SET_NAME, "imapd-master", 0, 0, 0);
	if (master_check(conf, print_log) > 0)
		fatalx("cannot start: fix the problems above (imapd -t -c %s "
		    "checks the configuration)", conf->path);
	if (geteuid() == 0 && prepare_chroot(conf->login_chroot, print_log,
	    1) == -1)
		fatalx("cannot start: login_chroot unusable");
	tls_preload();
	if (keyproc_prepare(conf, err, sizeof(err)) == -1)
		fatalx("cannot start: %s", err);
	keyproc_commit();
	(void)tlsproc_start(conf);
	if ((nlisteners = master_bind(conf, listeners, MAX_LISTENERS)) == 0)
		fatalx("cannot start: no listening socket");
	if (limits_init(CONFIG_MAX_SESSIONS) == -1)
		fatal("cannot map the table of connection limits");
	if (pipe2(statusfd, O_CLOEXEC) == -1 ||
	    pipe2(deathfd, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((fl = fcntl(statusfd[0], F_GETFL)) == -1 ||
	    fcntl(statusfd[0], F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
	log_info("started (pid %ld, %u listening sockets, prefork %u, "
	    "max_sessions %u%s)", (long)getpid(), nlisteners, conf->prefork,
	    conf->max_sessions, geteuid() == 0 ? "" :
	    ", not root: serving only this user");

	for (;;) {
		if (sig_term)
			shutdown_all("SIGTERM");
		if (sig_drain)
			drain_all();
		if (sig_chld) {
			sig_chld = 0;
			reap();
		}
		if (sig_hup) {
			sig_hup = 0;
			reload();
		}
		read_status();
		timeout = -1;
		/* idle workers hold the door of the TLS process that died */
		if ((r = tlsproc_ensure(conf)) == 1)
			retire_idle();
		else if (r == -1)
			timeout = SPAWN_BACKOFF_MS;
		if (quick_deaths > conf->prefork * 2 + 2) {
			/* idle workers die as soon as they start (a broken
			 * setting the checks did not catch): do not spin */
			log_warnx("idle workers keep exiting; waiting a "
			    "second before starting more");
			quick_deaths = 0;
			quick_since = session_now_ms();
			timeout = SPAWN_BACKOFF_MS;
		} else if (spawn() == -1)
			timeout = SPAWN_BACKOFF_MS;
		pfd.fd = statusfd[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (sig_wait(&pfd, 1, timeout) == -1 && errno != EINTR)
			fatal("poll");
	}
}
