/*
 * Fuzz target: common/imap/sortkey and imapd/thread, the keys SORT and THREAD
 * take from message headers anyone can send, the records the sort cache
 * keeps of them, and both threading algorithms over those keys (where
 * References and In-Reply-To may point anywhere: at the message itself,
 * round in a circle, at IDs that several messages claim).
 *
 * Input: up to 64 messages, cut at FUZZ_SEP; message i arrived at i
 * minutes and has sequence number i + 1.
 *
 * Properties checked:
 *   - the record sortkey_build() writes is one sortkey_read() takes, of
 *     the length its strings say, its references each ended by a NUL;
 *   - the same bytes taken as a record of the sort cache (a damaged
 *     file) are either refused or have every string inside them;
 *   - THREAD REFERENCES and ORDEREDSUBJECT build a thread from any keys
 *     (no loop, no failure short of memory) and free it without a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/message.h"
#include "common/imap/sortkey.h"
#include "common/lib/buf.h"
#include "imapd/thread.h"
#include "tests/fuzz/fuzz.h"

#define NMSG	64

/* Every string of a record sortkey_read() took lies inside its len
 * bytes, one after the other. */
static void
check_strings(const struct sortkey *k, size_t len)
{
	size_t n, end = SORTKEY_HEAD;
	const char *s;
	int i;

	for (i = 0; i < SORTKEY_NSTR; i++) {
		s = sortkey_str(k, (enum sortkey_str)i, &n);
		FUZZ_CHECK((const unsigned char *)s == k->rec + end &&
		    end + n <= len, "string %d at %td, %zu bytes, of %zu", i,
		    (const unsigned char *)s - k->rec, n, len);
		end += n;
	}
	FUZZ_CHECK(end == len, "strings end at %zu of %zu", end, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_part part[NMSG];
	struct sortkey keys[NMSG], raw;
	char *copy[NMSG], *rec[NMSG];
	uint32_t seqs[NMSG];
	struct message *m;
	struct thread *t;
	struct buf out;
	const char *refs;
	size_t n, i, k = 0, rlen;

	n = fuzz_split(data, len, part, NMSG);
	buf_init(&out, SORTKEY_RECORD_MAX);
	for (i = 0; i < n; i++) {
		copy[i] = fuzz_dup(part[i].p, part[i].len);
		/* as a record of a damaged sort cache */
		if (sortkey_read(copy[i], part[i].len, &raw) == 0)
			check_strings(&raw, part[i].len);
		if ((m = message_from_mem(copy[i], part[i].len)) == NULL)
			fuzz_die("message_from_mem");
		buf_reset(&out);
		if (sortkey_build(m, (int64_t)i * 60, part[i].len, &out) == 0) {
			rec[k] = fuzz_dup(out.data, out.len);
			FUZZ_CHECK(sortkey_read(rec[k], out.len, &keys[k]) == 0,
			    "message %zu: the record built is refused", i);
			check_strings(&keys[k], out.len);
			refs = sortkey_str(&keys[k], SORTKEY_REFERENCES, &rlen);
			FUZZ_CHECK(rlen == 0 || refs[rlen - 1] == '\0',
			    "message %zu: references not NUL-ended", i);
			seqs[k] = (uint32_t)i + 1;
			k++;
		}
		message_free(m);
	}
	sortkey_cleanup();
	buf_free(&out);
	if ((t = thread_build(THREAD_REFERENCES, keys, seqs, k)) == NULL)
		fuzz_die("thread_build");
	thread_free(t);
	if ((t = thread_build(THREAD_ORDEREDSUBJECT, keys, seqs, k)) == NULL)
		fuzz_die("thread_build");
	thread_free(t);
	for (i = 0; i < k; i++)
		free(rec[i]);
	for (i = 0; i < n; i++)
		free(copy[i]);
	return 0;
}
