/*
 * cmd-login: LOGIN and AUTHENTICATE (RFC 9051 6.2.2, 6.2.3) with the PLAIN
 * (RFC 4616) and LOGIN mechanisms and SASL-IR (RFC 4959).
 *
 * These run in the front, which cannot check a password: the session's
 * login hook sends the credentials to the back and waits for its verdict.
 * On success the back sends the tagged OK itself, already as the user.
 * The password is wiped from every buffer of ours as soon as it is sent.
 *
 * The tag travels to the back, which writes the tagged OK; tags longer
 * than TAG_MAX (far longer than any client's) are refused with BAD before
 * anything is asked, so the credentials always fit in one message.
 */
#include <string.h>
#include <strings.h>

#include "common/lib/log.h"
#include "common/lib/wipe.h"
#include "common/mail/base64.h"
#include "imapd/auth.h"
#include "imapd/capability.h"
#include "imapd/commands.h"

#define SASL_LINE_MAX	8192
#define AUTH_FAILURES_MAX 3
#define TAG_MAX		1024

/* Refuse credentials over a plaintext connection, or with a tag too long
 * to pass on; 1 if refused. */
static int
refuse_early(struct session *s, const struct request *c)
{
	if (strlen(c->tag) > TAG_MAX) {
		reply_bad(s, c, "Tag too long for %s (at most %d bytes)",
		    c->name, TAG_MAX);
		return 1;
	}
	if (capability_auth_allowed(s))
		return 0;
	log_info("%s refused: plaintext authentication before STARTTLS on "
	    "port %s (client must enable STARTTLS or use the implicit TLS "
	    "port, usually 993)", c->name, s->lport[0] ? s->lport : "?");
	reply_no(s, c, "[PRIVACYREQUIRED] Plaintext authentication is "
	    "disabled: use STARTTLS first, or connect to the TLS port");
	session_count_refusal(s);
	return 1;
}

/*
 * The answers to logins the user's policy refused (RFC 5530 codes).  The
 * password was right, and the answer says so; see login_policy in
 * imapd.conf(5) for why that is acceptable.
 */
static const struct {
	enum authres_status	 st;
	const char		*answer;
} refusals[] = {
	{ AUTHRES_DISABLED, "[CONTACTADMIN] This account is disabled; "
	    "contact the administrator" },
	{ AUTHRES_NETWORK, "[AUTHORIZATIONFAILED] This account may not log "
	    "in from your address" },
	{ AUTHRES_PRIVACY, "[PRIVACYREQUIRED] This account logs in only over "
	    "TLS: use STARTTLS, or connect to the TLS port" },
	{ AUTHRES_APPONLY, "[AUTHORIZATIONFAILED] This account logs in only "
	    "with an app password: make one for this device" },
	{ AUTHRES_HOURS, "[AUTHORIZATIONFAILED] This account may not log in "
	    "at this time of day" },
};

/* Run the login hook and answer; wipes pass. */
static void
try_login(struct session *s, const struct request *c, const char *mech,
    const char *authzid, const char *user, char *pass)
{
	enum authres_status r;
	size_t i;

	if (user[0] == '\0' || strlen(user) > AUTH_NAME_MAX ||
	    strpbrk(user, "\r\n") != NULL) {
		wipe_str(pass);
		session_wipe_input(s);
		reply_no(s, c, "[AUTHENTICATIONFAILED] Invalid user name");
		return;
	}
	if (s->hooks == NULL || s->hooks->login == NULL) {
		wipe_str(pass);
		reply_no(s, c, "[UNAVAILABLE] Login is not possible here");
		return;
	}
	r = s->hooks->login(s, c->tag, mech, authzid, user, pass);
	wipe_str(pass);
	session_wipe_input(s);
	if (r == AUTHRES_OK) {
		s->end = END_HANDOFF;
		return;
	}
	if (r == AUTHRES_TEMPFAIL) {
		reply_no(s, c, "[UNAVAILABLE] Temporary authentication "
		    "failure, try again later");
		return;
	}
	if (r == AUTHRES_LIMIT) {
		reply_no(s, c, "[LIMIT] Too many connections for this user; "
		    "close some and try again");
		session_printf(s, "* BYE Too many connections for this "
		    "user\r\n");
		(void)session_flush(s);
		s->end = END_LIMIT;
		return;
	}
	s->auth_failures++;
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (refusals[i].st == r)
			break;
	reply_no(s, c, "%s", i < sizeof(refusals) / sizeof(refusals[0]) ?
	    refusals[i].answer : "[AUTHENTICATIONFAILED] Authentication failed");
	if (s->auth_failures >= AUTH_FAILURES_MAX) {
		log_info("closing: %u failed logins", s->auth_failures);
		session_printf(s, "* BYE Too many failed logins\r\n");
		(void)session_flush(s);
		s->end = END_AUTHFAIL;
	}
}

void
cmd_login(struct session *s, const struct request *c)
{
	const char *user, *pass;

	if (c->nargs != 2 || (user = imap_arg_astring(&c->args[0])) == NULL ||
	    (pass = imap_arg_astring(&c->args[1])) == NULL) {
		if (c->nargs == 2 && c->args[1].str != NULL)
			wipe(c->args[1].str, c->args[1].len);
		reply_bad(s, c, "LOGIN takes a user name and a password");
		return;
	}
	if (refuse_early(s, c)) {
		wipe(c->args[1].str, c->args[1].len);
		session_wipe_input(s);
		return;
	}
	/* the parser's strings are ours to wipe */
	try_login(s, c, "LOGIN", NULL, user, c->args[1].str);
}

/*
 * Get one SASL response: the initial response if given, else ask with
 * "+ <challenge>" and read a line.  Decoded into out.  1 ok, 0 the client
 * cancelled or the session ended (answered already), -1 malformed
 * (answered already).
 */
static int
sasl_response(struct session *s, const struct request *c, const char *ir,
    const char *challenge, struct buf *out)
{
	const char *text = ir;
	char *line = NULL;		/* read here, wiped after */
	int r;

	buf_reset(out);
	if (ir == NULL) {
		session_printf(s, "+ %s\r\n", challenge);
		if (session_flush(s) == -1)
			return 0;
		r = session_read_line(s, SASL_LINE_MAX, &line);
		if (r == 0)
			return 0;
		if (r == -1) {
			reply_bad(s, c, "Authentication response too long");
			return -1;
		}
		if (strcmp(line, "*") == 0) {
			reply_bad(s, c, "Authentication cancelled");
			return 0;
		}
		text = line;
	}
	if (strcmp(text, "=") == 0)		/* SASL-IR: empty response */
		return 1;
	if (base64_decode(text, strlen(text), out) == -1) {
		if (ir == NULL)
			wipe_str(line);
		reply_bad(s, c, "Invalid base64 in authentication response");
		return -1;
	}
	if (ir == NULL)
		wipe_str(line);
	if (buf_addc(out, '\0') == -1) {
		reply_bad(s, c, "Authentication response too long");
		return -1;
	}
	buf_truncate(out, out->len - 1);
	return 1;
}

static void
auth_plain(struct session *s, const struct request *c, const char *ir)
{
	struct buf resp;
	const char *authzid, *authcid, *end;
	char *pass;			/* wiped by try_login() */

	buf_init(&resp, SASL_LINE_MAX);
	if (sasl_response(s, c, ir, "", &resp) != 1)
		goto done;
	/* authzid NUL authcid NUL passwd */
	end = resp.data != NULL ? resp.data + resp.len : NULL;
	authzid = resp.data;
	authcid = authzid != NULL ? memchr(authzid, '\0', resp.len) : NULL;
	pass = authcid != NULL ?
	    memchr(authcid + 1, '\0', (size_t)(end - authcid - 1)) : NULL;
	if (pass == NULL || memchr(pass + 1, '\0',
	    (size_t)(end - pass - 1)) != NULL) {
		reply_bad(s, c, "Malformed PLAIN response");
		goto done;
	}
	authcid++;
	pass++;
	if (authzid[0] != '\0' && strcmp(authzid, authcid) != 0) {
		log_info("AUTHENTICATE PLAIN refused: authorization identity "
		    "differs from the user name (not supported)");
		reply_no(s, c, "[AUTHORIZATIONFAILED] Logging in as another "
		    "user is not supported");
		session_count_refusal(s);
		goto done;
	}
	try_login(s, c, "PLAIN", authzid, authcid, pass);
done:
	buf_free_secret(&resp);
}

static void
auth_login(struct session *s, const struct request *c, const char *ir)
{
	struct buf user, pass;

	buf_init(&user, SASL_LINE_MAX);
	buf_init(&pass, SASL_LINE_MAX);
	/* "Username:" and "Password:" in base64, as clients expect */
	if (sasl_response(s, c, ir, "VXNlcm5hbWU6", &user) != 1)
		goto done;
	if (sasl_response(s, c, NULL, "UGFzc3dvcmQ6", &pass) != 1)
		goto done;
	if (memchr(buf_cstr(&user), '\0', user.len) != NULL ||
	    memchr(buf_cstr(&pass), '\0', pass.len) != NULL) {
		reply_bad(s, c, "Malformed LOGIN response");
		goto done;
	}
	try_login(s, c, "LOGIN", NULL, buf_cstr(&user),
	    pass.data != NULL ? pass.data : (char *)"");
done:
	buf_free_secret(&user);
	buf_free_secret(&pass);
}

void
cmd_authenticate(struct session *s, const struct request *c)
{
	const char *mech, *ir = NULL;

	if (c->nargs < 1 || c->nargs > 2 ||
	    (mech = imap_arg_atom(&c->args[0])) == NULL ||
	    (c->nargs == 2 && (ir = imap_arg_astring(&c->args[1])) == NULL)) {
		reply_bad(s, c, "AUTHENTICATE takes a mechanism and an "
		    "optional initial response");
		return;
	}
	if (refuse_early(s, c)) {
		if (c->nargs == 2)
			wipe(c->args[1].str, c->args[1].len);
		session_wipe_input(s);
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		auth_plain(s, c, ir);
	else if (strcasecmp(mech, "LOGIN") == 0)
		auth_login(s, c, ir);
	else {
		reply_no(s, c, "Unsupported authentication mechanism");
		return;
	}
	if (c->nargs == 2)
		wipe(c->args[1].str, c->args[1].len);
}
