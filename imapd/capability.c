/*
 * capability: the CAPABILITY list.  See capability.h.
 *
 * Only what is implemented is listed.  Before login the list is short on
 * purpose: clients ask again after login (and the LOGIN/AUTHENTICATE OK
 * carries the full list in a CAPABILITY response code).
 */
#include <stdio.h>
#include <string.h>

#include "common/lib/log.h"
#include "imapd/capability.h"
#include "imapd/commands.h"
#include "imapd/config.h"
#include "imapd/session.h"

#define DECIMAL(n)	#n
#define NUMBER(n)	DECIMAL(n)

static const char base[] = "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE";
static const char loggedin[] = "NAMESPACE UNSELECT UIDPLUS MOVE IDLE "
    "CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE "
    "STATUS=SIZE ESEARCH SEARCHRES MULTIAPPEND BINARY APPENDLIMIT="
    NUMBER(APPEND_LIMIT) " CONDSTORE QRESYNC SORT SORT=DISPLAY "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT PREVIEW "
    "COMPRESS=DEFLATE UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE "
    "QUOTA=RES-MESSAGE OBJECTID";

int
capability_auth_allowed(const struct session *s)
{
	return s->tls || s->conf->allow_plaintext_auth;
}

/* Append " word" to out; the list is a fixed set of short words, so
 * running out of room is a programming error. */
static void
add(char *out, size_t size, size_t *len, const char *word)
{
	size_t n = strlen(word);

	if (*len + n + 2 > size)
		fatalx("capability list too long");
	if (*len > 0)
		out[(*len)++] = ' ';
	memcpy(out + *len, word, n + 1);
	*len += n;
}

const char *
capability_string(const struct session *s)
{
	static char out[512];
	size_t len = 0;

	out[0] = '\0';
	add(out, sizeof(out), &len, base);
	if (s->state == STATE_NOTAUTH) {
		if (s->starttls && !s->tls)
			add(out, sizeof(out), &len, "STARTTLS");
		if (capability_auth_allowed(s))
			add(out, sizeof(out), &len,
			    "SASL-IR AUTH=PLAIN AUTH=LOGIN");
		else
			add(out, sizeof(out), &len, "LOGINDISABLED");
	} else
		add(out, sizeof(out), &len, loggedin);
	return out;
}
