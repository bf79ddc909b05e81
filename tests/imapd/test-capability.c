/*
 * Unit tests for capability.c: the CAPABILITY list in each state and on
 * each kind of connection (plaintext with STARTTLS offered or not, after
 * STARTTLS, implicit TLS), with plaintext logins allowed by the
 * configuration or not, and after login.
 */
#include <string.h>

#include "imapd/capability.h"
#include "imapd/config.h"
#include "imapd/session.h"
#include "tests/t.h"

#define BASE	"IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE"
#define AUTH	"SASL-IR AUTH=PLAIN AUTH=LOGIN"
#define LOGGEDIN "NAMESPACE UNSELECT UIDPLUS MOVE IDLE CHILDREN " \
	"LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE " \
	"STATUS=SIZE ESEARCH SEARCHRES MULTIAPPEND BINARY " \
	"APPENDLIMIT=67108864 CONDSTORE QRESYNC SORT SORT=DISPLAY " \
	"THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT PREVIEW " \
	"COMPRESS=DEFLATE UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE " \
	"QUOTA=RES-MESSAGE OBJECTID"

static struct config conf;

/* a session in state, its stream encrypted or not, STARTTLS offered or
 * not, plaintext logins allowed by the configuration or not */
static void
session(struct session *s, enum session_state state, int tls, int starttls,
    int plaintext)
{
	memset(s, 0, sizeof(*s));
	config_defaults(&conf);
	conf.allow_plaintext_auth = plaintext;
	s->conf = &conf;
	s->state = state;
	s->tls = tls ? 1 : 0;
	s->starttls = starttls ? 1 : 0;
}

/* port 143 with TLS configured: STARTTLS, and no login until it */
static void
test_plaintext_before_starttls(void)
{
	struct session s;

	session(&s, STATE_NOTAUTH, 0, 1, 0);
	CHECK_STR(capability_string(&s), BASE " STARTTLS LOGINDISABLED");
	CHECK_INT(capability_auth_allowed(&s), 0);
	/* allow_plaintext_auth: the mechanisms, beside STARTTLS */
	session(&s, STATE_NOTAUTH, 0, 1, 1);
	CHECK_STR(capability_string(&s), BASE " STARTTLS " AUTH);
	CHECK_INT(capability_auth_allowed(&s), 1);
}

/* port 143 without TLS configured: nothing to offer but what the
 * configuration allows */
static void
test_plaintext_without_tls(void)
{
	struct session s;

	session(&s, STATE_NOTAUTH, 0, 0, 0);
	CHECK_STR(capability_string(&s), BASE " LOGINDISABLED");
	CHECK_INT(capability_auth_allowed(&s), 0);
	session(&s, STATE_NOTAUTH, 0, 0, 1);
	CHECK_STR(capability_string(&s), BASE " " AUTH);
}

/* after STARTTLS, and on port 993: the mechanisms, STARTTLS no more
 * (RFC 9051 6.2.1), whatever allow_plaintext_auth says */
static void
test_tls(void)
{
	struct session s;
	int plaintext;

	for (plaintext = 0; plaintext <= 1; plaintext++) {
		session(&s, STATE_NOTAUTH, 1, 1, plaintext);
		CHECK_STR(capability_string(&s), BASE " " AUTH);
		CHECK_INT(capability_auth_allowed(&s), 1);
		session(&s, STATE_NOTAUTH, 1, 0, plaintext);
		CHECK_STR(capability_string(&s), BASE " " AUTH);
	}
}

/* after login, selected or not: the whole list, and nothing of login's */
static void
test_logged_in(void)
{
	struct session s;
	int tls;

	for (tls = 0; tls <= 1; tls++) {
		session(&s, STATE_AUTH, tls, !tls, 0);
		CHECK_STR(capability_string(&s), BASE " " LOGGEDIN);
		session(&s, STATE_SELECTED, tls, !tls, 1);
		CHECK_STR(capability_string(&s), BASE " " LOGGEDIN);
	}
}

int
main(void)
{
	T_RUN(test_plaintext_before_starttls);
	T_RUN(test_plaintext_without_tls);
	T_RUN(test_tls);
	T_RUN(test_logged_in);
	return t_done();
}
