/*
 * keyproc: the key process and the master's handle on it.  See keyproc.h.
 *
 * Why a process of its own: the front parses every byte a client sends
 * before login, the TLS handshake included, so a memory disclosure there
 * must not be able to reach the key; and the master's memory is copied
 * into every worker and front by fork, so the master never loads it
 * either.  The key process is forked by the master before it loads the
 * key and reads nothing but its channels afterwards.
 *
 * Why login_user and login_chroot: once the key is loaded the process
 * needs no file and no privilege, so it keeps neither.  It shares its uid
 * with the fronts, which is no loss: a subverted front could already
 * signal every other front, and the key process makes itself
 * non-dumpable, so a process of the same uid can neither trace it nor
 * read its memory through /proc.  A separate user would add an account
 * to every installation and protect nothing more.
 *
 * The channels: the master makes a SOCK_SEQPACKET socketpair for each
 * worker and passes one end here over the control socket (SCM_RIGHTS);
 * the worker's end goes to its front, and its back closes its copy at
 * once.  Packets keep message boundaries, so a short or long packet is
 * seen as such; descriptors sent by a front are dropped unread (no
 * control buffer) and the request is refused.  One request per channel,
 * answered and then the channel is closed: a TLS handshake signs once,
 * and no front can queue work or keep more than one answer.  Anything
 * malformed closes the channel and is logged; the key process goes on.
 *
 * Control packets from the key process to the master: one, at start:
 * "+" when the key is loaded and the process confined, else "-" and the
 * reason it could not start.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/lib/log.h"
#include "common/lib/privdrop.h"
#include "imapd/config.h"
#include "imapd/keyclient.h"
#include "imapd/keyfile.h"
#include "imapd/keymsg.h"
#include "imapd/keyproc.h"
#include "imapd/sandbox.h"
#include "imapd/session.h"
#include "imapd/sig.h"
#include "imapd/tls.h"

#define KEYPROC_READY_MS	10000
#define KEYPROC_RESTART_MS	1000
#define KEYPROC_SECURE_HEAP	(64 * 1024)
#define KEYPROC_CTLFD		3

struct keygen {
	pid_t	 pid;
	int	 ctl;		/* the master's end of the control socket */
	SSL_CTX	*ctx;
};

static struct keygen	cur = { -1, -1, NULL };
static struct keygen	pending = { -1, -1, NULL };
static long long	last_restart;

/* --- signing ------------------------------------------------------------ */

static const EVP_MD *
md_of(enum keymsg_hash h)
{
	switch (h) {
	case KEYMSG_HASH_SHA256:
		return EVP_sha256();
	case KEYMSG_HASH_SHA384:
		return EVP_sha384();
	case KEYMSG_HASH_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* XOR the MGF1 mask of seed (RFC 8017 B.2.1) into p[0..len). */
static int
mgf1_xor(unsigned char *p, size_t len, const unsigned char *seed,
    size_t seedlen, const EVP_MD *md)
{
	unsigned char in[EVP_MAX_MD_SIZE + 4], out[EVP_MAX_MD_SIZE];
	unsigned int outlen;
	uint32_t counter;
	size_t done = 0, i;

	memcpy(in, seed, seedlen);
	for (counter = 0; done < len; counter++) {
		in[seedlen] = (unsigned char)(counter >> 24);
		in[seedlen + 1] = (unsigned char)(counter >> 16);
		in[seedlen + 2] = (unsigned char)(counter >> 8);
		in[seedlen + 3] = (unsigned char)counter;
		if (EVP_Digest(in, seedlen + 4, out, &outlen, md, NULL) != 1)
			return -1;
		for (i = 0; i < outlen && done < len; i++)
			p[done++] ^= out[i];
	}
	return 0;
}

/*
 * Is block (as long as the modulus of a key of bits bits) an EMSA-PSS
 * encoding (RFC 8017 9.1.1) with md as hash and MGF1 hash and a salt as
 * long as the hash, the only form TLS uses?  Applying the private key to
 * anything else would make the key process a decryption oracle.
 */
static int
pss_shaped(const unsigned char *block, size_t len, int bits,
    const EVP_MD *md)
{
	unsigned char db[KEYMSG_DATA_MAX];
	const unsigned char *em = block;
	size_t emlen = len, hlen = (size_t)EVP_MD_get_size(md), dblen, i;
	int msbits = (bits - 1) & 7;

	if (msbits == 0) {
		if (em[0] != 0)
			return 0;
		em++;
		emlen--;
	}
	if (emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc ||
	    (msbits != 0 && (em[0] >> msbits) != 0))
		return 0;
	dblen = emlen - hlen - 1;
	memcpy(db, em, dblen);
	if (mgf1_xor(db, dblen, em + dblen, hlen, md) == -1)
		return 0;
	if (msbits != 0)
		db[0] &= 0xff >> (8 - msbits);
	for (i = 0; i < dblen - hlen - 1; i++)
		if (db[i] != 0)
			return 0;
	return db[dblen - hlen - 1] == 0x01;
}

void
keyproc_sign(EVP_PKEY *pk, const struct keymsg *q, struct keymsg *a)
{
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md = md_of(q->hash);
	int type = EVP_PKEY_get_base_id(pk), ok = 0;
	size_t siglen = sizeof(a->data);

	memset(a, 0, sizeof(*a));
	a->type = KEYMSG_REFUSED;
	switch (q->type) {
	case KEYMSG_RSA_PKCS1:
	case KEYMSG_RSA_PSS:
		if (type != EVP_PKEY_RSA)
			return;
		break;
	case KEYMSG_ECDSA:
		if (type != EVP_PKEY_EC)
			return;
		break;
	default:
		return;
	}
	if (q->type == KEYMSG_RSA_PSS) {
		if (q->len != (size_t)EVP_PKEY_get_size(pk) ||
		    (!pss_shaped(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha256()) &&
		    !pss_shaped(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha384()) &&
		    !pss_shaped(q->data, q->len, EVP_PKEY_get_bits(pk),
		    EVP_sha512()))) {
			log_warnx("key process: refused a raw RSA operation "
			    "on a block that is no PSS encoding");
			return;
		}
	}
	if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) != 1)
		goto done;
	switch (q->type) {
	case KEYMSG_RSA_PKCS1:
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) ==
		    1 && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
		break;
	case KEYMSG_RSA_PSS:
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1;
		break;
	default:
		ok = EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
		break;
	}
	if (ok && EVP_PKEY_sign(ctx, a->data, &siglen, q->data, q->len) ==
	    1 && siglen > 0 && siglen <= sizeof(a->data)) {
		a->type = KEYMSG_SIGNATURE;
		a->len = siglen;
	}
done:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
}

/* --- the key process ------------------------------------------------- */

/* The control packet that carries a channel: one byte and, in cbuf, room
 * for one descriptor. */
union fdbuf {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(sizeof(int))];
};

static void
fdmsg_init(struct msghdr *mh, struct iovec *iov, char *b, union fdbuf *cm)
{
	memset(mh, 0, sizeof(*mh));
	memset(cm, 0, sizeof(*cm));
	iov->iov_base = b;
	iov->iov_len = 1;
	mh->msg_iov = iov;
	mh->msg_iovlen = 1;
	mh->msg_control = cm->buf;
	mh->msg_controllen = sizeof(cm->buf);
}

/* Take a channel from the master's control packet.  0 one taken or none
 * sent, -1 the master closed the control socket. */
static int
take_channel(int ctl, struct pollfd **pfd, size_t *n, size_t *cap)
{
	union fdbuf cm;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	struct pollfd *np;
	char b;
	ssize_t r;
	int fd = -1, fl;

	fdmsg_init(&mh, &iov, &b, &cm);
	r = recvmsg(ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (fd == -1 || (mh.msg_flags & MSG_CTRUNC)) {
		log_warnx("key process: a worker's channel did not arrive "
		    "(out of descriptors?); its TLS handshakes will fail");
		if (fd != -1)
			close(fd);
		return 0;
	}
	if (*n == *cap) {
		size_t ncap = *cap * 2;

		if ((np = reallocarray(*pfd, ncap, sizeof(*np))) == NULL) {
			log_warnx("key process: out of memory for channels");
			close(fd);
			return 0;
		}
		*pfd = np;
		*cap = ncap;
	}
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(*pfd)[*n].fd = fd;
	(*pfd)[*n].events = POLLIN;
	(*pfd)[*n].revents = 0;
	(*n)++;
	return 0;
}

/* Serve a channel that poll() found ready.  1 if it is to stay open (a
 * spurious wake-up), else 0: answered, malformed, or closed. */
static int
serve(EVP_PKEY *pk, int fd)
{
	unsigned char pkt[KEYMSG_MAX + 1];
	struct keymsg q, a;
	struct msghdr mh;
	struct iovec iov;
	ssize_t r;
	size_t n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = pkt;
	iov.iov_len = sizeof(pkt);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	r = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (r <= 0)
		return 0;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    keymsg_decode(pkt, (size_t)r, &q) == -1 ||
	    (q.type != KEYMSG_RSA_PKCS1 && q.type != KEYMSG_RSA_PSS &&
	    q.type != KEYMSG_ECDSA)) {
		log_warnx("key process: malformed request (%zd bytes) from "
		    "a front; its channel is closed", r);
		return 0;
	}
	keyproc_sign(pk, &q, &a);
	OPENSSL_cleanse(&q, sizeof(q));
	if ((n = keymsg_encode(&a, pkt)) > 0 &&
	    send(fd, pkt, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
		log_warn("key process: cannot answer a front");
	return 0;
}

static void __attribute__((noreturn))
run(EVP_PKEY *pk, int ctl)
{
	struct pollfd *pfd;
	size_t n = 1, cap = 64, i;

	if ((pfd = calloc(cap, sizeof(*pfd))) == NULL)
		fatal("key process: calloc");
	pfd[0].fd = ctl;
	pfd[0].events = POLLIN;
	for (;;) {
		if (sig_term)
			_exit(0);
		/* replaced and every channel served: nothing left to do */
		if (pfd[0].fd == -1 && n == 1)
			_exit(0);
		if (sig_wait(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("key process: poll");
		}
		for (i = n; i-- > 1; ) {
			if (pfd[i].revents == 0 || serve(pk, pfd[i].fd))
				continue;
			close(pfd[i].fd);
			pfd[i] = pfd[--n];
		}
		if (pfd[0].revents != 0 &&
		    take_channel(pfd[0].fd, &pfd, &n, &cap) == -1) {
			close(pfd[0].fd);
			pfd[0].fd = -1;
		}
	}
}

/* Tell the master how the start went: NULL for ready, else why not. */
static void
report(int ctl, const char *why)
{
	char pkt[640];
	int n;

	n = snprintf(pkt, sizeof(pkt), "%c%s", why == NULL ? '+' : '-',
	    why == NULL ? "" : why);
	if (n >= (int)sizeof(pkt))
		n = (int)sizeof(pkt) - 1;
	(void)send(ctl, pkt, (size_t)n, MSG_NOSIGNAL);
}

static void __attribute__((noreturn))
keyproc_main(const struct config *conf, int ctl)
{
	char err[600];
	struct passwd *pw;
	struct rlimit rl;
	EVP_PKEY *pk;

	sig_term = sig_hup = sig_usr1 = sig_chld = 0;
	/* nothing of the master's but the control socket: no listening
	 * socket, no pipe, no other key process's socket */
	ctl = sandbox_child("imapd-key", ctl, KEYPROC_CTLFD);
	log_setfacility(conf->syslog_facility);
	log_setsession(NULL);

	/* keep the key's numbers in locked pages that are never dumped */
	(void)CRYPTO_secure_malloc_init(KEYPROC_SECURE_HEAP, 64);
	if ((pk = keyfile_load(conf, err, sizeof(err))) == NULL) {
		report(ctl, err);
		_exit(1);
	}
	/* one descriptor per worker and per session not yet past its
	 * handshake */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(conf->login_user)) == NULL) {
			snprintf(err, sizeof(err), "login_user %s does not "
			    "exist", conf->login_user);
			report(ctl, err);
			_exit(1);
		}
		privdrop_chroot(conf->login_chroot);
		privdrop(NULL, pw->pw_uid, pw->pw_gid);
		/* a change of uid may have made the process dumpable */
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	sandbox_keyproc();
	report(ctl, NULL);
	run(pk, ctl);
}

/* --- the master's side ----------------------------------------------- */

static void
forget(struct keygen *g, int stop)
{
	if (g->ctl != -1)
		close(g->ctl);
	if (stop && g->pid != -1)
		(void)kill(g->pid, SIGTERM);
	SSL_CTX_free(g->ctx);
	g->pid = -1;
	g->ctl = -1;
	g->ctx = NULL;
}

/* Wait for the new key process's first packet; 0 ready, -1 with err. */
static int
await_ready(int ctl, char *err, size_t errlen)
{
	long long deadline = session_now_ms() + KEYPROC_READY_MS, left;
	struct pollfd pfd;
	char pkt[640];
	ssize_t r;

	for (;;) {
		if ((left = deadline - session_now_ms()) <= 0) {
			snprintf(err, errlen, "the key process did not start "
			    "within %d ms", KEYPROC_READY_MS);
			return -1;
		}
		pfd.fd = ctl;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		r = recv(ctl, pkt, sizeof(pkt) - 1, MSG_DONTWAIT);
		if (r == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r == 1 && pkt[0] == '+')
			return 0;
		if (r <= 1 || pkt[0] != '-') {
			snprintf(err, errlen, "the key process ended before "
			    "it was ready");
			return -1;
		}
		pkt[r] = '\0';
		snprintf(err, errlen, "%s", pkt + 1);
		return -1;
	}
}

int
keyproc_prepare(const struct config *conf, char *err, size_t errlen)
{
	struct keygen g = { -1, -1, NULL };
	int sp[2], status;
	pid_t pid;

	keyproc_discard();
	if ((g.ctx = tls_ctx_new(conf, err, errlen)) == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		forget(&g, 0);
		return -1;
	}
	if ((g.pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		forget(&g, 0);
		return -1;
	}
	if (g.pid == 0) {
		close(sp[0]);
		keyproc_main(conf, sp[1]);
	}
	close(sp[1]);
	g.ctl = sp[0];
	if (await_ready(g.ctl, err, errlen) == -1) {
		pid = g.pid;
		forget(&g, 1);
		(void)waitpid(pid, &status, 0);
		return -1;
	}
	pending = g;
	return 0;
}

void
keyproc_commit(void)
{
	if (pending.pid == -1)
		return;
	/* the old key process sees its control socket close and ends when
	 * its last channel does */
	forget(&cur, 0);
	cur = pending;
	pending.pid = -1;
	pending.ctl = -1;
	pending.ctx = NULL;
}

void
keyproc_discard(void)
{
	forget(&pending, 1);
}

int
keyproc_channel(const struct config *conf)
{
	union fdbuf cm;
	char err[600], b = 0;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	int sp[2];

	keyproc_channel_close();
	if (cur.pid == -1 && session_now_ms() - last_restart >= KEYPROC_RESTART_MS) {
		last_restart = session_now_ms();
		if (keyproc_prepare(conf, err, sizeof(err)) == 0) {
			keyproc_commit();
			log_info("key process started again");
		} else
			log_warnx("cannot start the key process again: %s",
			    err);
	}
	if (cur.pid == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("key channel: socketpair");
		return -1;
	}
	fdmsg_init(&mh, &iov, &b, &cm);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sp[1], sizeof(int));
	if (sendmsg(cur.ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		log_warn("cannot hand a channel to the key process");
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[1]);
	keyclient_setfd(sp[0]);
	return 0;
}

void
keyproc_channel_close(void)
{
	keyclient_close();
}

void
keyproc_atfork(void)
{
	if (cur.ctl != -1)
		close(cur.ctl);
	if (pending.ctl != -1)
		close(pending.ctl);
	cur.ctl = pending.ctl = -1;
}

int
keyproc_reaped(pid_t pid, int status)
{
	if (pid != cur.pid || pid == -1)
		return 0;
	if (sig_term)
		;	/* stopping: the key process goes with everything else */
	else if (WIFSIGNALED(status))
		log_warnx("key process %ld killed by signal %d; starting "
		    "another", (long)pid, WTERMSIG(status));
	else
		log_warnx("key process %ld exited with status %d; starting "
		    "another", (long)pid, WEXITSTATUS(status));
	close(cur.ctl);
	cur.ctl = -1;
	cur.pid = -1;
	return 1;
}

SSL_CTX *
keyproc_ctx(void)
{
	return cur.ctx;
}
