/*
 * Fuzz target: common/imap/imapresp, server responses as imapcheck and
 * imapwait read them from servers they do not control.
 *
 * Input: one response as imapconn_read() gives it (no final CRLF,
 * literals kept as sent).
 *
 * Properties checked:
 *   - every part imapresp_parse() names lies inside the response, in
 *     the order of the grammar, and the kind and status agree with it
 *     (a tag only on tagged responses, a status on every tagged one,
 *     a code only where resp-text may be, a name only on untagged
 *     data);
 *   - the name, code and tag it found are what imapresp_is(),
 *     imapresp_code_is() and imapresp_tag_is() say they are;
 *   - the argument tree and the FETCH items, where the data parses,
 *     stay within the parser's limits;
 *   - a capability list is looked through without reading past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/imap-parser.h"
#include "common/imap/imapresp.h"
#include "common/lib/buf.h"
#include "tests/fuzz/fuzz.h"

#define RESP_MAX	(64 * 1024)
#define ARGS_MAX	100000

static struct imap_parser *parser;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct imap_limits lim = { RESP_MAX + 4096, RESP_MAX, 2 * RESP_MAX,
	    64, ARGS_MAX };

	if ((parser = imap_parser_new(&lim)) == NULL)
		fuzz_die("imap_parser_new");
	return 0;
}

/* p .. p+len lies in b, at or after *at; *at moves past it. */
static void
inside(const struct buf *b, const char *p, size_t len, const char **at,
    const char *what)
{
	if (p == NULL) {
		FUZZ_CHECK(len == 0, "%s: NULL with length %zu", what, len);
		return;
	}
	FUZZ_CHECK(p >= *at && p <= b->data + b->len &&
	    len <= (size_t)(b->data + b->len - p), "%s outside (%td, %zu)",
	    what, p - b->data, len);
	*at = p + len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const struct imap_cmdline *cl;
	const struct imap_arg *items;
	struct imapresp r;
	struct buf b;
	const char *at;
	char name[64];
	size_t n;

	if (len > RESP_MAX)
		return 0;
	buf_init(&b, RESP_MAX + 1);
	if (buf_add(&b, data, len) == -1)
		fuzz_die("buf_add");
	if (imapresp_parse(&b, &r) == -1) {
		buf_free(&b);
		return 0;
	}
	at = b.data;
	inside(&b, r.tag, r.taglen, &at, "tag");
	inside(&b, r.code, r.codelen, &at, "code");
	inside(&b, r.codeargs, r.codeargslen, &at, "code arguments");
	inside(&b, r.text, r.textlen, &at, "text");
	at = b.data;
	inside(&b, r.name, r.namelen, &at, "name");
	inside(&b, r.rest, r.restlen, &at, "rest");
	FUZZ_CHECK((r.kind == IR_TAGGED) == (r.tag != NULL && r.taglen > 0),
	    "tag on a response of kind %d", r.kind);
	FUZZ_CHECK(r.kind != IR_TAGGED || r.status != IRS_NONE,
	    "tagged without a status");
	FUZZ_CHECK(r.kind != IR_CONTINUE || r.status == IRS_NONE,
	    "continuation with a status");
	FUZZ_CHECK(r.code == NULL || r.status != IRS_NONE ||
	    r.kind == IR_CONTINUE, "a code on untagged data");
	FUZZ_CHECK(r.name == NULL || (r.kind == IR_UNTAGGED &&
	    r.status == IRS_NONE), "a name on a status response");
	if (r.kind == IR_TAGGED && r.taglen < sizeof(name) &&
	    memchr(r.tag, '\0', r.taglen) == NULL) {
		memcpy(name, r.tag, r.taglen);
		name[r.taglen] = '\0';
		FUZZ_CHECK(imapresp_tag_is(&r, name), "tag %s", name);
	}
	if (r.name != NULL && r.namelen > 0 && r.namelen < sizeof(name) &&
	    memchr(r.name, '\0', r.namelen) == NULL) {
		memcpy(name, r.name, r.namelen);
		name[r.namelen] = '\0';
		FUZZ_CHECK(imapresp_is(&r, name), "name %s", name);
	}
	if (r.code != NULL && r.codelen > 0 && r.codelen < sizeof(name) &&
	    memchr(r.code, '\0', r.codelen) == NULL) {
		memcpy(name, r.code, r.codelen);
		name[r.codelen] = '\0';
		FUZZ_CHECK(imapresp_code_is(&r, name), "code %s", name);
		if (imapresp_code_is(&r, "CAPABILITY"))
			(void)imapresp_has_atom(r.codeargs, r.codeargslen,
			    "IMAP4rev2");
	}
	if (r.kind == IR_UNTAGGED && r.status == IRS_NONE) {
		if (imapresp_is(&r, "CAPABILITY"))
			(void)imapresp_has_atom(r.rest, r.restlen, "IMAP4rev2");
		if ((cl = imapresp_args(parser, &b)) != NULL)
			FUZZ_CHECK(cl->nargs <= ARGS_MAX, "%zu arguments",
			    cl->nargs);
		if (imapresp_fetch_items(parser, &b, &r, &items, &n) == 0)
			FUZZ_CHECK(n <= ARGS_MAX, "%zu FETCH items", n);
	}
	buf_free(&b);
	return 0;
}
