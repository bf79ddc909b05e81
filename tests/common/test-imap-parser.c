/*
 * Unit tests for common/imap/imap-parser.  Each table case is run with the
 * input fed whole, one byte at a time, and split in two at every position;
 * a dump of everything the parser reported (with the stream offset of each
 * report) must be the same every time and match the table.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "common/imap/imap-parser.h"
#include "common/lib/buf.h"
#include "tests/t.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define ASZ	sizeof(struct imap_arg)
#define DUMP_MAX (1024 * 1024)

/* line, literal, command, depth, args */
static const struct imap_limits L_def = { 1000, 1000, 10000, 5, 100 };
static const struct imap_limits L_line8 = { 8, 1000, 10000, 5, 100 };
static const struct imap_limits L_line7 = { 7, 1000, 10000, 5, 100 };
static const struct imap_limits L_line14 = { 14, 1000, 10000, 5, 100 };
static const struct imap_limits L_line13 = { 13, 1000, 10000, 5, 100 };
static const struct imap_limits L_line10 = { 10, 1000, 10000, 5, 100 };
static const struct imap_limits L_line9 = { 9, 1000, 10000, 5, 100 };
static const struct imap_limits L_lit3 = { 1000, 3, 10000, 5, 100 };
/* "a\0" "X\0" "abc\0" and one argument */
static const struct imap_limits L_cmd_at = { 1000, 1000, 8 + ASZ, 5, 100 };
static const struct imap_limits L_cmd_over = { 1000, 1000, 7 + ASZ, 5, 100 };
/* "a\0" "X\0" "b\0" and two arguments, one a streamed literal */
static const struct imap_limits L_cmd_sink = { 1000, 1000, 6 + 2 * ASZ, 5,
    100 };
/* "a\0" "X\0" "ab" fit, the "c" does not */
static const struct imap_limits L_cmd_quoted = { 1000, 1000, 6 + ASZ, 5,
    100 };
/* "a\0" "X\0" fit, an argument does not */
static const struct imap_limits L_cmd_arg = { 1000, 1000, 4 + ASZ - 1, 5,
    100 };
static const struct imap_limits L_args2 = { 1000, 1000, 10000, 5, 2 };
static const struct imap_limits L_depth2 = { 1000, 1000, 10000, 2, 100 };
static const struct imap_limits L_depth0 = { 1000, 1000, 10000, 0, 100 };
static const struct imap_limits L_args3 = { 1000, 1000, 10000, 5, 3 };
/* what a session uses after login */
static const struct imap_limits L_post = { 64 * 1024, 64 * 1024 * 1024,
    66 * 1024 * 1024, 32, 100000 };

struct pcase {
	const char			*name;
	const struct imap_limits	*lim;	/* NULL: L_def */
	const char			*in;
	size_t				 len;	/* 0: strlen(in) */
	/* one letter per literal offered: a accept, s sink, f failing
	 * sink, r reject; 'a' once the string runs out */
	const char			*decide;
	const char			*want;
};

static const struct pcase cases[] = {
	/* plain commands, line ends, empty lines */
	{ "noop", NULL, "a NOOP\r\n", 0, "",
	  "C@8 a NOOP\nEND@8" },
	{ "bare lf", NULL, "a NOOP\n", 0, "",
	  "C@7 a NOOP\nEND@7" },
	{ "empty lines", NULL, "\r\n\n\r\na NOOP\r\n\n", 0, "",
	  "C@13 a NOOP\nEND@14" },
	{ "two commands", NULL, "a NOOP\r\nb CHECK\r\n", 0, "",
	  "C@8 a NOOP\nC@17 b CHECK\nEND@17" },
	{ "partial command", NULL, "a NOOP\r\nb LOGIN {3}\r", 0, "",
	  "C@8 a NOOP\nEND@20" },

	/* atoms */
	{ "atoms", NULL,
	  "a1 FETCH 1:*,5 (FLAGS \\Seen \\* BODY[1.2]<0.100> % * ]x)\r\n",
	  0, "",
	  "C@57 a1 FETCH 1:*,5 (FLAGS \\Seen \\* BODY[1.2]<0.100> % * ]x)\n"
	  "END@57" },
	{ "8-bit", NULL, "a X \"\xc3\xa9\" \xc3\xa9\r\n", 0, "",
	  "C@13 a X \"\\xc3\\xa9\" \\xc3\\xa9\nEND@13" },
	{ "nil", NULL, "a X NIL nil \"NIL\" ()\r\n", 0, "",
	  "C@22 a X NIL nil \"NIL\" ()\nEND@22" },
	{ "tilde atoms", NULL, "a X ~ ~a a~b (~)\r\n", 0, "",
	  "C@18 a X ~ ~a a~b (~)\nEND@18" },
	{ "body fields", NULL,
	  "a FETCH 1 (BODY[HEADER.FIELDS (From To)]<0.100> "
	  "BODY.PEEK[HEADER.FIELDS.NOT (X)])\r\n", 0, "",
	  "C@83 a FETCH 1 (BODY[HEADER.FIELDS (From To) ]<0.100> "
	  "BODY.PEEK[HEADER.FIELDS.NOT (X) ])\nEND@83" },

	/* quoted strings */
	{ "quoted escapes", NULL, "a LOGIN \"us\\\"er\" \"p\\\\w\" \"\"\r\n", 0,
	  "", "C@28 a LOGIN \"us\"er\" \"p\\w\" \"\"\nEND@28" },
	{ "quoted specials", NULL, "a X \"( ) { } % * ]\"\r\n", 0, "",
	  "C@21 a X \"( ) { } % * ]\"\nEND@21" },
	{ "quoted bad escape", NULL, "a X \"a\\b\"\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Invalid escape in quoted string\n"
	  "C@19 b NOOP\nEND@19" },
	{ "quoted cr", NULL, "a X \"ab\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Unterminated quoted string\nC@17 b NOOP\nEND@17" },
	{ "quoted lf", NULL, "a X \"ab\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Unterminated quoted string\nC@16 b NOOP\nEND@16" },
	{ "quoted escaped lf", NULL, "a X \"ab\\\nb NOOP\r\n", 0, "",
	  "E@9 SYNTAX a Unterminated quoted string\nC@17 b NOOP\nEND@17" },
	{ "quoted nul", NULL, "a X \"a\0b\"\r\nb NOOP\r\n", 19, "",
	  "E@7 SYNTAX a Invalid character in quoted string\n"
	  "C@19 b NOOP\nEND@19" },

	/* literals */
	{ "literal sync", NULL, "a LOGIN {5}\r\nhello {2}\r\npw\r\n", 0, "aa",
	  "L@13 a LOGIN 0/0 {5} a\nL@24 a LOGIN 1/0 {2} a\n"
	  "C@28 a LOGIN {5}\"hello\" {2}\"pw\"\nEND@28" },
	{ "literal nonsync", NULL, "a LOGIN {5+}\r\nhello {4+}\n\"pw\"\r\n", 0,
	  "aa", "L@14 a LOGIN 0/0 {5+} a\nL@25 a LOGIN 1/0 {4+} a\n"
	  "C@31 a LOGIN {5+}\"hello\" {4+}\"\"pw\"\"\nEND@31" },
	{ "literal8", NULL, "a APPEND box ~{3}\r\nabc ~{2+}\r\nxy\r\n", 0,
	  "aa", "L@19 a APPEND 1/0 ~{3} a\nL@30 a APPEND 2/0 ~{2+} a\n"
	  "C@34 a APPEND box ~{3}\"abc\" ~{2+}\"xy\"\nEND@34" },
	{ "literal nul", NULL, "a X {3}\r\na\0b\r\nb NOOP\r\n", 22, "",
	  "L@9 a X 0/0 {3} a\nE@12 SYNTAX a NUL byte in a literal (only "
	  "literal8 ~{n} may carry one)\nC@22 b NOOP\nEND@22" },
	{ "literal nul first", NULL, "a X {2+}\r\n\0b {1+}\r\nc\r\nb NOOP\r\n",
	  30, "", "L@10 a X 0/0 {2+} a\nE@12 SYNTAX a NUL byte in a literal "
	  "(only literal8 ~{n} may carry one)\nC@30 b NOOP\nEND@30" },
	{ "literal8 nul", NULL, "a X ~{3}\r\na\0b\r\n", 15, "",
	  "L@10 a X 0/0 ~{3} a\nC@15 a X ~{3,nul}\"a\\x00b\"\nEND@15" },
	{ "literal crlf inside", NULL, "a X {4}\r\n\r\n\r\n\r\n", 0, "",
	  "L@9 a X 0/0 {4} a\nC@15 a X {4}\"\\x0d\\x0a\\x0d\\x0a\"\nEND@15" },
	{ "literal empty", NULL, "a X {0}\r\n {0+}\r\n\r\n", 0, "",
	  "L@9 a X 0/0 {0} a\nL@16 a X 1/0 {0+} a\n"
	  "C@18 a X {0}\"\" {0+}\"\"\nEND@18" },
	{ "literal in lists", NULL, "a X y (a (b {1}\r\nc) d)\r\n", 0, "",
	  "L@17 a X 1/2 {1} a\nC@24 a X y (a (b {1}\"c\") d)\nEND@24" },
	{ "literal then paren", NULL, "a X ({1}\r\nc)({1}\r\nd)\r\n", 0, "",
	  "L@10 a X 0/1 {1} a\nE@13 SYNTAX a Missing space between arguments\n"
	  "E@20 SYNTAX - Invalid character in tag\nEND@22" },
	{ "literal bare lf", NULL, "a X {1}\nc\n", 0, "",
	  "L@8 a X 0/0 {1} a\nC@10 a X {1}\"c\"\nEND@10" },
	{ "literal leading zeros", NULL, "a X {00000000000000000002}\r\nab\r\n",
	  0, "", "L@28 a X 0/0 {2} a\nC@32 a X {2}\"ab\"\nEND@32" },

	/* literal syntax */
	{ "literal empty size", NULL, "a X {}\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid literal size\nC@16 b NOOP\nEND@16" },
	{ "literal bad digit", NULL, "a X {1a}\r\nb NOOP\r\n", 0, "",
	  "E@7 SYNTAX a Invalid literal size\nC@18 b NOOP\nEND@18" },
	{ "literal sign", NULL, "a X {-1}\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid literal size\nC@18 b NOOP\nEND@18" },
	{ "literal plus only", NULL, "a X {+}\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid literal size\nC@17 b NOOP\nEND@17" },
	{ "literal double plus", NULL, "a X {1++}\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Invalid literal size\nC@19 b NOOP\nEND@19" },
	{ "literal space", NULL, "a X { 1}\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid literal size\nC@18 b NOOP\nEND@18" },
	{ "literal no crlf", NULL, "a X {1}c\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Missing end of line after literal size\n"
	  "C@18 b NOOP\nEND@18" },
	{ "literal space crlf", NULL, "a X {1} \r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Missing end of line after literal size\n"
	  "C@18 b NOOP\nEND@18" },
	{ "literal cr alone", NULL, "a X {1}\rc\r\nb NOOP\r\n", 0, "",
	  "E@9 SYNTAX a CR without LF\nC@19 b NOOP\nEND@19" },
	{ "literal 21 digits", NULL,
	  "a X {000000000000000000001}\r\nb NOOP\r\n", 0, "",
	  "E@26 LITERAL a Literal too large\nC@37 b NOOP\nEND@37" },
	{ "literal overflow", NULL,
	  "a X {99999999999999999999}\r\nb NOOP\r\n", 0, "",
	  "E@26 LITERAL a Literal too large\nC@36 b NOOP\nEND@36" },
	{ "literal after atom", NULL, "a X ab{1}\r\nc\r\nb NOOP\r\n", 0, "",
	  "E@7 SYNTAX a Invalid character in atom\n"
	  "E@14 SYNTAX c Missing command name\n"
	  "C@22 b NOOP\nEND@22" },
	{ "literal as name", NULL, "a {1}\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Command name must be an atom\nC@15 b NOOP\nEND@15" },
	{ "literal8 as name", NULL, "a ~{1}\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@16 b NOOP\nEND@16" },

	/* tags */
	{ "tag chars", NULL, "A.1-x]y!#$&',./:;<=>?@[^_`|}~ NOOP\r\n", 0, "",
	  "C@36 A.1-x]y!#$&',./:;<=>?@[^_`|}~ NOOP\nEND@36" },
	{ "tag star", NULL, "* NOOP\r\nb NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Invalid character in tag\nC@16 b NOOP\nEND@16" },
	{ "tag plus", NULL, "+ NOOP\r\nb NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Invalid character in tag\nC@16 b NOOP\nEND@16" },
	{ "tag percent", NULL, "a% NOOP\r\n", 0, "",
	  "E@2 SYNTAX - Invalid character in tag\nEND@9" },
	{ "tag paren", NULL, "a(b NOOP\r\n", 0, "",
	  "E@2 SYNTAX - Invalid character in tag\nEND@10" },
	{ "tag quote", NULL, "\"a\" NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Invalid character in tag\nEND@10" },
	{ "tag brace", NULL, "a{1} NOOP\r\n", 0, "",
	  "E@2 SYNTAX - Invalid character in tag\nEND@11" },
	{ "tag backslash", NULL, "a\\b NOOP\r\n", 0, "",
	  "E@2 SYNTAX - Invalid character in tag\nEND@10" },
	{ "tag 8-bit", NULL, "\xc3\xa9 NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Invalid character in tag\nEND@9" },
	{ "tag tab", NULL, "a\tNOOP\r\nb NOOP\r\n", 0, "",
	  "E@2 SYNTAX - Invalid character in tag\nC@16 b NOOP\nEND@16" },
	{ "tag only", NULL, "a\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Missing command name\nC@11 b NOOP\nEND@11" },
	{ "tag only lf", NULL, "a\nb NOOP\r\n", 0, "",
	  "E@2 SYNTAX a Missing command name\nC@10 b NOOP\nEND@10" },
	{ "tag space only", NULL, "a \r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Missing command name\nC@12 b NOOP\nEND@12" },
	{ "missing tag", NULL, " NOOP\r\nb NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Missing tag\nC@15 b NOOP\nEND@15" },
	{ "cr at start", NULL, "\rb NOOP\r\nc NOOP\r\n", 0, "",
	  "E@2 SYNTAX - CR without LF\nC@17 c NOOP\nEND@17" },

	/* command names */
	{ "name quoted", NULL, "a \"X\"\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Command name must be an atom\nC@15 b NOOP\nEND@15" },
	{ "name list", NULL, "a (X)\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Command name must be an atom\nC@15 b NOOP\nEND@15" },
	{ "name paren", NULL, "a X(\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@14 b NOOP\nEND@14" },
	{ "name close paren", NULL, "a X)\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@14 b NOOP\nEND@14" },
	{ "name control", NULL, "a \x01X\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Invalid character in command name\n"
	  "C@14 b NOOP\nEND@14" },
	{ "name 8-bit", NULL, "a \xc3\xa9\r\n", 0, "",
	  "C@6 a \\xc3\\xa9\nEND@6" },

	/* separators */
	{ "two spaces after tag", NULL, "a  NOOP\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Extra space before command name\nC@17 b NOOP\nEND@17" },
	{ "two spaces", NULL, "a X a  b\r\nb NOOP\r\n", 0, "",
	  "E@7 SYNTAX a Extra space between arguments\nC@18 b NOOP\nEND@18" },
	{ "trailing space", NULL, "a NOOP \r\nb NOOP\r\n", 0, "",
	  "E@9 SYNTAX a Unexpected space at end of line\nC@17 b NOOP\nEND@17" },
	{ "trailing space lf", NULL, "a X y \nb NOOP\r\n", 0, "",
	  "E@7 SYNTAX a Unexpected space at end of line\nC@15 b NOOP\nEND@15" },
	{ "tab in name", NULL, "a X\ty\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@15 b NOOP\nEND@15" },
	{ "tab in atom", NULL, "a X y\tz\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid character in atom\nC@17 b NOOP\nEND@17" },
	{ "tab as arg", NULL, "a X \tz\r\nb NOOP\r\n", 0, "",
	  "E@5 SYNTAX a Invalid character in argument\nC@16 b NOOP\nEND@16" },
	{ "del in atom", NULL, "a X y\x7fz\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid character in atom\nC@17 b NOOP\nEND@17" },
	{ "space after paren", NULL, "a X ( a)\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Unexpected space after (\nC@18 b NOOP\nEND@18" },
	{ "space before paren", NULL, "a X (a )\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Unexpected space before )\nC@18 b NOOP\nEND@18" },
	{ "lists touching", NULL, "a X (a)(b)\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Missing space between arguments\nC@20 b NOOP\nEND@20" },
	{ "atom then paren", NULL, "a X a(b)\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Missing space before (\nC@18 b NOOP\nEND@18" },
	{ "quoted then atom", NULL, "a X \"a\"b\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Missing space between arguments\nC@18 b NOOP\nEND@18" },
	{ "atom then quote", NULL, "a X a\"b\"\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Invalid character in atom\nC@18 b NOOP\nEND@18" },
	{ "bracket after list", NULL, "a X (b)]\r\n", 0, "",
	  "C@10 a X (b) ]\nEND@10" },
	{ "bracket after quoted", NULL, "a X \"a\"]\r\nb X\r\n", 0, "",
	  "E@8 SYNTAX a Missing space between arguments\nC@15 b X\nEND@15" },
	{ "list then atom", NULL, "a X (a)b\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Missing space between arguments\nC@18 b NOOP\nEND@18" },
	{ "cr without lf", NULL, "a NOOP\rX\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a CR without LF\nC@18 b NOOP\nEND@18" },

	/* lists */
	{ "lists", NULL, "a X () (()) (a (b (c)) \"d\") x\r\n", 0, "",
	  "C@31 a X () (()) (a (b (c)) \"d\") x\nEND@31" },
	{ "unbalanced close", NULL, "a X a)\r\nb NOOP\r\n", 0, "",
	  "E@6 SYNTAX a Unexpected )\nC@16 b NOOP\nEND@16" },
	{ "extra close", NULL, "a X (a))\r\nb NOOP\r\n", 0, "",
	  "E@8 SYNTAX a Unexpected )\nC@18 b NOOP\nEND@18" },
	{ "missing close", NULL, "a X ((a)\r\nb NOOP\r\n", 0, "",
	  "E@10 SYNTAX a Missing )\nC@18 b NOOP\nEND@18" },
	{ "open at end", NULL, "a X (\r\nb NOOP\r\n", 0, "",
	  "E@7 SYNTAX a Missing )\nC@15 b NOOP\nEND@15" },

	/* limits, exactly at and one over */
	{ "line_max at", &L_line8, "a NOOP\r\n", 0, "",
	  "C@8 a NOOP\nEND@8" },
	{ "line_max over", &L_line7, "a NOOP\r\nb X\r\n", 0, "",
	  "E@8 LINE a Line too long\nC@13 b X\nEND@13" },
	{ "line_max over early", &L_line7, "a NOOPNOOP\r\nb X\r\n", 0, "",
	  "E@8 LINE a Line too long\nC@17 b X\nEND@17" },
	{ "line_max in tag", &L_line7, "abcdefgh NOOP\r\nb X\r\n", 0, "",
	  "E@8 LINE - Line too long\nC@20 b X\nEND@20" },
	{ "line_max literal at", &L_line14, "a X {3}\r\nabc yy\r\n", 0, "",
	  "L@9 a X 0/0 {3} a\nC@17 a X {3}\"abc\" yy\nEND@17" },
	{ "line_max literal over", &L_line13, "a X {3}\r\nabc yy\r\nb X\r\n", 0,
	  "", "L@9 a X 0/0 {3} a\nE@17 LINE a Line too long\n"
	  "C@22 b X\nEND@22" },
	/* cut inside "{3+}": the literal's bytes must still be skipped */
	{ "line_max in nonsync", &L_line7, "a XY {3+}\r\nb X\r\nc X\r\n", 0,
	  "", "E@8 LINE a Line too long\nC@21 c X\nEND@21" },
	{ "line_max at nonsync lf", &L_line10, "a XY {3+}\r\nb X\r\nc X\r\n",
	  0, "", "E@11 LINE a Line too long\nC@21 c X\nEND@21" },
	{ "line_max at nonsync cr", &L_line9, "a XY {3+}\r\nb X\r\nc X\r\n",
	  0, "", "E@10 LINE a Line too long\nC@21 c X\nEND@21" },
	{ "literal_max at", &L_lit3, "a X {3}\r\nabc\r\n", 0, "",
	  "L@9 a X 0/0 {3} a\nC@14 a X {3}\"abc\"\nEND@14" },
	{ "literal_max over", &L_lit3, "a X {4}\r\nb X\r\n", 0, "",
	  "E@7 LITERAL a Literal too large\nC@14 b X\nEND@14" },
	{ "literal_max over nonsync", &L_lit3,
	  "a X {4+}\r\nabcd more\r\nb X\r\n", 0, "",
	  "E@8 LITERAL a Literal too large\nC@26 b X\nEND@26" },
	{ "literal_max over nonsync bytes", &L_lit3,
	  "a X {5+}\r\nb X\r\nc X\r\nd X\r\n", 0, "",
	  "E@8 LITERAL a Literal too large\nC@25 d X\nEND@25" },
	{ "command_max at", &L_cmd_at, "a X abc\r\n", 0, "",
	  "C@9 a X abc\nEND@9" },
	{ "command_max over", &L_cmd_over, "a X abc\r\nb X\r\n", 0, "",
	  "E@8 COMMAND a Command too large\nC@14 b X\nEND@14" },
	{ "command_max literal at", &L_cmd_at, "a X {3}\r\nabc\r\n", 0, "",
	  "L@9 a X 0/0 {3} a\nC@14 a X {3}\"abc\"\nEND@14" },
	{ "command_max literal over", &L_cmd_over,
	  "a X {3}\r\nabc d\r\nb X\r\n", 0, "",
	  "L@9 a X 0/0 {3} a\nE@12 COMMAND a Command too large\n"
	  "C@21 b X\nEND@21" },
	{ "command_max streamed", &L_cmd_sink, "a X {5}\r\nhello b\r\n", 0,
	  "s", "L@9 a X 0/0 {5} s\nC@18 a X {5,stream} b\nS hello\nEND@18" },
	{ "command_max in quoted", &L_cmd_quoted, "a X \"abc\"\r\nb X\r\n",
	  0, "", "E@8 COMMAND a Command too large\nC@16 b X\nEND@16" },
	{ "command_max at argument", &L_cmd_arg, "a X abc\r\nb X\r\n", 0, "",
	  "E@5 COMMAND a Command too large\nC@14 b X\nEND@14" },
	{ "args_max bracket", &L_args2, "a X (b)]\r\nb X\r\n", 0, "",
	  "E@8 ARGS a Too many arguments\nC@15 b X\nEND@15" },
	{ "depth_max at", &L_depth2, "a X ((a) (b c) ()) ()\r\n", 0, "",
	  "C@23 a X ((a) (b c) ()) ()\nEND@23" },
	{ "depth_max over", &L_depth2, "a X ((a) (b (c)))\r\nb X\r\n", 0, "",
	  "E@13 DEPTH a Too deeply nested lists\nC@24 b X\nEND@24" },
	{ "depth_max zero", &L_depth0, "a X a ()\r\nb X\r\n", 0, "",
	  "E@7 DEPTH a Too deeply nested lists\nC@15 b X\nEND@15" },
	{ "args_max at", &L_args3, "a X a (b)\r\n", 0, "",
	  "C@11 a X a (b)\nEND@11" },
	{ "args_max over", &L_args3, "a X a (b c)\r\nb X\r\n", 0, "",
	  "E@10 ARGS a Too many arguments\nC@18 b X\nEND@18" },
	{ "args_max literal at", &L_args3, "a X a b {1}\r\nc\r\n", 0, "",
	  "L@13 a X 2/0 {1} a\nC@16 a X a b {1}\"c\"\nEND@16" },
	{ "args_max literal over", &L_args3, "a X a b c {1}\r\nb X\r\n", 0, "",
	  "E@11 ARGS a Too many arguments\nC@20 b X\nEND@20" },

	{ "literal 4 GiB", &L_post, "a APPEND x {4294967296}\r\nb NOOP\r\n",
	  0, "", "E@23 LITERAL a Literal too large\nC@33 b NOOP\nEND@33" },
	{ "literal 4 GiB nonsync", &L_post,
	  "a APPEND x {4294967296+}\r\nb NOOP\r\n", 0, "",
	  "E@24 LITERAL a Literal too large\nEND@34" },
	{ "literal max u64 nonsync", &L_post,
	  "a X {18446744073709551615+}\r\nb NOOP\r\n", 0, "",
	  "E@27 LITERAL a Literal too large\nEND@37" },

	/* literal decisions */
	{ "reject sync", NULL, "a X {5}\r\nb NOOP\r\n", 0, "r",
	  "L@9 a X 0/0 {5} r\nC@17 b NOOP\nEND@17" },
	{ "reject nonsync", NULL, "a X {5+}\r\nhello more\r\nb NOOP\r\n", 0,
	  "r", "L@10 a X 0/0 {5+} r\nC@30 b NOOP\nEND@30" },
	{ "reject nonsync looks like commands", NULL,
	  "a X {8+}\r\nc NOOP\r\n\r\nb NOOP\r\n", 0, "r",
	  "L@10 a X 0/0 {8+} r\nC@28 b NOOP\nEND@28" },
	{ "reject nonsync then more literals", NULL,
	  "a X {5+}\r\nhello {3+}\r\nabc {0+}\r\n {2+}\nxy\r\nb NOOP\r\n", 0,
	  "r", "L@10 a X 0/0 {5+} r\nC@50 b NOOP\nEND@50" },
	{ "reject second literal", NULL,
	  "a X {1}\r\nx {2}\r\nc X\r\n", 0, "ar",
	  "L@9 a X 0/0 {1} a\nL@16 a X 1/0 {2} r\nC@21 c X\nEND@21" },
	{ "sink", NULL, "a APPEND box (\\Seen) {5}\r\nhello\r\n", 0, "s",
	  "L@26 a APPEND 2/0 {5} s\nC@33 a APPEND box (\\Seen) {5,stream}\n"
	  "S hello\nEND@33" },
	{ "sink literal8", NULL, "a APPEND box ~{3+}\r\na\0c\r\n", 25, "s",
	  "L@20 a APPEND 1/0 ~{3+} s\nC@25 a APPEND box ~{3+,nul,stream}\n"
	  "S a\\x00c\nEND@25" },
	{ "sink empty", NULL, "a APPEND box {0}\r\n\r\n", 0, "s",
	  "L@18 a APPEND 1/0 {0} s\nC@20 a APPEND box {0,stream}\nEND@20" },
	{ "sink fails", NULL, "a APPEND box {5}\r\nhello more\r\nb NOOP\r\n",
	  0, "f", "L@18 a APPEND 1/0 {5} f\n"
	  "E@23 SINK a Literal data could not be stored\n"
	  "C@38 b NOOP\nEND@38" },
	{ "sink fails at end", NULL, "a APPEND box {5}\r\nhello\r\nb NOOP\r\n",
	  0, "f", "L@18 a APPEND 1/0 {5} f\n"
	  "E@23 SINK a Literal data could not be stored\n"
	  "C@33 b NOOP\nEND@33" },
	{ "sink nul", NULL,
	  "a APPEND box {5}\r\nhe\0lo {3}\r\nb NOOP\r\n", 37, "s",
	  "L@18 a APPEND 1/0 {5} s\n"
	  "E@23 SYNTAX a NUL byte in a literal (only literal8 ~{n} may "
	  "carry one)\nC@37 b NOOP\nEND@37" },

	/* error recovery */
	{ "bad then good", NULL, "a X (\"a)\r\nb NOOP\r\n", 0, "",
	  "E@9 SYNTAX a Unterminated quoted string\nC@18 b NOOP\nEND@18" },
	{ "bad line ending in nonsync", NULL,
	  "a X( {3+}\r\nabc\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@24 b NOOP\nEND@24" },
	{ "bad line ending in sync", NULL, "a X( {3}\r\nb NOOP\r\n", 0, "",
	  "E@4 SYNTAX a Invalid character in command name\n"
	  "C@18 b NOOP\nEND@18" },
	{ "error at nonsync brace", NULL, "a {3+}\r\nabc\r\nb NOOP\r\n", 0, "",
	  "E@3 SYNTAX a Command name must be an atom\nC@21 b NOOP\nEND@21" },
	{ "many bad lines", NULL, "(\r\n)\r\n\"\r\na\r\nb NOOP\r\n", 0, "",
	  "E@1 SYNTAX - Invalid character in tag\n"
	  "E@4 SYNTAX - Invalid character in tag\n"
	  "E@7 SYNTAX - Invalid character in tag\n"
	  "E@12 SYNTAX a Missing command name\nC@20 b NOOP\nEND@20" },
};

/* ---- running a case -------------------------------------------------- */

struct sinkctx {
	struct buf	 data;
	int		 fail;
	size_t		 calls;
};

static int
sink_fn(void *ctx, const char *d, size_t n)
{
	struct sinkctx *s = ctx;

	s->calls++;
	if (s->fail)
		return -1;
	return buf_add(&s->data, d, n);
}

static void
dump_bytes(struct buf *b, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			buf_addc(b, c);
		else
			buf_addf(b, "\\x%02x", c);
	}
}

/* Arguments as text; a broken invariant shows up as "!BAD". */
static void
dump_arg(struct buf *b, const struct imap_arg *a)
{
	size_t i;

	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_QUOTED:
		if (a->str == NULL || a->str[a->len] != '\0' ||
		    strlen(a->str) != a->len || a->list != NULL ||
		    a->flags != 0) {
			buf_adds(b, "!BAD");
			return;
		}
		if (a->type == IMAP_ARG_QUOTED)
			buf_addc(b, '"');
		dump_bytes(b, a->str, a->len);
		if (a->type == IMAP_ARG_QUOTED)
			buf_addc(b, '"');
		break;
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_LITERAL8:
		if (a->type == IMAP_ARG_LITERAL8)
			buf_addc(b, '~');
		buf_addf(b, "{%zu%s%s%s}", a->len,
		    a->flags & IMAP_ARGF_NONSYNC ? "+" : "",
		    a->flags & IMAP_ARGF_HAS_NUL ? ",nul" : "",
		    a->flags & IMAP_ARGF_STREAMED ? ",stream" : "");
		if (a->flags & IMAP_ARGF_STREAMED) {
			if (a->str != NULL)
				buf_adds(b, "!BAD");
			break;
		}
		if (a->str == NULL || a->str[a->len] != '\0' ||
		    ((memchr(a->str, '\0', a->len) != NULL) !=
		    ((a->flags & IMAP_ARGF_HAS_NUL) != 0))) {
			buf_adds(b, "!BAD");
			return;
		}
		buf_addc(b, '"');
		dump_bytes(b, a->str, a->len);
		buf_addc(b, '"');
		break;
	case IMAP_ARG_LIST:
		if (a->list == NULL || a->str != NULL) {
			buf_adds(b, "!BAD");
			return;
		}
		buf_addc(b, '(');
		for (i = 0; i < a->len; i++) {
			if (i > 0)
				buf_addc(b, ' ');
			dump_arg(b, &a->list[i]);
		}
		buf_addc(b, ')');
		break;
	default:
		buf_adds(b, "!BAD");
		break;
	}
}

static const char *
errname(enum imap_parse_error e)
{
	static const char *names[] = { "NONE", "SYNTAX", "LINE", "LITERAL",
	    "COMMAND", "DEPTH", "ARGS", "NOMEM", "SINK" };

	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] :
	    "?";
}

/*
 * Run one case.  Input becomes available in pieces ending at cuts[0],
 * cuts[1], ..., len; like a session, whatever the parser leaves unused is
 * offered again with the next piece.  The reports go to out.
 */
static void
run_case(const struct pcase *c, size_t len, const size_t *cuts,
    size_t ncuts, struct buf *out)
{
	struct imap_parser *p;
	const struct imap_cmdline *cmd;
	const struct imap_parse_errinfo *e;
	const struct imap_literal_info *li;
	enum imap_parse_status st;
	struct sinkctx sk;
	size_t pos = 0, avail, used, nextcut = 0, ndecide = 0, i, loops = 0;
	char d;

	buf_reset(out);
	memset(&sk, 0, sizeof(sk));
	buf_init(&sk.data, DUMP_MAX);
	p = imap_parser_new(c->lim != NULL ? c->lim : &L_def);
	avail = ncuts > 0 ? cuts[nextcut++] : len;
	for (;;) {
		if (++loops > 4 * len + 100) {
			buf_adds(out, "LOOP\n");
			break;
		}
		st = imap_parser_feed(p, c->in + pos, avail - pos, &used);
		if (used > avail - pos) {
			buf_adds(out, "OVERUSE\n");
			break;
		}
		pos += used;
		switch (st) {
		case IMAP_PARSE_MORE:
			if (pos != avail)
				buf_addf(out, "SHORT@%zu\n", pos);
			if (avail == len)
				goto done;
			avail = nextcut < ncuts ? cuts[nextcut++] : len;
			break;
		case IMAP_PARSE_COMMAND:
			cmd = imap_parser_command(p);
			if (cmd == NULL || imap_parser_error(p) != NULL ||
			    imap_parser_literal(p) != NULL) {
				buf_adds(out, "!BAD\n");
				break;
			}
			buf_addf(out, "C@%zu ", pos);
			dump_bytes(out, cmd->tag, strlen(cmd->tag));
			buf_addc(out, ' ');
			dump_bytes(out, cmd->name, strlen(cmd->name));
			if (cmd->args == NULL)
				buf_adds(out, " !BAD");
			for (i = 0; i < cmd->nargs; i++) {
				buf_addc(out, ' ');
				dump_arg(out, &cmd->args[i]);
			}
			buf_addc(out, '\n');
			if (sk.data.len > 0) {
				buf_adds(out, "S ");
				dump_bytes(out, sk.data.data, sk.data.len);
				buf_addc(out, '\n');
				buf_reset(&sk.data);
			}
			break;
		case IMAP_PARSE_LITERAL:
			li = imap_parser_literal(p);
			if (li == NULL) {
				buf_adds(out, "!BAD\n");
				break;
			}
			d = c->decide[ndecide] != '\0' ? c->decide[ndecide++] :
			    'a';
			buf_addf(out, "L@%zu %s %s %zu/%u %s{%llu%s} %c\n", pos,
			    li->tag, li->name, li->nargs, li->depth,
			    li->literal8 ? "~" : "",
			    (unsigned long long)li->size,
			    li->nonsync ? "+" : "", d);
			switch (d) {
			case 'a':
				imap_parser_literal_accept(p);
				break;
			case 's':
			case 'f':
				sk.fail = d == 'f';
				imap_parser_literal_accept_sink(p, sink_fn, &sk);
				break;
			default:
				imap_parser_literal_reject(p);
				break;
			}
			break;
		case IMAP_PARSE_ERROR:
			e = imap_parser_error(p);
			if (e == NULL || imap_parser_command(p) != NULL) {
				buf_adds(out, "!BAD\n");
				break;
			}
			buf_addf(out, "E@%zu %s %s %s\n", pos, errname(e->code),
			    e->tag != NULL ? e->tag : "-", e->msg);
			buf_reset(&sk.data);
			break;
		}
	}
done:
	buf_addf(out, "END@%zu", pos);
	imap_parser_free(p);
	buf_free(&sk.data);
}

static void
test_table(void)
{
	struct buf whole, other;
	size_t ci, len, i, *cuts, step;

	buf_init(&whole, DUMP_MAX);
	buf_init(&other, DUMP_MAX);
	for (ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct pcase *c = &cases[ci];

		len = c->len != 0 ? c->len : strlen(c->in);
		run_case(c, len, NULL, 0, &whole);
		CHECK_MSG(strcmp(buf_cstr(&whole), c->want) == 0,
		    "%s: got\n%s\nwant\n%s", c->name, buf_cstr(&whole),
		    c->want);

		/* one byte at a time */
		cuts = calloc(len + 1, sizeof(*cuts));
		for (i = 1; i < len; i++)
			cuts[i - 1] = i;
		run_case(c, len, cuts, len > 0 ? len - 1 : 0, &other);
		CHECK_MSG(strcmp(buf_cstr(&whole), buf_cstr(&other)) == 0,
		    "%s bytewise: got\n%s\nwant\n%s", c->name,
		    buf_cstr(&other), buf_cstr(&whole));

		/* in two pieces, cut at every position */
		step = len > 4096 ? len / 1000 : 1;
		for (i = 1; i < len; i += step) {
			cuts[0] = i;
			run_case(c, len, cuts, 1, &other);
			CHECK_MSG(strcmp(buf_cstr(&whole),
			    buf_cstr(&other)) == 0,
			    "%s split at %zu: got\n%s\nwant\n%s", c->name, i,
			    buf_cstr(&other), buf_cstr(&whole));
		}
		free(cuts);
	}
	buf_free(&whole);
	buf_free(&other);
}

/* Small deterministic generator, so a failure can be reproduced. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Each table case again, cut into several pieces at random places. */
static void
test_random_pieces(void)
{
	struct buf whole, other;
	size_t ci, len, cuts[8], n, i, round;
	int ok;

	buf_init(&whole, DUMP_MAX);
	buf_init(&other, DUMP_MAX);
	for (ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct pcase *c = &cases[ci];

		len = c->len != 0 ? c->len : strlen(c->in);
		if (len < 3)
			continue;
		run_case(c, len, NULL, 0, &whole);
		ok = 1;
		for (round = 0; round < 50 && ok; round++) {
			n = 1 + rng() % 8;
			for (i = 0; i < n; i++)
				cuts[i] = 1 + rng() % (len - 1);
			qsort(cuts, n, sizeof(cuts[0]), cmp_size);
			run_case(c, len, cuts, n, &other);
			ok = strcmp(buf_cstr(&whole), buf_cstr(&other)) == 0;
		}
		CHECK_MSG(ok, "%s in random pieces: got\n%s\nwant\n%s", c->name,
		    buf_cstr(&other), buf_cstr(&whole));
	}
	buf_free(&whole);
	buf_free(&other);
}

static size_t
heap_in_use(void)
{
#ifdef UNDER_ASAN
	return 0;	/* the sanitizer's allocator is not glibc's */
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

/* Whether heap_in_use() sees allocations here (not under a sanitizer or
 * some replacement allocators); the memory checks are skipped if not. */
static int
heap_measurable(void)
{
	size_t before = heap_in_use();
	char *x = malloc(1024 * 1024);
	int ok;

	if (x == NULL)
		return 0;
	x[0] = 1;
	ok = heap_in_use() >= before + 1024 * 1024;
	free(x);
	return ok;
}

/* Feed all of s; return the status, *used_r says how much was taken. */
static enum imap_parse_status
feed_str(struct imap_parser *p, const char *s, size_t *used_r)
{
	return imap_parser_feed(p, s, strlen(s), used_r);
}

static void
test_helpers(void)
{
	static const char in[] = "a X atom \"quoted\" {3}\r\nlit NIL nil "
	    "\"NIL\" NILS (l) () ~{2}\r\nl8 {1+}\r\ns\r\n";
	struct imap_parser *p;
	const struct imap_cmdline *cmd;
	const struct imap_arg *a;
	struct sinkctx sk;
	size_t used, off = 0;
	enum imap_parse_status st;
	int nlit = 0;

	memset(&sk, 0, sizeof(sk));
	buf_init(&sk.data, 100);
	p = imap_parser_new(&L_def);
	for (;;) {
		st = imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &used);
		off += used;
		if (st != IMAP_PARSE_LITERAL)
			break;
		if (++nlit == 3)
			imap_parser_literal_accept_sink(p, sink_fn, &sk);
		else
			imap_parser_literal_accept(p);
	}
	CHECK_INT(st, IMAP_PARSE_COMMAND);
	CHECK_INT(off, sizeof(in) - 1);
	cmd = imap_parser_command(p);
	CHECK(cmd != NULL);
	if (cmd == NULL || cmd->nargs != 11) {
		CHECK_INT(cmd != NULL ? cmd->nargs : 0, 11);
		imap_parser_free(p);
		buf_free(&sk.data);
		return;
	}
	CHECK_STR(cmd->tag, "a");
	CHECK_STR(cmd->name, "X");
	a = cmd->args;
	/* atom */
	CHECK(imap_arg_is_string(&a[0]));
	CHECK_STR(imap_arg_astring(&a[0]), "atom");
	CHECK_STR(imap_arg_atom(&a[0]), "atom");
	CHECK(!imap_arg_is_nil(&a[0]));
	/* quoted */
	CHECK(imap_arg_is_string(&a[1]));
	CHECK_STR(imap_arg_astring(&a[1]), "quoted");
	CHECK(imap_arg_atom(&a[1]) == NULL);
	/* literal */
	CHECK(imap_arg_is_string(&a[2]));
	CHECK_STR(imap_arg_astring(&a[2]), "lit");
	CHECK(imap_arg_atom(&a[2]) == NULL);
	CHECK_INT(a[2].flags, 0);
	/* NIL in any case is an atom; quoted "NIL" is not NIL */
	CHECK(imap_arg_is_nil(&a[3]));
	CHECK(imap_arg_is_nil(&a[4]));
	CHECK_STR(imap_arg_atom(&a[4]), "nil");
	CHECK(!imap_arg_is_nil(&a[5]));
	CHECK(!imap_arg_is_nil(&a[6]));
	/* lists */
	CHECK(!imap_arg_is_string(&a[7]));
	CHECK(imap_arg_astring(&a[7]) == NULL);
	CHECK(imap_arg_atom(&a[7]) == NULL);
	CHECK(!imap_arg_is_nil(&a[7]));
	CHECK_INT(a[7].len, 1);
	CHECK_STR(imap_arg_atom(&a[7].list[0]), "l");
	CHECK_INT(a[8].type, IMAP_ARG_LIST);
	CHECK_INT(a[8].len, 0);
	CHECK(a[8].list != NULL);
	/* literal8 is not an astring */
	CHECK_INT(a[9].type, IMAP_ARG_LITERAL8);
	CHECK(!imap_arg_is_string(&a[9]));
	CHECK(imap_arg_astring(&a[9]) == NULL);
	CHECK(memcmp(a[9].str, "l8", 3) == 0);
	/* a streamed literal is a string with no text */
	CHECK_INT(a[10].type, IMAP_ARG_LITERAL);
	CHECK_INT(a[10].flags, IMAP_ARGF_NONSYNC | IMAP_ARGF_STREAMED);
	CHECK(imap_arg_is_string(&a[10]));
	CHECK(imap_arg_astring(&a[10]) == NULL);
	CHECK(a[10].str == NULL);
	CHECK_INT(a[10].len, 1);
	CHECK(sk.data.len == 1 && sk.data.data[0] == 's');

	/* no arguments: args still points somewhere */
	CHECK_INT(feed_str(p, "b NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	cmd = imap_parser_command(p);
	CHECK(cmd != NULL && cmd->nargs == 0 && cmd->args != NULL);
	imap_parser_free(p);
	buf_free(&sk.data);
}

/* What the parser hands out lives until the next feed. */
static void
test_lifetime(void)
{
	struct imap_parser *p = imap_parser_new(&L_def);
	size_t used;

	CHECK(imap_parser_command(p) == NULL);
	CHECK(imap_parser_error(p) == NULL);
	CHECK(imap_parser_literal(p) == NULL);
	CHECK_INT(imap_parser_literal_accept(p), -1);
	CHECK_INT(imap_parser_literal_accept_sink(p, sink_fn, NULL), -1);
	imap_parser_literal_reject(p);		/* nothing pending: no-op */

	CHECK_INT(feed_str(p, "a NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK(imap_parser_command(p) != NULL);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(used, 0);
	CHECK(imap_parser_command(p) == NULL);

	CHECK_INT(feed_str(p, "a X (\r\n", &used), IMAP_PARSE_ERROR);
	CHECK(imap_parser_error(p) != NULL);
	CHECK(imap_parser_command(p) == NULL);
	CHECK_INT(imap_parser_feed(p, "", 0, &used), IMAP_PARSE_MORE);
	CHECK(imap_parser_error(p) == NULL);

	CHECK_INT(feed_str(p, "a X {2}\r\n", &used), IMAP_PARSE_LITERAL);
	CHECK(imap_parser_literal(p) != NULL);
	CHECK_INT(imap_parser_literal_accept(p), 0);
	CHECK(imap_parser_literal(p) == NULL);
	CHECK_INT(imap_parser_literal_accept(p), -1);
	CHECK_INT(feed_str(p, "ab\r\n", &used), IMAP_PARSE_COMMAND);

	/* nothing to feed, in every state that takes no line bytes */
	CHECK_INT(feed_str(p, "a X(", &used), IMAP_PARSE_ERROR);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, " {1+}\r\n", &used), IMAP_PARSE_MORE);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, "x", &used), IMAP_PARSE_MORE);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, "\r\n", &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, "a X {0}\r\n", &used), IMAP_PARSE_LITERAL);
	imap_parser_literal_accept(p);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, "\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_INT(feed_str(p, "a X {2}\r\n", &used), IMAP_PARSE_LITERAL);
	imap_parser_literal_accept(p);
	CHECK_INT(imap_parser_feed(p, NULL, 0, &used), IMAP_PARSE_MORE);
	CHECK_INT(feed_str(p, "ab\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_INT(imap_parser_command(p)->args[0].len, 2);
	imap_parser_free(p);
	imap_parser_free(NULL);
}

/* Feeding again without deciding on a literal refuses it. */
static void
test_no_decision(void)
{
	struct imap_parser *p = imap_parser_new(&L_def);
	const struct imap_parse_errinfo *e;
	const char *in;
	size_t used;

	CHECK_INT(feed_str(p, "a X {3}\r\n", &used), IMAP_PARSE_LITERAL);
	in = "b NOOP\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_ERROR);
	CHECK_INT(used, 0);
	e = imap_parser_error(p);
	CHECK(e != NULL && e->code == IMAP_PERR_COMMAND);
	CHECK_STR(e != NULL ? e->tag : NULL, "a");
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "b");

	/* a {n+} one: its bytes are skipped */
	in = "a X {3+}\r\nabc\r\nb NOOP\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_LITERAL);
	in += used;
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_ERROR);
	CHECK_INT(used, 0);
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "b");
	imap_parser_free(p);
}

static void
test_set_limits(void)
{
	static const struct imap_limits tiny = { 8, 10, 100, 1, 2 };
	struct imap_parser *p = imap_parser_new(&L_def);
	const struct imap_parse_errinfo *e;
	size_t used;

	CHECK_INT(feed_str(p, "a X", &used), IMAP_PARSE_MORE);
	imap_parser_set_limits(p, &tiny);
	/* the command under way keeps the limits it started with */
	CHECK_INT(feed_str(p, " yyyyyyyy (b c d)\r\n", &used),
	    IMAP_PARSE_COMMAND);
	CHECK_INT(feed_str(p, "b NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_INT(feed_str(p, "c NOOOP\r\n", &used), IMAP_PARSE_ERROR);
	e = imap_parser_error(p);
	CHECK(e != NULL && e->code == IMAP_PERR_LINE);
	imap_parser_set_limits(p, &L_def);
	CHECK_INT(feed_str(p, "\nd NOOOP\r\n", &used), IMAP_PARSE_COMMAND);
	imap_parser_free(p);
}

static void
test_reset(void)
{
	struct imap_parser *p = imap_parser_new(&L_def);
	size_t used;

	CHECK_INT(feed_str(p, "a X (b {3}\r\n", &used), IMAP_PARSE_LITERAL);
	imap_parser_reset(p);
	CHECK(imap_parser_literal(p) == NULL);
	CHECK_INT(feed_str(p, "c NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "c");
	CHECK_INT(feed_str(p, "a X \"abc", &used), IMAP_PARSE_MORE);
	imap_parser_reset(p);
	CHECK_INT(feed_str(p, "d NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "d");
	/* a pending skip is forgotten too */
	CHECK_INT(feed_str(p, "a X( {100+}\r\n", &used), IMAP_PARSE_ERROR);
	imap_parser_reset(p);
	CHECK_INT(feed_str(p, "e NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "e");
	imap_parser_reset(p);
	CHECK(imap_parser_command(p) == NULL);
	imap_parser_free(p);
}

/* Streamed literal data arrives in pieces of whatever size came in. */
static void
test_sink_pieces(void)
{
	struct imap_parser *p;
	struct sinkctx sk;
	char in[200];
	size_t len, off, used, hdr, i, n;
	enum imap_parse_status st;
	int bytewise;

	hdr = (size_t)snprintf(in, sizeof(in), "a APPEND box {100}\r\n");
	for (i = 0; i < 100; i++)
		in[hdr + i] = (char)('!' + (i * 7) % 90);
	memcpy(in + hdr + 100, "\r\n", 2);
	len = hdr + 102;
	for (bytewise = 0; bytewise <= 1; bytewise++) {
		memset(&sk, 0, sizeof(sk));
		buf_init(&sk.data, 1000);
		p = imap_parser_new(&L_def);
		off = 0;
		do {
			n = bytewise ? 1 : len - off;
			st = imap_parser_feed(p, in + off, n, &used);
			off += used;
			if (st == IMAP_PARSE_LITERAL)
				imap_parser_literal_accept_sink(p, sink_fn,
				    &sk);
		} while (st != IMAP_PARSE_COMMAND && off < len);
		CHECK_INT(st, IMAP_PARSE_COMMAND);
		CHECK_INT(off, len);
		CHECK_INT(sk.calls, bytewise ? 100 : 1);
		CHECK(sk.data.len == 100 &&
		    memcmp(sk.data.data, in + hdr, 100) == 0);
		imap_parser_free(p);
		buf_free(&sk.data);
	}
}

/* What an offer says about where the literal stands. */
static void
test_literal_info(void)
{
	static const struct {
		const char	*in;
		const char	*first;		/* NULL: none */
		int		 atom;
		size_t		 nargs;
		unsigned	 depth;
	} t[] = {
		{ "a UID COPY 1:2 {5}\r\n", "COPY", 1, 2, 0 },
		{ "a APPEND \"box\" (\\Seen) {5}\r\n", "box", 0, 2, 0 },
		{ "a X {1}\r\n", NULL, 0, 0, 0 },
		{ "a X (b) {1}\r\n", NULL, 0, 1, 0 },
		{ "a X y (b (c {1}\r\n", "y", 1, 1, 2 },
		{ "a X y ~{1}\r\n", "y", 1, 1, 0 },
	};
	struct imap_parser *p;
	const struct imap_literal_info *li;
	enum imap_parse_status st;
	size_t i, used;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = imap_parser_new(&L_def);
		st = feed_str(p, t[i].in, &used);
		CHECK_MSG(st == IMAP_PARSE_LITERAL, "%zu: %d", i, (int)st);
		li = imap_parser_literal(p);
		CHECK(li != NULL);
		if (li == NULL) {
			imap_parser_free(p);
			continue;
		}
		if (t[i].first == NULL)
			CHECK_MSG(li->first == NULL, "%zu: first %s", i,
			    li->first);
		else
			CHECK_MSG(li->first != NULL &&
			    strcmp(li->first, t[i].first) == 0 &&
			    li->first_atom == t[i].atom, "%zu", i);
		CHECK_INT(li->nargs, t[i].nargs);
		CHECK_INT(li->depth, t[i].depth);
		/* what is left of command_max once the tree so far counts */
		CHECK_MSG(li->room > 0 && li->room < L_def.command_max,
		    "%zu: room %llu", i, (unsigned long long)li->room);
		imap_parser_free(p);
	}

	/* a literal as the mailbox, then the message */
	p = imap_parser_new(&L_def);
	CHECK_INT(feed_str(p, "a APPEND {3}\r\n", &used),
	    IMAP_PARSE_LITERAL);
	imap_parser_literal_accept(p);
	CHECK_INT(feed_str(p, "box {5}\r\n", &used), IMAP_PARSE_LITERAL);
	li = imap_parser_literal(p);
	CHECK(li != NULL && li->first != NULL &&
	    strcmp(li->first, "box") == 0 && !li->first_atom);
	imap_parser_free(p);

	/* room shrinks by what the command holds */
	p = imap_parser_new(&L_cmd_at);
	CHECK_INT(feed_str(p, "a X {3}\r\n", &used), IMAP_PARSE_LITERAL);
	li = imap_parser_literal(p);
	/* "a\0" "X\0" and the literal's own argument are taken */
	CHECK(li != NULL && li->room == 4);
	imap_parser_free(p);
}

/*
 * {4294967296}: refused when the size is read, with no allocation; as
 * {4294967296+} its 4 GiB are skipped (without memory) and the next
 * command parses.
 */
static void
test_huge_literal(void)
{
	struct imap_parser *p;
	const struct imap_parse_errinfo *e;
	const char *in;
	char *zeros;
	size_t used, base, chunk = 1024 * 1024, peak = 0, now;
	uint64_t left;
	enum imap_parse_status st = IMAP_PARSE_MORE;

	zeros = calloc(1, chunk);
	p = imap_parser_new(&L_post);
	base = heap_in_use();
	in = "a APPEND INBOX {4294967296}\r\nb NOOP\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_ERROR);
	CHECK_INT(used, strlen("a APPEND INBOX {4294967296}"));
	e = imap_parser_error(p);
	CHECK(e != NULL && e->code == IMAP_PERR_LITERAL);
	CHECK_STR(e != NULL ? e->tag : NULL, "a");
	CHECK_STR(e != NULL ? e->msg : NULL, "Literal too large");
	CHECK(heap_in_use() < base + 64 * 1024);
	in += used;
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "b");

	in = "a APPEND INBOX {4294967296+}\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_ERROR);
	CHECK_INT(feed_str(p, in + used, &used), IMAP_PARSE_MORE);
	/* all but the last byte: "b NOOP" is still literal data */
	for (left = 4294967296ULL - 1; left > 0; left -= used) {
		st = imap_parser_feed(p, zeros, left < chunk ? (size_t)left :
		    chunk, &used);
		if (st != IMAP_PARSE_MORE || used == 0)
			break;
		if ((now = heap_in_use()) > peak)
			peak = now;
	}
	CHECK_INT(st, IMAP_PARSE_MORE);
	CHECK_INT(left, 0);
	CHECK(peak < base + 64 * 1024);
	in = "x more\r\nb NOOP\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_COMMAND);
	CHECK_INT(used, strlen(in));
	CHECK_STR(imap_parser_command(p)->tag, "b");

	/* the same after a refused {n+} under literal_max */
	in = "a APPEND INBOX {10000000+}\r\n";
	CHECK_INT(feed_str(p, in, &used), IMAP_PARSE_LITERAL);
	imap_parser_literal_reject(p);
	for (left = 10000000; left > 0; left -= used) {
		st = imap_parser_feed(p, zeros, left < chunk ? (size_t)left :
		    chunk, &used);
		if (st != IMAP_PARSE_MORE || used == 0)
			break;
	}
	CHECK_INT(left, 0);
	CHECK_INT(feed_str(p, "\r\nc NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_STR(imap_parser_command(p)->tag, "c");
	CHECK(heap_in_use() < base + 64 * 1024);
	imap_parser_free(p);
	free(zeros);
}

/* A 200 KB line against line_max 1000 fails as the 1001st byte arrives. */
static void
test_long_line(void)
{
	static const struct imap_limits lim = { 1000, 1000, 100000, 5, 100000 };
	static const char *shapes[] = { "a X ", "a X \"", "a X (", "a " };
	struct pcase c;
	struct imap_parser *p;
	const struct imap_parse_errinfo *e;
	struct buf want, got;
	char *in, *pat;
	size_t len, used, i, si, cuts[1], *bytewise;

	buf_init(&want, DUMP_MAX);
	buf_init(&got, DUMP_MAX);
	len = 200 * 1024;
	in = malloc(len + 1);
	for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		memcpy(in, shapes[si], strlen(shapes[si]));
		pat = in + strlen(shapes[si]);
		/* atoms, a quoted string, a list of atoms, a long name */
		for (i = 0; pat + i < in + len - 10; i++)
			pat[i] = si == 2 && i % 2 ? ' ' : 'x';
		memcpy(in + len - 10, "\r\nb NOOP\r\n", 10);
		in[len] = '\0';

		p = imap_parser_new(&lim);
		CHECK_INT(imap_parser_feed(p, in, len, &used),
		    IMAP_PARSE_ERROR);
		CHECK_INT(used, 1001);
		e = imap_parser_error(p);
		CHECK(e != NULL && e->code == IMAP_PERR_LINE);
		CHECK_STR(e != NULL ? e->tag : NULL, "a");
		CHECK_INT(imap_parser_feed(p, in + used, len - used, &used),
		    IMAP_PARSE_COMMAND);
		CHECK_INT(used, len - 1001);
		imap_parser_free(p);

		/* and the same in pieces */
		memset(&c, 0, sizeof(c));
		c.name = "long line";
		c.lim = &lim;
		c.in = in;
		c.len = len;
		c.decide = "";
		buf_reset(&want);
		buf_addf(&want, "E@1001 LINE a Line too long\nC@%zu b NOOP\n"
		    "END@%zu", len, len);
		run_case(&c, len, NULL, 0, &got);
		CHECK_STR(buf_cstr(&got), buf_cstr(&want));
		for (i = 1; i < len; i += i < 1100 || i > len - 20 ? 1 :
		    4999) {
			cuts[0] = i;
			run_case(&c, len, cuts, 1, &got);
			if (strcmp(buf_cstr(&got), buf_cstr(&want)) != 0)
				break;
		}
		CHECK_MSG(i >= len, "%s split at %zu", shapes[si], i);
		bytewise = calloc(len, sizeof(*bytewise));
		for (i = 1; i < len; i++)
			bytewise[i - 1] = i;
		run_case(&c, len, bytewise, len - 1, &got);
		CHECK_STR(buf_cstr(&got), buf_cstr(&want));
		free(bytewise);
	}
	free(in);
	buf_free(&want);
	buf_free(&got);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse in, whole or a byte at a time; returns the seconds taken. */
static double
parse_timed(const struct imap_limits *lim, const char *in, size_t len,
    int bytewise, size_t *nargs_r, size_t *nlist_r)
{
	struct imap_parser *p = imap_parser_new(lim);
	const struct imap_cmdline *cmd;
	enum imap_parse_status st = IMAP_PARSE_MORE;
	size_t off = 0, used;
	double t0 = seconds();

	while (off < len) {
		st = imap_parser_feed(p, in + off, bytewise ? 1 : len - off,
		    &used);
		off += used;
		if (st != IMAP_PARSE_MORE)
			break;
	}
	t0 = seconds() - t0;
	*nargs_r = *nlist_r = 0;
	if (st == IMAP_PARSE_COMMAND && (cmd = imap_parser_command(p))) {
		*nargs_r = cmd->nargs;
		if (cmd->nargs > 0 && cmd->args[cmd->nargs - 1].type ==
		    IMAP_ARG_LIST)
			*nlist_r = cmd->args[cmd->nargs - 1].len;
	}
	imap_parser_free(p);
	return t0;
}

/* Big commands cost linear time. */
static void
test_big_commands(void)
{
	static const struct imap_limits lim = { 1024 * 1024, 1000,
	    16 * 1024 * 1024, 32, 100001 };
	struct buf b;
	size_t nargs, nlist, i;
	double t100k;

	buf_init(&b, 2 * 1024 * 1024);
	/* UID FETCH with 10,000 numbers in one sequence set */
	buf_adds(&b, "a UID FETCH ");
	for (i = 0; i < 10000; i++)
		buf_addf(&b, "%s%zu", i ? "," : "", 2 * i + 1);
	buf_adds(&b, " (FLAGS)\r\n");
	parse_timed(&L_post, b.data, b.len, 0, &nargs, &nlist);
	CHECK_INT(nargs, 3);
	CHECK_INT(nlist, 1);
	parse_timed(&L_post, b.data, b.len, 1, &nargs, &nlist);
	CHECK_INT(nargs, 3);

	/* lists of 10,000 and 100,000 atoms */
	buf_reset(&b);
	buf_adds(&b, "a X (");
	for (i = 0; i < 10000; i++)
		buf_adds(&b, i ? " a" : "a");
	buf_adds(&b, ")\r\n");
	parse_timed(&lim, b.data, b.len, 0, &nargs, &nlist);
	CHECK_INT(nlist, 10000);
	buf_reset(&b);
	buf_adds(&b, "a X (");
	for (i = 0; i < 100000; i++)
		buf_adds(&b, i ? " (a)" : "(a)");
	buf_adds(&b, ")\r\n");
	t100k = parse_timed(&lim, b.data, b.len, 0, &nargs, &nlist);
	CHECK_INT(nlist, 0);		/* 200,001 arguments: too many */
	buf_reset(&b);
	buf_adds(&b, "a X (");
	for (i = 0; i < 100000; i++)
		buf_adds(&b, i ? " a" : "a");
	buf_adds(&b, ")\r\n");
	t100k = parse_timed(&lim, b.data, b.len, 0, &nargs, &nlist);
	CHECK_INT(nlist, 100000);
	CHECK_MSG(t100k < 2.0, "100,000 atoms took %.3f s", t100k);
	parse_timed(&lim, b.data, b.len, 1, &nargs, &nlist);
	CHECK_INT(nlist, 100000);
	buf_free(&b);
}

/* After a big command the parser gives its memory back. */
static void
test_idle_memory(void)
{
	struct imap_parser *p;
	char *in;
	size_t len, hdr, used, base;
	int measurable;

	measurable = heap_measurable();
	if (!measurable)
		fprintf(stderr, "note: heap use not measurable, memory "
		    "checks are trivial\n");
	len = 1024 * 1024 + 64;
	in = malloc(len);
	memset(in, 'x', len);
	hdr = (size_t)snprintf(in, 64, "a X {%d}\r\n", 1024 * 1024);
	in[hdr] = 'x';		/* where snprintf put its NUL */
	memcpy(in + hdr + 1024 * 1024, "\r\n", 2);
	len = hdr + 1024 * 1024 + 2;
	p = imap_parser_new(&L_post);
	CHECK_INT(feed_str(p, "a NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	base = heap_in_use();
	CHECK_INT(imap_parser_feed(p, in, len, &used), IMAP_PARSE_LITERAL);
	imap_parser_literal_accept(p);
	CHECK_INT(imap_parser_feed(p, in + used, len - used, &used),
	    IMAP_PARSE_COMMAND);
	CHECK(imap_parser_command(p)->args[0].len == 1024 * 1024);
	if (measurable)
		CHECK(heap_in_use() >= base + 1024 * 1024);
	CHECK_INT(feed_str(p, "b NOOP\r\n", &used), IMAP_PARSE_COMMAND);
	CHECK_MSG(heap_in_use() <= base + 8 * 1024, "%zu bytes more",
	    heap_in_use() - base);
	imap_parser_free(p);
	free(in);
}

int
main(void)
{
	T_RUN(test_table);
	T_RUN(test_random_pieces);
	T_RUN(test_helpers);
	T_RUN(test_lifetime);
	T_RUN(test_no_decision);
	T_RUN(test_set_limits);
	T_RUN(test_reset);
	T_RUN(test_sink_pieces);
	T_RUN(test_literal_info);
	T_RUN(test_huge_literal);
	T_RUN(test_long_line);
	T_RUN(test_big_commands);
	T_RUN(test_idle_memory);
	return t_done();
}
