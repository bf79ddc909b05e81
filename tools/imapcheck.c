/*
 * imapcheck: check a mail client's way to an IMAP server, any server, in
 * the order a sysadmin would, and name the first thing that is wrong with
 * its likely fix.  See imapcheck(1).
 *
 * The order is that of dependence: a name that does not resolve makes
 * every later step fail, so it is looked at first; then whether the
 * ports can be reached (refused and timed out mean different things:
 * nothing listening, or a firewall or the wrong host), which protocol
 * each port speaks first (plain IMAP greets at once; implicit TLS waits
 * for the client), the certificate (trust, dates, host name), what the
 * server offers (STARTTLS, LOGINDISABLED), the login (told apart by
 * response code, RFC 5530), and then what a client meets once logged in:
 * the namespace and hierarchy separator, special-use folders and their
 * look-alikes, subscriptions, IDLE.
 *
 * Checking stops at the first failure, which the verdict names; what is
 * only odd (a folder that looks like another, a certificate that expires
 * soon) is a warning and checking goes on.  Each step's time is shown.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/x509_vfy.h>

#include "common/imap/imap-parser.h"
#include "common/imap/imapcmd.h"
#include "common/imap/imapconn.h"
#include "common/imap/imapresp.h"
#include "common/lib/buf.h"
#include "common/lib/password.h"
#include "common/lib/strnum.h"
#include "common/lib/wipe.h"
#include "common/mail/charset.h"

#define PROG		"imapcheck"
#define RESP_MAX	(4U * 1024 * 1024)
#define STEPS_MAX	64
#define FOLDERS_MAX	10000
#define PASS_MAX	1024
#define PROBE_MS	3000	/* a plain IMAP server greets within this */
#define SOON_DAYS	14	/* a certificate expiring sooner is a warning */

/* Exit status: which stage failed (documented in imapcheck(1)). */
#define EX_OK		0
#define EX_LOCAL	2	/* usage, terminal, memory */
#define EX_RESOLVE	3
#define EX_CONNECT	4
#define EX_TLS		5
#define EX_PROTOCOL	6
#define EX_LOGIN	7
#define EX_MAILBOX	8

enum mode { M_TLS, M_STARTTLS, M_PLAIN };
enum status { S_OK, S_WARN, S_FAIL, S_INFO };

struct step {
	char		 name[24];
	enum status	 status;
	char		 detail[1024];
	int64_t		 ms;
};

struct folder {
	char		*name;
	char		 special[16];	/* "\Sent" ... or "" */
	int		 subscribed;
	int		 noselect;
};

struct check {
	const char	*host, *port, *user, *cafile;
	int		 port_given;
	enum mode	 mode;
	int		 json, verbose;
	char		 separator;	/* what the client uses, 0 if not said */
	int64_t		 timeout_ms;

	struct step	 steps[STEPS_MAX];
	size_t		 nsteps;
	int		 exitcode;
	char		 verdict[1024];
	int		 warned;

	struct addrinfo	*addrs;
	struct imapconn	*c;
	struct buf	 caps, resp;
	struct imap_parser *parser;
	char		 sep;		/* the server's separator */
	char		 prefix[256];	/* personal namespace prefix */
	struct folder	*folders;
	size_t		 nfolders;
	int		 idle_seen;
};

static struct check ck;

static void __attribute__((noreturn)) finish(void);

static int64_t
now_ms(void)
{
	return imapconn_now();
}

/* After a vsnprintf into s that returned n: a text cut short (server
 * text can be long) ends in "...", a failed one is empty. */
static void
cut(char *s, size_t size, int n)
{
	if (n < 0)
		s[0] = '\0';
	else if ((size_t)n >= size)
		memcpy(s + size - 4, "...", 4);
}

static void __attribute__((format(printf, 4, 5)))
step(const char *name, enum status st, int64_t since, const char *fmt, ...)
{
	struct step *s;
	va_list ap;
	int n;

	if (ck.nsteps == STEPS_MAX)
		return;
	s = &ck.steps[ck.nsteps++];
	n = snprintf(s->name, sizeof(s->name), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(s->name))
		errx(EX_LOCAL, "step name too long: %s", name);
	s->status = st;
	va_start(ap, fmt);
	n = vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	cut(s->detail, sizeof(s->detail), n);
	s->ms = since >= 0 ? now_ms() - since : -1;
	if (st == S_WARN)
		ck.warned++;
	if (!ck.json) {
		static const char *const word[] = { "ok", "warn", "FAIL",
		    "info" };

		printf("%-12s %-4s  %s", s->name, word[st], s->detail);
		if (s->ms >= 0)
			printf("  (%lld ms)", (long long)s->ms);
		putchar('\n');
		fflush(stdout);
	}
}

/* A failure: record the verdict and stop. */
static void __attribute__((format(printf, 2, 3), noreturn))
verdict(int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ck.verdict, sizeof(ck.verdict), fmt, ap);
	va_end(ap);
	cut(ck.verdict, sizeof(ck.verdict), n);
	ck.exitcode = code;
	finish();
}

/* JSON string: UTF-8 kept, invalid bytes as U+FFFD, controls escaped. */
static void
json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	unsigned cp;
	int n;

	putchar('"');
	while (len > 0) {
		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p);
			n = 1;
		} else if (*p < 0x20) {
			printf("\\u%04x", *p);
			n = 1;
		} else if ((n = charset_utf8_seq(p, len, &cp)) > 0)
			fwrite(p, 1, (size_t)n, stdout);
		else {
			fputs("\\ufffd", stdout);
			n = 1;
		}
		p += n;
		len -= (size_t)n;
	}
	putchar('"');
}

static void __attribute__((noreturn))
finish(void)
{
	static const char *const word[] = { "ok", "warn", "fail", "info" };
	size_t i;

	if (ck.exitcode == EX_OK && ck.verdict[0] == '\0') {
		int n = snprintf(ck.verdict, sizeof(ck.verdict),
		    "everything checked works%s", ck.warned == 0 ? "" :
		    " (see the warnings above for what clients may trip on)");

		cut(ck.verdict, sizeof(ck.verdict), n);
	}
	if (ck.json) {
		printf("{\"host\":");
		json_str(ck.host);
		printf(",\"steps\":[");
		for (i = 0; i < ck.nsteps; i++) {
			printf("%s{\"step\":", i ? "," : "");
			json_str(ck.steps[i].name);
			printf(",\"status\":\"%s\",\"detail\":",
			    word[ck.steps[i].status]);
			json_str(ck.steps[i].detail);
			if (ck.steps[i].ms >= 0)
				printf(",\"ms\":%lld",
				    (long long)ck.steps[i].ms);
			putchar('}');
		}
		printf("],\"exit\":%d,\"verdict\":", ck.exitcode);
		json_str(ck.verdict);
		printf("}\n");
	} else
		printf("verdict: %s\n", ck.verdict);
	if (fflush(stdout) == EOF)
		exit(EX_LOCAL);
	imapconn_free(ck.c);
	exit(ck.exitcode);
}

/* ---- connections ------------------------------------------------- */

/*
 * A TCP connection to port on one of the host's addresses: NULL when
 * none answered, with the class of the last failure in *cl.
 */
static struct imapconn *
dial(const char *port, enum imapconn_class *cl, char *err, size_t errlen)
{
	struct addrinfo *ai, hints, *res;
	struct imapconn *c;
	char addr[64];
	int refused = 0, other = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	for (ai = ck.addrs; ai != NULL; ai = ai->ai_next) {
		/* the same address with the port asked for */
		imapconn_addrstr(ai, addr, sizeof(addr));
		hints.ai_family = ai->ai_family;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if (getaddrinfo(addr, port, &hints, &res) != 0)
			continue;
		c = imapconn_connect(res, now_ms() + ck.timeout_ms, RESP_MAX,
		    cl, err, errlen);
		freeaddrinfo(res);
		if (c != NULL)
			return c;
		if (*cl == ICE_REFUSED)
			refused++;
		else
			other++;
	}
	/* a refusal on one address and a time-out on another: the time-out
	 * says more about where the problem is */
	if (refused > 0 && other == 0)
		*cl = ICE_REFUSED;
	return NULL;
}

/* What a port speaks first. */
enum speaks { SP_PLAIN, SP_TLS, SP_SILENT, SP_OTHER };

/* The verdict on a port that cannot be reached. */
static void __attribute__((noreturn))
unreachable(const char *port, enum imapconn_class cl)
{
	if (cl == ICE_REFUSED)
		verdict(EX_CONNECT, "nothing listens on %s port %s (connection "
		    "refused): the IMAP server is not running there, or "
		    "listens on another port or address; on the server, "
		    "`ss -ltn` lists what listens", ck.host, port);
	verdict(EX_CONNECT, "no answer from %s port %s (%s): a firewall "
	    "drops the connection, or %s is not the mail server's address",
	    ck.host, port, cl == ICE_TIMEOUT ? "timed out" : "unreachable",
	    ck.host);
}

/* A TCP connection to port, or NULL (the step says why, in *cl_r). */
static struct imapconn *
tcp(const char *port, enum status failed, enum imapconn_class *cl_r)
{
	struct imapconn *c;
	char err[512];
	int64_t t0 = now_ms();

	if ((c = dial(port, cl_r, err, sizeof(err))) == NULL)
		step("tcp", failed, t0, "port %s: %s", port, err);
	else
		step("tcp", S_OK, t0, "port %s: connected", port);
	return c;
}

/*
 * Find out what the connection in ck.c speaks first: a greeting in
 * clear (kept in ck.resp), or nothing until a TLS handshake (done then).
 */
static enum speaks
probe(const char *port, int tls_expected)
{
	int64_t t0 = now_ms(), wait;
	int first, r;

	/* a server that expects TLS says nothing; a plain one greets */
	wait = tls_expected ? PROBE_MS / 3 : PROBE_MS;
	if (wait > ck.timeout_ms)
		wait = ck.timeout_ms;
	r = imapconn_peek(ck.c, now_ms() + wait, &first);
	if (r == 1 && imapconn_read(ck.c, &ck.resp, now_ms() +
	    ck.timeout_ms) == 1)
		return first == '*' ? SP_PLAIN : SP_OTHER;
	if (r == -1 && imapconn_errclass(ck.c) != ICE_TIMEOUT)
		return SP_OTHER;
	if (imapconn_starttls(ck.c, ck.host, ck.cafile, 0,
	    now_ms() + ck.timeout_ms) == 0)
		return SP_TLS;
	step("tls", S_INFO, t0, "port %s: %s", port, imapconn_error(ck.c));
	return SP_SILENT;
}

/* ---- TLS and the certificate -------------------------------------- */

static void
check_certificate(const char *port, int64_t t0)
{
	char subject[512], issuer[512], day[32];
	int64_t notafter, notbefore, now = (int64_t)time(NULL);
	long v = imapconn_tls_verify(ck.c);
	struct tm tm;
	time_t tt;

	step("tls", S_OK, t0, "port %s: %s", port, imapconn_tls_version(ck.c));
	t0 = now_ms();
	if (imapconn_tls_peer(ck.c, subject, sizeof(subject), issuer,
	    sizeof(issuer), &notafter) == -1)
		verdict(EX_TLS, "the server sent no certificate we could "
		    "read");
	tt = (time_t)notafter;
	gmtime_r(&tt, &tm);
	if (strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
		day[0] = '\0';
	/* trust first: expiry and the name are checked on their own below */
	if (v != X509_V_OK && v != X509_V_ERR_CERT_HAS_EXPIRED &&
	    v != X509_V_ERR_CERT_NOT_YET_VALID &&
	    v != X509_V_ERR_HOSTNAME_MISMATCH &&
	    v != X509_V_ERR_IP_ADDRESS_MISMATCH) {
		step("certificate", S_FAIL, t0, "%s, issued by %s: %s",
		    subject, issuer, X509_verify_cert_error_string(v));
		verdict(EX_TLS, "the certificate of %s is not trusted (%s): "
		    "a self-signed certificate, or a chain without its "
		    "intermediate certificate; serve the full chain (for "
		    "Let's Encrypt, fullchain.pem) signed by a public CA%s",
		    ck.host, X509_verify_cert_error_string(v),
		    ck.cafile == NULL ? "" : ", or check --ca");
	}
	if (notafter < now) {
		step("certificate", S_FAIL, t0, "%s: expired on %s", subject,
		    day);
		verdict(EX_TLS, "the certificate of %s expired on %s: renew "
		    "it (certbot renew, or the CA's tool), install it and "
		    "reload the server (systemctl reload imapd)", ck.host,
		    day);
	}
	if (imapconn_tls_notbefore(ck.c, &notbefore) == 0 && notbefore > now) {
		step("certificate", S_FAIL, t0, "%s: not valid yet", subject);
		verdict(EX_TLS, "the certificate of %s is not valid yet: the "
		    "clock of this machine or of the server is wrong",
		    ck.host);
	}
	if (notafter - now < SOON_DAYS * 86400)
		step("certificate", S_WARN, t0, "%s, issued by %s, expires "
		    "%s, in less than %d days: renew it soon", subject,
		    issuer, day, SOON_DAYS);
	else
		step("certificate", S_OK, t0, "%s, issued by %s, valid until "
		    "%s", subject, issuer, day);
	t0 = now_ms();
	if (imapconn_tls_names(ck.c, ck.host) != 1) {
		step("host name", S_FAIL, t0, "%s is not a name the "
		    "certificate lists (%s)", ck.host, subject);
		verdict(EX_TLS, "the certificate is not for %s (it is for "
		    "%s): clients warn or refuse; set the client's server "
		    "name to one the certificate lists, or get a certificate "
		    "that lists %s", ck.host, subject, ck.host);
	}
	step("host name", S_OK, t0, "the certificate lists %s", ck.host);
}

/* ---- commands ----------------------------------------------------- */

static void
note_untagged(void *arg, const struct buf *b, const struct imapresp *r)
{
	(void)imapcmd_note_caps(&ck.caps, r);
	(void)arg;
	(void)b;
}

/*
 * Run the command begun (tag from imapconn_begin).  The tagged status;
 * a connection that fails or a BYE ends the check with code.
 */
static enum imapresp_status
command(const char *tag, const char *what, imapcmd_handler fn,
    struct imapcmd_result *res, int code)
{
	if (tag == NULL)
		errx(EX_LOCAL, "out of memory");
	if (imapcmd_run(ck.c, tag, now_ms() + ck.timeout_ms,
	    fn != NULL ? fn : note_untagged, NULL, res) == -1) {
		step(what, S_FAIL, now_ms() - res->ms, "%s",
		    imapconn_error(ck.c));
		verdict(code, "%s failed: %s", what, imapconn_error(ck.c));
	}
	(void)imapcmd_note_caps(&ck.caps, &res->resp);
	if (res->status == IRS_BYE) {
		step(what, S_FAIL, -1, "%s", buf_cstr(&res->line));
		verdict(code, "the server ended the session at %s: %.*s",
		    what, (int)res->resp.textlen, res->resp.text);
	}
	return res->status;
}

static void
capabilities(const char *when)
{
	struct imapcmd_result res;
	int64_t t0 = now_ms();

	imapcmd_result_init(&res, RESP_MAX);
	if (command(imapconn_begin(ck.c, "CAPABILITY"), "capability", NULL,
	    &res, EX_PROTOCOL) != IRS_OK || ck.caps.len == 0) {
		step("capability", S_FAIL, t0, "%s", buf_cstr(&res.line));
		verdict(EX_PROTOCOL, "CAPABILITY failed: not an IMAP server, "
		    "or a broken one");
	}
	step("capability", S_INFO, t0, "%s: %s", when, buf_cstr(&ck.caps));
	imapcmd_result_free(&res);
}

/* The greeting in ck.resp. */
static int
greeting(const char *port, int64_t t0)
{
	struct imapresp r;

	if (imapresp_parse(&ck.resp, &r) == -1 || r.kind != IR_UNTAGGED ||
	    (r.status != IRS_OK && r.status != IRS_PREAUTH &&
	    r.status != IRS_BYE)) {
		step("greeting", S_FAIL, t0, "port %s: %.200s", port,
		    buf_cstr(&ck.resp));
		verdict(EX_PROTOCOL, "port %s of %s does not speak IMAP (it "
		    "said \"%.80s\"): another service listens there", port,
		    ck.host, buf_cstr(&ck.resp));
	}
	if (r.status == IRS_BYE) {
		step("greeting", S_FAIL, t0, "port %s: %s", port,
		    buf_cstr(&ck.resp));
		verdict(EX_PROTOCOL, "the server turns connections away at "
		    "once: %.*s (too many connections, or this address is "
		    "not allowed)", (int)r.textlen, r.text);
	}
	buf_reset(&ck.caps);
	(void)imapcmd_note_caps(&ck.caps, &r);
	step("greeting", S_OK, t0, "port %s: %s", port, buf_cstr(&ck.resp));
	return r.status == IRS_PREAUTH;
}

static void
starttls(const char *port)
{
	struct imapcmd_result res;
	int64_t t0 = now_ms();

	if (!imapcmd_has_cap(&ck.caps, "STARTTLS")) {
		step("starttls", S_FAIL, t0, "port %s: not offered", port);
		verdict(EX_TLS, "the server does not offer STARTTLS on port "
		    "%s: set the client to SSL/TLS on port 993, or give the "
		    "server a certificate", port);
	}
	if (imapcmd_has_cap(&ck.caps, "LOGINDISABLED"))
		step("starttls", S_INFO, -1, "LOGINDISABLED before TLS: "
		    "logins in clear are refused, as they should be");
	else
		step("starttls", S_WARN, -1, "the server would take a "
		    "password in clear before STARTTLS (no LOGINDISABLED)");
	imapcmd_result_init(&res, RESP_MAX);
	if (command(imapconn_begin(ck.c, "STARTTLS"), "starttls", NULL,
	    &res, EX_TLS) != IRS_OK) {
		step("starttls", S_FAIL, t0, "%s", buf_cstr(&res.line));
		verdict(EX_TLS, "STARTTLS was refused: %.*s",
		    (int)res.resp.textlen, res.resp.text);
	}
	imapcmd_result_free(&res);
	if (imapconn_starttls(ck.c, ck.host, ck.cafile, 0,
	    now_ms() + ck.timeout_ms) == -1) {
		step("tls", S_FAIL, t0, "%s", imapconn_error(ck.c));
		verdict(EX_TLS, "the TLS handshake after STARTTLS failed "
		    "(%s): the server's TLS setup (certificate, key, "
		    "protocol versions) is broken; its log says more",
		    imapconn_error(ck.c));
	}
	buf_reset(&ck.caps);	/* what was said in clear no longer holds */
	check_certificate(port, t0);
}

/* The port in the mode the client is set up with, up to CAPABILITY. */
static void
reach(const char *port, enum mode mode)
{
	enum imapconn_class cl;
	enum speaks sp;
	int64_t t0;
	int preauth;

	if (ck.c == NULL && (ck.c = tcp(port, S_FAIL, &cl)) == NULL)
		unreachable(port, cl);
	t0 = now_ms();
	sp = probe(port, mode == M_TLS);
	if (sp == SP_TLS && mode != M_TLS) {
		step("tls mode", S_FAIL, t0, "port %s speaks TLS from the "
		    "first byte", port);
		verdict(EX_TLS, "port %s expects TLS from the first byte "
		    "(implicit TLS): a client set to %s waits for a greeting "
		    "that never comes and times out; set the client to "
		    "SSL/TLS on port %s", port, mode == M_STARTTLS ?
		    "STARTTLS" : "no encryption", port);
	}
	if (sp == SP_PLAIN && mode == M_TLS) {
		step("tls mode", S_FAIL, t0, "port %s greets in clear: %.80s",
		    port, buf_cstr(&ck.resp));
		verdict(EX_TLS, "port %s speaks plain IMAP, not TLS: a client "
		    "set to SSL/TLS gets a handshake error (\"wrong version "
		    "number\") or hangs; set the client to STARTTLS on port "
		    "%s, or use the server's TLS port (993)", port, port);
	}
	if (sp == SP_SILENT) {
		step("tls mode", S_FAIL, t0, "port %s: no greeting in clear, "
		    "no TLS handshake either", port);
		verdict(EX_PROTOCOL, "port %s of %s takes connections but "
		    "says nothing, in clear or over TLS: not an IMAP server, "
		    "or one that hangs", port, ck.host);
	}
	if (sp == SP_OTHER) {
		step("tls mode", S_FAIL, t0, "port %s: %s", port,
		    ck.resp.len > 0 ? buf_cstr(&ck.resp) :
		    imapconn_error(ck.c));
		verdict(EX_PROTOCOL, "port %s of %s does not speak IMAP: "
		    "another service listens there, or the server closes "
		    "connections at once (its log says why)", port, ck.host);
	}
	step("tls mode", S_OK, t0, "port %s: %s", port, sp == SP_TLS ?
	    "implicit TLS" : "plain IMAP greeting");
	if (sp == SP_TLS) {
		check_certificate(port, t0);
		t0 = now_ms();
		if (imapconn_read(ck.c, &ck.resp, now_ms() + ck.timeout_ms) !=
		    1) {
			step("greeting", S_FAIL, t0, "%s",
			    imapconn_error(ck.c));
			verdict(EX_PROTOCOL, "no IMAP greeting after the TLS "
			    "handshake (%s)", imapconn_error(ck.c));
		}
	}
	preauth = greeting(port, t0);
	if (preauth)
		return;
	if (mode == M_STARTTLS)
		starttls(port);
	capabilities(mode == M_PLAIN ? "in clear" : "over TLS");
	if (imapcmd_has_cap(&ck.caps, "LOGINDISABLED")) {
		if (mode == M_PLAIN)
			verdict(EX_PROTOCOL, "the server refuses logins "
			    "without TLS (LOGINDISABLED): set the client to "
			    "STARTTLS on port %s, or SSL/TLS on port 993",
			    port);
		verdict(EX_PROTOCOL, "the server refuses LOGIN even over TLS "
		    "(LOGINDISABLED): the client must use an AUTHENTICATE "
		    "mechanism it offers (AUTH=...)");
	}
}

/* ---- logging in --------------------------------------------------- */

static int
text_has(const struct imapresp *r, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= r->textlen; i++)
		if (strncasecmp(r->text + i, needle, n) == 0)
			return 1;
	return 0;
}

/* The verdict on a refused login, by its response code (RFC 5530). */
static void __attribute__((noreturn))
refused(const struct imapresp *r)
{
	static const char *const policy[] = { "AUTHORIZATIONFAILED",
	    "CONTACTADMIN", "NOPERM", "LIMIT", "INUSE" };
	int t = (int)r->textlen;
	size_t i;

	if (text_has(r, "app password") ||
	    text_has(r, "app-specific password") ||
	    text_has(r, "application-specific password") ||
	    text_has(r, "application password"))
		verdict(EX_LOGIN, "this account needs an app password: the "
		    "account's own password is refused for IMAP; create an "
		    "app password in the account's settings and give that "
		    "to the client (the server said: %.*s)", t, r->text);
	if (imapresp_code_is(r, "PRIVACYREQUIRED"))
		verdict(EX_LOGIN, "the server wants TLS before a login "
		    "([PRIVACYREQUIRED]): set the client to STARTTLS or "
		    "SSL/TLS");
	if (imapresp_code_is(r, "AUTHENTICATIONFAILED"))
		verdict(EX_LOGIN, "wrong user name or password "
		    "([AUTHENTICATIONFAILED]): check both (the user name may "
		    "need the domain, the password its case and keyboard "
		    "layout); the server's log says which");
	if (imapresp_code_is(r, "UNAVAILABLE"))
		verdict(EX_LOGIN, "the server cannot check passwords just now "
		    "([UNAVAILABLE]: its authentication backend is down); "
		    "this is the server's problem, not the password's: its "
		    "log says why; try again later");
	if (imapresp_code_is(r, "EXPIRED"))
		verdict(EX_LOGIN, "the password or the account has expired "
		    "([EXPIRED]): the user must set a new password, or the "
		    "administrator renew the account");
	for (i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
		if (imapresp_code_is(r, policy[i]))
			verdict(EX_LOGIN, "the login is refused by the "
			    "server's policy ([%s]: %.*s), not for the "
			    "password: the administrator decides who may log "
			    "in from where, and how often", policy[i], t,
			    r->text);
	if (r->code != NULL)
		verdict(EX_LOGIN, "the login was refused ([%.*s] %.*s)",
		    (int)r->codelen, r->code, t, r->text);
	verdict(EX_LOGIN, "the login was refused without a reason code "
	    "(%.*s): most often a wrong user name or password; the server's "
	    "log says which", t, r->text);
}

static void
login(void)
{
	struct imapcmd_result res;
	char pw[PASS_MAX];
	const char *why;
	int64_t t0;
	int r;

	if (password_get("Password: ", pw, sizeof(pw), &why) == -1)
		errx(EX_LOCAL, "%s", why);
	t0 = now_ms();
	imapcmd_result_init(&res, RESP_MAX);
	r = imapcmd_login(ck.c, ck.user, pw, now_ms() + ck.timeout_ms,
	    note_untagged, NULL, &res);
	wipe(pw, sizeof(pw));
	if (r == -1) {
		step("login", S_FAIL, t0, "%s", imapconn_error(ck.c));
		verdict(EX_LOGIN, "the login failed: %s",
		    imapconn_error(ck.c));
	}
	(void)imapcmd_note_caps(&ck.caps, &res.resp);
	if (res.status == IRS_BYE) {
		step("login", S_FAIL, t0, "%s", buf_cstr(&res.line));
		verdict(EX_LOGIN, "the server ended the session at the login: "
		    "%.*s", (int)res.resp.textlen, res.resp.text);
	}
	if (res.status != IRS_OK) {
		step("login", S_FAIL, t0, "%s: %s", ck.user,
		    buf_cstr(&res.line));
		refused(&res.resp);
	}
	step("login", S_OK, t0, "%s logged in", ck.user);
	imapcmd_result_free(&res);
}

/* ---- after login: namespace, folders, IDLE ------------------------ */

/* "* NAMESPACE ((prefix sep) ...) ... ...": the first personal one. */
static void
namespace_data(void *arg, const struct buf *b, const struct imapresp *r)
{
	const struct imap_cmdline *cl;
	const struct imap_arg *ns;
	const char *pfx, *sep;
	int n;

	note_untagged(arg, b, r);
	if (!imapresp_is(r, "NAMESPACE") ||
	    (cl = imapresp_args(ck.parser, b)) == NULL || cl->nargs < 1 ||
	    cl->args[0].type != IMAP_ARG_LIST || cl->args[0].len < 1)
		return;
	ns = &cl->args[0].list[0];
	if (ns->type != IMAP_ARG_LIST || ns->len < 2 ||
	    (pfx = imap_arg_astring(&ns->list[0])) == NULL)
		return;
	n = snprintf(ck.prefix, sizeof(ck.prefix), "%s", pfx);
	if (n < 0 || (size_t)n >= sizeof(ck.prefix))
		ck.prefix[0] = '\0';
	if ((sep = imap_arg_astring(&ns->list[1])) != NULL && sep[0] != '\0')
		ck.sep = sep[0];
}

static void
list_data(void *arg, const struct buf *b, const struct imapresp *r)
{
	static const char *const uses[] = { "\\Sent", "\\Drafts", "\\Trash",
	    "\\Junk", "\\Archive", "\\All", "\\Flagged" };
	const struct imap_cmdline *cl;
	const struct imap_arg *attrs;
	struct folder *f = NULL, *nf;
	const char *name, *sep, *a;
	int lsub = imapresp_is(r, "LSUB");
	size_t i, j;

	note_untagged(arg, b, r);
	if ((!imapresp_is(r, "LIST") && !lsub) ||
	    (cl = imapresp_args(ck.parser, b)) == NULL || cl->nargs < 3 ||
	    cl->args[0].type != IMAP_ARG_LIST ||
	    (name = imap_arg_astring(&cl->args[2])) == NULL)
		return;
	if ((sep = imap_arg_astring(&cl->args[1])) != NULL && sep[0] != '\0' &&
	    ck.sep == 0)
		ck.sep = sep[0];
	if (name[0] == '\0')	/* the LIST "" "" answer: the separator */
		return;
	for (i = 0; i < ck.nfolders; i++)
		if (strcmp(ck.folders[i].name, name) == 0)
			f = &ck.folders[i];
	if (f == NULL) {
		if (lsub || ck.nfolders == FOLDERS_MAX)
			return;
		nf = reallocarray(ck.folders, ck.nfolders + 1, sizeof(*nf));
		if (nf == NULL)
			errx(EX_LOCAL, "out of memory");
		ck.folders = nf;
		f = &ck.folders[ck.nfolders++];
		memset(f, 0, sizeof(*f));
		if ((f->name = strdup(name)) == NULL)
			errx(EX_LOCAL, "out of memory");
	}
	attrs = cl->args[0].list;
	for (i = 0; i < cl->args[0].len; i++) {
		if ((a = imap_arg_atom(&attrs[i])) == NULL)
			continue;
		if (lsub || strcasecmp(a, "\\Subscribed") == 0) {
			if (strcasecmp(a, "\\Subscribed") == 0)
				f->subscribed = 1;
			continue;
		}
		if (strcasecmp(a, "\\Noselect") == 0 ||
		    strcasecmp(a, "\\NonExistent") == 0)
			f->noselect = 1;
		for (j = 0; j < sizeof(uses) / sizeof(uses[0]); j++)
			if (strcasecmp(a, uses[j]) == 0)
				memcpy(f->special, uses[j],
				    strlen(uses[j]) + 1);
	}
	if (lsub)
		f->subscribed = 1;
}

static void
list(const char *how, const char *ref, const char *pattern,
    const char *ret, int must)
{
	struct imapcmd_result res;
	const char *tag = imapconn_begin(ck.c, how);
	int64_t t0 = now_ms();

	if (tag == NULL || imapconn_string(ck.c, ref, strlen(ref)) == -1 ||
	    imapconn_string(ck.c, pattern, strlen(pattern)) == -1 ||
	    (ret != NULL && imapconn_atom(ck.c, ret) == -1))
		errx(EX_LOCAL, "out of memory");
	imapcmd_result_init(&res, RESP_MAX);
	if (command(tag, "folders", list_data, &res, EX_MAILBOX) != IRS_OK &&
	    must) {
		step("folders", S_FAIL, t0, "%s: %s", how,
		    buf_cstr(&res.line));
		verdict(EX_MAILBOX, "the server cannot list the folders "
		    "(%.*s): the mail store is broken or not reachable; the "
		    "server's log says why", (int)res.resp.textlen,
		    res.resp.text);
	}
	imapcmd_result_free(&res);
}

static void
check_namespace(void)
{
	struct imapcmd_result res;
	int64_t t0 = now_ms();

	if (imapcmd_has_cap(&ck.caps, "NAMESPACE")) {
		imapcmd_result_init(&res, RESP_MAX);
		(void)command(imapconn_begin(ck.c, "NAMESPACE"), "namespace",
		    namespace_data, &res, EX_MAILBOX);
		imapcmd_result_free(&res);
	}
	if (ck.sep == 0)
		list("LIST", "", "", NULL, 1);
	if (ck.sep == 0) {
		step("namespace", S_WARN, t0, "the server names no hierarchy "
		    "separator: folders are flat");
		return;
	}
	if (ck.separator != 0 && ck.separator != ck.sep) {
		step("namespace", S_FAIL, t0, "separator \"%c\", the client "
		    "uses \"%c\"", ck.sep, ck.separator);
		verdict(EX_MAILBOX, "the server separates folder levels with "
		    "\"%c\", the client was set up with \"%c\": subfolders "
		    "show as odd flat names or cannot be created; set the "
		    "client's separator to \"%c\" (or leave it empty so that "
		    "it asks the server)", ck.sep, ck.separator, ck.sep);
	}
	step("namespace", S_OK, t0, "personal prefix \"%s\", separator "
	    "\"%c\"%s", ck.prefix, ck.sep, ck.prefix[0] != '\0' ? " (folder "
	    "paths in clients start with the prefix)" : "");
}

/* The last level of a folder's name. */
static const char *
leaf(const char *name)
{
	const char *p = ck.sep != 0 ? strrchr(name, ck.sep) : NULL;

	return p != NULL ? p + 1 : name;
}

/* Names clients give the same special folder. */
static const struct {
	const char	*use;
	const char	*names[7];
} families[] = {
	{ "\\Sent", { "Sent", "Sent Items", "Sent Messages", "Sent Mail",
	    "Sent-Mail", NULL } },
	{ "\\Drafts", { "Drafts", "Draft", NULL } },
	{ "\\Trash", { "Trash", "Deleted Items", "Deleted Messages", "Bin",
	    "Deleted", NULL } },
	{ "\\Junk", { "Junk", "Spam", "Junk E-mail", "Junk Email",
	    "Bulk Mail", NULL } },
	{ "\\Archive", { "Archive", "Archives", NULL } },
};

static int
in_family(size_t fam, const struct folder *f)
{
	size_t k;

	if (strcasecmp(f->special, families[fam].use) == 0)
		return 1;
	for (k = 0; families[fam].names[k] != NULL; k++)
		if (strcasecmp(leaf(f->name), families[fam].names[k]) == 0)
			return 1;
	return 0;
}

static void
check_folders(void)
{
	struct buf same;
	size_t fam, i, n, one = 0, nspecial = 0;
	int64_t t0 = now_ms();
	int any;

	list("LIST", "", "*", NULL, 1);
	for (i = 0; i < ck.nfolders; i++)
		nspecial += ck.folders[i].special[0] != '\0';
	if (nspecial == 0 && imapcmd_has_cap(&ck.caps, "SPECIAL-USE"))
		list("LIST", "", "*", "RETURN (SPECIAL-USE)", 0);
	/* LSUB is gone from IMAP4rev2; LIST-EXTENDED says the same */
	if (imapcmd_has_cap(&ck.caps, "LIST-EXTENDED"))
		list("LIST (SUBSCRIBED)", "", "*", NULL, 0);
	else
		list("LSUB", "", "*", NULL, 0);
	step("folders", S_OK, t0, "%zu folders", ck.nfolders);
	buf_init(&same, 65536);
	for (fam = 0; fam < sizeof(families) / sizeof(families[0]); fam++) {
		t0 = now_ms();
		buf_reset(&same);
		any = 0;
		for (i = n = 0; i < ck.nfolders; i++) {
			if (ck.folders[i].noselect ||
			    !in_family(fam, &ck.folders[i]))
				continue;
			(void)buf_addf(&same, "%s\"%s\"%s", n ? " and " : "",
			    ck.folders[i].name, ck.folders[i].special[0] ?
			    " (flagged)" : "");
			n++;
			one = i;
			if (strcasecmp(ck.folders[i].special,
			    families[fam].use) == 0)
				any = 1;
			if (!ck.folders[i].subscribed)
				step("folders", S_WARN, -1, "\"%s\" is not "
				    "subscribed: clients that show only "
				    "subscribed folders (Thunderbird) hide it",
				    ck.folders[i].name);
		}
		if (n > 1)
			step("folders", S_WARN, t0, "%s look like the same "
			    "%s folder: one client saves there, another "
			    "shows the other; merge them, or have the server "
			    "alias the extra names", buf_cstr(&same),
			    families[fam].use + 1);
		else if (n == 1 && !any)
			step("folders", S_WARN, t0, "\"%s\" carries no %s "
			    "flag: clients guess from its name, or make their "
			    "own", ck.folders[one].name, families[fam].use);
		else if (n == 0)
			step("folders", S_INFO, t0, "no %s folder; clients "
			    "create their own", families[fam].use);
		else
			step("folders", S_OK, t0, "\"%s\" is %s",
			    ck.folders[one].name, families[fam].use);
	}
	buf_free(&same);
}

static void
check_idle(void)
{
	struct imapcmd_result res;
	struct imapresp r;
	const char *tag;
	int64_t t0 = now_ms(), cont = -1;
	int got;

	if (!imapcmd_has_cap(&ck.caps, "IDLE")) {
		step("idle", S_WARN, -1, "no IDLE: clients must poll, and new "
		    "mail shows up late");
		return;
	}
	imapcmd_result_init(&res, RESP_MAX);
	tag = imapconn_begin(ck.c, "EXAMINE");
	if (tag == NULL || imapconn_atom(ck.c, "INBOX") == -1)
		errx(EX_LOCAL, "out of memory");
	if (command(tag, "idle", NULL, &res, EX_MAILBOX) != IRS_OK) {
		step("idle", S_FAIL, t0, "EXAMINE INBOX: %s",
		    buf_cstr(&res.line));
		verdict(EX_MAILBOX, "INBOX cannot be opened (%.*s): the mail "
		    "store is missing or not readable by the user",
		    (int)res.resp.textlen, res.resp.text);
	}
	imapcmd_result_free(&res);
	t0 = now_ms();
	if ((tag = imapconn_begin(ck.c, "IDLE")) == NULL ||
	    imapconn_send(ck.c, now_ms() + ck.timeout_ms, NULL, NULL) == -1)
		verdict(EX_MAILBOX, "IDLE: %s", imapconn_error(ck.c));
	for (;;) {
		got = imapconn_read(ck.c, &ck.resp, now_ms() + ck.timeout_ms);
		if (got != 1 || imapresp_parse(&ck.resp, &r) == -1) {
			step("idle", S_FAIL, t0, "%s", imapconn_error(ck.c));
			verdict(EX_MAILBOX, "IDLE does not work: %s",
			    got == 1 ? buf_cstr(&ck.resp) :
			    imapconn_error(ck.c));
		}
		if (r.kind == IR_CONTINUE && cont < 0) {
			cont = now_ms() - t0;
			if (imapconn_write(ck.c, "DONE\r\n", 6,
			    now_ms() + ck.timeout_ms) == -1)
				verdict(EX_MAILBOX, "IDLE: %s",
				    imapconn_error(ck.c));
			continue;
		}
		if (imapresp_tag_is(&r, tag))
			break;
	}
	if (r.status != IRS_OK || cont < 0) {
		step("idle", S_FAIL, t0, "%s", buf_cstr(&ck.resp));
		verdict(EX_MAILBOX, "the server offers IDLE but refuses it: "
		    "%.*s", (int)r.textlen, r.text);
	}
	step("idle", S_OK, t0, "IDLE works (entered in %lld ms)",
	    (long long)cont);
}

/* ---- the whole check ---------------------------------------------- */

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr, "usage: " PROG " [--user "
	    "NAME] [--json] [--timeout SECONDS] [--tls | --starttls | "
	    "--plain]\n                 [--ca FILE] [--separator C] HOST "
	    "[PORT]\n");
	exit(status == 0 ? 0 : EX_LOCAL);
}

static void
options(int argc, char *argv[])
{
	enum { O_USER = 256, O_JSON, O_TIMEOUT, O_TLS, O_STARTTLS, O_PLAIN,
	    O_CA, O_SEP, O_HELP };
	static const struct option lo[] = {
		{ "user", required_argument, NULL, O_USER },
		{ "json", no_argument, NULL, O_JSON },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tls", no_argument, NULL, O_TLS },
		{ "starttls", no_argument, NULL, O_STARTTLS },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "ca", required_argument, NULL, O_CA },
		{ "separator", required_argument, NULL, O_SEP },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t ms;
	int ch, modes = 0;

	ck.timeout_ms = 10000;
	ck.mode = M_STARTTLS;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_USER: ck.user = optarg; break;
		case O_JSON: ck.json = 1; break;
		case O_TIMEOUT:
			if (strnum_duration(optarg, 3600 * 1000, &ms) == -1 ||
			    ms == 0)
				errx(EX_LOCAL, "--timeout: seconds, or with a unit "
				    "(500ms, 1m)");
			ck.timeout_ms = (int64_t)ms;
			break;
		case O_TLS: ck.mode = M_TLS; modes++; break;
		case O_STARTTLS: ck.mode = M_STARTTLS; modes++; break;
		case O_PLAIN: ck.mode = M_PLAIN; modes++; break;
		case O_CA: ck.cafile = optarg; break;
		case O_SEP:
			if (strlen(optarg) != 1)
				errx(EX_LOCAL, "--separator: one character");
			ck.separator = optarg[0];
			break;
		case O_HELP: usage(0);
		default: usage(EX_LOCAL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2 || modes > 1)
		usage(EX_LOCAL);
	ck.host = argv[0];
	ck.port_given = argc == 2;
	ck.port = argc == 2 ? argv[1] : "993";
	if (modes == 0)
		ck.mode = strcmp(ck.port, "993") == 0 ? M_TLS : M_STARTTLS;
}

/* Without a port: 143 (STARTTLS) is looked at, 993 is checked fully if
 * it answers, else 143 is. */
static void
both_ports(void)
{
	enum imapconn_class cl143, cl993;
	struct imapconn *c143, *c993;
	int64_t t0;

	c143 = tcp("143", S_WARN, &cl143);
	c993 = tcp("993", c143 != NULL ? S_WARN : S_FAIL, &cl993);
	if (c143 == NULL && c993 == NULL)
		unreachable("993 nor 143", cl993);
	if (c143 != NULL) {
		ck.c = c143;
		t0 = now_ms();
		if (probe("143", 0) == SP_PLAIN) {
			buf_reset(&ck.caps);
			if (greeting("143", t0) == 0 && ck.caps.len == 0)
				capabilities("port 143 in clear");
			if (!imapcmd_has_cap(&ck.caps, "STARTTLS"))
				step("starttls", S_WARN, -1, "port 143 offers "
				    "no STARTTLS: clients set to STARTTLS "
				    "fail there");
			else
				step("starttls", S_OK, -1, "port 143 offers "
				    "STARTTLS");
		} else
			step("tls mode", S_WARN, t0, "port 143 does not greet "
			    "in clear: clients set to STARTTLS fail there");
		imapconn_free(c143);
		ck.c = NULL;
		if (c993 == NULL) {
			/* the one way in: check it fully */
			ck.port = "143";
			buf_reset(&ck.caps);
			reach("143", M_STARTTLS);
			return;
		}
	}
	ck.c = c993;
	buf_reset(&ck.caps);
	reach("993", M_TLS);
}

int
main(int argc, char *argv[])
{
	struct imap_limits lim = { RESP_MAX + 4096, RESP_MAX, 2 * RESP_MAX,
	    64, 100000 };
	char err[512], addr[64];
	struct addrinfo *ai;
	struct buf addrs;
	int64_t t0;

	options(argc, argv);
	buf_init(&ck.caps, 65536);
	buf_init(&ck.resp, RESP_MAX);
	buf_init(&addrs, 4096);
	if ((ck.parser = imap_parser_new(&lim)) == NULL)
		errx(EX_LOCAL, "out of memory");
	if (!ck.json)
		printf("imapcheck %s%s%s\n", ck.host, ck.port_given ? " port " :
		    "", ck.port_given ? ck.port : "");

	t0 = now_ms();
	if (imapconn_resolve(ck.host, ck.port_given ? ck.port : "993",
	    &ck.addrs, err, sizeof(err)) == -1) {
		step("resolve", S_FAIL, t0, "%s", err);
		verdict(EX_RESOLVE, "%s: check the server name in the client "
		    "(a typo?) and the DNS (`host %s`)", err, ck.host);
	}
	for (ai = ck.addrs; ai != NULL; ai = ai->ai_next) {
		imapconn_addrstr(ai, addr, sizeof(addr));
		(void)buf_addf(&addrs, "%s%s", addrs.len ? ", " : "", addr);
	}
	step("resolve", S_OK, t0, "%s", buf_cstr(&addrs));
	buf_free(&addrs);

	if (ck.port_given)
		reach(ck.port, ck.mode);
	else
		both_ports();
	if (ck.user == NULL) {
		step("login", S_INFO, -1, "not checked: no --user");
		finish();
	}
	login();
	check_namespace();
	check_folders();
	check_idle();
	{
		struct imapcmd_result res;

		imapcmd_result_init(&res, RESP_MAX);
		(void)imapcmd_run(ck.c, imapconn_begin(ck.c, "LOGOUT"),
		    now_ms() + ck.timeout_ms, NULL, NULL, &res);
		imapcmd_result_free(&res);
	}
	finish();
}
