/*
 * cmd-compress: COMPRESS DEFLATE (RFC 4978), after login only.
 *
 * The compression itself is a layer of the connection (conn.c), and it is
 * turned on in the back, the process that serves the logged-in session:
 * the front relays the compressed bytes under TLS as it relays any other,
 * so no zlib code runs in the unprivileged pre-login process and nothing
 * there changes.  conn.c says how input and output stay bounded.
 *
 * Compression starts with the first byte after the CRLF of the tagged OK
 * in both directions.  A client should wait for that OK before sending
 * more, but one that pipelined has already had its compressed bytes read
 * into the session's input buffer; they are handed to the inflater as its
 * first input rather than parsed as plain text.
 */
#include <strings.h>

#include "common/lib/log.h"
#include "imapd/commands.h"

void
cmd_compress(struct session *s, const struct request *c)
{
	const char *mech;

	if (c->nargs != 1 || (mech = imap_arg_atom(&c->args[0])) == NULL) {
		reply_bad(s, c, "COMPRESS takes one mechanism name: DEFLATE");
		return;
	}
	if (strcasecmp(mech, "DEFLATE") != 0) {
		reply_bad(s, c, "Unknown compression mechanism; DEFLATE is the "
		    "only one");
		return;
	}
	if (conn_compressed(s->conn)) {
		reply_no(s, c, "[COMPRESSIONACTIVE] DEFLATE is already active");
		return;
	}
	reply_ok(s, c, "DEFLATE active");
	if (s->end != END_NONE)
		return;
	if (conn_compress(s->conn, s->in.data, s->in.len) == -1) {
		/* the client compresses from now on; nothing it could
		 * read can be said any more */
		log_warnx("COMPRESS: %s; ending the session", s->conn->err);
		s->end = END_ERROR;
		return;
	}
	buf_reset(&s->in);
	log_debug("COMPRESS=DEFLATE active");
}
