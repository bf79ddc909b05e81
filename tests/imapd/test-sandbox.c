/*
 * test-sandbox: the front's seccomp filters and the shared TLS process's,
 * installed for real in child processes.  Each probe runs in a child of
 * its own that enters the pre-login sandbox (and for the relay's rows
 * the relay's too; for the TLS process's, that one alone) and then
 * makes one system call: what the front needs works, what libraries may
 * try is refused with EACCES, and anything else kills the child with
 * SIGSYS.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd/sandbox.h"
#include "tests/t.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER	1
#endif
#endif

enum outcome { WORKS, REFUSED, KILLED, OTHER };

static int sv[2];		/* a socketpair made before the sandbox */
static int sv2[2];		/* another, for shutdown */

static long
p_getpid(void)
{
	return syscall(SYS_getpid);
}

static long
p_write(void)
{
	return write(sv[0], "x", 1) == 1 ? 0 : -1;
}

static long
p_read(void)
{
	char c;

	if (write(sv[1], "y", 1) != 1)
		return -1;
	return read(sv[0], &c, 1) == 1 ? 0 : -1;
}

static long
p_mmap_rw(void)
{
	void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : munmap(p, 65536);
}

static long
p_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static long
p_malloc_big(void)
{
	char *p = malloc(4 << 20);	/* beyond the heap: mmap, munmap */

	if (p == NULL)
		return -1;
	p[0] = p[(4 << 20) - 1] = 1;
	free(p);
	return 0;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
nothing(void)
{
}

static long
p_once(void)
{
	return pthread_once(&once, nothing) == 0 ? 0 : -1;
}

static long
p_getuid(void)
{
	return syscall(SYS_getuid);
}

static long
p_openat(void)
{
	return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static long
p_socket(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static long
p_fcntl_getfl(void)
{
	return fcntl(sv[0], F_GETFL) == -1 ? -1 : 0;
}

static long
p_fcntl_dupfd(void)
{
	return fcntl(sv[0], F_DUPFD, 0);
}

static long
p_linger(void)
{
	struct linger l = { 1, 0 };

	return setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* the key process's answer, as keyclient.c reads it */
static long
p_recv(void)
{
	char c;

	if (write(sv[1], "z", 1) != 1)
		return -1;
	return recv(sv[0], &c, 1, MSG_DONTWAIT) == 1 ? 0 : -1;
}

static long
p_recvmsg(void)
{
	struct msghdr mh;
	struct iovec iov;
	char c;

	if (write(sv[1], "m", 1) != 1)
		return -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &c;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	return recvmsg(sv[0], &mh, MSG_DONTWAIT) == 1 ? 0 : -1;
}

static long
p_rcvbuf(void)
{
	int n = 4096;

	return setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

static long
p_shutdown(void)
{
	return shutdown(sv2[0], SHUT_WR);
}

static long
p_poll(void)
{
	struct pollfd pfd = { .fd = sv[0], .events = POLLOUT };

	return syscall(SYS_poll, &pfd, 1, 0) == 1 ? 0 : -1;
}

static long
p_ppoll(void)
{
	struct pollfd pfd = { .fd = sv[0], .events = POLLOUT };
	struct timespec ts = { 0, 0 };

	return ppoll(&pfd, 1, &ts, NULL) == 1 ? 0 : -1;
}

static long
p_nofile(void)
{
	struct rlimit rl = { 3, 3 };

	return setrlimit(RLIMIT_NOFILE, &rl);
}

static long
p_nproc(void)
{
	struct rlimit rl = { 5, 5 };

	return setrlimit(RLIMIT_NPROC, &rl);
}

static long
p_prctl_name(void)
{
	return prctl(PR_SET_NAME, "x", 0, 0, 0);
}

static long
p_kill(void)
{
	return syscall(SYS_kill, getppid(), 0);
}

static long
p_execve(void)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	return syscall(SYS_execve, "/bin/true", argv, envp);
}

#ifdef SYS_fork
static long
p_fork(void)
{
	return syscall(SYS_fork);
}
#endif

#if defined(__x86_64__)
/* getpid through the 32-bit entry, whose numbers differ */
static long
p_int80(void)
{
	long r = 20;	/* getpid in the i386 table */

	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	return r > 0 ? 0 : -1;
}

/* getpid with the x32 bit set */
static long
p_x32(void)
{
	return syscall(0x40000000 | SYS_getpid);
}
#endif

/* Run probe in a child sandboxed to the given stage (1: before login,
 * 2: relaying, 3: the shared TLS process) and say how it ended. */
static enum outcome
run(long (*probe)(void), int stage)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == -1)
		return OTHER;
	if (pid == 0) {
		if (stage == 3)
			sandbox_tlsproc();
		else
			sandbox_front_login();
		if (stage == 2)
			sandbox_front_relay();
		errno = 0;
		if (probe() != -1)
			_exit(0);
		_exit(errno == EACCES ? 2 : 3);
	}
	if (waitpid(pid, &st, 0) != pid)
		return OTHER;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		return KILLED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return WORKS;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
		return REFUSED;
	return OTHER;
}

static const struct {
	const char	*name;
	long		(*probe)(void);
	enum outcome	 login, relay, tls;
} probes[] = {
	{ "getpid", p_getpid, WORKS, WORKS, WORKS },
	{ "write", p_write, WORKS, WORKS, WORKS },
	{ "read", p_read, WORKS, WORKS, WORKS },
	{ "ppoll", p_ppoll, WORKS, WORKS, WORKS },
	{ "mmap rw", p_mmap_rw, WORKS, WORKS, WORKS },
	{ "malloc 4 MiB", p_malloc_big, WORKS, WORKS, WORKS },
	{ "pthread_once", p_once, WORKS, WORKS, WORKS },
	{ "fcntl F_GETFL", p_fcntl_getfl, WORKS, WORKS, WORKS },
	{ "SO_LINGER", p_linger, WORKS, WORKS, WORKS },
	{ "openat", p_openat, REFUSED, REFUSED, REFUSED },
	{ "socket", p_socket, REFUSED, REFUSED, REFUSED },
	{ "poll", p_poll, WORKS, KILLED, WORKS },
	{ "shutdown", p_shutdown, WORKS, KILLED, KILLED },
	{ "recv", p_recv, WORKS, KILLED, WORKS },
	{ "recvmsg", p_recvmsg, KILLED, KILLED, WORKS },
	{ "RLIMIT_NOFILE", p_nofile, WORKS, KILLED, KILLED },
	{ "mmap exec", p_mmap_exec, KILLED, KILLED, KILLED },
	{ "getuid", p_getuid, KILLED, KILLED, KILLED },
	{ "fcntl F_DUPFD", p_fcntl_dupfd, KILLED, KILLED, KILLED },
	{ "SO_RCVBUF", p_rcvbuf, KILLED, KILLED, KILLED },
	{ "RLIMIT_NPROC", p_nproc, KILLED, KILLED, KILLED },
	{ "prctl PR_SET_NAME", p_prctl_name, KILLED, KILLED, KILLED },
	{ "kill", p_kill, KILLED, KILLED, KILLED },
#ifdef SANITIZER
	/* refused, so that a report can do without a symbolizer */
	{ "execve", p_execve, REFUSED, REFUSED, REFUSED },
#else
	{ "execve", p_execve, KILLED, KILLED, KILLED },
#endif
#ifdef SYS_fork
	{ "fork", p_fork, KILLED, KILLED, KILLED },
#endif
#if defined(__x86_64__)
	{ "int 0x80", p_int80, KILLED, KILLED, KILLED },
	{ "x32", p_x32, KILLED, KILLED, KILLED },
#endif
};

int
main(void)
{
	size_t i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv2) == -1)
		return 1;
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		CHECK_MSG(run(probes[i].probe, 1) == probes[i].login,
		    "%s before login", probes[i].name);
		CHECK_MSG(run(probes[i].probe, 2) == probes[i].relay,
		    "%s relaying", probes[i].name);
		CHECK_MSG(run(probes[i].probe, 3) == probes[i].tls,
		    "%s in the TLS process", probes[i].name);
	}
	return t_done();
}
