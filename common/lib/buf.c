/*
 * buf: bounded growable buffer.  See buf.h for the contract.
 *
 * Capacity grows by doubling, clamped to max + 1 (the +1 holds the trailing
 * NUL), so a buffer close to its maximum costs at most twice its length.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "common/lib/wipe.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secret = 0;
}

void
buf_init_secret(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->secret = 1;
}

/* realloc() for a secret buffer: nothing of it is left in freed memory. */
static char *
move_secret(struct buf *b, size_t ncap)
{
	char *p;

	if ((p = malloc(ncap)) == NULL)
		return NULL;
	if (b->data != NULL) {
		memcpy(p, b->data, b->cap);
		wipe(b->data, b->cap);
		free(b->data);
	}
	return p;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra) {
		errno = EMSGSIZE;
		return -1;
	}
	need = b->len + extra + 1;		/* cannot overflow: max < SIZE_MAX */
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if (ncap < need)
		ncap = need;
	p = b->secret ? move_secret(b, ncap) : realloc(b->data, ncap);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	uintptr_t src = (uintptr_t)p, base = (uintptr_t)b->data;
	size_t off = 0;
	int inside;

	/* bytes that live in the buffer itself (a record copied from what
	 * it already holds) must be found again after a realloc */
	inside = b->data != NULL && src >= base && src < base + b->cap;
	if (inside)
		off = (size_t)(src - base);
	if (buf_reserve(b, n) == -1)
		return -1;
	if (inside)
		p = b->data + off;
	if (n > 0)
		memmove(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addc(struct buf *b, int c)
{
	char ch = (char)c;

	/* the common case, without a call: room for the byte and the NUL */
	if (b->data != NULL && b->len + 1 < b->cap && b->len < b->max) {
		b->data[b->len++] = ch;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add(b, &ch, 1);
}

int
buf_addvf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t room;
	int n;

	if (buf_reserve(b, 0) == -1)
		return -1;
	room = b->cap - b->len;
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, room, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		errno = EINVAL;
		return -1;
	}
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n) == -1) {
			b->data[b->len] = '\0';
			return -1;
		}
		room = b->cap - b->len;
		if (vsnprintf(b->data + b->len, room, fmt, ap) != n) {
			b->data[b->len] = '\0';
			errno = EINVAL;
			return -1;
		}
	}
	b->len += (size_t)n;
	return 0;
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_addvf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_truncate(struct buf *b, size_t n)
{
	if (n < b->len) {
		b->len = n;
		b->data[n] = '\0';
	}
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		wipe(b->data, b->cap);
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	if (b->secret && b->data != NULL)
		wipe(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free_secret(struct buf *b)
{
	buf_wipe(b);
	buf_free(b);
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}
