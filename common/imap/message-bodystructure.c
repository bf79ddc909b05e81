/*
 * message-bodystructure: BODY and BODYSTRUCTURE.  See message.h.
 *
 * The only recursion is over the MIME tree, whose depth the parser
 * bounds (MIME_DEPTH_MAX).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/imap/message-private.h"

/* --- BODY and BODYSTRUCTURE ----------------------------------------- */

static int
params(struct buf *out, const struct mime_param *p, size_t n,
    const char *default_charset)
{
	size_t i;

	if (n == 0 && default_charset == NULL)
		return buf_add(out, "NIL", 3);
	if (buf_addc(out, '(') == -1)
		return -1;
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_addc(out, ' ') == -1) ||
		    imap_nstring(out, p[i].name) == -1 ||
		    buf_addc(out, ' ') == -1 ||
		    imap_nstring(out, p[i].value) == -1)
			return -1;
	if (default_charset != NULL &&
	    buf_addf(out, "%s\"charset\" \"%s\"", n > 0 ? " " : "",
	    default_charset) == -1)
		return -1;
	return buf_addc(out, ')');
}

/* body-fld-dsp, body-fld-lang, body-fld-loc */
static int
ext_common(struct buf *out, const struct mime_part *p)
{
	if (buf_addc(out, ' ') == -1)
		return -1;
	if (p->disposition == NULL) {
		if (buf_add(out, "NIL", 3) == -1)
			return -1;
	} else if (buf_addc(out, '(') == -1 ||
	    imap_nstring(out, p->disposition) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    params(out, p->disp_params, p->ndisp_params, NULL) == -1 ||
	    buf_addc(out, ')') == -1)
		return -1;
	if (buf_addc(out, ' ') == -1)
		return -1;
	if (p->nlanguages == 0) {
		if (buf_add(out, "NIL", 3) == -1)
			return -1;
	} else if (list_of(out, p->languages, p->nlanguages,
	    imap_nstring) == -1)
		return -1;
	if (buf_addc(out, ' ') == -1)
		return -1;
	return imap_nstring(out, p->location);
}

static const char empty_body[] =
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
static const char empty_env[] = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

static int
empty_part(struct buf *out, int flags)
{
	if (buf_adds(out, empty_body) == -1)
		return -1;
	if ((flags & MESSAGE_BS_EXTENDED) &&
	    buf_adds(out, " NIL NIL NIL NIL") == -1)
		return -1;
	return buf_addc(out, ')');
}

static int
is_msg_type(const struct mime_part *p, int flags)
{
	return strcasecmp(p->type, "message") == 0 &&
	    (strcasecmp(p->subtype, "rfc822") == 0 ||
	    ((flags & MESSAGE_BS_GLOBAL) &&
	    strcasecmp(p->subtype, "global") == 0));
}

static int
body_part(const struct mime_part *p, int flags, struct buf *out,
    unsigned depth)
{
	const struct mime_part *c;
	unsigned exact;
	int multi = (p->flags & MIME_F_MULTIPART) ||
	    ((p->flags & MIME_F_OPAQUE) && strcasecmp(p->type,
	    "multipart") == 0);

	/* the parser bounds the depth; this only guards the stack */
	if (depth > MIME_DEPTH_MAX + 2) {
		errno = ELOOP;
		return -1;
	}
	if (buf_addc(out, '(') == -1)
		return -1;
	if (multi) {
		if (p->children == NULL && empty_part(out, flags) == -1)
			return -1;
		for (c = p->children; c != NULL; c = c->next)
			if (body_part(c, flags, out, depth + 1) == -1)
				return -1;
		if (buf_addc(out, ' ') == -1 ||
		    imap_nstring(out, p->subtype) == -1)
			return -1;
		if ((flags & MESSAGE_BS_EXTENDED) &&
		    (buf_addc(out, ' ') == -1 ||
		    params(out, p->params, p->nparams, NULL) == -1 ||
		    ext_common(out, p) == -1))
			return -1;
		return buf_addc(out, ')');
	}
	if (imap_nstring(out, p->type) == -1 || buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->subtype) == -1 || buf_addc(out, ' ') == -1 ||
	    params(out, p->params, p->nparams, (p->flags & MIME_F_TEXT) &&
	    p->charset == NULL ? "us-ascii" : NULL) == -1 ||
	    buf_addc(out, ' ') == -1 || imap_nstring(out, p->id) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->description) == -1 ||
	    buf_addc(out, ' ') == -1 ||
	    imap_nstring(out, p->cte_name != NULL ? p->cte_name :
	    "7bit") == -1 ||
	    buf_addf(out, " %llu", (unsigned long long)p->body_vsize) == -1)
		return -1;
	if (is_msg_type(p, flags)) {
		c = (p->flags & MIME_F_MESSAGE) ? p->children : NULL;
		if (buf_addc(out, ' ') == -1)
			return -1;
		if (c == NULL) {
			if (buf_adds(out, empty_env) == -1 ||
			    buf_addc(out, ' ') == -1 ||
			    empty_part(out, flags) == -1)
				return -1;
		} else if (envelope(c, out, &exact) == -1 ||
		    buf_addc(out, ' ') == -1 ||
		    body_part(c, flags, out, depth + 1) == -1)
			return -1;
		if (buf_addf(out, " %llu",
		    (unsigned long long)p->body_lines) == -1)
			return -1;
	} else if ((p->flags & MIME_F_TEXT) && buf_addf(out, " %llu",
	    (unsigned long long)p->body_lines) == -1)
		return -1;
	if ((flags & MESSAGE_BS_EXTENDED) &&
	    (buf_addc(out, ' ') == -1 || imap_nstring(out, p->md5) == -1 ||
	    ext_common(out, p) == -1))
		return -1;
	return buf_addc(out, ')');
}

int
message_bodystructure(struct message *m, int flags, struct buf *out)
{
	const struct mime_part *root = message_parts(m);
	size_t start = out->len;

	if (root == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (body_part(root, flags, out, 0) == -1) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
