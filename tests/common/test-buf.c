/* Unit tests for common/lib/buf: growth, the hard maximum, formatting. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lib/buf.h"
#include "tests/t.h"

static void
test_basic(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK_STR(buf_cstr(&b), "");
	CHECK_INT(buf_adds(&b, "hello"), 0);
	CHECK_INT(buf_addc(&b, ' '), 0);
	CHECK_INT(buf_addf(&b, "%s %d", "world", 42), 0);
	CHECK_STR(buf_cstr(&b), "hello world 42");
	CHECK_INT(b.len, 14);
	buf_consume(&b, 6);
	CHECK_STR(buf_cstr(&b), "world 42");
	buf_truncate(&b, 5);
	CHECK_STR(buf_cstr(&b), "world");
	buf_consume(&b, 99);
	CHECK_INT(b.len, 0);
	CHECK_STR(buf_cstr(&b), "");
	buf_free(&b);
	CHECK(b.data == NULL);
}

/* Appending bytes the buffer holds itself, across the growth that moves
 * it (a record re-written from an earlier one): the copy is right, and
 * under the sanitizer build no freed memory is read. */
static void
test_self_append(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	CHECK_INT(buf_adds(&b, "0123456789"), 0);
	for (i = 0; i < 12; i++) {
		/* all of it again: more than the room left, so it grows */
		CHECK_INT(buf_add(&b, b.data, b.len), 0);
		CHECK_MSG(b.len == 10U << (i + 1), "round %zu: len %zu", i,
		    b.len);
		CHECK_MSG(memcmp(b.data + b.len / 2, b.data, b.len / 2) == 0,
		    "round %zu: copy differs", i);
	}
	/* a part from the middle */
	buf_truncate(&b, 10);
	CHECK_INT(buf_add(&b, b.data + 3, 4), 0);
	CHECK_STR(buf_cstr(&b), "01234567893456");
	buf_free(&b);
}

static void
test_max(void)
{
	struct buf b;
	char big[300];
	size_t i;

	memset(big, 'x', sizeof(big));
	buf_init(&b, 10);
	CHECK_INT(buf_add(&b, big, 10), 0);		/* exactly the max */
	CHECK_INT(b.len, 10);
	errno = 0;
	CHECK_INT(buf_addc(&b, 'y'), -1);		/* one over */
	CHECK_INT(errno, EMSGSIZE);
	CHECK_INT(b.len, 10);				/* unchanged */
	CHECK(b.cap <= 11);				/* never past max + 1 */
	buf_reset(&b);
	CHECK_INT(buf_add(&b, big, 11), -1);
	CHECK_INT(b.len, 0);
	/* printf output that does not fit leaves the buffer as it was */
	CHECK_INT(buf_adds(&b, "abc"), 0);
	CHECK_INT(buf_addf(&b, "%s", "0123456789"), -1);
	CHECK_STR(buf_cstr(&b), "abc");
	buf_free(&b);

	/* an extra size that would overflow size_t arithmetic */
	buf_init(&b, 1000);
	CHECK_INT(buf_adds(&b, "a"), 0);
	CHECK_INT(buf_reserve(&b, SIZE_MAX), -1);
	CHECK_INT(buf_reserve(&b, SIZE_MAX - 1), -1);
	buf_free(&b);

	/* growth in small steps up to the max */
	buf_init(&b, 257);
	for (i = 0; i < 257; i++)
		CHECK_INT(buf_addc(&b, (int)('a' + i % 26)), 0);
	CHECK_INT(buf_addc(&b, 'z'), -1);
	CHECK_INT(b.len, 257);
	CHECK(b.data[257] == '\0');
	buf_free(&b);
}

static void
test_binary_and_wipe(void)
{
	struct buf b;
	const char bin[] = { 'a', '\0', 'b' };

	buf_init(&b, 64);
	CHECK_INT(buf_add(&b, bin, 3), 0);
	CHECK_INT(b.len, 3);
	CHECK(memcmp(b.data, bin, 3) == 0);
	buf_wipe(&b);
	CHECK_INT(b.len, 0);
	CHECK(b.data[0] == '\0' && b.data[2] == '\0');
	buf_free_secret(&b);
	CHECK(b.data == NULL);
}

static void
test_big_format(void)
{
	struct buf b;
	char s[5000];

	memset(s, 'q', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	buf_init(&b, 10000);
	CHECK_INT(buf_addf(&b, "<%s>", s), 0);
	CHECK_INT(b.len, 5001);
	CHECK(b.data[0] == '<' && b.data[5000] == '>');
	buf_free(&b);
}

/* Whether the n bytes at p, which may never have been written, hold s. */
static int
holds(const void *p, size_t n, const char *s)
{
	const volatile unsigned char *m = p;
	size_t i, k, len = strlen(s);

	for (i = 0; i + len <= n; i++) {
		for (k = 0; k < len && m[i + k] == (unsigned char)s[k]; k++)
			continue;
		if (k == len)
			return 1;
	}
	return 0;
}

/*
 * A secret buffer that grows leaves no copy in the memory it gave back.
 * The buffer is made too large for the allocator's per-size caches, and
 * a block allocated right after it keeps realloc() from growing it in
 * place, so the old block is freed; malloc() of that size then hands the
 * same block out again, and it must hold nothing of the secret.  The
 * secret starts 64 bytes in, past what the allocator writes into a freed
 * block.
 */
static void
test_secret_growth(void)
{
	static const char secret[] = "SECRET-PASSWORD-4711";
	struct buf b;
	char *blocker, *reused;

	buf_init_secret(&b, 1 << 20);
	CHECK_INT(buf_reserve(&b, 2000), 0);
	CHECK_INT(b.cap, 2048);
	blocker = malloc(2048);
	memset(b.data, '.', 64);
	b.len = 64;
	CHECK_INT(buf_adds(&b, secret), 0);
	CHECK_INT(buf_reserve(&b, 3000), 0);	/* grows, and moves */
	CHECK(holds(b.data, b.len, secret));
	reused = malloc(2040);
	CHECK(reused != NULL && !holds(reused, 2040, secret));
	free(reused);
	free(blocker);
	buf_free(&b);
}

int
main(void)
{
	T_RUN(test_basic);
	T_RUN(test_self_append);
	T_RUN(test_max);
	T_RUN(test_binary_and_wipe);
	T_RUN(test_big_format);
	T_RUN(test_secret_growth);
	return t_done();
}
