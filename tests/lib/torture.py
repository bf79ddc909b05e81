"""The UID contract's torture run (see tests/imapd/test_uidcontract.py
for the contract): many actors at once on a large INBOX, then every
invariant checked.  The sessions may be spread over several servers
sharing one store, and the file-system actors may work through another
path to it (another host's mount of a shared file system)."""

import os
import random
import threading
import time
from collections import Counter, defaultdict

import imapdtest
import mailactors as ma

SECONDS = float(os.environ.get("IMAPD_TORTURE_SECONDS", "8"))


def report(failures, notes=None, limit=40):
    text = "\n".join(failures[:limit])
    if len(failures) > limit:
        text += f"\n... and {len(failures) - limit} more"
    if notes:
        text += f"\nnotes: {dict(notes)}"
    return text



def run_torture(server_factory, mailuser, template, seed, kills=0,
                seconds=SECONDS, fs=("renamer", "mda", "mover"), idle=True,
                sessions=3, examine=True, servers=None, fs_user=None):
    """Run the actors for `seconds` (killing the whole server `kills`
    times at random moments), then check the contract.  servers: a
    function returning the servers to spread the sessions over (started,
    plain-text login allowed; default one from server_factory); fs_user:
    the mail user as the file-system actors see the store (default
    mailuser)."""
    rnd = random.Random(seed)
    imapdtest.maildir_reset(mailuser)
    ma.make_folder(mailuser, "INBOX")
    ma.make_folder(mailuser, "Other")
    ma.age_dirs(mailuser, "Other")
    t = time.monotonic()
    initial = template.link(mailuser, "INBOX")
    phases = {"setup": time.monotonic() - t}
    ledger = ma.Ledger()
    for mid, name in initial.items():
        ledger.create(mid)
        ledger.bases[ma.base_of(name)] = mid
    if servers is None:
        hosts = [server_factory(allow_plaintext_auth="yes")]
    else:
        hosts = servers()
    assert kills == 0 or len(hosts) == 1, "kills are of a single server"
    srv = hosts[0]
    fs_user = fs_user or mailuser

    # a first session gives every message its UID and shows them all
    base = ma.Client(srv, mailuser, ledger, "baseline")
    base.select("INBOX")
    base.ok(f"UID FETCH 1:* (UID {ma.HDR_ITEM})", timeout=300)
    base.close()
    phases["baseline"] = time.monotonic() - t

    stop = threading.Event()
    actors = [ma.ImapActor(hosts[i % len(hosts)], mailuser, ledger,
                           f"rw{i}", rnd.randrange(1 << 30), stop)
              for i in range(sessions)]
    if examine:
        actors.append(ma.ImapActor(hosts[sessions % len(hosts)], mailuser,
                                   ledger, "ro", rnd.randrange(1 << 30),
                                   stop, examine=True))
    fs_actors = [ma.Renamer(fs_user, ledger, stop, rnd.randrange(1 << 30),
                            pause=0.001, burst=(30, (0.02, 0.3))),
                 ma.Mda(fs_user, ledger, stop, rnd.randrange(1 << 30)),
                 ma.Mover(fs_user, ledger, stop, rnd.randrange(1 << 30))]
    fs_actors = [a for a in fs_actors if a.name in fs]
    for a in actors:
        a.idle = idle
    for a in actors + fs_actors:
        a.start()
    t0 = time.monotonic()
    kill_at = sorted(rnd.uniform(0.15, 0.85) * seconds for _ in range(kills))
    for k in kill_at:
        time.sleep(max(0.0, t0 + k - time.monotonic()))
        with ledger.lock:
            ledger.kills += 1
        ma.kill_server(srv)
        srv.start()
    time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    # on a loaded machine (ASan) the sessions can spend all that time
    # learning their views: go on until one has stored something, within
    # a bound, so that the last check below tests the actors, not the load
    deadline = time.monotonic() + 10 * seconds
    while (sum(a.ops["store"] for a in actors) == 0 and
           time.monotonic() < deadline):
        time.sleep(0.1)
    stop.set()
    for a in actors + fs_actors:
        a.join(90)
        if a.is_alive():
            ledger.fail(f"{a.name} did not stop within 90 s")

    phases["actors"] = time.monotonic() - t0
    t = time.monotonic()
    failures = list(ledger.failures)
    other, _ = ma.census(mailuser, "Other")

    # a fresh session lists every message once, with the UIDs shown before
    fin = ma.Client(srv, mailuser, ma.Ledger(), "final")
    uidv, pairs = ma.fetch_all(fin, "INBOX", examine=False)
    if uidv != ledger.uidvalidity.get("INBOX"):
        failures.append(f"d) UIDVALIDITY is now {uidv}, sessions saw "
                        f"{ledger.uidvalidity.get('INBOX')}")
    inbox, inbox_names = ma.census(mailuser, "INBOX")   # after the SELECT
    listed = Counter(m for _, m in pairs)
    for mid, n in listed.items():
        if n != 1:
            failures.append(f"d) final session lists {mid} {n} times")
    on_disk = {m for m, n in inbox.items() if n > 0}
    for mid in on_disk - set(listed):
        failures.append(f"d) {mid} is on disk ({inbox_names[mid]}) but "
                        f"not listed")
    for mid in set(listed) - on_disk:
        failures.append(f"d) {mid} is listed but not on disk")
    earlier = defaultdict(set)
    for uid, mids in ledger.shown.get(("INBOX", uidv), {}).items():
        for m in mids:
            earlier[m].add(uid)
    for uid, mid in pairs:
        if mid in earlier and earlier[mid] != {uid}:
            failures.append(f"d) {mid} is UID {uid} now, was shown as "
                            f"{sorted(earlier[mid])}")
    _, opairs = ma.fetch_all(fin, "Other")
    if Counter(m for _, m in opairs) != +other:
        failures.append(f"d) Other lists {len(opairs)} messages, "
                        f"{sum(other.values())} files on disk")
    fin.close()

    failures += ledger.check_shown()
    failures += ledger.check_expunges()
    failures += ledger.check_disk(inbox, other)
    for who, bye in ledger.byes:
        failures.append(f"{who} was told {bye}")
    for h in hosts:
        for line in h.log().splitlines():
            if "shares its base name" in line:
                failures.append("e) server log: " + line)
    phases["checks"] = time.monotonic() - t
    ops, optime = Counter(), Counter()
    for a in actors:
        ops.update(a.ops)
        optime.update(a.optime)
    fs_done = [(a.name, getattr(a, "done", getattr(a, "n", 0)))
               for a in fs_actors]
    print(f"seed {seed}: ops {dict(ops)}, {fs_done}, kills {kills}, "
          f"seconds {dict((k, round(v, 1)) for k, v in optime.items())}, "
          f"notes {dict(ledger.notes)}, phases "
          f"{dict((k, round(v, 1)) for k, v in phases.items())}")
    # the rarer kinds first: a flood of one kind must not hide them
    kinds = Counter(f.split(")")[0] if f[1:2] == ")" else "other"
                    for f in failures)
    failures.sort(key=lambda f: kinds[f.split(")")[0] if f[1:2] == ")"
                                      else "other"])
    assert not failures, report(failures, ledger.notes) + \
        f"\nfailures by kind: {dict(kinds)}"
    # the actors did do something
    assert ops["store"] > 0, ops
