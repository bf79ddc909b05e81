"""Scripted IMAP sessions: the script format of tests/conformance/README,
the Maildir fixture a script starts from, and a runner that plays a script
against a server on loopback and says where the server's answers stopped
matching.

The same runner serves `make check` (imapd only) and `make conformance`
(imapd and Dovecot side by side); neither this module nor the scripts know
which server they talk to.  Every read has a timeout and every loop is
bounded by the script's length or a deadline.
"""

import hashlib
import os
import pathlib
import re
import select
import socket
import ssl
import time

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"

READ_TIMEOUT = 10.0       # seconds to wait for a line a script expects
QUIET_TIME = 0.3          # "Cn nothing": how long nothing must arrive
MAX_LINE = 1 << 20        # longest logical line the runner accepts
MAX_SLEEP = 5.0           # longest "sleep" a script may ask for

BASE_TIME = 1704067200    # 01-Jan-2024 00:00:00 +0000: default dates

FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R",
                "\\Seen": "S", "\\Deleted": "T"}


class ScriptError(Exception):
    """The script itself is malformed (not a server failure)."""


# --- parsing scripts --------------------------------------------------------

class Message:
    def __init__(self, folder, opts, body, lineno):
        self.folder = folder
        self.opts = opts
        self.body = body            # list of lines, or None
        self.lineno = lineno


class Step:
    """One line of the session part of a script.

    kind: send, expect, optional, many, regex, unordered, connect, login,
    close, closed, nothing, sleep, deliver."""

    def __init__(self, kind, conn, text, lineno, children=None):
        self.kind = kind
        self.conn = conn
        self.text = text
        self.lineno = lineno
        self.children = children or []
        self.body = None            # deliver: the message lines
        self.opts = None            # deliver: options


class Script:
    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.name = self.path.stem
        self.title = ""
        self.rfc = ""
        self.requires = []
        self.folders = {}           # name -> options (INBOX always)
        self.subscriptions = []     # subscribed names without a folder
        self.messages = []
        self.texts = {}
        self.steps = []
        self.expect_lines = set()   # line numbers of expectation lines
        self.parse(self.path.read_text(encoding="utf-8"))

    def parse(self, text):
        lines = text.split("\n")
        i = 0
        block = None                # the unordered block being read
        self.folders["INBOX"] = {}

        def body_lines(j):
            out = []
            while j < len(lines) and (lines[j] == "|" or
                                      lines[j].startswith("| ")):
                out.append(lines[j][2:])
                j += 1
            return out, j

        session = False
        while i < len(lines):
            line = lines[i].rstrip("\r")
            lineno = i + 1
            i += 1
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            m = re.match(r"^(C\d+)(>|<\?|<\*|<~|<)(?: (.*))?$", line)
            if m:
                session = True
                conn, op, rest = m.group(1), m.group(2), m.group(3) or ""
                kind = {">": "send", "<": "expect", "<?": "optional",
                        "<*": "many", "<~": "regex"}[op]
                st = Step(kind, conn, rest, lineno)
                if kind != "send":
                    self.expect_lines.add(lineno)
                if block is not None:
                    if kind == "send" or kind == "regex":
                        raise ScriptError("%s:%d: only C<, C<? and C<* "
                                          "lines in an unordered block" %
                                          (self.name, lineno))
                    if block.conn is None:
                        block.conn = conn
                    elif block.conn != conn:
                        raise ScriptError("%s:%d: one connection per "
                                          "unordered block" %
                                          (self.name, lineno))
                    block.children.append(st)
                else:
                    self.steps.append(st)
                continue
            if stripped == "unordered":
                if block is not None:
                    raise ScriptError("%s:%d: unordered blocks do not nest"
                                      % (self.name, lineno))
                block = Step("unordered", None, "", lineno)
                session = True
                continue
            if stripped == "end":
                if block is None or not block.children:
                    raise ScriptError("%s:%d: end without an unordered "
                                      "block" % (self.name, lineno))
                self.steps.append(block)
                block = None
                continue
            if block is not None:
                raise ScriptError("%s:%d: unexpected line in an unordered "
                                  "block: %r" % (self.name, lineno, line))
            m = re.match(r"^(C\d+) (connect|login|close|closed|nothing)$",
                         stripped)
            if m:
                session = True
                self.steps.append(Step(m.group(2), m.group(1), "", lineno))
                if m.group(2) in ("closed", "nothing", "connect", "login"):
                    self.expect_lines.add(lineno)
                continue
            m = re.match(r"^sleep ([0-9.]+)$", stripped)
            if m:
                secs = float(m.group(1))
                if secs > MAX_SLEEP:
                    raise ScriptError("%s:%d: sleep at most %g s" %
                                      (self.name, lineno, MAX_SLEEP))
                self.steps.append(Step("sleep", None, secs, lineno))
                continue
            m = re.match(r"^(title|rfc|requires):\s*(.*)$", stripped)
            if m and not session:
                key, val = m.group(1), m.group(2).strip()
                if key == "requires":
                    self.requires += val.split()
                else:
                    setattr(self, key, val)
                continue
            m = re.match(r"^subscription\s+(\S+)$", stripped)
            if m and not session:
                self.subscriptions.append(m.group(1))
                continue
            m = re.match(r"^(folder|message|text|deliver)\s+(.*)$",
                         stripped)
            if m:
                what, rest = m.group(1), m.group(2)
                words = split_words(rest, self.name, lineno)
                if what == "folder":
                    if session:
                        raise ScriptError("%s:%d: folders belong before "
                                          "the session" % (self.name,
                                                           lineno))
                    self.folders[words[0]] = parse_opts(
                        words[1:], self.name, lineno)
                elif what == "text":
                    body, i = body_lines(i)
                    self.texts[words[0]] = "".join(l + "\r\n"
                                                   for l in body)
                elif what == "message":
                    if session:
                        raise ScriptError("%s:%d: messages belong before "
                                          "the session (use deliver)" %
                                          (self.name, lineno))
                    body, i = body_lines(i)
                    self.messages.append(Message(
                        words[0], parse_opts(words[1:], self.name, lineno),
                        body or None, lineno))
                else:
                    body, i = body_lines(i)
                    st = Step("deliver", None, words[0], lineno)
                    st.opts = parse_opts(words[1:], self.name, lineno)
                    st.body = body or None
                    self.steps.append(st)
                    session = True
                continue
            raise ScriptError("%s:%d: cannot parse %r" % (self.name,
                                                          lineno, line))
        if block is not None:
            raise ScriptError("%s: unordered block without end" %
                              self.name)
        for msg in self.messages:
            if msg.folder not in self.folders:
                raise ScriptError("%s:%d: folder %s is not declared" % (
                    self.name, msg.lineno, msg.folder))
        if not self.steps:
            raise ScriptError("%s: no session" % self.name)


def split_words(text, name, lineno):
    """Blank-separated words; "double quotes" group (no escapes)."""
    out = []
    for m in re.finditer(r'(\S+?)="([^"]*)"|"([^"]*)"|(\S+)', text):
        if m.group(1) is not None:
            out.append(m.group(1) + "=" + m.group(2))
        elif m.group(3) is not None:
            out.append(m.group(3))
        else:
            out.append(m.group(4))
    return out


def parse_opts(words, name, lineno):
    opts = {}
    for w in words:
        k, eq, v = w.partition("=")
        opts[k] = v if eq else True
    return opts


# --- the Maildir fixture ----------------------------------------------------

def mutf7(name):
    """A folder name in modified UTF-7 (RFC 3501 5.1.3)."""
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            import base64
            enc = base64.b64encode(b).decode().rstrip("=").replace("/", ",")
            out.append("&" + enc + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def parse_date(text):
    """An IMAP date-time "17-Jul-1996 02:44:25 -0700" as a Unix time."""
    import calendar
    m = re.match(r"^\s*(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) "
                 r"([+-])(\d\d)(\d\d)$", text)
    if not m:
        raise ScriptError("bad date %r" % text)
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
              "sep", "oct", "nov", "dec"]
    mon = months.index(m.group(2).lower()) + 1
    t = calendar.timegm((int(m.group(3)), mon, int(m.group(1)),
                         int(m.group(4)), int(m.group(5)), int(m.group(6))))
    off = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    return t - off if m.group(7) == "+" else t + off


def standard_message(n, opts):
    """The message a fixture line without a body stands for."""
    subject = opts.get("subject", "message %d" % n)
    sender = opts.get("from", "Alice <alice@example.org>")
    to = opts.get("to", "Bob <bob@example.org>")
    date = opts.get("hdate", "Mon, 1 Jan 2024 %02d:00:00 +0000" % (n % 24))
    body = opts.get("body", "Body of message %d." % n)
    lines = ["From: " + sender, "To: " + to, "Subject: " + subject,
             "Date: " + date,
             "Message-ID: <m%d@fixture.example>" % n]
    if "header" in opts:
        lines += opts["header"].split("\\n")
    lines += ["", body]
    if "pad" in opts:
        lines += ["x" * 70] * int(opts["pad"])
    return lines


def folder_dir(maildir, folder):
    if folder.upper() == "INBOX":
        return maildir
    return maildir / ("." + mutf7(folder).replace("/", "."))


class Fixture:
    """Writes a script's folders and messages as a Maildir++ tree, the way
    an MDA and a previous Dovecot session leave it: messages in cur/ with
    their flags in the name (or in new/), keywords in dovecot-keywords,
    UIDs and UIDVALIDITY in dovecot-uidlist (which imapd takes over too),
    so that both servers number the messages alike."""

    def __init__(self, script):
        self.script = script

    def write(self, maildir, uid=None, gid=None):
        maildir = pathlib.Path(maildir)
        made = []
        per_folder = {}
        for msg in self.script.messages:
            per_folder.setdefault(msg.folder, []).append(msg)
        subscribed = []
        for k, (name, fopts) in enumerate(self.script.folders.items()):
            d = folder_dir(maildir, name)
            for sub in ("", "cur", "new", "tmp"):
                (d / sub).mkdir(parents=True, exist_ok=True)
                made.append(d / sub)
            if d != maildir:
                (d / "maildirfolder").touch()
                made.append(d / "maildirfolder")
                if not fopts.get("unsubscribed"):
                    subscribed.append(name)
            made += self.write_folder(d, name, fopts, k,
                                      per_folder.get(name, []))
        subscribed += self.script.subscriptions
        subs = maildir / "subscriptions"
        subs.write_text("V\t2\n\n" + "".join(
            n.replace("/", "\t") + "\n" for n in subscribed))
        made.append(subs)
        if uid is not None:
            for p in made:
                os.chown(p, uid, gid)
        return maildir

    def write_folder(self, d, name, fopts, k, msgs):
        made = []
        uidvalidity = int(fopts.get("uidvalidity", 1000 + k))
        keywords = []
        entries = []
        next_uid = 1
        first_new = None
        for n, msg in enumerate(msgs, 1):
            o = msg.opts
            uid = int(o.get("uid", next_uid))
            if uid < next_uid:
                raise ScriptError("%s:%d: UIDs must ascend" % (
                    self.script.name, msg.lineno))
            next_uid = uid + 1
            flags = [f for f in re.split(r"[,\s]+", o.get("flags", ""))
                     if f]
            letters = ""
            for f in flags:
                if f in FLAG_LETTERS:
                    letters += FLAG_LETTERS[f]
                elif f.startswith("\\"):
                    raise ScriptError("%s:%d: flag %s cannot be stored" %
                                      (self.script.name, msg.lineno, f))
                else:
                    if f not in keywords:
                        keywords.append(f)
                    letters += chr(ord("a") + keywords.index(f))
            if len(keywords) > 26:
                raise ScriptError("too many keywords")
            base = "%d.M%dP%d.fixture" % (BASE_TIME + uid, uid, k + 1)
            if o.get("new"):
                if letters:
                    raise ScriptError("%s:%d: a message in new/ has no "
                                      "flags" % (self.script.name,
                                                 msg.lineno))
                path = d / "new" / base
            else:
                path = d / "cur" / (base + ":2," + "".join(
                    sorted(letters)))
            lines = msg.body if msg.body is not None else \
                standard_message(uid, o)
            path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
            if "date" in o:
                t = parse_date(o["date"])
            else:
                t = BASE_TIME + uid * 3600
            os.utime(path, (t, t))
            made.append(path)
            if o.get("new"):
                # delivered since the last session: no UID yet; the
                # servers give the next ones in name (= delivery) order
                if first_new is None:
                    first_new = uid
            elif first_new is not None:
                raise ScriptError("%s:%d: messages in new/ come last" % (
                    self.script.name, msg.lineno))
            else:
                entries.append((uid, base))
        uidnext = max(next_uid, int(fopts.get("uidnext", 0)))
        if first_new is not None:
            uidnext = first_new
        guid = hashlib.md5(("%s/%s" % (self.script.name, name)).encode()
                           ).hexdigest()
        ul = d / "dovecot-uidlist"
        ul.write_text("3 V%d N%d G%s\n" % (uidvalidity, uidnext, guid) +
                      "".join("%d :%s\n" % e for e in entries))
        made.append(ul)
        if keywords:
            kw = d / "dovecot-keywords"
            kw.write_text("".join("%d %s\n" % (i, w)
                                  for i, w in enumerate(keywords)))
            made.append(kw)
        return made


def deliver(maildir, folder, step, counter, uid=None, gid=None):
    """Deliver a message mid-script as an MDA does: tmp/, then new/."""
    d = folder_dir(pathlib.Path(maildir), folder)
    lines = step.body if step.body is not None else \
        standard_message(100 + counter, step.opts)
    base = "%d.M%dP%d.mda" % (int(time.time()), counter, os.getpid())
    tmp = d / "tmp" / base
    tmp.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    if uid is not None:
        os.chown(tmp, uid, gid)
    os.rename(tmp, d / "new" / base)


# --- IMAP values: parsing responses and patterns ----------------------------

class Atom:
    def __init__(self, text):
        self.text = text

    def show(self):
        return self.text


class Str:
    def __init__(self, value, literal=False):
        self.value = value
        self.literal = literal

    def show(self):
        return '"%s"' % escape(self.value)


class List:
    def __init__(self, kind, items):
        self.kind = kind            # "(" or "["
        self.items = items

    def show(self):
        close = ")" if self.kind == "(" else "]"
        return self.kind + " ".join(i.show() for i in self.items) + close


class Wild:
    def show(self):
        return "..."


class Matcher:
    """${name=kind} in a pattern: one value, checked and captured."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind

    def show(self):
        return "${%s=%s}" % (self.name, self.kind)


def escape(s):
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


class Tokenizer:
    """Parses a response (parts: text, literal, text, ...) or a pattern
    (one text part) into values.  Tolerant: free text after a status
    word parses as atoms, an unbalanced bracket just ends the list."""

    def __init__(self, parts, pattern=False):
        self.parts = parts
        self.pattern = pattern
        self.pi = 0
        self.s = parts[0]
        self.i = 0

    def at_end(self):
        return self.i >= len(self.s) and self.pi + 2 >= len(self.parts)

    def skip_space(self):
        while True:
            while self.i < len(self.s) and self.s[self.i] == " ":
                self.i += 1
            return

    def parse(self):
        items, _ = self.parse_items(None)
        return items

    def parse_items(self, close):
        items = []
        while True:
            self.skip_space()
            if self.i >= len(self.s):
                return items, False
            c = self.s[self.i]
            if close and c == close:
                self.i += 1
                return items, True
            if c == "(" or c == "[":
                self.i += 1
                sub, _ = self.parse_items(")" if c == "(" else "]")
                items.append(List(c, sub))
                continue
            if c == ")" or c == "]":
                # unbalanced: keep it as text
                self.i += 1
                items.append(Atom(c))
                continue
            items.append(self.parse_one(close))

    def parse_one(self, close):
        s, i = self.s, self.i
        if s[i] == '"':
            val, j = self.quoted(i)
            if j is not None:
                self.i = j
                return Str(val)
        if self.pattern:
            if s.startswith("...", i) and (i + 3 == len(s) or
                                           s[i + 3] in " )]"):
                self.i = i + 3
                return Wild()
            if s.startswith("${", i):
                j = s.find("}", i)
                if j < 0:
                    raise ScriptError("unclosed ${ in pattern %r" % s)
                name, _, kind = s[i + 2:j].partition("=")
                # a regex may hold "}": it runs to the "/}" that ends it
                if kind.startswith("/"):
                    k = s.find("/}", i + 2 + len(name) + 2)
                    if k < 0:
                        raise ScriptError("unclosed regex in %r" % s)
                    kind = s[i + 2 + len(name) + 1:k + 1]
                    j = k + 1
                self.i = j + 1
                return Matcher(name, kind or "any")
        m = re.compile(r"~?\{(\d+)\}$").match(s, i)
        if m and not self.pattern and self.pi + 2 < len(self.parts):
            data = self.parts[self.pi + 1]
            self.pi += 2
            self.s = self.parts[self.pi]
            self.i = 0
            return Str(data, literal=True)
        # an atom; brackets inside it (BODY[...]) are part of it
        j = i
        depth = 0
        while j < len(s):
            c = s[j]
            if c == "[":
                depth += 1
            elif c == "]":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in " ()":
                break
            j += 1
        if j == i:
            j = i + 1
        self.i = j
        return Atom(s[i:j])

    def quoted(self, i):
        s = self.s
        out = []
        j = i + 1
        while j < len(s):
            c = s[j]
            if c == '"':
                return "".join(out), j + 1
            if c == "\\" and j + 1 < len(s):
                n = s[j + 1]
                if self.pattern and n == "r":
                    out.append("\r")
                elif self.pattern and n == "n":
                    out.append("\n")
                elif self.pattern and n == "t":
                    out.append("\t")
                elif self.pattern and n == "x" and j + 3 < len(s):
                    out.append(chr(int(s[j + 2:j + 4], 16)))
                    j += 2
                else:
                    out.append(n)
                j += 2
                continue
            out.append(c)
            j += 1
        return None, None


def parse_response(parts):
    return Tokenizer(parts).parse()


def parse_pattern(text):
    return Tokenizer([text], pattern=True).parse()


NUM = re.compile(r"^\d+$")


def is_flaglike(node):
    return isinstance(node, Atom) and not NUM.match(node.text)


def seqset(text):
    """The set of numbers a sequence set without * names, or None."""
    out = set()
    for part in text.split(","):
        a, colon, b = part.partition(":")
        if not NUM.match(a) or (colon and not NUM.match(b)):
            return None
        lo, hi = int(a), int(b) if colon else int(a)
        if lo > hi:
            lo, hi = hi, lo
        if hi - lo > 1000000:
            return None
        out.update(range(lo, hi + 1))
    return out


class Matching:
    """Matches pattern values against response values, collecting
    captures in vars (committed only when a whole line matches)."""

    def __init__(self, variables):
        self.vars = variables
        self.caps = {}
        self.nocase = False         # BODY, BODYSTRUCTURE: MIME tokens

    def text_of(self, node):
        if isinstance(node, Atom):
            return node.text
        if isinstance(node, Str):
            return node.value
        return None

    def node(self, p, r):
        if isinstance(p, Matcher):
            return self.matcher(p, r)
        eq = (lambda a, b: a.lower() == b.lower()) if self.nocase else \
            (lambda a, b: a == b)
        if isinstance(p, Atom):
            if isinstance(r, Atom):
                return eq(p.text, r.text)
            if isinstance(r, Str):
                return p.text != "NIL" and eq(p.text, r.value)
            return False
        if isinstance(p, Str):
            if isinstance(r, Str):
                return eq(p.value, r.value)
            if isinstance(r, Atom):
                return r.text != "NIL" and eq(p.value, r.text)
            return False
        if isinstance(p, List):
            if not isinstance(r, List) or p.kind != r.kind:
                return False
            return self.seq(p.items, r.items, setlike=True)
        return False

    def matcher(self, p, r):
        kind = p.kind
        text = self.text_of(r)
        ok = False
        if kind == "any":
            ok = True
            text = text if text is not None else r.show()
        elif text is None:
            ok = False
        elif kind == "num":
            ok = isinstance(r, Atom) and bool(NUM.match(text))
        elif kind == "nz":
            ok = isinstance(r, Atom) and bool(NUM.match(text)) and \
                int(text) > 0
        elif kind.startswith("/") and kind.endswith("/"):
            ok = re.fullmatch(kind[1:-1], text, re.S) is not None
        elif kind.startswith("gt:") or kind.startswith("ge:"):
            if not NUM.match(kind[3:]):
                raise ScriptError("bad matcher %r" % kind)
            ok = isinstance(r, Atom) and bool(NUM.match(text)) and (
                int(text) > int(kind[3:]) if kind[1] == "t"
                else int(text) >= int(kind[3:]))
        elif kind.startswith("set:"):
            want = seqset(kind[4:])
            got = seqset(text) if isinstance(r, Atom) else None
            ok = want is not None and got == want
        else:
            raise ScriptError("unknown matcher kind %r" % kind)
        if ok and p.name:
            self.caps[p.name] = text
        return ok

    def seq(self, ps, rs, setlike=False):
        # a list of flags (atoms, no numbers) matches in any order; a
        # ${=...} in it matches one flag the others do not name
        if setlike and rs and all(is_flaglike(r) for r in rs) and \
                all(is_flaglike(p) or isinstance(p, (Wild, Matcher))
                    for p in ps) and any(is_flaglike(p) for p in ps):
            got = [r.text for r in rs]
            for p in ps:
                if isinstance(p, Atom):
                    if p.text not in got:
                        return False
                    got.remove(p.text)
            for p in ps:
                if isinstance(p, Matcher):
                    for g in got:
                        if self.matcher(p, Atom(g)):
                            got.remove(g)
                            break
                    else:
                        return False
            return not got or any(isinstance(p, Wild) for p in ps)
        # a FETCH item list: name/value pairs in any order
        return self.seq_ordered(ps, 0, rs, 0, {})

    def seq_ordered(self, ps, i, rs, j, memo):
        key = (i, j)
        if key in memo:
            return memo[key]
        saved = dict(self.caps)
        if i == len(ps):
            res = j == len(rs)
        elif isinstance(ps[i], Wild):
            res = False
            for k in range(j, len(rs) + 1):
                if self.seq_ordered(ps, i + 1, rs, k, memo):
                    res = True
                    break
        elif j < len(rs) and self.node(ps[i], rs[j]):
            res = self.seq_ordered(ps, i + 1, rs, j + 1, memo)
        else:
            res = False
        if not res:
            self.caps = saved
        memo[key] = res
        return res

    def fetch_items(self, ps, rs):
        """FETCH items as (name, value) pairs matched in any order; a
        ... in the pattern allows items the pattern does not name."""
        wild = any(isinstance(p, Wild) for p in ps)
        pp = [p for p in ps if not isinstance(p, Wild)]
        if len(pp) % 2 or len(rs) % 2:
            return False
        pairs = [(rs[k], rs[k + 1]) for k in range(0, len(rs), 2)]
        used = set()
        for k in range(0, len(pp), 2):
            name, val = pp[k], pp[k + 1]
            found = False
            for n, (rn, rv) in enumerate(pairs):
                if n in used or not isinstance(rn, Atom):
                    continue
                if isinstance(name, Atom) and \
                        name.text.upper() != rn.text.upper():
                    continue
                if not isinstance(name, Atom) and not self.node(name, rn):
                    continue
                # MIME types, subtypes, parameters and encodings are
                # case-insensitive (RFC 2045 5.1 and 6.1)
                self.nocase = rn.text.upper() in ("BODY", "BODYSTRUCTURE")
                try:
                    hit = self.node(val, rv)
                finally:
                    self.nocase = False
                if hit:
                    used.add(n)
                    found = True
                    break
            if not found:
                return False
        return wild or len(used) == len(pairs)

    def line(self, ps, rs):
        """A whole response line."""
        self.caps = {}
        # "* n FETCH (...)" and "* STATUS name (...)": items in any order
        for word, at in (("FETCH", 2), ("STATUS", 1)):
            if len(ps) == 4 and len(rs) == 4 and \
                    isinstance(ps[at], Atom) and ps[at].text == word and \
                    isinstance(rs[at], Atom) and rs[at].text == word and \
                    isinstance(ps[3], List) and isinstance(rs[3], List):
                saved = dict(self.caps)
                if all(self.node(ps[k], rs[k]) for k in range(3)) and \
                        self.fetch_items(ps[3].items, rs[3].items):
                    return True
                self.caps = saved
                return False
        # "* ESEARCH [(TAG ...)] [UID] name value ...": pairs in any order
        if len(ps) >= 2 and len(rs) >= 2 and isinstance(ps[1], Atom) and \
                ps[1].text == "ESEARCH" and isinstance(rs[1], Atom) and \
                rs[1].text == "ESEARCH":
            def head(ns):
                k = 2
                if k < len(ns) and isinstance(ns[k], List):
                    k += 1
                if k < len(ns) and isinstance(ns[k], Atom) and \
                        ns[k].text == "UID":
                    k += 1
                return k
            hp, hr = head(ps), head(rs)
            saved = dict(self.caps)
            if self.seq_ordered(ps[:hp], 0, rs[:hr], 0, {}) and \
                    self.fetch_items(ps[hp:], rs[hr:]):
                return True
            self.caps = saved
            return False
        return self.seq_ordered(ps, 0, rs, 0, {})


# --- connections -------------------------------------------------------------

class Response:
    """One logical response line: text parts with literals between."""

    def __init__(self, parts, raw):
        self.parts = parts
        self.raw = raw
        self._nodes = None

    def nodes(self):
        if self._nodes is None:
            self._nodes = parse_response(self.parts)
        return self._nodes

    def show(self):
        out = []
        for k, p in enumerate(self.parts):
            out.append(p if k % 2 == 0 else escape(p))
        return "".join(out)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, host, port, ctx, log):
        self.sock = socket.create_connection((host, port), READ_TIMEOUT)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock,
                                        server_hostname="localhost")
        self.buf = b""
        self.queue = []             # responses read but not yet matched
        self.eof = False
        self.log = log

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.sock.sendall(data)

    def fill(self, deadline):
        if self.eof:
            raise Closed()
        pending = isinstance(self.sock, ssl.SSLSocket) and \
            self.sock.pending()
        if not pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                raise TimeoutError()
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            raise TimeoutError()
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed()
        self.buf += chunk
        if len(self.buf) > MAX_LINE * 2:
            raise ScriptError("server sent an overlong line")

    def read_raw(self, deadline):
        """One logical line (with its literals) off the wire."""
        parts, raw = [], b""
        while True:
            while b"\n" not in self.buf:
                self.fill(deadline)
            line, _, self.buf = self.buf.partition(b"\n")
            raw += line + b"\n"
            text = line.rstrip(b"\r").decode("utf-8", "surrogateescape")
            m = re.search(r"~?\{(\d+)\}$", text)
            parts.append(text)
            if not m:
                return Response(parts, raw)
            n = int(m.group(1))
            if n > MAX_LINE:
                raise ScriptError("server sent a literal of %d bytes" % n)
            while len(self.buf) < n:
                self.fill(deadline)
            data, self.buf = self.buf[:n], self.buf[n:]
            raw += data
            parts.append(data.decode("utf-8", "surrogateescape"))

    def next(self, timeout=READ_TIMEOUT):
        if self.queue:
            return self.queue[0]
        r = self.read_raw(time.monotonic() + timeout)
        self.log("<", r.show())
        self.queue.append(r)
        return r

    def take(self):
        return self.queue.pop(0)

    def pending(self, wait=0.0):
        """A response that is already there (or arrives within wait)."""
        if self.queue:
            return self.queue[0]
        if self.eof:
            return None
        if not self.buf:
            ready = isinstance(self.sock, ssl.SSLSocket) and \
                self.sock.pending()
            if not ready:
                r, _, _ = select.select([self.sock], [], [], wait)
                if not r:
                    return None
        try:
            return self.next(max(wait, 0.5))
        except (TimeoutError, Closed):
            return None

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.fill(deadline)
            except Closed:
                return True
            except TimeoutError:
                return False
            if b"\n" in self.buf:
                return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- running -----------------------------------------------------------------

class Failure(Exception):
    def __init__(self, lineno, message):
        Exception.__init__(self, "line %d: %s" % (lineno, message))
        self.lineno = lineno
        self.message = message


class Outcome:
    def __init__(self, status, lineno=None, message="", transcript=""):
        self.status = status        # pass, fail, skip
        self.lineno = lineno
        self.message = message
        self.transcript = transcript

    def __repr__(self):
        return "<%s %s %s>" % (self.status, self.lineno, self.message)


class Target:
    """Where and as whom to run: a server's TLS port, a login, the home
    whose Maildir the fixture goes into, and the mail user's ids."""

    def __init__(self, port, ctx, user, password, maildir, uid=None,
                 gid=None, host="127.0.0.1", capabilities=None):
        self.port = port
        self.ctx = ctx
        self.user = user
        self.password = password
        self.maildir = pathlib.Path(maildir)
        self.uid = uid
        self.gid = gid
        self.host = host
        self.capabilities = capabilities


LITERAL = re.compile(r'<<([~+]*)(?:"((?:[^"\\]|\\.)*)"|(\w+))>>')


def unescape(s):
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)", lambda m: {
        "r": "\r", "n": "\n", "t": "\t"}.get(
            m.group(1), chr(int(m.group(1)[1:], 16))
            if m.group(1).startswith("x") and len(m.group(1)) == 3
            else m.group(1)), s)


class Runner:
    def __init__(self, script, target):
        self.script = script
        self.target = target
        self.conns = {}
        import base64
        plain = "\0%s\0%s" % (target.user, target.password)
        self.vars = {"USER": target.user, "PASS": target.password,
                     "PLAIN": base64.b64encode(plain.encode()).decode()}
        self.transcript = []
        self.delivered = 0
        self.t0 = time.monotonic()

    def log(self, conn, direction, text):
        if len(text) > 400:
            text = text[:400] + "...(%d bytes)" % len(text)
        self.transcript.append("%6.3f %s%s %s" % (
            time.monotonic() - self.t0, conn, direction, text))

    def subst(self, text, lineno):
        def repeat(m):
            n = int(m.group(1))
            if n > MAX_LINE:
                raise Failure(lineno, "repeat count too large")
            return m.group(2) * n
        text = re.sub(r"\$\{rep:(\d+):([^}]*)\}", repeat, text)

        def rep(m):
            if m.group(1) not in self.vars:
                raise Failure(lineno, "variable %s is not set" %
                              m.group(1))
            return self.vars[m.group(1)]
        return re.sub(r"\$\{(\w+)\}", rep, text)

    def conn(self, name, lineno):
        c = self.conns.get(name)
        if c is None:
            raise Failure(lineno, "%s is not connected (use %s connect "
                          "or %s login)" % (name, name, name))
        return c

    def run(self):
        caps = self.target.capabilities
        missing = [c for c in self.script.requires
                   if caps is not None and c.upper() not in caps and
                   not any(x.startswith(c.upper() + "=") for x in caps)]
        if missing:
            return Outcome("skip", message="the server does not advertise "
                           + " ".join(missing))
        try:
            Fixture(self.script).write(self.target.maildir,
                                       self.target.uid, self.target.gid)
            for step in self.script.steps:
                self.step(step)
            self.finish()
            return Outcome("pass", transcript="\n".join(self.transcript))
        except Failure as f:
            return Outcome("fail", f.lineno, f.message,
                           "\n".join(self.transcript))
        finally:
            for c in self.conns.values():
                c.close()

    def finish(self):
        last = self.script.steps[-1].lineno
        for name, c in self.conns.items():
            extra = c.pending(0.05)
            if extra is not None:
                raise Failure(last, "%s: unexpected response at the end: "
                              "%s" % (name, extra.show()))

    def check_idle(self, name, c, lineno):
        extra = c.pending(0.0)
        if extra is not None:
            raise Failure(lineno, "%s: unexpected response before this "
                          "command: %s" % (name, extra.show()))

    def step(self, st):
        k = st.kind
        if k == "sleep":
            time.sleep(st.text)
            return
        if k == "deliver":
            self.delivered += 1
            deliver(self.target.maildir, st.text, st, self.delivered,
                    self.target.uid, self.target.gid)
            self.log("--", "", "delivered a message to " + st.text)
            return
        if k in ("connect", "login"):
            if st.conn in self.conns:
                raise Failure(st.lineno, "%s is already connected" %
                              st.conn)
            try:
                c = Conn(self.target.host, self.target.port,
                         self.target.ctx,
                         lambda d, t, n=st.conn: self.log(n, d, t))
            except OSError as e:
                raise Failure(st.lineno, "cannot connect: %s" % e)
            self.conns[st.conn] = c
            self.expect(st.conn, "* OK ...", st.lineno)
            if k == "login":
                tag = st.conn.lower() + "login"
                self.send(st.conn, "%s LOGIN ${USER} ${PASS}" % tag,
                          st.lineno)
                self.optional(st.conn, "* CAPABILITY ...", st.lineno)
                self.expect(st.conn, "%s OK ..." % tag, st.lineno)
            return
        c = self.conn(st.conn, st.lineno)
        if k == "send":
            self.check_idle(st.conn, c, st.lineno)
            self.send(st.conn, st.text, st.lineno)
        elif k == "expect":
            self.expect(st.conn, st.text, st.lineno)
        elif k == "optional":
            self.optional(st.conn, st.text, st.lineno)
        elif k == "many":
            while self.optional(st.conn, st.text, st.lineno):
                pass
        elif k == "regex":
            r = self.read(c, st.lineno)
            rx = self.subst(st.text, st.lineno)
            m = re.fullmatch(rx, r.show(), re.S)
            if not m:
                raise Failure(st.lineno, "expected a line matching /%s/, "
                              "got: %s" % (rx, r.show()))
            self.vars.update({k2: v for k2, v in m.groupdict().items()
                              if v is not None})
            c.take()
        elif k == "unordered":
            self.unordered(st)
        elif k == "close":
            c.close()
            del self.conns[st.conn]
            self.log(st.conn, "--", "closed by the client")
        elif k == "closed":
            extra = c.pending(0.0)
            if extra is not None:
                raise Failure(st.lineno, "expected the server to close the "
                              "connection, got: %s" % extra.show())
            if not c.wait_closed(READ_TIMEOUT):
                if c.buf:
                    extra = c.pending(0.5)
                    raise Failure(st.lineno, "expected the server to close "
                                  "the connection, got: %s" %
                                  (extra.show() if extra else c.buf[:200]))
                raise Failure(st.lineno, "the server did not close the "
                              "connection")
            c.close()
            del self.conns[st.conn]
            self.log(st.conn, "--", "closed by the server")
        elif k == "nothing":
            extra = c.pending(QUIET_TIME)
            if extra is not None:
                raise Failure(st.lineno, "expected nothing, got: %s" %
                              extra.show())
        else:
            raise ScriptError("unknown step %s" % k)

    def read(self, c, lineno):
        try:
            return c.next()
        except TimeoutError:
            raise Failure(lineno, "timed out waiting for a response")
        except Closed:
            raise Failure(lineno, "the server closed the connection")

    def match(self, text, resp, lineno):
        text = self.subst(text, lineno)
        try:
            pat = parse_pattern(self.expand_literals_pattern(text, lineno))
        except ScriptError as e:
            raise Failure(lineno, str(e))
        m = Matching(self.vars)
        if m.line(pat, resp.nodes()):
            return m.caps
        return None

    def expand_literals_pattern(self, text, lineno):
        def rep(m):
            data = self.literal_data(m, lineno)
            return '"%s"' % escape(data)
        return LITERAL.sub(rep, text)

    def literal_data(self, m, lineno):
        if m.group(3) is not None:
            if m.group(3) not in self.script.texts:
                raise Failure(lineno, "no text named %s" % m.group(3))
            return self.script.texts[m.group(3)]
        return self.subst(unescape(m.group(2)), lineno)

    def expect(self, name, text, lineno):
        c = self.conn(name, lineno)
        r = self.read(c, lineno)
        caps = self.match(text, r, lineno)
        if caps is None:
            raise Failure(lineno, "expected: %s\n    got: %s" % (
                self.subst(text, lineno), r.show()))
        self.vars.update(caps)
        c.take()

    def optional(self, name, text, lineno):
        c = self.conn(name, lineno)
        try:
            r = c.next()
        except (TimeoutError, Closed):
            return False
        caps = self.match(text, r, lineno)
        if caps is None:
            return False
        self.vars.update(caps)
        c.take()
        return True

    def unordered(self, st):
        """The next responses match the block's patterns in any order:
        every C< pattern once, C<? at most once, C<* any number of
        times; the block ends when every C< pattern has its response and
        the next response fits no pattern left (or none is there)."""
        c = self.conn(st.conn, st.lineno)
        pats = st.children
        optional = any(p.kind != "expect" for p in pats)
        got = []                    # (response, [patterns it matches])
        result = self.assign(got, pats)
        for _ in range(10000):
            complete = result is not None and result[1]
            try:
                if not complete:
                    r = c.next()
                elif optional:
                    r = c.pending(0.2)
                else:
                    r = None
            except (TimeoutError, Closed):
                r = None
            if r is None:
                break
            fits = [k for k, p in enumerate(pats)
                    if self.match(p.text, r, p.lineno) is not None]
            trial = self.assign(got + [(r, fits)], pats) if fits else None
            if trial is None:
                break
            got.append((r, fits))
            c.take()
            result = trial
        if result is None or not result[1]:
            taken = set(result[0]) if result else set()
            missing = [p for k, p in enumerate(pats)
                       if p.kind == "expect" and k not in taken]
            nxt = c.queue[0].show() if c.queue else "(nothing)"
            raise Failure((missing[0] if missing else st).lineno,
                          "unordered block: nothing matched: %s\n"
                          "    next response: %s" % (
                              "; ".join(self.subst(p.text, p.lineno)
                                        for p in missing), nxt))
        for (r, _), k in zip(got, result[0]):
            self.vars.update(self.match(pats[k].text, r,
                                        pats[k].lineno) or {})

    def assign(self, got, pats):
        """A pattern for each response (C< and C<? patterns once at
        most, C<* any number of times): (indexes, every C< pattern
        used), or None if the responses cannot all be placed."""
        owner = {}                  # pattern index -> response index

        def place(i, seen):
            for k in got[i][1]:
                if pats[k].kind == "many" or k in seen:
                    continue
                seen.add(k)
                if k not in owner or place(owner[k], seen):
                    owner[k] = i
                    return True
            return False

        result = [None] * len(got)
        for i in range(len(got)):
            if not place(i, set()):
                many = [k for k in got[i][1] if pats[k].kind == "many"]
                if not many:
                    return None
                result[i] = many[0]
        for k, i in owner.items():
            result[i] = k
        for i in range(len(got)):
            if result[i] is None:
                many = [k for k in got[i][1] if pats[k].kind == "many"]
                if not many:
                    return None
                result[i] = many[0]
        complete = all(k in owner for k, p in enumerate(pats)
                       if p.kind == "expect")
        return result, complete

    def send(self, name, text, lineno):
        c = self.conn(name, lineno)
        text = self.subst(text, lineno)
        pieces = []
        pos = 0
        for m in LITERAL.finditer(text):
            pieces.append((text[pos:m.start()], m))
            pos = m.end()
        pieces.append((text[pos:], None))
        for before, m in pieces:
            if m is None:
                self.log(name, ">", before)
                c.send(before + "\r\n")
                return
            flags = m.group(1)
            data = self.literal_data(m, lineno).encode("utf-8")
            head = "%s%s{%d%s}" % (before, "~" if "~" in flags else "",
                                   len(data), "+" if "+" in flags else "")
            self.log(name, ">", head)
            c.send(head + "\r\n")
            if "+" not in flags:
                r = self.read(c, lineno)
                if not r.parts[0].startswith("+"):
                    # refused: the script's next lines see the answer
                    self.log(name, "--", "literal refused; rest not sent")
                    return
                c.take()
            self.log(name, ">", "(%d bytes)" % len(data))
            c.send(data)


# --- differences -------------------------------------------------------------

class Differences:
    """tests/conformance/DIFFERENCES: "script:line server reason" entries,
    the expectation lines a server is known to answer differently."""

    def __init__(self, path=HERE / "DIFFERENCES"):
        self.entries = {}           # (script, line, server) -> reason
        self.path = pathlib.Path(path)
        if not self.path.exists():
            return
        for n, line in enumerate(self.path.read_text().split("\n"), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([\w.-]+):(\d+)\s+(\S+)\s+(.+)$", line)
            if not m:
                raise ScriptError("DIFFERENCES:%d: cannot parse %r" %
                                  (n, line))
            key = (m.group(1), int(m.group(2)), m.group(3).lower())
            self.entries[key] = m.group(4)

    def reason(self, script, line, server):
        return self.entries.get((script, line, server.lower()))

    def for_script(self, script, server):
        return {k[1]: v for k, v in self.entries.items()
                if k[0] == script and k[2] == server.lower()}

    def check(self, scripts):
        """Problems with the file: entries naming no script or a line
        that is not an expectation."""
        by = {s.name: s for s in scripts}
        out = []
        for (name, line, server), _ in self.entries.items():
            s = by.get(name)
            if s is None:
                out.append("%s:%d: no such script" % (name, line))
            elif line not in s.expect_lines:
                out.append("%s:%d: not an expectation line" % (name, line))
        return out


def classify(outcome, script, server, diffs):
    """pass, fail, skip, known (a listed difference), or stale (passes
    although a difference is listed)."""
    listed = diffs.for_script(script.name, server)
    if outcome.status == "fail" and outcome.lineno in listed:
        return "known", listed[outcome.lineno]
    if outcome.status == "pass" and listed:
        return "stale", "; ".join(listed.values())
    return outcome.status, outcome.message


def all_scripts(pattern=None):
    out = []
    for p in sorted(SCRIPTS.glob("*.imap")):
        if pattern and not re.search(pattern, p.stem):
            continue
        out.append(Script(p))
    return out


def capabilities(target):
    """The capabilities the server advertises after LOGIN."""
    c = Conn(target.host, target.port, target.ctx, lambda *a: None)
    try:
        deadline = time.monotonic() + READ_TIMEOUT
        c.read_raw(deadline)
        c.send("c1 LOGIN %s %s\r\nc2 CAPABILITY\r\nc3 LOGOUT\r\n" % (
            quote(target.user), quote(target.password)))
        caps = set()
        for _ in range(100):
            r = c.read_raw(deadline)
            text = r.parts[0]
            if text.upper().startswith("* CAPABILITY "):
                caps.update(w.upper() for w in text.split()[2:])
            if text.startswith("c1 ") and " OK" not in text[:6]:
                raise ScriptError("cannot log in: " + text)
            if text.startswith("c3 "):
                break
        return caps
    finally:
        c.close()


def quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
