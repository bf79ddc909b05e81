/*
 * tls: the server's TLS context.
 *
 * The private key is loaded only by the process that will speak TLS (the
 * front, before it chroots and drops to login_user) and by a short-lived
 * child when the master checks the configuration; neither the master nor a
 * back process running as a mail user ever holds it.
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
 * first, then intermediates) and tls_key.  NULL on failure, with a
 * sentence naming the file and the likely fix in err. */
SSL_CTX	*tls_ctx_new(const struct config *, char *err, size_t errlen);

/* Check cert and key in a throw-away child process so that the caller
 * never holds the key.  0 if usable, else -1 with err. */
int	tls_check(const struct config *, char *err, size_t errlen);

#endif
