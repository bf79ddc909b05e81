/*
 * fixture.h: reading the message fixtures of tests/common/fixtures/.  The
 * tests run from any directory (the suite runs them in /tmp), so the
 * directory is found from the test binary's own path,
 * <root>/<objdir>/tests/common/<test>, unless IMAPD_FIXTURES names it.
 */
#ifndef TESTS_COMMON_FIXTURE_H
#define TESTS_COMMON_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixture_dir[PATH_MAX];

static const char *
fixture_path(const char *name, char *buf, size_t len)
{
	const char *env = getenv("IMAPD_FIXTURES");
	ssize_t n;
	int i, r;

	if (fixture_dir[0] == '\0') {
		if (env != NULL)
			r = snprintf(fixture_dir, sizeof(fixture_dir), "%s",
			    env);
		else {
			n = readlink("/proc/self/exe", fixture_dir,
			    sizeof(fixture_dir) - 1);
			if (n <= 0)
				return NULL;
			fixture_dir[n] = '\0';
			/* drop "<objdir>/tests/common/<test>" */
			for (i = 0; i < 4; i++) {
				char *slash = strrchr(fixture_dir, '/');

				if (slash == NULL)
					return NULL;
				*slash = '\0';
			}
			r = (int)strlen(fixture_dir);
			if (r + sizeof("/tests/common/fixtures") >
			    sizeof(fixture_dir))
				return NULL;
			memcpy(fixture_dir + r, "/tests/common/fixtures",
			    sizeof("/tests/common/fixtures"));
		}
		if (r < 0 || (size_t)r >= sizeof(fixture_dir))
			return NULL;
	}
	r = snprintf(buf, len, "%s/%s", fixture_dir, name);
	return r < 0 || (size_t)r >= len ? NULL : buf;
}

/* The whole fixture, NUL-terminated, or NULL (with a message). */
static char *
fixture_read(const char *name, size_t *len_r)
{
	char path[PATH_MAX], *data = NULL, *nd;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if (fixture_path(name, path, sizeof(path)) == NULL ||
	    (f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "cannot read fixture %s\n", name);
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if ((nd = realloc(data, cap)) == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = nd;
		}
		if ((n = fread(data + len, 1, 4096, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	data[len] = '\0';
	*len_r = len;
	return data;
}

/* The CRLF form of data, written independently of the code under test:
 * every LF without a CR before it gets one. */
static char *
fixture_crlf(const char *data, size_t len, size_t *len_r)
{
	char *out = malloc(len * 2 + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = data[i];
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

static const char *const fixture_names[] = {
	"addresses.eml", "alternative.eml", "crlf.eml", "digest.eml",
	"eightbit-header.eml", "empty.eml", "encoded.eml", "folded-odd.eml",
	"forward.eml", "header-only.eml", "mixed-attach.eml",
	"mixed-eol.eml", "nested.eml", "no-boundary-lines.eml",
	"no-boundary-param.eml", "no-close.eml", "no-separator.eml",
	"plain.eml", "prefix-boundary.eml", "rfc2231.eml", "unknown-cte.eml",
};
#define NFIXTURES (sizeof(fixture_names) / sizeof(fixture_names[0]))

#endif
