/*
 * listenaddr: lists of "addr:port", blank- or comma-separated, as
 * imapd.conf's listen_imap and imapd-router's listen and backends take
 * them: "*:143", "192.0.2.1:993", "[2001:db8::1]:143"; "none" stands for
 * nothing.
 */
#ifndef COMMON_LISTENADDR_H
#define COMMON_LISTENADDR_H

#include "common/lib/buf.h"

struct listen_addr {
	char	host[64];	/* "" (written "*") = every address */
	char	port[8];	/* 1 to 65535, in decimal */
};

/*
 * Read the list v into out (at most max entries), each entry zero-padded
 * so that equal lists compare equal with memcmp().  0 with *n_r set, or
 * -1 with *why_r saying what is wrong; out may be changed then.
 */
int	listenaddr_parse(const char *v, struct listen_addr *out, unsigned max,
	    unsigned *n_r, const char **why_r);

/* Append the n addresses of a as listenaddr_parse() reads them back. */
void	listenaddr_format(const struct listen_addr *a, unsigned n,
	    struct buf *b);

#endif
