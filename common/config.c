/*
 * config: the imapd.conf reader.  See config.h.
 *
 * common/kvfile.c reads the file and splits its lines; each key here has
 * one parse function.  Values are taken from after
 * "=" to the end of the line or a "#", with surrounding blanks removed.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/apppass.h"
#include "common/buf.h"
#include "common/cidr.h"
#include "common/config.h"
#include "common/kvfile.h"
#include "common/log.h"
#include "common/mapfile.h"
#include "common/safefile.h"
#include "common/strnum.h"

#define TIMEOUT_MAX_MS		(7ULL * 24 * 3600 * 1000)

struct keydef {
	const char	*name;
	/* returns NULL on success, else a short reason */
	const char	*(*parse)(struct config *, const char *);
	/* appends the value as parse() reads it back */
	void		 (*show)(const struct config *, size_t, struct buf *);
	size_t		 off;	/* of the field, for the shared show()s */
};

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

int
config_parse_listen(const char *v, struct listen_addr *out, unsigned max,
    unsigned *n_r, const char **why_r)
{
	char item[128];
	const char *p = v, *host, *port;
	size_t len, hlen;
	unsigned n = 0;
	uint64_t num;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= sizeof(item)) {
			*why_r = "address too long";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		if (strcasecmp(item, "none") == 0)
			continue;
		if (n == max) {
			*why_r = "too many addresses";
			return -1;
		}
		if (item[0] == '[') {
			char *end = strchr(item, ']');

			if (end == NULL || end[1] != ':') {
				*why_r = "IPv6 address must be written [addr]:port";
				return -1;
			}
			host = item + 1;
			hlen = (size_t)(end - host);
			port = end + 2;
		} else {
			char *colon = strrchr(item, ':');

			if (colon == NULL) {
				*why_r = "address must be addr:port, e.g. *:143";
				return -1;
			}
			if (memchr(item, ':', (size_t)(colon - item)) != NULL) {
				*why_r = "IPv6 address must be written [addr]:port";
				return -1;
			}
			host = item;
			hlen = (size_t)(colon - item);
			port = colon + 1;
		}
		if (hlen >= sizeof(out[n].host)) {
			*why_r = "address too long";
			return -1;
		}
		if (strnum_u64(port, 65535, &num) == -1 || num == 0) {
			*why_r = "port must be a number from 1 to 65535";
			return -1;
		}
		memcpy(out[n].host, host, hlen);
		out[n].host[hlen] = '\0';
		if (strcmp(out[n].host, "*") == 0)
			out[n].host[0] = '\0';
		snprintf(out[n].port, sizeof(out[n].port), "%u", (unsigned)num);
		n++;
	}
	*n_r = n;
	return 0;
}

static const char *
p_listen_imap(struct config *c, const char *v)
{
	const char *why = NULL;

	if (config_parse_listen(v, c->imap, CONFIG_MAX_LISTEN, &c->nimap,
	    &why) == -1)
		return why;
	return NULL;
}

static const char *
p_listen_imaps(struct config *c, const char *v)
{
	const char *why = NULL;

	if (config_parse_listen(v, c->imaps, CONFIG_MAX_LISTEN, &c->nimaps,
	    &why) == -1)
		return why;
	return NULL;
}

static const char *
p_path(char **dst, const char *v)
{
	if (v[0] != '/')
		return "must be an absolute path";
	setstr(dst, v);
	return NULL;
}

static const char *
p_tls_cert(struct config *c, const char *v)
{
	return p_path(&c->tls_cert, v);
}

static const char *
p_tls_key(struct config *c, const char *v)
{
	return p_path(&c->tls_key, v);
}

static const char *
p_tls_min_version(struct config *c, const char *v)
{
	if (strcasecmp(v, "TLSv1.2") == 0)
		c->tls_min_version = 12;
	else if (strcasecmp(v, "TLSv1.3") == 0)
		c->tls_min_version = 13;
	else
		return "must be TLSv1.2 or TLSv1.3";
	return NULL;
}

/* An OpenSSL cipher or group list: names, ':' and the list operators.
 * Whether the names are known is checked where OpenSSL is at hand. */
static const char *
p_tls_list(char **dst, const char *v)
{
	size_t i;

	if (v[0] == '\0')
		return "must not be empty";
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) &&
		    strchr(":_-+!@=.,", v[i]) == NULL)
			return "must be an OpenSSL list such as "
			    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
	setstr(dst, v);
	return NULL;
}

static const char *
p_tls_ciphers(struct config *c, const char *v)
{
	return p_tls_list(&c->tls_ciphers, v);
}

static const char *
p_tls_ciphersuites(struct config *c, const char *v)
{
	return p_tls_list(&c->tls_ciphersuites, v);
}

static const char *
p_tls_groups(struct config *c, const char *v)
{
	return p_tls_list(&c->tls_groups, v);
}

static const char *
p_auth(struct config *c, const char *v)
{
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
			if (c->auth[i] == m)
				return "lists a method twice";
		c->auth[n++] = m;
	}
	if (n == 0)
		return "must name at least one method";
	c->nauth = n;
	return NULL;
}

static const char *
p_name(char **dst, const char *v)
{
	size_t i;

	if (v[0] == '\0')
		return "must not be empty";
	for (i = 0; v[i] != '\0'; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("._-", v[i]) == NULL)
			return "must be a plain name (letters, digits, . _ -)";
	setstr(dst, v);
	return NULL;
}

static const char *
p_pam_service(struct config *c, const char *v)
{
	return p_name(&c->pam_service, v);
}

static const char *
p_login_user(struct config *c, const char *v)
{
	return p_name(&c->login_user, v);
}

static const char *
p_userdb(struct config *c, const char *v)
{
	return p_path(&c->userdb, v);
}

static const char *
p_app_passwords(struct config *c, const char *v)
{
	return p_path(&c->app_passwords, v);
}

static const char *
p_login_policy(struct config *c, const char *v)
{
	return p_path(&c->login_policy, v);
}

static const char *
p_login_chroot(struct config *c, const char *v)
{
	return p_path(&c->login_chroot, v);
}

static const char *
p_mail_location(struct config *c, const char *v)
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
	setstr(&c->mail_location, v);
	return NULL;
}

static const char *
p_uint(unsigned *dst, const char *v, unsigned min, unsigned max,
    const char *why)
{
	unsigned n;

	if (strnum_uint(v, max, &n) == -1 || n < min)
		return why;
	*dst = n;
	return NULL;
}

static const char *
p_prefork(struct config *c, const char *v)
{
	return p_uint(&c->prefork, v, 1, 1000,
	    "must be a number from 1 to 1000");
}

static const char *
p_max_sessions(struct config *c, const char *v)
{
	return p_uint(&c->max_sessions, v, 1, CONFIG_MAX_SESSIONS,
	    "must be a number from 1 to 100000");
}

/* A limit on connections or sessions; 0 turns it off. */
static const char *
p_limit(unsigned *dst, const char *v)
{
	return p_uint(dst, v, 0, CONFIG_MAX_SESSIONS,
	    "must be a number from 0 (no limit) to 100000");
}

static const char *
p_max_prelogin_per_address(struct config *c, const char *v)
{
	return p_limit(&c->max_prelogin_per_address, v);
}

static const char *
p_max_user_sessions(struct config *c, const char *v)
{
	return p_limit(&c->max_user_sessions, v);
}

static const char *
p_max_user_sessions_per_address(struct config *c, const char *v)
{
	return p_limit(&c->max_user_sessions_per_address, v);
}

static const char *
p_first_valid_uid(struct config *c, const char *v)
{
	return p_uint(&c->first_valid_uid, v, 1, 0x7fffffff,
	    "must be a uid number of at least 1");
}

static const char *
p_allow_plaintext_auth(struct config *c, const char *v)
{
	if (strnum_bool(v, &c->allow_plaintext_auth) == -1)
		return "must be yes or no";
	return NULL;
}

static const char *
p_pam_session(struct config *c, const char *v)
{
	if (strnum_bool(v, &c->pam_session) == -1)
		return "must be yes or no";
	return NULL;
}

static const char *
p_proxy_protocol(struct config *c, const char *v)
{
	if (strnum_bool(v, &c->proxy_protocol) == -1)
		return "must be yes or no";
	return NULL;
}

/* ADDR[/PREFIX] ..., separated by blanks or commas; "none" for no list. */
static const char *
p_trusted_proxies(struct config *c, const char *v)
{
	const char *p = v, *why;
	size_t len;
	unsigned n = 0;

	c->ntrusted = 0;
	if (strcasecmp(v, "none") == 0)
		return NULL;
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (n == CONFIG_MAX_PROXIES)
			return "more than 32 networks";
		if ((why = cidr_parse(p, len, &c->trusted[n])) != NULL)
			return why;
		n++;
		p += len;
	}
	c->ntrusted = n;
	return NULL;
}

static const char *
p_mmap(struct config *c, const char *v)
{
	int yes;

	if (strcasecmp(v, "auto") == 0) {
		c->mmap = MAPFILE_AUTO;
		return NULL;
	}
	if (strnum_bool(v, &yes) == -1)
		return "must be auto, yes or no";
	c->mmap = yes ? MAPFILE_ALWAYS : MAPFILE_NEVER;
	return NULL;
}

static const char *
p_hostname(struct config *c, const char *v)
{
	size_t i;

	/* '/', ':' and ',' are allowed: new file names encode them */
	for (i = 0; v[i] != '\0'; i++)
		if (!isgraph((unsigned char)v[i]))
			return "must be a host name without blanks, or empty "
			    "for the system's";
	if (i > 255)
		return "must be at most 255 characters";
	setstr(&c->hostname, v);
	return NULL;
}

static const char *
p_store_marker(struct config *c, const char *v)
{
	if (v[0] != '\0' && v[0] != '/')
		return "must be an absolute path, or empty for none";
	setstr(&c->store_marker, v);
	return NULL;
}

/* "SIZE [MESSAGES]", or "none". */
static const char *
p_quota(struct config *c, const char *v)
{
	static const char why[] = "must be a size (such as 1G) and "
	    "optionally a number of messages, or none";
	char size[32];
	const char *rest;
	size_t len = strcspn(v, " \t");

	memset(&c->quota, 0, sizeof(c->quota));
	if (strcasecmp(v, "none") == 0)
		return NULL;
	if (len == 0 || len >= sizeof(size))
		return why;
	memcpy(size, v, len);
	size[len] = '\0';
	rest = v + len + strspn(v + len, " \t");
	if (strnum_size(size, INT64_MAX, &c->quota.bytes) == -1 ||
	    (rest[0] != '\0' &&
	    strnum_u64(rest, INT64_MAX, &c->quota.messages) == -1)) {
		memset(&c->quota, 0, sizeof(c->quota));
		return why;
	}
	return NULL;
}

static const char *
p_hierarchy_separator(struct config *c, const char *v)
{
	if (strcmp(v, "/") != 0 && strcmp(v, ".") != 0)
		return "must be / or .";
	c->hierarchy_separator = v[0];
	return NULL;
}

static const char *
p_inbox_prefix(struct config *c, const char *v)
{
	if (strnum_bool(v, &c->inbox_prefix) == -1)
		return "must be yes or no";
	return NULL;
}

static const char *
p_search_index(struct config *c, const char *v)
{
	if (strnum_bool(v, &c->search_index) == -1)
		return "must be yes or no";
	return NULL;
}

static const char *
p_duration(uint64_t *dst, const char *v, uint64_t min_ms)
{
	uint64_t ms;

	if (strnum_duration(v, TIMEOUT_MAX_MS, &ms) == -1 || ms < min_ms)
		return "must be a duration such as 30s, 500ms, 30m or 1h";
	*dst = ms;
	return NULL;
}

static const char *
p_timeout_login(struct config *c, const char *v)
{
	return p_duration(&c->timeout_login_ms, v, 1000);
}

static const char *
p_timeout_session(struct config *c, const char *v)
{
	const char *why = p_duration(&c->timeout_session_ms, v, 1000);

	/* RFC 9051 5.4: the autologout timer is at least 30 minutes */
	if (why == NULL && c->timeout_session_ms < 30ULL * 60 * 1000)
		return "must be at least 30m (RFC 9051 section 5.4)";
	return why;
}

static const char *
p_timeout_output(struct config *c, const char *v)
{
	const char *why = p_duration(&c->timeout_output_ms, v, 1000);

	/* it is how long a process may outlive its session: keep it short */
	if (why == NULL && c->timeout_output_ms > 3600ULL * 1000)
		return "must be from 1s to 1h";
	return why;
}

static const char *
p_drain_timeout(struct config *c, const char *v)
{
	const char *why = p_duration(&c->drain_timeout_ms, v, 1000);

	if (why == NULL && c->drain_timeout_ms > 3600ULL * 1000)
		return "must be from 1s to 1h";
	return why;
}

static const char *
p_store_check(struct config *c, const char *v)
{
	if (v[0] != '\0' && v[0] != '/')
		return "must be an absolute path, or empty for none";
	setstr(&c->store_check, v);
	return NULL;
}

static const char *
p_store_check_timeout(struct config *c, const char *v)
{
	const char *why = p_duration(&c->store_check_timeout_ms, v, 1000);

	if (why == NULL && c->store_check_timeout_ms > 300ULL * 1000)
		return "must be from 1s to 5m";
	return why;
}

static const char *
p_lock_timeout(struct config *c, const char *v)
{
	const char *why = p_duration(&c->lock_timeout_ms, v, 100);

	if (why == NULL && c->lock_timeout_ms > 3600ULL * 1000)
		return "must be from 100ms to 1h";
	return why;
}

static const char *
p_lock_method(struct config *c, const char *v)
{
	static const char *const names[] = { "fcntl", "dotlock", "both" };
	int i;

	for (i = 0; i < 3; i++)
		if (strcasecmp(v, names[i]) == 0) {
			c->lock_method = i + 1;
			return NULL;
		}
	return "must be fcntl, dotlock or both";
}

static const char *
p_idle_poll(struct config *c, const char *v)
{
	const char *why = p_duration(&c->idle_poll_ms, v, 0);

	if (why == NULL && c->idle_poll_ms != 0 &&
	    (c->idle_poll_ms < 1000 || c->idle_poll_ms > 3600ULL * 1000))
		return "must be 0 (inotify alone) or from 1s to 1h";
	return why;
}

static const char *
p_auth_fail_delay(struct config *c, const char *v)
{
	const char *why = p_duration(&c->auth_fail_delay_ms, v, 0);

	if (why == NULL && c->auth_fail_delay_ms > 60000)
		return "must be at most 60s";
	return why;
}

static const char *
p_auth_penalty_max(struct config *c, const char *v)
{
	const char *why = p_duration(&c->auth_penalty_max_ms, v, 0);

	if (why == NULL && c->auth_penalty_max_ms > 300000)
		return "must be at most 5m";
	return why;
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

static const char *
p_special_use(struct config *c, const char *v)
{
	static const char *flags[] = {
		"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk",
		"\\Sent", "\\Trash",
	};
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
		if (nlen >= sizeof(c->special[n].name))
			return "folder name too long";
		memcpy(c->special[n].name, p, nlen);
		c->special[n].name[nlen] = '\0';
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (strlen(flags[i]) == len - nlen - 1 &&
			    strncasecmp(flags[i], colon + 1, len - nlen - 1) == 0)
				break;
		if (i == sizeof(flags) / sizeof(flags[0]))
			return "flag must be one of \\All \\Archive \\Drafts "
			    "\\Flagged \\Junk \\Sent \\Trash";
		snprintf(c->special[n].flag, sizeof(c->special[n].flag), "%s",
		    flags[i]);
		n++;
		p += len;
	}
	c->nspecial = n;
	return NULL;
}

/*
 * The show functions write a value back in the form its parse function
 * reads, so that "imapd -t -v" output is itself a valid imapd.conf.
 */
#define FIELD(c, off, type)	\
	((type const *)(const void *)((const char *)(c) + (off)))

static void
show_str(const struct config *c, size_t off, struct buf *b)
{
	(void)buf_adds(b, *FIELD(c, off, char *));
}

static void
show_uint(const struct config *c, size_t off, struct buf *b)
{
	(void)buf_addf(b, "%u", *FIELD(c, off, unsigned));
}

static void
show_bool(const struct config *c, size_t off, struct buf *b)
{
	(void)buf_adds(b, *FIELD(c, off, int) ? "yes" : "no");
}

/* In the largest unit that divides the value exactly. */
static void
show_duration(const struct config *c, size_t off, struct buf *b)
{
	uint64_t ms = *FIELD(c, off, uint64_t);

	if (ms != 0 && ms % 3600000 == 0)
		(void)buf_addf(b, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		(void)buf_addf(b, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		(void)buf_addf(b, "%llus", (unsigned long long)(ms / 1000));
	else
		(void)buf_addf(b, "%llums", (unsigned long long)ms);
}

static void
show_listen(const struct listen_addr *a, unsigned n, struct buf *b)
{
	unsigned i;

	if (n == 0)
		(void)buf_adds(b, "none");
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)buf_addc(b, ' ');
		if (a[i].host[0] == '\0')
			(void)buf_addf(b, "*:%s", a[i].port);
		else if (strchr(a[i].host, ':') != NULL)
			(void)buf_addf(b, "[%s]:%s", a[i].host, a[i].port);
		else
			(void)buf_addf(b, "%s:%s", a[i].host, a[i].port);
	}
}

static void
show_listen_imap(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	show_listen(c->imap, c->nimap, b);
}

static void
show_listen_imaps(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	show_listen(c->imaps, c->nimaps, b);
}

static void
show_tls_min_version(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	(void)buf_adds(b, c->tls_min_version == 13 ? "TLSv1.3" : "TLSv1.2");
}

static void
show_auth(const struct config *c, size_t off, struct buf *b)
{
	unsigned i;

	(void)off;
	for (i = 0; i < c->nauth; i++)
		(void)buf_addf(b, "%s%s", i > 0 ? "," : "",
		    c->auth[i] == AUTH_PAM ? "pam" : "userdb");
}

static void
show_mmap(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	(void)buf_adds(b, c->mmap == MAPFILE_AUTO ? "auto" :
	    c->mmap == MAPFILE_ALWAYS ? "yes" : "no");
}

static void
show_lock_method(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	(void)buf_adds(b, c->lock_method == 2 ? "dotlock" :
	    c->lock_method == 3 ? "both" : "fcntl");
}

static void
show_trusted_proxies(const struct config *c, size_t off, struct buf *b)
{
	char a[64];
	unsigned i;

	(void)off;
	if (c->ntrusted == 0)
		(void)buf_adds(b, "none");
	for (i = 0; i < c->ntrusted; i++) {
		if (inet_ntop(c->trusted[i].family, c->trusted[i].addr, a,
		    sizeof(a)) == NULL)
			snprintf(a, sizeof(a), "?");
		(void)buf_addf(b, "%s%s/%u", i > 0 ? " " : "", a,
		    c->trusted[i].bits);
	}
}

static void
show_quota(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	if (!quotadef_any(&c->quota))
		(void)buf_adds(b, "none");
	else
		(void)buf_addf(b, "%llu %llu",
		    (unsigned long long)c->quota.bytes,
		    (unsigned long long)c->quota.messages);
}

static void
show_syslog_facility(const struct config *c, size_t off, struct buf *b)
{
	const char *name = log_facility_name(c->syslog_facility);

	(void)off;
	(void)buf_adds(b, name != NULL ? name : "mail");
}

static void
show_hierarchy_separator(const struct config *c, size_t off, struct buf *b)
{
	(void)off;
	(void)buf_addc(b, c->hierarchy_separator);
}

static void
show_special_use(const struct config *c, size_t off, struct buf *b)
{
	unsigned i;

	(void)off;
	for (i = 0; i < c->nspecial; i++)
		(void)buf_addf(b, "%s%s:%s", i > 0 ? " " : "",
		    c->special[i].name, c->special[i].flag);
}

#define STR(k)	p_##k, show_str, offsetof(struct config, k)
#define UINT(k)	p_##k, show_uint, offsetof(struct config, k)
#define BOOL(k)	p_##k, show_bool, offsetof(struct config, k)
#define MS(k, f) p_##k, show_duration, offsetof(struct config, f)
#define OWN(k)	p_##k, show_##k, 0

static const struct keydef keys[] = {
	{ "allow_plaintext_auth",	BOOL(allow_plaintext_auth) },
	{ "app_passwords",		STR(app_passwords) },
	{ "auth",			OWN(auth) },
	{ "auth_fail_delay",		MS(auth_fail_delay, auth_fail_delay_ms) },
	{ "auth_penalty_max",		MS(auth_penalty_max, auth_penalty_max_ms) },
	{ "drain_timeout",		MS(drain_timeout, drain_timeout_ms) },
	{ "first_valid_uid",		UINT(first_valid_uid) },
	{ "hierarchy_separator",	OWN(hierarchy_separator) },
	{ "hostname",			STR(hostname) },
	{ "idle_poll",			MS(idle_poll, idle_poll_ms) },
	{ "inbox_prefix",		BOOL(inbox_prefix) },
	{ "listen_imap",		OWN(listen_imap) },
	{ "listen_imaps",		OWN(listen_imaps) },
	{ "lock_method",		OWN(lock_method) },
	{ "lock_timeout",		MS(lock_timeout, lock_timeout_ms) },
	{ "login_chroot",		STR(login_chroot) },
	{ "login_policy",		STR(login_policy) },
	{ "login_user",			STR(login_user) },
	{ "mail_location",		STR(mail_location) },
	{ "max_prelogin_per_address",	UINT(max_prelogin_per_address) },
	{ "max_sessions",		UINT(max_sessions) },
	{ "max_user_sessions",		UINT(max_user_sessions) },
	{ "max_user_sessions_per_address", UINT(max_user_sessions_per_address) },
	{ "mmap",			OWN(mmap) },
	{ "pam_service",		STR(pam_service) },
	{ "pam_session",		BOOL(pam_session) },
	{ "prefork",			UINT(prefork) },
	{ "proxy_protocol",		BOOL(proxy_protocol) },
	{ "quota",			OWN(quota) },
	{ "search_index",		BOOL(search_index) },
	{ "special_use",		OWN(special_use) },
	{ "store_check",		STR(store_check) },
	{ "store_check_timeout",	MS(store_check_timeout,
					    store_check_timeout_ms) },
	{ "store_marker",		STR(store_marker) },
	{ "syslog_facility",		OWN(syslog_facility) },
	{ "timeout_login",		MS(timeout_login, timeout_login_ms) },
	{ "timeout_output",		MS(timeout_output, timeout_output_ms) },
	{ "timeout_session",		MS(timeout_session, timeout_session_ms) },
	{ "tls_cert",			STR(tls_cert) },
	{ "tls_ciphers",		STR(tls_ciphers) },
	{ "tls_ciphersuites",		STR(tls_ciphersuites) },
	{ "tls_groups",			STR(tls_groups) },
	{ "tls_key",			STR(tls_key) },
	{ "tls_min_version",		OWN(tls_min_version) },
	{ "trusted_proxies",		OWN(trusted_proxies) },
	{ "userdb",			STR(userdb) },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS == CONFIG_NKEYS, "CONFIG_NKEYS must count the keys");

void
config_defaults(struct config *c)
{
	const char *why = NULL;

	memset(c, 0, sizeof(*c));
	(void)config_parse_listen("*:143", c->imap, CONFIG_MAX_LISTEN,
	    &c->nimap, &why);
	(void)config_parse_listen("*:993", c->imaps, CONFIG_MAX_LISTEN,
	    &c->nimaps, &why);
	c->tls_cert = xstrdup("/etc/imapd/cert.pem");
	c->tls_key = xstrdup("/etc/imapd/key.pem");
	c->tls_min_version = 12;
	/* Mozilla's "intermediate" profile: ECDHE and AEAD ciphers only in
	 * TLS 1.2 (no RSA key exchange, no CBC, no SHA-1; no DHE, whose
	 * groups clients cannot check), every TLS 1.3 suite */
	c->tls_ciphers = xstrdup("ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305");
	c->tls_ciphersuites = xstrdup("TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	c->tls_groups = xstrdup("X25519:prime256v1:secp384r1");
	c->auth[0] = AUTH_PAM;
	c->nauth = 1;
	c->pam_service = xstrdup("imapd");
	c->userdb = xstrdup("/etc/imapd/userdb.cdb");
	c->app_passwords = xstrdup(APPPASS_PATH);
	c->login_policy = xstrdup("/etc/imapd/login-policy");
	c->mail_location = xstrdup("~/Maildir");
	c->login_user = xstrdup("imapd");
	c->login_chroot = xstrdup("/var/lib/imapd/empty");
	c->prefork = 4;
	c->max_sessions = 1000;
	c->max_prelogin_per_address = 20;
	c->max_user_sessions = 100;
	c->max_user_sessions_per_address = 20;
	c->pam_session = 1;
	c->allow_plaintext_auth = 0;
	(void)p_special_use(c, "Sent:\\Sent Drafts:\\Drafts Trash:\\Trash "
	    "Junk:\\Junk Archive:\\Archive");
	c->timeout_login_ms = 60 * 1000;
	c->timeout_session_ms = 30 * 60 * 1000;
	c->timeout_output_ms = 60 * 1000;
	c->drain_timeout_ms = 60 * 1000;
	c->store_check = xstrdup("");
	c->store_check_timeout_ms = 10 * 1000;
	c->auth_fail_delay_ms = 2000;
	c->auth_penalty_max_ms = 15000;
	c->syslog_facility = log_facility_byname("mail");
	c->first_valid_uid = 1000;
	c->mmap = MAPFILE_AUTO;
	c->lock_timeout_ms = 30 * 1000;
	c->lock_method = 1;
	c->idle_poll_ms = 0;
	c->hostname = xstrdup("");
	c->store_marker = xstrdup("");
	c->search_index = 1;
	c->hierarchy_separator = '/';
	c->inbox_prefix = 0;
}

void
config_free(struct config *c)
{
	free(c->path);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c->tls_groups);
	free(c->pam_service);
	free(c->userdb);
	free(c->app_passwords);
	free(c->login_policy);
	free(c->mail_location);
	free(c->login_user);
	free(c->login_chroot);
	free(c->store_check);
	free(c->hostname);
	free(c->store_marker);
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
	return keys[i].parse(arg, value);
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
		keys[i].show(c, keys[i].off, &b);
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
