"""tls_process = shared: one process holds the TLS of every connection to
the implicit-TLS port.

A worker hands each such connection to the TLS process and its front
runs as on the plain port, knowing the client is on TLS; after login the
back takes the plaintext over and the front exits, so a session is the
back alone plus its share of the TLS process.  STARTTLS on the plain
port keeps a front of its own.  The TLS process holds no private key:
handshakes sign through the key process as fronts do."""

import os
import pwd
import signal
import socket
import ssl
import threading
import time

import pytest

import imapdtest
from imapdtest import (drop, message, proc_children, proc_comm,
                       proc_descendants, proc_gone, proc_status,
                       wait_children, wait_gone)
from test_privsep import memory_hits, secrets_of
from test_tlskey import (key_found, key_patterns, seqpackets, socket_inodes,
                         tcp_inodes)

needs_root = pytest.mark.skipif(
    not imapdtest.IS_ROOT, reason="the server's processes are found as root")


@pytest.fixture
def shared(server_factory, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    # 50 sessions at once from one address and one user
    return server_factory(tls_process="shared", max_sessions=80,
                          prefork=4, max_prelogin_per_address=0,
                          max_user_sessions=0,
                          max_user_sessions_per_address=0)


def tlsproc(server, timeout=10):
    found = wait_children(server.proc.pid, "imapd-tls", timeout=timeout)
    assert len(found) == 1, found
    return found[0]


def logged_in_backs(server):
    return [p for p in proc_descendants(server.proc.pid)
            if proc_comm(p) == "imapd-session"]


def fronts(server):
    return [p for p in proc_descendants(server.proc.pid)
            if proc_comm(p) == "imapd-login"]


def wait_no_fronts(server, seconds=10):
    deadline = time.monotonic() + seconds
    while fronts(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_logins_through_the_shared_process(shared, mailuser):
    n = 50
    errors = []
    ready = threading.Barrier(n + 1, timeout=120)
    release = threading.Event()

    def one(i):
        c = None
        try:
            c = shared.imaplib(tls=True)
            c.login(mailuser.name, mailuser.password)
            typ, _ = c.select("INBOX")
            assert typ == "OK"
        except Exception as e:          # reported below
            errors.append(f"{i}: {e!r}")
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            errors.append(f"{i}: barrier broken")
        release.wait(120)
        try:
            if c is not None:
                c.logout()
        except Exception as e:
            errors.append(f"{i} logout: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        # all n logged in at once
        ready.wait()
        assert not errors, errors
        if imapdtest.IS_ROOT:
            assert len(logged_in_backs(shared)) == n, [
                (p, proc_comm(p)) for p in proc_descendants(shared.proc.pid)]
            assert len(wait_children(shared.proc.pid, "imapd-tls")) == 1
    finally:
        release.set()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert "TLS process" in shared.log()


def test_large_body_passes_intact(shared, mailuser):
    line = b"".join(bytes([33 + (i * 7 + j) % 90 for j in range(76)]) +
                    b"\r\n" for i in range(1))
    body = b"".join((b"%07d " % i) + line for i in range(60000))
    msg = message(subject="big").encode().replace(b"\n", b"\r\n") + body
    drop(mailuser, msg.decode())
    c = shared.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == msg
    assert len(msg) > 4 * 1024 * 1024
    c.logout()


def test_stalled_handshake_does_not_stop_others(server_factory, mailuser):
    # long enough for a login under a sanitizer on a loaded machine
    server = server_factory(tls_process="shared", timeout_login="8s")
    stalled = socket.create_connection(("127.0.0.1", server.tls_port), 10)
    # half a ClientHello, then nothing
    stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    try:
        for _ in range(3):
            c = server.imaplib(tls=True)
            c.login(mailuser.name, mailuser.password)
            c.noop()
            c.logout()
        # the stalled one is closed at timeout_login, by the TLS process
        stalled.settimeout(60)
        assert stalled.recv(100) == b""
        server.wait_log(r"TLS handshake not done within timeout_login")
    finally:
        stalled.close()


def test_failed_handshake_is_logged_with_the_session(shared):
    """A client speaking plain IMAP to the TLS port: the TLS process
    says why, on a line with the session's id and the client's
    address."""
    s = socket.create_connection(("127.0.0.1", shared.tls_port), 10)
    s.sendall(b"a1 CAPABILITY\r\n" + b"x" * 600 + b"\r\n")
    s.settimeout(30)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    s.close()
    line = shared.wait_log(r"rip=127\.0\.0\.1: TLS handshake failed on "
                           rf"port {shared.tls_port}: .*use STARTTLS")
    session = line.split("session=")[1].split()[0]
    assert any(f"session={session} rip=127.0.0.1: connect to" in l
               for l in shared.log().splitlines())


@needs_root
def test_session_is_the_back_alone(shared, mailuser):
    c = shared.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.noop()
    assert wait_no_fronts(shared)
    backs = logged_in_backs(shared)
    assert len(backs) == 1
    # the back holds no TCP socket: the TLS process does
    assert not socket_inodes(backs[0]) & tcp_inodes()
    tp = tlsproc(shared)
    assert socket_inodes(tp) & tcp_inodes()
    c.logout()


@needs_root
def test_tls_process_holds_no_key(shared, mailuser, cert):
    c = shared.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    tp = tlsproc(shared)
    assert key_found(tp, key_patterns(cert["key"])) == set()
    # the search sees the key where it is
    kp = wait_children(shared.proc.pid, "imapd-key")
    assert key_found(kp[0], key_patterns(cert["key"]))
    st = proc_status(tp)
    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)
    assert [int(x) for x in st["Uid"].split()] == [nobody.pw_uid] * 4
    assert st["CapEff"] == "0000000000000000"
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    assert os.readlink(f"/proc/{tp}/root") == str(shared.chroot)
    # no file at all: sockets, and whatever the sanitizer keeps
    for fd, target in imapdtest.proc_fds(tp).items():
        if fd <= 2:
            continue        # stdin, stdout, stderr: the log in tests
        assert target.startswith(("socket:", "pipe:", "/dev/null")), target
    c.logout()


@needs_root
def test_no_password_left_in_the_tls_process(shared, mailuser):
    """A login passes through the TLS process in plaintext: once done,
    no copy of the password (nor of a wrong one tried first) is left in
    its memory, freed heap included."""
    user, pw = mailuser.name, mailuser.password
    wrong = "wrong-" + pw[::-1]
    c = shared.raw(tls=True)
    c.line()
    # the failed login deep in a record whose replies are short, so
    # that no later buffer overwrites where it was
    pad = " ".join(f'"f{i}" "{chr(97 + i) * 1000}"' for i in range(3))
    c.send(f"x ID ({pad})\r\nf LOGIN {user} {wrong}\r\n")
    assert c.until_tagged("x")[-1].startswith("x OK")
    assert c.until_tagged("f")[-1].startswith("f NO")
    assert c.cmd("a", f"LOGIN {user} {pw}")[-1].startswith("a OK")
    assert c.cmd("n", "NOOP")[-1].startswith("n OK")
    tp = tlsproc(shared)
    needles = secrets_of(user, pw) + secrets_of(user, wrong)
    assert memory_hits(tp, needles) == []
    assert memory_hits(os.getpid(), [pw.encode()]) != []
    c.cmd("z", "LOGOUT")


def wait_for(cond, seconds=10):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@needs_root
def test_descriptors(shared, mailuser):
    """The door and the key channels go where they should: an idle
    worker holds its key channel and the door; once a connection is
    handed over, neither its front nor its back holds either; the TLS
    process keeps a key channel only until the handshake is done."""
    master = shared.proc.pid
    tp = tlsproc(shared)

    def idle_counts():
        try:
            return [seqpackets(w) for w in
                    wait_children(master, "imapd-idle", 4)]
        except (FileNotFoundError, ProcessLookupError):
            return None
    assert wait_for(lambda: idle_counts() == [2, 2, 2, 2]), idle_counts()
    # the master: its control socket to the key process, and the door
    assert seqpackets(master) == 2
    c = shared.raw(tls=True)
    c.line()
    back = wait_children(master, "imapd-auth")[0]
    front = wait_children(back, "imapd-login")[0]
    assert seqpackets(back) == 0
    assert seqpackets(front) == 0
    # the door alone: the handshake's key channel is closed
    assert wait_for(lambda: seqpackets(tp) == 1), seqpackets(tp)
    c.cmd("z", "LOGOUT")


@needs_root
def test_reload_starts_another(shared, mailuser):
    """After SIGHUP a new TLS process takes new connections; the old
    one serves its sessions to their end and then exits."""
    old = tlsproc(shared)
    a = shared.imaplib(tls=True)
    a.login(mailuser.name, mailuser.password)
    shared.signal(signal.SIGHUP)
    shared.wait_log(r"reloaded")
    assert wait_for(lambda: len(wait_children(shared.proc.pid, "imapd-tls",
                                              2, timeout=0)) == 2)
    new = [p for p in wait_children(shared.proc.pid, "imapd-tls", 2)
           if p != old][0]
    b = shared.imaplib(tls=True)
    b.login(mailuser.name, mailuser.password)
    assert a.noop()[0] == "OK"
    assert b.noop()[0] == "OK"
    a.logout()
    assert wait_gone([old], 20)
    assert b.noop()[0] == "OK"
    b.logout()
    assert not proc_gone(new)


@needs_root
def test_stop_ends_the_tls_process(shared, mailuser):
    tp = tlsproc(shared)
    a = shared.imaplib(tls=True)
    a.login(mailuser.name, mailuser.password)
    shared.stop()
    assert wait_gone([tp], 20)


@needs_root
def test_killed_tls_process_is_replaced(shared, mailuser):
    old = tlsproc(shared)
    c = shared.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    os.kill(old, signal.SIGKILL)
    shared.wait_log(rf"TLS process {old} killed by signal 9")
    # its connections are lost
    with pytest.raises(Exception):
        for _ in range(50):
            c.noop()
            time.sleep(0.1)
    deadline = time.monotonic() + 20
    while True:
        new = wait_children(shared.proc.pid, "imapd-tls", timeout=0)
        if new and new != [old]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # new logins work, through the new process
    for _ in range(3):
        d = shared.imaplib(tls=True)
        d.login(mailuser.name, mailuser.password)
        d.noop()
        d.logout()
    assert socket_inodes(new[0])


def test_limit_per_address_and_rip(server_factory, mailuser):
    server = server_factory(tls_process="shared",
                            max_prelogin_per_address=1)
    # from an address of its own: the start-up's probes come from
    # 127.0.0.1
    first = server.raw(tls=True, source="127.0.0.6")
    assert first.line().startswith("* OK")
    second = server.raw(tls=True, source="127.0.0.6")
    assert second.line().startswith("* BYE Too many")
    first.close()
    second.close()
    server.wait_log(r"rip=127\.0\.0\.6: refused: 1 connections from "
                    r"this address")
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.logout()
    # the back knows the login came over TLS
    server.wait_log(r"rip=127\.0\.0\.1: logged in \(\w+, TLS\)")


def test_last_reply_survives_pipelined_input(shared):
    """A client still sending when its session ends (here: too many bad
    commands) reads the BYE whole: the TLS process reads and drops the
    rest of its input before closing, rather than resetting the
    connection under the reply."""
    for _ in range(5):
        c = shared.raw(tls=True)
        c.line()
        lines = []
        try:
            for i in range(12):
                c.send(f"t{i} BOGUS\r\n")
            while True:
                lines.append(c.line())
        except EOFError:
            pass
        assert any(l.startswith("* BYE") for l in lines), lines
        assert sum(1 for l in lines if " BAD " in l) == 10
        c.close()


def test_ended_sessions_leave_room(server_factory):
    """With max_sessions in use, a session that has ended frees its
    place for the next client at once, even while the TLS process still
    holds its connection (the client has not closed it yet)."""
    s = server_factory(tls_process="shared", max_sessions=2, prefork=1)
    a = s.raw(tls=True)
    assert a.line().startswith("* OK")
    b = s.raw(tls=True)
    assert b.line().startswith("* OK")
    assert a.cmd("x", "LOGOUT")[-1].startswith("x OK")
    c = s.raw(tls=True)
    assert c.line(timeout=10).startswith("* OK")
    for x in (a, b, c):
        x.close()


def test_capabilities_and_login_on_the_tls_port(shared, mailuser):
    c = shared.raw(tls=True)
    greeting = c.line()
    assert "STARTTLS" not in greeting
    assert "LOGINDISABLED" not in greeting
    assert "AUTH=PLAIN" in greeting
    c.close()


@needs_root
def test_starttls_keeps_its_front(shared, mailuser):
    c = shared.imaplib(tls=False, starttls=True)
    c.login(mailuser.name, mailuser.password)
    c.noop()
    deadline = time.monotonic() + 10
    while len(fronts(shared)) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c.logout()


def test_per_session_is_the_default(server, mailuser):
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.logout()
    assert "TLS process" not in server.log()
    if imapdtest.IS_ROOT:
        assert wait_children(server.proc.pid, "imapd-tls", timeout=0) == []
