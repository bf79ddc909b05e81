/*
 * objectid: the object identifiers of RFC 8474 (OBJECTID) for Maildir
 * folders and messages, kept where the things they name already live, so
 * that nothing can hold one without the other.
 *
 * MAILBOXID: 128 random bits, written once into the folder's directory as
 * the file "imapd-mailboxid" ("F" and 32 hex digits, a newline).  The
 * file moves with the directory when the folder (or a parent, which
 * moves its children's directories) is renamed, and goes with it when the
 * folder is deleted, so a folder created again under the same name gets
 * new bits.  A folder made by another program gets its file the first
 * time a session asks; two sessions asking at once agree, because the
 * file is put in place with link(), which never replaces.
 *
 * EMAILID: "M" and 32 hex digits.  A message's base name (the part of its
 * file name before ":2,") is unique and survives every flag change that
 * any Maildir program makes, and the UID cache already treats it as the
 * message's identity; so the EMAILID is the first 128 bits of SHA-256 of
 * the base name, which needs no storage, survives the loss or rebuild of
 * every cache, and is the same in every session.  A message that COPY or
 * MOVE places under a new base name carries its source's EMAILID in the
 * field ",E=M<32 hex digits>" of that name (RFC 8474 5.1: the same
 * EMAILID after COPY and MOVE); a base name with such a field has that
 * EMAILID, any other has the hash of its own bytes.
 *
 * THREADID: "T" and 32 hex digits, the first 128 bits of SHA-256 of the
 * message ID that names the thread (imapd/threadid.h says which), so
 * that it needs no storage either and never changes.
 */
#ifndef MAILDIR_OBJECTID_H
#define MAILDIR_OBJECTID_H

#include <stddef.h>

#define OBJECTID_MAX	255	/* RFC 8474 7: 1*255 characters */
#define OBJECTID_LEN	33	/* this store's: a letter, 32 hex */
#define OBJECTID_FILE	"imapd-mailboxid"

/* 1 if s (len bytes) is an objectid of RFC 8474 7: 1 to 255 of ALPHA,
 * DIGIT, "_" and "-"; else 0. */
int	objectid_valid(const char *s, size_t len);

/*
 * The MAILBOXID of the folder whose directory is dirfd, into out (NUL-
 * terminated), made and recorded first if the folder has none yet.  A
 * file that does not hold one (damaged) is replaced by a new one, and
 * logged.  0, or -1 with errno (the file could not be read or made).
 */
int	objectid_mailbox(int dirfd, char out[OBJECTID_LEN + 1]);

/* The same for the folder at path (a path from folder_path()), opened
 * as folder_open() does; its errors, ENOENT for no such folder. */
int	objectid_folder(const char *path, char out[OBJECTID_LEN + 1]);

/* The EMAILID of the message whose base name is base (NUL-terminated,
 * without the info), into out (NUL-terminated). */
void	objectid_email(const char *base, char out[OBJECTID_LEN + 1]);

/* The THREADID of a thread named by the message ID root (len bytes, as
 * imapd/threadid.h chooses it), into out (NUL-terminated). */
void	objectid_thread(const char *root, size_t len,
	    char out[OBJECTID_LEN + 1]);

/*
 * Make the new base name in base (NUL-terminated, in a buffer of size
 * bytes) carry emailid, an EMAILID of this store, by appending its field.
 * 0, or -1 with errno ENAMETOOLONG if it does not fit (base unchanged).
 */
int	objectid_carry(char *base, size_t size, const char *emailid);

#endif
