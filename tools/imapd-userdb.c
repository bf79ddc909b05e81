/*
 * imapd-userdb: the administrator's tool for the virtual-user database.
 *
 *	imapd-userdb [-o out.cdb] file		compile file into a cdb
 *	imapd-userdb -p [-m yescrypt|sha512]	hash a password
 *	imapd-userdb -l db.cdb name		show one user (not the hash)
 *	imapd-userdb [-f file] app-password add|list|revoke user [label]
 *
 * The text and cdb formats are described at the top of common/lib/userdb.c.
 * A build checks every line first and writes nothing if any is wrong; the
 * new cdb is written to "<out>.tmp.<pid>", synced, and renamed over the
 * old one, so a running imapd sees either the old file or the new one.
 * The app-password file (format at the top of common/lib/apppass.c) is
 * rewritten the same way, whole, under a lock on "<file>.lock" so that
 * two changes at once cannot lose one another.
 * Messages go to stderr (never syslog), prefixed with the program's name.
 */
#include <sys/file.h>
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
#include <time.h>
#include <unistd.h>

#include "common/lib/apppass.h"
#include "common/lib/buf.h"
#include "common/lib/quotadef.h"
#include "common/lib/userdb.h"
#include "common/lib/wipe.h"

#define PROG		"imapd-userdb"
#define STR(x)		#x
#define XSTR(x)		STR(x)

/*
 * One cdb record kept between reading and writing: the key is the first
 * namelen bytes of line, the value the bytes from valoff to len (a userdb
 * line is both: valoff 0; an app-password record is the user name and
 * then the value: valoff namelen).
 */
struct rec {
	char		*line;
	size_t		 len;
	size_t		 namelen;
	size_t		 valoff;
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
	    "       " PROG " -l db.cdb name\n"
	    "       " PROG " [-f file] app-password add user label\n"
	    "       " PROG " [-f file] app-password list user\n"
	    "       " PROG " [-f file] app-password revoke user label\n");
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
		recs[nrecs].valoff = 0;
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
		    recs[i].line + recs[i].valoff,
		    (unsigned)(recs[i].len - recs[i].valoff)) == -1)
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
	char err[512], def[QUOTADEF_MAX];

	switch (userdb_lookup(db, name, &e, err, sizeof(err))) {
	case -1:
		die("%s", err);
	case 0:
		warnmsg("%s: no such user in %s", name, db);
		return 1;
	}
	if (quotadef_format(&e.quota, def, sizeof(def)) == -1)
		def[0] = '\0';
	printf("%s %lu %lu %s %s%s%s\n", e.name, (unsigned long)e.uid,
	    (unsigned long)e.gid, e.home, e.maildir ? e.maildir : "-",
	    def[0] != '\0' ? " " : "", def);
	userdb_entry_free(&e);
	return 0;
}

/* --- app passwords -------------------------------------------------------- */

/* Hold the lock of the app-password file at path until the program ends. */
static void
applock(const char *path)
{
	char lock[PATH_MAX];
	int n, fd;

	n = snprintf(lock, sizeof(lock), "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof(lock))
		die("%s: path too long", path);
	if ((fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600)) == -1)
		die("cannot open %s: %s", lock, strerror(errno));
	if (flock(fd, LOCK_EX) == -1)
		die("cannot lock %s: %s", lock, strerror(errno));
}

/* Every record of the app-password file at path (none if it does not
 * exist yet), each checked; a record that does not parse stops here. */
static void
appreadall(const char *path, struct rec **recs_r, size_t *nrecs_r)
{
	struct apppass a[APPPASS_MAX];
	struct rec *recs = NULL;
	struct cdb cdb;
	unsigned pos, klen, vlen;
	size_t nrecs = 0, cap = 0, n;
	const char *why;
	char *line;
	int fd;

	*recs_r = NULL;
	*nrecs_r = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return;
		die("cannot open %s: %s", path, strerror(errno));
	}
	if (cdb_init(&cdb, fd) == -1)
		die("%s: not a valid cdb file", path);
	cdb_seqinit(&pos, &cdb);
	while (cdb_seqnext(&pos, &cdb) > 0) {
		klen = cdb_keylen(&cdb);
		vlen = cdb_datalen(&cdb);
		if (klen > USERDB_NAME_MAX || vlen > APPPASS_RECORD_MAX)
			die("%s: corrupt record (too long)", path);
		if ((line = malloc((size_t)klen + vlen + 1)) == NULL)
			die("out of memory");
		if (cdb_read(&cdb, line, klen, cdb_keypos(&cdb)) == -1 ||
		    cdb_read(&cdb, line + klen, vlen, cdb_datapos(&cdb)) == -1)
			die("%s: corrupt record (outside the file)", path);
		line[klen + vlen] = '\0';
		if (userdb_check_name(line, klen, &why) == -1 ||
		    apppass_parse(line + klen, vlen, a, APPPASS_MAX, &n,
		    &why) == -1)
			die("%s: corrupt record for %.*s: %s", path, (int)klen,
			    line, why);
		if (nrecs == cap) {
			struct rec *tmp;

			cap = cap ? cap * 2 : 64;
			if ((tmp = reallocarray(recs, cap, sizeof(*recs))) ==
			    NULL)
				die("out of memory");
			recs = tmp;
		}
		recs[nrecs].line = line;
		recs[nrecs].len = (size_t)klen + vlen;
		recs[nrecs].namelen = klen;
		recs[nrecs].valoff = klen;
		recs[nrecs].lineno = 0;
		nrecs++;
	}
	cdb_free(&cdb);
	close(fd);
	*recs_r = recs;
	*nrecs_r = nrecs;
}

/* The index of user's record in recs, or nrecs. */
static size_t
appfind(const struct rec *recs, size_t nrecs, const char *user)
{
	size_t i, len = strlen(user);

	for (i = 0; i < nrecs; i++)
		if (recs[i].namelen == len &&
		    memcmp(recs[i].line, user, len) == 0)
			break;
	return i;
}

/* user's entries from recs into a[]; their count. */
static size_t
appentries(const struct rec *recs, size_t nrecs, const char *user,
    struct apppass *a)
{
	size_t i = appfind(recs, nrecs, user), n = 0;
	const char *why;

	if (i < nrecs && apppass_parse(recs[i].line + recs[i].valoff,
	    recs[i].len - recs[i].valoff, a, APPPASS_MAX, &n, &why) == -1)
		die("corrupt record for %s: %s", user, why);
	return n;
}

/* Put user's n entries into recs (dropping the record when n is 0) and
 * write the file. */
static void
appstore(const char *path, struct rec **recs, size_t *nrecs,
    const char *user, const struct apppass *a, size_t n)
{
	struct buf b;
	size_t i = appfind(*recs, *nrecs, user), ulen = strlen(user);
	struct rec *tmp;

	if (i < *nrecs) {
		free((*recs)[i].line);
		(*recs)[i] = (*recs)[*nrecs - 1];
		(*nrecs)--;
	}
	if (n > 0) {
		buf_init(&b, APPPASS_RECORD_MAX + USERDB_NAME_MAX);
		if (buf_add(&b, user, ulen) == -1 ||
		    apppass_format(a, n, &b) == -1)
			die("record for %s too long", user);
		if ((tmp = reallocarray(*recs, *nrecs + 1, sizeof(**recs))) ==
		    NULL)
			die("out of memory");
		*recs = tmp;
		tmp[*nrecs].line = b.data;	/* the buf's memory, kept */
		tmp[*nrecs].len = b.len;
		tmp[*nrecs].namelen = ulen;
		tmp[*nrecs].valoff = ulen;
		tmp[*nrecs].lineno = 0;
		(*nrecs)++;
	}
	writecdb(path, *recs, *nrecs);
}

static void
appadd(const char *path, struct rec **recs, size_t *nrecs, const char *user,
    const char *label)
{
	struct apppass a[APPPASS_MAX];
	char text[APPPASS_TEXT_SIZE], plain[APPPASS_CHARS + 1];
	size_t n = appentries(*recs, *nrecs, user, a), i;
	unsigned tries;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].label, label) == 0)
			die("%s already has an app password labelled %s "
			    "(revoke it first)", user, label);
	if (n == APPPASS_MAX)
		die("%s already has %d app passwords, the most there may be "
		    "(revoke one first)", user, APPPASS_MAX);
	/* a selector already taken would make one of the two unusable */
	for (tries = 0; ; tries++) {
		if (tries == 100)
			die("cannot draw a password unlike the others");
		if (apppass_generate(text, plain) == -1)
			die("getrandom: %s", strerror(errno));
		for (i = 0; i < n; i++)
			if (memcmp(a[i].selector, plain, APPPASS_SELECTOR) == 0)
				break;
		if (i == n)
			break;
	}
	memset(&a[n], 0, sizeof(a[n]));
	memcpy(a[n].label, label, strlen(label) + 1);
	memcpy(a[n].selector, plain, APPPASS_SELECTOR);
	a[n].created = (long long)time(NULL);
	if (userdb_hash(plain, NULL, a[n].hash, sizeof(a[n].hash)) == -1)
		die("cannot hash the password: %s", strerror(errno));
	wipe(plain, sizeof(plain));
	appstore(path, recs, nrecs, user, a, n + 1);
	warnmsg("app password %s added for %s in %s; it is shown only this "
	    "once:", label, user, path);
	printf("%s\n", text);
	wipe(text, sizeof(text));
}

static int
applist(const struct rec *recs, size_t nrecs, const char *user)
{
	struct apppass a[APPPASS_MAX];
	size_t n = appentries(recs, nrecs, user, a), i;
	char when[32];
	time_t t;
	struct tm tm;

	if (n == 0)
		warnmsg("%s has no app passwords", user);
	for (i = 0; i < n; i++) {
		t = (time_t)a[i].created;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			memcpy(when, "?", 2);
		printf("%s\tcreated %s\n", a[i].label, when);
	}
	return 0;
}

static int
apprevoke(const char *path, struct rec **recs, size_t *nrecs,
    const char *user, const char *label)
{
	struct apppass a[APPPASS_MAX];
	size_t n = appentries(*recs, *nrecs, user, a), i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].label, label) == 0)
			break;
	if (i == n) {
		warnmsg("%s has no app password labelled %s", user, label);
		return 1;
	}
	a[i] = a[n - 1];
	appstore(path, recs, nrecs, user, a, n - 1);
	warnmsg("app password %s of %s revoked", label, user);
	return 0;
}

/* imapd-userdb app-password add|list|revoke user [label] */
static int
apppassword(const char *path, int argc, char **argv)
{
	struct rec *recs;
	size_t nrecs, i;
	const char *why;
	int status = 0, add, revoke;

	if (argc < 2)
		usage(2);
	add = strcmp(argv[0], "add") == 0;
	revoke = strcmp(argv[0], "revoke") == 0;
	if (((add || revoke) && argc != 3) ||
	    (!add && !revoke && (strcmp(argv[0], "list") != 0 || argc != 2)))
		usage(2);
	if (userdb_check_name(argv[1], strlen(argv[1]), &why) == -1)
		die("%s", why);
	if (argc == 3 && apppass_check_label(argv[2], &why) == -1)
		die("%s", why);
	if (add || revoke)
		applock(path);
	appreadall(path, &recs, &nrecs);
	if (add)
		appadd(path, &recs, &nrecs, argv[1], argv[2]);
	else if (revoke)
		status = apprevoke(path, &recs, &nrecs, argv[1], argv[2]);
	else
		status = applist(recs, nrecs, argv[1]);
	for (i = 0; i < nrecs; i++)
		free(recs[i].line);
	free(recs);
	return status;
}

int
main(int argc, char *argv[])
{
	const char *out = NULL, *db = NULL, *method = NULL, *appfile = NULL;
	char defout[PATH_MAX];
	int ch, pflag = 0, status = 0, n;

	while ((ch = getopt(argc, argv, "f:hl:m:o:p")) != -1) {
		switch (ch) {
		case 'f':
			appfile = optarg;
			break;
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

	if (argc > 0 && strcmp(argv[0], "app-password") == 0) {
		if (pflag || db != NULL || out != NULL || method != NULL)
			usage(2);
		status = apppassword(appfile != NULL ? appfile : APPPASS_PATH,
		    argc - 1, argv + 1);
	} else if (appfile != NULL)
		usage(2);
	else if (pflag) {
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
