"""QUOTA (RFC 9208) over the Maildir++ maildirsize file: the numbers
GETQUOTAROOT and GETQUOTA give after deliveries, [OVERQUOTA] before
anything is written, the delta lines APPEND, COPY, MOVE and EXPUNGE leave,
maildirsize files written by maildrop (before and while a session runs),
recalculation of a stale or too big file, and two sessions appending at
once."""

import os
import pathlib
import re
import shutil
import subprocess
import threading
import time

import pytest

import imapdtest
from imapdtest import Session, drop, message

MAILDROP = shutil.which("maildrop")
MAILDIRMAKE = shutil.which("maildirmake")
HOURS_AGO = time.time() - 3 * 3600


def scan(md):
    """Bytes and messages as a Maildir++ recalculation counts them."""
    total = count = 0
    dirs = [md] + [d for d in md.iterdir()
                   if d.name.startswith(".") and d.name != ".Trash"
                   and d.is_dir() and not d.is_symlink()]
    for d in dirs:
        for sub in ("cur", "new"):
            p = d / sub
            if not p.is_dir():
                continue
            for f in p.iterdir():
                if f.name.startswith("."):
                    continue
                m = re.search(r",S=(\d+)", f.name.split(":")[0])
                total += int(m.group(1)) if m else f.stat().st_size
                count += 1
    return total, count


def sizefile(md):
    """(definition, bytes, messages, delta lines) of md/maildirsize."""
    lines = (md / "maildirsize").read_text().split("\n")
    assert lines[-1] == "", lines
    b = n = 0
    for l in lines[1:-1]:
        x, y = l.split()
        b += int(x)
        n += int(y)
    return lines[0], b, n, len(lines) - 2


def quota(s, mailbox="INBOX"):
    """{resource: (usage, limit)} from GETQUOTAROOT, None if no root."""
    r = s.ok(f"GETQUOTAROOT {mailbox}")
    roots = [l for l in r if l.startswith("* QUOTAROOT ")]
    assert len(roots) == 1, r
    if not roots[0].endswith(' ""'):
        assert not [l for l in r if l.startswith("* QUOTA ")], r
        return None
    q = [l for l in r if l.startswith('* QUOTA "" (')]
    assert len(q) == 1, r
    words = q[0][len('* QUOTA "" ('):-1].split()
    return {words[i]: (int(words[i + 1]), int(words[i + 2]))
            for i in range(0, len(words), 3)}


def append(s, mailbox, data, flags=""):
    if isinstance(data, str):
        data = data.encode()
    t = s.tag()
    f = f"({flags}) " if flags else ""
    s.raw.send(f"{t} APPEND {mailbox} {f}{{{len(data)}+}}\r\n".encode()
               + data + b"\r\n")
    return s.read_tagged(t)


def files(md):
    return sorted(str(p.relative_to(md)) for p in md.rglob("*")
                  if p.is_file() and p.parent.name in ("cur", "new", "tmp"))


def age(path, when=HOURS_AGO):
    os.utime(path, (when, when))


def body(n):
    """A message of exactly n bytes (n >= 200)."""
    head = message(subject="Quota", body="")
    return (head + "x" * (n - len(head) - 1) + "\n").encode()


@pytest.fixture
def fresh(mailuser):
    imapdtest.maildir_reset(mailuser)
    md = imapdtest.maildir_make(mailuser)
    imapdtest.maildir_make(mailuser, "Work")
    imapdtest.maildir_make(mailuser, "Trash")
    return md


def as_user(user):
    """How to run a delivery agent as the mail user."""
    if not imapdtest.IS_ROOT:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}",
            "--clear-groups"]


def test_capability_and_no_quota(server, mailuser, fresh):
    s = Session(server, mailuser)
    caps = s.ok("CAPABILITY")[0].split()
    for c in ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"):
        assert c in caps
    # no quota anywhere: no root, and no file made
    assert quota(s) is None
    r = s.cmd('GETQUOTA ""')
    assert r[-1].split()[1] == "NO" and "[NONEXISTENT]" in r[-1], r
    assert not (fresh / "maildirsize").exists()
    r = s.cmd("GETQUOTAROOT Nowhere")
    assert "NO [NONEXISTENT]" in r[-1], r
    r = s.cmd('SETQUOTA "" (STORAGE 10)')
    assert "NO [NOPERM]" in r[-1], r
    # storing and expunging without a quota leave no quota files
    assert append(s, "INBOX", body(300))[-1].split()[1] == "OK"
    s.ok("SELECT INBOX")
    s.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    s.ok("EXPUNGE")
    assert not (fresh / "maildirsize").exists()
    assert not (fresh / "imapd-maildirsize.lock").exists()
    s.close()


def test_values_after_deliveries(server_factory, mailuser, fresh):
    srv = server_factory(quota="100k 10")
    drop(mailuser, body(3000), flags="S", mtime=HOURS_AGO)
    drop(mailuser, body(1500), folder="Work", mtime=HOURS_AGO)
    drop(mailuser, body(9000), folder="Trash", mtime=HOURS_AGO)
    s = Session(srv, mailuser)
    # the first look creates maildirsize from a scan (Trash left out)
    assert quota(s) == {"STORAGE": (5, 100), "MESSAGE": (2, 10)}
    assert quota(s, "Work") == quota(s)
    r = s.ok('GETQUOTA ""')
    assert r[0] == '* QUOTA "" (STORAGE 5 100 MESSAGE 2 10)', r
    d, b, n, lines = sizefile(fresh)
    assert (d, b, n, lines) == ("102400S,10C", 4500, 2, 1)
    assert append(s, "INBOX", body(2000))[-1].split()[1] == "OK"
    d, b, n, lines = sizefile(fresh)
    assert (b, n, lines) == (6500, 3, 2)
    assert (b, n) == scan(fresh)
    assert quota(s) == {"STORAGE": (7, 100), "MESSAGE": (3, 10)}
    # a delivery to Trash does not count
    assert append(s, "Trash", body(5000))[-1].split()[1] == "OK"
    assert sizefile(fresh)[1:3] == (6500, 3)
    s.close()


def test_append_over_quota_writes_nothing(server_factory, mailuser, fresh):
    srv = server_factory(quota="4k 3")
    drop(mailuser, body(3000), flags="", mtime=HOURS_AGO)
    s = Session(srv, mailuser)
    s.ok("SELECT INBOX")
    before = files(fresh)
    r = append(s, "INBOX", body(1500))
    assert r[-1].split()[1] == "NO" and "[OVERQUOTA]" in r[-1], r
    assert files(fresh) == before
    # a synchronizing literal is refused before the client sends it
    t = s.tag()
    s.raw.send(f"{t} APPEND INBOX {{1500}}\r\n".encode())
    r = s.read_tagged(t)
    assert len(r) == 1 and r[0].startswith(f"{t} NO [OVERQUOTA]"), r
    assert files(fresh) == before
    assert sizefile(fresh)[1:3] == (3000, 1)
    # MULTIAPPEND counts the whole command: 2 x 500 fits, 3 x 500 too,
    # by count one more is too many
    assert append(s, "INBOX", body(500))[-1].split()[1] == "OK"
    assert append(s, "INBOX", body(500))[-1].split()[1] == "OK"
    r = append(s, "INBOX", body(200))
    assert "[OVERQUOTA]" in r[-1], r
    assert sizefile(fresh)[1:3] == scan(fresh) == (4000, 3)
    s.close()


def test_copy_move_over_quota(server_factory, mailuser, fresh):
    srv = server_factory(quota="1M 3")
    drop(mailuser, body(1000), flags="", mtime=HOURS_AGO)
    drop(mailuser, body(1000), flags="", mtime=HOURS_AGO)
    s = Session(srv, mailuser)
    s.ok("SELECT INBOX")
    assert quota(s)["MESSAGE"] == (2, 3)
    r = s.cmd("COPY 1:2 Work")
    assert r[-1].split()[1] == "NO" and "[OVERQUOTA]" in r[-1], r
    assert not list((fresh / ".Work" / "cur").iterdir())
    # a copy into Trash costs nothing, so it is allowed
    s.ok("COPY 1:2 Trash")
    # MOVE between counted folders changes nothing
    s.ok("MOVE 1 Work")
    assert sizefile(fresh)[1:3] == (2000, 2)
    # into Trash frees, out of it is a delivery
    s.ok("MOVE 1 Trash")
    assert quota(s)["MESSAGE"] == (1, 3)
    assert sizefile(fresh)[1:3] == scan(fresh) == (1000, 1)
    s.ok("SELECT Trash")
    s.ok("MOVE 1:2 INBOX")
    assert quota(s)["MESSAGE"] == (3, 3)
    r = s.cmd("COPY 1 INBOX")
    assert "[OVERQUOTA]" in r[-1], r
    assert sizefile(fresh)[1:3] == scan(fresh) == (3000, 3)
    s.close()


def test_expunge_frees(server_factory, mailuser, fresh):
    srv = server_factory(quota="10k 2")
    s = Session(srv, mailuser)
    for n in (1000, 2000):
        assert append(s, "INBOX", body(n))[-1].split()[1] == "OK"
    s.ok("SELECT INBOX")
    assert "[OVERQUOTA]" in append(s, "INBOX", body(300))[-1]
    r = s.ok("STATUS INBOX (DELETED DELETED-STORAGE)")
    assert r[0] == '* STATUS "INBOX" (DELETED 0 DELETED-STORAGE 0)', r
    s.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    # what an EXPUNGE would free (RFC 9208 4.3), rounded up
    r = s.ok("STATUS INBOX (DELETED-STORAGE DELETED)")
    assert r[0] == '* STATUS "INBOX" (DELETED 1 DELETED-STORAGE 2)', r
    s.ok("EXPUNGE")
    d, b, n, lines = sizefile(fresh)
    assert (b, n) == scan(fresh) == (1000, 1)
    assert (fresh / "maildirsize").read_text().split("\n")[-2].split() \
        == ["-2000", "-1"]
    assert append(s, "INBOX", body(300))[-1].split()[1] == "OK"
    # CLOSE expunges too
    s.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
    s.ok("CLOSE")
    assert sizefile(fresh)[1:3] == scan(fresh) == (0, 0)
    s.close()


def test_stale_file_is_recalculated(server_factory, mailuser, fresh):
    srv = server_factory()
    drop(mailuser, body(1000), flags="", mtime=HOURS_AGO)
    ms = fresh / "maildirsize"
    # a file that claims the Maildir is full: fresh, it is believed
    ms.write_text("5000S,100C\n        5000            1\n")
    imapdtest._chown(mailuser, ms)
    s = Session(srv, mailuser)
    assert "[OVERQUOTA]" in append(s, "INBOX", body(300))[-1]
    assert quota(s)["STORAGE"] == (5, 4)
    # older than 15 minutes: counted again before refusing
    age(ms)
    assert append(s, "INBOX", body(300))[-1].split()[1] == "OK"
    assert sizefile(fresh)[1:] == (1300, 2, 2)
    assert quota(s)["STORAGE"] == (2, 4)
    s.close()


def test_big_file_is_recalculated(server_factory, mailuser, fresh):
    srv = server_factory()
    drop(mailuser, body(700), flags="", mtime=HOURS_AGO)
    ms = fresh / "maildirsize"
    # wrong totals in more than 5120 bytes: a scan replaces them
    ms.write_text("100000S\n" + "          10            1\n" * 250)
    imapdtest._chown(mailuser, ms)
    age(ms)
    s = Session(srv, mailuser)
    assert quota(s) == {"STORAGE": (1, 97)}
    assert ms.read_text() == "100000S\n         700            1\n"
    s.close()


def test_config_default_and_userdb_override(server_factory, mailuser,
                                            fresh, build, workdir):
    # a file the delivery agent wrote wins over imapd.conf's default
    ms = fresh / "maildirsize"
    ms.write_text("20000S,7C\n           0            0\n")
    imapdtest._chown(mailuser, ms)
    srv = server_factory(quota="1G 100000")
    s = Session(srv, mailuser)
    assert quota(s) == {"STORAGE": (0, 19), "MESSAGE": (0, 7)}
    s.close()
    assert sizefile(fresh)[0] == "20000S,7C"
    # the userdb's quota is the user's own: it replaces the file's
    d = workdir / "userdb-quota"
    d.mkdir(exist_ok=True)
    tool = imapdtest.ROOT / "tools" / "imapd-userdb"
    h = imapdtest.run([tool, "-p", "-m", "sha512"],
                      input=b"qpw-secret\n").stdout.decode().strip()
    (d / "userdb").write_text(
        f"quser:{h}:{mailuser.uid}:{mailuser.gid}:{mailuser.home}"
        f"::30000S,9C\n")
    imapdtest.run([tool, "-o", d / "userdb.cdb", d / "userdb"])
    srv2 = server_factory(quota="1G 100000", auth="userdb",
                          userdb=d / "userdb.cdb")
    c = srv2.imaplib()
    c.login("quser", "qpw-secret")
    typ, data = c._simple_command("GETQUOTA", '""')
    assert typ == "OK"
    got = c.untagged_responses.get("QUOTA")
    assert got and got[-1].decode() == '"" (STORAGE 0 29 MESSAGE 0 9)', got
    c.logout()
    assert sizefile(fresh)[0] == "30000S,9C"


@pytest.mark.skipif(MAILDROP is None or MAILDIRMAKE is None,
                    reason="maildrop (Debian package maildrop) needed")
def test_maildrop_before_and_while(server, mailuser, fresh):
    md = fresh
    user = as_user(mailuser)
    env = dict(os.environ, HOME=str(mailuser.home))
    subprocess.run(user + [MAILDIRMAKE, "-q", "8000S,5C", str(md)],
                   check=True, env=env)
    rc = pathlib.Path(server.dir) / "mailfilter"
    rc.write_text(f'to "{md}"\n')
    rc.chmod(0o644)
    if imapdtest.IS_ROOT:
        os.chown(rc, mailuser.uid, mailuser.gid)
    rc.chmod(0o600)

    def deliver(data):
        p = subprocess.run(user + [MAILDROP, str(rc)], input=data,
                           env=env, capture_output=True, timeout=30)
        return p.returncode

    assert deliver(body(1200)) == 0
    assert sizefile(md)[:3] == ("8000S,5C", 1200, 1)
    s = Session(server, mailuser)
    assert quota(s) == {"STORAGE": (2, 7), "MESSAGE": (1, 5)}
    # while the session runs: maildrop's lines and ours add up
    assert deliver(body(2500)) == 0
    assert quota(s) == {"STORAGE": (4, 7), "MESSAGE": (2, 5)}
    assert append(s, "INBOX", body(3000))[-1].split()[1] == "OK"
    assert quota(s) == {"STORAGE": (7, 7), "MESSAGE": (3, 5)}
    assert sizefile(md)[1:3] == scan(md) == (6700, 3)
    # maildrop refuses, as imapd does, once the limit would be passed
    assert deliver(body(2000)) != 0
    assert "[OVERQUOTA]" in append(s, "INBOX", body(2000))[-1]
    # maildrop sees imapd's expunge (of the 3000 bytes APPEND stored,
    # UID 1: the messages maildrop left in new/ got theirs later)
    s.ok("SELECT INBOX")
    s.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    s.ok("EXPUNGE")
    assert deliver(body(2000)) == 0
    assert sizefile(md)[1:3] == scan(md) == (5700, 3)
    s.close()


def test_two_sessions_append_at_once(server_factory, mailuser, fresh):
    srv = server_factory(quota="100M 100000")
    n = 120
    a, b = Session(srv, mailuser), Session(srv, mailuser)
    quota(a)            # the file exists before the race
    errors = []

    def run(s, size):
        try:
            for i in range(n):
                r = append(s, "INBOX" if i % 2 else "Work", body(size + i))
                if r[-1].split()[1] != "OK":
                    errors.append(r)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(a, 500)),
          threading.Thread(target=run, args=(b, 900))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    want = scan(fresh)
    assert want[1] == 2 * n
    # the lines add up to what is there, whether or not a recalculation
    # (the file passes 5120 bytes after about 200 lines) came between
    assert sizefile(fresh)[1:3] == want
    q = quota(a)
    # recalculated during the run, or now because the file is too big
    _, nbytes, nmsgs, lines = sizefile(fresh)
    assert (nbytes, nmsgs) == want and lines < 2 * n
    assert q["MESSAGE"][0] == want[1]
    assert q["STORAGE"][0] == (want[0] + 1023) // 1024
    a.close()
    b.close()
