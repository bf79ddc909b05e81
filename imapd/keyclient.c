/*
 * keyclient: keyless RSA and EC keys for the front.  See keyclient.h.
 *
 * OpenSSL 3 still runs a legacy key whose RSA_METHOD or EC_KEY_METHOD is
 * not its own through the method's callbacks, and libssl signs with such
 * a key like any other.  That is all this needs: a provider would have to
 * re-implement the key management that the legacy path gives for free.
 * The deprecated method API is the price, so its warnings are off here.
 *
 * libssl asks for RSA-PKCS1 signatures through RSA_sign (the method's
 * rsa_sign gets the digest and its algorithm) and for RSA-PSS by padding
 * the digest itself and asking for a raw private operation (rsa_priv_enc
 * with RSA_NO_PADDING); the key process checks that such a block really
 * is a PSS encoding.  ECDSA comes through the EC_KEY_METHOD's sign.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "common/lib/log.h"
#include "imapd/keyclient.h"
#include "imapd/keymsg.h"
#include "imapd/session.h"

#define KEYCLIENT_TIMEOUT_MS	10000

static int		 chanfd = -1;
static RSA_METHOD	*rsa_meth;
static EC_KEY_METHOD	*ec_meth;

void
keyclient_setfd(int fd)
{
	chanfd = fd;
}

int
keyclient_fd(void)
{
	return chanfd;
}

void
keyclient_close(void)
{
	if (chanfd != -1)
		close(chanfd);
	chanfd = -1;
}

/* One request, one answer.  0 with a SIGNATURE in a, or -1 (logged). */
static int
ask(const struct keymsg *q, struct keymsg *a)
{
	unsigned char pkt[KEYMSG_MAX + 1];
	long long deadline = session_now_ms() + KEYCLIENT_TIMEOUT_MS, left;
	struct pollfd pfd;
	size_t n;
	ssize_t r;

	if (chanfd == -1) {
		log_warnx("TLS: no channel to the key process (it failed "
		    "or was restarted; the log above says why)");
		return -1;
	}
	if ((n = keymsg_encode(q, pkt)) == 0)
		return -1;
	if (send(chanfd, pkt, n, MSG_NOSIGNAL) != (ssize_t)n) {
		log_warn("TLS: cannot reach the key process");
		return -1;
	}
	for (;;) {
		if ((left = deadline - session_now_ms()) <= 0) {
			log_warnx("TLS: the key process did not answer within "
			    "%d ms", KEYCLIENT_TIMEOUT_MS);
			return -1;
		}
		pfd.fd = chanfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			log_warn("TLS: poll on the key channel");
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		r = recv(chanfd, pkt, sizeof(pkt), MSG_DONTWAIT);
		if (r == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (r <= 0 || keymsg_decode(pkt, (size_t)r, a) == -1) {
		log_warnx("TLS: no valid answer from the key process");
		return -1;
	}
	if (a->type != KEYMSG_SIGNATURE) {
		log_warnx("TLS: the key process refused to sign (does "
		    "tls_key belong to tls_cert?)");
		return -1;
	}
	return 0;
}

static enum keymsg_hash
hash_of(int nid)
{
	switch (nid) {
	case NID_sha256:
		return KEYMSG_HASH_SHA256;
	case NID_sha384:
		return KEYMSG_HASH_SHA384;
	case NID_sha512:
		return KEYMSG_HASH_SHA512;
	default:
		return KEYMSG_HASH_NONE;
	}
}

static int
rsa_sign(int type, const unsigned char *m, unsigned int mlen,
    unsigned char *sig, unsigned int *siglen, const RSA *rsa)
{
	struct keymsg q, a;

	memset(&q, 0, sizeof(q));
	q.type = KEYMSG_RSA_PKCS1;
	q.hash = hash_of(type);
	q.len = mlen;
	if (q.hash == KEYMSG_HASH_NONE || mlen != keymsg_hashlen(q.hash))
		return 0;
	memcpy(q.data, m, mlen);
	if (ask(&q, &a) == -1 || a.len != (size_t)RSA_size(rsa))
		return 0;
	memcpy(sig, a.data, a.len);
	*siglen = (unsigned int)a.len;
	return 1;
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	struct keymsg q, a;

	if (padding != RSA_NO_PADDING || flen != RSA_size(rsa) ||
	    flen > KEYMSG_DATA_MAX)
		return -1;
	memset(&q, 0, sizeof(q));
	q.type = KEYMSG_RSA_PSS;
	q.hash = KEYMSG_HASH_NONE;
	q.len = (size_t)flen;
	memcpy(q.data, from, q.len);
	if (ask(&q, &a) == -1 || a.len != (size_t)flen)
		return -1;
	memcpy(to, a.data, a.len);
	return (int)a.len;
}

static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	log_warnx("TLS: RSA decryption asked of a key that only signs");
	return -1;
}

static int
ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r,
    EC_KEY *eckey)
{
	struct keymsg q, a;

	memset(&q, 0, sizeof(q));
	q.type = KEYMSG_ECDSA;
	q.hash = hash_of(type);
	if (q.hash == KEYMSG_HASH_NONE || dlen < 0 ||
	    (size_t)dlen != keymsg_hashlen(q.hash))
		return 0;
	q.len = (size_t)dlen;
	memcpy(q.data, dgst, q.len);
	if (ask(&q, &a) == -1 || a.len > (size_t)ECDSA_size(eckey))
		return 0;
	memcpy(sig, a.data, a.len);
	*siglen = (unsigned int)a.len;
	return 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *eckey)
{
	/* libssl never asks for a bare ECDSA_SIG without a digest name */
	return NULL;
}

static int
methods(void)
{
	if (rsa_meth == NULL) {
		if ((rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL)
			return -1;
		if (RSA_meth_set1_name(rsa_meth, "imapd key process") != 1 ||
		    RSA_meth_set_flags(rsa_meth, RSA_meth_get_flags(rsa_meth) |
		    RSA_FLAG_EXT_PKEY) != 1 ||
		    RSA_meth_set_sign(rsa_meth, rsa_sign) != 1 ||
		    RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) != 1 ||
		    RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec) != 1)
			return -1;
	}
	if (ec_meth == NULL) {
		if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
			return -1;
		EC_KEY_METHOD_set_sign(ec_meth, ec_sign, NULL, ec_sign_sig);
	}
	return 0;
}

EVP_PKEY *
keyclient_pkey(X509 *cert, char *err, size_t errlen)
{
	EVP_PKEY *pub, *pk = NULL;
	const char *why;
	RSA *rsa = NULL;
	EC_KEY *ec = NULL;

	if (methods() == -1 || (pub = X509_get0_pubkey(cert)) == NULL ||
	    (pk = EVP_PKEY_new()) == NULL)
		goto fail;
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		if ((rsa = EVP_PKEY_get1_RSA(pub)) == NULL ||
		    RSA_set_method(rsa, rsa_meth) != 1 ||
		    EVP_PKEY_assign_RSA(pk, rsa) != 1)
			goto fail;
		return pk;
	case EVP_PKEY_EC:
		if ((ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL ||
		    EC_KEY_set_method(ec, ec_meth) != 1 ||
		    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
			goto fail;
		return pk;
	default:
		snprintf(err, errlen, "the certificate's key is neither RSA "
		    "nor EC (imapd signs with RSA and ECDSA keys only)");
		EVP_PKEY_free(pk);
		return NULL;
	}
fail:
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	why = ERR_reason_error_string(ERR_peek_last_error());
	snprintf(err, errlen, "cannot make a key for the certificate's "
	    "public key: %s", why != NULL ? why : "out of memory");
	ERR_clear_error();
	return NULL;
}
