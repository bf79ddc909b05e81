/*
 * keyfile: the TLS private key file, read by the key process and by the
 * configuration check, never by another process.
 */
#ifndef IMAPD_KEYFILE_H
#define IMAPD_KEYFILE_H

#include <stddef.h>

#include <openssl/evp.h>

struct config;

/*
 * Open and load tls_key.  The file must be a regular file owned by root
 * (by the user imapd runs as, when not root) that neither group nor
 * others may read or write, in a directory only its owner may change,
 * below directories that others may not change (unless sticky); it must
 * hold a PEM key without a passphrase that matches the first certificate
 * of tls_cert.  The key, or NULL with a sentence naming the file and the
 * fix in err.
 */
EVP_PKEY *keyfile_load(const struct config *, char *err, size_t errlen);

#endif
