/*
 * Unit tests for imapd/limits: addresses, the per-address and per-user
 * counts, failed-login delays on a clock the test turns, and processes
 * racing for the last place under a limit.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "imapd/config.h"
#include "imapd/limits.h"
#include "tests/t.h"

#define NSLOTS	64

/* limits.c's clock; the test turns it */
static long long fake_now = 1000000;

long long session_now_ms(void);

long long
session_now_ms(void)
{
	return fake_now;
}

static struct limits_addr
v4(const char *s)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct limits_addr a;

	(void)inet_pton(AF_INET, s, &in.sin_addr);
	limits_addr((struct sockaddr *)&in, sizeof(in), &a);
	return a;
}

static struct limits_addr
v6(const char *s)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct limits_addr a;

	(void)inet_pton(AF_INET6, s, &in6.sin6_addr);
	limits_addr((struct sockaddr *)&in6, sizeof(in6), &a);
	return a;
}

static int
same(struct limits_addr a, struct limits_addr b)
{
	return memcmp(a.b, b.b, sizeof(a.b)) == 0;
}

static void
test_addresses(void)
{
	/* IPv4 one by one, IPv6 by /64, and the two never meet */
	CHECK(same(v4("192.0.2.1"), v4("192.0.2.1")));
	CHECK(!same(v4("192.0.2.1"), v4("192.0.2.2")));
	CHECK(same(v4("192.0.2.1"), v6("::ffff:192.0.2.1")));
	CHECK(same(v6("2001:db8::1"), v6("2001:db8::ffff:2")));
	CHECK(!same(v6("2001:db8::1"), v6("2001:db8:0:1::1")));
	CHECK(!same(v6("::c000:201"), v4("192.0.2.1")));
}

static void
test_slots(void)
{
	int a, b, c;

	a = limits_slot_take();
	b = limits_slot_take();
	CHECK(a >= 0 && b >= 0 && a != b);
	limits_slot_free(a);
	c = limits_slot_take();
	CHECK_INT(c, a);
	limits_slot_free(b);
	limits_slot_free(c);
}

static void
test_connect(void)
{
	struct limits_addr x = v4("198.51.100.7"), y = v4("198.51.100.8");
	int s[4], i;
	unsigned n;

	for (i = 0; i < 4; i++)
		s[i] = limits_slot_take();
	CHECK_INT(limits_connect(s[0], &x, 2, &n), 0);
	CHECK_INT(limits_connect(s[1], &x, 2, &n), 0);
	CHECK_INT(limits_connect(s[2], &x, 2, &n), -1);
	CHECK_INT(n, 2);
	CHECK_INT(limits_connect(s[3], &y, 2, &n), 0);	/* another address */
	limits_slot_free(s[0]);				/* its worker is gone */
	CHECK_INT(limits_connect(s[2], &x, 2, &n), 0);
	CHECK_INT(limits_connect(s[0] = limits_slot_take(), &x, 0, &n), 0);
	for (i = 0; i < 4; i++)
		limits_slot_free(s[i]);
}

static void
test_login(void)
{
	struct config conf;
	struct limits_addr x = v4("203.0.113.1"), y = v4("203.0.113.2");
	int s[6], i;
	unsigned n;

	config_defaults(&conf);
	conf.max_user_sessions = 3;
	conf.max_user_sessions_per_address = 2;
	for (i = 0; i < 6; i++) {
		s[i] = limits_slot_take();
		CHECK_INT(limits_connect(s[i], i < 3 ? &x : &y, 0, &n), 0);
	}
	CHECK_INT(limits_login(s[0], "alice", &x, &conf, &n), LIMITS_OK);
	CHECK_INT(limits_login(s[1], "alice", &x, &conf, &n), LIMITS_OK);
	CHECK_INT(limits_login(s[2], "alice", &x, &conf, &n),
	    LIMITS_USER_ADDRESS);
	CHECK_INT(n, 2);
	/* a name that starts like another is another user */
	CHECK_INT(limits_login(s[2], "alic", &x, &conf, &n), LIMITS_OK);
	CHECK_INT(limits_login(s[3], "alice", &y, &conf, &n), LIMITS_OK);
	CHECK_INT(limits_login(s[4], "alice", &y, &conf, &n), LIMITS_USER);
	CHECK_INT(n, 3);
	/* a login that failed after all gives its place back */
	limits_leave(s[3]);
	CHECK_INT(limits_login(s[4], "alice", &y, &conf, &n), LIMITS_OK);
	/* a session that logged in no longer counts as a connection that
	 * has not */
	CHECK_INT(limits_connect(s[5], &x, 1, &n), 0);
	/* 0 turns the limits off */
	conf.max_user_sessions = conf.max_user_sessions_per_address = 0;
	CHECK_INT(limits_login(s[5], "alice", &x, &conf, &n), LIMITS_OK);
	for (i = 0; i < 6; i++)
		limits_slot_free(s[i]);
	config_free(&conf);
}

static void
test_penalty(void)
{
	struct limits_addr x = v6("2001:db8:5::1"), y = v6("2001:db8:6::1");
	unsigned n, i;
	struct limits_addr many;

	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 0);
	CHECK_INT(n, 0);
	for (i = 0; i < LIMITS_FREE_FAILURES; i++) {
		limits_failed(&x);
		CHECK_INT(limits_penalty_ms(&x, 15000, &n),
		    i + 1 < LIMITS_FREE_FAILURES ? 0 : 1000);
	}
	limits_failed(&x);
	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 2000);
	CHECK_INT(n, LIMITS_FREE_FAILURES + 1);
	for (i = 0; i < 40; i++)
		limits_failed(&x);
	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 15000);
	CHECK_INT(limits_penalty_ms(&x, 0, &n), 0);	/* turned off */
	CHECK_INT(limits_penalty_ms(&y, 15000, &n), 0);	/* another /64 */
	/* forgotten a while after the last failure, not before */
	fake_now += LIMITS_FORGET_MS - 1;
	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 15000);
	fake_now += 1;
	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 0);
	limits_failed(&x);
	CHECK_INT(limits_penalty_ms(&x, 15000, &n), 0);
	CHECK_INT(n, 1);
	/* far more addresses than entries: each still counts, and a full
	 * table makes room instead of failing */
	for (i = 0; i < 20000; i++) {
		many = v4("10.0.0.0");
		many.b[13] = (unsigned char)(i >> 8);
		many.b[14] = (unsigned char)i;
		many.b[15] = (unsigned char)(i >> 16);
		fake_now++;
		limits_failed(&many);
		limits_failed(&many);
		limits_failed(&many);
		limits_failed(&many);
		CHECK_INT(limits_penalty_ms(&many, 15000, &n), 2000);
	}
}

/*
 * Processes racing for the places under a limit, each in its own slot as
 * workers are, over and over: a process that got in counts itself in a
 * counter of its own, checks that no more than max are in, and leaves
 * (what the master's reaping does).  With one place and two cores, a
 * table without its lock lets two processes in at once long before the
 * tries run out.
 */
static void
test_race(void)
{
	enum { PROCS = 8, MAX = 1, TRIES = 1000000 };
	struct limits_addr x = v4("192.0.2.99");
	int slot[PROCS], go[2], i, k, status, *inside, *over, *got;
	unsigned n;
	pid_t pid[PROCS];
	char c;

	inside = mmap(NULL, 3 * sizeof(int), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (inside == MAP_FAILED)
		abort();
	over = inside + 1;
	got = inside + 2;
	if (pipe(go) == -1)
		abort();
	for (i = 0; i < PROCS; i++) {
		slot[i] = limits_slot_take();
		if ((pid[i] = fork()) != 0)
			continue;
		close(go[1]);
		/* all start together, when the parent closes go[1] */
		if (read(go[0], &c, 1) == -1)
			_exit(1);
		for (k = 0; k < TRIES; k++) {
			if (limits_connect(slot[i], &x, MAX, &n) == -1)
				continue;
			if (__atomic_add_fetch(inside, 1, __ATOMIC_SEQ_CST) >
			    MAX)
				__atomic_add_fetch(over, 1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(got, 1, __ATOMIC_SEQ_CST);
			__atomic_sub_fetch(inside, 1, __ATOMIC_SEQ_CST);
			limits_slot_free(slot[i]);
		}
		_exit(0);
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < PROCS; i++) {
		CHECK(waitpid(pid[i], &status, 0) == pid[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0);
		limits_slot_free(slot[i]);
	}
	CHECK_INT(*over, 0);
	CHECK(*got > 0);
	(void)munmap(inside, 3 * sizeof(int));
}

int
main(void)
{
	if (limits_init(NSLOTS) == -1) {
		perror("limits_init");
		return 1;
	}
	T_RUN(test_addresses);
	T_RUN(test_slots);
	T_RUN(test_connect);
	T_RUN(test_login);
	T_RUN(test_penalty);
	T_RUN(test_race);
	limits_detach();
	return t_done();
}
