"""Limits per client address and per user, the delay that failed logins
earn an address, and the one pre-login deadline.

Loopback has a whole /8, so the tests connect from several 127.0.0.x
addresses to be different clients: one that hits a limit, and others
that must go on being served.  The per-address tests keep the client
they limit off 127.0.0.1, where the harness's own probes (is the server
listening yet?) may still count for a moment."""

import socket
import time

import pytest


def greeted(server, tls=False, source=None):
    c = server.raw(tls=tls, source=source)
    line = c.line()
    return c, line


def wait_until(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def admitted(server, tls=False, source=None):
    """Whether a new connection is greeted (it is closed either way)."""
    c, line = greeted(server, tls, source)
    c.close()
    return line.startswith("* OK")


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_prelogin_per_address(server_factory, tls):
    s = server_factory(max_prelogin_per_address=3, max_sessions=10)
    me = "127.0.0.4"
    held = []
    for i in range(3):
        c, line = greeted(s, tls, source=me)
        assert line.startswith("* OK"), line
        held.append(c)
    # the fourth from the same address is told why, before any greeting
    c, line = greeted(s, tls, source=me)
    assert line == "* BYE Too many connections from your address"
    assert c.closed()
    s.wait_log(r"rip=127\.0\.0\.4: refused: 3 connections from this "
               r"address have not logged in yet "
               r"\(max_prelogin_per_address = 3\)")
    # everyone else is still served
    assert admitted(s, tls, source="127.0.0.5")
    # a connection that logs in, or leaves, no longer counts
    if tls:
        user, pw = s.userdb["user"], s.userdb["password"]
        r = held[0].cmd("a", f"LOGIN {user} {pw}")
        assert r[-1].startswith("a OK"), r
    else:
        held[0].cmd("a", "LOGOUT")
        assert held[0].closed()
    assert wait_until(lambda: admitted(s, tls, source=me))


def test_prelogin_slots_cannot_be_filled_from_one_address(server_factory):
    """20 idle connections used to take every one of max_sessions = 20,
    and the 21st got no greeting at all."""
    s = server_factory(max_sessions=20, max_prelogin_per_address=10)
    me = "127.0.0.4"
    held = []
    for i in range(10):
        c, line = greeted(s, source=me)
        assert line.startswith("* OK"), line
        held.append(c)
    for i in range(10):
        c, line = greeted(s, source=me)
        assert line == "* BYE Too many connections from your address"
        c.close()
    c, line = greeted(s, tls=True, source="127.0.0.5")
    assert line.startswith("* OK"), line
    user, pw = s.userdb["user"], s.userdb["password"]
    assert c.cmd("a", f"LOGIN {user} {pw}")[-1].startswith("a OK")


def test_user_sessions(server_factory, userdb):
    s = server_factory(max_user_sessions=3, max_user_sessions_per_address=2)
    user, pw = userdb["user"], userdb["password"]
    sessions = []

    def login(source):
        c, line = greeted(s, tls=True, source=source)
        assert line.startswith("* OK"), line
        return c, c.cmd("a", f"LOGIN {user} {pw}")[-1]

    for source in ("127.0.0.1", "127.0.0.1"):
        c, r = login(source)
        assert r.startswith("a OK"), r
        sessions.append(c)
    # a third from the same address: the per-user-and-address limit
    c, r = login("127.0.0.1")
    assert r == ("a NO [LIMIT] Too many connections for this user; close "
                 "some and try again")
    assert c.line() == "* BYE Too many connections for this user"
    assert c.closed()
    s.wait_log(r"user=vuser rip=127\.0\.0\.1: login refused: vuser has 2 "
               r"sessions from this address "
               r"\(max_user_sessions_per_address = 2\)")
    # from another address it is fine, up to the per-user limit
    c, r = login("127.0.0.2")
    assert r.startswith("a OK"), r
    sessions.append(c)
    c, r = login("127.0.0.3")
    assert r.startswith("a NO [LIMIT]"), r
    s.wait_log(r"user=vuser rip=127\.0\.0\.3: login refused: vuser has 3 "
               r"sessions \(max_user_sessions = 3\)")
    # other users are not affected
    if s.build.pam_ok:
        other = s.imaplib(tls=True)
        assert other.login(s.user.name, s.user.password)[0] == "OK"
        other.logout()
    # a session that ends gives its place back
    assert sessions.pop().cmd("z", "LOGOUT")[-1].startswith("z OK")
    assert wait_until(lambda: login("127.0.0.3")[1].startswith("a OK"))


def test_failed_logins_slow_an_address_down(server_factory, userdb):
    s = server_factory(auth_fail_delay="100ms", auth_penalty_max="2s",
                       auth="userdb")
    user = userdb["user"]

    def fail(source="127.0.0.1"):
        c, _ = greeted(s, tls=True, source=source)
        t0 = time.monotonic()
        r = c.cmd("a", f"LOGIN {user} wrong")
        c.close()
        assert r[-1].startswith("a NO [AUTHENTICATIONFAILED]"), r
        return time.monotonic() - t0

    for i in range(3):
        fail()          # a few typos cost nothing extra
    assert fail() >= 1.0        # then one second,
    assert fail() >= 2.0        # two,
    assert fail() >= 2.0        # and no more than auth_penalty_max
    s.wait_log(r"answering 2000 ms later: 5 failed logins from this "
               r"address in the last 15 minutes \(auth_penalty_max = "
               r"2000 ms\)")
    # other addresses do not pay for it
    fail("127.0.0.2")
    s.wait_log(r"rip=127\.0\.0\.2: login failed: wrong password")
    assert not [l for l in s.log().splitlines()
                if "rip=127.0.0.2" in l and "answering" in l]
    # and a good password is not held back by it
    c, _ = greeted(s, tls=True)
    r = c.cmd("a", f"LOGIN {user} {userdb['password']}")
    assert r[-1].startswith("a OK"), r
    assert s.log().count("answering") == 3


def test_login_deadline_includes_the_tls_handshake(server_factory):
    """timeout_login counts from accept on the TLS port too: a client that
    takes its time over the handshake has that much less to log in."""
    s = server_factory(timeout_login="3s")
    raw = socket.create_connection(("127.0.0.1", s.tls_port), 10)
    t0 = time.monotonic()
    time.sleep(2.2)
    tls = s.tls_context().wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(10)
    buf = b""
    while b"* BYE" not in buf:
        chunk = tls.recv(4096)
        if not chunk:
            break
        buf += chunk
    waited = time.monotonic() - t0
    assert buf.startswith(b"* OK"), buf
    assert b"* BYE Autologout" in buf, buf
    # the BYE comes at the 3 s deadline, not 3 s after the handshake
    assert 2.9 <= waited < 4.5, waited
    tls.close()
