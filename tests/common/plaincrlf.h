/*
 * plaincrlf.h: the CRLF sizes and line counts IMAP reports, counted the
 * plain way, byte by byte, for tests to hold common/mail/mime's answers
 * against.  A LF without a CR before it (the byte before off counts)
 * becomes CRLF; every LF ends a line.
 */
#ifndef TESTS_COMMON_PLAINCRLF_H
#define TESTS_COMMON_PLAINCRLF_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
plaincrlf_lines(const char *d, size_t off, size_t len)
{
	uint64_t n = 0;
	size_t i;

	for (i = off; i < off + len; i++)
		n += d[i] == '\n';
	return n;
}

static inline uint64_t
plaincrlf_size(const char *d, size_t off, size_t len)
{
	uint64_t n = len;
	size_t i;

	for (i = off; i < off + len; i++)
		n += d[i] == '\n' && (i == 0 || d[i - 1] != '\r');
	return n;
}

#endif
