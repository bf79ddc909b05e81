"""imapd-cache on folders the real imapd serves: the dump agrees with
what SELECT says, a damaged cache is found and rebuilt (with the files
kept the owner's, and a session that has the folder selected ending with
BYE), dovecot-uidlist and courierimapuiddb are taken over on request and
only when that is safe, and the structure cache and the full-text index
are computed again.
"""

import os
import pathlib
import re
import socket
import subprocess

import pytest

import imapdtest


def tool(build, *args):
    p = subprocess.run([str(build.tool("imapd-cache")), *map(str, args)],
                       capture_output=True, timeout=120, env=build.env())
    err = p.stderr.decode(errors="replace")
    assert not imapdtest.SAN_PATTERNS.search(err), err
    return p.returncode, p.stdout.decode(errors="replace"), err


def owner_args():
    return ["--as-owner"] if imapdtest.IS_ROOT else []


def select_uids(server, user, folder="INBOX"):
    """UIDVALIDITY and the UID of each file base, as imapd shows them."""
    s = imapdtest.Session(server, user)
    r = s.ok(f"SELECT {folder}")
    uv = int(re.search(r"\[UIDVALIDITY (\d+)\]", "\n".join(r)).group(1))
    r = s.ok("UID FETCH 1:* (UID)")
    uids = sorted(int(m) for m in re.findall(r"UID (\d+)\)", "\n".join(r)))
    s.ok("LOGOUT")
    s.close()
    return uv, uids


def fill(user, n):
    imapdtest.maildir_reset(user)
    return [imapdtest.drop(user, imapdtest.message(subject=f"m{i}"))
            for i in range(n)]


def test_dump_agrees_with_select(server, mailuser):
    fill(mailuser, 3)
    uv, uids = select_uids(server, mailuser)
    md = mailuser.maildir()
    rc, out, err = tool(server.build, *owner_args(), md)
    assert rc == 0, err
    assert f"uidvalidity    {uv}\n" in out
    assert f"uidnext        {max(uids) + 1}\n" in out
    assert f"{uv}  the cache's, now" in out
    rows = [l.split() for l in out.splitlines() if ".testhost" in l]
    assert sorted(int(r[0]) for r in rows) == uids
    rc, out, err = tool(server.build, *owner_args(), "--summary", md)
    assert rc == 0 and "FILE" not in out


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="needs root")
def test_root_needs_as_owner(server, mailuser):
    fill(mailuser, 1)
    select_uids(server, mailuser)
    before = sorted(os.listdir(mailuser.maildir()))
    rc, out, err = tool(server.build, "--rebuild", "--yes",
                        mailuser.maildir())
    assert rc == 2
    assert f"belongs to uid {mailuser.uid}" in err
    assert "--as-owner" in err
    assert sorted(os.listdir(mailuser.maildir())) == before


def corrupt(path, needle):
    """Change one byte of the first occurrence of needle in the file."""
    data = bytearray(path.read_bytes())
    i = data.find(needle.encode())
    assert i >= 0
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_damaged_cache_verified_and_rebuilt(server, mailuser):
    fill(mailuser, 4)
    uv, uids = select_uids(server, mailuser)
    md = mailuser.maildir()
    # a session that has INBOX selected while the cache is rebuilt
    live = imapdtest.Session(server, mailuser)
    live.ok("SELECT INBOX")
    corrupt(md / "imapd-uidcache.cdb", "IMUC")
    rc, out, err = tool(server.build, *owner_args(), "--verify", md)
    assert rc == 1, out + err
    assert "uid cache      DAMAGED: snapshot: bad magic" in out
    assert "verdict: problems found" in out
    # a trial changes nothing
    snap = (md / "imapd-uidcache.cdb").read_bytes()
    rc, out, err = tool(server.build, *owner_args(), "--rebuild", md)
    assert rc == 0, err
    assert "nothing was changed: --yes does it" in out
    m = re.search(r"UIDVALIDITY would be at least (\d+) \(was 0\)", out)
    assert m and int(m.group(1)) > uv, out
    assert (md / "imapd-uidcache.cdb").read_bytes() == snap
    assert len([l for l in out.splitlines() if ".testhost" in l]) == 4
    rc, out, err = tool(server.build, *owner_args(), "--rebuild", "--yes",
                        md)
    assert rc == 0, err
    new_uv = int(re.search(r"UIDVALIDITY is now (\d+)", out).group(1))
    assert new_uv > uv
    assert "4 messages" in out
    for name in ("imapd-uidcache.cdb", "imapd-uidcache.log",
                 "imapd-uidvalidity"):
        st = (md / name).stat()
        assert (st.st_uid, st.st_gid) == (mailuser.uid, mailuser.gid), name
    assert (md / "imapd-uidcache.cdb.damaged").exists()
    rc, out, err = tool(server.build, *owner_args(), "--verify", md)
    assert rc == 0, out
    assert "verdict: the caches are sound" in out
    rc, out, err = tool(server.build, *owner_args(), "--summary", md)
    assert f"{new_uv}  the cache's, now" in out
    assert f"{uv}  a cache set aside" in out
    # the live session learns that its UIDs are void: at once (imapd
    # watches the folder), or at its next command
    try:
        line = live.raw.line(timeout=5)
    except (TimeoutError, socket.timeout):
        live.raw.send("t9 NOOP\r\n")
        line = live.raw.line(timeout=10)
    assert line.startswith("* BYE") and "UIDVALIDITY" in line, line
    live.close()
    assert select_uids(server, mailuser) == (new_uv, [1, 2, 3, 4])


def dovecot_list(uv, nxt, pairs):
    return f"3 V{uv} N{nxt} G0123456789abcdef\n" + "".join(
        f"{uid} W{size} :{base}\n" for uid, base, size in pairs)


def test_import_dovecot(server, mailuser):
    paths = fill(mailuser, 3)
    uv, _ = select_uids(server, mailuser)
    md = mailuser.maildir()
    bases = [p.name for p in paths]
    (md / "dovecot-uidlist").write_text(dovecot_list(
        uv + 1000, 90, [(40, bases[0], 100), (41, bases[2], 100),
                        (7, "gone-long-ago", 5)]))
    if imapdtest.IS_ROOT:
        os.chown(md / "dovecot-uidlist", mailuser.uid, mailuser.gid)
    rc, out, err = tool(server.build, *owner_args(), "--import", "dovecot",
                        md)
    assert rc == 0, err
    assert f"UIDVALIDITY would be {uv + 1000} (was {uv})" in out
    assert re.search(r"\s1\s+40\s+cur/" + re.escape(bases[0]), out), out
    assert re.search(r"\s3\s+41\s+cur/" + re.escape(bases[2]), out), out
    assert re.search(r"\s2\s+90\s+cur/" + re.escape(bases[1]), out), out
    assert select_uids(server, mailuser)[0] == uv
    rc, out, err = tool(server.build, *owner_args(), "--import", "dovecot",
                        "--yes", md)
    assert rc == 0, err
    assert select_uids(server, mailuser) == (uv + 1000, [40, 41, 90])
    rc, out, err = tool(server.build, *owner_args(), md)
    assert f"{uv + 1000}  dovecot-uidlist (3 UIDs, next 90): the cache " \
        "took it over" in out


def test_import_courier_needs_force_when_older(server, mailuser):
    paths = fill(mailuser, 2)
    uv, _ = select_uids(server, mailuser)
    md = mailuser.maildir()
    (md / "courierimapuiddb").write_text(
        f"1 {uv - 5000} 20\n11 {paths[0].name}\n{paths[1].name} 12\n")
    if imapdtest.IS_ROOT:
        os.chown(md / "courierimapuiddb", mailuser.uid, mailuser.gid)
    rc, out, err = tool(server.build, *owner_args(), "--import", "courier",
                        "--yes", md)
    assert rc == 2
    assert f"courierimapuiddb has UIDVALIDITY {uv - 5000}, not above {uv}" \
        in err
    assert str(md) in err and "imapd-cache." not in err
    assert select_uids(server, mailuser)[0] == uv
    # its own UIDVALIDITY is never taken, forced or not
    (md / "courierimapuiddb").write_text(
        f"1 {uv} 20\n11 {paths[0].name}\n")
    rc, out, err = tool(server.build, *owner_args(), "--import", "courier",
                        "--force", "--yes", md)
    assert rc == 2 and "which this folder has already" in err
    (md / "courierimapuiddb").write_text(
        f"1 {uv - 5000} 20\n11 {paths[0].name}\n{paths[1].name} 12\n")
    rc, out, err = tool(server.build, *owner_args(), "--import", "courier",
                        "--force", "--yes", md)
    assert rc == 0, err
    assert select_uids(server, mailuser) == (uv - 5000, [11, 12])
    # the folder's record keeps the greatest value it ever had
    assert int((md / "imapd-uidvalidity").read_text()) >= uv


def test_rebuild_structure(server, mailuser):
    fill(mailuser, 3)
    s = imapdtest.Session(server, mailuser)
    s.ok("SELECT INBOX")
    want = s.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE)")[:-1]
    s.ok("LOGOUT")
    s.close()
    md = mailuser.maildir()
    for f in md.glob("imapd-msgcache.*"):
        f.unlink()
    rc, out, err = tool(server.build, *owner_args(), md)
    assert out.count("----   cur/") + out.count("----   new/") == 3, out
    rc, out, err = tool(server.build, *owner_args(), "--rebuild-structure",
                        md)
    assert rc == 0 and "--yes drops the structure cache" in out
    assert not list(md.glob("imapd-msgcache.log"))
    rc, out, err = tool(server.build, *owner_args(), "--rebuild-structure",
                        "--yes", md)
    assert rc == 0, err
    assert "structure cache written for 3 of 3 messages\n" in out
    rc, out, err = tool(server.build, *owner_args(), md)
    assert out.count(" EBSP ") == 3, out
    s = imapdtest.Session(server, mailuser)
    s.ok("SELECT INBOX")
    assert s.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE)")[:-1] == want
    s.ok("LOGOUT")
    s.close()


def test_search_index_shown_verified_rebuilt(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    for i in range(6):
        imapdtest.drop(mailuser, imapdtest.message(
            subject=f"m{i}", body=f"common text, own word{i}x\n"))
    md = mailuser.maildir()
    select_uids(server, mailuser)
    rc, out, err = tool(server.build, *owner_args(), "--rebuild-search", md)
    assert rc == 0 and "6 messages; --yes removes the full-text index" in out
    rc, out, err = tool(server.build, *owner_args(), "--rebuild-search",
                        "--yes", md)
    assert rc == 0, err
    assert "full-text index written for 6 of 6 messages\n" in out
    assert os.stat(md / "imapd-fts.index").st_uid == mailuser.uid
    rc, out, err = tool(server.build, *owner_args(), "--summary", md)
    assert "search index   covers 6 of 6 messages" in out, out
    assert re.search(r"search index   snapshot \d+ KiB \(\d+ keys\), "
                     r"journal 0 KiB \(0 records\).*, all sound\n", out), out
    rc, out, err = tool(server.build, *owner_args(), "--verify", md)
    assert rc == 0 and "verdict: the caches are sound" in out, out
    s = imapdtest.Session(server, mailuser)
    s.ok("SELECT INBOX")
    assert s.ok("SEARCH BODY word3x")[0] == "* SEARCH 4"
    s.ok("LOGOUT")
    s.close()
    # a posting list damaged: found, and the index built again
    snap = md / "imapd-fts.index"
    data = bytearray(snap.read_bytes())
    data[70] ^= 0x55
    snap.write_bytes(bytes(data))
    rc, out, err = tool(server.build, *owner_args(), "--verify", md)
    assert rc == 1 and "DAMAGED" in out and "--rebuild-search" in out, out
    rc, out, err = tool(server.build, *owner_args(), "--rebuild-search",
                        "--yes", md)
    assert rc == 0 and "written for 6 of 6" in out and "all sound" in out
    rc, out, err = tool(server.build, *owner_args(), "--verify", md)
    assert rc == 0, out


def test_bad_usage(build):
    rc, out, err = tool(build, "--yes", "/nonexistent")
    assert rc == 2 and "usage" in err
    rc, out, err = tool(build, "--import", "mbox", "/nonexistent")
    assert rc == 2 and "dovecot or courier" in err
    rc, out, err = tool(build, "/nonexistent/folder")
    assert rc == 2 and "/nonexistent/folder" in err
