"""The full-text index behind SEARCH (imapd-uidcache(5), "THE FULL-TEXT
INDEX"): whatever part of a folder it covers, and whatever happened to
it, every SEARCH answers exactly as a server without it does.

Each test runs a server with the index and one with search_index = no
on the same Maildir, and compares.  The index's coverage is read from its
files by tests/lib/ftsfile.py, written from the manual page.  Searches
that must meet the index in a given state are sent pipelined with their
SELECT, so that the session never waits for its client meanwhile and
cannot index in between."""

import os
import random
import re
import signal
import threading
import time

import pytest

import ftsfile
import imapdtest
import mkmaildir
from imapdtest import Session, drop

WAIT = 120      # seconds the background indexing may take in a test


def chown_tree(user):
    if not imapdtest.IS_ROOT:
        return
    for root, dirs, names in os.walk(user.maildir()):
        for n in dirs + names:
            os.chown(os.path.join(root, n), user.uid, user.gid)
    os.chown(user.maildir(), user.uid, user.gid)


def literal(s):
    """A search string: quoted when it is plain ASCII, else a LITERAL+."""
    b = s.encode()
    if all(32 <= c < 127 and c not in b'"\\' for c in b):
        return '"' + s + '"'
    return "{%d+}\r\n" % len(b) + s


def answers(server, user, queries, folder="INBOX"):
    """UID SEARCH results for queries, all sent in one write right after
    the SELECT and before a LOGOUT: the session has input waiting
    throughout, so it does no indexing until it ends."""
    s = Session(server, user)
    text = "p0 SELECT %s\r\n" % folder + "".join(
        "p%d UID SEARCH CHARSET UTF-8 %s\r\n" % (i + 1, q)
        for i, q in enumerate(queries)) + "pz LOGOUT\r\n"
    s.raw.send(text.encode())
    s.read_tagged("p0", timeout=120)
    out = []
    for i, q in enumerate(queries):
        r = s.read_tagged("p%d" % (i + 1), timeout=300)
        assert r[-1].split()[1] == "OK", (q, r[-1])
        hits = [l for l in r if l.startswith("* SEARCH")]
        assert len(hits) == 1, (q, r)
        out.append(sorted(int(x) for x in hits[0].split()[2:]))
    s.read_tagged("pz", timeout=60)
    s.close()
    return out


def uids(server, user, folder="INBOX", with_uidvalidity=False):
    s = Session(server, user)
    sel = s.ok("SELECT %s" % folder, timeout=120)
    r = s.ok("UID SEARCH ALL", timeout=120)
    s.close()
    got = [int(x) for x in r[0].split()[2:]]
    if not with_uidvalidity:
        return got
    uv = int(re.search(r"UIDVALIDITY (\d+)", " ".join(sel)).group(1))
    return got, uv


def folder_dir(user, folder):
    md = user.maildir()
    return md if folder == "INBOX" else md / ("." + folder.replace("/", "."))


def wait_indexed(server, user, folder="INBOX", timeout=WAIT):
    """Select the folder, idle until its index covers every message,
    and return the index as read from its files."""
    want, uv = uids(server, user, folder, with_uidvalidity=True)
    s = Session(server, user)
    s.ok("SELECT %s" % folder, timeout=120)
    s.raw.send("i1 IDLE\r\n")
    assert s.raw.line(30).startswith("+")
    deadline = time.monotonic() + timeout
    while True:
        # (a damaged index is set aside by the session first)
        ix = ftsfile.Index(folder_dir(user, folder))
        if ix.problem is None and ix.uidvalidity == uv and \
                ix.covers_all(want):
            break
        assert time.monotonic() < deadline, \
            "not indexed after %d s: %s %s" % (timeout, ix.problem,
                                               ix.ranges)
        time.sleep(0.1)
    s.raw.send("DONE\r\n")
    s.read_tagged("i1", timeout=60)
    s.close()
    return ix


# --- a corpus with the hard parts -----------------------------------------

WORDS = ["meeting", "budget", "Zebracorn", "invoice", "release", "kernel",
         "grüße", "Ärger", "ﬁsh", "façade", "naïve", "Ελλάδα", "日本語",
         "привет", "straße", "café", "résumé", "coöperate", "ﬂow"]


def encoded_words(text, rnd):
    """A header value as RFC 2047 encoded words, cut at random bytes (so
    a character may be split between two words)."""
    raw = text.encode()
    out, i = [], 0
    while i < len(raw):
        n = rnd.randint(1, 9)
        chunk = raw[i:i + n]
        i += n
        if rnd.random() < 0.5:
            enc = "".join("=%02X" % c if c > 126 or c in b"=?_ " else
                          chr(c) for c in chunk)
            out.append("=?UTF-8?Q?" + enc + "?=")
        else:
            import base64
            out.append("=?UTF-8?B?" + base64.b64encode(chunk).decode() +
                       "?=")
    return " ".join(out) if out else ""


def body_part(text, rnd):
    """A text body in a random transfer encoding and charset."""
    import base64
    import quopri
    cs = "utf-8"
    data = text.encode()
    if rnd.random() < 0.3:
        try:
            data = text.encode("iso-8859-1")
            cs = "iso-8859-1"
        except UnicodeEncodeError:
            pass
    kind = rnd.choice(["8bit", "quoted-printable", "base64"])
    if kind == "quoted-printable":
        enc = quopri.encodestring(data).decode("ascii")
    elif kind == "base64":
        enc = base64.encodebytes(data).decode("ascii")
    else:
        enc = data.decode(cs)
    sub = "html" if rnd.random() < 0.2 else "plain"
    return (f"Content-Type: text/{sub}; charset={cs}\n"
            f"Content-Transfer-Encoding: {kind}\n\n{enc}\n")


def sentence(rnd, n):
    return " ".join(rnd.choice(WORDS + ["the", "and", "of"])
                    for _ in range(n))


def crafted(rnd, k):
    """A message whose subject is encoded words, whose body is encoded
    and maybe multipart; and the decoded text, for choosing needles."""
    subject = sentence(rnd, rnd.randint(1, 4))
    body = sentence(rnd, rnd.randint(3, 40))
    name = rnd.choice(WORDS) + ", " + rnd.choice(WORDS)
    addr = f"u{k}@example.org"
    # FROM reads the address as "name <mailbox@host>", whatever the
    # header's quotes, comments and encoded words
    form = rnd.randrange(3)
    if form == 0:
        sender = f"{encoded_words(name, rnd)} <{addr}>"
    elif form == 1:
        sender = f'"{name}" <{addr}>'
    else:
        sender = f"{addr} ({name})"
    head = (f"From: {sender}\n"
            f"To: team@example.org\nSubject: {encoded_words(subject, rnd)}\n"
            f"X-Tag: tag{k} {rnd.choice(WORDS)}\n"
            f"Message-ID: <m{k}@test>\nMIME-Version: 1.0\n")
    if rnd.random() < 0.4:
        other = sentence(rnd, rnd.randint(2, 10))
        msg = (head + 'Content-Type: multipart/alternative; boundary="b"\n'
               "\n--b\n" + body_part(body, rnd) + "--b\n" +
               body_part("<p>" + other + "</p>", rnd) + "--b--\n")
        texts = [subject, f"{name} <{addr}>", body, other]
    else:
        msg = head + body_part(body, rnd)
        texts = [subject, f"{name} <{addr}>", body]
    return msg, texts


def needles_for(texts, rnd, n):
    """Pieces of the decoded texts, in other cases, of every length
    (short ones cannot be looked up and must still be answered)."""
    out = set()
    pool = [t for t in texts if t]
    while len(out) < n:
        t = rnd.choice(pool)
        a = rnd.randrange(len(t))
        piece = t[a:a + rnd.randint(1, 12)].strip()
        if not piece or '"' in piece or "\\" in piece:
            continue
        if rnd.random() < 0.5:
            piece = piece.swapcase()
        out.add(piece)
    out |= {"xylophonequark", "zz", "日本", "ΕΛΛΆΔΑ", "FISH", "Strasse"}
    return sorted(out)


def queries_for(needles, rnd):
    q = []
    for w in needles:
        x = literal(w)
        q.append("BODY " + x)
        q.append("TEXT " + x)
        kind = rnd.randrange(4)
        q.append(["SUBJECT ", "FROM ", "HEADER X-Tag ", "NOT BODY "][kind] +
                 x)
    q += ["OR BODY %s SUBJECT %s" % (literal(needles[0]),
                                     literal(needles[1])),
          "BODY %s UNSEEN" % literal(needles[2]), "ALL"]
    return q


def corpus(user, seed, realistic=300, extra=120, deliver=True):
    """Realistic mail from mkmaildir and crafted messages; the needles and
    queries to ask of them.  With deliver False, the crafted messages are
    returned for delivering later."""
    imapdtest.maildir_reset(user)
    summary = mkmaildir.make(str(user.maildir()), count=realistic,
                             seed=seed, flags=True)
    chown_tree(user)
    rnd = random.Random(seed)
    msgs, texts = [], []
    junctions = []
    for k in range(extra):
        m, t = crafted(rnd, k)
        msgs.append(m)
        texts += t
        # where the display name meets the address: only the way FROM
        # writes an address has it
        j = t[1].index(" <")
        junctions.append(t[1][j - 2:j + 5])
    if deliver:
        for m in msgs:
            drop(user, m)
    needles = needles_for(texts, rnd, 30) if texts else []
    needles += [n["word"] for n in summary["needles"]]
    queries = queries_for(needles, rnd)
    queries += ["FROM " + literal(j) for j in junctions[:15]]
    return queries, msgs


def meaningful(results):
    """Whether a set of answers can tell a good index from a bad one:
    some empty, some with many hits."""
    sizes = [len(r) for r in results]
    return sizes.count(0) >= 3 and sum(1 for s in sizes if s >= 2) >= 10


# --- the tests ---------------------------------------------------------------

def test_same_answers_index_off_partial_on_damaged(server_factory,
                                                  mailuser):
    queries, later = corpus(mailuser, seed=21, realistic=200, extra=100,
                            deliver=False)
    on = server_factory()
    off = server_factory(search_index="no")
    # half of the folder indexed: the realistic half
    wait_indexed(on, mailuser)
    first = set(uids(off, mailuser))
    for m in later:
        drop(mailuser, m)
    expected = answers(off, mailuser, queries)
    assert meaningful(expected)
    everything = uids(off, mailuser)
    ix = ftsfile.Index(mailuser.maildir())
    assert ix.covers_all(first) and not any(
        ix.covers(u) for u in set(everything) - first)
    assert answers(on, mailuser, queries) == expected
    # the answers came with the index half built: no indexing between
    assert ftsfile.Index(mailuser.maildir()).ranges == ix.ranges
    # all of it
    wait_indexed(on, mailuser)
    assert answers(on, mailuser, queries) == expected
    # damaged: lists of the snapshot and records of the journal
    md = mailuser.maildir()
    damaged = 0
    for name in ("imapd-fts.index", "imapd-fts.log"):
        p = md / name
        if p.exists() and p.stat().st_size > 4096:
            data = bytearray(p.read_bytes())
            for i in range(100, len(data) - 4096, 211):
                data[i] ^= 0xa5
            p.write_bytes(bytes(data))
            damaged += 1
    assert damaged > 0
    assert answers(on, mailuser, queries) == expected
    # the damage is set aside and the index built again
    ix = wait_indexed(on, mailuser)
    assert ix.covers_all(everything)
    assert answers(on, mailuser, queries) == expected
    assert "damaged" in on.log()
    assert answers(off, mailuser, queries) == expected


def test_random_model(server_factory, mailuser):
    """Random messages (encoded words cut anywhere, QP, base64, Latin-1,
    HTML, multipart) and random needles (pieces of their decoded text,
    case changed, non-ASCII): index and confirmation answer as a scan."""
    for seed in (3, 4):
        queries, _ = corpus(mailuser, seed=seed, realistic=40, extra=150)
        on = server_factory()
        off = server_factory(search_index="no")
        expected = answers(off, mailuser, queries)
        assert meaningful(expected)
        wait_indexed(on, mailuser)
        got = answers(on, mailuser, queries)
        diff = [(q, e, g) for q, e, g in zip(queries, expected, got)
                if e != g]
        assert not diff, diff[:5]
        on.stop()
        off.stop()


def back_processes(server, user):
    """The session processes serving user (they run as the user)."""
    out = []
    for pid in imapdtest.proc_children(server.proc.pid):
        for q in [pid] + imapdtest.proc_children(pid):
            try:
                st = imapdtest.proc_status(q)
            except OSError:
                continue
            if int(st["Uid"].split()[0]) == user.uid:
                out.append(q)
    return out


@pytest.mark.skipif(not imapdtest.IS_ROOT, reason="sessions are told "
                    "apart from the master by their uid (root only)")
def test_killed_while_indexing(server_factory, mailuser):
    """Sessions killed at random moments while they index and merge:
    what is left is the old index or the new, never one that hides a
    match, and indexing goes on from there."""
    queries, _ = corpus(mailuser, seed=31, realistic=700, extra=40)
    queries = queries[::3]
    on = server_factory()
    off = server_factory(search_index="no")
    expected = answers(off, mailuser, queries)
    # a few of them after each kill, all of them at the end
    some = queries[::4]
    expected_some = expected[::4]
    assert meaningful(expected)
    rnd = random.Random(31)
    kills = 0
    for _ in range(6):
        s = Session(on, mailuser)
        s.ok("SELECT INBOX", timeout=120)
        s.raw.send("k IDLE\r\n")
        assert s.raw.line(30).startswith("+")
        time.sleep(rnd.uniform(0.05, 1.5))
        for pid in back_processes(on, mailuser):
            os.kill(pid, signal.SIGKILL)
            kills += 1
        s.close()
        ix = ftsfile.Index(mailuser.maildir())
        assert ix.problem is None, ix.problem
        assert answers(on, mailuser, some) == expected_some
    assert kills >= 6
    wait_indexed(on, mailuser)
    assert answers(on, mailuser, queries) == expected
    md = mailuser.maildir()
    assert not (md / "imapd-fts.index.damaged").exists()
    assert "damaged" not in on.log()


def mda_message(rnd, k):
    """A delivery with the shared needle and its own token in its body,
    in a random encoding."""
    body = "%s sharedneedle %s mda%05d\n" % (sentence(rnd, 8),
                                            sentence(rnd, 3), k)
    return (f"From: mda@example.org\nTo: team@example.org\n"
            f"Subject: {encoded_words(sentence(rnd, 3), rnd)}\n"
            f"Message-ID: <mda{k}@test>\nX-Mda: yes\nMIME-Version: 1.0\n"
            + body_part(body, rnd))


def test_mda_delivers_during_searches(server_factory, mailuser):
    """An MDA delivers while one session searches and another idles
    (and so indexes): no search may miss a delivered message that its
    session shows."""
    corpus(mailuser, seed=41, realistic=300, extra=0)
    on = server_factory()
    stop = threading.Event()
    delivered = []
    rnd = random.Random(41)

    def mda():
        k = 0
        while not stop.is_set() and k < 400:
            drop(mailuser, mda_message(rnd, k))
            delivered.append(k)
            k += 1
            time.sleep(0.005)

    idler = Session(on, mailuser)
    idler.ok("SELECT INBOX", timeout=120)
    idler.raw.send("x IDLE\r\n")
    assert idler.raw.line(30).startswith("+")
    t = threading.Thread(target=mda)
    t.start()
    s = Session(on, mailuser)
    s.ok("SELECT INBOX", timeout=120)
    checks = 0
    try:
        while t.is_alive() or checks < 10:
            # an MDA message the index calls free of the needle
            r = s.ok('UID SEARCH NOT BODY sharedneedle HEADER X-Mda ""',
                     timeout=120)
            hits = [l for l in r if l.startswith("* SEARCH")][0]
            assert hits == "* SEARCH", hits
            r = s.ok('UID SEARCH BODY sharedneedle NOT HEADER X-Mda ""',
                     timeout=120)
            hits = [l for l in r if l.startswith("* SEARCH")][0]
            assert hits == "* SEARCH", hits
            # the newest delivery is in the view by the time SEARCH
            # looks (it syncs first), and must be found
            if delivered:
                k = delivered[-1]
                r = s.ok("UID SEARCH TEXT mda%05d" % k, timeout=120)
                hits = [l for l in r if l.startswith("* SEARCH")][0]
                assert len(hits.split()) == 3, (k, hits)
            checks += 1
    finally:
        stop.set()
        t.join(60)
    # everything delivered is found, indexed or not
    r = s.ok("UID SEARCH BODY sharedneedle", timeout=120)
    n = len([l for l in r if l.startswith("* SEARCH")][0].split()) - 2
    assert n == len(delivered)
    assert checks >= 10
    idler.raw.send("DONE\r\n")
    idler.close()
    s.close()
    ix = wait_indexed(on, mailuser)
    assert ix.problem is None


def test_append_elsewhere_is_indexed(server, mailuser):
    """Messages appended to a folder the session has not selected are
    indexed once a session selects it, and found."""
    imapdtest.maildir_reset(mailuser)
    drop(mailuser, imapdtest.message(body="inbox text\n"))
    s = Session(server, mailuser)
    s.ok("SELECT INBOX")
    s.ok("CREATE Work")
    uids_new = []
    for k in range(3):
        msg = imapdtest.crlf(imapdtest.message(
            subject="plan %d" % k, body="appendedword%d\n" % k))
        r = s.ok("APPEND Work {%d+}\r\n" % len(msg) + msg.decode())
        uids_new.append(int(re.search(r"APPENDUID \d+ (\d+)",
                                      r[-1]).group(1)))
    s.close()
    ix = wait_indexed(server, mailuser, "Work")
    assert ix.covers_all(uids_new), ix.ranges
    s = Session(server, mailuser)
    s.ok("SELECT Work")
    r = s.ok("UID SEARCH BODY appendedword1")
    assert r[0] == "* SEARCH %d" % uids_new[1]
    s.close()


def test_index_moves_with_the_folder_and_off_means_off(server_factory,
                                                       mailuser):
    imapdtest.maildir_reset(mailuser)
    for k in range(30):
        drop(mailuser, imapdtest.message(body="word%d shared\n" % k),
             folder="Old")
    on = server_factory()
    wait_indexed(on, mailuser, "Old")
    s = Session(on, mailuser)
    s.ok("RENAME Old New")
    s.close()
    ix = ftsfile.Index(folder_dir(mailuser, "New"))
    assert ix.covers_all(uids(on, mailuser, "New"))
    assert answers(on, mailuser, ["BODY word7", "BODY shared"],
                   "New") == [[8], list(range(1, 31))]
    # nothing is left under the old name; DELETE takes the index with
    # the folder
    assert not folder_dir(mailuser, "Old").exists()
    s = Session(on, mailuser)
    s.ok("DELETE New")
    s.close()
    assert not folder_dir(mailuser, "New").exists()
    on.stop()
    # a folder selected with search_index = no gets no index
    for k in range(5):
        drop(mailuser, imapdtest.message(body="x\n"), folder="Plain")
    off = server_factory(search_index="no")
    s = Session(off, mailuser)
    s.ok("SELECT Plain")
    s.ok("SEARCH BODY x")
    time.sleep(0.5)
    s.ok("NOOP")
    s.close()
    assert not any(p.name.startswith("imapd-fts") for p in
                   folder_dir(mailuser, "Plain").iterdir())


def test_new_uidvalidity_drops_the_index(server, mailuser):
    imapdtest.maildir_reset(mailuser)
    for k in range(20):
        drop(mailuser, imapdtest.message(body="old%d\n" % k))
    old = wait_indexed(server, mailuser)
    # the UID cache lost: every message gets a UID under a new
    # UIDVALIDITY, and the index of the old one must not be believed
    md = mailuser.maildir()
    for p in md.iterdir():
        if p.name.startswith("imapd-uidcache"):
            p.unlink()
    assert answers(server, mailuser, ["BODY old3"]) == [[4]]
    new = wait_indexed(server, mailuser)
    assert new.uidvalidity != old.uidvalidity
    assert answers(server, mailuser, ["BODY old3", "BODY old19"]) == \
        [[4], [20]]
