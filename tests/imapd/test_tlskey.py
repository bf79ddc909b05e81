"""The TLS private key, the cipher settings and the key file checks.

No process that serves a session holds the private key: the key process
signs for the fronts.  As root, the memory of the master, the idle
workers, and the front and back of sessions logged in on 993 and after
STARTTLS on 143 is read through /proc/<pid>/mem and searched for the key's
PEM lines, its DER form and its private numbers (in either byte order);
the same search must find the key in the key process, so that a search
that cannot see is not mistaken for a clean result."""

import ctypes
import os
import pathlib
import pwd
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

import imapdtest
from imapdtest import proc_comm, proc_status, wait_children, \
    wait_descendants

needs_root = pytest.mark.skipif(not imapdtest.IS_ROOT,
                                reason="needs root to read other processes")

PRIVATE_FIELDS = ("privateExponent", "prime1", "prime2", "exponent1",
                  "exponent2", "coefficient", "priv")


@pytest.fixture(scope="session")
def rsacert(workdir):
    return imapdtest.make_cert(workdir / "tls-rsa", kind="rsa")


def keyproc(server):
    found = wait_children(server.proc.pid, "imapd-key")
    assert len(found) == 1, found
    return found[0]


def key_patterns(keyfile):
    """Byte strings of which any one, found in memory, is the key."""
    out = {}
    for line in pathlib.Path(keyfile).read_text().splitlines():
        if len(line) == 64 and not line.startswith("-----"):
            out["PEM line " + line[:8]] = line.encode()
    der = imapdtest.run(["openssl", "pkey", "-in", keyfile, "-outform",
                         "DER"]).stdout
    out["DER"] = der
    text = imapdtest.run(["openssl", "pkey", "-in", keyfile, "-text",
                          "-noout"]).stdout.decode()
    field = None
    hexes = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            field = m.group(1)
            continue
        if not line.startswith(" "):
            field = None
        elif field in PRIVATE_FIELDS:
            hexes[field] = hexes.get(field, "") + line.strip()
    assert hexes, text
    for name, h in hexes.items():
        num = bytes.fromhex(h.replace(":", "")).lstrip(b"\0")
        assert len(num) >= 16
        out[name + " (big-endian)"] = num
        out[name + " (little-endian)"] = num[::-1]
    return out


def memory(pid):
    """(mapping name, bytes) for every readable mapping of pid; the huge
    reservations of the sanitizer runtime (shadow memory) are skipped."""
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if "r" not in fields[1] or name == "[vvar]" or \
                    end - start > 1 << 30:
                continue
            try:
                mem.seek(start)
                yield name, mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue


def key_found(pid, patterns):
    """The names of the patterns found in pid's memory."""
    found = set()
    for _, data in memory(pid):
        for name, p in patterns.items():
            if name not in found and data.find(p) != -1:
                found.add(name)
    return found


def tcp_inodes():
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(f).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        inodes.update(line.split()[9] for line in lines)
    return inodes


def socket_inodes(pid):
    out = set()
    for target in imapdtest.proc_fds(pid).values():
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            out.add(m.group(1))
    return out


def client_ctx(server, maximum=None, minimum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(server.settings["tls_cert"])
    if maximum:
        ctx.maximum_version = maximum
    if minimum:
        ctx.minimum_version = minimum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_greeting(server, ctx):
    """Connect to the TLS port with ctx; the socket after the greeting."""
    sock = socket.create_connection(("127.0.0.1", server.tls_port), 10)
    s = ctx.wrap_socket(sock, server_hostname="localhost")
    s.settimeout(10)
    assert s.recv(4096).startswith(b"* OK")
    return s


def login_both_ways(server, mailuser):
    """A session logged in on the TLS port and one after STARTTLS."""
    a = server.imaplib(tls=True)
    a.login(mailuser.name, mailuser.password)
    b = server.imaplib(tls=False, starttls=True)
    b.login(mailuser.name, mailuser.password)
    return a, b


@needs_root
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_no_session_process_holds_the_key(server_factory, mailuser, cert,
                                          rsacert, kind):
    c = rsacert if kind == "rsa" else cert
    server = server_factory(tls_cert=c["cert"], tls_key=c["key"])
    patterns = key_patterns(c["key"])
    a, b = login_both_ways(server, mailuser)
    master = server.proc.pid
    backs = wait_descendants(master, "imapd-session", 2)
    assert len(backs) == 2
    fronts = wait_descendants(master, "imapd-login", 2)
    assert len(fronts) == 2
    # PAM session keepers (root) hold none either
    keepers = wait_children(master, "imapd-pam", 0, timeout=0)
    idle = wait_children(master, "imapd-idle")
    assert idle
    for pid in [master] + idle + keepers + backs + fronts:
        assert key_found(pid, patterns) == set(), \
            f"{proc_comm(pid)} {pid} holds the private key"

    # the search sees the key where it is
    kp = keyproc(server)
    assert key_found(kp, patterns)
    # ... and the key process is confined and holds no client socket
    st = proc_status(kp)
    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)
    assert [int(x) for x in st["Uid"].split()] == [nobody.pw_uid] * 4
    assert st["CapEff"] == "0000000000000000"
    assert os.readlink(f"/proc/{kp}/root") == str(server.chroot)
    assert socket_inodes(kp)
    assert not socket_inodes(kp) & tcp_inodes()
    a.logout()
    b.logout()


def seqpackets(pid):
    """How many SOCK_SEQPACKET sockets (key channels, and the master's
    control socket to the key process) pid holds."""
    return len(socket_inodes(pid) & seqpacket_inodes())


@needs_root
def test_key_channels(server_factory, mailuser):
    # a server of its own: the shared one may still be replacing its key
    # process or its workers after an earlier test
    server = server_factory()
    master = server.proc.pid
    kp = keyproc(server)
    # each idle worker holds its own channel.  Two moments pass on the
    # way and are not the state asserted: a worker just forked still holds
    # the master's control socket until it closes its copy (two), and one
    # that has just accepted hands its channel to its front before it
    # names itself (none).  Wait, bounded, for the settled state.
    deadline = time.monotonic() + 10
    while True:
        idle = wait_children(master, "imapd-idle", 2)
        try:
            counts = [seqpackets(w) for w in idle]
        except (FileNotFoundError, ProcessLookupError):
            # it accepted and ended meanwhile
            counts = None
        if counts == [1, 1] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert counts == [1, 1]
    # the master keeps only its control socket to the key process (and,
    # for the moment a worker is being forked, that worker's channel)
    deadline = time.monotonic() + 10
    while seqpackets(master) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seqpackets(master) == 1
    # and the key process the other ends and its control socket
    deadline = time.monotonic() + 5     # it takes them as they come
    while seqpackets(kp) != 1 + len(idle) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seqpackets(kp) == 1 + len(idle)
    # before STARTTLS only the front has the channel, not the back
    pre = server.raw()
    pre.line()
    back = wait_children(master, "imapd-auth")[0]
    front = wait_children(back, "imapd-login")[0]
    assert seqpackets(back) == 0
    assert seqpackets(front) == 1
    # once the handshake is done the front has closed it too
    r = pre.cmd("s", "STARTTLS")
    assert r[-1].startswith("s OK")
    pre.starttls(server.tls_context())
    assert pre.cmd("n", "NOOP")[-1].startswith("n OK")
    assert seqpackets(front) == 0
    tls = server.raw(tls=True)
    tls.line()
    backs = [b for b in wait_children(master, "imapd-auth", 2) if b != back]
    assert seqpackets(wait_children(backs[0], "imapd-login")[0]) == 0
    pre.close()
    tls.close()


@pytest.fixture
def rsaserver(server_factory, rsacert):
    return server_factory(tls_cert=rsacert["cert"], tls_key=rsacert["key"])


@pytest.mark.parametrize("ciphers", [
    "AES256-GCM-SHA384:AES128-GCM-SHA256:AES128-SHA:AES256-SHA",
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA",
], ids=["static-RSA", "CBC-SHA1"])
def test_weak_tls12_ciphers_refused(rsaserver, ciphers):
    ctx = client_ctx(rsaserver, maximum=ssl.TLSVersion.TLSv1_2,
                     ciphers=ciphers)
    with pytest.raises(ssl.SSLError):
        tls_greeting(rsaserver, ctx)


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256",
                                    "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"])
def test_ecdhe_aead_works(rsaserver, cipher):
    ctx = client_ctx(rsaserver, maximum=ssl.TLSVersion.TLSv1_2,
                     ciphers=cipher)
    s = tls_greeting(rsaserver, ctx)
    assert s.version() == "TLSv1.2" and s.cipher()[0] == cipher
    s.close()


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_tls13_works_without_tickets(server_factory, cert, rsacert, which):
    c = rsacert if which == "rsa" else cert
    server = server_factory(tls_cert=c["cert"], tls_key=c["key"])
    s = tls_greeting(server, client_ctx(server,
                                        minimum=ssl.TLSVersion.TLSv1_3))
    assert s.version() == "TLSv1.3"
    s.sendall(b"a NOOP\r\n")
    assert b"a OK" in s.recv(4096)
    # no session ticket came, so nothing outlives the connection
    assert not s.session.has_ticket
    s.close()


@pytest.mark.parametrize("version,sigalg,shown", [
    ("-tls1_2", "RSA+SHA256", "RSA"),
    ("-tls1_2", "rsa_pss_rsae_sha384", "RSA-PSS"),
    ("-tls1_3", "rsa_pss_rsae_sha512", "RSA-PSS"),
])
def test_rsa_signature_schemes(rsaserver, version, sigalg, shown):
    """PKCS #1 v1.5 and PSS signatures from the key process both verify."""
    p = subprocess.run(
        ["openssl", "s_client", version, "-sigalgs", sigalg, "-connect",
         f"127.0.0.1:{rsaserver.tls_port}", "-CAfile",
         rsaserver.settings["tls_cert"], "-verify_return_error", "-brief",
         "-ign_eof"],
        input=b"a LOGOUT\r\n", capture_output=True, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert re.search(rf"^Signature type: {re.escape(shown)}$", out,
                     re.M), out
    assert "* OK" in out


def test_renegotiation_refused(rsaserver):
    p = subprocess.Popen(
        ["openssl", "s_client", "-tls1_2", "-connect",
         f"127.0.0.1:{rsaserver.tls_port}", "-CAfile",
         rsaserver.settings["tls_cert"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        p.stdin.write(b"R\n")      # s_client's command to renegotiate
        p.stdin.flush()
        time.sleep(2)
        out, _ = p.communicate(timeout=20)
    except BrokenPipeError:
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = out.decode(errors="replace")
    assert "RENEGOTIATING" in text and "no renegotiation" in text, text


def run_check(build, server, **settings):
    server.write_conf(**settings)
    return subprocess.run([str(build.imapd), "-t", "-c",
                           str(server.conf_path)], capture_output=True,
                          timeout=30, env=server.env())


@pytest.mark.parametrize("setting,value,says", [
    ("tls_ciphers", "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256",
     "RSA key exchange"),
    ("tls_ciphers", "NO-SUCH-CIPHER", "tls_ciphers"),
    ("tls_ciphers", "ADH-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
     "does not authenticate"),
    ("tls_groups", "X25519:no-such-group", "tls_groups"),
    ("tls_ciphersuites", "TLS_NO_SUCH_SUITE", "tls_ciphersuites"),
    ("tls_ciphers", "ECDHE-RSA-AES128-GCM-SHA256 x", "tls_ciphers"),
])
def test_check_refuses_bad_tls_settings(build, server, setting, value, says):
    p = run_check(build, server, **{setting: value})
    assert p.returncode != 0
    assert says in p.stderr.decode(), p.stderr.decode()


def test_check_accepts_tls_settings(build, server):
    p = run_check(build, server,
                  tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
                  tls_ciphersuites="TLS_AES_256_GCM_SHA384",
                  tls_groups="secp384r1")
    assert p.returncode == 0, p.stderr.decode()


# --- the key file ----------------------------------------------------------

def key_copy(workdir, cert, name, dirmode=0o755, keymode=0o600):
    d = workdir / name
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(dirmode)
    key = d / "key.pem"
    key.write_bytes(pathlib.Path(cert["key"]).read_bytes())
    key.chmod(keymode)
    return key


@pytest.mark.parametrize("keymode,dirmode,says", [
    (0o640, 0o755, "may be read or changed by its group (chmod 600"),
    (0o604, 0o755, "may be read or changed by others (chmod 600"),
    (0o620, 0o755, "may be read or changed by its group"),
    (0o600, 0o777, "is writable by others"),
    (0o600, 0o775, "is writable by its group"),
])
def test_key_file_permissions(build, server, workdir, cert, keymode,
                              dirmode, says):
    key = key_copy(workdir, cert, f"perm{keymode:o}{dirmode:o}",
                   dirmode, keymode)
    p = run_check(build, server, tls_key=key)
    err = p.stderr.decode()
    assert p.returncode != 0
    assert says in err and str(key.parent) in err, err


def test_key_below_directory_others_may_change(build, server, workdir,
                                               cert):
    top = workdir / "opentop"
    top.mkdir(exist_ok=True)
    top.chmod(0o777)
    key = key_copy(top, cert, "inner")
    p = run_check(build, server, tls_key=key)
    assert p.returncode != 0
    assert f"directory {top} is writable by others" in p.stderr.decode()
    # a sticky directory (as /tmp is) is fine above the key's own
    top.chmod(0o1777)
    p = run_check(build, server, tls_key=key)
    assert p.returncode == 0, p.stderr.decode()


def test_key_link_to_a_bad_place(build, server, workdir, cert):
    bad = key_copy(workdir, cert, "badlinktarget", dirmode=0o777)
    good = workdir / "linkdir"
    good.mkdir(exist_ok=True)
    link = good / "key.pem"
    if not link.is_symlink():
        link.symlink_to(bad)
    p = run_check(build, server, tls_key=link)
    assert p.returncode != 0
    assert "is writable by others" in p.stderr.decode()


@needs_root
def test_key_file_owner(build, server, workdir, cert):
    key = key_copy(workdir, cert, "owner")
    nobody = pwd.getpwnam(imapdtest.LOGIN_USER)
    os.chown(key, nobody.pw_uid, -1)
    p = run_check(build, server, tls_key=key)
    err = p.stderr.decode()
    assert p.returncode != 0
    assert f"belongs to uid {nobody.pw_uid}, not to root" in err, err
    assert str(key) in err


def test_start_refused_with_a_readable_key(build, workdir, cert,
                                           server_factory):
    key = key_copy(workdir, cert, "startbad", keymode=0o644)
    s = server_factory()
    s.write_conf(tls_key=key)
    p = subprocess.run([str(build.imapd), "-f", "-c", str(s.conf_path)],
                       capture_output=True, timeout=30, env=s.env())
    assert p.returncode != 0
    assert f"{key} may be read or changed by others" in p.stderr.decode()


# --- reload, and a key process that misbehaving fronts cannot stop ---------

def cert_der(server):
    s = tls_greeting(server, client_ctx(server))
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


@needs_root
def test_reload_with_a_new_certificate(server_factory, workdir, mailuser):
    mine = imapdtest.make_cert(workdir / "tls-reload")
    server = server_factory(tls_cert=mine["cert"], tls_key=mine["key"])
    before = cert_der(server)
    oldcert = workdir / "tls-reload-old.pem"
    oldcert.write_bytes(pathlib.Path(mine["cert"]).read_bytes())
    old = keyproc(server)
    # a session that has not done STARTTLS keeps the old key process
    waiting = server.raw()
    waiting.line()
    imapdtest.make_cert(workdir / "tls-reload")
    server.signal(signal.SIGHUP)
    server.wait_log("reloaded: new sessions use the new configuration")
    after = cert_der(server)
    assert after != before
    new = [p for p in wait_children(server.proc.pid, "imapd-key", 2)
           if p != old]
    assert len(new) == 1
    assert proc_comm(old) == "imapd-key"
    # the old key process still signs for the session it was given
    r = waiting.cmd("s", "STARTTLS")
    assert r[-1].startswith("s OK")
    waiting.starttls(ssl.create_default_context(cafile=str(oldcert)))
    assert waiting.cmd("n", "NOOP")[-1].startswith("n OK")
    waiting.close()
    deadline = time.monotonic() + 10
    while proc_comm(old) == "imapd-key" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc_comm(old) != "imapd-key"
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.logout()


def test_reload_refused_for_a_bad_key(server, workdir, cert):
    key = key_copy(workdir, cert, "reloadbad", keymode=0o640)
    server.write_conf(tls_key=key)
    server.signal(signal.SIGHUP)
    server.wait_log("reload failed, keeping the running configuration")
    assert f"{key} may be read or changed by its group" in server.log()
    cert_der(server)


@needs_root
def test_killed_key_process_is_replaced(server, mailuser):
    old = keyproc(server)
    os.kill(old, signal.SIGKILL)
    server.wait_log(f"key process {old} killed by signal 9")
    deadline = time.monotonic() + 15
    while True:
        try:
            c = server.imaplib(tls=True)
            break
        except (ssl.SSLError, OSError):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    c.login(mailuser.name, mailuser.password)
    c.logout()
    assert keyproc(server) != old


PIDFD_GETFD = 438  # x86_64


def seqpacket_inodes():
    out = set()
    for line in pathlib.Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        if f[4] == "0005":
            out.add(f[6])
    return out


def steal_key_channel(front):
    """A copy of the front's end of its key channel (as root)."""
    seq = seqpacket_inodes()
    target = None
    for fd, link in imapdtest.proc_fds(front).items():
        m = re.match(r"socket:\[(\d+)\]", link)
        if m and m.group(1) in seq:
            target = fd
    assert target is not None, "the front has no key channel"
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(front)
    try:
        fd = libc.syscall(PIDFD_GETFD, pidfd, target, 0)
        assert fd >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


def pre_tls_front(server):
    """A session on the STARTTLS port, before STARTTLS: its front still
    has its key channel."""
    c = server.raw()
    c.line()
    # the workers of sessions that ended (the start-up probes') may still
    # be going, and ours may not have named its front yet: look again,
    # bounded, at every worker's children
    deadline = time.monotonic() + 30
    while True:
        backs = [p for p in imapdtest.proc_children(server.proc.pid)
                 if imapdtest.proc_comm(p) == "imapd-auth"]
        fronts = [f for b in backs for f in imapdtest.proc_children(b)
                  if imapdtest.proc_comm(f) == "imapd-login"]
        if fronts or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert fronts, {p: imapdtest.proc_comm(p) for p in
                    imapdtest.proc_descendants(server.proc.pid)}
    return c, max(fronts)


@needs_root
@pytest.mark.parametrize("packet,answer,logged", [
    (b"\x01\x01\x00", None, "malformed request (3 bytes)"),
    (b"\x03\x01\x00\x20" + b"\x00" * 33, None, "malformed request"),
    (b"\x02\x00\x04\x00" + b"\x01" * 1100, None, "malformed request"),
    # a raw RSA operation on a block that is no PSS encoding: refused,
    # so the channel cannot decrypt
    (b"\x02\x00\x01\x00" + b"\x7f" * 256, b"\x05\x00\x00\x00",
     "no PSS encoding"),
    # a well-formed request is answered once, then the channel is shut
    (b"\x01\x01\x00\x20" + b"\x11" * 32, "signature", None),
], ids=["short", "trailing", "oversized", "raw-rsa", "one-answer"])
def test_key_process_survives_a_misbehaving_front(build, server_factory,
                                                  rsacert, mailuser, packet,
                                                  answer, logged):
    server = server_factory(tls_cert=rsacert["cert"],
                            tls_key=rsacert["key"])
    kp = keyproc(server)
    client, front = pre_tls_front(server)
    ch = steal_key_channel(front)
    ch.settimeout(10)
    ch.send(packet)
    got = ch.recv(4096)
    if answer == "signature":
        assert got[0] == 4 and len(got) == 4 + 256
        try:                                 # closed after one answer
            ch.send(packet)
            assert ch.recv(4096) == b""
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        assert got == (answer or b"")
    if logged:
        server.wait_log(re.escape(logged))
    ch.close()
    client.close()
    # the key process is the same and still signs for everyone else
    assert keyproc(server) == kp
    c = server.imaplib(tls=True)
    c.login(mailuser.name, mailuser.password)
    c.logout()
