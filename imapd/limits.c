/*
 * limits: the table of connections, sessions and failed logins that every
 * worker shares.  See limits.h.
 *
 * Workers accept connections themselves and only tell the master, on a
 * one-way pipe, that they did; the master never sees a connection arrive,
 * and making every accept wait for its answer would add a round trip and a
 * reply channel to each connection.  So the master maps one table into
 * shared memory before it forks anything, and the workers decide:
 *
 *   slots     one per worker.  The master gives a worker its slot when it
 *             forks it and clears it when it has reaped it, so a worker
 *             that crashes or is killed cannot leave a count behind.  The
 *             worker writes the client's address into its own slot once it
 *             has accepted (state PRELOGIN), the back writes the user's
 *             name once the credentials are good (state LOGGEDIN).  A
 *             session counts until its worker is reaped.
 *   failures  a small hash table of failed-login counts by address, which
 *             outlives the workers that fill it.  An entry is forgotten
 *             LIMITS_FORGET_MS after its address's last failure; when every
 *             entry an address may use is taken, the one whose last failure
 *             is oldest makes room.
 *
 * Races.  Counting the slots like mine and then publishing mine is done
 * under one process-shared mutex, so two workers deciding at the same
 * moment cannot both take the last place: a limit is never exceeded.  The
 * master never takes the mutex (it must never wait for a worker); it only
 * stores a slot's state word, FREE once the worker is gone and IDLE when
 * it gives the slot to the next one, and neither state is ever counted.  A
 * worker counting just as the master frees a slot may still count that
 * slot: a refusal a moment early, never a connection too many.  The mutex
 * is robust: if its holder dies, the next locker is told and goes on, as
 * no invariant of the table spans more than one word a dead holder could
 * have left half written.
 *
 * Only root processes that never parse network input map the table: the
 * front drops it before it reads a byte, the back before it becomes the
 * user, so neither a subverted front nor a user's session can read who is
 * connected or forge a count.
 *
 * Addresses: IPv4 one by one (as IPv4-mapped IPv6), IPv6 by their /64,
 * since a host or a household is given a whole /64 and may use any
 * address in it.
 */
#include <sys/mman.h>
#include <sys/random.h>

#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "common/lib/log.h"
#include "imapd/config.h"
#include "imapd/limits.h"
#include "imapd/session.h"

#define FAIL_ENTRIES	4096		/* failed-login counts kept */
#define FAIL_PROBE	8		/* entries an address may use */
#define PENALTY_STEP_MS	1000ULL		/* the first extra delay */
#define USER_MAX	255		/* bytes of a user name kept */

enum slot_state {
	SLOT_FREE,
	SLOT_IDLE,		/* given to a worker; counts nothing */
	SLOT_PRELOGIN,		/* a connection from addr */
	SLOT_LOGGEDIN,		/* a session of user from addr */
};

struct slot {
	int			state;	/* enum slot_state, atomic */
	struct limits_addr	addr;
	char			user[USER_MAX + 1];
};

struct failure {
	struct limits_addr	addr;
	unsigned		count;		/* 0: the entry is empty */
	long long		last_ms;	/* monotonic */
};

struct table {
	pthread_mutex_t		lock;
	uint64_t		seed;		/* for hashing addresses */
	unsigned		nslots;
	unsigned		used;		/* slots [0, used) were ever
						 * given out (atomic) */
	struct failure		fail[FAIL_ENTRIES];
	struct slot		slot[];
};

static struct table	*tab;
static size_t		 tabsize;

int
limits_init(unsigned nslots)
{
	pthread_mutexattr_t ma;
	void *p;

	tabsize = offsetof(struct table, slot) + (size_t)nslots *
	    sizeof(struct slot);
	/* only the pages of slots in use are ever touched */
	p = mmap(NULL, tabsize, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	tab = p;
	tab->nslots = nslots;
	if (getrandom(&tab->seed, sizeof(tab->seed), 0) !=
	    (ssize_t)sizeof(tab->seed))
		tab->seed = (uint64_t)session_now_ms();
	if ((errno = pthread_mutexattr_init(&ma)) != 0 ||
	    (errno = pthread_mutexattr_setpshared(&ma,
	    PTHREAD_PROCESS_SHARED)) != 0 ||
	    (errno = pthread_mutexattr_setrobust(&ma,
	    PTHREAD_MUTEX_ROBUST)) != 0 ||
	    (errno = pthread_mutex_init(&tab->lock, &ma)) != 0) {
		(void)munmap(tab, tabsize);
		tab = NULL;
		return -1;
	}
	(void)pthread_mutexattr_destroy(&ma);
	return 0;
}

static void
lock(void)
{
	int r = pthread_mutex_lock(&tab->lock);

	if (r == EOWNERDEAD)
		r = pthread_mutex_consistent(&tab->lock);
	if (r != 0) {
		errno = r;
		fatal("limits: cannot lock the shared table");
	}
}

static void
unlock(void)
{
	(void)pthread_mutex_unlock(&tab->lock);
}

static int
state(const struct slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

static void
set_state(struct slot *s, int st)
{
	__atomic_store_n(&s->state, st, __ATOMIC_RELEASE);
}

static unsigned
used(void)
{
	unsigned n = __atomic_load_n(&tab->used, __ATOMIC_ACQUIRE);

	return n < tab->nslots ? n : tab->nslots;
}

int
limits_slot_take(void)
{
	unsigned i;

	if (tab == NULL)
		return -1;
	for (i = 0; i < tab->nslots; i++) {
		if (state(&tab->slot[i]) != SLOT_FREE)
			continue;
		set_state(&tab->slot[i], SLOT_IDLE);
		if (i >= tab->used)
			__atomic_store_n(&tab->used, i + 1, __ATOMIC_RELEASE);
		return (int)i;
	}
	return -1;
}

void
limits_slot_free(int slot)
{
	if (tab != NULL && slot >= 0 && (unsigned)slot < tab->nslots)
		set_state(&tab->slot[slot], SLOT_FREE);
}

void
limits_detach(void)
{
	if (tab != NULL)
		(void)munmap(tab, tabsize);
	tab = NULL;
}

void
limits_addr(const struct sockaddr *sa, socklen_t len, struct limits_addr *a)
{
	const struct sockaddr_in *in;
	const struct sockaddr_in6 *in6;

	/* anything but IP stays all zeros: one address for all */
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= sizeof(*in)) {
		in = (const struct sockaddr_in *)(const void *)sa;
		a->b[10] = a->b[11] = 0xff;
		memcpy(a->b + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(*in6)) {
		in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(a->b, &in6->sin6_addr, 16);
		else
			memcpy(a->b, &in6->sin6_addr, 8);
	}
}

static int
mine(int slot)
{
	return tab != NULL && slot >= 0 && (unsigned)slot < tab->nslots;
}

static int
same_addr(const struct limits_addr *a, const struct limits_addr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

int
limits_connect(int slot, const struct limits_addr *addr, unsigned max,
    unsigned *n_r)
{
	struct slot *me;
	unsigned i, n = 0, end;

	*n_r = 0;
	if (!mine(slot))
		return 0;
	me = &tab->slot[slot];
	lock();
	end = used();
	for (i = 0; max > 0 && i < end; i++)
		if (state(&tab->slot[i]) == SLOT_PRELOGIN &&
		    same_addr(&tab->slot[i].addr, addr))
			n++;
	if (max > 0 && n >= max) {
		unlock();
		*n_r = n;
		return -1;
	}
	me->addr = *addr;
	set_state(me, SLOT_PRELOGIN);
	unlock();
	return 0;
}

enum limits_verdict
limits_login(int slot, const char *user, const struct limits_addr *addr,
    const struct config *conf, unsigned *n_r)
{
	const struct slot *s;
	struct slot *me;
	unsigned i, end, nuser = 0, nhere = 0;
	size_t len = strlen(user);

	*n_r = 0;
	if (!mine(slot))
		return LIMITS_OK;
	if (len > USER_MAX)
		len = USER_MAX;		/* auth refuses longer names */
	me = &tab->slot[slot];
	lock();
	end = used();
	for (i = 0; i < end; i++) {
		s = &tab->slot[i];
		if (state(s) != SLOT_LOGGEDIN ||
		    strncmp(s->user, user, len) != 0 || s->user[len] != '\0')
			continue;
		nuser++;
		if (same_addr(&s->addr, addr))
			nhere++;
	}
	if (conf->max_user_sessions_per_address > 0 &&
	    nhere >= conf->max_user_sessions_per_address) {
		unlock();
		*n_r = nhere;
		return LIMITS_USER_ADDRESS;
	}
	if (conf->max_user_sessions > 0 && nuser >= conf->max_user_sessions) {
		unlock();
		*n_r = nuser;
		return LIMITS_USER;
	}
	memcpy(me->user, user, len);
	me->user[len] = '\0';
	me->addr = *addr;
	set_state(me, SLOT_LOGGEDIN);
	unlock();
	return LIMITS_OK;
}

void
limits_leave(int slot)
{
	if (!mine(slot))
		return;
	lock();
	set_state(&tab->slot[slot], SLOT_PRELOGIN);
	unlock();
}

/* Where addr's failure counts may sit: FAIL_PROBE entries from here. */
static unsigned
fail_home(const struct limits_addr *addr)
{
	uint64_t h = 14695981039346656037ULL ^ tab->seed;
	size_t i;

	for (i = 0; i < sizeof(addr->b); i++) {
		h ^= addr->b[i];
		h *= 1099511628211ULL;
	}
	return (unsigned)(h % FAIL_ENTRIES);
}

/* addr's entry, if it has a live one; call locked. */
static struct failure *
fail_find(const struct limits_addr *addr, long long now)
{
	struct failure *f;
	unsigned i, home = fail_home(addr);

	for (i = 0; i < FAIL_PROBE; i++) {
		f = &tab->fail[(home + i) % FAIL_ENTRIES];
		if (f->count > 0 && same_addr(&f->addr, addr))
			return now - f->last_ms < LIMITS_FORGET_MS ? f : NULL;
	}
	return NULL;
}

uint64_t
limits_penalty_ms(const struct limits_addr *addr, uint64_t max_ms,
    unsigned *failures_r)
{
	const struct failure *f;
	unsigned n = 0, steps;
	uint64_t ms;

	*failures_r = 0;
	if (tab == NULL)
		return 0;
	lock();
	if ((f = fail_find(addr, session_now_ms())) != NULL)
		n = f->count;
	unlock();
	*failures_r = n;
	if (max_ms == 0 || n < LIMITS_FREE_FAILURES)
		return 0;
	steps = n - LIMITS_FREE_FAILURES;
	ms = steps < 32 ? PENALTY_STEP_MS << steps : max_ms;
	return ms < max_ms ? ms : max_ms;
}

void
limits_failed(const struct limits_addr *addr)
{
	struct failure *f, *victim = NULL;
	long long now = session_now_ms(), age, oldest = 0;
	unsigned i, home;

	if (tab == NULL)
		return;
	lock();
	home = fail_home(addr);
	for (i = 0; i < FAIL_PROBE; i++) {
		f = &tab->fail[(home + i) % FAIL_ENTRIES];
		if (f->count > 0 && same_addr(&f->addr, addr)) {
			victim = f;
			break;
		}
		/* an empty or forgotten entry first, else the oldest */
		age = f->count == 0 || now - f->last_ms >= LIMITS_FORGET_MS ?
		    LLONG_MIN : f->last_ms;
		if (victim == NULL || age < oldest) {
			victim = f;
			oldest = age;
		}
	}
	f = victim;
	if (f->count == 0 || !same_addr(&f->addr, addr) ||
	    now - f->last_ms >= LIMITS_FORGET_MS) {
		f->addr = *addr;
		f->count = 0;
	}
	if (f->count < UINT_MAX)
		f->count++;
	f->last_ms = now;
	unlock();
}
