#!/usr/bin/python3
"""mkcorpus: write the seed corpora of the fuzz targets from real input.

  tests/fuzz/mkcorpus.py [--imapd PATH] [--out DIR] [--dovecot]

Each target gets a directory DIR/<target> (default tests/fuzz/corpus) of
inputs named by their SHA-1, in the target's input format (see the top of
each tests/fuzz/fuzz-<target>.c).  The inputs come from:

  - the client lines of the conformance scripts (tests/conformance): the
    commands of every session for the IMAP parser, their SEARCH programs,
    sequence sets, mailbox names and dates;
  - messages: the unit test fixtures (tests/common/fixtures) and a
    Maildir made by tests/lib/mkmaildir.py, with its file names, Date:
    headers and dovecot-keywords files;
  - caches imapd itself writes: a session of imapd --stdio (PATH, the
    plain build by default) over that Maildir selects, fetches, stores,
    expunges and appends; the UID cache and structure cache files it
    leaves, at several points, as they are and in the targets'
    structured form;
  - dovecot-uidlist files written by Dovecot's own imap binary when it
    is installed and this runs as root (--dovecot), else in its format
    from the same Maildir; courierimapuiddb in Courier's format;
  - the example configuration, userdb lines with hashes made by
    tools/imapd-userdb, front/back messages as authmsg.c writes them,
    text in the charsets mail uses, server responses as imapcheck and
    imapwait read them, threads of messages whose headers
    point at each other in every way THREAD meets, and requests to the
    key process as
    a TLS handshake makes them (keymsg.h), with the choices of
    fuzz-keymsg.c in front.

The caches carry random generation numbers and UIDVALIDITYs taken from
the clock, so running this again changes those inputs; everything else
comes out the same.
"""

import argparse
import base64
import hashlib
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lib"))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import imapscript  # noqa: E402
import mkmaildir  # noqa: E402

SEP = b"\x1e\x1e\x1e\x1e"
TARGETS = ["authmsg", "authreq", "charset", "config", "filename", "imap-parser",
           "imapdate", "imapresp", "import", "keymsg", "keywords",
           "maildirsize", "message", "msgcache",
           "mutf7", "proxyhdr", "search", "seqset", "thread", "uidcache", "userdb"]
MESSAGE_MAX = 24 * 1024


class Corpus:
    def __init__(self, out):
        self.out = pathlib.Path(out)
        self.count = {t: 0 for t in TARGETS}

    def clear(self):
        for t in TARGETS:
            d = self.out / t
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        p = self.out / target / hashlib.sha1(data).hexdigest()
        if not p.exists():
            p.write_bytes(data)
            self.count[target] += 1


# ---- the conformance scripts ---------------------------------------------

def expand(text, texts):
    """A script's client line as it goes on the wire."""
    text = re.sub(r"\$\{rep:(\d+):([^}]*)\}",
                  lambda m: m.group(2) * int(m.group(1)), text)
    plain = base64.b64encode(b"\0user\0secret").decode()
    text = text.replace("${USER}", "user").replace("${PASS}", "secret")
    text = text.replace("${PLAIN}", plain)
    text = re.sub(r"\$\{[^}]*\}", "1", text)
    out = b""
    pos = 0
    for m in imapscript.LITERAL.finditer(text):
        out += text[pos:m.start()].encode()
        flags, quoted, name = m.group(1), m.group(2), m.group(3)
        if name is not None:
            data = texts.get(name, name).encode()
        else:
            data = re.sub(r"\\x([0-9a-fA-F]{2})|\\(.)",
                          lambda e: chr(int(e.group(1), 16)) if e.group(1)
                          else {"r": "\r", "n": "\n", "t": "\t"}.get(
                              e.group(2), e.group(2)),
                          quoted).encode("latin-1")
        out += b"%s{%d%s}\r\n" % (b"~" if "~" in flags else b"",
                                   len(data), b"+" if "+" in flags else b"")
        out += data
        pos = m.end()
    return out + text[pos:].encode()


def script_lines():
    """(script name, connection, wire bytes) of every client line."""
    for path in sorted((ROOT / "tests" / "conformance" / "scripts").glob(
            "*.imap")):
        s = imapscript.Script(path)
        for step in s.steps:
            for st in [step] + list(step.children):
                if st.kind == "send":
                    yield s, st.conn, expand(st.text, s.texts)


def from_scripts(c):
    sessions = {}
    for s, conn, line in script_lines():
        sessions.setdefault((s.name, conn), []).append(line + b"\r\n")
        words = line.split(b" ")
        upper = [w.upper() for w in words]
        # SEARCH programs, without UID and ESEARCH's RETURN (...)
        for i, w in enumerate(upper[:3]):
            if w == b"SEARCH":
                prog = b" ".join(words[i + 1:])
                prog = re.sub(rb"^RETURN \([^)]*\) ?", b"", prog, flags=re.I)
                if prog:
                    c.add("search", prog)
                break
        # sequence sets: the first argument of these commands
        for i, w in enumerate(upper[:3]):
            if w in (b"FETCH", b"STORE", b"COPY", b"MOVE", b"EXPUNGE") \
                    and i + 1 < len(words):
                seq = words[i + 1]
                if re.fullmatch(rb"[0-9*:,$]+", seq):
                    for star in (0, 7, 4294967295):
                        c.add("seqset", struct.pack("<I", star) + seq)
        for m in re.finditer(rb"\b(\d+:[\d*]+(?:,[\d*:]+)*|\*:\d+)\b", line):
            c.add("seqset", struct.pack("<I", 20) + m.group(1))
        for m in re.finditer(rb'"(\s?\d{1,2}-[A-Za-z]{3}-\d{4}'
                             rb'(?: \d\d:\d\d:\d\d [+-]\d{4})?)"', line):
            c.add("imapdate", m.group(1))
        for m in re.finditer(rb"(?:SINCE|BEFORE|ON) (\d{1,2}-\w{3}-\d{4})",
                             line, re.I):
            c.add("imapdate", m.group(1))
        # mailbox names
        if len(upper) > 2 and upper[1] in (b"CREATE", b"SELECT", b"EXAMINE",
                                           b"DELETE", b"RENAME",
                                           b"SUBSCRIBE", b"STATUS"):
            name = words[2].strip(b'"')
            c.add("mutf7", name)
    for (name, conn), lines in sessions.items():
        data = b"".join(lines)
        h = hashlib.sha1(name.encode()).digest()
        # the two bytes of seed pick limits and decisions
        for k in range(4):
            c.add("imap-parser", bytes([k, h[k]]) + data)
    for path in sorted((ROOT / "tests" / "conformance" / "scripts").glob(
            "*.imap")):
        s = imapscript.Script(path)
        for folder in s.folders:
            c.add("mutf7", folder)
            c.add("mutf7", imapscript.mutf7(folder))


# ---- messages and Maildirs ----------------------------------------------

def messages(c, maildir):
    msgs = []
    for p in sorted((ROOT / "tests" / "common" / "fixtures").glob("*.eml")):
        msgs.append(p.read_bytes())
    for root, dirs, names in sorted(os.walk(maildir)):
        dirs.sort()
        if os.path.basename(root) not in ("cur", "new"):
            continue
        for n in sorted(names):
            c.add("filename", n)
            data = pathlib.Path(root, n).read_bytes()
            if len(data) <= MESSAGE_MAX:
                msgs.append(data)
    for i, m in enumerate(msgs):
        c.add("message", bytes([0]) + m)
        if i % 4 == 0:
            c.add("message", bytes([1]) + m)     # a long header first
        if i % 4 == 1:
            c.add("message", bytes([2]) + m)     # IMAP4rev2
        for d in re.findall(rb"^Date:[ \t]*(.*(?:\n[ \t].*)*)", m, re.M):
            c.add("imapdate", d.rstrip(b"\r"))
    for odd in ["a:b:2,S", "x;2,RT", ":2,S", "plain", "n:1,xyz",
                "1700000000.M1P2Q3.host,S=12,W=13:2,DFPRSTabcz",
                "msg:2,FSZXYab", "a,S=999999999999999999999:2,"]:
        c.add("filename", odd)
    for p in sorted(pathlib.Path(maildir).rglob("dovecot-keywords")):
        c.add("keywords", p.read_bytes())
    c.add("keywords", b"0 $Forwarded\n1 $Junk\n" + SEP + b"Work\n$label1")
    c.add("keywords", b"".join(b"%d kw%d\n" % (i, i) for i in range(26)) +
          SEP + b"one-more")


# ---- caches imapd writes ------------------------------------------------

def cdb_records(data):
    """The records of a cdb file, in order."""
    end = min(struct.unpack_from("<I", data, 8 * i)[0] for i in range(256))
    pos, out = 2048, []
    while pos + 8 <= end:
        klen, vlen = struct.unpack_from("<II", data, pos)
        key = data[pos + 8:pos + 8 + klen]
        out.append((key, data[pos + 8 + klen:pos + 8 + klen + vlen]))
        pos += 8 + klen + vlen
    return out


def uidcache_inputs(c, folder):
    d = pathlib.Path(folder)
    cdb = (d / "imapd-uidcache.cdb").read_bytes()
    log = (d / "imapd-uidcache.log").read_bytes() \
        if (d / "imapd-uidcache.log").exists() else b""
    c.add("uidcache", bytes([1]) + cdb + SEP + log)
    recs = dict(cdb_records(cdb))
    parts = [recs.get(k, b"") for k in (b"H", b"T", b"S", b"X", b"I")]
    if len(log) >= 32:
        parts.append(log[:32])
        pos = 32
        while pos + 12 <= len(log):
            blen = struct.unpack_from("<I", log, pos + 4)[0]
            parts.append(log[pos + 12:pos + 12 + blen])
            pos += 12 + blen
    c.add("uidcache", bytes([0]) + SEP.join(parts))


def msgcache_inputs(c, folder):
    d = pathlib.Path(folder)
    cdb = (d / "imapd-msgcache.cdb").read_bytes() \
        if (d / "imapd-msgcache.cdb").exists() else b""
    log = (d / "imapd-msgcache.log").read_bytes() \
        if (d / "imapd-msgcache.log").exists() else b""
    if not cdb and not log:
        return
    uidv = 0
    parts = [b"IMSC" + struct.pack("<II", 3, 0)]
    if cdb:
        for key, val in cdb_records(cdb):
            if key == b"H":
                parts[0] = val
                uidv = struct.unpack_from("<I", val, 8)[0]
            else:
                parts.append(key + b"\0" + val)
    pos = 0
    while pos + 20 <= len(log):
        plen = struct.unpack_from("<I", log, pos + 4)[0]
        uid, uidv = struct.unpack_from("<II", log, pos + 12)
        parts[0] = b"IMSC" + struct.pack("<II", 3, uidv)
        parts.append(struct.pack("<I", uid) + b"\1" +
                     log[pos + 20:pos + 12 + plen])
        pos += 12 + plen
    c.add("msgcache", bytes([0]) + SEP.join(parts))
    c.add("msgcache", bytes([1]) + cdb + SEP + log + SEP +
          struct.pack("<I", uidv))


def imapd_session(c, imapd, maildir, work):
    conf = pathlib.Path(work) / "imapd.conf"
    conf.write_text("mail_location = %s\n" % maildir)
    append = (b"From: fuzz@example.org\r\nSubject: appended\r\n\r\n"
              b"Hello.\r\n")
    script = [
        b"a SELECT INBOX",
        b"b FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE)",
        b"c STORE 1:4 +FLAGS (\\Flagged $Forwarded)",
        b"d STORE 5 +FLAGS (NewKeyword \\Deleted)",
        b"e EXPUNGE",
        b"f APPEND INBOX (\\Seen) {%d}\r\n%s" % (len(append), append),
        b"g UID FETCH 1:* (BODY.PEEK[HEADER] BODY)",
        b"h CREATE \"Entw&APw-rfe/2026\"",
        b"i SEARCH OR FROM example SUBJECT lunch",
        b"j LOGOUT",
    ]
    stages = [2, 5, 7, len(script)]
    done = 0
    session = b""
    for k, upto in enumerate(stages):
        lines = [b"s SELECT INBOX"] if done else []
        lines += script[done:upto]
        if script[upto - 1] != b"j LOGOUT":
            lines.append(b"z LOGOUT")
        data = b"".join(x + b"\r\n" for x in lines)
        session += data
        subprocess.run([str(imapd), "--stdio", "-c", str(conf)],
                       input=data, capture_output=True, timeout=120,
                       check=True)
        done = upto
        uidcache_inputs(c, maildir)
        msgcache_inputs(c, maildir)
    c.add("imap-parser", b"\x01\x00" + session)
    for p in sorted(pathlib.Path(maildir).rglob("dovecot-keywords")):
        c.add("keywords", p.read_bytes())


# ---- imports ------------------------------------------------------------

def dovecot_uidlist(c, work, use_dovecot):
    d = pathlib.Path(work) / "dovecot"
    mkmaildir.make(str(d / "Maildir"), count=12, seed=3, flags=True,
                   keywords=True)
    names = sorted(os.listdir(d / "Maildir" / "cur"))
    lines = ["3 V1500000000 N%d G0123456789abcdef0123456789abcdef" %
             (len(names) + 3)]
    for i, n in enumerate(names):
        base = n.split(":2,")[0]
        w = re.search(r",W=(\d+)", base)
        lines.append("%d W%s :%s" % (i + 1, w.group(1) if w else "0", base)
                     if i % 2 else "%d :%s" % (i + 1, base))
    c.add("import", b"\0" + ("\n".join(lines) + "\n").encode())
    c.add("import", b"\0" + ("1 1500000001 %d\n" % (len(names) + 1) +
          "".join("%d %s\n" % (i + 1, n.split(":2,")[0])
                  for i, n in enumerate(names))).encode())
    c.add("import", b"\1" + ("1 1500000002 %d\n" % (len(names) + 1) +
          "".join("%d %s\n" % (i + 1, n.split(":2,")[0])
                  for i, n in enumerate(names))).encode())
    c.add("import", b"\1" + ("3 1500000003 40\r\n" +
          "".join("%s %d\r\n" % (n.split(":2,")[0], i * 3 + 1)
                  for i, n in enumerate(names))).encode())
    if not use_dovecot or os.geteuid() != 0 or \
            not os.access("/usr/lib/dovecot/imap", os.X_OK):
        return
    # Dovecot's own imap, pre-authenticated, writes the real thing (as
    # nobody, who must reach the Maildir)
    os.chmod(work, 0o755)
    (d / "run").mkdir()
    conf = d / "dovecot.conf"
    conf.write_text(
        "mail_location = maildir:%s/Maildir\nmail_uid = 65534\n"
        "mail_gid = 65534\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n"
        "base_dir = %s/run\nstate_dir = %s/run\nlog_path = %s/log\n"
        "ssl = no\n" % (d, d, d, d))
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            os.chown(os.path.join(root, n), 65534, 65534)
    os.chown(d, 65534, 65534)
    subprocess.run(["/usr/lib/dovecot/imap", "-c", str(conf)],
                   input=b"a SELECT INBOX\r\nb STORE 1:3 +FLAGS (\\Seen)\r\n"
                   b"c EXPUNGE\r\nd LOGOUT\r\n", capture_output=True,
                   timeout=60, env={"USER": "nobody", "HOME": str(d)})
    ul = d / "Maildir" / "dovecot-uidlist"
    if ul.exists():
        c.add("import", b"\0" + ul.read_bytes())


# ---- the rest -------------------------------------------------------------

def maildirsize_seeds(c):
    """maildirsize files as maildrop, Courier and imapd write them."""
    c.add("maildirsize", "10000000S,1000C\n%12d %12d\n%12d %12d\n"
          % (123456, 12, 2345, 1))
    c.add("maildirsize", "5000S\n%12d %12d\n%12d %12d\n"
          % (4000, 3, -1000, -1))
    c.add("maildirsize", "1000C\n  1 1\n junk\n-5 -1\n40 1")
    c.add("maildirsize", "100000S\n" + "%12d %12d\n" % (10, 1) * 200)


def small_ones(c, work):
    c.add("config", (ROOT / "tools" / "imapd.conf.example").read_bytes())
    c.add("config", b"listen_imap = 127.0.0.1:1143, [::1]:1143\n"
          b"listen_imaps = none\nauth = userdb,pam\nmmap = no\n"
          b"special_use = Sent:\\Sent Sent Items:\\Sent\n"
          b"timeout_session = 31m # a comment\nprefork = 0\n")
    c.add("config", b"listen_imap = *:143\nlisten_imap = *:144\n"
          b"bogus = 1\nauth = kerberos\n")
    tool = ROOT / "tools" / "imapd-userdb"
    lines = []
    for method in ("sha512", "yescrypt"):
        if os.access(tool, os.X_OK):
            h = subprocess.run([str(tool), "-p", "-m", method],
                               input=b"secret\n", capture_output=True,
                               timeout=60).stdout.decode().strip()
        else:
            h = "$6$rounds=5000$salt$" + "x" * 86
        lines.append("alice:%s:5000:5000:/srv/mail/alice" % h)
        lines.append("bob.smith@example.org:%s:5001:5000:/home/bob:"
                     "~/Maildir" % h)
    lines.append("locked:!:5002:5000:/srv/mail/locked:/srv/mail/x/Maildir")
    lines.append("# a comment")
    lines.append("root:*:0:0:/root")
    c.add("userdb", "\n".join(lines) + "\n")
    c.add("userdb", "carol:$y$j9T$salt$hash:1:1:/home/carol\n".encode() +
          SEP + b"not a cdb file" + b"\0" * 2048)

    def authmsg(typ, fields):
        p = b"".join(struct.pack("=I", len(f)) + f for f in fields)
        return struct.pack("=II", typ, len(p)) + p
    c.add("authmsg", authmsg(1, [b"a1", b"LOGIN", b"alice", b"secret",
                                 b"tls", b"", b"", b"", b""]))
    c.add("authmsg", authmsg(1, [b"a2", b"LOGIN", b"alice", b"secret",
                                 b"plain", b"", b"192.0.2.7", b"50123",
                                 b"c2Vzc2lvbg"]))
    c.add("authmsg", authmsg(1, [b"x", b"PLAIN", b"bob@example.org",
                                 b"p" * 200, b"plain", b"", b"", b"",
                                 b""]) +
          b"x NOOP\r\n")
    for v in (b"ok", b"fail", b"tempfail", b"limit", b"disabled",
              b"network", b"privacy", b"apponly", b"hours"):
        c.add("authmsg", authmsg(2, [v]))

    texts = [("iso-8859-1", "Grüße aus Köln – 10 €".encode("cp1252")),
             ("koi8-r", "Привет, мир".encode("koi8-r")),
             ("iso-2022-jp", "こんにちは、世界".encode("iso-2022-jp")),
             ("shift_jis", "日本語のテキスト".encode("shift_jis")),
             ("euc-kr", "안녕하세요".encode("euc-kr")),
             ("gb2312", "你好，世界".encode("gb2312")),
             ("big5", "繁體中文".encode("big5")),
             ("utf-16", "Grüße".encode("utf-16")),
             ("utf-7", "Hi Mom -☺-!".encode("utf-7")),
             ("utf-8", "Ärger \xe2\x82".encode("utf-8", "surrogateescape")),
             ("windows-1251", "Здравствуйте".encode("cp1251"))]
    for name, t in texts:
        c.add("charset", name.encode() + SEP + t)
    c.add("charset", b"\x05caf\xe9 cr\xe8me")


def imapresp_seeds(c):
    """Server responses of every form, as imapconn_read() gives them:
    without the final CRLF, literals as sent."""
    for r in [
            b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS IDLE "
            b"AUTH=PLAIN] imapd ready",
            b"* PREAUTH [CAPABILITY IMAP4rev2] logged in",
            b"* BYE [UNAVAILABLE] shutting down (really) \"",
            b"a1 OK [CAPABILITY IMAP4rev1 ENABLE] LOGIN completed",
            b"a2 NO [AUTHENTICATIONFAILED] Invalid credentials",
            b"a3 BAD [PARSE] Unknown command",
            b"+ idling", b"+", b"+ YWJj",
            b"* 12 EXISTS", b"* 0 RECENT", b"* 3 EXPUNGE",
            b"* OK [UIDVALIDITY 1765090000] UIDs valid",
            b"* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] Limited",
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
            b"\\Draft $Forwarded)",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 2290 "
            b"INTERNALDATE \"07-Dec-2026 08:00:00 +0000\")",
            b"* 2 FETCH (UID 8 BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"
            b"Subject: hello\r\n\r\n)",
            b"* 3 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" "
            b"\"utf-8\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) ENVELOPE "
            b"(NIL \"hi\" ((NIL NIL \"a\" \"x\")) NIL NIL NIL NIL NIL NIL "
            b"\"<m@x>\"))",
            b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"",
            b"* LIST () \".\" {4}\r\nA\"B\\",
            b"* STATUS INBOX (MESSAGES 3 UIDNEXT 9 UNSEEN 1)",
            b"* ESEARCH (TAG \"a5\") UID ALL 1:3,7 COUNT 4",
            b"* SEARCH 1 2 3", b"* SEARCH",
            b"* NAMESPACE ((\"\" \"/\")) NIL NIL",
            b"* ENABLED IMAP4rev2", b"* ID (\"name\" \"imapd\")",
            b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR",
            b"* 4 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02)"]:
        c.add("imapresp", r)


def thread_seeds(c):
    """Sets of message headers for THREAD: a real thread, replies whose
    parents are missing, IDs claimed twice, references that go round in
    a circle or point at the message itself, subjects with reply and
    forward marks and list tags, headers that are damaged."""
    def msg(mid, subject, refs=None, irt=None, date="Mon, 7 Dec 2026 "
            "08:00:00 +0000", frm="Alice <alice@example.org>"):
        fields = (("From", frm), ("Date", date), ("Subject", subject),
                  ("Message-ID", mid), ("References", refs),
                  ("In-Reply-To", irt))
        return ("".join("%s: %s\r\n" % f for f in fields
                        if f[1] is not None) + "\r\nbody\r\n").encode()
    sets = [
        [msg("<a@x>", "plan"), msg("<b@x>", "Re: plan", "<a@x>", "<a@x>"),
         msg("<c@x>", "RE: Re: plan", "<a@x> <b@x>", "<b@x>"),
         msg("<d@x>", "Fwd: plan", None, None),
         msg("<e@x>", "[list] Re: plan (fwd)", "<a@x>\r\n <c@x>")],
        [msg("<r1@x>", "Re: gone", "<gone@x>"),
         msg("<r2@x>", "Re: gone", "<gone@x> <r1@x>"),
         msg(None, "no id at all"), msg("<r3@x>", "Re: gone", "<r9@x>")],
        [msg("<dup@x>", "first"), msg("<dup@x>", "second"),
         msg("<k@x>", "child", "<dup@x>")],
        [msg("<p@x>", "loop", "<q@x>"), msg("<q@x>", "loop", "<p@x>"),
         msg("<s@x>", "self", "<s@x>", "<s@x>"),
         msg("<t@x>", "tri", "<u@x> <v@x>"), msg("<u@x>", "tri", "<v@x>"),
         msg("<v@x>", "tri", "<t@x>")],
        [msg("<\"q.p\"@x>", "Re: [tag] Fw: subj", "<q.p@x> (comment)"),
         msg("<w@x>", "=?utf-8?q?R=C3=A9sum=C3=A9?= Re:",
             "bad <unclosed@x", "<<<@>>>"),
         msg("<z@x>", "", None, None, date="not a date")],
    ]
    for msgs in sets:
        c.add("thread", SEP.join(msgs))
    c.add("thread", msg("<only@x>", "Re: Re: Re:"))


def keymsg_seeds(c):
    """Requests to the key process: digests to sign with each key, raw
    blocks of the modulus's length, and PSS encodings fuzz-keymsg builds
    from a hash and a salt (one with a byte changed)."""
    def packet(typ, hsh, data):
        return struct.pack(">BBH", typ, hsh, len(data)) + data
    for key in range(3):
        sel = bytes([key << 1])
        for hsh, n in ((1, 32), (2, 48), (3, 64)):
            d = hashlib.sha512(b"handshake %d" % n).digest()[:n]
            c.add("keymsg", sel + packet(1, hsh, d))
            c.add("keymsg", sel + packet(3, hsh, d))
        c.add("keymsg", sel + packet(2, 0, b"\x00" * 256))
        c.add("keymsg", sel + packet(2, 0, b"\x00" + b"\x5a" * 256))
        c.add("keymsg", sel + packet(4, 0, b"\x01" * 64))
        c.add("keymsg", sel + packet(5, 0, b""))
    for key in (0, 1):
        for hsh in range(3):
            hs = hashlib.sha512(b"pss %d %d" % (key, hsh)).digest() * 2
            c.add("keymsg", bytes([key << 1 | 1, hsh, 0, 0, 0]) + hs)
            c.add("keymsg", bytes([key << 1 | 1, hsh, 0, 200, 0x40]) + hs)


def proxyhdr_seeds(c):
    """PROXY headers as HAProxy and nginx send them, versions 1 and 2,
    with and without the client's first bytes after them."""
    sig = b"\r\n\r\n\x00\r\nQUIT\n"

    def v2(cmd, fam, addrs, tlvs=b""):
        return sig + bytes([cmd, fam]) + struct.pack(
            ">H", len(addrs) + len(tlvs)) + addrs + tlvs
    v4 = bytes([192, 0, 2, 7, 127, 0, 0, 1]) + struct.pack(">HH", 50123, 143)
    v6 = (b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x07" +
          b"\x00" * 15 + b"\x01" + struct.pack(">HH", 50123, 993))
    for h in (b"PROXY TCP4 192.0.2.7 127.0.0.1 50123 143\r\n",
              b"PROXY TCP6 2001:db8::7 ::1 50123 993\r\n",
              b"PROXY UNKNOWN\r\n",
              b"PROXY UNKNOWN ffff:f...f:ffff 65535 65535\r\n",
              v2(0x21, 0x11, v4), v2(0x21, 0x21, v6), v2(0x20, 0x00, b""),
              v2(0x21, 0x11, v4, b"\x04\x00\x04\x11\x22\x33\x44"),
              v2(0x21, 0x31, b"/run/a".ljust(108, b"\0") * 2)):
        c.add("proxyhdr", h)
        c.add("proxyhdr", h + b"a1 CAPABILITY\r\n")
    c.add("proxyhdr", b"PROXY TCP4 192.0.2.7 127.0.0.1 50123\r\n")
    c.add("proxyhdr", b"a1 LOGIN user pass\r\n")


def authreq_seeds(c):
    """Requests as nginx's mail proxy sends them to its auth_http
    service, a first login and a retry, and a few that are refused."""
    def req(user, attempt=1, proto="imap", extra=""):
        return ("GET /auth HTTP/1.0\r\nHost: localhost\r\n"
                "Auth-Method: plain\r\n"
                f"Auth-User: {user}\r\nAuth-Pass: s%25cret\r\n"
                f"Auth-Protocol: {proto}\r\n"
                f"Auth-Login-Attempt: {attempt}\r\n"
                "Client-IP: 192.0.2.7\r\n"
                f"Client-Host: [UNAVAILABLE]\r\n{extra}\r\n").encode()
    c.add("authreq", req("bob"))
    c.add("authreq", req("Bob%40example.org", attempt=3))
    c.add("authreq", req("bob", proto="pop3"))
    c.add("authreq", req("bob", extra="X-Auth-Key: k\r\n"))
    c.add("authreq", req("bob").replace(b"192.0.2.7", b"2001:db8::7"))
    c.add("authreq", b"GET /auth HTTP/1.0\r\nAuth-User: a\r\n\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imapd", default=str(ROOT / "imapd" / "imapd"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "fuzz" / "corpus"))
    ap.add_argument("--dovecot", action="store_true",
                    help="run Dovecot's imap for a real dovecot-uidlist")
    a = ap.parse_args()
    c = Corpus(a.out)
    c.clear()
    work = tempfile.mkdtemp(prefix="mkcorpus-")
    try:
        maildir = os.path.join(work, "Maildir")
        mkmaildir.make(maildir, count=40, seed=11, folders=3, new=10,
                       flags=True, keywords=True, broken=10,
                       sizes="60:1K-4K,40:4K-16K")
        messages(c, maildir)
        from_scripts(c)
        imapd_session(c, a.imapd, maildir, work)
        dovecot_uidlist(c, work, a.dovecot)
        small_ones(c, work)
        maildirsize_seeds(c)
        imapresp_seeds(c)
        thread_seeds(c)
        keymsg_seeds(c)
        proxyhdr_seeds(c)
        authreq_seeds(c)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for t in TARGETS:
        print("%-12s %d inputs" % (t, c.count[t]))


if __name__ == "__main__":
    main()
