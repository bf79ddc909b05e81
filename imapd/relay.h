/*
 * relay: what the front does after login, copying bytes between the client
 * and the back until the session is over.
 *
 * Every wait is bounded.  Output the client does not take within the
 * output timeout (timeout_output) ends the relay, and so does the back
 * ending: from then on the client gets at most that long to take what the
 * back wrote last.  The front therefore never outlives its back by more
 * than the output timeout, whatever the client does.
 */
#ifndef IMAPD_RELAY_H
#define IMAPD_RELAY_H

#include <stddef.h>

struct conn;

enum relay_end {
	RELAY_DONE,		/* the back ended and the client has it all */
	RELAY_CLIENT_GONE,	/* the client closed or the stream broke */
	RELAY_STALLED,		/* the client stopped reading: dropped */
};

/*
 * Relay between the client c and the back's socket (non-blocking), after
 * first handing the back the npending bytes at pending (what the client
 * pipelined after its login command).  timeout_ms is the output timeout.
 * Logs why it ended when that is worth a line; returns it.
 */
enum relay_end relay_run(struct conn *c, int back, const char *pending,
	    size_t npending, int timeout_ms);

#endif
