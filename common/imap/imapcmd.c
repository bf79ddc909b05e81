/*
 * imapcmd: running one command to its tagged answer.  See imapcmd.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/imap/imapcmd.h"

void
imapcmd_result_init(struct imapcmd_result *res, size_t max)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->line, max);
}

void
imapcmd_result_free(struct imapcmd_result *res)
{
	buf_free(&res->line);
}

int
imapcmd_run(struct imapconn *c, const char *tag, int64_t deadline,
    imapcmd_handler fn, void *arg, struct imapcmd_result *res)
{
	struct buf r;
	struct imapresp ir;
	int64_t start = imapconn_now();
	int got;

	buf_init(&r, res->line.max);
	res->status = IRS_NONE;
	if (imapconn_send(c, deadline, NULL, NULL) == -1) {
		buf_free(&r);
		return -1;
	}
	for (;;) {
		if ((got = imapconn_read(c, &r, deadline)) != 1)
			break;
		if (imapresp_parse(&r, &ir) == -1) {
			got = -1;
			break;
		}
		if (imapresp_tag_is(&ir, tag) || ir.status == IRS_BYE) {
			buf_reset(&res->line);
			if (buf_add(&res->line, r.data, r.len) == -1) {
				got = -1;
				break;
			}
			(void)imapresp_parse(&res->line, &res->resp);
			res->status = res->resp.status;
			/* a BYE is followed by the close; the tagged answer
			 * may still come first, so it is waited for too */
			if (ir.status == IRS_BYE && fn != NULL)
				fn(arg, &r, &ir);
			if (ir.status != IRS_BYE)
				break;
			continue;
		}
		if (fn != NULL)
			fn(arg, &r, &ir);
	}
	buf_free(&r);
	res->ms = imapconn_now() - start;
	if (res->status == IRS_BYE)
		return 0;
	return got == 1 ? 0 : -1;
}

int
imapcmd_login(struct imapconn *c, const char *user, const char *password,
    int64_t deadline, imapcmd_handler fn, void *arg,
    struct imapcmd_result *res)
{
	const char *tag = imapconn_begin(c, "LOGIN");

	if (tag == NULL || imapconn_string(c, user, strlen(user)) == -1 ||
	    imapconn_string(c, password, strlen(password)) == -1)
		return -1;
	/* imapconn_begin() of the next command wipes the buffer */
	return imapcmd_run(c, tag, deadline, fn, arg, res);
}

int
imapcmd_note_caps(struct buf *caps, const struct imapresp *r)
{
	const char *p;
	size_t len;

	if (r->name != NULL && imapresp_is(r, "CAPABILITY")) {
		p = r->rest;
		len = r->restlen;
	} else if (r->code != NULL && imapresp_code_is(r, "CAPABILITY")) {
		p = r->codeargs;
		len = r->codeargslen;
	} else
		return 0;
	buf_reset(caps);
	(void)buf_add(caps, p, len);	/* a list past the maximum is cut */
	return 1;
}

int
imapcmd_has_cap(const struct buf *caps, const char *cap)
{
	return imapresp_has_atom(buf_cstr(caps), caps->len, cap);
}
