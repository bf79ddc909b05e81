/*
 * msgkeys: sort keys of the selected folder's messages.  See msgkeys.h.
 *
 * Records from the cache are used where they lie (its mapping stays open
 * until msgkeys_done()); records built now go into one buffer, and only
 * once all are built are they looked at, since the buffer may move as it
 * grows.  Per message, only its view is allocated: a sort of a large
 * folder spends a good part of its time having fresh memory zeroed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/message.h"
#include "common/imap/sortkey.h"
#include "imapd/msgkeys.h"
#include "imapd/selected.h"
#include "imapd/session.h"
#include "maildir/mailbox.h"
#include "maildir/sortcache.h"

#define FRESH_MAX	((size_t)1 << 31)

/* Build the record of seq onto out.  1, 0 if the message is gone, -1
 * when memory runs out. */
static int
build(struct session *s, uint32_t seq, struct buf *store, struct buf *out)
{
	struct message *m;
	int64_t arrival;
	uint64_t vsize;
	int r;

	if ((m = selected_message(s, seq, store, 0)) == NULL)
		return 0;
	if (mailbox_mtime(s->mb, seq, &arrival) == -1 ||
	    mailbox_vsize(s->mb, seq, &vsize) == -1) {
		message_free(m);
		return 0;
	}
	r = sortkey_build(m, arrival, vsize, out);
	message_free(m);
	return r == 0 ? 1 : -1;
}

struct built {
	size_t		 i;		/* which message */
	size_t		 off;		/* its record in fresh */
	size_t		 len;
};

int
msgkeys_load(struct session *s, uint32_t *seqs, size_t *n,
    struct msgkeys *mk)
{
	struct buf store;
	struct built *b = NULL, *nb;
	const char *rec;
	size_t i, o, len, nb_n = 0, nb_cap = 0, start;
	uint32_t uid;
	int r = -1, got;

	memset(mk, 0, sizeof(*mk));
	buf_init(&mk->fresh, FRESH_MAX);
	buf_init(&store, MESSAGE_READ_MAX + 1);
	if ((mk->cache = sortcache_open(mailbox_dir(s->mb),
	    mailbox_uidvalidity(s->mb))) == NULL ||
	    (mk->k = calloc(*n + 1, sizeof(*mk->k))) == NULL)
		goto out;
	for (i = 0; i < *n; i++) {
		uid = mailbox_uid(s->mb, seqs[i]);
		if (sortcache_get(mk->cache, uid, &rec, &len)) {
			sortkey_view(rec, &mk->k[i]);
			continue;
		}
		start = mk->fresh.len;
		if ((got = build(s, seqs[i], &store, &mk->fresh)) == -1)
			goto out;
		if (got == 0)
			continue;	/* gone: no keys, left out below */
		if (nb_n == nb_cap) {
			nb_cap = nb_cap ? nb_cap * 2 : 64;
			if ((nb = reallocarray(b, nb_cap, sizeof(*b))) == NULL)
				goto out;
			b = nb;
		}
		b[nb_n].i = i;
		b[nb_n].off = start;
		b[nb_n++].len = mk->fresh.len - start;
		/* a cache that cannot take it only costs the next sort */
		(void)sortcache_put(mk->cache, uid, mk->fresh.data + start,
		    mk->fresh.len - start);
	}
	for (o = 0; o < nb_n; o++)
		(void)sortkey_read(mk->fresh.data + b[o].off, b[o].len,
		    &mk->k[b[o].i]);
	for (i = 0, o = 0; i < *n; i++) {
		if (mk->k[i].rec == NULL)
			continue;
		mk->k[o] = mk->k[i];
		seqs[o++] = seqs[i];
	}
	*n = mk->n = o;
	r = 0;
out:
	free(b);
	buf_free(&store);
	/* sizes and dates learned are kept for next time */
	mailbox_flush_facts(s->mb);
	if (r == -1) {
		msgkeys_done(s, mk);
		errno = ENOMEM;
	}
	return r;
}

void
msgkeys_done(struct session *s, struct msgkeys *mk)
{
	if (mk->cache != NULL) {
		if (s->mb != NULL)
			sortcache_flush(mk->cache, selected_alive, s->mb);
		sortcache_close(mk->cache);
	}
	free(mk->k);
	buf_free(&mk->fresh);
	sortkey_cleanup();
	memset(mk, 0, sizeof(*mk));
}
