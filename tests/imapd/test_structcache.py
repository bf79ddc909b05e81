"""The structure cache's compaction after a large FETCH (maildir/msgcache.h,
imapd/selected.h): a FETCH writes what it parsed to the cache's log and the
rewrite of the whole cache into its snapshot follows the tagged reply while
the client is quiet, or, when the client keeps commands coming, happens at
the end of the next FETCH. Either way the snapshot then answers a new
session with every message file unreadable, byte for byte as the files did."""

import os
import time

import pytest

import imapdtest
from imapdtest import Session, drop

N = 2400            # enough records for the log to pass the 1 MiB mark
LOG_MIN = 1024 * 1024
QUERY = "(ENVELOPE BODYSTRUCTURE RFC822.SIZE)"


def mail(i):
    parts = "".join(
        f"--b{i}\nContent-Type: text/plain; charset=utf-8; name=\"p{k}.txt\"\n"
        f"Content-Disposition: attachment; filename=\"part-{i}-{k}.txt\"\n"
        f"Content-Language: en\n\nPart {k} of message {i}.\n"
        for k in range(3))
    return (f"From: Sender Number {i} <sender{i}@example.org>\n"
            f"To: Someone <to{i}@example.net>, Other <other{i}@example.com>\n"
            f"Cc: Third Party <cc{i}@example.org>\n"
            f"Subject: Structure cache message {i} with a longer subject\n"
            f"Date: Mon, 2 Nov 2026 09:{i % 60:02d}:00 +0000\n"
            f"Message-ID: <structcache.{i}.{i * 7919}@example.org>\n"
            f"In-Reply-To: <parent.{i}@example.org>\n"
            f"MIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n"
            f"{parts}--b{i}--\n").encode()


@pytest.fixture
def big(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    for i in range(N):
        drop(mailuser, mail(i), flags="S")
    imapdtest.maildir_age(mailuser)
    return server


def files(user):
    md = user.maildir()
    log = md / "imapd-msgcache.log"
    cdb = md / "imapd-msgcache.cdb"
    return (log.stat().st_size if log.exists() else 0,
            cdb.stat().st_size if cdb.exists() else 0)


def wait_compacted(user, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log, cdb = files(user)
        if cdb > LOG_MIN and log < LOG_MIN:
            return log, cdb
        time.sleep(0.05)
    return files(user)


def answers_without_files(server, user):
    """FETCH QUERY over the folder with every message file unreadable."""
    cur = list((user.maildir() / "cur").iterdir())
    for f in cur:
        f.chmod(0)
    try:
        t = Session(server, user)
        t.ok("EXAMINE INBOX")
        r = t.ok(f"FETCH 1:* {QUERY}", timeout=120)[:-1]
        t.ok("LOGOUT")
        t.close()
    finally:
        for f in cur:
            f.chmod(0o600)
    return r


def test_compacted_after_the_reply(big, mailuser):
    s = Session(big, mailuser)
    s.ok("SELECT INBOX")
    first = s.ok(f"FETCH 1:* {QUERY}", timeout=120)[:-1]
    assert len(first) == N
    # the session is quiet now: the snapshot is written, the log started
    # anew, with the session still open
    log, cdb = wait_compacted(mailuser)
    assert cdb > LOG_MIN and log < LOG_MIN, (log, cdb)
    s.ok("NOOP")
    assert answers_without_files(big, mailuser) == first
    s.ok("LOGOUT")
    s.close()


def test_compacted_when_the_client_never_pauses(big, mailuser):
    """Two FETCHes in one write: after the first, the second is already
    waiting, so the compaction is not done then; the second does it before
    its reply, so nothing need wait for the client to pause."""
    s = Session(big, mailuser)
    s.ok("SELECT INBOX")
    half = N // 2 + 200
    s.raw.send(f"a1 FETCH 1:{half} {QUERY}\r\n"
               f"a2 FETCH {half + 1}:* {QUERY}\r\n")
    out = s.read_tagged("a2", timeout=120)
    assert out[-1].startswith("a2 OK"), out[-1]
    assert any(line.startswith("a1 OK") for line in out), out[-3:]
    # no pause has been needed: checked at once
    log, cdb = files(mailuser)
    assert cdb > LOG_MIN and log < LOG_MIN, (log, cdb)
    fetched = [line for line in out if " FETCH (" in line]
    assert len(fetched) == N
    s.ok("LOGOUT")
    s.close()
    assert answers_without_files(big, mailuser) == fetched
