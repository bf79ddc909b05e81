/*
 * tls: OpenSSL 3 server context.  See tls.h.
 *
 * One connection per process, so there is nothing to gain from a session
 * cache or tickets (every worker would have its own ticket key anyway):
 * both are off.  TLS 1.2 is the floor; compression and renegotiation are
 * disabled.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/config.h"
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
	ERR_clear_error();
}

SSL_CTX *
tls_ctx_new(const struct config *conf, char *err, size_t errlen)
{
	SSL_CTX *ctx;

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
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		seterr(err, errlen, "cannot load certificate (tls_cert)",
		    conf->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		seterr(err, errlen, "cannot load private key (tls_key)",
		    conf->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		seterr(err, errlen, "private key does not match the "
		    "certificate in", conf->tls_cert);
		goto fail;
	}
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
		ctx = tls_ctx_new(conf, cerr, sizeof(cerr));
		if (ctx == NULL) {
			(void)write(pfd[1], cerr, strlen(cerr));
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
