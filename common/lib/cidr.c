/*
 * cidr: networks and membership.  See cidr.h.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <string.h>

#include "common/lib/cidr.h"
#include "common/lib/strnum.h"

const char *
cidr_parse(const char *s, size_t len, struct cidr *n)
{
	char addr[64];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	unsigned max;
	uint64_t bits;

	if (alen == 0 || alen >= sizeof(addr))
		return "expected an address or address/bits";
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		return "not an IPv4 or IPv6 address";
	n->bits = max;
	if (slash != NULL) {
		if (strnum_u64_n(slash + 1, len - alen - 1, max, &bits) == -1)
			return "the prefix length must be 0 to 32 (IPv4) or 0 "
			    "to 128 (IPv6)";
		n->bits = (unsigned)bits;
	}
	return NULL;
}

int
cidr_addr(const char *s, int *family_r, uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1) {
		*family_r = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a) != 1)
		return -1;
	*family_r = AF_INET6;
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		*family_r = AF_INET;
	}
	return 0;
}

int
cidr_contains(const struct cidr *net, int family, const uint8_t *a)
{
	unsigned full = net->bits / 8, rest = net->bits % 8;
	uint8_t mask;

	if (family != net->family)
		return 0;
	if (memcmp(a, net->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (net->addr[full] & mask);
}

int
cidr_match(const struct cidr *nets, unsigned n, const char *s)
{
	uint8_t a[16];
	int family;
	unsigned i;

	if (cidr_addr(s, &family, a) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (cidr_contains(&nets[i], family, a))
			return 1;
	return 0;
}
