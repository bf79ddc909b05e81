/*
 * auth: PAM and userdb credential checks.  See auth.h.
 *
 * Constant shape.  A failed login tells the client nothing about why it
 * failed: not by its answer (always the same NO) and not by its timing.
 *   - Accounts that may never log in are refused before any password is
 *     looked at: root, a uid below first_valid_uid, gid 0, and (as root,
 *     from the shadow file) locked and expired accounts and passwords that
 *     must be changed first.  Checking a password first would say, by
 *     whatever the check does next, that it was right.  PAM's account check
 *     still runs after a good password, for what its modules know and the
 *     shadow file does not.
 *   - A user the userdb does not know, or knows but refuses, costs one hash
 *     of the kind the file's own users have (userdb_verify_absent), as a
 *     known user's wrong password does.
 *   - Every login whose password has the shape of an app password, and
 *     only those, costs one hash against the app-password file (against
 *     the entry its first characters select, or a dummy of the same
 *     cost), before and whatever the rest of the check does: whether a
 *     user has app passwords does not show (apppass.h).
 *   - PAM's own delay after a failure (pam_unix sleeps two seconds or more
 *     after a wrong password, not after an unknown user) is replaced by a
 *     PAM_FAIL_DELAY function that does nothing; the back answers every
 *     failure at one deadline instead (see back.c).
 * The log still says exactly why each login failed.
 *
 * PAM: pam_authenticate then pam_acct_mgmt, with PAM_RHOST set to the
 * client's address so pam_access/pam_faillock and the logs see it.
 * PAM_RUSER is left unset: it names a user on the remote host vouched for
 * by that host, and the only name here is the one the client typed.  The
 * conversation answers password prompts with the password and nothing
 * else.  With pam_session, the handle of a good login lives on for
 * pam_setcred and pam_open_session/pam_close_session, which the back runs
 * as root (see back.c for which process closes the session).
 */
#include <errno.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "common/lib/apppass.h"
#include "common/lib/log.h"
#include "common/lib/userdb.h"
#include "common/lib/wipe.h"
#include "imapd/auth.h"
#include "imapd/config.h"

struct conv_data {
	const char	*pass;
};

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp_r,
    void *appdata)
{
	struct conv_data *cd = appdata;
	struct pam_response *resp;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	if ((resp = calloc((size_t)n, sizeof(*resp))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			if ((resp[i].resp = strdup(cd->pass)) == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			log_info("PAM says: %s", msg[i]->msg != NULL ?
			    msg[i]->msg : "");
			break;
		default:
			/* no one to answer a visible prompt */
			goto fail;
		}
	}
	*resp_r = resp;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++) {
		wipe_str(resp[i].resp);
		free(resp[i].resp);
	}
	free(resp);
	return PAM_CONV_ERR;
}

static int
copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* PAM's delay after a failure: none, the back keeps one deadline. */
static void
no_delay(int status, unsigned usec, void *appdata)
{
	(void)status;
	(void)usec;
	(void)appdata;
}

/*
 * As root, why the shadow entry bars the account from logging in, or NULL.
 * The rules are pam_unix's account rules, so that an account refused here
 * is one pam_acct_mgmt would refuse after the password.
 */
static const char *
shadow_reason(const char *user)
{
	struct spwd *sp;
	long today, age;

	if (geteuid() != 0 || (sp = getspnam(user)) == NULL)
		return NULL;
	if (sp->sp_pwdp != NULL && sp->sp_pwdp[0] == '!')
		return "account is locked (passwd -l / usermod -L; "
		    "usermod -U unlocks it)";
	if (sp->sp_pwdp != NULL && sp->sp_pwdp[0] == '*')
		return "account has no password that can log in "
		    "(* in /etc/shadow)";
	today = (long)(time(NULL) / 86400);
	if (sp->sp_expire > 0 && today >= sp->sp_expire)
		return "account has expired (chage -E)";
	if (sp->sp_lstchg == 0)
		return "password must be changed first (chage -d 0)";
	age = today - sp->sp_lstchg;
	if (sp->sp_lstchg < 0 || age < 0 || sp->sp_max < 0 || age <= sp->sp_max)
		return NULL;
	if (sp->sp_inact >= 0 && age > sp->sp_max + sp->sp_inact)
		return "password expired and the account is inactive "
		    "(chage -M, chage -I)";
	return "password has expired and must be changed (chage -M)";
}

/*
 * Whether whom a login would become may log in here; logs why not.  A
 * non-root imapd serves only its own user.  As root: never root, no uid
 * below first_valid_uid (system accounts), no gid 0 (root's group owns
 * what a mail session must not touch).
 */
static int
ids_ok(const struct config *conf, const char *name, uid_t uid, gid_t gid)
{
	if (geteuid() != 0) {
		if (uid == geteuid())
			return 1;
		log_info("login refused: this imapd runs as uid %lu and serves "
		    "only that user, not %s (uid %lu); run it as root to "
		    "serve other users", (unsigned long)geteuid(), name,
		    (unsigned long)uid);
		return 0;
	}
	if (uid == 0 || uid < conf->first_valid_uid) {
		log_info("login refused: %s has uid %lu, below "
		    "first_valid_uid %u (system accounts do not read mail "
		    "here)", name, (unsigned long)uid, conf->first_valid_uid);
		return 0;
	}
	if (gid == 0) {
		log_info("login refused: %s has gid 0, root's group (give the "
		    "account a group of its own)", name);
		return 0;
	}
	return 1;
}

static enum auth_result
pam_fail(pam_handle_t *h, int r, enum auth_result res)
{
	pam_end(h, r);
	return res;
}

static enum auth_result
pam_check(const struct config *conf, const struct passwd *pw,
    const char *pass, int app, const char *rip, struct auth_user *u)
{
	struct conv_data cd = { .pass = pass };
	struct pam_conv pc = { .conv = conv, .appdata_ptr = &cd };
	pam_handle_t *h = NULL;
	const void *item = NULL;
	char user[AUTH_NAME_MAX + 1];
	const char *why;
	int r;

	/* pw is NSS's static storage, which PAM's modules overwrite */
	if (copy(user, sizeof(user), pw->pw_name) == -1)
		return AUTH_FAILED;
	if (!ids_ok(conf, user, pw->pw_uid, pw->pw_gid))
		return AUTH_FAILED;
	if ((why = shadow_reason(user)) != NULL) {
		log_info("login refused: %s", why);
		return AUTH_FAILED;
	}
	if ((r = pam_start(conf->pam_service, user, &pc, &h)) != PAM_SUCCESS) {
		log_warnx("PAM: cannot start service %s: %s (check "
		    "/etc/pam.d/%s)", conf->pam_service, pam_strerror(h, r),
		    conf->pam_service);
		return AUTH_TEMPFAIL;
	}
	if (rip[0] != '\0')
		(void)pam_set_item(h, PAM_RHOST, rip);
	(void)pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_delay);
	/* an app password stands in for PAM's own authentication; the
	 * account check below still runs */
	r = app ? PAM_SUCCESS :
	    pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r != PAM_SUCCESS) {
		log_info("login failed: PAM (%s) says: %s", conf->pam_service,
		    pam_strerror(h, r));
		return pam_fail(h, r, r == PAM_AUTHINFO_UNAVAIL ||
		    r == PAM_BUF_ERR || r == PAM_SYSTEM_ERR ? AUTH_TEMPFAIL :
		    AUTH_FAILED);
	}
	r = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r != PAM_SUCCESS) {
		switch (r) {
		case PAM_ACCT_EXPIRED:
			why = "account has expired";
			break;
		case PAM_NEW_AUTHTOK_REQD:
			why = "password has expired and must be changed";
			break;
		case PAM_PERM_DENIED:
			why = "access denied by account policy";
			break;
		default:
			why = pam_strerror(h, r);
			break;
		}
		log_info("login refused: PAM (%s) account check: %s",
		    conf->pam_service, why);
		return pam_fail(h, r, AUTH_FAILED);
	}
	/* a module may have mapped the name (e.g. case folding); the item
	 * belongs to the handle, so look the user up while it lives */
	if (pam_get_item(h, PAM_USER, &item) != PAM_SUCCESS || item == NULL)
		item = user;
	if ((pw = getpwnam(item)) == NULL) {
		log_warnx("login failed: PAM accepted the user but there is "
		    "no such user in the passwd database");
		return pam_fail(h, PAM_USER_UNKNOWN, AUTH_FAILED);
	}
	if (copy(u->name, sizeof(u->name), pw->pw_name) == -1 ||
	    copy(u->home, sizeof(u->home), pw->pw_dir) == -1) {
		log_warnx("login failed: user name or home too long");
		return pam_fail(h, PAM_BUF_ERR, AUTH_FAILED);
	}
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	if (!ids_ok(conf, u->name, u->uid, u->gid))
		return pam_fail(h, PAM_PERM_DENIED, AUTH_FAILED);
	u->initgroups = 1;
	u->maildir[0] = '\0';
	memset(&u->quota, 0, sizeof(u->quota));
	memcpy(u->method, "pam", 4);
	if (conf->pam_session)
		u->pam = h;
	else
		pam_end(h, PAM_SUCCESS);
	return AUTH_OK;
}

/* Refuse, or check the password of, a user the userdb knows.  Either way
 * exactly one hash is computed, none when an app password (app) has
 * already matched: that login succeeds, and its timing hides nothing. */
static enum auth_result
userdb_check(const struct config *conf, const struct userdb_entry *e,
    const char *pass, int app, struct auth_user *u)
{
	if (e->hash[0] != '$') {
		userdb_verify_absent(conf->userdb, pass);
		log_info("login refused: account is locked in the userdb %s "
		    "(its hash starts with %c)", conf->userdb, e->hash[0]);
		return AUTH_FAILED;
	}
	if (!ids_ok(conf, e->name, e->uid, e->gid)) {
		userdb_verify_absent(conf->userdb, pass);
		return AUTH_FAILED;
	}
	if (!app && !userdb_verify(e, pass)) {
		log_info("login failed: wrong password (userdb %s)",
		    conf->userdb);
		return AUTH_FAILED;
	}
	if (copy(u->name, sizeof(u->name), e->name) == -1 ||
	    copy(u->home, sizeof(u->home), e->home) == -1 ||
	    copy(u->maildir, sizeof(u->maildir),
	    e->maildir != NULL ? e->maildir : "") == -1) {
		log_warnx("login failed: userdb entry too long");
		return AUTH_FAILED;
	}
	u->uid = e->uid;
	u->gid = e->gid;
	u->quota = e->quota;
	u->initgroups = 0;
	memcpy(u->method, "userdb", 7);
	return AUTH_OK;
}

/* 1 if user is a name worth looking up. */
static int
name_ok(const char *user)
{
	size_t i, len = strnlen(user, AUTH_NAME_MAX + 1);

	if (len == 0 || len > AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return 0;
	return 1;
}

enum auth_result
auth_check(const struct config *conf, const char *user, const char *pass,
    const char *rip, struct auth_user *u)
{
	struct userdb_entry e;
	struct passwd *pw;
	char err[256], label[APPPASS_LABEL_MAX + 1];
	const char *why = NULL;
	enum auth_result r;
	unsigned i;
	int found, app;

	memset(u, 0, sizeof(*u));
	if (!name_ok(user)) {
		log_info("login failed: the user name is empty, longer than "
		    "%d bytes or holds control characters", AUTH_NAME_MAX);
		return AUTH_FAILED;
	}
	/* first, and for every user: it costs the same for all */
	app = apppass_verify(conf->app_passwords, user, pass, label, &why);
	if (app == -1) {
		log_warnx("app passwords: %s: %s (no app password can log in "
		    "until it is fixed with imapd-userdb)", conf->app_passwords,
		    why);
		app = 0;
	}
	for (i = 0; i < conf->nauth; i++) {
		if (conf->auth[i] == AUTH_USERDB) {
			found = userdb_lookup(conf->userdb, user, &e, err,
			    sizeof(err));
			if (found == -1) {
				log_warnx("userdb %s: %s", conf->userdb, err);
				return AUTH_TEMPFAIL;
			}
			if (found == 0) {
				/* what a wrong password would have cost */
				userdb_verify_absent(conf->userdb, pass);
				continue;
			}
			r = userdb_check(conf, &e, pass, app, u);
			userdb_entry_free(&e);
		} else {
			/* PAM knows the users the passwd database knows */
			if ((pw = getpwnam(user)) == NULL)
				continue;
			r = pam_check(conf, pw, pass, app, rip, u);
		}
		if (r == AUTH_OK && app)
			memcpy(u->label, label, sizeof(u->label));
		return r;
	}
	log_info("login failed: unknown user (auth = %s%s)",
	    conf->auth[0] == AUTH_PAM ? "pam" : "userdb",
	    conf->nauth > 1 ? (conf->auth[1] == AUTH_PAM ? ",pam" :
	    ",userdb") : "");
	return AUTH_FAILED;
}

static const char *
service(pam_handle_t *h)
{
	const void *item = NULL;

	if (pam_get_item(h, PAM_SERVICE, &item) != PAM_SUCCESS ||
	    item == NULL)
		return "?";
	return item;
}

int
auth_session_open(struct auth_user *u)
{
	pam_handle_t *h = u->pam;
	const char *what = "establish the credentials";
	int r;

	if (h == NULL)
		return 0;
	/* credentials first, then the session (pam_setcred(3)) */
	r = pam_setcred(h, PAM_ESTABLISH_CRED | PAM_SILENT);
	if (r == PAM_SUCCESS) {
		what = "open the session";
		r = pam_open_session(h, PAM_SILENT);
		if (r != PAM_SUCCESS)
			(void)pam_setcred(h, PAM_DELETE_CRED | PAM_SILENT);
	}
	if (r != PAM_SUCCESS) {
		log_warnx("login refused: PAM (%s) could not %s: %s (check the "
		    "session lines of /etc/pam.d/%s)", service(h), what,
		    pam_strerror(h, r), service(h));
		pam_end(h, r);
		u->pam = NULL;
		return -1;
	}
	/* modules that wanted the password (pam_mount) have had it; PAM
	 * wipes its copy when the item is replaced */
	(void)pam_set_item(h, PAM_AUTHTOK, NULL);
	return 0;
}

void
auth_session_close(struct auth_user *u)
{
	pam_handle_t *h = u->pam;
	int r;

	if (h == NULL)
		return;
	r = pam_close_session(h, PAM_SILENT);
	if (r != PAM_SUCCESS)
		log_warnx("PAM (%s) could not close the session: %s",
		    service(h), pam_strerror(h, r));
	(void)pam_setcred(h, PAM_DELETE_CRED | PAM_SILENT);
	pam_end(h, r);
	u->pam = NULL;
}

void
auth_end(struct auth_user *u)
{
	if (u->pam != NULL)
		pam_end(u->pam, PAM_SUCCESS);
	u->pam = NULL;
}

void
auth_forget(struct auth_user *u)
{
	if (u->pam != NULL)
		pam_end(u->pam, PAM_SUCCESS | PAM_DATA_SILENT);
	u->pam = NULL;
}

int
auth_self(struct auth_user *u)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if ((pw = getpwuid(getuid())) == NULL)
		return -1;
	if (copy(u->name, sizeof(u->name), pw->pw_name) == -1 ||
	    copy(u->home, sizeof(u->home), pw->pw_dir) == -1)
		return -1;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->initgroups = 0;
	memcpy(u->method, "self", 5);
	return 0;
}
