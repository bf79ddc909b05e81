"""Helpers for the imapd test suite: builds, users, certificates, servers
and a small raw IMAP client.  Everything talks to loopback only and every
wait is bounded."""

import grp
import os
import pathlib
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
LOGIN_USER = "nobody"


class Build:
    def __init__(self, name, objdir, bindir):
        self.name = name
        self.objdir = pathlib.Path(objdir)
        self.bindir = pathlib.Path(bindir)
        self.imapd = self.bindir / "imapd" / "imapd"
        self.userdb_tool = self.bindir / "tools" / "imapd-userdb"
        self.sanitized = name != "plain"
        # pam_wrapper loads PAM with RTLD_DEEPBIND, which the sanitizer
        # runtime cannot work with; as root real PAM needs no wrapper
        self.pam_ok = IS_ROOT or not self.sanitized

    def tool(self, name):
        """A program of tools/ in this build."""
        return self.bindir / "tools" / name

    def env(self):
        e = dict(os.environ)
        if self.sanitized:
            e["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=0:"
                                 "verify_asan_link_order=0")
            e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return e

    def __repr__(self):
        return self.name


def make_workdir():
    """Under IMAPD_TEST_DIR (default /tmp): a site points it at its own
    NFS to run the tests with every Maildir there."""
    d = pathlib.Path(tempfile.mkdtemp(
        prefix="imapd-test-", dir=os.environ.get("IMAPD_TEST_DIR", "/tmp")))
    d.chmod(0o755)
    return d


def remove_tree(d):
    shutil.rmtree(d, ignore_errors=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("timeout", 60)
    kw.setdefault("capture_output", True)
    return subprocess.run([str(c) for c in cmd], **kw)


def build_fault_shim(d):
    """tests/lib/fault_shim.c built into directory d; its path, for
    LD_PRELOAD."""
    src = ROOT / "tests" / "lib" / "fault_shim.c"
    out = pathlib.Path(d) / "fault_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(out),
                    str(src), "-ldl"], check=True, capture_output=True,
                   timeout=60)
    return out


def _ephemeral_range():
    try:
        lo, hi = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range") \
            .read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


_port_rng = random.Random()


def free_port():
    """A loopback TCP port free now, chosen below the kernel's ephemeral
    range where it can: a port from that range may be taken by any
    outgoing connection (a test client's, say) before the server binds
    it."""
    lo, _ = _ephemeral_range()
    for _ in range(200):
        port = _port_rng.randrange(10000, lo) if lo > 11000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d, kind="ec"):
    """A self-signed certificate for localhost and its key, which imapd
    accepts: mode 600 in a directory only its owner may change."""
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    key, crt = d / "key.pem", d / "cert.pem"
    newkey = (["-newkey", "rsa:2048"] if kind == "rsa" else
              ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
    run(["openssl", "req", "-x509", *newkey, "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", crt])
    key.chmod(0o600)
    return {"cert": crt, "key": key}


class MailUser:
    """The user tests log in as: a throw-away Unix account as root,
    the invoking user otherwise."""

    def __init__(self, name, password, home, created, pam_service,
                 pam_env):
        self.name = name
        self.password = password
        self.home = pathlib.Path(home)
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.created = created
        self.pam_service = pam_service
        self.pam_env = pam_env or {}

    @property
    def groups(self):
        gids = os.getgrouplist(self.name, self.gid)
        return sorted(set(gids))

    def maildir(self):
        return self.home / "Maildir"

    def remove(self):
        if self.created:
            subprocess.run(["userdel", self.name], capture_output=True)
            subprocess.run(["groupdel", self.name + "x"],
                           capture_output=True)
            pathlib.Path(f"/etc/pam.d/{self.pam_service}").unlink(
                missing_ok=True)


def make_mailuser(workdir):
    password = "pw-" + secrets.token_urlsafe(12)
    if IS_ROOT:
        name = "imt" + "".join(random.choices(string.ascii_lowercase, k=8))
        home = workdir / "home" / name
        home.parent.mkdir(parents=True, exist_ok=True)
        home.parent.chmod(0o755)
        # a supplementary group, so that the test can see initgroups work
        run(["groupadd", name + "x"])
        run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin",
             "-G", name + "x", name])
        run(["chpasswd"], input=f"{name}:{password}\n".encode())
        home.mkdir()
        pw = pwd.getpwnam(name)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        home.chmod(0o700)
        service = "imapd-test-" + name
        pathlib.Path(f"/etc/pam.d/{service}").write_text(
            "auth required pam_unix.so\n"
            "account required pam_unix.so\n")
        return MailUser(name, password, home, True, service, None)
    # not root: this user, and PAM through pam_wrapper
    name = pwd.getpwuid(os.getuid()).pw_name
    home = workdir / "home" / name
    home.mkdir(parents=True)
    svcdir = workdir / "pam.d"
    svcdir.mkdir()
    passdb = workdir / "pam.passdb"
    service = "imapd-test"
    passdb.write_text(f"{name}:{password}:{service}\n")
    (svcdir / service).write_text(
        f"auth required {PAM_MATRIX} passdb={passdb}\n"
        f"account required {PAM_MATRIX} passdb={passdb}\n")
    env = {"LD_PRELOAD": PAM_WRAPPER, "PAM_WRAPPER": "1",
           "PAM_WRAPPER_SERVICE_DIR": str(svcdir)}
    return MailUser(name, password, home, False, service, env)


def make_userdb(d, user):
    """A userdb with a virtual user 'vuser' that maps to the mail user's
    uid/gid and home; returns its details."""
    d.mkdir(parents=True, exist_ok=True)
    password = "vpw-" + secrets.token_urlsafe(10)
    tool = ROOT / "tools" / "imapd-userdb"
    h = run([tool, "-p", "-m", "sha512"],
            input=(password + "\n").encode()).stdout.decode().strip()
    vhome = user.home  # same uid must own it
    text = d / "userdb"
    lines = f"vuser:{h}:{user.uid}:{user.gid}:{vhome}\n"
    if not IS_ROOT:
        # where PAM cannot run (sanitizer build without root), the mail
        # user logs in through the userdb with the same password
        h2 = run([tool, "-p", "-m", "sha512"],
                 input=(user.password + "\n").encode()).stdout.decode()
        lines += f"{user.name}:{h2.strip()}:{user.uid}:{user.gid}:{vhome}\n"
    text.write_text(lines)
    run([tool, "-o", d / "userdb.cdb", text])
    return {"path": d / "userdb.cdb", "user": "vuser",
            "password": password}


SAN_PATTERNS = re.compile(r"ERROR: AddressSanitizer|runtime error:|"
                          r"ERROR: LeakSanitizer|SUMMARY: \w+Sanitizer")


class Server:
    def __init__(self, build, workdir, cert, user, userdb, overrides,
                 name="server", host="127.0.0.1", env_extra=None):
        """host: the loopback address it listens on (127.0.0.2 and so
        on stand for other machines); env_extra: added to its
        environment."""
        self.build = build
        self.host = host
        self.env_extra = dict(env_extra or {})
        self.user = user
        self.userdb = userdb
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=safe + "-",
                                                 dir=workdir))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.conf_path = self.dir / "imapd.conf"
        self.log_path = self.dir / "imapd.log"
        self.chroot = self.dir / "empty"
        self.settings = {
            "listen_imap": f"{host}:{self.port}",
            "listen_imaps": f"{host}:{self.tls_port}",
            "tls_cert": str(cert["cert"]),
            "tls_key": str(cert["key"]),
            "auth": "pam,userdb" if build.pam_ok else "userdb",
            "pam_service": user.pam_service,
            "userdb": str(userdb["path"]),
            "login_user": LOGIN_USER,
            "login_chroot": str(self.chroot),
            "prefork": "2",
            "max_sessions": "50",
            "auth_fail_delay": "100ms",
        }
        if os.environ.get("IMAPD_TEST_TLS_PROCESS"):
            # the whole suite against the other TLS process mode
            self.settings["tls_process"] = \
                os.environ["IMAPD_TEST_TLS_PROCESS"]
        if not IS_ROOT:
            # PAM logs in the invoking user, whose passwd home is not
            # the test's: point the mail at the test's Maildir
            self.settings["mail_location"] = str(user.maildir())
        self.settings.update({k: str(v) for k, v in overrides.items()
                              if v is not None})
        for k, v in overrides.items():
            if v is None:
                self.settings.pop(k, None)
        self.proc = None
        self.logf = None

    def write_conf(self, **changes):
        self.settings.update({k: str(v) for k, v in changes.items()})
        self.conf_path.write_text("".join(
            f"{k} = {v}\n" for k, v in self.settings.items()))

    def env(self):
        e = self.build.env()
        e.update(self.user.pam_env)
        e.update(self.env_extra)
        return e

    def start(self, wait=True, **popen_args):
        """Start imapd in the foreground; popen_args go to Popen (say,
        pass_fds to hand it descriptors)."""
        for attempt in range(5):
            self.write_conf()
            self.logf = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [str(self.build.imapd), "-f", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=self.logf,
                stderr=self.logf, env=self.env(), **popen_args)
            if not wait:
                return
            try:
                self.wait_listening()
                return
            except RuntimeError:
                # another program took a port chosen for us between the
                # choice and the bind: choose again, unless the test
                # named its own addresses
                if attempt == 4 or "Address already in use" not in \
                        self.log() or not self._own_ports():
                    raise
                self.proc.wait(timeout=10)
                self.logf.close()
                self.port, self.tls_port = free_port(), free_port()
                self.settings["listen_imap"] = f"{self.host}:{self.port}"
                self.settings["listen_imaps"] = \
                    f"{self.host}:{self.tls_port}"
                self.log_path.rename(self.log_path.with_name(
                    f"imapd.log.port-taken-{attempt}"))

    def _own_ports(self):
        return (self.settings.get("listen_imap") ==
                f"{self.host}:{self.port}" and
                self.settings.get("listen_imaps") ==
                f"{self.host}:{self.tls_port}")

    def wait_listening(self, timeout=20):
        deadline = time.monotonic() + timeout
        # every address the configuration names, v4 and [v6]
        addrs = []
        for key in ("listen_imap", "listen_imaps"):
            for item in re.split(r"[\s,]+", self.settings.get(key, "")):
                m = re.match(r"^\[(.*)\]:(\d+)$|^(.*):(\d+)$", item)
                if m:
                    host = m.group(1) or m.group(3)
                    port = int(m.group(2) or m.group(4))
                    addrs.append((host if host not in ("", "*")
                                  else "127.0.0.1", port))
        for a in addrs:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("imapd exited: " + self.log())
                try:
                    with socket.create_connection(a, 1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("imapd is not listening: " +
                                           self.log())
                    time.sleep(0.05)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10):
        """Wait until the log has a line matching pattern; return it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern!r}:\n" +
                             self.log())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.logf:
            self.logf.close()
            self.logf = None
        return self.proc.returncode

    def sanitizer_reports(self):
        return [l for l in self.log().splitlines()
                if SAN_PATTERNS.search(l)]

    def sandbox_kills(self):
        """Log lines of fronts killed for a system call outside their
        sandbox: every test fails on one."""
        return [l for l in self.log().splitlines()
                if "outside its sandbox" in l]

    # clients -------------------------------------------------------------

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=self.settings["tls_cert"])
        return ctx

    def raw(self, tls=False, port=None, source=None):
        """A raw client; source is another loopback address to connect
        from (127.0.0.2, ...), for limits kept per client address."""
        port = port or (self.tls_port if tls else self.port)
        return Raw(port, self.tls_context() if tls else None, source=source,
                   host=self.host)

    def imaplib(self, tls=True, starttls=False):
        import imaplib
        if tls:
            return imaplib.IMAP4_SSL(self.host, self.tls_port,
                                     ssl_context=self.tls_context(),
                                     timeout=30)
        c = imaplib.IMAP4(self.host, self.port, timeout=30)
        if starttls:
            c.starttls(self.tls_context())
        return c


def offlineimap_rc(base, server, user, extra=""):
    """An offlineimap3 configuration that syncs user's mail on server's
    TLS port into base/mail (created); extra lines go to the remote
    repository.  Returns its path."""
    (base / "mail").mkdir(parents=True)
    rc = base / "rc"
    rc.write_text(f"""
[general]
accounts = t
metadata = {base}/meta
ui = basic

[Account t]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {base}/mail

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {server.tls_port}
remoteuser = {user.name}
remotepass = {user.password}
ssl = yes
sslcacertfile = {server.settings['tls_cert']}
{extra}""")
    return rc


def offlineimap_sync(rc):
    """One offlineimap3 run with configuration rc, which must succeed with
    no ERROR line; returns its output."""
    p = subprocess.run([shutil.which("offlineimap"), "-c", str(rc), "-o",
                        "-u", "basic"], capture_output=True, timeout=180)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0 and "ERROR" not in out, out
    return out


def mbsync_rc(base, server, user):
    """An mbsync configuration that syncs every folder of user's mail on
    server's TLS port both ways into base/mbsync-local (created), with
    folders as nested directories.  Returns (its path, the local root)."""
    local = base / "mbsync-local"
    local.mkdir(parents=True)
    rc = base / "mbsyncrc"
    rc.write_text(f"""
IMAPAccount t
Host localhost
Port {server.tls_port}
User {user.name}
Pass {user.password}
SSLType IMAPS
CertificateFile {server.settings['tls_cert']}

IMAPStore remote
Account t

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    return rc, local


class Raw:
    """A line-oriented IMAP client that shows exactly what the server
    sends, for protocol tests."""

    def __init__(self, port, ctx=None, timeout=15, source=None,
                 host="127.0.0.1"):
        self.sock = socket.create_connection(
            (host, port), timeout,
            source_address=(source, 0) if source else None)
        self.ctx = ctx
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock,
                                        server_hostname="localhost")
        self.buf = b""
        self.timeout = timeout

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv(self):
        """The next bytes from the server, b"" at the end of the stream
        (a subclass may decode them: COMPRESS)."""
        return self.sock.recv(65536)

    def line(self, timeout=None):
        """The next line without CRLF; raises EOFError at end of stream."""
        self.sock.settimeout(timeout or self.timeout)
        while b"\n" not in self.buf:
            chunk = self.recv()
            if not chunk:
                raise EOFError("connection closed; buffered: %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def until_tagged(self, tag, timeout=None):
        """Lines up to and including the tagged response for tag."""
        out = []
        while True:
            l = self.line(timeout)
            out.append(l)
            if l.startswith(tag + " "):
                return out

    def cmd(self, tag, text, timeout=None):
        self.send(f"{tag} {text}\r\n")
        return self.until_tagged(tag, timeout)

    def closed(self, timeout=10):
        """True if the server closes the connection (after any lines)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.recv()
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def proc_children(pid):
    """Direct children of pid, from /proc."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...
        rest = stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append(int(d.name))
    return out


def proc_limits(pid):
    """/proc/<pid>/limits as {name: soft limit}, e.g. "Max open files":
    "3"."""
    out = {}
    lines = pathlib.Path(f"/proc/{pid}/limits").read_text().splitlines()
    for line in lines[1:]:
        name, soft = line[:26].strip(), line[26:47].strip()
        out[name] = soft
    return out


def proc_gone(pid):
    """True once pid has exited (a zombie has exited too)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        # gone before the open, or (ESRCH) between the open and the read
        return True
    return stat[stat.rindex(")") + 2:].split()[0] == "Z"


def wait_gone(pids, seconds):
    """Wait up to seconds for every pid to exit; True if they did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(proc_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def server_sessions(server, comm):
    """The server master's children named comm (imapd-auth: sessions
    before login, imapd-session: after)."""
    return [p for p in proc_children(server.proc.pid)
            if proc_comm(p) == comm]


def proc_fds(pid):
    """pid's open descriptors as {fd: target}. A descriptor closed
    between the listing and its readlink is left out, not an error:
    the servers open and close sockets while tests look."""
    out = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for fd in names:
        try:
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def proc_ppid(pid):
    """The pid of pid's parent, or 0 if it has gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def session_pair(server):
    """(back, front) pids of the server's one logged-in session.  After a
    PAM login the front is a child of the imapd-pam keeper, the back's
    parent; otherwise of the back itself."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        backs = [p for p in proc_descendants(server.proc.pid)
                 if proc_comm(p) == "imapd-session"]
        if len(backs) == 1:
            parent = proc_ppid(backs[0])
            near = proc_children(backs[0])
            if proc_comm(parent) == "imapd-pam":
                near += proc_children(parent)
            fronts = [p for p in near if proc_comm(p) == "imapd-login"]
            if len(fronts) == 1:
                return backs[0], fronts[0]
        time.sleep(0.05)
    raise AssertionError("no logged-in session found")


def session_worker(back):
    """The process the master counts for a session whose back is back:
    the imapd-pam keeper after a PAM login, the back itself otherwise."""
    parent = proc_ppid(back)
    return parent if proc_comm(parent) == "imapd-pam" else back


def prelogin_pair(server):
    """A new TLS connection that has not logged in (its greeting read),
    with its (back, front) pids: (raw client, back, front)."""
    # the server's start-up probes are sessions too: let them end
    assert wait_gone(server_sessions(server, "imapd-auth"), 10)
    pre = server.raw(tls=True)
    pre.line()
    deadline = time.monotonic() + 10
    while len(backs := server_sessions(server, "imapd-auth")) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fronts = [p for p in proc_children(backs[0])
              if proc_comm(p) == "imapd-login"]
    assert len(fronts) == 1
    return pre, backs[0], fronts[0]


def wait_children(pid, comm, n=1, timeout=10):
    """pid's children named comm, once there are n of them or the
    timeout has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in proc_children(pid) if proc_comm(p) == comm]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def proc_descendants(pid, depth=4):
    """pid's children, their children, ... (depth levels)."""
    out, level = [], [pid]
    for _ in range(depth):
        level = [c for p in level for c in proc_children(p)]
        out += level
    return out


def wait_descendants(pid, comm, n=1, timeout=10):
    """Processes under pid named comm (a session's back and front sit
    under a PAM session keeper for PAM logins, under the master else),
    once there are n of them or the timeout has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in proc_descendants(pid) if proc_comm(p) == comm]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def proc_status(pid):
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def proc_comm(pid):
    """The process's name, or "" if it has gone (a worker may exit
    between the listing of children and this read)."""
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        # gone before the open, or (ESRCH) between the open and the read
        return ""


# --- Maildir helpers ---------------------------------------------------------

_drop_counter = [0]


def login_answer(server, user, password, tls=True):
    """The tagged answer to a LOGIN on a new connection to server."""
    c = server.raw(tls=tls)
    try:
        c.line()
        return c.cmd("a", f"LOGIN {user} {password}", timeout=30)[-1]
    finally:
        c.close()


def maildir_reset(user):
    """Remove the mail user's Maildir entirely (the server recreates it)."""
    md = user.maildir()
    if md.exists():
        shutil.rmtree(md)


def _chown(user, path):
    if IS_ROOT:
        os.chown(path, user.uid, user.gid)


def maildir_age(user, seconds=6 * 3600):
    """Make every file and directory of the Maildir hours old, as on a
    host that has run for a while."""
    t = os.path.getmtime(user.maildir()) - seconds
    for root, dirs, files in os.walk(user.maildir()):
        for n in dirs + files:
            os.utime(os.path.join(root, n), (t, t))
    os.utime(user.maildir(), (t, t))


def maildir_make(user, folder=""):
    """Create the Maildir (and folder, "" = INBOX) as an MDA would."""
    md = user.maildir()
    d = md if folder == "" else md / ("." + folder.replace("/", "."))
    for p in (md, d):
        for sub in ("", "cur", "new", "tmp"):
            q = p / sub
            if not q.exists():
                q.mkdir(mode=0o700)
                _chown(user, q)
    if folder:
        mf = d / "maildirfolder"
        if not mf.exists():
            mf.touch()
            _chown(user, mf)
    return d


def drop(user, content, folder="", flags=None, mtime=None, name=None):
    """Deliver a message file the way an MDA does (tmp/ then rename into
    new/, or into cur/ with :2,<flags> when flags is given).  Returns the
    path."""
    d = maildir_make(user, folder)
    if isinstance(content, str):
        content = content.encode()
    _drop_counter[0] += 1
    # zero-padded, so that names sort (and get UIDs) in delivery order
    base = name or "%d.M%06dP%dQ%06d.testhost" % (
        int(time.time()), _drop_counter[0], os.getpid(), _drop_counter[0])
    tmp = d / "tmp" / base
    tmp.write_bytes(content)
    _chown(user, tmp)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    if flags is None:
        dest = d / "new" / base
    else:
        dest = d / "cur" / (base + ":2," + "".join(sorted(flags)))
    os.rename(tmp, dest)
    return dest


def message(subject="Hello", body="Body text.\n", sender="a@example.org",
            to="b@example.org", date="Mon, 2 Nov 2026 09:00:00 +0000",
            extra=""):
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
            f"Date: {date}\nMessage-ID: <{secrets.token_hex(8)}@test>\n"
            f"{extra}\n{body}")


def crlf(b):
    """The CRLF form IMAP sends of a message with LF line ends."""
    if isinstance(b, str):
        b = b.encode()
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Session:
    """A logged-in raw session with tagged commands numbered for you."""

    def __init__(self, server, user, tls=True):
        self.raw = server.raw(tls=tls)
        self.raw.line()
        self.n = 0
        r = self.cmd(f"LOGIN {user.name} {user.password}")
        assert r[-1].split()[1] == "OK", r

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def cmd(self, text, timeout=None):
        """Send one command; return its response lines (tagged last)."""
        t = self.tag()
        self.raw.send(f"{t} {text}\r\n")
        return self.read_tagged(t, timeout)

    def read_tagged(self, t, timeout=None):
        out = []
        while True:
            l = self.raw.line(timeout)
            # a literal: read its bytes and keep them on the line
            m = re.search(r"\{(\d+)\}$", l)
            while m:
                n = int(m.group(1))
                data = self.read_exact(n)
                rest = self.raw.line(timeout)
                l = l + "\n" + data.decode("utf-8", "replace") + rest
                m = re.search(r"\{(\d+)\}$", rest)
            out.append(l)
            if l.startswith(t + " "):
                return out

    def read_exact(self, n):
        while len(self.raw.buf) < n:
            chunk = self.raw.sock.recv(65536)
            if not chunk:
                raise EOFError("closed in a literal")
            self.raw.buf += chunk
        data, self.raw.buf = self.raw.buf[:n], self.raw.buf[n:]
        return data

    def ok(self, text, timeout=None):
        r = self.cmd(text, timeout)
        assert r[-1].split()[1] == "OK", r
        return r

    def close(self):
        self.raw.close()
