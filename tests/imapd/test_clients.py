"""Real IMAP clients from Debian against the real server over TLS:
mbsync (isync) and offlineimap3 two-way syncs, and a fetchmail download.
Results are checked on disk on both sides and over IMAP, not only by exit
codes."""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

import imapdtest
from imapdtest import Session, drop, message

MBSYNC = shutil.which("mbsync")
OFFLINEIMAP = shutil.which("offlineimap")
FETCHMAIL = shutil.which("fetchmail")


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    return server


def server_files(user, folder="", sub="cur"):
    d = user.maildir() if not folder else \
        user.maildir() / ("." + folder.replace("/", "."))
    return sorted(os.listdir(d / sub)) if (d / sub).exists() else []


def local_messages(d):
    """All message files under a local Maildir tree, by subject."""
    out = {}
    for root, dirs, names in os.walk(d):
        if os.path.basename(root) not in ("cur", "new"):
            continue
        for n in names:
            data = pathlib.Path(root, n).read_bytes()
            m = re.search(rb"^Subject: (.*)$", data, re.M)
            out[m.group(1).decode() if m else n] = os.path.join(root, n)
    return out


def subjects_on_server(server, user, folder="INBOX"):
    s = Session(server, user)
    s.ok(f'SELECT "{folder}"')
    r = s.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for l in r:
        m = re.search(r"FLAGS \(([^)]*)\).*Subject: ([^\r\n]*)", l, re.S)
        if m:
            out[m.group(2)] = m.group(1)
    s.close()
    return out


@pytest.mark.skipif(MBSYNC is None, reason="isync not installed")
def test_mbsync_two_way(md, mailuser, workdir, build):
    for i in range(5):
        drop(mailuser, message(subject=f"inbox {i}"), flags="S" if i else "")
    drop(mailuser, message(subject="archived"), folder="Archive", flags="S")
    rc, local = imapdtest.mbsync_rc(pathlib.Path(md.dir), md, mailuser)

    def sync():
        p = subprocess.run([MBSYNC, "-c", str(rc), "-a"], capture_output=True,
                           timeout=120)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()

    sync()
    got = local_messages(local / "INBOX")
    assert set(got) == {f"inbox {i}" for i in range(5)}
    assert "archived" in local_messages(local / "Archive")
    assert (local / "Sent").is_dir()
    # change things locally: flag one, delete one, add one
    p = got["inbox 0"]
    os.rename(p, re.sub(r":2,.*$", "", p) + ":2,FS")
    os.rename(got["inbox 1"], re.sub(r":2,.*$", "", got["inbox 1"]) +
              ":2,ST")
    newfile = local / "INBOX" / "new" / "1700000000.local1.host"
    newfile.write_text(message(subject="written locally"))
    sync()
    onserver = subjects_on_server(md, mailuser)
    assert "written locally" in onserver
    assert "\\Flagged" in onserver["inbox 0"]
    assert "inbox 1" not in onserver          # deleted and expunged
    # and a change on the server comes back
    drop(mailuser, message(subject="delivered later"))
    sync()
    assert "delivered later" in local_messages(local / "INBOX")
    # a third run has nothing to do and changes nothing on the server
    before = server_files(mailuser)
    sync()
    assert server_files(mailuser) == before


@pytest.mark.skipif(OFFLINEIMAP is None, reason="offlineimap3 not installed")
def test_offlineimap_two_way(md, mailuser, workdir):
    for i in range(4):
        drop(mailuser, message(subject=f"oi {i}"), flags="S")
    drop(mailuser, message(subject="sent one"), folder="Sent", flags="S")
    base = pathlib.Path(md.dir) / "offlineimap"
    rc = imapdtest.offlineimap_rc(base, md, mailuser)

    def sync():
        return imapdtest.offlineimap_sync(rc)

    sync()
    got = local_messages(base / "mail" / "INBOX")
    assert set(got) == {f"oi {i}" for i in range(4)}
    assert "sent one" in local_messages(base / "mail" / "Sent")
    # local changes go up
    p = got["oi 2"]
    os.rename(p, re.sub(r":2,.*$", "", p) + ":2,FS")
    os.unlink(got["oi 3"])
    (base / "mail" / "INBOX" / "new" / "1700000001.oi.host").write_text(
        message(subject="offline new"))
    sync()
    onserver = subjects_on_server(md, mailuser)
    assert "offline new" in onserver
    assert "\\Flagged" in onserver["oi 2"]
    assert "oi 3" not in onserver


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail not installed")
def test_fetchmail_download(md, mailuser):
    bodies = {}
    for i in range(3):
        m = message(subject=f"fm {i}", body=f"body number {i}\n")
        drop(mailuser, m)
        bodies[f"fm {i}"] = m
    out = pathlib.Path(md.dir) / "fetched"
    out.mkdir()
    rc = pathlib.Path(md.dir) / "fetchmailrc"
    rc.write_text(f"""
poll localhost service {md.tls_port} proto IMAP
  user "{mailuser.name}" password "{mailuser.password}"
  ssl sslcertck sslcertfile "{md.settings['tls_cert']}"
  keep
  mda "/bin/sh -c 'cat > {out}/msg.$$$$'"
""")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=md.dir)
    p = subprocess.run([FETCHMAIL, "-f", str(rc), "--nodetach", "-v",
                        "--pidfile", str(pathlib.Path(md.dir) / "fm.pid")],
                       capture_output=True, timeout=120, env=env)
    text = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, text
    got = {}
    for f in out.iterdir():
        data = f.read_text()
        m = re.search(r"^Subject: (.*)$", data, re.M)
        got[m.group(1)] = data
    assert set(got) == set(bodies)
    for k, v in bodies.items():
        assert v.split("\n\n", 1)[1] in got[k]
    # fetchmail marks what it fetched as seen on the server
    onserver = subjects_on_server(md, mailuser)
    assert all("\\Seen" in onserver[k] for k in bodies)
    # a second run fetches nothing new
    p = subprocess.run([FETCHMAIL, "-f", str(rc), "--nodetach",
                        "--pidfile", str(pathlib.Path(md.dir) / "fm.pid")],
                       capture_output=True, timeout=120, env=env)
    assert p.returncode in (0, 1)     # 1 = no new mail
    assert len(list(out.iterdir())) == 3
