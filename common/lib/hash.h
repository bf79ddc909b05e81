/*
 * hash: a fast 64-bit hash of bytes, for hash tables and for telling a
 * torn or damaged record from a whole one; not for anything an attacker
 * may choose to collide (a collision costs a comparison, never a wrong
 * answer, wherever it is used).
 *
 * Four lanes a, b, c, d start at 0x736f72746b657973 xor n (n bytes), plus
 * 0, 1, 2 and 3.  The bytes are taken as 8-byte little-endian words; the
 * words of each whole 32-byte block go to a, b, c, d in turn, and those
 * after the last whole block to a, the last word padded with zero bytes
 * (and one all-zero word if n is a multiple of 8).  A word w enters a lane
 * x as x = (x xor w) * 0x9e3779b97f4a7c15 mod 2^64, then x = x xor
 * (x >> 29).  Then h = a xor (b <<< 16) xor (c <<< 32) xor (d <<< 48)
 * (<<< rotating left), enters the word 0 as a lane does, and the result
 * is h xor (h >> 32).  Four lanes, because one lane waits on each
 * multiplication in turn.
 *
 * The sort cache stores these values (maildir/sortcache.c): a change
 * here is a change of its file format.
 */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "common/lib/le.h"

#define HASH_MUL	0x9e3779b97f4a7c15ULL

static inline uint64_t
hash_lane(uint64_t x, uint64_t w)
{
	x = (x ^ w) * HASH_MUL;
	return x ^ (x >> 29);
}

static inline uint64_t
hash_rotl(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t
hash_bytes(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t s = 0x736f72746b657973ULL ^ n;
	uint64_t a = s, b = s + 1, c = s + 2, d = s + 3, w = 0, h;
	size_t i;

	for (i = 0; i + 32 <= n; i += 32) {
		a = hash_lane(a, le64_get(p + i));
		b = hash_lane(b, le64_get(p + i + 8));
		c = hash_lane(c, le64_get(p + i + 16));
		d = hash_lane(d, le64_get(p + i + 24));
	}
	for (; i + 8 <= n; i += 8)
		a = hash_lane(a, le64_get(p + i));
	for (; i < n; i++)
		w |= (uint64_t)p[i] << (8 * (i & 7));
	a = hash_lane(a, w);
	h = a ^ hash_rotl(b, 16) ^ hash_rotl(c, 32) ^ hash_rotl(d, 48);
	h = hash_lane(h, 0);
	return h ^ (h >> 32);
}

#endif
