"""The daemon end to end: ports, TLS, login, limits before login, signals.

Each test starts the real imapd on free loopback ports (see conftest.py)
and talks to it with Python's imaplib or the raw client."""

import base64
import imaplib
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import warnings

import pytest

import imapdtest


def caps_of(line):
    """The capability words in a greeting or CAPABILITY line."""
    if "[CAPABILITY " in line:
        inner = line.split("[CAPABILITY ", 1)[1].split("]", 1)[0]
    else:
        inner = line.split("CAPABILITY ", 1)[1]
    return inner.split()


# --- greeting and capabilities ---------------------------------------------

def test_greeting_starttls_port(server):
    c = server.raw()
    greeting = c.line()
    assert greeting.startswith("* OK [CAPABILITY ")
    caps = caps_of(greeting)
    for w in ("IMAP4rev1", "IMAP4rev2", "STARTTLS", "LOGINDISABLED"):
        assert w in caps
    assert not any(w.startswith("AUTH=") for w in caps)
    lines = c.cmd("a", "CAPABILITY")
    assert lines[-1].startswith("a OK")
    assert caps_of(lines[0]) == caps


def test_greeting_tls_port(server):
    c = server.raw(tls=True)
    caps = caps_of(c.line())
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
    assert "AUTH=PLAIN" in caps and "AUTH=LOGIN" in caps
    assert "SASL-IR" in caps
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_tls_below_1_2_refused(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    except (ValueError, AttributeError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1")
    s = socket.create_connection(("127.0.0.1", server.tls_port), 10)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        ctx.wrap_socket(s, server_hostname="localhost").recv(10)
    # and the server still serves others
    assert server.raw(tls=True).line().startswith("* OK")


# --- logins ----------------------------------------------------------------

def test_starttls_then_login(server, mailuser):
    c = server.imaplib(tls=False, starttls=True)
    typ, data = c.login(mailuser.name, mailuser.password)
    assert typ == "OK"
    assert b"[CAPABILITY" in data[0]
    assert c.logout()[0] == "BYE"
    method = "pam" if server.build.pam_ok else "userdb"
    server.wait_log(r"session=\w+ user=%s rip=127\.0\.0\.1: logged in "
                    r"\(%s, TLS\)" % (mailuser.name, method))


def test_login_on_tls_port(server, mailuser):
    c = server.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"
    typ, data = c.capability()
    assert b"NAMESPACE" in data[0] and b"STARTTLS" not in data[0]
    assert c.noop()[0] == "OK"
    c.logout()


def test_login_before_tls_refused(server, mailuser):
    c = server.raw()
    c.line()
    r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
    assert r[-1].startswith("a NO [PRIVACYREQUIRED] ")
    assert len(r[-1]) > len("a NO [PRIVACYREQUIRED] ") + 10
    r = c.cmd("b", "AUTHENTICATE PLAIN")
    assert r[-1].startswith("b NO [PRIVACYREQUIRED]")
    server.wait_log("LOGIN refused: plaintext authentication before "
                    "STARTTLS")
    # still usable: STARTTLS works afterwards
    assert c.cmd("c", "STARTTLS")[-1].startswith("c OK")


def test_plaintext_allowed_when_configured(server_factory, mailuser):
    s = server_factory(allow_plaintext_auth="yes")
    c = s.raw()
    caps = caps_of(c.line())
    assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps
    r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
    assert r[-1].startswith("a OK")


def test_wrong_password(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    t0 = time.monotonic()
    r = c.cmd("a", f"LOGIN {mailuser.name} wrong-password")
    assert r[-1].startswith("a NO [AUTHENTICATIONFAILED]")
    # auth_fail_delay (100ms in the tests) is applied
    assert time.monotonic() - t0 >= 0.09
    # unknown user gets the same answer
    r = c.cmd("b", "LOGIN no-such-user-xyz secret")
    assert r[-1].startswith("b NO [AUTHENTICATIONFAILED]")
    server.wait_log("login failed: unknown user")


def test_third_failure_ends_session(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    for tag in ("a", "b"):
        assert c.cmd(tag, f"LOGIN {mailuser.name} nope")[-1].startswith(
            tag + " NO [AUTHENTICATIONFAILED]")
    r = c.cmd("c", f"LOGIN {mailuser.name} nope")
    assert r[-1].startswith("c NO [AUTHENTICATIONFAILED]")
    assert c.line().startswith("* BYE")
    assert c.closed()


def test_authenticate_plain_with_sasl_ir(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    ir = base64.b64encode(f"\0{mailuser.name}\0{mailuser.password}"
                          .encode()).decode()
    r = c.cmd("a", f"AUTHENTICATE PLAIN {ir}")
    assert r[-1].startswith("a OK [CAPABILITY ")
    assert c.cmd("b", "NOOP")[-1].startswith("b OK")


def test_authenticate_plain_without_sasl_ir(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line() == "+ "
    resp = base64.b64encode(f"{mailuser.name}\0{mailuser.name}\0"
                            f"{mailuser.password}".encode()).decode()
    c.send(resp + "\r\n")
    assert c.until_tagged("a")[-1].startswith("a OK")


def test_authenticate_plain_via_imaplib(server, mailuser):
    c = server.imaplib(tls=True)
    typ, _ = c.authenticate(
        "PLAIN", lambda _: f"\0{mailuser.name}\0{mailuser.password}")
    assert typ == "OK"
    c.logout()


def test_authenticate_login_and_cancel(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    c.send("a AUTHENTICATE LOGIN\r\n")
    assert c.line() == "+ VXNlcm5hbWU6"
    c.send("*\r\n")
    assert c.until_tagged("a")[-1].startswith("a BAD")
    c.send("b AUTHENTICATE LOGIN\r\n")
    c.line()
    c.send(base64.b64encode(mailuser.name.encode()).decode() + "\r\n")
    assert c.line() == "+ UGFzc3dvcmQ6"
    c.send(base64.b64encode(mailuser.password.encode()).decode() + "\r\n")
    assert c.until_tagged("b")[-1].startswith("b OK")


def test_authenticate_bad_input(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    assert c.cmd("a", "AUTHENTICATE PLAIN !!!notbase64")[-1].startswith(
        "a BAD")
    assert c.cmd("b", "AUTHENTICATE CRAM-MD5")[-1].startswith("b NO")
    ir = base64.b64encode(b"only-one-part").decode()
    assert c.cmd("c", f"AUTHENTICATE PLAIN {ir}")[-1].startswith("c BAD")
    ir = base64.b64encode(f"someoneelse\0{mailuser.name}\0"
                          f"{mailuser.password}".encode()).decode()
    assert c.cmd("d", f"AUTHENTICATE PLAIN {ir}")[-1].startswith(
        "d NO [AUTHORIZATIONFAILED]")
    assert c.cmd("e", "NOOP")[-1].startswith("e OK")


def test_userdb_login(server, userdb, mailuser):
    c = server.imaplib(tls=True)
    assert c.login(userdb["user"], userdb["password"])[0] == "OK"
    c.logout()
    server.wait_log(r"user=vuser .*logged in \(userdb, TLS\)")


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="without root the "
                    "userdb also lists the mail user")
def test_userdb_only_does_not_use_pam(server_factory, mailuser, userdb):
    s = server_factory(auth="userdb")
    c = s.imaplib(tls=True)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(mailuser.name, mailuser.password)
    c = s.imaplib(tls=True)
    assert c.login(userdb["user"], userdb["password"])[0] == "OK"


def test_login_literal_password(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    pw = mailuser.password.encode()
    c.send(f"a LOGIN {mailuser.name} {{{len(pw)}}}\r\n")
    assert c.line().startswith("+ ")
    c.send(pw + b"\r\n")
    assert c.until_tagged("a")[-1].startswith("a OK")


def test_pipelined_after_login_reaches_the_session(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    c.send(f"a LOGIN {mailuser.name} {mailuser.password}\r\n"
           "b NAMESPACE\r\nc LOGOUT\r\n")
    lines = c.until_tagged("c")
    assert lines[0].startswith("a OK")
    assert '* NAMESPACE (("" "/")) NIL NIL' in lines
    assert any(l.startswith("b OK") for l in lines)


# --- STARTTLS --------------------------------------------------------------

def test_starttls_discards_pipelined_commands(server, mailuser):
    c = server.raw()
    c.line()
    # a man in the middle would put commands right after STARTTLS
    c.send(f"a STARTTLS\r\nx LOGIN {mailuser.name} {mailuser.password}\r\n"
           "y CAPABILITY\r\n")
    assert c.line().startswith("a OK")
    c.buf = b""
    c.starttls(server.tls_context())
    r = c.cmd("z", "NOOP")
    assert r == [r[-1]] and r[-1].startswith("z OK"), r
    # not logged in: the injected LOGIN never ran
    assert c.cmd("n", "NAMESPACE")[-1].startswith("n BAD")
    server.wait_log("STARTTLS: discarding")
    assert "x OK" not in server.log()


def test_starttls_twice_and_on_tls_port(server):
    c = server.raw(tls=True)
    c.line()
    assert c.cmd("a", "STARTTLS")[-1].startswith("a BAD")
    c = server.raw()
    c.line()
    assert c.cmd("a", "STARTTLS")[-1].startswith("a OK")
    c.starttls(server.tls_context())
    caps = caps_of(c.cmd("b", "CAPABILITY")[0])
    assert "STARTTLS" not in caps and "AUTH=PLAIN" in caps
    assert c.cmd("c", "STARTTLS")[-1].startswith("c BAD")


def test_plain_imap_to_tls_port(server):
    s = socket.create_connection(("127.0.0.1", server.tls_port), 10)
    s.sendall(b"a CAPABILITY\r\n")
    s.settimeout(10)
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    assert b"CAPABILITY" not in data
    server.wait_log("TLS handshake failed")


# --- limits and bad input before login ---------------------------------------

def test_long_line_before_login(server):
    c = server.raw(tls=True)
    c.line()
    c.send("a NOOP " + "x" * 200_000 + "\r\n")
    line = c.line()
    assert line == "a BAD Line too long", line
    assert c.closed()
    assert "+ " not in c.buf.decode(errors="replace")
    # others are still served
    d = server.raw(tls=True)
    assert d.line().startswith("* OK")
    assert d.cmd("b", "NOOP")[-1].startswith("b OK")
    server.wait_log("closing: Line too long")


def test_huge_literal_before_login(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    c.send(f"a LOGIN {mailuser.name} {{4294967296}}\r\n")
    line = c.line()
    assert line == "a BAD Literal too large", line
    assert not line.startswith("+")
    assert c.closed()
    assert not c.buf.startswith(b"+")
    d = server.raw(tls=True)
    assert d.line().startswith("* OK")


def test_nonsync_literal_over_limit_before_login(server):
    c = server.raw(tls=True)
    c.line()
    c.send("a LOGIN {100000+}\r\n" + "x" * 1000)
    line = c.line()
    assert line == "a BAD Literal too large", line
    assert c.closed()


def test_malformed_commands_get_bad(server):
    c = server.raw(tls=True)
    c.line()
    assert c.cmd("a", "FROBNICATE")[-1].startswith("a BAD")
    assert c.cmd("b", 'NOOP "unterminated')[-1].startswith("b BAD")
    c.send("\r\n")          # blank lines are ignored
    c.send("*bad-tag NOOP\r\n")
    assert c.line().startswith("* BAD")
    assert c.cmd("d", "NOOP extra")[-1].startswith("d BAD")
    assert c.cmd("e", "SELECT INBOX")[-1].startswith("e BAD")
    assert c.cmd("f", "ENABLE IMAP4rev2")[-1].startswith("f BAD")
    assert c.cmd("g", "NOOP")[-1].startswith("g OK")


def lines_until_closed(c):
    lines = []
    try:
        while True:
            lines.append(c.line())
    except EOFError:
        pass
    return lines


def test_too_many_bad_commands_before_login(server):
    c = server.raw(tls=True)
    c.line()
    for i in range(12):
        c.send(f"t{i} BOGUS\r\n")
    lines = lines_until_closed(c)
    assert any(l.startswith("* BYE") for l in lines)
    assert sum(1 for l in lines if " BAD " in l) == 10


def session_lines(server, session):
    return [l for l in server.log().splitlines()
            if f"session={session}" in l]


def test_repeated_refusals_end_the_connection(server, mailuser):
    """A refusal the client should have seen coming (a plaintext login,
    another user's authorization identity) counts like a BAD: the tenth
    ends the connection, so the log lines they cause stay few."""
    c = server.raw()
    c.line()
    for i in range(20):
        c.send(f"p{i} LOGIN {mailuser.name} x\r\n")
    lines = lines_until_closed(c)
    assert sum(1 for l in lines if "[PRIVACYREQUIRED]" in l) == 10
    assert lines[-1].startswith("* BYE")
    refused = [l for l in server.log().splitlines()
               if "LOGIN refused: plaintext" in l]
    assert len(refused) == 10

    c = server.raw(tls=True)
    c.line()
    ir = base64.b64encode(f"other\0{mailuser.name}\0x".encode()).decode()
    for i in range(20):
        c.send(f"q{i} AUTHENTICATE PLAIN {ir}\r\n")
    lines = lines_until_closed(c)
    assert sum(1 for l in lines if "[AUTHORIZATIONFAILED]" in l) == 10
    assert lines[-1].startswith("* BYE")


def test_id_is_logged_once_before_and_once_after_login(server, mailuser):
    """2,000 IDs before login give one log line, not 2,000; the first ID
    after login gives one more."""
    c = server.raw(tls=True)
    c.line()
    n = 2000
    c.send("".join(f'i{k} ID ("name" "loop{k}")\r\n' for k in range(n)))
    r = c.until_tagged(f"i{n - 1}", timeout=60)
    assert sum(1 for l in r if l.startswith("* ID (")) == n
    assert c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")[
        -1].startswith("a OK")
    for k in range(5):
        assert c.cmd(f"j{k}", f'ID ("name" "after{k}")')[-1].startswith(
            f"j{k} OK")
    c.cmd("z", "LOGOUT")
    ended = server.wait_log("session ended: logged out")
    session = ended.split("session=")[1].split()[0]
    ids = [l for l in session_lines(server, session) if "client ID:" in l]
    assert len(ids) == 2
    assert ids[0].endswith("client ID: name=loop0")
    assert ids[1].endswith("client ID: name=after0")
    # the whole session: connect, ID, login, ID, end; nothing per command
    assert len(session_lines(server, session)) < 10


def test_temporary_failures_end_the_session(server_factory, userdb):
    """A login that fails for the server's own reason (here the userdb
    went missing) is logged each time; the third ends the session, so a
    client cannot make the log grow by retrying."""
    db = pathlib.Path(tempfile.mkdtemp(dir=userdb["path"].parent)) / "u.cdb"
    shutil.copy(userdb["path"], db)
    db.parent.chmod(0o755)
    s = server_factory(auth="userdb", userdb=db)
    db.unlink()
    c = s.raw(tls=True)
    c.line()
    for i in range(8):
        c.send(f"t{i} LOGIN {userdb['user']} {userdb['password']}\r\n")
    lines = lines_until_closed(c)
    assert sum(1 for l in lines if "[UNAVAILABLE]" in l) <= 4
    assert len([l for l in s.log().splitlines() if "userdb" in l and
                "No such file" in l]) == 3


def test_login_timeout(server_factory):
    s = server_factory(timeout_login="2s")
    c = s.raw(tls=True)
    c.line()
    t0 = time.monotonic()
    # NOOPs do not extend the pre-login budget
    for i in range(3):
        assert c.cmd(f"n{i}", "NOOP")[-1].startswith(f"n{i} OK")
        time.sleep(0.4)
    assert c.line(timeout=10).startswith("* BYE")
    assert c.closed()
    assert time.monotonic() - t0 < 8


# --- after login --------------------------------------------------------------

def test_id_enable_namespace(server, mailuser):
    c = server.raw(tls=True)
    c.line()
    r = c.cmd("a", 'ID ("name" "pytest" "version" "1")')
    assert r[0].startswith('* ID ("name" "imapd"')
    assert r[-1].startswith("a OK")
    assert c.cmd("b", f"LOGIN {mailuser.name} {mailuser.password}")[
        -1].startswith("b OK")
    r = c.cmd("c", "ENABLE IMAP4rev2 FOOBAR")
    assert r[0] == "* ENABLED IMAP4rev2" and r[-1].startswith("c OK")
    r = c.cmd("d", "ENABLE IMAP4rev2")
    assert r[0] == "* ENABLED" and r[-1].startswith("d OK")
    r = c.cmd("e", "NAMESPACE")
    assert r[0] == '* NAMESPACE (("" "/")) NIL NIL'
    assert c.cmd("f", "ID NIL")[0].startswith("* ID (")
    assert c.cmd("g", "LOGIN x y")[-1].startswith("g BAD")
    assert c.cmd("h", "STARTTLS")[-1].startswith("h BAD")
    r = c.cmd("i", "LOGOUT")
    assert r[0].startswith("* BYE") and r[-1].startswith("i OK")
    assert c.closed()
    server.wait_log("client ID: name=pytest, version=1")
    server.wait_log(r"user=%s .*session ended: logged out" % mailuser.name)


def test_many_sessions_at_once(server, mailuser):
    clients = []
    for i in range(8):
        c = server.imaplib(tls=True)
        assert c.login(mailuser.name, mailuser.password)[0] == "OK"
        clients.append(c)
    for c in clients:
        assert c.noop()[0] == "OK"
        c.logout()


# --- --stdio -----------------------------------------------------------------

def test_stdio_preauth(build, workdir):
    conf = workdir / "stdio.conf"
    # the mail goes to the test's directory, never the invoking user's home
    conf.write_text("listen_imap = 127.0.0.1:1\n"
                    f"mail_location = {workdir}/stdio-Maildir\n")
    p = subprocess.run([str(build.imapd), "--stdio", "-c", str(conf)],
                       input=b"a CAPABILITY\r\nb NAMESPACE\r\nc LOGOUT\r\n",
                       capture_output=True, timeout=30, env=build.env())
    out = p.stdout.decode()
    lines = out.split("\r\n")
    assert lines[0].startswith("* PREAUTH [CAPABILITY IMAP4rev1")
    assert any(l.startswith("a OK") for l in lines)
    assert '* NAMESPACE (("" "/")) NIL NIL' in lines
    assert any(l.startswith("c OK") for l in lines)
    assert p.returncode == 0
    assert "AddressSanitizer" not in p.stderr.decode()
    assert (workdir / "stdio-Maildir" / "cur").is_dir()


# --- signals -------------------------------------------------------------------

def test_sighup_applies_to_new_sessions(server, mailuser):
    old = server.raw()
    assert "LOGINDISABLED" in caps_of(old.line())
    server.write_conf(allow_plaintext_auth="yes")
    server.signal(signal.SIGHUP)
    server.wait_log("reloaded: new sessions use the new configuration")
    new = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = server.raw()
        if "AUTH=PLAIN" in caps_of(new.line()):
            break
        new.close()
        time.sleep(0.1)
    assert "AUTH=PLAIN" in caps_of(new.cmd("a", "CAPABILITY")[0])
    assert new.cmd("b", f"LOGIN {mailuser.name} {mailuser.password}")[
        -1].startswith("b OK")
    # the session that started before the reload keeps its settings
    assert "LOGINDISABLED" in caps_of(old.cmd("c", "CAPABILITY")[0])


def test_sighup_bad_config_keeps_running(server):
    server.write_conf(prefork="many")
    server.signal(signal.SIGHUP)
    server.wait_log("reload failed, keeping the running configuration")
    c = server.raw(tls=True)
    assert c.line().startswith("* OK")


def test_sigterm_stops_promptly(server, mailuser):
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    pre = server.raw(tls=True)
    pre.line()
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - t0 < 6
    # both sessions were told
    assert pre.line().startswith("* BYE")
    untagged = c.readline()
    assert untagged.startswith(b"* BYE")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.tls_port), 2)


# --- imapd -t ----------------------------------------------------------------

def test_check_good_config(build, server_factory):
    s = server_factory()
    p = subprocess.run([str(build.imapd), "-t", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30,
                       env=s.env())
    assert p.returncode == 0, p.stderr.decode()
    assert "configuration OK" in p.stdout.decode()


def test_check_bad_configs(build, workdir, cert):
    conf = workdir / "bad.conf"
    conf.write_text("listen_imap = 127.0.0.1:143\nprefork = -1\n"
                    "colour = blue\n")
    p = subprocess.run([str(build.imapd), "-t", "-c", str(conf)],
                       capture_output=True, timeout=30, env=build.env())
    err = p.stderr.decode()
    assert p.returncode != 0
    assert f"{conf}:2: prefork: " in err
    assert f"{conf}:3: colour: unknown key" in err
    conf.write_text(f"tls_cert = {workdir}/nonexistent.pem\n"
                    f"tls_key = {cert['key']}\nauth = userdb\n"
                    f"userdb = {workdir}/nonexistent.cdb\n")
    p = subprocess.run([str(build.imapd), "-t", "-c", str(conf)],
                       capture_output=True, timeout=30, env=build.env())
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "nonexistent.pem" in err and "tls_cert" in err
    assert "nonexistent.cdb" in err
    p = subprocess.run([str(build.imapd), "-t", "-c",
                        str(workdir / "missing.conf")],
                       capture_output=True, timeout=30, env=build.env())
    assert p.returncode != 0 and "cannot read" in p.stderr.decode()


def _dump(build, conf, env):
    """imapd -t -v on conf: the process and {key: (value, origin)}."""
    p = subprocess.run([str(build.imapd), "-t", "-v", "-c", str(conf)],
                       capture_output=True, timeout=30, env=env)
    out = {}
    for line in p.stdout.decode().splitlines():
        if line.startswith("imapd: "):
            continue
        setting, origin = line.rsplit("#", 1)
        key, value = setting.split("=", 1)
        out[key.strip()] = (value.strip(), origin.strip())
    return p, out


def test_check_verbose_prints_effective_config(build, workdir, cert,
                                               mailuser, userdb):
    s = imapdtest.Server(build, workdir, cert, mailuser, userdb,
                         {"timeout_login": "90s", "syslog_facility": "local3",
                          "listen_imap": None, "mmap": "no"},
                         name="check_verbose")
    s.write_conf()
    conf = s.conf_path
    # a comment and a blank line in front, so that the origins are
    # lines of the file
    written = conf.read_text()
    conf.write_text("# effective configuration test\n\n" + written)
    lines = {l.split("=", 1)[0].strip(): n + 3
             for n, l in enumerate(written.splitlines())}
    p, out = _dump(build, conf, s.env())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().splitlines()[-1] == \
        f"imapd: {conf}: configuration OK"
    for key, (value, origin) in out.items():
        if key in s.settings:
            assert origin == f"{conf}:{lines[key]}", key
            if key not in ("auth_fail_delay", "timeout_login"):
                assert value == s.settings[key], key
        else:
            assert origin == "default", key
    # written back in the largest exact unit
    assert out["auth_fail_delay"][0] == "100ms"
    assert out["timeout_login"][0] == "90s"
    assert out["mmap"][0] == "no"
    assert out["listen_imap"] == ("*:143", "default")
    assert out["allow_plaintext_auth"] == ("no", "default")
    assert out["timeout_session"] == ("30m", "default")
    assert out["timeout_output"] == ("1m", "default")
    assert out["special_use"][0].split() == [
        "Sent:\\Sent", "Drafts:\\Drafts", "Trash:\\Trash", "Junk:\\Junk",
        "Archive:\\Archive"]
    assert out["quota"] == ("none", "default")
    assert out["search_index"] == ("yes", "default")
    # every key the reader knows, and nothing from inside the key file
    assert len(out) == 47
    assert out["store_check"] == ("", "default")
    assert out["store_check_timeout"] == ("10s", "default")
    assert out["drain_timeout"] == ("1m", "default")
    assert out["proxy_protocol"] == ("no", "default")
    assert out["trusted_proxies"] == ("none", "default")
    assert out["tls_process"] == ("per-session", "default")
    assert out["lock_timeout"] == ("30s", "default")
    assert out["lock_method"] == ("fcntl", "default")
    assert out["idle_poll"] == ("0s", "default")
    assert out["hostname"] == ("", "default")
    assert out["store_marker"] == ("", "default")
    text = p.stdout.decode()
    body = [l for l in cert["key"].read_text().splitlines()
            if l and "-----" not in l]
    assert body and "PRIVATE KEY" not in text
    assert not any(l in text for l in body)
    # the output is itself a configuration that says the same
    again = s.dir / "again.conf"
    again.write_text(text.rsplit("imapd: ", 1)[0])
    p2, out2 = _dump(build, again, s.env())
    assert p2.returncode == 0, p2.stderr.decode()
    assert {k: v[0] for k, v in out2.items()} == \
        {k: v[0] for k, v in out.items()}
    assert out2["listen_imap"][1] == \
        f"{again}:{list(out).index('listen_imap') + 1}"


def test_every_key_documented(build, server_factory):
    """The keys imapd knows (its effective configuration lists each, in
    name order) are the keys imapd.conf(5) describes and the example file
    sets: none missing from either, none described that imapd lacks."""
    s = server_factory()
    p, out = _dump(build, s.conf_path, s.env())
    assert p.returncode == 0, p.stderr.decode()
    known = list(out)
    assert known == sorted(known)
    man = (imapdtest.ROOT / "man" / "imapd.conf.5").read_text()
    # a key's paragraph opens ".It Cm key No = ..."; the login policy's
    # own words are written "Cm word Ns = ..." and are not keys
    documented = [l.split()[2] for l in man.splitlines()
                  if l.startswith(".It Cm ") and l.split()[3:4] == ["No"]]
    example = (imapdtest.ROOT / "tools" / "imapd.conf.example").read_text()
    listed = [l.split("=", 1)[0].strip() for l in example.splitlines()
              if "=" in l and not l.lstrip().startswith("#")]
    assert len(documented) == len(set(documented))
    assert len(listed) == len(set(listed))
    assert set(documented) == set(known), \
        (set(known) - set(documented), set(documented) - set(known))
    assert set(listed) == set(known), \
        (set(known) - set(listed), set(listed) - set(known))


def test_check_without_verbose_prints_no_config(build, server_factory):
    s = server_factory()
    p = subprocess.run([str(build.imapd), "-t", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30, env=s.env())
    assert p.returncode == 0
    assert p.stdout.decode().splitlines() == [
        f"imapd: {s.conf_path}: configuration OK"]


def test_bad_config_refuses_to_start(build, workdir):
    conf = workdir / "bad2.conf"
    conf.write_text("max_sessions = 0\n")
    p = subprocess.run([str(build.imapd), "-f", "-c", str(conf)],
                       capture_output=True, timeout=30, env=build.env())
    assert p.returncode != 0
    assert f"{conf}:1: max_sessions" in p.stderr.decode()


def _have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _have_ipv6(), reason="no IPv6 loopback here")
def test_ipv4_and_ipv6_listeners(server_factory, mailuser):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as t:
        t.bind(("::1", 0))
        port6 = t.getsockname()[1]
    port4 = imapdtest.free_port()
    s = server_factory(listen_imaps=f"127.0.0.1:{port4}, [::1]:{port6}",
                       listen_imap="none")
    s.wait_log(r"started \(pid \d+, 2 listening sockets")
    ctx = s.tls_context()
    for host, port in (("127.0.0.1", port4), ("::1", port6)):
        raw = socket.create_connection((host, port), 10)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        assert tls.recv(100).startswith(b"* OK [CAPABILITY")
        tls.close()
    s.wait_log(r"rip=::1: connect to \[::1\]:%d" % port6)


def test_max_sessions_queues_and_logs(server_factory):
    s = server_factory(max_sessions=2, prefork=1)
    a = s.raw(tls=True)
    assert a.line().startswith("* OK")
    b = s.raw(tls=True)
    assert b.line().startswith("* OK")
    # a third connection waits in the listen queue: no greeting yet
    raw = socket.create_connection(("127.0.0.1", s.tls_port), 10)
    tls = s.tls_context().wrap_socket(raw, server_hostname="localhost",
                                      do_handshake_on_connect=False)
    tls.settimeout(1.5)
    with pytest.raises((socket.timeout, TimeoutError, ssl.SSLError)):
        tls.do_handshake()
        tls.recv(100)
    s.wait_log("max_sessions \\(2\\) reached")
    tls.close()
    # when a session ends, a waiting client is served
    a.cmd("x", "LOGOUT")
    c = s.raw(tls=True)
    assert c.line(timeout=10).startswith("* OK")


def test_linked_with_immediate_binding(build):
    """imapd binds every symbol at start and makes its relocations
    read-only (-z now, -z relro): lazy binding would save a caller's
    registers, a password among them, on the stack at each first call
    of a function, and leave the table it patches writable."""
    dyn = subprocess.run(["readelf", "--wide", "-d", str(build.imapd)],
                         capture_output=True, text=True, check=True).stdout
    assert "BIND_NOW" in dyn or " NOW" in dyn, dyn
    phdrs = subprocess.run(["readelf", "--wide", "-l", str(build.imapd)],
                           capture_output=True, text=True,
                           check=True).stdout
    assert "GNU_RELRO" in phdrs
