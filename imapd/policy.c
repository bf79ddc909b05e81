/*
 * policy: the login policy file.  See policy.h for its format.
 *
 * The file is read whole (at most POLICY_FILE_MAX bytes) at each login, as
 * the userdb is opened at each login: a change takes effect at once.
 * Every line is parsed each time, so that a bad line anywhere refuses
 * every login rather than letting the rules after it go unread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/cidr.h"
#include "common/lib/safefile.h"
#include "common/lib/strnum.h"
#include "imapd/policy.h"

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse one network of a networks= list into *n. */
static const char *
parse_net(const char *s, size_t len, struct cidr *n)
{
	static char why[128];
	const char *e;

	if ((e = cidr_parse(s, len, n)) == NULL)
		return NULL;
	/* the rule's name leads, as in every other reason of this file */
	if (snprintf(why, sizeof(why), "networks: %s", e) >= (int)sizeof(why))
		return "networks: not an IPv4 or IPv6 address";
	return why;
}

static const char *
parse_networks(const char *v, size_t len, struct policy *p)
{
	const char *end = v + len, *comma, *why;
	size_t n;

	if (p->nnets > 0)
		return "networks: given twice";
	if (len > 0 && v[len - 1] == ',')
		return "networks: not an IPv4 or IPv6 address after the "
		    "last comma";
	while (v < end) {
		comma = memchr(v, ',', (size_t)(end - v));
		n = comma != NULL ? (size_t)(comma - v) : (size_t)(end - v);
		if (p->nnets == POLICY_NETS_MAX)
			return "networks: more than 32 networks";
		if ((why = parse_net(v, n, &p->nets[p->nnets])) != NULL)
			return why;
		p->nnets++;
		v += n + (comma != NULL);
	}
	if (p->nnets == 0)
		return "networks: expected a list such as "
		    "192.0.2.0/24,2001:db8::/32";
	return NULL;
}

/* "HH:MM" at s (5 bytes) in minutes past midnight; -1 if not. */
static int
parse_clock(const char *s)
{
	uint64_t h, m;

	if (s[2] != ':' || strnum_u64_n(s, 2, 23, &h) == -1 ||
	    strnum_u64_n(s + 3, 2, 59, &m) == -1)
		return -1;
	return (int)(h * 60 + m);
}

static const char *
parse_hours(const char *v, size_t len, struct policy *p)
{
	int from, to;

	if (len != 11 || v[5] != '-' || (from = parse_clock(v)) == -1 ||
	    (to = parse_clock(v + 6)) == -1)
		return "hours: expected HH:MM-HH:MM, such as 08:00-18:30";
	if (from == to)
		return "hours: the start and the end are the same";
	p->hours = 1;
	p->from_min = (unsigned)from;
	p->to_min = (unsigned)to;
	return NULL;
}

/* Parse the rules in s (NUL-terminated, after the user name). */
static const char *
parse_rules(char *s, struct policy *p)
{
	const char *why = NULL, *v;
	size_t len, klen, vlen;
	int *flag;

	for (;;) {
		while (blank(*s))
			s++;
		if (*s == '\0')
			return NULL;
		if (strncmp(s, "disabled", 8) == 0 &&
		    (s[8] == '\0' || s[8] == '=' || blank(s[8]))) {
			if (p->disabled)
				return "disabled: given twice";
			p->disabled = 1;
			if (s[8] != '=') {
				s += 8;
				continue;
			}
			/* the reason is the rest of the line */
			len = strlen(s + 9);
			while (len > 0 && blank(s[9 + len - 1]))
				len--;
			if (len > POLICY_REASON_MAX)
				return "disabled: the reason is longer than "
				    "200 bytes";
			memcpy(p->reason, s + 9, len);
			p->reason[len] = '\0';
			return NULL;
		}
		len = strcspn(s, " \t");
		v = memchr(s, '=', len);
		if (v == NULL)
			return "expected rule=value (networks, tls, "
			    "app-passwords, hours) or disabled";
		klen = (size_t)(v - s);
		v++;
		vlen = len - klen - 1;
		flag = NULL;
		if (klen == 8 && memcmp(s, "networks", 8) == 0)
			why = parse_networks(v, vlen, p);
		else if (klen == 5 && memcmp(s, "hours", 5) == 0)
			why = p->hours ? "hours: given twice" :
			    parse_hours(v, vlen, p);
		else if (klen == 3 && memcmp(s, "tls", 3) == 0)
			flag = &p->tls;
		else if (klen == 13 && memcmp(s, "app-passwords", 13) == 0)
			flag = &p->app;
		else
			return "unknown rule (networks, tls, app-passwords, "
			    "hours, disabled)";
		if (flag != NULL) {
			if (vlen != 8 || memcmp(v, "required", 8) != 0)
				return klen == 3 ? "tls: only tls=required" :
				    "app-passwords: only app-passwords=required";
			if (*flag)
				return "a rule is given twice";
			*flag = 1;
		}
		if (why != NULL)
			return why;
		s += len;
	}
}

/*
 * Cut the next line from *pos (up to end) and parse it: NULL and *user_r
 * NULL for a line to skip, NULL with *user_r set and *p filled for a
 * rule line, or a reason.
 */
static const char *
next_line(char **pos, char *end, char **user_r, struct policy *p)
{
	char *line = *pos, *nl, *s, *name;
	size_t i;

	nl = memchr(line, '\n', (size_t)(end - line));
	if (nl != NULL) {
		*nl = '\0';
		*pos = nl + 1;
	} else
		*pos = end;
	*user_r = NULL;
	for (i = 0; line[i] != '\0'; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f)
			return "the line holds a control character";
	s = line;
	while (blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return NULL;
	name = s;
	s += strcspn(s, " \t");
	if (*s != '\0')
		*s++ = '\0';
	memset(p, 0, sizeof(*p));
	*user_r = name;
	return parse_rules(s, p);
}

/* Read path into b: 0, or -1 with errno (ENOENT: no file). */
static int
readall(const char *path, struct buf *b)
{
	int fd, r, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = safefile_readfd(fd, b);
	saved = errno;
	close(fd);
	errno = saved;
	if (r == 0 && memchr(buf_cstr(b), '\0', b->len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	return r;
}

int
policy_lookup(const char *path, const char *user, struct policy *p,
    char *err, size_t errlen)
{
	struct policy cur, star;
	struct buf b;
	char *pos, *end, *name;
	const char *why;
	unsigned line = 0, found = 0;
	int n;

	memset(p, 0, sizeof(*p));
	memset(&star, 0, sizeof(star));
	buf_init(&b, POLICY_FILE_MAX);
	if (readall(path, &b) == -1) {
		buf_free(&b);
		if (errno == ENOENT)
			return 0;
		n = snprintf(err, errlen, "%s: %s", path, errno == EINVAL ?
		    "holds a NUL byte" : strerror(errno));
		if (n < 0 || (size_t)n >= errlen)
			err[0] = '\0';
		return -1;
	}
	pos = b.data;
	end = b.data + b.len;
	while (pos != NULL && pos < end) {
		line++;
		if ((why = next_line(&pos, end, &name, &cur)) != NULL)
			goto bad;
		if (name == NULL)
			continue;
		cur.line = line;
		if (strcmp(name, user) == 0) {
			why = "the user has a second line";
			if (p->line != 0)
				goto bad;
			*p = cur;
			found = 1;
		} else if (strcmp(name, "*") == 0) {
			why = "* has a second line";
			if (star.line != 0)
				goto bad;
			star = cur;
		}
	}
	buf_free(&b);
	if (!found && star.line != 0) {
		*p = star;
		found = 1;
	}
	return found ? 1 : 0;
bad:
	buf_free(&b);
	memset(p, 0, sizeof(*p));
	n = snprintf(err, errlen, "%s:%u: %s", path, line, why);
	if (n < 0 || (size_t)n >= errlen)
		err[0] = '\0';
	return -1;
}

static int
namecmp(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

int
policy_check_file(const char *path, void (*report)(const char *))
{
	struct policy cur;
	struct buf b;
	char msg[512], *pos, *end, *name, **names = NULL, **tmp;
	const char *why;
	size_t nnames = 0, cap = 0, i;
	unsigned line = 0;
	int bad = 0, n;

	buf_init(&b, POLICY_FILE_MAX);
	if (readall(path, &b) == -1) {
		buf_free(&b);
		if (errno == ENOENT)
			return 0;
		n = snprintf(msg, sizeof(msg), "login_policy %s: %s", path,
		    errno == EINVAL ? "holds a NUL byte" : strerror(errno));
		report(n < 0 || (size_t)n >= sizeof(msg) ? path : msg);
		return 1;
	}
	pos = b.data;
	end = b.data + b.len;
	while (pos != NULL && pos < end) {
		line++;
		if ((why = next_line(&pos, end, &name, &cur)) != NULL) {
			n = snprintf(msg, sizeof(msg), "%s:%u: %s", path, line,
			    why);
			report(n < 0 || (size_t)n >= sizeof(msg) ? path : msg);
			bad++;
		}
		/* a bad line still names its user, for the check below */
		if (name == NULL)
			continue;
		if (nnames == cap) {
			cap = cap ? cap * 2 : 64;
			if ((tmp = reallocarray(names, cap, sizeof(*names))) ==
			    NULL) {
				report("out of memory");
				bad++;
				break;
			}
			names = tmp;
		}
		names[nnames++] = name;
	}
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), namecmp);
	for (i = 1; i < nnames; i++)
		if (strcmp(names[i], names[i - 1]) == 0) {
			n = snprintf(msg, sizeof(msg), "%s: %s has more than "
			    "one line", path, names[i]);
			report(n < 0 || (size_t)n >= sizeof(msg) ? path : msg);
			bad++;
		}
	free(names);
	buf_free(&b);
	return bad;
}

enum policy_verdict
policy_check(const struct policy *p, const char *rip, int tls, int app,
    unsigned minute)
{
	int in;

	if (p->disabled)
		return POLICY_DISABLED;
	if (p->nnets > 0 && !cidr_match(p->nets, p->nnets, rip))
		return POLICY_NETWORK;
	if (p->tls && !tls)
		return POLICY_TLS;
	if (p->app && !app)
		return POLICY_APP;
	if (p->hours) {
		if (p->from_min < p->to_min)
			in = minute >= p->from_min && minute < p->to_min;
		else
			in = minute >= p->from_min || minute < p->to_min;
		if (!in)
			return POLICY_HOURS;
	}
	return POLICY_OK;
}

const char *
policy_rule_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_DISABLED:
		return "disabled";
	case POLICY_NETWORK:
		return "networks";
	case POLICY_TLS:
		return "tls";
	case POLICY_APP:
		return "app-passwords";
	case POLICY_HOURS:
		return "hours";
	default:
		return "none";
	}
}
