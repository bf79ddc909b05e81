/*
 * apppass: app passwords, one per device, labelled and revocable, for
 * userdb and PAM users alike.
 *
 * A user gives each mail client its own generated password instead of the
 * account's password, and can revoke one device without changing the
 * others.  They live in a cdb file of their own (the app_passwords key of
 * imapd.conf(5)), kept by imapd-userdb(8), so that rebuilding the userdb
 * from its text file never drops them and PAM users have them too.  The
 * record format is described at the top of apppass.c.
 *
 * A generated password is APPPASS_CHARS characters of a 32-letter alphabet
 * without look-alikes (no 0 o 1 l), 100 bits from getrandom(2), shown in
 * groups of four joined by "-".  Its first APPPASS_SELECTOR characters are
 * stored in clear beside the hash, so that a login hashes against exactly
 * one stored entry (or a dummy of the same cost): the work a login costs
 * does not depend on how many app passwords the user has, or whether any.
 */
#ifndef COMMON_APPPASS_H
#define COMMON_APPPASS_H

#include <stddef.h>

#include "common/lib/buf.h"

#define APPPASS_PATH		"/etc/imapd/app-passwords.cdb"
#define APPPASS_MAX		32	/* app passwords per user */
#define APPPASS_LABEL_MAX	32	/* bytes in a label */
#define APPPASS_CHARS		20	/* characters of a password, no dashes */
#define APPPASS_SELECTOR	4	/* its leading characters kept in clear */
/* "xxxx-xxxx-xxxx-xxxx-xxxx" and its NUL */
#define APPPASS_TEXT_SIZE	(APPPASS_CHARS + APPPASS_CHARS / 4)
#define APPPASS_HASH_MAX	127
#define APPPASS_RECORD_MAX	(APPPASS_MAX * (APPPASS_LABEL_MAX + \
	    APPPASS_SELECTOR + APPPASS_HASH_MAX + 24))

struct apppass {
	char		label[APPPASS_LABEL_MAX + 1];
	char		selector[APPPASS_SELECTOR + 1];
	long long	created;	/* seconds since the epoch */
	char		hash[APPPASS_HASH_MAX + 1];	/* crypt(3) */
};

/* 0 if label is a usable label: 1 to APPPASS_LABEL_MAX bytes of letters,
 * digits and ". _ - @ +"; else -1 with a static reason in *why_r. */
int	apppass_check_label(const char *label, const char **why_r);

/*
 * Parse a user's record (len bytes, the format of apppass.c) into at most
 * max entries.  0 with the count in *n_r, or -1 with a static reason.
 */
int	apppass_parse(const char *rec, size_t len, struct apppass *, size_t max,
	    size_t *n_r, const char **why_r);

/* Append the record of n entries to out.  0, or -1 (out is full). */
int	apppass_format(const struct apppass *, size_t n, struct buf *out);

/*
 * The app passwords of user in the cdb file at path: 1 with the entries
 * in a[] (at most max) and their count in *n_r, 0 if the user has none,
 * -1 with a static reason in *why_r on error (errno ENOENT if there is no
 * file).
 */
int	apppass_read(const char *path, const char *user, struct apppass *a,
	    size_t max, size_t *n_r, const char **why_r);

/*
 * A new password: its text as shown ("xxxx-xxxx-xxxx-xxxx-xxxx") in text
 * (APPPASS_TEXT_SIZE bytes) and the form that is hashed (APPPASS_CHARS
 * characters and NUL) in plain.  0, or -1 if getrandom(2) failed.
 */
int	apppass_generate(char *text, char *plain);

/*
 * The form of pass that is hashed, in plain (APPPASS_CHARS + 1 bytes):
 * dashes and blanks dropped, letters in lower case (phones capitalise).
 * 0, or -1 if pass cannot be an app password.
 */
int	apppass_normalize(const char *pass, char *plain);

/*
 * Whether pass is one of user's app passwords in the file at path: 1 with
 * the entry's label in label (APPPASS_LABEL_MAX + 1 bytes), else 0.
 * Exactly one hash is computed whenever the file exists and pass has the
 * shape of an app password, whatever the user has; none otherwise (both
 * are known to whoever sent pass).  -1 with a static reason in *why_r
 * when the file cannot be read (the hash has been spent all the same).
 */
int	apppass_verify(const char *path, const char *user, const char *pass,
	    char *label, const char **why_r);

#endif
