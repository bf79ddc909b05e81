"""A plaintext login hands the connection to the back.

On the plain port, once logged in without TLS, nothing needs relaying:
the front hands the back what the client pipelined after its login
command and exits, and the back serves the client socket itself, so the
session is one process.  A login over TLS (implicit or STARTTLS) keeps
the front as its relay.  (COMPRESS, IDLE and APPEND on such a session:
test_compress.py's plaintext case; the key: test_tlskey.py.)"""

import os
import re
import socket
import time

import pytest

import imapdtest
from imapdtest import (drop, message, proc_children, proc_comm,
                       proc_descendants, proc_gone, proc_ppid, wait_gone)

pytestmark = pytest.mark.skipif(
    not imapdtest.IS_ROOT, reason="the session's processes are found as root")

TIMEOUT_OUTPUT = 2      # seconds, as configured below


@pytest.fixture
def plain_server(server_factory, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server_factory(allow_plaintext_auth="yes",
                          timeout_output=f"{TIMEOUT_OUTPUT}s")


def greeted(server, port_tls=False):
    """A new connection with its greeting read, and its (back, front)
    pids before login."""
    assert wait_gone(imapdtest.server_sessions(server, "imapd-auth"), 10)
    c = server.raw(tls=port_tls)
    c.line()
    deadline = time.monotonic() + 10
    while len(backs := imapdtest.server_sessions(server,
                                                 "imapd-auth")) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fronts = imapdtest.wait_children(backs[0], "imapd-login")
    assert len(fronts) == 1
    return c, backs[0], fronts[0]


def sessions(server):
    return [p for p in proc_descendants(server.proc.pid)
            if proc_comm(p) == "imapd-session"]


def fronts_near(back):
    """The fronts a logged-in back could have: its children, or its PAM
    keeper's."""
    near = proc_children(back)
    parent = proc_ppid(back)
    if proc_comm(parent) == "imapd-pam":
        near += proc_children(parent)
    return [p for p in near if proc_comm(p) == "imapd-login"]


def tcp_sockets(pid):
    """How many of pid's descriptors are TCP sockets."""
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = open(f).read().splitlines()[1:]
        inodes.update(line.split()[9] for line in lines)
    n = 0
    for target in imapdtest.proc_fds(pid).values():
        m = re.match(r"socket:\[(\d+)\]", target)
        if m and m.group(1) in inodes:
            n += 1
    return n


def test_plaintext_session_is_one_process(plain_server, mailuser):
    """After a plaintext LOGIN the front is gone and the back alone holds
    the client's socket; commands still work and LOGOUT ends it."""
    c, back, front = greeted(plain_server)
    assert c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")[
        -1].startswith("a OK")
    assert wait_gone([front], 10)
    live = sessions(plain_server)
    assert len(live) == 1
    assert fronts_near(live[0]) == []
    assert tcp_sockets(live[0]) == 1
    # a PAM login (pam_session is on by default): the root keeper of
    # the PAM session holds nothing of the connection
    keeper = proc_ppid(live[0])
    assert proc_comm(keeper) == "imapd-pam"
    assert tcp_sockets(keeper) == 0
    r = c.cmd("b", "SELECT INBOX")
    assert r[-1].startswith("b OK"), r
    r = c.cmd("c", "LOGOUT")
    assert r[0].startswith("* BYE") and r[-1].startswith("c OK"), r
    assert c.closed()
    assert wait_gone([live[0], back], 10)
    c.close()


@pytest.mark.parametrize("how", ["pam", "userdb"])
def test_commands_pipelined_with_login(plain_server, mailuser, userdb, how):
    """LOGIN and the commands after it in one packet: the front has read
    them, hands them over, and every one is answered, in order; the
    session's log line counts them as its input.  With PAM the session
    has a keeper above it; with the userdb it is the worker itself."""
    drop(mailuser, message(subject="one"))
    name, password = ((mailuser.name, mailuser.password) if how == "pam"
                      else (userdb["user"], userdb["password"]))
    c, _, front = greeted(plain_server)
    after = b"b SELECT INBOX\r\nc FETCH 1 (FLAGS)\r\nd LOGOUT\r\n"
    c.send(f"a LOGIN {name} {password}\r\n".encode() + after)
    lines = c.until_tagged("d", timeout=30)
    tagged = [l.split()[0:2] for l in lines if l[:2] in ("a ", "b ", "c ",
                                                        "d ")]
    assert tagged == [["a", "OK"], ["b", "OK"], ["c", "OK"], ["d", "OK"]]
    assert "* 1 EXISTS" in lines
    assert c.closed()
    c.close()
    assert wait_gone([front], 10)
    line = plain_server.wait_log(r"session ended: logged out \(commands=3 ")
    assert f"in={len(after)} " in line, line


def test_many_commands_pipelined_with_login(plain_server, mailuser):
    """More pipelined than one read of the front's, all answered."""
    c, _, _ = greeted(plain_server)
    n = 3000
    cmds = "".join(f"n{i} NOOP\r\n" for i in range(n))
    c.send(f"a LOGIN {mailuser.name} {mailuser.password}\r\n{cmds}"
           "z LOGOUT\r\n")
    lines = c.until_tagged("z", timeout=60)
    oks = [l for l in lines if re.match(r"n\d+ OK", l)]
    assert [int(l.split()[0][1:]) for l in oks] == list(range(n))
    c.close()


def test_tls_logins_keep_the_relay(plain_server, mailuser):
    """Over TLS, on either port, the front stays as the relay, and the
    back holds no socket to the client."""
    for tls in (True, False):
        c, back, front = greeted(plain_server, port_tls=tls)
        if not tls:
            assert c.cmd("s", "STARTTLS")[-1].startswith("s OK")
            c.starttls(plain_server.tls_context())
        assert c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")[
            -1].startswith("a OK")
        live = sessions(plain_server)
        assert len(live) == 1
        assert fronts_near(live[0]) == [front]
        assert not proc_gone(front)
        assert tcp_sockets(live[0]) == 0
        assert tcp_sockets(front) == 1
        assert c.cmd("b", "NOOP")[-1].startswith("b OK")
        assert c.cmd("c", "LOGOUT")[-1].startswith("c OK")
        assert wait_gone([front, live[0]], 10)
        c.close()


def test_failed_plaintext_login_then_success(plain_server, mailuser):
    """A wrong password first: the connection is still the front's, and
    the next right one hands it over."""
    c, _, front = greeted(plain_server)
    r = c.cmd("a", f"LOGIN {mailuser.name} wrong-password")
    assert r[-1].startswith("a NO"), r
    assert not proc_gone(front)
    r = c.cmd("b", f"LOGIN {mailuser.name} {mailuser.password}")
    assert r[-1].startswith("b OK"), r
    assert wait_gone([front], 10)
    assert c.cmd("c", "NOOP")[-1].startswith("c OK")
    c.close()


def body_of(size):
    line = "x" * 76 + "\n"
    return line * (size // len(line))


def test_stalled_plaintext_reader_is_dropped(plain_server, mailuser):
    """With no relay, the back itself drops a client that takes no output
    for timeout_output, with a reset, and logs why."""
    drop(mailuser, message(body=body_of(8 * 1000 * 1000)))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.settimeout(15)
    raw.connect(("127.0.0.1", plain_server.port))
    f = raw.makefile("rb")
    assert f.readline().startswith(b"* OK")
    raw.sendall(f"a LOGIN {mailuser.name} {mailuser.password}\r\n"
                "b SELECT INBOX\r\n".encode())
    while not (l := f.readline()).startswith(b"b "):
        assert l
    assert l.startswith(b"b OK")
    back = sessions(plain_server)
    assert len(back) == 1
    raw.sendall(b"c FETCH 1 BODY[]\r\n")
    t0 = time.monotonic()
    line = plain_server.wait_log(r"client not reading: no output taken "
                                 r"for 2 s \(timeout_output\); dropping",
                                 timeout=TIMEOUT_OUTPUT + 10)
    assert time.monotonic() - t0 >= TIMEOUT_OUTPUT
    assert "session=" in line
    assert wait_gone(back, 10)
    plain_server.wait_log(r"session ended: connection error")
    # a reset: no orphaned socket keeps the unsent bytes
    port = raw.getsockname()[1]
    states = []
    for l in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = l.split()
        if (int(fields[1].split(":")[1], 16) == plain_server.port and
                int(fields[2].split(":")[1], 16) == port):
            states.append(fields[3])
    assert states == []
    raw.close()


def test_session_goes_on_after_resting(plain_server, mailuser):
    """A session quiet for a second gives its spare pages back (stack and
    heap), and so does IDLE as it starts waiting; the session goes on
    whole after either.  The pauses are the condition under test, not
    waits for something to happen."""
    body = "y" * 76 + "\n"
    drop(mailuser, message(subject="big", body=body * 3000))
    c, _, _ = greeted(plain_server)
    assert c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")[
        -1].startswith("a OK")
    assert c.cmd("b", "SELECT INBOX")[-1].startswith("b OK")
    want = f"{{{len(body) * 3000 + 3000}}}"
    for i in range(2):
        r = c.cmd(f"f{i}", "FETCH 1 (BODY.PEEK[TEXT] RFC822.SIZE)")
        assert r[-1].startswith(f"f{i} OK"), r[-1]
        time.sleep(2.5)   # quieter than the session's one second
        r = c.cmd(f"s{i}", "SORT (SUBJECT) UTF-8 ALL")
        assert "* SORT 1" in r and r[-1].startswith(f"s{i} OK"), r
    c.send("i IDLE\r\n")
    assert c.line().startswith("+ ")
    drop(mailuser, message(subject="while idle"))
    assert c.line(timeout=30) == "* 2 EXISTS"
    c.send("DONE\r\n")
    assert c.until_tagged("i")[-1].startswith("i OK")
    r = c.cmd("g", "FETCH 1 BODY.PEEK[TEXT]")
    assert any(l.endswith(want) for l in r), r[0][:80]
    assert r[-1].startswith("g OK")
    c.close()
