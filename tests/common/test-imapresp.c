/* Unit tests for common/imap/imapresp: splitting server responses, and their
 * data as argument trees. */
#include <stdint.h>
#include <string.h>

#include "common/imap/imapresp.h"
#include "tests/t.h"

static const struct {
	const char		*in;
	int			 ok;
	enum imapresp_kind	 kind;
	enum imapresp_status	 status;
	const char		*tag, *code, *codeargs, *text, *name, *rest;
	long long		 number;	/* -1: none */
} cases[] = {
	{ "* OK [CAPABILITY IMAP4rev1 IDLE] ready", 1, IR_UNTAGGED, IRS_OK,
	    NULL, "CAPABILITY", "IMAP4rev1 IDLE", "ready", NULL, NULL, -1 },
	{ "a1 NO [AUTHENTICATIONFAILED] Invalid credentials", 1, IR_TAGGED,
	    IRS_NO, "a1", "AUTHENTICATIONFAILED", "", "Invalid credentials",
	    NULL, NULL, -1 },
	{ "a2 OK done", 1, IR_TAGGED, IRS_OK, "a2", NULL, NULL, "done", NULL,
	    NULL, -1 },
	{ " OK no tag", 0, 0, 0, NULL, NULL, NULL, NULL, NULL,
	    NULL, -1 },
	{ "* BYE (bye) \"", 1, IR_UNTAGGED, IRS_BYE, NULL, NULL, NULL,
	    "(bye) \"", NULL, NULL, -1 },
	{ "* OK [UIDNEXT 42] Predicted", 1, IR_UNTAGGED, IRS_OK, NULL,
	    "UIDNEXT", "42", "Predicted", NULL, NULL, -1 },
	{ "* PREAUTH ok", 1, IR_UNTAGGED, IRS_PREAUTH, NULL, NULL, NULL, "ok",
	    NULL, NULL, -1 },
	{ "+ idling", 1, IR_CONTINUE, IRS_NONE, NULL, NULL, NULL, "idling",
	    NULL, NULL, -1 },
	{ "+", 1, IR_CONTINUE, IRS_NONE, NULL, NULL, NULL, "", NULL, NULL,
	    -1 },
	{ "* 12 EXISTS", 1, IR_UNTAGGED, IRS_NONE, NULL, NULL, NULL, NULL,
	    "EXISTS", "", 12 },
	{ "* 3 FETCH (UID 7)", 1, IR_UNTAGGED, IRS_NONE, NULL, NULL, NULL,
	    NULL, "FETCH", "(UID 7)", 3 },
	{ "* SEARCH 1 2 3", 1, IR_UNTAGGED, IRS_NONE, NULL, NULL, NULL, NULL,
	    "SEARCH", "1 2 3", -1 },
	{ "* SEARCH", 1, IR_UNTAGGED, IRS_NONE, NULL, NULL, NULL, NULL,
	    "SEARCH", "", -1 },
	{ "a3 FETCH x", 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, -1 },
	{ "*", 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, -1 },
	{ "* 5", 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, -1 },
	{ "", 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, -1 },
};

static void
check_part(const char *got, size_t len, const char *want, int line)
{
	if (want == NULL) {
		CHECK_MSG(got == NULL, "case %d: %.*s", line, (int)len,
		    got != NULL ? got : "");
		return;
	}
	CHECK_MSG(got != NULL && len == strlen(want) &&
	    memcmp(got, want, len) == 0, "case %d: \"%.*s\" != \"%s\"",
	    line, got != NULL ? (int)len : 6, got != NULL ? got : "(null)",
	    want);
}

static void
test_parse(void)
{
	struct imapresp r;
	struct buf b;
	size_t i;
	int ok;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		(void)buf_adds(&b, cases[i].in);
		ok = imapresp_parse(&b, &r) == 0;
		CHECK_MSG(ok == cases[i].ok, "case %zu: %s", i, cases[i].in);
		if (!ok || !cases[i].ok)
			continue;
		CHECK_INT(r.kind, cases[i].kind);
		CHECK_INT(r.status, cases[i].status);
		check_part(r.tag, r.taglen, cases[i].tag, (int)i);
		check_part(r.code, r.codelen, cases[i].code, (int)i);
		if (cases[i].code != NULL)
			check_part(r.codeargs, r.codeargslen,
			    cases[i].codeargs, (int)i);
		check_part(r.text, r.textlen, cases[i].text, (int)i);
		check_part(r.name, r.namelen, cases[i].name, (int)i);
		if (cases[i].name != NULL)
			check_part(r.rest, r.restlen, cases[i].rest, (int)i);
		CHECK_INT(r.has_number ? (long long)r.number : -1,
		    cases[i].number);
	}
	buf_free(&b);
}

/* A FETCH with a literal, and a LIST with NIL and quoted strings, as the
 * project's parser sees them. */
static void
test_args(void)
{
	static const char fetch[] = "* 2 FETCH (UID 9 BODY[] {12}\r\n"
	    "Subject: x\r\n FLAGS (\\Seen))";
	static const char list[] = "* LIST (\\HasNoChildren \\Sent) \"/\" "
	    "\"Sent Items\"";
	struct imap_limits lim = { 65536, 65536, 1 << 20, 16, 1000 };
	const struct imap_cmdline *cl;
	const struct imap_arg *items;
	struct imap_parser *p = imap_parser_new(&lim);
	struct imapresp r;
	struct buf b;
	size_t n;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	buf_init(&b, 4096);
	(void)buf_add(&b, fetch, sizeof(fetch) - 1);
	CHECK(imapresp_parse(&b, &r) == 0);
	CHECK(imapresp_fetch_items(p, &b, &r, &items, &n) == 0);
	CHECK_INT(n, 6);
	if (n == 6) {
		CHECK_STR(imap_arg_atom(&items[0]), "UID");
		CHECK_STR(imap_arg_atom(&items[2]), "BODY[]");
		CHECK_INT(items[3].type, IMAP_ARG_LITERAL);
		CHECK_STR(imap_arg_astring(&items[3]), "Subject: x\r\n");
		CHECK_INT(items[5].type, IMAP_ARG_LIST);
	}
	buf_reset(&b);
	(void)buf_adds(&b, list);
	CHECK(imapresp_parse(&b, &r) == 0);
	CHECK(imapresp_fetch_items(p, &b, &r, &items, &n) == -1);
	cl = imapresp_args(p, &b);
	CHECK(cl != NULL);
	if (cl != NULL) {
		CHECK_STR(cl->name, "LIST");
		CHECK_INT(cl->nargs, 3);
		CHECK_INT(cl->args[0].type, IMAP_ARG_LIST);
		CHECK_STR(imap_arg_astring(&cl->args[1]), "/");
		CHECK_STR(imap_arg_astring(&cl->args[2]), "Sent Items");
	}
	/* data that does not parse is NULL, not a guess */
	buf_reset(&b);
	(void)buf_adds(&b, "* LIST (\\Noselect \"/\" x");
	CHECK(imapresp_args(p, &b) == NULL);
	buf_free(&b);
	imap_parser_free(p);
}

static void
test_atoms(void)
{
	static const char caps[] = "IMAP4rev1  IDLE AUTH=PLAIN LITERAL+";

	CHECK(imapresp_has_atom(caps, strlen(caps), "idle"));
	CHECK(imapresp_has_atom(caps, strlen(caps), "LITERAL+"));
	CHECK(!imapresp_has_atom(caps, strlen(caps), "LITERAL"));
	CHECK(!imapresp_has_atom(caps, strlen(caps), "AUTH"));
	CHECK(!imapresp_has_atom(caps, 4, "IMAP4rev1"));
}

int
main(void)
{
	T_RUN(test_parse);
	T_RUN(test_args);
	T_RUN(test_atoms);
	return t_done();
}
