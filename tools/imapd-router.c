/*
 * imapd-router: the auth_http service nginx's mail proxy asks where each
 * login goes.  See imapd-router(8).
 *
 *	imapd-router [-f] [-n] -c FILE
 *
 * One process, one poll loop, non-blocking sockets, bounded buffers.  A
 * request is an HTTP/1.0 GET whose headers name the user (Auth-User) and
 * the client (Client-IP); the answer is "Auth-Status: OK" with the
 * backend's address and port, or a refusal, and the connection closes.
 * The password nginx sends along (Auth-Pass) is never copied out of the
 * receive buffer, which is wiped once the request is answered: the
 * backend checks it, the router only routes.
 *
 * Routing: rendezvous hashing (highest random weight) of the case-folded
 * user name over the backends in rotation, so that a backend leaving
 * moves only its own users.  A user routed less than `pin` ago goes back
 * to the same backend while it stays in rotation, whatever the hash says
 * now.  In rotation means: the last health check passed (a connection
 * that shows an IMAP "* OK" greeting within check_timeout) and no drain
 * file names the backend.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/random.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/cidr.h"
#include "common/lib/hash.h"
#include "common/lib/kvfile.h"
#include "common/lib/listenaddr.h"
#include "common/lib/log.h"
#include "common/lib/strnum.h"
#include "tools/authreq.h"

#define MAX_BACKENDS	32
#define MAX_CLIENTS	256
#define REQ_TIMEOUT_MS	5000		/* to send a whole request */
#define LINGER_MS	2000		/* to read what follows an answer */
#define PIN_BUCKETS	4096
#define PIN_MAX		100000
#define GREETING_MAX	256
#define WAIT_ATTEMPTS	10	/* no Auth-Wait from this attempt on */
#define DURATION_MAX	(7ULL * 24 * 3600 * 1000)

/* ---- configuration ------------------------------------------------------ */

struct rconf {
	struct listen_addr	 listen;
	unsigned		 nlisten;
	struct listen_addr	 backend[MAX_BACKENDS];
	unsigned		 nbackend;
	uint64_t		 pin_ms;
	char			 drain_dir[512];	/* "": none */
	uint64_t		 interval_ms;
	uint64_t		 timeout_ms;
	int			 listen_public;
	int			 check_proxy;	/* PROXY UNKNOWN first */
	int			 facility;
};

static const char *
k_listen(struct rconf *c, const char *v)
{
	const char *why;

	if (listenaddr_parse(v, &c->listen, 1, &c->nlisten, &why) == -1)
		return why;
	return c->nlisten == 1 ? NULL : "one address:port is needed";
}

static const char *
k_backends(struct rconf *c, const char *v)
{
	const char *why;
	unsigned i;

	if (listenaddr_parse(v, c->backend, MAX_BACKENDS, &c->nbackend,
	    &why) == -1)
		return why;
	for (i = 0; i < c->nbackend; i++)
		if (c->backend[i].host[0] == '\0')
			return "a backend needs an address, not *";
	return NULL;
}

static const char *
k_duration(uint64_t *dst, const char *v, uint64_t min)
{
	if (strnum_duration(v, DURATION_MAX, dst) == -1)
		return "expected a duration such as 30s, 5m or 1h";
	return *dst < min ? "too short" : NULL;
}

static const char *
k_pin(struct rconf *c, const char *v)
{
	return k_duration(&c->pin_ms, v, 0);
}

static const char *
k_interval(struct rconf *c, const char *v)
{
	return k_duration(&c->interval_ms, v, 100);
}

static const char *
k_timeout(struct rconf *c, const char *v)
{
	return k_duration(&c->timeout_ms, v, 100);
}

static const char *
k_drain_dir(struct rconf *c, const char *v)
{
	if (v[0] != '/')
		return "must be an absolute path";
	if ((size_t)snprintf(c->drain_dir, sizeof(c->drain_dir), "%s", v) >=
	    sizeof(c->drain_dir))
		return "path too long";
	return NULL;
}

static const char *
k_listen_public(struct rconf *c, const char *v)
{
	return strnum_bool(v, &c->listen_public) == -1 ?
	    "expected yes or no" : NULL;
}

static const char *
k_check_proxy(struct rconf *c, const char *v)
{
	return strnum_bool(v, &c->check_proxy) == -1 ?
	    "expected yes or no" : NULL;
}

static const char *
k_facility(struct rconf *c, const char *v)
{
	return (c->facility = log_facility_byname(v)) == -1 ?
	    "unknown facility" : NULL;
}

static const struct {
	const char	*name;
	const char	*(*set)(struct rconf *, const char *);
} rkeys[] = {
	{ "backends",		k_backends },
	{ "check_interval",	k_interval },
	{ "check_proxy",	k_check_proxy },
	{ "check_timeout",	k_timeout },
	{ "drain_dir",		k_drain_dir },
	{ "listen",		k_listen },
	{ "listen_public",	k_listen_public },
	{ "pin",		k_pin },
	{ "syslog_facility",	k_facility },
};
#define NRKEYS	(sizeof(rkeys) / sizeof(rkeys[0]))

static const char *
rkey_name(size_t i)
{
	return rkeys[i].name;
}

static const char *
rkey_set(void *arg, size_t i, const char *v)
{
	return rkeys[i].set(arg, v);
}

/* 1 if the numeric address is loopback, link-local or private. */
static int
private_address(const char *host)
{
	static const char *const nets[] = {
		"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12",
		"192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7",
		"fe80::/10",
	};
	struct cidr n[sizeof(nets) / sizeof(nets[0])];
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (cidr_parse(nets[i], strlen(nets[i]), &n[i]) != NULL)
			fatalx("bad built-in network %s", nets[i]);
	return cidr_match(n, (unsigned)i, host);
}

static int
rconf_load(struct rconf *c, const char *path)
{
	struct kvfile_keys kk = { NRKEYS, rkey_name, rkey_set, c };
	unsigned lines[NRKEYS];
	struct buf errs;
	int family;
	uint8_t a[16];

	memset(c, 0, sizeof(*c));
	c->pin_ms = 3600 * 1000;
	c->interval_ms = 5000;
	c->timeout_ms = 3000;
	c->facility = LOG_MAIL;
	memset(lines, 0, sizeof(lines));
	buf_init(&errs, 64 * 1024);
	if (kvfile_read(path, &kk, lines, &errs) == 0) {
		if (c->nlisten == 0)
			(void)buf_addf(&errs, "%s: listen is not set\n", path);
		if (c->nbackend == 0)
			(void)buf_addf(&errs, "%s: backends is not set\n",
			    path);
		if (c->timeout_ms > c->interval_ms)
			(void)buf_addf(&errs, "%s: check_timeout is longer "
			    "than check_interval\n", path);
	}
	if (errs.len == 0 && c->nlisten == 1) {
		if (c->listen.host[0] == '\0' ||
		    cidr_addr(c->listen.host, &family, a) == -1)
			(void)buf_addf(&errs, "%s: listen: an address is "
			    "needed (a wildcard would offer routing to every "
			    "network)\n", path);
		else if (!private_address(c->listen.host) &&
		    !c->listen_public)
			(void)buf_addf(&errs, "%s: listen: %s is not a "
			    "loopback or private address (set listen_public "
			    "= yes to allow it)\n", path, c->listen.host);
	}
	if (errs.len > 0) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	return 0;
}

/* ---- time --------------------------------------------------------------- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- backends and their health ------------------------------------------ */

struct backend {
	char			 name[80];	/* host:port as configured */
	char			 host[64];	/* numeric */
	char			 port[8];
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
	int			 up;		/* last check passed */
	int			 checked;	/* a check has ended */
	int			 drained;	/* a drain file names it */
	int			 fd;		/* check under way, else -1 */
	int			 sending;	/* PROXY header not sent yet */
	uint64_t		 deadline;
	char			 greet[GREETING_MAX];
	size_t			 glen;
};

static struct rconf	 conf;
static struct backend	 backends[MAX_BACKENDS];
static unsigned		 nbackends;

static void
backend_init(struct backend *b, const struct listen_addr *la)
{
	struct addrinfo hints, *res;
	int e;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	snprintf(b->host, sizeof(b->host), "%s", la->host);
	snprintf(b->port, sizeof(b->port), "%s", la->port);
	if ((size_t)snprintf(b->name, sizeof(b->name),
	    strchr(la->host, ':') ? "[%s]:%s" : "%s:%s", la->host,
	    la->port) >= sizeof(b->name))
		fatalx("backend %s: name too long", la->host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(la->host, la->port, &hints, &res)) != 0)
		fatalx("backend %s: not a numeric address (nginx wants an "
		    "address in Auth-Server, not a name): %s", b->name,
		    gai_strerror(e));
	memcpy(&b->sa, res->ai_addr, res->ai_addrlen);
	b->salen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Whether a drain file names b now; the change is logged. */
static int
backend_drained(struct backend *b)
{
	char path[700];
	struct stat st;
	int d;

	if (conf.drain_dir[0] == '\0')
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", conf.drain_dir,
	    b->name) >= sizeof(path))
		fatalx("drain file name too long");
	d = stat(path, &st) == 0;
	if (d != b->drained)
		log_info("backend %s: %s", b->name, d ?
		    "drained: out of rotation for new logins (drain file "
		    "present)" : "drain file removed: back in rotation if "
		    "healthy");
	b->drained = d;
	return d;
}

static int
backend_usable(struct backend *b)
{
	return !backend_drained(b) && b->up;
}

static void
check_end(struct backend *b, int ok, const char *why)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
	if (ok && (!b->up || !b->checked))
		log_info("backend %s: up: greeting received", b->name);
	else if (!ok && (b->up || !b->checked))
		log_warnx("backend %s: down: %s (its users go to the other "
		    "backends until a check passes)", b->name, why);
	b->up = ok;
	b->checked = 1;
}

static void
check_start(struct backend *b, uint64_t now)
{
	int fd;

	if (b->fd != -1)
		return;
	b->glen = 0;
	b->deadline = now + conf.timeout_ms;
	fd = socket(b->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		check_end(b, 0, strerror(errno));
		return;
	}
	b->fd = fd;
	if (connect(fd, (struct sockaddr *)&b->sa, b->salen) == -1 &&
	    errno != EINPROGRESS)
		check_end(b, 0, strerror(errno));
	else if (conf.check_proxy)
		b->sending = 1;
}

/* A backend that expects a PROXY header greets only after one: the
 * check speaks for itself with PROXY UNKNOWN, as the protocol provides
 * for health checks.  The line fits any socket buffer: sent at once. */
static void
check_send(struct backend *b)
{
	static const char hdr[] = "PROXY UNKNOWN\r\n";

	b->sending = 0;
	if (send(b->fd, hdr, sizeof(hdr) - 1, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(hdr) - 1))
		check_end(b, 0, strerror(errno));
}

/* The check's socket is readable (or failed). */
static void
check_read(struct backend *b)
{
	ssize_t n;
	int err = 0;
	socklen_t el = sizeof(err);

	n = read(b->fd, b->greet + b->glen, sizeof(b->greet) - 1 - b->glen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
		    err != 0)
			errno = err;
		check_end(b, 0, strerror(errno));
		return;
	}
	if (n == 0) {
		check_end(b, 0, "closed before a whole greeting");
		return;
	}
	b->glen += (size_t)n;
	b->greet[b->glen] = '\0';
	if (memchr(b->greet, '\n', b->glen) == NULL &&
	    b->glen < sizeof(b->greet) - 1)
		return;
	if (strncmp(b->greet, "* OK", 4) == 0 &&
	    (b->greet[4] == ' ' || b->greet[4] == '\r'))
		check_end(b, 1, NULL);
	else
		check_end(b, 0, "the greeting is not \"* OK\"");
}

/* ---- pins ---------------------------------------------------------------- */

struct pin {
	struct pin	*next;
	uint64_t	 last;		/* now_ms() of the last routing */
	unsigned	 backend;
	char		 user[];	/* case-folded */
};

static struct pin	*pins[PIN_BUCKETS];
static unsigned		 npins;
static uint64_t		 pin_seed[2];	/* against chosen collisions */

static struct pin **
pin_slot(const char *user)
{
	struct pin **pp;
	uint64_t h;

	h = hash_lane(hash_lane(pin_seed[0], pin_seed[1]),
	    hash_bytes(user, strlen(user)));
	for (pp = &pins[h % PIN_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->user, user) == 0)
			break;
	return pp;
}

/* Forget pins older than the pin time. */
static void
pin_expire(uint64_t now)
{
	struct pin **pp, *p;
	size_t i;

	for (i = 0; i < PIN_BUCKETS; i++)
		for (pp = &pins[i]; (p = *pp) != NULL; ) {
			if (now - p->last >= conf.pin_ms) {
				*pp = p->next;
				free(p);
				npins--;
			} else
				pp = &p->next;
		}
}

static void
pin_set(const char *user, unsigned backend, uint64_t now)
{
	struct pin **pp = pin_slot(user), *p;
	size_t len = strlen(user);

	if (conf.pin_ms == 0)
		return;
	if ((p = *pp) == NULL) {
		if (npins >= PIN_MAX)
			pin_expire(now);
		if (npins >= PIN_MAX) {
			log_warnx("user=%s: not pinned: %u users are pinned "
			    "already (a shorter pin time holds fewer)", user,
			    npins);
			return;
		}
		if ((p = malloc(sizeof(*p) + len + 1)) == NULL) {
			log_warn("user=%s: not pinned", user);
			return;
		}
		memcpy(p->user, user, len + 1);
		p->next = NULL;
		*pp = p;
		npins++;
	}
	p->backend = backend;
	p->last = now;
}

/* ---- routing --------------------------------------------------------------- */

/* The rendezvous weight of backend b for user: stable across restarts. */
static uint64_t
weight(const char *user, const struct backend *b)
{
	return hash_lane(hash_bytes(user, strlen(user)),
	    hash_bytes(b->name, strlen(b->name)));
}

/* The backend for user, or -1 if none is in rotation; *why_r says why. */
static int
route(const char *user, uint64_t now, const char **why_r)
{
	struct pin *p = *pin_slot(user);
	uint64_t w, best = 0, top = 0;
	int pick = -1, first = -1;
	unsigned i;

	if (p != NULL && now - p->last < conf.pin_ms &&
	    backend_usable(&backends[p->backend])) {
		*why_r = "pin";
		return (int)p->backend;
	}
	for (i = 0; i < nbackends; i++) {
		w = weight(user, &backends[i]);
		if (first == -1 || w > top) {
			top = w;
			first = (int)i;
		}
		if (backend_usable(&backends[i]) && (pick == -1 || w > best)) {
			best = w;
			pick = (int)i;
		}
	}
	*why_r = pick == first ? "hash" : "failover";
	return pick;
}

/* ---- clients ----------------------------------------------------------------- */

struct client {
	int		 fd;		/* -1: slot free */
	struct buf	 in;		/* holds Auth-Pass: a secret buffer */
	struct buf	 out;
	uint64_t	 deadline;
	int		 answered;	/* out holds the whole answer */
	int		 lingering;	/* answer sent, reading to the end */
	char		 peer[64];
};

static struct client	clients[MAX_CLIENTS];
static unsigned		nclients;

static void
client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	buf_free_secret(&c->in);
	buf_free(&c->out);
	nclients--;
}

static void
refuse(struct client *c, const char *status, unsigned attempt)
{
	(void)buf_addf(&c->out, "HTTP/1.0 200 OK\r\nAuth-Status: %s\r\n",
	    status);
	/* nginx keeps a login's memory until the session ends: past a few
	 * attempts, end the session rather than ask it to wait */
	if (attempt < WAIT_ATTEMPTS)
		(void)buf_adds(&c->out, "Auth-Wait: 3\r\n");
	(void)buf_adds(&c->out, "\r\n");
}

static void
client_answer(struct client *c, uint64_t now)
{
	struct authreq rq;
	const char *why;
	int r, b;

	r = authreq_parse(c->in.data, c->in.len, &rq, &why);
	if (r == 1)
		return;
	buf_wipe(&c->in);
	c->answered = 1;
	if (r == -1) {
		log_warnx("request from %s refused: %s (a client that is not "
		    "nginx's mail proxy, or a proxy misconfigured?)", c->peer,
		    why);
		refuse(c, "Internal server error", WAIT_ATTEMPTS);
		return;
	}
	if ((b = route(rq.user, now, &why)) == -1) {
		log_warnx("user=%s rip=%s: refused: no backend is in rotation "
		    "(all down or drained)", rq.user, rq.rip);
		refuse(c, "Temporary server problem, try again later",
		    rq.attempt);
		return;
	}
	pin_set(rq.user, (unsigned)b, now);
	log_info("user=%s rip=%s: routed to %s (%s)", rq.user, rq.rip,
	    backends[b].name, why);
	(void)buf_addf(&c->out, "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n"
	    "Auth-Server: %s\r\nAuth-Port: %s\r\n\r\n", backends[b].host,
	    backends[b].port);
}

static void
client_read(struct client *c, uint64_t now)
{
	char tmp[2048];
	ssize_t n;
	size_t room;

	room = c->in.max - c->in.len;
	if (room > sizeof(tmp))
		room = sizeof(tmp);
	n = read(c->fd, tmp, room);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("request from %s", c->peer);
		else
			log_warnx("request from %s: closed before a whole "
			    "request", c->peer);
		explicit_bzero(tmp, sizeof(tmp));
		client_close(c);
		return;
	}
	if (buf_add(&c->in, tmp, (size_t)n) == -1)
		fatal("buf_add");
	explicit_bzero(tmp, sizeof(tmp));
	client_answer(c, now);
}

static void
client_write(struct client *c, uint64_t now)
{
	ssize_t n;

	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		log_warn("answer to %s", c->peer);
		client_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	if (c->out.len > 0)
		return;
	/* closing with unread bytes would reset the connection and could
	 * take the answer with it: read to the peer's end first */
	(void)shutdown(c->fd, SHUT_WR);
	c->lingering = 1;
	c->deadline = now + LINGER_MS;
}

/* After the answer: discard what the peer still sends, up to its end. */
static void
client_linger(struct client *c)
{
	char tmp[2048];
	ssize_t n;

	n = read(c->fd, tmp, sizeof(tmp));
	explicit_bzero(tmp, sizeof(tmp));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		client_close(c);
}

static void
client_accept(int lfd, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct client *c = NULL;
	unsigned i;
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd == -1) {
			c = &clients[i];
			break;
		}
	if (c == NULL) {	/* not polled for when full */
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	buf_init_secret(&c->in, AUTHREQ_MAX);
	buf_init(&c->out, 1024);
	c->deadline = now + REQ_TIMEOUT_MS;
	if (getnameinfo((struct sockaddr *)&ss, sl, c->peer, sizeof(c->peer),
	    NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(c->peer, sizeof(c->peer), "?");
	nclients++;
}

/* ---- main loop --------------------------------------------------------------- */

static volatile sig_atomic_t	quit;

static void
on_signal(int sig)
{
	quit = sig;
}

static int
listen_open(void)
{
	struct addrinfo hints, *res;
	int fd, one = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(conf.listen.host, conf.listen.port, &hints,
	    &res)) != 0)
		fatalx("listen %s: %s", conf.listen.host, gai_strerror(e));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("bind %s port %s", conf.listen.host, conf.listen.port);
	if (listen(fd, 128) == -1)
		fatal("listen");
	freeaddrinfo(res);
	return fd;
}

static int
timeout_until(uint64_t now, uint64_t when, int cur)
{
	uint64_t d = when > now ? when - now : 0;

	if (d > INT32_MAX)
		d = INT32_MAX;
	return cur == -1 || (int)d < cur ? (int)d : cur;
}

static void
loop(int lfd)
{
	struct pollfd pfd[1 + MAX_CLIENTS + MAX_BACKENDS];
	int map[1 + MAX_CLIENTS + MAX_BACKENDS];
	uint64_t now, next_check = 0;
	unsigned i, n;
	int timeout, k;

	while (!quit) {
		now = now_ms();
		if (now >= next_check) {
			for (i = 0; i < nbackends; i++) {
				(void)backend_drained(&backends[i]);
				check_start(&backends[i], now);
			}
			pin_expire(now);
			next_check = now + conf.interval_ms;
		}
		timeout = timeout_until(now, next_check, -1);
		n = 0;
		if (nclients < MAX_CLIENTS) {
			pfd[n].fd = lfd;
			pfd[n].events = POLLIN;
			map[n++] = -1;
		}
		for (i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];

			if (c->fd == -1)
				continue;
			if (c->lingering && now >= c->deadline) {
				client_close(c);
				continue;
			}
			if (!c->answered && now >= c->deadline) {
				log_warnx("request from %s: not whole within "
				    "%u ms: closed", c->peer,
				    REQ_TIMEOUT_MS);
				client_close(c);
				continue;
			}
			pfd[n].fd = c->fd;
			pfd[n].events = c->answered && !c->lingering ?
			    POLLOUT : POLLIN;
			map[n++] = (int)i;
			if (!c->answered || c->lingering)
				timeout = timeout_until(now, c->deadline,
				    timeout);
		}
		for (i = 0; i < nbackends; i++) {
			struct backend *b = &backends[i];

			if (b->fd == -1)
				continue;
			if (now >= b->deadline) {
				check_end(b, 0, "no greeting within "
				    "check_timeout");
				continue;
			}
			pfd[n].fd = b->fd;
			pfd[n].events = b->sending ? POLLOUT : POLLIN;
			map[n++] = MAX_CLIENTS + (int)i;
			timeout = timeout_until(now, b->deadline, timeout);
		}
		if (poll(pfd, n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		now = now_ms();
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			k = map[i];
			if (k == -1)
				client_accept(lfd, now);
			else if (k >= MAX_CLIENTS &&
			    backends[k - MAX_CLIENTS].sending)
				check_send(&backends[k - MAX_CLIENTS]);
			else if (k >= MAX_CLIENTS)
				check_read(&backends[k - MAX_CLIENTS]);
			else if (clients[k].fd == -1)
				continue;
			else if (clients[k].lingering)
				client_linger(&clients[k]);
			else if (clients[k].answered)
				client_write(&clients[k], now);
			else
				client_read(&clients[k], now);
		}
	}
	log_info("signal %d: exiting", (int)quit);
}

static void
usage(void)
{
	fprintf(stderr, "usage: imapd-router [-fn] -c file\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	const char *path = NULL;
	int ch, foreground = 0, test = 0, lfd;
	unsigned i;

	while ((ch = getopt(argc, argv, "c:fn")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (path == NULL || optind != argc)
		usage();
	if (rconf_load(&conf, path) == -1)
		exit(1);
	if (test)
		exit(0);
	log_init("imapd-router", foreground, conf.facility);
	if (getrandom(pin_seed, sizeof(pin_seed), 0) != sizeof(pin_seed))
		fatal("getrandom");
	nbackends = conf.nbackend;
	for (i = 0; i < nbackends; i++)
		backend_init(&backends[i], &conf.backend[i]);
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	lfd = listen_open();
	log_info("listening on %s port %s; %u backends, pin %llu s, drain "
	    "directory %s", conf.listen.host, conf.listen.port, nbackends,
	    (unsigned long long)(conf.pin_ms / 1000),
	    conf.drain_dir[0] ? conf.drain_dir : "(none)");
	loop(lfd);
	return 0;
}
