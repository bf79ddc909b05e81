/*
 * config: the imapd.conf reader.  See config.h.
 *
 * Every key is one row of keys[] below: its name, its type, the field it
 * sets, its default (written as in the file, and read through the same
 * code as the file, so the default is always a value the file could
 * give), its limits and one line saying what it is for.  Adding a key is
 * adding a row (in name order, so that "imapd -t -v" lists them sorted),
 * a field in struct config, and its paragraph in imapd.conf(5) and line
 * in tools/imapd.conf.example, which a test compares with this table.
 *
 * common/lib/kvfile.c reads the file and splits its lines.  A value is
 * checked whole before any field changes, so a refused value leaves the
 * key as it was.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/lib/apppass.h"
#include "common/lib/buf.h"
#include "common/lib/cidr.h"
#include "common/lib/kvfile.h"
#include "common/lib/listenaddr.h"
#include "common/lib/log.h"
#include "common/lib/mapfile.h"
#include "common/lib/strnum.h"
#include "imapd/config.h"
#include "maildir/storelock.h"

#define SEC(n)		((uint64_t)(n) * 1000)
#define MIN(n)		(SEC(n) * 60)
#define HOUR(n)		(MIN(n) * 60)
#define DURATION_MAX	(HOUR(24) * 7)

enum keytype {
	K_BOOL,		/* int: yes or no */
	K_UINT,		/* unsigned, from min to max */
	K_DURATION,	/* uint64_t milliseconds, from min to max */
	K_STR,		/* char *, allocated, that check() accepts */
	K_ENUM,		/* int: one of names[] */
	K_LISTEN,	/* struct listen_addr[max], count at noff */
	K_CIDRS,	/* struct cidr[max], count at noff; "none" for none */
	K_OWN,		/* parse() and show() of its own */
};

struct keyname {
	const char	*name;
	int		 value;
	int		 alias;	/* taken, but neither shown nor suggested */
};

struct keydef {
	const char	*name;
	enum keytype	 type;
	size_t		 off;		/* the field in struct config */
	size_t		 noff;		/* K_LISTEN, K_CIDRS: the count */
	uint64_t	 min, max;	/* K_UINT, K_DURATION; lists: max */
	/* K_STR: NULL, or why the value is refused */
	const char	*(*check)(const char *);
	const struct keyname *names;	/* K_ENUM, ended by a NULL name */
	/* K_OWN: NULL, or why the value is refused */
	const char	*(*parse)(struct config *, const char *);
	/* K_OWN: the value as parse() reads it back */
	void		 (*show)(const struct config *, struct buf *);
	const char	*why;	/* a refusal's reason, if not the type's */
	const char	*def;	/* the default, as the file would say it */
	const char	*doc;	/* what the key is for, in one line */
};

/*
 * A reason built from a row's limits.  It lives until the next one is
 * built; kvfile_read() copies each reason as soon as it has it.
 */
static char reason[160];

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

static void
setstr(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* ---- checks of string values ------------------------------------------ */

static const char *
chk_path(const char *v)
{
	return v[0] == '/' ? NULL : "must be an absolute path";
}

/* A host name for file names: '/', ':' and ',' are encoded there. */
static const char *
chk_hostname(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!isgraph((unsigned char)v[i]))
			return "must be a host name without blanks, or empty "
			    "for the system's";
	return i > 255 ? "must be at most 255 characters" : NULL;
}

static const char *
chk_path_or_empty(const char *v)
{
	return v[0] == '\0' || v[0] == '/' ? NULL :
	    "must be an absolute path, or empty for none";
}

/* A user or service name. */
static const char *
chk_name(const char *v)
{
	size_t i;

	if (v[0] == '\0')
		return "must not be empty";
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("._-", v[i]) == NULL)
			return "must be a plain name (letters, digits, . _ -)";
	return NULL;
}

/* An OpenSSL cipher or group list: names, ':' and the list operators.
 * Whether the names are known is checked where OpenSSL is at hand. */
static const char *
chk_tls_list(const char *v)
{
	size_t i;

	if (v[0] == '\0')
		return "must not be empty";
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) &&
		    strchr(":_-+!@=.,", v[i]) == NULL)
			return "must be an OpenSSL list such as "
			    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
	return NULL;
}

static const char *
chk_mail_location(const char *v)
{
	const char *comp;
	size_t len;

	if (v[0] != '/' && !(v[0] == '~' && (v[1] == '/' || v[1] == '\0')))
		return "must be an absolute path or start with ~/";
	for (comp = v; *comp != '\0'; comp += len) {
		comp += strspn(comp, "/");
		len = strcspn(comp, "/");
		if (len == 2 && comp[0] == '.' && comp[1] == '.')
			return "must not contain ..";
	}
	return NULL;
}

/* ---- keys with a syntax of their own ----------------------------------- */

static const char *
p_auth(struct config *c, const char *v)
{
	enum auth_method got[CONFIG_MAX_AUTH];
	char item[32];
	const char *p = v;
	size_t len;
	unsigned n = 0, i;
	enum auth_method m;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= sizeof(item))
			return "must be pam, userdb, or a list of both";
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		if (strcmp(item, "pam") == 0)
			m = AUTH_PAM;
		else if (strcmp(item, "userdb") == 0)
			m = AUTH_USERDB;
		else
			return "must be pam, userdb, or a list of both";
		for (i = 0; i < n; i++)
			if (got[i] == m)
				return "lists a method twice";
		got[n++] = m;
	}
	if (n == 0)
		return "must name at least one method";
	memcpy(c->auth, got, n * sizeof(got[0]));
	c->nauth = n;
	return NULL;
}

static void
show_auth(const struct config *c, struct buf *b)
{
	unsigned i;

	for (i = 0; i < c->nauth; i++)
		(void)buf_addf(b, "%s%s", i > 0 ? "," : "",
		    c->auth[i] == AUTH_PAM ? "pam" : "userdb");
}

/* "SIZE [MESSAGES]", or "none". */
static const char *
p_quota(struct config *c, const char *v)
{
	static const char why[] = "must be a size (such as 1G) and "
	    "optionally a number of messages, or none";
	struct quota_limits q;
	char size[32];
	const char *rest;
	size_t len = strcspn(v, " \t");

	memset(&q, 0, sizeof(q));
	if (strcasecmp(v, "none") != 0) {
		if (len == 0 || len >= sizeof(size))
			return why;
		memcpy(size, v, len);
		size[len] = '\0';
		rest = v + len + strspn(v + len, " \t");
		if (strnum_size(size, INT64_MAX, &q.bytes) == -1 ||
		    (rest[0] != '\0' &&
		    strnum_u64(rest, INT64_MAX, &q.messages) == -1))
			return why;
	}
	c->quota = q;
	return NULL;
}

static void
show_quota(const struct config *c, struct buf *b)
{
	if (!quotadef_any(&c->quota))
		(void)buf_adds(b, "none");
	else
		(void)buf_addf(b, "%llu %llu",
		    (unsigned long long)c->quota.bytes,
		    (unsigned long long)c->quota.messages);
}

static const char *
p_syslog_facility(struct config *c, const char *v)
{
	int f = log_facility_byname(v);

	if (f == -1)
		return "must be a syslog facility such as mail or local0";
	c->syslog_facility = f;
	return NULL;
}

static void
show_syslog_facility(const struct config *c, struct buf *b)
{
	const char *name = log_facility_name(c->syslog_facility);

	(void)buf_adds(b, name != NULL ? name : "mail");
}

/* "Folder:\Flag ...", blank-separated. */
static const char *
p_special_use(struct config *c, const char *v)
{
	static const char *flags[] = {
		"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk",
		"\\Sent", "\\Trash",
	};
	struct special_use got[CONFIG_MAX_SPECIAL];
	const char *p = v, *colon;
	size_t len, nlen, i;
	unsigned n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		colon = memchr(p, ':', len);
		if (colon == NULL || colon == p)
			return "must be a list of Folder:\\Flag pairs";
		if (n == CONFIG_MAX_SPECIAL)
			return "too many folders";
		nlen = (size_t)(colon - p);
		if (nlen >= sizeof(got[n].name))
			return "folder name too long";
		memcpy(got[n].name, p, nlen);
		got[n].name[nlen] = '\0';
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (strlen(flags[i]) == len - nlen - 1 &&
			    strncasecmp(flags[i], colon + 1, len - nlen - 1) == 0)
				break;
		if (i == sizeof(flags) / sizeof(flags[0]))
			return "flag must be one of \\All \\Archive \\Drafts "
			    "\\Flagged \\Junk \\Sent \\Trash";
		snprintf(got[n].flag, sizeof(got[n].flag), "%s", flags[i]);
		n++;
		p += len;
	}
	memcpy(c->special, got, n * sizeof(got[0]));
	c->nspecial = n;
	return NULL;
}

static void
show_special_use(const struct config *c, struct buf *b)
{
	unsigned i;

	for (i = 0; i < c->nspecial; i++)
		(void)buf_addf(b, "%s%s:%s", i > 0 ? " " : "",
		    c->special[i].name, c->special[i].flag);
}

/* ---- the keys ----------------------------------------------------------- */

static const struct keyname tls_versions[] = {
	{ "TLSv1.2", 12, 0 }, { "TLSv1.3", 13, 0 }, { NULL, 0, 0 },
};
static const struct keyname separators[] = {
	{ "/", '/', 0 }, { ".", '.', 0 }, { NULL, 0, 0 },
};
/* yes and no in every spelling a boolean key takes */
static const struct keyname lock_methods[] = {
	{ "fcntl", STORELOCK_FCNTL, 0 }, { "dotlock", STORELOCK_DOTLOCK, 0 },
	{ "both", STORELOCK_BOTH, 0 }, { NULL, 0, 0 },
};
static const struct keyname tls_processes[] = {
	{ "per-session", 0, 0 }, { "shared", 1, 0 }, { NULL, 0, 0 },
};
static const struct keyname mmap_modes[] = {
	{ "auto", MAPFILE_AUTO, 0 },
	{ "yes", MAPFILE_ALWAYS, 0 }, { "no", MAPFILE_NEVER, 0 },
	{ "true", MAPFILE_ALWAYS, 1 }, { "on", MAPFILE_ALWAYS, 1 },
	{ "1", MAPFILE_ALWAYS, 1 },
	{ "false", MAPFILE_NEVER, 1 }, { "off", MAPFILE_NEVER, 1 },
	{ "0", MAPFILE_NEVER, 1 },
	{ NULL, 0, 0 },
};

#define F(f)		offsetof(struct config, f)
#define BOOL(f)		.type = K_BOOL, .off = F(f)
#define UINT(f, lo, hi)	.type = K_UINT, .off = F(f), .min = (lo), .max = (hi)
#define MS(f, lo, hi)	.type = K_DURATION, .off = F(f), .min = (lo), \
			.max = (hi)
#define STR(f, chk)	.type = K_STR, .off = F(f), .check = (chk)
#define ENUM(f, n)	.type = K_ENUM, .off = F(f), .names = (n)
#define LISTEN(f, nf)	.type = K_LISTEN, .off = F(f), .noff = F(nf), \
			.max = CONFIG_MAX_LISTEN
#define CIDRS(f, nf, m)	.type = K_CIDRS, .off = F(f), .noff = F(nf), .max = (m)
#define OWN(k)		.type = K_OWN, .parse = p_##k, .show = show_##k

/* In name order. */
static const struct keydef keys[] = {
	{ .name = "allow_plaintext_auth", BOOL(allow_plaintext_auth),
	  .def = "no",
	  .doc = "LOGIN and AUTHENTICATE PLAIN before TLS" },
	{ .name = "app_passwords", STR(app_passwords, chk_path),
	  .def = APPPASS_PATH,
	  .doc = "the cdb of application passwords" },
	{ .name = "auth", OWN(auth),
	  .def = "pam",
	  .doc = "the password checks, in order: pam, userdb" },
	{ .name = "auth_fail_delay", MS(auth_fail_delay_ms, 0, SEC(60)),
	  .def = "2s",
	  .doc = "the pause before a failed login is answered" },
	{ .name = "auth_penalty_max", MS(auth_penalty_max_ms, 0, MIN(5)),
	  .def = "15s",
	  .doc = "the longest pause repeated failures from one address earn" },
	{ .name = "drain_timeout", MS(drain_timeout_ms, SEC(1), HOUR(1)),
	  .def = "1m",
	  .doc = "how long SIGUSR2 lets sessions finish" },
	{ .name = "first_valid_uid", UINT(first_valid_uid, 1, 0x7fffffff),
	  .why = "must be a uid number of at least 1",
	  .def = "1000",
	  .doc = "the lowest uid a login may become" },
	{ .name = "hierarchy_separator", ENUM(hierarchy_separator,
	  separators),
	  .def = "/",
	  .doc = "the character between folder names that clients see" },
	{ .name = "hostname", STR(hostname, chk_hostname),
	  .def = "",
	  .doc = "the host part of new file names; empty for the system's" },
	{ .name = "idle_poll", MS(idle_poll_ms, 0, HOUR(1)),
	  .why = "must be 0 (inotify alone) or a duration up to 1h",
	  .def = "0s",
	  .doc = "how often IDLE looks at the folder besides inotify" },
	{ .name = "inbox_prefix", BOOL(inbox_prefix),
	  .def = "no",
	  .doc = "folders named under INBOX" },
	{ .name = "listen_imap", LISTEN(imap, nimap),
	  .def = "*:143",
	  .doc = "addresses for IMAP with STARTTLS" },
	{ .name = "listen_imaps", LISTEN(imaps, nimaps),
	  .def = "*:993",
	  .doc = "addresses for IMAP over TLS" },
	{ .name = "lock_method", ENUM(lock_method, lock_methods),
	  .def = "fcntl",
	  .doc = "how locks on the store are taken: fcntl, dotlock or both" },
	{ .name = "lock_timeout", MS(lock_timeout_ms, 100, HOUR(1)),
	  .def = "30s",
	  .doc = "how long a command waits for a lock before NO [INUSE]" },
	{ .name = "login_chroot", STR(login_chroot, chk_path),
	  .def = "/var/lib/imapd/empty",
	  .doc = "the empty directory the pre-login process is shut in" },
	{ .name = "login_policy", STR(login_policy, chk_path),
	  .def = "/etc/imapd/login-policy",
	  .doc = "the per-user login rules" },
	{ .name = "login_user", STR(login_user, chk_name),
	  .def = "imapd",
	  .doc = "the user the pre-login process runs as" },
	{ .name = "mail_location", STR(mail_location, chk_mail_location),
	  .def = "~/Maildir",
	  .doc = "where a user's Maildir is" },
	{ .name = "max_prelogin_per_address",
	  UINT(max_prelogin_per_address, 0, CONFIG_MAX_SESSIONS),
	  .why = "must be a number from 0 (no limit) to 100000",
	  .def = "20",
	  .doc = "connections not yet logged in from one address" },
	{ .name = "max_sessions", UINT(max_sessions, 1, CONFIG_MAX_SESSIONS),
	  .def = "1000",
	  .doc = "connections at once" },
	{ .name = "max_user_sessions",
	  UINT(max_user_sessions, 0, CONFIG_MAX_SESSIONS),
	  .why = "must be a number from 0 (no limit) to 100000",
	  .def = "100",
	  .doc = "sessions of one user at once" },
	{ .name = "max_user_sessions_per_address",
	  UINT(max_user_sessions_per_address, 0, CONFIG_MAX_SESSIONS),
	  .why = "must be a number from 0 (no limit) to 100000",
	  .def = "20",
	  .doc = "sessions of one user from one address at once" },
	{ .name = "mmap", ENUM(mmap, mmap_modes),
	  .def = "auto",
	  .doc = "whether message files are mapped or read" },
	{ .name = "pam_service", STR(pam_service, chk_name),
	  .def = "imapd",
	  .doc = "the PAM service name" },
	{ .name = "pam_session", BOOL(pam_session),
	  .def = "yes",
	  .doc = "open a PAM session for each login" },
	{ .name = "prefork", UINT(prefork, 1, 1000),
	  .def = "4",
	  .doc = "idle workers kept ready" },
	{ .name = "proxy_protocol", BOOL(proxy_protocol),
	  .def = "no",
	  .doc = "connections start with a PROXY header" },
	{ .name = "quota", OWN(quota),
	  .def = "none",
	  .doc = "the default quota: a size and a number of messages" },
	{ .name = "search_index", BOOL(search_index),
	  .def = "yes",
	  .doc = "keep and use full-text indexes for SEARCH" },
	{ .name = "special_use", OWN(special_use),
	  .def = "Sent:\\Sent Drafts:\\Drafts Trash:\\Trash Junk:\\Junk "
	      "Archive:\\Archive",
	  .doc = "the folders that get a special-use flag" },
	{ .name = "store_check", STR(store_check, chk_path_or_empty),
	  .def = "",
	  .doc = "the directory imapd -H checks; empty for none" },
	{ .name = "store_check_timeout",
	  MS(store_check_timeout_ms, SEC(1), MIN(5)),
	  .def = "10s",
	  .doc = "how long imapd -H waits for the store" },
	{ .name = "store_marker", STR(store_marker, chk_path_or_empty),
	  .def = "",
	  .doc = "a file that must exist before Maildirs are made; empty "
	      "for none" },
	{ .name = "syslog_facility", OWN(syslog_facility),
	  .def = "mail",
	  .doc = "the syslog facility of every log line" },
	{ .name = "timeout_login", MS(timeout_login_ms, SEC(1), DURATION_MAX),
	  .def = "1m",
	  .doc = "the idle time allowed before login" },
	{ .name = "timeout_output", MS(timeout_output_ms, SEC(1), HOUR(1)),
	  .def = "1m",
	  .doc = "how long a client may leave output unread" },
	/* RFC 9051 5.4: the autologout timer is at least 30 minutes */
	{ .name = "timeout_session",
	  MS(timeout_session_ms, MIN(30), DURATION_MAX),
	  .why = "must be at least 30m (RFC 9051 section 5.4)",
	  .def = "30m",
	  .doc = "the idle time allowed after login" },
	{ .name = "tls_cert", STR(tls_cert, chk_path),
	  .def = "/etc/imapd/cert.pem",
	  .doc = "the certificate chain" },
	/* Mozilla's "intermediate" profile: ECDHE and AEAD ciphers only in
	 * TLS 1.2 (no RSA key exchange, no CBC, no SHA-1; no DHE, whose
	 * groups clients cannot check), every TLS 1.3 suite */
	{ .name = "tls_ciphers", STR(tls_ciphers, chk_tls_list),
	  .def = "ECDHE-ECDSA-AES128-GCM-SHA256:"
	      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	      "ECDHE-RSA-CHACHA20-POLY1305",
	  .doc = "the TLS 1.2 cipher list" },
	{ .name = "tls_ciphersuites", STR(tls_ciphersuites, chk_tls_list),
	  .def = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	      "TLS_CHACHA20_POLY1305_SHA256",
	  .doc = "the TLS 1.3 cipher suites" },
	{ .name = "tls_groups", STR(tls_groups, chk_tls_list),
	  .def = "X25519:prime256v1:secp384r1",
	  .doc = "the key exchange groups" },
	{ .name = "tls_key", STR(tls_key, chk_path),
	  .def = "/etc/imapd/key.pem",
	  .doc = "the private key, read only by imapd-key" },
	{ .name = "tls_min_version", ENUM(tls_min_version, tls_versions),
	  .def = "TLSv1.2",
	  .doc = "the oldest TLS version accepted" },
	{ .name = "tls_process", ENUM(tls_shared, tls_processes),
	  .def = "per-session",
	  .doc = "implicit TLS in each session's front, or in one shared "
	      "process" },
	{ .name = "trusted_proxies",
	  CIDRS(trusted, ntrusted, CONFIG_MAX_PROXIES),
	  .def = "none",
	  .doc = "the networks a PROXY header is taken from" },
	{ .name = "userdb", STR(userdb, chk_path),
	  .def = "/etc/imapd/userdb.cdb",
	  .doc = "the cdb of virtual users" },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS == CONFIG_NKEYS, "CONFIG_NKEYS must count the keys");

/* ---- reading and writing a value by its row ----------------------------- */

#define FIELD(c, k, type)	((type *)(void *)((char *)(c) + (k)->off))
#define CFIELD(c, k, type)	\
	((type const *)(const void *)((const char *)(c) + (k)->off))
#define COUNT(c, k)		((unsigned *)(void *)((char *)(c) + (k)->noff))
#define CCOUNT(c, k)		\
	((const unsigned *)(const void *)((const char *)(c) + (k)->noff))

/* "must be A, B or C" from the names an enum key shows. */
static const char *
enum_reason(const struct keyname *names)
{
	size_t i, n = 0, len;

	for (i = 0; names[i].name != NULL; i++)
		n += !names[i].alias;
	len = (size_t)snprintf(reason, sizeof(reason), "must be");
	for (i = 0; names[i].name != NULL && len < sizeof(reason); i++) {
		if (names[i].alias)
			continue;
		n--;
		len += (size_t)snprintf(reason + len, sizeof(reason) - len,
		    "%s%s", n == 0 && i > 0 ? " or " : i > 0 ? ", " : " ",
		    names[i].name);
	}
	return reason;
}

/* In the largest unit that divides the value exactly. */
static void
show_ms(uint64_t ms, struct buf *b)
{
	if (ms != 0 && ms % HOUR(1) == 0)
		(void)buf_addf(b, "%lluh", (unsigned long long)(ms / HOUR(1)));
	else if (ms != 0 && ms % MIN(1) == 0)
		(void)buf_addf(b, "%llum", (unsigned long long)(ms / MIN(1)));
	else if (ms % SEC(1) == 0)
		(void)buf_addf(b, "%llus", (unsigned long long)(ms / SEC(1)));
	else
		(void)buf_addf(b, "%llums", (unsigned long long)ms);
}

/* "must be from 1s to 1h", "must be at most 5m", from a row's limits. */
static const char *
duration_reason(const struct keydef *k)
{
	struct buf lo, hi;

	buf_init(&lo, 32);
	buf_init(&hi, 32);
	show_ms(k->min, &lo);
	show_ms(k->max, &hi);
	if (k->min == 0)
		snprintf(reason, sizeof(reason), "must be at most %s",
		    buf_cstr(&hi));
	else if (k->max == DURATION_MAX)
		snprintf(reason, sizeof(reason), "must be at least %s",
		    buf_cstr(&lo));
	else
		snprintf(reason, sizeof(reason), "must be from %s to %s",
		    buf_cstr(&lo), buf_cstr(&hi));
	buf_free(&lo);
	buf_free(&hi);
	return reason;
}

static const char *
set_duration(struct config *c, const struct keydef *k, const char *v)
{
	uint64_t ms;

	if (strnum_duration(v, DURATION_MAX, &ms) == -1 ||
	    (ms < k->min && k->why == NULL))
		return "must be a duration such as 30s, 500ms, 30m or 1h";
	if (ms < k->min || ms > k->max)
		return k->why != NULL ? k->why : duration_reason(k);
	*FIELD(c, k, uint64_t) = ms;
	return NULL;
}

static const char *
set_enum(struct config *c, const struct keydef *k, const char *v)
{
	size_t i;

	for (i = 0; k->names[i].name != NULL; i++)
		if (strcasecmp(v, k->names[i].name) == 0) {
			*FIELD(c, k, int) = k->names[i].value;
			return NULL;
		}
	return k->why != NULL ? k->why : enum_reason(k->names);
}

static const char *
set_cidrs(struct config *c, const struct keydef *k, const char *v)
{
	struct cidr got[CONFIG_MAX_PROXIES];
	const char *p = v, *why;
	size_t len;
	unsigned n = 0;

	memset(got, 0, sizeof(got));
	if (strcasecmp(v, "none") != 0) {
		for (;;) {
			p += strspn(p, " \t,");
			if (*p == '\0')
				break;
			len = strcspn(p, " \t,");
			if (n == k->max || n == CONFIG_MAX_PROXIES) {
				snprintf(reason, sizeof(reason),
				    "more than %u networks", n);
				return reason;
			}
			if ((why = cidr_parse(p, len, &got[n])) != NULL)
				return why;
			n++;
			p += len;
		}
	}
	memcpy(FIELD(c, k, struct cidr), got, n * sizeof(got[0]));
	*COUNT(c, k) = n;
	return NULL;
}

/* Take value v for key k: NULL, or why it is refused. */
static const char *
set(struct config *c, const struct keydef *k, const char *v)
{
	struct listen_addr addrs[CONFIG_MAX_LISTEN];
	const char *why = NULL;
	unsigned u, n;
	int yes;

	switch (k->type) {
	case K_BOOL:
		if (strnum_bool(v, &yes) == -1)
			return "must be yes or no";
		*FIELD(c, k, int) = yes;
		return NULL;
	case K_UINT:
		if (strnum_uint(v, (unsigned)k->max, &u) == -1 || u < k->min) {
			if (k->why != NULL)
				return k->why;
			snprintf(reason, sizeof(reason),
			    "must be a number from %llu to %llu",
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return reason;
		}
		*FIELD(c, k, unsigned) = u;
		return NULL;
	case K_DURATION:
		return set_duration(c, k, v);
	case K_STR:
		if ((why = k->check(v)) != NULL)
			return why;
		setstr(FIELD(c, k, char *), v);
		return NULL;
	case K_ENUM:
		return set_enum(c, k, v);
	case K_LISTEN:
		if (listenaddr_parse(v, addrs, (unsigned)k->max, &n,
		    &why) == -1)
			return why;
		memcpy(FIELD(c, k, struct listen_addr), addrs,
		    n * sizeof(addrs[0]));
		*COUNT(c, k) = n;
		return NULL;
	case K_CIDRS:
		return set_cidrs(c, k, v);
	case K_OWN:
		return k->parse(c, v);
	}
	return "unknown type";
}

static void
show_cidrs(const struct cidr *nets, unsigned n, struct buf *b)
{
	char a[64];
	unsigned i;

	if (n == 0)
		(void)buf_adds(b, "none");
	for (i = 0; i < n; i++) {
		if (inet_ntop(nets[i].family, nets[i].addr, a,
		    sizeof(a)) == NULL)
			snprintf(a, sizeof(a), "?");
		(void)buf_addf(b, "%s%s/%u", i > 0 ? " " : "", a,
		    nets[i].bits);
	}
}

/*
 * Append key k's value in the form set() reads, so that "imapd -t -v"
 * output is itself a valid imapd.conf.
 */
static void
show(const struct config *c, const struct keydef *k, struct buf *b)
{
	size_t i;

	switch (k->type) {
	case K_BOOL:
		(void)buf_adds(b, *CFIELD(c, k, int) ? "yes" : "no");
		break;
	case K_UINT:
		(void)buf_addf(b, "%u", *CFIELD(c, k, unsigned));
		break;
	case K_DURATION:
		show_ms(*CFIELD(c, k, uint64_t), b);
		break;
	case K_STR:
		(void)buf_adds(b, *CFIELD(c, k, char *));
		break;
	case K_ENUM:
		for (i = 0; k->names[i].name != NULL; i++)
			if (!k->names[i].alias &&
			    k->names[i].value == *CFIELD(c, k, int))
				break;
		(void)buf_adds(b, k->names[i].name != NULL ?
		    k->names[i].name : "?");
		break;
	case K_LISTEN:
		listenaddr_format(CFIELD(c, k, struct listen_addr), *CCOUNT(c, k), b);
		break;
	case K_CIDRS:
		show_cidrs(CFIELD(c, k, struct cidr), *CCOUNT(c, k), b);
		break;
	case K_OWN:
		k->show(c, b);
		break;
	}
}

void
config_defaults(struct config *c)
{
	const char *why;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if ((why = set(c, &keys[i], keys[i].def)) != NULL)
			fatalx("the default of %s: %s", keys[i].name, why);
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].type == K_STR)
			free(*FIELD(c, &keys[i], char *));
	free(c->path);
	memset(c, 0, sizeof(*c));
}

static const char *
keyname(size_t i)
{
	return keys[i].name;
}

static const char *
keyset(void *arg, size_t i, const char *value)
{
	return set(arg, &keys[i], value);
}

int
config_load(struct config *c, const char *path, char **errors_r)
{
	struct buf errs;
	struct kvfile_keys kk = { NKEYS, keyname, keyset, c };

	*errors_r = NULL;
	buf_init(&errs, 64 * 1024);
	setstr(&c->path, path);
	if (kvfile_read(path, &kk, c->key_line, &errs) == 0 &&
	    c->nimap == 0 && c->nimaps == 0)
		(void)buf_addf(&errs, "%s: listen_imap and listen_imaps are "
		    "both empty: nothing to serve\n", path);
	if (errs.len > 0) {
		*errors_r = xstrdup(buf_cstr(&errs));
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	return 0;
}

int
config_dump(const struct config *c, FILE *fp)
{
	struct buf b;
	size_t i;
	int r = 0;

	buf_init(&b, KVFILE_LINE_MAX * 2);
	for (i = 0; i < NKEYS && r == 0; i++) {
		buf_reset(&b);
		show(c, &keys[i], &b);
		if (c->key_line[i] != 0)
			r = fprintf(fp, "%s = %s\t# %s:%u\n", keys[i].name,
			    buf_cstr(&b), c->path, c->key_line[i]);
		else
			r = fprintf(fp, "%s = %s\t# default\n", keys[i].name,
			    buf_cstr(&b));
		r = r < 0 ? -1 : 0;
	}
	buf_free(&b);
	if (r == 0 && fflush(fp) == EOF)
		r = -1;
	return r;
}
