"""Behind a proxy: the PROXY header (versions 1 and 2) and a trusted
proxy's ID fields name the client, whose address then stands where the
proxy's stood: in the log, the per-address limits and the login policy.
Only trusted_proxies are believed; a missing, malformed or oversized
header, or one from anywhere else, closes the connection without a
greeting.

Loopback has a whole /8: the tests' proxy is 127.0.0.1 (trusted) and an
untrusted one connects from 127.0.0.2."""

import os
import pathlib
import pwd
import re
import secrets
import socket
import struct
import time

import pytest

import imapdtest

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
UNTRUSTED = "127.0.0.2"


def v1(client="192.0.2.7", port=50123, dport=143):
    fam = "TCP6" if ":" in client else "TCP4"
    dst = "::1" if ":" in client else "127.0.0.1"
    return f"PROXY {fam} {client} {dst} {port} {dport}\r\n".encode()


def v2(client="192.0.2.7", port=50123, dport=143, cmd=0x21, tlvs=b""):
    if ":" in client:
        addrs = (socket.inet_pton(socket.AF_INET6, client) +
                 socket.inet_pton(socket.AF_INET6, "::1") +
                 struct.pack(">HH", port, dport))
        fam = 0x21
    else:
        addrs = (socket.inet_aton(client) + socket.inet_aton("127.0.0.1") +
                 struct.pack(">HH", port, dport))
        fam = 0x11
    if cmd == 0x20:
        addrs, fam = b"", 0
    return (V2SIG + bytes([cmd, fam]) +
            struct.pack(">H", len(addrs) + len(tlvs)) + addrs + tlvs)


def proxied(server, header, tls=False, source=None):
    """A raw client that sends header in clear first, as a proxy does,
    then (on the TLS port) does the handshake."""
    port = server.tls_port if tls else server.port
    sock = socket.create_connection(
        ("127.0.0.1", port), 15,
        source_address=(source, 0) if source else None)
    sock.sendall(header)
    c = imapdtest.Raw.__new__(imapdtest.Raw)
    c.sock, c.ctx, c.buf, c.timeout = sock, None, b"", 15
    if tls:
        c.starttls(server.tls_context())
    return c


def readers(server):
    return [p for p in imapdtest.proc_descendants(server.proc.pid)
            if imapdtest.proc_comm(p) == "imapd-proxy"]


PROBE = "refused: connection closed before a whole PROXY header"


def quiet(server):
    """Wait until the harness's probes (one connection to each port,
    closed at once: refused for want of a header) are done, so that what
    the log says next is the test's."""
    deadline = time.monotonic() + 30
    while (server.log().count(PROBE) < 2 or readers(server)) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    server.mark = len(server.log())
    return server


def wait_new(server, pattern, timeout=10):
    """Wait for a log line matching pattern written since quiet()."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(rx.search(l) for l in
               server.log()[server.mark:].splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no new log line matches {pattern!r}:\n" +
                         server.log()[server.mark:])


@pytest.fixture
def pserver(server_factory):
    return quiet(server_factory(proxy_protocol="yes",
                                trusted_proxies="127.0.0.1 ::1/128",
                                allow_plaintext_auth="yes"))


def login_through(server, header, tls=False):
    c = proxied(server, header, tls)
    assert c.line().startswith("* OK"), server.log()
    user, pw = server.userdb["user"], server.userdb["password"]
    r = c.cmd("a", f"LOGIN {user} {pw}")
    assert r[-1].startswith("a OK"), r
    c.cmd("b", "LOGOUT")
    c.close()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("client", ["192.0.2.7", "2001:db8::7"])
def test_header_names_the_client(pserver, version, client):
    s = pserver
    login_through(s, (v1 if version == 1 else v2)(client, 50123))
    rip = client.replace(".", r"\.")
    s.wait_log(rf"rip={rip}: client port 50123 through the proxy at "
               rf"127\.0\.0\.1 \(PROXY v{version}\)")
    s.wait_log(rf"user=vuser rip={rip}: logged in")
    assert "rip=127.0.0.1: logged in" not in s.log()


def test_header_on_the_tls_port(pserver):
    s = pserver
    login_through(s, v2("198.51.100.20", 40000, 993), tls=True)
    s.wait_log(r"rip=198\.51\.100\.20: client port 40000 through the "
               r"proxy at 127\.0\.0\.1 \(PROXY v2\)")
    s.wait_log(r"user=vuser rip=198\.51\.100\.20: logged in .*TLS")


def test_bytes_after_the_header_are_the_clients(pserver):
    """The header is taken to its last byte and no further: a command
    sent in the same segment is answered."""
    c = proxied(pserver, v1() + b"a1 CAPABILITY\r\n")
    assert c.line().startswith("* OK")
    r = c.until_tagged("a1")
    assert r[-1].startswith("a1 OK"), r
    c.close()


@pytest.mark.parametrize("header", [
    b"PROXY UNKNOWN\r\n",
    b"PROXY UNKNOWN ffff:f...f:ffff 65535 65535\r\n",
    v2(cmd=0x20),
], ids=["v1-unknown", "v1-unknown-rest", "v2-local"])
def test_no_client_keeps_the_proxys_address(pserver, header):
    s = pserver
    login_through(s, header)
    s.wait_log(r"rip=127\.0\.0\.1: the proxy at 127\.0\.0\.1 named no "
               r"client")
    s.wait_log(r"user=vuser rip=127\.0\.0\.1: logged in")


def refused(server, header, source=None):
    """Whether the connection is closed with not a byte said."""
    c = proxied(server, header, source=source)
    closed = c.closed()
    said = c.buf
    c.close()
    return closed and said == b""


def test_untrusted_source_is_refused(pserver):
    s = pserver
    assert refused(s, v1(), source=UNTRUSTED)
    s.wait_log(r"rip=127\.0\.0\.2: refused: 127\.0\.0\.2 is not in "
               r"trusted_proxies")
    assert "rip=192.0.2.7" not in s.log()


@pytest.mark.parametrize("header,why", [
    (b"a1 LOGIN vuser secret\r\n", "no PROXY header"),
    (b"PROXY TCP4 192.0.2.7  127.0.0.1 1 2\r\n", "malformed PROXY v1 line"),
    (b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\n", "malformed PROXY v1 line"),
    (b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",
     "PROXY v1 address is not of the family named"),
    (b"PROXY TCP4 192.0.2.7 127.0.0.1 65536 2\r\n",
     "PROXY v1 port is not a number from 0 to 65535"),
    (b"PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n",
     "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN"),
    (b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n",
     "PROXY v1 line longer than 107 bytes"),
    (v2(tlvs=b"\x04" + struct.pack(">H", 1000) + b"x" * 1000),
     "PROXY v2 header longer than 536 bytes"),
    (v2(tlvs=b"\x04\x00\x09ab"), "malformed PROXY v2 header"),
    (V2SIG + b"\x22\x11\x00\x0c" + b"\x00" * 12,
     "PROXY v2 version or command unknown"),
    (V2SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12,
     "PROXY v2 transport is not a stream"),
    (b"PROXY TCP4 192.0.2.7", "connection closed before a whole PROXY "
     "header"),
], ids=["none", "two-spaces", "no-cr", "family", "port", "udp", "v1-long",
        "v2-long", "v2-tlv", "v2-version", "v2-dgram", "short"])
def test_bad_header_is_refused(pserver, header, why):
    s = pserver
    c = proxied(s, header)
    if header == b"PROXY TCP4 192.0.2.7":
        c.sock.shutdown(socket.SHUT_WR)
    assert c.closed()
    assert c.buf == b"", c.buf
    c.close()
    wait_new(s, r"rip=127\.0\.0\.1: refused: " + re.escape(why) +
             r" from the proxy at 127\.0\.0\.1")
    # and the next one through the proxy is served
    login_through(s, v1())


def test_limit_counts_the_client(server_factory):
    """max_prelogin_per_address counts the client the header names: the
    proxy's many connections are many clients."""
    s = quiet(server_factory(proxy_protocol="yes",
                             trusted_proxies="127.0.0.1",
                             max_prelogin_per_address=2, max_sessions=10))
    held = []
    for _ in range(2):
        c = proxied(s, v1("192.0.2.9"))
        assert c.line().startswith("* OK")
        held.append(c)
    c = proxied(s, v1("192.0.2.9"))
    assert c.line() == "* BYE Too many connections from your address"
    c.close()
    s.wait_log(r"rip=192\.0\.2\.9: refused: 2 connections from this "
               r"address have not logged in yet")
    # another client through the same proxy is served
    c = proxied(s, v1("192.0.2.10"))
    assert c.line().startswith("* OK")
    c.close()
    for c in held:
        c.close()


def test_policy_sees_the_client(server_factory, tmp_path):
    policy = tmp_path / "login-policy"
    policy.write_text("vuser networks=192.0.2.0/24\n")
    s = quiet(server_factory(proxy_protocol="yes",
                             trusted_proxies="127.0.0.1",
                             allow_plaintext_auth="yes", login_policy=policy))
    login_through(s, v1("192.0.2.50"))
    c = proxied(s, v1("198.51.100.50"))
    assert c.line().startswith("* OK")
    r = c.cmd("a", f"LOGIN vuser {s.userdb['password']}")
    assert r[-1] == ("a NO [AUTHORIZATIONFAILED] This account may not log "
                     "in from your address"), r
    c.close()
    s.wait_log(r"user=vuser rip=198\.51\.100\.50: .*rule networks: "
               r"198\.51\.100\.50 is not in the networks listed")


ID = ('ID ("name" "proxy" "x-originating-ip" "198.51.100.4" '
      '"x-originating-port" "4242" "x-session-id" "c2Vzc2lvbg")')


def id_login(server, source=None):
    c = server.raw(source=source)
    assert c.line().startswith("* OK")
    r = c.cmd("i", ID)
    assert r[-1].startswith("i OK"), r
    r = c.cmd("a", f"LOGIN vuser {server.userdb['password']}")
    assert r[-1].startswith("a OK"), r
    c.cmd("b", "LOGOUT")
    c.close()


def test_id_from_a_trusted_proxy(server_factory, tmp_path):
    policy = tmp_path / "login-policy"
    policy.write_text("vuser networks=198.51.100.0/24\n")
    s = server_factory(trusted_proxies="127.0.0.1",
                       allow_plaintext_auth="yes", login_policy=policy)
    id_login(s)
    s.wait_log(r"rip=198\.51\.100\.4: client port 4242 through the proxy "
               r"at 127\.0\.0\.1 \(ID, proxy session c2Vzc2lvbg\)")
    s.wait_log(r"user=vuser rip=198\.51\.100\.4: logged in")


def test_id_from_anywhere_else_is_ignored(server_factory):
    s = server_factory(trusted_proxies="127.0.0.1",
                       allow_plaintext_auth="yes")
    id_login(s, source=UNTRUSTED)
    s.wait_log(r"rip=127\.0\.0\.2: ID: x-originating-\* fields ignored: "
               r"127\.0\.0\.2 is not in trusted_proxies")
    s.wait_log(r"user=vuser rip=127\.0\.0\.2: logged in")
    assert "rip=198.51.100.4" not in s.log()


def test_id_not_believed_twice_or_after_a_header(pserver):
    """Behind a PROXY header the session's address is the client's, and
    a client is no trusted proxy: its ID fields are its own words."""
    s = pserver
    c = proxied(s, v1("192.0.2.77"))
    assert c.line().startswith("* OK")
    assert c.cmd("i", ID)[-1].startswith("i OK")
    r = c.cmd("a", f"LOGIN vuser {s.userdb['password']}")
    assert r[-1].startswith("a OK"), r
    c.close()
    s.wait_log(r"rip=192\.0\.2\.77: ID: x-originating-\* fields ignored")
    s.wait_log(r"user=vuser rip=192\.0\.2\.77: logged in")
    assert "rip=198.51.100.4" not in s.log()


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="privileges: root only")
def test_header_reader_is_confined(pserver):
    """The header is parsed by a process of its own as login_user, in
    login_chroot: the worker, which goes on to run PAM, never parses
    it."""
    s = pserver
    c = proxied(s, b"PROXY TCP4 ")
    readers = imapdtest.wait_descendants(s.proc.pid, "imapd-proxy")
    assert readers, s.log()
    assert len(readers) == 1, readers
    st = imapdtest.proc_status(readers[0])
    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)
    assert [int(x) for x in st["Uid"].split()] == [nobody.pw_uid] * 4
    assert os.readlink(f"/proc/{readers[0]}/root") == str(s.chroot)
    c.send(b"192.0.2.7 127.0.0.1 1 143\r\n")
    assert c.line().startswith("* OK")
    c.close()
    s.wait_log(r"rip=192\.0\.2\.7: client port 1 through the proxy")


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="writes /etc/pam.d")
def test_pam_sees_the_client(server_factory, mailuser, workdir):
    """PAM_RHOST is the client a PROXY header or a trusted proxy's ID
    names, not the proxy."""
    d = workdir / ("pamrhost-" + secrets.token_hex(3))
    d.mkdir()
    d.chmod(0o755)
    record, events = d / "record.sh", d / "events"
    record.write_text("#!/bin/sh\n"
                      f"echo \"rhost=$PAM_RHOST\" >> {events}\n")
    record.chmod(0o755)
    service = "imapd-test-rhost-" + secrets.token_hex(3)
    pamfile = pathlib.Path("/etc/pam.d") / service
    pamfile.write_text("auth required pam_unix.so\n"
                       f"auth optional pam_exec.so quiet {record}\n"
                       "account required pam_unix.so\n")
    try:
        s = quiet(server_factory(pam_service=service, auth="pam",
                                 proxy_protocol="yes",
                                 trusted_proxies="127.0.0.1",
                                 allow_plaintext_auth="yes"))
        c = proxied(s, v2("192.0.2.33"))
        assert c.line().startswith("* OK")
        r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
        assert r[-1].startswith("a OK"), r
        c.close()
        assert events.read_text().splitlines() == ["rhost=192.0.2.33"]

        s = server_factory(pam_service=service, auth="pam",
                           trusted_proxies="127.0.0.1",
                           allow_plaintext_auth="yes")
        c = s.raw()
        assert c.line().startswith("* OK")
        assert c.cmd("i", ID)[-1].startswith("i OK")
        r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
        assert r[-1].startswith("a OK"), r
        c.close()
        assert events.read_text().splitlines()[1:] == \
            ["rhost=198.51.100.4"]
    finally:
        pamfile.unlink()
