/*
 * keyfile: tls_key, checked and loaded.  See keyfile.h.
 *
 * The key is worth nothing once someone else can read it, and a key that
 * someone else can replace lets them be the server: so the file must be
 * readable and writable by its owner alone, and no one but its owner (or
 * root) may change a directory on the way to it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "imapd/config.h"
#include "imapd/keyfile.h"

/*
 * dir, and every directory above it, must belong to root or to us.  dir
 * itself may be changed by its owner only; a directory above it not by
 * others, unless it is sticky (as /tmp is: others may not rename what
 * they do not own there).  0, or -1 with err.
 */
static int
checkdirs(const char *what, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX], *slash;
	struct stat sb;
	int first = 1;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", what);
		return -1;
	}
	for (;;) {
		if (stat(path[0] != '\0' ? path : "/", &sb) == -1) {
			snprintf(err, errlen, "%s: directory %s: %s", what,
			    path[0] != '\0' ? path : "/", strerror(errno));
			return -1;
		}
		if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
			snprintf(err, errlen, "%s: directory %s belongs to "
			    "uid %lu, who could replace the key (chown root "
			    "%s)", what, path[0] != '\0' ? path : "/",
			    (unsigned long)sb.st_uid,
			    path[0] != '\0' ? path : "/");
			return -1;
		}
		if ((first && (sb.st_mode & 022) != 0) || (!first &&
		    (sb.st_mode & 002) != 0 && (sb.st_mode & S_ISVTX) == 0)) {
			snprintf(err, errlen, "%s: directory %s is writable "
			    "by %s, who could replace the key (chmod go-w %s)",
			    what, path[0] != '\0' ? path : "/",
			    (sb.st_mode & 002) ? "others" : "its group",
			    path[0] != '\0' ? path : "/");
			return -1;
		}
		if (path[0] == '\0')
			return 0;
		first = 0;
		if ((slash = strrchr(path, '/')) == NULL)
			return 0;
		*slash = '\0';
	}
}

/* The directory part of an absolute path, resolved; 0 or -1 (errno). */
static int
realdir(const char *path, char *out)
{
	char tmp[PATH_MAX], *slash;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(tmp, '/')) == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (slash == tmp)
		slash[1] = '\0';
	else
		*slash = '\0';
	return realpath(tmp, out) == NULL ? -1 : 0;
}

/* Open tls_key for reading after checking the file and the directories
 * that lead to it (by its name and, for a link, by where it points).  The
 * checks on the file itself are made on the open descriptor, so they are
 * about the file that is read.  The descriptor, or -1 with err. */
static int
openkey(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	struct stat sb;
	uid_t me = geteuid();
	int fd;

	if (realdir(path, dir) == -1 || realpath(path, real) == NULL) {
		snprintf(err, errlen, "cannot read private key (tls_key) %s: "
		    "%s", path, strerror(errno));
		return -1;
	}
	if (checkdirs("tls_key", dir, err, errlen) == -1)
		return -1;
	if (realdir(real, dir) == -1) {
		snprintf(err, errlen, "cannot read private key (tls_key) %s: "
		    "%s", real, strerror(errno));
		return -1;
	}
	if (checkdirs("tls_key", dir, err, errlen) == -1)
		return -1;
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "cannot read private key (tls_key) %s: "
		    "%s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "private key (tls_key) %s is not a "
		    "regular file", path);
		goto fail;
	}
	if (sb.st_uid != me) {
		snprintf(err, errlen, "private key (tls_key) %s belongs to "
		    "uid %lu, not to %s (chown %s %s)", path,
		    (unsigned long)sb.st_uid, me == 0 ? "root" :
		    "the user imapd runs as", me == 0 ? "root" : "$USER",
		    path);
		goto fail;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "private key (tls_key) %s may be read "
		    "or changed by %s (chmod 600 %s)", path,
		    (sb.st_mode & 007) ? "others" : "its group", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

EVP_PKEY *
keyfile_load(const struct config *conf, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	X509 *cert = NULL;
	BIO *bio;
	int fd;

	ERR_clear_error();
	if ((fd = openkey(conf->tls_key, err, errlen)) == -1)
		return NULL;
	if ((bio = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		snprintf(err, errlen, "cannot load private key (tls_key) %s: "
		    "not a PEM private key without a passphrase",
		    conf->tls_key);
		goto fail;
	}
	if ((bio = BIO_new_file(conf->tls_cert, "r")) == NULL ||
	    (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		BIO_free(bio);
		snprintf(err, errlen, "cannot load certificate (tls_cert) %s",
		    conf->tls_cert);
		goto fail;
	}
	BIO_free(bio);
	if (X509_check_private_key(cert, pk) != 1) {
		snprintf(err, errlen, "private key %s does not match the "
		    "certificate in %s", conf->tls_key, conf->tls_cert);
		goto fail;
	}
	X509_free(cert);
	ERR_clear_error();
	return pk;
fail:
	X509_free(cert);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return NULL;
}
