/*
 * specialuse: the folder of each special-use role; the rules are at the
 * top of specialuse.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/lib/buf.h"
#include "common/lib/log.h"
#include "common/lib/safefile.h"
#include "imapd/mbname.h"
#include "imapd/specialuse.h"
#include "maildir/folder.h"

#define RECORD_MAX	(SPECIALUSE_MAX * (FOLDER_NAME_MAX + 20))

/*
 * The spellings other servers and clients give each role, most common
 * first: Outlook and Exchange ("Sent Items", "Deleted Items", "Junk
 * E-mail"), Apple Mail ("Sent Messages", "Deleted Messages"), Gmail-style
 * exports and filters ("Sent Mail", "Spam"), and older Unix clients.
 * Last, the folders a client set up for Courier's "INBOX." namespace
 * makes on a server without it: "INBOX.Sent" there is .INBOX.Sent on
 * disk, the folder "INBOX/Sent" here (Courier's own .Sent is "Sent").
 * \All and \Flagged have none: they name virtual folders elsewhere.
 */
#define KNOWN_NAMES	8
static const struct {
	const char	*flag;
	const char	*names[KNOWN_NAMES];
} known[] = {
	{ "\\All",	{ NULL } },
	{ "\\Archive",	{ "Archive", "Archives", "INBOX/Archive", NULL } },
	{ "\\Drafts",	{ "Drafts", "Draft", "INBOX/Drafts", NULL } },
	{ "\\Flagged",	{ NULL } },
	{ "\\Junk",	{ "Junk", "Junk E-mail", "Junk Email", "Spam",
			  "Bulk Mail", "INBOX/Junk", "INBOX/Spam", NULL } },
	{ "\\Sent",	{ "Sent", "Sent Items", "Sent Messages", "Sent Mail",
			  "INBOX/Sent", NULL } },
	{ "\\Trash",	{ "Trash", "Deleted Items", "Deleted Messages",
			  "Deleted", "Bin", "INBOX/Trash", NULL } },
};
#define NKNOWN	(sizeof(known) / sizeof(known[0]))

const char *
specialuse_canonical(const char *flag, size_t len)
{
	size_t i;

	for (i = 0; i < NKNOWN; i++)
		if (strlen(known[i].flag) == len &&
		    strncasecmp(known[i].flag, flag, len) == 0)
			return known[i].flag;
	return NULL;
}

static struct specialuse_role *
role_of(struct specialuse *su, const char *flag)
{
	unsigned i;

	for (i = 0; i < su->n; i++)
		if (strcmp(su->role[i].flag, flag) == 0)
			return &su->role[i];
	return NULL;
}

/* The role for flag (canonical), added if there is room; NULL if not. */
static struct specialuse_role *
role_add(struct specialuse *su, const char *flag)
{
	struct specialuse_role *r;

	if ((r = role_of(su, flag)) != NULL)
		return r;
	if (su->n == SPECIALUSE_MAX || strlen(flag) >= sizeof(r->flag))
		return NULL;
	r = &su->role[su->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->flag, flag, strlen(flag) + 1);
	return r;
}

static int
role_set(struct specialuse_role *r, const char *name)
{
	char *copy = NULL;

	if (name != NULL && (copy = strdup(name)) == NULL)
		return -1;
	free(r->name);
	r->name = copy;
	return 0;
}

/* A real folder of the list named name exactly (icase: in any case); its
 * entry's name, or NULL. */
static const char *
find_folder(const struct folder_list *fl, const char *name, int icase)
{
	size_t i;

	for (i = 0; i < fl->n; i++) {
		if (fl->e[i].attrs & FA_NOSELECT)
			continue;
		if (icase ? strcasecmp(fl->e[i].name, name) == 0 :
		    strcmp(fl->e[i].name, name) == 0)
			return fl->e[i].name;
	}
	return NULL;
}

static int
configured(const struct config *conf, const char *flag)
{
	unsigned i;

	for (i = 0; i < conf->nspecial; i++)
		if (strcmp(conf->special[i].flag, flag) == 0)
			return 1;
	return 0;
}

static int
taken(const struct specialuse *su, const struct specialuse_role *self,
    const char *name)
{
	unsigned i;

	for (i = 0; i < su->n; i++)
		if (&su->role[i] != self && su->role[i].name != NULL &&
		    strcmp(su->role[i].name, name) == 0)
			return 1;
	return 0;
}

/* Read the record into roles (only flags the record names); a missing
 * file is no record.  Errors are logged. */
static void
load(struct specialuse *su, int dirfd)
{
	struct buf b;
	char *pos, *line, *sp;
	const char *flag, *why;
	struct specialuse_role *r;

	buf_init(&b, RECORD_MAX);
	if (safefile_read(dirfd, SPECIALUSE_FILE, &b) == -1) {
		if (errno != ENOENT)
			log_warn("cannot read %s; the special-use folders are "
			    "chosen again", SPECIALUSE_FILE);
		buf_free(&b);
		return;
	}
	pos = b.data;		/* NULL (and end NULL) when empty */
	while ((line = safefile_line(&pos, b.data + b.len)) != NULL) {
		if ((sp = strchr(line, ' ')) == NULL ||
		    (flag = specialuse_canonical(line,
		    (size_t)(sp - line))) == NULL ||
		    folder_check_name(sp + 1, &why) == -1)
			continue;
		if ((r = role_add(su, flag)) != NULL && r->name == NULL)
			(void)role_set(r, sp + 1);
	}
	buf_free(&b);
}

static int
save(const struct specialuse *su, const char *root)
{
	struct buf b;
	unsigned i;
	int dirfd, r = -1, saved;

	buf_init(&b, RECORD_MAX);
	for (i = 0; i < su->n; i++)
		if (su->role[i].name != NULL &&
		    buf_addf(&b, "%s %s\n", su->role[i].flag,
		    su->role[i].name) == -1)
			goto out;
	if ((dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto out;
	r = safefile_replace(dirfd, SPECIALUSE_FILE, buf_cstr(&b),
	    b.len, 0600);
	saved = errno;
	close(dirfd);
	errno = saved;
out:
	buf_free(&b);
	return r;
}

/* Settle one role whose configured folder is want (on-disk form); 1 if
 * its folder changed. */
static int
settle_one(struct specialuse *su, struct specialuse_role *r,
    const char *root, const struct folder_list *fl, const char *want)
{
	const char *got = NULL, *how = NULL, *why;
	size_t k, j;

	if (r->name != NULL && find_folder(fl, r->name, 0) != NULL)
		return 0;
	if (((got = find_folder(fl, want, 0)) != NULL ||
	    (got = find_folder(fl, want, 1)) != NULL) && !taken(su, r, got))
		how = "the configured folder";
	for (k = 0; how == NULL && k < NKNOWN; k++) {
		if (strcmp(known[k].flag, r->flag) != 0)
			continue;
		for (j = 0; how == NULL && j < KNOWN_NAMES &&
		    known[k].names[j] != NULL;
		    j++)
			if ((got = find_folder(fl, known[k].names[j], 1)) !=
			    NULL && !taken(su, r, got))
				how = "found under another name";
	}
	if (how == NULL) {
		got = want;
		if (folder_create(root, want, &why) == 0) {
			(void)folder_subscribe(root, want, 1);
			how = "created";
		} else if (errno == EEXIST)
			how = "the configured folder";
		else {
			log_warnx("cannot create special-use folder %s: %s",
			    want, why);
			return 0;
		}
	}
	if (r->name != NULL && strcmp(r->name, got) == 0)
		return 0;
	if (role_set(r, got) == -1)
		return -1;
	log_info("special-use %s is folder %s (%s)", r->flag, got, how);
	return 1;
}

int
specialuse_settle(struct specialuse *su, const char *root,
    const struct config *conf)
{
	struct folder_list fl = { NULL, 0 };
	struct specialuse_role *r;
	struct buf want;
	const char *flag, *why;
	unsigned i;
	int dirfd, changed = 0, c;

	memset(su, 0, sizeof(*su));
	/* the configured roles first, so that they find room */
	for (i = 0; i < conf->nspecial; i++)
		if ((flag = specialuse_canonical(conf->special[i].flag,
		    strlen(conf->special[i].flag))) != NULL)
			(void)role_add(su, flag);
	if ((dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		load(su, dirfd);
		close(dirfd);
	}
	if (folder_list(root, 0, &fl) == -1) {
		log_warn("cannot list the folders of %s", root);
		return 0;
	}
	for (i = 0; i < conf->nspecial; i++) {
		if ((r = role_of(su, conf->special[i].flag)) == NULL)
			continue;
		buf_init(&want, FOLDER_NAME_MAX);
		if (mbname_from_config(conf, conf->special[i].name, &want,
		    &why) == 0)
			c = settle_one(su, r, root, &fl, buf_cstr(&want));
		else {
			log_warnx("special_use folder %s cannot be a folder "
			    "name: %s", conf->special[i].name, why);
			c = 0;
		}
		buf_free(&want);
		if (c == -1) {
			folder_list_free(&fl);
			return -1;
		}
		changed |= c;
	}
	/* a role given by CREATE whose folder went away is forgotten */
	for (i = 0; i < su->n; i++) {
		r = &su->role[i];
		if (r->name != NULL && !configured(conf, r->flag) &&
		    find_folder(&fl, r->name, 0) == NULL) {
			if (role_set(r, NULL) == -1)
				break;
			changed = 1;
		}
	}
	folder_list_free(&fl);
	if (changed && save(su, root) == -1)
		log_warn("cannot record the special-use folders in %s/%s",
		    root, SPECIALUSE_FILE);
	return 0;
}

size_t
specialuse_flags(const struct specialuse *su, const char *name,
    const char **flags, size_t max)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < su->n && n < max; i++)
		if (su->role[i].name != NULL &&
		    strcmp(su->role[i].name, name) == 0)
			flags[n++] = su->role[i].flag;
	return n;
}

int
specialuse_assign(struct specialuse *su, const char *root, const char *name,
    const char *const *flags, size_t n)
{
	struct specialuse next = *su;
	struct specialuse_role *r;
	unsigned i;
	size_t k;
	int saved;

	/* work on a copy whose names are its own, so that a failure
	 * leaves su as it was */
	for (i = 0; i < next.n; i++)
		next.role[i].name = NULL;
	for (i = 0; i < su->n; i++)
		if (role_set(&next.role[i], su->role[i].name) == -1)
			goto fail;
	for (k = 0; k < n; k++) {
		if ((r = role_add(&next, flags[k])) == NULL) {
			errno = ENOSPC;
			goto fail;
		}
		if (role_set(r, name) == -1)
			goto fail;
	}
	if (save(&next, root) == -1)
		goto fail;
	specialuse_free(su);
	*su = next;
	for (k = 0; k < n; k++)
		log_info("special-use %s is folder %s (CREATE)", flags[k],
		    name);
	return 0;
fail:
	saved = errno;
	specialuse_free(&next);
	errno = saved;
	return -1;
}

void
specialuse_renamed(struct specialuse *su, const char *root, const char *from,
    const char *to)
{
	size_t flen = strlen(from);
	struct buf b;
	unsigned i;
	int changed = 0;

	for (i = 0; i < su->n; i++) {
		const char *old = su->role[i].name;

		if (old == NULL || strncmp(old, from, flen) != 0 ||
		    (old[flen] != '\0' && old[flen] != '/'))
			continue;
		buf_init(&b, FOLDER_NAME_MAX);
		if (buf_adds(&b, to) == 0 && buf_adds(&b, old + flen) == 0 &&
		    role_set(&su->role[i], buf_cstr(&b)) == 0) {
			log_info("special-use %s is folder %s (RENAME)",
			    su->role[i].flag, buf_cstr(&b));
			changed = 1;
		}
		buf_free(&b);
	}
	if (changed && save(su, root) == -1)
		log_warn("cannot record the special-use folders in %s/%s",
		    root, SPECIALUSE_FILE);
}

void
specialuse_free(struct specialuse *su)
{
	unsigned i;

	for (i = 0; i < su->n; i++) {
		free(su->role[i].name);
		su->role[i].name = NULL;
	}
	su->n = 0;
}
