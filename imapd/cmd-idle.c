/*
 * cmd-idle: IDLE (RFC 2177, RFC 9051 6.3.13).  Changes to the selected
 * folder are seen at once through inotify on its cur/ and new/
 * directories.  inotify sees only what this host's kernel did: on a store
 * another host writes to (NFS, GlusterFS) the folder is also looked at
 * every idle_poll, so that a client in IDLE hears of new mail there too;
 * and where no inotify can be had at all, every idle_poll or, when that
 * is 0, every IDLE_FALLBACK_MS.
 */
#include <sys/inotify.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "imapd/commands.h"
#include "imapd/config.h"
#include "imapd/indexer.h"
#include "imapd/selected.h"
#include "imapd/sig.h"
#include "maildir/folder.h"
#include "maildir/mailbox.h"

#define IDLE_FALLBACK_MS	30000
#define IDLE_SETTLE_MS	50	/* let a burst of renames finish */

static int
watch(struct session *s)
{
	char path[FOLDER_PATH_MAX];
	const char *sub[] = { "cur", "new" };
	size_t i;
	int fd;

	if (s->mb == NULL)
		return -1;
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", mailbox_dir(s->mb),
		    sub[i]) >= (int)sizeof(path) ||
		    inotify_add_watch(fd, path, IN_CREATE | IN_DELETE |
		    IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR) == -1) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
drain(int fd)
{
	char buf[4096] __attribute__((aligned(8)));

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void
cmd_idle(struct session *s, const struct request *c)
{
	struct pollfd pfd[2];
	long long idle_since = session_now_ms(), left;
	char *line;
	int ino, own = -1, r, n, wait, due, every;

	if (c->nargs != 0) {
		reply_bad(s, c, "IDLE takes no arguments");
		return;
	}
	/* the watch the mailbox follows the folder with, whose events the
	 * sync reads; else one of our own, which sees this host's changes
	 * (on a network file system the poll sees the others') */
	if ((ino = s->mb != NULL ? mailbox_watch_fd(s->mb) : -1) == -1)
		ino = own = watch(s);
	/* how often to look without being told: -1 never */
	every = s->conf->idle_poll_ms > 0 ? (int)s->conf->idle_poll_ms :
	    ino == -1 ? IDLE_FALLBACK_MS : -1;
	if (s->mb != NULL && ino == -1)
		log_warn("IDLE: no inotify; looking at the folder every %d ms",
		    every);
	session_printf(s, "+ idling\r\n");
	/* what happened meanwhile, expunges held back during FETCH, STORE
	 * and SEARCH included, goes out now, not at the next change */
	selected_sync(s, 1);
	if (session_flush(s) == -1 || s->end != END_NONE)
		goto out;
	session_rest(s);
	for (;;) {
		/* a drain ends an IDLE at once: it is waiting, not working */
		if (sig_drain) {
			s->end = END_DRAIN;
			goto out;
		}
		/* what SELECT left in new/, a slice at a time; the sync
		 * after each reports what the moves' sync took from the
		 * watch (new mail among it) */
		if (selected_new_waiting(s) && !session_input_waiting(s)) {
			selected_move_new(s);
			selected_sync(s, 1);
			if (session_flush(s) == -1 || s->end != END_NONE)
				goto out;
			continue;
		}
		/* input the client already sent comes first */
		if (s->in.len == 0 && conn_pending(s->conn) == 0) {
			pfd[0].fd = s->conn->rfd;
			pfd[0].events = POLLIN;
			pfd[0].revents = 0;
			pfd[1].fd = ino;
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			n = ino == -1 ? 1 : 2;
			left = idle_since + session_timeout_ms(s) -
			    session_now_ms();
			if (left <= 0) {
				s->end = END_TIMEOUT;
				goto out;
			}
			wait = every != -1 && every < left ? every :
			    left < INT_MAX ? (int)left : INT_MAX;
			/* the folder's index, between looks at the client */
			if ((due = indexer_due_ms(s)) >= 0 && due < wait)
				wait = due;
			r = sig_wait(pfd, (nfds_t)n, wait);
			if (r == 0 && due >= 0 && wait == due) {
				indexer_work(s, INDEXER_SLICE_MS);
				continue;
			}
			if (r == -1 && errno == EINTR) {
				if (sig_term) {
					s->end = END_SHUTDOWN;
					goto out;
				}
				continue;	/* sig_drain: at the loop's top */
			}
			if (r == -1) {
				s->end = END_ERROR;
				goto out;
			}
			/* the client first: DONE must not wait behind a
			 * folder that keeps changing */
			if (r == 0 || (n == 2 && pfd[1].revents &&
			    !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))) {
				/* a change, or time for the fallback poll */
				if (n == 2 && pfd[1].revents) {
					(void)sig_wait(NULL, 0, IDLE_SETTLE_MS);
					if (own != -1)
						drain(own);
				}
				selected_sync(s, 1);
				if (session_flush(s) == -1 ||
				    s->end != END_NONE)
					goto out;
				session_rest(s);
				continue;
			}
		}
		/* a readable socket may hold compressed bytes that inflate
		 * to nothing yet: wait on, rather than block in a read */
		if (s->in.len == 0) {
			r = session_read_ready(s);
			if (r == -1)
				goto out;
			if (r == 0)
				continue;
		}
		r = session_read_line(s, 1024, &line);
		if (r == 0)
			goto out;
		if (r == 1 && strcasecmp(line, "DONE") == 0)
			break;
		/* anything else ends IDLE as a protocol error */
		reply_bad(s, c, "Expected DONE to end IDLE");
		goto out;
	}
	reply_ok(s, c, "IDLE completed");
out:
	if (own != -1)
		close(own);
}
