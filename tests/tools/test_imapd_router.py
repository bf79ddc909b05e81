"""imapd-router against real imapd backends on loopback: requests shaped
like nginx's mail proxy's get a backend, the same one each time; a
backend that stops answering or is drained loses its users, and only
its users; pins hold a user where they were; malformed requests are
refused; the password never reaches the log.  Then the whole path:
imaplib through nginx's mail proxy, asking the router, to the backend
the router names, and to the other one once that one is gone (skipped
when nginx or its mail module is not installed).

Nothing waits on a clock except test_drained_users_come_back_after_pin,
whose property is the pin time itself: it lets the pin run out."""

import re
import socket
import subprocess
import time

import pytest

import imapdtest
import nginxmail
from imaprouter import SECRET, Router, parse

USERS = [f"user{i}" for i in range(40)]


@pytest.fixture
def backends(server_factory):
    return [server_factory() for _ in range(3)]


@pytest.fixture
def router_factory(build, tmp_path):
    routers = []

    def make(backends, **keys):
        r = Router(build, tmp_path / f"router{len(routers)}", backends,
                   **keys)
        routers.append(r)
        r.start()
        for b in backends:
            r.wait_up(b)
        return r

    yield make
    for r in routers:
        r.stop()
        print(f"--- router log ---\n{r.log()}")
        assert not imapdtest.SAN_PATTERNS.search(r.log()), r.log()
        assert SECRET not in r.log()


def mapping(router):
    return {u: router.where(u) for u in USERS}


def test_same_user_same_backend_and_stable_hash(backends, router_factory):
    r = router_factory(backends, pin="0")
    first = mapping(r)
    # every backend gets some of forty users, each the same each time
    assert set(first.values()) == {b.port for b in backends}
    assert mapping(r) == first
    # the hash does not depend on the process: a new router agrees
    r.stop()
    r.start()
    for b in backends:
        r.wait_up(b, count=2)
    assert mapping(r) == first
    # the user name is folded: BOB is bob
    assert r.where("USER7") == first["user7"]
    # and nginx's %-escapes are undone
    assert r.where("user%37") == first["user7"]
    r.wait_log(r"user=user1 rip=192\.0\.2\.7: routed to "
               rf"127\.0\.0\.1:{first['user1']} \(hash\)")


def test_stopped_backend_moves_only_its_users(backends, router_factory):
    r = router_factory(backends, pin="0")
    before = mapping(r)
    gone = backends[1]
    gone.stop()
    r.wait_down(gone)
    after = mapping(r)
    for u in USERS:
        if before[u] == gone.port:
            assert after[u] != gone.port, u
        else:
            assert after[u] == before[u], u
    r.wait_log(r"routed to .* \(failover\)")
    # back in rotation, its users come home (no pin here)
    gone.start()
    r.wait_up(gone, count=2)
    assert mapping(r) == before


def test_drain_file_moves_users_and_pin_holds_them(backends,
                                                   router_factory):
    r = router_factory(backends, pin="1h")
    before = mapping(r)
    drained = backends[0]
    f = r.drain / f"127.0.0.1:{drained.port}"
    f.write_text("")
    # at once, without waiting for a check
    during = mapping(r)
    r.wait_log(rf"backend 127\.0\.0\.1:{drained.port}: drained")
    for u in USERS:
        if before[u] == drained.port:
            assert during[u] != drained.port, u
        else:
            assert during[u] == before[u], u
    # the drain ends, but the moved users are pinned where they are now
    f.unlink()
    assert mapping(r) == during
    r.wait_log(r"routed to .* \(pin\)")
    assert any(before[u] != during[u] for u in USERS)


def test_drained_users_come_back_after_pin(backends, router_factory):
    r = router_factory(backends, pin="2s")
    before = mapping(r)
    drained = backends[2]
    moved = [u for u in USERS if before[u] == drained.port]
    assert moved
    f = r.drain / f"127.0.0.1:{drained.port}"
    f.write_text("")
    assert all(r.where(u) != drained.port for u in moved)
    f.unlink()
    # the property is the pin's length: wait it out (past 2 s since the
    # last routing of these users), then they are back
    time.sleep(3)
    assert all(r.where(u) == drained.port for u in moved)


def test_no_backend_refuses_with_wait(backends, router_factory):
    r = router_factory(backends[:1], pin="0")
    backends[0].stop()
    r.wait_down(backends[0])
    h = r.ask("someone")
    assert h["Auth-Status"] != "OK" and "Auth-Server" not in h, h
    assert h["Auth-Wait"] == "3", h
    # nginx holds each attempt's memory: late attempts end the session
    h = r.ask("someone", attempt=12)
    assert h["Auth-Status"] != "OK" and "Auth-Wait" not in h, h
    r.wait_log(r"user=someone rip=192\.0\.2\.7: refused: no backend")


GOOD = ("GET /auth HTTP/1.0\r\nAuth-User: bob\r\nAuth-Pass: " + SECRET +
        "\r\nClient-IP: 192.0.2.1\r\n")

BAD = {
    "not a GET": "POST /auth HTTP/1.0\r\nAuth-User: bob\r\n"
                 "Client-IP: 192.0.2.1\r\n\r\n",
    "HTTP/2": GOOD.replace("HTTP/1.0", "HTTP/2.0") + "\r\n",
    "no user": "GET /auth HTTP/1.0\r\nAuth-Pass: " + SECRET +
               "\r\nClient-IP: 192.0.2.1\r\n\r\n",
    "no client": "GET /auth HTTP/1.0\r\nAuth-User: bob\r\n\r\n",
    "two users": GOOD + "Auth-User: eve\r\n\r\n",
    "bare LF": GOOD.replace("\r\n", "\n") + "\n",
    "pop3": GOOD + "Auth-Protocol: pop3\r\n\r\n",
    "bad escape": GOOD.replace("bob", "bo%4") + "\r\n",
    "escaped NUL": GOOD.replace("bob", "bo%00b") + "\r\n",
    "control char": GOOD + "X-Junk: a\x01b\r\n\r\n",
    "client name": GOOD.replace("192.0.2.1", "client.example") + "\r\n",
    "folded": GOOD + " continued\r\n\r\n",
    "long line": GOOD + "X-Long: " + "a" * 3000 + "\r\n\r\n",
    "many headers": GOOD + "".join(f"X-{i}: {i}\r\n"
                                   for i in range(40)) + "\r\n",
    "too large": GOOD + "".join(f"X-{i}: {'b' * 1000}\r\n"
                                for i in range(12)) + "\r\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_request_refused(backends, router_factory, case):
    r = router_factory(backends[:1], pin="0")
    h = parse(r.raw(BAD[case].encode()))
    assert h["Auth-Status"] != "OK", h
    assert "Auth-Server" not in h and "Auth-Wait" not in h, h
    r.wait_log(r"request from 127\.0\.0\.1 refused: ")
    # and the router still answers the next one
    assert r.where("bob") == backends[0].port


def test_slow_request_is_cut(backends, router_factory):
    r = router_factory(backends[:1], pin="0")
    with socket.create_connection(("127.0.0.1", r.port), 30) as s:
        s.sendall(GOOD.encode())
        # the router's per-request deadline closes the connection
        assert s.recv(100) == b""
    r.wait_log(r"request from 127\.0\.0\.1: not whole within")


def test_listen_address_must_be_private(build, tmp_path):
    def check(**keys):
        c = tmp_path / "r.conf"
        c.write_text("backends = 127.0.0.1:143\n" + "".join(
            f"{k} = {v}\n" for k, v in keys.items()))
        p = subprocess.run([str(build.tool("imapd-router")), "-n", "-c",
                            str(c)], capture_output=True, text=True,
                           env=build.env(), timeout=30)
        return p.returncode, p.stderr

    assert check(listen="127.0.0.1:9143") == (0, "")
    assert check(listen="10.1.2.3:9143")[0] == 0
    rc, err = check(listen="*:9143")
    assert rc == 1 and "wildcard" in err, err
    rc, err = check(listen="192.0.2.1:9143")
    assert rc == 1 and "listen_public" in err, err
    assert check(listen="192.0.2.1:9143", listen_public="yes")[0] == 0
    rc, err = check(listen="127.0.0.1:9143", pin="soon")
    assert rc == 1 and "r.conf:3: pin:" in err, err
    rc, err = check(listen="127.0.0.1:9143", backend="127.0.0.1:1")
    assert rc == 1 and "unknown key" in err, err


# --- through nginx's mail proxy ---------------------------------------------

def login_through(port, user, password):
    c = imapdtest.Raw(port, source="127.0.0.5")
    assert c.line().startswith("* OK"), "nginx's greeting"
    r = c.cmd("a", f"LOGIN {user} {password}")
    assert r[-1].startswith("a OK"), r
    c.cmd("b", "LOGOUT")
    c.close()


def logins(server):
    return len(re.findall(r"user=vuser rip=127\.0\.0\.5: logged in",
                          server.log()))


@nginxmail.needed
def test_nginx_lands_on_pinned_backend_then_fails_over(server_factory,
                                                       router_factory,
                                                       tmp_path):
    kw = dict(proxy_protocol="yes", trusted_proxies="127.0.0.1",
              allow_plaintext_auth="yes")
    pair = [server_factory(**kw), server_factory(**kw)]
    r = router_factory(pair, pin="1h", check_proxy="yes")
    n = nginxmail.Nginx(tmp_path / "nginx", r.port)
    port = n.port
    try:
        user, pw = pair[0].userdb["user"], pair[0].userdb["password"]
        login_through(port, user, pw)
        r.wait_log(r"user=vuser rip=127\.0\.0\.5: routed to .* \(hash\)")
        first = next(s for s in pair
                     if f"127.0.0.1:{s.port} (hash)" in r.log())
        other = pair[1] if first is pair[0] else pair[0]
        first.wait_log(r"user=vuser rip=127\.0\.0\.5: logged in")
        # again: the pin sends the user to the same backend
        login_through(port, user, pw)
        r.wait_log(r"user=vuser rip=127\.0\.0\.5: routed to "
                   rf"127\.0\.0\.1:{first.port} \(pin\)")
        deadline = time.monotonic() + 10
        while logins(first) < 2:
            assert time.monotonic() < deadline, first.log()
            time.sleep(0.05)
        assert logins(other) == 0
        # that backend dies: the next login lands on the other one
        first.stop()
        r.wait_down(first)
        login_through(port, user, pw)
        other.wait_log(r"user=vuser rip=127\.0\.0\.5: logged in")
        r.wait_log(r"user=vuser rip=127\.0\.0\.5: routed to "
                   rf"127\.0\.0\.1:{other.port} \((hash|failover)\)")
        assert pw not in r.log()
    finally:
        n.stop()
