/* Unit tests for maildir/folder: names (every hostile one), create, list,
 * rename (children, INBOX, clashes), delete, subscriptions in both file
 * forms, and symbolic links that must never be followed. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "maildir/folder.h"
#include "tests/t.h"
#include "tests/tfile.h"

static char top[] = "/tmp/test-folder.XXXXXX";
static char root[256];		/* top/Maildir */
static char outside[256];	/* top/outside: must never change */

static const char *at(const char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* base + "/" + printf output, in one of two static buffers used in turn */
static const char *
at(const char *base, const char *fmt, ...)
{
	static char path[2][1024];
	static int which;
	char rel[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	which = !which;
	if (n < 0 || (size_t)n >= sizeof(rel) ||
	    snprintf(path[which], sizeof(path[which]), "%s/%s", base, rel) >=
	    (int)sizeof(path[which]))
		abort();
	return path[which];
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
isdir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
put(const char *path, const char *text)
{
	return t_put(path, text, strlen(text));
}

/* the folder list as "name(attrs) ...", attrs N=\Noselect C=children
 * c=no children S=subscribed X=nonexistent */
static const char *
liststr(int subscribed)
{
	static char out[8192];
	struct folder_list l;
	size_t i, off = 0;
	unsigned a;
	int n;

	if (folder_list(root, subscribed, &l) == -1)
		return "(error)";
	out[0] = '\0';
	for (i = 0; i < l.n; i++) {
		a = l.e[i].attrs;
		n = snprintf(out + off, sizeof(out) - off, "%s%s(%s%s%s%s%s)",
		    i > 0 ? " " : "", l.e[i].name,
		    a & FA_NOSELECT ? "N" : "", a & FA_HASCHILDREN ? "C" : "",
		    a & FA_HASNOCHILDREN ? "c" : "", a & FA_SUBSCRIBED ? "S" : "",
		    a & FA_NONEXISTENT ? "X" : "");
		if (n < 0 || (size_t)n >= sizeof(out) - off)
			abort();
		off += (size_t)n;
	}
	folder_list_free(&l);
	return out;
}

/* a why_r must be a sentence */
static int
sentence(const char *why)
{
	size_t len = why != NULL ? strlen(why) : 0;

	return len > 4 && why[0] >= 'A' && why[0] <= 'Z' &&
	    why[len - 1] == '.' && strchr(why, '\n') == NULL;
}

/* the outside directory holds exactly what setup put there */
static int
outside_intact(void)
{
	return t_count(outside, NULL) == 4 && t_count(at(outside, "cur"), NULL) ==
	    1 && strcmp(t_get(at(outside, "cur/secret:2,S")), "secret") == 0 &&
	    strcmp(t_get(at(outside, "keep")), "keep") == 0 &&
	    t_count(at(outside, "new"), NULL) == 0 &&
	    t_count(at(outside, "tmp"), NULL) == 0;
}

/* --- names ------------------------------------------------------------- */

static const struct {
	const char	*name;
	const char	*entry;		/* "" for root itself */
} good_names[] = {
	{ "INBOX", "" },
	{ "inbox", "" },
	{ "Inbox", "" },
	{ "iNbOx", "" },
	{ "Sent", ".Sent" },
	{ "A/B", ".A.B" },
	{ "A/B/C/D", ".A.B.C.D" },
	{ "INBOX/child", ".INBOX.child" },
	{ "inbox/child", ".inbox.child" },
	{ "~x", ".~x" },
	{ "x~/~y", ".x~.~y" },
	{ "Entw&APw-rfe", ".Entw&APw-rfe" },
	{ "&ZeVnLIqe-/&MOEw,DDr-", ".&ZeVnLIqe-.&MOEw,DDr-" },
	{ "a b", ".a b" },
	{ "[Gmail]/Sent Mail", ".[Gmail].Sent Mail" },
	{ "&-", ".&-" },
	{ "-", ".-" },
	{ "INBOXES", ".INBOXES" },
	{ "a\\b", ".a\\b" },
	{ "{x}", ".{x}" },
};

static const char *bad_names[] = {
	"", ".", "..", "../x", "x/..", "x/../y", "a/../../b",
	"../../../../etc/passwd", "INBOX/../x", "INBOX/..", "/etc", "/",
	"//", ".hidden", "a/.hidden", "a//b", "a/", "/a", "x\x01", "x\x1f",
	"\x1b[31m", "a\tb", "a\nb", "a\rb", "a\x7f", "a.b", "a/./b", "a/.",
	"...", "..imapd-deleted-0123", "Trash..", "a%", "%", "*", "a/*/b",
	"caf\xc3\xa9",		/* raw UTF-8: not modified UTF-7 */
	"\xff", "&AGE-",	/* not the canonical spelling */
	"&", "a&b", "&AOk-&APY-", "&2D0-",
};

static void
test_names(void)
{
	char path[FOLDER_PATH_MAX], want[FOLDER_PATH_MAX], name[FOLDER_NAME_MAX
	    + 2], small[8];
	const char *why;
	size_t i;
	int n;

	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++) {
		why = NULL;
		CHECK_MSG(folder_check_name(good_names[i].name, &why) == 0,
		    "good %zu %s: %s", i, good_names[i].name, why);
		CHECK_MSG(folder_path(root, good_names[i].name, path,
		    sizeof(path), &why) == 0, "good %zu", i);
		n = snprintf(want, sizeof(want), "%s%s%s", root,
		    good_names[i].entry[0] ? "/" : "", good_names[i].entry);
		CHECK(n > 0 && (size_t)n < sizeof(want));
		CHECK_STR(path, want);
		/* one entry directly in root, never "." or ".." */
		if (good_names[i].entry[0] != '\0') {
			const char *e = path + strlen(root) + 1;

			CHECK(strchr(e, '/') == NULL);
			CHECK(strcmp(e, ".") != 0 && strcmp(e, "..") != 0);
		}
	}
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		why = NULL;
		CHECK_MSG(folder_check_name(bad_names[i], &why) == -1,
		    "bad %zu \"%s\"", i, bad_names[i]);
		CHECK_MSG(sentence(why), "bad %zu: %s", i, why ? why : "");
		why = NULL;
		memcpy(path, "untouched", 10);
		CHECK_MSG(folder_path(root, bad_names[i], path, sizeof(path),
		    &why) == -1, "bad %zu", i);
		CHECK(sentence(why));
		/* nothing to create, delete, rename or subscribe */
		CHECK_INT(folder_create(root, bad_names[i], &why), -1);
		CHECK_INT(folder_delete(root, bad_names[i], &why), -1);
		CHECK_INT(folder_rename(root, "Sent", bad_names[i], &why), -1);
		CHECK_INT(folder_rename(root, bad_names[i], "Sent", &why), -1);
		CHECK_INT(folder_subscribe(root, bad_names[i], 1), -1);
	}

	/* lengths: the name is one directory entry, "." + name */
	memset(name, 'n', sizeof(name));
	name[NAME_MAX - 1] = '\0';
	CHECK_INT(folder_check_name(name, &why), 0);
	name[NAME_MAX - 1] = 'n';
	name[NAME_MAX] = '\0';
	CHECK_INT(folder_check_name(name, &why), -1);
	CHECK(sentence(why));
	name[FOLDER_NAME_MAX + 1] = '\0';
	CHECK_INT(folder_check_name(name, &why), -1);
	memcpy(name, "a/", 2);
	CHECK_INT(folder_check_name(name, &why), -1);

	/* a path that does not fit */
	CHECK_INT(folder_path(root, "Sent", small, sizeof(small), &why), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	CHECK_INT(folder_path("/r", "A/B", small, sizeof(small), &why), 0);
	CHECK_STR(small, "/r/.A.B");
	CHECK_INT(folder_path("/r", "INBOX", small, sizeof(small), &why), 0);
	CHECK_STR(small, "/r");

	/* nothing above was made or touched */
	CHECK_INT(t_count(root, NULL), 3);
	CHECK_INT(t_count(top, NULL), 2);
}

/* --- create and list --------------------------------------------------- */

static void
test_create_list(void)
{
	const char *why;
	struct stat st;

	CHECK_STR(liststr(0), "INBOX(c)");
	CHECK_INT(folder_create(root, "Sent", &why), 0);
	CHECK(isdir(at(root, ".Sent/cur")) && isdir(at(root, ".Sent/new")) &&
	    isdir(at(root, ".Sent/tmp")));
	CHECK(stat(at(root, ".Sent/maildirfolder"), &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_size == 0);
	CHECK(stat(at(root, ".Sent"), &st) == 0 &&
	    (st.st_mode & 07777) == 0700);
	CHECK(stat(at(root, ".Sent/cur"), &st) == 0 &&
	    (st.st_mode & 07777) == 0700);

	/* nested: only the folder itself is made; parents are implied */
	CHECK_INT(folder_create(root, "A/B/C", &why), 0);
	CHECK(!exists(at(root, ".A")) && !exists(at(root, ".A.B")));
	CHECK_INT(folder_create(root, "INBOX/child", &why), 0);
	CHECK_INT(folder_create(root, "Entw&APw-rfe", &why), 0);
	CHECK_STR(liststr(0), "INBOX(C) A(NC) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c)");

	/* existing ones */
	CHECK_INT(folder_create(root, "Sent", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(sentence(why));
	CHECK_INT(folder_create(root, "INBOX", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(folder_create(root, "inbox", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(folder_create(root, "a.b", &why), -1);
	CHECK_INT(errno, EINVAL);

	/* an implied parent becomes real */
	CHECK_INT(folder_create(root, "A", &why), 0);
	CHECK_STR(liststr(0), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c)");

	/* INBOX's children in another case still hang below INBOX */
	CHECK_INT(folder_create(root, "inbox/x", &why), 0);
	CHECK(isdir(at(root, ".inbox.x")));
	CHECK_STR(liststr(0), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c) inbox/x(c)");

	/* what is not a folder is not listed */
	CHECK_INT(mkdir(at(root, "..imapd-deleted-0123"), 0700), 0);
	CHECK_INT(mkdir(at(root, "..imapd-deleted-0123/cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".Trash.."), 0700), 0);
	CHECK_INT(mkdir(at(root, ".Trash../cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".a..b"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".a..b/cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".nocur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".INBOX"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".INBOX/cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".bad&"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".bad&/cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".x%%y"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".x%%y/cur"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".curlink"), 0700), 0);
	CHECK_INT(symlink(at(outside, "cur"), at(root, ".curlink/cur")), 0);
	CHECK_INT(mkdir(at(root, "plain"), 0700), 0);
	CHECK_INT(mkdir(at(root, "plain/cur"), 0700), 0);
	CHECK_INT(put(at(root, ".file"), ""), 0);
	CHECK_INT(symlink(outside, at(root, ".Evil")), 0);
	CHECK_INT(symlink(outside, at(root, ".Evil.Child")), 0);
	CHECK_STR(liststr(0), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c) inbox/x(c)");

	/* a link in a folder's place stops create, and nothing is made
	 * where it points */
	CHECK_INT(folder_create(root, "Evil", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(sentence(why));
	CHECK_INT(folder_create(root, "Evil/Child", &why), -1);
	CHECK(outside_intact());

	/* folder_init_root is idempotent and leaves folders alone */
	CHECK_INT(folder_init_root(root), 0);
	CHECK(isdir(at(root, ".Sent/cur")));
}

/* --- subscriptions ----------------------------------------------------- */

static void
test_subscriptions(void)
{
	char subs[512];
	struct timespec old[2];

	if (strlen(at(root, "subscriptions")) >= sizeof(subs))
		abort();
	memcpy(subs, at(root, "subscriptions"), strlen(at(root,
	    "subscriptions")) + 1);

	CHECK_INT(folder_subscribe(root, "Sent", 1), 0);
	CHECK_INT(folder_subscribe(root, "Nope/x", 1), 0);
	CHECK_INT(folder_subscribe(root, "inbox", 1), 0);
	CHECK_INT(folder_subscribe(root, "Sent", 1), 0);	/* no twice */
	CHECK_INT(folder_subscribe(root, "INBOX", 1), 0);
	CHECK_STR(t_get(subs), "Sent\nNope/x\nINBOX\n");
	CHECK_STR(liststr(0), "INBOX(CS) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(cS) inbox/x(c)");
	/* with subscribed, names that do not exist appear, and make no
	 * implied parents and no children */
	CHECK_STR(liststr(1), "INBOX(CS) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Nope/x(cSX) Sent(cS) inbox/x(c)");
	CHECK_INT(folder_subscribe(root, "A", 1), 0);
	CHECK_INT(folder_subscribe(root, "A/B/C/D", 1), 0);
	CHECK_STR(liststr(1), "INBOX(CS) A(CS) A/B(NC) A/B/C(c) "
	    "A/B/C/D(cSX) Entw&APw-rfe(c) INBOX/child(c) Nope/x(cSX) "
	    "Sent(cS) inbox/x(c)");

	CHECK_INT(folder_subscribe(root, "Sent", 0), 0);
	CHECK_INT(folder_subscribe(root, "Sent", 0), 0);	/* not there */
	CHECK_INT(folder_subscribe(root, "INBOX", 0), 0);
	CHECK_INT(folder_subscribe(root, "A/B/C/D", 0), 0);
	CHECK_STR(t_get(subs), "Nope/x\nA\n");
	CHECK_INT(folder_subscribe(root, "a..b", 1), -1);
	CHECK_INT(errno, EINVAL);

	/* Dovecot's version 2 file; rewritten in the plain form, and
	 * invalid names are dropped on the way */
	CHECK_INT(put(subs, "V\t2\n\nSent\nA\tB\nNope\tdeep\tx\nbad..\n"
	    "Sent\n"), 0);
	CHECK_STR(liststr(1), "INBOX(C) A(C) A/B(NCS) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Nope/deep/x(cSX) Sent(cS) "
	    "inbox/x(c)");
	CHECK_INT(folder_subscribe(root, "Drafts", 1), 0);
	CHECK_STR(t_get(subs), "Sent\nA/B\nNope/deep/x\nSent\nDrafts\n");
	CHECK_INT(folder_subscribe(root, "Sent", 0), 0);
	CHECK_STR(t_get(subs), "A/B\nNope/deep/x\nDrafts\n");

	/* CRLF, empty lines, junk, a missing final newline */
	CHECK_INT(put(subs, "Sent\r\n\n../x\nx\001y\nfine\n\nlast"), 0);
	CHECK_STR(liststr(1), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(cS) fine(cSX) inbox/x(c) "
	    "last(cSX)");
	CHECK_INT(folder_subscribe(root, "fine", 0), 0);
	CHECK_STR(t_get(subs), "Sent\nlast\n");

	/* dotted lines, as Courier and Dovecot's "." separator write
	 * them, with or without the INBOX. namespace */
	CHECK_INT(put(subs, "INBOX\nINBOX.Sent\nA.B\ninbox.A.B.C\nINBOX.\n"),
	    0);
	CHECK_STR(liststr(1), "INBOX(CS) A(C) A/B(NCS) A/B/C(cS) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(cS) inbox/x(c)");
	/* Courier's file, read while there is no subscriptions file; the
	 * first change writes subscriptions and leaves Courier's alone */
	CHECK_INT(unlink(subs), 0);
	CHECK_INT(put(at(root, "courierimapsubscribed"), "INBOX.Sent\n"
	    "INBOX.A.B\n"), 0);
	CHECK_STR(liststr(1), "INBOX(C) A(C) A/B(NCS) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(cS) inbox/x(c)");
	CHECK_INT(folder_subscribe(root, "Drafts", 1), 0);
	CHECK_STR(t_get(subs), "Sent\nA/B\nDrafts\n");
	CHECK_STR(t_get(at(root, "courierimapsubscribed")), "INBOX.Sent\n"
	    "INBOX.A.B\n");
	CHECK_INT(unlink(at(root, "courierimapsubscribed")), 0);
	CHECK_INT(put(subs, "Sent\nlast\n"), 0);

	/* a lock left by a crash is broken */
	CHECK_INT(put(at(root, "subscriptions.lock"), ""), 0);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK_INT(utimensat(AT_FDCWD, at(root, "subscriptions.lock"), old, 0),
	    0);
	CHECK_INT(folder_subscribe(root, "Drafts", 1), 0);
	CHECK_STR(t_get(subs), "Sent\nlast\nDrafts\n");
	CHECK(!exists(at(root, "subscriptions.lock")));

	/* a link is neither read nor written through */
	CHECK_INT(rename(subs, at(top, "subs-saved")), 0);
	CHECK_INT(symlink(at(outside, "keep"), subs), 0);
	CHECK_INT(folder_subscribe(root, "Sent", 1), -1);
	CHECK_STR(liststr(1), "(error)");
	CHECK_STR(liststr(0), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c) inbox/x(c)");
	CHECK(outside_intact());
	CHECK_INT(unlink(subs), 0);
	CHECK_INT(rename(at(top, "subs-saved"), subs), 0);

	/* a missing file is no subscriptions */
	CHECK_INT(rename(subs, at(top, "subs-saved")), 0);
	CHECK_STR(liststr(1), "INBOX(C) A(C) A/B(NC) A/B/C(c) "
	    "Entw&APw-rfe(c) INBOX/child(c) Sent(c) inbox/x(c)");
	CHECK_INT(rename(at(top, "subs-saved"), subs), 0);

	CHECK_INT(t_count(root, "subscriptions"), 1);
	CHECK_INT(t_count(root, "subscriptions."), 0);
}

/* --- rename ------------------------------------------------------------ */

static void
test_rename(void)
{
	const char *why;
	char before[8192];

	CHECK_INT(folder_create(root, "Work", &why), 0);
	CHECK_INT(folder_create(root, "Work/Proj", &why), 0);
	CHECK_INT(folder_create(root, "Work/Proj/Deep", &why), 0);
	CHECK_INT(folder_create(root, "Workshop", &why), 0);
	CHECK_INT(folder_create(root, "Work-x", &why), 0);
	CHECK_INT(put(at(root, ".Work/cur/1.M1P1.h:2,S"), "msg"), 0);
	CHECK_INT(put(at(root, ".Work/uidcache"), "cache"), 0);
	CHECK_INT(put(at(root, ".Work.Proj/new/2.M1P1.h"), "msg2"), 0);
	CHECK_INT(symlink(outside, at(root, ".Work.Link")), 0);
	CHECK_INT(folder_subscribe(root, "Work", 1), 0);

	CHECK_INT(folder_rename(root, "Work", "Job", &why), 0);
	CHECK(isdir(at(root, ".Job/cur")) && isdir(at(root, ".Job.Proj")) &&
	    isdir(at(root, ".Job.Proj.Deep")));
	CHECK(!exists(at(root, ".Work")) && !exists(at(root, ".Work.Proj")) &&
	    !exists(at(root, ".Work.Proj.Deep")));
	/* names that only share a prefix stay */
	CHECK(isdir(at(root, ".Workshop")) && isdir(at(root, ".Work-x")));
	/* messages and state move with the directory */
	CHECK_STR(t_get(at(root, ".Job/cur/1.M1P1.h:2,S")), "msg");
	CHECK_STR(t_get(at(root, ".Job/uidcache")), "cache");
	CHECK_STR(t_get(at(root, ".Job.Proj/new/2.M1P1.h")), "msg2");
	/* a link is not a folder and is not moved */
	CHECK(exists(at(root, ".Work.Link")) && !exists(at(root, ".Job.Link")));
	CHECK(outside_intact());
	/* subscriptions are not changed by a rename */
	CHECK(strstr(t_get(at(root, "subscriptions")), "\nWork\n") != NULL);
	CHECK(strstr(t_get(at(root, "subscriptions")), "Job") == NULL);

	/* the target exists: nothing moves */
	if (strlen(liststr(0)) >= sizeof(before))
		abort();
	memcpy(before, liststr(0), strlen(liststr(0)) + 1);
	CHECK_INT(folder_rename(root, "Job", "Workshop", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(sentence(why));
	/* only a child's target exists: nothing moves either */
	CHECK_INT(folder_create(root, "X/Proj/Deep", &why), 0);
	CHECK_INT(folder_rename(root, "Job", "X", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(sentence(why));
	CHECK(isdir(at(root, ".Job")) && isdir(at(root, ".Job.Proj")) &&
	    !exists(at(root, ".X")) && !exists(at(root, ".X.Proj")));
	CHECK_INT(folder_delete(root, "X/Proj/Deep", &why), 0);
	CHECK_STR(liststr(0), before);
	/* a link in the target's place counts as existing */
	CHECK_INT(folder_rename(root, "Job", "Evil", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK(outside_intact());

	/* into itself, onto itself, INBOX, nothing */
	CHECK_INT(folder_rename(root, "Job", "Job/Sub", &why), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(sentence(why));
	CHECK_INT(folder_rename(root, "Job", "Job/Proj/x", &why), -1);
	CHECK_INT(folder_rename(root, "Job", "Job", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(folder_rename(root, "Job", "INBOX", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(folder_rename(root, "Job", "inbox", &why), -1);
	CHECK_INT(folder_rename(root, "Nope", "Y", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(sentence(why));
	/* through a link: not a folder */
	CHECK_INT(folder_rename(root, "Evil", "Good", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(!exists(at(root, ".Good")));
	CHECK(outside_intact());
	CHECK_STR(liststr(0), before);

	/* an implied parent renames its children */
	CHECK_INT(folder_create(root, "P/Q", &why), 0);
	CHECK_INT(folder_rename(root, "P", "R", &why), 0);
	CHECK(isdir(at(root, ".R.Q")) && !exists(at(root, ".P.Q")));
	/* a child up to its parent's place */
	CHECK_INT(folder_create(root, "M/N", &why), 0);
	CHECK_INT(folder_create(root, "M/N/O", &why), 0);
	CHECK_INT(folder_rename(root, "M/N", "M", &why), 0);
	CHECK(isdir(at(root, ".M")) && isdir(at(root, ".M.O")) &&
	    !exists(at(root, ".M.N")));
	/* down a level, to a new name in modified UTF-7 */
	CHECK_INT(folder_rename(root, "M", "Archiv/&ANY-ffentlich", &why), 0);
	CHECK(isdir(at(root, ".Archiv.&ANY-ffentlich.O")));
	CHECK_INT(folder_rename(root, "R", "../R", &why), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(t_count(root, "..imapd"), 1);	/* the planted one */
}

static void
test_rename_inbox(void)
{
	const char *why;

	CHECK_INT(put(at(root, "new/10.M1P1.h"), "n1"), 0);
	CHECK_INT(put(at(root, "new/11.M1P1.h"), "n2"), 0);
	CHECK_INT(put(at(root, "cur/12.M1P1.h:2,S"), "c1"), 0);
	CHECK_INT(put(at(root, "cur/13.M1P1.h:2,"), "c2"), 0);
	CHECK_INT(put(at(root, "cur/14.M1P1.h:2,FRS"), "c3"), 0);
	CHECK_INT(put(at(root, "cur/.hidden"), "h"), 0);
	CHECK_INT(mkdir(at(root, "cur/somedir"), 0700), 0);
	CHECK_INT(symlink(at(outside, "keep"), at(root, "cur/15.link")), 0);
	CHECK_INT(put(at(root, "tmp/16.M1P1.h"), "t"), 0);
	CHECK_INT(put(at(root, "uidcache"), "inbox cache"), 0);

	/* the target exists: nothing moves */
	CHECK_INT(folder_rename(root, "INBOX", "Sent", &why), -1);
	CHECK_INT(errno, EEXIST);
	CHECK_INT(t_count(at(root, "new"), NULL), 2);
	CHECK_INT(folder_rename(root, "inbox", "Old", &why), 0);
	CHECK_INT(t_count(at(root, ".Old/new"), NULL), 2);
	CHECK_INT(t_count(at(root, ".Old/cur"), NULL), 3);
	CHECK_STR(t_get(at(root, ".Old/new/10.M1P1.h")), "n1");
	CHECK_STR(t_get(at(root, ".Old/cur/14.M1P1.h:2,FRS")), "c3");
	/* INBOX is left empty of messages, keeps its own state, and its
	 * children stay where they are */
	CHECK_INT(t_count(at(root, "new"), NULL), 0);
	CHECK_INT(t_count(at(root, "cur"), NULL), 3);
	CHECK(exists(at(root, "cur/.hidden")) &&
	    exists(at(root, "cur/somedir")) && exists(at(root, "cur/15.link")));
	CHECK_INT(t_count(at(root, "tmp"), NULL), 1);
	CHECK_STR(t_get(at(root, "uidcache")), "inbox cache");
	CHECK(!exists(at(root, ".Old/uidcache")));
	CHECK(isdir(at(root, ".INBOX.child")));
	CHECK(exists(at(root, ".Old/maildirfolder")));
	/* INBOX to a child of INBOX is allowed: it moves messages only */
	CHECK_INT(put(at(root, "new/17.M1P1.h"), "n3"), 0);
	CHECK_INT(folder_rename(root, "INBOX", "INBOX/old", &why), 0);
	CHECK_STR(t_get(at(root, ".INBOX.old/new/17.M1P1.h")), "n3");
	CHECK(outside_intact());
	(void)unlink(at(root, "cur/.hidden"));
	(void)unlink(at(root, "cur/15.link"));
	(void)rmdir(at(root, "cur/somedir"));
	(void)unlink(at(root, "tmp/16.M1P1.h"));
}

/* --- delete ------------------------------------------------------------ */

static void
test_delete(void)
{
	char rel[512];
	const char *why;
	size_t off;
	int i;

	CHECK_INT(folder_create(root, "D", &why), 0);
	CHECK_INT(folder_create(root, "D/E", &why), 0);
	CHECK_INT(put(at(root, ".D/cur/1.M1P1.h:2,S"), "m"), 0);
	CHECK_INT(put(at(root, ".D/new/2.M1P1.h"), "m"), 0);
	CHECK_INT(put(at(root, ".D/dovecot-uidlist"), "3 V1 N3\n"), 0);
	CHECK_INT(mkdir(at(root, ".D/x"), 0700), 0);
	CHECK_INT(mkdir(at(root, ".D/x/y"), 0700), 0);
	CHECK_INT(put(at(root, ".D/x/y/z"), "z"), 0);
	CHECK_INT(symlink(outside, at(root, ".D/outlink")), 0);
	CHECK_INT(symlink(at(outside, "keep"), at(root, ".D/cur/3.link")), 0);
	CHECK_INT(put(at(root, ".D.E/cur/4.M1P1.h:2,"), "child"), 0);
	CHECK_INT(folder_subscribe(root, "D", 1), 0);

	CHECK_INT(folder_delete(root, "D", &why), 0);
	CHECK(!exists(at(root, ".D")));
	/* the child survives, and D is now its implied parent */
	CHECK_STR(t_get(at(root, ".D.E/cur/4.M1P1.h:2,")), "child");
	CHECK(strstr(liststr(0), " D(NCS) D/E(c) ") != NULL);
	/* nothing was followed out, and nothing is left behind */
	CHECK(outside_intact());
	CHECK_INT(t_count(root, "..imapd-deleted-"), 1);	/* the planted one */

	CHECK_INT(folder_delete(root, "D", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(sentence(why));
	CHECK_INT(folder_delete(root, "Nope", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(folder_delete(root, "INBOX", &why), -1);
	CHECK_INT(errno, EPERM);
	CHECK(sentence(why));
	CHECK_INT(folder_delete(root, "inbox", &why), -1);
	CHECK_INT(errno, EPERM);
	/* a link in a folder's place is not deleted through, nor removed */
	CHECK_INT(folder_delete(root, "Evil", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(exists(at(root, ".Evil")));
	CHECK_INT(folder_delete(root, "Evil/Child", &why), -1);
	CHECK(outside_intact());
	/* a plain file in a folder's place is not removed either */
	CHECK_INT(put(at(root, ".AFile"), "f"), 0);
	CHECK_INT(folder_delete(root, "AFile", &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(exists(at(root, ".AFile")));
	/* a directory without cur/ (not listed) can still be removed */
	CHECK_INT(folder_delete(root, "nocur", &why), 0);
	CHECK(!exists(at(root, ".nocur")));

	/* deeper than any folder: the folder goes, what cannot be removed is
	 * left under a name no folder has */
	CHECK_INT(folder_create(root, "Deep", &why), 0);
	memcpy(rel, ".Deep", 6);
	for (i = 0, off = 5; i < 20; i++, off += 2) {
		memcpy(rel + off, "/d", 3);
		CHECK_INT(mkdir(at(root, "%s", rel), 0700), 0);
	}
	CHECK_INT(folder_delete(root, "Deep", &why), 0);
	CHECK(!exists(at(root, ".Deep")));
	CHECK(strstr(liststr(0), " Deep(") == NULL);
	CHECK_INT(t_count(root, "..imapd-deleted-"), 2);
}

/* --- opening a folder ---------------------------------------------------- */

static int
open_errno(const char *path)
{
	int fd = folder_open(path);

	if (fd != -1) {
		close(fd);
		return 0;
	}
	return errno;
}

/* A folder is opened only when neither it nor its cur/ new/ tmp/ is a
 * link; a real folder opens, and a link is ELOOP whatever it points at. */
static void
test_open(void)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	const char *why;
	size_t i, j;

	CHECK_INT(open_errno(root), 0);
	CHECK_INT(folder_create(root, "Real", &why), 0);
	CHECK_INT(open_errno(at(root, ".Real")), 0);
	CHECK_INT(symlink(outside, at(root, ".Out")), 0);
	CHECK_INT(open_errno(at(root, ".Out")), ELOOP);
	CHECK_INT(symlink(".Real", at(root, ".Alias")), 0);
	CHECK_INT(open_errno(at(root, ".Alias")), ELOOP);
	CHECK_INT(symlink(at(top, "nowhere"), at(root, ".Dangling")), 0);
	CHECK_INT(open_errno(at(root, ".Dangling")), ELOOP);
	CHECK_INT(open_errno(at(root, ".Missing")), ENOENT);
	CHECK_INT(put(at(root, ".File"), ""), 0);
	CHECK_INT(open_errno(at(root, ".File")), ENOTDIR);
	/* .Sub0 has a link for cur/, .Sub1 for new/, .Sub2 for tmp/ */
	for (i = 0; i < 3; i++) {
		CHECK_INT(mkdir(at(root, ".Sub%zu", i), 0700), 0);
		for (j = 0; j < 3; j++)
			if (j == i)
				CHECK_INT(symlink(at(outside, "%s", subs[j]),
				    at(root, ".Sub%zu/%s", i, subs[j])), 0);
			else
				CHECK_INT(mkdir(at(root, ".Sub%zu/%s", i,
				    subs[j]), 0700), 0);
		CHECK_INT(open_errno(at(root, ".Sub%zu", i)), ELOOP);
	}
	CHECK_INT(mkdir(at(root, ".Nocur"), 0700), 0);
	CHECK_INT(open_errno(at(root, ".Nocur")), ENOENT);
	/* none of those is listed; the real one is */
	CHECK(strstr(liststr(0), " Real(") != NULL);
	CHECK(strstr(liststr(0), "Sub") == NULL);
	CHECK(strstr(liststr(0), "Out") == NULL);
	CHECK(strstr(liststr(0), "Alias") == NULL);
	CHECK(outside_intact());
}

/* --- the root ---------------------------------------------------------- */

static void
test_init_root(void)
{
	char *real;

	CHECK_INT(folder_init_root(at(top, "a/b/Maildir")), 0);
	CHECK(isdir(at(top, "a/b/Maildir/cur")) &&
	    isdir(at(top, "a/b/Maildir/new")) &&
	    isdir(at(top, "a/b/Maildir/tmp")));
	CHECK_INT(folder_init_root(at(top, "a/b/Maildir/")), 0);
	CHECK_INT(folder_init_root(at(top, "a//b/Maildir")), 0);
	CHECK_INT(mkdir(at(top, "c"), 0700), 0);
	CHECK_INT(put(at(top, "c/cur"), ""), 0);
	CHECK_INT(folder_init_root(at(top, "c")), -1);
	CHECK_INT(errno, ENOTDIR);
	CHECK_INT(put(at(top, "file"), ""), 0);
	CHECK_INT(folder_init_root(at(top, "file/Maildir")), -1);
	CHECK_INT(folder_init_root(""), -1);
	CHECK_INT(folder_list(at(top, "none"), 0, &(struct folder_list){ 0 }),
	    -1);
	CHECK_INT(errno, ENOENT);
	/* a link in place of the root's new/ is refused, and nothing is
	 * made through it; the root itself may be a link */
	CHECK_INT(mkdir(at(top, "d"), 0700), 0);
	CHECK_INT(symlink(at(outside, "new"), at(top, "d/new")), 0);
	CHECK_INT(folder_init_root(at(top, "d")), -1);
	CHECK_INT(errno, ELOOP);
	CHECK(!exists(at(top, "d/cur")) || isdir(at(top, "d/cur")));
	CHECK_INT(symlink(at(top, "a/b/Maildir"), at(top, "linked")), 0);
	CHECK_INT(folder_init_root(at(top, "linked")), 0);
	/* the session resolves the root before it opens folders in it */
	CHECK_INT(open_errno(at(top, "linked")), ELOOP);
	real = realpath(at(top, "linked"), NULL);
	CHECK(real != NULL);
	if (real != NULL)
		CHECK_INT(open_errno(real), 0);
	free(real);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int
main(void)
{
	int n;

	if (mkdtemp(top) == NULL)
		return 2;
	n = snprintf(root, sizeof(root), "%s/Maildir", top);
	if (n < 0 || (size_t)n >= sizeof(root))
		return 2;
	n = snprintf(outside, sizeof(outside), "%s/outside", top);
	if (n < 0 || (size_t)n >= sizeof(outside))
		return 2;
	/* a Maildir outside root, which links will point at */
	if (mkdir(outside, 0700) == -1 || mkdir(at(outside, "cur"), 0700) ==
	    -1 || mkdir(at(outside, "new"), 0700) == -1 ||
	    mkdir(at(outside, "tmp"), 0700) == -1 ||
	    put(at(outside, "cur/secret:2,S"), "secret") == -1 ||
	    put(at(outside, "keep"), "keep") == -1)
		return 2;
	CHECK_INT(folder_init_root(root), 0);
	CHECK(outside_intact());

	T_RUN(test_names);
	T_RUN(test_create_list);
	T_RUN(test_subscriptions);
	T_RUN(test_rename);
	T_RUN(test_rename_inbox);
	T_RUN(test_delete);
	T_RUN(test_open);
	T_RUN(test_init_root);
	CHECK(outside_intact());

	CHECK_INT(nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS), 0);
	return t_done();
}
