"""Graceful drain (SIGUSR2): the master stops accepting, every session
is told "* BYE [UNAVAILABLE]" at its next point between commands (a
session in IDLE and one before login at once), a command in progress is
finished first, and the master exits once the sessions have ended or at
drain_timeout, whatever is left being ended as SIGTERM ends it."""

import signal
import socket

import imapdtest

BYE = ("* BYE [UNAVAILABLE] Server going down for maintenance; "
       "reconnect to continue")


def session(server, user, tls=True):
    return imapdtest.Session(server, user, tls=tls)


def rest_of(c, timeout=30):
    """Every line the server still sends, up to its end of stream."""
    out = []
    while True:
        try:
            out.append(c.line(timeout))
        except EOFError:
            return out


def maildir_holds(user, marker):
    md = user.maildir()
    return [p for d in ("cur", "new") for p in (md / d).glob("*")
            if marker in p.read_bytes()]


def test_drain_idle_between_commands_and_before_login(server_factory,
                                                      mailuser):
    s = server_factory(drain_timeout="60s")
    idler = session(s, mailuser)           # a PAM login: through its keeper
    idler.ok("SELECT INBOX")
    t = idler.tag()
    idler.raw.send(f"{t} IDLE\r\n")
    assert idler.raw.line() == "+ idling"
    quiet = imapdtest.Session.__new__(imapdtest.Session)
    quiet.raw, quiet.n = s.raw(tls=True), 0
    quiet.raw.line()
    r = quiet.cmd(f"LOGIN {s.userdb['user']} {s.userdb['password']}")
    assert r[-1].split()[1] == "OK", r
    quiet.ok("NOOP")
    early = s.raw()
    assert early.line().startswith("* OK")

    s.signal(signal.SIGUSR2)
    assert rest_of(idler.raw) == [BYE]
    assert rest_of(quiet.raw) == [BYE]
    assert rest_of(early) == [BYE]
    assert s.proc.wait(60) == 0
    s.wait_log(r"SIGUSR2: draining; no new connections")
    s.wait_log(r"drained: every session has ended")
    assert "SIGTERM" not in s.log()
    # nothing listens any more
    try:
        s.raw().close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused


def test_append_in_progress_is_finished(server_factory, mailuser):
    s = server_factory(drain_timeout="60s")
    imapdtest.maildir_reset(mailuser)
    a = session(s, mailuser)
    other = session(s, mailuser)
    other.ok("SELECT INBOX")
    t = other.tag()
    other.raw.send(f"{t} IDLE\r\n")
    assert other.raw.line() == "+ idling"
    msg = imapdtest.crlf(imapdtest.message(
        subject="drain", body="half-and-half marker-4711\n" * 50))
    a.raw.send(f"a1 APPEND INBOX {{{len(msg)}}}\r\n")
    assert a.raw.line().startswith("+")
    half = len(msg) // 2
    a.raw.send(msg[:half])
    s.signal(signal.SIGUSR2)
    # the IDLE session hears at once; the APPEND is still coming in
    assert rest_of(other.raw) == [BYE]
    a.raw.send(msg[half:] + b"\r\n")
    out = rest_of(a.raw)
    assert out[0].startswith("a1 OK [APPENDUID "), out
    assert out[1:] == [BYE], out
    assert s.proc.wait(60) == 0
    stored = maildir_holds(mailuser, b"marker-4711")
    assert len(stored) == 1
    assert stored[0].read_bytes() == msg


def test_drain_timeout_ends_a_stuck_command(server_factory, mailuser):
    s = server_factory(drain_timeout="1s")
    imapdtest.maildir_reset(mailuser)
    a = session(s, mailuser)
    a.ok("SELECT INBOX")
    msg = imapdtest.crlf(imapdtest.message(body="stuck marker-0815\n" * 50))
    a.raw.send(f"a1 APPEND INBOX {{{len(msg)}}}\r\n")
    assert a.raw.line().startswith("+")
    a.raw.send(msg[:len(msg) // 2])
    s.signal(signal.SIGUSR2)
    # the client never sends the rest: the deadline ends it
    assert s.proc.wait(60) == 0
    s.wait_log(r"drain_timeout passed: stopping; ending 1 sessions")
    a.close()
    # no half a message where clients look
    assert maildir_holds(mailuser, b"marker-0815") == []


def test_drain_lets_a_tls_handshake_finish(server_factory):
    """A client whose handshake is under way when the drain starts
    completes it and is told BYE, rather than losing the connection to a
    failed handshake."""
    s = server_factory(drain_timeout="60s")
    sock = socket.create_connection(("127.0.0.1", s.tls_port), 15)
    s.wait_log(rf"connect to 127\.0\.0\.1:{s.tls_port} \(TLS\)")
    assert imapdtest.wait_descendants(s.proc.pid, "imapd-login")
    s.signal(signal.SIGUSR2)
    s.wait_log(r"SIGUSR2: draining")
    c = imapdtest.Raw.__new__(imapdtest.Raw)
    c.sock, c.ctx, c.buf, c.timeout = sock, None, b"", 15
    c.starttls(s.tls_context())
    out = rest_of(c)
    assert out[0].startswith("* OK"), out
    assert out[1:] == [BYE], out
    assert s.proc.wait(60) == 0
    assert "TLS handshake failed" not in s.log()
