/*
 * threadid: THREADIDs from the sort keys.  See threadid.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/imap/sortkey.h"
#include "imapd/msgkeys.h"
#include "imapd/session.h"
#include "imapd/threadid.h"
#include "maildir/mailbox.h"

/* The thread of a message with keys k (seq in the selected folder). */
static void
one(struct session *s, uint32_t seq, const struct sortkey *k, char *out)
{
	char eid[OBJECTID_LEN + 1];
	const char *root;
	size_t len;

	root = sortkey_str(k, SORTKEY_REFERENCES, &len);
	if (len > 0)
		len = strnlen(root, len);	/* the first of them */
	else
		root = sortkey_str(k, SORTKEY_MESSAGE_ID, &len);
	if (len > 0) {
		objectid_thread(root, len, out);
		return;
	}
	/* no message ID to follow: a thread of its own */
	if (mailbox_emailid(s->mb, seq, eid) == -1) {
		out[0] = '\0';
		return;
	}
	objectid_thread(eid, strlen(eid), out);
}

int
threadid_load(struct session *s, const uint32_t *seqs, size_t n,
    threadid_t **ids_r)
{
	struct msgkeys mk;
	threadid_t *ids;
	uint32_t *have;
	size_t i, j, m = n;

	if ((ids = calloc(n + 1, sizeof(*ids))) == NULL)
		return -1;
	if ((have = calloc(n + 1, sizeof(*have))) == NULL) {
		free(ids);
		return -1;
	}
	if (n > 0)
		memcpy(have, seqs, n * sizeof(*have));
	if (msgkeys_load(s, have, &m, &mk) == -1) {
		free(have);
		free(ids);
		return -1;
	}
	/* msgkeys left out the messages that are gone, keeping the order */
	for (i = 0, j = 0; i < n; i++)
		if (j < m && have[j] == seqs[i]) {
			one(s, seqs[i], &mk.k[j], ids[i]);
			j++;
		}
	msgkeys_done(s, &mk);
	free(have);
	*ids_r = ids;
	return 0;
}
