/*
 * session: one IMAP conversation, the state machine of RFC 9051 section 3
 * (not authenticated, authenticated, selected, logout) and the loop that
 * reads commands, runs them from the command table and writes responses.
 *
 * The same code runs in two processes.  The front runs a session in the
 * not-authenticated state; LOGIN and AUTHENTICATE hand the credentials to
 * its hooks (the back checks them) and on success the front stops parsing
 * and only relays bytes.  The back runs the session from the authenticated
 * state on, over a socketpair to the front (or stdin/stdout for --stdio).
 */
#ifndef IMAPD_SESSION_H
#define IMAPD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "common/lib/quotadef.h"
#include "imapd/authmsg.h"
#include "imapd/conn.h"
#include "imapd/specialuse.h"

struct append_state;
struct config;
struct indexer;
struct mailbox;
struct maildirsize;
struct msgcache;

enum session_state {
	STATE_NOTAUTH	= 0x01,
	STATE_AUTH	= 0x02,
	STATE_SELECTED	= 0x04,
	STATE_LOGOUT	= 0x08,
};

#define STATE_ANY	(STATE_NOTAUTH | STATE_AUTH | STATE_SELECTED)
#define STATE_LOGGEDIN	(STATE_AUTH | STATE_SELECTED)

/* ENABLEd extensions (RFC 5161) */
#define ENABLED_IMAP4REV2	0x01
#define ENABLED_UTF8		0x02	/* UTF8=ACCEPT */
#define ENABLED_CONDSTORE	0x04	/* a CONDSTORE enabling command ran
					 * (RFC 7162 3.1) */
#define ENABLED_QRESYNC		0x08	/* ENABLE QRESYNC (RFC 7162 3.2) */

/* Why a session ended, for the log line and the master's accounting. */
enum session_end {
	END_NONE,
	END_LOGOUT,		/* client said LOGOUT */
	END_EOF,		/* client closed the connection */
	END_TIMEOUT,		/* autologout */
	END_ERROR,		/* I/O error */
	END_PROTOCOL,		/* fatal protocol error (limits before login) */
	END_SHUTDOWN,		/* the server is stopping */
	END_AUTHFAIL,		/* too many failed logins */
	END_HANDOFF,		/* front: login succeeded, now relaying */
	END_MAILBOX_RESET,	/* the selected folder's UIDVALIDITY changed */
	END_LIMIT,		/* the user is over a session limit */
	END_DRAIN,		/* the server is draining (SIGUSR2) */
};

struct session;
struct command_spec;

/* What the front gives a session so LOGIN/AUTHENTICATE can reach the back.
 * login() returns the back's verdict (authmsg.h), AUTHRES_TEMPFAIL when
 * the back cannot be reached; on AUTHRES_OK the session ends with
 * END_HANDOFF, on AUTHRES_LIMIT the back has ended; the session has
 * answered nothing yet. */
struct session_hooks {
	enum authres_status (*login)(struct session *, const char *tag,
		    const char *mech, const char *authzid, const char *user,
		    const char *pass);
	int	(*starttls)(struct session *);
};

struct session {
	const struct config	*conf;
	enum session_state	 state;
	enum session_end	 end;
	struct conn		*conn;
	struct imap_parser	*parser;
	struct buf		 in;	/* read, not yet parsed */
	struct buf		 out;	/* responses not yet written */
	const struct session_hooks *hooks;

	unsigned		 tls:1;		/* the stream is encrypted */
	unsigned		 starttls:1;	/* STARTTLS may be offered */
	unsigned		 preauth:1;	/* --stdio */
	unsigned		 pre_login_limits:1;
	unsigned		 id_logged:1;	/* ID logs once per process */
	unsigned		 enabled;	/* ENABLED_* */
	unsigned		 auth_failures;
	unsigned		 prelogin_errors;
	long long		 started_ms;	/* monotonic */
	struct buf		 line;	/* session_read_line() */
	char			*user;		/* once logged in */
	char			*mailroot;	/* the user's Maildir */
	struct specialuse	 specialuse;	/* its special-use folders */
	struct quota_limits	 quota_want;	/* the user's quota (quota.h) */
	unsigned		 quota_replace:1; /* it is the userdb's */
	struct maildirsize	*quota;		/* held by quota_reserve() */
	struct mailbox		*mb;		/* the selected folder */
	char			*mbname;	/* its name, on-disk form */
	unsigned		 examine:1;	/* selected read-only */
	struct msgcache		*mcache;	/* structure cache of mb */
	struct indexer		*indexer;	/* its full-text index */
	struct append_state	*append;	/* messages of an APPEND being
						 * read (cmd-append.c) */
	uint32_t		*saved;		/* SEARCHRES "$": UIDs, sorted */
	size_t			 nsaved;
	uint32_t		*vanished;	/* QRESYNC: expunged UIDs not
						 * yet sent as VANISHED */
	size_t			 nvanished, capvanished;
	uint64_t		 told_modseq;	/* CONDSTORE: the last
						 * HIGHESTMODSEQ sent */
	unsigned		 modseq_hidden:1; /* EXISTS or EXPUNGE sent
						 * since: changes whose
						 * MODSEQ the client
						 * cannot see */
	unsigned		 view_whole:1;	/* the last sync reported
						 * every change */
	unsigned		 rested:1;	/* no command since
						 * session_rest() */
	unsigned		 mcache_due:1;	/* a FETCH left the
						 * structure cache's
						 * compaction for later */
	char			 rip[64];	/* client address or "" */
	char			 lport[8];	/* local port or "" */
	/* the client as a trusted proxy's ID named it (cmd-any.c), for the
	 * back at login; origin_ip "" if none did */
	char			 origin_ip[64];
	char			 origin_port[8];
	char			 origin_session[65];
	uint64_t		 ncommands;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
};

/* One command as the client sent it, parsed, handed to its handler
 * (the handler's row in the command table is spec). */
struct request {
	const char			*tag;
	const char			*name;	/* canonical upper case */
	const struct imap_arg		*args;	/* after the name (and UID) */
	size_t				 nargs;
	int				 uid;	/* UID FETCH etc. */
	const struct command_spec	*spec;
};

/* Set up a session on conn; state is STATE_NOTAUTH or STATE_AUTH. */
void	session_init(struct session *, const struct config *, struct conn *,
	    enum session_state);
void	session_free(struct session *);

/* Switch to the limits for the current state (tight before login). */
void	session_apply_limits(struct session *);

/* Run commands until the session ends; returns why.  The caller has
 * already sent the greeting (or the back its first tagged OK). */
enum session_end session_run(struct session *);

/* Before session_run(): take n bytes the client sent that another
 * process read from the stream (pipelined after the login command) as
 * the first input.  0, or -1 if they are more than the input buffer
 * holds. */
int	session_feed(struct session *, const void *, size_t n);

/* Output.  session_printf queues a line fragment; session_flush writes it
 * out (0, or -1 and the session is marked END_ERROR).  Large responses
 * are flushed as they grow. */
void	session_printf(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_write(struct session *, const void *, size_t);
int	session_flush(struct session *);

/* Write sep (unless it is '\0') and the decimal digits of n: for the
 * long lists of numbers SORT and THREAD answer with. */
void	session_write_num(struct session *, char sep, uint32_t n);

/* The tagged reply that completes a request: "<tag> OK|NO|BAD
 * <text>\r\n".  text may start with a "[CODE] ".  These also flush. */
void	reply_ok(struct session *, const struct request *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	reply_no(struct session *, const struct request *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	reply_bad(struct session *, const struct request *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* Count a refusal before login (a NO for something the client should
 * not have sent, such as a plaintext login) as a BAD is counted: a
 * client that keeps sending it is cut off, and so are its log lines. */
void	session_count_refusal(struct session *);

/*
 * Read one line from the client (AUTHENTICATE continuations, IDLE's
 * DONE): up to max bytes without the line end.  Returns 1 with the line in
 * *line_r (valid until the next read; NUL-terminated), 0 if the session
 * ended (s->end says why), -1 if the line was too long (the rest of it is
 * discarded; on a compressed stream the session ends instead, as
 * skipping could inflate without end).
 */
int	session_read_line(struct session *, size_t max, char **line_r);

/* The logged-in session is about to wait for its client with nothing
 * else to do: give the stack pages its last commands used and the
 * heap's free pages back to the kernel (a session may idle for days).
 * The session loop does it itself after a quiet second; IDLE, which
 * waits in its own loop, calls it when it starts waiting. */
void	session_rest(struct session *);

/* Whether the client has sent something not read yet (or closed, or the
 * server is stopping): background work yields to it. */
int	session_input_waiting(struct session *);

/*
 * Take in what the client has sent without waiting: 1 there are new
 * bytes in s->in, 0 nothing yet (the socket was readable, but what came
 * inflated to nothing, or nothing came), -1 the session ended (s->end
 * says why).  For loops that wait on the client's socket and something
 * else at once (IDLE).
 */
int	session_read_ready(struct session *);

/* The inactivity timeout for the current state, in milliseconds. */
int	session_timeout_ms(const struct session *);

/* Wipe input bytes already consumed (they may hold a password). */
void	session_wipe_input(struct session *);

/* A new random session id for the logs ("session=<id>"). */
#define SESSION_ID_LEN	12
void	session_newid(char *, size_t);

/* Monotonic clock in milliseconds. */
long long session_now_ms(void);

/* A few words for the log: why the session ended. */
const char *session_end_str(enum session_end);

/* 1 if the client speaks UTF-8 (it enabled IMAP4rev2 or UTF8=ACCEPT):
 * mailbox names in UTF-8, and UTF-8 allowed in quoted strings. */
int	session_utf8(const struct session *);

/* Quote s for a response as an IMAP string (quoted or literal). */
void	session_astring(struct session *, const char *);
/* The same for n bytes that need not end in a NUL: quoted when they are
 * all 7-bit and hold no CR, LF or NUL, or, for a client that speaks
 * UTF-8, when they are valid UTF-8 without controls; else a literal,
 * since RFC 3501 quoted strings are 7-bit and RFC 6855 3 forbids UTF-8
 * in them to a client that did not enable it. */
void	session_string(struct session *, const char *, size_t n);

#endif
