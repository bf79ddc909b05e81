"""A multi-client protocol stress test.

Three users -- the Unix test user (PAM) and two virtual users from a
userdb of the test's own, mapped to the same uid, each with a Maildir of
its own made by mkmaildir (a few thousand realistic messages with flags,
keywords and folders) -- and two or three sessions per user do what mail
clients do, at random: SELECT and EXAMINE, FETCH of every kind of item
(FLAGS, UID, RFC822.SIZE, INTERNALDATE, ENVELOPE, BODYSTRUCTURE, BODY,
BODY.PEEK sections and partials, BINARY.PEEK and BINARY.SIZE, the
macros), STORE, EXPUNGE and UID EXPUNGE, APPEND (also MULTIAPPEND, with
and without synchronizing literals), COPY, MOVE, SEARCH (with ESEARCH
RETURN options), STATUS, LIST, NOOP, CHECK, IDLE, CLOSE, UNSELECT,
LOGOUT and logging in again, some with IMAP4rev2 enabled and one over
TLS; an MDA delivers meanwhile.

The sessions take turns from one thread in an order drawn from the seed,
so that a seed always sends the same commands, and the test knows at
every moment what each folder holds.  Every response is parsed after
RFC 9051's grammar and checked against each client's model of its view
and against that knowledge (stressclient says what is checked).  At the
end every folder on disk must hold exactly the messages and flags the
test expects.

IMAPD_STRESS_STEPS sets the number of steps per seed (default 1200, about
10 s per seed with the plain build), IMAPD_STRESS_SEEDS adds seeds ("3,4")
to the ones always run (1, 2 and 6), IMAPD_STRESS_KEEP_GOING=1 records every failure
(starting every session afresh after each) instead of stopping at the
first, and IMAPD_STRESS_TRANSCRIPT sets how many lines of each session's
transcript a failure shows (default 30).
"""

import os
import pathlib
import random
import secrets
import time

import pytest

import imapdtest
import mkmaildir
import stressclient as sc

STEPS = int(os.environ.get("IMAPD_STRESS_STEPS", "1200"))
# Seeds 1 and 6 (not 2) find the structure cache's use-after-free of a
# record put back from pending data (test-msgcache.c:
# test_put_from_pending) when its fix is taken out: seed 6 in 149
# commands, seed 1 in 793.  Seed 2 stays for the different mix it sends.
SEEDS = [1, 2, 6] + [int(x) for x in
                     os.environ.get("IMAPD_STRESS_SEEDS", "").split(",")
                     if x]
KEEP_GOING = os.environ.get("IMAPD_STRESS_KEEP_GOING") == "1"
# (login, messages) of the users; the first is the Unix test user
USERS = [(None, 2500), ("stress1", 2000), ("stress2", 1500)]
SESSIONS = {0: 3, 1: 2, 2: 2}
FOLDERS = 7


class StressUser:
    def __init__(self, name, login, password, home):
        self.name, self.login, self.password = name, login, password
        self.home = pathlib.Path(home)
        self.maildir = str(self.home / "Maildir")
        self.folders = []


def chown_tree(top, uid, gid):
    if not imapdtest.IS_ROOT:
        return
    os.chown(top, uid, gid)
    for root, dirs, names in os.walk(top):
        for n in dirs + names:
            os.chown(os.path.join(root, n), uid, gid)


def make_users(workdir, mailuser, seed):
    """The users, their Maildirs, and a userdb for the virtual ones."""
    d = pathlib.Path(workdir) / f"stress-{seed}-{secrets.token_hex(3)}"
    d.mkdir()
    d.chmod(0o755)
    tool = imapdtest.ROOT / "tools" / "imapd-userdb"
    lines = []
    users = []
    for i, (login, count) in enumerate(USERS):
        if login is None:
            imapdtest.maildir_reset(mailuser)
            u = StressUser(mailuser.name, mailuser.name, mailuser.password,
                           mailuser.home)
        else:
            home = d / "home" / login
            home.mkdir(parents=True)
            (d / "home").chmod(0o755)
            if imapdtest.IS_ROOT:
                os.chown(home, mailuser.uid, mailuser.gid)
            home.chmod(0o700)
            pw = "st-" + secrets.token_urlsafe(9)
            h = imapdtest.run([tool, "-p", "-m", "sha512"],
                              input=(pw + "\n").encode()).stdout.decode()
            lines.append(f"{login}:{h.strip()}:{mailuser.uid}:"
                         f"{mailuser.gid}:{home}\n")
            u = StressUser(login, login, pw, home)
        summary = mkmaildir.make(u.maildir, count=count,
                                 seed=seed * 100 + i, folders=FOLDERS,
                                 new=3, flags=True, keywords=True)
        chown_tree(u.maildir, mailuser.uid, mailuser.gid)
        u.folders = list(summary["folders"])
        users.append(u)
    if not imapdtest.IS_ROOT:
        # without root the Unix user logs in through the userdb as well
        h = imapdtest.run([tool, "-p", "-m", "sha512"],
                          input=(mailuser.password + "\n").encode())
        lines.append(f"{mailuser.name}:{h.stdout.decode().strip()}:"
                     f"{mailuser.uid}:{mailuser.gid}:{mailuser.home}\n")
    (d / "userdb").write_text("".join(lines))
    imapdtest.run([tool, "-o", d / "userdb.cdb", d / "userdb"])
    pool_dir = d / "pool"
    mkmaildir.make(str(pool_dir), count=120, seed=seed * 100 + 99)
    return d, users, pool_dir


def index_content(world, users):
    """What the test knows of every message on disk before the run: its
    bytes (as IMAP sends them), its INTERNALDATE, its flags."""
    for u in users:
        for f in u.folders:
            tr = world.folder(u.name, f)
            for (mid, flags), n in sc.disk_state(u.maildir, f).items():
                assert n == 1 and mid is not None, (u.name, f, mid)
                tr.pending[mid] = flags
            fd = u.maildir if f == "INBOX" else os.path.join(
                u.maildir, "." + f.replace("/", "."))
            for sub in ("cur", "new"):
                for n in os.listdir(os.path.join(fd, sub)):
                    p = os.path.join(fd, sub, n)
                    with open(p, "rb") as fh:
                        data = fh.read()
                    mid = sc.header_mid(data)
                    world.content[mid] = sc.Content(
                        sc.crlf(data), int(os.stat(p).st_mtime))


@pytest.mark.parametrize("seed", SEEDS)
def test_stress(server_factory, build, workdir, mailuser, seed, capsys):
    t0 = time.monotonic()
    d, users, pool_dir = make_users(workdir, mailuser, seed)
    srv = server_factory(allow_plaintext_auth="yes",
                         userdb=d / "userdb.cdb")
    lines = []
    world = sc.World(seed, keep_going=KEEP_GOING)
    index_content(world, users)
    pool = sc.Pool(str(pool_dir), seed)
    rnd = random.Random(seed)
    setup = time.monotonic() - t0

    # a first session per user sees every folder: the truth gets its UIDs
    for i, u in enumerate(users):
        base = sc.Actor(world, u, f"base{i}", random.Random(0), srv,
                        u.folders)
        base.connect()
        for f in u.folders:
            base.select(f)
            base.check_sync()
        base.logout()
    world.clients.clear()
    world.events.clear()
    world.commands = 0
    baseline = time.monotonic() - t0 - setup

    actors = []
    for i, u in enumerate(users):
        for j in range(SESSIONS[i]):
            k = len(actors)
            actors.append(sc.Actor(world, u, f"{'abc'[i]}{j}",
                                   random.Random(rnd.randrange(1 << 30)),
                                   srv, u.folders, tls=(k == 1),
                                   rev2=(k % 3 == 2)))
    mda = sc.Mda(world, sc.Pool(str(pool_dir), seed + 1000),
                 mailuser.uid if imapdtest.IS_ROOT else None,
                 mailuser.gid if imapdtest.IS_ROOT else None)
    runner = sc.Runner(world, actors, users, mda, pool, rnd)
    limit = 600 if build.sanitized else 300
    try:
        took = runner.run(STEPS, time.monotonic() + limit)[1]
    except (sc.StopRun, sc.Closed) as e:
        if not world.failures:
            world.failures.append(str(e))
        took = None
        stopped = time.monotonic() - runner.t0

    # the disk holds exactly what the truth says
    if not world.failures or KEEP_GOING:
        for u in users:
            for f in u.folders:
                tr = world.folder(u.name, f)
                disk = sc.disk_state(u.maildir, f)
                want = sc.truth_state(tr)
                if disk != want:
                    extra = disk - want
                    lost = want - disk
                    world.failures.append(
                        f"{u.name}/{f} on disk differs from what the "
                        f"sessions did: on disk but not expected "
                        f"{list(extra.items())[:5]}, expected but not on "
                        f"disk {list(lost.items())[:5]}")

    lines.append(f"stress seed {seed} ({build.name}): {STEPS} steps, "
                 f"{len(actors)} sessions of {len(users)} users; setup "
                 f"{setup:.1f} s, first look {baseline:.1f} s, run "
                 f"{took:.1f} s, {world.commands} commands"
                 if took is not None else
                 f"stress seed {seed} ({build.name}): stopped in step "
                 f"{runner.done + 1} of {STEPS}, "
                 f"{stopped:.1f} s and "
                 f"{world.commands} commands into the run")
    lines.append("  operations: " + ", ".join(
        f"{k} {v}" for k, v in sorted(world.ops.items())))
    lines.append("  responses: " + ", ".join(
        f"{k} {v}" for k, v in sorted(world.responses.items())))
    if world.notes:
        lines.append("  notes: " + ", ".join(
            f"{k}: {v}" for k, v in sorted(world.notes.items())))
    for u in users:
        lines.append(f"  {u.name}: " + ", ".join(
            f"{f} {world.folder(u.name, f).count()}" for f in u.folders))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert not world.failures, "\n\n".join(world.failures[:10])
