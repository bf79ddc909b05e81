/*
 * tfile.h: small file helpers for the unit tests that work on directories
 * (Maildir folders, state files).  Include after t.h.
 */
#ifndef TESTS_TFILE_H
#define TESTS_TFILE_H

#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fork(), with stdio flushed first so that no buffered output is
 * written twice; a failure ends the test program. */
static inline pid_t
t_fork(void)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(2);
	}
	return pid;
}

/* Write len bytes to path, replacing it; 0 or -1. */
static inline int
t_put(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* The contents of path (up to 8 KiB) in a static buffer, or "(none)". */
static inline const char *
t_get(const char *path)
{
	static char text[8192];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return "(none)";
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

/* How many entries (not "." and "..") a directory holds whose names start
 * with prefix (all with prefix NULL); -1 if it cannot be read. */
static inline int
t_count(const char *path, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 && (prefix == NULL ||
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0))
			n++;
	closedir(d);
	return n;
}

static inline int
t_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* At the end of a test program: the scratch tree under root removed if
 * every check passed, else kept and named on stderr for a look. */
static inline void
t_scratch_done(const char *root)
{
	if (t_fail == 0)
		nftw(root, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "test files kept in %s\n", root);
}

#endif
