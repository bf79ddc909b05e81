"""Programs that share a Maildir with imapd, for the UID contract tests.

A Maildir is shared: while imapd serves it, an MDA delivers into new/, a
local mail reader (mutt and friends) renames files in cur/ to change
flags and moves new/ files to cur/ itself, and several IMAP clients work
on the same folder.  This module has small stand-ins for each of them
(threads that run until told to stop, every loop and wait bounded), an
IMAP client that keeps the model of its view a real client must keep,
and a Ledger where all of them write down what they did and what they
were shown, so that a test can check the UID contract afterwards:

  - a message keeps its UID while its file exists under any name;
  - a UID is never used for two messages within one UIDVALIDITY;
  - no session is told EXPUNGE for a message whose file existed
    throughout;
  - no message is lost or duplicated.

Every message these actors make starts with its own Message-ID header
line, so a file's first line names it.
"""

import os
import pathlib
import random
import re
import signal
import socket
import threading
import time
import traceback
from collections import Counter, defaultdict

import imapdtest

FLAG_LETTERS = "DFPRS"          # what a mail reader sets (never T)


# --- messages and Maildirs ---------------------------------------------------

def msg_bytes(mid, n=0, pad=0):
    """A small message whose first line is its Message-ID."""
    return (f"Message-ID: {mid}\nFrom: a@example.org\nTo: b@example.org\n"
            f"Subject: message {n}\n"
            f"Date: Mon, 2 Nov 2026 09:00:00 +0000\n\n"
            f"body {n}\n" + ("x" * 70 + "\n") * pad).encode()


def file_mid(path):
    """The Message-ID in a file's first line, or None (gone or not ours)."""
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except (FileNotFoundError, NotADirectoryError):
        return None
    m = re.match(rb"Message-ID: (<[^>\s]*>)", head)
    return m.group(1).decode() if m else None


def folder_dir(user, folder="INBOX"):
    md = user.maildir()
    return md if folder == "INBOX" else md / ("." + folder.replace("/", "."))


def chown(user, path):
    if imapdtest.IS_ROOT:
        os.chown(path, user.uid, user.gid)


def make_folder(user, folder="INBOX"):
    d = folder_dir(user, folder)
    for p in ([user.maildir(), d] if folder != "INBOX" else [d]):
        for sub in ("", "cur", "new", "tmp"):
            q = p / sub
            if not q.exists():
                q.mkdir(mode=0o700)
                chown(user, q)
    if folder != "INBOX" and not (d / "maildirfolder").exists():
        (d / "maildirfolder").touch()
        chown(user, d / "maildirfolder")
    return d


def age_dirs(user, folder="INBOX", hours=3):
    """Make cur/, new/ and tmp/ (and the folder) hours old, as on a host
    whose mail arrived long ago."""
    d = folder_dir(user, folder)
    t = time.time() - hours * 3600
    for p in (d / "cur", d / "new", d / "tmp", d):
        os.utime(p, (t, t))


class Template:
    """count messages written once (creating files is the slow part of
    setting up a big folder) and hard-linked into each test's folder.
    imapd never writes to a message file, so the links are safe to share;
    a folder made from it holds files with two links each."""

    def __init__(self, workdir, user, count, tag="t", new=200):
        self.dir = pathlib.Path(workdir) / f"template-{tag}-{count}"
        self.count, self.new = count, new
        self.mids = {}          # Message-ID -> file name, in order
        if (self.dir / "done").exists():
            found = []
            for sub in ("cur", "new"):
                for n in os.listdir(self.dir / sub):
                    mid = file_mid(self.dir / sub / n)
                    found.append((int(mid.split(".")[1].split("@")[0]),
                                  mid, sub + "/" + n))
            self.mids = {mid: rel for _, mid, rel in sorted(found)}
            return
        for sub in ("cur", "new"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        rnd = random.Random(count)
        flags = ["", "", "S", "S", "RS", "FS"]
        t0 = int(time.time()) - 3 * 3600 - count
        for i in range(count):
            mid = f"<{tag}.{i}@torture.example>"
            base = "%d.M%dP4242Q%d.%s" % (t0 + i, i, i, tag)
            rel = ("new/" + base if i >= count - new else
                   "cur/" + base + ":2," + rnd.choice(flags))
            fd = os.open(self.dir / rel, os.O_WRONLY | os.O_CREAT |
                         os.O_EXCL, 0o600)
            os.write(fd, msg_bytes(mid, i))
            if imapdtest.IS_ROOT:
                os.fchown(fd, user.uid, user.gid)
            os.utime(fd, (t0 + i, t0 + i))
            os.close(fd)
            self.mids[mid] = rel
        (self.dir / "done").touch()

    def link(self, user, folder="INBOX", count=None, hours=3):
        """Link the first count messages (all of them by default: the last
        `new` of those are in new/) into folder; returns {Message-ID: file
        name}."""
        d = make_folder(user, folder)
        count = self.count if count is None else count
        out = {}
        items = list(self.mids.items())[:count] if count < self.count \
            else list(self.mids.items())
        for mid, rel in items:
            os.link(self.dir / rel, d / rel)
            out[mid] = rel.split("/", 1)[1]
        age_dirs(user, folder, hours)
        return out


def deliver(user, folder, mid, n=0, into="new", name=None, pad=0):
    """Deliver like an MDA: write tmp/, then rename into new/ (or cur/
    with ":2," when into == "cur").  Returns the path."""
    d = folder_dir(user, folder)
    base = name or "%d.M%dP%dR%s.mda" % (time.time(), n, os.getpid(),
                                         os.urandom(4).hex())
    tmp = d / "tmp" / base
    tmp.write_bytes(msg_bytes(mid, n, pad))
    chown(user, tmp)
    dest = d / into / (base + (":2," if into == "cur" else ""))
    os.rename(tmp, dest)
    return dest


def wait_new_empty(user, folder="INBOX", timeout=300):
    """Wait, sending nothing, until new/ is empty: a read-write session
    moves what its SELECT found there to cur/ while its client is quiet.
    The names still there (none when it emptied in time)."""
    d = folder_dir(user, folder) / "new"
    deadline = time.monotonic() + timeout
    left = [n for n in os.listdir(d) if not n.startswith(".")]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [n for n in os.listdir(d) if not n.startswith(".")]
    return left


def census(user, folder="INBOX"):
    """Message-ID -> number of files carrying it in cur/ and new/, and
    Message-ID -> [file names]."""
    d = folder_dir(user, folder)
    counts, names = Counter(), defaultdict(list)
    for sub in ("cur", "new"):
        try:
            entries = os.listdir(d / sub)
        except FileNotFoundError:
            continue
        for n in entries:
            mid = file_mid(d / sub / n)
            if mid is None:
                mid = "?" + n
            counts[mid] += 1
            names[mid].append(sub + "/" + n)
    return counts, names


def base_of(name):
    return re.split(r"[:;]", name, 1)[0]


# --- the server's processes --------------------------------------------------

def server_tree(server, alone=False):
    """Pids of the server's master and all its descendants, and (as
    root, unless alone: other servers of the same binary run beside it)
    every process running the binary under test."""
    pids = set()
    todo = [server.proc.pid]
    while todo:
        p = todo.pop()
        if p in pids:
            continue
        pids.add(p)
        todo.extend(imapdtest.proc_children(p))
    if alone:
        return pids
    exe = os.path.realpath(server.build.imapd)
    for d in pathlib.Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "exe") == exe:
                    pids.add(int(d.name))
            except OSError:
                pass
    return pids


def kill_server(server, alone=False):
    """SIGKILL the master and every process of the server at once, as a
    power cut would; wait for the master.  alone: as server_tree."""
    try:
        os.kill(server.proc.pid, signal.SIGSTOP)   # no new children now
    except ProcessLookupError:
        pass
    pids = server_tree(server, alone)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.proc.wait(10)
    # wait (bounded) for the others to be gone, so that the port is free
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and
                 _state(p) not in ("Z", "X", None)]
        if not alive:
            break
        time.sleep(0.02)
    if server.logf:
        server.logf.close()
        server.logf = None


def _state(pid):
    try:
        s = pathlib.Path(f"/proc/{pid}/stat").read_text()
        return s[s.rindex(")") + 2:].split()[0]
    except (OSError, ValueError):
        return None


# --- the ledger --------------------------------------------------------------

class Ledger:
    """What every actor did and was shown, thread-safe.

    Message state per Message-ID:
      created[mid]      "ok" (exists for sure) or "maybe" (an APPEND whose
                        answer was lost with the connection)
      removal[mid]      ("expunge"|"move", "pending"|"ok"|"aborted")
      copies[mid]       [confirmed, unconfirmed] copies into the other
                        folder
    What sessions were shown:
      shown[(folder, uidvalidity)][uid] = {mid: [who, ...]}
      expunges          (who, folder, uidvalidity, uid or None, mid)
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}
        self.removal = {}
        self.copies = defaultdict(lambda: [0, 0])
        self.shown = defaultdict(lambda: defaultdict(dict))
        self.mid_uid = defaultdict(dict)    # (folder, uidv) -> mid -> uid
        self.expunges = []
        self.failures = []
        self.notes = Counter()
        self.uidvalidity = {}
        self.kills = 0
        self.byes = []
        self.bases = {}         # base name -> Message-ID, of files we made

    def fail(self, text):
        with self.lock:
            self.failures.append(text)

    def note(self, what, n=1):
        with self.lock:
            self.notes[what] += n

    def create(self, mid, state="ok"):
        with self.lock:
            self.created[mid] = state

    def claim(self, mid, how):
        """Reserve a message for removal (expunge or move); False if some
        actor already did."""
        with self.lock:
            if mid in self.removal or self.created.get(mid) != "ok":
                return False
            self.removal[mid] = (how, "pending")
            return True

    def settle(self, mid, state):
        with self.lock:
            how, _ = self.removal[mid]
            self.removal[mid] = (how, state)

    def removal_intended(self, mid):
        with self.lock:
            r = self.removal.get(mid)
            return r is not None and r[1] != "aborted"

    def copied(self, mid, confirmed):
        with self.lock:
            self.copies[mid][0 if confirmed else 1] += 1

    def show(self, who, folder, uidv, uid, mid):
        with self.lock:
            self.shown[(folder, uidv)][uid].setdefault(mid, []).append(who)
            self.mid_uid[(folder, uidv)].setdefault(mid, uid)

    def mid_of(self, folder, uidv, uid):
        with self.lock:
            m = self.shown.get((folder, uidv), {}).get(uid)
            return next(iter(m)) if m else None

    def unknown(self, folder, uidv, uids):
        """Those of uids no session was shown a Message-ID for."""
        with self.lock:
            m = self.shown.get((folder, uidv), {})
            return [u for u in uids if u not in m]

    def see_uidvalidity(self, who, folder, uidv):
        with self.lock:
            old = self.uidvalidity.setdefault(folder, uidv)
            if old != uidv:
                self.failures.append(
                    f"{who}: UIDVALIDITY of {folder} changed from {old} "
                    f"to {uidv}")
                self.uidvalidity[folder] = uidv

    # the invariants ------------------------------------------------------

    def check_shown(self):
        """a) no UID shown for two Message-IDs within one UIDVALIDITY;
        b) no Message-ID shown under two UIDs in INBOX unless removed."""
        out = []
        for (folder, uidv), m in self.shown.items():
            bymid = defaultdict(set)
            for uid, mids in m.items():
                if len(mids) > 1:
                    out.append(f"a) {folder} UIDVALIDITY {uidv}: UID {uid} "
                               f"shown as {dict(mids)}")
                for mid in mids:
                    bymid[mid].add(uid)
            if folder != "INBOX":
                continue
            for mid, uids in bymid.items():
                if len(uids) > 1 and not self.removal_intended(mid):
                    out.append(f"b) {folder} UIDVALIDITY {uidv}: {mid} "
                               f"shown under UIDs {sorted(uids)}")
        return out

    def check_expunges(self):
        """c) every EXPUNGE a session was told is of a message some actor
        removed on purpose."""
        out = []
        for who, folder, uidv, uid, mid in self.expunges:
            if mid is None and uid is not None:
                mid = self.mid_of(folder, uidv, uid)
            if mid is None:
                self.notes["expunge of a message never identified"] += 1
                continue
            if not self.removal_intended(mid):
                out.append(f"c) {who} was told EXPUNGE of UID {uid} "
                           f"({mid}) in {folder}, which nobody removed")
        return out

    def check_disk(self, inbox, other):
        """d) every message exists exactly where it should: inbox and
        other are census() counts."""
        out = []
        for mid, state in self.created.items():
            rem = self.removal.get(mid)
            if rem is None or rem[1] == "aborted":
                want = {1} if state == "ok" else {0, 1}
            elif rem[1] == "ok":
                want = {0}
            else:
                want = {0, 1}
            if inbox.get(mid, 0) not in want:
                out.append(f"d) {mid}: {inbox.get(mid, 0)} files in INBOX, "
                           f"expected {sorted(want)} ({state}, {rem})")
            c, u = self.copies.get(mid, (0, 0))
            lo, hi = c, c + u
            if rem is not None and rem[0] == "move":
                if rem[1] == "ok":
                    lo, hi = lo + 1, hi + 1
                elif rem[1] == "pending":
                    hi += 1
            if not lo <= other.get(mid, 0) <= hi:
                out.append(f"d) {mid}: {other.get(mid, 0)} files in Other, "
                           f"expected {lo}..{hi} (copies {c}+{u}, {rem})")
            # a MOVE whose answer never came (the server was killed)
            # may have placed the copy without removing the original: a
            # MOVE is a link into the other folder, then an unlink here,
            # never the other way round, so a kill between the two
            # leaves the message in both folders, never in neither
            if (rem is not None and rem[0] == "move" and rem[1] == "pending"
                    and u == 0 and
                    inbox.get(mid, 0) + other.get(mid, 0) - c < 1):
                out.append(f"d) {mid}: an interrupted MOVE left "
                           f"{inbox.get(mid, 0)} in INBOX and "
                           f"{other.get(mid, 0)} in Other")
        for mid in set(inbox) | set(other):
            if mid not in self.created:
                out.append(f"d) a message nobody made is on disk: {mid}")
        return out


# --- an IMAP client with a model of its view ---------------------------------

class Closed(Exception):
    """The server closed the connection (text: what it said last)."""


class Conn:
    """A socket with a buffered reader of whole IMAP responses (a line and
    its literals); a read that times out consumes nothing."""

    def __init__(self, port, timeout=30, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = bytearray()
        self.pos = 0
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _parse(self):
        """One complete response from the buffer, or None."""
        buf, p = self.buf, self.pos
        parts = []
        while True:
            i = buf.find(b"\n", p)
            if i < 0:
                return None
            line = bytes(buf[p:i]).rstrip(b"\r")
            parts.append(line)
            p = i + 1
            m = re.search(rb"\{(\d+)\+?\}$", line)
            if not m:
                break
            n = int(m.group(1))
            if len(buf) - p < n:
                return None
            parts.append(bytes(buf[p:p + n]))
            p += n
        self.pos = p
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        return b"\n".join(parts).decode("utf-8", "replace")

    def response(self, timeout=None):
        """The next response; socket.timeout if none came in time (and
        nothing is consumed), Closed at end of stream."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            r = self._parse()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no response")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 18)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("end of stream")
            self.buf += chunk

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout."""
        try:
            while True:
                self.response(timeout)
        except Closed:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


FETCH_RX = re.compile(r"\* (\d+) FETCH \((.*)\)\s*$", re.S)
MID_RX = re.compile(r"Message-ID:\s*(<[^>\s]*>)", re.I)
HDR_ITEM = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


class Client:
    """A logged-in IMAP session that keeps its view as a client must:
    sequence number -> UID (None until learned), changed by EXPUNGE,
    EXISTS and FETCH responses, and tells the ledger every UID ->
    Message-ID pair and every EXPUNGE it is shown."""

    def __init__(self, server, user, ledger, who, tls=False, timeout=30):
        self.server, self.user, self.ledger, self.who = (server, user,
                                                         ledger, who)
        self.timeout = timeout
        self.conn = None
        self.n = 0
        self.folder = None
        self.uidv = None
        self.seq = []           # index seq-1 -> UID or None
        self.mids = {}          # UID -> Message-ID, as shown to us
        self.flags = {}         # UID -> flag string last shown
        self.unnamed = set()    # UIDs learned without their Message-ID
        self.byes = []
        self.connect(tls)

    # plumbing -------------------------------------------------------

    def connect(self, tls=False):
        self.conn = Conn(self.server.port, self.timeout, self.server.host)
        greet = self.conn.response()
        assert greet.startswith("* OK"), greet
        tag, r = self.cmd(f"LOGIN {self.user.name} {self.user.password}")
        assert r.split()[1] == "OK", r
        self.folder = None
        self.seq = []

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def tag(self):
        self.n += 1
        return "c%d" % self.n

    def cmd(self, text, timeout=None, literal=None):
        """Send a command; absorb untagged responses; return (untagged
        list, tagged line).  Raises Closed if the connection ends."""
        t = self.tag()
        if literal is not None:
            self.conn.send(f"{t} {text} {{{len(literal)}+}}\r\n".encode() +
                           literal + b"\r\n")
        else:
            self.conn.send(f"{t} {text}\r\n")
        return self.read_until(t, timeout)

    def read_until(self, t, timeout=None):
        out = []
        while True:
            try:
                r = self.conn.response(timeout or self.timeout)
            except Closed as e:
                raise Closed(f"{self.who}: closed during {t}: {e}; "
                             f"last responses {out[-3:]}")
            if r.startswith(t + " "):
                return out, r
            out.append(r)
            self.absorb(r)

    def ok(self, text, timeout=None):
        u, r = self.cmd(text, timeout)
        assert r.split()[1] == "OK", (self.who, text, r, u[-5:])
        return u, r

    # the model --------------------------------------------------------

    def absorb(self, r):
        m = re.match(r"\* (\d+) (EXPUNGE|EXISTS)$", r)
        if m:
            n = int(m.group(1))
            if m.group(2) == "EXPUNGE":
                if not 1 <= n <= len(self.seq):
                    self.ledger.fail(f"{self.who}: EXPUNGE {n} with "
                                     f"{len(self.seq)} messages")
                    return
                uid = self.seq.pop(n - 1)
                self.unnamed.discard(uid)
                mid = self.mids.get(uid) if uid is not None else None
                self.ledger.expunges.append((self.who, self.folder,
                                             self.uidv, uid, mid))
                self.on_expunge(uid, mid)
            else:
                if n < len(self.seq):
                    self.ledger.fail(f"{self.who}: EXISTS went down from "
                                     f"{len(self.seq)} to {n}")
                    self.seq = self.seq[:n]
                self.seq.extend([None] * (n - len(self.seq)))
            return
        m = FETCH_RX.match(r)
        if m:
            n, body = int(m.group(1)), m.group(2)
            if not 1 <= n <= len(self.seq):
                self.ledger.fail(f"{self.who}: FETCH for {n} with "
                                 f"{len(self.seq)} messages: {r[:200]}")
                return
            mu = re.search(r"\bUID (\d+)", body)
            uid = self.seq[n - 1]
            if mu:
                u = int(mu.group(1))
                if uid is not None and uid != u:
                    self.ledger.fail(f"{self.who}: message {n} was UID "
                                     f"{uid}, now the server says {u}")
                self.seq[n - 1] = uid = u
            mm = MID_RX.search(body)
            if mu and not mm and uid not in self.mids:
                self.unnamed.add(uid)
            if mm and uid is not None:
                self.unnamed.discard(uid)
                self.mids[uid] = mm.group(1)
                self.ledger.show(self.who, self.folder, self.uidv, uid,
                                 mm.group(1))
            elif mm:
                self.ledger.note("header without UID")
            mf = re.search(r"FLAGS \(([^)]*)\)", body)
            if mf and uid is not None:
                self.flags[uid] = mf.group(1)
            return
        if r.startswith("* BYE"):
            self.byes.append(r)
            self.ledger.byes.append((self.who, r))
            return
        m = re.search(r"\[UIDVALIDITY (\d+)\]", r)
        if m:
            self.uidv = int(m.group(1))

    def on_expunge(self, uid, mid):
        pass

    def select(self, folder="INBOX", examine=False):
        self.folder = folder
        self.seq = []
        self.mids = {}
        self.unnamed = set()
        self.uidv = None
        u, r = self.cmd(("EXAMINE " if examine else "SELECT ") + folder,
                        timeout=60)
        if r.split()[1] != "OK":
            self.folder = None
            return u, r
        self.ledger.see_uidvalidity(self.who, folder, self.uidv)
        self.learn_uids()
        return u, r

    def learn_uids(self):
        """Fill in UIDs not known yet (a FETCH by sequence number, during
        which the server may not send EXPUNGE)."""
        missing = [i for i, u in enumerate(self.seq) if u is None]
        if missing:
            lo, hi = missing[0] + 1, missing[-1] + 1
            items = "UID" if hi - lo > 500 else f"UID {HDR_ITEM}"
            u, r = self.cmd(f"FETCH {lo}:{hi} ({items})", timeout=60)
            # a message expunged meanwhile is left out and the command
            # still ends OK [EXPUNGEISSUED]; the EXPUNGE comes later
            assert r.split()[1] == "OK", (self.who, r)

    def identify(self, uids, chunk=500):
        """Ask for the Message-ID of the UIDs not identified yet."""
        todo = sorted(u for u in uids if u is not None and
                      u not in self.mids)
        for i in range(0, len(todo), chunk):
            part = ",".join(str(u) for u in todo[i:i + chunk])
            self.cmd(f"UID FETCH {part} (UID {HDR_ITEM})", timeout=60)

    def known(self):
        return [u for u in self.seq if u is not None]


# --- IMAP actor --------------------------------------------------------------

class ImapActor(threading.Thread):
    """A client doing what clients do, at random, until stop is set: NOOP,
    UID FETCH of flags and Message-IDs, STORE +/-FLAGS, STORE \\Deleted and
    UID EXPUNGE of its own messages, UID COPY and UID MOVE to `other`,
    APPEND, IDLE for short spans, SELECT again.  With examine it uses
    EXAMINE and only reads (and copies).  A connection lost while the
    ledger counts a kill is reconnected; any other is a failure."""

    def __init__(self, server, user, ledger, who, seed, stop,
                 examine=False, other="Other", reconnect_for=20):
        super().__init__(name=who, daemon=True)
        self.server, self.user, self.ledger, self.who = (server, user,
                                                         ledger, who)
        self.rnd = random.Random(seed)
        self.stop = stop
        self.examine = examine
        self.other = other
        self.reconnect_for = reconnect_for
        self.c = None
        self.conn_kills = 0     # the ledger's kills when we connected
        self.idle = True
        self.ops = Counter()
        self.optime = Counter()
        self.appended = 0

    # connection ---------------------------------------------------------

    def open(self):
        deadline = time.monotonic() + self.reconnect_for
        while True:
            try:
                self.conn_kills = self.ledger.kills
                self.c = Client(self.server, self.user, self.ledger,
                                self.who)
                u, r = self.c.select("INBOX", self.examine)
                if r.split()[1] != "OK":
                    raise Closed(f"SELECT answered {r}")
                return
            except (OSError, Closed, AssertionError, EOFError) as e:
                if self.c:
                    self.c.close()
                    self.c = None
                if time.monotonic() > deadline or self.stop.is_set():
                    raise Closed(f"{self.who}: cannot reconnect: {e}")
                time.sleep(0.1)

    def run(self):
        try:
            self.work()
        except Exception:
            self.ledger.fail(f"{self.who}: " + traceback.format_exc())

    def work(self):
        try:
            self.open()
        except Closed as e:
            self.ledger.fail(str(e))
            return
        while not self.stop.is_set():
            try:
                self.step()
            except (Closed, OSError) as e:
                timed_out = isinstance(e, (socket.timeout, TimeoutError))
                if timed_out:
                    self.ledger.fail(f"{self.who}: no answer within "
                                     f"{self.c.timeout} s: {e}")
                elif (self.ledger.kills == self.conn_kills and
                      not self.stop.is_set()):
                    self.ledger.fail(f"{self.who}: connection lost: {e}")
                self.c.close()
                if self.stop.is_set():
                    break
                try:
                    self.open()
                except Closed as e2:
                    self.ledger.fail(str(e2))
                    return
            except AssertionError as e:
                self.ledger.fail(f"{self.who}: {e}")
                self.c.close()
                try:
                    self.open()
                except Closed as e2:
                    self.ledger.fail(str(e2))
                    return
        if self.c:
            self.c.close()

    # the work -------------------------------------------------------------

    def check(self, what, u, r):
        """A NO is a fact of life under concurrency; BAD or a server bug
        is not."""
        word = r.split()[1] if len(r.split()) > 1 else ""
        if word == "BAD" or "[SERVERBUG]" in r:
            self.ledger.fail(f"{self.who}: {what} -> {r}")
        return word == "OK"

    def mid(self, uid):
        return self.c.mids.get(uid) or self.ledger.mid_of(
            self.c.folder, self.c.uidv, uid)

    def pick(self, k):
        """Up to k identified messages of the view, at random."""
        seq = self.c.seq
        if not seq:
            return []
        sample = [seq[self.rnd.randrange(len(seq))]
                  for _ in range(min(len(seq), 4 * k + 10))]
        out = []
        for u in sample:
            if u is not None and u not in out and self.mid(u) is not None:
                out.append(u)
        return out[:k]

    def step(self):
        c = self.c
        if not c.seq and not self.examine and self.rnd.random() < 0.5:
            op = "append"
        else:
            ops = ["noop", "fetch", "fetch", "copy", "reselect"]
            if self.idle:
                ops.append("idle")
            if not self.examine:
                ops += ["store", "store", "store", "delete", "move",
                        "append"]
            op = self.rnd.choice(ops)
        if op == "reselect" and self.rnd.random() < 0.5:
            op = "noop"
        self.ops[op] += 1
        t = time.monotonic()
        getattr(self, "op_" + op)()
        self.optime[op] += time.monotonic() - t
        t = time.monotonic()
        # a real client learns about every message it is told of
        c.learn_uids()
        if c.unnamed:
            cand = list(c.unnamed)
            new = self.ledger.unknown(c.folder, c.uidv, cand)
            c.unnamed.difference_update(set(cand) - set(new))
            if new:
                c.identify(new)
        self.optime["learn"] += time.monotonic() - t

    def op_noop(self):
        u, r = self.c.cmd("NOOP")
        self.check("NOOP", u, r)

    def op_reselect(self):
        u, r = self.c.select("INBOX", self.examine)
        if not self.check("SELECT", u, r):
            raise Closed(f"SELECT answered {r}")

    def op_fetch(self):
        c = self.c
        known = c.known()
        if not known:
            return
        i = self.rnd.randrange(len(known))
        lo, hi = known[i], known[min(len(known) - 1, i + 60)]
        u, r = c.cmd(f"UID FETCH {lo}:{hi} (UID FLAGS {HDR_ITEM})")
        self.check("UID FETCH", u, r)

    def op_store(self):
        uids = self.pick(self.rnd.randint(1, 20))
        if not uids:
            return
        sign = self.rnd.choice("+-")
        flags = " ".join(self.rnd.sample(["\\Seen", "\\Flagged",
                                          "\\Answered"],
                                         self.rnd.randint(1, 2)))
        silent = ".SILENT" if self.rnd.random() < 0.3 else ""
        u, r = self.c.cmd(f"UID STORE {','.join(map(str, uids))} "
                          f"{sign}FLAGS{silent} ({flags})")
        self.check("STORE", u, r)

    def op_delete(self):
        c = self.c
        mine = {}
        for u in self.pick(3):
            m = self.mid(u)
            if self.ledger.claim(m, "expunge"):
                mine[u] = m
        if not mine:
            return
        s = ",".join(map(str, sorted(mine)))
        u, r = c.cmd(f"UID STORE {s} +FLAGS.SILENT (\\Deleted)")
        if not self.check("STORE \\Deleted", u, r):
            # a NO may still have flagged some: those stay undecided
            return
        u, r = c.cmd(f"UID EXPUNGE {s}")
        if self.check("UID EXPUNGE", u, r):
            for m in mine.values():
                self.ledger.settle(m, "ok")

    def op_copy(self):
        uids = self.pick(self.rnd.randint(1, 3))
        if not uids:
            return
        mids = [self.mid(u) for u in uids]
        for m in mids:
            self.ledger.copied(m, False)
        u, r = self.c.cmd(f"UID COPY {','.join(map(str, uids))} "
                          f"{self.other}")
        ok = self.check("COPY", u, r)
        with self.ledger.lock:
            for m in mids:
                self.ledger.copies[m][1] -= 1
                if ok:
                    self.ledger.copies[m][0] += 1
        if ok and "[COPYUID" not in r:
            self.ledger.fail(f"{self.who}: COPY without COPYUID: {r}")

    def op_move(self):
        c = self.c
        mine = {}
        for u in self.pick(3):
            m = self.mid(u)
            if self.ledger.claim(m, "move"):
                mine[u] = m
        if not mine:
            return
        u, r = c.cmd(f"UID MOVE {','.join(map(str, sorted(mine)))} "
                     f"{self.other}")
        ok = self.check("MOVE", u, r)
        for m in mine.values():
            self.ledger.settle(m, "ok" if ok else "aborted")

    def op_append(self):
        self.appended += 1
        mid = f"<{self.who}.append.{self.appended}@torture.example>"
        self.ledger.create(mid, "maybe")
        u, r = self.c.cmd("APPEND INBOX (\\Seen)",
                          literal=msg_bytes(mid, self.appended))
        if self.check("APPEND", u, r):
            self.ledger.create(mid, "ok")
            m = re.search(r"\[APPENDUID (\d+) (\d+)\]", r)
            if m:
                self.ledger.show(self.who + "/APPENDUID", "INBOX",
                                 int(m.group(1)), int(m.group(2)), mid)
        elif r.split()[1] == "NO":
            with self.ledger.lock:
                del self.ledger.created[mid]

    def op_idle(self):
        c = self.c
        t = c.tag()
        c.conn.send(f"{t} IDLE\r\n")
        first = c.conn.response()
        if not first.startswith("+"):
            c.absorb(first)
            u, r = c.read_until(t)
            self.ledger.fail(f"{self.who}: IDLE refused: {r}")
            return
        end = time.monotonic() + self.rnd.uniform(0.2, 1.0)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                c.absorb(c.conn.response(left))
            except (socket.timeout, TimeoutError):
                break
        c.conn.send("DONE\r\n")
        t0 = time.monotonic()
        u, r = c.read_until(t)
        self.check("IDLE", u, r)
        late = time.monotonic() - t0
        if late > 5:
            self.ledger.fail(f"{self.who}: IDLE ended {late:.1f} s after "
                             f"DONE")


# --- file system actors ------------------------------------------------------

class Renamer(threading.Thread):
    """A mail reader changing flags by renaming cur/ files (never adding
    T; a T already there is kept).  When a file it picked is gone it
    lists the folder again to find the message's base name; a base gone
    from both cur/ and new/ while nobody removed the message on purpose
    is a failure."""

    def __init__(self, user, ledger, stop, seed, folder="INBOX",
                 pause=0.0, limit=None, burst=None):
        super().__init__(name="renamer", daemon=True)
        self.d = folder_dir(user, folder)
        self.ledger, self.stop, self.rnd = ledger, stop, random.Random(seed)
        self.pause = pause
        self.burst = burst      # (renames, (min, max) seconds of quiet)
        self.limit = limit
        self.done = 0
        self.names = []

    def relist(self):
        self.names = [n for n in os.listdir(self.d / "cur") if ":2," in n]

    def find(self, base):
        for sub in ("cur", "new"):
            for n in os.listdir(self.d / sub):
                if base_of(n) == base:
                    return sub, n
        return None

    def run(self):
        try:
            self.work()
        except Exception:
            self.ledger.fail("renamer: " + traceback.format_exc())

    def work(self):
        self.relist()
        while not self.stop.is_set() and (self.limit is None or
                                          self.done < self.limit):
            if not self.names or self.rnd.random() < 0.002:
                self.relist()
                if not self.names:
                    time.sleep(0.01)
                    continue
            i = self.rnd.randrange(len(self.names))
            name = self.names[i]
            self.rename_one(i, name)
            if self.pause:
                time.sleep(self.pause)
            if self.burst and self.done % self.burst[0] == 0:
                time.sleep(self.rnd.uniform(*self.burst[1]))

    def rename_one(self, i, name):
        base, _, fl = name.partition(":2,")
        mid = self.ledger.bases.get(base) or file_mid(self.d / "cur" / name)
        for attempt in range(3):
            keep = "T" if "T" in fl else ""
            extra = "".join(ch for ch in fl if ch.islower())
            new = "".join(sorted(self.rnd.sample(
                FLAG_LETTERS, self.rnd.randint(0, 3)) + list(keep))) + extra
            if new == fl:
                new = "".join(sorted(set(fl) ^ {"S"}))
            to = base + ":2," + new
            try:
                os.rename(self.d / "cur" / name, self.d / "cur" / to)
                self.names[i] = to
                self.done += 1
                return
            except FileNotFoundError:
                self.ledger.note("renamer: file renamed by someone else")
                where = self.find(base)
                if where is None:
                    if mid is None:
                        self.ledger.note("renamer: a file of unknown "
                                         "origin vanished")
                    elif not self.ledger.removal_intended(mid):
                        # look once more: a server's rename may be between
                        # our two listings
                        time.sleep(0.01)
                        if self.find(base) is None and \
                                not self.ledger.removal_intended(mid):
                            self.ledger.fail(
                                f"e) renamer: base {base} ({mid}) vanished "
                                f"though nobody removed it")
                    self.names[i] = self.names[-1]
                    self.names.pop()
                    return
                sub, name = where
                if sub != "cur" or ":2," not in name:
                    return
                fl = name.partition(":2,")[2]
                self.names[i] = name


class Mda(threading.Thread):
    """An MDA delivering new mail into new/ (tmp/ then rename)."""

    def __init__(self, user, ledger, stop, seed, tag="mda", pause=(0.005,
                 0.03), limit=None):
        super().__init__(name=tag, daemon=True)
        self.user, self.ledger, self.stop = user, ledger, stop
        self.rnd = random.Random(seed)
        self.tag, self.pause, self.limit = tag, pause, limit
        self.n = 0

    def deliver_one(self):
        self.n += 1
        mid = f"<{self.tag}.{self.n}@torture.example>"
        self.ledger.create(mid, "maybe")
        name = "%d.M%dP%dR%s.%s" % (time.time(), self.n, os.getpid(),
                                    os.urandom(3).hex(), self.tag)
        self.ledger.bases[name] = mid
        p = deliver(self.user, "INBOX", mid, self.n, name=name)
        self.ledger.create(mid, "ok")
        return p

    def run(self):
        try:
            self.work()
        except Exception:
            self.ledger.fail(f"{self.tag}: " + traceback.format_exc())

    def work(self):
        while not self.stop.is_set() and (self.limit is None or
                                          self.n < self.limit):
            self.deliver_one()
            time.sleep(self.rnd.uniform(*self.pause))


class Mover(Mda):
    """A mail reader that takes new mail out of new/ itself, at the same
    time as the server does: new/X becomes cur/X:2, (plain rename).  It
    delivers its own mail to have some, and sometimes moves the MDA's."""

    def __init__(self, user, ledger, stop, seed, pause=(0.005, 0.03)):
        super().__init__(user, ledger, stop, seed, tag="mover", pause=pause)
        self.d = folder_dir(user, "INBOX")
        self.moved = 0

    def move(self, name):
        try:
            os.rename(self.d / "new" / name, self.d / "cur" / (name + ":2,"))
            self.moved += 1
        except FileNotFoundError:
            self.ledger.note("mover: the server moved it first")

    def work(self):
        while not self.stop.is_set():
            p = self.deliver_one()
            time.sleep(self.rnd.uniform(0, 0.01))
            self.move(p.name)
            if self.rnd.random() < 0.3:
                for n in os.listdir(self.d / "new")[:5]:
                    if ":" not in n:
                        self.move(n)
            time.sleep(self.rnd.uniform(*self.pause))


def fetch_all(client, folder="INBOX", examine=True):
    """A fresh look: (uidvalidity, [(uid, Message-ID)]) of a folder."""
    u, r = client.cmd(("EXAMINE " if examine else "SELECT ") + folder,
                      timeout=120)
    assert r.split()[1] == "OK", r
    uidv = client.uidv
    client.folder = folder
    u, r = client.cmd(f"UID FETCH 1:* (UID {HDR_ITEM})", timeout=120)
    assert r.split()[1] == "OK", r
    out = []
    for line in u:
        m = FETCH_RX.match(line)
        if m:
            mu = re.search(r"\bUID (\d+)", m.group(2))
            mm = MID_RX.search(m.group(2))
            out.append((int(mu.group(1)) if mu else None,
                        mm.group(1) if mm else None))
    return uidv, out
