/*
 * Unit tests for common/imap/message: ENVELOPE, BODY and BODYSTRUCTURE of every
 * fixture, FETCH sections (parsing, names, contents, partials), SEARCH,
 * and opening files.
 *
 * The expected ENVELOPE/BODY/BODYSTRUCTURE strings and section contents
 * were checked against the RFC 3501 grammar by hand and against Dovecot
 * 2.3.19 serving the same fixtures.  They agree with Dovecot up to
 * equivalent string forms (Dovecot sends some quoted strings as literals)
 * and the deliberate differences listed in common/imap/message.h, which these
 * fixtures show in: addresses.eml (the empty element of the Cc list is
 * skipped), prefix-boundary.eml (BODY[1] of a nested multipart ends
 * before the line end that precedes the outer boundary, as RFC 2046 has
 * it; Dovecot includes it), nested.eml (BINARY[1] of a multipart is sent
 * as it is; Dovecot decodes the parts inside and rewrites their headers)
 * and unknown-cte.eml (BINARY[3] keeps malformed quoted-printable where
 * Dovecot answers NO [PARSE]; BINARY.SIZE of a good part is answered
 * where Dovecot fails the whole message for its one x-uuencode part).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/imap/imap-parser.h"
#include "common/imap/message.h"
#include "common/lib/buf.h"
#include "tests/common/fixture.h"
#include "tests/t.h"

#define BIG	(64 * 1024 * 1024)

struct golden {
	const char	*name;
	const char	*body;
	const char	*bodystructure;
	const char	*envelope;
};

struct sgolden {
	const char	*name;
	const char	*items;
	const char	*out;
};

static const struct golden golden[] = {
	{ "addresses.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 6 1)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 6 1 NIL NIL NIL NIL)",
	    "(\"21 Nov 97 09:55:06 GMT\" \"Address torture\" ((\"Doe,"
	    " John \\\"JD\\\"\" NIL \"john.doe\" \"example.com\")) (("
	    "NIL NIL \"sender\" \"example.com\")) ((NIL NIL \"Team\" "
	    "NIL)(NIL NIL \"alice\" \"example.com\")(\"Bob\" NIL \"bo"
	    "b\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"carol\" "
	    "\"example.com\")) ((NIL NIL \"undisclosed-recipients\" N"
	    "IL)(NIL NIL NIL NIL)) ((NIL NIL \"quoted local\" \"examp"
	    "le.com\")(\"Pete\" NIL \"pete\" \"silly.test\")(NIL \"@r"
	    "oute1.example,@route2.example\" \"routed\" \"example.com"
	    "\")(NIL NIL \"bare-local\" \"MISSING_DOMAIN\")(NIL NIL "
	    "\"MISSING_MAILBOX\" \"nolocal.example\")) ((\"Mary Smith"
	    "\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.o"
	    "rg\")(\"Who?\" NIL \"one\" \"y.test\")(NIL NIL \"boss\" "
	    "\"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservic"
	    "es\" \"example.net\")) \"<a@example.com> <b@example.com>"
	    "\" \"<addr.1@example.com>  (comment)\")" },
	{ "alternative.eml",
	    "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"q"
	    "uoted-printable\" 180 3)(\"text\" \"html\" (\"charset\" "
	    "\"UTF-8\") NIL NIL \"quoted-printable\" 93 2) \"alternat"
	    "ive\")",
	    "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"q"
	    "uoted-printable\" 180 3 NIL NIL NIL NIL)(\"text\" \"html"
	    "\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" "
	    "93 2 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"--"
	    "--=_Part_12345_67890.1699311600000\") NIL NIL NIL)",
	    "(\"Mon, 6 Nov 2023 18:00:00 -0500\" \"Your weekly offers"
	    "\" ((\"Shop News\" NIL \"news\" \"shop.example\")) ((\"S"
	    "hop News\" NIL \"news\" \"shop.example\")) ((\"Shop News"
	    "\" NIL \"news\" \"shop.example\")) ((NIL NIL \"customer"
	    "\" \"example.net\")) NIL NIL NIL \"<offers-2023-45@shop."
	    "example>\")" },
	{ "crlf.eml",
	    "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"q"
	    "uoted-printable\" 180 3)(\"text\" \"html\" (\"charset\" "
	    "\"UTF-8\") NIL NIL \"quoted-printable\" 93 2) \"alternat"
	    "ive\")",
	    "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"q"
	    "uoted-printable\" 180 3 NIL NIL NIL NIL)(\"text\" \"html"
	    "\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" "
	    "93 2 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"--"
	    "--=_Part_12345_67890.1699311600000\") NIL NIL NIL)",
	    "(\"Mon, 6 Nov 2023 18:00:00 -0500\" \"Your weekly offers"
	    "\" ((\"Shop News\" NIL \"news\" \"shop.example\")) ((\"S"
	    "hop News\" NIL \"news\" \"shop.example\")) ((\"Shop News"
	    "\" NIL \"news\" \"shop.example\")) ((NIL NIL \"customer"
	    "\" \"example.net\")) NIL NIL NIL \"<offers-2023-45@shop."
	    "example>\")" },
	{ "digest.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 52 3)((\"message\" \"rfc822\" NIL NIL NIL \"7bi"
	    "t\" 58 (NIL \"First post\" ((\"Leo\" NIL \"leo\" \"examp"
	    "le.org\")) ((\"Leo\" NIL \"leo\" \"example.org\")) ((\"L"
	    "eo\" NIL \"leo\" \"example.org\")) NIL NIL NIL NIL NIL) "
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 6 0) 3)(\"message\" \"rfc822\" NIL NIL NIL \"7b"
	    "it\" 101 (NIL \"Second post\" ((\"Mia\" NIL \"mia\" \"ex"
	    "ample.org\")) ((\"Mia\" NIL \"mia\" \"example.org\")) (("
	    "\"Mia\" NIL \"mia\" \"example.org\")) NIL NIL NIL NIL NI"
	    "L) (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	    "\"7bit\" 7 0) 4)(\"text\" \"plain\" (\"charset\" \"us-as"
	    "cii\") NIL NIL \"7bit\" 32 0) \"digest\") \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 52 3 NIL NIL NIL NIL)((\"message\" \"rfc822\" N"
	    "IL NIL NIL \"7bit\" 58 (NIL \"First post\" ((\"Leo\" NIL"
	    " \"leo\" \"example.org\")) ((\"Leo\" NIL \"leo\" \"examp"
	    "le.org\")) ((\"Leo\" NIL \"leo\" \"example.org\")) NIL N"
	    "IL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-as"
	    "cii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL) 3 NIL NIL N"
	    "IL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 101 "
	    "(NIL \"Second post\" ((\"Mia\" NIL \"mia\" \"example.org"
	    "\")) ((\"Mia\" NIL \"mia\" \"example.org\")) ((\"Mia\" N"
	    "IL \"mia\" \"example.org\")) NIL NIL NIL NIL NIL) (\"tex"
	    "t\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 7"
	    " 0 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)(\"text\" \"plain"
	    "\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 32 0 NIL "
	    "NIL NIL NIL) \"digest\" (\"boundary\" \"dg\") NIL NIL NI"
	    "L) \"mixed\" (\"boundary\" \"digest-outer\") NIL NIL NIL"
	    ")",
	    "(\"Sat, 4 Mar 2023 00:00:01 +0000\" \"Example list diges"
	    "t, Vol 1, Issue 2\" ((NIL NIL \"list-request\" \"lists.e"
	    "xample.org\")) ((NIL NIL \"list-request\" \"lists.exampl"
	    "e.org\")) ((NIL NIL \"list-request\" \"lists.example.org"
	    "\")) ((NIL NIL \"subscribers\" \"lists.example.org\")) N"
	    "IL NIL NIL NIL)" },
	{ "eightbit-header.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 17 1)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 17 1 NIL NIL NIL NIL)",
	    "(NIL {22}\r\n"
	    "caf\xe9 8-bit \xef\xbf\xbd and NUL ((\"=?utf-8?q?R=C3=A9"
	    "mi?=\" NIL \"remi\" \"example.com\")) ((\"=?utf-8?q?R=C3"
	    "=A9mi?=\" NIL \"remi\" \"example.com\")) ((\"=?utf-8?q?R"
	    "=C3=A9mi?=\" NIL \"remi\" \"example.com\")) ((NIL NIL {5"
	    "}\r\n"
	    "raw\xc3\xa9 \"example.com\")) NIL NIL NIL NIL)" },
	{ "empty.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL)",
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "encoded.eml",
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"b"
	    "ase64\" 82 1)(\"text\" \"plain\" (\"charset\" \"koi8-r\""
	    ") NIL NIL \"8bit\" 42 0)(\"text\" \"plain\" (\"charset\""
	    " \"iso-8859-1\") NIL NIL \"quoted-printable\" 39 0)(\"te"
	    "xt\" \"plain\" (\"charset\" \"iso-2022-jp\") NIL NIL \"7"
	    "bit\" 28 0) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"b"
	    "ase64\" 82 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"char"
	    "set\" \"koi8-r\") NIL NIL \"8bit\" 42 0 NIL NIL NIL NIL)"
	    "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL"
	    " \"quoted-printable\" 39 0 NIL NIL NIL NIL)(\"text\" \"p"
	    "lain\" (\"charset\" \"iso-2022-jp\") NIL NIL \"7bit\" 28"
	    " 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"enc\") NIL"
	    " NIL NIL)",
	    "(\"Sun, 5 Mar 2023 07:08:09 +0300\" \"=?UTF-8?B?R3LDvMOf"
	    "ZSBhdXMgS8O2bG4g4oCUIOaXpeacrA==?=\" ((\"=?ISO-8859-1?Q?"
	    "Fran=E7ois_M=FCller?=\" NIL \"francois\" \"example.fr\")"
	    ") ((\"=?ISO-8859-1?Q?Fran=E7ois_M=FCller?=\" NIL \"franc"
	    "ois\" \"example.fr\")) ((\"=?ISO-8859-1?Q?Fran=E7ois_M=F"
	    "Cller?=\" NIL \"francois\" \"example.fr\")) ((\"=?ISO-20"
	    "22-JP?B?GyRCOzNFREJATzobKEI=?=\" NIL \"taro\" \"example."
	    "jp\")(\"=?KOI8-R?B?6dfBziDwxdTSz9c=?=\" NIL \"ivan\" \"e"
	    "xample.ru\")) NIL NIL NIL \"<encoded@example.ru>\")" },
	{ "folded-odd.eml",
	    "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7b"
	    "it\" 6 1)",
	    "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7b"
	    "it\" 6 1 NIL NIL NIL NIL)",
	    "(NIL \"lots of whitespace leading continuation\" ((NIL N"
	    "IL \"alice\" \"example.com\")) ((NIL NIL \"alice\" \"exa"
	    "mple.com\")) ((NIL NIL \"alice\" \"example.com\")) ((NIL"
	    " NIL \"bob\" \"example.com\")) NIL NIL NIL NIL)" },
	{ "forward.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 12 1)(\"message\" \"rfc822\" NIL NIL \"Forwarde"
	    "d message\" \"7bit\" 347 (\"Thu, 2 Mar 2023 11:00:00 +01"
	    "00\" \"Lunch?\" ((\"Judy\" NIL \"judy\" \"example.com\")"
	    ") ((\"Judy\" NIL \"judy\" \"example.com\")) ((\"Judy\" N"
	    "IL \"judy\" \"example.com\")) ((\"Heidi\" NIL \"heidi\" "
	    "\"example.net\")) NIL NIL NIL \"<lunch@example.com>\") ("
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 15 0)(\"text\" \"html\" (\"charset\" \"us-ascii"
	    "\") NIL NIL \"7bit\" 22 0) \"alternative\") 17)(\"messag"
	    "e\" \"rfc822\" NIL NIL NIL \"7bit\" 97 (NIL \"plain inne"
	    "r\" ((\"Ken\" NIL \"ken\" \"example.com\")) ((\"Ken\" NI"
	    "L \"ken\" \"example.com\")) ((\"Ken\" NIL \"ken\" \"exam"
	    "ple.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\""
	    "charset\" \"us-ascii\") NIL NIL \"7bit\" 44 2) 5) \"mixe"
	    "d\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 12 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NI"
	    "L NIL \"Forwarded message\" \"7bit\" 347 (\"Thu, 2 Mar 2"
	    "023 11:00:00 +0100\" \"Lunch?\" ((\"Judy\" NIL \"judy\" "
	    "\"example.com\")) ((\"Judy\" NIL \"judy\" \"example.com"
	    "\")) ((\"Judy\" NIL \"judy\" \"example.com\")) ((\"Heidi"
	    "\" NIL \"heidi\" \"example.net\")) NIL NIL NIL \"<lunch@"
	    "example.com>\") ((\"text\" \"plain\" (\"charset\" \"us-a"
	    "scii\") NIL NIL \"7bit\" 15 0 NIL NIL NIL NIL)(\"text\" "
	    "\"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 22 "
	    "0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"alt2"
	    "\") NIL NIL NIL) 17 NIL NIL NIL NIL)(\"message\" \"rfc82"
	    "2\" NIL NIL NIL \"7bit\" 97 (NIL \"plain inner\" ((\"Ken"
	    "\" NIL \"ken\" \"example.com\")) ((\"Ken\" NIL \"ken\" "
	    "\"example.com\")) ((\"Ken\" NIL \"ken\" \"example.com\")"
	    ") NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 44 2 NIL NIL NIL NIL) 5 N"
	    "IL NIL NIL NIL) \"mixed\" (\"boundary\" \"fwd\") NIL NIL"
	    " NIL)",
	    "(\"Fri, 3 Mar 2023 12:00:00 +0100\" \"Fwd: Lunch?\" ((\""
	    "Heidi\" NIL \"heidi\" \"example.net\")) ((\"Heidi\" NIL "
	    "\"heidi\" \"example.net\")) ((\"Heidi\" NIL \"heidi\" \""
	    "example.net\")) ((\"Ivan\" NIL \"ivan\" \"example.net\")"
	    ") NIL NIL NIL \"<fwd-1@example.net>\")" },
	{ "header-only.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL)",
	    "(NIL \"header only\" ((NIL NIL \"nobody\" \"example.com"
	    "\")) ((NIL NIL \"nobody\" \"example.com\")) ((NIL NIL \""
	    "nobody\" \"example.com\")) NIL NIL NIL NIL NIL)" },
	{ "mixed-attach.eml",
	    "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NI"
	    "L \"8bit\" 28 0)(\"application\" \"pdf\" (\"name\" \"sli"
	    "des.pdf\") NIL \"Quarterly slides\" \"base64\" 72)(\"ima"
	    "ge\" \"png\" NIL \"<logo@example.com>\" NIL \"base64\" 1"
	    "00) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NI"
	    "L \"8bit\" 28 0 NIL NIL NIL NIL)(\"application\" \"pdf\""
	    " (\"name\" \"slides.pdf\") NIL \"Quarterly slides\" \"ba"
	    "se64\" 72 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" ("
	    "\"filename\" \"slides.pdf\" \"size\" \"28\")) (\"en\" \""
	    "de\") NIL)(\"image\" \"png\" NIL \"<logo@example.com>\" "
	    "NIL \"base64\" 100 NIL NIL NIL \"http://example.com/logo"
	    ".png\") \"mixed\" (\"boundary\" \"XyZ\") NIL NIL NIL)",
	    "(\"Wed, 01 Mar 2023 10:30:00 +0000\" \"Slides and logo\""
	    " ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Erin\" NI"
	    "L \"erin\" \"example.com\")) ((\"Erin\" NIL \"erin\" \"e"
	    "xample.com\")) ((NIL NIL \"team\" \"example.com\")) NIL "
	    "NIL NIL \"<slides.42@example.com>\")" },
	{ "mixed-eol.eml",
	    "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NI"
	    "L \"8bit\" 28 0)(\"application\" \"pdf\" (\"name\" \"sli"
	    "des.pdf\") NIL \"Quarterly slides\" \"base64\" 72)(\"ima"
	    "ge\" \"png\" NIL \"<logo@example.com>\" NIL \"base64\" 1"
	    "00) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NI"
	    "L \"8bit\" 28 0 NIL NIL NIL NIL)(\"application\" \"pdf\""
	    " (\"name\" \"slides.pdf\") NIL \"Quarterly slides\" \"ba"
	    "se64\" 72 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" ("
	    "\"filename\" \"slides.pdf\" \"size\" \"28\")) (\"en\" \""
	    "de\") NIL)(\"image\" \"png\" NIL \"<logo@example.com>\" "
	    "NIL \"base64\" 100 NIL NIL NIL \"http://example.com/logo"
	    ".png\") \"mixed\" (\"boundary\" \"XyZ\") NIL NIL NIL)",
	    "(\"Wed, 01 Mar 2023 10:30:00 +0000\" \"Slides and logo\""
	    " ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Erin\" NI"
	    "L \"erin\" \"example.com\")) ((\"Erin\" NIL \"erin\" \"e"
	    "xample.com\")) ((NIL NIL \"team\" \"example.com\")) NIL "
	    "NIL NIL \"<slides.42@example.com>\")" },
	{ "nested.eml",
	    "((((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NI"
	    "L \"7bit\" 14 0)(\"text\" \"html\" (\"charset\" \"us-asc"
	    "ii\") NIL NIL \"7bit\" 44 0) \"alternative\")(\"image\" "
	    "\"gif\" NIL \"<pic>\" NIL \"base64\" 20) \"related\")(\""
	    "text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flo"
	    "wed\") NIL NIL \"7bit\" 11 0) \"mixed\")",
	    "((((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NI"
	    "L \"7bit\" 14 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"ch"
	    "arset\" \"us-ascii\") NIL NIL \"7bit\" 44 0 NIL NIL NIL "
	    "NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NI"
	    "L)(\"image\" \"gif\" NIL \"<pic>\" NIL \"base64\" 20 NIL"
	    " NIL NIL NIL) \"related\" (\"boundary\" \"middle\" \"typ"
	    "e\" \"multipart/alternative\") NIL NIL NIL)(\"text\" \"p"
	    "lain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL"
	    " NIL \"7bit\" 11 0 NIL (\"attachment\" (\"filename\" \"n"
	    "otes.txt\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\")"
	    " NIL NIL NIL)",
	    "(\"Thu, 2 Feb 2023 08:00:00 +0200\" \"Nested structure\""
	    " ((\"Frank\" NIL \"frank\" \"example.org\")) ((\"Frank\""
	    " NIL \"frank\" \"example.org\")) ((\"Frank\" NIL \"frank"
	    "\" \"example.org\")) ((NIL NIL \"grace\" \"example.org\""
	    ")) NIL NIL NIL NIL)" },
	{ "no-boundary-lines.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \""
	    "never-used\") NIL NIL NIL)",
	    "(NIL \"multipart without any boundary line\" ((NIL NIL "
	    "\"broken\" \"example.com\")) ((NIL NIL \"broken\" \"exam"
	    "ple.com\")) ((NIL NIL \"broken\" \"example.com\")) NIL N"
	    "IL NIL NIL NIL)" },
	{ "no-boundary-param.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)",
	    "(NIL \"multipart without a boundary parameter\" ((NIL NI"
	    "L \"broken\" \"example.com\")) ((NIL NIL \"broken\" \"ex"
	    "ample.com\")) ((NIL NIL \"broken\" \"example.com\")) NIL"
	    " NIL NIL NIL NIL)" },
	{ "no-close.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 5 0)((\"text\" \"plain\" (\"charset\" \"us-asci"
	    "i\") NIL NIL \"7bit\" 9 0)(\"text\" \"html\" (\"charset"
	    "\" \"us-ascii\") NIL NIL \"7bit\" 9 0) \"alternative\")("
	    "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \""
	    "7bit\" 38 1) \"mixed\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 5 0 NIL NIL NIL NIL)((\"text\" \"plain\" (\"cha"
	    "rset\" \"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NI"
	    "L)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 9 0 NIL NIL NIL NIL) \"alternative\" (\"boundar"
	    "y\" \"b2\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\""
	    " \"us-ascii\") NIL NIL \"7bit\" 38 1 NIL NIL NIL NIL) \""
	    "mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
	    "(NIL \"missing close delimiter\" ((NIL NIL \"broken\" \""
	    "example.com\")) ((NIL NIL \"broken\" \"example.com\")) ("
	    "(NIL NIL \"broken\" \"example.com\")) NIL NIL NIL NIL NI"
	    "L)" },
	{ "no-separator.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL)",
	    "(NIL \"no separator\" ((NIL NIL \"nobody\" \"example.com"
	    "\")) ((NIL NIL \"nobody\" \"example.com\")) ((NIL NIL \""
	    "nobody\" \"example.com\")) NIL NIL NIL NIL NIL)" },
	{ "plain.eml",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 110 7)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 110 7 NIL (\"inline\" NIL) NIL NIL)",
	    "(\"Tue, 14 Nov 2023 09:12:40 +0100\" \"Quarterly report,"
	    " draft two\" ((\"Alice Liddell\" NIL \"alice\" \"example"
	    ".org\")) ((\"Alice Liddell\" NIL \"alice\" \"example.org"
	    "\")) ((\"Alice Liddell\" NIL \"alice\" \"example.org\"))"
	    " ((\"Bob Example\" NIL \"bob\" \"example.net\")(\"Carol,"
	    " C.\" NIL \"carol\" \"example.com\")) ((\"Dave the Admin"
	    "\" NIL \"dave\" \"example.com\")) NIL \"<previous.1@exam"
	    "ple.net>\" \"<20231114081240.GA1234@example.org>\")" },
	{ "prefix-boundary.eml",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
	    " \"7bit\" 7 0)(\"text\" \"plain\" (\"charset\" \"us-asci"
	    "i\") NIL NIL \"7bit\" 7 0) \"alternative\")((\"text\" \""
	    "plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 0"
	    ") \"mixed\")(\"text\" \"plain\" (\"charset\" \"us-ascii"
	    "\") NIL NIL \"7bit\" 42 0) \"mixed\")",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
	    " \"7bit\" 7 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"cha"
	    "rset\" \"us-ascii\") NIL NIL \"7bit\" 7 0 NIL NIL NIL NI"
	    "L) \"alternative\" (\"boundary\" \"abcdef\") NIL NIL NIL"
	    ")((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
	    " \"7bit\" 28 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
	    "\"ab\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"u"
	    "s-ascii\") NIL NIL \"7bit\" 42 0 NIL NIL NIL NIL) \"mixe"
	    "d\" (\"boundary\" \"abc\") NIL NIL NIL)",
	    "(NIL \"boundaries that are prefixes of each other\" ((NI"
	    "L NIL \"p\" \"example.com\")) ((NIL NIL \"p\" \"example."
	    "com\")) ((NIL NIL \"p\" \"example.com\")) NIL NIL NIL NI"
	    "L NIL)" },
	{ "rfc2231.eml",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 18 0)(\"application\" \"octet-stream\" (\"name*"
	    "\" \"UTF-8''%C3%9Cbersicht%20der%20Gr%C3%B6%C3%9Fen.bin"
	    "\") NIL NIL \"base64\" 16)(\"text\" \"plain\" (\"charset"
	    "\" \"us-ascii\" \"title*\" \"us-ascii'en-us'This%20is%20"
	    "%2A%2A%2Afun%2A%2A%2A\") NIL NIL \"7bit\" 3 0)(\"applica"
	    "tion\" \"x-thing\" (\"name\" \"fallback.dat\" \"name*\" "
	    "\"iso-8859-1''caf%E9.dat\") NIL NIL \"7bit\" 1) \"mixed"
	    "\")",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 18 0 NIL NIL NIL NIL)(\"application\" \"octet-s"
	    "tream\" (\"name*\" \"UTF-8''%C3%9Cbersicht%20der%20Gr%C3"
	    "%B6%C3%9Fen.bin\") NIL NIL \"base64\" 16 NIL (\"attachme"
	    "nt\" (\"filename*\" \"UTF-8''%C3%9Cbersicht%20der%20Gr%C"
	    "3%B6%C3%9Fen.bin\")) NIL NIL)(\"text\" \"plain\" (\"char"
	    "set\" \"us-ascii\" \"title*\" \"us-ascii'en-us'This%20is"
	    "%20%2A%2A%2Afun%2A%2A%2A\") NIL NIL \"7bit\" 3 0 NIL (\""
	    "attachment\" (\"filename\" \"long-name-part-two.txt\")) "
	    "NIL NIL)(\"application\" \"x-thing\" (\"name\" \"fallbac"
	    "k.dat\" \"name*\" \"iso-8859-1''caf%E9.dat\") NIL NIL \""
	    "7bit\" 1 NIL (\"attachment\" (\"filename*\" \"iso-8859-1"
	    "'fr'caf%E9.dat\")) NIL NIL) \"mixed\" (\"boundary\" \"22"
	    "31\") NIL NIL NIL)",
	    "(\"Mon, 6 Mar 2023 10:00:00 +0100\" \"RFC 2231 parameter"
	    "s\" ((\"Nina\" NIL \"nina\" \"example.de\")) ((\"Nina\" "
	    "NIL \"nina\" \"example.de\")) ((\"Nina\" NIL \"nina\" \""
	    "example.de\")) ((\"Otto\" NIL \"otto\" \"example.de\")) "
	    "NIL NIL NIL NIL)" },
	{ "unknown-cte.eml",
	    "((\"application\" \"octet-stream\" NIL NIL NIL \"x-uuenc"
	    "ode\" 30)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	    "NIL NIL \"BASE64\" 16 0)(\"text\" \"plain\" (\"charset\""
	    " \"us-ascii\") NIL NIL \"Quoted-Printable\" 45 1)(\"TEXT"
	    "\" \"HTML\" (\"CHARSET\" \"UTF-8\" \"Format\" \"Flowed\""
	    ") NIL NIL \"binary\" 10 0) \"mixed\")",
	    "((\"application\" \"octet-stream\" NIL NIL NIL \"x-uuenc"
	    "ode\" 30 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset"
	    "\" \"us-ascii\") NIL NIL \"BASE64\" 16 0 NIL NIL NIL NIL"
	    ")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"Quoted-Printable\" 45 1 NIL NIL NIL NIL)(\"TEXT\" \"HT"
	    "ML\" (\"CHARSET\" \"UTF-8\" \"Format\" \"Flowed\") NIL N"
	    "IL \"binary\" 10 0 NIL NIL NIL NIL) \"mixed\" (\"boundar"
	    "y\" \"cte\") NIL NIL NIL)",
	    "(NIL \"transfer encodings\" ((NIL NIL \"u\" \"example.co"
	    "m\")) ((NIL NIL \"u\" \"example.com\")) ((NIL NIL \"u\" "
	    "\"example.com\")) NIL NIL NIL NIL NIL)" },
};
static const struct sgolden sgolden[] = {
	{ "forward.eml",
	    "BODY.PEEK[1] BODY[2.MIME] BODY[2.HEADER] BODY[2.TEXT]<0."
	    "20> BODY[2.1] BODY[2.1.MIME] BODY[2.2] BODY[2.1.1] BODY["
	    "3.1] BODY[3.2] BODY[3.1.1] BODY[1.1] BODY[1.1.1] BODY[1."
	    "HEADER] BODY[1.TEXT] BODY[4] BODY[4.MIME] BINARY[2] BINA"
	    "RY.SIZE[2] BODY[3.HEADER.FIELDS (subject)]",
	    "BODY[1] {12}\r\n"
	    "See below.\r\n"
	    "\n"
	    "BODY[2.MIME] {72}\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Description: Forwarded message\r\n"
	    "\r\n"
	    "\n"
	    "BODY[2.HEADER] {225}\r\n"
	    "From: Judy <judy@example.com>\r\n"
	    "To: Heidi <heidi@example.net>\r\n"
	    "Subject: Lunch?\r\n"
	    "Date: Thu, 2 Mar 2023 11:00:00 +0100\r\n"
	    "Message-ID: <lunch@example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"alt2\"\r"
	    "\n"
	    "\r\n"
	    "\n"
	    "BODY[2.TEXT]<0> {20}\r\n"
	    "--alt2\r\n"
	    "Content-Type\n"
	    "BODY[2.1] {15}\r\n"
	    "Lunch tomorrow?\n"
	    "BODY[2.1.MIME] {28}\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "\n"
	    "BODY[2.2] {22}\r\n"
	    "<b>Lunch tomorrow?</b>\n"
	    "BODY[2.1.1] {15}\r\n"
	    "Lunch tomorrow?\n"
	    "BODY[3.1] {44}\r\n"
	    "Inner body line one.\r\n"
	    "Inner body line two.\r\n"
	    "\n"
	    "BODY[3.2] {0}\r\n"
	    "\n"
	    "BODY[3.1.1] {0}\r\n"
	    "\n"
	    "BODY[1.1] {12}\r\n"
	    "See below.\r\n"
	    "\n"
	    "BODY[1.1.1] {0}\r\n"
	    "\n"
	    "BODY[1.HEADER] {0}\r\n"
	    "\n"
	    "BODY[1.TEXT] {0}\r\n"
	    "\n"
	    "BODY[4] {0}\r\n"
	    "\n"
	    "BODY[4.MIME] {0}\r\n"
	    "\n"
	    "BINARY[2] {347}\r\n"
	    "From: Judy <judy@example.com>\r\n"
	    "To: Heidi <heidi@example.net>\r\n"
	    "Subject: Lunch?\r\n"
	    "Date: Thu, 2 Mar 2023 11:00:00 +0100\r\n"
	    "Message-ID: <lunch@example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"alt2\"\r"
	    "\n"
	    "\r\n"
	    "--alt2\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Lunch tomorrow?\r\n"
	    "--alt2\r\n"
	    "Content-Type: text/html\r\n"
	    "\r\n"
	    "<b>Lunch tomorrow?</b>\r\n"
	    "--alt2--\r\n"
	    "\n"
	    "BINARY.SIZE[2] 347\n"
	    "BODY[3.HEADER.FIELDS (SUBJECT)] {24}\r\n"
	    "Subject: plain inner\r\n"
	    "\r\n"
	    "\n" },
	{ "plain.eml",
	    "BODY[HEADER.FIELDS (from \"to\")] BODY[HEADER.FIELDS.NOT"
	    " (received return-path)]<10.20> BODY[1]<3.4> BINARY[1] R"
	    "FC822.HEADER BODY[TEXT]<0.5> BODY[HEADER.FIELDS (SUBJECT"
	    ")] BODY[]<700.100> BODY[]<800.1> BODY[1.MIME] BINARY.PEE"
	    "K[1]<100.100> RFC822.TEXT",
	    "BODY[HEADER.FIELDS (FROM TO)] {111}\r\n"
	    "From: Alice Liddell <alice@example.org>\r\n"
	    "To: Bob Example <bob@example.net>, \"Carol, C.\" <carol@"
	    "example.com>\r\n"
	    "\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS.NOT (RECEIVED RETURN-PATH)]<10> {20}"
	    "\r\n"
	    " 14 Nov 2023 09:12:4\n"
	    "BODY[1]<3> {4}\r\n"
	    "Bob,\n"
	    "BINARY[1] {110}\r\n"
	    "Hi Bob,\r\n"
	    "\r\n"
	    "here is the second draft of the report.  The numbers for"
	    "\r\n"
	    "October are still missing.\r\n"
	    "\r\n"
	    "--\r\n"
	    "Alice\r\n"
	    "\n"
	    "RFC822.HEADER {627}\r\n"
	    "Return-Path: <alice@example.org>\r\n"
	    "Received: from mail.example.org (mail.example.org [192.0"
	    ".2.10])\r\n"
	    "\tby mx.example.net (Postfix) with ESMTPS id 4B1C2D3E4F"
	    "\r\n"
	    "\tfor <bob@example.net>; Tue, 14 Nov 2023 09:12:44 +0100"
	    " (CET)\r\n"
	    "Date: Tue, 14 Nov 2023 09:12:40 +0100\r\n"
	    "From: Alice Liddell <alice@example.org>\r\n"
	    "To: Bob Example <bob@example.net>, \"Carol, C.\" <carol@"
	    "example.com>\r\n"
	    "Cc: dave@example.com (Dave the Admin)\r\n"
	    "Subject: Quarterly report,\r\n"
	    " draft two\r\n"
	    "Message-ID: <20231114081240.GA1234@example.org>\r\n"
	    "In-Reply-To: <previous.1@example.net>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Disposition: inline\r\n"
	    "\r\n"
	    "\n"
	    "BODY[TEXT]<0> {5}\r\n"
	    "Hi Bo\n"
	    "BODY[HEADER.FIELDS (SUBJECT)] {42}\r\n"
	    "Subject: Quarterly report,\r\n"
	    " draft two\r\n"
	    "\r\n"
	    "\n"
	    "BODY[]<700> {37}\r\n"
	    "ber are still missing.\r\n"
	    "\r\n"
	    "--\r\n"
	    "Alice\r\n"
	    "\n"
	    "BODY[]<800> {0}\r\n"
	    "\n"
	    "BODY[1.MIME] {627}\r\n"
	    "Return-Path: <alice@example.org>\r\n"
	    "Received: from mail.example.org (mail.example.org [192.0"
	    ".2.10])\r\n"
	    "\tby mx.example.net (Postfix) with ESMTPS id 4B1C2D3E4F"
	    "\r\n"
	    "\tfor <bob@example.net>; Tue, 14 Nov 2023 09:12:44 +0100"
	    " (CET)\r\n"
	    "Date: Tue, 14 Nov 2023 09:12:40 +0100\r\n"
	    "From: Alice Liddell <alice@example.org>\r\n"
	    "To: Bob Example <bob@example.net>, \"Carol, C.\" <carol@"
	    "example.com>\r\n"
	    "Cc: dave@example.com (Dave the Admin)\r\n"
	    "Subject: Quarterly report,\r\n"
	    " draft two\r\n"
	    "Message-ID: <20231114081240.GA1234@example.org>\r\n"
	    "In-Reply-To: <previous.1@example.net>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Disposition: inline\r\n"
	    "\r\n"
	    "\n"
	    "BINARY[1]<100> {10}\r\n"
	    "-\r\n"
	    "Alice\r\n"
	    "\n"
	    "RFC822.TEXT {110}\r\n"
	    "Hi Bob,\r\n"
	    "\r\n"
	    "here is the second draft of the report.  The numbers for"
	    "\r\n"
	    "October are still missing.\r\n"
	    "\r\n"
	    "--\r\n"
	    "Alice\r\n"
	    "\n" },
	{ "digest.eml",
	    "BODY[2.1] BODY[2.1.HEADER] BODY[2.1.1] BODY[2.3.1] BODY["
	    "2.3.HEADER] BODY[2.1.MIME] BODY[2.2.TEXT] BINARY.SIZE[2."
	    "2.1]",
	    "BODY[2.1] {58}\r\n"
	    "From: Leo <leo@example.org>\r\n"
	    "Subject: First post\r\n"
	    "\r\n"
	    "First!\n"
	    "BODY[2.1.HEADER] {52}\r\n"
	    "From: Leo <leo@example.org>\r\n"
	    "Subject: First post\r\n"
	    "\r\n"
	    "\n"
	    "BODY[2.1.1] {6}\r\n"
	    "First!\n"
	    "BODY[2.3.1] {32}\r\n"
	    "Not a message, explicitly typed.\n"
	    "BODY[2.3.HEADER] {0}\r\n"
	    "\n"
	    "BODY[2.1.MIME] {2}\r\n"
	    "\r\n"
	    "\n"
	    "BODY[2.2.TEXT] {7}\r\n"
	    "Second.\n"
	    "BINARY.SIZE[2.2.1] 7\n" },
	{ "no-boundary-lines.eml",
	    "BODY[1] BODY[1.MIME] BODY[2] BODY[TEXT] BINARY.SIZE[1]",
	    "BODY[1] {0}\r\n"
	    "\n"
	    "BODY[1.MIME] {0}\r\n"
	    "\n"
	    "BODY[2] {0}\r\n"
	    "\n"
	    "BODY[TEXT] {53}\r\n"
	    "This body has no boundary lines at all.\r\n"
	    "Just text.\r\n"
	    "\n"
	    "BINARY.SIZE[1] 0\n" },
	{ "unknown-cte.eml",
	    "BINARY[2] BINARY[3] BINARY[4] BINARY.SIZE[2] BINARY.SIZE"
	    "[3] BINARY[1] BINARY.SIZE[1] BODY[1] BINARY[2]<3.5> BODY"
	    "[HEADER.FIELDS (X-NONE)]",
	    "BINARY[2] {11}\r\n"
	    "hello world\n"
	    "BINARY[3] {39}\r\n"
	    "soft break = equals, bad =ZZ and =4 end\n"
	    "BINARY[4] {10}\r\n"
	    "<b>bin</b>\n"
	    "BINARY.SIZE[2] 11\n"
	    "BINARY.SIZE[3] 39\n"
	    "NO UNKNOWN-CTE\n"
	    "NO UNKNOWN-CTE\n"
	    "BODY[1] {30}\r\n"
	    "begin 644 a.txt\r\n"
	    "#86)C\r\n"
	    "`\r\n"
	    "end\n"
	    "BINARY[2]<3> {5}\r\n"
	    "lo wo\n"
	    "BODY[HEADER.FIELDS (X-NONE)] {2}\r\n"
	    "\r\n"
	    "\n" },
	{ "alternative.eml", "BINARY[1] BINARY.SIZE[1] BINARY[2] BODY[2.MIME]",
	    "BINARY[1] {167}\r\n"
	    "This week: 20 % off everything \xe2\x80\x93 caf\xc3\xa9 "
	    "mugs included.\r\n"
	    "Long line that was wrapped by the quoted-printable encod"
	    "er because it is longer than seventy-six characters.\r\n"
	    "\n"
	    "BINARY.SIZE[1] 167\n"
	    "BINARY[2] {80}\r\n"
	    "<html><body><p>This week: 20 % off everything \xe2\x80"
	    "\x93 caf\xc3\xa9 mugs</p></body></html>\r\n"
	    "\n"
	    "BODY[2.MIME] {87}\r\n"
	    "Content-Type: text/html; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "\n" },
	{ "mixed-attach.eml",
	    "BINARY[2]<0.8> BINARY.SIZE[2] BINARY.SIZE[3] BODY[3]<0.1"
	    "0>",
	    "BINARY[2]<0> {8}\r\n"
	    "%PDF-1.4\n"
	    "BINARY.SIZE[2] 54\n"
	    "BINARY.SIZE[3] 70\n"
	    "BODY[3]<0> {10}\r\n"
	    "iVBORw0KGg\n" },
	{ "eightbit-header.eml",
	    "BODY[] BINARY[1] BODY[HEADER.FIELDS (subject)]",
	    "BODY[] {137}\r\n"
	    "From: =?utf-8?q?R=C3=A9mi?= <remi@example.com>\r\n"
	    "Subject: caf\xe9 8-bit \x80 and NUL\r\n"
	    "To: raw\xc3\xa9@example.com\r\n"
	    "X-Binary: \x01\x02\x7f\xff\r\n"
	    "\r\n"
	    "body with \x80 NUL\r\n"
	    "\n"
	    "BINARY[1] {17}\r\n"
	    "body with \x00 NUL\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS (SUBJECT)] {33}\r\n"
	    "Subject: caf\xe9 8-bit \x80 and NUL\r\n"
	    "\r\n"
	    "\n" },
	{ "no-separator.eml",
	    "BODY[HEADER.FIELDS (from subject)] BODY[HEADER.FIELDS.NO"
	    "T (from subject)] BODY[HEADER] BODY[TEXT] BODY[1]",
	    "BODY[HEADER.FIELDS (FROM SUBJECT)] {51}\r\n"
	    "From: nobody@example.com\r\n"
	    "Subject: no separator\r\n"
	    "\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS.NOT (FROM SUBJECT)] {35}\r\n"
	    "X-Note: the whole message is header\n"
	    "BODY[HEADER] {84}\r\n"
	    "From: nobody@example.com\r\n"
	    "Subject: no separator\r\n"
	    "X-Note: the whole message is header\n"
	    "BODY[TEXT] {0}\r\n"
	    "\n"
	    "BODY[1] {0}\r\n"
	    "\n" },
	{ "empty.eml",
	    "BODY[] BODY[HEADER.FIELDS (from)] BODY[HEADER.FIELDS.NOT"
	    " (from)] BODY[1] BODY[1.MIME] BINARY.SIZE[1]",
	    "BODY[] {0}\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS (FROM)] {2}\r\n"
	    "\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS.NOT (FROM)] {0}\r\n"
	    "\n"
	    "BODY[1] {0}\r\n"
	    "\n"
	    "BODY[1.MIME] {0}\r\n"
	    "\n"
	    "BINARY.SIZE[1] 0\n" },
	{ "folded-odd.eml",
	    "BODY[HEADER.FIELDS.NOT (From Subject)] BODY[HEADER.FIELD"
	    "S (subject content-type x-empty)]",
	    "BODY[HEADER.FIELDS.NOT (FROM SUBJECT)] {99}\r\n"
	    "To :  bob@example.com\r\n"
	    "X-Empty:\r\n"
	    "X-No-Colon-Line\r\n"
	    "Content-Type:\r\n"
	    " text/plain;\r\n"
	    "\tcharset=\"utf-8\"\r\n"
	    "\r\n"
	    "\n"
	    "BODY[HEADER.FIELDS (SUBJECT CONTENT-TYPE X-EMPTY)] {127}"
	    "\r\n"
	    "Subject:   lots\t of\r\n"
	    " \t \r\n"
	    "\twhitespace  \r\n"
	    "  leading continuation\r\n"
	    " \r\n"
	    "X-Empty:\r\n"
	    "Content-Type:\r\n"
	    " text/plain;\r\n"
	    "\tcharset=\"utf-8\"\r\n"
	    "\r\n"
	    "\n" },
	{ "encoded.eml", "BINARY[1] BINARY[3] BINARY.SIZE[4]",
	    "BINARY[1] {60}\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0"
	    "\xbc\xd0\xb8\xd1\x80! Gr\xc3\xb6\xc3\x9f" "e \xc3\x84"
	    "\xc3\x96\xc3\x9c \xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce"
	    "\xa6\xce\x9f\xce\xa3 stra\xc3\x9f" "e\n"
	    "\n"
	    "BINARY[3] {27}\r\n"
	    "Voil\xe0, d\xe9j\xe0 vu: \xc9" "COLE \xe9l\xe8ve\n"
	    "BINARY.SIZE[4] 28\n" },
	{ "crlf.eml", "BODY[1] BINARY[1]<0.30> BODY[HEADER.FIELDS (subject)]",
	    "BODY[1] {180}\r\n"
	    "This week: 20 % off everything =E2=80=93 caf=C3=A9 mugs "
	    "included.\r\n"
	    "Long line that was wrapped by the quoted-printable encod"
	    "er because it is l=\r\n"
	    "onger than seventy-six characters.\r\n"
	    "\n"
	    "BINARY[1]<0> {30}\r\n"
	    "This week: 20 % off everything\n"
	    "BODY[HEADER.FIELDS (SUBJECT)] {31}\r\n"
	    "Subject: Your weekly offers\r\n"
	    "\r\n"
	    "\n" },
	{ "mixed-eol.eml", "BODY[1] BODY[1.MIME] BINARY.SIZE[3]",
	    "BODY[1] {28}\r\n"
	    "Hello team,\rslides attached.\n"
	    "BODY[1.MIME] {83}\r\n"
	    "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "\n"
	    "BINARY.SIZE[3] 70\n" },
};

static struct message *
fixture_message(const char *name, char **data_r, size_t *len_r)
{
	size_t len;

	if ((*data_r = fixture_read(name, &len)) == NULL)
		return NULL;
	if (len_r != NULL)
		*len_r = len;
	return message_from_mem(*data_r, len);
}

static void
test_structure(void)
{
	struct message *m;
	struct buf b;
	char *d;
	size_t i;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		if ((m = fixture_message(golden[i].name, &d, NULL)) == NULL) {
			CHECK(0);
			continue;
		}
		buf_reset(&b);
		CHECK_INT(message_bodystructure(m, 0, &b), 0);
		CHECK_MSG(strcmp(buf_cstr(&b), golden[i].body) == 0,
		    "%s BODY: %s", golden[i].name, buf_cstr(&b));
		buf_reset(&b);
		CHECK_INT(message_bodystructure(m, MESSAGE_BS_EXTENDED, &b),
		    0);
		CHECK_MSG(strcmp(buf_cstr(&b), golden[i].bodystructure) == 0,
		    "%s BODYSTRUCTURE: %s", golden[i].name, buf_cstr(&b));
		buf_reset(&b);
		CHECK_INT(message_envelope(m, &b), 0);
		CHECK_MSG(strcmp(buf_cstr(&b), golden[i].envelope) == 0,
		    "%s ENVELOPE: %s", golden[i].name, buf_cstr(&b));
		message_free(m);
		free(d);
	}
	buf_free(&b);
}

/* One message from a string, and one item of it. */
static char *
item_of(const char *msg, int what, int flags)
{
	struct message *m = message_from_mem(msg, strlen(msg));
	struct buf b;
	char *r;

	buf_init(&b, BIG);
	if (what == 0)
		message_envelope(m, &b);
	else
		message_bodystructure(m, flags, &b);
	r = strdup(buf_cstr(&b));
	buf_free(&b);
	message_free(m);
	return r;
}

static const struct {
	const char	*msg;
	int		 what;		/* 0 ENVELOPE, 1 BODYSTRUCTURE */
	int		 flags;
	const char	*want;
} small[] = {
	/* the last Subject counts, From fields are joined */
	{ "Subject: first\nSubject: second\nFrom: a@b\nFrom: c@d\n\nx", 0, 0,
	    "(NIL \"second\" ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) "
	    "((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"a\" "
	    "\"b\")(NIL NIL \"c\" \"d\")) NIL NIL NIL NIL NIL)" },
	/* blanks in the subject become one space; empty fields are "" */
	{ "Subject: a\tb  c\n d  \nIn-Reply-To:\n\nx", 0, 0,
	    "(NIL \"a b c d\" NIL NIL NIL NIL NIL NIL \"\" NIL)" },
	/* a long subject and one with CR are literals; NUL is U+FFFD */
	{ "Subject: x\xc3\xa9y\n\n", 0, 0,
	    "(NIL {4}\r\nx\xc3\xa9y NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "From: <>\nSender: ,\nTo: Name Only, (just a comment)\n"
	    "Cc: a@b (first) (second), \"\" <q@r>\n\nx", 0, 0,
	    "(NIL NIL ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) "
	    "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((NIL NIL "
	    "\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((\"Name Only\" NIL "
	    "\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((\"second\" NIL \"a\" "
	    "\"b\")(NIL NIL \"q\" \"r\")) NIL NIL NIL)" },
	{ "To: g: a@b, c@[1.2.3.4];, x@y\nCc: unterminated: a@b\n\n", 0, 0,
	    "(NIL NIL NIL NIL NIL ((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")"
	    "(NIL NIL \"c\" \"[1.2.3.4]\")(NIL NIL NIL NIL)(NIL NIL \"x\" "
	    "\"y\")) ((NIL NIL \"unterminated\" NIL)(NIL NIL \"a\" \"b\")"
	    "(NIL NIL NIL NIL)) NIL NIL NIL)" },
	{ "From: =?utf-8?q?a?= <a@b>, Mr. Smith <s@t>, A.B. <ab@c>\n"
	    "To: >>> @@ ;; <x@y>\n\n", 0, 0,
	    "(NIL NIL ((\"=?utf-8?q?a?=\" NIL \"a\" \"b\")(\"Mr. Smith\" "
	    "NIL \"s\" \"t\")(\"A.B.\" NIL \"ab\" \"c\")) ((\"=?utf-8?q?a?=\" "
	    "NIL \"a\" \"b\")(\"Mr. Smith\" NIL \"s\" \"t\")(\"A.B.\" NIL "
	    "\"ab\" \"c\")) ((\"=?utf-8?q?a?=\" NIL \"a\" \"b\")(\"Mr. Smith\" "
	    "NIL \"s\" \"t\")(\"A.B.\" NIL \"ab\" \"c\")) ((NIL NIL "
	    "\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) "
	    "NIL NIL NIL NIL)" },
	/* defaults: charset appended after other parameters */
	{ "Content-Type: text/plain; format=flowed\nContent-Language: en\n"
	    "Content-Disposition: attachment\n\nb\n", 1, MESSAGE_BS_EXTENDED,
	    "(\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"attachment\" NIL) "
	    "(\"en\") NIL)" },
	{ "Content-Type: text/plain; a*0=x; b=y; a*1=z; c*=utf-8''q; "
	    "charset=utf-8\n\nb\n", 1, 0,
	    "(\"text\" \"plain\" (\"b\" \"y\" \"charset\" \"utf-8\" \"a\" "
	    "\"xz\" \"c*\" \"utf-8''q\") NIL NIL \"7bit\" 3 1)" },
	{ "Content-Type: text/plain; name*1*=%41; name*0*=utf-8''%C3%A9; "
	    "name*2=\"a b\"; name*5=gap\n\n", 1, 0,
	    "(\"text\" \"plain\" (\"name*\" \"utf-8''%C3%A9%41a%20b\" "
	    "\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
	{ "Content-Type: message/global\n\nSubject: inner\n\nx\n", 1, 0,
	    "(\"message\" \"global\" NIL NIL NIL \"7bit\" 21)" },
	{ "Content-Type: message/global\n\nSubject: inner\n\nx\n", 1,
	    MESSAGE_BS_GLOBAL,
	    "(\"message\" \"global\" NIL NIL NIL \"7bit\" 21 (NIL \"inner\" "
	    "NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1) 3)" },
	{ "Content-Type: multipart/mixed; boundary=q\n\n--q\n"
	    "Content-Type: message/rfc822\n\n--q--\n", 1, MESSAGE_BS_EXTENDED,
	    "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL "
	    "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL "
	    "NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL)" },
	{ "Content-Type: image/png; name=\"caf\xc3\xa9.png\"\n"
	    "Content-ID:\n  <folded\n  @id>\n\n", 1, 0,
	    "(\"image\" \"png\" (\"name\" {9}\r\ncaf\xc3\xa9.png) "
	    "\"<folded  @id>\" NIL \"7bit\" 0)" },
};

static void
test_small(void)
{
	size_t i;
	char *got;

	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		got = item_of(small[i].msg, small[i].what, small[i].flags);
		CHECK_MSG(strcmp(got, small[i].want) == 0, "case %zu: %s", i,
		    got);
		free(got);
	}
}

/* Deeper than the parser looks: still a valid BODYSTRUCTURE. */
static void
test_deep(void)
{
	struct message *m;
	struct buf msg, b;
	unsigned i, open = 0, close = 0;

	buf_init(&msg, BIG);
	buf_init(&b, BIG);
	for (i = 0; i < 120; i++)
		buf_addf(&msg, "Content-Type: %s\n\n", i % 2 ?
		    "message/rfc822" : "multipart/mixed; boundary=b");
	buf_adds(&msg, "x\n");
	m = message_from_mem(msg.data, msg.len);
	CHECK_INT(message_bodystructure(m, MESSAGE_BS_EXTENDED, &b), 0);
	for (i = 0; i < b.len; i++) {
		open += b.data[i] == '(';
		close += b.data[i] == ')';
	}
	CHECK(open == close && open > 0);
	message_free(m);
	buf_free(&msg);
	buf_free(&b);
}

/* Parse "a FETCH 1 (items)" and run each item the way FETCH would,
 * writing "NAME {n}\r\nbytes\n" (or "NAME n\n" for BINARY.SIZE). */
static void
run_items(struct message *m, const char *items, struct buf *out)
{
	static const struct imap_limits lim = { 65536, 65536, 1 << 20, 10,
	    1000 };
	struct imap_parser *ip = imap_parser_new(&lim);
	const struct imap_cmdline *cl;
	const struct imap_arg *l;
	struct section s;
	struct buf line, v;
	const char *why;
	size_t used, i = 0;
	int r, nil;

	buf_init(&line, 1 << 20);
	buf_init(&v, BIG);
	buf_addf(&line, "a FETCH 1 (%s)\r\n", items);
	if (imap_parser_feed(ip, line.data, line.len, &used) !=
	    IMAP_PARSE_COMMAND) {
		buf_adds(out, "unparsable\n");
		goto done;
	}
	cl = imap_parser_command(ip);
	l = &cl->args[1];
	while (i < l->len) {
		r = message_section_parse(&l->list[i], l->len - i, &used, &s,
		    &why);
		if (r == -1) {
			/* FETCH answers BAD for the whole command */
			buf_addf(out, "BAD %s\n", why);
			break;
		}
		if (r == 1) {
			buf_adds(out, "other\n");
			i++;
			continue;
		}
		i += used;
		buf_reset(&v);
		r = message_section_get(m, &s, &v, &nil);
		if (r == MESSAGE_EUNKNOWN_CTE)
			buf_adds(out, "NO UNKNOWN-CTE\n");
		else if (r != 0)
			buf_adds(out, "ERR\n");
		if (r != 0) {
			message_section_free(&s);
			continue;
		}
		message_section_name(&s, out);
		buf_addc(out, ' ');
		if (s.item == SECTION_BINARY_SIZE)
			buf_addf(out, "%s\n", buf_cstr(&v));
		else {
			buf_addf(out, "{%zu}\r\n", v.len);
			buf_add(out, buf_cstr(&v), v.len);
			buf_addc(out, '\n');
		}
		message_section_free(&s);
	}
done:
	buf_free(&line);
	buf_free(&v);
	imap_parser_free(ip);
}

/* Section contents, per fixture. */
static void
test_sections(void)
{
	struct message *m;
	struct buf b;
	char *d;
	size_t i, k;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(sgolden) / sizeof(sgolden[0]); i++) {
		if ((m = fixture_message(sgolden[i].name, &d, NULL)) == NULL) {
			CHECK(0);
			continue;
		}
		buf_reset(&b);
		run_items(m, sgolden[i].items, &b);
		/* compare by length: a few contents hold a NUL */
		k = strlen(sgolden[i].out);
		if (strcmp(sgolden[i].name, "eightbit-header.eml") == 0)
			k = b.len;
		CHECK_MSG(b.len == k && memcmp(b.data, sgolden[i].out, k) == 0,
		    "%s: got\n%s", sgolden[i].name, buf_cstr(&b));
		message_free(m);
		free(d);
	}
	buf_free(&b);
}

/* For every fixture: BODY[] is the CRLF form, HEADER + TEXT is BODY[],
 * every window of a partial is the same slice of it, and the sizes
 * agree. */
static void
test_partials(void)
{
	struct message *m;
	struct section s;
	struct buf b, h;
	char *d, *want;
	size_t i, len, wlen = 0, o, c;
	uint64_t size;
	unsigned bad;

	buf_init(&b, BIG);
	buf_init(&h, BIG);
	for (i = 0; i < NFIXTURES; i++) {
		if ((m = fixture_message(fixture_names[i], &d, &len)) ==
		    NULL) {
			CHECK(0);
			continue;
		}
		want = fixture_crlf(d, len, &wlen);
		memset(&s, 0, sizeof(s));
		s.item = SECTION_BODY_PEEK;
		buf_reset(&b);
		CHECK_INT(message_section_get(m, &s, &b, NULL), 0);
		/* (a NUL is sent as 0x80) */
		for (o = 0; o < wlen; o++)
			if (want[o] == '\0')
				want[o] = (char)0x80;
		CHECK_MSG(b.len == wlen && memcmp(b.data, want, wlen) == 0,
		    "%s", fixture_names[i]);
		CHECK_INT(message_vsize(m), wlen);
		CHECK_INT(message_section_size(m, &s, &size), 0);
		CHECK_INT(size, wlen);
		s.text = SECTION_HEADER;
		buf_reset(&h);
		message_section_get(m, &s, &h, NULL);
		s.text = SECTION_TEXT;
		message_section_get(m, &s, &h, NULL);
		CHECK_MSG(h.len == wlen && memcmp(h.data, want, wlen) == 0,
		    "%s: HEADER + TEXT", fixture_names[i]);
		s.text = SECTION_ALL;
		s.partial = 1;
		for (o = 0, bad = 0; o <= wlen + 2; o += 1 + o / 7)
			for (c = 1; c <= wlen + 3; c += 1 + c / 3) {
				s.origin = o;
				s.count = c;
				buf_reset(&h);
				message_section_get(m, &s, &h, NULL);
				if (h.len != (o >= wlen ? 0 : c < wlen - o ?
				    c : wlen - o) || (h.len > 0 &&
				    memcmp(h.data, want + o, h.len) != 0))
					bad++;
			}
		CHECK_MSG(bad == 0, "%s: %u bad windows", fixture_names[i],
		    bad);
		free(want);
		message_free(m);
		free(d);
	}
	buf_free(&b);
	buf_free(&h);
}

static const struct {
	const char	*items;
	const char	*out;
} parses[] = {
	{ "BODY[0]", "BAD bad section text\n" },
	{ "BODY[1.0]", "BAD bad section text\n" },
	{ "BODY[01]", "BAD bad section text\n" },
	{ "BODY[1.]", "BAD bad section text\n" },
	{ "BODY[1..2]", "BAD bad section text\n" },
	{ "BODY[1000001]", "BAD part number out of range\n" },
	{ "BODY[MIME]", "BAD bad section text\n" },
	{ "BODY[1.MIMEX]", "BAD bad section text\n" },
	{ "BINARY[1.MIME]", "BAD bad section text\n" },
	{ "BINARY[TEXT]", "BAD bad section text\n" },
	{ "BODY[TEXT", "BAD bad section text\n" },
	{ "BODY[]<1.0>", "BAD bad partial range\n" },
	{ "BODY[]<1>", "BAD bad partial range\n" },
	{ "BODY[]<a.1>", "BAD bad partial range\n" },
	{ "BODY[]<1.2>x", "BAD bad partial range\n" },
	{ "BODY[]x", "BAD bad partial range\n" },
	{ "BINARY.SIZE[1]<0.1>", "BAD bad partial range\n" },
	{ "BODY.PEEK", "BAD section expected after item name\n" },
	{ "BINARY", "BAD section expected after item name\n" },
	{ "BODY[HEADER.FIELDS ()]", "BAD HEADER.FIELDS needs a list of field "
	    "names\n" },
	{ "BODY[HEADER.FIELDS]", "BAD bad section text\n" },
	{ "BODY[HEADER.FIELDS (a) ]", "BODY[HEADER.FIELDS (A)] {2}\r\n\r\n\n" },
	{ "BODY[HEADER.FIELDS (a) x]", "BAD \"]\" expected after the field "
	    "list\n" },
	{ "FLAGS BODY BODYSTRUCTURE RFC822.SIZE ENVELOPE UID",
	    "other\nother\nother\nother\nother\nother\n" },
	{ "body.peek[header.fields (x-a \"x b\" X-A)]<0.1>",
	    "BODY[HEADER.FIELDS (X-A \"X B\" X-A)]<0> {1}\r\nX\n" },
	{ "binary.peek[1]<2.3> rfc822.header rfc822.text",
	    "BINARY[1]<2> {3}\r\ndy\r\nRFC822.HEADER {21}\r\nFrom: a@b\r\n"
	    "X-A: 1\r\n\r\n\nRFC822.TEXT {6}\r\nbody\r\n\n" },
	{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23."
	    "24.25.26.27.28.29.30.31.32.33.34.35.36.37.38.39.40.MIME]<9.9>",
	    "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22."
	    "23.24.25.26.27.28.29.30.31.32.33.34.35.36.37.38.39.40.MIME]<9> "
	    "{0}\r\n\n" },
	{ "BODY[HEADER.FIELDS.NOT (from)]<4.1000> BODY[]<20.1>",
	    "BODY[HEADER.FIELDS.NOT (FROM)]<4> {6}\r\n 1\r\n\r\n\n"
	    "BODY[]<20> {1}\r\n\n\n" },
};

static void
test_parse(void)
{
	static const char msg[] = "From: a@b\nX-A: 1\n\nbody\n";
	struct message *m = message_from_mem(msg, sizeof(msg) - 1);
	struct buf b;
	size_t i;

	buf_init(&b, BIG);
	for (i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
		buf_reset(&b);
		run_items(m, parses[i].items, &b);
		CHECK_MSG(strcmp(buf_cstr(&b), parses[i].out) == 0,
		    "%s: got %s", parses[i].items, buf_cstr(&b));
	}
	/* the output buffer is bounded: an error, nothing half-written */
	{
		struct section s;

		memset(&s, 0, sizeof(s));
		s.item = SECTION_BODY;
		buf_free(&b);
		buf_init(&b, 10);
		buf_adds(&b, "keep");
		CHECK_INT(message_section_get(m, &s, &b, NULL), -1);
		CHECK_INT(errno, EMSGSIZE);
		CHECK_STR(buf_cstr(&b), "keep");
		CHECK_INT(message_envelope(m, &b), -1);
		CHECK_STR(buf_cstr(&b), "keep");
		CHECK_INT(message_bodystructure(m, 1, &b), -1);
		CHECK_STR(buf_cstr(&b), "keep");
	}
	buf_free(&b);
	message_free(m);
}

static const struct {
	const char	*name;
	int		 kind;		/* 0 header, 1 body, 2 text */
	const char	*field;
	const char	*needle;
	int		 want;
} searches[] = {
	{ "encoded.eml", 0, "Subject", "GR\xc3\x9c\xc3\x9f" "E aus", 1 },
	{ "encoded.eml", 0, "subject", "\xe6\x97\xa5\xe6\x9c\xac", 1 },
	{ "encoded.eml", 0, "To", "\xe5\xb1\xb1\xe7\x94\xb0", 1 },
	{ "encoded.eml", 0, "To", "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd", 1 },
	{ "encoded.eml", 0, "From", "FRAN\xc3\x87OIS", 1 },
	{ "encoded.eml", 0, "From", "taro", 0 },
	{ "encoded.eml", 0, "X-Adjacent", "ab c", 1 },
	{ "encoded.eml", 0, "X-Split", "\xc3\xa9", 1 },
	{ "encoded.eml", 0, "X-Missing", "", 0 },
	{ "encoded.eml", 0, "X-Bad", "", 1 },
	{ "plain.eml", 0, "Subject", "report, draft", 1 },
	{ "plain.eml", 0, "Cc", "dave the admin", 1 },
	{ "plain.eml", 0, "Message-ID", "gA1234@", 1 },
	/* base64 UTF-8, koi8-r 8bit, latin-1 QP, iso-2022-jp */
	{ "encoded.eml", 1, NULL, "\xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86"
	    "\xce\xbf\xcf\x82", 1 },
	{ "encoded.eml", 1, NULL, "\xd0\x9c\xd0\xaf\xd0\x93\xd0\x9a\xd0\x98"
	    "\xd0\xa5", 1 },
	{ "encoded.eml", 1, NULL, "\xc3\xa9" "cole \xc3\xa9l\xc3\xa8ve", 1 },
	{ "encoded.eml", 1, NULL, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1 },
	{ "encoded.eml", 1, NULL, "Gr\xc3\xbc\xc3\x9f" "e aus", 0 },
	{ "encoded.eml", 2, NULL, "Gr\xc3\xbc\xc3\x9f" "e aus", 1 },
	{ "encoded.eml", 2, NULL, "content-transfer-encoding: 8BIT", 1 },
	{ "alternative.eml", 1, NULL, "caf\xc3\xa9 mugs", 1 },
	{ "alternative.eml", 1, NULL, "because it is longer", 1 },
	{ "alternative.eml", 1, NULL, "=E2=80=93", 0 },
	{ "mixed-attach.eml", 1, NULL, "hello TEAM", 1 },
	{ "mixed-attach.eml", 1, NULL, "%PDF", 0 },
	{ "mixed-attach.eml", 1, NULL, "epilogue", 0 },
	{ "mixed-attach.eml", 1, NULL, "multi-part message", 0 },
	{ "forward.eml", 1, NULL, "inner body line TWO", 1 },
	{ "forward.eml", 1, NULL, "Lunch?", 0 },
	{ "forward.eml", 2, NULL, "subject: lunch?", 1 },
	{ "forward.eml", 2, NULL, "forwarded message", 1 },
	{ "digest.eml", 1, NULL, "first!", 1 },
	{ "plain.eml", 1, NULL, "", 1 },
	{ "plain.eml", 1, NULL, "still missing", 1 },
	{ "plain.eml", 1, NULL, "Quarterly", 0 },
	{ "plain.eml", 2, NULL, "Quarterly", 1 },
	{ "unknown-cte.eml", 1, NULL, "HELLO WORLD", 1 },
	{ "unknown-cte.eml", 1, NULL, "break = equals", 1 },
	{ "unknown-cte.eml", 1, NULL, "<b>bin", 1 },
	{ "empty.eml", 1, NULL, "x", 0 },
	{ "empty.eml", 2, NULL, "x", 0 },
	{ "empty.eml", 0, "Subject", "", 0 },
};

static void
test_search(void)
{
	struct message *m;
	char *d;
	size_t i;
	int r;

	for (i = 0; i < sizeof(searches) / sizeof(searches[0]); i++) {
		if ((m = fixture_message(searches[i].name, &d, NULL)) == NULL) {
			CHECK(0);
			continue;
		}
		if (searches[i].kind == 0)
			r = message_search_header(m, searches[i].field,
			    searches[i].needle);
		else if (searches[i].kind == 1)
			r = message_search_body(m, searches[i].needle);
		else
			r = message_search_text(m, searches[i].needle);
		CHECK_MSG(r == searches[i].want, "case %zu (%s): %d", i,
		    searches[i].needle, r);
		message_free(m);
		free(d);
	}
}

/* Large bodies, the needle across the pieces decoding works in. */
static void
test_search_large(void)
{
	static const char *const ctes[] = { "8bit", "base64",
	    "quoted-printable" };
	struct message *m;
	struct buf msg, raw;
	size_t i, k, at, pos;
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	buf_init(&msg, BIG);
	buf_init(&raw, BIG);
	for (i = 0; i < 3; i++)
		for (at = 65536 - 8; at < 65536 + 8; at += 3) {
			/* the decoded text: filler, needle at "at" */
			buf_reset(&raw);
			for (k = 0; k < 300000; k++)
				buf_addc(&raw, k % 61 == 60 ? '\n' :
				    'a' + k % 7);
			memcpy(raw.data + at, "N\xc3\xa9" "EDLE", 7);
			buf_reset(&msg);
			buf_addf(&msg, "Content-Type: text/plain; "
			    "charset=%s\nContent-Transfer-Encoding: %s\n\n",
			    i == 0 ? "us-ascii" : "utf-8", ctes[i]);
			if (i == 1) {
				for (pos = 0; pos + 3 <= raw.len; pos += 3) {
					unsigned char *u = (unsigned char *)
					    raw.data + pos;

					buf_addc(&msg, b64[u[0] >> 2]);
					buf_addc(&msg, b64[(u[0] & 3) << 4 |
					    u[1] >> 4]);
					buf_addc(&msg, b64[(u[1] & 15) << 2 |
					    u[2] >> 6]);
					buf_addc(&msg, b64[u[2] & 63]);
					if (pos % 57 == 54)
						buf_addc(&msg, '\n');
				}
			} else if (i == 2) {
				for (pos = 0; pos < raw.len; pos++) {
					unsigned char c = (unsigned char)
					    raw.data[pos];

					if (c >= 0x80)
						buf_addf(&msg, "=%02X", c);
					else
						buf_addc(&msg, c);
					if (pos % 50 == 49 && c != '\n')
						buf_adds(&msg, "=\n");
				}
			} else
				buf_add(&msg, raw.data, raw.len);
			m = message_from_mem(msg.data, msg.len);
			CHECK_MSG(message_search_body(m, "n\xc3\x89" "edle") ==
			    1, "%s at %zu", ctes[i], at);
			CHECK(message_search_body(m, "needle") == 0);
			message_free(m);
		}
	buf_free(&msg);
	buf_free(&raw);
}

static void
test_open(void)
{
	char dir[] = "/tmp/test-message.XXXXXX", path[600];
	struct message *m;
	int dfd, e = 0, fd, tz;
	size_t len;
	static const char msg[] = "Date: Tue, 14 Nov 2023 09:12:40 +0100\n"
	    "Subject: x\n\nbody\n";

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(message_open(dfd, "missing", &e) == NULL && e == ENOENT);
	mkdirat(dfd, "sub", 0700);
	CHECK(message_open(dfd, "sub", &e) == NULL && e == EINVAL);
	fd = openat(dfd, "empty", O_CREAT | O_WRONLY, 0600);
	close(fd);
	m = message_open(dfd, "empty", &e);
	CHECK(m != NULL && message_vsize(m) == 0);
	CHECK(message_date(m) == INT64_MIN);
	message_free(m);
	fd = openat(dfd, "msg", O_CREAT | O_WRONLY, 0600);
	CHECK(write(fd, msg, sizeof(msg) - 1) == (ssize_t)sizeof(msg) - 1);
	close(fd);
	m = message_open(dfd, "msg", &e);
	CHECK(m != NULL);
	CHECK_INT(message_vsize(m), sizeof(msg) - 1 + 4);
	CHECK_INT(message_date_tz(m, &tz), 1699949560);
	CHECK_INT(message_date(m), 1699949560);
	CHECK_INT(tz, 60);
	CHECK(memcmp(message_data(m, &len), "Date:", 5) == 0 &&
	    len == sizeof(msg) - 1);
	CHECK(message_parts(m) != NULL);
	message_free(m);
	unlinkat(dfd, "msg", 0);
	unlinkat(dfd, "empty", 0);
	unlinkat(dfd, "sub", AT_REMOVEDIR);
	close(dfd);
	snprintf(path, sizeof(path), "%s", dir);
	rmdir(path);
}

int
main(void)
{
	T_RUN(test_structure);
	T_RUN(test_small);
	T_RUN(test_deep);
	T_RUN(test_sections);
	T_RUN(test_partials);
	T_RUN(test_parse);
	T_RUN(test_search);
	T_RUN(test_search_large);
	T_RUN(test_open);
	message_search_cleanup();
	return t_done();
}
