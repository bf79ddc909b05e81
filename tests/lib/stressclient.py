"""IMAP clients that check every byte the server sends, for the stress
test.

A World holds what must be true of every folder the test touches (the
"truth": which UIDs exist, their Message-IDs and flags, and the messages
delivered but not yet given a UID), updated by the effect of every
command that succeeded.  The clients run one command at a time from a
single thread, so the truth is exact when each command is sent: whatever
another session did had finished on disk before.

A Client keeps the model of its view that a real client must keep (like
mailactors.Client: sequence number -> UID, the flags it was shown) and
checks each response against the grammar (imapgrammar) and against the
model and the truth:

  - an EXPUNGE or FETCH for a sequence number the client cannot know, an
    EXISTS that goes down, an EXPUNGE during FETCH, STORE or SEARCH;
  - a FETCH for a UID the folder never had, or for another message than
    the one the client has at that number; a FETCH that leaves out a
    message or an item asked for, or whose data disagree with the
    message on disk (size, content, INTERNALDATE, Message-ID);
  - SEARCH and STATUS answers that disagree with the truth;
  - a NO or BAD to a valid command (NO [EXPUNGEISSUED] only when another
    session had really expunged one of the messages), a BYE or a closed
    connection outside LOGOUT;
  - after each command, a view that was not brought up to date: an
    expunged message still shown (where EXPUNGE may be sent), new
    messages not announced, or flags that differ from the truth.

Failures are recorded in the World with the transcript of the recent
commands of every client, so that a failure can be replayed by hand.
"""

import base64
import binascii
import calendar
import collections
import hashlib
import os
import re
import socket
import ssl
import time

import imapgrammar as g


class Closed(Exception):
    """The server closed the connection."""


class StopRun(Exception):
    """A failure ended the run."""


def upflags(flags):
    """Flags as a comparable set: upper case, without \\Recent."""
    return frozenset(f.upper() for f in flags if f.upper() != "\\RECENT")


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def imap_date(t):
    """The IMAP date-time of a Unix time, in UTC."""
    tm = time.gmtime(t)
    return "%2d-%s-%04d %02d:%02d:%02d +0000" % (
        tm.tm_mday, g.MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour,
        tm.tm_min, tm.tm_sec)


def parse_date_time(s):
    """Unix time of an IMAP date-time string."""
    m = re.match(r"([ \d]\d)-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) "
                 r"([+-])(\d\d)(\d\d)$", s)
    day, mon, year = int(m.group(1)), g.MONTHS.index(m.group(2)) + 1, \
        int(m.group(3))
    t = calendar.timegm((year, mon, day, int(m.group(4)), int(m.group(5)),
                         int(m.group(6)), 0, 0, 0))
    off = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    return t - off if m.group(7) == "+" else t + off


MID_RX = re.compile(rb"^Message-ID:[ \t]*((?:.|\r?\n[ \t])*?)\r?$",
                    re.I | re.M)


def header_mid(data):
    """The Message-ID in a message's (or header block's) bytes, or None."""
    head = re.split(rb"\r?\n\r?\n", data, 1)[0]
    m = MID_RX.search(head)
    if not m:
        return None
    return re.sub(rb"\s+", b"", m.group(1)).decode("utf-8", "replace")


class Content:
    """What is known of a message's bytes: size and hash of the CRLF form
    IMAP sends, INTERNALDATE (Unix time) when known."""

    def __init__(self, data, date=None):
        self.size = len(data)
        self.sha = hashlib.sha1(data).hexdigest()
        self.date = date
        self.header_len = len(re.split(rb"\r\n\r\n", data, 1)[0]) + 4 \
            if b"\r\n\r\n" in data else len(data)


# --- the truth ------------------------------------------------------------

class FolderTruth:
    def __init__(self, user, name):
        self.user, self.name = user, name
        self.uidvalidity = None
        self.msgs = {}          # UID -> [Message-ID, frozenset of flags]
        self.dead = {}          # UID -> who expunged it
        self.pending = {}       # Message-ID -> flags (no UID known yet)
        self.uidnext = 1        # a lower bound
        self.hist = collections.defaultdict(list)   # UID -> what happened
        self.tag = None         # the command that changes things now

    def alive(self):
        return sorted(self.msgs)

    def count(self):
        return len(self.msgs) + len(self.pending)

    def add(self, uid, mid, flags, how=""):
        assert uid not in self.msgs and uid not in self.dead, uid
        self.msgs[uid] = [mid, upflags(flags)]
        self.uidnext = max(self.uidnext, uid + 1)
        self.hist[uid].append(f"{how} {mid} {sorted(upflags(flags))}")

    def kill(self, uid, who):
        del self.msgs[uid]
        self.dead[uid] = who
        self.hist[uid].append(f"{who}: expunged")

    def set_flags(self, uid, flags, how):
        self.msgs[uid][1] = flags
        self.hist[uid].append(f"{how}: {sorted(flags)}")

    def history(self, uids):
        return "\n".join(f"    UID {u}: " + "; ".join(self.hist.get(u, []))
                         for u in list(uids)[:6])


class World:
    def __init__(self, seed, keep_going=False, log=None):
        self.seed = seed
        self.truth = {}             # (user name, folder) -> FolderTruth
        self.content = {}           # Message-ID -> Content
        self.structure = {}         # Message-ID -> parsed BODYSTRUCTURE
        self.failures = []
        self.keep_going = keep_going
        self.ops = collections.Counter()
        self.responses = collections.Counter()
        self.commands = 0           # tagged commands sent, all sessions
        self.notes = collections.Counter()
        self.events = collections.deque(maxlen=80)
        self.clients = []
        self.log = log

    def folder(self, user, name):
        key = (user, name)
        if key not in self.truth:
            self.truth[key] = FolderTruth(user, name)
        return self.truth[key]

    def event(self, who, text):
        self.events.append(f"{who}: {text}")

    def fail(self, client, what):
        lines = [f"[seed {self.seed}] {client.name if client else '-'}: "
                 f"{what}"]
        lines.append("  the last commands of all sessions, in order:")
        lines += ["    " + e for e in list(self.events)[-40:]]
        if client is not None:
            lines.append(f"  {client.name}'s transcript:")
            lines += ["    " + t for t in client.transcript]
        text = "\n".join(lines)
        self.failures.append(text)
        if self.log:
            self.log(text)
        raise StopRun(text)


# --- the connection ------------------------------------------------------

class RawConn:
    """A socket that yields whole responses as the bytes that came: the
    line, its literals (and literal8s) and the CRLFs."""

    LIT = re.compile(rb"~?\{(\d+)\}\r\n$")

    def __init__(self, port, timeout=60, ctx=None):
        s = socket.create_connection(("127.0.0.1", port), timeout)
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        self.sock = s
        self.buf = bytearray()
        self.pos = 0
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def _take(self):
        b, p = self.buf, self.pos
        start = p
        while True:
            i = b.find(b"\n", p)
            if i < 0:
                return None
            p = i + 1
            m = self.LIT.search(b, max(start, p - 24), p)
            if not m:
                break
            n = int(m.group(1))
            if len(b) - p < n:
                return None
            p += n
        out = bytes(b[start:p])
        self.pos = p
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        return out

    def response(self, timeout=None):
        """The next response; socket.timeout if none came in time (and
        nothing is lost), Closed at end of stream."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            r = self._take()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no response in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 18)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            except ssl.SSLError as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("end of stream")
            self.buf += chunk

    def at_eof(self, timeout):
        """True if the stream ends within timeout with nothing more."""
        try:
            r = self.response(timeout)
            return r
        except Closed:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- results ---------------------------------------------------------------

class Result:
    def __init__(self, text):
        self.text = text
        self.untagged = []
        self.tagged = None
        self.fetch = collections.defaultdict(dict)   # UID -> merged items
        self.fetch_uid = {}                          # key -> UID
        self.expunged = []                           # UIDs (None unknown)
        self.search = None
        self.esearch = []
        self.codes = []                              # (code, arg)
        self.status = {}
        self.lists = []

    @property
    def ok(self):
        return self.tagged.name == "OK"

    def code(self, name):
        for c, a in self.codes:
            if c == name:
                return a
        return None


FETCH_ITEMS_BASE = ("FLAGS", "UID", "RFC822.SIZE", "INTERNALDATE",
                    "ENVELOPE", "BODYSTRUCTURE", "BODY")


# commands during which the server may not send EXPUNGE (RFC 9051 7.5.1)
NO_EXPUNGE = ("FETCH", "STORE", "SEARCH")


class Client:
    """One IMAP session of one user, with its model of the view."""

    def __init__(self, world, user, name, rnd, server, tls=False,
                 rev2=False):
        self.world, self.user, self.name, self.rnd = world, user, name, rnd
        self.server = server
        self.tls = tls
        self.want_rev2 = rev2
        self.conn = None
        self.n = 0
        self.transcript = collections.deque(
            maxlen=int(os.environ.get("IMAPD_STRESS_TRANSCRIPT", "30")))
        self.reset_view()
        self.rev2 = False
        self.caps = set()
        self.idling = None      # the IDLE tag while in IDLE
        self.keywords = []
        world.clients.append(self)

    def reset_view(self):
        self.folder = None
        self.readonly = False
        self.view = []          # seq-1 -> UID or None
        self.vflags = {}        # UID -> flags as shown (upflags)
        self.uidvalidity = None

    @property
    def selected(self):
        return self.folder is not None

    def truth(self, folder=None):
        return self.world.folder(self.user.name, folder or self.folder)

    def fail(self, what):
        self.world.fail(self, what)

    def log(self, direction, data):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        data = data.rstrip("\r\n").replace("\r\n", "\\r\\n")
        limit = 3000 if direction == ">" else 400
        if len(data) > limit:
            data = data[:limit] + f"... ({len(data)} chars)"
        self.transcript.append(f"{direction} {data}")

    # --- connecting ---------------------------------------------------

    def connect(self):
        self.reset_view()
        ctx = self.server.tls_context() if self.tls else None
        port = self.server.tls_port if self.tls else self.server.port
        self.conn = RawConn(port, ctx=ctx)
        raw = self.conn.response()
        self.log("<", raw)
        r = self.parse(raw)
        if r.kind != "untagged" or r.name != "OK":
            self.fail(f"greeting is not * OK: {r.short()}")
        u = self.user
        res = self.run(f"LOGIN {quote(u.login)} {quote(u.password)}",
                       loggable=f"LOGIN {u.login} ***")
        if not res.ok:
            self.fail(f"LOGIN -> {res.tagged.short()}")
        caps = res.code("CAPABILITY")
        if caps is None:
            res2 = self.run("CAPABILITY")
            caps = [c for r2 in res2.untagged if r2.name == "CAPABILITY"
                    for c in r2.data]
        self.caps = {c.upper() for c in caps}
        self.rev2 = False
        if self.want_rev2:
            res = self.run("ENABLE IMAP4rev2")
            en = [c for r2 in res.untagged if r2.name == "ENABLED"
                  for c in r2.data]
            if not res.ok or "IMAP4REV2" not in en:
                self.fail(f"ENABLE IMAP4rev2 -> {res.tagged.short()}, "
                          f"enabled {en}")
            self.rev2 = True
        self.world.event(self.name, f"connected as {u.login}"
                         f"{' (IMAP4rev2)' if self.rev2 else ''}"
                         f"{' over TLS' if self.tls else ''}")

    def disconnect(self):
        if self.conn:
            self.conn.close()
        self.conn = None
        self.reset_view()
        self.idling = None

    def parse(self, raw):
        try:
            r = g.parse(raw)
        except g.Invalid as e:
            self.fail(f"response does not parse: {e}")
            r = g.Response("untagged")
            r.name = "?"
            r.raw = raw
        self.world.responses[r.name or r.kind] += 1
        return r

    # --- running a command ------------------------------------------------

    def tag(self):
        self.n += 1
        self.world.commands += 1
        return "%s.%d" % (self.name, self.n)

    def send(self, data, loggable=None):
        self.log(">", loggable or data)
        try:
            self.conn.send(data if isinstance(data, bytes) else
                           data.encode())
        except OSError as e:
            self.fail(f"cannot send ({e}): the server closed the "
                      f"connection")
            raise Closed(str(e))

    def run(self, text, literals=(), loggable=None, kind=None,
            timeout=None, sync_literals=False):
        """Send a command (text may hold "{}" where each literal goes);
        read and check every response; return a Result."""
        t = self.tag()
        kind = kind or text.split()[0].upper()
        if kind == "UID":
            kind = "UID " + text.split()[1].upper()
        res = Result(text)
        res.kind = kind
        self.last_kind = kind
        self.last_tag = t
        parts = text.split("\x00")
        shown = f"{t} {loggable or text}".replace("\x00", "{..}")
        self.world.event(self.name, shown[:4000])
        if not literals:
            self.send(f"{t} {text}\r\n", f"{t} {loggable or text}")
        else:
            assert len(parts) == len(literals) + 1
            out = f"{t} ".encode() + parts[0].encode()
            for lit, rest in zip(literals, parts[1:]):
                if sync_literals:
                    self.send(out + b"{%d}\r\n" % len(lit),
                              out.decode(errors="replace") + "{%d}"
                              % len(lit))
                    raw = self.read(timeout)
                    r = self.parse(raw)
                    if r.kind != "continue":
                        self.absorb(r, res)
                        if r.kind == "tagged":
                            self.fail(f"literal refused: {r.short()}")
                            res.tagged = r
                            return res
                        self.fail(f"expected a continuation, got "
                                  f"{r.short()}")
                    self.send(lit, f"[{len(lit)} bytes]")
                    out = rest.encode()
                else:
                    out += b"{%d+}\r\n" % len(lit) + lit
                    out += rest.encode()
            self.send(out + b"\r\n", out[-60:].decode(errors="replace"))
        self.read_until(t, res, timeout)
        return res

    def read(self, timeout=None):
        try:
            raw = self.conn.response(timeout or 120)
        except Closed as e:
            self.fail(f"the server closed the connection: {e}")
            raise
        except (socket.timeout, TimeoutError):
            self.fail("no response within the time limit")
            raise Closed("timeout")
        self.log("<", raw)
        return raw

    def read_until(self, t, res, timeout=None):
        while True:
            raw = self.read(timeout)
            r = self.parse(raw)
            if r.kind == "tagged":
                if r.tag != t:
                    self.fail(f"tagged response for {r.tag}, expected {t}")
                    continue
                res.tagged = r
                if r.code:
                    res.codes.append((r.code, r.code_arg))
                self.world.event(self.name, f"  -> {r.short(200)}")
                if r.name == "BAD":
                    self.fail(f"BAD to a valid command: {r.short()}")
                return res
            if r.kind == "continue":
                self.fail(f"unexpected continuation: {r.short()}")
                continue
            self.absorb(r, res)

    # --- the model ------------------------------------------------------

    def absorb(self, r, res):
        res.untagged.append(r)
        name = r.name
        kind = res.kind
        if name == "EXISTS":
            if r.num < len(self.view):
                self.fail(f"EXISTS went down from {len(self.view)} to "
                          f"{r.num}")
                del self.view[r.num:]
            if not self.selected:
                self.fail("EXISTS with no mailbox selected")
            self.view.extend([None] * (r.num - len(self.view)))
        elif name == "RECENT":
            if self.rev2:
                self.fail("RECENT sent to an IMAP4rev2 client")
        elif name == "EXPUNGE":
            if kind in NO_EXPUNGE:
                self.fail(f"EXPUNGE during {kind} (RFC 9051 7.5.1)")
            if not 1 <= r.num <= len(self.view):
                self.fail(f"EXPUNGE {r.num} with {len(self.view)} "
                          f"messages")
                return
            uid = self.view.pop(r.num - 1)
            self.vflags.pop(uid, None)
            res.expunged.append(uid)
            if uid is not None:
                tr = self.truth()
                if uid in tr.msgs and kind not in ("EXPUNGE", "UID EXPUNGE",
                                                   "MOVE", "UID MOVE",
                                                   "CLOSE"):
                    self.fail(f"told EXPUNGE of UID {uid}, which nobody "
                              f"expunged")
        elif name == "FETCH":
            self.absorb_fetch(r, res)
        elif name == "BYE":
            if kind != "LOGOUT":
                self.fail(f"BYE outside LOGOUT: {r.short()}")
            res.bye = r
        elif name in ("OK", "NO", "BAD", "PREAUTH"):
            if name == "BAD":
                self.fail(f"untagged BAD: {r.short()}")
            if name == "PREAUTH":
                self.fail("PREAUTH after the greeting")
            if r.code:
                res.codes.append((r.code, r.code_arg))
            if r.code == "PERMANENTFLAGS":
                res.permanentflags = r.code_arg
        elif name == "FLAGS":
            self.keywords = [f for f in r.data if not f.startswith("\\")]
        elif name == "SEARCH":
            if self.rev2:
                self.fail("SEARCH response to an IMAP4rev2 client (it "
                          "gets ESEARCH)")
            if res.search is not None:
                self.fail("two SEARCH responses")
            res.search = r.data[0]
            res.search_view = list(self.view)
        elif name == "ESEARCH":
            res.esearch.append(r.data)
            res.search_view = list(self.view)
        elif name == "STATUS":
            res.status[r.data[0]] = r.data[1]
        elif name in ("LIST", "LSUB"):
            res.lists.append(r.data)
        elif name == "VANISHED":
            self.fail("VANISHED without QRESYNC enabled")
        elif name in ("CAPABILITY", "ENABLED", "NAMESPACE", "ID"):
            pass
        else:
            self.fail(f"unexpected response {r.short()}")

    def absorb_fetch(self, r, res):
        n, items = r.num, r.data
        if not 1 <= n <= len(self.view):
            self.fail(f"FETCH for message {n} with {len(self.view)} "
                      f"messages: {r.short()}")
            return
        uid = self.view[n - 1]
        if "UID" in items:
            if uid is not None and items["UID"] != uid:
                self.fail(f"message {n} is UID {uid}, but FETCH says UID "
                          f"{items['UID']}: {r.short()}")
                return
            uid = items["UID"]
            tr = self.truth()
            if uid not in tr.msgs and uid not in tr.dead and \
                    self.view[n - 1] is None and not tr.pending:
                self.fail(f"FETCH of UID {uid}, which {self.folder} "
                          f"never had: {r.short()}")
            self.view[n - 1] = uid
            if uid in self.view[:n - 1] or uid in self.view[n:]:
                self.fail(f"UID {uid} at two sequence numbers")
        if self.view[n - 1] is not None and len(self.view) > 1:
            # UIDs rise with the sequence numbers
            for j in (n - 2, n):
                if 0 <= j < len(self.view) and self.view[j] is not None:
                    if (j < n - 1 and self.view[j] >= uid) or \
                            (j > n - 1 and self.view[j] <= uid):
                        self.fail(f"UIDs out of order at {n}: "
                                  f"{self.view[max(0, n - 3):n + 2]}")
        if "FLAGS" in items:
            fl = items["FLAGS"]
            if self.rev2 and any(f.upper() == "\\RECENT" for f in fl):
                self.fail("\\Recent sent to an IMAP4rev2 client")
            if uid is not None:
                self.vflags[uid] = upflags(fl)
        # a message is known by its UID: its number may change within the
        # response (a UID FETCH may be followed by EXPUNGEs)
        key = uid if uid is not None else ("n", n, len(res.expunged))
        merged = res.fetch[key]
        for k, v in items.items():
            if k in merged and k not in ("FLAGS", "UID") and \
                    merged[k] != v:
                self.fail(f"two different values of {k} for message {n}")
            merged[k] = v
        res.fetch_uid[key] = uid

    def seq_of(self, uid):
        return self.view.index(uid) + 1 if uid in self.view else None

    # --- keeping up ---------------------------------------------------

    def learn(self):
        """Give every message of the view its UID, flags and Message-ID,
        as a client does when it is told of new mail.  A UID FETCH N:*
        may have given a new message its UID but not its flags."""
        missing = [i for i, u in enumerate(self.view)
                   if u is None or u not in self.vflags]
        if not missing or not self.selected:
            return
        lo, hi = missing[0] + 1, missing[-1] + 1
        res = self.run(f"FETCH {lo}:{hi} (UID FLAGS "
                       f"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        self.settle_fetch(res, list(range(lo, hi + 1)), uidcmd=False,
                          items=["UID", "FLAGS",
                                 "BODY[HEADER.FIELDS (MESSAGE-ID)]"])
        still = [i + 1 for i, u in enumerate(self.view) if u is None]
        if still:
            self.fail(f"messages {still[:10]} still have no UID after "
                      f"FETCH {lo}:{hi} (UID ...)")

    def check_sync(self):
        """The view after a command: in step with the truth."""
        if not self.selected:
            return
        expunge_allowed = self.last_kind not in NO_EXPUNGE
        tr = self.truth()
        known = [u for u in self.view if u is not None]
        if known != sorted(set(known)):
            self.fail("UIDs not ascending in the view")
        if None in self.view:
            return
        alive = tr.alive()
        mine = [u for u in self.view if u in tr.msgs]
        stale = [u for u in self.view if u not in tr.msgs]
        if expunge_allowed and stale:
            self.fail(f"UIDs {stale[:10]} were expunged (by "
                      f"{sorted(set(tr.dead.get(u, '?') for u in stale))})"
                      f" but the session was not told")
        if mine != alive:
            missing = sorted(set(alive) - set(mine))
            self.fail(f"view lacks UIDs {missing[:10]} ({len(missing)} "
                      f"in all) that exist in {self.folder}\n" +
                      tr.history(missing))
        if tr.pending:
            self.fail(f"{len(tr.pending)} new messages not shown")
        wrong = [(u, sorted(self.vflags.get(u, ())), sorted(tr.msgs[u][1]))
                 for u in mine if self.vflags.get(u) != tr.msgs[u][1]]
        if wrong:
            self.fail(f"flags differ from the truth (UID, shown, truth): "
                      f"{wrong[:5]} ({len(wrong)} in all)\n" +
                      tr.history(w[0] for w in wrong))

    # --- FETCH results --------------------------------------------------

    def settle_fetch(self, res, seqs, uidcmd, items, peek=True,
                     uids=None):
        """Check a FETCH's answer: every message asked for that still
        exists answered with every item; the data match what is known.
        seqs: the sequence numbers asked for (non-UID FETCH), or uids."""
        tr = self.truth()
        got = {}
        for n, it in res.fetch.items():
            uid = res.fetch_uid.get(n)
            if uid is None:
                continue
            asked = [k for k in it if k not in ("FLAGS", "UID")]
            if uidcmd and (asked or "UID" in it) and uid not in uids and \
                    asked:
                self.fail(f"UID FETCH answered for UID {uid}, which was "
                          f"not asked for")
            got[uid] = it
        if uidcmd:
            wanted = list(uids)
        else:
            wanted = [self.view[s - 1] if s <= len(self.view) else None
                      for s in seqs]
        for uid in wanted:
            if uid is None:
                continue
            alive = uid in tr.msgs
            it = got.get(uid)
            if it is None or any(self.item_missing(k, it) for k in items):
                if alive:
                    self.fail(f"no {'FETCH' if it is None else 'item'} "
                              f"for UID {uid} ({items}; got "
                              f"{sorted(it) if it else None}); at "
                              f"{self.seq_of(uid)} in the view\n" +
                              tr.history([uid]))
                continue
            mid = tr.msgs[uid][0] if alive else None
            self.check_items(uid, mid, it)
            if not peek and not self.readonly and alive:
                fl = tr.msgs[uid][1] | {"\\SEEN"}
                tr.set_flags(uid, fl, f"{self.last_tag} (\\Seen)")
        if res.tagged.name == "NO":
            if res.tagged.code == "EXPUNGEISSUED":
                dead = [u for u in wanted if u is not None and
                        u not in tr.msgs and u in tr.dead]
                if not dead:
                    self.fail(f"NO [EXPUNGEISSUED] though no message "
                              f"asked for was expunged: "
                              f"{res.tagged.short()}")
                else:
                    self.world.notes["FETCH NO [EXPUNGEISSUED] after "
                                     "another session expunged"] += 1
            else:
                self.fail(f"NO to a valid FETCH: {res.tagged.short()}")

    @staticmethod
    def item_missing(k, it):
        if k.startswith("BODY.PEEK"):
            k = "BODY" + k[9:]
        if k.startswith("BINARY.PEEK"):
            k = "BINARY" + k[11:]
        m = re.match(r"(BODY|BINARY)\[(.*)\]<(\d+)\.\d+>$", k)
        if m:
            k = f"{m.group(1)}[{m.group(2)}]<{m.group(3)}>"
        return k not in it

    def check_items(self, uid, mid, it):
        w = self.world
        mid = mid or (header_mid(it["BODY[HEADER.FIELDS (MESSAGE-ID)]"])
                      if it.get("BODY[HEADER.FIELDS (MESSAGE-ID)]") else
                      None)
        c = w.content.get(mid)
        if "BODY[HEADER.FIELDS (MESSAGE-ID)]" in it and mid is not None:
            hm = header_mid(it["BODY[HEADER.FIELDS (MESSAGE-ID)]"] or b"")
            if hm != mid:
                self.fail(f"UID {uid} is {mid}, but its header says {hm}")
        if "ENVELOPE" in it and mid is not None:
            em = it["ENVELOPE"]["message-id"]
            em = re.sub(rb"\s+", b"", em).decode() if em else None
            if em != mid:
                self.fail(f"ENVELOPE of UID {uid} names {em}, not {mid}")
        if c is None:
            return
        if "RFC822.SIZE" in it and it["RFC822.SIZE"] != c.size:
            self.fail(f"RFC822.SIZE of UID {uid} ({mid}) is "
                      f"{it['RFC822.SIZE']}, the message has {c.size}")
        if "INTERNALDATE" in it and c.date is not None:
            d = parse_date_time(it["INTERNALDATE"])
            if d != c.date:
                self.fail(f"INTERNALDATE of UID {uid} is "
                          f"{it['INTERNALDATE']}, expected "
                          f"{imap_date(c.date)}")
        for k in ("BODY[]", "RFC822"):
            if it.get(k) is not None:
                if hashlib.sha1(it[k]).hexdigest() != c.sha:
                    self.fail(f"{k} of UID {uid} ({mid}) differs from "
                              f"the message ({len(it[k])} bytes, expected "
                              f"{c.size})")
        h = it.get("BODY[HEADER]", it.get("RFC822.HEADER"))
        if h is not None and len(h) != c.header_len:
            self.fail(f"BODY[HEADER] of UID {uid} is {len(h)} bytes, "
                      f"expected {c.header_len}")
        t = it.get("BODY[TEXT]", it.get("RFC822.TEXT"))
        if t is not None and len(t) != c.size - c.header_len:
            self.fail(f"BODY[TEXT] of UID {uid} is {len(t)} bytes, "
                      f"expected {c.size - c.header_len}")
        for k, v in it.items():
            m = re.match(r"BODY\[\]<(\d+)>$", k)
            if m and v is not None:
                o = int(m.group(1))
                want = self.partial_len.get((uid, k))
                if want is not None and len(v) != max(0, min(want, c.size -
                                                             o)):
                    self.fail(f"{k} of UID {uid}: {len(v)} bytes, "
                              f"expected {max(0, min(want, c.size - o))}")
        bs = it.get("BODYSTRUCTURE")
        if bs is not None:
            old = w.structure.get(mid)
            if old is not None and old != bs:
                self.fail(f"BODYSTRUCTURE of {mid} changed")
            w.structure[mid] = bs
            if "BODY" in it and strip_ext(bs) != it["BODY"]:
                self.fail(f"BODY of UID {uid} is not BODYSTRUCTURE "
                          f"without its extension data")
        bs = w.structure.get(mid)
        if bs is not None:
            self.check_sections(uid, bs, it)

    partial_len = {}

    def check_sections(self, uid, bs, it):
        for k, v in it.items():
            m = re.match(r"(BODY|BINARY|BINARY\.SIZE)\[([\d.]+)\]$", k)
            if not m or v is None:
                continue
            part = part_of(bs, m.group(2))
            if part is None or part.get("parts") or \
                    part["type"] == b"MESSAGE":
                continue
            if m.group(1) == "BODY" and len(v) != part["octets"]:
                self.fail(f"{k} of UID {uid} is {len(v)} bytes; "
                          f"BODYSTRUCTURE says {part['octets']}")
            if m.group(1) == "BINARY":
                size = it.get(f"BINARY.SIZE[{m.group(2)}]")
                if size is not None and size != len(v):
                    self.fail(f"BINARY.SIZE[{m.group(2)}] of UID {uid} is "
                              f"{size}, BINARY has {len(v)} bytes")
                raw = it.get(f"BODY[{m.group(2)}]")
                enc = part["encoding"].upper()
                if raw is not None:
                    want = None
                    if enc == b"BASE64":
                        try:
                            want = binascii.a2b_base64(
                                re.sub(rb"\s+", b"", raw))
                        except binascii.Error:
                            want = None
                    elif enc in (b"7BIT", b"8BIT", b"BINARY"):
                        want = raw
                    if want is not None and want != v:
                        self.fail(f"{k} of UID {uid} ({len(v)} bytes) is "
                                  f"not the decoded {enc.decode()} part "
                                  f"({len(want)} bytes)")


def strip_ext(bs):
    """BODY (non-extensible) from a parsed BODYSTRUCTURE."""
    if bs.get("parts"):
        return {"type": bs["type"], "subtype": bs["subtype"],
                "parts": [strip_ext(p) for p in bs["parts"]]}
    out = {k: v for k, v in bs.items()
           if k in ("type", "subtype", "params", "id", "description",
                    "encoding", "octets", "envelope", "lines")}
    if "body" in bs:
        out["body"] = strip_ext(bs["body"])
    return out


def part_of(bs, path):
    """The part of a parsed BODYSTRUCTURE at a section part path."""
    cur = bs
    for i, x in enumerate(path.split(".")):
        k = int(x)
        if cur.get("parts"):
            if k > len(cur["parts"]):
                return None
            cur = cur["parts"][k - 1]
        elif cur["type"] == b"MESSAGE" and "body" in cur:
            inner = cur["body"]
            if inner.get("parts"):
                if k > len(inner["parts"]):
                    return None
                cur = inner["parts"][k - 1]
            elif k == 1:
                cur = inner
            else:
                return None
        elif k == 1 and i == 0:
            pass
        else:
            return None
    return cur


def leaf_paths(bs, prefix=""):
    """Section part paths of the leaves (and message/rfc822 parts)."""
    out = []
    if bs.get("parts"):
        for i, p in enumerate(bs["parts"], 1):
            path = f"{prefix}{i}"
            out.append(path)
            out += leaf_paths(p, path + ".")
    elif bs["type"] == b"MESSAGE" and "body" in bs:
        inner = bs["body"]
        if inner.get("parts"):
            out += leaf_paths(inner, prefix)
        else:
            out.append(prefix + "1")
    elif not prefix:
        out.append("1")
    return out


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- what the clients do ----------------------------------------------------

SYSTEM = ("\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted")
KEYWORDS = ("$Forwarded", "Work", "Personal", "$MDNSent", "Later",
            "$Junk")


def mutf7_decode(name):
    """A modified UTF-7 mailbox name (IMAP4rev1) as UTF-8 (IMAP4rev2)."""
    def one(m):
        if m.group(1) == "":
            return "&"
        b = m.group(1).replace(",", "/")
        b += "=" * (-len(b) % 4)
        return base64.b64decode(b).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", one, name)


def mailbox_arg(name, rev2=False):
    """A folder (known by its modified UTF-7 name) as a command argument
    for an IMAP4rev1 or an IMAP4rev2 client."""
    if rev2:
        name = mutf7_decode(name)
    if re.fullmatch(r"[A-Za-z0-9_&.-]+(/[A-Za-z0-9_&.-]+)*", name):
        return name
    return quote(name)


def fmt_set(nums):
    """A sequence set for sorted numbers, with ranges."""
    out = []
    nums = sorted(set(nums))
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}:{nums[j]}")
        i = j + 1
    return ",".join(out)


def apply_flags(old, op, flags):
    flags = upflags(flags)
    if op == "+":
        return old | flags
    if op == "-":
        return old - flags
    return flags


class Actor(Client):
    """A client that does what mail clients do, at random (from its own
    seeded generator), and checks the answers against the truth."""

    def __init__(self, world, user, name, rnd, server, folders, tls=False,
                 rev2=False):
        super().__init__(world, user, name, rnd, server, tls, rev2)
        self.folders = folders          # of this user
        self.partials = {}

    # --- choosing messages ----------------------------------------------

    def some_seqs(self, k):
        n = len(self.view)
        if n == 0:
            return []
        i = self.rnd.randrange(n)
        if self.rnd.random() < 0.5:
            return list(range(i + 1, min(n, i + k) + 1))
        return sorted(set(self.rnd.randrange(n) + 1 for _ in range(k)))

    def seq_set_text(self, seqs):
        n = len(self.view)
        if seqs and seqs[-1] == n and len(seqs) > 1 and \
                seqs == list(range(seqs[0], n + 1)) and \
                self.rnd.random() < 0.5:
            return f"{seqs[0]}:*"
        if len(seqs) == 1 and seqs[0] == n and self.rnd.random() < 0.3:
            return "*"
        return fmt_set(seqs)

    def target(self, k, open_end=False):
        """(command prefix, set text, sequence numbers or None, UIDs or
        None) for about k messages of the view."""
        seqs = self.some_seqs(k)
        if not seqs:
            return None
        if self.rnd.random() < 0.5:
            uids = [self.view[s - 1] for s in seqs]
            if self.rnd.random() < 0.2:
                # UIDs that do not exist are simply not there
                uids.append(max(uids) + self.rnd.randint(1, 3))
                if open_end and self.rnd.random() < 0.3:
                    return "UID ", f"{min(uids)}:*", None, \
                        [u for u in self.view if u >= min(uids)]
            return "UID ", fmt_set(uids), None, sorted(set(uids))
        return "", self.seq_set_text(seqs), seqs, None

    # --- commands -----------------------------------------------------

    def select(self, folder, readonly=False):
        self.reset_view()
        self.folder, self.readonly = folder, readonly
        verb = "EXAMINE" if readonly else "SELECT"
        res = self.run(f"{verb} {mailbox_arg(folder, self.rev2)}",
                       kind="SELECT")
        tr = self.truth()
        if not res.ok:
            self.fail(f"{verb} {folder} -> {res.tagged.short()}")
        exists = [r.num for r in res.untagged if r.name == "EXISTS"]
        if not exists:
            self.fail(f"{verb} without EXISTS")
        elif exists[-1] != tr.count():
            self.fail(f"{verb} {folder}: EXISTS {exists[-1]}, the folder "
                      f"has {tr.count()}")
        uidv = res.code("UIDVALIDITY")
        uidnext = res.code("UIDNEXT")
        if uidv is None or uidnext is None:
            self.fail(f"{verb} without UIDVALIDITY or UIDNEXT")
        if tr.uidvalidity is None:
            tr.uidvalidity = uidv
        elif uidv != tr.uidvalidity:
            self.fail(f"UIDVALIDITY of {folder} changed from "
                      f"{tr.uidvalidity} to {uidv}")
        top = max(list(tr.msgs) + list(tr.dead) + [0])
        if uidnext is not None and (uidnext <= top or
                                    uidnext < tr.uidnext):
            self.fail(f"UIDNEXT {uidnext} of {folder}, but UID {top} "
                      f"exists or existed")
        self.uidvalidity = uidv
        want = "READ-ONLY" if readonly else "READ-WRITE"
        if res.tagged.code != want:
            self.fail(f"{verb} answered [{res.tagged.code}], not [{want}]")
        if getattr(res, "permanentflags", None) is None:
            self.fail(f"{verb} without PERMANENTFLAGS")
        if self.rev2 and not any(r.name == "LIST" for r in res.untagged):
            self.fail(f"{verb} without a LIST response (IMAP4rev2)")
        unseen = res.code("UNSEEN")
        # the view: every UID and its flags, then what is new to the truth
        res2 = self.run("UID FETCH 1:* (UID FLAGS)")
        self.settle_fetch(res2, None, True, ["UID", "FLAGS"],
                          uids=[u for u in self.view if u is not None])
        self.learn()
        if unseen is not None and None not in self.view:
            first = next((i + 1 for i, u in enumerate(self.view)
                          if u in tr.msgs and
                          "\\SEEN" not in tr.msgs[u][1]), None)
            if unseen != first:
                self.fail(f"[UNSEEN {unseen}], but the first message "
                          f"without \\Seen is {first}")

    def op_fetch(self):
        r = self.rnd
        # now and then ENVELOPE and BODYSTRUCTURE of hundreds of
        # messages, as a client filling its message list asks: the
        # structure cache then takes many records in one command, each
        # put back with its second part while the pending ones grow
        sweep = r.random() < 0.04
        heavy = not sweep and r.random() < 0.55
        t = self.target(r.randint(300, 1000) if sweep else
                        r.randint(1, 6) if heavy else r.randint(1, 200),
                        open_end=not heavy and not sweep)
        if t is None:
            return
        prefix, sset, seqs, uids = t
        items = ["UID"] if prefix or r.random() < 0.5 else []
        items += r.sample(["FLAGS", "RFC822.SIZE", "INTERNALDATE"],
                          r.randint(0, 3))
        self.partials = {}
        peek = True
        single = (seqs and len(seqs) == 1) or (uids and len(uids) == 1)
        u1 = (self.view[seqs[0] - 1] if seqs else uids[0]) if single \
            else None
        bs = None
        if u1 is not None and u1 in self.truth().msgs:
            bs = self.world.structure.get(self.truth().msgs[u1][0])
        macro = None
        if heavy:
            extra = r.sample(["ENVELOPE", "BODYSTRUCTURE", "BODY",
                              "BODY.PEEK[]", "BODY.PEEK[HEADER]",
                              "BODY.PEEK[TEXT]", "BODY.PEEK[1]",
                              "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT "
                              "MESSAGE-ID)]",
                              "BODY.PEEK[HEADER.FIELDS.NOT (RECEIVED "
                              "DKIM-SIGNATURE)]",
                              "PARTIAL", "PARTIAL"], r.randint(1, 4))
            for e in extra:
                if e == "PARTIAL":
                    o = r.choice([0, 0, r.randint(1, 500),
                                  r.randint(1, 40000)])
                    n = r.choice([1, 100, r.randint(1, 5000), 100000])
                    if f"BODY[]<{o}>" in self.partials:
                        continue
                    self.partials[f"BODY[]<{o}>"] = n
                    e = f"BODY.PEEK[]<{o}.{n}>"
                items.append(e)
            if bs is not None and r.random() < 0.7:
                paths = leaf_paths(bs)
                for p in r.sample(paths, min(len(paths), r.randint(1, 3))):
                    part = part_of(bs, p)
                    items.append(f"BODY.PEEK[{p}]")
                    if part is not None and not part.get("parts") and \
                            part["type"] != b"MESSAGE":
                        items += [f"BINARY.PEEK[{p}]", f"BINARY.SIZE[{p}]"]
                        if "." in p or bs.get("parts"):
                            items.append(f"BODY.PEEK[{p}.MIME]")
            if not self.readonly and r.random() < 0.15:
                items = [i.replace("BODY.PEEK[]", "BODY[]") for i in items]
                peek = not any(i.startswith("BODY[") for i in items)
            if not self.rev2 and r.random() < 0.1:
                items.append(r.choice(["RFC822.HEADER", "RFC822.SIZE"]))
            if r.random() < 0.08:
                macro = r.choice(["ALL", "FAST", "FULL"])
        if sweep:
            items += r.sample(["ENVELOPE", "BODYSTRUCTURE"], 2)
            self.world.notes["fetch sweeps"] += 1
        items = list(dict.fromkeys(items))
        if macro:
            text = f"{prefix}FETCH {sset} {macro}"
            items = {"ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE",
                             "ENVELOPE"],
                     "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
                     "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE",
                              "ENVELOPE", "BODY"]}[macro]
            self.partials = {}
            peek = True
        elif not items:
            items = ["FLAGS"]
            text = f"{prefix}FETCH {sset} (FLAGS)"
        else:
            text = f"{prefix}FETCH {sset} ({' '.join(items)})"
        if prefix and "UID" not in items:
            items.append("UID")
        tr = self.truth()
        before = {u: tr.msgs[u][1] for u in (uids or [self.view[s - 1]
                                                     for s in seqs])
                  if u in tr.msgs}
        asked = set(uids or ())
        if uids is not None:
            # a UID the session was not shown yet need not be answered
            uids = [u for u in uids if u in self.view]
        known = set(self.view)
        res = self.run(text, kind=prefix + "FETCH")
        if uids is not None:
            # but a message announced by EXISTS in this very response
            # may be, when its UID is in the set ("*" is the highest UID
            # when the command runs)
            lo = int(sset.split(":")[0]) if sset.endswith(":*") else None
            uids += sorted({u for u in res.fetch_uid.values()
                            if u not in known and
                            (u in asked or lo is not None and u >= lo)})
        check_items = [i.replace("BODY[]", "BODY.PEEK[]") for i in items]
        self.settle_fetch(res, seqs, bool(prefix), check_items, peek=peek,
                          uids=uids)
        if not peek:
            for n, it in res.fetch.items():
                u = res.fetch_uid.get(n)
                if u in before and "\\SEEN" not in before[u] and \
                        "FLAGS" not in it:
                    self.fail(f"FETCH BODY[] set \\Seen on UID {u} but "
                              f"sent no FLAGS")

    def check_items(self, uid, mid, it):
        mid2 = mid
        for k, v in it.items():
            m = re.match(r"BODY\[\]<(\d+)>$", k)
            if m and k in self.partials:
                self.partial_len[(uid, k)] = self.partials[k]
        super().check_items(uid, mid2, it)

    def settle_fetch(self, res, seqs, uidcmd, items, peek=True, uids=None):
        tr = self.truth()
        # new messages get their UID in the truth from their Message-ID
        for n, it in res.fetch.items():
            uid = res.fetch_uid.get(n)
            if uid is None or uid in tr.msgs or uid in tr.dead:
                continue
            h = it.get("BODY[HEADER.FIELDS (MESSAGE-ID)]")
            mid = header_mid(h) if h else None
            if mid in tr.pending:
                tr.add(uid, mid, tr.pending.pop(mid),
                       f"{self.last_tag} found")
            elif h is not None:
                self.fail(f"UID {uid} ({mid}) in {self.folder} was never "
                          f"put there")
        if uidcmd and uids is None:
            uids = []
        super().settle_fetch(res, seqs or [], uidcmd, items, peek, uids)

    def learn(self):
        super().learn()
        tr = self.truth()
        new = [u for u in self.view if u is not None and
               u not in tr.msgs and u not in tr.dead]
        if new:
            res = self.run(f"UID FETCH {fmt_set(new)} (UID "
                           f"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            self.settle_fetch(res, None, True,
                              ["UID", "BODY[HEADER.FIELDS (MESSAGE-ID)]"],
                              uids=new)

    def op_store(self, deleted=False):
        r = self.rnd
        t = self.target(r.randint(1, 12))
        if t is None:
            return None
        prefix, sset, seqs, uids = t
        tr = self.truth()
        if "*" in sset and set(tr.alive()) - set(self.view):
            # "*" is the last message when the command runs, which may be
            # one this session has not been told of yet; whether the
            # server has looked for new mail by then is its choice, so
            # the test cannot know what such a STORE changes
            sset = fmt_set(seqs)
        if deleted:
            op, flags, silent = "+", ["\\Deleted"], r.random() < 0.7
        else:
            op = r.choice("+-+-=")
            pool = [f for f in SYSTEM if f != "\\Deleted"] + list(KEYWORDS)
            if r.random() < 0.1:
                pool.append("\\Deleted")
            flags = r.sample(pool, r.randint(0 if op == "=" else 1, 3))
            silent = r.random() < 0.4
        item = {"+": "+FLAGS", "-": "-FLAGS", "=": "FLAGS"}[op]
        if silent:
            item += ".SILENT"
        targets = uids if prefix else [self.view[s - 1] for s in seqs]
        targets = [u for u in targets if u in self.view]
        tr = self.truth()
        res = self.run(f"{prefix}STORE {sset} {item} ({' '.join(flags)})",
                       kind=prefix + "STORE")
        if not res.ok:
            dead = [u for u in targets if u not in tr.msgs]
            if res.tagged.code == "EXPUNGEISSUED" and dead:
                self.world.notes["STORE NO [EXPUNGEISSUED]"] += 1
            else:
                self.fail(f"NO to a valid STORE: {res.tagged.short()}")
            return None
        changed = []
        for u in targets:
            if u in tr.msgs:
                new = apply_flags(tr.msgs[u][1], op, flags)
                tr.set_flags(u, new, self.last_tag)
                changed.append(u)
                if silent:
                    self.vflags[u] = new
        if not silent:
            shown = {res.fetch_uid.get(n) for n, it in res.fetch.items()
                     if "FLAGS" in it}
            lost = [u for u in changed if u not in shown]
            if lost:
                self.fail(f"STORE without .SILENT sent no FETCH FLAGS for "
                          f"UIDs {lost[:10]}")
            if prefix:
                nouid = [n for n, it in res.fetch.items()
                         if "FLAGS" in it and "UID" not in it]
                if nouid:
                    self.fail(f"UID STORE answered FETCH without UID for "
                              f"{nouid[:5]}")
        return changed

    def op_expunge(self):
        r = self.rnd
        flagged = self.op_store(deleted=True)
        if flagged is None:
            return
        tr = self.truth()
        if r.random() < 0.5 or not flagged:
            res = self.run("EXPUNGE")
            doomed = [u for u in tr.alive() if "\\DELETED" in tr.msgs[u][1]]
        else:
            mine = sorted(r.sample(flagged, r.randint(1, len(flagged))))
            res = self.run(f"UID EXPUNGE {fmt_set(mine)}",
                           kind="UID EXPUNGE")
            doomed = [u for u in mine if u in tr.msgs and
                      "\\DELETED" in tr.msgs[u][1]]
        if not res.ok:
            self.fail(f"NO to a valid {res.kind}: {res.tagged.short()}")
            return
        for u in doomed:
            tr.kill(u, self.last_tag)
        told = set(res.expunged)
        notold = [u for u in doomed if u not in told]
        if notold:
            self.fail(f"{res.kind} removed UIDs {notold[:10]} without "
                      f"telling the session")
        wrong = [u for u in told if u in tr.msgs]
        if wrong:
            self.fail(f"{res.kind} said EXPUNGE for UIDs {wrong[:10]} that "
                      f"were not \\Deleted")

    def op_copy(self, move=False):
        r = self.rnd
        t = self.target(r.randint(1, 5))
        if t is None:
            return
        prefix, sset, seqs, uids = t
        dest = r.choice([f for f in self.folders if f != self.folder])
        targets = uids if prefix else [self.view[s - 1] for s in seqs]
        targets = sorted(u for u in set(targets) if u in self.view)
        tr, dt = self.truth(), self.truth(dest)
        verb = "MOVE" if move else "COPY"
        res = self.run(f"{prefix}{verb} {sset} {mailbox_arg(dest, self.rev2)}",
                       kind=prefix + verb)
        dead = [u for u in targets if u not in tr.msgs]
        if not res.ok:
            if res.tagged.code == "EXPUNGEISSUED" and dead:
                self.world.notes[f"{verb} NO [EXPUNGEISSUED]"] += 1
            else:
                self.fail(f"NO to a valid {verb}: {res.tagged.short()}")
            return
        if dead:
            self.fail(f"{verb} of UIDs {dead} that another session had "
                      f"expunged answered OK")
        cu = res.code("COPYUID")
        alive = [u for u in targets if u in tr.msgs]
        if not alive:
            return
        if cu is None:
            self.fail(f"{verb} OK without COPYUID")
            return
        uv, src, dst = cu[0], g.expand(cu[1]), g.expand(cu[2])
        if dt.uidvalidity is None:
            dt.uidvalidity = uv
        elif uv != dt.uidvalidity:
            self.fail(f"COPYUID names UIDVALIDITY {uv} of {dest}, which "
                      f"is {dt.uidvalidity}")
        if sorted(src) != alive or len(src) != len(dst):
            self.fail(f"COPYUID source {src} / destination {dst}, but "
                      f"{alive} were {verb.lower()}d")
            return
        for s, d in zip(src, dst):
            if d in dt.msgs or d in dt.dead or d < dt.uidnext:
                self.fail(f"COPYUID gives {dest} UID {d}, which is not new"
                          f" (UIDNEXT at least {dt.uidnext})")
                return
            dt.add(d, tr.msgs[s][0], tr.msgs[s][1],
                   f"{self.last_tag} from {self.folder} UID {s}")
        if move:
            for s in src:
                tr.kill(s, self.last_tag)
            notold = [u for u in src if u not in res.expunged]
            if notold:
                self.fail(f"MOVE did not send EXPUNGE for UIDs {notold}")

    def op_append(self, pool):
        r = self.rnd
        dest = self.folder if self.folder and r.random() < 0.6 else \
            r.choice(self.folders)
        n = 1 if r.random() < 0.8 else r.randint(2, 3)
        text, lits, msgs = f"APPEND {mailbox_arg(dest, self.rev2)}", [], []
        for i in range(n):
            mid, data = pool.make(self.name, r)
            flags = r.sample(["\\Seen", "\\Flagged", "\\Answered",
                              "\\Draft", "$Forwarded", "Work"],
                             r.randint(0, 2))
            date = None
            if flags or r.random() < 0.3:
                text += f" ({' '.join(flags)})"
            if r.random() < 0.5:
                date = 1704067200 + r.randrange(700 * 86400)
                text += f' "{imap_date(date)}"'
            text += " \x00"
            lits.append(data)
            msgs.append((mid, flags, data, date))
            self.world.content[mid] = Content(data, date)
        res = self.run(text, literals=lits, kind="APPEND",
                       sync_literals=r.random() < 0.3,
                       loggable=text.replace("\x00", "{..}"))
        if not res.ok:
            self.fail(f"NO to a valid APPEND: {res.tagged.short()}")
            return
        au = res.code("APPENDUID")
        dt = self.truth(dest)
        if au is None:
            self.fail("APPEND OK without APPENDUID")
            return
        uv, uids = au[0], g.expand(au[1])
        if dt.uidvalidity is None:
            dt.uidvalidity = uv
        elif uv != dt.uidvalidity:
            self.fail(f"APPENDUID names UIDVALIDITY {uv} of {dest}, which "
                      f"is {dt.uidvalidity}")
        if len(uids) != n:
            self.fail(f"APPENDUID has {len(uids)} UIDs for {n} messages")
            return
        for u, (mid, flags, data, date) in zip(uids, msgs):
            if u in dt.msgs or u in dt.dead or u < dt.uidnext:
                self.fail(f"APPENDUID gives UID {u}, which is not new "
                          f"(UIDNEXT at least {dt.uidnext})")
                return
            dt.add(u, mid, flags, f"{self.last_tag} APPEND")

    def op_search(self):
        r = self.rnd
        tr = self.truth()
        keys, pred = self.search_key(2)
        uid = r.random() < 0.5
        ret = ""
        if not self.rev2 and r.random() < 0.15 or \
                self.rev2 and r.random() < 0.5:
            ret = "RETURN (" + " ".join(r.sample(["MIN", "MAX", "COUNT",
                                                   "ALL"],
                                                  r.randint(0, 3))) + ") "
            if ret == "RETURN () ":
                ret = "RETURN (ALL) " if r.random() < 0.5 else ret
        charset = "CHARSET UTF-8 " if r.random() < 0.1 else ""
        prefix = "UID " if uid else ""
        res = self.run(f"{prefix}SEARCH {ret}{charset}{keys}",
                       kind=prefix + "SEARCH")
        if not res.ok:
            self.fail(f"NO to a valid SEARCH: {res.tagged.short()}")
            return
        # what the server said
        opts = set(re.findall(r"MIN|MAX|COUNT|ALL", ret)) if ret else set()
        if ret == "RETURN () ":
            opts = {"ALL"}
        e = None
        if res.search is not None:
            if ret or self.rev2:
                self.fail("SEARCH response where ESEARCH was due")
            if res.esearch:
                self.fail("both SEARCH and ESEARCH")
            nums = res.search
        else:
            if len(res.esearch) != 1:
                self.fail(f"{len(res.esearch)} ESEARCH responses and no "
                          f"SEARCH")
                return
            e = res.esearch[0]
            if not ret:
                opts = {"ALL"}
            if e["TAG"] != res.tagged.tag:
                self.fail(f"ESEARCH names tag {e['TAG']}")
            if e["UID"] != uid:
                self.fail(f"ESEARCH UID marker is {e['UID']}")
            extra = set(e) - {"TAG", "UID"} - opts
            if extra:
                self.fail(f"ESEARCH returned {sorted(extra)}, asked for "
                          f"{sorted(opts)}")
            nums = g.expand(e["ALL"]) if "ALL" in e else \
                ([] if "ALL" in opts else None)
        # the numbers and UIDs are those of the view when the answer came
        # (a UID SEARCH may be followed by EXPUNGEs)
        view = getattr(res, "search_view", self.view)
        n = len(view)
        if None in view or pred is None:
            return
        want = {u for i, u in enumerate(view, 1)
                if u in tr.msgs and pred(i, u, tr.msgs[u])}
        dead = any(u not in tr.msgs for u in view)
        if e is not None and not dead:
            key = sorted(want) if uid else \
                [i for i, u in enumerate(view, 1) if u in want]
            exp = {"MIN": key[0] if key else None,
                   "MAX": key[-1] if key else None, "COUNT": len(key)}
            for k in ("MIN", "MAX", "COUNT"):
                if k in opts and e.get(k) != exp[k] and \
                        not (k != "COUNT" and exp[k] is None and k not in e):
                    self.fail(f"SEARCH {ret}{keys}: {k} {e.get(k)}, "
                              f"expected {exp[k]}")
        if nums is None:
            return
        if uid:
            bad = [x for x in nums if x not in view]
            if bad:
                self.fail(f"UID SEARCH found UIDs {bad[:10]} not in the "
                          f"view")
            got = set(nums)
        else:
            bad = [x for x in nums if x > n]
            if bad:
                self.fail(f"SEARCH found numbers {bad[:10]} above the "
                          f"{n} messages")
            got = {view[x - 1] for x in nums if x <= n}
        alive_got = {u for u in got if u in tr.msgs}
        if alive_got != want:
            self.fail(f"SEARCH {keys}: found {len(alive_got)}, expected "
                      f"{len(want)}; extra {sorted(alive_got - want)[:8]}, "
                      f"missing {sorted(want - alive_got)[:8]}\n" +
                      tr.history(sorted(alive_got ^ want)))

    def search_key(self, depth):
        """A search key and a predicate (seq, UID, [mid, flags]) -> bool
        on the truth, or None where the truth cannot tell."""
        r = self.rnd
        n = max(len(self.view), 1)
        c = r.random()
        if depth > 0 and c < 0.12:
            k, p = self.search_key(depth - 1)
            return f"NOT {k}", (None if p is None else
                                (lambda i, u, m: not p(i, u, m)))
        if depth > 0 and c < 0.24:
            a, pa = self.search_key(depth - 1)
            b, pb = self.search_key(depth - 1)
            return f"OR {a} {b}", (None if pa is None or pb is None else
                                   (lambda i, u, m: pa(i, u, m) or
                                    pb(i, u, m)))
        if depth > 0 and c < 0.34:
            a, pa = self.search_key(depth - 1)
            b, pb = self.search_key(depth - 1)
            return f"({a} {b})", (None if pa is None or pb is None else
                                  (lambda i, u, m: pa(i, u, m) and
                                   pb(i, u, m)))
        c = r.random()
        flagkeys = {"SEEN": "\\SEEN", "ANSWERED": "\\ANSWERED",
                    "FLAGGED": "\\FLAGGED", "DELETED": "\\DELETED",
                    "DRAFT": "\\DRAFT"}
        if c < 0.4:
            k = r.choice(list(flagkeys))
            f = flagkeys[k]
            if r.random() < 0.5:
                return k, lambda i, u, m: f in m[1]
            return "UN" + k, lambda i, u, m: f not in m[1]
        if c < 0.55:
            kw = r.choice(KEYWORDS)
            f = kw.upper()
            if r.random() < 0.5:
                return f"KEYWORD {kw}", lambda i, u, m: f in m[1]
            return f"UNKEYWORD {kw}", lambda i, u, m: f not in m[1]
        if c < 0.65:
            lo = r.randint(1, n)
            hi = min(n, lo + r.randint(0, 300))
            return f"{lo}:{hi}", lambda i, u, m: lo <= i <= hi
        if c < 0.75:
            known = [u for u in self.view if u is not None] or [1]
            lo = r.choice(known)
            hi = lo + r.randint(0, 400)
            return f"UID {lo}:{hi}", lambda i, u, m: lo <= u <= hi
        if c < 0.85:
            size = r.choice([2000, 5000, 10000, 50000])
            sizes = self.world.content
            big = r.random() < 0.5

            def p(i, u, m, size=size, big=big):
                s = sizes[m[0]].size
                return s > size if big else s < size
            return (f"LARGER {size}" if big else f"SMALLER {size}"), p
        if c < 0.9:
            return "ALL", lambda i, u, m: True
        word = r.choice(["meeting", "invoice", "zebracorn", "Re:",
                         "xylophonequark", "release", "Grüße"])
        where = r.choice(["SUBJECT", "BODY", "TEXT", "FROM"])
        if not word.isascii():
            return f'{where} "{word}"', None
        return f'{where} "{word}"', None

    def op_status(self):
        r = self.rnd
        others = [f for f in self.folders if f != self.folder]
        f = r.choice(others)
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE",
                 "DELETED"]
        if not self.rev2:
            items.append("RECENT")
        items = r.sample(items, r.randint(1, len(items)))
        res = self.run(f"STATUS {mailbox_arg(f, self.rev2)} "
                       f"({' '.join(items)})")
        if not res.ok:
            self.fail(f"NO to a valid STATUS: {res.tagged.short()}")
            return
        st = list(res.status.values())
        if len(st) != 1:
            self.fail(f"{len(st)} STATUS responses")
            return
        self.check_status(f, st[0], items)

    def check_status(self, f, st, items):
        tr = self.truth(f)
        if set(st) != {i.upper() for i in items}:
            self.fail(f"STATUS items {sorted(st)}, asked {sorted(items)}")
        want = {"MESSAGES": tr.count(),
                "UNSEEN": len(tr.pending) + sum(
                    1 for m in tr.msgs.values() if "\\SEEN" not in m[1]),
                "DELETED": sum(1 for m in tr.msgs.values()
                               if "\\DELETED" in m[1])}
        if all(m[0] in self.world.content for m in tr.msgs.values()) and \
                all(mid in self.world.content for mid in tr.pending):
            want["SIZE"] = sum(self.world.content[m[0]].size
                               for m in tr.msgs.values()) + \
                sum(self.world.content[mid].size for mid in tr.pending)
        if tr.uidvalidity is not None:
            want["UIDVALIDITY"] = tr.uidvalidity
        for k, v in want.items():
            if k in st and st[k] != v:
                self.fail(f"STATUS {f} {k} {st[k]}, expected {v}")
        top = max(list(tr.msgs) + list(tr.dead) + [0])
        if "UIDNEXT" in st and (st["UIDNEXT"] <= top or
                                st["UIDNEXT"] < tr.uidnext):
            self.fail(f"STATUS {f} UIDNEXT {st['UIDNEXT']}, but UID {top} "
                      f"exists or existed")

    def op_list(self):
        r = self.rnd
        status = r.random() < 0.5
        cmd = 'LIST "" "*"'
        if status:
            cmd += " RETURN (STATUS (MESSAGES UNSEEN))"
        res = self.run(cmd)
        if not res.ok:
            self.fail(f"NO to a valid LIST: {res.tagged.short()}")
            return
        names = {self.folder_name(d[2]) for d in res.lists}
        missing = [f for f in self.folders if f not in names]
        if missing:
            self.fail(f"LIST lacks {missing}")
        if status:
            for name, st in res.status.items():
                name = self.folder_name(name)
                if name in self.folders and name != self.folder:
                    self.check_status(name, st, ["MESSAGES", "UNSEEN"])

    def folder_name(self, raw):
        """A mailbox name from a response, as the test knows it."""
        name = raw.decode("utf-8")
        if self.rev2:
            known = {mutf7_decode(f): f for f in self.folders}
            return known.get(name, name)
        return name

    def op_noop(self):
        res = self.run(self.rnd.choice(["NOOP", "NOOP", "CHECK"]))
        if not res.ok:
            self.fail(f"{res.kind} -> {res.tagged.short()}")

    def op_close(self):
        tr = self.truth()
        verb = "CLOSE" if not self.readonly and self.rnd.random() < 0.6 \
            else "UNSELECT"
        res = self.run(verb)
        if not res.ok:
            self.fail(f"{verb} -> {res.tagged.short()}")
        if res.expunged:
            self.fail(f"{verb} sent EXPUNGE")
        if verb == "CLOSE":
            for u in tr.alive():
                if "\\DELETED" in tr.msgs[u][1]:
                    tr.kill(u, self.last_tag)
        self.reset_view()

    def op_readonly_store(self):
        """A STORE in a read-only mailbox: NO [READ-ONLY] is the answer."""
        t = self.target(2)
        if t is None:
            return
        prefix, sset, seqs, uids = t
        res = self.run(f"{prefix}STORE {sset} +FLAGS (\\Flagged)",
                       kind=prefix + "STORE")
        if res.ok or res.tagged.code != "READ-ONLY":
            self.fail(f"STORE in a read-only mailbox -> "
                      f"{res.tagged.short()}")

    def start_idle(self):
        t = self.tag()
        self.world.event(self.name, f"{t} IDLE")
        self.send(f"{t} IDLE\r\n")
        res = Result("IDLE")
        res.kind = "IDLE"
        while True:
            raw = self.read()
            r = self.parse(raw)
            if r.kind == "continue":
                break
            if r.kind == "tagged":
                self.fail(f"IDLE refused: {r.short()}")
                return
            self.absorb(r, res)
        self.idling = (t, res)
        self.last_kind = "IDLE"

    def caught_up(self):
        tr = self.truth()
        if len(self.view) != tr.count():
            return False
        if any(u is not None and u not in tr.msgs for u in self.view):
            return False
        return all(self.vflags.get(u) == tr.msgs[u][1]
                   for u in self.view if u is not None)

    def end_idle(self, wait=5.0):
        """Wait (bounded) until IDLE has shown every change, then DONE."""
        t, res = self.idling
        self.idling = None
        deadline = time.monotonic() + wait
        ok = self.caught_up()
        while not ok and time.monotonic() < deadline:
            try:
                raw = self.conn.response(max(0.01, deadline -
                                             time.monotonic()))
            except (socket.timeout, TimeoutError):
                break
            except Closed as e:
                self.fail(f"the server closed the connection in IDLE: {e}")
                raise
            self.log("<", raw)
            r = self.parse(raw)
            if r.kind != "untagged":
                self.fail(f"in IDLE: {r.short()}")
                continue
            self.absorb(r, res)
            ok = self.caught_up()
        if not ok:
            tr = self.truth()
            stale = [u for u in self.view
                     if u is not None and u not in tr.msgs]
            wrong = [u for u in self.view if u in tr.msgs and
                     self.vflags.get(u) != tr.msgs[u][1]]
            self.fail(f"IDLE did not show every change within {wait} s: "
                      f"view {len(self.view)} messages, the folder has "
                      f"{tr.count()}; stale UIDs {stale[:10]}; wrong flags "
                      f"{wrong[:10]}\n" + tr.history(stale + wrong))
        self.world.event(self.name, "DONE")
        self.send("DONE\r\n")
        self.read_until(t, res)
        if not res.ok:
            self.fail(f"IDLE -> {res.tagged.short()}")

    def logout(self):
        t = self.tag()
        self.world.event(self.name, f"{t} LOGOUT")
        self.send(f"{t} LOGOUT\r\n")
        res = Result("LOGOUT")
        res.kind = "LOGOUT"
        res.bye = None
        self.read_until(t, res)
        if res.bye is None:
            self.fail("LOGOUT without BYE")
        end = self.conn.at_eof(10)
        if end is not True:
            self.fail(f"the connection stayed open after LOGOUT: {end!r}")
        self.disconnect()


# --- message sources ----------------------------------------------------

class Pool:
    """Realistic messages (made by mkmaildir) to APPEND and deliver, each
    time under a new Message-ID."""

    def __init__(self, directory, seed):
        self.msgs = []
        for sub in ("cur", "new"):
            d = os.path.join(directory, sub)
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    self.msgs.append(f.read())
        self.seed = seed
        self.n = 0

    def make(self, who, rnd, lf=False):
        self.n += 1
        mid = f"<{who}.{self.n}.s{self.seed}@stress.example>"
        data = rnd.choice(self.msgs)
        head, sep, rest = data.partition(b"\n\n")
        head = re.sub(rb"(?im)^Message-ID:.*(\n[ \t].*)*\n?", b"",
                      head + b"\n")
        data = b"Message-ID: " + mid.encode() + b"\n" + head.rstrip(b"\n") \
            + b"\n\n" + rest
        return mid, (data if lf else crlf(data))


class Mda:
    """Delivers into a user's folder as an MDA does (tmp/, then a rename
    into new/), from the test's own thread."""

    def __init__(self, world, pool, uid=None, gid=None):
        self.world, self.pool = world, pool
        self.uid, self.gid = uid, gid
        self.n = 0

    def deliver(self, user, folder, rnd):
        mid, data = self.pool.make("mda", rnd, lf=True)
        self.n += 1
        d = user.maildir if folder == "INBOX" else os.path.join(
            user.maildir, "." + folder.replace("/", "."))
        t = 1760000000 + self.n * 60
        base = "%d.M%dP%dQ%d.stress" % (t, self.n, os.getpid(), self.n)
        tmp = os.path.join(d, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
        if self.uid is not None:
            os.chown(tmp, self.uid, self.gid)
        os.utime(tmp, (t, t))
        os.rename(tmp, os.path.join(d, "new", base))
        self.world.content[mid] = Content(crlf(data), t)
        self.world.folder(user.name, folder).pending[mid] = frozenset()
        self.world.event("mda", f"delivered {mid} into {user.name}/"
                         f"{folder}")


# --- checking the disk ---------------------------------------------------

def disk_state(maildir, folder):
    """Counter of (Message-ID, flags) for the files of a folder."""
    d = maildir if folder == "INBOX" else os.path.join(
        maildir, "." + folder.replace("/", "."))
    kw = {}
    try:
        with open(os.path.join(d, "dovecot-keywords"), "rb") as f:
            for line in f.read().decode().splitlines():
                i, _, name = line.partition(" ")
                if i.isdigit() and name:
                    kw[chr(ord("a") + int(i))] = name.upper()
    except FileNotFoundError:
        pass
    letters = {"D": "\\DRAFT", "F": "\\FLAGGED", "R": "\\ANSWERED",
               "S": "\\SEEN", "T": "\\DELETED"}
    out = collections.Counter()
    for sub in ("cur", "new"):
        for n in os.listdir(os.path.join(d, sub)):
            with open(os.path.join(d, sub, n), "rb") as f:
                mid = header_mid(f.read(65536))
            fl = set()
            if ":2," in n:
                for ch in n.rsplit(":2,", 1)[1]:
                    if ch in letters:
                        fl.add(letters[ch])
                    elif ch in kw:
                        fl.add(kw[ch])
            out[(mid, frozenset(fl))] += 1
    return out


def truth_state(tr):
    out = collections.Counter()
    for mid, fl in tr.msgs.values():
        out[(mid, fl)] += 1
    for mid, fl in tr.pending.items():
        out[(mid, fl)] += 1
    return out


# --- the run ------------------------------------------------------------

class Runner:
    """Runs the actors one command at a time in an order drawn from the
    seed, for a number of steps."""

    WEIGHTS = {"fetch": 26, "store": 12, "expunge": 4, "copy": 4,
               "move": 4, "append": 5, "search": 9, "noop": 5, "idle": 4,
               "status": 3, "list": 1, "select": 5, "close": 1,
               "logout": 1.5}
    RO_WEIGHTS = {"fetch": 30, "search": 10, "noop": 6, "idle": 5,
                  "status": 3, "list": 1, "select": 6, "close": 1,
                  "logout": 1.5, "rostore": 0.5}

    def __init__(self, world, actors, users, mda, pool, rnd):
        self.world, self.actors, self.users = world, actors, users
        self.mda, self.pool, self.rnd = mda, pool, rnd
        # how far run() got, for a run that stops on a failure
        self.done, self.t0 = 0, None

    def step(self):
        r, w = self.rnd, self.world
        if r.random() < 0.05:
            u = r.choice(self.users)
            folder = "INBOX" if r.random() < 0.8 else r.choice(u.folders)
            self.mda.deliver(u, folder, r)
            w.ops["deliver (MDA)"] += 1
            return
        a = r.choice(self.actors)
        if a.conn is None:
            a.connect()
            w.ops["login"] += 1
            self.pick_folder(a)
            return
        if a.idling:
            a.end_idle()
            w.ops["idle"] += 1
            self.after(a)
            return
        if not a.selected:
            self.pick_folder(a)
            return
        sent = a.n
        weights = self.RO_WEIGHTS if a.readonly else self.WEIGHTS
        ops = list(weights)
        op = r.choices(ops, [weights[o] for o in ops])[0]
        if op == "select":
            self.pick_folder(a)
            return
        if op == "logout":
            a.logout()
            w.ops["logout"] += 1
            return
        if op == "idle":
            a.start_idle()
            return
        if op == "close":
            a.op_close()
            w.ops["close/unselect"] += 1
            return
        if op == "append":
            a.op_append(self.pool)
        elif op == "move":
            a.op_copy(move=True)
        elif op == "rostore":
            a.op_readonly_store()
        else:
            getattr(a, "op_" + op)()
        w.ops[op] += 1
        if a.n != sent:
            self.after(a)

    def pick_folder(self, a):
        r = self.rnd
        f = "INBOX" if r.random() < 0.5 else r.choice(a.folders)
        a.select(f, readonly=r.random() < 0.2)
        self.world.ops["select/examine"] += 1
        self.after(a)

    def after(self, a):
        """What a client does after every command: learn what is new,
        then the view must be in step with the truth."""
        if not a.selected or a.idling:
            return
        a.learn()
        a.check_sync()

    def run(self, steps, deadline):
        t0 = self.t0 = time.monotonic()
        done = self.done = 0
        for i in range(steps):
            if time.monotonic() > deadline:
                raise StopRun(f"the run took too long: {i} of {steps} "
                              f"steps in {time.monotonic() - t0:.0f} s")
            try:
                self.step()
            except (StopRun, Closed):
                if not self.world.keep_going:
                    raise
                # the failure is recorded: start the sessions afresh
                for a in self.actors:
                    a.disconnect()
            done = self.done = done + 1
        # every session ends its IDLE and logs out
        for a in self.actors:
            if a.conn is not None:
                try:
                    if a.idling:
                        a.end_idle()
                        self.after(a)
                    a.logout()
                except (StopRun, Closed):
                    if not self.world.keep_going:
                        raise
                    a.disconnect()
        return done, time.monotonic() - t0
