/*
 * filename: Maildir message file names.  See filename.h for the grammar.
 *
 * Where the base ends: at the LAST ':' or ';' that is followed by "2," or
 * "1,", and that is not the first byte of the name.  The last one, because
 * a flag string never holds ':' or ';' while a base sometimes does (odd
 * delivery agents, or a name made on a system where ':' was escaped in
 * another way); so "a:b:2,S" has the base "a:b" and the flag S.  Any other
 * ':' or ';' is part of the base.  ":1," info (experimental, per the
 * Maildir specification) ends the base the same way but carries no flags,
 * so a flag change replaces it with ":2,".  A name that is nothing but
 * info (":2,S") is taken as a base with no info, so a base is never empty.
 *
 * In the flag string, upper-case letters are flags (D F P R S T standard,
 * the others kept in `other`), lower-case letters are keywords, and any
 * other byte is ignored: nothing defines them and they cannot be kept
 * through a flag change.  A letter given twice counts once.
 *
 * Fields in the base are taken only after its first ',' ("S=" and "W=";
 * the first of each wins; a value that is not a plain decimal number is
 * ignored, leaving the size unknown).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/lib/strnum.h"
#include "maildir/filename.h"

/* the standard flag letters, in the order of their MF_* bits */
static const char stdflags[] = "DFPRST";

/* Room kept after a base made here, so that ":2," and all 52 flag and
 * keyword letters still fit within MDNAME_MAX. */
#define INFO_ROOM	(3 + 26 + 26)

static void
parse_fields(const char *base, size_t baselen, struct mdname *m)
{
	const char *p = memchr(base, ',', baselen), *end = base + baselen;
	const char *f, *next;
	uint64_t v;
	int have_s = 0, have_w = 0;

	while (p != NULL && p < end) {
		f = p + 1;
		next = memchr(f, ',', (size_t)(end - f));
		if (next == NULL)
			next = end;
		if (end - f >= 2 && f[1] == '=' && (f[0] == 'S' || f[0] == 'W') &&
		    strnum_u64_n(f + 2, (size_t)(next - f - 2),
		    MD_SIZE_UNKNOWN - 1, &v) == 0) {
			if (f[0] == 'S' && !have_s) {
				m->size = v;
				have_s = 1;
			} else if (f[0] == 'W' && !have_w) {
				m->vsize = v;
				have_w = 1;
			}
		}
		p = next;
	}
}

static void
parse_flags(const char *s, struct mdname *m)
{
	const char *std;
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s >= 'a' && *s <= 'z')
			m->keywords |= 1U << (*s - 'a');
		else if (*s < 'A' || *s > 'Z')
			continue;
		else if ((std = strchr(stdflags, *s)) != NULL)
			m->flags |= 1U << (std - stdflags);
		else if (memchr(m->other, *s, n) == NULL)
			m->other[n++] = *s;	/* at most 20 letters */
	}
	m->other[n] = '\0';
}

int
mdname_parse(const char *name, struct mdname *m)
{
	size_t len = strnlen(name, MDNAME_MAX + 1), i;

	if (len == 0 || len > MDNAME_MAX || memchr(name, '/', len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->size = MD_SIZE_UNKNOWN;
	m->vsize = MD_SIZE_UNKNOWN;
	m->baselen = len;
	for (i = len - 1; i > 0; i--) {
		if ((name[i] == ':' || name[i] == ';') && i + 2 < len &&
		    (name[i + 1] == '2' || name[i + 1] == '1') &&
		    name[i + 2] == ',')
			break;
	}
	if (i > 0) {
		m->baselen = i;
		if (name[i + 1] == '2') {
			m->has_info = 1;
			parse_flags(name + i + 3, m);
		}
	}
	parse_fields(name, m->baselen, m);
	return 0;
}

void
mdname_flagstr(char *out, size_t outlen, unsigned flags, uint32_t keywords,
    const char *other)
{
	uint32_t upper = 0;
	size_t n = 0;
	unsigned i;

	if (outlen == 0)
		return;
	for (i = 0; stdflags[i] != '\0'; i++)
		if (flags & (1U << i))
			upper |= 1U << (stdflags[i] - 'A');
	for (; other != NULL && *other != '\0'; other++)
		if (*other >= 'A' && *other <= 'Z')
			upper |= 1U << (*other - 'A');
	/* ASCII order: every upper-case letter sorts before a lower-case one */
	for (i = 0; i < 26 && n + 1 < outlen; i++)
		if (upper & (1U << i))
			out[n++] = (char)('A' + i);
	for (i = 0; i < 26 && n + 1 < outlen; i++)
		if (keywords & (1U << i))
			out[n++] = (char)('a' + i);
	out[n] = '\0';
}

int
mdname_build(char *out, size_t outlen, const char *base, size_t baselen,
    unsigned flags, uint32_t keywords, const char *other)
{
	char letters[26 + 26 + 1];
	size_t total;

	if (baselen == 0 || memchr(base, '/', baselen) != NULL ||
	    memchr(base, '\0', baselen) != NULL) {
		errno = EINVAL;
		return -1;
	}
	mdname_flagstr(letters, sizeof(letters), flags, keywords, other);
	total = baselen + 3 + strlen(letters);
	if (total > MDNAME_MAX || total >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, base, baselen);
	memcpy(out + baselen, ":2,", 3);
	memcpy(out + baselen + 3, letters, strlen(letters) + 1);
	return 0;
}

/*
 * The host name as it may appear in a base: '/' cannot be in a file
 * name, ':' would start the info, and ',' would start a field, so each is
 * written as a backslash and three octal digits (the first two as the
 * Maildir specification asks).
 */
static char host_set[256];	/* mdname_set_host()'s; "": the system's */

void
mdname_set_host(const char *name)
{
	size_t len = strnlen(name, sizeof(host_set) - 1);

	memcpy(host_set, name, len);
	host_set[len] = '\0';
}

static void
safe_hostname(char *out, size_t outlen)
{
	char host[256];
	size_t i, n = 0;

	if (host_set[0] != '\0')
		memcpy(host, host_set, sizeof(host));
	else if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		memcpy(host, "localhost", sizeof("localhost"));
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && n + 5 < outlen; i++) {
		if (host[i] == '/' || host[i] == ':' || host[i] == ',') {
			out[n++] = '\\';
			out[n++] = (char)('0' + ((unsigned char)host[i] >> 6));
			out[n++] = (char)('0' + ((unsigned char)host[i] >> 3 & 7));
			out[n++] = (char)('0' + ((unsigned char)host[i] & 7));
		} else
			out[n++] = host[i];
	}
	out[n] = '\0';
}

int
mdname_unique(char *out, size_t outlen, uint64_t size, uint64_t vsize)
{
	static unsigned long long count;
	struct timespec ts;
	char host[4 * 256 + 1];
	int n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	safe_hostname(host, sizeof(host));
	count++;
	n = snprintf(out, outlen, "%lld.M%ldP%ldQ%llu.%s",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), count,
	    host);
	/* a size not known yet is left out rather than guessed */
	if (n >= 0 && (size_t)n < outlen && size != MD_SIZE_UNKNOWN)
		n += snprintf(out + n, outlen - (size_t)n, ",S=%llu",
		    (unsigned long long)size);
	if (n >= 0 && (size_t)n < outlen && vsize != MD_SIZE_UNKNOWN)
		n += snprintf(out + n, outlen - (size_t)n, ",W=%llu",
		    (unsigned long long)vsize);
	if (n < 0 || (size_t)n >= outlen || n > MDNAME_MAX - INFO_ROOM) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
