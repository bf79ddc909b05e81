/*
 * ftsindex-compact: merging the full-text index's snapshot and journal
 * into a new snapshot, a few milliseconds at a time (why it is safe is
 * at the top of ftsindex.c, COMPACTION).
 */
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/le.h"
#include "common/lib/safefile.h"
#include "maildir/ftsindex-private.h"

/* ---- compaction ------------------------------------------------------ */

int
ftsindex_compact_due(const struct ftsindex *fi)
{
	uint64_t j = fi->have_log ? fi->jgood - LOG_HEAD : 0;

	if (fi->damaged || fi->cp != NULL)
		return 0;
	return fi->nrec > RECORDS_MAX || (j > JOURNAL_MIN &&
	    j > (fi->have_snap ? fi->snap.len : 0));
}

int
ftsindex_compacting(const struct ftsindex *fi)
{
	return fi->cp != NULL;
}

static void
compaction_free(struct ftsindex *fi)
{
	struct compaction *cp = fi->cp;
	char p[FI_PATH];

	if (cp == NULL)
		return;
	if (cp->fd != -1) {
		close(cp->fd);
		if (fi_path(p, fi->dir, FI_SNAP, ".new") == 0)
			(void)unlink(p);
	}
	free(cp->seg);
	free(cp->at);
	free(cp->lp);
	free(cp->llen);
	free(cp->live);
	buf_free(&cp->out);
	free(cp->keys);
	free(cp->ends);
	free(cp->crcs);
	free(cp->uids);
	free(cp);
	fi->cp = NULL;
}

void
ftsindex_compact_abort(struct ftsindex *fi)
{
	if (fi->cp == NULL)
		return;
	compaction_free(fi);
	fi_unlock(fi);
}

int
ftsindex_compact_begin(struct ftsindex *fi, const uint64_t *live,
    uint32_t floor)
{
	struct compaction *cp;
	char p[FI_PATH];
	size_t words = ((size_t)floor + 63) / 64, i;
	int saved;

	if (fi_lock(fi) == -1)
		return -1;
	if (fi_writable(fi) == -1) {
		saved = errno;
		fi_unlock(fi);
		errno = saved;
		return -1;
	}
	if ((cp = calloc(1, sizeof(*cp))) == NULL) {
		fi_unlock(fi);
		return -1;
	}
	fi->cp = cp;
	cp->fd = -1;
	buf_init(&cp->out, 4 * OUT_FLUSH);
	cp->floor = floor;
	if ((cp->live = malloc((words ? words : 1) * sizeof(*live))) == NULL)
		goto fail;
	memcpy(cp->live, live, words * sizeof(*live));
	/* the handle's own segments: nothing changes them while it holds
	 * the lock, and it keeps answering searches meanwhile */
	cp->nseg = fi_nsegs(fi);
	cp->with_snap = fi->have_snap;
	cp->prevgen = fi->have_snap ? fi->gen : 0;
	if ((cp->seg = calloc(cp->nseg + 1, sizeof(*cp->seg))) == NULL ||
	    (cp->at = calloc(cp->nseg + 1, sizeof(*cp->at))) == NULL ||
	    (cp->lp = calloc(cp->nseg + 1, sizeof(*cp->lp))) == NULL ||
	    (cp->llen = calloc(cp->nseg + 1, sizeof(*cp->llen))) == NULL)
		goto fail;
	for (i = 0; i < cp->nseg; i++)
		cp->seg[i] = *fi_segment(fi, i);
	if (getrandom(&cp->gen, sizeof(cp->gen), 0) != sizeof(cp->gen))
		goto fail;
	if (cp->gen == 0)
		cp->gen = 1;
	if (fi_path(p, fi->dir, FI_SNAP, ".new") == -1 ||
	    (cp->fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	ftsindex_compact_abort(fi);
	errno = saved;
	return -1;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
out_flush(struct compaction *cp)
{
	ssize_t n;

	if (cp->out.len == 0)
		return 0;
	n = pwrite(cp->fd, cp->out.data, cp->out.len,
	    (off_t)(SNAP_HEAD + cp->written));
	if (n != (ssize_t)cp->out.len) {
		if (n >= 0)
			errno = ENOSPC;
		return -1;
	}
	cp->written += cp->out.len;
	buf_reset(&cp->out);
	/* start the writeback now, so that the final sync is short */
	if (cp->written - cp->synced >= WRITEBACK) {
		(void)sync_file_range(cp->fd, (off_t)(SNAP_HEAD + cp->synced),
		    (off_t)(cp->written - cp->synced),
		    SYNC_FILE_RANGE_WRITE);
		cp->synced = cp->written;
	}
	return 0;
}

static int
grow_keys(struct compaction *cp)
{
	size_t cap = cp->capk ? cp->capk * 2 : 4096;
	uint32_t *k, *c;
	uint64_t *e;

	if ((k = reallocarray(cp->keys, cap, sizeof(*k))) == NULL)
		return -1;
	cp->keys = k;
	if ((e = reallocarray(cp->ends, cap, sizeof(*e))) == NULL)
		return -1;
	cp->ends = e;
	if ((c = reallocarray(cp->crcs, cap, sizeof(*c))) == NULL)
		return -1;
	cp->crcs = c;
	cp->capk = cap;
	return 0;
}

/* Merge the lists of the smallest key left.  1 merged one, 0 none left,
 * -1 error (errno; EBADMSG for damage, *bad_r the segment). */
static int
merge_one(struct compaction *cp, size_t *bad_r)
{
	uint64_t need = 0;
	uint32_t key = 0, k, *nv;
	size_t i, start, out;
	long got;
	int found = 0, sorted = 1;

	for (i = 0; i < cp->nseg; i++) {
		if (cp->at[i] >= cp->seg[i].k)
			continue;
		k = le32_get(cp->seg[i].keys + 4 * (size_t)cp->at[i]);
		if (!found || k < key)
			key = k;
		found = 1;
	}
	if (!found)
		return 0;
	for (i = 0; i < cp->nseg; i++) {
		cp->lp[i] = NULL;
		if (cp->at[i] >= cp->seg[i].k || le32_get(cp->seg[i].keys +
		    4 * (size_t)cp->at[i]) != key)
			continue;
		if (fi_seg_list(&cp->seg[i], cp->at[i], &cp->lp[i],
		    &cp->llen[i]) == -1) {
			*bad_r = i;
			errno = EBADMSG;
			return -1;
		}
		cp->at[i]++;
		need += fi_list_bound(cp->lp[i], cp->llen[i]);
	}
	if (need > cp->capuids) {
		if (need >= UID_LIMIT || (nv = reallocarray(cp->uids,
		    (size_t)need, sizeof(*nv))) == NULL)
			return -1;
		cp->uids = nv;
		cp->capuids = (size_t)need;
	}
	cp->nuids = 0;
	for (i = 0; i < cp->nseg; i++) {
		if (cp->lp[i] == NULL)
			continue;
		start = cp->nuids;
		if ((got = fi_list_uids(cp->lp[i], cp->llen[i], cp->uids +
		    cp->nuids)) == -1) {
			*bad_r = i;
			errno = EBADMSG;
			return -1;
		}
		cp->nuids += (size_t)got;
		if (start > 0 && cp->nuids > start &&
		    cp->uids[start] <= cp->uids[start - 1])
			sorted = 0;
	}
	if (!sorted)
		qsort(cp->uids, cp->nuids, sizeof(*cp->uids), u32_cmp);
	/* drop repeats and the expunged */
	for (out = 0, i = 0; i < cp->nuids; i++) {
		uint32_t u = cp->uids[i];

		if (out > 0 && cp->uids[out - 1] == u)
			continue;
		if (u < cp->floor && !(cp->live[u / 64] & (1ULL << (u % 64))))
			continue;
		cp->uids[out++] = u;
	}
	if (out == 0)
		return 1;
	start = cp->out.len;
	if (fi_list_encode(cp->uids, out, &cp->out) == -1)
		return -1;
	if (cp->nk == cp->capk && grow_keys(cp) == -1)
		return -1;
	cp->keys[cp->nk] = key;
	cp->crcs[cp->nk] = fi_crc((const unsigned char *)cp->out.data + start,
	    cp->out.len - start);
	cp->total += cp->out.len - start;
	cp->ends[cp->nk++] = cp->total;
	if (cp->out.len >= OUT_FLUSH && out_flush(cp) == -1)
		return -1;
	return 1;
}

/* Whether the view has a message between a and b (exclusive). */
static int
live_between(const struct compaction *cp, uint32_t a, uint32_t b)
{
	uint32_t u;

	for (u = a + 1; u < b; u++)
		if (u >= cp->floor || (cp->live[u / 64] & (1ULL << (u % 64))))
			return 1;
	return 0;
}

/* The new snapshot's ranges: the segments', joined where nothing alive
 * lies between.  The count, or -1. */
static long
final_ranges(struct compaction *cp, struct range **r_r)
{
	struct range *v = NULL;
	size_t n = 0, cap = 0, i, out;

	for (i = 0; i < cp->nseg; i++)
		if (fi_cov_add_seg(&v, &n, &cap, &cp->seg[i]) == -1) {
			free(v);
			return -1;
		}
	n = fi_ranges_join(v, n);
	for (out = 0, i = 1; i < n; i++) {
		if (v[i].first <= cp->floor && v[out].last < cp->floor &&
		    !live_between(cp, v[out].last, v[i].first))
			v[out].last = v[i].last;
		else
			v[++out] = v[i];
	}
	*r_r = v;
	return n > 0 ? (long)out + 1 : 0;
}

/* Write the directory and the header, sync, and put the files in
 * place. */
static int
compact_finish(struct ftsindex *fi)
{
	struct compaction *cp = fi->cp;
	unsigned char h[SNAP_HEAD];
	struct range *rv = NULL;
	struct buf dir;
	char from[FI_PATH], to[FI_PATH];
	long nr;
	size_t i;
	int ret = -1;

	buf_init(&dir, (size_t)1 << 40);
	if (out_flush(cp) == -1 || (nr = final_ranges(cp, &rv)) < 0)
		goto out;
	if (buf_reserve(&dir, 8 * (size_t)nr + 16 * cp->nk) == -1)
		goto out;
	for (i = 0; i < (size_t)nr; i++) {
		le32_put((unsigned char *)dir.data + dir.len, rv[i].first);
		le32_put((unsigned char *)dir.data + dir.len + 4, rv[i].last);
		dir.len += 8;
	}
	for (i = 0; i < cp->nk; i++, dir.len += 4)
		le32_put((unsigned char *)dir.data + dir.len, cp->keys[i]);
	for (i = 0; i < cp->nk; i++, dir.len += 8)
		le64_put((unsigned char *)dir.data + dir.len, cp->ends[i]);
	for (i = 0; i < cp->nk; i++, dir.len += 4)
		le32_put((unsigned char *)dir.data + dir.len, cp->crcs[i]);
	memset(h, 0, sizeof(h));
	le32_put(h, SNAP_MAGIC);
	le32_put(h + 4, FI_VERSION);
	le32_put(h + 8, fi_text_version());
	le32_put(h + 12, fi->uidv);
	le64_put(h + 16, cp->gen);
	le64_put(h + 24, cp->prevgen);
	le64_put(h + 32, cp->total);
	le32_put(h + 40, (uint32_t)nr);
	le32_put(h + 44, (uint32_t)cp->nk);
	le32_put(h + 48, fi_crc((const unsigned char *)dir.data, dir.len));
	le32_put(h + 60, fi_crc(h, 60));
	if (pwrite(cp->fd, dir.data, dir.len, (off_t)(SNAP_HEAD +
	    cp->total)) != (ssize_t)dir.len || pwrite(cp->fd, h, sizeof(h), 0)
	    != (ssize_t)sizeof(h) || fdatasync(cp->fd) == -1) {
		if (errno == 0)
			errno = ENOSPC;
		goto out;
	}
	fi_step(FTSINDEX_STEP_SNAP_WRITTEN);
	if (fi_path(from, fi->dir, FI_SNAP, ".new") == -1 ||
	    fi_path(to, fi->dir, FI_SNAP, "") == -1 || rename(from, to) == -1)
		goto out;
	close(cp->fd);
	cp->fd = -1;
	if (safefile_sync_dir(AT_FDCWD, fi->dir) == -1)
		goto out;
	fi_step(FTSINDEX_STEP_SNAP_RENAMED);
	if (fi_new_journal(fi, cp->gen) == -1)
		goto out;
	fi_step(FTSINDEX_STEP_JOURNAL_RENAMED);
	ret = 0;
out:
	free(rv);
	buf_free(&dir);
	return ret;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ftsindex_compact_step(struct ftsindex *fi, int budget_ms)
{
	long long end = now_ms() + budget_ms;
	size_t bad = 0;
	int r = 1, n, saved;

	if (fi->cp == NULL)
		return 1;
	do {
		for (n = 0; n < 64 && (r = merge_one(fi->cp, &bad)) == 1; n++)
			;
	} while (r == 1 && now_ms() < end);
	if (r == 1)
		return 0;
	if (r == 0 && compact_finish(fi) == 0) {
		compaction_free(fi);
		fi_unlock(fi);
		fi_load(fi);
		return 1;
	}
	saved = errno;
	if (r == -1 && saved == EBADMSG)
		fi_seen_damage(fi, &fi->cp->seg[bad]);
	ftsindex_compact_abort(fi);
	errno = saved;
	return -1;
}
