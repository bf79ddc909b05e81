/*
 * mapfile: a read-only view of a whole file, for the caches and for
 * large message files.
 *
 * On a local file system the view is an mmap(): pages are shared by
 * every session and nothing is copied.  On a network or FUSE file system
 * (NFS, SMB, GlusterFS, CephFS...) a mapping is not safe: when another
 * host replaces or truncates the file, the pages behind a mapping can go
 * away and touching them raises SIGBUS.  There the file is read into
 * memory instead.  mapfile_set_mode() overrides the detection (the
 * `mmap` setting of imapd.conf).
 */
#ifndef COMMON_MAPFILE_H
#define COMMON_MAPFILE_H

#include <sys/types.h>

#include <stddef.h>

enum mapfile_mode {
	MAPFILE_AUTO,		/* map unless the file system is remote */
	MAPFILE_ALWAYS,		/* map everywhere */
	MAPFILE_NEVER		/* read everywhere */
};

struct mapfile {
	const unsigned char	*data;	/* NULL when len is 0 */
	size_t			 len;
	int			 mapped; /* data is a mapping (else malloc) */
};

void	mapfile_set_mode(enum mapfile_mode);
enum mapfile_mode mapfile_mode(void);

/* 1 if fd lives on a file system where mappings are unsafe (network or
 * FUSE), 0 if not or if that cannot be told. */
int	mapfile_remote(int fd);

/* 1 if files of fd's file system should be mapped under the current
 * mode, 0 if they should be read. */
int	mapfile_should_map(int fd);

/*
 * View the first len bytes of fd (its size, as the caller found it by
 * fstat).  shared: a MAP_SHARED mapping (others' appends become visible
 * in place) rather than MAP_PRIVATE.  0, or -1 with errno; a file that
 * turns out shorter than len while being read is EIO.
 */
int	mapfile_open(int fd, size_t len, int shared, struct mapfile *);
void	mapfile_close(struct mapfile *);

/*
 * A view of a file that only grows (a journal), brought up to len bytes:
 * a mapping is made again at the new length; a copy read into memory
 * keeps its first keep bytes (no more than it holds) and reads the rest,
 * so that following a journal costs what was added.  Bytes a writer may
 * have rewritten (a torn tail) lie past keep.  mf may be empty.  0, or -1
 * with errno, and mf is then empty.
 */
int	mapfile_grow(int fd, size_t keep, size_t len, int shared,
	    struct mapfile *);

/*
 * Read up to len bytes of fd at off into p, through signals and short
 * reads (a short read is not the end on some network file systems),
 * stopping at the end of the file.  *got_r is what was read, on an
 * error too.  0, or -1 with errno.
 */
int	mapfile_pread(int fd, void *p, size_t len, off_t off, size_t *got_r);

/*
 * Set up tinycdb's reader over a view, as cdb_init() does over a mapping
 * of its own.  0, or -1 with errno EPROTO when the view is too small to
 * be a cdb file.  The view stays the caller's: mapfile_close() it, never
 * cdb_free() the reader.
 */
struct cdb;
int	mapfile_cdb(const struct mapfile *, struct cdb *);

#endif
