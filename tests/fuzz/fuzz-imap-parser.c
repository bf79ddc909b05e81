/*
 * Fuzz target: common/imap/imap-parser, the first code to see a client's bytes.
 *
 * Input: two bytes of seed, then the byte stream a client sends.  The seed
 * picks a set of limits and a stream of decisions: what to do with each
 * literal offered (accept into memory, stream to a sink, to a sink that
 * fails part way, refuse, or feed on without deciding) and when to switch
 * limits, as a session does after login.
 *
 * Properties checked:
 *   - fed whole and fed in pieces of random sizes (each piece in its own
 *     allocation, so a read past it is a sanitizer report), the parser
 *     reports the same commands, errors and literals at the same stream
 *     offsets (the contract of imap-parser.h);
 *   - every feed takes a byte or reports something: no hang;
 *   - each command's tree keeps the limits it was parsed under and is
 *     well formed: strings NUL-terminated at len, atoms of atom bytes
 *     only, quoted strings without CR, LF or NUL, IMAP_ARGF_HAS_NUL
 *     exactly when a literal holds a NUL, a streamed literal's sink got
 *     exactly its bytes;
 *   - written back out as IMAP, a command parses again to the same tree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "tests/fuzz/fuzz.h"

#define ASZ		sizeof(struct imap_arg)
#define DUMP_MAX	(64 * 1024 * 1024)
#define SINKS_MAX	64

static const struct imap_limits limits[] = {
	/* line, literal, command, depth, args */
	{ 8192, 8192, 16 * 1024, 8, 256 },		/* before login */
	{ 64 * 1024, 64 * 1024 * 1024, 66 * 1024 * 1024, 32, 100000 },
	{ 40, 10, 120, 2, 4 },				/* tiny: every limit */
	{ 1000, 1000, 1000 + 20 * ASZ, 3, 20 },
};
#define NLIMITS	(sizeof(limits) / sizeof(limits[0]))

struct sinkdata {
	struct buf	 b[SINKS_MAX];
	size_t		 n;		/* sinks handed out */
	size_t		 fail_after;	/* for the failing sink */
};

struct run {
	struct imap_parser	*p;
	struct fuzz_rnd		 dec;	/* decisions */
	struct buf		 dump;	/* what was reported, and where */
	struct sinkdata		 sinks;
	const struct imap_limits *lim;	/* of the command being parsed */
	const struct imap_limits *next;
	size_t			 zero_feeds;
};

static int
sink_ok(void *ctx, const char *d, size_t n)
{
	struct buf *b = ctx;

	FUZZ_CHECK(n > 0, "a sink was called with no bytes");
	if (buf_add(b, d, n) == -1)
		fuzz_die("sink");
	return 0;
}

static int
sink_failing(void *ctx, const char *d, size_t n)
{
	struct buf *b = ctx;

	FUZZ_CHECK(n > 0, "a sink was called with no bytes");
	if (b->len + n > 3)
		return -1;
	if (buf_add(b, d, n) == -1)
		fuzz_die("sink");
	return 0;
}

/* ---- checking and writing out a tree ------------------------------ */

static int
atom_byte(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

/* Check args (depth levels deep) and add up what command_max counts. */
static void
check_args(const struct imap_arg *a, size_t n, unsigned depth,
    struct sinkdata *sd, size_t *mem, size_t *count, unsigned *maxdepth,
    size_t *streamed)
{
	size_t i, k;

	if (depth > *maxdepth)
		*maxdepth = depth;
	for (i = 0; i < n; i++) {
		(*count)++;
		*mem += ASZ;
		if (a[i].type == IMAP_ARG_LIST) {
			FUZZ_CHECK(a[i].list != NULL && a[i].str == NULL,
			    "list with bad pointers");
			check_args(a[i].list, a[i].len, depth + 1, sd, mem,
			    count, maxdepth, streamed);
			continue;
		}
		if (a[i].flags & IMAP_ARGF_STREAMED) {
			FUZZ_CHECK(a[i].str == NULL,
			    "streamed literal with text");
			FUZZ_CHECK(*streamed < sd->n, "streamed literal "
			    "without a sink");
			FUZZ_CHECK(sd->b[*streamed].len == a[i].len,
			    "sink got %zu bytes of a %zu byte literal",
			    sd->b[*streamed].len, a[i].len);
			(*streamed)++;
			continue;
		}
		FUZZ_CHECK(a[i].str != NULL && a[i].str[a[i].len] == '\0',
		    "string not NUL-terminated at its length");
		*mem += a[i].len + 1;
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			FUZZ_CHECK(a[i].len > 0, "empty atom");
			for (k = 0; k < a[i].len; k++)
				FUZZ_CHECK(atom_byte((unsigned char)
				    a[i].str[k]), "atom holds byte %#x",
				    (unsigned char)a[i].str[k]);
			break;
		case IMAP_ARG_QUOTED:
			for (k = 0; k < a[i].len; k++)
				FUZZ_CHECK(a[i].str[k] != '\r' &&
				    a[i].str[k] != '\n' && a[i].str[k] != '\0',
				    "quoted string holds CR, LF or NUL");
			break;
		case IMAP_ARG_LITERAL:
		case IMAP_ARG_LITERAL8:
			FUZZ_CHECK(!(a[i].flags & IMAP_ARGF_HAS_NUL) ==
			    (memchr(a[i].str, '\0', a[i].len) == NULL),
			    "HAS_NUL flag is wrong");
			break;
		default:
			FUZZ_CHECK(0, "unknown argument type %d", a[i].type);
		}
	}
}

static void
add(struct buf *b, const void *p, size_t n)
{
	if (buf_add(b, p, n) == -1)
		fuzz_die("buf");
}

/* Write args out as IMAP (each after a space, but for the first in a
 * list); streamed literals take their sink's bytes. */
static void
write_args(struct buf *b, const struct imap_arg *a, size_t n, int inlist,
    struct sinkdata *sd, size_t *streamed)
{
	const char *d;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (i > 0 || !inlist)
			add(b, " ", 1);
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			add(b, a[i].str, a[i].len);
			break;
		case IMAP_ARG_QUOTED:
			add(b, "\"", 1);
			for (k = 0; k < a[i].len; k++) {
				if (a[i].str[k] == '"' || a[i].str[k] == '\\')
					add(b, "\\", 1);
				add(b, a[i].str + k, 1);
			}
			add(b, "\"", 1);
			break;
		case IMAP_ARG_LITERAL:
		case IMAP_ARG_LITERAL8:
			if (buf_addf(b, "%s{%zu%s}\r\n",
			    a[i].type == IMAP_ARG_LITERAL8 ? "~" : "", a[i].len,
			    (a[i].flags & IMAP_ARGF_NONSYNC) ? "+" : "") == -1)
				fuzz_die("buf");
			d = a[i].str;
			if (a[i].flags & IMAP_ARGF_STREAMED)
				d = sd->b[(*streamed)++].data;
			add(b, d, a[i].len);
			break;
		case IMAP_ARG_LIST:
			add(b, "(", 1);
			write_args(b, a[i].list, a[i].len, 1, sd, streamed);
			add(b, ")", 1);
			break;
		}
	}
}

static int
same_args(const struct imap_arg *a, const struct imap_arg *b, size_t n,
    struct sinkdata *sd, size_t *streamed)
{
	const char *d;
	size_t i;

	for (i = 0; i < n; i++) {
		/* a streamed literal8 is marked HAS_NUL as a held one is */
		if (a[i].type != b[i].type || a[i].len != b[i].len ||
		    (a[i].flags & ~IMAP_ARGF_STREAMED) != b[i].flags)
			return 0;
		if (a[i].type == IMAP_ARG_LIST) {
			if (!same_args(a[i].list, b[i].list, a[i].len, sd,
			    streamed))
				return 0;
			continue;
		}
		d = a[i].str;
		if (a[i].flags & IMAP_ARGF_STREAMED)
			d = sd->b[(*streamed)++].data;
		if (a[i].len > 0 && memcmp(d, b[i].str, a[i].len) != 0)
			return 0;
	}
	return 1;
}

/* Written out as IMAP (quoted strings with the escapes they need, each
 * literal as it came), a command parses again to the same tree. */
static void
round_trip(const struct imap_cmdline *cmd, struct sinkdata *sd)
{
	static const struct imap_limits big = { SIZE_MAX / 4, UINT64_MAX,
	    SIZE_MAX / 4, 1000, 1000000 };
	const struct imap_cmdline *again;
	struct imap_parser *p;
	struct buf b;
	size_t off = 0, used, streamed = 0;
	enum imap_parse_status st;
	char *data;

	buf_init(&b, DUMP_MAX);
	add(&b, cmd->tag, strlen(cmd->tag));
	add(&b, " ", 1);
	add(&b, cmd->name, strlen(cmd->name));
	/* ")]x" comes out as ") ]x", the same tree */
	write_args(&b, cmd->args, cmd->nargs, 0, sd, &streamed);
	add(&b, "\r\n", 2);
	if ((p = imap_parser_new(&big)) == NULL)
		fuzz_die("parser");
	data = fuzz_dup(b.data, b.len);
	for (;;) {
		st = imap_parser_feed(p, data + off, b.len - off, &used);
		off += used;
		if (st == IMAP_PARSE_LITERAL) {
			imap_parser_literal_accept(p);
			continue;
		}
		FUZZ_CHECK(st == IMAP_PARSE_COMMAND, "a command written out "
		    "did not parse again (status %d, %s): %s", st,
		    imap_parser_error(p) ? imap_parser_error(p)->msg : "",
		    b.data);
		break;
	}
	FUZZ_CHECK(off == b.len, "bytes left after the command written out");
	again = imap_parser_command(p);
	streamed = 0;
	FUZZ_CHECK(strcmp(again->tag, cmd->tag) == 0 &&
	    strcmp(again->name, cmd->name) == 0 &&
	    again->nargs == cmd->nargs &&
	    same_args(cmd->args, again->args, cmd->nargs, sd, &streamed),
	    "a command written out parsed to another tree: %s", b.data);
	imap_parser_free(p);
	free(data);
	buf_free(&b);
}

/* ---- running the stream ------------------------------------------- */

static void
sinks_reset(struct sinkdata *sd)
{
	size_t i;

	for (i = 0; i < sd->n; i++)
		buf_reset(&sd->b[i]);
	sd->n = 0;
}

static void
sinks_free(struct sinkdata *sd)
{
	size_t i;

	for (i = 0; i < SINKS_MAX; i++)
		buf_free(&sd->b[i]);
}

static void
dump_args(struct buf *d, const struct imap_arg *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf_addf(d, " %d/%u/%zu", a[i].type, a[i].flags,
		    a[i].len) == -1)
			fuzz_die("dump");
		if (a[i].type == IMAP_ARG_LIST) {
			add(d, "(", 1);
			dump_args(d, a[i].list, a[i].len);
			add(d, ")", 1);
		} else if (a[i].str != NULL)
			add(d, a[i].str, a[i].len);
	}
}

/* Note what the last feed said, and check it. */
static void
report(struct run *r, enum imap_parse_status st, size_t at, int first)
{
	const struct imap_cmdline *c;
	const struct imap_parse_errinfo *e;
	const struct imap_literal_info *li;
	size_t mem = 0, count = 0, streamed = 0;
	unsigned depth = 0;

	switch (st) {
	case IMAP_PARSE_COMMAND:
		c = imap_parser_command(r->p);
		FUZZ_CHECK(c != NULL && c->args != NULL, "no command");
		if (buf_addf(&r->dump, "C@%zu %s %s", at, c->tag, c->name) ==
		    -1)
			fuzz_die("dump");
		dump_args(&r->dump, c->args, c->nargs);
		add(&r->dump, "\n", 1);
		check_args(c->args, c->nargs, 0, &r->sinks, &mem, &count,
		    &depth, &streamed);
		mem += strlen(c->tag) + 1 + strlen(c->name) + 1;
		FUZZ_CHECK(count <= r->lim->args_max, "%zu arguments, limit "
		    "%u", count, r->lim->args_max);
		FUZZ_CHECK(depth <= r->lim->depth_max, "nested %u deep, "
		    "limit %u", depth, r->lim->depth_max);
		FUZZ_CHECK(mem <= r->lim->command_max, "command of %zu bytes, "
		    "limit %zu", mem, r->lim->command_max);
		FUZZ_CHECK(streamed == r->sinks.n, "%zu sinks for %zu "
		    "streamed literals", r->sinks.n, streamed);
		if (first)
			round_trip(c, &r->sinks);
		break;
	case IMAP_PARSE_ERROR:
		e = imap_parser_error(r->p);
		FUZZ_CHECK(e != NULL && e->msg != NULL, "no error");
		if (buf_addf(&r->dump, "E@%zu %d %s %s\n", at, e->code,
		    e->tag != NULL ? e->tag : "-", e->msg) == -1)
			fuzz_die("dump");
		break;
	case IMAP_PARSE_LITERAL:
		li = imap_parser_literal(r->p);
		FUZZ_CHECK(li != NULL, "no literal");
		FUZZ_CHECK(li->size <= r->lim->literal_max, "literal of %llu "
		    "offered, limit %llu", (unsigned long long)li->size,
		    (unsigned long long)r->lim->literal_max);
		if (buf_addf(&r->dump, "L@%zu %s %s %zu/%u %llu%s%s\n", at,
		    li->tag, li->name != NULL ? li->name : "-", li->nargs,
		    li->depth, (unsigned long long)li->size,
		    li->nonsync ? "+" : "", li->literal8 ? "~" : "") == -1)
			fuzz_die("dump");
		break;
	case IMAP_PARSE_MORE:
		break;
	}
}

/* What to do after a report. */
static void
decide(struct run *r, enum imap_parse_status st)
{
	struct buf *b;

	if (st == IMAP_PARSE_COMMAND || st == IMAP_PARSE_ERROR) {
		sinks_reset(&r->sinks);
		if (fuzz_rnd(&r->dec, 8) == 0) {
			r->next = &limits[fuzz_rnd(&r->dec, NLIMITS)];
			imap_parser_set_limits(r->p, r->next);
		}
		/* they take effect at the next command */
		r->lim = r->next;
		return;
	}
	if (st != IMAP_PARSE_LITERAL)
		return;
	switch (fuzz_rnd(&r->dec, 6)) {
	case 0:
	case 1:
		imap_parser_literal_accept(r->p);
		break;
	case 2:
	case 3:
		if (r->sinks.n == SINKS_MAX) {
			imap_parser_literal_accept(r->p);
			break;
		}
		b = &r->sinks.b[r->sinks.n++];
		imap_parser_literal_accept_sink(r->p, fuzz_rnd(&r->dec, 4) ?
		    sink_ok : sink_failing, b);
		break;
	case 4:
		/* the command is gone, without a word */
		imap_parser_literal_reject(r->p);
		sinks_reset(&r->sinks);
		break;
	default:
		/* no decision: the next feed refuses it */
		break;
	}
}

static void
run_stream(struct run *r, const uint8_t *data, size_t len, uint16_t seed,
    int pieces)
{
	struct fuzz_rnd cut = { seed * 7919ULL + 1 };
	enum imap_parse_status st;
	size_t off = 0, end, used, k;
	char *piece;

	r->dec.state = seed;
	r->lim = r->next = &limits[seed % NLIMITS];
	buf_init(&r->dump, DUMP_MAX);
	memset(&r->sinks, 0, sizeof(r->sinks));
	for (k = 0; k < SINKS_MAX; k++)
		buf_init(&r->sinks.b[k], DUMP_MAX);
	if ((r->p = imap_parser_new(r->lim)) == NULL)
		fuzz_die("parser");
	r->zero_feeds = 0;
	while (off < len) {
		end = pieces ? off + fuzz_piece(&cut) : len;
		if (end > len)
			end = len;
		piece = fuzz_dup(data + off, end - off);
		k = 0;
		while (k < end - off) {
			st = imap_parser_feed(r->p, piece + k, end - off - k,
			    &used);
			FUZZ_CHECK(used <= end - off - k, "used more than given");
			k += used;
			FUZZ_CHECK(st != IMAP_PARSE_MORE ||
			    k == end - off, "MORE with bytes left");
			r->zero_feeds = used == 0 ? r->zero_feeds + 1 : 0;
			FUZZ_CHECK(r->zero_feeds < 4, "the parser takes no "
			    "bytes any more");
			report(r, st, off + k, !pieces);
			decide(r, st);
		}
		free(piece);
		off = end;
	}
	/* an empty literal at the very end completes without input */
	st = imap_parser_feed(r->p, "", 0, &used);
	report(r, st, off, !pieces);
	decide(r, st);
	imap_parser_free(r->p);
	sinks_free(&r->sinks);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct run whole, cut;
	uint16_t seed;

	if (len < 2)
		return 0;
	seed = (uint16_t)(data[0] | data[1] << 8);
	run_stream(&whole, data + 2, len - 2, seed, 0);
	run_stream(&cut, data + 2, len - 2, seed, 1);
	FUZZ_CHECK(whole.dump.len == cut.dump.len && (whole.dump.len == 0 ||
	    memcmp(whole.dump.data, cut.dump.data, whole.dump.len) == 0),
	    "fed in pieces, the parser said otherwise:\n--- whole\n%s\n"
	    "--- in pieces\n%s", buf_cstr(&whole.dump), buf_cstr(&cut.dump));
	buf_free(&whole.dump);
	buf_free(&cut.dump);
	return 0;
}
