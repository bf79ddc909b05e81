#!/usr/bin/python3
"""make bench: imapd side by side with Dovecot on the same Maildir.

Dovecot runs twice: in Debian's default login mode (a fresh imap-login
process per connection) and in its high-performance login mode
(service_count = 0: long-lived imap-login processes, one per core, that
serve many connections each), the configuration a site that cares about
memory and login speed runs; the targets are against the latter.  All
servers run privately on free loopback ports, with the same
self-signed certificate, the same SHA256-CRYPT password hash and the same
mail uid, each on its own hard-linked copy of one generated Maildir
(`cp -al`: the message files are shared inodes, and since an IMAP server
never writes into a message file -- a flag change is a rename, which
changes only the directory entry -- neither server sees the other's
changes).  One client program drives both, a fresh Python process for
every workload run, over TLS; only the workload itself is timed
(connecting, TLS and LOGIN are not, except in the login workloads).

    make bench                                  the full run (root)
    make bench BENCH_ARGS=--quick               a smoke run in about a minute
    make bench BENCH_ARGS="--sizes 1000,10000,100000"   cost growth
    make bench BENCH_ARGS="--only login,memory"
    make bench BENCH_ARGS="--sizes 10000,100000,1000000 --servers imapd \
        --only index_build,index_size,search_indexed,search_rare_indexed"

Each server is run in turn, --runs times (at least twice), and every
figure is the best of its runs (on a shared machine noise only adds),
printed with its spread; the
table compares imapd with Dovecot against the targets in WORKLOADS and
bench/results.json keeps the raw timings.  A workload whose command imapd
does not implement yet is reported as "n/a (imapd: BAD ...)".  Every
answer is checked (EXISTS, FETCH and EXPUNGE counts, search hits) and
compared between the servers, since a fast wrong answer is no win, and
the client's own CPU share of each timing is shown.

The Dovecot instance keeps Dovecot's built-in defaults (nothing of
/etc/dovecot is read, so no plugins: no fts, no quota, no zlib, no
old_stats), except for the process and per-user connection limits, raised
so that the memory workload can hold its sessions.  The system Dovecot
service that the Debian package installs is stopped and disabled: the
bench neither uses it nor wants it holding ports 143/993.

The page cache is warm for both servers (the source Maildir is read once
before the mailbox workloads); "cold" means without the server's own
index or cache, which the fresh copy made before every run guarantees.

The test data comes from tests/lib/mkmaildir.py (BENCH_MKMAILDIR=FILE
names another maker with the same command line) and is kept under
bench/work/data/, keyed by size, seed and the maker's contents.  One
bench at a time may use a work directory.

As a client (`bench.py --client SPEC`) the same file runs one workload
against one server and prints one JSON line; that is how the orchestrator
uses it, never by hand.
"""

import argparse
import datetime
import fcntl
import grp
import hashlib
import json
import os
import pathlib
import pwd
import re
import resource
import secrets
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

import firstselect  # noqa: E402  (the first SELECT's kernel floor)
import ftsfile  # noqa: E402  (the full-text index's files)
import imapdtest  # noqa: E402  (the test suite's ports and certificates)

IMAPD = ROOT / "imapd" / "imapd"
USERDB_TOOL = ROOT / "tools" / "imapd-userdb"
MKMAILDIR = ROOT / "tests" / "lib" / "mkmaildir.py"
DOVECOT = pathlib.Path("/usr/sbin/dovecot")
DOVECONF = pathlib.Path("/usr/bin/doveconf")
RESULTS = ROOT / "bench" / "results.json"

MAIL_USER = "imapdbench"        # the Unix account owning both copies
BIG_LOGIN = "bench"             # logs in to the big INBOX
SMALL_LOGIN = "idler"           # logs in to a 100-message INBOX
SMALL_COUNT = 100               # messages in the small INBOX
APPEND_FOLDER = "BenchAppend"
MOVE_FOLDER = "BenchMove"

CMD_TIMEOUT = 1800              # seconds any one IMAP command may take
CLIENT_TIMEOUT = 3600           # seconds any one client process may take


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """Something the user must fix; the message says what."""


# --- workloads -------------------------------------------------------------

class Workload:
    def __init__(self, key, label, group, target, unit, scale=None):
        self.key = key
        self.label = label
        self.group = group          # mailbox, login, memory
        self.target = target        # max ratio imapd/Dovecot; None: info
        self.unit = unit            # s, login, kib
        self.scale = scale          # per-message cost: "n", "ops", "peek"


# Each workload with its target: the highest imapd/Dovecot ratio it
# should show (None: no target).  The logins run first, then the memory
# workloads, then the mailbox ones in this order: each runs on the state
# the ones before it left, on a fresh copy of the Maildir made at the
# start of each run (so the first SELECT and the first ENVELOPE fetch find
# no index or cache, and MOVE, which changes INBOX, comes last).
WORKLOADS = [
    Workload("select_cold", "SELECT INBOX, first (no index)", "mailbox",
             0.5, "s", "n"),
    Workload("select_warm", "SELECT INBOX, unchanged, new session",
             "mailbox", 1.0, "s", "n"),
    Workload("uid_fetch_flags", "UID FETCH 1:* (UID FLAGS)", "mailbox",
             1.0, "s", "n"),
    Workload("fetch_env_cold", "FETCH 1:* (ENVELOPE BODYSTRUCTURE ...) 1st",
             "mailbox", 0.5, "s", "n"),
    Workload("fetch_env_warm", "FETCH 1:* (ENVELOPE BODYSTRUCTURE ...) 2nd",
             "mailbox", 0.5, "s", "n"),
    Workload("compress_env", "bytes on the wire: COMPRESS, then FETCH 1:* "
             "(ENVELOPE)", "mailbox", None, "bytes", "n"),
    Workload("body_peek", "FETCH 1:1000 BODY.PEEK[]", "mailbox",
             1.0, "s", "peek"),
    Workload("search_body", "SEARCH BODY <absent word>", "mailbox",
             0.25, "s", "n"),
    Workload("search_header", "SEARCH HEADER Message-ID <id>", "mailbox",
             1.0, "s", "n"),
    Workload("search_common", "SEARCH BODY <word in most messages>, "
             "not indexed", "mailbox", None, "s", "n"),
    # the full-text index: built by a session in IDLE (imapd), or by the
    # first search (Dovecot with --dovecot-fts); then searches that use it
    Workload("index_build", "full-text index: time to build", "mailbox",
             1.0, "s", "n"),
    Workload("index_size", "full-text index: size on disk", "mailbox",
             1.0, "kib", "n"),
    Workload("search_indexed", "SEARCH BODY <absent word>, indexed",
             "mailbox", None, "s", "abs"),
    Workload("search_rare_indexed", "SEARCH BODY <word in 0.5%>, indexed",
             "mailbox", None, "s", "abs"),
    Workload("search_common_indexed", "SEARCH BODY <word in most "
             "messages>, indexed", "mailbox", None, "s", "n"),
    Workload("status", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)", "mailbox",
             1.0, "s", "n"),
    Workload("sort_cold", "SORT (REVERSE DATE) UTF-8 ALL, 1st", "mailbox",
             None, "s", "n"),
    Workload("sort_warm", "SORT (REVERSE DATE) again, new session",
             "mailbox", 0.5, "s", "n"),
    Workload("thread_cold", "THREAD REFERENCES UTF-8 ALL, 1st{after}",
             "mailbox", None, "s", "n"),
    Workload("thread_warm", "THREAD REFERENCES again, new session",
             "mailbox", 0.5, "s", "n"),
    Workload("changedsince", "FETCH 1:* (FLAGS) (CHANGEDSINCE) after 10 "
             "changes", "mailbox", 1.0, "s", "n"),
    Workload("qresync", "SELECT (QRESYNC) after 100 changes, 100 expunges",
             "mailbox", 1.0, "s", "n"),
    Workload("append", "APPEND {ops} messages to a new folder", "mailbox",
             1.0, "s", "ops"),
    Workload("move", "UID MOVE {ops} messages to another folder",
             "mailbox", 1.0, "s", "ops"),
    Workload("login_seq", "logins, sequential (TLS+LOGIN+LOGOUT)", "login",
             1.0, "login"),
    Workload("login_seq_plain", "logins, sequential, plain port "
             "(LOGIN+LOGOUT)", "login", 1.0, "login"),
    Workload("login_par", "logins, {par} clients in parallel", "login",
             1.0, "login"),
    Workload("mem_login", "memory per logged-in session (no SELECT)",
             "memory", None, "kib"),
    Workload("mem_idle", "memory per IDLE session ({sessions} open)",
             "memory", 0.5, "kib"),
    Workload("mem_login_plain", "memory per logged-in session, plain port",
             "memory", None, "kib"),
    Workload("mem_idle_plain", "memory per IDLE session, plain port",
             "memory", 0.5, "kib"),
    Workload("mem_idle_big", "memory per IDLE session ({big} open)",
             "memory", 0.5, "kib"),
]
BY_KEY = {w.key: w for w in WORKLOADS}

FETCH_ENV = "(ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE)"

# the full-text workloads that only a server with an index can run
INDEX_ONLY = ("index_build", "index_size")
INDEX_SETTLE = 300       # seconds an index may take to merge its journal


# --- the client: runs in its own process ----------------------------------

class Reader:
    """Splits the server's byte stream into responses.  A response whose
    line ends in a literal {n} continues after the n bytes; the literal
    bytes are skipped (and counted), and only the first line of each
    response is kept, which is all the workloads look at."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.lit = 0
        self.head = None
        self.literal_bytes = 0

    def feed(self, data):
        self.buf += data

    def pop(self, out):
        buf, pos = self.buf, self.pos
        while True:
            if self.lit:
                take = min(self.lit, len(buf) - pos)
                pos += take
                self.lit -= take
                if self.lit:
                    break
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            line = bytes(buf[pos:eol])
            pos = eol + 2
            if line.endswith(b"}"):
                lb = line.rfind(b"{")
                num = line[lb + 1:-1]
                if lb >= 0 and num.isdigit():
                    self.lit = int(num)
                    self.literal_bytes += self.lit
                    if self.head is None:
                        self.head = line
                    continue
            if self.head is not None:
                line, self.head = self.head, None
            out.append(line)
        if pos == len(buf) or pos > (1 << 20):
            del buf[:pos]
            pos = 0
        self.pos = pos


class ImapError(Exception):
    pass


class Conn:
    """One IMAP connection to 127.0.0.1, over TLS unless ctx is None."""

    def __init__(self, port, ctx, timeout=60):
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        if ctx is None:
            self.sock = raw
        else:
            try:
                self.sock = ctx.wrap_socket(raw,
                                            server_hostname="localhost")
            except BaseException:
                raw.close()
                raise
        self.rd = Reader()
        self.ntag = 0
        self.co = self.do = None
        self.wire_in = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self):
        data = self.sock.recv(1 << 18)
        if not data:
            raise ImapError("server closed the connection")
        self.wire_in += len(data)
        if self.do is not None:
            data = self.do.decompress(data)
        self.rd.feed(data)

    def compress(self):
        """COMPRESS DEFLATE (RFC 4978): both directions deflated from the
        end of the tagged OK on."""
        self.must("COMPRESS DEFLATE")
        self.co = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.do = zlib.decompressobj(-15)
        # anything after the OK was already compressed
        rest = bytes(self.rd.buf[self.rd.pos:])
        del self.rd.buf[self.rd.pos:]
        self.rd.feed(self.do.decompress(rest))

    def greeting(self):
        out = []
        deadline = time.monotonic() + 60
        while not out:
            if time.monotonic() > deadline:
                raise ImapError("no greeting")
            self._recv()
            self.rd.pop(out)
        if not out[0].startswith(b"* OK"):
            raise ImapError("greeting: " + out[0].decode(errors="replace"))
        return out[0]

    def send(self, data):
        if self.co is not None:
            data = self.co.compress(data) + self.co.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def next_tag(self):
        self.ntag += 1
        return "c%d" % self.ntag

    def wait(self, tag, out, timeout=CMD_TIMEOUT):
        """Read until the tagged response for tag; untagged responses go
        to out.  Returns the tagged line."""
        t = tag.encode() + b" "
        deadline = time.monotonic() + timeout
        while True:
            start = len(out)
            self.rd.pop(out)
            for i in range(start, len(out)):
                if out[i].startswith(t):
                    line = out[i]
                    del out[i]
                    return line
            if time.monotonic() > deadline:
                raise ImapError("no answer to %s within %ds" % (tag, timeout))
            self._recv()

    def continuation(self, tag, what, timeout=60):
        """Wait for the server's "+" after a command that asks for one;
        its tagged answer instead (a refusal) raises."""
        t = tag.encode() + b" "
        out = []
        deadline = time.monotonic() + timeout
        while True:
            self.rd.pop(out)
            for r in out:
                if r.startswith(b"+"):
                    return
                if r.startswith(t):
                    raise ImapError("%s: %s" % (what, short(r)))
            if time.monotonic() > deadline:
                raise ImapError("%s: no continuation request" % what)
            self._recv()

    def command(self, text, out=None):
        """Send one command and wait for its answer: (status, tagged line,
        untagged responses)."""
        tag = self.next_tag()
        if out is None:
            out = []
        self.send(b"%s %s\r\n" % (tag.encode(), text.encode()))
        line = self.wait(tag, out)
        return status_of(line), line, out

    def must(self, text, what=None):
        st, line, out = self.command(text)
        if st != "OK":
            raise ImapError("%s: %s" % (what or text.split()[0],
                                        short(line)))
        return out

    def login(self, user, password):
        self.greeting()
        self.must("LOGIN %s %s" % (user, password))


def status_of(line):
    parts = line.split(b" ", 2)
    return parts[1].decode(errors="replace") if len(parts) > 1 else "?"


def short(line, n=70):
    s = line.decode(errors="replace") if isinstance(line, bytes) else line
    # drop the tag: "c3 BAD Unknown command" -> "BAD Unknown command"
    s = s.split(" ", 1)[1] if " " in s else s
    return s if len(s) <= n else s[:n - 3] + "..."


def client_ctx(cert):
    ctx = ssl.create_default_context(cafile=cert)
    return ctx


def untagged_count(out, word):
    """How many untagged responses are '* <n> word ...'."""
    w = b" " + word + b" "
    w2 = b" " + word
    return sum(1 for r in out if r.startswith(b"* ") and
               (w in r[:40] or r.endswith(w2)))


def exists_of(out):
    for r in out:
        m = re.match(rb"\* (\d+) EXISTS", r)
        if m:
            return int(m.group(1))
    return None


def search_hits(out):
    hits = []
    for r in out:
        if r.startswith(b"* SEARCH"):
            hits += r[8:].split()
        elif r.startswith(b"* ESEARCH"):
            hits.append(r)
    return hits


class Stopwatch:
    """Wall time of the workload, and the client's own CPU time over the
    same span: a client busy most of the time would hide how fast the
    server is, so the report shows it."""

    cpu = None

    def __init__(self):
        self.t0 = time.perf_counter()
        self.c0 = self._cpu()

    @staticmethod
    def _cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def stop(self):
        Stopwatch.cpu = self._cpu() - self.c0
        return time.perf_counter() - self.t0


def timed(conn, text):
    """Run one command, timed from sending it to its tagged answer."""
    sw = Stopwatch()
    st, line, out = conn.command(text)
    t = sw.stop()
    if st != "OK":
        words = text.split()
        name = " ".join(words[:2]) if words[0] == "UID" else words[0]
        raise ImapError("%s: %s" % (name, short(line)))
    return t, out


def select_inbox(conn):
    out = conn.must("SELECT INBOX")
    return exists_of(out)


def wl_mailbox(spec, conn):
    """The mailbox workloads: each returns (seconds, answer, check)."""
    step, n = spec["step"], spec["n"]
    if step in ("select_cold", "select_warm"):
        t, out = timed(conn, "SELECT INBOX")
        ex = exists_of(out)
        return t, "EXISTS %s" % ex, None if ex == n else \
            "EXISTS %s, expected %d" % (ex, n)
    if step == "status":
        t, out = timed(conn, "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
        ans = next((r for r in out if r.startswith(b"* STATUS")), b"")
        m = re.search(rb"MESSAGES (\d+)", ans)
        ans = re.sub(rb"^\* STATUS \S+ ", b"", ans).decode(errors="replace")
        return t, ans, None if m and int(m.group(1)) == n else \
            "STATUS says %s, expected MESSAGES %d" % (ans, n)
    if step == "append":
        return wl_append(spec, conn)
    ex = select_inbox(conn)
    if step == "uid_fetch_flags":
        t, out = timed(conn, "UID FETCH 1:* (UID FLAGS)")
        c = untagged_count(out, b"FETCH")
        return t, "%d FETCH" % c, None if c == ex else \
            "%d FETCH for %s messages" % (c, ex)
    if step in ("fetch_env_cold", "fetch_env_warm"):
        t, out = timed(conn, "FETCH 1:* " + FETCH_ENV)
        c = untagged_count(out, b"FETCH")
        return t, "%d FETCH" % c, None if c == ex else \
            "%d FETCH for %s messages" % (c, ex)
    if step == "compress_env":
        # bytes, not seconds: what a client on a slow link waits for
        conn.compress()
        before = conn.wire_in
        st, line, out = conn.command("FETCH 1:* (ENVELOPE)")
        if st != "OK":
            raise ImapError("FETCH: %s" % short(line))
        c = untagged_count(out, b"FETCH")
        return conn.wire_in - before, "%d FETCH" % c, None if c == ex \
            else "%d FETCH for %s messages" % (c, ex)
    if step == "body_peek":
        k = min(1000, ex or 0)
        before = conn.rd.literal_bytes
        t, out = timed(conn, "FETCH 1:%d BODY.PEEK[]" % k)
        c = untagged_count(out, b"FETCH")
        nbytes = conn.rd.literal_bytes - before
        return t, "%d FETCH, %d bytes" % (c, nbytes), None if c == k else \
            "%d FETCH for %d messages" % (c, k)
    if step == "search_body":
        t, out = timed(conn, 'SEARCH BODY "%s"' % spec["absent"])
        hits = search_hits(out)
        return t, "%d hits" % len(hits), None if not hits else \
            "%d hits for a word no message has" % len(hits)
    if step == "search_header":
        t, out = timed(conn, 'SEARCH HEADER Message-ID "%s"' % spec["msgid"])
        hits = search_hits(out)
        return t, "%d hits" % len(hits), None if len(hits) == 1 else \
            "%d hits for one Message-ID" % len(hits)
    if step in SEARCH_WORDS:
        word, want = SEARCH_WORDS[step](spec)
        t, out = timed(conn, 'SEARCH BODY "%s"' % word)
        hits = search_hits(out)
        return t, "%d hits" % len(hits), None if want(len(hits), ex) else \
            "%d hits for %r" % (len(hits), word)
    if step == "index_build":
        return wl_index_build(spec, conn, ex)
    if step == "index_size":
        kib = index_bytes(spec) / 1024
        return kib, "%.1f MiB" % (kib / 1024), None if kib > 0 else \
            "no index on disk"
    if step in ("sort_cold", "sort_warm", "thread_cold", "thread_warm"):
        return wl_sort(step, conn, ex)
    if step == "changedsince":
        return wl_changedsince(conn, ex)
    if step == "qresync":
        return wl_qresync(conn, ex)
    if step == "move":
        ops = min(spec["ops"], ex or 0)
        conn.must("CREATE " + MOVE_FOLDER)
        out = conn.must("FETCH %d (UID)" % ops)
        m = re.search(rb"UID (\d+)", b" ".join(out))
        if not m:
            raise ImapError("FETCH %d (UID): no UID in the answer" % ops)
        t, out = timed(conn, "UID MOVE 1:%s %s" % (m.group(1).decode(),
                                                   MOVE_FOLDER))
        c = untagged_count(out, b"EXPUNGE")
        for r in out:
            if r.startswith(b"* VANISHED"):
                c += count_set(r.split()[-1])
        return t, "%d expunged" % c, None if c == ops else \
            "%d expunged, expected %d" % (c, ops)
    raise ValueError(step)


SEARCH_WORDS = {
    "search_common": lambda spec: (spec["common"],
                                   lambda n, ex: n > ex // 2),
    "search_indexed": lambda spec: (spec["absent"], lambda n, ex: n == 0),
    "search_rare_indexed": lambda spec: (spec["rare"],
                                         lambda n, ex: 0 < n < ex // 20),
    "search_common_indexed": lambda spec: (spec["common"],
                                           lambda n, ex: n > ex // 2),
}


def index_bytes(spec):
    """The full-text index's size on disk: imapd's files in INBOX, or
    Dovecot's index directory (fts-xapian keeps it there)."""
    md = pathlib.Path(spec["maildir"])
    if spec["server"] == "imapd":
        ix = ftsfile.Index(md)
        return ix.snapshot_bytes + os.path.getsize(md / ftsfile.LOG) \
            if (md / ftsfile.LOG).exists() else ix.snapshot_bytes
    total = 0
    for root, _, names in os.walk(md / "xapian-indexes"):
        total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    return total


def wl_index_build(spec, conn, ex):
    """imapd: a session idles in INBOX, which it indexes meanwhile; timed
    until the index covers every message (read from its files), and the
    session then idles on until the journal is merged (the size is
    measured after).  Dovecot with fts-xapian: the first search builds
    its index."""
    if spec["server"] != "imapd":
        t, out = timed(conn, 'SEARCH BODY "%s"' % spec["absent"])
        return t, "built by the first SEARCH", None
    md = pathlib.Path(spec["maildir"])
    sw = Stopwatch()
    tag = conn.next_tag()
    conn.send(b"%s IDLE\r\n" % tag.encode())
    conn.continuation(tag, "IDLE")
    deadline = time.monotonic() + CMD_TIMEOUT
    while not ftsfile.Index(md).covers_all(range(1, ex + 1)):
        if time.monotonic() > deadline:
            raise ImapError("the index did not cover INBOX within %d s" %
                            CMD_TIMEOUT)
        time.sleep(0.05)
    t = sw.stop()
    # the session merges the journal of a long run at once
    settle = time.monotonic() + INDEX_SETTLE
    while time.monotonic() < settle:
        ix = ftsfile.Index(md)
        if ix.records == 0 or ix.journal_bytes < 1024 * 1024:
            break
        time.sleep(0.2)
    merged = time.monotonic() - (settle - INDEX_SETTLE)
    conn.send(b"DONE\r\n")
    conn.wait(tag, [])
    return t, "covered all in %.1f s, merged after %.1f s" % (t, merged), \
        None


def wl_sort(step, conn, ex):
    """SORT or THREAD over the whole INBOX.  The answer names a digest of
    the result, so that the two servers' orders are compared too."""
    sort = step.startswith("sort")
    cmd = "SORT (REVERSE DATE) UTF-8 ALL" if sort else \
        "THREAD REFERENCES UTF-8 ALL"
    word = b"* SORT" if sort else b"* THREAD"
    t, out = timed(conn, cmd)
    line = next((r for r in out if r.startswith(word)), b"")
    n = len(re.findall(rb"\d+", line))
    ans = "%d messages, %s" % (n, hashlib.sha256(line).hexdigest()[:12])
    return t, ans, None if n == ex else \
        "%d messages in the answer for %s" % (n, ex)


def code_value(out, code):
    """The number of an untagged OK's response code, such as HIGHESTMODSEQ."""
    for r in out:
        m = re.search(rb"\[" + code + rb" (\d+)\]", r)
        if m:
            return int(m.group(1))
    raise ImapError("no %s in the answer" % code.decode())


def spread(ex, k, offset=0):
    """k message numbers spread over 1..ex."""
    return sorted({1 + (offset + i * ex // k) % ex for i in range(k)})


def wl_changedsince(conn, ex):
    """CONDSTORE: flags of 10 messages change; a client that remembered
    HIGHESTMODSEQ asks what changed since (RFC 7162 3.1.4)."""
    out = conn.must("SELECT INBOX (CONDSTORE)")
    hms = code_value(out, b"HIGHESTMODSEQ")
    seqs = spread(ex, 10)
    conn.must("STORE %s +FLAGS.SILENT (\\Flagged)" %
              ",".join(map(str, seqs)))
    t, out = timed(conn, "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
    c = untagged_count(out, b"FETCH")
    return t, "%d FETCH" % c, None if c == len(seqs) else \
        "%d FETCH for %d changes" % (c, len(seqs))


def wl_qresync(conn, ex):
    """QRESYNC: 100 flag changes and 100 expunges while the client was
    away; it comes back with SELECT (QRESYNC ...) (RFC 7162 3.2.5)."""
    conn.must("UNSELECT")
    conn.must("ENABLE QRESYNC")
    out = conn.must("SELECT INBOX")
    uv = code_value(out, b"UIDVALIDITY")
    hms = code_value(out, b"HIGHESTMODSEQ")
    conn.must("STORE %s +FLAGS.SILENT (\\Answered)" %
              ",".join(map(str, spread(ex, 100, 3))))
    conn.must("STORE %s +FLAGS.SILENT (\\Deleted)" %
              ",".join(map(str, spread(ex, 100, 7))))
    conn.must("EXPUNGE")
    conn.must("UNSELECT")
    t, out = timed(conn, "SELECT INBOX (QRESYNC (%d %d))" % (uv, hms))
    c = untagged_count(out, b"FETCH")
    v = sum(count_set(r.split()[-1]) for r in out
            if r.startswith(b"* VANISHED"))
    ok = c >= 100 and v == 100
    return t, "%d FETCH, %d vanished" % (c, v), None if ok else \
        "%d FETCH and %d vanished, expected 100 and 100" % (c, v)


def count_set(s):
    n = 0
    for part in s.split(b","):
        a, _, b = part.partition(b":")
        n += abs(int(b or a) - int(a)) + 1
    return n


def append_messages(srcdir, ops):
    """The first ops messages of the source INBOX, as CRLF text."""
    names = sorted(os.listdir(os.path.join(srcdir, "cur")))[:ops]
    msgs = []
    for name in names:
        with open(os.path.join(srcdir, "cur", name), "rb") as f:
            data = f.read()
        msgs.append(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return msgs


def wl_append(spec, conn):
    msgs = append_messages(spec["srcdir"], spec["ops"])
    conn.must("CREATE " + APPEND_FOLDER)
    caps = set(b" ".join(conn.must("CAPABILITY")).upper().split())
    plus = b"LITERAL+" in caps
    minus = b"LITERAL-" in caps
    if plus:
        t = append_pipelined(conn, msgs)
        mode = "pipelined, LITERAL+"
    else:
        t = append_sync(conn, msgs, minus)
        mode = "one at a time, " + ("LITERAL-" if minus else
                                    "synchronizing literals")
    return t, "%d appended (%s)" % (len(msgs), mode), None


def append_cmd(tag, msg, nonsync):
    return b"%s APPEND %s (\\Seen) {%d%s}\r\n" % (
        tag.encode(), APPEND_FOLDER.encode(), len(msg),
        b"+" if nonsync else b"")


def append_pipelined(conn, msgs):
    """Every APPEND sent back to back with non-synchronizing literals,
    reading the answers as they come, so neither side's buffers fill."""
    tags = [conn.next_tag() for _ in msgs]
    chunks = []
    for tag, msg in zip(tags, msgs):
        chunks.append(append_cmd(tag, msg, True))
        chunks.append(msg)
        chunks.append(b"\r\n")
    payload = memoryview(b"".join(chunks))
    del chunks
    sock = conn.sock
    want = {t.encode() for t in tags}
    bad = []
    out = []
    sel = selectors.DefaultSelector()
    sw = Stopwatch()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    off, chunk = 0, 0
    deadline = time.monotonic() + CMD_TIMEOUT
    try:
        while want:
            if time.monotonic() > deadline:
                raise ImapError("APPEND: %d answers missing" % len(want))
            progress = False
            if off < len(payload):
                # a retried SSL write must offer the same length again
                chunk = chunk or min(1 << 16, len(payload) - off)
                try:
                    sent = sock.send(payload[off:off + chunk])
                    off += sent
                    chunk = 0
                    progress = True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                        BlockingIOError):
                    pass
            while True:
                try:
                    data = sock.recv(1 << 18)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                        BlockingIOError):
                    break
                if not data:
                    raise ImapError("server closed the connection "
                                    "during APPEND")
                conn.rd.feed(data)
                progress = True
            conn.rd.pop(out)
            for r in out:
                tag = r.split(b" ", 1)[0]
                if tag in want:
                    want.discard(tag)
                    if status_of(r) != "OK":
                        bad.append(r)
            out.clear()
            if bad:
                raise ImapError("APPEND: " + short(bad[0]))
            if not progress:
                ev = selectors.EVENT_READ
                if off < len(payload):
                    ev |= selectors.EVENT_WRITE
                sel.modify(sock, ev)
                sel.select(1.0)
    finally:
        sel.close()
        sock.settimeout(timeout)        # never blocking without a bound
    return sw.stop()


def append_sync(conn, msgs, minus):
    out = []
    sw = Stopwatch()
    for msg in msgs:
        tag = conn.next_tag()
        nonsync = minus and len(msg) <= 4096
        conn.send(append_cmd(tag, msg, nonsync))
        if not nonsync:
            conn.continuation(tag, "APPEND")
        conn.send(msg + b"\r\n")
        line = conn.wait(tag, out)
        out.clear()
        if status_of(line) != "OK":
            raise ImapError("APPEND: " + short(line))
    return sw.stop()


def one_login(port, ctx, user, password):
    c = Conn(port, ctx, 30)
    try:
        c.login(user, password)
        c.command("LOGOUT")
    finally:
        c.close()


def wl_logins(spec, ctx):
    """count logins in total, by `parallel` threads (the TLS handshake
    and socket waits release the GIL, so threads overlap like separate
    clients)."""
    par, count = spec["parallel"], spec["count"]
    per = [count // par + (1 if i < count % par else 0) for i in range(par)]
    errors = []
    barrier = threading.Barrier(par + 1)

    def worker(k):
        try:
            barrier.wait(60)
            for _ in range(k):
                one_login(spec["port"], ctx, spec["user"], spec["password"])
        except Exception as e:      # reported, not raised, from a thread
            errors.append("%s: %s" % (type(e).__name__, e))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True)
               for k in per]
    for th in threads:
        th.start()
    barrier.wait(60)
    sw = Stopwatch()
    for th in threads:
        th.join(CLIENT_TIMEOUT)
    t = sw.stop()
    if errors:
        raise ImapError(errors[0])
    return t / count, "%d logins in %.2f s" % (count, t), None


def wl_sessions(spec, ctx):
    """Open `count` sessions and leave them idle, logged in (level login)
    or in IDLE on INBOX (level idle); tell the orchestrator, wait for its
    word, then log them out."""
    conns = []
    try:
        for i in range(spec["count"]):
            c = Conn(spec["port"], ctx, 60)
            conns.append(c)
            c.login(spec["user"], spec["password"])
            if spec["level"] == "idle":
                select_inbox(c)
                tag = c.next_tag()
                c.send(b"%s IDLE\r\n" % tag.encode())
                c.continuation(tag, "IDLE")
        print("READY", flush=True)
        sys.stdin.readline()        # the orchestrator has measured
        for c in conns:
            try:
                if spec["level"] == "idle":
                    c.send(b"DONE\r\n")
                c.send(b"z LOGOUT\r\n")
            except OSError:
                pass
        return 0.0, "%d sessions" % len(conns), None
    finally:
        for c in conns:
            c.close()


def client_main(spec):
    """Run one workload; print one JSON line: seconds or error."""
    ctx = client_ctx(spec["cert"]) if spec.get("tls", True) else None
    res = {"seconds": None, "error": None, "answer": None, "check": None}
    try:
        if spec["kind"] == "logins":
            t, ans, chk = wl_logins(spec, ctx)
        elif spec["kind"] == "sessions":
            t, ans, chk = wl_sessions(spec, ctx)
        else:
            conn = Conn(spec["port"], ctx, 600)
            try:
                conn.login(spec["user"], spec["password"])
                t, ans, chk = wl_mailbox(spec, conn)
                try:
                    conn.command("LOGOUT")
                except (OSError, ImapError):
                    pass
            finally:
                conn.close()
        res.update(seconds=t, answer=ans, check=chk,
                   client_cpu=Stopwatch.cpu)
    except (ImapError, OSError, ssl.SSLError) as e:
        res["error"] = str(e) or type(e).__name__
    print(json.dumps(res), flush=True)
    return 0


# --- processes -------------------------------------------------------------

def proc_table():
    """{pid: (ppid, starttime)} of every process now."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        table[int(d)] = (int(rest[1]), rest[19])
    return table


def tree(root):
    """root and all its descendants: [(pid, starttime)]."""
    table = proc_table()
    if root not in table:
        return []
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, pending = [], [root]
    while pending:
        pid = pending.pop()
        out.append((pid, table[pid][1]))
        pending += kids.get(pid, [])
    return out


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss(root):
    procs = tree(root)
    return sum(pss_kib(p) for p, _ in procs), len(procs)


def pss_by_name(root):
    """{process name: (count, KiB PSS)} over a tree; both servers name
    their processes by role (imapd-login, imapd-session, imap-login,
    imap, ...)."""
    out = {}
    for pid, _ in tree(root):
        try:
            with open("/proc/%d/comm" % pid) as f:
                name = f.read().strip()
        except OSError:
            continue
        n, kib = out.get(name, (0, 0))
        out[name] = (n + 1, kib + pss_kib(pid))
    return out


def kill_exact(procs, sig):
    """Signal the processes of a snapshot that still are the same ones
    (same start time), so that a reused pid is never hit."""
    table = proc_table()
    for pid, start in procs:
        if table.get(pid, (None, None))[1] == start:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError("%s exited at start-up (status %s)" %
                             (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError("%s does not listen on port %d" %
                                 (what, port))
            time.sleep(0.05)


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 600)
    try:
        return subprocess.run([str(c) for c in cmd], **kw)
    except subprocess.CalledProcessError as e:
        raise BenchError("%s failed (%d): %s" % (
            " ".join(str(c) for c in cmd[:3]), e.returncode,
            (e.stderr or b"").decode(errors="replace").strip()[-500:]))


class Server:
    """A server running as a child of the bench, in its own process
    group so that the terminal's Ctrl-C reaches only the bench, which
    then stops it."""

    name = "?"

    def __init__(self, work, setup):
        self.dir = work / self.name.lower()
        self.setup = setup
        self.proc = None
        self.logf = None
        self.port = imapdtest.free_port()   # STARTTLS, unused here
        self.tls_port = imapdtest.free_port()

    def home(self, login):
        return self.dir / "home" / login

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv):
        self.logf = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, start_new_session=True)
        try:
            wait_port(self.port, self.proc, self.name)
            wait_port(self.tls_port, self.proc, self.name)
        except BenchError as e:
            raise BenchError("%s; its log says:\n%s" % (e, self.log_tail()))

    def stop(self):
        if self.proc is None:
            return
        procs = tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # whatever outlived the master, by exact identity
        kill_exact(procs, signal.SIGKILL)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def log_tail(self, n=15):
        try:
            lines = (self.dir / "server.log").read_text(
                errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


class Imapd(Server):
    name = "imapd"

    def start(self):
        s = self.setup
        self.dir.mkdir(parents=True, exist_ok=True)
        db = self.dir / "userdb"
        db.write_text("".join(
            "%s:%s:%d:%d:%s\n" % (login, s.hash, s.uid, s.gid,
                                 self.home(login))
            for login in (BIG_LOGIN, SMALL_LOGIN)))
        db.chmod(0o600)
        run([USERDB_TOOL, "-o", self.dir / "userdb.cdb", db])
        conf = self.dir / "imapd.conf"
        conf.write_text(
            "# written by tests/bench/bench.py\n"
            "listen_imap   = 127.0.0.1:%d\n"
            "listen_imaps  = 127.0.0.1:%d\n"
            "tls_cert      = %s\n"
            "tls_key       = %s\n"
            "auth          = userdb\n"
            "userdb        = %s\n"
            "login_user    = nobody\n"
            "login_chroot  = %s\n"
            "prefork       = 8\n"
            "max_sessions  = %d\n"
            # hundreds of sessions of one user from one address
            "max_prelogin_per_address = 0\n"
            "max_user_sessions = 0\n"
            "max_user_sessions_per_address = 0\n"
            # the plain-port workloads log in without TLS, on loopback
            "allow_plaintext_auth = yes\n"
            "tls_process   = %s\n"
            % (self.port, self.tls_port, s.cert, s.key,
               self.dir / "userdb.cdb", self.dir / "empty",
               s.max_sessions, s.tls_process) +
            "".join("%s = %s\n" % kv for kv in s.imapd_set))
        r = run([IMAPD, "-t", "-c", conf], check=False)
        if r.returncode != 0:
            raise BenchError("imapd -t rejects the bench configuration:\n" +
                             (r.stdout + r.stderr).decode(errors="replace"))
        self._spawn([IMAPD, "-f", "-c", conf])

    def version(self):
        r = run([IMAPD, "-V"], check=False)
        return (r.stdout + r.stderr).decode(errors="replace").strip()


DOVECOT_CONF = """\
# written by tests/bench/bench.py: a private Dovecot to compare imapd
# with.  Nothing of /etc/dovecot is included; Dovecot's built-in defaults
# apply except where noted.
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = imapd-bench-{inst}
log_path = {d}/dovecot.log
# the plain-port workloads log in without TLS, on loopback
ssl = yes
disable_plaintext_auth = no
ssl_cert = <{cert}
ssl_key = <{key}
mail_location = maildir:~/Maildir
namespace inbox {{
  separator = /
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=SHA256-CRYPT {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
default_login_user = dovenull
default_internal_user = dovecot
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
{login_mode}}}
# not defaults: room for the memory workload's sessions (one imap-login
# and one imap process each, all from one user and address)
default_process_limit = {procs}
default_client_limit = {clients}
service imap {{
  process_limit = {procs}
}}
mail_max_userip_connections = {procs}
{fts}
# not a default: COMPRESS=DEFLATE, for the bytes-on-the-wire workload
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
}}
"""

# with --dovecot-fts: the fts-xapian plugin, indexing substrings from 3
# characters as imapd's trigrams do
DOVECOT_FTS = """\
mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20 verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}
# Xapian keeps the folder's postings in memory while it indexes: the
# default address-space limit makes the worker die of bad_alloc
service indexer-worker {
  vsz_limit = 4G
}
"""


class Dovecot(Server):
    """Dovecot in Debian's default login mode: a new imap-login process
    for every connection."""
    name = "Dovecot"
    fts = False

    def login_mode(self):
        return ""

    def start(self):
        s = self.setup
        for sub in ("run", "state"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        pw = self.dir / "passwd"
        pw.write_text("".join("%s:{SHA256-CRYPT}%s\n" % (login, s.hash)
                              for login in (BIG_LOGIN, SMALL_LOGIN)))
        # the auth process reads it as default_internal_user
        os.chown(pw, 0, grp.getgrnam("dovecot").gr_gid)
        pw.chmod(0o640)
        conf = self.dir / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(
            d=self.dir, cert=s.cert, key=s.key, uid=s.uid, gid=s.gid,
            port=self.port, tls_port=self.tls_port,
            procs=s.max_sessions + 100, clients=4 * s.max_sessions + 1000,
            login_mode=self.login_mode(), inst=self.name.lower(),
            fts=DOVECOT_FTS if self.fts else ""))
        r = run([DOVECONF, "-c", conf, "-n"], check=False)
        if r.returncode != 0:
            raise BenchError("doveconf rejects the bench configuration:\n" +
                             r.stderr.decode(errors="replace"))
        (self.dir / "dovecot.log").unlink(missing_ok=True)
        self._spawn([DOVECOT, "-F", "-c", conf])

    def version(self):
        r = run([DOVECOT, "--version"], check=False)
        return r.stdout.decode(errors="replace").strip()

    def log_tail(self, n=15):
        own = Server.log_tail(self, n)
        try:
            lines = (self.dir / "dovecot.log").read_text(
                errors="replace").splitlines()
        except OSError:
            lines = []
        return (own + "\n" + "\n".join(lines[-n:])).strip()


class DovecotHP(Dovecot):
    """Dovecot in its high-performance login mode (Dovecot's own advice
    for busy servers): long-lived imap-login processes, one per core,
    each serving many connections, proxying TLS after login."""
    name = "Dovecot-hp"

    def login_mode(self):
        return ("  # the high-performance login mode\n"
                "  service_count = 0\n"
                "  process_min_avail = %d\n"
                "  client_limit = %d\n" % (
                    os.cpu_count() or 1, 4 * self.setup.max_sessions + 1000))


# --- setup -----------------------------------------------------------------

def ensure_dovecot():
    if DOVECOT.exists() and DOVECONF.exists():
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends",
           "dovecot-imapd"]
    if os.geteuid() != 0:
        raise BenchError("Dovecot is not installed; as root run:\n  " +
                         " ".join(cmd))
    log("installing Dovecot: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=900)
    if r.returncode != 0:
        run(["apt-get", "update"], env=env, timeout=900)
        run(cmd, env=env, timeout=900)
    if not DOVECOT.exists():
        raise BenchError("apt-get installed dovecot-imapd but %s is "
                         "missing" % DOVECOT)


def quiet_system_dovecot():
    """The Debian package starts and enables its own Dovecot on 143/993.
    The bench does not use it and must not leave it running: stop it
    (systemd, else the init script, else its pid file) and disable it."""
    systemd = os.path.isdir("/run/systemd/system")
    pidfile = pathlib.Path("/run/dovecot/master.pid")

    def running():
        try:
            pid = int(pidfile.read_text().split()[0])
            exe = os.readlink("/proc/%d/exe" % pid)
        except (OSError, ValueError, IndexError):
            return None
        return pid if exe.startswith(str(DOVECOT)) else None

    pid = running()
    if pid:
        log("stopping the system Dovecot (pid %d); the bench runs its own"
            % pid)
        if systemd:
            subprocess.run(["systemctl", "stop", "dovecot.service",
                            "dovecot.socket"], capture_output=True,
                           timeout=60)
        elif os.path.exists("/etc/init.d/dovecot"):
            subprocess.run(["/etc/init.d/dovecot", "stop"],
                           capture_output=True, timeout=60)
        deadline = time.monotonic() + 15
        while running() and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = running()
        if pid:
            os.kill(pid, signal.SIGTERM)
    # disable it, so that it does not come back at the next boot
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "dovecot.service",
                        "dovecot.socket"], capture_output=True, timeout=60)
    if shutil.which("update-rc.d") and any(
            pathlib.Path("/etc").glob("rc[2345].d/S*dovecot")):
        log("disabling the system Dovecot's init script (update-rc.d)")
        subprocess.run(["update-rc.d", "dovecot", "disable"],
                       capture_output=True, timeout=60)


def check_walkable(path):
    """Every directory above the work dir must let the mail user and the
    login users through."""
    for p in [path] + list(path.parents):
        if p.exists() and not (p.stat().st_mode & 0o001):
            raise BenchError(
                "%s is not searchable by other users (mode %o), so the mail "
                "user cannot reach its Maildir under %s; use --work DIR "
                "somewhere else (e.g. /var/tmp/imapd-bench)" %
                (p, p.stat().st_mode & 0o777, path))


class Setup:
    """What both servers share: the mail user, the certificate, the
    password and its hash."""

    def __init__(self, work, max_sessions, tls_process="shared",
                 imapd_set=()):
        self.work = work
        self.max_sessions = max_sessions
        self.tls_process = tls_process
        self.imapd_set = list(imapd_set)   # (key, value) for imapd.conf
        self.ensure_user()
        self.make_cert()
        self.password = "bench-" + secrets.token_hex(8)
        # SHA256-CRYPT at its default 5,000 rounds, as Dovecot's
        # documentation shows it: one string both servers check
        r = run(["openssl", "passwd", "-5", "-stdin"],
                input=(self.password + "\n").encode())
        self.hash = r.stdout.decode().strip()
        if not self.hash.startswith("$5$"):
            raise BenchError("openssl passwd -5 made %r, not a $5$ hash"
                             % self.hash[:10])

    def ensure_user(self):
        try:
            pw = pwd.getpwnam(MAIL_USER)
        except KeyError:
            log("creating the mail user %s" % MAIL_USER)
            run(["useradd", "-M", "-d", "/nonexistent", "-s",
                 "/usr/sbin/nologin", "-c", "imapd bench mail user",
                 MAIL_USER])
            pw = pwd.getpwnam(MAIL_USER)
        if pw.pw_uid < 1000:
            raise BenchError("user %s has uid %d, below imapd's "
                             "first_valid_uid 1000" % (MAIL_USER, pw.pw_uid))
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def make_cert(self):
        # not under the work directory: imapd refuses a key below a
        # directory that a user other than root may change, and a
        # checkout (and so bench/work) often belongs to one
        self.tls_dir = imapdtest.make_workdir()
        tls = imapdtest.make_cert(self.tls_dir / "tls")
        self.cert, self.key = tls["cert"], tls["key"]


def maker_path():
    p = pathlib.Path(os.environ.get("BENCH_MKMAILDIR", MKMAILDIR))
    if not p.exists():
        raise BenchError("the test-data maker %s is missing (it comes with "
                         "the test suite; BENCH_MKMAILDIR=FILE names "
                         "another with the same command line)" % p)
    return p


def dataset(work, count, seed, uid, gid):
    """The source Maildir for count messages, made once and kept under
    work/data/ (keyed by count, seed and the maker's contents), plus what
    the search workloads need to know about it."""
    maker = maker_path()
    digest = hashlib.sha256(maker.read_bytes()).hexdigest()[:16]
    d = work / "data" / ("n%d-s%d" % (count, seed))
    meta_path = d / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("maker") == digest:
            return d / "Maildir", meta
        log("the data maker changed: making %s again" % d.name)
    except (OSError, ValueError):
        pass
    shutil.rmtree(d, ignore_errors=True)
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log("making %d messages (seed %d) with %s" % (count, seed, maker.name))
    t0 = time.monotonic()
    r = run([sys.executable, maker, tmp / "Maildir", "--count", count,
             "--seed", seed], timeout=6 * 3600)
    summary = None
    for line in reversed(r.stdout.decode(errors="replace").splitlines()):
        try:
            summary = json.loads(line)
            break
        except ValueError:
            continue
    meta = {"count": count, "seed": seed, "maker": digest,
            "summary": summary}
    meta.update(probe_words(tmp / "Maildir", summary))
    run(["chown", "-R", "%d:%d" % (uid, gid), tmp])
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    tmp.rename(d)
    log("made %s in %.0f s" % (d.name, time.monotonic() - t0))
    return d / "Maildir", meta


def summary_value(summary, *needles):
    """A value from the maker's summary whose key contains every needle."""
    if not isinstance(summary, dict):
        return None
    for k, v in summary.items():
        if all(n in k.lower() for n in needles) and isinstance(v, str):
            return v
    return None


def probe_words(maildir, summary):
    """The absent word for SEARCH BODY and a known Message-ID for SEARCH
    HEADER: from the maker's summary when it has them, else found here
    (a word checked against every file; the Message-ID of the message in
    the middle of INBOX)."""
    absent = summary_value(summary, "absent")
    if absent is None:
        absent = "zyxwquodlibet"
        r = subprocess.run(["grep", "-rqiF", absent, str(maildir)],
                           timeout=3600)
        if r.returncode == 0:
            raise BenchError("the word %r is in the test data" % absent)
    msgid = summary_value(summary, "message", "id") or \
        summary_value(summary, "msgid")
    if msgid is None:
        names = sorted(os.listdir(maildir / "cur"))
        with open(maildir / "cur" / names[len(names) // 2], "rb") as f:
            head = f.read(65536).split(b"\n\n", 1)[0]
        m = re.search(rb"^Message-ID:\s*(<[^>\s]+>)", head,
                      re.I | re.M)
        if not m:
            raise BenchError("no Message-ID in %s" % names[len(names) // 2])
        msgid = m.group(1).decode()
    return {"absent_word": absent, "message_id": msgid}


def fresh_copy(src, home, uid, gid):
    """home/Maildir as a hard-linked copy of src: no index, no cache."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.chown(home, uid, gid)
    home.chmod(0o700)
    run(["cp", "-al", src, home / "Maildir"], timeout=3600)


def warm_page_cache(src):
    """Read every message once, so that neither server pays for the disk
    while the other gets the page cache."""
    for sub in ("cur", "new"):
        d = src / sub
        for name in os.listdir(d):
            with open(d / name, "rb") as f:
                while f.read(1 << 20):
                    pass


# --- orchestration ----------------------------------------------------------

CLIENTS = set()


def client(spec, timeout=CLIENT_TIMEOUT):
    """Run one workload in a fresh client process; its JSON result."""
    p = subprocess.Popen([sys.executable, __file__, "--client",
                          json.dumps(spec)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    CLIENTS.add(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"error": "client timed out after %d s" % timeout}
    except BaseException:
        p.kill()
        p.wait(5)
        raise
    finally:
        CLIENTS.discard(p)
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "client failed: " +
                err.decode(errors="replace").strip()[-300:]}


class Results:
    """Raw figures: results[size][key][server] = {"raw": [...], ...}."""

    def __init__(self):
        self.data = {}
        self.warnings = []
        self.floors = {}        # size: getdents64() seconds, each run

    def slot(self, size, key, server):
        return self.data.setdefault(str(size), {}).setdefault(
            key, {}).setdefault(server, {"raw": [], "errors": [],
                                         "answers": [], "checks": [],
                                         "client_cpu": []})

    def add(self, size, key, server, res):
        s = self.slot(size, key, server)
        if res.get("error"):
            s["errors"].append(res["error"])
        else:
            s["raw"].append(res["seconds"])
            if res.get("client_cpu") is not None:
                s["client_cpu"].append(res["client_cpu"])
        if res.get("answer") is not None:
            s["answers"].append(res["answer"])
        if res.get("check"):
            s["checks"].append(res["check"])
            self.warnings.append("%s %s (N=%s): %s" % (
                server, key, size, res["check"]))


def describe(res, unit="s"):
    if res.get("error"):
        return "n/a (%s)" % res["error"]
    if unit == "bytes":
        return "%d bytes  [%s]" % (res["seconds"], res.get("answer"))
    s = "%.4f s" % res["seconds"] if unit == "s" else \
        "%.0f %s" % (res["seconds"], unit.replace("kib", "KiB"))
    if res.get("client_cpu") is not None and res["seconds"] > 0:
        s += " (client CPU %.0f%%)" % (100 * res["client_cpu"] /
                                       res["seconds"])
    if res.get("answer"):
        s += "  [%s]" % res["answer"]
    if res.get("check"):
        s += "  CHECK: " + res["check"]
    return s


def mailbox_ops(size):
    """How many messages APPEND and MOVE handle: 10,000, or half of a
    smaller INBOX."""
    return min(10000, max(1, size // 2))


def rare_word(meta):
    """A word the data maker put in the bodies of a few messages."""
    for n in (meta.get("summary") or {}).get("needles", []):
        if n.get("where") == "body":
            return n["word"]
    return "zebracorn"


def skip_for(args, srv, key):
    """Workloads a server does not run: the index's own with plain
    Dovecot; with Dovecot's fts-xapian, the searches before index_build,
    which would build its index (index_build is that first search)."""
    if srv.name == "imapd":
        return False
    if args.dovecot_fts:
        return key in ("search_body", "search_common")
    return key in INDEX_ONLY


def slot_key(size, port):
    """Where a mailbox figure is kept in the results: by INBOX size, and
    the port the workloads used (the TLS port's under the bare size)."""
    return str(size) if port == "tls" else "%d-plain" % size


def mailbox_runs(args, servers, setup, results, size, src, meta, keys,
                 port):
    ops = mailbox_ops(size)
    warm_page_cache(src)
    for r in range(args.runs):
        for srv in servers:
            log("N=%d %s port, run %d/%d: fresh copy for %s" % (
                size, port, r + 1, args.runs, srv.name))
            fresh_copy(src, srv.home(BIG_LOGIN), setup.uid, setup.gid)
            if "select_cold" in keys:
                # what the kernel alone takes to list the folder the
                # first SELECT will meet, in the state it will meet it
                f = firstselect.getdents_floor(srv.home(BIG_LOGIN) /
                                               "Maildir")
                if f is not None:
                    results.floors.setdefault(slot_key(size, port),
                                              []).append(f)
            for key in keys:
                if skip_for(args, srv, key):
                    continue
                plain = port == "plain"
                spec = {"kind": "mailbox", "step": key,
                        "port": srv.port if plain else srv.tls_port,
                        "tls": not plain,
                        "cert": str(setup.cert), "user": BIG_LOGIN,
                        "password": setup.password, "n": size,
                        "ops": ops, "srcdir": str(src),
                        "absent": meta["absent_word"],
                        "msgid": meta["message_id"],
                        "rare": rare_word(meta), "common": "the",
                        "server": srv.name,
                        "maildir": str(srv.home(BIG_LOGIN) / "Maildir")}
                res = client(spec)
                results.add(slot_key(size, port), key, srv.name, res)
                log("  %-10s %-16s %s" % (srv.name, key,
                                         describe(res, BY_KEY[key].unit)))
                if not srv.running():
                    raise BenchError("%s died during %s:\n%s" % (
                        srv.name, key, srv.log_tail()))


def login_runs(args, servers, setup, results, keys):
    for r in range(args.runs):
        for srv in servers:
            for key in keys:
                par = args.parallel if key == "login_par" else 1
                count = args.logins
                plain = key.endswith("_plain")
                spec = {"kind": "logins",
                        "port": srv.port if plain else srv.tls_port,
                        "tls": not plain,
                        "cert": str(setup.cert), "user": SMALL_LOGIN,
                        "password": setup.password, "count": count,
                        "parallel": par}
                res = client(spec)
                results.add("-", key, srv.name, res)
                if res.get("error"):
                    log("  %-10s %-16s %s" % (srv.name, key, describe(res)))
                else:
                    log("  %-10s %-16s %.2f ms/login (%.0f/s)  run %d/%d" % (
                        srv.name, key, res["seconds"] * 1e3,
                        1 / res["seconds"], r + 1, args.runs))


def settle(root, timeout=30):
    """Wait until the process count and PSS of a tree stop moving."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        kib, nproc = tree_pss(root)
        if last and last[1] == nproc and abs(last[0] - kib) < 256:
            return kib, nproc
        last = (kib, nproc)
        time.sleep(0.5)
    return last


def sessions_run(srv, setup, level, count, plain=False):
    """Open count sessions (on the plain port if plain); PSS of the
    server's tree per session."""
    time.sleep(1)
    base, base_n = settle(srv.proc.pid)
    spec = {"kind": "sessions", "level": level, "count": count,
            "port": srv.port if plain else srv.tls_port, "tls": not plain,
            "cert": str(setup.cert),
            "user": SMALL_LOGIN, "password": setup.password}
    p = subprocess.Popen([sys.executable, __file__, "--client",
                          json.dumps(spec)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    CLIENTS.add(p)
    try:
        line = read_line(p, CLIENT_TIMEOUT)
        if line != "READY":
            out, err = finish(p)
            try:
                return json.loads((line + "\n" + out).strip().splitlines()[-1])
            except (ValueError, IndexError):
                return {"error": "client failed: " + err[-300:]}
        time.sleep(2)
        kib, nproc = settle(srv.proc.pid)
        per = (kib - base) / count
        roles = ", ".join(
            "%s %.0f" % (name, k / n)
            for name, (n, k) in sorted(pss_by_name(srv.proc.pid).items())
            if n >= count)
        log("  %-10s %d sessions: %d KiB in %d processes, baseline %d KiB in "
            "%d: %.0f KiB/session (KiB per process: %s)" % (
                srv.name, count, kib, nproc, base, base_n, per, roles))
        p.stdin.write(b"go\n")
        p.stdin.flush()
        finish(p)
        return {"seconds": per, "answer": "%d sessions, %d processes, "
                "%d KiB over a %d KiB baseline; KiB per process: %s" % (
                    count, nproc, kib - base, base, roles)}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        CLIENTS.discard(p)
        # let the server wind the sessions down before the next baseline
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and \
                len(tree(srv.proc.pid)) > base_n:
            time.sleep(0.5)


def read_line(p, timeout):
    """One line from a client's stdout, waiting at most timeout."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
    finally:
        sel.close()
    return p.stdout.readline().decode(errors="replace").strip()


def finish(p):
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return out.decode(errors="replace"), err.decode(errors="replace")


def memory_runs(args, servers, setup, results, keys, small_src):
    for key in keys:
        level = "login" if key.startswith("mem_login") else "idle"
        count = args.big if key == "mem_idle_big" else args.sessions
        for r in range(args.runs):
            for srv in servers:
                fresh_copy(small_src, srv.home(SMALL_LOGIN), setup.uid,
                           setup.gid)
                res = sessions_run(srv, setup, level, count,
                                   key.endswith("_plain"))
                results.add("-", key, srv.name, res)
                if res.get("error"):
                    log("  %-10s %-16s %s" % (srv.name, key,
                                         describe(res, BY_KEY[key].unit)))
                if not srv.running():
                    raise BenchError("%s died during %s:\n%s" % (
                        srv.name, key, srv.log_tail()))


# --- report ---------------------------------------------------------------

def summarize(slot):
    """The best (lowest) of the runs is the figure: on a shared machine
    the noise only ever adds.  The spread is shown beside it."""
    raw = slot["raw"]
    if not raw:
        return None
    med = statistics.median(raw)
    lo, hi = min(raw), max(raw)
    noisy = lo > 0 and (hi - lo) / lo > 0.20
    return {"best": lo, "median": med, "min": lo, "max": hi,
            "noisy": noisy}


def fmt_value(v, unit):
    if unit == "kib":
        return "%.0f KiB" % v
    if unit == "bytes":
        return "%.0f KiB" % (v / 1024)
    if unit == "login":
        return "%.2f ms" % (v * 1e3)
    if v >= 1:
        return "%.2f s" % v
    if v >= 1e-3:
        return "%.1f ms" % (v * 1e3)
    return "%.0f us" % (v * 1e6)


def cell(slot, unit, server):
    if slot is None:
        return "-"
    st = summarize(slot)
    if st is None:
        err = slot["errors"][0] if slot["errors"] else "not run"
        return "n/a (%s: %s)" % (server, err)
    s = fmt_value(st["best"], unit)
    if unit == "login":
        s += " (%.0f/s)" % (1 / st["best"])
    if len(slot["raw"]) > 1:
        s += " [%s..%s]" % (fmt_value(st["min"], unit),
                            fmt_value(st["max"], unit))
    if st["noisy"]:
        s += " noisy"
    return s


def label(w, args, ops, keys):
    # a first THREAD that follows a first SORT finds the keys that SORT
    # read, so the figure is not the cost of reading the headers
    after = " (after SORT)" if "sort_cold" in keys else ""
    return w.label.format(ops="{:,}".format(ops), par=args.parallel,
                          sessions=args.sessions, big=args.big, after=after)


# the Dovecot configurations compared with, the best one last: the
# targets apply to the ratio against it
PEERS = ("Dovecot", "Dovecot-hp")


def table_rows(results, size, keys, args, ops, port="tls"):
    rows = []
    for key in keys:
        w = BY_KEY[key]
        where = results.data.get(slot_key(size, port) if w.group ==
                                 "mailbox" else "-", {}).get(key, {})
        a = where.get("imapd")
        sa = summarize(a) if a else None
        row = {"key": key, "label": label(w, args, ops, keys),
               "imapd": cell(a, w.unit, "imapd"), "target": w.target,
               "met": None, "peers": {}}
        for peer in PEERS:
            b = where.get(peer)
            sb = summarize(b) if b else None
            ratio = None
            if sa and sb and sb["best"] > 0:
                ratio = sa["best"] / sb["best"]
            row["peers"][peer] = {"cell": cell(b, w.unit, peer),
                                  "ratio": ratio}
        best = row["peers"][PEERS[-1]]["ratio"]
        if best is not None and w.target is not None:
            row["met"] = best <= w.target
        rows.append(row)
    return rows


def print_table(rows, title):
    head = ["workload", "imapd"] + list(PEERS) + \
        ["ratio/" + p for p in PEERS] + ["target", "met?"]
    lines = []
    for r in rows:
        lines.append(
            [r["label"], r["imapd"]] +
            [r["peers"][p]["cell"] for p in PEERS] +
            ["-" if r["peers"][p]["ratio"] is None else
             "%.2f" % r["peers"][p]["ratio"] for p in PEERS] +
            ["info" if r["target"] is None else "<=%.2g" % r["target"],
             "-" if r["met"] is None else ("yes" if r["met"] else "NO")])
    widths = [max(len(x[i]) for x in lines + [head])
              for i in range(len(head))]
    print("\n" + title)
    fmt = " | ".join("%%-%ds" % w for w in widths)
    print(fmt % tuple(head))
    print("-+-".join("-" * w for w in widths))
    for x in lines:
        print(fmt % tuple(x))


def print_growth(results, sizes, keys, port):
    """Per-message (or per-operation) cost at each size: a cost that grows
    with N is visible as a growing number along a row."""
    print("\nCost per message (per operation for APPEND, MOVE and the "
          "1000-message BODY.PEEK[]; the whole time for searches that use "
          "an index, which should not grow), by INBOX size, %s port" %
          port)
    head = ["workload", "server"] + ["N=%d" % n for n in sizes] + \
        ["largest/smallest"]
    lines = []
    for key in keys:
        w = BY_KEY[key]
        for server in ("imapd",) + PEERS:
            costs = []
            for n in sizes:
                slot = results.data.get(slot_key(n, port), {}).get(
                    key, {}).get(server)
                st = summarize(slot) if slot else None
                if st is None:
                    costs.append(None)
                    continue
                div = {"n": n, "ops": mailbox_ops(n), "abs": 1,
                       "peek": min(1000, n)}[w.scale]
                costs.append(st["best"] / div)
            growth = "-"
            if costs[0] and costs[-1]:
                growth = "%.2f" % (costs[-1] / costs[0])
            if w.unit == "kib":
                shown = ["n/a" if c is None else "%.3f KiB" % c
                         for c in costs]
            elif w.scale == "abs":
                shown = ["n/a" if c is None else "%.2f ms" % (c * 1e3)
                         for c in costs]
            else:
                shown = ["n/a" if c is None else "%.2f us" % (c * 1e6)
                         for c in costs]
            lines.append([key, server] + shown + [growth])
    widths = [max(len(x[i]) for x in lines + [head])
              for i in range(len(head))]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    print(fmt % tuple(head))
    print("-+-".join("-" * w for w in widths))
    for x in lines:
        print(fmt % tuple(x))


def git_commit():
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                       capture_output=True, timeout=30)
    commit = r.stdout.decode().strip() or None
    r = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                        "--untracked-files=no"], capture_output=True,
                       timeout=30)
    return commit, bool(r.stdout.strip())


# --- main -------------------------------------------------------------------

GROUPS = ("mailbox", "login", "memory")


def notes(args):
    """NOTES with the settings of this run filled in."""
    lean = (" (its lean mode: one process holds the TLS of every "
            "implicit-TLS connection, as Dovecot-hp's login processes do)"
            if args.imapd_tls_process == "shared" else
            " (each TLS session keeps a relaying process of its own)")
    extra = "".join(", %s = %s" % kv for kv in args.imapd_set)
    return [n.format(tls_process=args.imapd_tls_process, lean=lean) +
            (extra if n.startswith("imapd:") else "") for n in NOTES]

NOTES = [
    "Dovecot: built-in defaults, nothing from /etc/dovecot (no plugins "
    "but imap_zlib, which adds the COMPRESS command and nothing else: no "
    "fts, quota, zlib or old_stats); raised default_process_limit, "
    "default_client_limit, service imap process_limit and "
    "mail_max_userip_connections so that the memory workloads can hold "
    "their sessions",
    "Dovecot-hp: the same, plus Dovecot's high-performance login mode "
    "(service imap-login: service_count = 0, process_min_avail = one per "
    "core, client_limit raised); targets apply to the ratio against it",
    "imapd: auth = userdb, prefork = 8, login_user = nobody, "
    "allow_plaintext_auth = yes (Dovecot: disable_plaintext_auth = no) "
    "for the plain-port workloads, tls_process = {tls_process}{lean}",
    "same certificate (EC P-256), same SHA256-CRYPT hash, same mail uid; "
    "clients speak TLS on the implicit-TLS port, except the workloads "
    "marked plain port",
    "every figure is the best of its runs, servers taking turns",
    "warm page cache; 'first'/'cold' means without the server's index "
    "or cache (fresh hard-linked copy of the Maildir for every run)",
    "full-text index: imapd's is built by a session idling in INBOX "
    "(timed until it covers every message; its size is measured once "
    "the journal is merged); plain Dovecot has none, Dovecot with "
    "--dovecot-fts (fts-xapian, partial=3) builds its own at the first "
    "SEARCH BODY, which is then that workload",
    "memory: PSS of the server's process tree with the sessions open, "
    "less the tree at rest, per session; sessions log in to a "
    "100-message INBOX",
]


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench.py",
        description="imapd side by side with Dovecot (see the top of "
                    "this file)")
    ap.add_argument("--count", type=int,
                    default=int(os.environ.get("BENCH_COUNT", 100000)),
                    help="messages in the big INBOX (default 100000, "
                         "or $BENCH_COUNT)")
    ap.add_argument("--sizes", help="comma-separated INBOX sizes: run the "
                    "mailbox workloads at each and print the cost per "
                    "message")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the generated Maildir (default 1)")
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per figure, each server in turn; the best "
                    "is reported (at least 2 but for --quick)")
    ap.add_argument("--sessions", type=int, default=500,
                    help="sessions held open by the memory workloads")
    ap.add_argument("--big", type=int, nargs="?", const=2000, default=0,
                    help="also measure memory with this many IDLE sessions "
                         "(default 2000)")
    ap.add_argument("--logins", type=int, default=1000,
                    help="logins per login workload run")
    ap.add_argument("--parallel", type=int, default=10,
                    help="clients of the parallel login workload")
    ap.add_argument("--dovecot-fts", action="store_true",
                    help="run Dovecot with the fts-xapian plugin (package "
                    "dovecot-fts-xapian): its full-text index against "
                    "imapd's")
    ap.add_argument("--only", help="comma-separated groups (mailbox, "
                    "login, memory) or workload names")
    ap.add_argument("--servers", default="imapd,Dovecot,Dovecot-hp",
                    help="comma-separated servers to run (default all: "
                    "imapd,Dovecot,Dovecot-hp); imapd alone, say, for "
                    "--sizes up to a million messages")
    ap.add_argument("--imapd-tls-process", default="shared",
                    choices=("shared", "per-session"),
                    help="imapd's tls_process (default shared: its lean "
                    "mode, one process holding every TLS connection, as "
                    "Dovecot-hp's login processes do)")
    ap.add_argument("--imapd-set", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="one more imapd.conf line for imapd (repeatable), "
                    "e.g. mmap=no idle_poll=5s: the cost of a setting")
    ap.add_argument("--mailbox-port", choices=("both", "tls", "plain"),
                    default="both",
                    help="the port the mailbox workloads use: both, in "
                    "turn (default), 993-style implicit TLS, or the "
                    "plain port with a plaintext LOGIN (no TLS relay in "
                    "the way)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: N=2000, 2 runs, 50 sessions, 100 logins")
    ap.add_argument("--work", type=pathlib.Path,
                    default=ROOT / "bench" / "work",
                    help="work directory (data cache, server state)")
    ap.add_argument("--results", type=pathlib.Path, default=RESULTS,
                    help="where the raw figures go (default "
                         "bench/results.json)")
    args = ap.parse_args(argv)
    if args.quick:
        args.count, args.runs, args.sessions = 2000, 2, 50
        args.logins, args.parallel = 100, 4
    args.sizes = ([int(x) for x in args.sizes.split(",")]
                  if args.sizes else [args.count])
    for v, what in ((min(args.sizes), "sizes"), (args.runs, "--runs"),
                    (args.sessions, "--sessions"), (args.logins, "--logins"),
                    (args.parallel, "--parallel")):
        if v < 1:
            ap.error("%s must be at least 1" % what)
    keys = []
    for item in (args.only or ",".join(GROUPS)).split(","):
        item = item.strip()
        if item in GROUPS:
            keys += [w.key for w in WORKLOADS if w.group == item]
        elif item in BY_KEY:
            keys.append(item)
        else:
            ap.error("--only: unknown %r (groups: %s; workloads: %s)" % (
                item, ", ".join(GROUPS), ", ".join(BY_KEY)))
    if not args.big:
        keys = [k for k in keys if k != "mem_idle_big"]
    args.keys = [w.key for w in WORKLOADS if w.key in keys]
    args.servers = [x.strip() for x in args.servers.split(",") if x.strip()]
    sets = []
    for kv in args.imapd_set:
        k, eq, v = kv.partition("=")
        if not eq or not k.strip() or "\n" in kv:
            ap.error("--imapd-set: %r is not KEY=VALUE" % kv)
        sets.append((k.strip(), v.strip()))
    args.imapd_set = sets
    for name in args.servers:
        if name not in ("imapd", "Dovecot", "Dovecot-hp"):
            ap.error("--servers: unknown %r (imapd, Dovecot, Dovecot-hp)"
                     % name)
    if not args.servers:
        ap.error("--servers: name at least one")
    args.work = args.work.resolve()
    return args


FTS_XAPIAN = pathlib.Path("/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so")


def preflight(args):
    ensure_dovecot()
    if args.dovecot_fts and not FTS_XAPIAN.exists():
        cmd = ["apt-get", "install", "-y", "--no-install-recommends",
               "dovecot-fts-xapian"]
        if os.geteuid() != 0:
            raise BenchError("--dovecot-fts needs the fts-xapian plugin; "
                             "as root run:\n  " + " ".join(cmd))
        log("installing the fts-xapian plugin: " + " ".join(cmd))
        run(cmd, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            timeout=900)
    if os.geteuid() != 0:
        raise BenchError(
            "the bench needs root: it creates the mail user %s, runs both "
            "servers with their privilege separation (as in production) "
            "and reads their processes' memory; run `sudo make bench`" %
            MAIL_USER)
    for p in (IMAPD, USERDB_TOOL):
        if not os.access(p, os.X_OK):
            raise BenchError("%s is not built; run make first" % p)
    quiet_system_dovecot()
    try:
        pwd.getpwnam("dovenull")
        pwd.getpwnam("dovecot")
        grp.getgrnam("dovecot")
        pwd.getpwnam("nobody")
    except KeyError as e:
        raise BenchError("missing user or group %s (the dovecot-core "
                         "package makes dovenull and dovecot)" % e)
    args.work.mkdir(parents=True, exist_ok=True)
    args.work.chmod(0o755)
    check_walkable(args.work)
    # one bench at a time per work dir: a second would rewrite the
    # password files and configuration under the first one's servers
    args.lock = open(args.work / "lock", "a+")
    try:
        fcntl.flock(args.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        args.lock.seek(0)
        raise BenchError("another bench (pid %s) is running in %s; wait for "
                         "it or use --work DIR" % (
                             args.lock.read().strip() or "?", args.work))
    args.lock.truncate(0)
    args.lock.write("%d\n" % os.getpid())
    args.lock.flush()
    load = os.getloadavg()[0]
    if load > 0.5:
        log("the load average is %.1f: something else is running, and the "
            "figures will be noisy" % load)
    need = max(args.sessions, args.big) * 8 + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < need:
            log("open files limited to %d; --big may fail" % new)


def main(argv):
    args = parse_args(argv)
    preflight(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    commit, dirty = git_commit()
    setup = Setup(args.work, max(args.sessions, args.big) + 100,
                  args.imapd_tls_process, args.imapd_set)
    lkeys, mkeys, bkeys = ([k for k in args.keys if BY_KEY[k].group == g]
                           for g in ("login", "memory", "mailbox"))
    # the data first: making it takes minutes, with no server running
    small_src = None
    if lkeys or mkeys:
        small_src, _ = dataset(args.work, SMALL_COUNT, 2, setup.uid,
                               setup.gid)
    data = {}
    for size in (args.sizes if bkeys else []):
        data[size] = dataset(args.work, size, args.seed, setup.uid,
                             setup.gid)
    servers = [Imapd(args.work, setup), Dovecot(args.work, setup),
               DovecotHP(args.work, setup)]
    servers[1].fts = servers[2].fts = args.dovecot_fts
    servers = [s for s in servers if s.name in args.servers]
    results = Results()
    try:
        for srv in servers:
            srv.dir.mkdir(parents=True, exist_ok=True)
            if small_src:
                fresh_copy(small_src, srv.home(SMALL_LOGIN), setup.uid,
                           setup.gid)
            srv.start()
            log("%s listening on 127.0.0.1:%d (TLS) and :%d (STARTTLS)" %
                (srv.name, srv.tls_port, srv.port))
        versions = {s.name: s.version() for s in servers}
        if lkeys:
            log("login workloads: %d logins per run" % args.logins)
            login_runs(args, servers, setup, results, lkeys)
        if mkeys:
            log("memory workloads: %d sessions%s" % (
                args.sessions, " and %d" % args.big if args.big else ""))
            memory_runs(args, servers, setup, results, mkeys, small_src)
        for port in mailbox_ports(args):
            for size, (src, meta) in data.items():
                mailbox_runs(args, servers, setup, results, size, src, meta,
                             bkeys, port)
    finally:
        for p in list(CLIENTS):
            if p.poll() is None:
                p.kill()
        for srv in servers:
            srv.stop()
        imapdtest.remove_tree(setup.tls_dir)
    report(args, results, started, commit, dirty, versions)
    log("done in %.0f s" % (time.monotonic() - t_start))
    return 0


def mailbox_ports(args):
    return ("tls", "plain") if args.mailbox_port == "both" else \
        (args.mailbox_port,)


def report(args, results, started, commit, dirty, versions):
    big = max(args.sizes)
    bkeys = [k for k in args.keys if BY_KEY[k].group == "mailbox"]
    rows = []
    for i, port in enumerate(mailbox_ports(args) if bkeys else ("tls",)):
        # the login and memory rows once, with the first port's table
        keys = args.keys if i == 0 else bkeys
        prows = table_rows(results, big, keys, args, mailbox_ops(big),
                           port)
        title = "imapd %s vs Dovecot %s (default and high-performance " \
            "login modes; targets against the latter); %sbest of %d " \
            "run%s" % (
                (commit or "?")[:10] + ("+dirty" if dirty else ""),
                versions.get("Dovecot", "?").split()[0],
                "INBOX of %d messages over the %s port; " % (
                    big, "implicit-TLS" if port == "tls" else "plain")
                if bkeys else "", args.runs, "" if args.runs == 1 else "s")
        print_table(prows, title)
        print_floor(results, big, port)
        for r in prows:
            r["port"] = port if BY_KEY[r["key"]].group == "mailbox" \
                else None
        rows += prows
    if len(args.sizes) > 1 and bkeys:
        print_growth(results, sorted(args.sizes),
                     [k for k in bkeys if BY_KEY[k].unit == "s"],
                     mailbox_ports(args)[0])
    if results.warnings:
        print("\nAnswers that look wrong (a fast wrong answer is no win):")
        for w in results.warnings:
            print("  " + w)
    differ = answers_differ(results)
    if differ:
        print("\nimapd and Dovecot answered differently:")
        for d in differ:
            print("  " + d)
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "git_commit": commit, "git_dirty": dirty,
        "versions": versions,
        "host": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                 "loadavg_at_end": os.getloadavg()},
        "count": big, "sizes": args.sizes, "seed": args.seed,
        "runs": args.runs, "sessions": args.sessions, "big": args.big,
        "logins": args.logins, "parallel": args.parallel,
        "ops": {n: mailbox_ops(n) for n in args.sizes},
        "notes": notes(args),
        "units": {w.key: {"s": "seconds", "login": "seconds per login",
                          "kib": "KiB PSS per session",
                          "bytes": "bytes read by the client"}[w.unit]
                  for w in WORKLOADS},
        "targets": {w.key: w.target for w in WORKLOADS},
        "rows": rows,
        "raw": results.data,
        "select_floor": results.floors,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=1) + "\n")
    print("\nraw figures: %s" % args.results)
    print("server logs: %s, %s" % (args.work / "imapd" / "server.log",
                                   args.work / "dovecot" / "dovecot.log"))


def print_floor(results, size, port):
    """The first SELECT beside the kernel's floor: getdents64() alone
    reading INBOX's new/ and cur/ on each run's fresh copy."""
    floors = results.floors.get(slot_key(size, port))
    if not floors:
        return
    floor = min(floors)
    by = results.data.get(slot_key(size, port), {}).get("select_cold", {})
    parts = []
    for server in ("imapd",) + PEERS:
        st = summarize(by[server]) if server in by else None
        if st:
            parts.append("%s %.1fx" % (server, st["best"] / floor))
    print("\nkernel floor of the first SELECT: getdents64() alone over "
          "INBOX's new/ and cur/ took %s (best of %d)%s" % (
              fmt_value(floor, "s"), len(floors),
              "; the first SELECT took " + ", ".join(parts) +
              " that" if parts else ""))


def answers_differ(results):
    out = []
    for size, per in results.data.items():
        for key, by in per.items():
            if BY_KEY[key].group != "mailbox":
                continue
            a = by.get("imapd", {}).get("answers", [])
            # which messages come first depends on each server's UID
            # order; the indexes' own figures are measures, not answers
            if key in ("append", "body_peek") + INDEX_ONLY or not a:
                continue
            for peer in PEERS:
                b = by.get(peer, {}).get("answers", [])
                if b and a[0] != b[0]:
                    out.append("%s (N=%s): imapd %r, %s %r" % (
                        key, size, a[0], peer, b[0]))
    return out


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        sys.exit(client_main(json.loads(sys.argv[2])))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print("bench: " + str(e), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
