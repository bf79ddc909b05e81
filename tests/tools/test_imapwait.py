"""imapwait against the real imapd: a message already there, one that
arrives while it waits in IDLE, one that arrives between its search and
its IDLE, one that arrives right after it recorded UIDNEXT, one that never
arrives, and servers without IDLE.  The moments are made exact by a relay
(toolproxy.py) that delivers the message just before it passes on a
given line of the conversation, so nothing here sleeps to hit a window.
"""

import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import imapdtest  # noqa: E402
from toolproxy import Proxy  # noqa: E402


def run_wait(build, user, *args, password=None, timeout=60):
    env = build.env()
    env["IMAP_PASSWORD"] = user.password if password is None else password
    p = subprocess.run([str(build.tool("imapwait")), "--user", user.name,
                        "--verbose", *map(str, args)],
                       capture_output=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode(errors="replace")
    assert not imapdtest.SAN_PATTERNS.search(err), err
    return p.returncode, p.stdout.decode(errors="replace"), err


def tls_args(server):
    return ["--host", "127.0.0.1", "--port", server.tls_port, "--tls",
            "--ca", server.settings["tls_cert"]]


@pytest.fixture
def plainserver(server_factory, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server_factory(allow_plaintext_auth="yes")


def relay(server):
    return Proxy(server.port)


def via(proxy):
    return ["--host", "127.0.0.1", "--port", proxy.port, "--plain"]


def deliver(user, subject, **kw):
    return lambda: imapdtest.drop(user, imapdtest.message(subject=subject,
                                                          **kw))


def test_message_already_there_over_tls(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.drop(mailuser, imapdtest.message(subject="older one"))
    imapdtest.drop(mailuser, imapdtest.message(subject="Your code",
                                               sender="robot@example.org"))
    rc, out, err = run_wait(server.build, mailuser, *tls_args(server),
                            "--from", "robot@example.org",
                            "--subject", "code", "--timeout", "20")
    assert rc == 0, err
    assert "Subject: Your code\n" in out
    assert "older one" not in out
    assert "\r" not in out


def test_starttls_and_uid_after(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.drop(mailuser, imapdtest.message(subject="first"))
    imapdtest.drop(mailuser, imapdtest.message(subject="second"))
    rc, out, err = run_wait(server.build, mailuser, "--host", "127.0.0.1",
                            "--port", server.port, "--starttls",
                            "--ca", server.settings["tls_cert"],
                            "--uid-after", "1", "--timeout", "20")
    assert rc == 0, err
    assert "Subject: second\n" in out


def test_arrives_during_idle(plainserver, mailuser):
    p = relay(plainserver)
    p.on("server", r"^\+ ", deliver(mailuser, "wrong one"), after=True)
    # the second IDLE's continuation brings the right one
    p.on("client", r" UID FETCH \d+:\* \(UID\)", lambda: p.on(
        "server", r"^\+ ", deliver(mailuser, "Welcome aboard"),
        after=True))
    rc, out, err = run_wait(plainserver.build, mailuser, *via(p),
                            "--subject", "welcome", "--timeout", "30")
    assert rc == 0, err + repr(p.log[-10:])
    assert "Subject: Welcome aboard\n" in out
    assert err.count("idle") >= 2
    assert len(p.fired()) == 3


def test_arrives_between_search_and_idle(plainserver, mailuser):
    p = relay(plainserver)
    p.on("client", r"^\S+ IDLE\r\n", deliver(mailuser, "slipped in"))
    rc, out, err = run_wait(plainserver.build, mailuser, *via(p),
                            "--subject", "slipped", "--timeout", "30")
    assert rc == 0, err
    assert "Subject: slipped in\n" in out
    assert p.fired() == [r"^\S+ IDLE\r\n"]


def test_arrives_right_after_uidnext(plainserver, mailuser):
    p = relay(plainserver)
    # after SELECT told UIDNEXT, before the first search runs
    p.on("client", r" UID SEARCH ", deliver(mailuser, "just now"))
    rc, out, err = run_wait(plainserver.build, mailuser, *via(p),
                            "--subject", "just now", "--timeout", "30")
    assert rc == 0, err
    assert "Subject: just now\n" in out
    # found by that first search: no IDLE was needed
    assert not any(d == "client" and l.rstrip().endswith(b" IDLE")
                   for d, l in p.log)


def test_never_arrives(plainserver, mailuser):
    p = relay(plainserver)
    p.on("server", r"^\+ ", deliver(mailuser, "not this"), after=True)
    rc, out, err = run_wait(plainserver.build, mailuser, *via(p),
                            "--subject", "absent", "--timeout", "3")
    assert rc == 1, err
    assert out == ""
    assert "no matching message in INBOX within 3 seconds" in err


def test_noop_polling_without_idle(plainserver, mailuser):
    p = relay(plainserver)
    p.rewrite(r" IDLE\b", "")
    p.on("client", r" NOOP\r\n", deliver(mailuser, "polled"))
    rc, out, err = run_wait(plainserver.build, mailuser, *via(p),
                            "--subject", "polled", "--poll", "100ms",
                            "--timeout", "30")
    assert rc == 0, err
    assert "Subject: polled\n" in out
    assert not any(d == "client" and b" IDLE" in l for d, l in p.log)


def test_body_text_links_save_delete(server, mailuser, tmp_path):
    imapdtest.maildir_reset(mailuser)
    body = ("--b1\nContent-Type: text/plain; charset=iso-8859-1\n"
            "Content-Transfer-Encoding: quoted-printable\n\n"
            "Gr=FC=DFe, click https://example.org/confirm?a=3D1&b=3D2.\n"
            "--b1\nContent-Type: text/html\n\n"
            "<a href=\"https://example.org/confirm?a=1&amp;b=2\">x</a>"
            "<a href=\"http://example.net/other\">y</a>\n--b1--\n")
    imapdtest.drop(mailuser, imapdtest.message(
        subject="Confirm", body=body,
        extra="MIME-Version: 1.0\n"
              "Content-Type: multipart/alternative; boundary=b1\n"))
    args = [*tls_args(server), "--header", "Subject: Confirm",
            "--timeout", "20"]
    rc, out, err = run_wait(server.build, mailuser, *args, "--body-text")
    assert rc == 0, err
    assert out == "Grüße, click https://example.org/confirm?a=1&b=2.\n"
    rc, out, err = run_wait(server.build, mailuser, *args, "--links")
    assert rc == 0, err
    assert out == ("https://example.org/confirm?a=1&b=2\n"
                   "http://example.net/other\n")
    saved = tmp_path / "m.eml"
    rc, out, err = run_wait(server.build, mailuser, *args, "--save", saved,
                            "--delete")
    assert rc == 0, err
    assert out == ""
    assert saved.read_bytes().startswith(b"From: a@example.org\r\n")
    assert b"Gr=FC=DFe" in saved.read_bytes()
    # deleted and expunged: the next wait finds nothing
    rc, out, err = run_wait(server.build, mailuser, *args[:-2],
                            "--timeout", "2")
    assert rc == 1, err
    assert list((mailuser.maildir() / "cur").iterdir()) == []


def test_wrong_password_and_bad_options(server, mailuser):
    rc, out, err = run_wait(server.build, mailuser, *tls_args(server),
                            "--timeout", "20", password="wrong")
    assert rc == 2
    assert "login refused" in err and "AUTHENTICATIONFAILED" in err
    rc, out, err = run_wait(server.build, mailuser, *tls_args(server),
                            "--since", "yesterday")
    assert rc == 2 and "--since" in err
    rc, out, err = run_wait(server.build, mailuser, *tls_args(server),
                            "--links", "--body-text")
    assert rc == 2 and "exclude each other" in err


def test_untrusted_certificate_fails(server, mailuser):
    # without --ca the test certificate is not trusted
    rc, out, err = run_wait(server.build, mailuser, "--host", "127.0.0.1",
                            "--port", server.tls_port, "--tls",
                            "--timeout", "20")
    assert rc == 2
    assert "certificate" in err
