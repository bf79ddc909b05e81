"""The servers the conformance scripts run against: imapd (through the test
suite's imapdtest.Server) and a private Dovecot, both on loopback with TLS,
each script logging in as its own virtual user whose home holds a fresh
copy of the script's Maildir fixture.

A user per script keeps a script's Maildir out of reach of any process a
previous script left finishing (a session that writes its index after the
client has gone)."""

import grp
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))

import imapdtest  # noqa: E402
import imapscript  # noqa: E402

PASSWORD = "conformance-pw"


def login_name(index):
    return "cf%03d" % index


class Homes:
    """One home per (server, script) under root, owned by the mail user."""

    def __init__(self, root, uid, gid):
        self.root = pathlib.Path(root)
        self.uid, self.gid = uid, gid

    def path(self, server, login):
        return self.root / server / login

    def fresh(self, server, login):
        h = self.path(server, login)
        if h.exists():
            shutil.rmtree(h)
        h.mkdir(parents=True)
        for p in (h.parent.parent, h.parent):
            p.chmod(0o755)
        if imapdtest.IS_ROOT:
            os.chown(h, self.uid, self.gid)
        h.chmod(0o700)
        return h


def imapd_userdb(build, workdir, logins, homes, uid, gid):
    """A userdb (cdb) with one virtual user per login, all sharing the
    mail user's ids and one password."""
    d = pathlib.Path(workdir) / ("conformance-userdb-" + build.name)
    d.mkdir(parents=True, exist_ok=True)
    tool = build.userdb_tool
    h = imapdtest.run([tool, "-p", "-m", "sha512"],
                      input=(PASSWORD + "\n").encode()).stdout.decode()
    text = d / "userdb"
    text.write_text("".join("%s:%s:%d:%d:%s\n" % (
        login, h.strip(), uid, gid, homes.path("imapd", login))
        for login in logins))
    imapdtest.run([tool, "-o", d / "userdb.cdb", text])
    return {"path": d / "userdb.cdb", "user": logins[0],
            "password": PASSWORD}


class ImapdServer(imapdtest.Server):
    """imapd logging in the conformance users from a userdb, with dates
    shown in UTC."""

    def env(self):
        e = imapdtest.Server.env(self)
        e["TZ"] = "UTC"
        return e


def start_imapd(build, workdir, cert, mailuser, userdb, name="conformance"):
    s = ImapdServer(build, workdir, cert, mailuser, userdb,
                    {"auth": "userdb", "mail_location": None,
                     "max_sessions": 100}, name=name)
    s.start()
    return s


def imapd_target(server, login, home, mailuser):
    ctx = server.tls_context()
    return imapscript.Target(server.tls_port, ctx, login, PASSWORD,
                             home / "Maildir", mailuser.uid, mailuser.gid)


DOVECOT = pathlib.Path("/usr/sbin/dovecot")
DOVECONF = pathlib.Path("/usr/bin/doveconf")

DOVECOT_CONF = """\
# written by tests/conformance/servers.py: a private Dovecot with its
# built-in defaults, plus the special-use folders imapd makes by default.
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = imapd-conformance
log_path = {d}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
mail_location = maildir:~/Maildir
first_valid_uid = 1
namespace inbox {{
  separator = /
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
default_login_user = dovenull
default_internal_user = dovecot
mail_max_userip_connections = 100
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    def __init__(self, workdir, cert, logins, homes, uid, gid):
        self.dir = pathlib.Path(workdir) / "dovecot"
        self.cert = cert
        self.logins = logins
        self.homes = homes
        self.uid, self.gid = uid, gid
        self.port = imapdtest.free_port()
        self.tls_port = imapdtest.free_port()
        self.proc = None
        self.logf = None

    def start(self):
        for sub in ("", "run", "state"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        pw = self.dir / "passwd"
        pw.write_text("".join("%s:{PLAIN}%s:%d:%d::%s::\n" % (
            login, PASSWORD, self.uid, self.gid,
            self.homes.path("dovecot", login)) for login in self.logins))
        os.chown(pw, 0, grp.getgrnam("dovecot").gr_gid)
        pw.chmod(0o640)
        conf = self.dir / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(
            d=self.dir, cert=self.cert["cert"], key=self.cert["key"],
            port=self.port, tls_port=self.tls_port))
        r = subprocess.run([str(DOVECONF), "-c", str(conf), "-n"],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("doveconf rejects the configuration:\n" +
                               r.stderr.decode(errors="replace"))
        self.logf = open(self.dir / "server.log", "wb")
        env = dict(os.environ, TZ="UTC")
        self.proc = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, start_new_session=True,
            env=env)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("Dovecot exited at start-up:\n" +
                                   self.log())
            try:
                import socket
                with socket.create_connection(("127.0.0.1",
                                               self.tls_port), 1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Dovecot does not listen:\n" +
                                       self.log())
                time.sleep(0.05)

    def log(self):
        out = []
        for name in ("server.log", "dovecot.log"):
            try:
                out.append((self.dir / name).read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)

    def version(self):
        r = subprocess.run([str(DOVECOT), "--version"],
                           capture_output=True, timeout=30)
        return r.stdout.decode(errors="replace").strip()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # the group this process was started in, and only that
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def tls_context(self):
        import ssl
        return ssl.create_default_context(cafile=str(self.cert["cert"]))

    def target(self, login, home):
        return imapscript.Target(self.tls_port, self.tls_context(), login,
                                 PASSWORD, home / "Maildir", self.uid,
                                 self.gid)
