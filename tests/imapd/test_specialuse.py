"""Special-use folders (RFC 6154) as users' Maildirs really are: folders
that other servers and clients named "Sent Items" or "Spam" play their
role instead of getting a second "Sent" beside them; the choice lasts
from one session to the next and is logged once; CREATE-SPECIAL-USE gives
roles to new folders and RENAME carries them along."""

import re
import threading

import pytest

import imapdtest
from imapdtest import Session


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    return server


def roles(s):
    """folder name -> set of special-use flags, from LIST."""
    out = {}
    for l in s.ok('LIST "" "*"'):
        m = re.match(r'\* LIST \(([^)]*)\) "/" (.*)$', l)
        if m:
            name = m.group(2).strip('"')
            out[name] = {a for a in m.group(1).split()
                         if a in ("\\Sent", "\\Drafts", "\\Trash",
                                  "\\Junk", "\\Archive", "\\All",
                                  "\\Flagged")}
    return out


def folders_on_disk(user):
    return sorted(e.name[1:] for e in user.maildir().iterdir()
                  if e.name.startswith(".") and (e / "cur").is_dir())


def test_outlook_style_maildir_gets_no_second_sent(md, mailuser):
    for f in ("Sent Items", "Deleted Items", "Junk E-mail", "Drafts"):
        imapdtest.maildir_make(mailuser, f)
    imapdtest.drop(mailuser, imapdtest.message("sent earlier"),
                   folder="Sent Items", flags="S")
    imapdtest.maildir_age(mailuser)
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Sent Items"] == {"\\Sent"}
    assert r["Deleted Items"] == {"\\Trash"}
    assert r["Junk E-mail"] == {"\\Junk"}
    assert r["Drafts"] == {"\\Drafts"}
    # no role is played twice; Archive had no folder, so it was made
    assert r["Archive"] == {"\\Archive"}
    assert "Sent" not in r and "Trash" not in r and "Junk" not in r
    assert folders_on_disk(mailuser) == sorted(
        ["Archive", "Deleted Items", "Drafts", "Junk E-mail",
         "Sent Items"])
    md.wait_log(r"special-use \\Sent is folder Sent Items "
                r"\(found under another name\)")
    md.wait_log(r"special-use \\Archive is folder Archive \(created\)")
    s.close()


def test_choice_lasts_and_is_logged_once(md, mailuser):
    imapdtest.maildir_make(mailuser, "Sent Messages")
    imapdtest.maildir_make(mailuser, "spam")
    imapdtest.maildir_age(mailuser)
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Sent Messages"] == {"\\Sent"} and r["spam"] == {"\\Junk"}
    s.close()
    n = md.log().count("special-use \\Sent is folder")
    assert n == 1
    # a client later makes a "Sent" of its own: the role stays put, so
    # the user's sent mail does not jump between folders
    imapdtest.maildir_make(mailuser, "Sent")
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Sent Messages"] == {"\\Sent"} and r["Sent"] == set()
    s.close()
    assert md.log().count("special-use \\Sent is folder") == n
    rec = (mailuser.maildir() / "imapd-special-use").read_text()
    assert "\\Sent Sent Messages\n" in rec and "\\Junk spam\n" in rec


def test_role_folder_removed_outside_is_found_again(md, mailuser):
    s = Session(md, mailuser)
    assert roles(s)["Trash"] == {"\\Trash"}
    s.close()
    # a mail reader deletes Trash and keeps "Deleted Messages"
    imapdtest.remove_tree(mailuser.maildir() / ".Trash")
    imapdtest.maildir_make(mailuser, "Deleted Messages")
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Deleted Messages"] == {"\\Trash"} and "Trash" not in r
    s.close()


def test_create_special_use(md, mailuser):
    s = Session(md, mailuser)
    caps = " ".join(s.ok("CAPABILITY"))
    assert "CREATE-SPECIAL-USE" in caps
    s.ok('CREATE "My Sent" (USE (\\Sent))')
    r = roles(s)
    assert r["My Sent"] == {"\\Sent"} and r["Sent"] == set()
    s.ok('CREATE Everything/Old (USE (\\archive \\Drafts))')
    r = roles(s)
    assert r["Everything/Old"] == {"\\Archive", "\\Drafts"}
    # only the special-use flags, and no virtual folders
    r = s.cmd('CREATE Stars (USE (\\Flagged))')
    assert "NO [USEATTR]" in r[-1]
    assert not (mailuser.maildir() / ".Stars").exists()
    r = s.cmd('CREATE Odd (USE (\\Seen))')
    assert " BAD " in r[-1]
    r = s.cmd('CREATE Odd (COLOR (red))')
    assert " BAD " in r[-1]
    assert not (mailuser.maildir() / ".Odd").exists()
    s.ok('CREATE Plain ()')
    assert (mailuser.maildir() / ".Plain" / "cur").is_dir()
    # RENAME carries roles, also those of folders below
    s.ok('RENAME "My Sent" Outbox')
    s.ok('RENAME Everything Attic')
    r = roles(s)
    assert r["Outbox"] == {"\\Sent"}
    assert r["Attic/Old"] == {"\\Archive", "\\Drafts"}
    r = s.ok('LIST (SPECIAL-USE) "" "*"')
    names = sorted(l.rsplit(" ", 1)[1].strip('"') for l in r
                   if l.startswith("* LIST"))
    assert "Outbox" in names and "Attic/Old" in names and \
        "Plain" not in names
    s.close()
    # and a new session sees the same
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Outbox"] == {"\\Sent"} and r["Attic/Old"] == {
        "\\Archive", "\\Drafts"}
    s.close()


def test_sessions_agree(md, mailuser):
    """Several sessions logging in at once into a Maildir that another
    server left behind all give each role the same folder, and no extra
    folder appears."""
    imapdtest.maildir_make(mailuser, "Sent Items")
    imapdtest.maildir_make(mailuser, "Deleted Messages")
    imapdtest.maildir_age(mailuser)
    ss = [None] * 5

    def login(i):
        ss[i] = Session(md, mailuser)

    ts = [threading.Thread(target=login, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert all(ss)
    seen = [roles(s) for s in ss]
    for r in seen:
        assert r["Sent Items"] == {"\\Sent"}
        assert r["Deleted Messages"] == {"\\Trash"}
        assert "Sent" not in r and "Trash" not in r
    for s in ss:
        s.close()
    assert folders_on_disk(mailuser) == sorted(
        ["Archive", "Deleted Messages", "Drafts", "Junk", "Sent Items"])


def test_damaged_record_is_ignored(md, mailuser):
    imapdtest.maildir_make(mailuser, "Sent Items")
    rec = mailuser.maildir() / "imapd-special-use"
    rec.write_bytes(b"\\Sent ../../etc\n\\Bogus X\ngarbage\n\\Sent\x00Y\n")
    imapdtest._chown(mailuser, rec)
    s = Session(md, mailuser)
    r = roles(s)
    assert r["Sent Items"] == {"\\Sent"}
    s.close()
    assert "\\Sent Sent Items\n" in rec.read_text()
