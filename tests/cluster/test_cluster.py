"""Two imapd hosts on one GlusterFS volume behind imapd-router and
nginx's mail proxy (the topology is in conftest.py): a user lands on
the host they are pinned to, keeps UIDVALIDITY, UIDs and flags when that
host dies and they land on the other, come back elsewhere when their
host drains, and the UID contract holds with its sessions spread over
both hosts while an MDA and a mail reader work through a third mount.
The store settings for a shared file system are tested where this imapd
has them.  Last, the figures: logins per second and IDLE sessions held
through nginx with two hosts, and straight to one host."""

import fcntl
import os
import re
import select
import signal
import struct
import time

import pytest

import mailactors as ma
from torture import run_torture

SEEDS = [1, 2]
TORTURE_SECONDS = 15
FIGURE_COUNT = 200


def deliver(c, n, tag):
    """n messages delivered through the MDA's mount."""
    for i in range(n):
        ma.deliver(c.views["m"], "INBOX", f"<{tag}.{i}@cluster.example>", i)


def landed(c, before, timeout=30):
    """The host whose count of proxied logins grew since before
    ({host: count}), waiting for its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        grown = [h for h in c.hosts if c.logins(h) > before[id(h)]]
        if grown:
            assert len(grown) == 1, "a login landed on both hosts"
            return grown[0]
        time.sleep(0.05)
    raise AssertionError("no host logged the login in:\n" +
                         "\n".join(h.log() for h in c.hosts))


def counts(c):
    return {id(h): c.logins(h) for h in c.hosts}


def view(raw, select):
    """(UIDVALIDITY, {UID: flags without \\Recent}) of the selected
    folder."""
    uidv = next(int(m.group(1)) for l in select
                for m in [re.search(r"\[UIDVALIDITY (\d+)\]", l)] if m)
    r = raw.cmd("v", "FETCH 1:* (UID FLAGS)")
    assert r[-1].startswith("v OK"), r
    out = {}
    for l in r:
        m = re.match(r"\* \d+ FETCH \(.*UID (\d+).*FLAGS \(([^)]*)\)", l) \
            or re.match(r"\* \d+ FETCH \(.*FLAGS \(([^)]*)\).*UID (\d+)",
                        l)
        if not m:
            continue
        a, b = m.groups()
        uid, flags = (a, b) if a.isdigit() else (b, a)
        out[int(uid)] = frozenset(f for f in flags.split()
                                  if f != "\\Recent")
    return uidv, out


def test_login_lands_on_pinned_host(cluster_factory):
    c = cluster_factory()
    deliver(c, 3, "pin")
    before = counts(c)
    s, _ = c.session()
    s.cmd("z", "LOGOUT")
    first = landed(c, before)
    c.router.wait_log(rf"user={c.mailuser.name} rip={c.client}: routed to "
                      rf"{first.host}:{first.port} \(hash\)")
    for i in range(3):
        before = counts(c)
        s, _ = c.session()
        s.cmd("z", "LOGOUT")
        assert landed(c, before) is first
    c.router.wait_log(rf"routed to {first.host}:{first.port} \(pin\)")
    assert c.logins(c.other(first)) == 0


def test_killed_host_fails_over_with_same_uids(cluster_factory):
    c = cluster_factory()
    deliver(c, 20, "fo")
    before = counts(c)
    s, sel = c.session()
    first = landed(c, before)
    for cmd in ("STORE 1:5 +FLAGS (\\Flagged)",
                "STORE 6 +FLAGS (\\Seen \\Answered)",
                "STORE 7 +FLAGS ($Label1)"):
        assert s.cmd("s", cmd)[-1].startswith("s OK")
    was = view(s, sel)
    assert len(was[1]) == 20
    ma.kill_server(first, alone=True)
    # nginx closes the client's side when its backend is gone
    assert s.closed(30)
    c.router.wait_down(first)
    before = counts(c)
    s2, sel2 = c.session()
    assert landed(c, before) is c.other(first)
    assert view(s2, sel2) == was
    s2.cmd("z", "LOGOUT")


def test_drained_host_sends_idlers_elsewhere(cluster_factory):
    c = cluster_factory(drain_timeout="60s")
    deliver(c, 3, "dr")
    idlers = []
    for i in range(5):
        before = counts(c)
        s, _ = c.session()
        idlers.append(s)
        landed(c, before)
        s.send("i IDLE\r\n")
        assert s.line() == "+ idling"
    h = [x for x in c.hosts if c.logins(x) == 5]
    assert len(h) == 1, "the pin keeps one user's sessions together"
    h = h[0]
    # the documented way: new logins elsewhere at once, then the drain
    (c.router.drain / f"{h.host}:{h.port}").write_text("")
    h.signal(signal.SIGUSR2)
    for s in idlers:
        rest = []
        while True:
            try:
                rest.append(s.line(60))
            except EOFError:
                break
        assert any(l.startswith("* BYE [UNAVAILABLE]") for l in rest), rest
    assert h.proc.wait(60) == 0
    other = c.other(h)
    for i in range(5):
        before = counts(c)
        s, _ = c.session()
        assert landed(c, before) is other
        s.send("i IDLE\r\n")
        assert s.line() == "+ idling"
        s.send("DONE\r\n")
        assert s.until_tagged("i")[-1].startswith("i OK")
    assert c.logins(other) == 5


@pytest.mark.parametrize("seed", SEEDS)
def test_uid_contract_over_two_hosts(cluster_factory, gluster_template,
                                     seed):
    c = cluster_factory(proxy=False)
    # the template is linked and the outside programs work through the
    # third mount; the sessions are spread over both hosts
    run_torture(None, c.views["m"], gluster_template, seed,
                seconds=TORTURE_SECONDS, sessions=4,
                servers=lambda: c.hosts, fs_user=c.views["m"])


def hosts_with(cluster_factory, store_keys, key, why, messages):
    """Both hosts, without the proxy, on an INBOX of messages; the test
    is skipped when this imapd does not know the store setting key."""
    if key not in store_keys:
        pytest.skip(f"this imapd has no {key} setting: {why}")
    c = cluster_factory(proxy=False)
    deliver(c, messages, key)
    return c, c.hosts[0], c.hosts[1]


def lock_held(path):
    """Whether some process holds an fcntl lock on path (asked through
    the mount path is on; GlusterFS answers for every mount)."""
    fd = os.open(path, os.O_RDWR)
    try:
        r = fcntl.fcntl(fd, F_OFD_GETLK, struct.pack(
            FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        return struct.unpack(FLOCK, r)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


F_OFD_GETLK = 36
FLOCK = "hhqqi4x"           # struct flock on x86-64 and arm64


def test_stopped_lock_holder_gives_inuse(cluster_factory, store_keys):
    c, a, b = hosts_with(cluster_factory, store_keys, "lock_timeout",
                         "a host behind a stopped one would wait for it",
                         10)
    sb, _ = c.session(host=b)
    sa, _ = c.session(host=a)
    lock = c.views["m"].maildir() / "imapd-uidcache.lock"
    # A gives new mail its UIDs under INBOX's UID cache lock; A is
    # stopped once the lock is seen held, and tested only if it still is
    found = None
    for attempt in range(30):
        deliver(c, 200, f"lk{attempt}")
        sa.send(f"x{attempt} NOOP\r\n")
        pids = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not pids:
            if select.select([sa.sock], [], [], 0)[0]:
                break           # A has answered: try again
            if lock.exists() and lock_held(lock):
                pids = [p for p in ma.server_tree(a, alone=True)
                        if p != a.proc.pid]
                for p in pids:
                    signal_quiet(p, signal.SIGSTOP)
                if not lock_held(lock):
                    for p in pids:
                        signal_quiet(p, signal.SIGCONT)
                    pids = []
                    break
        if pids:
            try:
                msg = ma.msg_bytes(f"<lk.b{attempt}@cluster.example>")
                t = time.monotonic()
                sb.send(f"y APPEND INBOX {{{len(msg)}+}}\r\n".encode() +
                        msg + b"\r\n")
                r = sb.until_tagged("y", seconds_of(
                    store_keys["lock_timeout"]) * 10 + 30)
                found = (r[-1], time.monotonic() - t)
            finally:
                for p in pids:
                    signal_quiet(p, signal.SIGCONT)
        assert sa.until_tagged(f"x{attempt}", 120)[-1].startswith(
            f"x{attempt} OK")
        if found:
            break
    assert found, "A was never stopped while it held the lock"
    assert found[0].startswith("y NO [INUSE]"), found
    print(f"NO [INUSE] after {found[1]:.1f} s (lock_timeout "
          f"{store_keys['lock_timeout']})")


def test_idle_on_one_host_sees_delivery_on_other(cluster_factory,
                                                 store_keys):
    c, a, b = hosts_with(cluster_factory, store_keys, "idle_poll",
                         "inotify does not see another mount's changes "
                         "on GlusterFS", 2)
    sb, _ = c.session(host=b)
    sb.send("i IDLE\r\n")
    assert sb.line() == "+ idling"
    sa, _ = c.session(host=a)
    msg = ma.msg_bytes("<ip.new@cluster.example>", 9).replace(b"\n",
                                                              b"\r\n")
    sa.send(f"p APPEND INBOX {{{len(msg)}}}\r\n")
    assert sa.line().startswith("+")
    sa.send(msg + b"\r\n")
    assert sa.until_tagged("p")[-1].startswith("p OK")
    t = time.monotonic()
    poll = seconds_of(store_keys["idle_poll"])
    line = sb.line(poll * 10 + 30)
    print(f"IDLE on B saw it after {time.monotonic() - t:.1f} s "
          f"(idle_poll {store_keys['idle_poll']})")
    assert line == "* 3 EXISTS", line


def seconds_of(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", text)
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60}[m.group(2)]


def signal_quiet(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --- figures ---------------------------------------------------------------

def logins_per_second(c, users, port, host):
    t = time.monotonic()
    for i in range(FIGURE_COUNT):
        s, _ = c.session(port=port, host=host, login=users[i % len(users)],
                         select=False)
        s.cmd("z", "LOGOUT")
        s.close()
    return FIGURE_COUNT / (time.monotonic() - t)


def idle_sessions_held(c, users, port, host):
    """How many of FIGURE_COUNT sessions, opened one after the other and
    each left in IDLE, still end their IDLE with OK once all are open;
    and how long opening them took."""
    held = []
    t = time.monotonic()
    try:
        for i in range(FIGURE_COUNT):
            s, _ = c.session(port=port, host=host,
                             login=users[i % len(users)])
            s.send("i IDLE\r\n")
            assert s.line() == "+ idling"
            held.append(s)
        opened = time.monotonic() - t
        ok = 0
        for s in held:
            s.send("DONE\r\n")
            if s.until_tagged("i")[-1].startswith("i OK"):
                ok += 1
        return ok, opened
    finally:
        for s in held:
            s.close()


def test_figures(cluster_factory, many_users, figures):
    """Printed at the end of the run, never compared with anything."""
    db, users = many_users
    c = cluster_factory(userdb=str(db), auth="userdb")
    deliver(c, 10, "fig")
    lps = logins_per_second(c, users, c.nginx.port, None)
    held, opened = idle_sessions_held(c, users, c.nginx.port, None)
    spread = [len(re.findall(r"user=fig\d+ rip=127\.0\.0\.5: logged in",
                             h.log())) for h in c.hosts]
    d = cluster_factory(proxy=False, userdb=str(db), auth="userdb")
    lps1 = logins_per_second(d, users, None, d.hosts[0])
    held1, opened1 = idle_sessions_held(d, users, None, d.hosts[0])
    figures.extend([
        f"{FIGURE_COUNT} logins (LOGIN, LOGOUT) and {FIGURE_COUNT} IDLE "
        f"sessions (LOGIN, SELECT, IDLE) of {len(users)} users, one "
        f"after the other, on GlusterFS (FUSE, loopback):",
        f"  through nginx and imapd-router to two hosts: {lps:.0f} "
        f"logins/s; {held} IDLE sessions held, opened in {opened:.1f} s; "
        f"logins per host {spread}",
        f"  straight to one host: {lps1:.0f} logins/s; {held1} IDLE "
        f"sessions held, opened in {opened1:.1f} s"])
    assert held == held1 == FIGURE_COUNT
