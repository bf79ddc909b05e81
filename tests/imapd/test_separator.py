"""The hierarchy separator as a setting: hierarchy_separator = . with
inbox_prefix = yes presents a Maildir the way Courier did (personal
namespace "INBOX." with "."), over the same Maildir++ layout, so a site
moving from Courier keeps every client's folder names, and switching the
setting renames nothing on disk.  The Maildirs here are laid out as
Courier leaves them: .Sent, .Trash, .Drafts, a nested .Lists.dev with no
.Lists, courierimapsubscribed, everything hours old.  Python's imaplib,
mbsync and offlineimap3 sync against the "." setting."""

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
COURIER = {"hierarchy_separator": ".", "inbox_prefix": "yes"}
ROLES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")


def courier_maildir(user):
    imapdtest.maildir_reset(user)
    for i in range(3):
        drop(user, message(subject=f"inbox {i}"), flags="S")
    # Courier's UIDs, its keyword directory and its POP3 size list
    base = "1700000000.M1P42.courierhost,S=300"
    drop(user, message(subject="sent before"), folder="Sent", flags="S",
         name=base)
    uiddb = user.maildir() / ".Sent" / "courierimapuiddb"
    uiddb.write_text(f"1 1500000007 9\n8 {base}\n")
    (user.maildir() / ".Sent" / "courierimapkeywords").mkdir()
    (user.maildir() / "courierpop3dsizelist").write_text("/2 1\n")
    for f in (uiddb, user.maildir() / ".Sent" / "courierimapkeywords",
              user.maildir() / "courierpop3dsizelist"):
        imapdtest._chown(user, f)
    drop(user, message(subject="dev list"), folder="Lists/dev")
    for f in ("Trash", "Drafts"):
        imapdtest.maildir_make(user, f)
    subs = user.maildir() / "courierimapsubscribed"
    subs.write_text("INBOX\nINBOX.Sent\nINBOX.Lists.dev\n")
    imapdtest._chown(user, subs)
    imapdtest.maildir_age(user)


def disk_folders(user):
    return sorted(e.name for e in user.maildir().iterdir()
                  if e.name.startswith(".") and e.name not in (".", ".."))


def listing(s, cmd='LIST "" "*"', verb="LIST"):
    """name -> (attributes, separator) from LIST or LSUB."""
    out = {}
    for l in s.ok(cmd):
        m = re.match(r'\* %s \(([^)]*)\) "(.)" (.*)$' % verb, l)
        if m:
            out[m.group(3).strip('"')] = (set(m.group(1).split()),
                                          m.group(2))
    return out


def roles(lst):
    return {n: a & set(ROLES) for n, (a, sep) in lst.items()
            if a & set(ROLES)}


@pytest.fixture
def courier(server_factory, mailuser):
    courier_maildir(mailuser)
    return server_factory(**COURIER)


def test_courier_maildir_lists_as_courier_did(courier, mailuser):
    s = Session(courier, mailuser)
    assert s.ok("NAMESPACE")[0] == '* NAMESPACE (("INBOX." ".")) NIL NIL'
    assert s.ok('LIST "" ""')[0] == '* LIST (\\Noselect) "." ""'
    lst = listing(s)
    assert set(lst) == {"INBOX", "INBOX.Sent", "INBOX.Trash",
                        "INBOX.Drafts", "INBOX.Lists", "INBOX.Lists.dev",
                        "INBOX.Junk", "INBOX.Archive"}
    assert {sep for a, sep in lst.values()} == {"."}
    assert "\\HasChildren" in lst["INBOX"][0]
    assert "\\Noselect" in lst["INBOX.Lists"][0]
    # the existing folders play the roles: one Sent, one Trash
    assert roles(lst) == {"INBOX.Sent": {"\\Sent"},
                          "INBOX.Trash": {"\\Trash"},
                          "INBOX.Drafts": {"\\Drafts"},
                          "INBOX.Junk": {"\\Junk"},
                          "INBOX.Archive": {"\\Archive"}}
    assert disk_folders(mailuser) == [".Archive", ".Drafts", ".Junk",
                                      ".Lists.dev", ".Sent", ".Trash"]
    # % stops at "."
    assert set(listing(s, 'LIST "" "%"')) == {"INBOX"}
    assert set(listing(s, 'LIST "" "INBOX.%"')) == {
        "INBOX.Sent", "INBOX.Trash", "INBOX.Drafts", "INBOX.Lists",
        "INBOX.Junk", "INBOX.Archive"}
    assert set(listing(s, 'LIST "INBOX.Lists." "%"')) == {"INBOX.Lists.dev"}
    assert set(listing(s, 'LIST "" "inbox.lists.*"')) == set()
    assert set(listing(s, 'LIST "" "inbox.Lists.*"')) == {"INBOX.Lists.dev"}
    # Courier's subscriptions are kept, with the roles made at login
    lsub = listing(s, 'LSUB "" "*"', "LSUB")
    assert {"INBOX", "INBOX.Sent", "INBOX.Lists.dev", "INBOX.Junk",
            "INBOX.Archive"} <= set(lsub)
    assert "INBOX.Trash" not in lsub
    # INBOX unsubscribed is still the parent of subscribed folders
    s.ok('UNSUBSCRIBE "INBOX"')
    r = s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert r[0] == ('* LIST (\\HasChildren) "." "INBOX" '
                    '("CHILDINFO" ("SUBSCRIBED"))'), r
    assert listing(s, 'LSUB "" "%"', "LSUB")["INBOX"][0] == {"\\Noselect"}
    # the UIDs Courier gave stay
    r = s.ok('STATUS "INBOX.Sent" (MESSAGES UIDVALIDITY UIDNEXT)')
    assert r[0] == ('* STATUS "INBOX.Sent" (MESSAGES 1 UIDNEXT 9 '
                    'UIDVALIDITY 1500000007)')
    r = s.ok('SELECT "INBOX.Lists.dev"')
    assert any("1 EXISTS" in l for l in r)
    s.close()


def test_create_rename_delete_nested(courier, mailuser):
    s = Session(courier, mailuser)
    # a trailing separator asks for a folder that will have children
    s.ok('CREATE "INBOX.Projects."')
    s.ok('CREATE "INBOX.Projects.2026"')
    assert {".Projects", ".Projects.2026"} <= set(disk_folders(mailuser))
    lst = listing(s, 'LIST "" "INBOX.Projects*"')
    assert "\\HasChildren" in lst["INBOX.Projects"][0]
    s.ok('RENAME "INBOX.Projects" "INBOX.Old.Projects"')
    d = disk_folders(mailuser)
    assert ".Old.Projects" in d and ".Old.Projects.2026" in d
    assert ".Projects" not in d and ".Projects.2026" not in d
    s.ok('SUBSCRIBE "INBOX.Old.Projects"')
    lines = (mailuser.maildir() / "subscriptions").read_text().split("\n")
    assert "Old/Projects" in lines and "Sent" in lines
    assert "INBOX.Old.Projects" in listing(s, 'LSUB "" "*"', "LSUB")
    s.ok('DELETE "INBOX.Old.Projects.2026"')
    assert ".Old.Projects.2026" not in disk_folders(mailuser)
    # APPEND, COPY, MOVE name their targets the same way
    msg = imapdtest.crlf(message(subject="appended"))
    t = s.tag()
    s.raw.send(f'{t} APPEND "INBOX.Old.Projects" {{{len(msg)}+}}\r\n'
               .encode() + msg + b"\r\n")
    assert s.read_tagged(t)[-1].split()[1] == "OK"
    s.ok("SELECT INBOX")
    s.ok('COPY 1 "INBOX.Old.Projects"')
    s.ok('MOVE 2 "INBOX.Trash"')
    r = s.cmd('COPY 1 "INBOX.Nowhere"')
    assert "[TRYCREATE]" in r[-1]
    r = s.ok('STATUS "INBOX.Old.Projects" (MESSAGES)')
    assert r[0] == '* STATUS "INBOX.Old.Projects" (MESSAGES 2)'
    assert len(os.listdir(mailuser.maildir() / ".Trash" / "cur")) == 1
    # INBOX's own children (RFC 3501: INBOX.x is a folder like any other)
    r = s.cmd('RENAME "INBOX" "INBOX.Saved"')
    assert r[-1].split()[1] == "OK"
    assert ".Saved" in disk_folders(mailuser)
    s.close()


HOSTILE = [
    ('"INBOX.a/b"', "cannot be part of a name"),
    ('"INBOX./etc"', "cannot be part of a name"),
    ('"INBOX.../x"', "cannot be part of a name"),
    ('"INBOX..x"', "empty level"),
    ('"INBOX.x.."', "empty level"),
    ('"Sent"', 'begin with "INBOX."'),
    ('"../Maildir2"', 'begin with "INBOX."'),
    ('"INBOX.INBOX"', "INBOX is not a name below INBOX"),
    ('"INBOX.a%b"', "wildcard"),
]


def test_hostile_names_refused(courier, mailuser):
    s = Session(courier, mailuser)
    before = disk_folders(mailuser)
    home = sorted(os.listdir(mailuser.maildir().parent))
    for name, why in HOSTILE:
        for cmd in (f"CREATE {name}", f"SELECT {name}",
                    f'RENAME "INBOX.Sent" {name}', f"SUBSCRIBE {name}"):
            r = s.cmd(cmd)
            assert r[-1].split()[1] == "NO", (cmd, r)
            assert why in r[-1], (cmd, r)
    assert disk_folders(mailuser) == before
    assert sorted(os.listdir(mailuser.maildir().parent)) == home
    courier.wait_log(r'mailbox name "INBOX.a/b" refused: .*"/"')
    s.close()


def test_same_maildir_under_both_spellings(server_factory, mailuser):
    courier_maildir(mailuser)
    slash = server_factory()
    dot = server_factory(**COURIER)
    a, b = Session(slash, mailuser), Session(dot, mailuser)
    la, lb = listing(a), listing(b)
    assert {sep for x, sep in la.values()} == {"/"}
    assert sorted(lb) == sorted(
        n if n == "INBOX" else "INBOX." + n.replace("/", ".") for n in la)
    # the same attributes, but for INBOX, which under the prefix is the
    # parent of every folder
    for n in la:
        m = n if n == "INBOX" else "INBOX." + n.replace("/", ".")
        if n != "INBOX":
            assert la[n][0] == lb[m][0], n
    assert "\\HasChildren" in lb["INBOX"][0]
    assert "\\Sent" in la["Sent"][0] and "\\Sent" in lb["INBOX.Sent"][0]
    ra = a.ok('STATUS "Lists/dev" (MESSAGES UIDVALIDITY UIDNEXT)')[0]
    rb = b.ok('STATUS "INBOX.Lists.dev" (MESSAGES UIDVALIDITY UIDNEXT)')[0]
    assert ra.split(" ", 3)[3] == rb.split(" ", 3)[3]
    # what one creates, the other sees under its own spelling
    b.ok('CREATE "INBOX.Lists.announce"')
    assert "Lists/announce" in listing(a)
    a.ok('CREATE "Lists/ops"')
    assert "INBOX.Lists.ops" in listing(b)
    # each refuses the other's separator inside a level
    r = a.cmd('CREATE "Lists.x"')
    assert r[-1].split()[1] == "NO" and '"."' in r[-1]
    r = b.cmd('CREATE "INBOX.Lists/x"')
    assert r[-1].split()[1] == "NO" and '"/"' in r[-1]
    # no prefix under "/": "INBOX/x" stays INBOX's own child, as before
    a.ok('CREATE "INBOX/kid"')
    assert ".INBOX.kid" in disk_folders(mailuser)
    assert "INBOX.INBOX.kid" in listing(b)
    a.close()
    b.close()


def test_utf8_names_under_dot(courier, mailuser):
    s = Session(courier, mailuser)
    s.ok("ENABLE UTF8=ACCEPT")
    s.ok('CREATE "INBOX.Entwürfe.alt"')
    assert ".Entw&APw-rfe.alt" in disk_folders(mailuser)
    assert "INBOX.Entwürfe.alt" in listing(s, 'LIST "" "INBOX.Entw*"')
    r = s.cmd('CREATE "INBOX.Entwürfe/neu"')
    assert r[-1].split()[1] == "NO"
    s.close()
    old = Session(courier, mailuser)
    assert "INBOX.Entw&APw-rfe.alt" in listing(old)
    old.ok('SELECT "INBOX.Entw&APw-rfe.alt"')
    old.close()


def test_inbox_prefix_alias_for_sent(server_factory, mailuser):
    """A Maildir whose clients, set up for Courier, met a server without
    the prefix: their "INBOX.Sent" is .INBOX.Sent on disk, and it plays
    \\Sent instead of a second Sent folder being made."""
    imapdtest.maildir_reset(mailuser)
    drop(mailuser, message(subject="sent"), folder="INBOX/Sent", flags="S")
    imapdtest.maildir_age(mailuser)
    srv = server_factory()
    s = Session(srv, mailuser)
    assert "\\Sent" in listing(s)["INBOX/Sent"][0]
    assert ".Sent" not in disk_folders(mailuser)
    srv.wait_log(r"special-use \\Sent is folder INBOX/Sent "
                 r"\(found under another name\)")
    s.close()


def test_imaplib_against_dot(courier, mailuser):
    m = courier.imaplib()
    m.login(mailuser.name, mailuser.password)
    typ, data = m.list('""', "*")
    assert typ == "OK"
    names = {re.match(rb'\(.*\) "\." "?([^"]*)"?$', l).group(1).decode()
             for l in data}
    assert "INBOX.Lists.dev" in names and "INBOX.Sent" in names
    typ, data = m.select("INBOX.Sent")
    assert typ == "OK" and data == [b"1"]
    typ, _ = m.append("INBOX.Sent", "(\\Seen)", None,
                      message(subject="from imaplib").encode())
    assert typ == "OK"
    typ, data = m.status("INBOX.Sent", "(MESSAGES)")
    assert b"MESSAGES 2" in data[0]
    typ, data = m.create("INBOX.x/y")
    assert typ == "NO"
    m.logout()


@pytest.mark.skipif(MBSYNC is None, reason="isync not installed")
def test_mbsync_against_dot(courier, mailuser):
    rc, local = imapdtest.mbsync_rc(pathlib.Path(courier.dir), courier,
                                    mailuser)

    def sync():
        p = subprocess.run([MBSYNC, "-c", str(rc), "-a"],
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()

    sync()
    assert (local / "Sent" / "cur").is_dir()
    assert (local / "Lists" / "dev" / "new").is_dir() or \
        (local / "Lists" / "dev" / "cur").is_dir()
    got = []
    for sub in ("cur", "new"):
        d = local / "Lists" / "dev" / sub
        got += [f for f in d.iterdir()] if d.is_dir() else []
    assert len(got) == 1 and b"dev list" in got[0].read_bytes()
    # a folder made locally goes up as INBOX.Local.notes, .Local.notes on disk
    for sub in ("cur", "new", "tmp"):
        (local / "Local" / "notes" / sub).mkdir(parents=True)
    (local / "Local" / "notes" / "new" / "1700000000.l1.host").write_text(
        message(subject="made locally"))
    sync()
    assert ".Local.notes" in disk_folders(mailuser)
    assert len(os.listdir(mailuser.maildir() / ".Local.notes" / "cur")) + \
        len(os.listdir(mailuser.maildir() / ".Local.notes" / "new")) == 1
    # nothing on the server gained a second Sent or a dotted level
    assert not any(d.startswith(".INBOX") for d in disk_folders(mailuser))


@pytest.mark.skipif(OFFLINEIMAP is None, reason="offlineimap3 not installed")
def test_offlineimap_against_dot(courier, mailuser):
    base = pathlib.Path(courier.dir) / "offlineimap"
    rc = imapdtest.offlineimap_rc(base, courier, mailuser)

    def sync():
        return imapdtest.offlineimap_sync(rc)

    sync()
    # offlineimap keeps the server's names, separator and all
    mail = base / "mail"
    assert sorted(os.listdir(mail)) == [
        "INBOX", "INBOX.Archive", "INBOX.Drafts", "INBOX.Junk",
        "INBOX.Lists.dev", "INBOX.Sent", "INBOX.Trash"]
    assert len(os.listdir(mail / "INBOX.Lists.dev" / "new")) + \
        len(os.listdir(mail / "INBOX.Lists.dev" / "cur")) == 1
    # a message and a folder made locally go up under those names
    # (offlineimap CREATEs every level of a new folder, so the new one
    # sits at the top: a level it made on the server only would be
    # missing locally on its next pass)
    (mail / "INBOX.Sent" / "new" / "1700000002.oi.host").write_text(
        message(subject="sent offline"))
    for sub in ("cur", "new", "tmp"):
        (mail / "INBOX.Notes" / sub).mkdir(parents=True)
    (mail / "INBOX.Notes" / "new" / "1700000003.oi.host").write_text(
        message(subject="notes offline"))
    sync()
    sent = mailuser.maildir() / ".Sent"
    assert len(os.listdir(sent / "cur")) + len(os.listdir(sent / "new")) == 2
    notes = mailuser.maildir() / ".Notes"
    assert len(os.listdir(notes / "cur")) + len(os.listdir(notes / "new")) \
        == 1
    assert not any(d.startswith(".INBOX") for d in disk_folders(mailuser))
