/*
 * imapd-userdb: the administrator's tool for the virtual-user database.
 *
 *	imapd-userdb [-o out.cdb] file		compile file into a cdb
 *	imapd-userdb -p [-m yescrypt|sha512]	hash a password
 *	imapd-userdb -l db.cdb name		show one user (not the hash)
 *
 * The text and cdb formats are described at the top of common/userdb.c.
 * A build checks every line first and writes nothing if any is wrong; the
 * new cdb is written to "<out>.tmp.<pid>", synced, and renamed over the
 * old one, so a running imapd sees either the old file or the new one.
 * Messages go to stderr (never syslog), prefixed with the program's name.
 */
#include <sys/stat.h>

#include <cdb.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/userdb.h"
#include "common/wipe.h"

#define PROG		"imapd-userdb"
#define STR(x)		#x
#define XSTR(x)		STR(x)

/* one user line kept between checking the file and writing the cdb */
struct rec {
	char		*line;
	size_t		 len;
	size_t		 namelen;
	unsigned long	 lineno;
};

/* what a fatal signal or error must undo */
static char			 tmppath[PATH_MAX];
static volatile sig_atomic_t	 tmpcreated;
static int			 ttyfd = -1;
static struct termios		 ttysaved;
static volatile sig_atomic_t	 ttyaltered;

static void
cleanup(void)
{
	if (ttyaltered) {
		(void)tcsetattr(ttyfd, TCSAFLUSH, &ttysaved);
		ttyaltered = 0;
	}
	if (tmpcreated) {
		(void)unlink(tmppath);
		tmpcreated = 0;
	}
}

static void
onsignal(int sig)
{
	/* tcsetattr, unlink, signal and raise are async-signal-safe */
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
catchsignals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
}

static void __attribute__((format(printf, 1, 2)))
warnmsg(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	cleanup();
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: " PROG " [-o out.cdb] file\n"
	    "       " PROG " -p [-m yescrypt|sha512]\n"
	    "       " PROG " -l db.cdb name\n");
	exit(status);
}

/* A line to skip: empty, only blanks, or a comment. */
static int
ignorable(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

static int
reccmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
	int c = memcmp(x->line, y->line, n);

	if (c != 0)
		return c;
	if (x->namelen != y->namelen)
		return x->namelen < y->namelen ? -1 : 1;
	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/*
 * Read and check every line of path, reporting each problem.  Returns the
 * records (sorted by name) in *recs_r and the number of errors found.
 */
static unsigned long
readusers(const char *path, struct rec **recs_r, size_t *nrecs_r)
{
	struct userdb_entry e;
	struct rec *recs = NULL, *tmp;
	size_t nrecs = 0, cap = 0, len, i;
	unsigned long lineno = 0, nerr = 0;
	char *line = NULL;
	size_t linecap = 0;
	const char *why;
	ssize_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &linecap, f)) != -1) {
		lineno++;
		len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (ignorable(line, len))
			continue;
		if (userdb_parse_line(line, len, &e, &why) == -1) {
			warnmsg("%s:%lu: %s", path, lineno, why);
			nerr++;
			continue;
		}
		if (e.uid == 0)
			warnmsg("%s:%lu: warning: uid: 0 is root; imapd will "
			    "not log %s in", path, lineno, e.name);
		userdb_entry_free(&e);
		if (nrecs == cap) {
			cap = cap ? cap * 2 : 64;
			if ((tmp = reallocarray(recs, cap, sizeof(*recs))) ==
			    NULL)
				die("out of memory");
			recs = tmp;
		}
		if ((recs[nrecs].line = strndup(line, len)) == NULL)
			die("out of memory");
		recs[nrecs].len = len;
		recs[nrecs].namelen = strcspn(recs[nrecs].line, ":");
		recs[nrecs].lineno = lineno;
		nrecs++;
	}
	if (ferror(f))
		die("cannot read %s: %s", path, strerror(errno));
	fclose(f);
	free(line);

	if (nrecs > 0)
		qsort(recs, nrecs, sizeof(*recs), reccmp);
	for (i = 1; i < nrecs; i++) {
		if (recs[i].namelen != recs[i - 1].namelen ||
		    memcmp(recs[i].line, recs[i - 1].line, recs[i].namelen))
			continue;
		warnmsg("%s:%lu: name: %.*s is already defined on line %lu",
		    path, recs[i].lineno, (int)recs[i].namelen, recs[i].line,
		    recs[i - 1].lineno);
		nerr++;
	}
	*recs_r = recs;
	*nrecs_r = nrecs;
	return nerr;
}

/* Make the rename of path durable: sync the directory it is in. */
static void
syncdir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd;

	if (slash == NULL) {
		dir[0] = '.';
		len = 1;
	} else {
		len = slash == path ? 1 : (size_t)(slash - path);
		if (len >= sizeof(dir))
			die("%s: path too long", path);
		memcpy(dir, path, len);
	}
	dir[len] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("cannot open directory %s: %s", dir, strerror(errno));
	if (fsync(fd) == -1)
		die("cannot sync directory %s: %s", dir, strerror(errno));
	close(fd);
}

static void
writecdb(const char *out, const struct rec *recs, size_t nrecs)
{
	struct cdb_make cm;
	struct stat st;
	size_t i;
	int fd, n;

	n = snprintf(tmppath, sizeof(tmppath), "%s.tmp.%ld", out,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmppath))
		die("%s: path too long", out);
	fd = open(tmppath, O_EXCL | O_CREAT | O_WRONLY | O_CLOEXEC, 0640);
	if (fd == -1)
		die("cannot create %s: %s", tmppath, strerror(errno));
	tmpcreated = 1;
	/* 0640 whatever the umask; a rebuilt file keeps its owner and
	 * group so whoever could read the old one can read the new one */
	if (fchmod(fd, 0640) == -1)
		die("cannot set the mode of %s: %s", tmppath, strerror(errno));
	if (stat(out, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) == -1)
		warnmsg("warning: cannot give %s the owner and group of %s: %s",
		    tmppath, out, strerror(errno));
	if (cdb_make_start(&cm, fd) == -1)
		die("cannot start %s: %s", tmppath, strerror(errno));
	for (i = 0; i < nrecs; i++)
		if (cdb_make_add(&cm, recs[i].line, (unsigned)recs[i].namelen,
		    recs[i].line, (unsigned)recs[i].len) == -1)
			die("cannot write %s: %s", tmppath, strerror(errno));
	if (cdb_make_finish(&cm) == -1)
		die("cannot write %s: %s", tmppath, strerror(errno));
	if (fsync(fd) == -1)
		die("cannot sync %s: %s", tmppath, strerror(errno));
	if (close(fd) == -1)
		die("cannot write %s: %s", tmppath, strerror(errno));
	if (rename(tmppath, out) == -1)
		die("cannot rename %s to %s: %s", tmppath, out,
		    strerror(errno));
	tmpcreated = 0;
	syncdir(out);
}

static void
build(const char *in, const char *out)
{
	struct stat sin, sout;
	struct rec *recs;
	size_t nrecs, i;
	unsigned long nerr;

	if (stat(in, &sin) == 0 && stat(out, &sout) == 0 &&
	    sin.st_dev == sout.st_dev && sin.st_ino == sout.st_ino)
		die("%s: the output would overwrite the input", out);
	nerr = readusers(in, &recs, &nrecs);
	if (nerr == 0) {
		writecdb(out, recs, nrecs);
		printf("wrote %s: %zu user%s\n", out, nrecs,
		    nrecs == 1 ? "" : "s");
	}
	for (i = 0; i < nrecs; i++)
		free(recs[i].line);
	free(recs);
	if (nerr > 0)
		die("%s: %lu error%s, nothing written", in, nerr,
		    nerr == 1 ? "" : "s");
}

/*
 * Read one line from fd into buf (size bytes) without its "\n" or "\r\n",
 * one byte at a time so nothing after the line is consumed.  Returns 0, or
 * -1 with a reason in *why_r: read error, end of input before any byte,
 * longer than USERDB_PASSWORD_MAX, or a NUL byte.
 */
static int
readpass(int fd, char *buf, size_t size, const char **why_r)
{
	size_t len = 0;
	int toolong = 0, any = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*why_r = strerror(errno);
			return -1;
		}
		if (n == 0 || c == '\n')
			break;
		any = 1;
		if (len + 1 < size)
			buf[len++] = c;
		else
			toolong = 1;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (!any && n == 0)
		*why_r = "no password given";
	else if (toolong || len > USERDB_PASSWORD_MAX)
		*why_r = "password longer than "
		    XSTR(USERDB_PASSWORD_MAX) " bytes";
	else if (memchr(buf, '\0', len) != NULL)
		*why_r = "password contains a NUL byte";
	else if (len == 0)
		*why_r = "empty password";
	else
		return 0;
	wipe(buf, size);
	return -1;
}

static void
ttywrite(const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(ttyfd, s, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Ask twice on the terminal with echo off; 0, or -1 with *why_r. */
static int
asktty(char *pw, char *again, size_t size, const char **why_r)
{
	struct termios t;
	int r;

	if ((ttyfd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		*why_r = "cannot open /dev/tty";
		return -1;
	}
	if (tcgetattr(ttyfd, &ttysaved) == -1) {
		*why_r = "cannot read the terminal's settings";
		return -1;
	}
	t = ttysaved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL;
	ttyaltered = 1;
	if (tcsetattr(ttyfd, TCSAFLUSH, &t) == -1) {
		cleanup();
		*why_r = "cannot turn off echo";
		return -1;
	}
	ttywrite("Password: ");
	r = readpass(ttyfd, pw, size, why_r);
	if (r == 0) {
		ttywrite("Again: ");
		r = readpass(ttyfd, again, size, why_r);
	}
	cleanup();
	if (r == 0 && (strlen(pw) != strlen(again) ||
	    wipe_memcmp(pw, again, strlen(pw)) != 0)) {
		*why_r = "the passwords do not match";
		r = -1;
	}
	wipe(again, size);
	if (r == -1)
		wipe(pw, size);
	return r;
}

static void
hashpass(const char *method)
{
	char pw[USERDB_PASSWORD_MAX + 2], again[sizeof(pw)];
	char out[CRYPT_OUTPUT_SIZE];
	const char *why = NULL;
	int r;

	if (isatty(STDIN_FILENO))
		r = asktty(pw, again, sizeof(pw), &why);
	else
		r = readpass(STDIN_FILENO, pw, sizeof(pw), &why);
	if (r == -1)
		die("%s", why);
	r = userdb_hash(pw, method, out, sizeof(out));
	wipe(pw, sizeof(pw));
	if (r == -1)
		die("cannot hash the password: %s", strerror(errno));
	printf("%s\n", out);
}

static int
lookup(const char *db, const char *name)
{
	struct userdb_entry e;
	char err[512];

	switch (userdb_lookup(db, name, &e, err, sizeof(err))) {
	case -1:
		die("%s", err);
	case 0:
		warnmsg("%s: no such user in %s", name, db);
		return 1;
	}
	printf("%s %lu %lu %s %s\n", e.name, (unsigned long)e.uid,
	    (unsigned long)e.gid, e.home, e.maildir ? e.maildir : "-");
	userdb_entry_free(&e);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *out = NULL, *db = NULL, *method = NULL;
	char defout[PATH_MAX];
	int ch, pflag = 0, status = 0, n;

	while ((ch = getopt(argc, argv, "hl:m:o:p")) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'l':
			db = optarg;
			break;
		case 'm':
			method = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			pflag = 1;
			break;
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	catchsignals();

	if (pflag) {
		if (argc != 0 || db != NULL || out != NULL)
			usage(2);
		if (method != NULL && strcmp(method, "yescrypt") != 0 &&
		    strcmp(method, "sha512") != 0) {
			warnmsg("-m: unknown method %s", method);
			usage(2);
		}
		hashpass(method);
	} else if (db != NULL) {
		if (argc != 1 || out != NULL || method != NULL)
			usage(2);
		status = lookup(db, argv[0]);
	} else {
		if (argc != 1 || method != NULL)
			usage(2);
		if (out == NULL) {
			n = snprintf(defout, sizeof(defout), "%s.cdb", argv[0]);
			if (n < 0 || (size_t)n >= sizeof(defout))
				die("%s: path too long", argv[0]);
			out = defout;
		}
		build(argv[0], out);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		die("cannot write to standard output: %s", strerror(errno));
	return status;
}
