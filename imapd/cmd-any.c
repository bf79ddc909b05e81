/*
 * cmd-any: the commands valid in every state (RFC 9051 6.1): CAPABILITY,
 * NOOP, LOGOUT, and ID (RFC 2971).
 *
 * A client's ID is logged once by each process of a session, the front
 * before login and the back after: enough to tell which client it was,
 * and a client sending ID in a loop cannot fill the log.
 *
 * A proxy in front of imapd (Dovecot's, for one) names its client in ID
 * before login: x-originating-ip, x-originating-port and x-session-id.
 * They are believed only from an address in trusted_proxies, only before
 * login and only once; the client's address then stands where the
 * proxy's stood, and the back is told at login (front.c).
 */
#include <string.h>
#include <strings.h>

#include "common/lib/buf.h"
#include "common/lib/cidr.h"
#include "common/lib/log.h"
#include "common/lib/strnum.h"
#include "imapd/capability.h"
#include "imapd/commands.h"
#include "imapd/selected.h"
#include "imapd/version.h"

#define ID_PAIRS_MAX	30	/* RFC 2971 3.3 */
#define ID_FIELD_MAX	30
#define ID_VALUE_MAX	1024
#define ORIGIN_SESSION_MAX	64

void
cmd_capability(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "CAPABILITY takes no arguments");
		return;
	}
	session_printf(s, "* CAPABILITY %s\r\n", capability_string(s));
	reply_ok(s, c, "CAPABILITY completed");
}

void
cmd_noop(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "NOOP takes no arguments");
		return;
	}
	reply_ok(s, c, "NOOP completed");
}

void
cmd_logout(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "LOGOUT takes no arguments");
		return;
	}
	/* nothing about the mailbox after BYE: the client has stopped
	 * counting its messages (RFC 9051 6.1.3) */
	if (s->mb != NULL)
		selected_close(s);
	session_printf(s, "* BYE Logging out\r\n");
	reply_ok(s, c, "LOGOUT completed");
	s->state = STATE_LOGOUT;
	s->end = END_LOGOUT;
}

/* Append a client-supplied ID string to the log text, made printable. */
static void
id_logstr(struct buf *b, const char *v)
{
	size_t i;

	for (i = 0; i < 64 && v[i] != '\0'; i++)
		(void)buf_addc(b, (v[i] >= ' ' && v[i] < 0x7f) ? v[i] : '?');
}

/* A proxy's session id: up to 64 bytes of letters, digits and +/=_.- */
static int
origin_session_ok(const char *v)
{
	size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=_.-");

	return n <= ORIGIN_SESSION_MAX && v[n] == '\0';
}

/* The ID fields of a proxy speaking for its client (see the top). */
static void
id_origin(struct session *s, const char *ip, const char *port,
    const char *sid)
{
	uint8_t a[16];
	uint64_t n;
	int family;

	if (s->state != STATE_NOTAUTH || s->origin_ip[0] != '\0' ||
	    (ip == NULL && port == NULL && sid == NULL))
		return;
	if (!cidr_match(s->conf->trusted, s->conf->ntrusted, s->rip)) {
		log_info("ID: x-originating-* fields ignored: %s is not in "
		    "trusted_proxies", s->rip);
		return;
	}
	if (ip == NULL || cidr_addr(ip, &family, a) == -1 ||
	    strlen(ip) >= sizeof(s->origin_ip) ||
	    (port != NULL && strnum_u64(port, 65535, &n) == -1) ||
	    (sid != NULL && !origin_session_ok(sid))) {
		log_info("ID: x-originating-* fields from the proxy at %s "
		    "ignored: x-originating-ip must be a numeric address, "
		    "x-originating-port a port number, x-session-id up to 64 "
		    "letters, digits or +/=_.-", s->rip);
		return;
	}
	snprintf(s->origin_ip, sizeof(s->origin_ip), "%s", ip);
	snprintf(s->origin_port, sizeof(s->origin_port), "%s",
	    port != NULL ? port : "");
	snprintf(s->origin_session, sizeof(s->origin_session), "%s",
	    sid != NULL ? sid : "");
	log_setrip(ip);
	log_info("client port %s through the proxy at %s (ID%s%s)",
	    port != NULL ? port : "unknown", s->rip,
	    sid != NULL ? ", proxy session " : "", sid != NULL ? sid : "");
	snprintf(s->rip, sizeof(s->rip), "%s", ip);
}

void
cmd_id(struct session *s, const struct request *c)
{
	const char *ip = NULL, *port = NULL, *sid = NULL;
	const struct imap_arg *list;
	const char *k, *v;
	struct buf logtext;
	size_t i;

	if (c->nargs != 1) {
		reply_bad(s, c, "ID takes one argument: NIL or a list");
		return;
	}
	if (!imap_arg_is_nil(&c->args[0])) {
		if (c->args[0].type != IMAP_ARG_LIST) {
			reply_bad(s, c, "ID takes NIL or a list of pairs");
			return;
		}
		list = c->args[0].list;
		if (c->args[0].len % 2 != 0 ||
		    c->args[0].len > 2 * ID_PAIRS_MAX) {
			reply_bad(s, c, "ID list must hold up to 30 "
			    "field-value pairs");
			return;
		}
		buf_init(&logtext, 1024);
		for (i = 0; i < c->args[0].len; i += 2) {
			k = imap_arg_astring(&list[i]);
			v = imap_arg_is_nil(&list[i + 1]) ? "NIL" :
			    imap_arg_astring(&list[i + 1]);
			if (k == NULL ||
			    v == NULL || strlen(k) > ID_FIELD_MAX ||
			    strlen(v) > ID_VALUE_MAX) {
				buf_free(&logtext);
				reply_bad(s, c, "ID fields and values must be "
				    "strings (field up to 30 bytes, value up "
				    "to 1024)");
				return;
			}
			if (logtext.len > 0)
				(void)buf_adds(&logtext, ", ");
			id_logstr(&logtext, k);
			(void)buf_adds(&logtext, "=");
			id_logstr(&logtext, v);
			if (strcasecmp(k, "x-originating-ip") == 0)
				ip = v;
			else if (strcasecmp(k, "x-originating-port") == 0)
				port = v;
			else if (strcasecmp(k, "x-session-id") == 0)
				sid = v;
		}
		if (logtext.len > 0 && !s->id_logged) {
			log_info("client ID: %s", buf_cstr(&logtext));
			s->id_logged = 1;
		}
		buf_free(&logtext);
		id_origin(s, ip, port, sid);
	}
	session_printf(s, "* ID (\"name\" \"imapd\" \"version\" \"%s\")\r\n",
	    IMAPD_VERSION);
	reply_ok(s, c, "ID completed");
}
