/*
 * imapd: an IMAP server for Maildir.  Command line and start-up; see
 * imapd(8).
 *
 *   imapd [-f] [-c FILE] [-t [-v]] [-H] [-V] [--stdio]
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/lib/log.h"
#include "imapd/back.h"
#include "imapd/config.h"
#include "imapd/master.h"
#include "imapd/sandbox.h"
#include "imapd/sig.h"
#include "imapd/storecheck.h"
#include "imapd/version.h"

/* imapd -H: one line on what the store check found; the exit status
 * says it to scripts. */
static int
store_health(const struct config *conf)
{
	char why[600];
	long long ms = 0;

	if (storecheck_run(conf, &ms, why, sizeof(why)) == -1) {
		fprintf(stderr, "imapd: store check failed: %s\n", why);
		return 1;
	}
	printf("imapd: store check OK: %s (%lld ms)\n", conf->store_check, ms);
	return 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: imapd [-f] [-c file] [-t [-v]] [-H] [-V] "
	    "[--stdio]\n");
	exit(2);
}

static void
print_stderr(const char *s)
{
	fprintf(stderr, "imapd: %s\n", s);
}

/*
 * Start with descriptors 0, 1 and 2 open, so that no file opened later
 * becomes standard error and receives log lines (they get /dev/null if
 * closed), and with nothing else inherited from whatever started us: a
 * descriptor leaked into the daemon would reach every front.
 */
static void
clean_descriptors(void)
{
	int fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);	/* nowhere to say so */
	}
	closefrom(STDERR_FILENO + 1);
}

static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "stdio", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config *conf;
	const char *path = SYSCONFDIR "/imapd.conf";
	char *errs = NULL;
	int ch, foreground = 0, check = 0, stdio = 0, given = 0, verbose = 0;
	int health = 0;

	while ((ch = getopt_long(argc, argv, "c:ftHVhv", longopts, NULL)) != -1)
		switch (ch) {
		case 'c':
			path = optarg;
			given = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'H':
			health = 1;
			break;
		case 'V':
			printf("imapd %s\n", IMAPD_VERSION);
			return 0;
		case 'v':
			log_setverbose(1);
			verbose = 1;
			break;
		case 's':
			stdio = 1;
			break;
		default:
			usage();
		}
	if (optind != argc)
		usage();

	clean_descriptors();
	sandbox_start();
	umask(077);
	log_init("imapd", foreground || check || health, LOG_MAIL);
	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("calloc");
	config_defaults(conf);
	if (config_load(conf, path, &errs) == -1) {
		/* --stdio runs fine on the defaults if there is no file */
		if (!(stdio && !given && access(path, F_OK) == -1)) {
			fprintf(stderr, "%s", errs);
			if (!check)
				log_warnx("configuration errors in %s; not "
				    "starting", path);
			return 1;
		}
		config_free(conf);
		config_defaults(conf);
	}
	free(errs);
	log_setfacility(conf->syslog_facility);

	if (check) {
		int n = master_check(conf, print_stderr);

		/* the values in effect even when a check failed: they are
		 * often what explains it */
		if (verbose && config_dump(conf, stdout) == -1) {
			fprintf(stderr, "imapd: cannot write the configuration: "
			    "%s\n", strerror(errno));
			return 1;
		}
		if (n > 0) {
			fprintf(stderr, "imapd: %s: %d problem%s found\n",
			    path, n, n == 1 ? "" : "s");
			return 1;
		}
		printf("imapd: %s: configuration OK\n", path);
		return 0;
	}

	if (health)
		return store_health(conf);

	sig_init();
	if (stdio)
		back_stdio(conf);
	if (!foreground)
		daemonize();
	master_run(conf, foreground);
}
