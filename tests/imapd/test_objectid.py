"""OBJECTID (RFC 8474): MAILBOXID in SELECT/EXAMINE, CREATE and STATUS,
EMAILID and THREADID in FETCH and SEARCH, and the stability the RFC asks
for: a message and the replies that name it first share a THREADID that
no later message changes; a folder keeps its MAILBOXID through RENAME (its own or a parent's)
and a folder deleted and created again gets a new one; a message keeps its
EMAILID through MOVE and COPY (the RFC's COPYUID pairing), through every
rename of its flags by another program, across sessions, with its files
and directories hours old, and across the loss or rebuild of the UID
cache; and an EMAILID never names two different messages.
"""

import os
import random
import re
import subprocess
import threading

import pytest

import imapdtest
import mailactors as ma
from imapdtest import Session, drop

OBJECTID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@pytest.fixture
def md(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    return server


def code_id(lines, where):
    """The objectid of the first "[MAILBOXID (x)]" in lines."""
    for l in lines:
        m = re.search(r"\[MAILBOXID \(([^)]*)\)\]", l)
        if m:
            assert OBJECTID.match(m.group(1)), l
            return m.group(1)
    raise AssertionError(f"no MAILBOXID in {where}: {lines}")


def select_id(s, folder, cmd="SELECT"):
    r = s.ok(f'{cmd} "{folder}"')
    # an untagged OK (RFC 8474 4.2), never the tagged one
    assert not re.search(r"MAILBOXID", r[-1]), r
    return code_id([l for l in r if l.startswith("* OK ")], cmd)


def status_id(s, folder):
    r = s.ok(f'STATUS "{folder}" (MAILBOXID)')
    m = re.search(r"\(MAILBOXID \(([^)]*)\)\)$", r[0])
    assert m and OBJECTID.match(m.group(1)), r
    return m.group(1)


def emailids(s, folder, item="EMAILID"):
    """{subject: id} of the messages of folder, selected now: each one's
    EMAILID, or the item asked for."""
    r = s.ok(f'SELECT "{folder}"')
    if "* 0 EXISTS" in r:
        return {}
    r = s.ok(f"FETCH 1:* ({item} BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for l in r[:-1]:
        m = re.search(item + r" \(([^)]*)\)", l)
        subj = re.search(r"Subject: (\S+)", l)
        if subj:
            assert m and OBJECTID.match(m.group(1)), l
            out[subj.group(1)] = m.group(1)
    return out


def fill(user, n, folder="", prefix="m"):
    return [drop(user, imapdtest.message(subject=f"{prefix}{i}"),
                 folder=folder, flags="")
            for i in range(n)]


# --- the RFC's examples --------------------------------------------------------

def test_capability(md, mailuser):
    s = Session(md, mailuser)
    r = s.ok("CAPABILITY")
    assert "OBJECTID" in r[0].split()
    s.close()


def test_create_select_examine_status(md, mailuser):
    s = Session(md, mailuser)
    r = s.ok('CREATE "foo"')
    created = code_id(r[-1:], "CREATE's tagged OK")
    assert select_id(s, "foo") == created
    assert select_id(s, "foo", "EXAMINE") == created
    assert status_id(s, "foo") == created
    r = s.ok('STATUS "foo" (MESSAGES MAILBOXID UIDNEXT)')
    assert re.match(r'\* STATUS "?foo"? \((MESSAGES 0|UIDNEXT \d+|'
                    r'MAILBOXID \(' + created + r'\))( (MESSAGES 0|'
                    r'UIDNEXT \d+|MAILBOXID \(' + created + r'\))){2}\)$',
                    r[0]), r
    inbox = status_id(s, "INBOX")
    assert inbox != created
    assert select_id(s, "INBOX") == inbox
    # another session, another day: the same ids
    t = Session(md, mailuser)
    assert status_id(t, "foo") == created
    assert select_id(t, "INBOX") == inbox
    t.close()
    s.close()


def test_list_status(md, mailuser):
    s = Session(md, mailuser)
    created = code_id(s.ok('CREATE "ls"')[-1:], "CREATE")
    r = s.ok('LIST "" "ls" RETURN (STATUS (MAILBOXID))')
    assert any(re.match(r'\* STATUS "?ls"? \(MAILBOXID \(' + created +
                        r'\)\)$', l) for l in r), r
    s.close()


def test_fetch_emailid_threadid(md, mailuser):
    fill(mailuser, 3)
    s = Session(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("FETCH 1:* (EMAILID THREADID)")
    ids = []
    tids = []
    for l in r[:-1]:
        m = re.match(r"\* \d+ FETCH \(EMAILID \(([A-Za-z0-9_-]+)\) "
                     r"THREADID \(([A-Za-z0-9_-]+)\)\)$", l)
        assert m, l
        ids.append(m.group(1))
        tids.append(m.group(2))
    assert len(ids) == 3 and len(set(ids)) == 3
    # three messages that name no other: three threads
    assert len(set(tids)) == 3 and not set(tids) & set(ids)
    r = s.ok("UID FETCH 1:* (EMAILID)")
    assert [re.search(r"EMAILID \(([^)]*)\)", l).group(1)
            for l in r[:-1]] == ids
    assert all(re.match(r"\* \d+ FETCH \(UID \d+ EMAILID", l)
               for l in r[:-1]), r
    # with CONDSTORE the ids ride along with MODSEQ, and they are the same
    r = s.ok("FETCH 1:* (EMAILID) (CHANGEDSINCE 1)")
    fetches = [l for l in r[:-1] if " FETCH " in l]
    got = [re.search(r"EMAILID \(([^)]*)\)", l).group(1) for l in fetches]
    assert got == ids and all("MODSEQ (" in l for l in fetches), r
    s.close()


def test_search(md, mailuser):
    fill(mailuser, 4)
    s = Session(md, mailuser)
    ids = emailids(s, "INBOX")
    r = s.ok(f"SEARCH EMAILID {ids['m2']}")
    assert r[0] == "* SEARCH 3", r
    r = s.ok(f"UID SEARCH NOT EMAILID {ids['m0']}")
    assert len(r[0].split()) == 2 + 3, r
    r = s.ok(f"SEARCH OR EMAILID {ids['m0']} EMAILID {ids['m3']}")
    assert r[0] == "* SEARCH 1 4", r
    # ids are case-sensitive (RFC 8474 7)
    r = s.ok(f"SEARCH EMAILID {ids['m2'].lower().upper()}")
    assert r[0] == "* SEARCH", r
    r = s.ok("SEARCH EMAILID Mnosuchmessage")
    assert r[0] == "* SEARCH", r
    # no message is in a thread of that id
    r = s.ok("SEARCH THREADID T64b478a75b7ea9")
    assert r[0] == "* SEARCH", r
    s.close()


@pytest.mark.parametrize("crit", [
    "SEARCH EMAILID",
    "SEARCH EMAILID foo.bar",
    "SEARCH EMAILID M+1",
    "SEARCH EMAILID " + "a" * 256,
    'SEARCH EMAILID "M1"',
    "SEARCH THREADID (T1)",
    "SEARCH THREADID",
    "STATUS INBOX (MAILBOXID MAILBOXIDS)",
])
def test_bad_syntax(md, mailuser, crit):
    s = Session(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.cmd(crit)
    assert r[-1].split()[1] == "BAD", r
    # the session goes on
    s.ok("NOOP")
    s.close()


def test_longest_objectid_is_accepted(md, mailuser):
    fill(mailuser, 1)
    s = Session(md, mailuser)
    s.ok("SELECT INBOX")
    r = s.ok("SEARCH EMAILID " + "a-_Z9" * 51)
    assert r[0] == "* SEARCH", r
    s.close()


def test_status_of_no_folder(md, mailuser):
    s = Session(md, mailuser)
    r = s.cmd('STATUS "nosuch" (MAILBOXID)')
    assert r[-1].split()[1] == "NO" and "NONEXISTENT" in r[-1], r
    s.close()


# --- THREADID -----------------------------------------------------------------

def raw(subject, mid=None, refs=None, irt=None):
    h = ["From: a@example.org", "To: b@example.org", "Subject: " + subject,
         "Date: Mon, 2 Nov 2026 09:00:00 +0000"]
    if mid:
        h.append(f"Message-ID: <{mid}>")
    if refs:
        h.append("References: " + " ".join(f"<{r}>" for r in refs))
    if irt:
        h.append(f"In-Reply-To: <{irt}>")
    return "\n".join(h) + "\n\nbody\n"


def threadids(s, folder):
    return emailids(s, folder, "THREADID")


THREAD = [  # subject, Message-ID, References, In-Reply-To
    ("root", "a@x", None, None),
    ("reply", "b@x", ["a@x"], "a@x"),
    ("reply2", "c@x", ["a@x", "b@x"], "b@x"),
    ("irtonly", "d@x", None, "a@x"),
    ("trimmed", "e@x", ["a@x", "c@x"], "c@x"),   # b@x trimmed out
    ("other", "o@x", None, None),
    ("noid", None, None, None),
    ("noid2", None, None, None),
]


def test_threadid(md, mailuser):
    for subj, mid, refs, irt in THREAD:
        drop(mailuser, raw(subj, mid, refs, irt), flags="")
    s = Session(md, mailuser)
    t = threadids(s, "INBOX")
    thread = {t[k] for k in ("root", "reply", "reply2", "irtonly",
                             "trimmed")}
    assert len(thread) == 1
    assert len({t["root"], t["other"], t["noid"], t["noid2"]}) == 4
    r = s.ok(f"SEARCH THREADID {t['root']}")
    assert r[0] == "* SEARCH 1 2 3 4 5", r
    r = s.ok(f"UID SEARCH THREADID {t['noid']} NOT THREADID {t['root']}")
    assert len(r[0].split()) == 3, r
    # a message moved or copied elsewhere stays in its thread
    s.ok('CREATE "Else"')
    s.ok("SELECT INBOX")
    s.ok("COPY 2 Else")
    s.ok("MOVE 3 Else")
    assert threadids(s, "Else") == {"reply": t["root"], "reply2": t["root"]}
    s.close()
    # a late message naming two threads joins one and changes neither
    drop(mailuser, raw("joiner", "j@x", ["a@x", "o@x"], "o@x"), flags="")
    # nor does losing every cache
    for f in mailuser.maildir().glob("imapd-*"):
        if f.name != "imapd-mailboxid":
            f.unlink()
    u = Session(md, mailuser)
    after = threadids(u, "INBOX")
    u.close()
    assert after.pop("joiner") == t["root"]
    del t["reply2"]
    assert after == t


# --- MAILBOXID stability -------------------------------------------------------

def test_rename_keeps_mailboxid(md, mailuser):
    s = Session(md, mailuser)
    parent = code_id(s.ok('CREATE "A"')[-1:], "CREATE")
    child = code_id(s.ok('CREATE "A/B"')[-1:], "CREATE")
    leaf = code_id(s.ok('CREATE "A/B/C"')[-1:], "CREATE")
    assert len({parent, child, leaf}) == 3
    s.ok('RENAME "A/B" "A/X"')
    assert status_id(s, "A/X") == child
    assert status_id(s, "A/X/C") == leaf
    s.ok('RENAME "A" "Z"')
    assert status_id(s, "Z") == parent
    assert status_id(s, "Z/X") == child
    assert select_id(s, "Z/X/C") == leaf
    s.close()


def test_delete_and_create_gives_a_new_one(md, mailuser):
    s = Session(md, mailuser)
    first = code_id(s.ok('CREATE "gone"')[-1:], "CREATE")
    s.ok('DELETE "gone"')
    second = code_id(s.ok('CREATE "gone"')[-1:], "CREATE")
    assert second != first
    assert status_id(s, "gone") == second
    # a folder renamed away leaves no id behind for a new one of its name
    s.ok('RENAME "gone" "kept"')
    third = code_id(s.ok('CREATE "gone"')[-1:], "CREATE")
    assert third not in (first, second)
    assert status_id(s, "kept") == second
    s.close()


def test_rename_inbox(md, mailuser):
    """RENAME INBOX moves its messages into a new folder and leaves INBOX
    empty (RFC 3501 6.3.5): INBOX stays the mailbox it was, so it keeps its
    MAILBOXID; the new folder is a new mailbox with a new one; the
    messages moved, so they keep their EMAILIDs."""
    fill(mailuser, 3)
    s = Session(md, mailuser)
    inbox = status_id(s, "INBOX")
    before = emailids(s, "INBOX")
    s.ok("UNSELECT")
    s.ok('RENAME INBOX "Old"')
    assert status_id(s, "INBOX") == inbox
    old = status_id(s, "Old")
    assert old != inbox
    assert emailids(s, "Old") == before
    assert emailids(s, "INBOX") == {}
    s.close()


def test_folder_made_by_another_program(md, mailuser):
    """A folder a mail reader made has no id yet: the first session to ask
    makes it, and every later one is told the same."""
    ma.make_folder(mailuser, "Outside")
    ma.age_dirs(mailuser, "Outside", hours=5)
    s = Session(md, mailuser)
    t = Session(md, mailuser)
    a = status_id(s, "Outside")
    assert status_id(t, "Outside") == a
    assert select_id(t, "Outside", "EXAMINE") == a
    s.close()
    t.close()


def test_damaged_id_file_is_replaced(md, mailuser):
    s = Session(md, mailuser)
    first = code_id(s.ok('CREATE "dmg"')[-1:], "CREATE")
    f = ma.folder_dir(mailuser, "dmg") / "imapd-mailboxid"
    f.write_text("not an id\n")
    second = status_id(s, "dmg")
    assert second != first and OBJECTID.match(second)
    assert status_id(s, "dmg") == second
    md.wait_log("does not hold a folder id")
    s.close()


# --- EMAILID stability ---------------------------------------------------------

def test_move_and_copy_keep_emailid(md, mailuser):
    fill(mailuser, 3)
    s = Session(md, mailuser)
    s.ok('CREATE "Dst"')
    before = emailids(s, "INBOX")
    r = s.ok("UID MOVE 1 Dst")
    assert any("[COPYUID" in l for l in r), r
    r = s.ok("UID COPY 2 Dst")
    assert "[COPYUID" in r[-1], r
    dst = emailids(s, "Dst")
    assert dst == {"m0": before["m0"], "m1": before["m1"]}
    # back again, and a copy within the same folder: still the same
    s.ok("MOVE 1:* INBOX")
    s.ok("SELECT INBOX")
    s.ok("COPY 1 INBOX")
    r = s.ok("FETCH 1:* (EMAILID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    seen = {}
    for l in r[:-1]:
        subj = re.search(r"Subject: (\S+)", l).group(1)
        seen.setdefault(subj, set()).add(
            re.search(r"EMAILID \(([^)]*)\)", l).group(1))
    assert {k: v.pop() for k, v in seen.items() if len(v) == 1} == before
    # a new message never gets an existing id
    app = imapdtest.message(subject="new").replace("\n", "\r\n")
    s.ok(f"APPEND INBOX {{{len(app)}+}}\r\n{app}")
    after = emailids(s, "INBOX")
    assert after["new"] not in before.values()
    s.close()


def test_outside_renames_and_old_files(md, mailuser):
    paths = fill(mailuser, 4)
    s = Session(md, mailuser)
    before = emailids(s, "INBOX")
    s.close()
    # mutt changes flags; another reader moves a file from new/ to cur/
    for i, p in enumerate(paths):
        os.rename(p, str(p).split(":2,")[0] + ":2," + "FS"[:i % 3])
    late = drop(mailuser, imapdtest.message(subject="late"))
    ma.age_dirs(mailuser, hours=6)
    t = Session(md, mailuser)
    mid = emailids(t, "INBOX")
    t.close()
    # the session moves it to cur/ (while quiet, or as it closes the
    # folder, which may finish after LOGOUT's answer); then a reader
    # marks it seen
    assert ma.wait_new_empty(mailuser) == []
    now = [n for n in os.listdir(mailuser.maildir() / "cur")
           if n.startswith(late.name)]
    assert len(now) == 1
    os.rename(mailuser.maildir() / "cur" / now[0],
              mailuser.maildir() / "cur" / (late.name + ":2,S"))
    for root, dirs, files in os.walk(mailuser.maildir()):
        for n in dirs + files:
            os.utime(os.path.join(root, n), (1.7e9, 1.7e9))
    u = Session(md, mailuser)
    after = emailids(u, "INBOX")
    u.close()
    assert {k: mid[k] for k in before} == before
    assert after == mid


def test_cache_lost_or_rebuilt(md, mailuser):
    fill(mailuser, 3)
    s = Session(md, mailuser)
    s.ok('CREATE "Kept"')
    before = emailids(s, "INBOX")
    s.ok("COPY 1 Kept")
    kept = emailids(s, "Kept")
    box = status_id(s, "INBOX")
    s.close()
    # the caches deleted, as an administrator would
    for f in mailuser.maildir().glob("imapd-*"):
        if f.name != "imapd-mailboxid":
            f.unlink()
    t = Session(md, mailuser)
    assert emailids(t, "INBOX") == before
    assert status_id(t, "INBOX") == box
    t.close()
    # and rebuilt by the tool
    as_owner = ["--as-owner"] if imapdtest.IS_ROOT else []
    for folder in (mailuser.maildir(), ma.folder_dir(mailuser, "Kept")):
        p = subprocess.run([str(md.build.tool("imapd-cache")), *as_owner,
                            "--rebuild", "--yes", str(folder)],
                           capture_output=True, timeout=120,
                           env=md.build.env())
        assert p.returncode == 0, p.stderr
    u = Session(md, mailuser)
    assert emailids(u, "INBOX") == before
    assert emailids(u, "Kept") == kept == {"m0": before["m0"]}
    u.close()


def test_concurrent_sessions_and_outside_programs(md, mailuser):
    """One session stores flags and moves messages between two folders,
    an MDA delivers and a mail reader renames files, while another session
    keeps fetching EMAILIDs: every message shows one EMAILID all along,
    and no EMAILID ever names two messages."""
    fill(mailuser, 12)
    ma.make_folder(mailuser, "Other")
    fill(mailuser, 4, folder="Other", prefix="o")
    for f in ("INBOX", "Other"):
        ma.age_dirs(mailuser, f, hours=3)
    rnd = random.Random(8474)
    seen = {}                   # subject -> EMAILID
    problems = []
    moved = [0]

    def note(ids, who):
        for subj, eid in ids.items():
            if seen.setdefault(subj, eid) != eid:
                problems.append(f"{who}: {subj} was {seen[subj]}, now {eid}")
        owners = {}
        for subj, eid in seen.items():
            owners.setdefault(eid, set()).add(subj)
        for eid, subjs in owners.items():
            if len(subjs) > 1:
                problems.append(f"{who}: {eid} names {sorted(subjs)}")

    def mover():
        s = Session(md, mailuser)
        r_ = random.Random(1)
        for i in range(25):
            src, dst = ("INBOX", "Other") if i % 2 == 0 else \
                ("Other", "INBOX")
            s.ok(f"SELECT {src}")
            uids = s.ok("UID SEARCH ALL")[0].split()[2:]
            if not uids:
                continue
            u = r_.choice(uids)
            r = s.cmd(f"UID STORE {u} +FLAGS (\\Flagged)")
            if r[-1].split()[1] == "BAD" or r[-1].startswith("* BYE"):
                problems.append(f"STORE: {r}")
            r = s.cmd(f"UID MOVE {u} {dst}")
            if r[-1].split()[1] == "OK":
                moved[0] += 1
            elif r[-1].split()[1] == "BAD":
                problems.append(f"MOVE: {r}")
        s.close()

    def outsider():
        for i in range(25):
            drop(mailuser, imapdtest.message(subject=f"d{i}"))
            d = ma.folder_dir(mailuser, rnd.choice(["INBOX", "Other"]))
            names = sorted(os.listdir(d / "cur")) + \
                [("new", n) for n in sorted(os.listdir(d / "new"))]
            if not names:
                continue
            pick = rnd.choice(names)
            if isinstance(pick, tuple):
                src, dst = d / "new" / pick[1], d / "cur" / (pick[1] + ":2,S")
            else:
                base = pick.split(":2,")[0]
                src = d / "cur" / pick
                dst = d / "cur" / (base + ":2," + rnd.choice(["", "S", "RS"]))
            try:
                os.rename(src, dst)
            except FileNotFoundError:
                pass            # the mover or the server got there first

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception as e:      # reported by the main thread
                problems.append(f"{fn.__name__}: {e!r}")
        return run

    threads = [threading.Thread(target=guarded(mover)),
               threading.Thread(target=guarded(outsider))]
    for t in threads:
        t.start()
    watcher = Session(md, mailuser)
    for i in range(30):
        for f in ("INBOX", "Other"):
            watcher.cmd(f"SELECT {f}")
            r = watcher.cmd(
                "FETCH 1:* (EMAILID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            ids = {}
            for l in r[:-1]:
                m = re.search(r"EMAILID \(([^)]*)\)", l)
                subj = re.search(r"Subject: (\S+)", l)
                if m and subj:
                    ids[subj.group(1)] = m.group(1)
            note(ids, f"watcher {i} {f}")
        if not any(t.is_alive() for t in threads):
            break
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    watcher.close()
    # the final state, by a new session: every message once, same ids
    s = Session(md, mailuser)
    final = {**emailids(s, "INBOX"), **emailids(s, "Other")}
    s.close()
    note(final, "final")
    assert not problems, problems[:5]
    assert moved[0] > 0
    assert len(final) == 12 + 4 + 25
    assert len(set(final.values())) == len(final)


def test_courier_names(server_factory, mailuser):
    """With the "." separator and the INBOX. prefix of Courier, the ids
    belong to the same folders on disk and follow them through RENAME."""
    imapdtest.maildir_reset(mailuser)
    imapdtest.maildir_make(mailuser)
    srv = server_factory(hierarchy_separator=".", inbox_prefix="yes")
    s = Session(srv, mailuser)
    parent = code_id(s.ok('CREATE "INBOX.A"')[-1:], "CREATE")
    child = code_id(s.ok('CREATE "INBOX.A.B"')[-1:], "CREATE")
    s.ok('RENAME "INBOX.A" "INBOX.Z"')
    assert status_id(s, "INBOX.Z") == parent
    assert select_id(s, "INBOX.Z.B") == child
    assert (ma.folder_dir(mailuser, "Z/B") / "imapd-mailboxid"
            ).read_text().strip() == child
    s.close()
