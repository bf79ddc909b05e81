"""Symbolic links inside a Maildir are never followed: a folder whose
directory, or whose cur/, new/ or tmp/, is a link is no folder to any
command, and nothing is read or written where the link points.  The
Maildir itself may be a link (a sysadmin moved it to another disk): it
is followed once, at login (imapd(8), MAILDIR)."""

import os
import pathlib
import shutil

import pytest

import imapdtest
from imapdtest import Session, drop, message


def tree(d):
    """Every file below d with its bytes, and every directory."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        rel = os.path.relpath(dirpath, d)
        out[rel + "/"] = None
        for f in filenames:
            p = pathlib.Path(dirpath) / f
            out[os.path.join(rel, f)] = p.read_bytes()
    return out


def chown_tree(user, d):
    if imapdtest.IS_ROOT:
        for dirpath, dirnames, filenames in os.walk(d):
            os.chown(dirpath, user.uid, user.gid)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), user.uid, user.gid)


@pytest.fixture
def other(server, mailuser):
    """A Maildir outside the user's, with one message, that links in the
    user's Maildir point at; checked untouched afterwards."""
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    o = mailuser.home / "other"
    shutil.rmtree(o, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (o / sub).mkdir(parents=True)
    (o / "cur" / "1700000000.M1P1.h:2,S").write_bytes(
        b"Subject: not yours\r\n\r\nsecret\r\n")
    chown_tree(mailuser, o)
    before = tree(o)
    yield o
    assert tree(o) == before, "something changed outside the Maildir"
    shutil.rmtree(o, ignore_errors=True)


def link(user, name, target):
    p = user.maildir() / name
    os.symlink(target, p)
    if imapdtest.IS_ROOT:
        os.lchown(p, user.uid, user.gid)
    return p


def half_folder(user, name, linked, target):
    """A real folder directory whose linked subdirectory is a link."""
    d = user.maildir() / name
    d.mkdir()
    for sub in ("cur", "new", "tmp"):
        if sub == linked:
            os.symlink(target / sub, d / sub)
        else:
            (d / sub).mkdir()
    (d / "maildirfolder").touch()
    chown_tree(user, d)
    return d


def answer(r):
    return r[-1].split(None, 1)[1]


def test_folder_that_is_a_link(server, mailuser, other):
    """`.Evil -> ../other`: every command that opens a folder says it
    does not exist, LIST does not show it, and the log says why."""
    link(mailuser, ".Evil", "../other")
    drop(mailuser, message(subject="mine"))
    s = Session(server, mailuser)
    r = s.cmd("SELECT Evil")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    assert not any("EXISTS" in l for l in r), r
    r = s.cmd("EXAMINE Evil")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    r = s.cmd("STATUS Evil (MESSAGES UIDNEXT)")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    r = s.cmd('LIST "" "*"')
    assert not any("Evil" in l for l in r), r
    r = s.cmd('LIST "" "*" RETURN (STATUS (MESSAGES))')
    assert not any("Evil" in l for l in r), r
    s.raw.send("a1 APPEND Evil {6}\r\n")
    line = s.raw.line()
    assert line.startswith("a1 NO [TRYCREATE]"), line
    s.ok("SELECT INBOX")
    r = s.cmd("COPY 1 Evil")
    assert answer(r).startswith("NO [TRYCREATE]"), r
    r = s.cmd("MOVE 1 Evil")
    assert answer(r).startswith("NO [TRYCREATE]"), r
    r = s.cmd("RENAME Evil Moved")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    s.ok("CREATE Real")
    r = s.cmd("RENAME Real Evil")
    assert answer(r).startswith("NO [ALREADYEXISTS]"), r
    r = s.cmd("CREATE Evil")
    assert answer(r).startswith("NO [ALREADYEXISTS]"), r
    r = s.cmd("DELETE Evil")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    assert os.path.islink(mailuser.maildir() / ".Evil")
    # the message is still in INBOX, once
    r = s.ok("STATUS INBOX (MESSAGES)")
    assert "MESSAGES 1" in r[0], r
    server.wait_log(r"/\.Evil is a symbolic link: imapd follows no link "
                    r"inside a Maildir")


@pytest.mark.parametrize("sub", ["cur", "new", "tmp"])
def test_folder_with_a_linked_subdirectory(server, mailuser, other, sub):
    """A real folder directory whose cur/, new/ or tmp/ is a link to
    another Maildir's is refused the same way; DELETE removes the folder
    and the link, never what it points at."""
    half_folder(mailuser, ".Half", sub, other)
    drop(mailuser, message(subject="mine"))
    s = Session(server, mailuser)
    r = s.cmd("SELECT Half")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    r = s.cmd("STATUS Half (MESSAGES)")
    assert answer(r).startswith("NO [NONEXISTENT]"), r
    s.raw.send("a1 APPEND Half {6}\r\n")
    assert s.raw.line().startswith("a1 NO [TRYCREATE]")
    s.ok("SELECT INBOX")
    r = s.cmd("COPY 1 Half")
    assert answer(r).startswith("NO [TRYCREATE]"), r
    r = s.cmd('LIST "" "*"')
    assert not any("Half" in l for l in r), r
    server.wait_log(rf"/\.Half/{sub} is a symbolic link")
    s.ok("RENAME Half Half2")
    s.ok("DELETE Half2")
    assert not os.path.lexists(mailuser.maildir() / ".Half2")


def test_inbox_with_a_linked_subdirectory(server_factory, mailuser, other):
    """The Maildir's own new/ as a link: the session does not start (the
    log says why) and nothing is written where it points."""
    srv = server_factory()
    new = mailuser.maildir() / "new"
    shutil.rmtree(new)
    link(mailuser, "new", str(other / "new"))
    c = srv.raw(tls=True)
    c.line()
    r = c.cmd("a", f"LOGIN {mailuser.name} {mailuser.password}")
    assert r[-1].startswith("a NO"), r
    srv.wait_log(r"Maildir/new is a symbolic link")
    os.unlink(new)


def test_maildir_that_is_a_link(server, mailuser, other):
    """~/Maildir -> a directory elsewhere: followed, once, at login;
    everything works there."""
    imapdtest.maildir_reset(mailuser)
    real = mailuser.home / "disk2"
    shutil.rmtree(real, ignore_errors=True)
    real.mkdir()
    chown_tree(mailuser, real)
    os.symlink(real, mailuser.maildir())
    try:
        s = Session(server, mailuser)
        s.ok("APPEND INBOX {6+}\r\nhello!")
        s.ok("CREATE Sub")
        s.ok("APPEND Sub {6+}\r\nhello!")
        r = s.ok("SELECT INBOX")
        assert any(l == "* 1 EXISTS" for l in r), r
        s.ok("COPY 1 Sub")
        r = s.ok("STATUS Sub (MESSAGES)")
        assert "MESSAGES 2" in r[0], r
        assert len(os.listdir(real / "cur")) == 1
        assert len(os.listdir(real / ".Sub" / "cur")) == 2
        s.close()
    finally:
        os.unlink(mailuser.maildir())
        shutil.rmtree(real, ignore_errors=True)
