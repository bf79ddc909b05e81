"""Clients that need CONDSTORE and QRESYNC (RFC 7162).

- interimap (Debian's interimap) keeps the server and a local Maildir,
  served by `imapd --stdio` as its tunnel, in step in both directions.
  It works only against servers that offer QRESYNC.
- Thunderbird-shaped sessions, through Python's imaplib: five
  connections to one account (one in IDLE on INBOX, the others selecting
  with CONDSTORE, resynchronizing with FETCH ... (CHANGEDSINCE n), moving
  to Trash with UID MOVE, marking read with UID STORE, appending to Sent)
  while an MDA delivers; then a reconnect with SELECT ... (QRESYNC ...).

Each test is skipped, saying why, while the server's CAPABILITY after
login lacks CONDSTORE or QRESYNC.
"""

import os
import pathlib
import re
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

import imapdtest
import imapgrammar as g
from imapdtest import drop, message

INTERIMAP = shutil.which("interimap")
SETPRIV = shutil.which("setpriv")


def capabilities(server, user):
    c = server.imaplib()
    try:
        c.login(user.name, user.password)
        typ, data = c.capability()
        return {w.upper() for w in data[0].decode().split()}
    finally:
        c.logout()


@pytest.fixture
def qresync(server_factory, mailuser):
    """A server that offers CONDSTORE and QRESYNC, or a skip."""
    imapdtest.maildir_reset(mailuser)
    srv = server_factory()
    missing = {"CONDSTORE", "QRESYNC"} - capabilities(srv, mailuser)
    if missing:
        pytest.skip("the server does not offer " +
                    " and ".join(sorted(missing)) +
                    " (RFC 7162) after login yet")
    return srv


def flagset(text):
    return frozenset(f.upper() for f in text.split()
                     if f.upper() != "\\RECENT")


def fetch_line(raw):
    """An untagged FETCH as imaplib keeps it ("5 (UID 7 ...)") as the line
    the server sent, without "* "."""
    n, _, rest = raw.partition(b" ")
    return n + b" FETCH " + rest


def fetch_items(raw):
    """Message number and parsed attributes of a FETCH as imaplib keeps
    it (no literals in what these tests fetch through imaplib)."""
    r = g.parse(b"* " + fetch_line(raw) + b"\r\n")
    assert r.name == "FETCH", raw
    return r.num, r.data


def untagged(c, name):
    """imaplib's untagged responses of one kind, taken out."""
    return c.untagged_responses.pop(name, [])


def command(c, name, *args, state=None):
    """Any command through imaplib; its tagged result (OK asserted)."""
    typ, data = c._simple_command(name, *args)
    assert typ == "OK", (name, args, typ, data)
    if state:
        c.state = state
    return data


# --- a session's model -------------------------------------------------

class View:
    """seq -> UID and UID -> flags, as a client keeps them."""

    def __init__(self):
        self.uids = []
        self.flags = {}
        self.modseq = {}

    def apply(self, line):
        """One untagged response line (bytes, without "* ")."""
        r = g.parse(b"* " + line + b"\r\n")
        if r.name == "EXISTS":
            assert r.num >= len(self.uids), (r.num, len(self.uids))
            self.uids += [None] * (r.num - len(self.uids))
        elif r.name == "EXPUNGE":
            assert 1 <= r.num <= len(self.uids), (r.num, len(self.uids))
            uid = self.uids.pop(r.num - 1)
            self.flags.pop(uid, None)
        elif r.name == "VANISHED":
            gone = set(g.expand(r.data[1]))
            self.uids = [u for u in self.uids if u not in gone]
        elif r.name == "FETCH":
            assert 1 <= r.num <= len(self.uids), (r.num, len(self.uids))
            it = r.data
            uid = it.get("UID", self.uids[r.num - 1])
            if self.uids[r.num - 1] is not None:
                assert uid == self.uids[r.num - 1], line
            self.uids[r.num - 1] = uid
            if "FLAGS" in it:
                self.flags[uid] = frozenset(
                    f.upper() for f in it["FLAGS"] if f.upper() !=
                    "\\RECENT")
            if "MODSEQ" in it:
                self.modseq[uid] = it["MODSEQ"]
            r.uid = uid
        return r


def server_state(server, user, folder="INBOX"):
    """UID -> (flags, MODSEQ) of a folder, from a fresh session."""
    c = server.imaplib()
    try:
        c.login(user.name, user.password)
        command(c, "SELECT", folder, "(CONDSTORE)", state="SELECTED")
        c.untagged_responses.clear()
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS MODSEQ)")
        assert typ == "OK", data
        out = {}
        for raw in data:
            if raw is None:
                continue
            n, it = fetch_items(raw)
            out[it["UID"]] = (frozenset(f.upper() for f in it["FLAGS"]
                                        if f.upper() != "\\RECENT"),
                              it["MODSEQ"])
        typ, data = c.status(folder, "(HIGHESTMODSEQ UIDVALIDITY)")
        m = re.search(rb"HIGHESTMODSEQ (\d+)", data[0])
        v = re.search(rb"UIDVALIDITY (\d+)", data[0])
        return out, int(m.group(1)), int(v.group(1))
    finally:
        c.logout()


# --- Thunderbird-shaped sessions --------------------------------------------

def tb_login(server, user):
    c = server.imaplib(tls=True)
    c.login(user.name, user.password)
    return c


def tb_select(c, folder="INBOX"):
    """SELECT (CONDSTORE) and the full flag list; returns (View,
    HIGHESTMODSEQ, UIDVALIDITY)."""
    c.untagged_responses.clear()
    command(c, "SELECT", folder, "(CONDSTORE)", state="SELECTED")
    hm = untagged(c, "HIGHESTMODSEQ")
    uv = untagged(c, "UIDVALIDITY")
    assert hm, "SELECT (CONDSTORE) without [HIGHESTMODSEQ]"
    v = View()
    for line in untagged(c, "EXISTS"):
        v.apply(line + b" EXISTS")
    c.untagged_responses.clear()
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
    assert typ == "OK", data
    for raw in data:
        if raw is not None:
            v.apply(fetch_line(raw))
    assert None not in v.uids
    return v, int(hm[-1]), int(uv[-1])


def idle_start(c):
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    line = c._get_line()
    assert line.startswith(b"+"), line
    return tag


def idle_read(c, view, until, timeout):
    """Apply what IDLE sends until until(view) holds or timeout; the
    responses read."""
    got = []
    deadline = time.monotonic() + timeout
    sock = c.sock
    while not until(view) and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            line = c._get_line()
        except (socket.timeout, TimeoutError):
            break
        finally:
            sock.settimeout(30)
        assert line.startswith(b"* "), line
        got.append(view.apply(line[2:]))
    return got


def idle_done(c, tag, view):
    c.send(b"DONE\r\n")
    while True:
        line = c._get_line()
        if line.startswith(tag + b" "):
            assert line.split()[1] == b"OK", line
            return
        assert line.startswith(b"* "), line
        view.apply(line[2:])


def test_thunderbird_sessions(qresync, mailuser):
    srv, user = qresync, mailuser
    for i in range(40):
        drop(user, message(subject=f"tb {i}"),
             flags="S" if i % 3 else ("F" if i % 2 else ""))
    watcher, syncer, mover, reader, sender = (tb_login(srv, user)
                                              for _ in range(5))
    # a client makes Trash and Sent where they are missing; imapd made
    # them at the first login, so it is told they exist
    for name in ("Trash", "Sent"):
        typ, data = sender.create(name)
        assert typ == "NO" and b"[ALREADYEXISTS]" in data[0], data
    # what the client remembers for a later QRESYNC
    before, hm0, uv = server_state(srv, user)
    sview, shm, suv = tb_select(syncer)
    assert suv == uv and shm == hm0
    assert set(sview.uids) == set(before)
    assert all(m <= hm0 for _, m in before.values())
    wview, _, _ = tb_select(watcher)
    tb_select(reader)
    command(mover, "ENABLE", "QRESYNC")
    mview, _, _ = tb_select(mover)
    tag = idle_start(watcher)

    uids = sorted(before)
    seen = [u for u in uids if "\\SEEN" not in before[u][0]][:4]
    flagged = uids[5]
    keyword = uids[7]
    moved = [uids[10], uids[11], uids[20]]
    # reader marks read and flags, as a click does
    typ, data = reader.uid("STORE", ",".join(map(str, seen)),
                           "+FLAGS", "(\\Seen)")
    assert typ == "OK", data
    for raw in data:
        n, it = fetch_items(raw)
        assert "MODSEQ" in it and it["MODSEQ"] > hm0, raw
    typ, data = reader.uid("STORE", str(flagged), "+FLAGS.SILENT",
                           "(\\Flagged)")
    assert typ == "OK", data
    typ, data = syncer.uid("STORE", str(keyword), "+FLAGS", "($label1)")
    assert typ == "OK", data
    # mover moves to Trash (QRESYNC enabled there: VANISHED, not EXPUNGE)
    mover.untagged_responses.clear()
    typ, data = mover.uid("MOVE", ",".join(map(str, moved)), "Trash")
    assert typ == "OK", data
    assert "EXPUNGE" not in mover.untagged_responses, \
        "EXPUNGE to a session that enabled QRESYNC"
    vanished = [x for raw in untagged(mover, "VANISHED")
                for x in g.expand(g.parse(b"* VANISHED " + raw +
                                          b"\r\n").data[1])]
    assert sorted(vanished) == moved
    # sender appends to Sent; an MDA delivers two
    typ, data = sender.append("Sent", "(\\Seen)", None,
                               message(subject="sent by tb").encode())
    assert typ == "OK", data
    for i in range(2):
        drop(user, message(subject=f"new {i}"))

    # the IDLE session is told all of it, at once
    after, hm1, _ = server_state(srv, user)
    assert hm1 > hm0
    changed = set(seen) | {flagged, keyword}
    new = sorted(set(after) - set(before))
    assert len(new) == 2 and set(before) - set(after) == set(moved)

    def caught_up(v):
        return (len(v.uids) == len(after) and
                all(u is None or (u in after and v.flags.get(u) ==
                                  after[u][0]) for u in v.uids))
    got = idle_read(watcher, wview, caught_up, 10)
    idle_done(watcher, tag, wview)
    assert caught_up(wview), ([r.short() for r in got], wview.uids[-5:])
    # flag changes came with MODSEQ (CONDSTORE is on for that session)
    for r in got:
        if r.name == "FETCH":
            assert "MODSEQ" in r.data, r.short()
            assert r.data["MODSEQ"] > hm0, r.short()
    told = {r.uid for r in got if r.name == "FETCH"}
    known = {u for u in wview.uids if u is not None}
    assert changed <= told | (known - set(before)), (changed, told)

    # syncer resynchronizes as Thunderbird does: NOOP, then CHANGEDSINCE
    syncer.untagged_responses.clear()
    typ, data = syncer.noop()
    for line in untagged(syncer, "EXPUNGE"):
        sview.apply(line + b" EXPUNGE")
    for line in untagged(syncer, "EXISTS"):
        sview.apply(line + b" EXISTS")
    for raw in untagged(syncer, "FETCH"):
        sview.apply(fetch_line(raw))
    syncer.untagged_responses.clear()
    if None in sview.uids:
        lo = sview.uids.index(None) + 1
        typ, data = syncer.fetch(f"{lo}:*", "(UID)")
        for raw in data:
            sview.apply(fetch_line(raw))
    assert sorted(sview.uids) == sorted(after)
    syncer.untagged_responses.clear()
    typ, data = syncer.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {hm0})")
    assert typ == "OK", data
    answered = {}
    for raw in data:
        if raw is None:
            continue
        n, it = fetch_items(raw)
        uid = sview.uids[n - 1]
        assert "MODSEQ" in it and hm0 < it["MODSEQ"] <= hm1, raw
        answered[uid] = flagset(" ".join(it["FLAGS"]))
    assert set(answered) == changed | set(new), (
        sorted(answered), sorted(changed | set(new)))
    for u, fl in answered.items():
        assert fl == after[u][0], (u, fl, after[u][0])

    # a reconnect: SELECT with QRESYNC brings back what changed, exactly
    for known_uids in (True, False):
        c = tb_login(srv, user)
        command(c, "ENABLE", "QRESYNC")
        c.untagged_responses.clear()
        arg = f"(QRESYNC ({uv} {hm0}" + (
            f" {imapset(before)}))" if known_uids else "))")
        command(c, "SELECT", "INBOX", arg, state="SELECTED")
        hm = int(untagged(c, "HIGHESTMODSEQ")[-1])
        assert hm == hm1
        gone = set()
        for raw in untagged(c, "VANISHED"):
            r = g.parse(b"* VANISHED " + raw + b"\r\n")
            assert r.data[0], "VANISHED without (EARLIER) in SELECT"
            gone |= set(g.expand(r.data[1]))
        # exactly the expunged UIDs the client knew
        assert gone & set(before) == set(moved), sorted(gone)
        assert not gone & set(after), sorted(gone & set(after))
        told = {}
        for raw in untagged(c, "FETCH"):
            n, it = fetch_items(raw)
            assert "UID" in it and "MODSEQ" in it and "FLAGS" in it, raw
            told[it["UID"]] = flagset(" ".join(it["FLAGS"]))
        # every flag change since; new messages may come here too (the
        # client learns of them from EXISTS and UIDNEXT anyway)
        assert changed <= set(told) <= changed | set(new), (
            sorted(told), sorted(changed), new)
        for u, fl in told.items():
            assert fl == after[u][0], (u, fl, after[u][0])
        # a wrong UIDVALIDITY: no VANISHED, nothing claimed as changed
        c.untagged_responses.clear()
        command(c, "SELECT", "INBOX", f"(QRESYNC ({uv + 1} {hm0}))",
                state="SELECTED")
        assert "VANISHED" not in c.untagged_responses
        c.logout()
    for c in (watcher, syncer, mover, reader, sender):
        c.logout()


def imapset(uids):
    out = []
    for u in sorted(uids):
        if out and out[-1][1] == u - 1:
            out[-1][1] = u
        else:
            out.append([u, u])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in out)


# --- interimap ----------------------------------------------------------

class StdioSession:
    """`imapd --stdio` on pipes, for looking at the local side."""

    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env)
        self.n = 0
        greet = self.p.stdout.readline()
        assert greet.startswith(b"* PREAUTH"), greet

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"s%d" % self.n
        if literal is None:
            self.p.stdin.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.p.stdin.write(tag + b" " + text.encode() +
                               b" {%d+}\r\n" % len(literal) + literal +
                               b"\r\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            assert line, "imapd --stdio closed the connection"
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            while m:
                line += self.p.stdout.read(int(m.group(1)))
                more = self.p.stdout.readline()
                line += more
                m = re.search(rb"\{(\d+)\}\r\n$", more)
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", (text, line)
                return out
            out.append(line)

    def close(self):
        try:
            self.cmd("LOGOUT")
        except AssertionError:
            pass
        self.p.stdin.close()
        self.p.wait(10)


def mailbox_state(lines):
    """Message-ID -> flags from FETCH (FLAGS BODY.PEEK[HEADER.FIELDS
    (MESSAGE-ID)]) responses (raw lines, as bytes)."""
    out = {}
    for raw in lines:
        r = g.parse(raw)
        if r.name != "FETCH":
            continue
        h = r.data["BODY[HEADER.FIELDS (MESSAGE-ID)]"]
        mid = re.search(rb"<[^>]*>", h).group(0).decode()
        assert mid not in out, f"{mid} twice"
        out[mid] = frozenset(f.upper() for f in r.data["FLAGS"]
                             if f.upper() != "\\RECENT")
    return out


@pytest.mark.skipif(INTERIMAP is None, reason="interimap not installed")
@pytest.mark.skipif(not imapdtest.IS_ROOT or SETPRIV is None,
                    reason="the local side runs as the mail user (root "
                    "and setpriv needed)")
def test_interimap_two_way(qresync, mailuser, build):
    srv, user = qresync, mailuser
    base = pathlib.Path(srv.dir) / "interimap"
    local = base / "local"
    local.mkdir(parents=True)
    base.chmod(0o755)
    os.chown(local, user.uid, user.gid)
    lconf = base / "local.conf"
    lconf.write_text(f"mail_location = {local}/Maildir\n")
    lconf.chmod(0o644)
    tunnel = [SETPRIV, f"--reuid={user.uid}", f"--regid={user.gid}",
              "--init-groups", str(build.imapd), "--stdio", "-c",
              str(lconf)]
    env = dict(build.env(), HOME=str(base))
    conf = base / "config"
    conf.write_text(f"""database = {base}/state.db
logfile = {base}/interimap.log
list-mailbox = INBOX Work

[local]
type = tunnel
command = {' '.join(tunnel)}

[remote]
type = imaps
host = localhost
port = {srv.tls_port}
username = {user.name}
password = {user.password}
SSL_CAfile = {srv.settings['tls_cert']}
""")
    conf.chmod(0o600)

    # the server's side: flags and keywords to carry over
    mids = {}
    for i in range(6):
        m = message(subject=f"ii {i}")
        mids[i] = re.search(r"<[^>]*>", m).group(0)
        drop(user, m, flags=["S", "FS", "RS", "", "S", "D"][i])
    for i in range(3):
        drop(user, message(subject=f"work {i}"), folder="Work", flags="S")
    r = imapdtest.Session(srv, user)
    r.ok("SELECT INBOX")
    r.ok("STORE 1 +FLAGS ($label1 Work)")
    r.ok("STORE 4 +FLAGS ($Forwarded)")
    r.close()

    runs = []

    def sync():
        p = subprocess.run([INTERIMAP, f"--config={conf}"],
                           capture_output=True, timeout=120, env=env)
        log = (base / "interimap.log").read_text(errors="replace") \
            if (base / "interimap.log").exists() else ""
        text = p.stdout.decode() + p.stderr.decode()
        runs.append(text)
        assert p.returncode == 0, text + log
        bad = [l for l in (text + log).splitlines()
               if re.search(r"\b(error|fatal|panic)\b", l, re.I) or
               imapdtest.SAN_PATTERNS.search(l)]
        assert not bad, "\n".join(bad)
        return text

    def local_session():
        return StdioSession(tunnel, env)

    def both(folder):
        s = imapdtest.Session(srv, user)
        s.ok(f"SELECT {folder}")
        lines = raw_fetch(s)
        rem = mailbox_state(lines)
        s.close()
        ls = local_session()
        ls.cmd(f"SELECT {folder}")
        loc = mailbox_state(ls.cmd(
            "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
        ls.close()
        return rem, loc

    sync()
    for folder in ("INBOX", "Work"):
        rem, loc = both(folder)
        assert rem == loc, (folder, rem, loc)
    assert len(both("INBOX")[0]) == 6 and len(both("Work")[1]) == 3
    rem, _ = both("INBOX")
    assert {"$LABEL1", "WORK"} <= rem[mids[0]]

    # changes on both sides: flags, deletions, new mail
    r = imapdtest.Session(srv, user)
    r.ok("SELECT INBOX")
    uid_of = {}
    for l in raw_fetch(r):
        p = g.parse(l)
        mid = re.search(rb"<[^>]*>",
                        p.data["BODY[HEADER.FIELDS (MESSAGE-ID)]"]).group(0)
        uid_of[mid.decode()] = p.data["UID"]
    r.ok(f"UID STORE {uid_of[mids[1]]} -FLAGS (\\Flagged)")
    r.ok(f"UID STORE {uid_of[mids[2]]} +FLAGS ($label2)")
    r.ok(f"UID STORE {uid_of[mids[3]]} +FLAGS (\\Deleted)")
    r.ok(f"UID EXPUNGE {uid_of[mids[3]]}")
    r.close()
    remote_new = message(subject="new on the server")
    drop(user, remote_new)
    ls = local_session()
    ls.cmd("SELECT INBOX")
    luid = {}
    for l in ls.cmd("UID FETCH 1:* (UID FLAGS "
                    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"):
        p = g.parse(l)
        mid = re.search(rb"<[^>]*>",
                        p.data["BODY[HEADER.FIELDS (MESSAGE-ID)]"]).group(0)
        luid[mid.decode()] = p.data["UID"]
    ls.cmd(f"UID STORE {luid[mids[4]]} +FLAGS (\\Answered Work)")
    ls.cmd(f"UID STORE {luid[mids[5]]} +FLAGS (\\Deleted)")
    ls.cmd(f"UID EXPUNGE {luid[mids[5]]}")
    local_new = message(subject="new on this side")
    ls.cmd("APPEND INBOX (\\Seen $label3)",
           imapdtest.crlf(local_new))
    ls.close()

    sync()
    rem, loc = both("INBOX")
    assert rem == loc, (rem, loc)
    new_r = re.search(r"<[^>]*>", remote_new).group(0)
    new_l = re.search(r"<[^>]*>", local_new).group(0)
    assert set(rem) == {mids[0], mids[1], mids[2], mids[4], new_r, new_l}
    assert "\\FLAGGED" not in rem[mids[1]]
    assert "$LABEL2" in rem[mids[2]]
    assert {"\\ANSWERED", "WORK"} <= rem[mids[4]]
    assert {"\\SEEN", "$LABEL3"} <= rem[new_l]
    rem_w, loc_w = both("Work")
    assert rem_w == loc_w

    # a third run has nothing to do: nothing moves on either side
    def files(top):
        out = set()
        for root, dirs, names in os.walk(top):
            if os.path.basename(root) in ("cur", "new"):
                out |= {os.path.join(root, n) for n in names}
        return out
    assert len(files(local)) >= 9, "the local side holds no mail"
    before = (files(user.maildir()), files(local), server_state(srv, user))
    sync()
    after = (files(user.maildir()), files(local), server_state(srv, user))
    assert before == after
    # interimap's own record agrees: one mapping per message in INBOX
    db = sqlite3.connect(str(base / "state.db"))
    try:
        tables = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables, "interimap left no state"
    finally:
        db.close()


def raw_fetch(s):
    """FETCH (UID FLAGS Message-ID) of the selected folder over a
    Session, as raw response lines (bytes with CRLF)."""
    t = s.tag()
    s.raw.send(f"{t} UID FETCH 1:* (UID FLAGS "
               f"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n")
    out = []
    while True:
        line = s.raw.line().encode() + b"\r\n"
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        while m:
            data = s.read_exact(int(m.group(1)))
            rest = s.raw.line().encode() + b"\r\n"
            line += data + rest
            m = re.search(rb"\{(\d+)\}\r\n$", rest)
        if line.startswith(t.encode() + b" "):
            assert line.split()[1] == b"OK", line
            return out
        out.append(line)
