"""The settings for a store shared between hosts (imapd.conf(5)):
lock_timeout turns a lock another process keeps into NO [INUSE] instead
of a hang, idle_poll lets IDLE see what another host delivered where
inotify cannot, hostname names new files, store_marker keeps an unmounted
store's mount point from being filled, and mmap = no answers as mmap =
yes does.

A shared store is played on the local disk by tests/lib/remotefs_shim.c:
every file system looks like a FUSE mount, and inotify reports nothing,
as it reports nothing of another host's changes there."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import pytest

import imapdtest
from imapdtest import Session, drop, message, maildir_age, maildir_reset

ROOT = pathlib.Path(__file__).resolve().parents[2]


def remotefs_shim(d):
    out = pathlib.Path(d) / "remotefs_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(out),
                    str(ROOT / "tests" / "lib" / "remotefs_shim.c"), "-ldl"],
                   check=True, capture_output=True, timeout=60)
    return out


def status(r):
    return r[-1].split()[1]


def append(s, tag, msg, flags=""):
    """APPEND msg (bytes) to INBOX; the response lines."""
    s.raw.send(f"{tag} APPEND INBOX {flags}{{{len(msg)}+}}\r\n")
    s.raw.send(msg + b"\r\n")
    return s.read_tagged(tag, timeout=60)


# --- lock_timeout -----------------------------------------------------------

HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


class LockHolder:
    """Another process (another host's imapd, stopped) holding an fcntl
    lock on path until released."""

    def __init__(self, path):
        self.p = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        assert self.p.stdout.readline() == b"locked\n"

    def release(self):
        self.p.stdin.close()
        self.p.wait(30)


def test_lock_held_answers_inuse(server_factory, mailuser):
    maildir_reset(mailuser)
    for i in range(3):
        drop(mailuser, message(subject=f"m{i}"), flags="")
    maildir_age(mailuser)
    srv = server_factory(lock_timeout="1s")
    s = Session(srv, mailuser)
    s.ok("SELECT INBOX")
    lock = mailuser.maildir() / "imapd-uidcache.lock"
    assert lock.exists()
    holder = LockHolder(lock)
    try:
        msg = imapdtest.crlf(message(subject="appended"))
        # a flag change is the rename of the file and an expunge its
        # removal, which need no lock: they are made, and the cache
        # records them once it can be locked
        r = s.cmd("STORE 1 +FLAGS (\\Seen)", timeout=60)
        assert status(r) == "OK" and "\\Seen" in r[0], r
        r = append(s, "a1", msg)
        assert status(r) == "NO" and "[INUSE]" in r[-1], r
        line = srv.wait_log(r"UID cache lock imapd-uidcache\.lock held")
        assert str(mailuser.maildir()) in line and "lock_timeout" in line
    finally:
        holder.release()
    r = s.ok("STORE 1 +FLAGS (\\Flagged)", timeout=60)
    assert "\\Flagged" in r[0] and "\\Seen" in r[0]
    r = append(s, "a2", msg)
    assert status(r) == "OK", r
    s.close()


def test_quota_lock_held_answers_inuse(server_factory, mailuser):
    """maildirsize's lock, which a quota'd APPEND waits for, waits no
    longer than lock_timeout either."""
    maildir_reset(mailuser)
    drop(mailuser, message(), flags="")
    srv = server_factory(lock_timeout="1s", quota="1G")
    s = Session(srv, mailuser)
    msg = imapdtest.crlf(message(subject="appended"))
    assert status(append(s, "a0", msg)) == "OK"
    s.close()
    assert (mailuser.maildir() / "maildirsize").exists()
    lock = mailuser.maildir() / "imapd-maildirsize.lock"
    holder = LockHolder(lock)
    try:
        s = Session(srv, mailuser)
        r = append(s, "a1", msg)
        assert status(r) == "NO" and "[INUSE]" in r[-1], r
        srv.wait_log(r"quota lock imapd-maildirsize\.lock held")
    finally:
        holder.release()
    r = append(s, "a2", msg)
    assert status(r) == "OK", r
    s.close()


def dotlock_session(server_factory, mailuser, method):
    """A server on host "imap-a" with lock_method and a 1 s timeout, a
    session with INBOX (one message) selected, and the path of INBOX's
    UID cache dot-lock."""
    maildir_reset(mailuser)
    drop(mailuser, message(), flags="")
    maildir_age(mailuser)
    srv = server_factory(lock_timeout="1s", lock_method=method,
                         hostname="imap-a")
    s = Session(srv, mailuser)
    s.ok("SELECT INBOX")
    return srv, s, mailuser.maildir() / "imapd-uidcache.lock.dot"


def test_dotlock_held_answers_inuse(server_factory, mailuser):
    """lock_method = dotlock: a dot-lock another host holds (its own host
    name, a fresh file) is waited for, then NO [INUSE]; gone, the command
    goes through and leaves no dot-lock behind."""
    srv, s, dot = dotlock_session(server_factory, mailuser, "dotlock")
    dot.write_text("imap-b 4242\n")
    msg = imapdtest.crlf(message(subject="appended"))
    r = append(s, "a1", msg)
    assert status(r) == "NO" and "[INUSE]" in r[-1], r
    assert dot.read_text() == "imap-b 4242\n"
    line = srv.wait_log(r"UID cache lock .*imapd-uidcache\.lock\.dot")
    assert str(mailuser.maildir()) in line
    dot.unlink()
    assert status(append(s, "a2", msg)) == "OK"
    assert not dot.exists()
    s.close()


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", ""])
    p.wait(30)
    return p.pid


@pytest.mark.parametrize("how", ["gone", "old"])
def test_stale_dotlock_is_broken(server_factory, mailuser, how):
    """A dot-lock of a process of this host that is gone, or one older
    than 5 minutes, is removed with a log line."""
    srv, s, dot = dotlock_session(server_factory, mailuser, "both")
    if how == "gone":
        dot.write_text(f"imap-a {dead_pid()}\n")
    else:
        dot.write_text("imap-b 4242\n")
        t = time.time() - 400
        os.utime(dot, (t, t))
    msg = imapdtest.crlf(message(subject="appended"))
    assert status(append(s, "a1", msg)) == "OK"
    assert not dot.exists()
    line = srv.wait_log(r"imapd-uidcache\.lock\.dot: removing a stale lock")
    assert ("which is gone" in line) if how == "gone" else \
        ("imap-b 4242" in line and "s old" in line), line
    s.close()


# --- idle_poll --------------------------------------------------------------

def idle_sees_delivery(srv, mailuser, wait):
    """Whether an IDLE session hears of a delivery within wait seconds."""
    s = Session(srv, mailuser)
    try:
        r = s.ok("SELECT INBOX")
        before = [l for l in r if l.endswith(" EXISTS")]
        assert before == ["* 0 EXISTS"], r
        s.raw.send("i1 IDLE\r\n")
        assert s.raw.line(timeout=30).startswith("+")
        drop(mailuser, message(subject="from the other host"))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                l = s.raw.line(timeout=deadline - time.monotonic())
            except (TimeoutError, OSError):
                break
            if l == "* 1 EXISTS":
                return True
        return False
    finally:
        s.close()


@pytest.mark.parametrize("poll", [None, "1s"])
def test_idle_poll_sees_another_hosts_delivery(server_factory, mailuser,
                                               tmp_path, poll):
    """inotify reports nothing of the delivery (the shim), as for one
    made through another host's mount: only idle_poll finds it.  The same
    bounded wait both ways; it is no speed assertion, the poll is at 1 s
    and the wait 10 times that."""
    maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    settings = {} if poll is None else {"idle_poll": poll}
    srv = server_factory(
        env_extra={"LD_PRELOAD": str(remotefs_shim(tmp_path))}, **settings)
    seen = idle_sees_delivery(srv, mailuser, 10)
    assert seen == (poll is not None)


# --- hostname ---------------------------------------------------------------

def test_hostname_in_new_file_names(server_factory, mailuser):
    maildir_reset(mailuser)
    srv = server_factory(hostname="mx/7:a,b")
    s = Session(srv, mailuser)
    msg = imapdtest.crlf(message(subject="named"))
    assert status(append(s, "a1", msg, "(\\Seen) ")) == "OK"
    s.close()
    names = os.listdir(mailuser.maildir() / "cur")
    assert len(names) == 1
    # '/', ':' and ',' encoded as the Maildir convention asks
    assert ".mx\\0577\\072a\\054b," in names[0], names


# --- store_marker -----------------------------------------------------------

def test_store_marker_missing_refuses(server_factory, mailuser, workdir):
    # where the mail user can look, as the marker is looked at as the user
    marker = workdir / "store-marker" / ".imapd-store"
    marker.parent.mkdir(exist_ok=True)
    marker.parent.chmod(0o755)
    if marker.exists():
        marker.unlink()
    maildir_reset(mailuser)
    srv = server_factory(store_marker=marker)
    r = imapdtest.login_answer(srv, mailuser.name, mailuser.password)
    assert r.startswith("a NO [UNAVAILABLE]"), r
    assert not mailuser.maildir().exists()
    line = srv.wait_log(r"store_marker .* cannot be found: refusing the "
                        r"session")
    assert str(marker) in line
    # mounted again: served as before, the Maildir made
    marker.touch()
    s = Session(srv, mailuser)
    assert mailuser.maildir().is_dir()
    # gone while a session runs: no folder is made
    marker.unlink()
    r = s.cmd("CREATE Later")
    assert status(r) == "NO" and "[UNAVAILABLE]" in r[-1], r
    assert not (mailuser.maildir() / ".Later").exists()
    srv.wait_log(r"cannot be found: refusing CREATE")
    s.close()


# --- mmap -------------------------------------------------------------------

QUERIES = [
    "UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE "
    "BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    "UID SEARCH TEXT needle",
    "UID SEARCH SUBJECT m1",
    "UID SORT (SUBJECT ARRIVAL) UTF-8 ALL",
    "UID SORT (REVERSE FROM) UTF-8 ALL",
    "STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)",
]


def answers(srv, mailuser):
    s = Session(srv, mailuser)
    try:
        s.ok("EXAMINE INBOX")
        return [s.ok(q, timeout=60)[:-1] for q in QUERIES]
    finally:
        s.close()


def test_mmap_no_answers_as_mmap_yes(server_factory, mailuser):
    """The caches read into memory give the answers the mapped ones do,
    on an aged folder whose caches (UID, structure, sort, full text) a
    first session made."""
    maildir_reset(mailuser)
    for i in range(40):
        body = "a needle here\n" if i % 3 == 0 else "hay\n"
        drop(mailuser, message(subject=f"m{i % 7} subject",
                               sender=f"s{i % 5}@example.org", body=body),
             flags="S" if i % 2 else "")
    maildir_age(mailuser)
    srv = server_factory(mmap="yes")
    first = answers(srv, mailuser)
    # let the full-text index be built, so both runs read it
    s = Session(srv, mailuser)
    s.ok("EXAMINE INBOX")
    s.raw.send("i1 IDLE\r\n")
    s.raw.line(timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            n.startswith("imapd-fts") for n in
            os.listdir(mailuser.maildir())):
        time.sleep(0.1)
    s.raw.send("DONE\r\n")
    s.read_tagged("i1", timeout=30)
    s.close()
    mapped = answers(srv, mailuser)
    srv.stop()
    srv2 = server_factory(mmap="no")
    read = answers(srv2, mailuser)
    assert mapped == first
    assert read == mapped
    assert any("needle" in l or re.search(r"SEARCH \d", l)
               for q in read for l in q)


# --- ESTALE -----------------------------------------------------------------

def estale_session(server_factory, mailuser, tmp_path, workdir,
                   vanish=False):
    """One message whose cache a first server made; a second server whose
    first open of that message's file fails with ESTALE (a handle gone
    stale on NFS), and a session on it with INBOX selected.  vanish: the
    file is removed first, with cur/'s times kept, as another host's
    expunge looks to a client that cached the directory.  The server,
    the session and the fault shim's call log."""
    maildir_reset(mailuser)
    body = "the body of the stale one\n"
    path = drop(mailuser, message(subject="stale", body=body), flags="S")
    maildir_age(mailuser)
    first = server_factory()
    s = Session(first, mailuser)
    s.ok("SELECT INBOX")
    s.ok("FETCH 1 (RFC822.SIZE ENVELOPE)")
    s.close()
    first.stop()
    # written by the session, which runs as the mail user
    logdir = pathlib.Path(tempfile.mkdtemp(dir=workdir))
    logdir.chmod(0o777)
    calls = logdir / "calls"
    srv = server_factory(env_extra={
        "LD_PRELOAD": str(imapdtest.build_fault_shim(tmp_path)),
        "FAULT_CALLS": "open", "FAULT_PATH": path.name.split(":")[0],
        "FAULT_NTH": "1", "FAULT_ERRNO": "ESTALE",
        "FAULT_LOG": str(calls)})
    if vanish:
        st = path.parent.stat()
        path.unlink()
        os.utime(path.parent, ns=(st.st_atime_ns, st.st_mtime_ns))
    s = Session(srv, mailuser)
    r = s.ok("SELECT INBOX")
    assert "* 1 EXISTS" in r
    return srv, s, calls


def test_estale_is_retried_by_path(server_factory, mailuser, tmp_path,
                                   workdir):
    srv, s, calls = estale_session(server_factory, mailuser, tmp_path,
                                   workdir)
    r = s.ok("FETCH 1 BODY.PEEK[TEXT]")
    assert "the body of the stale one" in "\n".join(r), r
    assert any(l.endswith(" FAIL") for l in calls.read_text().splitlines())
    s.close()


def test_estale_on_a_vanished_file_is_an_expunge(server_factory, mailuser,
                                                 tmp_path, workdir):
    """Stale, and gone when looked up again: another host expunged it.
    The answer is that for a message expunged meanwhile, and the session
    goes on."""
    srv, s, calls = estale_session(server_factory, mailuser, tmp_path,
                                   workdir, vanish=True)
    r = s.cmd("FETCH 1 BODY.PEEK[TEXT]")
    assert status(r) in ("OK", "NO") and "EXPUNGEISSUED" in r[-1], r
    assert any(l.endswith(" FAIL") for l in calls.read_text().splitlines())
    r = s.ok("NOOP")
    assert "* 1 EXPUNGE" in r
    s.close()
