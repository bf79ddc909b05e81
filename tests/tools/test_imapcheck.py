"""imapcheck against the real imapd, well set up and deliberately set up
wrong (a port nothing listens on, TLS and plain IMAP swapped, an expired
certificate, one for another host, an untrusted one, STARTTLS hidden, a
wrong password, a login in clear), and against a scripted server for the
login refusals imapd does not give (UNAVAILABLE, EXPIRED, policy, app
passwords).  Each test checks that the verdict names the cause and that
the exit status is the stage's.
"""

import json
import pathlib
import socket
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import imapdtest  # noqa: E402
from toolproxy import Proxy  # noqa: E402

EX_OK, EX_RESOLVE, EX_CONNECT, EX_TLS, EX_PROTOCOL, EX_LOGIN, EX_MAILBOX = \
    0, 3, 4, 5, 6, 7, 8


def check(build, *args, password=None, timeout=60):
    env = build.env()
    if password is not None:
        env["IMAP_PASSWORD"] = password
    p = subprocess.run([str(build.tool("imapcheck")), *map(str, args)],
                       capture_output=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    assert not imapdtest.SAN_PATTERNS.search(err), err
    lines = out.splitlines()
    return p.returncode, out, lines[-1] if lines else ""


def make_cert(d, cn, san, days_ago=None):
    d.mkdir(parents=True, exist_ok=True)
    key, crt = d / "key.pem", d / "cert.pem"
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
           "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}",
           "-keyout", key, "-out", crt]
    if days_ago is not None:
        cmd = ["faketime", "-f", f"-{days_ago}d"] + cmd
    imapdtest.run(cmd)
    key.chmod(0o600)
    return {"cert": crt, "key": key}


def login_args(server, user, tls=True):
    port = server.tls_port if tls else server.port
    return ["--user", user.name, "--ca", server.settings["tls_cert"],
            "--tls" if tls else "--starttls", "127.0.0.1", port]


def test_healthy_server_over_tls(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    rc, out, last = check(server.build, *login_args(server, mailuser),
                          password=mailuser.password)
    assert rc == EX_OK, out
    assert last.startswith("verdict: everything checked works"), out
    for name in ("resolve", "tcp", "tls mode", "host name", "greeting",
                 "login", "namespace", "idle"):
        assert any(l.startswith(f"{name} ") and " ok " in l
                   for l in out.splitlines()), (name, out)
    # the suite's certificate is valid for two days only
    assert any(l.startswith("certificate  warn") and "renew it soon" in l
               for l in out.splitlines()), out
    assert 'separator "/"' in out
    # imapd creates and flags Sent at the first login
    assert '"Sent" is \\Sent' in out
    assert "ms)" in out


def test_healthy_starttls_json(server, mailuser):
    rc, out, last = check(server.build, "--json",
                          *login_args(server, mailuser, tls=False),
                          password=mailuser.password)
    assert rc == EX_OK, out
    doc = json.loads(out)
    assert doc["exit"] == 0
    assert doc["verdict"].startswith("everything checked works")
    names = [s["step"] for s in doc["steps"]]
    assert "starttls" in names and "login" in names
    assert all(s["status"] != "fail" for s in doc["steps"])
    assert all(isinstance(s.get("ms", 0), int) for s in doc["steps"])


def test_name_that_does_not_resolve(build):
    # an empty label: the resolver refuses it without asking any DNS
    rc, out, last = check(build, "bad..name", "993")
    assert rc == EX_RESOLVE, out
    assert "check the server name" in last


def test_nothing_listens(build):
    port = imapdtest.free_port()
    rc, out, last = check(build, "--tls", "127.0.0.1", port)
    assert rc == EX_CONNECT, out
    assert "nothing listens on 127.0.0.1 port %d (connection refused)" \
        % port in last


def test_plaintext_to_the_tls_setting(server):
    # the client is set to SSL/TLS, the port speaks plain IMAP
    rc, out, last = check(server.build, "--tls", "--ca",
                          server.settings["tls_cert"], "127.0.0.1",
                          server.port)
    assert rc == EX_TLS, out
    assert "speaks plain IMAP, not TLS" in last
    assert "set the client to STARTTLS" in last


def test_starttls_to_the_implicit_tls_port(server):
    rc, out, last = check(server.build, "--starttls", "--timeout", "5",
                          "127.0.0.1", server.tls_port)
    assert rc == EX_TLS, out
    assert "expects TLS from the first byte" in last
    assert "set the client to SSL/TLS" in last


def test_starttls_not_offered(server):
    p = Proxy(server.port)
    p.rewrite(r" STARTTLS\b", "")
    rc, out, last = check(server.build, "--starttls", "127.0.0.1", p.port)
    assert rc == EX_TLS, out
    assert "does not offer STARTTLS" in last


def test_expired_certificate(server_factory, workdir):
    c = make_cert(workdir / "expired", "localhost",
                  "DNS:localhost,IP:127.0.0.1", days_ago=10)
    s = server_factory(tls_cert=c["cert"], tls_key=c["key"])
    rc, out, last = check(s.build, "--ca", c["cert"], "--tls", "127.0.0.1",
                          s.tls_port)
    assert rc == EX_TLS, out
    assert "expired on" in last and "renew" in last


def test_certificate_for_another_host(server_factory, workdir):
    c = make_cert(workdir / "otherhost", "mail.example.org",
                  "DNS:mail.example.org")
    s = server_factory(tls_cert=c["cert"], tls_key=c["key"])
    rc, out, last = check(s.build, "--ca", c["cert"], "--tls", "127.0.0.1",
                          s.tls_port)
    assert rc == EX_TLS, out
    assert "the certificate is not for 127.0.0.1" in last
    assert "mail.example.org" in last


def test_untrusted_certificate(server):
    # no --ca: the test certificate is self-signed
    rc, out, last = check(server.build, "--tls", "127.0.0.1",
                          server.tls_port)
    assert rc == EX_TLS, out
    assert "is not trusted" in last


def test_wrong_password(server, mailuser):
    rc, out, last = check(server.build, *login_args(server, mailuser),
                          password="not-" + mailuser.password)
    assert rc == EX_LOGIN, out
    assert "wrong user name or password ([AUTHENTICATIONFAILED])" in last


def test_login_in_clear_refused(server, mailuser):
    rc, out, last = check(server.build, "--plain", "--user", mailuser.name,
                          "127.0.0.1", server.port,
                          password=mailuser.password)
    assert rc == EX_PROTOCOL, out
    assert "refuses logins without TLS (LOGINDISABLED)" in last


def test_privacy_required(server, mailuser):
    # a client that ignores LOGINDISABLED meets NO [PRIVACYREQUIRED]
    p = Proxy(server.port)
    p.rewrite(r" LOGINDISABLED\b", "")
    rc, out, last = check(server.build, "--plain", "--user", mailuser.name,
                          "127.0.0.1", p.port, password=mailuser.password)
    assert rc == EX_LOGIN, out
    assert "wants TLS before a login ([PRIVACYREQUIRED])" in last


def test_duplicate_and_unsubscribed_folders(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    # imapd gives the Sent role to a "Sent Items" it finds at the first
    # login; a look-alike comes from a client that makes its own later
    imapdtest.Session(server, mailuser).close()
    imapdtest.maildir_make(mailuser, "Sent Items")
    imapdtest.maildir_make(mailuser, "Spam")
    rc, out, last = check(server.build, *login_args(server, mailuser),
                          password=mailuser.password)
    assert rc == EX_OK, out
    assert ('"Sent" (flagged) and "Sent Items" look like the same Sent '
            'folder') in out or ('"Sent Items" and "Sent" (flagged) look '
                                 'like the same Sent folder') in out, out
    assert '"Sent Items" is not subscribed' in out
    assert "look like the same Junk folder" in out
    assert last.startswith("verdict: everything checked works (see the "
                           "warnings")


def test_separator_the_client_expects(server, mailuser):
    rc, out, last = check(server.build, "--separator", ".",
                          *login_args(server, mailuser),
                          password=mailuser.password)
    assert rc == EX_MAILBOX, out
    assert 'separates folder levels with "/", the client was set up ' \
        'with "."' in last


class Scripted:
    """A one-connection IMAP server on loopback that refuses LOGIN with
    the line it is given."""

    def __init__(self, refusal):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.refusal = refusal
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(30)
        f = conn.makefile("rwb")
        f.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] scripted\r\n")
        f.flush()
        for line in f:
            tag, cmd = line.split()[0].decode(), line.split()[1].upper()
            if cmd == b"CAPABILITY":
                f.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
                f.write(f"{tag} OK done\r\n".encode())
            elif cmd == b"LOGIN":
                f.write(f"{tag} {self.refusal}\r\n".encode())
            else:
                f.write(f"{tag} BAD unexpected\r\n".encode())
            f.flush()
        conn.close()
        self.sock.close()


@pytest.mark.parametrize("refusal,cause", [
    ("NO [UNAVAILABLE] backend down",
     "cannot check passwords just now ([UNAVAILABLE]"),
    ("NO [EXPIRED] password expired", "has expired ([EXPIRED])"),
    ("NO [CONTACTADMIN] not from this network",
     "refused by the server's policy ([CONTACTADMIN]"),
    ("NO [AUTHORIZATIONFAILED] no IMAP for this account",
     "refused by the server's policy ([AUTHORIZATIONFAILED]"),
    ("NO [ALERT] Application-specific password required",
     "needs an app password"),
    ("NO [AUTHENTICATIONFAILED] use an app password for mail clients",
     "needs an app password"),
    ("NO login failed", "refused without a reason code"),
])
def test_login_refusals_by_code(build, refusal, cause):
    s = Scripted(refusal)
    rc, out, last = check(build, "--plain", "--user", "someone",
                          "127.0.0.1", s.port, password="secret")
    assert rc == EX_LOGIN, out
    assert cause in last, out


# --- the real imapd's login policy refusals --------------------------------

@pytest.mark.parametrize("rule,cause", [
    ("disabled=moved", "refused by the server's policy ([CONTACTADMIN]"),
    ("networks=192.0.2.0/24",
     "refused by the server's policy ([AUTHORIZATIONFAILED]: This account "
     "may not log in from your address"),
    ("hours=00:00-00:01 hours=00:01-00:02", None),
    ("app-passwords=required", "this account needs an app password"),
])
def test_policy_refusals_of_imapd(server_factory, userdb, tmp_path, rule,
                                  cause):
    policy = tmp_path / "login-policy"
    s = server_factory(login_policy=policy)
    # written once imapd runs: it would not start with a bad file
    policy.write_text(f"vuser {rule}\n")
    rc, out, last = check(s.build, "--user", "vuser", "--ca",
                          s.settings["tls_cert"], "--tls", "127.0.0.1",
                          s.tls_port, password=userdb["password"])
    assert rc == EX_LOGIN, out
    if cause is None:
        # a bad policy file: the server cannot decide
        assert "cannot check passwords just now ([UNAVAILABLE]" in last
    else:
        assert cause in last, out
