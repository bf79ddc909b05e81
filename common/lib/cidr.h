/*
 * cidr: IPv4 and IPv6 networks written as ADDR[/PREFIX], and whether an
 * address lies in one.  An IPv4 client seen on a dual-stack socket
 * (::ffff:a.b.c.d) counts as the IPv4 address it is.
 */
#ifndef COMMON_CIDR_H
#define COMMON_CIDR_H

#include <stddef.h>
#include <stdint.h>

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];
	unsigned	bits;		/* prefix length; all of it if none */
};

/*
 * Parse the len bytes at s, "a.b.c.d[/n]" or "v6[/n]", into *n.  NULL on
 * success, else a sentence saying what is wrong.
 */
const char *cidr_parse(const char *s, size_t len, struct cidr *n);

/*
 * A numeric address (as getnameinfo writes it) into family and addr (16
 * bytes; an IPv4 address in the first 4), a mapped IPv4 address
 * unmapped.  0, or -1 if it is not an address.
 */
int	cidr_addr(const char *s, int *family_r, uint8_t *addr_r);

/* 1 if the address (from cidr_addr) is in net, else 0. */
int	cidr_contains(const struct cidr *net, int family, const uint8_t *a);

/* 1 if the numeric address s is in one of the n networks, else 0. */
int	cidr_match(const struct cidr *nets, unsigned n, const char *s);

#endif
