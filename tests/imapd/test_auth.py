"""Authentication that tells a guesser nothing, and the PAM session.

Every failed login is answered at one deadline (auth_fail_delay after the
request), whatever the reason: an unknown user, a wrong password, or an
account that may not log in even with the right password (a system uid, gid
0, an expired or locked account).  The tests measure each case from the
client and compare them; with a deadline of two seconds the cases land
within a few milliseconds of each other on an idle machine, so the
tolerance of half a second leaves room for a loaded one, while the oracle
they close was two seconds and more wide.  The log must still say exactly
why each login failed.

The PAM tests create throw-away accounts and PAM service files, so they
need root, as CI has."""

import pathlib
import secrets
import subprocess
import threading
import time
import warnings

import pytest

import imapdtest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

needs_root = pytest.mark.skipif(not imapdtest.IS_ROOT,
                                reason="needs root to create users")

TOLERANCE = 0.5         # seconds between the fastest and slowest failure
DEADLINE = 2.0          # auth_fail_delay in these tests


class Account:
    """A throw-away Unix account made with useradd's extra arguments."""

    def __init__(self, tag, *useradd_args):
        self.name = "imt" + tag + secrets.token_hex(3)
        self.password = "pw-" + secrets.token_urlsafe(10)
        imapdtest.run(["useradd", "-M", "-d", "/nonexistent", "-s",
                       "/usr/sbin/nologin", *useradd_args, self.name])
        imapdtest.run(["chpasswd"],
                      input=f"{self.name}:{self.password}\n".encode())

    def remove(self):
        subprocess.run(["userdel", self.name], capture_output=True)


@pytest.fixture(scope="module")
def accounts():
    made = {}
    try:
        if imapdtest.IS_ROOT:
            made["system"] = Account("s", "-r")           # uid below 1000
            made["expired"] = Account("e", "-e", "1970-01-02")
            made["gid0"] = Account("g", "-g", "0")
        yield made
    finally:
        for a in made.values():
            a.remove()


def slow_hash(password):
    # SHA-512 at 400,000 rounds: a tenth of a second or more, so that
    # skipping the hash would show
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512,
                                                  rounds=400000))


@pytest.fixture(scope="module")
def slowdb(workdir, mailuser):
    """A userdb whose first user has a costly hash, then a locked user and
    one with uid 0."""
    d = workdir / "slowdb"
    d.mkdir(exist_ok=True)
    pw = "vpw-" + secrets.token_urlsafe(8)
    h = slow_hash(pw)
    u, g, home = mailuser.uid, mailuser.gid, mailuser.home
    (d / "userdb").write_text(
        f"vslow:{h}:{u}:{g}:{home}\n"
        f"vlocked:!{h}:{u}:{g}:{home}\n"
        f"vroot:{h}:0:0:{home}\n")
    imapdtest.run([imapdtest.ROOT / "tools" / "imapd-userdb", "-o",
                   d / "userdb.cdb", d / "userdb"])
    return {"path": d / "userdb.cdb", "password": pw}


def timed_login(server, user, password):
    """(seconds from LOGIN to its answer, the answer)."""
    c = server.raw(tls=True)
    try:
        c.line()
        t0 = time.monotonic()
        r = c.cmd("a", f"LOGIN {user} {password}", timeout=30)
        return time.monotonic() - t0, r[-1]
    finally:
        c.close()


def timed_all(server, cases):
    """Run every case at once; {label: (seconds, answer)}."""
    out = {}

    def one(label, user, password):
        out[label] = timed_login(server, user, password)

    threads = [threading.Thread(target=one, args=c) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def assert_indistinguishable(got):
    for label, (secs, answer) in got.items():
        assert answer == "a NO [AUTHENTICATIONFAILED] Authentication " \
            "failed", (label, answer)
        assert secs >= DEADLINE - 0.05, (label, secs)
    times = {k: round(v[0], 3) for k, v in got.items()}
    print("seconds to the answer:", times)
    assert max(times.values()) - min(times.values()) <= TOLERANCE, times


@needs_root
def test_failures_take_one_time(server_factory, mailuser, accounts, slowdb):
    s = server_factory(auth="pam,userdb", userdb=slowdb["path"],
                       auth_fail_delay="%dms" % (DEADLINE * 1000),
                       auth_penalty_max=0)
    a = accounts
    got = timed_all(s, [
        ("unknown user", "imtnosuch" + secrets.token_hex(3), "x"),
        ("wrong password", mailuser.name, "wrong-" + mailuser.password),
        ("system uid, right password", a["system"].name,
         a["system"].password),
        ("expired, right password", a["expired"].name,
         a["expired"].password),
        ("expired, wrong password", a["expired"].name, "wrong"),
        ("gid 0, right password", a["gid0"].name, a["gid0"].password),
        ("userdb, wrong password", "vslow", "wrong"),
        ("userdb, locked, right password", "vlocked", slowdb["password"]),
        ("userdb, uid 0, right password", "vroot", slowdb["password"]),
    ])
    assert_indistinguishable(got)
    # and the log says which was which
    s.wait_log(r"user=imtnosuch\w+ .*login failed: unknown user")
    s.wait_log(r"user=%s .*login failed: PAM \(\S+\) says: "
               r"Authentication failure" % mailuser.name)
    s.wait_log(r"user=%s .*login refused: %s has uid \d+, below "
               r"first_valid_uid 1000" % ((a["system"].name,) * 2))
    assert len(list(l for l in s.log().splitlines()
                    if f"user={a['expired'].name} " in l and
                    "login refused: account has expired (chage -E)"
                    in l)) == 2
    s.wait_log(r"user=%s .*login refused: %s has gid 0, root's group" %
               ((a["gid0"].name,) * 2))
    s.wait_log(r"user=vslow .*login failed: wrong password \(userdb")
    s.wait_log(r"user=vlocked .*login refused: account is locked in the "
               r"userdb")
    s.wait_log(r"user=vroot .*login refused: vroot has uid 0, below "
               r"first_valid_uid")
    # no check outran the deadline
    assert "longer than auth_fail_delay" not in s.log()


def test_userdb_failures_take_one_time(server_factory, slowdb):
    s = server_factory(auth="userdb", userdb=slowdb["path"],
                       auth_fail_delay="%dms" % (DEADLINE * 1000),
                       auth_penalty_max=0)
    assert_indistinguishable(timed_all(s, [
        ("unknown user", "vnosuch", "x"),
        ("wrong password", "vslow", "wrong"),
    ]))


def test_userdb_unknown_user_costs_a_hash(server_factory, slowdb):
    """With no deadline at all, an unknown user still costs what a wrong
    password costs: a hash of the kind the file's users have."""
    s = server_factory(auth="userdb", userdb=slowdb["path"],
                       auth_fail_delay=0, auth_penalty_max=0)
    best = {}
    for label, user in (("unknown", "vnosuch"), ("wrong", "vslow")) * 2:
        secs, answer = timed_login(s, user, "wrong")
        assert answer.startswith("a NO [AUTHENTICATIONFAILED]"), answer
        best[label] = min(best.get(label, 99), secs)
    assert best["unknown"] >= 0.5 * best["wrong"], best
    s.wait_log("longer than auth_fail_delay")


@needs_root
def test_pam_session_opened_and_closed(server_factory, mailuser, workdir):
    """pam_setcred and pam_open_session run as root before the drop, so
    pam_limits applies to the session; pam_close_session runs when the
    session has ended; PAM_RUSER is never the name the client typed."""
    d = workdir / ("pamsess-" + secrets.token_hex(3))
    d.mkdir()
    d.chmod(0o755)
    record, events = d / "record.sh", d / "events"
    record.write_text("#!/bin/sh\n"
                      f"echo \"$PAM_TYPE uid=$(id -u) user=$PAM_USER "
                      f"ruser=[$PAM_RUSER] rhost=$PAM_RHOST\" >> {events}\n")
    record.chmod(0o755)
    limits = d / "limits.conf"
    limits.write_text(f"{mailuser.name} hard msgqueue 123456\n")
    service = "imapd-test-sess-" + secrets.token_hex(3)
    pamfile = pathlib.Path("/etc/pam.d") / service
    pamfile.write_text(
        "auth required pam_unix.so\n"
        f"auth optional pam_exec.so quiet {record}\n"
        "account required pam_unix.so\n"
        f"session required pam_limits.so conf={limits}\n"
        f"session optional pam_exec.so quiet {record}\n")
    try:
        s = server_factory(pam_service=service)
        c = s.imaplib(tls=True)
        assert c.login(mailuser.name, mailuser.password)[0] == "OK"
        lines = events.read_text().splitlines()
        assert lines[0].startswith("auth uid=0 user=%s ruser=[] "
                                   "rhost=127.0.0.1" % mailuser.name), lines
        assert lines[1].startswith("open_session uid=0 user=%s" %
                                   mailuser.name), lines
        # the session process runs under pam_limits' limit
        sess = [p for p in imapdtest.proc_children(
            [k for k in imapdtest.proc_children(s.proc.pid)
             if imapdtest.proc_comm(k) == "imapd-pam"][0])
            if imapdtest.proc_comm(p) == "imapd-session"]
        assert len(sess) == 1
        lim = pathlib.Path(f"/proc/{sess[0]}/limits").read_text()
        assert [l for l in lim.splitlines()
                if l.startswith("Max msgqueue size")][0].split()[4] == \
            "123456", lim
        c.logout()
        deadline = time.monotonic() + 10
        while "close_session" not in events.read_text() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert events.read_text().splitlines()[2].startswith(
            "close_session uid=0 user=%s" % mailuser.name)
    finally:
        pamfile.unlink()


@needs_root
def test_pam_session_off(server_factory, mailuser):
    s = server_factory(pam_session="no")
    c = s.imaplib(tls=True)
    assert c.login(mailuser.name, mailuser.password)[0] == "OK"
    kids = [imapdtest.proc_comm(p)
            for p in imapdtest.proc_children(s.proc.pid)]
    assert "imapd-pam" not in kids and "imapd-session" in kids, kids
    c.logout()


def test_long_tags_at_login(server, mailuser):
    # a tag longer than 128 bytes ended the back with a fatal error once
    user, pw = server.userdb["user"], server.userdb["password"]
    tag = "t" * 600
    c = server.raw(tls=True)
    c.line()
    r = c.cmd(tag, f"LOGIN {user} {pw}")
    assert r[-1].startswith(tag + " OK "), r
    assert c.cmd("b", "NOOP")[-1].startswith("b OK")
    c.close()
    # over the limit: BAD, and the session goes on
    tag = "u" * 1025
    c = server.raw(tls=True)
    c.line()
    r = c.cmd(tag, f"LOGIN {user} {pw}")
    assert r[-1].startswith(tag + " BAD Tag too long"), r
    r = c.cmd(tag, "AUTHENTICATE PLAIN")
    assert r[-1].startswith(tag + " BAD Tag too long"), r
    assert c.cmd("v", f"LOGIN {user} {pw}")[-1].startswith("v OK")
    c.close()
    assert "fatal" not in server.log()
