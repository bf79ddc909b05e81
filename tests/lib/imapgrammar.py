"""A strict parser for IMAP server responses, after the formal syntax of
RFC 9051 section 9 (with the IMAP4rev1 forms a server still sends to
clients that did not enable IMAP4rev2, and the response codes and data of
UIDPLUS, ESEARCH, BINARY, CONDSTORE/QRESYNC and ID).

parse(raw) takes one whole response as it came off the wire -- the line,
its literals and every CRLF, ending with the last CRLF -- and returns a
Response, or raises Invalid saying where the bytes left the grammar.  It
does not accept what the grammar does not: a missing SP, a number with a
sign or a leading "+" in a literal, a NUL in a literal, a bare CR or LF,
an unknown FETCH attribute, a BODYSTRUCTURE with the wrong number of
fields.

What comes back:
  Response.kind      "tagged", "untagged" or "continue"
  Response.tag       the tag (tagged only)
  Response.name      OK NO BAD BYE PREAUTH CAPABILITY FLAGS LIST LSUB
                     STATUS SEARCH ESEARCH ENABLED NAMESPACE ID EXISTS
                     RECENT EXPUNGE FETCH VANISHED
  Response.num       the number before EXISTS/RECENT/EXPUNGE/FETCH
  Response.code      the response code's name (upper case) or None, and
  Response.code_arg  its parsed argument (see _resp_text_code)
  Response.text      the human-readable text
  Response.data      what the response carries, by name:
                       FETCH      {item: value}, see _msg_att
                       SEARCH     ([numbers], modseq or None)
                       ESEARCH    {"TAG": str, "UID": bool, "ALL": [..],
                                   "MIN"/"MAX"/"COUNT"/"MODSEQ": int}
                       LIST/LSUB  (flags, delimiter, mailbox bytes, ext)
                       STATUS     (mailbox bytes, {item: int})
                       FLAGS      [flags]
                       CAPABILITY, ENABLED  [words]
                       VANISHED   (earlier: bool, [uids])
"""

import re

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")

# CHAR is %x01-7F; CTL %x00-1F / %x7F
_CTL = set(range(0x00, 0x20)) | {0x7F}
_ATOM_SPECIALS = set(b'(){ %*"\\]') | _CTL
ATOM_CHARS = bytes(c for c in range(0x01, 0x80) if c not in _ATOM_SPECIALS)
ASTRING_CHARS = ATOM_CHARS + b"]"
# a tag is 1*<any ASTRING-CHAR except "+">
TAG_CHARS = bytes(c for c in ASTRING_CHARS if c != ord("+"))
_ATOM_SET = frozenset(ATOM_CHARS)

SYSTEM_FLAGS = ("\\ANSWERED", "\\FLAGGED", "\\DELETED", "\\SEEN",
                "\\DRAFT")

# response codes whose argument has a syntax of its own; the others are
# atom [SP 1*<any TEXT-CHAR except "]">]
PLAIN_CODES = ("ALERT", "PARSE", "READ-ONLY", "READ-WRITE", "TRYCREATE",
               "UIDNOTSTICKY", "UNAVAILABLE", "AUTHENTICATIONFAILED",
               "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED",
               "CONTACTADMIN", "NOPERM", "INUSE", "EXPUNGEISSUED",
               "CORRUPTION", "SERVERBUG", "CLIENTBUG", "CANNOT", "LIMIT",
               "OVERQUOTA", "ALREADYEXISTS", "NONEXISTENT", "NOTSAVED",
               "HASCHILDREN", "CLOSED", "UNKNOWN-CTE", "NOMODSEQ")


class Invalid(Exception):
    """The response does not follow the grammar."""


class Response:
    def __init__(self, kind):
        self.kind = kind
        self.tag = None
        self.name = None
        self.num = None
        self.code = None
        self.code_arg = None
        self.text = ""
        self.data = None
        self.raw = b""

    @property
    def status(self):
        return self.name if self.name in ("OK", "NO", "BAD") else None

    def short(self, n=300):
        s = self.raw.decode("utf-8", "replace").rstrip("\r\n")
        return s if len(s) <= n else s[:n] + "..."

    def __repr__(self):
        return f"<{self.kind} {self.short(120)!r}>"


class Literal(bytes):
    """A string that came as a literal (kept apart from quoted strings
    only so that tests can tell them apart when they care)."""


class Parser:
    def __init__(self, raw):
        self.b = raw
        self.p = 0

    # --- low level ------------------------------------------------------

    def fail(self, what):
        ctx = self.b[max(0, self.p - 40):self.p + 40]
        raise Invalid(f"{what} at offset {self.p}: "
                      f"...{ctx!r}... in {self.b[:200]!r}")

    def peek(self, n=1):
        return self.b[self.p:self.p + n]

    def at(self, s):
        return self.b[self.p:self.p + len(s)] == s

    def at_ci(self, s):
        return self.b[self.p:self.p + len(s)].upper() == s.upper()

    def expect(self, s, what=None):
        if not self.at(s):
            self.fail(f"expected {what or s!r}")
        self.p += len(s)

    def expect_ci(self, s):
        if not self.at_ci(s):
            self.fail(f"expected {s!r}")
        self.p += len(s)

    def sp(self):
        self.expect(b" ", "SP")

    def crlf(self):
        self.expect(b"\r\n", "CRLF")

    def span(self, chars):
        q = self.p
        while q < len(self.b) and self.b[q] in chars:
            q += 1
        out, self.p = self.b[self.p:q], q
        return out

    # --- RFC 9051 section 9 basic rules ---------------------------------

    def number(self):
        d = self.span(b"0123456789")
        if not d:
            self.fail("expected a number")
        v = int(d)
        if v > 0xFFFFFFFF:
            self.fail("number larger than 2^32-1")
        return v

    def number64(self):
        d = self.span(b"0123456789")
        if not d:
            self.fail("expected a number")
        v = int(d)
        if v > 0x7FFFFFFFFFFFFFFF:
            self.fail("number64 larger than 2^63-1")
        return v

    def nz_number(self):
        if self.at(b"0"):
            self.fail("expected a non-zero number")
        return self.number()

    def atom(self):
        a = self.span(ATOM_CHARS)
        if not a:
            self.fail("expected an atom")
        return a.decode()

    def nil(self):
        if self.at_ci(b"NIL") and (self.p + 3 >= len(self.b) or
                                   self.b[self.p + 3] not in _ATOM_SET):
            self.p += 3
            return True
        return False

    def quoted(self):
        self.expect(b'"')
        out = bytearray()
        while True:
            if self.p >= len(self.b):
                self.fail("unterminated quoted string")
            c = self.b[self.p]
            if c == 0x22:
                self.p += 1
                return bytes(out)
            if c == 0x5C:
                n = self.b[self.p + 1:self.p + 2]
                if n not in (b'"', b"\\"):
                    self.fail("backslash before something not a "
                              "quoted-special")
                out += n
                self.p += 2
                continue
            if c in (0x0D, 0x0A, 0x00):
                self.fail("CR, LF or NUL in a quoted string")
            if c >= 0x80:
                # IMAP4rev2 allows UTF-8 here: take one whole character
                n = 2 if c >= 0xC2 and c <= 0xDF else \
                    3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 \
                    else 0
                ch = self.b[self.p:self.p + n]
                try:
                    if n == 0:
                        raise UnicodeDecodeError("utf-8", ch, 0, 1, "bad")
                    ch.decode("utf-8")
                except UnicodeDecodeError:
                    self.fail("a byte in a quoted string that is not "
                              "UTF-8")
                out += ch
                self.p += n
                continue
            out.append(c)
            self.p += 1

    def literal(self, eight=False):
        if eight:
            self.expect(b"~")
        self.expect(b"{")
        n = self.number64()
        if self.at(b"+"):
            self.fail("a server does not send non-synchronizing literals")
        self.expect(b"}")
        self.crlf()
        data = self.b[self.p:self.p + n]
        if len(data) < n:
            self.fail(f"literal of {n} bytes cut short")
        if not eight and 0 in data:
            self.fail("NUL in a literal (only literal8 may hold one)")
        self.p += n
        return Literal(data)

    def string(self):
        if self.at(b'"'):
            return self.quoted()
        if self.at(b"{"):
            return self.literal()
        self.fail("expected a string")

    def nstring(self):
        if self.nil():
            return None
        return self.string()

    def astring(self):
        if self.at(b'"') or self.at(b"{"):
            return self.string()
        a = self.span(ASTRING_CHARS)
        if not a:
            self.fail("expected an astring")
        return a

    def mailbox(self):
        m = self.astring()
        if m.upper() == b"INBOX":
            return b"INBOX"
        return m

    def text(self, allow_empty=True):
        q = self.p
        while q < len(self.b) and self.b[q] not in (0x0D, 0x0A):
            q += 1
        t = self.b[self.p:q]
        if not t and not allow_empty:
            self.fail("expected text")
        self.p = q
        return t.decode("utf-8", "replace")

    def flag(self, fetch=False, perm=False):
        if self.at(b"\\"):
            self.p += 1
            if perm and self.at(b"*"):
                self.p += 1
                return "\\*"
            name = "\\" + self.atom()
            if name.upper() == "\\RECENT" and not fetch:
                self.fail("\\Recent where only a flag may stand")
            return name
        return self.atom()

    def flag_list(self, fetch=False, perm=False):
        self.expect(b"(")
        out = []
        if not self.at(b")"):
            out.append(self.flag(fetch, perm))
            while self.at(b" "):
                self.p += 1
                out.append(self.flag(fetch, perm))
        self.expect(b")")
        return out

    def seq_number(self, star=True):
        if star and self.at(b"*"):
            self.p += 1
            return "*"
        return self.nz_number()

    def sequence_set(self, star=True):
        """[(lo, hi)] with "*" kept as it is; ranges as sent."""
        out = []
        while True:
            a = self.seq_number(star)
            b = a
            if self.at(b":"):
                self.p += 1
                b = self.seq_number(star)
            out.append((a, b))
            if not self.at(b","):
                return out
            self.p += 1

    def uid_set(self):
        return self.sequence_set(star=False)

    def capability(self):
        return self.atom()

    def date_time(self):
        self.expect(b'"')
        m = re.match(rb'([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):'
                     rb'(\d\d) ([+-])(\d\d)(\d\d)"', self.b[self.p:])
        if not m:
            self.fail("expected date-time \"dd-Mon-yyyy hh:mm:ss +zzzz\"")
        day, mon = m.group(1), m.group(2).decode()
        if mon not in MONTHS:
            self.fail(f"month {mon!r}")
        d = int(day)
        if not 1 <= d <= 31 or int(m.group(4)) > 23 or \
                int(m.group(5)) > 59 or int(m.group(6)) > 60:
            self.fail("date-time out of range")
        self.p += m.end()
        return m.group(0)[:-1].decode()


# --- response codes ----------------------------------------------------

def _resp_text_code(p):
    """After "[": name and argument; leaves p after "]"."""
    name = p.span(bytes(c for c in ATOM_CHARS if c != ord("]")))
    if not name:
        p.fail("expected a response code")
    name = name.decode()
    up = name.upper()
    arg = None
    if up in ("UIDNEXT", "UIDVALIDITY", "UNSEEN"):
        p.sp()
        arg = p.nz_number()
    elif up == "PERMANENTFLAGS":
        p.sp()
        arg = p.flag_list(perm=True)
    elif up == "CAPABILITY":
        arg = []
        while p.at(b" "):
            p.p += 1
            arg.append(p.capability())
    elif up == "BADCHARSET":
        arg = []
        if p.at(b" "):
            p.p += 1
            p.expect(b"(")
            arg.append(p.astring())
            while p.at(b" "):
                p.p += 1
                arg.append(p.astring())
            p.expect(b")")
    elif up == "APPENDUID":
        p.sp()
        uv = p.nz_number()
        p.sp()
        arg = (uv, p.uid_set())
    elif up == "COPYUID":
        p.sp()
        uv = p.nz_number()
        p.sp()
        src = p.uid_set()
        p.sp()
        arg = (uv, src, p.uid_set())
    elif up == "HIGHESTMODSEQ":
        p.sp()
        arg = p.number64()
        if arg == 0:
            p.fail("HIGHESTMODSEQ 0")
    elif up == "MODIFIED":
        p.sp()
        arg = p.sequence_set()
    elif up == "APPENDLIMIT":
        if p.at(b" "):
            p.p += 1
            arg = p.number64()
    elif up in PLAIN_CODES:
        pass
    else:
        if p.at(b" "):
            p.p += 1
            t = p.span(bytes(c for c in range(0x20, 0x7F) if c != 0x5D))
            if not t:
                p.fail("empty response code argument")
            arg = t.decode()
    p.expect(b"]")
    return up, arg


def _resp_text(p, r):
    if p.at(b"["):
        p.p += 1
        r.code, r.code_arg = _resp_text_code(p)
        if p.at(b"\r\n"):
            # RFC 3501 wants text after the code, RFC 9051 an SP before
            # optional text: neither allows "]" CRLF
            p.fail("no SP after the response code")
        p.sp()
    r.text = p.text()


# --- mailbox data --------------------------------------------------------

def _mailbox_list(p):
    p.expect(b"(")
    flags = []
    if not p.at(b")"):
        flags.append(p.flag())
        while p.at(b" "):
            p.p += 1
            flags.append(p.flag())
    p.expect(b")")
    p.sp()
    if p.nil():
        delim = None
    else:
        q = p.quoted()
        if len(q) != 1:
            p.fail("the delimiter is one character")
        delim = q
    p.sp()
    name = p.mailbox()
    ext = None
    if p.at(b" "):
        # mbox-list-extended: "(" [item *(SP item)] ")"; item is
        # tag SP extension-value, e.g. CHILDINFO ("SUBSCRIBED")
        p.p += 1
        ext = _generic(p)
    return [f.upper() for f in flags], delim, name, ext


def _generic(p):
    """tagged-ext-val and friends: a value made of atoms, numbers,
    strings, NIL and lists (for the parts this parser does not check
    in detail)."""
    if p.at(b"("):
        p.p += 1
        out = []
        while not p.at(b")"):
            if out:
                p.sp()
            out.append(_generic(p))
        p.p += 1
        return out
    if p.at(b'"') or p.at(b"{"):
        return p.string()
    if p.nil():
        return None
    return p.atom()


def _status_att_list(p):
    out = {}
    p.expect(b"(")
    first = True
    while not p.at(b")"):
        if not first:
            p.sp()
        first = False
        name = p.atom().upper()
        p.sp()
        if name in ("UIDNEXT", "UIDVALIDITY"):
            v = p.nz_number()
        elif name in ("SIZE", "HIGHESTMODSEQ"):
            v = p.number64()
        elif name in ("MESSAGES", "UNSEEN", "DELETED", "RECENT"):
            v = p.number()
        else:
            p.fail(f"unknown STATUS item {name}")
        if name in out:
            p.fail(f"STATUS item {name} twice")
        out[name] = v
    p.p += 1
    return out


def _esearch(p):
    out = {"TAG": None, "UID": False}
    if p.at(b" ("):
        p.p += 2
        p.expect_ci(b"TAG")
        p.sp()
        out["TAG"] = p.string().decode()
        p.expect(b")")
    if p.at_ci(b" UID") and p.b[p.p + 4:p.p + 5] in (b" ", b"\r"):
        p.p += 4
        out["UID"] = True
    while p.at(b" "):
        p.p += 1
        name = p.atom().upper()
        p.sp()
        if name in ("MIN", "MAX"):
            out[name] = p.nz_number()
        elif name == "COUNT":
            out[name] = p.number()
        elif name == "ALL":
            out[name] = p.sequence_set(star=False)
        elif name == "MODSEQ":
            out[name] = p.number64()
        else:
            p.fail(f"unknown ESEARCH return item {name}")
    return out


def _namespace(p):
    out = []
    for i in range(3):
        if i:
            p.sp()
        if p.nil():
            out.append(None)
            continue
        p.expect(b"(")
        items = []
        while p.at(b"("):
            p.p += 1
            prefix = p.string()
            p.sp()
            if p.nil():
                d = None
            else:
                d = p.quoted()
            while p.at(b" "):       # namespace-response-extension
                p.p += 1
                p.string()
                p.sp()
                _generic(p)
            p.expect(b")")
            items.append((prefix, d))
        if not items:
            p.fail("an empty namespace list is NIL, not ()")
        p.expect(b")")
        out.append(items)
    return out


# --- FETCH ----------------------------------------------------------------

def _section(p, binary=False):
    """section = "[" [section-spec] "]"; returns its text (upper case,
    header field names as sent)."""
    p.expect(b"[")
    start = p.p
    if p.at(b"]"):
        p.p += 1
        return ""
    part = False
    if p.peek() in [bytes([c]) for c in b"123456789"]:
        part = True
        p.nz_number()
        while p.at(b".") and p.peek(2)[1:2].isdigit():
            p.p += 1
            p.nz_number()
    if binary:
        if not part:
            p.fail("BINARY takes only a part number")
        p.expect(b"]")
        return p.b[start:p.p - 1].decode()
    if not part or p.at(b"."):
        if part:
            p.p += 1
        if p.at_ci(b"HEADER.FIELDS.NOT") or p.at_ci(b"HEADER.FIELDS"):
            n = 17 if p.at_ci(b"HEADER.FIELDS.NOT") else 13
            p.p += n
            p.sp()
            p.expect(b"(")
            p.astring()
            while p.at(b" "):
                p.p += 1
                p.astring()
            p.expect(b")")
        elif p.at_ci(b"HEADER"):
            p.p += 6
        elif p.at_ci(b"TEXT"):
            p.p += 4
        elif part and p.at_ci(b"MIME"):
            p.p += 4
        else:
            p.fail("unknown section text")
    p.expect(b"]")
    return p.b[start:p.p - 1].decode()


def _address(p):
    p.expect(b"(")
    name = p.nstring()
    p.sp()
    adl = p.nstring()
    p.sp()
    mbox = p.nstring()
    p.sp()
    host = p.nstring()
    p.expect(b")")
    return (name, adl, mbox, host)


def _addr_list(p):
    if p.nil():
        return None
    p.expect(b"(")
    out = [_address(p)]
    while p.at(b"("):
        out.append(_address(p))
    p.expect(b")")
    return out


def envelope(p):
    p.expect(b"(")
    date = p.nstring()
    p.sp()
    subject = p.nstring()
    addrs = []
    for _ in range(6):
        p.sp()
        addrs.append(_addr_list(p))
    p.sp()
    irt = p.nstring()
    p.sp()
    mid = p.nstring()
    p.expect(b")")
    return {"date": date, "subject": subject, "from": addrs[0],
            "sender": addrs[1], "reply-to": addrs[2], "to": addrs[3],
            "cc": addrs[4], "bcc": addrs[5], "in-reply-to": irt,
            "message-id": mid}


def _body_fld_param(p):
    if p.nil():
        return None
    p.expect(b"(")
    out = []
    k = p.string()
    p.sp()
    out.append((k, p.string()))
    while p.at(b" "):
        p.p += 1
        k = p.string()
        p.sp()
        out.append((k, p.string()))
    p.expect(b")")
    return out


def _body_fld_dsp(p):
    if p.nil():
        return None
    p.expect(b"(")
    d = p.string()
    p.sp()
    prm = _body_fld_param(p)
    p.expect(b")")
    return (d, prm)


def _body_fld_lang(p):
    if p.at(b"("):
        p.p += 1
        out = [p.string()]
        while p.at(b" "):
            p.p += 1
            out.append(p.string())
        p.expect(b")")
        return out
    return p.nstring()


def _body_extension(p):
    if p.at(b"("):
        p.p += 1
        out = [_body_extension(p)]
        while p.at(b" "):
            p.p += 1
            out.append(_body_extension(p))
        p.expect(b")")
        return out
    if p.peek().isdigit():
        return p.number64()
    return p.nstring()


def _ext_tail(p, ext):
    """[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP
    body-extension)]]]"""
    if not p.at(b" "):
        return
    p.p += 1
    ext["disposition"] = _body_fld_dsp(p)
    if not p.at(b" "):
        return
    p.p += 1
    ext["language"] = _body_fld_lang(p)
    if not p.at(b" "):
        return
    p.p += 1
    ext["location"] = p.nstring()
    while p.at(b" "):
        p.p += 1
        ext.setdefault("more", []).append(_body_extension(p))


def body(p, extensible):
    """body = "(" (body-type-1part / body-type-mpart) ")"; returns a dict
    with type, subtype and, for a single part, the fields; multipart
    parts under "parts"."""
    p.expect(b"(")
    if p.at(b"("):
        parts = [body(p, extensible)]
        while p.at(b"("):
            parts.append(body(p, extensible))
        p.sp()
        sub = p.string()
        out = {"type": b"MULTIPART", "subtype": sub.upper(),
               "parts": parts}
        if p.at(b" "):
            if not extensible:
                p.fail("extension data in BODY (non-extensible form)")
            p.p += 1
            out["params"] = _body_fld_param(p)
            _ext_tail(p, out)
        p.expect(b")")
        return out
    typ = p.string()
    p.sp()
    sub = p.string()
    out = {"type": typ.upper(), "subtype": sub.upper()}
    p.sp()
    out["params"] = _body_fld_param(p)
    p.sp()
    out["id"] = p.nstring()
    p.sp()
    out["description"] = p.nstring()
    p.sp()
    out["encoding"] = p.string()
    p.sp()
    out["octets"] = p.number()
    if out["type"] == b"MESSAGE" and out["subtype"] in (b"RFC822",
                                                         b"GLOBAL"):
        p.sp()
        out["envelope"] = envelope(p)
        p.sp()
        out["body"] = body(p, extensible)
        p.sp()
        out["lines"] = p.number64()
    elif out["type"] == b"TEXT":
        p.sp()
        out["lines"] = p.number64()
    if p.at(b" "):
        if not extensible:
            p.fail("extension data in BODY (non-extensible form)")
        p.p += 1
        out["md5"] = p.nstring()
        _ext_tail(p, out)
    p.expect(b")")
    return out


def _msg_att(p):
    """msg-att = "(" item *(SP item) ")".  Keys: FLAGS, UID, RFC822.SIZE,
    INTERNALDATE, ENVELOPE, BODY, BODYSTRUCTURE, MODSEQ, RFC822,
    RFC822.HEADER, RFC822.TEXT, "BODY[section]" (with "<origin>" after it
    when partial), "BINARY[part]", "BINARY.SIZE[part]"."""
    p.expect(b"(")
    out = {}
    first = True
    while True:
        if not first:
            if p.at(b")"):
                break
            p.sp()
        elif p.at(b")"):
            p.fail("an empty FETCH attribute list")
        first = False
        name = p.span(bytes(c for c in ATOM_CHARS if c not in b"[<")) \
            .decode().upper()
        if name == "FLAGS":
            p.sp()
            v = p.flag_list(fetch=True)
        elif name == "UID":
            p.sp()
            v = p.nz_number()
        elif name == "RFC822.SIZE":
            p.sp()
            v = p.number64()
        elif name == "INTERNALDATE":
            p.sp()
            v = p.date_time()
        elif name == "ENVELOPE":
            p.sp()
            v = envelope(p)
        elif name == "MODSEQ":
            p.sp()
            p.expect(b"(")
            v = p.number64()
            if v == 0:
                p.fail("MODSEQ 0 in a FETCH response")
            p.expect(b")")
        elif name in ("BODY", "BODYSTRUCTURE") and not p.at(b"["):
            p.sp()
            v = body(p, name == "BODYSTRUCTURE")
        elif name == "BODY":
            sec = _section(p)
            name = f"BODY[{sec.upper()}]"
            if p.at(b"<"):
                p.p += 1
                name += f"<{p.number()}>"
                p.expect(b">")
            p.sp()
            v = p.nstring()
        elif name in ("BINARY", "BINARY.SIZE"):
            sec = _section(p, binary=True)
            name = f"{name}[{sec}]"
            p.sp()
            if name.startswith("BINARY.SIZE"):
                v = p.number()
            elif p.at(b"~"):
                v = p.literal(eight=True)
            else:
                v = p.nstring()
        elif name in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
            p.sp()
            v = p.nstring()
        else:
            p.fail(f"unknown FETCH attribute {name!r}")
        if name in out:
            p.fail(f"FETCH attribute {name} twice in one response")
        out[name] = v
    p.expect(b")")
    return out


# --- the response -------------------------------------------------------

def parse(raw):
    """Parse one whole response (bytes ending with CRLF)."""
    p = Parser(raw)
    if p.at(b"+"):
        # continue-req = "+" [SP (resp-text / base64)] CRLF
        r = Response("continue")
        p.p += 1
        if p.at(b" "):
            p.p += 1
            _resp_text(p, r)
        p.crlf()
        _end(p)
        r.raw = raw
        return r
    if p.at(b"* "):
        p.p += 2
        r = Response("untagged")
        _untagged(p, r)
    else:
        r = Response("tagged")
        tag = p.span(TAG_CHARS)
        if not tag:
            p.fail("expected a tag, \"*\" or \"+\"")
        r.tag = tag.decode()
        p.sp()
        w = p.atom().upper()
        if w not in ("OK", "NO", "BAD"):
            p.fail(f"a tagged response is OK, NO or BAD, not {w}")
        r.name = w
        p.sp()
        _resp_text(p, r)
    p.crlf()
    _end(p)
    r.raw = raw
    return r


def _end(p):
    if p.p != len(p.b):
        p.fail("bytes after the end of the response")


def _untagged(p, r):
    if p.peek().isdigit():
        r.num = p.number()
        p.sp()
        w = p.atom().upper()
        r.name = w
        if w == "EXISTS" or w == "RECENT":
            return
        if w == "EXPUNGE" or w == "FETCH":
            if r.num == 0:
                p.fail(f"{w} for message 0")
            if w == "FETCH":
                p.sp()
                r.data = _msg_att(p)
            return
        p.fail(f"unknown numbered response {w}")
    w = p.atom().upper()
    r.name = w
    if w in ("OK", "NO", "BAD", "BYE", "PREAUTH"):
        p.sp()
        _resp_text(p, r)
    elif w in ("CAPABILITY", "ENABLED"):
        r.data = []
        while p.at(b" "):
            p.p += 1
            r.data.append(p.capability().upper())
        if w == "CAPABILITY" and not ({"IMAP4REV1", "IMAP4REV2"} &
                                      set(r.data)):
            p.fail("CAPABILITY without IMAP4rev1 or IMAP4rev2")
    elif w == "FLAGS":
        p.sp()
        r.data = p.flag_list()
    elif w in ("LIST", "LSUB"):
        p.sp()
        r.data = _mailbox_list(p)
    elif w == "STATUS":
        p.sp()
        m = p.mailbox()
        p.sp()
        r.data = (m, _status_att_list(p))
    elif w == "SEARCH":
        nums, modseq = [], None
        while p.at(b" "):
            p.p += 1
            if p.at(b"("):
                p.p += 1
                p.expect_ci(b"MODSEQ")
                p.sp()
                modseq = p.number64()
                p.expect(b")")
                break
            nums.append(p.nz_number())
        r.data = (nums, modseq)
    elif w == "ESEARCH":
        r.data = _esearch(p)
    elif w == "NAMESPACE":
        p.sp()
        r.data = _namespace(p)
    elif w == "ID":
        p.sp()
        if p.nil():
            r.data = None
        else:
            p.expect(b"(")
            r.data = {}
            while not p.at(b")"):
                if r.data:
                    p.sp()
                k = p.string()
                p.sp()
                r.data[k] = p.nstring()
            p.p += 1
    elif w == "VANISHED":
        earlier = False
        p.sp()
        if p.at_ci(b"(EARLIER)"):
            p.p += 9
            earlier = True
            p.sp()
        r.data = (earlier, p.uid_set())
    else:
        p.fail(f"unknown untagged response {w}")


# --- helpers for users of the parser ------------------------------------

def expand(seqset, star=None):
    """The numbers of a parsed sequence set ("*" is star)."""
    out = []
    for a, b in seqset:
        a = star if a == "*" else a
        b = star if b == "*" else b
        lo, hi = min(a, b), max(a, b)
        out.extend(range(lo, hi + 1))
    return out
