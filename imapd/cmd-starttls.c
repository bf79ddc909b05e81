/*
 * cmd-starttls: STARTTLS (RFC 9051 6.2.1).
 *
 * Whatever the client sent after the STARTTLS line and before the
 * handshake is thrown away unread: a man in the middle could have put
 * commands there (the 2011 STARTTLS command injection class of bugs), so
 * nothing received in plaintext may be executed after TLS is up.
 */
#include "common/lib/log.h"
#include "imapd/commands.h"

void
cmd_starttls(struct session *s, const struct request *c)
{
	if (c->nargs != 0) {
		reply_bad(s, c, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		reply_bad(s, c, "TLS is already active");
		return;
	}
	if (!s->starttls || s->hooks == NULL || s->hooks->starttls == NULL) {
		reply_bad(s, c, "STARTTLS is not available on this port");
		return;
	}
	reply_ok(s, c, "Begin TLS negotiation now");
	if (s->end != END_NONE)
		return;
	if (s->in.len > 0) {
		log_info("STARTTLS: discarding %zu bytes the client sent "
		    "before the TLS handshake", s->in.len);
		buf_reset(&s->in);
	}
	imap_parser_reset(s->parser);
	if (s->hooks->starttls(s) == -1) {
		s->end = END_ERROR;
		return;
	}
	s->tls = 1;
}
