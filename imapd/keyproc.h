/*
 * keyproc: the key process, the only process that holds the TLS private
 * key once imapd runs.
 *
 * The master forks one at start and one more at each reload with a new
 * certificate.  It loads tls_key (after checking who owns the file and
 * who may change it), then confines itself to login_chroot as login_user,
 * non-dumpable, holding nothing but its sockets, and signs for the fronts:
 * each worker gets its own SOCK_SEQPACKET channel, made by the master,
 * whose other end only the key process holds, so no other local process
 * can ask it for a signature.  The messages are keymsg.h's; a channel
 * carries one request and is then closed.
 *
 * A key process replaced by a reload serves the channels it has until
 * the last of them closes, then exits.  One that dies is started again
 * when the next worker is.
 */
#ifndef IMAPD_KEYPROC_H
#define IMAPD_KEYPROC_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct config;
struct keymsg;

/*
 * In the master: build the TLS context for conf's certificate (whose key
 * signs through the key process) and start a key process for conf's key;
 * both are held as pending until keyproc_commit() makes them current
 * (and retires the previous key process) or keyproc_discard() drops
 * them.  0, or -1 with a sentence naming the file and the fix in err.
 */
int	keyproc_prepare(const struct config *, char *err, size_t errlen);
void	keyproc_commit(void);
void	keyproc_discard(void);

/* In the master, before forking a worker: a new channel to the current
 * key process (starting it again if it died), kept as this process's
 * channel (keyclient.h) for the worker to inherit.  0, or -1 if there is
 * no key process (logged; the worker's TLS handshakes then fail). */
int	keyproc_channel(const struct config *);

/* In the master after forking a worker, and in the back: close this
 * process's channel. */
void	keyproc_channel_close(void);

/* In a new worker: close the master's sockets to the key processes. */
void	keyproc_atfork(void);

/* In the master, for each child reaped: 1 if it was the current key
 * process (logged; idle workers should be replaced, their channels are
 * dead), else 0. */
int	keyproc_reaped(pid_t, int status);

/* Answer one request q with the private key pk, as the key process does
 * for each: a KEYMSG_SIGNATURE in a, or KEYMSG_REFUSED when the key does
 * not fit the request or a raw RSA block is not an EMSA-PSS encoding
 * (anything else signed raw would make the key a decryption oracle). */
void	keyproc_sign(EVP_PKEY *pk, const struct keymsg *q, struct keymsg *a);

/* The TLS context of the key process this process's channel leads to
 * (inherited from the master); NULL if TLS is unavailable. */
SSL_CTX	*keyproc_ctx(void);

#endif
