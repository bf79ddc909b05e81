/*
 * sandbox: resource limits and seccomp filters.  See sandbox.h.
 *
 * A filter is built from a table of rules into a classic BPF program:
 * check that the call comes in through the architecture the table was
 * written for (a 32-bit call on a 64-bit kernel has other numbers), then
 * one test per rule on the system call number.  A rule allows the call,
 * allows it only for some values of its arguments, or makes it fail with
 * EACCES without running it; anything else kills the process.  Killing,
 * not failing, is the choice for the unexpected: a front that makes a
 * call nothing in it makes has been subverted, and a process that dies
 * cannot probe further.  The back that waits for the front logs the
 * SIGSYS, and the kernel's audit log names the call.
 *
 * The calls that fail softly are the ones libraries try on their own and
 * cope without: glibc's syslog() reconnects to /dev/log (socket, connect)
 * when syslogd restarts, and OpenSSL or glibc may look for a file (open).
 * In the empty chroot none of that could succeed anyway.
 *
 * Arguments are checked on their low 32 bits: the calls checked take int
 * arguments there (flags, commands, levels), which the kernel truncates.
 *
 * The sets were found by tracing fronts through the whole test suite
 * (STARTTLS and implicit TLS, every login mechanism, failed logins,
 * timeouts, large transfers, stalled clients, shutdown), and are kept as
 * small as that allows.  A sanitizer build also allows what its runtime
 * needs to allocate and to report.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>
#include <unistd.h>

#include "common/lib/log.h"
#include "imapd/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
#define SANITIZER	1
#endif
#endif

#if defined(__x86_64__)
#define SECCOMP_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH	AUDIT_ARCH_AARCH64
#endif

#define FRONT_AS_MAX	(128UL * 1024 * 1024)	/* address space, bytes */
#define TLSPROC_AS_MAX	(2048UL * 1024 * 1024)	/* the same, for many */
#define PROG_MAX	256			/* BPF instructions */

enum rule_kind {
	ALLOW,		/* whatever the arguments */
	ALLOW_IF,	/* only if each checked argument has a listed value */
	ALLOW_UNLESS,	/* only if argument 0 of chk has none of bits v[0] */
	REFUSE,		/* fails with EACCES, not run */
};

struct argcheck {
	unsigned	 arg;		/* 0 to 5 */
	unsigned	 nv;
	uint32_t	 v[4];
};

struct rule {
	long		 nr;
	enum rule_kind	 kind;
	unsigned	 nchk;
	struct argcheck	 chk[2];
};

#define R_ALLOW(name)	{ __NR_##name, ALLOW, 0, { { 0, 0, { 0 } } } }
#define R_REFUSE(name)	{ __NR_##name, REFUSE, 0, { { 0, 0, { 0 } } } }

/* No executable memory: nothing the front runs is loaded after start. */
#define R_NOEXEC(name, argn) \
	{ __NR_##name, ALLOW_UNLESS, 1, { { argn, 1, { PROT_EXEC } } } }

/* Runtime needs of a sanitizer build: its allocator maps, advises on
 * and returns memory; a report looks for files and a symbolizer to run.
 * (The first rule for a call decides, so madvise has one of each.) */
#ifdef SANITIZER
#ifdef __NR_readlink
#define READLINK_RULE	, R_REFUSE(readlink)
#else
#define READLINK_RULE
#endif
#define MADVISE_RULE	R_ALLOW(madvise)
#define SANITIZER_RULES , \
	R_NOEXEC(mprotect, 2), \
	R_ALLOW(sched_yield), \
	R_ALLOW(gettid), \
	R_ALLOW(sigaltstack), \
	R_ALLOW(rt_sigaction), \
	R_REFUSE(ioctl),		/* is stderr a terminal? */ \
	R_REFUSE(readlinkat), \
	R_REFUSE(clone), \
	R_REFUSE(clone3), \
	R_REFUSE(execve) \
	READLINK_RULE
#else
/* glibc's free() and malloc_trim() give memory back */
#define MADVISE_RULE \
	{ __NR_madvise, ALLOW_IF, 1, \
	    { { 2, 2, { MADV_DONTNEED, MADV_FREE } } } }
#define SANITIZER_RULES
#endif

#ifdef __NR_open
#define OPEN_RULE	R_REFUSE(open),
#else
#define OPEN_RULE
#endif

/* What every front may do, before login and after. */
#define FRONT_RULES \
	R_ALLOW(read), \
	R_ALLOW(write), \
	R_ALLOW(close), \
	R_ALLOW(ppoll), \
	R_ALLOW(sendto),		/* syslog() */ \
	R_ALLOW(getpid),		/* syslog(), log lines */ \
	R_ALLOW(getrandom),		/* TLS */ \
	R_ALLOW(clock_gettime),		/* where the vDSO falls back */ \
	R_ALLOW(gettimeofday), \
	R_ALLOW(brk), \
	R_NOEXEC(mmap, 2), \
	R_ALLOW(munmap), \
	R_ALLOW(mremap), \
	MADVISE_RULE, \
	{ __NR_fcntl, ALLOW_IF, 1, { { 1, 2, { F_GETFL, F_SETFL } } } }, \
	/* a client that stops reading is dropped with a reset */ \
	{ __NR_setsockopt, ALLOW_IF, 2, \
	    { { 1, 1, { SOL_SOCKET } }, { 2, 1, { SO_LINGER } } } }, \
	/* pthread_once(), as in a library's first use of something, \
	 * wakes waiters even with one thread */ \
	{ __NR_futex, ALLOW_IF, 1, \
	    { { 1, 2, { FUTEX_WAKE_PRIVATE, FUTEX_WAIT_PRIVATE } } } }, \
	R_ALLOW(rt_sigreturn), \
	R_ALLOW(rt_sigprocmask), \
	R_ALLOW(exit_group), \
	R_ALLOW(exit), \
	OPEN_RULE \
	R_REFUSE(openat), \
	R_REFUSE(socket), \
	R_REFUSE(connect)

/* Before login: the above, and the login request to the back, the
 * answers of the key process during a TLS handshake, the lingering close
 * of a refused client, and what it takes to enter the relay's sandbox. */
static const struct rule login_rules[] = {
	FRONT_RULES,
#ifdef __NR_poll
	R_ALLOW(poll),
#endif
	R_ALLOW(recvfrom),
	R_ALLOW(shutdown),
	{ __NR_prlimit64, ALLOW_IF, 2,
	    { { 0, 1, { 0 } }, { 1, 1, { RLIMIT_NOFILE } } } },
	{ __NR_prctl, ALLOW_IF, 1, { { 0, 1, { PR_SET_SECCOMP } } } }
	SANITIZER_RULES
};

/* The shared TLS process: a front's calls, the connections and key
 * channels workers send it (recvmsg), and the key process's answers. */
static const struct rule tlsproc_rules[] = {
	FRONT_RULES,
#ifdef __NR_poll
	R_ALLOW(poll),
#endif
	R_ALLOW(recvfrom),
	R_ALLOW(recvmsg)
	SANITIZER_RULES
};

/* Relaying: the above only. */
static const struct rule relay_rules[] = {
	FRONT_RULES
	SANITIZER_RULES
};

#define NRULES(t)	(sizeof(t) / sizeof((t)[0]))

/* Where the low 32 bits of argument n are in struct seccomp_data. */
static uint32_t
arg_low(unsigned n)
{
	uint32_t off = (uint32_t)(offsetof(struct seccomp_data, args) +
	    n * sizeof(uint64_t));

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	off += sizeof(uint32_t);
#endif
	return off;
}

struct prog {
	struct sock_filter	 insn[PROG_MAX];
	unsigned		 n;
};

static void
emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->n == PROG_MAX)
		fatalx("sandbox: filter too long");
	p->insn[p->n].code = code;
	p->insn[p->n].jt = jt;
	p->insn[p->n].jf = jf;
	p->insn[p->n].k = k;
	p->n++;
}

/* Instructions after the rule's number test, which jumps over them. */
static unsigned
rule_len(const struct rule *r)
{
	unsigned i, len = 1;

	switch (r->kind) {
	case ALLOW_IF:
		for (i = 0; i < r->nchk; i++)
			len += 2 + r->chk[i].nv;
		break;
	case ALLOW_UNLESS:
		len += 3;
		break;
	default:
		break;
	}
	return len;
}

static void
emit_rule(struct prog *p, const struct rule *r)
{
	const struct argcheck *c;
	unsigned i, j;

	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0,
	    (uint8_t)rule_len(r));
	switch (r->kind) {
	case ALLOW:
		break;
	case REFUSE:
		emit(p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO |
		    (EACCES & SECCOMP_RET_DATA), 0, 0);
		return;
	case ALLOW_IF:
		for (i = 0; i < r->nchk; i++) {
			c = &r->chk[i];
			emit(p, BPF_LD | BPF_W | BPF_ABS, arg_low(c->arg), 0,
			    0);
			/* a listed value jumps past the kill to the next
			 * check (or the allow) */
			for (j = 0; j < c->nv; j++)
				emit(p, BPF_JMP | BPF_JEQ | BPF_K, c->v[j],
				    (uint8_t)(c->nv - j), 0);
			emit(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS,
			    0, 0);
		}
		break;
	case ALLOW_UNLESS:
		c = &r->chk[0];
		emit(p, BPF_LD | BPF_W | BPF_ABS, arg_low(c->arg), 0, 0);
		emit(p, BPF_JMP | BPF_JSET | BPF_K, c->v[0], 0, 1);
		emit(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
		break;
	}
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
}

/* Install a filter made of n rules; fatal if the kernel refuses it. */
static void
install(const char *what, const struct rule *rules, size_t n)
{
#ifdef SECCOMP_ARCH
	static struct prog p;
	struct sock_fprog fp;
	size_t i;

	p.n = 0;
	emit(&p, BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(&p, BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)offsetof(struct seccomp_data, nr), 0, 0);
	for (i = 0; i < n; i++)
		emit_rule(&p, &rules[i]);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	fp.len = (unsigned short)p.n;
	fp.filter = p.insn;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) == -1)
		fatal("sandbox: cannot install the %s filter (a kernel "
		    "without CONFIG_SECCOMP_FILTER?)", what);
#else
	static int said;

	if (!said++)
		log_warnx("sandbox: no system call filter for this "
		    "architecture; the %s runs without one", what);
#endif
}

static void
limit(int resource, rlim_t max, const char *name)
{
	struct rlimit rl = { .rlim_cur = max, .rlim_max = max };

	if (setrlimit(resource, &rl) == -1)
		fatal("sandbox: setrlimit(%s)", name);
}

void
sandbox_start(void)
{
	limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
	/* as root a process could otherwise be read through /proc and
	 * ptrace by others of its uid, once it has dropped to one;
	 * changing ids does this too, but the processes that stay root
	 * need it said */
	if (geteuid() == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_DUMPABLE)");
}

int
sandbox_child(const char *name, int fd, int at)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	closelog();
	if (fd != at && dup2(fd, at) == -1)
		_exit(1);
	if (close_range((unsigned)at + 1, ~0U, 0) == -1)
		_exit(1);
	return at;
}

/* No new privileges, and no fork: what the front and the key process
 * share.  The sanitizers run a symbolizer to report: under them the
 * fork stays possible. */
static void
no_privileges_no_processes(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
#ifndef SANITIZER
	limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");
#endif
}

void
sandbox_front_login(void)
{
	no_privileges_no_processes();
#ifndef SANITIZER
	/* the sanitizers reserve terabytes of address space */
	limit(RLIMIT_AS, FRONT_AS_MAX, "RLIMIT_AS");
#endif
	install("pre-login front", login_rules, NRULES(login_rules));
}

void
sandbox_front_relay(void)
{
	/* poll() needs the limit at least at its number of descriptors;
	 * with 0, 1 and 2 open, 3 leaves no number for a new one */
	limit(RLIMIT_NOFILE, 3, "RLIMIT_NOFILE");
	install("relaying front", relay_rules, NRULES(relay_rules));
}

void
sandbox_back(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}

void
sandbox_keyproc(void)
{
	no_privileges_no_processes();
}

void
sandbox_tlsproc(void)
{
	no_privileges_no_processes();
#ifndef SANITIZER
	limit(RLIMIT_AS, TLSPROC_AS_MAX, "RLIMIT_AS");
#endif
	install("shared TLS process", tlsproc_rules, NRULES(tlsproc_rules));
}
