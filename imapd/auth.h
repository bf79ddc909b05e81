/*
 * auth: check a user's credentials in the back, as root (or as the one
 * user a non-root imapd serves), through PAM or the cdb userdb, in the
 * order the "auth" setting gives: the first method that knows the user
 * decides.  Every failure costs the same work and says the same thing to
 * the client; only the log says why.
 */
#ifndef IMAPD_AUTH_H
#define IMAPD_AUTH_H

#include <limits.h>
#include <sys/types.h>

#include "common/lib/apppass.h"
#include "common/lib/quotadef.h"

/* The longest user name looked up anywhere (the userdb's limit too). */
#define AUTH_NAME_MAX	255

struct config;
struct pam_handle;

struct auth_user {
	char	name[256];	/* canonical name (PAM may map it) */
	uid_t	uid;
	gid_t	gid;
	int	initgroups;	/* 1: supplementary groups from /etc/group */
	char	home[PATH_MAX];
	char	maildir[PATH_MAX];	/* "" = use mail_location */
	struct quota_limits quota;	/* the userdb's; no limit = none */
	char	method[8];	/* "pam" or "userdb", for the log */
	char	label[APPPASS_LABEL_MAX + 1];	/* app password used, or "" */
	struct pam_handle *pam;	/* kept for the PAM session, or NULL */
};

enum auth_result {
	AUTH_OK,
	AUTH_FAILED,		/* wrong password, unknown or refused user */
	AUTH_TEMPFAIL,		/* a backend could not answer */
};

/*
 * Check user/pass for a client at rip.  On AUTH_OK *u is filled in, and
 * for a PAM login with pam_session on, u->pam holds the PAM handle: pass
 * *u to auth_session_open, or to auth_end if the login goes no further.
 * The log line saying why a login failed is written here.  Names that are
 * empty, longer than AUTH_NAME_MAX or hold control characters are refused
 * before any lookup.
 */
enum auth_result auth_check(const struct config *, const char *user,
	    const char *pass, const char *rip, struct auth_user *u);

/*
 * As root, before the privilege drop: establish the PAM credentials and
 * open the PAM session of a login auth_check accepted (nothing to do
 * without u->pam).  0, or -1 (logged; the handle is gone) if PAM refused.
 */
int	auth_session_open(struct auth_user *u);

/* As root, when the session has ended: close the PAM session, delete the
 * credentials and end the handle. */
void	auth_session_close(struct auth_user *u);

/* End the handle without a session (a login refused after the check). */
void	auth_end(struct auth_user *u);

/* In a child forked after auth_session_open: drop this process's copy of
 * the handle without touching the session, which the parent closes. */
void	auth_forget(struct auth_user *u);

/* The user a non-root imapd serves (the invoking user); for --stdio. */
int	auth_self(struct auth_user *);

#endif
