/*
 * capability: what the server says it can do, which depends on the state
 * and on the connection (STARTTLS before TLS, LOGINDISABLED while
 * plaintext logins are refused, AUTH= mechanisms only when allowed).
 */
#ifndef IMAPD_CAPABILITY_H
#define IMAPD_CAPABILITY_H

struct session;

/* "IMAP4rev1 IMAP4rev2 ..." for this session right now.  The string lives
 * in a static buffer overwritten by the next call. */
const char *capability_string(const struct session *);

/* May this session send credentials now (TLS, or plaintext allowed)? */
int	capability_auth_allowed(const struct session *);

#endif
