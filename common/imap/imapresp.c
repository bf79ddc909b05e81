/*
 * imapresp: splitting server responses.  See imapresp.h.
 */
#include <string.h>
#include <strings.h>

#include "common/imap/imapresp.h"
#include "common/lib/strnum.h"

static int
word_is(const char *p, size_t len, const char *w)
{
	return p != NULL && strlen(w) == len && strncasecmp(p, w, len) == 0;
}

static enum imapresp_status
status_of(const char *p, size_t len)
{
	static const struct {
		const char		*word;
		enum imapresp_status	 st;
	} words[] = {
		{ "OK", IRS_OK }, { "NO", IRS_NO }, { "BAD", IRS_BAD },
		{ "BYE", IRS_BYE }, { "PREAUTH", IRS_PREAUTH },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (word_is(p, len, words[i].word))
			return words[i].st;
	return IRS_NONE;
}

/* resp-text: ["[" code [SP args] "]" SP] text, from p to end. */
static void
resp_text(struct imapresp *r, const char *p, const char *end)
{
	const char *close, *sp;

	if (p < end && *p == '[' &&
	    (close = memchr(p, ']', (size_t)(end - p))) != NULL) {
		r->code = p + 1;
		sp = memchr(r->code, ' ', (size_t)(close - r->code));
		r->codelen = (size_t)((sp != NULL ? sp : close) - r->code);
		if (sp != NULL) {
			r->codeargs = sp + 1;
			r->codeargslen = (size_t)(close - r->codeargs);
		} else {
			r->codeargs = close;
			r->codeargslen = 0;
		}
		p = close + 1;
		if (p < end && *p == ' ')
			p++;
	}
	r->text = p;
	r->textlen = (size_t)(end - p);
}

int
imapresp_parse(const struct buf *b, struct imapresp *r)
{
	const char *p = b->data, *end = b->data + b->len, *w, *wend;
	uint64_t n;

	memset(r, 0, sizeof(*r));
	if (b->len == 0)
		return -1;
	if (*p == '+') {
		r->kind = IR_CONTINUE;
		p++;
		if (p < end && *p == ' ')
			p++;
		resp_text(r, p, end);
		return 0;
	}
	if (*p == '*') {
		r->kind = IR_UNTAGGED;
		p++;
	} else {
		r->kind = IR_TAGGED;
		r->tag = p;
		while (p < end && *p != ' ')
			p++;
		r->taglen = (size_t)(p - r->tag);
	}
	/* a tag has at least one character (RFC 9051's tag rule) */
	if (p == end || *p != ' ' || (r->kind == IR_TAGGED && r->taglen == 0))
		return -1;
	p++;
	w = p;
	while (p < end && *p != ' ')
		p++;
	if (r->kind == IR_UNTAGGED && strnum_u64_n(w, (size_t)(p - w),
	    UINT32_MAX, &n) == 0) {
		r->has_number = 1;
		r->number = (uint32_t)n;
		if (p == end)
			return -1;
		w = ++p;
		while (p < end && *p != ' ')
			p++;
	}
	wend = p;
	r->status = r->has_number ? IRS_NONE : status_of(w, (size_t)(wend - w));
	if (r->kind == IR_TAGGED && r->status == IRS_NONE)
		return -1;
	if (p < end)
		p++;
	if (r->status != IRS_NONE) {
		resp_text(r, p, end);
		return 0;
	}
	r->name = w;
	r->namelen = (size_t)(wend - w);
	r->rest = p;
	r->restlen = (size_t)(end - p);
	return 0;
}

int
imapresp_is(const struct imapresp *r, const char *name)
{
	return word_is(r->name, r->namelen, name);
}

int
imapresp_code_is(const struct imapresp *r, const char *code)
{
	return word_is(r->code, r->codelen, code);
}

int
imapresp_tag_is(const struct imapresp *r, const char *tag)
{
	return r->kind == IR_TAGGED && r->taglen == strlen(tag) &&
	    memcmp(r->tag, tag, r->taglen) == 0;
}

const struct imap_cmdline *
imapresp_args(struct imap_parser *p, const struct buf *b)
{
	/* the parser reads commands, whose tag cannot be "*": a stand-in
	 * tag takes its place, and the line gets back its CRLF */
	const char *pieces[3] = { "x", b->data + 1, "\r\n" };
	size_t lens[3] = { 1, b->len - 1, 2 }, i, used;
	enum imap_parse_status st = IMAP_PARSE_MORE;

	if (b->len < 2 || b->data[0] != '*')
		return NULL;
	imap_parser_reset(p);
	for (i = 0; i < 3; i++) {
		while (lens[i] > 0) {
			st = imap_parser_feed(p, pieces[i], lens[i], &used);
			pieces[i] += used;
			lens[i] -= used;
			if (st == IMAP_PARSE_LITERAL) {
				if (imap_parser_literal_accept(p) == -1)
					return NULL;
				continue;
			}
			if (st == IMAP_PARSE_ERROR)
				return NULL;
			if (st == IMAP_PARSE_COMMAND)
				return i == 2 && lens[i] == 0 ?
				    imap_parser_command(p) : NULL;
		}
	}
	return NULL;
}

int
imapresp_fetch_items(struct imap_parser *p, const struct buf *b,
    const struct imapresp *r, const struct imap_arg **items_r, size_t *n_r)
{
	const struct imap_cmdline *cl;

	if (!r->has_number || !imapresp_is(r, "FETCH") ||
	    (cl = imapresp_args(p, b)) == NULL || cl->nargs < 2 ||
	    cl->args[1].type != IMAP_ARG_LIST)
		return -1;
	*items_r = cl->args[1].list;
	*n_r = cl->args[1].len;
	return 0;
}

int
imapresp_has_atom(const char *list, size_t len, const char *cap)
{
	const char *p = list, *end = list + len, *w;

	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		w = p;
		while (p < end && *p != ' ')
			p++;
		if (word_is(w, (size_t)(p - w), cap))
			return 1;
	}
	return 0;
}
