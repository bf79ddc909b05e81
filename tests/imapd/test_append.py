"""APPEND streams its messages into the target folder's tmp/ as they
arrive and commits them only once the command is complete: the back's
memory does not grow with a message, and an APPEND that breaks off
(a malformed rest, a refused or bad literal, a lost connection) leaves
nothing behind.  MULTIAPPEND is all or nothing (RFC 3502)."""

import base64
import os
import random
import re
import time

import pytest

import imapdtest
from imapdtest import Session, proc_status, wait_descendants


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    return server


def listing(user, sub):
    d = user.maildir() / sub
    return sorted(os.listdir(d)) if d.exists() else []


def rss_kib(pid, key="VmRSS"):
    return int(proc_status(pid)[key].split()[0])


def back_pid(server):
    """The logged-in back of the one session the test has open."""
    backs = wait_descendants(server.proc.pid, "imapd-session")
    assert len(backs) == 1, backs
    return backs[0]


def status(s, folder="INBOX"):
    r = s.ok(f"STATUS {folder} (MESSAGES UIDNEXT)")
    m = re.search(r"MESSAGES (\d+) UIDNEXT (\d+)", r[0])
    return int(m.group(1)), int(m.group(2))


def big_message(size):
    """size bytes of mail: headers, then base64 lines of random bytes."""
    rnd = random.Random(size)
    head = b"From: a@example.org\r\nSubject: big\r\n\r\n"
    line = 57
    chunks = [head]
    n = len(head)
    while n < size:
        b = base64.b64encode(rnd.randbytes(line)) + b"\r\n"
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)[:size]


def test_big_append_streams(md, mailuser, build):
    """A 50 MB APPEND: the back's resident memory stays within a few MiB
    of what it was while the literal arrives, and the message is stored
    byte for byte."""
    data = big_message(50_000_000)
    s = Session(md, mailuser)
    s.ok("SELECT INBOX")
    pid = back_pid(md)
    base = rss_kib(pid)
    # the peak since now (logging in took more: PAM, password hashing)
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    s.raw.send(f"a1 APPEND INBOX {{{len(data)}}}\r\n")
    assert s.raw.line().startswith("+")
    peak = base
    chunk = 1 << 20
    for off in range(0, len(data), chunk):
        s.raw.send(data[off:off + chunk])
        peak = max(peak, rss_kib(pid))
    s.raw.send(b"\r\n")
    r = s.read_tagged("a1", timeout=120)
    assert r[-1].startswith("a1 OK [APPENDUID"), r
    if hwm_reset:
        peak = max(peak, rss_kib(pid, "VmHWM"))
    # the sanitizer's own bookkeeping grows with what the process did
    allowed = 8 * 1024 if not build.sanitized else 24 * 1024
    assert peak - base < allowed, (base, peak)
    names = listing(mailuser, "cur")
    assert len(names) == 1, names
    assert (mailuser.maildir() / "cur" / names[0]).read_bytes() == data
    assert listing(mailuser, "tmp") == []
    r = s.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[]<49999900.100>)")
    assert f"RFC822.SIZE {len(data)}" in r[0], r[0][:200]
    assert r[0].endswith(data[-100:].decode() + ")"), r[0][-200:]


def test_binary_append_keeps_bytes(md, mailuser):
    """literal8 (RFC 3516) may carry NULs; they are stored as sent."""
    data = b"Subject: bin\r\n\r\n\x00\x01\x02\xff\r\n\x00"
    s = Session(md, mailuser)
    s.raw.send(f"a1 APPEND INBOX ~{{{len(data)}}}\r\n")
    assert s.raw.line().startswith("+")
    s.raw.send(data + b"\r\n")
    assert s.read_tagged("a1")[-1].startswith("a1 OK")
    names = listing(mailuser, "cur")
    assert (mailuser.maildir() / "cur" / names[0]).read_bytes() == data


def multiappend(s, tag, parts):
    """Send an APPEND whose message literals are parts (bytes), waiting
    for each continuation; returns the lines after the last part."""
    s.raw.send(f"{tag} APPEND INBOX".encode())
    for i, (pre, data) in enumerate(parts):
        s.raw.send(f" {pre}{{{len(data)}}}\r\n".encode())
        line = s.raw.line()
        if not line.startswith("+"):
            return [line]
        s.raw.send(data)
    s.raw.send(b"\r\n")
    return s.read_tagged(tag)


@pytest.mark.parametrize("third", ["bad date", "nul", "too big",
                                   "malformed end"])
def test_multiappend_all_or_nothing(md, mailuser, third):
    """Three messages, the third goes wrong: none is stored, no UID is
    used, and nothing is left in tmp/."""
    s = Session(md, mailuser)
    s.ok("APPEND INBOX {2+}\r\nhi")
    before = status(s)
    a = b"Subject: one\r\n\r\n1\r\n"
    b = b"Subject: two\r\n\r\n2\r\n"
    parts = [("(\\Seen) ", a), ("", b)]
    if third == "bad date":
        parts.append(('"31-Foo-2026 00:00:00 +0000" ', b"x\r\n"))
        want = "BAD"
    elif third == "nul":
        parts.append(("", b"x\x00y\r\n"))
        want = "BAD"
    elif third == "too big":
        parts.append(("", b"x" * (64 * 1024 * 1024 + 1)))
        want = "NO [TOOBIG]"
    else:
        parts.append(("", b"x\r\n"))
    if third == "malformed end":
        s.raw.send(b"t1 APPEND INBOX")
        for pre, data in parts:
            s.raw.send(f" {pre}{{{len(data)}}}\r\n".encode())
            assert s.raw.line().startswith("+")
            s.raw.send(data)
        s.raw.send(b" (\r\n")
        r = s.read_tagged("t1")
        want = "BAD"
    else:
        r = multiappend(s, "t1", parts)
    assert r[-1].startswith("t1 " + want), r
    assert status(s) == before
    assert len(listing(mailuser, "cur")) + \
        len(listing(mailuser, "new")) == 1
    assert listing(mailuser, "tmp") == []
    # and the session goes on, and the folder takes messages again
    s.ok("APPEND INBOX {2+}\r\nok")
    assert status(s) == (before[0] + 1, before[1] + 1)


def test_append_cut_off_leaves_nothing(md, mailuser):
    """The connection drops inside a message literal: its file in tmp/
    goes, and the folder never saw it."""
    s = Session(md, mailuser)
    s.ok("SELECT INBOX")
    s.raw.send("a1 APPEND INBOX {100000}\r\n")
    assert s.raw.line().startswith("+")
    s.raw.send(b"x" * 50000)
    deadline = time.monotonic() + 10
    while listing(mailuser, "tmp") == [] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(listing(mailuser, "tmp")) == 1
    s.close()
    while listing(mailuser, "tmp") != [] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listing(mailuser, "tmp") == []
    assert listing(mailuser, "cur") == [] and listing(mailuser, "new") == []
    md.wait_log(r"session ended: client closed the connection")


def test_append_target_checked_before_continuation(md, mailuser):
    """RFC 9051 6.3.12: [TRYCREATE] before the client sends the message;
    a {n+} message for a missing folder is read and dropped."""
    s = Session(md, mailuser)
    s.raw.send("a1 APPEND Nowhere {5}\r\n")
    line = s.raw.line()
    assert line.startswith("a1 NO [TRYCREATE]"), line
    s.raw.send("a2 APPEND Nowhere {9+}\r\nx3 NOOP\r\n\r\n")
    r = s.read_tagged("a2")
    assert r[-1].startswith("a2 NO [TRYCREATE]"), r
    r = s.ok("NOOP")
    assert not any(l.startswith("x3") for l in r), r


def test_keywords_beyond_the_26_letters(md, mailuser):
    """A Maildir folder has 26 keyword letters: an APPEND with more
    stores the message without the ones that do not fit; a STORE that
    needs a 27th says [LIMIT]."""
    s = Session(md, mailuser)
    kws = " ".join(f"kw{i}" for i in range(27))
    r = s.ok(f"APPEND INBOX ({kws}) {{2+}}\r\nhi")
    assert "[APPENDUID" in r[-1], r
    r = s.ok("SELECT INBOX")
    r = s.ok("FETCH 1 FLAGS")
    got = set(re.search(r"FLAGS \(([^)]*)\)", r[0]).group(1).split())
    assert len(got & {f"kw{i}" for i in range(27)}) == 26, r
    r = s.cmd("STORE 1 +FLAGS (another)")
    assert r[-1].split()[1:3] == ["NO", "[LIMIT]"], r
