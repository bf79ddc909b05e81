/*
 * password: reading the password of a login.  See password.h.
 *
 * The terminal is put back as it was on every way out, a signal
 * included: a tool interrupted at the prompt must not leave the shell
 * without echo.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/lib/password.h"
#include "common/lib/wipe.h"

static int			 tty = -1;
static struct termios		 saved;
static volatile sig_atomic_t	 echo_off;

static void
restore(void)
{
	if (echo_off) {
		(void)tcsetattr(tty, TCSAFLUSH, &saved);
		echo_off = 0;
	}
}

static void
interrupted(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
say(const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0 && ((n = write(tty, s, len)) > 0 ||
	    (n == -1 && errno == EINTR))) {
		if (n > 0) {
			s += n;
			len -= (size_t)n;
		}
	}
}

/* One line from the terminal into pw, without its line end. */
static int
ask(const char *prompt, char *pw, size_t size, const char **why_r)
{
	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	struct termios t;
	size_t len = 0;
	ssize_t n;
	char c;
	int i, r = 0;

	if ((tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		*why_r = "no password: set IMAP_PASSWORD, or run on a "
		    "terminal to type it";
		return -1;
	}
	if (tcgetattr(tty, &saved) == -1) {
		*why_r = "cannot read the terminal's settings";
		close(tty);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = interrupted;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++)
		(void)sigaction(sigs[i], &sa, &old[i]);
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL;
	echo_off = 1;
	if (tcsetattr(tty, TCSAFLUSH, &t) == -1) {
		*why_r = "cannot turn off echo";
		r = -1;
	} else
		say(prompt);
	while (r == 0) {
		n = read(tty, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*why_r = "cannot read the terminal";
			r = -1;
		} else if (n == 0 || c == '\n')
			break;
		else if (len + 1 >= size) {
			*why_r = "password too long";
			r = -1;
		} else
			pw[len++] = c;
	}
	restore();
	for (i = 0; i < 3; i++)
		(void)sigaction(sigs[i], &old[i], NULL);
	close(tty);
	tty = -1;
	if (len > 0 && pw[len - 1] == '\r')
		len--;
	pw[len] = '\0';
	return r;
}

int
password_get(const char *prompt, char *pw, size_t size, const char **why_r)
{
	char *env = getenv(PASSWORD_ENV);
	size_t len;

	if (env != NULL) {
		len = strlen(env);
		if (len >= size) {
			*why_r = PASSWORD_ENV " is too long";
			return -1;
		}
		memcpy(pw, env, len + 1);
		wipe(env, len);
		(void)unsetenv(PASSWORD_ENV);
	} else if (ask(prompt, pw, size, why_r) == -1) {
		wipe(pw, size);
		return -1;
	}
	if (pw[0] == '\0') {
		*why_r = "empty password";
		return -1;
	}
	return 0;
}
