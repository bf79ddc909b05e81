/*
 * auth: PAM and userdb credential checks.  See auth.h.
 *
 * PAM: pam_authenticate then pam_acct_mgmt (an expired or locked account
 * is refused even with the right password), with PAM_RHOST set to the
 * client's address so pam_access/pam_faillock and the logs see it.  The
 * conversation answers password prompts with the password and nothing
 * else.  Root-only: when PAM says no and the shadow entry shows a locked
 * or expired account, the log says so, because "authentication failed"
 * alone sends a sysadmin hunting for a typo.
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

#include "common/config.h"
#include "common/log.h"
#include "common/userdb.h"
#include "common/wipe.h"
#include "imapd/auth.h"

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

/* Say, as root, what the shadow entry reveals about a refused account. */
static const char *
shadow_reason(const char *user)
{
	struct spwd *sp;
	long today;

	if (geteuid() != 0 || (sp = getspnam(user)) == NULL)
		return NULL;
	if (sp->sp_pwdp != NULL && sp->sp_pwdp[0] == '!')
		return "account is locked (passwd -l / usermod -L)";
	today = (long)(time(NULL) / 86400);
	if (sp->sp_expire > 0 && today >= sp->sp_expire)
		return "account has expired (chage -E)";
	if (sp->sp_lstchg == 0)
		return "password must be changed first (chage -d 0)";
	return NULL;
}

static enum auth_result
pam_check(const struct config *conf, const char *user, const char *pass,
    const char *rip, struct auth_user *u)
{
	struct conv_data cd = { .pass = pass };
	struct pam_conv pc = { .conv = conv, .appdata_ptr = &cd };
	pam_handle_t *h = NULL;
	const void *item = NULL;
	const char *why;
	struct passwd *pw;
	int r;

	if ((r = pam_start(conf->pam_service, user, &pc, &h)) != PAM_SUCCESS) {
		log_warnx("PAM: cannot start service %s: %s (check "
		    "/etc/pam.d/%s)", conf->pam_service, pam_strerror(h, r),
		    conf->pam_service);
		return AUTH_TEMPFAIL;
	}
	if (rip[0] != '\0')
		(void)pam_set_item(h, PAM_RHOST, rip);
	(void)pam_set_item(h, PAM_RUSER, user);
	r = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r != PAM_SUCCESS) {
		why = shadow_reason(user);
		log_info("login failed: PAM (%s) says: %s%s%s",
		    conf->pam_service, pam_strerror(h, r),
		    why ? "; " : "", why ? why : "");
		pam_end(h, r);
		return r == PAM_AUTHINFO_UNAVAIL || r == PAM_BUF_ERR ||
		    r == PAM_SYSTEM_ERR ? AUTH_TEMPFAIL : AUTH_FAILED;
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
		pam_end(h, r);
		return AUTH_FAILED;
	}
	/* a module may have mapped the name (e.g. case folding); the item
	 * belongs to the handle, so look the user up before pam_end() */
	if (pam_get_item(h, PAM_USER, &item) != PAM_SUCCESS || item == NULL)
		item = user;
	pw = getpwnam(item);
	pam_end(h, PAM_SUCCESS);
	if (pw == NULL) {
		log_warnx("login failed: PAM accepted the user but there is "
		    "no such user in the passwd database");
		return AUTH_FAILED;
	}
	if (copy(u->name, sizeof(u->name), pw->pw_name) == -1 ||
	    copy(u->home, sizeof(u->home), pw->pw_dir) == -1) {
		log_warnx("login failed: user name or home too long");
		return AUTH_FAILED;
	}
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->initgroups = 1;
	u->maildir[0] = '\0';
	memcpy(u->method, "pam", 4);
	return AUTH_OK;
}

static enum auth_result
userdb_check(const struct config *conf, const struct userdb_entry *e,
    const char *pass, struct auth_user *u)
{
	if (!userdb_verify(e, pass)) {
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
	u->initgroups = 0;
	memcpy(u->method, "userdb", 7);
	return AUTH_OK;
}

/* Final checks on whom we would become. */
static enum auth_result
check_uid(const struct config *conf, const struct auth_user *u)
{
	if (geteuid() != 0) {
		if (u->uid != geteuid()) {
			log_info("login refused: this imapd runs as uid %lu "
			    "and serves only that user, not %s (uid %lu); "
			    "run it as root to serve other users",
			    (unsigned long)geteuid(), u->name,
			    (unsigned long)u->uid);
			return AUTH_FAILED;
		}
		return AUTH_OK;
	}
	if (u->uid == 0 || u->uid < conf->first_valid_uid) {
		log_info("login refused: %s has uid %lu, below "
		    "first_valid_uid %u (system accounts do not read mail "
		    "here)", u->name, (unsigned long)u->uid,
		    conf->first_valid_uid);
		return AUTH_FAILED;
	}
	return AUTH_OK;
}

enum auth_result
auth_check(const struct config *conf, const char *user, const char *pass,
    const char *rip, struct auth_user *u)
{
	struct userdb_entry e;
	char err[256];
	enum auth_result r;
	unsigned i;
	int found;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < conf->nauth; i++) {
		if (conf->auth[i] == AUTH_USERDB) {
			found = userdb_lookup(conf->userdb, user, &e, err,
			    sizeof(err));
			if (found == -1) {
				log_warnx("userdb %s: %s", conf->userdb, err);
				return AUTH_TEMPFAIL;
			}
			if (found == 0)
				continue;
			r = userdb_check(conf, &e, pass, u);
			userdb_entry_free(&e);
		} else {
			/* PAM knows the users the passwd database knows */
			if (getpwnam(user) == NULL)
				continue;
			r = pam_check(conf, user, pass, rip, u);
		}
		if (r == AUTH_OK)
			r = check_uid(conf, u);
		return r;
	}
	log_info("login failed: unknown user (auth = %s%s)",
	    conf->auth[0] == AUTH_PAM ? "pam" : "userdb",
	    conf->nauth > 1 ? (conf->auth[1] == AUTH_PAM ? ",pam" :
	    ",userdb") : "");
	return AUTH_FAILED;
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
