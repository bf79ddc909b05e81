"""The UID contract of the Maildir store, under concurrency.

What imapd promises about a folder that other programs share with it:

  - A message keeps its UID for as long as its file exists under any name
    in new/ or cur/, whatever other programs rename, link or move.
  - UIDs never repeat for another message within one UIDVALIDITY; a
    UIDVALIDITY change inside a session ends the session with a BYE that
    says UIDVALIDITY, and old UIDs are never mapped onto new ones.
  - No session is told EXPUNGE for a message whose file existed
    throughout.
  - Nothing the server renames ever replaces an existing file; a message
    is never lost or duplicated.

The first tests run many actors at once on a large INBOX (IMAP sessions,
a mail reader renaming files, an MDA, a mail reader moving new/ to cur/
itself) and check these as invariants afterwards, also across SIGKILLs of
the whole server.  The others each pin down one way the contract can
break.  IMAPD_TORTURE_SECONDS sets how long the actors run (default 8),
IMAPD_TORTURE_SEEDS adds seeds ("4,5,6") to the ones always run.
"""

import fcntl
import os
import random
import re
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest

import imapdtest
import mailactors as ma
from torture import run_torture
from imapdtest import Session

# seeds that once failed stay here; IMAPD_TORTURE_SEEDS adds more
SEEDS = [1, 2] + [int(x) for x in
                  os.environ.get("IMAPD_TORTURE_SEEDS", "").split(",") if x]
BIG = 20000


def fetch_map(lines):
    out = {}
    for l in lines:
        m = re.match(r"\* (\d+) FETCH \((.*)\)$", l, re.S)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def uidvalidity(lines):
    for l in lines:
        m = re.search(r"\[UIDVALIDITY (\d+)\]", l)
        if m:
            return int(m.group(1))
    return None


# --- 1. the torture test -----------------------------------------------------

@pytest.fixture(scope="session")
def template(workdir, mailuser):
    """BIG small messages, written once and hard-linked into each test's
    INBOX."""
    return ma.Template(workdir, mailuser, BIG)


@pytest.mark.parametrize("seed", SEEDS)
def test_torture(server_factory, mailuser, template, seed):
    run_torture(server_factory, mailuser, template, seed)


@pytest.mark.parametrize("seed", [3])
def test_torture_with_server_kills(server_factory, mailuser, template,
                                   seed):
    run_torture(server_factory, mailuser, template, seed, kills=3)


# --- 2. one test per way the contract broke ----------------------------------

@pytest.fixture
def srv(server_factory, mailuser):
    """A server (plain-text login allowed on loopback) and an empty
    Maildir."""
    imapdtest.maildir_reset(mailuser)
    ma.make_folder(mailuser, "INBOX")
    return server_factory(allow_plaintext_auth="yes")


def client(srv, mailuser, who="s", ledger=None):
    return ma.Client(srv, mailuser, ledger or ma.Ledger(), who)


def listing(srv, mailuser, folder="INBOX"):
    """UID -> Message-ID as a fresh session sees the folder (read-only)."""
    c = client(srv, mailuser, "fresh")
    try:
        uidv, pairs = ma.fetch_all(c, folder)
    finally:
        c.close()
    assert len({u for u, _ in pairs}) == len(pairs), pairs
    return uidv, dict(pairs)


def expunged(ledger, who=None):
    return [e for e in ledger.expunges if who is None or e[0] == who]


# 1. new/ -> cur/ and STORE never replace a file ------------------------------

@pytest.mark.parametrize("seen", [False, True], ids=["plain", "seen"])
def test_new_to_cur_never_replaces(srv, mailuser, seen):
    name = "1700000000.A.host"
    ma.deliver(mailuser, "INBOX", "<A@x>", name=name)
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    assert c.seq == [1]
    c.identify([1])
    assert c.mids == {1: "<A@x>"}
    if seen:
        c.ok("STORE 1 +FLAGS (\\Seen)")
    # the session moves A to cur/ once SELECT has answered; a delivery
    # into new/ under A's name before that would replace A by the MDA's
    # own rename, which no server can prevent
    assert ma.wait_new_empty(mailuser) == []
    # another message arrives under the very same name
    ma.deliver(mailuser, "INBOX", "<B@x>", name=name)
    c.ok("NOOP")
    c.select("INBOX")
    counts, names = ma.census(mailuser)
    assert counts == Counter({"<A@x>": 1, "<B@x>": 1}), dict(names)
    _, m = listing(srv, mailuser)
    assert m.get(1) == "<A@x>", m
    assert sorted(m.values()) == ["<A@x>", "<B@x>"], m


def test_store_rename_never_replaces(srv, mailuser):
    d = ma.folder_dir(mailuser)
    p = ma.deliver(mailuser, "INBOX", "<A@x>", name="1700000000.X.host",
                   into="cur")
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    # another program puts a different message at the name STORE will
    # want, just before the STORE
    tmp = d / "tmp" / "other"
    tmp.write_bytes(ma.msg_bytes("<B@x>"))
    ma.chown(mailuser, tmp)
    os.rename(tmp, str(p) + "S")
    u, r = c.cmd("STORE 1 +FLAGS (\\Seen)")
    counts, names = ma.census(mailuser)
    assert counts == Counter({"<A@x>": 1, "<B@x>": 1}), dict(names)
    # the newcomer got a base of its own, and A its flag
    assert r.split()[1] == "OK", r
    assert names["<A@x>"] == ["cur/1700000000.X.host:2,S"], dict(names)
    assert not names["<B@x>"][0].startswith("cur/1700000000.X.host"), \
        dict(names)
    c.ok("NOOP")
    _, m = listing(srv, mailuser)
    assert m.get(1) == "<A@x>", m
    assert sorted(m.values()) == ["<A@x>", "<B@x>"], m


# 2. no UID churn while files are renamed -------------------------------------

CHURN = 10000


def noop_until(c, done, limit=3000):
    """NOOP in a loop until done is set (at most limit times)."""
    n = 0
    while not done.is_set() and n < limit:
        c.ok("NOOP")
        n += 1
    return n


def churn_check(srv, mailuser, ledger, a, before):
    for _ in range(2):
        a.ok("NOOP")
    assert not expunged(ledger, a.who), \
        f"{len(expunged(ledger, a.who))} EXPUNGEs, e.g. " \
        f"{expunged(ledger, a.who)[:5]}"
    _, after = listing(srv, mailuser)
    moved = {u: (before.get(u), after.get(u)) for u in
             set(before) | set(after) if before.get(u) != after.get(u)}
    assert not moved, f"{len(moved)} UIDs changed, e.g. " \
        f"{list(moved.items())[:5]}"


def test_no_churn_during_store(srv, mailuser, template):
    template.link(mailuser, "INBOX", count=CHURN)
    ledger = ma.Ledger()
    a = client(srv, mailuser, "A", ledger)
    b = client(srv, mailuser, "B", ledger)
    a.select("INBOX")
    b.select("INBOX")
    _, before = listing(srv, mailuser)
    done = threading.Event()
    th = threading.Thread(target=noop_until, args=(a, done), daemon=True)
    th.start()
    try:
        for op in ("+", "-", "+"):
            b.ok(f"STORE 1:{CHURN} {op}FLAGS.SILENT (\\Seen)", timeout=120)
    finally:
        done.set()
        th.join(60)
    churn_check(srv, mailuser, ledger, a, before)


def test_no_churn_during_renames(srv, mailuser, template):
    template.link(mailuser, "INBOX", count=CHURN)
    ledger = ma.Ledger()
    a = client(srv, mailuser, "A", ledger)
    a.select("INBOX")
    _, before = listing(srv, mailuser)
    done = threading.Event()
    ren = ma.Renamer(mailuser, ledger, done, seed=7, limit=3000)
    ren.start()
    # NOOPs until the renamer has made its 3,000 renames: on a loaded
    # machine 3,000 NOOPs may end first (seen once under ASan), so the
    # bound is a time, not a count of NOOPs
    deadline = time.monotonic() + 300
    while ren.is_alive() and time.monotonic() < deadline:
        a.ok("NOOP")
    done.set()
    ren.join(30)
    assert ren.done == 3000 and not ledger.failures, ledger.failures
    churn_check(srv, mailuser, ledger, a, before)


def test_no_churn_while_new_moves_to_cur(srv, mailuser, template):
    template.link(mailuser, "INBOX", count=CHURN)
    d = ma.folder_dir(mailuser)
    # 3,000 more in new/
    extra = list(template.mids.items())[CHURN:CHURN + 3000]
    for mid, rel in extra:
        os.link(template.dir / rel, d / "new" / ma.base_of(rel.split("/")[1]))
    ma.age_dirs(mailuser)
    ledger = ma.Ledger()
    a = client(srv, mailuser, "A", ledger)
    a.select("INBOX", examine=True)
    assert len(a.seq) == CHURN + 3000
    _, before = listing(srv, mailuser)
    names = os.listdir(d / "new")

    def move():
        for n in names:
            os.rename(d / "new" / n, d / "cur" / (n + ":2,"))

    done = threading.Event()
    th = threading.Thread(target=lambda: (move(), done.set()), daemon=True)
    th.start()
    noop_until(a, done)
    th.join(60)
    assert os.listdir(d / "new") == []
    churn_check(srv, mailuser, ledger, a, before)


# 3. a UIDVALIDITY change ends the session ------------------------------------

def until_bye(c, commands):
    """Send commands one by one until the server says BYE or closes;
    returns the untagged responses seen and whether it closed."""
    seen = []
    for text in commands:
        try:
            u, r = c.cmd(text, timeout=15)
            seen += u
        except ma.Closed:
            return seen, True
        if c.byes:
            return seen, c.conn.closed(10)
    return seen, False


def test_uidvalidity_change_after_cache_loss(srv, mailuser):
    for i in range(6):
        ma.deliver(mailuser, "INBOX", f"<m{i}@x>", n=i, into="cur")
    ma.age_dirs(mailuser)
    ledger = ma.Ledger()
    s1 = client(srv, mailuser, "s1", ledger)
    s1.select("INBOX")
    v1 = s1.uidv
    s1.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    s1.ok("EXPUNGE")
    assert s1.seq == [1, 3, 5, 6]
    s1.identify(s1.seq)
    ledger.expunges.clear()
    # the documented recovery: remove the cache; a new session rebuilds it
    md = mailuser.maildir()
    for f in os.listdir(md):
        if f.startswith("imapd-uidcache."):
            os.unlink(md / f)
    s2 = client(srv, mailuser, "s2", ledger)
    s2.select("INBOX")
    assert s2.uidv > v1
    seen, closed = until_bye(s1, [
        "UID STORE 2 +FLAGS (\\Deleted)", "UID EXPUNGE 2", "NOOP",
        "UID STORE 2 +FLAGS (\\Deleted)", "UID EXPUNGE 2", "NOOP"])
    files = os.listdir(md / "cur") + os.listdir(md / "new")
    assert len(files) == 4 and not any(
        "T" in f.partition(":2,")[2] for f in files), \
        f"an old UID reached a message of the new UIDVALIDITY: {files}"
    assert not expunged(ledger, "s1"), (expunged(ledger, "s1"), seen)
    assert any("UIDVALIDITY" in b for b in s1.byes), (s1.byes, seen)
    assert closed


def test_damaged_cache_ends_session_without_expunges(srv, mailuser):
    for i in range(10):
        ma.deliver(mailuser, "INBOX", f"<m{i}@x>", n=i, into="cur")
    ma.age_dirs(mailuser)
    ledger = ma.Ledger()
    s1 = client(srv, mailuser, "s1", ledger)
    s1.select("INBOX")
    s1.identify(s1.seq)
    # damage the messages' record of the snapshot, in place
    cdb = mailuser.maildir() / "imapd-uidcache.cdb"
    data = cdb.read_bytes()
    at = data.index(b"IMUC") + 128 + 9 + 8
    with open(cdb, "r+b") as f:
        f.seek(at)
        f.write(b"\xa5" * 8)
    ma.deliver(mailuser, "INBOX", "<new@x>", n=99)
    s2 = client(srv, mailuser, "s2", ledger)
    s2.select("INBOX")
    seen, closed = until_bye(s1, ["NOOP", "NOOP", "FETCH 1:* (UID)",
                                  "NOOP"])
    assert not expunged(ledger, "s1"), (expunged(ledger, "s1"), seen)
    assert any("UIDVALIDITY" in b for b in s1.byes), (s1.byes, seen)
    assert closed


# 4. UIDVALIDITY of a folder made again ---------------------------------------

def test_recreated_folder_gets_greater_uidvalidity(srv, mailuser):
    c = client(srv, mailuser)
    prev = None
    for i in range(5):
        c.ok("CREATE Again")
        u, r = c.ok("STATUS Again (UIDVALIDITY)")
        v = int(re.search(r"UIDVALIDITY (\d+)", u[0]).group(1))
        if prev is not None:
            assert v > prev, f"round {i}: UIDVALIDITY {v} after {prev}"
        prev = v
        c.ok("DELETE Again")


# 5. keywords -----------------------------------------------------------------

def test_keyword_added_by_another_program(srv, mailuser):
    md = mailuser.maildir()
    (md / "dovecot-keywords").write_text("0 $Forwarded\n")
    ma.chown(mailuser, md / "dovecot-keywords")
    p = ma.deliver(mailuser, "INBOX", "<k@x>", into="cur")
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    with open(md / "dovecot-keywords", "a") as f:
        f.write("1 Work\n")
    os.rename(p, str(p) + "b")
    u, r = c.ok("NOOP")
    assert any(l.startswith("* FLAGS (") and "Work" in l for l in u), u
    assert any(re.match(r"\* 1 FETCH \(.*FLAGS \([^)]*\bWork\b", l)
               for l in u), u


def test_unnamed_keyword_letter_survives_store(srv, mailuser):
    ma.deliver(mailuser, "INBOX", "<z@x>", into="cur", name="1700000000.Z.h")
    d = ma.folder_dir(mailuser) / "cur"
    os.rename(d / "1700000000.Z.h:2,", d / "1700000000.Z.h:2,z")
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    c.ok("STORE 1 FLAGS (\\Seen)")
    names = os.listdir(d)
    assert len(names) == 1, names
    flags = names[0].partition(":2,")[2]
    assert "z" in flags and "S" in flags, names


# 6. a full disk --------------------------------------------------------------

@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="mounting a small "
                    "file system needs root")
def test_full_disk_keeps_folder_usable(server_factory, mailuser, build):
    srv = server_factory()
    mnt = srv.dir / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755",
                        "tmpfs", str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + p.stderr.decode())
    try:
        mdir = mnt / "Maildir"
        os.chown(mnt, mailuser.uid, mailuser.gid)
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
            uid, gid = mailuser.uid, mailuser.gid

            @staticmethod
            def maildir():
                return mdir

        ma.make_folder(U, "INBOX")
        for i in range(10):
            ma.deliver(U, "INBOX", f"<old{i}@x>", n=i, into="cur", pad=400)
        ma.age_dirs(U)
        s = Session(srv2, U)
        s.ok("SELECT INBOX")
        s.close()
        # an MDA delivers until the disk is full
        arrived = 0
        for i in range(10000):
            try:
                ma.deliver(U, "INBOX", f"<new{i}@x>", n=i, pad=40)
                arrived += 1
            except OSError as e:
                assert e.errno in (28, 122), e
                for f in os.listdir(mdir / "tmp"):
                    os.unlink(mdir / "tmp" / f)
                break
        assert arrived > 0
        s = Session(srv2, U)
        r = s.ok("SELECT INBOX")
        r = s.ok("FETCH 1:10 (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert len(fetch_map(r)) == 10
        olds = {n: seq for seq, v in fetch_map(r).items()
                for n in re.findall(r"<old\d+@x>", v)}
        assert len(olds) == 10, r
        seqs = ",".join(str(v) for v in olds.values())
        s.ok(f"STORE {seqs} +FLAGS (\\Deleted)")
        s.ok("EXPUNGE")
        counts, _ = ma.census(U)
        assert not any(m.startswith("<old") for m in counts), counts
        s2 = Session(srv2, U)
        r = s2.cmd("STATUS INBOX (MESSAGES)")
        assert r[-1].split()[1] == "OK", r
        r = s.ok("NOOP")
        s3 = Session(srv2, U)
        r = s3.ok("SELECT INBOX")
        n = [int(m.group(1)) for l in r
             for m in [re.match(r"\* (\d+) EXISTS", l)] if m]
        assert n == [arrived], (n, arrived)
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


# 7. a name with no room for flags --------------------------------------------

def test_store_deleted_on_longest_name(srv, mailuser):
    base = "1700000000.M1P1.h"
    base += "x" * (255 - len(":2,") - len(base))
    p = ma.deliver(mailuser, "INBOX", "<long@x>", into="cur", name=base)
    assert len(p.name) == 255
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    u, r = c.cmd("STORE 1 +FLAGS (\\Deleted)")
    counts, names = ma.census(mailuser)
    assert counts == Counter({"<long@x>": 1}), names
    # the name has no room for a flag letter: the STORE says so, and
    # nothing changes (it never answers OK for a flag it did not set)
    assert r.split()[1] == "NO" and "[LIMIT]" in r, r
    assert names["<long@x>"] == ["cur/" + p.name]
    u, r = c.cmd("EXPUNGE")
    assert r.split()[1] == "OK" and not any("EXPUNGE" in l for l in u), u
    assert ma.census(mailuser)[0] == Counter({"<long@x>": 1})
    # the other messages are not held back by it
    ma.deliver(mailuser, "INBOX", "<short@x>", into="cur")
    c.ok("NOOP")
    u, r = c.cmd("STORE 1:* +FLAGS (\\Flagged)")
    assert r.split()[1] == "NO", r
    counts, names = ma.census(mailuser)
    assert names["<short@x>"][0].endswith(":2,F"), dict(names)


# 8. locks --------------------------------------------------------------------

def test_copy_to_selected_folder_after_rename(srv, mailuser):
    p = ma.deliver(mailuser, "INBOX", "<c1@x>", n=1, into="cur")
    ma.deliver(mailuser, "INBOX", "<c2@x>", n=2, into="cur")
    ma.age_dirs(mailuser)
    c = client(srv, mailuser)
    c.select("INBOX")
    c.identify(c.seq)
    seq = 1 + [c.mids[u] for u in c.seq].index("<c1@x>")
    os.rename(p, str(p) + "S")
    t = time.monotonic()
    u, r = c.cmd(f"COPY {seq} INBOX", timeout=60)
    took = time.monotonic() - t
    assert r.split()[1] == "OK" and "[COPYUID" in r, (r, took)
    assert took < 10, took
    counts, _ = ma.census(mailuser)
    assert counts == Counter({"<c1@x>": 2, "<c2@x>": 1}), counts


def test_crossed_copies_do_not_stall(srv, mailuser):
    """COPY from A to B in one session and from B to A in another at the
    same moment, right after a mail reader renamed files in both.  To
    make the crossing likely, the test itself holds A's cache lock for a
    moment (a POSIX lock, as any other program might), so that the two
    sessions are both under way when it is let go."""
    s1 = client(srv, mailuser, "s1")
    s2 = client(srv, mailuser, "s2")
    rnd = random.Random(8)
    for rnd_no in range(3):
        # a fresh pair of folders each round, so that they do not grow
        fa, fb = f"A{rnd_no}", f"B{rnd_no}"
        for f in (fa, fb):
            ma.make_folder(mailuser, f)
            for i in range(30):
                ma.deliver(mailuser, f, f"<{f}.{i}@x>", n=i, into="cur")
            ma.age_dirs(mailuser, f)
        s1.select(fa)
        s2.select(fb)
        # a mail reader changes flags in both folders behind their backs
        for f in (fa, fb):
            d = ma.folder_dir(mailuser, f) / "cur"
            for n in os.listdir(d):
                b, _, fl = n.partition(":2,")
                os.rename(d / n, d / (b + ":2," + "".join(
                    sorted(set(fl) ^ {rnd.choice("FRS")}))))
        lockp = ma.folder_dir(mailuser, fa) / "imapd-uidcache.lock"
        fd = os.open(lockp, os.O_RDWR | os.O_CREAT, 0o600)
        ma.chown(mailuser, lockp)
        t1, t2 = s1.tag(), s2.tag()
        start = time.monotonic()
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            s1.conn.send(f"{t1} COPY 1:* {fb}\r\n")
            time.sleep(0.15)
            s2.conn.send(f"{t2} COPY 1:* {fa}\r\n")
            time.sleep(0.005)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
            os.close(fd)
        for c, t in ((s1, t1), (s2, t2)):
            try:
                u, r = c.read_until(t, timeout=max(
                    0.1, 10 - (time.monotonic() - start)))
            except (socket.timeout, TimeoutError):
                pytest.fail(f"round {rnd_no}: {c.who}'s COPY did not "
                            f"finish within 10 s")
            assert r.split()[1] == "OK" and "[COPYUID" in r, (rnd_no, r)


# 9. moving from Dovecot or Courier keeps flags -------------------------------

MIGRATE = [  # (flags in the file name, UID in the old server's list)
    ("S", 5), ("FS", 9), ("", 10), ("S", 20), ("", 21), ("RS", 30)]


def old_server_maildir(user, kind):
    d = ma.make_folder(user, "INBOX")
    t = int(time.time()) - 5 * 3600
    bases = []
    for i, (fl, uid) in enumerate(MIGRATE):
        base = f"{t + i}.M{i}P99.oldhost,S=200"
        p = d / "cur" / f"{base}:2,{fl}"
        p.write_bytes(ma.msg_bytes(f"<mig{i}@x>", i))
        ma.chown(user, p)
        os.utime(p, (t + i, t + i))
        bases.append(base)
    if kind == "dovecot":
        lines = ["3 V1500000000 N40 G0123456789abcdef0123456789abcdef"]
        for i, (base, (_, uid)) in enumerate(zip(bases, MIGRATE)):
            lines.append(f"{uid} W210 :{base}" if i % 2 else
                         f"{uid} :{base}")
        f = d / "dovecot-uidlist"
    else:
        lines = ["1 1500000000 40"] + [
            f"{uid} {base}" for base, (_, uid) in zip(bases, MIGRATE)]
        f = d / "courierimapuiddb"
    f.write_text("\n".join(lines) + "\n")
    ma.chown(user, f)
    os.utime(f, (t + 10, t + 10))
    ma.age_dirs(user, hours=4)


def unseen_status(c):
    u, r = c.ok("STATUS INBOX (MESSAGES UNSEEN)")
    m = re.search(r"MESSAGES (\d+) UNSEEN (\d+)", u[0])
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("status_first", [True, False],
                         ids=["status-first", "select-first"])
@pytest.mark.parametrize("kind", ["dovecot", "courier"])
def test_migration_keeps_flags(srv, mailuser, kind, status_first):
    old_server_maildir(mailuser, kind)
    unseen = sum(1 for fl, _ in MIGRATE if "S" not in fl)
    other = client(srv, mailuser, "other")
    if status_first:
        assert unseen_status(other) == (len(MIGRATE), unseen)
    c = client(srv, mailuser)
    u, r = c.select("INBOX")
    assert c.uidv == 1500000000, u
    first = 1 + [i for i, (fl, _) in enumerate(MIGRATE) if "S" not in fl][0]
    assert any(f"[UNSEEN {first}]" in l for l in u), u
    u, r = c.ok("FETCH 1:* (UID FLAGS)")
    got = {int(re.search(r"UID (\d+)", v).group(1)):
           set(re.search(r"FLAGS \(([^)]*)\)", v).group(1).split())
           - {"\\Recent"} for v in fetch_map(u).values()}
    names = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered"}
    want = {uid: {names[ch] for ch in fl} for fl, uid in MIGRATE}
    assert got == want
    assert unseen_status(other) == (len(MIGRATE), unseen)


# 10. clocks and file systems -------------------------------------------------

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def restart_with_env(srv, **env):
    srv.stop()
    base = srv.env

    def env_fn():
        e = base()
        e.update(env)
        return e
    srv.env = env_fn
    srv.start()


def preloaded(srv, lib):
    """True if the server's processes have lib mapped."""
    for p in ma.server_tree(srv):
        try:
            if lib in open(f"/proc/{p}/maps").read():
                return True
        except OSError:
            pass
    return False


@pytest.fixture
def coarse_maildir(server_factory, mailuser, build):
    """A server whose user keeps mail on an ext4 file system with
    128-byte inodes, whose file times have whole seconds only (as ext3,
    and NFS servers on such file systems, have): two changes within a
    second leave a directory's time as it was.  Yields (server, user)."""
    if not imapdtest.IS_ROOT:
        pytest.skip("mounting a file system needs root")
    srv = server_factory()
    img, mnt = srv.dir / "coarse.img", srv.dir / "coarse"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    p = subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(img)],
                       capture_output=True)
    if p.returncode == 0:
        p = subprocess.run(["mount", "-o", "loop", str(img), str(mnt)],
                           capture_output=True)
    if p.returncode != 0:
        pytest.skip("cannot make a loop-mounted ext4 here: " +
                    p.stderr.decode())
    try:
        mdir = mnt / "Maildir"
        os.chown(mnt, mailuser.uid, mailuser.gid)
        pw = "coarse-pw"
        h = subprocess.run([str(build.userdb_tool), "-p", "-m", "sha512"],
                           input=(pw + "\n").encode(), capture_output=True,
                           check=True).stdout.decode().strip()
        text = srv.dir / "userdb-coarse"
        text.write_text(f"coarseuser:{h}:{mailuser.uid}:{mailuser.gid}:"
                        f"{mailuser.home}:{mdir}\n")
        subprocess.run([str(build.userdb_tool), "-o",
                        str(srv.dir / "coarse.cdb"), str(text)], check=True,
                       capture_output=True)
        srv.stop()
        srv2 = server_factory(userdb=srv.dir / "coarse.cdb", auth="userdb",
                              allow_plaintext_auth="yes")

        class U:
            name, password = "coarseuser", pw
            uid, gid = mailuser.uid, mailuser.gid

            @staticmethod
            def maildir():
                return mdir

        ma.make_folder(U, "INBOX")
        yield srv2, U
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def same_second_deliveries(srv, user, rounds=8):
    """Deliver, let a new session look, deliver again within the same
    second of the file system's clock; a second new session must see both
    (it may not trust a directory time taken in the second of a change).
    Returns the rounds that landed in one second."""
    tried = 0
    for k in range(rounds * 3):
        if tried == rounds:
            break
        # start early in a second, so that all of it fits in one
        time.sleep(1.02 - (time.time() % 1.0))
        sec = int(time.time())
        ma.deliver(user, "INBOX", f"<a{k}@x>", n=k)
        a = client(srv, user, f"a{k}")
        a.select("INBOX")
        n = len(a.seq)
        a.close()
        ma.deliver(user, "INBOX", f"<b{k}@x>", n=k)
        if int(time.time()) != sec:
            continue        # crossed into the next second: not this case
        tried += 1
        b = client(srv, user, f"b{k}")
        b.select("INBOX")
        assert len(b.seq) == n + 1, (k, n, b.seq)
        b.close()
    return tried


def test_same_second_changes_on_coarse_times(coarse_maildir):
    srv, user = coarse_maildir
    assert same_second_deliveries(srv, user) >= 4


def test_server_clock_ahead_of_file_system(coarse_maildir, build):
    """The server's clock 2 s ahead of the file system's (an NFS client
    and its server out of step): a directory time must not be trusted
    because the local clock says it is old."""
    if build.sanitized:
        pytest.skip("libfaketime and the sanitizer runtime do not mix")
    if not os.path.exists(FAKETIME_LIB):
        pytest.skip("libfaketime (Debian's faketime) is not installed")
    srv, user = coarse_maildir
    restart_with_env(srv, LD_PRELOAD=FAKETIME_LIB, FAKETIME="+2s",
                     NO_FAKE_STAT="1", DONT_FAKE_MONOTONIC="1")
    assert preloaded(srv, "libfaketime")
    assert same_second_deliveries(srv, user) >= 4


def build_shim(dirpath):
    src = os.path.join(os.path.dirname(ma.__file__), "noreplace_shim.c")
    out = os.path.join(dirpath, "noreplace_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", out, src,
                    "-ldl"], check=True, capture_output=True, timeout=60)
    return out


@pytest.mark.parametrize("err", ["EINVAL", "ENOSYS", "EOPNOTSUPP"])
def test_rename_noreplace_unsupported(srv, mailuser, build, err):
    """Where renameat2(RENAME_NOREPLACE) is refused (EINVAL on NFS and
    FUSE, ENOSYS on an old kernel, EOPNOTSUPP from a file system that
    says so), messages and folders are still renamed, never over an
    existing name."""
    if build.sanitized:
        pytest.skip("the shim is for the plain build")
    shim = build_shim(str(srv.dir))
    restart_with_env(srv, LD_PRELOAD=shim, NOREPLACE_ERRNO=err)
    assert preloaded(srv, "noreplace_shim")
    d = ma.folder_dir(mailuser)
    ma.make_folder(mailuser, "Other")
    for i in range(4):
        ma.deliver(mailuser, "INBOX", f"<n{i}@x>", n=i)
    ma.age_dirs(mailuser)
    ino = {}
    for n in os.listdir(d / "new"):
        ino[ma.file_mid(d / "new" / n)] = os.stat(d / "new" / n).st_ino
    c = client(srv, mailuser)
    c.select("INBOX")
    assert len(c.seq) == 4 and ma.wait_new_empty(mailuser) == []
    c.identify(c.seq)
    c.ok("STORE 1 +FLAGS (\\Seen \\Flagged)")
    c.ok("UID COPY 2 Other")
    u, r = c.ok("UID MOVE 3 Other")
    inbox, inames = ma.census(mailuser)
    other, onames = ma.census(mailuser, "Other")
    assert inbox == Counter({"<n0@x>": 1, "<n1@x>": 1, "<n3@x>": 1}), inames
    assert other == Counter({"<n1@x>": 1, "<n2@x>": 1}), onames
    assert inames["<n0@x>"][0].endswith(":2,FS")
    od = ma.folder_dir(mailuser, "Other")
    st = {m: os.stat(od / onames[m][0]) for m in other}
    # COPY is a hard link, MOVE keeps the file (link, then unlink)
    assert st["<n1@x>"].st_ino == ino["<n1@x>"] and \
        st["<n1@x>"].st_nlink == 2, st
    assert st["<n2@x>"].st_ino == ino["<n2@x>"] and \
        st["<n2@x>"].st_nlink == 1, st
    for m in inbox:
        assert os.stat(d / inames[m][0]).st_ino == ino[m], m
    _, m = listing(srv, mailuser, "Other")
    assert sorted(m.values()) == ["<n1@x>", "<n2@x>"]
    # folders too: renamed, and never over one that exists
    c.ok("CREATE Taken")
    _, r = c.cmd("RENAME Other Taken")
    assert r.split()[1:3] == ["NO", "[ALREADYEXISTS]"], r
    c.ok("RENAME Other Renamed")
    _, m = listing(srv, mailuser, "Renamed")
    assert sorted(m.values()) == ["<n1@x>", "<n2@x>"]
