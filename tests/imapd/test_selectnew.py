"""The files a read-write SELECT finds in new/.

SELECT answers once it has read the directories and given every file its
UID, the files in new/ where they are; the session moves them to cur/
afterwards, while its client is quiet (between commands and during
IDLE), and records the moves in the UID cache.  What must hold, whatever
other sessions and programs do meanwhile:

  - every message keeps the UID it was shown, in new/ and after the move;
  - no UID is used for two messages, and every message is listed once;
  - each message is \\Recent in exactly one read-write session;
  - new/ ends up empty while the session stays selected, without the
    client sending anything;
  - new mail that arrives while the session moves files during IDLE is
    still announced.
"""

import os
import random
import re
import socket
import threading
import time
from collections import Counter

import pytest

import imapdtest
import mailactors as ma

NEW = 1500                      # files in new/ when the SELECTs come
CUR = 2500                      # and in cur/
SESSIONS = 3
SECONDS = float(os.environ.get("IMAPD_TORTURE_SECONDS", "8")) / 2
SETTLE = 300                    # seconds new/ may take to empty (ASan)


@pytest.fixture(scope="session")
def template(workdir, mailuser):
    return ma.Template(workdir, mailuser, CUR + NEW, tag="sn", new=NEW)


@pytest.fixture
def srv(server_factory, mailuser):
    imapdtest.maildir_reset(mailuser)
    ma.make_folder(mailuser, "INBOX")
    return server_factory(allow_plaintext_auth="yes")


def new_names(mailuser):
    return [n for n in os.listdir(ma.folder_dir(mailuser) / "new")
            if not n.startswith(".")]


def wait_new_empty(mailuser, what):
    left = ma.wait_new_empty(mailuser, timeout=SETTLE)
    assert not left, f"{what}: {len(left)} files still in new/, e.g. " \
        f"{left[:3]}"


def recent_uids(c):
    """The UIDs that are \\Recent in c's session now."""
    u, r = c.cmd("FETCH 1:* (UID FLAGS)", timeout=120)
    assert r.split()[1] == "OK", r
    out = set()
    for line in u:
        m = ma.FETCH_RX.match(line)
        if m and "\\Recent" in m.group(2):
            mu = re.search(r"\bUID (\d+)", m.group(2))
            out.add(int(mu.group(1)))
    return out


def check_listing(srv, mailuser, ledger, failures):
    """A fresh read-only look: every file listed once, under the UID the
    sessions were shown.  The UIDs listed."""
    fin = ma.Client(srv, mailuser, ma.Ledger(), "final")
    try:
        uidv, pairs = ma.fetch_all(fin, "INBOX")
    finally:
        fin.close()
    if uidv != ledger.uidvalidity.get("INBOX"):
        failures.append(f"UIDVALIDITY is now {uidv}, sessions saw "
                        f"{ledger.uidvalidity.get('INBOX')}")
    counts, names = ma.census(mailuser)
    listed = Counter(m for _, m in pairs)
    for mid, n in listed.items():
        if n != 1:
            failures.append(f"{mid} listed {n} times")
    for mid in set(counts) - set(listed):
        failures.append(f"{mid} is on disk ({names[mid]}) but not listed")
    for mid in set(listed) - set(counts):
        failures.append(f"{mid} is listed but not on disk")
    shown = {}
    for uid, mids in ledger.shown.get(("INBOX", uidv), {}).items():
        for m in mids:
            shown.setdefault(m, set()).add(uid)
    for uid, mid in pairs:
        if mid in shown and shown[mid] != {uid}:
            failures.append(f"{mid} is UID {uid} now, was shown as "
                            f"{sorted(shown[mid])}")
    failures += ledger.check_shown()
    failures += ledger.check_expunges()
    failures += ledger.check_disk(counts, Counter())
    return {u for u, _ in pairs}


def test_selects_while_others_deliver_and_rename(srv, mailuser, template):
    """Several sessions select a folder whose new/ holds many files while
    an MDA delivers, a mail reader renames cur/ files and another moves
    new/ files itself; the invariants hold and new/ empties."""
    initial = template.link(mailuser, "INBOX")
    assert len(new_names(mailuser)) == NEW
    ledger = ma.Ledger()
    for mid, name in initial.items():
        ledger.create(mid)
        ledger.bases[ma.base_of(name)] = mid
    rnd = random.Random(12)
    stop = threading.Event()
    fs = [ma.Renamer(mailuser, ledger, stop, rnd.randrange(1 << 30),
                     pause=0.002),
          ma.Mda(mailuser, ledger, stop, rnd.randrange(1 << 30)),
          ma.Mover(mailuser, ledger, stop, rnd.randrange(1 << 30))]
    for a in fs:
        a.start()
    clients = [ma.Client(srv, mailuser, ledger, f"rw{i}", timeout=120)
               for i in range(SESSIONS)]
    recent = {c.who: set() for c in clients}
    errors = []

    def session(c):
        try:
            u, r = c.select("INBOX")
            assert r.split()[1] == "OK", r
            recent[c.who] |= recent_uids(c)
            c.identify(c.known())
            # a client that looks now and then; the moves happen in
            # between
            end = time.monotonic() + SECONDS
            n = 0
            while time.monotonic() < end and n < 500:
                time.sleep(0.05)
                c.ok("NOOP")
                c.learn_uids()
                c.identify(c.known())
                n += 1
        except Exception as e:
            errors.append(f"{c.who}: {e!r}")

    threads = [threading.Thread(target=session, args=(c,), daemon=True)
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SETTLE)
    stop.set()
    for a in fs:
        a.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    # mail delivered since a session's last look is moved at its next
    # sync; what the SELECTs left moves with no command at all
    for c in clients:
        c.ok("NOOP")
        c.learn_uids()
        c.identify(c.known())
    wait_new_empty(mailuser, "with the sessions selected and quiet")
    failures = list(ledger.failures)
    for c in clients:
        recent[c.who] |= recent_uids(c)
    uids = check_listing(srv, mailuser, ledger, failures)
    seen = Counter(u for s in recent.values() for u in s)
    twice = sorted(u for u, n in seen.items() if n > 1)
    if twice:
        failures.append(f"\\Recent in two sessions: {twice[:10]}")
    never = sorted(uids - set(seen))
    if never:
        failures.append(f"\\Recent in no session: {never[:10]} "
                        f"({len(never)})")
    for c in clients:
        c.close()
    assert not failures, "\n".join(failures[:40])
    assert sum(a.n for a in fs[1:]) > 0 and fs[0].done > 0


def test_moves_during_idle_keep_uids_and_new_mail_is_told(srv, mailuser,
                                                         template):
    """A client that IDLEs right after SELECT: new/ empties during the
    IDLE, nothing it was shown changes, and mail delivered meanwhile is
    announced."""
    ledger = ma.Ledger()
    for mid in template.link(mailuser, "INBOX"):
        ledger.create(mid)
    ledger.create("<late@x>")
    c = ma.Client(srv, mailuser, ledger, "idler", timeout=120)
    u, r = c.select("INBOX")
    assert r.split()[1] == "OK", r
    assert len(c.seq) == CUR + NEW
    c.identify(c.known())
    t = c.tag()
    c.conn.send(f"{t} IDLE\r\n")
    first = c.conn.response(60)
    assert first.startswith("+"), first
    ma.deliver(mailuser, "INBOX", "<late@x>")
    told = None
    deadline = time.monotonic() + SETTLE
    while told is None and time.monotonic() < deadline:
        try:
            line = c.conn.response(deadline - time.monotonic())
        except (socket.timeout, TimeoutError):
            break
        c.absorb(line)
        if line == f"* {CUR + NEW + 1} EXISTS":
            told = line
    assert told, "the delivery during IDLE was not announced"
    wait_new_empty(mailuser, "during IDLE")
    c.conn.send("DONE\r\n")
    u, r = c.read_until(t)
    assert r.split()[1] == "OK", r
    c.learn_uids()
    c.identify(c.known())
    assert c.mids.get(max(c.known())) == "<late@x>"
    c.close()
    failures = list(ledger.failures)
    check_listing(srv, mailuser, ledger, failures)
    assert not failures, "\n".join(failures[:40])
