/*
 * imapresp: what one server response says, for the tools that talk to
 * IMAP servers.  A response as imapconn_read() gives it is split by the
 * grammar of RFC 9051 section 7: a continuation ("+ ..."), a status
 * response (tagged, or untagged OK/NO/BAD/BYE/PREAUTH) with its
 * response code and human-readable text, or untagged data ("* 3 EXISTS",
 * "* LIST ...") with its name and the rest.
 *
 * Status text is free text (a server may put a lone quote or parenthesis
 * in it), so it is never handed to the argument parser; the data of the
 * other responses is, through imapresp_args(), which builds the tree with
 * the project's own parser (common/imap/imap-parser.h) under its limits.
 *
 * Nothing is copied: every pointer points into the response's buf, and
 * lengths are given because a literal may hold any byte.
 */
#ifndef CLIENT_IMAPRESP_H
#define CLIENT_IMAPRESP_H

#include <stddef.h>
#include <stdint.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"

enum imapresp_kind {
	IR_TAGGED,
	IR_UNTAGGED,		/* "* ..." */
	IR_CONTINUE,		/* "+ ..." */
};

enum imapresp_status {
	IRS_NONE,		/* untagged data, or a continuation */
	IRS_OK,
	IRS_NO,
	IRS_BAD,
	IRS_BYE,
	IRS_PREAUTH,
};

struct imapresp {
	enum imapresp_kind	 kind;
	const char		*tag;		/* tagged only */
	size_t			 taglen;
	enum imapresp_status	 status;
	/* a status response's code: "[" code SP codeargs "]"; NULL if none */
	const char		*code;
	size_t			 codelen;
	const char		*codeargs;
	size_t			 codeargslen;
	/* a status response's or continuation's text */
	const char		*text;
	size_t			 textlen;
	/* untagged data: "* 3 EXISTS" has number 3 (has_number set) and
	 * name "EXISTS"; "* LIST ..." has name "LIST"; rest follows the
	 * name and its space */
	int			 has_number;
	uint32_t		 number;
	const char		*name;
	size_t			 namelen;
	const char		*rest;
	size_t			 restlen;
};

/* Split one response.  0, or -1 when it fits none of the forms. */
int	imapresp_parse(const struct buf *, struct imapresp *);

/* 1 when name (case-insensitive) is the data name, status code, or the
 * tag of r, else 0. */
int	imapresp_is(const struct imapresp *, const char *name);
int	imapresp_code_is(const struct imapresp *, const char *code);
int	imapresp_tag_is(const struct imapresp *, const char *tag);

/*
 * The untagged data response r (from the buf b) as an argument tree:
 * the name and everything after it, so that for "* 3 FETCH (...)" the
 * command line's name is "3" and its arguments FETCH and the list.  p is
 * a parser the caller keeps (its limits bound the tree); the tree stays
 * valid until p is fed again.  NULL when the data does not parse.
 */
const struct imap_cmdline *imapresp_args(struct imap_parser *p,
	    const struct buf *b);

/* The attribute list of "* n FETCH (...)": the items (name, value,
 * name, value ...) in *items_r, *n_r of them.  0, or -1 when r is no
 * FETCH or does not parse.  Valid until p is fed again. */
int	imapresp_fetch_items(struct imap_parser *p, const struct buf *b,
	    const struct imapresp *r, const struct imap_arg **items_r,
	    size_t *n_r);

/* The atoms of a capability list (the rest of "* CAPABILITY" or the
 * codeargs of "[CAPABILITY ...]"): 1 when cap is among them (any case). */
int	imapresp_has_atom(const char *list, size_t len, const char *cap);

#endif
