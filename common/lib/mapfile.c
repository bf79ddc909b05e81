/*
 * mapfile: whole-file views, mapped or read.  See mapfile.h.
 */
#include <sys/mman.h>
#include <sys/vfs.h>

#include <cdb.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/mapfile.h"

static enum mapfile_mode mode = MAPFILE_AUTO;

void
mapfile_set_mode(enum mapfile_mode m)
{
	mode = m;
}

enum mapfile_mode
mapfile_mode(void)
{
	return mode;
}

int
mapfile_remote(int fd)
{
	/* file systems whose files another host can change (the values of
	 * <linux/magic.h>, and of the file systems that keep theirs to
	 * themselves) */
	static const unsigned long remote[] = {
		0x6969,		/* NFS */
		0x517b,		/* SMB */
		0xfe534d42,	/* SMB2 */
		0xff534d42,	/* CIFS */
		0x65735546,	/* FUSE: GlusterFS, sshfs, ... */
		0x00c36400,	/* CephFS */
		0x5346414f,	/* AFS */
		0x6b414653,	/* kAFS */
		0x73757245,	/* Coda */
		0x01021997,	/* 9P */
		0x01161970,	/* GFS2 */
		0x7461636f,	/* OCFS2 */
		0x20030528,	/* OrangeFS */
		0x0bd00bd0,	/* Lustre */
	};
	struct statfs sf;
	size_t i;

	if (fstatfs(fd, &sf) == -1)
		return 0;
	for (i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		if ((unsigned long)(unsigned int)sf.f_type == remote[i])
			return 1;
	return 0;
}

int
mapfile_should_map(int fd)
{
	switch (mode) {
	case MAPFILE_ALWAYS:
		return 1;
	case MAPFILE_NEVER:
		return 0;
	case MAPFILE_AUTO:
		break;
	}
	return !mapfile_remote(fd);
}

int
mapfile_open(int fd, size_t len, int shared, struct mapfile *mf)
{
	unsigned char *p;
	size_t got = 0;
	void *m;

	memset(mf, 0, sizeof(*mf));
	if (len == 0)
		return 0;
	if (mapfile_should_map(fd)) {
		m = mmap(NULL, len, PROT_READ, shared ? MAP_SHARED :
		    MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED)
			return -1;
		mf->data = m;
		mf->len = len;
		mf->mapped = 1;
		return 0;
	}
	if ((p = malloc(len)) == NULL)
		return -1;
	if (mapfile_pread(fd, p, len, 0, &got) == -1) {
		free(p);
		return -1;
	}
	if (got < len) {
		free(p);
		errno = EIO;	/* shorter than the caller found it */
		return -1;
	}
	mf->data = p;
	mf->len = len;
	return 0;
}

void
mapfile_close(struct mapfile *mf)
{
	if (mf->data != NULL) {
		if (mf->mapped)
			munmap((void *)(uintptr_t)mf->data, mf->len);
		else
			free((void *)(uintptr_t)mf->data);
	}
	memset(mf, 0, sizeof(*mf));
}

int
mapfile_grow(int fd, size_t keep, size_t len, int shared, struct mapfile *mf)
{
	unsigned char *p;
	size_t got;
	size_t n;

	if (mf->data == NULL || mf->mapped || mapfile_should_map(fd)) {
		mapfile_close(mf);
		return mapfile_open(fd, len, shared, mf);
	}
	if (len == 0) {
		mapfile_close(mf);
		return 0;
	}
	if ((p = realloc((void *)(uintptr_t)mf->data, len)) == NULL) {
		mapfile_close(mf);
		return -1;
	}
	mf->data = p;
	got = keep < mf->len ? keep : mf->len;
	if (got > len)
		got = len;
	mf->len = len;
	if (mapfile_pread(fd, p + got, len - got, (off_t)got, &n) == -1) {
		mapfile_close(mf);
		return -1;
	}
	if (n < len - got) {
		mapfile_close(mf);
		errno = EIO;	/* shorter than the caller found it */
		return -1;
	}
	return 0;
}

int
mapfile_pread(int fd, void *p, size_t len, off_t off, size_t *got_r)
{
	unsigned char *b = p;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, b + got, len - got, off + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*got_r = got;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*got_r = got;
	return 0;
}

int
mapfile_cdb(const struct mapfile *mf, struct cdb *db)
{
	unsigned dend;

	/* a cdb starts with its 2048-byte table of hash tables */
	if (mf->len < 2048 || mf->len > UINT32_MAX) {
		errno = EPROTO;
		return -1;
	}
	memset(db, 0, sizeof(*db));
	db->cdb_fd = -1;
	db->cdb_fsize = (unsigned)mf->len;
	db->cdb_mem = mf->data;
	dend = cdb_unpack(mf->data);
	if (dend < 2048)
		dend = 2048;
	else if (dend >= mf->len)
		dend = (unsigned)mf->len;
	db->cdb_dend = dend;
	return 0;
}
