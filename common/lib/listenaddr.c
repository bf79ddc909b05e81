/*
 * listenaddr: lists of "addr:port" as imapd.conf and imapd-router's file
 * write them.  See listenaddr.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/lib/buf.h"
#include "common/lib/listenaddr.h"
#include "common/lib/strnum.h"

int
listenaddr_parse(const char *v, struct listen_addr *out, unsigned max,
    unsigned *n_r, const char **why_r)
{
	char item[128];
	const char *p = v, *host, *port;
	size_t len, hlen;
	unsigned n = 0;
	uint64_t num;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= sizeof(item)) {
			*why_r = "address too long";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		if (strcasecmp(item, "none") == 0)
			continue;
		if (n == max) {
			*why_r = "too many addresses";
			return -1;
		}
		if (item[0] == '[') {
			char *end = strchr(item, ']');

			if (end == NULL || end[1] != ':') {
				*why_r = "IPv6 address must be written [addr]:port";
				return -1;
			}
			host = item + 1;
			hlen = (size_t)(end - host);
			port = end + 2;
		} else {
			char *colon = strrchr(item, ':');

			if (colon == NULL) {
				*why_r = "address must be addr:port, e.g. *:143";
				return -1;
			}
			if (memchr(item, ':', (size_t)(colon - item)) != NULL) {
				*why_r = "IPv6 address must be written [addr]:port";
				return -1;
			}
			host = item;
			hlen = (size_t)(colon - item);
			port = colon + 1;
		}
		if (hlen >= sizeof(out[n].host)) {
			*why_r = "address too long";
			return -1;
		}
		if (strnum_u64(port, 65535, &num) == -1 || num == 0) {
			*why_r = "port must be a number from 1 to 65535";
			return -1;
		}
		/* zero-padded, so that two lists compare with memcmp() */
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(out[n].host, host, hlen);
		if (strcmp(out[n].host, "*") == 0)
			out[n].host[0] = '\0';
		snprintf(out[n].port, sizeof(out[n].port), "%u", (unsigned)num);
		n++;
	}
	*n_r = n;
	return 0;
}

void
listenaddr_format(const struct listen_addr *a, unsigned n, struct buf *b)
{
	unsigned i;

	if (n == 0)
		(void)buf_adds(b, "none");
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)buf_addc(b, ' ');
		if (a[i].host[0] == '\0')
			(void)buf_addf(b, "*:%s", a[i].port);
		else if (strchr(a[i].host, ':') != NULL)
			(void)buf_addf(b, "[%s]:%s", a[i].host, a[i].port);
		else
			(void)buf_addf(b, "%s:%s", a[i].host, a[i].port);
	}
}
