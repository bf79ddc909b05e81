/*
 * config: imapd.conf, "key = value" lines with "#" comments.
 *
 * Every key has a default, so an empty file is a valid configuration for a
 * non-root test run.  Unknown keys, repeated keys and bad values are errors
 * that name the file, the line and the key; config_load() reports all of
 * them, not just the first.
 */
#ifndef IMAPD_CONFIG_H
#define IMAPD_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "common/lib/cidr.h"
#include "common/lib/listenaddr.h"
#include "common/lib/quotadef.h"

#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_AUTH		2
#define CONFIG_MAX_SPECIAL	16
#define CONFIG_MAX_SESSIONS	100000	/* the most max_sessions may be */
#define CONFIG_MAX_PROXIES	32	/* networks in trusted_proxies */
#define CONFIG_NKEYS		47	/* keys imapd.conf knows */

enum auth_method {
	AUTH_PAM = 1,
	AUTH_USERDB,
};

struct special_use {
	char	name[128];	/* folder name as clients see it */
	char	flag[16];	/* \Sent, \Drafts, ... */
};

struct config {
	char			*path;
	struct listen_addr	 imap[CONFIG_MAX_LISTEN];
	unsigned		 nimap;
	struct listen_addr	 imaps[CONFIG_MAX_LISTEN];
	unsigned		 nimaps;
	char			*tls_cert;
	char			*tls_key;
	int			 tls_min_version;	/* 12 or 13 */
	char			*tls_ciphers;		/* TLS 1.2 */
	char			*tls_ciphersuites;	/* TLS 1.3 */
	char			*tls_groups;
	int			 tls_shared;	/* tls_process = shared: one
						 * process holds the TLS of
						 * every implicit-TLS
						 * connection */
	enum auth_method	 auth[CONFIG_MAX_AUTH];
	unsigned		 nauth;
	char			*pam_service;
	int			 pam_session;	/* open a PAM session */
	char			*userdb;
	char			*app_passwords;
	char			*login_policy;
	char			*mail_location;
	char			*login_user;
	char			*login_chroot;
	unsigned		 prefork;
	unsigned		 max_sessions;
	unsigned		 max_prelogin_per_address;	/* 0: none */
	unsigned		 max_user_sessions;		/* 0: none */
	unsigned		 max_user_sessions_per_address;	/* 0: none */
	int			 allow_plaintext_auth;
	int			 proxy_protocol;	/* a PROXY header first */
	struct cidr		 trusted[CONFIG_MAX_PROXIES];	/* proxies */
	unsigned		 ntrusted;
	struct special_use	 special[CONFIG_MAX_SPECIAL];
	unsigned		 nspecial;
	int			 hierarchy_separator;	/* '/' or '.' */
	int			 inbox_prefix;	/* folders under "INBOX" +
						 * the separator */
	uint64_t		 timeout_login_ms;
	uint64_t		 timeout_session_ms;
	uint64_t		 timeout_output_ms;
	uint64_t		 drain_timeout_ms;	/* SIGUSR2 */
	char			*store_check;		/* imapd -H; "": none */
	uint64_t		 store_check_timeout_ms;
	uint64_t		 auth_fail_delay_ms;
	uint64_t		 auth_penalty_max_ms;
	int			 syslog_facility;
	unsigned		 first_valid_uid;
	int			 mmap;		/* enum mapfile_mode */
	/* a store shared between hosts (NFS, GlusterFS) */
	uint64_t		 lock_timeout_ms;
	int			 lock_method;	/* 1 fcntl, 2 dotlock, 3 both
						 * (enum storelock_method) */
	uint64_t		 idle_poll_ms;	/* 0: inotify alone */
	char			*hostname;	/* in new file names; "":
						 * gethostname() */
	char			*store_marker;	/* "": none */
	int			 search_index;	/* keep and use full-text
						 * indexes */
	struct quota_limits	 quota;		/* default; 0: no limit */
	/* line of config path that set each key, in key name order; 0 for a
	 * default */
	unsigned		 key_line[CONFIG_NKEYS];
};

/*
 * Fill in the defaults, each read as if the file had said it.  The
 * strings are allocated; config_free() them.
 */
void	config_defaults(struct config *);

/*
 * Read path over the defaults.  0 on success.  -1 on any error; then
 * *errors_r (allocated, one "file:line: key: reason" line each) says why
 * and the config holds the defaults plus whatever parsed before.
 */
int	config_load(struct config *, const char *path, char **errors_r);

/*
 * Write the effective configuration to fp: every key, in name order, as a
 * "key = value" line that config_load() reads back, followed by a comment
 * naming where the value came from ("# default" or "# FILE:LINE").  No key
 * holds a secret (tls_key names the key file; its content is never read
 * here).  0 on success, -1 on a write error.
 */
int	config_dump(const struct config *, FILE *);

void	config_free(struct config *);

#endif
