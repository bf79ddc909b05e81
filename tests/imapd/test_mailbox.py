"""Mailbox commands against a real Maildir: folders, APPEND, FETCH, STORE,
SEARCH, COPY/MOVE, EXPUNGE, STATUS, IDLE, several sessions at once, and a
Maildir changed behind the server's back (as MTAs and mail readers do)."""

import os
import re
import time

import pytest

import imapdtest
from imapdtest import Session, crlf, drop, message


@pytest.fixture
def md(server, mailuser):
    """A server and an empty Maildir for the mail user."""
    imapdtest.maildir_reset(mailuser)
    return server


def sess(server, user):
    return Session(server, user)


def fetch_map(lines):
    """seq -> response text of the FETCH lines."""
    out = {}
    for l in lines:
        m = re.match(r"\* (\d+) FETCH \((.*)\)$", l, re.S)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def uidnext(lines):
    for l in lines:
        m = re.search(r"\[UIDNEXT (\d+)\]", l)
        if m:
            return int(m.group(1))
    return None


def uidvalidity(lines):
    for l in lines:
        m = re.search(r"\[UIDVALIDITY (\d+)\]", l)
        if m:
            return int(m.group(1))
    return None


def exists(lines):
    for l in lines:
        m = re.match(r"\* (\d+) EXISTS", l)
        if m:
            return int(m.group(1))
    return None


def files(user, folder="", sub="cur"):
    d = user.maildir() if not folder else \
        user.maildir() / ("." + folder.replace("/", "."))
    return sorted(os.listdir(d / sub))


# --- login and folders -----------------------------------------------------

def test_login_makes_maildir_and_special_folders(md, mailuser):
    s = sess(md, mailuser)
    assert (mailuser.maildir() / "cur").is_dir()
    r = s.ok('LIST "" "*"')
    assert '* LIST (\\HasNoChildren) "/" "INBOX"' in r, r
    for name, flag in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                       ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                       ("Archive", "\\Archive")):
        line = [l for l in r if l.endswith(f'"{name}"')]
        assert line and flag in line[0], (name, r)
        assert (mailuser.maildir() / ("." + name) / "maildirfolder").exists()
    r = s.ok('LSUB "" "*"')
    assert sum(1 for l in r if l.startswith("* LSUB")) >= 5
    r = s.ok('LIST "" ""')
    assert r[0] == '* LIST (\\Noselect) "/" ""'


def test_select_empty_inbox(md, mailuser):
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert exists(r) == 0
    assert uidnext(r) == 1
    assert uidvalidity(r) > 0
    assert r[-1].startswith(f"t{s.n} OK [READ-WRITE]")
    assert any("PERMANENTFLAGS" in l and "\\*" in l for l in r)
    r = s.ok("EXAMINE inbox")
    assert "[READ-ONLY]" in r[-1]


def test_create_delete_rename(md, mailuser):
    s = sess(md, mailuser)
    s.ok("CREATE Projects/2026/Q4")
    r = s.ok('LIST "" "Projects*"')
    names = [l.rsplit(" ", 1)[1] for l in r if l.startswith("* LIST")]
    assert names == ['"Projects"', '"Projects/2026"', '"Projects/2026/Q4"']
    assert "\\Noselect" in r[0] and "\\HasChildren" in r[0]
    assert (mailuser.maildir() / ".Projects.2026.Q4" / "cur").is_dir()
    r = s.cmd("CREATE Projects/2026/Q4")
    assert "[ALREADYEXISTS]" in r[-1]
    s.ok("RENAME Projects/2026 Archive2026")
    assert (mailuser.maildir() / ".Archive2026.Q4").is_dir()
    assert not (mailuser.maildir() / ".Projects.2026.Q4").exists()
    s.ok("DELETE Archive2026/Q4")
    assert not (mailuser.maildir() / ".Archive2026.Q4").exists()
    r = s.cmd("DELETE INBOX")
    assert r[-1].split()[1] == "NO"
    r = s.cmd("SELECT NoSuchFolder")
    assert "[NONEXISTENT]" in r[-1]
    # a name with non-ASCII characters, stored in modified UTF-7
    s.ok('CREATE "Entw&APw-rfe"')
    assert (mailuser.maildir() / ".Entw&APw-rfe").is_dir()


@pytest.mark.parametrize("name", [
    "..", "../x", "a/../../b", ".hidden", "/etc", "x//", "a//b", "a/./b",
    "with.dot", "&", "&Jjo", "&AGE-", "bad\x01ctl", "x" * 1100, "*", "a%",
])
def test_hostile_mailbox_names(md, mailuser, name):
    before = set(os.listdir(mailuser.home))
    s = sess(md, mailuser)
    outside = set(os.listdir(mailuser.home.parent))
    q = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if "\x01" in name:
        data = name.encode()
        s.raw.send(f"t99 CREATE {{{len(data)}}}\r\n")
        cont = s.raw.line()
        if cont.startswith("+"):
            s.raw.send(data + b"\r\n")
        r = s.read_tagged("t99")
    else:
        r = s.cmd(f"CREATE {q}")
    assert r[-1].split()[1] in ("NO", "BAD"), r
    for cmd in ("SELECT", "DELETE", "SUBSCRIBE"):
        if "\x01" in name:
            continue
        r = s.cmd(f"{cmd} {q}")
        assert r[-1].split()[1] in ("NO", "BAD"), (cmd, r)
    r = s.cmd(f"RENAME Sent {q}")
    assert r[-1].split()[1] in ("NO", "BAD"), r
    # nothing appeared or went away outside the Maildir
    assert set(os.listdir(mailuser.home)) == before | {"Maildir"}
    assert set(os.listdir(mailuser.home.parent)) == outside
    assert (mailuser.maildir() / ".Sent").is_dir()


def test_create_with_trailing_separator(md, mailuser):
    """CREATE "name/" creates name, which may then get children (RFC 3501
    6.3.3, RFC 9051 6.3.4); the separator alone names nothing."""
    s = sess(md, mailuser)
    s.ok('CREATE "Proj/"')
    assert (mailuser.maildir() / ".Proj" / "cur").is_dir()
    r = s.ok('LIST "" "Proj*"')
    assert [l.rsplit(" ", 1)[1] for l in r if l.startswith("* LIST")] == \
        ['"Proj"'], r
    r = s.cmd('CREATE "Proj/"')
    assert r[-1].split()[1] == "NO" and "[ALREADYEXISTS]" in r[-1], r
    s.ok('CREATE "Proj/Sub/"')
    assert (mailuser.maildir() / ".Proj.Sub").is_dir()
    r = s.cmd('CREATE "/"')
    assert r[-1].split()[1] == "NO", r


# --- APPEND and FETCH ------------------------------------------------------

def append(s, folder, data, flags="", date=None):
    if isinstance(data, str):
        data = data.encode()
    t = s.tag()
    args = f"{folder}"
    if flags:
        args += f" ({flags})"
    if date:
        args += f' "{date}"'
    s.raw.send(f"{t} APPEND {args} {{{len(data)}}}\r\n")
    assert s.raw.line().startswith("+")
    s.raw.send(data + b"\r\n")
    return s.read_tagged(t)


def test_append_and_fetch(md, mailuser):
    s = sess(md, mailuser)
    body = message(subject="Quarterly", body="line one\nline two\n")
    r = append(s, "INBOX", body, flags="\\Seen $Forwarded",
               date="05-Nov-2026 10:20:30 +0100")
    m = re.search(r"\[APPENDUID (\d+) (\d+)\]", r[-1])
    assert m, r
    uidv, uid = int(m.group(1)), int(m.group(2))
    assert uid == 1
    r = s.ok("SELECT INBOX")
    assert exists(r) == 1 and uidvalidity(r) == uidv
    r = s.ok("FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    f = fetch_map(r)[1]
    assert "UID 1" in f
    assert "\\Seen" in f and "$Forwarded" in f
    assert 'INTERNALDATE "05-Nov-2026' in f
    assert f"RFC822.SIZE {len(crlf(body))}" in f
    assert crlf(body).decode() in f.replace("\n", "\r\n", 0)
    # on disk: one file in cur/ with S and the keyword letter
    names = files(mailuser)
    assert len(names) == 1 and names[0].endswith(":2,Sa")
    kw = (mailuser.maildir() / "dovecot-keywords").read_text()
    assert kw.strip() == "0 $Forwarded"
    # the file's mtime is the INTERNALDATE
    st = os.stat(mailuser.maildir() / "cur" / names[0])
    assert int(st.st_mtime) == 1793870430


def test_append_to_missing_folder_trycreate(md, mailuser):
    s = sess(md, mailuser)
    s.raw.send("a1 APPEND Nowhere {10}\r\n")
    line = s.raw.line()
    assert line.startswith("a1 NO [TRYCREATE]"), line


def test_append_too_big_refused_before_continuation(md, mailuser):
    s = sess(md, mailuser)
    s.raw.send("a1 APPEND INBOX {100000000}\r\n")
    line = s.raw.line()
    assert line.startswith("a1 NO [TOOBIG]"), line
    assert s.cmd("NOOP")[-1].split()[1] == "OK"
    assert files(mailuser) == [] and files(mailuser, sub="tmp") == []


def test_multiappend_and_literal_plus(md, mailuser):
    s = sess(md, mailuser)
    a, b = message(subject="A").encode(), message(subject="B").encode()
    s.raw.send(f"m1 APPEND INBOX {{{len(a)}+}}\r\n".encode() + a +
               f" (\\Flagged) {{{len(b)}+}}\r\n".encode() + b + b"\r\n")
    r = s.read_tagged("m1")
    assert re.search(r"\[APPENDUID \d+ 1:2\]", r[-1]), r
    r = s.ok("SELECT INBOX")
    assert exists(r) == 2


def test_fetch_items_and_sections(md, mailuser):
    msg = ("From: Alice <alice@example.org>\nTo: bob@example.org\n"
           "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\n"
           "Date: Tue, 3 Nov 2026 10:15:00 +0100\n"
           "Message-ID: <m1@example.org>\nMIME-Version: 1.0\n"
           'Content-Type: multipart/mixed; boundary="b1"\n\n'
           "--b1\nContent-Type: text/plain; charset=us-ascii\n\n"
           "Hello part one.\n--b1\nContent-Type: application/pdf\n"
           "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b1--\n")
    drop(mailuser, msg, flags="S")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    f = fetch_map(r)[1]
    assert 'ENVELOPE ("Tue, 3 Nov 2026 10:15:00 +0100" ' in f
    assert '(("Alice" NIL "alice" "example.org"))' in f
    assert '"<m1@example.org>"' in f
    # the types as the message spells them
    assert 'BODYSTRUCTURE (("text" "plain"' in f
    assert '"mixed"' in f.lower()
    r = s.ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (Subject)] "
             "BODY.PEEK[]<0.10> BINARY.PEEK[2] BINARY.SIZE[2])")
    f = fetch_map(r)[1]
    # the line end before a boundary belongs to the boundary
    assert "BODY[1] {15}\nHello part one. " in f
    assert "BODY[HEADER.FIELDS (SUBJECT)]" in f
    assert "BODY[]<0> {10}\nFrom: Alic" in f
    assert "%PDF-1.4" in f
    assert "BINARY.SIZE[2] 9" in f
    # a non-PEEK fetch sets \Seen; the message had it already: FLAGS
    # are only sent when they change
    r = s.ok("STORE 1 -FLAGS.SILENT (\\Seen)")
    r = s.ok("FETCH 1 BODY[TEXT]")
    assert "\\Seen" in fetch_map(r)[1]
    assert files(mailuser)[0].endswith(":2,S")


def test_fetch_macros_and_uid_fetch(md, mailuser):
    for i in range(3):
        drop(mailuser, message(subject=f"m{i}"))
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert exists(r) == 3
    r = s.ok("FETCH 1:* FAST")
    assert len(fetch_map(r)) == 3
    r = s.ok("UID FETCH 2:4000000000 (FLAGS)")
    fm = fetch_map(r)
    assert set(fm) == {2, 3} and all("UID" in v for v in fm.values())
    r = s.ok("UID FETCH 4:* (FLAGS)")   # * is the highest UID: 3
    assert set(fetch_map(r)) == {3}
    r = s.cmd("FETCH 5 FLAGS")
    assert r[-1].split()[1] == "BAD"
    r = s.cmd("FETCH 1 (FLAGS BOGUS)")
    assert r[-1].split()[1] == "BAD"


# --- flags ---------------------------------------------------------------

def test_store_flags_and_keywords(md, mailuser):
    drop(mailuser, message(), flags="")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("STORE 1 +FLAGS (\\Flagged \\Seen)")
    assert "FLAGS (\\Flagged \\Seen" in fetch_map(r)[1]
    assert files(mailuser)[0].endswith(":2,FS")
    r = s.ok("STORE 1 +FLAGS (Work)")
    assert any(l.startswith("* FLAGS") and "Work" in l for l in r)
    assert files(mailuser)[0].endswith(":2,FSa")
    r = s.ok("UID STORE 1 FLAGS.SILENT (\\Deleted)")
    assert not fetch_map(r)
    assert files(mailuser)[0].endswith(":2,T")
    r = s.ok("STORE 1 -FLAGS (\\Deleted)")
    assert files(mailuser)[0].endswith(":2,")
    r = s.cmd("STORE 1 +FLAGS (\\Bogus)")
    assert r[-1].split()[1] == "BAD"


def test_flag_change_behind_our_back(md, mailuser):
    p = drop(mailuser, message(), flags="")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    # a mail reader renames the file to set \Seen and \Answered
    os.rename(p, str(p)[:-len(":2,")] + ":2,RS")
    r = s.ok("NOOP")
    assert any(l.startswith("* 1 FETCH") and "\\Seen" in l and
               "\\Answered" in l for l in r), r


# --- changes from outside and from other sessions ------------------------

def test_mda_delivery_shows_at_noop(md, mailuser):
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert exists(r) == 0
    drop(mailuser, message(subject="new mail"))
    r = s.ok("NOOP")
    assert "* 1 EXISTS" in r and "* 1 RECENT" in r
    # the new/ file was moved to cur/
    assert files(mailuser, sub="new") == []
    assert len(files(mailuser)) == 1
    # \Recent goes to exactly one session
    s2 = sess(md, mailuser)
    r = s2.ok("SELECT INBOX")
    assert "* 0 RECENT" in r
    r = s.ok("FETCH 1 FLAGS")
    assert "\\Recent" in fetch_map(r)[1]


def test_unlink_behind_our_back(md, mailuser):
    drop(mailuser, message(subject="one"))
    p2 = drop(mailuser, message(subject="two"), flags="")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    os.unlink(p2)
    r = s.ok("NOOP")
    assert "* 2 EXPUNGE" in r
    r = s.ok("FETCH 1:* UID")
    assert set(fetch_map(r)) == {1}


def test_two_sessions_expunge_rules(md, mailuser):
    for i in range(3):
        drop(mailuser, message(subject=f"m{i}"), flags="")
    a, b = sess(md, mailuser), sess(md, mailuser)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert "* 2 EXPUNGE" in r
    # B is in a FETCH: no EXPUNGE may be sent now, numbers stay valid
    r = b.ok("FETCH 1:3 (UID)")
    assert not any(re.match(r"\* \d+ EXPUNGE", l) for l in r)
    r = b.cmd("FETCH 2 (BODY.PEEK[])")
    assert not any(re.match(r"\* \d+ EXPUNGE", l) for l in r)
    assert r[-1].split()[1] == "OK" and "[EXPUNGEISSUED]" in r[-1], r
    # at NOOP, B learns
    r = b.ok("NOOP")
    assert "* 2 EXPUNGE" in r
    r = b.ok("FETCH 1:* UID")
    assert len(fetch_map(r)) == 2


def test_uids_stable_across_sessions_and_restart(server_factory, mailuser):
    imapdtest.maildir_reset(mailuser)
    for i in range(5):
        drop(mailuser, message(subject=f"m{i}"))
    srv = server_factory()
    s = sess(srv, mailuser)
    r = s.ok("SELECT INBOX")
    v1 = uidvalidity(r)
    r1 = s.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    s.close()
    srv.stop()
    srv2 = server_factory()
    s = sess(srv2, mailuser)
    r = s.ok("SELECT INBOX")
    assert uidvalidity(r) == v1 and uidnext(r) == 6
    r2 = s.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert fetch_map(r1) == fetch_map(r2)


def test_lost_cache_rebuilt_with_greater_uidvalidity(md, mailuser):
    for i in range(4):
        drop(mailuser, message(subject=f"m{i}"))
    s = sess(md, mailuser)
    v1 = uidvalidity(s.ok("SELECT INBOX"))
    s.close()
    for f in os.listdir(mailuser.maildir()):
        if f.startswith("imapd-uidcache"):
            os.unlink(mailuser.maildir() / f)
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert uidvalidity(r) > v1
    assert exists(r) == 4


def test_dovecot_uidlist_is_imported(md, mailuser):
    imapdtest.maildir_make(mailuser)
    p1 = drop(mailuser, message(subject="first"), flags="S")
    p2 = drop(mailuser, message(subject="second"), flags="")
    b1 = os.path.basename(p1).split(":")[0]
    b2 = os.path.basename(p2).split(":")[0]
    ul = mailuser.maildir() / "dovecot-uidlist"
    ul.write_text(f"3 V1234567 N80 Gabc\n17 :{b1}\n42 W99 :{b2}\n")
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert uidvalidity(r) == 1234567 and uidnext(r) == 80
    fm = fetch_map(s.ok("FETCH 1:* UID"))
    assert fm == {1: "UID 17", 2: "UID 42"}


# --- copy, move, expunge, status -------------------------------------------

def test_copy_and_move_with_uidplus(md, mailuser):
    for i in range(4):
        drop(mailuser, message(subject=f"m{i}"), flags="S")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("COPY 1:2 Archive")
    m = re.search(r"\[COPYUID (\d+) 1:2 1:2\]", r[-1])
    assert m, r
    r = s.ok("UID MOVE 3:4 Trash")
    assert any(re.search(r"\* OK \[COPYUID \d+ 3:4 1:2\]", l) for l in r)
    assert r.index([l for l in r if "COPYUID" in l][0]) < \
        r.index("* 3 EXPUNGE")
    assert len(files(mailuser)) == 2
    assert len(files(mailuser, "Archive")) == 2
    assert len(files(mailuser, "Trash")) == 2
    # a copy is a hard link: the message bytes are not rewritten
    a = os.stat(mailuser.maildir() / "cur" / files(mailuser)[0])
    assert a.st_nlink == 2
    r = s.cmd("COPY 1 NoSuch")
    assert "[TRYCREATE]" in r[-1]


def test_expunge_and_uid_expunge(md, mailuser):
    for i in range(4):
        drop(mailuser, message(subject=f"m{i}"), flags="T")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("UID EXPUNGE 2:3")
    assert r[:2] == ["* 3 EXPUNGE", "* 2 EXPUNGE"]
    r = s.ok("EXPUNGE")
    assert r[:2] == ["* 2 EXPUNGE", "* 1 EXPUNGE"]
    assert files(mailuser) == []
    r = s.ok("SELECT INBOX")
    assert uidnext(r) == 5      # UIDs are never given again


def test_close_expunges_unselect_does_not(md, mailuser):
    drop(mailuser, message(), flags="T")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    s.ok("UNSELECT")
    assert len(files(mailuser)) == 1
    s.ok("SELECT INBOX")
    r = s.ok("CLOSE")
    assert not any("EXPUNGE" in l for l in r)
    assert files(mailuser) == []


def test_status(md, mailuser):
    drop(mailuser, message(), flags="S")
    drop(mailuser, message(), flags="T")
    drop(mailuser, message())
    s = sess(md, mailuser)
    r = s.ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN "
             "DELETED SIZE)")
    m = re.search(r"\* STATUS \"INBOX\" \(MESSAGES 3 RECENT 3 UIDNEXT 4 "
                  r"UIDVALIDITY \d+ UNSEEN 2 DELETED 1 SIZE (\d+)\)", r[0])
    assert m, r
    r = s.ok('LIST "" "%" RETURN (STATUS (MESSAGES))')
    assert any(l.startswith('* STATUS "Sent" (MESSAGES 0)') for l in r)


# --- SEARCH --------------------------------------------------------------

def test_search(md, mailuser):
    drop(mailuser, message(subject="Budget review", body="zebracorn\n",
                           sender="Carol <carol@example.org>"), flags="S")
    drop(mailuser, message(subject="Lunch", body="nothing here\n"),
         flags="F")
    drop(mailuser, message(subject="=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
                           body="plain\n"))
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")

    def hits(q):
        r = s.ok("SEARCH " + q)
        line = [l for l in r if l.startswith("* SEARCH")][0]
        return [int(x) for x in line.split()[2:]]

    assert hits("ALL") == [1, 2, 3]
    assert hits("SEEN") == [1]
    assert hits("UNSEEN") == [2, 3]
    assert hits("FLAGGED") == [2]
    assert hits("BODY zebracorn") == [1]
    assert hits("BODY ZEBRACORN") == [1]
    assert hits("SUBJECT budget") == [1]
    assert hits("FROM carol") == [1]
    assert hits('CHARSET UTF-8 SUBJECT "grüße"') == [3]
    assert hits("OR SEEN FLAGGED") == [1, 2]
    assert hits("NOT SEEN") == [2, 3]
    assert hits("UID 2:3 UNFLAGGED") == [3]
    assert hits("LARGER 1") == [1, 2, 3]
    assert hits("SMALLER 1") == []
    assert hits("SENTSINCE 1-Nov-2026 SENTBEFORE 3-Nov-2026") == [1, 2, 3]
    assert hits("HEADER Message-ID test") == [1, 2, 3]
    assert hits("TEXT nothing") == [2]
    assert hits("1,3") == [1, 3]
    r = s.ok("UID SEARCH RETURN (MIN MAX COUNT) ALL")
    assert any(l.startswith("* ESEARCH (TAG") and "UID MIN 1 MAX 3 COUNT 3"
               in l for l in r), r
    # SEARCHRES: save a result as "$" and use it
    r = s.ok("SEARCH RETURN (SAVE) UNSEEN")
    assert not any(l.startswith("* ESEARCH") or l.startswith("* SEARCH")
                   for l in r)
    r = s.ok("FETCH $ (UID)")
    assert set(fetch_map(r)) == {2, 3}
    assert hits("$ FLAGGED") == [2]
    r = s.ok("UID SEARCH RETURN (SAVE COUNT) SEEN")
    assert any("COUNT 1" in l for l in r)
    r = s.ok("UID FETCH $ (FLAGS)")
    assert set(fetch_map(r)) == {1}
    r = s.cmd("SEARCH CHARSET KOI8-R ALL")
    assert "[BADCHARSET" in r[-1]
    r = s.cmd("SEARCH FROBNICATE")
    assert r[-1].split()[1] == "BAD"


def test_search_header_from_the_structure_cache(server_factory, mailuser):
    """SEARCH HEADER on the fields ENVELOPE holds (Subject, Message-ID,
    In-Reply-To, Date) is answered from the structure cache once FETCH
    has filled it, and the answers must be those the files give, however
    odd the fields: repeated, folded, with blanks the ENVELOPE changes,
    encoded, 8-bit, with NUL or a lone CR, absent or empty.  The test
    rewrites message files at the end to see which source answers; the
    full-text index, which rules messages out by their text as it was
    (files are never rewritten), would answer first, so it is off."""
    md = server_factory(search_index="no")
    imapdtest.maildir_reset(mailuser)
    heads = [
        b"Subject: Quarterly report\nMessage-ID: <q1@example.org>\n"
        b"In-Reply-To: <parent@example.org>\n",
        b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus "
        b"=?ISO-8859-1?Q?M=FCnchen?=\nMessage-ID: <q2@x>\n",
        b"Subject: first subject\nSubject: second subject\n"
        b"Message-ID: <one@x>\nMessage-ID: <two@x>\n",
        b"Subject: two  blanks and trailing \nMessage-ID: \n <folded@x>\n",
        b"Subject:\nIn-Reply-To: <a@x>\nIn-Reply-To: <b@x>\n",
        b"Subject: tab\there\nMessage-ID: <t@x>\n",
        b"Subject: nul \x00 byte and lone\rcr\n",
        b"From: nobody@x\n",
        b"Subject: caf\xc3\xa9 8bit \"quoted\" back\\slash\n",
        b"Subject: =?utf-8?q?split?=\n =?utf-8?q?_word?=\n",
    ]
    for h in heads:
        drop(mailuser, h + b"Date: Mon, 2 Nov 2026 09:00:00 +0000\n\n"
             b"body\n", flags="")
    needles = ["", " ", "  ", "x", "q1", "<one@x>", "<two@x>", "two",
               "blanks and", "blanks  and", "trailing ", "grüße",
               "GRÜSSE", "münchen", "first", "second", "tab here",
               "folded", " <folded", "a@x", "b@x", "nul", "lonecr",
               "byte and", "café", '\\"quoted\\"', "back\\\\slash",
               "split word", "2 nov", "+0000", "example.org"]
    queries = [f'HEADER {f} "{n}"' for f in ("Subject", "Message-ID",
                                              "In-Reply-To", "Date")
               for n in needles] + ["SUBJECT first", "NOT SUBJECT x",
                                    'OR HEADER Message-ID "<two@x>" '
                                    'SUBJECT "münchen"']

    def answers(s):
        out = []
        for q in queries:
            r = s.ok("SEARCH CHARSET UTF-8 " + q)
            out.append([l for l in r if l.startswith("* SEARCH")])
        return out

    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    from_files = answers(s)

    def hits(q):
        return from_files[queries.index(q)][0].split()[2:]

    assert len(hits('HEADER Message-ID "<one@x>"')) == 1
    assert len(hits('HEADER Subject ""')) == 9
    assert len(hits('HEADER Subject "second"')) == 1
    s.ok("FETCH 1:* (ENVELOPE)")
    assert answers(s) == from_files
    s.close()
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    assert answers(s) == from_files
    # Message files are never rewritten; if one were, the answer for a
    # field the cache holds exactly would still come from the cache, and
    # for a repeated field from the file: proof of which was asked.
    for p in (mailuser.maildir() / "cur").iterdir():
        data = p.read_bytes()
        if b"<q1@" in data or b"<one@x>" in data:
            p.write_bytes(data.replace(b"<", b"<new-"))
    r = s.ok('SEARCH HEADER Message-ID "<q1@"')
    assert r[0].split()[2:] == hits('HEADER Message-ID "q1"')
    r = s.ok('SEARCH HEADER Message-ID "<new-one@"')
    assert r[0].split()[2:] == hits('HEADER Message-ID "<one@x>"')


def test_rev2_gets_esearch_and_no_recent(md, mailuser):
    drop(mailuser, message())
    s = sess(md, mailuser)
    s.ok("ENABLE IMAP4rev2")
    r = s.ok("SELECT INBOX")
    assert not any(l.endswith(" RECENT") for l in r)
    r = s.ok("SEARCH ALL")
    assert any(l.startswith('* ESEARCH (TAG "') and l.endswith("ALL 1")
               for l in r), r
    r = s.ok("FETCH 1 FLAGS")
    assert "\\Recent" not in r[0]


# --- IDLE ------------------------------------------------------------------

def test_idle_sees_delivery_at_once(md, mailuser):
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    s.raw.send("i1 IDLE\r\n")
    assert s.raw.line().startswith("+")
    drop(mailuser, message(subject="while idling"))
    assert s.raw.line(timeout=5) == "* 1 EXISTS"
    s.raw.send("DONE\r\n")
    r = s.read_tagged("i1")
    assert r[-1].startswith("i1 OK")


# --- broken input ----------------------------------------------------------

def test_broken_messages_fetch_and_search(md, mailuser):
    broken = [
        b"Subject: no body separator\nFrom: x@y",
        b"From: a@b\nSubject: missing boundary\nContent-Type: multipart/"
        b"mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nhi\n",
        b"Subject: \xff\xfe eight bit\n\nnul \x00 byte\n",
        b"X-Long: " + b"a" * 1_000_000 + b"\n\nbody\n",
        b"",
    ]
    for b in broken:
        drop(mailuser, b)
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert exists(r) == 5
    r = s.ok("FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE)", timeout=60)
    assert len(fetch_map(r)) == 5
    s.ok("SEARCH BODY byte", timeout=60)
    s.ok("FETCH 1:* BODY.PEEK[]", timeout=60)


def test_file_vanishes_between_scan_and_fetch(md, mailuser):
    p = drop(mailuser, message(), flags="")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    os.unlink(p)
    r = s.cmd("FETCH 1 BODY.PEEK[]")
    # no EXPUNGE during a FETCH (RFC 9051 7.5.1); the message is left
    # out and the command still ends OK (RFC 2180 4.1.2)
    assert r[-1].split()[1] == "OK" and "[EXPUNGEISSUED]" in r[-1], r
    assert not any(l.startswith("* 1 FETCH") or "EXPUNGE" in l
                   for l in r[:-1]), r
    r = s.ok("NOOP")
    assert "* 1 EXPUNGE" in r


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="mounting a small "
                    "file system needs root")
def test_full_disk_append(server_factory, mailuser, build):
    import subprocess
    srv = server_factory()
    mnt = srv.dir / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=400k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + p.stderr.decode())
    try:
        mdir = mnt / "Maildir"
        os.makedirs(mdir)
        os.chown(mnt, mailuser.uid, mailuser.gid)
        os.chown(mdir, mailuser.uid, mailuser.gid)
        pw = "full-disk-pw"
        h = subprocess.run([str(build.userdb_tool), "-p", "-m", "sha512"],
                           input=(pw + "\n").encode(), capture_output=True,
                           check=True).stdout.decode().strip()
        text = srv.dir / "userdb-full"
        text.write_text(f"fulluser:{h}:{mailuser.uid}:{mailuser.gid}:"
                        f"{mailuser.home}:{mdir}\n")
        subprocess.run([str(build.userdb_tool), "-o",
                        str(srv.dir / "full.cdb"), str(text)], check=True,
                       capture_output=True)
        srv.stop()
        srv2 = server_factory(userdb=srv.dir / "full.cdb", auth="userdb")

        class U:
            name, password = "fulluser", pw
        s = Session(srv2, U)
        small = message(subject="fits").encode()
        r = append(s, "INBOX", small)
        assert r[-1].split()[1] == "OK"
        big = message(body="x" * 1_000_000).encode()
        r = append(s, "INBOX", big)
        assert r[-1].startswith(f"t{s.n} NO"), r
        assert "OVERQUOTA" in r[-1]
        # nothing half-written is left, and the first message is intact
        # (polled, bounded: seen once still present as the NO arrived on
        # a loaded machine)
        deadline = time.monotonic() + 10
        while os.listdir(mdir / "tmp") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.listdir(mdir / "tmp") == []
        assert len(os.listdir(mdir / "cur")) == 1
        r = s.ok("SELECT INBOX")
        assert exists(r) == 1
        r = s.ok("FETCH 1 BODY.PEEK[]")
        assert crlf(small).decode() in fetch_map(r)[1]
        srv2.wait_log("APPEND to INBOX")
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_subscriptions_and_list_options(md, mailuser):
    s = sess(md, mailuser)
    s.ok("CREATE Lists/dev")
    s.ok("SUBSCRIBE Lists/dev")
    s.ok("SUBSCRIBE Gone/away")          # need not exist
    r = s.ok('LSUB "" "*"')
    assert '* LSUB () "/" "Lists/dev"' in r
    assert any(l.endswith('"Gone/away"') and "\\Noselect" in l for l in r)
    r = s.ok('LIST (SUBSCRIBED) "" "*"')
    assert any(l.endswith('"Gone/away"') and "\\NonExistent" in l
               for l in r), r
    assert any(l.endswith('"Lists/dev"') and "\\Subscribed" in l
               for l in r)
    r = s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert any('"/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))' in l
               for l in r), r
    r = s.ok('LIST (SPECIAL-USE) "" "*"')
    names = [l.rsplit(" ", 1)[1] for l in r if l.startswith("* LIST")]
    assert sorted(names) == ['"Archive"', '"Drafts"', '"Junk"', '"Sent"',
                             '"Trash"']
    r = s.ok('LIST "" "%" RETURN (CHILDREN SUBSCRIBED)')
    assert any(l.endswith('"Lists"') and "\\HasChildren" in l for l in r)
    s.ok("UNSUBSCRIBE Lists/dev")
    r = s.ok('LSUB "" "Lists/*"')
    assert not any(l.endswith('"Lists/dev"') for l in r)
    r = s.cmd('LIST (BOGUS) "" "*"')
    assert r[-1].split()[1] == "BAD"


def test_rename_inbox_moves_messages(md, mailuser):
    for i in range(3):
        drop(mailuser, message(subject=f"m{i}"), flags="S")
    s = sess(md, mailuser)
    s.ok("RENAME INBOX Old")
    assert len(files(mailuser, "Old")) == 3
    assert files(mailuser) == []
    r = s.ok("SELECT INBOX")
    assert exists(r) == 0
    r = s.ok("SELECT Old")
    assert exists(r) == 3


def test_examine_is_read_only(md, mailuser):
    drop(mailuser, message(), flags="")
    s = sess(md, mailuser)
    s.ok("EXAMINE INBOX")
    r = s.cmd("STORE 1 +FLAGS (\\Seen)")
    assert r[-1].startswith(f"t{s.n} NO [READ-ONLY]")
    r = s.cmd("EXPUNGE")
    assert "[READ-ONLY]" in r[-1]
    r = s.ok("FETCH 1 BODY[]")           # no \Seen in a read-only mailbox
    assert "\\Seen" not in r[0]
    assert files(mailuser)[0].endswith(":2,")
    s.ok("CHECK")
    r = s.cmd("MOVE 1 Trash")
    assert "[READ-ONLY]" in r[-1]
    s.ok("COPY 1 Trash")


def test_copy_into_same_mailbox_and_keywords_follow(md, mailuser):
    drop(mailuser, message(subject="kw"), flags="")
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    s.ok("STORE 1 +FLAGS ($Label1 \\Flagged)")
    r = s.ok("COPY 1 INBOX")
    assert re.search(r"\[COPYUID \d+ 1 2\]", r[-1]), r
    r = s.ok("FETCH 1:* FLAGS")
    fm = fetch_map(r)
    assert len(fm) == 2 and all("$Label1" in v for v in fm.values())
    s.ok("COPY 1 Archive")
    s.ok("SELECT Archive")
    r = s.ok("FETCH 1 FLAGS")
    assert "$Label1" in r[0] and "\\Flagged" in r[0]
    kw = (mailuser.maildir() / ".Archive" / "dovecot-keywords").read_text()
    assert "$Label1" in kw


def test_duplicate_base_names_and_odd_names(md, mailuser):
    imapdtest.maildir_make(mailuser)
    cur = mailuser.maildir() / "cur"
    # a broken copy: two files with one base name
    (cur / "1700000000.dup.host:2,S").write_text(message(subject="one"))
    (cur / "1700000000.dup.host:2,RS").write_text(message(subject="two"))
    (cur / "1700000000.dup.host:2,FS").write_text(message(subject="three"))
    # names other delivery programs make
    (mailuser.maildir() / "new" / "msg.XXXXabc").write_text(
        message(subject="procmail"))
    (mailuser.maildir() / "new" / "odd;name with spaces").write_text(
        message(subject="spaces"))
    if imapdtest.IS_ROOT:
        for p in list(cur.iterdir()) + list(
                (mailuser.maildir() / "new").iterdir()):
            os.chown(p, mailuser.uid, mailuser.gid)
    s = sess(md, mailuser)
    r = s.ok("SELECT INBOX")
    assert exists(r) == 5
    r = s.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = sorted(re.search(r"Subject: (\w+)", v).group(1)
                      for v in fetch_map(r).values())
    assert subjects == ["one", "procmail", "spaces", "three", "two"]
    # all copies kept, under different base names now (new/ may not be
    # moved to cur/ yet: the session does that after answering)
    bases = {f.split(":")[0] for f in files(mailuser) +
             files(mailuser, sub="new")}
    assert len(bases) == 5
    s.close()
    # and the UIDs are stable on the next look
    s = sess(md, mailuser)
    s.ok("SELECT INBOX")
    assert fetch_map(s.ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS "
                          "(SUBJECT)])")) == fetch_map(r)
