/*
 * tls: the server's TLS context.
 *
 * The context holds the certificate chain, the cipher settings and a key
 * made from the certificate's public key that signs through the key
 * process (keyproc.h); the master builds it and every front inherits it.
 * The private key is loaded only by the key process and by a short-lived
 * child when the configuration is checked.
 */
#ifndef IMAPD_TLS_H
#define IMAPD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;

/* Initialize OpenSSL in the master, before workers are forked: the
 * library's tables, providers and algorithm caches are then shared by
 * every front instead of being built again in each (no key is loaded). */
void	tls_preload(void);

/* Build a server context from tls_cert (a chain file: the certificate
 * first, then intermediates), tls_ciphers, tls_ciphersuites and
 * tls_groups, with a key whose private operations go to the key process;
 * tls_key is not read.  NULL on failure, with a sentence naming the file
 * or setting and the likely fix in err. */
SSL_CTX	*tls_ctx_new(const struct config *, char *err, size_t errlen);

/* Check the context's settings and the key file (keyfile_load) in a
 * throw-away child process so that the caller never holds the key.  0 if
 * usable, else -1 with err. */
int	tls_check(const struct config *, char *err, size_t errlen);

#endif
