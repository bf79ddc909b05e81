/*
 * keyclient: the front's side of the key process.
 *
 * A front never holds the TLS private key.  Its SSL_CTX has the
 * certificate and a key made from the certificate's public key alone,
 * whose private operations (RSA and ECDSA signing; nothing else) are
 * forwarded over this process's channel to the key process, one request
 * and one answer.  RSA decryption is refused: the cipher settings never
 * allow RSA key exchange.
 */
#ifndef IMAPD_KEYCLIENT_H
#define IMAPD_KEYCLIENT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A key for cert's public key (RSA or EC) whose signatures come from the
 * key process.  NULL with err for another key type. */
EVP_PKEY *keyclient_pkey(X509 *cert, char *err, size_t errlen);

/* The channel this process signs through (the worker's end, inherited
 * by its front), -1 for none.  keyclient_close() closes it: the back
 * before anything else, the front once it has done its TLS handshake. */
void	keyclient_setfd(int);
int	keyclient_fd(void);
void	keyclient_close(void);

#endif
