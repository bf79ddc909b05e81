/*
 * tls: OpenSSL 3 server context.  See tls.h.
 *
 * One connection per process, so there is nothing to gain from a session
 * cache or tickets: both are off, TLS 1.3 included (no NewSessionTicket
 * is sent), so no ticket key exists to be stolen and no session outlives
 * its connection.  TLS 1.2 is the floor; compression and renegotiation
 * are disabled.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "imapd/config.h"
#include "imapd/keyclient.h"
#include "imapd/keyfile.h"
#include "imapd/tls.h"

static void
seterr(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char s[160];

	if (e != 0)
		ERR_error_string_n(e, s, sizeof(s));
	else
		snprintf(s, sizeof(s), "%s", strerror(errno));
	if (snprintf(err, errlen, "%s %s: %s", what, path, s) >= (int)errlen &&
	    errlen > 0)
		err[errlen - 1] = '\0';
	ERR_clear_error();
}

/*
 * What a handshake fetches from the providers: key types, key exchanges,
 * signatures, key derivations, ciphers, digests and the MAC.  Fetched
 * once here, they stay in OpenSSL's method store in pages every front
 * shares; fetched first in each front, they would fill its own
 * copy-on-write pages instead (some 90 KiB a session, measured with
 * tests/bench/smaps.py).  A name this OpenSSL lacks is passed over.
 */
enum fetch_kind { F_KEYMGMT, F_KEYEXCH, F_SIGNATURE, F_KDF, F_CIPHER, F_MD,
	F_MAC };

static const struct {
	enum fetch_kind	 kind;
	const char	*name;
} handshake_algorithms[] = {
	{ F_KEYMGMT, "X25519" }, { F_KEYMGMT, "X448" }, { F_KEYMGMT, "EC" },
	{ F_KEYMGMT, "RSA" }, { F_KEYMGMT, "DH" }, { F_KEYMGMT, "HKDF" },
	{ F_KEYMGMT, "TLS1-PRF" },
	{ F_KEYEXCH, "X25519" }, { F_KEYEXCH, "X448" }, { F_KEYEXCH, "ECDH" },
	{ F_KEYEXCH, "DH" }, { F_KEYEXCH, "HKDF" }, { F_KEYEXCH, "TLS1-PRF" },
	{ F_SIGNATURE, "ECDSA" }, { F_SIGNATURE, "RSA" },
	{ F_SIGNATURE, "ED25519" },
	{ F_KDF, "HKDF" }, { F_KDF, "TLS13-KDF" }, { F_KDF, "TLS1-PRF" },
	{ F_CIPHER, "AES-256-GCM" }, { F_CIPHER, "AES-128-GCM" },
	{ F_CIPHER, "ChaCha20-Poly1305" },
	{ F_MD, "SHA256" }, { F_MD, "SHA384" }, { F_MD, "SHA512" },
	{ F_MD, "SHA1" }, { F_MD, "MD5-SHA1" },
	{ F_MAC, "HMAC" },
};

static void
fetch_handshake_algorithms(void)
{
	const char *n;
	size_t i;

	for (i = 0; i < sizeof(handshake_algorithms) /
	    sizeof(handshake_algorithms[0]); i++) {
		n = handshake_algorithms[i].name;
		switch (handshake_algorithms[i].kind) {
		case F_KEYMGMT:
			EVP_KEYMGMT_free(EVP_KEYMGMT_fetch(NULL, n, NULL));
			break;
		case F_KEYEXCH:
			EVP_KEYEXCH_free(EVP_KEYEXCH_fetch(NULL, n, NULL));
			break;
		case F_SIGNATURE:
			EVP_SIGNATURE_free(EVP_SIGNATURE_fetch(NULL, n, NULL));
			break;
		case F_KDF:
			EVP_KDF_free(EVP_KDF_fetch(NULL, n, NULL));
			break;
		case F_CIPHER:
			EVP_CIPHER_free(EVP_CIPHER_fetch(NULL, n, NULL));
			break;
		case F_MD:
			EVP_MD_free(EVP_MD_fetch(NULL, n, NULL));
			break;
		case F_MAC:
			EVP_MAC_free(EVP_MAC_fetch(NULL, n, NULL));
			break;
		}
	}
}

void
tls_preload(void)
{
	SSL_CTX *ctx;
	SSL *ssl;

	(void)OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	/* a context and a connection object make OpenSSL fetch and cache
	 * the TLS methods and ciphers it will need for every handshake */
	if ((ctx = SSL_CTX_new(TLS_server_method())) != NULL) {
		if ((ssl = SSL_new(ctx)) != NULL)
			SSL_free(ssl);
		SSL_CTX_free(ctx);
	}
	fetch_handshake_algorithms();
	ERR_clear_error();
}

/* Check the cipher lists now in ctx against what imapd can serve.
 * 0, or -1 with err. */
static int
checkciphers(const struct config *conf, SSL_CTX *ctx, char *err,
    size_t errlen)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	const SSL_CIPHER *c;
	int i, n12 = 0, n13 = 0;

	for (i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk); i++) {
		c = sk_SSL_CIPHER_value(sk, i);
		/* TLS 1.3 suites leave the key exchange to the groups */
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) {
			n13++;
			continue;
		}
		n12++;
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_rsa) {
			snprintf(err, errlen, "tls_ciphers: %s uses RSA key "
			    "exchange, which has no forward secrecy and would "
			    "need the key process to decrypt; remove it (the "
			    "default lists ECDHE ciphers only)",
			    SSL_CIPHER_get_name(c));
			return -1;
		}
		if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null) {
			snprintf(err, errlen, "tls_ciphers: %s does not "
			    "authenticate the server; remove it (add :!aNULL)",
			    SSL_CIPHER_get_name(c));
			return -1;
		}
	}
	if (n13 == 0 && conf->tls_min_version == 13) {
		snprintf(err, errlen, "tls_ciphersuites: no TLS 1.3 cipher "
		    "suite is known in \"%s\" and tls_min_version is TLSv1.3",
		    conf->tls_ciphersuites);
		return -1;
	}
	if (n12 == 0 && n13 == 0) {
		snprintf(err, errlen, "tls_ciphers and tls_ciphersuites leave "
		    "no cipher at all");
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_ctx_new(const struct config *conf, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	EVP_PKEY *pk;
	X509 *cert;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		seterr(err, errlen, "cannot create TLS context for", "server");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, conf->tls_min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
		seterr(err, errlen, "cannot set minimum TLS version for",
		    "server");
		goto fail;
	}
	/* the client picks among ciphers that are all strong, so that one
	 * without AES instructions can take ChaCha20 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		seterr(err, errlen, "cannot turn off session tickets for",
		    "server");
		goto fail;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, conf->tls_ciphers) != 1) {
		seterr(err, errlen, "tls_ciphers: no known TLS 1.2 cipher in",
		    conf->tls_ciphers);
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, conf->tls_ciphersuites) != 1) {
		seterr(err, errlen, "tls_ciphersuites: cannot use",
		    conf->tls_ciphersuites);
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ctx, conf->tls_groups) != 1) {
		seterr(err, errlen, "tls_groups: unknown group in",
		    conf->tls_groups);
		goto fail;
	}
	if (checkciphers(conf, ctx, err, errlen) == -1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		seterr(err, errlen, "cannot load certificate (tls_cert)",
		    conf->tls_cert);
		goto fail;
	}
	if ((cert = SSL_CTX_get0_certificate(ctx)) == NULL ||
	    (pk = keyclient_pkey(cert, err, errlen)) == NULL)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		EVP_PKEY_free(pk);
		seterr(err, errlen, "cannot use the public key of",
		    conf->tls_cert);
		goto fail;
	}
	EVP_PKEY_free(pk);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_check(const struct config *conf, char *err, size_t errlen)
{
	int pfd[2], status;
	SSL_CTX *ctx;
	EVP_PKEY *pk;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe(pfd) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		char cerr[512];

		close(pfd[0]);
		if ((ctx = tls_ctx_new(conf, cerr, sizeof(cerr))) == NULL ||
		    (pk = keyfile_load(conf, cerr, sizeof(cerr))) == NULL) {
			/* the reason, if it gets through; the exit says
			 * that it failed either way */
			if (write(pfd[1], cerr, strlen(cerr)) == -1)
				_exit(1);
			_exit(1);
		}
		_exit(0);
	}
	close(pfd[1]);
	if (errlen > 0)
		err[0] = '\0';
	while (errlen > 0 && got < errlen - 1) {
		n = read(pfd[0], err + got, errlen - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (errlen > 0)
		err[got] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got == 0)
		snprintf(err, errlen, "TLS check failed");
	return -1;
}
